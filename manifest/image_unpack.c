/*
 * image_unpack.c - checking a system image (manifest.zip) that came from
 * outside and storing its blobs content-addressed (image_int.h,
 * kos__image_unpack): how a server takes a release it will offer devices.
 *
 * It reads the zip with kos_image_open()'s own reader (image_zip_int.h), so
 * an image is held to the same rules on the server as on the device, but
 * for the signature, which only the device's trusted keys can judge.
 *
 * What stays true: nothing is renamed into the folder before every entry
 * has been read and hashed to its name; a blob is written to a temporary
 * file, synced, and renamed only then, so the folder holds a file named by
 * a digest only when its bytes hash to it, and a failure leaves the folder
 * as it was (its temporary files removed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiled.h"
#include "image_int.h"
#include "image_zip_int.h"

#define TMP_PREFIX ".unpack-"

/* The temporary name of blob hex in the folder. */
static void tmp_name(const char *hex, char out[sizeof(TMP_PREFIX) + 64])
{
    snprintf(out, sizeof(TMP_PREFIX) + 64, TMP_PREFIX "%.64s", hex);
}

/* Reads image.sig and the manifest blob it names into u: release, system,
 * and that every binary the manifest names is a blob of the image. */
static kos_status_t read_manifest(struct opening *o, struct kos__image_unpacked *u)
{
    struct blob_entry sig_entry = {.index = o->sig_index, .size = o->sig_size}, *be;
    struct kos__image_sig sig;
    struct kos_cm cm;
    uint8_t sha[32];
    char got[65], cmerr[256];
    void *buf;
    kos_status_t st;

    if (o->sig_size > KOS__IMAGE_SIG_MAX) {
        snprintf(o->err, o->errlen, "image.sig is %llu bytes; at most %u",
                 (unsigned long long)o->sig_size, KOS__IMAGE_SIG_MAX);
        return KOS_STATUS_PROTOCOL;
    }
    st = kos__image_read_entry(o, &sig_entry, "image.sig", (uint8_t *)u->sig_text, -1, sha);
    if (st)
        return st;
    u->sig_len = (size_t)o->sig_size;
    u->sig_text[u->sig_len] = '\0';
    st = kos__image_sig_parse(u->sig_text, u->sig_len, &sig, o->err, o->errlen);
    if (st)
        return st;
    kos__image_hex(sig.manifest, 32, u->manifest_hex);
    be = kos__image_find_blob(o, sig.manifest);
    if (!be) {
        snprintf(o->err, o->errlen,
                 "image.sig names manifest %s, but the image has no entry blobs/%s",
                 u->manifest_hex, u->manifest_hex);
        return KOS_STATUS_PROTOCOL;
    }
    if (be->size == 0 || be->size > KOS_CM_MAX_SIZE) {
        snprintf(o->err, o->errlen, "manifest blob %s is %llu bytes; it must be 1 to %u",
                 u->manifest_hex, (unsigned long long)be->size, KOS_CM_MAX_SIZE);
        return KOS_STATUS_PROTOCOL;
    }
    buf = malloc((size_t)be->size); /* malloc() aligns to at least 8 */
    if (!buf) {
        snprintf(o->err, o->errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    st = kos__image_read_entry(o, be, "the manifest blob", buf, -1, sha);
    if (!st && memcmp(sha, sig.manifest, 32) != 0) {
        kos__image_hex(sha, 32, got);
        snprintf(o->err, o->errlen, "entry blobs/%s (the manifest) has SHA-256 %s", u->manifest_hex,
                 got);
        st = KOS_STATUS_PROTOCOL;
    }
    if (!st && kos_cm_open(&cm, buf, (size_t)be->size, cmerr, sizeof(cmerr)) != KOS_STATUS_OK) {
        snprintf(o->err, o->errlen, "manifest blob %s is not a valid compiled manifest: %s",
                 u->manifest_hex, cmerr);
        st = KOS_STATUS_PROTOCOL;
    }
    for (uint32_t i = 0; !st && i < kos_cm_nprocs(&cm); i++) {
        const struct kos_cm_proc *p = kos_cm_proc(&cm, i);
        struct blob_entry *bin = kos__image_find_blob(o, p->sha256);
        if (bin) {
            bin->referenced = true;
        } else {
            kos__image_hex(p->sha256, 32, got);
            snprintf(o->err, o->errlen,
                     "the manifest names binary '%.64s' with SHA-256 %s, but the image has no "
                     "entry blobs/%s",
                     kos_cm_str(&cm, p->binary), got, got);
            st = KOS_STATUS_PROTOCOL;
        }
    }
    be->referenced = true;
    for (size_t i = 0; !st && i < o->n_blobs; i++)
        if (!o->blobs[i].referenced) {
            kos__image_hex(o->blobs[i].sha, 32, got);
            snprintf(o->err, o->errlen,
                     "image has an entry blobs/%s that its manifest does not name (as a device "
                     "would refuse it)",
                     got);
            st = KOS_STATUS_PROTOCOL;
        }
    if (!st) {
        u->release = cm.hdr->release;
        u->overlay = kos_cm_overlay(&cm);
        snprintf(u->system, sizeof(u->system), "%s", kos_cm_str(&cm, cm.hdr->system_name));
    }
    free(buf);
    return st;
}

/* Reads blob entry be, checks its digest, and, unless the folder holds it,
 * writes it to its temporary file there (synced). */
static kos_status_t unpack_blob(struct opening *o, int dfd, const struct blob_entry *be,
                                struct kos__image_unpacked_blob *ub)
{
    char what[96], tmp[sizeof(TMP_PREFIX) + 64], got[65];
    struct stat sb;
    uint8_t sha[32];
    kos_status_t st;
    int fd = -1;

    kos__image_hex(be->sha, 32, ub->hex);
    ub->size = be->size;
    snprintf(what, sizeof(what), "entry blobs/%s", ub->hex);
    ub->had = fstatat(dfd, ub->hex, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
              (uint64_t)sb.st_size == be->size;
    if (!ub->had) {
        tmp_name(ub->hex, tmp);
        (void)unlinkat(dfd, tmp, 0); /* left by an earlier unpacking that stopped */
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            snprintf(o->err, o->errlen, "cannot write blob %s: %s", ub->hex, strerror(errno));
            return KOS_STATUS_IO;
        }
    }
    st = kos__image_read_entry(o, be, what, NULL, fd, sha);
    if (!st && memcmp(sha, be->sha, 32) != 0) {
        kos__image_hex(sha, 32, got);
        snprintf(o->err, o->errlen, "%s has SHA-256 %s, not the digest it is named by", what, got);
        st = KOS_STATUS_PROTOCOL;
    }
    if (!st && fd >= 0 && fsync(fd) != 0) {
        snprintf(o->err, o->errlen, "cannot sync blob %s: %s", ub->hex, strerror(errno));
        st = KOS_STATUS_IO;
    }
    if (fd >= 0)
        close(fd);
    return st;
}

/* Removes the temporary files of the first n blobs. */
static void remove_tmps(int dfd, const struct kos__image_unpacked *u, size_t n)
{
    char tmp[sizeof(TMP_PREFIX) + 64];

    for (size_t i = 0; i < n; i++)
        if (!u->blobs[i].had) {
            tmp_name(u->blobs[i].hex, tmp);
            (void)unlinkat(dfd, tmp, 0);
        }
}

kos_status_t kos__image_unpack(const char *path, const char *name, int blobs_dfd,
                               struct kos__image_unpacked *out, char *err, size_t errlen)
{
    struct opening o = {.path = path, .err = err, .errlen = errlen, .store_dfd = -1};
    char tmp[sizeof(TMP_PREFIX) + 64];
    size_t done = 0;
    kos_status_t st;

    memset(out, 0, sizeof(*out));
    st = kos__image_zip_open(&o, path, name);
    if (!st)
        st = kos__image_scan_entries(&o);
    if (!st)
        st = read_manifest(&o, out);
    if (!st && !(out->blobs = calloc(o.n_blobs ? o.n_blobs : 1, sizeof(*out->blobs)))) {
        snprintf(err, errlen, "out of memory");
        st = KOS_STATUS_NO_MEMORY;
    }
    for (; !st && done < o.n_blobs; done++) {
        st = unpack_blob(&o, blobs_dfd, &o.blobs[done], &out->blobs[done]);
        out->bytes += o.blobs[done].size;
    }
    if (st) {
        remove_tmps(blobs_dfd, out, done);
        goto out;
    }
    out->n_blobs = o.n_blobs;
    for (size_t i = 0; i < out->n_blobs; i++) {
        if (out->blobs[i].had)
            continue;
        tmp_name(out->blobs[i].hex, tmp);
        if (renameat(blobs_dfd, tmp, blobs_dfd, out->blobs[i].hex) != 0) {
            snprintf(err, errlen, "cannot store blob %s: %s", out->blobs[i].hex, strerror(errno));
            remove_tmps(blobs_dfd, out, out->n_blobs); /* those renamed are whole blobs */
            st = KOS_STATUS_IO;
            goto out;
        }
    }
    if (fsync(blobs_dfd) != 0) {
        snprintf(err, errlen, "cannot sync the blobs' folder: %s", strerror(errno));
        st = KOS_STATUS_IO;
    }
out:
    if (o.za)
        zip_discard(o.za);
    free(o.blobs);
    if (st)
        kos__image_unpacked_fini(out);
    return st;
}

void kos__image_unpacked_fini(struct kos__image_unpacked *u)
{
    free(u->blobs);
    u->blobs = NULL;
    u->n_blobs = 0;
}
