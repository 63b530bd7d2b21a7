/*
 * test_text.c - kos__text_escape() (lib/text_int.h) shows every class of
 * dangerous text escaped and everything else as it is: printable ASCII, tab
 * and printable UTF-8 pass; C0 but tab, DEL and every byte of invalid UTF-8
 * (stray continuation bytes, overlong forms, surrogates, > U+10FFFF,
 * truncated sequences, 8-bit C1) become \xHH; the valid encodings of C1,
 * U+2028/2029 and the bidirectional controls become \uHHHH; the backslash
 * stays, so escaping is idempotent; a small buffer takes whole units only.
 * kos__text_boundary() cuts before a sequence cut short, never inside one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "text_int.h"

/* Escapes the len bytes at in and checks the result is `want` and that
 * escaping it again changes nothing. */
static void check_len(const char *in, size_t len, const char *want)
{
    char out[KOS__TEXT_ESCAPED_MAX(256) + 1], again[KOS__TEXT_ESCAPED_MAX(1024) + 1];
    size_t used = 0, n, m;

    assert_true(len <= 256);
    n = kos__text_escape(out, sizeof(out) - 1, in, len, &used);
    out[n] = 0;
    assert_int_equal(used, len);
    assert_string_equal(out, want);
    m = kos__text_escape(again, sizeof(again) - 1, out, n, &used);
    again[m] = 0;
    assert_int_equal(used, n);
    assert_string_equal(again, out);
}

static void check(const char *in, const char *want)
{
    check_len(in, strlen(in), want);
}

/* No byte of out[0..n) is a control, DEL, a C1 byte outside valid UTF-8, or
 * the start of a C1, separator or bidi control encoding. */
