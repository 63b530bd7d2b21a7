/*
 * test_msg_wire.c - the directory wire format (lib/msg_wire.c): every type
 * round-trips, every malformed datagram is refused with
 * KOS_STATUS_PROTOCOL, its descriptors closed, and only connected TCP
 * sockets pass as descriptors apps may hand each other.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "msg_wire_int.h"

/* A valid instance of every type. */
static const struct kos__mw samples[] = {
    {.type = KOS__MW_PUBLISH, .id = 1, .name = "echo"},
    {.type = KOS__MW_REQUEST, .id = 2, .timeout_ms = -1, .name = "kos_log_protocol"},
    {.type = KOS__MW_REQUEST, .id = 3, .timeout_ms = 1500, .name = "a"},
    {.type = KOS__MW_PING, .id = 4},
    {.type = KOS__MW_UNPUBLISH, .endpoint = 9},
    {.type = KOS__MW_TOKEN_CLOSE, .channel = 77},
    {.type = KOS__MW_REVOKE, .endpoint = 9, .channel = 77},
    {.type = KOS__MW_PREPARE, .channel = 77, .cookie = 0x0123456789abcdefull},
    {.type = KOS__MW_REDEEM, .id = 5, .cookie = 0xfedcba9876543210ull},
    {.type = KOS__MW_FD_PASS, .channel = 77, .cookie = 0x1122334455667788ull},
    {.type = KOS__MW_FD_REDEEM, .id = 6, .cookie = 0x1122334455667788ull},
    {.type = KOS__MW_FD_DROP, .cookie = 0x1122334455667788ull},
    {.type = KOS__MW_PUBLISH_REPLY, .id = 1, .status = KOS_STATUS_OK, .endpoint = 9},
    {.type = KOS__MW_PUBLISH_REPLY, .id = 1, .status = KOS_STATUS_UNAUTHORIZED},
    {.type = KOS__MW_REQUEST_REPLY, .id = 2, .status = KOS_STATUS_OK, .channel = 77},
    {.type = KOS__MW_REQUEST_REPLY, .id = 2, .status = KOS_STATUS_TIMEOUT},
    {.type = KOS__MW_PING_REPLY, .id = 4},
    {.type = KOS__MW_REDEEM_REPLY, .id = 5, .status = KOS_STATUS_OK, .channel = 78, .name = "echo"},
    {.type = KOS__MW_REDEEM_REPLY, .id = 5, .status = KOS_STATUS_INVALID_TOKEN},
    {.type = KOS__MW_NEW_CLIENT, .endpoint = 9, .channel = 77, .app_id = 3, .name = "ping"},
    {.type = KOS__MW_CLIENT_GONE, .endpoint = 9, .channel = 77},
    {.type = KOS__MW_TOKEN_DOWN, .status = KOS_STATUS_INVALID_TOKEN, .channel = 77},
    {.type = KOS__MW_TOKEN_DOWN, .status = KOS_STATUS_UNAVAILABLE, .channel = 78},
    {.type = KOS__MW_FD_REDEEM_REPLY, .id = 6, .status = KOS_STATUS_OK},
    {.type = KOS__MW_FD_REDEEM_REPLY, .id = 6, .status = KOS_STATUS_INVALID_TOKEN},
};
#define N_SAMPLES (sizeof(samples) / sizeof(samples[0]))

static size_t encode(const struct kos__mw *m, uint8_t *buf)
{
    size_t len = 0;
    assert_int_equal(kos__mw_encode(m, buf, KOS__MW_MAX, &len), KOS_STATUS_OK);
    assert_true(len >= KOS__MW_HDR_LEN && len <= KOS__MW_MAX);
    return len;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        uint8_t buf[KOS__MW_MAX];
        struct kos__mw out;
        size_t len = encode(&samples[i], buf);
        size_t nfds = kos__mw_nfds(samples[i].type, samples[i].status);

        assert_int_equal(kos__mw_decode(buf, len, nfds, &out), KOS_STATUS_OK);
        assert_memory_equal(&out, &samples[i], sizeof(out));
        assert_string_not_equal(kos__mw_type_name(out.type), "unknown");
    }
}

