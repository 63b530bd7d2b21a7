/*
 * store.h - the boot store: a device's system generations on its storage
 * (ARCHITECTURE.md section 8; docs/storage.md).
 *
 * A store is a folder (on sim, the one `kos-tool run --storage DIR` names;
 * on a device, the data partition's):
 *
 *   kos-store              "kos-store 1\n": what the folder is
 *   blobs/<sha256 hex>     every blob of every kept generation, by digest
 *   generations/<N>        generation N: its manifest, system, signer, the
 *                          blobs it needs and its image.sig
 *   state                  which generation is current, which is good, and
 *                          how many boots current has had without passing
 *
 * What stays true across a power cut at any instant: `state` names
 * generations whose records and blobs are whole on the storage. A blob is
 * written to a temporary file, synced, renamed to its digest and the folder
 * synced before a generation record names it; a record is replaced whole
 * (lib/file_int.h) before `state` names it; `state` is replaced whole.
 * Leftovers of an interrupted write (temporary files, a record `state` does
 * not name) are removed when the store is next opened for writing.
 *
 * What a power cut cannot do, a bad block or a hand can: a damaged `state`
 * is read from its copy, `state.1`, or else the newest generation boots; a
 * generation that does not verify gives way to good, or else to the newest
 * one that does (kos_store_fall_back). Nothing a kept generation needs is
 * ever deleted.
 *
 * Booting: a generation that is current but not good gets KOS_STORE_TRIES
 * boots to pass its self test; the boot counter is written before the boot
 * starts, so a boot that hangs or loses power before it reports counts
 * too. When the tries are used up, current falls back to good. A passed
 * self test makes current good.
 *
 * Everything read from the store is checked again: a generation is opened
 * with kos_image_open_blobs(), which verifies the signature against the
 * trusted keys and every blob's digest, as for an image file.
 */
#ifndef KOS_STORE_H
#define KOS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#include "image.h"

#define KOS_STORE_TRIES    1u  /* boots a new generation gets to pass its self test */
#define KOS_STORE_KEEP     3u  /* generations kept besides current and good */
#define KOS_STORE_MAX_GENS 64u /* generation records a store may hold */

struct kos_store;

/* Generations remembered as failed: the store keeps at most current, good
 * and KOS_STORE_KEEP more, so a failed one beyond these is gone anyway. */
#define KOS_STORE_FAILED_MAX (KOS_STORE_KEEP + 2u)

/* Which generations the store boots: 0 for none. */
struct kos_store_state {
    uint32_t current, good;
    uint32_t tries; /* boots of current since it became current, while not good */
    /* Generations whose self test failed, or that used their boots, and were
     * left for good: ascending, the newest KOS_STORE_FAILED_MAX. */
    uint32_t failed[KOS_STORE_FAILED_MAX];
    uint32_t n_failed;
};

/* Whether state st remembers generation gen as failed. */
bool kos_store_failed(const struct kos_store_state *st, uint32_t gen);

/* One generation, as its record says. */
struct kos_store_gen {
    uint32_t n;
    char manifest[65]; /* the compiled manifest's SHA-256 */
    char system[64];   /* the system's name */
    char signer[17];   /* the release key id, or "" for an unsigned image */
    uint32_t release;  /* the manifest's release number, 0 for none */
    uint32_t overlay;  /* its overlay number on top of that release, 0 for none */
    int64_t created;   /* when it was stored, Unix seconds */
    uint64_t bytes;    /* the size of its blobs */
    uint32_t n_blobs;
    bool damaged; /* kos_store_survey(): its record cannot be read or parsed (only n is set) */
};

/* Opens the store in folder `dir`. `write`: for booting and importing, with
 * the store locked against any other writer (a second one is refused), its
 * folder made if `create` and it is missing, and leftovers of an
 * interrupted write removed; otherwise read-only, for showing. err says
 * what is wrong: not a store, a newer format, in use. */
kos_status_t kos_store_open(const char *dir, bool write, bool create, struct kos_store **out,
                            char *err, size_t errlen) __attribute__((warn_unused_result));

/* kos_store_close(NULL) does nothing. */
void kos_store_close(struct kos_store *s);

/* The store's folder, as given. */
const char *kos_store_path(const struct kos_store *s);

/* Reads `state`; a store without one has nothing current. */
kos_status_t kos_store_state(struct kos_store *s, struct kos_store_state *out, char *err,
                             size_t errlen) __attribute__((warn_unused_result));

/* The generations it holds, oldest first, at most `cap`; *n how many. */
kos_status_t kos_store_list(struct kos_store *s, struct kos_store_gen *out, size_t cap, size_t *n,
                            char *err, size_t errlen) __attribute__((warn_unused_result));

/* As kos_store_list(), but a generation whose record cannot be read or
 * does not parse is listed too, with only its number and `damaged`, rather
 * than ending the list: what a health report shows. */
kos_status_t kos_store_survey(struct kos_store *s, struct kos_store_gen *out, size_t cap, size_t *n,
                              char *err, size_t errlen) __attribute__((warn_unused_result));

