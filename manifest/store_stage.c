/*
 * store_stage.c - an upgrade's blobs on their way into the boot store
 * (store.h, "Upgrades"; docs/upgrades.md).
 *
 * incoming/<sha256 hex> holds what has arrived of a blob, appended to in
 * order. Nothing in incoming/ is ever booted or named by a generation: a
 * blob moves into blobs/ only whole, synced and of its digest, and a
 * generation names it only after that (kos_store_add()), so a power cut
 * at any moment leaves what boots as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "compiled.h"
#include "file_int.h"
#include "image_int.h"
#include "store.h"
#include "store_int.h"

#define INCOMING "incoming"

/* incoming/, made when first needed. */
static kos_status_t incoming(struct kos_store *s, char *err, size_t errlen)
{
    if (s->incoming >= 0)
        return KOS_STATUS_OK;
    if (!s->write) {
        snprintf(err, errlen, "the store %s is open read-only", s->path);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (mkdirat(s->dfd, INCOMING, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s/" INCOMING ": %s", s->path, strerror(errno));
        return KOS_STATUS_IO;
    }
    s->incoming = openat(s->dfd, INCOMING, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s->incoming < 0) {
        snprintf(err, errlen, "cannot open %s/" INCOMING ": %s", s->path, strerror(errno));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

/* The size of regular file `name` in folder dfd, or -1. */
static int64_t file_size(int dfd, const char *name)
{
    struct stat st;

    if (dfd < 0 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return st.st_size;
}

/* Whether blobs/<hex> is there with SHA-256 sha (a damaged one counts as
 * missing: its staged replacement takes its place). */
static bool have_blob(struct kos_store *s, const uint8_t sha[32])
{
    char hex[65];
    uint8_t got[32];
    bool ok;

    kos__image_hex(sha, 32, hex);
    int fd = openat(s->blobs, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    ok = kos__image_sha256_fd(fd, KOS__IMAGE_BLOB_MAX, got, NULL) == 0 && memcmp(got, sha, 32) == 0;
    close(fd);
    return ok;
}

static void add_need(struct kos_store *s, const uint8_t sha[32], struct kos_store_need *need,
                     size_t cap, size_t *n)
{
    char hex[65];
    int64_t have;

    for (size_t i = 0; i < *n; i++)
        if (memcmp(need[i].sha256, sha, 32) == 0)
            return;
    if (*n == cap)
        return;
    kos__image_hex(sha, 32, hex);
    have = file_size(s->incoming, hex);
    memcpy(need[*n].sha256, sha, 32);
    need[*n].have = have > 0 ? (uint64_t)have : 0;
    (*n)++;
}

/* Removes from incoming/ every file but the blobs in keep[0..n). */
static void prune(struct kos_store *s, const struct kos_store_need *keep, size_t n)
{
    int fd = s->incoming >= 0 ? openat(s->incoming, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((de = readdir(d))) {
        uint8_t sha[32];
        bool kept = false;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (kos__store_unhex32(de->d_name, sha))
            for (size_t i = 0; i < n && !kept; i++)
                kept = memcmp(keep[i].sha256, sha, 32) == 0;
        if (!kept)
            unlinkat(s->incoming, de->d_name, 0);
    }
    closedir(d);
}

/* Reads the manifest blob (which must be in blobs/) into *buf and checks
 * it: its digest, a valid compiled manifest. */
static kos_status_t read_manifest(struct kos_store *s, const uint8_t sha[32], void **buf,
                                  struct kos_cm *cm, char *err, size_t errlen)
{
    char hex[65], cmerr[256];
    uint8_t got[32];
    size_t len = 0;
    int e;

    kos__image_hex(sha, 32, hex);
    *buf = malloc(KOS_CM_MAX_SIZE + 1);
    if (!*buf) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    e = kos__file_read_small(s->blobs, hex, *buf, KOS_CM_MAX_SIZE + 1, &len);
    if (e || len == 0) {
        snprintf(err, errlen, "cannot read the manifest blob %s/blobs/%s: %s", s->path, hex,
                 e == EFBIG ? "too large"
                 : e        ? strerror(e)
                            : "empty");
        return KOS_STATUS_IO;
    }
    if (!kos__image_sha256_mem(*buf, len, got) || memcmp(got, sha, 32) != 0) {
        snprintf(err, errlen, "the manifest blob %s/blobs/%s is damaged", s->path, hex);
        return KOS_STATUS_PROTOCOL;
    }
    if (kos_cm_open(cm, *buf, len, cmerr, sizeof(cmerr))) {
        snprintf(err, errlen, "manifest blob %s is not a valid compiled manifest: %s", hex, cmerr);
        return KOS_STATUS_PROTOCOL;
    }
    return KOS_STATUS_OK;
}

kos_status_t kos_store_need(struct kos_store *s, const char *sig, size_t sig_len,
                            const struct kos_image_open_opts *opts, struct kos_store_need *need,
                            size_t cap, size_t *n, uint32_t *same, char *err, size_t errlen)
{
    struct kos__image_sig is;
    struct kos_store_state state;
    struct kos_cm cm;
    char signer[17], hex[65];
    void *buf = NULL;
    kos_status_t st;

    *n = 0;
    *same = 0;
    st = incoming(s, err, errlen);
    if (st)
        return st;
    st = kos__image_sig_check(sig, sig_len, opts, &is, signer, err, errlen);
    if (st)
        return st;
    if (!have_blob(s, is.manifest)) {
        add_need(s, is.manifest, need, cap, n);
        return KOS_STATUS_OK;
    }
    st = read_manifest(s, is.manifest, &buf, &cm, err, errlen);
    if (st)
        goto out;
    if (!is.is_signed && !kos_cm_signing_disabled(&cm) && !(opts && opts->allow_unsigned)) {
        snprintf(err, errlen, "image is unsigned but its manifest requires signing");
        st = KOS_STATUS_UNAUTHORIZED;
        goto out;
    }
    kos__image_hex(is.manifest, 32, hex);
    st = kos__store_may_add(s, hex, cm.hdr->release, kos_cm_overlay(&cm), &state, same, err,
                            errlen);
    if (st || *same)
        goto out;
    for (uint32_t i = 0; i < kos_cm_nprocs(&cm); i++) {
        const uint8_t *sha = kos_cm_proc(&cm, i)->sha256;
        if (!have_blob(s, sha))
            add_need(s, sha, need, cap, n);
    }
    prune(s, need, *n);
out:
    free(buf);
    return st;
}

kos_status_t kos_store_stage_open(struct kos_store *s, const uint8_t sha256[32], uint64_t size,
                                  int *fd, uint64_t *have, char *err, size_t errlen)
{
    char hex[65];
    struct stat st;
    kos_status_t rc = incoming(s, err, errlen);

    *fd = -1;
    if (rc)
        return rc;
    kos__image_hex(sha256, 32, hex);
    *fd = openat(s->incoming, hex, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0 || fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        ((uint64_t)st.st_size > size && ftruncate(*fd, 0) != 0)) {
        snprintf(err, errlen, "cannot stage blob %s in %s/" INCOMING ": %s", hex, s->path,
                 strerror(errno ? errno : EINVAL));
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return KOS_STATUS_IO;
    }
    *have = (uint64_t)st.st_size > size ? 0 : (uint64_t)st.st_size;
    return KOS_STATUS_OK;
}

kos_status_t kos_store_stage_done(struct kos_store *s, const uint8_t sha256[32], uint64_t size,
                                  char *err, size_t errlen)
{
    char hex[65], got_hex[65];
    uint8_t got[32];
    uint64_t len = 0;
    kos_status_t rc = incoming(s, err, errlen);
    int fd;

    if (rc)
        return rc;
    kos__image_hex(sha256, 32, hex);
    fd = openat(s->incoming, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "blob %s is not staged in %s/" INCOMING ": %s", hex, s->path,
                 strerror(errno));
        return KOS_STATUS_IO;
    }
    int e = fsync(fd) != 0 ? errno : kos__image_sha256_fd(fd, size, got, &len);
    close(fd);
    if (e == EFBIG || (!e && len > size)) {
        unlinkat(s->incoming, hex, 0);
        snprintf(err, errlen, "blob %s arrived longer than its %llu bytes; removed", hex,
                 (unsigned long long)size);
        return KOS_STATUS_PROTOCOL;
    }
    if (e) {
        snprintf(err, errlen, "cannot read the staged blob %s: %s", hex, strerror(e));
        return KOS_STATUS_IO;
    }
    if (len < size) {
        snprintf(err, errlen, "blob %s: %llu of its %llu bytes have arrived", hex,
                 (unsigned long long)len, (unsigned long long)size);
        return KOS_STATUS_IO;
    }
    if (memcmp(got, sha256, 32) != 0) {
        unlinkat(s->incoming, hex, 0);
        kos__image_hex(got, 32, got_hex);
        snprintf(err, errlen, "blob %s arrived with SHA-256 %s; removed", hex, got_hex);
        return KOS_STATUS_PROTOCOL;
    }
    if (renameat(s->incoming, hex, s->blobs, hex) != 0 || fsync(s->blobs) != 0) {
        snprintf(err, errlen, "cannot store blob %s in %s/blobs: %s", hex, s->path,
                 strerror(errno));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}
