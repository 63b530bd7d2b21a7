/*
 * channel_int.h - the shared-memory call channel between one client token and
 * one server endpoint.
 *
 * The message server creates each channel when it grants a token: a memfd of
 * exactly KOS__CHAN_SIZE bytes, sealed against shrinking and growing (so
 * neither party can truncate it under the other's feet and make it fault),
 * and two bells. It hands them to the two parties and keeps only its own
 * mapping of the memory (to mark the channel down if a party dies), no
 * descriptor.
 *
 * The channel holds one request slot (client -> server), one reply slot
 * (server -> client) and a ring of KOS__CHAN_NOTES notification slots
 * (server -> client). A slot's writer fills the fields and payload, then
 * publishes them with a sequentially consistent store of the slot's `seq`;
 * the reader loads `seq` and then copies the slot into private memory BEFORE
 * it looks at any field, and validates only the copy (kos__chan_take). Every
 * field a peer writes is read at most once, so a hostile peer scribbling on
 * the page can only hand over garbage, which validation rejects.
 *
 * Waking a sleeping peer:
 *   - the server's doorbell is an eventfd the client rings after it publishes
 *     a request; the server waits for all its clients' doorbells at once in
 *     an epoll set, edge-triggered, and never reads them, so a client that
 *     clears O_NONBLOCK on its doorbell, drains or saturates it can neither
 *     block the server nor delay another client (each channel has its own
 *     doorbell). An eventfd wakes the server without the "sync" hint a pipe
 *     or socket write gives the scheduler, which would otherwise pull both
 *     parties onto one CPU;
 *   - a client waiting for its reply sleeps on a futex on the reply slot's
 *     `seq`, which the server (and, when the server dies, the message server)
 *     wakes; that wait lives inside kos_msg_call(), which blocks anyway;
 *   - the client's note bell is rung for each notification and for
 *     revocation; it is what kos_token_fd() returns.
 * A client rings the doorbell with a plain write, which could block only if
 * its server both filled the eventfd's counter and cleared O_NONBLOCK on it:
 * a hostile server could then hold its own client in kos_msg_call(). The app
 * sandbox should deny fcntl(F_SETFL) and ioctl(FIONBIO) to apps, which closes
 * that too.
 * Both directions use the Dekker pattern: a waiter stores its `*_sleeping`
 * flag (seq_cst) and re-checks the slot (seq_cst) before it sleeps; a writer
 * publishes `seq` (seq_cst), then loads the peer's flag (seq_cst) and wakes
 * the peer only if it is set. One of the two always sees the other, so no
 * wake-up is lost and a spinning peer costs no system call.
 *
 * The note bell is a pipe. Its owner polls the read end and empties it; the
 * server rings it by writing a byte. Reads and writes use RWF_NOWAIT, so neither side
 * can make the other block by clearing O_NONBLOCK on a shared file description
 * or by filling the pipe (a full bell is readable anyway). The ringer also
 * holds the read end, never reads it, so that ringing a dead peer cannot raise
 * SIGPIPE. When a party dies its write ends close and the survivor's bell
 * reports POLLHUP: that is how each side learns that the other is gone.
 *
 * Each shared field is written by one party only (see the struct); each party
 * keeps private copies of the counters it owns and never trusts the shared
 * copy of a counter it does not own.
 */
#ifndef KOS_CHANNEL_INT_H
#define KOS_CHANNEL_INT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/msg.h>

#define KOS__CHAN_MAGIC   0x4e48434bu /* "KCHN" */
#define KOS__CHAN_VERSION 1u
#define KOS__CHAN_NOTES   4u /* notifications a client may leave unread */
#define KOS__CACHE_LINE   64
/* x86 prefetchers fetch lines in aligned pairs: a slot's header and the
 * first line of its payload share a pair (so they travel together), and the
 * two parties' flag lines do not (so one side's writes do not drag the other
 * side's line along). */
#define KOS__LINE_PAIR 128

/* Labels KOS itself uses on a channel (>= KOS_MSG_LABEL_RESERVED). */
#define KOS__LABEL_PING (KOS_MSG_LABEL_RESERVED + 0u)

