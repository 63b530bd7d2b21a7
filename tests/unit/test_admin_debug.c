/*
 * test_admin_debug.c - admin's remote debugging (components/admin/debug.c):
 * the relay driven with encoded DebugDown messages, as a server would send
 * them, through fake ops that stand for the tunnel and Core, and a real
 * socket pair standing for the debug agent's socket: an open refused for
 * each reason, an open Core grants, bytes both ways, the agent ending the
 * session, the server closing it, a message that is none, Core's silence,
 * a full tunnel, the link going down, and a disabled admin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "debug.pb-c.h"

#define MAX_SENT 64

struct sent {
    int kind; /* 1 opened, 2 data, 3 closed */
    uint32_t status;
    char text[600];
    size_t len;
};

static struct {
    struct sent sent[MAX_SENT];
    size_t n_sent;
    kos_status_t send_status;
    int asks;
    uint32_t core_id;
    char app[KOS__NAME_MAX];
} f;

static kos_status_t fake_send(void *arg, uint32_t channel, const void *data, size_t len)
{
    (void)arg;
    assert_int_equal(channel, KOS_TUNNEL_DEBUG);
    assert_true(len <= KOS_TUNNEL_DATA_MAX);
    if (f.send_status)
        return f.send_status;
    Kos__Debug__DebugUp *up = kos__debug__debug_up__unpack(NULL, len, data);
    assert_non_null(up);
    assert_true(f.n_sent < MAX_SENT);
    struct sent *s = &f.sent[f.n_sent++];
    memset(s, 0, sizeof(*s));
    s->kind = (int)up->body_case;
    if (up->body_case == KOS__DEBUG__DEBUG_UP__BODY_DATA) {
        s->len = up->data.len < sizeof(s->text) ? up->data.len : sizeof(s->text) - 1;
        memcpy(s->text, up->data.data, s->len);
    } else if (up->body_case == KOS__DEBUG__DEBUG_UP__BODY_OPENED) {
        s->status = up->opened->status;
        snprintf(s->text, sizeof(s->text), "%s", up->opened->message);
    } else {
        s->status = up->closed->status;
        snprintf(s->text, sizeof(s->text), "%s", up->closed->message);
    }
    kos__debug__debug_up__free_unpacked(up, NULL);
    return KOS_STATUS_OK;
}

static kos_status_t fake_attach(void *arg, uint32_t core_id, const char *app)
{
    (void)arg;
    f.asks++;
    f.core_id = core_id;
    snprintf(f.app, sizeof(f.app), "%s", app);
    return KOS_STATUS_OK;
}

static void start(struct admin_debug *d, bool enabled)
{
    struct admin_ops ops = {.send = fake_send, .debug_attach = fake_attach};

    memset(&f, 0, sizeof(f));
    assert_true(admin_debug_init(d, enabled, &ops, 0));
    admin_debug_link(d, true, 0);
}

static void down_open(struct admin_debug *d, const char *app, size_t len)
{
    Kos__Debug__DebugDown m = KOS__DEBUG__DEBUG_DOWN__INIT;
    Kos__Debug__DebugOpen o = KOS__DEBUG__DEBUG_OPEN__INIT;
    uint8_t buf[512];

    o.app.data = (uint8_t *)app;
    o.app.len = len;
    m.body_case = KOS__DEBUG__DEBUG_DOWN__BODY_OPEN;
    m.open = &o;
    assert_true(admin_debug_ready(d));
    admin_debug_input(d, buf, kos__debug__debug_down__pack(&m, buf), 0);
}

static void down_data(struct admin_debug *d, const char *bytes)
{
    Kos__Debug__DebugDown m = KOS__DEBUG__DEBUG_DOWN__INIT;
    uint8_t buf[512];

    m.body_case = KOS__DEBUG__DEBUG_DOWN__BODY_DATA;
    m.data.data = (uint8_t *)bytes;
    m.data.len = strlen(bytes);
    admin_debug_input(d, buf, kos__debug__debug_down__pack(&m, buf), 0);
}

static void down_close(struct admin_debug *d)
{
    Kos__Debug__DebugDown m = KOS__DEBUG__DEBUG_DOWN__INIT;
    Kos__Debug__DebugClose c = KOS__DEBUG__DEBUG_CLOSE__INIT;
    uint8_t buf[16];

    m.body_case = KOS__DEBUG__DEBUG_DOWN__BODY_CLOSE;
    m.close = &c;
    admin_debug_input(d, buf, kos__debug__debug_down__pack(&m, buf), 0);
}

