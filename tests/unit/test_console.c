/*
 * test_console.c - the console emits whole, well-formed lines: long lines
 * split at the bound (never inside a character), nothing lost, partial lines
 * flushed, controls escaped (C0, C1 in both encodings, invalid UTF-8,
 * separators, bidi controls); each process's lines are budgeted, and the
 * lines dropped are counted and handed over for a report at most once per
 * period. Time is the caller's, so nothing here depends on the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console_int.h"

#define TS_LEN 27
#define T0     1000 /* the time of every call, in ms, unless a test says */

struct capture {
    int rd;
    struct kos__console con;
    char out[65536];
    size_t len;
};

static void cap_init(struct capture *c)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    c->rd = p[0];
    c->con.fd = p[1];
    c->con.file_fd = -1;
    c->con.tap = NULL;
    c->len = 0;
}

/* Closes the write end and collects everything emitted. */
static void cap_collect(struct capture *c)
{
    ssize_t n;
    close(c->con.fd);
    while ((n = read(c->rd, c->out + c->len, sizeof(c->out) - 1 - c->len)) > 0)
        c->len += (size_t)n;
    c->out[c->len] = '\0';
    close(c->rd);
}

/* Returns the text of line `i` (0-based) after "<ts> <name>: ", checking the
 * prefix; NULL if there is no such line. The result is malloc()ed. */
static char *line_text(const char *out, int i, const char *name)
{
    const char *p = out;
    for (int k = 0; k < i; k++) {
        p = strchr(p, '\n');
        if (!p)
            return NULL;
        p++;
    }
    if (!*p)
        return NULL;
    const char *end = strchr(p, '\n');
    assert_non_null(end);
    assert_true(end - p > TS_LEN);
    assert_int_equal(p[4], '-');
    assert_int_equal(p[10], 'T');
    assert_int_equal(p[TS_LEN - 1], 'Z');
    assert_int_equal(p[TS_LEN], ' ');
    p += TS_LEN + 1;
    assert_memory_equal(p, name, strlen(name));
    p += strlen(name);
    assert_memory_equal(p, ": ", 2);
    p += 2;
    return strndup(p, (size_t)(end - p));
}

static void test_whole_lines_across_writes(void **state)
{
    (void)state;
    static struct capture c;
    struct kos__console_buf buf = {0};

    cap_init(&c);
    kos__console_buf_init(&buf, T0);
    kos__console_feed(&c.con, "pong", &buf, "hel", 3, T0);
    kos__console_feed(&c.con, "pong", &buf, "lo\nwor", 6, T0);
    kos__console_feed(&c.con, "pong", &buf, "ld\n\n", 4, T0);
    kos__console_feed(&c.con, "pong", &buf, "tail", 4, T0);
    kos__console_flush(&c.con, "pong", &buf, T0);
    kos__console_flush(&c.con, "pong", &buf, T0); /* nothing left: no line */
    cap_collect(&c);

    const char *want[] = {"hello", "world", "", "tail"};
    for (int i = 0; i < 4; i++) {
        char *t = line_text(c.out, i, "pong");
        assert_non_null(t);
        assert_string_equal(t, want[i]);
        free(t);
    }
    assert_null(line_text(c.out, 4, "pong"));
}

/* The tap sees each line as printed: its timestamp's time, the name, the
 * escaped text. */
struct tapped {
    int n;
    int64_t time_ns[4];
    char name[4][64];
    char text[4][256];
};

static void tap(void *arg, int64_t time_ns, const char *name, const char *text, size_t len)
{
    struct tapped *t = arg;
    if (t->n < 4) {
        t->time_ns[t->n] = time_ns;
        snprintf(t->name[t->n], sizeof(t->name[0]), "%s", name);
        snprintf(t->text[t->n], sizeof(t->text[0]), "%.*s", (int)len, text);
    }
    t->n++;
}

