/*
 * main.c - rng_server: publishes kos_rng_protocol on msg0 and serves random
 * bytes from a ChaCha20 generator with fast key erasure (drbg.h), seeded
 * from the kernel at every start and reseeded on a schedule.
 *
 * Settings (manifest config:):
 *   reseed_interval  duration, default 60s: reseed from the kernel when this
 *                    much time has passed since the last reseed (0: never)
 *   reseed_bytes     size, default 1MiB: ... or this many bytes were served
 *                    (0: never)
 *
 * Every request is untrusted: its size is checked before anything is read,
 * a token it carries is closed, an unknown label gets
 * KOS_STATUS_UNSUPPORTED. A bad request changes nothing.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <kos/log.h>
#include <kos/msg.h>
#include <kos/rng.h>

#include "component_int.h"
#include "config_int.h"
#include "drbg.h"

struct rng_server {
    struct drbg drbg;
    struct kos_rng_stats stats;
    uint8_t buf[KOS_RNG_MAX_READ];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Answers one request. */
static void on_request(void *arg, kos_endpoint_t *ep, const struct kos_msg *m,
                       const struct kos_caller *from)
{
    struct rng_server *s = arg;
    struct kos_msg reply = {0};
    kos_status_t st = KOS_STATUS_OK;
    uint8_t stats[24];

    switch (m->label) {
    case KOS_RNG_READ:
        if (m->len != 0 || m->token || m->param > KOS_RNG_MAX_READ) {
            st = KOS_STATUS_INVALID_ARGUMENT;
            break;
        }
        st = drbg_generate(&s->drbg, s->buf, (size_t)m->param, now_ns());
        if (st) {
            kos_log_error("cannot reseed from the kernel: %s", kos_status_str(st));
            break;
        }
        s->stats.bytes += m->param;
        s->stats.requests++;
        s->stats.reseeds = s->drbg.reseeds;
        reply.payload = s->buf;
        reply.len = (uint32_t)m->param;
        break;
    case KOS_RNG_STATS:
        if (m->len != 0 || m->token) {
            st = KOS_STATUS_INVALID_ARGUMENT;
            break;
        }
        s->stats.reseeds = s->drbg.reseeds;
        put_le64(stats, s->stats.bytes);
        put_le64(stats + 8, s->stats.requests);
        put_le64(stats + 16, s->stats.reseeds);
        reply.payload = stats;
        reply.len = sizeof(stats);
        break;
    default:
        st = KOS_STATUS_UNSUPPORTED;
    }
    if (m->token)
        kos_token_close(m->token);
    kos__component_reply(ep, from, st, st ? NULL : &reply);
    /* The bytes handed out (or not) are never kept. */
    explicit_bzero(s->buf, reply.len);
}

/* Reads the settings and seeds the generator. */
static kos_status_t start(void *arg, kos_app_t *app)
{
    struct rng_server *s = arg;
    uint64_t interval_ms, bytes;
    kos_status_t st;

    if ((st = kos__cfg_duration_ms(app, "reseed_interval", 60000, 0, KOS__DURATION_MAX_MS,
                                   &interval_ms)) ||
        (st = kos__cfg_size(app, "reseed_bytes", 1024 * 1024, 0, UINT64_MAX, &bytes)))
        return st;
    st = drbg_init(&s->drbg, interval_ms * 1000000u, bytes, now_ns());
    if (st) {
        kos_log_error("cannot seed from the kernel (getrandom): %s", kos_status_str(st));
        return st;
    }
    kos_log_info("seeded from the kernel; reseeding every %llu ms or %llu bytes",
                 (unsigned long long)interval_ms, (unsigned long long)bytes);
    return KOS_STATUS_OK;
}

static void fini(void *arg)
{
    struct rng_server *s = arg;

    drbg_fini(&s->drbg);
}

int main(void)
{
    static const struct kos__component rng_server = {
        .protocol = KOS_RNG_PROTOCOL,
        .start = start,
        .serve = {.request = on_request},
        .fini = fini,
    };
    static struct rng_server s; /* static: keeps the 4 KiB buffer off the stack */

    return kos__component_main(&rng_server, &s);
}
