/*
 * main.c - the tunnel component: the device's one link to its server
 * (docs/link.md), published to apps as kos_tunnel_protocol
 * (include/kos/tunnel.h).
 *
 * It reads where the server is, the device certificate and the server's CA
 * from key_store (public items of the device's key bundle), asks ethernet
 * for a TCP connection, runs TLS 1.3 on it with a key whose signatures
 * key_store makes (provider.c), and the link (lib/link) on that. A link
 * that ends, or an attempt that fails, is tried again after a jittered
 * exponential back-off; a server that refuses the device is said once and
 * retried at the longest delay. Apps claim the channels the allow setting
 * gives them, send (BUSY when a channel is full), and pull what arrived.
 *
 * Settings (the manifest entry's config:, see docs/packages/tunnel.md):
 *   allow            "APP=CHANNEL,...;..." channels admin, logs, traces,
 *                    shell, debug (default: nobody)
 *   streams          "APP=NAME,...;..." the stream destinations (names the
 *                    server maps) each app may open (default: none)
 *   window           each channel's receive window (64KiB; 4KiB..1MiB)
 *   send_buffer      bytes queued per channel awaiting credit (window)
 *   stream_window    each stream's window each way (512KiB; 4KiB..1MiB)
 *   reconnect_min    the first delay before trying again (1s)
 *   reconnect_max    the longest (60s)
 *   connect_timeout  TCP connect and TLS handshake (10s)
 *   fetch_idle       a blob fetch that gets no byte this long ends (30s)
 *   protocol, server the protocol to publish and its message server
 *
 * Streams (docs/link.md, "Streams"; streams.c): an app asks for a destination its
 * streams setting gives it; the tunnel has ethernet make a loopback TCP
 * connection (a pair: both ends connected TCP sockets, the only kind of
 * descriptor the message server lets travel), sends Open, and once the
 * server has dialled the destination hands the app the far end and relays
 * the near one (lib/link/relay.h); a refusal is answered with the server's
 * status and reason. Why a pair from ethernet and not a socketpair of the
 * tunnel's own: the tunnel may create no socket, and the message server
 * lets only connected TCP sockets travel (a Unix socket could carry
 * descriptors on, a UDP or listening one reach elsewhere); a loopback TCP
 * connection whose only peer is the tunnel keeps both rules as they are.
 *
 * Blobs (docs/link.md, "Blobs"): the app the allow setting gives `blobs`
 * asks for bytes [from, to) of a blob and passes the pipe they go to;
 * fetch.c gets them by an HTTPS ranged GET on a connection of its own,
 * one fetch at a time, and the app hears when it has ended (NEWS_FETCH)
 * and asks how (FETCH_RESULT). A fetch whose app goes away is cancelled.
 *
 * What stays true: the private key is never here (tun.h); data an app has
 * not taken is not credited back, and each channel's received data is
 * bounded by the window; one app per channel; an app reaches only the
 * destinations the streams setting names for it (and the server allows).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <kos/ethernet.h>
#include <kos/keystore.h>
#include <kos/log.h>
#include <kos/msg.h>
#include <kos/tunnel.h>

#include "config_int.h"
#include "link.h"
#include "relay.h"
#include "tun.h"
#include "tun_state.h"
#include "tunnel_int.h"

#define NEWS_RETRY_MS    50u
#define KEYSTORE_WAIT_MS 10000

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The signer: key_store's identity key. */
static kos_status_t ks_sign(void *arg, const uint8_t *tbs, size_t len, uint8_t sig[64])
{
    struct tun *t = arg;

    return kos_keystore_sign(t->ks, "identity", tbs, len, sig);
}

/* ---- news for apps ---- */

static void flush_news(struct tun *t)
{
    bool again = false;

    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &t->clients[i];
        struct kos_msg note = {.label = KOS_TUNNEL_NOTE_NEWS};
        kos_status_t st;

        if (!c->used || !c->pending)
            continue;
        note.param = c->pending;
        st = kos_endpoint_notify(t->ep, c->client, &note);
        if (st == KOS_STATUS_OK)
            c->pending = 0;
        else if (st == KOS_STATUS_BUSY)
            again = true; /* it has not read its queue: later */
        else
            memset(c, 0, sizeof(*c)); /* gone */
    }
    if (again) {
        struct timeval tv = {0, NEWS_RETRY_MS * 1000};
        evtimer_add(t->news_ev, &tv);
    }
}

static void news_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_news(arg);
}

/* Tells the apps concerned: bits are channels (1u << ch), or
 * KOS_TUNNEL_NEWS_LINK for everyone (KOS_TUNNEL_NEWS_FETCH goes to one
 * client: fetch_ended()). */
