/*
 * link_load.c - the load generator of bench/link: many devices' links to a
 * Studio, or as many MQTT clients to a broker, from one process on one
 * libevent loop, every connection TLS 1.3 with its own client certificate.
 *
 *   link_load kos  --studio DIR [--links N] [--handshakes M] [options]
 *   link_load mqtt --certs DIR --connect 127.0.0.1:PORT [--links N] [--handshakes M] [options]
 *   link_load certs --certs DIR
 *
 * kos: makes one Ed25519 identity key per device (the generator stands in
 * for the devices' key_stores), registers each with the Studio whose data
 * folder DIR is through its API (POST /api/devices with the secret of the
 * runtime file, as kos-tool keys.generate --server studio does), then
 * opens device links with lib/link's client end: TLS 1.3 with the device's
 * certificate (the server's verified against the Studio's CA and its IP),
 * the WebSocket upgrade, Hello, and the admin registration (an AdminUp
 * Register on channel 1, answered with Registered).
 *
 * mqtt: the same keys, certified by the CA in DIR (made by `certs` with
 * server/ca.c, so the certificates are those a Studio issues), as MQTT
 * 3.1.1 clients: TLS 1.3 with the certificate, CONNECT (the client id is
 * the device id, keep-alive 60 s), CONNACK.
 *
 * --links N opens N connections (at most --concurrency in flight), keeps
 * them idle (the link pings every 30 s; an MQTT client sends PINGREQ every
 * 30 s) and, with --pid, prints the server's memory before and after:
 * once they are all up and --settle seconds have passed, and again after
 * --hold seconds (one round of pings). --handshakes M then makes M
 * connections, each closed once registered (or once CONNACK came), with
 * --concurrency in flight, and prints how many per second, and with --pid
 * the server's CPU time per connection. `certs` writes DIR/ca.crt,
 * DIR/ca.key, DIR/server.crt and DIR/server.key (for 127.0.0.1) for a
 * broker.
 *
 * Output, one line per result, "KEY=VALUE" words after the first two:
 *   links kos n=1000 ... per_link_rss_kib=... per_link_pss_kib=...
 *   handshakes kos n=4000 ... per_s=... server_cpu_us=...
 *
 * What stays true: the generator never sends anything but the protocol
 * (nothing is measured that a real device would not cause), it talks only
 * to 127.0.0.1, every phase is bounded in time (--timeout), and it
 * stops by itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "admin.pb-c.h"
#include "ca.h"
#include "link.h"
#include "opts_int.h"
#include "runtime.h"

#define PROG            "link_load"
#define API_CONNS       4u  /* parallel connections that register devices */
#define MQTT_KEEPALIVE  60u /* seconds, in CONNECT */
#define MQTT_PING_MS    30000u
#define FAILURES_MAX    100u /* connections that may fail before a phase gives up */
#define REASONS_SHOWN   5u
#define CH_ADMIN        1u
#define HOLD_DEFAULT_S  35u /* one ping round (30 s) and some */
#define SETTLE_DEFAULT  3u
#define TIMEOUT_DEFAULT 900u

enum mode { MODE_KOS, MODE_MQTT };
enum phase { PHASE_REGISTER, PHASE_LINKS, PHASE_HANDSHAKES };

/* One device: its identity key and certificate. */
struct dev {
    struct gen *g;
    EVP_PKEY *key;
    X509 *cert;
    char id[KOS__LINK_ID_LEN + 1];
};

struct gen;

/* One connection: a TLS handshake, then a link (kos) or an MQTT session. */
struct conn {
    struct gen *g;
    struct dev *d;
    struct conn *prev, *next;
    struct bufferevent *bev; /* kos: until the link takes it; mqtt: always */
    struct kos__link *link;
    struct event *ping; /* mqtt: PINGREQ timer */
    double t0;          /* when it started */
    bool up;            /* registered (kos) or CONNACK received (mqtt) */
    bool closing;       /* handshakes: being closed after it came up */
};

struct gen {
    enum mode mode;
    bool send_ca; /* --send-ca */
    enum phase phase;
    struct event_base *base;
    SSL_CTX *ctx;
    struct sockaddr_in addr;
    char host[64]; /* "127.0.0.1:7443" */
    struct dev *devs;
    unsigned ndevs;
    /* the Studio's API (kos) */
    struct kos__studio_rt rt;
    struct evhttp_connection *api[API_CONNS];
    unsigned api_answers, api_refused;
    /* the current phase */
    unsigned target, started, done, inflight, failures, dropped, next_dev, concurrency;
    unsigned shown;
    struct conn *conns; /* every open connection */
    double t0, t1;
    double *lat; /* each connection's time to come up, seconds, in the order they did */
    struct event *timer, *deadline;
    int timer_step;
    /* what the options asked */
    unsigned links, handshakes, settle_s, hold_s, timeout_s;
    pid_t pid;
    long before_rss, before_pss, settle_rss, settle_pss;
    double cpu0, gcpu0;
    int status; /* the exit status */
};

