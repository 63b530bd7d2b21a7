/*
 * ks.h - the key_store component's parts: key files, the allow list, and the
 * store that answers kos_keystore_protocol requests.
 *
 * What stays true: no reply ever carries private key bytes or a raw X25519
 * shared secret; private keys live only inside OpenSSL key objects, which
 * keep them in OpenSSL's secure heap; every buffer of ours that held private
 * bytes or a shared secret is wiped (kstore_wipe) before it is reused or
 * freed. Who is asking comes from the message server (struct kos_caller),
 * never from a payload.
 */
#ifndef KOS_KEY_STORE_KS_H
#define KOS_KEY_STORE_KS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <kos/keystore.h>
#include <kos/msg.h>

#include "budget_int.h"
#include "keystore_int.h"

#define KS_MAX_KEYS     32u
#define KS_MAX_ITEMS    8u /* public items: identity_cert, server_ca, server, ... */
#define KS_ACL_MAX      64u
#define KS_APP_NAME_MAX 63u
#define KS_KEY_FILE_MAX 8192u /* a PEM key is a few hundred bytes */
/* The lines about one app's denials: at most a burst of these, then one a
 * second (as the message server's), so no app can flood the log; the next
 * line logged counts those left out. */
#define KS_LOG_BURST    10u
#define KS_LOG_EVERY_MS 1000u

/* ---- key files (keyfile.c) ---- */

/* A key as read from a file: its type, whether the file held the private
 * half, and the raw 32 bytes (private or public). Wipe it after use. */
struct ks_raw_key {
    int type; /* enum kos_keystore_key_type */
    bool private_key;
    uint8_t raw[32];
};

/* Parses one PEM key: an unencrypted PKCS#8 v1 private key ("BEGIN PRIVATE
 * KEY", as keys.generate and `openssl genpkey` write) or a
 * SubjectPublicKeyInfo public key ("BEGIN PUBLIC KEY"), Ed25519 or X25519.
 * Anything else (other types, encrypted keys, PKCS#8 v2 with an embedded
 * public key, trailing garbage in the base64) is refused with a message in
 * err. Every intermediate buffer is wiped. Never blocks. */
kos_status_t ks_key_parse(const char *text, size_t len, struct ks_raw_key *out, char *err,
                          size_t errlen) __attribute__((warn_unused_result));

/* Decodes standard base64 (RFC 4648, '=' padding, whitespace between
 * groups ignored) from in[0..len) into out[0..cap); sets *out_len. Returns
 * false on any other character, bad or non-canonical padding (bits the
 * padding leaves out that are not zero) or overflow. */
bool ks_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* True if the bytes look like a private key in any form we know (a PEM
 * block whose label ends in "PRIVATE KEY", or a DER PKCS#8 Ed25519/X25519
 * key). */
bool ks_blob_is_private_key(const void *data, size_t len);

/* ---- allow list (acl.c) ---- */

enum {
    KS_OP_PUBLIC = 1u << 0,
    KS_OP_SIGN = 1u << 1, /* sign, in either mode */
    KS_OP_VERIFY = 1u << 2,
    KS_OP_AGREE = 1u << 3,
    KS_OP_SIGN_DIGEST = 1u << 4, /* sign in digest mode only (KOS_KEYSTORE_MODE_DIGEST),
                                    whose signatures cover a KOS prefix and so cannot
                                    stand for any other protocol's signature */
};

struct ks_acl_entry {
    char app[KS_APP_NAME_MAX + 1];
    char key[KOS_KEYSTORE_KEY_NAME_MAX + 1];
    unsigned ops; /* KS_OP_* */
};

/* Which app may do what with which key. */
struct ks_acl {
    struct ks_acl_entry e[KS_ACL_MAX];
    size_t n;
};

/* Parses `allow`: "APP=KEY:OP,KEY:OP;APP=..." where OP is public, sign,
 * sign_digest, verify or agree; spaces around the separators are ignored;
 * an app or a key named twice has its operations merged. NULL or "" grants
 * nothing. On error err names the problem and its offset, and *acl is
 * empty. */
