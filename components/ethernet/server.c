/*
 * server.c - ethernet's server: checks each CONNECT request against the
 * allow list, resolves its host from the hosts table, opens the connection
 * without blocking, and answers the caller with the connected socket or
 * with why there is none.
 *
 * Requests are answered in any order: a connection being opened sits in a
 * slot with its socket (non-blocking, connecting), its deadline and the
 * addresses still to try, while the poll loop serves other apps. A slot is
 * freed when its caller is answered; a caller that sends a new request has
 * given up on the old one (one call at a time per token), whose slot is
 * freed too. Every socket ethernet opens is closed by ethernet once it is
 * handed over (the message server carries a duplicate) or has failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <kos/log.h>

#include "eth.h"

struct eth_pending {
    bool used;
    bool polled; /* in the last eth_server_pollfds(), at pfd_index */
    size_t pfd_index;
    short revents;
    struct kos_caller to; /* whom to answer */
    char app[ETH_APP_NAME_MAX + 1];
    char host[KOS_ETHERNET_HOST_MAX + 1];
    uint16_t port;
    int fd; /* connecting, or -1 between attempts */
    uint64_t deadline_ms;
    struct kos_ethernet_addr addrs[ETH_HOST_ADDRS];
    size_t n_addrs, next;
    int err; /* errno of the last failed attempt */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

kos_status_t eth_server_init(struct eth_server *srv)
{
    srv->p = calloc(srv->max_pending, sizeof(*srv->p));
    srv->kept = calloc(ETH_KEPT_MAX, sizeof(*srv->kept));
    if (!srv->p || !srv->kept) {
        free(srv->p);
        free(srv->kept);
        srv->p = NULL;
        srv->kept = NULL;
        return KOS_STATUS_NO_MEMORY;
    }
    for (uint32_t i = 0; i < srv->max_pending; i++)
        srv->p[i].fd = -1;
    srv->n_connected = srv->n_denied = srv->n_failed = 0;
    kos__app_budgets_init(&srv->log, ETH_LOG_BURST, ETH_LOG_EVERY_MS);
    return KOS_STATUS_OK;
}

/* What a connect() errno means to the caller. */
static kos_status_t status_of(int err)
{
    switch (err) {
    case ECONNREFUSED:
    case ECONNRESET:
        return KOS_STATUS_REFUSED;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
        return KOS_STATUS_UNREACHABLE;
    case ETIMEDOUT:
        return KOS_STATUS_TIMEOUT;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return KOS_STATUS_NO_MEMORY;
    default:
        return KOS_STATUS_IO;
    }
}

/* Answers `to` with a failure and errno `err` (0: none) as the param. */
static void answer(struct eth_server *srv, const struct kos_caller *to, kos_status_t st, int err)
{
    struct kos_msg r = {.param = err > 0 ? (uint64_t)err : 0};

    if (kos_endpoint_reply(srv->ep, to, st, &r))
        kos_log_debug("the caller of a request has gone; its answer (%s) is dropped",
                      kos_status_str(st));
}

static void slot_free(struct eth_pending *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    p->used = false;
    p->polled = false;
}

static void to_sockaddr(const struct kos_ethernet_addr *a, uint16_t port,
                        struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == KOS_ETHERNET_IPV4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, a->addr, 4);
        *len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, a->addr, 16);
        *len = sizeof(*sin6);
    }
}

static bool from_sockaddr(const struct sockaddr_storage *ss, struct kos_ethernet_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        a->family = KOS_ETHERNET_IPV4;
        a->port = ntohs(sin->sin_port);
        memcpy(a->addr, &sin->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        a->family = KOS_ETHERNET_IPV6;
        a->port = ntohs(sin6->sin6_port);
        memcpy(a->addr, &sin6->sin6_addr, 16);
        return true;
    }
    return false;
}

/* Makes a connected socket blocking, the way the API promises it (the app
 * gets the same open file), and reads both its addresses. Returns 0 or an
 * errno value. */
static int prepare_socket(int fd, struct kos_ethernet_conn *conn)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return errno;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return errno;
    if (!from_sockaddr(&ss, &conn->local))
        return EAFNOSUPPORT;
    len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return errno; /* e.g. ENOTCONN: reset already */
    if (!from_sockaddr(&ss, &conn->remote))
        return EAFNOSUPPORT;
    return 0;
}

