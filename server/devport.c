/*
 * devport.c - the server's device port (devport.h): a TLS 1.3 listener
 * that requires a client certificate, admits the devices its hooks know,
 * and runs a server link (lib/link) for each.
 *
 * A connection goes: accepted -> TLS handshake (verify_cb names the device
 * by its certificate's key and asks admit()) -> its first request line,
 * which routes it: a request for /kos/blobs/... goes to the blob route
 * (blobport.h) for good; anything else -> link upgrading -> up (online())
 * -> closed (offline()); a pending device's (an unknown key with its own
 * certificate, recorded by pending()) goes from the handshake to an
 * upgrade answered 202 and closed, never up. What stays true: a device is
 * online at most once (up_cb ends an older link of the same id, and says
 * offline for it, before it says online for the new one); a connection
 * that is neither a link nor a blob connection within KOS__LINK_UPGRADE_MS
 * of its handshake is dropped; nothing a device sends reaches the hooks
 * before its Hello; a connection is freed only from the event loop, never
 * inside its own callbacks but closed() (or the blob route's).
 * A connection is online exactly when it is in the port's table of online
 * devices (by id), so finding a device, adding and removing a connection
 * cost the same with ten thousand links as with one.
 *
 * Streams (docs/link.md, "Streams"): a device's Open names a destination
 * the port was given (kos__devport_set_streams); the port dials it and
 * accepts the stream once connected, or refuses it saying why; then it
 * relays both ways. What stays true: a stream holds at most the link's
 * window of the device's bytes (they are credited back only as the
 * destination takes them) and at most a window and a chunk of the
 * destination's (the port stops reading it while the device's credit is
 * used up); either end closing closes the other, the destination after
 * what the device sent has been written.
 */
#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "blobport.h"
#include "devport.h"
#include "link.h"
#include "relay.h"

#define RELAY_CONNECT_MS 10000u /* dialling a destination */

struct dest {
    char name[64];
    char addr[64]; /* "127.0.0.1:9000", for messages */
    struct sockaddr_storage ss;
    socklen_t len;
};

struct conn;

/* One stream to its destination: dialling (bev), then relayed (rl). */
struct relay {
    struct relay *next;
    struct conn *c;
    uint32_t ch;
    struct bufferevent *bev; /* while dialling */
    struct kos__relay *rl;   /* once accepted */
    const struct dest *dest;
    char app[64];
};

struct conn {
    struct kos__devport *dp;
    struct conn *prev, *next; /* every connection */
    struct conn *hnext;       /* online: the next in its table bucket */
    struct bufferevent *bev;  /* during the handshake; then the link's */
    SSL *ssl;                 /* the connection's, freed last (bev does not own it) */
    evutil_socket_t fd;       /* likewise */
    struct kos__link *link;
    struct kos__blobconn *blob; /* a connection for blobs (blobport.h), not a link */
    struct event *hs_timer;     /* the handshake's, then the first request line's */
    struct timeval hs_done;     /* when the handshake ended */
    char id[KOS__DEVICE_ID_LEN + 1];
    bool online;
    bool pending; /* an unknown self-signed key: answered, never linked */
    struct relay *relays;
};

struct kos__devport {
    struct event_base *base;
    SSL_CTX *ctx;
    struct evconnlistener *lis;
    struct kos__devport_hooks hooks;
    unsigned port;
    uint32_t hs_ms, upgrade_ms, idle_ms, window;
    struct kos__link_dozer *dozer; /* none: links do not doze */
    struct conn *conns;
    struct conn **table; /* online connections by id: table_size buckets */
    size_t table_size, n_online;
    /* Every connection by its socket, for verify_cb: 8 bytes a socket,
     * where an ex_data slot in each connection's SSL cost about 60. */
    struct conn **by_fd;
    size_t by_fd_size;
    struct dest dests[KOS__DEVPORT_DESTS_MAX];
    size_t n_dests;
    struct event *trim_ev; /* gives the heap's free pages back: trim_soon() */
};

/* Files c under its socket; false without memory for the table. */
static bool by_fd_set(struct kos__devport *dp, evutil_socket_t fd, struct conn *c)
{
    if (fd < 0)
        return false;
    if ((size_t)fd >= dp->by_fd_size) {
        size_t size = dp->by_fd_size ? dp->by_fd_size : 64;
        struct conn **t;
        while (size <= (size_t)fd)
            size *= 2;
        if (!(t = realloc(dp->by_fd, size * sizeof(*t))))
            return false;
        memset(t + dp->by_fd_size, 0, (size - dp->by_fd_size) * sizeof(*t));
        dp->by_fd = t;
        dp->by_fd_size = size;
    }
    dp->by_fd[fd] = c;
    return true;
}

