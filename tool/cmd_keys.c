/*
 * cmd_keys.c - kos-tool keys.generate.
 *
 * --release makes a release key pair: DIR/release.key (private, 0600) signs
 * system images and DIR/release.pub (public) is what devices and `kos-tool
 * run --trust` accept. --device makes a device's key bundle (docs/keys.md):
 * an Ed25519 identity key, an X25519 tunnel key and copies of the release
 * public keys the device trusts, for `kos-tool run --keys DIR`. Existing
 * keys are never overwritten. --device --server studio also registers the
 * new identity key with the local Studio server and adds to the bundle the
 * device's certificate, the server's CA and the server's address
 * (docs/link.md, "Provisioning"); if that fails, no bundle is left.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "image.h"
#include "image_int.h"
#include "keys_int.h"
#include "opts_int.h"
#include "studio.h"
#include "tool_int.h"

#define KEYS_CMD "keys.generate"

static void keys_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool keys.generate --release --out DIR\n"
            "       kos-tool keys.generate --device --out DIR [--trust RELEASE.pub]...\n"
            "                              [--server studio [--name NAME] [--data DIR]\n"
            "                               [--pending]]\n"
            "\n"
            "--release makes a new Ed25519 release key pair for signing system images:\n"
            "  DIR/release.key   private key (PKCS#8 PEM, mode 0600): keep it secret;\n"
            "                    give it to kos-tool manifest.build --key\n"
            "  DIR/release.pub   public key (PEM): give it to devices and kos-tool run --trust\n"
            "DIR is created (mode 0700) if missing. Existing keys are never overwritten.\n"
            "\n"
            "--device makes a device's key bundle in DIR (a new or empty folder, mode 0700),\n"
            "held on the device by key_store (kos-tool run --keys DIR):\n"
            "  DIR/identity.key, .pub   Ed25519: the device's identity for its server link\n"
            "  DIR/tunnel.key, .pub     X25519: key agreement for the tunnel\n"
            "  DIR/trusted/ID.pub       a copy of each --trust release public key\n"
            "  DIR/bundle.txt           the index: one line per key\n"
            "Private keys are mode 0600, public keys 0644.\n"
            "\n"
            "--server studio also registers the device with the local Studio server (start\n"
            "it first with kos-tool server.start) and adds what the device needs to reach it:\n"
            "  DIR/identity.crt         the device's certificate, issued by the server's CA\n"
            "  DIR/server_ca.crt        the server's CA: the device's trust anchor for it\n"
            "  DIR/server.txt           where the server's device port is\n"
            "If the server cannot be reached or refuses, no bundle is left.\n"
            "With --pending the device is not registered: DIR/identity.crt is the device's\n"
            "own self-signed certificate, and the device waits, on its first connection, for\n"
            "approval in Studio's device list (Approve, or Reject).\n"
            "\n"
            "  --release           make a release key pair\n"
            "  --device            make a device key bundle\n"
            "  --trust PUBKEY      (--device) a release public key the device trusts;\n"
            "                      repeat for several (at most 16)\n"
            "  --server SERVER     (--device) studio: register the device with the local\n"
            "                      Studio server\n"
            "  --name NAME         (--server) the device's name there (default device-KEYID)\n"
            "  --reach HOST        (--server) the device reaches the server at HOST, not at\n"
            "                      the host of the address the server gives (a QEMU guest\n"
            "                      of this machine: 10.0.2.100, which a local Studio's\n"
            "                      certificate names too)\n"
            "  --data DIR          (--server studio) the Studio's data folder, if not the\n"
            "                      default (as kos-tool server.start --data)\n"
            "  --pending           (--server) do not register the device: it waits for\n"
            "                      approval in Studio when it first connects; --name is the\n"
            "                      name its certificate offers\n"
            "  -o, --out DIR       the folder to write\n"
            "  -h, --help          show this help\n"
            "\n"
            "Options take the forms --name VALUE and --name=VALUE. See %s and %s.\n",
            kos__tool_doc("keys.md"), kos__tool_doc("studio.md"));
}

/* Creates dir and any missing parents, each with mode 0700. */
static int make_dirs(const char *dir)
{
    char *p = strdup(dir);
    int rc = 0;

    if (!p)
        return -1;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0700) != 0 && errno != EEXIST)
        rc = -1;
    free(p);
    return rc;
}

