/*
 * image_int.h - internals of system images shared by image.c, keys.c, kos-tool
 * and the tests.
 *
 * The limits here bound what kos_image_open() will read from an untrusted
 * image; the image.sig parser and formatter are exposed so that tests can
 * exercise them directly. docs/images.md describes the same format in words.
 */
#ifndef KOS_IMAGE_INT_H
#define KOS_IMAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include <kos/status.h>

#include "image.h"

#define KOS__IMAGE_SIG_NAME    "image.sig"
#define KOS__IMAGE_BLOB_PREFIX "blobs/"
#define KOS__IMAGE_SIG_MAX     1024u           /* bytes of image.sig */
#define KOS__IMAGE_BLOB_MAX    (256ull << 20)  /* bytes of one blob, uncompressed */
#define KOS__IMAGE_TOTAL_MAX   (1024ull << 20) /* bytes of all entries, uncompressed */
#define KOS__IMAGE_MAX_ENTRIES (KOS_CM_MAX_PROCS + 2u)
#define KOS__KEY_ID_LEN        8u /* bytes; printed as 16 hex digits */
#define KOS__ED25519_SIG_LEN   64u
/* The signed message is this prefix followed by the manifest's raw 32-byte
 * SHA-256, so a release key's signature over an image can never be mistaken
 * for its signature over anything else. */
#define KOS__IMAGE_SIGN_DOMAIN  "KOS image v1\n"
#define KOS__IMAGE_SIGN_MSG_LEN (sizeof(KOS__IMAGE_SIGN_DOMAIN) - 1 + 32)

/* The parsed contents of image.sig. */
struct kos__image_sig {
    uint8_t manifest[32];
    bool is_signed;
    uint8_t key_id[KOS__KEY_ID_LEN];
    uint8_t sig[KOS__ED25519_SIG_LEN];
};

/* Parses image.sig strictly: exactly the lines of docs/images.md, lower-case
 * hex of the exact lengths, each line ended by "\n", nothing before, between
 * or after. On failure writes a sentence naming the bad line into err and
 * returns KOS_STATUS_PROTOCOL; *out is then unspecified. Does not allocate. */
kos_status_t kos__image_sig_parse(const char *text, size_t len, struct kos__image_sig *out,
                                  char *err, size_t errlen) __attribute__((warn_unused_result));

/* Parses image.sig (kos__image_sig_parse) and, when it is signed, checks
 * the signature against opts' trusted keys as opening the image would
 * (KOS_STATUS_UNAUTHORIZED, err naming the key, when none verifies it),
 * before anything it covers is at hand: what an upgrade checks first.
 * signer gets the key id, or "" for an unsigned image, whose manifest
 * must then say signing: disabled (checked when the image is opened). */
kos_status_t kos__image_sig_check(const char *text, size_t len,
                                  const struct kos_image_open_opts *opts,
                                  struct kos__image_sig *sig, char signer[17], char *err,
                                  size_t errlen) __attribute__((warn_unused_result));

/* Writes image.sig's text for `sig` into buf (NUL-terminated) and returns its
 * length, or 0 if buflen is too small. */
size_t kos__image_sig_format(const struct kos__image_sig *sig, char *buf, size_t buflen);

/* SHA-256 of len bytes at data; false if it could not be computed. */
bool kos__image_sha256_mem(const void *data, size_t len, uint8_t out[32]);

/* SHA-256 of what file fd holds (read from its start, at most max bytes:
 * EFBIG beyond), its length in *len (may be NULL). 0 or an errno. */
int kos__image_sha256_fd(int fd, uint64_t max, uint8_t out[32], uint64_t *len);

/* Fills msg with the message a release key signs for a manifest digest. */
void kos__image_sign_message(const uint8_t manifest[32], uint8_t msg[KOS__IMAGE_SIGN_MSG_LEN]);

/* Signs that message for `manifest` with the Ed25519 key pkey into sig.
 * KOS_STATUS_INTERNAL if OpenSSL refuses (its error queue is cleared). */
kos_status_t kos__image_sign(EVP_PKEY *pkey, const uint8_t manifest[32],
                             uint8_t sig[KOS__ED25519_SIG_LEN]);

/* Writes n bytes as 2n lower-case hex digits and a NUL into out. */
void kos__image_hex(const uint8_t *in, size_t n, char *out);

/* Reads the release public key at pub_path and writes its id as 16 hex
 * digits and a NUL into hex (keys.c). */
kos_status_t kos__key_id_of_public_file(const char *pub_path, char hex[2 * KOS__KEY_ID_LEN + 1],
                                        char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* What kos__image_build() made, for kos-tool's summary line. */
struct kos__image_build_info {
    size_t n_blobs; /* distinct blobs: the compiled manifest and the binaries */
    bool is_signed;
    char key_id[2 * KOS__KEY_ID_LEN + 1]; /* hex, "" when unsigned */
};

/* kos_image_build(), also reporting what it wrote into *info (may be NULL). */
kos_status_t kos__image_build(const struct kos_image_build_opts *opts,
                              struct kos__image_build_info *info, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* What kos__image_unpack() found in an image. */
struct kos__image_unpacked_blob {
    char hex[65];  /* its SHA-256, lower-case hex */
    uint64_t size; /* bytes */
    bool had;      /* the folder held it already: not written again */
};

struct kos__image_unpacked {
    char sig_text[KOS__IMAGE_SIG_MAX + 1]; /* image.sig as read, NUL-terminated */
    size_t sig_len;
    char manifest_hex[65];                  /* the manifest blob image.sig names */
    uint32_t release;                       /* the compiled manifest's release number */
    uint32_t overlay;                       /* and its overlay number, 0 for none */
    char system[256];                       /* its system's name, as the manifest has it */
    struct kos__image_unpacked_blob *blobs; /* every blob, sorted by digest */
    size_t n_blobs;
    uint64_t bytes; /* all the blobs' sizes */
};

/* Checks the zip image at `path` (`name` in messages: "the image")
 * without trusting it and stores its blobs
 * in the folder open at `blobs_dfd`, each in a file named by its digest in
 * hex (content-addressed): its entries are image.sig and blobs/<hex> only
 * (names, methods and sizes within the bounds above), image.sig parses,
 * every blob's contents hash to its name, the manifest blob image.sig names
 * is there and is a compiled manifest, every binary it names is there and
 * every blob is one of those.
 * The signature is not checked (the device does, against its own keys).
 * A blob the folder holds already (a regular file of that name and size) is
 * read and checked but not written again; each new one is written to a
 * temporary file and synced, and only when the whole image has passed are
 * they renamed into place and the folder synced. On failure err names the
 * entry and the digest that were wrong, and the folder is as it was. On
 * success *out holds what was found (kos__image_unpacked_fini frees it).
 * Blocks on the files. */
kos_status_t kos__image_unpack(const char *path, const char *name, int blobs_dfd,
                               struct kos__image_unpacked *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Frees what kos__image_unpack() allocated in u (not u itself). */
void kos__image_unpacked_fini(struct kos__image_unpacked *u);

#endif
