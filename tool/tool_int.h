/*
 * tool_int.h - the sub-commands of kos-tool.
 *
 * Each sub-command is a function taking the arguments after its name
 * (argv[0] is the sub-command's name) and returning the process exit status:
 * 0 on success, 1 when the work failed, 2 for a usage error. Each prints its
 * own errors to stderr, prefixed with "kos-tool <command>: ".
 */
#ifndef KOS_TOOL_INT_H
#define KOS_TOOL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <kos/status.h>

int kos__tool_manifest_build(int argc, char **argv);
int kos__tool_manifest_check(int argc, char **argv);
int kos__tool_keys_generate(int argc, char **argv);
int kos__tool_run(int argc, char **argv);
int kos__tool_toolbox_relay(int argc, char **argv);
int kos__tool_storage_show(int argc, char **argv);
int kos__tool_storage_import(int argc, char **argv);

/* Stores `image` in the open store `s` (folder dir) as its current
 * generation: a refusal is said on stderr as `kos-tool CMD: refusing image
 * ...`; what was done on `said`, after `prefix`. */
struct kos_store;
struct kos_image_open_opts;
kos_status_t kos__tool_store_import(const char *cmd, struct kos_store *s, const char *dir,
                                    const char *image, const struct kos_image_open_opts *io,
                                    FILE *said, const char *prefix);
int kos__tool_network_enable_forwarding(int argc, char **argv);
int kos__tool_network_disable_forwarding(int argc, char **argv);
int kos__tool_log_view(int argc, char **argv);
int kos__tool_new(int argc, char **argv);
int kos__tool_watch(int argc, char **argv);
int kos__tool_push(int argc, char **argv);

/* Pushes the image at `image` to `device` (an id, a prefix of one, or a
 * name) through the Studio whose data folder is `data` (NULL: the default),
 * printing the device's progress and result as "kos-tool CMD: ..." lines,
 * and waits at most timeout_s for the result (cmd_push.c). Returns 0 when
 * the device says it is done, else 1 (the reason printed). Blocks. */
int kos__tool_push_image(const char *cmd, const char *data, const char *device, const char *image,
                         unsigned timeout_s);

int kos__tool_server_start(int argc, char **argv);
int kos__tool_server_stop(int argc, char **argv);
int kos__tool_server_status(int argc, char **argv);
int kos__tool_toolbox_remote_shell(int argc, char **argv);
int kos__tool_debug(int argc, char **argv);
int kos__tool_bootstrap(int argc, char **argv);

/* `kos-tool run --platform qemu-arm-virt DISK` (qemu.c): boots the disk
 * under QEMU until it powers off or is stopped; returns the exit status. */
int kos__tool_run_qemu(const char *disk);

/* Finds program `name` on PATH, then in /usr/sbin and /sbin (where Debian
 * puts sfdisk and the mkfs tools, off a user's PATH): its path in out. */
bool kos__tool_find_program(const char *name, char *out, size_t cap);

/* The folder holding the running kos-tool binary, for locating the SDK's
 * components and layers relative to it. Returns a static string. */
const char *kos__tool_self_dir(void);

/* Where the docs page `page` ("images.md") is, for help texts: in an
 * installed SDK <prefix>/share/doc/kos/<page> (found next to kos-tool), else
 * the source tree's docs/<page>. Returns a static string, one of four used
 * in turn, so a help text may name up to four pages. */
const char *kos__tool_doc(const char *page);

#endif