static void news(struct tun *t, uint32_t bits)
{
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &t->clients[i];
        if (c->used && ((bits & c->channels) || (bits & KOS_TUNNEL_NEWS_LINK)))
            c->pending |= (bits & (c->channels | KOS_TUNNEL_NEWS_LINK));
    }
    flush_news(t);
}

/* ---- the link ---- */

static void rx_clear(struct tun *t)
{
    for (uint32_t ch = 0; ch < TUN_CHANNELS; ch++) {
        while (t->rx[ch]) {
            struct rxmsg *m = t->rx[ch];
            t->rx[ch] = m->next;
            free(m);
        }
        t->rx_tail[ch] = NULL;
    }
}

static void attempt(struct tun *t);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    attempt(arg);
}

/* Schedules the next attempt: the longest delay after a refusal, else the
 * current one, jittered between half and all of it; the current doubles. */
static void schedule(struct tun *t, bool refused)
{
    uint32_t d = refused ? t->max_ms : t->delay_ms, r = 0, wait;
    struct timeval tv;

    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)now_ms();
    wait = d / 2 + (d / 2 ? r % (d / 2 + 1) : 0);
    if (!refused)
        t->delay_ms = t->delay_ms > t->max_ms / 2 ? t->max_ms : t->delay_ms * 2;
    t->retry_at = now_ms() + wait;
    tv = kos__link_ms_tv(wait);
    evtimer_add(t->retry_ev, &tv);
}

/* An attempt or a link has ended: says why (a refusal once, other reasons
 * when they change), tells the apps, and schedules the next try. */
static void ended(struct tun *t, const char *why, bool refused)
{
    bool was_up = t->state == KOS_TUNNEL_UP;

    if (t->link) {
        kos__link_free(t->link);
        t->link = NULL;
    }
    if (t->bev) {
        bufferevent_free(t->bev);
        t->bev = NULL;
    }
    rx_clear(t);
    tun_streams_end(t, "the link to the server ended");
    if (was_up)
        t->reconnects++;
    t->state = refused ? KOS_TUNNEL_REFUSED : KOS_TUNNEL_DOWN;
    schedule(t, refused);
    if (refused) {
        if (!t->refusal_said)
            kos_log_warn("the server %s refused this device: %s; trying again every %u s",
                         t->server, why, (unsigned)(t->max_ms / 1000));
        t->refusal_said = true;
    } else if (was_up || strcmp(why, t->last_why) != 0) {
        kos_log_warn("link to %s %s: %s; trying again in %llu ms", t->server,
                     was_up ? "ended" : "failed", why,
                     (unsigned long long)(t->retry_at - now_ms()));
    }
    snprintf(t->last_why, sizeof(t->last_why), "%s", why);
    if (was_up)
        news(t, KOS_TUNNEL_NEWS_LINK);
}

static void up_cb(void *arg, struct kos__link *l)
{
    struct tun *t = arg;

    snprintf(t->device_id, sizeof(t->device_id), "%s", kos__link_device_id(l));
    t->state = KOS_TUNNEL_UP;
    t->delay_ms = t->min_ms;
    t->refusal_said = false;
    t->last_why[0] = '\0';
    kos_log_info("link up to %s (%s) as device %s", t->server, kos__link_peer_agent(l),
                 t->device_id[0] ? t->device_id : "(no id given)");
    news(t, KOS_TUNNEL_NEWS_LINK);
}

static kos_status_t data_cb(void *arg, struct kos__link *l, uint32_t ch, const uint8_t *p, size_t n)
{
    struct tun *t = arg;
    struct rxmsg *m;

    if (ch >= KOS__LINK_STREAM_FIRST) {
        struct tstream *s = tun_stream_of(t, ch);
        if (!s || !s->rl) {
            kos__link_consumed(l, ch, n);
            return KOS_STATUS_OK;
        }
        return kos__relay_data(s->rl, p, n); /* credited back as the app takes it */
    }
    if (n == 0) {
        kos__link_consumed(l, ch, 0);
        return KOS_STATUS_OK;
    }
    m = malloc(sizeof(*m) + n);
    if (!m)
        return KOS_STATUS_NO_MEMORY;
    m->next = NULL;
    m->len = n;
    m->off = 0;
    memcpy(m->data, p, n);
    if (t->rx_tail[ch])
        t->rx_tail[ch]->next = m;
    else
        t->rx[ch] = m;
    t->rx_tail[ch] = m;
    news(t, 1u << ch);
    return KOS_STATUS_OK;
}

static void room_cb(void *arg, struct kos__link *l, uint32_t ch)
{
    (void)l;
    if (ch >= KOS__LINK_STREAM_FIRST) {
        struct tstream *s = tun_stream_of(arg, ch);
        if (s && s->rl)
            kos__relay_room(s->rl);
        return;
    }
    news(arg, 1u << ch);
}

