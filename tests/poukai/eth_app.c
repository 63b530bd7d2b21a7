/*
 * eth_app.c - a test client of kos_ethernet_protocol. Each argument group is
 * one step, run in order; each logs one line saying what happened, so system
 * tests can check the console:
 *
 *   open                    request kos_ethernet_protocol (stop here if refused)
 *   echo HOST PORT TEXT     connect, then send TEXT through the socket and read
 *                           the echo back with read/write, send/recv,
 *                           sendmsg/recvmsg and poll; shut down the sending
 *                           side and read the end of the stream
 *   connect HOST PORT MS    connect with a timeout of MS (-1: ethernet's) and
 *                           log the status, and errno ethernet reported
 *   misuse HOST PORT        connect, then try to point the socket elsewhere
 *                           (connect, sendto with MSG_FASTOPEN)
 *   socket                  try to make sockets of its own
 *   garbage                 send malformed requests
 *   flood N HOST PORT       ask N times for a destination it may not reach
 *                           and log how many were refused
 *   pair                    ask for a loopback pair (kos_ethernet_pair), send
 *                           "ping" one way and "pong" the other, and check
 *                           that each end's peer is the other
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <kos/app.h>
#include <kos/ethernet.h>
#include <kos/log.h>

static const char *errno_name(int e)
{
    switch (e) {
    case 0:
        return "none";
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case ENETUNREACH:
        return "ENETUNREACH";
    case EHOSTUNREACH:
        return "EHOSTUNREACH";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case EPERM:
        return "EPERM";
    case EACCES:
        return "EACCES";
    default:
        return "other";
    }
}

/* Reads exactly n bytes, waiting with poll; false on error or end. */
static bool read_all(int fd, char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) != 1)
            return false;
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static void echo(kos_ethernet_t *eth, const char *host, uint16_t port, const char *text)
{
    struct kos_ethernet_conn info;
    char remote[64], back[256];
    size_t n = strlen(text);
    int fd;
    kos_status_t st = kos_ethernet_connect(eth, host, port, 5000, &fd, &info);

    if (st) {
        kos_log_info("echo %s:%u: %s", host, (unsigned)port, kos_status_str(st));
        return;
    }
    if (n > sizeof(back))
        n = sizeof(back);
    /* write/read */
    if (write(fd, text, n) != (ssize_t)n || !read_all(fd, back, n) || memcmp(back, text, n))
        goto fail;
    /* send/recv */
    if (send(fd, text, n, MSG_NOSIGNAL) != (ssize_t)n ||
        recv(fd, back, n, MSG_WAITALL) != (ssize_t)n || memcmp(back, text, n))
        goto fail;
    /* sendmsg/recvmsg */
    struct iovec iov = {.iov_base = (void *)text, .iov_len = n};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)n)
        goto fail;
    iov.iov_base = back;
    if (recvmsg(fd, &mh, MSG_WAITALL) != (ssize_t)n || memcmp(back, text, n))
        goto fail;
    /* The sending side closed: the echo server closes too, we read the end. */
    if (shutdown(fd, SHUT_WR) != 0)
        goto fail;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1 || read(fd, back, sizeof(back)) != 0)
        goto fail;
    close(fd);
    kos_log_info("echo %s:%u: ok, '%s' came back 3 times via %s", host, (unsigned)port, text,
                 kos_ethernet_addr_format(&info.remote, remote, sizeof(remote)));
    return;
fail:
    kos_log_info("echo %s:%u: the socket failed (%s)", host, (unsigned)port, strerror(errno));
    close(fd);
}

static void connect_step(kos_ethernet_t *eth, const char *host, uint16_t port, int ms)
{
    int fd;
    kos_status_t st = kos_ethernet_connect(eth, host, port, ms, &fd, NULL);

    if (st == KOS_STATUS_OK)
        close(fd);
    kos_log_info("connect %s:%u: %s (errno %s)", host, (unsigned)port, kos_status_str(st),
                 errno_name(kos_ethernet_last_error(eth)));
}

static void misuse(kos_ethernet_t *eth, const char *host, uint16_t port)
{
    struct sockaddr_in elsewhere = {.sin_family = AF_INET, .sin_port = htons(9)};
    int fd, e1 = 0, e2 = 0;
    kos_status_t st = kos_ethernet_connect(eth, host, port, 5000, &fd, NULL);

    if (st) {
        kos_log_info("misuse: %s", kos_status_str(st));
        return;
    }
    elsewhere.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&elsewhere, sizeof(elsewhere)) < 0)
        e1 = errno;
    if (sendto(fd, "x", 1, MSG_FASTOPEN | MSG_NOSIGNAL, (struct sockaddr *)&elsewhere,
               sizeof(elsewhere)) < 0)
        e2 = errno;
    close(fd);
    kos_log_info("misuse: connect elsewhere %s, sendto with MSG_FASTOPEN %s", errno_name(e1),
                 errno_name(e2));
}

static void socket_step(void)
{
    int e[3] = {0, 0, 0}, sv[2];
    int s4 = socket(AF_INET, SOCK_STREAM, 0);
    if (s4 < 0)
        e[0] = errno;
    int s6 = socket(AF_INET6, SOCK_DGRAM, 0);
    if (s6 < 0)
        e[1] = errno;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        e[2] = errno;
    kos_log_info("socket: tcp %s, udp6 %s, socketpair %s", errno_name(e[0]), errno_name(e[1]),
                 errno_name(e[2]));
}

