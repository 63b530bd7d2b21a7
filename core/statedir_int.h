/*
 * statedir_int.h - Core's state directory (kos-tool run --state-dir): where
 * apps' data, the self-test record and the uid range record live.
 *
 *   STATE/            mode 0700, Core's user; locked (flock) by one Core
 *     data/           mode 0700: each app's data, APP.img or APP/
 *     root/           mode 0700: where each sandbox mounts its root (empty
 *                     on the host)
 *     self_test       the last self-test record (selftest_int.h)
 *     uids            the host uid range its data belongs to (uids_int.h)
 *
 * What stays true: while a Core runs, it alone uses the directory, and no
 * other user of the host can reach anything in it: the directory and what
 * Core makes in it are mode 0700 and Core's user's, so whatever an app left
 * in its data (a setuid file, a world-writable folder) is out of every
 * other user's reach. Sandboxes need no more: each one opens what it mounts
 * before it takes the app's ids.
 */
#ifndef KOS_CORE_STATEDIR_INT_H
#define KOS_CORE_STATEDIR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <kos/status.h>

struct kos__statedir {
    char *path;  /* absolute, symbolic links resolved */
    char *root;  /* path of STATE/root, the sandboxes' mount point */
    int fd;      /* STATE, locked for this Core's life, or -1 */
    int data_fd; /* STATE/data, or -1 */
    bool fresh;  /* made by this Core: emptied and removed by _close() */
};

/*
 * Opens the state directory `path`, making it if it is not there, or, when
 * path is NULL, makes a fresh one under $XDG_RUNTIME_DIR (or /tmp). It must
 * belong to Core's user and no other Core may hold it (the lock is held
 * until _close()); it and its data/ and root/ are set to mode 0700. On
 * failure *sd holds nothing, and err says why. Blocks on the file system.
 */
kos_status_t kos__statedir_open(struct kos__statedir *sd, const char *path, char *err,
                                size_t errlen) __attribute__((warn_unused_result));

/* Removes a fresh directory (made by this Core) with everything in it,
 * without following anything an app left (kos__tree_clear); mounts of its
 * images must be gone by then. Does nothing to a directory the user named.
 * Returns 0, or the errno that kept it (whatever could go is gone). */
int kos__statedir_remove(struct kos__statedir *sd) __attribute__((warn_unused_result));

/* Releases the directory and its lock; a fresh one that is still there is
 * removed first (kos__statedir_remove). Safe on a zeroed or failed *sd. */
void kos__statedir_close(struct kos__statedir *sd);

/* Opens directory `name` in dfd, making it with `mode` if it is not there.
 * It must be Core's user's and not writable by others (one that other users
 * could have changed is refused: EPERM); its mode is then set to `mode`.
 * Returns the descriptor, or -1 with errno. */
int kos__statedir_own(int dfd, const char *name, mode_t mode);

#endif
