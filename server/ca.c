/*
 * ca.c - the server's certificate authority (ca.h), on OpenSSL 3.
 *
 * What stays true: ca->key is the Ed25519 private key whose public half
 * ca->cert carries, and ca->pem is that certificate's PEM; each issued
 * certificate has a random positive 127-bit serial, is valid from an hour
 * before it was made (clocks differ) and is signed by ca->key. Key bytes
 * read from a file are wiped once parsed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "runtime.h"
#include "srv_limits.h"

#define CA_DAYS     (20 * 365) /* the CA outlives its devices */
#define DEVICE_DAYS (10 * 365) /* a device certificate; revocation ends it sooner */
#define PORT_DAYS   (2 * 365)  /* the device port's: made again at every start */

struct kos__ca {
    EVP_PKEY *key;
    X509 *cert;
    char *pem;
};

/* ---- files ---- */

static bool path_in(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap;
}

/* The PEM of private key `key` (wiped after) or of certificate `cert`,
 * written whole to `path` with `mode`. */
static kos_status_t write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *err,
                              size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    kos_status_t st = KOS_STATUS_NO_MEMORY;
    char *data = NULL;
    long len;

    if (!bio)
        goto out;
    if (key ? !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
            : !PEM_write_bio_X509(bio, cert))
        goto out;
    len = BIO_get_mem_data(bio, &data);
    if (len <= 0)
        goto out;
    st = kos__studio_replace_file(path, mode, data, (size_t)len, err, errlen);
    if (key)
        OPENSSL_cleanse(data, (size_t)len);
out:
    if (st == KOS_STATUS_NO_MEMORY)
        snprintf(err, errlen, "cannot encode %s", path);
    BIO_free(bio);
    ERR_clear_error();
    return st;
}

/* Reads a whole small file (at most 64 KiB) refusing links and, when
 * `secret`, any mode bit of 077. The buffer is the caller's
 * (OPENSSL_clear_free(buf, *len + 1)). */
static kos_status_t read_file(const char *path, bool secret, char **out, size_t *len, char *err,
                              size_t errlen)
{
    struct stat sb;
    char *buf;
    size_t done = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return KOS_STATUS_IO;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > 65536) {
        snprintf(err, errlen, "%s is not a file of at most 64 KiB", path);
        close(fd);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (secret && (sb.st_mode & 077)) {
        snprintf(err, errlen, "%s is open to group or others (mode %03o): run chmod 600 %s", path,
                 (unsigned)(sb.st_mode & 0777), path);
        close(fd);
        return KOS_STATUS_UNAUTHORIZED;
    }
    buf = OPENSSL_malloc((size_t)sb.st_size + 1);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    while (done < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + done, (size_t)sb.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    buf[done] = '\0';
    *out = buf;
    *len = done;
    return KOS_STATUS_OK;
}

/* ---- certificates ---- */

/* Adds extension `nid` = `value` (OpenSSL's config syntax) to x. */
static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    bool ok;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* A certificate for `pub` under subject CN=`cn`, issued by `issuer` (NULL:
 * self-signed) with `signer`, valid `days`, with the extensions of
 * exts[0..n) (nid, value pairs). */
struct ext {
    int nid;
    const char *value;
};

static X509 *make_cert(EVP_PKEY *pub, const char *cn, X509 *issuer, EVP_PKEY *signer, long days,
                       const struct ext *exts, size_t n)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    X509_NAME *name;
    bool ok;

    ok = x && serial && X509_set_version(x, X509_VERSION_3) &&
         BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x), days * 24 * 3600) && X509_set_pubkey(x, pub) &&
         (name = X509_get_subject_name(x)) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    for (size_t i = 0; ok && i < n; i++)
        ok = add_ext(x, issuer ? issuer : x, exts[i].nid, exts[i].value);
    /* Ed25519 signs the whole certificate: no digest. */
    ok = ok && X509_sign(x, signer, NULL) > 0;
    BN_free(serial);
    if (!ok) {
        X509_free(x);
        ERR_clear_error();
        return NULL;
    }
    return x;
}

/* The PEM of x as a new string (free). */
static char *cert_pem(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long len;

    if (bio && PEM_write_bio_X509(bio, x) && (len = BIO_get_mem_data(bio, &data)) > 0 &&
        (out = malloc((size_t)len + 1))) {
        memcpy(out, data, (size_t)len);
        out[len] = '\0';
    }
    BIO_free(bio);
    return out;
}

