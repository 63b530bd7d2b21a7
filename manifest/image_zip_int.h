/*
 * image_zip_int.h - the zip reader that kos_image_open() uses, shared with
 * kos__image_unpack() (image_unpack.c): an image being opened, its blob
 * entries, and the steps that read them without trusting them.
 *
 * What stays true: every step checks what it reads against the bounds of
 * image_int.h before using it, and says in o->err what was wrong and where
 * (which entry, which digest); nothing here trusts a name, a size or a
 * method the zip declares.
 */
#ifndef KOS_IMAGE_ZIP_INT_H
#define KOS_IMAGE_ZIP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/types.h>
#include <zip.h>

#include "image.h"

/* One "blobs/<hex>" entry of the zip being opened. */
struct blob_entry {
    uint8_t sha[32];
    zip_uint64_t index;
    zip_uint64_t size;
    bool referenced;
    int fd; /* the sealed memfd, once read; -1 before */
};

struct opening {
    const char *path;
    const struct kos_image_open_opts *opts;
    char *err;
    size_t errlen;
    zip_t *za;            /* a zip image; or: */
    int store_dfd;        /* blobs are the files of this folder (a boot store) */
    const char *sig_text; /* ... and this is the generation's image.sig */
    size_t sig_len;
    struct blob_entry *blobs; /* a zip's: sorted by digest; a store's: as found */
    size_t n_blobs;
    bool have_sig;
    zip_uint64_t sig_index, sig_size;
    EVP_PKEY **keys;
    size_t n_keys;
};

/* Opens the zip at path into o->za (read only, its central directory
 * checked). On failure o->err says why ("cannot open NAME: not a zip
 * archive", ...):
 * KOS_STATUS_NOT_FOUND, KOS_STATUS_IO or KOS_STATUS_PROTOCOL. */
kos_status_t kos__image_zip_open(struct opening *o, const char *path, const char *name)
    __attribute__((warn_unused_result));

/* Checks every entry's name, method and size, and indexes the blobs into
 * o->blobs (allocated; the caller frees it), sorted by digest. */
kos_status_t kos__image_scan_entries(struct opening *o) __attribute__((warn_unused_result));

/* Reads entry be whole, hashing it into sha: into mem (be->size bytes) if
 * not NULL, and into fd if >= 0. `what` names the entry for messages.
 * Fails if the entry does not decompress to exactly its size or its CRC
 * does not match. */
kos_status_t kos__image_read_entry(struct opening *o, const struct blob_entry *be, const char *what,
                                   uint8_t *mem, int fd, uint8_t sha[32])
    __attribute__((warn_unused_result));

/* The blob entry whose digest is sha, or NULL. */
struct blob_entry *kos__image_find_blob(struct opening *o, const uint8_t sha[32]);

#endif
