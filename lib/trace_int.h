/*
 * trace_int.h - message tracing's ring: where libkos records an app's calls
 * and a message server its directory events, and where KOS Core reads them
 * (docs/messages.md, "Tracing").
 *
 * Core creates one ring per process it starts (a memfd of exactly
 * KOS__TRACE_SIZE bytes, sealed against shrinking and growing) and hands it
 * over in the boot record; the process maps it and closes the descriptor.
 * Core keeps its own mapping, for as long as it runs, and reuses the ring
 * for the process's next start.
 *
 * The ring has KOS__TRACE_SLOTS fixed-size records. Its writers are the
 * process's threads (many producers), its one reader is Core:
 *   - Core alone writes `on` (whether the process records) and `tail` (the
 *     records it consumed); the process alone writes `head` (the records it
 *     reserved), `dropped` (the records it did not write because the ring
 *     was full) and the slots;
 *   - a writer reserves position h by moving head from h to h + 1 (CAS)
 *     while h - tail < KOS__TRACE_SLOTS, fills slot h % KOS__TRACE_SLOTS and
 *     publishes it by storing seq = h + 1 (release); a full ring costs one
 *     count in `dropped`, never a wait or a system call;
 *   - Core copies each slot into private memory, then re-checks its seq, and
 *     validates only the copy (kos__trace_take), as with call channels. What
 *     a hostile process writes there can only be its own records, which Core
 *     stamps with the process's name: it cannot pass for another app's. A
 *     slot reserved and never published is skipped (counted) the second
 *     time Core finds it unpublished, so a writer that dies or stalls
 *     mid-record holds up nothing.
 *
 * When tracing is off, the only cost to a call is one relaxed load of `on`
 * and a branch (kos__trace_enabled).
 */
#ifndef KOS_TRACE_INT_H
#define KOS_TRACE_INT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#include "boot_int.h"

#define KOS__TRACE_MAGIC   0x5254434bu /* "KCTR" */
#define KOS__TRACE_VERSION 1u
/* Records a ring holds: at Core's drain every KOS__TRACE_DRAIN_MS, a
 * process may record ~10 000 calls a second without a loss; more are
 * counted as dropped. 128 bytes each: 128 KiB per process, touched only
 * while tracing is on. */
#define KOS__TRACE_SLOTS    1024u
#define KOS__TRACE_DRAIN_MS 100u

/* What a record says. */
enum kos__trace_kind {
    /* Written by libkos in an app. */
    KOS__TRACE_CALL = 1,  /* a call made on a token (client side) */
    KOS__TRACE_SERVE = 2, /* a call answered on an endpoint (server side) */
    /* Written by a message server: its directory events. */
    KOS__TRACE_PUBLISH = 16,   /* app publishes `name` */
    KOS__TRACE_GRANT = 17,     /* app (client) got channel `channel` to `name`, served by peer */
    KOS__TRACE_DENY = 18,      /* app was refused `name`: status UNAUTHORIZED etc., label 0
                                  request, 1 publish */
    KOS__TRACE_CLOSE = 19,     /* channel `channel` between app (client) and peer (server) ended */
    KOS__TRACE_UNPUBLISH = 20, /* app's `name` was withdrawn */
};

/* True for the kinds only a message server may write. */
static inline bool kos__trace_kind_dir(uint32_t kind)
{
    return kind >= KOS__TRACE_PUBLISH && kind <= KOS__TRACE_UNPUBLISH;
}

/* One record, as it lies in a slot and as Core copies it out. */
struct kos__trace_rec {
    _Atomic uint32_t seq;     /* position + 1, stored last */
    uint32_t kind;            /* enum kos__trace_kind */
    uint32_t dir;             /* CALL, SERVE: which of the app's message servers (boot order) */
    uint32_t channel;         /* the message server's number of the call channel */
    uint32_t label;           /* the request's label */
    uint32_t status;          /* what the call returned, a kos_status_t */
    uint32_t req_len;         /* request payload bytes */
    uint32_t rep_len;         /* reply payload bytes */
    uint32_t app_id;          /* directory events: the app they are about */
    uint32_t peer_id;         /* directory events: the other app, or UINT32_MAX */
    uint64_t time_ns;         /* CLOCK_MONOTONIC when it began */
    uint64_t dur_ns;          /* how long it took (0 for directory events) */
    char name[KOS__NAME_MAX]; /* directory events: the protocol; else empty */
};

