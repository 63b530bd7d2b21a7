/*
 * logsrv.h - structured logging through the log_server component
 * (kos_log_protocol).
 *
 * log_server keeps records (sequence number, time, app, level, text) in a
 * bounded ring, persists them to its data directory when it has one, limits
 * each app's rate so a noisy app cannot drown the others, and answers
 * queries. The app of a record is the caller's identity as the message
 * server vouches for it, and its time is the server's clock when the record
 * arrived; neither comes from the client.
 *
 * This is separate from log.h's kos_log(), which writes console lines.
 *
 * The protocol, for servers and for clients that do not use this API (all
 * integers little-endian):
 *
 *   KOS_LOGSRV_WRITE  param: level (enum kos_log_level); payload: the text,
 *                     0..KOS_LOGSRV_TEXT_MAX bytes, no NUL. Reply:
 *                     OK with param = the record's sequence number once it
 *                     is stored (and synced, when the server persists);
 *                     BUSY when the app's rate limit dropped it (counted and
 *                     reported in a notice record); IO when it is kept in
 *                     memory but could not be persisted.
 *   KOS_LOGSRV_QUERY  payload: u64 cursor (first sequence number wanted),
 *                     i64 since_ns (0: any), u32 max_count (0: as many as
 *                     fit), u8 min_level, u8 app_len (0: any app), u16 0,
 *                     then app_len bytes of app name. Reply payload: u64
 *                     next cursor, u32 count, u32 flags (KOS_LOGSRV_MORE,
 *                     KOS_LOGSRV_GAP), then `count` records, each: u64 seq,
 *                     i64 time_ns, u8 level, u8 flags (KOS_LOGSRV_NOTICE),
 *                     u8 app_len, u8 0, u16 text_len, u16 0, app,
 *                     text.
 *   KOS_LOGSRV_STATS  payload: an app name (1..63 bytes). Reply payload:
 *                     u64 accepted, u64 dropped (by the rate limit, all
 *                     time since the server started), u64 dropped not yet
 *                     reported by a notice record; param: records in the ring.
 *
 * A malformed request gets KOS_STATUS_INVALID_ARGUMENT (TOO_LARGE for text
 * over the limit, UNSUPPORTED for an unknown label) and changes nothing.
 *
 * A kos_logsrv_t is not thread-safe: use it from one thread at a time.
 */
#ifndef KOS_LOGSRV_H
#define KOS_LOGSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KOS_LOG_PROTOCOL    "kos_log_protocol"
#define KOS_LOGSRV_TEXT_MAX 1024u

enum {
    KOS_LOGSRV_WRITE = 1,
    KOS_LOGSRV_QUERY = 2,
    KOS_LOGSRV_STATS = 3,
};

/* Record flags. */
#define KOS_LOGSRV_NOTICE 0x1u /* inserted by the server ("N records ... dropped") */
/* Query reply flags. */
#define KOS_LOGSRV_MORE 0x1u /* records past the next cursor may match: ask again */
#define KOS_LOGSRV_GAP  0x2u /* records before the cursor's position were evicted */

/* A record as a query returns it. Strings are NUL-terminated copies. */
struct kos_logsrv_record {
    uint64_t seq;    /* increases by one per record the server stores */
    int64_t time_ns; /* server's CLOCK_REALTIME when it arrived, ns since 1970 */
    enum kos_log_level level;
    uint32_t flags; /* KOS_LOGSRV_NOTICE */
    char app[64];
    size_t text_len;
    char text[KOS_LOGSRV_TEXT_MAX + 1];
};

/* What to look for. Records come in sequence order, from `cursor` on. */
struct kos_logsrv_query {
    uint64_t cursor;              /* first sequence number wanted; 0 for the oldest */
    int64_t since_ns;             /* only records at or after this time; 0: any */
    uint32_t max_count;           /* at most this many per call; 0: as many as fit */
    enum kos_log_level min_level; /* only records at this level or above */
    const char *app;              /* only this app's records; NULL: every app */
};

/* Counters for one app, since the server started. */
struct kos_logsrv_app_stats {
    uint64_t accepted; /* records stored */
    uint64_t dropped;  /* records the rate limit dropped */
    uint64_t pending;  /* of those, not yet reported in a notice record */
    uint64_t ring;     /* records in the server's ring, all apps */
};

typedef struct kos_logsrv kos_logsrv_t;
typedef void kos_logsrv_record_fn(const struct kos_logsrv_record *r, void *arg);

/* Requests kos_log_protocol on `dir`, waiting up to `timeout_ms` for the
 * log server; `timeout_ms` is also the deadline of every later call (the
 * rule, and what 0 means for calls, is in msg.h, "Client libraries").
 * KOS_STATUS_UNAUTHORIZED if the manifest does not grant the protocol. On
 * success the handle belongs to the caller; on error *out is untouched.
 * Blocks. */
KOS_API KOS_MUST kos_status_t kos_logsrv_open(kos_dir_t *dir, int timeout_ms, kos_logsrv_t **out);

/* Sends one record. `text` is at most KOS_LOGSRV_TEXT_MAX bytes
 * (KOS_STATUS_TOO_LARGE otherwise, nothing sent). Returns OK once the server
 * has stored it (and synced it to storage when it persists), with its
 * sequence number in *seq if seq is not NULL; KOS_STATUS_BUSY when the rate
 * limit dropped it. Blocks for one call. */
KOS_API KOS_MUST kos_status_t kos_logsrv_write(kos_logsrv_t *ls, enum kos_log_level level,
                                               const char *text, uint64_t *seq);

/* Formats and sends one record; text longer than KOS_LOGSRV_TEXT_MAX is cut.
 * Otherwise as kos_logsrv_write(). */
KOS_API KOS_MUST kos_status_t kos_logsrv_printf(kos_logsrv_t *ls, enum kos_log_level level,
                                                const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fetches one page of records matching *q, calling fn(record, arg) for each
 * in sequence order, and moves q->cursor past them. *more (may be NULL) is
 * set when later records may match: call again with the same *q. *gap (may
 * be NULL) is set when records before the cursor position were evicted from
 * the ring. Blocks for one call. */
KOS_API KOS_MUST kos_status_t kos_logsrv_query(kos_logsrv_t *ls, struct kos_logsrv_query *q,
                                               kos_logsrv_record_fn *fn, void *arg, bool *more,
                                               bool *gap);

/* Fetches the server's counters for `app`. Blocks for one call. */
KOS_API KOS_MUST kos_status_t kos_logsrv_app_stats(kos_logsrv_t *ls, const char *app,
                                                   struct kos_logsrv_app_stats *out);

/* The token the handle calls on. Owned by the handle. */
KOS_API kos_token_t *kos_logsrv_token(kos_logsrv_t *ls);

/* Gives the token up and frees the handle. kos_logsrv_close(NULL) does
 * nothing. */
KOS_API void kos_logsrv_close(kos_logsrv_t *ls);

#ifdef __cplusplus
}
#endif
#endif
