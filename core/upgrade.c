/*
 * upgrade.c - the managing app's upgrades: an image into the boot store,
 * blob by blob (sys_int.h, STORE_*; manifest/store.h, "Upgrades";
 * docs/upgrades.md).
 *
 * The managing app (admin) asks which blobs the store lacks, gets for each
 * a pipe whose other end Core drains into the blob's staging file, hands
 * that pipe to whatever fetches the bytes (the tunnel), and tells Core when
 * the blob is whole; Core checks its digest before it keeps it. Last, Core
 * stores the image as the current generation, verified whole against its
 * own trusted keys as at every boot. The app never gets a file of the
 * store, and nothing it sends changes what boots until the image verifies.
 *
 * Core never blocks on the pipe: it reads what is there, a bounded amount
 * per turn of its loop, and never writes past the size the app named.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core_int.h"
#include "file_int.h"
#include "text_int.h"
#include "image_int.h"
#include "store.h"

/* What one turn of Core's loop drains from the pipe. */
#define STAGE_TURN (64u << 10)

static void short_hex(const uint8_t sha[32], char out[17])
{
    kos__image_hex(sha, 8, out);
}

/* Ends the blob being staged, if any: its pipe and file closed. */
void kos__core_stage_end(struct core *c)
{
    if (c->stage_rd >= 0)
        close(c->stage_rd);
    if (c->stage_fd >= 0)
        close(c->stage_fd);
    c->stage_rd = c->stage_fd = -1;
}

/* Reads what the pipe holds into the staging file, at most `max` bytes.
 * The pipe is closed at its end (EOF), and on a write error or more bytes
 * than the blob's size (said once). */
void kos__core_stage_drain(struct core *c, size_t max)
{
    char buf[STAGE_TURN], hex[17];
    size_t done = 0;

    short_hex(c->stage_sha, hex);
    while (c->stage_rd >= 0 && done < max) {
        ssize_t n = read(c->stage_rd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) { /* the writer closed it, or it broke */
            close(c->stage_rd);
            c->stage_rd = -1;
            return;
        }
        if ((uint64_t)n > c->stage_size - c->stage_got) {
            kos__core_say_sys(c,
                              "upgrade: blob %s... got more than its %llu bytes; its pipe is "
                              "closed, and the blob will not be kept",
                              hex, (unsigned long long)c->stage_size);
            n = (ssize_t)(c->stage_size - c->stage_got);
            c->stage_over = true;
        }
        if (n > 0 && kos__write_all(c->stage_fd, buf, (size_t)n) != 0) {
            kos__core_say_sys(c, "upgrade: cannot write blob %s... into the store: %s", hex,
                              strerror(errno));
            c->stage_over = true;
        }
        c->stage_got += (uint64_t)n;
        done += (size_t)n;
        if (c->stage_over) {
            close(c->stage_rd);
            c->stage_rd = -1;
        }
    }
}

static struct kos_image_open_opts trust(const struct core *c)
{
    return (struct kos_image_open_opts){.trusted_keys = c->opts->trusted_keys,
                                        .n_trusted_keys = c->opts->n_trusted_keys,
                                        .allow_unsigned = c->opts->allow_unsigned};
}

static void answer_needs(struct core *c, struct proc *from, uint32_t id, kos_status_t st,
                         const char *msg, uint32_t same, const struct kos_store_need *need,
                         size_t n)
{
    struct kos__sys_needs a = {.id = id, .status = (uint32_t)st, .same = same};
    char text[KOS__SYS_MESSAGE_MAX];
    size_t len;

    snprintf(text, sizeof(text), "%s", msg);
    text[kos__text_boundary(text, strlen(text))] = '\0';
    a.message = text;
    a.n = st ? 0 : (uint32_t)n;
    for (uint32_t i = 0; i < a.n; i++) {
        memcpy(a.need[i].sha256, need[i].sha256, 32);
        a.need[i].have = need[i].have;
    }
    if (from->ctl >= 0 &&
        kos__sys_needs_encode(&a, c->sysout, KOS__CTL_MAX, &len) == KOS_STATUS_OK &&
        kos__ctl_send_nowait(from->ctl, KOS__CTL_SYS_STORE_NEEDS, c->sysout, len) != KOS_STATUS_OK)
        kos__core_close_ctl(c, from);
}

static void store_need(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct kos_store_need need[KOS__SYS_NEED_MAX];
    struct kos_image_open_opts io = trust(c);
    char err[KOS__SYS_MESSAGE_MAX];
    uint32_t same = 0;
    size_t n = 0;

    kos_status_t st = kos_store_need(c->opts->store, rq->sig, rq->sig_len, &io, need,
                                     KOS__SYS_NEED_MAX, &n, &same, err, sizeof(err));
    if (st) {
        kos__core_say_sys(c, "upgrade asked by app '%s' refused: %s", from->name, err);
        answer_needs(c, from, rq->id, st, err, 0, NULL, 0);
        return;
    }
    c->n_stage_need = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        memcpy(c->stage_need[i], need[i].sha256, 32);
    answer_needs(c, from, rq->id, KOS_STATUS_OK, "", same, need, n);
}

/* Whether blob sha is one the last STORE_NEED named; else answers the
 * request that it is not, and says so. */
static bool needed(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    char hex[17];

    for (uint32_t i = 0; i < c->n_stage_need; i++)
        if (memcmp(c->stage_need[i], rq->sha256, 32) == 0)
            return true;
    short_hex(rq->sha256, hex);
    kos__core_say_sys(c,
                      "app '%s' asked to stage blob %s..., which the store does not need for the "
                      "image it last asked about; refused",
                      from->name, hex);
    kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_UNAUTHORIZED,
                         "blob %s... is not one the store needs (ask STORE_NEED first)", hex);
    return false;
}

