/*
 * test_boot.c - the control records between Core and its processes: round
 * trips, every malformed form rejected, fd passing, and names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boot_int.h"

static struct kos__boot sample_boot(void)
{
    struct kos__boot b;
    memset(&b, 0, sizeof(b));
    b.app_id = 7;
    b.role = KOS__ROLE_APP;
    strcpy(b.name, "pong");
    b.n_dirs = 2;
    strcpy(b.dirs[0].name, "msg0");
    b.dirs[0].fd = 4;
    strcpy(b.dirs[1].name, "msg1");
    b.dirs[1].fd = 5;
    return b;
}

static void test_boot_round_trip(void **state)
{
    (void)state;
    struct kos__boot b = sample_boot(), d;
    uint8_t buf[1024];
    size_t len;

    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.app_id, 7);
    assert_int_equal(d.role, KOS__ROLE_APP);
    assert_string_equal(d.name, "pong");
    assert_int_equal(d.n_dirs, 2);
    assert_string_equal(d.dirs[1].name, "msg1");
    assert_int_equal(d.dirs[1].fd, 5);

    /* Every truncation and one extra byte are rejected. */
    for (size_t n = 0; n < len; n++)
        assert_int_equal(kos__boot_decode(buf, n, &d), KOS_STATUS_PROTOCOL);
    buf[len] = 0;
    assert_int_equal(kos__boot_decode(buf, len + 1, &d), KOS_STATUS_PROTOCOL);
    /* Too small a buffer to encode into. */
    assert_int_equal(kos__boot_encode(&b, buf, len - 1, &len), KOS_STATUS_TOO_LARGE);
}

static void test_boot_rejects_bad_fields(void **state)
{
    (void)state;
    struct kos__boot b, d;
    uint8_t buf[1024];
    size_t len;

    b = sample_boot();
    b.role = 9;
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_PROTOCOL);

    b = sample_boot();
    b.dirs[0].fd = 3; /* may not alias the control channel */
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_PROTOCOL);

    b = sample_boot();
    strcpy(b.name, "bad name");
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_PROTOCOL);

    b = sample_boot();
    b.n_dirs = KOS__BOOT_MAX_DIRS + 1;
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);

    /* A directory count larger than the body. */
    b = sample_boot();
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    size_t count_at = 8 + strlen("pong") + 1;
    buf[count_at] = 3;
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    buf[count_at] = 0xff;
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_PROTOCOL);

    /* A name without its NUL. */
    memset(buf, 'a', sizeof(buf));
    assert_int_equal(kos__boot_decode(buf, 200, &d), KOS_STATUS_PROTOCOL);
}

