/*
 * link.h - the device link, both ends (docs/link.md): a WebSocket over a
 * libevent bufferevent (plain, or TLS from the caller), the HTTP upgrade
 * that opens it, and the link session on it: Envelopes (proto/link.proto),
 * the Hello exchange, per-channel credit and Close. The tunnel component
 * runs the client end, kos-server's device port the server end.
 *
 * This is kos_link, an internal library of KOS's own programs: it is not
 * part of libkos (apps do not carry libevent or wslay).
 *
 * What stays true: a link never holds more than one whole message of
 * input beyond what its peer's frames say (each frame's header is checked
 * before wslay reads its payload: 64 KiB at most); it never sends data on
 * a channel beyond the peer's credit, and never queues more than its send
 * bound per channel; every protocol violation ends the link with the close
 * code docs/link.md gives, and the end is reported once, through the
 * closed() callback, from the event loop (never from inside a call the
 * user made), after which the link does nothing until it is freed.
 *
 * Not thread-safe: use a link from its event loop's thread.
 */
#ifndef KOS_LINK_H
#define KOS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <kos/status.h>

/* ms milliseconds as a timeval, for libevent's timers: the link's own and
 * those of the programs around it (kos-server, the tunnel). */
static inline struct timeval kos__link_ms_tv(uint32_t ms)
{
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

/* ---- limits (docs/link.md, "Limits"), each defined once ---- */
#define KOS__LINK_MSG_MAX        65536u /* one WebSocket message: one envelope */
#define KOS__LINK_REQUEST_MAX    8192u  /* the HTTP request (or response) before the upgrade */
#define KOS__LINK_UPGRADE_MS     10000u /* ... which must arrive within this */
#define KOS__LINK_PING_MS        30000u /* the device pings this often */
#define KOS__LINK_IDLE_MS        90000u /* silence that ends a link */
#define KOS__LINK_CLOSE_MS       2000u  /* how long a closing link waits for its output to go */
#define KOS__LINK_WINDOW_MIN     4096u  /* a Hello's window, bytes */
#define KOS__LINK_WINDOW_MAX     (1u << 20)
#define KOS__LINK_SEND_BOUND_MAX (1u << 30) /* kos__link_config.send_bound */
#define KOS__LINK_WINDOW_DEFAULT 65536u
#define KOS__LINK_CHANNELS       6u     /* the fixed channels 0 (the link's own) to 5 */
#define KOS__LINK_STREAM_FIRST   16u    /* forwarded streams: channels 16 ... */
#define KOS__LINK_STREAM_LAST    65535u /* ... to 65535 */
#define KOS__LINK_STREAMS_MAX    8u     /* streams open at once on one link, both ways */
#define KOS__LINK_DEST_MAX       255u   /* Open.destination: printable, 1 to 255 bytes */
#define KOS__LINK_APP_MAX        63u    /* Open.app */
#define KOS__LINK_VERSION        1u
#define KOS__LINK_AGENT_MAX      64u
#define KOS__LINK_ID_LEN         64u  /* a device id: hex SHA-256 */
#define KOS__LINK_REASON_MAX     120u /* a Close's reason, a Kos-Reason header */
#define KOS__LINK_PATH           "/kos/link/1"
#define KOS__LINK_SUBPROTOCOL    "kos-link.1"
#define KOS__LINK_BLOBS_PATH     "/kos/blobs/" /* GET /kos/blobs/<sha256> (docs/link.md, "Blobs") */

/* WebSocket close codes (RFC 6455) the link uses. */
#define KOS__LINK_CLOSE_NORMAL   1000u
#define KOS__LINK_CLOSE_GOING    1001u
#define KOS__LINK_CLOSE_PROTOCOL 1002u /* malformed, out of order, a bad Hello */
#define KOS__LINK_CLOSE_DATA     1003u /* a text frame, an unknown body or channel */
#define KOS__LINK_CLOSE_POLICY   1008u /* data beyond the credit given */
#define KOS__LINK_CLOSE_TOO_BIG  1009u /* a message over 64 KiB */

enum kos__link_role {
    KOS__LINK_CLIENT = 0, /* the device: sends the upgrade request, masks, pings */
    KOS__LINK_SERVER = 1,
};

enum kos__link_state {
    KOS__LINK_UPGRADING = 0, /* the HTTP request and response */
    KOS__LINK_HELLO,         /* WebSocket open; waiting for the peer's Hello */
    KOS__LINK_UP,            /* Hellos exchanged: channels carry data */
    KOS__LINK_CLOSING,       /* ending: the close frame is on its way */
    KOS__LINK_CLOSED,        /* ended; closed() was (or is being) called */
};

/* How a link ended, as closed() reports it. */
enum kos__link_end_kind {
    KOS__LINK_END_LOCAL = 0, /* kos__link_close() */
    KOS__LINK_END_PEER,      /* the peer closed (Close envelope or close frame) */
    KOS__LINK_END_VIOLATION, /* the peer broke the protocol; `code` was sent */
    KOS__LINK_END_UPGRADE,   /* the upgrade failed (a bad request or response) */
    KOS__LINK_END_REFUSED,   /* the server answered the upgrade with 403 */
    KOS__LINK_END_TIMEOUT,   /* no upgrade within 10 s, or 90 s of silence */
    KOS__LINK_END_IO,        /* the connection broke (EOF, reset, a TLS error) */
};

struct kos__link_end {
    enum kos__link_end_kind kind;
    uint16_t code;         /* the WebSocket close code sent or received; 0 if none */
    unsigned long ssl_err; /* END_IO over TLS: OpenSSL's first error (ERR_GET_REASON) */
    int http_status;       /* END_UPGRADE, END_REFUSED: the status answered or received */
    char why[192];         /* for people: what happened, printable ASCII */
};

struct kos__link;
struct kos__link_dozer;

struct kos__link_config {
    enum kos__link_role role;
    uint32_t window;        /* our window per fixed channel (Hello.window): 4 KiB to 1 MiB */
    size_t send_bound;      /* data bytes queued per channel awaiting credit (0: window;
                             * at most KOS__LINK_SEND_BOUND_MAX) */
    uint32_t stream_window; /* our window per stream (Open.window; 0: window), which is also
                             * a stream's send bound: 4 KiB to 1 MiB */
    const char *agent;      /* Hello.agent, "kos-tunnel/0.1": at most 64 bytes */
    const char *host;       /* client: the Host header ("127.0.0.1:7443") */
    const char *device_id;  /* server: Hello.device_id (at most 64 bytes). The caller
                             * keeps both strings while the link lives. */
    /* Timers, in milliseconds; 0 means the limit above. Tests shorten them. */
    uint32_t upgrade_ms, ping_ms, idle_ms, close_ms;
    /* Client: a fixed Sec-WebSocket-Key (24 base64 characters), for the
     * fuzz harness; NULL draws a random one. */
    const char *ws_key;
    /* Server: when set (printable ASCII, kept by the caller while the link
     * lives), a good upgrade request is answered 202 Accepted with this as
     * its Kos-Reason header, and the link ends without opening: a device
     * the server knows of but does not admit yet (docs/link.md, "Pending
     * devices"). */
    const char *pending;
    /* Server: when set, an open link that has had nothing in flight for
     * the dozer's delay dozes: it frees its bufferevent and its work event
     * and the dozer watches its socket, until the peer sends or
     * kos__link_send() and the like need it again (docs/link.md, "Idle
     * links"). Only for a bufferevent made by
     * bufferevent_openssl_socket_new() without BEV_OPT_CLOSE_ON_FREE: the
     * caller keeps the SSL and the socket, and frees them after the link;
     * the link makes bufferevents over them as it needs. */
    struct kos__link_dozer *dozer;
};

/* What a link calls back, each with the `arg` given to kos__link_new().
 * The caller keeps the table while the link lives (a static one: the link
 * holds a pointer to it, not a copy). */
struct kos__link_cbs {
    /* The Hellos are exchanged: kos__link_send() works now. */
    void (*up)(void *arg, struct kos__link *l);
    /* A whole data message arrived on fixed channel ch (1..5) or an open
     * stream's. The bytes are
     * the callee's to read during the call only. The callee calls
     * kos__link_consumed() when it has taken them (now or later): only then
     * is the credit given back. Returning an error ends the link with close
     * code 1003 (data the receiver does not take on that channel). */
    kos_status_t (*data)(void *arg, struct kos__link *l, uint32_t ch, const uint8_t *p, size_t n);
    /* Channel ch has room again after a send was refused with BUSY. */
    void (*room)(void *arg, struct kos__link *l, uint32_t ch);
    /* Streams (channels 16 and up; docs/link.md, "Streams"). Each may be
     * NULL. A link without stream_open refuses every Open it receives
     * (Close UNSUPPORTED).
     *
     * The peer asks for stream ch to `destination` for `app` (both
     * printable, checked). The callee answers, now or later, with
     * kos__link_stream_accept() or kos__link_stream_close() (a refusal).
     * data() and room() then work for ch as for a fixed channel. */
    void (*stream_open)(void *arg, struct kos__link *l, uint32_t ch, const char *destination,
                        const char *app);
    /* The peer accepted stream ch that kos__link_stream_open() asked for:
     * kos__link_send() works on it now. */
    void (*stream_opened)(void *arg, struct kos__link *l, uint32_t ch);
    /* Stream ch has ended: the peer closed or refused it (`code` 0 done,
     * else a KOS status; `reason` printable, maybe ""), or the link is
     * ending (not called then: closed() covers every stream). Nothing more
     * arrives or goes on ch; its number may be used again. */
    void (*stream_closed)(void *arg, struct kos__link *l, uint32_t ch, uint32_t code,
                          const char *reason);
    /* The link has ended; called once, from the event loop. The callee may
     * free the link here (and should, soon). */
    void (*closed)(void *arg, struct kos__link *l, const struct kos__link_end *end);
};

/* Starts a link on `bev`, a connected bufferevent (a TLS one past its
 * handshake, or a plain one), which the link owns from now on, whatever
 * happens (it is freed with the link; with a dozer, its SSL and socket
 * stay the caller's). cbs (kept by the caller) are called with arg. The
 * client sends its upgrade request at once; the server waits for one.
 * Returns NULL (bev freed) on a bad configuration or no memory. Never
 * blocks. */
struct kos__link *kos__link_new(struct event_base *base, struct bufferevent *bev,
                                const struct kos__link_config *cfg, const struct kos__link_cbs *cbs,
                                void *arg);

/* Frees the link and its connection at once, without a closing handshake
 * and without calling closed(). Do not call it from inside the link's own
 * up(), data() or room() callbacks; closed() may. kos__link_free(NULL) does
 * nothing. */
void kos__link_free(struct kos__link *l);

/* Queues n bytes (at most the peer's window and KOS__LINK_MSG_MAX less the
 * envelope's own bytes) as one data envelope on fixed channel ch (1..5) or
 * an open stream's (one both ends have accepted and this end has not
 * closed).
 * They go out as the peer's credit allows; other channels never wait for
 * them. KOS_STATUS_UNAVAILABLE unless the link is up; KOS_STATUS_BUSY when
 * the channel already holds its send bound (room() follows when it has
 * room again); KOS_STATUS_TOO_LARGE when n could never be sent;
 * KOS_STATUS_INVALID_ARGUMENT for another channel. The bytes are copied.
 * Never blocks. */
kos_status_t kos__link_send(struct kos__link *l, uint32_t ch, const void *p, size_t n)
    __attribute__((warn_unused_result));

/* kos__link_send() of the first n bytes of buf, which stay there (the
 * caller drains them once they are taken): while nothing waits on the
 * channel and the peer's credit covers them, they are copied once, from
 * buf's pieces straight into the link's output, where kos__link_send()
 * of a contiguous copy would cost one more. KOS_STATUS_INVALID_ARGUMENT
 * when buf holds fewer than n bytes. */
kos_status_t kos__link_send_buffer(struct kos__link *l, uint32_t ch, struct evbuffer *buf, size_t n)
    __attribute__((warn_unused_result));

/* Says that n bytes received on channel ch have been taken (handed on,
 * stored): they are credited back to the peer, at once when that would
 * leave nothing uncredited or half the window is waiting, in one Credit
 * envelope per channel per turn of the loop. Never blocks. */
void kos__link_consumed(struct kos__link *l, uint32_t ch, size_t n);

/* Asks the peer for stream ch (16..65535, not in use) to `destination`
 * (printable, 1..KOS__LINK_DEST_MAX bytes) for `app`. The answer comes as
 * stream_opened() or stream_closed(). KOS_STATUS_UNAVAILABLE unless the
 * link is up; KOS_STATUS_BUSY when KOS__LINK_STREAMS_MAX streams are open;
 * KOS_STATUS_ALREADY_EXISTS when ch is in use; KOS_STATUS_INVALID_ARGUMENT
 * for a bad channel, destination or app. Never blocks. */
kos_status_t kos__link_stream_open(struct kos__link *l, uint32_t ch, const char *destination,
                                   const char *app) __attribute__((warn_unused_result));

/* Accepts stream ch that the peer asked for (stream_open()): both sides
 * may send on it now. KOS_STATUS_INVALID_ARGUMENT if ch is not waiting
 * for an answer. Never blocks. */
kos_status_t kos__link_stream_accept(struct kos__link *l, uint32_t ch)
    __attribute__((warn_unused_result));

/* Ends stream ch (or refuses it, if it is waiting for this end's answer):
 * code 0 after the data queued on it has gone, else (an error, a KOS
 * status) at once, dropping that data; reason at most 120 bytes.
 * stream_closed() is not called for it. Data the peer sent meanwhile is
 * dropped. Does nothing for a channel that is not open. Never blocks. */
void kos__link_stream_close(struct kos__link *l, uint32_t ch, uint32_t code, const char *reason);

/* Streams open (or being opened or closed) on the link. */
uint32_t kos__link_streams(const struct kos__link *l);

/* Whether the link is dozing (kos__link_config.dozer). */
bool kos__link_dozing(const struct kos__link *l);

/* A server's dozing links: one set of sockets watched for them all (an
 * epoll set, under one event on `base`) and one timer, each second while
 * links doze, for their silence bounds. A link dozes after `doze_ms` (at
 * least 1) with nothing in flight. NULL without memory or descriptors.
 * Free it after every link that uses it. */
struct kos__link_dozer *kos__link_dozer_new(struct event_base *base, uint32_t doze_ms);
void kos__link_dozer_set_delay(struct kos__link_dozer *dz, uint32_t doze_ms);
size_t kos__link_dozer_count(const struct kos__link_dozer *dz);
void kos__link_dozer_free(struct kos__link_dozer *dz);

/* Ends the link: a Close envelope (code 0 done, else a KOS status; reason
 * at most 120 bytes) if it is up, then the WebSocket close (1000), and
 * closed() once the connection has gone. Never blocks. */
void kos__link_close(struct kos__link *l, uint32_t code, const char *reason);

/* The link's state. */
enum kos__link_state kos__link_state(const struct kos__link *l);

/* Data bytes queued on channel ch, waiting for credit. */
size_t kos__link_queued(const struct kos__link *l, uint32_t ch);

/* Credit the peer has given on channel ch that is not used yet. */
uint64_t kos__link_credit(const struct kos__link *l, uint32_t ch);

/* The peer's Hello: its window, its agent (printable), and on a client the
 * device id the server gave ("" before the Hello or if it gave none). */
uint32_t kos__link_peer_window(const struct kos__link *l);
const char *kos__link_peer_agent(const struct kos__link *l);
const char *kos__link_device_id(const struct kos__link *l);

/* The bufferevent the link runs on (to read TLS details); the link's own. */
struct bufferevent *kos__link_bufferevent(struct kos__link *l);

/* ---- the HTTP upgrade, exposed for tests and the fuzz harnesses ---- */

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key || RFC 6455's GUID)),
 * 28 characters and a NUL into out. */
#define KOS__LINK_ACCEPT_SIZE 29u
void kos__link_accept_key(const char *key, char out[KOS__LINK_ACCEPT_SIZE]);

/* Checks a server's view of an upgrade request: the header block
 * req[0..len), ending with its empty line. Returns 101 with the client's
 * key copied into key (24 characters and a NUL) when it is a good
 * GET /kos/link/1 upgrade for kos-link.1; 404 for another HTTP request; 400
 * for a bad upgrade or something that is not HTTP; why says what was wrong.
 * Never blocks. */
int kos__link_parse_request(const char *req, size_t len, char key[25], char *why, size_t whylen);

/* Whether the request line line[0..len) (without its CRLF, or the start
 * of one) is a request for a blob: METHOD SP /kos/blobs/... (docs/link.md,
 * "Blobs"), to be answered by the blob route rather than the upgrade. */
bool kos__link_is_blob_request(const char *line, size_t len);

/* A request for a blob, as kos__link_parse_blob_request() read it. */
struct kos__link_blob_req {
    char sha256[65];     /* 64 lower-case hex digits */
    bool ranged;         /* a Range header came */
    bool range_bad;      /* ... but not bytes=FROM- or bytes=FROM-LAST (LAST >= FROM), or two */
    uint64_t from, last; /* the range; last UINT64_MAX for bytes=FROM- */
    bool close;          /* the connection ends after the answer */
};

/* Checks a request on the device port for a blob: the header block
 * req[0..len) (through its empty line). Returns 0 for a GET of
 * /kos/blobs/<sha256> without a body (*out filled); 404 for a request of
 * another path; 400 for anything else (a body, another method, a malformed
 * path or request); why says what was wrong. Never allocates. */
int kos__link_parse_blob_request(const char *req, size_t len, struct kos__link_blob_req *out,
                                 char *why, size_t whylen);

/* Checks a client's view of the response to its upgrade request
 * resp[0..len) (the header block with its empty line), `accept` being the
 * Sec-WebSocket-Accept it expects. Returns 101 for a good upgrade, the
 * status for another answer, -1 for a malformed one or a bad 101; why says
 * what was wrong, with the server's Kos-Reason header (its printable ASCII,
 * at most KOS__LINK_REASON_MAX bytes) for another answer. Never blocks. */
int kos__link_parse_response(const char *resp, size_t len, const char *accept, char *why,
                             size_t whylen);

/* Checks the answer to GET /kos/blobs/<sha256> with Range: bytes=FROM-LAST
 * (LAST = to - 1; docs/link.md, "Blobs"): its header block resp[0..len),
 * ending with its empty line. KOS_STATUS_OK when the body that follows is
 * exactly bytes [from, to): 206 with Content-Range: bytes FROM-LAST/SIZE
 * (SIZE >= to), or 200 when from is 0 and the Content-Length is to; in
 * both, a Content-Length of to - from and no Transfer-Encoding.
 * KOS_STATUS_NOT_FOUND for 404, KOS_STATUS_REFUSED for 403,
 * KOS_STATUS_PROTOCOL for anything else (another status, another range or
 * length, a malformed header block), KOS_STATUS_INVALID_ARGUMENT when from
 * >= to; why says what. Untrusted input: never reads past len. Never
 * blocks. */
kos_status_t kos__link_parse_blob_response(const char *resp, size_t len, uint64_t from, uint64_t to,
                                           char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* The frame checker: what docs/link.md allows on the wire, checked on each
 * frame's header before wslay reads the frame. Feed it the bytes in order;
 * it returns 0 while they are good, else the close code (1002, 1003, 1009)
 * and why says what was wrong. */
struct kos__link_frames {
    bool from_client; /* the frames come from a client: they must be masked */
    uint8_t hdr[14];
    size_t have, need; /* header bytes held, and needed */
    uint64_t skip;     /* payload bytes of the current frame still to pass */
};
void kos__link_frames_init(struct kos__link_frames *f, bool from_client);
uint16_t kos__link_frames_feed(struct kos__link_frames *f, const uint8_t *p, size_t n, char *why,
                               size_t whylen);

#endif
