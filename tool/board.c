/*
 * board.c - the board profiles `kos-tool bootstrap` knows (board_int.h,
 * docs/boards.md): what each board's boot ROM, firmware and U-Boot expect
 * of its disk, in one table.
 *
 * What stays true: every entry is complete (kernel, boot command, boot
 * arguments, partition start); a raw U-Boot file ends before the boot
 * partition (asserted by bootstrap against the file's size).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "board_int.h"
#include "runtime.h"

/* The arm64 kernel and initramfs of the device build (core/platform/mkboot.sh). */
#define FROM_DEVICE_BUILD                                                                          \
    "the device build (cross-aarch64 preset, or the dev build's device-aarch64): Debian's "        \
    "arm64 kernel and the initramfs with kos-init"
/* The armhf ones, with the board's own files (core/platform/mkboards.sh). */
#define FROM_ARMHF_BUILD(what)                                                                     \
    "the armhf device build (cross-armhf preset, or the dev build's device-armhf): " what

/* What the i.MX8M Mini boards share: the boot ROM reads flash.bin (SPL,
 * DDR firmware, TF-A, U-Boot) at 33 KiB into an SD card or the eMMC's user
 * area; U-Boot loads the board's own device tree. The imx8mm_evk U-Boot
 * environment names no ramdisk_addr_r: the initramfs goes where it puts
 * one (its initrd_addr), after the device tree at 0x43000000. */
#define IMX8MM_BOARD                                                                               \
    .mkimage_arch = "arm64", .kernel = "Image", .boot_cmd = "booti", .fdt = "${fdt_addr_r}",       \
    .load_dtb = true, .first_mib = 8, .u_boot = {"flash.bin"}, .raw_kib = 33,                      \
    .ramdisk_addr = "0x43800000", .kernel_from = FROM_DEVICE_BUILD

