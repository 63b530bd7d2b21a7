/*
 * store.h - the log server's store file: its records on disk, bounded in
 * size, in the format of logsrv_int.h.
 *
 * The file is KOS_STORE_FILE in the data directory. Appends are whole
 * frames, followed by fsync() when `sync` is set, so a record whose append
 * returned OK survives a crash of the server (and, with sync, of the
 * machine). When an append would take the file past max_bytes, the file is
 * rewritten instead from the newest records of the ring that fit in half of
 * max_bytes: written to a temporary file, synced, renamed over the old one
 * and the directory synced, so a crash at any point leaves either the old or
 * the new file whole.
 */
#ifndef LOG_STORE_H
#define LOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logsrv_int.h"
#include "ring.h"

#define KOS_STORE_FILE     "kos_log.store"
#define KOS_STORE_MIN_SIZE (128u * 1024u)
#define KOS_STORE_READ_MAX (64u * 1024u * 1024u) /* larger files: only the head is read */

struct store {
    int dir_fd;
    int fd;
    uint64_t size;
    uint64_t max_bytes;
    bool sync;
};

/* Opens (creating if needed) the store in directory `dir` and passes each
 * valid record in it to fn(r, offset, arg) in file order; *rep says what was
 * skipped. On failure err holds a sentence naming what went wrong and the
 * store is not open. Blocks on file I/O. */
kos_status_t store_open(struct store *s, const char *dir, uint64_t max_bytes, bool sync,
                        kos__logstore_fn *fn, void *arg, struct kos__logstore_report *rep,
                        char *err, size_t errlen) __attribute__((warn_unused_result));

/* Appends frames[0..len) (whole frames), rewriting from the ring instead if
 * the file would exceed max_bytes (the ring must already hold those
 * records). On failure the file is cut back to its previous size. */
kos_status_t store_append(struct store *s, const uint8_t *frames, size_t len,
                          const struct ring *ring) __attribute__((warn_unused_result));

/* Rewrites the file from the newest ring records that fit in `budget`
 * bytes (at most max_bytes): max_bytes / 2 to compact, max_bytes to repair
 * a damaged file. */
kos_status_t store_rewrite(struct store *s, const struct ring *ring, uint64_t budget)
    __attribute__((warn_unused_result));

/* Closes the store. */
void store_close(struct store *s);

#endif
