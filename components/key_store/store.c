/*
 * store.c - the keys key_store holds and the operations it performs with
 * them for kos_keystore_protocol requests.
 *
 * A request is decoded (every size checked before it is read), checked
 * against the allow list for the caller the message server named, and only
 * then run. What stays true (see ks.h): replies carry public keys,
 * signatures, verdicts and HKDF outputs, never private bytes or a raw shared
 * secret; `secret` is wiped before kstore_handle() returns and `out` by
 * kstore_after_reply().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <kos/log.h>

#include "ks.h"

void kstore_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

kos_status_t kstore_init(struct kstore *ks)
{
    memset(ks, 0, sizeof(*ks));
    ks->log_denials = true;
    kos__app_budgets_init(&ks->log, KS_LOG_BURST, KS_LOG_EVERY_MS);
    ks->md = EVP_MD_CTX_new();
    if (!ks->md)
        return KOS_STATUS_NO_MEMORY;
    ks->hkdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    if (!ks->hkdf) {
        ERR_clear_error();
        EVP_MD_CTX_free(ks->md);
        ks->md = NULL;
        return KOS_STATUS_INTERNAL;
    }
    return KOS_STATUS_OK;
}

void kstore_fini(struct kstore *ks)
{
    for (size_t i = 0; i < ks->n_items; i++)
        free(ks->items[i].data);
    for (size_t i = 0; i < ks->n_keys; i++)
        EVP_PKEY_free(ks->keys[i].pkey); /* ecx keys clear their private half */
    EVP_MD_CTX_free(ks->md);
    EVP_KDF_free(ks->hkdf);
    kstore_wipe(ks, sizeof(*ks));
}

const struct ks_key *kstore_find(const struct kstore *ks, const char *name)
{
    for (size_t i = 0; i < ks->n_keys; i++)
        if (!strcmp(ks->keys[i].name, name))
            return &ks->keys[i];
    return NULL;
}

kos_status_t kstore_add_pem(struct kstore *ks, const char *name, const char *text, size_t len,
                            char *err, size_t errlen)
{
    struct ks_raw_key raw;
    struct ks_key *k;
    size_t publen = KOS_KEYSTORE_PUBLIC_KEY_LEN;
    int id;
    kos_status_t st;

    if (!name || !kos__ks_name_valid(name, strnlen(name, KOS_KEYSTORE_KEY_NAME_MAX + 1))) {
        snprintf(err, errlen, "'%s' is not a key name (1-31 characters from [a-z0-9_])",
                 name ? name : "");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (kstore_find(ks, name)) {
        snprintf(err, errlen, "key '%s' is given twice", name);
        return KOS_STATUS_ALREADY_EXISTS;
    }
    if (ks->n_keys == KS_MAX_KEYS) {
        snprintf(err, errlen, "key '%s': at most %u keys", name, KS_MAX_KEYS);
        return KOS_STATUS_NO_MEMORY;
    }
    st = ks_key_parse(text, len, &raw, err, errlen);
    if (st)
        return st;
    k = &ks->keys[ks->n_keys];
    memset(k, 0, sizeof(*k));
    id = raw.type == KOS_KEYSTORE_ED25519 ? EVP_PKEY_ED25519 : EVP_PKEY_X25519;
    /* OpenSSL keeps an Ed25519/X25519 private key in its secure heap (mlocked
     * and excluded from core dumps when the secure heap is set up) and
     * clears it when the key is freed. */
    k->pkey = raw.private_key ? EVP_PKEY_new_raw_private_key(id, NULL, raw.raw, 32)
                              : EVP_PKEY_new_raw_public_key(id, NULL, raw.raw, 32);
    k->private_key = raw.private_key;
    kstore_wipe(&raw, sizeof(raw));
    if (!k->pkey || EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &publen) != 1 ||
        publen != KOS_KEYSTORE_PUBLIC_KEY_LEN) {
        ERR_clear_error();
        EVP_PKEY_free(k->pkey);
        memset(k, 0, sizeof(*k));
        snprintf(err, errlen, "key '%s': OpenSSL refused the key", name);
        return KOS_STATUS_INTERNAL;
    }
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->type = id == EVP_PKEY_ED25519 ? KOS_KEYSTORE_ED25519 : KOS_KEYSTORE_X25519;
    ks->n_keys++;
    return KOS_STATUS_OK;
}

