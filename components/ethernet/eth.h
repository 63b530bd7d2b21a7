/*
 * eth.h - the ethernet component's parts: its settings (the allow list, the
 * hosts table, numbers and durations) and the server that opens connections
 * for kos_ethernet_protocol's clients.
 *
 * What stays true: a connection is opened only for an app the allow list
 * names, to a destination a rule of that app covers, and only to the
 * addresses the request itself gave (numeric) or the hosts table holds for
 * the allowed name; who is asking comes from the message server (struct
 * kos_caller), never from a payload; every refusal and every failure is
 * logged with the app's name; a socket is handed over connected and
 * blocking, and ethernet keeps no copy of it.
 */
#ifndef KOS_ETHERNET_ETH_H
#define KOS_ETHERNET_ETH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/ethernet.h>
#include <kos/msg.h>

#include "budget_int.h"
#include "ethernet_int.h"

#define ETH_ACL_MAX      128u /* rules in the allow list */
#define ETH_HOSTS_MAX    64u  /* names in the hosts table */
#define ETH_HOST_ADDRS   8u   /* addresses one name may have */
#define ETH_APP_NAME_MAX 63u

/* ---- the allow list (acl.c) ---- */

enum eth_match {
    ETH_MATCH_ANY = 1,  /* '*': any host, named or numeric */
    ETH_MATCH_NAME = 2, /* one DNS name, compared without regard to case */
    ETH_MATCH_NET = 3,  /* a numeric address or network (CIDR) */
};

/* One rule: `app` may open `transport` connections to hosts matching it, on
 * ports port_lo..port_hi. */
struct eth_rule {
    char app[ETH_APP_NAME_MAX + 1];
    uint8_t transport; /* KOS_ETHERNET_TCP */
    enum eth_match match;
    char name[KOS_ETHERNET_HOST_MAX + 1]; /* ETH_MATCH_NAME, lower case */
    struct kos_ethernet_addr net;         /* ETH_MATCH_NET: family and address bits */
    uint8_t prefix;                       /* ETH_MATCH_NET: bits that must match */
    uint16_t port_lo, port_hi;
};

struct eth_acl {
    struct eth_rule r[ETH_ACL_MAX];
    size_t n;
};

/*
 * Parses `allow`: "APP=DEST,DEST;APP=DEST" where DEST is tcp:HOST:PORTS,
 * HOST is '*', a DNS name, an IPv4 address or network (10.0.0.0/8), or an
 * IPv6 address or network in brackets ([fd00::/8]), and PORTS is a port, a
 * range (8000-8099) or '*'. Spaces around the separators are ignored. NULL
 * or "" allows nothing. On error err names the problem and its offset and
 * *acl is empty. Never blocks.
 */
kos_status_t eth_acl_parse(struct eth_acl *acl, const char *allow, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * The first rule that lets `app` open a `transport` connection to `host`
 * (host[0..len), as kos__eth_host_parse() classified it: `kind`, and `addr`
 * for a numeric one) on `port`, or NULL. A name matches only a rule naming
 * it (or '*'); a numeric address only a network containing it (or '*'):
 * what a name resolves to is not checked against networks.
 */
const struct eth_rule *eth_acl_find(const struct eth_acl *acl, const char *app, uint8_t transport,
                                    const char *host, size_t len, enum kos__eth_host_kind kind,
                                    const struct kos_ethernet_addr *addr, uint16_t port);

/* Writes a rule as the allow list would ("tcp:10.0.0.0/8:1883"). */
void eth_rule_format(const struct eth_rule *r, char *buf, size_t len);

/* ---- the hosts table (acl.c) ---- */

struct eth_host {
    char name[KOS_ETHERNET_HOST_MAX + 1]; /* lower case */
    struct kos_ethernet_addr addrs[ETH_HOST_ADDRS];
    size_t n;
};

struct eth_hosts {
    struct eth_host h[ETH_HOSTS_MAX];
    size_t n;
};

/* Parses `hosts`: "NAME=ADDR,ADDR;NAME=ADDR" where ADDR is an IPv4 or IPv6
 * address (brackets optional). A name given twice is an error. NULL or ""
 * is an empty table. On error err names the problem and its offset and
 * *hosts is empty. Never blocks. */
kos_status_t eth_hosts_parse(struct eth_hosts *hosts, const char *text, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Fills out[0..*n) (at most ETH_HOST_ADDRS) with the addresses of `name`:
 * the hosts table's, else for "localhost" 127.0.0.1 and ::1. Returns false
 * when the name has none. Never blocks. */
bool eth_hosts_lookup(const struct eth_hosts *hosts, const char *name,
                      struct kos_ethernet_addr *out, size_t *n);

/* ---- log budget ---- */

/* Lines about one app's requests are logged at most ETH_LOG_BURST at once,
 * then one per ETH_LOG_EVERY_MS (lib/budget_int.h), so that an app cannot
 * flood the console through ethernet; the next line logged says how many
 * were left out. */
#define ETH_LOG_BURST    20u
#define ETH_LOG_EVERY_MS 500u

/* ---- the server (server.c) ---- */

struct eth_pending; /* a connection being opened */

/* The second end of a loopback pair, kept for the client that asked until
 * it takes it (KOS_ETHERNET_LABEL_PAIR). */
#define ETH_KEPT_MAX 16u
struct eth_kept {
    bool used;
    uint32_t client, app_id;
    int fd;
};

struct eth_server {
    kos_endpoint_t *ep;
    const struct eth_acl *acl;
    const struct eth_hosts *hosts;
    uint32_t timeout_ms;   /* the longest a connect may take, and the default */
    uint32_t max_pending;  /* connections being opened at once, in all */
    uint32_t max_per_app;  /* ... by one app */
    bool log_connections;  /* an info line per connection handed over */
    const char *pairs;     /* the apps that may ask for loopback pairs: "a,b" */
    struct eth_kept *kept; /* ETH_KEPT_MAX second ends of pairs, waiting */
    struct eth_pending *p; /* max_pending slots */
    uint64_t n_connected, n_denied, n_failed;
    struct kos__app_budgets log; /* set up by eth_server_init() */
};

/* Sets up a server on `ep` (which stays the caller's) with the settings
 * already in *srv. KOS_STATUS_NO_MEMORY if the slots cannot be had. */
kos_status_t eth_server_init(struct eth_server *srv) __attribute__((warn_unused_result));

/* Gives up every connection still being opened (their callers get
 * KOS_STATUS_UNAVAILABLE) and frees the slots. */
void eth_server_fini(struct eth_server *srv);

/* Handles one untrusted request from `from` (as the message server vouches
 * for it): answers it at once, or starts opening its connection. Takes the
 * request's token, if any. Never blocks. */
void eth_server_request(struct eth_server *srv, const struct kos_msg *m,
                        const struct kos_caller *from);

/* Fills pfds with one entry per connection being opened and returns how
 * many (at most srv->max_pending). */
size_t eth_server_pollfds(struct eth_server *srv, struct pollfd *pfds);

/* Goes on with the connections poll() reported on (pfds as filled by the
 * last eth_server_pollfds(), n of them) and those whose time ran out. Never
 * blocks. */
void eth_server_step(struct eth_server *srv, const struct pollfd *pfds, size_t n);

/* How many milliseconds poll() may sleep until the next deadline (-1: there
 * is none). */
int eth_server_timeout(const struct eth_server *srv);

#endif
