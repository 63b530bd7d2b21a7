/*
 * test_server_shell.c - the remote shell's relay in kos-server
 * (server/shell.c), driven as the API and the device port drive it: a line
 * sent as a ShellDown on channel 4 to an online device only; the device's
 * ShellUp pieces gathered into one answer, its text escaped; each line
 * ended exactly once (answered, timed out, its link ended, the server
 * stopping) unless its client went away; the bounds on lines waiting; a
 * malformed ShellUp ends the device's link.
 *
 * kos__devport_send() and kos__devport_kick() are server_port.h's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server_fixture.h"
#include "server_port.h"
#include "shell.h"
#include "shell.pb-c.h"

static int setup(void **state)
{
    if (srv_setup(state, "bench-1", 5, 3))
        return -1;
    srv.shell = kos__shell_create(srv.base, 50);
    return srv.shell ? 0 : -1;
}

static int teardown(void **state)
{
    kos__shell_destroy(srv.shell);
    return srv_teardown(state);
}

/* The id of the i-th ShellDown sent, and its line. */
static uint64_t sent_line(size_t i, char *line, size_t cap)
{
    assert_true(i < port.n_sent);
    assert_int_equal(port.sent_ch[i], 4);
    Kos__Shell__ShellDown *d = kos__shell__shell_down__unpack(NULL, port.sent_len[i], port.sent[i]);
    assert_non_null(d);
    snprintf(line, cap, "%.*s", (int)d->line.len, (const char *)d->line.data);
    uint64_t lid = d->id;
    kos__shell__shell_down__free_unpacked(d, NULL);
    return lid;
}

/* The device sends a ShellUp. */
static void device_says(uint64_t lid, const char *const *lines, size_t n, bool done_,
                        uint32_t status)
{
    Kos__Shell__ShellUp up = KOS__SHELL__SHELL_UP__INIT;
    uint8_t buf[4096];

    up.id = lid;
    up.lines = (char **)lines;
    up.n_lines = n;
    up.done = done_;
    up.status = status;
    hooks.data(hooks.arg, id, 4, buf, kos__shell__shell_up__pack(&up, buf));
}

static void test_answer(void **state)
{
    (void)state;
    struct ended e = {0};
    uint64_t lid, got;
    char line[256];

    /* Not online yet: refused, nothing sent. */
    assert_int_equal(kos__shell_send(&srv, id, "apps", 4, done, &e, &lid, err, sizeof(err)),
                     KOS_STATUS_UNAVAILABLE);
    assert_non_null(strstr(err, "is not online"));
    assert_int_equal(kos__shell_send(&srv, "00", "apps", 4, done, &e, &lid, err, sizeof(err)),
                     KOS_STATUS_NOT_FOUND);
    hooks.online(hooks.arg, id);
    assert_int_equal(kos__shell_send(&srv, id, "apps", 4, done, &e, &lid, err, sizeof(err)),
                     KOS_STATUS_OK);
    got = sent_line(0, line, sizeof(line));
    assert_int_equal(got, lid);
    assert_string_equal(line, "apps");
    assert_int_equal(kos__shell_waiting(srv.shell), 1);

    /* Two pieces; the device's text comes out escaped. */
    static const char *const p1[] = {"summary: 2 processes", "  evil \x1b[2J \xff"};
    static const char *const p2[] = {"  msg0 ..."};
    device_says(lid, p1, 2, false, 0);
    assert_int_equal(e.calls, 0);
    device_says(lid, p2, 1, true, 0);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.code, 200);
    json_t *lines = json_object_get(e.answer, "lines");
    assert_int_equal(json_array_size(lines), 3);
    assert_string_equal(json_string_value(json_array_get(lines, 1)), "  evil \\x1b[2J \\xff");
    assert_int_equal(json_integer_value(json_object_get(e.answer, "status")), 0);
    assert_string_equal(json_string_value(json_object_get(e.answer, "status_text")), "ok");
    assert_true(json_is_false(json_object_get(e.answer, "cut")));
    assert_int_equal(kos__shell_waiting(srv.shell), 0);
    /* Again for the same line: nobody waits, dropped, no error. */
    device_says(lid, p2, 1, true, 0);
    assert_int_equal(e.calls, 1);
    assert_int_equal(port.n_kicked, 0);
    json_decref(e.answer);
}

