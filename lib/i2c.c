/*
 * i2c.c - the client side of kos_i2c_protocol (include/kos/i2c.h) and the
 * protocol's wire codec, which the i2c_server component shares.
 *
 * A bus handle is a token for an i2c_server's protocol, a call timeout and
 * the fault of the last call. Encoding checks everything the server will
 * check, so a well-meaning caller learns of a bad message without a round
 * trip; the server checks again, as it must.
 */
#include <stdlib.h>
#include <string.h>

#include <kos/i2c.h>

#include "client_int.h"
#include "i2c_int.h"

struct kos_i2c {
    struct kos__client c; /* first: see client_int.h */
    struct kos_i2c_fault fault;
    uint8_t req[KOS_MSG_MAX_PAYLOAD];
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

bool kos__i2c_msg_valid(uint16_t addr, uint16_t flags)
{
    if (flags & ~(KOS_I2C_M_RD | KOS_I2C_M_TEN))
        return false;
    return addr <= ((flags & KOS_I2C_M_TEN) ? 0x3ffu : 0x7fu);
}

kos_status_t kos__i2c_encode(const struct kos_i2c_msg *msgs, size_t n, uint8_t *out, size_t cap,
                             uint32_t *len, uint32_t *rlen)
{
    size_t used, reads = 0;

    if (n == 0 || n > KOS_I2C_MAX_MSGS || (!msgs && n))
        return KOS_STATUS_INVALID_ARGUMENT;
    used = KOS__I2C_HDR + KOS__I2C_MSG_HDR * n;
    if (used > cap)
        return KOS_STATUS_TOO_LARGE;
    put16(out, (uint16_t)n);
    put16(out + 2, 0);
    for (size_t i = 0; i < n; i++) {
        const struct kos_i2c_msg *m = &msgs[i];
        uint8_t *h = out + KOS__I2C_HDR + KOS__I2C_MSG_HDR * i;

        if (!kos__i2c_msg_valid(m->addr, m->flags) || (m->len && !m->buf))
            return KOS_STATUS_INVALID_ARGUMENT;
        put16(h, m->addr);
        put16(h + 2, m->flags);
        put16(h + 4, m->len);
        put16(h + 6, 0);
        if (m->flags & KOS_I2C_M_RD) {
            reads += m->len;
            if (reads > KOS_I2C_MAX_DATA)
                return KOS_STATUS_TOO_LARGE;
            continue;
        }
        if (m->len > cap - used)
            return KOS_STATUS_TOO_LARGE;
        if (m->len)
            memcpy(out + used, m->buf, m->len);
        used += m->len;
    }
    *len = (uint32_t)used;
    *rlen = (uint32_t)reads;
    return KOS_STATUS_OK;
}

kos_status_t kos__i2c_decode(const void *payload, size_t len, struct kos__i2c_xfer *x)
{
    const uint8_t *p = payload;
    size_t n, off;

    if (len < KOS__I2C_HDR || (!p && len))
        return KOS_STATUS_PROTOCOL;
    if (len > KOS_MSG_MAX_PAYLOAD)
        return KOS_STATUS_TOO_LARGE;
    n = get16(p);
    if (get16(p + 2) != 0)
        return KOS_STATUS_PROTOCOL;
    if (n == 0 || n > KOS_I2C_MAX_MSGS)
        return KOS_STATUS_INVALID_ARGUMENT;
    off = KOS__I2C_HDR + KOS__I2C_MSG_HDR * n;
    if (len < off)
        return KOS_STATUS_PROTOCOL;
    x->n = (uint32_t)n;
    x->wlen = 0;
    x->rlen = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *h = p + KOS__I2C_HDR + KOS__I2C_MSG_HDR * i;
        struct kos_i2c_msg *m = &x->msgs[i];

        m->addr = get16(h);
        m->flags = get16(h + 2);
        m->len = get16(h + 4);
        if (get16(h + 6) != 0)
            return KOS_STATUS_PROTOCOL;
        if (!kos__i2c_msg_valid(m->addr, m->flags))
            return KOS_STATUS_INVALID_ARGUMENT;
        if (m->flags & KOS_I2C_M_RD) {
            if (m->len > KOS_I2C_MAX_DATA - x->rlen)
                return KOS_STATUS_TOO_LARGE;
            m->buf = x->rdata + x->rlen;
            x->rlen += m->len;
        } else {
            if (m->len > len - off)
                return KOS_STATUS_PROTOCOL; /* claims more bytes than were sent */
            m->buf = x->wdata + x->wlen;
            memcpy(m->buf, p + off, m->len);
            off += m->len;
            x->wlen += m->len;
        }
    }
    if (off != len)
        return KOS_STATUS_PROTOCOL; /* trailing bytes */
    return KOS_STATUS_OK;
}