/* The connection whose SSL this is (the port's context holds the port). */
static struct conn *conn_of(SSL *ssl)
{
    struct kos__devport *dp = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    int fd = ssl ? SSL_get_fd(ssl) : -1;
    struct conn *c = dp && fd >= 0 && (size_t)fd < dp->by_fd_size ? dp->by_fd[fd] : NULL;

    return c && c->ssl == ssl ? c : NULL;
}

/* The bucket of a device id: its first 16 hex digits (a SHA-256's). */
static size_t id_bucket(const struct kos__devport *dp, const char *id)
{
    uint64_t h = 0;

    for (int i = 0; i < 16 && id[i]; i++)
        h = h << 4 | (uint64_t)(id[i] <= '9' ? id[i] - '0' : (id[i] | 0x20) - 'a' + 10);
    return (size_t)(h & (dp->table_size - 1));
}

/* Makes c online: into the table, which doubles when it is full (and
 * stays as it was if there is no memory: a longer bucket, no failure). */
static void online_add(struct kos__devport *dp, struct conn *c)
{
    size_t b;

    if (dp->n_online >= dp->table_size) {
        size_t size = dp->table_size ? 2 * dp->table_size : 64, old = dp->table_size;
        struct conn **t = calloc(size, sizeof(*t)), **from = dp->table;
        if (t) {
            dp->table = t;
            dp->table_size = size;
            for (size_t i = 0; i < old; i++)
                for (struct conn *x = from[i], *nx; x; x = nx) {
                    nx = x->hnext;
                    b = id_bucket(dp, x->id);
                    x->hnext = t[b];
                    t[b] = x;
                }
            free(from);
        }
    }
    c->online = true;
    if (!dp->table_size) /* no memory for the first table: online, but not */
        return;          /* found by id (a newer link will not replace it) */
    b = id_bucket(dp, c->id);
    c->hnext = dp->table[b];
    dp->table[b] = c;
    dp->n_online++;
}

/* Makes c offline: out of the table. */
static void online_remove(struct kos__devport *dp, struct conn *c)
{
    if (!c->online)
        return;
    c->online = false;
    if (!dp->table_size)
        return;
    for (struct conn **pp = &dp->table[id_bucket(dp, c->id)]; *pp; pp = &(*pp)->hnext)
        if (*pp == c) {
            *pp = c->hnext;
            dp->n_online--;
            break;
        }
}

static void trim_soon(struct kos__devport *dp);

/* Frees a stream's relay. The stream's buffers (KOS__SERVER_HEAP_KEEP of
 * free heap, main.c) go back to the system soon after (trim_soon()). */
static void relay_free(struct relay *r)
{
    trim_soon(r->c->dp);
    for (struct relay **pp = &r->c->relays; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    if (r->bev)
        bufferevent_free(r->bev);
    kos__relay_free(r->rl);
    free(r);
}

static void conn_free(struct conn *c)
{
    while (c->relays)
        relay_free(c->relays);
    online_remove(c->dp, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->dp->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->hs_timer)
        event_free(c->hs_timer);
    if (c->link)
        kos__link_free(c->link);
    else if (c->blob)
        kos__blobconn_free(c->blob);
    else if (c->bev)
        bufferevent_free(c->bev);
    if (c->fd >= 0 && (size_t)c->fd < c->dp->by_fd_size && c->dp->by_fd[c->fd] == c)
        c->dp->by_fd[c->fd] = NULL;
    /* Last: the link's bufferevents were made over them (it dozes). */
    SSL_free(c->ssl);
    if (c->fd >= 0)
        evutil_closesocket(c->fd);
    free(c);
}

/* The hex device id of an Ed25519 certificate key, or false. */
static bool device_id(X509 *cert, char id[KOS__DEVICE_ID_LEN + 1])
{
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    unsigned char raw[32], md[SHA256_DIGEST_LENGTH];
    size_t n = sizeof(raw);

    if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(pk, raw, &n) != 1 || n != sizeof(raw))
        return false;
    SHA256(raw, n, md);
    for (size_t i = 0; i < sizeof(md); i++)
        snprintf(id + 2 * i, 3, "%02x", md[i]);
    return true;
}

/* Whether cert, which did not chain to the CA, is a device's own
 * self-signed certificate (docs/link.md, "Pending devices"): issuer and
 * subject the same and its signature made by its own key. Costs one
 * Ed25519 verification, no more than the handshake's own. */
