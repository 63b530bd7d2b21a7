/*
 * relay.c - a link stream relayed to a TCP connection (relay.h).
 *
 * The peer's bytes go to the connection's output buffer and are credited
 * back as it drains (an evbuffer callback counts what was written); the
 * connection's bytes go out as data envelopes of at most KOS__RELAY_CHUNK
 * while kos__link_send() takes them, and reading stops when it answers
 * BUSY until room() comes. A relay whose stream the peer closed waits for
 * its output to be written ("draining") and then frees itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "relay.h"

struct kos__relay {
    struct kos__link *l;
    uint32_t ch;
    struct bufferevent *bev;
    kos__relay_ended_fn ended;
    void *arg;
    bool eof;                 /* the connection ended: close the stream once its bytes have gone */
    bool draining;            /* the peer closed: free once its bytes are written */
    bool done;                /* ended() was called: nothing more happens */
    bool lowat;               /* SO_RCVLOWAT is one envelope: the connection sends in bulk */
    size_t chunk;             /* bytes per envelope: KOS__RELAY_CHUNK, less on a small window */
    struct event *hold;       /* a short read of a busy connection waits for more */
    struct timeval last_read; /* when the connection was last read */
};

static void finish(struct kos__relay *r, uint32_t code, const char *why)
{
    r->done = true;
    event_del(r->hold);
    bufferevent_disable(r->bev, EV_READ | EV_WRITE);
    kos__link_stream_close(r->l, r->ch, code, why);
    r->ended(r->arg, r, code, why);
}

/* Sends what the connection sent, as far as the stream takes it: all of
 * it when flush, else whole envelopes, what is left over waiting at most
 * KOS__RELAY_HOLD_US for more (hold_cb flushes). While the connection's
 * SO_RCVLOWAT is raised, bytes may also wait in the socket unseen: the
 * hold is then armed even with nothing buffered, and hold_cb reads them. */
static void pump(struct kos__relay *r, bool flush)
{
    struct evbuffer *in = bufferevent_get_input(r->bev);
    struct timeval tv = {0, KOS__RELAY_HOLD_US};
    size_t len;

    while ((len = evbuffer_get_length(in)) > 0) {
        size_t n = len < r->chunk ? len : r->chunk;
        if (n < r->chunk && !flush && !r->eof)
            break;
        kos_status_t st = kos__link_send_buffer(r->l, r->ch, in, n);
        if (st == KOS_STATUS_TOO_LARGE && n > KOS__LINK_WINDOW_MIN) {
            r->chunk = r->chunk / 2 > KOS__LINK_WINDOW_MIN ? r->chunk / 2 : KOS__LINK_WINDOW_MIN;
            continue; /* the peer's window is smaller: try half as much */
        }
        if (st == KOS_STATUS_BUSY) {
            bufferevent_disable(r->bev, EV_READ); /* room() reads again */
            return;
        }
        if (st) {
            finish(r, KOS_STATUS_IO, kos_status_str(st));
            return;
        }
        evbuffer_drain(in, n);
    }
    if (r->eof) {
        finish(r, 0, "the connection was closed");
        return;
    }
    if ((evbuffer_get_length(in) || r->lowat) && !evtimer_pending(r->hold, NULL))
        evtimer_add(r->hold, &tv);
    bufferevent_enable(r->bev, EV_READ);
}

/* Raises or lowers the connection's SO_RCVLOWAT: raised, the kernel wakes
 * the loop only once a whole envelope's bytes have come (or the
 * connection ends), not for each segment. A bulk sender's 64 KiB writes
 * reached the tunnel about 4 KiB per wake-up: 72,000 reads and turns of
 * the loop a second, each waking a process on the other CPU. */
