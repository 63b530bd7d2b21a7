/*
 * acl.c - ethernet's settings: the allow list (which app may connect to
 * which destinations), the hosts table (the addresses of the names the
 * allow list uses), and the numbers and durations of the other settings.
 *
 *   allow: "sensor=tcp:broker.example.com:8883;updater=tcp:10.0.0.0/8:443,tcp:[fd00::/8]:443"
 *   hosts: "broker.example.com=192.0.2.10,2001:db8::10"
 *
 * What stays true: a setting that fails to parse leaves its table empty,
 * so it allows and resolves nothing; an app, destination or port that no
 * rule names is refused.
 */
#include <stdio.h>
#include <string.h>

#include "eth.h"

/* The parser's position in the text. */
struct cursor {
    const char *s;
    size_t at;
};

static void skip_spaces(struct cursor *c)
{
    while (c->s[c->at] == ' ' || c->s[c->at] == '\t')
        c->at++;
}

static bool app_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* Characters of a host outside brackets: names and IPv4 (with a prefix). */
static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '/' || c == '*';
}

/* Characters inside brackets: IPv6 and a prefix. */
static bool ip6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
           c == '.' || c == '/';
}

/* Reads a run of characters accepted by ok() into out (cap bytes with the
 * NUL). Returns its length, 0 if there is none, or cap if it is too long. */