static bool self_signed(X509 *cert, int err)
{
    if (err != X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT &&
        err != X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY &&
        err != X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)
        return false;
    return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0 &&
           X509_verify(cert, X509_get0_pubkey(cert)) == 1;
}

/* What the server records of a pending device, from its certificate and
 * its connection: the name it offers (the subject's `name` attribute when
 * it is 1 to KOS__DEVPORT_NAME_MAX printable ASCII characters, else ""),
 * the subject as printable ASCII (anything else as '?', cut at
 * KOS__DEVPORT_SUBJECT_MAX), and the peer's address. */
static void pending_of(SSL *ssl, X509 *cert, struct kos__devport_pending *p)
{
    X509_NAME *subj = X509_get_subject_name(cert);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int n, fd = SSL_get_fd(ssl);

    memset(p, 0, sizeof(*p));
    n = X509_NAME_get_text_by_NID(subj, NID_name, p->name, sizeof(p->name));
    if (n < 1 || n > (int)KOS__DEVPORT_NAME_MAX)
        p->name[0] = '\0';
    for (int i = 0; i < n && p->name[0]; i++)
        if (p->name[i] < 0x20 || p->name[i] > 0x7e)
            p->name[0] = '\0';
    X509_NAME_oneline(subj, p->subject, sizeof(p->subject));
    for (char *c = p->subject; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
    }
    snprintf(p->address, sizeof(p->address), "%s", host);
}

/* Checks the client's certificate: the chain as OpenSSL found it, then at
 * depth 0 the device's id from its key, its CN against that id, and the
 * admit() hook. A certificate that does not chain to the CA passes only
 * when it is self-signed and its key is registered (an approved pending
 * device), or unknown to admit() and the port takes pending devices: then
 * the pending() hook records it and the connection is marked to be
 * answered "waiting for approval" after the handshake, never linked. A
 * refusal fails the handshake (see docs/link.md for the alert). */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct conn *c = conn_of(ssl);
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    char id[KOS__DEVICE_ID_LEN + 1], cn[256];
    bool own = false;
    X509_NAME *subj;
    kos_status_t st;
    int n, cns = 0;

    if (!c)
        return 0;
    if (X509_STORE_CTX_get_error_depth(x) != 0)
        return ok;
    if (!ok) {
        if (!cert || !self_signed(cert, X509_STORE_CTX_get_error(x)))
            return 0;
        own = true;
    }
    if (c->id[0] && (own || c->pending)) /* checked already; OpenSSL asks again */
        return 1;
    if (!cert || !device_id(cert, id)) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    subj = X509_get_subject_name(cert);
    for (int i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;)
        cns++;
    n = X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn));
    if (cns != 1 || n != (int)KOS__DEVICE_ID_LEN || strcmp(cn, id) != 0) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    st = c->dp->hooks.admit ? c->dp->hooks.admit(c->dp->hooks.arg, id) : KOS_STATUS_UNAUTHORIZED;
    if (st == KOS_STATUS_NOT_FOUND && own && c->dp->hooks.pending) {
        struct kos__devport_pending p;
        unsigned char raw[32];
        size_t rn = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(X509_get0_pubkey(cert), raw, &rn) != 1 ||
            rn != sizeof(raw)) {
            X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
            return 0;
        }
        pending_of(ssl, cert, &p);
        c->dp->hooks.pending(c->dp->hooks.arg, id, raw, &p);
        c->pending = true;
        X509_STORE_CTX_set_error(x, X509_V_OK);
        memcpy(c->id, id, sizeof(id));
        return 1;
    }
    if (st != KOS_STATUS_OK) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    if (own)
        X509_STORE_CTX_set_error(x, X509_V_OK);
    memcpy(c->id, id, sizeof(id));
    return 1;
}

static struct conn *find_online(struct kos__devport *dp, const char *id)
{
    if (!dp->table_size)
        return NULL;
    for (struct conn *c = dp->table[id_bucket(dp, id)]; c; c = c->hnext)
        if (!strcmp(c->id, id))
            return c;
    return NULL;
}

static void up_cb(void *arg, struct kos__link *l)
{
    struct conn *c = arg, *old;

    (void)l;
    while ((old = find_online(c->dp, c->id))) {
        online_remove(c->dp, old);
        kos__link_close(old->link, KOS_STATUS_ALREADY_EXISTS, "replaced by a newer link");
        if (c->dp->hooks.offline)
            c->dp->hooks.offline(c->dp->hooks.arg, old->id, "replaced by a newer link");
    }
    online_add(c->dp, c);
    if (c->dp->hooks.online)
        c->dp->hooks.online(c->dp->hooks.arg, c->id);
}

