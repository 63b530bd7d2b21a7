/*
 * cmd_bootstrap.c - `kos-tool bootstrap`: a device's first disk, written to
 * a disk image or a whole block device (an SD card, an eMMC through a USB
 * reader), for one of the boards board.c knows (docs/boards.md).
 *
 * The disk has an MBR with two partitions: a FAT boot partition (the
 * kernel, the initramfs with KOS Core as PID 1, the U-Boot script boot.scr
 * that loads them, with its source boot.cmd, and what the board's boot ROM
 * and firmware read: U-Boot, firmware, config.txt, the device tree) and an
 * ext4 data partition labelled kos-data (store/: the boot store with the
 * image as generation 1; trust/: the trusted release keys; keys/: the
 * device's key bundle). A board whose ROM reads U-Boot from a raw offset
 * (the i.MX8M Mini's flash.bin at 33 KiB) has it there, before the boot
 * partition. Each partition is made as a file in a scratch folder with
 * Debian's tools (mkfs.vfat and mcopy, mkimage, mkfs.ext4 -d: no root, no
 * loop mounts), then copied into the disk at its offset; the partition
 * table (made by sfdisk on a scratch file) is written last.
 *
 * What stays true: nothing is written before the arguments, the tools and
 * every boot file were checked, the image verified and, for a block
 * device, the disk found safe to erase (not mounted, not held, not the
 * host's) and the erasure confirmed; a disk image is written to OUT.tmp
 * and renamed to OUT only when whole, and an existing OUT is replaced only
 * with --force; the scratch folder is removed whatever happens.
 */
#include <assert.h>
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

#include "blockdev_int.h"
#include "board_int.h"
#include "image_int.h"
#include "keys_int.h"
#include "opts_int.h"
#include "store.h"
#include "tool_int.h"

#define BS_CMD        "bootstrap"
#define BS_MAX_TRUST  8 /* release keys a device trusts (kos-init reads at most 8) */
#define BS_MIB        (1024ull * 1024)
#define BS_BOOT_SLACK 8u    /* MiB the boot partition keeps free beyond its files */
#define BS_DATA_MIN   32u   /* MiB: the smallest data partition (the journal, apps' data) */
#define BS_SIZE_MAX   65536 /* MiB: --size's bound, 64 GiB */
#define BS_COPY_CHUNK (1024u * 1024)
#define BS_ERR_MAX    2048 /* bytes of a failed tool's output that are shown */
#define BS_MAX_FILES  (6 + 2 * KOS__BOARD_MAX_FILES) /* files on a boot partition */

/* The Debian tools bootstrap runs, and the package each comes from. */
static const struct bs_tool {
    const char *name, *package;
} bs_tools[] = {
    {"sfdisk", "fdisk"},         {"mkfs.vfat", "dosfstools"}, {"mcopy", "mtools"},
    {"mkimage", "u-boot-tools"}, {"mkfs.ext4", "e2fsprogs"},
};
enum { BS_SFDISK, BS_MKFS_VFAT, BS_MCOPY, BS_MKIMAGE, BS_MKFS_EXT4, BS_N_TOOLS };

/* A file for the disk: its name on the boot partition, where it is. */
struct bs_file {
    const char *name;
    char path[PATH_MAX + 64];
    long long size;
};

struct bs {
    const char *image, *out, *keys, *server, *name, *boot_files, *u_boot;
    const struct kos__board *board;
    const char *trust[BS_MAX_TRUST];
    size_t n_trust;
    unsigned size_mib;
    bool force, yes;
    bool blk;                 /* out is a block device */
    struct kos__blockdev dev; /* what it is, when blk */
    char tools[BS_N_TOOLS][PATH_MAX];
    char scratch[PATH_MAX];                 /* the scratch folder, "" until made */
    bool progress;                          /* stdout is a terminal */
    char identity[2 * KOS__KEY_ID_LEN + 1]; /* the device's identity key id */
    int step;
    struct bs_file files[BS_MAX_FILES]; /* the boot partition's files */
    size_t n_files;
    struct bs_file raw;             /* U-Boot at a raw offset (name NULL: none) */
    unsigned long long done, total; /* bytes written to the disk, of total */
    int percent;                    /* the progress bar's last percentage */
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
    if (b->progress) {
        printf("\r\033[Kkos-tool %s: [%d/%d] %s", BS_CMD, b->step, BS_STEPS, what);
        fflush(stdout);
    }
    return 0;
}

