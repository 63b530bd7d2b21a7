/*
 * test_server_events.c - server-sent event streams (server/events.c) on a
 * real evhttp server and raw client sockets in this process: events reach
 * the clients whose filter they pass, as "event:" and "data:" lines; a
 * client that never reads is dropped once what waits for it would pass
 * KOS__SRV_SSE_QUEUE_MAX, and the others go on; a client that goes away is
 * forgotten; there are never more than KOS__SRV_SSE_CLIENTS_MAX. Waits are
 * bounded by a number of loop turns, never by a time asserted on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/http.h>

#include "events.h"
#include "srv_limits.h"

static struct event_base *base;
static struct evhttp *http;
static struct kos__events *hub;
static unsigned port;

static void handler(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req), *dev = strstr(uri, "device=");

    (void)arg;
    if (kos__events_attach(hub, req, dev ? dev + 7 : "") != KOS_STATUS_OK)
        evhttp_send_error(req, 503, NULL);
}

static int setup(void **state)
{
    struct evhttp_bound_socket *s;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    (void)state;
    base = event_base_new();
    hub = kos__events_create(base);
    http = evhttp_new(base);
    evhttp_set_gencb(http, handler, NULL);
    s = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (!s || getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sin, &len) != 0)
        return -1;
    port = ntohs(sin.sin_port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kos__events_destroy(hub);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}

/* Turns the loop until cond(arg) holds; at most 20000 turns of about a
 * millisecond (a bound on the wait, not a time the test asserts). */
static bool spin(bool (*cond)(void *), void *arg)
{
    for (int i = 0; i < 20000; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (cond(arg))
            return true;
        usleep(1000);
    }
    return false;
}

static bool clients_are(void *arg)
{
    return kos__events_clients(hub) == (size_t)(uintptr_t)arg;
}

/* A client socket asking for the stream with `query`, with a receive
 * buffer of `rcvbuf` bytes (0: the default); waits until it is attached. */
static int client(const char *query, int rcvbuf)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char req[256];
    size_t before = kos__events_clients(hub);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    snprintf(req, sizeof(req), "GET /events%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", query);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    assert_true(spin(clients_are, (void *)(uintptr_t)(before + 1)));
    return fd;
}

/* What client fd has received so far, appended to buf. */
struct got {
    int fd;
    char buf[65536];
    size_t len;
    const char *want;
};

static bool received(void *arg)
{
    struct got *g = arg;
    ssize_t n;

    while (g->len < sizeof(g->buf) - 1 &&
           (n = read(g->fd, g->buf + g->len, sizeof(g->buf) - 1 - g->len)) > 0)
        g->len += (size_t)n;
    g->buf[g->len] = '\0';
    return strstr(g->buf, g->want) != NULL;
}

static void send_event(const char *type, const char *device, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);

    assert_non_null(j);
    kos__events_send(hub, type, device, j);
    json_decref(j);
}

static void test_delivered_and_filtered(void **state)
{
    const char *dev_x = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *dev_y = "2222222222222222222222222222222222222222222222222222222222222222";
    char q[128];
    struct got all = {0}, only_x = {0};

    (void)state;
    snprintf(q, sizeof(q), "?device=%s", dev_x);
    all.fd = client("", 0);
    only_x.fd = client(q, 0);
    all.want = only_x.want = "text/event-stream";
    assert_true(spin(received, &all));
    assert_true(spin(received, &only_x));
    send_event("device", dev_y, "{\"id\":\"y\"}");
    send_event("log", dev_x, "{\"id\":\"x\"}");
    all.want = "event: log\ndata: {\"id\":\"x\"}\n\n";
    only_x.want = all.want;
    assert_true(spin(received, &all));
    assert_true(spin(received, &only_x));
    assert_non_null(strstr(all.buf, "event: device\ndata: {\"id\":\"y\"}\n\n"));
    assert_null(strstr(only_x.buf, "\"y\""));
    /* A client that goes away is forgotten. */
    close(all.fd);
    assert_true(spin(clients_are, (void *)1));
    close(only_x.fd);
    assert_true(spin(clients_are, (void *)0));
    assert_int_equal(kos__events_dropped(hub), 0);
}

static bool dropped_one(void *arg)
{
    (void)arg;
    return kos__events_dropped(hub) == 1 && kos__events_clients(hub) == 1;
}

static void test_slow_client_dropped(void **state)
{
    static char big[16 * 1024 + 64];
    struct got reader = {0};
    int sleeper;
    size_t sent = 0;
    json_t *j;

    (void)state;
    /* One client never reads (and has a small receive buffer); one reads. */
    sleeper = client("", 4096);
    reader.fd = client("", 0);
    memset(big, 'z', sizeof(big) - 1);
    j = json_pack("{s:s}", "text", big);
    for (int i = 0; i < 1000 && kos__events_dropped(hub) == 0; i++) {
        kos__events_send(hub, "log", NULL, j);
        sent += sizeof(big);
        reader.want = "";
        received(&reader);
        reader.len = 0; /* the reader takes everything, keeps nothing */
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    json_decref(j);
    /* Dropped once the bound was reached, long before all was sent, and
     * the reader is still there. */
    assert_true(spin(dropped_one, NULL));
    assert_true(sent < 1000 * sizeof(big));
    assert_true(sent >= KOS__SRV_SSE_QUEUE_MAX);
    send_event("device", NULL, "{\"after\":1}");
    reader.want = "{\"after\":1}";
    assert_true(spin(received, &reader));
    /* The dropped client's connection is closed: reading ends. */
    {
        char buf[65536];
        ssize_t n;
        size_t total = 0;
        fcntl(sleeper, F_SETFL, 0);
        while ((n = read(sleeper, buf, sizeof(buf))) > 0)
            total += (size_t)n;
        assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
        assert_true(total < sent);
    }
    close(sleeper);
    close(reader.fd);
}

static void test_bounded_clients(void **state)
{
    int fds[KOS__SRV_SSE_CLIENTS_MAX], extra;
    struct got g = {0};

    (void)state;
    for (unsigned i = 0; i < KOS__SRV_SSE_CLIENTS_MAX; i++)
        fds[i] = client("", 0);
    /* One more is refused (the handler answers 503); the hub is unchanged. */
    {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        const char *req = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        extra = socket(AF_INET, SOCK_STREAM, 0);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(extra, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(write(extra, req, strlen(req)), (ssize_t)strlen(req));
        fcntl(extra, F_SETFL, O_NONBLOCK);
        g.fd = extra;
        g.want = "503";
        assert_true(spin(received, &g));
    }
    assert_int_equal(kos__events_clients(hub), KOS__SRV_SSE_CLIENTS_MAX);
    close(extra);
    /* The hub ends the streams that remain when it is destroyed (teardown;
     * a sanitizer build sees any leak). */
    for (unsigned i = 0; i < KOS__SRV_SSE_CLIENTS_MAX; i++)
        close(fds[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delivered_and_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_clients, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
