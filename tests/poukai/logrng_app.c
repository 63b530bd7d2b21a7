/*
 * logrng_app.c - the test app of the rng_server and log_server system
 * tests (t_logrng), one behaviour per argv[1], reporting on its console:
 *
 *   rng                 two reads differ; waits for rng_server to restart
 *                       (the test kills it) and reads again; then bad
 *                       requests; exits 0
 *   rng-dump N          reads N bytes in one kos_rng_read() and prints them
 *                       as hex lines "rng data: ..." for rngtest
 *   rng-denied          requests kos_rng_protocol without a grant
 *   log-roundtrip       writes records and reads them back
 *   log-noisy N         writes N records as fast as it can, pauses, writes one more
 *   log-flood MS        writes records as fast as it can for MS ms, then waits
 *                       until the notices of its own records report every drop
 *   log-quiet N         writes N paced records, then checks they all arrived
 *                       and that noisy's drops were reported
 *   log-abuse           malformed log requests; then a good one
 *   log-denied          requests kos_log_protocol without a grant
 *   log-persist N       if the log holds none of its records: writes N, waits
 *                       for log_server to restart; then counts its records
 *   log-watch APP       after each restart of log_server, counts APP's records
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kos/log.h>
#include <kos/logsrv.h>
#include <kos/msg.h>
#include <kos/rng.h>

/* The query request header of kos_log_protocol (see kos/logsrv.h). */
#define QUERY_HDR 24

static kos_app_t *app;
static kos_dir_t *dir;

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits until the server behind `tok` is gone (the test kills it). */
static void wait_gone(kos_token_t *tok)
{
    for (int i = 0; i < 600; i++) {
        if (kos_token_ping(tok, 1000) != KOS_STATUS_OK)
            return;
        sleep_ms(100);
    }
}

/* A raw call on `tok`: returns the status and the reply length. */
static kos_status_t raw(kos_token_t *tok, uint32_t label, uint64_t param, const void *payload,
                        uint32_t len, uint32_t *reply_len)
{
    struct kos_msg req = {.label = label, .param = param, .payload = payload, .len = len}, reply;
    kos_status_t st = kos_msg_call(tok, &req, &reply, 5000);
    if (reply_len)
        *reply_len = st == KOS_STATUS_OK ? reply.len : 0;
    return st;
}

