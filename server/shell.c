/*
 * shell.c - the server's end of the remote shell (shell.h): lines sent to
 * devices as ShellDown, their ShellUp answers gathered, each line ended
 * once.
 *
 * What stays true: a line is in sh->lines from kos__shell_send() until it
 * ends (done() called, or cancelled), and only then is its timer freed;
 * done() is called after the line has left the list, so a callee may send
 * another line or destroy nothing it should not.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "server_int.h"
#include "shell.h"
#include "shell.pb-c.h"
#include "srv_json.h"
#include "srv_limits.h"
#include "store.h"

/* The link's shell channel (docs/link.md). */
#define CH_SHELL 4u

struct line {
    TAILQ_ENTRY(line) link;
    struct kos__shell *sh;
    uint64_t id;
    char device[KOS__DEVICE_ID_LEN + 1];
    kos__shell_done_fn done;
    void *arg;
    json_t *lines;
    size_t bytes;
    bool cut;
    struct event *timer;
};

struct kos__shell {
    struct event_base *base;
    uint32_t wait_ms;
    TAILQ_HEAD(, line) lines;
    size_t n;
    uint64_t next_id;
};

struct kos__shell *kos__shell_create(struct event_base *base, uint32_t wait_ms)
{
    struct kos__shell *sh = calloc(1, sizeof(*sh));

    if (!sh)
        return NULL;
    sh->base = base;
    sh->wait_ms = wait_ms ? wait_ms : KOS__SRV_SHELL_WAIT_S * 1000u;
    TAILQ_INIT(&sh->lines);
    sh->next_id = 1;
    return sh;
}

/* Takes l out of the list and frees it; its done() is not called. */
static void forget(struct line *l)
{
    TAILQ_REMOVE(&l->sh->lines, l, link);
    l->sh->n--;
    if (l->timer)
        event_free(l->timer);
    json_decref(l->lines);
    free(l);
}

/* Ends line l with an answer: out of the list first, then done(). */
static void end(struct line *l, int http_status, json_t *answer)
{
    kos__shell_done_fn done = l->done;
    void *arg = l->arg;

    forget(l);
    done(arg, http_status, answer);
}

