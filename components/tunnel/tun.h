/*
 * tun.h - the tunnel component's parts: its settings (conf.c), the OpenSSL
 * provider whose Ed25519 key signs through key_store (provider.c), the
 * signer it calls, and the blob fetch with the TLS pieces it shares with
 * the link (fetch.c).
 *
 * What stays true: the tunnel never holds the device's private key (the
 * provider's key is the public half; every signature is key_store's), and
 * each fixed channel belongs to at most one app, named by the allow
 * setting.
 */
#ifndef KOS_TUNNEL_TUN_H
#define KOS_TUNNEL_TUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

#include <kos/ethernet.h>
#include <kos/keystore.h>
#include <kos/status.h>
#include <kos/tunnel.h>

#define TUN_CHANNELS     6u /* the fixed channels 0..5; 0 is the link's own */
#define TUN_ALLOW_BLOBS  6u /* the allow setting's `blobs`: owner[6] may fetch blobs */
#define TUN_ALLOW_N      7u /* what the allow setting gives: the channels, and blobs */
#define TUN_APP_NAME_MAX 63u
#define TUN_HOST_MAX     253u

/* ---- settings (conf.c) ---- */

/* Parses `allow`: "APP=CHANNEL,CHANNEL;APP=..." where CHANNEL is admin,
 * logs, traces, shell, debug or 1..5, or blobs (fetching blobs:
 * KOS_TUNNEL_LABEL_FETCH); spaces around separators are ignored; each
 * channel, and blobs, goes to at most one app. owner[ch] is the app's
 * name, "" for nobody; owner[TUN_ALLOW_BLOBS] the app that may fetch
 * blobs. NULL or "" gives nobody anything. On error err says what was
 * expected and where, and every owner is "". Never blocks. */
kos_status_t tun_allow_parse(const char *allow, char owner[TUN_ALLOW_N][TUN_APP_NAME_MAX + 1],
                             char *err, size_t errlen) __attribute__((warn_unused_result));

/* ---- streams (conf.c) ---- */

#define TUN_STREAM_RULES_MAX 32u /* app=destination pairs in the streams setting */
#define TUN_DEST_NAME_MAX    63u /* a destination's name */

struct tun_stream_rules {
    struct {
        char app[TUN_APP_NAME_MAX + 1];
        char name[TUN_DEST_NAME_MAX + 1];
    } r[TUN_STREAM_RULES_MAX];
    size_t n;
};

/* Parses `streams`: "APP=NAME,NAME;APP=NAME": which app may open streams
 * to which destinations (names the server maps to its own destinations;
 * 1-63 letters, digits, '_', '-' or '.'). Spaces around separators are
 * ignored. NULL or "" allows nothing. On error err says what was expected
 * and where, and *rules is empty. Never blocks. */
kos_status_t tun_streams_parse(const char *text, struct tun_stream_rules *rules, char *err,
                               size_t errlen) __attribute__((warn_unused_result));

/* True if the rules let app open a stream to name. */
bool tun_streams_allow(const struct tun_stream_rules *rules, const char *app, const char *name);

/* True if s[0..n) is a destination name (1-63 letters, digits, '_', '-',
 * '.'). */
bool tun_dest_name(const char *s, size_t n);

/* The channel's name ("admin"), "blobs" for TUN_ALLOW_BLOBS, or "?". */
const char *tun_channel_name(uint32_t ch);

/* Parses the bundle's `server` item (server.txt: "address HOST:PORT" and
 * "name NAME" lines; '#' comments and empty lines ignored): host (a DNS
 * name, an IPv4 address, or an IPv6 address in brackets, which come out
 * without them), port. Untrusted text: every length is checked. On error
 * err says what is wrong. Never blocks. */
