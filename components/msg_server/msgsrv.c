/*
 * msgsrv.c - a message server's directory (msgsrv.h).
 *
 * Tables are small arrays searched linearly: a system has tens of apps and
 * protocols and at most a few thousand channels, and every table is bounded.
 * An app found misbehaving is only marked (`doomed`); the poll loop's next
 * step reaps it, so no handler ever frees the app it is working for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "budget_int.h"
#include "channel_int.h"
#include "msg_wire_int.h"
#include "msgsrv.h"
#include "trace_int.h"

#define MAX_APPS            1024u      /* connected apps */
#define MAX_CHANNELS        65536u     /* channels in all */
#define MAX_WAITS_PER_APP   64u        /* requests and redeems one app may leave waiting */
#define MAX_COOKIES_PER_APP 256u       /* transfers one app may have prepared */
#define MAX_QUEUE           1024u      /* messages waiting for one app to read */
#define MAX_TOKENS_PER_EP   16u        /* tokens one app may hold on one endpoint */
#define MAX_TOKENS_PER_APP  256u       /* tokens one app may hold in all */
#define COOKIE_LIFE_MS      10000      /* a prepared transfer expires after this */
#define REDEEM_WAIT_MS      50         /* a redeem may overtake its PREPARE by this much */
#define MAX_FDS_PER_APP     64u        /* descriptors waiting for one app to take them */
#define MAX_FDS_PER_PAIR    8u         /* ... of those, from one publisher */
#define MAX_FDS             4096u      /* descriptors waiting in all (well below RLIMIT_NOFILE) */
#define FD_LIFE_MS          10000      /* a passed descriptor not taken is closed after this */
#define NO_APP              UINT32_MAX /* nobody: app ids are indexes, 0 included */

struct outmsg {
    struct kos__mw m;
    int fds[KOS__MW_MAX_FDS];
};

struct app {
    uint32_t app_id;
    char name[KOS__NAME_MAX];
    int sock;
    bool doomed; /* to be disconnected by the poll loop */
    struct kos__client_grants *grants;
    struct outmsg *q; /* messages not yet accepted by the socket, in order */
    size_t q_head, q_len, q_cap;
    unsigned n_waits, n_cookies;
    unsigned n_fds;               /* descriptors passed to it and not taken yet */
    unsigned long refused_tokens; /* requests refused by the token limits */
    /* Lines about it are logged at most DENY_LOG_BURST at once and then one
     * per DENY_LOG_EVERY_MS, so a hostile app cannot flood the console
     * through us; the next line logged counts what was left out. */
    struct kos__budget log;
    /* Which of grants->publish it has published before: the first time is
     * logged in any case, later ones within the budget above. */
    uint8_t announced[KOS__GRANTS_MAX / 8];
};

struct endpoint {
    uint32_t id;
    uint32_t app_id; /* the publisher */
    char protocol[KOS__NAME_MAX];
};

struct chan {
    uint32_t id;
    uint32_t endpoint;
    uint32_t server_app;
    uint32_t client_app;
    struct kos__chan_shm *shm;
};

/* A request for a protocol nobody publishes yet, or a redeem of a cookie not
 * announced yet. */
enum wait_kind {
    WAIT_REQUEST = 0, /* REQUEST: answered with REQUEST_REPLY */
    WAIT_REDEEM,      /* REDEEM of a token transfer: REDEEM_REPLY */
    WAIT_FD,          /* FD_REDEEM of a descriptor: FD_REDEEM_REPLY */
};

struct wait {
    uint32_t app_id;
    uint32_t req_id;
    enum wait_kind kind;
    char protocol[KOS__NAME_MAX]; /* request */
    uint64_t cookie;              /* redeems */
    uint64_t deadline;            /* UINT64_MAX: none */
};

/* A descriptor a publisher passed (FD_PASS) for the client of one of its
 * channels, held until that client takes it, drops it, leaves, or the
 * transfer expires. Only the channel's client may take it. */
struct fdpass {
    uint64_t cookie;
    uint32_t chan;
    uint32_t from_app; /* NO_APP once the publisher is gone */
    uint32_t to_app;
    bool pipe; /* a client's pipe write end for its server, not a socket */
    int fd;
    uint64_t expires;
};

struct cookie {
    uint64_t value;
    uint32_t endpoint;
    uint32_t from_chan;
    uint32_t from_app;
    uint64_t expires;
};

struct msgsrv {
    char name[KOS__NAME_MAX];
    uint32_t next_endpoint, next_chan;
    struct app **apps;
    size_t n_apps, cap_apps;
    struct endpoint *eps;
    size_t n_eps, cap_eps;
    struct chan *chans;
    size_t n_chans, cap_chans;
    struct wait *waits;
    size_t n_waits, cap_waits;
    struct cookie *cookies;
    size_t n_cookies, cap_cookies;
    struct fdpass *fdps;
    size_t n_fdps, cap_fdps;
    uint64_t (*clock)(void *arg); /* NULL: CLOCK_MONOTONIC (msgsrv_set_clock) */
    void *clock_arg;
    /* Tracing: the server's ring (NULL: none), and the apps whose directory
     * events it records, by id (Core's process indexes), as Core said. */
    struct kos__trace_shm *trace;
    uint8_t traced[KOS__MSGSRV_TRACE_APPS / 8];
};

/* Whether app `id` is traced. */
static bool is_traced(const struct msgsrv *srv, uint32_t id)
{
    return id < KOS__MSGSRV_TRACE_APPS && (srv->traced[id / 8] >> (id % 8) & 1);
}

/* Records a directory event about app `app_id` (and `peer_id`, NO_APP for
 * none) when either is traced. */
static void trace_event(struct msgsrv *srv, uint32_t kind, uint32_t app_id, uint32_t peer_id,
                        uint32_t channel, kos_status_t status, uint32_t label, const char *protocol)
{
    struct kos__trace_rec r = {
        .kind = kind,
        .channel = channel,
        .label = label,
        .status = (uint32_t)status,
        .app_id = app_id,
        .peer_id = peer_id,
    };

    if (!srv->trace || !kos__trace_enabled(&srv->trace->on) ||
        !(is_traced(srv, app_id) || is_traced(srv, peer_id)))
        return;
    r.time_ns = kos__now_ns();
    snprintf(r.name, sizeof(r.name), "%s", protocol);
    kos__trace_put(srv->trace, &r);
}

/* Makes room for one more element in a growable array. */
static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *a = realloc(*arr, ncap * elem);
    if (!a)
        return false;
    *arr = a;
    *cap = ncap;
    return true;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* ==== apps ==== */