static void test_fd_counts(void **state)
{
    (void)state;
    assert_int_equal(kos__mw_nfds(KOS__MW_NEW_CLIENT, 0), 4);
    assert_int_equal(kos__mw_nfds(KOS__MW_REQUEST_REPLY, KOS_STATUS_OK), 3);
    assert_int_equal(kos__mw_nfds(KOS__MW_REQUEST_REPLY, KOS_STATUS_TIMEOUT), 0);
    assert_int_equal(kos__mw_nfds(KOS__MW_REDEEM_REPLY, KOS_STATUS_OK), 3);
    assert_int_equal(kos__mw_nfds(KOS__MW_PUBLISH, 0), 0);
    assert_int_equal(kos__mw_nfds(KOS__MW_FD_PASS, 0), 1);
    assert_int_equal(kos__mw_nfds(KOS__MW_FD_REDEEM, 0), 0);
    assert_int_equal(kos__mw_nfds(KOS__MW_FD_REDEEM_REPLY, KOS_STATUS_OK), 1);
    assert_int_equal(kos__mw_nfds(KOS__MW_FD_REDEEM_REPLY, KOS_STATUS_INVALID_TOKEN), 0);
    /* The wrong number of descriptors is a malformed message. */
    for (size_t i = 0; i < N_SAMPLES; i++) {
        uint8_t buf[KOS__MW_MAX];
        struct kos__mw out;
        size_t len = encode(&samples[i], buf);
        size_t nfds = kos__mw_nfds(samples[i].type, samples[i].status);
        for (size_t k = 0; k <= KOS__MW_MAX_FDS + 1; k++)
            if (k != nfds)
                assert_int_equal(kos__mw_decode(buf, len, k, &out), KOS_STATUS_PROTOCOL);
    }
}

/* Every strict prefix and every one-byte extension is refused. */
static void test_truncated_and_padded(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        uint8_t buf[KOS__MW_MAX + 1];
        struct kos__mw out;
        size_t len = encode(&samples[i], buf);
        size_t nfds = kos__mw_nfds(samples[i].type, samples[i].status);

        for (size_t cut = 0; cut < len; cut++) {
            uint8_t copy[KOS__MW_MAX];
            memcpy(copy, buf, cut);
            if (cut >= 8)
                put32(copy + 4, (uint32_t)(cut >= KOS__MW_HDR_LEN ? cut - KOS__MW_HDR_LEN : 0));
            assert_int_equal(kos__mw_decode(copy, cut, nfds, &out), KOS_STATUS_PROTOCOL);
        }
        /* One byte too many, with the header's length saying so or not. */
        buf[len] = 0;
        assert_int_equal(kos__mw_decode(buf, len + 1, nfds, &out), KOS_STATUS_PROTOCOL);
        put32(buf + 4, (uint32_t)(len + 1 - KOS__MW_HDR_LEN));
        assert_int_equal(kos__mw_decode(buf, len + 1, nfds, &out), KOS_STATUS_PROTOCOL);
    }
}

static void test_header_checks(void **state)
{
    uint8_t buf[KOS__MW_MAX + 16];
    struct kos__mw out;
    const struct kos__mw ping = {.type = KOS__MW_PING, .id = 1};
    size_t len;
    (void)state;

    /* Unknown types, including the gaps between known ones. */
    const uint32_t unknown[] = {0, 12, 13, 63, 72, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        len = encode(&ping, buf);
        put32(buf, unknown[i]);
        assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
        assert_string_equal(kos__mw_type_name(unknown[i]), "unknown");
    }
    /* The length field must match the datagram exactly. */
    len = encode(&ping, buf);
    put32(buf + 4, 1);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    put32(buf + 4, 0xffffffffu);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    /* A status out of range, or on a type that has none. */
    struct kos__mw rep = {.type = KOS__MW_PING_REPLY, .id = 1};
    len = encode(&rep, buf);
    put32(buf + 12, KOS_STATUS__COUNT);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    len = encode(&ping, buf);
    put32(buf + 12, KOS_STATUS_BUSY);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    /* An id on a one-way message. */
    struct kos__mw gone = {.type = KOS__MW_CLIENT_GONE, .endpoint = 1, .channel = 2};
    len = encode(&gone, buf);
    put32(buf + 8, 5);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    /* TOKEN_DOWN says why, and only these two reasons exist. */
    struct kos__mw down = {.type = KOS__MW_TOKEN_DOWN, .status = KOS_STATUS_UNAVAILABLE};
    len = encode(&down, buf);
    put32(buf + 12, KOS_STATUS_OK);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    put32(buf + 12, KOS_STATUS_TIMEOUT);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    /* Larger than any message. */
    memset(buf, 0, sizeof(buf));
    put32(buf, KOS__MW_PING);
    put32(buf + 4, KOS__MW_MAX + 1 - KOS__MW_HDR_LEN);
    assert_int_equal(kos__mw_decode(buf, KOS__MW_MAX + 1, 0, &out), KOS_STATUS_PROTOCOL);
}

/* Builds a PUBLISH whose name field is `n` bytes of `name` with length `declared`. */
static size_t publish_with(uint8_t *buf, uint32_t declared, const char *name, size_t n)
{
    put32(buf, KOS__MW_PUBLISH);
    put32(buf + 4, (uint32_t)(4 + n));
    put32(buf + 8, 1);
    put32(buf + 12, 0);
    put32(buf + 16, declared);
    memcpy(buf + 20, name, n);
    return 20 + n;
}

