/*
 * bench_msg.c - round-trip latency of a KOS token call against its peers, in
 * one run on one machine.
 *
 * Paths, each a two-process ping-pong:
 *   kos-64, kos-4096  KOS token call through the real msg_server and libkos
 *                     (kos_msg_call / kos_endpoint_receive / _reply);
 *   trace-off, trace-on
 *                     kos-64 with both apps given a tracing ring as Core gives
 *                     one (lib/trace_int.h): off, the client's and server's
 *                     rings say so (the cost the one branch leaves); on, both
 *                     record every call and answer, and a drainer process
 *                     empties the rings every millisecond as Core would;
 *   socketpair        a bare AF_UNIX SOCK_SEQPACKET pair, blocking send/recv;
 *   floor             bare shared memory + futex, spinning briefly before
 *                     sleeping (the lower bound the KOS design aims at);
 *   zeromq            ZeroMQ REQ/REP over ipc:// (when built with libzmq).
 * Placements: unpinned; "split", client and server pinned to two different
 * CPUs; "same", both pinned to one CPU.
 *
 * For each it prints the median and 99th percentile round trip and calls per
 * second, then the ratios against the targets, then the CPU time the KOS
 * processes (msg_server, client, server) use while left idle.
 *
 * The host may move this machine's virtual CPUs around while it runs (two
 * vCPUs can be SMT siblings one second and separate cores the next), which
 * moves every figure. So each placement is measured in rounds: every round
 * runs every path once with a share of the iterations, and the figures and
 * ratios come from all rounds together; the spread of the per-round ratios
 * is printed too.
 * Exit status 0 whatever the figures: this is a measurement, not a test.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef KOS_BENCH_ZMQ
#include <zmq.h>
#endif

#include <kos/msg.h>

#include "channel_int.h"
#include "harness.h"
#include "msg_int.h"
#include "trace_int.h"

#ifndef KOS_MSG_SERVER
#define KOS_MSG_SERVER "msg_server"
#endif

#define L_CALL 1
#define L_QUIT 2

enum placement { UNPINNED, SPLIT, SAME, N_PLACEMENTS };
static const char *const placement_names[] = {"unpinned", "split", "same"};

enum path { P_KOS64, P_KOS4096, P_TOFF, P_TON, P_SOCKETPAIR, P_FLOOR, P_ZMQ, N_PATHS };
static const char *const path_names[] = {"kos-64",     "kos-4096", "trace-off", "trace-on",
                                         "socketpair", "floor",    "zeromq"};

/* The tracing rings of the trace-off and trace-on paths' two apps, made
 * before they are forked, and what the drainer lost of trace-on's records
 * (the rings full). */
static struct kos__trace_shm *bench_ring[2];
static uint64_t bench_trace_recorded, bench_trace_lost;

struct result {
    bool done;
    double median_us, p99_us, calls_per_s;
    /* accumulated over rounds */
    uint32_t *samples;
    size_t n_samples;
    uint64_t total_ns;
    double round_median_us[64];
    int rounds;
};

/* What a measurement shares with its client process. */
struct shared {
    uint64_t total_ns;
    int ok;
    uint32_t lat_ns[]; /* one per round trip */
};

struct options {
    size_t iterations; /* per path and placement, over all rounds */
    size_t per_round;  /* iterations / rounds */
    size_t warmup;
    int idle_seconds;
    const char *msg_server;
    int runs;
    int rounds;
    unsigned placements; /* bit per enum placement */
    unsigned paths;      /* bit per enum path */
};

/* Parses a comma-separated list of names into a bit set; 0 if one is unknown. */
static unsigned parse_set(const char *arg, const char *const *names, int n)
{
    unsigned set = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", arg);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int i;
        for (i = 0; i < n && strcmp(tok, names[i]) != 0; i++)
            ;
        if (i == n) {
            fprintf(stderr, "bench_msg: unknown name '%s'\n", tok);
            return 0;
        }
        set |= 1u << i;
    }
    return set;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        perror("sched_setaffinity");
}