static void set_lowat(struct kos__relay *r, bool on)
{
    int v = on ? (int)r->chunk : 1;

    if (r->lowat == on)
        return;
    if (setsockopt(bufferevent_getfd(r->bev), SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
        r->lowat = on;
}

/* Reads what the connection's socket holds into the input buffer, up to
 * KOS__RELAY_READ_MAX buffered, with one readv(). libevent 2.1 reads a
 * socket at most 4 KiB per call and per turn of the loop
 * (EVBUFFER_MAX_READ), whatever the bufferevent's largest single read:
 * a bulk stream cost a read(), an epoll_wait() and a turn of the loop per
 * 4 KiB. End of file and errors are left to the bufferevent, which the
 * socket wakes for them. The input's end is frozen outside libevent's
 * own read; it is thawed for this one. */
static void fill(struct kos__relay *r)
{
    struct evbuffer *in = bufferevent_get_input(r->bev);
    evutil_socket_t fd = bufferevent_getfd(r->bev);
    size_t len = evbuffer_get_length(in), want;
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    int avail = 0, nv;
    ssize_t k;

    if (len >= KOS__RELAY_READ_MAX || ioctl(fd, FIONREAD, &avail) != 0 || avail <= 0)
        return;
    want = (size_t)avail < KOS__RELAY_READ_MAX - len ? (size_t)avail : KOS__RELAY_READ_MAX - len;
    evbuffer_unfreeze(in, 0);
    nv = evbuffer_reserve_space(in, (ev_ssize_t)want, v, 2);
    if (nv > 0) {
        size_t left = want;
        for (int i = 0; i < nv; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len < left ? v[i].iov_len : left;
            left -= iov[i].iov_len;
        }
        k = readv(fd, iov, nv);
        for (int i = 0; i < nv; i++) {
            size_t got = k > 0 ? ((size_t)k < iov[i].iov_len ? (size_t)k : iov[i].iov_len) : 0;
            v[i].iov_len = got;
            if (k > 0)
                k -= (ssize_t)got;
        }
        evbuffer_commit_space(in, v, nv);
    }
    evbuffer_freeze(in, 0);
}

/* A connection read again within KOS__RELAY_HOLD_US of the last read is
 * sending in bulk: its bytes wait for a whole envelope (or the hold), so
 * that a stream of a few KiB per read is not sent as as many envelopes,
 * TLS records and TCP sends, and the socket wakes the loop only once an
 * envelope's bytes are there (set_lowat); the first read after a pause is
 * sent at once, so a request and answer protocol waits for nothing. */
static void read_cb(struct bufferevent *bev, void *arg)
{
    struct kos__relay *r = arg;
    struct timeval now, gap;
    bool busy;

    event_base_gettimeofday_cached(bufferevent_get_base(bev), &now);
    evutil_timersub(&now, &r->last_read, &gap);
    busy = gap.tv_sec == 0 && gap.tv_usec >= 0 && gap.tv_usec < (long)KOS__RELAY_HOLD_US;
    r->last_read = now;
    if (busy)
        set_lowat(r, true);
    fill(r);
    pump(r, !busy);
}

/* The hold is over: what waits is sent. While SO_RCVLOWAT is raised, the
 * bytes under it are read first (within the read bound, and only while
 * the relay reads at all); a connection that sent nothing since the last
 * hold is no longer sending in bulk, and its socket wakes the loop for
 * every byte again. */
static void hold_cb(evutil_socket_t fd, short what, void *arg)
{
    struct kos__relay *r = arg;
    struct evbuffer *in;
    size_t len;

    (void)fd;
    (void)what;
    if (r->draining || r->done)
        return;
    in = bufferevent_get_input(r->bev);
    len = evbuffer_get_length(in);
    if (r->lowat && (bufferevent_get_enabled(r->bev) & EV_READ)) {
        fill(r);
        if (evbuffer_get_length(in) == len && len == 0)
            set_lowat(r, false);
    }
    pump(r, true);
}

/* The connection took bytes of the peer's: they are credited back. */
static void out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct kos__relay *r = arg;

    (void)buf;
    if (info->n_deleted && !r->draining && !r->done)
        kos__link_consumed(r->l, r->ch, info->n_deleted);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct kos__relay *r = arg;

    (void)bev;
    if (r->draining)
        kos__relay_free(r);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct kos__relay *r = arg;
    int err = EVUTIL_SOCKET_ERROR();
    char why[160];

    (void)bev;
    if (r->draining) {
        kos__relay_free(r); /* the stream has gone already */
        return;
    }
    if (r->done)
        return;
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
        r->eof = true;
        pump(r, true);
        return;
    }
    snprintf(why, sizeof(why), "the connection failed: %s",
             err ? evutil_socket_error_to_string(err) : "an error");
    finish(r, KOS_STATUS_IO, why);
}

