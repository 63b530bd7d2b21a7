/*
 * msg.c - directories, tokens and endpoints (include/kos/msg.h).
 *
 * A directory is an app's connection to one message server. Directory
 * operations (publish, request, ping, token transfer) are round trips of
 * msg_wire messages on it; while a round trip waits, whatever else the
 * server sends (new clients, departures, revocations) is handled on the way.
 *
 * A token is the client end of one call channel (channel_int.h); an endpoint
 * holds the server ends of all its clients' channels. Calls never touch the
 * directory: the client writes the request into shared memory and rings the
 * server's doorbell only if the server is not spinning; the server copies the
 * request out, and the reply comes back the same way, the client spinning
 * briefly and then sleeping on a futex.
 *
 * What stays true:
 *   - nothing read from a channel is used before it is copied to private
 *     memory and validated; a hostile peer can make its own calls fail but
 *     cannot crash, hang or starve the other side (channels are scanned
 *     round robin, and descriptors are used without blocking; channel_int.h
 *     names the one case the sandbox has to close);
 *   - an endpoint's fd is readable whenever a request may be waiting: either
 *     a client's doorbell ring is queued in the epoll set, or the endpoint's
 *     private eventfd is armed. It is armed while the endpoint spins (its
 *     clients were told not to ring) and while a channel whose ring was
 *     consumed has not been looked at yet, and disarmed only after a full scan
 *     with the doorbells enabled finds nothing;
 *   - a token's fd is readable while a notification is waiting, and for good
 *     once the token is revoked or its server is gone.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel_int.h"
#include "msg_int.h"
#include "msg_wire_int.h"
#include "trace_int.h"

/* How long the message server may take to answer a round trip that has no
 * caller-given timeout of its own (redeeming a transferred token), and the
 * grace added to a request's own timeout for the answer to travel back. */
#define REDEEM_TIMEOUT_MS 2000
#define REQUEST_GRACE_MS  1000

/* epoll data of an endpoint's own descriptors; channel ids are 32-bit. */
#define EV_DIR  (UINT64_C(1) << 32)
#define EV_SELF (UINT64_C(2) << 32)

/* How many receives may pass before an endpoint that keeps finding work
 * looks at its directory connection anyway (new clients, departures). */
#define DIR_CHECK_EVERY 64u

/* The name of an app that called an endpoint. Kept until the endpoint
 * closes, so the name handed out in struct kos_caller outlives the client's
 * connection (a system has few apps; restarts reuse their entry). */
struct app_name {
    struct app_name *next;
    uint32_t app_id;
    char name[KOS__NAME_MAX];
};

/* One client's channel, as its server endpoint holds it. */
struct srv_chan {
    uint32_t id;
    uint32_t app_id;
    const char *app; /* in the endpoint's `names` */
    struct kos__chan_shm *shm;
    int wait_fd;          /* its doorbell (eventfd), edge-triggered in the endpoint's epoll set */
    int ring_fd;          /* client's note bell, write end */
    int ring_read_fd;     /* client's note bell, read end: held against SIGPIPE */
    uint32_t last_seq;    /* seq of the last request taken */
    uint32_t pending_seq; /* the call awaiting a reply, if `pending` */
    bool pending;
    bool rung; /* its doorbell rang since the channel was last looked at */
    uint32_t note_head;
    /* Tracing (set only while it is on): the pending call's label, size
     * and when it was taken; t_start 0 when not recorded. */
    uint32_t t_label, t_len;
    uint64_t t_start;
};

struct kos_endpoint {
    kos_dir_t *dir; /* NULL once the directory is destroyed */
    struct kos_endpoint *next;
    uint32_t id;
    char protocol[KOS__NAME_MAX];
    int epfd;
    int self_fd;         /* private eventfd, keeps epfd readable while armed */
    bool armed;          /* self_fd holds a count */
    bool flags_sleeping; /* srv_sleeping is 1 in every channel */
    bool any_rung;       /* some channel may have `rung` set */
    struct srv_chan **chans;
    size_t n_chans, cap_chans;
    size_t rr; /* index of the channel served last */
    struct kos__spin spin;
    int32_t peer_cpu; /* CPU of the client served last */
    int32_t my_cpu;   /* CPU this endpoint's thread last ran on */
    uint32_t tick;
    const _Atomic uint32_t *trace_on; /* the app's ring's `on`, or kos__trace_never */
    struct app_name *names;
    uint8_t payload[KOS_MSG_MAX_PAYLOAD];
};

struct kos_token {
    kos_dir_t *dir; /* NULL once the directory is destroyed */
    struct kos_token *next;
    uint32_t channel;
    char protocol[KOS__NAME_MAX];
    struct kos__chan_shm *shm;
    int wait_fd;                      /* note bell read end: kos_token_fd() */
    int ring_fd;                      /* the server's doorbell */
    uint32_t seq;                     /* seq of the last request sent */
    uint32_t note_tail;               /* notifications consumed */
    kos_status_t down;                /* once not OK, what every call returns */
    const _Atomic uint32_t *trace_on; /* the app's ring's `on`, or kos__trace_never */
    struct kos__spin spin;
    uint8_t payload[KOS_MSG_MAX_PAYLOAD];
};

struct kos_dir {
    int sock;
    uint32_t app_id;
    char server[KOS__NAME_MAX];
    uint32_t next_id;
    kos_status_t broken; /* once not OK, the connection is over */
    struct kos_token *tokens;
    struct kos_endpoint *endpoints;
    /* Message tracing: the app's ring (owned by the app), this directory's
     * index among the app's message servers, and what says it is on. */
    struct kos__trace_shm *trace;
    uint32_t trace_dir;
    const _Atomic uint32_t *trace_on;
};

static void ep_drop_chan(kos_endpoint_t *ep, size_t i);
static kos_status_t dir_handle(kos_dir_t *dir, const struct kos__mw *m, int *fds);

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static bool name_ok(const char *s)
{
    return s && kos__name_valid(s, strnlen(s, KOS__NAME_MAX));
}

/* Checks an outgoing message: payload size first, so an oversized one is
 * KOS_STATUS_TOO_LARGE whatever else is wrong with it. */
static kos_status_t msg_check(const struct kos_msg *m)
{
    if (!m)
        return KOS_STATUS_OK;
    if (m->len > KOS_MSG_MAX_PAYLOAD)
        return KOS_STATUS_TOO_LARGE;
    if ((m->len && !m->payload) || m->label >= KOS_MSG_LABEL_RESERVED)
        return KOS_STATUS_INVALID_ARGUMENT;
    return KOS_STATUS_OK;
}

/* ==== directory ==== */

kos_status_t kos__dir_create(int sock, const char *server_name, uint32_t app_id, kos_dir_t **out)
{
    kos_dir_t *dir;
    int type;
    socklen_t tlen = sizeof(type);

    if (sock < 0 || !name_ok(server_name))
        return KOS_STATUS_INVALID_ARGUMENT;
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_SEQPACKET)
        return KOS_STATUS_INVALID_ARGUMENT;
    dir = calloc(1, sizeof(*dir));
    if (!dir)
        return KOS_STATUS_NO_MEMORY;
    dir->sock = sock;
    dir->app_id = app_id;
    strcpy(dir->server, server_name);
    dir->next_id = 1;
    dir->trace_on = &kos__trace_never;
    *out = dir;
    return KOS_STATUS_OK;
}

