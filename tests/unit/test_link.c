/*
 * test_link.c - the device link (lib/link): the HTTP upgrade parsers and
 * the frame checker on good and bad input; a client and a server link over
 * a socketpair in one event loop (Hello, data both ways on several
 * channels, credit given back, one channel out of credit not blocking
 * another, close); and a raw peer that breaks the protocol in every way
 * docs/link.md names, each ending the link with its close code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "link.h"
#include "relay.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- one side's record of what its link did ---- */
struct side {
    struct kos__link *l;
    bool up, closed, consume;
    struct kos__link_end end;
    uint32_t got[KOS__LINK_CHANNELS]; /* messages received per channel */
    size_t bytes[KOS__LINK_CHANNELS];
    uint8_t last[KOS__LINK_CHANNELS][128];
    size_t last_len[KOS__LINK_CHANNELS];
    uint32_t rooms[KOS__LINK_CHANNELS];
    uint32_t refuse_ch; /* data() refuses this channel */
    /* streams: what was asked, opened, closed; the bytes they carried */
    uint32_t st_asked, st_opened, st_closed, st_code;
    char st_dest[64], st_reason[128];
    size_t st_bytes;
    uint32_t st_msgs; /* stream data messages received */
    size_t st_max;    /* ... the longest */
    uint8_t *st_sink; /* when set, the stream's bytes are kept here (st_cap at most) */
    size_t st_cap;
};

static struct event_base *base;

static void on_up(void *arg, struct kos__link *l)
{
    (void)l;
    ((struct side *)arg)->up = true;
}

static kos_status_t on_data(void *arg, struct kos__link *l, uint32_t ch, const uint8_t *p, size_t n)
{
    struct side *s = arg;

    if (ch >= KOS__LINK_STREAM_FIRST) {
        if (s->st_sink && s->st_bytes + n <= s->st_cap)
            memcpy(s->st_sink + s->st_bytes, p, n);
        s->st_msgs++;
        s->st_max = n > s->st_max ? n : s->st_max;
        s->st_bytes += n;
        kos__link_consumed(l, ch, n);
        return KOS_STATUS_OK;
    }
    if (ch == s->refuse_ch)
        return KOS_STATUS_UNSUPPORTED;
    s->got[ch]++;
    s->bytes[ch] += n;
    s->last_len[ch] = n < sizeof(s->last[ch]) ? n : sizeof(s->last[ch]);
    memcpy(s->last[ch], p, s->last_len[ch]);
    if (s->consume)
        kos__link_consumed(l, ch, n);
    return KOS_STATUS_OK;
}

static void on_room(void *arg, struct kos__link *l, uint32_t ch)
{
    (void)l;
    if (ch < KOS__LINK_CHANNELS) /* a stream's room: its sender just tries again */
        ((struct side *)arg)->rooms[ch]++;
}

static void on_closed(void *arg, struct kos__link *l, const struct kos__link_end *end)
{
    struct side *s = arg;

    assert_ptr_equal(l, s->l);
    assert_false(s->closed); /* once */
    s->closed = true;
    s->end = *end;
}

/* The server end of streams: "yes..." is accepted, anything else refused. */
static void on_stream_open(void *arg, struct kos__link *l, uint32_t ch, const char *dest,
                           const char *app)
{
    struct side *s = arg;

    assert_string_equal(app, "sensor");
    s->st_asked = ch;
    snprintf(s->st_dest, sizeof(s->st_dest), "%s", dest);
    if (!strncmp(dest, "yes", 3))
        assert_int_equal(kos__link_stream_accept(l, ch), KOS_STATUS_OK);
    else
        kos__link_stream_close(l, ch, KOS_STATUS_NOT_FOUND, "no such destination");
}

static void on_stream_opened(void *arg, struct kos__link *l, uint32_t ch)
{
    (void)l;
    ((struct side *)arg)->st_opened = ch;
}

static void on_stream_closed(void *arg, struct kos__link *l, uint32_t ch, uint32_t code,
                             const char *reason)
{
    struct side *s = arg;

    (void)l;
    s->st_closed = ch;
    s->st_code = code;
    snprintf(s->st_reason, sizeof(s->st_reason), "%s", reason);
}

/* A side's callbacks (each link's arg is its side). */
static const struct kos__link_cbs side_cbs = {.up = on_up,
                                              .data = on_data,
                                              .room = on_room,
                                              .stream_open = on_stream_open,
                                              .stream_opened = on_stream_opened,
                                              .stream_closed = on_stream_closed,
                                              .closed = on_closed};

/* Runs the loop until *flag, or fails after 5 s. */
static bool timed_out;
static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    timed_out = true;
}

/* Runs the loop while waiting(arg), or fails after 5 s. */
static void run_while(bool (*waiting)(const void *arg), const void *arg)
{
    struct event *guard = evtimer_new(base, guard_cb, NULL);
    struct timeval tv = {5, 0};

    timed_out = false;
    evtimer_add(guard, &tv);
    while (waiting(arg) && !timed_out)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(guard);
    assert_false(timed_out);
}

static bool unset(const void *flag)
{
    return !*(const bool *)flag;
}

static void run_until(const bool *flag)
{
    run_while(unset, flag);
}

/* Runs the loop until *n changes, or fails after 5 s. */
struct unchanged {
    const uint32_t *n;
    uint32_t was;
};

static bool same(const void *arg)
{
    const struct unchanged *u = arg;

    return *u->n == u->was;
}

static void run_until_progress(const uint32_t *n)
{
    struct unchanged u = {n, *n};

    run_while(same, &u);
}

/* Runs the loop for a moment (every ready callback, and ms of timers). */
static void settle(int ms)
{
    struct timeval tv = {0, ms * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void pair(struct bufferevent **a, struct bufferevent **b)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    *a = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    *b = bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(*a);
    assert_non_null(*b);
}

static struct kos__link_config config(enum kos__link_role role, uint32_t window)
{
    return (struct kos__link_config){.role = role,
                                     .window = window,
                                     .agent =
                                         role == KOS__LINK_CLIENT ? "test-device" : "test-server",
                                     .host = "127.0.0.1:7443",
                                     .device_id = ID};
}

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    return base ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    event_base_free(base);
    return 0;
}

/* ---- upgrade parsing ---- */

#define GOOD_REQ                                                                                   \
    "GET /kos/link/1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, "        \
    "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "            \
    "13\r\nSec-WebSocket-Protocol: chat, kos-link.1\r\n\r\n"

static int req(const char *s)
{
    char key[25], why[160];
    return kos__link_parse_request(s, strlen(s), key, why, sizeof(why));
}