/* Verifies the image file at `zip_path` (kos_image_open with `opts`),
 * stores the blobs the store lacks and a record of it, and makes it
 * current: *gen is its number, *added false when it was current already
 * (nothing is written then). A release never goes back: an image whose
 * release number (then overlay number) is lower than current's (or, when current's record is
 * damaged, good's), or the same number with other contents, is refused
 * with KOS_STATUS_UNAUTHORIZED and nothing written; images without
 * release numbers (0) replace each other freely. Generations beyond current, good and the
 * KOS_STORE_KEEP newest are removed, with the blobs only they needed. */
kos_status_t kos_store_import(struct kos_store *s, const char *zip_path,
                              const struct kos_image_open_opts *opts, uint32_t *gen, bool *added,
                              char *err, size_t errlen) __attribute__((warn_unused_result));

/* Stores the image whose image.sig is the sig_len bytes of `sig` and whose
 * blobs are all in the store already (staged by an upgrade, below) as the
 * new current generation: verified and checked as kos_store_import() does
 * an image file, with the same results. */
kos_status_t kos_store_add(struct kos_store *s, const char *sig, size_t sig_len,
                           const struct kos_image_open_opts *opts, uint32_t *gen, bool *added,
                           char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Upgrades (docs/upgrades.md): an image arrives blob by blob. Each blob is
 * staged in incoming/<sha256 hex>, appended to as its bytes arrive (so a
 * broken transfer resumes from where it stopped), and moves into blobs/
 * only once whole, synced and of the right SHA-256. kos_store_add() then
 * makes the image a generation. Staging never changes what boots.
 */

/* A blob an upgrade still needs: its digest, and how many of its bytes are
 * staged already. */
struct kos_store_need {
    uint8_t sha256[32];
    uint64_t have;
};

#define KOS_STORE_NEED_MAX 64u /* blobs named at once; ask again for more */

/* Which blobs of the image whose image.sig is `sig` the store lacks, at
 * most `cap` (*n of them; 0: every one is here, kos_store_add() may
 * follow). First the signature is checked against opts' trusted keys
 * (KOS_STATUS_UNAUTHORIZED: no trusted key verifies it), before anything
 * is fetched. While the manifest's blob is missing, it is the one named.
 * Once it is here, its digest is checked, it must be a valid compiled
 * manifest (an unsigned image's must say signing: disabled), and the
 * release rule is applied (KOS_STATUS_UNAUTHORIZED: it would go back);
 * then the binaries the store lacks, or holds damaged, are named, and
 * staged bytes of no blob of this image are removed. *same is the current
 * generation when it is this image already, else 0. */
kos_status_t kos_store_need(struct kos_store *s, const char *sig, size_t sig_len,
                            const struct kos_image_open_opts *opts, struct kos_store_need *need,
                            size_t cap, size_t *n, uint32_t *same, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Opens blob sha256's staging file for appending (*fd, the caller's; *have
 * the bytes it holds). A file longer than `size` is started again. */
kos_status_t kos_store_stage_open(struct kos_store *s, const uint8_t sha256[32], uint64_t size,
                                  int *fd, uint64_t *have, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Blob sha256 has arrived whole (`size` bytes): syncs it, checks its
 * SHA-256, and moves it into blobs/ (the folder synced). A blob of another
 * digest is removed (KOS_STATUS_PROTOCOL, err saying both digests); one
 * shorter than size is kept to resume (KOS_STATUS_IO). */
kos_status_t kos_store_stage_done(struct kos_store *s, const uint8_t sha256[32], uint64_t size,
                                  char *err, size_t errlen) __attribute__((warn_unused_result));

/* Chooses what to boot and records the boot before it starts: current,
 * one try more, or, when its tries are used up, good (current falls back
 * to it). *gen is the generation to boot; note (may be empty) says a
 * fallback or which try this is. KOS_STATUS_NOT_FOUND when nothing is
 * current. */
kos_status_t kos_store_boot(struct kos_store *s, uint32_t *gen, char *note, size_t notelen,
                            char *err, size_t errlen) __attribute__((warn_unused_result));

/* Generation `tried[n_tried - 1]` (current) cannot be booted (its record or
 * a blob is damaged, or it does not verify): chooses the next, good if it
 * has not been tried, else the newest generation not tried, and makes it
 * current. Nothing is deleted. note says which; KOS_STATUS_NOT_FOUND when
 * every generation was tried. */
kos_status_t kos_store_fall_back(struct kos_store *s, const uint32_t *tried, size_t n_tried,
                                 uint32_t *gen, char *note, size_t notelen, char *err,
                                 size_t errlen) __attribute__((warn_unused_result));

/* The self test of a boot of generation `gen` passed or failed. Passed:
 * gen becomes good. Failed: when gen is current and another generation is
 * good, current falls back to it for the next boot. note says what
 * changed (may be empty). */
kos_status_t kos_store_settle(struct kos_store *s, uint32_t gen, bool passed, char *note,
                              size_t notelen, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Opens generation `gen` as an image, verified as kos_image_open_blobs()
 * does. */
kos_status_t kos_store_open_image(struct kos_store *s, uint32_t gen,
                                  const struct kos_image_open_opts *opts, struct kos_image **out,
                                  char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