static void test_tap(void **state)
{
    (void)state;
    static struct capture c;
    struct kos__console_buf buf = {0};
    struct tapped t = {0};

    cap_init(&c);
    c.con.tap = tap;
    c.con.tap_arg = &t;
    kos__console_buf_init(&buf, T0);
    kos__console_feed(&c.con, "evil", &buf, "a\x1b[2Jb\n", 7, T0);
    kos__console_printf(&c.con, "core", "app '%s' stopped", "evil");
    cap_collect(&c);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.name[0], "evil");
    assert_string_equal(t.text[0], "a\\x1b[2Jb");
    assert_string_equal(t.name[1], "core");
    assert_string_equal(t.text[1], "app 'evil' stopped");
    /* The time is the timestamp's, to the microsecond. */
    assert_int_equal(t.time_ns[0] % 1000, 0);
    char *text = line_text(c.out, 0, "evil");
    assert_string_equal(text, t.text[0]);
    free(text);
    struct tm tm;
    char stamp[32];
    time_t sec = (time_t)(t.time_ns[1] / 1000000000);
    gmtime_r(&sec, &tm);
    size_t k = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + k, sizeof(stamp) - k, ".%06lldZ",
             (long long)(t.time_ns[1] % 1000000000) / 1000);
    assert_non_null(strstr(c.out, stamp));
}

static void test_long_line_split_not_lost(void **state)
{
    (void)state;
    static struct capture c;
    static char big[KOS__CONSOLE_LINE_MAX * 2 + 100];
    struct kos__console_buf buf = {0};

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    cap_init(&c);
    kos__console_buf_init(&buf, T0);
    kos__console_feed(&c.con, "spew", &buf, big, sizeof(big), T0);
    kos__console_feed(&c.con, "spew", &buf, "\n", 1, T0);
    /* A line of exactly the bound followed by its newline is one line. */
    kos__console_feed(&c.con, "spew", &buf, big, KOS__CONSOLE_LINE_MAX, T0);
    kos__console_feed(&c.con, "spew", &buf, "\n", 1, T0);
    cap_collect(&c);

    size_t lens[] = {KOS__CONSOLE_LINE_MAX, KOS__CONSOLE_LINE_MAX, 100, KOS__CONSOLE_LINE_MAX};
    size_t off = 0;
    for (int i = 0; i < 4; i++) {
        char *t = line_text(c.out, i, "spew");
        assert_non_null(t);
        assert_int_equal(strlen(t), lens[i]);
        assert_memory_equal(t, big + (i < 3 ? off : 0), lens[i]);
        off += lens[i];
        free(t);
    }
    assert_null(line_text(c.out, 4, "spew"));
}

static void test_control_bytes_escaped(void **state)
{
    (void)state;
    static struct capture c;
    struct kos__console_buf buf = {0};
    const char evil[] = "ok\r2026-01-01T00:00:00.000000Z core: forged\x1b[2J\x7f\tend\n";

    cap_init(&c);
    kos__console_buf_init(&buf, T0);
    kos__console_feed(&c.con, "evil", &buf, evil, sizeof(evil) - 1, T0);
    kos__console_printf(&c.con, "core", "value %d", 42);
    cap_collect(&c);

    char *t = line_text(c.out, 0, "evil");
    assert_string_equal(t, "ok\\x0d2026-01-01T00:00:00.000000Z core: forged\\x1b[2J\\x7f\tend");
    free(t);
    t = line_text(c.out, 1, "core");
    assert_string_equal(t, "value 42");
    free(t);
}

/* C1 controls in both encodings, invalid UTF-8, separators and bidi
 * controls: none reaches the output, and a forged Core line stays text of
 * the app's own line. */
static void test_c1_and_unicode_escaped(void **state)
{
    (void)state;
    static struct capture c;
    struct kos__console_buf buf;
    const char evil[] = "x\x9b"
                        "2K\xc2\x9b"
                        "1A\xc2\x9d"
                        "0;pwned\x07\xc2\x85"
                        "core: self test passed\xe2\x80\xa8\xe2\x80\xae\xff\xc0\xaf ok\n";

    cap_init(&c);
    kos__console_buf_init(&buf, T0);
    kos__console_feed(&c.con, "evil", &buf, evil, sizeof(evil) - 1, T0);
    cap_collect(&c);

    char *t = line_text(c.out, 0, "evil");
    assert_string_equal(t, "x\\x9b2K\\u009b1A\\u009d0;pwned\\x07\\u0085core: self test "
                           "passed\\u2028\\u202e\\xff\\xc0\\xaf ok");
    free(t);
    assert_null(line_text(c.out, 1, "evil"));
}