static void test_names(void **state)
{
    uint8_t buf[KOS__MW_MAX];
    struct kos__mw out;
    char long_name[80];
    size_t len;
    (void)state;

    len = publish_with(buf, 4, "echo", 4);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_OK);
    assert_string_equal(out.name, "echo");
    /* Empty, too long, bad characters, bad first character, embedded NUL. */
    len = publish_with(buf, 0, "", 0);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    memset(long_name, 'a', sizeof(long_name));
    len = publish_with(buf, 63, long_name, 63);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_OK);
    len = publish_with(buf, 64, long_name, 64);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    len = publish_with(buf, 4, "ec o", 4);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    len = publish_with(buf, 4, "-cho", 4);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    len = publish_with(buf, 4, "ec\0o", 4);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    len = publish_with(buf, 4, "ec/o", 4);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    /* A declared length past the end of the datagram. */
    len = publish_with(buf, 0xfffffff0u, "echo", 4);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    len = publish_with(buf, 5, "echo", 4);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);

    /* REDEEM_REPLY: a name exactly when the status is OK. */
    struct kos__mw rr = {.type = KOS__MW_REDEEM_REPLY,
                         .id = 1,
                         .status = KOS_STATUS_OK,
                         .channel = 3,
                         .name = "echo"};
    len = encode(&rr, buf);
    put32(buf + 12, KOS_STATUS_UNAVAILABLE);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    rr.status = KOS_STATUS_UNAVAILABLE;
    len = encode(&rr, buf);
    put32(buf + 12, KOS_STATUS_OK);
    assert_int_equal(kos__mw_decode(buf, len, KOS__MW_CLIENT_FDS, &out), KOS_STATUS_PROTOCOL);
}

static void test_field_ranges(void **state)
{
    uint8_t buf[KOS__MW_MAX];
    struct kos__mw out;
    size_t len;
    (void)state;

    /* REQUEST timeouts below -1. */
    struct kos__mw req = {.type = KOS__MW_REQUEST, .id = 1, .timeout_ms = 5, .name = "x"};
    len = encode(&req, buf);
    put32(buf + 16, (uint32_t)-2);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    put32(buf + 16, 0x80000000u);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
    /* Cookies are never zero. */
    struct kos__mw red = {.type = KOS__MW_REDEEM, .id = 1, .cookie = 5};
    len = encode(&red, buf);
    memset(buf + 16, 0, 8);
    assert_int_equal(kos__mw_decode(buf, len, 0, &out), KOS_STATUS_PROTOCOL);
}