static size_t word(struct cursor *c, bool (*ok)(char), char *out, size_t cap)
{
    size_t n = 0;

    while (ok(c->s[c->at])) {
        if (n + 1 < cap)
            out[n] = c->s[c->at];
        n++;
        c->at++;
    }
    if (n >= cap)
        return cap;
    out[n] = '\0';
    return n;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* Parses a whole decimal number of at most `max` from the cursor. */
static bool number(struct cursor *c, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    size_t start = c->at;

    while (c->s[c->at] >= '0' && c->s[c->at] <= '9') {
        v = v * 10 + (uint64_t)(c->s[c->at] - '0');
        if (v > max)
            return false;
        c->at++;
    }
    *out = (uint32_t)v;
    return c->at > start && c->at - start <= 10;
}

/* ---- the allow list ---- */

/* Parses HOST (up to the ':' before the ports) into r. */
static const char *parse_host(struct cursor *c, struct eth_rule *r)
{
    char text[KOS_ETHERNET_HOST_MAX + 2];
    size_t n, len;
    char *slash;
    uint32_t prefix;

    if (c->s[c->at] == '[') {
        c->at++;
        n = word(c, ip6_char, text, sizeof(text));
        if (n == 0 || n == sizeof(text) || c->s[c->at] != ']' || !strchr(text, ':'))
            return "an IPv6 address or network in brackets, e.g. [fd00::1] or [fd00::/8]";
        c->at++;
    } else {
        n = word(c, host_char, text, sizeof(text));
        if (n == 0 || n == sizeof(text))
            return "a host: '*', a name (at most 253 characters), an IPv4 address or network, "
                   "or an IPv6 one in brackets";
    }
    if (strcmp(text, "*") == 0) {
        r->match = ETH_MATCH_ANY;
        return NULL;
    }
    slash = strchr(text, '/');
    len = slash ? (size_t)(slash - text) : n;
    enum kos__eth_host_kind kind = kos__eth_host_parse(text, len, &r->net);
    if (kind == KOS__ETH_HOST_NAME && !slash) {
        r->match = ETH_MATCH_NAME;
        memcpy(r->name, text, n + 1);
        lower(r->name);
        return NULL;
    }
    if (kind != KOS__ETH_HOST_ADDR)
        return "a host: '*', a name, an IPv4 address or network (10.0.0.0/8), or an IPv6 "
               "address or network in brackets ([fd00::/8])";
    /* An IPv4-mapped IPv6 address was turned into IPv4: its prefix counts
     * from the mapped part. */
    uint32_t max = r->net.family == KOS_ETHERNET_IPV4 ? 32 : 128;
    prefix = max;
    if (slash) {
        struct cursor pc = {.s = slash + 1, .at = 0};
        bool mapped6 =
            text[0] != '\0' && memchr(text, ':', len) && r->net.family == KOS_ETHERNET_IPV4;
        uint32_t pmax = mapped6 ? 128 : max;
        if (!number(&pc, pmax, &prefix) || slash[1 + pc.at] != '\0')
            return max == 32 ? "a network prefix of 0 to 32 bits after '/'"
                             : "a network prefix of 0 to 128 bits after '/'";
        if (mapped6) {
            if (prefix < 96)
                return "a prefix of at least 96 bits for an IPv4-mapped network";
            prefix -= 96;
        }
    }
    r->match = ETH_MATCH_NET;
    r->prefix = (uint8_t)prefix;
    /* The address bits beyond the prefix must be zero: 10.0.0.1/8 is most
     * likely a mistake for 10.0.0.0/8. */
    for (uint32_t b = prefix; b < max; b++)
        if (r->net.addr[b / 8] & (0x80u >> (b % 8)))
            return "a network address whose bits beyond the prefix are zero (e.g. 10.0.0.0/8)";
    return NULL;
}

static const char *parse_ports(struct cursor *c, struct eth_rule *r)
{
    uint32_t lo, hi;

    if (c->s[c->at] == '*') {
        c->at++;
        r->port_lo = 1;
        r->port_hi = 65535;
        return NULL;
    }
    if (!number(c, 65535, &lo) || lo == 0)
        return "a port (1-65535), a range (8000-8099) or '*'";
    hi = lo;
    if (c->s[c->at] == '-') {
        c->at++;
        if (!number(c, 65535, &hi) || hi < lo)
            return "the end of a port range, at least its start and at most 65535";
    }
    r->port_lo = (uint16_t)lo;
    r->port_hi = (uint16_t)hi;
    return NULL;
}

kos_status_t eth_acl_parse(struct eth_acl *acl, const char *allow, char *err, size_t errlen)
{
    struct cursor c = {.s = allow, .at = 0};
    char app[ETH_APP_NAME_MAX + 1];
    const char *what;
    size_t n, start = 0;

    memset(acl, 0, sizeof(*acl));
    if (!allow)
        return KOS_STATUS_OK;
    for (;;) {
        skip_spaces(&c);
        if (!c.s[c.at])
            return KOS_STATUS_OK;
        if (c.s[c.at] == ';') { /* an empty entry, e.g. a trailing ';' */
            c.at++;
            continue;
        }
        start = c.at;
        n = word(&c, app_char, app, sizeof(app));
        skip_spaces(&c);
        if (n == 0 || n == sizeof(app) || c.s[c.at] != '=') {
            what = n == sizeof(app) ? "an app name of at most 63 characters"
                                    : "APP=tcp:HOST:PORTS,...";
            goto bad;
        }
        c.at++;
        for (;;) {
            struct eth_rule r = {0};

            skip_spaces(&c);
            start = c.at;
            if (strncmp(c.s + c.at, "tcp:", 4) != 0) {
                what = "tcp:HOST:PORTS (only TCP connections are opened)";
                goto bad;
            }
            c.at += 4;
            r.transport = KOS_ETHERNET_TCP;
            start = c.at;
            if ((what = parse_host(&c, &r)) != NULL)
                goto bad;
            start = c.at;
            if (c.s[c.at] != ':') {
                what = "':' and the ports after the host";
                goto bad;
            }
            c.at++;
            start = c.at;
            if ((what = parse_ports(&c, &r)) != NULL)
                goto bad;
            if (acl->n == ETH_ACL_MAX) {
                what = "at most 128 destinations in all";
                goto bad;
            }
            memcpy(r.app, app, sizeof(r.app));
            acl->r[acl->n++] = r;
            skip_spaces(&c);
            if (c.s[c.at] == ',') {
                c.at++;
                continue;
            }
            if (c.s[c.at] == ';' || !c.s[c.at])
                break;
            start = c.at;
            what = "',' or ';'";
            goto bad;
        }
    }
bad:
    snprintf(err, errlen, "allow: expected %s at offset %zu ('%.24s')", what, start, allow + start);
    memset(acl, 0, sizeof(*acl));
    return KOS_STATUS_INVALID_ARGUMENT;
}

static bool ieq(const char *a, const char *b, size_t blen)
{
    size_t i = 0;

    for (; i < blen && a[i]; i++) {
        char x = a[i], y = b[i];
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return i == blen && a[i] == '\0';
}

static bool in_net(const struct eth_rule *r, const struct kos_ethernet_addr *a)
{
    if (r->net.family != a->family)
        return false;
    for (uint32_t b = 0; b < r->prefix; b++) {
        uint8_t m = (uint8_t)(0x80u >> (b % 8));
        if ((r->net.addr[b / 8] & m) != (a->addr[b / 8] & m))
            return false;
    }
    return true;
}

const struct eth_rule *eth_acl_find(const struct eth_acl *acl, const char *app, uint8_t transport,
                                    const char *host, size_t len, enum kos__eth_host_kind kind,
                                    const struct kos_ethernet_addr *addr, uint16_t port)
{
    if (!app || kind == KOS__ETH_HOST_INVALID)
        return NULL;
    for (size_t i = 0; i < acl->n; i++) {
        const struct eth_rule *r = &acl->r[i];
        if (strcmp(r->app, app) != 0 || r->transport != transport || port < r->port_lo ||
            port > r->port_hi)
            continue;
        if (r->match == ETH_MATCH_ANY)
            return r;
        if (r->match == ETH_MATCH_NAME && kind == KOS__ETH_HOST_NAME && ieq(r->name, host, len))
            return r;
        if (r->match == ETH_MATCH_NET && kind == KOS__ETH_HOST_ADDR && in_net(r, addr))
            return r;
    }
    return NULL;
}

void eth_rule_format(const struct eth_rule *r, char *buf, size_t len)
{
    char host[KOS_ETHERNET_HOST_MAX + 8], ports[16];

    if (r->match == ETH_MATCH_ANY) {
        snprintf(host, sizeof(host), "*");
    } else if (r->match == ETH_MATCH_NAME) {
        snprintf(host, sizeof(host), "%s", r->name);
    } else {
        struct kos_ethernet_addr a = r->net;
        char text[64], *colon;
        uint32_t max = a.family == KOS_ETHERNET_IPV4 ? 32 : 128;
        a.port = 0;
        kos_ethernet_addr_format(&a, text, sizeof(text));
        colon = strrchr(text, ':'); /* drop the ":0" port */
        if (colon)
            *colon = '\0';
        if (a.family == KOS_ETHERNET_IPV6 && text[0] == '[')
            text[strlen(text) - 1] = '\0';
        if (a.family == KOS_ETHERNET_IPV6)
            snprintf(host, sizeof(host), r->prefix < max ? "%s/%u]" : "%s]", text,
                     (unsigned)r->prefix);
        else
            snprintf(host, sizeof(host), r->prefix < max ? "%s/%u" : "%s", text,
                     (unsigned)r->prefix);
    }
    if (r->port_lo == 1 && r->port_hi == 65535)
        snprintf(ports, sizeof(ports), "*");
    else if (r->port_lo == r->port_hi)
        snprintf(ports, sizeof(ports), "%u", (unsigned)r->port_lo);
    else
        snprintf(ports, sizeof(ports), "%u-%u", (unsigned)r->port_lo, (unsigned)r->port_hi);
    snprintf(buf, len, "tcp:%s:%s", host, ports);
}

/* ---- the hosts table ---- */

static bool addr_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
           c == '.' || c == '[' || c == ']';
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

kos_status_t eth_hosts_parse(struct eth_hosts *hosts, const char *text, char *err, size_t errlen)
{
    struct cursor c = {.s = text, .at = 0};
    char name[KOS_ETHERNET_HOST_MAX + 2], addr[64];
    const char *what;
    size_t n, start = 0;

    memset(hosts, 0, sizeof(*hosts));
    if (!text)
        return KOS_STATUS_OK;
    for (;;) {
        skip_spaces(&c);
        if (!c.s[c.at])
            return KOS_STATUS_OK;
        if (c.s[c.at] == ';') {
            c.at++;
            continue;
        }
        start = c.at;
        n = word(&c, name_char, name, sizeof(name));
        if (n == 0 || n == sizeof(name) ||
            kos__eth_host_parse(name, n, NULL) != KOS__ETH_HOST_NAME) {
            what = "NAME=ADDRESS,... with a DNS name of at most 253 characters";
            goto bad;
        }
        lower(name);
        for (size_t i = 0; i < hosts->n; i++) {
            if (strcmp(hosts->h[i].name, name) == 0) {
                what = "each name once";
                goto bad;
            }
        }
        if (hosts->n == ETH_HOSTS_MAX) {
            what = "at most 64 names";
            goto bad;
        }
        struct eth_host *h = &hosts->h[hosts->n];
        memcpy(h->name, name, n + 1);
        skip_spaces(&c);
        if (c.s[c.at] != '=') {
            start = c.at;
            what = "'=' and the addresses after the name";
            goto bad;
        }
        c.at++;
        for (;;) {
            skip_spaces(&c);
            start = c.at;
            if (h->n == ETH_HOST_ADDRS) {
                what = "at most 8 addresses for one name";
                goto bad;
            }
            n = word(&c, addr_char, addr, sizeof(addr));
            if (n == 0 || n == sizeof(addr) ||
                kos__eth_host_parse(addr, n, &h->addrs[h->n]) != KOS__ETH_HOST_ADDR) {
                what = "an IPv4 or IPv6 address";
                goto bad;
            }
            h->n++;
            skip_spaces(&c);
            if (c.s[c.at] == ',') {
                c.at++;
                continue;
            }
            if (c.s[c.at] == ';' || !c.s[c.at])
                break;
            start = c.at;
            what = "',' or ';'";
            goto bad;
        }
        hosts->n++;
    }
bad:
    snprintf(err, errlen, "hosts: expected %s at offset %zu ('%.24s')", what, start, text + start);
    memset(hosts, 0, sizeof(*hosts));
    return KOS_STATUS_INVALID_ARGUMENT;
}

bool eth_hosts_lookup(const struct eth_hosts *hosts, const char *name,
                      struct kos_ethernet_addr *out, size_t *n)
{
    for (size_t i = 0; i < hosts->n; i++) {
        if (ieq(hosts->h[i].name, name, strlen(name))) {
            memcpy(out, hosts->h[i].addrs, hosts->h[i].n * sizeof(*out));
            *n = hosts->h[i].n;
            return true;
        }
    }
    if (ieq("localhost", name, strlen(name))) {
        memset(out, 0, 2 * sizeof(*out));
        out[0].family = KOS_ETHERNET_IPV4;
        out[0].addr[0] = 127;
        out[0].addr[3] = 1;
        out[1].family = KOS_ETHERNET_IPV6;
        out[1].addr[15] = 1;
        *n = 2;
        return true;
    }
    *n = 0;
    return false;
}