/* Makes parent folders of `dir` as make_dirs() does, but not dir itself. */
static int make_parents(const char *dir)
{
    char *p = strdup(dir), *slash;
    int rc = 0;

    if (!p)
        return -1;
    slash = strrchr(p, '/');
    if (slash && slash != p) {
        *slash = '\0';
        rc = make_dirs(p);
    }
    free(p);
    return rc;
}

/* ---- provisioning with a server (docs/link.md, "Provisioning") ---- */

/* The bundle's files, to remove when provisioning fails. */
static const char *const bundle_files[] = {
    "identity.key",   "identity.pub", "tunnel.key",    "tunnel.pub", KOS__BUNDLE_INDEX,
    "bundle.txt.new", "identity.crt", "server_ca.crt", "server.txt",
};

/* Removes the bundle just written in dir (and dir, unless it existed). */
static void remove_bundle(const char *dir, bool existed)
{
    char path[PATH_MAX];
    struct dirent *e;
    DIR *d;

    for (size_t i = 0; i < sizeof(bundle_files) / sizeof(bundle_files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, bundle_files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/trusted", dir);
    if ((d = opendir(path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            char file[PATH_MAX + 256];
            size_t n = strlen(e->d_name);
            if (n < 5 || strcmp(e->d_name + n - 4, ".pub") != 0)
                continue;
            snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
            unlink(file);
        }
        closedir(d);
        rmdir(path);
    }
    if (!existed)
        rmdir(dir);
}

/* A certificate PEM read into an X509 (X509_free), or NULL. */
static X509 *read_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    ERR_clear_error();
    return x;
}

/* The key id (16 hex digits) of pkey. */
static bool key_id_hex(EVP_PKEY *pkey, char hex[2 * KOS__KEY_ID_LEN + 1])
{
    uint8_t id[KOS__KEY_ID_LEN];

    if (!pkey || kos__key_id(pkey, id) != KOS_STATUS_OK)
        return false;
    kos__image_hex(id, sizeof(id), hex);
    return true;
}

/* Checks what the server answered: certificate is the CA's, for the
 * identity key `pub`, under CN = id, and id is that key's device id. Puts
 * the two certified keys' ids in ids. */
static bool answer_ok(EVP_PKEY *pub, const char *id, const char *cert_pem, const char *ca_pem,
                      char ids[2][2 * KOS__KEY_ID_LEN + 1], char *err, size_t errlen)
{
    X509 *cert = read_cert(cert_pem), *ca = read_cert(ca_pem);
    unsigned char raw[32], md[32];
    size_t rawlen = sizeof(raw);
    char cn[128] = "", want[65];
    bool ok = false;

    if (!cert || !ca) {
        snprintf(err, errlen, "the server's answer holds no valid certificate");
        goto out;
    }
    if (EVP_PKEY_get_raw_public_key(pub, raw, &rawlen) != 1 ||
        EVP_Digest(raw, rawlen, md, NULL, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "cannot read the identity key");
        goto out;
    }
    kos__image_hex(md, sizeof(md), want);
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
    if (strcmp(id, want) != 0 || strcmp(cn, want) != 0 ||
        EVP_PKEY_eq(X509_get0_pubkey(cert), pub) != 1 ||
        X509_verify(cert, X509_get0_pubkey(ca)) != 1) {
        snprintf(err, errlen,
                 "the server's certificate is not for this device's identity key, "
                 "or not issued by its CA");
        goto out;
    }
    ok = key_id_hex(pub, ids[0]) && key_id_hex(X509_get0_pubkey(ca), ids[1]);
    if (!ok)
        snprintf(err, errlen, "the server's CA key is not Ed25519");
out:
    ERR_clear_error();
    X509_free(cert);
    X509_free(ca);
    return ok;
}

/* The host a device reaches the server at, when it is not the host of the
 * address the server gives (--reach: a QEMU guest of this machine reaches
 * a local Studio at 10.0.2.100); NULL: that address as it is. */
static const char *reach_host;

/* The address the device connects to: Studio's `addr` (HOST:PORT), its
 * host replaced by --reach's, in buf (cap bytes). */
static const char *device_addr(const char *addr, char *buf, size_t cap)
{
    const char *port = strrchr(addr, ':');

    if (!reach_host || !port)
        return addr;
    snprintf(buf, cap, "%s%s", reach_host, port);
    return buf;
}

/* Adds to bundle `out` what the device needs to reach Studio: its
 * certificate, Studio's CA and the address it connects to (docs/link.md,
 * "Provisioning"). */
static bool add_server_items(const char *out, const char *cert, const char *ca, const char *addr,
                             char *err, size_t errlen)
{
    char server_txt[256];

    snprintf(server_txt, sizeof(server_txt), "address %s\nname studio\n", addr);
    return kos__key_bundle_add_item(out, "identity_cert", "x509", "identity.crt", cert,
                                    strlen(cert), err, errlen) == KOS_STATUS_OK &&
           kos__key_bundle_add_item(out, "server_ca", "x509", "server_ca.crt", ca, strlen(ca), err,
                                    errlen) == KOS_STATUS_OK &&
           kos__key_bundle_add_item(out, "server", "text", "server.txt", server_txt,
                                    strlen(server_txt), err, errlen) == KOS_STATUS_OK;
}

/* Registers bundle `out`'s identity key with Studio `s` and adds the
 * certificate, the CA and the address to the bundle. On failure says why
 * (the caller removes the bundle). */
static bool provision(const struct kos__tool_studio *s, const char *out, const char *name)
{
    char path[PATH_MAX], err[1024], ids[2][2 * KOS__KEY_ID_LEN + 1], reached[128];
    const char *id, *cert, *ca, *addr, *given;
    json_t *req = NULL, *resp = NULL;
    char *body = NULL, *pem = NULL;
    EVP_PKEY *pub = NULL;
    bool ok = false;
    int status;
    BIO *bio;

    snprintf(path, sizeof(path), "%s/identity.pub", out);
    if (kos__key_load_public(path, &pub, err, sizeof(err)) != KOS_STATUS_OK)
        goto out_say;
    bio = BIO_new(BIO_s_mem());
    if (bio && PEM_write_bio_PUBKEY(bio, pub) == 1) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        pem = len > 0 ? strndup(data, (size_t)len) : NULL;
    }
    BIO_free(bio);
    req = json_pack("{s:s?, s:s?}", "public_key", pem, "name", name);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    if (!pem || !body) {
        snprintf(err, sizeof(err), "out of memory");
        goto out_say;
    }
    if (kos__tool_studio_call(&s->rt, "POST", "/api/devices", body, 30, &status, &resp, err,
                              sizeof(err)) != KOS_STATUS_OK)
        goto out_say;
    if (status != 201) {
        snprintf(err, sizeof(err), "Studio refused the device: %s", kos__tool_studio_error(resp));
        goto out_say;
    }
    id = json_string_value(json_object_get(resp, "id"));
    given = json_string_value(json_object_get(resp, "name"));
    cert = json_string_value(json_object_get(resp, "certificate"));
    ca = json_string_value(json_object_get(resp, "server_ca"));
    addr = json_string_value(json_object_get(resp, "address"));
    if (!id || !given || !cert || !ca || !addr || strlen(addr) > 64 || strchr(addr, '\n')) {
        snprintf(err, sizeof(err),
                 "Studio's answer lacks the device's id, name, certificate, "
                 "CA or address");
        goto out_say;
    }
    if (!answer_ok(pub, id, cert, ca, ids, err, sizeof(err)))
        goto out_revoke;
    addr = device_addr(addr, reached, sizeof(reached));
    if (!add_server_items(out, cert, ca, addr, err, sizeof(err)))
        goto out_revoke;
    printf("registered with Studio as '%s' (device id %s); it connects to %s\n", given, id, addr);
    ok = true;
    goto out;

out_revoke:
    /* The server knows a key no bundle holds any more: revoke it. */
    {
        char rpath[128], why[256];
        json_t *r = NULL;
        int rs;
        snprintf(rpath, sizeof(rpath), "/api/devices/%s/revoke", id);
        if (kos__tool_studio_call(&s->rt, "POST", rpath, NULL, 10, &rs, &r, why, sizeof(why)) ==
                KOS_STATUS_OK &&
            rs == 200)
            fprintf(stderr, "kos-tool %s: device %s was registered, and is revoked again\n",
                    KEYS_CMD, id);
        json_decref(r);
    }
out_say:
    fprintf(stderr, "kos-tool %s: %s; no bundle was left in %s\n", KEYS_CMD, err, out);
out:
    EVP_PKEY_free(pub);
    free(pem);
    free(body);
    json_decref(req);
    json_decref(resp);
    return ok;
}

/* The device's own certificate for identity key `key` (its private half):
 * X.509 v3, subject CN = the device id and, when given, name = `name` (the
 * name it offers), self-signed, for client authentication, valid 10 years
 * (docs/link.md, "Pending devices"). A new PEM string (free), or NULL. */
static char *self_signed_pem(EVP_PKEY *key, const char *id, const char *name)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    X509_NAME *subj = NULL;
    X509_EXTENSION *ext;
    X509V3_CTX ctx;
    char *pem = NULL;
    BIO *bio = NULL;
    bool ok;

    ok = x && serial && X509_set_version(x, X509_VERSION_3) &&
         BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 24 * 3600) && X509_set_pubkey(x, key) &&
         (subj = X509_get_subject_name(x)) &&
         X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)id, -1, -1,
                                    0) &&
         (!name || X509_NAME_add_entry_by_NID(subj, NID_name, MBSTRING_UTF8,
                                              (const unsigned char *)name, -1, -1, 0)) &&
         X509_set_issuer_name(x, subj);
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (ok && (ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, "clientAuth"))) {
        ok = X509_add_ext(x, ext, -1) == 1;
        X509_EXTENSION_free(ext);
    } else {
        ok = false;
    }
    /* Ed25519 signs the whole certificate: no digest. */
    ok = ok && X509_sign(x, key, NULL) > 0 && (bio = BIO_new(BIO_s_mem())) &&
         PEM_write_bio_X509(bio, x) == 1;
    if (ok) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        pem = len > 0 ? strndup(data, (size_t)len) : NULL;
    }
    BIO_free(bio);
    BN_free(serial);
    X509_free(x);
    ERR_clear_error();
    return pem;
}

