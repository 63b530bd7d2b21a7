/*
 * debug.c - remote debugging: the link's debug channel relayed to and from
 * the debug agent Core attaches to an app (docs/packages/admin.md, "Remote
 * debugging"; proto/debug.proto). See admin.h for what stays true.
 *
 * A session goes: an open from the server, checked here (enabled, one at a
 * time, a valid app name), is asked of Core (DEBUG_ATTACH), which checks
 * the app (debug: true, running) and answers with the agent's socket; from
 * then on DebugDown data goes into the socket and what the socket gives
 * goes out as DebugUp data, each way bounded, until either side closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kos/log.h>

#include "admin.h"
#include "debug.pb-c.h"
#include "text_int.h"

#define LOG_BURST    10u
#define LOG_EVERY_MS 10000u
#define OFF_EVERY_MS 60000u

static void note(struct admin_debug *d, uint64_t now_ms, enum kos_log_level level, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void note(struct admin_debug *d, uint64_t now_ms, enum kos_log_level level, const char *fmt,
                 ...)
{
    va_list ap;

    va_start(ap, fmt);
    kos__budget_vlog_about(&d->log, d->enabled ? LOG_BURST : 1,
                           d->enabled ? LOG_EVERY_MS : OFF_EVERY_MS, now_ms, "debugging", level,
                           fmt, ap);
    va_end(ap);
}

/* Queues one packed DebugUp; false (counted) if the queue is full. */
static bool queue_up(struct admin_debug *d, const Kos__Debug__DebugUp *up)
{
    size_t len = kos__debug__debug_up__get_packed_size(up);
    uint8_t *data;

    if (d->q_n == ADMIN_DEBUG_QUEUE || !(data = malloc(len ? len : 1))) {
        d->lost++;
        return false;
    }
    kos__debug__debug_up__pack(up, data);
    d->q[(d->q_head + d->q_n) % ADMIN_DEBUG_QUEUE].data = data;
    d->q[(d->q_head + d->q_n) % ADMIN_DEBUG_QUEUE].len = len;
    d->q_n++;
    return true;
}

/* Queues an Opened (closed false) or a Closed with a status and a message,
 * escaped. */
