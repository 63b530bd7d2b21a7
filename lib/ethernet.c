/*
 * ethernet.c - the client side of kos_ethernet_protocol
 * (include/kos/ethernet.h) and the protocol's wire codec and host syntax,
 * which the ethernet component shares.
 *
 * A handle is a token for ethernet's protocol and the errno value of the
 * last failure. Encoding checks everything the server will check, so a
 * caller learns of a malformed host without a round trip; the server checks
 * again, as it must. A socket that comes with a reply belongs to the caller
 * from the moment the call returns it; on every error path it is closed.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kos/ethernet.h>

#include "client_int.h"
#include "ethernet_int.h"

/* Added to the caller's connect timeout for the reply to travel back. */
#define CALL_GRACE_MS 2000

struct kos_ethernet {
    struct kos__client c; /* first: see client_int.h; connect has its own deadline */
    int last_error;
    uint8_t req[KOS__ETH_CONNECT_HDR + KOS_ETHERNET_HOST_MAX];
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- host syntax ---- */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool name_valid(const char *s, size_t len)
{
    size_t label = 0;
    bool digits_only = true;

    if (len == 0 || len > KOS_ETHERNET_HOST_MAX)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? s[i] : '.';
        if (c == '.') {
            /* A label: 1..63 characters, no '-' at either end. */
            if (label == 0 || label > 63 || s[i - label] == '-' || s[i - 1] == '-')
                return false;
            if (i < len) {
                label = 0;
                digits_only = true;
            }
            continue;
        }
        if (!is_alnum(c) && c != '-')
            return false;
        if (c < '0' || c > '9')
            digits_only = false;
        label++;
    }
    /* "10.0.0.256" is a mistyped address, not a name. */
    return !digits_only;
}

enum kos__eth_host_kind kos__eth_host_parse(const char *host, size_t len,
                                            struct kos_ethernet_addr *addr)
{
    char buf[64];
    uint8_t a[16];

    if (!host || len == 0 || len > KOS_ETHERNET_HOST_MAX || memchr(host, '\0', len))
        return KOS__ETH_HOST_INVALID; /* a NUL inside would end what inet_pton reads */
    if (host[0] == '[') {
        if (len < 3 || host[len - 1] != ']')
            return KOS__ETH_HOST_INVALID;
        host++;
        len -= 2;
    } else if (memchr(host, ':', len) == NULL) {
        if (len < sizeof(buf)) {
            memcpy(buf, host, len);
            buf[len] = '\0';
        } else {
            buf[0] = '\0'; /* too long for an address */
        }
        if (inet_pton(AF_INET, buf, a) == 1) {
            if (addr) {
                addr->family = KOS_ETHERNET_IPV4;
                memset(addr->addr, 0, sizeof(addr->addr));
                memcpy(addr->addr, a, 4);
            }
            return KOS__ETH_HOST_ADDR;
        }
        return name_valid(host, len) ? KOS__ETH_HOST_NAME : KOS__ETH_HOST_INVALID;
    }
    /* IPv6: hex digits, ':' and (for an embedded IPv4 part) '.'; no zone id. */
    if (len >= sizeof(buf))
        return KOS__ETH_HOST_INVALID;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == ':' || c == '.'))
            return KOS__ETH_HOST_INVALID;
    }
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET6, buf, a) != 1)
        return KOS__ETH_HOST_INVALID;
    if (addr) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memset(addr->addr, 0, sizeof(addr->addr));
        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            addr->family = KOS_ETHERNET_IPV4;
            memcpy(addr->addr, a + 12, 4);
        } else {
            addr->family = KOS_ETHERNET_IPV6;
            memcpy(addr->addr, a, 16);
        }
    }
    return KOS__ETH_HOST_ADDR;
}

/* ---- codec ---- */

