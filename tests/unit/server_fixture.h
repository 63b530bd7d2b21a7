/*
 * server_fixture.h - what the unit tests of kos-server's modules share: a
 * scratch folder per test and keys made with OpenSSL.
 */
#ifndef KOS_TESTS_SERVER_FIXTURE_H
#define KOS_TESTS_SERVER_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

/* The scratch folder of the running test. */
static char scratch[64] __attribute__((unused));

__attribute__((unused)) static int scratch_setup(void **state)
{
    (void)state;
    snprintf(scratch, sizeof(scratch), "/tmp/kos-server-test-XXXXXX");
    return mkdtemp(scratch) ? 0 : -1;
}

__attribute__((unused)) static int scratch_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* scratch/name, in a static buffer (one of four, used in turn). */
__attribute__((unused)) static const char *in_scratch(const char *name)
{
    static char paths[4][256];
    static unsigned next;
    char *p = paths[next++ % 4];

    snprintf(p, 256, "%s/%s", scratch, name);
    return p;
}

/* A new key of OpenSSL type `type` ("ED25519", "X25519", "EC" (P-256)). */
__attribute__((unused)) static EVP_PKEY *new_key(const char *type)
{
    if (strcmp(type, "EC") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return EVP_PKEY_Q_keygen(NULL, NULL, type);
}

/* The PEM of pkey's public half (or, with priv, its private key), as a
 * new string (free). */
__attribute__((unused)) static char *key_pem(EVP_PKEY *pkey, int priv)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out;
    long len;

    if (priv)
        PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(bio, pkey);
    len = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)len);
    BIO_free(bio);
    return out;
}

/* Writes text to scratch/name. */
__attribute__((unused)) static void write_scratch(const char *name, const char *text)
{
    FILE *f = fopen(in_scratch(name), "w");

    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

#endif
