/*
 * cmd_bootstrap.c - `kos-tool bootstrap`: a device's first disk image for
 * the qemu-arm-virt platform (docs/boards.md).
 *
 * The disk has an MBR with two partitions: a FAT boot partition (the
 * kernel, the initramfs with KOS Core as PID 1, and the U-Boot script
 * boot.scr that loads them, with its source boot.cmd) and an ext4 data
 * partition labelled kos-data (store/: the boot store with the image as
 * generation 1; trust/: the trusted release keys; keys/: the device's key
 * bundle). Each partition is made as a file in a scratch folder beside the
 * output with Debian's tools (mkfs.vfat and mcopy, mkimage, mkfs.ext4 -d:
 * no root, no loop mounts), then copied into the disk at its offset.
 *
 * What stays true: nothing is written before the arguments, the tools and
 * the boot files were checked and the image verified; the disk is written
 * to OUT.tmp and renamed to OUT only when whole, and the scratch folder is
 * removed whatever happens; an existing OUT is replaced only with --force.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image_int.h"
#include "keys_int.h"
#include "opts_int.h"
#include "store.h"
#include "tool_int.h"

#define BS_CMD        "bootstrap"
#define BS_MAX_TRUST  8 /* release keys a device trusts (kos-init reads at most 8) */
#define BS_MIB        (1024ull * 1024)
#define BS_FIRST_MIB  1u    /* the first partition's start: 1 MiB, as fdisk aligns */
#define BS_BOOT_SLACK 8u    /* MiB the boot partition keeps free beyond its files */
#define BS_DATA_MIN   32u   /* MiB: the smallest data partition (the journal, apps' data) */
#define BS_SIZE_MAX   65536 /* MiB: --size's bound, 64 GiB */
#define BS_COPY_CHUNK (64u * 1024)
#define BS_ERR_MAX    2048 /* bytes of a failed tool's output that are shown */

/* The kernel command line boot.scr gives: the console on the virt
 * machine's PL011, and for kos-init (device.c) the data partition and the
 * address on QEMU's user-mode network (its defaults: 10.0.2.15, gateway
 * 10.0.2.2). */
#define BS_BOOTARGS                                                                                \
    "console=ttyAMA0 kos.data=/dev/vda2 kos.net=10.0.2.15/24,10.0.2.2 quiet panic=-1"

/* The Debian tools bootstrap runs, and the package each comes from. */
static const struct bs_tool {
    const char *name, *package;
} bs_tools[] = {
    {"sfdisk", "fdisk"},         {"mkfs.vfat", "dosfstools"}, {"mcopy", "mtools"},
    {"mkimage", "u-boot-tools"}, {"mkfs.ext4", "e2fsprogs"},
};
enum { BS_SFDISK, BS_MKFS_VFAT, BS_MCOPY, BS_MKIMAGE, BS_MKFS_EXT4, BS_N_TOOLS };

struct bs {
    const char *image, *out, *keys, *server, *name, *boot_files;
    const char *trust[BS_MAX_TRUST];
    size_t n_trust;
    unsigned size_mib;
    bool force;
    char tools[BS_N_TOOLS][PATH_MAX];
    char scratch[PATH_MAX];                 /* the scratch folder, "" until made */
    bool progress;                          /* stderr is a terminal */
    char identity[2 * KOS__KEY_ID_LEN + 1]; /* the device's identity key id */
    int step;
};

#define BS_STEPS 6

/* A signal that stops bootstrap (SIGINT, SIGTERM, SIGHUP), and the tool
 * running then, which is stopped with it. */
static volatile sig_atomic_t bs_signal, bs_child;

static void bs_on_signal(int sig)
{
    bs_signal = sig;
    if (bs_child > 0)
        kill((pid_t)bs_child, SIGTERM);
}