kos_status_t kstore_add_fd(struct kstore *ks, const char *name, int fd, char *err, size_t errlen)
{
    struct ks_raw_key probe;
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;
    size_t len = 0;
    struct stat sb;

    if (fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "key '%s': cannot stat: %s", name, strerror(errno));
        return KOS_STATUS_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "key '%s' is not a regular file", name);
        return st;
    }
    if (sb.st_size <= 0 || (unsigned long long)sb.st_size > KS_KEY_FILE_MAX) {
        snprintf(err, errlen, "key '%s' is not a PEM key (%lld bytes)", name,
                 (long long)sb.st_size);
        return st;
    }
    while (len < (size_t)sb.st_size) {
        ssize_t n = pread(fd, ks->file + len, (size_t)sb.st_size - len, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "key '%s': cannot read: %s", name, strerror(errno));
            st = KOS_STATUS_IO;
            goto out_wipe;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    /* Refuse a private key others can read before adopting it: whoever
     * provisioned the device got the permissions wrong. */
    st = ks_key_parse((const char *)ks->file, len, &probe, err, errlen);
    if (st) {
        char why[192];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "key '%s': %s", name, why);
        goto out_wipe;
    }
    if (probe.private_key && (sb.st_mode & 077) != 0) {
        snprintf(err, errlen,
                 "key '%s' is a private key that group or others may access (mode %04o); "
                 "refusing it: chmod 600 the file",
                 name, (unsigned)(sb.st_mode & 07777));
        st = KOS_STATUS_UNAUTHORIZED;
        goto out_wipe;
    }
    st = kstore_add_pem(ks, name, (const char *)ks->file, len, err, errlen);
out_wipe:
    kstore_wipe(&probe, sizeof(probe));
    kstore_wipe(ks->file, sizeof(ks->file));
    return st;
}

const struct ks_item *kstore_find_item(const struct kstore *ks, const char *name)
{
    for (size_t i = 0; i < ks->n_items; i++)
        if (!strcmp(ks->items[i].name, name))
            return &ks->items[i];
    return NULL;
}

