/*
 * statedir.c - Core's state directory (statedir_int.h): made or taken over,
 * locked for one Core, closed to every other user, and, when Core made it
 * fresh, removed at the end without following anything an app left in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_int.h"
#include "statedir_int.h"
#include "tree_int.h"

int kos__statedir_own(int dfd, const char *name, mode_t mode)
{
    struct stat st;
    int fd, err;

    if (mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
        return -1;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0)
        err = errno;
    else if (st.st_uid != geteuid() || (st.st_mode & S_IWOTH))
        err = EPERM;
    else if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0)
        err = errno;
    else
        return fd;
    close(fd);
    errno = err;
    return -1;
}

kos_status_t kos__statedir_open(struct kos__statedir *sd, const char *path, char *err,
                                size_t errlen)
{
    char buf[PATH_MAX];
    const char *sub = ""; /* what failed below it */
    struct stat st;
    int root;

    *sd = (struct kos__statedir){.fd = -1, .data_fd = -1};
    if (path) {
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            goto out_errno;
        sd->path = realpath(path, NULL);
    } else {
        const char *base = getenv("XDG_RUNTIME_DIR");
        if (!base || !base[0] || stat(base, &st) < 0 || !S_ISDIR(st.st_mode))
            base = "/tmp";
        snprintf(buf, sizeof(buf), "%s/kos-state-XXXXXX", base);
        if (!mkdtemp(buf))
            goto out_errno;
        sd->fresh = true;
        sd->path = strdup(buf);
    }
    if (!sd->path)
        goto out_errno;
    sd->fd = open(sd->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sd->fd < 0)
        goto out_errno;
    if (flock(sd->fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            goto out_errno;
        snprintf(err, errlen, "the state directory %s is in use by another Core", sd->path);
        goto out_close;
    }
    if (fstat(sd->fd, &st) < 0)
        goto out_errno;
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "the state directory %s belongs to uid %u, not to this Core's uid %u: another "
                 "user could change what Core does in it",
                 sd->path, (unsigned)st.st_uid, (unsigned)geteuid());
        goto out_close;
    }
    if ((st.st_mode & 07777) != 0700 && fchmod(sd->fd, 0700) < 0)
        goto out_errno;
    sub = "/data";
    sd->data_fd = kos__statedir_own(sd->fd, "data", 0700);
    if (sd->data_fd < 0)
        goto out_errno;
    sub = "/root";
    root = kos__statedir_own(sd->fd, "root", 0700);
    if (root < 0)
        goto out_errno;
    close(root);
    snprintf(buf, sizeof(buf), "%s/root", sd->path);
    sd->root = strdup(buf);
    if (!sd->root)
        goto out_errno;
    return KOS_STATUS_OK;

out_errno:
    snprintf(err, errlen, "cannot make the state directory %s%s: %s",
             sd->path ? sd->path
             : path   ? path
                      : buf,
             sub, strerror(errno));
out_close:
    kos__statedir_close(sd); /* a fresh one holds nothing yet */
    return KOS_STATUS_IO;
}

int kos__statedir_remove(struct kos__statedir *sd)
{
    int err;

    if (!sd->fresh || sd->fd < 0)
        return 0;
    err = kos__tree_clear(sd->fd);
    if (!err && rmdir(sd->path) < 0)
        err = errno;
    if (!err)
        sd->fresh = false; /* gone */
    return err;
}

void kos__statedir_close(struct kos__statedir *sd)
{
    int err = kos__statedir_remove(sd);

    (void)err; /* said by whoever asked for the removal itself */
    if (sd->data_fd >= 0)
        close(sd->data_fd);
    if (sd->fd >= 0)
        close(sd->fd);
    free(sd->path);
    free(sd->root);
    *sd = (struct kos__statedir){.fd = -1, .data_fd = -1};
}