void kos__dir_destroy(kos_dir_t *dir)
{
    if (!dir)
        return;
    /* The ring may be unmapped once the directory is gone. */
    for (kos_token_t *t = dir->tokens; t; t = t->next) {
        t->dir = NULL;
        t->trace_on = &kos__trace_never;
    }
    for (kos_endpoint_t *ep = dir->endpoints; ep; ep = ep->next) {
        epoll_ctl(ep->epfd, EPOLL_CTL_DEL, dir->sock, NULL);
        ep->dir = NULL;
        ep->trace_on = &kos__trace_never;
    }
    close(dir->sock);
    free(dir);
}

const char *kos__dir_server(const kos_dir_t *dir)
{
    return dir->server;
}

void kos__dir_set_trace(kos_dir_t *dir, struct kos__trace_shm *ring, uint32_t index)
{
    dir->trace = ring;
    dir->trace_dir = index;
    dir->trace_on = ring ? &ring->on : &kos__trace_never;
    for (kos_token_t *t = dir->tokens; t; t = t->next)
        t->trace_on = dir->trace_on;
    for (kos_endpoint_t *ep = dir->endpoints; ep; ep = ep->next)
        ep->trace_on = dir->trace_on;
}

/* Records one call in the app's ring (tracing is on). */
static void trace_call(kos_dir_t *dir, uint32_t kind, uint32_t channel, uint32_t label,
                       kos_status_t status, uint32_t req_len, uint32_t rep_len, uint64_t start)
{
    struct kos__trace_rec r = {
        .kind = kind,
        .dir = dir->trace_dir,
        .channel = channel,
        .label = label,
        .status = (uint32_t)status,
        .req_len = req_len,
        .rep_len = rep_len,
        .time_ns = start,
        .dur_ns = kos__now_ns() - start,
    };

    if (dir->trace)
        kos__trace_put(dir->trace, &r);
}

int kos_dir_fd(const kos_dir_t *dir)
{
    return dir->sock;
}

/* Ends the conversation with the message server: every later directory
 * operation returns `why`. Endpoints stop watching the socket, which would
 * otherwise stay readable (end of stream) for ever. */
static kos_status_t dir_break(kos_dir_t *dir, kos_status_t why)
{
    if (dir->broken)
        return dir->broken;
    dir->broken = why;
    shutdown(dir->sock, SHUT_RDWR);
    for (kos_endpoint_t *ep = dir->endpoints; ep; ep = ep->next)
        epoll_ctl(ep->epfd, EPOLL_CTL_DEL, dir->sock, NULL);
    return why;
}

static kos_status_t dir_send(kos_dir_t *dir, const struct kos__mw *m, int flags)
{
    kos_status_t st;

    if (dir->broken)
        return dir->broken;
    st = kos__mw_send(dir->sock, m, NULL, flags);
    if (st == KOS_STATUS_CLOSED || st == KOS_STATUS_IO)
        return dir_break(dir, KOS_STATUS_UNAVAILABLE);
    return st;
}

/* Receives one message without waiting. KOS_STATUS_WOULD_BLOCK when none. */
static kos_status_t dir_recv(kos_dir_t *dir, struct kos__mw *m, int fds[KOS__MW_MAX_FDS])
{
    kos_status_t st;

    if (dir->broken)
        return dir->broken;
    st = kos__mw_recv(dir->sock, m, fds, MSG_DONTWAIT);
    if (st == KOS_STATUS_CLOSED || st == KOS_STATUS_IO)
        return dir_break(dir, KOS_STATUS_UNAVAILABLE);
    if (st == KOS_STATUS_PROTOCOL)
        return dir_break(dir, KOS_STATUS_PROTOCOL);
    return st;
}

/* Sends `req` (its id is set here) and waits up to timeout_ms for the reply of
 * type `reply_type`, handling every other message on the way. On success the
 * reply is in *rep and its descriptors in fds, which belong to the caller. */
static kos_status_t dir_call(kos_dir_t *dir, struct kos__mw *req, uint32_t reply_type,
                             int timeout_ms, struct kos__mw *rep, int fds[KOS__MW_MAX_FDS])
{
    uint64_t deadline = kos__deadline(timeout_ms);
    kos_status_t st;

    req->id = dir->next_id++;
    if (dir->next_id == 0)
        dir->next_id = 1;
    st = dir_send(dir, req, 0);
    if (st)
        return st;
    for (;;) {
        st = dir_recv(dir, rep, fds);
        if (st == KOS_STATUS_OK) {
            if (rep->type == reply_type && rep->id == req->id)
                return KOS_STATUS_OK;
            st = dir_handle(dir, rep, fds);
            if (st)
                return st;
            continue;
        }
        if (st != KOS_STATUS_WOULD_BLOCK)
            return st;
        struct pollfd p = {.fd = dir->sock, .events = POLLIN};
        int wait = kos__remaining_ms(deadline);
        if (wait == 0)
            return KOS_STATUS_TIMEOUT;
        int r = poll(&p, 1, wait);
        if (r < 0 && errno != EINTR)
            return KOS_STATUS_IO;
    }
}

/* Handles every message waiting on the directory connection. Errors are
 * also recorded in dir->broken, so callers that only want the side effects
 * may ignore the result. */
static kos_status_t dir_process(kos_dir_t *dir)
{
    struct kos__mw m;
    int fds[KOS__MW_MAX_FDS];
    kos_status_t st;

    for (;;) {
        st = dir_recv(dir, &m, fds);
        if (st == KOS_STATUS_WOULD_BLOCK)
            return KOS_STATUS_OK;
        if (st)
            return st;
        st = dir_handle(dir, &m, fds);
        if (st)
            return st;
    }
}

kos_status_t kos_dir_process(kos_dir_t *dir)
{
    return dir_process(dir);
}

kos_status_t kos_dir_ping(kos_dir_t *dir, int timeout_ms)
{
    struct kos__mw req = {.type = KOS__MW_PING}, rep;
    int fds[KOS__MW_MAX_FDS];

    if (timeout_ms < -1)
        return KOS_STATUS_INVALID_ARGUMENT;
    return dir_call(dir, &req, KOS__MW_PING_REPLY, timeout_ms, &rep, fds);
}

/* ==== tokens ==== */

/* Makes a token from a channel grant. Takes its descriptors in every case;
 * on error tells the message server the channel is not wanted. */
static kos_status_t token_create(kos_dir_t *dir, uint32_t channel, const char *protocol,
                                 int fds[KOS__MW_MAX_FDS], kos_token_t **out)
{
    kos_token_t *t;
    kos_status_t st;

    t = calloc(1, sizeof(*t));
    if (!t) {
        st = KOS_STATUS_NO_MEMORY;
        goto out_refuse;
    }
    st = kos__chan_map(fds[KOS__MW_FD_SHM], channel, &t->shm);
    if (st)
        goto out_free_token;
    close(fds[KOS__MW_FD_SHM]);
    t->dir = dir;
    t->channel = channel;
    snprintf(t->protocol, sizeof(t->protocol), "%s", protocol);
    t->wait_fd = fds[KOS__MW_FD_WAIT];
    t->ring_fd = fds[KOS__MW_FD_RING];
    t->trace_on = dir->trace_on;
    kos__spin_init(&t->spin);
    t->next = dir->tokens;
    dir->tokens = t;
    *out = t;
    return KOS_STATUS_OK;

out_free_token:
    free(t);
out_refuse:
    close_fds(fds, KOS__MW_CLIENT_FDS);
    struct kos__mw m = {.type = KOS__MW_TOKEN_CLOSE, .channel = channel};
    (void)dir_send(dir, &m, MSG_DONTWAIT);
    return st;
}