static void test_request(void **state)
{
    char key[25], why[160], acc[KOS__LINK_ACCEPT_SIZE];

    (void)state;
    assert_int_equal(kos__link_parse_request(GOOD_REQ, strlen(GOOD_REQ), key, why, sizeof(why)),
                     101);
    assert_string_equal(key, "dGhlIHNhbXBsZSBub25jZQ==");
    kos__link_accept_key(key, acc);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455's example */
    assert_int_equal(req("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
    assert_int_equal(req("POST /kos/link/1 HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(req("GET /kos/blobs/1 HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(req("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"), 400);
    assert_int_equal(req("hello\r\n\r\n"), 400);
    assert_int_equal(req("GET /kos/link/1 HTTP/1.1\r\nno colon\r\n\r\n"), 400);
    assert_int_equal(req("GET /kos/link/1 HTTP/1.1\nHost: x\r\n\r\n"), 400);
    /* Each part of the upgrade missing or wrong. */
    const char *bad[] = {
        "GET /kos/link/1 HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: kos-link.1\r\n\r\n",
        "GET /kos/link/1 HTTP/1.1\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: kos-link.1\r\n\r\n",
        "GET /kos/link/1 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
        "Sec-WebSocket-Protocol: kos-link.1\r\n\r\n",
        "GET /kos/link/1 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: kos-link.1\r\n\r\n",
        "GET /kos/link/1 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: kos-link.1\r\n\r\n",
        "GET /kos/link/1 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: kos-link.1\r\n\r\n",
        "GET /kos/link/1 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: kos-link.2\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(req(bad[i]), 400);
}

static int blob(const char *s, struct kos__link_blob_req *r)
{
    char why[192];
    int code = kos__link_parse_blob_request(s, strlen(s), r, why, sizeof(why));

    assert_true(code == 0 || why[0]);
    return code;
}

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* GET /kos/blobs/<sha256> (docs/link.md, "Blobs"). */
static void test_blob_request(void **state)
{
    struct kos__link_blob_req r;

    (void)state;
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
    assert_string_equal(r.sha256, SHA);
    assert_false(r.ranged);
    assert_false(r.close);
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.1\r\nRange: bytes=10-\r\n"
                          "Connection: close\r\n\r\n",
                          &r),
                     0);
    assert_true(r.ranged && !r.range_bad && r.close);
    assert_int_equal(r.from, 10);
    assert_true(r.last == UINT64_MAX);
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.1\r\nRange: bytes=5-9\r\n\r\n", &r), 0);
    assert_true(r.ranged && !r.range_bad && r.from == 5 && r.last == 9);
    /* Forms of Range the route answers 416. */
    const char *ranges[] = {"bytes=-5", "bytes=0-1,5-9", "bytes=9-5",
                            "items=0-", "bytes=",        "bytes=99999999999999999999999-"};
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        char req[256];
        snprintf(req, sizeof(req), "GET /kos/blobs/" SHA " HTTP/1.1\r\nRange: %s\r\n\r\n",
                 ranges[i]);
        assert_int_equal(blob(req, &r), 0);
        assert_true(r.ranged && r.range_bad);
    }
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.1\r\nRange: bytes=0-\r\n"
                          "Range: bytes=1-\r\n\r\n",
                          &r),
                     0);
    assert_true(r.range_bad);
    /* HTTP/1.0 closes unless it asks to keep the connection. */
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.0\r\n\r\n", &r), 0);
    assert_true(r.close);
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r),
                     0);
    assert_false(r.close);
    /* Not such a GET. */
    assert_int_equal(blob("GET /kos/link/1 HTTP/1.1\r\n\r\n", &r), 404);
    assert_int_equal(blob("POST /kos/blobs/" SHA " HTTP/1.1\r\n\r\n", &r), 400);
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.1\r\nContent-Length: 3\r\n\r\n", &r), 400);
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r), 0);
    assert_int_equal(
        blob("GET /kos/blobs/" SHA " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r), 400);
    assert_int_equal(blob("GET /kos/blobs/0123 HTTP/1.1\r\n\r\n", &r), 400);
    assert_int_equal(blob("GET /kos/blobs/" SHA "0 HTTP/1.1\r\n\r\n", &r), 400);
    assert_int_equal(
        blob("GET /kos/blobs/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef "
             "HTTP/1.1\r\n\r\n",
             &r),
        400);
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.1\r\nno colon\r\n\r\n", &r), 400);
    assert_int_equal(blob("GET /kos/blobs/" SHA " HTTP/1.1\r\n\r\nextra", &r), 400);
    assert_int_equal(blob("hello\r\n\r\n", &r), 400);
    /* What the device port routes by: the request line. */
    assert_true(kos__link_is_blob_request("GET /kos/blobs/" SHA " HTTP/1.1", 80));
    assert_true(kos__link_is_blob_request("HEAD /kos/blobs/x", 17));
    assert_false(kos__link_is_blob_request("GET /kos/link/1 HTTP/1.1", 24));
    assert_false(kos__link_is_blob_request("GET /kos/blob", 13));
    assert_false(kos__link_is_blob_request("\x16\x03\x01", 3));
}

static void test_response(void **state)
{
    char why[160];
    const char *acc = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    const char *good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                       "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "Sec-WebSocket-Protocol: kos-link.1\r\n\r\n";
    const char *wrong = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                        "Upgrade\r\nSec-WebSocket-Accept: AAAALMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                        "Sec-WebSocket-Protocol: kos-link.1\r\n\r\n";
    const char *forbidden = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    const char *reason = "HTTP/1.1 202 Accepted\r\nKos-Reason: wait\xc3\xa9ing\r\n\r\n";

    (void)state;
    assert_int_equal(kos__link_parse_response(good, strlen(good), acc, why, sizeof(why)), 101);
    assert_int_equal(kos__link_parse_response(wrong, strlen(wrong), acc, why, sizeof(why)), -1);
    assert_int_equal(kos__link_parse_response(forbidden, strlen(forbidden), acc, why, sizeof(why)),
                     403);
    assert_int_equal(kos__link_parse_response("junk\r\n\r\n", 8, acc, why, sizeof(why)), -1);
    /* The server's reason, as printable ASCII. */
    assert_int_equal(kos__link_parse_response(reason, strlen(reason), acc, why, sizeof(why)), 202);
    assert_string_equal(why, "the server answered the upgrade with HTTP 202: wait??ing");
}

/* The answer to a blob's ranged GET (docs/link.md, "Blobs"): what may
 * pass, and each way it may not, with why. */
static kos_status_t blob_answer(const char *resp, uint64_t from, uint64_t to, char *why, size_t n)
{
    return kos__link_parse_blob_response(resp, strlen(resp), from, to, why, n);
}

static void test_blob_response(void **state)
{
    char why[KOS__LINK_REQUEST_MAX];
    static const struct {
        const char *resp;
        uint64_t from, to;
        kos_status_t st;
        const char *why; /* a part of it */
    } cases[] = {
        {"HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\n"
         "Content-Range: bytes 100-199/1000\r\nContent-Length: 100\r\n\r\n",
         100, 200, KOS_STATUS_OK, ""},
        {"HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 0-999/1000\r\n"
         "content-length: 1000\r\n\r\n",
         0, 1000, KOS_STATUS_OK, ""},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 0, 1000, KOS_STATUS_OK, ""},
        /* a 200 is the whole blob: only when from is 0 and it is `to` bytes */
        {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 100, 1000, KOS_STATUS_PROTOCOL,
         "HTTP 200 to a ranged GET"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", 0, 1000, KOS_STATUS_PROTOCOL,
         "HTTP 200 with 2000 bytes"},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0, 10, KOS_STATUS_NOT_FOUND,
         "no such blob"},
        {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 0, 10, KOS_STATUS_REFUSED,
         "refused"},
        {"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */5\r\n\r\n", 10, 20,
         KOS_STATUS_PROTOCOL, "HTTP 416"},
        {"HTTP/1.1 500 Oops\r\n\r\n", 0, 10, KOS_STATUS_PROTOCOL, "HTTP 500"},
        /* the range: exactly the one asked for */
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-299/1000\r\nContent-Length: 200\r\n\r\n", 100,
         200, KOS_STATUS_PROTOCOL, "Content-Range bytes 100-299/1000"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 0-99/1000\r\nContent-Length: 100\r\n\r\n", 100,
         200, KOS_STATUS_PROTOCOL, "asked for bytes 100-199"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/150\r\nContent-Length: 100\r\n\r\n", 100,
         200, KOS_STATUS_PROTOCOL, "/150"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/*\r\nContent-Length: 100\r\n\r\n", 100,
         200, KOS_STATUS_PROTOCOL, "malformed Content-Range"},
        {"HTTP/1.1 206 P\r\nContent-Range: items 100-199/1000\r\nContent-Length: 100\r\n\r\n", 100,
         200, KOS_STATUS_PROTOCOL, "malformed Content-Range"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/1000\r\nContent-Range: bytes "
         "100-199/1000\r\nContent-Length: 100\r\n\r\n",
         100, 200, KOS_STATUS_PROTOCOL, "two Content-Range"},
        {"HTTP/1.1 206 P\r\nContent-Length: 100\r\n\r\n", 100, 200, KOS_STATUS_PROTOCOL,
         "without a Content-Range"},
        /* the length: the range's, once, in decimal */
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/1000\r\nContent-Length: 101\r\n\r\n", 100,
         200, KOS_STATUS_PROTOCOL, "Content-Length 101 for a range of 100"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/1000\r\n\r\n", 100, 200,
         KOS_STATUS_PROTOCOL, "without a Content-Length"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/1000\r\nContent-Length: 100\r\n"
         "Content-Length: 100\r\n\r\n",
         100, 200, KOS_STATUS_PROTOCOL, "two Content-Length"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/1000\r\nContent-Length: +100\r\n\r\n", 100,
         200, KOS_STATUS_PROTOCOL, "malformed Content-Length"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/1000\r\nContent-Length: "
         "99999999999999999999999\r\n\r\n",
         100, 200, KOS_STATUS_PROTOCOL, "malformed Content-Length"},
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/99999999999999999999\r\n"
         "Content-Length: 100\r\n\r\n",
         100, 200, KOS_STATUS_PROTOCOL, "malformed Content-Range"},
        /* never chunked */
        {"HTTP/1.1 206 P\r\nContent-Range: bytes 100-199/1000\r\nContent-Length: 100\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         100, 200, KOS_STATUS_PROTOCOL, "Transfer-Encoding header (chunked)"},
        /* not HTTP/1.1, or not a header block */
        {"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n", 0, 10, KOS_STATUS_PROTOCOL,
         "not an HTTP/1.1 response"},
        {"junk\r\n\r\n", 0, 10, KOS_STATUS_PROTOCOL, "not an HTTP/1.1 response"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n", 0, 10, KOS_STATUS_PROTOCOL, "without CRLF"},
        {"HTTP/1.1 200 OK\r\nContent Length: 10\r\n\r\n", 0, 10, KOS_STATUS_PROTOCOL,
         "malformed response header"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nbody", 0, 10, KOS_STATUS_PROTOCOL,
         "bytes after"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 10, 10, KOS_STATUS_INVALID_ARGUMENT,
         "empty range"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why[0] = '\0';
        kos_status_t st = blob_answer(cases[i].resp, cases[i].from, cases[i].to, why, sizeof(why));
        if (st != cases[i].st || !strstr(why, cases[i].why))
            fail_msg("case %zu: %s (%s), expected %s (%s)", i, kos_status_str(st), why,
                     kos_status_str(cases[i].st), cases[i].why);
    }
    /* A header block cut anywhere is never read past its end. */
    const char *full = cases[0].resp;
    for (size_t n = 0; n < strlen(full); n++) {
        char *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, full, n);
        assert_int_not_equal(kos__link_parse_blob_response(cut, n, 100, 200, why, sizeof(why)),
                             KOS_STATUS_OK);
        free(cut);
    }
}

