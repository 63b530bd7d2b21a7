/*
 * storage_int.h - an app's /data as a file system of its own, bounded by its
 * manifest's storage: (docs/sandbox.md, "Data directories").
 *
 * The file system is ext4 in a sparse image file, STATE/data/APP.img, of
 * `storage` bytes, made with mke2fs the first time (its root owned by the
 * app's host uid; made under a temporary name and renamed once whole, so
 * no crash leaves an image that is not a file system), attached to a loop device (autoclear) and
 * mounted with the new mount API, nosuid, nodev and noexec, as a detached mount: Core holds it as a
 * descriptor for its whole life and never attaches it anywhere on the host. Each start of the app
 * gets a clone of it, which the sandbox attaches at /data inside the app's own mount namespace.
 *
 * What stays true: nothing in an app's file system is reachable through any
 * path on the host, and when Core ends (even killed) the kernel unmounts it
 * and frees the loop device; an app that fills it gets ENOSPC and the image
 * never grows past its size; Core never deletes or rewrites an image it
 * cannot mount, and never shrinks one.
 */
#ifndef KOS_CORE_STORAGE_INT_H
#define KOS_CORE_STORAGE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Free loop devices tried when another process takes each one between
 * LOOP_CTL_GET_FREE and LOOP_CONFIGURE. */
#define KOS__STORAGE_LOOP_TRIES 16

struct kos__storage {
    int mnt;        /* the detached mount of the app's file system, or -1 */
    char dev[32];   /* its loop device, "/dev/loopN" */
    uint64_t bytes; /* the image's size */
};

/* What kos__storage_open() found or did. */
enum kos__storage_how {
    KOS__STORAGE_OPENED,    /* the image was there, of the size asked */
    KOS__STORAGE_MADE,      /* there was none: made */
    KOS__STORAGE_GROWN,     /* it was smaller: grown before it was mounted (e2fsck -f -p,
                               resize2fs) */
    KOS__STORAGE_NOT_GROWN, /* it was smaller and could not be grown (err says why):
                               mounted as it was */
    KOS__STORAGE_LARGER,    /* it was larger: kept (never shrunk) */
};

/* Whether this host lets Core give apps images: it can open the loop
 * control device, mke2fs is there and the kernel mounts ext4 (e2fsck and
 * resize2fs are needed only to grow an image). Call only when Core may
 * mount (privileged). Returns 0, or an errno with why set. */
int kos__storage_usable(char *why, size_t len) __attribute__((warn_unused_result));

/*
 * Opens image `file` in directory dfd (making it when it is not there:
 * `bytes` long, sparse, its root owned by uid:gid), attaches it to a loop
 * device and mounts it detached into s. An image smaller than `bytes` is
 * grown; a larger one is kept. *how and *was (the image's size before) say
 * which (and err why one could not be grown). On failure s holds nothing,
 * err says why (an image Core cannot mount is left as it is) and an errno
 * is returned. Blocks (mke2fs, e2fsck, resize2fs).
 */
int kos__storage_open(struct kos__storage *s, int dfd, const char *file, uint64_t bytes, uid_t uid,
                      gid_t gid, enum kos__storage_how *how, uint64_t *was, char *err,
                      size_t errlen) __attribute__((warn_unused_result));

/* A new detached mount of s's file system, for one start of the app (the
 * caller owns it; the sandbox moves it to /data). Returns a descriptor, or
 * -1 with errno. */
int kos__storage_clone(const struct kos__storage *s);

/* Closes the mount: once no sandbox holds a clone either, the kernel
 * unmounts the file system and frees the loop device. Safe when s->mnt is
 * -1. */
void kos__storage_close(struct kos__storage *s);

/* Writes a size as people read it: "16 MiB", "1536 KiB", "1000000 bytes". */
void kos__storage_size_name(uint64_t bytes, char *buf, size_t len);

#endif
