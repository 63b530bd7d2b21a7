/*
 * runtime.h - where a Studio server keeps its data, and its runtime file:
 * how `kos-tool` finds a running kos-server and talks to it.
 *
 * The data folder (`--data DIR`, else $XDG_DATA_HOME/kos/studio, else
 * ~/.local/share/kos/studio) holds the database, the CA and the runtime
 * file DIR/studio.run: text, mode 0600, one "KEY VALUE" a line:
 *
 *   # kos-server's runtime file (docs/studio.md): removed at a clean stop
 *   pid 4242
 *   url http://127.0.0.1:7440/
 *   device 127.0.0.1:7443
 *   secret <64 lowercase hex digits>
 *
 * The server writes it (atomically: a new file renamed over the old) once
 * it answers, and removes it at a clean stop; one left by a server that
 * died is stale and replaced. The server holds DIR/studio.lock (flock) for
 * its whole life, so two servers never share a folder. This is the one
 * reader and writer of that file, shared by kos-server and kos-tool.
 */
#ifndef KOS_SERVER_RUNTIME_H
#define KOS_SERVER_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <kos/status.h>

#define KOS__STUDIO_RUNTIME_FILE "studio.run"
#define KOS__STUDIO_LOCK_FILE    "studio.lock"
/* The ports a Studio listens on unless told otherwise: the API (and web
 * UI) and the device port. A device's bundle names the device port, so it
 * stays the same from one start to the next. */
#define KOS__STUDIO_API_PORT    7440u
#define KOS__STUDIO_DEVICE_PORT 7443u
/* Where a QEMU guest of this machine reaches a local Studio's device port:
 * kos-tool run --platform qemu-arm-virt forwards it there (QEMU's guestfwd),
 * bootstrap --server studio writes it in the device's bundle, and the
 * port's certificate names it beside 127.0.0.1. */
#define KOS__STUDIO_QEMU_GUEST "10.0.2.100"
/* The secret's length in hex digits (32 random bytes). */
#define KOS__STUDIO_SECRET_HEX 64u

/* What the runtime file says. */
struct kos__studio_rt {
    pid_t pid;
    char url[64];      /* "http://127.0.0.1:7440/" */
    char api_host[16]; /* from url: "127.0.0.1" */
    unsigned api_port; /* from url: 7440 */
    char device[32];   /* "127.0.0.1:7443": the device port */
    char secret[KOS__STUDIO_SECRET_HEX + 1];
};

/*
 * Puts the Studio's data folder in out[0..cap): `given` when not NULL,
 * else $XDG_DATA_HOME/kos/studio when XDG_DATA_HOME is an absolute path,
 * else $HOME/.local/share/kos/studio. Does not create it. On failure (no
 * HOME, too long) err says why.
 */
kos_status_t kos__studio_data_dir(const char *given, char *out, size_t cap, char *err,
                                  size_t errlen) __attribute__((warn_unused_result));

/*
 * Parses a runtime file's text (text[0..len), not NUL-terminated). Every
 * key must be there once, nothing else (but comments and empty lines); the
 * URL must be http://127.x.y.z:PORT/. On failure err says which line was
 * wrong and *rt is unspecified.
 */
kos_status_t kos__studio_rt_parse(const char *text, size_t len, struct kos__studio_rt *rt,
                                  char *err, size_t errlen) __attribute__((warn_unused_result));

/* Reads DIR/studio.run. KOS_STATUS_NOT_FOUND if there is none; another
 * failure if it cannot be read or parsed, with err saying why. Blocks on
 * file I/O. */
kos_status_t kos__studio_rt_read(const char *dir, struct kos__studio_rt *rt, char *err,
                                 size_t errlen) __attribute__((warn_unused_result));

/* Writes DIR/studio.run for `rt` (mode 0600, synced, renamed into place
 * over any old one). Blocks on file I/O. */
kos_status_t kos__studio_rt_write(const char *dir, const struct kos__studio_rt *rt, char *err,
                                  size_t errlen) __attribute__((warn_unused_result));

/* Removes DIR/studio.run if it still names `pid` (a newer server's file is
 * left alone). */
void kos__studio_rt_remove(const char *dir, pid_t pid);

/* True if process `pid` exists and is a kos-server (its /proc comm). */
bool kos__studio_pid_is_server(pid_t pid);

/* Makes the data folder `dir` (and any missing parents, mode 0700) if it
 * is not there; it must then be a folder this user may write, which is
 * made private (chmod 700). On failure err says what, and to give another
 * with --data. */
kos_status_t kos__studio_make_data_dir(const char *dir, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writes data[0..len) as the file `path` whole: a new file `path`.new with
 * `mode`, synced, renamed over any old one; on failure nothing of it is
 * left and err says why. */
kos_status_t kos__studio_replace_file(const char *path, mode_t mode, const void *data, size_t len,
                                      char *err, size_t errlen) __attribute__((warn_unused_result));

/* Takes DIR/studio.lock (created 0600) for the caller's life: returns its
 * descriptor (close-on-exec), or -1 with errno EWOULDBLOCK when another
 * process holds it, or -1 with err set on another failure. */
int kos__studio_lock(const char *dir, char *err, size_t errlen);

#endif
