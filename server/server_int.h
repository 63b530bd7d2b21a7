/*
 * server_int.h - kos-server's one context, shared by its modules: the
 * event loop, the database, the CA, the device port, the API port and the
 * event streams, with what they need to know of each other.
 *
 * What stays true: everything runs on srv->base's one thread; a module
 * reaches another only through this struct; a NULL devport means this
 * server has no device port (every device is then offline to it), a NULL
 * events means no event streams (unit tests watch events through tap).
 */
#ifndef KOS_SERVER_SERVER_INT_H
#define KOS_SERVER_SERVER_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "devport.h"
#include "runtime.h"
#include "srvlog.h"

struct kos__store;
struct kos__ca;
struct kos__events;
struct kos__shell;
struct kos__debug;

/* Kicks the hooks ask for, done on the next loop turn (a device is never
 * cut off inside the port's own callback). More at once wait for the next
 * protocol error. */
#define KOS__SRV_KICKS_MAX 16u

/* How kos-server is started (main.c fills it from its command line). */
struct kos__srv_opts {
    const char *data_dir; /* the data folder, resolved */
    const char *address;  /* the loopback address both ports listen on */
    unsigned api_port;    /* 0: any free port */
    unsigned device_port; /* 0: any free port */
    const char *streams;  /* stream destinations, NAME=HOST:PORT,... (NULL: none) */
};

struct kos__srv {
    struct event_base *base;
    char data_dir[PATH_MAX];
    char address[16];
    int lock_fd;
    struct kos__store *store;
    struct kos__ca *ca;
    SSL_CTX *port_ctx;
    struct kos__devport *devport;
    struct evhttp *http;
    struct kos__events *events;
    struct kos__shell *shell; /* shell lines waiting for their devices (shell.h) */
    struct kos__debug *debug; /* debug sessions (debug.h) */
    unsigned api_port;
    char device_addr[32]; /* "127.0.0.1:7443" */
    char secret[KOS__STUDIO_SECRET_HEX + 1];
    struct event *sig_term, *sig_int, *kick_ev;
    char kicks[KOS__SRV_KICKS_MAX][KOS__DEVICE_ID_LEN + 1];
    unsigned n_kicks;
    unsigned pending_logged; /* new pending devices logged (devices.c) */
    bool runtime_written;
    /* Sees every event emitted, after the streams (tests). */
    void (*tap)(void *arg, const char *type, const char *device, json_t *data);
    void *tap_arg;
};

/* Sends event `type` ("device", "log", "result") about device `device`
 * with `data` to the event streams and the tap; takes the reference to
 * data (NULL: nothing is sent). */
void kos__srv_emit(struct kos__srv *srv, const char *type, const char *device, json_t *data);

/* Ends device id's link on the next loop turn (kos__devport_kick). */
void kos__srv_kick_later(struct kos__srv *srv, const char *id);

/* Starts the Studio profile as opts say: the data folder (made 0700), its
 * lock, the database, the CA, a new secret, the API port, the device
 * port, and, last, the runtime file. On failure err says what to do and
 * everything started is stopped again. */
kos_status_t kos__srv_start(struct kos__srv *srv, const struct kos__srv_opts *opts, char *err,
                            size_t errlen) __attribute__((warn_unused_result));

/* Runs the loop until SIGTERM or SIGINT. */
void kos__srv_run(struct kos__srv *srv);

/* Stops what kos__srv_start() started, the runtime file removed first. */
void kos__srv_stop(struct kos__srv *srv);

/* ---- the API port (api.c) ---- */

/* evhttp's callback for every request on the API port; arg is the srv. */
void kos__api_handle(struct evhttp_request *req, void *arg);

/* ---- devices (devices.c) ---- */

/* The hooks for kos__devport_create(), on srv. */
struct kos__devport_hooks kos__devices_hooks(struct kos__srv *srv);

struct kos__req_command;

/* Whether device id can be sent something now: KOS_STATUS_OK when it is
 * online; else KOS_STATUS_NOT_FOUND (no such device), KOS_STATUS_UNAUTHORIZED
 * (revoked) or KOS_STATUS_UNAVAILABLE (not online), with err saying which. */
kos_status_t kos__devices_reachable(struct kos__srv *srv, const char *id, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Sends a command to device id: stores it, sends an AdminDown over the
 * device port. *cmd_id is its id. KOS_STATUS_NOT_FOUND (unknown),
 * KOS_STATUS_UNAUTHORIZED (revoked), KOS_STATUS_UNAVAILABLE (not online),
 * KOS_STATUS_BUSY (its admin channel is full); err says which. */
kos_status_t kos__devices_command(struct kos__srv *srv, const char *id,
                                  const struct kos__req_command *cmd, uint64_t *cmd_id, char *err,
                                  size_t errlen) __attribute__((warn_unused_result));

/* Revokes device id: its state, a device event, and its link ended now.
 * KOS_STATUS_NOT_FOUND if unknown. */
kos_status_t kos__devices_revoke(struct kos__srv *srv, const char *id)
    __attribute__((warn_unused_result));

/* Approves pending device id (docs/link.md, "Pending devices"): registers
 * its key under `name` (NULL or "": the name its certificate offered, else
 * device-KEYID), so that its next attempt links; or rejects it: registered
 * and revoked at once, so that it is refused from then on. Either way it is
 * no longer pending, and a device event says what it is now.
 * KOS_STATUS_NOT_FOUND if it is not pending, KOS_STATUS_ALREADY_EXISTS if
 * it is registered (whatever its state), KOS_STATUS_NO_MEMORY if the
 * registry is full; err says which. */
kos_status_t kos__devices_decide(struct kos__srv *srv, const char *id, bool approve,
                                 const char *name, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Emits a device event for device id as it is now. */
void kos__devices_changed(struct kos__srv *srv, const char *id);

#endif
