/*
 * fuzz_keystore.c - libFuzzer harness for what key_store reads from
 * outside: kos_keystore_protocol requests (lib/keystore.c's codec and the
 * component's kstore_handle()), its `allow` setting (ks_acl_parse()) and its
 * key files (kstore_add_fd(), ks_key_parse(), ks_base64_decode()).
 *
 * The first input byte picks what the rest is (sel % 4):
 *   0  a request: label (1 byte), param (1 byte; 255 means UINT64_MAX), the
 *      caller (1 byte, an index into apps[]), then the payload. Decoded with
 *      kos__ks_decode(), and answered by a real store that holds an Ed25519
 *      and an X25519 private key and an Ed25519 public key, with an allow
 *      list for three of the four callers.
 *   1  an `allow` setting (text up to the first NUL), through ks_acl_parse()
 *      and kstore_set_acl() on that store.
 *   2  a key file, in a memfd of mode 0600 (sel & 4) or 0644, through
 *      kstore_add_fd() into an empty store.
 *   3  base64 text, through ks_base64_decode().
 *
 * The promises checked (ks.h, keystore_int.h): what decodes encodes back to
 * the same bytes; an answered request was allowed, and its reply has the
 * size its label says (a public key that is the key's, a signature that
 * verifies, a verdict of 0 or 1, a derived key of the asked length); no
 * reply holds a private key or the X25519 shared secret; the secret and
 * scratch buffers are wiped when kstore_handle() returns and the reply
 * buffer by kstore_after_reply(); a refused allow list grants nothing and
 * says where it failed; a parsed list prints back to the same list; a key
 * that loads has the public half its file says, and a private key open to
 * others never loads.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fuzz.h"
#include "keystore_int.h"
#include "ks.h"

enum { SEL_REQUEST, SEL_ACL, SEL_KEYFILE, SEL_BASE64 };

static const char *const apps[] = {"app", "other", "ghostly", "nobody"};
#define N_APPS (sizeof(apps) / sizeof(apps[0]))

static const char allow[] = "app=identity:public,identity:sign,identity:verify,tunnel:agree,"
                            "tunnel:public,peer:verify,peer:public;"
                            "other=identity:verify,peer:public;ghostly=ghost:sign";

static struct {
    bool ready;
    struct kstore ks;    /* the store that answers requests */
    struct kstore empty; /* keys from files are added here and dropped again */
    struct ks_acl acl;   /* the store's list, restored after each SEL_ACL */
    EVP_PKEY *ed, *x;    /* our copies of the private keys */
    uint8_t ed_priv[32], x_priv[32], ed_pub[32], x_pub[32], peer_pub[32];
    int memfd;
} fz;

static void add_key(const char *name, EVP_PKEY *pkey, bool private_key)
{
    BIO *b = BIO_new(BIO_s_mem());
    char err[256], *text;
    long len;

    if (!b || (private_key ? PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL)
                           : PEM_write_bio_PUBKEY(b, pkey)) != 1)
        kos_fuzz_fail("cannot write key %s as PEM", name);
    len = BIO_get_mem_data(b, &text);
    if (kstore_add_pem(&fz.ks, name, text, (size_t)len, err, sizeof(err)) != KOS_STATUS_OK)
        kos_fuzz_fail("kstore_add_pem refuses OpenSSL's PEM for %s: %s", name, err);
    BIO_free(b);
}

static void raw(EVP_PKEY *k, bool private_key, uint8_t out[32])
{
    size_t n = 32;

    if ((private_key ? EVP_PKEY_get_raw_private_key(k, out, &n)
                     : EVP_PKEY_get_raw_public_key(k, out, &n)) != 1 ||
        n != 32)
        kos_fuzz_fail("cannot get a raw key");
}

static void setup(void)
{
    char err[256], warn[256];
    EVP_PKEY *peer;

    if (kstore_init(&fz.ks) != KOS_STATUS_OK || kstore_init(&fz.empty) != KOS_STATUS_OK)
        kos_fuzz_fail("kstore_init failed");
    fz.ks.log_denials = fz.empty.log_denials = false;
    fz.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    fz.x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    peer = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!fz.ed || !fz.x || !peer)
        kos_fuzz_fail("cannot generate keys");
    raw(fz.ed, true, fz.ed_priv);
    raw(fz.x, true, fz.x_priv);
    raw(fz.ed, false, fz.ed_pub);
    raw(fz.x, false, fz.x_pub);
    raw(peer, false, fz.peer_pub);
    add_key("identity", fz.ed, true);
    add_key("tunnel", fz.x, true);
    add_key("peer", peer, false);
    EVP_PKEY_free(peer);
    if (ks_acl_parse(&fz.acl, allow, err, sizeof(err)) != KOS_STATUS_OK ||
        kstore_set_acl(&fz.ks, &fz.acl, err, sizeof(err), warn, sizeof(warn)) != KOS_STATUS_OK)
        kos_fuzz_fail("the harness's allow list is refused: %s", err);
    if (!strstr(warn, "ghost"))
        kos_fuzz_fail("kstore_set_acl does not warn of key 'ghost', which it lacks");
    fz.memfd = memfd_create("fuzz-key", MFD_CLOEXEC);
    if (fz.memfd < 0)
        kos_fuzz_fail("memfd_create: %s", strerror(errno));
    fz.ready = true;
}

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static bool holds(const void *hay, size_t n, const uint8_t needle[32])
{
    return n >= 32 && memmem(hay, n, needle, 32) != NULL;
}

