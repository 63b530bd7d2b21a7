/*
 * test_server_debug.c - remote debugging's relay in kos-server
 * (server/debug.c), driven as the API and the device port drive it, with a
 * real TCP client on the session's port: an open sent as a DebugOpen on
 * channel 5 to an online device only; the device's refusal answered with
 * its status and text, escaped; an open answered with a loopback port and
 * a token; a client without the token refused and the session ended; with
 * it, bytes relayed both ways and the device's end reaching the client
 * after what it sent; one session per device; a malformed DebugUp ends the
 * device's link; the link ending, the client going away, the server
 * stopping; a session whose port takes gdb itself, and one ended through
 * the API.
 *
 * kos__devport_send() and kos__devport_kick() are server_port.h's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "debug.h"
#include "debug.pb-c.h"
#include "server_fixture.h"
#include "server_port.h"

static int setup(void **state)
{
    if (srv_setup(state, "bench-1", 5, 3))
        return -1;
    snprintf(srv.address, sizeof(srv.address), "127.0.0.1");
    srv.debug = kos__debug_create(srv.base);
    return srv.debug ? 0 : -1;
}

static int teardown(void **state)
{
    kos__debug_destroy(srv.debug);
    return srv_teardown(state);
}

/* The i-th message sent: a DebugDown on channel 5, unpacked (the caller
 * frees it). */
static Kos__Debug__DebugDown *sent(size_t i)
{
    assert_true(i < port.n_sent);
    assert_int_equal(port.sent_ch[i], 5);
    Kos__Debug__DebugDown *d = kos__debug__debug_down__unpack(NULL, port.sent_len[i], port.sent[i]);
    assert_non_null(d);
    return d;
}

/* The device answers the open (opened) or ends the session (closed). */
static void device_says(bool closed, uint32_t status, const char *message)
{
    Kos__Debug__DebugUp up = KOS__DEBUG__DEBUG_UP__INIT;
    Kos__Debug__DebugOpened op = KOS__DEBUG__DEBUG_OPENED__INIT;
    Kos__Debug__DebugClosed cl = KOS__DEBUG__DEBUG_CLOSED__INIT;
    uint8_t buf[1024];

    if (closed) {
        cl.status = status;
        cl.message = (char *)message;
        up.body_case = KOS__DEBUG__DEBUG_UP__BODY_CLOSED;
        up.closed = &cl;
    } else {
        op.status = status;
        op.message = (char *)message;
        up.body_case = KOS__DEBUG__DEBUG_UP__BODY_OPENED;
        up.opened = &op;
    }
    hooks.data(hooks.arg, id, 5, buf, kos__debug__debug_up__pack(&up, buf));
}

static void device_sends(const char *bytes)
{
    Kos__Debug__DebugUp up = KOS__DEBUG__DEBUG_UP__INIT;
    uint8_t buf[1024];

    up.body_case = KOS__DEBUG__DEBUG_UP__BODY_DATA;
    up.data.data = (uint8_t *)bytes;
    up.data.len = strlen(bytes);
    hooks.data(hooks.arg, id, 5, buf, kos__debug__debug_up__pack(&up, buf));
}

static void turn(void)
{
    for (int i = 0; i < 20; i++)
        event_base_loop(srv.base, EVLOOP_NONBLOCK);
}

/* Connects to the session's port and sends `hello`. */
static int client(const struct ended *e, const char *hello)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sin.sin_port = htons((uint16_t)json_integer_value(json_object_get(e->answer, "port")));
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(send(fd, hello, strlen(hello), 0), (ssize_t)strlen(hello));
    turn();
    return fd;
}

/* Reads what the client has now (the loop turned meanwhile); -1 at EOF. */
static ssize_t client_read(int fd, char *buf, size_t cap)
{
    for (int i = 0; i < 200; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        turn();
        if (poll(&p, 1, 10) > 0) {
            ssize_t n = recv(fd, buf, cap, 0);
            return n == 0 ? -1 : n;
        }
    }
    return 0;
}

/* An open the device grants: the answer in e. */
static void open_ok(struct ended *e, uint64_t *sid)
{
    assert_int_equal(kos__debug_open(&srv, id, "ticker", false, done, e, sid, err, sizeof(err)),
                     KOS_STATUS_OK);
    Kos__Debug__DebugDown *d = sent(port.n_sent - 1);
    assert_int_equal(d->body_case, KOS__DEBUG__DEBUG_DOWN__BODY_OPEN);
    assert_int_equal(d->open->app.len, 6);
    assert_memory_equal(d->open->app.data, "ticker", 6);
    kos__debug__debug_down__free_unpacked(d, NULL);
    device_says(false, 0, "gdbserver attached to app 'ticker'");
    assert_int_equal(e->calls, 1);
    assert_int_equal(e->code, 200);
    assert_true(json_integer_value(json_object_get(e->answer, "port")) > 0);
    assert_int_equal(strlen(json_string_value(json_object_get(e->answer, "token"))),
                     KOS__SRV_DEBUG_TOKEN_HEX);
    assert_string_equal(json_string_value(json_object_get(e->answer, "app")), "ticker");
}

