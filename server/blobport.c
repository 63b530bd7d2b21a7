/*
 * blobport.c - the device port's blob route (blobport.h): answers GET
 * /kos/blobs/<sha256> [Range: bytes=FROM-[LAST]] on a device's connection,
 * one request after another, streaming each blob from its file.
 *
 * A connection goes: reading a request (at most KOS__LINK_REQUEST_MAX
 * bytes, KOS__BLOB_IDLE_MS idle) -> sending an answer (reading stops; the
 * file is read KOS__BLOB_CHUNK at a time whenever what waits for the
 * client falls to half of KOS__BLOB_QUEUE) -> reading the next request, or
 * closing (after a 400, another path, or Connection: close, once what was
 * queued has gone). What stays true: nothing but the answer's headers and
 * at most KOS__BLOB_QUEUE + KOS__BLOB_CHUNK bytes of the blob wait in
 * memory; bytes served are reported once per answer, as far as they were
 * taken; the connection is freed only by its owner, after closed().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "blobport.h"
#include "link.h"

enum blob_state { READING, SENDING, CLOSING, ENDED };

struct kos__blobconn {
    struct bufferevent *bev;
    struct event *done_ev; /* closed() from the loop */
    struct event *next_ev; /* the next request, from the loop */
    const struct kos__devport_hooks *hooks;
    void (*closed)(void *arg);
    void *arg;
    char id[KOS__DEVICE_ID_LEN + 1];
    enum blob_state state;
    bool close_after; /* the answer under way ends the connection */
    /* The answer under way (SENDING): its file and what is left to read. */
    int fd;
    char sha256[65];
    uint64_t pos, end; /* the next byte to read, one past the last */
    uint64_t queued;   /* body bytes added to the output so far */
};

static void process(struct kos__blobconn *b);

/* Says closed() on the next loop turn; the connection does nothing more. */
static void end(struct kos__blobconn *b)
{
    if (b->state == ENDED)
        return;
    b->state = ENDED;
    bufferevent_disable(b->bev, EV_READ | EV_WRITE);
    event_active(b->done_ev, 0, 0);
}

/* The answer under way is over (whole, or cut short): its file closed and
 * what the client took of it reported. */
static void answer_over(struct kos__blobconn *b)
{
    size_t waiting = evbuffer_get_length(bufferevent_get_output(b->bev));
    uint64_t taken = b->queued > waiting ? b->queued - waiting : 0;

    if (b->fd < 0)
        return;
    close(b->fd);
    b->fd = -1;
    if (b->state != SENDING || b->pos == b->end)
        taken = b->queued; /* all of it was handed on */
    if (taken && b->hooks->blob_served)
        b->hooks->blob_served(b->hooks->arg, b->id, b->sha256, taken);
    b->queued = 0;
}

/* Queues an answer without a body: `code` with Content-Length 0, a
 * Kos-Reason saying why, and Content-Range for a 416. */
static void answer_empty(struct kos__blobconn *b, int code, const char *why, uint64_t size)
{
    const char *text = code == 404   ? "Not Found"
                       : code == 416 ? "Range Not Satisfiable"
                       : code == 500 ? "Internal Server Error"
                                     : "Bad Request";
    char reason[KOS__LINK_REASON_MAX + 1];
    size_t i;

    for (i = 0; why[i] && i < KOS__LINK_REASON_MAX; i++)
        reason[i] = why[i] >= 0x20 && why[i] <= 0x7e ? why[i] : '?';
    reason[i] = '\0';
    evbuffer_add_printf(bufferevent_get_output(b->bev),
                        "HTTP/1.1 %d %s\r\nContent-Type: application/octet-stream\r\n"
                        "Content-Length: 0\r\n",
                        code, text);
    if (code == 416)
        evbuffer_add_printf(bufferevent_get_output(b->bev),
                            "Content-Range: bytes */%" PRIu64 "\r\n", size);
    evbuffer_add_printf(bufferevent_get_output(b->bev), "Kos-Reason: %s\r\nConnection: %s\r\n\r\n",
                        reason, b->close_after ? "close" : "keep-alive");
}

/* Reads more of the blob into the output while it holds less than
 * KOS__BLOB_QUEUE; false if the file failed (the connection must end: its
 * Content-Length was promised). */
