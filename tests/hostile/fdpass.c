/*
 * fdpass.c - hostile apps against descriptor passing and the sockets
 * ethernet hands out, beside a well-behaved one; chosen by argv[1]:
 *
 *   victim HOST PORT    well-behaved: echoes through a socket from ethernet
 *                       over and over, takes what 'evil' and 'rogue_protocol'
 *                       reply with (checking each descriptor is a connected
 *                       TCP socket), and at the end says how it went
 *   attacker HOST PORT  publishes 'evil' and attacks: misuses the socket it
 *                       got from ethernet (connect, sendto, SCM_RIGHTS,
 *                       source routes, interface ioctls, O_NONBLOCK), attacks
 *                       ethernet with crafted hosts, passes forbidden
 *                       descriptors behind the library's back and by racing
 *                       it, floods the victim with descriptors it never asked
 *                       for, and jams its clients' doorbells
 *   thief               claims descriptors passed to the victim, replays and
 *                       guesses cookies, redeems forbidden kinds, floods the
 *                       message server with transfers, sends a malformed
 *                       pass
 *   rogue HOST PORT     a publisher with network: host (a test layer gives it
 *                       that): passes UDP, listening, unconnected sockets and
 *                       connected ones it disconnects after passing
 *
 * Every attempt logs "attack NAME: contained: ..." or "attack NAME:
 * ESCAPED: ..."; tests/hostile/test_fdpass.sh checks the lines.
 *
 * It uses libkos's internal headers (the wire format of the message server)
 * to forge what a real hostile app could forge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <kos/app.h>
#include <kos/ethernet.h>
#include <kos/log.h>
#include <kos/msg.h>

#include "boot_int.h"
#include "ethernet_int.h"
#include "msg_int.h"
#include "msg_wire_int.h"
#include "outcome.h"

enum {
    L_HELLO = 1, /* remember the caller */
    L_GIVE,      /* reply with a descriptor (param 1 in the reply: attacks are done) */
    L_FLOOD,     /* pass the caller descriptors it never asked for */
    L_COOKIES,   /* pass descriptors to the caller (and others) and reply with their cookies */
    L_PING,      /* reply */
    L_JAM,       /* jam the doorbells of every client, then reply */
    L_DONE,      /* the caller has finished its attacks */
};

#define FLOOD_PASSES 40

static const char *err_or(int r, const char *ok)
{
    return r < 0 ? strerror(errno) : ok;
}

static uint64_t random_cookie(void)
{
    uint64_t c = 0;
    while (c == 0)
        if (getrandom(&c, sizeof(c), 0) != (ssize_t)sizeof(c))
            c = 0x5eed0000u + (uint64_t)rand();
    return c;
}

static int wait_for_stop(kos_app_t *app)
{
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, -1);
    }
    return 0;
}

/* What a descriptor is, in the words of kos__mw_fd_passable(). */
static const char *what_is(int fd)
{
    const char *why = "a connected TCP socket";
    if (!kos__mw_fd_passable(fd, &why))
        return why;
    return "a connected TCP socket";
}

/* Passes `fd` to the client of `channel` behind the library's back. */
static kos_status_t pass_raw(kos_dir_t *dir, uint32_t channel, int fd, uint64_t cookie)
{
    struct kos__mw m = {.type = KOS__MW_FD_PASS, .channel = channel, .cookie = cookie};
    return kos__mw_send(kos_dir_fd(dir), &m, &fd, 0);
}

/* ---- the victim ---- */

struct taken {
    unsigned sockets, none, refused, errors, bad;
    char last_bad[128];
};

/* Sorts what a call with a descriptor brought. */
static void take(struct taken *t, kos_status_t st, int fd)
{
    if (fd >= 0) {
        const char *why;
        if (kos__mw_fd_passable(fd, &why)) {
            t->sockets++;
        } else {
            t->bad++;
            snprintf(t->last_bad, sizeof(t->last_bad), "%s", why);
        }
        close(fd);
    } else if (st == KOS_STATUS_OK) {
        t->none++;
    } else if (st == KOS_STATUS_INVALID_TOKEN) {
        t->refused++;
    } else {
        t->errors++;
    }
}

static bool echo_once(kos_ethernet_t *eth, const char *host, uint16_t port, unsigned n,
                      kos_status_t *why)
{
    char text[32], back[32];
    int fd, len = snprintf(text, sizeof(text), "victim %u", n);
    kos_status_t st = kos_ethernet_connect(eth, host, port, 5000, &fd, NULL);

    *why = st;
    if (st)
        return false;
    bool ok = write(fd, text, (size_t)len) == len;
    for (int got = 0; ok && got < len;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t r = poll(&p, 1, 5000) == 1 ? read(fd, back + got, (size_t)(len - got)) : -1;
        ok = r > 0;
        got += ok ? (int)r : 0;
    }
    ok = ok && memcmp(text, back, (size_t)len) == 0;
    close(fd);
    if (!ok)
        *why = KOS_STATUS_IO;
    return ok;
}

static kos_status_t call_fd(kos_token_t *t, uint32_t label, int timeout_ms, uint64_t *param,
                            int *fd)
{
    struct kos_msg q = {.label = label}, r = {0};
    kos_status_t st = kos_msg_call_fd(t, &q, &r, timeout_ms, fd);
    if (param)
        *param = st == KOS_STATUS_OK ? r.param : 0;
    return st;
}