kos_status_t kos__eth_connect_encode(const struct kos__eth_connect *r, uint8_t *out, size_t cap,
                                     uint32_t *len)
{
    size_t n = strnlen(r->host, sizeof(r->host));

    if (r->transport != KOS_ETHERNET_TCP || r->port == 0 || n > KOS_ETHERNET_HOST_MAX ||
        kos__eth_host_parse(r->host, n, NULL) == KOS__ETH_HOST_INVALID)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (cap < KOS__ETH_CONNECT_HDR + n)
        return KOS_STATUS_TOO_LARGE;
    out[0] = r->transport;
    out[1] = 0;
    put16(out + 2, r->port);
    put32(out + 4, r->timeout_ms);
    put16(out + 8, (uint16_t)n);
    put16(out + 10, 0);
    memcpy(out + KOS__ETH_CONNECT_HDR, r->host, n);
    *len = (uint32_t)(KOS__ETH_CONNECT_HDR + n);
    return KOS_STATUS_OK;
}

kos_status_t kos__eth_connect_decode(uint64_t param, const void *payload, size_t len,
                                     struct kos__eth_connect *r)
{
    const uint8_t *p = payload;
    size_t n;

    if (param != 0 || len < KOS__ETH_CONNECT_HDR || !p)
        return KOS_STATUS_PROTOCOL;
    n = get16(p + 8);
    if (p[1] != 0 || get16(p + 10) != 0 || len != KOS__ETH_CONNECT_HDR + n)
        return KOS_STATUS_PROTOCOL;
    r->transport = p[0];
    r->port = get16(p + 2);
    r->timeout_ms = get32(p + 4);
    if (r->transport != KOS_ETHERNET_TCP || r->port == 0 || n == 0 || n > KOS_ETHERNET_HOST_MAX)
        return KOS_STATUS_INVALID_ARGUMENT;
    memcpy(r->host, p + KOS__ETH_CONNECT_HDR, n);
    r->host[n] = '\0';
    if (kos__eth_host_parse(r->host, n, NULL) == KOS__ETH_HOST_INVALID)
        return KOS_STATUS_INVALID_ARGUMENT; /* a NUL inside too */
    return KOS_STATUS_OK;
}

static void addr_encode(const struct kos_ethernet_addr *a, uint8_t *out)
{
    out[0] = a->family;
    out[1] = 0;
    put16(out + 2, a->port);
    memcpy(out + 4, a->addr, 16);
    if (a->family == KOS_ETHERNET_IPV4)
        memset(out + 8, 0, 12);
}

static bool addr_decode(const uint8_t *p, struct kos_ethernet_addr *a)
{
    static const uint8_t zero[12];

    if ((p[0] != KOS_ETHERNET_IPV4 && p[0] != KOS_ETHERNET_IPV6) || p[1] != 0)
        return false;
    if (p[0] == KOS_ETHERNET_IPV4 && memcmp(p + 8, zero, sizeof(zero)) != 0)
        return false;
    a->family = p[0];
    a->port = get16(p + 2);
    memcpy(a->addr, p + 4, 16);
    return true;
}

void kos__eth_conn_encode(const struct kos_ethernet_conn *c, uint8_t out[KOS__ETH_CONN_LEN])
{
    addr_encode(&c->local, out);
    addr_encode(&c->remote, out + KOS__ETH_ADDR_LEN);
}

