/*
 * storage.c - an app's /data as an ext4 file system of its own
 * (storage_int.h): an image made with mke2fs, a loop device, a detached
 * mount held as a descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage_int.h"

/* Where e2fsprogs puts its programs; Core runs them by these paths only,
 * with an environment of its own. */
static const char *const tool_dirs[] = {"/usr/sbin", "/sbin"};

/* The path of e2fsprogs' program `name` in buf, or NULL if it is not
 * installed. */
static const char *tool(const char *name, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof(tool_dirs) / sizeof(tool_dirs[0]); i++) {
        snprintf(buf, len, "%s/%s", tool_dirs[i], name);
        if (access(buf, X_OK) == 0)
            return buf;
    }
    return NULL;
}

void kos__storage_size_name(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;

    while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes >= 1024 && bytes % 1024 == 0) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, len, "%llu %s", (unsigned long long)bytes, units[u]);
}

int kos__storage_usable(char *why, size_t len)
{
    char path[64];
    int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        int err = errno;
        snprintf(why, len, "no loop device: /dev/loop-control: %s", strerror(err));
        return err;
    }
    close(fd);
    if (!tool("mke2fs", path, sizeof(path))) {
        snprintf(why, len, "mke2fs (e2fsprogs) is not installed");
        return ENOENT;
    }
    fd = fsopen("ext4", FSOPEN_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        snprintf(why, len, "the kernel does not mount ext4: %s", strerror(err));
        return err;
    }
    close(fd);
    return 0;
}

/* The image as e2fsprogs' programs see it: the descriptor Core opened,
 * so no path is resolved again. */
#define TOOL_IMAGE "/proc/self/fd/3"

/*
 * Runs e2fsprogs' program `name` with `args` (after argv[0]; TOOL_IMAGE
 * names the image open at img), its output collected and nothing else of
 * Core's inherited. An exit status up to max_ok is success. Returns 0, or
 * an errno with err saying what the program said.
 */
static int run_tool(const char *name, const char *const *args, int img, int max_ok, char *err,
                    size_t errlen)
{
    char path[64], out[512];
    const char *argv[16] = {name};
    int pipefd[2], status;
    size_t got = 0, n_args = 1;
    ssize_t n;
    pid_t pid;

    if (!tool(name, path, sizeof(path))) {
        snprintf(err, errlen, "%s (e2fsprogs) is not installed", name);
        return ENOENT;
    }
    while (args[n_args - 1] && n_args + 1 < sizeof(argv) / sizeof(argv[0])) {
        argv[n_args] = args[n_args - 1];
        n_args++;
    }
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return errno;
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return e;
    }
    if (pid == 0) {
        static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
        sigset_t none;
        int hi = fcntl(img, F_DUPFD, 10);
        int nul = open("/dev/null", O_RDONLY);

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (hi < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
            dup2(pipefd[1], 2) < 0 || dup2(hi, 3) < 0 || syscall(SYS_close_range, 4u, ~0u, 0) < 0)
            _exit(126);
        execve(path, (char *const *)argv, envp);
        _exit(127);
    }
    close(pipefd[1]);
    while (got + 1 < sizeof(out) && (n = read(pipefd[0], out + got, sizeof(out) - 1 - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    close(pipefd[0]);
    out[got] = '\0';
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return errno;
    if (WIFEXITED(status) && WEXITSTATUS(status) <= max_ok)
        return 0;
    /* Its last line says most. */
    while (got > 0 && out[got - 1] == '\n')
        out[--got] = '\0';
    const char *last = strrchr(out, '\n');
    snprintf(err, errlen, "%s %s %d%s%s", name,
             WIFEXITED(status) ? "exited with status" : "killed by signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out[0] ? ": " : "",
             last ? last + 1 : out);
    return EIO;
}

/* Makes the file system on the image open at img: ext4, no blocks reserved
 * for root (the app never is), its root directory owned by uid:gid. */
static int make_fs(int img, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    char owner[64];
    const char *args[] = {"-q", "-F",  "-t", "ext4",     "-m",       "0",
                          "-E", owner, "-L", "kos-data", TOOL_IMAGE, NULL};

    snprintf(owner, sizeof(owner), "root_owner=%u:%u", (unsigned)uid, (unsigned)gid);
    return run_tool("mke2fs", args, img, 0, err, errlen);
}

/* Grows the (unmounted) file system on the image open at img to `bytes`,
 * image included: resize2fs, after the full check it insists on (e2fsck
 * -p, which only makes safe repairs; 1 and 2 mean it made some). Growing
 * offline needs no privilege beyond the file, where the kernel's online
 * resize needs CAP_SYS_RESOURCE, which a root in a container may lack. */
static int grow_fs(int img, uint64_t bytes, char *err, size_t errlen)
{
    char size[32];
    const char *check[] = {"-f", "-p", TOOL_IMAGE, NULL};
    const char *resize[] = {TOOL_IMAGE, size, NULL};
    int e = run_tool("e2fsck", check, img, 2, err, errlen);

    snprintf(size, sizeof(size), "%lluK", (unsigned long long)(bytes / 1024));
    return e ? e : run_tool("resize2fs", resize, img, 0, err, errlen);
}

/* Attaches the image open at img to a free loop device (autoclear: freed
 * when its last user, the file system, lets it go). Returns its descriptor
 * with its name in dev, or -1 with errno. */
static int attach_loop(int img, char *dev, size_t len)
{
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    int err = EBUSY;

    if (ctl < 0)
        return -1;
    for (int i = 0; i < KOS__STORAGE_LOOP_TRIES && err == EBUSY; i++) {
        struct loop_config cfg = {.fd = (uint32_t)img};
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        int fd;

        if (n < 0) {
            err = errno;
            break;
        }
        snprintf(dev, len, "/dev/loop%d", n);
        fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            err = errno; /* ENOENT: no device nodes made for new loop devices here */
            break;
        }
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "kos-data");
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
            close(ctl);
            return fd;
        }
        err = errno; /* EBUSY: someone took it first; try the next */
        close(fd);
    }
    close(ctl);
    errno = err;
    return -1;
}

