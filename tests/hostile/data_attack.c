/*
 * data_attack.c - a test app that turns its /data (data_dir: true) against
 * the host and against Core, chosen by argv[1]:
 *
 *   open_up N      make /data and a folder /data/open world-writable and put
 *                  N files in the folder, for a local user to swap the folder
 *                  for a symbolic link while Core removes the state directory
 *   chain D...     for each D, make a chain of D folders /data/chainD/d/d/...
 *                  (or, found from an earlier boot, walk it and write a file
 *                  at its bottom), and a 100-deep /data/locked chain with
 *                  every tenth folder mode 0
 *   fill MAX       write /data/fill until the file system refuses or MAX
 *                  bytes are written
 *   suid           plant a setuid file /data/suid, a world-writable folder
 *                  /data/ww with a world-writable file, and make /data 0755
 *
 * Each logs what it did (the test scripts check the lines), reports ready
 * and waits to be stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kos/app.h>
#include <kos/log.h>

static int wait_for_stop(kos_app_t *app)
{
    if (kos_app_ready(app))
        return 1;
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, -1);
    }
    return 0;
}

static int open_up(kos_app_t *app, unsigned n)
{
    int data = open("/data", O_RDONLY | O_DIRECTORY);
    int r1 = fchmod(data, 0777), e1 = errno;
    int r2 = mkdirat(data, "open", 0777), e2 = errno;
    /* The sandbox refuses world-writable modes (docs/sandbox.md): the folder
     * and its files are still made, for the race on the host side. */
    if (r2 < 0)
        (void)mkdirat(data, "open", 0755);
    int dir = openat(data, "open", O_RDONLY | O_DIRECTORY);
    int r3 = fchmod(dir, 0777), e3 = errno;
    unsigned made = 0;

    for (unsigned i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "canary_%u", i); /* the names the canary has */
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            fd = openat(dir, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            made++;
            close(fd);
        }
    }
    kos_log_info("open_up: /data 0777 (%s), /data/open 0777 (%s, %s) with %u files",
                 r1 ? strerror(e1) : "ok", r2 ? strerror(e2) : "ok", r3 ? strerror(e3) : "ok",
                 made);
    return wait_for_stop(app);
}

/* Goes down the chain under fd as far as it leads; returns the levels and
 * leaves *fd at the bottom. */
static unsigned walk_chain(int *fd)
{
    unsigned n = 0;
    for (;;) {
        int sub = openat(*fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sub < 0)
            return n;
        close(*fd);
        *fd = sub;
        n++;
    }
}

/* Makes (or, found, checks) a chain of `depth` folders "d" under /data/NAME;
 * every `locked`-th folder gets mode 0 once the chain below it is made. */
static void chain(int data, const char *name, unsigned depth, unsigned locked)
{
    int fd, prev = -1;
    unsigned i;

    if ((fd = openat(data, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        unsigned n = walk_chain(&fd);
        int f = openat(fd, "bottom", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        kos_log_info("%s: found %u levels, wrote at the bottom: %s", name, n,
                     f >= 0 ? "ok" : strerror(errno));
        if (f >= 0)
            close(f);
        close(fd);
        return;
    }
    if (mkdirat(data, name, 0755) < 0 ||
        (fd = openat(data, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        kos_log_error("%s: %s", name, strerror(errno));
        return;
    }
    for (i = 0; i < depth; i++) {
        int sub;
        if (mkdirat(fd, "d", 0755) < 0 ||
            (sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            break;
        if (prev >= 0)
            close(prev);
        prev = fd;
        fd = sub;
        if (locked && i % locked == locked - 1)
            fchmod(prev, 0);
    }
    kos_log_info("%s: made %u levels%s%s", name, i, i < depth ? ", then " : "",
                 i < depth ? strerror(errno) : "");
    if (prev >= 0)
        close(prev);
    close(fd);
}

static int chains(kos_app_t *app, int argc, char **argv)
{
    int data = open("/data", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    for (int i = 2; i < argc; i++) {
        char name[32];
        snprintf(name, sizeof(name), "chain%s", argv[i]);
        chain(data, name, (unsigned)strtoul(argv[i], NULL, 10), 0);
    }
    if (faccessat(data, "locked", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
        chain(data, "locked", 100, 10);
    kos_log_info("chains done");
    close(data);
    return wait_for_stop(app);
}

static int fill(kos_app_t *app, unsigned long long max)
{
    static char buf[65536];
    unsigned long long total = 0;
    int fd = open("/data/fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = fd < 0 ? errno : 0;

    memset(buf, 'k', sizeof(buf));
    while (!err && total < max) {
        size_t want = max - total < sizeof(buf) ? (size_t)(max - total) : sizeof(buf);
        ssize_t n = write(fd, buf, want);
        if (n <= 0)
            err = n < 0 ? errno : EIO;
        else
            total += (unsigned long long)n;
    }
    if (!err && fd >= 0 && fsync(fd) < 0)
        err = errno;
    if (fd >= 0)
        close(fd);
    if (err)
        kos_log_info("fill: wrote %llu bytes, then %s", total, strerror(err));
    else
        kos_log_info("fill: wrote %llu bytes, no error", total);
    return wait_for_stop(app);
}

static int suid(kos_app_t *app)
{
    static const char script[] = "#!/bin/sh\necho planted\n";
    int data = open("/data", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = openat(data, "suid", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    int w = fd >= 0 && write(fd, script, sizeof(script) - 1) == (ssize_t)(sizeof(script) - 1);
    int r1 = fd >= 0 ? fchmod(fd, 04755) : -1, e1 = errno;
    int r2 = mkdirat(data, "ww", 0777), e2 = errno;
    int ww = openat(data, "ww", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r3 = fchmod(ww, 0777), e3 = errno;
    int f = openat(ww, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    int r4 = f >= 0 ? fchmod(f, 0666) : -1, e4 = errno;
    int r5 = fchmod(data, 0755), e5 = errno;

    kos_log_info("suid: /data/suid written %s, 04755 %s; /data/ww 0777 %s (%s); file 0666 %s; "
                 "/data 0755 %s",
                 w ? "ok" : "no", r1 ? strerror(e1) : "ok", r3 ? strerror(e3) : "ok",
                 r2 ? strerror(e2) : "made", r4 ? strerror(e4) : "ok", r5 ? strerror(e5) : "ok");
    if (fd >= 0)
        close(fd);
    if (f >= 0)
        close(f);
    return wait_for_stop(app);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    kos_app_t *app;
    int rc = 2;

    if (kos_app_open(&app)) {
        fprintf(stderr, "data_attack: kos_app_open failed\n");
        return 1;
    }
    if (!strcmp(mode, "open_up") && argc > 2)
        rc = open_up(app, (unsigned)strtoul(argv[2], NULL, 10));
    else if (!strcmp(mode, "chain"))
        rc = chains(app, argc, argv);
    else if (!strcmp(mode, "fill") && argc > 2)
        rc = fill(app, strtoull(argv[2], NULL, 10));
    else if (!strcmp(mode, "suid"))
        rc = suid(app);
    else
        kos_log_error("unknown mode '%s'", mode);
    kos_app_close(app);
    return rc;
}
