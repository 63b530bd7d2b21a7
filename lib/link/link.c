/*
 * link.c - the device link's session (link.h): the HTTP upgrade, the
 * WebSocket (wslay's event API over a bufferevent), and the envelope
 * protocol on it: Hello, per-channel credit, data, Close.
 *
 * Input flows read_cb -> (upgrade) -> ws_read. A message (a binary frame,
 * one envelope) is read by ws_read_data once it is whole: its header held
 * to docs/link.md by the frame checker (kos__link_frames), its payload
 * unmasked in one pass (ws_payload()) -> kos__link_on_envelope
 * (link_env.c). Control frames go through wslay: wslay_event_recv ->
 * recv_cb, which holds each header to the same checker before wslay reads
 * the frame -> on_msg. Output: a message is written by ws_write_data
 * straight into the bufferevent's output buffer (a data message the
 * channel's credit covers, from the caller's bytes or buffer, with no
 * copy first: send_pieces()), whose size the peers' credit bounds, after
 * what wslay had queued (while wslay is reading, or once the link is
 * closing, its queue takes the message instead); control frames go
 * through wslay's queue. wslay's own data path copied each message twice
 * and (un)masked it a byte at a time. Ending is one path, end_link(): it
 * records why, sends the close code, stops reading, and once the output
 * is gone (or after close_ms) a deferred event reports closed(); nothing
 * touches the link after that call but kos__link_free().
 *
 * An idle link holds no buffers (docs/link.md): between whole messages it
 * frees wslay's context (about 8.5 KiB) and makes a new one when a
 * control frame arrives or is sent (ws_get(), ws_release()); recv_cb hands
 * wslay no byte beyond the frame it is reading, so at a frame's end wslay
 * holds nothing of the peer's. A link has at most three events: a timer
 * for the upgrade's deadline, then (made again) the close's, a client's
 * ping timer, and one deferred event for the work done from the loop
 * (WORK_*); an open server link holds only the last.
 *
 * A server link given a dozer goes further: it dozes when idle (doze.c).
 * Whatever needs to write (a send, a Credit, a Close) first wakes it
 * (kos__link_awake()).
 */
#include "link_int.h"

#include <event2/bufferevent_struct.h>
#include <openssl/ssl.h>

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *arg);
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *arg);
static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *arg);
static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                   void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

/* Asks work_ev for `what` (WORK_*), done on the loop's next turn. A
 * dozing link wakes for it; without memory to, the work waits for its
 * next wake-up (doze.c). */
static void work(struct kos__link *l, unsigned what)
{
    l->work |= what;
    if (!l->work_ev && !kos__link_awake(l) && !l->work_ev)
        return;
    event_active(l->work_ev, EV_TIMEOUT, 0);
}

/* Stream ch's slot, or NULL. */
struct stream *kos__link_stream_find(const struct kos__link *l, uint32_t ch)
{
    if (ch < KOS__LINK_STREAM_FIRST || !l->streams)
        return NULL;
    for (uint32_t i = 0; i < KOS__LINK_STREAMS_MAX; i++)
        if (l->streams[i].id == ch)
            return &l->streams[i];
    return NULL;
}

/* A new slot for stream ch, or NULL when all are taken (or no memory). */
struct stream *kos__link_stream_new(struct kos__link *l, uint32_t ch, enum stream_state state)
{
    if (!l->streams && !(l->streams = calloc(KOS__LINK_STREAMS_MAX, sizeof(*l->streams))))
        return NULL;
    for (uint32_t i = 0; i < KOS__LINK_STREAMS_MAX; i++) {
        struct stream *st = &l->streams[i];
        if (st->id)
            continue;
        memset(st, 0, sizeof(*st));
        st->id = ch;
        st->state = state;
        l->n_streams++;
        return st;
    }
    return NULL;
}

static void chan_clear(struct chan *ch)
{
    while (ch->head) {
        struct qmsg *q = ch->head;
        ch->head = q->next;
        free(q);
    }
    memset(ch, 0, sizeof(*ch));
}

void kos__link_stream_free(struct kos__link *l, struct stream *st)
{
    assert(st->id && l->n_streams > 0);
    chan_clear(&st->ch);
    memset(st, 0, sizeof(*st));
    l->n_streams--;
}

/* Channel c's flow: a fixed channel's (1..5) or a stream's; NULL for
 * another. */
struct chan *kos__link_chan(struct kos__link *l, uint32_t c)
{
    struct stream *st;

    if (c >= 1 && c < KOS__LINK_CHANNELS)
        return &l->ch[c - 1];
    st = kos__link_stream_find(l, c);
    return st ? &st->ch : NULL;
}

/* The open WebSocket's wslay context, made now if the link is idle; NULL
 * if there is no memory for it. */
static wslay_event_context_ptr ws_get(struct kos__link *l)
{
    struct wslay_event_callbacks cb = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .genmask_callback = genmask_cb,
        .on_msg_recv_callback = on_msg,
    };
    int r;

    if (l->ws)
        return l->ws;
    r = l->role == KOS__LINK_CLIENT ? wslay_event_context_client_init(&l->ws, &cb, l)
                                    : wslay_event_context_server_init(&l->ws, &cb, l);
    if (r != 0) {
        l->ws = NULL;
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(l->ws, KOS__LINK_MSG_MAX);
    return l->ws;
}

/* Frees the wslay context of an open link that has nothing in flight: no
 * frame partly read (wslay then holds no input: see recv_cb) and nothing
 * queued to send. Between whole messages wslay keeps nothing the link
 * needs: a message is one frame (fragments are refused), and a closing
 * link keeps its context for the close handshake. */
static void ws_release(struct kos__link *l)
{
    if (!l->ws || l->in_recv || l->violation || l->close_code ||
        (l->state != KOS__LINK_HELLO && l->state != KOS__LINK_UP) || l->frames.have ||
        l->frames.skip || wslay_event_want_write(l->ws))
        return;
    wslay_event_context_free(l->ws);
    l->ws = NULL;
}

/* Copies s into out as printable ASCII (others become '?'). */
void kos__link_printable(char *out, size_t cap, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n && i + 1 < cap; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
}

/* A closing link whose bytes are all sent (its bufferevent's output and
 * wslay's queue, and under a TLS filter the socket bufferevent's output:
 * the tunnel's, which writes several records at once) ends; one whose
 * last bytes wait in the socket's looks again in 10 ms (nothing calls
 * back when a filter's socket drains), within close_ms (the close
 * timer). */
