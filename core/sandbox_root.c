/*
 * sandbox_root.c - an app's root (sandbox.h): the ELF interpreter and
 * shared libraries its binary needs, found from its dynamic section, and
 * the read-only tmpfs they are bound into before pivot_root.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/i2c-dev.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <grp.h>
#include <linux/audit.h>
#include <poll.h>
#include <unistd.h>

#include <cap-ng.h>

#include "sandbox.h"
#include "sandbox_int.h"

/* ---- what a binary needs in its root ---- */

#define ELF_MAX_NEEDED 64
#define ELF_MAX_FILES  128

struct elf_deps {
    char interp[PATH_MAX];
    char *needed[ELF_MAX_NEEDED];
    size_t n_needed;
    char runpath[PATH_MAX];
};

/* Reads a NUL-terminated string at file offset off. */
static bool pread_str(int fd, off_t off, char *out, size_t cap)
{
    ssize_t r = pread(fd, out, cap - 1, off);
    if (r <= 0)
        return false;
    out[r] = '\0';
    return strlen(out) < (size_t)r || (size_t)r < cap - 1;
}

/* A sandbox runs binaries of Core's own architecture: ELF files of its
 * word size (ELF64; ELF32 on armhf). */
#if UINTPTR_MAX > 0xffffffffu
#define ELF(type) Elf64_##type
#define ELF_CLASS ELFCLASS64
#define ELF_BITS  "64"
#else
#define ELF(type) Elf32_##type
#define ELF_CLASS ELFCLASS32
#define ELF_BITS  "32"
#endif

/* Reads the interpreter, DT_NEEDED and DT_RUNPATH of an ELF file of
 * Core's word size. A file without PT_DYNAMIC (static) gives no
 * dependencies. */
static kos_status_t elf_read(int fd, struct elf_deps *d, char *err, size_t errlen)
{
    ELF(Ehdr) eh;
    ELF(Phdr) ph[64];
    uint64_t dyn_off = 0, dyn_size = 0;
    uint64_t strtab = 0, runpath = UINT64_MAX, needed[ELF_MAX_NEEDED];
    size_t n_needed = 0;

    memset(d, 0, sizeof(*d));
    if (!pread_all(fd, &eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELF_CLASS || eh.e_phentsize != sizeof(ELF(Phdr)) ||
        eh.e_phnum > 64 || !pread_all(fd, ph, eh.e_phnum * sizeof(ELF(Phdr)), (off_t)eh.e_phoff)) {
        snprintf(err, errlen, "not a " ELF_BITS "-bit ELF file");
        return KOS_STATUS_PROTOCOL;
    }
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type == PT_INTERP) {
            if (ph[i].p_filesz == 0 || ph[i].p_filesz >= sizeof(d->interp) ||
                !pread_all(fd, d->interp, ph[i].p_filesz, (off_t)ph[i].p_offset) ||
                d->interp[ph[i].p_filesz - 1] != '\0' || d->interp[0] != '/') {
                snprintf(err, errlen, "bad PT_INTERP");
                return KOS_STATUS_PROTOCOL;
            }
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn_off = ph[i].p_offset;
            dyn_size = ph[i].p_filesz;
        }
    }
    if (!dyn_size)
        return KOS_STATUS_OK;
    /* The dynamic section, a batch of entries per read, up to DT_NULL. */
    ELF(Dyn) dyn[64];
    bool end = false;
    for (uint64_t o = 0; !end && o + sizeof(ELF(Dyn)) <= dyn_size && o < (1u << 20);) {
        uint64_t left = (dyn_size - o) / sizeof(ELF(Dyn));
        size_t want = left < 64 ? (size_t)left : 64;
        ssize_t got = pread(fd, dyn, want * sizeof(ELF(Dyn)), (off_t)(dyn_off + o));
        size_t k = got > 0 ? (size_t)got / sizeof(ELF(Dyn)) : 0;
        if (k == 0)
            break;
        for (size_t j = 0; j < k && !end; j++) {
            const ELF(Dyn) *dy = &dyn[j];
            if (dy->d_tag == DT_NULL)
                end = true;
            else if (dy->d_tag == DT_NEEDED && n_needed < ELF_MAX_NEEDED)
                needed[n_needed++] = dy->d_un.d_val;
            else if (dy->d_tag == DT_STRTAB)
                strtab = dy->d_un.d_ptr;
            else if (dy->d_tag == DT_RUNPATH || (dy->d_tag == DT_RPATH && runpath == UINT64_MAX))
                runpath = dy->d_un.d_val;
        }
        o += k * sizeof(ELF(Dyn));
    }
    /* DT_STRTAB is an address: find the file offset through PT_LOAD. */
    off_t stroff = -1;
    for (int i = 0; i < eh.e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr &&
            strtab < ph[i].p_vaddr + ph[i].p_filesz)
            stroff = (off_t)(strtab - ph[i].p_vaddr + ph[i].p_offset);
    if (n_needed && stroff < 0) {
        snprintf(err, errlen, "no string table for DT_NEEDED");
        return KOS_STATUS_PROTOCOL;
    }
    for (size_t i = 0; i < n_needed; i++) {
        char name[NAME_MAX + 1];
        if (!pread_str(fd, stroff + (off_t)needed[i], name, sizeof(name)) || !name[0]) {
            snprintf(err, errlen, "bad DT_NEEDED entry");
            goto out_free;
        }
        d->needed[d->n_needed] = strdup(name);
        if (!d->needed[d->n_needed]) {
            snprintf(err, errlen, "out of memory");
            goto out_free;
        }
        d->n_needed++;
    }
    if (runpath != UINT64_MAX &&
        !pread_str(fd, stroff + (off_t)runpath, d->runpath, sizeof(d->runpath)))
        d->runpath[0] = '\0';
    return KOS_STATUS_OK;

