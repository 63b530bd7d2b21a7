/*
 * sim.c - a simulated I2C bus with device models, for the `sim` platform and
 * for tests.
 *
 * The bus plays a transfer the way the wire would: for each message a start
 * (or repeated start) and the address byte, which the device at that address
 * acknowledges and nobody else does; then the data bytes, each acknowledged
 * (or not) by the device; at the end one stop, which every device addressed
 * in the transfer sees. The models follow their datasheets:
 *
 *  - TMP102 (TI SBOS397): a pointer register selects temperature (read-only),
 *    configuration, T_LOW or T_HIGH; a write sets the pointer and, with two
 *    more bytes (MSB first), the register; a read returns the selected
 *    register MSB first. Temperatures are 12-bit two's complement in 1/16 degC,
 *    left-justified (13-bit with bit 0 set in extended mode, EM). Power-up
 *    config 0x60A0, T_LOW 75 degC, T_HIGH 80 degC. Shutdown (SD) freezes the
 *    temperature register; OS in shutdown runs one conversion. The alert bit
 *    (AL) follows comparator or interrupt mode with the fault queue (F1/F0)
 *    and polarity (POL).
 *  - 24C02 (AT24C02): 256 bytes, one internal address counter. A write sets
 *    the counter from its first data byte (the word address); following
 *    bytes are latched into the 8-byte page, the counter's low 3 bits
 *    wrapping within the page, and written at the stop. A read returns
 *    bytes from the counter on, wrapping from 0xFF to 0x00; a random read is
 *    a write of the word address then a repeated start and a read. A start
 *    before the stop abandons latched bytes, as the write cycle starts only
 *    at a stop. The write cycle itself takes no simulated time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i2csrv.h"

/* ---- TMP102 ---- */

static const unsigned tmp102_faults[4] = {1, 2, 4, 6}; /* F1/F0 */

