/*
 * client_int.h - what every client library (rng.c, logsrv.c, keystore.c,
 * i2c.c, ethernet.c) does to open, call and close its handle, so that each
 * follows the one timeout rule include/kos/msg.h states ("Client
 * libraries").
 *
 * A client handle is a struct that begins with a struct kos__client: the
 * protocol's token and the deadline of each call. On success the handle
 * belongs to the caller of the library's open; on error nothing is held.
 */
#ifndef KOS_CLIENT_INT_H
#define KOS_CLIENT_INT_H

#include <stddef.h>

#include <kos/msg.h>

struct kos__client {
    kos_token_t *token; /* the protocol's; owned by the handle */
    int timeout_ms;     /* each call's deadline (never 0 nor below -1) */
};

/* Opens a client handle of `size` bytes (at least a struct kos__client,
 * which it begins with; the rest zeroed): requests `protocol` on `dir`,
 * waiting up to `timeout_ms` for its server to publish it, and sets the
 * handle's call deadline from the same value (kos__client_set_timeout()).
 * `out` is the library's T **: on KOS_STATUS_OK *out is the handle; on
 * error *out is untouched. KOS_STATUS_INVALID_ARGUMENT for a NULL dir or
 * out, a bad protocol name or a timeout below -1 (nothing is requested);
 * otherwise kos_dir_request()'s statuses. Blocks up to timeout_ms (plus
 * the trip back). */
kos_status_t kos__client_open(kos_dir_t *dir, const char *protocol, int timeout_ms, size_t size,
                              void *out) __attribute__((warn_unused_result));

/* Sets the deadline of the handle's later calls: `timeout_ms`, -1 for none
 * (as is anything below -1), KOS_CLIENT_TIMEOUT_MS for 0. Never blocks. */
void kos__client_set_timeout(struct kos__client *c, int timeout_ms);

/* kos_msg_call() on the handle's token with its deadline. */
kos_status_t kos__client_call(struct kos__client *c, const struct kos_msg *req,
                              struct kos_msg *reply) __attribute__((warn_unused_result));

/* Gives up the token, wipes the handle's `size` bytes (a request buffer may
 * have held the caller's data) and frees it. NULL does nothing. */
void kos__client_close(void *handle, size_t size);

#endif
