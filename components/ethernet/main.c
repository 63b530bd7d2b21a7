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
 *   protocol             the protocol to publish (kos_ethernet_protocol)
 *   server               the message server (msg0)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "eth.h"

#define DEFAULT_TIMEOUT_MS  10000u
#define MIN_TIMEOUT_MS      100u
#define MAX_TIMEOUT_MS      300000u
#define DEFAULT_MAX_PENDING 64u
#define MAX_MAX_PENDING     1024u
#define DEFAULT_PER_APP     8u

struct ctx {
    kos_app_t *app;
    struct eth_acl acl;
    struct eth_hosts hosts;
    struct eth_server srv;
};

static const char *setting(const struct ctx *c, const char *key, const char *def)
{
    const char *v = kos_app_config(c->app, key);

    return v ? v : def;
}

/* Reads every setting into c; 1 after logging what is wrong. */
static int configure(struct ctx *c)
{
    char err[256];
    const char *v;

    if (eth_acl_parse(&c->acl, setting(c, "allow", NULL), err, sizeof(err)) ||
        eth_hosts_parse(&c->hosts, setting(c, "hosts", NULL), err, sizeof(err))) {
        kos_log_error("%s", err);
        return 1;
    }
    c->srv.timeout_ms = DEFAULT_TIMEOUT_MS;
    if ((v = setting(c, "connect_timeout", NULL)) &&
        !eth_duration_parse(v, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS, &c->srv.timeout_ms)) {
        kos_log_error("connect_timeout: expected a duration from 100ms to 5m (e.g. 10s, "
                      "500ms), found '%.32s'",
                      v);
        return 1;
    }
    c->srv.max_pending = DEFAULT_MAX_PENDING;
    if ((v = setting(c, "max_pending", NULL)) &&
        !eth_count_parse(v, 1, MAX_MAX_PENDING, &c->srv.max_pending)) {
        kos_log_error("max_pending: expected a number from 1 to %u, found '%.32s'", MAX_MAX_PENDING,
                      v);
        return 1;
    }
    c->srv.max_per_app =
        DEFAULT_PER_APP < c->srv.max_pending ? DEFAULT_PER_APP : c->srv.max_pending;
    if ((v = setting(c, "max_pending_per_app", NULL)) &&
        !eth_count_parse(v, 1, c->srv.max_pending, &c->srv.max_per_app)) {
        kos_log_error("max_pending_per_app: expected a number from 1 to max_pending (%u), "
                      "found '%.32s'",
                      (unsigned)c->srv.max_pending, v);
        return 1;
    }
    v = setting(c, "log_connections", "true");
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
        kos_log_error("log_connections: expected true or false, found '%.32s'", v);
        return 1;
    }
    c->srv.log_connections = strcmp(v, "true") == 0;
    return 0;
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

static int serve(struct ctx *c, struct pollfd *pfds)
{
    kos_status_t st;

    for (;;) {
        size_t n = eth_server_pollfds(&c->srv, pfds + 2);
        pfds[0] = (struct pollfd){.fd = kos_endpoint_fd(c->srv.ep), .events = POLLIN};
        pfds[1] = (struct pollfd){.fd = kos_app_fd(c->app), .events = POLLIN};
        if (poll(pfds, n + 2, eth_server_timeout(&c->srv)) < 0 && errno != EINTR) {
            kos_log_error("poll failed: %s", strerror(errno));
            return 1;
        }
        if (pfds[1].revents && kos_app_stopping(c->app))
            return 0;
        eth_server_step(&c->srv, pfds + 2, n);
        for (;;) {
            struct kos_msg m;
            struct kos_caller from;
            st = kos_endpoint_receive(c->srv.ep, &m, &from, 0);
            if (st != KOS_STATUS_OK)
                break;
            eth_server_request(&c->srv, &m, &from);
        }
        if (st != KOS_STATUS_WOULD_BLOCK) {
            kos_log_error("receive failed: %s", kos_status_str(st));
            return 1;
        }
    }
}

int main(void)
{
    struct ctx *c = calloc(1, sizeof(*c));
    struct pollfd *pfds = NULL;
    const char *protocol, *server;
    kos_dir_t *dir;
    kos_status_t st;
    int rc = 1;

    if (!c)
        return 1;
    signal(SIGTERM, SIG_IGN); /* stop on Core's control message, between requests */
    signal(SIGPIPE, SIG_IGN);
    if (kos_app_open(&c->app))
        goto out_free;
    if (configure(c))
        goto out_close_app;
    pfds = calloc(c->srv.max_pending + 2u, sizeof(*pfds));
    c->srv.acl = &c->acl;
    c->srv.hosts = &c->hosts;
    if (!pfds || eth_server_init(&c->srv)) {
        kos_log_error("out of memory");
        goto out_close_app;
    }
    protocol = setting(c, "protocol", KOS_ETHERNET_PROTOCOL);
    server = setting(c, "server", "msg0");
    if ((st = kos_app_dir(c->app, server, &dir)) ||
        (st = kos_dir_publish(dir, protocol, &c->srv.ep))) {
        kos_log_error("cannot publish %s on %s: %s", protocol, server, kos_status_str(st));
        goto out_fini;
    }
    log_rules(c);
    if (kos_app_ready(c->app))
        goto out_close_ep;
    kos_log_info("serving %s: %zu destinations allowed, %zu host names; connect timeout %u ms",
                 protocol, c->acl.n, c->hosts.n, (unsigned)c->srv.timeout_ms);
    rc = serve(c, pfds);
    kos_log_info("stopping: %llu connections handed over, %llu denied, %llu failed",
                 (unsigned long long)c->srv.n_connected, (unsigned long long)c->srv.n_denied,
                 (unsigned long long)c->srv.n_failed);
out_close_ep:
    eth_server_fini(&c->srv);
    kos_endpoint_close(c->srv.ep);
    c->srv.ep = NULL;
out_fini:
    eth_server_fini(&c->srv);
out_close_app:
    kos_app_close(c->app);
out_free:
    free(pfds);
    free(c);
    return rc;
}
