/*
 * keyfile.c - reading Ed25519 and X25519 keys from PEM text, strictly.
 *
 * key_store accepts exactly the two encodings keys.generate writes (and
 * `openssl genpkey` / `openssl pkey -pubout` write): an unencrypted PKCS#8
 * v1 private key, whose DER is a fixed 16-byte prefix and the 32 raw bytes,
 * and a SubjectPublicKeyInfo public key, a fixed 12-byte prefix and the 32
 * raw bytes. Parsing them here, rather than through OpenSSL's decoders,
 * keeps every buffer that holds private bytes in our hands, so each is
 * wiped; and a key file is data from outside, so every size is checked
 * before it is read.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ks.h"

#define PKCS8_LEN 48u
#define SPKI_LEN  44u

/* PKCS#8 v1 OneAsymmetricKey: SEQUENCE { INTEGER 0, SEQUENCE { OID }, OCTET
 * STRING { OCTET STRING (32) } }; the OID's last byte says the type. */
static const uint8_t pkcs8_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                         0x03, 0x2b, 0x65, 0x00, 0x04, 0x22, 0x04, 0x20};
/* SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID }, BIT STRING (0 unused, 32) }. */
static const uint8_t spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                        0x2b, 0x65, 0x00, 0x03, 0x21, 0x00};
#define PKCS8_OID_AT 11u
#define SPKI_OID_AT  8u
#define OID_X25519   0x6eu
#define OID_ED25519  0x70u

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool ks_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint32_t acc = 0;
    size_t n = 0, pad = 0, quad = 0, i;

    for (i = 0; i < len; i++) {
        char c = in[i];
        int v;

        if (is_space(c))
            continue;
        if (c == '=') {
            /* Padding only in the last one or two places of a group. */
            if (quad < 2 || ++pad > 2)
                goto bad;
            acc <<= 6;
            quad++;
        } else {
            if (pad || (v = b64_value(c)) < 0)
                goto bad;
            acc = (acc << 6) | (uint32_t)v;
            quad++;
        }
        if (quad == 4) {
            size_t k = 3 - pad;

            if (k > cap - n)
                goto bad;
            /* The bits the padding leaves out must be zero: one text, one
             * key (RFC 4648 §3.5, canonical encoding). */
            if (pad && (acc & (pad == 1 ? 0xffu : 0xffffu)))
                goto bad;
            out[n] = (uint8_t)(acc >> 16);
            if (k > 1)
                out[n + 1] = (uint8_t)(acc >> 8);
            if (k > 2)
                out[n + 2] = (uint8_t)acc;
            n += k;
            quad = 0;
            acc = 0;
            if (pad) {
                i++;
                break; /* padding ends the data */
            }
        }
    }
    /* Nothing but whitespace may follow padding; groups must be whole. */
    for (; i < len; i++)
        if (!is_space(in[i]))
            goto bad;
    if (quad != 0)
        goto bad;
    *out_len = n;
    return true;
bad:
    acc = 0;
    OPENSSL_cleanse(&acc, sizeof(acc));
    OPENSSL_cleanse(out, cap);
    return false;
}

/* Finds the body of the PEM block labelled `label` in text[0..len): sets
 * *body and *body_len to the text between the BEGIN and END lines. Only
 * whitespace may surround the block, and the BEGIN line must end there (as
 * RFC 7468 has it, and as manifest.build's private-key check expects: a key
 * it would not see must not load here). */
static bool pem_body(const char *text, size_t len, const char *label, const char **body,
                     size_t *body_len)
{
    char begin[64], end[64];
    size_t bl, el, i = 0, j;

    bl = (size_t)snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
    el = (size_t)snprintf(end, sizeof(end), "-----END %s-----", label);
    while (i < len && is_space(text[i]))
        i++;
    if (len - i < bl || memcmp(text + i, begin, bl) != 0)
        return false;
    i += bl;
    if (i == len || (text[i] != '\n' && text[i] != '\r'))
        return false;
    for (j = i; j + el <= len; j++)
        if (text[j] == '-' && memcmp(text + j, end, el) == 0)
            break;
    if (j + el > len)
        return false;
    *body = text + i;
    *body_len = j - i;
    for (j += el; j < len; j++)
        if (!is_space(text[j]))
            return false;
    return true;
}