/* ---- small things ---- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A value in kB from /proc/PID/FILE's line "KEY: N kB", or -1. */
static long proc_kib(pid_t pid, const char *file, const char *key)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    long v = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, file);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* Process pid's CPU time (user and system), seconds; -1 if unknown. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut, st;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Prints " p50_ms=... p99_ms=... max_ms=..." of the first n latencies. */
static void print_latency(double *lat, unsigned n)
{
    if (!lat || !n)
        return;
    qsort(lat, n, sizeof(*lat), cmp_double);
    printf(" p50_ms=%.1f p99_ms=%.1f max_ms=%.1f", 1e3 * lat[n / 2], 1e3 * lat[(n * 99) / 100],
           1e3 * lat[n - 1]);
}

static const char *mode_name(const struct gen *g)
{
    return g->mode == MODE_KOS ? "kos" : "mqtt";
}

static void finish(struct gen *g, int status)
{
    g->status = status;
    event_base_loopexit(g->base, NULL);
}

/* ---- keys and certificates ---- */

/* Makes device d's key and id (the hex SHA-256 of the raw public key). */
static bool dev_keygen(struct dev *d, uint8_t raw[KOS__ED25519_KEY_LEN])
{
    size_t n = KOS__ED25519_KEY_LEN;

    d->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!d->key || EVP_PKEY_get_raw_public_key(d->key, raw, &n) != 1 || n != KOS__ED25519_KEY_LEN)
        return false;
    kos__ca_device_id(raw, d->id);
    return true;
}

static X509 *cert_from_pem(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

    BIO_free(bio);
    return x;
}

/* The client context both modes use: TLS 1.3, no tickets, idle buffers
 * released, the certificate sent without its CA (as the tunnel's; with
 * send_ca, with it, as OpenSSL does by default), the server verified
 * against `ca`. */
static SSL_CTX *client_ctx(X509 *ca, bool send_ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | (send_ca ? 0 : SSL_MODE_NO_AUTO_CHAIN));
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

/* ---- connections ---- */

static void launch(struct gen *g);
static void phase_done(struct gen *g);

static void conn_free(struct conn *c)
{
    struct gen *g = c->g;

    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->ping)
        event_free(c->ping);
    if (c->closing) { /* a clean end: close_notify, as a device's tunnel would send */
        struct bufferevent *bev = c->link ? kos__link_bufferevent(c->link) : c->bev;
        SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
        if (ssl)
            SSL_shutdown(ssl);
    }
    if (c->link)
        kos__link_free(c->link);
    else if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

/* Connection c failed before it came up: counted, and tried again (with
 * the next device) while failures are few. */
static void conn_failed(struct conn *c, const char *why)
{
    struct gen *g = c->g;

    g->inflight--;
    g->started--;
    g->failures++;
    if (g->shown++ < REASONS_SHOWN)
        say("%s: a connection failed: %s", mode_name(g), why);
    conn_free(c);
    if (g->failures > FAILURES_MAX) {
        say("%s: more than %u connections failed: giving up", mode_name(g), FAILURES_MAX);
        finish(g, 1);
        return;
    }
    launch(g);
}

/* Connection c is up: registered (kos) or connected (mqtt). */
static void conn_up(struct conn *c)
{
    struct gen *g = c->g;

    c->up = true;
    g->inflight--;
    if (g->lat)
        g->lat[g->done] = now_s() - c->t0;
    g->done++;
    if (g->done == g->target) {
        g->t1 = now_s();
        phase_done(g);
    } else {
        launch(g);
    }
}

/* An idle connection ended that was not meant to. */
static void conn_dropped(struct conn *c, const char *why)
{
    struct gen *g = c->g;

    g->dropped++;
    if (g->shown++ < REASONS_SHOWN)
        say("%s: an idle connection ended: %s", mode_name(g), why);
    conn_free(c);
}

/* The first TLS error of a failed connection, for people. */
static void tls_why(struct bufferevent *bev, char *why, size_t n)
{
    unsigned long e, first = 0;
    int err = EVUTIL_SOCKET_ERROR();

    while ((e = bufferevent_get_openssl_error(bev)))
        if (!first)
            first = e;
    if (first)
        ERR_error_string_n(first, why, n);
    else
        snprintf(why, n, "the connection closed (%s)",
                 err ? evutil_socket_error_to_string(err) : "no error");
}

/* ---- kos: the device link ---- */

/* The admin registration a device sends first: as the admin component
 * fills it, with a first Health listing a Poukai system's apps. */