/* A line split at the bound is never split inside a character: the piece
 * ends before it and the next piece begins with it. A line that ends at the
 * bound with a character cut short is shown escaped. Either way the result
 * does not depend on how the bytes arrived. */
static void test_split_keeps_characters_whole(void **state)
{
    (void)state;
    static struct capture c, d;
    static char in[3 * KOS__CONSOLE_LINE_MAX + 16];
    struct kos__console_buf buf;
    size_t n = 0;

    /* Three lines of 2047 bytes, each followed by a character across the
     * bound: a euro sign, a UTF-8 CSI, and a lead byte that a newline cuts
     * short in a line of exactly the bound. */
    static const char *const ends[] = {"\xe2\x82\xac"
                                       "b\n",
                                       "\xc2\x9b"
                                       "2J\n",
                                       "\xc2\n"};
    for (int k = 0; k < 3; k++) {
        memset(in + n, 'a', KOS__CONSOLE_LINE_MAX - 1);
        n += KOS__CONSOLE_LINE_MAX - 1;
        memcpy(in + n, ends[k], strlen(ends[k]));
        n += strlen(ends[k]);
    }

    /* All at once, and one byte at a time. */
    cap_init(&c);
    kos__console_buf_init(&buf, T0);
    kos__console_feed(&c.con, "utf", &buf, in, n, T0);
    kos__console_flush(&c.con, "utf", &buf, T0);
    cap_collect(&c);
    cap_init(&d);
    kos__console_buf_init(&buf, T0);
    for (size_t i = 0; i < n; i++)
        kos__console_feed(&d.con, "utf", &buf, in + i, 1, T0);
    kos__console_flush(&d.con, "utf", &buf, T0);
    cap_collect(&d);

    const char *tails[] = {NULL,
                           "\xe2\x82\xac"
                           "b",
                           NULL, "\\u009b2J", NULL};
    for (int i = 0; i < 5; i++) {
        char *t = line_text(c.out, i, "utf");
        char *u = line_text(d.out, i, "utf");
        assert_non_null(t);
        assert_string_equal(t, u);
        if (tails[i]) {
            assert_string_equal(t, tails[i]);
        } else {
            size_t len = strlen(t);
            assert_int_equal(len, KOS__CONSOLE_LINE_MAX - 1 + (i == 4 ? 4 : 0));
            assert_int_equal(strspn(t, "a"), KOS__CONSOLE_LINE_MAX - 1);
            if (i == 4)
                assert_string_equal(t + KOS__CONSOLE_LINE_MAX - 1, "\\xc2");
        }
        free(t);
        free(u);
    }
    assert_null(line_text(c.out, 5, "utf"));
    assert_null(line_text(d.out, 5, "utf"));
}

/* Counts the lines of process `name` in file f, from the start. */
static unsigned count_lines(FILE *f, const char *name)
{
    char line[4 * KOS__CONSOLE_LINE_MAX + 256], pat[80];
    unsigned n = 0;

    snprintf(pat, sizeof(pat), " %s: ", name);
    rewind(f);
    while (fgets(line, sizeof(line), f))
        n += strstr(line, pat) == line + TS_LEN;
    return n;
}

/* Each process may write KOS__CONSOLE_BURST lines at once and then one per
 * KOS__CONSOLE_EVERY_MS; what is over is dropped and counted; the count is
 * handed over at once the first time, then at most once per
 * KOS__CONSOLE_REPORT_MS, and whenever the process has ended. Another
 * process's budget and Core's own lines are untouched. */