static void closed_cb(void *arg, struct kos__link *l, const struct kos__link_end *end)
{
    struct tun *t = arg;
    char why[256];
    bool refused = end->kind == KOS__LINK_END_REFUSED ||
                   (end->kind == KOS__LINK_END_IO && tun_refusal_alert(end->ssl_err));

    (void)l;
    if (end->code && end->kind == KOS__LINK_END_VIOLATION)
        snprintf(why, sizeof(why), "the server broke the protocol (%s; closed with %u)", end->why,
                 (unsigned)end->code);
    else
        snprintf(why, sizeof(why), "%s", end->why);
    ended(t, why, refused);
}

static void tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tun *t = arg;
    struct kos__link_config cfg = {.role = KOS__LINK_CLIENT,
                                   .window = t->window,
                                   .send_bound = t->send_buffer,
                                   .stream_window = t->stream_window,
                                   .agent = "kos-tunnel/0.1",
                                   .host = t->server};
    static const struct kos__link_cbs cbs = {.up = up_cb,
                                             .data = data_cb,
                                             .room = room_cb,
                                             .stream_opened = tun_stream_opened,
                                             .stream_closed = tun_stream_closed,
                                             .closed = closed_cb};
    char why[256];
    bool refused = false;

    if (what & BEV_EVENT_CONNECTED) {
        bufferevent_set_timeouts(bev, NULL, NULL);
        t->bev = NULL;
        t->link = kos__link_new(t->base, bev, &cfg, &cbs, t);
        if (!t->link)
            ended(t, "out of memory", false);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        snprintf(why, sizeof(why), "no TLS handshake within %u ms", (unsigned)t->connect_ms);
    else
        tun_tls_failure(bev, &t->signer, t->signed_before, why, sizeof(why), &refused);
    ended(t, why, refused);
}

/* One attempt: a TCP connection from ethernet, then TLS, then the link. */
static void attempt(struct tun *t)
{
    struct timeval tv = kos__link_ms_tv(t->connect_ms);
    char why[640];
    kos_status_t st;
    SSL *ssl;
    struct bufferevent *raw;
    int fd = -1;

    t->state = KOS_TUNNEL_CONNECTING;
    st = kos_ethernet_connect(t->eth, t->host, t->port, (int)t->connect_ms, &fd, NULL);
    if (st == KOS_STATUS_UNAUTHORIZED) {
        snprintf(why, sizeof(why),
                 "ethernet does not let the tunnel connect to tcp:%s (its allow setting needs "
                 "tunnel=tcp:%s)",
                 t->server, t->server);
        ended(t, why, true);
        return;
    }
    if (st) {
        snprintf(why, sizeof(why), "cannot connect: %s", kos_status_str(st));
        ended(t, why, false);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    /* The link's messages are small and often wait for an answer (a
     * command's result, credit): each goes out at once, not held back by
     * Nagle's algorithm until the last is acknowledged. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    ssl = tun_ssl_new(t->tls.ctx, t->host);
    if (!ssl) {
        close(fd);
        ended(t, "out of memory", false);
        return;
    }
    t->signed_before = t->signer.n_failed;
    /* TLS as a filter over the socket's bufferevent: a message's records
     * (four of 16 KiB for a stream's envelope) go out in one write(), where
     * a TLS socket bufferevent wrote each record by itself, often in
     * parts. The link ends only once the socket's bufferevent has sent its
     * last bytes too (lib/link/link.c, end_when_sent). */
    raw = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
    t->bev = raw ? bufferevent_openssl_filter_new(t->base, raw, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                  BEV_OPT_CLOSE_ON_FREE)
                 : NULL;
    if (!t->bev) {
        SSL_free(ssl);
        if (raw)
            bufferevent_free(raw);
        else
            close(fd);
        ended(t, "out of memory", false);
        return;
    }
    bufferevent_set_max_single_write(raw, 256 * 1024);
    bufferevent_set_max_single_read(raw, 256 * 1024);
    bufferevent_openssl_set_allow_dirty_shutdown(t->bev, 1);
    bufferevent_setcb(t->bev, NULL, NULL, tls_event_cb, t);
    bufferevent_set_timeouts(t->bev, &tv, &tv);
    bufferevent_enable(t->bev, EV_READ | EV_WRITE);
}

/* ---- the protocol ---- */

static struct client *client_of(struct tun *t, const struct kos_caller *from, bool make)
{
    struct client *free_slot = NULL;

    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &t->clients[i];
        if (c->used && c->client == from->client)
            return c;
        if (!c->used && !free_slot)
            free_slot = c;
    }
    if (!make || !free_slot)
        return NULL;
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->used = true;
    free_slot->client = from->client;
    snprintf(free_slot->app, sizeof(free_slot->app), "%s", from->app ? from->app : "?");
    return free_slot;
}