kos_status_t kos__eth_conn_decode(const void *payload, size_t len, struct kos_ethernet_conn *c)
{
    const uint8_t *p = payload;

    if (len != KOS__ETH_CONN_LEN || !p || !addr_decode(p, &c->local) ||
        !addr_decode(p + KOS__ETH_ADDR_LEN, &c->remote))
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* ---- the client ---- */

kos_status_t kos_ethernet_open(kos_dir_t *dir, const char *protocol, int timeout_ms,
                               kos_ethernet_t **out)
{
    return kos__client_open(dir, protocol ? protocol : KOS_ETHERNET_PROTOCOL, timeout_ms,
                            sizeof(struct kos_ethernet), out);
}

void kos_ethernet_close(kos_ethernet_t *eth)
{
    kos__client_close(eth, sizeof(*eth));
}

kos_status_t kos_ethernet_connect(kos_ethernet_t *eth, const char *host, uint16_t port,
                                  int timeout_ms, int *fd, struct kos_ethernet_conn *info)
{
    struct kos__eth_connect r = {.transport = KOS_ETHERNET_TCP, .port = port};
    struct kos_msg q = {.label = KOS_ETHERNET_LABEL_CONNECT}, rep = {0};
    struct kos_ethernet_conn conn;
    int got = -1, call_ms;
    uint32_t len;
    kos_status_t st;

    if (fd)
        *fd = -1;
    if (!eth || !host || !fd || timeout_ms == 0 || timeout_ms < -1)
        return KOS_STATUS_INVALID_ARGUMENT;
    eth->last_error = 0;
    size_t n = strnlen(host, KOS_ETHERNET_HOST_MAX + 1);
    if (n > KOS_ETHERNET_HOST_MAX)
        return KOS_STATUS_INVALID_ARGUMENT;
    memcpy(r.host, host, n);
    r.host[n] = '\0';
    r.timeout_ms = timeout_ms < 0 ? 0 : (uint32_t)timeout_ms;
    st = kos__eth_connect_encode(&r, eth->req, sizeof(eth->req), &len);
    if (st)
        return st;
    q.payload = eth->req;
    q.len = len;
    call_ms = timeout_ms < 0                         ? -1
              : timeout_ms > INT_MAX - CALL_GRACE_MS ? INT_MAX
                                                     : timeout_ms + CALL_GRACE_MS;
    st = kos_msg_call_fd(eth->c.token, &q, &rep, call_ms, &got);
    if (st) {
        if (got >= 0)
            close(got);
        eth->last_error = rep.param < 4096 ? (int)rep.param : 0;
        return st;
    }
    if (got < 0 || kos__eth_conn_decode(rep.payload, rep.len, &conn)) {
        if (got >= 0)
            close(got);
        return KOS_STATUS_PROTOCOL; /* not what an honest ethernet sends */
    }
    if (info)
        *info = conn;
    *fd = got;
    return KOS_STATUS_OK;
}

kos_status_t kos_ethernet_pair(kos_ethernet_t *eth, int *near, int *far)
{
    int *ends[2] = {near, far};
    kos_status_t st = KOS_STATUS_OK;

    if (near)
        *near = -1;
    if (far)
        *far = -1;
    if (!eth || !near || !far)
        return KOS_STATUS_INVALID_ARGUMENT;
    eth->last_error = 0;
    for (uint64_t i = 0; i < 2 && !st; i++) {
        struct kos_msg q = {.label = KOS_ETHERNET_LABEL_PAIR, .param = i}, rep = {0};
        int got = -1;
        st = kos_msg_call_fd(eth->c.token, &q, &rep, -1, &got);
        if (st) {
            eth->last_error = rep.param < 4096 ? (int)rep.param : 0;
        } else if (got < 0 || rep.len) {
            st = KOS_STATUS_PROTOCOL; /* not what an honest ethernet sends */
        }
        if (st && got >= 0)
            close(got);
        if (!st)
            *ends[i] = got;
    }
    if (st && *near >= 0) {
        close(*near);
        *near = -1;
    }
    return st;
}

int kos_ethernet_last_error(const kos_ethernet_t *eth)
{
    return eth ? eth->last_error : 0;
}

char *kos_ethernet_addr_format(const struct kos_ethernet_addr *a, char *buf, size_t len)
{
    char text[INET6_ADDRSTRLEN];

    if (!buf || len == 0)
        return buf;
    if (!a || (a->family != KOS_ETHERNET_IPV4 && a->family != KOS_ETHERNET_IPV6) ||
        !inet_ntop(a->family == KOS_ETHERNET_IPV4 ? AF_INET : AF_INET6, a->addr, text,
                   sizeof(text))) {
        snprintf(buf, len, "?");
        return buf;
    }
    snprintf(buf, len, a->family == KOS_ETHERNET_IPV4 ? "%s:%u" : "[%s]:%u", text,
             (unsigned)a->port);
    return buf;
}
