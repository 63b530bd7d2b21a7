/*
 * streams.c - the tunnel's forwarded streams (docs/link.md, "Streams"): an
 * app asks for a destination its streams setting gives it; the tunnel has
 * ethernet make a loopback TCP connection (a pair), sends Open, and once
 * the server has dialled the destination hands the app the far end and
 * relays the near one (lib/link/relay.h); a refusal is answered with the
 * server's status and reason. See main.c for why a pair from ethernet.
 *
 * What stays true: tun_state.h's; an app reaches only the destinations the
 * streams setting names for it (and the server allows).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>

#include <kos/log.h>

#include "tun_state.h"

#define STREAM_CH_FIRST KOS__LINK_STREAM_FIRST
#define STREAM_CH_LAST  4095u /* the tunnel's stream channels cycle through 16..4095 */

struct tstream *tun_stream_of(struct tun *t, uint32_t ch)
{
    for (size_t i = 0; i < KOS_TUNNEL_STREAMS_MAX; i++)
        if (t->streams[i].used && t->streams[i].ch == ch)
            return &t->streams[i];
    return NULL;
}

/* Answers the app whose stream call waits: a failure with why. */
static void stream_answer(struct tun *t, const struct kos_caller *to, kos_status_t st,
                          const char *why)
{
    struct kos_msg r = {.payload = why, .len = (uint32_t)strnlen(why, KOS_TUNNEL_WHY_MAX)};

    if (kos_endpoint_reply(t->ep, to, st, &r) != KOS_STATUS_OK)
        kos_log_debug("'%s' left before its answer", to->app ? to->app : "?");
}

/* Frees a stream's slot: its pair's ends still held, its relay. */
static void stream_drop(struct tstream *s)
{
    if (s->near >= 0)
        close(s->near);
    if (s->far >= 0)
        close(s->far);
    kos__relay_free(s->rl);
    memset(s, 0, sizeof(*s));
    s->near = s->far = -1;
}

/* Every stream ends with the link: waiting apps are told, relayed ones
 * see their socket closed. */
void tun_streams_end(struct tun *t, const char *why)
{
    for (size_t i = 0; i < KOS_TUNNEL_STREAMS_MAX; i++) {
        struct tstream *s = &t->streams[i];
        if (!s->used)
            continue;
        if (s->waiting)
            stream_answer(t, &s->to, KOS_STATUS_UNAVAILABLE, why);
        stream_drop(s);
    }
}

/* The app closed its end (or it failed): the relay closed the stream. */
static void stream_relay_ended(void *arg, struct kos__relay *rl, uint32_t code, const char *why)
{
    struct tstream *s = arg;

    (void)rl;
    if (code)
        kos_log_info("stream %u ('%s' to '%s') ended: %s", (unsigned)s->ch, s->app, s->dest, why);
    stream_drop(s);
}