static int victim(kos_app_t *app, const char *host, uint16_t port)
{
    kos_dir_t *dir;
    kos_ethernet_t *eth;
    kos_token_t *evil, *rogue;
    struct taken from_evil = {0}, from_rogue = {0};
    unsigned long echoes = 0, failures = 0, notes = 0;

    /* Stop when Core asks on the control channel (kos_app_stopping), not at
     * its SIGTERM, so that the summary below is always logged. */
    signal(SIGTERM, SIG_IGN);
    unsigned after_done = 0;
    bool flooded = false, jammed = false;
    kos_status_t st;

    if (kos_app_dir(app, "msg0", &dir) || kos_ethernet_open(dir, NULL, 5000, &eth) ||
        kos_dir_request(dir, "evil", 5000, &evil) ||
        kos_dir_request(dir, "rogue_protocol", 5000, &rogue)) {
        kos_log_error("victim: cannot get its tokens");
        return 1;
    }
    if (kos_app_ready(app))
        return 1;
    (void)!call_fd(evil, L_HELLO, 2000, NULL, NULL);
    (void)!call_fd(rogue, L_HELLO, 2000, NULL, NULL);
    for (unsigned i = 0; !kos_app_stopping(app); i++) {
        if (echo_once(eth, host, port, i, &st)) {
            echoes++;
        } else {
            failures++;
            kos_log_warn("echo %u failed: %s", i, kos_status_str(st));
        }
        /* Notifications may come with sockets; taking them without a
         * descriptor drops the sockets. */
        struct kos_msg note;
        while (kos_token_receive(evil, &note, 0) == KOS_STATUS_OK)
            notes++;
        if (i % 2 == 0 && !jammed) {
            uint64_t done = 0;
            int fd;
            st = call_fd(evil, L_GIVE, 2000, &done, &fd);
            take(&from_evil, st, fd);
            after_done += done == 1;
            /* Each step once, in order, whatever the later calls answer: a
             * call that times out on a loaded machine must not repeat the
             * flood or keep the jam from coming. */
            if (after_done >= 30 && !flooded) {
                flooded = true;
                /* The attacker passes us 40 descriptors we never asked
                 * for: ethernet must still be able to give us ours. */
                st = call_fd(evil, L_FLOOD, 5000, NULL, NULL);
                bool ok = echo_once(eth, host, port, i, &st);
                kos_log_info("echo right after a flood of %d unasked descriptors: %s", FLOOD_PASSES,
                             ok ? "ok" : kos_status_str(st));
                if (!ok)
                    failures++;
            } else if (flooded) {
                /* The attacker jams our doorbell: the next call must still
                 * return (answered, or timed out), never hang. */
                (void)!call_fd(evil, L_JAM, 2000, NULL, NULL);
                struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
                poll(&p, 1, 100);
                st = call_fd(evil, L_PING, 500, NULL, NULL);
                kos_log_info("a call to the server that jammed its doorbell returned: %s",
                             kos_status_str(st));
                jammed = true;
            }
        }
        if (i % 3 == 1) {
            int fd;
            st = call_fd(rogue, L_GIVE, 2000, NULL, &fd);
            take(&from_rogue, st, fd);
        }
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, 20);
    }
    kos_log_info("victim done: %lu echoes, %lu failures; %lu notifications", echoes, failures,
                 notes);
    kos_log_info("victim took from evil: %u connected TCP sockets, %u replies without, %u "
                 "refused, %u errors, %u others%s%s",
                 from_evil.sockets, from_evil.none, from_evil.refused, from_evil.errors,
                 from_evil.bad, from_evil.bad ? ", last: " : "", from_evil.last_bad);
    kos_log_info("victim took from rogue: %u connected TCP sockets, %u replies without, %u "
                 "refused, %u errors, %u others%s%s",
                 from_rogue.sockets, from_rogue.none, from_rogue.refused, from_rogue.errors,
                 from_rogue.bad, from_rogue.bad ? ", last: " : "", from_rogue.last_bad);
    kos_token_close(evil);
    kos_token_close(rogue);
    kos_ethernet_close(eth);
    return 0;
}

/* ---- the attacker: what a socket from ethernet can be made to do ---- */

/* Sends `text` with `flags` (and, if not NULL, the message header's name and
 * control data) and reads the echo back: true if the connected peer echoed
 * exactly it. */
static bool send_echoed(int s, const char *text, const struct sockaddr *to, socklen_t tolen,
                        const void *ctl, size_t ctllen, int *err)
{
    struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
    struct msghdr mh = {.msg_name = (void *)to,
                        .msg_namelen = tolen,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = (void *)ctl,
                        .msg_controllen = ctllen};
    char back[64];
    size_t got = 0, n = strlen(text);

    *err = 0;
    if (sendmsg(s, &mh, MSG_NOSIGNAL) != (ssize_t)n) {
        *err = errno;
        return false;
    }
    while (got < n) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        ssize_t r = poll(&p, 1, 3000) == 1 ? read(s, back + got, n - got) : -1;
        if (r <= 0) {
            *err = r < 0 ? errno : EPIPE;
            return false;
        }
        got += (size_t)r;
    }
    return memcmp(back, text, n) == 0;
}