#define DENY_LOG_BURST    10u
#define DENY_LOG_EVERY_MS 1000u

static uint64_t now_ms(const struct msgsrv *srv);

/* Logs a line about what app a did, within a's budget; `prefix` ("denied: "
 * or "") starts it. Every line an app's messages can cause goes through
 * here (but the first publish of each protocol it is granted, and the one
 * line when its connection is closed), so no app can flood the console
 * through the message server. */
static void vsay_app(const struct msgsrv *srv, struct app *a, const char *prefix, const char *fmt,
                     va_list ap)
{
    char note[KOS__NAME_MAX + 64];
    unsigned long quiet;

    if (!kos__budget_take(&a->log, DENY_LOG_BURST, DENY_LOG_EVERY_MS, now_ms(srv), &quiet))
        return;
    kos__budget_note(note, sizeof(note), quiet, a->name);
    fputs(prefix, stdout);
    vfprintf(stdout, fmt, ap);
    fputs(note, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Logs a denial of app a's, within its budget. */
static void say_denied(const struct msgsrv *srv, struct app *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say_denied(const struct msgsrv *srv, struct app *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay_app(srv, a, "denied: ", fmt, ap);
    va_end(ap);
}

/* Logs another line about app a, within its budget. */
static void say_app(const struct msgsrv *srv, struct app *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say_app(const struct msgsrv *srv, struct app *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay_app(srv, a, "", fmt, ap);
    va_end(ap);
}

static struct app *app_find(const struct msgsrv *srv, uint32_t app_id)
{
    for (size_t i = 0; i < srv->n_apps; i++)
        if (srv->apps[i]->app_id == app_id)
            return srv->apps[i];
    return NULL;
}

/* The index of `name` in a grant list, or -1. */
static int granted(const char *const *list, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return (int)i;
    return -1;
}

/* Ends an app's connection at the next step of the poll loop. */
static void doom(struct app *a, const char *why)
{
    if (!a->doomed && why)
        say("closing the connection of app '%s': %s", a->name, why);
    a->doomed = true;
}

static void outmsg_close(struct outmsg *o)
{
    for (size_t i = 0; i < KOS__MW_MAX_FDS; i++)
        if (o->fds[i] >= 0)
            close(o->fds[i]);
}

/* Sends what the socket will take of the app's queue. */
static void app_flush(struct app *a)
{
    while (a->q_len && !a->doomed) {
        struct outmsg *o = &a->q[a->q_head];
        kos_status_t st = kos__mw_send(a->sock, &o->m, o->fds, MSG_DONTWAIT);
        if (st == KOS_STATUS_BUSY)
            return;
        if (st) {
            doom(a, NULL); /* gone: reaped like an end of stream */
            return;
        }
        outmsg_close(o);
        a->q_head = (a->q_head + 1) % a->q_cap;
        a->q_len--;
    }
}

/* Sends one message to an app, or queues it (with its own copies of the
 * descriptors) if the socket is full. `fds` stay the caller's. */
static void app_send(struct app *a, const struct kos__mw *m, const int *fds)
{
    size_t nfds = kos__mw_nfds(m->type, m->status);
    struct outmsg *o;

    if (a->doomed)
        return;
    if (a->q_len == 0) {
        kos_status_t st = kos__mw_send(a->sock, m, fds, MSG_DONTWAIT);
        if (st == KOS_STATUS_OK)
            return;
        if (st != KOS_STATUS_BUSY) {
            doom(a, st == KOS_STATUS_CLOSED ? NULL : "cannot send to it");
            return;
        }
    }
    if (a->q_len == MAX_QUEUE) {
        doom(a, "it does not read its messages");
        return;
    }
    if (a->q_len == a->q_cap) {
        size_t ncap = a->q_cap ? a->q_cap * 2 : 16;
        struct outmsg *q = malloc(ncap * sizeof(*q));
        if (!q) {
            doom(a, "out of memory");
            return;
        }
        for (size_t i = 0; i < a->q_len; i++)
            q[i] = a->q[(a->q_head + i) % a->q_cap];
        free(a->q);
        a->q = q;
        a->q_head = 0;
        a->q_cap = ncap;
    }
    o = &a->q[(a->q_head + a->q_len) % a->q_cap];
    o->m = *m;
    for (size_t i = 0; i < KOS__MW_MAX_FDS; i++)
        o->fds[i] = -1;
    for (size_t i = 0; i < nfds; i++) {
        o->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
        if (o->fds[i] < 0) {
            outmsg_close(o);
            doom(a, "out of descriptors");
            return;
        }
    }
    a->q_len++;
}

static void reply_status(struct app *a, uint32_t type, uint32_t id, kos_status_t st)
{
    struct kos__mw m = {.type = type, .id = id, .status = st};
    app_send(a, &m, NULL);
}

/* ==== endpoints, channels, cookies ==== */

static struct endpoint *ep_by_id(const struct msgsrv *srv, uint32_t id)
{
    for (size_t i = 0; i < srv->n_eps; i++)
        if (srv->eps[i].id == id)
            return &srv->eps[i];
    return NULL;
}

static struct endpoint *ep_by_name(const struct msgsrv *srv, const char *protocol)
{
    for (size_t i = 0; i < srv->n_eps; i++)
        if (strcmp(srv->eps[i].protocol, protocol) == 0)
            return &srv->eps[i];
    return NULL;
}

static struct chan *chan_by_id(const struct msgsrv *srv, uint32_t id)
{
    for (size_t i = 0; i < srv->n_chans; i++)
        if (srv->chans[i].id == id)
            return &srv->chans[i];
    return NULL;
}

/* Closes and forgets passed descriptor i. */
static void fdpass_forget(struct msgsrv *srv, size_t i)
{
    struct app *to = app_find(srv, srv->fdps[i].to_app);
    if (to && to->n_fds)
        to->n_fds--;
    close(srv->fdps[i].fd);
    srv->fdps[i] = srv->fdps[--srv->n_fdps];
}

/* Forgets a channel (by pointer into srv->chans), with the descriptors
 * passed on it that its client has not taken. */
static void chan_forget(struct msgsrv *srv, struct chan *c)
{
    const struct endpoint *ep = ep_by_id(srv, c->endpoint);

    trace_event(srv, KOS__TRACE_CLOSE, c->client_app, c->server_app, c->id, KOS_STATUS_OK, 0,
                ep ? ep->protocol : "");
    for (size_t i = 0; i < srv->n_fdps;) {
        if (srv->fdps[i].chan == c->id)
            fdpass_forget(srv, i);
        else
            i++;
    }
    kos__chan_unmap(c->shm);
    *c = srv->chans[--srv->n_chans];
}

/* Marks a channel down for its client: calls fail with `why` from now on,
 * a caller waiting for a reply wakes, and its library is told. */
static void chan_down(struct msgsrv *srv, struct chan *c, kos_status_t why)
{
    struct app *client = app_find(srv, c->client_app);
    struct kos__mw m = {.type = KOS__MW_TOKEN_DOWN, .status = why, .channel = c->id};

    atomic_store_explicit(&c->shm->down, why, memory_order_seq_cst);
    kos__futex_wake(&c->shm->rep.seq);
    if (client)
        app_send(client, &m, NULL);
}

/* Tells a channel's server that its client left. */
static void chan_client_gone(struct msgsrv *srv, struct chan *c)
{
    struct app *server = app_find(srv, c->server_app);
    struct kos__mw m = {.type = KOS__MW_CLIENT_GONE, .endpoint = c->endpoint, .channel = c->id};

    if (server)
        app_send(server, &m, NULL);
}

static void cookie_forget(struct msgsrv *srv, size_t i)
{
    struct app *from = app_find(srv, srv->cookies[i].from_app);
    if (from && from->n_cookies)
        from->n_cookies--;
    srv->cookies[i] = srv->cookies[--srv->n_cookies];
}

/* Drops the cookies matching an endpoint or a source channel (0: any). */
static void cookies_drop(struct msgsrv *srv, uint32_t endpoint, uint32_t from_chan)
{
    for (size_t i = 0; i < srv->n_cookies;) {
        if ((endpoint && srv->cookies[i].endpoint == endpoint) ||
            (from_chan && srv->cookies[i].from_chan == from_chan))
            cookie_forget(srv, i);
        else
            i++;
    }
}

/* Withdraws an endpoint: its clients' tokens go down as UNAVAILABLE. */
static void ep_withdraw(struct msgsrv *srv, struct endpoint *ep)
{
    uint32_t id = ep->id;

    for (size_t i = 0; i < srv->n_chans;) {
        struct chan *c = &srv->chans[i];
        if (c->endpoint == id) {
            chan_down(srv, c, KOS_STATUS_UNAVAILABLE);
            chan_forget(srv, c);
        } else {
            i++;
        }
    }
    cookies_drop(srv, id, 0);
    trace_event(srv, KOS__TRACE_UNPUBLISH, ep->app_id, NO_APP, 0, KOS_STATUS_OK, 0, ep->protocol);
    *ep = srv->eps[--srv->n_eps];
}

/*
 * Creates a channel between `client` and the endpoint `ep`: tells the
 * publisher (NEW_CLIENT) and then answers the client with `reply_type`
 * (REQUEST_REPLY or REDEEM_REPLY, request id `req_id`). On failure the
 * client gets the error status instead.
 */
static void grant(struct msgsrv *srv, struct app *client, const struct endpoint *ep,
                  uint32_t reply_type, uint32_t req_id)
{
    struct app *server = app_find(srv, ep->app_id);
    struct kos__chan_shm *shm;
    int memfd, doorbell, notebell[2];
    kos_status_t st;

    if (!server || server->doomed) {
        reply_status(client, reply_type, req_id, KOS_STATUS_UNAVAILABLE);
        return;
    }
    /* Each token costs its server descriptors and a slot in its round robin:
     * bound what one client can take, so hoarding tokens cannot starve the
     * server's other clients (docs/messages.md, "Under attack"). */
    unsigned on_ep = 0, in_all = 0;
    for (size_t i = 0; i < srv->n_chans; i++) {
        if (srv->chans[i].client_app != client->app_id)
            continue;
        in_all++;
        on_ep += srv->chans[i].endpoint == ep->id;
    }
    if (on_ep >= MAX_TOKENS_PER_EP || in_all >= MAX_TOKENS_PER_APP) {
        if (client->refused_tokens++ % 1000 == 0)
            say("app '%s' holds %u tokens for '%s' and %u in all (at most %u and %u); refusing "
                "another (%lu refused so far)",
                client->name, on_ep, ep->protocol, in_all, MAX_TOKENS_PER_EP, MAX_TOKENS_PER_APP,
                client->refused_tokens);
        reply_status(client, reply_type, req_id, KOS_STATUS_NO_MEMORY);
        return;
    }
    if (srv->n_chans >= MAX_CHANNELS ||
        !grow((void **)&srv->chans, &srv->cap_chans, srv->n_chans, sizeof(*srv->chans))) {
        reply_status(client, reply_type, req_id, KOS_STATUS_NO_MEMORY);
        return;
    }
    do
        srv->next_chan++;
    while (srv->next_chan == 0 || chan_by_id(srv, srv->next_chan));
    st = kos__chan_create(srv->next_chan, &memfd, &shm);
    if (st)
        goto out_refuse;
    st = kos__doorbell_create(&doorbell);
    if (st)
        goto out_close_memfd;
    st = kos__bell_create(notebell);
    if (st)
        goto out_close_doorbell;

    /* The publisher first, so the client's first call finds a server that
     * knows the channel (its doorbell rings meanwhile are kept anyway). */
    struct kos__mw to_server = {
        .type = KOS__MW_NEW_CLIENT,
        .endpoint = ep->id,
        .channel = srv->next_chan,
        .app_id = client->app_id,
    };
    memcpy(to_server.name, client->name, sizeof(to_server.name));
    int server_fds[KOS__MW_MAX_FDS] = {memfd, doorbell, notebell[1], notebell[0]};
    app_send(server, &to_server, server_fds);

    struct kos__mw to_client = {
        .type = reply_type,
        .id = req_id,
        .channel = srv->next_chan,
    };
    memcpy(to_client.name, ep->protocol, sizeof(to_client.name));
    int client_fds[KOS__MW_CLIENT_FDS] = {memfd, notebell[0], doorbell};
    app_send(client, &to_client, client_fds);

    /* Both parties have their own copies now (or they are queued). */
    close(notebell[0]);
    close(notebell[1]);
    close(doorbell);
    close(memfd);
    srv->chans[srv->n_chans++] = (struct chan){
        .id = srv->next_chan,
        .endpoint = ep->id,
        .server_app = server->app_id,
        .client_app = client->app_id,
        .shm = shm,
    };
    trace_event(srv, KOS__TRACE_GRANT, client->app_id, server->app_id, srv->next_chan,
                KOS_STATUS_OK, 0, ep->protocol);
    return;

out_close_doorbell:
    close(doorbell);
out_close_memfd:
    close(memfd);
    kos__chan_unmap(shm);
out_refuse:
    say_app(srv, client, "cannot create a channel for app '%s' to '%s': %s", client->name,
            ep->protocol, kos_status_str(st));
    reply_status(client, reply_type, req_id, st);
}

/* ==== waits ==== */

static uint64_t now_ms(const struct msgsrv *srv)
{
    if (srv->clock)
        return srv->clock(srv->clock_arg);
    return kos__now_ns() / 1000000u;
}

static void wait_forget(struct msgsrv *srv, size_t i)
{
    struct app *a = app_find(srv, srv->waits[i].app_id);
    if (a && a->n_waits)
        a->n_waits--;
    srv->waits[i] = srv->waits[--srv->n_waits];
}

static bool wait_add(struct msgsrv *srv, struct app *a, const struct wait *w)
{
    if (a->n_waits >= MAX_WAITS_PER_APP ||
        !grow((void **)&srv->waits, &srv->cap_waits, srv->n_waits, sizeof(*srv->waits)))
        return false;
    srv->waits[srv->n_waits++] = *w;
    a->n_waits++;
    return true;
}

/* Grants the waiting requests for a protocol just published, oldest first. */
static void waits_publish(struct msgsrv *srv, const struct endpoint *ep)
{
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < srv->n_waits; i++) {
            const struct wait *w = &srv->waits[i];
            if (w->kind == WAIT_REQUEST && strcmp(w->protocol, ep->protocol) == 0 &&
                (best == SIZE_MAX || w->req_id < srv->waits[best].req_id))
                best = i;
        }
        if (best == SIZE_MAX)
            return;
        struct wait w = srv->waits[best];
        wait_forget(srv, best);
        struct app *a = app_find(srv, w.app_id);
        if (a)
            grant(srv, a, ep, KOS__MW_REQUEST_REPLY, w.req_id);
    }
}

/* Takes a live cookie, or returns false. */
static bool cookie_take(struct msgsrv *srv, uint64_t value, struct cookie *out)
{
    uint64_t now = now_ms(srv);

    for (size_t i = 0; i < srv->n_cookies; i++) {
        if (srv->cookies[i].value != value)
            continue;
        bool live = srv->cookies[i].expires > now;
        *out = srv->cookies[i];
        cookie_forget(srv, i); /* single use, and expired ones go too */
        return live;
    }
    return false;
}

/* Redeems a cookie for app `a`: a new channel to the cookie's endpoint. */
static void redeem(struct msgsrv *srv, struct app *a, uint32_t req_id, const struct cookie *c)
{
    struct endpoint *ep = ep_by_id(srv, c->endpoint);

    if (!ep) {
        reply_status(a, KOS__MW_REDEEM_REPLY, req_id, KOS_STATUS_UNAVAILABLE);
        return;
    }
    grant(srv, a, ep, KOS__MW_REDEEM_REPLY, req_id);
}

int msgsrv_expire(struct msgsrv *srv)
{
    uint64_t now = now_ms(srv), next = UINT64_MAX;

    for (size_t i = 0; i < srv->n_waits;) {
        struct wait w = srv->waits[i];
        if (w.deadline > now) {
            if (w.deadline < next)
                next = w.deadline;
            i++;
            continue;
        }
        wait_forget(srv, i);
        struct app *a = app_find(srv, w.app_id);
        if (!a)
            continue;
        if (w.kind == WAIT_REDEEM)
            reply_status(a, KOS__MW_REDEEM_REPLY, w.req_id, KOS_STATUS_INVALID_TOKEN);
        else if (w.kind == WAIT_FD)
            reply_status(a, KOS__MW_FD_REDEEM_REPLY, w.req_id, KOS_STATUS_INVALID_TOKEN);
        else
            reply_status(a, KOS__MW_REQUEST_REPLY, w.req_id, KOS_STATUS_TIMEOUT);
    }
    for (size_t i = 0; i < srv->n_cookies;) {
        if (srv->cookies[i].expires <= now)
            cookie_forget(srv, i);
        else
            i++;
    }
    for (size_t i = 0; i < srv->n_fdps;) {
        if (srv->fdps[i].expires <= now) {
            fdpass_forget(srv, i);
            continue;
        }
        if (srv->fdps[i].expires < next)
            next = srv->fdps[i].expires;
        i++;
    }
    if (next == UINT64_MAX)
        return -1;
    return (int)(next - now);
}

/* ==== requests from apps ==== */

static void on_publish(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    int g = granted(a->grants->publish, a->grants->n_publish, m->name);
    struct endpoint *ep;

    if (g < 0) {
        say_denied(srv, a, "app '%s' tried to publish '%s' (not granted by the manifest)", a->name,
                   m->name);
        trace_event(srv, KOS__TRACE_DENY, a->app_id, NO_APP, 0, KOS_STATUS_UNAUTHORIZED, 1,
                    m->name);
        reply_status(a, KOS__MW_PUBLISH_REPLY, m->id, KOS_STATUS_UNAUTHORIZED);
        return;
    }
    if (ep_by_name(srv, m->name)) {
        reply_status(a, KOS__MW_PUBLISH_REPLY, m->id, KOS_STATUS_ALREADY_EXISTS);
        return;
    }
    if (!grow((void **)&srv->eps, &srv->cap_eps, srv->n_eps, sizeof(*srv->eps))) {
        reply_status(a, KOS__MW_PUBLISH_REPLY, m->id, KOS_STATUS_NO_MEMORY);
        return;
    }
    do
        srv->next_endpoint++;
    while (srv->next_endpoint == 0 || ep_by_id(srv, srv->next_endpoint));
    ep = &srv->eps[srv->n_eps++];
    *ep = (struct endpoint){.id = srv->next_endpoint, .app_id = a->app_id};
    memcpy(ep->protocol, m->name, sizeof(ep->protocol));

    struct kos__mw r = {.type = KOS__MW_PUBLISH_REPLY, .id = m->id, .endpoint = ep->id};
    app_send(a, &r, NULL);
    trace_event(srv, KOS__TRACE_PUBLISH, a->app_id, NO_APP, 0, KOS_STATUS_OK, 0, ep->protocol);
    if (a->announced[g / 8] >> (g % 8) & 1) {
        say_app(srv, a, "app '%s' publishes '%s'", a->name, ep->protocol);
    } else {
        a->announced[g / 8] |= (uint8_t)(1u << (g % 8));
        say("app '%s' publishes '%s'", a->name, ep->protocol);
    }
    waits_publish(srv, ep);
}

static void on_request(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    struct endpoint *ep;

    if (granted(a->grants->request, a->grants->n_request, m->name) < 0) {
        say_denied(srv, a, "app '%s' requested '%s' (not granted by the manifest)", a->name,
                   m->name);
        trace_event(srv, KOS__TRACE_DENY, a->app_id, NO_APP, 0, KOS_STATUS_UNAUTHORIZED, 0,
                    m->name);
        reply_status(a, KOS__MW_REQUEST_REPLY, m->id, KOS_STATUS_UNAUTHORIZED);
        return;
    }
    ep = ep_by_name(srv, m->name);
    if (ep) {
        grant(srv, a, ep, KOS__MW_REQUEST_REPLY, m->id);
        return;
    }
    if (m->timeout_ms == 0) {
        reply_status(a, KOS__MW_REQUEST_REPLY, m->id, KOS_STATUS_UNAVAILABLE);
        return;
    }
    struct wait w = {
        .app_id = a->app_id,
        .req_id = m->id,
        .deadline = m->timeout_ms < 0 ? UINT64_MAX : now_ms(srv) + (uint64_t)m->timeout_ms,
    };
    memcpy(w.protocol, m->name, sizeof(w.protocol));
    if (!wait_add(srv, a, &w))
        reply_status(a, KOS__MW_REQUEST_REPLY, m->id, KOS_STATUS_BUSY);
}

static void on_unpublish(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    struct endpoint *ep = ep_by_id(srv, m->endpoint);

    if (ep && ep->app_id == a->app_id)
        ep_withdraw(srv, ep);
}

static void on_token_close(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    struct chan *c = chan_by_id(srv, m->channel);

    if (c && c->client_app == a->app_id) {
        chan_client_gone(srv, c);
        chan_forget(srv, c);
    }
}

static void on_revoke(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    struct chan *c = chan_by_id(srv, m->channel);

    if (!c || c->endpoint != m->endpoint || c->server_app != a->app_id)
        return; /* gone meanwhile, or not this app's to revoke */
    cookies_drop(srv, 0, c->id);
    chan_down(srv, c, KOS_STATUS_INVALID_TOKEN);
    chan_forget(srv, c);
}

static void on_prepare(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    struct chan *c = chan_by_id(srv, m->channel);

    if (!c || c->client_app != a->app_id)
        return; /* not a token this app holds: the redeem will fail */
    if (a->n_cookies >= MAX_COOKIES_PER_APP ||
        !grow((void **)&srv->cookies, &srv->cap_cookies, srv->n_cookies, sizeof(*srv->cookies))) {
        say_app(srv, a, "app '%s' has too many token transfers pending; refusing another", a->name);
        return;
    }
    for (size_t i = 0; i < srv->n_cookies; i++)
        if (srv->cookies[i].value == m->cookie)
            return; /* a collision (or a replay): keep the first */

    /* A redeem that overtook this announcement gets its token now. */
    for (size_t i = 0; i < srv->n_waits; i++) {
        struct wait w = srv->waits[i];
        if (w.kind == WAIT_REDEEM && w.cookie == m->cookie) {
            wait_forget(srv, i);
            struct app *to = app_find(srv, w.app_id);
            struct endpoint *ep = ep_by_id(srv, c->endpoint);
            if (to && ep)
                grant(srv, to, ep, KOS__MW_REDEEM_REPLY, w.req_id);
            else if (to)
                reply_status(to, KOS__MW_REDEEM_REPLY, w.req_id, KOS_STATUS_UNAVAILABLE);
            return;
        }
    }
    srv->cookies[srv->n_cookies++] = (struct cookie){
        .value = m->cookie,
        .endpoint = c->endpoint,
        .from_chan = c->id,
        .from_app = a->app_id,
        .expires = now_ms(srv) + COOKIE_LIFE_MS,
    };
    a->n_cookies++;
}

static void on_redeem(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    struct cookie c;

    if (cookie_take(srv, m->cookie, &c)) {
        redeem(srv, a, m->id, &c);
        return;
    }
    /* Its PREPARE may still sit in the sender's socket: wait a little. */
    struct wait w = {
        .app_id = a->app_id,
        .req_id = m->id,
        .kind = WAIT_REDEEM,
        .cookie = m->cookie,
        .deadline = now_ms(srv) + REDEEM_WAIT_MS,
    };
    if (!wait_add(srv, a, &w))
        reply_status(a, KOS__MW_REDEEM_REPLY, m->id, KOS_STATUS_BUSY);
}

/* Hands passed descriptor i to app `to`, which asked for it with request
 * `req_id`, and forgets it. The publisher still holds the same socket, so
 * it is checked again: one it changed meanwhile (disconnected it, say) is
 * closed and the client gets KOS_STATUS_INVALID_TOKEN. */
static void fdpass_give(struct msgsrv *srv, size_t i, struct app *to, uint32_t req_id)
{
    struct kos__mw r = {.type = KOS__MW_FD_REDEEM_REPLY, .id = req_id};
    bool pipe = srv->fdps[i].pipe;
    const char *why;

    if (pipe ? !kos__mw_fd_pipe_write_end(srv->fdps[i].fd, &why)
             : !kos__mw_fd_passable(srv->fdps[i].fd, &why)) {
        struct app *from = app_find(srv, srv->fdps[i].from_app);
        if (from)
            say_denied(srv, from,
                       "app '%s' passed app '%s' a %s that is no longer %s (now %s); closed it",
                       from->name, to->name, pipe ? "pipe" : "socket",
                       pipe ? "a pipe's write end" : "a connected TCP socket", why);
        reply_status(to, KOS__MW_FD_REDEEM_REPLY, req_id, KOS_STATUS_INVALID_TOKEN);
        fdpass_forget(srv, i);
        return;
    }
    app_send(to, &r, &srv->fdps[i].fd); /* sent, or queued with its own duplicate */
    fdpass_forget(srv, i);
}

/* A publisher passes a descriptor for the client of one of its channels (a
 * connected TCP socket), or a client for the server of its channel (a
 * pipe's write end, with a request). Takes `fd` in every case. */
static void on_fd_pass(struct msgsrv *srv, struct app *a, const struct kos__mw *m, int fd)
{
    struct chan *c = chan_by_id(srv, m->channel);
    bool pipe;
    uint32_t to_app;
    const char *why;

    if (!c) {
        close(fd); /* the other end left meanwhile: its redeem cannot come */
        return;
    }
    if (c->server_app != a->app_id && c->client_app != a->app_id) {
        say_denied(srv, a,
                   "app '%s' tried to pass a descriptor on channel %u, which it does not serve "
                   "(nor call on)",
                   a->name, (unsigned)m->channel);
        close(fd);
        return;
    }
    pipe = c->server_app != a->app_id; /* an app calling itself passes as the server */
    to_app = pipe ? c->server_app : c->client_app;
    if (pipe ? !kos__mw_fd_pipe_write_end(fd, &why) : !kos__mw_fd_passable(fd, &why)) {
        struct app *to = app_find(srv, to_app);
        say_denied(srv, a,
                   pipe ? "app '%s' tried to pass %s to app '%s' (a client passes its server "
                          "only a pipe's write end)"
                        : "app '%s' tried to pass %s to app '%s' (only connected TCP sockets "
                          "travel)",
                   a->name, why, to ? to->name : "?");
        close(fd);
        return;
    }
    unsigned from_pair = 0;
    for (size_t i = 0; i < srv->n_fdps; i++) {
        if (srv->fdps[i].cookie == m->cookie) {
            close(fd); /* a collision (or a replay): keep the first */
            return;
        }
        from_pair += srv->fdps[i].from_app == a->app_id && srv->fdps[i].to_app == to_app;
    }
    /* Counted against the receiver, so that a client that never takes what
     * it is given blocks only itself, not its server's other clients; and
     * per publisher, so that one publisher passing descriptors its client
     * never asked for cannot use up the slots the client's other servers
     * (ethernet) need. */
    struct app *to = app_find(srv, to_app);
    if (!to || to->n_fds >= MAX_FDS_PER_APP || from_pair >= MAX_FDS_PER_PAIR ||
        srv->n_fdps >= MAX_FDS ||
        !grow((void **)&srv->fdps, &srv->cap_fdps, srv->n_fdps, sizeof(*srv->fdps))) {
        say_app(srv, a,
                "app '%s' passed a descriptor to app '%s', which has too many not taken; closed it",
                a->name, to ? to->name : "?");
        close(fd);
        return;
    }
    srv->fdps[srv->n_fdps++] = (struct fdpass){
        .cookie = m->cookie,
        .chan = c->id,
        .from_app = a->app_id,
        .to_app = to_app,
        .pipe = pipe,
        .fd = fd,
        .expires = now_ms(srv) + FD_LIFE_MS,
    };
    to->n_fds++;
    /* A redeem that overtook this pass gets its descriptor now. */
    for (size_t i = 0; i < srv->n_waits; i++) {
        struct wait w = srv->waits[i];
        if (w.kind == WAIT_FD && w.cookie == m->cookie && w.app_id == to_app) {
            wait_forget(srv, i);
            fdpass_give(srv, srv->n_fdps - 1, to, w.req_id);
            return;
        }
    }
}

static void on_fd_redeem(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    for (size_t i = 0; i < srv->n_fdps; i++) {
        if (srv->fdps[i].cookie != m->cookie)
            continue;
        if (srv->fdps[i].to_app != a->app_id) {
            struct app *to = app_find(srv, srv->fdps[i].to_app);
            say_denied(srv, a, "app '%s' tried to take a descriptor passed to app '%s'", a->name,
                       to ? to->name : "?");
            reply_status(a, KOS__MW_FD_REDEEM_REPLY, m->id, KOS_STATUS_INVALID_TOKEN);
            return;
        }
        fdpass_give(srv, i, a, m->id);
        return;
    }
    /* Its FD_PASS may still sit in the publisher's socket: wait a little. */
    struct wait w = {
        .app_id = a->app_id,
        .req_id = m->id,
        .kind = WAIT_FD,
        .cookie = m->cookie,
        .deadline = now_ms(srv) + REDEEM_WAIT_MS,
    };
    if (!wait_add(srv, a, &w))
        reply_status(a, KOS__MW_FD_REDEEM_REPLY, m->id, KOS_STATUS_BUSY);
}

static void on_fd_drop(struct msgsrv *srv, struct app *a, const struct kos__mw *m)
{
    for (size_t i = 0; i < srv->n_fdps; i++) {
        if (srv->fdps[i].cookie == m->cookie && srv->fdps[i].to_app == a->app_id) {
            fdpass_forget(srv, i);
            return;
        }
    }
}

/* Handles one message from an app. `fds` holds what it carried
 * (kos__mw_nfds of its type), which this takes. */
static void on_message(struct msgsrv *srv, struct app *a, const struct kos__mw *m, int *fds)
{
    switch (m->type) {
    case KOS__MW_FD_PASS:
        on_fd_pass(srv, a, m, fds[0]);
        break;
    case KOS__MW_FD_REDEEM:
        on_fd_redeem(srv, a, m);
        break;
    case KOS__MW_FD_DROP:
        on_fd_drop(srv, a, m);
        break;
    case KOS__MW_PUBLISH:
        on_publish(srv, a, m);
        break;
    case KOS__MW_REQUEST:
        on_request(srv, a, m);
        break;
    case KOS__MW_PING: {
        struct kos__mw r = {.type = KOS__MW_PING_REPLY, .id = m->id};
        app_send(a, &r, NULL);
        break;
    }
    case KOS__MW_UNPUBLISH:
        on_unpublish(srv, a, m);
        break;
    case KOS__MW_TOKEN_CLOSE:
        on_token_close(srv, a, m);
        break;
    case KOS__MW_REVOKE:
        on_revoke(srv, a, m);
        break;
    case KOS__MW_PREPARE:
        on_prepare(srv, a, m);
        break;
    case KOS__MW_REDEEM:
        on_redeem(srv, a, m);
        break;
    default: {
        char why[96];
        for (size_t i = 0; i < kos__mw_nfds(m->type, m->status); i++)
            close(fds[i]);
        snprintf(why, sizeof(why), "it sent %s, which only a message server sends",
                 kos__mw_type_name(m->type));
        doom(a, why);
        break;
    }
    }
}

/* ==== connections ==== */

void msgsrv_set_trace(struct msgsrv *srv, struct kos__trace_shm *ring)
{
    srv->trace = ring;
}

void msgsrv_trace_app(struct msgsrv *srv, uint32_t app_id, bool on)
{
    if (app_id >= KOS__MSGSRV_TRACE_APPS)
        return;
    if (!on) {
        srv->traced[app_id / 8] &= (uint8_t) ~(1u << (app_id % 8));
        return;
    }
    srv->traced[app_id / 8] |= (uint8_t)(1u << (app_id % 8));
    /* What it holds now, as if it had just happened: whoever reads the
     * records learns the channels its calls go over. */
    for (size_t i = 0; i < srv->n_eps; i++)
        if (srv->eps[i].app_id == app_id)
            trace_event(srv, KOS__TRACE_PUBLISH, app_id, NO_APP, 0, KOS_STATUS_OK, 0,
                        srv->eps[i].protocol);
    for (size_t i = 0; i < srv->n_chans; i++) {
        const struct chan *c = &srv->chans[i];
        const struct endpoint *ep = ep_by_id(srv, c->endpoint);
        if ((c->client_app == app_id || c->server_app == app_id) && ep)
            trace_event(srv, KOS__TRACE_GRANT, c->client_app, c->server_app, c->id, KOS_STATUS_OK,
                        0, ep->protocol);
    }
}

struct msgsrv *msgsrv_create(const char *name)
{
    struct msgsrv *srv = calloc(1, sizeof(*srv));

    if (srv)
        snprintf(srv->name, sizeof(srv->name), "%s", name);
    return srv;
}

/* Frees an app that is no longer in the table. */
static void app_free(struct app *a)
{
    while (a->q_len) {
        outmsg_close(&a->q[a->q_head]);
        a->q_head = (a->q_head + 1) % a->q_cap;
        a->q_len--;
    }
    free(a->q);
    close(a->sock);
    free(a->grants);
    free(a);
}

void msgsrv_app_down(struct msgsrv *srv, uint32_t app_id)
{
    struct app *a = NULL;

    for (size_t i = 0; i < srv->n_apps; i++) {
        if (srv->apps[i]->app_id == app_id) {
            a = srv->apps[i];
            srv->apps[i] = srv->apps[--srv->n_apps];
            break;
        }
    }
    if (!a)
        return;
    /* From here the app is out of the table: nothing below sends to it. */
    for (size_t i = 0; i < srv->n_eps;) {
        if (srv->eps[i].app_id == app_id)
            ep_withdraw(srv, &srv->eps[i]);
        else
            i++;
    }
    for (size_t i = 0; i < srv->n_chans;) {
        struct chan *c = &srv->chans[i];
        if (c->client_app == app_id) {
            chan_client_gone(srv, c);
            chan_forget(srv, c);
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < srv->n_waits;) {
        if (srv->waits[i].app_id == app_id)
            srv->waits[i] = srv->waits[--srv->n_waits];
        else
            i++;
    }
    /* Its transfers in flight stay redeemable; nobody's count holds them. */
    for (size_t i = 0; i < srv->n_cookies; i++)
        if (srv->cookies[i].from_app == app_id)
            srv->cookies[i].from_app = NO_APP;
    for (size_t i = 0; i < srv->n_fdps; i++)
        if (srv->fdps[i].from_app == app_id)
            srv->fdps[i].from_app = NO_APP;
    app_free(a);
}

void msgsrv_destroy(struct msgsrv *srv)
{
    if (!srv)
        return;
    while (srv->n_apps)
        msgsrv_app_down(srv, srv->apps[srv->n_apps - 1]->app_id);
    for (size_t i = 0; i < srv->n_chans; i++)
        kos__chan_unmap(srv->chans[i].shm);
    for (size_t i = 0; i < srv->n_fdps; i++)
        close(srv->fdps[i].fd);
    free(srv->fdps);
    free(srv->apps);
    free(srv->eps);
    free(srv->chans);
    free(srv->waits);
    free(srv->cookies);
    free(srv);
}

kos_status_t msgsrv_add_client(struct msgsrv *srv, int sock, const struct kos__client_grants *g)
{
    struct app *a;
    int type, fl;
    socklen_t tlen = sizeof(type);
    kos_status_t st = KOS_STATUS_NO_MEMORY;

    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_SEQPACKET) {
        st = KOS_STATUS_INVALID_ARGUMENT;
        goto out_close_sock;
    }
    fl = fcntl(sock, F_GETFL);
    if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0) {
        st = KOS_STATUS_IO;
        goto out_close_sock;
    }
    msgsrv_app_down(srv, g->app_id); /* a restart: the old connection is over */
    if (srv->n_apps >= MAX_APPS ||
        !grow((void **)&srv->apps, &srv->cap_apps, srv->n_apps, sizeof(*srv->apps)))
        goto out_close_sock;
    a = calloc(1, sizeof(*a));
    if (!a)
        goto out_close_sock;
    a->grants = malloc(sizeof(*a->grants));
    if (!a->grants)
        goto out_free_app;
    /* The grant pointers point into the record's own names: rebase them. */
    memcpy(a->grants, g, sizeof(*g));
    for (uint32_t i = 0; i < g->n_publish; i++)
        a->grants->publish[i] = a->grants->names + (g->publish[i] - g->names);
    for (uint32_t i = 0; i < g->n_request; i++)
        a->grants->request[i] = a->grants->names + (g->request[i] - g->names);
    a->app_id = g->app_id;
    memcpy(a->name, g->app, sizeof(a->name));
    a->sock = sock;
    srv->apps[srv->n_apps++] = a;
    return KOS_STATUS_OK;

out_free_app:
    free(a);
out_close_sock:
    close(sock);
    return st;
}

size_t msgsrv_n_apps(const struct msgsrv *srv)
{
    return srv->n_apps;
}

size_t msgsrv_pollfds(const struct msgsrv *srv, struct pollfd *pfds, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < srv->n_apps && n < cap; i++) {
        pfds[n].fd = srv->apps[i]->sock;
        pfds[n].events = (short)(POLLIN | (srv->apps[i]->q_len ? POLLOUT : 0));
        pfds[n].revents = 0;
        n++;
    }
    return n;
}