static void test_boot_resources_and_config(void **state)
{
    (void)state;
    struct kos__boot b = sample_boot(), d;
    uint8_t buf[4096];
    size_t len;

    b.n_res = 1;
    strcpy(b.res[0].name, "frame");
    b.res[0].kind = 2;
    b.res[0].access = 3;
    b.res[0].fd = 6;
    b.res[0].size = (uint64_t)5 << 32 | 4096;
    b.n_config = 2;
    b.config[0] = "ring_size=1024";
    b.config[1] = "remote_shell=disabled";
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.n_res, 1);
    assert_string_equal(d.res[0].name, "frame");
    assert_int_equal(d.res[0].kind, 2);
    assert_int_equal(d.res[0].access, 3);
    assert_int_equal(d.res[0].fd, 6);
    assert_true(d.res[0].size == ((uint64_t)5 << 32 | 4096));
    assert_int_equal(d.n_config, 2);
    assert_string_equal(d.config[1], "remote_shell=disabled");
    for (size_t n = 0; n < len; n++)
        assert_int_equal(kos__boot_decode(buf, n, &d), KOS_STATUS_PROTOCOL);

    /* A setting without '=' or with an invalid key; a bad resource kind. */
    b.config[1] = "no_equals_sign";
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    b.config[1] = "bad key=1";
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    b.config[1] = "ok=1";
    b.res[0].kind = 7;
    assert_int_equal(kos__boot_encode(&b, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__boot_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
}

static void test_grants_round_trip(void **state)
{
    (void)state;
    static struct kos__client_grants g, d;
    static uint8_t buf[KOS__CTL_MAX];
    size_t len;

    memset(&g, 0, sizeof(g));
    g.app_id = 3;
    strcpy(g.app, "ping");
    g.n_publish = 1;
    g.publish[0] = "ping_callback";
    g.n_request = 2;
    g.request[0] = "ping_protocol";
    g.request[1] = "kos_log_protocol";
    assert_int_equal(kos__grants_encode(&g, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__grants_decode(buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.app_id, 3);
    assert_string_equal(d.app, "ping");
    assert_int_equal(d.n_publish, 1);
    assert_string_equal(d.publish[0], "ping_callback");
    assert_int_equal(d.n_request, 2);
    assert_string_equal(d.request[1], "kos_log_protocol");
    for (size_t n = 0; n < len; n++)
        assert_int_equal(kos__grants_decode(buf, n, &d), KOS_STATUS_PROTOCOL);

    /* Counts beyond the limit, and an invalid protocol name. */
    g.n_request = KOS__GRANTS_MAX + 1;
    assert_int_equal(kos__grants_encode(&g, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    g.n_request = 1;
    g.request[0] = "-leading-dash";
    assert_int_equal(kos__grants_encode(&g, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__grants_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
}

static void test_ctl_send_recv(void **state)
{
    (void)state;
    int sv[2], fd, devnull = open("/dev/null", O_RDONLY);
    uint8_t buf[KOS__CTL_MAX];
    uint32_t type;
    size_t len;

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    assert_int_equal(kos__ctl_send(sv[0], KOS__CTL_READY, NULL, 0, -1), KOS_STATUS_OK);
    assert_int_equal(kos__ctl_recv(sv[1], buf, sizeof(buf), &type, &len, &fd, 0), KOS_STATUS_OK);
    assert_int_equal(type, KOS__CTL_READY);
    assert_int_equal(len, 0);
    assert_int_equal(fd, -1);

    /* An fd travels with the record and arrives close-on-exec. */
    assert_int_equal(kos__ctl_send(sv[0], KOS__CTL_ADD_CLIENT, "abc", 3, devnull), KOS_STATUS_OK);
    assert_int_equal(kos__ctl_recv(sv[1], buf, sizeof(buf), &type, &len, &fd, 0), KOS_STATUS_OK);
    assert_int_equal(len, 3);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);

    /* A datagram whose header lies about its length is rejected. */
    struct kos__ctl_hdr h = {.type = KOS__CTL_READY, .len = 10};
    assert_int_equal(send(sv[0], &h, sizeof(h), 0), (ssize_t)sizeof(h));
    assert_int_equal(kos__ctl_recv(sv[1], buf, sizeof(buf), &type, &len, &fd, 0),
                     KOS_STATUS_PROTOCOL);
    /* A runt shorter than a header. */
    assert_int_equal(send(sv[0], "x", 1, 0), 1);
    assert_int_equal(kos__ctl_recv(sv[1], buf, sizeof(buf), &type, &len, &fd, 0),
                     KOS_STATUS_PROTOCOL);
    /* Too large to send. */
    assert_int_equal(kos__ctl_send(sv[0], 1, buf, KOS__CTL_MAX, -1), KOS_STATUS_TOO_LARGE);
    /* Nothing waiting, then end of stream. */
    assert_int_equal(kos__ctl_recv(sv[1], buf, sizeof(buf), &type, &len, &fd, MSG_DONTWAIT),
                     KOS_STATUS_WOULD_BLOCK);
    close(sv[0]);
    assert_int_equal(kos__ctl_recv(sv[1], buf, sizeof(buf), &type, &len, &fd, 0),
                     KOS_STATUS_CLOSED);
    assert_int_equal(kos__ctl_send(sv[1], KOS__CTL_READY, NULL, 0, -1), KOS_STATUS_CLOSED);
    close(sv[1]);
    close(devnull);
}

/* The self-test report: round trip, every truncation, inconsistent
 * verdicts and summaries with control characters or too long refused. */
static void test_self_test_record(void **state)
{
    (void)state;
    struct kos__self_test r = {KOS__SELF_TEST_FAILED, 4, 1, "rng ok; log: timeout"}, d;
    uint8_t buf[2 * KOS__SELF_TEST_TEXT_MAX];
    char big[KOS__SELF_TEST_TEXT_MAX + 1];
    size_t len;

    assert_int_equal(kos__self_test_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(len, 12 + strlen(r.summary) + 1);
    assert_int_equal(kos__self_test_decode(buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.verdict, KOS__SELF_TEST_FAILED);
    assert_int_equal(d.checks, 4);
    assert_int_equal(d.failed, 1);
    assert_string_equal(d.summary, "rng ok; log: timeout");
    for (size_t n = 0; n < len; n++)
        assert_int_equal(kos__self_test_decode(buf, n, &d), KOS_STATUS_PROTOCOL);
    buf[len] = 0;
    assert_int_equal(kos__self_test_decode(buf, len + 1, &d), KOS_STATUS_PROTOCOL);
    assert_int_equal(kos__self_test_encode(&r, buf, len - 1, &len), KOS_STATUS_TOO_LARGE);

    /* A verdict that contradicts its counts, in either direction. */
    struct kos__self_test bad[] = {
        {KOS__SELF_TEST_PASSED, 4, 1, "x"}, /* passed with a failed check */
        {KOS__SELF_TEST_FAILED, 1, 2, "x"}, /* more failed than run */
        {0, 1, 0, "x"},
        {3, 1, 0, "x"},
        {KOS__SELF_TEST_PASSED, 1, 0, "line\nbreak"},
        {KOS__SELF_TEST_PASSED, 1, 0, "del\x7f"},
        {KOS__SELF_TEST_PASSED, 1, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kos__self_test_encode(&bad[i], buf, sizeof(buf), &len),
                         KOS_STATUS_INVALID_ARGUMENT);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    r = (struct kos__self_test){KOS__SELF_TEST_PASSED, 1, 0, big};
    assert_int_equal(kos__self_test_encode(&r, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    big[KOS__SELF_TEST_TEXT_MAX - 1] = '\0'; /* 1023 bytes: the most */
    assert_int_equal(kos__self_test_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__self_test_decode(buf, len, &d), KOS_STATUS_OK);

    /* The decoder refuses the same things when they come from outside. */
    r = (struct kos__self_test){KOS__SELF_TEST_PASSED, 2, 0, "ok"};
    assert_int_equal(kos__self_test_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    buf[8] = 1; /* failed = 1 with a passed verdict */
    assert_int_equal(kos__self_test_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    buf[8] = 0;
    buf[12] = '\t';
    assert_int_equal(kos__self_test_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    buf[12] = 'o';
    buf[len - 1] = 'x'; /* no NUL */
    assert_int_equal(kos__self_test_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(kos__name_valid("msg0", 4));
    assert_true(kos__name_valid("sensor.v2-b_c", 13));
    assert_false(kos__name_valid("", 0));
    assert_false(kos__name_valid("_x", 2));
    assert_false(kos__name_valid("a b", 3));
    assert_false(kos__name_valid("a/b", 3));
    char long_name[65];
    memset(long_name, 'a', sizeof(long_name));
    assert_true(kos__name_valid(long_name, 63));
    assert_false(kos__name_valid(long_name, 64));
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(kos_status_str(KOS_STATUS_OK), "ok");
    assert_string_equal(kos_status_str(KOS_STATUS_UNAUTHORIZED), "unauthorized");
    for (int s = 0; s < KOS_STATUS__COUNT; s++)
        assert_non_null(kos_status_str((kos_status_t)s));
    assert_string_equal(kos_status_str((kos_status_t)-1), "unknown status");
    assert_string_equal(kos_status_str(KOS_STATUS__COUNT), "unknown status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_round_trip),
        cmocka_unit_test(test_boot_rejects_bad_fields),
        cmocka_unit_test(test_boot_resources_and_config),
        cmocka_unit_test(test_grants_round_trip),
        cmocka_unit_test(test_ctl_send_recv),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_self_test_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
