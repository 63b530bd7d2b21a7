/*
 * test_tunnel.c - the tunnel's parts: the allow setting, durations and
 * sizes, the bundle's server item (with bad input of each kind), and the
 * key_store provider in a TLS 1.3 handshake with client authentication
 * against a server of OpenSSL's own: the client's CertificateVerify is
 * made by the signer alone (here a key held by the test, as key_store
 * holds the device's), a signer that refuses fails the handshake, and the
 * provider's key never holds private bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tun.h"
#include "tunnel_int.h"

static void test_allow(void **state)
{
    char owner[TUN_ALLOW_N][TUN_APP_NAME_MAX + 1], err[256];

    (void)state;
    assert_int_equal(
        tun_allow_parse("admin=admin,logs; shell_app = shell ;x=5", owner, err, sizeof(err)),
        KOS_STATUS_OK);
    assert_string_equal(owner[1], "admin");
    assert_string_equal(owner[2], "admin");
    assert_string_equal(owner[3], "");
    assert_string_equal(owner[4], "shell_app");
    assert_string_equal(owner[5], "x");
    assert_string_equal(owner[TUN_ALLOW_BLOBS], "");
    assert_int_equal(
        tun_allow_parse("admin=admin,logs,traces,shell,debug,blobs", owner, err, sizeof(err)),
        KOS_STATUS_OK);
    assert_string_equal(owner[TUN_ALLOW_BLOBS], "admin");
    assert_string_equal(owner[5], "admin");
    assert_int_equal(tun_allow_parse("a=blobs;b=blobs", owner, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err, "allow: blobs is given to 'a' and to 'b' (one app each) at offset 10");
    assert_int_equal(tun_allow_parse("a=blob", owner, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "or blobs at offset 2 ('blob')"));
    assert_int_equal(tun_allow_parse(NULL, owner, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(tun_allow_parse("", owner, err, sizeof(err)), KOS_STATUS_OK);
    const char *bad[] = {"admin",     "admin=",           "admin=link",       "admin=0",
                         "admin=6",   "a=admin;b=admin",  "admin=admin logs", "=admin",
                         "a b=admin", "admin=admin,,logs"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tun_allow_parse(bad[i], owner, err, sizeof(err)),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_string_equal(owner[1], ""); /* a bad setting gives nothing */
        assert_non_null(strstr(err, "allow: "));
    }
    assert_non_null(strstr(err, "offset"));
}

/* FETCH's request and FETCH_RESULT's payload: each side decodes what the
 * other sends with every length checked. */
static void test_fetch_codec(void **state)
{
    uint8_t sha[32], got[32], buf[8 + KOS_TUNNEL_WHY_MAX + 8];
    uint64_t from, to, written;
    char why[16], long_why[KOS_TUNNEL_WHY_MAX + 50];
    size_t n;

    (void)state;
    for (size_t i = 0; i < 32; i++)
        sha[i] = (uint8_t)(i * 7);
    kos__tunnel_fetch_encode(sha, 5, KOS_TUNNEL_FETCH_MAX, buf);
    assert_int_equal(kos__tunnel_fetch_decode(buf, KOS__TUNNEL_FETCH_SIZE, got, &from, &to),
                     KOS_STATUS_OK);
    assert_memory_equal(got, sha, 32);
    assert_int_equal(from, 5);
    assert_true(to == KOS_TUNNEL_FETCH_MAX);
    assert_int_equal(kos__tunnel_fetch_decode(buf, KOS__TUNNEL_FETCH_SIZE - 1, got, &from, &to),
                     KOS_STATUS_PROTOCOL);
    assert_int_equal(kos__tunnel_fetch_decode(buf, KOS__TUNNEL_FETCH_SIZE + 1, got, &from, &to),
                     KOS_STATUS_PROTOCOL);
    kos__tunnel_fetch_encode(sha, 0, KOS_TUNNEL_FETCH_MAX + 1, buf); /* too large */
    assert_int_equal(kos__tunnel_fetch_decode(buf, KOS__TUNNEL_FETCH_SIZE, got, &from, &to),
                     KOS_STATUS_PROTOCOL);
    kos__tunnel_fetch_encode(sha, 9, 9, buf); /* empty */
    assert_int_equal(kos__tunnel_fetch_decode(buf, KOS__TUNNEL_FETCH_SIZE, got, &from, &to),
                     KOS_STATUS_PROTOCOL);

    n = kos__tunnel_result_encode(1234, "a\001b", buf);
    assert_int_equal(n, 11);
    assert_int_equal(kos__tunnel_result_decode(buf, n, &written, why, sizeof(why)), KOS_STATUS_OK);
    assert_int_equal(written, 1234);
    assert_string_equal(why, "a?b"); /* printable only */
    assert_int_equal(kos__tunnel_result_decode(buf, n, &written, why, 3), KOS_STATUS_OK);
    assert_string_equal(why, "a?"); /* cut to the caller's buffer */
    assert_int_equal(kos__tunnel_result_decode(buf, 0, &written, why, sizeof(why)), KOS_STATUS_OK);
    assert_int_equal(written, 0);
    assert_int_equal(kos__tunnel_result_decode(buf, 7, &written, why, sizeof(why)),
                     KOS_STATUS_PROTOCOL);
    memset(long_why, 'x', sizeof(long_why) - 1);
    long_why[sizeof(long_why) - 1] = '\0';
    n = kos__tunnel_result_encode(1, long_why, buf);
    assert_int_equal(n, 8 + KOS_TUNNEL_WHY_MAX); /* cut when encoded */
    assert_int_equal(kos__tunnel_result_decode(buf, n + 1, &written, NULL, 0), KOS_STATUS_PROTOCOL);
    n = kos__tunnel_result_encode(KOS_TUNNEL_FETCH_MAX + 1, NULL, buf);
    assert_int_equal(kos__tunnel_result_decode(buf, n, &written, NULL, 0), KOS_STATUS_PROTOCOL);
}

