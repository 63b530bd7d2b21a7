/*
 * tunnel.h - the device's link to its server, for the apps that use it
 * (kos_tunnel_protocol, published by the tunnel component).
 *
 * The tunnel holds the device's one TLS 1.3 connection to its server and
 * the WebSocket on it (docs/link.md). It multiplexes fixed channels: 1
 * admin, 2 logs, 3 traces, 4 shell, 5 debug. An app may use the channels
 * its manifest entry's grant and the tunnel's `allow` setting give it
 * (`allow: "admin=admin,logs,shell"`); each channel has at most one app.
 *
 * Sending is bounded by the server's credit for the channel (docs/link.md,
 * "Flow control"): kos_tunnel_send() never blocks the tunnel on one
 * channel; it answers KOS_STATUS_BUSY when the channel's buffer is full, and
 * the tunnel notifies the app (kos_tunnel_fd() becomes readable) when it has
 * room again. Receiving is pulled: the tunnel notifies the app when data
 * has arrived on one of its channels, and kos_tunnel_receive() takes it;
 * what the app has not taken is not credited back to the server, so a slow
 * app slows only its own channel.
 *
 * Statuses, besides the transport errors of kos_msg_call():
 *   KOS_STATUS_OK             done
 *   KOS_STATUS_UNAVAILABLE    the link is down (connecting, or refused); the
 *                             tunnel notifies when it is up again
 *   KOS_STATUS_BUSY           the channel's send buffer is full; wait for
 *                             kos_tunnel_fd() and try again
 *   KOS_STATUS_WOULD_BLOCK    nothing to receive on the channel
 *   KOS_STATUS_UNAUTHORIZED   the channel is not this app's
 *   KOS_STATUS_TOO_LARGE      more than KOS_TUNNEL_DATA_MAX bytes
 *
 * A kos_tunnel_t is not thread-safe; use it from one thread at a time.
 */
#ifndef KOS_TUNNEL_H
#define KOS_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol the tunnel publishes. */
#define KOS_TUNNEL_PROTOCOL "kos_tunnel_protocol"

/* The fixed channels (proto/link.proto). */
#define KOS_TUNNEL_ADMIN  1u
#define KOS_TUNNEL_LOGS   2u
#define KOS_TUNNEL_TRACES 3u
#define KOS_TUNNEL_SHELL  4u
#define KOS_TUNNEL_DEBUG  5u

/* The most data one send or receive carries: one KOS message's payload, less
 * the tunnel's own header. A link message may be longer; the tunnel never
 * hands an app more than this at once. */
#define KOS_TUNNEL_DATA_MAX 4000u

/* The state of the link, as kos_tunnel_status() reports it. */
enum kos_tunnel_state {
    KOS_TUNNEL_DOWN = 0,       /* not connected; waiting to try again */
    KOS_TUNNEL_CONNECTING = 1, /* TCP, TLS or the WebSocket upgrade under way */
    KOS_TUNNEL_UP = 2,         /* Hello exchanged: channels carry data */
    KOS_TUNNEL_REFUSED = 3,    /* the server refused this device; retried slowly */
};

struct kos_tunnel_status {
    enum kos_tunnel_state state;
    char device_id[65];   /* hex SHA-256 of the identity key, once the server said it */
    char server[256];     /* HOST:PORT */
    uint32_t reconnects;  /* links that ended since the tunnel started */
    uint64_t retry_in_ms; /* when down: how long until the next try */
};

