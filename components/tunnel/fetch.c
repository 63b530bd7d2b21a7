/*
 * fetch.c - the tunnel's blob fetch (docs/link.md, "Blobs";
 * KOS_TUNNEL_LABEL_FETCH): bytes [from, to) of a blob, by an HTTPS ranged
 * GET on a connection of its own to the link's server, written in order to
 * a descriptor the app passed (a pipe's write end), which is then closed.
 * Also the TLS pieces the link's attempts share with it: a connection's
 * SSL object, and why a handshake failed.
 *
 * It runs in the tunnel's event loop and never blocks it but for the TCP
 * connect through ethernet, as the link's attempts do. Memory is bounded:
 * the header block is at most KOS__LINK_REQUEST_MAX bytes, and the body
 * passes through at most FETCH_BUFFERED bytes at a time: when the
 * descriptor is full the fetch stops reading from TLS until it has room.
 *
 * What stays true: at most one fetch runs; no more than to - from bytes
 * are ever written to the descriptor, and only after the answer's status,
 * Content-Range and Content-Length said they are exactly those bytes
 * (kos__link_parse_blob_response); the descriptor is closed when the fetch
 * ends, however it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/sslerr.h>
#include <openssl/x509v3.h>

#include <kos/ethernet.h>
#include <kos/log.h>

#include "link.h"
#include "tun.h"

#define FETCH_BUFFERED (64u * 1024u) /* TLS bytes read ahead of the descriptor */

SSL *tun_ssl_new(SSL_CTX *ctx, const char *host)
{
    unsigned char addr[16];
    SSL *ssl = SSL_new(ctx);

    if (!ssl)
        return NULL;
    /* The server's certificate must name the address's host: its IP
     * address, or its DNS name. */
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        SSL_set1_host(ssl, host);
        SSL_set_tlsext_host_name(ssl, host);
    }
    return ssl;
}

bool tun_refusal_alert(unsigned long e)
{
    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return false;
    switch (ERR_GET_REASON(e)) {
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return true;
    default:
        return false;
    }
}

void tun_tls_failure(struct bufferevent *bev, const struct tun_signer *signer,
                     uint64_t failed_before, char *why, size_t n, bool *refused)
{
    unsigned long e, first = 0;
    long vr = SSL_get_verify_result(bufferevent_openssl_get_ssl(bev));

    while ((e = bufferevent_get_openssl_error(bev)))
        if (!first)
            first = e;
    *refused = tun_refusal_alert(first);
    if (signer->n_failed > failed_before) {
        snprintf(why, n,
                 "key_store refused to sign the handshake with '%s' (%s): key_store's "
                 "allow.tunnel must grant %s:sign",
                 signer->key, kos_status_str(signer->last), signer->key);
        *refused = true; /* the device's own configuration: retried slowly */
    } else if (vr != X509_V_OK) {
        snprintf(why, n, "the server's certificate does not verify against server_ca: %s",
                 X509_verify_cert_error_string(vr));
    } else if (first) {
        char buf[160];
        ERR_error_string_n(first, buf, sizeof(buf));
        snprintf(why, n, "TLS: %s", buf);
    } else {
        snprintf(why, n, "the connection closed during the TLS handshake");
    }
}

/* Ends the fetch with st: the connection and the descriptor closed, the
 * result kept, and env->ended told from the loop (not from here, which
 * may be inside the request that started it). */
static void finish(struct tun_fetch *f, kos_status_t st, const char *why)
{
    if (!f->running)
        return;
    f->running = false;
    f->status = st;
    event_del(f->conn_ev);
    snprintf(f->why, sizeof(f->why), "%s", st ? why : "");
    if (f->bev) {
        bufferevent_free(f->bev);
        f->bev = NULL;
    }
    if (f->out_ev) {
        event_free(f->out_ev);
        f->out_ev = NULL;
    }
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (st)
        kos_log_warn("fetch of blob %.16s... bytes %llu-%llu for '%s': %llu bytes written; %s: %s",
                     f->hex, (unsigned long long)f->from, (unsigned long long)f->to, f->app,
                     (unsigned long long)f->written, kos_status_str(st), f->why);
    else
        kos_log_info("fetch of blob %.16s... bytes %llu-%llu for '%s': %llu bytes written; ok",
                     f->hex, (unsigned long long)f->from, (unsigned long long)f->to, f->app,
                     (unsigned long long)f->written);
    event_active(f->end_ev, EV_TIMEOUT, 0);
}

static void end_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tun_fetch *f = arg;

    (void)fd;
    (void)what;
    if (f->env->ended)
        f->env->ended(f->env->arg, f);
}

static void connect_cb(evutil_socket_t unused, short what, void *arg);

