/*
 * rng.c - the client side of kos_rng_protocol: a token on rng_server and the
 * deadline each call uses.
 */
#include <stdlib.h>
#include <string.h>

#include <kos/rng.h>

struct kos_rng {
    kos_token_t *token;
    int timeout_ms;
};

kos_status_t kos_rng_open(kos_dir_t *dir, int timeout_ms, kos_rng_t **out)
{
    struct kos_rng *rng;
    kos_status_t st;

    if (!dir || !out)
        return KOS_STATUS_INVALID_ARGUMENT;
    rng = calloc(1, sizeof(*rng));
    if (!rng)
        return KOS_STATUS_NO_MEMORY;
    st = kos_dir_request(dir, KOS_RNG_PROTOCOL, timeout_ms, &rng->token);
    if (st) {
        free(rng);
        return st;
    }
    rng->timeout_ms = timeout_ms;
    *out = rng;
    return KOS_STATUS_OK;
}

kos_status_t kos_rng_read(kos_rng_t *rng, void *buf, size_t len)
{
    uint8_t *p = buf;

    if (!rng || (!buf && len))
        return KOS_STATUS_INVALID_ARGUMENT;
    while (len) {
        size_t n = len < KOS_RNG_MAX_READ ? len : KOS_RNG_MAX_READ;
        struct kos_msg req = {.label = KOS_RNG_READ, .param = n}, reply;
        kos_status_t st = kos_msg_call(rng->token, &req, &reply, rng->timeout_ms);
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
    st = kos_msg_call(rng->token, &req, &reply, rng->timeout_ms);
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
    return rng->token;
}

void kos_rng_close(kos_rng_t *rng)
{
    if (!rng)
        return;
    kos_token_close(rng->token);
    free(rng);
}
