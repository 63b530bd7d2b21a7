/*
 * test_i2c_wire.c - kos_i2c_protocol's wire codec (lib/i2c.c) and the
 * server's handling of requests (components/i2c_server/server.c, acl.c):
 * transfers round-trip; malformed payloads, bad addresses and flags, unknown
 * labels and oversized transfers are refused without touching the bus;
 * addresses outside the caller's allowance are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "i2csrv.h"

static uint8_t buf[KOS_MSG_MAX_PAYLOAD];
static struct kos__i2c_xfer x;

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void test_round_trip(void **state)
{
    uint8_t w[3] = {1, 2, 3}, r[5];
    struct kos_i2c_msg m[3] = {
        {.addr = 0x50, .len = 3, .buf = w},
        {.addr = 0x50, .flags = KOS_I2C_M_RD, .len = 5, .buf = r},
        {.addr = 0x3ff, .flags = KOS_I2C_M_TEN, .len = 0, .buf = NULL},
    };
    uint32_t len, rlen;
    (void)state;
    assert_int_equal(kos__i2c_encode(m, 3, buf, sizeof(buf), &len, &rlen), KOS_STATUS_OK);
    assert_int_equal(len, 4 + 3 * 8 + 3);
    assert_int_equal(rlen, 5);
    assert_int_equal(kos__i2c_decode(buf, len, &x), KOS_STATUS_OK);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.msgs[0].addr, 0x50);
    assert_int_equal(x.msgs[0].len, 3);
    assert_memory_equal(x.msgs[0].buf, w, 3);
    assert_int_equal(x.msgs[1].flags, KOS_I2C_M_RD);
    assert_ptr_equal(x.msgs[1].buf, x.rdata);
    assert_int_equal(x.msgs[2].addr, 0x3ff);
    assert_int_equal(x.rlen, 5);
}

static void test_encode_refuses(void **state)
{
    uint8_t b[1];
    struct kos_i2c_msg m[KOS_I2C_MAX_MSGS + 1];
    uint32_t len, rlen;
    (void)state;
    memset(m, 0, sizeof(m));
    for (size_t i = 0; i < KOS_I2C_MAX_MSGS + 1; i++)
        m[i] = (struct kos_i2c_msg){.addr = 0x48, .len = 0};
    assert_int_equal(kos__i2c_encode(m, 0, buf, sizeof(buf), &len, &rlen),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__i2c_encode(m, KOS_I2C_MAX_MSGS + 1, buf, sizeof(buf), &len, &rlen),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__i2c_encode(m, KOS_I2C_MAX_MSGS, buf, sizeof(buf), &len, &rlen),
                     KOS_STATUS_OK);
    m[0].addr = 0x80; /* 8 bits without KOS_I2C_M_TEN */
    assert_int_equal(kos__i2c_encode(m, 1, buf, sizeof(buf), &len, &rlen),
                     KOS_STATUS_INVALID_ARGUMENT);
    m[0] = (struct kos_i2c_msg){.addr = 0x48, .flags = 0x0800, .len = 0}; /* unknown flag */
    assert_int_equal(kos__i2c_encode(m, 1, buf, sizeof(buf), &len, &rlen),
                     KOS_STATUS_INVALID_ARGUMENT);
    m[0] = (struct kos_i2c_msg){.addr = 0x48, .len = 1, .buf = NULL}; /* no buffer */
    assert_int_equal(kos__i2c_encode(m, 1, buf, sizeof(buf), &len, &rlen),
                     KOS_STATUS_INVALID_ARGUMENT);
    m[0] = (struct kos_i2c_msg){.addr = 0x48, .len = 4096, .buf = buf}; /* > payload */
    assert_int_equal(kos__i2c_encode(m, 1, buf, sizeof(buf), &len, &rlen), KOS_STATUS_TOO_LARGE);
    m[0] = (struct kos_i2c_msg){.addr = 0x48, .flags = KOS_I2C_M_RD, .len = 4096, .buf = b};
    m[1] = (struct kos_i2c_msg){.addr = 0x48, .flags = KOS_I2C_M_RD, .len = 1, .buf = b};
    assert_int_equal(kos__i2c_encode(m, 2, buf, sizeof(buf), &len, &rlen), KOS_STATUS_TOO_LARGE);
}

