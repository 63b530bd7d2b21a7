/*
 * test_rng_server.c - ChaCha20 (components/rng_server/chacha20.c) against the
 * test vectors of RFC 8439 (sections 2.3.2, 2.4.2 and appendix A.1/A.2), and
 * against OpenSSL's EVP_chacha20 on random keys; the generator (drbg.c):
 * fast key erasure, the reseed schedule, distinct outputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "chacha20.h"
#include "drbg.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        while (*h == ' ' || *h == ':' || *h == '\n')
            h++;
        assert_int_equal(sscanf(h, "%2x", &v), 1);
        out[i] = (uint8_t)v;
        h += 2;
    }
}

static void key_0_to_31(uint8_t key[32])
{
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
}

/* RFC 8439 2.3.2: block function, key 00..1f, nonce 000000090000004a00000000,
 * counter 1. */
static void test_block_2_3_2(void **state)
{
    uint8_t key[32], nonce[12], out[64], want[64];
    (void)state;

    key_0_to_31(key);
    unhex("000000090000004a00000000", nonce, 12);
    unhex("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
          "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
          want, 64);
    chacha20_block(key, 1, nonce, out);
    assert_memory_equal(out, want, 64);
}

/* RFC 8439 2.4.2: encryption of the "sunscreen" text, counter 1. */
static void test_encrypt_2_4_2(void **state)
{
    static const char plain[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
                                "only one tip for the future, sunscreen would be it.";
    uint8_t key[32], nonce[12], buf[114], want[114];
    (void)state;

    assert_int_equal(strlen(plain), 114);
    key_0_to_31(key);
    unhex("000000000000004a00000000", nonce, 12);
    unhex("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
          "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
          "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
          "5af90bbf74a35be6b40b8eedf2785e42874d",
          want, 114);
    memcpy(buf, plain, 114);
    chacha20_xor(key, 1, nonce, buf, sizeof(buf));
    assert_memory_equal(buf, want, 114);
    chacha20_xor(key, 1, nonce, buf, sizeof(buf));
    assert_memory_equal(buf, plain, 114);
}

/* RFC 8439 A.1 test vectors #1 and #2: the all-zero key and nonce at
 * counters 0 and 1. */
static void test_keystream_a1(void **state)
{
    uint8_t key[32] = {0}, nonce[12] = {0}, out[64], want[64];
    (void)state;

    unhex("76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
          "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586",
          want, 64);
    chacha20_block(key, 0, nonce, out);
    assert_memory_equal(out, want, 64);
    unhex("9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
          "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f",
          want, 64);
    chacha20_block(key, 1, nonce, out);
    assert_memory_equal(out, want, 64);
}

/* Our keystream equals OpenSSL's over odd lengths and block boundaries. */
static void test_against_openssl(void **state)
{
    (void)state;
    for (int round = 0; round < 50; round++) {
        uint8_t key[32], nonce[12], iv[16], ours[1000] = {0}, theirs[1000] = {0}, zero[1000] = {0};
        uint32_t counter;
        size_t len;
        int outl;

        assert_int_equal(getrandom(key, 32, 0), 32);
        assert_int_equal(getrandom(nonce, 12, 0), 12);
        assert_int_equal(getrandom(&counter, 4, 0), 4);
        counter &= 0xffff;
        len = 1 + (size_t)round * 19 % 999;
        chacha20_xor(key, counter, nonce, ours, len);

        memcpy(iv, &counter, 4); /* OpenSSL: 32-bit LE counter, then nonce */
        memcpy(iv + 4, nonce, 12);
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        assert_non_null(ctx);
        assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, key, iv), 1);
        assert_int_equal(EVP_EncryptUpdate(ctx, theirs, &outl, zero, (int)len), 1);
        EVP_CIPHER_CTX_free(ctx);
        assert_int_equal(outl, (int)len);
        assert_memory_equal(ours, theirs, len);
    }
}

/* Fast key erasure: the key changes on every request, the output is the
 * keystream after the new key, and equal seeds give equal streams. */
