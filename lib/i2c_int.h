/*
 * i2c_int.h - the wire form of kos_i2c_protocol's transfers, shared by the
 * client (lib/i2c.c) and the i2c_server component. The layout is documented
 * in include/kos/i2c.h.
 */
#ifndef KOS_I2C_INT_H
#define KOS_I2C_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/i2c.h>

#define KOS__I2C_HDR     4u /* u16 n_msgs, u16 0 */
#define KOS__I2C_MSG_HDR 8u /* u16 addr, u16 flags, u16 len, u16 0 */

/* A decoded transfer, owned by whoever decodes it: each message's buf points
 * into `wdata` (writes) or `rdata` (reads), laid out in message order. */
struct kos__i2c_xfer {
    uint32_t n;
    struct kos_i2c_msg msgs[KOS_I2C_MAX_MSGS];
    uint32_t wlen; /* bytes written, in wdata */
    uint32_t rlen; /* bytes to read, into rdata */
    uint8_t wdata[KOS_MSG_MAX_PAYLOAD];
    uint8_t rdata[KOS_I2C_MAX_DATA];
};

/* Checks `msgs` and encodes them into out[0..cap) (cap should be
 * KOS_MSG_MAX_PAYLOAD), setting *len to the bytes used and *rlen to the bytes
 * the reply must carry. KOS_STATUS_INVALID_ARGUMENT for a bad count, address
 * or flag, KOS_STATUS_TOO_LARGE when the data does not fit. Never blocks. */
kos_status_t kos__i2c_encode(const struct kos_i2c_msg *msgs, size_t n, uint8_t *out, size_t cap,
                             uint32_t *len, uint32_t *rlen);

/* Decodes an untrusted request payload into *x. Checks every size before
 * reading it: KOS_STATUS_PROTOCOL if the payload is malformed (short, long,
 * nonzero reserved fields), KOS_STATUS_INVALID_ARGUMENT for a bad count,
 * address or flag, KOS_STATUS_TOO_LARGE when the reads exceed
 * KOS_I2C_MAX_DATA. On error *x is unspecified. Never blocks. */
kos_status_t kos__i2c_decode(const void *payload, size_t len, struct kos__i2c_xfer *x);

/* True if the message's address and flags are acceptable. */
bool kos__i2c_msg_valid(uint16_t addr, uint16_t flags);

/* The reply param of a bus fault, and back. */
static inline uint64_t kos__i2c_fault_param(int error, unsigned index)
{
    return (uint64_t)(uint32_t)error | ((uint64_t)index << 32);
}

#endif
