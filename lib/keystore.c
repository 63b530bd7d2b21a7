/*
 * keystore.c - the client side of kos_keystore_protocol
 * (include/kos/keystore.h) and the protocol's wire codec, which the
 * key_store component shares.
 *
 * A handle is a token for key_store's protocol, a call timeout and a request
 * buffer. Encoding checks everything the server will check, so a caller
 * learns of a bad argument without a round trip; the server checks again,
 * as it must. Derived keys copied out of a reply are the caller's; the
 * request buffer, which may hold data the caller signs, is wiped after each
 * call.
 */
#include <stdlib.h>
#include <string.h>

#include <kos/keystore.h>

#include "client_int.h"
#include "keystore_int.h"

struct kos_keystore {
    struct kos__client c; /* first: see client_int.h */
    uint8_t req[KOS_MSG_MAX_PAYLOAD];
};

bool kos__ks_name_valid(const char *name, size_t len)
{
    if (!name || len == 0 || len > KOS_KEYSTORE_KEY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* Checks the parts of a request that follow the name, given their total
 * length `rest` (decoding) or the fields of *r (encoding). */
static kos_status_t check_body(uint32_t label, uint64_t param, size_t rest)
{
    switch (label) {
    case KOS_KEYSTORE_LABEL_PUBLIC_KEY:
    case KOS_KEYSTORE_LABEL_PUBLIC_ITEM:
        if (param != 0 || rest != 0)
            return KOS_STATUS_PROTOCOL;
        return KOS_STATUS_OK;
    case KOS_KEYSTORE_LABEL_VERIFY:
        if (rest < KOS_KEYSTORE_SIGNATURE_LEN)
            return KOS_STATUS_PROTOCOL;
        rest -= KOS_KEYSTORE_SIGNATURE_LEN;
        /* the rest is checked as a signing request's */
        __attribute__((fallthrough));
    case KOS_KEYSTORE_LABEL_SIGN:
        if (param == KOS_KEYSTORE_MODE_PURE)
            return rest > KOS_KEYSTORE_DATA_MAX ? KOS_STATUS_TOO_LARGE : KOS_STATUS_OK;
        if (param == KOS_KEYSTORE_MODE_DIGEST)
            return rest == KOS_KEYSTORE_DIGEST_LEN ? KOS_STATUS_OK : KOS_STATUS_PROTOCOL;
        return KOS_STATUS_INVALID_ARGUMENT;
    case KOS_KEYSTORE_LABEL_AGREE:
        if (param < KOS_KEYSTORE_AGREE_MIN || param > KOS_KEYSTORE_AGREE_MAX)
            return KOS_STATUS_INVALID_ARGUMENT;
        if (rest < KOS_KEYSTORE_PUBLIC_KEY_LEN + 1)
            return KOS_STATUS_PROTOCOL;
        if (rest - KOS_KEYSTORE_PUBLIC_KEY_LEN > KOS_KEYSTORE_LABEL_MAX)
            return KOS_STATUS_TOO_LARGE;
        return KOS_STATUS_OK;
    default:
        return KOS_STATUS_UNSUPPORTED;
    }
}

static bool label_known(uint32_t label)
{
    return label >= KOS_KEYSTORE_LABEL_PUBLIC_KEY && label <= KOS_KEYSTORE_LABEL_PUBLIC_ITEM;
}

kos_status_t kos__ks_decode(uint32_t label, uint64_t param, const void *payload, size_t len,
                            struct kos__ks_req *r)
{
    const uint8_t *p = payload;
    size_t name_len, rest;
    kos_status_t st;

    if (!label_known(label))
        return KOS_STATUS_UNSUPPORTED;
    if (len > KOS_MSG_MAX_PAYLOAD)
        return KOS_STATUS_TOO_LARGE;
    if (len < 1 || !p)
        return KOS_STATUS_PROTOCOL;
    name_len = p[0];
    if (name_len == 0 || name_len > KOS_KEYSTORE_KEY_NAME_MAX || name_len > len - 1)
        return KOS_STATUS_PROTOCOL;
    if (!kos__ks_name_valid((const char *)p + 1, name_len))
        return KOS_STATUS_INVALID_ARGUMENT;
    rest = len - 1 - name_len;
    st = check_body(label, param, rest);
    if (st)
        return st;
    memset(r, 0, sizeof(*r));
    r->label = label;
    r->param = param;
    memcpy(r->key, p + 1, name_len);
    p += 1 + name_len;
    if (label == KOS_KEYSTORE_LABEL_VERIFY) {
        r->sig = p;
        p += KOS_KEYSTORE_SIGNATURE_LEN;
        rest -= KOS_KEYSTORE_SIGNATURE_LEN;
    } else if (label == KOS_KEYSTORE_LABEL_AGREE) {
        r->peer = p;
        p += KOS_KEYSTORE_PUBLIC_KEY_LEN;
        rest -= KOS_KEYSTORE_PUBLIC_KEY_LEN;
    }
    r->data = rest ? p : NULL;
    r->len = rest;
    return KOS_STATUS_OK;
}

kos_status_t kos__ks_encode(const struct kos__ks_req *r, uint8_t *out, size_t cap, uint32_t *len)
{
    size_t name_len, rest, used;
    kos_status_t st;

    if (!r || !out || !len)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (!label_known(r->label))
        return KOS_STATUS_UNSUPPORTED;
    name_len = strnlen(r->key, sizeof(r->key));
    if (!kos__ks_name_valid(r->key, name_len))
        return KOS_STATUS_INVALID_ARGUMENT;
    if (r->len && !r->data)
        return KOS_STATUS_INVALID_ARGUMENT;
    rest = r->len;
    if (r->label == KOS_KEYSTORE_LABEL_VERIFY) {
        if (!r->sig)
            return KOS_STATUS_INVALID_ARGUMENT;
        rest += KOS_KEYSTORE_SIGNATURE_LEN;
    } else if (r->label == KOS_KEYSTORE_LABEL_AGREE) {
        if (!r->peer)
            return KOS_STATUS_INVALID_ARGUMENT;
        rest += KOS_KEYSTORE_PUBLIC_KEY_LEN;
    }
    if (r->len > KOS_MSG_MAX_PAYLOAD)
        return KOS_STATUS_TOO_LARGE;
    st = check_body(r->label, r->param, rest);
    if (st)
        return st == KOS_STATUS_PROTOCOL ? KOS_STATUS_INVALID_ARGUMENT : st;
    used = 1 + name_len + rest;
    if (used > cap)
        return KOS_STATUS_TOO_LARGE;
    out[0] = (uint8_t)name_len;
    memcpy(out + 1, r->key, name_len);
    used = 1 + name_len;
    if (r->label == KOS_KEYSTORE_LABEL_VERIFY) {
        memcpy(out + used, r->sig, KOS_KEYSTORE_SIGNATURE_LEN);
        used += KOS_KEYSTORE_SIGNATURE_LEN;
    } else if (r->label == KOS_KEYSTORE_LABEL_AGREE) {
        memcpy(out + used, r->peer, KOS_KEYSTORE_PUBLIC_KEY_LEN);
        used += KOS_KEYSTORE_PUBLIC_KEY_LEN;
    }
    if (r->len)
        memcpy(out + used, r->data, r->len);
    *len = (uint32_t)(used + r->len);
    return KOS_STATUS_OK;
}

kos_status_t kos_keystore_open(kos_dir_t *dir, int timeout_ms, kos_keystore_t **out)
{
    return kos__client_open(dir, KOS_KEYSTORE_PROTOCOL, timeout_ms, sizeof(struct kos_keystore),
                            out);
}

kos_token_t *kos_keystore_token(kos_keystore_t *ks)
{
    return ks->c.token;
}

void kos_keystore_close(kos_keystore_t *ks)
{
    kos__client_close(ks, sizeof(*ks));
}

void kos_keystore_set_timeout(kos_keystore_t *ks, int timeout_ms)
{
    if (ks)
        kos__client_set_timeout(&ks->c, timeout_ms);
}

/* Encodes *r, calls key_store, and wipes the request buffer. On
 * KOS_STATUS_OK *reply holds the answer (valid until the next call). */
static kos_status_t call(kos_keystore_t *ks, struct kos__ks_req *r, struct kos_msg *reply)
{
    struct kos_msg m = {.label = r->label, .param = r->param, .payload = ks->req};
    kos_status_t st;

    st = kos__ks_encode(r, ks->req, sizeof(ks->req), &m.len);
    if (st)
        return st;
    st = kos__client_call(&ks->c, &m, reply);
    explicit_bzero(ks->req, m.len);
    if (st == KOS_STATUS_OK && reply->token) { /* this protocol passes no tokens */
        kos_token_close(reply->token);
        return KOS_STATUS_PROTOCOL;
    }
    return st;
}

/* Copies a key name into a request, refusing a bad one. */
static kos_status_t set_key(struct kos__ks_req *r, const char *key)
{
    size_t n;

    if (!key)
        return KOS_STATUS_INVALID_ARGUMENT;
    n = strnlen(key, KOS_KEYSTORE_KEY_NAME_MAX + 1);
    if (!kos__ks_name_valid(key, n))
        return KOS_STATUS_INVALID_ARGUMENT;
    memcpy(r->key, key, n);
    r->key[n] = '\0';
    return KOS_STATUS_OK;
}

kos_status_t kos_keystore_public_key(kos_keystore_t *ks, const char *key,
                                     uint8_t pub[KOS_KEYSTORE_PUBLIC_KEY_LEN], int *type)
{
    struct kos__ks_req r = {.label = KOS_KEYSTORE_LABEL_PUBLIC_KEY};
    struct kos_msg reply;
    kos_status_t st;

    if (!ks || !pub)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((st = set_key(&r, key)) || (st = call(ks, &r, &reply)))
        return st;
    if (reply.len != KOS_KEYSTORE_PUBLIC_KEY_LEN ||
        (reply.param != KOS_KEYSTORE_ED25519 && reply.param != KOS_KEYSTORE_X25519))
        return KOS_STATUS_PROTOCOL;
    memcpy(pub, reply.payload, KOS_KEYSTORE_PUBLIC_KEY_LEN);
    if (type)
        *type = (int)reply.param;
    return KOS_STATUS_OK;
}

kos_status_t kos_keystore_public_item(kos_keystore_t *ks, const char *item, void *buf, size_t cap,
                                      size_t *len, int *type)
{
    struct kos__ks_req r = {.label = KOS_KEYSTORE_LABEL_PUBLIC_ITEM};
    struct kos_msg reply;
    kos_status_t st;

    if (!ks || !buf || !len)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((st = set_key(&r, item)) || (st = call(ks, &r, &reply)))
        return st;
    if (reply.len == 0 || reply.len > KOS_KEYSTORE_ITEM_MAX ||
        (reply.param != KOS_KEYSTORE_ITEM_X509 && reply.param != KOS_KEYSTORE_ITEM_TEXT))
        return KOS_STATUS_PROTOCOL;
    if (reply.len > cap)
        return KOS_STATUS_TOO_LARGE;
    memcpy(buf, reply.payload, reply.len);
    *len = reply.len;
    if (type)
        *type = (int)reply.param;
    return KOS_STATUS_OK;
}

static kos_status_t sign(kos_keystore_t *ks, const char *key, uint64_t mode, const void *data,
                         size_t len, uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN])
{
    struct kos__ks_req r = {
        .label = KOS_KEYSTORE_LABEL_SIGN, .param = mode, .data = data, .len = len};
    struct kos_msg reply;
    kos_status_t st;

    if (!ks || !sig)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((st = set_key(&r, key)) || (st = call(ks, &r, &reply)))
        return st;
    if (reply.len != KOS_KEYSTORE_SIGNATURE_LEN)
        return KOS_STATUS_PROTOCOL;
    memcpy(sig, reply.payload, KOS_KEYSTORE_SIGNATURE_LEN);
    return KOS_STATUS_OK;
}

kos_status_t kos_keystore_sign(kos_keystore_t *ks, const char *key, const void *data, size_t len,
                               uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN])
{
    return sign(ks, key, KOS_KEYSTORE_MODE_PURE, data, len, sig);
}

