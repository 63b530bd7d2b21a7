/*
 * i2c.h - I2C buses, served by the i2c_server component (kos_i2c_protocol).
 *
 * An app reaches an I2C bus only through the i2c_server that owns it: it
 * requests the bus's protocol on a message server, then runs transfers. A
 * transfer is a list of messages, each a read or a write of some bytes at one
 * address, joined by repeated starts and ended by one stop, exactly like
 * Linux's I2C_RDWR. The server checks every message's address against the
 * addresses its manifest entry allows the calling app (see
 * docs/packages/i2c_server.md).
 *
 * Statuses of a transfer, besides the transport errors of kos_msg_call():
 *   KOS_STATUS_OK               every message went through
 *   KOS_STATUS_NOT_FOUND        no device acknowledged an address (a NACK of
 *                               the address byte; Linux's -ENXIO)
 *   KOS_STATUS_IO               another bus error: a NACK of a data byte
 *                               (-EREMOTEIO), lost arbitration, a timeout,
 *                               or the adapter failed
 *   KOS_STATUS_UNAUTHORIZED     the manifest does not let this app reach an
 *                               address in the transfer; nothing was sent
 *   KOS_STATUS_INVALID_ARGUMENT a message is malformed (address out of range,
 *                               unknown flag, too many messages)
 *   KOS_STATUS_TOO_LARGE        the written or read bytes do not fit in one
 *                               KOS message (see KOS_I2C_MAX_DATA)
 * After a bus error kos_i2c_last_fault() says which message failed and why.
 *
 * A kos_i2c_t is not thread-safe; use it from one thread at a time. Every
 * call here blocks for one round trip to the server, at most the handle's
 * timeout: the one kos_i2c_open() was given, unless kos_i2c_set_timeout()
 * says otherwise (the rule is in msg.h, "Client libraries").
 */
#ifndef KOS_I2C_H
#define KOS_I2C_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol an i2c_server publishes unless its manifest entry names
 * another (one i2c_server per bus). */
#define KOS_I2C_PROTOCOL "kos_i2c_protocol"

/* Message flags: the same bits as Linux's struct i2c_msg. */
#define KOS_I2C_M_RD  0x0001u /* read from the device; otherwise write */
#define KOS_I2C_M_TEN 0x0010u /* a 10-bit address */

/* At most this many messages in one transfer (Linux's I2C_RDWR limit). */
#define KOS_I2C_MAX_MSGS 42u
/* The written bytes of one transfer, with its message headers, fit in one
 * KOS message: 4 + 8 * n_msgs + written bytes <= KOS_MSG_MAX_PAYLOAD. The
 * read bytes of one transfer are at most KOS_I2C_MAX_DATA. */
#define KOS_I2C_MAX_DATA KOS_MSG_MAX_PAYLOAD

/* Bus features (kos_i2c_funcs()): the same bits as Linux's I2C_FUNC_*. */
#define KOS_I2C_FUNC_I2C                   0x00000001u /* plain I2C transfers */
#define KOS_I2C_FUNC_10BIT_ADDR            0x00000002u
#define KOS_I2C_FUNC_PROTOCOL_MANGLING     0x00000004u
#define KOS_I2C_FUNC_NOSTART               0x00000010u
#define KOS_I2C_FUNC_SMBUS_QUICK           0x00010000u
#define KOS_I2C_FUNC_SMBUS_READ_BYTE       0x00020000u
#define KOS_I2C_FUNC_SMBUS_WRITE_BYTE      0x00040000u
#define KOS_I2C_FUNC_SMBUS_READ_BYTE_DATA  0x00080000u
#define KOS_I2C_FUNC_SMBUS_WRITE_BYTE_DATA 0x00100000u
#define KOS_I2C_FUNC_SMBUS_READ_WORD_DATA  0x00200000u
#define KOS_I2C_FUNC_SMBUS_WRITE_WORD_DATA 0x00400000u
#define KOS_I2C_FUNC_SMBUS_READ_I2C_BLOCK  0x04000000u
#define KOS_I2C_FUNC_SMBUS_WRITE_I2C_BLOCK 0x08000000u