static void end_error(struct line *l, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void end_error(struct line *l, int http_status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    end(l, http_status, json_pack("{s:s}", "error", msg));
}

void kos__shell_destroy(struct kos__shell *sh)
{
    if (!sh)
        return;
    while (!TAILQ_EMPTY(&sh->lines))
        end_error(TAILQ_FIRST(&sh->lines), 503, "the server is stopping");
    free(sh);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct line *l = arg;

    (void)fd;
    (void)what;
    kos__srv_log("device %.16s: shell line %llu not answered within %u ms", l->device,
                 (unsigned long long)l->id, l->sh->wait_ms);
    end_error(l, 504,
              "device %s did not answer within %u s (its admin may be busy, restarting, or "
              "without the shell channel)",
              l->device, (l->sh->wait_ms + 999) / 1000);
}

kos_status_t kos__shell_send(struct kos__srv *srv, const char *id, const char *line, size_t len,
                             kos__shell_done_fn done, void *arg, uint64_t *line_id, char *err,
                             size_t errlen)
{
    struct kos__shell *sh = srv->shell;
    Kos__Shell__ShellDown down = KOS__SHELL__SHELL_DOWN__INIT;
    uint8_t buf[KOS__SRV_SHELL_LINE_MAX + 32];
    size_t per_device = 0, n;
    struct line *l;
    kos_status_t st;

    st = kos__devices_reachable(srv, id, err, errlen);
    if (st)
        return st;
    if (!sh) {
        snprintf(err, errlen, "device %s is not online", id);
        return KOS_STATUS_UNAVAILABLE;
    }
    if (len > KOS__SRV_SHELL_LINE_MAX) {
        snprintf(err, errlen, "the line is %zu bytes long; at most %u", len,
                 KOS__SRV_SHELL_LINE_MAX);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    TAILQ_FOREACH(l, &sh->lines, link)
    per_device += strcmp(l->device, id) == 0;
    if (sh->n >= KOS__SRV_SHELL_WAITING_MAX || per_device >= KOS__SRV_SHELL_WAITING_PER_DEVICE) {
        snprintf(err, errlen,
                 "too many shell lines are waiting for %s (at most %u for a device, %u in all): "
                 "wait for their answers",
                 per_device >= KOS__SRV_SHELL_WAITING_PER_DEVICE ? "this device" : "devices",
                 KOS__SRV_SHELL_WAITING_PER_DEVICE, KOS__SRV_SHELL_WAITING_MAX);
        return KOS_STATUS_BUSY;
    }
    l = calloc(1, sizeof(*l));
    if (!l || !(l->lines = json_array()) ||
        !(l->timer = event_new(sh->base, -1, 0, on_timeout, l))) {
        if (l)
            json_decref(l->lines);
        free(l);
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    l->sh = sh;
    l->id = sh->next_id++;
    snprintf(l->device, sizeof(l->device), "%s", id);
    l->done = done;
    l->arg = arg;
    down.id = l->id;
    down.line.data = (uint8_t *)line;
    down.line.len = len;
    n = kos__shell__shell_down__pack(&down, buf);
    st = kos__devport_send(srv->devport, id, CH_SHELL, buf, n);
    if (st) {
        event_free(l->timer);
        json_decref(l->lines);
        free(l);
        if (st == KOS_STATUS_BUSY) {
            snprintf(err, errlen, "device %s's shell channel is full: try again", id);
            return KOS_STATUS_BUSY;
        }
        snprintf(err, errlen, "device %s is not online", id);
        return KOS_STATUS_UNAVAILABLE;
    }
    TAILQ_INSERT_TAIL(&sh->lines, l, link);
    sh->n++;
    struct timeval tv = {sh->wait_ms / 1000, (sh->wait_ms % 1000) * 1000};
    evtimer_add(l->timer, &tv);
    *line_id = l->id;
    return KOS_STATUS_OK;
}

void kos__shell_cancel(struct kos__shell *sh, uint64_t line_id)
{
    struct line *l;

    if (!sh)
        return;
    TAILQ_FOREACH(l, &sh->lines, link)
    if (l->id == line_id) {
        forget(l);
        return;
    }
}

/* ---- what devices send ---- */

bool kos__shell_answer(struct kos__srv *srv, const char *id, const Kos__Shell__ShellUp *up,
                       char *why, size_t cap)
{
    struct line *l = NULL, *it;

    if (up->status >= KOS_STATUS__COUNT) {
        snprintf(why, cap, "a ShellUp with status %u, which is no KOS status", up->status);
        return false;
    }
    if (srv->shell)
        TAILQ_FOREACH(it, &srv->shell->lines, link)
    if (it->id == up->id && strcmp(it->device, id) == 0) {
        l = it;
        break;
    }
    if (!l)
        return true; /* a line that timed out, or was cancelled: dropped */
    for (size_t i = 0; i < up->n_lines; i++) {
        size_t len = strlen(up->lines[i]);
        json_t *s;
        if (l->cut || l->bytes + len + 1 > KOS__SRV_SHELL_ANSWER_MAX) {
            l->cut = true;
            break;
        }
        if (!(s = kos__json_text(up->lines[i], len)) || json_array_append_new(l->lines, s)) {
            l->cut = true;
            break;
        }
        l->bytes += len + 1;
    }
    if (up->done) {
        json_t *answer =
            json_pack("{s:o, s:s, s:O, s:I, s:s, s:b}", "id", kos__json_u64(l->id), "device",
                      l->device, "lines", l->lines, "status", (json_int_t)up->status, "status_text",
                      kos_status_str((kos_status_t)up->status), "cut", l->cut);
        if (answer)
            end(l, 200, answer);
        else
            end_error(l, 500, "out of memory");
    }
    return true;
}

void kos__shell_offline(struct kos__srv *srv, const char *id)
{
    struct line *l;

    /* From the head again after each end: a done() may change the list. */
    while (srv->shell) {
        TAILQ_FOREACH(l, &srv->shell->lines, link)
        if (strcmp(l->device, id) == 0)
            break;
        if (!l)
            return;
        end_error(l, 502, "device %s's link ended before it answered", id);
    }
}

size_t kos__shell_waiting(const struct kos__shell *sh)
{
    return sh ? sh->n : 0;
}