/* Checks an answered SIGN: the signature verifies with the identity key. */
static void check_signature(const struct kos__ks_req *r, const uint8_t *sig)
{
    uint8_t msg[KOS_KEYSTORE_DIGEST_PREFIX_LEN + KOS_KEYSTORE_DIGEST_LEN];
    const uint8_t *m = r->data;
    size_t len = r->len;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    if (r->param == KOS_KEYSTORE_MODE_DIGEST) {
        memcpy(msg, KOS_KEYSTORE_DIGEST_PREFIX, KOS_KEYSTORE_DIGEST_PREFIX_LEN);
        memcpy(msg + KOS_KEYSTORE_DIGEST_PREFIX_LEN, r->data, KOS_KEYSTORE_DIGEST_LEN);
        m = msg;
        len = sizeof(msg);
    }
    if (!md || EVP_DigestVerifyInit(md, NULL, NULL, NULL, fz.ed) != 1 ||
        EVP_DigestVerify(md, sig, KOS_KEYSTORE_SIGNATURE_LEN, m ? m : (const uint8_t *)"", len) !=
            1)
        kos_fuzz_fail("key_store's signature does not verify");
    EVP_MD_CTX_free(md);
}

/* The X25519 secret of our tunnel key and the request's peer, if any. */
static bool shared_secret(const struct kos__ks_req *r, uint8_t out[32])
{
    EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, r->peer, 32);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(fz.x, NULL);
    size_t n = 32;
    bool ok = peer && c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, peer) == 1 &&
              EVP_PKEY_derive(c, out, &n) == 1 && n == 32;

    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(peer);
    return ok;
}

