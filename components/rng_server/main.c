/*
 * main.c - rng_server: publishes kos_rng_protocol on msg0 and serves random
 * bytes from a ChaCha20 generator with fast key erasure (drbg.h), seeded
 * from the kernel at every start and reseeded on a schedule.
 *
 * Settings (manifest config:):
 *   reseed_interval  duration, default 60s: reseed from the kernel when this
 *                    much time has passed since the last reseed
 *   reseed_bytes     size, default 1MiB: ... or this many bytes were served
 *
 * Every request is untrusted: its size is checked before anything is read,
 * a token it carries is closed, an unknown label gets
 * KOS_STATUS_UNSUPPORTED. A bad request changes nothing.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <kos/log.h>
#include <kos/msg.h>
#include <kos/rng.h>

#include "config.h"
#include "drbg.h"

struct rng_server {
    kos_app_t *app;
    kos_endpoint_t *ep;
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
static kos_status_t handle(struct rng_server *s, const struct kos_msg *m,
                           const struct kos_caller *from)
{
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
    kos_status_t rst = kos_endpoint_reply(s->ep, from, st, st ? NULL : &reply);
    /* The bytes handed out (or not) are never kept. */
    explicit_bzero(s->buf, reply.len);
    return rst;
}

/* Core asks an app to stop with a control message and SIGTERM. The signal
 * only wakes the poll() below, so the server stops through its own loop
 * (answering and syncing what it holds) rather than dying mid-request. */
static void on_request(void *arg, kos_endpoint_t *ep, const struct kos_msg *m,
                       const struct kos_caller *from)
{
    struct rng_server *s = arg;
    kos_status_t st = handle(s, m, from);
    (void)ep;

    if (st && st != KOS_STATUS_INVALID_TOKEN)
        kos_log_warn("reply to '%s' failed: %s", from->app, kos_status_str(st));
}

static void on_sigterm(int sig)
{
    (void)sig;
}

int main(void)
{
    static struct rng_server s; /* static: keeps the 4 KiB buffer off the stack */
    uint64_t interval_ns = 60000000000ull, bytes = 1024 * 1024;
    const char *v;
    kos_dir_t *dir;
    kos_status_t st;
    int rc = 1;

    struct sigaction sa = {.sa_handler = on_sigterm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    if (kos_app_open(&s.app))
        return 1;
    if ((v = cfg_get(s.app, "reseed_interval")) && !cfg_parse_duration(v, &interval_ns)) {
        kos_log_error("config reseed_interval: '%s' is not a duration such as 500ms, 60s, 2m", v);
        goto out_close_app;
    }
    if ((v = cfg_get(s.app, "reseed_bytes")) && !cfg_parse_size(v, &bytes)) {
        kos_log_error("config reseed_bytes: '%s' is not a size such as 65536, 64KiB, 1MiB", v);
        goto out_close_app;
    }
    st = drbg_init(&s.drbg, interval_ns, bytes, now_ns());
    if (st) {
        kos_log_error("cannot seed from the kernel (getrandom): %s", kos_status_str(st));
        goto out_close_app;
    }
    if ((st = kos_app_dir(s.app, "msg0", &dir)) ||
        (st = kos_dir_publish(dir, KOS_RNG_PROTOCOL, &s.ep))) {
        kos_log_error("cannot publish %s: %s", KOS_RNG_PROTOCOL, kos_status_str(st));
        goto out_fini;
    }
    kos_log_info("seeded from the kernel; reseeding every %llu ms or %llu bytes",
                 (unsigned long long)(interval_ns / 1000000), (unsigned long long)bytes);
    if (kos_app_ready(s.app))
        goto out_close_ep;

    st = kos_endpoint_serve(s.app, s.ep, on_request, &s);
    if (st) {
        kos_log_error("receive failed: %s", kos_status_str(st));
    } else {
        kos_log_info("stopping on request");
        rc = 0;
    }
out_close_ep:
    kos_endpoint_close(s.ep);
out_fini:
    drbg_fini(&s.drbg);
out_close_app:
    kos_app_close(s.app);
    return rc;
}