/* Whether the store's file system has room for `size` more bytes and a
 * reserve (a tenth, at most 64 MiB) left; else answers that it has not. */
static bool room_for(struct core *c, struct proc *from, const struct kos__sys_request *rq, int fd,
                     uint64_t have)
{
    struct statvfs vs;

    if (fstatvfs(fd, &vs) != 0)
        return true; /* the write itself will say */
    uint64_t total = (uint64_t)vs.f_blocks * vs.f_frsize;
    uint64_t avail = (uint64_t)vs.f_bavail * vs.f_frsize;
    uint64_t reserve = total / 10 < (64ull << 20) ? total / 10 : (64ull << 20);
    uint64_t want = rq->size - have;
    if (avail >= reserve && avail - reserve >= want)
        return true;
    kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_TOO_LARGE,
                         "the store has %llu bytes free, of which it keeps %llu: no room for the "
                         "%llu bytes of this blob still to come",
                         (unsigned long long)avail, (unsigned long long)reserve,
                         (unsigned long long)want);
    return false;
}

static void store_fetch(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct kos__sys_result r = {.id = rq->id, .status = KOS_STATUS_OK};
    char err[KOS__SYS_MESSAGE_MAX], msg[KOS__SYS_MESSAGE_MAX], hex[17];
    int fd, p[2];
    uint64_t have;
    size_t len;

    kos__core_stage_end(c);
    short_hex(rq->sha256, hex);
    if (!needed(c, from, rq))
        return;
    if (kos_store_stage_open(c->opts->store, rq->sha256, rq->size, &fd, &have, err, sizeof(err))) {
        kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_IO, "%s", err);
        return;
    }
    if (!room_for(c, from, rq, fd, have)) {
        close(fd);
        return;
    }
    if (pipe2(p, O_CLOEXEC) != 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) != 0) {
        kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_IO,
                             "cannot make a pipe: %s", strerror(errno));
        close(fd);
        return;
    }
    c->stage_fd = fd;
    c->stage_rd = p[0];
    memcpy(c->stage_sha, rq->sha256, 32);
    c->stage_size = rq->size;
    c->stage_got = have;
    c->stage_over = false;
    snprintf(msg, sizeof(msg), "blob %s...: %llu of %llu bytes staged; write the rest", hex,
             (unsigned long long)have, (unsigned long long)rq->size);
    r.message = msg;
    if (from->ctl < 0 || kos__sys_result_encode(&r, c->sysout, KOS__CTL_MAX, &len) ||
        kos__ctl_send_fd_nowait(from->ctl, KOS__CTL_SYS_RESULT, c->sysout, len, p[1]))
        kos__core_stage_end(c);
    close(p[1]); /* the managing app holds it now */
}

static void store_done(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    char err[KOS__SYS_MESSAGE_MAX], hex[17];
    bool staging = c->stage_fd >= 0 && memcmp(c->stage_sha, rq->sha256, 32) == 0;

    short_hex(rq->sha256, hex);
    if (!needed(c, from, rq))
        return;
    if (staging) {
        kos__core_stage_drain(c, SIZE_MAX);
        if (c->stage_rd >= 0) {
            kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_BUSY,
                                 "blob %s... is still arriving: its pipe is open", hex);
            return;
        }
        kos__core_stage_end(c);
    }
    kos_status_t st = kos_store_stage_done(c->opts->store, rq->sha256, rq->size, err, sizeof(err));
    if (st) {
        kos__core_say_sys(c, "upgrade: %s", err);
        kos__core_sys_result(c, from->idx, from->starts, rq->id, st, "%s", err);
        return;
    }
    kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_OK,
                         "blob %s... (%llu bytes) verified and stored", hex,
                         (unsigned long long)rq->size);
}

static void store_add(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct kos_image_open_opts io = trust(c);
    char err[KOS__SYS_MESSAGE_MAX];
    uint32_t gen = 0;
    bool added = false;

    kos__core_stage_end(c);
    kos_status_t st =
        kos_store_add(c->opts->store, rq->sig, rq->sig_len, &io, &gen, &added, err, sizeof(err));
    if (st) {
        kos__core_say_sys(c, "upgrade asked by app '%s' refused: %s", from->name, err);
        kos__core_sys_result(c, from->idx, from->starts, rq->id, st, "%s", err);
        return;
    }
    kos__core_store_survey(c);
    if (!added) {
        kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_OK,
                             "generation %u is that image already: nothing changed", gen);
        return;
    }
    say(c,
        "upgrade: the image is verified and stored as generation %u of the boot store; it is "
        "current and boots at the next reboot",
        gen);
    kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_OK,
                         "stored as generation %u, current: it boots at the next reboot", gen);
}

void kos__core_sys_store(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    static const char none[] =
        "this system was booted from an image file, not a boot store: it cannot be upgraded "
        "(docs/storage.md)";

    if (!c->opts->store) {
        if (rq->type == KOS__CTL_SYS_STORE_NEED)
            answer_needs(c, from, rq->id, KOS_STATUS_UNSUPPORTED, none, 0, NULL, 0);
        else
            kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_UNSUPPORTED, "%s",
                                 none);
        return;
    }
    switch (rq->type) {
    case KOS__CTL_SYS_STORE_NEED:
        store_need(c, from, rq);
        break;
    case KOS__CTL_SYS_STORE_FETCH:
        store_fetch(c, from, rq);
        break;
    case KOS__CTL_SYS_STORE_DONE:
        store_done(c, from, rq);
        break;
    default:
        store_add(c, from, rq);
    }
}
