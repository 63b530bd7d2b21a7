/*
 * main.c - log_server: publishes kos_log_protocol on msg0 and keeps
 * structured records from every app that may call it.
 *
 * What stays true:
 *  - a record's app is the caller's name as the message server vouches for
 *    it, and its time is this server's clock; nothing in a payload can set
 *    either;
 *  - records live in a bounded ring (ring_size) and, when the server has a
 *    data directory, in a bounded store file (max_bytes), appended and synced
 *    before the write is acknowledged; writes that arrive together share one
 *    sync (group commit);
 *  - each app has a token bucket (rate, burst); a record it drops is
 *    counted, and a notice record "N records from app X dropped ..." is
 *    stored when the app next writes or after a second of quiet: drops are
 *    never silent;
 *  - the console lines about an app's drops come from a log budget per app
 *    (NOTICE_LOG_BURST, then one per NOTICE_LOG_EVERY_MS, lib/budget_int.h),
 *    the next line logged counting those left out, so no app can flood the
 *    console through us; the notice records are all stored;
 *  - a malformed request gets an error and changes nothing.
 *
 *  - an app reads only its own records, unless the readers setting lists it;
 *
 * Settings (manifest config:, see docs/packages/log_server.md): ring_size,
 * rate, burst, max_bytes, data_path, fsync, readers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <kos/log.h>
#include <kos/logsrv.h>
#include <kos/msg.h>

#include "bucket.h"
#include "budget_int.h"
#include "component_int.h"
#include "config_int.h"
#include "logsrv_int.h"
#include "ring.h"
#include "store.h"

#define BATCH_MAX       32u           /* writes answered per sync */
#define NOTICE_QUIET_NS 1000000000ull /* report drops after this much quiet */
/* Console lines about one app's drops: at most a burst of these, then one a
 * second (as msg_server's about an app), whatever the app writes. */
#define NOTICE_LOG_BURST    10u
#define NOTICE_LOG_EVERY_MS 1000u

struct app_state {
    char name[KOS__LOGREC_APP_MAX + 1];
    struct bucket bucket;
    uint64_t accepted, dropped, pending;
    uint64_t last_drop_ns;
    struct kos__budget log; /* the console lines about it */
};

struct pending_reply {
    struct kos_caller to;
    uint64_t seq;
};

