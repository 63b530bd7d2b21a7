/*
 * tun_state.h - the tunnel component's state, shared by main.c (the link,
 * the protocol, the blob fetch's requests) and streams.c (forwarded
 * streams): the apps it serves, the streams, what arrived for the apps.
 *
 * What stays true: a stream slot is used by one stream at a time, and a
 * stream's app is answered once (while `waiting`); a stream's pair ends
 * are closed or handed over when its slot is freed.
 */
#ifndef KOS_TUNNEL_TUN_STATE_H
#define KOS_TUNNEL_TUN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include <kos/ethernet.h>
#include <kos/keystore.h>
#include <kos/msg.h>
#include <kos/tunnel.h>

#include "link.h"
#include "relay.h"
#include "tun.h"

#define MAX_CLIENTS    16u
#define DENIALS_LOGGED 32u

struct client {
    bool used;
    uint32_t client; /* the endpoint's handle on it */
    char app[TUN_APP_NAME_MAX + 1];
    uint32_t channels;
    uint32_t pending; /* news not delivered yet */
};

struct tun;

/* A forwarded stream: opening (the app's call waits), then relayed. */
struct tstream {
    bool used, waiting;
    struct tun *t;
    uint32_t ch;
    struct kos_caller to; /* the app whose call waits; to.app is app */
    char app[TUN_APP_NAME_MAX + 1], dest[TUN_DEST_NAME_MAX + 1];
    int near, far;         /* the loopback pair, until handed over */
    struct kos__relay *rl; /* once open: the near end relayed */
};

struct rxmsg {
    struct rxmsg *next;
    size_t len, off;
    uint8_t data[];
};

struct tun {
    kos_app_t *app;
    kos_endpoint_t *ep;
    kos_keystore_t *ks;
    kos_ethernet_t *eth;
    struct event_base *base;
    struct event *ep_ev, *app_ev, *retry_ev, *news_ev;
    char owner[TUN_ALLOW_N][TUN_APP_NAME_MAX + 1];
    uint32_t window, send_buffer, stream_window, min_ms, max_ms, connect_ms, fetch_idle_ms;
    struct tun_signer signer;
    struct tun_tls tls;
    uint8_t pub[32];
    bool link_off; /* nothing to connect to: said once, never retried */
    char host[TUN_HOST_MAX + 1], server[TUN_HOST_MAX + 16], name[64];
    uint16_t port;
    enum kos_tunnel_state state;
    uint32_t reconnects, delay_ms, denials;
    uint64_t retry_at;
    struct bufferevent *bev; /* during the TLS handshake */
    struct kos__link *link;
    char device_id[KOS__LINK_ID_LEN + 1];
    struct rxmsg *rx[TUN_CHANNELS], *rx_tail[TUN_CHANNELS];
    struct client clients[MAX_CLIENTS];
    struct tun_stream_rules rules;
    struct tstream streams[KOS_TUNNEL_STREAMS_MAX];
    uint32_t next_ch; /* the next stream channel to try */
    bool pair_said;   /* ethernet's refusal of pairs was said */
    char last_why[192];
    bool refusal_said, was_up;
    uint64_t signed_before; /* signer.n_failed when the attempt began */
    struct tun_fetch_env fenv;
    struct tun_fetch fetch;
    bool fetch_ready;      /* fetch initialised */
    bool fetch_any;        /* a fetch was started */
    uint32_t fetch_client; /* the client whose fetch it is (its result too) */
};

/* ---- streams (streams.c) ---- */

/* The stream on channel ch, or NULL. */
struct tstream *tun_stream_of(struct tun *t, uint32_t ch);

/* Every stream ends with the link: waiting apps are told why, relayed
 * ones see their socket closed. */
void tun_streams_end(struct tun *t, const char *why);

/* The link's stream_opened and stream_closed callbacks (arg is t). */
void tun_stream_opened(void *arg, struct kos__link *l, uint32_t ch);
void tun_stream_closed(void *arg, struct kos__link *l, uint32_t ch, uint32_t code,
                       const char *reason);

/* KOS_TUNNEL_LABEL_STREAM: answered now when it cannot be, else once the
 * server answers the Open (tun_stream_opened, tun_stream_closed). */
void tun_do_stream(struct tun *t, const struct kos_msg *m, const struct kos_caller *from);

#endif
