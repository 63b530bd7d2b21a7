/*
 * tunnel_int.h - kos_tunnel_protocol's status reply and a fetch's request
 * and result, encoded by one side and decoded by the other (the tunnel
 * component, lib/tunnel.c). The layout is in
 * include/kos/tunnel.h.
 */
#ifndef KOS_TUNNEL_INT_H
#define KOS_TUNNEL_INT_H

#include <stddef.h>
#include <stdint.h>

#include <kos/tunnel.h>

/* Encodes *st into out (KOS_TUNNEL_STATUS_SIZE bytes suffice); returns the
 * length. Never blocks. */
size_t kos__tunnel_status_encode(const struct kos_tunnel_status *st, uint8_t *out);

/* Decodes an untrusted status reply p[0..n), checking every length.
 * KOS_STATUS_PROTOCOL when it is malformed. Never blocks. */
kos_status_t kos__tunnel_status_decode(const uint8_t *p, size_t n, struct kos_tunnel_status *st)
    __attribute__((warn_unused_result));

/* FETCH's payload: the blob's SHA-256, u64 from, u64 to (little-endian). */
#define KOS__TUNNEL_FETCH_SIZE 48u

/* Encodes a FETCH request into out. Never blocks. */
void kos__tunnel_fetch_encode(const uint8_t sha256[32], uint64_t from, uint64_t to,
                              uint8_t out[KOS__TUNNEL_FETCH_SIZE]);

/* Decodes an untrusted FETCH request p[0..n): exactly 48 bytes, from < to
 * <= KOS_TUNNEL_FETCH_MAX. KOS_STATUS_PROTOCOL otherwise, and nothing is
 * set but *from and *to. Never blocks. */
kos_status_t kos__tunnel_fetch_decode(const uint8_t *p, size_t n, uint8_t sha256[32],
                                      uint64_t *from, uint64_t *to)
    __attribute__((warn_unused_result));

/* Encodes FETCH_RESULT's payload into out (8 + KOS_TUNNEL_WHY_MAX bytes
 * suffice): u64 bytes written, then why (at most KOS_TUNNEL_WHY_MAX bytes
 * of it; NULL for none). Returns the length. Never blocks. */
size_t kos__tunnel_result_encode(uint64_t written, const char *why, uint8_t *out);

/* Decodes an untrusted FETCH_RESULT payload p[0..n): empty (no fetch), or
 * u64 written (at most KOS_TUNNEL_FETCH_MAX) and at most
 * KOS_TUNNEL_WHY_MAX bytes of why, copied into why (whylen bytes, may be
 * NULL) with anything but printable ASCII as '?'. KOS_STATUS_PROTOCOL when
 * it is malformed. Never blocks. */
kos_status_t kos__tunnel_result_decode(const uint8_t *p, size_t n, uint64_t *written, char *why,
                                       size_t whylen) __attribute__((warn_unused_result));

#endif
