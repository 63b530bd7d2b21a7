/*
 * test_server_ca.c - kos-server's CA (server/ca.c): it is made once and
 * loaded again; a device certificate verifies against it with `openssl
 * verify`, certifies the device's key under CN = the device id and is for
 * client authentication; the device port's certificate names 127.0.0.1 and
 * localhost, and its TLS context accepts exactly the clients that hold a
 * certificate of this CA; a public key from an API client is taken only as
 * one Ed25519 SubjectPublicKeyInfo PEM, anything else refused saying what
 * it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ca.h"
#include "server_fixture.h"

static char err[1024];

static mode_t mode_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_mode & 0777 : (mode_t)-1;
}

static void raw_of(EVP_PKEY *k, uint8_t raw[32])
{
    size_t len = 32;
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &len), 1);
    assert_int_equal(len, 32);
}

/* Runs a shell command; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void test_made_once_then_loaded(void **state)
{
    struct kos__ca *ca, *again;
    char *first;

    (void)state;
    assert_int_equal(kos__ca_open(scratch, &ca, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(mode_of(in_scratch("ca.key")), 0600);
    first = strdup(kos__ca_cert_pem(ca));
    kos__ca_close(ca);
    assert_int_equal(kos__ca_open(scratch, &again, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(kos__ca_cert_pem(again), first);
    kos__ca_close(again);
    free(first);
    /* A self-signed CA certificate, and a CA. */
    assert_int_equal(sh("openssl verify -CAfile %s/ca.crt %s/ca.crt >/dev/null", scratch, scratch),
                     0);
    assert_int_equal(sh("openssl x509 -in %s/ca.crt -noout -ext basicConstraints | grep -q "
                        "'CA:TRUE'",
                        scratch),
                     0);
    kos__ca_close(NULL);
}