static void end_when_sent(struct kos__link *l)
{
    struct bufferevent *under = bufferevent_get_underlying(l->bev);
    struct timeval again = {0, 10000};

    if (evbuffer_get_length(bufferevent_get_output(l->bev)) != 0 ||
        (l->ws && wslay_event_want_write(l->ws)))
        return; /* write_cb comes when it is written */
    if (!under || evbuffer_get_length(bufferevent_get_output(under)) == 0)
        work(l, WORK_DONE);
    else if (!l->work)
        event_add(l->work_ev, &again);
}

static void ws_flush(struct kos__link *l)
{
    if (l->in_recv || l->state == KOS__LINK_CLOSED)
        return;
    if (l->ws && wslay_event_send(l->ws) != 0 && l->state < KOS__LINK_CLOSING)
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "cannot write to the connection");
    /* The close frame goes after everything queued before it (wslay sends
     * control frames first, so it is queued only now). */
    if (l->ws && l->close_code && !wslay_event_get_close_sent(l->ws)) {
        const char *why = l->end ? l->end->why : "";
        (void)wslay_event_queue_close(l->ws, l->close_code, (const uint8_t *)why,
                                      strnlen(why, REASON_MAX));
        l->close_code = 0;
        (void)wslay_event_send(l->ws);
    }
    if (l->state == KOS__LINK_CLOSING)
        end_when_sent(l);
    ws_release(l);
}

/* The one way a link ends: see the file's head. */
void kos__link_terminate(struct kos__link *l, enum kos__link_end_kind kind, uint16_t code,
                         const char *fmt, ...)
{
    va_list ap;

    if (l->state >= KOS__LINK_CLOSING)
        return;
    /* A dozing link needs its bufferevent for the close frame; without
     * memory for it, the link has ended already, or (no memory even for
     * its work event) it ends when it next wakes. */
    if (!l->bev && kind != KOS__LINK_END_IO && kind != KOS__LINK_END_TIMEOUT && !kos__link_awake(l))
        return;
    l->state = KOS__LINK_CLOSING;
    if ((l->end = calloc(1, sizeof(*l->end)))) {
        l->end->kind = kind;
        l->end->code = code;
        l->end->ssl_err = l->ssl_err;
        l->end->http_status = l->http_status;
        va_start(ap, fmt);
        vsnprintf(l->end->why, sizeof(l->end->why), fmt, ap);
        va_end(ap);
    }
    if (l->timer)
        event_del(l->timer);
    if (l->ping_timer)
        event_del(l->ping_timer);
    if (l->bev)
        bufferevent_disable(l->bev, EV_READ);
    if (!l->bev || kind == KOS__LINK_END_IO || kind == KOS__LINK_END_TIMEOUT) {
        work(l, WORK_DONE);
        return;
    }
    if (l->ws_open) {
        if (!ws_get(l)) { /* no memory for the close frame: just go */
            work(l, WORK_DONE);
            return;
        }
        l->close_code = code; /* queued by ws_flush, after what is queued now */
        wslay_event_shutdown_read(l->ws);
    }
    struct timeval tv = kos__link_ms_tv(l->close_ms);
    if (!l->timer)
        l->timer = evtimer_new(l->base, timer_cb, l);
    if (l->timer)
        event_add(l->timer, &tv);
    else
        work(l, WORK_DONE); /* no memory for the deadline: no waiting */
    ws_flush(l);
}

/* The link has ended: closed(), once. */
static void done(struct kos__link *l)
{
    if (l->state == KOS__LINK_CLOSED)
        return;
    l->state = KOS__LINK_CLOSED;
    if (l->timer)
        event_del(l->timer);
    if (l->work_ev)
        event_del(l->work_ev);
    l->work = 0;
    if (l->bev)
        bufferevent_disable(l->bev, EV_READ | EV_WRITE);
    static const struct kos__link_end no_memory = {
        .kind = KOS__LINK_END_IO, .why = "out of memory (and for the reason why the link ended)"};
    if (l->cbs->closed)
        l->cbs->closed(l->arg, l, l->end ? l->end : &no_memory); /* may free l */
}

/* Copies n bytes from src to dst, XORed with the RFC 6455 masking key
 * when key is not NULL, src being the payload's bytes from its byte `at`
 * on (the key's byte (at + i) % 4 masks byte i): eight bytes at a time
 * (wslay's loop goes a byte at a time, which was a tenth of kos-server's
 * CPU on a forwarded stream). dst may be src. */
static void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key, size_t at)
{
    uint64_t k8 = 0, w;
    size_t i = 0;

    if (!key) {
        memmove(dst, src, n);
        return;
    }
    for (int b = 0; b < 8; b++)
        ((uint8_t *)&k8)[b] = key[(at + (size_t)b) & 3];
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, src + i, sizeof(w));
        w ^= k8;
        memcpy(dst + i, &w, sizeof(w));
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ key[(at + i) & 3];
}

/* Copies the nv pieces at v, one after the other, to dst, masked with key
 * (NULL: copied as they are) as the payload they make up. */
static void ws_mask_gather(uint8_t *dst, const struct iovec *v, int nv, const uint8_t *key)
{
    size_t at = 0;

    for (int i = 0; i < nv; i++) {
        ws_mask_copy(dst + at, v[i].iov_base, v[i].iov_len, key, at);
        at += v[i].iov_len;
    }
}

/* The first n bytes of b (which holds them) as at most BUFFER_PIECES pieces
 * at v, the last cut to end at n; in one piece, pulled up, when they lie
 * in more. Returns how many, 0 when n is 0, -1 when out of memory. */
static int buffer_pieces(struct evbuffer *b, size_t n, struct iovec *v)
{
    struct evbuffer_iovec e[BUFFER_PIECES];
    int ne = n ? evbuffer_peek(b, (ev_ssize_t)n, NULL, e, BUFFER_PIECES) : 0;
    size_t left = n;

    if (ne < 0 || ne > BUFFER_PIECES) {
        if (!(v[0].iov_base = evbuffer_pullup(b, (ev_ssize_t)n)))
            return -1;
        v[0].iov_len = n;
        return 1;
    }
    for (int i = 0; i < ne; i++) {
        size_t k = e[i].iov_len < left ? e[i].iov_len : left;
        v[i] = (struct iovec){e[i].iov_base, k};
        left -= k;
    }
    return ne;
}

/* Writes one binary frame, the nv pieces at v one after the other,
 * straight to the output, after what wslay has queued, and returns true;
 * false, having written nothing, when the frame must go through wslay's
 * queue instead: while wslay is reading (it may be queueing a pong), or
 * once the link is closing (wslay's close frame is last). The header and
 * the payload (masked by a client as it is copied) are one piece of the
 * output, so the TLS layer makes one record of them, not two; wslay's own
 * path copies a message twice and masks it a byte at a time. */