static void deny(struct tun *t, const char *app, const char *what)
{
    if (t->denials < DENIALS_LOGGED)
        kos_log_warn("denied: '%s' may not %s (the allow setting)%s", app, what,
                     ++t->denials == DENIALS_LOGGED ? " (later denials are not logged)" : "");
}

static kos_status_t do_open(struct tun *t, const struct kos_msg *m, const struct kos_caller *from)
{
    uint32_t mask = (uint32_t)m->param;
    struct client *c;
    char what[64];

    if (m->param > 0xffffffffu || (mask & ~KOS_TUNNEL_CHANNELS))
        return KOS_STATUS_INVALID_ARGUMENT;
    for (uint32_t ch = 1; ch < TUN_CHANNELS; ch++) {
        if ((mask & (1u << ch)) && strcmp(t->owner[ch], from->app ? from->app : "") != 0) {
            snprintf(what, sizeof(what), "use channel %s", tun_channel_name(ch));
            deny(t, from->app ? from->app : "?", what);
            return KOS_STATUS_UNAUTHORIZED;
        }
    }
    c = client_of(t, from, true);
    if (!c)
        return KOS_STATUS_BUSY;
    /* The same app's earlier client (before a restart) gives them up. */
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (t->clients[i].used && &t->clients[i] != c)
            t->clients[i].channels &= ~mask;
    c->channels |= mask;
    for (uint32_t ch = 1; ch < TUN_CHANNELS; ch++)
        if ((mask & (1u << ch)) && t->rx[ch])
            c->pending |= 1u << ch;
    return KOS_STATUS_OK;
}

static kos_status_t held(struct tun *t, const struct kos_msg *m, const struct kos_caller *from)
{
    struct client *c = client_of(t, from, false);

    if (m->param < 1 || m->param >= TUN_CHANNELS)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (!c || !(c->channels & (1u << m->param)))
        return KOS_STATUS_UNAUTHORIZED;
    return KOS_STATUS_OK;
}

/* ---- fetching blobs (fetch.c) ---- */

/* A fetch has ended: its app hears of it. */
static void fetch_ended(void *arg, struct tun_fetch *f)
{
    struct tun *t = arg;

    (void)f;
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (t->clients[i].used && t->clients[i].client == t->fetch_client)
            t->clients[i].pending |= KOS_TUNNEL_NEWS_FETCH;
    flush_news(t);
}

/* A fetch whose app has gone is not finished for nobody. */
static void fetch_check_client(struct tun *t)
{
    if (t->fetch_ready && t->fetch.running && !kos_endpoint_has_client(t->ep, t->fetch_client))
        tun_fetch_cancel(&t->fetch, "its app went away");
}

/* A malformed request is said, as denials are (the first 32). */
static void bad_request(struct tun *t, const char *app, const char *what)
{
    if (t->denials < DENIALS_LOGGED)
        kos_log_warn("'%s' sent %s%s", app, what,
                     ++t->denials == DENIALS_LOGGED ? " (later ones are not logged)" : "");
}

/* KOS_TUNNEL_LABEL_FETCH: takes fd in every case. */
static kos_status_t do_fetch(struct tun *t, const struct kos_msg *m, const struct kos_caller *from,
                             int fd)
{
    const char *app = from->app ? from->app : "?";
    uint8_t sha[32];
    uint64_t start, end;
    kos_status_t st;

    if (m->param || kos__tunnel_fetch_decode(m->payload, m->len, sha, &start, &end)) {
        bad_request(t, app,
                    "a malformed fetch (expected 48 bytes: a SHA-256, u64 from and u64 to, "
                    "from < to <= 4 GiB)");
        st = KOS_STATUS_PROTOCOL;
        goto out_close_fd;
    }
    if (fd < 0) {
        bad_request(t, app, "a fetch without a descriptor (a pipe's write end)");
        st = KOS_STATUS_PROTOCOL;
        goto out_close_fd;
    }
    if (strcmp(t->owner[TUN_ALLOW_BLOBS], app) != 0) {
        deny(t, app, "fetch blobs");
        st = KOS_STATUS_UNAUTHORIZED;
        goto out_close_fd;
    }
    if (!t->fetch_ready) {
        st = KOS_STATUS_UNAVAILABLE; /* no server, or no TLS: the link is off */
        goto out_close_fd;
    }
    fetch_check_client(t);
    if (t->fetch.running) {
        st = KOS_STATUS_BUSY;
        goto out_close_fd;
    }
    if (!client_of(t, from, true)) {
        st = KOS_STATUS_BUSY;
        goto out_close_fd;
    }
    t->fetch_client = from->client;
    t->fetch_any = true;
    return tun_fetch_start(&t->fetch, sha, start, end, fd, app); /* OK: it has fd */
out_close_fd:
    if (fd >= 0)
        close(fd);
    return st;
}

