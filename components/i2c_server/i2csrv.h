/*
 * i2csrv.h - the pieces of the i2c_server component: the back-end interface,
 * the simulated bus and its device models, the i2c-dev back end, the access
 * list, and the request handler that ties them together. Private to the
 * component (and its unit tests).
 */
#ifndef I2CSRV_H
#define I2CSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/i2c.h>

#include "budget_int.h"
#include "i2c_int.h"

/* ---- back ends ---- */

/* A bus. transfer() runs the messages as one transfer; on a bus error it
 * returns KOS_STATUS_NOT_FOUND (address NACK) or KOS_STATUS_IO and fills
 * *fault. */
struct i2c_backend {
    const char *name;
    void *ctx;
    kos_status_t (*transfer)(void *ctx, struct kos_i2c_msg *msgs, uint32_t n,
                             struct kos_i2c_fault *fault);
    uint32_t funcs; /* KOS_I2C_FUNC_* */
};

/* ---- the simulated bus ---- */

#define SIM_MAX_DEVICES 16u

/* TMP102 digital temperature sensor (TI SBOS397). Temperatures are in
 * 1/16 degC (the sensor's LSB, 0.0625 degC) unless named _mc
 * (millidegrees). */
struct tmp102 {
    int32_t temp_mc;             /* the simulated temperature */
    int32_t step_mc;             /* added to it after each conversion */
    int16_t temp;                /* the last conversion */
    int16_t tlow, thigh;         /* alert limits */
    uint16_t config;             /* the writable bits (OS, F1, F0, POL, TM, SD, CR1, CR0, EM) */
    uint8_t ptr;                 /* pointer register: 0 temp, 1 config, 2 T_LOW, 3 T_HIGH */
    bool reading;                /* the current message reads */
    unsigned pos;                /* bytes of the current message so far */
    uint8_t msb;                 /* the first data byte of a register write */
    bool alert;                  /* the comparator/interrupt output is active */
    bool one_shot_done;          /* OS reads 1: a one-shot conversion finished */
    unsigned hi_count, lo_count; /* consecutive faults (F1/F0) */
};

#define TMP102_REG_TEMP        0u
#define TMP102_REG_CONFIG      1u
#define TMP102_REG_TLOW        2u
#define TMP102_REG_THIGH       3u
#define TMP102_CONFIG_POWER_UP 0x60a0u
/* Config register bits (byte 1 is the high byte). */
#define TMP102_CFG_OS  0x8000u
#define TMP102_CFG_R   0x6000u /* converter resolution: read-only 11 (12 bits) */
#define TMP102_CFG_F   0x1800u
#define TMP102_CFG_POL 0x0400u
#define TMP102_CFG_TM  0x0200u
#define TMP102_CFG_SD  0x0100u
#define TMP102_CFG_CR  0x00c0u
#define TMP102_CFG_AL  0x0020u /* read-only */
#define TMP102_CFG_EM  0x0010u

void tmp102_init(struct tmp102 *t, int32_t temp_mc, int32_t step_mc);
/* The register's 16-bit value as the sensor would send it (MSB first). */
uint16_t tmp102_reg(const struct tmp102 *t, unsigned reg);
/* A temperature in 1/16 degC, rounded to nearest, from millidegrees. */
int16_t tmp102_from_mc(int32_t mc, bool extended);

/* 24C02 2-Kbit (256 x 8) serial EEPROM (Atmel/Microchip AT24C02). */
#define AT24_SIZE 256u
#define AT24_PAGE 8u
struct at24 {
    uint8_t mem[AT24_SIZE];
    uint8_t addr; /* the internal data word address counter */
    bool reading;
    bool got_word;            /* the word address byte of a write has arrived */
    uint8_t latch[AT24_PAGE]; /* page buffer, written to memory at STOP */
    uint8_t latched;          /* bit i: latch[i] holds a byte to write */
    uint8_t page;             /* the latched bytes' page (address & ~7) */
};

void at24_init(struct at24 *e);

enum sim_model {
    SIM_TMP102 = 1,
    SIM_AT24C02,
};

struct sim_device {
    uint16_t addr;
    enum sim_model model;
    union {
        struct tmp102 tmp102;
        struct at24 at24;
    } u;
};

struct sim_bus {
    uint32_t n;
    struct sim_device dev[SIM_MAX_DEVICES];
};

/* Builds the bus from a device list "MODEL@ADDR[,MODEL@ADDR...]" (models
 * tmp102, 24c02; addresses 0x08..0x77, hex with 0x or decimal) with TMP102s
 * at `temp_mc` changing by `step_mc` per conversion. On error writes a
 * sentence naming what was wrong to err and returns
 * KOS_STATUS_INVALID_ARGUMENT. */
kos_status_t sim_init(struct sim_bus *bus, const char *devices, int32_t temp_mc, int32_t step_mc,
                      char *err, size_t errlen);
/* The device at a 7-bit address, or NULL. */
struct sim_device *sim_find(struct sim_bus *bus, uint16_t addr);
/* Runs a transfer on the simulated bus (see struct i2c_backend). */
kos_status_t sim_transfer(void *bus, struct kos_i2c_msg *msgs, uint32_t n,
                          struct kos_i2c_fault *fault);
void sim_backend(struct sim_bus *bus, struct i2c_backend *be);

/* ---- the i2c-dev back end ---- */

/* A back end on an open /dev/i2c-N descriptor (not owned). Asks the
 * adapter's features with I2C_FUNCS; KOS_STATUS_IO if that fails (not an
 * I2C adapter). */
kos_status_t i2cdev_backend(int fd, struct i2c_backend *be);

/* ---- access list ---- */

#define ACL_MAX_APPS 64u

/* Which app may reach which addresses: "APP=ADDR[,ADDR...][;APP=...]",
 * each ADDR a number (0x48, 72), a range (0x50-0x57) or "*". */
struct acl {
    uint32_t n;
    struct {
        char app[KOS_PROTOCOL_NAME_MAX + 1];
        uint8_t bits[1024 / 8]; /* 10-bit address space */
    } e[ACL_MAX_APPS];
};

/* Parses an allow list (NULL or "" allows nothing). On error writes a
 * sentence naming the problem and where to err. */
kos_status_t acl_parse(struct acl *acl, const char *text, char *err, size_t errlen);
bool acl_allows(const struct acl *acl, const char *app, uint16_t addr);

/* ---- the request handler ---- */

/* The lines about one app's requests are logged at most I2CSRV_LOG_BURST
 * at once, then one per I2CSRV_LOG_EVERY_MS (as the message server's), the
 * next line logged counting those left out. */
#define I2CSRV_LOG_BURST    10u
#define I2CSRV_LOG_EVERY_MS 1000u

struct i2csrv {
    struct i2c_backend be;
    struct acl acl;
    struct kos__i2c_xfer x;
    uint64_t n_transfers, n_denied, n_faults;
    struct kos__app_budgets log; /* the lines about each app's requests */
};

/* Empties *srv (no back end, an allow list that allows nothing) and gives
 * every app a full log budget. */
void i2csrv_init(struct i2csrv *srv);

/* Handles one request from `app` (the caller the message server vouches
 * for). Returns the status to reply with and fills *reply (its payload points
 * into srv, valid until the next call). Logs denials, within the app's
 * budget in srv->log. */
kos_status_t i2csrv_handle(struct i2csrv *srv, const char *app, const struct kos_msg *req,
                           struct kos_msg *reply);

/* Parses a temperature "23.5" / "-10.25" (degC) into millidegrees. */
kos_status_t i2csrv_parse_temp(const char *text, int32_t *mc);

#endif
