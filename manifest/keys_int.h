/*
 * keys_int.h - release keys (loading, naming) and device key bundles
 * (generating, reading), for image.c, kos-tool and tests.
 *
 * Release keys are Ed25519; a device bundle adds an X25519 key. Private keys
 * are unencrypted PKCS#8 PEM files that nobody but their owner may read;
 * public keys are SubjectPublicKeyInfo PEM files. A key's id is the first 8
 * bytes of the SHA-256 of its raw 32-byte public key, printed as 16
 * lower-case hex digits. The bundle's layout is in docs/keys.md.
 */
#ifndef KOS_KEYS_INT_H
#define KOS_KEYS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <kos/status.h>

#include "image_int.h"

/* Loads the release private key at `path`. Refuses a file that is not a
 * regular file, that group or others may access (mode & 077), that is not a
 * PEM private key, or that holds anything but an Ed25519 key. On success
 * *out belongs to the caller (EVP_PKEY_free); on failure err says why and
 * *out is untouched. The file's bytes are wiped from memory after parsing. */
kos_status_t kos__key_load_private(const char *path, EVP_PKEY **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Loads an Ed25519 public key (SubjectPublicKeyInfo PEM) from `path`. Same
 * ownership as kos__key_load_private(). */
kos_status_t kos__key_load_public(const char *path, EVP_PKEY **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Computes an Ed25519 or X25519 key's id (private or public key). */
kos_status_t kos__key_id(EVP_PKEY *pkey, uint8_t id[KOS__KEY_ID_LEN])
    __attribute__((warn_unused_result));

/* ---- device key bundles ---- */

#define KOS__BUNDLE_INDEX       "bundle.txt"
#define KOS__BUNDLE_FORMAT      1
#define KOS__BUNDLE_MAX_TRUSTED 16u
#define KOS__BUNDLE_MAX_ITEMS   4u /* public items: identity_cert, server_ca, server, ... */
#define KOS__BUNDLE_MAX_ENTRIES (2u + KOS__BUNDLE_MAX_TRUSTED + KOS__BUNDLE_MAX_ITEMS)
#define KOS__BUNDLE_ITEM_MAX    4096u /* an item's bytes: what key_store serves in one reply */

/* Writes a new device key bundle into folder `dir`, which must not exist or
 * be empty: identity.key/.pub (Ed25519), tunnel.key/.pub (X25519),
 * trusted/<key id>.pub for each of the n_trust release public keys in
 * `trust` (Ed25519, distinct), and the index bundle.txt, written last.
 * Private keys are 0600, public keys and the index 0644, folders 0700. On
 * failure err says why and nothing written is left behind. If `index_out`
 * is not NULL it receives the index's text (NUL-terminated, at most
 * index_cap bytes) for printing. */
kos_status_t kos__key_generate_device(const char *dir, const char *const *trust, size_t n_trust,
                                      char *index_out, size_t index_cap, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* One key or public item of a bundle as its index lists it. */
struct kos__bundle_entry {
    char name[32];   /* the resource name: identity, tunnel, trusted_<n>, server_ca, ... */
    char type[8];    /* ed25519 | x25519 for keys; x509 | text for public items */
    char path[4096]; /* absolute: the private key file, or the public one (keys without
                        a private half, and items) */
    char id[2 * KOS__KEY_ID_LEN + 1]; /* "-" for an item that certifies no key */
    bool private_key;
    bool item; /* a public item (certificate or text), not a key */
};

struct kos__bundle {
    struct kos__bundle_entry e[KOS__BUNDLE_MAX_ENTRIES];
    size_t n;
};

/* Reads bundle `dir`'s index, for `kos-tool run --keys DIR`: the resources
 * to hand key_store, in index order. Checks the format line, each line's
 * shape, that every file is a regular file inside the bundle, and that no
 * private key file is open to group or others. On failure err names the
 * file and line. Does not read the keys themselves. */
kos_status_t kos__key_bundle_read(const char *dir, struct kos__bundle *out, char *err,
                                  size_t errlen) __attribute__((warn_unused_result));

/* Adds public item `name` (1..31 characters of [a-z0-9_], not in the
 * bundle yet) of `type` ("x509": PEM certificates, the first one's key
 * naming the item's id; "text": printable text) to bundle `dir`, whose
 * index must read: writes bytes[0..len) (1..KOS__BUNDLE_ITEM_MAX) to
 * `file` in the bundle (a new file, mode 0644, synced) and then adds its
 * line to the index (written anew beside it and renamed over it, so the
 * index is always whole). This is how provisioning adds identity_cert,
 * server_ca and server (docs/link.md). On failure err says why and the
 * bundle is as it was. May block on the file system. */
kos_status_t kos__key_bundle_add_item(const char *dir, const char *name, const char *type,
                                      const char *file, const void *bytes, size_t len, char *err,
                                      size_t errlen) __attribute__((warn_unused_result));

/* True if data[0..len) holds a private key: anywhere in it, a PEM block
 * header whose label ends in "PRIVATE KEY" (PKCS#8, encrypted PKCS#8, RSA,
 * EC, OpenSSH) followed by a line end; or, as the whole file, a DER PKCS#8
 * Ed25519/X25519 key. manifest.build refuses to pack such a file into an
 * image. Raw key bytes compiled into a program cannot be told from other
 * data and are not found. */
bool kos__key_blob_is_private(const void *data, size_t len);

#endif