struct log_server {
    kos_endpoint_t *ep;
    struct ring *ring;
    struct store store;
    bool persist;
    uint32_t rate, burst;
    uint64_t next_seq;
    struct app_state *apps;
    size_t n_apps, cap_apps;
    size_t batch_len;
    size_t n_replies;
    bool store_error_logged;
    bool notices_waiting; /* some app's drops are still to be reported */
    uint64_t ring_size;   /* records */
    const char *readers;  /* comma-separated apps that may read every app's records */
    struct pending_reply replies[BATCH_MAX];
    uint8_t batch[2 * BATCH_MAX * KOS__LOGSTORE_FRAME_MAX];
    uint8_t out[KOS_MSG_MAX_PAYLOAD];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The state of app `name`, created (with a full bucket) on first use; NULL
 * if out of memory. */
static struct app_state *app_get(struct log_server *s, const char *name, size_t len, bool create)
{
    for (size_t i = 0; i < s->n_apps; i++)
        if (strlen(s->apps[i].name) == len && !memcmp(s->apps[i].name, name, len))
            return &s->apps[i];
    if (!create || len > KOS__LOGREC_APP_MAX)
        return NULL;
    if (s->n_apps == s->cap_apps) {
        size_t cap = s->cap_apps ? 2 * s->cap_apps : 16;
        struct app_state *a = realloc(s->apps, cap * sizeof(*a));
        if (!a)
            return NULL;
        s->apps = a;
        s->cap_apps = cap;
    }
    struct app_state *a = &s->apps[s->n_apps++];
    memset(a, 0, sizeof(*a));
    memcpy(a->name, name, len);
    bucket_init(&a->bucket, s->burst, mono_ns());
    a->log = kos__budget_full(NOTICE_LOG_BURST, NOTICE_LOG_EVERY_MS, mono_ns() / 1000000u);
    return a;
}

/* Logs a warning about app a's drops within a's budget; the next line
 * logged says how many were left out. */
#define warn_app(a, ...)                                                                           \
    kos__budget_log(&(a)->log, NOTICE_LOG_BURST, NOTICE_LOG_EVERY_MS, (a)->name, KOS_LOG_WARN,     \
                    __VA_ARGS__)

static void flush(struct log_server *s);

/* Stores one record: next sequence number, the server's time, into the ring
 * and, when persisting, into the batch that the next flush writes (flushing
 * first if the batch is full). */
static kos_status_t emit(struct log_server *s, const char *app, uint8_t level, uint8_t flags,
                         const char *text, size_t text_len, uint64_t *seq)
{
    struct kos__logrec r = {
        .seq = s->next_seq,
        .time_ns = real_ns(),
        .level = level,
        .flags = flags,
        .app_len = (uint8_t)strlen(app),
        .text_len = (uint16_t)text_len,
        .app = app,
        .text = text,
    };
    kos_status_t st;

    if (s->persist && sizeof(s->batch) - s->batch_len < KOS__LOGSTORE_FRAME_MAX)
        flush(s);
    st = ring_push(s->ring, &r);
    if (st)
        return st;
    s->next_seq++;
    if (s->persist) {
        size_t n =
            kos__logstore_frame(&r, s->batch + s->batch_len, sizeof(s->batch) - s->batch_len);
        if (!n)
            return KOS_STATUS_INTERNAL;
        s->batch_len += n;
    }
    if (seq)
        *seq = r.seq;
    return KOS_STATUS_OK;
}

/* Stores the notice for app a's unreported drops. */
static kos_status_t emit_notice(struct log_server *s, struct app_state *a)
{
    char text[160];
    int n = snprintf(text, sizeof(text),
                     "%llu records from app %s dropped by the rate limit (rate %u/s, burst %u)",
                     (unsigned long long)a->pending, a->name, s->rate, s->burst);
    kos_status_t st = emit(s, a->name, KOS_LOG_WARN, KOS_LOGSRV_NOTICE, text, (size_t)n, NULL);

    if (st == KOS_STATUS_OK) {
        warn_app(a, "%s", text);
        a->pending = 0;
    }
    return st;
}

/* Writes the batch to the store (one sync) and answers the writes waiting
 * on it: OK once stored, IO if it could not be persisted. */
static void flush(struct log_server *s)
{
    kos_status_t st = KOS_STATUS_OK;

    if (s->persist && s->batch_len) {
        st = store_append(&s->store, s->batch, s->batch_len, s->ring);
        if (st && !s->store_error_logged) {
            kos_log_error("cannot persist records: %s (%s); keeping them in memory",
                          kos_status_str(st), strerror(errno));
            s->store_error_logged = true;
        } else if (!st) {
            s->store_error_logged = false;
        }
    }
    s->batch_len = 0;
    for (size_t i = 0; i < s->n_replies; i++) {
        struct kos_msg reply = {.param = s->replies[i].seq};
        kos__component_reply(s->ep, &s->replies[i].to, st ? KOS_STATUS_IO : KOS_STATUS_OK, &reply);
    }
    s->n_replies = 0;
}

/* KOS_LOGSRV_WRITE. Returns the status to reply with now, or OK with
 * *deferred set when the reply waits for the flush. */
static kos_status_t do_write(struct log_server *s, const struct kos_msg *m,
                             const struct kos_caller *from, bool *deferred)
{
    size_t app_len = from->app ? strlen(from->app) : 0;
    struct app_state *a;
    uint64_t now = mono_ns(), seq;
    kos_status_t st;

    if (m->len > KOS_LOGSRV_TEXT_MAX)
        return KOS_STATUS_TOO_LARGE;
    if (m->param > KOS_LOG_ERROR || m->token || (m->len && !m->payload) ||
        (m->len && memchr(m->payload, 0, m->len)))
        return KOS_STATUS_INVALID_ARGUMENT;
    if (app_len == 0 || app_len > KOS__LOGREC_APP_MAX)
        return KOS_STATUS_INTERNAL; /* the message server names every caller */
    a = app_get(s, from->app, app_len, true);
    if (!a)
        return KOS_STATUS_NO_MEMORY;
    if (!bucket_take(&a->bucket, s->rate, s->burst, now)) {
        if (a->pending == 0)
            warn_app(a, "rate limit: dropping records from app %s", a->name);
        a->dropped++;
        a->pending++;
        a->last_drop_ns = now;
        return KOS_STATUS_BUSY;
    }
    if (a->pending && (st = emit_notice(s, a)))
        return st;
    st = emit(s, a->name, (uint8_t)m->param, 0, m->payload, m->len, &seq);
    if (st)
        return st;
    a->accepted++;
    s->replies[s->n_replies].to = *from;
    s->replies[s->n_replies].seq = seq;
    s->n_replies++;
    *deferred = true;
    return KOS_STATUS_OK;
}

/* True if `from` may read the records of app name[0..len): its own, or any
 * app's when the readers setting lists it. */
static bool may_read(const struct log_server *s, const struct kos_caller *from, const char *name,
                     size_t len)
{
    size_t n = from->app ? strlen(from->app) : 0;
    const char *p = s->readers;

    if (n && len == n && !memcmp(name, from->app, n))
        return true;
    while (p && *p && n) {
        const char *end = strchr(p, ',');
        size_t k = end ? (size_t)(end - p) : strlen(p);
        if (k == n && !memcmp(p, from->app, n))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* KOS_LOGSRV_QUERY: one page of matching records. */
static kos_status_t do_query(struct log_server *s, const struct kos_msg *m,
                             const struct kos_caller *from, struct kos_msg *reply)
{
    struct kos__logq q;
    uint64_t cursor;
    int64_t since;
    uint32_t max_count, count = 0, flags = 0, i, n = ring_count(s->ring);
    uint8_t min_level, app_len;
    const char *app;
    size_t off = KOS__LOGQ_REPLY_HDR;

    if (m->token || kos__logq_decode(m->payload, m->len, &q))
        return KOS_STATUS_INVALID_ARGUMENT;
    cursor = q.cursor;
    since = q.since_ns;
    max_count = q.max_count;
    min_level = q.min_level;
    app_len = q.app_len;
    app = q.app;
    if (!may_read(s, from, app, app_len))
        return KOS_STATUS_UNAUTHORIZED;
    if (n && cursor < ring_at(s->ring, 0)->seq && ring_at(s->ring, 0)->seq > 1)
        flags |= KOS_LOGSRV_GAP;
    for (i = ring_find(s->ring, cursor); i < n; i++) {
        const struct kos__logrec *r = ring_at(s->ring, i);
        if (max_count && count == max_count)
            break;
        if (r->level < min_level || r->time_ns < since ||
            (app_len && (r->app_len != app_len || memcmp(r->app, app, app_len))))
            continue;
        size_t len = kos__logrec_encode(r, s->out + off, sizeof(s->out) - off);
        if (!len)
            break; /* page full */
        off += len;
        count++;
    }
    if (i < n)
        flags |= KOS_LOGSRV_MORE;
    kos__put_le64(s->out, i < n ? ring_at(s->ring, i)->seq
                                : (n ? ring_at(s->ring, n - 1)->seq + 1 : cursor));
    kos__put_le32(s->out + 8, count);
    kos__put_le32(s->out + 12, flags);
    reply->payload = s->out;
    reply->len = (uint32_t)off;
    return KOS_STATUS_OK;
}

/* KOS_LOGSRV_STATS: one app's counters. */
static kos_status_t do_stats(struct log_server *s, const struct kos_msg *m,
                             const struct kos_caller *from, struct kos_msg *reply)
{
    struct app_state *a;

    if (m->token || m->len < 1 || m->len > KOS__LOGREC_APP_MAX || !m->payload)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (!may_read(s, from, m->payload, m->len))
        return KOS_STATUS_UNAUTHORIZED;
    a = app_get(s, m->payload, m->len, false);
    kos__put_le64(s->out, a ? a->accepted : 0);
    kos__put_le64(s->out + 8, a ? a->dropped : 0);
    kos__put_le64(s->out + 16, a ? a->pending : 0);
    reply->payload = s->out;
    reply->len = 24;
    reply->param = ring_count(s->ring);
    return KOS_STATUS_OK;
}

static void handle(void *arg, kos_endpoint_t *ep, const struct kos_msg *m,
                   const struct kos_caller *from)
{
    struct log_server *s = arg;
    struct kos_msg reply = {0};
    bool deferred = false;
    kos_status_t st;

    switch (m->label) {
    case KOS_LOGSRV_WRITE:
        st = do_write(s, m, from, &deferred);
        break;
    case KOS_LOGSRV_QUERY:
        st = do_query(s, m, from, &reply);
        break;
    case KOS_LOGSRV_STATS:
        st = do_stats(s, m, from, &reply);
        break;
    default:
        st = KOS_STATUS_UNSUPPORTED;
    }
    if (m->token)
        kos_token_close(m->token);
    if (!deferred)
        kos__component_reply(ep, from, st, st ? NULL : &reply);
    if (s->n_replies == BATCH_MAX)
        flush(s);
}

/* Reports the drops of apps that have gone quiet. Returns true if some app
 * still has drops to report (so the caller keeps a timer running). */
static bool report_quiet_drops(struct log_server *s)
{
    uint64_t now = mono_ns();
    bool waiting = false;

    for (size_t i = 0; i < s->n_apps; i++) {
        struct app_state *a = &s->apps[i];
        if (!a->pending)
            continue;
        if (now - a->last_drop_ns >= NOTICE_QUIET_NS) {
            if (emit_notice(s, a) != KOS_STATUS_OK)
                waiting = true;
        } else {
            waiting = true;
        }
    }
    return waiting;
}

static void load_record(const struct kos__logrec *r, uint64_t offset, void *arg)
{
    struct log_server *s = arg;
    (void)offset;
    /* Out-of-order or duplicate sequence numbers are damage too: skip them. */
    if (ring_push(s->ring, r) == KOS_STATUS_OK && r->seq >= s->next_seq)
        s->next_seq = r->seq + 1;
}

/* Reads the settings; false (with the error logged) if one is invalid. */
static bool configure(struct log_server *s, kos_app_t *app, uint64_t *max_bytes, bool *sync,
                      const char **data_path)
{
    uint64_t rate, burst;

    if (kos__cfg_uint(app, "ring_size", 1024, 64, 1000000, &s->ring_size) ||
        kos__cfg_uint(app, "rate", 100, 0, BUCKET_MAX, &rate) ||
        kos__cfg_uint(app, "burst", 200, 1, BUCKET_MAX, &burst) ||
        kos__cfg_size(app, "max_bytes", 1024 * 1024, KOS_STORE_MIN_SIZE, UINT64_MAX, max_bytes) ||
        kos__cfg_bool(app, "fsync", true, sync))
        return false;
    s->readers = kos__cfg_str(app, "readers", NULL);
    s->rate = (uint32_t)rate;
    s->burst = (uint32_t)burst;
    *data_path = kos__cfg_str(app, "data_path", NULL);
    if (!*data_path) {
        struct stat st;
        if (stat("/data", &st) == 0 && S_ISDIR(st.st_mode))
            *data_path = "/data";
    }
    return true;
}

/* Opens the store and loads its records into the ring, rewriting it if it
 * was damaged. */
static bool open_store(struct log_server *s, const char *path, uint64_t max_bytes, bool sync)
{
    struct kos__logstore_report rep;
    char err[256];
    kos_status_t st;

    st = store_open(&s->store, path, max_bytes, sync, load_record, s, &rep, err, sizeof(err));
    if (st) {
        kos_log_error("%s", err);
        return false;
    }
    s->persist = true;
    if (!rep.header_ok || rep.bad_regions) {
        kos_log_warn("store %s/%s is damaged: %llu bytes in %llu region(s) from offset %llu "
                     "skipped%s%s; %llu valid records kept",
                     path, KOS_STORE_FILE, (unsigned long long)rep.bad_bytes,
                     (unsigned long long)rep.bad_regions, (unsigned long long)rep.first_bad,
                     rep.header_ok ? "" : ", bad header", rep.truncated ? ", truncated" : "",
                     (unsigned long long)rep.records);
    }
    if (!rep.header_ok || rep.bad_regions || s->store.size > max_bytes) {
        st = store_rewrite(&s->store, s->ring, max_bytes);
        if (st) {
            kos_log_error("cannot rewrite store %s/%s: %s", path, KOS_STORE_FILE,
                          kos_status_str(st));
            return false;
        }
    }
    kos_log_info("persisting to %s/%s (max_bytes %llu, fsync %s): loaded %u records, next "
                 "seq %llu",
                 path, KOS_STORE_FILE, (unsigned long long)max_bytes, sync ? "on" : "off",
                 ring_count(s->ring), (unsigned long long)s->next_seq);
    return true;
}

/* Reads the settings, makes the ring and loads the store. */
static kos_status_t start(void *arg, kos_app_t *app)
{
    struct log_server *s = arg;
    uint64_t max_bytes;
    const char *data_path;
    bool sync;

    s->store.fd = s->store.dir_fd = -1;
    s->next_seq = 1;
    if (!configure(s, app, &max_bytes, &sync, &data_path))
        return KOS_STATUS_INVALID_ARGUMENT;
    s->ring = ring_create((uint32_t)s->ring_size);
    if (!s->ring) {
        kos_log_error("no memory for a ring of %llu records", (unsigned long long)s->ring_size);
        return KOS_STATUS_NO_MEMORY;
    }
    if (!data_path) {
        kos_log_warn("no data directory (no /data and no data_path setting): keeping records "
                     "in memory only; they will not survive a restart");
    } else if (!open_store(s, data_path, max_bytes, sync)) {
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

static void published(void *arg, kos_endpoint_t *ep)
{
    struct log_server *s = arg;

    s->ep = ep;
}

static void describe(void *arg, char *buf, size_t len)
{
    struct log_server *s = arg;

    snprintf(buf, len, "ring %llu records, rate %u/s, burst %u", (unsigned long long)s->ring_size,
             s->rate, s->burst);
}

/* Nothing more waiting: report quiet drops, then sync and answer. */
static void flush_all(void *arg)
{
    struct log_server *s = arg;

    s->notices_waiting = report_quiet_drops(s);
    flush(s);
}

/* While drops wait to be reported, the server wakes up to report them. */
static size_t wait(void *arg, struct pollfd *pfds, size_t room, int *timeout_ms)
{
    struct log_server *s = arg;

    (void)pfds;
    (void)room;
    if (s->notices_waiting)
        *timeout_ms = 250;
    return 0;
}

static void fini(void *arg)
{
    struct log_server *s = arg;

    store_close(&s->store);
    ring_destroy(s->ring);
    free(s->apps);
}

int main(void)
{
    static const struct kos__component log_server = {
        .protocol = KOS_LOG_PROTOCOL,
        .start = start,
        .published = published,
        .describe = describe,
        .serve = {.request = handle, .flush = flush_all, .wait = wait},
        .fini = fini,
    };
    static struct log_server s; /* static: the batch buffers are large */

    return kos__component_main(&log_server, &s);
}
