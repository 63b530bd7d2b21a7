/*
 * upgrades.c - pushing releases to devices (upgrades.h): an image taken
 * in, its blobs stored, the Upgrade command sent; the device's progress
 * stored and forwarded; the blob route's hooks, which serve a device the
 * blobs of the releases sent to it and count what they served.
 *
 * What stays true: the device is checked to be online before the image is
 * read, and the image is checked whole (kos__image_unpack) before anything
 * is recorded; a command is recorded before it is sent, and one that could
 * not be sent has that as its result. A blob file is opened only by the
 * name of a digest the database offered the device.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "image_int.h"
#include "server_int.h"
#include "srv_json.h"
#include "srv_limits.h"
#include "store.h"
#include "upgrades.h"

#define CH_ADMIN 1u

/* Opens (making it) the data folder's blob store. */
static int blobs_dir(struct kos__srv *srv, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int dfd;

    if ((size_t)snprintf(path, sizeof(path), "%s/" KOS__UPGRADES_BLOBS_DIR, srv->data_dir) >=
        sizeof(path)) {
        snprintf(err, errlen, "the data folder's path is too long");
        return -1;
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
        return -1;
    }
    dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return dfd;
}

/* Packs the Upgrade command cmd_id for u into a new buffer (*len bytes). */
static uint8_t *pack_upgrade(const struct kos__image_unpacked *u, uint64_t cmd_id, size_t *len)
{
    Kos__Admin__AdminDown down = KOS__ADMIN__ADMIN_DOWN__INIT;
    Kos__Admin__Command c = KOS__ADMIN__COMMAND__INIT;
    Kos__Admin__Upgrade up = KOS__ADMIN__UPGRADE__INIT;
    Kos__Admin__Blob *blobs = calloc(u->n_blobs ? u->n_blobs : 1, sizeof(*blobs));
    Kos__Admin__Blob **ptrs = calloc(u->n_blobs ? u->n_blobs : 1, sizeof(*ptrs));
    uint8_t *buf = NULL;

    if (!blobs || !ptrs)
        goto out;
    for (size_t i = 0; i < u->n_blobs; i++) {
        kos__admin__blob__init(&blobs[i]);
        blobs[i].sha256 = (char *)u->blobs[i].hex;
        blobs[i].size = u->blobs[i].size;
        ptrs[i] = &blobs[i];
    }
    up.image_sig = (char *)u->sig_text;
    up.n_blobs = u->n_blobs;
    up.blobs = ptrs;
    up.release = u->release;
    up.overlay = u->overlay;
    up.system = (char *)u->system;
    c.id = cmd_id;
    c.body_case = KOS__ADMIN__COMMAND__BODY_UPGRADE;
    c.upgrade = &up;
    down.body_case = KOS__ADMIN__ADMIN_DOWN__BODY_COMMAND;
    down.command = &c;
    *len = kos__admin__admin_down__get_packed_size(&down);
    buf = malloc(*len ? *len : 1);
    if (buf)
        kos__admin__admin_down__pack(&down, buf);
out:
    free(blobs);
    free(ptrs);
    return buf;
}

/* Records release u and its upgrade command for device id: its id in
 * *cmd_id. */
static kos_status_t record(struct kos__srv *srv, const char *id,
                           const struct kos__image_unpacked *u, uint64_t *cmd_id)
{
    const char **sha = calloc(u->n_blobs ? u->n_blobs : 1, sizeof(*sha));
    uint64_t *size = calloc(u->n_blobs ? u->n_blobs : 1, sizeof(*size));
    char json[160];
    kos_status_t st = KOS_STATUS_NO_MEMORY;

    if (sha && size) {
        for (size_t i = 0; i < u->n_blobs; i++) {
            sha[i] = u->blobs[i].hex;
            size[i] = u->blobs[i].size;
        }
        struct kos__store_release r = {.manifest_sha256 = u->manifest_hex,
                                       .system = u->system,
                                       .image_sig = u->sig_text,
                                       .release = u->release,
                                       .overlay = u->overlay,
                                       .n_blobs = u->n_blobs,
                                       .blob_sha256 = sha,
                                       .blob_size = size,
                                       .bytes = u->bytes};
        snprintf(json, sizeof(json),
                 "{\"upgrade\":{\"release\":%u,\"overlay\":%u,\"manifest\":\"%s\"}}",
                 (unsigned)u->release, (unsigned)u->overlay, u->manifest_hex);
        st = kos__store_upgrade_add(srv->store, id, &r, json, cmd_id);
    }
    free(sha);
    free(size);
    return st;
}

