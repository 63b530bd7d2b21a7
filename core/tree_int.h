/*
 * tree_int.h - walking a directory tree that an app wrote, through
 * descriptors only: emptying it, or giving it to a uid and gid.
 *
 * An app's data directory is hostile ground for Core: it may hold symbolic
 * links to anything, chains of directories far deeper than PATH_MAX,
 * directories the app made unreadable (mode 0), and, where others can reach
 * it, entries that change while Core walks. These functions never follow a
 * symbolic link, never resolve a path longer than one name, and check that
 * every directory they open is the one they listed (or, coming back up, the
 * one they came from), so whatever changes under them, they act only inside
 * the tree they were given. They do not recurse and hold at most
 * KOS__TREE_WINDOW directories open, so no depth is too deep; memory grows
 * with the depth of the deepest chain (an inode, an offset and a name per
 * level).
 */
#ifndef KOS_CORE_TREE_INT_H
#define KOS_CORE_TREE_INT_H

#include <sys/types.h>

/* Directories a walk holds open at once, besides the caller's. Deeper levels
 * are closed and reopened through ".." on the way back up (and checked to be
 * the directory left). A window keeps the common case, a tree less deep than
 * this, at one open per directory; it must stay far below any descriptor
 * limit Core may run under (1024 on many hosts). */
#define KOS__TREE_WINDOW 32u

/*
 * Removes everything beneath the directory open at dfd; the directory itself
 * stays. Directories the caller's uid owns but may not list, search or write
 * (an app's chmod 0) are first given mode 0700. Entries on another file
 * system (a mount point) are not entered and make it fail with EXDEV. When
 * entries change during the walk, it goes over the tree again as long as
 * each pass removes something. dfd stays the caller's, and open. Returns 0,
 * or the first errno met (what could be removed is removed). Blocks on the
 * file system.
 */
int kos__tree_clear(int dfd) __attribute__((warn_unused_result));

/*
 * Gives the directory open at dfd and everything beneath it to uid:gid, as
 * lchown() would (a symbolic link itself, never its target). The directory
 * itself changes last, and only when everything beneath it did, so a walk
 * cut short (a crash, an error) is redone by the next one that finds its
 * owner different. dfd stays the caller's, and open. Returns 0 or the first
 * errno met. Blocks on the file system.
 */
int kos__tree_chown(int dfd, uid_t uid, gid_t gid) __attribute__((warn_unused_result));

#endif