/* The kernel's last message on fs context fd, if it left one. */
static void kernel_says(int fd, char *buf, size_t len)
{
    char msg[256];
    ssize_t n;

    buf[0] = '\0';
    while ((n = read(fd, msg, sizeof(msg) - 1)) > 0) {
        msg[n] = '\0';
        msg[strcspn(msg, "\n")] = '\0';
        snprintf(buf, len, "%s", n > 2 && msg[1] == ' ' ? msg + 2 : msg);
    }
}

/* Mounts the ext4 file system on `dev`, detached: nosuid, nodev, noexec.
 * Returns the mount's descriptor, or -1 with errno and err saying why. */
static int mount_dev(const char *dev, char *err, size_t errlen)
{
    int fs = fsopen("ext4", FSOPEN_CLOEXEC);
    int mnt = -1, e;
    char why[256] = "";

    if (fs < 0) {
        e = errno;
        snprintf(err, errlen, "fsopen ext4: %s", strerror(e));
        errno = e;
        return -1;
    }
    if (fsconfig(fs, FSCONFIG_SET_STRING, "source", dev, 0) == 0 &&
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        mnt =
            fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    e = errno;
    if (mnt < 0) {
        kernel_says(fs, why, sizeof(why));
        snprintf(err, errlen, "the kernel does not mount it: %s (%s)", strerror(e),
                 why[0] ? why : "the kernel's log says why");
    }
    close(fs);
    errno = e;
    return mnt;
}

int kos__storage_open(struct kos__storage *s, int dfd, const char *file, uint64_t bytes, uid_t uid,
                      gid_t gid, enum kos__storage_how *how, uint64_t *was, char *err,
                      size_t errlen)
{
    char tmp[NAME_MAX + 1];
    struct stat st;
    int img, loop, e = 0;
    const char *step = "cannot open it";

    *s = (struct kos__storage){.mnt = -1};
    err[0] = '\0';
    *how = KOS__STORAGE_OPENED;
    *was = 0;
    img = openat(dfd, file, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (img < 0 && errno == ENOENT) {
        /* Made under a name of its own and renamed once whole, so that a
         * crash meanwhile leaves no image that is not a file system (what
         * it leaves under the temporary name never held data). */
        step = "cannot make it";
        if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.new", file) >= sizeof(tmp)) {
            errno = ENAMETOOLONG;
            goto out_errno;
        }
        unlinkat(dfd, tmp, 0);
        img = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (img < 0)
            goto out_errno;
        if (ftruncate(img, (off_t)bytes) < 0 || (e = make_fs(img, uid, gid, err, errlen)) != 0 ||
            fsync(img) < 0 || renameat(dfd, tmp, dfd, file) < 0) {
            e = e ? e : errno;
            goto out_unmake;
        }
        fsync(dfd);
        *how = KOS__STORAGE_MADE;
    }
    if (img < 0 || fstat(img, &st) < 0)
        goto out_errno;
    if (!S_ISREG(st.st_mode)) {
        e = EINVAL;
        snprintf(err, errlen, "it is not a regular file");
        goto out_close;
    }
    *was = (uint64_t)st.st_size;
    if (*how != KOS__STORAGE_MADE && *was > bytes)
        *how = KOS__STORAGE_LARGER;
    if (*how != KOS__STORAGE_MADE && *was < bytes)
        *how = grow_fs(img, bytes, err, errlen) == 0 ? KOS__STORAGE_GROWN : KOS__STORAGE_NOT_GROWN;
    if (fstat(img, &st) < 0)
        goto out_errno;
    s->bytes = (uint64_t)st.st_size;
    step = "cannot attach it to a loop device";
    loop = attach_loop(img, s->dev, sizeof(s->dev));
    if (loop < 0)
        goto out_errno;
    s->mnt = mount_dev(s->dev, err, errlen);
    e = errno;
    close(loop);
    close(img);
    return s->mnt < 0 ? e : 0;

out_unmake:
    /* Core made it a moment ago: it holds nothing. */
    unlinkat(dfd, tmp, 0);
    if (!err[0])
        snprintf(err, errlen, "%s: %s", step, strerror(e));
    close(img);
    return e;
out_errno:
    e = errno;
    snprintf(err, errlen, "%s: %s", step, strerror(e));
out_close:
    if (img >= 0)
        close(img);
    return e;
}

int kos__storage_clone(const struct kos__storage *s)
{
    char err[256];
    int fd = open_tree(s->mnt, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);

    /* Before Linux 6.15 a detached mount cannot be cloned: a new mount of
     * the same file system (the kernel finds its superblock) does as well. */
    if (fd < 0 && errno == EINVAL)
        fd = mount_dev(s->dev, err, sizeof(err));
    return fd;
}

void kos__storage_close(struct kos__storage *s)
{
    if (s->mnt >= 0)
        close(s->mnt);
    s->mnt = -1;
}