/* Sends upgrade command cmd_id for u to device id; one not sent gets that
 * as its result. */
static kos_status_t send_upgrade(struct kos__srv *srv, const char *id,
                                 const struct kos__image_unpacked *u, uint64_t cmd_id, char *err,
                                 size_t errlen)
{
    size_t len = 0;
    uint8_t *buf = pack_upgrade(u, cmd_id, &len);
    kos_status_t st =
        buf ? kos__devport_send(srv->devport, id, CH_ADMIN, buf, len) : KOS_STATUS_NO_MEMORY;

    free(buf);
    if (st == KOS_STATUS_OK)
        return st;
    if (kos__store_command_done(srv->store, id, cmd_id, st, "not sent") != KOS_STATUS_OK)
        kos__srv_log("device %.16s: cannot record command %llu as not sent", id,
                     (unsigned long long)cmd_id);
    if (st == KOS_STATUS_TOO_LARGE)
        snprintf(err, errlen,
                 "the image has %zu blobs: its Upgrade command (%zu bytes) is more than device "
                 "%s takes in one message",
                 u->n_blobs, len, id);
    else if (st == KOS_STATUS_BUSY)
        snprintf(err, errlen, "device %s's admin channel is full: try again", id);
    else if (st == KOS_STATUS_NO_MEMORY)
        snprintf(err, errlen, "out of memory");
    else
        snprintf(err, errlen, "device %s is not online", id);
    return st == KOS_STATUS_TOO_LARGE || st == KOS_STATUS_BUSY || st == KOS_STATUS_NO_MEMORY
               ? st
               : KOS_STATUS_UNAVAILABLE;
}

/* Writes body (drained) to a new temporary file of the data folder: its
 * path in path, or false with err said. */
static bool body_file(struct kos__srv *srv, struct evbuffer *body, char path[PATH_MAX], char *err,
                      size_t errlen)
{
    int fd;

    if ((size_t)snprintf(path, PATH_MAX, "%s/.upload-XXXXXX", srv->data_dir) >= PATH_MAX) {
        snprintf(err, errlen, "the data folder's path is too long");
        return false;
    }
    fd = mkstemp(path);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write the image in the data folder: %s", strerror(errno));
        return false;
    }
    while (evbuffer_get_length(body) > 0)
        if (evbuffer_write(body, fd) < 0 && errno != EINTR)
            break;
    if (evbuffer_get_length(body) > 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write the image in the data folder: %s", strerror(errno));
        close(fd);
        unlink(path);
        return false;
    }
    close(fd);
    return true;
}

kos_status_t kos__upgrades_push(struct kos__srv *srv, const char *id, struct evbuffer *body,
                                json_t **answer, char *err, size_t errlen)
{
    struct kos__image_unpacked u;
    char path[PATH_MAX];
    uint64_t cmd_id = 0;
    size_t fresh = 0;
    kos_status_t st;
    int dfd;

    *answer = NULL;
    st = kos__devices_reachable(srv, id, err, errlen);
    if (st)
        return st;
    dfd = blobs_dir(srv, err, errlen);
    if (dfd < 0)
        return KOS_STATUS_IO;
    if (!body_file(srv, body, path, err, errlen)) {
        close(dfd);
        return KOS_STATUS_IO;
    }
    st = kos__image_unpack(path, "the image", dfd, &u, err, errlen);
    unlink(path);
    close(dfd);
    if (st)
        return st == KOS_STATUS_IO || st == KOS_STATUS_NO_MEMORY ? st : KOS_STATUS_PROTOCOL;
    for (size_t i = 0; i < u.n_blobs; i++)
        fresh += !u.blobs[i].had;
    st = record(srv, id, &u, &cmd_id);
    if (st) {
        snprintf(err, errlen, "the database failed");
        goto out;
    }
    st = send_upgrade(srv, id, &u, cmd_id, err, errlen);
    if (st)
        goto out;
    char over[24] = "";
    if (u.overlay)
        snprintf(over, sizeof(over), " overlay %u", (unsigned)u.overlay);
    kos__srv_log("device %.16s: command %llu sent (upgrade to release %u%s of '%.64s', manifest "
                 "%.16s, %zu blobs, %zu new here)",
                 id, (unsigned long long)cmd_id, (unsigned)u.release, over, u.system,
                 u.manifest_hex, u.n_blobs, fresh);
    *answer = json_pack("{s:o, s:I, s:I, s:o, s:I, s:o, s:s}", "id", kos__json_u64(cmd_id),
                        "release", (json_int_t)u.release, "overlay", (json_int_t)u.overlay,
                        "system", kos__json_str(u.system), "blobs", (json_int_t)u.n_blobs, "bytes",
                        kos__json_u64(u.bytes), "manifest", u.manifest_hex);
    if (!*answer) {
        snprintf(err, errlen, "out of memory");
        st = KOS_STATUS_NO_MEMORY;
    }
    kos__devices_changed(srv, id);
out:
    kos__image_unpacked_fini(&u);
    return st;
}

