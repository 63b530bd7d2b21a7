/*
 * test_i2c_models.c - the simulated bus and its device models against their
 * datasheets: TMP102 (TI SBOS397) temperature format, pointer register,
 * configuration, limits, shutdown/one-shot, extended mode, alert; 24C02
 * (AT24C02) byte and page writes with page wrap, sequential read wrap,
 * random read; NACK on absent addresses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "i2csrv.h"

#define TMP 0x48
#define EE  0x50

static struct sim_bus bus;
static struct kos_i2c_fault fault;

static int setup(void **state)
{
    char err[160];
    (void)state;
    assert_int_equal(sim_init(&bus, "tmp102@0x48,24c02@0x50", 23500, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    return 0;
}

static kos_status_t wr(uint16_t addr, const uint8_t *b, uint16_t n)
{
    struct kos_i2c_msg m = {.addr = addr, .len = n, .buf = (uint8_t *)(uintptr_t)b};
    return sim_transfer(&bus, &m, 1, &fault);
}

static kos_status_t rd(uint16_t addr, uint8_t *b, uint16_t n)
{
    struct kos_i2c_msg m = {.addr = addr, .flags = KOS_I2C_M_RD, .len = n, .buf = b};
    return sim_transfer(&bus, &m, 1, &fault);
}

static kos_status_t wrrd(uint16_t addr, const uint8_t *w, uint16_t wn, uint8_t *r, uint16_t rn)
{
    struct kos_i2c_msg m[2] = {
        {.addr = addr, .len = wn, .buf = (uint8_t *)(uintptr_t)w},
        {.addr = addr, .flags = KOS_I2C_M_RD, .len = rn, .buf = r},
    };
    return sim_transfer(&bus, m, 2, &fault);
}

static uint16_t tmp_reg(uint8_t ptr)
{
    uint8_t r[2];
    assert_int_equal(wrrd(TMP, &ptr, 1, r, 2), KOS_STATUS_OK);
    return (uint16_t)(r[0] << 8 | r[1]);
}

static void tmp_set(uint8_t ptr, uint16_t v)
{
    uint8_t b[3] = {ptr, (uint8_t)(v >> 8), (uint8_t)v};
    assert_int_equal(wr(TMP, b, 3), KOS_STATUS_OK);
}

static struct tmp102 *tmp(void)
{
    return &sim_find(&bus, TMP)->u.tmp102;
}

/* Datasheet table 5 (12-bit) and table 6 (13-bit, extended mode). */
static void test_tmp102_format(void **state)
{
    static const struct {
        int32_t mc;
        uint16_t reg12, reg13;
    } t[] = {
        {127937, 0x7ff0, 0x3ff9}, /* 127.9375: last 12-bit value */
        {100000, 0x6400, 0x3201}, {80000, 0x5000, 0x2801},
        {75000, 0x4b00, 0x2581},  {50000, 0x3200, 0x1901},
        {25000, 0x1900, 0x0c81},  {250, 0x0040, 0x0021},  /* 0.25 */
        {0, 0x0000, 0x0001},      {-250, 0xffc0, 0xffe1}, /* -0.25 */
        {-25000, 0xe700, 0xf381}, {-55000, 0xc900, 0xe481},
        {150000, 0x7ff0, 0x4b01}, /* only extended mode reaches 150 */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        tmp102_init(tmp(), t[i].mc, 0);
        tmp()->ptr = 0;
        assert_int_equal(tmp_reg(TMP102_REG_TEMP), t[i].reg12);
        tmp_set(TMP102_REG_CONFIG, TMP102_CONFIG_POWER_UP | TMP102_CFG_EM);
        assert_int_equal(tmp_reg(TMP102_REG_TEMP), t[i].reg13);
    }
    /* Rounding to the nearest 1/16 degC, both signs. */
    assert_int_equal(tmp102_from_mc(23500, false), 376);
    assert_int_equal(tmp102_from_mc(23530, false), 376);
    assert_int_equal(tmp102_from_mc(23532, false), 377);
    assert_int_equal(tmp102_from_mc(-10030, false), -160);
    assert_int_equal(tmp102_from_mc(-10032, false), -161);
    assert_int_equal(tmp102_from_mc(-300000, false), -2048);
}

