/*
 * store_int.h - the boot store's files as text: a generation's record and
 * `state`, parsed strictly and formatted back (store.c, the fuzz harness
 * tests/fuzz/fuzz_store.c, docs/storage.md "On the storage").
 */
#ifndef KOS_STORE_INT_H
#define KOS_STORE_INT_H

#include "image_int.h"
#include "store.h"

/* An open store (store.c; store_stage.c stages an upgrade's blobs). */
struct kos_store {
    char *path;
    int dfd, blobs, gens;
    int incoming; /* incoming/: blobs being fetched; -1 until first used */
    bool write;
};

/* A generation's record:
 *
 *   kos-generation 1
 *   manifest <sha256 hex>
 *   system <name>
 *   signer <key id hex> | -
 *   release <N>                    (only when the manifest has a release number)
 *   overlay <K>                    (only after release, for an overlay of it)
 *   created <Unix seconds>
 *   blob <sha256 hex> <bytes>      (one per blob, the manifest's first)
 *   image.sig
 *   <image.sig's text, to the end>
 */
struct kos__store_record {
    struct kos_store_gen g;
    uint8_t blob[KOS__IMAGE_MAX_ENTRIES][32];
    uint64_t size[KOS__IMAGE_MAX_ENTRIES];
    uint32_t n_blobs;
    char sig[KOS__IMAGE_SIG_MAX + 1];
    size_t sig_len;
};

/* Parses a record's `len` bytes exactly (r->g.n is left 0); on failure why
 * says what is wrong and KOS_STATUS_PROTOCOL is returned. */
kos_status_t kos__store_parse_record(const char *buf, size_t len, struct kos__store_record *r,
                                     char *why, size_t whylen) __attribute__((warn_unused_result));

/* Formats *r as a record into buf; returns its length, 0 if cap is short. */
size_t kos__store_format_record(const struct kos__store_record *r, char *buf, size_t cap);

/* `state`: "kos-store-state 1", then "current N", "good N", "tries N", and,
 * when any generation failed, "failed N N ..." (ascending, at most
 * KOS_STORE_FAILED_MAX; absent when none, so that a store with no failure
 * reads as before). */
kos_status_t kos__store_parse_state(const char *buf, size_t len, struct kos_store_state *st)
    __attribute__((warn_unused_result));
size_t kos__store_format_state(const struct kos_store_state *st, char *buf, size_t cap);

/* Reads `state` (store.h's kos_store_state). */
kos_status_t kos__store_read_state(struct kos_store *s, struct kos_store_state *st, char *err,
                                   size_t errlen) __attribute__((warn_unused_result));

/* Reads and parses generation n's record; KOS_STATUS_NOT_FOUND when there
 * is none. */
kos_status_t kos__store_read_record(struct kos_store *s, uint32_t n, struct kos__store_record *r,
                                    char *err, size_t errlen) __attribute__((warn_unused_result));

/* Whether an image whose manifest has digest manifest_hex, release number
 * `release` and overlay number `overlay` may be stored (the release rule, store.h): OK, with
 * *same the current generation when it is that image already (else 0),
 * and *state as read; KOS_STATUS_UNAUTHORIZED, with err naming both
 * numbers, when it would go back. */
kos_status_t kos__store_may_add(struct kos_store *s, const char *manifest_hex, uint32_t release,
                                uint32_t overlay, struct kos_store_state *state, uint32_t *same,
                                char *err, size_t errlen) __attribute__((warn_unused_result));

/* 64 lower-case hex digits to 32 bytes. */
bool kos__store_unhex32(const char *s, uint8_t out[32]);

#endif