/* The most messages read from one app per turn, so a chatty app cannot
 * starve the others. */
#define READ_BATCH 32

void msgsrv_handle(struct msgsrv *srv, const struct pollfd *pfd)
{
    struct app *a = NULL;

    for (size_t i = 0; i < srv->n_apps; i++)
        if (srv->apps[i]->sock == pfd->fd)
            a = srv->apps[i];
    if (!a)
        return; /* disconnected earlier in this turn */
    if (pfd->revents & POLLOUT)
        app_flush(a);
    if (pfd->revents & (POLLIN | POLLHUP | POLLERR)) {
        for (int k = 0; k < READ_BATCH && !a->doomed; k++) {
            struct kos__mw m;
            int fds[KOS__MW_MAX_FDS];
            kos_status_t st = kos__mw_recv(a->sock, &m, fds, MSG_DONTWAIT);
            if (st == KOS_STATUS_WOULD_BLOCK)
                break;
            if (st == KOS_STATUS_PROTOCOL) {
                doom(a, "it sent a malformed message");
                break;
            }
            if (st) {
                doom(a, NULL); /* end of stream: the app is gone */
                break;
            }
            /* Decoding already refused any descriptor a message's type
             * does not carry; FD_PASS carries one, which on_message takes. */
            on_message(srv, a, &m, fds);
        }
    }
    /* Reap every app found gone during this turn. */
    for (size_t i = 0; i < srv->n_apps;) {
        if (srv->apps[i]->doomed)
            msgsrv_app_down(srv, srv->apps[i]->app_id);
        else
            i++;
    }
}