static bool fill(struct kos__blobconn *b)
{
    struct evbuffer *out = bufferevent_get_output(b->bev);

    while (b->pos < b->end && evbuffer_get_length(out) < KOS__BLOB_QUEUE) {
        size_t want =
            b->end - b->pos < KOS__BLOB_CHUNK ? (size_t)(b->end - b->pos) : KOS__BLOB_CHUNK;
        struct evbuffer_iovec v;
        ssize_t n;

        if (evbuffer_reserve_space(out, (ev_ssize_t)want, &v, 1) < 1)
            return false;
        do
            n = pread(b->fd, v.iov_base, want, (off_t)b->pos);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            return false; /* an error, or the file is shorter than it was */
        v.iov_len = (size_t)n;
        if (evbuffer_commit_space(out, &v, 1) != 0)
            return false;
        b->pos += (uint64_t)n;
        b->queued += (uint64_t)n;
    }
    return true;
}

/* The connection's timeouts: a client that takes nothing of what waits
 * for it for KOS__BLOB_STALL_MS is dropped (libevent counts a write
 * timeout only while there is output); while reading, one that sends
 * nothing for KOS__BLOB_IDLE_MS is closed. */
static void set_timeouts(struct kos__blobconn *b, bool reading)
{
    struct timeval idle = kos__link_ms_tv(KOS__BLOB_IDLE_MS);
    struct timeval stall = kos__link_ms_tv(KOS__BLOB_STALL_MS);

    bufferevent_set_timeouts(b->bev, reading ? &idle : NULL, &stall);
}

/* The answer's body is all queued: wait for the next request, or close. */
static void sent(struct kos__blobconn *b)
{
    answer_over(b);
    if (b->close_after) {
        b->state = CLOSING;
        bufferevent_disable(b->bev, EV_READ); /* nothing more is read */
        set_timeouts(b, false);
        bufferevent_setwatermark(b->bev, EV_WRITE, 0, 0);
        if (evbuffer_get_length(bufferevent_get_output(b->bev)) == 0)
            end(b);
        return;
    }
    b->state = READING;
    bufferevent_setwatermark(b->bev, EV_WRITE, 0, 0);
    set_timeouts(b, true);
    bufferevent_enable(b->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(b->bev)))
        event_active(b->next_ev, 0, 0); /* one that came while this one was answered */
}

/* Starts answering a parsed request r. */
static void answer(struct kos__blobconn *b, const struct kos__link_blob_req *r)
{
    uint64_t size = 0, last;
    kos_status_t st = KOS_STATUS_NOT_FOUND;
    int fd = -1;

    b->close_after = r->close;
    if (b->hooks->blob_open)
        st = b->hooks->blob_open(b->hooks->arg, b->id, r->sha256, &fd, &size);
    if (st != KOS_STATUS_OK) {
        answer_empty(b, st == KOS_STATUS_NOT_FOUND ? 404 : 500,
                     st == KOS_STATUS_NOT_FOUND ? "no such blob is offered to this device"
                                                : "the blob cannot be read",
                     0);
        b->close_after = b->close_after || st != KOS_STATUS_NOT_FOUND;
        sent(b);
        return;
    }
    if (r->ranged && (r->range_bad || r->from >= size)) {
        close(fd);
        answer_empty(b, 416,
                     r->range_bad ? "only Range: bytes=FROM- or bytes=FROM-LAST is served"
                                  : "the range starts at or beyond the blob's end",
                     size);
        sent(b);
        return;
    }
    b->fd = fd;
    memcpy(b->sha256, r->sha256, sizeof(b->sha256));
    b->pos = r->ranged ? r->from : 0;
    last = r->ranged && r->last < size - 1 ? r->last : size - 1;
    b->end = size ? last + 1 : 0;
    b->queued = 0;
    if (r->ranged)
        evbuffer_add_printf(bufferevent_get_output(b->bev),
                            "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream"
                            "\r\nContent-Length: %" PRIu64 "\r\nContent-Range: bytes %" PRIu64
                            "-%" PRIu64 "/%" PRIu64 "\r\nConnection: %s\r\n\r\n",
                            b->end - b->pos, b->pos, last, size,
                            b->close_after ? "close" : "keep-alive");
    else
        evbuffer_add_printf(bufferevent_get_output(b->bev),
                            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                            "Content-Length: %" PRIu64 "\r\nConnection: %s\r\n\r\n",
                            size, b->close_after ? "close" : "keep-alive");
    b->state = SENDING;
    bufferevent_disable(b->bev, EV_READ); /* the next request waits in the kernel */
    set_timeouts(b, false);
    bufferevent_setwatermark(b->bev, EV_WRITE, KOS__BLOB_QUEUE / 2, 0);
    if (!fill(b)) {
        end(b);
        return;
    }
    if (b->pos == b->end)
        sent(b);
}

