/*
 * debug.h - the server's end of remote debugging (docs/link.md, "Debug";
 * docs/studio.md, "Debugging an app"): a session opened on a device's app
 * with a DebugOpen on the link's debug channel (5), and, once the device
 * says it is open, a one-time TCP port on the server's loopback address
 * where one client (kos-tool debug) connects, proves it holds the
 * session's token, and then has its bytes relayed both ways.
 *
 * The server judges nothing of the session but its own bounds: the device
 * refuses what it does not allow (debugging disabled, an app not marked
 * debug: true). What stays true: the port listens on loopback only, takes
 * one connection, and relays nothing before that connection's first line
 * is "KOS-DEBUG TOKEN" with the token the API answer gave (which only a
 * holder of the Studio secret gets); at most one session per device and
 * KOS__SRV_DEBUG_SESSIONS in all; an open waits for the device at most
 * KOS__SRV_DEBUG_OPEN_S, the port for its client at most
 * KOS__SRV_DEBUG_CONNECT_S; bytes waiting for a client that does not read
 * are bounded (KOS__SRV_DEBUG_BUFFER: beyond it the session ends), and
 * bytes from the client wait in its socket while the device's channel has
 * no room. Each open's done() is called exactly once unless its client
 * went away first (kos__debug_cancel()).
 */
#ifndef KOS_SERVER_DEBUG_H
#define KOS_SERVER_DEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include <kos/status.h>

#include "debug.pb-c.h"

struct kos__srv;
struct kos__debug;

/* An open's end: http_status 200 with {"device", "app", "port", "token",
 * "message"}; or an error status with {"error", "status", "status_text"}
 * (the device refused: 400, 403, 404, 409, 502) or {"error"} (502 the link
 * ended first, 503 the server stops, 504 no answer in time). The callee
 * owns `answer`. Called from the event loop, never from inside
 * kos__debug_open(). */
typedef void (*kos__debug_done_fn)(void *arg, int http_status, json_t *answer);

/* The relay on `base`. NULL if out of memory. */
struct kos__debug *kos__debug_create(struct event_base *base);

/* Ends every session (their opens answered 503) and frees the relay.
 * kos__debug_destroy(NULL) does nothing. */
void kos__debug_destroy(struct kos__debug *dbg);

/* Opens a session on app `app` (a valid name) of device id: a DebugOpen
 * goes to it. `gdb`: its port takes gdb's remote protocol at once, with
 * no token line (gdb's `target remote`, from the web UI), but only from a
 * socket of the server's own user (/proc/net/tcp says whose a loopback
 * connection is; any other is closed and the port waits on). On KOS_STATUS_OK *sid is the session's
 * id and done(arg, ...) comes later, once. Otherwise nothing waits and err says why:
 * KOS_STATUS_NOT_FOUND (no such device), KOS_STATUS_UNAUTHORIZED
 * (revoked), KOS_STATUS_UNAVAILABLE (not online), KOS_STATUS_BUSY (a
 * session on the device already, too many in all, or its channel full).
 * Never blocks. */
kos_status_t kos__debug_open(struct kos__srv *srv, const char *id, const char *app, bool gdb,
                             kos__debug_done_fn done, void *arg, uint64_t *sid, char *err,
                             size_t errlen) __attribute__((warn_unused_result));

/* Ends device id's session, whatever its stage (an open waiting for the
 * device is answered 409): the device is told, a client is disconnected.
 * app (64 bytes) says on which app it was. KOS_STATUS_NOT_FOUND when the
 * device has none. */
kos_status_t kos__debug_end(struct kos__srv *srv, const char *id, char app[64])
    __attribute__((warn_unused_result));

/* The client of open sid went away before its answer: the session ends. */
void kos__debug_cancel(struct kos__debug *dbg, uint64_t sid);

/* One DebugUp from device id, decoded (devices.c, with its bounded
 * allocator). False, with why, if it breaks the protocol; what comes for
 * no session (any more) is dropped, and is no error. */
bool kos__debug_up(struct kos__srv *srv, const char *id, const Kos__Debug__DebugUp *up, char *why,
                   size_t cap);

/* Device id's link ended: its session ends. */
void kos__debug_offline(struct kos__srv *srv, const char *id);

/* Sessions now (tests). */
size_t kos__debug_sessions(const struct kos__debug *dbg);

#endif