static kos_status_t ca_make(struct kos__ca *ca, const char *keypath, const char *certpath,
                            char *err, size_t errlen)
{
    static const struct ext exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
        {NID_key_usage, "critical,keyCertSign,cRLSign"},
        {NID_subject_key_identifier, "hash"},
    };
    char host[64] = "", cn[128];
    kos_status_t st;

    ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!ca->key) {
        snprintf(err, errlen, "cannot make an Ed25519 key");
        return KOS_STATUS_INTERNAL;
    }
    gethostname(host, sizeof(host) - 1);
    snprintf(cn, sizeof(cn), "KOS Studio CA%s%s", host[0] ? " on " : "", host);
    ca->cert = make_cert(ca->key, cn, NULL, ca->key, CA_DAYS, exts, sizeof(exts) / sizeof(exts[0]));
    if (!ca->cert) {
        snprintf(err, errlen, "cannot make the CA's certificate");
        return KOS_STATUS_INTERNAL;
    }
    /* The certificate first: a key without it is refused at the next start,
     * a certificate without its key too; neither is left half-written. */
    st = write_pem(keypath, 0600, ca->key, NULL, err, errlen);
    if (st)
        return st;
    st = write_pem(certpath, 0644, NULL, ca->cert, err, errlen);
    if (st)
        unlink(keypath);
    return st;
}