/* The connection of slot p is up: hand it over and forget it. */
static void finish_ok(struct eth_server *srv, struct eth_pending *p)
{
    struct kos_ethernet_conn conn;
    uint8_t payload[KOS__ETH_CONN_LEN];
    struct kos_msg r = {.payload = payload, .len = sizeof(payload)};
    char remote[64];
    int err = prepare_socket(p->fd, &conn);
    kos_status_t st;

    if (err) {
        srv->n_failed++;
        kos__app_log(&srv->log, p->app, KOS_LOG_WARN,
                     "'%s' could not connect to tcp %s:%u: the new connection failed at once "
                     "(%s)",
                     p->app, p->host, (unsigned)p->port, strerror(err));
        answer(srv, &p->to, status_of(err), err);
        slot_free(p);
        return;
    }
    kos__eth_conn_encode(&conn, payload);
    kos_ethernet_addr_format(&conn.remote, remote, sizeof(remote));
    st = kos_endpoint_reply_fd(srv->ep, &p->to, KOS_STATUS_OK, &r, p->fd);
    if (st == KOS_STATUS_BUSY) {
        /* The message server's connection is full: the caller gets an
         * answer without the socket rather than none. */
        answer(srv, &p->to, KOS_STATUS_BUSY, 0);
    }
    if (st) {
        srv->n_failed++;
        kos__app_log(&srv->log, p->app, KOS_LOG_WARN,
                     "connected '%s' to tcp %s:%u (%s) but could not hand the socket over: %s",
                     p->app, p->host, (unsigned)p->port, remote, kos_status_str(st));
    } else {
        srv->n_connected++;
        if (srv->log_connections)
            kos__app_log(&srv->log, p->app, KOS_LOG_INFO, "'%s' connected to tcp %s:%u (%s)",
                         p->app, p->host, (unsigned)p->port, remote);
    }
    slot_free(p); /* the app holds its own duplicate now */
}

/* Slot p has no address left, or no time: answer with its last error. */
static void finish_fail(struct eth_server *srv, struct eth_pending *p, int err)
{
    kos_status_t st = status_of(err);

    srv->n_failed++;
    kos__app_log(&srv->log, p->app, KOS_LOG_WARN, "'%s' could not connect to tcp %s:%u: %s (%s)",
                 p->app, p->host, (unsigned)p->port, kos_status_str(st), strerror(err));
    answer(srv, &p->to, st, err);
    slot_free(p);
}

/* Tries the slot's next addresses until one is connecting or connected;
 * answers when none is left. */
static void attempt(struct eth_server *srv, struct eth_pending *p)
{
    while (p->next < p->n_addrs) {
        const struct kos_ethernet_addr *a = &p->addrs[p->next++];
        struct sockaddr_storage ss;
        socklen_t len;
        int fd = socket(a->family == KOS_ETHERNET_IPV4 ? AF_INET : AF_INET6,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0) {
            p->err = errno;
            if (status_of(p->err) == KOS_STATUS_NO_MEMORY)
                break; /* another address will not help */
            continue;
        }
        to_sockaddr(a, p->port, &ss, &len);
        if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
            p->fd = fd;
            finish_ok(srv, p);
            return;
        }
        if (errno == EINPROGRESS) {
            p->fd = fd;
            p->polled = false;
            return;
        }
        p->err = errno;
        close(fd);
    }
    finish_fail(srv, p, p->err ? p->err : EHOSTUNREACH);
}

/* A request the caller sent while its previous one waited: it gave up. */
static void cancel_superseded(struct eth_server *srv, const struct kos_caller *from)
{
    for (uint32_t i = 0; i < srv->max_pending; i++) {
        struct eth_pending *p = &srv->p[i];
        if (p->used && p->to.client == from->client && p->to.app_id == from->app_id) {
            kos__app_log(&srv->log, p->app, KOS_LOG_INFO, "'%s' gave up waiting for tcp %s:%u",
                         p->app, p->host, (unsigned)p->port);
            slot_free(p);
        }
    }
}

static void bad_request(struct eth_server *srv, const struct kos_caller *from, kos_status_t st,
                        const char *why)
{
    kos__app_log(&srv->log, from->app, KOS_LOG_WARN, "bad request from '%s': %s", from->app, why);
    answer(srv, from, st, 0);
}

/* True if the pairs setting ("a,b,c") names app. */
static bool pairs_allowed(const char *pairs, const char *app)
{
    size_t n = strlen(app);

    for (const char *p = pairs; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ')
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len == n && !memcmp(p, app, n))
            return true;
        p = end ? end + 1 : p + len;
        if (!end)
            break;
    }
    return false;
}

/* Makes a TCP connection from this process to itself on 127.0.0.1: *a
 * connects, *b is the one accepted peer whose address is *a's (anyone else
 * who connects to the listener in the moment it exists is closed).
 * Returns 0 or an errno value. */
