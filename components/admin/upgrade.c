/*
 * upgrade.c - an Upgrade command carried out (admin.h, "upgrades";
 * docs/upgrades.md): the server's offer checked, the blobs Core's store
 * lacks fetched through the tunnel into Core's pipes, the image stored by
 * Core as current, and the reboot into it.
 *
 * admin never touches the store and never judges a blob: Core checks each
 * blob's SHA-256 and the image's signature against its own trusted keys.
 * What admin checks is the offer's shape, so that it asks nothing absurd.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kos/log.h>

#include "admin.h"
#include "admin.pb-c.h"

#define LOG_BURST    10u
#define LOG_EVERY_MS 10000u
/* Core request ids of the upgrade: a range of their own, so that answers
 * are told apart from the agent's, the shell's and debugging's. */
#define CORE_IDS 0x10000000u
/* UpgradeProgress while fetching: at most one per this. */
#define PROGRESS_EVERY_MS 1000u
/* A DONE answered BUSY (Core still draining the pipe): asked again after. */
#define DRAIN_WAIT_MS 50u

static void note(struct admin_upgrade *u, uint64_t now_ms, enum kos_log_level level,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void note(struct admin_upgrade *u, uint64_t now_ms, enum kos_log_level level,
                 const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    kos__budget_vlog_about(&u->log, LOG_BURST, LOG_EVERY_MS, now_ms, "upgrade", level, fmt, ap);
    va_end(ap);
}

bool admin_upgrade_init(struct admin_upgrade *u, struct admin_agent *a, const struct admin_ops *ops,
                        uint32_t first_core_id, uint64_t now_ms)
{
    (void)now_ms;
    memset(u, 0, sizeof(*u));
    u->agent = a;
    u->ops = ops;
    u->next_core_id = first_core_id ? first_core_id : CORE_IDS;
    u->offer = calloc(ADMIN_UPGRADE_BLOBS, sizeof(*u->offer));
    return u->offer != NULL;
}

void admin_upgrade_fini(struct admin_upgrade *u)
{
    free(u->offer);
    u->offer = NULL;
}

bool admin_upgrade_owns(const struct admin_upgrade *u, uint32_t core_id)
{
    return u->step != UP_IDLE && core_id == u->core_id;
}

static uint32_t next_id(struct admin_upgrade *u)
{
    u->core_id = u->next_core_id++;
    if (u->next_core_id < CORE_IDS)
        u->next_core_id = CORE_IDS;
    return u->core_id;
}

static void short_hex(const uint8_t sha[32], char out[17])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hx[sha[i] >> 4];
        out[2 * i + 1] = hx[sha[i] & 15];
    }
    out[16] = '\0';
}

static void progress(struct admin_upgrade *u, const char *stage, uint64_t now_ms)
{
    admin_agent_progress(u->agent, u->cmd_id, stage, u->fetched, u->to_fetch, u->blobs_to_fetch);
    u->progress_ms = now_ms;
}

