/*
 * board_int.h - the boards `kos-tool bootstrap` writes a disk for
 * (docs/boards.md): one profile per board, in one table (board.c), which
 * says everything bootstrap does differently from one board to the next:
 * where the boot partition starts and how it is formatted, which files its
 * boot ROM and firmware expect on it or at a raw offset of the disk, the
 * kernel's name and boot command, the device tree, and the kernel command
 * line. The data partition is the same on every board.
 *
 * What stays true: the table is constant; every board has a kernel, an
 * initramfs and a U-Boot script, and at most one file at a raw offset,
 * which ends before the boot partition starts.
 */
#ifndef KOS_TOOL_BOARD_INT_H
#define KOS_TOOL_BOARD_INT_H

#include <stdbool.h>
#include <stddef.h>

#define KOS__BOARD_MAX_FILES 4 /* U-Boot or firmware files a board takes */

struct kos__board {
    const char *name;         /* --platform NAME */
    const char *spec;         /* the platform spec written whole, e.g. "rpi4,arch=aarch64" */
    const char *what;         /* the board, in words, for messages and --help */
    const char *mkimage_arch; /* mkimage -A: "arm64" or "arm" */
    const char *kernel;       /* the kernel's name on the boot partition: Image or zImage */
    const char *boot_cmd;     /* U-Boot's command for that kernel: booti or bootz */
    /* The device tree: a file on the boot partition (NULL: none) and the
     * address the kernel gets, which is where boot.scr loads it, or the
     * tree the firmware or U-Boot already holds. */
    const char *dtb;
    const char *fdt;
    bool load_dtb;        /* boot.scr loads dtb at ${fdt_addr_r} */
    const char *bootargs; /* console, and kos.data= (kos-init's data partition) */
    /* Where boot.scr loads the initramfs when the board's U-Boot environment
     * has no ${ramdisk_addr_r} (NULL: it always has). */
    const char *ramdisk_addr;
    unsigned first_mib;    /* where the boot partition starts */
    unsigned boot_min_mib; /* the least boot partition (FAT32 wants 65525 clusters) */
    bool fat32;            /* mkfs.vfat -F 32 (the Raspberry Pi firmware reads FAT16/32) */
    /* U-Boot: the files on the boot partition, or the one file written at
     * raw_kib KiB into the disk (raw_kib != 0); from --u-boot, else the
     * board's folder (where the device build puts Debian's). */
    const char *u_boot[KOS__BOARD_MAX_FILES];
    unsigned raw_kib;
    const char *u_boot_from; /* where a user gets it, said when it is missing */
    /* Firmware the boot ROM or GPU loads before U-Boot, from --boot-files
     * or the board's folder; never made by KOS. */
    const char *firmware[KOS__BOARD_MAX_FILES];
    const char *firmware_from;
    const char *dtb_from;    /* where the DTB comes from, said when it is missing */
    const char *kernel_from; /* where the kernel and initramfs come from */
    const char *config_txt;  /* the firmware's config.txt bootstrap writes, or NULL */
    /* The host a device of this board reaches a local Studio at, for
     * --server studio (--reach); NULL: the address Studio gives. */
    const char *studio_host;
};

/* The board named `name` (its name or its spec written whole), or NULL. */
const struct kos__board *kos__board_find(const char *name);

/* Writes the boards' names, separated by ", ", into out (cap bytes). */
void kos__board_names(char *out, size_t cap);

#endif