static bool ws_write_data(struct kos__link *l, const struct iovec *v, int nv)
{
    struct evbuffer *out = bufferevent_get_output(l->bev);
    struct evbuffer_iovec o;
    uint8_t h[14], *key = NULL;
    size_t hl = 2, n = 0;

    if (l->in_recv || l->close_code || (l->state != KOS__LINK_HELLO && l->state != KOS__LINK_UP))
        return false;
    if (l->ws && wslay_event_want_write(l->ws) && wslay_event_send(l->ws) != 0)
        return false;
    for (int i = 0; i < nv; i++)
        n += v[i].iov_len;
    h[0] = 0x80 | WSLAY_BINARY_FRAME;
    if (n < 126) {
        h[1] = (uint8_t)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    if (l->role == KOS__LINK_CLIENT) {
        h[1] |= 0x80;
        key = h + hl;
        if (RAND_bytes(key, 4) != 1)
            return false;
        hl += 4;
    }
    if (evbuffer_reserve_space(out, (ev_ssize_t)(hl + n), &o, 1) != 1)
        return false;
    memcpy(o.iov_base, h, hl);
    ws_mask_gather((uint8_t *)o.iov_base + hl, v, nv, key);
    o.iov_len = hl + n;
    return evbuffer_commit_space(out, &o, 1) == 0;
}

/* Packs and queues one envelope on the WebSocket (not subject to credit:
 * the caller has checked). */
static bool send_envelope(struct kos__link *l, const Kos__Link__Envelope *env)
{
    size_t n = kos__link__envelope__get_packed_size(env);
    uint8_t small[256], *buf = n <= sizeof(small) ? small : malloc(n);
    struct wslay_event_msg m;
    bool ok;

    if (!buf)
        return false;
    kos__link__envelope__pack(env, buf);
    ok = ws_write_data(l, &(struct iovec){buf, n}, 1);
    if (!ok && ws_get(l)) {
        m = (struct wslay_event_msg){.opcode = WSLAY_BINARY_FRAME, .msg = buf, .msg_length = n};
        ok = wslay_event_queue_msg(l->ws, &m) == 0;
    }
    if (buf != small)
        free(buf);
    return ok;
}

static void send_hello(struct kos__link *l)
{
    Kos__Link__Envelope env = KOS__LINK__ENVELOPE__INIT;
    Kos__Link__Hello h = KOS__LINK__HELLO__INIT;

    h.version = KOS__LINK_VERSION;
    h.agent = (char *)l->agent;
    h.window = l->window;
    h.device_id = (char *)l->device_id;
    env.channel = 0;
    env.body_case = KOS__LINK__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    if (!send_envelope(l, &env))
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
}

/* Sends what credit allows from channel c's queue (a stream's only once
 * both ends accepted it), then a stream's Close that waited for it. */
void kos__link_pump(struct kos__link *l, uint32_t c)
{
    struct stream *st = c >= KOS__LINK_STREAM_FIRST ? kos__link_stream_find(l, c) : NULL;
    struct chan *ch = kos__link_chan(l, c);

    if (!ch || (c >= KOS__LINK_STREAM_FIRST && (st->state != SS_OPEN || st->close_sent)))
        return;
    while (ch->head && ch->credit >= ch->head->len && l->state == KOS__LINK_UP) {
        struct qmsg *q = ch->head;
        struct wslay_event_msg m = {
            .opcode = WSLAY_BINARY_FRAME, .msg = q->packed, .msg_length = q->plen};
        ch->credit -= q->len;
        ch->queued -= q->len;
        ch->head = q->next;
        if (!ch->head)
            ch->tail = NULL;
        if (!ws_write_data(l, &(struct iovec){q->packed, q->plen}, 1) &&
            (!ws_get(l) || wslay_event_queue_msg(l->ws, &m) != 0)) {
            free(q);
            kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
            return;
        }
        free(q);
    }
    if (st && st->close_pending && !ch->head && l->state == KOS__LINK_UP) {
        kos__link_stream_send_close(l, st, st->close_code, st->close_reason);
        return;
    }
    if (ch->want_room && ch->queued < (st ? l->stream_bound : l->bound) &&
        l->state == KOS__LINK_UP && !(st && st->close_pending)) {
        ch->want_room = false;
        if (l->cbs->room)
            l->cbs->room(l->arg, l, c);
    }
}

/* Sends a Close on stream st; frees its slot when that ends it (the
 * peer's Close came already, or this is a refusal, which is not
 * answered). */
void kos__link_stream_send_close(struct kos__link *l, struct stream *st, uint32_t code,
                                 const char *reason)
{
    Kos__Link__Envelope env = KOS__LINK__ENVELOPE__INIT;
    Kos__Link__Close cl = KOS__LINK__CLOSE__INIT;
    char r[REASON_MAX + 1];
    bool refusal = st->state == SS_ASKED;

    snprintf(r, sizeof(r), "%s", reason ? reason : "");
    cl.code = code;
    cl.reason = r;
    env.channel = st->id;
    env.body_case = KOS__LINK__ENVELOPE__BODY_CLOSE;
    env.close = &cl;
    if (!send_envelope(l, &env)) {
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
        return;
    }
    st->close_sent = true;
    st->close_pending = false;
    chan_clear(&st->ch);
    if (refusal || st->close_got)
        kos__link_stream_free(l, st);
}

/* Sends the Credit that consumed() earned, one envelope per channel. */
static void credit(struct kos__link *l)
{
    if (l->state != KOS__LINK_UP)
        return;
    for (uint32_t i = 1; i < KOS__LINK_CHANNELS + (l->streams ? KOS__LINK_STREAMS_MAX : 0); i++) {
        struct stream *st = i < KOS__LINK_CHANNELS ? NULL : &l->streams[i - KOS__LINK_CHANNELS];
        uint32_t c = st ? st->id : i;
        struct chan *ch = st ? &st->ch : &l->ch[i - 1];
        Kos__Link__Envelope env = KOS__LINK__ENVELOPE__INIT;
        Kos__Link__Credit cr = KOS__LINK__CREDIT__INIT;

        if (st && (!st->id || st->state != SS_OPEN || st->close_sent || st->close_pending))
            continue;
        uint32_t win = st ? l->stream_window : l->window;
        if (!ch->consumed || (ch->consumed < win / 2 && ch->consumed < ch->unacked))
            continue;
        /* All of it was taken, but little: a wide window waits for more
         * (CREDIT_STEP), so that a bulk stream is not answered with a
         * Credit per read, as long as the peer still has credit for a
         * message of the longest kind. */
        if (ch->consumed < win / 2 && ch->consumed < CREDIT_STEP &&
            win - ch->consumed >= KOS__LINK_MSG_MAX)
            continue;
        cr.bytes = ch->consumed;
        env.channel = c;
        env.body_case = KOS__LINK__ENVELOPE__BODY_CREDIT;
        env.credit = &cr;
        if (!send_envelope(l, &env)) {
            kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
            return;
        }
        ch->unacked -= ch->consumed;
        ch->consumed = 0;
    }
    ws_flush(l);
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *arg)
{
    struct kos__link *l = arg;
    struct evbuffer *in = bufferevent_get_input(l->bev);
    ev_ssize_t n;

    (void)flags;
    if (l->violation || l->state >= KOS__LINK_CLOSING) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    /* Never past the end of the frame wslay is reading, so that wslay holds
     * no byte of the next one: a header whole (once all of it is here, so
     * the frame checker judges it before wslay reads any of it), then the
     * payload. */
    if (l->frames.skip) {
        len = l->frames.skip < len ? (size_t)l->frames.skip : len;
    } else {
        uint8_t h[2];
        size_t hlen;
        if (evbuffer_copyout(in, h, 2) < 2 || (h[0] & 0x0f) == WSLAY_BINARY_FRAME) {
            /* A message is ws_read_data()'s, never wslay's. */
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        hlen = 2 +
               ((h[1] & 0x7f) == 126   ? 2
                : (h[1] & 0x7f) == 127 ? 8
                                       : 0) +
               ((h[1] & 0x80) ? 4 : 0);
        if (evbuffer_get_length(in) < hlen) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        len = hlen < len ? hlen : len;
    }
    n = evbuffer_copyout(in, buf, len);
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    l->violation = kos__link_frames_feed(&l->frames, buf, (size_t)n, l->vwhy, VWHY_MAX);
    if (l->violation) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    evbuffer_drain(in, (size_t)n);
    return n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *arg)
{
    struct kos__link *l = arg;

    (void)flags;
    if (evbuffer_add(bufferevent_get_output(l->bev), data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *arg)
{
    (void)arg;
    if (RAND_bytes(buf, (int)len) != 1) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                   void *arg)
{
    struct kos__link *l = arg;

    (void)ctx;
    if (l->state >= KOS__LINK_CLOSING)
        return;
    if (m->opcode == WSLAY_BINARY_FRAME) {
        kos__link_on_envelope(l, m->msg, m->msg_length);
    } else if (m->opcode == WSLAY_CONNECTION_CLOSE) {
        char reason[REASON_MAX + 1] = "";
        if (m->msg_length > 2)
            kos__link_printable(reason, sizeof(reason), (const char *)m->msg + 2,
                                m->msg_length - 2);
        kos__link_terminate(l, KOS__LINK_END_PEER, m->status_code,
                            "the peer closed the WebSocket (%u%s%s)", (unsigned)m->status_code,
                            reason[0] ? ": " : "", reason);
    }
}

/* ---- the connection ---- */

/* The payload of n bytes (n > 0) at the head of in, unmasked with key
 * (NULL: not masked), in one pass over its bytes: in place when it lies
 * in one piece of the input, else copied out as it is unmasked, to *copy,
 * which the caller frees. (evbuffer_pullup() would copy it into one
 * piece, and unmasking would go over it again: a frame of a forwarded
 * stream straddles the pieces OpenSSL's records were read into.) NULL
 * when out of memory. */
static uint8_t *ws_payload(struct evbuffer *in, size_t n, const uint8_t *key, uint8_t **copy)
{
    struct iovec v[BUFFER_PIECES];
    int nv = buffer_pieces(in, n, v);
    uint8_t *p;

    if (nv < 1)
        return NULL;
    if (nv == 1) {
        p = v[0].iov_base;
        if (key)
            ws_mask_copy(p, p, n, key, 0);
        return p;
    }
    if ((p = *copy = malloc(n)))
        ws_mask_gather(p, v, nv, key);
    return p;
}

/* The message at the head of the input, if wslay is between frames and
 * the frame is whole: its header held to docs/link.md by the frame
 * checker, as recv_cb holds every header, then unmasked (ws_payload()) and
 * handed on without wslay, which would copy it twice and unmask it a byte
 * at a time. Returns whether it took one; a header the checker refuses
 * ends the link, before its payload is read. Control frames are wslay's
 * (recv_cb leaves messages here). */
static bool ws_read_data(struct kos__link *l)
{
    struct evbuffer *in = bufferevent_get_input(l->bev);
    size_t have = evbuffer_get_length(in), hlen;
    struct kos__link_frames f = l->frames;
    char vwhy[VWHY_MAX] = "";
    uint8_t h[14], *p, *copy = NULL;
    uint16_t code;
    uint64_t len;

    if (l->violation || f.have || f.skip || have < 2 ||
        (l->state != KOS__LINK_HELLO && l->state != KOS__LINK_UP))
        return false;
    evbuffer_copyout(in, h, 2);
    if ((h[0] & 0x0f) != WSLAY_BINARY_FRAME)
        return false;
    hlen = 2 + ((h[1] & 0x7f) == 126 ? 2 : (h[1] & 0x7f) == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
    if (have < hlen)
        return false;
    evbuffer_copyout(in, h, hlen);
    code = kos__link_frames_feed(&f, h, hlen, vwhy, sizeof(vwhy));
    if (code) {
        l->violation = code;
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, code, "%s", vwhy);
        return false;
    }
    len = f.skip; /* at most KOS__LINK_MSG_MAX: the checker saw to it */
    if (have - hlen < len)
        return false; /* the rest of it is still to come */
    f.skip = 0;
    l->frames = f;
    evbuffer_drain(in, hlen);
    p = len ? ws_payload(in, (size_t)len, (h[1] & 0x80) ? h + hlen - 4 : NULL, &copy) : h;
    if (!p) {
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
        return false;
    }
    kos__link_on_envelope(l, p, (size_t)len);
    free(copy);
    evbuffer_drain(in, (size_t)len);
    return true;
}

/* Reads the frames in the input: messages here, control frames through
 * wslay, until a frame is incomplete or the link closes. */
static void ws_read(struct kos__link *l)
{
    struct evbuffer *in = bufferevent_get_input(l->bev);
    char vwhy[VWHY_MAX] = "";
    size_t before;
    uint8_t b0;
    int r;

    for (;;) {
        while (ws_read_data(l))
            ;
        before = evbuffer_get_length(in);
        if (!before || l->violation || (l->state != KOS__LINK_HELLO && l->state != KOS__LINK_UP))
            break;
        /* A message that is not whole yet waits for its bytes. */
        if (!l->frames.have && !l->frames.skip && evbuffer_copyout(in, &b0, 1) == 1 &&
            (b0 & 0x0f) == WSLAY_BINARY_FRAME)
            break;
        if (!ws_get(l)) {
            kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
            return;
        }
        l->vwhy = vwhy;
        l->in_recv = true;
        r = wslay_event_recv(l->ws);
        l->in_recv = false;
        l->vwhy = NULL;
        if (l->violation && l->state < KOS__LINK_CLOSING) {
            kos__link_terminate(l, KOS__LINK_END_VIOLATION, l->violation, "%s", vwhy);
            break;
        }
        if (r != 0 && l->state < KOS__LINK_CLOSING) {
            kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                                "a frame the WebSocket layer refused");
            break;
        }
        if (evbuffer_get_length(in) == before)
            break;
    }
    ws_flush(l);
}

static void open_ws(struct kos__link *l)
{
    struct timeval idle = kos__link_ms_tv(l->idle_ms);

    if (!ws_get(l)) {
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
        return;
    }
    l->ws_open = true;
    event_free(l->timer); /* an open link needs none until it closes */
    l->timer = NULL;
    bufferevent_set_timeouts(l->bev, &idle, &idle);
    l->state = KOS__LINK_HELLO;
    if (l->ping_timer) {
        struct timeval ping = kos__link_ms_tv(l->ping_ms);
        event_add(l->ping_timer, &ping);
    }
    send_hello(l);
}

static void http_answer(struct kos__link *l, int status, const char *why)
{
    const char *text = status == 404 ? "Not Found" : status == 403 ? "Forbidden" : "Bad Request";

    evbuffer_add_printf(bufferevent_get_output(l->bev),
                        "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n%s\r\n",
                        status, text, status == 400 ? "Sec-WebSocket-Version: 13\r\n" : "");
    l->http_status = status;
    kos__link_terminate(l, KOS__LINK_END_UPGRADE, 0, "upgrade refused with %d: %s", status, why);
}

static void upgrade(struct kos__link *l)
{
    struct evbuffer *in = bufferevent_get_input(l->bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    size_t len = evbuffer_get_length(in);
    char why[192], key[25], accept[KOS__LINK_ACCEPT_SIZE], *hdr;
    int status;

    if (end.pos < 0) {
        if (len <= KOS__LINK_REQUEST_MAX)
            return;
        if (l->role == KOS__LINK_SERVER)
            http_answer(l, 400, "a request over 8 KiB");
        else
            kos__link_terminate(l, KOS__LINK_END_UPGRADE, 0, "an upgrade response over 8 KiB");
        return;
    }
    len = (size_t)end.pos + 4;
    if (len > KOS__LINK_REQUEST_MAX) {
        if (l->role == KOS__LINK_SERVER)
            http_answer(l, 400, "a request over 8 KiB");
        else
            kos__link_terminate(l, KOS__LINK_END_UPGRADE, 0, "an upgrade response over 8 KiB");
        return;
    }
    hdr = malloc(len);
    if (!hdr) {
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
        return;
    }
    evbuffer_remove(in, hdr, len);
    if (l->role == KOS__LINK_SERVER) {
        status = kos__link_parse_request(hdr, len, key, why, sizeof(why));
        free(hdr);
        if (status != 101) {
            http_answer(l, status, why);
            return;
        }
        if (l->pending) {
            evbuffer_add_printf(bufferevent_get_output(l->bev),
                                "HTTP/1.1 202 Accepted\r\nConnection: close\r\n"
                                "Content-Length: 0\r\nKos-Reason: %s\r\n\r\n",
                                l->pending);
            l->http_status = 202;
            kos__link_terminate(l, KOS__LINK_END_UPGRADE, 0, "answered 202: %s", l->pending);
            return;
        }
        kos__link_accept_key(key, accept);
        evbuffer_add_printf(bufferevent_get_output(l->bev),
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                            "Sec-WebSocket-Protocol: " KOS__LINK_SUBPROTOCOL "\r\n\r\n",
                            accept);
    } else {
        status = kos__link_parse_response(hdr, len, l->accept, why, sizeof(why));
        free(hdr);
        free(l->accept);
        l->accept = NULL;
        if (status != 101) {
            l->http_status = status;
            kos__link_terminate(l, status == 403 ? KOS__LINK_END_REFUSED : KOS__LINK_END_UPGRADE, 0,
                                "%s", why);
            return;
        }
    }
    open_ws(l);
}

/* Sets up a bufferevent the link has just been given or made. */
void kos__link_bev_setup(struct kos__link *l)
{
    bufferevent_setcb(l->bev, read_cb, write_cb, event_cb, l);
    bufferevent_setwatermark(l->bev, EV_WRITE, OUTPUT_HIGH / 2, 0);
    /* More than libevent's 16 KiB per wake-up, for streams' bulk (an idle
     * link holds no more for it: this bounds one read, not a buffer). */
    bufferevent_set_max_single_read(l->bev, IO_MAX);
    bufferevent_set_max_single_write(l->bev, IO_MAX);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
}

void kos__link_end_silent(struct kos__link *l, bool writing)
{
    kos__link_terminate(l, KOS__LINK_END_TIMEOUT, 0,
                        writing ? "the peer took nothing for %u s" : "nothing received for %u s",
                        (unsigned)(l->idle_ms / 1000));
}

/* Whether an open link has nothing in flight: no frame partly read or
 * written, no byte buffered either way (the TLS layer's included), no
 * message waiting for credit, no stream, no work asked. */
bool kos__link_quiet(const struct kos__link *l)
{
    if (l->ws || l->throttled || l->work || l->n_streams || l->frames.have || l->frames.skip ||
        l->violation || l->close_code || evbuffer_get_length(bufferevent_get_input(l->bev)) ||
        evbuffer_get_length(bufferevent_get_output(l->bev)) || SSL_has_pending(l->ssl))
        return false;
    for (uint32_t c = 1; c < KOS__LINK_CHANNELS; c++)
        if (l->ch[c - 1].head)
            return false;
    return true;
}

/* Runs the TLS bufferevent's read again from the loop while OpenSSL holds
 * bytes it read ahead. With read-ahead (kos-server turns it on: one read()
 * takes several records, where each record cost two), libevent 2.1's
 * OpenSSL bufferevent reads on only while SSL_pending() counts a record's
 * plaintext; whole records read ahead wait until the socket is readable
 * again, which for the last of a burst is never (its sender waits for
 * the Credit they would earn). A plain socket's bufferevent has no SSL:
 * nothing to do. */
static void tls_read_on(struct kos__link *l)
{
    SSL *ssl = bufferevent_openssl_get_ssl(l->bev);

    if (ssl && !bufferevent_get_underlying(l->bev) && SSL_has_pending(ssl) &&
        (bufferevent_get_enabled(l->bev) & EV_READ))
        event_active(&l->bev->ev_read, EV_READ, 1);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct kos__link *l = arg;

    event_base_gettimeofday_cached(l->base, &l->last_in);
    if (l->short_limit) {
        struct timeval idle = kos__link_ms_tv(l->idle_ms);
        bufferevent_set_timeouts(bev, &idle, &idle);
        l->short_limit = false;
    }
    if (l->state == KOS__LINK_UPGRADING)
        upgrade(l);
    if (l->state == KOS__LINK_HELLO || l->state == KOS__LINK_UP)
        ws_read(l);
    if (l->state < KOS__LINK_CLOSING &&
        evbuffer_get_length(bufferevent_get_output(bev)) > OUTPUT_HIGH) {
        l->throttled = true;
        bufferevent_disable(bev, EV_READ);
    }
    if (l->state < KOS__LINK_CLOSING)
        tls_read_on(l);
    kos__link_doze_later(l);
}

void kos__link_work_cb(evutil_socket_t fd, short what, void *arg)
{
    struct kos__link *l = arg;
    unsigned w = l->work;

    (void)fd;
    (void)what;
    l->work = 0;
    if (w & WORK_DONE) {
        done(l); /* may free l */
        return;
    }
    if (!w && l->state == KOS__LINK_CLOSING) { /* end_when_sent()'s timer */
        end_when_sent(l);
        return;
    }
    if (!w) {              /* the doze timer */
        kos__link_doze(l); /* may free work_ev */
        return;
    }
    if (l->state >= KOS__LINK_CLOSED || !kos__link_awake(l))
        return;
    if ((w & WORK_KICK) && l->state < KOS__LINK_CLOSING)
        read_cb(l->bev, l);
    if (w & WORK_CREDIT)
        credit(l);
    kos__link_doze_later(l);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct kos__link *l = arg;

    if (l->throttled && l->state < KOS__LINK_CLOSING &&
        evbuffer_get_length(bufferevent_get_output(bev)) <= OUTPUT_HIGH / 2) {
        l->throttled = false;
        bufferevent_enable(bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_input(bev)))
            work(l, WORK_KICK);
        tls_read_on(l);
    }
    if (l->state == KOS__LINK_CLOSING)
        end_when_sent(l);
    kos__link_doze_later(l);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct kos__link *l = arg;
    unsigned long e = bufferevent_get_openssl_error(bev);
    int err = EVUTIL_SOCKET_ERROR();

    if (l->state >= KOS__LINK_CLOSING) {
        work(l, WORK_DONE);
        return;
    }
    l->ssl_err = e;
    if (what & BEV_EVENT_TIMEOUT)
        kos__link_end_silent(l, what & BEV_EVENT_WRITING);
    else if (e) {
        char buf[128];
        ERR_error_string_n(e, buf, sizeof(buf));
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "TLS: %s", buf);
    } else if (what & BEV_EVENT_EOF)
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "the connection was closed");
    else
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "the connection failed: %s",
                            err ? evutil_socket_error_to_string(err) : "unknown error");
    while (bufferevent_get_openssl_error(bev))
        ;
}

