/*
 * iso_app.c - the apps of bench_isolation:
 *   serve          publish iso_echo and answer calls until stopped
 *   client N       time N 64-byte calls to iso_echo, log the median and 99th
 *                  percentile in ns, then end
 *   ready          report ready and wait to be stopped
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kos/log.h>
#include <kos/msg.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int wait_stop(kos_app_t *app)
{
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, -1);
    }
    return 0;
}

static int serve(kos_app_t *app)
{
    kos_dir_t *dir;
    kos_endpoint_t *ep;

    if (kos_app_dir(app, "msg0", &dir) || kos_dir_publish(dir, "iso_echo", &ep) ||
        kos_app_ready(app))
        return 1;
    while (!kos_app_stopping(app)) {
        struct kos_msg m;
        struct kos_caller from;
        kos_status_t st = kos_endpoint_receive(ep, &m, &from, 0);
        if (st == KOS_STATUS_OK) {
            if (kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &m)) {
                /* the client is gone */
            }
            continue;
        }
        struct pollfd p[2] = {{.fd = kos_endpoint_fd(ep), .events = POLLIN},
                              {.fd = kos_app_fd(app), .events = POLLIN}};
        poll(p, 2, -1);
    }
    kos_endpoint_close(ep);
    return 0;
}

static int client(kos_app_t *app, long n)
{
    kos_dir_t *dir;
    kos_token_t *tok;
    uint8_t payload[64] = {0};
    uint64_t *t = calloc((size_t)n, sizeof(uint64_t));
    kos_status_t st = KOS_STATUS_UNAVAILABLE;

    if (!t || kos_app_dir(app, "msg0", &dir))
        return 1;
    for (int i = 0; i < 100 && (st = kos_dir_request(dir, "iso_echo", 1000, &tok)); i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (st || kos_app_ready(app))
        return 1;
    for (long i = 0; i < n / 10; i++) { /* warm up */
        struct kos_msg req = {.label = 1, .payload = payload, .len = 64}, rep;
        if (kos_msg_call(tok, &req, &rep, 1000))
            return 1;
    }
    for (long i = 0; i < n; i++) {
        struct kos_msg req = {.label = 1, .payload = payload, .len = 64}, rep;
        uint64_t t0 = now_ns();
        if (kos_msg_call(tok, &req, &rep, 1000))
            return 1;
        t[i] = now_ns() - t0;
    }
    qsort(t, (size_t)n, sizeof(*t), cmp_u64);
    kos_log_info("calls: %ld, median %llu ns, p99 %llu ns", n, (unsigned long long)t[n / 2],
                 (unsigned long long)t[n * 99 / 100]);
    free(t);
    kos_token_close(tok);
    return 0;
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    int rc = 2;

    if (kos_app_open(&app))
        return 1;
    if (argc > 1 && !strcmp(argv[1], "serve"))
        rc = serve(app);
    else if (argc > 2 && !strcmp(argv[1], "client"))
        rc = client(app, atol(argv[2]));
    else if (argc > 1 && !strcmp(argv[1], "ready"))
        rc = kos_app_ready(app) ? 1 : wait_stop(app);
    kos_app_close(app);
    return rc;
}