/*
 * The protocol's labels (the library below speaks it; see
 * docs/packages/tunnel.md). Every integer on the wire is little-endian.
 *
 * KOS_TUNNEL_LABEL_OPEN: param the channels to claim (1u << channel, 1..5).
 *   Reply: OK, or UNAUTHORIZED when the allow setting does not give this
 *   app one of them. An app that opens again (say, restarted) takes its
 *   channels over from its earlier client.
 * KOS_TUNNEL_LABEL_SEND: param the channel; payload the data
 *   (1..KOS_TUNNEL_DATA_MAX). Reply: OK, BUSY, UNAVAILABLE, UNAUTHORIZED.
 * KOS_TUNNEL_LABEL_RECEIVE: param the channel. Reply: OK with the data,
 *   or WOULD_BLOCK.
 * KOS_TUNNEL_LABEL_STATUS: no param. Reply payload: u32 state, u32
 *   reconnects, u64 retry_in_ms, u8 device id length (0..64), the id, u8
 *   server length (0..255), the server.
 * KOS_TUNNEL_LABEL_CLOSE: gives the channels up. Reply OK.
 * KOS_TUNNEL_LABEL_STREAM: payload a destination's name (1..63 letters,
 *   digits, '_', '-', '.'). Answered once the server has: OK with the
 *   stream's socket as a descriptor (the app's end of a loopback TCP
 *   connection that ethernet made for the tunnel), or a failure with a
 *   payload saying why (text, at most KOS_TUNNEL_WHY_MAX bytes):
 *   UNAUTHORIZED (the streams setting does not give this app the name),
 *   UNAVAILABLE (the link is down), BUSY (KOS_TUNNEL_STREAMS_MAX open),
 *   NOT_FOUND (the server knows no such destination), REFUSED,
 *   UNREACHABLE, TIMEOUT (the server could not reach it).
 * KOS_TUNNEL_LABEL_FETCH: payload the blob's SHA-256 (32 bytes), u64
 *   from, u64 to (from < to <= KOS_TUNNEL_FETCH_MAX); descriptor: where
 *   the bytes go (say, a pipe's write end). The tunnel fetches bytes
 *   [from, to) of the blob from its server with an HTTPS ranged GET
 *   (docs/link.md, "Blobs") on a connection of its own, with the device's
 *   certificate, writes them to the descriptor in order, never more, and
 *   closes it. Reply at once: OK (started), UNAUTHORIZED (the allow setting
 *   does not give this app `blobs`), BUSY (a fetch is under way: one at a
 *   time), UNAVAILABLE (no server configured). When it ends, the tunnel
 *   closes the descriptor and notifies KOS_TUNNEL_NEWS_FETCH.
 * KOS_TUNNEL_LABEL_FETCH_RESULT: no param. Reply: the ended fetch's status,
 *   payload u64 bytes written to the descriptor, then its why (text, at
 *   most KOS_TUNNEL_WHY_MAX bytes; empty on OK). OK: all of [from, to)
 *   was written. NOT_FOUND (the server has no such blob for this device),
 *   REFUSED (the server refused the device), UNREACHABLE (no connection,
 *   or it broke), TIMEOUT (no byte for KOS_TUNNEL_FETCH_IDLE_MS),
 *   PROTOCOL (the server's answer was malformed: a wrong status, range or
 *   length), IO (writing to the descriptor failed). WOULD_BLOCK while the
 *   fetch runs; NOT_FOUND when this app started none. A fetch that failed
 *   part-way resumes with a new FETCH from where it stopped.
 * Notification KOS_TUNNEL_NOTE_NEWS: param the channels with data or room
 *   (1u << channel), KOS_TUNNEL_NEWS_LINK when the link went up or down,
 *   and KOS_TUNNEL_NEWS_FETCH when this app's fetch ended.
 * Any other label is answered with KOS_STATUS_UNSUPPORTED; a malformed
 * request with KOS_STATUS_PROTOCOL.
 */
enum {
    KOS_TUNNEL_LABEL_OPEN = 1,
    KOS_TUNNEL_LABEL_SEND = 2,
    KOS_TUNNEL_LABEL_RECEIVE = 3,
    KOS_TUNNEL_LABEL_STATUS = 4,
    KOS_TUNNEL_LABEL_CLOSE = 5,
    KOS_TUNNEL_LABEL_STREAM = 6,
    KOS_TUNNEL_LABEL_FETCH = 7,
    KOS_TUNNEL_LABEL_FETCH_RESULT = 8,
    KOS_TUNNEL_NOTE_NEWS = 16,
};
#define KOS_TUNNEL_NEWS_LINK   (1u << 31)
#define KOS_TUNNEL_NEWS_FETCH  (1u << 30)
#define KOS_TUNNEL_CHANNELS    0x3eu /* the fixed channels 1..5 as a mask */
#define KOS_TUNNEL_STATUS_SIZE (4u + 4u + 8u + 1u + 64u + 1u + 255u)
#define KOS_TUNNEL_STREAMS_MAX 8u   /* streams open at once on the device */
#define KOS_TUNNEL_WHY_MAX     200u /* a refusal's text */
#define KOS_TUNNEL_DEST_MAX    63u  /* a destination's name */
#define KOS_TUNNEL_FETCH_MAX   (1ull << 32) /* the largest blob fetched (4 GiB) */
#define KOS_TUNNEL_FETCH_IDLE_MS 30000u     /* a fetch that gets no byte this long ends */