static void answer(struct admin_debug *d, bool closed, kos_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void answer(struct admin_debug *d, bool closed, kos_status_t status, const char *fmt, ...)
{
    Kos__Debug__DebugUp up = KOS__DEBUG__DEBUG_UP__INIT;
    Kos__Debug__DebugOpened op = KOS__DEBUG__DEBUG_OPENED__INIT;
    Kos__Debug__DebugClosed cl = KOS__DEBUG__DEBUG_CLOSED__INIT;
    char raw[512], text[600];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    n = n < 0 ? 0 : (size_t)n < sizeof(raw) ? n : (int)sizeof(raw) - 1;
    text[kos__text_escape(text, sizeof(text) - 1, raw, (size_t)n, NULL)] = '\0';
    if (closed) {
        cl.status = (uint32_t)status;
        cl.message = text;
        up.body_case = KOS__DEBUG__DEBUG_UP__BODY_CLOSED;
        up.closed = &cl;
    } else {
        op.status = (uint32_t)status;
        op.message = text;
        up.body_case = KOS__DEBUG__DEBUG_UP__BODY_OPENED;
        up.opened = &op;
    }
    queue_up(d, &up);
}

/* Ends the session under way, if any: the agent's socket closed (it then
 * detaches from the app and exits), the bytes waiting for it dropped. */
static void end_session(struct admin_debug *d)
{
    if (d->sock >= 0)
        close(d->sock);
    d->sock = -1;
    d->down_len = 0;
    d->state = ADMIN_DEBUG_IDLE;
    d->app[0] = '\0';
}

bool admin_debug_init(struct admin_debug *d, bool enabled, const struct admin_ops *ops,
                      uint64_t now_ms)
{
    memset(d, 0, sizeof(*d));
    d->ops = *ops;
    d->enabled = enabled;
    d->sock = -1;
    d->next_core = 1;
    d->log =
        kos__budget_full(enabled ? LOG_BURST : 1, enabled ? LOG_EVERY_MS : OFF_EVERY_MS, now_ms);
    d->down = malloc(ADMIN_DEBUG_BUF);
    return d->down != NULL;
}

void admin_debug_fini(struct admin_debug *d)
{
    if (!d->down)
        return; /* never set up */
    end_session(d);
    for (size_t i = 0; i < d->q_n; i++)
        free(d->q[(d->q_head + i) % ADMIN_DEBUG_QUEUE].data);
    free(d->down);
    memset(d, 0, sizeof(*d));
    d->sock = -1;
}

bool admin_debug_ready(const struct admin_debug *d)
{
    return d->q_n + 2 <= ADMIN_DEBUG_QUEUE && d->down_len + KOS_TUNNEL_DATA_MAX <= ADMIN_DEBUG_BUF;
}

/* Writes what waits for the agent, as much as its socket takes. */
static void flush_down(struct admin_debug *d, uint64_t now_ms)
{
    while (d->sock >= 0 && d->down_len > 0) {
        ssize_t n = write(d->sock, d->down, d->down_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            note(d, now_ms, KOS_LOG_INFO, "debug: the agent of app '%s' is gone (%s)", d->app,
                 n < 0 ? strerror(errno) : "closed");
            answer(d, true, KOS_STATUS_CLOSED, "the debug agent of app '%s' is gone", d->app);
            end_session(d);
            return;
        }
        memmove(d->down, d->down + n, d->down_len - (size_t)n);
        d->down_len -= (size_t)n;
        d->bytes_down += (uint64_t)n;
    }
}

static void open_session(struct admin_debug *d, const Kos__Debug__DebugOpen *o, uint64_t now_ms)
{
    char q[200];
    kos_status_t st;

    if (d->state != ADMIN_DEBUG_IDLE) {
        d->refused++;
        answer(d, false, KOS_STATUS_BUSY,
               "a debug session is open already (on app '%s'): one at a time", d->app);
        return;
    }
    if (!o->app.data || o->app.len == 0 || o->app.len >= KOS__NAME_MAX ||
        !kos__name_valid((const char *)o->app.data, o->app.len)) {
        size_t n = o->app.len > 40 ? 40 : o->app.len;
        d->refused++;
        q[n ? kos__text_escape(q, sizeof(q) - 1, (const char *)o->app.data, n, NULL) : 0] = '\0';
        note(d, now_ms, KOS_LOG_INFO, "debug: refused an open for '%s%s': not an app name", q,
             n < o->app.len ? "..." : "");
        answer(d, false, KOS_STATUS_INVALID_ARGUMENT,
               "'%s%s' is not an app name: 1 to 63 letters, digits, '_', '.' and '-'", q,
               n < o->app.len ? "..." : "");
        return;
    }
    if (!d->ops.debug_attach) {
        answer(d, false, KOS_STATUS_UNSUPPORTED, "this build of admin cannot debug");
        return;
    }
    memcpy(d->app, o->app.data, o->app.len);
    d->app[o->app.len] = '\0';
    d->core_id = ADMIN_DEBUG_CORE_ID_BIT | (d->next_core++ & (ADMIN_DEBUG_CORE_ID_BIT - 1));
    d->deadline_ms = now_ms + ADMIN_DEBUG_CORE_MS;
    d->state = ADMIN_DEBUG_CORE;
    note(d, now_ms, KOS_LOG_INFO, "debug: the server asks to debug app '%s'; asking Core", d->app);
    st = d->ops.debug_attach(d->ops.arg, d->core_id, d->app);
    if (st) {
        answer(d, false, st, "Core cannot be asked now (%s)", kos_status_str(st));
        end_session(d);
    }
}

void admin_debug_input(struct admin_debug *d, const uint8_t *data, size_t len, uint64_t now_ms)
{
    Kos__Debug__DebugDown *m = NULL;

    if (len <= KOS_TUNNEL_DATA_MAX)
        m = kos__debug__debug_down__unpack(NULL, len, data);
    if (m && m->body_case == KOS__DEBUG__DEBUG_DOWN__BODY__NOT_SET) {
        kos__debug__debug_down__free_unpacked(m, NULL);
        m = NULL;
    }
    if (!d->enabled) {
        /* Whatever it is: an open, or what is no DebugDown, is answered
         * "disabled"; data and closes are dropped. */
        d->refused++;
        note(d, now_ms, KOS_LOG_WARN,
             "refused a debug session asked by the server: remote debugging is disabled on this "
             "device (admin's remote_debug setting)");
        if (!m || m->body_case == KOS__DEBUG__DEBUG_DOWN__BODY_OPEN)
            answer(d, m != NULL ? false : true, KOS_STATUS_UNAUTHORIZED,
                   "remote debugging is disabled on this device (admin's remote_debug setting is "
                   "disabled; see docs/packages/admin.md)");
        goto out;
    }
    if (!m) {
        d->refused++;
        note(d, now_ms, KOS_LOG_WARN,
             "refused a message on the debug channel that is not a DebugDown (%zu bytes)%s", len,
             d->state != ADMIN_DEBUG_IDLE ? ": the debug session ends" : "");
        answer(d, true, KOS_STATUS_PROTOCOL, "refused: not a DebugDown message (%zu bytes)", len);
        end_session(d);
        goto out;
    }
    switch (m->body_case) {
    case KOS__DEBUG__DEBUG_DOWN__BODY_OPEN:
        open_session(d, m->open, now_ms);
        break;
    case KOS__DEBUG__DEBUG_DOWN__BODY_DATA:
        if (d->state != ADMIN_DEBUG_OPEN) {
            d->refused++; /* late, or for no session: dropped */
            break;
        }
        if (m->data.len > ADMIN_DEBUG_BUF - d->down_len) {
            answer(d, true, KOS_STATUS_PROTOCOL, "more debugger bytes than the device's window");
            end_session(d);
            break;
        }
        if (m->data.len == 0)
            break; /* nothing to write (protobuf-c leaves no buffer) */
        memcpy(d->down + d->down_len, m->data.data, m->data.len);
        d->down_len += m->data.len;
        flush_down(d, now_ms);
        break;
    case KOS__DEBUG__DEBUG_DOWN__BODY_CLOSE:
        if (d->state != ADMIN_DEBUG_IDLE) {
            note(d, now_ms, KOS_LOG_INFO, "debug: the server closed the session on app '%s'",
                 d->app);
            end_session(d);
        }
        break;
    default:
        break;
    }
out:
    if (m)
        kos__debug__debug_down__free_unpacked(m, NULL);
    admin_debug_pump(d, now_ms);
}

bool admin_debug_core_result(struct admin_debug *d, uint32_t core_id, uint32_t status,
                             const char *message, int fd, uint64_t now_ms)
{
    if (!(core_id & ADMIN_DEBUG_CORE_ID_BIT) || (core_id & 0x80000000u))
        return false;
    if (d->state != ADMIN_DEBUG_CORE || core_id != d->core_id) {
        if (fd >= 0)
            close(fd); /* late: its open timed out or was closed */
        return true;
    }
    if (status != KOS_STATUS_OK || fd < 0) {
        if (fd >= 0)
            close(fd);
        note(d, now_ms, KOS_LOG_INFO, "debug: app '%s' cannot be debugged: %s", d->app,
             message ? message : "");
        answer(d, false,
               status < KOS_STATUS__COUNT && status ? (kos_status_t)status : KOS_STATUS_INTERNAL,
               "%s", message ? message : "");
        end_session(d);
        admin_debug_pump(d, now_ms);
        return true;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fd);
        answer(d, false, KOS_STATUS_IO, "the debug agent's socket cannot be used");
        end_session(d);
        admin_debug_pump(d, now_ms);
        return true;
    }
    d->sock = fd;
    d->state = ADMIN_DEBUG_OPEN;
    d->sessions++;
    note(d, now_ms, KOS_LOG_INFO, "debug: session open on app '%s' (%s)", d->app,
         message ? message : "");
    answer(d, false, KOS_STATUS_OK, "%s", message ? message : "");
    admin_debug_pump(d, now_ms);
    return true;
}