static void garbage(kos_dir_t *dir)
{
    static const uint8_t short_req[] = {1, 0, 80};
    /* A host length that says 9 bytes, and 4 follow. */
    static const uint8_t lying[] = {1, 0, 80, 0, 0, 0, 0, 0, 9, 0, 0, 0, 'a', 'b', 'c', 'd'};
    /* A well-formed request for host "a b" (a space: invalid). */
    static const uint8_t bad_host[] = {1, 0, 80, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'a', ' ', 'b'};
    struct {
        const char *what;
        uint32_t label;
        const void *p;
        uint32_t len;
    } reqs[] = {
        {"short", KOS_ETHERNET_LABEL_CONNECT, short_req, sizeof(short_req)},
        {"lying length", KOS_ETHERNET_LABEL_CONNECT, lying, sizeof(lying)},
        {"bad host", KOS_ETHERNET_LABEL_CONNECT, bad_host, sizeof(bad_host)},
        {"unknown label", 99, NULL, 0},
    };
    kos_token_t *t;

    if (kos_dir_request(dir, KOS_ETHERNET_PROTOCOL, 5000, &t)) {
        kos_log_info("garbage: no token");
        return;
    }
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct kos_msg q = {.label = reqs[i].label, .payload = reqs[i].p, .len = reqs[i].len};
        struct kos_msg r;
        int fd;
        kos_status_t st = kos_msg_call_fd(t, &q, &r, 5000, &fd);
        if (fd >= 0)
            close(fd);
        kos_log_info("garbage %s: %s", reqs[i].what, kos_status_str(st));
    }
    kos_token_close(t);
}

static void pair_step(kos_ethernet_t *eth)
{
    struct sockaddr_in la, lb, pa, pb;
    socklen_t n;
    char buf[4];
    int a, b;
    bool across, peers;
    kos_status_t st = kos_ethernet_pair(eth, &a, &b);

    if (st) {
        kos_log_info("pair: %s", kos_status_str(st));
        return;
    }
    across = write(a, "ping", 4) == 4 && read(b, buf, 4) == 4 && !memcmp(buf, "ping", 4) &&
             write(b, "pong", 4) == 4 && read(a, buf, 4) == 4 && !memcmp(buf, "pong", 4);
    n = sizeof(la);
    peers = getsockname(a, (struct sockaddr *)&la, &n) == 0;
    n = sizeof(lb);
    peers = peers && getsockname(b, (struct sockaddr *)&lb, &n) == 0;
    n = sizeof(pa);
    peers = peers && getpeername(a, (struct sockaddr *)&pa, &n) == 0;
    n = sizeof(pb);
    peers = peers && getpeername(b, (struct sockaddr *)&pb, &n) == 0;
    peers = peers && la.sin_port == pb.sin_port && lb.sin_port == pa.sin_port &&
            la.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    kos_log_info("pair: ok, %s, %s", across ? "ping and pong went across" : "NOTHING went across",
                 peers ? "each end's peer is the other" : "the ends are NOT each other's peers");
    close(a);
    close(b);
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    kos_dir_t *dir;
    kos_ethernet_t *eth = NULL;
    int rc = 0;

    if (kos_app_open(&app))
        return 1;
    if (kos_app_dir(app, "msg0", &dir)) {
        kos_log_error("no msg0");
        return 1;
    }
    if (kos_app_ready(app))
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "open")) {
            kos_status_t st = kos_ethernet_open(dir, NULL, 5000, &eth);
            kos_log_info("open: %s", kos_status_str(st));
            if (st)
                break;
        } else if (!strcmp(s, "echo") && i + 3 < argc && eth) {
            echo(eth, argv[i + 1], (uint16_t)atoi(argv[i + 2]), argv[i + 3]);
            i += 3;
        } else if (!strcmp(s, "connect") && i + 3 < argc && eth) {
            connect_step(eth, argv[i + 1], (uint16_t)atoi(argv[i + 2]), atoi(argv[i + 3]));
            i += 3;
        } else if (!strcmp(s, "misuse") && i + 2 < argc && eth) {
            misuse(eth, argv[i + 1], (uint16_t)atoi(argv[i + 2]));
            i += 2;
        } else if (!strcmp(s, "flood") && i + 3 < argc && eth) {
            int n = atoi(argv[i + 1]), refused = 0, fd;
            for (int k = 0; k < n; k++)
                refused += kos_ethernet_connect(eth, argv[i + 2], (uint16_t)atoi(argv[i + 3]), 5000,
                                                &fd, NULL) == KOS_STATUS_UNAUTHORIZED;
            kos_log_info("flood: %d of %d refused", refused, n);
            i += 3;
        } else if (!strcmp(s, "pair") && eth) {
            pair_step(eth);
        } else if (!strcmp(s, "socket")) {
            socket_step();
        } else if (!strcmp(s, "garbage")) {
            garbage(dir);
        } else {
            kos_log_error("bad step '%s'", s);
            rc = 1;
            break;
        }
    }
    kos_log_info("steps done");
    kos_ethernet_close(eth);
    kos_app_close(app);
    return rc;
}