/* Makes bundle `out` ready to wait for approval in Studio `s` without
 * registering it: the device's own certificate, Studio's CA and address
 * (GET /api/server). On failure says why (the caller removes the bundle). */
static bool provision_pending(const struct kos__tool_studio *s, const char *out, const char *name)
{
    char path[PATH_MAX], err[1024], id[65], reached[128];
    const char *ca, *addr;
    unsigned char raw[32], md[32];
    size_t rawlen = sizeof(raw);
    EVP_PKEY *key = NULL;
    json_t *resp = NULL;
    X509 *cax = NULL;
    char *cert = NULL;
    bool ok = false;
    int status;

    snprintf(path, sizeof(path), "%s/identity.key", out);
    if (kos__key_load_private(path, &key, err, sizeof(err)) != KOS_STATUS_OK)
        goto out_say;
    if (EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1 || rawlen != sizeof(raw) ||
        EVP_Digest(raw, rawlen, md, NULL, EVP_sha256(), NULL) != 1) {
        snprintf(err, sizeof(err), "cannot read the identity key");
        goto out_say;
    }
    kos__image_hex(md, sizeof(md), id);
    if (kos__tool_studio_call(&s->rt, "GET", "/api/server", NULL, 10, &status, &resp, err,
                              sizeof(err)) != KOS_STATUS_OK)
        goto out_say;
    ca = json_string_value(json_object_get(resp, "server_ca"));
    addr = json_string_value(json_object_get(resp, "device_address"));
    if (status != 200 || !ca || !addr || strlen(addr) > 64 || strchr(addr, '\n') ||
        !(cax = read_cert(ca))) {
        snprintf(err, sizeof(err), "Studio's answer lacks its CA or its device address: %s",
                 status == 200 ? "an older Studio? restart it" : kos__tool_studio_error(resp));
        goto out_say;
    }
    if (!(cert = self_signed_pem(key, id, name))) {
        snprintf(err, sizeof(err), "cannot make the device's certificate (OpenSSL)");
        goto out_say;
    }
    addr = device_addr(addr, reached, sizeof(reached));
    if (!add_server_items(out, cert, ca, addr, err, sizeof(err)))
        goto out_say;
    printf("not registered (device id %s): when it first connects to %s, approve it in "
           "Studio's device list\n",
           id, addr);
    ok = true;
    goto out;

out_say:
    fprintf(stderr, "kos-tool %s: %s; no bundle was left in %s\n", KEYS_CMD, err, out);
out:
    X509_free(cax);
    EVP_PKEY_free(key);
    free(cert);
    json_decref(resp);
    return ok;
}