kos_status_t tun_server_parse(const char *text, size_t len, char host[TUN_HOST_MAX + 1],
                              uint16_t *port, char *name, size_t namecap, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* ---- signing through key_store (main.c) ---- */

struct tun_signer {
    /* Makes the signature (key_store's kos_keystore_sign() in the
     * component; a test key in the unit tests). */
    kos_status_t (*sign)(void *arg, const uint8_t *tbs, size_t len, uint8_t sig[64]);
    void *arg;
    const char *key; /* "identity": the key_store key, for messages */
    uint64_t n_signed, n_failed;
    kos_status_t last; /* the last refusal's status */
};

/* Signs tbs[0..len) with the signer's key, whose public half is pub; the
 * 64-byte signature goes into sig, and the counts are kept. Blocks for the
 * signer (one call to key_store). */
kos_status_t tun_signer_sign(struct tun_signer *s, const uint8_t pub[32], const uint8_t *tbs,
                             size_t len, uint8_t sig[64]);

/* ---- the provider (provider.c) ---- */

struct tun_tls {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov_default, *prov_ks;
    SSL_CTX *ctx;
    EVP_PKEY *key;
};

/* Makes t's library context with the default provider and this one, whose
 * signatures go to `signer` (which must outlive it). */
kos_status_t tun_provider_init(struct tun_tls *t, struct tun_signer *signer)
    __attribute__((warn_unused_result));

/* A key of this provider for public key pub: it signs through the signer.
 * The caller owns it (EVP_PKEY_free). NULL on failure. */
EVP_PKEY *tun_provider_key(struct tun_tls *t, const uint8_t pub[32]);

/* Unloads both providers and frees the library context. */
void tun_provider_fini(struct tun_tls *t);

/* ---- TLS connections to the server (fetch.c) ---- */

struct bufferevent;
struct event;
struct event_base;

/* A new SSL object of ctx for a connection to host, whose certificate must
 * name it (its IP address, or its DNS name, also sent as SNI). NULL when
 * out of memory. */
SSL *tun_ssl_new(SSL_CTX *ctx, const char *host);

/* True if OpenSSL error e is the server refusing this device's certificate
 * (docs/link.md: the alerts a server sends a device it does not admit). */
bool tun_refusal_alert(unsigned long e);

/* Why the TLS handshake on bev failed, for people, into why (n bytes), and
 * whether it was a refusal: an alert of tun_refusal_alert(), or key_store
 * refusing to sign (signer->n_failed grew past failed_before). Takes
 * bev's OpenSSL errors. */
void tun_tls_failure(struct bufferevent *bev, const struct tun_signer *signer,
                     uint64_t failed_before, char *why, size_t n, bool *refused);

/* ---- fetching a blob (fetch.c) ---- */

struct tun_fetch;

/* What a fetch needs of the tunnel; it must outlive the fetch. */
struct tun_fetch_env {
    struct event_base *base;
    kos_ethernet_t *eth;
    SSL_CTX *ctx;
    const char *host;   /* the server's host, as the link connects to it */
    const char *server; /* host:port, for Host and for messages */
    uint16_t port;
    uint32_t connect_ms; /* the TCP connect and the TLS handshake, each */
    uint32_t idle_ms;    /* a fetch that gets no byte this long ends */
    const struct tun_signer *signer;
    /* Called from the loop once a fetch has ended (not cancelled). */
    void (*ended)(void *arg, struct tun_fetch *f);
    void *arg;
};

/* One fetch at a time, and the result of the last one. */
struct tun_fetch {
    const struct tun_fetch_env *env;
    bool running, connected, in_body, eof;
    char hex[65];                   /* the blob's SHA-256 */
    char app[TUN_APP_NAME_MAX + 1]; /* who asked, for messages */
    uint64_t from, to, written;
    int fd; /* where the bytes go, while running */
    struct bufferevent *bev;
    struct event *out_ev, *end_ev, *conn_ev;
    uint64_t failed_before; /* the signer's failures when it began */
    kos_status_t status;    /* the last fetch's; NOT_FOUND: none */
    char why[KOS_TUNNEL_WHY_MAX + 1];
};

/* Makes f idle, with env. KOS_STATUS_NO_MEMORY when it cannot. */
kos_status_t tun_fetch_init(struct tun_fetch *f, const struct tun_fetch_env *env)
    __attribute__((warn_unused_result));

/* Starts fetching bytes [from, to) of blob sha256 into fd, which it takes
 * (and closes when the fetch ends) unless it returns KOS_STATUS_BUSY (a
 * fetch is running: nothing changes). Otherwise KOS_STATUS_OK: the fetch
 * has begun (or ended: out of memory), and env->ended is told from the
 * loop when it ends. Never blocks; the loop then waits for the TCP
 * connect through ethernet, at most env->connect_ms, as for the link. */
kos_status_t tun_fetch_start(struct tun_fetch *f, const uint8_t sha256[32], uint64_t from,
                             uint64_t to, int fd, const char *app)
    __attribute__((warn_unused_result));

/* Ends a running fetch (its app went away), saying why; env->ended is not
 * told. Does nothing when none runs. */
void tun_fetch_cancel(struct tun_fetch *f, const char *why);

/* Cancels a running fetch and frees what init made. */
void tun_fetch_fini(struct tun_fetch *f);

#endif