/* ---- streams ---- */

static void note(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct conn *c, const char *fmt, ...)
{
    char text[384];
    va_list ap;

    if (!c->dp->hooks.note)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    c->dp->hooks.note(c->dp->hooks.arg, c->id, text);
}

static struct relay *relay_find(struct conn *c, uint32_t ch)
{
    for (struct relay *r = c->relays; r; r = r->next)
        if (r->ch == ch)
            return r;
    return NULL;
}

/* The relay has ended from the destination's side (it closed the stream). */
static void relay_ended(void *arg, struct kos__relay *rl, uint32_t code, const char *why)
{
    struct relay *r = arg;

    (void)rl;
    note(r->c, "stream %u ('%s' to %s) ended: %s%s%s", (unsigned)r->ch, r->app, r->dest->name, why,
         code ? ", " : "", code ? kos_status_str((kos_status_t)code) : "");
    relay_free(r);
}

/* Refuses stream r (not accepted yet) and frees it. */
static void relay_refuse(struct relay *r, uint32_t code, const char *why)
{
    kos__link_stream_close(r->c->link, r->ch, code, why);
    note(r->c, "refused stream %u for '%s' to %s: %s", (unsigned)r->ch, r->app, r->dest->name, why);
    relay_free(r);
}

/* The destination answered the dial, or did not. */
static void dial_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct relay *r = arg;
    int err = EVUTIL_SOCKET_ERROR();
    char why[160];

    if (what & BEV_EVENT_CONNECTED) {
        bufferevent_set_timeouts(bev, NULL, NULL);
        if (kos__link_stream_accept(r->c->link, r->ch) != KOS_STATUS_OK) {
            relay_free(r);
            return;
        }
        r->bev = NULL; /* the relay's now */
        r->rl = kos__relay_new(r->c->link, r->ch, bev, relay_ended, r);
        if (!r->rl) {
            kos__link_stream_close(r->c->link, r->ch, KOS_STATUS_NO_MEMORY, "out of memory");
            relay_free(r);
            return;
        }
        note(r->c, "stream %u opened: '%s' to %s (%s)", (unsigned)r->ch, r->app, r->dest->name,
             r->dest->addr);
        return;
    }
    snprintf(why, sizeof(why), "%s (%s): %s", r->dest->name, r->dest->addr,
             (what & BEV_EVENT_TIMEOUT) ? "no answer in time"
             : err                      ? evutil_socket_error_to_string(err)
                                        : "the connection failed");
    relay_refuse(r,
                 (what & BEV_EVENT_TIMEOUT) ? KOS_STATUS_TIMEOUT
                 : err == ECONNREFUSED      ? KOS_STATUS_REFUSED
                                            : KOS_STATUS_UNREACHABLE,
                 why);
}

static void stream_open_cb(void *arg, struct kos__link *l, uint32_t ch, const char *destination,
                           const char *app)
{
    struct conn *c = arg;
    struct kos__devport *dp = c->dp;
    const struct dest *d = NULL;
    struct relay *r;
    struct timeval tv = kos__link_ms_tv(RELAY_CONNECT_MS);
    char why[160];

    for (size_t i = 0; i < dp->n_dests && !d; i++)
        if (!strcmp(dp->dests[i].name, destination))
            d = &dp->dests[i];
    if (!d) {
        snprintf(why, sizeof(why), "no destination '%.64s' on this server", destination);
        note(c, "refused stream %u for '%s' to '%s': not a destination this server allows",
             (unsigned)ch, app, destination);
        kos__link_stream_close(l, ch, KOS_STATUS_NOT_FOUND, why);
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r)
        r->bev = bufferevent_socket_new(dp->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!r || !r->bev) {
        free(r);
        kos__link_stream_close(l, ch, KOS_STATUS_NO_MEMORY, "out of memory");
        return;
    }
    r->c = c;
    r->ch = ch;
    r->dest = d;
    snprintf(r->app, sizeof(r->app), "%s", app);
    r->next = c->relays;
    c->relays = r;
    bufferevent_setcb(r->bev, NULL, NULL, dial_event_cb, r);
    bufferevent_set_timeouts(r->bev, &tv, &tv);
    if (bufferevent_socket_connect(r->bev, (struct sockaddr *)&d->ss, (int)d->len) != 0) {
        snprintf(why, sizeof(why), "%s (%s): cannot connect", d->name, d->addr);
        relay_refuse(r, KOS_STATUS_UNREACHABLE, why);
    }
}