/* Reads bundle dir's index (as it is now) into out. */
static bool read_index(const char *dir, char *out, size_t cap)
{
    char path[PATH_MAX];
    size_t n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/" KOS__BUNDLE_INDEX, dir);
    if ((f = fopen(path, "re")) != NULL) {
        n = fread(out, 1, cap - 1, f);
        fclose(f);
    }
    out[n] = '\0';
    if (n == 0)
        fprintf(stderr, "kos-tool %s: cannot read %s back; no bundle was left in %s\n", KEYS_CMD,
                path, dir);
    return n > 0;
}

static int generate_device(const char *out, const char *const *trust, size_t n_trust,
                           const struct kos__tool_studio *studio, const char *name, bool pending)
{
    char err[1024], index[2048];
    struct stat st;
    bool existed = stat(out, &st) == 0;

    if (make_parents(out) != 0) {
        fprintf(stderr, "kos-tool %s: cannot create the parent folders of %s: %s\n", KEYS_CMD, out,
                strerror(errno));
        return 1;
    }
    if (kos__key_generate_device(out, trust, n_trust, index, sizeof(index), err, sizeof(err))) {
        fprintf(stderr, "kos-tool %s: %s\n", KEYS_CMD, err);
        return 1;
    }
    if (studio) {
        if (!(pending ? provision_pending(studio, out, name) : provision(studio, out, name)) ||
            !read_index(out, index, sizeof(index))) {
            remove_bundle(out, existed);
            return 1;
        }
    }
    printf("wrote device key bundle %s (private keys: keep them secret):\n%s", out, index);
    if (n_trust == 0)
        printf("note: no --trust key given: this device trusts no release key yet\n");
    return 0;
}