static void test_refuses_broken_ca(void **state)
{
    struct kos__ca *ca;

    (void)state;
    assert_int_equal(kos__ca_open(scratch, &ca, err, sizeof(err)), KOS_STATUS_OK);
    kos__ca_close(ca);
    chmod(in_scratch("ca.key"), 0644);
    assert_int_not_equal(kos__ca_open(scratch, &ca, err, sizeof(err)), KOS_STATUS_OK);
    assert_non_null(strstr(err, "chmod 600"));
    chmod(in_scratch("ca.key"), 0600);
    unlink(in_scratch("ca.crt"));
    assert_int_not_equal(kos__ca_open(scratch, &ca, err, sizeof(err)), KOS_STATUS_OK);
    assert_non_null(strstr(err, "without"));
    /* A certificate that is not the key's. */
    write_scratch("ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert_int_not_equal(kos__ca_open(scratch, &ca, err, sizeof(err)), KOS_STATUS_OK);
}

static void test_device_certificate(void **state)
{
    struct kos__ca *ca;
    EVP_PKEY *k = new_key("ED25519");
    uint8_t raw[32], md[32];
    char id[65], want[65], *pem, cn[128] = "";
    X509 *x;
    BIO *bio;

    (void)state;
    raw_of(k, raw);
    assert_int_equal(kos__ca_open(scratch, &ca, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(kos__ca_issue_device(ca, raw, &pem, err, sizeof(err)), KOS_STATUS_OK);
    kos__ca_device_id(raw, id);
    SHA256(raw, 32, md);
    for (int i = 0; i < 32; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(id, want);
    write_scratch("dev.crt", pem);
    assert_int_equal(sh("openssl verify -CAfile %s/ca.crt %s/dev.crt >/dev/null", scratch, scratch),
                     0);
    assert_int_equal(
        sh("openssl x509 -in %s/dev.crt -noout -subject | grep -qx 'subject=CN = %s'", scratch, id),
        0);
    assert_int_equal(sh("openssl x509 -in %s/dev.crt -noout -ext extendedKeyUsage | grep -q "
                        "'Client Authentication'",
                        scratch),
                     0);
    bio = BIO_new_mem_buf(pem, -1);
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(x);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), k), 1);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, id);
    X509_free(x);
    /* A certificate from another CA does not verify against this one. */
    sh("mkdir -p %s/other", scratch);
    struct kos__ca *other;
    char *pem2;
    assert_int_equal(kos__ca_open(in_scratch("other"), &other, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(kos__ca_issue_device(other, raw, &pem2, err, sizeof(err)), KOS_STATUS_OK);
    write_scratch("other.crt", pem2);
    assert_int_not_equal(
        sh("openssl verify -CAfile %s/ca.crt %s/other.crt >/dev/null 2>&1", scratch, scratch), 0);
    free(pem2);
    kos__ca_close(other);
    free(pem);
    kos__ca_close(ca);
    EVP_PKEY_free(k);
}

static void test_public_key_parsing(void **state)
{
    EVP_PKEY *ed = new_key("ED25519"), *x = new_key("X25519"), *ec = new_key("EC");
    char *pem = key_pem(ed, 0), *xpem = key_pem(x, 0), *ecpem = key_pem(ec, 0);
    char *priv = key_pem(ed, 1), buf[4096];
    uint8_t raw[32], want[32];

    (void)state;
    raw_of(ed, want);
    assert_int_equal(kos__ca_parse_public_key(pem, strlen(pem), raw, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_memory_equal(raw, want, 32);
    /* Whitespace around it is fine. */
    snprintf(buf, sizeof(buf), "\n  %s\n\n", pem);
    assert_int_equal(kos__ca_parse_public_key(buf, strlen(buf), raw, err, sizeof(err)),
                     KOS_STATUS_OK);
    /* Another type says which. */
    assert_int_not_equal(kos__ca_parse_public_key(xpem, strlen(xpem), raw, err, sizeof(err)),
                         KOS_STATUS_OK);
    assert_non_null(strstr(err, "X25519"));
    assert_int_not_equal(kos__ca_parse_public_key(ecpem, strlen(ecpem), raw, err, sizeof(err)),
                         KOS_STATUS_OK);
    assert_non_null(strstr(err, "EC key"));
    /* A private key is refused, and named so. */
    assert_int_not_equal(kos__ca_parse_public_key(priv, strlen(priv), raw, err, sizeof(err)),
                         KOS_STATUS_OK);
    assert_non_null(strstr(err, "private key"));
    /* Two keys, text around one, a broken body, nothing. */
    snprintf(buf, sizeof(buf), "%s%s", pem, pem);
    assert_int_not_equal(kos__ca_parse_public_key(buf, strlen(buf), raw, err, sizeof(err)),
                         KOS_STATUS_OK);
    snprintf(buf, sizeof(buf), "hello\n%s", pem);
    assert_int_not_equal(kos__ca_parse_public_key(buf, strlen(buf), raw, err, sizeof(err)),
                         KOS_STATUS_OK);
    snprintf(buf, sizeof(buf), "%s", pem);
    buf[40] = buf[40] == 'A' ? 'B' : 'A';
    buf[30] = '*';
    assert_int_not_equal(kos__ca_parse_public_key(buf, strlen(buf), raw, err, sizeof(err)),
                         KOS_STATUS_OK);
    assert_int_not_equal(kos__ca_parse_public_key("", 0, raw, err, sizeof(err)), KOS_STATUS_OK);
    /* A NUL inside. */
    memcpy(buf, pem, strlen(pem) + 1);
    buf[50] = '\0';
    assert_int_not_equal(kos__ca_parse_public_key(buf, strlen(pem), raw, err, sizeof(err)),
                         KOS_STATUS_OK);
    free(pem);
    free(xpem);
    free(ecpem);
    free(priv);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(x);
    EVP_PKEY_free(ec);
}

/* Runs a TLS handshake in memory between the device port's context and a
 * client with certificate `cert` (PEM, or NULL) and key `key`; true if it
 * completed on both sides. */
static bool handshake(SSL_CTX *server_ctx, const char *cert, EVP_PKEY *key, const char *ca_pem)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c, *s;
    BIO *cb, *sb;
    bool c_done = false, s_done = false, failed = false;

    if (cert) {
        BIO *bio = BIO_new_mem_buf(cert, -1);
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_int_equal(SSL_CTX_use_certificate(cctx, x), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(cctx, key), 1);
        X509_free(x);
    }
    {
        BIO *bio = BIO_new_mem_buf(ca_pem, -1);
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), x);
        X509_free(x);
    }
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    c = SSL_new(cctx);
    s = SSL_new(server_ctx);
    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set1_host(c, "127.0.0.1");
    SSL_set_accept_state(s);
    for (int i = 0; i < 100 && !failed && !(c_done && s_done); i++) {
        if (!c_done) {
            int r = SSL_do_handshake(c);
            if (r == 1)
                c_done = true;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
                failed = true;
        }
        if (!s_done) {
            int r = SSL_do_handshake(s);
            if (r == 1)
                s_done = true;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
                failed = true;
        }
        /* TLS 1.3: the server learns of a bad client certificate after the
         * client has finished; one more read tells. */
        if (c_done && s_done) {
            char byte;
            SSL_read(c, &byte, 0);
        }
    }
    ERR_clear_error();
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    return c_done && s_done && !failed;
}

static void test_device_port_context(void **state)
{
    struct kos__ca *ca, *other;
    EVP_PKEY *k = new_key("ED25519");
    uint8_t raw[32];
    char *pem, *foreign;
    SSL_CTX *ctx;

    (void)state;
    raw_of(k, raw);
    assert_int_equal(kos__ca_open(scratch, &ca, err, sizeof(err)), KOS_STATUS_OK);
    ctx = kos__ca_port_ctx(ca, scratch, "127.0.0.1", err, sizeof(err));
    assert_non_null(ctx);
    assert_int_equal(mode_of(in_scratch("server.key")), 0600);
    assert_int_equal(
        sh("openssl verify -CAfile %s/ca.crt %s/server.crt >/dev/null", scratch, scratch), 0);
    assert_int_equal(sh("openssl x509 -in %s/server.crt -noout -ext subjectAltName | grep -q "
                        "'IP Address:127.0.0.1, DNS:localhost'",
                        scratch),
                     0);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    /* A device with this CA's certificate gets in; one without a
     * certificate, or with another CA's, does not. */
    assert_int_equal(kos__ca_issue_device(ca, raw, &pem, err, sizeof(err)), KOS_STATUS_OK);
    assert_true(handshake(ctx, pem, k, kos__ca_cert_pem(ca)));
    assert_false(handshake(ctx, NULL, NULL, kos__ca_cert_pem(ca)));
    sh("mkdir -p %s/other", scratch);
    assert_int_equal(kos__ca_open(in_scratch("other"), &other, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(kos__ca_issue_device(other, raw, &foreign, err, sizeof(err)), KOS_STATUS_OK);
    assert_false(handshake(ctx, foreign, k, kos__ca_cert_pem(ca)));
    free(foreign);
    kos__ca_close(other);
    SSL_CTX_free(ctx);
    /* Another loopback address is named too. */
    ctx = kos__ca_port_ctx(ca, scratch, "127.0.0.2", err, sizeof(err));
    assert_non_null(ctx);
    assert_int_equal(sh("openssl x509 -in %s/server.crt -noout -ext subjectAltName | grep -q "
                        "'IP Address:127.0.0.2'",
                        scratch),
                     0);
    SSL_CTX_free(ctx);
    free(pem);
    kos__ca_close(ca);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_made_once_then_loaded, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_refuses_broken_ca, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_device_certificate, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_public_key_parsing, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_device_port_context, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
