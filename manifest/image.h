/*
 * image.h - system images (manifest.zip): packing, signing, verifying.
 *
 * An image is a zip archive in which every file is stored under its SHA-256:
 * the compiled manifest and each process's binary as "blobs/<hex digest>",
 * plus "image.sig", which names the manifest's digest and carries an Ed25519
 * signature over it by a release key (or says "unsigned" when the manifest
 * has signing disabled). The manifest holds each binary's digest, so one
 * signature covers the whole image.
 *
 * kos_image_open() verifies everything before it returns: the signature
 * against the trusted keys, the manifest's digest and structure, and every
 * binary's digest. Each verified binary is held in a sealed memfd, so what
 * Core executes is exactly what was verified.
 */
#ifndef KOS_IMAGE_H
#define KOS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#include "compiled.h"
#include "manifest.h"

struct kos_image_build_opts {
    const char *manifest_path; /* for messages */
    const struct kos_manifest *manifest;
    /* Binaries by name: "name=path" pairs take precedence, then the folders
     * are searched in order for a file named like the binary. */
    const char *const *bin_map;
    size_t n_bin_map;
    const char *const *bin_dirs;
    size_t n_bin_dirs;
    const char *key_path; /* release private key; NULL when signing is disabled */
    const char *out_path; /* manifest.zip to write (atomically: temp file + rename) */
};

/* Builds an image. On failure writes a sentence naming what failed (which
 * binary was not found and where it looked, which key could not be read, ...)
 * into err, and leaves no partial output file. */
kos_status_t kos_image_build(const struct kos_image_build_opts *opts, char *err, size_t errlen)
    __attribute__((warn_unused_result));

struct kos_image;

struct kos_image_open_opts {
    const char *const *trusted_keys; /* paths of release public keys (PEM) */
    size_t n_trusted_keys;
    int allow_unsigned; /* accept an unsigned image even if its manifest does not say signing:
                           disabled (never set by default) */
};

/* Opens and fully verifies the image at `path`. On success *out belongs to
 * the caller. On failure err says what failed: "signature does not verify
 * with any trusted key", "blob <hex> (binary 'pong') has SHA-256 <hex>",
 * "no trusted release key given", and so on; nothing is held. An image whose
 * manifest says signing: disabled is accepted without a signature. */
kos_status_t kos_image_open(const char *path, const struct kos_image_open_opts *opts,
                            struct kos_image **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Opens and fully verifies an image whose blobs are the files of the folder
 * open at blobs_dfd, each named by its SHA-256 in hex (a boot store's,
 * manifest/store.h), and whose image.sig is the `sig_len` bytes of
 * sig_text: the same checks as kos_image_open(), except that the folder
 * may hold blobs the manifest does not reference. */
kos_status_t kos_image_open_blobs(int blobs_dfd, const char *sig_text, size_t sig_len,
                                  const struct kos_image_open_opts *opts, struct kos_image **out,
                                  char *err, size_t errlen) __attribute__((warn_unused_result));

/* The verified compiled manifest, valid until kos_image_close(). */
const struct kos_cm *kos_image_manifest(const struct kos_image *img);

/* A sealed, read-only memfd holding process `proc`'s verified binary. The fd
 * belongs to the image (do not close it); it has FD_CLOEXEC set. */
int kos_image_binary_fd(const struct kos_image *img, uint32_t proc);

/* The compiled manifest's bytes as verified (its blob), and image.sig's
 * text: what a boot store keeps of the image. Valid until kos_image_close(). */
const void *kos_image_manifest_bytes(const struct kos_image *img, size_t *len);
const char *kos_image_sig_text(const struct kos_image *img, size_t *len);

/* Whether the image was signed, and by which key (hex key id), or NULL. */
const char *kos_image_signer(const struct kos_image *img);

/* The SHA-256 of the image's compiled manifest, as 64 hex digits: it names
 * the system generation (the self-test record keeps it). Valid until
 * kos_image_close(). */
const char *kos_image_manifest_digest(const struct kos_image *img);

/* kos_image_close(NULL) does nothing. */
void kos_image_close(struct kos_image *img);

/* ---- keys (keys.c) ---- */

/* Writes a new Ed25519 release key pair: `priv_path` (PKCS#8 PEM, mode 0600,
 * refused if it exists) and `pub_path` (SubjectPublicKeyInfo PEM, 0644). */
kos_status_t kos_key_generate_release(const char *priv_path, const char *pub_path, char *err,
                                      size_t errlen) __attribute__((warn_unused_result));

#endif
