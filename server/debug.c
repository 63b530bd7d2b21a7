/*
 * debug.c - the server's end of remote debugging (debug.h): sessions
 * opened on devices' apps, each with a one-time loopback port for its
 * client, and the bytes between the client and the device's debug channel.
 *
 * What stays true: a session is in dbg->sessions from kos__debug_open()
 * until end(), which frees its listener, connection and timers in one
 * place; done() is called after the session has left the list (or, for a
 * session that opened, once its port is ready and the session goes on).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <openssl/rand.h>

#include "debug.h"
#include "server_int.h"
#include "srv_json.h"
#include "srv_limits.h"
#include "store.h"

/* The link's debug channel (docs/link.md). */
#define CH_DEBUG 5u

enum stage {
    OPENING,   /* the DebugOpen went; the device's answer is waited for */
    LISTENING, /* open: the port waits for its client */
    RELAYING,  /* the client proved its token: bytes flow */
};

struct session {
    TAILQ_ENTRY(session) link;
    struct kos__debug *dbg;
    struct kos__srv *srv;
    uint64_t id;
    char device[KOS__DEVICE_ID_LEN + 1];
    char app[64];
    enum stage stage;
    bool gdb;                /* the port takes gdb at once (no token line): kos__debug_open() */
    kos__debug_done_fn done; /* OPENING only */
    void *arg;
    char token[KOS__SRV_DEBUG_TOKEN_HEX + 1];
    struct evconnlistener *listener;
    unsigned port;
    struct bufferevent *bev; /* the client */
    bool closing;            /* the device ended it: the client gets what is left, then EOF */
    struct event *timer;     /* the stage's deadline */
    struct event *retry;     /* the device's channel was full: read the client again later */
    uint64_t up_bytes, down_bytes;
};

struct kos__debug {
    struct event_base *base;
    TAILQ_HEAD(, session) sessions;
    size_t n;
    uint64_t next_id;
};

struct kos__debug *kos__debug_create(struct event_base *base)
{
    struct kos__debug *dbg = calloc(1, sizeof(*dbg));

    if (!dbg)
        return NULL;
    dbg->base = base;
    TAILQ_INIT(&dbg->sessions);
    dbg->next_id = 1;
    return dbg;
}

/* Sends the device a DebugDown with no data (open or close) or with
 * data[0..n). */
static kos_status_t send_down(struct session *s, const char *open_app, bool close,
                              const uint8_t *data, size_t n)
{
    Kos__Debug__DebugDown down = KOS__DEBUG__DEBUG_DOWN__INIT;
    Kos__Debug__DebugOpen op = KOS__DEBUG__DEBUG_OPEN__INIT;
    Kos__Debug__DebugClose cl = KOS__DEBUG__DEBUG_CLOSE__INIT;
    uint8_t buf[KOS__SRV_DEBUG_CHUNK + 32];

    if (open_app) {
        op.app.data = (uint8_t *)open_app;
        op.app.len = strlen(open_app);
        down.body_case = KOS__DEBUG__DEBUG_DOWN__BODY_OPEN;
        down.open = &op;
    } else if (close) {
        down.body_case = KOS__DEBUG__DEBUG_DOWN__BODY_CLOSE;
        down.close = &cl;
    } else {
        down.body_case = KOS__DEBUG__DEBUG_DOWN__BODY_DATA;
        down.data.data = (uint8_t *)data;
        down.data.len = n;
    }
    if (kos__debug__debug_down__get_packed_size(&down) > sizeof(buf))
        return KOS_STATUS_TOO_LARGE;
    n = kos__debug__debug_down__pack(&down, buf);
    if (!s->srv->devport)
        return KOS_STATUS_UNAVAILABLE;
    return kos__devport_send(s->srv->devport, s->device, CH_DEBUG, buf, n);
}

/* Ends session s: out of the list, everything freed; the device is told
 * (close) when tell_device; an open still waiting is answered with
 * http_status and answer (which end() takes), or, with no answer, not at
 * all (its client went away). */