/* Redeems a transferred token. Returns NULL if that fails (the transfer
 * expired, the sender's token was revoked, the server is gone): the message
 * is then delivered without its token. */
static kos_token_t *token_redeem(kos_dir_t *dir, uint64_t cookie)
{
    struct kos__mw req = {.type = KOS__MW_REDEEM, .cookie = cookie}, rep;
    int fds[KOS__MW_MAX_FDS];
    kos_token_t *t;

    if (dir_call(dir, &req, KOS__MW_REDEEM_REPLY, REDEEM_TIMEOUT_MS, &rep, fds) ||
        rep.status != KOS_STATUS_OK)
        return NULL;
    if (token_create(dir, rep.channel, rep.name, fds, &t))
        return NULL;
    return t;
}

/* Takes the descriptor a server passed with a reply or notification
 * (KOS__SLOT_FD). On success *fd belongs to the caller; on failure *fd is
 * -1 and the status says why (KOS_STATUS_INVALID_TOKEN: the message server
 * holds no such descriptor for this app, e.g. it refused to carry it). */
static kos_status_t fd_redeem(kos_dir_t *dir, uint64_t cookie, int *fd)
{
    struct kos__mw req = {.type = KOS__MW_FD_REDEEM, .cookie = cookie}, rep;
    int fds[KOS__MW_MAX_FDS];
    kos_status_t st;

    *fd = -1;
    if (!dir)
        return KOS_STATUS_CLOSED;
    st = dir_call(dir, &req, KOS__MW_FD_REDEEM_REPLY, REDEEM_TIMEOUT_MS, &rep, fds);
    if (st)
        return st;
    if (rep.status)
        return rep.status;
    *fd = fds[0];
    return KOS_STATUS_OK;
}

/* Gives up a descriptor transfer the app does not take: the message server
 * closes its copy at once instead of when the transfer expires. */
static void fd_drop(kos_dir_t *dir, uint64_t cookie)
{
    struct kos__mw m = {.type = KOS__MW_FD_DROP, .cookie = cookie};

    if (dir)
        (void)dir_send(dir, &m, MSG_DONTWAIT);
}

/* Delivers the descriptor announced by a received slot: into *fd when the
 * caller takes descriptors (fd not NULL), else dropped. Returns `status`,
 * or the redeem's failure when the descriptor cannot be had. */
static kos_status_t fd_deliver(kos_dir_t *dir, const struct kos__chan_msg *m, int *fd,
                               kos_status_t status)
{
    kos_status_t st;

    if (fd)
        *fd = -1;
    if (!(m->flags & KOS__SLOT_FD))
        return status;
    if (!fd) {
        fd_drop(dir, m->cookie);
        return status;
    }
    st = fd_redeem(dir, m->cookie, fd);
    return st ? st : status;
}

/* What calls on the token return now: OK while it works. */
static kos_status_t token_down(kos_token_t *t)
{
    if (!t->dir)
        return KOS_STATUS_CLOSED;
    if (!t->down) {
        uint32_t d = atomic_load_explicit(&t->shm->down, memory_order_acquire);
        if (d == KOS_STATUS_INVALID_TOKEN)
            t->down = KOS_STATUS_INVALID_TOKEN;
        else if (d != 0)
            t->down = KOS_STATUS_UNAVAILABLE;
    }
    return t->down;
}

/* Announces a transfer of `t` over a channel of `via`: the message server
 * will give whoever redeems *cookie its own token to t's protocol. */
static kos_status_t token_prepare(kos_dir_t *via, kos_token_t *t, int flags, uint64_t *cookie)
{
    struct kos__mw m = {.type = KOS__MW_PREPARE};
    kos_status_t st;

    st = token_down(t);
    if (st)
        return st;
    if (t->dir != via)
        return KOS_STATUS_INVALID_ARGUMENT; /* tokens travel within one message server */
    do {
        if (getrandom(cookie, sizeof(*cookie), 0) != (ssize_t)sizeof(*cookie))
            return KOS_STATUS_IO;
    } while (*cookie == 0);
    m.channel = t->channel;
    m.cookie = *cookie;
    return dir_send(via, &m, flags);
}

/* Passes a duplicate of `fd` to the message server for the other end of
 * channel `channel`: a server (this app serves the channel) passes its
 * client a connected TCP socket, without waiting; a client passes its
 * server the write end of a pipe (to_server), and may wait for room.
 * Whoever redeems *cookie there, if it is that other end, gets it. `fd`
 * stays the caller's. */
static kos_status_t fd_prepare(kos_dir_t *via, uint32_t channel, int fd, bool to_server,
                               uint64_t *cookie)
{
    struct kos__mw m = {.type = KOS__MW_FD_PASS, .channel = channel};
    int flags = to_server ? 0 : MSG_DONTWAIT;
    kos_status_t st;

    if (to_server ? !kos__mw_fd_pipe_write_end(fd, NULL) : !kos__mw_fd_passable(fd, NULL))
        return KOS_STATUS_INVALID_ARGUMENT;
    if (via->broken)
        return via->broken;
    do {
        if (getrandom(cookie, sizeof(*cookie), 0) != (ssize_t)sizeof(*cookie))
            return KOS_STATUS_IO;
    } while (*cookie == 0);
    m.cookie = *cookie;
    st = kos__mw_send(via->sock, &m, &fd, flags);
    if (st == KOS_STATUS_CLOSED || st == KOS_STATUS_IO)
        return dir_break(via, KOS_STATUS_UNAVAILABLE);
    return st;
}

/* Announces what a message passes over channel `channel` of `dir`: a token
 * (token), or a descriptor (fd >= 0; fd_prepare()'s to_server), or
 * nothing; sets the slot's *flags and *cookie. A client (to_server) may
 * wait for room in the message server's socket, a server does not. */
static kos_status_t pass_prepare(kos_dir_t *dir, uint32_t channel, kos_token_t *token, int fd,
                                 bool to_server, uint32_t *flags, uint64_t *cookie)
{
    kos_status_t st = KOS_STATUS_OK;

    *flags = 0;
    if (token) {
        st = token_prepare(dir, token, to_server ? 0 : MSG_DONTWAIT, cookie);
        if (st == KOS_STATUS_OK)
            *flags = KOS__SLOT_TOKEN;
    } else if (fd >= 0) {
        st = fd_prepare(dir, channel, fd, to_server, cookie);
        if (st == KOS_STATUS_OK)
            *flags = KOS__SLOT_FD;
    }
    return st;
}