static int make_pair(int *a, int *b)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in mine, peer;
    socklen_t len = sizeof(sin);
    int lis = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0;

    *a = *b = -1;
    if (lis < 0)
        return errno;
    if (bind(lis, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lis, 4) < 0 ||
        getsockname(lis, (struct sockaddr *)&sin, &len) < 0)
        goto out_errno;
    *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*a < 0 || connect(*a, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        goto out_errno;
    len = sizeof(mine);
    if (getsockname(*a, (struct sockaddr *)&mine, &len) < 0)
        goto out_errno;
    for (int tries = 0; tries < 8 && *b < 0; tries++) {
        struct pollfd p = {.fd = lis, .events = POLLIN};
        int fd;
        len = sizeof(peer);
        if (poll(&p, 1, 1000) <= 0)
            break;
        fd = accept4(lis, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        if (peer.sin_port == mine.sin_port && peer.sin_addr.s_addr == mine.sin_addr.s_addr)
            *b = fd;
        else
            close(fd); /* someone else's connection: not part of the pair */
    }
    if (*b < 0) {
        err = ETIMEDOUT;
        goto out_close;
    }
    close(lis);
    return 0;
out_errno:
    err = errno;
out_close:
    if (*a >= 0)
        close(*a);
    *a = -1;
    close(lis);
    return err;
}

/* KOS_ETHERNET_LABEL_PAIR (include/kos/ethernet.h). */
static void pair_request(struct eth_server *srv, const struct kos_msg *m,
                         const struct kos_caller *from)
{
    struct eth_kept *k = NULL, *free_slot = NULL;
    struct kos_msg r = {0};
    kos_status_t st;
    int a, b, err;

    if (!pairs_allowed(srv->pairs, from->app)) {
        srv->n_denied++;
        kos__app_log(&srv->log, from->app, KOS_LOG_WARN,
                     "denied: '%s' may not ask for loopback pairs (not in the pairs setting)",
                     from->app);
        answer(srv, from, KOS_STATUS_UNAUTHORIZED, 0);
        return;
    }
    if (m->len || m->param > 1) {
        answer(srv, from, KOS_STATUS_PROTOCOL, 0);
        return;
    }
    for (uint32_t i = 0; i < ETH_KEPT_MAX; i++) {
        struct eth_kept *x = &srv->kept[i];
        if (x->used && x->client == from->client && x->app_id == from->app_id)
            k = x;
        else if (!x->used && !free_slot)
            free_slot = x;
    }
    if (m->param == 1) {
        if (!k) {
            answer(srv, from, KOS_STATUS_NOT_FOUND, 0);
            return;
        }
        st = kos_endpoint_reply_fd(srv->ep, from, KOS_STATUS_OK, &r, k->fd);
        if (st)
            answer(srv, from, st, 0);
        close(k->fd);
        memset(k, 0, sizeof(*k));
        return;
    }
    if (k) { /* its earlier pair was never taken whole */
        close(k->fd);
        memset(k, 0, sizeof(*k));
        free_slot = k;
    }
    if (!free_slot) {
        answer(srv, from, KOS_STATUS_BUSY, 0);
        return;
    }
    if ((err = make_pair(&a, &b))) {
        srv->n_failed++;
        kos__app_log(&srv->log, from->app, KOS_LOG_WARN,
                     "could not make a loopback pair for '%s': %s", from->app, strerror(err));
        answer(srv, from, status_of(err), err);
        return;
    }
    st = kos_endpoint_reply_fd(srv->ep, from, KOS_STATUS_OK, &r, a);
    close(a);
    if (st) {
        close(b);
        answer(srv, from, st, 0);
        return;
    }
    *free_slot =
        (struct eth_kept){.used = true, .client = from->client, .app_id = from->app_id, .fd = b};
}

void eth_server_request(struct eth_server *srv, const struct kos_msg *m,
                        const struct kos_caller *from)
{
    struct kos__eth_connect req;
    struct kos_ethernet_addr addr;
    struct eth_pending *p = NULL;
    uint32_t mine = 0, used = 0;
    kos_status_t st;

    cancel_superseded(srv, from);
    if (m->token) { /* this protocol takes no tokens */
        kos_token_close(m->token);
        bad_request(srv, from, KOS_STATUS_PROTOCOL, "it carries a token");
        return;
    }
    if (m->label == KOS_ETHERNET_LABEL_PAIR) {
        pair_request(srv, m, from);
        return;
    }
    if (m->label != KOS_ETHERNET_LABEL_CONNECT) {
        kos__app_log(&srv->log, from->app, KOS_LOG_WARN, "bad request from '%s': unknown label %u",
                     from->app, (unsigned)m->label);
        answer(srv, from, KOS_STATUS_UNSUPPORTED, 0);
        return;
    }
    st = kos__eth_connect_decode(m->param, m->payload, m->len, &req);
    if (st == KOS_STATUS_PROTOCOL) {
        bad_request(srv, from, st, "a malformed connect request");
        return;
    }
    if (st) {
        bad_request(srv, from, st,
                    "a connect request with an unknown transport, port 0 or an invalid host");
        return;
    }
    size_t len = strlen(req.host);
    enum kos__eth_host_kind kind = kos__eth_host_parse(req.host, len, &addr);
    if (!eth_acl_find(srv->acl, from->app, req.transport, req.host, len, kind, &addr, req.port)) {
        srv->n_denied++;
        kos__app_log(&srv->log, from->app, KOS_LOG_WARN,
                     "denied: '%s' may not connect to tcp %s:%u (not in its allow list)", from->app,
                     req.host, (unsigned)req.port);
        answer(srv, from, KOS_STATUS_UNAUTHORIZED, 0);
        return;
    }
    for (uint32_t i = 0; i < srv->max_pending; i++) {
        if (!srv->p[i].used) {
            if (!p)
                p = &srv->p[i];
            continue;
        }
        used++;
        mine += srv->p[i].to.app_id == from->app_id;
    }
    if (!p || mine >= srv->max_per_app) {
        kos__app_log(&srv->log, from->app, KOS_LOG_WARN,
                     "'%s' may not open more connections at once (%u of its own, %u in all "
                     "being opened); refused tcp %s:%u",
                     from->app, (unsigned)mine, (unsigned)used, req.host, (unsigned)req.port);
        answer(srv, from, KOS_STATUS_BUSY, 0);
        return;
    }
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    if (kind == KOS__ETH_HOST_ADDR) {
        p->addrs[0] = addr;
        p->n_addrs = 1;
    } else if (!eth_hosts_lookup(srv->hosts, req.host, p->addrs, &p->n_addrs)) {
        srv->n_failed++;
        kos__app_log(&srv->log, from->app, KOS_LOG_WARN,
                     "'%s' may connect to %s, but the hosts setting has no address for it",
                     from->app, req.host);
        answer(srv, from, KOS_STATUS_NOT_FOUND, 0);
        return;
    }
    p->used = true;
    p->to = *from;
    snprintf(p->app, sizeof(p->app), "%s", from->app);
    memcpy(p->host, req.host, len + 1);
    p->port = req.port;
    uint32_t t =
        req.timeout_ms && req.timeout_ms < srv->timeout_ms ? req.timeout_ms : srv->timeout_ms;
    p->deadline_ms = now_ms() + t;
    attempt(srv, p);
}

size_t eth_server_pollfds(struct eth_server *srv, struct pollfd *pfds)
{
    size_t n = 0;

    for (uint32_t i = 0; i < srv->max_pending; i++) {
        struct eth_pending *p = &srv->p[i];
        p->polled = p->used && p->fd >= 0;
        if (!p->polled)
            continue;
        p->pfd_index = n;
        pfds[n++] = (struct pollfd){.fd = p->fd, .events = POLLOUT};
    }
    return n;
}

void eth_server_step(struct eth_server *srv, const struct pollfd *pfds, size_t n)
{
    uint64_t now = now_ms();

    /* Collect first: answering may close a socket and open another with
     * the same number. */
    for (uint32_t i = 0; i < srv->max_pending; i++) {
        struct eth_pending *p = &srv->p[i];
        p->revents = 0;
        if (p->used && p->polled && p->pfd_index < n && pfds[p->pfd_index].fd == p->fd)
            p->revents = pfds[p->pfd_index].revents;
        p->polled = false;
    }
    for (uint32_t i = 0; i < srv->max_pending; i++) {
        struct eth_pending *p = &srv->p[i];
        if (!p->used)
            continue;
        if (p->revents & (POLLOUT | POLLERR | POLLHUP)) {
            int soerr = 0;
            socklen_t len = sizeof(soerr);
            if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
                soerr = errno;
            if (soerr == 0) {
                finish_ok(srv, p);
                continue;
            }
            close(p->fd);
            p->fd = -1;
            p->err = soerr;
            if (now < p->deadline_ms) {
                attempt(srv, p);
                continue;
            }
        }
        if (p->used && now >= p->deadline_ms)
            finish_fail(srv, p, ETIMEDOUT);
    }
}

int eth_server_timeout(const struct eth_server *srv)
{
    uint64_t now = now_ms(), next = UINT64_MAX;

    for (uint32_t i = 0; i < srv->max_pending; i++)
        if (srv->p[i].used && srv->p[i].deadline_ms < next)
            next = srv->p[i].deadline_ms;
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now);
}

void eth_server_fini(struct eth_server *srv)
{
    for (uint32_t i = 0; srv->p && i < srv->max_pending; i++) {
        if (srv->p[i].used) {
            answer(srv, &srv->p[i].to, KOS_STATUS_UNAVAILABLE, 0);
            slot_free(&srv->p[i]);
        }
    }
    free(srv->p);
    srv->p = NULL;
    for (uint32_t i = 0; srv->kept && i < ETH_KEPT_MAX; i++)
        if (srv->kept[i].used)
            close(srv->kept[i].fd);
    free(srv->kept);
    srv->kept = NULL;
}