static void stream_closed_cb(void *arg, struct kos__link *l, uint32_t ch, uint32_t code,
                             const char *reason)
{
    struct conn *c = arg;
    struct relay *r = relay_find(c, ch);

    (void)l;
    if (!r)
        return;
    if (code)
        note(c, "the device ended stream %u ('%s' to %s): %s (%s)", (unsigned)ch, r->app,
             r->dest->name, kos_status_str((kos_status_t)code), reason);
    if (r->rl) {
        kos__relay_peer_closed(r->rl); /* writes what is left, then frees itself */
        r->rl = NULL;
    }
    relay_free(r);
}

static void room_cb(void *arg, struct kos__link *l, uint32_t ch)
{
    struct relay *r = ch >= KOS__LINK_STREAM_FIRST ? relay_find(arg, ch) : NULL;

    (void)l;
    if (r && r->rl)
        kos__relay_room(r->rl);
}

static kos_status_t data_cb(void *arg, struct kos__link *l, uint32_t ch, const uint8_t *p, size_t n)
{
    struct conn *c = arg;

    if (ch >= KOS__LINK_STREAM_FIRST) {
        struct relay *r = relay_find(c, ch);
        if (!r || !r->rl) { /* cannot happen: a stream is open only once dialled */
            kos__link_consumed(l, ch, n);
            return KOS_STATUS_OK;
        }
        return kos__relay_data(r->rl, p, n); /* credited back as the destination takes it */
    }

    if (c->online && c->dp->hooks.data)
        c->dp->hooks.data(c->dp->hooks.arg, c->id, ch, p, n);
    kos__link_consumed(l, ch, n); /* the hook took it: stored or dropped */
    return KOS_STATUS_OK;
}

static void closed_cb(void *arg, struct kos__link *l, const struct kos__link_end *end)
{
    struct conn *c = arg;

    (void)l;
    if (c->online) {
        online_remove(c->dp, c);
        if (c->dp->hooks.offline)
            c->dp->hooks.offline(c->dp->hooks.arg, c->id, end->why);
    }
    conn_free(c);
}

/* Frees the certificates a device sent beyond its own (its issuer: the
 * tunnel no longer sends it, but an older tunnel or another client's TLS
 * stack may) once the handshake has verified them. The chain was
 * built from the port's own copy of the CA (X509_V_FLAG_TRUSTED_FIRST), so
 * nothing else refers to them, and nothing reads the session's chain later
 * (no tickets, no session cache): an idle link keeps no second parsed copy
 * of the CA (about 1.5 KiB). */
