/*
 * channel.c - the shared-memory call channel (channel_int.h): creating and
 * mapping the sealed memfd, publishing and copying out slots, and the spin
 * and wake-up helpers both sides use.
 *
 * What stays true: a mapped channel is exactly KOS__CHAN_SIZE bytes of a memfd
 * that can no longer change size, so touching any byte of the struct is safe
 * whatever the peer does; and a slot is only ever interpreted through the
 * private copy kos__chan_take() makes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "channel_int.h"

_Static_assert(offsetof(struct kos__chan_slot, payload) == KOS__CACHE_LINE,
               "a slot is one header line, then the payload");
_Static_assert(offsetof(struct kos__chan_shm, req) % KOS__LINE_PAIR == 0 &&
                   offsetof(struct kos__chan_shm, rep) % KOS__LINE_PAIR == 0,
               "slots start on a line pair");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2,
               "shared-memory atomics must be lock-free");

#define CHAN_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

kos_status_t kos__chan_create(uint32_t channel, int *fd, struct kos__chan_shm **shm)
{
    struct kos__chan_shm *m;
    int mfd;

    mfd = memfd_create("kos-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return (errno == EMFILE || errno == ENFILE || errno == ENOMEM) ? KOS_STATUS_NO_MEMORY
                                                                       : KOS_STATUS_IO;
    if (ftruncate(mfd, (off_t)KOS__CHAN_SIZE) < 0 || fcntl(mfd, F_ADD_SEALS, CHAN_SEALS) < 0)
        goto out_close_fd;
    m = mmap(NULL, KOS__CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (m == MAP_FAILED)
        goto out_close_fd;
    /* The memfd starts zeroed; set what is not zero. */
    m->magic = KOS__CHAN_MAGIC;
    m->version = KOS__CHAN_VERSION;
    m->size = (uint32_t)KOS__CHAN_SIZE;
    m->channel = channel;
    atomic_store(&m->srv_sleeping, 1);
    atomic_store(&m->cli_cpu, -1);
    atomic_store(&m->srv_cpu, -1);
    *fd = mfd;
    *shm = m;
    return KOS_STATUS_OK;

out_close_fd:
    close(mfd);
    return KOS_STATUS_NO_MEMORY;
}

kos_status_t kos__chan_map(int fd, uint32_t channel, struct kos__chan_shm **shm)
{
    struct kos__chan_shm *m;
    struct stat sb;
    int seals;

    /* The seals make the size final; only then is the size check worth
     * anything. */
    seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & CHAN_SEALS) != CHAN_SEALS)
        return KOS_STATUS_PROTOCOL;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size != KOS__CHAN_SIZE)
        return KOS_STATUS_PROTOCOL;
    m = mmap(NULL, KOS__CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return KOS_STATUS_NO_MEMORY;
    if (m->magic != KOS__CHAN_MAGIC || m->version != KOS__CHAN_VERSION ||
        m->size != KOS__CHAN_SIZE || m->channel != channel) {
        munmap(m, KOS__CHAN_SIZE);
        return KOS_STATUS_PROTOCOL;
    }
    *shm = m;
    return KOS_STATUS_OK;
}

void kos__chan_unmap(struct kos__chan_shm *shm)
{
    if (shm)
        munmap(shm, KOS__CHAN_SIZE);
}

void kos__chan_put(struct kos__chan_slot *slot, uint32_t seq, uint32_t label, uint64_t param,
                   const void *payload, uint32_t len, uint32_t status, uint32_t flags,
                   uint64_t cookie)
{
    /* Payload first, then the header line in one burst ending with `seq`.
     * The reader spins on the header line; touching it, then the payload,
     * then it again would let the reader take the line away in between and
     * cost one more transfer between cores per message (measured: ~0.3 us
     * per round trip). */
    if (len)
        memcpy(slot->payload, payload, len);
    atomic_store_explicit(&slot->label, label, memory_order_relaxed);
    atomic_store_explicit(&slot->len, len, memory_order_relaxed);
    atomic_store_explicit(&slot->status, status, memory_order_relaxed);
    atomic_store_explicit(&slot->flags, flags, memory_order_relaxed);
    atomic_store_explicit(&slot->param, param, memory_order_relaxed);
    atomic_store_explicit(&slot->cookie, cookie, memory_order_relaxed);
    atomic_store_explicit(&slot->seq, seq, memory_order_seq_cst);
}

kos_status_t kos__chan_take(const struct kos__chan_slot *slot, uint32_t seq,
                            struct kos__chan_msg *out, uint8_t *payload)
{
    /* Each shared field is loaded exactly once into private memory; from here
     * on only the copy is used. */
    struct kos__chan_msg m = {
        .seq = seq,
        .label = atomic_load_explicit(&slot->label, memory_order_relaxed),
        .len = atomic_load_explicit(&slot->len, memory_order_relaxed),
        .status = atomic_load_explicit(&slot->status, memory_order_relaxed),
        .flags = atomic_load_explicit(&slot->flags, memory_order_relaxed),
        .param = atomic_load_explicit(&slot->param, memory_order_relaxed),
        .cookie = atomic_load_explicit(&slot->cookie, memory_order_relaxed),
    };
    uint32_t n = m.len <= KOS_MSG_MAX_PAYLOAD ? m.len : KOS_MSG_MAX_PAYLOAD;

