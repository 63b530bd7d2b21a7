/*
 * trace.c - message tracing's ring (trace_int.h): creating and mapping the
 * sealed memfd, a process's writes, and Core's validated reads.
 *
 * What stays true: a mapped ring is exactly KOS__TRACE_SIZE bytes of a memfd
 * that can no longer change size; Core reads each slot once into private
 * memory and interprets only that copy, and never stores a counter the
 * process wrote without clamping it first.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_int.h"

_Static_assert(sizeof(struct kos__trace_rec) <= 128, "a record fits 128 bytes");
_Static_assert((KOS__TRACE_SLOTS & (KOS__TRACE_SLOTS - 1)) == 0, "slots: a power of two");

#define TRACE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

const _Atomic uint32_t kos__trace_never = 0;

kos_status_t kos__trace_create(int *fd, struct kos__trace_shm **shm)
{
    struct kos__trace_shm *m;
    int mfd;

    mfd = memfd_create("kos-trace", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return (errno == EMFILE || errno == ENFILE || errno == ENOMEM) ? KOS_STATUS_NO_MEMORY
                                                                       : KOS_STATUS_IO;
    if (ftruncate(mfd, (off_t)KOS__TRACE_SIZE) < 0 || fcntl(mfd, F_ADD_SEALS, TRACE_SEALS) < 0)
        goto out_close_fd;
    m = mmap(NULL, KOS__TRACE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (m == MAP_FAILED)
        goto out_close_fd;
    m->magic = KOS__TRACE_MAGIC;
    m->version = KOS__TRACE_VERSION;
    m->slots = KOS__TRACE_SLOTS;
    m->size = (uint32_t)KOS__TRACE_SIZE;
    *fd = mfd;
    *shm = m;
    return KOS_STATUS_OK;

out_close_fd:
    close(mfd);
    return KOS_STATUS_NO_MEMORY;
}

kos_status_t kos__trace_map(int fd, struct kos__trace_shm **shm)
{
    struct kos__trace_shm *m;
    struct stat sb;
    int seals;

    seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & TRACE_SEALS) != TRACE_SEALS)
        return KOS_STATUS_PROTOCOL;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size != KOS__TRACE_SIZE)
        return KOS_STATUS_PROTOCOL;
    m = mmap(NULL, KOS__TRACE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return KOS_STATUS_NO_MEMORY;
    if (m->magic != KOS__TRACE_MAGIC || m->version != KOS__TRACE_VERSION ||
        m->slots != KOS__TRACE_SLOTS || m->size != KOS__TRACE_SIZE) {
        munmap(m, KOS__TRACE_SIZE);
        return KOS_STATUS_PROTOCOL;
    }
    *shm = m;
    return KOS_STATUS_OK;
}

void kos__trace_unmap(struct kos__trace_shm *shm)
{
    if (shm)
        munmap(shm, KOS__TRACE_SIZE);
}

void kos__trace_put(struct kos__trace_shm *shm, const struct kos__trace_rec *r)
{
    uint32_t h = atomic_load_explicit(&shm->head, memory_order_relaxed);
    struct kos__trace_rec *slot;

    do {
        uint32_t t = atomic_load_explicit(&shm->tail, memory_order_acquire);
        if (h - t >= KOS__TRACE_SLOTS) {
            atomic_fetch_add_explicit(&shm->dropped, 1, memory_order_relaxed);
            return;
        }
    } while (!atomic_compare_exchange_weak_explicit(&shm->head, &h, h + 1, memory_order_acq_rel,
                                                    memory_order_relaxed));
    slot = &shm->rec[h % KOS__TRACE_SLOTS];
    /* Every field but seq, then seq (release) publishes them. */
    memcpy((char *)slot + sizeof(slot->seq), (const char *)r + sizeof(r->seq),
           sizeof(*r) - sizeof(r->seq));
    atomic_store_explicit(&slot->seq, h + 1, memory_order_release);
}

/* ---- Core's side ---- */

