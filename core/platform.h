/*
 * platform.h - what a platform provides to KOS Core (ARCHITECTURE.md,
 * section 2): the seam between Core and where it runs.
 *
 * A platform starts Core (as an ordinary process on `sim`, as PID 1 on a
 * device), gives it its storage (the boot store's folder), its console
 * device, and ends the system (on `sim` Core returns to its caller; on a
 * device the machine reboots or powers off). Each platform implements this
 * header in core/platform/<name>.c; nothing outside that folder asks which
 * platform it runs on.
 *
 * What stays true: kos__platform_end() never returns on a device, because
 * PID 1 returning or exiting panics the kernel.
 */
#ifndef KOS_CORE_PLATFORM_H
#define KOS_CORE_PLATFORM_H

#include <stddef.h>

/* How the system ended, for kos__platform_end(). */
enum kos__platform_end {
    KOS__PLATFORM_POWER_OFF, /* the system ended: stop the machine */
    KOS__PLATFORM_REBOOT,    /* Core asked for a reboot (KOS_CORE_EXIT_REBOOT) */
};

/* What the platform found at start-up, for kos_core_run(). */
struct kos__platform_boot {
    char store_dir[256]; /* the boot store's folder, or "" for none */
    char state_dir[256]; /* where apps' data directories live, or "" */
    char keys_dir[256];  /* the device key bundle, or "" for none */
    char cgroup_dir[64]; /* the cgroup v2 hierarchy Core owns, or "" (sim: not Core's) */
    char trust[8][256];  /* the trusted release public keys (PEM paths) */
    size_t n_trust;
    int console_fd; /* where console lines go */
};

/* The platform's name as a platform spec writes it ("sim",
 * "qemu-arm-virt"). */
const char *kos__platform_name(void);

/* Brings up what Core needs before it starts: on a device, the pseudo file
 * systems, the console, the drivers and the data partition. Fills *b.
 * Returns 0, or -1 after printing on the console what was missing and
 * where. May block (waits, bounded, for the data partition to appear). */
int kos__platform_start(struct kos__platform_boot *b);

/* Prints one line of the platform's own on its console, in Core's form
 * (`<timestamp> kos-init: <text>` on a device). */
void kos__platform_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Ends the system as `how` says; on a device after syncing and unmounting
 * the data partition. On `sim` returns; on a device never returns. */
void kos__platform_end(enum kos__platform_end how);

struct kos_core_opts;

/* Runs Core on the boot store o->store, and again after each reboot it
 * asks for (on `sim` Core runs again in this process; on a device the
 * machine reboots through kos__platform_end(), and this never returns).
 * Returns Core's exit status when the system ends (platform/run.c). */
int kos__platform_run_store(struct kos_core_opts *o);

#endif