/* The CPUs the client and server run on in a placement (-1: anywhere). */
static void cpus_of(enum placement p, int *client, int *server)
{
    *client = *server = -1;
    if (p == SPLIT) {
        *client = 0;
        *server = 1;
    } else if (p == SAME) {
        *client = *server = 0;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Adds one round's samples to a result. */
static void summarise(struct shared *sh, size_t n, struct result *r)
{
    if (!r->samples)
        r->samples = malloc(sizeof(uint32_t) * n * 64);
    if (!r->samples || r->rounds == 64)
        return;
    memcpy(r->samples + r->n_samples, sh->lat_ns, n * sizeof(uint32_t));
    r->n_samples += n;
    r->total_ns += sh->total_ns;
    qsort(sh->lat_ns, n, sizeof(uint32_t), cmp_u32);
    r->round_median_us[r->rounds++] = sh->lat_ns[n / 2] / 1000.0;
}

/* Computes the figures from all rounds. */
static void finish(struct result *r)
{
    size_t n = r->n_samples;
    if (!n)
        return;
    qsort(r->samples, n, sizeof(uint32_t), cmp_u32);
    r->median_us = r->samples[n / 2] / 1000.0;
    r->p99_us = r->samples[(n * 99) / 100] / 1000.0;
    r->calls_per_s = (double)n * 1e9 / (double)r->total_ns;
    r->done = true;
}

/* The smallest and largest per-round ratio a/b. */
static void round_ratios(const struct result *a, const struct result *b, double *lo, double *hi)
{
    int n = a->rounds < b->rounds ? a->rounds : b->rounds;
    *lo = 1e30;
    *hi = 0;
    for (int i = 0; i < n; i++) {
        double x = a->round_median_us[i] / b->round_median_us[i];
        if (x < *lo)
            *lo = x;
        if (x > *hi)
            *hi = x;
    }
}

/* Times n round trips of `rt`, after `warmup` untimed ones. */
#define TIME_LOOP(sh, n, warmup, rt)                                                               \
    do {                                                                                           \
        for (size_t w_ = 0; w_ < (warmup); w_++)                                                   \
            if (!(rt))                                                                             \
                return 1;                                                                          \
        uint64_t start_ = now_ns(), prev_ = start_;                                                \
        for (size_t i_ = 0; i_ < (n); i_++) {                                                      \
            if (!(rt))                                                                             \
                return 1;                                                                          \
            uint64_t t_ = now_ns();                                                                \
            (sh)->lat_ns[i_] = (uint32_t)(t_ - prev_ > UINT32_MAX ? UINT32_MAX : t_ - prev_);      \
            prev_ = t_;                                                                            \
        }                                                                                          \
        (sh)->total_ns = prev_ - start_;                                                           \
        (sh)->ok = 1;                                                                              \
    } while (0)

/* ==== KOS ==== */

struct kos_arg {
    int sock;
    uint32_t app_id;
    int cpu;
    size_t n, warmup, len;
    struct shared *sh;
    bool idle;                   /* after measuring, wait for the parent's go before quitting */
    struct kos__trace_shm *ring; /* the app's tracing ring, or NULL */
};

static int kos_server(void *p, const struct kh_sync *sync)
{
    struct kos_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_endpoint_t *ep;

    pin(a->cpu);
    if (a->ring)
        kos__dir_set_trace(dir, a->ring, 0);
    if (kos_dir_publish(dir, "bench", &ep))
        return 2;
    kh_signal(sync);
    for (;;) {
        struct kos_msg m, r = {0};
        struct kos_caller from;
        if (kos_endpoint_receive(ep, &m, &from, -1))
            return 3;
        r.payload = m.payload;
        r.len = m.len;
        if (kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &r))
            return 4;
        if (m.label == L_QUIT)
            break;
    }
    kos_endpoint_close(ep);
    kos__dir_destroy(dir);
    return 0;
}

static int kos_client(void *p, const struct kh_sync *sync)
{
    struct kos_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;
    static uint8_t buf[KOS_MSG_MAX_PAYLOAD];
    struct kos_msg q = {.label = L_CALL, .payload = buf, .len = (uint32_t)a->len}, r;

    pin(a->cpu);
    if (a->ring)
        kos__dir_set_trace(dir, a->ring, 0);
    memset(buf, 0xab, sizeof(buf));
    if (kos_dir_request(dir, "bench", 5000, &t))
        return 2;
    TIME_LOOP(a->sh, a->n, a->warmup, kos_msg_call(t, &q, &r, 5000) == KOS_STATUS_OK);
    if (a->idle) {
        kh_signal(sync);
        kh_wait_go(sync, -1);
    }
    q.label = L_QUIT;
    if (kos_msg_call(t, &q, &r, 5000))
        return 5;
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

/* CPU time a process has used so far, in nanoseconds. */
static uint64_t cpu_ns(pid_t pid)
{
    char path[64];
    unsigned long long run = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
    f = fopen(path, "r");
    if (f) {
        int got = fscanf(f, "%llu", &run);
        fclose(f);
        if (got == 1)
            return run;
    }
    /* Fall back to utime + stime in clock ticks. */
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        return (uint64_t)(ut + st) * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
    return 0;
}

struct idle_result {
    bool done;
    double seconds;
    double cpu_pct[3]; /* msg_server, server, client */
    double total_pct;
};

/* Core's part for trace-on: empties both rings every millisecond until
 * its parent says stop; reports what it read and what was lost. */
static int drainer(void *p, const struct kh_sync *sync)
{
    static struct kos__trace_rec recs[KOS__TRACE_SLOTS];
    struct kos__trace_reader rd[2] = {0};
    uint64_t *counts = p; /* recorded, lost: shared with the parent */

    kh_signal(sync);
    for (;;) {
        bool stop = kh_wait_go(sync, 0) == 0;
        for (int i = 0; i < 2; i++) {
            counts[0] += kos__trace_take(bench_ring[i], &rd[i], false, 1, recs, KOS__TRACE_SLOTS,
                                         &counts[1]);
            kos__trace_commit(bench_ring[i], &rd[i]);
        }
        if (stop)
            return 0;
        usleep(1000);
    }
}

static int run_kos(struct kh_server *ms, uint32_t *next_id, enum placement pl, size_t len,
                   const struct options *o, struct shared *sh, struct result *r,
                   struct idle_result *idle, int trace)
{
    static uint64_t *counts;
    struct kh_child d;
    struct kos__trace_reader rd;
    const char *const pub[] = {"bench", NULL};
    struct kos_arg sa = {0}, ca = {0};
    struct kh_child s, c;
    int ccpu, scpu;
    int rc = -1;

    cpus_of(pl, &ccpu, &scpu);
    sa.app_id = (*next_id)++;
    ca.app_id = (*next_id)++;
    if (kh_server_add_app(ms, sa.app_id, "bench_server", pub, NULL, &sa.sock) ||
        kh_server_add_app(ms, ca.app_id, "bench_client", NULL, pub, &ca.sock))
        return -1;
    sa.cpu = scpu;
    ca.cpu = ccpu;
    ca.n = o->per_round;
    ca.warmup = o->warmup;
    ca.len = len;
    ca.sh = sh;
    ca.idle = idle != NULL;
    sh->ok = 0;
    /* trace: 0 no ring, 1 rings off, 2 rings on with a drainer. */
    if (trace) {
        for (int i = 0; i < 2; i++)
            kos__trace_reset(bench_ring[i], &rd, trace == 2);
        sa.ring = bench_ring[0];
        ca.ring = bench_ring[1];
    }
    if (trace == 2) {
        if (!counts) {
            counts = mmap(NULL, 2 * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            if (counts == MAP_FAILED)
                return -1;
        }
        counts[0] = counts[1] = 0;
        if (kh_spawn(&d, drainer, counts, NULL, 0) || kh_wait_ready(&d, 5000) < 0)
            return -1;
    }
    if (kh_spawn(&s, kos_server, &sa, &sa.sock, 1))
        return -1;
    close(sa.sock);
    if (kh_wait_ready(&s, 5000) < 0)
        fprintf(stderr, "bench: the KOS server did not publish\n");
    if (kh_spawn(&c, kos_client, &ca, &ca.sock, 1))
        return -1;
    close(ca.sock);
    if (idle) {
        pid_t pids[3] = {ms->pid, s.pid, c.pid};
        uint64_t before[3], after[3];
        if (kh_wait_ready(&c, 600000) == 0) {
            uint64_t t0 = now_ns();
            for (int i = 0; i < 3; i++)
                before[i] = cpu_ns(pids[i]);
            sleep((unsigned)o->idle_seconds);
            for (int i = 0; i < 3; i++)
                after[i] = cpu_ns(pids[i]);
            double secs = (double)(now_ns() - t0) / 1e9;
            idle->seconds = secs;
            idle->total_pct = 0;
            for (int i = 0; i < 3; i++) {
                idle->cpu_pct[i] = (double)(after[i] - before[i]) / 1e9 / secs * 100.0;
                idle->total_pct += idle->cpu_pct[i];
            }
            idle->done = true;
        }
        kh_go(&c);
    }
    int cr = kh_reap(&c, 600000);
    int sr = kh_reap(&s, 10000);
    if (trace == 2) {
        kh_go(&d);
        kh_reap(&d, 10000);
        bench_trace_recorded += counts[0];
        bench_trace_lost += counts[1];
    }
    if (cr == 0 && sr == 0 && sh->ok) {
        summarise(sh, o->per_round, r);
        rc = 0;
    } else {
        fprintf(stderr, "bench: KOS run failed (client %d, server %d)\n", cr, sr);
    }
    return rc;
}

/* ==== socketpair ==== */

struct pair_arg {
    int fd;
    int cpu;
    size_t n, warmup;
    struct shared *sh;
};

static bool sock_rt(int fd, uint8_t *buf)
{
    return send(fd, buf, 64, 0) == 64 && recv(fd, buf, 4096, 0) == 64;
}

static int sock_client(void *p, const struct kh_sync *sync)
{
    struct pair_arg *a = p;
    uint8_t buf[4096] = {0};

    (void)sync;
    pin(a->cpu);
    TIME_LOOP(a->sh, a->n, a->warmup, sock_rt(a->fd, buf));
    close(a->fd);
    return 0;
}

static int sock_server(void *p, const struct kh_sync *sync)
{
    struct pair_arg *a = p;
    uint8_t buf[4096];
    ssize_t n;

    (void)sync;
    pin(a->cpu);
    while ((n = recv(a->fd, buf, sizeof(buf), 0)) > 0)
        if (send(a->fd, buf, (size_t)n, 0) != n)
            return 1;
    return 0;
}

/* ==== shared memory + futex: the floor ==== */

#define FLOOR_SPIN_NS 50000u

struct floor_shm {
    _Alignas(128) _Atomic uint32_t req_seq;
    uint8_t req[64];
    _Alignas(128) _Atomic uint32_t rep_seq;
    uint8_t rep[64];
    _Alignas(64) _Atomic uint32_t srv_sleeping;
    _Atomic int32_t srv_cpu;
    _Alignas(64) _Atomic uint32_t cli_sleeping;
    _Atomic int32_t cli_cpu;
};

struct floor_arg {
    struct floor_shm *f;
    int cpu;
    size_t n, warmup;
    struct shared *sh;
};

/* Waits for *word to become `want`: spins up to FLOOR_SPIN_NS unless the peer
 * last ran on this CPU, then sleeps on the futex. */
static void floor_wait(_Atomic uint32_t *word, uint32_t want, _Atomic uint32_t *sleeping,
                       _Atomic int32_t *peer_cpu, _Atomic int32_t *my_cpu)
{
    int me = sched_getcpu();
    atomic_store_explicit(my_cpu, me, memory_order_relaxed);
    if (atomic_load_explicit(peer_cpu, memory_order_relaxed) != me) {
        uint64_t limit = now_ns() + FLOOR_SPIN_NS;
        for (unsigned i = 1;; i++) {
            if (atomic_load_explicit(word, memory_order_acquire) == want)
                return;
            kos__cpu_relax();
            if ((i & 31) == 0 && now_ns() > limit)
                break;
        }
    }
    for (;;) {
        atomic_store(sleeping, 1);
        uint32_t cur = atomic_load(word);
        if (cur == want)
            break;
        syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, cur, NULL, NULL, 0);
    }
    atomic_store_explicit(sleeping, 0, memory_order_relaxed);
}

static void floor_post(_Atomic uint32_t *word, uint32_t v, _Atomic uint32_t *peer_sleeping)
{
    atomic_store(word, v);
    if (atomic_load(peer_sleeping))
        syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static bool floor_rt(struct floor_shm *f, uint32_t seq, uint8_t *buf)
{
    memcpy(f->req, buf, 64);
    floor_post(&f->req_seq, seq, &f->srv_sleeping);
    floor_wait(&f->rep_seq, seq, &f->cli_sleeping, &f->srv_cpu, &f->cli_cpu);
    memcpy(buf, f->rep, 64);
    return true;
}

static int floor_client(void *p, const struct kh_sync *sync)
{
    struct floor_arg *a = p;
    uint8_t buf[64] = {0};
    uint32_t seq = 0;

    (void)sync;
    pin(a->cpu);
    TIME_LOOP(a->sh, a->n, a->warmup, floor_rt(a->f, ++seq, buf));
    floor_post(&a->f->req_seq, 0, &a->f->srv_sleeping); /* seq 0: stop */
    return 0;
}

static int floor_server(void *p, const struct kh_sync *sync)
{
    struct floor_arg *a = p;
    struct floor_shm *f = a->f;
    uint8_t buf[64];
    uint32_t seq = 0;

    (void)sync;
    pin(a->cpu);
    for (;;) {
        floor_wait(&f->req_seq, seq + 1, &f->srv_sleeping, &f->cli_cpu, &f->srv_cpu);
        seq++;
        memcpy(buf, f->req, 64);
        memcpy(f->rep, buf, 64);
        floor_post(&f->rep_seq, seq, &f->cli_sleeping);
        if (seq == a->n + a->warmup)
            return 0;
    }
}

/* ==== ZeroMQ ==== */

#ifdef KOS_BENCH_ZMQ
struct zmq_arg {
    char endpoint[128];
    int cpu;
    size_t n, warmup;
    struct shared *sh;
};

static bool zmq_rt(void *sock, uint8_t *buf)
{
    return zmq_send(sock, buf, 64, 0) == 64 && zmq_recv(sock, buf, 4096, 0) == 64;
}

static int zmq_client(void *p, const struct kh_sync *sync)
{
    struct zmq_arg *a = p;
    uint8_t buf[4096] = {0};

    pin(a->cpu); /* before the context: its I/O thread inherits the CPU set */
    kh_wait_go(sync, 10000);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_REQ);
    if (zmq_connect(s, a->endpoint) != 0)
        return 2;
    TIME_LOOP(a->sh, a->n, a->warmup, zmq_rt(s, buf));
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

static int zmq_server(void *p, const struct kh_sync *sync)
{
    struct zmq_arg *a = p;
    uint8_t buf[4096];

    pin(a->cpu);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_REP);
    if (zmq_bind(s, a->endpoint) != 0)
        return 2;
    kh_signal(sync);
    for (size_t i = 0; i < a->n + a->warmup; i++) {
        int n = zmq_recv(s, buf, sizeof(buf), 0);
        if (n < 0 || zmq_send(s, buf, (size_t)n, 0) != n)
            return 3;
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
#endif

/* Runs one bare (non-KOS) path. */
static int run_bare(enum path path, enum placement pl, const struct options *o, struct shared *sh,
                    struct result *r)
{
    struct kh_child s, c;
    int ccpu, scpu;
    int cr = -1, sr = -1;

    cpus_of(pl, &ccpu, &scpu);
    sh->ok = 0;
    if (path == P_SOCKETPAIR) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
            return -1;
        struct pair_arg sa = {.fd = sv[1], .cpu = scpu}, ca = {.fd = sv[0],
                                                               .cpu = ccpu,
                                                               .n = o->per_round,
                                                               .warmup = o->warmup,
                                                               .sh = sh};
        kh_spawn(&s, sock_server, &sa, &sv[1], 1);
        kh_spawn(&c, sock_client, &ca, &sv[0], 1);
        close(sv[0]);
        close(sv[1]);
        cr = kh_reap(&c, 600000);
        sr = kh_reap(&s, 10000);
    } else if (path == P_FLOOR) {
        struct floor_shm *f =
            mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (f == MAP_FAILED)
            return -1;
        atomic_store(&f->srv_cpu, -1);
        atomic_store(&f->cli_cpu, -1);
        struct floor_arg sa = {.f = f, .cpu = scpu, .n = o->per_round, .warmup = o->warmup};
        struct floor_arg ca = sa;
        ca.cpu = ccpu;
        ca.sh = sh;
        kh_spawn(&s, floor_server, &sa, NULL, 0);
        kh_spawn(&c, floor_client, &ca, NULL, 0);
        cr = kh_reap(&c, 600000);
        sr = kh_reap(&s, 10000);
        munmap(f, sizeof(*f));
    } else if (path == P_ZMQ) {
#ifdef KOS_BENCH_ZMQ
        struct zmq_arg sa = {.cpu = scpu, .n = o->per_round, .warmup = o->warmup};
        snprintf(sa.endpoint, sizeof(sa.endpoint), "ipc:///tmp/kos-bench-msg-%d.ipc",
                 (int)getpid());
        struct zmq_arg ca = sa;
        ca.cpu = ccpu;
        ca.sh = sh;
        kh_spawn(&s, zmq_server, &sa, NULL, 0);
        kh_wait_ready(&s, 10000);
        kh_spawn(&c, zmq_client, &ca, NULL, 0);
        kh_go(&c);
        cr = kh_reap(&c, 600000);
        sr = kh_reap(&s, 10000);
        unlink(sa.endpoint + strlen("ipc://"));
#else
        return -1;
#endif
    }
    if (cr == 0 && sr == 0 && sh->ok) {
        summarise(sh, o->per_round, r);
        return 0;
    }
    fprintf(stderr, "bench: %s/%s failed (client %d, server %d)\n", path_names[path],
            placement_names[pl], cr, sr);
    return -1;
}

/* ==== report ==== */

static const char *verdict(bool ok)
{
    return ok ? "met" : "MISSED";
}

static void report(struct result res[N_PLACEMENTS][N_PATHS], const struct idle_result *idle)
{
    printf("\n%-10s %-10s %12s %12s %12s\n", "path", "placement", "median us", "p99 us", "calls/s");
    for (int pl = 0; pl < N_PLACEMENTS; pl++)
        for (int p = 0; p < N_PATHS; p++)
            if (res[pl][p].done)
                printf("%-10s %-10s %12.2f %12.2f %12.0f\n", path_names[p], placement_names[pl],
                       res[pl][p].median_us, res[pl][p].p99_us, res[pl][p].calls_per_s);

    printf("\nratios of medians, 64-byte payloads (in brackets: lowest-highest of the rounds)\n");
    for (int pl = 0; pl < N_PLACEMENTS; pl++) {
        struct result *k = &res[pl][P_KOS64];
        double lo, hi;
        if (!k->done)
            continue;
        printf("  %-9s", placement_names[pl]);
        if (res[pl][P_FLOOR].done) {
            round_ratios(k, &res[pl][P_FLOOR], &lo, &hi);
            printf("  KOS/floor %5.2f [%.2f-%.2f]", k->median_us / res[pl][P_FLOOR].median_us, lo,
                   hi);
        }
        if (res[pl][P_ZMQ].done) {
            round_ratios(&res[pl][P_ZMQ], k, &lo, &hi);
            printf("  ZeroMQ/KOS %6.1f [%.0f-%.0f]", res[pl][P_ZMQ].median_us / k->median_us, lo,
                   hi);
        }
        if (res[pl][P_SOCKETPAIR].done) {
            round_ratios(k, &res[pl][P_SOCKETPAIR], &lo, &hi);
            printf("  KOS/socketpair %5.2f [%.2f-%.2f]",
                   k->median_us / res[pl][P_SOCKETPAIR].median_us, lo, hi);
        }
        printf("\n");
    }

    printf("\ntracing, 64-byte payloads (ratios of medians; in brackets: lowest-highest of the "
           "rounds)\n");
    for (int pl = 0; pl < N_PLACEMENTS; pl++) {
        struct result *k = &res[pl][P_KOS64], *off = &res[pl][P_TOFF], *on = &res[pl][P_TON];
        double lo, hi;
        if (!k->done || !off->done)
            continue;
        round_ratios(off, k, &lo, &hi);
        printf("  %-9s  off/untraced %5.2f [%.2f-%.2f]", placement_names[pl],
               off->median_us / k->median_us, lo, hi);
        if (on->done) {
            round_ratios(on, off, &lo, &hi);
            printf("  on/off %5.2f [%.2f-%.2f]  on - off %+.3f us", on->median_us / off->median_us,
                   lo, hi, on->median_us - off->median_us);
        }
        printf("\n");
    }
    if (bench_trace_recorded + bench_trace_lost)
        printf("  trace-on: %llu records read, %llu lost (rings full)\n",
               (unsigned long long)bench_trace_recorded, (unsigned long long)bench_trace_lost);

    printf("\ntargets\n");
    struct result *k = &res[SPLIT][P_KOS64];
    if (k->done && res[SPLIT][P_FLOOR].done) {
        double x = k->median_us / res[SPLIT][P_FLOOR].median_us;
        printf("  KOS within 2x of the floor, other core:        %5.2fx  %s\n", x,
               verdict(x <= 2.0));
    }
    if (k->done && res[SPLIT][P_ZMQ].done) {
        double x = res[SPLIT][P_ZMQ].median_us / k->median_us;
        printf("  KOS >= 20x faster than ZeroMQ, other core:     %5.1fx  %s\n", x,
               verdict(x >= 20.0));
    }
    for (int pl = 0; pl < N_PLACEMENTS; pl++) {
        if (!res[pl][P_KOS64].done || !res[pl][P_SOCKETPAIR].done)
            continue;
        double x = res[pl][P_KOS64].median_us / res[pl][P_SOCKETPAIR].median_us;
        printf("  KOS <= 1.5x socketpair, %-9s:             %5.2fx  %s\n", placement_names[pl], x,
               verdict(x <= 1.5));
    }
    if (idle && idle->done)
        printf("  idle CPU < 1%% (msg_server %.3f%% + server %.3f%% + client %.3f%%, %.0f s): "
               "%.3f%%  %s\n",
               idle->cpu_pct[0], idle->cpu_pct[1], idle->cpu_pct[2], idle->seconds, idle->total_pct,
               verdict(idle->total_pct < 1.0));
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--iterations N] [--rounds R] [--warmup N] [--idle-seconds S]\n"
            "          [--runs R] [--placements LIST] [--paths LIST] [--msg-server PATH]\n"
            "  --iterations N    timed round trips per path and placement (default 50000)\n"
            "  --rounds R        split them into R interleaved rounds (default 5, max 64)\n"
            "  --warmup N        untimed round trips before each round (default 1000)\n"
            "  --idle-seconds S  idle time measured after the KOS calls (default 10; 0: skip)\n"
            "  --runs R          repeat the whole measurement R times (default 1)\n"
            "  --placements LIST some of unpinned,split,same (default: all)\n"
            "  --paths LIST      some of kos-64,kos-4096,trace-off,trace-on,socketpair,floor,\n"
            "                    zeromq (default: all)\n"
            "  --msg-server PATH the msg_server binary (default: the one built with this)\n",
            argv0);
}

int main(int argc, char **argv)
{
    struct options o = {.iterations = 50000,
                        .warmup = 1000,
                        .idle_seconds = 10,
                        .msg_server = KOS_MSG_SERVER,
                        .runs = 1,
                        .rounds = 5,
                        .placements = (1u << N_PLACEMENTS) - 1,
                        .paths = (1u << N_PATHS) - 1};
    static const struct option longopts[] = {
        {"iterations", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"idle-seconds", required_argument, NULL, 'i'},
        {"runs", required_argument, NULL, 'r'},
        {"msg-server", required_argument, NULL, 'm'},
        {"rounds", required_argument, NULL, 'R'},
        {"placements", required_argument, NULL, 'P'},
        {"paths", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "n:w:i:r:m:R:P:p:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            o.iterations = strtoul(optarg, NULL, 10);
            break;
        case 'w':
            o.warmup = strtoul(optarg, NULL, 10);
            break;
        case 'i':
            o.idle_seconds = atoi(optarg);
            break;
        case 'r':
            o.runs = atoi(optarg);
            break;
        case 'm':
            o.msg_server = optarg;
            break;
        case 'R':
            o.rounds = atoi(optarg);
            break;
        case 'P':
            o.placements = parse_set(optarg, placement_names, N_PLACEMENTS);
            if (!o.placements)
                return 2;
            break;
        case 'p':
            o.paths = parse_set(optarg, path_names, N_PATHS);
            if (!o.paths)
                return 2;
            break;
        default:
            usage(argv[0]);
            return ch == 'h' ? 0 : 2;
        }
    }
    if (o.runs < 1 || o.rounds < 1 || o.rounds > 64 || o.idle_seconds < 0 ||
        o.iterations / (size_t)o.rounds < 100) {
        usage(argv[0]);
        return 2;
    }
    o.per_round = o.iterations / (size_t)o.rounds;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("bench_msg: %zu round trips per path and placement in %d rounds (+%zu warm-up each), "
           "%ld CPUs\n",
           o.per_round * (size_t)o.rounds, o.rounds, o.warmup, ncpu);
#ifndef KOS_BENCH_ZMQ
    printf("bench_msg: built without libzmq: no ZeroMQ figures\n");
#endif

    struct shared *sh = mmap(NULL, sizeof(*sh) + o.per_round * sizeof(uint32_t),
                             PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char tmp[64], log[128];
    struct kh_server ms;
    uint32_t next_id = 1;

    if (sh == MAP_FAILED || kh_tmpdir(tmp, sizeof(tmp)))
        return 1;
    snprintf(log, sizeof(log), "%s/msg0.log", tmp);
    if (kh_server_start(&ms, o.msg_server, "msg0", log))
        return 1;
    for (int i = 0; i < 2; i++) {
        int fd;
        if (kos__trace_create(&fd, &bench_ring[i]))
            return 1;
        close(fd); /* the mapping is inherited by the apps forked */
    }

    for (int run = 0; run < o.runs; run++) {
        static struct result res[N_PLACEMENTS][N_PATHS];
        struct idle_result idle = {0};
        for (int pl = 0; pl < N_PLACEMENTS; pl++)
            for (int p = 0; p < N_PATHS; p++)
                free(res[pl][p].samples);
        memset(res, 0, sizeof(res));
        if (o.runs > 1)
            printf("\n==== run %d of %d ====\n", run + 1, o.runs);
        for (int pl = 0; pl < N_PLACEMENTS; pl++) {
            if ((pl != UNPINNED && ncpu < 2) || !(o.placements & (1u << pl)))
                continue;
            printf("  %-9s round", placement_names[pl]);
            for (int round = 0; round < o.rounds; round++) {
                printf(" %d", round + 1);
                fflush(stdout);
                for (int p = 0; p < N_PATHS; p++) {
                    int rc;
                    if (!(o.paths & (1u << p)))
                        continue;
                    if (p == P_KOS64 || p == P_KOS4096 || p == P_TOFF || p == P_TON) {
                        bool want_idle =
                            p == P_KOS64 && pl == UNPINNED && round == 0 && o.idle_seconds > 0;
                        rc = run_kos(&ms, &next_id, (enum placement)pl, p == P_KOS4096 ? 4096 : 64,
                                     &o, sh, &res[pl][p], want_idle ? &idle : NULL,
                                     p == P_TOFF  ? 1
                                     : p == P_TON ? 2
                                                  : 0);
                    } else {
#ifndef KOS_BENCH_ZMQ
                        if (p == P_ZMQ)
                            continue;
#endif
                        rc = run_bare((enum path)p, (enum placement)pl, &o, sh, &res[pl][p]);
                    }
                    if (rc)
                        printf("(%s failed)", path_names[p]);
                }
            }
            printf("\n");
            for (int p = 0; p < N_PATHS; p++)
                finish(&res[pl][p]);
        }
        report(res, &idle);
    }
    kh_server_stop(&ms);
    unlink(log);
    rmdir(tmp);
    return 0;
}
