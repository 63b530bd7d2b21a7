/*
 * blockdev_int.h - a whole disk that `kos-tool bootstrap --out /dev/XXX`
 * may erase (docs/boards.md): what it is (model, size, its partitions now)
 * and whether it is safe to write, from sysfs and /proc/self/mountinfo.
 *
 * What stays true: kos__blockdev_inspect() writes nothing; it refuses a
 * partition, a disk any partition of which is mounted, used as swap or held
 * by another block device (device mapper, RAID, loop), and the disk the
 * host runs from (the disks under / and /boot, through any device mapper
 * or RAID layers).
 */
#ifndef KOS_TOOL_BLOCKDEV_INT_H
#define KOS_TOOL_BLOCKDEV_INT_H

#include <stdbool.h>
#include <stddef.h>

struct kos__blockdev {
    char name[64];            /* its kernel name: sdb, mmcblk0, loop3 */
    unsigned long long bytes; /* its size */
    char model[320];          /* vendor and model, or a loop device's backing file */
    char parts[1024];         /* its partitions now, one "  NAME  SIZE" line each, or "" */
};

/* True when `path` names a block device (following links). */
bool kos__blockdev_is(const char *path);

/*
 * Fills `bd` for the block device `path` and checks that it may be erased:
 * returns 0, or 1 with the reason in err (cap bytes), naming the mount
 * point, holder or partition that makes it unsafe. Reads only.
 */
int kos__blockdev_inspect(const char *path, struct kos__blockdev *bd, char *err, size_t cap);

/* Asks the kernel to read the disk's partition table again (BLKRRPART).
 * Returns 0, or errno. */
int kos__blockdev_reread(int fd);

#endif