bool kos__upgrades_progress(struct kos__srv *srv, const char *id,
                            const Kos__Admin__UpgradeProgress *p, char *why, size_t cap)
{
    size_t n = p->stage ? strnlen(p->stage, KOS__SRV_STAGE_MAX + 1) : 0;

    if (n == 0 || n > KOS__SRV_STAGE_MAX) {
        snprintf(why, cap, "an UpgradeProgress whose stage is not 1 to %u bytes",
                 KOS__SRV_STAGE_MAX);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (p->stage[i] < 0x20 || p->stage[i] > 0x7e) {
            snprintf(why, cap, "an UpgradeProgress whose stage is not printable ASCII");
            return false;
        }
    if (kos__store_upgrade_progress(srv->store, id, p->command, p->stage, p->done, p->total,
                                    p->blobs) != KOS_STATUS_OK) {
        kos__srv_log("device %.16s: progress of command %llu, which is not its upgrade: ignored",
                     id, (unsigned long long)p->command);
        return true;
    }
    kos__srv_emit(srv, "upgrade", id,
                  json_pack("{s:s, s:o, s:s, s:o, s:o, s:I}", "device", id, "command",
                            kos__json_u64(p->command), "stage", p->stage, "done",
                            kos__json_u64(p->done), "total", kos__json_u64(p->total), "blobs",
                            (json_int_t)p->blobs));
    return true;
}

/* ---- the blob route's hooks (devport.h) ---- */

static kos_status_t hook_blob_open(void *arg, const char *id, const char *sha256, int *fd,
                                   uint64_t *size)
{
    struct kos__srv *srv = arg;
    char err[256];
    uint64_t cmd;
    struct stat sb;
    kos_status_t st;
    int dfd;

    st = kos__store_blob_offered(srv->store, id, sha256, &cmd, size);
    if (st)
        return st == KOS_STATUS_NOT_FOUND ? st : KOS_STATUS_IO;
    dfd = blobs_dir(srv, err, sizeof(err));
    if (dfd < 0) {
        kos__srv_log("blob %.16s for device %.16s: %s", sha256, id, err);
        return KOS_STATUS_IO;
    }
    *fd = openat(dfd, sha256, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (*fd < 0 || fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != *size) {
        kos__srv_log("blob %s for device %.16s: missing from the blob store or not its size",
                     sha256, id);
        if (*fd >= 0)
            close(*fd);
        return KOS_STATUS_NOT_FOUND;
    }
    return KOS_STATUS_OK;
}

static void hook_blob_served(void *arg, const char *id, const char *sha256, uint64_t n)
{
    struct kos__srv *srv = arg;
    uint64_t cmd, size;

    if (kos__store_blob_offered(srv->store, id, sha256, &cmd, &size) != KOS_STATUS_OK ||
        kos__store_upgrade_served(srv->store, cmd, n) != KOS_STATUS_OK)
        kos__srv_log("device %.16s: cannot count %llu bytes of blob %.16s served", id,
                     (unsigned long long)n, sha256);
}

void kos__upgrades_hooks(struct kos__srv *srv, struct kos__devport_hooks *h)
{
    (void)srv;
    h->blob_open = hook_blob_open;
    h->blob_served = hook_blob_served;
}