/* Takes the next request from the input, if it has come whole. */
static void process(struct kos__blobconn *b)
{
    struct evbuffer *in = bufferevent_get_input(b->bev);
    struct evbuffer_ptr eoh = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    struct kos__link_blob_req r;
    char why[192], *hdr;
    size_t len;
    int code;

    if (b->state != READING)
        return;
    if (evbuffer_get_length(bufferevent_get_output(b->bev)) > KOS__BLOB_QUEUE) {
        /* Answers the client has not taken: the next request waits. */
        bufferevent_disable(b->bev, EV_READ);
        bufferevent_setwatermark(b->bev, EV_WRITE, KOS__BLOB_QUEUE / 2, 0);
        return;
    }
    if (eoh.pos < 0 ? evbuffer_get_length(in) > KOS__LINK_REQUEST_MAX
                    : (size_t)eoh.pos + 4 > KOS__LINK_REQUEST_MAX) {
        b->close_after = true;
        answer_empty(b, 400, "a request over 8 KiB", 0);
        sent(b);
        return;
    }
    if (eoh.pos < 0)
        return;
    len = (size_t)eoh.pos + 4;
    hdr = malloc(len);
    if (!hdr) {
        end(b);
        return;
    }
    evbuffer_remove(in, hdr, len);
    code = kos__link_parse_blob_request(hdr, len, &r, why, sizeof(why));
    free(hdr);
    if (code) {
        b->close_after = true;
        answer_empty(b, code, why, 0);
        sent(b);
        return;
    }
    answer(b, &r);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct kos__blobconn *b = arg;

    if (b->state == CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        end(b);
        return;
    }
    if (b->state == READING) {
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        bufferevent_enable(bev, EV_READ);
        process(b);
        return;
    }
    if (b->state != SENDING)
        return;
    if (!fill(b)) {
        end(b);
        return;
    }
    if (b->pos == b->end)
        sent(b);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    end(arg); /* EOF, an error, a client idle or stalled too long */
}

static void next_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    process(arg);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct kos__blobconn *b = arg;

    (void)fd;
    (void)what;
    b->closed(b->arg); /* frees b */
}

struct kos__blobconn *kos__blobconn_new(struct event_base *base, struct bufferevent *bev,
                                        const char *id, const struct kos__devport_hooks *hooks,
                                        void (*closed)(void *arg), void *arg)
{
    struct kos__blobconn *b = calloc(1, sizeof(*b));

    if (!b || !(b->done_ev = event_new(base, -1, 0, done_cb, b)) ||
        !(b->next_ev = event_new(base, -1, 0, next_cb, b))) {
        if (b && b->done_ev)
            event_free(b->done_ev);
        free(b);
        bufferevent_free(bev);
        return NULL;
    }
    b->bev = bev;
    b->hooks = hooks;
    b->closed = closed;
    b->arg = arg;
    b->fd = -1;
    snprintf(b->id, sizeof(b->id), "%s", id);
    b->state = READING;
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, b);
    set_timeouts(b, true);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    process(b); /* the first request came with the handshake, or part of it */
    return b;
}

void kos__blobconn_free(struct kos__blobconn *b)
{
    SSL *ssl;

    if (!b)
        return;
    answer_over(b);
    ssl = bufferevent_openssl_get_ssl(b->bev);
    if (ssl)
        (void)SSL_shutdown(ssl); /* close_notify, if the socket takes it now */
    bufferevent_free(b->bev);
    event_free(b->done_ev);
    event_free(b->next_ev);
    free(b);
}
