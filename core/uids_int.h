/*
 * uids_int.h - the host uids a privileged Core gives its processes: one
 * range of KOS__UID_SPAN uids per Core, the process's index added to its
 * first uid.
 *
 * A Core takes a range by locking its lock file, KOS__UID_LOCK_DIR/N.lock
 * (flock, held for the Core's life and released by the kernel when it
 * ends, however it ends), trying first the range its state directory
 * recorded, whose data then needs no new owner, and then each range from 0.
 * What stays true: no two Cores running at once hold the same range, so no
 * two processes of different systems share a host uid (and RLIMIT_NPROC
 * counts only one process's tasks).
 */
#ifndef KOS_CORE_UIDS_INT_H
#define KOS_CORE_UIDS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <kos/status.h>

#include "compiled.h"

/* Above the ids that distributions hand to users and to their subordinate
 * ranges (100000 + 65536 per user) for the first dozen users. */
#define KOS__UID_BASE 1000000u
/* One uid per process of the largest system a manifest may describe. */
#define KOS__UID_SPAN KOS_CM_MAX_PROCS
/* Cores running at once on one host; the last uid is below 2^31. */
#define KOS__UID_RANGES 1000u
/* Root's own, mode 0700; in /run, so it starts empty at every host boot. */
#define KOS__UID_LOCK_DIR "/run/kos/uids"
/* The record in the state directory (statedir_int.h). */
#define KOS__UID_RECORD "uids"
#define KOS__UID_NONE   UINT32_MAX

_Static_assert((uint64_t)KOS__UID_BASE + (uint64_t)KOS__UID_SPAN * KOS__UID_RANGES < (1u << 31),
               "host uids stay positive 32-bit numbers");

struct kos__uids {
    uint32_t range; /* 0 .. KOS__UID_RANGES-1 */
    uid_t first;    /* KOS__UID_BASE + range * KOS__UID_SPAN */
    int lock_fd;    /* the locked file, or -1 */
};

/*
 * Takes a free range, `prefer` first if it is one (KOS__UID_NONE: no
 * preference), and holds it until kos__uids_release(). Makes the lock
 * directory if needed and refuses one that another user could change. On
 * failure err says why. Never blocks on another Core.
 */
kos_status_t kos__uids_claim(struct kos__uids *u, uint32_t prefer, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Lets the range go. Safe on a zeroed-out u with lock_fd -1. */
void kos__uids_release(struct kos__uids *u);

/* The range the state directory open at state_fd recorded, or
 * KOS__UID_NONE (no record, or not one this Core understands). */
uint32_t kos__uids_recorded(int state_fd);

/* Records u's range in the state directory open at state_fd
 * (kos__statedir_replace). Returns 0 or an errno. */
int kos__uids_record(int state_fd, const struct kos__uids *u) __attribute__((warn_unused_result));

#endif