static void end(struct session *s, bool tell_device, int http_status, json_t *answer)
{
    kos__debug_done_fn done = s->stage == OPENING ? s->done : NULL;
    void *arg = s->arg;

    if (tell_device)
        (void)send_down(s, NULL, true, NULL, 0);
    TAILQ_REMOVE(&s->dbg->sessions, s, link);
    s->dbg->n--;
    if (s->stage != OPENING)
        kos__srv_log("device %.16s: debug session %llu on app '%s' ended (%llu bytes to the "
                     "device, %llu from it)",
                     s->device, (unsigned long long)s->id, s->app,
                     (unsigned long long)s->down_bytes, (unsigned long long)s->up_bytes);
    if (s->listener)
        evconnlistener_free(s->listener);
    if (s->bev)
        bufferevent_free(s->bev);
    if (s->timer)
        event_free(s->timer);
    if (s->retry)
        event_free(s->retry);
    free(s);
    if (done && answer)
        done(arg, http_status, answer);
    else
        json_decref(answer);
}

static json_t *error_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *error_json(const char *fmt, ...)
{
    char msg[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return json_pack("{s:s}", "error", msg);
}

void kos__debug_destroy(struct kos__debug *dbg)
{
    if (!dbg)
        return;
    while (!TAILQ_EMPTY(&dbg->sessions))
        end(TAILQ_FIRST(&dbg->sessions), true, 503, error_json("the server is stopping"));
    free(dbg);
}

static void arm(struct session *s, int seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(s->timer, &tv);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    if (s->stage == OPENING) {
        kos__srv_log("device %.16s: debug open of app '%s' not answered within %d s", s->device,
                     s->app, KOS__SRV_DEBUG_OPEN_S);
        end(s, true, 504,
            error_json("device %s did not answer the debug open within %d s (its admin may be "
                       "busy, restarting, or without the debug channel)",
                       s->device, KOS__SRV_DEBUG_OPEN_S));
        return;
    }
    if (s->closing)
        kos__srv_log("device %.16s: the debugger did not take the device's last bytes within %d "
                     "s: the session ends",
                     s->device, KOS__SRV_DEBUG_CONNECT_S);
    else
        kos__srv_log("device %.16s: no debugger connected to port %u within %d s: the session "
                     "ends",
                     s->device, s->port, KOS__SRV_DEBUG_CONNECT_S);
    end(s, true, 0, NULL);
}

/* ---- the client ---- */

static void client_read(struct bufferevent *bev, void *arg);

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    bufferevent_enable(s->bev, EV_READ);
    client_read(s->bev, s);
}

/* Relays what the client sent, a DebugDown at a time, while the device's
 * channel takes it; with no room, the rest waits (the client's reading
 * paused) and is tried again shortly. */
static void relay_down(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    uint8_t chunk[KOS__SRV_DEBUG_CHUNK];

    for (;;) {
        size_t n = evbuffer_get_length(in);
        if (n == 0)
            return;
        if (n > sizeof(chunk))
            n = sizeof(chunk);
        evbuffer_copyout(in, chunk, n);
        kos_status_t st = send_down(s, NULL, false, chunk, n);
        if (st == KOS_STATUS_BUSY) {
            struct timeval tv = {0, 20000};
            bufferevent_disable(s->bev, EV_READ);
            evtimer_add(s->retry, &tv);
            return;
        }
        if (st) {
            kos__srv_log("device %.16s: debug bytes cannot be sent (%s): the session ends",
                         s->device, kos_status_str(st));
            end(s, false, 0, NULL);
            return;
        }
        evbuffer_drain(in, n);
        s->down_bytes += n;
    }
}

/* The client's first line: "KOS-DEBUG TOKEN\n". */
static void client_hello(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    struct evbuffer_ptr nl = evbuffer_search(in, "\n", 1, NULL);
    char line[KOS__SRV_DEBUG_HELLO_MAX + 1];
    size_t n;

    if (nl.pos < 0) {
        if (evbuffer_get_length(in) > KOS__SRV_DEBUG_HELLO_MAX) {
            kos__srv_log("device %.16s: the debug port's client sent no token line: the session "
                         "ends",
                         s->device);
            end(s, true, 0, NULL);
        }
        return;
    }
    n = (size_t)nl.pos;
    if (n > KOS__SRV_DEBUG_HELLO_MAX) {
        end(s, true, 0, NULL);
        return;
    }
    evbuffer_remove(in, line, n + 1);
    line[n] = '\0';
    if (n != 10 + KOS__SRV_DEBUG_TOKEN_HEX || strncmp(line, "KOS-DEBUG ", 10) != 0 ||
        CRYPTO_memcmp(line + 10, s->token, KOS__SRV_DEBUG_TOKEN_HEX) != 0) {
        kos__srv_log("device %.16s: the debug port's client did not give the session's token: "
                     "the session ends",
                     s->device);
        end(s, true, 0, NULL);
        return;
    }
    s->stage = RELAYING;
    evtimer_del(s->timer);
    kos__srv_log("device %.16s: a debugger is connected to app '%s' (session %llu)", s->device,
                 s->app, (unsigned long long)s->id);
    relay_down(s);
}