/* Says what failed (after clearing the progress line) and returns 1. */
static int bs_fail(struct bs *b, const char *fmt, ...)
{
    va_list ap;

    if (b->progress && b->step) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
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

/* The folder of the board's own boot files: next to an installed kos-tool
 * (lib/kos/platforms/BOARD), else the build tree's (the device build of the
 * board's architecture: device-aarch64 or device-armhf). */
static void board_dir(const struct kos__board *board, char *dir, size_t cap)
{
    const char *self = kos__tool_self_dir();
    const char *arch = strstr(board->spec, ",arch=");
    struct stat st;

    if (self &&
        (size_t)snprintf(dir, cap, "%s/%s/%s", self, KOS_INSTALL_PLATFORMS_REL, board->name) <
            cap &&
        stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return;
    snprintf(dir, cap, "%s/%s",
             arch && !strcmp(arch, ",arch=armhf") ? KOS_BUILD_PLATFORMS_DIR_ARMHF
                                                  : KOS_BUILD_PLATFORMS_DIR,
             board->name);
}

/* Checks that f->path is a regular file bootstrap can read, and notes its
 * size. Returns 0, or 1 after saying what is wrong with it and where such
 * a file comes from. */
static int check_file(struct bs *b, struct bs_file *f, const char *what, const char *from)
{
    struct stat st;
    int fd;

    if (stat(f->path, &st) != 0) {
        int e = errno;
        bool elsewhere = b->boot_files && strcmp(what, "U-Boot") != 0;
        return bs_fail(b, "the %s %s %s is missing (%s)%s%s: it comes from %s", b->board->name,
                       what, f->path, strerror(e), elsewhere ? ", nor is it in --boot-files " : "",
                       elsewhere ? b->boot_files : "", from);
    }
    if (!S_ISREG(st.st_mode))
        return bs_fail(b, "the %s %s %s is not a file: it comes from %s", b->board->name, what,
                       f->path, from);
    if ((fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0)
        return bs_fail(b, "cannot read the %s %s %s: %s", b->board->name, what, f->path,
                       strerror(errno));
    close(fd);
    f->size = st.st_size;
    return 0;
}

/* Finds boot file `name` (the kernel, the initramfs, the device tree,
 * firmware): in --boot-files DIR when it is there, else in the board's
 * folder; adds it to the boot partition's files. */
static int add_boot_file(struct bs *b, const char *dir, const char *name, const char *what,
                         const char *from)
{
    struct bs_file *f = &b->files[b->n_files++];
    struct stat st;

    assert(b->n_files <= BS_MAX_FILES);
    f->name = name;
    snprintf(f->path, sizeof(f->path), "%s/%s", b->boot_files ? b->boot_files : dir, name);
    if (b->boot_files && stat(f->path, &st) != 0)
        snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
    return check_file(b, f, what, from);
}

/* Finds the board's U-Boot files: --u-boot FILE (a board with one U-Boot
 * file) or DIR, else the board's folder. Each lands on the boot partition,
 * or, for a board whose ROM reads it at a raw offset, there. */
static int add_u_boot(struct bs *b, const char *dir)
{
    const struct kos__board *bd = b->board;
    struct stat st;
    size_t n = 0;
    bool given_dir = b->u_boot && stat(b->u_boot, &st) == 0 && S_ISDIR(st.st_mode);

    while (n < KOS__BOARD_MAX_FILES && bd->u_boot[n])
        n++;
    if (b->u_boot && !given_dir && n > 1)
        return bs_fail(b,
                       "%s takes %zu U-Boot files (%s, %s): give the folder that holds them "
                       "with --u-boot DIR",
                       bd->name, n, bd->u_boot[0], bd->u_boot[1]);
    for (size_t i = 0; i < n; i++) {
        struct bs_file *f = bd->raw_kib ? &b->raw : &b->files[b->n_files++];
        assert(b->n_files <= BS_MAX_FILES && (!bd->raw_kib || n == 1));
        f->name = bd->u_boot[i];
        if (b->u_boot && !given_dir)
            snprintf(f->path, sizeof(f->path), "%s", b->u_boot);
        else
            snprintf(f->path, sizeof(f->path), "%s/%s", given_dir ? b->u_boot : dir, bd->u_boot[i]);
        if (check_file(b, f, "U-Boot", bd->u_boot_from))
            return 1;
    }
    if (bd->raw_kib && (unsigned long long)bd->raw_kib * 1024 + (unsigned long long)b->raw.size >
                           (unsigned long long)bd->first_mib * BS_MIB)
        return bs_fail(b,
                       "%s %s (%lld KiB) does not fit between %u KiB, where the boot ROM reads "
                       "it, and the boot partition at %u MiB",
                       bd->name, b->raw.path, b->raw.size / 1024, bd->raw_kib, bd->first_mib);
    return 0;
}

/* One progress bar on a terminal for the bytes written to the disk. */
static void bs_bar(struct bs *b, unsigned long long n)
{
    enum { WIDTH = 30 };
    int pct;

    b->done += n;
    if (!b->progress || !b->total)
        return;
    pct = (int)(b->done * 100 / b->total);
    if (pct == b->percent)
        return;
    b->percent = pct;
    printf("\r\033[Kkos-tool %s: [%d/%d] writing %s [", BS_CMD, b->step, BS_STEPS, b->out);
    for (int i = 0; i < WIDTH; i++)
        putchar(i < pct * WIDTH / 100 ? '#' : '-');
    printf("] %3d%% %llu/%llu MiB", pct, b->done / BS_MIB, b->total / BS_MIB);
    fflush(stdout);
}

/* Copies file `from` into the disk `disk` at `offset`. A disk image is
 * fresh (all zeros) and stays sparse: all-zero chunks are not written; a
 * block device holds what was there before, so every byte is. */
static int place(struct bs *b, int disk, const char *from, unsigned long long offset)
{
    static char buf[BS_COPY_CHUNK], zero[BS_COPY_CHUNK];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    unsigned long long at = 0;
    ssize_t n;

    if (in < 0)
        return bs_fail(b, "cannot open %s: %s", from, strerror(errno));
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if ((b->blk || memcmp(buf, zero, (size_t)n) != 0) &&
            pwrite(disk, buf, (size_t)n, (off_t)(offset + at)) != n) {
            n = -1;
            break;
        }
        at += (unsigned long long)n;
        bs_bar(b, (unsigned long long)n);
        if (bs_signal) {
            close(in);
            if (b->blk)
                return bs_fail(b,
                               "stopped by %s while writing %s: it is partly written; "
                               "bootstrap it again",
                               strsignal(bs_signal), b->out);
            return bs_fail(b, "stopped by %s; nothing was written", strsignal(bs_signal));
        }
    }
    int e = errno;
    close(in);
    if (n < 0)
        return bs_fail(b, "cannot copy %s into %s: %s", from, b->out, strerror(e));
    return 0;
}

/* Zeroes `len` bytes of a block device at `offset`: the old partition
 * table and what else a tool probing the disk could mistake for ours. */
static int zero_range(struct bs *b, int disk, unsigned long long offset, unsigned long long len)
{
    static char zero[BS_COPY_CHUNK];

    for (unsigned long long at = 0; at < len; at += sizeof(zero)) {
        size_t n = len - at < sizeof(zero) ? (size_t)(len - at) : sizeof(zero);
        if (pwrite(disk, zero, n, (off_t)(offset + at)) != (ssize_t)n)
            return bs_fail(b, "cannot write %s: %s", b->out, strerror(errno));
    }
    return 0;
}

/* Shows what erasing the block device destroys, and asks on the terminal
 * unless --yes. Returns 0 to go on, else 1 after saying why not. */
static int confirm_erase(struct bs *b)
{
    char answer[16];

    printf("kos-tool %s: this erases the whole of %s:\n"
           "  model: %s\n"
           "  size: %llu MiB (%llu bytes)\n"
           "  partitions now:\n%s",
           BS_CMD, b->out, b->dev.model, b->dev.bytes / BS_MIB, b->dev.bytes,
           b->dev.parts[0] ? b->dev.parts : "  (none)\n");
    if (b->yes) {
        fflush(stdout);
        return 0;
    }
    if (!isatty(STDIN_FILENO))
        return bs_fail(b,
                       "refusing to erase %s without asking, and there is no terminal to ask "
                       "on: give --yes to erase it",
                       b->out);
    printf("Type yes to erase %s: ", b->out);
    fflush(stdout);
    if (!fgets(answer, sizeof(answer), stdin) || strcmp(answer, "yes\n") != 0)
        return bs_fail(b, "%s was not erased (the answer was not yes)", b->out);
    return 0;
}

/* Writes the U-Boot script for the board into boot.cmd and boot.scr. */
static int write_script(struct bs *b, const char *cmd, const char *scr)
{
    const struct kos__board *bd = b->board;
    const char *part = "${devtype} ${devnum}:${distro_bootpart}";
    FILE *f = fopen(cmd, "w");

    if (!f)
        return bs_fail(b, "cannot create %s: %s", cmd, strerror(errno));
    fprintf(f,
            "# KOS on %s (kos-tool bootstrap --platform %s): loads the kernel%s and\n"
            "# the initramfs with KOS Core as PID 1 from this partition and boots them;\n"
            "# kos-init mounts the data partition kos.data names.\n"
            "echo KOS: loading the kernel and the initramfs from %s\n"
            "setenv bootargs \"%s\"\n"
            "load %s ${kernel_addr_r} %s\n",
            bd->what, bd->name, bd->load_dtb ? ", the device tree" : "", part, bd->bootargs, part,
            bd->kernel);
    if (bd->ramdisk_addr)
        fprintf(f, "if test -z \"${ramdisk_addr_r}\"; then setenv ramdisk_addr_r %s; fi\n",
                bd->ramdisk_addr);
    if (bd->load_dtb)
        fprintf(f, "load %s ${fdt_addr_r} %s\n", part, bd->dtb);
    fprintf(f,
            "load %s ${ramdisk_addr_r} initramfs.cpio.gz\n"
            "%s ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} %s\n",
            part, bd->boot_cmd, bd->fdt);
    if (fclose(f) != 0)
        return bs_fail(b, "cannot write %s: %s", cmd, strerror(errno));
    char *mkimage[] = {b->tools[BS_MKIMAGE],
                       "-A",
                       (char *)bd->mkimage_arch,
                       "-O",
                       "linux",
                       "-T",
                       "script",
                       "-C",
                       "none",
                       "-n",
                       "KOS boot script",
                       "-d",
                       (char *)cmd,
                       (char *)scr,
                       NULL};
    return bs_run(b, mkimage, NULL);
}

/* Writes the partitions, the raw U-Boot and the partition table into the
 * disk image or block device. */
static int write_disk(struct bs *b, const char *boot_img, const char *data_img, unsigned total_mib,
                      unsigned boot_mib, unsigned data_mib)
{
    const struct kos__board *bd = b->board;
    char tmp_out[PATH_MAX + 8], table[PATH_MAX + 16], script[512], mbr[512];
    unsigned long long boot_at = (unsigned long long)bd->first_mib * BS_MIB,
                       data_at = boot_at + (unsigned long long)boot_mib * BS_MIB;
    int disk = -1, rc = 1, fd, e;

    /* The partition table, made by sfdisk on a scratch file of the disk's
     * size, whose first sector (the MBR) is written last. */
    snprintf(table, sizeof(table), "%s/table.img", b->scratch);
    if ((fd = open(table, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
        ftruncate(fd, (off_t)((unsigned long long)total_mib * BS_MIB)) < 0) {
        e = errno;
        if (fd >= 0)
            close(fd);
        return bs_fail(b, "cannot create %s: %s", table, strerror(e));
    }
    snprintf(script, sizeof(script),
             "label: dos\n"
             "start=%u, size=%u, type=c, bootable\n"
             "start=%u, size=%u, type=83\n",
             bd->first_mib * 2048, boot_mib * 2048, (bd->first_mib + boot_mib) * 2048,
             data_mib * 2048);
    char *sfdisk[] = {b->tools[BS_SFDISK], "-q", "--no-reread", "--no-tell-kernel", table, NULL};
    if (bs_run(b, sfdisk, script)) {
        close(fd);
        return 1;
    }
    if (pread(fd, mbr, sizeof(mbr), 0) != (ssize_t)sizeof(mbr)) {
        e = errno;
        close(fd);
        return bs_fail(b, "cannot read the partition table sfdisk made in %s: %s", table,
                       strerror(e));
    }
    close(fd);

    b->total = (unsigned long long)(boot_mib + data_mib) * BS_MIB +
               (unsigned long long)(b->raw.name ? b->raw.size : 0);
    if (b->blk) {
        /* O_EXCL: the kernel refuses while anything mounts or holds it. */
        disk = open(b->out, O_RDWR | O_EXCL | O_CLOEXEC);
        if (disk < 0)
            return bs_fail(b, "cannot open %s for writing: %s", b->out,
                           errno == EBUSY ? "it is in use (mounted, or held by the kernel)"
                                          : strerror(errno));
        if (zero_range(b, disk, 0, boot_at) ||
            zero_range(b, disk, b->dev.bytes - BS_MIB, BS_MIB)) /* a GPT's backup header */
            goto out_disk;
    } else {
        snprintf(tmp_out, sizeof(tmp_out), "%s.tmp", b->out);
        disk = open(tmp_out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (disk < 0)
            return bs_fail(b, "cannot create %s: %s", tmp_out, strerror(errno));
        if (ftruncate(disk, (off_t)((unsigned long long)total_mib * BS_MIB)) < 0) {
            bs_fail(b, "cannot size %s to %u MiB: %s", tmp_out, total_mib, strerror(errno));
            goto out_disk;
        }
    }
    if ((b->raw.name && place(b, disk, b->raw.path, (unsigned long long)bd->raw_kib * 1024)) ||
        place(b, disk, boot_img, boot_at) || place(b, disk, data_img, data_at))
        goto out_disk;
    if (pwrite(disk, mbr, sizeof(mbr), 0) != (ssize_t)sizeof(mbr) || fsync(disk) < 0) {
        bs_fail(b, "cannot write %s: %s", b->out, strerror(errno));
        goto out_disk;
    }
    if (b->blk) {
        if ((e = kos__blockdev_reread(disk)) != 0) {
            if (b->progress)
                fputs("\r\033[K", stdout);
            fprintf(stderr,
                    "kos-tool %s: warning: the kernel did not read %s's new partition table "
                    "(%s); unplug it and plug it in again to see its partitions\n",
                    BS_CMD, b->out, strerror(e));
        }
        rc = 0;
        goto out_disk;
    }
    close(disk);
    disk = -1;
    if (bs_signal) {
        bs_fail(b, "stopped by %s; nothing was written", strsignal(bs_signal));
        goto out_disk;
    }
    if (rename(tmp_out, b->out) < 0) {
        bs_fail(b, "cannot rename %s to %s: %s", tmp_out, b->out, strerror(errno));
        goto out_disk;
    }
    return 0;

out_disk:
    if (disk >= 0)
        close(disk);
    if (!b->blk && rc)
        unlink(tmp_out);
    return rc;
}

static int bootstrap(struct bs *b)
{
    const struct kos__board *bd = b->board;
    char p[8][PATH_MAX + 64], dir[PATH_MAX], err[1024], sz[32];
    struct kos_image_open_opts io = {.trusted_keys = b->trust, .n_trusted_keys = b->n_trust};
    struct kos_store *store = NULL;
    long long image, boot_bytes = 0;
    unsigned boot_mib, data_mib, need_mib, total_mib;
    uint32_t gen;
    bool added;
    int rc;

    for (int i = 0; i < BS_N_TOOLS; i++)
        if (!kos__tool_find_program(bs_tools[i].name, b->tools[i], sizeof(b->tools[i])))
            return bs_fail(b,
                           "%s is missing: install the Debian package %s "
                           "(scripts/install-deps.sh installs it)",
                           bs_tools[i].name, bs_tools[i].package);
    if (b->blk) {
        if (kos__blockdev_inspect(b->out, &b->dev, err, sizeof(err)))
            return bs_fail(b, "refusing to write %s: %s; nothing was written", b->out, err);
    } else if (!b->force && access(b->out, F_OK) == 0) {
        return bs_fail(b, "%s exists: give another --out, or --force to replace it", b->out);
    }

    /* Every file the disk needs, found and readable before anything else. */
    board_dir(bd, dir, sizeof(dir));
    if (add_boot_file(b, dir, bd->kernel, "kernel", bd->kernel_from) ||
        add_boot_file(b, dir, "initramfs.cpio.gz", "initramfs", bd->kernel_from))
        return 1;
    if (bd->dtb && add_boot_file(b, dir, bd->dtb, "device tree", bd->dtb_from))
        return 1;
    for (size_t i = 0; i < KOS__BOARD_MAX_FILES && bd->firmware[i]; i++)
        if (add_boot_file(b, dir, bd->firmware[i], "firmware", bd->firmware_from))
            return 1;
    if (add_u_boot(b, dir))
        return 1;
    for (size_t i = 0; i < b->n_files; i++)
        boot_bytes += b->files[i].size;
    if ((image = file_size(b, b->image, "the system image")) < 0)
        return 1;

    /* The store holds the image's blobs once, inflated: at most a few
     * times the zip; the rest of the minimum is the journal and apps. */
    boot_mib = (unsigned)((unsigned long long)boot_bytes / BS_MIB) + BS_BOOT_SLACK;
    if (boot_mib < bd->boot_min_mib)
        boot_mib = bd->boot_min_mib;
    data_mib = (unsigned)((unsigned long long)image * 4 / BS_MIB) + BS_DATA_MIN;
    need_mib = bd->first_mib + boot_mib + data_mib;
    if (b->blk) {
        unsigned dev_mib = (unsigned)(b->dev.bytes / BS_MIB);
        if (dev_mib < need_mib + 1) /* its last MiB is left alone (a GPT's backup) */
            return bs_fail(b,
                           "%s (%u MiB) is too small: this system needs at least %u MiB (boot "
                           "partition %u MiB, data partition %u MiB); nothing was written",
                           b->out, dev_mib, need_mib + 1, boot_mib, data_mib);
        if (b->size_mib > dev_mib - 1)
            return bs_fail(b, "--size %u MiB is more than %s holds (%u MiB)", b->size_mib, b->out,
                           dev_mib - 1);
        total_mib = b->size_mib ? b->size_mib : dev_mib - 1;
    } else {
        total_mib = b->size_mib ? b->size_mib : (need_mib > 128 ? need_mib : 128);
    }
    if (total_mib < need_mib)
        return bs_fail(b,
                       "--size %u MiB is too small: this system needs at least %u MiB (boot "
                       "partition %u MiB, data partition %u MiB)",
                       total_mib, need_mib, boot_mib, data_mib);
    data_mib = total_mib - bd->first_mib - boot_mib;
    if (b->blk && confirm_erase(b))
        return 1;

    /* The scratch folder: beside a disk image (the same file system), in
     * TMPDIR for a block device. */
    if (b->blk) {
        const char *tmp = getenv("TMPDIR");
        snprintf(b->scratch, sizeof(b->scratch), "%s/kos-bootstrap-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
    } else {
        char *slash = strrchr(b->out, '/');
        snprintf(b->scratch, sizeof(b->scratch), "%.*s.kos-bootstrap-XXXXXX",
                 slash ? (int)(slash - b->out + 1) : 0, b->out);
    }
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
        char *argv[12 + 2 * BS_MAX_TRUST];
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
        if (b->server && b->board->studio_host) {
            argv[argc++] = "--reach";
            argv[argc++] = (char *)b->board->studio_host;
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
    if (write_script(b, p[6], p[7]))
        return 1;
    struct bs_file *f = &b->files[b->n_files];
    f[0].name = "boot.scr";
    snprintf(f[0].path, sizeof(f[0].path), "%s", p[7]);
    f[1].name = "boot.cmd";
    snprintf(f[1].path, sizeof(f[1].path), "%s", p[6]);
    b->n_files += 2;
    if (bd->config_txt) {
        f[2].name = "config.txt";
        snprintf(f[2].path, sizeof(f[2].path), "%s/config.txt", b->scratch);
        FILE *c = fopen(f[2].path, "w");
        if (!c || fputs(bd->config_txt, c) < 0 || fclose(c) != 0)
            return bs_fail(b, "cannot write %s: %s", f[2].path, strerror(errno));
        b->n_files++;
    }
    assert(b->n_files <= BS_MAX_FILES);

    if (bs_step(b, "making the boot partition (FAT)"))
        return 1;
    char boot_img[PATH_MAX + 16], data_img[PATH_MAX + 16], kib[32], to[64];
    snprintf(boot_img, sizeof(boot_img), "%s/boot.vfat", b->scratch);
    snprintf(kib, sizeof(kib), "%u", boot_mib * 1024);
    char *mkvfat[] = {
        b->tools[BS_MKFS_VFAT], "-C", "-n", "KOS-BOOT", boot_img, kib, NULL, NULL, NULL};
    if (bd->fat32) { /* -F 32 before the file's name */
        memmove(&mkvfat[5], &mkvfat[3], 4 * sizeof(char *));
        mkvfat[1] = "-F";
        mkvfat[2] = "32";
        mkvfat[3] = "-C";
        mkvfat[4] = "-n";
        mkvfat[5] = "KOS-BOOT";
    }
    if (bs_run(b, mkvfat, NULL))
        return 1;
    for (size_t i = 0; i < b->n_files; i++) {
        snprintf(to, sizeof(to), "::%s", b->files[i].name);
        char *mcopy[] = {b->tools[BS_MCOPY], "-i", boot_img, b->files[i].path, to, NULL};
        if (bs_run(b, mcopy, NULL))
            return 1;
    }

    if (bs_step(b, "making the data partition (ext4)"))
        return 1;
    snprintf(data_img, sizeof(data_img), "%s/data.ext4", b->scratch);
    snprintf(sz, sizeof(sz), "%uM", data_mib);
    char *mkext4[] = {
        b->tools[BS_MKFS_EXT4], "-q", "-F", "-L", "kos-data", "-d", p[2], data_img, sz, NULL};
    if (bs_run(b, mkext4, NULL))
        return 1;

    if (bs_step(b, b->blk ? "writing the device" : "writing the disk"))
        return 1;
    if ((rc = write_disk(b, boot_img, data_img, total_mib, boot_mib, data_mib)))
        return rc;
    if (b->progress) {
        fputs("\r\033[K", stdout);
        fflush(stdout);
    }
    printf("wrote %s (%u MiB) for %s: boot partition %u MiB (FAT:", b->out, total_mib, bd->name,
           boot_mib);
    for (size_t i = 0; i < b->n_files; i++)
        printf("%s %s", i ? "," : "", b->files[i].name);
    if (b->raw.name)
        printf("; %s at %u KiB", b->raw.name, bd->raw_kib);
    printf("), data partition %u MiB (ext4 kos-data: the boot store with %s as generation %u, "
           "%zu trusted key%s, the device's key bundle%s: identity key %s)\n",
           data_mib, b->image, gen, b->n_trust, b->n_trust == 1 ? "" : "s",
           b->keys ? " from --keys" : "", b->identity);
    if (!strcmp(bd->name, "qemu-arm-virt") && !b->blk)
        printf("boot it with: kos-tool run --platform qemu-arm-virt %s\n", b->out);
    return 0;
}

static void bootstrap_usage(FILE *f)
{
    char names[256];

    kos__board_names(names, sizeof(names));
    fprintf(f,
            "usage: kos-tool bootstrap IMAGE --platform BOARD --out DISK --trust PUBKEY...\n"
            "                          [--keys DIR | --server studio [--name NAME]]\n"
            "                          [--size MIB] [--force] [--yes]\n"
            "                          [--boot-files DIR] [--u-boot FILE|DIR]\n"
            "\n"
            "Writes a device's first disk, as a disk image or onto a block device (an SD\n"
            "card, an eMMC through a USB reader): a FAT boot partition (the kernel, the\n"
            "initramfs with KOS Core as PID 1, the U-Boot script boot.scr, and what the\n"
            "board's boot ROM and firmware read) and an ext4 data partition (the boot store\n"
            "with IMAGE as generation 1, the trusted release keys, the device's key bundle).\n"
            "Boot a qemu-arm-virt disk with kos-tool run --platform qemu-arm-virt DISK.\n"
            "\n"
            "  --platform BOARD   the board: %s\n"
            "  --out DISK         the disk image to write (refused if it exists), or a whole\n"
            "                     block device (/dev/sdX, /dev/mmcblkN) to erase: refused\n"
            "                     when mounted, in use or the host's own; asks first\n"
            "  --trust PUBKEY     a release public key the device trusts (repeatable); IMAGE\n"
            "                     must verify with one of them\n"
            "  --keys DIR         the device's key bundle (kos-tool keys.generate --device);\n"
            "                     without it a new bundle is made for this device\n"
            "  --server studio    register the new device with the local Studio server\n"
            "  --name NAME        the device's name at the server (with --server)\n"
            "  --size MIB         the disk's size in MiB (default 128, or what the system\n"
            "                     needs; on a block device, all of it)\n"
            "  --force            replace an existing disk image DISK\n"
            "  --yes              erase the block device DISK without asking\n"
            "  --boot-files DIR   a folder of boot files to take first: the kernel (Image, or\n"
            "                     zImage on am335x), initramfs.cpio.gz, the device tree, the\n"
            "                     firmware (rpi4: start4.elf, fixup4.dat); the rest come from\n"
            "                     the board's folder (the SDK's, or the build tree's)\n"
            "  --u-boot FILE|DIR  the board's U-Boot (imx8mm-evk, portenta-x8: flash.bin;\n"
            "                     am335x: a folder with MLO and u-boot.img); default: Debian's,\n"
            "                     which the device build fetches for rpi4 and am335x\n"
            "  -h, --help         show this help\n"
            "\n"
            "Needs the Debian packages fdisk, dosfstools, mtools, u-boot-tools and e2fsprogs.\n"
            "Exit status: 0 written, 1 failed, 2 usage error, 3 image refused. See %s.\n",
            names, kos__tool_doc("boards.md"));
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
    OPT_BOOT_FILES,
    OPT_U_BOOT,
    OPT_YES
};

static const struct kos__opt bootstrap_opts[] = {
    {"platform", 0, "BOARD", OPT_PLATFORM},
    {"out", 'o', "DISK", OPT_OUT},
    {"trust", 0, "PUBKEY", OPT_TRUST},
    {"keys", 0, "DIR", OPT_KEYS},
    {"server", 0, "NAME", OPT_SERVER},
    {"name", 0, "NAME", OPT_NAME},
    {"size", 0, "MIB", OPT_SIZE},
    {"force", 0, NULL, OPT_FORCE},
    {"boot-files", 0, "DIR", OPT_BOOT_FILES},
    {"u-boot", 0, "FILE", OPT_U_BOOT},
    {"yes", 'y', NULL, OPT_YES},
};

int kos__tool_bootstrap(int argc, char **argv)
{
    struct bs b = {.progress = isatty(STDOUT_FILENO), .percent = -1};
    char names[256];
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
        case OPT_U_BOOT:
            b.u_boot = v;
            break;
        case OPT_YES:
            b.yes = true;
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
    kos__board_names(names, sizeof(names));
    if (!(b.board = kos__board_find(platform)))
        return kos__opts_usage_error(&p, "--platform takes one of the boards %s; not '%s'", names,
                                     platform);
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
    b.blk = kos__blockdev_is(b.out);
    if (!b.blk && !strncmp(b.out, "/dev/", 5)) {
        /* Never a disk image file in /dev: a card that is not plugged in
         * would otherwise become one. */
        fprintf(stderr,
                "kos-tool %s: %s is not a block device (is the card plugged in? lsblk lists "
                "the disks); nothing was written\n",
                BS_CMD, b.out);
        return 1;
    }
    if (b.blk && b.force)
        return kos__opts_usage_error(&p,
                                     "--force goes with a disk image; %s is a block device "
                                     "(--yes erases it without asking)",
                                     b.out);
    if (b.yes && !b.blk)
        return kos__opts_usage_error(&p, "--yes goes with a block device; %s is not one", b.out);
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
