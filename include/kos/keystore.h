/*
 * keystore.h - the device's keys, held by the key_store component
 * (kos_keystore_protocol).
 *
 * key_store holds the device's private keys and performs operations with
 * them for the apps its manifest entry allows: get a public key, sign
 * (Ed25519), verify (Ed25519) and key agreement (X25519 followed by HKDF).
 * No call ever returns private key bytes, nor the raw X25519 shared secret:
 * agreement returns only a key derived from it with a label the caller
 * chooses (see docs/packages/key_store.md for why).
 *
 * Keys are named as the manifest grants them to key_store: usually
 * "identity" (Ed25519, the device's identity for its server link), "tunnel"
 * (X25519) and "trusted_0", "trusted_1", ... (public release keys the device
 * trusts; verify only). A name is 1..KOS_KEYSTORE_KEY_NAME_MAX characters
 * from [a-z0-9_].
 *
 * Statuses, besides the transport errors of kos_msg_call():
 *   KOS_STATUS_OK               done
 *   KOS_STATUS_UNAUTHORIZED     the manifest does not let this app do this
 *                               operation with this key (key_store logs it)
 *   KOS_STATUS_NOT_FOUND        the app may use the key but key_store holds
 *                               no key of that name
 *   KOS_STATUS_UNSUPPORTED      the key cannot do this (sign with an X25519
 *                               key, sign with a public-only key, ...)
 *   KOS_STATUS_INVALID_ARGUMENT a bad name, length or peer key (a low-order
 *                               X25519 point)
 *   KOS_STATUS_TOO_LARGE        the data does not fit in one message
 *
 * A kos_keystore_t is not thread-safe; use it from one thread at a time.
 * Every call here blocks for one round trip to key_store, at most the
 * handle's timeout: the one kos_keystore_open() was given, unless
 * kos_keystore_set_timeout() says otherwise (the rule is in msg.h, "Client
 * libraries").
 */
#ifndef KOS_KEYSTORE_H
#define KOS_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KOS_KEYSTORE_PROTOCOL "kos_keystore_protocol"

#define KOS_KEYSTORE_KEY_NAME_MAX   31u
#define KOS_KEYSTORE_PUBLIC_KEY_LEN 32u /* raw Ed25519 or X25519 public key */
#define KOS_KEYSTORE_SIGNATURE_LEN  64u /* Ed25519 */
#define KOS_KEYSTORE_DIGEST_LEN     64u /* SHA-512 */
/* The most data one sign or verify call takes; sign larger data by its
 * SHA-512 digest (kos_keystore_sign_digest()). */
#define KOS_KEYSTORE_DATA_MAX  4000u
#define KOS_KEYSTORE_LABEL_MAX 255u /* agreement label, bytes */
#define KOS_KEYSTORE_AGREE_MIN 16u  /* derived key length, bytes */
#define KOS_KEYSTORE_AGREE_MAX 64u
/* The largest public item (a certificate, the server's address): one
 * message's payload. */
#define KOS_KEYSTORE_ITEM_MAX 4096u

/* What kos_keystore_sign_digest() signs, before the 64-byte digest: Ed25519
 * over PREFIX || SHA-512(data). 21 bytes, no terminating NUL. */
#define KOS_KEYSTORE_DIGEST_PREFIX     "KOS keystore SHA-512\n"
#define KOS_KEYSTORE_DIGEST_PREFIX_LEN 21u

/* The HKDF info of an agreement starts with this (see
 * kos_keystore_agree()). 23 bytes, no terminating NUL. */
#define KOS_KEYSTORE_AGREE_INFO     "KOS keystore X25519 v1\n"
#define KOS_KEYSTORE_AGREE_INFO_LEN 23u

enum kos_keystore_key_type {
    KOS_KEYSTORE_ED25519 = 1,
    KOS_KEYSTORE_X25519 = 2,
};

