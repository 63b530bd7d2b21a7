/*
 * tunnel_int.h - kos_tunnel_protocol's status reply, encoded by the tunnel
 * component and decoded by the client (lib/tunnel.c). The layout is in
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

#endif
