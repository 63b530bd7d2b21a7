/*
 * store.c - the log server's bounded store file (see store.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define TMP_FILE KOS_STORE_FILE ".tmp"

static kos_status_t write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == ENOSPC || errno == EDQUOT ? KOS_STATUS_NO_MEMORY : KOS_STATUS_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return KOS_STATUS_OK;
}

kos_status_t store_open(struct store *s, const char *dir, uint64_t max_bytes, bool sync,
                        kos__logstore_fn *fn, void *arg, struct kos__logstore_report *rep,
                        char *err, size_t errlen)
{
    struct stat stt;
    uint8_t *buf = NULL;
    size_t len = 0;
    kos_status_t st = KOS_STATUS_IO;

    memset(rep, 0, sizeof(*rep));
    rep->header_ok = true;
    s->sync = sync;
    s->max_bytes = max_bytes;
    s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        snprintf(err, errlen, "cannot open data directory %s: %s", dir, strerror(errno));
        return KOS_STATUS_IO;
    }
    s->fd = openat(s->dir_fd, KOS_STORE_FILE, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                   0600);
    if (s->fd < 0 || fstat(s->fd, &stt) < 0) {
        snprintf(err, errlen, "cannot open %s/%s: %s", dir, KOS_STORE_FILE, strerror(errno));
        goto out_close;
    }
    if (!S_ISREG(stt.st_mode)) {
        snprintf(err, errlen, "%s/%s is not a regular file", dir, KOS_STORE_FILE);
        goto out_close;
    }
    len = (size_t)(stt.st_size < KOS_STORE_READ_MAX ? stt.st_size : KOS_STORE_READ_MAX);
    if (len) {
        buf = malloc(len);
        if (!buf) {
            snprintf(err, errlen, "no memory to read %s/%s (%zu bytes)", dir, KOS_STORE_FILE, len);
            st = KOS_STATUS_NO_MEMORY;
            goto out_close;
        }
        for (size_t got = 0; got < len;) {
            ssize_t n = pread(s->fd, buf + got, len - got, (off_t)got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                snprintf(err, errlen, "cannot read %s/%s: %s", dir, KOS_STORE_FILE,
                         n < 0 ? strerror(errno) : "file shrank while being read");
                goto out_free;
            }
            got += (size_t)n;
        }
        (void)kos__logstore_scan(buf, len, fn, arg, rep);
        free(buf);
        s->size = (uint64_t)stt.st_size;
    } else {
        st = write_all(s->fd, (const uint8_t *)KOS__LOGSTORE_MAGIC, KOS__LOGSTORE_HDR);
        if (st || (sync && (fsync(s->fd) < 0 || fsync(s->dir_fd) < 0))) {
            snprintf(err, errlen, "cannot write %s/%s: %s", dir, KOS_STORE_FILE, strerror(errno));
            st = KOS_STATUS_IO;
            goto out_close;
        }
        s->size = KOS__LOGSTORE_HDR;
    }
    return KOS_STATUS_OK;

out_free:
    free(buf);
out_close:
    if (s->fd >= 0)
        close(s->fd);
    close(s->dir_fd);
    s->fd = s->dir_fd = -1;
    return st;
}

kos_status_t store_rewrite(struct store *s, const struct ring *ring, uint64_t budget)
{
    uint32_t n = ring_count(ring), first = n;
    uint64_t used = KOS__LOGSTORE_HDR;
    uint8_t frame[KOS__LOGSTORE_FRAME_MAX];
    kos_status_t st;
    int fd;

    /* The newest records that fit in the budget. */
    while (first > 0) {
        size_t sz = KOS__LOGSTORE_FRAME_HDR + kos__logrec_size(ring_at(ring, first - 1));
        if (used + sz > budget)
            break;
        used += sz;
        first--;
    }
    fd = openat(s->dir_fd, TMP_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return KOS_STATUS_IO;
    st = write_all(fd, (const uint8_t *)KOS__LOGSTORE_MAGIC, KOS__LOGSTORE_HDR);
    for (uint32_t i = first; i < n && !st; i++) {
        size_t len = kos__logstore_frame(ring_at(ring, i), frame, sizeof(frame));
        st = len ? write_all(fd, frame, len) : KOS_STATUS_INTERNAL;
    }
    if (!st && s->sync && fsync(fd) < 0)
        st = KOS_STATUS_IO;
    close(fd);
    if (!st && renameat(s->dir_fd, TMP_FILE, s->dir_fd, KOS_STORE_FILE) < 0)
        st = KOS_STATUS_IO;
    if (st) {
        unlinkat(s->dir_fd, TMP_FILE, 0);
        return st;
    }
    if (s->sync)
        fsync(s->dir_fd);
    fd = openat(s->dir_fd, KOS_STORE_FILE, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return KOS_STATUS_IO;
    close(s->fd);
    s->fd = fd;
    s->size = used;
    return KOS_STATUS_OK;
}

kos_status_t store_append(struct store *s, const uint8_t *frames, size_t len,
                          const struct ring *ring)
{
    kos_status_t st;

    if (s->size + len > s->max_bytes)
        return store_rewrite(s, ring, s->max_bytes / 2);
    st = write_all(s->fd, frames, len);
    if (!st && s->sync && fdatasync(s->fd) < 0)
        st = KOS_STATUS_IO;
    if (st) {
        /* Leave no partial frame behind (a reader would skip it anyway). */
        if (ftruncate(s->fd, (off_t)s->size) < 0)
            return KOS_STATUS_IO;
        return st;
    }
    s->size += len;
    return KOS_STATUS_OK;
}

void store_close(struct store *s)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    s->fd = s->dir_fd = -1;
}