kos_status_t kos_dir_request(kos_dir_t *dir, const char *protocol, int timeout_ms,
                             kos_token_t **out)
{
    struct kos__mw req = {.type = KOS__MW_REQUEST}, rep;
    int fds[KOS__MW_MAX_FDS];
    int wait;
    kos_status_t st;

    if (!name_ok(protocol) || timeout_ms < -1 || !out)
        return KOS_STATUS_INVALID_ARGUMENT;
    req.timeout_ms = timeout_ms;
    strcpy(req.name, protocol);
    /* The message server answers by the deadline; allow for the trip back.
     * A reply that comes later still is dropped as stale. */
    wait = timeout_ms < 0                              ? -1
           : timeout_ms > INT32_MAX - REQUEST_GRACE_MS ? INT32_MAX
                                                       : timeout_ms + REQUEST_GRACE_MS;
    st = dir_call(dir, &req, KOS__MW_REQUEST_REPLY, wait, &rep, fds);
    if (st)
        return st;
    if (rep.status)
        return rep.status;
    return token_create(dir, rep.channel, protocol, fds, out);
}

/* Waits until the reply to `seq` is in the reply slot, the channel goes down,
 * or the deadline passes. Spins first (bounded, adaptive), then sleeps on
 * the reply slot's futex. */
static kos_status_t token_wait(kos_token_t *t, uint32_t seq, uint64_t deadline, int32_t cpu)
{
    struct kos__chan_shm *shm = t->shm;
    kos_status_t st;

    if (deadline != 0 &&
        kos__spin_worth(&t->spin, atomic_load_explicit(&shm->srv_cpu, memory_order_relaxed), cpu)) {
        /* The clock is first read after a few rounds: a quick reply costs
         * no clock read at all. */
        uint64_t limit = 0;
        for (unsigned i = 1;; i++) {
            if (atomic_load_explicit(&shm->rep.seq, memory_order_acquire) == seq) {
                kos__spin_result(&t->spin, true);
                return KOS_STATUS_OK;
            }
            kos__cpu_relax();
            if ((i & 31) == 0) {
                uint64_t now = kos__now_ns();
                if (atomic_load_explicit(&shm->down, memory_order_relaxed))
                    break;
                if (!limit) {
                    limit = now + t->spin.budget_ns;
                } else if (now > limit) {
                    kos__spin_result(&t->spin, false);
                    break;
                }
            }
        }
    }
    for (;;) {
        atomic_store_explicit(&shm->cli_sleeping, 1, memory_order_seq_cst);
        uint32_t cur = atomic_load_explicit(&shm->rep.seq, memory_order_seq_cst);
        if (cur == seq) {
            st = KOS_STATUS_OK;
            break;
        }
        st = token_down(t);
        if (st)
            break;
        bool woken = kos__futex_wait(&shm->rep.seq, cur, deadline);
        if (!woken && atomic_load_explicit(&shm->rep.seq, memory_order_seq_cst) != seq) {
            st = KOS_STATUS_TIMEOUT;
            break;
        }
    }
    atomic_store_explicit(&shm->cli_sleeping, 0, memory_order_relaxed);
    return st;
}

/* One call on a token's channel: publish, wake the server if it sleeps, wait,
 * copy the reply out. Returns the server's status, or a transport error. */
static kos_status_t token_call(kos_token_t *t, uint32_t label, uint64_t param, const void *payload,
                               uint32_t len, uint32_t flags, uint64_t cookie, struct kos_msg *reply,
                               int timeout_ms, int *fd)
{
    struct kos__chan_shm *shm = t->shm;
    struct kos__chan_msg m;
    uint32_t seq;
    int32_t cpu = kos__cpu();
    kos_status_t st;

    seq = ++t->seq;
    if (seq == 0) /* 0 is the slot's initial value: never a call */
        seq = ++t->seq;
    kos__note_cpu(&shm->cli_cpu, cpu);
    kos__chan_put(&shm->req, seq, label, param, payload, len, 0, flags, cookie);
    if (atomic_load_explicit(&shm->srv_sleeping, memory_order_seq_cst))
        kos__doorbell_ring(t->ring_fd);

    if (fd)
        *fd = -1;
    st = token_wait(t, seq, timeout_ms == 0 ? 0 : kos__deadline(timeout_ms), cpu);
    if (st)
        return st;
    st = kos__chan_take(&shm->rep, seq, &m, t->payload);
    if (st)
        return KOS_STATUS_PROTOCOL; /* an honest server never rewrites a reply */
    if (reply) {
        reply->label = m.label;
        reply->param = m.param;
        reply->payload = t->payload;
        reply->len = m.len;
        reply->token = (m.flags & KOS__SLOT_TOKEN) ? token_redeem(t->dir, m.cookie) : NULL;
    }
    return fd_deliver(t->dir, &m, fd, (kos_status_t)m.status);
}

/* A call with tracing on: timed and recorded, whatever its outcome. The
 * reply goes through a copy, so that its size is known only when one came
 * (token_call() fills it only then) and the caller's is untouched
 * otherwise, as without tracing. */
static kos_status_t __attribute__((noinline))
token_call_traced(kos_token_t *t, const struct kos_msg *request, uint32_t flags, uint64_t cookie,
                  struct kos_msg *reply, int timeout_ms, int *fd)
{
    struct kos_msg r = {.len = UINT32_MAX};
    kos_dir_t *dir = t->dir;
    uint64_t start = kos__now_ns();
    kos_status_t st = token_call(t, request->label, request->param, request->payload, request->len,
                                 flags, cookie, reply ? &r : NULL, timeout_ms, fd);
    bool got = reply && r.len != UINT32_MAX;

    if (got)
        *reply = r;
    trace_call(dir, KOS__TRACE_CALL, t->channel, request->label, st, request->len, got ? r.len : 0,
               start);
    return st;
}

kos_status_t kos_msg_call(kos_token_t *token, const struct kos_msg *request, struct kos_msg *reply,
                          int timeout_ms)
{
    return kos_msg_call_fd(token, request, reply, timeout_ms, NULL);
}

/* A call: the request may pass a token (request->token) or the write end
 * of a pipe (give_fd >= 0), and the reply's descriptor goes into *fd. */
static kos_status_t msg_call(kos_token_t *token, const struct kos_msg *request,
                             struct kos_msg *reply, int timeout_ms, int *fd, int give_fd)
{
    uint64_t cookie = 0;
    uint32_t flags = 0;
    kos_status_t st;

    if (fd)
        *fd = -1;
    if (!request || timeout_ms < -1 || give_fd < -1 || (give_fd >= 0 && request->token))
        return KOS_STATUS_INVALID_ARGUMENT;
    st = msg_check(request);
    if (st)
        return st;
    st = token_down(token);
    if (st)
        return st;
    st = pass_prepare(token->dir, token->channel, request->token, give_fd, true, &flags, &cookie);
    if (st)
        return st;
    /* Tracing off: this one load and branch is all it costs. */
    if (kos__trace_enabled(token->trace_on))
        return token_call_traced(token, request, flags, cookie, reply, timeout_ms, fd);
    return token_call(token, request->label, request->param, request->payload, request->len, flags,
                      cookie, reply, timeout_ms, fd);
}

kos_status_t kos_msg_call_fd(kos_token_t *token, const struct kos_msg *request,
                             struct kos_msg *reply, int timeout_ms, int *fd)
{
    return msg_call(token, request, reply, timeout_ms, fd, -1);
}

kos_status_t kos_msg_call_give_fd(kos_token_t *token, const struct kos_msg *request,
                                  struct kos_msg *reply, int timeout_ms, int fd)
{
    if (fd < 0)
        return KOS_STATUS_INVALID_ARGUMENT;
    return msg_call(token, request, reply, timeout_ms, NULL, fd);
}

