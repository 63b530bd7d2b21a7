/*
 * file.c - files replaced whole (file_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_int.h"

int kos__write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int kos__file_write_text(int dfd, const char *name, const char *text)
{
    int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC), err = 0;

    if (fd < 0)
        return errno;
    if (kos__write_all(fd, text, strlen(text)) < 0)
        err = errno;
    close(fd);
    return err;
}

int kos__file_read_small(int dfd, const char *name, char *buf, size_t cap, size_t *len)
{
    struct stat st;
    size_t got = 0;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), e = 0;

    if (fd < 0)
        return errno == ELOOP ? EINVAL : errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return EINVAL;
    }
    for (;;) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got == cap) {
            e = EFBIG;
            break;
        }
    }
    close(fd);
    if (e)
        return e;
    buf[got] = '\0';
    *len = got;
    return 0;
}

int kos__file_replace(int dfd, const char *name, const void *text, size_t len)
{
    char tmp[NAME_MAX + 1];
    int fd, err = 0;

    if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= sizeof(tmp))
        return ENAMETOOLONG;
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return errno;
    if (kos__write_all(fd, text, len) != 0 || fsync(fd) != 0)
        err = errno ? errno : EIO;
    close(fd);
    if (!err && renameat(dfd, tmp, dfd, name) != 0)
        err = errno;
    if (err) {
        unlinkat(dfd, tmp, 0);
        return err;
    }
    fsync(dfd);
    return 0;
}