static void test_refused(void **state)
{
    (void)state;
    struct ended e = {0};
    uint64_t sid;

    assert_int_equal(kos__debug_open(&srv, id, "ticker", false, done, &e, &sid, err, sizeof(err)),
                     KOS_STATUS_UNAVAILABLE);
    assert_non_null(strstr(err, "is not online"));
    assert_int_equal(kos__debug_open(&srv, "00", "ticker", false, done, &e, &sid, err, sizeof(err)),
                     KOS_STATUS_NOT_FOUND);
    assert_int_equal(port.n_sent, 0);
    hooks.online(hooks.arg, id);
    assert_int_equal(kos__debug_open(&srv, id, "plain", false, done, &e, &sid, err, sizeof(err)),
                     KOS_STATUS_OK);
    /* A second while one is under way: one per device. */
    struct ended e2 = {0};
    assert_int_equal(kos__debug_open(&srv, id, "plain", false, done, &e2, &sid, err, sizeof(err)),
                     KOS_STATUS_BUSY);
    assert_non_null(strstr(err, "has a debug session already"));
    /* The device refuses: its status and its text, escaped. */
    device_says(false, KOS_STATUS_UNAUTHORIZED, "app 'plain' is not marked \x1b[2J debug: true");
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.code, 403);
    assert_string_equal(json_string_value(json_object_get(e.answer, "error")),
                        "app 'plain' is not marked \\x1b[2J debug: true");
    assert_int_equal(json_integer_value(json_object_get(e.answer, "status")),
                     KOS_STATUS_UNAUTHORIZED);
    assert_int_equal(kos__debug_sessions(srv.debug), 0);
    /* Disabled, unknown: 403, 404. */
    assert_int_equal(kos__debug_open(&srv, id, "nosuch", false, done, &e, &sid, err, sizeof(err)),
                     KOS_STATUS_OK);
    device_says(false, KOS_STATUS_NOT_FOUND, "no app 'nosuch' in this system");
    assert_int_equal(e.code, 404);
    assert_int_equal(e2.calls, 0);
    json_decref(e.answer);
}

static void test_relay(void **state)
{
    (void)state;
    struct ended e = {0};
    uint64_t sid;
    char buf[256];

    hooks.online(hooks.arg, id);
    open_ok(&e, &sid);
    char hello[80];
    snprintf(hello, sizeof(hello), "KOS-DEBUG %s\n$?#3f",
             json_string_value(json_object_get(e.answer, "token")));
    size_t before = port.n_sent;
    int fd = client(&e, hello);
    /* The bytes after the token line go to the device as data. */
    assert_int_equal(port.n_sent, before + 1);
    Kos__Debug__DebugDown *d = sent(before);
    assert_int_equal(d->body_case, KOS__DEBUG__DEBUG_DOWN__BODY_DATA);
    assert_int_equal(d->data.len, 5);
    assert_memory_equal(d->data.data, "$?#3f", 5);
    kos__debug__debug_down__free_unpacked(d, NULL);
    /* The device's bytes reach the client; its end comes after them. */
    device_sends("+$S05#b8");
    assert_int_equal(client_read(fd, buf, sizeof(buf)), 8);
    assert_memory_equal(buf, "+$S05#b8", 8);
    device_sends("$W00#b7");
    device_says(true, 0, "the debug agent of app 'ticker' ended the session");
    assert_int_equal(client_read(fd, buf, sizeof(buf)), 7);
    assert_int_equal(client_read(fd, buf, sizeof(buf)), -1);
    assert_int_equal(kos__debug_sessions(srv.debug), 0);
    close(fd);
    assert_int_equal(port.n_kicked, 0);
    json_decref(e.answer);
}

static void test_token_and_client_gone(void **state)
{
    (void)state;
    struct ended e = {0};
    uint64_t sid;
    char buf[64];

    hooks.online(hooks.arg, id);
    open_ok(&e, &sid);
    /* The wrong token: the connection and the session end; the device is
     * told to close. */
    int fd = client(&e, "KOS-DEBUG 00000000000000000000000000000000\n$g#67");
    assert_int_equal(client_read(fd, buf, sizeof(buf)), -1);
    close(fd);
    assert_int_equal(kos__debug_sessions(srv.debug), 0);
    Kos__Debug__DebugDown *d = sent(port.n_sent - 1);
    assert_int_equal(d->body_case, KOS__DEBUG__DEBUG_DOWN__BODY_CLOSE);
    kos__debug__debug_down__free_unpacked(d, NULL);
    /* The right token, then the client goes away: the device is told. */
    json_decref(e.answer);
    memset(&e, 0, sizeof(e));
    open_ok(&e, &sid);
    char hello[80];
    snprintf(hello, sizeof(hello), "KOS-DEBUG %s\n",
             json_string_value(json_object_get(e.answer, "token")));
    fd = client(&e, hello);
    close(fd);
    turn();
    assert_int_equal(kos__debug_sessions(srv.debug), 0);
    d = sent(port.n_sent - 1);
    assert_int_equal(d->body_case, KOS__DEBUG__DEBUG_DOWN__BODY_CLOSE);
    kos__debug__debug_down__free_unpacked(d, NULL);
    json_decref(e.answer);
}