/* The one timer: no upgrade in time, or a close that took too long. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct kos__link *l = arg;

    (void)fd;
    (void)what;
    if (l->state == KOS__LINK_CLOSING) {
        done(l); /* may free l */
        return;
    }
    kos__link_terminate(l, KOS__LINK_END_TIMEOUT, 0, "no upgrade %s within %u s",
                        l->role == KOS__LINK_SERVER ? "request" : "response",
                        (unsigned)(l->upgrade_ms / 1000));
}

static void ping_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct kos__link *l = arg;
    struct wslay_event_msg m = {.opcode = WSLAY_PING, .msg = NULL, .msg_length = 0};

    (void)fd;
    (void)what;
    if ((l->state != KOS__LINK_HELLO && l->state != KOS__LINK_UP) || !kos__link_awake(l))
        return;
    if (!ws_get(l)) {
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
        return;
    }
    (void)wslay_event_queue_msg(l->ws, &m);
    ws_flush(l);
}

static void send_request(struct kos__link *l, const char *host, const char *fixed_key)
{
    unsigned char raw[16];
    char ws_key[25];

    if (fixed_key) {
        snprintf(ws_key, sizeof(ws_key), "%s", fixed_key);
    } else {
        if (RAND_bytes(raw, sizeof(raw)) != 1)
            memset(raw, 0x5a, sizeof(raw)); /* the key is not a secret, only a nonce */
        EVP_EncodeBlock((unsigned char *)ws_key, raw, sizeof(raw));
    }
    kos__link_accept_key(ws_key, l->accept);
    evbuffer_add_printf(bufferevent_get_output(l->bev),
                        "GET " KOS__LINK_PATH " HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: " KOS__LINK_SUBPROTOCOL "\r\n\r\n",
                        host, ws_key);
}