static void test_tmp102_power_up(void **state)
{
    (void)state;
    tmp102_init(tmp(), 23500, 0);
    assert_int_equal(tmp_reg(TMP102_REG_CONFIG), 0x60a0);
    assert_int_equal(tmp_reg(TMP102_REG_TLOW), 0x4b00);  /* 75 degC */
    assert_int_equal(tmp_reg(TMP102_REG_THIGH), 0x5000); /* 80 degC */
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x1780);  /* 23.5 degC */
}

/* The pointer register persists: a plain read returns the register last
 * pointed at; only P1/P0 select. */
static void test_tmp102_pointer(void **state)
{
    uint8_t r[4], p = TMP102_REG_THIGH;
    (void)state;
    tmp102_init(tmp(), 23500, 0);
    assert_int_equal(wr(TMP, &p, 1), KOS_STATUS_OK);
    assert_int_equal(rd(TMP, r, 2), KOS_STATUS_OK);
    assert_int_equal(r[0], 0x50);
    assert_int_equal(r[1], 0x00);
    assert_int_equal(rd(TMP, r, 4), KOS_STATUS_OK); /* again, and on: MSB, LSB, MSB, LSB */
    assert_int_equal(r[0], 0x50);
    assert_int_equal(r[2], 0x50);
    p = 0;
    assert_int_equal(wr(TMP, &p, 1), KOS_STATUS_OK);
    assert_int_equal(rd(TMP, r, 1), KOS_STATUS_OK); /* MSB alone: the whole degrees */
    assert_int_equal(r[0], 23);
}

static void test_tmp102_registers(void **state)
{
    (void)state;
    tmp102_init(tmp(), 23500, 0);
    /* T_LOW/T_HIGH read back what was written (12-bit, low nibble zero). */
    tmp_set(TMP102_REG_TLOW, 0xe700);
    tmp_set(TMP102_REG_THIGH, 0x1900);
    assert_int_equal(tmp_reg(TMP102_REG_TLOW), 0xe700);
    assert_int_equal(tmp_reg(TMP102_REG_THIGH), 0x1900);
    /* The temperature register is read-only. */
    tmp_set(TMP102_REG_TEMP, 0x1234);
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x1780);
    /* Config: R1/R0 stay 1, AL is read-only, the rest read back. */
    tmp_set(TMP102_REG_CONFIG, 0x1e40); /* F=11, POL, TM, CR=01; R and AL written 0 */
    assert_int_equal(tmp_reg(TMP102_REG_CONFIG) & ~TMP102_CFG_AL, 0x7e40);
}

static void test_tmp102_shutdown_one_shot(void **state)
{
    (void)state;
    tmp102_init(tmp(), 20000, 0);
    tmp_set(TMP102_REG_CONFIG, TMP102_CONFIG_POWER_UP | TMP102_CFG_SD);
    tmp()->temp_mc = 30000;
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x1400); /* frozen at 20 degC */
    tmp_set(TMP102_REG_CONFIG, TMP102_CONFIG_POWER_UP | TMP102_CFG_SD | TMP102_CFG_OS);
    assert_true(tmp_reg(TMP102_REG_CONFIG) & TMP102_CFG_OS); /* conversion done */
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x1e00);      /* 30 degC */
    tmp_set(TMP102_REG_CONFIG, TMP102_CONFIG_POWER_UP);      /* back to continuous */
    assert_false(tmp_reg(TMP102_REG_CONFIG) & TMP102_CFG_OS);
}