static void drop_peer_chain(SSL *ssl)
{
    STACK_OF(X509) *chain = ssl ? SSL_get_peer_cert_chain(ssl) : NULL;
    X509 *x;

    while (chain && (x = sk_X509_pop(chain)))
        X509_free(x);
}

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* A handshake (or a stream) has ended: KOS__DEVPORT_TRIM_MS after the
 * first of a burst,
 * the pages of the heap that no allocation uses any more go back to the
 * system. A TLS handshake takes some tens of KiB that are freed once it
 * ends; between the connections that stay, glibc keeps those pages
 * (only the heap's top is returned by itself), so a burst of connections
 * left each idle link paying for the handshakes that ran beside it. */
static void trim_soon(struct kos__devport *dp)
{
    struct timeval tv = kos__link_ms_tv(KOS__DEVPORT_TRIM_MS);

    if (dp->trim_ev && !evtimer_pending(dp->trim_ev, NULL))
        evtimer_add(dp->trim_ev, &tv);
}

/* Starts the link on c's connection, the upgrade request (or what came
 * of it) in its input; the request has what is left of the port's time for
 * it since the handshake. */
static void start_link(struct conn *c)
{
    uint32_t upgrade_ms = c->dp->upgrade_ms ? c->dp->upgrade_ms : KOS__LINK_UPGRADE_MS;
    struct timeval now, spent;
    SSL *ssl;
    struct kos__link_config cfg = {.role = KOS__LINK_SERVER,
                                   .window = c->dp->window,
                                   .agent = "kos-server/0.1",
                                   .device_id = c->id,
                                   .stream_window = KOS__DEVPORT_STREAM_WINDOW,
                                   .idle_ms = c->dp->idle_ms,
                                   .dozer = c->dp->dozer,
                                   .pending = c->pending ? KOS__DEVPORT_PENDING_REASON : NULL};
    static const struct kos__link_cbs cbs = {.up = up_cb,
                                             .data = data_cb,
                                             .room = room_cb,
                                             .stream_open = stream_open_cb,
                                             .stream_closed = stream_closed_cb,
                                             .closed = closed_cb};
    uint64_t spent_ms;

    event_base_gettimeofday_cached(c->dp->base, &now);
    evutil_timersub(&now, &c->hs_done, &spent);
    spent_ms =
        spent.tv_sec < 0 ? 0 : (uint64_t)spent.tv_sec * 1000 + (uint64_t)spent.tv_usec / 1000;
    cfg.upgrade_ms = spent_ms + 1 < upgrade_ms ? upgrade_ms - (uint32_t)spent_ms : 1;
    event_free(c->hs_timer); /* an idle connection holds no timer of its own */
    c->hs_timer = NULL;
    trim_soon(c->dp);
    /* Read-ahead, from the link on (not for the handshake and first line,
     * nor a blob's connection): one read() takes as many of the device's
     * records as KOS__DEVPORT_READ_AHEAD holds, where OpenSSL read each
     * record with two (its header, then the rest). The link runs the read
     * on while records wait in OpenSSL's buffer (lib/link/link.c,
     * tls_read_on). The buffer is freed whenever it is empty
     * (SSL_MODE_RELEASE_BUFFERS), so an idle link holds none. */
    ssl = bufferevent_openssl_get_ssl(c->bev);
    SSL_set_read_ahead(ssl, 1);
    SSL_set_default_read_buffer_len(ssl, KOS__DEVPORT_READ_AHEAD);
    c->link = kos__link_new(c->dp->base, c->bev, &cfg, &cbs, c);
    c->bev = NULL;
    if (!c->link)
        conn_free(c);
}

/* The blob route has ended c's connection. */
static void blob_closed(void *arg)
{
    conn_free(arg);
}

/* Waits for the first request line, which says what the connection is
 * for: a blob (docs/link.md, "Blobs") or the link's upgrade. */
static void route_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr eol = evbuffer_search(in, "\r\n", 2, NULL);
    size_t len = eol.pos < 0 ? evbuffer_get_length(in) : (size_t)eol.pos;
    const char *line;

    if (eol.pos < 0 && len <= KOS__LINK_REQUEST_MAX)
        return;
    line = (const char *)evbuffer_pullup(in, (ev_ssize_t)(len < 64 ? len : 64));
    if (!c->pending && line && kos__link_is_blob_request(line, len < 64 ? len : 64)) {
        event_free(c->hs_timer);
        c->hs_timer = NULL;
        c->blob = kos__blobconn_new(c->dp->base, c->bev, c->id, &c->dp->hooks, blob_closed, c);
        c->bev = NULL;
        if (!c->blob)
            conn_free(c);
        return;
    }
    start_link(c); /* it answers what is not an upgrade */
}

static void route_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_free(arg); /* the connection ended before its first request line */
}

static void hs_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    uint32_t upgrade_ms = c->dp->upgrade_ms ? c->dp->upgrade_ms : KOS__LINK_UPGRADE_MS;
    struct timeval tv = kos__link_ms_tv(upgrade_ms);

    if (!(what & BEV_EVENT_CONNECTED) || !c->id[0]) {
        conn_free(c); /* a failed handshake: the alert has been sent */
        return;
    }
    drop_peer_chain(bufferevent_openssl_get_ssl(bev));
    event_base_gettimeofday_cached(c->dp->base, &c->hs_done);
    evtimer_add(c->hs_timer, &tv); /* now for the first request line */
    bufferevent_setcb(bev, route_read_cb, NULL, route_event_cb, c);
    if (evbuffer_get_length(bufferevent_get_input(bev)))
        route_read_cb(bev, c);
}