/* Slot flags. */
#define KOS__SLOT_TOKEN 1u /* `cookie` names a token transfer to redeem */
/* `cookie` names a descriptor transfer (FD_PASS): a connected TCP socket
 * in replies and notifications, a pipe's write end in requests; never with
 * KOS__SLOT_TOKEN. */
#define KOS__SLOT_FD 2u

/* One message. Written by one side, read by the other. */
struct kos__chan_slot {
    alignas(KOS__LINE_PAIR) _Atomic uint32_t seq; /* stored last: publishes the slot */
    _Atomic uint32_t label;
    _Atomic uint32_t len;
    _Atomic uint32_t status; /* replies: what the server answered */
    _Atomic uint32_t flags;  /* KOS__SLOT_* */
    _Atomic uint64_t param;
    _Atomic uint64_t cookie; /* with KOS__SLOT_TOKEN or KOS__SLOT_FD */
    alignas(KOS__CACHE_LINE) uint8_t payload[KOS_MSG_MAX_PAYLOAD];
};

struct kos__chan_shm {
    /* Set by the message server at creation, then read-only. */
    uint32_t magic, version, size, channel;

    /* Written by the message server and the server endpoint: 0 while the
     * channel works, else the status every call now gets
     * (KOS_STATUS_INVALID_TOKEN once revoked, KOS_STATUS_UNAVAILABLE once the
     * server is gone). */
    alignas(KOS__CACHE_LINE) _Atomic uint32_t down;

    /* Written by the client only. */
    alignas(KOS__LINE_PAIR) _Atomic uint32_t cli_sleeping; /* in futex wait on rep.seq */
    _Atomic int32_t cli_cpu;                               /* CPU it last ran on, -1 unknown */
    _Atomic uint32_t note_tail;                            /* notifications consumed */

    /* Written by the server endpoint only. */
    alignas(KOS__LINE_PAIR) _Atomic uint32_t srv_sleeping; /* not spinning: ring the doorbell */
    _Atomic int32_t srv_cpu;
    _Atomic uint32_t note_head; /* notifications produced */

    struct kos__chan_slot req;
    struct kos__chan_slot rep;
    struct kos__chan_slot notes[KOS__CHAN_NOTES];
};

/* The memfd's exact size: the struct rounded up to whole pages. */
#define KOS__CHAN_SIZE ((sizeof(struct kos__chan_shm) + 4095u) & ~(size_t)4095u)

/* A slot copied out of shared memory and validated. */
struct kos__chan_msg {
    uint32_t seq;
    uint32_t label;
    uint32_t len;
    uint32_t status;
    uint32_t flags;
    uint64_t param;
    uint64_t cookie;
};

/* Creates a sealed channel memfd (close-on-exec) numbered `channel`,
 * initialised with the server marked sleeping, and maps it. On success *fd
 * and *shm belong to the caller (kos__chan_unmap, close); on error nothing is
 * held. Used by the message server only. Does not block. */
kos_status_t kos__chan_create(uint32_t channel, int *fd, struct kos__chan_shm **shm)
    __attribute__((warn_unused_result));

/* Maps a channel memfd received from the message server after checking that
 * it is a sealed memfd of exactly KOS__CHAN_SIZE bytes whose header names
 * `channel`. The fd stays the caller's (it may be closed once mapped).
 * KOS_STATUS_PROTOCOL if it is not such a channel. Does not block. */
kos_status_t kos__chan_map(int fd, uint32_t channel, struct kos__chan_shm **shm)
    __attribute__((warn_unused_result));

/* Unmaps a channel. kos__chan_unmap(NULL) does nothing. */
void kos__chan_unmap(struct kos__chan_shm *shm);

/* Fills `slot` with a message and publishes it as `seq` (seq_cst). The
 * payload must already be checked against KOS_MSG_MAX_PAYLOAD. */
void kos__chan_put(struct kos__chan_slot *slot, uint32_t seq, uint32_t label, uint64_t param,
                   const void *payload, uint32_t len, uint32_t status, uint32_t flags,
                   uint64_t cookie);