struct kos__relay *kos__relay_new(struct kos__link *l, uint32_t ch, struct bufferevent *bev,
                                  kos__relay_ended_fn ended, void *arg)
{
    struct kos__relay *r = calloc(1, sizeof(*r));

    if (r)
        r->hold = evtimer_new(bufferevent_get_base(bev), hold_cb, r);
    if (!r || !r->hold || !evbuffer_add_cb(bufferevent_get_output(bev), out_cb, r)) {
        if (r && r->hold)
            event_free(r->hold);
        free(r);
        bufferevent_free(bev);
        return NULL;
    }
    r->l = l;
    r->ch = ch;
    r->bev = bev;
    r->ended = ended;
    r->arg = arg;
    r->chunk = KOS__RELAY_CHUNK;
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, r);
    bufferevent_setwatermark(bev, EV_READ, 0, KOS__RELAY_READ_MAX);
    /* libevent reads 16 KiB per wake-up by default: a bulk stream would
     * cost a turn of the loop (and, on a busy machine, a wait for the CPU)
     * per 16 KiB. */
    bufferevent_set_max_single_read(bev, KOS__RELAY_CHUNK * 4);
    bufferevent_set_max_single_write(bev, KOS__RELAY_CHUNK * 4);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    return r;
}

/* The peer's bytes go to the connection: straight to its socket while
 * nothing waits before them (the bytes written are credited back at once),
 * and what the socket does not take now to the output buffer. A bulk
 * stream so costs one send() per message, where the buffer alone cost a
 * copy, a turn of the loop and two epoll_ctl() (the write event switched
 * on, then off once the buffer was empty). */
kos_status_t kos__relay_data(struct kos__relay *r, const uint8_t *p, size_t n)
{
    struct evbuffer *out = bufferevent_get_output(r->bev);
    ssize_t k;

    if (r->draining || r->done) {
        kos__link_consumed(r->l, r->ch, n);
        return KOS_STATUS_OK;
    }
    if (n && evbuffer_get_length(out) == 0 && (bufferevent_get_enabled(r->bev) & EV_WRITE)) {
        k = send(bufferevent_getfd(r->bev), p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) {
            kos__link_consumed(r->l, r->ch, (size_t)k);
            p += k;
            n -= (size_t)k;
        }
        /* An error is the bufferevent's to find: it writes the rest. */
    }
    if (!n)
        return KOS_STATUS_OK;
    return evbuffer_add(out, p, n) == 0 ? KOS_STATUS_OK : KOS_STATUS_NO_MEMORY;
}

void kos__relay_room(struct kos__relay *r)
{
    if (!r->draining && !r->done)
        pump(r, true);
}

void kos__relay_peer_closed(struct kos__relay *r)
{
    if (r->done) {
        kos__relay_free(r);
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(r->bev)) == 0) {
        kos__relay_free(r);
        return;
    }
    struct timeval tv = kos__link_ms_tv(KOS__RELAY_DRAIN_MS);

    r->draining = true; /* what the peer sent goes first; write_cb frees */
    bufferevent_disable(r->bev, EV_READ);
    bufferevent_set_timeouts(r->bev, NULL, &tv);
}

void kos__relay_free(struct kos__relay *r)
{
    if (!r)
        return;
    event_free(r->hold);
    bufferevent_free(r->bev);
    free(r);
}

uint32_t kos__relay_channel(const struct kos__relay *r)
{
    return r->ch;
}
