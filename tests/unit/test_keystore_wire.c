/*
 * test_keystore_wire.c - kos_keystore_protocol's wire codec
 * (lib/keystore.c): every request round-trips; malformed payloads (short,
 * long, bad name lengths, bad names, trailing bytes, params where none
 * belong), unknown labels and oversized data are refused with the
 * documented status; arbitrary bytes never crash the decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keystore_int.h"

static uint8_t buf[KOS_MSG_MAX_PAYLOAD + 64];
static uint8_t data[KOS_MSG_MAX_PAYLOAD];

static void test_round_trip(void **state)
{
    uint8_t sig[64], peer[32];
    struct kos__ks_req in, out;
    uint32_t len;
    (void)state;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    memset(sig, 0xa5, sizeof(sig));
    memset(peer, 0x5a, sizeof(peer));

    in = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_PUBLIC_KEY, .key = "identity"};
    assert_int_equal(kos__ks_encode(&in, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(len, 1 + 8);
    assert_int_equal(buf[0], 8);
    assert_int_equal(kos__ks_decode(in.label, 0, buf, len, &out), KOS_STATUS_OK);
    assert_string_equal(out.key, "identity");
    assert_int_equal(out.len, 0);

    in = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_SIGN,
                              .key = "identity",
                              .data = data,
                              .len = KOS_KEYSTORE_DATA_MAX};
    assert_int_equal(kos__ks_encode(&in, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__ks_decode(in.label, 0, buf, len, &out), KOS_STATUS_OK);
    assert_int_equal(out.len, KOS_KEYSTORE_DATA_MAX);
    assert_memory_equal(out.data, data, KOS_KEYSTORE_DATA_MAX);

    in = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_SIGN, .key = "k"};
    assert_int_equal(kos__ks_encode(&in, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__ks_decode(in.label, 0, buf, len, &out), KOS_STATUS_OK);
    assert_int_equal(out.len, 0); /* signing nothing is allowed */

    in = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_VERIFY,
                              .key = "trusted_0",
                              .param = KOS_KEYSTORE_MODE_DIGEST,
                              .sig = sig,
                              .data = data,
                              .len = 64};
    assert_int_equal(kos__ks_encode(&in, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(len, 1 + 9 + 64 + 64);
    assert_int_equal(kos__ks_decode(in.label, in.param, buf, len, &out), KOS_STATUS_OK);
    assert_memory_equal(out.sig, sig, 64);
    assert_memory_equal(out.data, data, 64);

    in = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_AGREE,
                              .key = "tunnel",
                              .param = 32,
                              .peer = peer,
                              .data = (const uint8_t *)"link",
                              .len = 4};
    assert_int_equal(kos__ks_encode(&in, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__ks_decode(in.label, 32, buf, len, &out), KOS_STATUS_OK);
    assert_memory_equal(out.peer, peer, 32);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "link", 4);
    assert_int_equal(out.param, 32);
}

/* Builds a payload: name_len byte, name, then `rest` bytes of 0x11. */
static size_t raw(uint8_t name_len, const char *name, size_t rest)
{
    size_t n = strlen(name);
    buf[0] = name_len;
    memcpy(buf + 1, name, n);
    memset(buf + 1 + n, 0x11, rest);
    return 1 + n + rest;
}

static void test_decode_refuses(void **state)
{
    struct kos__ks_req r;
    size_t n;
    (void)state;

    /* unknown labels */
    n = raw(3, "abc", 0);
    assert_int_equal(kos__ks_decode(0, 0, buf, n, &r), KOS_STATUS_UNSUPPORTED);
    assert_int_equal(kos__ks_decode(6, 0, buf, n, &r), KOS_STATUS_UNSUPPORTED);
    assert_int_equal(kos__ks_decode(0xfffffffe, 0, buf, n, &r), KOS_STATUS_UNSUPPORTED);
    /* no payload, or a NULL one claiming bytes */
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 0, buf, 0, &r), KOS_STATUS_PROTOCOL);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 0, NULL, 5, &r), KOS_STATUS_PROTOCOL);
    /* name lengths: 0, over the maximum, over the payload */
    n = raw(0, "", 10);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 0, buf, n, &r), KOS_STATUS_PROTOCOL);
    n = raw(32, "abcdefghijabcdefghijabcdefghijab", 0);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, buf, n, &r),
                     KOS_STATUS_PROTOCOL);
    n = raw(9, "identity", 0); /* claims 9, has 8 */
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, buf, n, &r),
                     KOS_STATUS_PROTOCOL);
    n = raw(255, "x", 0);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 0, buf, n, &r), KOS_STATUS_PROTOCOL);
    /* bad characters in the name */
    n = raw(8, "Identity", 0);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, buf, n, &r),
                     KOS_STATUS_INVALID_ARGUMENT);
    n = raw(4, "a/..", 0);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, buf, n, &r),
                     KOS_STATUS_INVALID_ARGUMENT);
    buf[0] = 3;
    buf[1] = 'a';
    buf[2] = '\0';
    buf[3] = 'b';
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, buf, 4, &r),
                     KOS_STATUS_INVALID_ARGUMENT);
    /* PUBLIC_KEY: no param, nothing after the name */
    n = raw(3, "abc", 1);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, buf, n, &r),
                     KOS_STATUS_PROTOCOL);
    n = raw(3, "abc", 0);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_PUBLIC_KEY, 1, buf, n, &r),
                     KOS_STATUS_PROTOCOL);
    /* SIGN: unknown mode, data too large, digest of the wrong length */
    n = raw(3, "abc", 10);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 2, buf, n, &r),
                     KOS_STATUS_INVALID_ARGUMENT);
    n = raw(3, "abc", KOS_KEYSTORE_DATA_MAX + 1);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 0, buf, n, &r), KOS_STATUS_TOO_LARGE);
    n = raw(3, "abc", 63);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 1, buf, n, &r), KOS_STATUS_PROTOCOL);
    n = raw(3, "abc", 65);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 1, buf, n, &r), KOS_STATUS_PROTOCOL);
    /* VERIFY: shorter than a signature */
    n = raw(3, "abc", 63);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_VERIFY, 0, buf, n, &r), KOS_STATUS_PROTOCOL);
    n = raw(3, "abc", 64 + 63);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_VERIFY, 1, buf, n, &r), KOS_STATUS_PROTOCOL);
    n = raw(3, "abc", 64);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_VERIFY, 0, buf, n, &r), KOS_STATUS_OK);
    /* AGREE: output length out of range, no label, label too long */
    n = raw(3, "abc", 32 + 4);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_AGREE, 15, buf, n, &r),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_AGREE, 65, buf, n, &r),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_AGREE, UINT64_MAX, buf, n, &r),
                     KOS_STATUS_INVALID_ARGUMENT);
    n = raw(3, "abc", 32);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_AGREE, 32, buf, n, &r), KOS_STATUS_PROTOCOL);
    n = raw(3, "abc", 31);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_AGREE, 32, buf, n, &r), KOS_STATUS_PROTOCOL);
    n = raw(3, "abc", 32 + 256);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_AGREE, 32, buf, n, &r),
                     KOS_STATUS_TOO_LARGE);
    n = raw(3, "abc", 32 + 255);
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_AGREE, 32, buf, n, &r), KOS_STATUS_OK);
    /* over the message limit */
    assert_int_equal(kos__ks_decode(KOS_KEYSTORE_LABEL_SIGN, 0, buf, KOS_MSG_MAX_PAYLOAD + 1, &r),
                     KOS_STATUS_TOO_LARGE);
}

