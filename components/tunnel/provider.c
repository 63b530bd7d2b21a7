/*
 * provider.c - an OpenSSL 3 provider, built into the tunnel, whose one
 * algorithm is an Ed25519 key that signs through key_store
 * (kos_keystore_sign on the `identity` key). The TLS handshake's
 * CertificateVerify is signed with it, so the device's private key is never
 * in the tunnel's memory: this provider holds only the public key.
 *
 * It offers a key manager (the public key, imported and exported as
 * OSSL_PKEY_PARAM_PUB_KEY so libssl can match it with the certificate) and
 * a signature (one-shot digest-sign, as TLS 1.3 uses Ed25519), both named
 * "ED25519" with the property provider=kos_keystore. It lives in the
 * tunnel's own OSSL_LIB_CTX beside the default provider, whose algorithms
 * that context prefers (default properties "?provider=default"): only a key
 * made with tun_provider_key() comes here.
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include <kos/log.h>

#include "tun.h"

#define PROVIDER_NAME  "kos_keystore"
#define PROVIDER_PROPS "provider=kos_keystore"
#define ED25519_NAMES  "ED25519:1.3.101.112"

struct provctx {
    struct tun_signer *signer;
};

struct key {
    struct provctx *pc;
    uint8_t pub[32];
    bool has_pub;
};

struct sigctx {
    struct provctx *pc;
    struct key *key;
};

/* ---- key manager ---- */

static void *km_new(void *provctx)
{
    struct key *k = OPENSSL_zalloc(sizeof(*k));

    if (k)
        k->pc = provctx;
    return k;
}

static void km_free(void *keydata)
{
    OPENSSL_free(keydata);
}

/* The key has a "private" half in the sense that it can sign: key_store
 * holds it. */
static int km_has(const void *keydata, int selection)
{
    const struct key *k = keydata;

    (void)selection;
    return k && k->has_pub;
}

static int km_match(const void *a, const void *b, int selection)
{
    const struct key *ka = a, *kb = b;

    (void)selection;
    return ka->has_pub && kb->has_pub && CRYPTO_memcmp(ka->pub, kb->pub, 32) == 0;
}

static int km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    struct key *k = keydata;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
    void *v = k->pub;
    size_t n = 0;

    (void)selection;
    if (!p || !OSSL_PARAM_get_octet_string(p, &v, sizeof(k->pub), &n) || n != sizeof(k->pub))
        return 0;
    k->has_pub = true;
    return 1;
}

static const OSSL_PARAM km_types[] = {
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *km_import_types(int selection)
{
    (void)selection;
    return km_types;
}

static int km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    struct key *k = keydata;
    OSSL_PARAM params[2];

    /* Never as a whole key pair: the private half is key_store's, and a
     * copy of the public half in another provider must not pass for the
     * key that signs (OpenSSL would then sign with that provider's
     * Ed25519, which has no private key). Exporting only the public half
     * is how libssl matches this key with its certificate. */
    if (!k->has_pub || !(selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) ||
        (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
        return 0;
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, k->pub, 32);
    params[1] = OSSL_PARAM_construct_end();
    return cb(params, cbarg);
}

static int km_get_params(void *keydata, OSSL_PARAM params[])
{
    struct key *k = keydata;
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) && !OSSL_PARAM_set_int(p, 253))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS)) &&
        !OSSL_PARAM_set_int(p, 128))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) && !OSSL_PARAM_set_int(p, 64))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MANDATORY_DIGEST)) &&
        !OSSL_PARAM_set_utf8_string(p, ""))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY)) &&
        (!k->has_pub || !OSSL_PARAM_set_octet_string(p, k->pub, 32)))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY)) &&
        (!k->has_pub || !OSSL_PARAM_set_octet_string(p, k->pub, 32)))
        return 0;
    return 1;
}

static const OSSL_PARAM km_gettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *km_gettable_params(void *provctx)
{
    (void)provctx;
    return km_gettable;
}

static const char *km_query_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? "ED25519" : NULL;
}

static const OSSL_DISPATCH km_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))km_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))km_import_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))km_import_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))km_gettable_params},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))km_query_name},
    {0, NULL},
};

/* ---- signature ---- */

static void *sig_new(void *provctx, const char *propq)
{
    struct sigctx *s = OPENSSL_zalloc(sizeof(*s));

    (void)propq;
    if (s)
        s->pc = provctx;
    return s;
}

