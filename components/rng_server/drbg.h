/*
 * drbg.h - the generator behind rng_server: ChaCha20 with fast key erasure,
 * reseeded from the kernel.
 *
 * The state is one 256-bit key. Each output request generates the ChaCha20
 * keystream under the current key (zero nonce, counter from 0); its first 32
 * bytes replace the key and the rest is the output, so a later compromise of
 * the state reveals nothing already handed out. A reseed XORs 32 fresh kernel
 * bytes into the key and then erases it forward once more. The key is wiped
 * with explicit_bzero() in drbg_fini().
 *
 * Invariant: a drbg in use has been seeded from the kernel at least once
 * since drbg_init(), and once more in every process forked since (a child
 * never continues its parent's stream: a page marked MADV_WIPEONFORK, or
 * where the kernel lacks that, the process id, tells it was forked); there
 * is no way to seed it from the caller's bytes except drbg_reseed_with()
 * (for tests).
 */
#ifndef RNG_DRBG_H
#define RNG_DRBG_H

#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#define DRBG_MAX_REQUEST 65536u

struct drbg {
    uint8_t key[32];
    uint64_t reseed_interval_ns; /* 0: never by time */
    uint64_t reseed_bytes;       /* 0: never by volume */
    uint64_t last_reseed_ns;     /* CLOCK_MONOTONIC */
    uint64_t bytes_since_reseed;
    uint64_t reseeds;
    volatile uint64_t *fork_guard; /* non-zero until a fork wipes its page; NULL: none */
    int pid;                       /* the process that last seeded it (fallback) */
};

/* Seeds the generator from getrandom(). KOS_STATUS_IO if the kernel gives no
 * random bytes (then nothing is seeded and the drbg must not be used).
 * May block until the kernel's pool is initialised (early boot only). */
kos_status_t drbg_init(struct drbg *d, uint64_t reseed_interval_ns, uint64_t reseed_bytes,
                       uint64_t now_ns) __attribute__((warn_unused_result));

/* Mixes 32 fresh kernel bytes into the key. */
kos_status_t drbg_reseed(struct drbg *d, uint64_t now_ns) __attribute__((warn_unused_result));

/* Mixes the caller's 32 bytes into the key (tests only). */
void drbg_reseed_with(struct drbg *d, const uint8_t seed[32], uint64_t now_ns);

/* Writes len (at most DRBG_MAX_REQUEST) random bytes to out, reseeding
 * first when the schedule says so or the process was forked since the last
 * seeding, and erases the key forward. */
kos_status_t drbg_generate(struct drbg *d, uint8_t *out, size_t len, uint64_t now_ns)
    __attribute__((warn_unused_result));

/* Wipes the state and unmaps the fork guard. */
void drbg_fini(struct drbg *d);

#endif
