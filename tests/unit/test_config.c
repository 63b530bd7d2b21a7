/*
 * test_config.c - lib/config.c: every form of size (each unit, a space
 * before the unit), duration (each unit) and whole number the manifest
 * allows is read as its value; every other input (empty, sign, fraction,
 * hexadecimal, separator, bare K/M/G, a unit of the wrong case, spaces
 * around, a number without a unit for durations, overflow, out of range)
 * is refused, *out untouched, with one sentence naming the setting, the
 * value and what would be valid; booleans are true and false only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

#define KIB 1024ull
#define GIB (1024ull * 1024 * 1024)

static void test_parse_size(void **state)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        {"0", 0},
        {"4096", 4096},
        {"007", 7},
        {"12B", 12},
        {"64KiB", 64 * KIB},
        {"8MiB", 8 * KIB * KIB},
        {"2GiB", 2 * GIB},
        {"1TiB", 1024 * GIB},
        {"3kB", 3000},
        {"8MB", 8000000},
        {"2GB", 2000000000},
        {"1TB", 1000000000000ull},
        {"64 KiB", 64 * KIB},
        {"64   MB", 64000000},
        {"18446744073709551615", UINT64_MAX},
        {"16777215TiB", 16777215ull << 40},
    };
    static const char *const invalid[] = {
        "",      " 1",  "1 ",   "+1",    "-1",  "1.5GiB", "0x10", "1_000", "1K",
        "1M",    "1G",  "1kib", "1KIB",  "1kb", "1Kb",    "KiB",  "1 B ",  "1\tB",
        "1KiBs", "1iB", "1 1",  "1,000", "1e3", "B",      " ",    "1b",    "1mb",
    };
    static const char *const too_large[] = {
        "18446744073709551616",
        "99999999999999999999999",
        "16777216TiB",
        "18446744073709552kB",
    };
    uint64_t v;
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = 1;
        assert_int_equal(kos__parse_size(good[i].text, strlen(good[i].text), &v), KOS_STATUS_OK);
        assert_true(v == good[i].bytes);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        v = 42;
        assert_int_equal(kos__parse_size(invalid[i], strlen(invalid[i]), &v),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_true(v == 42);
    }
    for (size_t i = 0; i < sizeof(too_large) / sizeof(too_large[0]); i++) {
        v = 42;
        assert_int_equal(kos__parse_size(too_large[i], strlen(too_large[i]), &v),
                         KOS_STATUS_TOO_LARGE);
        assert_true(v == 42);
    }
    /* The length given is the text: what follows it is not read. */
    assert_int_equal(kos__parse_size("64KiBxyz", 5, &v), KOS_STATUS_OK);
    assert_true(v == 64 * KIB);
}

static void test_parse_duration(void **state)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {
        {"0ms", 0},
        {"500ms", 500},
        {"10s", 10000},
        {"2m", 120000},
        {"1h", 3600000},
        {"0010s", 10000},
        {"4294967295ms", KOS__DURATION_MAX_MS},
        {"1193h", 1193ull * 3600000},
    };
    static const char *const invalid[] = {
        "",   "10",    "s",   "10 s", "-1s",  "+1s", "1.5s", "10sec", "10S",  "10MS",
        "1d", "0x10s", " 1s", "1s ",  "1ms5", "ms",  "1 ms", "1H",    "1_0s", "1e3ms",
    };
    static const char *const too_long[] = {
        "4294967296ms",
        "1194h",
        "71583m",
        "99999999999999999999999s",
    };
    uint64_t v;
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = 1;
        assert_int_equal(kos__parse_duration_ms(good[i].text, strlen(good[i].text), &v),
                         KOS_STATUS_OK);
        assert_true(v == good[i].ms);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        v = 42;
        assert_int_equal(kos__parse_duration_ms(invalid[i], strlen(invalid[i]), &v),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_true(v == 42);
    }
    for (size_t i = 0; i < sizeof(too_long) / sizeof(too_long[0]); i++) {
        v = 42;
        assert_int_equal(kos__parse_duration_ms(too_long[i], strlen(too_long[i]), &v),
                         KOS_STATUS_TOO_LARGE);
        assert_true(v == 42);
    }
}

/* A refusal: INVALID_ARGUMENT, *out untouched, and exactly `want`. */
#define REFUSED(call, want)                                                                        \
    do {                                                                                           \
        char err_[KOS__CFG_ERR_MAX];                                                               \
        v = 42;                                                                                    \
        memset(err_, 'x', sizeof(err_));                                                           \
        assert_int_equal(call(err_, sizeof(err_)), KOS_STATUS_INVALID_ARGUMENT);                   \
        assert_true(v == 42);                                                                      \
        assert_string_equal(err_, want);                                                           \
    } while (0)