/* KOS_TUNNEL_LABEL_FETCH_RESULT: the caller's last fetch, into buf. */
static kos_status_t fetch_result(struct tun *t, const struct kos_msg *m,
                                 const struct kos_caller *from, struct kos_msg *reply, uint8_t *buf)
{
    const struct tun_fetch *f = &t->fetch;

    if (m->len || m->param)
        return KOS_STATUS_PROTOCOL;
    if (!t->fetch_any || t->fetch_client != from->client)
        return KOS_STATUS_NOT_FOUND; /* it started none */
    reply->payload = buf;
    reply->len = (uint32_t)kos__tunnel_result_encode(f->written, f->running ? "" : f->why, buf);
    return f->running ? KOS_STATUS_WOULD_BLOCK : f->status;
}

static void on_request(struct tun *t, const struct kos_msg *m, const struct kos_caller *from,
                       int fd)
{
    struct kos_msg reply = {0};
    uint8_t buf[KOS_TUNNEL_STATUS_SIZE > 8 + KOS_TUNNEL_WHY_MAX ? KOS_TUNNEL_STATUS_SIZE
                                                                : 8 + KOS_TUNNEL_WHY_MAX];
    struct rxmsg *rm = NULL;
    size_t took = 0;
    kos_status_t st;

    if (m->token) {
        kos_token_close(m->token);
        if (fd >= 0)
            close(fd);
        st = KOS_STATUS_PROTOCOL;
        goto out;
    }
    if (m->label == KOS_TUNNEL_LABEL_FETCH) {
        st = do_fetch(t, m, from, fd); /* takes fd */
        goto out;
    }
    if (fd >= 0) {
        close(fd); /* only a fetch carries a descriptor */
        st = KOS_STATUS_PROTOCOL;
        goto out;
    }
    switch (m->label) {
    case KOS_TUNNEL_LABEL_FETCH_RESULT:
        st = fetch_result(t, m, from, &reply, buf);
        break;
    case KOS_TUNNEL_LABEL_STREAM:
        tun_do_stream(t, m, from); /* answers itself, now or later */
        flush_news(t);
        return;
    case KOS_TUNNEL_LABEL_OPEN:
        st = m->len ? KOS_STATUS_PROTOCOL : do_open(t, m, from);
        break;
    case KOS_TUNNEL_LABEL_SEND:
        if ((st = held(t, m, from)))
            break;
        if (m->len == 0)
            st = KOS_STATUS_PROTOCOL;
        else if (m->len > KOS_TUNNEL_DATA_MAX)
            st = KOS_STATUS_TOO_LARGE;
        else if (!t->link || t->state != KOS_TUNNEL_UP)
            st = KOS_STATUS_UNAVAILABLE;
        else
            st = kos__link_send(t->link, (uint32_t)m->param, m->payload, m->len);
        break;
    case KOS_TUNNEL_LABEL_RECEIVE:
        if (m->len) {
            st = KOS_STATUS_PROTOCOL;
            break;
        }
        if ((st = held(t, m, from)))
            break;
        rm = t->rx[m->param];
        if (!rm) {
            st = KOS_STATUS_WOULD_BLOCK;
            break;
        }
        took = rm->len - rm->off < KOS_TUNNEL_DATA_MAX ? rm->len - rm->off : KOS_TUNNEL_DATA_MAX;
        reply.payload = rm->data + rm->off;
        reply.len = (uint32_t)took;
        st = KOS_STATUS_OK;
        break;
    case KOS_TUNNEL_LABEL_STATUS: {
        struct kos_tunnel_status s = {.state = t->state, .reconnects = t->reconnects};
        uint64_t now = now_ms();
        if (m->len || m->param) {
            st = KOS_STATUS_PROTOCOL;
            break;
        }
        if ((t->state == KOS_TUNNEL_DOWN || t->state == KOS_TUNNEL_REFUSED) && !t->link_off)
            s.retry_in_ms = t->retry_at > now ? t->retry_at - now : 0;
        snprintf(s.device_id, sizeof(s.device_id), "%s", t->device_id);
        snprintf(s.server, sizeof(s.server), "%.255s", t->server);
        reply.payload = buf;
        reply.len = (uint32_t)kos__tunnel_status_encode(&s, buf);
        st = KOS_STATUS_OK;
        break;
    }
    case KOS_TUNNEL_LABEL_CLOSE: {
        struct client *c = client_of(t, from, false);
        if (c)
            memset(c, 0, sizeof(*c));
        if (t->fetch_ready && t->fetch.running && t->fetch_client == from->client)
            tun_fetch_cancel(&t->fetch, "its app closed the tunnel");
        st = KOS_STATUS_OK;
        break;
    }
    default:
        st = KOS_STATUS_UNSUPPORTED;
        break;
    }
out:
    if (kos_endpoint_reply(t->ep, from, st, &reply) != KOS_STATUS_OK)
        kos_log_debug("'%s' left before its answer", from->app ? from->app : "?");
    if (rm && took) {
        uint32_t ch = (uint32_t)m->param;
        rm->off += took;
        if (rm->off == rm->len) {
            t->rx[ch] = rm->next;
            if (!t->rx[ch])
                t->rx_tail[ch] = NULL;
            free(rm);
        }
        if (t->link)
            kos__link_consumed(t->link, ch, took);
        if (t->rx[ch])
            news(t, 1u << ch);
    }
    flush_news(t);
}

