/*
 * test_self_test.c - the self_test component's report (one result per
 * check, printable, cut at Core's limit) and its quick check of random
 * bytes (reads that repeat, one byte repeated, a biased stream), on fixed
 * inputs so the outcome never depends on chance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "st.h"

static void test_report(void **state)
{
    struct st_report r;
    (void)state;

    st_report_init(&r);
    assert_false(st_report_passed(&r)); /* no check: not a pass */
    st_report_add(&r, "msg0", true, "ping");
    assert_true(st_report_passed(&r));
    st_report_add(&r, "rng", true, NULL);
    st_report_add(&r, "log", false, "write: timeout");
    st_report_add(&r, "key_store", false, NULL);
    assert_string_equal(r.summary,
                        "msg0 ok (ping); rng ok; log: write: timeout; key_store: failed");
    assert_int_equal(r.checks, 4);
    assert_int_equal(r.failed, 2);
    assert_false(st_report_passed(&r));

    /* Control characters never reach Core. */
    st_report_init(&r);
    st_report_add(&r, "a\nb", false, "x\ty\x7f");
    assert_string_equal(r.summary, "a?b: x?y?");

    /* A long report is cut with "..." within Core's limit. */
    char why[300];
    memset(why, 'w', sizeof(why) - 1);
    why[sizeof(why) - 1] = '\0';
    st_report_init(&r);
    for (int i = 0; i < 10; i++)
        st_report_add(&r, "check", false, why);
    assert_int_equal(r.checks, 10);
    assert_int_equal(r.failed, 10);
    assert_true(r.cut);
    assert_int_equal(strlen(r.summary), ST_SUMMARY_MAX - 1);
    assert_string_equal(r.summary + ST_SUMMARY_MAX - 4, "...");
}

/* xorshift64: fixed bytes that look random enough for the monobit test. */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static void test_random(void **state)
{
    uint8_t a[32], b[32], bulk[ST_MONOBIT_BYTES];
    unsigned ones, expect = 0;
    char why[160];
    (void)state;

    fill(a, sizeof(a), 1);
    fill(b, sizeof(b), 2);
    fill(bulk, sizeof(bulk), 3);
    for (size_t i = 0; i < sizeof(bulk); i++)
        expect += (unsigned)__builtin_popcount(bulk[i]);
    assert_true(expect >= ST_MONOBIT_LOW && expect <= ST_MONOBIT_HIGH);
    assert_true(st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    assert_int_equal(ones, expect);

    /* two reads alike: a stuck generator */
    assert_false(st_random_ok(a, a, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    assert_non_null(strstr(why, "returned the same bytes"));
    /* one byte repeated */
    memset(b, 0, sizeof(b));
    assert_false(st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    assert_non_null(strstr(why, "one byte repeated (0x00)"));
    fill(b, sizeof(b), 2);
    /* biased: 5 of 8 bits set */
    memset(bulk, 0x1f, sizeof(bulk));
    assert_false(st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    assert_int_equal(ones, 12500);
    assert_non_null(strstr(why, "monobit test failed: 12500 ones"));
    /* just outside and just inside the bounds */
    memset(bulk, 0x0f, sizeof(bulk)); /* 10000 */
    assert_true(st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    for (size_t i = 0; i < 424; i++)
        bulk[i] = 0x1f; /* 10424 */
    assert_true(st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    bulk[424] = 0x1f; /* 10425 */
    assert_false(st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    memset(bulk, 0x0f, sizeof(bulk));
    for (size_t i = 0; i < 425; i++)
        bulk[i] = 0x07; /* 9575 */
    assert_false(st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    bulk[0] = 0x0f; /* 9576 */
    assert_true(st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why)));
    /* too little to judge */
    assert_false(st_random_ok(a, b, sizeof(a), bulk, 100, &ones, why, sizeof(why)));
}

static void test_settings(void **state)
{
    bool ok;
    (void)state;

    assert_true(st_check_wanted(NULL, &ok));
    assert_true(ok);
    assert_true(st_check_wanted("check", &ok));
    assert_false(st_check_wanted("skip", &ok));
    assert_true(ok);
    assert_false(st_check_wanted("no", &ok));
    assert_false(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