bool kstore_fd_is_item(int fd)
{
    static const char cert[] = "-----BEGIN CERTIFICATE-----";
    char head[64];
    ssize_t n = pread(fd, head, sizeof(head) - 1, 0);
    size_t i = 0;

    if (n <= 0)
        return false;
    head[n] = '\0';
    while (i < (size_t)n &&
           (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t'))
        i++;
    return strncmp(head + i, cert, sizeof(cert) - 1) == 0 || strncmp(head + i, "-----", 5) != 0;
}

kos_status_t kstore_add_item_fd(struct kstore *ks, const char *name, int fd, char *err,
                                size_t errlen)
{
    struct ks_item *it;
    struct stat sb;
    size_t len = 0;

    if (!kos__ks_name_valid(name, strnlen(name, KOS_KEYSTORE_KEY_NAME_MAX + 1))) {
        snprintf(err, errlen, "'%s' is not an item name (1-31 characters from [a-z0-9_])", name);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (kstore_find(ks, name) || kstore_find_item(ks, name)) {
        snprintf(err, errlen, "item '%s' is given twice", name);
        return KOS_STATUS_ALREADY_EXISTS;
    }
    if (ks->n_items == KS_MAX_ITEMS) {
        snprintf(err, errlen, "item '%s': at most %u public items", name, KS_MAX_ITEMS);
        return KOS_STATUS_NO_MEMORY;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "item '%s' is not a regular file", name);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (sb.st_size <= 0 || (unsigned long long)sb.st_size > KOS_KEYSTORE_ITEM_MAX) {
        snprintf(err, errlen, "item '%s' has %lld bytes (1 to %u)", name, (long long)sb.st_size,
                 KOS_KEYSTORE_ITEM_MAX);
        return KOS_STATUS_TOO_LARGE;
    }
    it = &ks->items[ks->n_items];
    it->data = malloc((size_t)sb.st_size);
    if (!it->data) {
        snprintf(err, errlen, "item '%s': out of memory", name);
        return KOS_STATUS_NO_MEMORY;
    }
    while (len < (size_t)sb.st_size) {
        ssize_t n = pread(fd, it->data + len, (size_t)sb.st_size - len, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (len != (size_t)sb.st_size) {
        snprintf(err, errlen, "item '%s': cannot read it whole", name);
        goto out_free;
    }
    it->type = len >= 27 && memcmp(it->data, "-----BEGIN CERTIFICATE-----", 27) == 0
                   ? KOS_KEYSTORE_ITEM_X509
                   : KOS_KEYSTORE_ITEM_TEXT;
    if (it->type == KOS_KEYSTORE_ITEM_TEXT) {
        for (size_t i = 0; i < len; i++) {
            uint8_t c = it->data[i];
            if (!(c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f))) {
                snprintf(err, errlen,
                         "item '%s' is neither a PEM certificate nor printable text (byte %zu)",
                         name, i);
                goto out_free;
            }
        }
    }
    snprintf(it->name, sizeof(it->name), "%s", name);
    it->len = len;
    ks->n_items++;
    return KOS_STATUS_OK;
out_free:
    free(it->data);
    memset(it, 0, sizeof(*it));
    return KOS_STATUS_INVALID_ARGUMENT;
}

kos_status_t kstore_set_acl(struct kstore *ks, const struct ks_acl *acl, char *err, size_t errlen,
                            char *warn, size_t warnlen)
{
    size_t wl = 0;

    if (warnlen)
        warn[0] = '\0';
    for (size_t i = 0; i < acl->n; i++) {
        const struct ks_acl_entry *e = &acl->e[i];
        const struct ks_key *k = kstore_find(ks, e->key);
        unsigned bad = 0;

        if (!k && kstore_find_item(ks, e->key)) {
            if (e->ops & ~KS_OP_PUBLIC) {
                unsigned op = (e->ops & ~KS_OP_PUBLIC) & -(e->ops & ~KS_OP_PUBLIC);
                snprintf(err, errlen,
                         "allow: '%s' may %s with '%s', but '%s' is a public item (only "
                         "public)",
                         e->app, ks_op_name(op), e->key, e->key);
                return KOS_STATUS_INVALID_ARGUMENT;
            }
            continue;
        }
        /* A bundle without a server has none of its public items: that
         * is how a device that links to no server is provisioned. */
        if (!k && (!strcmp(e->key, "identity_cert") || !strcmp(e->key, "server_ca") ||
                   !strcmp(e->key, "server")))
            continue;
        if (!k) {
            if (wl < warnlen)
                wl += (size_t)snprintf(warn + wl, warnlen - wl, "%sno key '%s' (allowed to '%s')",
                                       wl ? "; " : "", e->key, e->app);
            continue;
        }
        if (k->type != KOS_KEYSTORE_ED25519 || !k->private_key)
            bad |= e->ops & (KS_OP_SIGN | KS_OP_SIGN_DIGEST);
        if (k->type != KOS_KEYSTORE_X25519 || !k->private_key)
            bad |= e->ops & KS_OP_AGREE;
        if (k->type != KOS_KEYSTORE_ED25519)
            bad |= e->ops & KS_OP_VERIFY;
        if (bad) {
            unsigned op = bad & -bad;
            snprintf(err, errlen, "allow: '%s' may %s with key '%s', but '%s' is %s %s %s key",
                     e->app, ks_op_name(op), e->key, e->key, k->private_key ? "a" : "only the",
                     k->type == KOS_KEYSTORE_ED25519 ? "Ed25519" : "X25519",
                     k->private_key ? "private" : "public");
            return KOS_STATUS_INVALID_ARGUMENT;
        }
    }
    ks->acl = *acl;
    return KOS_STATUS_OK;
}

/* Signs msg[0..len) with Ed25519 key k into ks->out. */
static kos_status_t do_sign(struct kstore *ks, const struct ks_key *k, const uint8_t *msg,
                            size_t len)
{
    size_t siglen = KOS_KEYSTORE_SIGNATURE_LEN;

    if (EVP_DigestSignInit(ks->md, NULL, NULL, NULL, k->pkey) != 1 ||
        EVP_DigestSign(ks->md, ks->out, &siglen, msg, len) != 1 ||
        siglen != KOS_KEYSTORE_SIGNATURE_LEN) {
        ERR_clear_error();
        EVP_MD_CTX_reset(ks->md);
        return KOS_STATUS_INTERNAL;
    }
    EVP_MD_CTX_reset(ks->md);
    return KOS_STATUS_OK;
}

/* Checks sig over msg[0..len) with key k; *valid says the verdict. */
static kos_status_t do_verify(struct kstore *ks, const struct ks_key *k, const uint8_t *sig,
                              const uint8_t *msg, size_t len, bool *valid)
{
    int rc;

    if (EVP_DigestVerifyInit(ks->md, NULL, NULL, NULL, k->pkey) != 1) {
        ERR_clear_error();
        EVP_MD_CTX_reset(ks->md);
        return KOS_STATUS_INTERNAL;
    }
    rc = EVP_DigestVerify(ks->md, sig, KOS_KEYSTORE_SIGNATURE_LEN, msg, len);
    ERR_clear_error();
    EVP_MD_CTX_reset(ks->md);
    *valid = rc == 1;
    return KOS_STATUS_OK;
}

/* The message a digest-mode signature covers: PREFIX || digest, in
 * ks->scratch. */
static const uint8_t *digest_message(struct kstore *ks, const uint8_t *digest, size_t *len)
{
    memcpy(ks->scratch, KOS_KEYSTORE_DIGEST_PREFIX, KOS_KEYSTORE_DIGEST_PREFIX_LEN);
    memcpy(ks->scratch + KOS_KEYSTORE_DIGEST_PREFIX_LEN, digest, KOS_KEYSTORE_DIGEST_LEN);
    *len = KOS_KEYSTORE_DIGEST_PREFIX_LEN + KOS_KEYSTORE_DIGEST_LEN;
    return ks->scratch;
}

/* X25519 with k and the peer's key into ks->secret, then HKDF into ks->out.
 * ks->secret is wiped whatever happens. */
static kos_status_t do_agree(struct kstore *ks, const struct ks_key *k, const struct kos__ks_req *r)
{
    static const uint8_t zero[32];
    kos_status_t st = KOS_STATUS_INTERNAL;
    EVP_PKEY *peer;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[4];
    size_t slen = sizeof(ks->secret), ilen;
    const uint8_t *lo = k->pub, *hi = r->peer;

    peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, r->peer, KOS_KEYSTORE_PUBLIC_KEY_LEN);
    if (!peer)
        goto out;
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (!pctx || EVP_PKEY_derive_init(pctx) != 1)
        goto out;
    if (EVP_PKEY_derive_set_peer(pctx, peer) != 1 ||
        EVP_PKEY_derive(pctx, ks->secret, &slen) != 1 || slen != sizeof(ks->secret) ||
        CRYPTO_memcmp(ks->secret, zero, sizeof(zero)) == 0) {
        /* OpenSSL refuses a low-order peer point, whose secret is zero. */
        st = KOS_STATUS_INVALID_ARGUMENT;
        goto out;
    }
    /* info = INFO || smaller public key || larger || label, so both sides
     * build the same info and a key is bound to the two parties. */
    if (memcmp(lo, hi, KOS_KEYSTORE_PUBLIC_KEY_LEN) > 0) {
        lo = r->peer;
        hi = k->pub;
    }
    ilen = 0;
    memcpy(ks->scratch, KOS_KEYSTORE_AGREE_INFO, KOS_KEYSTORE_AGREE_INFO_LEN);
    ilen += KOS_KEYSTORE_AGREE_INFO_LEN;
    memcpy(ks->scratch + ilen, lo, KOS_KEYSTORE_PUBLIC_KEY_LEN);
    ilen += KOS_KEYSTORE_PUBLIC_KEY_LEN;
    memcpy(ks->scratch + ilen, hi, KOS_KEYSTORE_PUBLIC_KEY_LEN);
    ilen += KOS_KEYSTORE_PUBLIC_KEY_LEN;
    memcpy(ks->scratch + ilen, r->data, r->len);
    ilen += r->len;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ks->secret, slen);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ks->scratch, ilen);
    params[3] = OSSL_PARAM_construct_end();
    kctx = EVP_KDF_CTX_new(ks->hkdf);
    if (!kctx || EVP_KDF_derive(kctx, ks->out, (size_t)r->param, params) != 1)
        goto out;
    st = KOS_STATUS_OK;
out:
    ERR_clear_error();
    EVP_KDF_CTX_free(kctx); /* the HKDF context clears its copy of the key */
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(peer);
    kstore_wipe(ks->secret, sizeof(ks->secret));
    if (st)
        kstore_wipe(ks->out, sizeof(ks->out));
    return st;
}

/* The operations of which any one allows request r: a digest-mode
 * signature is allowed by sign or sign_digest, a pure one by sign only. */
static unsigned ops_allowing(const struct kos__ks_req *r)
{
    switch (r->label) {
    case KOS_KEYSTORE_LABEL_PUBLIC_KEY:
    case KOS_KEYSTORE_LABEL_PUBLIC_ITEM:
        return KS_OP_PUBLIC;
    case KOS_KEYSTORE_LABEL_SIGN:
        return r->param == KOS_KEYSTORE_MODE_DIGEST ? KS_OP_SIGN | KS_OP_SIGN_DIGEST : KS_OP_SIGN;
    case KOS_KEYSTORE_LABEL_VERIFY:
        return KS_OP_VERIFY;
    default:
        return KS_OP_AGREE;
    }
}

static kos_status_t run(struct kstore *ks, const struct ks_key *k, const struct kos__ks_req *r,
                        struct kos_msg *reply)
{
    const uint8_t *msg = r->data;
    size_t len = r->len;
    bool valid = false;
    kos_status_t st;

    if (r->label != KOS_KEYSTORE_LABEL_PUBLIC_KEY && r->label != KOS_KEYSTORE_LABEL_AGREE &&
        r->param == KOS_KEYSTORE_MODE_DIGEST)
        msg = digest_message(ks, r->data, &len);
    switch (r->label) {
    case KOS_KEYSTORE_LABEL_PUBLIC_KEY:
        memcpy(ks->out, k->pub, KOS_KEYSTORE_PUBLIC_KEY_LEN);
        reply->param = (uint64_t)k->type;
        reply->payload = ks->out;
        reply->len = KOS_KEYSTORE_PUBLIC_KEY_LEN;
        return KOS_STATUS_OK;
    case KOS_KEYSTORE_LABEL_SIGN:
        if (k->type != KOS_KEYSTORE_ED25519 || !k->private_key)
            return KOS_STATUS_UNSUPPORTED;
        st = do_sign(ks, k, msg, len);
        if (st)
            return st;
        reply->payload = ks->out;
        reply->len = KOS_KEYSTORE_SIGNATURE_LEN;
        return KOS_STATUS_OK;
    case KOS_KEYSTORE_LABEL_VERIFY:
        if (k->type != KOS_KEYSTORE_ED25519)
            return KOS_STATUS_UNSUPPORTED;
        st = do_verify(ks, k, r->sig, msg, len, &valid);
        reply->param = valid ? 1 : 0;
        return st;
    default: /* KOS_KEYSTORE_LABEL_AGREE: decode accepts nothing else */
        if (k->type != KOS_KEYSTORE_X25519 || !k->private_key)
            return KOS_STATUS_UNSUPPORTED;
        st = do_agree(ks, k, r);
        if (st)
            return st;
        reply->payload = ks->out;
        reply->len = (uint32_t)r->param;
        return KOS_STATUS_OK;
    }
}

/* What a refused request asked for, for the log line. */
static const char *denied_what(const struct kos__ks_req *r)
{
    switch (r->label) {
    case KOS_KEYSTORE_LABEL_PUBLIC_KEY:
        return "read the public half of";
    case KOS_KEYSTORE_LABEL_PUBLIC_ITEM:
        return "read public item";
    case KOS_KEYSTORE_LABEL_SIGN:
        return r->param == KOS_KEYSTORE_MODE_DIGEST ? "sign a digest with" : "sign with";
    case KOS_KEYSTORE_LABEL_VERIFY:
        return "verify with";
    default:
        return "agree with";
    }
}

kos_status_t kstore_handle(struct kstore *ks, const char *app, const struct kos_msg *req,
                           struct kos_msg *reply)
{
    struct kos__ks_req r;
    const struct ks_key *k;
    kos_status_t st;
    unsigned op;

    *reply = (struct kos_msg){0};
    st = kos__ks_decode(req->label, req->param, req->payload, req->len, &r);
    if (st) {
        ks->n_failed++;
        return st;
    }
    op = ops_allowing(&r);
    if (!(ks_acl_ops(&ks->acl, app, r.key) & op)) {
        ks->n_denied++;
        if (ks->log_denials)
            kos__app_log(&ks->log, app, KOS_LOG_WARN, "denied: '%s' may not %s key '%s'",
                         app ? app : "?", denied_what(&r), r.key);
        return KOS_STATUS_UNAUTHORIZED;
    }
    if (r.label == KOS_KEYSTORE_LABEL_PUBLIC_ITEM) {
        const struct ks_item *it = kstore_find_item(ks, r.key);
        if (it) {
            reply->param = (uint64_t)it->type;
            reply->payload = it->data;
            reply->len = (uint32_t)it->len;
        }
        st = it ? KOS_STATUS_OK : KOS_STATUS_NOT_FOUND;
    } else {
        k = kstore_find(ks, r.key);
        st = k ? run(ks, k, &r, reply) : KOS_STATUS_NOT_FOUND;
    }
    kstore_wipe(ks->scratch, sizeof(ks->scratch));
    if (st) {
        *reply = (struct kos_msg){.param = 0};
        kstore_wipe(ks->out, sizeof(ks->out));
        ks->n_failed++;
        return st;
    }
    ks->n_ok++;
    return KOS_STATUS_OK;
}

void kstore_after_reply(struct kstore *ks)
{
    kstore_wipe(ks->out, sizeof(ks->out));
}