static void test_budget(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    struct kos__console con = {.fd = -1};
    struct kos__console_buf flood, calm;
    uint64_t t = T0;

    assert_non_null(f);
    con.file_fd = fileno(f);
    kos__console_buf_init(&flood, t);
    kos__console_buf_init(&calm, t);
    assert_int_equal(kos__console_drops(&flood, t, true), 0);

    /* The burst, then 500 lines over it (split lines count as lines). */
    for (unsigned i = 0; i < KOS__CONSOLE_BURST + 499; i++)
        kos__console_feed(&con, "flood", &flood, "x\n", 2, t);
    static char big[KOS__CONSOLE_LINE_MAX + 1];
    memset(big, 'y', sizeof(big));
    kos__console_feed(&con, "flood", &flood, big, sizeof(big), t);
    kos__console_feed(&con, "flood", &flood, "\n", 1, t); /* "y": the 1001st piece */
    assert_int_equal(count_lines(f, "flood"), KOS__CONSOLE_BURST);
    assert_int_equal(kos__console_drops(&flood, t, false), 501);
    assert_int_equal(kos__console_drops(&flood, t, false), 0);

    /* The other process and Core are not touched. */
    kos__console_feed(&con, "calm", &calm, "hello\n", 6, t);
    kos__console_printf(&con, "core", "still here");
    assert_int_equal(count_lines(f, "calm"), 1);
    assert_int_equal(count_lines(f, "core"), 1);

    /* One line per KOS__CONSOLE_EVERY_MS after that. */
    t += KOS__CONSOLE_EVERY_MS;
    for (int i = 0; i < 3; i++)
        kos__console_feed(&con, "flood", &flood, "z\n", 2, t);
    assert_int_equal(count_lines(f, "flood"), KOS__CONSOLE_BURST + 1);
    t += 10 * KOS__CONSOLE_EVERY_MS;
    for (int i = 0; i < 20; i++)
        kos__console_feed(&con, "flood", &flood, "z\n", 2, t);
    assert_int_equal(count_lines(f, "flood"), KOS__CONSOLE_BURST + 11);

    /* A partial line flushed without credit is dropped too. */
    kos__console_feed(&con, "flood", &flood, "tail", 4, t);
    kos__console_flush(&con, "flood", &flood, t);
    assert_int_equal(count_lines(f, "flood"), KOS__CONSOLE_BURST + 11);

    /* The 13 dropped since the report wait for the period. */
    assert_int_equal(kos__console_drops(&flood, t, false), 0);
    assert_int_equal(kos__console_drops(&flood, T0 + KOS__CONSOLE_REPORT_MS - 1, false), 0);
    t = T0 + KOS__CONSOLE_REPORT_MS;
    assert_int_equal(kos__console_drops(&flood, t, false), 13);

    /* The credit of the time since, then drops that the end reports at
     * once. */
    for (unsigned i = 0; i < KOS__CONSOLE_BURST; i++)
        kos__console_feed(&con, "flood", &flood, "v\n", 2, t);
    unsigned shown = count_lines(f, "flood") - (KOS__CONSOLE_BURST + 11);
    assert_true(shown > 0 && shown <= KOS__CONSOLE_REPORT_MS / KOS__CONSOLE_EVERY_MS);
    assert_int_equal(kos__console_drops(&flood, t, false), 0);
    assert_int_equal(kos__console_drops(&flood, t, true), KOS__CONSOLE_BURST - shown);

    /* Quiet for long enough, a full burst again. */
    t += (uint64_t)KOS__CONSOLE_BURST * KOS__CONSOLE_EVERY_MS;
    for (unsigned i = 0; i < KOS__CONSOLE_BURST + 1; i++)
        kos__console_feed(&con, "flood", &flood, "w\n", 2, t);
    assert_int_equal(count_lines(f, "flood"), 2 * KOS__CONSOLE_BURST + 11 + shown);
    assert_int_equal(kos__console_drops(&flood, t, true), 1);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_lines_across_writes),
        cmocka_unit_test(test_tap),
        cmocka_unit_test(test_long_line_split_not_lost),
        cmocka_unit_test(test_control_bytes_escaped),
        cmocka_unit_test(test_c1_and_unicode_escaped),
        cmocka_unit_test(test_split_keeps_characters_whole),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