out_free:
    for (size_t i = 0; i < d->n_needed; i++)
        free(d->needed[i]);
    d->n_needed = 0;
    return KOS_STATUS_PROTOCOL;
}

static void elf_free(struct elf_deps *d)
{
    for (size_t i = 0; i < d->n_needed; i++)
        free(d->needed[i]);
    d->n_needed = 0;
}

#if defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
#define MULTIARCH "arm-linux-gnueabihf"
#else
#define MULTIARCH "unknown-linux-gnu"
#endif

/* The loader's default directories when it has no cache (Debian's glibc). */
static const char *const default_dirs[] = {
    "/lib/" MULTIARCH, "/usr/lib/" MULTIARCH, "/lib", "/usr/lib", "/lib64", "/usr/lib64",
};

struct file_list {
    char **v;
    size_t n;
};

static bool list_has(const struct file_list *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], path))
            return true;
    return false;
}

/* Finds library `name` as the loader would: DT_RUNPATH (absolute entries),
 * then the default directories; the first existing file wins. */
static bool find_lib(const char *name, const char *runpath, char *out, size_t cap)
{
    char rp[PATH_MAX];
    char *save = NULL;

    if (strchr(name, '/')) {
        snprintf(out, cap, "%s", name);
        return name[0] == '/' && access(out, R_OK) == 0;
    }
    snprintf(rp, sizeof(rp), "%s", runpath);
    for (char *dir = strtok_r(rp, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (dir[0] != '/')
            continue; /* $ORIGIN and relative entries cannot be resolved for a memfd */
        if ((size_t)snprintf(out, cap, "%s/%s", dir, name) < cap && access(out, R_OK) == 0)
            return true;
    }
    for (size_t i = 0; i < sizeof(default_dirs) / sizeof(default_dirs[0]); i++)
        if ((size_t)snprintf(out, cap, "%s/%s", default_dirs[i], name) < cap &&
            access(out, R_OK) == 0)
            return true;
    return false;
}

static kos_status_t add_deps(int fd, struct file_list *l, bool *sanitizer, int depth, char *err,
                             size_t errlen)
{
    struct elf_deps d;
    kos_status_t st = elf_read(fd, &d, err, errlen);

    if (st)
        return st;
    if (depth > 16) {
        elf_free(&d);
        return KOS_STATUS_OK;
    }
    if (d.interp[0] && !list_has(l, d.interp)) {
        if (l->n >= ELF_MAX_FILES || access(d.interp, R_OK) < 0) {
            snprintf(err, errlen, "interpreter %s: %s", d.interp,
                     l->n >= ELF_MAX_FILES ? "too many files" : strerror(errno));
            st = KOS_STATUS_NOT_FOUND;
            goto out;
        }
        l->v[l->n++] = strdup(d.interp);
    }
    for (size_t i = 0; i < d.n_needed; i++) {
        char path[PATH_MAX];
        if (!find_lib(d.needed[i], d.runpath, path, sizeof(path))) {
            snprintf(err, errlen, "library %s not found", d.needed[i]);
            st = KOS_STATUS_NOT_FOUND;
            goto out;
        }
        if (!strncmp(d.needed[i], "libasan.", 8) || !strncmp(d.needed[i], "libubsan.", 9) ||
            !strncmp(d.needed[i], "libtsan.", 8) || !strncmp(d.needed[i], "liblsan.", 8))
            *sanitizer = true;
        if (list_has(l, path))
            continue;
        if (l->n >= ELF_MAX_FILES) {
            snprintf(err, errlen, "more than %d libraries", ELF_MAX_FILES);
            st = KOS_STATUS_TOO_LARGE;
            goto out;
        }
        l->v[l->n] = strdup(path);
        if (!l->v[l->n]) {
            st = KOS_STATUS_NO_MEMORY;
            goto out;
        }
        l->n++;
        int lfd = open(path, O_RDONLY | O_CLOEXEC);
        if (lfd < 0) {
            snprintf(err, errlen, "library %s: %s", path, strerror(errno));
            st = KOS_STATUS_IO;
            goto out;
        }
        st = add_deps(lfd, l, sanitizer, depth + 1, err, errlen);
        close(lfd);
        if (st)
            goto out;
    }
out:
    elf_free(&d);
    return st;
}

kos_status_t kos_sandbox_root_files(int fd, char ***files, size_t *n, bool *sanitizer, char *err,
                                    size_t errlen)
{
    struct file_list l = {.v = calloc(ELF_MAX_FILES + 1, sizeof(char *))};
    kos_status_t st;

    if (!l.v)
        return KOS_STATUS_NO_MEMORY;
    *sanitizer = false;
    st = add_deps(fd, &l, sanitizer, 0, err, errlen);
    if (st) {
        kos_sandbox_files_free(l.v);
        return st;
    }
    *files = l.v;
    *n = l.n;
    return KOS_STATUS_OK;
}

void kos_sandbox_files_free(char **files)
{
    for (size_t i = 0; files && files[i]; i++)
        free(files[i]);
    free(files);
}

/* ---- the root ---- */

/* Creates every directory of `path` (absolute), relative to the current
 * directory, which is the new root. */
static int mkdirs(const char *path)
{
    char buf[PATH_MAX];

    if ((size_t)snprintf(buf, sizeof(buf), ".%s", path) >= sizeof(buf))
        return ENAMETOOLONG;
    for (char *s = buf + 2; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return errno;
        *s = '/';
    }
    return 0;
}

/* Binds what `src` (an O_PATH fd) names at `dst` (relative to the new root),
 * then remounts it with `flags`. Going through the fd means no host
 * directory on the way has to be searchable by the app's uid. */
static int bind_fd(int src, const char *dst, unsigned long flags)
{
    char from[64];

    snprintf(from, sizeof(from), "/proc/self/fd/%d", src);
    if (mount(from, dst, NULL, MS_BIND, NULL) < 0)
        return errno;
    if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
        return errno;
    return 0;
}

/* Mounts the app's data at "data" (relative to the new root), nosuid,
 * nodev and noexec: its own file system, a detached mount Core cloned for
 * this start, is moved there; or the host directory open at `dir` (an
 * O_PATH fd) is bound there. */
static int attach_data(const struct kos_sandbox *sb, int dir)
{
    const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

    if (sb->data_mnt < 0)
        return bind_fd(dir, "data", flags);
    if (move_mount(sb->data_mnt, "", AT_FDCWD, "data", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return errno;
    if (mount(NULL, "data", NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
        return errno;
    return 0;
}

/* Closes fd if it is one; returns 0, or errno if fd is -1. */
static int fd_close_errno(int fd)
{
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* True if the process must change its ids: inside its own user namespace,
 * or, without one, when a privileged Core can give it a host uid of its own
 * (an app must never run as Core's root). */
static bool must_become_app(const struct kos_sandbox *sb)
{
    return (sb->layers & KOS_SB_NS_USER) || sb->privileged;
}

static int become_app(const struct kos_sandbox *sb)
{
    bool ns = sb->layers & KOS_SB_NS_USER;
    uid_t uid = ns ? KOS_SANDBOX_APP_UID : sb->host_uid;
    gid_t gid = ns ? KOS_SANDBOX_APP_UID : sb->host_gid;

    /* Become the app's uid; keep the capabilities (the namespace's, or
     * Core's without one) until kos_sandbox_enter() drops them. */
    if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0 ||
        (sb->privileged && setgroups(0, NULL) < 0) || setresgid(gid, gid, gid) < 0 ||
        setresuid(uid, uid, uid) < 0)
        return errno;
    return 0;
}

int kos_sandbox_build_root(const struct kos_sandbox *sb, int *err)
{
    int src[ELF_MAX_FILES + 1];
    int data = -1, step = 0;
    size_t n = 0;

    *err = 0;
    if (sb->layers & KOS_SB_NS_UTS) {
        if (sethostname(sb->name, strlen(sb->name)) < 0) {
            *err = errno;
            return KOS_SB_STEP_HOSTNAME;
        }
    }
    if (!(sb->layers & KOS_SB_NS_MNT)) {
        if (must_become_app(sb) && (*err = become_app(sb)) != 0)
            return KOS_SB_STEP_SYNC;
        return 0;
    }
    if (sb->n_ro_files > ELF_MAX_FILES) {
        *err = E2BIG;
        return KOS_SB_STEP_MOUNT;
    }
    /* With Core's uid still: a private tmpfs on the mount point, and every
     * source opened by path. Nothing we mount may propagate to the host. */
    step = KOS_SB_STEP_MOUNT;
    char opts[96];
    if (sb->layers & KOS_SB_NS_USER)
        snprintf(opts, sizeof(opts), "mode=0755,size=64k,uid=%u,gid=%u", KOS_SANDBOX_APP_UID,
                 KOS_SANDBOX_APP_UID);
    else if (sb->privileged)
        snprintf(opts, sizeof(opts), "mode=0755,size=64k,uid=%u,gid=%u", (unsigned)sb->host_uid,
                 (unsigned)sb->host_gid);
    else
        snprintf(opts, sizeof(opts), "mode=0755,size=64k");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("kos-root", sb->mnt_dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0 ||
        chdir(sb->mnt_dir) < 0)
        goto out_errno;
    for (n = 0; n < sb->n_ro_files; n++) {
        src[n] = open(sb->ro_files[n], O_PATH | O_CLOEXEC);
        if (src[n] < 0)
            goto out_errno;
    }
    if (sb->data_dir && sb->data_mnt < 0 &&
        (data = open(sb->data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        goto out_errno;
    step = KOS_SB_STEP_SYNC;
    if (must_become_app(sb) && (*err = become_app(sb)) != 0)
        goto out_close;
    step = KOS_SB_STEP_MOUNT;
    for (size_t i = 0; i < n; i++) {
        char dst[PATH_MAX];
        int fd;
        if ((*err = mkdirs(sb->ro_files[i])) != 0)
            goto out_close;
        snprintf(dst, sizeof(dst), ".%s", sb->ro_files[i]);
        fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
        if (fd < 0)
            goto out_errno;
        close(fd);
        if ((*err = bind_fd(src[i], dst, MS_RDONLY | MS_NOSUID | MS_NODEV)) != 0)
            goto out_close;
    }
    if (sb->data_dir && (mkdir("data", 0755) < 0 || (*err = attach_data(sb, data)) != 0)) {
        if (!*err)
            *err = errno;
        goto out_close;
    }
    /* /dev/null, so that fd 0 reads as what it is; the app cannot open it
     * again (Landlock grants no access to it, seccomp no write opens). */
    int null_src = open("/dev/null", O_PATH | O_CLOEXEC);
    if (null_src < 0)
        goto out_errno;
    if ((*err = mkdirs("/dev/null")) != 0 ||
        ((fd_close_errno(open("dev/null", O_WRONLY | O_CREAT | O_CLOEXEC, 0444))) != 0) ||
        (*err = bind_fd(null_src, "dev/null", MS_RDONLY | MS_NOSUID | MS_NOEXEC)) != 0) {
        if (!*err)
            *err = errno;
        close(null_src);
        goto out_close;
    }
    close(null_src);
    if (sb->proc && (mkdir("proc", 0555) < 0 ||
                     mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0))
        goto out_errno;
    step = KOS_SB_STEP_PIVOT;
    if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        goto out_errno;
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) < 0)
        goto out_errno;
    close_all(src, n);
    if (data >= 0)
        close(data);
    return 0;

out_errno:
    *err = errno;
out_close:
    close_all(src, n);
    if (data >= 0)
        close(data);
    return step;
}