#define MAX_TRUST 16

/* A host as --reach may give it: an IPv4 address, or a DNS name (letters,
 * digits, '-' and '.'), at most 63 characters. */
static bool host_ok(const char *h)
{
    size_t n = strlen(h);
    struct in_addr a;

    if (n == 0 || n > 63)
        return false;
    if (inet_pton(AF_INET, h, &a) == 1)
        return true;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.')
            return false;
    return h[0] != '-' && h[0] != '.';
}

enum {
    OPT_RELEASE,
    OPT_DEVICE,
    OPT_OUT,
    OPT_TRUST,
    OPT_SERVER,
    OPT_NAME,
    OPT_DATA,
    OPT_PENDING,
    OPT_REACH
};

static const struct kos__opt keys_opts[] = {
    {"release", 0, NULL, OPT_RELEASE},   {"device", 0, NULL, OPT_DEVICE},
    {"out", 'o', "DIR", OPT_OUT},        {"trust", 0, "PUBKEY", OPT_TRUST},
    {"server", 0, "SERVER", OPT_SERVER}, {"name", 0, "NAME", OPT_NAME},
    {"data", 0, "DIR", OPT_DATA},        {"pending", 0, NULL, OPT_PENDING},
    {"reach", 0, "HOST", OPT_REACH},
};