kos_status_t kos_keystore_sign_digest(kos_keystore_t *ks, const char *key,
                                      const uint8_t digest[KOS_KEYSTORE_DIGEST_LEN],
                                      uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN])
{
    if (!digest)
        return KOS_STATUS_INVALID_ARGUMENT;
    return sign(ks, key, KOS_KEYSTORE_MODE_DIGEST, digest, KOS_KEYSTORE_DIGEST_LEN, sig);
}

static kos_status_t verify(kos_keystore_t *ks, const char *key, uint64_t mode, const void *data,
                           size_t len, const uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN], bool *valid)
{
    struct kos__ks_req r = {
        .label = KOS_KEYSTORE_LABEL_VERIFY, .param = mode, .sig = sig, .data = data, .len = len};
    struct kos_msg reply;
    kos_status_t st;

    if (!valid)
        return KOS_STATUS_INVALID_ARGUMENT;
    *valid = false;
    if (!ks || !sig)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((st = set_key(&r, key)) || (st = call(ks, &r, &reply)))
        return st;
    if (reply.len != 0 || reply.param > 1)
        return KOS_STATUS_PROTOCOL;
    *valid = reply.param == 1;
    return KOS_STATUS_OK;
}

kos_status_t kos_keystore_verify(kos_keystore_t *ks, const char *key, const void *data, size_t len,
                                 const uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN], bool *valid)
{
    return verify(ks, key, KOS_KEYSTORE_MODE_PURE, data, len, sig, valid);
}

kos_status_t kos_keystore_verify_digest(kos_keystore_t *ks, const char *key,
                                        const uint8_t digest[KOS_KEYSTORE_DIGEST_LEN],
                                        const uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN], bool *valid)
{
    if (!digest) {
        if (valid)
            *valid = false;
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    return verify(ks, key, KOS_KEYSTORE_MODE_DIGEST, digest, KOS_KEYSTORE_DIGEST_LEN, sig, valid);
}

kos_status_t kos_keystore_agree(kos_keystore_t *ks, const char *key,
                                const uint8_t peer[KOS_KEYSTORE_PUBLIC_KEY_LEN], const void *label,
                                size_t label_len, void *out, size_t out_len)
{
    struct kos__ks_req r = {.label = KOS_KEYSTORE_LABEL_AGREE,
                            .param = out_len,
                            .peer = peer,
                            .data = label,
                            .len = label_len};
    struct kos_msg reply;
    kos_status_t st;

    if (!ks || !peer || !out || !label || label_len == 0)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((st = set_key(&r, key)) || (st = call(ks, &r, &reply)))
        return st;
    if (reply.len != out_len)
        return KOS_STATUS_PROTOCOL;
    memcpy(out, reply.payload, out_len);
    return KOS_STATUS_OK;
}