void tmp102_init(struct tmp102 *t, int32_t temp_mc, int32_t step_mc)
{
    memset(t, 0, sizeof(*t));
    t->temp_mc = temp_mc;
    t->step_mc = step_mc;
    t->config = TMP102_CONFIG_POWER_UP & ~(TMP102_CFG_R | TMP102_CFG_AL);
    t->tlow = 75 * 16;
    t->thigh = 80 * 16;
    t->temp = tmp102_from_mc(temp_mc, false);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int16_t tmp102_from_mc(int32_t mc, bool extended)
{
    /* Round to the nearest 1/16 degC: (mc * 16 + 500) / 1000, floored. */
    int64_t v = floor_div((int64_t)mc * 16 + 500, 1000);
    int64_t lo = extended ? -4096 : -2048, hi = extended ? 4095 : 2047;
    return (int16_t)(v < lo ? lo : v > hi ? hi : v);
}

static bool tmp102_em(const struct tmp102 *t)
{
    return t->config & TMP102_CFG_EM;
}

/* A temperature in the register format of the current mode. */
static uint16_t tmp102_encode(const struct tmp102 *t, int16_t v, bool is_temp)
{
    if (tmp102_em(t)) {
        if (v > 4095)
            v = 4095;
        return (uint16_t)((uint16_t)v << 3) | (is_temp ? 1u : 0u);
    }
    if (v > 2047)
        v = 2047;
    if (v < -2048)
        v = -2048;
    return (uint16_t)((uint16_t)v << 4);
}

static int16_t tmp102_decode(const struct tmp102 *t, uint16_t reg)
{
    return (int16_t)((int16_t)reg >> (tmp102_em(t) ? 3 : 4));
}

uint16_t tmp102_reg(const struct tmp102 *t, unsigned reg)
{
    uint16_t c;

    switch (reg & 3) {
    case TMP102_REG_TEMP:
        return tmp102_encode(t, t->temp, true);
    case TMP102_REG_CONFIG:
        c = (uint16_t)((t->config & ~TMP102_CFG_OS) | TMP102_CFG_R);
        if (t->one_shot_done && (t->config & TMP102_CFG_SD))
            c |= TMP102_CFG_OS;
        /* AL reads as the inverse of the alert unless POL is set. */
        if (t->alert == !!(t->config & TMP102_CFG_POL))
            c |= TMP102_CFG_AL;
        return c;
    case TMP102_REG_TLOW:
        return tmp102_encode(t, t->tlow, false);
    default:
        return tmp102_encode(t, t->thigh, false);
    }
}

/* One conversion: latch the simulated temperature, update the alert. */
static void tmp102_convert(struct tmp102 *t)
{
    unsigned need = tmp102_faults[(t->config & TMP102_CFG_F) >> 11];

    t->temp = tmp102_from_mc(t->temp_mc, tmp102_em(t));
    if (t->step_mc) {
        /* Stays within the temperatures the settings accept (absolute
         * zero to 1000 degC), so a long run never overflows. */
        int64_t next = (int64_t)t->temp_mc + t->step_mc;
        t->temp_mc = (int32_t)(next < -273150 ? -273150 : next > 1000000 ? 1000000 : next);
    }
    if (t->temp >= t->thigh) {
        t->hi_count++;
        t->lo_count = 0;
    } else if (t->temp < t->tlow) {
        t->lo_count++;
        t->hi_count = 0;
    } else {
        t->hi_count = t->lo_count = 0;
    }
    if (t->hi_count >= need)
        t->alert = true; /* comparator: active; interrupt: fires */
    else if (t->lo_count >= need && !(t->config & TMP102_CFG_TM))
        t->alert = false; /* comparator clears below T_LOW */
    else if (t->lo_count >= need)
        t->alert = true; /* interrupt mode also fires below T_LOW */
}

static bool tmp102_start(struct tmp102 *t, bool read)
{
    t->reading = read;
    t->pos = 0;
    if (read && (t->ptr & 3) == TMP102_REG_TEMP && !(t->config & TMP102_CFG_SD))
        tmp102_convert(t); /* continuous mode: a fresh conversion is ready */
    if (read && (t->config & TMP102_CFG_TM))
        t->alert = false; /* interrupt mode: any read clears it */
    return true;
}

static void tmp102_write_reg(struct tmp102 *t, uint16_t v)
{
    switch (t->ptr & 3) {
    case TMP102_REG_TEMP:
        break; /* read-only */
    case TMP102_REG_CONFIG: {
        bool was_em = tmp102_em(t);
        t->config = v & (TMP102_CFG_F | TMP102_CFG_POL | TMP102_CFG_TM | TMP102_CFG_SD |
                         TMP102_CFG_CR | TMP102_CFG_EM);
        t->one_shot_done = false;
        if ((v & TMP102_CFG_OS) && (v & TMP102_CFG_SD)) {
            tmp102_convert(t); /* one-shot: instantaneous here */
            t->one_shot_done = true;
        } else if (was_em != tmp102_em(t)) {
            t->temp = tmp102_from_mc(t->temp_mc, tmp102_em(t));
        }
        break;
    }
    case TMP102_REG_TLOW:
        t->tlow = tmp102_decode(t, v);
        break;
    default:
        t->thigh = tmp102_decode(t, v);
    }
}

static bool tmp102_write(struct tmp102 *t, uint8_t b)
{
    /* First byte: the pointer (P7..P2 are zero on the datasheet; only P1/P0
     * select). Then MSB and LSB, repeating for further pairs. */
    if (t->pos++ == 0) {
        t->ptr = b & 3;
        return true;
    }
    if (t->pos % 2 == 0)
        t->msb = b;
    else
        tmp102_write_reg(t, (uint16_t)(t->msb << 8 | b));
    return true;
}

static uint8_t tmp102_read(struct tmp102 *t)
{
    uint16_t v = tmp102_reg(t, t->ptr);
    return (t->pos++ % 2 == 0) ? (uint8_t)(v >> 8) : (uint8_t)v;
}

/* ---- 24C02 ---- */

void at24_init(struct at24 *e)
{
    memset(e, 0, sizeof(*e));
    memset(e->mem, 0xff, sizeof(e->mem)); /* erased, as shipped */
}

static bool at24_start(struct at24 *e, bool read)
{
    e->reading = read;
    e->got_word = false;
    e->latched = 0; /* a (repeated) start abandons an unfinished page write */
    return true;
}

static bool at24_write(struct at24 *e, uint8_t b)
{
    if (!e->got_word) {
        e->addr = b;
        e->got_word = true;
        e->page = b & (uint8_t) ~(AT24_PAGE - 1);
        return true;
    }
    e->latch[e->addr & (AT24_PAGE - 1)] = b;
    e->latched |= (uint8_t)(1u << (e->addr & (AT24_PAGE - 1)));
    e->addr = (uint8_t)(e->page | ((e->addr + 1) & (AT24_PAGE - 1)));
    return true;
}

static uint8_t at24_read(struct at24 *e)
{
    return e->mem[e->addr++]; /* uint8_t: wraps from 0xff to 0x00 */
}

static void at24_stop(struct at24 *e)
{
    for (unsigned i = 0; i < AT24_PAGE; i++)
        if (e->latched & (1u << i))
            e->mem[e->page + i] = e->latch[i];
    e->latched = 0;
}

/* ---- the bus ---- */

struct sim_device *sim_find(struct sim_bus *bus, uint16_t addr)
{
    for (uint32_t i = 0; i < bus->n; i++)
        if (bus->dev[i].addr == addr)
            return &bus->dev[i];
    return NULL;
}

static bool dev_start(struct sim_device *d, bool read)
{
    return d->model == SIM_TMP102 ? tmp102_start(&d->u.tmp102, read) : at24_start(&d->u.at24, read);
}

static bool dev_write(struct sim_device *d, uint8_t b)
{
    return d->model == SIM_TMP102 ? tmp102_write(&d->u.tmp102, b) : at24_write(&d->u.at24, b);
}

static uint8_t dev_read(struct sim_device *d)
{
    return d->model == SIM_TMP102 ? tmp102_read(&d->u.tmp102) : at24_read(&d->u.at24);
}

static void dev_stop(struct sim_device *d)
{
    if (d->model == SIM_AT24C02)
        at24_stop(&d->u.at24);
}

kos_status_t sim_transfer(void *ctx, struct kos_i2c_msg *msgs, uint32_t n,
                          struct kos_i2c_fault *fault)
{
    struct sim_bus *bus = ctx;
    struct sim_device *touched[KOS_I2C_MAX_MSGS];
    uint32_t n_touched = 0;
    kos_status_t st = KOS_STATUS_OK;

    for (uint32_t i = 0; i < n && !st; i++) {
        struct kos_i2c_msg *m = &msgs[i];
        bool read = m->flags & KOS_I2C_M_RD;
        /* No simulated device has a 10-bit address: those NACK. */
        struct sim_device *d = (m->flags & KOS_I2C_M_TEN) ? NULL : sim_find(bus, m->addr);

        if (!d || !dev_start(d, read)) {
            *fault = (struct kos_i2c_fault){.error = ENXIO, .index = i};
            st = KOS_STATUS_NOT_FOUND;
            break;
        }
        bool seen = false;
        for (uint32_t j = 0; j < n_touched; j++)
            seen |= touched[j] == d;
        if (!seen)
            touched[n_touched++] = d;
        for (uint32_t k = 0; k < m->len; k++) {
            if (read) {
                m->buf[k] = dev_read(d);
            } else if (!dev_write(d, m->buf[k])) {
                *fault = (struct kos_i2c_fault){.error = EREMOTEIO, .index = i};
                st = KOS_STATUS_IO;
                break;
            }
        }
    }
    /* The stop ends the transfer for every device that took part. */
    for (uint32_t j = 0; j < n_touched; j++)
        dev_stop(touched[j]);
    return st;
}

void sim_backend(struct sim_bus *bus, struct i2c_backend *be)
{
    *be = (struct i2c_backend){
        .name = "sim",
        .ctx = bus,
        .transfer = sim_transfer,
        .funcs = KOS_I2C_FUNC_I2C | KOS_I2C_FUNC_SMBUS_QUICK,
    };
}

static const struct {
    const char *name;
    enum sim_model model;
} models[] = {
    {"tmp102", SIM_TMP102},
    {"24c02", SIM_AT24C02},
    {"at24c02", SIM_AT24C02},
};

kos_status_t sim_init(struct sim_bus *bus, const char *devices, int32_t temp_mc, int32_t step_mc,
                      char *err, size_t errlen)
{
    const char *p = devices ? devices : "";

    memset(bus, 0, sizeof(*bus));
    while (*p) {
        char name[16];
        unsigned long addr;
        char *end;
        size_t len, m;

        while (*p == ' ')
            p++;
        len = strcspn(p, "@,");
        if (p[len] != '@' || len == 0 || len >= sizeof(name)) {
            snprintf(err, errlen, "devices: expected MODEL@ADDRESS at '%.20s'", p);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        for (m = 0; m < sizeof(models) / sizeof(models[0]); m++)
            if (!strcmp(models[m].name, name))
                break;
        if (m == sizeof(models) / sizeof(models[0])) {
            snprintf(err, errlen, "devices: unknown model '%s'; known models: tmp102, 24c02", name);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        p += len + 1;
        if (*p < '0' || *p > '9') {
            snprintf(err, errlen, "devices: '%s' needs an address such as 0x48", name);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        addr = strtoul(p, &end, 0);
        if (end == p || (*end && *end != ',' && *end != ' ') || addr < 0x08 || addr > 0x77) {
            snprintf(err, errlen,
                     "devices: bad address for '%s' at '%.20s'; 7-bit addresses 0x08..0x77", name,
                     p);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        if (sim_find(bus, (uint16_t)addr)) {
            snprintf(err, errlen, "devices: two devices at address 0x%02lx", addr);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        if (bus->n == SIM_MAX_DEVICES) {
            snprintf(err, errlen, "devices: at most %u devices", SIM_MAX_DEVICES);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        struct sim_device *d = &bus->dev[bus->n++];
        d->addr = (uint16_t)addr;
        d->model = models[m].model;
        if (d->model == SIM_TMP102)
            tmp102_init(&d->u.tmp102, temp_mc, step_mc);
        else
            at24_init(&d->u.at24);
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
    }
    return KOS_STATUS_OK;
}