static uint64_t v;

#define SIZE(text, min, max) (kos__cfg_parse_size)("max_bytes", text, min, max, &v, err, errlen)
static kos_status_t size_bad(char *err, size_t errlen)
{
    return SIZE("1.5MiB", 128 * KIB, UINT64_MAX);
}
static kos_status_t size_small(char *err, size_t errlen)
{
    return SIZE("64KiB", 128 * KIB, UINT64_MAX);
}
static kos_status_t size_big(char *err, size_t errlen)
{
    return SIZE("2GiB", 0, GIB);
}
static kos_status_t size_overflow(char *err, size_t errlen)
{
    return SIZE("99999999999999999999999", 0, UINT64_MAX);
}
static kos_status_t size_null(char *err, size_t errlen)
{
    return SIZE(NULL, 4096, 1000000);
}

static void test_cfg_size(void **state)
{
    char err[KOS__CFG_ERR_MAX];
    (void)state;

    assert_int_equal(kos__cfg_parse_size("k", "1 MiB", 0, UINT64_MAX, &v, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_true(v == KIB * KIB);
    assert_int_equal(kos__cfg_parse_size("k", "128KiB", 128 * KIB, 128 * KIB, &v, err, sizeof(err)),
                     KOS_STATUS_OK);
    REFUSED(size_bad, "config max_bytes: '1.5MiB' is not a size of at least 128KiB; write a whole "
                      "number of bytes with an optional unit: B, KiB, MiB, GiB, TiB (1024-based) "
                      "or kB, MB, GB, TB (1000-based), e.g. 128KiB");
    REFUSED(size_small, "config max_bytes: '64KiB' is too small; write a size of at least 128KiB");
    REFUSED(size_big, "config max_bytes: '2GiB' is too large; write a size of at most 1GiB");
    REFUSED(size_overflow, "config max_bytes: '99999999999999999999999' is too large; write a size "
                           "of at most 18446744073709551615");
    REFUSED(size_null, "config max_bytes: '' is not a size from 4KiB to 1MB; write a whole number "
                       "of bytes with an optional unit: B, KiB, MiB, GiB, TiB (1024-based) or kB, "
                       "MB, GB, TB (1000-based), e.g. 64KiB");
}

#define DURATION(text, min, max)                                                                   \
    kos__cfg_parse_duration_ms("connect_timeout", text, min, max, &v, err, errlen)
static kos_status_t duration_bad(char *err, size_t errlen)
{
    return DURATION("10", 100, 300000);
}
static kos_status_t duration_small(char *err, size_t errlen)
{
    return DURATION("99ms", 100, 300000);
}
static kos_status_t duration_big(char *err, size_t errlen)
{
    return DURATION("6m", 100, 300000);
}
static kos_status_t duration_overflow(char *err, size_t errlen)
{
    return DURATION("50d", 1, UINT64_MAX);
}
static kos_status_t duration_too_long(char *err, size_t errlen)
{
    return DURATION("1194h", 1, UINT64_MAX);
}

static void test_cfg_duration(void **state)
{
    char err[KOS__CFG_ERR_MAX];
    (void)state;

    assert_int_equal(kos__cfg_parse_duration_ms("k", "5m", 100, 300000, &v, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_true(v == 300000);
    assert_int_equal(kos__cfg_parse_duration_ms("k", "100ms", 100, 300000, &v, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_true(v == 100);
    /* A maximum past the manifest's is the manifest's. */
    assert_int_equal(
        kos__cfg_parse_duration_ms("k", "4294967295ms", 0, UINT64_MAX, &v, err, sizeof(err)),
        KOS_STATUS_OK);
    REFUSED(duration_bad, "config connect_timeout: '10' is not a duration from 100ms to 5m; write "
                          "a whole number with a unit: ms, s, m or h, e.g. 10s");
    REFUSED(duration_small,
            "config connect_timeout: '99ms' is too small; write a duration from 100ms to 5m");
    REFUSED(duration_big,
            "config connect_timeout: '6m' is too large; write a duration from 100ms to 5m");
    REFUSED(duration_overflow, "config connect_timeout: '50d' is not a duration of at least 1ms; "
                               "write a whole number with a unit: ms, s, m or h, e.g. 10s");
    REFUSED(duration_too_long, "config connect_timeout: '1194h' is too large; write a duration of "
                               "at least 1ms and at most 4294967295ms");
}

#define UINT(text, min, max) kos__cfg_parse_uint("max_pending", text, min, max, &v, err, errlen)
static kos_status_t uint_bad(char *err, size_t errlen)
{
    return UINT("1e3", 1, 1024);
}
static kos_status_t uint_space(char *err, size_t errlen)
{
    return UINT(" 1", 1, 1024);
}
static kos_status_t uint_unit(char *err, size_t errlen)
{
    return UINT("1KiB", 1, 1024);
}
static kos_status_t uint_small(char *err, size_t errlen)
{
    return UINT("0", 1, 1024);
}
static kos_status_t uint_big(char *err, size_t errlen)
{
    return UINT("1025", 1, 1024);
}
static kos_status_t uint_overflow(char *err, size_t errlen)
{
    return UINT("99999999999999999999", 0, UINT64_MAX);
}

static void test_cfg_uint(void **state)
{
    static const char *const bad[] = {"", "-1", "+1", "1 ", " 1", "0x10", "1.0", "1,0", "1_0"};
    char err[KOS__CFG_ERR_MAX];
    (void)state;

    assert_int_equal(kos__cfg_parse_uint("k", "64", 1, 1024, &v, err, sizeof(err)), KOS_STATUS_OK);
    assert_true(v == 64);
    assert_int_equal(kos__cfg_parse_uint("k", "0", 0, 0, &v, err, sizeof(err)), KOS_STATUS_OK);
    assert_true(v == 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        assert_int_equal(kos__cfg_parse_uint("k", bad[i], 0, UINT64_MAX, &v, err, sizeof(err)),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_true(v == 7);
    }
    REFUSED(uint_bad, "config max_pending: '1e3' is not a whole number from 1 to 1024");
    REFUSED(uint_space, "config max_pending: ' 1' is not a whole number from 1 to 1024");
    REFUSED(uint_unit, "config max_pending: '1KiB' is not a whole number from 1 to 1024");
    REFUSED(uint_small,
            "config max_pending: '0' is too small; write a whole number from 1 to 1024");
    REFUSED(uint_big,
            "config max_pending: '1025' is too large; write a whole number from 1 to 1024");
    REFUSED(uint_overflow, "config max_pending: '99999999999999999999' is too large; write a whole "
                           "number of at most 18446744073709551615");
}

static bool b;
static kos_status_t bool_yes(char *err, size_t errlen)
{
    return kos__cfg_parse_bool("fsync", "yes", &b, err, errlen);
}
static kos_status_t bool_case(char *err, size_t errlen)
{
    return kos__cfg_parse_bool("fsync", "True", &b, err, errlen);
}
/* A value that would break the line, and a long one: escaped and cut. */
static kos_status_t bool_hostile(char *err, size_t errlen)
{
    return kos__cfg_parse_bool("fsync", "t\nx\x1b[2J", &b, err, errlen);
}
static kos_status_t bool_long(char *err, size_t errlen)
{
    return kos__cfg_parse_bool("fsync", "0123456789012345678901234567890123456789-and-some-more",
                               &b, err, errlen);
}

static void test_cfg_bool(void **state)
{
    static const char *const bad[] = {"", "1", "0", "yes", "no", "TRUE", "on", " true", "true "};
    char err[KOS__CFG_ERR_MAX];
    (void)state;

    b = false;
    assert_int_equal(kos__cfg_parse_bool("k", "true", &b, err, sizeof(err)), KOS_STATUS_OK);
    assert_true(b);
    assert_int_equal(kos__cfg_parse_bool("k", "false", &b, err, sizeof(err)), KOS_STATUS_OK);
    assert_false(b);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = true;
        assert_int_equal(kos__cfg_parse_bool("k", bad[i], &b, err, sizeof(err)),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_true(b);
    }
    REFUSED(bool_yes, "config fsync: 'yes' is not true or false");
    REFUSED(bool_case, "config fsync: 'True' is not true or false");
    REFUSED(bool_hostile, "config fsync: 't\\x0ax\\x1b[2J' is not true or false");
    REFUSED(bool_long, "config fsync: '0123456789012345678901234567890123456789...' is not true "
                       "or false");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size), cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_cfg_size),   cmocka_unit_test(test_cfg_duration),
        cmocka_unit_test(test_cfg_uint),   cmocka_unit_test(test_cfg_bool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