static void test_tmp102_alert(void **state)
{
    (void)state;
    tmp102_init(tmp(), 23500, 0);
    assert_true(tmp_reg(TMP102_REG_CONFIG) & TMP102_CFG_AL); /* POL=0: 1 = no alert */
    tmp()->temp_mc = 85000;                                  /* above T_HIGH */
    (void)tmp_reg(TMP102_REG_TEMP);
    assert_false(tmp_reg(TMP102_REG_CONFIG) & TMP102_CFG_AL);
    tmp()->temp_mc = 77000; /* between the limits: comparator holds */
    (void)tmp_reg(TMP102_REG_TEMP);
    assert_false(tmp_reg(TMP102_REG_CONFIG) & TMP102_CFG_AL);
    tmp()->temp_mc = 70000; /* below T_LOW: clears */
    (void)tmp_reg(TMP102_REG_TEMP);
    assert_true(tmp_reg(TMP102_REG_CONFIG) & TMP102_CFG_AL);
    /* POL=1 inverts; fault queue F=01 needs two consecutive faults. */
    tmp_set(TMP102_REG_CONFIG, TMP102_CONFIG_POWER_UP | TMP102_CFG_POL | 0x0800);
    tmp()->temp_mc = 90000;
    (void)tmp_reg(TMP102_REG_TEMP);
    assert_false(tmp_reg(TMP102_REG_CONFIG) & TMP102_CFG_AL);
    (void)tmp_reg(TMP102_REG_TEMP);
    assert_true(tmp_reg(TMP102_REG_CONFIG) & TMP102_CFG_AL);
}

static void test_tmp102_step(void **state)
{
    (void)state;
    tmp102_init(tmp(), 20000, 250);
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x1400);
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x1440); /* +0.25 degC = 4 LSB */
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x1480);
}

/* The largest step the settings allow, for longer than an int32_t of
 * millidegrees would last (it overflowed after about 2150 conversions): the
 * temperature stops at the sensor's limit. */
static void test_tmp102_step_saturates(void **state)
{
    (void)state;
    tmp102_init(tmp(), 1000000, 1000000);
    for (int i = 0; i < 5000; i++)
        (void)tmp_reg(TMP102_REG_TEMP);
    assert_int_equal(tmp()->temp_mc, 1000000);
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x7ff0); /* +127.9375 degC, the register's top */
    tmp102_init(tmp(), -273150, -1000000);
    for (int i = 0; i < 5000; i++)
        (void)tmp_reg(TMP102_REG_TEMP);
    assert_int_equal(tmp()->temp_mc, -273150);
    assert_int_equal(tmp_reg(TMP102_REG_TEMP), 0x8000); /* -128 degC */
}

static void ee_read(uint8_t at, uint8_t *out, uint16_t n)
{
    assert_int_equal(wrrd(EE, &at, 1, out, n), KOS_STATUS_OK);
}

static void test_at24_erased_and_byte_write(void **state)
{
    uint8_t b[2] = {0x10, 0xa5}, r[3];
    (void)state;
    at24_init(&sim_find(&bus, EE)->u.at24);
    ee_read(0x00, r, 3);
    assert_int_equal(r[0], 0xff);
    assert_int_equal(wr(EE, b, 2), KOS_STATUS_OK);
    ee_read(0x10, r, 1);
    assert_int_equal(r[0], 0xa5);
    /* Current address read: the counter is past the byte just read. */
    assert_int_equal(rd(EE, r, 1), KOS_STATUS_OK);
    assert_int_equal(r[0], 0xff);
}

/* A page write past the page's end wraps to the page's start (datasheet:
 * "the following byte is placed at the beginning of the same page"). */