/* Copies `slot` into *out and `payload` (KOS_MSG_MAX_PAYLOAD bytes), reading
 * each shared field once, then validates the copy: KOS_STATUS_PROTOCOL if the
 * length, status or flags are out of range. `seq` is the value the caller
 * loaded before; KOS_STATUS_BUSY if the writer replaced the slot while it
 * was being copied (read it again later). */
kos_status_t kos__chan_take(const struct kos__chan_slot *slot, uint32_t seq,
                            struct kos__chan_msg *out, uint8_t *payload)
    __attribute__((warn_unused_result));

/* ---- waiting ---- */

/* Bounded adaptive spinning. A waiter spins for at most `budget_ns` before it
 * sleeps; the budget doubles (up to KOS__SPIN_MAX_NS) each time spinning
 * found what it waited for and halves (down to KOS__SPIN_MIN_NS) each time it
 * did not. Spinning is skipped when the peer last ran on this CPU, where it
 * could not make progress while we spin. */
#define KOS__SPIN_MIN_NS   1000u
#define KOS__SPIN_MAX_NS   64000u
#define KOS__SPIN_START_NS 16000u

struct kos__spin {
    uint32_t budget_ns;
};

void kos__spin_init(struct kos__spin *s);
void kos__spin_result(struct kos__spin *s, bool found);

/* Whether to spin at all, when this thread runs on `my_cpu` and the peer last
 * ran on `peer_cpu` (-1: unknown). */
bool kos__spin_worth(const struct kos__spin *s, int32_t peer_cpu, int32_t my_cpu);

/* The CPU this thread runs on, -1 if unknown. */
int32_t kos__cpu(void);

/* Records `cpu` in a shared CPU field, writing only when it changed so the
 * cache line stays shared. */
static inline void kos__note_cpu(_Atomic int32_t *slot, int32_t cpu)
{
    if (atomic_load_explicit(slot, memory_order_relaxed) != cpu)
        atomic_store_explicit(slot, cpu, memory_order_relaxed);
}

/* A pause instruction for spin loops. */
static inline void kos__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t kos__now_ns(void);

/* Deadline helpers: kos__deadline(-1) is UINT64_MAX, "never".
 * kos__remaining_ms() gives what poll() wants: -1 for never, else the
 * milliseconds left, rounded up (0 once past). */
uint64_t kos__deadline(int timeout_ms);
int kos__remaining_ms(uint64_t deadline);

/* Wakes every thread sleeping in kos__futex_wait() on `word` (a field of a
 * shared channel). Never blocks. */
void kos__futex_wake(_Atomic uint32_t *word);

/* Sleeps until `word` is woken, its value is no longer `expected`, or the
 * deadline (from kos__deadline) passes. Returns false on timeout, true
 * otherwise (including spurious wake-ups: re-check the condition). */
bool kos__futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline);

/* Creates one bell: fds[0] the read end, fds[1] the write end (non-blocking,
 * close-on-exec, one page of buffer). Used by the message server only. */
kos_status_t kos__bell_create(int fds[2]) __attribute__((warn_unused_result));

/* Creates a doorbell (a non-blocking, close-on-exec eventfd). Used by the
 * message server only. */
kos_status_t kos__doorbell_create(int *fd) __attribute__((warn_unused_result));

/* Rings a doorbell. Does not block while its O_NONBLOCK flag stands. The
 * server never reads it: it watches it edge-triggered, so each ring is one
 * event and the counter needs no emptying. */
void kos__doorbell_ring(int fd);

/* Rings a bell through its write end. Never blocks; a full bell is already
 * readable, so that is not an error. */
void kos__bell_ring(int fd);

/* Empties a bell through its read end. Never blocks. Returns false when the
 * bell reads as end of file: it is empty and has no writer left (the peer is
 * gone). A bell that still held rings returns true even if its writer is
 * gone; the next drain returns false (poll() reports POLLHUP meanwhile). */
bool kos__bell_drain(int fd);

#endif