static void sig_free(void *ctx)
{
    OPENSSL_free(ctx);
}

static void *sig_dup(void *ctx)
{
    struct sigctx *s = OPENSSL_malloc(sizeof(*s));

    if (s)
        *s = *(struct sigctx *)ctx;
    return s;
}

/* Ed25519 takes no digest: only none, or "". */
static int sig_init(void *ctx, const char *mdname, void *keydata, const OSSL_PARAM params[])
{
    struct sigctx *s = ctx;

    (void)params;
    if (mdname && mdname[0])
        return 0;
    if (keydata)
        s->key = keydata;
    return s->key != NULL;
}

static int sig_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                    const unsigned char *tbs, size_t tbslen)
{
    struct sigctx *s = ctx;

    if (!sig) {
        *siglen = 64;
        return 1;
    }
    if (sigsize < 64 || !s->key || !s->pc->signer)
        return 0;
    if (tun_signer_sign(s->pc->signer, s->key->pub, tbs, tbslen, sig) != KOS_STATUS_OK)
        return 0;
    *siglen = 64;
    return 1;
}

static const OSSL_DISPATCH sig_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_new},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_free},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dup},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))sig_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))sig_sign},
    {0, NULL},
};

kos_status_t tun_signer_sign(struct tun_signer *s, const uint8_t pub[32], const uint8_t *tbs,
                             size_t len, uint8_t sig[64])
{
    kos_status_t st;

    (void)pub;
    st = s->sign(s->arg, tbs, len, sig);
    if (st) {
        s->n_failed++;
        s->last = st;
        return st;
    }
    s->n_signed++;
    return KOS_STATUS_OK;
}

/* ---- the provider ---- */

static const OSSL_ALGORITHM keymgmts[] = {
    {ED25519_NAMES, PROVIDER_PROPS, km_functions, "Ed25519 key signing through key_store"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM signatures[] = {
    {ED25519_NAMES, PROVIDER_PROPS, sig_functions, "Ed25519 signatures made by key_store"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *query(void *provctx, int operation_id, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KEYMGMT:
        return keymgmts;
    case OSSL_OP_SIGNATURE:
        return signatures;
    default:
        return NULL;
    }
}

static void teardown(void *provctx)
{
    OPENSSL_free(provctx);
}

static const OSSL_DISPATCH provider_functions[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))query},
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))teardown},
    {0, NULL},
};

static int provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                         const OSSL_DISPATCH **out, void **provctx)
{
    (void)handle;
    (void)in;
    *provctx = OPENSSL_zalloc(sizeof(struct provctx));
    if (!*provctx)
        return 0;
    *out = provider_functions;
    return 1;
}

kos_status_t tun_provider_init(struct tun_tls *t, struct tun_signer *signer)
{
    struct provctx *pc;

    t->libctx = OSSL_LIB_CTX_new();
    if (!t->libctx)
        return KOS_STATUS_NO_MEMORY;
    if (!OSSL_PROVIDER_add_builtin(t->libctx, PROVIDER_NAME, provider_init) ||
        !(t->prov_default = OSSL_PROVIDER_load(t->libctx, "default")) ||
        !(t->prov_ks = OSSL_PROVIDER_load(t->libctx, PROVIDER_NAME)) ||
        !EVP_set_default_properties(t->libctx, "?provider=default")) {
        ERR_clear_error();
        return KOS_STATUS_INTERNAL;
    }
    pc = OSSL_PROVIDER_get0_provider_ctx(t->prov_ks);
    pc->signer = signer;
    return KOS_STATUS_OK;
}

EVP_PKEY *tun_provider_key(struct tun_tls *t, const uint8_t pub[32])
{
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(t->libctx, "ED25519", PROVIDER_PROPS);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, 32);
    params[1] = OSSL_PARAM_construct_end();
    if (!pc || EVP_PKEY_fromdata_init(pc) != 1 ||
        EVP_PKEY_fromdata(pc, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(pc);
    ERR_clear_error();
    return pkey;
}

void tun_provider_fini(struct tun_tls *t)
{
    if (t->prov_ks)
        OSSL_PROVIDER_unload(t->prov_ks);
    if (t->prov_default)
        OSSL_PROVIDER_unload(t->prov_default);
    OSSL_LIB_CTX_free(t->libctx);
    t->libctx = NULL;
    t->prov_ks = t->prov_default = NULL;
}