/* ---- frames ---- */

/* Writes a frame header (and a zero mask) into out; returns its length. */
static size_t frame_hdr(uint8_t *out, uint8_t b0, bool mask, uint64_t len)
{
    size_t n = 0;

    out[n++] = b0;
    if (len < 126) {
        out[n++] = (uint8_t)((mask ? 0x80 : 0) | len);
    } else if (len < 65536) {
        out[n++] = (uint8_t)((mask ? 0x80 : 0) | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)((mask ? 0x80 : 0) | 127);
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask)
        for (int i = 0; i < 4; i++)
            out[n++] = 0;
    return n;
}

static uint16_t check(bool from_client, uint8_t b0, bool mask, uint64_t len)
{
    struct kos__link_frames f;
    uint8_t h[14];
    char why[160];
    size_t n = frame_hdr(h, b0, mask, len);

    kos__link_frames_init(&f, from_client);
    return kos__link_frames_feed(&f, h, n, why, sizeof(why));
}

static void test_frames(void **state)
{
    (void)state;
    assert_int_equal(check(true, 0x82, true, 10), 0);
    assert_int_equal(check(true, 0x82, true, 65536), 0);
    assert_int_equal(check(true, 0x82, true, 65537), KOS__LINK_CLOSE_TOO_BIG);
    assert_int_equal(check(true, 0x82, true, 1ull << 62), KOS__LINK_CLOSE_TOO_BIG);
    assert_int_equal(check(true, 0x82, false, 10), KOS__LINK_CLOSE_PROTOCOL); /* unmasked */
    assert_int_equal(check(false, 0x82, true, 10), KOS__LINK_CLOSE_PROTOCOL); /* masked */
    assert_int_equal(check(false, 0x82, false, 10), 0);
    assert_int_equal(check(true, 0x81, true, 10), KOS__LINK_CLOSE_DATA);      /* text */
    assert_int_equal(check(true, 0x02, true, 10), KOS__LINK_CLOSE_PROTOCOL);  /* fragment */
    assert_int_equal(check(true, 0x80, true, 10), KOS__LINK_CLOSE_PROTOCOL);  /* continuation */
    assert_int_equal(check(true, 0x09, true, 0), KOS__LINK_CLOSE_PROTOCOL);   /* ping, no FIN */
    assert_int_equal(check(true, 0x89, true, 126), KOS__LINK_CLOSE_PROTOCOL); /* long ping */
    assert_int_equal(check(true, 0x89, true, 125), 0);
    assert_int_equal(check(true, 0x83, true, 1), KOS__LINK_CLOSE_PROTOCOL); /* opcode 3 */
    assert_int_equal(check(true, 0x8b, true, 1), KOS__LINK_CLOSE_PROTOCOL); /* opcode 11 */
    assert_int_equal(check(true, 0xc2, true, 1), KOS__LINK_CLOSE_PROTOCOL); /* RSV1 */
    /* A length not in its shortest form, and one with the top bit. */
    uint8_t h[14] = {0x82, 0x80 | 126, 0, 5, 0, 0, 0, 0};
    struct kos__link_frames f;
    char why[160];
    kos__link_frames_init(&f, true);
    assert_int_equal(kos__link_frames_feed(&f, h, 8, why, sizeof(why)), KOS__LINK_CLOSE_PROTOCOL);
    uint8_t h2[14] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    kos__link_frames_init(&f, true);
    assert_int_equal(kos__link_frames_feed(&f, h2, 14, why, sizeof(why)), KOS__LINK_CLOSE_PROTOCOL);
    /* Two good frames fed a byte at a time: payloads are skipped. */
    uint8_t two[64];
    size_t n = frame_hdr(two, 0x82, true, 3);
    memcpy(two + n, "abc", 3);
    n += 3;
    n += frame_hdr(two + n, 0x8a, true, 0);
    kos__link_frames_init(&f, true);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(kos__link_frames_feed(&f, two + i, 1, why, sizeof(why)), 0);
}

/* ---- two links ---- */

struct two {
    struct side c, s;
};

static void connect_two(struct two *t, uint32_t cwin, uint32_t swin, size_t cbound)
{
    struct bufferevent *a, *b;
    struct kos__link_config cc = config(KOS__LINK_CLIENT, cwin),
                            sc = config(KOS__LINK_SERVER, swin);

    memset(t, 0, sizeof(*t));
    t->c.consume = t->s.consume = true;
    cc.send_bound = cbound;
    pair(&a, &b);
    t->s.l = kos__link_new(base, b, &sc, &side_cbs, &t->s);
    t->c.l = kos__link_new(base, a, &cc, &side_cbs, &t->c);
    assert_non_null(t->s.l);
    assert_non_null(t->c.l);
    run_until(&t->c.up);
    run_until(&t->s.up);
}

/* A configuration the link cannot keep is refused (NULL, the bufferevent
 * freed: ASan would see it leak): windows out of 4 KiB-1 MiB, a send
 * bound over KOS__LINK_SEND_BOUND_MAX, an agent or a device id over 64
 * bytes, and a dozer for a bufferevent that is not TLS over a socket. The
 * same configuration with none of these is taken. */
static void test_bad_config(void **state)
{
    char long_text[KOS__LINK_AGENT_MAX + 2];
    struct kos__link_dozer *dz = kos__link_dozer_new(base, 10);
    struct bufferevent *a, *b;
    struct kos__link *l;

    (void)state;
    assert_non_null(dz);
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    for (int i = 0; i < 8; i++) {
        struct kos__link_config c = config(KOS__LINK_SERVER, 8192);
        struct side s = {0};
        switch (i) {
        case 0:
            c.window = KOS__LINK_WINDOW_MIN - 1;
            break;
        case 1:
            c.window = KOS__LINK_WINDOW_MAX + 1;
            break;
        case 2:
            c.stream_window = KOS__LINK_WINDOW_MAX + 1;
            break;
        case 3:
            c.send_bound = (size_t)KOS__LINK_SEND_BOUND_MAX + 1;
            break;
        case 4:
            c.agent = long_text;
            break;
        case 5:
            c.device_id = long_text;
            break;
        case 6:
            c.dozer = dz;
            break;
        default:
            break; /* the good one */
        }
        pair(&a, &b);
        l = kos__link_new(base, b, &c, &side_cbs, &s);
        if (i < 7)
            assert_null(l);
        else
            assert_non_null(l);
        kos__link_free(l);
        bufferevent_free(a);
    }
    kos__link_dozer_free(dz);
}