/* Builds a one-message request by hand. */
static size_t one(uint16_t addr, uint16_t flags, uint16_t len, size_t data)
{
    memset(buf, 0, sizeof(buf));
    put16(buf, 1);
    put16(buf + 4, addr);
    put16(buf + 6, flags);
    put16(buf + 8, len);
    return 12 + data;
}

static void test_decode_refuses(void **state)
{
    size_t n;
    (void)state;
    assert_int_equal(kos__i2c_decode(buf, 0, &x), KOS_STATUS_PROTOCOL);
    assert_int_equal(kos__i2c_decode(NULL, 0, &x), KOS_STATUS_PROTOCOL);
    assert_int_equal(kos__i2c_decode(buf, 3, &x), KOS_STATUS_PROTOCOL);
    n = one(0x48, 0, 2, 2);
    assert_int_equal(kos__i2c_decode(buf, n, &x), KOS_STATUS_OK);
    assert_int_equal(kos__i2c_decode(buf, n - 1, &x), KOS_STATUS_PROTOCOL); /* short data */
    assert_int_equal(kos__i2c_decode(buf, n + 1, &x), KOS_STATUS_PROTOCOL); /* trailing */
    assert_int_equal(kos__i2c_decode(buf, 11, &x), KOS_STATUS_PROTOCOL);    /* short header */
    n = one(0x48, 0, 0, 0);
    buf[2] = 1; /* reserved */
    assert_int_equal(kos__i2c_decode(buf, n, &x), KOS_STATUS_PROTOCOL);
    n = one(0x48, 0, 0, 0);
    buf[10] = 1; /* reserved in the message header */
    assert_int_equal(kos__i2c_decode(buf, n, &x), KOS_STATUS_PROTOCOL);
    n = one(0x48, 0, 0, 0);
    put16(buf, 0); /* no messages */
    assert_int_equal(kos__i2c_decode(buf, n, &x), KOS_STATUS_INVALID_ARGUMENT);
    put16(buf, KOS_I2C_MAX_MSGS + 1);
    assert_int_equal(kos__i2c_decode(buf, sizeof(buf), &x), KOS_STATUS_INVALID_ARGUMENT);
    put16(buf, 0xffff); /* claims more headers than the payload holds */
    assert_int_equal(kos__i2c_decode(buf, 100, &x), KOS_STATUS_INVALID_ARGUMENT);
    put16(buf, 2);
    assert_int_equal(kos__i2c_decode(buf, 12, &x), KOS_STATUS_PROTOCOL);
    n = one(0x80, 0, 0, 0);
    assert_int_equal(kos__i2c_decode(buf, n, &x), KOS_STATUS_INVALID_ARGUMENT);
    n = one(0x400, KOS_I2C_M_TEN, 0, 0);
    assert_int_equal(kos__i2c_decode(buf, n, &x), KOS_STATUS_INVALID_ARGUMENT);
    n = one(0x48, 0x8000, 0, 0);
    assert_int_equal(kos__i2c_decode(buf, n, &x), KOS_STATUS_INVALID_ARGUMENT);
    n = one(0x48, 0, 0xffff, 0); /* a write longer than the payload */
    assert_int_equal(kos__i2c_decode(buf, n, &x), KOS_STATUS_PROTOCOL);
    assert_int_equal(kos__i2c_decode(buf, KOS_MSG_MAX_PAYLOAD + 1, &x), KOS_STATUS_TOO_LARGE);
    /* Reads adding up past KOS_I2C_MAX_DATA. */
    memset(buf, 0, sizeof(buf));
    put16(buf, 2);
    put16(buf + 4, 0x48);
    put16(buf + 6, KOS_I2C_M_RD);
    put16(buf + 8, 4096);
    put16(buf + 12, 0x48);
    put16(buf + 14, KOS_I2C_M_RD);
    put16(buf + 16, 1);
    assert_int_equal(kos__i2c_decode(buf, 20, &x), KOS_STATUS_TOO_LARGE);
    put16(buf + 16, 0);
    assert_int_equal(kos__i2c_decode(buf, 20, &x), KOS_STATUS_OK);
}

