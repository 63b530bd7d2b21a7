/*
 * test_budget.c - log budgets per app (lib/budget.c): a burst, then one line
 * per period, the lines left out counted and reported by the next line in
 * the one wording every component uses; apps have budgets of their own,
 * and more apps than the table remembers still get one each. A flood of
 * kos__app_log() lines from one app reaches the console (fd 2, captured
 * here) only within its budget. (Counts, not times: the bound allows for
 * however long the flood took.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget_int.h"

#define BURST 20u
#define EVERY 500u

static void test_table(void **state)
{
    static struct kos__app_budgets t;
    unsigned long quiet = 99;
    char name[16];
    (void)state;

    kos__app_budgets_init(&t, BURST, EVERY);
    /* A burst, then nothing until time passes; what was left out is counted. */
    for (unsigned i = 0; i < BURST; i++) {
        assert_true(kos__app_budgets_take(&t, "sensor", 1000, &quiet));
        assert_int_equal(quiet, 0);
    }
    for (int i = 0; i < 5; i++)
        assert_false(kos__app_budgets_take(&t, "sensor", 1000 + EVERY - 1, &quiet));
    /* Another app has its own budget. */
    assert_true(kos__app_budgets_take(&t, "display", 1000, &quiet));
    /* One line per period comes back, with the count of what was left out. */
    assert_true(kos__app_budgets_take(&t, "sensor", 1000 + EVERY, &quiet));
    assert_int_equal(quiet, 5);
    assert_false(kos__app_budgets_take(&t, "sensor", 1000 + EVERY, &quiet));
    /* A long silence refills the whole burst, no more. */
    for (unsigned i = 0; i < BURST; i++)
        assert_true(kos__app_budgets_take(&t, "sensor", 1000000, &quiet));
    assert_false(kos__app_budgets_take(&t, "sensor", 1000000, &quiet));
    /* More apps than the table holds: each still gets a budget. */
    for (unsigned app = 0; app < 2 * KOS__BUDGET_APPS; app++) {
        snprintf(name, sizeof(name), "app%u", app);
        assert_true(kos__app_budgets_take(&t, name, 2000000, &quiet));
    }
}

static void test_note(void **state)
{
    char note[128];
    (void)state;

    kos__budget_note(note, sizeof(note), 0, "x");
    assert_string_equal(note, "");
    kos__budget_note(note, sizeof(note), 412, "x");
    assert_string_equal(note, " (and 412 more lines about app 'x' not logged)");
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Counts the lines of file f that contain `what`. */
static unsigned count_lines(FILE *f, const char *what)
{
    char line[2048];
    unsigned n = 0;

    rewind(f);
    while (fgets(line, sizeof(line), f))
        if (strstr(line, what))
            n++;
    return n;
}

/* A flooding app gets a burst and then one line a period; another app's
 * lines are not held back by it. */
static void test_flood(void **state)
{
    static struct kos__app_budgets t;
    FILE *f = tmpfile();
    int saved = dup(2);
    uint64_t start, ms;
    unsigned n;
    (void)state;

    assert_non_null(f);
    assert_true(saved >= 0);
    kos__app_budgets_init(&t, 10, 1000);
    fflush(stderr);
    assert_true(dup2(fileno(f), 2) == 2);
    start = now_ms();
    for (int i = 0; i < 5000; i++)
        kos__app_log(&t, "flooder", KOS_LOG_WARN, "denied: '%s' request %d", "flooder", i);
    kos__app_log(&t, "honest", KOS_LOG_WARN, "denied: '%s' once", "honest");
    ms = now_ms() - start;
    assert_true(dup2(saved, 2) == 2);
    close(saved);

    n = count_lines(f, "warn: denied: 'flooder' request ");
    assert_true(n >= 10);
    assert_true(n <= 10 + ms / 1000 + 1);
    assert_int_equal(count_lines(f, "warn: denied: 'honest' once"), 1);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_note),
        cmocka_unit_test(test_flood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
