/*
 * kos_init.c - kos-init, KOS Core as PID 1 of a device (core/platform.h,
 * core/platform/device.c).
 *
 * Brings the device up, opens the boot store on its data partition and
 * runs Core on it with the trusted keys and the device's key bundle found
 * there; reboots when Core asks to (KOS_CORE_EXIT_REBOOT), powers off when
 * the system ends or cannot start. What stays true: it never returns.
 */
#include <unistd.h>

#include "core.h"
#include "platform.h"
#include "store.h"

int main(void)
{
    struct kos__platform_boot b;
    const char *trust[sizeof(b.trust) / sizeof(b.trust[0])];
    struct kos_store *store = NULL;
    char err[1024];
    int rc;

    if (kos__platform_start(&b) < 0)
        kos__platform_end(KOS__PLATFORM_POWER_OFF);
    if (kos_store_open(b.store_dir, true, false, &store, err, sizeof(err)) != KOS_STATUS_OK) {
        kos__platform_say("cannot open the boot store %s: %s", b.store_dir, err);
        kos__platform_end(KOS__PLATFORM_POWER_OFF);
    }
    for (size_t i = 0; i < b.n_trust; i++)
        trust[i] = b.trust[i];
    struct kos_core_opts o = {
        .store = store,
        .trusted_keys = trust,
        .n_trusted_keys = b.n_trust,
        .console_fd = b.console_fd,
        .isolation = -1,
        .state_dir = b.state_dir,
        .keys_dir = b.keys_dir[0] ? b.keys_dir : NULL,
        .cgroup_dir = b.cgroup_dir[0] ? b.cgroup_dir : NULL,
    };
    rc = kos__platform_run_store(&o); /* returns only when the system ends */
    kos_store_close(store);
    kos__platform_say("Core ended with status %d", rc);
    kos__platform_end(KOS__PLATFORM_POWER_OFF);
    return 0; /* not reached */
}
