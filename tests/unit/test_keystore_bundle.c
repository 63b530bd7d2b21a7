/*
 * test_keystore_bundle.c - device key bundles (manifest/keys.c): what
 * kos__key_generate_device() writes (files, modes, key types, the index),
 * that it refuses to overwrite and leaves nothing behind when it fails,
 * that kos__key_bundle_read() gives the resources Core will hand key_store
 * and refuses bad indexes and loose permissions; and the check that a blob
 * is not a private key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "image.h"
#include "keys_int.h"

static char tmp[64], err[1024];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/kos-bundle-XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static mode_t mode_of(const char *dir, const char *name)
{
    char p[256];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (stat(p, &sb) != 0)
        return (mode_t)-1;
    return sb.st_mode & 07777;
}

static EVP_PKEY *load(const char *dir, const char *name, bool private_key)
{
    char p[256];
    FILE *f;
    EVP_PKEY *k;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "r");
    assert_non_null(f);
    k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
                    : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

static void test_generate(void **state)
{
    char rel[128], rel2[128], dev[128], index[2048], trusted[128];
    const char *trust[2];
    struct kos__bundle b;
    EVP_PKEY *k;
    (void)state;

    snprintf(rel, sizeof(rel), "%s/rel", tmp);
    snprintf(rel2, sizeof(rel2), "%s/rel2", tmp);
    assert_int_equal(mkdir(rel, 0700), 0);
    assert_int_equal(mkdir(rel2, 0700), 0);
    char rk[160], rp[160], rk2[160], rp2[160];
    snprintf(rk, sizeof(rk), "%s/release.key", rel);
    snprintf(rp, sizeof(rp), "%s/release.pub", rel);
    snprintf(rk2, sizeof(rk2), "%s/release.key", rel2);
    snprintf(rp2, sizeof(rp2), "%s/release.pub", rel2);
    assert_int_equal(kos_key_generate_release(rk, rp, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(kos_key_generate_release(rk2, rp2, err, sizeof(err)), KOS_STATUS_OK);
    trust[0] = rp;
    trust[1] = rp2;

    snprintf(dev, sizeof(dev), "%s/dev", tmp);
    assert_int_equal(
        kos__key_generate_device(dev, trust, 2, index, sizeof(index), err, sizeof(err)),
        KOS_STATUS_OK);
    assert_int_equal(mode_of(tmp, "dev"), 0700);
    assert_int_equal(mode_of(dev, "identity.key"), 0600);
    assert_int_equal(mode_of(dev, "tunnel.key"), 0600);
    assert_int_equal(mode_of(dev, "identity.pub"), 0644);
    assert_int_equal(mode_of(dev, "tunnel.pub"), 0644);
    assert_int_equal(mode_of(dev, "bundle.txt"), 0644);
    assert_non_null(strstr(index, "format 1\n"));
    assert_non_null(strstr(index, "\nidentity ed25519 identity.key identity.pub "));
    assert_non_null(strstr(index, "\ntunnel x25519 tunnel.key tunnel.pub "));
    assert_non_null(strstr(index, "\ntrusted_1 ed25519 - trusted/"));

    k = load(dev, "identity.key", true);
    assert_true(EVP_PKEY_is_a(k, "ED25519"));
    EVP_PKEY_free(k);
    k = load(dev, "tunnel.key", true);
    assert_true(EVP_PKEY_is_a(k, "X25519"));
    EVP_PKEY_free(k);

    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(b.n, 4);
    assert_string_equal(b.e[0].name, "identity");
    assert_true(b.e[0].private_key);
    assert_non_null(strstr(b.e[0].path, "/dev/identity.key"));
    assert_string_equal(b.e[1].name, "tunnel");
    assert_string_equal(b.e[2].name, "trusted_0");
    assert_false(b.e[2].private_key);
    assert_string_equal(b.e[3].name, "trusted_1");
    snprintf(trusted, sizeof(trusted), "trusted/%s.pub", b.e[2].id);
    assert_int_equal(mode_of(dev, trusted), 0644);
    assert_non_null(strstr(b.e[2].path, trusted));
    char id[17];
    assert_int_equal(kos__key_id_of_public_file(rp, id, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(id, b.e[2].id);

    /* refuses to overwrite */
    assert_int_equal(kos__key_generate_device(dev, NULL, 0, NULL, 0, err, sizeof(err)),
                     KOS_STATUS_ALREADY_EXISTS);
    assert_non_null(strstr(err, "refusing to overwrite"));

    /* a private key others can read is refused when the bundle is read */
    char p[200];
    snprintf(p, sizeof(p), "%s/tunnel.key", dev);
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_UNAUTHORIZED);
    assert_non_null(strstr(err, "chmod 600"));
}