static void attack_socket(int s, uint16_t port)
{
    struct sockaddr_in elsewhere = {.sin_family = AF_INET, .sin_port = htons(22)};
    int r, err;

    elsewhere.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1); /* 127.0.0.2 */

    /* Point it elsewhere, or disconnect it to connect it again. */
    r = connect(s, (struct sockaddr *)&elsewhere, sizeof(elsewhere));
    outcome("reconnect", r < 0 && errno == EPERM, "connect(127.0.0.2:22): %s",
            err_or(r, "connected"));
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    r = connect(s, &unspec, sizeof(unspec));
    outcome("disconnect", r < 0 && errno == EPERM, "connect(AF_UNSPEC): %s",
            err_or(r, "disconnected"));
    r = bind(s, (struct sockaddr *)&elsewhere, sizeof(elsewhere));
    outcome("bind", r < 0, "bind(): %s", err_or(r, "bound"));
    r = listen(s, 1);
    outcome("listen", r < 0, "listen(): %s", err_or(r, "listening"));
    r = accept(s, NULL, NULL);
    outcome("accept", r < 0, "accept(): %s", err_or(r, "accepted"));

    /* An address with the data: TCP sends to its connected peer, so what
     * comes back is our own text from the echo server. */
    bool back =
        send_echoed(s, "sendto", (struct sockaddr *)&elsewhere, sizeof(elsewhere), NULL, 0, &err);
    outcome("sendto_address", back, "sendmsg() with the address 127.0.0.2:22: %s",
            back ? "the data went to the connected peer (echoed back)" : strerror(err));
    ssize_t n = sendto(s, "x", 1, MSG_FASTOPEN | MSG_NOSIGNAL, (struct sockaddr *)&elsewhere,
                       sizeof(elsewhere));
    outcome("sendto_fastopen", n < 0 && errno == EPERM, "sendto(MSG_FASTOPEN): %s",
            n < 0 ? strerror(errno) : "sent");

    /* A descriptor in SCM_RIGHTS: TCP carries bytes, never descriptors. */
    int p[2];
    if (pipe2(p, O_CLOEXEC) == 0) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        memset(&ctl, 0, sizeof(ctl));
        struct cmsghdr *cm = (struct cmsghdr *)ctl.buf;
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
        back = send_echoed(s, "rights", NULL, 0, ctl.buf, sizeof(ctl.buf), &err);
        outcome("scm_rights", back || err == EINVAL || err == EPERM,
                "sendmsg() with a pipe in SCM_RIGHTS: %s",
                back ? "only the bytes travelled (TCP ignores it)" : strerror(err));
        close(p[0]);
        close(p[1]);
    }

    /* Source routes: the first hop of a loose source route becomes the
     * packets' destination, whatever the socket is connected to. */
    uint8_t lsrr[8] = {IPOPT_NOP, IPOPT_LSRR, 7, 4, 127, 0, 0, 2};
    r = setsockopt(s, IPPROTO_IP, IP_OPTIONS, lsrr, sizeof(lsrr));
    outcome("ip_source_route", r < 0 && errno == EPERM,
            "setsockopt(IP_OPTIONS, loose source route via 127.0.0.2): %s",
            err_or(r, "set: its packets go to 127.0.0.2 first"));
    uint8_t rthdr[24] = {0, 2, 2, 1}; /* type 2, one segment */
    r = setsockopt(s, IPPROTO_IPV6, IPV6_RTHDR, rthdr, sizeof(rthdr));
    outcome("ipv6_routing_header", r < 0 && errno == EPERM, "setsockopt(IPV6_RTHDR): %s",
            err_or(r, "set"));
    r = setsockopt(s, IPPROTO_IPV6, IPV6_2292PKTOPTIONS, rthdr, sizeof(rthdr));
    outcome("ipv6_pktoptions", r < 0 && errno == EPERM, "setsockopt(IPV6_2292PKTOPTIONS): %s",
            err_or(r, "set"));
    r = setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", 3);
    outcome("tcp_ulp", r < 0 && errno == EPERM, "setsockopt(TCP_ULP, \"tls\"): %s",
            err_or(r, "attached"));
    r = setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
    outcome("bindtodevice", r < 0, "setsockopt(SO_BINDTODEVICE): %s", err_or(r, "bound"));
    /* What a socket is for: those still work. */
    int one = 1, tos = 0x10;
    int ok = setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
             setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0 &&
             setsockopt(s, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)) == 0;
    outcome("ordinary_options", ok, "TCP_NODELAY, SO_KEEPALIVE, IP_TOS: %s",
            ok ? "set, as they should be" : strerror(errno));

    /* The socket belongs to the host's network namespace: the interface
     * ioctls would describe the host's network to an app that has none. */
    struct ifreq ifr[16];
    struct ifconf ifc = {.ifc_len = sizeof(ifr), .ifc_req = ifr};
    r = ioctl(s, SIOCGIFCONF, &ifc);
    if (r == 0) {
        char list[256] = "";
        size_t o = 0;
        for (int i = 0; i < ifc.ifc_len / (int)sizeof(ifr[0]) && o < sizeof(list); i++) {
            char a[INET_ADDRSTRLEN];
            struct sockaddr_in *sin = (struct sockaddr_in *)&ifr[i].ifr_addr;
            inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
            o += (size_t)snprintf(list + o, sizeof(list) - o, " %s=%s", ifr[i].ifr_name, a);
        }
        outcome("siocgifconf", 0, "the host's interfaces:%s", list);
    } else {
        outcome("siocgifconf", errno == EPERM, "ioctl(SIOCGIFCONF): %s", strerror(errno));
    }
    struct ifreq q;
    memset(&q, 0, sizeof(q));
    snprintf(q.ifr_name, sizeof(q.ifr_name), "lo");
    r = ioctl(s, SIOCGIFINDEX, &q);
    outcome("siocgifindex", r < 0 && errno == EPERM, "ioctl(SIOCGIFINDEX, lo): %s",
            r < 0 ? strerror(errno) : "answered");
    r = ioctl(s, SIOCGIFHWADDR, &q);
    outcome("siocgifhwaddr", r < 0 && errno == EPERM, "ioctl(SIOCGIFHWADDR, lo): %s",
            r < 0 ? strerror(errno) : "answered");
    r = ioctl(s, SIOCETHTOOL, &q);
    outcome("siocethtool", r < 0 && errno == EPERM, "ioctl(SIOCETHTOOL): %s",
            r < 0 ? strerror(errno) : "answered");
    r = ioctl(s, 0x8B01 /* SIOCGIWNAME */, &q);
    outcome("wireless_ioctl", r < 0 && errno == EPERM, "ioctl(SIOCGIWNAME): %s",
            r < 0 ? strerror(errno) : "answered");
    /* The upper half of the command is ignored by the kernel: it must not
     * get a command past the filter. */
    r = (int)syscall(SYS_ioctl, s, 0x100000000ul | SIOCGIFCONF, &ifc);
    outcome("ioctl_high_bits", r < 0 && errno == EPERM, "ioctl(SIOCGIFCONF | 1 << 32): %s",
            r < 0 ? strerror(errno) : "answered");
    int queued = -1;
    r = ioctl(s, FIONREAD, &queued);
    outcome("fionread", r == 0, "ioctl(FIONREAD) still answers: %s",
            r == 0 ? "0 bytes waiting" : strerror(errno));

    /* O_NONBLOCK may be set but never cleared (a shared description's
     * flag): set it, try to clear it both ways. */
    int fl = fcntl(s, F_GETFL);
    int set = fcntl(s, F_SETFL, fl | O_NONBLOCK);
    int clr = fcntl(s, F_SETFL, fl & ~O_NONBLOCK);
    int cerr = errno, zero = 0;
    int fio = ioctl(s, FIONBIO, &zero);
    outcome("clear_nonblock", set == 0 && clr < 0 && fio < 0 && (fcntl(s, F_GETFL) & O_NONBLOCK),
            "F_SETFL with O_NONBLOCK: %s; without: %s; FIONBIO 0: %s",
            set == 0 ? "set" : strerror(errno), clr < 0 ? strerror(cerr) : "cleared",
            fio < 0 ? strerror(errno) : "cleared");
    (void)port;
}