static void run_request(const uint8_t *p, size_t len)
{
    struct kos__ks_req r;
    struct kos_msg req = {0}, reply;
    uint8_t enc[KOS_MSG_MAX_PAYLOAD], secret[32];
    const char *app;
    uint32_t elen = 0;
    kos_status_t dst, st;
    unsigned ops;

    if (len < 3)
        return;
    req.label = p[0];
    req.param = p[1] == 255 ? UINT64_MAX : p[1];
    app = apps[p[2] % N_APPS];
    req.payload = len > 3 ? p + 3 : NULL;
    req.len = (uint32_t)(len - 3);

    dst = kos__ks_decode(req.label, req.param, req.payload, req.len, &r);
    if (dst == KOS_STATUS_OK) {
        if (!kos__ks_name_valid(r.key, strlen(r.key)) || r.len > KOS_KEYSTORE_DATA_MAX + 64 ||
            (r.len && !r.data))
            kos_fuzz_fail("kos__ks_decode accepted a request with a bad name or data");
        if (kos__ks_encode(&r, enc, sizeof(enc), &elen) != KOS_STATUS_OK)
            kos_fuzz_fail("kos__ks_encode refuses what kos__ks_decode accepted (label %u)",
                          req.label);
        if (elen != req.len || memcmp(enc, req.payload, elen) != 0)
            kos_fuzz_fail("label %u: %u bytes decode but encode back to %u other bytes", req.label,
                          req.len, elen);
    }

    st = kstore_handle(&fz.ks, app, &req, &reply);
    if (!all_zero(fz.ks.secret, sizeof(fz.ks.secret)) ||
        !all_zero(fz.ks.scratch, sizeof(fz.ks.scratch)))
        kos_fuzz_fail("kstore_handle left the shared secret or scratch unwiped");
    if (st != KOS_STATUS_OK) {
        if (dst == KOS_STATUS_OK && st == KOS_STATUS_PROTOCOL)
            kos_fuzz_fail("kstore_handle calls a decodable request malformed");
        if (dst != KOS_STATUS_OK && st != dst)
            kos_fuzz_fail("kstore_handle answers %s to a request kos__ks_decode calls %s",
                          kos_status_str(st), kos_status_str(dst));
        if (reply.len || reply.payload || reply.param)
            kos_fuzz_fail("kstore_handle fails with %s but fills the reply", kos_status_str(st));
        if (!all_zero(fz.ks.out, sizeof(fz.ks.out)))
            kos_fuzz_fail("kstore_handle fails but leaves its reply buffer unwiped");
        return;
    }
    if (dst != KOS_STATUS_OK)
        kos_fuzz_fail("kstore_handle answers a request kos__ks_decode refuses");
    ops = ks_acl_ops(&fz.ks.acl, app, r.key);
    if (holds(reply.payload, reply.len, fz.ed_priv) || holds(reply.payload, reply.len, fz.x_priv))
        kos_fuzz_fail("a reply holds a private key");
    switch (r.label) {
    case KOS_KEYSTORE_LABEL_PUBLIC_KEY: {
        const struct ks_key *k = kstore_find(&fz.ks, r.key);
        if (!(ops & KS_OP_PUBLIC) || !k || reply.len != 32 || memcmp(reply.payload, k->pub, 32) ||
            reply.param != (uint64_t)k->type)
            kos_fuzz_fail("PUBLIC_KEY answered wrongly for '%s'", r.key);
        if (!strcmp(r.key, "identity") && memcmp(k->pub, fz.ed_pub, 32))
            kos_fuzz_fail("key_store's identity public key is not the key's");
        break;
    }
    case KOS_KEYSTORE_LABEL_SIGN:
        if (!(ops & KS_OP_SIGN) || reply.len != KOS_KEYSTORE_SIGNATURE_LEN)
            kos_fuzz_fail("SIGN answered wrongly for '%s'", r.key);
        check_signature(&r, reply.payload);
        break;
    case KOS_KEYSTORE_LABEL_VERIFY:
        if (!(ops & KS_OP_VERIFY) || reply.len != 0 || reply.param > 1)
            kos_fuzz_fail("VERIFY answered wrongly for '%s'", r.key);
        break;
    default:
        if (!(ops & KS_OP_AGREE) || reply.len != r.param)
            kos_fuzz_fail("AGREE answered wrongly for '%s'", r.key);
        if (shared_secret(&r, secret) && holds(reply.payload, reply.len, secret))
            kos_fuzz_fail("an AGREE reply holds the raw shared secret");
        break;
    }
    kstore_after_reply(&fz.ks);
    if (!all_zero(fz.ks.out, sizeof(fz.ks.out)))
        kos_fuzz_fail("kstore_after_reply leaves the reply buffer unwiped");
}

/* Prints acl back in the syntax ks_acl_parse() reads. */
static void print_acl(const struct ks_acl *acl, char *out, size_t cap)
{
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < acl->n; i++)
        for (unsigned op = 1; op <= KS_OP_AGREE; op <<= 1)
            if (acl->e[i].ops & op)
                n += (size_t)snprintf(out + n, cap - n, "%s=%s:%s;", acl->e[i].app, acl->e[i].key,
                                      ks_op_name(op));
    if (n >= cap)
        kos_fuzz_fail("printed allow list does not fit");
}

static bool app_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KS_APP_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

static void run_acl(const uint8_t *p, size_t len)
{
    static struct ks_acl acl, again;
    static char text[8192], printed[KS_ACL_MAX * 4 * 110];
    char err[256] = "", warn[512];
    kos_status_t st;

    if (len >= sizeof(text))
        len = sizeof(text) - 1;
    memcpy(text, p, len);
    text[len] = '\0';
    st = ks_acl_parse(&acl, text, err, sizeof(err));
    if (st != KOS_STATUS_OK) {
        if (acl.n != 0 || !strstr(err, "offset"))
            kos_fuzz_fail("a refused allow list grants %zu entries or does not say where (%s)",
                          acl.n, err);
        return;
    }
    if (acl.n > KS_ACL_MAX)
        kos_fuzz_fail("ks_acl_parse kept %zu entries", acl.n);
    for (size_t i = 0; i < acl.n; i++) {
        const struct ks_acl_entry *e = &acl.e[i];
        if (!app_ok(e->app) || !kos__ks_name_valid(e->key, strlen(e->key)) || e->ops == 0 ||
            (e->ops & ~(unsigned)(KS_OP_PUBLIC | KS_OP_SIGN | KS_OP_VERIFY | KS_OP_AGREE)))
            kos_fuzz_fail("ks_acl_parse entry %zu is '%s'/'%s'/%#x", i, e->app, e->key, e->ops);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(acl.e[j].app, e->app) && !strcmp(acl.e[j].key, e->key))
                kos_fuzz_fail("ks_acl_parse lists '%s'/'%s' twice", e->app, e->key);
    }
    print_acl(&acl, printed, sizeof(printed));
    if (ks_acl_parse(&again, printed, err, sizeof(err)) != KOS_STATUS_OK)
        kos_fuzz_fail("an allow list prints as '%.80s', which does not parse: %s", printed, err);
    for (size_t i = 0; i < acl.n; i++)
        for (size_t j = 0; j < acl.n; j++)
            if (ks_acl_ops(&again, acl.e[i].app, acl.e[j].key) !=
                ks_acl_ops(&acl, acl.e[i].app, acl.e[j].key))
                kos_fuzz_fail("an allow list reads differently once printed");
    st = kstore_set_acl(&fz.ks, &acl, err, sizeof(err), warn, sizeof(warn));
    if (st == KOS_STATUS_OK && memcmp(&fz.ks.acl, &acl, sizeof(acl)) != 0)
        kos_fuzz_fail("kstore_set_acl accepted a list but did not adopt it");
    if (st != KOS_STATUS_OK && memcmp(&fz.ks.acl, &fz.acl, sizeof(fz.acl)) != 0)
        kos_fuzz_fail("kstore_set_acl refused a list but changed the store's");
    fz.ks.acl = fz.acl;
}