static void test_streams(void **state)
{
    static struct tun_stream_rules r;
    char err[256], many[2048] = "a=";

    (void)state;
    assert_int_equal(
        tun_streams_parse("sensor=telemetry, logs.v2 ; up-loader = s3", &r, err, sizeof(err)),
        KOS_STATUS_OK);
    assert_int_equal(r.n, 3);
    assert_true(tun_streams_allow(&r, "sensor", "telemetry"));
    assert_true(tun_streams_allow(&r, "sensor", "logs.v2"));
    assert_true(tun_streams_allow(&r, "up-loader", "s3"));
    assert_false(tun_streams_allow(&r, "up-loader", "telemetry")); /* another app's */
    assert_false(tun_streams_allow(&r, "sensor", "telemetr"));
    assert_int_equal(tun_streams_parse(NULL, &r, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(r.n, 0);
    const char *bad[] = {
        "sensor",
        "sensor=",
        "=telemetry",
        "a b=x",
        "a=x y",
        "a=x,,y",
        "a=tcp:x:1",
        "a=x;b",
        "a=host/path",
        "a=" /* 64 chars: */ "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tun_streams_parse(bad[i], &r, err, sizeof(err)),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_int_equal(r.n, 0); /* a bad setting allows nothing */
        assert_non_null(strstr(err, "streams: "));
    }
    for (int i = 0; i <= (int)TUN_STREAM_RULES_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sd%d", i ? "," : "", i);
    assert_int_equal(tun_streams_parse(many, &r, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "more than 32"));
    assert_true(tun_dest_name("a.b-c_9", 7));
    assert_false(tun_dest_name("", 0));
    assert_false(tun_dest_name("a:b", 3));
}

static void test_server(void **state)
{
    char host[TUN_HOST_MAX + 1], name[64], err[256];
    uint16_t port;
    const char *t1 = "# KOS\naddress 127.0.0.1:7443\nname studio\n";
    const char *t2 = "name x\r\naddress [fd00::1]:443\r\n";
    const char *t3 = "address studio.example.com:7443";

    (void)state;
    assert_int_equal(
        tun_server_parse(t1, strlen(t1), host, &port, name, sizeof(name), err, sizeof(err)),
        KOS_STATUS_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7443);
    assert_string_equal(name, "studio");
    assert_int_equal(
        tun_server_parse(t2, strlen(t2), host, &port, name, sizeof(name), err, sizeof(err)),
        KOS_STATUS_OK);
    assert_string_equal(host, "fd00::1");
    assert_int_equal(port, 443);
    assert_int_equal(
        tun_server_parse(t3, strlen(t3), host, &port, name, sizeof(name), err, sizeof(err)),
        KOS_STATUS_OK);
    assert_string_equal(host, "studio.example.com");
    const char *bad[] = {"",
                         "name only\n",
                         "address 127.0.0.1\n",
                         "address 127.0.0.1:0\n",
                         "address 127.0.0.1:65536\n",
                         "address :80\n",
                         "address bad host!:80\n",
                         "address [::1:80\n",
                         "address [nothex]:80\n",
                         "address 127.0.0.1:80x\n",
                         "address a..b:80\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tun_server_parse(bad[i], strlen(bad[i]), host, &port, name, sizeof(name),
                                          err, sizeof(err)),
                         KOS_STATUS_INVALID_ARGUMENT);
    char big[600];
    memset(big, 'a', sizeof(big));
    memcpy(big, "address ", 8);
    memcpy(big + sizeof(big) - 5, ":443", 4);
    big[sizeof(big) - 1] = '\n';
    assert_int_equal(
        tun_server_parse(big, sizeof(big), host, &port, name, sizeof(name), err, sizeof(err)),
        KOS_STATUS_INVALID_ARGUMENT);
}

/* ---- the provider in a handshake ---- */

static EVP_PKEY *device_key;
static bool refuse;

static kos_status_t test_sign(void *arg, const uint8_t *tbs, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t n = 64;
    bool ok;

    (void)arg;
    if (refuse) {
        EVP_MD_CTX_free(md);
        return KOS_STATUS_UNAUTHORIZED;
    }
    ok = EVP_DigestSignInit(md, NULL, NULL, NULL, device_key) == 1 &&
         EVP_DigestSign(md, sig, &n, tbs, len) == 1 && n == 64;
    EVP_MD_CTX_free(md);
    return ok ? KOS_STATUS_OK : KOS_STATUS_INTERNAL;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, EVP_PKEY *ca_key, X509 *ca, bool is_ca,
                       const char *san)
{
    X509 *x = X509_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(uintptr_t)x & 0x7fffffff);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca ? ca : x));
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509V3_set_ctx(&v3, ca ? ca : x, x, NULL, NULL, 0);
    if (is_ca) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (san) {
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(x, ca_key, NULL) > 0);
    return x;
}