static const struct sent *last(void)
{
    assert_true(f.n_sent > 0);
    return &f.sent[f.n_sent - 1];
}

/* Opens a session on `app` with Core granting it; *agent is the agent's
 * end of the socket pair. */
static void open_ok(struct admin_debug *d, const char *app, int *agent)
{
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    down_open(d, app, strlen(app));
    assert_int_equal(f.asks, 1);
    assert_string_equal(f.app, app);
    assert_true(f.core_id & ADMIN_DEBUG_CORE_ID_BIT);
    assert_true(
        admin_debug_core_result(d, f.core_id, KOS_STATUS_OK, "gdbserver attached", sv[0], 0));
    assert_int_equal(last()->kind, 1);
    assert_int_equal(last()->status, 0);
    assert_string_equal(last()->text, "gdbserver attached");
    *agent = sv[1];
}

static void test_refusals(void **state)
{
    (void)state;
    struct admin_debug d;
    int agent;

    start(&d, true);
    down_open(&d, "../etc", 6);
    assert_int_equal(last()->status, KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(last()->text, "'../etc' is not an app name"));
    down_open(&d, "", 0);
    assert_int_equal(last()->status, KOS_STATUS_INVALID_ARGUMENT);
    down_open(&d, "a\x1b[2J", 5);
    assert_int_equal(last()->status, KOS_STATUS_INVALID_ARGUMENT);
    assert_null(strchr(last()->text, '\x1b')); /* escaped */
    assert_int_equal(f.asks, 0);
    /* Core refuses: its status and message go to the server. */
    down_open(&d, "plain", 5);
    assert_int_equal(f.asks, 1);
    assert_true(admin_debug_core_result(&d, f.core_id, KOS_STATUS_UNAUTHORIZED,
                                        "app 'plain' is not marked debug: true", -1, 0));
    assert_int_equal(last()->kind, 1);
    assert_int_equal(last()->status, KOS_STATUS_UNAUTHORIZED);
    assert_string_equal(last()->text, "app 'plain' is not marked debug: true");
    assert_int_equal(d.state, ADMIN_DEBUG_IDLE);
    /* Another request's result is not debugging's. */
    assert_false(admin_debug_core_result(&d, 7, 0, "x", -1, 0));
    assert_false(admin_debug_core_result(&d, 0x80000001u, 0, "x", -1, 0));
    /* One session at a time. */
    f.asks = 0;
    open_ok(&d, "ticker", &agent);
    down_open(&d, "other", 5);
    assert_int_equal(last()->status, KOS_STATUS_BUSY);
    assert_non_null(strstr(last()->text, "on app 'ticker'"));
    assert_int_equal(f.asks, 1);
    admin_debug_fini(&d);
    /* Admin's end is closed: the agent sees the end. */
    char c;
    assert_int_equal(read(agent, &c, 1), 0);
    close(agent);
}