kos_status_t ks_acl_parse(struct ks_acl *acl, const char *allow, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Adds to *acl: with app NULL, a list in the form of ks_acl_parse(); with an
 * app name, "KEY:OP,KEY:OP" for that app (an allow.APP setting; "" adds
 * nothing). Operations merge with what the app already has. On error err
 * names the problem (and the app) and *acl is emptied: a bad setting grants
 * nothing at all. */
kos_status_t ks_acl_add(struct ks_acl *acl, const char *app, const char *list, char *err,
                        size_t errlen) __attribute__((warn_unused_result));

/* The operations (KS_OP_*) `app` may do with `key`; 0 when none. */
unsigned ks_acl_ops(const struct ks_acl *acl, const char *app, const char *key);

/* The name of one KS_OP_* bit ("sign"). */
const char *ks_op_name(unsigned op);

/* ---- the store (store.c) ---- */

struct ks_key {
    char name[KOS_KEYSTORE_KEY_NAME_MAX + 1];
    int type; /* enum kos_keystore_key_type */
    bool private_key;
    uint8_t pub[KOS_KEYSTORE_PUBLIC_KEY_LEN];
    EVP_PKEY *pkey; /* owns the private key, in OpenSSL's secure heap */
};

/* A public item of the bundle: a certificate or a text, served whole. */
struct ks_item {
    char name[KOS_KEYSTORE_KEY_NAME_MAX + 1];
    int type; /* enum kos_keystore_item_type */
    size_t len;
    uint8_t *data;
};

struct kstore {
    struct ks_key keys[KS_MAX_KEYS];
    size_t n_keys;
    struct ks_item items[KS_MAX_ITEMS];
    size_t n_items;
    struct ks_acl acl;
    EVP_MD_CTX *md;
    EVP_KDF *hkdf;
    uint64_t n_ok, n_denied, n_failed;
    bool log_denials;
    struct kos__app_budgets log; /* the denial lines' budget per app */
    /* Scratch buffers. `secret` holds an X25519 shared secret and `out` a
     * reply (a derived key or a signature): both are wiped before
     * kstore_handle() returns (secret) or by kstore_after_reply() (out). */
    uint8_t secret[32];
    uint8_t out[KOS_KEYSTORE_AGREE_MAX + KOS_KEYSTORE_SIGNATURE_LEN];
    uint8_t scratch[KOS_KEYSTORE_AGREE_INFO_LEN + 2 * KOS_KEYSTORE_PUBLIC_KEY_LEN +
                    KOS_KEYSTORE_LABEL_MAX];
    uint8_t file[KS_KEY_FILE_MAX + 1]; /* a key file being read */
};

/* Wipes n bytes at p in a way the compiler may not optimise away. */
void kstore_wipe(void *p, size_t n);

/* Sets up an empty store (no keys, nothing allowed). KOS_STATUS_NO_MEMORY
 * or KOS_STATUS_INTERNAL if OpenSSL cannot give what it needs. */
kos_status_t kstore_init(struct kstore *ks) __attribute__((warn_unused_result));

/* Frees every key and wipes the whole store. */
void kstore_fini(struct kstore *ks);

/* Adds key `name` from the PEM text[0..len). KOS_STATUS_ALREADY_EXISTS for a
 * name already held, KOS_STATUS_NO_MEMORY when full; parse errors as
 * ks_key_parse(). */
kos_status_t kstore_add_pem(struct kstore *ks, const char *name, const char *text, size_t len,
                            char *err, size_t errlen) __attribute__((warn_unused_result));

/* Reads a key file from the open descriptor fd (from offset 0, without
 * moving the file offset) and adds it as kstore_add_pem() does. A private
 * key in a file that group or others may access is refused
 * (KOS_STATUS_UNAUTHORIZED). The bytes read are wiped. */
kos_status_t kstore_add_fd(struct kstore *ks, const char *name, int fd, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* True if the file open on fd holds a public item rather than a key: a
 * PEM certificate, or anything that is not a PEM block at all. */
bool kstore_fd_is_item(int fd);

/* Reads public item `name` from the open descriptor fd (a regular file of
 * 1..KOS_KEYSTORE_ITEM_MAX bytes: a PEM certificate, or printable text) and
 * adds it. Errors as kstore_add_pem(), with err naming the item. */
kos_status_t kstore_add_item_fd(struct kstore *ks, const char *name, int fd, char *err,
                                size_t errlen) __attribute__((warn_unused_result));

/* The item called `name`, or NULL. */
const struct ks_item *kstore_find_item(const struct kstore *ks, const char *name);

/* The key called `name`, or NULL. */
const struct ks_key *kstore_find(const struct kstore *ks, const char *name);

/* Checks the allow list against the keys held: an operation a key cannot do
 * (sign with X25519, agree with Ed25519, sign or agree with a public key)
 * is an error; a key not held is a warning written to warn (may be "").
 * Then adopts the list. */
kos_status_t kstore_set_acl(struct kstore *ks, const struct ks_acl *acl, char *err, size_t errlen,
                            char *warn, size_t warnlen) __attribute__((warn_unused_result));

/* Answers one untrusted request from `app` (as the message server vouches
 * for it). On return *reply is what to send back: its payload, if any,
 * points into ks->out; call kstore_after_reply() once it has been sent.
 * Returns the status to reply with. Never blocks. */
kos_status_t kstore_handle(struct kstore *ks, const char *app, const struct kos_msg *req,
                           struct kos_msg *reply);

/* Wipes the reply buffer after the reply has been sent. */
void kstore_after_reply(struct kstore *ks);

#endif