kos_status_t kos_i2c_open(kos_dir_t *dir, const char *protocol, int timeout_ms, kos_i2c_t **out)
{
    return kos__client_open(dir, protocol ? protocol : KOS_I2C_PROTOCOL, timeout_ms,
                            sizeof(struct kos_i2c), out);
}

void kos_i2c_close(kos_i2c_t *bus)
{
    kos__client_close(bus, sizeof(*bus));
}

void kos_i2c_set_timeout(kos_i2c_t *bus, int timeout_ms)
{
    kos__client_set_timeout(&bus->c, timeout_ms);
}

kos_status_t kos_i2c_transfer(kos_i2c_t *bus, struct kos_i2c_msg *msgs, size_t n)
{
    struct kos_msg req = {.label = KOS_I2C_LABEL_TRANSFER}, reply = {0};
    uint32_t len, rlen;
    const uint8_t *r;
    kos_status_t st;

    bus->fault = (struct kos_i2c_fault){0};
    st = kos__i2c_encode(msgs, n, bus->req, sizeof(bus->req), &len, &rlen);
    if (st)
        return st;
    req.payload = bus->req;
    req.len = len;
    st = kos__client_call(&bus->c, &req, &reply);
    if (st == KOS_STATUS_NOT_FOUND || st == KOS_STATUS_IO) {
        bus->fault.error = (int)(uint32_t)reply.param;
        bus->fault.index = (unsigned)(reply.param >> 32);
        return st;
    }
    if (st)
        return st;
    if (reply.len != rlen || (rlen && !reply.payload))
        return KOS_STATUS_PROTOCOL;
    r = reply.payload;
    for (size_t i = 0; i < n; i++) {
        if (!(msgs[i].flags & KOS_I2C_M_RD) || !msgs[i].len)
            continue;
        memcpy(msgs[i].buf, r, msgs[i].len);
        r += msgs[i].len;
    }
    return KOS_STATUS_OK;
}

kos_status_t kos_i2c_read(kos_i2c_t *bus, uint16_t addr, void *buf, size_t len)
{
    struct kos_i2c_msg m = {.addr = addr, .flags = KOS_I2C_M_RD, .len = (uint16_t)len, .buf = buf};

    if (len > KOS_I2C_MAX_DATA)
        return KOS_STATUS_TOO_LARGE;
    return kos_i2c_transfer(bus, &m, 1);
}

kos_status_t kos_i2c_write(kos_i2c_t *bus, uint16_t addr, const void *buf, size_t len)
{
    /* The buffer is only read: transfer() copies write messages out. */
    struct kos_i2c_msg m = {.addr = addr, .len = (uint16_t)len, .buf = (uint8_t *)(uintptr_t)buf};

    if (len > KOS_I2C_MAX_DATA)
        return KOS_STATUS_TOO_LARGE;
    return kos_i2c_transfer(bus, &m, 1);
}

kos_status_t kos_i2c_write_read(kos_i2c_t *bus, uint16_t addr, const void *wbuf, size_t wlen,
                                void *rbuf, size_t rlen)
{
    struct kos_i2c_msg m[2] = {
        {.addr = addr, .len = (uint16_t)wlen, .buf = (uint8_t *)(uintptr_t)wbuf},
        {.addr = addr, .flags = KOS_I2C_M_RD, .len = (uint16_t)rlen, .buf = rbuf},
    };

    if (wlen > KOS_I2C_MAX_DATA || rlen > KOS_I2C_MAX_DATA)
        return KOS_STATUS_TOO_LARGE;
    return kos_i2c_transfer(bus, m, 2);
}

kos_status_t kos_i2c_funcs(kos_i2c_t *bus, uint32_t *funcs)
{
    struct kos_msg req = {.label = KOS_I2C_LABEL_FUNCS}, reply = {0};
    kos_status_t st;

    bus->fault = (struct kos_i2c_fault){0};
    st = kos__client_call(&bus->c, &req, &reply);
    if (st)
        return st;
    if (reply.param > UINT32_MAX)
        return KOS_STATUS_PROTOCOL;
    *funcs = (uint32_t)reply.param;
    return KOS_STATUS_OK;
}

void kos_i2c_last_fault(const kos_i2c_t *bus, struct kos_i2c_fault *out)
{
    *out = bus->fault;
}