static void hs_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_free(arg); /* a handshake, or a first request line, not in time */
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct kos__devport *dp = arg;
    struct conn *c = calloc(1, sizeof(*c));
    struct timeval tv = kos__link_ms_tv(dp->hs_ms);
    SSL *ssl = NULL;

    (void)lis;
    (void)sa;
    (void)salen;
    if (!c || !by_fd_set(dp, fd, c) || !(ssl = SSL_new(dp->ctx))) {
        if (c)
            (void)by_fd_set(dp, fd, NULL);
        SSL_free(ssl);
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->dp = dp;
    c->ssl = ssl;
    c->fd = fd;
    /* A device's link carries small messages that wait for answers
     * (commands and their results): each goes out at once, not held back
     * by Nagle's algorithm until the last is acknowledged. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    /* Not BEV_OPT_CLOSE_ON_FREE: the connection keeps the SSL and the
     * socket, over which the link makes bufferevents as it dozes and
     * wakes. */
    c->bev = bufferevent_openssl_socket_new(dp->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, 0);
    c->hs_timer = evtimer_new(dp->base, hs_timer_cb, c);
    c->next = dp->conns;
    if (dp->conns)
        dp->conns->prev = c;
    dp->conns = c;
    if (!c->bev || !c->hs_timer) {
        conn_free(c);
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, NULL, NULL, hs_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    evtimer_add(c->hs_timer, &tv);
}

/* Parses "HOST:PORT" (IPv4, or [IPv6]) into ss. */
static bool parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    char *end;
    unsigned long port;
    size_t hl;

    if (!colon)
        return false;
    port = strtoul(colon + 1, &end, 10);
    hl = (size_t)(colon - addr);
    if (*end || end == colon + 1 || port > 65535 || hl == 0 || hl >= sizeof(host))
        return false;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return false;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return true;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return false;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof(*s4);
    return true;
}

struct kos__devport *kos__devport_create(struct event_base *base, SSL_CTX *ctx, const char *addr,
                                         const struct kos__devport_hooks *hooks, char *err,
                                         size_t errlen)
{
    struct kos__devport *dp;
    struct sockaddr_storage ss;
    socklen_t len = 0;

    if (!base || !ctx || !addr || !hooks || !hooks->admit) {
        snprintf(err, errlen, "the device port needs a loop, a TLS context, an address and hooks");
        return NULL;
    }
    if (!parse_addr(addr, &ss, &len)) {
        snprintf(err, errlen, "'%s' is not HOST:PORT (an IPv4 address, or [IPv6])", addr);
        return NULL;
    }
    dp = calloc(1, sizeof(*dp));
    if (!dp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dp->base = base;
    dp->ctx = ctx;
    if (!SSL_CTX_set_app_data(ctx, dp)) {
        snprintf(err, errlen, "out of memory");
        free(dp);
        return NULL;
    }
    dp->hooks = *hooks;
    dp->trim_ev = evtimer_new(base, trim_cb, dp); /* none: the heap is not trimmed */
    dp->hs_ms = KOS__LINK_UPGRADE_MS;
    dp->window = KOS__LINK_WINDOW_DEFAULT;
    dp->dozer = kos__link_dozer_new(base, KOS__DEVPORT_DOZE_MS);
    /* docs/link.md, "Transport": TLS 1.3 only, a client certificate
     * required, no tickets, idle buffers released, the port's certificate
     * sent without its CA (the device holds it: building the chain to send
     * would check the CA's signature on every handshake). */
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    /* The chain is built from the CA the port holds (drop_peer_chain). */
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_TRUSTED_FIRST);
    dp->lis = evconnlistener_new_bind(
        base, accept_cb, dp, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 128,
        (struct sockaddr *)&ss, (int)len);
    if (!dp->lis) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
        if (dp->trim_ev)
            event_free(dp->trim_ev);
        kos__link_dozer_free(dp->dozer);
        free(dp);
        return NULL;
    }
    len = sizeof(ss);
    if (getsockname(evconnlistener_get_fd(dp->lis), (struct sockaddr *)&ss, &len) == 0)
        dp->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return dp;
}

void kos__devport_set_doze(struct kos__devport *dp, uint32_t doze_ms)
{
    if (dp->dozer)
        kos__link_dozer_set_delay(dp->dozer, doze_ms ? doze_ms : KOS__DEVPORT_DOZE_MS);
}

void kos__devport_links(const struct kos__devport *dp, size_t *up, size_t *dozing)
{
    *up = *dozing = 0;
    for (const struct conn *c = dp->conns; c; c = c->next)
        if (c->link && kos__link_state(c->link) == KOS__LINK_UP) {
            (*up)++;
            *dozing += kos__link_dozing(c->link);
        }
}

void kos__devport_set_limits(struct kos__devport *dp, uint32_t handshake_ms, uint32_t upgrade_ms,
                             uint32_t idle_ms, uint32_t window)
{
    dp->hs_ms = handshake_ms ? handshake_ms : KOS__LINK_UPGRADE_MS;
    dp->upgrade_ms = upgrade_ms;
    dp->idle_ms = idle_ms;
    dp->window = window >= KOS__LINK_WINDOW_MIN && window <= KOS__LINK_WINDOW_MAX
                     ? window
                     : KOS__LINK_WINDOW_DEFAULT;
}

