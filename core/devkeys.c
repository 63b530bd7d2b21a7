/*
 * devkeys.c - opening a device key bundle for key_store (devkeys_int.h).
 *
 * The index is checked by kos__key_bundle_read() (manifest/keys.c); each
 * file it names is then opened without following symbolic links and
 * checked again on the open descriptor, so a file swapped between the two
 * checks is caught.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devkeys_int.h"

/* A key name as key_store takes it: 1..31 characters from [a-z0-9_]. */
static bool key_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 31)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

void kos__devkeys_close(struct kos__devkeys *keys)
{
    for (size_t i = 0; i < keys->n; i++)
        if (keys->e[i].fd >= 0)
            close(keys->e[i].fd);
    memset(keys, 0, sizeof(*keys));
}

kos_status_t kos__devkeys_open(const char *dir, struct kos__devkeys *out, char *err, size_t errlen)
{
    struct kos__bundle *b;
    kos_status_t st;

    memset(out, 0, sizeof(*out));
    b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    st = kos__key_bundle_read(dir, b, err, errlen);
    if (st)
        goto out_free;
    for (size_t i = 0; i < b->n; i++) {
        const struct kos__bundle_entry *e = &b->e[i];
        struct kos__devkey *k = &out->e[out->n];
        struct stat sb;
        int fd;

        if (!key_name_ok(e->name)) {
            snprintf(err, errlen,
                     "%s/" KOS__BUNDLE_INDEX ": key name '%s' is not 1-31 characters from "
                     "[a-z0-9_]",
                     dir, e->name);
            st = KOS_STATUS_PROTOCOL;
            goto out_close;
        }
        for (size_t j = 0; j < out->n; j++) {
            if (!strcmp(out->e[j].name, e->name)) {
                snprintf(err, errlen, "%s/" KOS__BUNDLE_INDEX ": key '%s' is listed twice", dir,
                         e->name);
                st = KOS_STATUS_PROTOCOL;
                goto out_close;
            }
        }
        fd = open(e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

        if (fd < 0) {
            snprintf(err, errlen, "%s: cannot open: %s", e->path, strerror(errno));
            st = errno == ENOENT ? KOS_STATUS_NOT_FOUND : KOS_STATUS_IO;
            goto out_close;
        }
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            snprintf(err, errlen, "%s is not a regular file", e->path);
            close(fd);
            st = KOS_STATUS_INVALID_ARGUMENT;
            goto out_close;
        }
        if (e->private_key && (sb.st_mode & 077)) {
            snprintf(err, errlen,
                     "private key %s may be read or written by group or others (mode %04o): "
                     "run chmod 600 %s",
                     e->path, (unsigned)(sb.st_mode & 07777), e->path);
            close(fd);
            st = KOS_STATUS_UNAUTHORIZED;
            goto out_close;
        }
        snprintf(k->name, sizeof(k->name), "%s", e->name);
        snprintf(k->type, sizeof(k->type), "%s", e->type);
        snprintf(k->id, sizeof(k->id), "%s", e->id);
        k->private_key = e->private_key;
        k->fd = fd;
        out->n++;
    }
    st = KOS_STATUS_OK;
    goto out_free;

out_close:
    kos__devkeys_close(out);
out_free:
    free(b);
    return st;
}
