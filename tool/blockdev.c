/*
 * blockdev.c - inspecting a disk before `kos-tool bootstrap` erases it
 * (blockdev_int.h): sysfs says what it is, what partitions and holders it
 * has; /proc/self/mountinfo and /proc/swaps say what of it is in use, and
 * which disks the host runs from.
 *
 * What stays true: nothing here writes to a disk but
 * kos__blockdev_reread(); any doubt (a sysfs entry that cannot be read, a
 * mount whose disk cannot be found) refuses rather than allows.
 */
#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "blockdev_int.h"

#define BD_DEPTH 8 /* device-mapper and RAID layers followed under / and /boot */

bool kos__blockdev_is(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

/* Reads the first line of a sysfs file into out, without its newline. */
static bool read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "re");
    bool ok;

    if (!f)
        return false;
    ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (ok)
        out[strcspn(out, "\n")] = '\0';
    return ok;
}

/* The sysfs folder of device maj:min, resolved (…/block/sdb or
 * …/block/sdb/sdb1), or false. */
static bool sys_dir(unsigned maj, unsigned min, char *out)
{
    char link[64];

    snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", maj, min);
    return realpath(link, out) != NULL;
}

/* Adds to `names` (a list of "name\n") the whole disks under the device in
 * sysfs folder `dir`: its parent when it is a partition, the disks under
 * its slaves when it is a device-mapper or RAID device, else itself. */
static void disks_under(const char *dir, char *names, size_t cap, int depth)
{
    char sub[PATH_MAX + 16], path[PATH_MAX];
    struct stat st;
    struct dirent *e;
    DIR *d;
    bool slaves = false;

    if (depth > BD_DEPTH)
        return;
    snprintf(sub, sizeof(sub), "%s/partition", dir);
    if (stat(sub, &st) == 0) {
        snprintf(path, sizeof(path), "%s", dir);
        *strrchr(path, '/') = '\0';
        disks_under(path, names, cap, depth + 1);
        return;
    }
    snprintf(sub, sizeof(sub), "%s/slaves", dir);
    if ((d = opendir(sub))) {
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                char link[PATH_MAX + 300];
                snprintf(link, sizeof(link), "%s/%s", sub, e->d_name);
                if (realpath(link, path)) {
                    slaves = true;
                    disks_under(path, names, cap, depth + 1);
                }
            }
        closedir(d);
    }
    if (!slaves) {
        const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
        size_t at = strlen(names);
        snprintf(names + at, cap - at, "%s\n", base);
    }
}

