/*
 * logq.c - the records on their way to the server: a ring of copies,
 * bounded in bytes, oldest out first and counted, packed into LogBatches
 * (proto/logs.proto) that fit one tunnel send. See admin.h for what stays
 * true of it.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "logs.pb-c.h"
#include "text_int.h"

/* What a record costs the queue. */
static size_t cost(const struct admin_record *r)
{
    return r->len + strlen(r->app) + ADMIN_RECORD_OVERHEAD;
}

bool admin_logq_init(struct admin_logq *q, size_t max_bytes)
{
    memset(q, 0, sizeof(*q));
    q->max_bytes = max_bytes;
    q->cap = max_bytes / ADMIN_RECORD_OVERHEAD + 1; /* each costs at least that */
    q->r = calloc(q->cap, sizeof(*q->r));
    return q->r != NULL;
}

void admin_logq_fini(struct admin_logq *q)
{
    for (size_t i = 0; q->r && i < q->n; i++)
        free(q->r[(q->head + i) % q->cap]);
    free(q->r);
    memset(q, 0, sizeof(*q));
}

static struct admin_record *at(const struct admin_logq *q, size_t i)
{
    return q->r[(q->head + i) % q->cap];
}

/* Takes the oldest record off the queue. */
static void pop(struct admin_logq *q)
{
    struct admin_record *r = q->r[q->head];

    assert(q->n > 0);
    q->bytes -= cost(r);
    free(r);
    q->r[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->n--;
}

void admin_logq_lost(struct admin_logq *q, uint64_t n)
{
    q->dropped += n;
    q->dropped_total += n;
}

/* Queues one piece (at most ADMIN_LOG_PIECE bytes of valid UTF-8). */
static void push_piece(struct admin_logq *q, int64_t time_ns, const char *app, uint32_t level,
                       bool console, uint64_t src_seq, const char *text, size_t len)
{
    size_t app_len = strnlen(app, KOS__NAME_MAX - 1);
    size_t need = len + app_len + ADMIN_RECORD_OVERHEAD;
    struct admin_record *r;

    if (need > q->max_bytes) {
        admin_logq_lost(q, 1);
        return;
    }
    while (q->n > 0 && (q->n == q->cap || q->bytes + need > q->max_bytes)) {
        pop(q);
        admin_logq_lost(q, 1);
    }
    r = malloc(sizeof(*r) + len + 1);
    if (!r) {
        admin_logq_lost(q, 1);
        return;
    }
    r->time_ns = time_ns;
    r->level = level;
    r->console = console;
    r->src_seq = src_seq;
    memcpy(r->app, app, app_len);
    r->app[app_len] = '\0';
    r->len = len;
    memcpy(r->text, text, len);
    r->text[len] = '\0';
    q->r[(q->head + q->n) % q->cap] = r;
    q->n++;
    q->bytes += cost(r);
}

void admin_logq_push(struct admin_logq *q, int64_t time_ns, const char *app, uint32_t level,
                     bool console, uint64_t src_seq, const char *text, size_t len, bool escaped)
{
    char piece[ADMIN_LOG_PIECE];

    while (len > 0 || (len == 0 && text)) {
        size_t n, used;
        if (escaped) {
            /* Already valid UTF-8: cut between characters. */
            n = len <= sizeof(piece) ? len : kos__text_boundary(text, sizeof(piece));
            if (n == 0)
                n = len < sizeof(piece) ? len : sizeof(piece); /* nothing whole: cut anyway */
            memcpy(piece, text, n);
            used = n;
        } else {
            n = kos__text_escape(piece, sizeof(piece), text, len, &used);
            if (used == 0 && len > 0) /* cannot happen: an escape is at most 6 bytes */
                used = 1;
        }
        push_piece(q, time_ns, app, level, console, src_seq, piece, n);
        text += used;
        len -= used;
        if (len == 0)
            break;
    }
}

/* The bytes a varint takes. */
static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t admin_logq_batch(struct admin_logq *q, uint64_t first_seq, uint8_t *buf, size_t cap,
                        size_t *n_records)
{
    Kos__Logs__LogBatch batch = KOS__LOGS__LOG_BATCH__INIT;
    Kos__Logs__LogRecord *recs, **ptrs;
    size_t n = 0, size, len = 0;

    *n_records = 0;
    if (q->n == 0)
        return 0;
    recs = calloc(q->n, sizeof(*recs));
    ptrs = calloc(q->n, sizeof(*ptrs));
    if (!recs || !ptrs)
        goto out;
    batch.dropped = q->dropped;
    batch.records = ptrs;
    size = batch.dropped ? 1 + varint_len(batch.dropped) : 0;
    for (size_t i = 0; i < q->n; i++) {
        struct admin_record *r = at(q, i);
        Kos__Logs__LogRecord *lr = &recs[i];
        kos__logs__log_record__init(lr);
        lr->seq = first_seq + i;
        lr->time_ns = r->time_ns;
        lr->app = r->app;
        lr->level = r->level;
        lr->text = r->text;
        lr->console = r->console;
        size_t one = kos__logs__log_record__get_packed_size(lr);
        one += 1 + varint_len(one); /* the field's tag and length */
        if (size + one > cap)
            break;
        size += one;
        ptrs[n++] = lr;
    }
    if (n == 0)
        goto out;
    batch.n_records = n;
    len = kos__logs__log_batch__pack(&batch, buf);
    assert(len == size);
    *n_records = n;
out:
    free(recs);
    free(ptrs);
    return len;
}

void admin_logq_sent(struct admin_logq *q, size_t n)
{
    assert(n <= q->n);
    for (size_t i = 0; i < n; i++)
        pop(q);
    q->dropped = 0;
}

uint64_t admin_logq_oldest_src(const struct admin_logq *q)
{
    for (size_t i = 0; i < q->n; i++)
        if (at(q, i)->src_seq)
            return at(q, i)->src_seq;
    return 0;
}

uint64_t admin_logq_unpull(struct admin_logq *q)
{
    uint64_t oldest = admin_logq_oldest_src(q);
    size_t kept = 0, n = q->n;

    if (!oldest)
        return 0;
    /* Compact the ring in place, keeping the console lines in order. */
    for (size_t i = 0; i < n; i++) {
        struct admin_record *r = at(q, i);
        q->r[(q->head + i) % q->cap] = NULL;
        if (r->src_seq) {
            q->bytes -= cost(r);
            free(r);
        } else {
            q->r[(q->head + kept++) % q->cap] = r;
        }
    }
    q->n = kept;
    return oldest;
}