static int bs_fail(struct bs *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One progress line on a terminal, rewritten in place. Returns 1 after
 * saying so when a signal stopped bootstrap, else 0. */
static int bs_step(struct bs *b, const char *what)
{
    if (bs_signal)
        return bs_fail(b, "stopped by %s; nothing was written", strsignal(bs_signal));
    b->step++;
    if (b->progress)
        fprintf(stderr, "\r\033[Kkos-tool %s: [%d/%d] %s", BS_CMD, b->step, BS_STEPS, what);
    return 0;
}

/* Says what failed (after clearing the progress line) and returns 1. */
static int bs_fail(struct bs *b, const char *fmt, ...)
{
    va_list ap;

    if (b->progress && b->step)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "kos-tool %s: ", BS_CMD);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

bool kos__tool_find_program(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];

    snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path && *path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if ((size_t)snprintf(out, cap, "%s/%s", d, name) < cap && access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/*
 * Runs argv[0] (a path) with argv, standard input from `input` (may be
 * NULL), standard output discarded and standard error kept in the scratch
 * folder. Returns 0 when it exited with status 0; otherwise says what it
 * printed and returns 1.
 */
static int bs_run(struct bs *b, char *const argv[], const char *input)
{
    char errpath[PATH_MAX + 16], msg[BS_ERR_MAX + 1];
    int in[2] = {-1, -1}, efd, status;
    pid_t pid;
    ssize_t n;

    snprintf(errpath, sizeof(errpath), "%s/tool.err", b->scratch);
    efd = open(errpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (efd < 0)
        return bs_fail(b, "cannot create %s: %s", errpath, strerror(errno));
    if (pipe2(in, O_CLOEXEC) < 0) {
        close(efd);
        return bs_fail(b, "cannot make a pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(in[0], 0) < 0 || dup2(nul, 1) < 0 || dup2(efd, 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    if (pid > 0)
        bs_child = pid;
    if (pid > 0 && bs_signal)
        kill(pid, SIGTERM); /* the signal came before bs_child was set */
    if (pid > 0 && input) {
        /* The inputs (an sfdisk script) are far below a pipe's buffer. */
        (void)!write(in[1], input, strlen(input));
    }
    close(in[1]);
    if (pid < 0) {
        close(efd);
        return bs_fail(b, "cannot start %s: %s", argv[0], strerror(errno));
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    bs_child = 0;
    if (bs_signal) {
        close(efd);
        return bs_fail(b, "stopped by %s; nothing was written", strsignal(bs_signal));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        close(efd);
        return 0;
    }
    n = pread(efd, msg, BS_ERR_MAX, 0);
    close(efd);
    msg[n > 0 ? n : 0] = '\0';
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    return bs_fail(b, "%s failed (%s %d)%s%s", argv[0], WIFEXITED(status) ? "status" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), n > 0 ? ": " : "",
                   msg);
}

/* Removes the tree at `path` without following links; bounded depth. */
static void rm_tree(const char *path, int depth)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char sub[PATH_MAX];

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode) && depth < 16 && (d = opendir(path))) {
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                (size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < sizeof(sub))
                rm_tree(sub, depth + 1);
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Copies regular file `from` to new file `to` with mode `mode`. */
static int copy_file(struct bs *b, const char *from, const char *to, mode_t mode)
{
    char buf[BS_COPY_CHUNK];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t n = 0;

    if (in < 0)
        return bs_fail(b, "cannot open %s: %s", from, strerror(errno));
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0) {
        close(in);
        return bs_fail(b, "cannot create %s: %s", to, strerror(errno));
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    close(in);
    if (close(out) < 0 || n < 0)
        return bs_fail(b, "cannot copy %s to %s: %s", from, to, strerror(errno));
    return 0;
}

/* Copies the folder tree `from` (regular files and folders, modes kept;
 * links and anything else refused) into new folder `to`. */
static int copy_tree(struct bs *b, const char *from, const char *to, int depth)
{
    char a[PATH_MAX], z[PATH_MAX];
    struct stat st;
    struct dirent *e;
    DIR *d;
    int rc = 0;

    if (stat(from, &st) != 0 || !S_ISDIR(st.st_mode))
        return bs_fail(b, "%s is not a folder", from);
    if (depth > 4)
        return bs_fail(b, "%s is nested too deep for a key bundle", from);
    if (mkdir(to, st.st_mode & 07777) < 0)
        return bs_fail(b, "cannot create %s: %s", to, strerror(errno));
    if (!(d = opendir(from)))
        return bs_fail(b, "cannot read %s: %s", from, strerror(errno));
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((size_t)snprintf(a, sizeof(a), "%s/%s", from, e->d_name) >= sizeof(a) ||
            (size_t)snprintf(z, sizeof(z), "%s/%s", to, e->d_name) >= sizeof(z)) {
            rc = bs_fail(b, "a path in %s is too long", from);
        } else if (lstat(a, &st) != 0) {
            rc = bs_fail(b, "cannot read %s: %s", a, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = copy_tree(b, a, z, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(b, a, z, st.st_mode & 0777);
        } else {
            rc = bs_fail(b, "%s is neither a file nor a folder: a key bundle holds only those", a);
        }
    }
    closedir(d);
    return rc;
}

/* The file's size, or -1 after saying it is missing. */
static long long file_size(struct bs *b, const char *path, const char *what)
{
    struct stat st;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        bs_fail(b, "%s %s is missing (%s)", what, path, errno ? strerror(errno) : "not a file");
        return -1;
    }
    return st.st_size;
}

/* Where the qemu-arm-virt boot files are: --boot-files, else next to an
 * installed kos-tool, else the build tree's (the device-aarch64 build). */
static const char *boot_files_dir(void)
{
    static char dir[PATH_MAX];
    const char *self = kos__tool_self_dir();
    struct stat st;

    if (self &&
        (size_t)snprintf(dir, sizeof(dir), "%s/%s", self, KOS_INSTALL_PLATFORMS_REL) <
            sizeof(dir) &&
        stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
    return KOS_BUILD_PLATFORMS_DIR;
}

/* Copies `len` bytes of file `from` into the disk `disk` at `offset`,
 * leaving all-zero chunks unwritten (the disk stays sparse). */
static int place(struct bs *b, int disk, const char *from, unsigned long long offset)
{
    static char buf[BS_COPY_CHUNK];
    static const char zero[BS_COPY_CHUNK];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    unsigned long long at = 0;
    ssize_t n;

    if (in < 0)
        return bs_fail(b, "cannot open %s: %s", from, strerror(errno));
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (memcmp(buf, zero, (size_t)n) != 0 &&
            pwrite(disk, buf, (size_t)n, (off_t)(offset + at)) != n) {
            n = -1;
            break;
        }
        at += (unsigned long long)n;
    }
    int e = errno;
    close(in);
    if (n < 0)
        return bs_fail(b, "cannot copy %s into the disk: %s", from, strerror(e));
    return 0;
}

static int bootstrap(struct bs *b)
{
    char p[8][PATH_MAX + 64], tmp_out[PATH_MAX + 8], err[1024], sz[32], script[512];
    const char *dir = b->boot_files ? b->boot_files : boot_files_dir();
    struct kos_image_open_opts io = {.trusted_keys = b->trust, .n_trusted_keys = b->n_trust};
    struct kos_store *store = NULL;
    long long kernel, initrd, image;
    unsigned boot_mib, data_mib, need_mib, total_mib;
    uint32_t gen;
    bool added;
    int disk, rc;

    for (int i = 0; i < BS_N_TOOLS; i++)
        if (!kos__tool_find_program(bs_tools[i].name, b->tools[i], sizeof(b->tools[i])))
            return bs_fail(b,
                           "%s is missing: install the Debian package %s "
                           "(scripts/install-deps.sh installs it)",
                           bs_tools[i].name, bs_tools[i].package);
    if (!b->force && access(b->out, F_OK) == 0)
        return bs_fail(b, "%s exists: give another --out, or --force to replace it", b->out);
    snprintf(p[0], sizeof(p[0]), "%s/Image", dir);
    snprintf(p[1], sizeof(p[1]), "%s/initramfs.cpio.gz", dir);
    if ((kernel = file_size(b, p[0], "the qemu-arm-virt kernel")) < 0 ||
        (initrd = file_size(b, p[1], "the qemu-arm-virt initramfs")) < 0) {
        fprintf(stderr,
                "kos-tool %s: the boot files come from the device build (the cross-aarch64 "
                "preset builds them, and the dev build in <build>/device-aarch64); give their "
                "folder with --boot-files DIR\n",
                BS_CMD);
        return 1;
    }
    if ((image = file_size(b, b->image, "the system image")) < 0)
        return 1;
    /* The store holds the image's blobs once, inflated: at most a few
     * times the zip; the rest of the minimum is the journal and apps. */
    boot_mib = (unsigned)(((unsigned long long)kernel + (unsigned long long)initrd) / BS_MIB) +
               BS_BOOT_SLACK;
    data_mib = (unsigned)((unsigned long long)image * 4 / BS_MIB) + BS_DATA_MIN;
    need_mib = BS_FIRST_MIB + boot_mib + data_mib;
    total_mib = b->size_mib ? b->size_mib : (need_mib > 128 ? need_mib : 128);
    if (total_mib < need_mib)
        return bs_fail(b,
                       "--size %u MiB is too small: this system needs at least %u MiB (boot "
                       "partition %u MiB, data partition %u MiB)",
                       total_mib, need_mib, boot_mib, data_mib);
    data_mib = total_mib - BS_FIRST_MIB - boot_mib;

    /* The scratch folder, beside the output (same file system). */
    char *slash = strrchr(b->out, '/');
    snprintf(b->scratch, sizeof(b->scratch), "%.*s.kos-bootstrap-XXXXXX",
             slash ? (int)(slash - b->out + 1) : 0, b->out);
    if (!mkdtemp(b->scratch)) {
        rc = bs_fail(b, "cannot create a scratch folder %s: %s", b->scratch, strerror(errno));
        b->scratch[0] = '\0';
        return rc;
    }

    if (bs_step(b, "verifying the image into the boot store"))
        return 1;
    snprintf(p[2], sizeof(p[2]), "%s/data", b->scratch);
    snprintf(p[3], sizeof(p[3]), "%s/data/store", b->scratch);
    snprintf(p[4], sizeof(p[4]), "%s/data/trust", b->scratch);
    if (mkdir(p[2], 0755) < 0 || mkdir(p[4], 0755) < 0)
        return bs_fail(b, "cannot create %s: %s", p[4], strerror(errno));
    if (kos_store_open(p[3], true, true, &store, err, sizeof(err)) != KOS_STATUS_OK)
        return bs_fail(b, "%s", err);
    rc = kos_store_import(store, b->image, &io, &gen, &added, err, sizeof(err)) != KOS_STATUS_OK;
    kos_store_close(store);
    if (rc) {
        bs_fail(b, "refusing image %s: %s", b->image, err);
        return 3;
    }
    for (size_t i = 0; i < b->n_trust; i++) {
        char id[2 * KOS__KEY_ID_LEN + 1];
        if (kos__key_id_of_public_file(b->trust[i], id, err, sizeof(err)) != KOS_STATUS_OK)
            return bs_fail(b, "%s", err);
        if ((size_t)snprintf(p[5], sizeof(p[5]), "%s/%s.pub", p[4], id) >= sizeof(p[5]))
            return bs_fail(b, "the scratch folder's path %s is too long", b->scratch);
        if (access(p[5], F_OK) != 0 && copy_file(b, b->trust[i], p[5], 0644))
            return 1;
    }

    if (bs_step(b, b->keys ? "copying the device's key bundle" : "making the device's key bundle"))
        return 1;
    snprintf(p[5], sizeof(p[5]), "%s/data/keys", b->scratch);
    if (b->keys) {
        static struct kos__bundle given;
        if (kos__key_bundle_read(b->keys, &given, err, sizeof(err)) != KOS_STATUS_OK)
            return bs_fail(b, "refusing key bundle %s: %s", b->keys, err);
        if (copy_tree(b, b->keys, p[5], 0))
            return 1;
    } else {
        char *argv[8 + 2 * BS_MAX_TRUST];
        int argc = 0;
        argv[argc++] = "keys.generate";
        argv[argc++] = "--device";
        argv[argc++] = "--out";
        argv[argc++] = p[5];
        for (size_t i = 0; i < b->n_trust; i++) {
            argv[argc++] = "--trust";
            argv[argc++] = (char *)b->trust[i];
        }
        if (b->server) {
            argv[argc++] = "--server";
            argv[argc++] = (char *)b->server;
        }
        if (b->name) {
            argv[argc++] = "--name";
            argv[argc++] = (char *)b->name;
        }
        argv[argc] = NULL;
        /* keys.generate's report names the scratch folder: the bundle's
         * key ids are said below instead. Its errors go to stderr. */
        fflush(stdout);
        int saved = dup(STDOUT_FILENO), nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (saved >= 0 && nul >= 0)
            dup2(nul, STDOUT_FILENO);
        rc = kos__tool_keys_generate(argc, argv);
        fflush(stdout);
        if (saved >= 0 && nul >= 0)
            dup2(saved, STDOUT_FILENO);
        if (saved >= 0)
            close(saved);
        if (nul >= 0)
            close(nul);
        if (rc != 0)
            return bs_fail(b, "the device's key bundle was not made (see above)");
    }
    static struct kos__bundle made;
    if (kos__key_bundle_read(p[5], &made, err, sizeof(err)) != KOS_STATUS_OK)
        return bs_fail(b, "the device's key bundle: %s", err);
    for (size_t i = 0; i < made.n; i++)
        if (!strcmp(made.e[i].name, "identity"))
            snprintf(b->identity, sizeof(b->identity), "%s", made.e[i].id);

    if (bs_step(b, "writing the U-Boot script"))
        return 1;
    snprintf(p[6], sizeof(p[6]), "%s/boot.cmd", b->scratch);
    snprintf(p[7], sizeof(p[7]), "%s/boot.scr", b->scratch);
    FILE *f = fopen(p[6], "w");
    if (!f)
        return bs_fail(b, "cannot create %s: %s", p[6], strerror(errno));
    fprintf(f,
            "# KOS on qemu-arm-virt (kos-tool bootstrap): loads the kernel and the initramfs\n"
            "# with KOS Core as PID 1 from this partition and boots them; kos-init mounts\n"
            "# the data partition kos.data names.\n"
            "echo KOS: loading the kernel and the initramfs from ${devtype} "
            "${devnum}:${distro_bootpart}\n"
            "setenv bootargs \"%s\"\n"
            "load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} Image\n"
            "load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} initramfs.cpio.gz\n"
            "booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}\n",
            BS_BOOTARGS);
    if (fclose(f) != 0)
        return bs_fail(b, "cannot write %s: %s", p[6], strerror(errno));
    char *mkimage[] = {
        b->tools[BS_MKIMAGE], "-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n",
        "KOS boot script",    "-d", p[6],    p[7], NULL};
    if (bs_run(b, mkimage, NULL))
        return 1;

    if (bs_step(b, "making the boot partition (FAT)"))
        return 1;
    char boot_img[PATH_MAX + 16], data_img[PATH_MAX + 16], kib[32];
    snprintf(boot_img, sizeof(boot_img), "%s/boot.vfat", b->scratch);
    snprintf(kib, sizeof(kib), "%u", boot_mib * 1024);
    char *mkvfat[] = {b->tools[BS_MKFS_VFAT], "-C", "-n", "KOS-BOOT", boot_img, kib, NULL};
    char *mcopy[] = {b->tools[BS_MCOPY], "-i", boot_img, p[0], p[1], p[7], p[6], "::", NULL};
    if (bs_run(b, mkvfat, NULL) || bs_run(b, mcopy, NULL))
        return 1;

    if (bs_step(b, "making the data partition (ext4)"))
        return 1;
    snprintf(data_img, sizeof(data_img), "%s/data.ext4", b->scratch);
    snprintf(sz, sizeof(sz), "%uM", data_mib);
    char *mkext4[] = {
        b->tools[BS_MKFS_EXT4], "-q", "-F", "-L", "kos-data", "-d", p[2], data_img, sz, NULL};
    if (bs_run(b, mkext4, NULL))
        return 1;

    if (bs_step(b, "writing the disk"))
        return 1;
    snprintf(tmp_out, sizeof(tmp_out), "%s.tmp", b->out);
    disk = open(tmp_out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (disk < 0)
        return bs_fail(b, "cannot create %s: %s", tmp_out, strerror(errno));
    if (ftruncate(disk, (off_t)((unsigned long long)total_mib * BS_MIB)) < 0) {
        rc = bs_fail(b, "cannot size %s to %u MiB: %s", tmp_out, total_mib, strerror(errno));
        goto out_disk;
    }
    snprintf(script, sizeof(script),
             "label: dos\n"
             "start=%u, size=%u, type=c, bootable\n"
             "start=%u, size=%u, type=83\n",
             BS_FIRST_MIB * 2048, boot_mib * 2048, (BS_FIRST_MIB + boot_mib) * 2048,
             data_mib * 2048);
    char *sfdisk[] = {b->tools[BS_SFDISK], "-q", "--no-reread", "--no-tell-kernel", tmp_out, NULL};
    if ((rc = bs_run(b, sfdisk, script)) ||
        (rc = place(b, disk, boot_img, (unsigned long long)BS_FIRST_MIB * BS_MIB)) ||
        (rc = place(b, disk, data_img, (unsigned long long)(BS_FIRST_MIB + boot_mib) * BS_MIB)))
        goto out_disk;
    if (fsync(disk) < 0) {
        rc = bs_fail(b, "cannot write %s: %s", tmp_out, strerror(errno));
        goto out_disk;
    }
    close(disk);
    disk = -1;
    if (bs_signal) {
        rc = bs_fail(b, "stopped by %s; nothing was written", strsignal(bs_signal));
        goto out_disk;
    }
    if (rename(tmp_out, b->out) < 0) {
        rc = bs_fail(b, "cannot rename %s to %s: %s", tmp_out, b->out, strerror(errno));
        goto out_disk;
    }
    if (b->progress)
        fputs("\r\033[K", stderr);
    printf("wrote %s (%u MiB): boot partition %u MiB (FAT: Image, initramfs.cpio.gz, boot.scr), "
           "data partition %u MiB (ext4 kos-data: the boot store with %s as generation %u, %zu "
           "trusted key%s, the device's key bundle%s: identity key %s)\n"
           "boot it with: kos-tool run --platform qemu-arm-virt %s\n",
           b->out, total_mib, boot_mib, data_mib, b->image, gen, b->n_trust,
           b->n_trust == 1 ? "" : "s", b->keys ? " from --keys" : "", b->identity, b->out);
    return 0;

out_disk:
    if (disk >= 0)
        close(disk);
    unlink(tmp_out);
    return rc;
}

static void bootstrap_usage(FILE *f)
{
    fprintf(
        f,
        "usage: kos-tool bootstrap IMAGE --platform qemu-arm-virt --out DISK --trust PUBKEY...\n"
        "                          [--keys DIR | --server studio [--name NAME]]\n"
        "                          [--size MIB] [--force] [--boot-files DIR]\n"
        "\n"
        "Writes a device's first disk image: a FAT boot partition (the kernel, the\n"
        "initramfs with KOS Core as PID 1, the U-Boot script boot.scr) and an ext4 data\n"
        "partition (the boot store with IMAGE as generation 1, the trusted release keys,\n"
        "the device's key bundle). Boot it with kos-tool run --platform qemu-arm-virt DISK.\n"
        "\n"
        "  --platform SPEC    the platform: qemu-arm-virt (qemu-arm-virt,arch=aarch64)\n"
        "  --out DISK         the disk image to write (refused if it exists)\n"
        "  --trust PUBKEY     a release public key the device trusts (repeatable); IMAGE\n"
        "                     must verify with one of them\n"
        "  --keys DIR         the device's key bundle (kos-tool keys.generate --device);\n"
        "                     without it a new bundle is made for this device\n"
        "  --server studio    register the new device with the local Studio server\n"
        "  --name NAME        the device's name at the server (with --server)\n"
        "  --size MIB         the disk's size in MiB (default 128, or what the system needs)\n"
        "  --force            replace an existing DISK\n"
        "  --boot-files DIR   the kernel (Image) and initramfs.cpio.gz to put on the boot\n"
        "                     partition (default: the SDK's, or the build tree's)\n"
        "  -h, --help         show this help\n"
        "\n"
        "Needs the Debian packages fdisk, dosfstools, mtools, u-boot-tools and e2fsprogs.\n"
        "Exit status: 0 written, 1 failed, 2 usage error, 3 image refused. See %s.\n",
        kos__tool_doc("boards.md"));
}

enum {
    OPT_PLATFORM,
    OPT_OUT,
    OPT_TRUST,
    OPT_KEYS,
    OPT_SERVER,
    OPT_NAME,
    OPT_SIZE,
    OPT_FORCE,
    OPT_BOOT_FILES
};

static const struct kos__opt bootstrap_opts[] = {
    {"platform", 0, "SPEC", OPT_PLATFORM},
    {"out", 'o', "DISK", OPT_OUT},
    {"trust", 0, "PUBKEY", OPT_TRUST},
    {"keys", 0, "DIR", OPT_KEYS},
    {"server", 0, "NAME", OPT_SERVER},
    {"name", 0, "NAME", OPT_NAME},
    {"size", 0, "MIB", OPT_SIZE},
    {"force", 0, NULL, OPT_FORCE},
    {"boot-files", 0, "DIR", OPT_BOOT_FILES},
};

int kos__tool_bootstrap(int argc, char **argv)
{
    struct bs b = {.progress = isatty(STDERR_FILENO)};
    const char *platform = NULL, *v;
    struct kos__opts p;
    unsigned long mib;
    int id, rc;

    kos__opts_init(&p, BS_CMD, argc, argv, bootstrap_opts,
                   sizeof(bootstrap_opts) / sizeof(bootstrap_opts[0]));
    while ((id = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (id) {
        case KOS__OPTS_HELP:
            bootstrap_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_PLATFORM:
            platform = v;
            break;
        case OPT_OUT:
            b.out = v;
            break;
        case OPT_TRUST:
            if (b.n_trust == BS_MAX_TRUST)
                return kos__opts_usage_error(&p, "at most %d --trust keys", BS_MAX_TRUST);
            b.trust[b.n_trust++] = v;
            break;
        case OPT_KEYS:
            b.keys = v;
            break;
        case OPT_SERVER:
            b.server = v;
            break;
        case OPT_NAME:
            b.name = v;
            break;
        case OPT_SIZE:
            if (!kos__opts_number(&p, "size", v, 1, BS_SIZE_MAX, "MiB", &mib))
                return 2;
            b.size_mib = (unsigned)mib;
            break;
        case OPT_FORCE:
            b.force = true;
            break;
        case OPT_BOOT_FILES:
            b.boot_files = v;
            break;
        case KOS__OPTS_ARG:
            if (b.image)
                return kos__opts_usage_error(&p, "more than one image given ('%s' and '%s')",
                                             b.image, v);
            b.image = v;
            break;
        }
    }
    if (!b.image)
        return kos__opts_usage_error(&p, "no image given: kos-tool bootstrap IMAGE.zip ...");
    if (!platform)
        return kos__opts_usage_error(&p, "no platform given: add --platform qemu-arm-virt");
    if (strcmp(platform, "qemu-arm-virt") != 0 &&
        strcmp(platform, "qemu-arm-virt,arch=aarch64") != 0)
        return kos__opts_usage_error(
            &p, "--platform takes qemu-arm-virt (qemu-arm-virt,arch=aarch64), not '%s'", platform);
    if (!b.out)
        return kos__opts_usage_error(&p, "no disk image given: add --out DISK");
    if (!b.n_trust)
        return kos__opts_usage_error(&p, "no --trust key given: the device must trust the key "
                                         "that signed the image");
    if (b.keys && (b.server || b.name))
        return kos__opts_usage_error(&p,
                                     "--keys names a bundle made already; --%s goes with "
                                     "making a new one",
                                     b.server ? "server" : "name");
    if (b.name && !b.server)
        return kos__opts_usage_error(&p, "--name goes with --server");
    /* The scratch folder goes whatever happens: a signal stops the tool
     * running, and bootstrap at its next step, and then ends kos-tool as
     * it would have. A tool that ends before reading its input (sfdisk's
     * script) is an error bs_run() reports, not a SIGPIPE. */
    struct sigaction sa = {.sa_handler = bs_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = bootstrap(&b);
    if (b.scratch[0])
        rm_tree(b.scratch, 0);
    if (bs_signal) {
        signal(bs_signal, SIG_DFL);
        raise(bs_signal);
    }
    return rc;
}
