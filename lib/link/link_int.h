/*
 * link_int.h - what the parts of the device link's session share: link.c
 * (the session, its WebSocket and I/O, the public calls) and link_env.c
 * (the envelopes the peer sends, checked and acted on).
 */
#ifndef KOS_LINK_INT_H
#define KOS_LINK_INT_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <wslay/wslay.h>

#include "link.h"
#include "link.pb-c.h"

/* An envelope's own bytes around its data: the channel (up to 6) and the
 * data's tag and length (up to 5). */
#define ENVELOPE_OVERHEAD 16u
#define DATA_MAX          (KOS__LINK_MSG_MAX - ENVELOPE_OVERHEAD)
#define REASON_MAX        120u /* a close frame holds 123 bytes of reason */
/* Output waiting for a peer that does not read: past this the link stops
 * reading (so pings cannot make it queue pongs without end) until half of
 * it has gone; a peer that takes none of it for idle_ms ends the link. */
#define OUTPUT_HIGH (2u * KOS__LINK_MSG_MAX)
/* A receiver whose window is wide sends Credit once this much was taken
 * (or half its window), not after every read: a forwarded stream's sink
 * takes a few KiB at a time, and a Credit per read was as many TLS
 * records and wake-ups of both ends. */
#define CREDIT_STEP   (64u * 1024u)
#define BUFFER_PIECES 32                       /* pieces of a buffer copied from, as they lie */
#define VWHY_MAX      160u                     /* what the frame checker says was wrong */
#define IO_MAX        (4u * KOS__LINK_MSG_MAX) /* bytes read or written per wake-up */

/* Work done from the loop, never inside the call that asks for it. */
#define WORK_DONE   1u /* the link has ended: report closed() */
#define WORK_CREDIT 2u /* send the Credit the user's consumed() calls earned */
#define WORK_KICK   4u /* read input that is already buffered */

struct qmsg {
    struct qmsg *next;
    size_t len;  /* data bytes: what it costs in credit */
    size_t plen; /* the packed envelope */
    uint8_t packed[];
};

struct chan {
    uint64_t credit; /* data bytes we may still send */
    struct qmsg *head, *tail;
    uint32_t queued;   /* data bytes waiting for credit: at most the send bound and a message */
    uint32_t unacked;  /* bytes received and not credited back yet: at most the window */
    uint32_t consumed; /* ... of which the user has taken */
    bool want_room;    /* a send was refused with BUSY */
};

/* A stream (docs/link.md, "Streams"): its channel, how far its opening
 * and closing have come, and its flow. A slot is free (id 0) once this
 * end has both sent and received a Close for it, or once a refusal went
 * either way (a refusal is not answered). */
enum stream_state {
    SS_OPENING = 1, /* this end sent Open; waiting for the peer's answer */
    SS_ASKED,       /* the peer sent Open; this end's answer is due */
    SS_OPEN,        /* accepted both ways */
};

struct stream {
    uint32_t id; /* the channel; 0: a free slot */
    enum stream_state state;
    bool close_sent, close_got;
    bool close_pending; /* close once the queue has gone (or the answer came) */
    uint32_t close_code;
    char close_reason[REASON_MAX + 1];
    uint32_t window; /* the peer's window for it (its Open's) */
    struct chan ch;
};