static void send_register(struct conn *c)
{
    static const char *const apps[] = {"msg0",      "rng",    "log",   "ethernet",
                                       "key_store", "tunnel", "admin", "self_test"};
    Kos__Admin__AdminUp up = KOS__ADMIN__ADMIN_UP__INIT;
    Kos__Admin__Register reg = KOS__ADMIN__REGISTER__INIT;
    Kos__Admin__Health h = KOS__ADMIN__HEALTH__INIT;
    Kos__Admin__App app[sizeof(apps) / sizeof(apps[0])];
    Kos__Admin__App *appp[sizeof(apps) / sizeof(apps[0])];
    uint8_t buf[1024];
    size_t n;

    for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++) {
        kos__admin__app__init(&app[i]);
        app[i].name = (char *)apps[i];
        app[i].kind = i == 0 ? "message server" : "app";
        app[i].state = "running, ready";
        appp[i] = &app[i];
    }
    h.time_ns = (uint64_t)time(NULL) * 1000000000u;
    h.uptime_ms = 1000;
    h.n_apps = sizeof(apps) / sizeof(apps[0]);
    h.apps = appp;
    h.mem_total = 512u << 20;
    h.mem_used = 64u << 20;
    h.storage_total = 1u << 30;
    h.storage_used = 100u << 20;
    h.self_test = "passed";
    reg.system = "bench_link";
    reg.manifest_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    reg.signer = "47603ab221a01e56";
    reg.kos_version = "0.1.0";
    reg.platform = "sim";
    reg.boot_time_ns = h.time_ns - 1000000000u;
    reg.health = &h;
    up.body_case = KOS__ADMIN__ADMIN_UP__BODY_REGISTER;
    up.register_ = &reg;
    n = kos__admin__admin_up__get_packed_size(&up);
    if (n > sizeof(buf)) {
        kos__link_close(c->link, KOS_STATUS_INTERNAL, "a Register too long");
        return;
    }
    kos__admin__admin_up__pack(&up, buf);
    if (kos__link_send(c->link, CH_ADMIN, buf, n) != KOS_STATUS_OK)
        kos__link_close(c->link, KOS_STATUS_INTERNAL, "cannot send the Register");
}

static void link_up(void *arg, struct kos__link *l)
{
    (void)l;
    send_register(arg);
}

static kos_status_t link_data(void *arg, struct kos__link *l, uint32_t ch, const uint8_t *p,
                              size_t n)
{
    struct conn *c = arg;
    Kos__Admin__AdminDown *down;
    bool registered;

    if (ch != CH_ADMIN)
        return KOS_STATUS_UNSUPPORTED;
    down = kos__admin__admin_down__unpack(NULL, n, p);
    if (!down)
        return KOS_STATUS_INVALID_ARGUMENT;
    registered = down->body_case == KOS__ADMIN__ADMIN_DOWN__BODY_REGISTERED;
    kos__admin__admin_down__free_unpacked(down, NULL);
    kos__link_consumed(l, ch, n);
    if (registered && !c->up) {
        if (c->g->phase == PHASE_HANDSHAKES) {
            c->closing = true;
            kos__link_close(l, 0, "done");
        }
        conn_up(c);
    }
    return KOS_STATUS_OK;
}

static void link_closed(void *arg, struct kos__link *l, const struct kos__link_end *end)
{
    struct conn *c = arg;

    (void)l;
    if (c->closing)
        conn_free(c);
    else if (c->up)
        conn_dropped(c, end->why);
    else
        conn_failed(c, end->why);
}

static void kos_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    struct gen *g = c->g;
    struct kos__link_config cfg = {.role = KOS__LINK_CLIENT,
                                   .window = KOS__LINK_WINDOW_DEFAULT,
                                   .agent = "kos-bench/0.1",
                                   .host = g->host};
    static const struct kos__link_cbs cbs = {
        .up = link_up, .data = link_data, .closed = link_closed};
    char why[256];

    if (what & BEV_EVENT_CONNECTED) {
        c->bev = NULL;
        c->link = kos__link_new(g->base, bev, &cfg, &cbs, c);
        if (!c->link)
            conn_failed(c, "out of memory");
        return;
    }
    tls_why(bev, why, sizeof(why));
    conn_failed(c, why);
}

/* ---- mqtt ---- */

static void mqtt_ping(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    static const uint8_t pingreq[2] = {0xc0, 0x00};

    (void)fd;
    (void)what;
    bufferevent_write(c->bev, pingreq, sizeof(pingreq));
}