/* ---- the attacker: crafted connect requests to ethernet ---- */

static kos_status_t eth_raw(kos_token_t *t, const char *host, size_t hlen, uint16_t port,
                            uint32_t len_field)
{
    uint8_t req[KOS__ETH_CONNECT_HDR + 512];
    struct kos_msg q = {.label = KOS_ETHERNET_LABEL_CONNECT, .payload = req}, r;
    int fd;

    memset(req, 0, sizeof(req));
    req[0] = KOS_ETHERNET_TCP;
    req[2] = (uint8_t)port;
    req[3] = (uint8_t)(port >> 8);
    req[8] = (uint8_t)len_field;
    req[9] = (uint8_t)(len_field >> 8);
    memcpy(req + KOS__ETH_CONNECT_HDR, host, hlen);
    q.len = (uint32_t)(KOS__ETH_CONNECT_HDR + hlen);
    kos_status_t st = kos_msg_call_fd(t, &q, &r, 5000, &fd);
    if (fd >= 0)
        close(fd);
    return st;
}

static void attack_ethernet(kos_dir_t *dir, uint16_t port)
{
    static const struct {
        const char *name, *host;
        size_t len; /* 0: strlen */
        int port_delta;
        kos_status_t want;
    } cases[] = {
        {"eth_nul_inside", "127.0.0.1\0.evil", 16, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_other_port", "127.0.0.1", 0, 1, KOS_STATUS_UNAUTHORIZED},
        {"eth_port_zero", "127.0.0.1", 0, -1, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_other_loopback", "127.0.0.2", 0, 0, KOS_STATUS_UNAUTHORIZED},
        {"eth_any_address", "0.0.0.0", 0, 0, KOS_STATUS_UNAUTHORIZED},
        {"eth_mapped_other", "::ffff:127.0.0.2", 0, 0, KOS_STATUS_UNAUTHORIZED},
        {"eth_compatible", "::127.0.0.1", 0, 0, KOS_STATUS_UNAUTHORIZED},
        {"eth_nat64", "64:ff9b::7f00:1", 0, 0, KOS_STATUS_UNAUTHORIZED},
        {"eth_ipv6_loopback", "[::1]", 0, 0, KOS_STATUS_UNAUTHORIZED},
        {"eth_short_form", "127.1", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_hex_form", "0x7f.0.0.1", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_integer_form", "2130706433", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_leading_zero", "127.000.000.001", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_trailing_dot", "127.0.0.1.", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_trailing_space", "127.0.0.1 ", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_zone_id", "[fe80::1%lo]", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_name", "localhost", 0, 0, KOS_STATUS_UNAUTHORIZED},
        {"eth_cidr", "127.0.0.0/8", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
        {"eth_star", "*", 0, 0, KOS_STATUS_INVALID_ARGUMENT},
    };
    kos_token_t *t;

    if (kos_dir_request(dir, KOS_ETHERNET_PROTOCOL, 5000, &t)) {
        outcome("ethernet", 0, "no token for ethernet");
        return;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].host);
        uint16_t p = cases[i].port_delta < 0 ? 0 : (uint16_t)(port + cases[i].port_delta);
        kos_status_t st = eth_raw(t, cases[i].host, len, p, (uint32_t)len);
        outcome(cases[i].name, st == cases[i].want, "connect to '%.*s' port %u: %s",
                (int)strcspn(cases[i].host, ""), cases[i].host, (unsigned)p, kos_status_str(st));
    }
    /* Lengths: the longest name, one more, a length that lies, the most. */
    char name[512];
    memset(name, 'a', sizeof(name));
    for (int k = 63; k < 253; k += 64)
        name[k] = '.';
    kos_status_t st = eth_raw(t, name, 253, port, 253);
    outcome("eth_longest_name", st == KOS_STATUS_UNAUTHORIZED, "a 253-character name: %s",
            kos_status_str(st));
    st = eth_raw(t, name, 254, port, 254);
    outcome("eth_name_too_long", st == KOS_STATUS_INVALID_ARGUMENT, "a 254-character name: %s",
            kos_status_str(st));
    st = eth_raw(t, "127.0.0.1", 9, port, 200);
    outcome("eth_lying_length", st == KOS_STATUS_PROTOCOL, "a host length of 200 for 9 bytes: %s",
            kos_status_str(st));
    st = eth_raw(t, name, 500, port, 500 - 256);
    outcome("eth_length_wraps", st == KOS_STATUS_PROTOCOL,
            "500 bytes of host with a length of 244: %s", kos_status_str(st));
    /* The one destination it may reach still works. */
    st = eth_raw(t, "127.0.0.1", 9, port, 9);
    outcome("eth_allowed_still", st == KOS_STATUS_OK, "connect to its allowed destination: %s",
            kos_status_str(st));
    kos_token_close(t);
}

/* ---- the attacker: serving 'evil' ---- */

/* Flips descriptor number `slot` between a socket and a pipe while the
 * library checks and sends it. */
struct racer {
    int slot, sock, pipe_r;
    _Atomic int stop;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    while (!atomic_load(&r->stop)) {
        dup2(r->pipe_r, r->slot);
        dup2(r->sock, r->slot);
    }
    return NULL;
}

/* Saturates every eventfd we hold (the doorbells our clients ring) and
 * tries to clear O_NONBLOCK on them, so that the next ring blocks. */
static void jam_doorbells(void)
{
    int found = 0, cleared = 0, err = 0;

    for (int fd = 3; fd < 1024; fd++) {
        struct stat sb;
        uint64_t v;
        if (fstat(fd, &sb) < 0 || (sb.st_mode & S_IFMT) != 0)
            continue; /* anonymous inodes only: eventfd, epoll, timerfd, ... */
        ssize_t n = read(fd, &v, sizeof(v));
        if (n != (ssize_t)sizeof(v) && !(n < 0 && errno == EAGAIN))
            continue;
        v = UINT64_MAX - 1;
        if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
            continue; /* not an eventfd */
        found++;
        int fl = fcntl(fd, F_GETFL), zero = 0;
        int a = fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        if (a < 0)
            err = errno;
        int b = ioctl(fd, FIONBIO, &zero);
        if (b < 0)
            err = errno;
        if (a == 0 || b == 0 || !(fcntl(fd, F_GETFL) & O_NONBLOCK))
            cleared++;
    }
    outcome("jam_doorbells", found > 0 && cleared == 0,
            "saturated %d eventfds; made %d of them blocking%s%s", found, cleared, err ? ": " : "",
            err ? strerror(err) : "");
}

static int attacker(kos_app_t *app, const char *host, uint16_t port)
{
    kos_dir_t *dir;
    kos_ethernet_t *eth;
    kos_endpoint_t *ep;
    int s;
    uint32_t victim_ch = 0, thief_ch = 0;
    bool have_victim = false, thief_done = false;

    if (kos_app_dir(app, "msg0", &dir) || kos_ethernet_open(dir, NULL, 5000, &eth) ||
        kos_ethernet_connect(eth, host, port, 5000, &s, NULL) ||
        kos_dir_publish(dir, "evil", &ep)) {
        kos_log_error("attacker: cannot set up");
        return 1;
    }
    if (kos_app_ready(app))
        return 1;
    kos_log_info("attacks starting");
    attack_socket(s, port);
    attack_ethernet(dir, port);

    /* The socket for the racer, and a pipe to swap in. */
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return 1;
    struct racer rc = {.slot = fcntl(s, F_DUPFD_CLOEXEC, 700), .sock = s, .pipe_r = p[0]};
    unsigned races = 0, refused_locally = 0;

    while (!kos_app_stopping(app)) {
        struct kos_msg m, r = {0};
        struct kos_caller from;
        kos_status_t st = kos_endpoint_receive(ep, &m, &from, 100);
        if (st == KOS_STATUS_TIMEOUT || st == KOS_STATUS_WOULD_BLOCK)
            continue;
        if (st) {
            kos_log_warn("attacker: receive: %s", kos_status_str(st));
            continue;
        }
        if (m.token)
            kos_token_close(m.token);
        bool from_victim = !strcmp(from.app, "victim"), from_thief = !strcmp(from.app, "thief");
        switch (m.label) {
        case L_HELLO:
            if (from_victim) {
                victim_ch = from.client;
                have_victim = true;
            } else if (from_thief) {
                thief_ch = from.client;
            }
            (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL);
            break;
        case L_GIVE: {
            r.param = thief_done ? 1 : 0;
            if (!thief_done) {
                if (kos_endpoint_reply_fd(ep, &from, KOS_STATUS_OK, &r, s))
                    (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &r);
                break;
            }
            /* Reply with the descriptor number the racer flips: the
             * library checks it, then another thread swaps a pipe in. */
            pthread_t t;
            atomic_store(&rc.stop, 0);
            bool racing = pthread_create(&t, NULL, race, &rc) == 0;
            usleep(200);
            st = kos_endpoint_reply_fd(ep, &from, KOS_STATUS_OK, &r, rc.slot);
            if (racing) {
                atomic_store(&rc.stop, 1);
                pthread_join(t, NULL);
                dup2(s, rc.slot);
                races++;
            }
            if (st == KOS_STATUS_INVALID_ARGUMENT) {
                refused_locally++;
                (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &r);
            }
            break;
        }
        case L_FLOOD:
            /* Descriptors the victim never asked for, under cookies it will
             * never learn; and notifications with sockets. */
            for (int k = 0; k < FLOOD_PASSES; k++)
                (void)!pass_raw(dir, from.client, s, random_cookie());
            for (int k = 0; k < 4; k++) {
                struct kos_msg note = {.label = 9};
                (void)!kos_endpoint_notify_fd(ep, from.client, &note, s);
            }
            (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL);
            outcome("flood_unasked", 1,
                    "passed the victim %d descriptors it never asked for, and notified it 4 "
                    "times with one (the victim says whether ethernet still reaches it)",
                    FLOOD_PASSES);
            break;
        case L_COOKIES: {
            /* The thief learns the cookies: one for the victim, one for
             * itself, and forbidden kinds for itself. */
            uint64_t c[8];
            int efd = eventfd(0, EFD_CLOEXEC), mfd = memfd_create("x", MFD_CLOEXEC);
            int epfd = epoll_create1(EPOLL_CLOEXEC);
            int kinds[6] = {p[0], mfd, efd, kos_dir_fd(dir), KOS__CTL_FD, epfd};
            for (int k = 0; k < 8; k++)
                c[k] = random_cookie();
            if (have_victim)
                (void)!pass_raw(dir, victim_ch, s, c[0]);
            (void)!pass_raw(dir, from.client, s, c[1]);
            for (int k = 0; k < 6; k++)
                (void)!pass_raw(dir, from.client, kinds[k], c[2 + k]);
            close(efd);
            close(mfd);
            close(epfd);
            r.payload = c;
            r.len = sizeof(c);
            (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &r);
            break;
        }
        case L_JAM:
            jam_doorbells();
            (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL);
            outcome("race_fd_swap", 1,
                    "%u replies raced a pipe into the descriptor being passed; the library "
                    "caught %u (the victim says what it got)",
                    races, refused_locally);
            outcome_done();
            break;
        case L_DONE:
            thief_done = true;
            (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL);
            /* Pass on channels we do not serve: our own token's to
             * ethernet, and every number up to 64. */
            for (uint32_t ch = 1; ch <= 64; ch++)
                if (ch != victim_ch && ch != thief_ch)
                    (void)!pass_raw(dir, ch, s, random_cookie());
            outcome("pass_foreign_channels", 1,
                    "passed a socket on the channels 1..64 it does not serve (msg0 refuses "
                    "them)");
            break;
        default:
            (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL);
        }
    }
    close(p[0]);
    close(p[1]);
    close(s);
    kos_endpoint_close(ep);
    kos_ethernet_close(eth);
    return 0;
}

/* ---- the thief ---- */

/* Sends m and waits (up to 3 s) for the reply with its id; other messages
 * are dropped. */
static kos_status_t raw_call(int sock, const struct kos__mw *m, struct kos__mw *rep, int *fd)
{
    int fds[KOS__MW_MAX_FDS];
    kos_status_t st = kos__mw_send(sock, m, NULL, 0);

    *fd = -1;
    if (st)
        return st;
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        if (poll(&p, 1, 3000) != 1)
            return KOS_STATUS_TIMEOUT;
        st = kos__mw_recv(sock, rep, fds, 0);
        if (st)
            return st;
        size_t n = kos__mw_nfds(rep->type, rep->status);
        if (rep->id == m->id && rep->type == KOS__MW_FD_REDEEM_REPLY) {
            if (n)
                *fd = fds[0];
            return KOS_STATUS_OK;
        }
        for (size_t i = 0; i < n; i++)
            close(fds[i]);
    }
}

/* Redeems `cookie` on the raw connection: the status, and any descriptor
 * in *fd. */
static kos_status_t redeem(int sock, uint64_t cookie, int *fd)
{
    static uint32_t id = 5000;
    struct kos__mw m = {.type = KOS__MW_FD_REDEEM, .id = ++id, .cookie = cookie}, rep;
    kos_status_t st = raw_call(sock, &m, &rep, fd);
    return st ? st : (kos_status_t)rep.status;
}

static kos_status_t cookies(kos_token_t *t, uint64_t *out, size_t n)
{
    struct kos_msg q = {.label = L_COOKIES}, r;
    kos_status_t st = kos_msg_call(t, &q, &r, 5000);
    if (st)
        return st;
    if (r.len != n * sizeof(uint64_t))
        return KOS_STATUS_PROTOCOL;
    memcpy(out, r.payload, r.len);
    return KOS_STATUS_OK;
}

/* A socket we should never have got: what can be done with it. */
static void misuse_received(const char *name, int fd)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(22)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int a = accept(fd, NULL, NULL);
    int ae = errno;
    int c = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
    int ce = errno;
    ssize_t f =
        sendto(fd, "x", 1, MSG_FASTOPEN | MSG_NOSIGNAL, (struct sockaddr *)&sin, sizeof(sin));
    int fe = errno;
    outcome(name, a < 0 && c < 0 && f < 0,
            "got %s, but accept(): %s, connect(): %s, sendto(MSG_FASTOPEN): %s", what_is(fd),
            a < 0 ? strerror(ae) : "accepted", c < 0 ? strerror(ce) : "connected",
            f < 0 ? strerror(fe) : "sent");
    if (a >= 0)
        close(a);
}

