/*
 * fuzz_link.c - libFuzzer harness for what either end of the device link
 * reads from the other (lib/link): the first input byte picks the end, the
 * rest is what its peer sent, delivered over a bufferevent pair in pieces
 * the byte's upper bits size.
 *
 *   sel & 1 == 0  a server link reads a device: the HTTP upgrade request,
 *                 then frames and envelopes
 *   sel & 1 == 1  a client link (its Sec-WebSocket-Key fixed, so the right
 *                 accept key is "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") reads a
 *                 server: the upgrade response, then frames and envelopes
 *
 * Promises checked: a link never calls closed() twice, never reports data
 * on channel 0 or on channels 6-15, never reports more data on a fixed
 * channel than its window before credit is given back, reports stream data
 * only on a stream it accepted (server) or that was accepted (client), and
 * an ended link always says why. Streams: the server end accepts an Open
 * whose destination starts with an even byte and refuses the others; the
 * client end opens stream 16 when the link is up. The same bytes are also
 * read as the answer to a blob's ranged GET (blob_answer), and go to the blob
 * route's request parser (check_blob_request). The corpus
 * (tests/fuzz/corpus/link) holds good exchanges, the violations the unit
 * tests make, and blob answers.
 */
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "fuzz.h"
#include "link.h"

#define WINDOW 4096u
#define ID     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct event_base *base;

struct obs {
    struct kos__link *l;
    int closed;
    size_t held[KOS__LINK_CHANNELS];
    unsigned n;
    uint32_t open[KOS__LINK_STREAMS_MAX]; /* streams accepted: their channels */
};

static bool stream_known(struct obs *o, uint32_t ch, bool forget)
{
    for (uint32_t i = 0; i < KOS__LINK_STREAMS_MAX; i++)
        if (o->open[i] == ch) {
            if (forget)
                o->open[i] = 0;
            return true;
        }
    return false;
}

static void stream_add(struct obs *o, uint32_t ch)
{
    for (uint32_t i = 0; i < KOS__LINK_STREAMS_MAX; i++)
        if (!o->open[i]) {
            o->open[i] = ch;
            return;
        }
    kos_fuzz_fail("more than %u streams accepted", KOS__LINK_STREAMS_MAX);
}

static void on_up(void *arg, struct kos__link *l)
{
    /* Send something back, so credit and queues are exercised. */
    (void)arg;
    if (kos__link_send(l, 1, "ok", 2) != KOS_STATUS_OK)
        return; /* a full or closed link: nothing to check */
    (void)!kos__link_stream_open(l, 16, "echo", "fuzz"); /* refused by a server end */
}

static void on_stream_open(void *arg, struct kos__link *l, uint32_t ch, const char *dest,
                           const char *app)
{
    struct obs *o = arg;

    (void)app;
    if (ch < KOS__LINK_STREAM_FIRST || !dest[0])
        kos_fuzz_fail("Open reported on channel %u to '%s'", ch, dest);
    if ((unsigned char)dest[0] % 2 == 0 && kos__link_stream_accept(l, ch) == KOS_STATUS_OK)
        stream_add(o, ch);
    else
        kos__link_stream_close(l, ch, KOS_STATUS_NOT_FOUND, "no such destination");
}

static void on_stream_opened(void *arg, struct kos__link *l, uint32_t ch)
{
    stream_add(arg, ch);
    (void)!kos__link_send(l, ch, "hello", 5);
}

static void on_stream_closed(void *arg, struct kos__link *l, uint32_t ch, uint32_t code,
                             const char *reason)
{
    (void)l;
    (void)code;
    (void)reason;
    stream_known(arg, ch, true); /* a refusal closes one never accepted */
}

static kos_status_t on_data(void *arg, struct kos__link *l, uint32_t ch, const uint8_t *p, size_t n)
{
    struct obs *o = arg;

    (void)p;
    if (ch >= KOS__LINK_STREAM_FIRST) {
        if (!stream_known(o, ch, false))
            kos_fuzz_fail("data reported on stream %u, which is not open", ch);
        kos__link_consumed(l, ch, n);
        if (o->n++ % 3 == 0)
            (void)!kos__link_send(l, ch, p, n > 100 ? 100 : n); /* an echo, in part */
        if (o->n % 11 == 0)
            kos__link_stream_close(l, ch, 0, "done");
        return KOS_STATUS_OK;
    }
    if (ch == 0 || ch >= KOS__LINK_CHANNELS)
        kos_fuzz_fail("data reported on channel %u", ch);
    o->held[ch] += n;
    if (o->held[ch] > WINDOW)
        kos_fuzz_fail("%zu bytes on channel %u, beyond a window of %u", o->held[ch], ch, WINDOW);
    /* Take every other message at once; keep the rest (no credit back). */
    if (o->n++ % 2 == 0) {
        kos__link_consumed(l, ch, n);
        o->held[ch] -= n;
    }
    return ch == 2 && (o->n % 7) == 0 ? KOS_STATUS_UNSUPPORTED : KOS_STATUS_OK;
}