static void test_at24_page_wrap(void **state)
{
    uint8_t w[1 + 10] = {0x1d, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, r[16];
    (void)state;
    at24_init(&sim_find(&bus, EE)->u.at24);
    assert_int_equal(wr(EE, w, sizeof(w)), KOS_STATUS_OK);
    ee_read(0x18, r, 16);
    /* 0x1d,0x1e,0x1f get 1,2,3; then 0x18.. get 4..8; 9,10 overwrite 0x1d,0x1e. */
    static const uint8_t want[16] = {4,    5,    6,    7,    8,    9,    10,   3,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(r, want, 16);
    /* The neighbouring page is untouched. */
    ee_read(0x17, r, 1);
    assert_int_equal(r[0], 0xff);
}

static void test_at24_sequential_wrap(void **state)
{
    uint8_t w[2] = {0x00, 0x42}, w2[2] = {0xff, 0x24}, r[4];
    (void)state;
    at24_init(&sim_find(&bus, EE)->u.at24);
    assert_int_equal(wr(EE, w, 2), KOS_STATUS_OK);
    assert_int_equal(wr(EE, w2, 2), KOS_STATUS_OK);
    ee_read(0xfe, r, 4); /* 0xfe, 0xff, then rolls over to 0x00, 0x01 */
    assert_int_equal(r[0], 0xff);
    assert_int_equal(r[1], 0x24);
    assert_int_equal(r[2], 0x42);
    assert_int_equal(r[3], 0xff);
}

/* The write cycle starts at the stop: bytes latched before a repeated start
 * are not written. */
static void test_at24_no_stop_no_write(void **state)
{
    uint8_t w[3] = {0x40, 1, 2}, r[2];
    (void)state;
    at24_init(&sim_find(&bus, EE)->u.at24);
    assert_int_equal(wrrd(EE, w, 3, r, 2), KOS_STATUS_OK);
    ee_read(0x40, r, 2);
    assert_int_equal(r[0], 0xff);
    assert_int_equal(r[1], 0xff);
    assert_int_equal(wr(EE, w, 3), KOS_STATUS_OK); /* with a stop it is */
    ee_read(0x40, r, 2);
    assert_int_equal(r[0], 1);
    assert_int_equal(r[1], 2);
}

static void test_nack_absent(void **state)
{
    uint8_t b[2] = {0, 0};
    struct kos_i2c_msg m[3] = {
        {.addr = EE, .len = 1, .buf = b},
        {.addr = 0x51, .flags = KOS_I2C_M_RD, .len = 1, .buf = b},
        {.addr = EE, .len = 1, .buf = b},
    };
    (void)state;
    fault = (struct kos_i2c_fault){0};
    assert_int_equal(rd(0x77, b, 1), KOS_STATUS_NOT_FOUND);
    assert_int_equal(fault.error, ENXIO);
    assert_int_equal(fault.index, 0);
    assert_int_equal(sim_transfer(&bus, m, 3, &fault), KOS_STATUS_NOT_FOUND);
    assert_int_equal(fault.index, 1);
    /* A zero-length write probes an address (SMBus quick command). */
    assert_int_equal(wr(TMP, NULL, 0), KOS_STATUS_OK);
    assert_int_equal(wr(0x49, NULL, 0), KOS_STATUS_NOT_FOUND);
    /* 10-bit address 0x048 is not the 7-bit device 0x48. */
    m[0] = (struct kos_i2c_msg){.addr = TMP, .flags = KOS_I2C_M_TEN, .len = 0};
    assert_int_equal(sim_transfer(&bus, m, 1, &fault), KOS_STATUS_NOT_FOUND);
}

static void test_devices_setting(void **state)
{
    static const char *bad[] = {
        "tmp102",
        "tmp102@",
        "tmp103@0x48",
        "tmp102@0x48,24c02@0x48",
        "tmp102@0x07",
        "tmp102@0x78",
        "tmp102@0x48x",
        "@0x48",
        "tmp102@-1",
        "24c02@0x50,,",
        "averyveryverylongmodelname@0x50",
    };
    struct sim_bus b;
    char err[160];
    (void)state;
    assert_int_equal(sim_init(&b, "", 0, 0, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(b.n, 0);
    assert_int_equal(sim_init(&b, " tmp102@72 , at24c02@0x57,tmp102@0x49", 0, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.dev[0].addr, 0x48);
    assert_int_equal(b.dev[1].model, SIM_AT24C02);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(sim_init(&b, bad[i], 0, 0, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
        assert_true(strncmp(err, "devices: ", 9) == 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_tmp102_format, setup),
        cmocka_unit_test_setup(test_tmp102_power_up, setup),
        cmocka_unit_test_setup(test_tmp102_pointer, setup),
        cmocka_unit_test_setup(test_tmp102_registers, setup),
        cmocka_unit_test_setup(test_tmp102_shutdown_one_shot, setup),
        cmocka_unit_test_setup(test_tmp102_alert, setup),
        cmocka_unit_test_setup(test_tmp102_step, setup),
        cmocka_unit_test_setup(test_tmp102_step_saturates, setup),
        cmocka_unit_test_setup(test_at24_erased_and_byte_write, setup),
        cmocka_unit_test_setup(test_at24_page_wrap, setup),
        cmocka_unit_test_setup(test_at24_sequential_wrap, setup),
        cmocka_unit_test_setup(test_at24_no_stop_no_write, setup),
        cmocka_unit_test_setup(test_nack_absent, setup),
        cmocka_unit_test(test_devices_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