struct kos__link *kos__link_new(struct event_base *base, struct bufferevent *bev,
                                const struct kos__link_config *cfg, const struct kos__link_cbs *cbs,
                                void *arg)
{
    struct kos__link *l;
    struct timeval tv;

    if (!base || !bev || !cfg || !cbs)
        goto out_bev;
    if (cfg->dozer && (!bufferevent_openssl_get_ssl(bev) || bufferevent_getfd(bev) < 0))
        goto out_bev;
    if (cfg->send_bound > KOS__LINK_SEND_BOUND_MAX ||
        (cfg->agent && strlen(cfg->agent) > KOS__LINK_AGENT_MAX) ||
        (cfg->device_id && strlen(cfg->device_id) > KOS__LINK_ID_LEN))
        goto out_bev;
    if (cfg->window < KOS__LINK_WINDOW_MIN || cfg->window > KOS__LINK_WINDOW_MAX ||
        (cfg->stream_window &&
         (cfg->stream_window < KOS__LINK_WINDOW_MIN || cfg->stream_window > KOS__LINK_WINDOW_MAX)))
        goto out_bev;
    l = calloc(1, sizeof(*l));
    if (!l)
        goto out_bev;
    l->base = base;
    l->bev = bev;
    l->cbs = cbs;
    l->arg = arg;
    l->role = cfg->role;
    l->window = cfg->window;
    l->bound = cfg->send_bound ? (uint32_t)cfg->send_bound : cfg->window;
    l->stream_window = cfg->stream_window ? cfg->stream_window : cfg->window;
    l->stream_bound = l->stream_window;
    l->upgrade_ms = cfg->upgrade_ms ? cfg->upgrade_ms : KOS__LINK_UPGRADE_MS;
    l->ping_ms = cfg->ping_ms ? cfg->ping_ms : KOS__LINK_PING_MS;
    l->idle_ms = cfg->idle_ms ? cfg->idle_ms : KOS__LINK_IDLE_MS;
    l->close_ms = cfg->close_ms ? cfg->close_ms : KOS__LINK_CLOSE_MS;
    l->pending = cfg->role == KOS__LINK_SERVER ? cfg->pending : NULL;
    l->dozer = cfg->dozer;
    l->ssl = bufferevent_openssl_get_ssl(bev);
    l->fd = bufferevent_getfd(bev);
    l->dirty_ok = l->ssl && bufferevent_openssl_get_allow_dirty_shutdown(bev);
    event_base_gettimeofday_cached(base, &l->last_in);
    l->agent = cfg->agent ? cfg->agent : "kos-link/0.1";
    l->device_id = cfg->role == KOS__LINK_SERVER && cfg->device_id ? cfg->device_id : "";
    kos__link_frames_init(&l->frames, cfg->role == KOS__LINK_SERVER);
    l->timer = evtimer_new(base, timer_cb, l);
    l->work_ev = event_new(base, -1, 0, kos__link_work_cb, l);
    if (l->role == KOS__LINK_CLIENT)
        l->ping_timer = event_new(base, -1, EV_PERSIST, ping_timer_cb, l);
    if (l->role == KOS__LINK_CLIENT)
        l->accept = malloc(KOS__LINK_ACCEPT_SIZE);
    if (!l->timer || !l->work_ev ||
        (l->role == KOS__LINK_CLIENT && (!l->ping_timer || !l->accept))) {
        kos__link_free(l);
        return NULL;
    }
    tv = kos__link_ms_tv(l->upgrade_ms);
    event_add(l->timer, &tv);
    kos__link_bev_setup(l);
    if (l->role == KOS__LINK_CLIENT)
        send_request(l, cfg->host ? cfg->host : "localhost", cfg->ws_key);
    /* Bytes already read (a request that came with the handshake) are read
     * from the loop, so no callback runs before the caller has the link. */
    if (evbuffer_get_length(bufferevent_get_input(bev)))
        work(l, WORK_KICK);
    tls_read_on(l);
    return l;
out_bev:
    if (bev)
        bufferevent_free(bev);
    return NULL;
}