kos_status_t kos_token_ping(kos_token_t *token, int timeout_ms)
{
    kos_status_t st;

    if (timeout_ms < -1)
        return KOS_STATUS_INVALID_ARGUMENT;
    st = token_down(token);
    if (st)
        return st;
    return token_call(token, KOS__LABEL_PING, 0, NULL, 0, 0, 0, NULL, timeout_ms, NULL);
}

kos_status_t kos_token_receive(kos_token_t *token, struct kos_msg *note, int timeout_ms)
{
    return kos_token_receive_fd(token, note, timeout_ms, NULL);
}

kos_status_t kos_token_receive_fd(kos_token_t *token, struct kos_msg *note, int timeout_ms, int *fd)
{
    struct kos__chan_shm *shm = token->shm;
    uint64_t deadline;
    bool emptied = false;
    kos_status_t st;

    if (fd)
        *fd = -1;
    if (!note || timeout_ms < -1)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (!token->dir)
        return KOS_STATUS_CLOSED;
    deadline = kos__deadline(timeout_ms);
    for (;;) {
        uint32_t head = atomic_load_explicit(&shm->note_head, memory_order_acquire);
        if (head != token->note_tail) {
            struct kos__chan_slot *slot = &shm->notes[token->note_tail % KOS__CHAN_NOTES];
            struct kos__chan_msg m;
            if (head - token->note_tail > KOS__CHAN_NOTES) {
                /* Not something an honest server writes: skip it all. */
                token->note_tail = head;
                atomic_store_explicit(&shm->note_tail, head, memory_order_release);
                return KOS_STATUS_PROTOCOL;
            }
            st = kos__chan_take(slot, atomic_load_explicit(&slot->seq, memory_order_acquire), &m,
                                token->payload);
            token->note_tail++;
            atomic_store_explicit(&shm->note_tail, token->note_tail, memory_order_release);
            if (st)
                return KOS_STATUS_PROTOCOL;
            note->label = m.label;
            note->param = m.param;
            note->payload = token->payload;
            note->len = m.len;
            note->token = (m.flags & KOS__SLOT_TOKEN) ? token_redeem(token->dir, m.cookie) : NULL;
            return fd_deliver(token->dir, &m, fd, KOS_STATUS_OK);
        }
        /* Once down, the bell is left readable for good. */
        st = token_down(token);
        if (st)
            return st;
        if (!emptied) {
            /* Empty the bell, then look once more, so a notification that
             * rang in between is not missed and the fd is not left readable
             * with nothing to read. */
            if (!kos__bell_drain(token->wait_fd))
                token->down = KOS_STATUS_UNAVAILABLE;
            emptied = true;
            continue;
        }
        int wait = kos__remaining_ms(deadline);
        if (wait == 0)
            return timeout_ms == 0 ? KOS_STATUS_WOULD_BLOCK : KOS_STATUS_TIMEOUT;
        struct pollfd p = {.fd = token->wait_fd, .events = POLLIN};
        if (poll(&p, 1, wait) < 0 && errno != EINTR)
            return KOS_STATUS_IO;
        emptied = false;
    }
}

int kos_token_fd(const kos_token_t *token)
{
    return token->wait_fd;
}

const char *kos_token_protocol(const kos_token_t *token)
{
    return token->protocol;
}

void kos_token_close(kos_token_t *token)
{
    if (!token)
        return;
    if (token->dir) {
        kos_dir_t *dir = token->dir;
        struct kos__mw m = {.type = KOS__MW_TOKEN_CLOSE, .channel = token->channel};
        (void)dir_send(dir, &m, 0);
        for (kos_token_t **pp = &dir->tokens; *pp; pp = &(*pp)->next) {
            if (*pp == token) {
                *pp = token->next;
                break;
            }
        }
    }
    kos__chan_unmap(token->shm);
    close(token->wait_fd);
    close(token->ring_fd);
    free(token);
}

/* ==== endpoints ==== */

static struct srv_chan *ep_find(const kos_endpoint_t *ep, uint32_t id, size_t *index)
{
    /* The channel served last is the likeliest to be answered next. */
    if (ep->rr < ep->n_chans && ep->chans[ep->rr]->id == id) {
        if (index)
            *index = ep->rr;
        return ep->chans[ep->rr];
    }
    for (size_t i = 0; i < ep->n_chans; i++) {
        if (ep->chans[i]->id == id) {
            if (index)
                *index = i;
            return ep->chans[i];
        }
    }
    return NULL;
}

/* The endpoint's stored copy of an app's name, added if new; NULL when out
 * of memory. */
static const char *ep_name(kos_endpoint_t *ep, uint32_t app_id, const char *name)
{
    struct app_name *n;

    for (n = ep->names; n; n = n->next)
        if (n->app_id == app_id && strcmp(n->name, name) == 0)
            return n->name;
    n = malloc(sizeof(*n));
    if (!n)
        return NULL;
    n->app_id = app_id;
    memcpy(n->name, name, sizeof(n->name));
    n->next = ep->names;
    ep->names = n;
    return n->name;
}

/* Attaches a new client's channel (NEW_CLIENT). Takes the descriptors. */
static void ep_add_client(kos_endpoint_t *ep, const struct kos__mw *m, int fds[KOS__MW_MAX_FDS])
{
    struct srv_chan *ch;
    /* Edge-triggered: each ring queues one event, which epoll_wait() takes,
     * so the doorbell never needs emptying (one system call less per wake).
     * Its counter only grows; a client that saturates it mutes its own
     * doorbell, nobody else's. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};

    if (ep->n_chans == ep->cap_chans) {
        size_t cap = ep->cap_chans ? ep->cap_chans * 2 : 8;
        struct srv_chan **a = realloc(ep->chans, cap * sizeof(*a));
        if (!a)
            goto out_close_fds;
        ep->chans = a;
        ep->cap_chans = cap;
    }
    ch = calloc(1, sizeof(*ch));
    if (!ch)
        goto out_close_fds;
    ch->app = ep_name(ep, m->app_id, m->name);
    if (!ch->app)
        goto out_free_chan;
    if (kos__chan_map(fds[KOS__MW_FD_SHM], m->channel, &ch->shm))
        goto out_free_chan;
    ev.data.u64 = m->channel;
    if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fds[KOS__MW_FD_WAIT], &ev) < 0)
        goto out_unmap;
    close(fds[KOS__MW_FD_SHM]);
    ch->id = m->channel;
    ch->app_id = m->app_id;
    ch->wait_fd = fds[KOS__MW_FD_WAIT];
    ch->ring_fd = fds[KOS__MW_FD_RING];
    ch->ring_read_fd = fds[KOS__MW_FD_RING_READ];
    /* The message server left the doorbell enabled; if we are spinning,
     * say so at once. */
    if (!ep->flags_sleeping)
        atomic_store(&ch->shm->srv_sleeping, 0);
    ep->chans[ep->n_chans++] = ch;
    return;

out_unmap:
    kos__chan_unmap(ch->shm);
out_free_chan:
    free(ch);
out_close_fds:
    /* Without its fds the client's calls time out; closing its doorbell's
     * only reader does not affect the client, and the message server learns
     * nothing. Only memory exhaustion gets here. */
    close_fds(fds, KOS__MW_MAX_FDS);
}