/*
 * The protocol's labels. Every integer on the wire is little-endian.
 *
 * KOS_I2C_LABEL_TRANSFER: param 0; payload
 *     u16 n_msgs (1..KOS_I2C_MAX_MSGS), u16 0,
 *     n_msgs x { u16 addr, u16 flags, u16 len, u16 0 },
 *     then the bytes of every write message, in message order.
 *   Reply on KOS_STATUS_OK: the bytes of every read message, in message
 *   order (exactly the sum of their lengths). On a bus error (NOT_FOUND, IO)
 *   the reply's param is the fault: bits 0-31 a positive errno value
 *   (ENXIO, EREMOTEIO, EIO, ETIMEDOUT, EAGAIN, ...), bits 32-63 the index of
 *   the message that failed.
 * KOS_I2C_LABEL_FUNCS: no param, no payload. Reply param: KOS_I2C_FUNC_* bits.
 * Any other label is answered with KOS_STATUS_UNSUPPORTED.
 */
enum {
    KOS_I2C_LABEL_TRANSFER = 1,
    KOS_I2C_LABEL_FUNCS = 2,
};

/* One message of a transfer. `buf` holds `len` bytes to write, or receives
 * `len` bytes read; it belongs to the caller. `addr` is 7-bit (0..0x7f)
 * unless `flags` has KOS_I2C_M_TEN (0..0x3ff). */
struct kos_i2c_msg {
    uint16_t addr;
    uint16_t flags;
    uint16_t len;
    uint8_t *buf;
};

/* Why the last transfer failed on the bus. */
struct kos_i2c_fault {
    int error;      /* a positive errno value; 0 if the last call had no bus error */
    unsigned index; /* the message that failed */
};

typedef struct kos_i2c kos_i2c_t;

/* Requests `protocol` (NULL means KOS_I2C_PROTOCOL) on `dir`, waiting up to
 * `timeout_ms` for the server to publish it (`timeout_ms` is also the
 * deadline of every later call, see msg.h), and returns a bus handle in
 * *out, which belongs to the caller (free it with kos_i2c_close()). Statuses
 * are those of kos_dir_request(): KOS_STATUS_UNAUTHORIZED if the manifest
 * does not grant this app the protocol. On error nothing is held. */
KOS_API KOS_MUST kos_status_t kos_i2c_open(kos_dir_t *dir, const char *protocol, int timeout_ms,
                                           kos_i2c_t **out);

/* Gives up the bus. kos_i2c_close(NULL) does nothing. */
KOS_API void kos_i2c_close(kos_i2c_t *bus);

/* Sets how long each call waits for the server (milliseconds, -1 forever, 0
 * KOS_CLIENT_TIMEOUT_MS). */
KOS_API void kos_i2c_set_timeout(kos_i2c_t *bus, int timeout_ms);

/* Runs `n` messages as one transfer: a start, each message (joined by
 * repeated starts), a stop. On KOS_STATUS_OK every read message's buffer
 * holds the bytes read; on error read buffers are unspecified. */
KOS_API KOS_MUST kos_status_t kos_i2c_transfer(kos_i2c_t *bus, struct kos_i2c_msg *msgs, size_t n);

/* Reads `len` bytes from the 7-bit address `addr` (one read message). */
KOS_API KOS_MUST kos_status_t kos_i2c_read(kos_i2c_t *bus, uint16_t addr, void *buf, size_t len);

/* Writes `len` bytes to `addr` (one write message). */
KOS_API KOS_MUST kos_status_t kos_i2c_write(kos_i2c_t *bus, uint16_t addr, const void *buf,
                                            size_t len);

/* Writes `wlen` bytes to `addr`, then after a repeated start reads `rlen`
 * bytes from it: how a register or memory address is read. */
KOS_API KOS_MUST kos_status_t kos_i2c_write_read(kos_i2c_t *bus, uint16_t addr, const void *wbuf,
                                                 size_t wlen, void *rbuf, size_t rlen);

/* The bus's features in *funcs (KOS_I2C_FUNC_* bits). */
KOS_API KOS_MUST kos_status_t kos_i2c_funcs(kos_i2c_t *bus, uint32_t *funcs);

/* Why the last call on this handle failed on the bus (error 0 if it did
 * not). Never blocks. */
KOS_API void kos_i2c_last_fault(const kos_i2c_t *bus, struct kos_i2c_fault *out);

#ifdef __cplusplus
}
#endif
#endif