static void ep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tun *t = arg;
    struct kos_msg m;
    struct kos_caller from;
    kos_status_t st;
    int got;

    (void)fd;
    (void)what;
    while ((st = kos_endpoint_receive_fd(t->ep, &m, &from, 0, &got)) == KOS_STATUS_OK)
        on_request(t, &m, &from, got);
    fetch_check_client(t);
    if (st != KOS_STATUS_WOULD_BLOCK) {
        kos_log_error("receive failed: %s", kos_status_str(st));
        event_base_loopbreak(t->base);
    }
}

static void app_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tun *t = arg;

    (void)fd;
    (void)what;
    if (kos_app_stopping(t->app))
        event_base_loopbreak(t->base);
}

/* ---- start ---- */

/* Reads the tunnel's settings (docs/packages/tunnel.md); a bad one is
 * logged, naming it and what would be valid. Returns 0 or 1. */
static int configure(struct tun *t)
{
    char err[256];
    uint64_t window, buffer, stream_window, min_ms, max_ms, connect_ms, fetch_idle_ms;

    if (tun_allow_parse(kos__cfg_str(t->app, "allow", NULL), t->owner, err, sizeof(err)) ||
        tun_streams_parse(kos__cfg_str(t->app, "streams", NULL), &t->rules, err, sizeof(err))) {
        kos_log_error("%s", err);
        return 1;
    }
    if (kos__cfg_size(t->app, "window", KOS__LINK_WINDOW_DEFAULT, KOS__LINK_WINDOW_MIN,
                      KOS__LINK_WINDOW_MAX, &window) ||
        kos__cfg_size(t->app, "send_buffer", window, KOS_TUNNEL_DATA_MAX, 16u << 20, &buffer) ||
        kos__cfg_size(t->app, "stream_window", 512u * 1024u, KOS__LINK_WINDOW_MIN,
                      KOS__LINK_WINDOW_MAX, &stream_window) ||
        kos__cfg_duration_ms(t->app, "reconnect_min", 1000, 100, 600000, &min_ms) ||
        kos__cfg_duration_ms(t->app, "reconnect_max", 60000, min_ms, 3600000, &max_ms) ||
        kos__cfg_duration_ms(t->app, "connect_timeout", 10000, 100, 300000, &connect_ms) ||
        kos__cfg_duration_ms(t->app, "fetch_idle", KOS_TUNNEL_FETCH_IDLE_MS, 100, 3600000,
                             &fetch_idle_ms))
        return 1;
    t->fetch_idle_ms = (uint32_t)fetch_idle_ms;
    t->window = (uint32_t)window;
    t->send_buffer = (uint32_t)buffer;
    t->stream_window = (uint32_t)stream_window;
    t->min_ms = (uint32_t)min_ms;
    t->max_ms = (uint32_t)max_ms;
    t->connect_ms = (uint32_t)connect_ms;
    t->delay_ms = t->min_ms;
    return 0;
}

/* Reads public item `name` from key_store into a NUL-terminated buffer.
 * Returns the status; says nothing. */
static kos_status_t item(struct tun *t, const char *name, char *buf, size_t cap, size_t *len)
{
    kos_status_t st = kos_keystore_public_item(t->ks, name, buf, cap - 1, len, NULL);

    if (st == KOS_STATUS_OK)
        buf[*len] = '\0';
    return st;
}

/* Sets up TLS from the bundle: the device certificate and the provider's
 * key for it, the server's CA, TLS 1.3 only, no tickets, released
 * buffers, no CA sent. Returns 0, or 1 after saying why the link is off. */