int admin_debug_fd(const struct admin_debug *d, short *events)
{
    *events = 0;
    if (d->sock < 0)
        return -1;
    if (d->q_n + 2 <= ADMIN_DEBUG_QUEUE)
        *events |= POLLIN;
    if (d->down_len > 0)
        *events |= POLLOUT;
    return d->sock;
}

void admin_debug_io(struct admin_debug *d, short revents, uint64_t now_ms)
{
    uint8_t buf[ADMIN_DEBUG_CHUNK];

    if (d->sock < 0)
        return;
    if (revents & POLLOUT)
        flush_down(d, now_ms);
    /* Read while the queue has room (two places kept for an answer). */
    while (d->sock >= 0 && (revents & (POLLIN | POLLHUP | POLLERR)) &&
           d->q_n + 2 <= ADMIN_DEBUG_QUEUE) {
        ssize_t n = read(d->sock, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            note(d, now_ms, KOS_LOG_INFO, "debug: the session on app '%s' ended (the agent %s)",
                 d->app, n < 0 ? strerror(errno) : "closed it");
            answer(d, true, n < 0 ? KOS_STATUS_IO : KOS_STATUS_OK,
                   "the debug agent of app '%s' ended the session", d->app);
            end_session(d);
            break;
        }
        Kos__Debug__DebugUp up = KOS__DEBUG__DEBUG_UP__INIT;
        up.body_case = KOS__DEBUG__DEBUG_UP__BODY_DATA;
        up.data.data = buf;
        up.data.len = (size_t)n;
        queue_up(d, &up);
        d->bytes_up += (uint64_t)n;
    }
    admin_debug_pump(d, now_ms);
}