/* Ends the upgrade with its one result. */
static void finish(struct admin_upgrade *u, uint32_t status, uint64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finish(struct admin_upgrade *u, uint32_t status, uint64_t now_ms, const char *fmt, ...)
{
    char msg[KOS__SYS_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    note(u, now_ms, status ? KOS_LOG_WARN : KOS_LOG_INFO, "command %llu: %s",
         (unsigned long long)u->cmd_id, msg);
    admin_agent_result(u->agent, u->cmd_id, status, msg);
    u->step = UP_IDLE;
}

static void ask(struct admin_upgrade *u, enum admin_upgrade_step step, uint32_t type,
                uint64_t now_ms)
{
    struct kos__sys_request rq = {.type = type, .id = next_id(u)};
    kos_status_t st;

    if (type == KOS__CTL_SYS_STORE_NEED || type == KOS__CTL_SYS_STORE_ADD) {
        rq.sig = u->sig;
        rq.sig_len = u->sig_len;
    } else {
        memcpy(rq.sha256, u->cur.sha256, 32);
        rq.size = u->cur.size;
    }
    u->step = step;
    st = u->ops->store ? u->ops->store(u->ops->arg, &rq) : KOS_STATUS_UNSUPPORTED;
    if (st)
        finish(u, st, now_ms, "Core cannot be asked: %s", kos_status_str(st));
}

/* Waits ms, then takes step `then` (asks Core again). */
static void wait_then(struct admin_upgrade *u, enum admin_upgrade_step then, uint64_t ms,
                      uint64_t now_ms)
{
    u->step = UP_WAIT;
    u->after_wait = then;
    u->wait_until_ms = now_ms + ms;
}

/* A fetch failed, or a blob did not check: try again from where the store
 * stands, until the upgrade has failed ADMIN_UPGRADE_TRIES times. */
static void failed_once(struct admin_upgrade *u, const char *what, uint64_t now_ms)
{
    char hex[17];

    short_hex(u->cur.sha256, hex);
    if (++u->failures >= ADMIN_UPGRADE_TRIES) {
        finish(u, KOS_STATUS_UNAVAILABLE, now_ms,
               "upgrade abandoned after %u failures; the last: blob %s...: %s", u->failures, hex,
               what);
        return;
    }
    note(u, now_ms, KOS_LOG_WARN, "command %llu: blob %s...: %s; trying again (%u of %u)",
         (unsigned long long)u->cmd_id, hex, what, u->failures + 1, ADMIN_UPGRADE_TRIES);
    wait_then(u, UP_NEED, (uint64_t)ADMIN_UPGRADE_RETRY_MS << (u->failures - 1), now_ms);
}

static bool hex32(const char *s, uint8_t out[32])
{
    if (!s || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++) {
        int v = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                             : -1;
        if (v < 0)
            return false;
        if (i % 2)
            out[i / 2] |= (uint8_t)v;
        else
            out[i / 2] = (uint8_t)(v << 4);
    }
    return true;
}

void admin_upgrade_start(struct admin_upgrade *u, uint64_t cmd_id,
                         const struct Kos__Admin__Upgrade *m, uint64_t now_ms)
{
    const char *why = NULL;
    size_t sig_len = m && m->image_sig ? strlen(m->image_sig) : 0;

    if (u->step != UP_IDLE) {
        admin_agent_result(u->agent, cmd_id, KOS_STATUS_BUSY,
                           "an upgrade is under way already (one at a time)");
        return;
    }
    if (!u->ops->store || !u->ops->fetch) {
        admin_agent_result(u->agent, cmd_id, KOS_STATUS_UNAVAILABLE,
                           "this device cannot fetch blobs: the tunnel's allow setting must give "
                           "admin `blobs`");
        return;
    }
    if (sig_len < 1 || sig_len > KOS__SYS_SIG_MAX)
        why = "its image_sig is empty or longer than 1024 bytes";
    else if (m->n_blobs < 1 || m->n_blobs > ADMIN_UPGRADE_BLOBS)
        why = "it names no blob, or more than an image holds";
    for (size_t i = 0; !why && i < m->n_blobs; i++) {
        const Kos__Admin__Blob *b = m->blobs[i];
        if (!b || !hex32(b->sha256, u->offer[i].sha256))
            why = "a blob's sha256 is not 64 lower-case hex digits";
        else if (b->size < 1 || b->size > KOS__SYS_BLOB_MAX)
            why = "a blob's size is 0 or more than 256 MiB";
        else
            u->offer[i].size = b->size;
    }
    if (why) {
        note(u, now_ms, KOS_LOG_WARN, "refused command %llu, an Upgrade: %s",
             (unsigned long long)cmd_id, why);
        admin_agent_result(u->agent, cmd_id, KOS_STATUS_INVALID_ARGUMENT, why);
        return;
    }
    memcpy(u->sig, m->image_sig, sig_len);
    u->sig_len = (uint32_t)sig_len;
    u->n_offer = m->n_blobs;
    u->cmd_id = cmd_id;
    u->release = m->release;
    /* For messages only, as release is: an overlay number that no
     * manifest could carry is left out. */
    if (m->overlay && m->release && m->overlay <= KOS__SYS_OVERLAY_MAX)
        snprintf(u->what, sizeof(u->what), "release %u overlay %u", m->release, m->overlay);
    else
        snprintf(u->what, sizeof(u->what), "release %u", m->release);
    u->fetched = u->to_fetch = 0;
    u->blobs_to_fetch = 0;
    u->failures = 0;
    note(u, now_ms, KOS_LOG_INFO,
         "command %llu from the server: upgrade to %s (%zu blobs); checking what the "
         "store lacks",
         (unsigned long long)cmd_id, u->what, u->n_offer);
    progress(u, "checking", now_ms);
    ask(u, UP_NEED, KOS__CTL_SYS_STORE_NEED, now_ms);
}

static const struct admin_upgrade_blob *offered(const struct admin_upgrade *u,
                                                const uint8_t sha[32])
{
    for (size_t i = 0; i < u->n_offer; i++)
        if (memcmp(u->offer[i].sha256, sha, 32) == 0)
            return &u->offer[i];
    return NULL;
}

void admin_upgrade_needs(struct admin_upgrade *u, const struct kos__sys_needs *n, uint64_t now_ms)
{
    if (u->step != UP_NEED || n->id != u->core_id)
        return;
    if (n->status) {
        finish(u, n->status, now_ms, "refused by the device: %s", n->message);
        return;
    }
    if (n->same) {
        finish(u, KOS_STATUS_OK, now_ms,
               "the device runs that image already (generation %u): nothing to do", n->same);
        return;
    }
    if (n->n == 0) {
        progress(u, "verifying", now_ms);
        ask(u, UP_ADD, KOS__CTL_SYS_STORE_ADD, now_ms);
        return;
    }
    /* What is left to fetch, as the store now says. */
    uint64_t left = 0;
    for (uint32_t i = 0; i < n->n; i++) {
        const struct admin_upgrade_blob *b = offered(u, n->need[i].sha256);
        char hex[17];
        if (!b) {
            short_hex(n->need[i].sha256, hex);
            finish(u, KOS_STATUS_PROTOCOL, now_ms,
                   "the image needs blob %s..., which the server's offer does not name", hex);
            return;
        }
        left += b->size > n->need[i].have ? b->size - n->need[i].have : 0;
    }
    if (u->blobs_to_fetch == 0 || u->to_fetch < u->fetched + left) {
        u->to_fetch = u->fetched + left;
        u->blobs_to_fetch += n->n;
    }
    u->cur = *offered(u, n->need[0].sha256);
    u->cur_have = n->need[0].have;
    if (u->cur_have >= u->cur.size) { /* all there: only to be kept */
        ask(u, UP_DONE, KOS__CTL_SYS_STORE_DONE, now_ms);
        return;
    }
    ask(u, UP_OPEN, KOS__CTL_SYS_STORE_FETCH, now_ms);
}

void admin_upgrade_core_result(struct admin_upgrade *u, uint32_t core_id, uint32_t status,
                               const char *message, int fd, uint64_t now_ms)
{
    if (!admin_upgrade_owns(u, core_id)) {
        if (fd >= 0)
            close(fd);
        return;
    }
    switch (u->step) {
    case UP_OPEN: {
        if (status || fd < 0) {
            if (fd >= 0)
                close(fd);
            finish(u, status ? status : KOS_STATUS_PROTOCOL, now_ms,
                   "the device cannot stage a blob: %s", message);
            return;
        }
        kos_status_t st = u->ops->fetch(u->ops->arg, u->cur.sha256, u->cur_have, u->cur.size, fd);
        close(fd); /* the tunnel has its own */
        if (st == KOS_STATUS_UNAUTHORIZED) {
            finish(u, st, now_ms,
                   "the tunnel does not let admin fetch blobs: its allow setting must give admin "
                   "`blobs`");
            return;
        }
        if (st) {
            failed_once(u, kos_status_str(st), now_ms);
            return;
        }
        u->step = UP_FETCH;
        if (now_ms - u->progress_ms >= PROGRESS_EVERY_MS)
            progress(u, "fetching", now_ms);
        return;
    }
    case UP_DONE:
        if (fd >= 0)
            close(fd);
        if (status == KOS_STATUS_BUSY) {
            wait_then(u, UP_DONE, DRAIN_WAIT_MS, now_ms);
            return;
        }
        if (status) {
            failed_once(u, message, now_ms);
            return;
        }
        ask(u, UP_NEED, KOS__CTL_SYS_STORE_NEED, now_ms);
        return;
    case UP_ADD:
        if (fd >= 0)
            close(fd);
        if (status) {
            finish(u, status, now_ms, "the device refused the image: %s", message);
            return;
        }
        u->upgrades++;
        progress(u, "switching", now_ms);
        finish(u, KOS_STATUS_OK, now_ms, "%s: %s; %llu bytes fetched; rebooting into it", u->what,
               message, (unsigned long long)u->fetched);
        u->step = UP_REBOOT;
        u->wait_until_ms = now_ms + ADMIN_UPGRADE_GRACE_MS;
        return;
    default:
        if (fd >= 0)
            close(fd);
    }
}

void admin_upgrade_fetched(struct admin_upgrade *u, kos_status_t st, uint64_t written,
                           const char *why, uint64_t now_ms)
{
    if (u->step != UP_FETCH)
        return;
    u->fetched += written;
    if (st) {
        failed_once(u, why && why[0] ? why : kos_status_str(st), now_ms);
        return;
    }
    if (now_ms - u->progress_ms >= PROGRESS_EVERY_MS)
        progress(u, "fetching", now_ms);
    ask(u, UP_DONE, KOS__CTL_SYS_STORE_DONE, now_ms);
}

void admin_upgrade_pump(struct admin_upgrade *u, uint64_t now_ms)
{
    if (u->step == UP_WAIT && now_ms >= u->wait_until_ms) {
        enum admin_upgrade_step then = u->after_wait;
        ask(u, then, then == UP_DONE ? KOS__CTL_SYS_STORE_DONE : KOS__CTL_SYS_STORE_NEED, now_ms);
    } else if (u->step == UP_REBOOT &&
               (admin_agent_results_sent(u->agent) || now_ms >= u->wait_until_ms + 10000u) &&
               now_ms >= u->wait_until_ms) {
        char reason[96];
        u->step = UP_IDLE;
        snprintf(reason, sizeof(reason), "upgrade to %s (command %llu from the server)", u->what,
                 (unsigned long long)u->cmd_id);
        if (u->ops->reboot(u->ops->arg, next_id(u), reason))
            note(u, now_ms, KOS_LOG_ERROR, "cannot ask Core for the reboot into the upgrade");
    }
}

uint64_t admin_upgrade_next_ms(const struct admin_upgrade *u)
{
    if (u->step == UP_WAIT || u->step == UP_REBOOT)
        return u->wait_until_ms;
    return UINT64_MAX;
}