/* The types of a bundle's public items (docs/keys.md). */
enum kos_keystore_item_type {
    KOS_KEYSTORE_ITEM_X509 = 1, /* a PEM certificate (or several) */
    KOS_KEYSTORE_ITEM_TEXT = 2, /* text, such as server.txt */
};

/*
 * The protocol's labels. A request's payload starts with the key's name:
 * u8 name_len (1..KOS_KEYSTORE_KEY_NAME_MAX), then name_len bytes of name.
 *
 * KOS_KEYSTORE_LABEL_PUBLIC_KEY: param 0; payload: name.
 *   Reply: param the key's type (enum kos_keystore_key_type), payload its
 *   32-byte raw public key.
 * KOS_KEYSTORE_LABEL_SIGN: param KOS_KEYSTORE_MODE_PURE, payload: name,
 *   then the data (0..KOS_KEYSTORE_DATA_MAX bytes); or param
 *   KOS_KEYSTORE_MODE_DIGEST, payload: name, then a 64-byte SHA-512 digest.
 *   Reply: the 64-byte Ed25519 signature (of the data, or of
 *   KOS_KEYSTORE_DIGEST_PREFIX || digest).
 * KOS_KEYSTORE_LABEL_VERIFY: param a mode as for SIGN; payload: name, the
 *   64-byte signature, then the data or digest.
 *   Reply: param 1 if the signature is valid, 0 if not; no payload.
 * KOS_KEYSTORE_LABEL_AGREE: param the derived key's length
 *   (KOS_KEYSTORE_AGREE_MIN..KOS_KEYSTORE_AGREE_MAX); payload: name, the
 *   peer's 32-byte X25519 public key, then the label
 *   (1..KOS_KEYSTORE_LABEL_MAX bytes).
 *   Reply: the derived key (param bytes).
 * KOS_KEYSTORE_LABEL_PUBLIC_ITEM: param 0; payload: the item's name.
 *   Reply: param the item's type (enum kos_keystore_item_type), payload its
 *   bytes (1..KOS_KEYSTORE_ITEM_MAX). Allowed by the `public` operation.
 * Any other label is answered with KOS_STATUS_UNSUPPORTED; a malformed
 * payload with KOS_STATUS_PROTOCOL.
 */
enum {
    KOS_KEYSTORE_LABEL_PUBLIC_KEY = 1,
    KOS_KEYSTORE_LABEL_SIGN = 2,
    KOS_KEYSTORE_LABEL_VERIFY = 3,
    KOS_KEYSTORE_LABEL_AGREE = 4,
    KOS_KEYSTORE_LABEL_PUBLIC_ITEM = 5,
};

enum {
    KOS_KEYSTORE_MODE_PURE = 0,   /* Ed25519 over the data itself */
    KOS_KEYSTORE_MODE_DIGEST = 1, /* Ed25519 over PREFIX || SHA-512(data) */
};

typedef struct kos_keystore kos_keystore_t;

/* Requests KOS_KEYSTORE_PROTOCOL on `dir`, waiting up to `timeout_ms` for
 * key_store to publish it (`timeout_ms` is also the deadline of every later
 * call, see msg.h), and returns a handle in *out, which belongs to
 * the caller (free it with kos_keystore_close()). Statuses are those of
 * kos_dir_request(): KOS_STATUS_UNAUTHORIZED if the manifest does not grant
 * this app the protocol. On error nothing is held. */
KOS_API KOS_MUST kos_status_t kos_keystore_open(kos_dir_t *dir, int timeout_ms,
                                                kos_keystore_t **out);

/* The token the handle calls on (for kos_token_ping()). Owned by the
 * handle. */
KOS_API kos_token_t *kos_keystore_token(kos_keystore_t *ks);

/* Gives up the handle. kos_keystore_close(NULL) does nothing. */
KOS_API void kos_keystore_close(kos_keystore_t *ks);

/* Sets the timeout of each later call, in milliseconds (-1: wait forever; 0:
 * KOS_CLIENT_TIMEOUT_MS). */
