/*
 * rng.h - random bytes from the rng_server component (kos_rng_protocol).
 *
 * rng_server runs a ChaCha20-based generator seeded from the kernel, with
 * fast key erasure after every request and reseeding from the kernel on a
 * schedule and at every start. A client requests the protocol once with
 * kos_rng_open() and then reads any number of bytes with kos_rng_read().
 *
 * The protocol, for servers and for clients that do not use this API:
 *
 *   KOS_RNG_READ   param: byte count, 0..KOS_RNG_MAX_READ; no payload.
 *                  Reply: exactly that many random bytes.
 *   KOS_RNG_STATS  no param, no payload. Reply payload: struct
 *                  kos_rng_stats as three little-endian u64.
 *
 * A request with a payload, a token, an out-of-range count or an unknown
 * label gets KOS_STATUS_INVALID_ARGUMENT (KOS_STATUS_UNSUPPORTED for the
 * label) and changes nothing.
 *
 * A kos_rng_t is not thread-safe: use it from one thread at a time.
 */
#ifndef KOS_RNG_H
#define KOS_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KOS_RNG_PROTOCOL "kos_rng_protocol"
#define KOS_RNG_MAX_READ KOS_MSG_MAX_PAYLOAD

enum {
    KOS_RNG_READ = 1,
    KOS_RNG_STATS = 2,
};

/* What rng_server has done since it started. */
struct kos_rng_stats {
    uint64_t bytes;    /* random bytes served */
    uint64_t requests; /* read requests served */
    uint64_t reseeds;  /* reseeds from the kernel, the first seeding included */
};

typedef struct kos_rng kos_rng_t;

/* Requests kos_rng_protocol on `dir`, waiting up to `timeout_ms` for
 * rng_server to publish it, and returns the handle in *out. `timeout_ms` is
 * also the deadline of each call kos_rng_read() makes (the rule, and what 0
 * means for calls, is in msg.h, "Client libraries"). KOS_STATUS_UNAUTHORIZED
 * if the manifest does not grant the protocol. On success the handle belongs
 * to the caller; on error *out is untouched. Blocks. */
KOS_API KOS_MUST kos_status_t kos_rng_open(kos_dir_t *dir, int timeout_ms, kos_rng_t **out);

/* Fills buf[0..len) with random bytes, in as many calls as needed
 * (KOS_RNG_MAX_READ bytes each). On error the contents of buf are
 * unspecified and must not be used. Blocks. */
KOS_API KOS_MUST kos_status_t kos_rng_read(kos_rng_t *rng, void *buf, size_t len);

/* Fetches the server's counters. Blocks for one call. */
KOS_API KOS_MUST kos_status_t kos_rng_stats(kos_rng_t *rng, struct kos_rng_stats *out);

/* The token the handle calls on (for polling it, e.g. to notice a restart).
 * Owned by the handle. */
KOS_API kos_token_t *kos_rng_token(kos_rng_t *rng);

/* Gives the token up and frees the handle. kos_rng_close(NULL) does
 * nothing. */
KOS_API void kos_rng_close(kos_rng_t *rng);

#ifdef __cplusplus
}
#endif
#endif