    /* Copy whatever fits first, then validate: the payload bytes are never
     * interpreted here, and a length out of range is refused below. */
    if (n)
        memcpy(payload, slot->payload, n);
    /* Order the copies above before the re-check of seq. */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&slot->seq, memory_order_relaxed) != seq)
        return KOS_STATUS_BUSY;
    if (m.len > KOS_MSG_MAX_PAYLOAD || m.status >= KOS_STATUS__COUNT ||
        (m.flags & ~(KOS__SLOT_TOKEN | KOS__SLOT_FD)) ||
        (m.flags == (KOS__SLOT_TOKEN | KOS__SLOT_FD)) || (m.flags && m.cookie == 0))
        return KOS_STATUS_PROTOCOL;
    *out = m;
    return KOS_STATUS_OK;
}

/* ---- waiting ---- */

void kos__spin_init(struct kos__spin *s)
{
    s->budget_ns = KOS__SPIN_START_NS;
}

void kos__spin_result(struct kos__spin *s, bool found)
{
    if (found)
        s->budget_ns = s->budget_ns >= KOS__SPIN_MAX_NS / 2 ? KOS__SPIN_MAX_NS : s->budget_ns * 2;
    else
        s->budget_ns = s->budget_ns <= KOS__SPIN_MIN_NS * 2 ? KOS__SPIN_MIN_NS : s->budget_ns / 2;
}

bool kos__spin_worth(const struct kos__spin *s, int32_t peer_cpu, int32_t my_cpu)
{
    return s->budget_ns > 0 && (my_cpu < 0 || peer_cpu != my_cpu);
}

int32_t kos__cpu(void)
{
    return (int32_t)sched_getcpu();
}

void kos__futex_wake(_Atomic uint32_t *word)
{
    /* Shared (not FUTEX_PRIVATE): the word lives in a MAP_SHARED memfd. */
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

bool kos__futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline)
{
    struct timespec ts, *tp = NULL;
    long r;

    if (deadline != UINT64_MAX) {
        ts.tv_sec = (time_t)(deadline / 1000000000u);
        ts.tv_nsec = (long)(deadline % 1000000000u);
        tp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
    r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected, tp, NULL,
                FUTEX_BITSET_MATCH_ANY);
    return !(r < 0 && errno == ETIMEDOUT);
}

uint64_t kos__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t kos__deadline(int timeout_ms)
{
    if (timeout_ms < 0)
        return UINT64_MAX;
    return kos__now_ns() + (uint64_t)timeout_ms * 1000000u;
}

int kos__remaining_ms(uint64_t deadline)
{
    uint64_t now;

    if (deadline == UINT64_MAX)
        return -1;
    now = kos__now_ns();
    if (now >= deadline)
        return 0;
    /* Round up, so a wait never ends a little before its deadline. */
    uint64_t ms = (deadline - now + 999999u) / 1000000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

kos_status_t kos__bell_create(int fds[2])
{
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return (errno == EMFILE || errno == ENFILE) ? KOS_STATUS_NO_MEMORY : KOS_STATUS_IO;
    /* One byte is a ring; a page is plenty. Failure only costs memory. */
    (void)fcntl(fds[1], F_SETPIPE_SZ, 4096);
    return KOS_STATUS_OK;
}

kos_status_t kos__doorbell_create(int *fd)
{
    *fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (*fd < 0)
        return (errno == EMFILE || errno == ENFILE) ? KOS_STATUS_NO_MEMORY : KOS_STATUS_IO;
    return KOS_STATUS_OK;
}

void kos__doorbell_ring(int fd)
{
    uint64_t one = 1;
    ssize_t n;

    /* EAGAIN: the counter is full, so the doorbell is readable anyway. */
    do
        n = write(fd, &one, sizeof(one));
    while (n < 0 && errno == EINTR);
}

void kos__bell_ring(int fd)
{
    char b = 1;
    struct iovec iov = {.iov_base = &b, .iov_len = 1};
    ssize_t n;

    do
        n = pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
    while (n < 0 && errno == EINTR);
    /* Kernels without RWF_NOWAIT on pipes: the description was made
     * non-blocking when the bell was created. */
    if (n < 0 && errno == EOPNOTSUPP)
        (void)!write(fd, &b, 1);
}

bool kos__bell_drain(int fd)
{
    char buf[256];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    ssize_t n;

    for (;;) {
        n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
        if (n < 0 && errno == EOPNOTSUPP)
            n = read(fd, buf, sizeof(buf));
        if (n == (ssize_t)sizeof(buf) || (n < 0 && errno == EINTR))
            continue;
        return n != 0;
    }
}