struct kos__link {
    struct event_base *base;
    struct bufferevent *bev;
    const struct kos__link_cbs *cbs; /* the caller's */
    void *arg;
    enum kos__link_role role;
    enum kos__link_state state;
    uint32_t window, stream_window, upgrade_ms, ping_ms, idle_ms, close_ms;
    uint32_t bound, stream_bound; /* at most KOS__LINK_SEND_BOUND_MAX */
    /* The configuration's (kept by the caller): Hello.agent, and a
     * server's Hello.device_id ("" on a client). */
    const char *agent, *device_id;
    char *accept; /* client: the Sec-WebSocket-Accept it expects (KOS__LINK_ACCEPT_SIZE) */
    wslay_event_context_ptr ws; /* NULL while the link is idle (ws_get) */
    struct kos__link_frames frames;
    uint16_t violation;  /* set by recv_cb: the frame checker's close code */
    uint16_t close_code; /* the close frame to send once the queue is out */
    char *vwhy;          /* during ws_read, where recv_cb says what was wrong */
    const char *pending; /* server: answer the upgrade 202 with this reason */
    bool in_recv, hello_got, throttled, ws_open;
    unsigned work; /* WORK_* asked of work_ev */
    struct event *timer, *ping_timer, *work_ev;
    struct chan ch[KOS__LINK_CHANNELS - 1]; /* fixed channel c's is ch[c - 1] */
    struct stream *streams; /* KOS__LINK_STREAMS_MAX slots, made at the first stream */
    uint32_t n_streams;
    uint32_t peer_window;
    /* The peer's Hello.agent (printable) and, on a client, its
     * Hello.device_id: made at the Hello; NULL before. */
    char *peer_agent, *peer_id;
    /* Why the link ended: made when it begins ending (NULL before, and
     * without memory for it: closed() then gets a record that says so).
     * What is learnt before that is kept here. */
    struct kos__link_end *end;
    unsigned long ssl_err;
    int http_status;
    /* Dozing (doze.c): while the link dozes, bev and work_ev are NULL
     * and it is on its dozer's list; last_in is when input last came,
     * for the silence bound. */
    struct kos__link_dozer *dozer;
    struct kos__link *dprev, *dnext;
    bool dozing;
    bool dirty_ok;    /* the bufferevent allowed a dirty shutdown */
    bool short_limit; /* the read timeout is what was left of idle_ms */
    evutil_socket_t fd;
    SSL *ssl;
    struct timeval last_in;
};

/* link.c, for doze.c: the callbacks set on a bufferevent the link has
 * been given or made; the work event's callback; the end for silence
 * (input, or the peer taking output); whether nothing is in flight. */
void kos__link_bev_setup(struct kos__link *l);
void kos__link_work_cb(evutil_socket_t fd, short what, void *arg);
void kos__link_end_silent(struct kos__link *l, bool writing);
bool kos__link_quiet(const struct kos__link *l);

/* doze.c. awake: a dozing link's bufferevent and work event made again
 * (true at once for a link that is awake); false when there was no
 * memory: the link has ended, or, without memory even for its work
 * event, still dozes. doze_later: asks the work event to try dozing
 * after the dozer's delay. doze: that try (the work event's callback;
 * frees it). undoze: takes a link that is freed off its dozer. */
bool kos__link_awake(struct kos__link *l);
void kos__link_doze_later(struct kos__link *l);
void kos__link_doze(struct kos__link *l);
void kos__link_undoze(struct kos__link *l);

/* Ends the link (link.c): records why, sends the close code, stops
 * reading; closed() follows from the loop. */
void kos__link_terminate(struct kos__link *l, enum kos__link_end_kind kind, uint16_t code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The stream on channel ch, or NULL; a new one in a free slot, or NULL. */
struct stream *kos__link_stream_find(const struct kos__link *l, uint32_t ch);
struct stream *kos__link_stream_new(struct kos__link *l, uint32_t ch, enum stream_state state);
void kos__link_stream_free(struct kos__link *l, struct stream *st);
/* Channel c's flow: a fixed channel's or an open stream's; NULL if none. */
struct chan *kos__link_chan(struct kos__link *l, uint32_t c);
/* n bytes of s as printable ASCII into out (cap bytes). */
void kos__link_printable(char *out, size_t cap, const char *s, size_t n);
/* Sends what channel c's credit allows of its queue. */
void kos__link_pump(struct kos__link *l, uint32_t c);
/* Sends stream st's Close (or queues it behind its data). */
void kos__link_stream_send_close(struct kos__link *l, struct stream *st, uint32_t code,
                                 const char *reason);
/* link_env.c: one envelope from the peer, n bytes at p. */
void kos__link_on_envelope(struct kos__link *l, const uint8_t *p, size_t n);
/* Whether s is printable text of at most max bytes (empty only if
 * empty_ok). */
bool kos__link_printable_text(const char *s, size_t max, bool empty_ok);

#endif