static void mqtt_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    uint8_t pkt[4];

    while (evbuffer_get_length(in) >= 2) {
        evbuffer_copyout(in, pkt, 2);
        if (pkt[1] > 2) { /* nothing we expect is longer */
            conn_failed(c, "an MQTT packet this client does not expect");
            return;
        }
        if (evbuffer_get_length(in) < 2u + pkt[1])
            return;
        evbuffer_remove(in, pkt, 2u + pkt[1]);
        if (pkt[0] == 0xd0) /* PINGRESP */
            continue;
        if (pkt[0] != 0x20 || pkt[1] != 2 || c->up) {
            conn_failed(c, "an MQTT packet this client does not expect");
            return;
        }
        if (pkt[3] != 0) {
            char why[64];
            snprintf(why, sizeof(why), "CONNACK refused the client (return code %u)", pkt[3]);
            conn_failed(c, why);
            return;
        }
        if (c->g->phase == PHASE_HANDSHAKES) {
            static const uint8_t disconnect[2] = {0xe0, 0x00};
            c->closing = true;
            bufferevent_write(bev, disconnect, sizeof(disconnect));
            bufferevent_disable(bev, EV_READ);
        } else {
            struct timeval tv = {MQTT_PING_MS / 1000, 0};
            c->ping = event_new(c->g->base, -1, EV_PERSIST, mqtt_ping, c);
            if (c->ping)
                event_add(c->ping, &tv);
        }
        conn_up(c);
        return;
    }
}

static void mqtt_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;

    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(c);
}

/* CONNECT, MQTT 3.1.1: clean session, keep-alive, the device id as the
 * client id (the broker takes the user name from the certificate). */
static void mqtt_connect(struct conn *c)
{
    uint8_t pkt[2 + 10 + 2 + KOS__LINK_ID_LEN];
    size_t n = 0;

    pkt[n++] = 0x10;
    pkt[n++] = (uint8_t)(sizeof(pkt) - 2);
    memcpy(pkt + n, "\0\4MQTT\4\2", 8);
    n += 8;
    pkt[n++] = (uint8_t)(MQTT_KEEPALIVE >> 8);
    pkt[n++] = (uint8_t)MQTT_KEEPALIVE;
    pkt[n++] = 0;
    pkt[n++] = KOS__LINK_ID_LEN;
    memcpy(pkt + n, c->d->id, KOS__LINK_ID_LEN);
    bufferevent_write(c->bev, pkt, sizeof(pkt));
}

static void mqtt_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    char why[256];

    if (what & BEV_EVENT_CONNECTED) {
        mqtt_connect(c);
        return;
    }
    if (c->closing) {
        conn_free(c);
        return;
    }
    tls_why(bev, why, sizeof(why));
    if (c->up)
        conn_dropped(c, why);
    else
        conn_failed(c, why);
}

/* ---- starting connections ---- */

static bool conn_start(struct gen *g, struct dev *d)
{
    struct conn *c = calloc(1, sizeof(*c));
    SSL *ssl = SSL_new(g->ctx);

    if (!c || !ssl || SSL_use_certificate(ssl, d->cert) != 1 ||
        SSL_use_PrivateKey(ssl, d->key) != 1 ||
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1") != 1)
        goto out_free;
    c->g = g;
    c->d = d;
    c->t0 = now_s();
    c->bev = bufferevent_openssl_socket_new(g->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        goto out_free;
    ssl = NULL; /* the bufferevent's now */
    c->next = g->conns;
    if (g->conns)
        g->conns->prev = c;
    g->conns = c;
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    if (g->mode == MODE_KOS)
        bufferevent_setcb(c->bev, NULL, NULL, kos_event, c);
    else
        bufferevent_setcb(c->bev, mqtt_read, mqtt_write, mqtt_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    g->inflight++;
    g->started++;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&g->addr, sizeof(g->addr)) != 0) {
        char why[128];
        snprintf(why, sizeof(why), "cannot connect: %s", strerror(errno));
        conn_failed(c, why);
    }
    return true;
out_free:
    SSL_free(ssl);
    free(c);
    say("out of memory");
    finish(g, 1);
    return false;
}

/* Starts connections while fewer than --concurrency are in flight. */
static void launch(struct gen *g)
{
    while (g->status < 0 && g->started < g->target && g->inflight < g->concurrency) {
        struct dev *d = &g->devs[g->next_dev++ % g->ndevs];
        if (!conn_start(g, d))
            return;
    }
}

/* ---- phases ---- */

static void start_phase(struct gen *g, enum phase ph, unsigned target)
{
    struct timeval tv = {g->timeout_s, 0};

    g->phase = ph;
    g->target = target;
    g->started = g->done = g->inflight = g->failures = g->dropped = g->shown = 0;
    free(g->lat);
    g->lat = calloc(target, sizeof(*g->lat));
    g->t0 = now_s();
    g->cpu0 = g->pid ? proc_cpu_s(g->pid) : -1;
    g->gcpu0 = self_cpu_s();
    evtimer_add(g->deadline, &tv);
    launch(g);
}

static void close_all(struct gen *g)
{
    while (g->conns)
        conn_free(g->conns);
}

static void start_handshakes_or_finish(struct gen *g)
{
    if (g->handshakes)
        start_phase(g, PHASE_HANDSHAKES, g->handshakes);
    else
        finish(g, 0);
}

static void after_timer(struct gen *g, unsigned s)
{
    struct timeval tv = {s, 0};

    evtimer_add(g->timer, &tv);
}

/* The links phase's measurements, in steps on a timer: 0 after --settle,
 * 1 after --hold. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gen *g = arg;
    long rss, pss;
    double n;

    (void)fd;
    (void)what;
    if (g->phase != PHASE_LINKS) { /* between the links and the handshakes */
        start_handshakes_or_finish(g);
        return;
    }
    rss = g->pid ? proc_kib(g->pid, "status", "VmRSS") : -1;
    pss = g->pid ? proc_kib(g->pid, "smaps_rollup", "Pss") : -1;
    if (g->timer_step++ == 0) {
        g->settle_rss = rss;
        g->settle_pss = pss;
        after_timer(g, g->hold_s);
        return;
    }
    n = g->links;
    printf("links %s n=%u connect_s=%.2f failures=%u dropped=%u", mode_name(g), g->links,
           g->t1 - g->t0, g->failures, g->dropped);
    print_latency(g->lat, g->links);
    if (g->pid)
        printf(" before_rss_kib=%ld before_pss_kib=%ld settle_rss_kib=%ld settle_pss_kib=%ld"
               " after_rss_kib=%ld after_pss_kib=%ld per_link_rss_kib=%.2f per_link_pss_kib=%.2f"
               " settle_per_link_rss_kib=%.2f",
               g->before_rss, g->before_pss, g->settle_rss, g->settle_pss, rss, pss,
               (double)(rss - g->before_rss) / n, (double)(pss - g->before_pss) / n,
               (double)(g->settle_rss - g->before_rss) / n);
    printf("\n");
    fflush(stdout);
    close_all(g);
    g->phase = PHASE_REGISTER; /* nothing in flight: the timer starts what comes next */
    after_timer(g, g->handshakes ? 2 : 0);
}