void kos__trace_reset(struct kos__trace_shm *shm, struct kos__trace_reader *rd, bool on)
{
    *rd = (struct kos__trace_reader){0};
    atomic_store_explicit(&shm->on, 0, memory_order_seq_cst);
    atomic_store_explicit(&shm->head, 0, memory_order_relaxed);
    atomic_store_explicit(&shm->dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&shm->tail, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < KOS__TRACE_SLOTS; i++)
        atomic_store_explicit(&shm->rec[i].seq, 0, memory_order_relaxed);
    atomic_store_explicit(&shm->on, on, memory_order_seq_cst);
}

/* Whether a copied record may be passed on. */
static bool rec_valid(const struct kos__trace_rec *r, bool kinds_dir, uint32_t n_dirs)
{
    size_t nlen = strnlen(r->name, sizeof(r->name));

    if (nlen == sizeof(r->name) || r->status >= KOS_STATUS__COUNT)
        return false;
    if (kinds_dir)
        return kos__trace_kind_dir(r->kind) && kos__name_valid(r->name, nlen);
    return (r->kind == KOS__TRACE_CALL || r->kind == KOS__TRACE_SERVE) && r->dir < n_dirs &&
           nlen == 0;
}

size_t kos__trace_take(struct kos__trace_shm *shm, struct kos__trace_reader *rd, bool kinds_dir,
                       uint32_t n_dirs, struct kos__trace_rec *out, size_t max, uint64_t *lost)
{
    uint32_t head = atomic_load_explicit(&shm->head, memory_order_acquire);
    uint32_t dropped = atomic_load_explicit(&shm->dropped, memory_order_relaxed);
    size_t n = 0;

    /* The process's own count of what it could not write. */
    *lost += (uint32_t)(dropped - rd->seen_dropped);
    rd->seen_dropped = dropped;
    /* An honest writer is never more than a ring ahead: anything beyond is
     * skipped and counted. */
    if (head - rd->tail > KOS__TRACE_SLOTS) {
        *lost += head - rd->tail - KOS__TRACE_SLOTS;
        rd->tail = head - KOS__TRACE_SLOTS;
    }
    while (n < max && rd->tail != head) {
        const struct kos__trace_rec *slot = &shm->rec[rd->tail % KOS__TRACE_SLOTS];
        struct kos__trace_rec copy;
        uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);

        if (seq != rd->tail + 1) {
            /* Reserved, not published yet: wait one take, then skip it. */
            if (rd->stalled && rd->stall_pos == rd->tail) {
                rd->stalled = false;
                rd->tail++;
                (*lost)++;
                continue;
            }
            rd->stalled = true;
            rd->stall_pos = rd->tail;
            break;
        }
        memcpy((char *)&copy + sizeof(copy.seq), (const char *)slot + sizeof(slot->seq),
               sizeof(copy) - sizeof(copy.seq));
        /* Order the copy before the re-check of seq. */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&slot->seq, memory_order_relaxed) != seq) {
            /* Rewritten under us: only a hostile writer does that. */
            rd->tail++;
            (*lost)++;
            continue;
        }
        rd->tail++;
        rd->stalled = false;
        atomic_store_explicit(&copy.seq, seq, memory_order_relaxed);
        if (!rec_valid(&copy, kinds_dir, n_dirs)) {
            (*lost)++;
            continue;
        }
        memcpy(&out[n], &copy, sizeof(copy));
        n++;
    }
    return n;
}

void kos__trace_skip(struct kos__trace_shm *shm, struct kos__trace_reader *rd)
{
    rd->tail = atomic_load_explicit(&shm->head, memory_order_acquire);
    rd->seen_dropped = atomic_load_explicit(&shm->dropped, memory_order_relaxed);
    rd->stalled = false;
    kos__trace_commit(shm, rd);
}

void kos__trace_commit(struct kos__trace_shm *shm, const struct kos__trace_reader *rd)
{
    atomic_store_explicit(&shm->tail, rd->tail, memory_order_release);
}

bool kos__trace_pending(const struct kos__trace_shm *shm, const struct kos__trace_reader *rd)
{
    return atomic_load_explicit(&shm->head, memory_order_relaxed) != rd->tail;
}
