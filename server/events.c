/*
 * events.c - server-sent event streams (events.h), on evhttp's chunked
 * replies.
 *
 * What stays true: a client is in hub->clients from kos__events_attach()
 * until its connection's close callback, which is the only place it is
 * freed; a client marked doomed gets nothing more and its connection is
 * freed by the reaper (an event made active, so it runs on the next loop
 * turn), whose freeing calls that close callback.
 *
 * How a connection ends decides who frees the request: when the peer goes
 * (EOF, error, timeout), evhttp detaches the unfinished request from the
 * connection before the close callback, and evhttp_send_reply_end() frees
 * it; when the reaper frees the connection, the request is still attached
 * and evhttp frees it with the connection.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "events.h"
#include "srv_limits.h"
#include "srvlog.h"

struct client {
    TAILQ_ENTRY(client) link;
    struct kos__events *hub;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    char device[65];
    bool doomed;
};

struct kos__events {
    struct event_base *base;
    TAILQ_HEAD(, client) clients;
    size_t n;
    uint64_t dropped;
    struct event *reaper, *keepalive;
};

static void on_close(struct evhttp_connection *conn, void *arg)
{
    struct client *c = arg;

    (void)conn;
    TAILQ_REMOVE(&c->hub->clients, c, link);
    c->hub->n--;
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_send_reply_end(c->req); /* detached by evhttp: this frees it */
    free(c);
}

static void reap(evutil_socket_t fd, short what, void *arg)
{
    struct kos__events *ev = arg;
    struct client *c;

    (void)fd;
    (void)what;
    /* Freeing a connection calls on_close(), which unlinks the client. */
    for (bool again = true; again;) {
        again = false;
        TAILQ_FOREACH(c, &ev->clients, link)
        {
            if (c->doomed) {
                evhttp_connection_free(c->conn);
                again = true;
                break;
            }
        }
    }
}

/* Queues s[0..len) for client c, or dooms it if that would take what
 * waits for it past the bound. */
static void put(struct client *c, const char *s, size_t len)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    struct evbuffer *buf;
    size_t waiting;

    if (c->doomed)
        return;
    waiting = evbuffer_get_length(bufferevent_get_output(bev));
    if (waiting + len > KOS__SRV_SSE_QUEUE_MAX) {
        c->doomed = true;
        c->hub->dropped++;
        kos__srv_log("events: dropped a client that does not read (%zu bytes waiting for it)",
                     waiting);
        event_active(c->hub->reaper, EV_TIMEOUT, 0);
        return;
    }
    buf = evbuffer_new();
    if (!buf || evbuffer_add(buf, s, len) != 0) {
        evbuffer_free(buf);
        return;
    }
    evhttp_send_reply_chunk(c->req, buf);
    evbuffer_free(buf);
}

static void keepalive(evutil_socket_t fd, short what, void *arg)
{
    static const char line[] = ": keep-alive\n\n";
    struct kos__events *ev = arg;
    struct client *c;

    (void)fd;
    (void)what;
    TAILQ_FOREACH(c, &ev->clients, link)
    put(c, line, sizeof(line) - 1);
}

struct kos__events *kos__events_create(struct event_base *base)
{
    struct kos__events *ev = calloc(1, sizeof(*ev));
    struct timeval every = {KOS__SRV_SSE_KEEPALIVE_S, 0};

    if (!ev)
        return NULL;
    ev->base = base;
    TAILQ_INIT(&ev->clients);
    ev->reaper = event_new(base, -1, 0, reap, ev);
    ev->keepalive = event_new(base, -1, EV_PERSIST, keepalive, ev);
    if (!ev->reaper || !ev->keepalive || event_add(ev->keepalive, &every) != 0) {
        kos__events_destroy(ev);
        return NULL;
    }
    return ev;
}

void kos__events_destroy(struct kos__events *ev)
{
    struct client *c;

    if (!ev)
        return;
    while ((c = TAILQ_FIRST(&ev->clients)) != NULL)
        evhttp_connection_free(c->conn); /* on_close() unlinks it */
    if (ev->reaper)
        event_free(ev->reaper);
    if (ev->keepalive)
        event_free(ev->keepalive);
    free(ev);
}

kos_status_t kos__events_attach(struct kos__events *ev, struct evhttp_request *req,
                                const char *device)
{
    static const char hello[] = ": kos-server events\nretry: 3000\n\n";
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct timeval write_timeout = {KOS__SRV_SSE_WRITE_TIMEOUT_S, 0};
    struct bufferevent *bev;
    struct client *c;
    int sndbuf = (int)KOS__SRV_SSE_SNDBUF;

    if (ev->n >= KOS__SRV_SSE_CLIENTS_MAX)
        return KOS_STATUS_BUSY;
    c = calloc(1, sizeof(*c));
    if (!c)
        return KOS_STATUS_NO_MEMORY;
    c->hub = ev;
    c->req = req;
    c->conn = evhttp_request_get_connection(req);
    snprintf(c->device, sizeof(c->device), "%s", device);
    TAILQ_INSERT_TAIL(&ev->clients, c, link);
    ev->n++;
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(c->conn, on_close, c);
    bev = evhttp_connection_get_bufferevent(c->conn);
    /* What the client does not take waits in the output buffer, where it is
     * counted, not in a large kernel buffer; a stream is never idle-timed
     * out for reading (the client sends nothing), only for not taking what
     * is written. */
    setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    /* Events are small and someone waits for each (a command's result):
     * one is sent at once, not held back by Nagle's algorithm until the
     * client acknowledges the one before (up to its 40 ms delayed ACK). */
    (void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    bufferevent_set_timeouts(bev, NULL, &write_timeout);
    /* Nothing the client sends now is read, so it cannot pile up either. */
    bufferevent_setwatermark(bev, EV_READ, 0, KOS__SRV_HEADERS_MAX);
    put(c, hello, sizeof(hello) - 1);
    return KOS_STATUS_OK;
}

void kos__events_send(struct kos__events *ev, const char *type, const char *device,
                      const json_t *data)
{
    char *json = json_dumps(data, JSON_COMPACT);
    char *text = NULL;
    struct client *c;
    int len;

    if (!json)
        return;
    len = asprintf(&text, "event: %s\ndata: %s\n\n", type, json);
    free(json);
    if (len < 0)
        return;
    TAILQ_FOREACH(c, &ev->clients, link)
    {
        if (!c->device[0] || (device && strcmp(device, c->device) == 0))
            put(c, text, (size_t)len);
    }
    free(text);
}

size_t kos__events_clients(const struct kos__events *ev)
{
    return ev->n;
}

uint64_t kos__events_dropped(const struct kos__events *ev)
{
    return ev->dropped;
}