static int thief(kos_app_t *app)
{
    kos_dir_t *dir;
    kos_token_t *evil, *rogue;
    uint64_t c[8];
    int fd;
    kos_status_t st;

    if (kos_app_dir(app, "msg0", &dir) || kos_dir_request(dir, "evil", 5000, &evil) ||
        kos_dir_request(dir, "rogue_protocol", 5000, &rogue)) {
        kos_log_error("thief: cannot get its tokens");
        return 1;
    }
    if (kos_app_ready(app))
        return 1;
    int sock = kos_dir_fd(dir);
    (void)!call_fd(evil, L_HELLO, 2000, NULL, NULL);
    (void)!call_fd(rogue, L_HELLO, 2000, NULL, NULL);

    /* Cookies from a colluding publisher: the victim's, ours, and ours for
     * descriptors that may never travel. */
    if ((st = cookies(evil, c, 8)) != KOS_STATUS_OK) {
        outcome("cookies", 0, "no cookies from evil: %s", kos_status_str(st));
        return 1;
    }
    st = redeem(sock, c[0], &fd);
    outcome("claim_victims_socket", fd < 0 && st == KOS_STATUS_INVALID_TOKEN,
            "FD_REDEEM of the cookie of a socket passed to the victim: %s",
            fd >= 0 ? what_is(fd) : kos_status_str(st));
    if (fd >= 0)
        close(fd);
    /* Dropping it for the victim does nothing either. */
    struct kos__mw drop = {.type = KOS__MW_FD_DROP, .cookie = c[0]};
    (void)!kos__mw_send(sock, &drop, NULL, 0);
    st = redeem(sock, c[0], &fd);
    outcome("drop_victims_socket", fd < 0 && st == KOS_STATUS_INVALID_TOKEN,
            "FD_DROP, then FD_REDEEM again: %s", fd >= 0 ? what_is(fd) : kos_status_str(st));
    if (fd >= 0)
        close(fd);

    st = redeem(sock, c[1], &fd);
    bool first = st == KOS_STATUS_OK && fd >= 0 && kos__mw_fd_passable(fd, NULL);
    if (fd >= 0)
        close(fd);
    st = redeem(sock, c[1], &fd);
    outcome("replay_cookie", first && fd < 0 && st == KOS_STATUS_INVALID_TOKEN,
            "our own socket's cookie: %s the first time, %s the second",
            first ? "a connected TCP socket" : "nothing", kos_status_str(st));
    if (fd >= 0)
        close(fd);

    static const char *const kinds[6] = {"pass_pipe",       "pass_memfd",          "pass_eventfd",
                                         "pass_dir_socket", "pass_control_socket", "pass_epoll"};
    for (int k = 0; k < 6; k++) {
        st = redeem(sock, c[2 + k], &fd);
        outcome(kinds[k], fd < 0 && st == KOS_STATUS_INVALID_TOKEN, "FD_REDEEM: %s",
                fd >= 0 ? what_is(fd) : kos_status_str(st));
        if (fd >= 0)
            close(fd);
    }

    /* Guessing: 1024 random cookies, 64 at a time (the most one app may
     * leave waiting). */
    unsigned got = 0, invalid = 0, busy = 0, other = 0;
    for (int round = 0; round < 16; round++) {
        for (int k = 0; k < 64; k++) {
            struct kos__mw m = {
                .type = KOS__MW_FD_REDEEM, .id = 100000u + (uint32_t)k, .cookie = random_cookie()};
            (void)!kos__mw_send(sock, &m, NULL, 0);
        }
        for (int k = 0; k < 64;) {
            struct kos__mw rep;
            int fds[KOS__MW_MAX_FDS];
            struct pollfd p = {.fd = sock, .events = POLLIN};
            if (poll(&p, 1, 3000) != 1 || kos__mw_recv(sock, &rep, fds, 0))
                break;
            size_t n = kos__mw_nfds(rep.type, rep.status);
            for (size_t i = 0; i < n; i++)
                close(fds[i]);
            if (rep.type != KOS__MW_FD_REDEEM_REPLY)
                continue;
            k++;
            got += rep.status == KOS_STATUS_OK;
            invalid += rep.status == KOS_STATUS_INVALID_TOKEN;
            busy += rep.status == KOS_STATUS_BUSY;
            other += rep.status != KOS_STATUS_OK && rep.status != KOS_STATUS_INVALID_TOKEN &&
                     rep.status != KOS_STATUS_BUSY;
        }
    }
    outcome("guess_cookies", got == 0 && invalid + busy + other == 1024,
            "1024 random cookies: %u descriptors, %u invalid, %u busy, %u other", got, invalid,
            busy, other);

    /* A publisher with the host's network passes what only it could make. */
    uint64_t rk[7];
    static const char *const rkinds[7] = {"pass_udp_connected", "pass_udp",
                                          "pass_tcp_listening", "pass_tcp_unconnected",
                                          "pass_then_listen",   "pass_then_disconnect",
                                          "pass_tcp_connected"};
    if ((st = cookies(rogue, rk, 7)) != KOS_STATUS_OK) {
        outcome("rogue_cookies", 0, "no cookies from rogue: %s", kos_status_str(st));
    } else {
        for (int k = 0; k < 7; k++) {
            st = redeem(sock, rk[k], &fd);
            if (k == 6) {
                outcome(rkinds[k], fd >= 0 && kos__mw_fd_passable(fd, NULL),
                        "(the control: a socket that may travel) %s",
                        fd >= 0 ? what_is(fd) : kos_status_str(st));
            } else if (fd >= 0) {
                misuse_received(rkinds[k], fd);
            } else {
                outcome(rkinds[k], st == KOS_STATUS_INVALID_TOKEN, "FD_REDEEM: %s",
                        kos_status_str(st));
            }
            if (fd >= 0)
                close(fd);
        }
    }

    /* Token transfers prepared and never completed: 1000 of them. */
    struct kos__mw prep = {.type = KOS__MW_PREPARE, .channel = kos__token_channel(evil)};
    unsigned sent = 0;
    for (int k = 0; k < 1000; k++) {
        prep.cookie = random_cookie();
        sent += kos__mw_send(sock, &prep, NULL, 0) == KOS_STATUS_OK;
    }
    outcome("prepare_flood", 1,
            "prepared %u token transfers (msg0 keeps 256 and logs the rest "
            "within its budget)",
            sent);

    (void)!call_fd(evil, L_DONE, 2000, NULL, NULL);

    /* Last, as it costs us our connection: a pass with two descriptors. */
    {
        uint8_t buf[KOS__MW_MAX];
        size_t len;
        struct kos__mw m = {.type = KOS__MW_FD_PASS, .channel = 1, .cookie = 77};
        int p[2];
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(2 * sizeof(int))];
        } ctl;
        if (pipe2(p, O_CLOEXEC) == 0 && kos__mw_encode(&m, buf, sizeof(buf), &len) == 0) {
            struct iovec iov = {.iov_base = buf, .iov_len = len};
            struct msghdr mh = {.msg_iov = &iov,
                                .msg_iovlen = 1,
                                .msg_control = ctl.buf,
                                .msg_controllen = sizeof(ctl.buf)};
            memset(&ctl, 0, sizeof(ctl));
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
            memcpy(CMSG_DATA(cm), p, 2 * sizeof(int));
            ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
            struct kos__mw ping = {.type = KOS__MW_PING, .id = 9}, rep;
            int fds[KOS__MW_MAX_FDS];
            st = n < 0 ? KOS_STATUS_IO : kos__mw_send(sock, &ping, NULL, MSG_NOSIGNAL);
            struct pollfd pp = {.fd = sock, .events = POLLIN};
            if (st == KOS_STATUS_OK && poll(&pp, 1, 3000) == 1)
                st = kos__mw_recv(sock, &rep, fds, 0);
            outcome("two_descriptors", st == KOS_STATUS_CLOSED || st == KOS_STATUS_IO,
                    "FD_PASS with two descriptors, then a ping: %s", kos_status_str(st));
            close(p[0]);
            close(p[1]);
        }
    }
    outcome_done();
    return wait_for_stop(app);
}