/* True when `name` is a line of `names`. */
static bool listed(const char *names, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = names; (p = strstr(p, name)); p++)
        if ((p == names || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* The disk's partitions (sysfs subfolders with a `partition` file), as
 * "name\n" lines in parts_names and described in bd->parts. */
static void list_parts(const char *dir, struct kos__blockdev *bd, char *names, size_t cap)
{
    char sub[PATH_MAX + 300], size[32];
    struct stat st;
    struct dirent *e;
    DIR *d = opendir(dir);
    size_t at = 0, nat = 0;

    names[0] = bd->parts[0] = '\0';
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s/partition", dir, e->d_name);
        if (stat(sub, &st) != 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s/size", dir, e->d_name);
        if (!read_line(sub, size, sizeof(size)))
            snprintf(size, sizeof(size), "0");
        if (at < sizeof(bd->parts))
            at += (size_t)snprintf(bd->parts + at, sizeof(bd->parts) - at, "  /dev/%s  %llu MiB\n",
                                   e->d_name, strtoull(size, NULL, 10) * 512 / (1024 * 1024));
        if (nat < cap)
            nat += (size_t)snprintf(names + nat, cap - nat, "%s\n", e->d_name);
    }
    closedir(d);
}

/* The sysfs name of device maj:min in the form "sdb1", or "". */
static void name_of(unsigned maj, unsigned min, char *out, size_t cap)
{
    char dir[PATH_MAX];

    out[0] = '\0';
    if (sys_dir(maj, min, dir))
        snprintf(out, cap, "%s", strrchr(dir, '/') + 1);
}

/* Says (into err) whether any of `names` (the disk and its partitions) is
 * held by another block device, mounted or used as swap. */
static int in_use(const char *disk_dir, const char *names, char *err, size_t cap)
{
    char path[PATH_MAX + 300], line[4096], name[64];
    struct dirent *e;
    DIR *d;
    FILE *f;

    /* Holders: a device-mapper, RAID or loop device on top of it. */
    for (const char *p = names; *p; p = strchr(p, '\n') + 1) {
        int n = (int)strcspn(p, "\n");
        if (!strncmp(p, strrchr(disk_dir, '/') + 1, (size_t)n) &&
            strlen(strrchr(disk_dir, '/') + 1) == (size_t)n)
            snprintf(path, sizeof(path), "%s/holders", disk_dir);
        else
            snprintf(path, sizeof(path), "%s/%.*s/holders", disk_dir, n, p);
        if ((d = opendir(path))) {
            while ((e = readdir(d)))
                if (e->d_name[0] != '.') {
                    snprintf(err, cap, "/dev/%.*s is in use by /dev/%s (%s)", n, p, e->d_name,
                             path);
                    closedir(d);
                    return 1;
                }
            closedir(d);
        }
    }
    /* Mounts: by device number, which is exact whatever the mount's
     * source was spelled as. */
    if (!(f = fopen("/proc/self/mountinfo", "re"))) {
        snprintf(err, cap, "cannot read /proc/self/mountinfo: %s", strerror(errno));
        return 1;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned maj, min;
        char where[2048];
        if (sscanf(line, "%*u %*u %u:%u %*s %2047s", &maj, &min, where) != 3 || maj == 0)
            continue;
        name_of(maj, min, name, sizeof(name));
        if (name[0] && listed(names, name)) {
            snprintf(err, cap, "/dev/%s is mounted on %s: unmount it first", name, where);
            fclose(f);
            return 1;
        }
    }
    fclose(f);
    if ((f = fopen("/proc/swaps", "re"))) {
        while (fgets(line, sizeof(line), f)) {
            char dev[1024];
            struct stat st;
            if (sscanf(line, "%1023s", dev) == 1 && stat(dev, &st) == 0 && S_ISBLK(st.st_mode)) {
                name_of(major(st.st_rdev), minor(st.st_rdev), name, sizeof(name));
                if (name[0] && listed(names, name)) {
                    snprintf(err, cap, "/dev/%s is used as swap: swapoff it first", name);
                    fclose(f);
                    return 1;
                }
            }
        }
        fclose(f);
    }
    return 0;
}

/* The disks the host runs from: those under the mounts of / and /boot. */
static int host_disks(char *names, size_t cap, char *err, size_t ecap)
{
    static const char *const points[] = {"/", "/boot"};
    char line[4096], dir[PATH_MAX];
    FILE *f = fopen("/proc/self/mountinfo", "re");

    names[0] = '\0';
    if (!f) {
        snprintf(err, ecap, "cannot read /proc/self/mountinfo: %s", strerror(errno));
        return 1;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned maj, min;
        char where[2048];
        bool point = false;
        if (sscanf(line, "%*u %*u %u:%u %*s %2047s", &maj, &min, where) != 3)
            continue;
        for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
            point |= !strcmp(where, points[i]);
        if (!point)
            continue;
        if (maj == 0) {
            /* A file system with no device of its own (btrfs, overlay):
             * the device its mount names, or an overlay's upper folder's. */
            char *sep = strstr(line, " - "), src[2048] = "", *up;
            struct stat st;
            if (sep && sscanf(sep, " - %*s %2047s", src) == 1 && stat(src, &st) == 0 &&
                S_ISBLK(st.st_mode)) {
                maj = major(st.st_rdev);
                min = minor(st.st_rdev);
            } else if ((up = strstr(line, "upperdir=")) &&
                       sscanf(up + 9, "%2047[^,\n ]", src) == 1 && stat(src, &st) == 0) {
                maj = major(st.st_dev);
                min = minor(st.st_dev);
            }
        }
        if (maj != 0 && sys_dir(maj, min, dir))
            disks_under(dir, names, cap, 0);
    }
    fclose(f);
    return 0;
}

int kos__blockdev_inspect(const char *path, struct kos__blockdev *bd, char *err, size_t cap)
{
    char dir[PATH_MAX], sub[PATH_MAX + 64], val[256], names[4096], hosts[1024];
    struct stat st;

    memset(bd, 0, sizeof(*bd));
    if (stat(path, &st) != 0 || !S_ISBLK(st.st_mode)) {
        snprintf(err, cap, "%s is not a block device", path);
        return 1;
    }
    if (!sys_dir(major(st.st_rdev), minor(st.st_rdev), dir)) {
        snprintf(err, cap, "%s: the kernel says nothing of it in /sys/dev/block", path);
        return 1;
    }
    snprintf(bd->name, sizeof(bd->name), "%s", strrchr(dir, '/') + 1);
    snprintf(sub, sizeof(sub), "%s/partition", dir);
    if (stat(sub, &st) == 0) {
        *strrchr(dir, '/') = '\0';
        snprintf(err, cap, "%s is a partition (of /dev/%s): give the whole disk, /dev/%s", path,
                 strrchr(dir, '/') + 1, strrchr(dir, '/') + 1);
        return 1;
    }
    snprintf(sub, sizeof(sub), "%s/size", dir);
    if (!read_line(sub, val, sizeof(val))) {
        snprintf(err, cap, "cannot read the size of %s (%s)", path, sub);
        return 1;
    }
    bd->bytes = strtoull(val, NULL, 10) * 512;
    /* What it is: a USB reader's or MMC card's vendor and model, or what a
     * loop device shows. */
    char vendor[64] = "", model[sizeof(val) + 32] = "";
    snprintf(sub, sizeof(sub), "%s/device/vendor", dir);
    read_line(sub, vendor, sizeof(vendor));
    snprintf(sub, sizeof(sub), "%s/device/model", dir);
    if (!read_line(sub, model, sizeof(model))) {
        snprintf(sub, sizeof(sub), "%s/device/name", dir);
        read_line(sub, model, sizeof(model));
    }
    snprintf(sub, sizeof(sub), "%s/loop/backing_file", dir);
    if (!model[0] && read_line(sub, val, sizeof(val)))
        snprintf(model, sizeof(model), "loop device on %.*s", (int)sizeof(val), val);
    for (char *e = vendor + strlen(vendor); e > vendor && e[-1] == ' ';)
        *--e = '\0';
    /* Cut to what the report holds. */
    snprintf(bd->model, sizeof(bd->model), "%.63s%s%.*s", vendor, vendor[0] ? " " : "",
             (int)(sizeof(bd->model) - 65), model[0] ? model : "(no model given)");

    list_parts(dir, bd, names, sizeof(names));
    size_t n = strlen(names);
    snprintf(names + n, sizeof(names) - n, "%s\n", bd->name);

    if (host_disks(hosts, sizeof(hosts), err, cap))
        return 1;
    if (listed(hosts, bd->name)) {
        snprintf(err, cap, "%s is the disk this machine runs from (it holds / or /boot)", path);
        return 1;
    }
    return in_use(dir, names, err, cap);
}

int kos__blockdev_reread(int fd)
{
    for (int tries = 0; tries < 5; tries++) {
        if (ioctl(fd, BLKRRPART) == 0)
            return 0;
        if (errno != EBUSY)
            return errno;
        usleep(200 * 1000); /* udev may still hold a partition it probed */
    }
    return EBUSY;
}