static void on_closed(void *arg, struct kos__link *l, const struct kos__link_end *end)
{
    struct obs *o = arg;

    (void)l;
    if (o->closed++)
        kos_fuzz_fail("closed() called twice");
    if (!end->why[0])
        kos_fuzz_fail("a link ended without saying why");
}

/* The device port's blob route reads the same bytes a server link does
 * (docs/link.md, "Blobs"): its parser answers 0, 400 or 404, says why when
 * it refuses, and takes only 64 lower-case hex digits for a digest. */
static void check_blob_request(const uint8_t *data, size_t size)
{
    struct kos__link_blob_req r;
    char why[192];
    int code;

    why[0] = '\0';
    code = kos__link_parse_blob_request((const char *)data, size, &r, why, sizeof(why));
    if (code != 0 && code != 400 && code != 404)
        kos_fuzz_fail("the blob request parser answered %d", code);
    if (code && !why[0])
        kos_fuzz_fail("the blob request parser refused without saying why");
    if (code == 0) {
        if (strlen(r.sha256) != 64 || strspn(r.sha256, "0123456789abcdef") != 64)
            kos_fuzz_fail("the blob request parser took digest '%s'", r.sha256);
        if (r.ranged && !r.range_bad && r.last < r.from)
            kos_fuzz_fail("the blob request parser took a range that ends before it starts");
    }
    (void)kos__link_is_blob_request((const char *)data, size);
}

/* The same bytes as the answer to a blob's ranged GET (the tunnel's fetch,
 * kos__link_parse_blob_response): [from, to) picked by the first byte.
 * Promised: a reason whenever it is not OK, and OK only for 200 or 206. */
static void blob_answer(const uint8_t *data, size_t size)
{
    uint64_t from = (uint64_t)(data[0] >> 1 & 7) * 100, to = from + 1000;
    char why[256] = "";
    kos_status_t st =
        kos__link_parse_blob_response((const char *)data + 1, size - 1, from, to, why, sizeof(why));

    if (st != KOS_STATUS_OK && !why[0])
        kos_fuzz_fail("blob answer: %s without a reason", kos_status_str(st));
    if (st == KOS_STATUS_OK && (size < 13 || (memcmp(data + 1, "HTTP/1.1 206", 12) != 0 &&
                                              memcmp(data + 1, "HTTP/1.1 200", 12) != 0)))
        kos_fuzz_fail("blob answer: ok without a 200 or 206");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bufferevent *pair[2];
    struct kos__link_config cfg = {.window = WINDOW,
                                   .agent = "fuzz",
                                   .host = "127.0.0.1:7443",
                                   .device_id = ID,
                                   .ws_key = "dGhlIHNhbXBsZSBub25jZQ==",
                                   .close_ms = 1};
    struct obs o = {0};
    static const struct kos__link_cbs cbs = {.up = on_up,
                                             .data = on_data,
                                             .stream_open = on_stream_open,
                                             .stream_opened = on_stream_opened,
                                             .stream_closed = on_stream_closed,
                                             .closed = on_closed};
    size_t piece;

    if (size < 1)
        return 0;
    check_blob_request(data + 1, size - 1);
    blob_answer(data, size);
    if (!base && !(base = event_base_new()))
        abort();
    cfg.role = (data[0] & 1) ? KOS__LINK_CLIENT : KOS__LINK_SERVER;
    piece = (size_t)1 << (data[0] >> 4); /* 1 byte to 32 KiB at a time */
    data++;
    size--;
    if (bufferevent_pair_new(base, 0, pair) != 0)
        abort();
    o.l = kos__link_new(base, pair[1], &cfg, &cbs, &o);
    if (!o.l)
        abort();
    bufferevent_enable(pair[0], EV_READ | EV_WRITE);
    while (size && !o.closed) {
        size_t k = size < piece ? size : piece;
        bufferevent_write(pair[0], data, k);
        data += k;
        size -= k;
        for (int i = 0; i < 4; i++)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    for (int i = 0; i < 8 && !o.closed; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    kos__link_free(o.l);
    bufferevent_free(pair[0]);
    for (int i = 0; i < 4; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    return 0;
}
