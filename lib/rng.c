/*
 * rng.c - the client side of kos_rng_protocol: a token on rng_server and the
 * deadline each call uses.
 */
#include <stdlib.h>
#include <string.h>

#include <kos/rng.h>

#include "client_int.h"

struct kos_rng {
    struct kos__client c; /* first: see client_int.h */
};

kos_status_t kos_rng_open(kos_dir_t *dir, int timeout_ms, kos_rng_t **out)
{
    return kos__client_open(dir, KOS_RNG_PROTOCOL, timeout_ms, sizeof(struct kos_rng), out);
}

kos_status_t kos_rng_read(kos_rng_t *rng, void *buf, size_t len)
{
    uint8_t *p = buf;

    if (!rng || (!buf && len))
        return KOS_STATUS_INVALID_ARGUMENT;
    while (len) {
        size_t n = len < KOS_RNG_MAX_READ ? len : KOS_RNG_MAX_READ;
        struct kos_msg req = {.label = KOS_RNG_READ, .param = n}, reply;
        kos_status_t st = kos__client_call(&rng->c, &req, &reply);
        if (st)
            return st;
        /* The server must answer with exactly what was asked for. */
        if (reply.len != n || !reply.payload)
            return KOS_STATUS_PROTOCOL;
        memcpy(p, reply.payload, n);
        p += n;
        len -= n;
    }
    return KOS_STATUS_OK;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

kos_status_t kos_rng_stats(kos_rng_t *rng, struct kos_rng_stats *out)
{
    struct kos_msg req = {.label = KOS_RNG_STATS}, reply;
    kos_status_t st;

    if (!rng || !out)
        return KOS_STATUS_INVALID_ARGUMENT;
    st = kos__client_call(&rng->c, &req, &reply);
    if (st)
        return st;
    if (reply.len != 24 || !reply.payload)
        return KOS_STATUS_PROTOCOL;
    out->bytes = get_le64(reply.payload);
    out->requests = get_le64((const uint8_t *)reply.payload + 8);
    out->reseeds = get_le64((const uint8_t *)reply.payload + 16);
    return KOS_STATUS_OK;
}

kos_token_t *kos_rng_token(kos_rng_t *rng)
{
    return rng->c.token;
}

void kos_rng_close(kos_rng_t *rng)
{
    kos__client_close(rng, sizeof(*rng));
}