/* A server link for a pending device (docs/link.md, "Pending devices"):
 * a good upgrade is answered 202 with the reason, neither end opens, and
 * the device's end says why, with the reason, as an upgrade end (not a
 * refusal). A bad request is still answered 400. */
static void test_pending(void **state)
{
    struct bufferevent *a, *b;
    struct kos__link_config cc = config(KOS__LINK_CLIENT, 8192),
                            sc = config(KOS__LINK_SERVER, 8192);
    struct two t;

    (void)state;
    memset(&t, 0, sizeof(t));
    sc.pending = "waiting for approval in Studio";
    pair(&a, &b);
    t.s.l = kos__link_new(base, b, &sc, &side_cbs, &t.s);
    t.c.l = kos__link_new(base, a, &cc, &side_cbs, &t.c);
    run_until(&t.c.closed);
    run_until(&t.s.closed);
    assert_false(t.c.up);
    assert_false(t.s.up);
    assert_int_equal(t.c.end.kind, KOS__LINK_END_UPGRADE);
    assert_int_equal(t.c.end.http_status, 202);
    assert_string_equal(t.c.end.why, "the server answered the upgrade with HTTP 202: waiting for "
                                     "approval in Studio");
    assert_int_equal(t.s.end.http_status, 202);
    kos__link_free(t.c.l);
    kos__link_free(t.s.l);
}

static void test_hello_and_data(void **state)
{
    struct two t;
    char msg[64];

    (void)state;
    connect_two(&t, 8192, 16384, 0);
    assert_int_equal(kos__link_state(t.c.l), KOS__LINK_UP);
    assert_string_equal(kos__link_device_id(t.c.l), ID);
    assert_string_equal(kos__link_peer_agent(t.c.l), "test-server");
    assert_string_equal(kos__link_peer_agent(t.s.l), "test-device");
    assert_int_equal(kos__link_peer_window(t.c.l), 16384);
    assert_int_equal(kos__link_peer_window(t.s.l), 8192);
    assert_int_equal(kos__link_credit(t.c.l, 1), 16384);
    /* Data both ways on several channels. */
    for (uint32_t ch = 1; ch <= 5; ch++) {
        snprintf(msg, sizeof(msg), "up on %u", ch);
        assert_int_equal(kos__link_send(t.c.l, ch, msg, strlen(msg)), KOS_STATUS_OK);
        snprintf(msg, sizeof(msg), "down on %u", ch);
        assert_int_equal(kos__link_send(t.s.l, ch, msg, strlen(msg)), KOS_STATUS_OK);
    }
    while (t.s.got[5] == 0 || t.c.got[5] == 0)
        event_base_loop(base, EVLOOP_ONCE);
    for (uint32_t ch = 1; ch <= 5; ch++) {
        snprintf(msg, sizeof(msg), "up on %u", ch);
        assert_int_equal(t.s.last_len[ch], strlen(msg));
        assert_memory_equal(t.s.last[ch], msg, strlen(msg));
        snprintf(msg, sizeof(msg), "down on %u", ch);
        assert_memory_equal(t.c.last[ch], msg, strlen(msg));
    }
    /* Everything was taken: the credit came back whole. */
    settle(20);
    for (uint32_t ch = 1; ch <= 5; ch++) {
        assert_int_equal(kos__link_credit(t.c.l, ch), 16384);
        assert_int_equal(kos__link_credit(t.s.l, ch), 8192);
    }
    /* Many messages: more than a window's worth flows as credit returns. */
    static uint8_t big[4000];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 40; i++) {
        while (kos__link_send(t.c.l, 1, big, sizeof(big)) == KOS_STATUS_BUSY)
            event_base_loop(base, EVLOOP_ONCE);
    }
    while (t.s.bytes[1] < 40 * sizeof(big) + strlen("up on 1"))
        event_base_loop(base, EVLOOP_ONCE);
    /* Limits: channel 0 and 6 are not for data; nothing over the window. */
    assert_int_equal(kos__link_send(t.c.l, 0, "x", 1), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__link_send(t.c.l, 6, "x", 1), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__link_send(t.s.l, 1, big, 8193 > sizeof(big) ? sizeof(big) : 1),
                     KOS_STATUS_OK);
    static uint8_t huge[20000];
    assert_int_equal(kos__link_send(t.c.l, 1, huge, sizeof(huge)), KOS_STATUS_TOO_LARGE);
    /* Close: both ends see it. */
    kos__link_close(t.c.l, 0, "done");
    run_until(&t.s.closed);
    run_until(&t.c.closed);
    assert_int_equal(t.c.end.kind, KOS__LINK_END_LOCAL);
    assert_int_equal(t.s.end.kind, KOS__LINK_END_PEER);
    assert_non_null(strstr(t.s.end.why, "done"));
    assert_int_equal(kos__link_send(t.c.l, 1, "x", 1), KOS_STATUS_UNAVAILABLE);
    kos__link_free(t.c.l);
    kos__link_free(t.s.l);
}

/* Streams: opened and accepted, data both ways, refused with a status and
 * a reason, at most KOS__LINK_STREAMS_MAX, closed from either end (after
 * the data queued), and the calls' refusals of bad arguments. */
static void test_streams(void **state)
{
    struct two t;
    static uint8_t chunk[3000];
    bool done;

    (void)state;
    connect_two(&t, 8192, 8192, 0);
    assert_int_equal(kos__link_stream_open(t.c.l, 16, "yes", "sensor"), KOS_STATUS_OK);
    assert_int_equal(kos__link_send(t.c.l, 16, "x", 1), KOS_STATUS_UNAVAILABLE); /* not yet */
    while (t.c.st_opened != 16)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.s.st_asked, 16);
    assert_string_equal(t.s.st_dest, "yes");
    for (int i = 0; i < 10; i++) { /* beyond a window: credit flows back */
        while (kos__link_send(t.c.l, 16, chunk, sizeof(chunk)) == KOS_STATUS_BUSY)
            event_base_loop(base, EVLOOP_ONCE);
        while (kos__link_send(t.s.l, 16, chunk, 1000) == KOS_STATUS_BUSY)
            event_base_loop(base, EVLOOP_ONCE);
    }
    while (t.s.st_bytes < 30000 || t.c.st_bytes < 10000)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.s.bytes[1] + t.s.bytes[2], 0); /* nothing leaked onto the fixed ones */
    /* A refusal: its status and reason, and the channel free at once. */
    assert_int_equal(kos__link_stream_open(t.c.l, 17, "nowhere", "sensor"), KOS_STATUS_OK);
    while (t.c.st_closed != 17)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.c.st_code, KOS_STATUS_NOT_FOUND);
    assert_string_equal(t.c.st_reason, "no such destination");
    assert_int_equal(kos__link_streams(t.c.l), 1);
    /* The bound, and a channel in use. */
    for (uint32_t ch = 100; ch < 100 + KOS__LINK_STREAMS_MAX - 1; ch++)
        assert_int_equal(kos__link_stream_open(t.c.l, ch, "yes", "sensor"), KOS_STATUS_OK);
    assert_int_equal(kos__link_stream_open(t.c.l, 200, "yes", "sensor"), KOS_STATUS_BUSY);
    assert_int_equal(kos__link_stream_open(t.c.l, 16, "yes", "sensor"), KOS_STATUS_ALREADY_EXISTS);
    while (t.c.st_opened != 100 + KOS__LINK_STREAMS_MAX - 2)
        event_base_loop(base, EVLOOP_ONCE);
    /* The device closes 16 after what it queued: the server gets it all,
     * then the Close; both ends free the channel. */
    t.s.st_bytes = 0;
    assert_int_equal(kos__link_send(t.c.l, 16, chunk, sizeof(chunk)), KOS_STATUS_OK);
    kos__link_stream_close(t.c.l, 16, 0, "done");
    assert_int_equal(kos__link_send(t.c.l, 16, "x", 1), KOS_STATUS_CLOSED);
    while (t.s.st_closed != 16)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.s.st_bytes, sizeof(chunk));
    assert_int_equal(t.s.st_code, 0);
    assert_string_equal(t.s.st_reason, "done");
    done = false;
    while (!done) {
        event_base_loop(base, EVLOOP_ONCE);
        done = kos__link_streams(t.c.l) == KOS__LINK_STREAMS_MAX - 1 &&
               kos__link_streams(t.s.l) == KOS__LINK_STREAMS_MAX - 1;
    }
    /* The server ends one with an error: the device hears the status. */
    kos__link_stream_close(t.s.l, 101, KOS_STATUS_IO, "the destination failed");
    while (t.c.st_closed != 101)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.c.st_code, KOS_STATUS_IO);
    assert_int_equal(kos__link_send(t.s.l, 101, "x", 1), KOS_STATUS_CLOSED);
    /* Bad arguments. */
    assert_int_equal(kos__link_stream_open(t.c.l, 15, "yes", "sensor"),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__link_stream_open(t.c.l, 70000, "yes", "sensor"),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__link_stream_open(t.c.l, 300, "", "sensor"), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__link_stream_open(t.c.l, 300, "a\nb", "sensor"),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__link_stream_accept(t.s.l, 102), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__link_send(t.c.l, 10, "x", 1), KOS_STATUS_INVALID_ARGUMENT);
    /* The link ends: every stream with it. */
    kos__link_close(t.c.l, 0, "done");
    run_until(&t.s.closed);
    run_until(&t.c.closed);
    kos__link_free(t.c.l);
    kos__link_free(t.s.l);
}