static const struct kos__board boards[] = {
    {
        .name = "qemu-arm-virt",
        .spec = "qemu-arm-virt,arch=aarch64",
        .what = "QEMU's virt machine (aarch64)",
        .mkimage_arch = "arm64",
        .kernel = "Image",
        .boot_cmd = "booti",
        .fdt = "${fdtcontroladdr}", /* QEMU's tree, which U-Boot was given */
        /* kos-init's data partition, and QEMU's user-mode network. */
        .bootargs = "console=ttyAMA0 kos.data=/dev/vda2 kos.net=10.0.2.15/24,10.0.2.2 quiet "
                    "panic=-1",
        .first_mib = 1,
        .kernel_from = FROM_DEVICE_BUILD,
        .studio_host = KOS__STUDIO_QEMU_GUEST, /* kos-tool run forwards it (tool/qemu.c) */
    },
    {
        /* The GPU's boot loader (EEPROM on the Pi 4) reads the first FAT
         * partition: start4.elf and fixup4.dat, config.txt, the DTB, which
         * it fixes up and hands to the "kernel", here U-Boot. */
        .name = "rpi4",
        .spec = "rpi4,arch=aarch64",
        .what = "Raspberry Pi 4 Model B",
        .mkimage_arch = "arm64",
        .kernel = "Image",
        .boot_cmd = "booti",
        .dtb = "bcm2711-rpi-4-b.dtb",
        .fdt = "${fdt_addr}", /* the firmware's tree, with its memory and serial fix-ups */
        .bootargs = "console=ttyS1,115200 kos.data=/dev/mmcblk0p2 quiet panic=-1",
        .first_mib = 4,
        .boot_min_mib = 64,
        .fat32 = true,
        .u_boot = {"u-boot.bin"},
        .u_boot_from = "Debian's u-boot-rpi package (arm64), /usr/lib/u-boot/rpi_4/u-boot.bin: "
                       "the device build fetches it",
        .firmware = {"start4.elf", "fixup4.dat"},
        .firmware_from = "the Raspberry Pi firmware (github.com/raspberrypi/firmware, folder "
                         "boot/, or Debian's raspi-firmware in non-free-firmware): give their "
                         "folder with --boot-files DIR",
        .dtb_from = "Debian's arm64 kernel (broadcom/): the device build copies it",
        .kernel_from = FROM_DEVICE_BUILD,
        .config_txt = "# KOS on the Raspberry Pi 4 (kos-tool bootstrap): the firmware starts\n"
                      "# U-Boot in 64-bit mode, with the serial console on the GPIO pins.\n"
                      "arm_64bit=1\n"
                      "kernel=u-boot.bin\n"
                      "enable_uart=1\n",
    },
    {
        IMX8MM_BOARD,
        .name = "imx8mm-evk",
        .spec = "imx8mm-evk,arch=aarch64",
        .what = "NXP i.MX8M Mini EVK (booting from its SD card)",
        .dtb = "imx8mm-evk.dtb",
        .bootargs = "console=ttymxc1,115200 kos.data=/dev/mmcblk1p2 quiet panic=-1",
        .u_boot_from = "a U-Boot build for imx8mm_evk (Debian has none): flash.bin, made with "
                       "NXP's DDR firmware and TF-A as U-Boot's doc/board/nxp/imx8mm_evk.rst "
                       "says; give it with --u-boot FILE",
        .dtb_from = "Debian's arm64 kernel (freescale/): the device build copies it",
    },
    {
        /* On its eMMC (written through a USB reader or U-Boot's ums). */
        IMX8MM_BOARD,
        .name = "portenta-x8",
        .spec = "portenta-x8,arch=aarch64",
        .what = "Arduino Portenta X8 (i.MX8M Mini, eMMC)",
        .dtb = "imx8mm-portenta-x8.dtb",
        .bootargs = "console=ttymxc1,115200 kos.data=/dev/mmcblk2p2 quiet panic=-1",
        .u_boot_from = "Arduino's Portenta X8 images (the imx-boot flash.bin of its Linux "
                       "microPlatform build; Debian has none): give it with --u-boot FILE",
        .dtb_from = "the Portenta X8's kernel build (Arduino's Linux microPlatform; Debian's "
                    "kernel has no Portenta X8 tree): give its folder with --boot-files DIR",
    },
    {
        /* The AM335x boot ROM reads MLO (U-Boot's SPL) from the active FAT
         * partition of an SD card; the SPL loads u-boot.img beside it. */
        .name = "am335x",
        .spec = "am335x,arch=armhf",
        .what = "TI AM335x, BeagleBone Black (32-bit ARM, booting from SD)",
        .mkimage_arch = "arm",
        .kernel = "zImage",
        .boot_cmd = "bootz",
        .dtb = "am335x-boneblack.dtb",
        .fdt = "${fdt_addr_r}",
        .load_dtb = true,
        .bootargs = "console=ttyS0,115200n8 kos.data=/dev/mmcblk0p2 quiet panic=-1",
        .first_mib = 1,
        .u_boot = {"MLO", "u-boot.img"},
        .u_boot_from = "Debian's u-boot-omap package (armhf), /usr/lib/u-boot/am335x_evm/: "
                       "the armhf device build fetches it",
        .dtb_from = FROM_ARMHF_BUILD("Debian's armhf kernel's (linux-image-armmp) "
                                     "am335x-boneblack.dtb; another AM335x board's tree, under "
                                     "that name, with --boot-files DIR"),
        .kernel_from = FROM_ARMHF_BUILD("Debian's armhf kernel (linux-image-armmp) and the "
                                        "initramfs with the armhf kos-init"),
    },
};

const struct kos__board *kos__board_find(const char *name)
{
    for (size_t i = 0; i < sizeof(boards) / sizeof(boards[0]); i++) {
        const struct kos__board *b = &boards[i];
        if (strcmp(name, b->name) != 0 && strcmp(name, b->spec) != 0)
            continue;
        assert(b->kernel && b->boot_cmd && b->fdt && b->bootargs && b->mkimage_arch &&
               b->first_mib > 0 && b->kernel_from);
        assert(!b->load_dtb || b->dtb);
        assert(!b->raw_kib || (b->u_boot[0] && !b->u_boot[1] && b->raw_kib < b->first_mib * 1024));
        assert(!b->u_boot[0] || b->u_boot_from);
        assert(!b->firmware[0] || b->firmware_from);
        return b;
    }
    return NULL;
}

void kos__board_names(char *out, size_t cap)
{
    size_t at = 0;

    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof(boards) / sizeof(boards[0]) && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? ", " : "", boards[i].name);
}
