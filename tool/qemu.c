/*
 * qemu.c - `kos-tool run --platform qemu-arm-virt DISK`: boots the disk
 * that `kos-tool bootstrap` wrote under qemu-system-aarch64, with Debian's
 * U-Boot for QEMU as its firmware (docs/boards.md).
 *
 * The machine: virt, 512 MiB, one CPU, the disk as virtio-blk, the
 * console (U-Boot's, the kernel's, then KOS's own lines) on standard
 * output. KVM when this host can run an arm64 guest with it (an arm64 host
 * whose /dev/kvm makes a VM), else QEMU's TCG emulation. The network is
 * QEMU's user-mode stack with restrict=on: the guest reaches nothing on
 * the host or beyond, except, when a local Studio server runs, its device
 * port (forwarded from 10.0.2.100 in the guest to the host's loopback, a
 * `kos-tool toolbox.relay` per connection: relay.c).
 *
 * The console passes through kos-tool, which reads the status kos-init
 * says Core ended with, so that kos-tool run exits as on sim: 0 when the
 * system ended cleanly, 1 when an app failed, 3 when the image was
 * refused, 5 when its self test failed.
 *
 * What stays true: Ctrl-C (SIGINT from the terminal, which QEMU receives
 * too) or SIGTERM/SIGHUP to kos-tool stop QEMU, and kos-tool returns when
 * QEMU has exited; kos-tool killed outright (SIGKILL) takes QEMU with it
 * (PR_SET_PDEATHSIG); a console that is gone stops neither; nothing else
 * is started.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "studio.h"
#include "tool_int.h"

#define QEMU_BIN      "qemu-system-aarch64"
#define QEMU_UBOOT    "/usr/lib/u-boot/qemu_arm64/u-boot.bin"
#define QEMU_MEMORY   "512"
#define QEMU_LINE_MAX 512 /* bytes of a console line looked at (kos-init's are short) */

static volatile sig_atomic_t qemu_pid;

static void forward(int sig)
{
    if (qemu_pid > 0)
        kill((pid_t)qemu_pid, sig);
}

/* True when KVM can run this arm64 guest: an arm64 host whose /dev/kvm
 * answers and makes a VM (a container's /dev/kvm may exist and refuse). */
static bool kvm_usable(const char **why)
{
    struct utsname u;
    int kvm, vm;

    if (uname(&u) != 0 || strcmp(u.machine, "aarch64") != 0) {
        *why = "KVM runs only guests of the host's own architecture";
        return false;
    }
    if ((kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0) {
        *why = "/dev/kvm cannot be opened";
        return false;
    }
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    close(kvm);
    if (vm < 0) {
        *why = "/dev/kvm refuses to make a VM";
        return false;
    }
    close(vm);
    return true;
}

/* Says why `disk` cannot be a bootstrapped disk (missing, a folder, a
 * system image, no partition table) and returns false. */
static bool disk_ok(const char *disk)
{
    unsigned char mbr[512];
    struct stat st;
    ssize_t n = 0;
    int fd;

    if (stat(disk, &st) != 0) {
        fprintf(stderr, "kos-tool run: cannot open disk image %s: %s\n", disk, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode) || (fd = open(disk, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "kos-tool run: %s is not a disk image file\n", disk);
        return false;
    }
    n = pread(fd, mbr, sizeof(mbr), 0);
    close(fd);
    if (n >= 2 && mbr[0] == 'P' && mbr[1] == 'K') {
        fprintf(stderr,
                "kos-tool run: %s is a system image, not a disk: make the device's disk with "
                "kos-tool bootstrap %s --platform qemu-arm-virt --out disk.img --trust PUBKEY\n",
                disk, disk);
        return false;
    }
    if (n != (ssize_t)sizeof(mbr) || mbr[510] != 0x55 || mbr[511] != 0xaa) {
        fprintf(stderr,
                "kos-tool run: %s has no partition table: give the disk kos-tool bootstrap "
                "wrote\n",
                disk);
        return false;
    }
    return true;
}

/* Copies QEMU's console (fd) to standard output as it comes, until QEMU
 * closes it, and returns the status kos-init said Core ended with in its
 * last line "<timestamp> kos-init: Core ended with status N", or -1 when
 * none came (the device stopped before, or was stopped). */
static int relay_console(int fd)
{
    static const char mark[] = " kos-init: Core ended with status ";
    char buf[4096], line[QEMU_LINE_MAX];
    size_t len = 0;
    int core = -1;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break; /* a console that is gone: QEMU goes on */
            off += w;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (len < sizeof(line) - 1)
                    line[len++] = buf[i];
                continue;
            }
            line[len] = '\0';
            char *at = strstr(line, mark);
            if (at)
                core = atoi(at + sizeof(mark) - 1);
            len = 0;
        }
    }
    return core;
}