static int setup_tls(struct tun *t)
{
    static char pem[KOS_KEYSTORE_ITEM_MAX + 1];
    X509_STORE *store;
    X509 *cert = NULL;
    BIO *bio;
    size_t len;
    int type, n_ca = 0;
    kos_status_t st;

    if ((st = kos_keystore_public_key(t->ks, "identity", t->pub, &type))) {
        kos_log_warn("key_store does not give the identity key's public half (%s): the link is "
                     "off (key_store's allow.tunnel needs identity:public)",
                     kos_status_str(st));
        return 1;
    }
    if (tun_provider_init(&t->tls, &t->signer) ||
        !(t->tls.key = tun_provider_key(&t->tls, t->pub))) {
        kos_log_error("cannot set up the key_store provider in OpenSSL: the link is off");
        return 1;
    }
    t->tls.ctx = SSL_CTX_new_ex(t->tls.libctx, NULL, TLS_client_method());
    if (!t->tls.ctx) {
        kos_log_error("cannot set up TLS: the link is off");
        return 1;
    }
    SSL_CTX_set_min_proto_version(t->tls.ctx, TLS1_3_VERSION);
    SSL_CTX_set_num_tickets(t->tls.ctx, 0);
    /* A connection that ends without TLS's close_notify is an ended
     * connection, not an error: the link frames its own messages. */
    SSL_CTX_set_options(t->tls.ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* The device's certificate alone, not its issuer: the server holds
     * its device CA (docs/link.md, "Transport"), and the CA sent along
     * costs it a certificate decode per handshake. */
    SSL_CTX_set_mode(t->tls.ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    SSL_CTX_set_verify(t->tls.ctx, SSL_VERIFY_PEER, NULL);
    if ((st = item(t, "identity_cert", pem, sizeof(pem), &len))) {
        kos_log_warn("no identity_cert in the key bundle (%s): the link is off",
                     kos_status_str(st));
        return 1;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    cert = X509_new_ex(t->tls.libctx, NULL);
    if (!bio || !cert || !PEM_read_bio_X509(bio, &cert, NULL, NULL) ||
        SSL_CTX_use_certificate(t->tls.ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(t->tls.ctx, t->tls.key) != 1) {
        unsigned long e = ERR_peek_last_error();
        char buf[160];
        ERR_error_string_n(e, buf, sizeof(buf));
        kos_log_warn("the bundle's identity_cert is not a certificate of the identity key "
                     "(%s): the link is off",
                     e ? buf : "unreadable");
        ERR_clear_error();
        BIO_free(bio);
        X509_free(cert);
        return 1;
    }
    BIO_free(bio);
    X509_free(cert);
    if ((st = item(t, "server_ca", pem, sizeof(pem), &len))) {
        kos_log_warn("no server_ca in the key bundle (%s): the link is off", kos_status_str(st));
        return 1;
    }
    store = SSL_CTX_get_cert_store(t->tls.ctx);
    bio = BIO_new_mem_buf(pem, (int)len);
    for (X509 *ca; bio && (ca = X509_new_ex(t->tls.libctx, NULL));) {
        if (!PEM_read_bio_X509(bio, &ca, NULL, NULL)) {
            X509_free(ca);
            break;
        }
        if (X509_STORE_add_cert(store, ca) == 1)
            n_ca++;
        X509_free(ca);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (n_ca == 0) {
        kos_log_warn("the bundle's server_ca holds no certificate: the link is off");
        return 1;
    }
    return 0;
}

/* Reads where the server is. Returns 0, or 1 after saying the link is off. */
static int find_server(struct tun *t)
{
    char text[KOS_KEYSTORE_ITEM_MAX + 1], err[256];
    size_t len;
    kos_status_t st = item(t, "server", text, sizeof(text), &len);

    if (st == KOS_STATUS_NOT_FOUND) {
        kos_log_info("no server in the key bundle: the link is off");
        return 1;
    }
    if (st) {
        kos_log_warn("cannot read the bundle's server item (%s): the link is off (key_store's "
                     "allow.tunnel needs server:public)",
                     kos_status_str(st));
        return 1;
    }
    if (tun_server_parse(text, len, t->host, &t->port, t->name, sizeof(t->name), err,
                         sizeof(err))) {
        kos_log_warn("the bundle's %s: the link is off", err);
        return 1;
    }
    snprintf(t->server, sizeof(t->server), strchr(t->host, ':') ? "[%s]:%u" : "%s:%u", t->host,
             (unsigned)t->port);
    return 0;
}

static void log_allow(const struct tun *t)
{
    bool any = false;

    for (uint32_t ch = 1; ch < TUN_CHANNELS; ch++) {
        if (!t->owner[ch][0])
            continue;
        any = true;
        kos_log_info("allow: '%s' may use channel %s", t->owner[ch], tun_channel_name(ch));
    }
    if (t->owner[TUN_ALLOW_BLOBS][0]) {
        any = true;
        kos_log_info("allow: '%s' may fetch blobs", t->owner[TUN_ALLOW_BLOBS]);
    }
    if (!any)
        kos_log_warn("no 'allow' setting: no app may use the tunnel");
    for (size_t i = 0; i < t->rules.n; i++)
        kos_log_info("streams: '%s' may open a stream to '%s'", t->rules.r[i].app,
                     t->rules.r[i].name);
}

int main(void)
{
    struct tun *t = calloc(1, sizeof(*t));
    const char *protocol, *server;
    kos_dir_t *dir;
    kos_status_t st;
    int rc = 1;

    if (!t)
        return 1;
    for (size_t i = 0; i < KOS_TUNNEL_STREAMS_MAX; i++)
        t->streams[i].near = t->streams[i].far = -1;
    signal(SIGTERM, SIG_IGN); /* stop on Core's control message */
    signal(SIGPIPE, SIG_IGN);
    /* No OpenSSL configuration file: the whole configuration is the
     * manifest's (and the sandbox has no files). */
    if (!OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL))
        goto out_free;
    if (kos_app_open(&t->app))
        goto out_free;
    if (configure(t))
        goto out_close_app;
    protocol = kos__cfg_str(t->app, "protocol", KOS_TUNNEL_PROTOCOL);
    server = kos__cfg_str(t->app, "server", "msg0");
    if ((st = kos_app_dir(t->app, server, &dir)) || (st = kos_dir_publish(dir, protocol, &t->ep))) {
        kos_log_error("cannot publish %s on %s: %s", protocol, server, kos_status_str(st));
        goto out_close_app;
    }
    t->base = event_base_new();
    t->ep_ev =
        t->base ? event_new(t->base, kos_endpoint_fd(t->ep), EV_READ | EV_PERSIST, ep_cb, t) : NULL;
    t->app_ev =
        t->base ? event_new(t->base, kos_app_fd(t->app), EV_READ | EV_PERSIST, app_cb, t) : NULL;
    t->retry_ev = t->base ? evtimer_new(t->base, retry_cb, t) : NULL;
    t->news_ev = t->base ? evtimer_new(t->base, news_cb, t) : NULL;
    if (!t->ep_ev || !t->app_ev || !t->retry_ev || !t->news_ev) {
        kos_log_error("out of memory");
        goto out_close_ep;
    }
    event_add(t->ep_ev, NULL);
    event_add(t->app_ev, NULL);
    log_allow(t);
    if ((st = kos_keystore_open(dir, KEYSTORE_WAIT_MS, &t->ks))) {
        kos_log_warn("cannot reach key_store (%s): the link is off", kos_status_str(st));
        t->link_off = true;
    } else {
        t->signer.sign = ks_sign;
        t->signer.arg = t;
        t->signer.key = "identity";
        t->link_off = find_server(t) || setup_tls(t);
    }
    if (!t->link_off && (st = kos_ethernet_open(dir, NULL, KEYSTORE_WAIT_MS, &t->eth))) {
        kos_log_warn("cannot reach ethernet (%s): the link is off", kos_status_str(st));
        t->link_off = true;
    }
    if (!t->link_off) {
        t->fenv = (struct tun_fetch_env){.base = t->base,
                                         .eth = t->eth,
                                         .ctx = t->tls.ctx,
                                         .host = t->host,
                                         .server = t->server,
                                         .port = t->port,
                                         .connect_ms = t->connect_ms,
                                         .idle_ms = t->fetch_idle_ms,
                                         .signer = &t->signer,
                                         .ended = fetch_ended,
                                         .arg = t};
        t->fetch_ready = tun_fetch_init(&t->fetch, &t->fenv) == KOS_STATUS_OK;
        if (!t->fetch_ready)
            kos_log_warn("out of memory: no blob can be fetched");
    }
    if (kos_app_ready(t->app))
        goto out_close_ep;
    if (!t->link_off) {
        kos_log_info("serving %s; linking to %s%s%s%s", protocol, t->server, t->name[0] ? " (" : "",
                     t->name, t->name[0] ? ")" : "");
        event_active(t->retry_ev, EV_TIMEOUT, 0);
    } else {
        kos_log_info("serving %s; the link is off", protocol);
    }
    event_base_dispatch(t->base);
    kos_log_info("stopping: %u links ended, %llu handshake signatures by key_store", t->reconnects,
                 (unsigned long long)t->signer.n_signed);
    rc = 0;
out_close_ep:
    if (t->fetch_ready)
        tun_fetch_fini(&t->fetch);
    tun_streams_end(t, "the tunnel is stopping");
    if (t->link)
        kos__link_free(t->link);
    if (t->bev)
        bufferevent_free(t->bev);
    rx_clear(t);
    if (t->ep_ev)
        event_free(t->ep_ev);
    if (t->app_ev)
        event_free(t->app_ev);
    if (t->retry_ev)
        event_free(t->retry_ev);
    if (t->news_ev)
        event_free(t->news_ev);
    if (t->base)
        event_base_free(t->base);
    SSL_CTX_free(t->tls.ctx);
    EVP_PKEY_free(t->tls.key);
    tun_provider_fini(&t->tls);
    kos_ethernet_close(t->eth);
    kos_keystore_close(t->ks);
    kos_endpoint_close(t->ep);
out_close_app:
    kos_app_close(t->app);
out_free:
    free(t);
    return rc;
}