static void test_relay(void **state)
{
    (void)state;
    struct admin_debug d;
    char buf[64];
    short ev;
    int agent;

    start(&d, true);
    open_ok(&d, "ticker", &agent);
    /* Server to agent. */
    down_data(&d, "$?#3f");
    assert_int_equal(read(agent, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "$?#3f", 5);
    /* Agent to server. */
    assert_int_equal(write(agent, "+$S05#b8", 8), 8);
    assert_true(admin_debug_fd(&d, &ev) >= 0);
    assert_true(ev & POLLIN);
    admin_debug_io(&d, POLLIN, 0);
    assert_int_equal(last()->kind, 2);
    assert_int_equal(last()->len, 8);
    assert_memory_equal(last()->text, "+$S05#b8", 8);
    /* A full tunnel: the message waits, and goes with the room. */
    size_t before = f.n_sent;
    f.send_status = KOS_STATUS_BUSY;
    assert_int_equal(write(agent, "$OK#9a", 6), 6);
    admin_debug_io(&d, POLLIN, 0);
    assert_int_equal(f.n_sent, before);
    f.send_status = KOS_STATUS_OK;
    admin_debug_room(&d, 0);
    assert_int_equal(f.n_sent, before + 1);
    assert_memory_equal(last()->text, "$OK#9a", 6);
    /* The agent ends the session: the server is told. */
    close(agent);
    admin_debug_io(&d, POLLIN | POLLHUP, 0);
    assert_int_equal(last()->kind, 3);
    assert_int_equal(last()->status, 0);
    assert_non_null(strstr(last()->text, "ended the session"));
    assert_int_equal(d.state, ADMIN_DEBUG_IDLE);
    assert_int_equal(admin_debug_fd(&d, &ev), -1);
    /* Late data is dropped, counted. */
    uint64_t refused = d.refused;
    down_data(&d, "$g#67");
    assert_int_equal(d.refused, refused + 1);
    admin_debug_fini(&d);
}

static void test_close_and_garbage(void **state)
{
    (void)state;
    struct admin_debug d;
    char c;
    int agent;

    start(&d, true);
    open_ok(&d, "ticker", &agent);
    down_close(&d);
    assert_int_equal(d.state, ADMIN_DEBUG_IDLE);
    assert_int_equal(read(agent, &c, 1), 0); /* gdbserver sees the end */
    close(agent);
    /* A message that is no DebugDown ends a session. */
    f.asks = 0;
    open_ok(&d, "ticker", &agent);
    admin_debug_input(&d, (const uint8_t *)"\xff\xff\xff", 3, 0);
    assert_int_equal(last()->kind, 3);
    assert_int_equal(last()->status, KOS_STATUS_PROTOCOL);
    assert_string_equal(last()->text, "refused: not a DebugDown message (3 bytes)");
    assert_int_equal(read(agent, &c, 1), 0);
    close(agent);
    /* An empty message (no body) is none either. */
    admin_debug_input(&d, (const uint8_t *)"", 0, 0);
    assert_int_equal(last()->status, KOS_STATUS_PROTOCOL);
    admin_debug_fini(&d);
}

static void test_core_silent_and_late(void **state)
{
    (void)state;
    struct admin_debug d;
    int sv[2];

    start(&d, true);
    down_open(&d, "ticker", 6);
    assert_int_equal(admin_debug_next_ms(&d), ADMIN_DEBUG_CORE_MS);
    admin_debug_pump(&d, ADMIN_DEBUG_CORE_MS);
    assert_int_equal(last()->kind, 1);
    assert_int_equal(last()->status, KOS_STATUS_TIMEOUT);
    assert_int_equal(d.state, ADMIN_DEBUG_IDLE);
    /* Core's late answer: its socket is closed, nothing else. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    size_t n = f.n_sent;
    assert_true(admin_debug_core_result(&d, f.core_id, KOS_STATUS_OK, "late", sv[0], 0));
    assert_int_equal(f.n_sent, n);
    char c;
    assert_int_equal(read(sv[1], &c, 1), 0);
    close(sv[1]);
    admin_debug_fini(&d);
}

static void test_link_down(void **state)
{
    (void)state;
    struct admin_debug d;
    char c;
    int agent;

    start(&d, true);
    open_ok(&d, "ticker", &agent);
    admin_debug_link(&d, false, 0);
    assert_int_equal(d.state, ADMIN_DEBUG_IDLE);
    assert_int_equal(read(agent, &c, 1), 0);
    close(agent);
    admin_debug_fini(&d);
}

static void test_disabled(void **state)
{
    (void)state;
    struct admin_debug d;

    start(&d, false);
    down_open(&d, "ticker", 6);
    assert_int_equal(last()->kind, 1);
    assert_int_equal(last()->status, KOS_STATUS_UNAUTHORIZED);
    assert_non_null(strstr(last()->text, "remote debugging is disabled on this device"));
    admin_debug_input(&d, (const uint8_t *)"\xff", 1, 0);
    assert_int_equal(last()->kind, 3);
    assert_int_equal(last()->status, KOS_STATUS_UNAUTHORIZED);
    size_t n = f.n_sent;
    down_data(&d, "$g#67");
    down_close(&d);
    assert_int_equal(f.n_sent, n);
    assert_int_equal(f.asks, 0);
    assert_int_equal(d.refused, 4);
    admin_debug_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),          cmocka_unit_test(test_relay),
        cmocka_unit_test(test_close_and_garbage), cmocka_unit_test(test_core_silent_and_late),
        cmocka_unit_test(test_link_down),         cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
