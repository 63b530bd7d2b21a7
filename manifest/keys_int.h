/*
 * keys_int.h - loading release keys and naming them, for image.c and tests.
 *
 * Keys are Ed25519 only: private keys are unencrypted PKCS#8 PEM files that
 * nobody but their owner may read; public keys are SubjectPublicKeyInfo PEM
 * files. A key's id is the first 8 bytes of the SHA-256 of its raw 32-byte
 * public key, printed as 16 lower-case hex digits.
 */
#ifndef KOS_KEYS_INT_H
#define KOS_KEYS_INT_H

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

/* Computes an Ed25519 key's id (private or public key). */
kos_status_t kos__key_id(EVP_PKEY *pkey, uint8_t id[KOS__KEY_ID_LEN])
    __attribute__((warn_unused_result));

#endif