int kos__tool_keys_generate(int argc, char **argv)
{
    char *priv = NULL, *pub = NULL, err[1024], id[2 * KOS__KEY_ID_LEN + 1];
    const char *out = NULL, *trust[MAX_TRUST], *v, *server = NULL, *name = NULL, *data = NULL;
    struct kos__tool_studio studio;
    size_t n_trust = 0;
    bool release = false, device = false, pending = false;
    struct kos__opts p;
    struct stat st;
    int rc = 2, opt;

    kos__opts_init(&p, KEYS_CMD, argc, argv, keys_opts, sizeof(keys_opts) / sizeof(keys_opts[0]));
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            keys_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_RELEASE:
            release = true;
            break;
        case OPT_DEVICE:
            device = true;
            break;
        case OPT_OUT:
            out = v;
            break;
        case OPT_TRUST:
            if (n_trust == MAX_TRUST)
                return kos__opts_usage_error(&p, "at most %d --trust keys", MAX_TRUST);
            trust[n_trust++] = v;
            break;
        case OPT_SERVER:
            server = v;
            break;
        case OPT_NAME:
            name = v;
            break;
        case OPT_DATA:
            data = v;
            break;
        case OPT_PENDING:
            pending = true;
            break;
        case OPT_REACH:
            if (!host_ok(v))
                return kos__opts_usage_error(
                    &p, "--reach takes an IP address or a host name, not '%s'", v);
            reach_host = v;
            break;
        case KOS__OPTS_ARG:
            return kos__opts_usage_error(&p, "unexpected argument '%s': the folder goes with --out",
                                         v);
        }
    }
    if (release == device)
        return kos__opts_usage_error(&p, "give one of --release (a release key pair) or --device "
                                         "(a device key bundle)");
    if (!out)
        return kos__opts_usage_error(&p, "no output folder given: add --out DIR");
    if (n_trust && !device)
        return kos__opts_usage_error(&p, "--trust goes with --device");
    if (server && !device)
        return kos__opts_usage_error(&p, "--server goes with --device");
    if ((name || data || pending || reach_host) && !server)
        return kos__opts_usage_error(&p, "--%s goes with --server",
                                     name         ? "name"
                                     : data       ? "data"
                                     : reach_host ? "reach"
                                                  : "pending");
    if (server && strcmp(server, "studio") != 0) {
        if (strncmp(server, "https://", 8) == 0) {
            fprintf(stderr,
                    "kos-tool %s: Fleet servers (--server https://...) are not supported "
                    "yet; give --server studio\n",
                    KEYS_CMD);
            return 2;
        }
        return kos__opts_usage_error(
            &p, "--server takes studio (the local Studio server), not '%s'", server);
    }
    if (name && (strlen(name) > 64 || !*name))
        return kos__opts_usage_error(&p, "--name takes 1 to 64 bytes");
    if (server) {
        /* Before anything is written: no bundle without its server. */
        if (kos__tool_studio_find(data, &studio, err, sizeof(err)) != KOS_STATUS_OK) {
            fprintf(stderr, "kos-tool %s: %s; no bundle was written\n", KEYS_CMD, err);
            return 1;
        }
    }
    if (device)
        return generate_device(out, trust, n_trust, server ? &studio : NULL, name, pending);

    rc = 1;
    if (make_dirs(out) != 0 || stat(out, &st) != 0) {
        fprintf(stderr, "kos-tool %s: cannot create folder %s: %s\n", KEYS_CMD, out,
                strerror(errno));
        return rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "kos-tool %s: %s exists and is not a folder\n", KEYS_CMD, out);
        return rc;
    }
    if (asprintf(&priv, "%s/release.key", out) < 0) {
        priv = NULL;
        goto out_oom;
    }
    if (asprintf(&pub, "%s/release.pub", out) < 0) {
        pub = NULL;
        goto out_oom;
    }
    if (kos_key_generate_release(priv, pub, err, sizeof(err)) != KOS_STATUS_OK ||
        kos__key_id_of_public_file(pub, id, err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: %s\n", KEYS_CMD, err);
        goto out_free_paths;
    }
    printf("wrote %s (private: keep it secret) and %s (public); key id %s\n", priv, pub, id);
    rc = 0;
    goto out_free_paths;

out_oom:
    fprintf(stderr, "kos-tool %s: out of memory\n", KEYS_CMD);
out_free_paths:
    free(pub);
    free(priv);
    return rc;
}