static void run_keyfile(const uint8_t *p, size_t len, bool private_mode)
{
    struct kstore *ks = &fz.empty;
    struct ks_raw_key k;
    char err[256] = "";
    kos_status_t st, pst;

    if (ftruncate(fz.memfd, 0) != 0 || pwrite(fz.memfd, p, len, 0) != (ssize_t)len ||
        fchmod(fz.memfd, private_mode ? 0600 : 0644) != 0)
        kos_fuzz_fail("cannot fill the memfd: %s", strerror(errno));
    pst = ks_key_parse((const char *)p, len, &k, err, sizeof(err));
    if (pst != KOS_STATUS_OK && !all_zero(&k, sizeof(k)))
        kos_fuzz_fail("ks_key_parse refuses a key but leaves bytes in *out");
    st = kstore_add_fd(ks, "filekey", fz.memfd, err, sizeof(err));
    if (!all_zero(ks->file, sizeof(ks->file)))
        kos_fuzz_fail("kstore_add_fd leaves the file's bytes unwiped");
    if (st != KOS_STATUS_OK) {
        if (ks->n_keys != 0 || err[0] == '\0')
            kos_fuzz_fail("kstore_add_fd failed (%s) without saying why, or kept a key",
                          kos_status_str(st));
        if (pst == KOS_STATUS_OK && !(k.private_key && !private_mode))
            kos_fuzz_fail("kstore_add_fd refuses a key ks_key_parse reads: %s", err);
        kstore_wipe(&k, sizeof(k));
        return;
    }
    if (pst != KOS_STATUS_OK || ks->n_keys != 1)
        kos_fuzz_fail("kstore_add_fd takes a key ks_key_parse refuses");
    if (k.private_key && !private_mode)
        kos_fuzz_fail("kstore_add_fd takes a private key that others may read");
    struct ks_key *key = &ks->keys[0];
    if (key->type != k.type || key->private_key != k.private_key)
        kos_fuzz_fail("the key stored is not the type the file holds");
    if (!k.private_key && memcmp(key->pub, k.raw, 32) != 0)
        kos_fuzz_fail("the public key stored is not the file's");
    kstore_wipe(&k, sizeof(k));
    EVP_PKEY_free(key->pkey);
    kstore_wipe(key, sizeof(*key));
    ks->n_keys = 0;
}

static void run_base64(const uint8_t *p, size_t len)
{
    static uint8_t out[6200], back[6200];
    static char text[8300];
    size_t n = 0, m = 0;

    if (!ks_base64_decode((const char *)p, len, out, sizeof(out), &n)) {
        if (!all_zero(out, sizeof(out)))
            kos_fuzz_fail("ks_base64_decode fails but leaves bytes in its output");
        return;
    }
    if (n > sizeof(out) || n > len)
        kos_fuzz_fail("ks_base64_decode wrote %zu bytes from %zu", n, len);
    int tl = EVP_EncodeBlock((unsigned char *)text, out, (int)n);
    if (!ks_base64_decode(text, (size_t)tl, back, sizeof(back), &m) || m != n ||
        memcmp(out, back, n) != 0)
        kos_fuzz_fail("ks_base64_decode does not read back OpenSSL's encoding of its output");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.ready)
        setup();
    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case SEL_REQUEST:
        run_request(data + 1, size - 1);
        break;
    case SEL_ACL:
        run_acl(data + 1, size - 1);
        break;
    case SEL_KEYFILE:
        run_keyfile(data + 1, size - 1, data[0] & 4);
        break;
    default:
        run_base64(data + 1, size - 1);
        break;
    }
    return 0;
}
