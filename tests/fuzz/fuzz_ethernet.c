/*
 * fuzz_ethernet.c - libFuzzer harness for what the ethernet component reads
 * from outside: kos_ethernet_protocol requests and replies (lib/ethernet.c)
 * and its settings, the allow list and the hosts table
 * (components/ethernet/acl.c).
 *
 * The first input byte picks the reader; the rest is its input:
 *   sel % 5 == 0  kos__eth_connect_decode(param = sel >> 3 & 1, rest): what
 *                 decodes encodes back to exactly the same bytes
 *              1  kos__eth_conn_decode(rest): likewise
 *              2  eth_acl_parse(rest as text): a refusal says why and
 *                 leaves the list empty; every accepted rule prints as text
 *                 that parses back to a rule matching the same things
 *              3  eth_hosts_parse(rest as text): a refusal says why and
 *                 leaves the table empty; every name looks itself up
 *              4  kos__eth_host_parse(rest): an address formats and parses
 *                 back to itself; a name is 1..253 bytes
 * The corpus holds well-formed requests and settings from the unit tests'
 * cases (see tests/fuzz/corpus/ethernet) and what fuzzing found from them.
 */
#include <stdlib.h>
#include <string.h>

#include "eth.h"
#include "fuzz.h"

static struct eth_acl acl, acl2;
static struct eth_hosts hosts;

static void run_connect(uint64_t param, const uint8_t *p, size_t len)
{
    struct kos__eth_connect r;
    uint8_t out[KOS__ETH_CONNECT_HDR + KOS_ETHERNET_HOST_MAX];
    uint32_t elen = 0;

    if (kos__eth_connect_decode(param, p, len, &r) != KOS_STATUS_OK)
        return;
    if (param != 0)
        kos_fuzz_fail("a connect request with param %llu decoded", (unsigned long long)param);
    if (kos__eth_connect_encode(&r, out, sizeof(out), &elen) != KOS_STATUS_OK)
        kos_fuzz_fail("a decoded connect request for '%s' does not encode", r.host);
    if (elen != len || memcmp(out, p, len) != 0)
        kos_fuzz_fail("%zu bytes decode, but encode back to %u different bytes", len, elen);
}

static void run_conn(const uint8_t *p, size_t len)
{
    struct kos_ethernet_conn c;
    uint8_t out[KOS__ETH_CONN_LEN];
    char text[64];

    if (kos__eth_conn_decode(p, len, &c) != KOS_STATUS_OK)
        return;
    kos__eth_conn_encode(&c, out);
    if (len != sizeof(out) || memcmp(out, p, len) != 0)
        kos_fuzz_fail("a connection's addresses decode but encode differently");
    kos_ethernet_addr_format(&c.local, text, sizeof(text));
    kos_ethernet_addr_format(&c.remote, text, sizeof(text));
}

/* A copy of the input as a NUL-terminated string (NULs inside end it). */
static char *text_of(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);

    if (s == NULL)
        abort();
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

static void run_acl(const uint8_t *p, size_t len)
{
    char *s = text_of(p, len), err[256] = "";

    if (eth_acl_parse(&acl, s, err, sizeof(err)) != KOS_STATUS_OK) {
        if (err[0] == '\0' || acl.n != 0)
            kos_fuzz_fail("a refused allow list left %zu rules or said nothing", acl.n);
        free(s);
        return;
    }
    for (size_t i = 0; i < acl.n; i++) {
        const struct eth_rule *r = &acl.r[i];
        char rule[KOS_ETHERNET_HOST_MAX + 64], again[KOS_ETHERNET_HOST_MAX + 160];
        eth_rule_format(r, rule, sizeof(rule));
        snprintf(again, sizeof(again), "%s=%s", r->app, rule);
        if (eth_acl_parse(&acl2, again, err, sizeof(err)) != KOS_STATUS_OK || acl2.n != 1)
            kos_fuzz_fail("rule '%s' prints as '%s', which does not parse: %s", r->app, again, err);
        const struct eth_rule *b = &acl2.r[0];
        if (b->match != r->match || b->port_lo != r->port_lo || b->port_hi != r->port_hi ||
            strcmp(b->name, r->name) != 0 || b->prefix != r->prefix ||
            (r->match == ETH_MATCH_NET &&
             (b->net.family != r->net.family || memcmp(b->net.addr, r->net.addr, 16) != 0)))
            kos_fuzz_fail("rule '%s' does not parse back to itself", again);
        /* What it names, it allows. */
        if (r->match == ETH_MATCH_NAME &&
            !eth_acl_find(&acl, r->app, KOS_ETHERNET_TCP, r->name, strlen(r->name),
                          KOS__ETH_HOST_NAME, NULL, r->port_lo))
            kos_fuzz_fail("rule %s does not allow its own name", again);
        if (r->match == ETH_MATCH_NET && !eth_acl_find(&acl, r->app, KOS_ETHERNET_TCP, "", 0,
                                                       KOS__ETH_HOST_ADDR, &r->net, r->port_hi))
            kos_fuzz_fail("rule %s does not allow its own network address", again);
    }
    free(s);
}

static void run_hosts(const uint8_t *p, size_t len)
{
    char *s = text_of(p, len), err[256] = "";
    struct kos_ethernet_addr a[ETH_HOST_ADDRS];
    size_t n;

    if (eth_hosts_parse(&hosts, s, err, sizeof(err)) != KOS_STATUS_OK) {
        if (err[0] == '\0' || hosts.n != 0)
            kos_fuzz_fail("a refused hosts table kept %zu names or said nothing", hosts.n);
        free(s);
        return;
    }
    for (size_t i = 0; i < hosts.n; i++) {
        if (!eth_hosts_lookup(&hosts, hosts.h[i].name, a, &n) || n != hosts.h[i].n || n == 0 ||
            n > ETH_HOST_ADDRS)
            kos_fuzz_fail("name '%s' of the hosts table does not look itself up", hosts.h[i].name);
    }
    free(s);
}

static void run_host(const uint8_t *p, size_t len)
{
    struct kos_ethernet_addr a, b;
    char text[64];

    switch (kos__eth_host_parse((const char *)p, len, &a)) {
    case KOS__ETH_HOST_ADDR:
        a.port = 1;
        kos_ethernet_addr_format(&a, text, sizeof(text));
        *strrchr(text, ':') = '\0'; /* the port */
        if (kos__eth_host_parse(text, strlen(text), &b) != KOS__ETH_HOST_ADDR ||
            b.family != a.family ||
            memcmp(b.addr, a.addr, a.family == KOS_ETHERNET_IPV4 ? 4 : 16) != 0)
            kos_fuzz_fail("an address formats as '%s', which is not itself", text);
        break;
    case KOS__ETH_HOST_NAME:
        if (len == 0 || len > KOS_ETHERNET_HOST_MAX || memchr(p, '\0', len) != NULL)
            kos_fuzz_fail("a name of %zu bytes was accepted", len);
        break;
    case KOS__ETH_HOST_INVALID:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 5) {
    case 0:
        run_connect((data[0] >> 3) & 1, data + 1, size - 1);
        break;
    case 1:
        run_conn(data + 1, size - 1);
        break;
    case 2:
        run_acl(data + 1, size - 1);
        break;
    case 3:
        run_hosts(data + 1, size - 1);
        break;
    default:
        run_host(data + 1, size - 1);
        break;
    }
    return 0;
}
