/*
 * client.c - opening, calling and closing a client library's handle
 * (client_int.h), with the one timeout rule of include/kos/msg.h.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

kos_status_t kos__client_open(kos_dir_t *dir, const char *protocol, int timeout_ms, size_t size,
                              void *out)
{
    struct kos__client *c;
    kos_status_t st;

    if (!dir || !out || timeout_ms < -1 || size < sizeof(*c))
        return KOS_STATUS_INVALID_ARGUMENT;
    c = calloc(1, size);
    if (!c)
        return KOS_STATUS_NO_MEMORY;
    st = kos_dir_request(dir, protocol, timeout_ms, &c->token);
    if (st) {
        free(c);
        return st;
    }
    kos__client_set_timeout(c, timeout_ms);
    memcpy(out, &c, sizeof(c)); /* out is the library's T ** */
    return KOS_STATUS_OK;
}

void kos__client_set_timeout(struct kos__client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms == 0   ? (int)KOS_CLIENT_TIMEOUT_MS
                    : timeout_ms < -1 ? -1
                                      : timeout_ms;
}

kos_status_t kos__client_call(struct kos__client *c, const struct kos_msg *req,
                              struct kos_msg *reply)
{
    return kos_msg_call(c->token, req, reply, c->timeout_ms);
}

void kos__client_close(void *handle, size_t size)
{
    struct kos__client *c = handle;

    if (!c)
        return;
    kos_token_close(c->token);
    explicit_bzero(c, size);
    free(c);
}
