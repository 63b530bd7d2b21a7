/*
 * shell.h - the server's end of the remote shell (docs/link.md, "Shell";
 * docs/studio.md, "The shell"): a client's command line relayed to its
 * device as a ShellDown on the link's shell channel (4), and the device's
 * ShellUp messages gathered into the line's answer.
 *
 * The server keeps no shell of its own and judges no line: the device's
 * admin does (it refuses what it does not take, and answers "disabled"
 * where its manifest does not enable the shell). What stays true: a line
 * waits for its answer at most KOS__SRV_SHELL_WAIT_S; at most
 * KOS__SRV_SHELL_WAITING_MAX lines wait at once (and
 * KOS__SRV_SHELL_WAITING_PER_DEVICE for one device); each line's done()
 * is called exactly once (the answer, a timeout, the link ending, the
 * server stopping), unless the client went away first
 * (kos__shell_cancel()); an answer holds at most KOS__SRV_SHELL_ANSWER_MAX
 * bytes of lines, each escaped as device text always is (srv_json.h). A
 * ShellUp that does not decode, or breaks the bounds, is refused (the
 * device's link is then ended, as for any malformed message).
 */
#ifndef KOS_SERVER_SHELL_H
#define KOS_SERVER_SHELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include <kos/status.h>

#include "shell.pb-c.h"

struct kos__srv;
struct kos__shell;

/* A line's end: http_status 200 with the device's answer, {"id", "lines":
 * [...], "status", "status_text", "cut"}; or 502 (the link ended first),
 * 503 (the server stops) or 504 (no answer in time) with {"error"}. The
 * callee owns `answer`. Called from the event loop, never from inside
 * kos__shell_send(). */
typedef void (*kos__shell_done_fn)(void *arg, int http_status, json_t *answer);

/* The relay on `base`; a line waits at most wait_ms for its answer (0:
 * KOS__SRV_SHELL_WAIT_S; tests shorten it). NULL if out of memory. */
struct kos__shell *kos__shell_create(struct event_base *base, uint32_t wait_ms);

/* Answers every line still waiting 503 and frees the relay; call it before
 * the HTTP server is freed. kos__shell_destroy(NULL) does nothing. */
void kos__shell_destroy(struct kos__shell *sh);

/* Sends line[0..len) (at most KOS__SRV_SHELL_LINE_MAX bytes) to device id
 * as a ShellDown. On KOS_STATUS_OK, *line_id is the line's id and done(arg,
 * ...) comes later, once. Otherwise nothing waits and err says why:
 * KOS_STATUS_NOT_FOUND (no such device), KOS_STATUS_UNAUTHORIZED
 * (revoked), KOS_STATUS_UNAVAILABLE (not online), KOS_STATUS_BUSY (too
 * many lines waiting, or the device's shell channel is full). Never
 * blocks. */
kos_status_t kos__shell_send(struct kos__srv *srv, const char *id, const char *line, size_t len,
                             kos__shell_done_fn done, void *arg, uint64_t *line_id, char *err,
                             size_t errlen) __attribute__((warn_unused_result));

/* The client of line line_id went away: the line is forgotten, its done()
 * is not called, and its answer, if it comes, is dropped. */
void kos__shell_cancel(struct kos__shell *sh, uint64_t line_id);

/* One ShellUp from device id, decoded (devices.c, with its bounded
 * allocator): a part of an answer. False, with why, if it breaks a bound;
 * an answer to a line nobody waits for (any more) is dropped, and is no
 * error. */
bool kos__shell_answer(struct kos__srv *srv, const char *id, const Kos__Shell__ShellUp *up,
                       char *why, size_t cap);

/* Device id's link ended: each of its lines waiting is answered 502. */
void kos__shell_offline(struct kos__srv *srv, const char *id);

/* Lines waiting now (tests). */
size_t kos__shell_waiting(const struct kos__shell *sh);

#endif
