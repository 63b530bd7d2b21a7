/*
 * uids.c - host uid ranges for privileged Cores (uids_int.h): a lock file
 * per range, taken with flock and held for the Core's life, and the range a
 * state directory's data belongs to, recorded in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "file_int.h"
#include "statedir_int.h"
#include "uids_int.h"

/* Opens KOS__UID_LOCK_DIR ("/run/kos/uids"), making what is missing. */
static int lock_dir(void)
{
    int run = open("/run", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int kos = run < 0 ? -1 : kos__statedir_own(run, "kos", 0755);
    int uids = kos < 0 ? -1 : kos__statedir_own(kos, "uids", 0700);
    int err = errno;

    if (kos >= 0)
        close(kos);
    if (run >= 0)
        close(run);
    errno = err;
    return uids;
}

/* Tries to lock range r in directory dfd: returns the locked descriptor,
 * -1 when another Core holds it, or -2 with errno on failure. */
static int try_range(int dfd, uint32_t r)
{
    char name[32], pid[32];
    int fd, n;

    snprintf(name, sizeof(name), "%u.lock", (unsigned)r);
    fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -2;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return err == EWOULDBLOCK ? -1 : -2;
    }
    /* For whoever looks: which Core holds it. */
    n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* Only informative: the lock is what counts. */
    }
    return fd;
}

kos_status_t kos__uids_claim(struct kos__uids *u, uint32_t prefer, char *err, size_t errlen)
{
    int dfd = lock_dir();
    int fd = -1;
    uint32_t r = KOS__UID_NONE;

    *u = (struct kos__uids){.range = KOS__UID_NONE, .lock_fd = -1};
    if (dfd < 0) {
        snprintf(err, errlen, "cannot use the uid range locks in %s: %s", KOS__UID_LOCK_DIR,
                 strerror(errno));
        return KOS_STATUS_IO;
    }
    if (prefer < KOS__UID_RANGES) {
        r = prefer;
        fd = try_range(dfd, r);
    }
    for (uint32_t i = 0; fd == -1 && i < KOS__UID_RANGES; i++)
        if (i != prefer)
            fd = try_range(dfd, r = i);
    if (fd < 0) {
        if (fd == -2)
            snprintf(err, errlen, "cannot lock %s/%u.lock: %s", KOS__UID_LOCK_DIR, (unsigned)r,
                     strerror(errno));
        else
            snprintf(err, errlen, "all %u host uid ranges are held by other Cores (%s)",
                     KOS__UID_RANGES, KOS__UID_LOCK_DIR);
        close(dfd);
        return KOS_STATUS_UNAVAILABLE;
    }
    close(dfd);
    u->range = r;
    u->first = (uid_t)(KOS__UID_BASE + r * KOS__UID_SPAN);
    u->lock_fd = fd;
    return KOS_STATUS_OK;
}

void kos__uids_release(struct kos__uids *u)
{
    if (u->lock_fd >= 0)
        close(u->lock_fd);
    u->lock_fd = -1;
    u->range = KOS__UID_NONE;
}

uint32_t kos__uids_recorded(int state_fd)
{
    char text[512], *line, *save = NULL;
    unsigned long range = KOS__UID_NONE;
    bool format = false;
    int fd = openat(state_fd, KOS__UID_RECORD, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return KOS__UID_NONE;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return KOS__UID_NONE;
    text[n] = '\0';
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *end;
        if (!strcmp(line, "format 1"))
            format = true;
        else if (!strncmp(line, "range ", 6)) {
            errno = 0;
            range = strtoul(line + 6, &end, 10);
            if (errno || *end || end == line + 6)
                return KOS__UID_NONE;
        }
    }
    return format && range < KOS__UID_RANGES ? (uint32_t)range : KOS__UID_NONE;
}

int kos__uids_record(int state_fd, const struct kos__uids *u)
{
    char text[256];
    int n = snprintf(text, sizeof(text),
                     "# KOS host uid range of this state directory (docs/running.md)\n"
                     "format 1\n"
                     "range %u\n"
                     "first_uid %u\n",
                     (unsigned)u->range, (unsigned)u->first);
    return kos__file_replace(state_fd, KOS__UID_RECORD, text, (size_t)n);
}