/* Detaches and frees channel i, marking it down so a client still waiting
 * is told. */
static void ep_drop_chan(kos_endpoint_t *ep, size_t i)
{
    struct srv_chan *ch = ep->chans[i];

    epoll_ctl(ep->epfd, EPOLL_CTL_DEL, ch->wait_fd, NULL);
    close(ch->wait_fd);
    close(ch->ring_fd);
    close(ch->ring_read_fd);
    kos__chan_unmap(ch->shm);
    free(ch);
    ep->chans[i] = ep->chans[--ep->n_chans];
    if (ep->rr >= ep->n_chans)
        ep->rr = 0;
}

/* Marks a channel down with `why`, waking a caller waiting for its reply and
 * the client's poll loop. */
static void chan_take_down(struct srv_chan *ch, kos_status_t why)
{
    atomic_store_explicit(&ch->shm->down, why, memory_order_seq_cst);
    kos__futex_wake(&ch->shm->rep.seq);
    kos__bell_ring(ch->ring_fd);
}

static kos_endpoint_t *dir_find_ep(kos_dir_t *dir, uint32_t id)
{
    for (kos_endpoint_t *ep = dir->endpoints; ep; ep = ep->next)
        if (ep->id == id)
            return ep;
    return NULL;
}

/* Handles one message that is not the reply a round trip waits for. */
static kos_status_t dir_handle(kos_dir_t *dir, const struct kos__mw *m, int *fds)
{
    kos_endpoint_t *ep;
    size_t i;

    switch (m->type) {
    case KOS__MW_NEW_CLIENT:
        ep = dir_find_ep(dir, m->endpoint);
        if (ep)
            ep_add_client(ep, m, fds);
        else
            close_fds(fds, KOS__MW_MAX_FDS); /* withdrawn meanwhile */
        return KOS_STATUS_OK;
    case KOS__MW_CLIENT_GONE:
        ep = dir_find_ep(dir, m->endpoint);
        if (ep && ep_find(ep, m->channel, &i))
            ep_drop_chan(ep, i);
        return KOS_STATUS_OK;
    case KOS__MW_TOKEN_DOWN:
        for (kos_token_t *t = dir->tokens; t; t = t->next)
            if (t->channel == m->channel && !t->down)
                t->down = (kos_status_t)m->status;
        return KOS_STATUS_OK;
    case KOS__MW_REQUEST_REPLY:
    case KOS__MW_REDEEM_REPLY:
        /* The answer to a round trip that gave up waiting: hand the channel
         * back. */
        if (m->status == KOS_STATUS_OK) {
            struct kos__mw back = {.type = KOS__MW_TOKEN_CLOSE, .channel = m->channel};
            close_fds(fds, KOS__MW_CLIENT_FDS);
            (void)dir_send(dir, &back, MSG_DONTWAIT);
        }
        return KOS_STATUS_OK;
    case KOS__MW_PUBLISH_REPLY:
        if (m->status == KOS_STATUS_OK) {
            struct kos__mw back = {.type = KOS__MW_UNPUBLISH, .endpoint = m->endpoint};
            (void)dir_send(dir, &back, MSG_DONTWAIT);
        }
        return KOS_STATUS_OK;
    case KOS__MW_FD_REDEEM_REPLY:
        /* A descriptor redeem that gave up waiting: nobody wants it now. */
        if (m->status == KOS_STATUS_OK)
            close_fds(fds, 1);
        return KOS_STATUS_OK;
    case KOS__MW_PING_REPLY:
        return KOS_STATUS_OK;
    default:
        /* A request type: the message server never sends those. */
        close_fds(fds, kos__mw_nfds(m->type, m->status));
        return dir_break(dir, KOS_STATUS_PROTOCOL);
    }
}

kos_status_t kos_dir_publish(kos_dir_t *dir, const char *protocol, kos_endpoint_t **out)
{
    struct kos__mw req = {.type = KOS__MW_PUBLISH}, rep;
    int fds[KOS__MW_MAX_FDS];
    struct epoll_event ev = {.events = EPOLLIN};
    kos_endpoint_t *ep;
    kos_status_t st;

    if (!name_ok(protocol) || !out)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (dir->broken)
        return dir->broken;
    ep = calloc(1, sizeof(*ep));
    if (!ep)
        return KOS_STATUS_NO_MEMORY;
    st = KOS_STATUS_NO_MEMORY;
    ep->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ep->epfd < 0)
        goto out_free_ep;
    ep->self_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep->self_fd < 0)
        goto out_close_epfd;
    ev.data.u64 = EV_DIR;
    if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, dir->sock, &ev) < 0)
        goto out_close_self;
    ev.data.u64 = EV_SELF;
    if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->self_fd, &ev) < 0)
        goto out_close_self;

    strcpy(req.name, protocol);
    st = dir_call(dir, &req, KOS__MW_PUBLISH_REPLY, -1, &rep, fds);
    if (st)
        goto out_close_self;
    st = rep.status;
    if (st)
        goto out_close_self;
    /* Linked before anything else is read, so the NEW_CLIENT messages that
     * may follow the reply find it. */
    ep->dir = dir;
    ep->id = rep.endpoint;
    strcpy(ep->protocol, protocol);
    ep->flags_sleeping = true;
    ep->trace_on = dir->trace_on;
    ep->peer_cpu = -1;
    ep->my_cpu = kos__cpu();
    kos__spin_init(&ep->spin);
    ep->next = dir->endpoints;
    dir->endpoints = ep;
    *out = ep;
    return KOS_STATUS_OK;

out_close_self:
    close(ep->self_fd);
out_close_epfd:
    close(ep->epfd);
out_free_ep:
    free(ep);
    return st;
}

/* Writes a reply into a channel and wakes its client if it sleeps. */
static void chan_reply(struct srv_chan *ch, uint32_t seq, kos_status_t status, uint32_t label,
                       uint64_t param, const void *payload, uint32_t len, uint32_t flags,
                       uint64_t cookie)
{
    struct kos__chan_shm *shm = ch->shm;

    kos__chan_put(&shm->rep, seq, label, param, payload, len, status, flags, cookie);
    if (atomic_load_explicit(&shm->cli_sleeping, memory_order_seq_cst))
        kos__futex_wake(&shm->rep.seq);
}

/* Stores the doorbell-enable flag in every channel. Going to sleep, the
 * fence orders these stores before the scan that follows (the Dekker pairing
 * with the clients' seq_cst store of a request and load of the flag). */
static void ep_set_sleeping(kos_endpoint_t *ep, bool sleeping)
{
    for (size_t i = 0; i < ep->n_chans; i++)
        atomic_store_explicit(&ep->chans[i]->shm->srv_sleeping, sleeping, memory_order_seq_cst);
    ep->flags_sleeping = sleeping;
    if (sleeping)
        atomic_thread_fence(memory_order_seq_cst);
}

/* Keeps the endpoint's fd readable until ep_disarm(). */
static void ep_arm(kos_endpoint_t *ep)
{
    if (!ep->armed) {
        uint64_t one = 1;
        (void)!write(ep->self_fd, &one, sizeof(one));
        ep->armed = true;
    }
}

static void ep_disarm(kos_endpoint_t *ep)
{
    if (ep->armed) {
        uint64_t v;
        (void)!read(ep->self_fd, &v, sizeof(v));
        ep->armed = false;
    }
}