void tun_stream_opened(void *arg, struct kos__link *l, uint32_t ch)
{
    struct tun *t = arg;
    struct tstream *s = tun_stream_of(t, ch);
    struct kos_msg r = {0};
    struct bufferevent *bev;
    kos_status_t st;

    if (!s || !s->waiting) { /* its app gave up (asked again) */
        kos__link_stream_close(l, ch, KOS_STATUS_CLOSED, "nobody waits for this stream");
        if (s)
            stream_drop(s);
        return;
    }
    fcntl(s->near, F_SETFL, fcntl(s->near, F_GETFL) | O_NONBLOCK);
    bev = bufferevent_socket_new(t->base, s->near, BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        s->near = -1; /* the bufferevent's */
    s->rl = bev ? kos__relay_new(l, ch, bev, stream_relay_ended, s) : NULL;
    if (!s->rl) {
        kos__link_stream_close(l, ch, KOS_STATUS_NO_MEMORY, "out of memory");
        stream_answer(t, &s->to, KOS_STATUS_NO_MEMORY, "the tunnel is out of memory");
        stream_drop(s);
        return;
    }
    s->waiting = false;
    st = kos_endpoint_reply_fd(t->ep, &s->to, KOS_STATUS_OK, &r, s->far);
    close(s->far);
    s->far = -1;
    if (st) {
        kos__link_stream_close(l, ch, KOS_STATUS_CLOSED, "the app left");
        stream_drop(s);
        return;
    }
    kos_log_info("stream %u open: '%s' to '%s'", (unsigned)ch, s->app, s->dest);
}

void tun_stream_closed(void *arg, struct kos__link *l, uint32_t ch, uint32_t code,
                       const char *reason)
{
    struct tun *t = arg;
    struct tstream *s = tun_stream_of(t, ch);
    char why[KOS_TUNNEL_WHY_MAX + 1];

    (void)l;
    if (!s)
        return;
    if (s->waiting) {
        kos_status_t st =
            code && code < KOS_STATUS__COUNT ? (kos_status_t)code : KOS_STATUS_PROTOCOL;
        snprintf(why, sizeof(why), "the server refused the stream to '%s': %s (%s)", s->dest,
                 reason[0] ? reason : "no reason given", kos_status_str(st));
        if (t->denials < DENIALS_LOGGED) {
            t->denials++;
            kos_log_warn("'%s': %s", s->app, why);
        }
        stream_answer(t, &s->to, st, why);
        stream_drop(s);
        return;
    }
    if (s->rl) {
        kos__relay_peer_closed(s->rl); /* the app gets what is left, then EOF */
        s->rl = NULL;
    }
    stream_drop(s);
}

/* KOS_TUNNEL_LABEL_STREAM: answered now when it cannot be, else once the
 * server answers the Open (tun_stream_opened, tun_stream_closed). */
void tun_do_stream(struct tun *t, const struct kos_msg *m, const struct kos_caller *from)
{
    const char *app = from->app ? from->app : "?";
    char name[TUN_DEST_NAME_MAX + 1], why[KOS_TUNNEL_WHY_MAX + 1];
    struct tstream *s = NULL;
    int near = -1, far = -1;
    kos_status_t st;

    /* A caller asks one thing at a time: one that asks again has given up
     * its earlier stream, which is dropped when the server answers. */
    for (size_t i = 0; i < KOS_TUNNEL_STREAMS_MAX; i++)
        if (t->streams[i].used && t->streams[i].waiting &&
            t->streams[i].to.client == from->client && t->streams[i].to.app_id == from->app_id)
            t->streams[i].waiting = false;
    if (m->param || !m->payload || !tun_dest_name(m->payload, m->len)) {
        stream_answer(t, from, KOS_STATUS_PROTOCOL,
                      "a destination is a name of 1-63 letters, digits, '_', '-' or '.'");
        return;
    }
    memcpy(name, m->payload, m->len);
    name[m->len] = '\0';
    if (!tun_streams_allow(&t->rules, app, name)) {
        snprintf(why, sizeof(why), "open a stream to '%s' (the streams setting)", name);
        if (t->denials < DENIALS_LOGGED)
            kos_log_warn("denied: '%s' may not %s%s", app, why,
                         ++t->denials == DENIALS_LOGGED ? " (later denials are not logged)" : "");
        snprintf(why, sizeof(why), "the tunnel's streams setting does not let '%s' open '%s'", app,
                 name);
        stream_answer(t, from, KOS_STATUS_UNAUTHORIZED, why);
        return;
    }
    if (!t->link || t->state != KOS_TUNNEL_UP) {
        stream_answer(t, from, KOS_STATUS_UNAVAILABLE, "the link to the server is down");
        return;
    }
    for (size_t i = 0; i < KOS_TUNNEL_STREAMS_MAX && !s; i++)
        if (!t->streams[i].used)
            s = &t->streams[i];
    if (!s) {
        snprintf(why, sizeof(why), "%u streams are open already (at most %u)",
                 KOS_TUNNEL_STREAMS_MAX, KOS_TUNNEL_STREAMS_MAX);
        stream_answer(t, from, KOS_STATUS_BUSY, why);
        return;
    }
    if ((st = kos_ethernet_pair(t->eth, &near, &far))) {
        snprintf(why, sizeof(why),
                 "ethernet gives the tunnel no loopback connection (%s): its pairs setting must "
                 "name tunnel",
                 kos_status_str(st));
        if (!t->pair_said)
            kos_log_warn("streams cannot open: %s", why);
        t->pair_said = true;
        stream_answer(t, from, KOS_STATUS_UNAVAILABLE, why);
        return;
    }
    st = KOS_STATUS_BUSY;
    for (uint32_t tries = 0; tries < 2 * KOS_TUNNEL_STREAMS_MAX && st == KOS_STATUS_BUSY; tries++) {
        uint32_t ch = t->next_ch < STREAM_CH_FIRST || t->next_ch > STREAM_CH_LAST ? STREAM_CH_FIRST
                                                                                  : t->next_ch;
        t->next_ch = ch + 1;
        st = kos__link_stream_open(t->link, ch, name, app);
        if (st == KOS_STATUS_ALREADY_EXISTS) {
            st = KOS_STATUS_BUSY; /* still closing: the next one */
            continue;
        }
        if (st == KOS_STATUS_OK) {
            memset(s, 0, sizeof(*s));
            s->used = s->waiting = true;
            s->t = t;
            s->ch = ch;
            snprintf(s->app, sizeof(s->app), "%s", app);
            snprintf(s->dest, sizeof(s->dest), "%s", name);
            s->to = *from;
            s->to.app = s->app;
            s->near = near;
            s->far = far;
            return;
        }
        break;
    }
    close(near);
    close(far);
    snprintf(why, sizeof(why), "the link takes no stream now: %s", kos_status_str(st));
    stream_answer(t, from, st, why);
}
