/*
 * logsrv_int.h - the encodings behind kos_log_protocol, shared by the
 * client (lib/logsrv.c), the log_server component and kos-tool: one record
 * encoding used both on the wire and in the store file, the query request
 * and reply headers, and the store file's framing.
 *
 * Store file: an 8-byte header KOS__LOGSTORE_MAGIC, then frames, each
 * u32 KOS__LOGSTORE_FRAME_MAGIC, u32 body length, u32 CRC-32 of the body,
 * then the body (one encoded record). All integers little-endian. A reader
 * that meets a frame that does not check out skips forward to the next
 * frame magic whose frame does, so damage loses only the damaged records.
 *
 * Everything here is pure: it reads and writes the caller's buffers, never
 * allocates and never blocks.
 */
#ifndef KOS_LOGSRV_INT_H
#define KOS_LOGSRV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/logsrv.h>

#include "le_int.h"

#define KOS__LOGREC_HDR           24u
#define KOS__LOGREC_APP_MAX       63u
#define KOS__LOGREC_MAX           (KOS__LOGREC_HDR + KOS__LOGREC_APP_MAX + KOS_LOGSRV_TEXT_MAX)
#define KOS__LOGQ_HDR             24u /* query request header */
#define KOS__LOGQ_REPLY_HDR       16u /* query reply header */
#define KOS__LOGSTORE_MAGIC       "KOSLOG1\n"
#define KOS__LOGSTORE_HDR         8u
#define KOS__LOGSTORE_FRAME_MAGIC 0x3152474cu /* "LGR1" */
#define KOS__LOGSTORE_FRAME_HDR   12u
#define KOS__LOGSTORE_FRAME_MAX   (KOS__LOGSTORE_FRAME_HDR + KOS__LOGREC_MAX)

/* A record; app and text point at app_len and text_len bytes (not
 * NUL-terminated) owned by whoever filled it in. */
struct kos__logrec {
    uint64_t seq;
    int64_t time_ns;
    uint8_t level;
    uint8_t flags;
    uint8_t app_len;
    uint16_t text_len;
    const char *app;
    const char *text;
};

/* The encoded size of r. */
size_t kos__logrec_size(const struct kos__logrec *r);

/* Encodes r into out[0..cap); returns the bytes written, or 0 if it does not
 * fit or r is not valid (see kos__logrec_valid). */
size_t kos__logrec_encode(const struct kos__logrec *r, uint8_t *out, size_t cap);

/* True if r could have been stored: level a kos_log_level, app a valid name
 * of 1..63 bytes, text at most KOS_LOGSRV_TEXT_MAX bytes without NUL, only
 * known flags. */
bool kos__logrec_valid(const struct kos__logrec *r);

/* Decodes one record from p[0..len); on success *used is its size and r
 * points into p. KOS_STATUS_PROTOCOL if it is truncated or invalid. */
kos_status_t kos__logrec_decode(const uint8_t *p, size_t len, struct kos__logrec *r, size_t *used);

/* Writes r as one console-style line: "<UTC time> <app>: <level>: <text>\n"
 * with newline, tab and backslash in the text written \n, \t and \\, and
 * the rest escaped as on the console (kos__text_escape, text_int.h: \xNN,
 * \uNNNN), so each record is exactly one line that cannot drive a terminal.
 * Returns the length written (cut to cap-1 before a whole character or
 * escape, always NUL-terminated when cap > 0). */
size_t kos__logrec_format(const struct kos__logrec *r, char *out, size_t cap);

/* A query request (KOS_LOGSRV_QUERY's payload): u64 cursor, i64 since_ns,
 * u32 max_count, u8 min_level, u8 app_len, u16 0, then app_len bytes of app
 * name (none: every app the caller may read). `app` points at app_len bytes
 * (not NUL-terminated) owned by whoever filled it in. */
struct kos__logq {
    uint64_t cursor;
    int64_t since_ns;
    uint32_t max_count;
    uint8_t min_level;
    uint8_t app_len;
    const char *app;
};

/* Encodes q into out[0..cap); returns the bytes written, or 0 if it does not
 * fit or q is not valid (min_level above KOS_LOG_ERROR, app_len over
 * KOS__LOGREC_APP_MAX, or app NULL with app_len set). */
size_t kos__logq_encode(const struct kos__logq *q, uint8_t *out, size_t cap);

/* Decodes an untrusted query request from p[0..len) into *q, which then
 * points into p. KOS_STATUS_INVALID_ARGUMENT if it is short, long, has a
 * nonzero reserved field, a level above KOS_LOG_ERROR or an app name longer
 * than KOS__LOGREC_APP_MAX. */
kos_status_t kos__logq_decode(const uint8_t *p, size_t len, struct kos__logq *q)
    __attribute__((warn_unused_result));

/* The name of a level: "debug", "info", "warn", "error". */
const char *kos__log_level_name(unsigned level);

/* CRC-32 (IEEE 802.3, as zlib's crc32()) of buf[0..len). */
uint32_t kos__crc32(const void *buf, size_t len);

/* Frames r for the store file into out[0..cap); returns the bytes written
 * or 0 if it does not fit or r is not valid. */
size_t kos__logstore_frame(const struct kos__logrec *r, uint8_t *out, size_t cap);

/* What a scan of a store file found. */
struct kos__logstore_report {
    uint64_t records;     /* valid records */
    uint64_t bad_regions; /* runs of bytes that were not valid frames */
    uint64_t bad_bytes;   /* bytes in those runs */
    uint64_t first_bad;   /* offset of the first such run */
    bool header_ok;       /* the file starts with KOS__LOGSTORE_MAGIC */
    bool truncated;       /* the file ends inside a frame */
};

typedef void kos__logstore_fn(const struct kos__logrec *r, uint64_t offset, void *arg);

/* Scans a whole store file held in buf[0..len), calling fn for each valid
 * record in file order, and fills *rep. A damaged region is skipped and
 * counted; the valid records around it are still delivered. Returns
 * KOS_STATUS_OK if the file is entirely valid, KOS_STATUS_PROTOCOL if
 * anything was skipped (an empty buffer is a valid, empty store). */
kos_status_t kos__logstore_scan(const uint8_t *buf, size_t len, kos__logstore_fn *fn, void *arg,
                                struct kos__logstore_report *rep);

#endif