typedef struct kos_tunnel kos_tunnel_t;

/* Requests kos_tunnel_protocol on `dir` (waiting up to timeout_ms for the
 * tunnel to publish it) and claims `channels` (a bit mask, 1u << channel;
 * 0 for an app that only opens streams) for this app. On success *out is the caller's (kos_tunnel_close()).
 * KOS_STATUS_UNAUTHORIZED if the tunnel's allow setting does not give this
 * app one of them. */
KOS_API KOS_MUST kos_status_t kos_tunnel_open(kos_dir_t *dir, uint32_t channels, int timeout_ms,
                                              kos_tunnel_t **out);

/* Gives the channels up and closes the token. kos_tunnel_close(NULL) does
 * nothing. */
KOS_API void kos_tunnel_close(kos_tunnel_t *t);

/* Queues len bytes (at most KOS_TUNNEL_DATA_MAX) as one data envelope on
 * `channel`. Does not wait for the link or the server's credit: see the
 * statuses above. Blocks only for the call to the tunnel. */
KOS_API KOS_MUST kos_status_t kos_tunnel_send(kos_tunnel_t *t, uint32_t channel, const void *data,
                                              size_t len);

/* Takes the next data received on `channel` into buf (cap bytes, at least
 * KOS_TUNNEL_DATA_MAX), its length in *len. KOS_STATUS_WOULD_BLOCK when
 * there is none. */
KOS_API KOS_MUST kos_status_t kos_tunnel_receive(kos_tunnel_t *t, uint32_t channel, void *buf,
                                                 size_t cap, size_t *len);

/* Opens a forwarded TCP stream to `destination`, a name the tunnel's
 * `streams` setting gives this app and the server maps to a host and port
 * of its own (docs/link.md, "Streams"), waiting up to timeout_ms for the
 * server's answer. On KOS_STATUS_OK *fd is a connected TCP socket,
 * blocking and close-on-exec, the caller's: what it writes reaches the
 * destination, what the destination sends arrives on it, and either end
 * closing closes the other. On error *fd is -1 and why (whylen bytes, may
 * be NULL) says why; the statuses are those of KOS_TUNNEL_LABEL_STREAM.
 * Blocks until the server answers or the time is up. */
KOS_API KOS_MUST kos_status_t kos_tunnel_stream(kos_tunnel_t *t, const char *destination,
                                                int timeout_ms, int *fd, char *why, size_t whylen);

/* Starts fetching bytes [from, to) of the blob whose SHA-256 is `sha256`
 * from the server into `fd` (KOS_TUNNEL_LABEL_FETCH above): the tunnel gets
 * a duplicate of fd, writes the bytes in order and closes it; the caller
 * keeps its own. Returns at once; kos_tunnel_news() reports
 * KOS_TUNNEL_NEWS_FETCH when the fetch has ended, and
 * kos_tunnel_fetch_result() says how. One fetch at a time. */
KOS_API KOS_MUST kos_status_t kos_tunnel_fetch(kos_tunnel_t *t, const uint8_t sha256[32],
                                               uint64_t from, uint64_t to, int fd);

/* How the last fetch ended: its status (KOS_STATUS_WOULD_BLOCK while it
 * runs), the bytes it wrote in *written, and why (whylen bytes, may be
 * NULL) on failure. */
KOS_API KOS_MUST kos_status_t kos_tunnel_fetch_result(kos_tunnel_t *t, uint64_t *written,
                                                      char *why, size_t whylen);

/* The link's state. */
KOS_API KOS_MUST kos_status_t kos_tunnel_status(kos_tunnel_t *t, struct kos_tunnel_status *st);

/* A descriptor that becomes readable when the tunnel has news for this app
 * (data received, room to send, the link up or down); drain it with
 * kos_tunnel_news() before polling again. */
KOS_API int kos_tunnel_fd(const kos_tunnel_t *t);

/* Takes the tunnel's notifications; returns the channels (bit mask) with
 * data or room since the last call, with KOS_TUNNEL_NEWS_FETCH set when
 * this app's fetch ended, and sets *link_changed when the link went up or
 * down. Never blocks. */
KOS_API uint32_t kos_tunnel_news(kos_tunnel_t *t, int *link_changed);

#ifdef __cplusplus
}
#endif
#endif