/* ==== for tests ==== */

void msgsrv_set_clock(struct msgsrv *srv, uint64_t (*now)(void *arg), void *arg)
{
    srv->clock = now;
    srv->clock_arg = now ? arg : NULL;
}

static size_t queued_fds(const struct app *a)
{
    size_t n = 0;

    for (size_t k = 0; k < a->q_len; k++) {
        const struct outmsg *o = &a->q[(a->q_head + k) % a->q_cap];
        n += kos__mw_nfds(o->m.type, o->m.status);
    }
    return n;
}

void msgsrv_stats(const struct msgsrv *srv, struct msgsrv_stats *out)
{
    *out = (struct msgsrv_stats){
        .apps = srv->n_apps,
        .endpoints = srv->n_eps,
        .channels = srv->n_chans,
        .waits = srv->n_waits,
        .cookies = srv->n_cookies,
        .fds = srv->n_fdps,
        .descriptors = srv->n_apps + srv->n_fdps,
    };
    for (size_t i = 0; i < srv->n_apps; i++)
        out->descriptors += queued_fds(srv->apps[i]);
}

bool msgsrv_app_stats(const struct msgsrv *srv, uint32_t app_id, struct msgsrv_app_stats *out)
{
    const struct app *a = app_find(srv, app_id);

    if (!a)
        return false;
    *out = (struct msgsrv_app_stats){
        .doomed = a->doomed,
        .queued = a->q_len,
        .queued_fds = queued_fds(a),
    };
    for (size_t i = 0; i < srv->n_eps; i++) {
        if (srv->eps[i].app_id != app_id)
            continue;
        out->endpoints++;
    }
    for (size_t i = 0; i < srv->n_chans; i++) {
        const struct chan *c = &srv->chans[i];
        if (c->client_app != app_id)
            continue;
        out->tokens++;
        size_t on_ep = 0;
        for (size_t j = 0; j < srv->n_chans; j++)
            on_ep += srv->chans[j].client_app == app_id && srv->chans[j].endpoint == c->endpoint;
        if (on_ep > out->tokens_max_ep)
            out->tokens_max_ep = on_ep;
    }
    for (size_t i = 0; i < srv->n_waits; i++)
        out->waits += srv->waits[i].app_id == app_id;
    for (size_t i = 0; i < srv->n_cookies; i++)
        out->cookies += srv->cookies[i].from_app == app_id;
    for (size_t i = 0; i < srv->n_fdps; i++)
        out->fds += srv->fdps[i].to_app == app_id;
    return true;
}