static void phase_done(struct gen *g)
{
    event_del(g->deadline);
    if (g->phase == PHASE_LINKS) {
        g->timer_step = 0;
        after_timer(g, g->settle_s);
        return;
    }
    double secs = g->t1 - g->t0, cpu = g->pid ? proc_cpu_s(g->pid) : -1;
    printf("handshakes %s n=%u concurrency=%u seconds=%.3f per_s=%.1f failures=%u "
           "generator_cpu_pct=%.0f",
           mode_name(g), g->target, g->concurrency, secs, g->target / secs, g->failures,
           100.0 * (self_cpu_s() - g->gcpu0) / secs);
    print_latency(g->lat, g->target);
    if (g->pid && cpu >= 0 && g->cpu0 >= 0)
        printf(" server_cpu_us=%.0f server_cpu_pct=%.0f", 1e6 * (cpu - g->cpu0) / g->target,
               100.0 * (cpu - g->cpu0) / secs);
    printf("\n");
    fflush(stdout);
    finish(g, 0);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gen *g = arg;

    (void)fd;
    (void)what;
    say("%s: %u of %u connections up after %u s (%u failed): giving up", mode_name(g), g->done,
        g->target, g->timeout_s, g->failures);
    finish(g, 1);
}

/* Starts the links phase (or the handshakes) once the devices are ready;
 * the server's memory is read first, after a second's calm. */
static void begin_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gen *g = arg;

    (void)fd;
    (void)what;
    if (g->pid) {
        g->before_rss = proc_kib(g->pid, "status", "VmRSS");
        g->before_pss = proc_kib(g->pid, "smaps_rollup", "Pss");
    }
    if (g->links)
        start_phase(g, PHASE_LINKS, g->links);
    else
        start_handshakes_or_finish(g);
}

static void devices_ready(struct gen *g)
{
    struct timeval tv = {1, 0};

    event_base_once(g->base, -1, EV_TIMEOUT, begin_cb, g, &tv);
}

/* ---- kos: registering the devices with the Studio ---- */

static void api_close(struct gen *g)
{
    for (unsigned i = 0; i < API_CONNS; i++) {
        if (g->api[i])
            evhttp_connection_free(g->api[i]);
        g->api[i] = NULL;
    }
}

/* Every device has its answer: the API connections are closed (from the
 * loop, not inside evhttp's callback), and the links can start. */
static void registered_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gen *g = arg;

    (void)fd;
    (void)what;
    api_close(g);
    event_del(g->deadline);
    if (g->api_refused || !g->ctx) {
        say("kos: Studio registered %u of %u devices", g->ndevs - g->api_refused, g->ndevs);
        finish(g, 1);
        return;
    }
    printf("registered kos n=%u seconds=%.2f\n", g->ndevs, now_s() - g->t0);
    fflush(stdout);
    devices_ready(g);
}

