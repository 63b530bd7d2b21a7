/*
 * logsrv.c - kos_log_protocol: the record, query and store encodings
 * (logsrv_int.h) and the client side of the protocol (kos/logsrv.h).
 *
 * Decoders treat their input as hostile: every length is checked against
 * the bytes actually present before anything is read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logsrv_int.h"

/* ---- records ---- */

static bool name_ok(const char *s, size_t n)
{
    if (n < 1 || n > KOS__LOGREC_APP_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

bool kos__logrec_valid(const struct kos__logrec *r)
{
    return r->level <= KOS_LOG_ERROR && (r->flags & ~KOS_LOGSRV_NOTICE) == 0 && r->app &&
           name_ok(r->app, r->app_len) && r->text_len <= KOS_LOGSRV_TEXT_MAX &&
           (r->text_len == 0 || (r->text && !memchr(r->text, 0, r->text_len)));
}

size_t kos__logrec_size(const struct kos__logrec *r)
{
    return KOS__LOGREC_HDR + r->app_len + r->text_len;
}

size_t kos__logrec_encode(const struct kos__logrec *r, uint8_t *out, size_t cap)
{
    size_t n = kos__logrec_size(r);

    if (!kos__logrec_valid(r) || n > cap)
        return 0;
    kos__put_le64(out, r->seq);
    kos__put_le64(out + 8, (uint64_t)r->time_ns);
    out[16] = r->level;
    out[17] = r->flags;
    out[18] = r->app_len;
    out[19] = 0;
    kos__put_le16(out + 20, r->text_len);
    kos__put_le16(out + 22, 0);
    memcpy(out + KOS__LOGREC_HDR, r->app, r->app_len);
    if (r->text_len)
        memcpy(out + KOS__LOGREC_HDR + r->app_len, r->text, r->text_len);
    return n;
}

kos_status_t kos__logrec_decode(const uint8_t *p, size_t len, struct kos__logrec *r, size_t *used)
{
    struct kos__logrec d;

    if (len < KOS__LOGREC_HDR || p[19] != 0 || kos__get_le16(p + 22) != 0)
        return KOS_STATUS_PROTOCOL;
    d.seq = kos__get_le64(p);
    d.time_ns = (int64_t)kos__get_le64(p + 8);
    d.level = p[16];
    d.flags = p[17];
    d.app_len = p[18];
    d.text_len = kos__get_le16(p + 20);
    if (len - KOS__LOGREC_HDR < (size_t)d.app_len + d.text_len)
        return KOS_STATUS_PROTOCOL;
    d.app = (const char *)p + KOS__LOGREC_HDR;
    d.text = d.app + d.app_len;
    if (!kos__logrec_valid(&d))
        return KOS_STATUS_PROTOCOL;
    *r = d;
    *used = kos__logrec_size(&d);
    return KOS_STATUS_OK;
}

/* ---- query requests ---- */

size_t kos__logq_encode(const struct kos__logq *q, uint8_t *out, size_t cap)
{
    size_t n = KOS__LOGQ_HDR + q->app_len;

    if (q->min_level > KOS_LOG_ERROR || q->app_len > KOS__LOGREC_APP_MAX ||
        (q->app_len && !q->app) || n > cap)
        return 0;
    kos__put_le64(out, q->cursor);
    kos__put_le64(out + 8, (uint64_t)q->since_ns);
    kos__put_le32(out + 16, q->max_count);
    out[20] = q->min_level;
    out[21] = q->app_len;
    kos__put_le16(out + 22, 0);
    if (q->app_len)
        memcpy(out + KOS__LOGQ_HDR, q->app, q->app_len);
    return n;
}

kos_status_t kos__logq_decode(const uint8_t *p, size_t len, struct kos__logq *q)
{
    struct kos__logq d;

    if (!p || len < KOS__LOGQ_HDR)
        return KOS_STATUS_INVALID_ARGUMENT;
    d.cursor = kos__get_le64(p);
    d.since_ns = (int64_t)kos__get_le64(p + 8);
    d.max_count = kos__get_le32(p + 16);
    d.min_level = p[20];
    d.app_len = p[21];
    d.app = (const char *)p + KOS__LOGQ_HDR;
    if (kos__get_le16(p + 22) != 0 || d.min_level > KOS_LOG_ERROR ||
        d.app_len > KOS__LOGREC_APP_MAX || len != KOS__LOGQ_HDR + (size_t)d.app_len)
        return KOS_STATUS_INVALID_ARGUMENT;
    *q = d;
    return KOS_STATUS_OK;
}

const char *kos__log_level_name(unsigned level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    return level < 4 ? names[level] : "?";
}

size_t kos__logrec_format(const struct kos__logrec *r, char *out, size_t cap)
{
    time_t secs = (time_t)(r->time_ns >= 0 ? r->time_ns / 1000000000 : 0);
    long usec = (long)(r->time_ns >= 0 ? r->time_ns % 1000000000 / 1000 : 0);
    struct tm tm;
    char ts[32];
    size_t n = 0;
    int k;

    if (cap == 0)
        return 0;
    gmtime_r(&secs, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(out, cap, "%s.%06ldZ %.*s: %s: ", ts, usec, (int)r->app_len, r->app,
                 kos__log_level_name(r->level));
    if (k < 0)
        return (out[0] = 0);
    n = (size_t)k < cap ? (size_t)k : cap - 1;
    for (size_t i = 0; i < r->text_len && n + 5 < cap; i++) {
        unsigned char c = (unsigned char)r->text[i];
        if (c == '\n' || c == '\t' || c == '\\') {
            out[n++] = '\\';
            out[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
        } else if (c < 0x20 || c == 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    if (n + 1 < cap)
        out[n++] = '\n';
    out[n] = 0;
    return n;
}

/* ---- store framing ---- */

uint32_t kos__crc32(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

size_t kos__logstore_frame(const struct kos__logrec *r, uint8_t *out, size_t cap)
{
    size_t n;

    if (cap < KOS__LOGSTORE_FRAME_HDR)
        return 0;
    n = kos__logrec_encode(r, out + KOS__LOGSTORE_FRAME_HDR, cap - KOS__LOGSTORE_FRAME_HDR);
    if (!n)
        return 0;
    kos__put_le32(out, KOS__LOGSTORE_FRAME_MAGIC);
    kos__put_le32(out + 4, (uint32_t)n);
    kos__put_le32(out + 8, kos__crc32(out + KOS__LOGSTORE_FRAME_HDR, n));
    return KOS__LOGSTORE_FRAME_HDR + n;
}

/* Checks the frame at buf[off..len): on success fills *r and returns its
 * length, else 0. *partial is set when the frame looks intact so far but
 * runs past the end of the buffer. */
static size_t frame_at(const uint8_t *buf, size_t len, size_t off, struct kos__logrec *r,
                       bool *partial)
{
    size_t body, used;

    *partial = false;
    if (len - off < KOS__LOGSTORE_FRAME_HDR) {
        *partial = true;
        return 0;
    }
    if (kos__get_le32(buf + off) != KOS__LOGSTORE_FRAME_MAGIC)
        return 0;
    body = kos__get_le32(buf + off + 4);
    if (body < KOS__LOGREC_HDR || body > KOS__LOGREC_MAX)
        return 0;
    if (len - off - KOS__LOGSTORE_FRAME_HDR < body) {
        *partial = true;
        return 0;
    }
    if (kos__crc32(buf + off + KOS__LOGSTORE_FRAME_HDR, body) != kos__get_le32(buf + off + 8))
        return 0;
    if (kos__logrec_decode(buf + off + KOS__LOGSTORE_FRAME_HDR, body, r, &used) || used != body)
        return 0;
    return KOS__LOGSTORE_FRAME_HDR + body;
}

kos_status_t kos__logstore_scan(const uint8_t *buf, size_t len, kos__logstore_fn *fn, void *arg,
                                struct kos__logstore_report *rep)
{
    size_t off = KOS__LOGSTORE_HDR, bad_start = 0;
    bool in_bad = false;

    memset(rep, 0, sizeof(*rep));
    if (len == 0) {
        rep->header_ok = true;
        return KOS_STATUS_OK;
    }
    rep->header_ok =
        len >= KOS__LOGSTORE_HDR && !memcmp(buf, KOS__LOGSTORE_MAGIC, KOS__LOGSTORE_HDR);
    if (!rep->header_ok) {
        /* Not our file, or its head is damaged: look for frames anyway. */
        off = 0;
        in_bad = true;
        bad_start = 0;
    }
    while (off < len) {
        struct kos__logrec r;
        bool partial;
        size_t n = frame_at(buf, len, off, &r, &partial);
        if (n) {
            if (in_bad) {
                rep->bad_regions++;
                rep->bad_bytes += off - bad_start;
                if (rep->bad_regions == 1)
                    rep->first_bad = bad_start;
                in_bad = false;
            }
            rep->records++;
            if (fn)
                fn(&r, off, arg);
            off += n;
            continue;
        }
        if (!in_bad) {
            in_bad = true;
            bad_start = off;
            if (partial)
                rep->truncated = true;
        }
        off++;
    }
    if (in_bad) {
        rep->bad_regions++;
        rep->bad_bytes += len - bad_start;
        if (rep->bad_regions == 1)
            rep->first_bad = bad_start;
    }
    /* A frame cut short is "truncated" only if nothing valid followed it. */
    if (rep->truncated && !in_bad)
        rep->truncated = false;
    return rep->bad_regions || !rep->header_ok ? KOS_STATUS_PROTOCOL : KOS_STATUS_OK;
}

/* ---- client ---- */

struct kos_logsrv {
    kos_token_t *token;
    int timeout_ms;
};

kos_status_t kos_logsrv_open(kos_dir_t *dir, int timeout_ms, kos_logsrv_t **out)
{
    struct kos_logsrv *ls;
    kos_status_t st;

    if (!dir || !out)
        return KOS_STATUS_INVALID_ARGUMENT;
    ls = calloc(1, sizeof(*ls));
    if (!ls)
        return KOS_STATUS_NO_MEMORY;
    st = kos_dir_request(dir, KOS_LOG_PROTOCOL, timeout_ms, &ls->token);
    if (st) {
        free(ls);
        return st;
    }
    ls->timeout_ms = timeout_ms;
    *out = ls;
    return KOS_STATUS_OK;
}

static kos_status_t write_n(kos_logsrv_t *ls, enum kos_log_level level, const char *text,
                            size_t len, uint64_t *seq)
{
    struct kos_msg req = {
        .label = KOS_LOGSRV_WRITE, .param = (uint64_t)level, .payload = text, .len = (uint32_t)len};
    struct kos_msg reply;
    kos_status_t st;

    if (len > KOS_LOGSRV_TEXT_MAX)
        return KOS_STATUS_TOO_LARGE;
    st = kos_msg_call(ls->token, &req, &reply, ls->timeout_ms);
    if (st == KOS_STATUS_OK && seq)
        *seq = reply.param;
    return st;
}

kos_status_t kos_logsrv_write(kos_logsrv_t *ls, enum kos_log_level level, const char *text,
                              uint64_t *seq)
{
    if (!ls || !text)
        return KOS_STATUS_INVALID_ARGUMENT;
    return write_n(ls, level, text, strlen(text), seq);
}

kos_status_t kos_logsrv_printf(kos_logsrv_t *ls, enum kos_log_level level, const char *fmt, ...)
{
    char text[KOS_LOGSRV_TEXT_MAX + 1];
    va_list ap;
    int n;

    if (!ls || !fmt)
        return KOS_STATUS_INVALID_ARGUMENT;
    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return KOS_STATUS_INVALID_ARGUMENT;
    return write_n(ls, level, text, strlen(text), NULL);
}

kos_status_t kos_logsrv_query(kos_logsrv_t *ls, struct kos_logsrv_query *q,
                              kos_logsrv_record_fn *fn, void *arg, bool *more, bool *gap)
{
    uint8_t req_buf[KOS__LOGQ_HDR + KOS__LOGREC_APP_MAX];
    struct kos_logsrv_record *out;
    size_t app_len = q && q->app ? strlen(q->app) : 0, req_len;
    struct kos_msg req, reply;
    const uint8_t *p;
    uint32_t count, flags;
    size_t off;
    kos_status_t st;

    if (!ls || !q || app_len > KOS__LOGREC_APP_MAX || (unsigned)q->min_level > KOS_LOG_ERROR)
        return KOS_STATUS_INVALID_ARGUMENT;
    req_len = kos__logq_encode(&(struct kos__logq){.cursor = q->cursor,
                                                   .since_ns = q->since_ns,
                                                   .max_count = q->max_count,
                                                   .min_level = (uint8_t)q->min_level,
                                                   .app_len = (uint8_t)app_len,
                                                   .app = q->app},
                               req_buf, sizeof(req_buf));
    if (!req_len)
        return KOS_STATUS_INVALID_ARGUMENT;
    req = (struct kos_msg){.label = KOS_LOGSRV_QUERY, .payload = req_buf, .len = (uint32_t)req_len};
    st = kos_msg_call(ls->token, &req, &reply, ls->timeout_ms);
    if (st)
        return st;
    p = reply.payload;
    if (reply.len < KOS__LOGQ_REPLY_HDR || !p)
        return KOS_STATUS_PROTOCOL;
    count = kos__get_le32(p + 8);
    flags = kos__get_le32(p + 12);
    out = malloc(sizeof(*out));
    if (!out)
        return KOS_STATUS_NO_MEMORY;
    off = KOS__LOGQ_REPLY_HDR;
    for (uint32_t i = 0; i < count; i++) {
        struct kos__logrec r;
        size_t used;
        if (kos__logrec_decode(p + off, reply.len - off, &r, &used)) {
            free(out);
            return KOS_STATUS_PROTOCOL;
        }
        off += used;
        out->seq = r.seq;
        out->time_ns = r.time_ns;
        out->level = (enum kos_log_level)r.level;
        out->flags = r.flags;
        memcpy(out->app, r.app, r.app_len);
        out->app[r.app_len] = 0;
        memcpy(out->text, r.text, r.text_len);
        out->text[r.text_len] = 0;
        out->text_len = r.text_len;
        if (fn)
            fn(out, arg);
    }
    free(out);
    q->cursor = kos__get_le64(p);
    if (more)
        *more = flags & KOS_LOGSRV_MORE;
    if (gap)
        *gap = flags & KOS_LOGSRV_GAP;
    return KOS_STATUS_OK;
}

kos_status_t kos_logsrv_app_stats(kos_logsrv_t *ls, const char *app,
                                  struct kos_logsrv_app_stats *out)
{
    struct kos_msg req, reply;
    kos_status_t st;

    if (!ls || !app || !out || !name_ok(app, strlen(app)))
        return KOS_STATUS_INVALID_ARGUMENT;
    req = (struct kos_msg){.label = KOS_LOGSRV_STATS, .payload = app, .len = (uint32_t)strlen(app)};
    st = kos_msg_call(ls->token, &req, &reply, ls->timeout_ms);
    if (st)
        return st;
    if (reply.len != 24 || !reply.payload)
        return KOS_STATUS_PROTOCOL;
    out->accepted = kos__get_le64(reply.payload);
    out->dropped = kos__get_le64((const uint8_t *)reply.payload + 8);
    out->pending = kos__get_le64((const uint8_t *)reply.payload + 16);
    out->ring = reply.param;
    return KOS_STATUS_OK;
}

kos_token_t *kos_logsrv_token(kos_logsrv_t *ls)
{
    return ls->token;
}

void kos_logsrv_close(kos_logsrv_t *ls)
{
    if (!ls)
        return;
    kos_token_close(ls->token);
    free(ls);
}