void kos__link_free(struct kos__link *l)
{
    if (!l)
        return;
    for (uint32_t c = 1; c < KOS__LINK_CHANNELS; c++)
        chan_clear(&l->ch[c - 1]);
    for (uint32_t i = 0; l->streams && i < KOS__LINK_STREAMS_MAX; i++)
        chan_clear(&l->streams[i].ch);
    free(l->streams);
    if (l->timer)
        event_free(l->timer);
    if (l->ping_timer)
        event_free(l->ping_timer);
    if (l->work_ev)
        event_free(l->work_ev);
    kos__link_undoze(l);
    if (l->ws)
        wslay_event_context_free(l->ws);
    if (l->bev)
        bufferevent_free(l->bev);
    free(l->peer_agent);
    free(l->peer_id);
    free(l->accept);
    free(l->end);
    free(l);
}

/* Whether n bytes may be sent on channel c now, as kos__link_send()
 * answers; *chp is the channel when they may. */
static kos_status_t send_check(struct kos__link *l, uint32_t c, size_t n, struct chan **chp)
{
    struct chan *ch;

    if (!l || c == 0 || (c >= KOS__LINK_CHANNELS && c < KOS__LINK_STREAM_FIRST) ||
        c > KOS__LINK_STREAM_LAST)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (l->state != KOS__LINK_UP)
        return KOS_STATUS_UNAVAILABLE;
    if (!kos__link_awake(l))
        return KOS_STATUS_NO_MEMORY;
    if (c >= KOS__LINK_STREAM_FIRST) {
        struct stream *st = kos__link_stream_find(l, c);
        if (!st || st->close_sent || st->close_pending || st->close_got)
            return KOS_STATUS_CLOSED;
        if (st->state != SS_OPEN)
            return KOS_STATUS_UNAVAILABLE;
        if (n > DATA_MAX || n > st->window)
            return KOS_STATUS_TOO_LARGE;
    } else if (n > DATA_MAX || n > l->peer_window) {
        return KOS_STATUS_TOO_LARGE;
    }
    ch = kos__link_chan(l, c);
    if (ch->queued && ch->queued + n > (c >= KOS__LINK_STREAM_FIRST ? l->stream_bound : l->bound)) {
        ch->want_room = true;
        return KOS_STATUS_BUSY;
    }
    *chp = ch;
    return KOS_STATUS_OK;
}

