/*
 * device.c - the `qemu-arm-virt` device platform (core/platform.h): KOS
 * Core as PID 1 of a Linux kernel, started from the initramfs that
 * `kos-tool bootstrap` puts on the boot partition.
 *
 * Start-up mounts the pseudo file systems, makes /dev/console the console,
 * loads the kernel modules the initramfs lists in /lib/modules/kos/order
 * (in that order: each after those it depends on), waits for the data
 * partition (kos.data= on the kernel command line, else /dev/vda2) and
 * mounts it on /data, which holds (docs/boards.md):
 *
 *   store/      the boot store (manifest/store.h)
 *   trust/<id>.pub the release public keys the device trusts
 *   keys/       the device's key bundle (kos-tool keys.generate --device)
 *   apps/       the apps' data directories
 *
 * What stays true: every wait is bounded; a failure is said on the console
 * with what was missing and where; the machine is then powered off rather
 * than PID 1 exiting (which would panic the kernel).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "console_int.h"
#include "platform.h"

#define DEVICE_DATA_DEFAULT "/dev/vda2"
#define DEVICE_DATA_MOUNT   "/data"
#define DEVICE_MODULES_DIR  "/lib/modules/kos"
#define DEVICE_MODULES_MAX  32    /* modules the order file may list */
#define DEVICE_WAIT_MS      60000 /* for the data partition to appear: TCG is slow */
#define DEVICE_NET_WAIT_MS  10000 /* for the network interface kos.net= configures */
#define DEVICE_NET_IF       "eth0"
/* The descriptor limit PID 1 gets (the kernel starts it at 1024/4096):
 * systemd's, so that a sandboxed binary can sit at fd max_files (up to the
 * manifest's KOS__MF_MAX_FILES) below Core's own limit, as on sim. */
#define DEVICE_NOFILE 524288

static struct kos__console device_con = {.fd = STDOUT_FILENO, .file_fd = -1};

#define say(...) kos__console_printf(&device_con, "kos-init", __VA_ARGS__)

void kos__platform_say(const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    say("%s", line);
}

const char *kos__platform_name(void)
{
    return "qemu-arm-virt";
}

/* Mounts a pseudo file system on `dir`, making dir; an already mounted one
 * (EBUSY) is fine. */