static void client_read(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->closing)
        return;
    if (s->stage == LISTENING)
        client_hello(s);
    else
        relay_down(s);
}

static void client_write(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->closing)
        end(s, false, 0, NULL); /* all the device sent is out */
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        end(s, !s->closing, 0, NULL);
}

/* Whether the loopback TCP connection accepted as fd comes from a socket of
 * this process's user: /proc/net/tcp lists the peer's socket (its local
 * address the peer's, its remote one ours) with its owner's uid. */
static bool peer_is_own_user(evutil_socket_t fd)
{
    struct sockaddr_in me, peer;
    socklen_t ml = sizeof(me), pl = sizeof(peer);
    char line[512];
    bool own = false;
    FILE *f;

    if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 || me.sin_family != AF_INET ||
        peer.sin_family != AF_INET || !(f = fopen("/proc/net/tcp", "re")))
        return false;
    while (fgets(line, sizeof(line), f)) {
        unsigned la, lp, ra, rp;
        unsigned long uid;
        /* "sl: local rem st tx:rx tr:when retrnsmt uid ...", addresses as
         * the kernel holds them (network order, printed as a host u32). */
        if (sscanf(line, " %*u: %8X:%4X %8X:%4X %*X %*X:%*X %*X:%*X %*X %lu", &la, &lp, &ra, &rp,
                   &uid) != 5)
            continue;
        if (la == (unsigned)peer.sin_addr.s_addr && lp == ntohs(peer.sin_port) &&
            ra == (unsigned)me.sin_addr.s_addr && rp == ntohs(me.sin_port)) {
            own = uid == (unsigned long)geteuid();
            break;
        }
    }
    fclose(f);
    return own;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct session *s = arg;

    (void)l;
    (void)sa;
    (void)salen;
    if (s->bev) {
        evutil_closesocket(fd); /* one client */
        return;
    }
    if (s->gdb && !peer_is_own_user(fd)) {
        kos__srv_log("device %.16s: refused a debugger's connection to port %u from another "
                     "user's socket",
                     s->device, s->port);
        evutil_closesocket(fd);
        return;
    }
    s->bev = bufferevent_socket_new(s->dbg->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!s->bev) {
        evutil_closesocket(fd);
        end(s, true, 0, NULL);
        return;
    }
    /* One connection: the port closes. */
    evconnlistener_free(s->listener);
    s->listener = NULL;
    bufferevent_setcb(s->bev, client_read, client_write, client_event, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    if (s->gdb) {
        s->stage = RELAYING;
        evtimer_del(s->timer);
        kos__srv_log("device %.16s: gdb is connected to app '%s' (session %llu)", s->device, s->app,
                     (unsigned long long)s->id);
    }
}

/* The device opened the session: a port for the client, and the answer. */
static void opened(struct session *s, const char *message)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct sockaddr_in got;
    socklen_t len = sizeof(got);
    uint8_t raw[KOS__SRV_DEBUG_TOKEN_HEX / 2];
    kos__debug_done_fn done = s->done;
    json_t *answer;

    inet_pton(AF_INET, s->srv->address[0] ? s->srv->address : "127.0.0.1", &sin.sin_addr);
    s->listener = evconnlistener_new_bind(s->dbg->base, on_accept, s,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1,
                                          (struct sockaddr *)&sin, sizeof(sin));
    if (!s->listener || RAND_bytes(raw, sizeof(raw)) != 1 ||
        getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&got, &len) < 0) {
        end(s, true, 500, error_json("cannot listen for the debugger on the loopback address"));
        return;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(s->token + 2 * i, 3, "%02x", raw[i]);
    s->port = ntohs(got.sin_port);
    if (s->gdb) {
        char target[64];
        snprintf(target, sizeof(target), "target remote %s:%u",
                 s->srv->address[0] ? s->srv->address : "127.0.0.1", s->port);
        answer = json_pack("{s:s, s:s, s:i, s:b, s:s, s:o}", "device", s->device, "app", s->app,
                           "port", (int)s->port, "gdb", 1, "target", target, "message",
                           kos__json_text(message, strlen(message)));
    } else {
        answer = json_pack("{s:s, s:s, s:i, s:s, s:o}", "device", s->device, "app", s->app, "port",
                           (int)s->port, "token", s->token, "message",
                           kos__json_text(message, strlen(message)));
    }
    if (!answer) {
        end(s, true, 500, error_json("out of memory"));
        return;
    }
    s->stage = LISTENING;
    s->done = NULL;
    evtimer_del(s->timer);
    arm(s, KOS__SRV_DEBUG_CONNECT_S);
    kos__srv_log("device %.16s: debug session %llu open on app '%s'; port %u waits for its client",
                 s->device, (unsigned long long)s->id, s->app, s->port);
    done(s->arg, 200, answer);
}

