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

#include "client_int.h"
#include "logsrv_int.h"
#include "text_int.h"

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
    /* The text ends by cap - 2, leaving room for the newline and the NUL.
     * Newline, tab and backslash are written as \n, \t and \\, so a record
     * reads back unambiguously; the runs between them are escaped as Core
     * escapes console text (they are ASCII, so no character spans them). */
    size_t end = cap >= 2 ? cap - 2 : 0, i = 0;
    while (i < r->text_len && n < end) {
        const char *t = r->text + i;
        size_t run = 0, used;
        while (i + run < r->text_len && t[run] != '\n' && t[run] != '\t' && t[run] != '\\')
            run++;
        if (run) {
            n += kos__text_escape(out + n, end - n, t, run, &used);
            i += used;
            if (used < run)
                break; /* out of room */
            continue;
        }
        if (end - n < 2)
            break;
        out[n++] = '\\';
        out[n++] = *t == '\n' ? 'n' : *t == '\t' ? 't' : '\\';
        i++;
    }
    if (n + 1 < cap)
        out[n++] = '\n';
    out[n] = 0;
    return n;
}

/* ---- store framing ---- */

/* CRC-32 (IEEE 802.3, reflected polynomial 0xedb88320), one table lookup
 * per byte: entry i is the CRC of byte i shifted through eight rounds. */
static const uint32_t crc32_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
    0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
    0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
    0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
    0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
    0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
    0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
    0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
    0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
    0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
    0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
    0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
    0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
    0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
    0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
    0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
    0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
    0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
    0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
    0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
    0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
    0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
    0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
    0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
    0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t kos__crc32(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++)
        crc = crc32_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
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
        /* Resynchronise: the next frame can only start at its magic. */
        const uint8_t *next =
            memchr(buf + off + 1, KOS__LOGSTORE_FRAME_MAGIC & 0xffu, len - off - 1);
        off = next ? (size_t)(next - buf) : len;
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
    struct kos__client c; /* first: see client_int.h */
};

kos_status_t kos_logsrv_open(kos_dir_t *dir, int timeout_ms, kos_logsrv_t **out)
{
    return kos__client_open(dir, KOS_LOG_PROTOCOL, timeout_ms, sizeof(struct kos_logsrv), out);
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
    st = kos__client_call(&ls->c, &req, &reply);
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
    st = kos__client_call(&ls->c, &req, &reply);
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
    st = kos__client_call(&ls->c, &req, &reply);
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
    return ls->c.token;
}

void kos_logsrv_close(kos_logsrv_t *ls)
{
    kos__client_close(ls, sizeof(*ls));
}