static void test_generate_fails_clean(void **state)
{
    char dev[128], bad[128];
    const char *trust[1];
    struct stat sb;
    (void)state;

    /* an X25519 key is not a release key: nothing is written */
    snprintf(dev, sizeof(dev), "%s/a", tmp);
    assert_int_equal(kos__key_generate_device(dev, NULL, 0, NULL, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    snprintf(bad, sizeof(bad), "%s/a/tunnel.pub", tmp);
    trust[0] = bad;
    snprintf(dev, sizeof(dev), "%s/b", tmp);
    assert_int_not_equal(kos__key_generate_device(dev, trust, 1, NULL, 0, err, sizeof(err)),
                         KOS_STATUS_OK);
    assert_non_null(strstr(err, "not Ed25519"));
    assert_int_not_equal(stat(dev, &sb), 0);
    /* an empty existing folder is fine */
    snprintf(dev, sizeof(dev), "%s/c", tmp);
    assert_int_equal(mkdir(dev, 0755), 0);
    assert_int_equal(kos__key_generate_device(dev, NULL, 0, NULL, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(stat(dev, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
}

static void write_index(const char *dir, const char *text)
{
    char p[200];
    FILE *f;
    snprintf(p, sizeof(p), "%s/bundle.txt", dir);
    unlink(p);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_read_refuses(void **state)
{
    char dev[128];
    struct kos__bundle b;
    (void)state;

    snprintf(dev, sizeof(dev), "%s/d", tmp);
    assert_int_equal(kos__key_generate_device(dev, NULL, 0, NULL, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    write_index(dev, "format 2\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    write_index(dev, "identity ed25519 identity.key identity.pub 0123456789abcdef\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    write_index(dev, "format 1\nidentity ed25519 ../x.key identity.pub 0123456789abcdef\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    write_index(dev, "format 1\nidentity rsa identity.key identity.pub 0123456789abcdef\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    write_index(dev, "format 1\nidentity ed25519 missing.key identity.pub 0123456789abcdef\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_NOT_FOUND);
    write_index(dev, "format 1\nidentity ed25519 identity.key identity.pub 0123456789abcdef x\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    assert_int_equal(b.n, 0);

    /* a folder of the bundle that is a symbolic link out of it (found by
     * fuzz_keys: lstat() checks only the last component) */
    char link[200], outside[200];
    snprintf(outside, sizeof(outside), "%s/a", tmp); /* another bundle */
    assert_int_equal(kos__key_generate_device(outside, NULL, 0, NULL, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    snprintf(link, sizeof(link), "%s/out", dev);
    assert_int_equal(symlink("../a", link), 0);
    write_index(dev, "format 1\nidentity ed25519 out/identity.key identity.pub 0123456789abcdef\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "out/identity.key leads out of the bundle"));
    assert_int_equal(b.n, 0);
    write_index(dev, "format 1\ntrusted_0 ed25519 - out/identity.pub 0123456789abcdef\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    /* a folder inside the bundle is fine */
    write_index(dev, "format 1\ntrusted_0 ed25519 - ./identity.pub 0123456789abcdef\n");
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(b.n, 1);
    assert_int_equal(unlink(link), 0);
}

static void test_blob_is_private(void **state)
{
    char dev[128], p[200];
    FILE *f;
    char buf[512];
    size_t n;
    (void)state;

    snprintf(dev, sizeof(dev), "%s/e", tmp);
    assert_int_equal(kos__key_generate_device(dev, NULL, 0, NULL, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    snprintf(p, sizeof(p), "%s/identity.key", dev);
    f = fopen(p, "r");
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_true(kos__key_blob_is_private(buf, n));
    snprintf(p, sizeof(p), "%s/identity.pub", dev);
    f = fopen(p, "r");
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_false(kos__key_blob_is_private(buf, n));
    assert_true(kos__key_blob_is_private("xx-----BEGIN EC PRIVATE KEY-----\nMHcC", 37));
    assert_true(kos__key_blob_is_private("-----BEGIN OPENSSH PRIVATE KEY-----\r\n", 37));
    assert_true(kos__key_blob_is_private("-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 38));
    assert_false(kos__key_blob_is_private("\x7f"
                                          "ELF",
                                          4));
    /* The words alone, as a key parser's binary holds them, are not a key. */
    assert_false(kos__key_blob_is_private("xx-----BEGIN EC PRIVATE KEY-----", 32));
    assert_false(kos__key_blob_is_private("-----BEGIN \0PRIVATE KEY-----\n", 30));
    assert_false(kos__key_blob_is_private("-----BEGIN %s-----\0PRIVATE KEY-----\n", 37));
    assert_false(kos__key_blob_is_private("-----BEGIN PUBLIC KEY-----\n", 27));
    assert_false(kos__key_blob_is_private("-----BEGIN private key-----\n", 28));

    /* A key file inside a larger binary is found wherever it sits. */
    {
        static uint8_t blob[64 << 10];
        memset(blob, 0x2d, sizeof(blob)); /* '-' everywhere: the slow path */
        assert_false(kos__key_blob_is_private(blob, sizeof(blob)));
        snprintf(p, sizeof(p), "%s/tunnel.key", dev);
        f = fopen(p, "r");
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        memcpy(blob + 40001, buf, n);
        assert_true(kos__key_blob_is_private(blob, sizeof(blob)));
    }
#ifdef KOS_KEY_STORE_BINARY
    /* key_store's own binary names the PEM labels it parses: not a key. */
    {
        static uint8_t bin[16 << 20];
        f = fopen(KOS_KEY_STORE_BINARY, "rb");
        assert_non_null(f);
        n = fread(bin, 1, sizeof(bin), f);
        fclose(f);
        assert_true(n > 0 && n < sizeof(bin));
        assert_false(kos__key_blob_is_private(bin, n));
    }
#endif
}

/* A PEM certificate of `pub`'s key, signed by a throwaway key. */
static size_t make_cert(EVP_PKEY *pub, char *out, size_t cap)
{
    EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *x = X509_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char *p;
    long n;

    assert_non_null(ca);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"dev", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pub);
    assert_true(X509_sign(x, ca, NULL) > 0);
    PEM_write_bio_X509(bio, x);
    n = BIO_get_mem_data(bio, &p);
    assert_true(n > 0 && (size_t)n < cap);
    memcpy(out, p, (size_t)n);
    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(ca);
    return (size_t)n;
}

/* Public items (docs/link.md, "Provisioning"): added to a bundle, read back
 * as items with the certified key's id, refused when malformed. */
static void test_items(void **state)
{
    char dev[128], cert[4096], path[256];
    static const char server[] = "address 127.0.0.1:7443\nname studio\n";
    struct kos__bundle b;
    EVP_PKEY *k;
    size_t n;

    (void)state;
    snprintf(dev, sizeof(dev), "%s/dev", tmp);
    assert_int_equal(kos__key_generate_device(dev, NULL, 0, NULL, 0, err, sizeof(err)),
                     KOS_STATUS_OK);
    k = load(dev, "identity.key", true);
    n = make_cert(k, cert, sizeof(cert));
    EVP_PKEY_free(k);
    assert_int_equal(kos__key_bundle_add_item(dev, "identity_cert", "x509", "identity.crt", cert, n,
                                              err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(kos__key_bundle_add_item(dev, "server", "text", "server.txt", server,
                                              strlen(server), err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(mode_of(dev, "identity.crt"), 0644);
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(b.n, 4);
    assert_string_equal(b.e[2].name, "identity_cert");
    assert_true(b.e[2].item);
    assert_false(b.e[2].private_key);
    assert_string_equal(b.e[2].type, "x509");
    assert_string_equal(b.e[2].id, b.e[0].id); /* the certified key's id */
    assert_string_equal(b.e[3].name, "server");
    assert_string_equal(b.e[3].type, "text");
    assert_string_equal(b.e[3].id, "-");
    assert_non_null(strstr(b.e[3].path, "/dev/server.txt"));

    /* Refused, and the bundle unchanged: a name twice, a file that exists,
     * a bad name or type, not a certificate, not text, too large. */
    assert_int_equal(
        kos__key_bundle_add_item(dev, "server", "text", "s2.txt", "x", 1, err, sizeof(err)),
        KOS_STATUS_ALREADY_EXISTS);
    assert_int_equal(kos__key_bundle_add_item(dev, "server_ca", "x509", "identity.crt", cert, n,
                                              err, sizeof(err)),
                     KOS_STATUS_ALREADY_EXISTS);
    assert_int_equal(
        kos__key_bundle_add_item(dev, "Bad", "text", "b.txt", "x", 1, err, sizeof(err)),
        KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__key_bundle_add_item(dev, "b", "blob", "b.txt", "x", 1, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__key_bundle_add_item(dev, "b", "x509", "b.crt", server, strlen(server),
                                              err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(
        kos__key_bundle_add_item(dev, "b", "text", "b.txt", "a\0b", 3, err, sizeof(err)),
        KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(
        kos__key_bundle_add_item(dev, "b", "text", "../b.txt", "x", 1, err, sizeof(err)),
        KOS_STATUS_INVALID_ARGUMENT);
    static char big[KOS__BUNDLE_ITEM_MAX + 1];
    memset(big, 'a', sizeof(big));
    assert_int_equal(
        kos__key_bundle_add_item(dev, "b", "text", "b.txt", big, sizeof(big), err, sizeof(err)),
        KOS_STATUS_TOO_LARGE);
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(b.n, 4);
    snprintf(path, sizeof(path), "%s/b.txt", dev);
    assert_int_not_equal(access(path, F_OK), 0);

    /* An item must be a regular file, not a symbolic link; an item line
     * with a private file is malformed. */
    snprintf(path, sizeof(path), "%s/server.txt", dev);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("/etc/hostname", path), 0);
    assert_int_equal(kos__key_bundle_read(dev, &b, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generate_fails_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_is_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_items, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