kos_status_t kos__debug_open(struct kos__srv *srv, const char *id, const char *app, bool gdb,
                             kos__debug_done_fn done, void *arg, uint64_t *sid, char *err,
                             size_t errlen)
{
    struct kos__debug *dbg = srv->debug;
    struct session *s;
    kos_status_t st;

    st = kos__devices_reachable(srv, id, err, errlen);
    if (st)
        return st;
    if (!dbg) {
        snprintf(err, errlen, "device %s is not online", id);
        return KOS_STATUS_UNAVAILABLE;
    }
    TAILQ_FOREACH(s, &dbg->sessions, link)
    if (strcmp(s->device, id) == 0) {
        snprintf(err, errlen,
                 "device %s has a debug session already (on app '%s'): one at a time; end it "
                 "first",
                 id, s->app);
        return KOS_STATUS_BUSY;
    }
    if (dbg->n >= KOS__SRV_DEBUG_SESSIONS) {
        snprintf(err, errlen, "too many debug sessions at once (at most %u)",
                 KOS__SRV_DEBUG_SESSIONS);
        return KOS_STATUS_BUSY;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->timer = event_new(dbg->base, -1, 0, on_timeout, s)) ||
        !(s->retry = event_new(dbg->base, -1, 0, on_retry, s))) {
        if (s && s->timer)
            event_free(s->timer);
        free(s);
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    s->dbg = dbg;
    s->srv = srv;
    s->id = dbg->next_id++;
    snprintf(s->device, sizeof(s->device), "%s", id);
    snprintf(s->app, sizeof(s->app), "%s", app);
    s->gdb = gdb;
    s->done = done;
    s->arg = arg;
    st = send_down(s, s->app, false, NULL, 0);
    if (st) {
        event_free(s->timer);
        event_free(s->retry);
        free(s);
        if (st == KOS_STATUS_BUSY) {
            snprintf(err, errlen, "device %s's debug channel is full: try again", id);
            return KOS_STATUS_BUSY;
        }
        snprintf(err, errlen, "device %s is not online", id);
        return KOS_STATUS_UNAVAILABLE;
    }
    TAILQ_INSERT_TAIL(&dbg->sessions, s, link);
    dbg->n++;
    arm(s, KOS__SRV_DEBUG_OPEN_S);
    kos__srv_log("device %.16s: debug session %llu asked on app '%s'", id,
                 (unsigned long long)s->id, app);
    *sid = s->id;
    return KOS_STATUS_OK;
}

void kos__debug_cancel(struct kos__debug *dbg, uint64_t sid)
{
    struct session *s;

    if (!dbg)
        return;
    TAILQ_FOREACH(s, &dbg->sessions, link)
    if (s->id == sid) {
        if (s->stage == OPENING) {
            s->done = NULL;
            end(s, true, 0, NULL);
        }
        return;
    }
}

static struct session *find(struct kos__srv *srv, const char *id)
{
    struct session *s;

    if (!srv->debug)
        return NULL;
    TAILQ_FOREACH(s, &srv->debug->sessions, link)
    if (strcmp(s->device, id) == 0)
        return s;
    return NULL;
}