void admin_debug_link(struct admin_debug *d, bool up, uint64_t now_ms)
{
    d->up = up;
    d->link_busy = false;
    if (up)
        return;
    if (d->state != ADMIN_DEBUG_IDLE)
        note(d, now_ms, KOS_LOG_INFO, "debug: the link went down: the session on app '%s' ends",
             d->app);
    end_session(d);
    for (size_t i = 0; i < d->q_n; i++)
        free(d->q[(d->q_head + i) % ADMIN_DEBUG_QUEUE].data);
    d->q_head = d->q_n = 0;
}

void admin_debug_room(struct admin_debug *d, uint64_t now_ms)
{
    d->link_busy = false;
    admin_debug_pump(d, now_ms);
}

void admin_debug_pump(struct admin_debug *d, uint64_t now_ms)
{
    if (d->state == ADMIN_DEBUG_CORE && now_ms >= d->deadline_ms) {
        answer(d, false, KOS_STATUS_TIMEOUT, "Core did not answer within %u s",
               ADMIN_DEBUG_CORE_MS / 1000);
        end_session(d);
    }
    while (d->q_n > 0 && d->up && !d->link_busy) {
        size_t i = d->q_head;
        kos_status_t st = d->ops.send(d->ops.arg, KOS_TUNNEL_DEBUG, d->q[i].data, d->q[i].len);
        if (st == KOS_STATUS_BUSY || st == KOS_STATUS_UNAVAILABLE) {
            d->link_busy = true; /* the tunnel's news says when */
            break;
        }
        if (st != KOS_STATUS_OK)
            d->lost++;
        free(d->q[i].data);
        d->q[i].data = NULL;
        d->q_head = (d->q_head + 1) % ADMIN_DEBUG_QUEUE;
        d->q_n--;
    }
}

uint64_t admin_debug_next_ms(const struct admin_debug *d)
{
    return d->state == ADMIN_DEBUG_CORE ? d->deadline_ms : UINT64_MAX;
}