static void test_encode_refuses(void **state)
{
    uint8_t sig[64] = {0}, peer[32] = {0};
    struct kos__ks_req r;
    uint32_t len;
    (void)state;

    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_SIGN, .key = ""};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_SIGN, .key = "UPPER"};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    r = (struct kos__ks_req){.label = 9, .key = "k"};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_UNSUPPORTED);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_SIGN, .key = "k", .len = 3};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_SIGN,
                             .key = "k",
                             .data = data,
                             .len = KOS_KEYSTORE_DATA_MAX + 1};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_TOO_LARGE);
    r = (struct kos__ks_req){
        .label = KOS_KEYSTORE_LABEL_SIGN, .key = "k", .data = data, .len = (size_t)1 << 40};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_TOO_LARGE);
    r = (struct kos__ks_req){
        .label = KOS_KEYSTORE_LABEL_VERIFY, .key = "k", .data = data, .len = 1};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_VERIFY,
                             .key = "k",
                             .sig = sig,
                             .param = 1,
                             .data = data,
                             .len = 10};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    r = (struct kos__ks_req){
        .label = KOS_KEYSTORE_LABEL_AGREE, .key = "k", .param = 32, .data = data, .len = 1};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_AGREE,
                             .key = "k",
                             .param = 8,
                             .peer = peer,
                             .data = data,
                             .len = 1};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_AGREE,
                             .key = "k",
                             .param = 32,
                             .peer = peer,
                             .data = data,
                             .len = 0};
    assert_int_equal(kos__ks_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    /* too small a buffer */
    r = (struct kos__ks_req){
        .label = KOS_KEYSTORE_LABEL_SIGN, .key = "k", .data = data, .len = 100};
    assert_int_equal(kos__ks_encode(&r, buf, 50, &len), KOS_STATUS_TOO_LARGE);
}

static void test_name_valid(void **state)
{
    (void)state;
    assert_true(kos__ks_name_valid("identity", 8));
    assert_true(kos__ks_name_valid("trusted_12", 10));
    assert_true(kos__ks_name_valid("abcdefghijabcdefghijabcdefghija", 31));
    assert_false(kos__ks_name_valid("abcdefghijabcdefghijabcdefghijab", 32));
    assert_false(kos__ks_name_valid("", 0));
    assert_false(kos__ks_name_valid(NULL, 3));
    assert_false(kos__ks_name_valid("a-b", 3));
    assert_false(kos__ks_name_valid("a b", 3));
}

/* Arbitrary bytes: the decoder answers with a status and never reads
 * outside the payload (ASan checks the latter: each payload is a fresh
 * allocation of exactly its length). */
static void test_garbage(void **state)
{
    struct kos__ks_req r;
    uint32_t seed = 12345;
    (void)state;

    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(iter % 300);
        uint8_t *p = malloc(n ? n : 1);
        uint32_t label = (uint32_t)(iter % 6);
        kos_status_t st;

        assert_non_null(p);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            p[i] = (uint8_t)(seed >> 16);
        }
        if (n && iter % 3 == 0)
            p[0] = (uint8_t)(iter % 40); /* plausible name lengths */
        if (n > 5 && iter % 2 == 0)
            memset(p + 1, 'a', n > 20 ? 19 : n - 1);
        st = kos__ks_decode(label, (uint64_t)(iter % 70), p, n, &r);
        assert_true(st == KOS_STATUS_OK || st == KOS_STATUS_PROTOCOL ||
                    st == KOS_STATUS_INVALID_ARGUMENT || st == KOS_STATUS_TOO_LARGE ||
                    st == KOS_STATUS_UNSUPPORTED);
        if (st == KOS_STATUS_OK)
            assert_true(r.len <= n);
        free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_encode_refuses), cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