static bool check_fail(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool check_fail(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (cap)
        vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return false;
}

bool msgsrv_check(const struct msgsrv *srv, char *why, size_t cap)
{
    for (size_t i = 0; i < srv->n_apps; i++) {
        const struct app *a = srv->apps[i];
        struct msgsrv_app_stats st;
        for (size_t j = 0; j < i; j++)
            if (srv->apps[j]->app_id == a->app_id || srv->apps[j]->sock == a->sock)
                return check_fail(why, cap, "apps %u and %u share an id or a socket",
                                  (unsigned)srv->apps[j]->app_id, (unsigned)a->app_id);
        (void)msgsrv_app_stats(srv, a->app_id, &st);
        if (st.waits != a->n_waits || st.cookies != a->n_cookies || st.fds != a->n_fds)
            return check_fail(why, cap,
                              "app %u counts %u waits, %u cookies, %u descriptors; its tables "
                              "hold %zu, %zu, %zu",
                              (unsigned)a->app_id, a->n_waits, a->n_cookies, a->n_fds, st.waits,
                              st.cookies, st.fds);
        if (a->q_len > a->q_cap || (a->q_cap && a->q_head >= a->q_cap))
            return check_fail(why, cap, "app %u's queue is out of shape", (unsigned)a->app_id);
    }
    for (size_t i = 0; i < srv->n_eps; i++) {
        const struct endpoint *ep = &srv->eps[i];
        if (ep->id == 0 || !app_find(srv, ep->app_id))
            return check_fail(why, cap, "endpoint %u of '%s' has no publisher", (unsigned)ep->id,
                              ep->protocol);
        for (size_t j = 0; j < i; j++)
            if (srv->eps[j].id == ep->id || strcmp(srv->eps[j].protocol, ep->protocol) == 0)
                return check_fail(why, cap, "endpoints %u and %u share an id or a protocol",
                                  (unsigned)srv->eps[j].id, (unsigned)ep->id);
    }
    for (size_t i = 0; i < srv->n_chans; i++) {
        const struct chan *c = &srv->chans[i];
        const struct endpoint *ep = ep_by_id(srv, c->endpoint);
        if (c->id == 0 || !ep || ep->app_id != c->server_app)
            return check_fail(why, cap, "channel %u is not served by its endpoint's publisher",
                              (unsigned)c->id);
        if (!app_find(srv, c->client_app) || c->shm->channel != c->id)
            return check_fail(why, cap, "channel %u has no client, or its memory names another",
                              (unsigned)c->id);
        for (size_t j = 0; j < i; j++)
            if (srv->chans[j].id == c->id)
                return check_fail(why, cap, "two channels are numbered %u", (unsigned)c->id);
    }
    for (size_t i = 0; i < srv->n_waits; i++)
        if (!app_find(srv, srv->waits[i].app_id))
            return check_fail(why, cap, "a wait of app %u, which is gone",
                              (unsigned)srv->waits[i].app_id);
    for (size_t i = 0; i < srv->n_cookies; i++) {
        const struct cookie *k = &srv->cookies[i];
        if (k->value == 0 || (k->from_app != NO_APP && !app_find(srv, k->from_app)))
            return check_fail(why, cap, "cookie %zu is zero or its preparer is gone", i);
        for (size_t j = 0; j < i; j++)
            if (srv->cookies[j].value == k->value)
                return check_fail(why, cap, "two transfers share a cookie");
    }
    for (size_t i = 0; i < srv->n_fdps; i++) {
        const struct fdpass *f = &srv->fdps[i];
        const struct chan *c = chan_by_id(srv, f->chan);
        if (!c || c->client_app != f->to_app || f->fd < 0)
            return check_fail(why, cap,
                              "a passed descriptor does not wait for its channel's client");
        for (size_t j = 0; j < i; j++)
            if (srv->fdps[j].cookie == f->cookie || srv->fdps[j].fd == f->fd)
                return check_fail(why, cap, "two passed descriptors share a cookie or a number");
    }
    if (why && cap)
        why[0] = '\0';
    return true;
}