/* The bytes of a data envelope before its payload of n bytes on channel c
 * (c > 0): what protobuf-c packs for {channel = c, data = n bytes}, field
 * by field (docs/link.md). Returns their length, at most 16. */
static size_t data_prefix(uint8_t out[16], uint32_t c, size_t n)
{
    size_t k = 0;

    out[k++] = 1 << 3 | 0; /* channel, a varint */
    for (; c >= 0x80; c >>= 7)
        out[k++] = (uint8_t)(c | 0x80);
    out[k++] = (uint8_t)c;
    out[k++] = 4 << 3 | 2; /* data, length-delimited */
    for (; n >= 0x80; n >>= 7)
        out[k++] = (uint8_t)(n | 0x80);
    out[k++] = (uint8_t)n;
    return k;
}

/* Sends the n bytes in the nv pieces at v (v[0] left free for the
 * envelope's first bytes) on channel ch, which send_check() passed:
 * straight to the output as one frame when nothing waits on the channel
 * and its credit covers them (copied once, masked as they are), else
 * packed into the channel's queue (copied twice), as kos__link_pump()
 * then sends them. */
static kos_status_t send_pieces(struct kos__link *l, uint32_t c, struct chan *ch, struct iovec *v,
                                int nv, size_t n)
{
    uint8_t pre[16];
    struct qmsg *q;
    size_t plen;

    v[0] = (struct iovec){pre, data_prefix(pre, c, n)};
    if (!ch->head && ch->credit >= n && ws_write_data(l, v, nv)) {
        ch->credit -= n;
        kos__link_pump(l, c);
        ws_flush(l);
        return KOS_STATUS_OK;
    }
    plen = v[0].iov_len + n;
    q = malloc(sizeof(*q) + plen);
    if (!q)
        return KOS_STATUS_NO_MEMORY;
    q->next = NULL;
    q->len = n;
    q->plen = plen;
    ws_mask_gather(q->packed, v, nv, NULL);
    if (ch->tail)
        ch->tail->next = q;
    else
        ch->head = q;
    ch->tail = q;
    ch->queued += n;
    kos__link_pump(l, c);
    ws_flush(l);
    return KOS_STATUS_OK;
}