/* Takes the device port's address "127.x.y.z:PORT" for the connections. */
static bool set_address(struct gen *g, const char *addr)
{
    char ip[16];
    unsigned port;
    char end;

    if (sscanf(addr, "%15[0-9.]:%u%c", ip, &port, &end) != 2 || port == 0 || port > 65535 ||
        inet_pton(AF_INET, ip, &g->addr.sin_addr) != 1 ||
        (ntohl(g->addr.sin_addr.s_addr) >> 24) != 127)
        return false;
    g->addr.sin_family = AF_INET;
    g->addr.sin_port = htons((uint16_t)port);
    snprintf(g->host, sizeof(g->host), "%s", addr);
    return true;
}

/* Studio's answer to one POST /api/devices. */
static void api_answer(struct evhttp_request *req, void *arg)
{
    struct dev *d = arg;
    struct gen *g = d->g;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    struct evbuffer *in = code ? evhttp_request_get_input_buffer(req) : NULL;
    size_t len = in ? evbuffer_get_length(in) : 0;
    json_t *j = len ? json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *cert = json_string_value(json_object_get(j, "certificate"));
    const char *ca = json_string_value(json_object_get(j, "server_ca"));
    const char *addr = json_string_value(json_object_get(j, "address"));

    if (code != 201 || !id || !cert || !ca || !addr || strcmp(id, d->id) != 0 ||
        !(d->cert = cert_from_pem(cert))) {
        const char *e = json_string_value(json_object_get(j, "error"));
        if (g->api_refused++ < REASONS_SHOWN)
            say("kos: Studio did not register device %.16s: %d %s", d->id, code,
                e ? e : "(an answer without what it should hold)");
    } else if (!g->ctx) {
        X509 *cax = cert_from_pem(ca);
        g->ctx = cax && set_address(g, addr) ? client_ctx(cax, g->send_ca) : NULL;
        X509_free(cax);
        if (!g->ctx)
            say("kos: Studio's CA or device address (%s) is not usable", addr);
    }
    json_decref(j);
    if (++g->api_answers == g->ndevs)
        event_base_once(g->base, -1, EV_TIMEOUT, registered_cb, g, NULL);
}

/* Registers every device with the Studio of data folder `dir`, as kos-tool
 * keys.generate --server studio does: POST /api/devices with the public
 * key's PEM, the secret from the runtime file. The requests are queued on
 * API_CONNS connections; the answers come to api_answer(). */
static bool kos_register(struct gen *g, const char *dir)
{
    char err[512], host[64], auth[16 + KOS__STUDIO_SECRET_HEX];
    struct timeval tv = {g->timeout_s, 0};

    if (kos__studio_rt_read(dir, &g->rt, err, sizeof(err)) != KOS_STATUS_OK) {
        say("kos: no running Studio in %s: %s", dir, err);
        return false;
    }
    snprintf(host, sizeof(host), "%s:%u", g->rt.api_host, g->rt.api_port);
    snprintf(auth, sizeof(auth), "Bearer %s", g->rt.secret);
    for (unsigned i = 0; i < API_CONNS; i++) {
        g->api[i] =
            evhttp_connection_base_new(g->base, NULL, g->rt.api_host, (ev_uint16_t)g->rt.api_port);
        if (!g->api[i])
            return false;
        evhttp_connection_set_timeout(g->api[i], 60);
    }
    g->t0 = now_s();
    evtimer_add(g->deadline, &tv);
    for (unsigned i = 0; i < g->ndevs; i++) {
        struct dev *d = &g->devs[i];
        uint8_t raw[KOS__ED25519_KEY_LEN];
        struct evhttp_request *req;
        struct evkeyvalq *h;
        char name[32], *pem = NULL, *body = NULL;
        json_t *j = NULL;
        BIO *bio = BIO_new(BIO_s_mem());
        bool ok = false;

        if (bio && dev_keygen(d, raw) && PEM_write_bio_PUBKEY(bio, d->key) == 1) {
            char *data;
            long n = BIO_get_mem_data(bio, &data);
            pem = n > 0 ? strndup(data, (size_t)n) : NULL;
        }
        BIO_free(bio);
        snprintf(name, sizeof(name), "bench-%05u", i + 1);
        j = pem ? json_pack("{s:s, s:s}", "public_key", pem, "name", name) : NULL;
        body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        req = body ? evhttp_request_new(api_answer, d) : NULL;
        if (req) {
            h = evhttp_request_get_output_headers(req);
            evhttp_add_header(h, "Host", host);
            evhttp_add_header(h, "Authorization", auth);
            evhttp_add_header(h, "Content-Type", "application/json");
            evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
            ok = evhttp_make_request(g->api[i % API_CONNS], req, EVHTTP_REQ_POST, "/api/devices") ==
                 0;
        }
        free(body);
        json_decref(j);
        free(pem);
        if (!ok) {
            say("kos: cannot make device %u's key or request", i + 1);
            return false;
        }
    }
    return true;
}