/* Runs a handshake between client c and server s over a BIO pair. */
static bool handshake(SSL *c, SSL *s)
{
    BIO *bc, *bs;
    int rc = 0, rs = 0;

    assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (int i = 0; i < 100 && (rc != 1 || rs != 1); i++) {
        if (rc != 1) {
            rc = SSL_do_handshake(c);
            if (rc <= 0 && SSL_get_error(c, rc) == SSL_ERROR_SSL && getenv("TUN_DEBUG"))
                ERR_print_errors_fp(stderr);
        }
        if (rs != 1)
            rs = SSL_do_handshake(s);
        if ((rc <= 0 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ &&
             SSL_get_error(c, rc) != SSL_ERROR_WANT_WRITE) ||
            (rs <= 0 && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ &&
             SSL_get_error(s, rs) != SSL_ERROR_WANT_WRITE))
            break;
    }
    /* TLS 1.3: the server checks the client after the client is done. */
    if (rc == 1 && rs == 1) {
        char b[8];
        SSL_write(c, "ping", 4);
        return SSL_read(s, b, sizeof(b)) == 4;
    }
    return false;
}

static void test_provider(void **state)
{
    EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *srv_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *ca, *srv_cert, *dev_cert;
    struct tun_signer signer = {.sign = test_sign, .key = "identity"};
    struct tun_tls tls = {0};
    uint8_t pub[32];
    size_t n = sizeof(pub);
    SSL_CTX *cctx, *sctx;
    SSL *c, *s;

    (void)state;
    device_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(device_key);
    ca = make_cert(ca_key, "test CA", ca_key, NULL, true, NULL);
    srv_cert = make_cert(srv_key, "127.0.0.1", ca_key, ca, false, "IP:127.0.0.1");
    dev_cert = make_cert(device_key, "device", ca_key, ca, false, NULL);
    assert_int_equal(EVP_PKEY_get_raw_public_key(device_key, pub, &n), 1);

    assert_int_equal(tun_provider_init(&tls, &signer), KOS_STATUS_OK);
    tls.key = tun_provider_key(&tls, pub);
    assert_non_null(tls.key);
    assert_true(EVP_PKEY_is_a(tls.key, "ED25519"));
    /* No private bytes: the key cannot be exported as a private key. */
    uint8_t priv[32];
    size_t pn = sizeof(priv);
    assert_int_not_equal(EVP_PKEY_get_raw_private_key(tls.key, priv, &pn), 1);
    ERR_clear_error();

    cctx = SSL_CTX_new_ex(tls.libctx, NULL, TLS_client_method());
    assert_non_null(cctx);
    SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(cctx, dev_cert), 1);
    if (SSL_CTX_use_PrivateKey(cctx, tls.key) != 1)
        ERR_print_errors_fp(stderr);
    assert_int_equal(SSL_CTX_check_private_key(cctx), 1);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);

    sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(sctx, srv_cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(sctx, srv_key), 1);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx), ca);
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

    /* The signer signs: the handshake succeeds, and the server saw the
     * device's certificate. */
    c = SSL_new(cctx);
    s = SSL_new(sctx);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c), "127.0.0.1");
    if (!handshake(c, s))
        ERR_print_errors_fp(stderr);
    assert_int_equal(signer.n_signed, 1);
    X509 *peer = SSL_get1_peer_certificate(s);
    assert_non_null(peer);
    assert_int_equal(X509_cmp(peer, dev_cert), 0);
    X509_free(peer);
    SSL_free(c);
    SSL_free(s);
    ERR_clear_error();

    /* The signer refuses: no handshake, and it was asked once. */
    refuse = true;
    c = SSL_new(cctx);
    s = SSL_new(sctx);
    assert_false(handshake(c, s));
    assert_int_equal(signer.n_failed, 1);
    assert_int_equal(signer.last, KOS_STATUS_UNAUTHORIZED);
    SSL_free(c);
    SSL_free(s);
    ERR_clear_error();
    refuse = false;

    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    EVP_PKEY_free(tls.key);
    tun_provider_fini(&tls);
    X509_free(ca);
    X509_free(srv_cert);
    X509_free(dev_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    EVP_PKEY_free(device_key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow),    cmocka_unit_test(test_fetch_codec),
        cmocka_unit_test(test_streams),  cmocka_unit_test(test_server),
        cmocka_unit_test(test_provider),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