kos_status_t kos__link_send(struct kos__link *l, uint32_t c, const void *p, size_t n)
{
    struct iovec v[2] = {{0}, {(void *)p, n}};
    struct chan *ch;
    kos_status_t st;

    if (n && !p)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((st = send_check(l, c, n, &ch)))
        return st;
    return send_pieces(l, c, ch, v, 2, n);
}

kos_status_t kos__link_send_buffer(struct kos__link *l, uint32_t c, struct evbuffer *buf, size_t n)
{
    struct iovec v[1 + BUFFER_PIECES];
    struct chan *ch;
    kos_status_t st;
    int nv;

    if (!buf || evbuffer_get_length(buf) < n)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((st = send_check(l, c, n, &ch)))
        return st;
    if ((nv = buffer_pieces(buf, n, v + 1)) < 0)
        return KOS_STATUS_NO_MEMORY;
    return send_pieces(l, c, ch, v, 1 + nv, n);
}

void kos__link_consumed(struct kos__link *l, uint32_t c, size_t n)
{
    struct chan *ch;

    if (!l || !(ch = kos__link_chan(l, c)))
        return;
    if (n > ch->unacked - ch->consumed)
        n = (size_t)(ch->unacked - ch->consumed);
    ch->consumed += (uint32_t)n;
    if (n)
        work(l, WORK_CREDIT);
}

void kos__link_close(struct kos__link *l, uint32_t code, const char *reason)
{
    if (!l || l->state >= KOS__LINK_CLOSING)
        return;
    if (!kos__link_awake(l))
        return;
    if (l->state == KOS__LINK_HELLO || l->state == KOS__LINK_UP) {
        Kos__Link__Envelope env = KOS__LINK__ENVELOPE__INIT;
        Kos__Link__Close cl = KOS__LINK__CLOSE__INIT;
        char r[REASON_MAX + 1];
        snprintf(r, sizeof(r), "%s", reason ? reason : "");
        cl.code = code;
        cl.reason = r;
        env.channel = 0;
        env.body_case = KOS__LINK__ENVELOPE__BODY_CLOSE;
        env.close = &cl;
        (void)send_envelope(l, &env);
    }
    kos__link_terminate(l, KOS__LINK_END_LOCAL, l->ws_open ? KOS__LINK_CLOSE_NORMAL : 0, "%s",
                        reason && *reason ? reason : "closed by this end");
}

enum kos__link_state kos__link_state(const struct kos__link *l)
{
    return l->state;
}

size_t kos__link_queued(const struct kos__link *l, uint32_t c)
{
    const struct chan *ch = kos__link_chan((struct kos__link *)l, c);

    return ch ? ch->queued : 0;
}

uint64_t kos__link_credit(const struct kos__link *l, uint32_t c)
{
    const struct chan *ch = kos__link_chan((struct kos__link *)l, c);

    return ch ? ch->credit : 0;
}

kos_status_t kos__link_stream_open(struct kos__link *l, uint32_t c, const char *destination,
                                   const char *app)
{
    Kos__Link__Envelope env = KOS__LINK__ENVELOPE__INIT;
    Kos__Link__Open o = KOS__LINK__OPEN__INIT;
    struct stream *st;

    if (!l || c < KOS__LINK_STREAM_FIRST || c > KOS__LINK_STREAM_LAST ||
        !kos__link_printable_text(destination, KOS__LINK_DEST_MAX, false) ||
        !kos__link_printable_text(app, KOS__LINK_APP_MAX, true))
        return KOS_STATUS_INVALID_ARGUMENT;
    if (l->state != KOS__LINK_UP)
        return KOS_STATUS_UNAVAILABLE;
    if (!kos__link_awake(l))
        return KOS_STATUS_NO_MEMORY;
    if (kos__link_stream_find(l, c))
        return KOS_STATUS_ALREADY_EXISTS;
    if (l->n_streams >= KOS__LINK_STREAMS_MAX)
        return KOS_STATUS_BUSY;
    if (!(st = kos__link_stream_new(l, c, SS_OPENING)))
        return KOS_STATUS_NO_MEMORY;
    o.destination = (char *)destination;
    o.app = (char *)(app ? app : "");
    o.window = l->stream_window;
    env.channel = c;
    env.body_case = KOS__LINK__ENVELOPE__BODY_OPEN;
    env.open = &o;
    if (!send_envelope(l, &env)) {
        kos__link_stream_free(l, st);
        return KOS_STATUS_NO_MEMORY;
    }
    ws_flush(l);
    return KOS_STATUS_OK;
}

kos_status_t kos__link_stream_accept(struct kos__link *l, uint32_t c)
{
    Kos__Link__Envelope env = KOS__LINK__ENVELOPE__INIT;
    Kos__Link__Open o = KOS__LINK__OPEN__INIT;
    struct stream *st = l ? kos__link_stream_find(l, c) : NULL;

    if (!st || st->state != SS_ASKED)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (l->state != KOS__LINK_UP)
        return KOS_STATUS_UNAVAILABLE;
    o.window = l->stream_window;
    env.channel = c;
    env.body_case = KOS__LINK__ENVELOPE__BODY_OPEN;
    env.open = &o;
    if (!send_envelope(l, &env))
        return KOS_STATUS_NO_MEMORY;
    st->state = SS_OPEN;
    st->ch.credit = st->window;
    ws_flush(l);
    return KOS_STATUS_OK;
}

void kos__link_stream_close(struct kos__link *l, uint32_t c, uint32_t code, const char *reason)
{
    struct stream *st = l ? kos__link_stream_find(l, c) : NULL;

    if (!st || st->close_sent || st->close_pending || l->state != KOS__LINK_UP)
        return;
    if (st->close_got) /* its Close was answered already: nothing is left */
        return;
    if (st->state == SS_OPENING || (code == 0 && st->ch.head)) {
        /* After the answer to its Open, or after its queued data. */
        st->close_pending = true;
        st->close_code = code;
        snprintf(st->close_reason, sizeof(st->close_reason), "%s", reason ? reason : "");
        return;
    }
    kos__link_stream_send_close(l, st, code, reason);
    ws_flush(l);
}

uint32_t kos__link_streams(const struct kos__link *l)
{
    return l ? l->n_streams : 0;
}

uint32_t kos__link_peer_window(const struct kos__link *l)
{
    return l->peer_window;
}

const char *kos__link_peer_agent(const struct kos__link *l)
{
    return l->peer_agent ? l->peer_agent : "";
}

const char *kos__link_device_id(const struct kos__link *l)
{
    return l->peer_id ? l->peer_id : "";
}

struct bufferevent *kos__link_bufferevent(struct kos__link *l)
{
    (void)kos__link_awake(l);
    return l->bev;
}