/* ---- mqtt: the broker's certificates, and the clients' ---- */

/* `certs`: a CA and the broker's key and certificate in dir, made by the
 * Studio's own CA code (server/ca.c). */
static int make_certs(const char *dir)
{
    struct kos__ca *ca = NULL;
    char err[512];
    SSL_CTX *ctx;

    if (kos__ca_open(dir, &ca, err, sizeof(err)) != KOS_STATUS_OK) {
        say("certs: %s", err);
        return 1;
    }
    ctx = kos__ca_port_ctx(ca, dir, "127.0.0.1", err, sizeof(err));
    kos__ca_close(ca);
    if (!ctx) {
        say("certs: %s", err);
        return 1;
    }
    SSL_CTX_free(ctx);
    return 0;
}

/* The clients' keys and certificates from the CA in dir. */
static bool mqtt_certify(struct gen *g, const char *dir)
{
    struct kos__ca *ca = NULL;
    char err[512];
    X509 *cax;
    bool ok = false;

    if (kos__ca_open(dir, &ca, err, sizeof(err)) != KOS_STATUS_OK) {
        say("mqtt: %s", err);
        return false;
    }
    cax = cert_from_pem(kos__ca_cert_pem(ca));
    g->ctx = cax ? client_ctx(cax, g->send_ca) : NULL;
    X509_free(cax);
    if (!g->ctx)
        goto out;
    for (unsigned i = 0; i < g->ndevs; i++) {
        struct dev *d = &g->devs[i];
        uint8_t raw[KOS__ED25519_KEY_LEN];
        char *pem = NULL;

        if (!dev_keygen(d, raw) ||
            kos__ca_issue_device(ca, raw, &pem, err, sizeof(err)) != KOS_STATUS_OK) {
            say("mqtt: cannot certify client %u", i + 1);
            goto out;
        }
        d->cert = cert_from_pem(pem);
        free(pem);
        if (!d->cert)
            goto out;
    }
    ok = true;
out:
    kos__ca_close(ca);
    return ok;
}

/* ---- the command line ---- */

enum {
    OPT_STUDIO,
    OPT_CERTS,
    OPT_CONNECT,
    OPT_LINKS,
    OPT_HANDSHAKES,
    OPT_DEVICES,
    OPT_CONCURRENCY,
    OPT_PID,
    OPT_SETTLE,
    OPT_HOLD,
    OPT_TIMEOUT,
    OPT_SEND_CA,
};

static const struct kos__opt opts[] = {
    {"studio", 0, "DIR", OPT_STUDIO},
    {"certs", 0, "DIR", OPT_CERTS},
    {"connect", 0, "127.0.0.1:PORT", OPT_CONNECT},
    {"links", 0, "N", OPT_LINKS},
    {"handshakes", 0, "M", OPT_HANDSHAKES},
    {"devices", 0, "D", OPT_DEVICES},
    {"concurrency", 0, "C", OPT_CONCURRENCY},
    {"pid", 0, "PID", OPT_PID},
    {"settle", 0, "S", OPT_SETTLE},
    {"hold", 0, "S", OPT_HOLD},
    {"timeout", 0, "S", OPT_TIMEOUT},
    {"send-ca", 0, NULL, OPT_SEND_CA},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " kos --studio DIR [--links N] [--handshakes M] [OPTIONS]\n"
            "       " PROG " mqtt --certs DIR --connect 127.0.0.1:PORT [--links N]\n"
            "                [--handshakes M] [OPTIONS]\n"
            "       " PROG " certs --certs DIR\n"
            "  --links N        open N connections and keep them idle\n"
            "  --handshakes M   then make M connections, each closed once up\n"
            "  --devices D      identities to make (default N, else min(M, 1000))\n"
            "  --concurrency C  connections in flight at most (default 64)\n"
            "  --pid PID        the server whose memory and CPU time to read\n"
            "  --settle S       seconds between all up and the first reading (default %u)\n"
            "  --hold S         seconds from then to the second reading (default %u)\n"
            "  --timeout S      a phase that takes longer fails (default %u)\n"
            "  --send-ca        send the CA with each client certificate, as OpenSSL\n"
            "                   does by default (the tunnel does not)\n",
            SETTLE_DEFAULT, HOLD_DEFAULT_S, TIMEOUT_DEFAULT);
}

