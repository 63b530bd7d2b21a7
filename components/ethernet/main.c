/*
 * main.c - the ethernet component: the one app with the host's network
 * (network: host, which only a base layer can give it). It publishes
 * kos_ethernet_protocol (or the protocol its `protocol` setting names) and
 * opens TCP connections for the apps and destinations its `allow` setting
 * lists, handing each connected socket over as a descriptor.
 *
 * Settings (the manifest entry's config:, see docs/packages/ethernet.md):
 *   allow                "APP=tcp:HOST:PORTS,...;APP=..." (default: nothing)
 *   hosts                "NAME=ADDR,ADDR;NAME=..." the names' addresses
 *   connect_timeout      the longest a connect may take, and the default
 *                        (default 10s; 100ms to 5m)
 *   max_pending          connections being opened at once (default 64)
 *   max_pending_per_app  ... by one app (default 8)
 *   log_connections      true | false: an info line per connection (true)
 *   pairs                "APP,APP": who may ask for loopback pairs (the
 *                        tunnel, for forwarded streams; default: nobody)
 *   protocol             the protocol to publish (kos_ethernet_protocol)
 *   server               the message server (msg0)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "component_int.h"
#include "config_int.h"
#include "eth.h"

#define DEFAULT_TIMEOUT_MS  10000u
#define MIN_TIMEOUT_MS      100u
#define MAX_TIMEOUT_MS      300000u
#define DEFAULT_MAX_PENDING 64u
#define MAX_MAX_PENDING     1024u
#define DEFAULT_PER_APP     8u

struct ctx {
    struct eth_acl acl;
    struct eth_hosts hosts;
    struct eth_server srv;
};

/* Reads every setting into c; an error after logging what is wrong. */
static kos_status_t start(void *arg, kos_app_t *app)
{
    struct ctx *c = arg;
    uint64_t timeout, pending, per_app;
    char err[256];
    kos_status_t st;

    signal(SIGPIPE, SIG_IGN); /* a socket its peer closed fails with EPIPE, kills nothing */
    if (eth_acl_parse(&c->acl, kos__cfg_str(app, "allow", NULL), err, sizeof(err)) ||
        eth_hosts_parse(&c->hosts, kos__cfg_str(app, "hosts", NULL), err, sizeof(err))) {
        kos_log_error("%s", err);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if ((st = kos__cfg_duration_ms(app, "connect_timeout", DEFAULT_TIMEOUT_MS, MIN_TIMEOUT_MS,
                                   MAX_TIMEOUT_MS, &timeout)) ||
        (st = kos__cfg_uint(app, "max_pending", DEFAULT_MAX_PENDING, 1, MAX_MAX_PENDING,
                            &pending)) ||
        (st = kos__cfg_uint(app, "max_pending_per_app",
                            DEFAULT_PER_APP < pending ? DEFAULT_PER_APP : pending, 1, pending,
                            &per_app)) ||
        (st = kos__cfg_bool(app, "log_connections", true, &c->srv.log_connections)))
        return st;
    c->srv.timeout_ms = (uint32_t)timeout;
    c->srv.max_pending = (uint32_t)pending;
    c->srv.max_per_app = (uint32_t)per_app;
    c->srv.acl = &c->acl;
    c->srv.pairs = kos__cfg_str(app, "pairs", "");
    c->srv.hosts = &c->hosts;
    if (eth_server_init(&c->srv)) {
        kos_log_error("out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    return KOS_STATUS_OK;
}

/* Says what the allow list grants, and which allowed names have no
 * address. */
static void log_rules(const struct ctx *c)
{
    char rule[KOS_ETHERNET_HOST_MAX + 64];

    if (c->acl.n == 0)
        kos_log_warn("no 'allow' setting: every connection will be refused");
    for (size_t i = 0; i < c->acl.n; i++) {
        const struct eth_rule *r = &c->acl.r[i];
        struct kos_ethernet_addr a[ETH_HOST_ADDRS];
        size_t n;
        eth_rule_format(r, rule, sizeof(rule));
        kos_log_info("allow: '%s' may connect to %s", r->app, rule);
        if (r->match == ETH_MATCH_NAME && !eth_hosts_lookup(&c->hosts, r->name, a, &n))
            kos_log_warn("allow: '%s' has no address in the hosts setting: connecting to it "
                         "will fail with not found",
                         r->name);
    }
}

/* The endpoint the server answers on; says what the allow list grants. */
static void published(void *arg, kos_endpoint_t *ep)
{
    struct ctx *c = arg;

    c->srv.ep = ep;
    log_rules(c);
}

static void describe(void *arg, char *buf, size_t len)
{
    struct ctx *c = arg;

    snprintf(buf, len, "%zu destinations allowed, %zu host names; connect timeout %u ms", c->acl.n,
             c->hosts.n, (unsigned)c->srv.timeout_ms);
}

static void on_request(void *arg, kos_endpoint_t *ep, const struct kos_msg *m,
                       const struct kos_caller *from)
{
    struct ctx *c = arg;

    (void)ep; /* c->srv.ep */
    eth_server_request(&c->srv, m, from);
}

/* Besides requests, the server waits on the connections being opened, at
 * most until the next one's deadline. */
static size_t wait(void *arg, struct pollfd *pfds, size_t room, int *timeout_ms)
{
    struct ctx *c = arg;

    if (room < c->srv.max_pending)
        return c->srv.max_pending;
    *timeout_ms = eth_server_timeout(&c->srv);
    return eth_server_pollfds(&c->srv, pfds);
}

static void woken(void *arg, const struct pollfd *pfds, size_t n)
{
    struct ctx *c = arg;

    eth_server_step(&c->srv, pfds, n);
}

static void stopped(void *arg, char *buf, size_t len)
{
    struct ctx *c = arg;

    snprintf(buf, len, "%llu connections handed over, %llu denied, %llu failed",
             (unsigned long long)c->srv.n_connected, (unsigned long long)c->srv.n_denied,
             (unsigned long long)c->srv.n_failed);
}

/* Gives up the connections still being opened; their callers are told. */
static void fini(void *arg)
{
    struct ctx *c = arg;

    eth_server_fini(&c->srv);
}

int main(void)
{
    static const struct kos__component ethernet = {
        .protocol = KOS_ETHERNET_PROTOCOL,
        .renamable = true,
        .start = start,
        .published = published,
        .describe = describe,
        .serve = {.request = on_request, .wait = wait, .woken = woken},
        .stopped = stopped,
        .fini = fini,
    };
    static struct ctx c; /* static: the allow list and hosts table are large */

    return kos__component_main(&ethernet, &c);
}