kos_status_t kos__debug_end(struct kos__srv *srv, const char *id, char app[64])
{
    struct session *s = find(srv, id);

    if (!s)
        return KOS_STATUS_NOT_FOUND;
    snprintf(app, 64, "%s", s->app);
    kos__srv_log("device %.16s: debug session %llu on app '%s' ended by the API", s->device,
                 (unsigned long long)s->id, s->app);
    end(s, true, 409, error_json("the debug session was ended before the device opened it"));
    return KOS_STATUS_OK;
}

/* The HTTP status for a device's refusal. */
static int http_of(uint32_t status)
{
    switch (status) {
    case KOS_STATUS_INVALID_ARGUMENT:
        return 400;
    case KOS_STATUS_UNAUTHORIZED:
        return 403;
    case KOS_STATUS_NOT_FOUND:
        return 404;
    case KOS_STATUS_BUSY:
    case KOS_STATUS_UNAVAILABLE:
        return 409;
    default:
        return 502;
    }
}

bool kos__debug_up(struct kos__srv *srv, const char *id, const Kos__Debug__DebugUp *up, char *why,
                   size_t cap)
{
    struct session *s = find(srv, id);
    const char *msg = NULL;
    uint32_t status = 0;

    switch (up->body_case) {
    case KOS__DEBUG__DEBUG_UP__BODY_OPENED:
        status = up->opened->status;
        msg = up->opened->message;
        break;
    case KOS__DEBUG__DEBUG_UP__BODY_CLOSED:
        status = up->closed->status;
        msg = up->closed->message;
        break;
    case KOS__DEBUG__DEBUG_UP__BODY_DATA:
        if (up->data.len > KOS__SRV_DEBUG_CHUNK + 100) {
            snprintf(why, cap, "a DebugUp with %zu bytes of data (at most %u)", up->data.len,
                     KOS__SRV_DEBUG_CHUNK + 100);
            return false;
        }
        break;
    default:
        snprintf(why, cap, "a DebugUp with no body");
        return false;
    }
    if (status >= KOS_STATUS__COUNT) {
        snprintf(why, cap, "a DebugUp with status %u, which is no KOS status", status);
        return false;
    }
    if (!s)
        return true; /* a session that ended: dropped */
    if (up->body_case == KOS__DEBUG__DEBUG_UP__BODY_OPENED) {
        if (s->stage != OPENING)
            return true;
        if (status == KOS_STATUS_OK) {
            opened(s, msg ? msg : "");
            return true;
        }
        kos__srv_log("device %.16s refused to debug app '%s': %s", s->device, s->app,
                     kos_status_str((kos_status_t)status));
        json_t *a =
            json_pack("{s:o, s:I, s:s}", "error", kos__json_text(msg, strlen(msg)), "status",
                      (json_int_t)status, "status_text", kos_status_str((kos_status_t)status));
        end(s, false, http_of(status), a ? a : error_json("out of memory"));
        return true;
    }
    if (up->body_case == KOS__DEBUG__DEBUG_UP__BODY_CLOSED) {
        if (s->stage == OPENING) {
            json_t *a = json_pack("{s:o, s:I, s:s}", "error", kos__json_text(msg, strlen(msg)),
                                  "status", (json_int_t)(status ? status : KOS_STATUS_CLOSED),
                                  "status_text", kos_status_str((kos_status_t)status));
            end(s, false, 502, a ? a : error_json("out of memory"));
        } else if (s->bev && s->stage == RELAYING &&
                   evbuffer_get_length(bufferevent_get_output(s->bev)) > 0) {
            s->closing = true; /* ends once the client has it all, or in time */
            arm(s, KOS__SRV_DEBUG_CONNECT_S);
        } else {
            end(s, false, 0, NULL);
        }
        return true;
    }
    /* Data: for the client once it is there. */
    if (s->stage != RELAYING || !s->bev || s->closing)
        return true;
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) + up->data.len >
        KOS__SRV_DEBUG_BUFFER) {
        kos__srv_log("device %.16s: the debugger does not read what the device sends: the debug "
                     "session ends",
                     s->device);
        end(s, true, 0, NULL);
        return true;
    }
    bufferevent_write(s->bev, up->data.data, up->data.len);
    s->up_bytes += up->data.len;
    return true;
}

void kos__debug_offline(struct kos__srv *srv, const char *id)
{
    struct session *s = find(srv, id);

    if (s)
        end(s, false, 502, error_json("device %s's link ended before it answered", id));
}

size_t kos__debug_sessions(const struct kos__debug *dbg)
{
    return dbg ? dbg->n : 0;
}
