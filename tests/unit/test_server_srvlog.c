/*
 * test_server_srvlog.c - kos-server's log (server/srvlog.c): each line is
 * its stamp, "kos-server: " and the text, whole and once, whatever its
 * length, around the length its stack buffer holds and far past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "srvlog.h"

static void test_lines(void **state)
{
    static const size_t lens[] = {0, 1, 900, 975, 976, 977, 978, 979, 980, 1000, 1023, 1024, 3000};
    enum { N = sizeof(lens) / sizeof(lens[0]) };
    static char text[3001], got[64 * 1024];
    FILE *f = tmpfile();
    int saved = dup(2);
    size_t n;
    char *p;

    (void)state;
    assert_non_null(f);
    assert_true(saved >= 0);
    for (size_t i = 0; i < sizeof(text) - 1; i++)
        text[i] = (char)('a' + i % 26);
    fflush(stderr);
    assert_int_equal(dup2(fileno(f), 2), 2);
    for (size_t i = 0; i < N; i++)
        kos__srv_log("%zu:%.*s", lens[i], (int)lens[i], text);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    rewind(f);
    n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    got[n] = '\0';
    p = got;
    for (size_t i = 0; i < N; i++) {
        char *nl = strchr(p, '\n'), *t = strstr(p, "Z kos-server: ");
        char want[16];
        assert_non_null(nl);
        assert_non_null(t);
        assert_true(t < nl);
        assert_int_equal(t - p, 26); /* 2026-12-07T18:07:08.565481 */
        t += strlen("Z kos-server: ");
        snprintf(want, sizeof(want), "%zu:", lens[i]);
        assert_memory_equal(t, want, strlen(want));
        t += strlen(want);
        assert_int_equal((size_t)(nl - t), lens[i]);
        assert_memory_equal(t, text, lens[i]);
        p = nl + 1;
    }
    assert_int_equal(*p, '\0'); /* nothing more */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