/* The server takes nothing on channel 2: the device's channel 2 runs out of
 * credit and fills its bound, while channel 1 flows both ways. */
static void test_credit_isolation(void **state)
{
    struct two t;
    static uint8_t chunk[1000];
    int busy = 0, sent = 0;

    (void)state;
    connect_two(&t, 4096, 4096, 3000);
    t.s.consume = false; /* the server keeps what it gets */
    for (int i = 0; i < 20 && !busy; i++) {
        kos_status_t st = kos__link_send(t.c.l, 2, chunk, sizeof(chunk));
        if (st == KOS_STATUS_BUSY)
            busy = 1;
        else
            assert_int_equal(st, KOS_STATUS_OK), sent++;
        settle(1);
    }
    assert_true(busy);
    assert_int_equal(t.s.bytes[2], 4000); /* the window, no more */
    assert_true(kos__link_queued(t.c.l, 2) > 0);
    /* Channel 1 is not blocked: messages both ways. */
    t.s.consume = true;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(kos__link_send(t.c.l, 1, chunk, 100), KOS_STATUS_OK);
        assert_int_equal(kos__link_send(t.s.l, 1, chunk, 100), KOS_STATUS_OK);
    }
    while (t.s.got[1] < 10 || t.c.got[1] < 10)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.s.bytes[2], 4000);
    /* The server takes channel 2's data: credit returns, the queue drains,
     * and the device hears it has room. */
    kos__link_consumed(t.s.l, 2, 4000);
    while (t.c.rooms[2] == 0)
        event_base_loop(base, EVLOOP_ONCE);
    kos__link_free(t.c.l);
    kos__link_free(t.s.l);
}

/* A data() that refuses a channel ends the link with 1003. */
static void test_refused_channel(void **state)
{
    struct two t;

    (void)state;
    connect_two(&t, 4096, 4096, 0);
    t.s.refuse_ch = 2;
    assert_int_equal(kos__link_send(t.c.l, 2, "x", 1), KOS_STATUS_OK);
    run_until(&t.s.closed);
    run_until(&t.c.closed);
    assert_int_equal(t.s.end.kind, KOS__LINK_END_VIOLATION);
    assert_int_equal(t.s.end.code, KOS__LINK_CLOSE_DATA);
    assert_int_equal(t.c.end.kind, KOS__LINK_END_PEER);
    assert_int_equal(t.c.end.code, KOS__LINK_CLOSE_DATA);
    kos__link_free(t.c.l);
    kos__link_free(t.s.l);
}

/* ---- a raw peer ---- */

struct raw {
    struct bufferevent *bev;
    struct evbuffer *got;
    bool eof;
};

static void raw_read(struct bufferevent *bev, void *arg)
{
    struct raw *r = arg;
    evbuffer_add_buffer(r->got, bufferevent_get_input(bev));
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        ((struct raw *)arg)->eof = true;
}

static void raw_send(struct raw *r, const void *p, size_t n)
{
    bufferevent_write(r->bev, p, n);
}