int kos__tool_run_qemu(const char *disk)
{
    char drive[4096 + 64], netdev[4096 + 256], qemu[4096];
    const char *why = "";
    struct kos__tool_studio studio;
    char err[512];
    bool kvm;
    int status;

    if (!disk_ok(disk))
        return 2;
    if (!kos__tool_find_program(QEMU_BIN, qemu, sizeof(qemu))) {
        fprintf(stderr,
                "kos-tool run: %s is missing: install the Debian package qemu-system-arm "
                "(scripts/install-deps.sh installs it)\n",
                QEMU_BIN);
        return 4;
    }
    if (access(QEMU_UBOOT, R_OK) != 0) {
        fprintf(stderr,
                "kos-tool run: U-Boot for QEMU (%s) is missing: install the Debian package "
                "u-boot-qemu (scripts/install-deps.sh installs it)\n",
                QEMU_UBOOT);
        return 4;
    }
    kvm = kvm_usable(&why);
    if (!kvm)
        fprintf(stderr, "kos-tool run: %s; using QEMU's TCG emulation (slower)\n", why);
    snprintf(drive, sizeof(drive), "file=%s,format=raw,if=none,id=disk", disk);
    snprintf(netdev, sizeof(netdev), "user,id=net,restrict=on");
    if (kos__tool_studio_find(NULL, &studio, err, sizeof(err)) == KOS_STATUS_OK) {
        const char *colon = strrchr(studio.rt.device, ':');
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0)
            self[n] = '\0';
        /* Rebuilt while this one runs: the path names the new kos-tool. */
        if (n > 10 && strcmp(self + n - 10, " (deleted)") == 0)
            self[n - 10] = '\0';
        /* Each guest connection gets a relay of its own (cmd:, run without
         * a shell): the path is quoted for it, and may not hold what the
         * quoting or QEMU's option syntax would take apart. */
        if (n <= 0 || strpbrk(self, ",'\"\\")) {
            fprintf(stderr,
                    "kos-tool run: the guest cannot reach the Studio server: kos-tool's path "
                    "(%s) holds a comma or a quote\n",
                    n > 0 ? self : "unknown");
        } else if (colon) {
            size_t len = strlen(netdev);
            snprintf(netdev + len, sizeof(netdev) - len,
                     ",guestfwd=tcp:%s:%s-cmd:'%s' toolbox.relay %s", KOS__STUDIO_QEMU_GUEST,
                     colon + 1, self, studio.rt.device);
            fprintf(stderr, "kos-tool run: the guest reaches the Studio server at %s:%s\n",
                    KOS__STUDIO_QEMU_GUEST, colon + 1);
        }
    }
    char *argv[] = {qemu,
                    "-M",
                    "virt",
                    "-accel",
                    kvm ? "kvm" : "tcg",
                    "-cpu",
                    kvm ? "host" : "cortex-a53",
                    "-m",
                    QEMU_MEMORY,
                    "-smp",
                    "1",
                    "-bios",
                    QEMU_UBOOT,
                    "-drive",
                    drive,
                    "-device",
                    "virtio-blk-pci,drive=disk",
                    "-netdev",
                    netdev,
                    "-device",
                    "virtio-net-pci,netdev=net",
                    "-display",
                    "none",
                    "-monitor",
                    "none",
                    "-chardev",
                    "stdio,id=console,signal=on",
                    "-serial",
                    "chardev:console",
                    NULL};
    fflush(stdout);
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* Ctrl-C reaches QEMU from the terminal; kos-tool waits for it. A
     * console that is gone (a closed pipe) ends neither. */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    pid_t parent = getpid();
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0) {
        fprintf(stderr, "kos-tool run: cannot make a pipe: %s\n", strerror(errno));
        return 4;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "kos-tool run: cannot start %s: %s\n", QEMU_BIN, strerror(errno));
        return 4;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        /* QEMU never outlives kos-tool, even one killed outright: nothing
         * would be left to wait for it or to stop it. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
            _exit(127);
        dup2(out[1], STDOUT_FILENO);
        execv(qemu, argv);
        fprintf(stderr, "kos-tool run: cannot run %s: %s\n", qemu, strerror(errno));
        _exit(127);
    }
    qemu_pid = pid;
    close(out[1]);
    int core = relay_console(out[0]);
    close(out[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 4;
    qemu_pid = 0;
    if (WIFSIGNALED(status))
        return WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM ? 0 : 4;
    if (WEXITSTATUS(status) != 0)
        return 4;
    /* Powered off: the last boot's status, as kos-tool run's on sim. */
    return core >= 0 && core != KOS_CORE_EXIT_REBOOT ? core : 0;
}