kos_status_t kos__devport_set_streams(struct kos__devport *dp, const char *spec, bool loopback_only,
                                      char *err, size_t errlen)
{
    struct dest d[KOS__DEVPORT_DESTS_MAX];
    size_t n = 0, at = 0;

    while (spec && spec[at]) {
        const char *item = spec + at, *comma = strchr(item, ','), *eq;
        size_t len = comma ? (size_t)(comma - item) : strlen(item), nl;
        char addr[64];

        at += len + (comma ? 1 : 0);
        if (len == 0)
            continue;
        eq = memchr(item, '=', len);
        nl = eq ? (size_t)(eq - item) : 0;
        if (n == KOS__DEVPORT_DESTS_MAX) {
            snprintf(err, errlen, "streams: more than %u destinations", KOS__DEVPORT_DESTS_MAX);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        if (!eq || nl == 0 || nl >= sizeof(d[n].name)) {
            snprintf(err, errlen, "streams: expected NAME=HOST:PORT at '%.*s'", (int)len, item);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        for (size_t i = 0; i < nl; i++) {
            char ch = item[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.')) {
                snprintf(err, errlen,
                         "streams: '%.*s' is not a name (letters, digits, '_', '-', '.')", (int)nl,
                         item);
                return KOS_STATUS_INVALID_ARGUMENT;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (strlen(d[i].name) == nl && !memcmp(d[i].name, item, nl)) {
                snprintf(err, errlen, "streams: '%.*s' is given twice", (int)nl, item);
                return KOS_STATUS_INVALID_ARGUMENT;
            }
        if (len - nl - 1 >= sizeof(addr)) {
            snprintf(err, errlen, "streams: the address of '%.*s' is too long", (int)nl, item);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        memcpy(addr, eq + 1, len - nl - 1);
        addr[len - nl - 1] = '\0';
        if (!parse_addr(addr, &d[n].ss, &d[n].len) ||
            ((struct sockaddr_in *)&d[n].ss)->sin_port == 0) {
            snprintf(err, errlen,
                     "streams: '%s' (for '%.*s') is not HOST:PORT (an IPv4 address or [IPv6], a "
                     "port 1-65535)",
                     addr, (int)nl, item);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        if (loopback_only &&
            !(d[n].ss.ss_family == AF_INET
                  ? (ntohl(((struct sockaddr_in *)&d[n].ss)->sin_addr.s_addr) >> 24) == 127
                  : IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&d[n].ss)->sin6_addr))) {
            snprintf(err, errlen,
                     "streams: '%s' (for '%.*s') is not a loopback address: Studio forwards "
                     "streams to this machine only",
                     addr, (int)nl, item);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        memcpy(d[n].name, item, nl);
        d[n].name[nl] = '\0';
        snprintf(d[n].addr, sizeof(d[n].addr), "%s", addr);
        n++;
    }
    /* Streams open now keep the destination they have (a pointer into the
     * table): the table changes only before devices connect. */
    memcpy(dp->dests, d, n * sizeof(d[0]));
    dp->n_dests = n;
    return KOS_STATUS_OK;
}

unsigned kos__devport_port(const struct kos__devport *dp)
{
    return dp->port;
}

kos_status_t kos__devport_send(struct kos__devport *dp, const char *id, uint32_t ch, const void *p,
                               size_t n)
{
    struct conn *c = dp && id ? find_online(dp, id) : NULL;

    if (!c)
        return KOS_STATUS_UNAVAILABLE;
    return kos__link_send(c->link, ch, p, n);
}

void kos__devport_kick(struct kos__devport *dp, const char *id)
{
    struct conn *c, *next;

    if (!dp || !id)
        return;
    for (c = dp->conns; c; c = next) {
        next = c->next;
        if (strcmp(c->id, id) != 0)
            continue;
        if (c->link)
            kos__link_close(c->link, KOS_STATUS_UNAUTHORIZED, "the device was revoked");
        else
            conn_free(c); /* still in its handshake, or serving blobs */
    }
}

void kos__devport_destroy(struct kos__devport *dp)
{
    if (!dp)
        return;
    evconnlistener_free(dp->lis);
    if (dp->trim_ev)
        event_free(dp->trim_ev);
    dp->trim_ev = NULL; /* the streams freed below would set it */
    while (dp->conns) {
        struct conn *c = dp->conns;
        if (c->online && dp->hooks.offline)
            dp->hooks.offline(dp->hooks.arg, c->id, "the server's device port closed");
        conn_free(c);
    }
    kos__link_dozer_free(dp->dozer); /* after every link */
    free(dp->by_fd);
    free(dp->table);
    free(dp);
}