static int mount_pseudo(const char *src, const char *dir, const char *type, unsigned long flags,
                        const char *data)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        say("cannot make %s: %s", dir, strerror(errno));
        return -1;
    }
    if (mount(src, dir, type, flags, data) < 0 && errno != EBUSY) {
        say("cannot mount %s on %s: %s", type, dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* pivot_root(2), which every sandbox uses, refuses a root that is the
 * initramfs's own rootfs (a mount without a parent). So / becomes a bind
 * mount of itself, moved over the rootfs, as switch_root would put a new
 * file system there; the files stay where they are, nothing is copied. */
static int leave_rootfs(void)
{
    if (mkdir("/.root", 0700) < 0 && errno != EEXIST)
        return -1;
    if (mount("/", "/.root", NULL, MS_BIND, NULL) < 0 || chdir("/.root") < 0 ||
        mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
        return -1;
    return 0;
}

/* Makes /dev/console standard input, output and error. */
static void open_console(void)
{
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0)
        return; /* the kernel's own console fds are still there */
    for (int i = 0; i < 3; i++)
        dup2(fd, i);
    if (fd > 2)
        close(fd);
}

/* The value of `key=` on the kernel command line into out, or def. */
static void cmdline_get(const char *key, const char *def, char *out, size_t cap)
{
    char line[4096];
    size_t klen = strlen(key);
    ssize_t n = 0;
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

    snprintf(out, cap, "%s", def);
    if (fd >= 0) {
        n = read(fd, line, sizeof(line) - 1);
        close(fd);
    }
    if (n <= 0)
        return;
    line[n] = '\0';
    for (char *save = NULL, *w = strtok_r(line, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
        if (strncmp(w, key, klen) == 0 && w[klen] == '=' && w[klen + 1] != '\0')
            snprintf(out, cap, "%s", w + klen + 1);
}

/* Loads the modules /lib/modules/kos/order lists, in order. One already
 * loaded (or built in) is fine. */
static int load_modules(void)
{
    char list[DEVICE_MODULES_MAX * 64], path[128];
    int fd = open(DEVICE_MODULES_DIR "/order", O_RDONLY | O_CLOEXEC);
    ssize_t n;
    int loaded = 0;

    if (fd < 0)
        return 0; /* a kernel with everything built in */
    n = read(fd, list, sizeof(list) - 1);
    close(fd);
    if (n < 0) {
        say("cannot read %s/order: %s", DEVICE_MODULES_DIR, strerror(errno));
        return -1;
    }
    list[n] = '\0';
    for (char *save = NULL, *m = strtok_r(list, "\n", &save); m; m = strtok_r(NULL, "\n", &save)) {
        snprintf(path, sizeof(path), "%s/%.64s.ko", DEVICE_MODULES_DIR, m);
        int mfd = open(path, O_RDONLY | O_CLOEXEC);
        if (mfd < 0) {
            say("cannot open module %s: %s", path, strerror(errno));
            return -1;
        }
        long r = syscall(SYS_finit_module, mfd, "", 0);
        int e = errno;
        close(mfd);
        if (r < 0 && e != EEXIST) {
            say("cannot load module %s: %s", path, strerror(e));
            return -1;
        }
        loaded++;
    }
    say("loaded %d kernel modules", loaded);
    return 0;
}

/* Waits, at most DEVICE_WAIT_MS, for block device `dev` to appear. */
static int wait_device(const char *dev)
{
    struct timespec tick = {0, 50 * 1000000L};
    struct stat st;

    for (int waited = 0; waited < DEVICE_WAIT_MS; waited += 50) {
        if (stat(dev, &st) == 0 && S_ISBLK(st.st_mode))
            return 0;
        nanosleep(&tick, NULL);
    }
    say("the data partition %s did not appear in %d s (kos.data= on the kernel command line "
        "names it)",
        dev, DEVICE_WAIT_MS / 1000);
    return -1;
}

/* The trusted keys: every *.pub in /data/trust, at most as many as fit. */
static int find_trust(struct kos__platform_boot *b)
{
    DIR *d = opendir(DEVICE_DATA_MOUNT "/trust");
    struct dirent *e;
    size_t cap = sizeof(b->trust) / sizeof(b->trust[0]);

    if (!d) {
        say("no trusted release keys: cannot open %s/trust: %s", DEVICE_DATA_MOUNT,
            strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) && b->n_trust < cap) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".pub") == 0)
            snprintf(b->trust[b->n_trust++], sizeof(b->trust[0]), "%s/trust/%.200s",
                     DEVICE_DATA_MOUNT, e->d_name);
    }
    closedir(d);
    if (b->n_trust == 0) {
        say("no trusted release keys: %s/trust holds no .pub file", DEVICE_DATA_MOUNT);
        return -1;
    }
    return 0;
}

/* Sets interface `name`'s flags up and, if addr is not NULL, its IPv4
 * address and netmask. Returns 0, or -1 with errno. */
static int if_up(int s, const char *name, const struct in_addr *addr, const struct in_addr *mask)
{
    struct ifreq r;

    memset(&r, 0, sizeof(r));
    snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", name);
    if (addr) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&r.ifr_addr;
        sin->sin_family = AF_INET;
        sin->sin_addr = *addr;
        if (ioctl(s, SIOCSIFADDR, &r) < 0)
            return -1;
        sin->sin_addr = *mask;
        if (ioctl(s, SIOCSIFNETMASK, &r) < 0)
            return -1;
    }
    if (ioctl(s, SIOCGIFFLAGS, &r) < 0)
        return -1;
    r.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(s, SIOCSIFFLAGS, &r);
}

/*
 * Brings the loopback interface up and, when the kernel command line says
 * kos.net=ADDRESS/PREFIX,GATEWAY (boot.scr does on qemu-arm-virt: QEMU's
 * user-mode network), configures eth0 with it and a default route. The
 * network is the ethernet component's (network: host); a failure here is
 * said and the boot goes on without it.
 */