static void test_drbg_erasure(void **state)
{
    struct drbg a, b;
    uint8_t seed[32] = {1, 2, 3}, key0[32], out[100], ks[64 + 100] = {0};
    uint8_t zero_nonce[12] = {0};
    (void)state;

    memset(&a, 0, sizeof(a));
    drbg_reseed_with(&a, seed, 0);
    b = a;
    memcpy(key0, a.key, 32);
    assert_int_equal(drbg_generate(&a, out, sizeof(out), 0), KOS_STATUS_OK);
    /* keystream under key0: bytes 0..31 new key, 32.. the output */
    chacha20_xor(key0, 0, zero_nonce, ks, sizeof(ks));
    assert_memory_equal(a.key, ks, 32);
    assert_memory_equal(out, ks + 32, sizeof(out));
    assert_memory_not_equal(a.key, key0, 32);

    uint8_t out_b[100];
    assert_int_equal(drbg_generate(&b, out_b, sizeof(out_b), 0), KOS_STATUS_OK);
    assert_memory_equal(out, out_b, sizeof(out));
    /* the next request differs from the first */
    assert_int_equal(drbg_generate(&b, out_b, sizeof(out_b), 0), KOS_STATUS_OK);
    assert_memory_not_equal(out, out_b, sizeof(out));
    drbg_fini(&a);
    drbg_fini(&b);
    uint8_t zero[sizeof(a)] = {0};
    assert_memory_equal(&a, zero, sizeof(a));
}

/* Reseeds happen by time and by volume, and two kernel-seeded generators
 * differ. */
static void test_drbg_schedule(void **state)
{
    struct drbg a, b;
    uint8_t x[64], y[64];
    (void)state;

    assert_int_equal(drbg_init(&a, 1000, 256, 0), KOS_STATUS_OK);
    assert_int_equal(drbg_init(&b, 0, 0, 0), KOS_STATUS_OK);
    assert_int_equal(a.reseeds, 1);
    assert_int_equal(drbg_generate(&a, x, 64, 10), KOS_STATUS_OK);
    assert_int_equal(drbg_generate(&b, y, 64, 10), KOS_STATUS_OK);
    assert_memory_not_equal(x, y, 64);
    assert_int_equal(a.reseeds, 1);
    assert_int_equal(drbg_generate(&a, x, 64, 2000), KOS_STATUS_OK); /* by time */
    assert_int_equal(a.reseeds, 2);
    for (int i = 0; i < 3; i++) /* 256 bytes served since the reseed */
        assert_int_equal(drbg_generate(&a, x, 64, 2000), KOS_STATUS_OK);
    assert_int_equal(a.reseeds, 2);
    assert_int_equal(drbg_generate(&a, x, 64, 2000), KOS_STATUS_OK); /* by volume */
    assert_int_equal(a.reseeds, 3);
    assert_int_equal(drbg_generate(&a, x, DRBG_MAX_REQUEST + 1, 2000), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(b.reseeds, 1);
    drbg_fini(&a);
    drbg_fini(&b);
}

/* A forked child never continues its parent's stream: its first output is
 * reseeded from the kernel, so parent and child give different bytes. */
static void test_drbg_fork(void **state)
{
    struct drbg d;
    uint8_t mine[32], theirs[32], reseeds = 0;
    int p[2];
    pid_t pid;
    (void)state;

    assert_int_equal(drbg_init(&d, 0, 0, 0), KOS_STATUS_OK);
    assert_non_null(d.fork_guard); /* this kernel has MADV_WIPEONFORK */
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t out[33];
        if (drbg_generate(&d, out, 32, 0) != KOS_STATUS_OK)
            _exit(1);
        out[32] = (uint8_t)d.reseeds;
        _exit(write(p[1], out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 1);
    }
    assert_int_equal(drbg_generate(&d, mine, 32, 0), KOS_STATUS_OK);
    assert_int_equal(d.reseeds, 1); /* the parent was not reseeded */
    assert_int_equal(read(p[0], theirs, 32), 32);
    assert_int_equal(read(p[0], &reseeds, 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(reseeds, 2); /* the child was */
    assert_memory_not_equal(mine, theirs, 32);
    close(p[0]);
    close(p[1]);
    drbg_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_2_3_2),  cmocka_unit_test(test_encrypt_2_4_2),
        cmocka_unit_test(test_keystream_a1), cmocka_unit_test(test_against_openssl),
        cmocka_unit_test(test_drbg_erasure), cmocka_unit_test(test_drbg_schedule),
        cmocka_unit_test(test_drbg_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
