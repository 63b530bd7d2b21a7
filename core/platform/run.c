/*
 * run.c - booting from a boot store, again after each reboot, on any
 * platform (core/platform.h): what kos-init (a device) and kos-tool run
 * --storage (sim) share.
 */
#include "core.h"
#include "platform.h"

int kos__platform_run_store(struct kos_core_opts *o)
{
    int rc;

    while ((rc = kos_core_run(o)) == KOS_CORE_EXIT_REBOOT)
        kos__platform_end(KOS__PLATFORM_REBOOT); /* a device does not come back */
    return rc;
}