/* ---- rogue: a publisher with the host's network ---- */

static int tcp_to(const char *host, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
        connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

static int rogue(kos_app_t *app, const char *host, uint16_t port)
{
    kos_dir_t *dir;
    kos_endpoint_t *ep;
    unsigned gives = 0;

    if (kos_app_dir(app, "msg0", &dir) || kos_dir_publish(dir, "rogue_protocol", &ep)) {
        kos_log_error("rogue: cannot publish");
        return 1;
    }
    if (kos_app_ready(app))
        return 1;
    while (!kos_app_stopping(app)) {
        struct kos_msg m;
        struct kos_caller from;
        kos_status_t st = kos_endpoint_receive(ep, &m, &from, 100);
        if (st)
            continue;
        if (m.token)
            kos_token_close(m.token);
        if (m.label == L_GIVE) {
            /* Alternately a connection and a UDP socket, which the library
             * refuses to pass. */
            int s =
                gives++ % 2 ? socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) : tcp_to(host, port);
            st = s >= 0 ? kos_endpoint_reply_fd(ep, &from, KOS_STATUS_OK, NULL, s)
                        : KOS_STATUS_INVALID_ARGUMENT;
            if (st)
                (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL);
            if (s >= 0)
                close(s);
            continue;
        }
        if (m.label != L_COOKIES) {
            (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL);
            continue;
        }
        uint64_t c[7];
        int s[7];
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, host, &sin.sin_addr);
        for (int k = 0; k < 7; k++)
            c[k] = random_cookie();
        s[0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s[0] >= 0 && connect(s[0], (struct sockaddr *)&sin, sizeof(sin)) < 0)
            kos_log_warn("rogue: udp connect: %s", strerror(errno));
        s[1] = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        s[2] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in any = {.sin_family = AF_INET};
        any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (s[2] >= 0 &&
            (bind(s[2], (struct sockaddr *)&any, sizeof(any)) < 0 || listen(s[2], 1) < 0))
            kos_log_warn("rogue: listen: %s", strerror(errno));
        s[3] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        s[4] = tcp_to(host, port);
        s[5] = tcp_to(host, port);
        s[6] = tcp_to(host, port);
        for (int k = 0; k < 7; k++)
            if (s[k] >= 0)
                (void)!pass_raw(dir, from.client, s[k], c[k]);
        /* Once the message server has taken the last two as connected
         * sockets, change them: one listens, one is disconnected. */
        (void)!kos_dir_ping(dir, 2000);
        struct sockaddr unspec = {.sa_family = AF_UNSPEC};
        if (s[4] >= 0 && connect(s[4], &unspec, sizeof(unspec)) < 0)
            kos_log_warn("rogue: disconnect: %s", strerror(errno));
        /* Linux refuses to listen on a socket that was connected (EINVAL);
         * where it does not, msg0 must see a listening socket. */
        if (s[4] >= 0 && listen(s[4], 1) < 0)
            kos_log_info("rogue: listen after a disconnect: %s", strerror(errno));
        if (s[5] >= 0 && connect(s[5], &unspec, sizeof(unspec)) < 0)
            kos_log_warn("rogue: disconnect: %s", strerror(errno));
        struct kos_msg r = {.payload = c, .len = sizeof(c)};
        (void)!kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &r);
        /* Keep them open until the thief has tried: closing them would
         * change what they are. */
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, 1000);
        for (int k = 0; k < 7; k++)
            if (s[k] >= 0)
                close(s[k]);
    }
    kos_endpoint_close(ep);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *host = argc > 2 ? argv[2] : "127.0.0.1";
    uint16_t port = argc > 3 ? (uint16_t)atoi(argv[3]) : 0;
    kos_app_t *app;
    int rc = 2;

    if (kos_app_open(&app)) {
        fprintf(stderr, "fdpass: kos_app_open failed\n");
        return 1;
    }
    if (!strcmp(mode, "victim"))
        rc = victim(app, host, port);
    else if (!strcmp(mode, "attacker"))
        rc = attacker(app, host, port);
    else if (!strcmp(mode, "thief"))
        rc = thief(app);
    else if (!strcmp(mode, "rogue"))
        rc = rogue(app, host, port);
    else
        kos_log_error("unknown mode '%s'", mode);
    kos_app_close(app);
    return rc;
}