static void network_up(void)
{
    char spec[64], *slash, *comma;
    struct in_addr addr, mask, gw;
    struct rtentry rt;
    struct stat st;
    unsigned long prefix;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0 || if_up(s, "lo", NULL, NULL) < 0)
        say("cannot bring the loopback interface up: %s", strerror(errno));
    cmdline_get("kos.net", "", spec, sizeof(spec));
    if (s < 0 || !spec[0])
        goto out;
    slash = strchr(spec, '/');
    comma = strchr(spec, ',');
    if (!slash || !comma || comma < slash) {
        say("kos.net=%s on the kernel command line is not ADDRESS/PREFIX,GATEWAY", spec);
        goto out;
    }
    *slash = *comma = '\0';
    prefix = strtoul(slash + 1, NULL, 10);
    if (inet_pton(AF_INET, spec, &addr) != 1 || inet_pton(AF_INET, comma + 1, &gw) != 1 ||
        prefix < 1 || prefix > 32) {
        say("kos.net= on the kernel command line is not ADDRESS/PREFIX,GATEWAY");
        goto out;
    }
    mask.s_addr = htonl(0xffffffffu << (32 - prefix));
    struct timespec tick = {0, 50 * 1000000L};
    int waited = 0;
    while (stat("/sys/class/net/" DEVICE_NET_IF, &st) != 0 && waited < DEVICE_NET_WAIT_MS) {
        nanosleep(&tick, NULL);
        waited += 50;
    }
    if (if_up(s, DEVICE_NET_IF, &addr, &mask) < 0) {
        say("cannot configure %s (kos.net=): %s", DEVICE_NET_IF, strerror(errno));
        goto out;
    }
    memset(&rt, 0, sizeof(rt));
    ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
    ((struct sockaddr_in *)&rt.rt_gateway)->sin_addr = gw;
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST) {
        say("cannot add the default route via %s: %s", comma + 1, strerror(errno));
        goto out;
    }
    say("network: %s %s/%lu, gateway %s", DEVICE_NET_IF, spec, prefix, comma + 1);
out:
    if (s >= 0)
        close(s);
}

int kos__platform_start(struct kos__platform_boot *b)
{
    char dev[128];
    struct stat st;

    memset(b, 0, sizeof(*b));
    b->console_fd = STDOUT_FILENO;
    if (getpid() == 1 && leave_rootfs() < 0) {
        int e = errno;
        (void)mount_pseudo("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        open_console();
        say("cannot make / a mount of its own over the initramfs: %s", strerror(e));
        return -1;
    }
    /* devtmpfs first: /dev/console is where every later line goes. */
    if (mount_pseudo("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") < 0)
        return -1;
    open_console();
    if (mount_pseudo("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
        mount_pseudo("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
        mount_pseudo("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0 ||
        mount_pseudo("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0 ||
        mount_pseudo("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     NULL) < 0)
        return -1;
    struct rlimit nofile = {DEVICE_NOFILE, DEVICE_NOFILE};
    if (setrlimit(RLIMIT_NOFILE, &nofile) < 0) {
        say("cannot raise the descriptor limit to %d: %s", DEVICE_NOFILE, strerror(errno));
        return -1;
    }
    say("KOS on %s: mounted /proc, /sys, /dev, /run", kos__platform_name());
    if (load_modules() < 0)
        return -1;
    network_up();
    cmdline_get("kos.data", DEVICE_DATA_DEFAULT, dev, sizeof(dev));
    if (wait_device(dev) < 0)
        return -1;
    if (mkdir(DEVICE_DATA_MOUNT, 0755) < 0 && errno != EEXIST) {
        say("cannot make %s: %s", DEVICE_DATA_MOUNT, strerror(errno));
        return -1;
    }
    if (mount(dev, DEVICE_DATA_MOUNT, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
        say("cannot mount the data partition %s (ext4) on %s: %s", dev, DEVICE_DATA_MOUNT,
            strerror(errno));
        return -1;
    }
    say("mounted the data partition %s on %s", dev, DEVICE_DATA_MOUNT);
    if (find_trust(b) < 0)
        return -1;
    snprintf(b->store_dir, sizeof(b->store_dir), "%s/store", DEVICE_DATA_MOUNT);
    snprintf(b->state_dir, sizeof(b->state_dir), "%s/apps", DEVICE_DATA_MOUNT);
    snprintf(b->cgroup_dir, sizeof(b->cgroup_dir), "/sys/fs/cgroup");
    if (stat(DEVICE_DATA_MOUNT "/keys", &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(b->keys_dir, sizeof(b->keys_dir), "%s/keys", DEVICE_DATA_MOUNT);
    return 0;
}

void kos__platform_end(enum kos__platform_end how)
{
    struct timespec forever = {3600, 0};

    say("%s", how == KOS__PLATFORM_REBOOT ? "rebooting" : "the system has ended; powering off");
    sync();
    if (umount2(DEVICE_DATA_MOUNT, 0) < 0 && errno != EINVAL)
        (void)umount2(DEVICE_DATA_MOUNT, MNT_DETACH);
    sync();
    reboot(how == KOS__PLATFORM_REBOOT ? RB_AUTOBOOT : RB_POWER_OFF);
    /* reboot() returned: it was refused. PID 1 must not exit. */
    say("the kernel refused to %s: %s", how == KOS__PLATFORM_REBOOT ? "reboot" : "power off",
        strerror(errno));
    for (;;)
        nanosleep(&forever, NULL);
}
