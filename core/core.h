/*
 * core.h - KOS Core on the sim platform: boot an image and supervise it.
 *
 * kos_core_run() verifies a system image, starts its message servers and
 * apps as separate processes wired exactly as the manifest grants, supervises
 * them by their restart policies, prints the console, and returns when the
 * system has ended. It blocks for the life of the system.
 */
#ifndef KOS_CORE_H
#define KOS_CORE_H

#include <stdbool.h>
#include <stddef.h>

/* Exit statuses of kos_core_run(), and so of `kos-tool run`. */
enum kos_core_exit {
    KOS_CORE_EXIT_OK = 0,        /* shut down on request, or every app ended normally */
    KOS_CORE_EXIT_FAILED = 1,    /* an app failed, or a message server died */
    KOS_CORE_EXIT_USAGE = 2,     /* bad options */
    KOS_CORE_EXIT_REFUSED = 3,   /* the image did not verify */
    KOS_CORE_EXIT_HOST = 4,      /* the host refused a resource Core needs */
    KOS_CORE_EXIT_SELF_TEST = 5, /* the system ran, but its self test failed */
    KOS_CORE_EXIT_REBOOT = 6,    /* booted from a store: it rebooted; run Core again (never
                                    an exit status of kos-tool run) */
};

struct kos_store;

struct kos_core_opts {
    const char *image_path;          /* the image to boot; or: */
    struct kos_store *store;         /* the boot store (manifest/store.h), open for writing:
                                        Core boots what it says and tells it the self test */
    const char *const *trusted_keys; /* release public keys (PEM paths) */
    size_t n_trusted_keys;
    bool allow_unsigned;           /* accept unsigned images whatever their manifest says */
    const char *console_path;      /* also append the console to this file; may be NULL */
    int console_fd;                /* where console lines go (normally 1) */
    unsigned grace_ms;             /* each process's grace at shutdown; 0 = 3000 */
    int isolation;                 /* -1: as the manifest says (strict unless it says
                                      isolation: best_effort); else an
                                      enum kos_sandbox_mode (sandbox.h) */
    const char *state_dir;         /* where per-app data directories live; NULL: a fresh
                                      directory under $XDG_RUNTIME_DIR or /tmp, removed
                                      at the end */
    const char *keys_dir;          /* the device key bundle for the app with
                                      device_keys: true (docs/keys.md); may be NULL */
    const char *cgroup_dir;        /* the cgroup v2 hierarchy Core owns (a device, where it
                                      is PID 1): a cgroup per app bounds its memory and
                                      processes; NULL: rlimits only (sim) */
    unsigned self_test_timeout_ms; /* how long after boot the app with
                                      reports_self_test: true has to report before the
                                      self test counts as failed; 0 = 60000 */
};

/* Runs the system to its end and returns an enum kos_core_exit value. */
int kos_core_run(const struct kos_core_opts *opts);

#endif