static int do_rng(void)
{
    uint8_t a[32], b[32];
    char ha[65], hb[65];
    kos_rng_t *rng;
    struct kos_rng_stats stats;
    kos_status_t st;
    uint32_t len;

    if ((st = kos_rng_open(dir, 5000, &rng))) {
        kos_log_error("rng open: %s", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        return 1;
    if ((st = kos_rng_read(rng, a, 32)) || (st = kos_rng_read(rng, b, 32))) {
        kos_log_error("rng read: %s", kos_status_str(st));
        return 1;
    }
    hex(a, 32, ha);
    hex(b, 32, hb);
    kos_log_info("rng read 1: %s", ha);
    kos_log_info("rng read 2: %s", hb);
    kos_log_info("rng reads differ: %s", memcmp(a, b, 32) ? "yes" : "no");
    /* any length, across the per-call limit */
    static uint8_t big[3 * KOS_RNG_MAX_READ + 17];
    if ((st = kos_rng_read(rng, big, sizeof(big))) || (st = kos_rng_stats(rng, &stats))) {
        kos_log_error("rng big read: %s", kos_status_str(st));
        return 1;
    }
    kos_log_info("rng big read ok: %zu bytes; server served %llu bytes in %llu requests, %llu "
                 "reseeds",
                 sizeof(big), (unsigned long long)stats.bytes, (unsigned long long)stats.requests,
                 (unsigned long long)stats.reseeds);

    /* bad requests */
    kos_token_t *tok = kos_rng_token(rng);
    kos_log_info("rng bad: unknown label: %s", kos_status_str(raw(tok, 99, 0, NULL, 0, NULL)));
    kos_log_info("rng bad: oversize read: %s",
                 kos_status_str(raw(tok, KOS_RNG_READ, KOS_RNG_MAX_READ + 1, NULL, 0, NULL)));
    kos_log_info("rng bad: huge param: %s",
                 kos_status_str(raw(tok, KOS_RNG_READ, UINT64_MAX, NULL, 0, NULL)));
    kos_log_info("rng bad: payload: %s",
                 kos_status_str(raw(tok, KOS_RNG_READ, 8, "junk", 4, NULL)));
    st = raw(tok, KOS_RNG_READ, 0, NULL, 0, &len);
    kos_log_info("rng zero read: %s, %u bytes", kos_status_str(st), len);
    st = raw(tok, KOS_RNG_READ, 16, NULL, 0, &len);
    kos_log_info("rng still serves: %s, %u bytes", kos_status_str(st), len);

    /* after a restart of rng_server, the output is new */
    kos_log_info("rng waiting for a restart");
    wait_gone(tok);
    kos_rng_close(rng);
    if ((st = kos_rng_open(dir, 10000, &rng)) || (st = kos_rng_read(rng, b, 32))) {
        kos_log_error("rng after restart: %s", kos_status_str(st));
        return 1;
    }
    hex(b, 32, hb);
    kos_log_info("rng after restart: %s", hb);
    kos_rng_close(rng);
    return 0;
}

static int do_rng_dump(size_t n)
{
    kos_rng_t *rng;
    uint8_t *buf = malloc(n ? n : 1);
    /* 1000 bytes a line: console lines stay under Core's 2048-byte limit, and
     * the 2500 lines of the FIPS sample within its burst of 5000. */
    char line[2 * 1000 + 1];
    kos_status_t st;

    if (!buf || (st = kos_rng_open(dir, 5000, &rng))) {
        kos_log_error("rng open failed");
        return 1;
    }
    if ((st = kos_rng_read(rng, buf, n))) {
        kos_log_error("rng read: %s", kos_status_str(st));
        return 1;
    }
    for (size_t off = 0; off < n; off += 1000) {
        size_t k = n - off < 1000 ? n - off : 1000;
        hex(buf + off, k, line);
        kos_log_info("rng data: %s", line);
    }
    kos_log_info("rng dump done: %zu bytes", n);
    kos_rng_close(rng);
    free(buf);
    return 0;
}

static int do_denied(const char *proto)
{
    kos_token_t *tok;
    kos_status_t st = kos_dir_request(dir, proto, 2000, &tok);
    kos_log_info("request %s: %s", proto, kos_status_str(st));
    if (!st)
        kos_token_close(tok);
    return 0;
}

static kos_logsrv_t *log_open(void)
{
    kos_logsrv_t *ls;
    kos_status_t st = kos_logsrv_open(dir, 5000, &ls);
    if (st) {
        kos_log_error("log open: %s", kos_status_str(st));
        exit(1);
    }
    return ls;
}

struct count {
    const char *app;
    const char *prefix;
    unsigned n;
    uint64_t last_seq;
    bool in_order;
    char notice[256];           /* the last drop notice seen */
    unsigned long long noticed; /* the drops all notices report, summed */
};

static void count_rec(const struct kos_logsrv_record *r, void *arg)
{
    struct count *c = arg;
    if (r->flags & KOS_LOGSRV_NOTICE) {
        snprintf(c->notice, sizeof(c->notice), "%.200s", r->text);
        c->noticed += strtoull(r->text, NULL, 10);
        return;
    }
    if (c->app && strcmp(r->app, c->app))
        return;
    if (c->prefix && strncmp(r->text, c->prefix, strlen(c->prefix)))
        return;
    if (r->seq <= c->last_seq)
        c->in_order = false;
    c->last_seq = r->seq;
    c->n++;
}

/* Runs a query to the end, every page. */
static kos_status_t query_all(kos_logsrv_t *ls, struct kos_logsrv_query *q, struct count *c,
                              unsigned *pages)
{
    bool more = true;
    kos_status_t st = KOS_STATUS_OK;

    *pages = 0;
    while (more && !st) {
        st = kos_logsrv_query(ls, q, count_rec, c, &more, NULL);
        (*pages)++;
    }
    return st;
}

static void print_rec(const struct kos_logsrv_record *r, void *arg)
{
    (void)arg;
    kos_log_info("got: seq %llu app %s level %d flags %u text '%s'", (unsigned long long)r->seq,
                 r->app, (int)r->level, r->flags, r->text);
}

static int do_log_roundtrip(void)
{
    kos_logsrv_t *ls = log_open();
    struct kos_logsrv_query q = {.app = kos_app_name(app)};
    kos_status_t st;
    uint64_t seq;
    bool more;

    if (kos_app_ready(app))
        return 1;
    st = kos_logsrv_write(ls, KOS_LOG_INFO, "hello from the roundtrip", &seq);
    kos_log_info("write info: %s", kos_status_str(st));
    st = kos_logsrv_printf(ls, KOS_LOG_ERROR, "an error %d", 42);
    kos_log_info("write error: %s", kos_status_str(st));
    st = kos_logsrv_write(ls, KOS_LOG_DEBUG, "line one\nline two", NULL);
    kos_log_info("write debug: %s", kos_status_str(st));
    st = kos_logsrv_query(ls, &q, print_rec, NULL, &more, NULL);
    kos_log_info("query mine: %s", kos_status_str(st));
    q = (struct kos_logsrv_query){.app = kos_app_name(app), .min_level = KOS_LOG_WARN};
    st = kos_logsrv_query(ls, &q, print_rec, NULL, &more, NULL);
    kos_log_info("query warn+: %s", kos_status_str(st));
    q = (struct kos_logsrv_query){.app = NULL};
    st = kos_logsrv_query(ls, &q, print_rec, NULL, &more, NULL);
    kos_log_info("query every app: %s", kos_status_str(st));
    q = (struct kos_logsrv_query){.app = "noisy"};
    st = kos_logsrv_query(ls, &q, print_rec, NULL, &more, NULL);
    kos_log_info("query another app: %s", kos_status_str(st));
    kos_logsrv_close(ls);
    return 0;
}

static int do_log_noisy(unsigned n)
{
    kos_logsrv_t *ls = log_open();
    unsigned ok = 0, busy = 0, other = 0;

    if (kos_app_ready(app))
        return 1;
    for (unsigned i = 0; i < n; i++) {
        kos_status_t st = kos_logsrv_printf(ls, KOS_LOG_INFO, "noise %u", i);
        ok += st == KOS_STATUS_OK;
        busy += st == KOS_STATUS_BUSY;
        other += st != KOS_STATUS_OK && st != KOS_STATUS_BUSY;
    }
    kos_log_info("noisy: accepted %u dropped %u failed %u", ok, busy, other);
    sleep_ms(1500);
    kos_status_t st = kos_logsrv_write(ls, KOS_LOG_INFO, "noisy is back", NULL);
    kos_log_info("noisy: resumed: %s", kos_status_str(st));
    kos_logsrv_close(ls);
    return 0;
}

static int do_log_quiet(unsigned n)
{
    kos_logsrv_t *ls = log_open();
    unsigned ok = 0, pages;
    struct count c;
    struct kos_logsrv_app_stats stats;

    if (kos_app_ready(app))
        return 1;
    for (unsigned i = 0; i < n; i++) {
        ok += kos_logsrv_printf(ls, KOS_LOG_INFO, "quiet %u", i) == KOS_STATUS_OK;
        sleep_ms(20);
    }
    kos_log_info("quiet: %u of %u accepted", ok, n);
    /* noisy's drops must all show up in notices: a notice is emitted per
     * reporting period, so one burst may be reported in several. Wait until
     * the notices add up to the count the server keeps and none is pending. */
    memset(&stats, 0, sizeof(stats));
    for (int tries = 0; tries < 100; tries++) {
        struct kos_logsrv_query q = {.app = "noisy"};
        memset(&c, 0, sizeof(c));
        c.app = "noisy";
        c.in_order = true;
        if (query_all(ls, &q, &c, &pages) == KOS_STATUS_OK && c.notice[0] &&
            kos_logsrv_app_stats(ls, "noisy", &stats) == KOS_STATUS_OK && stats.pending == 0 &&
            c.noticed == stats.dropped)
            break;
        sleep_ms(100);
    }
    kos_log_info("quiet: notice: '%s'", c.notice);
    kos_log_info("quiet: notices report %llu dropped records from app noisy", c.noticed);
    kos_log_info("quiet: stats noisy: accepted %llu dropped %llu pending %llu",
                 (unsigned long long)stats.accepted, (unsigned long long)stats.dropped,
                 (unsigned long long)stats.pending);
    struct kos_logsrv_query q = {.app = kos_app_name(app)};
    memset(&c, 0, sizeof(c));
    c.prefix = "quiet ";
    c.in_order = true;
    kos_status_t st = query_all(ls, &q, &c, &pages);
    kos_log_info("quiet: query found %u of mine in order %s (%s)", c.n, c.in_order ? "yes" : "no",
                 kos_status_str(st));
    kos_logsrv_close(ls);
    return 0;
}

static int do_log_flood(unsigned ms)
{
    kos_logsrv_t *ls = log_open();
    struct kos_logsrv_app_stats stats;
    unsigned long ok = 0, busy = 0, other = 0;
    unsigned pages;
    struct count c;
    struct timespec t0, t;

    if (kos_app_ready(app))
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 100; i++) {
            kos_status_t st = kos_logsrv_write(ls, KOS_LOG_INFO, "flood", NULL);
            ok += st == KOS_STATUS_OK;
            busy += st == KOS_STATUS_BUSY;
            other += st != KOS_STATUS_OK && st != KOS_STATUS_BUSY;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < (long)ms);
    kos_log_info("flood: accepted %lu dropped %lu failed %lu", ok, busy, other);
    /* The last drops are reported after a second of quiet. */
    memset(&stats, 0, sizeof(stats));
    for (int tries = 0; tries < 100; tries++) {
        struct kos_logsrv_query q = {.app = kos_app_name(app)};
        memset(&c, 0, sizeof(c));
        c.app = kos_app_name(app);
        c.in_order = true;
        if (query_all(ls, &q, &c, &pages) == KOS_STATUS_OK &&
            kos_logsrv_app_stats(ls, kos_app_name(app), &stats) == KOS_STATUS_OK &&
            stats.pending == 0 && c.noticed == stats.dropped)
            break;
        sleep_ms(100);
    }
    kos_log_info("flood: notices report %llu dropped records; stats: dropped %llu pending %llu",
                 c.noticed, (unsigned long long)stats.dropped, (unsigned long long)stats.pending);
    kos_logsrv_close(ls);
    return 0;
}

static int do_log_abuse(void)
{
    kos_logsrv_t *ls = log_open();
    kos_token_t *tok = kos_logsrv_token(ls);
    static char big[KOS_MSG_MAX_PAYLOAD + 1];
    uint8_t q[QUERY_HDR + 8] = {0};

    if (kos_app_ready(app))
        return 1;
    memset(big, 'x', sizeof(big));
    kos_log_info("abuse: unknown label: %s", kos_status_str(raw(tok, 77, 0, NULL, 0, NULL)));
    kos_log_info("abuse: reserved label: %s",
                 kos_status_str(raw(tok, KOS_MSG_LABEL_RESERVED + 5, 0, NULL, 0, NULL)));
    kos_log_info("abuse: bad level: %s",
                 kos_status_str(raw(tok, KOS_LOGSRV_WRITE, 9, "x", 1, NULL)));
    kos_log_info("abuse: text over the limit: %s",
                 kos_status_str(raw(tok, KOS_LOGSRV_WRITE, 1, big, KOS_LOGSRV_TEXT_MAX + 1, NULL)));
    kos_log_info("abuse: payload over 4096: %s",
                 kos_status_str(raw(tok, KOS_LOGSRV_WRITE, 1, big, sizeof(big), NULL)));
    kos_log_info("abuse: NUL in text: %s",
                 kos_status_str(raw(tok, KOS_LOGSRV_WRITE, 1, "a\0b", 3, NULL)));
    kos_log_info("abuse: short query: %s",
                 kos_status_str(raw(tok, KOS_LOGSRV_QUERY, 0, q, 5, NULL)));
    q[21] = 60; /* app_len past the payload */
    kos_log_info("abuse: query app_len mismatch: %s",
                 kos_status_str(raw(tok, KOS_LOGSRV_QUERY, 0, q, QUERY_HDR, NULL)));
    q[21] = 0;
    q[20] = 7; /* level */
    kos_log_info("abuse: query bad level: %s",
                 kos_status_str(raw(tok, KOS_LOGSRV_QUERY, 0, q, QUERY_HDR, NULL)));
    kos_log_info("abuse: empty stats: %s",
                 kos_status_str(raw(tok, KOS_LOGSRV_STATS, 0, NULL, 0, NULL)));
    kos_status_t st = kos_logsrv_write(ls, KOS_LOG_INFO, "after the abuse", NULL);
    kos_log_info("abuse: server still answers: %s", kos_status_str(st));
    kos_logsrv_close(ls);
    return 0;
}

static int do_log_persist(unsigned n)
{
    kos_logsrv_t *ls = log_open();
    struct kos_logsrv_query q = {.app = kos_app_name(app)};
    unsigned ok = 0, pages;
    struct count c = {.prefix = "persist ", .in_order = true};
    kos_status_t st;

    if (kos_app_ready(app))
        return 1;
    st = query_all(ls, &q, &c, &pages);
    if (st == KOS_STATUS_OK && c.n == 0) {
        /* A fresh store: write, and count again after the server restarts. */
        for (unsigned i = 0; i < n; i++)
            ok += kos_logsrv_printf(ls, KOS_LOG_INFO, "persist %u", i) == KOS_STATUS_OK;
        kos_log_info("persist: wrote %u, acknowledged %u", n, ok);
        wait_gone(kos_logsrv_token(ls));
        kos_logsrv_close(ls);
        ls = log_open();
        q = (struct kos_logsrv_query){.app = kos_app_name(app)};
        c = (struct count){.prefix = "persist ", .in_order = true};
        st = query_all(ls, &q, &c, &pages);
    }
    kos_log_info("persist: found %u records in order %s in %u pages (%s)", c.n,
                 c.in_order ? "yes" : "no", pages, kos_status_str(st));
    kos_logsrv_close(ls);
    return 0;
}

/* Each time log_server comes back after a restart, counts the records of
 * app `target` it holds. Runs until stopped. */
static int do_log_watch(const char *target)
{
    kos_logsrv_t *ls = log_open();
    unsigned restarts = 0, pages;

    if (kos_app_ready(app))
        return 1;
    while (!kos_app_stopping(app)) {
        if (kos_token_ping(kos_logsrv_token(ls), 1000) == KOS_STATUS_OK) {
            sleep_ms(50);
            continue;
        }
        kos_logsrv_close(ls);
        ls = log_open();
        restarts++;
        struct kos_logsrv_query q = {.app = target};
        struct count c = {.app = target, .prefix = "persist ", .in_order = true};
        kos_status_t st = query_all(ls, &q, &c, &pages);
        kos_log_info("watch: restart %u: found %u records of %s in order %s (%s)", restarts, c.n,
                     target, c.in_order ? "yes" : "no", kos_status_str(st));
    }
    kos_logsrv_close(ls);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 0;
    int rc;

    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 1;
    if (!strcmp(mode, "rng"))
        rc = do_rng();
    else if (!strcmp(mode, "rng-dump"))
        rc = do_rng_dump(n);
    else if (!strcmp(mode, "rng-denied"))
        rc = do_denied(KOS_RNG_PROTOCOL);
    else if (!strcmp(mode, "log-denied"))
        rc = do_denied(KOS_LOG_PROTOCOL);
    else if (!strcmp(mode, "log-roundtrip"))
        rc = do_log_roundtrip();
    else if (!strcmp(mode, "log-noisy"))
        rc = do_log_noisy(n);
    else if (!strcmp(mode, "log-flood"))
        rc = do_log_flood(n);
    else if (!strcmp(mode, "log-quiet"))
        rc = do_log_quiet(n);
    else if (!strcmp(mode, "log-abuse"))
        rc = do_log_abuse();
    else if (!strcmp(mode, "log-persist"))
        rc = do_log_persist(n);
    else if (!strcmp(mode, "log-watch") && argc > 2)
        rc = do_log_watch(argv[2]);
    else {
        kos_log_error("unknown mode '%s'", mode);
        rc = 2;
    }
    kos_app_close(app);
    return rc;
}