static void test_encode_refuses(void **state)
{
    uint8_t buf[KOS__MW_MAX];
    size_t len;
    (void)state;

    struct kos__mw m = {.type = 42};
    assert_int_equal(kos__mw_encode(&m, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    m = (struct kos__mw){.type = KOS__MW_PUBLISH, .name = "bad name"};
    assert_int_equal(kos__mw_encode(&m, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    m = (struct kos__mw){.type = KOS__MW_PUBLISH, .name = ""};
    assert_int_equal(kos__mw_encode(&m, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    m = (struct kos__mw){.type = KOS__MW_PING, .status = KOS_STATUS_BUSY};
    assert_int_equal(kos__mw_encode(&m, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    m = (struct kos__mw){.type = KOS__MW_PING_REPLY, .status = KOS_STATUS__COUNT};
    assert_int_equal(kos__mw_encode(&m, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    m = (struct kos__mw){.type = KOS__MW_REQUEST, .timeout_ms = -5, .name = "x"};
    assert_int_equal(kos__mw_encode(&m, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    m = (struct kos__mw){.type = KOS__MW_PREPARE, .cookie = 0};
    assert_int_equal(kos__mw_encode(&m, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    /* Too small a buffer. */
    m = (struct kos__mw){.type = KOS__MW_PUBLISH, .name = "echo"};
    for (size_t cap = 0; cap < 24; cap++)
        assert_int_equal(kos__mw_encode(&m, buf, cap, &len), KOS_STATUS_TOO_LARGE);
    assert_int_equal(kos__mw_encode(&m, buf, 24, &len), KOS_STATUS_OK);
    assert_int_equal(len, 24);
}

/* ---- over a real socket ---- */

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* True once the pipe's read end `r` sees no writer left. */
static bool writer_gone(int r)
{
    struct pollfd p = {.fd = r, .events = POLLIN};
    return poll(&p, 1, 1000) == 1 && (p.revents & POLLHUP);
}

static void test_socket_round_trip(void **state)
{
    int sv[2], pipes[4][2], fds[KOS__MW_MAX_FDS], sent[KOS__MW_MAX_FDS];
    struct kos__mw m = {.type = KOS__MW_NEW_CLIENT,
                        .endpoint = 1,
                        .channel = 2,
                        .app_id = 3,
                        .name = "ping"},
                   out;
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pipe(pipes[i]), 0);
        sent[i] = pipes[i][1];
    }
    assert_int_equal(kos__mw_recv(sv[1], &out, fds, MSG_DONTWAIT), KOS_STATUS_WOULD_BLOCK);
    assert_int_equal(kos__mw_send(sv[0], &m, sent, 0), KOS_STATUS_OK);
    assert_int_equal(kos__mw_recv(sv[1], &out, fds, 0), KOS_STATUS_OK);
    assert_memory_equal(&out, &m, sizeof(m));
    for (int i = 0; i < 4; i++) {
        assert_true(fd_open(fds[i]));
        assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
        close(fds[i]);
        close(pipes[i][1]);
        assert_true(writer_gone(pipes[i][0]));
        close(pipes[i][0]);
    }
    close(sv[0]);
    assert_int_equal(kos__mw_recv(sv[1], &out, fds, 0), KOS_STATUS_CLOSED);
    close(sv[1]);
}

/* A descriptor on a message that takes none is closed, not leaked. */
static void test_socket_unexpected_fd(void **state)
{
    int sv[2], p[2], fds[KOS__MW_MAX_FDS];
    uint8_t buf[KOS__MW_MAX];
    struct kos__mw ping = {.type = KOS__MW_PING, .id = 1}, out;
    size_t len;
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    assert_int_equal(pipe(p), 0);
    len = encode(&ping, buf);
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        struct cmsghdr align;
        char c[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.c, .msg_controllen = sizeof(ctl.c)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
    assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)len);
    close(p[1]);
    assert_int_equal(kos__mw_recv(sv[1], &out, fds, 0), KOS_STATUS_PROTOCOL);
    assert_true(writer_gone(p[0]));
    close(p[0]);

    /* An oversized datagram is refused, not read in part. */
    uint8_t big[KOS__MW_MAX + 64];
    memset(big, 0, sizeof(big));
    memcpy(big, buf, len);
    put32(big + 4, (uint32_t)(sizeof(big) - KOS__MW_HDR_LEN));
    assert_int_equal(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
    assert_int_equal(kos__mw_recv(sv[1], &out, fds, 0), KOS_STATUS_PROTOCOL);
    /* And the conversation could go on: the next message is whole. */
    assert_int_equal(kos__mw_send(sv[0], &ping, NULL, 0), KOS_STATUS_OK);
    assert_int_equal(kos__mw_recv(sv[1], &out, fds, 0), KOS_STATUS_OK);
    assert_int_equal(out.type, KOS__MW_PING);
    /* A full socket is BUSY with MSG_DONTWAIT. */
    kos_status_t st;
    int sent = 0;
    while ((st = kos__mw_send(sv[0], &ping, NULL, MSG_DONTWAIT)) == KOS_STATUS_OK)
        sent++;
    assert_int_equal(st, KOS_STATUS_BUSY);
    assert_true(sent > 0);
    close(sv[1]);
    assert_int_equal(kos__mw_send(sv[0], &ping, NULL, 0), KOS_STATUS_CLOSED);
    close(sv[0]);
}

/* Only connected TCP sockets may travel between apps. */
static void test_fd_passable(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    const char *why = NULL;
    int p[2], sv[2];
    (void)state;

    assert_int_equal(pipe(p), 0);
    assert_false(kos__mw_fd_passable(p[0], &why));
    assert_string_equal(why, "not a socket");
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_false(kos__mw_fd_passable(sv[0], &why));
    assert_string_equal(why, "a Unix socket");
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(udp >= 0);
    assert_false(kos__mw_fd_passable(udp, &why));
    assert_string_equal(why, "an Internet socket that is not a stream (TCP) socket");
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_false(kos__mw_fd_passable(l, &why));
    assert_string_equal(why, "a TCP socket that is not connected");
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_false(kos__mw_fd_passable(l, &why));
    assert_string_equal(why, "a listening TCP socket");
    assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
    int a = accept(l, NULL, NULL);
    assert_true(a >= 0);
    assert_true(kos__mw_fd_passable(c, NULL));
    assert_true(kos__mw_fd_passable(a, &why));
    close(a);
    close(c);
    close(l);
    close(udp);
    close(sv[0]);
    close(sv[1]);
    close(p[1]);
    assert_false(kos__mw_fd_passable(p[1], &why)); /* closed */
    assert_string_equal(why, "not an open descriptor");
    close(p[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_fd_counts),
        cmocka_unit_test(test_truncated_and_padded),
        cmocka_unit_test(test_header_checks),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_field_ranges),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_socket_round_trip),
        cmocka_unit_test(test_socket_unexpected_fd),
        cmocka_unit_test(test_fd_passable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
