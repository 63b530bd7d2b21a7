/*
 * file_int.h - files written so that a power cut leaves the old or the new
 * one whole: what Core's state directory and the boot store (manifest/store.c)
 * share.
 */
#ifndef KOS_FILE_INT_H
#define KOS_FILE_INT_H

#include <stddef.h>

/* Writes all n bytes of p to fd, retrying after EINTR and short writes.
 * Returns 0, or -1 with errno (EIO for a write of nothing). */
int kos__write_all(int fd, const void *p, size_t n);

/* Reads all of regular file `name` in dfd (at most cap - 1 bytes, NUL
 * added, *len bytes read) without following a link. Returns 0, ENOENT,
 * EINVAL (a link or not a regular file), EFBIG (cap - 1 bytes or more) or
 * an errno. */
int kos__file_read_small(int dfd, const char *name, char *buf, size_t cap, size_t *len);

/* Writes `text` to the existing file `name` of directory dfd (AT_FDCWD: a
 * path), as a kernel control file wants it (/proc/PID/uid_map, a cgroup's
 * memory.max): opened for writing, written, closed. Returns 0 or an errno. */
int kos__file_write_text(int dfd, const char *name, const char *text);

/*
 * Replaces file `name` in directory dfd with `len` bytes of text: written to
 * a temporary file (".NAME.tmp"), synced, renamed over it, the directory
 * synced, so a reader finds the old file or the new one, whole. Returns 0 or
 * an errno (the old file then stays as it was).
 */
int kos__file_replace(int dfd, const char *name, const void *text, size_t len);

#endif