int main(int argc, char **argv)
{
    struct gen g = {.concurrency = 64,
                    .settle_s = SETTLE_DEFAULT,
                    .hold_s = HOLD_DEFAULT_S,
                    .timeout_s = TIMEOUT_DEFAULT,
                    .status = -1};
    const char *studio = NULL, *certs = NULL, *connect = NULL, *v;
    unsigned long n, devices = 0;
    struct rlimit rl;
    struct kos__opts p;
    int opt, rc;

    if (argc < 2 ||
        (strcmp(argv[1], "kos") && strcmp(argv[1], "mqtt") && strcmp(argv[1], "certs"))) {
        usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    g.mode = !strcmp(argv[1], "mqtt") ? MODE_MQTT : MODE_KOS;
    kos__opts_init(&p, argv[1], argc - 1, argv + 1, opts, sizeof(opts) / sizeof(opts[0]));
    p.prog = PROG;
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case KOS__OPTS_ARG:
            return kos__opts_usage_error(&p, "unexpected argument '%s'", v);
        case OPT_STUDIO:
            studio = v;
            break;
        case OPT_CERTS:
            certs = v;
            break;
        case OPT_CONNECT:
            connect = v;
            break;
        case OPT_SEND_CA:
            g.send_ca = true;
            break;
        case OPT_PID:
            if (!kos__opts_number(&p, "pid", v, 1, 4194304, "a process id", &n))
                return 2;
            g.pid = (pid_t)n;
            break;
        default: {
            static const char *const names[] = {
                [OPT_LINKS] = "links",     [OPT_HANDSHAKES] = "handshakes",
                [OPT_DEVICES] = "devices", [OPT_CONCURRENCY] = "concurrency",
                [OPT_SETTLE] = "settle",   [OPT_HOLD] = "hold",
                [OPT_TIMEOUT] = "timeout"};
            if (!kos__opts_number(&p, names[opt], v, opt == OPT_CONCURRENCY || opt == OPT_TIMEOUT,
                                  opt == OPT_LINKS || opt == OPT_DEVICES ? 100000 : 10000000,
                                  "a count", &n))
                return 2;
            if (opt == OPT_LINKS)
                g.links = (unsigned)n;
            else if (opt == OPT_HANDSHAKES)
                g.handshakes = (unsigned)n;
            else if (opt == OPT_DEVICES)
                devices = n;
            else if (opt == OPT_CONCURRENCY)
                g.concurrency = (unsigned)n;
            else if (opt == OPT_SETTLE)
                g.settle_s = (unsigned)n;
            else if (opt == OPT_HOLD)
                g.hold_s = (unsigned)n;
            else
                g.timeout_s = (unsigned)n;
            break;
        }
        }
    }
    if (!strcmp(argv[1], "certs")) {
        if (!certs)
            return kos__opts_usage_error(&p, "give --certs DIR");
        return make_certs(certs);
    }
    if (g.mode == MODE_KOS ? !studio : !certs || !connect)
        return kos__opts_usage_error(&p, g.mode == MODE_KOS ? "give --studio DIR"
                                                            : "give --certs DIR and --connect");
    if (!g.links && !g.handshakes)
        return kos__opts_usage_error(&p, "give --links N, --handshakes M or both");
    g.ndevs = devices               ? (unsigned)devices
              : g.links             ? g.links
              : g.handshakes < 1000 ? g.handshakes
                                    : 1000;
    if (g.ndevs < g.links)
        return kos__opts_usage_error(&p, "--devices is less than --links");
    if (g.handshakes && g.ndevs < 2 * g.concurrency)
        return kos__opts_usage_error(&p, "--handshakes needs at least twice --concurrency "
                                         "devices (one device connects once at a time)");
    /* One descriptor per connection, and a few. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        (rlim_t)g.links + 2 * g.concurrency + API_CONNS + 32 > rl.rlim_cur) {
        say("%u links need more open files than this process may have (%llu)", g.links,
            (unsigned long long)rl.rlim_cur);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    g.devs = calloc(g.ndevs, sizeof(*g.devs));
    g.base = event_base_new();
    if (!g.devs || !g.base || !(g.timer = evtimer_new(g.base, timer_cb, &g)) ||
        !(g.deadline = evtimer_new(g.base, deadline_cb, &g))) {
        say("out of memory");
        return 1;
    }
    for (unsigned i = 0; i < g.ndevs; i++)
        g.devs[i].g = &g;
    if (g.mode == MODE_KOS) {
        if (!kos_register(&g, studio))
            g.status = 1;
    } else if (!set_address(&g, connect)) {
        say("--connect takes 127.x.y.z:PORT, not '%s'", connect);
        g.status = 2;
    } else if (!mqtt_certify(&g, certs)) {
        g.status = 1;
    } else {
        devices_ready(&g);
    }
    if (g.status < 0)
        event_base_dispatch(g.base);
    rc = g.status < 0 ? 1 : g.status;
    close_all(&g);
    api_close(&g);
    for (unsigned i = 0; i < g.ndevs; i++) {
        EVP_PKEY_free(g.devs[i].key);
        X509_free(g.devs[i].cert);
    }
    free(g.devs);
    free(g.lat);
    SSL_CTX_free(g.ctx);
    event_free(g.timer);
    event_free(g.deadline);
    event_base_free(g.base);
    return rc;
}