struct kos__trace_shm {
    /* Set by Core at creation, then read-only. */
    uint32_t magic, version, slots, size;
    /* Written by Core only. */
    alignas(64) _Atomic uint32_t on;
    alignas(64) _Atomic uint32_t tail;
    /* Written by the process only. */
    alignas(64) _Atomic uint32_t head;
    _Atomic uint32_t dropped;
    alignas(64) struct kos__trace_rec rec[KOS__TRACE_SLOTS];
};

#define KOS__TRACE_SIZE ((sizeof(struct kos__trace_shm) + 4095u) & ~(size_t)4095u)

/* Creates a sealed ring memfd (close-on-exec), initialised empty and off,
 * and maps it. On success *fd and *shm are the caller's (kos__trace_unmap,
 * close); on error nothing is held. Used by Core. Does not block. */
kos_status_t kos__trace_create(int *fd, struct kos__trace_shm **shm)
    __attribute__((warn_unused_result));

/* Maps a ring received in the boot record after checking that it is a
 * sealed memfd of exactly KOS__TRACE_SIZE bytes with the ring's header.
 * The fd stays the caller's. KOS_STATUS_PROTOCOL if it is not a ring. */
kos_status_t kos__trace_map(int fd, struct kos__trace_shm **shm)
    __attribute__((warn_unused_result));

/* Unmaps a ring. kos__trace_unmap(NULL) does nothing. */
void kos__trace_unmap(struct kos__trace_shm *shm);

/* A word that is always 0: what kos__trace_enabled() reads when a process
 * has no ring. */
extern const _Atomic uint32_t kos__trace_never;

/* Whether the process records now. `on` points at its ring's `on`, or at
 * kos__trace_never. One relaxed load: the test on every call. */
static inline bool kos__trace_enabled(const _Atomic uint32_t *on)
{
    return __builtin_expect(atomic_load_explicit(on, memory_order_relaxed) != 0, 0);
}

/* Writes one record (every field but seq, from *r) into the ring, or counts
 * it in `dropped` when the ring is full. Never blocks, no system call;
 * safe from any number of threads. */
void kos__trace_put(struct kos__trace_shm *shm, const struct kos__trace_rec *r);

/* ---- Core's side ---- */

/* Core's private state of one ring: it never trusts the shared copies of
 * the counters the process writes. */
struct kos__trace_reader {
    uint32_t tail;         /* consumed (the shared tail is a copy of this) */
    uint32_t seen_dropped; /* the process's `dropped` when last read */
    uint32_t stall_pos;    /* a slot found reserved and unpublished ... */
    bool stalled;          /* ... on the last take */
};

/* Starts reading a ring afresh (a new start of its process): everything in
 * it is forgotten, the counters are zeroed, and `on` is set as given. */
void kos__trace_reset(struct kos__trace_shm *shm, struct kos__trace_reader *rd, bool on);

/* Copies up to `max` published records out of the ring into out[], each
 * validated: a kind outside `kinds_dir ? directory events : CALL, SERVE`,
 * a dir at or above n_dirs, a status out of range or a name that is not a
 * valid KOS name (or, for CALL and SERVE, not empty) is skipped and counted
 * in *lost, as are the process's own drops since the last take and slots
 * skipped as stalled. Advances rd->tail only; kos__trace_commit() tells the
 * process. Returns how many records it copied. */
size_t kos__trace_take(struct kos__trace_shm *shm, struct kos__trace_reader *rd, bool kinds_dir,
                       uint32_t n_dirs, struct kos__trace_rec *out, size_t max, uint64_t *lost);

/* Forgets what the ring holds now, and what the process dropped so far,
 * without stopping it: reading starts from its next record. */
void kos__trace_skip(struct kos__trace_shm *shm, struct kos__trace_reader *rd);

/* Publishes rd->tail to the process: the slots before it are free again. */
void kos__trace_commit(struct kos__trace_shm *shm, const struct kos__trace_reader *rd);

/* Whether the ring has anything published past rd->tail (a hint). */
bool kos__trace_pending(const struct kos__trace_shm *shm, const struct kos__trace_reader *rd);

#endif