static size_t varint(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    do {
        o[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* Sends payload p[0..n) in one binary frame (masked when the raw peer is a
 * client), or with another first byte b0. */
static void raw_frame(struct raw *r, bool client, uint8_t b0, const uint8_t *p, size_t n)
{
    uint8_t h[14];
    size_t hn = frame_hdr(h, b0, client, n);
    raw_send(r, h, hn);
    if (n)
        raw_send(r, p, n);
}

static size_t env_hello(uint8_t *o, uint32_t version, uint32_t window, const char *id)
{
    uint8_t h[128];
    size_t n = 0, k = 0;

    h[n++] = 0x08;
    n += varint(h + n, version);
    h[n++] = 0x12;
    h[n++] = 3;
    memcpy(h + n, "raw", 3);
    n += 3;
    h[n++] = 0x18;
    n += varint(h + n, window);
    if (id) {
        h[n++] = 0x22;
        h[n++] = (uint8_t)strlen(id);
        memcpy(h + n, id, strlen(id));
        n += strlen(id);
    }
    o[k++] = 0x08;
    o[k++] = 0;
    o[k++] = 0x12;
    k += varint(o + k, n);
    memcpy(o + k, h, n);
    return k + n;
}

static size_t env_data(uint8_t *o, uint32_t ch, size_t len)
{
    size_t k = 0;
    o[k++] = 0x08;
    k += varint(o + k, ch);
    o[k++] = 0x22;
    k += varint(o + k, len);
    memset(o + k, 'd', len);
    return k + len;
}

/* A server link and a raw client past the upgrade (and its Hello unless
 * hello is false). */
static void raw_client(struct side *s, struct raw *r, int hello)
{
    struct bufferevent *a, *b;
    struct kos__link_config sc = config(KOS__LINK_SERVER, 4096);
    uint8_t e[256];

    memset(s, 0, sizeof(*s));
    memset(r, 0, sizeof(*r));
    s->consume = true;
    sc.upgrade_ms = 200;
    pair(&a, &b);
    r->bev = a;
    r->got = evbuffer_new();
    bufferevent_setcb(a, raw_read, NULL, raw_event, r);
    bufferevent_enable(a, EV_READ | EV_WRITE);
    s->l = kos__link_new(base, b, &sc, &side_cbs, s);
    assert_non_null(s->l);
    if (hello < 0)
        return;
    raw_send(r, GOOD_REQ, strlen(GOOD_REQ));
    if (hello) {
        size_t n = env_hello(e, 1, 4096, NULL);
        raw_frame(r, true, 0x82, e, n);
        run_until(&s->up);
    }
}

static void raw_free(struct side *s, struct raw *r)
{
    kos__link_free(s->l);
    bufferevent_free(r->bev);
    evbuffer_free(r->got);
}

/* The close code in the last close frame the raw peer received (0: none). */
static uint16_t close_code_seen(struct raw *r)
{
    size_t len = evbuffer_get_length(r->got);
    uint8_t *p = evbuffer_pullup(r->got, -1);
    size_t i;
    uint16_t code = 0;

    /* past the HTTP response */
    for (i = 0; i + 3 < len; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0)
            break;
    for (i += 4; i + 2 <= len;) {
        uint8_t op = p[i] & 0x0f;
        bool masked = p[i + 1] & 0x80;
        uint64_t n = p[i + 1] & 0x7f;
        size_t h = 2;
        if (n == 126) {
            n = (uint64_t)p[i + 2] << 8 | p[i + 3];
            h = 4;
        } else if (n == 127) {
            n = 0;
            for (int k = 0; k < 8; k++)
                n = n << 8 | p[i + 2 + k];
            h = 10;
        }
        if (masked)
            h += 4;
        if (i + h + n > len)
            break;
        if (op == 8 && n >= 2) {
            uint8_t m0 = masked ? p[i + h - 4] : 0, m1 = masked ? p[i + h - 3] : 0;
            code = (uint16_t)((p[i + h] ^ m0) << 8 | (p[i + h + 1] ^ m1));
        }
        i += h + (size_t)n;
    }
    return code;
}

static void expect_violation(struct side *s, struct raw *r, uint16_t code)
{
    run_until(&s->closed);
    assert_int_equal(s->end.kind, KOS__LINK_END_VIOLATION);
    assert_int_equal(s->end.code, code);
    settle(5);
    assert_int_equal(close_code_seen(r), code);
}

static void test_violations(void **state)
{
    struct side s;
    struct raw r;
    uint8_t e[70000];
    size_t n;

    (void)state;
    /* A text frame. */
    raw_client(&s, &r, 1);
    raw_frame(&r, true, 0x81, (const uint8_t *)"hi", 2);
    expect_violation(&s, &r, KOS__LINK_CLOSE_DATA);
    raw_free(&s, &r);
    /* An unmasked frame from the client. */
    raw_client(&s, &r, 1);
    n = env_data(e, 1, 4);
    raw_frame(&r, false, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    /* A fragmented control frame, and an unknown opcode. */
    raw_client(&s, &r, 1);
    raw_frame(&r, true, 0x09, NULL, 0);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    raw_client(&s, &r, 1);
    raw_frame(&r, true, 0x85, (const uint8_t *)"?", 1);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    /* Too big: the header says so, nothing more is read. */
    raw_client(&s, &r, 1);
    {
        uint8_t h[14];
        size_t hn = frame_hdr(h, 0x82, true, 1ull << 40);
        raw_send(&r, h, hn);
    }
    expect_violation(&s, &r, KOS__LINK_CLOSE_TOO_BIG);
    raw_free(&s, &r);
    raw_client(&s, &r, 1);
    n = env_data(e, 1, 65540);
    raw_frame(&r, true, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_TOO_BIG);
    raw_free(&s, &r);
    /* Data before Hello; a bad Hello version; a window too small. */
    raw_client(&s, &r, 0);
    n = env_data(e, 1, 4);
    raw_frame(&r, true, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    raw_client(&s, &r, 0);
    n = env_hello(e, 2, 4096, NULL);
    raw_frame(&r, true, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    raw_client(&s, &r, 0);
    n = env_hello(e, 1, 100, NULL);
    raw_frame(&r, true, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    /* A second Hello. */
    raw_client(&s, &r, 1);
    n = env_hello(e, 1, 4096, NULL);
    raw_frame(&r, true, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    /* Data beyond the credit given (the server's window is 4096). */
    raw_client(&s, &r, 1);
    s.consume = false;
    n = env_data(e, 1, 3000);
    raw_frame(&r, true, 0x82, e, n);
    raw_frame(&r, true, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_POLICY);
    assert_int_equal(s.got[1], 1);
    raw_free(&s, &r);
    /* A malformed envelope; an unknown body; data on channel 0 and 9. */
    raw_client(&s, &r, 1);
    raw_frame(&r, true, 0x82, (const uint8_t *)"\xff\xff\xff", 3);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    raw_client(&s, &r, 1);
    raw_frame(&r, true, 0x82, (const uint8_t *)"\x08\x01\x4a\x00", 4);
    expect_violation(&s, &r, KOS__LINK_CLOSE_DATA);
    raw_free(&s, &r);
    raw_client(&s, &r, 1);
    n = env_data(e, 0, 4);
    raw_frame(&r, true, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&s, &r);
    raw_client(&s, &r, 1);
    n = env_data(e, 9, 4);
    raw_frame(&r, true, 0x82, e, n);
    expect_violation(&s, &r, KOS__LINK_CLOSE_DATA);
    raw_free(&s, &r);
}

static void expect_http(struct side *s, struct raw *r, const char *request, int status)
{
    char line[32];

    raw_client(s, r, -1);
    raw_send(r, request, strlen(request));
    run_until(&s->closed);
    assert_int_equal(s->end.kind, KOS__LINK_END_UPGRADE);
    assert_int_equal(s->end.http_status, status);
    settle(5);
    snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
    assert_true(evbuffer_get_length(r->got) >= strlen(line));
    assert_memory_equal(evbuffer_pullup(r->got, -1), line, strlen(line));
    raw_free(s, r);
}

static void test_http(void **state)
{
    struct side s;
    struct raw r;
    static char big[9000];

    (void)state;
    expect_http(&s, &r, "GET / HTTP/1.1\r\n\r\n", 404);
    expect_http(&s, &r, "\x16\x03\x01 hello\r\n\r\n", 400);
    memset(big, 'a', sizeof(big) - 1);
    expect_http(&s, &r, big, 400);
    /* Nothing within the upgrade time: ended, no answer. */
    raw_client(&s, &r, -1);
    raw_send(&r, "GET /kos/li", 11);
    run_until(&s.closed);
    assert_int_equal(s.end.kind, KOS__LINK_END_TIMEOUT);
    raw_free(&s, &r);
}

/* The client end: a raw server that answers 403; one whose frames are
 * masked; one that is silent after the upgrade. */
static void raw_server(struct side *c, struct raw *r, uint32_t idle_ms)
{
    struct bufferevent *a, *b;
    struct kos__link_config cc = config(KOS__LINK_CLIENT, 4096);

    memset(c, 0, sizeof(*c));
    memset(r, 0, sizeof(*r));
    cc.idle_ms = idle_ms;
    cc.ping_ms = 60000;
    cc.ws_key = "dGhlIHNhbXBsZSBub25jZQ==";
    pair(&a, &b);
    r->bev = b;
    r->got = evbuffer_new();
    bufferevent_setcb(b, raw_read, NULL, raw_event, r);
    bufferevent_enable(b, EV_READ | EV_WRITE);
    c->l = kos__link_new(base, a, &cc, &side_cbs, c);
    assert_non_null(c->l);
}

static const char ACCEPTED[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: "
    "kos-link.1\r\n\r\n";

static void test_client_end(void **state)
{
    struct side c;
    struct raw r;
    uint8_t e[256];
    size_t n;

    (void)state;
    raw_server(&c, &r, 0);
    raw_send(&r, "HTTP/1.1 403 Forbidden\r\n\r\n", 26);
    run_until(&c.closed);
    assert_int_equal(c.end.kind, KOS__LINK_END_REFUSED);
    assert_int_equal(c.end.http_status, 403);
    raw_free(&c, &r);

    raw_server(&c, &r, 0);
    raw_send(&r, ACCEPTED, strlen(ACCEPTED));
    n = env_hello(e, 1, 4096, ID);
    raw_frame(&r, false, 0x82, e, n);
    run_until(&c.up);
    assert_string_equal(kos__link_device_id(c.l), ID);
    raw_frame(&r, true, 0x82, e, n); /* masked, from a server */
    expect_violation(&c, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&c, &r);

    raw_server(&c, &r, 0);
    raw_send(&r, ACCEPTED, strlen(ACCEPTED));
    n = env_hello(e, 1, 4096, "not hex!");
    raw_frame(&r, false, 0x82, e, n);
    expect_violation(&c, &r, KOS__LINK_CLOSE_PROTOCOL);
    raw_free(&c, &r);

    /* Silence: the link ends after idle_ms. */
    raw_server(&c, &r, 100);
    raw_send(&r, ACCEPTED, strlen(ACCEPTED));
    run_until(&c.closed);
    assert_int_equal(c.end.kind, KOS__LINK_END_TIMEOUT);
    raw_free(&c, &r);

    /* The server goes away: an I/O end. */
    raw_server(&c, &r, 0);
    raw_send(&r, ACCEPTED, strlen(ACCEPTED));
    settle(5);
    bufferevent_free(r.bev);
    r.bev = NULL;
    run_until(&c.closed);
    assert_int_equal(c.end.kind, KOS__LINK_END_IO);
    kos__link_free(c.l);
    evbuffer_free(r.got);
}

/* ---- a stream relayed to a connection (relay.h) ---- */

static void relay_ended(void *arg, struct kos__relay *r, uint32_t code, const char *why)
{
    (void)r;
    (void)code;
    (void)why;
    *(bool *)arg = true;
}

/* A connected pair of loopback TCP sockets, as the tunnel's from ethernet:
 * fd[0] the app's (blocking), fd[1] the relay's (non-blocking). */
static void tcp_pair(int fd[2])
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int lis = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(lis >= 0);
    assert_int_equal(bind(lis, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(lis, 1), 0);
    assert_int_equal(getsockname(lis, (struct sockaddr *)&sin, &len), 0);
    fd[0] = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
    fd[1] = accept(lis, NULL, NULL);
    assert_true(fd[1] >= 0);
    evutil_make_socket_nonblocking(fd[1]);
    close(lis);
}

/* Bytes an app wrote at once go out in whole envelopes of up to
 * KOS__RELAY_CHUNK, read from the socket in one go: libevent alone reads
 * 4 KiB per turn of its loop, and the first read after a pause is sent at
 * once, so the same bytes went out as a 4 KiB envelope and more. Then,
 * with the socket waking the relay only for a whole envelope (bulk), a
 * few bytes still arrive (the hold reads them), and a pause ends bulk:
 * a request and its answer wait for nothing. The bytes arrive intact. */
static void test_relay(void **state)
{
    enum { BULK = 98304 };
    static uint8_t out[BULK + 64], got[BULK + 64];
    struct two t;
    struct kos__relay *r;
    struct bufferevent *bev;
    bool ended = false;
    size_t sent = 0;
    int sv[2], fd[2];

    (void)state;
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 7 + (i >> 9));
    connect_two(&t, KOS__LINK_WINDOW_MAX, KOS__LINK_WINDOW_MAX, 0);
    t.s.st_sink = got;
    t.s.st_cap = sizeof(got);
    assert_int_equal(kos__link_stream_open(t.c.l, 16, "yes", "sensor"), KOS_STATUS_OK);
    while (t.c.st_opened != 16)
        event_base_loop(base, EVLOOP_ONCE);

    /* The bytes wait in the socket before the relay first reads. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    while (sent < BULK) {
        ssize_t k = write(sv[0], out + sent, BULK - sent);
        assert_true(k > 0);
        sent += (size_t)k;
    }
    bev = bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    r = kos__relay_new(t.c.l, 16, bev, relay_ended, &ended);
    assert_non_null(r);
    while (t.s.st_bytes < BULK)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.s.st_msgs, (BULK + KOS__RELAY_CHUNK - 1) / KOS__RELAY_CHUNK);
    assert_int_equal(t.s.st_max, KOS__RELAY_CHUNK);
    assert_memory_equal(got, out, BULK);
    kos__relay_free(r);
    close(sv[0]);

    /* Over loopback TCP: a bulk sender, then a few bytes, then a pause. */
    tcp_pair(fd);
    bev = bufferevent_socket_new(base, fd[1], BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    r = kos__relay_new(t.c.l, 16, bev, relay_ended, &ended);
    assert_non_null(r);
    t.s.st_bytes = 0;
    for (sent = 0; sent < BULK; sent += 4096) {
        assert_int_equal(write(fd[0], out + sent, 4096), 4096);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    assert_int_equal(write(fd[0], out + sent, 10), 10);
    while (t.s.st_bytes < BULK + 10)
        event_base_loop(base, EVLOOP_ONCE);
    assert_memory_equal(got, out, BULK + 10);
    settle(20); /* the pause */
    t.s.st_msgs = 0;
    assert_int_equal(write(fd[0], out, 3), 3);
    while (t.s.st_bytes < BULK + 13)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.s.st_msgs, 1);
    assert_memory_equal(got + BULK + 10, out, 3);
    /* The app closes: the relay ends the stream. */
    close(fd[0]);
    run_until(&ended);
    while (t.s.st_closed != 16)
        event_base_loop(base, EVLOOP_ONCE);
    kos__relay_free(r);
    kos__link_close(t.c.l, 0, "done");
    run_until(&t.s.closed);
    run_until(&t.c.closed);
    kos__link_free(t.c.l);
    kos__link_free(t.s.l);
}

/* ---- over TLS, the server reading ahead as kos-server does ---- */

/* A server context with a fresh self-signed P-256 certificate, and a
 * client one that checks nothing (what is tested is the reading). */
static void tls_contexts(SSL_CTX **sctx, SSL_CTX **cctx)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();

    assert_non_null(key);
    assert_non_null(cert);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_set_pubkey(cert, key);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
    *sctx = SSL_CTX_new(TLS_server_method());
    *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(*sctx);
    assert_non_null(*cctx);
    SSL_CTX_set_min_proto_version(*sctx, TLS1_3_VERSION);
    SSL_CTX_set_min_proto_version(*cctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(*sctx, SSL_MODE_RELEASE_BUFFERS);
    assert_int_equal(SSL_CTX_use_certificate(*sctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(*sctx, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void hs_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    assert_true(what & BEV_EVENT_CONNECTED);
    *(bool *)arg = true;
}

/* Two links over TLS on a socket pair, as the tunnel's and kos-server's:
 * the server reads ahead, and with dz it dozes (its bufferevent then does
 * not own its SSL and socket: tls_two_free() frees them). */
struct tls_two {
    struct two t;
    SSL_CTX *sctx, *cctx;
    SSL *sssl;
    int sfd;
    struct kos__link_dozer *dz;
};

static void tls_two_up(struct tls_two *x, uint32_t doze_ms)
{
    SSL *cssl;
    struct bufferevent *a, *b;
    bool hs[2] = {false, false};
    int sv[2];
    struct kos__link_config cc = config(KOS__LINK_CLIENT, 65536),
                            sc = config(KOS__LINK_SERVER, 65536);

    memset(x, 0, sizeof(*x));
    x->t.c.consume = x->t.s.consume = true;
    tls_contexts(&x->sctx, &x->cctx);
    x->sssl = SSL_new(x->sctx);
    cssl = SSL_new(x->cctx);
    assert_non_null(x->sssl);
    assert_non_null(cssl);
    SSL_set_read_ahead(x->sssl, 1);
    SSL_set_default_read_buffer_len(x->sssl, 4u * (16384u + 5u + 256u));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    x->sfd = sv[1];
    if (doze_ms)
        assert_non_null(x->dz = kos__link_dozer_new(base, doze_ms));
    a = bufferevent_openssl_socket_new(base, sv[0], cssl, BUFFEREVENT_SSL_CONNECTING,
                                       BEV_OPT_CLOSE_ON_FREE);
    b = bufferevent_openssl_socket_new(base, sv[1], x->sssl, BUFFEREVENT_SSL_ACCEPTING,
                                       doze_ms ? 0 : BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(a);
    assert_non_null(b);
    /* The links begin once TLS is up, as the tunnel's and kos-server's. */
    bufferevent_setcb(a, NULL, NULL, hs_cb, &hs[0]);
    bufferevent_setcb(b, NULL, NULL, hs_cb, &hs[1]);
    bufferevent_enable(a, EV_READ | EV_WRITE);
    bufferevent_enable(b, EV_READ | EV_WRITE);
    run_until(&hs[0]);
    run_until(&hs[1]);
    sc.dozer = x->dz;
    x->t.s.l = kos__link_new(base, b, &sc, &side_cbs, &x->t.s);
    x->t.c.l = kos__link_new(base, a, &cc, &side_cbs, &x->t.c);
    assert_non_null(x->t.s.l);
    assert_non_null(x->t.c.l);
    run_until(&x->t.c.up);
    run_until(&x->t.s.up);
}

static void tls_two_free(struct tls_two *x)
{
    kos__link_free(x->t.c.l);
    kos__link_free(x->t.s.l);
    if (x->dz) {
        SSL_free(x->sssl);
        close(x->sfd);
        kos__link_dozer_free(x->dz);
    }
    SSL_CTX_free(x->sctx);
    SSL_CTX_free(x->cctx);
}

/* Runs the loop until fixed channel 1 of s has its whole window of 64 KiB
 * as credit again, or fails after 5 s. */
static bool credit_owed(const void *s)
{
    return kos__link_credit(((const struct side *)s)->l, 1) < 65536;
}

static void run_until_credited(struct side *s)
{
    run_while(credit_owed, s);
}

/* The server reads ahead (one read() takes many records): a burst of
 * messages that ends with the socket empty is read whole, though its last
 * records wait in OpenSSL's buffer, which libevent alone reads again only
 * when the socket is readable (the burst's sender, out of credit, waits
 * for it). Both ways, then a close. With a dozer whose delay is a minute,
 * the same: the work a link asks of its loop (the Credit) is not put off
 * by the doze timer. */
static void tls_bursts(uint32_t doze_ms)
{
    static uint8_t msg[3000];
    struct tls_two x;
    struct two *t = &x.t;

    tls_two_up(&x, doze_ms);
    /* Bursts of 20 messages (60,000 bytes, most of the 64 KiB window),
     * each sent whole before the loop runs: the server must read all of
     * each for the credit that lets the next go. */
    for (int burst = 0; burst < 8; burst++) {
        for (int i = 0; i < 20; i++)
            assert_int_equal(kos__link_send(t->c.l, 1, msg, sizeof(msg)), KOS_STATUS_OK);
        while (t->s.got[1] < (uint32_t)(burst + 1) * 20)
            run_until_progress(&t->s.got[1]);
        run_until_credited(&t->c);
    }
    assert_int_equal(t->s.bytes[1], 8 * 20 * sizeof(msg));
    assert_int_equal(kos__link_send(t->s.l, 2, "down", 4), KOS_STATUS_OK);
    run_until_progress(&t->c.got[2]);
    kos__link_close(t->c.l, 0, "done");
    run_until(&t->s.closed);
    run_until(&t->c.closed);
    tls_two_free(&x);
}

static void test_tls_read_ahead(void **state)
{
    (void)state;
    tls_bursts(0);
    tls_bursts(60000);
}

/* Runs the loop until the server link of x dozes, or fails after 5 s. */
static bool awake(const void *x)
{
    return !kos__link_dozing(((const struct tls_two *)x)->t.s.l);
}

static void run_until_dozing(struct tls_two *x)
{
    run_while(awake, x);
}

/* A server link with a dozer (docs/link.md, "Idle links"): once idle it
 * dozes; it wakes for what the peer sends (read whole), for a send of
 * its own, for a Credit its user's consumed() earned while it dozed, and
 * for its close, which the peer sees as a close (1000), not a drop. */
static void test_tls_doze(void **state)
{
    static uint8_t big[40000];
    struct tls_two x;
    struct two *t = &x.t;

    (void)state;
    tls_two_up(&x, 10);
    run_until_dozing(&x);
    assert_int_equal(kos__link_dozer_count(x.dz), 1);
    /* The peer sends: the link wakes and reads it. */
    assert_int_equal(kos__link_send(t->c.l, 1, "up", 2), KOS_STATUS_OK);
    run_until_progress(&t->s.got[1]);
    assert_int_equal(t->s.bytes[1], 2);
    run_until_dozing(&x);
    /* It sends while dozing: it wakes to write. */
    assert_int_equal(kos__link_send(t->s.l, 2, "down", 4), KOS_STATUS_OK);
    assert_false(kos__link_dozing(t->s.l));
    run_until_progress(&t->c.got[2]);
    run_until_dozing(&x);
    /* Data its user takes later: the Credit goes once it is taken, though
     * the link dozes meanwhile. */
    t->s.consume = false;
    assert_int_equal(kos__link_send(t->c.l, 1, big, sizeof(big)), KOS_STATUS_OK);
    run_until_progress(&t->s.got[1]);
    run_until_dozing(&x);
    assert_true(kos__link_credit(t->c.l, 1) < 65536 - sizeof(big) + 1);
    kos__link_consumed(t->s.l, 1, sizeof(big));
    run_until_credited(&t->c);
    /* Closed while dozing: the peer gets the close. */
    run_until_dozing(&x);
    kos__link_close(t->s.l, 0, "bye");
    run_until(&t->c.closed);
    run_until(&t->s.closed);
    assert_int_equal(t->c.end.code, KOS__LINK_CLOSE_NORMAL);
    assert_int_equal(kos__link_dozer_count(x.dz), 0);
    tls_two_free(&x);
}

/* kos__link_send_buffer() over TLS, the server reading ahead and
 * unmasking messages that straddle the pieces OpenSSL's records were
 * read into: a buffer's bytes, in pieces (more of them, for some
 * messages, than it copies from), arrive intact on stream channels whose
 * numbers take one to three bytes of the envelope, messages of each
 * length kind (a length of one to three bytes), sent straight while the
 * credit lasts and through the queue after it; the buffer keeps them for
 * the caller to drain; a buffer shorter than asked is refused. */
static void test_send_buffer(void **state)
{
    enum { TOTAL = 400000 };
    static uint8_t out[TOTAL], got[TOTAL];
    static const uint32_t chans[] = {16, 300, 20000};
    static const size_t sizes[] = {1, 127, 128, 5000, 16383, 16384, 40000, 65000, 3};
    struct tls_two x;
    struct two *t = &x.t;
    struct evbuffer *b;

    (void)state;
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 131 + (i >> 8));
    tls_two_up(&x, 0);
    t->s.st_sink = got;
    t->s.st_cap = sizeof(got);
    b = evbuffer_new();
    assert_non_null(b);
    evbuffer_add(b, "ab", 2);
    assert_int_equal(kos__link_send_buffer(t->c.l, 1, b, 3), KOS_STATUS_INVALID_ARGUMENT);
    evbuffer_free(b);
    for (size_t c = 0; c < sizeof(chans) / sizeof(chans[0]); c++) {
        size_t off = 0;
        memset(got, 0, sizeof(got));
        t->s.st_bytes = 0;
        assert_int_equal(kos__link_stream_open(t->c.l, chans[c], "yes", "sensor"), KOS_STATUS_OK);
        while (t->c.st_opened != chans[c])
            event_base_loop(base, EVLOOP_ONCE);
        for (size_t m = 0; m < 3 * sizeof(sizes) / sizeof(sizes[0]); m++) {
            size_t n = sizes[m % (sizeof(sizes) / sizeof(sizes[0]))], k = 0, piece;
            kos_status_t st;
            if (off + n > sizeof(out))
                break;
            assert_non_null(b = evbuffer_new());
            /* Pieces of 1 to 3 bytes (a mask's phase moves within its
             * word) for the first rounds, of 1,000 and more after. */
            for (int i = 0; k < n; i++, k += piece) {
                piece = m < 9 ? (size_t)(i % 3) + 1 : 1000u + (size_t)i * 7;
                piece = piece < n - k ? piece : n - k;
                assert_int_equal(evbuffer_add_reference(b, out + off + k, piece, NULL, NULL), 0);
            }
            while ((st = kos__link_send_buffer(t->c.l, chans[c], b, n)) == KOS_STATUS_BUSY)
                event_base_loop(base, EVLOOP_ONCE);
            assert_int_equal(st, KOS_STATUS_OK);
            assert_int_equal(evbuffer_get_length(b), n);
            evbuffer_free(b);
            off += n;
        }
        while (t->s.st_bytes < off)
            run_until_progress(&t->s.st_msgs);
        assert_int_equal(t->s.st_bytes, off);
        assert_memory_equal(got, out, off);
        kos__link_stream_close(t->c.l, chans[c], 0, "done");
        while (t->s.st_closed != chans[c])
            event_base_loop(base, EVLOOP_ONCE);
    }
    kos__link_close(t->c.l, 0, "done");
    run_until(&t->s.closed);
    run_until(&t->c.closed);
    tls_two_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_blob_request),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_blob_response),
        cmocka_unit_test(test_frames),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_and_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credit_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_read_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_doze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_violations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_end, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
