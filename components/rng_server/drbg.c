/*
 * drbg.c - ChaCha20 with fast key erasure, reseeded from the kernel (see
 * drbg.h for what stays true about the state).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "chacha20.h"
#include "drbg.h"

static const uint8_t zero_nonce[CHACHA20_NONCE_LEN];

/* Fills buf with kernel random bytes, retrying on EINTR and short reads. */
static kos_status_t kernel_random(uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return KOS_STATUS_IO;
        }
        buf += n;
        len -= (size_t)n;
    }
    return KOS_STATUS_OK;
}

/* Replaces the key with the first 32 bytes of its own keystream and writes
 * the next len bytes to out. */
static void generate_erase(struct drbg *d, uint8_t *out, size_t len)
{
    uint8_t head[CHACHA20_BLOCK_LEN] = {0};
    size_t first = len < sizeof(head) - 32 ? len : sizeof(head) - 32;

    /* Block 0 gives the new key and the first 32 bytes of output; blocks
     * 1.. give the rest, straight into out. */
    chacha20_xor(d->key, 0, zero_nonce, head, sizeof(head));
    if (len > first) {
        memset(out + first, 0, len - first);
        chacha20_xor(d->key, 1, zero_nonce, out + first, len - first);
    }
    if (first)
        memcpy(out, head + 32, first);
    memcpy(d->key, head, 32);
    explicit_bzero(head, sizeof(head));
}

void drbg_reseed_with(struct drbg *d, const uint8_t seed[32], uint64_t now_ns)
{
    for (int i = 0; i < 32; i++)
        d->key[i] ^= seed[i];
    generate_erase(d, NULL, 0);
    d->last_reseed_ns = now_ns;
    d->bytes_since_reseed = 0;
    d->reseeds++;
    if (d->fork_guard)
        *d->fork_guard = 1;
    d->pid = (int)getpid();
}

/* A page that a fork hands the child zeroed (MADV_WIPEONFORK, Linux 4.14);
 * NULL where the kernel cannot, and the process id is compared instead. */
static volatile uint64_t *fork_guard_map(void)
{
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return NULL;
    if (madvise(p, (size_t)page, MADV_WIPEONFORK) != 0) {
        munmap(p, (size_t)page);
        return NULL;
    }
    return p;
}

/* True if this process was forked since the drbg was last seeded. */
static bool forked(const struct drbg *d)
{
    if (d->fork_guard)
        return *d->fork_guard == 0;
    return (int)getpid() != d->pid;
}

kos_status_t drbg_reseed(struct drbg *d, uint64_t now_ns)
{
    uint8_t seed[32];
    kos_status_t st = kernel_random(seed, sizeof(seed));

    if (st == KOS_STATUS_OK)
        drbg_reseed_with(d, seed, now_ns);
    explicit_bzero(seed, sizeof(seed));
    return st;
}

kos_status_t drbg_init(struct drbg *d, uint64_t reseed_interval_ns, uint64_t reseed_bytes,
                       uint64_t now_ns)
{
    memset(d, 0, sizeof(*d));
    d->reseed_interval_ns = reseed_interval_ns;
    d->reseed_bytes = reseed_bytes;
    d->fork_guard = fork_guard_map();
    return drbg_reseed(d, now_ns);
}

kos_status_t drbg_generate(struct drbg *d, uint8_t *out, size_t len, uint64_t now_ns)
{
    if (len > DRBG_MAX_REQUEST)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((d->reseed_interval_ns && now_ns - d->last_reseed_ns >= d->reseed_interval_ns) ||
        (d->reseed_bytes && d->bytes_since_reseed >= d->reseed_bytes) || forked(d)) {
        kos_status_t st = drbg_reseed(d, now_ns);
        if (st)
            return st;
    }
    generate_erase(d, out, len);
    d->bytes_since_reseed += len;
    return KOS_STATUS_OK;
}

void drbg_fini(struct drbg *d)
{
    if (d->fork_guard)
        munmap((void *)d->fork_guard, (size_t)sysconf(_SC_PAGESIZE));
    explicit_bzero(d, sizeof(*d));
}
