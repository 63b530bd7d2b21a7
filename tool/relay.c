/*
 * relay.c - `kos-tool toolbox.relay 127.0.0.1:PORT`: joins standard input
 * and output to a TCP connection to a port on this machine's loopback.
 *
 * `kos-tool run --platform qemu-arm-virt` forwards the guest's connections
 * to 10.0.2.100 to the local Studio through it: QEMU's guestfwd starts one
 * relay per connection (cmd:), so each of the device's connections (its
 * link, and the blob fetches beside it) is a connection of its own to the
 * server. (guestfwd's tcp: target is one connection that every guest
 * connection would share, mixing their bytes.)
 *
 * What stays true: it reaches only the loopback; it writes nothing but the
 * connection's bytes to standard output (under QEMU, standard error is the
 * guest's connection too, so it says nothing there either, and exits 1 on
 * a failure); each direction's end is passed on (a half-close), and it
 * exits when both have ended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "opts_int.h"
#include "tool_int.h"

#define RELAY_BUF (64u << 10)

static void relay_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool toolbox.relay 127.0.0.1:PORT\n"
            "\n"
            "Joins standard input and output to a TCP connection to PORT on this machine's\n"
            "loopback, until both directions have ended: how kos-tool run --platform\n"
            "qemu-arm-virt gives each of a QEMU device's connections to Studio one of its\n"
            "own. It prints nothing else. Exit status: 0 done, 1 no connection, 2 usage.\n"
            "See %s.\n",
            kos__tool_doc("boards.md"));
}

/* Copies what fd `from` has into `to`; false at its end or an error. */
static bool pass(int from, int to, char *buf)
{
    ssize_t n = read(from, buf, RELAY_BUF);

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    for (ssize_t w = 0; w < n;) {
        ssize_t k = write(to, buf + w, (size_t)(n - w));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        w += k;
    }
    return true;
}

int kos__tool_toolbox_relay(int argc, char **argv)
{
    static const struct kos__opt opts[] = {{0}};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    const char *addr = NULL, *v;
    struct kos__opts p;
    char host[16];
    unsigned port = 0;
    int opt, sock;

    kos__opts_init(&p, "toolbox.relay", argc, argv, opts, 0);
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        if (opt == KOS__OPTS_HELP) {
            relay_usage(stdout);
            return 0;
        }
        if (opt == KOS__OPTS_ERROR)
            return 2;
        if (addr)
            return kos__opts_usage_error(&p, "unexpected argument '%s'", v);
        addr = v;
    }
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon || (size_t)(colon - addr) >= sizeof(host) ||
        !kos__opts_port(&p, "the address's port", colon + 1, &port) || port == 0)
        return kos__opts_usage_error(&p, "give the address as 127.0.0.1:PORT");
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127)
        return kos__opts_usage_error(&p, "'%s' is not a loopback address (127.x.x.x)", host);
    sa.sin_port = htons((uint16_t)port);

    signal(SIGPIPE, SIG_IGN);
    sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return 1;
    (void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));

    char *buf = malloc(RELAY_BUF);
    bool in_open = true, sock_open = true;
    if (!buf)
        return 1;
    while (in_open || sock_open) {
        struct pollfd pf[2] = {{.fd = in_open ? 0 : -1, .events = POLLIN},
                               {.fd = sock_open ? sock : -1, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pf[0].revents && !pass(0, sock, buf)) {
            in_open = false;
            shutdown(sock, SHUT_WR);
        }
        if (pf[1].revents && !pass(sock, 1, buf)) {
            sock_open = false;
            shutdown(1, SHUT_WR); /* under QEMU, a socket: the guest sees the end */
            if (!in_open)
                break;
        }
    }
    free(buf);
    close(sock);
    return 0;
}