/* Before spinning: tell clients not to ring, and keep the endpoint's fd
 * readable meanwhile (requests may now arrive without a ring). */
static void ep_wake_up(kos_endpoint_t *ep)
{
    ep_arm(ep);
    if (ep->flags_sleeping)
        ep_set_sleeping(ep, false);
}

/* After a request was taken: if other channels rang and have not been
 * looked at, their events are consumed, so keep the fd readable for them. */
static void ep_after_take(kos_endpoint_t *ep)
{
    if (!ep->any_rung)
        return;
    for (size_t i = 0; i < ep->n_chans; i++) {
        if (ep->chans[i]->rung) {
            ep_arm(ep);
            return;
        }
    }
    ep->any_rung = false;
}

/* Copies the next request out of the channels, round robin from the one
 * after the channel served last. Pings and reserved labels are answered
 * here. KOS_STATUS_WOULD_BLOCK when no channel has a new request. */
static kos_status_t ep_scan(kos_endpoint_t *ep, struct kos_msg *msg, struct kos_caller *from,
                            int *fd)
{
    size_t n = ep->n_chans;
    size_t i = ep->rr;

    for (size_t k = 0; k < n; k++) {
        if (++i >= n)
            i = 0;
        struct srv_chan *ch = ep->chans[i];
        struct kos__chan_msg m;
        uint32_t seq = atomic_load_explicit(&ch->shm->req.seq, memory_order_acquire);

        if (seq == ch->last_seq) {
            ch->rung = false; /* looked at: nothing there */
            continue;
        }
        kos_status_t st = kos__chan_take(&ch->shm->req, seq, &m, ep->payload);
        if (st == KOS_STATUS_BUSY)
            continue; /* being rewritten: look again next time */
        ch->last_seq = seq;
        ch->rung = false;
        ch->pending = false; /* a new call supersedes one the client gave up on */
        ep->rr = i;
        ep->peer_cpu = atomic_load_explicit(&ch->shm->cli_cpu, memory_order_relaxed);
        if (st) {
            chan_reply(ch, seq, KOS_STATUS_PROTOCOL, 0, 0, NULL, 0, 0, 0);
            continue;
        }
        if (m.label == KOS__LABEL_PING) {
            chan_reply(ch, seq, KOS_STATUS_OK, 0, 0, NULL, 0, 0, 0);
            continue;
        }
        if (m.label >= KOS_MSG_LABEL_RESERVED) {
            chan_reply(ch, seq, KOS_STATUS_UNSUPPORTED, 0, 0, NULL, 0, 0, 0);
            continue;
        }
        if ((m.flags & KOS__SLOT_FD) && (m.flags & KOS__SLOT_TOKEN)) {
            /* One or the other: not what an honest client sends. */
            chan_reply(ch, seq, KOS_STATUS_PROTOCOL, 0, 0, NULL, 0, 0, 0);
            continue;
        }
        ch->pending = true;
        ch->pending_seq = seq;
        if (kos__trace_enabled(ep->trace_on)) {
            ch->t_label = m.label;
            ch->t_len = m.len;
            ch->t_start = kos__now_ns();
        } else {
            ch->t_start = 0;
        }
        from->app_id = ch->app_id;
        from->app = ch->app;
        from->client = ch->id;
        from->call = seq;
        msg->label = m.label;
        msg->param = m.param;
        msg->payload = ep->payload;
        msg->len = m.len;
        /* Last: redeeming is a directory round trip, which may change the
         * channel list (ch is not used after it). */
        msg->token = (m.flags & KOS__SLOT_TOKEN) ? token_redeem(ep->dir, m.cookie) : NULL;
        /* A pipe the client passed (kos_msg_call_give_fd): taken when the
         * server takes descriptors, else given up; one that cannot be had
         * leaves *fd -1, for the server to answer as it sees fit. */
        (void)fd_deliver(ep->dir, &m, fd, KOS_STATUS_OK);
        return KOS_STATUS_OK;
    }
    return KOS_STATUS_WOULD_BLOCK;
}

/* Handles what epoll reported: doorbells rang, the directory has messages.
 * Each channel whose doorbell rang is marked, so the scan that follows looks
 * at it; epoll_wait() has consumed the ring, and a later ring is a new
 * event. */
static void ep_events(kos_endpoint_t *ep, const struct epoll_event *evs, int n)
{
    bool dir_ready = false;

    for (int k = 0; k < n; k++) {
        if (evs[k].data.u64 == EV_DIR) {
            dir_ready = true;
            continue;
        }
        if (evs[k].data.u64 == EV_SELF)
            continue;
        struct srv_chan *ch = ep_find(ep, (uint32_t)evs[k].data.u64, NULL);
        if (!ch)
            continue;
        ch->rung = true;
        ep->any_rung = true;
    }
    /* Clients that leave (or die) are reported by the message server
     * (CLIENT_GONE), handled here. */
    if (dir_ready && ep->dir)
        (void)dir_process(ep->dir);
}

bool kos_endpoint_has_client(const kos_endpoint_t *ep, uint32_t client)
{
    return ep && ep_find(ep, client, NULL) != NULL;
}

kos_status_t kos_endpoint_receive(kos_endpoint_t *ep, struct kos_msg *msg, struct kos_caller *from,
                                  int timeout_ms)
{
    return kos_endpoint_receive_fd(ep, msg, from, timeout_ms, NULL);
}

kos_status_t kos_endpoint_receive_fd(kos_endpoint_t *ep, struct kos_msg *msg,
                                     struct kos_caller *from, int timeout_ms, int *fd)
{
    struct epoll_event evs[16];
    uint64_t deadline;
    bool spun = false;
    kos_status_t st;

    bool spin_only = timeout_ms == KOS_TIMEOUT_SPIN;

    if (fd)
        *fd = -1;
    if (!msg || !from || (timeout_ms < -1 && !spin_only))
        return KOS_STATUS_INVALID_ARGUMENT;
    if (!ep->dir)
        return KOS_STATUS_CLOSED;
    if (spin_only)
        timeout_ms = 0;
    deadline = kos__deadline(timeout_ms);
    ep->my_cpu = kos__cpu(); /* with glibc's rseq, a memory load */
    if (++ep->tick % DIR_CHECK_EVERY == 0)
        (void)dir_process(ep->dir);
    for (;;) {
        st = ep_scan(ep, msg, from, fd);
        if (st != KOS_STATUS_WOULD_BLOCK)
            goto out_taken;

        /* Spin (bounded) unless the last client ran on this CPU. */
        if (!spun && (timeout_ms != 0 || spin_only) && ep->n_chans &&
            kos__spin_worth(&ep->spin, ep->peer_cpu, ep->my_cpu)) {
            uint64_t limit = 0; /* read lazily, as in token_wait() */
            spun = true;
            ep_wake_up(ep);
            for (unsigned i = 1;; i++) {
                st = ep_scan(ep, msg, from, fd);
                if (st != KOS_STATUS_WOULD_BLOCK) {
                    kos__spin_result(&ep->spin, true);
                    goto out_taken;
                }
                kos__cpu_relax();
                if ((i & 15) == 0) {
                    uint64_t now = kos__now_ns();
                    if (!limit)
                        limit = now + ep->spin.budget_ns;
                    else if (now > limit)
                        break;
                }
            }
            kos__spin_result(&ep->spin, false);
        }

        /* Going to sleep: re-enable the doorbells, then look once more, so a
         * request published before a client could see the flag is found. */
        if (!ep->flags_sleeping)
            ep_set_sleeping(ep, true);
        st = ep_scan(ep, msg, from, fd);
        if (st != KOS_STATUS_WOULD_BLOCK)
            goto out_taken;
        ep_disarm(ep);
        int wait = kos__remaining_ms(deadline);
        int n = epoll_wait(ep->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), wait);
        if (n < 0 && errno != EINTR)
            return KOS_STATUS_IO;
        if (n > 0) {
            ep_events(ep, evs, n);
            if (!ep->dir)
                return KOS_STATUS_CLOSED;
            continue;
        }
        if (n == 0 && wait == 0) {
            /* One last look: a request may have come with the deadline. */
            st = ep_scan(ep, msg, from, fd);
            if (st != KOS_STATUS_WOULD_BLOCK)
                goto out_taken;
            return timeout_ms == 0 ? KOS_STATUS_WOULD_BLOCK : KOS_STATUS_TIMEOUT;
        }
    }