KOS_API void kos_keystore_set_timeout(kos_keystore_t *ks, int timeout_ms);

/* Copies key `key`'s 32-byte raw public key into pub and, if type is not
 * NULL, its type (enum kos_keystore_key_type) into *type. */
KOS_API KOS_MUST kos_status_t kos_keystore_public_key(kos_keystore_t *ks, const char *key,
                                                      uint8_t pub[KOS_KEYSTORE_PUBLIC_KEY_LEN],
                                                      int *type);

/* Copies public item `item` of the device's bundle (a certificate such as
 * "identity_cert" or "server_ca", or a text such as "server") into buf
 * (cap bytes; KOS_KEYSTORE_ITEM_MAX always suffices), its length into *len
 * and, if type is not NULL, its type (enum kos_keystore_item_type) into
 * *type. KOS_STATUS_TOO_LARGE when it does not fit in cap (nothing is
 * copied); KOS_STATUS_NOT_FOUND when the bundle has no such item. */
KOS_API KOS_MUST kos_status_t kos_keystore_public_item(kos_keystore_t *ks, const char *item,
                                                       void *buf, size_t cap, size_t *len,
                                                       int *type);

/* Signs `len` bytes of data (at most KOS_KEYSTORE_DATA_MAX) with Ed25519
 * key `key`; the signature goes into sig. The signature is plain Ed25519
 * (RFC 8032), so any Ed25519 verifier checks it against the public key. */
KOS_API KOS_MUST kos_status_t kos_keystore_sign(kos_keystore_t *ks, const char *key,
                                                const void *data, size_t len,
                                                uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN]);

/* Signs data of any size by its SHA-512 digest, which the caller computes:
 * sig is Ed25519 over KOS_KEYSTORE_DIGEST_PREFIX || digest. */
KOS_API KOS_MUST kos_status_t kos_keystore_sign_digest(
    kos_keystore_t *ks, const char *key, const uint8_t digest[KOS_KEYSTORE_DIGEST_LEN],
    uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN]);

/* Checks an Ed25519 signature of `len` bytes of data against key `key`'s
 * public key. *valid is true only when the call returns KOS_STATUS_OK and
 * the signature is valid; it is false on every error, so code that looks
 * only at *valid fails closed. */
KOS_API KOS_MUST kos_status_t kos_keystore_verify(kos_keystore_t *ks, const char *key,
                                                  const void *data, size_t len,
                                                  const uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN],
                                                  bool *valid);

/* As kos_keystore_verify() for a signature made by kos_keystore_sign_digest(). */
KOS_API KOS_MUST kos_status_t kos_keystore_verify_digest(
    kos_keystore_t *ks, const char *key, const uint8_t digest[KOS_KEYSTORE_DIGEST_LEN],
    const uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN], bool *valid);

/*
 * Key agreement: X25519 between key `key` and the peer's public key, then
 * HKDF-SHA256 (RFC 5869) with no salt, the shared secret as input key, and
 * info = KOS_KEYSTORE_AGREE_INFO || the smaller public key || the larger
 * (compared bytewise) || label. `out_len` bytes
 * (KOS_KEYSTORE_AGREE_MIN..KOS_KEYSTORE_AGREE_MAX) of output go into out.
 * Both sides of a link derive the same key with the same label; different
 * labels give independent keys. The raw shared secret never leaves
 * key_store. KOS_STATUS_INVALID_ARGUMENT for a peer key whose shared secret
 * would be all zero (a low-order point). The derived key belongs to the
 * caller: wipe it when done.
 */
KOS_API KOS_MUST kos_status_t kos_keystore_agree(kos_keystore_t *ks, const char *key,
                                                 const uint8_t peer[KOS_KEYSTORE_PUBLIC_KEY_LEN],
                                                 const void *label, size_t label_len, void *out,
                                                 size_t out_len);

#ifdef __cplusplus
}
#endif
#endif