kos_status_t tun_fetch_init(struct tun_fetch *f, const struct tun_fetch_env *env)
{
    memset(f, 0, sizeof(*f));
    f->env = env;
    f->fd = -1;
    f->status = KOS_STATUS_NOT_FOUND; /* none yet */
    f->end_ev = evtimer_new(env->base, end_cb, f);
    f->conn_ev = evtimer_new(env->base, connect_cb, f);
    return f->end_ev && f->conn_ev ? KOS_STATUS_OK : KOS_STATUS_NO_MEMORY;
}

/* Moves what the body has brought to the descriptor, no more than the
 * range; when the descriptor is full, stops reading TLS until it has room
 * (out_ev). Ends the fetch when the range is complete or writing fails. */
static void pump(struct tun_fetch *f)
{
    struct evbuffer *in = bufferevent_get_input(f->bev);
    uint64_t want = f->to - f->from;
    char why[KOS_TUNNEL_WHY_MAX + 1];

    while (f->written < want && evbuffer_get_length(in) > 0) {
        uint64_t left = want - f->written;
        size_t have = evbuffer_get_length(in);
        int n = evbuffer_write_atmost(in, f->fd, (ev_ssize_t)(have < left ? have : left));

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                bufferevent_disable(f->bev, EV_READ);
                event_add(f->out_ev, NULL);
                return;
            }
            snprintf(why, sizeof(why), "writing to the descriptor failed after %llu bytes: %s",
                     (unsigned long long)f->written, strerror(errno));
            finish(f, KOS_STATUS_IO, why);
            return;
        }
        f->written += (uint64_t)n;
    }
    if (f->written < want) {
        if (!f->eof) {
            bufferevent_enable(f->bev, EV_READ);
            return;
        }
        snprintf(why, sizeof(why), "the connection ended after %llu of %llu bytes",
                 (unsigned long long)f->written, (unsigned long long)want);
        finish(f, KOS_STATUS_UNREACHABLE, why);
        return;
    }
    if (evbuffer_get_length(in) > 0) {
        snprintf(why, sizeof(why), "the server sent more than the %llu bytes of the range",
                 (unsigned long long)want);
        finish(f, KOS_STATUS_PROTOCOL, why);
        return;
    }
    finish(f, KOS_STATUS_OK, "");
}

static void out_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* The answer's header block: checked whole before any byte of the body is
 * written. */
static void read_cb(struct bufferevent *bev, void *arg)
{
    struct tun_fetch *f = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char why[KOS_TUNNEL_WHY_MAX + 1];
    struct evbuffer_ptr end;
    size_t hlen;
    kos_status_t st;

    if (f->in_body) {
        pump(f);
        return;
    }
    end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(in) >= KOS__LINK_REQUEST_MAX) {
            snprintf(why, sizeof(why), "the answer's header block is over %u bytes",
                     KOS__LINK_REQUEST_MAX);
            finish(f, KOS_STATUS_PROTOCOL, why);
        }
        return;
    }
    hlen = (size_t)end.pos + 4;
    if (hlen > KOS__LINK_REQUEST_MAX) {
        snprintf(why, sizeof(why), "the answer's header block is over %u bytes",
                 KOS__LINK_REQUEST_MAX);
        finish(f, KOS_STATUS_PROTOCOL, why);
        return;
    }
    st = kos__link_parse_blob_response((const char *)evbuffer_pullup(in, (ev_ssize_t)hlen), hlen,
                                       f->from, f->to, why, sizeof(why));
    evbuffer_drain(in, hlen);
    if (st) {
        finish(f, st, why);
        return;
    }
    f->in_body = true;
    pump(f);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tun_fetch *f = arg;
    const struct tun_fetch_env *env = f->env;
    char why[KOS_TUNNEL_WHY_MAX + 1];
    bool refused = false;

    if (what & BEV_EVENT_CONNECTED) {
        struct timeval idle = kos__link_ms_tv(env->idle_ms);
        f->connected = true;
        evbuffer_add_printf(bufferevent_get_output(bev),
                            "GET /kos/blobs/%s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%llu-%llu\r\n"
                            "Connection: close\r\n\r\n",
                            f->hex, env->server, (unsigned long long)f->from,
                            (unsigned long long)(f->to - 1));
        bufferevent_set_timeouts(bev, &idle, &idle);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        if (f->connected)
            snprintf(why, sizeof(why), "no byte from the server for %u ms (%llu bytes written)",
                     (unsigned)env->idle_ms, (unsigned long long)f->written);
        else
            snprintf(why, sizeof(why), "no TLS handshake with %s within %u ms", env->server,
                     (unsigned)env->connect_ms);
        finish(f, f->connected ? KOS_STATUS_TIMEOUT : KOS_STATUS_UNREACHABLE, why);
        return;
    }
    if (!f->connected) {
        tun_tls_failure(bev, env->signer, f->failed_before, why, sizeof(why), &refused);
        finish(f, refused ? KOS_STATUS_REFUSED : KOS_STATUS_UNREACHABLE, why);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        /* TLS 1.3: the server judges the device's certificate after the
         * client's handshake is done, so its refusal comes as an alert
         * here. */
        unsigned long e, first = 0;
        while ((e = bufferevent_get_openssl_error(bev)))
            if (!first)
                first = e;
        if (tun_refusal_alert(first)) {
            char buf[160];
            ERR_error_string_n(first, buf, sizeof(buf));
            snprintf(why, sizeof(why), "the server refused this device (TLS: %s)", buf);
            finish(f, KOS_STATUS_REFUSED, why);
            return;
        }
    }
    /* The connection ended: what came before the end is taken first, and
     * the fetch ends once that is written (pump) or found short. */
    f->eof = true;
    bufferevent_disable(bev, EV_READ);
    if (!f->in_body)
        read_cb(bev, f);
    else if (!event_pending(f->out_ev, EV_WRITE, NULL))
        pump(f);
    if (f->running && !f->in_body)
        finish(f, KOS_STATUS_UNREACHABLE,
               "the connection ended before the end of the answer's header block");
}