out_taken:
    ep_after_take(ep);
    return st;
}

kos_status_t kos_endpoint_reply(kos_endpoint_t *ep, const struct kos_caller *to,
                                kos_status_t status, const struct kos_msg *reply)
{
    return kos_endpoint_reply_fd(ep, to, status, reply, -1);
}

kos_status_t kos_endpoint_reply_fd(kos_endpoint_t *ep, const struct kos_caller *to,
                                   kos_status_t status, const struct kos_msg *reply, int fd)
{
    struct srv_chan *ch;
    uint64_t cookie = 0;
    uint32_t flags = 0;
    kos_status_t st;

    if (!to || (unsigned)status >= KOS_STATUS__COUNT || fd < -1 ||
        (fd >= 0 && reply && reply->token))
        return KOS_STATUS_INVALID_ARGUMENT;
    st = msg_check(reply);
    if (st)
        return st;
    if (!ep->dir)
        return KOS_STATUS_CLOSED;
    ch = ep_find(ep, to->client, NULL);
    if (!ch)
        return KOS_STATUS_INVALID_TOKEN;
    if (!ch->pending || ch->pending_seq != to->call)
        return KOS_STATUS_INVALID_ARGUMENT; /* answered already, or superseded */
    st = pass_prepare(ep->dir, ch->id, reply ? reply->token : NULL, fd, false, &flags, &cookie);
    if (st)
        return st;
    ch->pending = false;
    if (__builtin_expect(ch->t_start != 0, 0)) {
        trace_call(ep->dir, KOS__TRACE_SERVE, ch->id, ch->t_label, status, ch->t_len,
                   reply ? reply->len : 0, ch->t_start);
        ch->t_start = 0;
    }
    kos__note_cpu(&ch->shm->srv_cpu, ep->my_cpu);
    if (reply)
        chan_reply(ch, to->call, status, reply->label, reply->param, reply->payload, reply->len,
                   flags, cookie);
    else
        chan_reply(ch, to->call, status, 0, 0, NULL, 0, flags, cookie);
    return KOS_STATUS_OK;
}

kos_status_t kos_endpoint_notify(kos_endpoint_t *ep, uint32_t client, const struct kos_msg *note)
{
    return kos_endpoint_notify_fd(ep, client, note, -1);
}

kos_status_t kos_endpoint_notify_fd(kos_endpoint_t *ep, uint32_t client, const struct kos_msg *note,
                                    int fd)
{
    struct srv_chan *ch;
    uint64_t cookie = 0;
    uint32_t flags = 0;
    uint32_t tail;
    kos_status_t st;

    if (!note || fd < -1 || (fd >= 0 && note->token))
        return KOS_STATUS_INVALID_ARGUMENT;
    st = msg_check(note);
    if (st)
        return st;
    if (!ep->dir)
        return KOS_STATUS_CLOSED;
    ch = ep_find(ep, client, NULL);
    if (!ch)
        return KOS_STATUS_INVALID_TOKEN;
    /* The client's tail is only trusted to say "there is room"; a lying
     * client can only lose its own notifications. */
    tail = atomic_load_explicit(&ch->shm->note_tail, memory_order_acquire);
    if (ch->note_head - tail >= KOS__CHAN_NOTES)
        return KOS_STATUS_BUSY;
    st = pass_prepare(ep->dir, ch->id, note->token, fd, false, &flags, &cookie);
    if (st)
        return st;
    kos__chan_put(&ch->shm->notes[ch->note_head % KOS__CHAN_NOTES], ch->note_head + 1, note->label,
                  note->param, note->payload, note->len, 0, flags, cookie);
    ch->note_head++;
    atomic_store_explicit(&ch->shm->note_head, ch->note_head, memory_order_release);
    kos__bell_ring(ch->ring_fd);
    return KOS_STATUS_OK;
}

kos_status_t kos_endpoint_revoke(kos_endpoint_t *ep, uint32_t client)
{
    struct kos__mw m = {.type = KOS__MW_REVOKE};
    size_t i;

    if (!ep->dir)
        return KOS_STATUS_CLOSED;
    if (!ep_find(ep, client, &i))
        return KOS_STATUS_INVALID_TOKEN;
    chan_take_down(ep->chans[i], KOS_STATUS_INVALID_TOKEN);
    ep_drop_chan(ep, i);
    /* The message server forgets the channel and any transfer prepared from
     * it, and tells the client's library. The client already knows from the
     * channel itself, so a lost connection changes nothing here. */
    m.endpoint = ep->id;
    m.channel = client;
    (void)dir_send(ep->dir, &m, 0);
    return KOS_STATUS_OK;
}

int kos_endpoint_fd(const kos_endpoint_t *ep)
{
    return ep->epfd;
}

void kos_endpoint_close(kos_endpoint_t *ep)
{
    if (!ep)
        return;
    if (ep->dir) {
        kos_dir_t *dir = ep->dir;
        struct kos__mw m = {.type = KOS__MW_UNPUBLISH, .endpoint = ep->id};
        (void)dir_send(dir, &m, 0);
        for (kos_endpoint_t **pp = &dir->endpoints; *pp; pp = &(*pp)->next) {
            if (*pp == ep) {
                *pp = ep->next;
                break;
            }
        }
    }
    while (ep->n_chans) {
        chan_take_down(ep->chans[ep->n_chans - 1], KOS_STATUS_UNAVAILABLE);
        ep_drop_chan(ep, ep->n_chans - 1);
    }
    free(ep->chans);
    while (ep->names) {
        struct app_name *n = ep->names;
        ep->names = n->next;
        free(n);
    }
    close(ep->self_fd);
    close(ep->epfd);
    free(ep);
}

/* ==== test hooks ==== */

struct kos__chan_shm *kos__token_shm(kos_token_t *token)
{
    return token->shm;
}

uint32_t kos__token_channel(const kos_token_t *token)
{
    return token->channel;
}

uint32_t kos__token_spin_ns(const kos_token_t *token)
{
    return token->spin.budget_ns;
}

uint32_t kos__endpoint_spin_ns(const kos_endpoint_t *ep)
{
    return ep->spin.budget_ns;
}