static void assert_safe(const char *out, size_t n)
{
    const unsigned char *s = (const unsigned char *)out;
    for (size_t i = 0; i < n; i++) {
        assert_false((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f);
        assert_false(s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f);
        assert_false(s[i] == 0xe2 && i + 2 < n && s[i + 1] == 0x80 && s[i + 2] >= 0xa8 &&
                     s[i + 2] <= 0xae);
        assert_false(s[i] == 0xe2 && i + 2 < n && s[i + 1] == 0x81 && s[i + 2] >= 0xa6 &&
                     s[i + 2] <= 0xa9);
    }
}

static void test_printable_passes(void **state)
{
    (void)state;
    check("hello, world ~!@#$%^&*()_+{}|:\"<>?`-=[];',./",
          "hello, world ~!@#$%^&*()_+{}|:\"<>?`-=[];',./");
    check("a\tb", "a\tb");
    check("", "");
    /* Printable UTF-8 of every length, the edges of the C1 block and of the
     * escaped ranges included. */
    check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad",
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad");
    check("\xc2\xa0\xc2\xa9", "\xc2\xa0\xc2\xa9");                 /* U+00A0, U+00A9 */
    check("\xe2\x80\xa7\xe2\x80\xaf", "\xe2\x80\xa7\xe2\x80\xaf"); /* U+2027, U+202F */
    check("\xe2\x81\xa5\xe2\x81\xaa", "\xe2\x81\xa5\xe2\x81\xaa"); /* U+2065, U+206A */
    check("\xe2\x80\x8d\xe2\x80\x90", "\xe2\x80\x8d\xe2\x80\x90"); /* U+200D, U+2010 */
    check("\xd8\x9b\xd8\x9d", "\xd8\x9b\xd8\x9d");                 /* U+061B, U+061D */
    check("\xed\x9f\xbf\xee\x80\x80", "\xed\x9f\xbf\xee\x80\x80"); /* U+D7FF, U+E000 */
    check("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");                 /* U+10FFFF */
    check("\xef\xbf\xbd", "\xef\xbf\xbd");                         /* U+FFFD */
}

static void test_c0_and_del(void **state)
{
    (void)state;
    check("a\rb\nc\x1b[2J\x07\x7f", "a\\x0db\\x0ac\\x1b[2J\\x07\\x7f");
    check_len("\0x", 2, "\\x00x");
    check("\x01\x1f", "\\x01\\x1f");
    /* The backslash stays: text that looks like an escape is left alone. */
    check("C:\\path \\x1b \\u0085", "C:\\path \\x1b \\u0085");
}

static void test_c1(void **state)
{
    (void)state;
    /* 8-bit C1: never valid UTF-8, so escaped as bytes. */
    check("\x9b"
          "2Jcore: self test passed",
          "\\x9b2Jcore: self test passed");
    check("\x80\x85\x9d\x9f", "\\x80\\x85\\x9d\\x9f");
    /* UTF-8 C1: CSI, OSC, NEL, and the ends of the block. */
    check("\xc2\x9b"
          "2J",
          "\\u009b2J");
    check("\xc2\x9d"
          "0;title\xc2\x9c",
          "\\u009d0;title\\u009c");
    check("a\xc2\x85z", "a\\u0085z");
    check("\xc2\x80\xc2\x9f", "\\u0080\\u009f");
}

static void test_separators_and_bidi(void **state)
{
    (void)state;
    check("a\xe2\x80\xa8z", "a\\u2028z");
    check("a\xe2\x80\xa9z", "a\\u2029z");
    check("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae",
          "\\u202a\\u202b\\u202c\\u202d\\u202e");
    check("\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9", "\\u2066\\u2067\\u2068\\u2069");
    check("\xe2\x80\x8e\xe2\x80\x8f", "\\u200e\\u200f");
    check("\xd8\x9c", "\\u061c");
    /* An override that would show "core" before the app's name. */
    check("\xe2\x80\xae"
          "eroc :x",
          "\\u202eeroc :x");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    /* Stray continuation bytes and bytes that never start a sequence. */
    check("\x80\xbf", "\\x80\\xbf");
    check("\xc0\xc1\xf5\xff", "\\xc0\\xc1\\xf5\\xff");
    /* Overlong forms: of "/" in two bytes, of U+009B in three (a C1 in
     * disguise), of U+0000 in four. */
    check("\xc0\xaf", "\\xc0\\xaf");
    check("\xe0\x82\x9b", "\\xe0\\x82\\x9b");
    check("\xf0\x80\x80\x80", "\\xf0\\x80\\x80\\x80");
    /* Surrogates and beyond U+10FFFF. */
    check("\xed\xa0\x80", "\\xed\\xa0\\x80");
    check("\xed\xbf\xbf", "\\xed\\xbf\\xbf");
    check("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
    /* Truncated: a lead without its continuation, before ASCII, before
     * another lead, and at the very end. */
    check("\xc2z", "\\xc2z");
    check("\xe2\x80z", "\\xe2\\x80z");
    check("\xe2\xc2\x85", "\\xe2\\u0085");
    check("ok\xf0\x9f\x98", "ok\\xf0\\x9f\\x98");
    check("ok\xc2", "ok\\xc2");
    /* A valid character right after invalid bytes is kept. */
    check("\xff\xc3\xa9", "\\xff\xc3\xa9");
}

static void test_small_buffer_whole_units(void **state)
{
    (void)state;
    const char in[] = "ab\xe2\x82\xac\x1b\xc2\x85z";
    const char whole[] = "ab\xe2\x82\xac\\x1b\\u0085z";
    /* Each room, what fits: never half a character or half an escape. */
    static const struct {
        size_t cap, n, used;
    } steps[] = {
        {0, 0, 0},   {1, 1, 1},   {4, 2, 2}, /* "ab", not half the euro sign */
        {8, 5, 5},                           /* the euro sign whole, not half of "\x1b" */
        {9, 9, 6},   {14, 9, 6},             /* "\u0085" needs six bytes */
        {15, 15, 8}, {64, 16, 9},
    };
    char out[64];
    size_t used, n;

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        n = kos__text_escape(out, steps[i].cap, in, sizeof(in) - 1, &used);
        assert_int_equal(n, steps[i].n);
        assert_int_equal(used, steps[i].used);
        assert_memory_equal(out, whole, n);
    }
}

static void test_worst_case_fits(void **state)
{
    (void)state;
    unsigned char in[256];
    char out[KOS__TEXT_ESCAPED_MAX(sizeof(in))];
    size_t used, n;

    /* Every byte value alone, and every byte value after a lead byte. */
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    n = kos__text_escape(out, sizeof(out), (const char *)in, sizeof(in), &used);
    assert_int_equal(used, sizeof(in));
    assert_safe(out, n);
    for (int lead = 0xc0; lead < 0x100; lead++) {
        for (int i = 0; i < 256; i += 2) {
            in[i] = (unsigned char)lead;
            in[i + 1] = (unsigned char)(i / 2 + 0x80);
        }
        n = kos__text_escape(out, sizeof(out), (const char *)in, sizeof(in), &used);
        assert_int_equal(used, sizeof(in));
        assert_safe(out, n);
    }
}

/* A character cut by a line split stays safe either way: each piece is
 * escaped byte by byte, never shown raw. */
static void test_cut_sequences(void **state)
{
    (void)state;
    /* U+009B cut after its lead: the lead and the stray continuation. */
    check("x\xc2", "x\\xc2");
    check("\x9b"
          "2J",
          "\\x9b2J");
    /* U+202E cut after one and after two bytes. */
    check("x\xe2", "x\\xe2");
    check("\x80\xae", "\\x80\\xae");
    check("x\xe2\x80", "x\\xe2\\x80");
    check("\xae", "\\xae");
}

static void test_boundary(void **state)
{
    (void)state;
    assert_int_equal(kos__text_boundary("abc", 3), 3);
    assert_int_equal(kos__text_boundary("", 0), 0);
    /* Complete sequences at the end: nothing is cut. */
    assert_int_equal(kos__text_boundary("a\xc3\xa9", 3), 3);
    assert_int_equal(kos__text_boundary("a\xe2\x82\xac", 4), 4);
    assert_int_equal(kos__text_boundary("a\xf0\x9f\x98\x80", 5), 5);
    /* A valid start cut short: cut before it. */
    assert_int_equal(kos__text_boundary("a\xc2", 2), 1);
    assert_int_equal(kos__text_boundary("a\xe2\x80", 3), 1);
    assert_int_equal(kos__text_boundary("a\xe2", 2), 1);
    assert_int_equal(kos__text_boundary("a\xf0\x9f\x98", 4), 1);
    assert_int_equal(kos__text_boundary("a\xf0\x9f", 3), 1);
    assert_int_equal(kos__text_boundary("\xf0", 1), 0);
    /* An invalid tail is not worth keeping whole: no cut. */
    assert_int_equal(kos__text_boundary("a\xed\xa0", 3), 3); /* a surrogate's start */
    assert_int_equal(kos__text_boundary("a\xe0\x80", 3), 3); /* overlong */
    assert_int_equal(kos__text_boundary("a\xf5", 2), 2);
    assert_int_equal(kos__text_boundary("a\xc0", 2), 2);
    assert_int_equal(kos__text_boundary("a\x80\x80\x80", 4), 4);
    assert_int_equal(kos__text_boundary("\xf0\x9f\x98\x80\x80", 5), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printable_passes),
        cmocka_unit_test(test_c0_and_del),
        cmocka_unit_test(test_c1),
        cmocka_unit_test(test_separators_and_bidi),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_small_buffer_whole_units),
        cmocka_unit_test(test_worst_case_fits),
        cmocka_unit_test(test_cut_sequences),
        cmocka_unit_test(test_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