static kos_status_t ca_load(struct kos__ca *ca, const char *keypath, const char *certpath,
                            char *err, size_t errlen)
{
    kos_status_t st;
    size_t len;
    char *buf;
    BIO *bio;

    st = read_file(keypath, true, &buf, &len, err, errlen);
    if (st)
        return st;
    bio = BIO_new_mem_buf(buf, (int)len);
    ca->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_clear_free(buf, len + 1);
    if (!ca->key || !EVP_PKEY_is_a(ca->key, "ED25519")) {
        ERR_clear_error();
        snprintf(err, errlen, "%s is not the CA's unencrypted Ed25519 private key (PEM)", keypath);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    st = read_file(certpath, false, &buf, &len, err, errlen);
    if (st)
        return st;
    bio = BIO_new_mem_buf(buf, (int)len);
    ca->cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    OPENSSL_free(buf);
    if (!ca->cert || X509_check_private_key(ca->cert, ca->key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s is not the certificate of the CA key %s", certpath, keypath);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    return KOS_STATUS_OK;
}

kos_status_t kos__ca_open(const char *dir, struct kos__ca **out, char *err, size_t errlen)
{
    char keypath[PATH_MAX], certpath[PATH_MAX];
    struct kos__ca *ca = calloc(1, sizeof(*ca));
    struct stat sb;
    bool has_key, has_cert;
    kos_status_t st;

    if (!ca) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    if (!path_in(keypath, sizeof(keypath), dir, KOS__CA_KEY_FILE) ||
        !path_in(certpath, sizeof(certpath), dir, KOS__CA_CERT_FILE)) {
        snprintf(err, errlen, "the data folder's path is too long");
        st = KOS_STATUS_INVALID_ARGUMENT;
        goto out_fail;
    }
    has_key = lstat(keypath, &sb) == 0;
    has_cert = lstat(certpath, &sb) == 0;
    if (has_key != has_cert) {
        snprintf(err, errlen,
                 "%s is there without %s: the CA is incomplete (restore the missing file, or "
                 "move both away to make a new CA, whose devices must then be provisioned again)",
                 has_key ? keypath : certpath, has_key ? certpath : keypath);
        st = KOS_STATUS_INVALID_ARGUMENT;
        goto out_fail;
    }
    st = has_key ? ca_load(ca, keypath, certpath, err, errlen)
                 : ca_make(ca, keypath, certpath, err, errlen);
    if (st)
        goto out_fail;
    ca->pem = cert_pem(ca->cert);
    if (!ca->pem) {
        snprintf(err, errlen, "out of memory");
        st = KOS_STATUS_NO_MEMORY;
        goto out_fail;
    }
    *out = ca;
    return KOS_STATUS_OK;

out_fail:
    kos__ca_close(ca);
    return st;
}

void kos__ca_close(struct kos__ca *ca)
{
    if (!ca)
        return;
    EVP_PKEY_free(ca->key); /* OpenSSL wipes the key's bytes */
    X509_free(ca->cert);
    free(ca->pem);
    free(ca);
}

const char *kos__ca_cert_pem(const struct kos__ca *ca)
{
    return ca->pem;
}

/* s[0..len) without leading and trailing whitespace. */
static void trim(const char **s, size_t *len)
{
    while (*len && strchr(" \t\r\n", (*s)[0]))
        (*s)++, (*len)--;
    while (*len && strchr(" \t\r\n", (*s)[*len - 1]))
        (*len)--;
}

static bool has(const char *s, size_t len, const char *what)
{
    return memmem(s, len, what, strlen(what)) != NULL;
}

kos_status_t kos__ca_parse_public_key(const char *pem, size_t len,
                                      uint8_t raw[KOS__ED25519_KEY_LEN], char *err, size_t errlen)
{
    static const char begin[] = "-----BEGIN PUBLIC KEY-----\n";
    static const char end[] = "-----END PUBLIC KEY-----";
    EVP_PKEY *pkey = NULL;
    size_t rawlen = KOS__ED25519_KEY_LEN;
    const char *type;
    BIO *bio;

    trim(&pem, &len);
    if (has(pem, len, "PRIVATE KEY-----")) {
        snprintf(err, errlen,
                 "public_key holds a private key: send the public half (the bundle's "
                 "identity.pub); a private key never leaves the device");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (len > KOS__SRV_PEM_MAX || len < sizeof(begin) - 1 + sizeof(end) - 1 ||
        memcmp(pem, begin, sizeof(begin) - 1) != 0 ||
        memcmp(pem + len - (sizeof(end) - 1), end, sizeof(end) - 1) != 0 ||
        has(pem + 1, len - 1, "-----BEGIN") || memchr(pem, '\0', len)) {
        snprintf(err, errlen,
                 "public_key is not one PEM public key (-----BEGIN PUBLIC KEY----- ... "
                 "-----END PUBLIC KEY-----, as in the bundle's identity.pub)");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio)
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (!pkey) {
        snprintf(err, errlen,
                 "public_key is not a valid PEM public key (its contents do not "
                 "decode as a SubjectPublicKeyInfo)");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        type = EVP_PKEY_get0_type_name(pkey);
        snprintf(err, errlen,
                 "public_key is a%s %s key; a device's identity key is Ed25519 (the bundle's "
                 "identity.pub)",
                 type && strchr("AEIOUX", type[0]) ? "n" : "", type ? type : "unknown");
        EVP_PKEY_free(pkey);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != KOS__ED25519_KEY_LEN) {
        ERR_clear_error();
        EVP_PKEY_free(pkey);
        snprintf(err, errlen, "public_key: cannot read the Ed25519 key");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    EVP_PKEY_free(pkey);
    return KOS_STATUS_OK;
}

void kos__ca_device_id(const uint8_t raw[KOS__ED25519_KEY_LEN], char id[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];

    SHA256(raw, KOS__ED25519_KEY_LEN, md);
    for (size_t i = 0; i < sizeof(md); i++) {
        id[2 * i] = hex[md[i] >> 4];
        id[2 * i + 1] = hex[md[i] & 15];
    }
    id[64] = '\0';
}

kos_status_t kos__ca_issue_device(struct kos__ca *ca, const uint8_t raw[KOS__ED25519_KEY_LEN],
                                  char **pem, char *err, size_t errlen)
{
    static const struct ext exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "clientAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
    };
    EVP_PKEY *pub;
    char id[65];
    X509 *x;

    pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, KOS__ED25519_KEY_LEN);
    if (!pub) {
        ERR_clear_error();
        snprintf(err, errlen, "not an Ed25519 public key");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    kos__ca_device_id(raw, id);
    x = make_cert(pub, id, ca->cert, ca->key, DEVICE_DAYS, exts, sizeof(exts) / sizeof(exts[0]));
    EVP_PKEY_free(pub);
    if (!x) {
        snprintf(err, errlen, "cannot issue the device's certificate");
        return KOS_STATUS_INTERNAL;
    }
    *pem = cert_pem(x);
    X509_free(x);
    if (!*pem) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    return KOS_STATUS_OK;
}

SSL_CTX *kos__ca_port_ctx(struct kos__ca *ca, const char *dir, const char *ip, char *err,
                          size_t errlen)
{
    char keypath[PATH_MAX], certpath[PATH_MAX], san[128];
    struct ext exts[] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
        {NID_subject_alt_name, san},
    };
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx = NULL;
    X509 *x = NULL;

    /* On loopback, also where QEMU guests of this machine reach it. */
    if (strcmp(ip, "127.0.0.1") == 0)
        snprintf(san, sizeof(san), "IP:127.0.0.1,DNS:localhost,IP:" KOS__STUDIO_QEMU_GUEST);
    else
        snprintf(san, sizeof(san), "IP:127.0.0.1,DNS:localhost,IP:%s", ip);
    if (!path_in(keypath, sizeof(keypath), dir, KOS__CA_PORT_KEY) ||
        !path_in(certpath, sizeof(certpath), dir, KOS__CA_PORT_CERT)) {
        snprintf(err, errlen, "the data folder's path is too long");
        return NULL;
    }
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    x = key ? make_cert(key, "KOS Studio device port", ca->cert, ca->key, PORT_DAYS, exts,
                        sizeof(exts) / sizeof(exts[0]))
            : NULL;
    if (!x) {
        snprintf(err, errlen, "cannot make the device port's certificate");
        goto out;
    }
    if (write_pem(keypath, 0600, key, NULL, err, errlen) ||
        write_pem(certpath, 0644, NULL, x, err, errlen))
        goto out;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1 ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca->cert) != 1 ||
        SSL_CTX_add_client_CA(ctx, ca->cert) != 1 || SSL_CTX_set_num_tickets(ctx, 0) != 1) {
        snprintf(err, errlen, "cannot set up the device port's TLS context");
        SSL_CTX_free(ctx);
        ctx = NULL;
        goto out;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
out:
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(x);
    return ctx;
}