static int type_of_oid(uint8_t oid)
{
    return oid == OID_ED25519 ? KOS_KEYSTORE_ED25519 : oid == OID_X25519 ? KOS_KEYSTORE_X25519 : 0;
}

kos_status_t ks_key_parse(const char *text, size_t len, struct ks_raw_key *out, char *err,
                          size_t errlen)
{
    uint8_t der[64];
    size_t der_len = 0;
    const char *body;
    size_t body_len;
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;

    memset(out, 0, sizeof(*out));
    if (!text || len == 0 || len > KS_KEY_FILE_MAX) {
        snprintf(err, errlen, "not a PEM key (%zu bytes)", len);
        return st;
    }
    if (pem_body(text, len, "PRIVATE KEY", &body, &body_len)) {
        if (!ks_base64_decode(body, body_len, der, sizeof(der), &der_len) || der_len != PKCS8_LEN ||
            memcmp(der, pkcs8_prefix, PKCS8_OID_AT) != 0 ||
            memcmp(der + PKCS8_OID_AT + 1, pkcs8_prefix + PKCS8_OID_AT + 1,
                   sizeof(pkcs8_prefix) - PKCS8_OID_AT - 1) != 0 ||
            !type_of_oid(der[PKCS8_OID_AT])) {
            snprintf(err, errlen,
                     "not an Ed25519 or X25519 PKCS#8 private key "
                     "(make keys with kos-tool keys.generate --device)");
            goto out_wipe;
        }
        out->type = type_of_oid(der[PKCS8_OID_AT]);
        out->private_key = true;
        memcpy(out->raw, der + sizeof(pkcs8_prefix), 32);
    } else if (pem_body(text, len, "PUBLIC KEY", &body, &body_len)) {
        if (!ks_base64_decode(body, body_len, der, sizeof(der), &der_len) || der_len != SPKI_LEN ||
            memcmp(der, spki_prefix, SPKI_OID_AT) != 0 ||
            memcmp(der + SPKI_OID_AT + 1, spki_prefix + SPKI_OID_AT + 1,
                   sizeof(spki_prefix) - SPKI_OID_AT - 1) != 0 ||
            !type_of_oid(der[SPKI_OID_AT])) {
            snprintf(err, errlen, "not an Ed25519 or X25519 public key");
            goto out_wipe;
        }
        out->type = type_of_oid(der[SPKI_OID_AT]);
        memcpy(out->raw, der + sizeof(spki_prefix), 32);
    } else if (pem_body(text, len, "ENCRYPTED PRIVATE KEY", &body, &body_len)) {
        snprintf(err, errlen,
                 "an encrypted private key: key_store takes unencrypted keys, "
                 "protected by file permissions");
        goto out_wipe;
    } else {
        snprintf(err, errlen,
                 "not a PEM key (expected one BEGIN PRIVATE KEY or BEGIN PUBLIC "
                 "KEY block)");
        goto out_wipe;
    }
    st = KOS_STATUS_OK;
out_wipe:
    OPENSSL_cleanse(der, sizeof(der));
    if (st)
        OPENSSL_cleanse(out, sizeof(*out));
    return st;
}

bool ks_blob_is_private_key(const void *data, size_t len)
{
    static const char tail[] = "PRIVATE KEY-----";
    const uint8_t *p = data;

    if (!p)
        return false;
    if (len >= PKCS8_LEN && memcmp(p, pkcs8_prefix, PKCS8_OID_AT) == 0 &&
        type_of_oid(p[PKCS8_OID_AT]))
        return true;
    for (size_t i = 0; i + 11 <= len; i++) {
        if (p[i] != '-' || memcmp(p + i, "-----BEGIN ", 11) != 0)
            continue;
        for (size_t j = i + 11; j < len && j < i + 11 + 64 && p[j] != '\n'; j++)
            if (len - j >= sizeof(tail) - 1 && memcmp(p + j, tail, sizeof(tail) - 1) == 0)
                return true;
    }
    return false;
}