/* A session for gdb itself (the web UI's): no token in the answer, the
 * target line; the client's bytes go to the device from the first one; an
 * end asked through the API tells the device and ends the client. */
static void test_gdb_and_end(void **state)
{
    (void)state;
    struct ended e = {0};
    uint64_t sid;
    char buf[64], app[64], target[64];

    hooks.online(hooks.arg, id);
    assert_int_equal(kos__debug_end(&srv, id, app), KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__debug_open(&srv, id, "ticker", true, done, &e, &sid, err, sizeof(err)),
                     KOS_STATUS_OK);
    device_says(false, 0, "gdbserver attached to app 'ticker'");
    assert_int_equal(e.code, 200);
    assert_null(json_object_get(e.answer, "token"));
    assert_true(json_is_true(json_object_get(e.answer, "gdb")));
    snprintf(target, sizeof(target), "target remote 127.0.0.1:%lld",
             (long long)json_integer_value(json_object_get(e.answer, "port")));
    assert_string_equal(json_string_value(json_object_get(e.answer, "target")), target);
    size_t before = port.n_sent;
    int fd = client(&e, "$?#3f");
    assert_int_equal(port.n_sent, before + 1);
    Kos__Debug__DebugDown *d = sent(before);
    assert_int_equal(d->body_case, KOS__DEBUG__DEBUG_DOWN__BODY_DATA);
    assert_memory_equal(d->data.data, "$?#3f", 5);
    kos__debug__debug_down__free_unpacked(d, NULL);
    device_sends("+$S05#b8");
    assert_int_equal(client_read(fd, buf, sizeof(buf)), 8);
    /* Ended through the API: the device told, the client at its end. */
    assert_int_equal(kos__debug_end(&srv, id, app), KOS_STATUS_OK);
    assert_string_equal(app, "ticker");
    assert_int_equal(kos__debug_sessions(srv.debug), 0);
    d = sent(port.n_sent - 1);
    assert_int_equal(d->body_case, KOS__DEBUG__DEBUG_DOWN__BODY_CLOSE);
    kos__debug__debug_down__free_unpacked(d, NULL);
    assert_int_equal(client_read(fd, buf, sizeof(buf)), -1);
    close(fd);
    json_decref(e.answer);

    /* An open still waiting for the device, ended: answered 409. */
    memset(&e, 0, sizeof(e));
    assert_int_equal(kos__debug_open(&srv, id, "ticker", true, done, &e, &sid, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(kos__debug_end(&srv, id, app), KOS_STATUS_OK);
    turn();
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.code, 409);
    json_decref(e.answer);
}

static void test_device_breaks_and_goes(void **state)
{
    (void)state;
    struct ended e = {0};
    uint64_t sid;

    hooks.online(hooks.arg, id);
    assert_int_equal(kos__debug_open(&srv, id, "ticker", false, done, &e, &sid, err, sizeof(err)),
                     KOS_STATUS_OK);
    /* A status that is no KOS status, and bytes that are no DebugUp: the
     * device's link is ended (on the next loop turn). */
    device_says(false, 999, "x");
    hooks.data(hooks.arg, id, 5, (const uint8_t *)"\xff\xff\xff", 3);
    event_base_loop(srv.base, EVLOOP_NONBLOCK);
    assert_int_equal(port.n_kicked, 1);
    assert_int_equal(e.calls, 0);
    hooks.offline(hooks.arg, id, "kicked");
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.code, 502);
    assert_non_null(strstr(json_string_value(json_object_get(e.answer, "error")),
                           "link ended before it answered"));
    assert_int_equal(kos__debug_sessions(srv.debug), 0);
    /* An open whose client goes away: the session ends, the device is told,
     * done() is never called. */
    hooks.online(hooks.arg, id);
    struct ended e2 = {0};
    assert_int_equal(kos__debug_open(&srv, id, "ticker", false, done, &e2, &sid, err, sizeof(err)),
                     KOS_STATUS_OK);
    kos__debug_cancel(srv.debug, sid);
    assert_int_equal(kos__debug_sessions(srv.debug), 0);
    device_says(false, 0, "late");
    assert_int_equal(e2.calls, 0);
    /* The server stopping answers what waits: 503. */
    assert_int_equal(kos__debug_open(&srv, id, "ticker", false, done, &e2, &sid, err, sizeof(err)),
                     KOS_STATUS_OK);
    kos__debug_destroy(srv.debug);
    srv.debug = NULL;
    assert_int_equal(e2.calls, 1);
    assert_int_equal(e2.code, 503);
    json_decref(e.answer);
    json_decref(e2.answer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_and_client_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gdb_and_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_breaks_and_goes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