/* The fetch's connection: from ethernet (the one wait), then TLS, from the
 * loop once the app has its answer. */
static void connect_cb(evutil_socket_t unused, short what, void *arg)
{
    struct tun_fetch *f = arg;
    const struct tun_fetch_env *env = f->env;
    struct timeval tv = kos__link_ms_tv(env->connect_ms);
    char why[KOS_TUNNEL_WHY_MAX + 1];
    kos_status_t st;
    SSL *ssl;
    int sock = -1;

    (void)unused;
    (void)what;
    if (!f->running)
        return;
    st = kos_ethernet_connect(env->eth, env->host, env->port, (int)env->connect_ms, &sock, NULL);
    if (st) {
        if (st == KOS_STATUS_UNAUTHORIZED)
            snprintf(why, sizeof(why),
                     "ethernet does not let the tunnel connect to tcp:%s (its allow setting needs "
                     "tunnel=tcp:%s)",
                     env->server, env->server);
        else
            snprintf(why, sizeof(why), "cannot connect to %s: %s", env->server, kos_status_str(st));
        finish(f, KOS_STATUS_UNREACHABLE, why);
        return;
    }
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
    (void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    ssl = tun_ssl_new(env->ctx, env->host);
    f->failed_before = env->signer->n_failed;
    f->bev = ssl ? bufferevent_openssl_socket_new(env->base, sock, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                  BEV_OPT_CLOSE_ON_FREE)
                 : NULL;
    if (!f->bev) {
        SSL_free(ssl);
        close(sock);
        finish(f, KOS_STATUS_NO_MEMORY, "the tunnel is out of memory");
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(f->bev, 1);
    bufferevent_setcb(f->bev, read_cb, NULL, event_cb, f);
    bufferevent_setwatermark(f->bev, EV_READ, 0, FETCH_BUFFERED);
    bufferevent_set_timeouts(f->bev, &tv, &tv);
    bufferevent_enable(f->bev, EV_READ | EV_WRITE);
}

kos_status_t tun_fetch_start(struct tun_fetch *f, const uint8_t sha256[32], uint64_t from,
                             uint64_t to, int fd, const char *app)
{
    if (f->running)
        return KOS_STATUS_BUSY;
    for (size_t i = 0; i < 32; i++)
        snprintf(f->hex + 2 * i, 3, "%02x", sha256[i]);
    f->from = from;
    f->to = to;
    f->written = 0;
    f->fd = fd;
    f->in_body = f->connected = f->eof = false;
    f->running = true;
    snprintf(f->app, sizeof(f->app), "%s", app);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    f->out_ev = event_new(f->env->base, fd, EV_WRITE, out_cb, f);
    if (!f->out_ev)
        finish(f, KOS_STATUS_NO_MEMORY, "the tunnel is out of memory");
    else
        event_active(f->conn_ev, EV_TIMEOUT, 0);
    return KOS_STATUS_OK;
}

void tun_fetch_cancel(struct tun_fetch *f, const char *why)
{
    if (!f->running)
        return;
    finish(f, KOS_STATUS_CLOSED, why);
    event_del(f->end_ev); /* nobody to tell */
}

void tun_fetch_fini(struct tun_fetch *f)
{
    tun_fetch_cancel(f, "the tunnel is stopping");
    if (f->end_ev)
        event_free(f->end_ev);
    if (f->conn_ev)
        event_free(f->conn_ev);
    f->end_ev = f->conn_ev = NULL;
}