static void test_device_refuses_and_breaks(void **state)
{
    (void)state;
    struct ended e = {0};
    uint64_t lid;

    hooks.online(hooks.arg, id);
    assert_int_equal(kos__shell_send(&srv, id, "rm -rf /", 8, done, &e, &lid, err, sizeof(err)),
                     KOS_STATUS_OK);
    static const char *const why[] = {"unknown command 'rm': ..."};
    device_says(lid, why, 1, true, KOS_STATUS_UNSUPPORTED);
    assert_int_equal(e.code, 200);
    assert_int_equal(json_integer_value(json_object_get(e.answer, "status")),
                     KOS_STATUS_UNSUPPORTED);
    /* A status that is no KOS status, and bytes that are no ShellUp: the
     * device's link is ended (on the next loop turn). */
    assert_int_equal(kos__shell_send(&srv, id, "apps", 4, done, &e, &lid, err, sizeof(err)),
                     KOS_STATUS_OK);
    device_says(lid, NULL, 0, true, 999);
    hooks.data(hooks.arg, id, 4, (const uint8_t *)"\xff\xff\xff", 3);
    event_base_loop(srv.base, EVLOOP_NONBLOCK);
    assert_int_equal(port.n_kicked, 1);
    assert_int_equal(e.calls, 1); /* still waiting: the link ending answers it */
    hooks.offline(hooks.arg, id, "kicked");
    assert_int_equal(e.calls, 2);
    assert_int_equal(e.code, 502);
    assert_non_null(strstr(json_string_value(json_object_get(e.answer, "error")),
                           "link ended before it answered"));
    json_decref(e.answer);
}

static void test_timeout_cancel_bounds(void **state)
{
    (void)state;
    struct ended e[8] = {0};
    uint64_t lid[8];

    hooks.online(hooks.arg, id);
    /* Per device, KOS__SRV_SHELL_WAITING_PER_DEVICE lines wait at most. */
    for (unsigned i = 0; i < KOS__SRV_SHELL_WAITING_PER_DEVICE; i++)
        assert_int_equal(
            kos__shell_send(&srv, id, "help", 4, done, &e[i], &lid[i], err, sizeof(err)),
            KOS_STATUS_OK);
    assert_int_equal(kos__shell_send(&srv, id, "help", 4, done, &e[7], &lid[7], err, sizeof(err)),
                     KOS_STATUS_BUSY);
    assert_non_null(strstr(err, "too many shell lines are waiting for this device"));
    /* The client of the first goes away: never answered, its answer dropped. */
    kos__shell_cancel(srv.shell, lid[0]);
    device_says(lid[0], NULL, 0, true, 0);
    assert_int_equal(e[0].calls, 0);
    /* The others time out: 504, each once. */
    while (kos__shell_waiting(srv.shell) > 0)
        event_base_loop(srv.base, EVLOOP_ONCE);
    for (unsigned i = 1; i < KOS__SRV_SHELL_WAITING_PER_DEVICE; i++) {
        assert_int_equal(e[i].calls, 1);
        assert_int_equal(e[i].code, 504);
        json_decref(e[i].answer);
    }
    /* The tunnel's channel full: refused at once. */
    port.send_status = KOS_STATUS_BUSY;
    assert_int_equal(kos__shell_send(&srv, id, "help", 4, done, &e[7], &lid[7], err, sizeof(err)),
                     KOS_STATUS_BUSY);
    assert_non_null(strstr(err, "shell channel is full"));
    port.send_status = KOS_STATUS_OK;
    /* A line too long for the relay. */
    static char big[KOS__SRV_SHELL_LINE_MAX + 1];
    memset(big, 'a', sizeof(big));
    assert_int_equal(
        kos__shell_send(&srv, id, big, sizeof(big), done, &e[7], &lid[7], err, sizeof(err)),
        KOS_STATUS_INVALID_ARGUMENT);
    /* The server stopping: what waits is answered 503. */
    assert_int_equal(kos__shell_send(&srv, id, "help", 4, done, &e[6], &lid[6], err, sizeof(err)),
                     KOS_STATUS_OK);
    kos__shell_destroy(srv.shell);
    srv.shell = NULL;
    assert_int_equal(e[6].calls, 1);
    assert_int_equal(e[6].code, 503);
    json_decref(e[6].answer);
}

/* An answer larger than the relay keeps is cut, and says so. */
static void test_cut(void **state)
{
    (void)state;
    struct ended e = {0};
    static char text[3000];
    const char *lines[1] = {text};
    uint64_t lid;

    memset(text, 'y', sizeof(text) - 1);
    hooks.online(hooks.arg, id);
    assert_int_equal(kos__shell_send(&srv, id, "logs", 4, done, &e, &lid, err, sizeof(err)),
                     KOS_STATUS_OK);
    for (size_t i = 0; i < KOS__SRV_SHELL_ANSWER_MAX / sizeof(text) + 2; i++)
        device_says(lid, lines, 1, false, 0);
    device_says(lid, NULL, 0, true, 0);
    assert_int_equal(e.code, 200);
    assert_true(json_is_true(json_object_get(e.answer, "cut")));
    assert_true(json_array_size(json_object_get(e.answer, "lines")) * sizeof(text) <=
                KOS__SRV_SHELL_ANSWER_MAX);
    json_decref(e.answer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_refuses_and_breaks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_cancel_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