/* Random payloads never crash the decoder and never claim more than fits. */
static void test_decode_random(void **state)
{
    (void)state;
    srand(42);
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)rand() % 64;
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)rand();
        if (rand() % 2) {
            buf[0] = (uint8_t)(rand() % 4);
            buf[1] = 0;
            buf[2] = buf[3] = 0;
        }
        if (kos__i2c_decode(buf, len, &x) == KOS_STATUS_OK) {
            assert_true(x.n >= 1 && x.n <= KOS_I2C_MAX_MSGS);
            assert_true(x.wlen <= len && x.rlen <= KOS_I2C_MAX_DATA);
        }
    }
}

static struct i2csrv *srv;
static struct sim_bus bus;

static int srv_setup(void **state)
{
    char err[160];
    (void)state;
    srv = malloc(sizeof(*srv));
    assert_non_null(srv);
    i2csrv_init(srv);
    assert_int_equal(sim_init(&bus, "tmp102@0x48,24c02@0x50", 23500, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    sim_backend(&bus, &srv->be);
    assert_int_equal(
        acl_parse(&srv->acl, "sensor=0x48,0x50;logger = 0x50 ; all=*", err, sizeof(err)),
        KOS_STATUS_OK);
    return 0;
}

static int srv_teardown(void **state)
{
    (void)state;
    free(srv);
    return 0;
}

static kos_status_t call(const char *app, uint32_t label, const void *p, uint32_t len,
                         struct kos_msg *reply)
{
    struct kos_msg req = {.label = label, .payload = p, .len = len};
    return i2csrv_handle(srv, app, &req, reply);
}

static void test_server(void **state)
{
    uint8_t ptr = 0, r[2];
    struct kos_i2c_msg m[2] = {
        {.addr = 0x48, .len = 1, .buf = &ptr},
        {.addr = 0x48, .flags = KOS_I2C_M_RD, .len = 2, .buf = r},
    };
    struct kos_msg reply;
    uint32_t len, rlen;
    (void)state;
    assert_int_equal(kos__i2c_encode(m, 2, buf, sizeof(buf), &len, &rlen), KOS_STATUS_OK);
    assert_int_equal(call("sensor", KOS_I2C_LABEL_TRANSFER, buf, len, &reply), KOS_STATUS_OK);
    assert_int_equal(reply.len, 2);
    assert_int_equal(((const uint8_t *)reply.payload)[0], 0x17); /* 23.5 degC */
    assert_int_equal(((const uint8_t *)reply.payload)[1], 0x80);
    assert_int_equal(call("all", KOS_I2C_LABEL_TRANSFER, buf, len, &reply), KOS_STATUS_OK);
    /* Not allowed 0x48: refused, and nothing reached the bus. */
    uint64_t before = srv->n_transfers;
    assert_int_equal(call("logger", KOS_I2C_LABEL_TRANSFER, buf, len, &reply),
                     KOS_STATUS_UNAUTHORIZED);
    assert_int_equal(call("stranger", KOS_I2C_LABEL_TRANSFER, buf, len, &reply),
                     KOS_STATUS_UNAUTHORIZED);
    assert_int_equal(srv->n_transfers, before);
    assert_int_equal(srv->n_denied, 2);
    /* An allowed but absent address NACKs, with the fault in param. */
    m[0].addr = m[1].addr = 0x50;
    assert_int_equal(kos__i2c_encode(m, 2, buf, sizeof(buf), &len, &rlen), KOS_STATUS_OK);
    assert_int_equal(call("logger", KOS_I2C_LABEL_TRANSFER, buf, len, &reply), KOS_STATUS_OK);
    m[0].addr = m[1].addr = 0x33;
    assert_int_equal(kos__i2c_encode(m, 2, buf, sizeof(buf), &len, &rlen), KOS_STATUS_OK);
    assert_int_equal(call("all", KOS_I2C_LABEL_TRANSFER, buf, len, &reply), KOS_STATUS_NOT_FOUND);
    assert_int_equal(reply.param, kos__i2c_fault_param(ENXIO, 0));
    /* Features; unknown labels; malformed requests. */
    assert_int_equal(call("nobody", KOS_I2C_LABEL_FUNCS, NULL, 0, &reply), KOS_STATUS_OK);
    assert_true(reply.param & KOS_I2C_FUNC_I2C);
    assert_int_equal(call("all", KOS_I2C_LABEL_FUNCS, buf, 1, &reply), KOS_STATUS_PROTOCOL);
    assert_int_equal(call("all", 99, NULL, 0, &reply), KOS_STATUS_UNSUPPORTED);
    assert_int_equal(call("all", KOS_I2C_LABEL_TRANSFER, buf, 3, &reply), KOS_STATUS_PROTOCOL);
    struct kos_msg req = {.label = KOS_I2C_LABEL_TRANSFER, .param = 1, .payload = buf, .len = len};
    assert_int_equal(i2csrv_handle(srv, "all", &req, &reply), KOS_STATUS_PROTOCOL);
}

static void test_acl(void **state)
{
    static const char *bad[] = {
        "sensor",           "sensor=",          "=0x48",
        "sensor=0x48;;x",   "sensor=0x48,",     "sensor=0x400",
        "sensor=0x50-0x48", "sensor=0x48 0x49", "sen sor=0x48",
        "sensor=zz",        "sensor=0x48-",
    };
    struct acl *a = calloc(1, sizeof(*a));
    char err[160];
    (void)state;
    assert_non_null(a);
    assert_int_equal(acl_parse(a, NULL, err, sizeof(err)), KOS_STATUS_OK);
    assert_false(acl_allows(a, "sensor", 0x48));
    assert_int_equal(acl_parse(a, "sensor=0x50-0x57,0x48;sensor=72;b=*;", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_true(acl_allows(a, "sensor", 0x48));
    assert_true(acl_allows(a, "sensor", 0x50));
    assert_true(acl_allows(a, "sensor", 0x57));
    assert_false(acl_allows(a, "sensor", 0x58));
    assert_false(acl_allows(a, "sensor", 0x4f));
    assert_true(acl_allows(a, "b", 0x3ff));
    assert_false(acl_allows(a, "sensorx", 0x48));
    assert_false(acl_allows(a, NULL, 0x48));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(acl_parse(a, bad[i], err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
        assert_true(strncmp(err, "allow: ", 7) == 0);
    }
    free(a);
}

static void test_parse_temp(void **state)
{
    int32_t mc;
    (void)state;
    assert_int_equal(i2csrv_parse_temp("23.5", &mc), KOS_STATUS_OK);
    assert_int_equal(mc, 23500);
    assert_int_equal(i2csrv_parse_temp("-10.25", &mc), KOS_STATUS_OK);
    assert_int_equal(mc, -10250);
    assert_int_equal(i2csrv_parse_temp("", &mc), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(i2csrv_parse_temp("warm", &mc), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(i2csrv_parse_temp("23C", &mc), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(i2csrv_parse_temp("nan", &mc), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(i2csrv_parse_temp("1e9", &mc), KOS_STATUS_INVALID_ARGUMENT);
}

/* The i2c-dev back end refuses a descriptor that is not an I2C adapter. */
static void test_i2cdev_not_adapter(void **state)
{
    struct i2c_backend be;
    int fd = open("/dev/null", O_RDWR);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(i2cdev_backend(fd, &be), KOS_STATUS_IO);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_decode_random),
        cmocka_unit_test_setup_teardown(test_server, srv_setup, srv_teardown),
        cmocka_unit_test(test_acl),
        cmocka_unit_test(test_parse_temp),
        cmocka_unit_test(test_i2cdev_not_adapter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
