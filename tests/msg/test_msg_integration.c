/*
 * test_msg_integration.c - messaging end to end, without KOS Core: the real
 * msg_server binary, booted and fed ADD_CLIENT records by the test (as Core
 * would), and app processes using the public API (include/kos/msg.h).
 *
 * Each test starts its own message server(s) and forks its apps; an app
 * reports failure through its exit code (and a line on stderr naming the
 * failed check), and the test asserts every exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <kos/msg.h>

#include "channel_int.h"
#include "harness.h"
#include "msg_int.h"
#include "msg_wire_int.h"

#ifndef KOS_MSG_SERVER
#error "KOS_MSG_SERVER must name the msg_server binary"
#endif

/* ---- checks inside app processes ---- */

#define CK(cond)                                                                                   \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

#define CKS(expr, want)                                                                            \
    do {                                                                                           \
        kos_status_t st_ = (expr);                                                                 \
        if (st_ != (want)) {                                                                       \
            fprintf(stderr, "%s:%d: %s gave '%s', expected '%s'\n", __FILE__, __LINE__, #expr,     \
                    kos_status_str(st_), kos_status_str(want));                                    \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the test's own server app ---- */

enum {
    L_ECHO = 1,    /* reply: param + 1, payload with every byte ^ 0x5a */
    L_WHOAMI,      /* reply: param = caller's app id, payload = its name */
    L_COUNT,       /* reply: param = requests this server's code has seen */
    L_NOTIFY,      /* notify the caller `param` times; reply: label = OKs, param = last status */
    L_DIE,         /* exit at once, without replying */
    L_REVOKE_ME,   /* reply, then revoke the caller */
    L_HOLD_REVOKE, /* revoke the caller without replying */
    L_QUIT,        /* reply, then close the endpoint; exit once `quits` have come */
    L_TAKE,        /* request carries a token: call WHOAMI on it, reply its answer */
    L_GIVE,        /* reply with the token taken by L_TAKE */
};

struct srv_arg {
    int sock;
    const char *server;
    uint32_t app_id;
    const char *protocol;
    bool poll_loop; /* wait with poll() on kos_endpoint_fd, receive with timeout 0 */
    int delay_ms;   /* sleep before publishing */
    int quits;      /* QUITs to wait for (default 1) */
};

/* Receives the way an app with its own event loop would. */
/* The loop of a server with its own poll(): after a request, spin for the
 * next (KOS_TIMEOUT_SPIN, which never sleeps and answers WOULD_BLOCK, never
 * TIMEOUT), else look and sleep in poll(). */
static kos_status_t receive_polling(kos_endpoint_t *ep, struct kos_msg *m, struct kos_caller *from)
{
    static bool busy;
    for (;;) {
        kos_status_t st = kos_endpoint_receive(ep, m, from, busy ? KOS_TIMEOUT_SPIN : 0);
        busy = st == KOS_STATUS_OK;
        if (st != KOS_STATUS_WOULD_BLOCK)
            return st;
        struct pollfd p = {.fd = kos_endpoint_fd(ep), .events = POLLIN};
        if (poll(&p, 1, 20000) != 1)
            return KOS_STATUS_TIMEOUT;
    }
}

/* Serves one request of the test protocol. Returns true on QUIT. */
static bool serve_one(kos_endpoint_t *ep, const struct kos_msg *m, const struct kos_caller *from,
                      unsigned *seen, kos_token_t **taken)
{
    uint8_t out[KOS_MSG_MAX_PAYLOAD];
    struct kos_msg r = {0};

    (*seen)++;
    switch (m->label) {
    case L_ECHO:
        for (uint32_t i = 0; i < m->len; i++)
            out[i] = ((const uint8_t *)m->payload)[i] ^ 0x5a;
        r.param = m->param + 1;
        r.payload = out;
        r.len = m->len;
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, &r), KOS_STATUS_OK);
        return false;
    case L_WHOAMI:
        r.param = from->app_id;
        r.payload = from->app;
        r.len = (uint32_t)strlen(from->app);
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, &r), KOS_STATUS_OK);
        return false;
    case L_COUNT:
        r.param = *seen;
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, &r), KOS_STATUS_OK);
        return false;
    case L_NOTIFY: {
        kos_status_t last = KOS_STATUS_OK;
        for (uint64_t i = 0; i < m->param; i++) {
            char text[32];
            int n = snprintf(text, sizeof(text), "note-%u", (unsigned)i);
            struct kos_msg note = {.label = 7, .param = i, .payload = text, .len = (uint32_t)n};
            last = kos_endpoint_notify(ep, from->client, &note);
            if (last == KOS_STATUS_OK)
                r.label++;
        }
        r.param = last;
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, &r), KOS_STATUS_OK);
        return false;
    }
    case L_DIE:
        _exit(0);
    case L_REVOKE_ME:
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, NULL), KOS_STATUS_OK);
        CKS(kos_endpoint_revoke(ep, from->client), KOS_STATUS_OK);
        CKS(kos_endpoint_revoke(ep, from->client), KOS_STATUS_INVALID_TOKEN);
        return false;
    case L_HOLD_REVOKE:
        usleep(50000); /* let the caller go to sleep */
        CKS(kos_endpoint_revoke(ep, from->client), KOS_STATUS_OK);
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, NULL), KOS_STATUS_INVALID_TOKEN);
        return false;
    case L_QUIT:
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, NULL), KOS_STATUS_OK);
        return true;
    case L_TAKE: {
        CK(m->token != NULL);
        CK(strcmp(kos_token_protocol(m->token), "echo") == 0);
        struct kos_msg q = {.label = L_WHOAMI}, a;
        CKS(kos_msg_call(m->token, &q, &a, 5000), KOS_STATUS_OK);
        r.param = a.param;
        kos_token_close(*taken);
        *taken = m->token;
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, &r), KOS_STATUS_OK);
        return false;
    }
    case L_GIVE:
        CK(*taken != NULL);
        r.token = *taken;
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_OK, &r), KOS_STATUS_OK);
        return false;
    default:
        CKS(kos_endpoint_reply(ep, from, KOS_STATUS_UNSUPPORTED, NULL), KOS_STATUS_OK);
        return false;
    }
}

static int echo_server(void *p, const struct kh_sync *sync)
{
    struct srv_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, a->server, a->app_id);
    kos_endpoint_t *ep;
    kos_token_t *taken = NULL;
    unsigned seen = 0;
    int quits = a->quits ? a->quits : 1;

    if (a->delay_ms)
        usleep((useconds_t)a->delay_ms * 1000);
    CKS(kos_dir_publish(dir, a->protocol, &ep), KOS_STATUS_OK);
    {
        /* A timeout below KOS_TIMEOUT_SPIN is refused (and takes nothing). */
        struct kos_msg m;
        struct kos_caller from;
        CKS(kos_endpoint_receive(ep, &m, &from, -3), KOS_STATUS_INVALID_ARGUMENT);
        CKS(kos_endpoint_serve(NULL, ep, NULL, NULL), KOS_STATUS_INVALID_ARGUMENT);
    }
    kh_signal(sync);
    while (quits > 0) {
        struct kos_msg m;
        struct kos_caller from;
        kos_status_t st = a->poll_loop ? receive_polling(ep, &m, &from)
                                       : kos_endpoint_receive(ep, &m, &from, 20000);
        CKS(st, KOS_STATUS_OK);
        if (serve_one(ep, &m, &from, &seen, &taken))
            quits--;
    }
    kos_token_close(taken);
    kos_endpoint_close(ep);
    kos__dir_destroy(dir);
    return 0;
}

/* ---- client helpers ---- */

static void call_echo(kos_token_t *t, uint32_t len)
{
    static uint8_t in[KOS_MSG_MAX_PAYLOAD];
    struct kos_msg q = {.label = L_ECHO, .param = 1000 + len, .payload = in, .len = len}, r;

    for (uint32_t i = 0; i < len; i++)
        in[i] = (uint8_t)(i * 7 + len);
    CKS(kos_msg_call(t, &q, &r, 5000), KOS_STATUS_OK);
    CK(r.param == 1001 + len);
    CK(r.len == len);
    CK(r.token == NULL);
    for (uint32_t i = 0; i < len; i++)
        CK(((const uint8_t *)r.payload)[i] == (in[i] ^ 0x5a));
}

static kos_status_t call_label(kos_token_t *t, uint32_t label, uint64_t param, struct kos_msg *r,
                               int timeout_ms)
{
    struct kos_msg q = {.label = label, .param = param};
    struct kos_msg dummy;
    return kos_msg_call(t, &q, r ? r : &dummy, timeout_ms);
}

static bool fd_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1;
}

/* ---- fixture: one server and its apps ---- */

struct world {
    char tmp[64];
    struct kh_server srv[2];
    int n_srv;
};

static void world_start(struct world *w, int n_servers)
{
    char log[128];

    assert_int_equal(kh_tmpdir(w->tmp, sizeof(w->tmp)), 0);
    w->n_srv = n_servers;
    for (int i = 0; i < n_servers; i++) {
        char name[16];
        snprintf(name, sizeof(name), "msg%d", i);
        snprintf(log, sizeof(log), "%s/%s.log", w->tmp, name);
        assert_int_equal(kh_server_start(&w->srv[i], KOS_MSG_SERVER, name, log), 0);
    }
}

static int add_app(struct world *w, int server, uint32_t id, const char *name,
                   const char *const *publish, const char *const *request)
{
    int sock = -1;
    assert_int_equal(kh_server_add_app(&w->srv[server], id, name, publish, request, &sock), 0);
    return sock;
}

static void world_stop(struct world *w)
{
    for (int i = 0; i < w->n_srv; i++) {
        int status = kh_server_stop(&w->srv[i]);
        if (status != 0) {
            char cmd[300];
            snprintf(cmd, sizeof(cmd), "cat %s >&2", w->srv[i].log_path);
            (void)!system(cmd);
        }
        assert_int_equal(status, 0); /* a clean exit 0 after STOP: it never crashed */
    }
}

static void spawn(struct kh_child *c, kh_fn fn, void *arg, int sock)
{
    assert_int_equal(kh_spawn(c, fn, arg, &sock, 1), 0);
    close(sock); /* the app's process holds it now, alone */
}

static const char *const ECHO[] = {"echo", NULL};

/* ==== publish, request, denial ==== */

struct cli_arg {
    int sock, sock2;
    uint32_t app_id;
    const char *server;
};

static int denied_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;
    kos_endpoint_t *ep;

    (void)sync;
    CKS(kos_dir_request(dir, "secret_protocol", 1000, &t), KOS_STATUS_UNAUTHORIZED);
    CKS(kos_dir_request(dir, "no such name!", 1000, &t), KOS_STATUS_INVALID_ARGUMENT);
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    CK(strcmp(kos_token_protocol(t), "echo") == 0);
    /* Granted to publish too, but the server app holds it already. */
    CKS(kos_dir_publish(dir, "echo", &ep), KOS_STATUS_ALREADY_EXISTS);
    CKS(kos_dir_publish(dir, "secret_protocol", &ep), KOS_STATUS_UNAUTHORIZED);
    CKS(kos_dir_ping(dir, 1000), KOS_STATUS_OK);
    call_echo(t, 64);
    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static void test_publish_request_denied(void **state)
{
    struct world w;
    struct kh_child s, c;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    const char *const cpub[] = {"echo", NULL};
    int cs = add_app(&w, 0, 2, "ping", cpub, ECHO);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo"};
    struct cli_arg ca = {.sock = cs, .app_id = 2};
    spawn(&s, echo_server, &sa, ss);
    spawn(&c, denied_client, &ca, cs);
    assert_int_equal(kh_reap(&c, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
    assert_true(kh_log_contains(
        &w.srv[0], "denied: app 'ping' requested 'secret_protocol' (not granted by the manifest)"));
    assert_true(kh_log_contains(&w.srv[0], "denied: app 'ping' tried to publish 'secret_protocol' "
                                           "(not granted by the manifest)"));
    assert_true(kh_log_contains(&w.srv[0], "app 'server' publishes 'echo'"));
}

/* A server may only publish what it is granted. */
static int greedy_server(void *p, const struct kh_sync *sync)
{
    struct srv_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_endpoint_t *ep;

    (void)sync;
    CKS(kos_dir_publish(dir, "not_mine", &ep), KOS_STATUS_UNAUTHORIZED);
    kos__dir_destroy(dir);
    return 0;
}

static void test_publish_denied(void **state)
{
    struct world w;
    struct kh_child s;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 0, "greedy", ECHO, NULL); /* app ids start at 0 */
    struct srv_arg sa = {.sock = ss, .app_id = 0};
    spawn(&s, greedy_server, &sa, ss);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
    assert_true(kh_log_contains(
        &w.srv[0],
        "denied: app 'greedy' tried to publish 'not_mine' (not granted by the manifest)"));
}

/* ==== a request waits for a late publisher ==== */

static int waiting_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;

    (void)sync;
    CKS(kos_dir_request(dir, "echo", 0, &t), KOS_STATUS_UNAVAILABLE);
    CKS(kos_dir_request(dir, "echo", 50, &t), KOS_STATUS_TIMEOUT);
    uint64_t t0 = ms_now();
    CKS(kos_dir_request(dir, "echo", 10000, &t), KOS_STATUS_OK);
    CK(ms_now() - t0 >= 100); /* it did wait for the publisher */
    call_echo(t, 0);
    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static void test_request_waits_for_publisher(void **state)
{
    struct world w;
    struct kh_child s, c;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int cs = add_app(&w, 0, 2, "client", NULL, ECHO);
    struct srv_arg sa = {
        .sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo", .delay_ms = 400};
    struct cli_arg ca = {.sock = cs, .app_id = 2};
    spawn(&c, waiting_client, &ca, cs);
    spawn(&s, echo_server, &sa, ss);
    assert_int_equal(kh_reap(&c, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
}

/* ==== calls: sizes, limits, identity, pings ==== */

static int calling_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;
    struct kos_msg r;
    static uint8_t big[KOS_MSG_MAX_PAYLOAD + 1];

    (void)sync;
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    call_echo(t, 0);
    call_echo(t, 64);
    call_echo(t, KOS_MSG_MAX_PAYLOAD);
    for (int i = 0; i < 1000; i++)
        call_echo(t, (uint32_t)(i * 37) % (KOS_MSG_MAX_PAYLOAD + 1));

    struct kos_msg q = {.label = L_ECHO, .payload = big, .len = KOS_MSG_MAX_PAYLOAD + 1};
    CKS(kos_msg_call(t, &q, &r, 5000), KOS_STATUS_TOO_LARGE);
    q.payload = NULL;
    q.len = 4;
    CKS(kos_msg_call(t, &q, &r, 5000), KOS_STATUS_INVALID_ARGUMENT);
    q = (struct kos_msg){.label = KOS_MSG_LABEL_RESERVED + 5};
    CKS(kos_msg_call(t, &q, &r, 5000), KOS_STATUS_INVALID_ARGUMENT);

    /* The server's answer comes back as the call's status. */
    CKS(call_label(t, 999, 0, &r, 5000), KOS_STATUS_UNSUPPORTED);

    /* Caller identity, as the message server vouches for it. */
    CKS(call_label(t, L_WHOAMI, 0, &r, 5000), KOS_STATUS_OK);
    CK(r.param == a->app_id);
    CK(r.len == strlen("client") && memcmp(r.payload, "client", r.len) == 0);

    /* Pings never reach the server's code. */
    for (int i = 0; i < 5; i++)
        CKS(kos_token_ping(t, 5000), KOS_STATUS_OK);
    CKS(kos_dir_ping(dir, 5000), KOS_STATUS_OK);
    CKS(call_label(t, L_COUNT, 0, &r, 5000), KOS_STATUS_OK);
    CK(r.param == 3 + 1000 + 1 + 1 + 1); /* echoes, unsupported, whoami, count */

    /* Reply may be NULL. */
    struct kos_msg e = {.label = L_ECHO};
    CKS(kos_msg_call(t, &e, NULL, 5000), KOS_STATUS_OK);

    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    /* The server closes its endpoint after QUIT: no hang, a clear status. */
    CKS(call_label(t, L_ECHO, 0, NULL, -1), KOS_STATUS_UNAVAILABLE);
    CKS(kos_token_ping(t, -1), KOS_STATUS_UNAVAILABLE);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static void test_calls(void **state)
{
    struct world w;
    struct kh_child s, c;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int cs = add_app(&w, 0, 7, "client", NULL, ECHO);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo"};
    struct cli_arg ca = {.sock = cs, .app_id = 7};
    spawn(&s, echo_server, &sa, ss);
    spawn(&c, calling_client, &ca, cs);
    assert_int_equal(kh_reap(&c, 30000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
}

/* The same through a server that waits in its own poll loop. */
static void test_calls_poll_loop(void **state)
{
    struct world w;
    struct kh_child s, c;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int cs = add_app(&w, 0, 7, "client", NULL, ECHO);
    struct srv_arg sa = {
        .sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo", .poll_loop = true};
    struct cli_arg ca = {.sock = cs, .app_id = 7};
    spawn(&s, echo_server, &sa, ss);
    spawn(&c, calling_client, &ca, cs);
    assert_int_equal(kh_reap(&c, 30000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
}

/* ==== deferred, out-of-order replies ==== */

static int deferring_server(void *p, const struct kh_sync *sync)
{
    struct srv_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_endpoint_t *ep;
    struct kos_msg m[2];
    struct kos_caller from[2];
    unsigned seen = 0;
    kos_token_t *taken = NULL;

    CKS(kos_dir_publish(dir, "echo", &ep), KOS_STATUS_OK);
    kh_signal(sync);
    /* Take both calls first; nothing is answered yet. */
    for (int i = 0; i < 2; i++) {
        CKS(kos_endpoint_receive(ep, &m[i], &from[i], 20000), KOS_STATUS_OK);
        CK(m[i].label == L_ECHO);
    }
    CK(from[0].client != from[1].client);
    CK(from[0].app_id != from[1].app_id);
    /* Each caller keeps its own name after later receives. */
    for (int i = 0; i < 2; i++)
        CK(strcmp(from[i].app, from[i].app_id == 2 ? "alice" : "bob") == 0);
    /* The endpoint's fd shows nothing more waiting. */
    struct kos_msg x;
    struct kos_caller xf;
    CKS(kos_endpoint_receive(ep, &x, &xf, 0), KOS_STATUS_WOULD_BLOCK);
    CK(!fd_readable(kos_endpoint_fd(ep), 0));
    /* Answer the second first, each with the first's own param + 1. */
    for (int i = 1; i >= 0; i--) {
        struct kos_msg r = {.param = m[i].param + 1};
        CKS(kos_endpoint_reply(ep, &from[i], KOS_STATUS_OK, &r), KOS_STATUS_OK);
    }
    /* A call is answered once. */
    CKS(kos_endpoint_reply(ep, &from[0], KOS_STATUS_OK, NULL), KOS_STATUS_INVALID_ARGUMENT);
    int quits = 2;
    while (quits) {
        struct kos_msg q;
        struct kos_caller f;
        CKS(kos_endpoint_receive(ep, &q, &f, 20000), KOS_STATUS_OK);
        if (serve_one(ep, &q, &f, &seen, &taken))
            quits--;
    }
    kos_endpoint_close(ep);
    kos__dir_destroy(dir);
    return 0;
}

static int deferred_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;
    struct kos_msg r;

    (void)sync;
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    CKS(call_label(t, L_ECHO, a->app_id * 100, &r, 10000), KOS_STATUS_OK);
    CK(r.param == a->app_id * 100 + 1);
    call_echo(t, 100);
    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static void test_deferred_out_of_order(void **state)
{
    struct world w;
    struct kh_child s, c1, c2;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int cs1 = add_app(&w, 0, 2, "alice", NULL, ECHO);
    int cs2 = add_app(&w, 0, 3, "bob", NULL, ECHO);
    struct srv_arg sa = {.sock = ss, .app_id = 1};
    struct cli_arg ca1 = {.sock = cs1, .app_id = 2}, ca2 = {.sock = cs2, .app_id = 3};
    spawn(&s, deferring_server, &sa, ss);
    spawn(&c1, deferred_client, &ca1, cs1);
    spawn(&c2, deferred_client, &ca2, cs2);
    assert_int_equal(kh_reap(&c1, 20000), 0);
    assert_int_equal(kh_reap(&c2, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
}

/* ==== notifications ==== */

static int notified_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;
    struct kos_msg r, n;

    (void)sync;
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    CK(!fd_readable(kos_token_fd(t), 0));
    CKS(kos_token_receive(t, &n, 0), KOS_STATUS_WOULD_BLOCK);
    CKS(kos_token_receive(t, &n, 50), KOS_STATUS_TIMEOUT);

    /* Five notifications into a ring of four: the fifth is refused. */
    CKS(call_label(t, L_NOTIFY, 5, &r, 5000), KOS_STATUS_OK);
    CK(r.label == KOS__CHAN_NOTES);
    CK(r.param == KOS_STATUS_BUSY);
    CK(fd_readable(kos_token_fd(t), 1000));
    for (unsigned i = 0; i < KOS__CHAN_NOTES; i++) {
        char text[32];
        int len = snprintf(text, sizeof(text), "note-%u", i);
        CKS(kos_token_receive(t, &n, 0), KOS_STATUS_OK);
        CK(n.label == 7 && n.param == i && n.token == NULL);
        CK(n.len == (uint32_t)len && memcmp(n.payload, text, n.len) == 0);
    }
    CKS(kos_token_receive(t, &n, 0), KOS_STATUS_WOULD_BLOCK);
    CK(!fd_readable(kos_token_fd(t), 0)); /* nothing left: not readable */

    /* Room again; a notification wakes a poll on the token's fd. */
    CKS(call_label(t, L_NOTIFY, 1, &r, 5000), KOS_STATUS_OK);
    CK(r.label == 1 && r.param == KOS_STATUS_OK);
    CK(fd_readable(kos_token_fd(t), 1000));
    CKS(kos_token_receive(t, &n, 1000), KOS_STATUS_OK);
    CK(n.param == 0);

    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static void test_notifications(void **state)
{
    struct world w;
    struct kh_child s, c;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int cs = add_app(&w, 0, 2, "client", NULL, ECHO);
    struct srv_arg sa = {
        .sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo", .poll_loop = true};
    struct cli_arg ca = {.sock = cs, .app_id = 2};
    spawn(&s, echo_server, &sa, ss);
    spawn(&c, notified_client, &ca, cs);
    assert_int_equal(kh_reap(&c, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
}

/* ==== token transfer ==== */

static int transferring_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *echo, *broker, *back;
    struct kos_msg r;

    (void)sync;
    CKS(kos_dir_request(dir, "echo", 5000, &echo), KOS_STATUS_OK);
    CKS(kos_dir_request(dir, "broker", 5000, &broker), KOS_STATUS_OK);
    call_echo(echo, 10);

    /* Hand our echo token to the broker: it calls echo as itself. */
    struct kos_msg q = {.label = L_TAKE, .token = echo};
    CKS(kos_msg_call(broker, &q, &r, 10000), KOS_STATUS_OK);
    CK(r.param == 2); /* the echo server saw the broker (app 2) call */

    /* We keep our own token. */
    call_echo(echo, 20);
    CKS(call_label(echo, L_WHOAMI, 0, &r, 5000), KOS_STATUS_OK);
    CK(r.param == a->app_id);

    /* And a token can come back in a reply: a new one, ours. */
    CKS(call_label(broker, L_GIVE, 0, &r, 10000), KOS_STATUS_OK);
    CK(r.token != NULL);
    back = r.token;
    CK(back != echo);
    CK(strcmp(kos_token_protocol(back), "echo") == 0);
    CKS(call_label(back, L_WHOAMI, 0, &r, 5000), KOS_STATUS_OK);
    CK(r.param == a->app_id);
    kos_token_close(back);

    CKS(call_label(broker, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    CKS(call_label(echo, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(echo);
    kos_token_close(broker);
    kos__dir_destroy(dir);
    return 0;
}

static void test_token_transfer(void **state)
{
    struct world w;
    struct kh_child s, b, c;
    (void)state;

    world_start(&w, 1);
    const char *const broker_pub[] = {"broker", NULL};
    const char *const client_req[] = {"echo", "broker", NULL};
    int ss = add_app(&w, 0, 1, "echo_server", ECHO, NULL);
    int bs = add_app(&w, 0, 2, "broker", broker_pub, NULL); /* may not request echo */
    int cs = add_app(&w, 0, 3, "client", NULL, client_req);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo"};
    struct srv_arg ba = {.sock = bs, .server = "msg0", .app_id = 2, .protocol = "broker"};
    struct cli_arg ca = {.sock = cs, .app_id = 3};
    spawn(&s, echo_server, &sa, ss);
    spawn(&b, echo_server, &ba, bs);
    spawn(&c, transferring_client, &ca, cs);
    assert_int_equal(kh_reap(&c, 20000), 0);
    assert_int_equal(kh_reap(&b, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
}

/* ==== revocation ==== */

static int revoked_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;
    struct kos_msg n;

    (void)sync;
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    call_echo(t, 8);
    CKS(call_label(t, L_REVOKE_ME, 0, NULL, 5000), KOS_STATUS_OK);
    CK(fd_readable(kos_token_fd(t), 2000));
    CKS(call_label(t, L_ECHO, 0, NULL, 5000), KOS_STATUS_INVALID_TOKEN);
    CKS(kos_token_ping(t, 5000), KOS_STATUS_INVALID_TOKEN);
    CKS(kos_token_receive(t, &n, 0), KOS_STATUS_INVALID_TOKEN);
    CK(fd_readable(kos_token_fd(t), 0)); /* and it stays readable */
    kos_token_close(t);

    /* Revoked while the call is pending: the caller is released. */
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    CKS(call_label(t, L_HOLD_REVOKE, 0, NULL, -1), KOS_STATUS_INVALID_TOKEN);
    kos_token_close(t);

    /* A revoked token cannot be passed on either. */
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static void test_revoke(void **state)
{
    struct world w;
    struct kh_child s, c;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int cs = add_app(&w, 0, 2, "client", NULL, ECHO);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo"};
    struct cli_arg ca = {.sock = cs, .app_id = 2};
    spawn(&s, echo_server, &sa, ss);
    spawn(&c, revoked_client, &ca, cs);
    assert_int_equal(kh_reap(&c, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
}

/* ==== a server dies ==== */

static int orphaned_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t, *t2;
    struct kos_msg n;

    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    CKS(kos_dir_request(dir, "echo2", 5000, &t2), KOS_STATUS_OK);
    call_echo(t, 16);
    call_echo(t2, 16);

    /* The server dies while our call waits for it: no hang. */
    CKS(call_label(t, L_DIE, 0, NULL, -1), KOS_STATUS_UNAVAILABLE);
    CKS(call_label(t, L_ECHO, 0, NULL, -1), KOS_STATUS_UNAVAILABLE);
    CKS(kos_token_ping(t, -1), KOS_STATUS_UNAVAILABLE);
    CK(fd_readable(kos_token_fd(t), 2000));
    CKS(kos_token_receive(t, &n, 0), KOS_STATUS_UNAVAILABLE);
    CKS(kos_dir_request(dir, "echo", 0, &t), KOS_STATUS_UNAVAILABLE); /* withdrawn */
    kos_token_close(t);

    /* Core reports the other server down (its process still runs). */
    kh_signal(sync);
    CK(kh_wait_go(sync, 10000) == 0);
    kos_status_t st = KOS_STATUS_OK;
    for (int i = 0; i < 200 && st == KOS_STATUS_OK; i++) {
        st = call_label(t2, L_ECHO, 0, NULL, 1000);
        if (st == KOS_STATUS_OK)
            usleep(10000);
    }
    CKS(st, KOS_STATUS_UNAVAILABLE);
    kos_token_close(t2);
    kos__dir_destroy(dir);
    return 0;
}

static void test_server_death(void **state)
{
    struct world w;
    struct kh_child s, s2, c;
    (void)state;

    world_start(&w, 1);
    const char *const echo2[] = {"echo2", NULL};
    const char *const both[] = {"echo", "echo2", NULL};
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int ss2 = add_app(&w, 0, 2, "server2", echo2, NULL);
    int cs = add_app(&w, 0, 3, "client", NULL, both);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo"};
    struct srv_arg sa2 = {.sock = ss2, .server = "msg0", .app_id = 2, .protocol = "echo2"};
    struct cli_arg ca = {.sock = cs, .app_id = 3};
    spawn(&s, echo_server, &sa, ss);
    spawn(&s2, echo_server, &sa2, ss2);
    spawn(&c, orphaned_client, &ca, cs);
    assert_int_equal(kh_wait_ready(&c, 20000), 0);
    assert_int_equal(kh_server_app_down(&w.srv[0], 2), 0);
    assert_int_equal(kh_go(&c), 0);
    assert_int_equal(kh_reap(&c, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    kill(s2.pid, SIGKILL);
    assert_int_equal(kh_reap(&s2, 20000), 128 + SIGKILL);
    world_stop(&w);
}

/* ==== two message servers ==== */

static int two_dir_server(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *d0 = kh_dir(a->sock, "msg0", a->app_id);
    kos_dir_t *d1 = kh_dir(a->sock2, "msg1", a->app_id);
    kos_endpoint_t *ep[2];
    unsigned seen = 0;
    kos_token_t *taken = NULL;
    int quits = 2;

    CK(strcmp(kos__dir_server(d1), "msg1") == 0);
    CKS(kos_dir_publish(d0, "alpha", &ep[0]), KOS_STATUS_OK);
    CKS(kos_dir_publish(d1, "beta", &ep[1]), KOS_STATUS_OK);
    CKS(kos_dir_publish(d1, "alpha", &ep[1]), KOS_STATUS_UNAUTHORIZED); /* not on msg1 */
    kh_signal(sync);
    while (quits) {
        struct pollfd pf[2] = {{.fd = kos_endpoint_fd(ep[0]), .events = POLLIN},
                               {.fd = kos_endpoint_fd(ep[1]), .events = POLLIN}};
        CK(poll(pf, 2, 20000) > 0);
        for (int i = 0; i < 2; i++) {
            struct kos_msg m;
            struct kos_caller f;
            while (kos_endpoint_receive(ep[i], &m, &f, 0) == KOS_STATUS_OK)
                if (serve_one(ep[i], &m, &f, &seen, &taken))
                    quits--;
        }
    }
    kos_endpoint_close(ep[0]);
    kos_endpoint_close(ep[1]);
    kos__dir_destroy(d0);
    kos__dir_destroy(d1);
    return 0;
}

static int two_dir_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *d0 = kh_dir(a->sock, "msg0", a->app_id);
    kos_dir_t *d1 = kh_dir(a->sock2, "msg1", a->app_id);
    kos_token_t *ta, *tb;
    struct kos_msg r;

    (void)sync;
    CKS(kos_dir_request(d0, "alpha", 5000, &ta), KOS_STATUS_OK);
    CKS(kos_dir_request(d1, "beta", 5000, &tb), KOS_STATUS_OK);
    CKS(kos_dir_request(d1, "alpha", 0, &ta), KOS_STATUS_UNAUTHORIZED);
    CKS(kos_dir_ping(d0, 5000), KOS_STATUS_OK);
    CKS(kos_dir_ping(d1, 5000), KOS_STATUS_OK);
    call_echo(ta, 64);
    call_echo(tb, 64);
    CKS(call_label(tb, L_WHOAMI, 0, &r, 5000), KOS_STATUS_OK);
    CK(r.param == a->app_id && r.len == 6 && memcmp(r.payload, "client", 6) == 0);
    /* A token travels only within its own message server. */
    struct kos_msg q = {.label = L_ECHO, .token = ta};
    CKS(kos_msg_call(tb, &q, &r, 5000), KOS_STATUS_INVALID_ARGUMENT);
    CKS(kos_token_ping(ta, 5000), KOS_STATUS_OK);
    CKS(kos_token_ping(tb, 5000), KOS_STATUS_OK);
    CKS(call_label(ta, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    CKS(call_label(tb, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(ta);
    kos_token_close(tb);
    kos__dir_destroy(d0);
    kos__dir_destroy(d1);
    return 0;
}

static void test_two_message_servers(void **state)
{
    struct world w;
    struct kh_child s, c;
    (void)state;

    world_start(&w, 2);
    const char *const alpha[] = {"alpha", NULL};
    const char *const beta[] = {"beta", NULL};
    struct cli_arg sa = {.app_id = 1}, ca = {.app_id = 2};
    sa.sock = add_app(&w, 0, 1, "server", alpha, NULL);
    sa.sock2 = add_app(&w, 1, 1, "server", beta, NULL);
    ca.sock = add_app(&w, 0, 2, "client", NULL, alpha);
    ca.sock2 = add_app(&w, 1, 2, "client", NULL, beta);
    int keep_s[2] = {sa.sock, sa.sock2}, keep_c[2] = {ca.sock, ca.sock2};
    assert_int_equal(kh_spawn(&s, two_dir_server, &sa, keep_s, 2), 0);
    assert_int_equal(kh_spawn(&c, two_dir_client, &ca, keep_c, 2), 0);
    close(sa.sock);
    close(sa.sock2);
    close(ca.sock);
    close(ca.sock2);
    assert_int_equal(kh_reap(&c, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
}

/* ==== a hostile client ==== */

struct scribble {
    struct kos__chan_shm *shm;
    volatile bool stop;
};

static void *scribbler(void *p)
{
    struct scribble *s = p;
    uint64_t x = 88172645463325252ull;

    while (!s->stop) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        switch (x % 9) {
        case 0:
            atomic_store(&s->shm->req.len, (uint32_t)(x >> 8));
            break;
        case 1:
            atomic_store(&s->shm->req.len, (uint32_t)(x >> 8) % 5000);
            break;
        case 2:
            atomic_store(&s->shm->req.label, (uint32_t)(x >> 16));
            break;
        case 3:
            atomic_store(&s->shm->req.flags, (uint32_t)(x >> 32));
            atomic_store(&s->shm->req.cookie, x);
            break;
        case 4:
            atomic_store(&s->shm->req.seq, (uint32_t)(x >> 20));
            break;
        case 5:
            memset(s->shm->req.payload + (x >> 40) % 4000, (int)x, 96);
            break;
        case 6:
            atomic_store(&s->shm->note_tail, (uint32_t)(x >> 24));
            atomic_store(&s->shm->cli_sleeping, (uint32_t)x & 1);
            break;
        case 7:
            atomic_store(&s->shm->cli_cpu, (int32_t)(x >> 33));
            atomic_store(&s->shm->rep.len, (uint32_t)(x >> 3));
            break;
        default:
            atomic_store(&s->shm->req.status, (uint32_t)(x >> 40));
            break;
        }
    }
    return NULL;
}

static int hostile_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;
    struct scribble s = {0};
    pthread_t th;
    unsigned odd = 0;

    (void)sync;
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    s.shm = kos__token_shm(t);
    CK(pthread_create(&th, NULL, scribbler, &s) == 0);
    uint64_t end = ms_now() + 1500;
    while (ms_now() < end) {
        uint8_t buf[512] = {1, 2, 3};
        struct kos_msg q = {.label = L_ECHO, .payload = buf, .len = sizeof(buf)}, r;
        kos_status_t st = kos_msg_call(t, &q, &r, 20);
        if (st != KOS_STATUS_OK)
            odd++;
        /* Whatever comes back is validated: never more than the limit. */
        if (st == KOS_STATUS_OK)
            CK(r.len <= KOS_MSG_MAX_PAYLOAD);
    }
    s.stop = true;
    pthread_join(th, NULL);
    fprintf(stderr, "hostile client: %u calls did not go through\n", odd);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static int honest_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;
    unsigned calls = 0;

    (void)sync;
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    uint64_t end = ms_now() + 2000;
    while (ms_now() < end) {
        call_echo(t, (calls * 131) % 4097);
        calls++;
    }
    CK(calls > 100);
    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static void test_hostile_client(void **state)
{
    struct world w;
    struct kh_child s, h, g;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int hs = add_app(&w, 0, 2, "mallory", NULL, ECHO);
    int gs = add_app(&w, 0, 3, "alice", NULL, ECHO);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo"};
    struct cli_arg ha = {.sock = hs, .app_id = 2}, ga = {.sock = gs, .app_id = 3};
    spawn(&s, echo_server, &sa, ss);
    spawn(&h, hostile_client, &ha, hs);
    spawn(&g, honest_client, &ga, gs);
    assert_int_equal(kh_reap(&h, 20000), 0);
    assert_int_equal(kh_reap(&g, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0); /* the server survived and quit cleanly */
    world_stop(&w);
}

/* ==== the directory wire, spoken directly ==== */

/* Sends a message and waits for the reply of `type`; returns its status. */
static uint32_t raw_call(int sock, const struct kos__mw *m, uint32_t type, struct kos__mw *rep,
                         int fds[KOS__MW_MAX_FDS])
{
    struct pollfd p = {.fd = sock, .events = POLLIN};

    CKS(kos__mw_send(sock, m, NULL, 0), KOS_STATUS_OK);
    CK(poll(&p, 1, 5000) == 1);
    CKS(kos__mw_recv(sock, rep, fds, 0), KOS_STATUS_OK);
    CK(rep->type == type && rep->id == m->id);
    return rep->status;
}

static int raw_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    struct kos__mw m = {0}, r;
    int fds[KOS__MW_MAX_FDS];
    (void)sync;

    /* A token, the way libkos gets one. */
    m = (struct kos__mw){.type = KOS__MW_REQUEST, .id = 1, .timeout_ms = 5000, .name = "echo"};
    CK(raw_call(a->sock, &m, KOS__MW_REQUEST_REPLY, &r, fds) == KOS_STATUS_OK);
    uint32_t chan = r.channel;
    for (unsigned i = 0; i < KOS__MW_CLIENT_FDS; i++)
        close(fds[i]);

    /* A transfer is redeemed once. */
    m = (struct kos__mw){.type = KOS__MW_PREPARE, .channel = chan, .cookie = 0x1234};
    CKS(kos__mw_send(a->sock, &m, NULL, 0), KOS_STATUS_OK);
    m = (struct kos__mw){.type = KOS__MW_REDEEM, .id = 2, .cookie = 0x1234};
    CK(raw_call(a->sock, &m, KOS__MW_REDEEM_REPLY, &r, fds) == KOS_STATUS_OK);
    CK(strcmp(r.name, "echo") == 0 && r.channel != chan);
    for (unsigned i = 0; i < KOS__MW_CLIENT_FDS; i++)
        close(fds[i]);
    m.id = 3;
    CK(raw_call(a->sock, &m, KOS__MW_REDEEM_REPLY, &r, fds) == KOS_STATUS_INVALID_TOKEN);
    /* A cookie nobody prepared, and one prepared on a channel that is not
     * this app's, give nothing. */
    m = (struct kos__mw){.type = KOS__MW_REDEEM, .id = 4, .cookie = 0x5678};
    CK(raw_call(a->sock, &m, KOS__MW_REDEEM_REPLY, &r, fds) == KOS_STATUS_INVALID_TOKEN);
    m = (struct kos__mw){.type = KOS__MW_PREPARE, .channel = chan + 1000, .cookie = 0x9abc};
    CKS(kos__mw_send(a->sock, &m, NULL, 0), KOS_STATUS_OK);
    m = (struct kos__mw){.type = KOS__MW_REDEEM, .id = 5, .cookie = 0x9abc};
    CK(raw_call(a->sock, &m, KOS__MW_REDEEM_REPLY, &r, fds) == KOS_STATUS_INVALID_TOKEN);

    /* Only a message server sends CLIENT_GONE: the conversation ends. */
    m = (struct kos__mw){.type = KOS__MW_CLIENT_GONE, .endpoint = 1, .channel = chan};
    CKS(kos__mw_send(a->sock, &m, NULL, 0), KOS_STATUS_OK);
    struct pollfd pf = {.fd = a->sock, .events = POLLIN};
    CK(poll(&pf, 1, 5000) == 1);
    CKS(kos__mw_recv(a->sock, &r, fds, 0), KOS_STATUS_CLOSED);
    return 0;
}

static int garbage_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    uint8_t junk[40] = {0xff, 0xff, 0, 0, 24};
    struct kos__mw r;
    int fds[KOS__MW_MAX_FDS];
    (void)sync;

    CK(send(a->sock, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk));
    struct pollfd pf = {.fd = a->sock, .events = POLLIN};
    CK(poll(&pf, 1, 5000) == 1);
    CKS(kos__mw_recv(a->sock, &r, fds, 0), KOS_STATUS_CLOSED);
    return 0;
}

static void test_raw_wire(void **state)
{
    struct world w;
    struct kh_child s, r, g, c;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int rs = add_app(&w, 0, 2, "raw", NULL, ECHO);
    int gs = add_app(&w, 0, 3, "garbage", NULL, ECHO);
    int cs = add_app(&w, 0, 4, "client", NULL, ECHO);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo"};
    struct cli_arg ra = {.sock = rs, .app_id = 2}, ga = {.sock = gs, .app_id = 3};
    struct cli_arg ca = {.sock = cs, .app_id = 4};
    spawn(&s, echo_server, &sa, ss);
    assert_int_equal(kh_wait_ready(&s, 10000), 0);
    spawn(&r, raw_client, &ra, rs);
    spawn(&g, garbage_client, &ga, gs);
    assert_int_equal(kh_reap(&r, 20000), 0);
    assert_int_equal(kh_reap(&g, 20000), 0);
    /* The message server goes on serving everyone else. */
    spawn(&c, calling_client, &ca, cs);
    assert_int_equal(kh_reap(&c, 30000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
    assert_true(kh_log_contains(&w.srv[0], "closing the connection of app 'raw': it sent "
                                           "CLIENT_GONE, which only a message server sends"));
    assert_true(kh_log_contains(
        &w.srv[0], "closing the connection of app 'garbage': it sent a malformed message"));
}

/* ==== an app restarts ==== */

static int restarted_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;

    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    call_echo(t, 1);
    kh_signal(sync);
    CK(kh_wait_go(sync, 10000) == 0);
    /* The server was replaced: the old token is dead, a new one works. */
    CKS(call_label(t, L_ECHO, 0, NULL, -1), KOS_STATUS_UNAVAILABLE);
    kos_token_close(t);
    CKS(kos_dir_request(dir, "echo", 5000, &t), KOS_STATUS_OK);
    call_echo(t, 2);
    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

static void test_app_restart(void **state)
{
    struct world w;
    struct kh_child s1, s2, c;
    (void)state;

    world_start(&w, 1);
    int ss = add_app(&w, 0, 1, "server", ECHO, NULL);
    int cs = add_app(&w, 0, 2, "client", NULL, ECHO);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "echo"};
    struct cli_arg ca = {.sock = cs, .app_id = 2};
    spawn(&s1, echo_server, &sa, ss);
    spawn(&c, restarted_client, &ca, cs);
    assert_int_equal(kh_wait_ready(&c, 20000), 0);
    /* Core restarts the server: the old process goes, a new one connects. */
    kill(s1.pid, SIGKILL);
    assert_int_equal(kh_reap(&s1, 20000), 128 + SIGKILL);
    int ss2 = add_app(&w, 0, 1, "server", ECHO, NULL);
    struct srv_arg sa2 = {.sock = ss2, .server = "msg0", .app_id = 1, .protocol = "echo"};
    spawn(&s2, echo_server, &sa2, ss2);
    assert_int_equal(kh_go(&c), 0);
    assert_int_equal(kh_reap(&c, 20000), 0);
    assert_int_equal(kh_reap(&s2, 20000), 0);
    world_stop(&w);
}

/* ==== descriptors: a server hands its client connected TCP sockets ==== */

enum {
    L_FD_CONNECT = 100, /* reply carries a new loopback connection; the server keeps its peer */
    L_FD_NOTIFY,        /* like L_FD_CONNECT, but as a notification; then an empty reply */
    L_FD_PEER_IO,       /* read `param` bytes from the peer, write "pong", reply with them */
    L_FD_PEER_EOF,      /* reply OK once the peer reads end of file, TIMEOUT after 5 s */
    L_FD_BAD,           /* try to pass a pipe and an unconnected socket (refused locally) */
    L_FD_RAW_PIPE,      /* a raw FD_PASS of a pipe for the caller (the message server refuses) */
    L_FD_PLANT,         /* a raw FD_PASS of a socket for the caller, with cookie FD_COOKIE */
    L_FD_HOARD,         /* `param` raw FD_PASSes of sockets for the caller, never announced */
    L_FD_PIPE_IN,       /* the request carries a pipe's write end: write "hello" into it */
};

#define FD_COOKIE 0x5eed5eed5eedull

/* A connected loopback pair: *a and *b are the two ends. */
static void tcp_pair(int *a, int *b)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CK(l >= 0);
    CK(bind(l, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    CK(listen(l, 1) == 0);
    CK(getsockname(l, (struct sockaddr *)&sin, &len) == 0);
    *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CK(*a >= 0);
    CK(connect(*a, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    *b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CK(*b >= 0);
    close(l);
}

static int fd_server(void *p, const struct kh_sync *sync)
{
    struct srv_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, a->server, a->app_id);
    kos_endpoint_t *ep;
    int peer = -1;

    CKS(kos_dir_publish(dir, a->protocol, &ep), KOS_STATUS_OK);
    kh_signal(sync);
    for (;;) {
        struct kos_msg m, r = {0};
        struct kos_caller from;
        uint8_t buf[256];
        int conn, pipefd[2], in_fd;

        CKS(kos_endpoint_receive_fd(ep, &m, &from, 20000, &in_fd), KOS_STATUS_OK);
        if (m.label == L_FD_PIPE_IN) {
            CK(in_fd >= 0);
            CK(write(in_fd, "hello", 5) == 5);
            close(in_fd);
            CKS(kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL), KOS_STATUS_OK);
            continue;
        }
        CK(in_fd == -1); /* only L_FD_PIPE_IN carries one */
        switch (m.label) {
        case L_FD_CONNECT:
        case L_FD_NOTIFY:
            if (peer >= 0)
                close(peer);
            tcp_pair(&conn, &peer);
            if (m.label == L_FD_CONNECT) {
                r.param = 42;
                CKS(kos_endpoint_reply_fd(ep, &from, KOS_STATUS_OK, &r, conn), KOS_STATUS_OK);
            } else {
                struct kos_msg note = {.label = 9, .param = 43};
                CKS(kos_endpoint_notify_fd(ep, from.client, &note, conn), KOS_STATUS_OK);
                CKS(kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL), KOS_STATUS_OK);
            }
            close(conn); /* the client has its own now */
            break;
        case L_FD_PEER_IO: {
            size_t got = 0;
            while (got < m.param && got < sizeof(buf)) {
                CK(fd_readable(peer, 5000));
                ssize_t n = read(peer, buf + got, sizeof(buf) - got);
                CK(n > 0);
                got += (size_t)n;
            }
            CK(write(peer, "pong", 4) == 4);
            r.payload = buf;
            r.len = (uint32_t)got;
            CKS(kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &r), KOS_STATUS_OK);
            break;
        }
        case L_FD_PEER_EOF: {
            kos_status_t st = KOS_STATUS_TIMEOUT;
            if (fd_readable(peer, 5000) && read(peer, buf, sizeof(buf)) == 0)
                st = KOS_STATUS_OK;
            CKS(kos_endpoint_reply(ep, &from, st, NULL), KOS_STATUS_OK);
            break;
        }
        case L_FD_BAD: {
            CK(pipe2(pipefd, O_CLOEXEC) == 0);
            CKS(kos_endpoint_reply_fd(ep, &from, KOS_STATUS_OK, NULL, pipefd[0]),
                KOS_STATUS_INVALID_ARGUMENT);
            int unconnected = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            CK(unconnected >= 0);
            CKS(kos_endpoint_reply_fd(ep, &from, KOS_STATUS_OK, NULL, unconnected),
                KOS_STATUS_INVALID_ARGUMENT);
            close(unconnected);
            close(pipefd[0]);
            close(pipefd[1]);
            CKS(kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL), KOS_STATUS_OK);
            break;
        }
        case L_FD_RAW_PIPE:
        case L_FD_PLANT: {
            struct kos__mw pass = {.type = KOS__MW_FD_PASS, .channel = from.client};
            int fd;
            if (m.label == L_FD_RAW_PIPE) {
                CK(pipe2(pipefd, O_CLOEXEC) == 0);
                fd = pipefd[0];
                pass.cookie = 0x77;
            } else {
                if (peer >= 0)
                    close(peer);
                tcp_pair(&fd, &peer);
                pass.cookie = FD_COOKIE;
            }
            CKS(kos__mw_send(kos_dir_fd(dir), &pass, &fd, 0), KOS_STATUS_OK);
            close(fd);
            if (m.label == L_FD_RAW_PIPE) {
                close(pipefd[1]);
                /* Its own connection to the message server, the key to
                 * acting as this app: refused too. */
                int own = kos_dir_fd(dir);
                pass.cookie = 0x78;
                CKS(kos__mw_send(kos_dir_fd(dir), &pass, &own, 0), KOS_STATUS_OK);
            }
            CKS(kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL), KOS_STATUS_OK);
            break;
        }
        case L_FD_HOARD:
            for (uint64_t k = 0; k < m.param; k++) {
                struct kos__mw pass = {
                    .type = KOS__MW_FD_PASS, .channel = from.client, .cookie = 0x4000 + k};
                int fd, other;
                tcp_pair(&fd, &other);
                CKS(kos__mw_send(kos_dir_fd(dir), &pass, &fd, 0), KOS_STATUS_OK);
                close(fd);
                close(other);
            }
            CKS(kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL), KOS_STATUS_OK);
            break;
        case L_QUIT:
            CKS(kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL), KOS_STATUS_OK);
            if (peer >= 0)
                close(peer);
            kos_endpoint_close(ep);
            kos__dir_destroy(dir);
            return 0;
        default:
            CKS(kos_endpoint_reply(ep, &from, KOS_STATUS_UNSUPPORTED, NULL), KOS_STATUS_OK);
        }
    }
}

/* Writes `text` to the received socket, has the server read it and answer
 * "pong" through the socket. */
static void fd_roundtrip(kos_token_t *t, int fd, const char *text)
{
    struct kos_msg q = {.label = L_FD_PEER_IO, .param = strlen(text)}, r;
    char back[8];
    int type = 0;
    socklen_t len = sizeof(type);

    CK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM);
    CK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CKS(kos_msg_call(t, &q, &r, 10000), KOS_STATUS_OK);
    CK(r.len == strlen(text) && memcmp(r.payload, text, r.len) == 0);
    CK(fd_readable(fd, 5000));
    CK(read(fd, back, sizeof(back)) == 4 && memcmp(back, "pong", 4) == 0);
}

static int fd_client(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    struct kos_msg q = {.label = L_FD_CONNECT}, r, n;
    kos_token_t *t;
    int fd;

    CKS(kos_dir_request(dir, "net", 5000, &t), KOS_STATUS_OK);
    /* A reply with a socket: it works both ways, and closing it is seen. */
    CKS(kos_msg_call_fd(t, &q, &r, 5000, &fd), KOS_STATUS_OK);
    CK(fd >= 0 && r.param == 42);
    CK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    fd_roundtrip(t, fd, "hello through the socket");
    close(fd);
    CKS(call_label(t, L_FD_PEER_EOF, 0, NULL, 10000), KOS_STATUS_OK);

    /* Not taken: the message server closes its copy at once. */
    CKS(kos_msg_call(t, &q, &r, 5000), KOS_STATUS_OK);
    CKS(call_label(t, L_FD_PEER_EOF, 0, NULL, 10000), KOS_STATUS_OK);

    /* A notification with a socket. */
    q.label = L_FD_NOTIFY;
    CKS(kos_msg_call_fd(t, &q, &r, 5000, &fd), KOS_STATUS_OK);
    CK(fd == -1); /* the reply itself carries none */
    CKS(kos_token_receive_fd(t, &n, 5000, &fd), KOS_STATUS_OK);
    CK(fd >= 0 && n.label == 9 && n.param == 43);
    fd_roundtrip(t, fd, "notified");
    close(fd);

    /* A pipe and an unconnected socket do not leave the server. */
    CKS(call_label(t, L_FD_BAD, 0, NULL, 5000), KOS_STATUS_OK);
    /* A pipe passed behind the library's back is refused by the message
     * server, and logged. */
    CKS(call_label(t, L_FD_RAW_PIPE, 0, NULL, 5000), KOS_STATUS_OK);

    /* A client passes its server a pipe's write end with a request: the
     * server writes into it, and the client reads what it wrote. */
    int pp[2];
    char got[8] = "";
    CK(pipe(pp) == 0);
    q.label = L_FD_PIPE_IN;
    CKS(kos_msg_call_give_fd(t, &q, &r, 5000, pp[1]), KOS_STATUS_OK);
    close(pp[1]);
    CK(fd_readable(pp[0], 5000));
    CK(read(pp[0], got, sizeof(got)) == 5 && memcmp(got, "hello", 5) == 0);
    CK(read(pp[0], got, sizeof(got)) == 0); /* the server closed its copy */
    /* The read end, or a socket, does not leave the client. */
    CKS(kos_msg_call_give_fd(t, &q, &r, 5000, pp[0]), KOS_STATUS_INVALID_ARGUMENT);
    close(pp[0]);

    /* A client cannot pass anything else on its own token's channel: only
     * the channel's server may pass a socket. */
    q.label = L_FD_CONNECT;
    CKS(kos_msg_call_fd(t, &q, &r, 5000, &fd), KOS_STATUS_OK);
    q.label = L_FD_PIPE_IN;
    CKS(kos_msg_call_give_fd(t, &q, &r, 5000, fd), KOS_STATUS_INVALID_ARGUMENT);
    struct kos__mw pass = {.type = KOS__MW_FD_PASS, .channel = kos__token_channel(t), .cookie = 9};
    CKS(kos__mw_send(kos_dir_fd(dir), &pass, &fd, 0), KOS_STATUS_OK);
    close(fd);
    CKS(kos_dir_ping(dir, 5000), KOS_STATUS_OK); /* the message server has seen it */

    /* A socket passed for this client cannot be taken by another app. */
    CKS(call_label(t, L_FD_PLANT, 0, NULL, 5000), KOS_STATUS_OK);
    kh_signal(sync);
    CK(kh_wait_go(sync, 20000) == 0);

    CKS(call_label(t, L_QUIT, 0, NULL, 5000), KOS_STATUS_OK);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

/* Is given 12 sockets by one server and takes none: the message server
 * keeps 8 from one publisher for it and closes the rest; its server's other
 * clients are not affected. */
static int fd_hoarder(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    kos_dir_t *dir = kh_dir(a->sock, "msg0", a->app_id);
    kos_token_t *t;

    CKS(kos_dir_request(dir, "net", 5000, &t), KOS_STATUS_OK);
    CKS(call_label(t, L_FD_HOARD, 12, NULL, 10000), KOS_STATUS_OK);
    CKS(kos_dir_ping(dir, 5000), KOS_STATUS_OK);
    kh_signal(sync);
    CK(kh_wait_go(sync, 30000) == 0);
    kos_token_close(t);
    kos__dir_destroy(dir);
    return 0;
}

/* Redeems FD_COOKIE, which was passed for another app, on its raw
 * connection. */
static int fd_thief(void *p, const struct kh_sync *sync)
{
    struct cli_arg *a = p;
    struct kos__mw m = {.type = KOS__MW_FD_REDEEM, .id = 1, .cookie = FD_COOKIE}, rep;
    int fds[KOS__MW_MAX_FDS];

    CK(kh_wait_go(sync, 20000) == 0);
    CKS(kos__mw_send(a->sock, &m, NULL, 0), KOS_STATUS_OK);
    CKS(kos__mw_recv(a->sock, &rep, fds, 0), KOS_STATUS_OK);
    CK(rep.type == KOS__MW_FD_REDEEM_REPLY && rep.id == 1);
    CK(rep.status == KOS_STATUS_INVALID_TOKEN);
    return 0;
}

static void test_fd_transfer(void **state)
{
    struct world w;
    struct kh_child s, c, x, h;
    (void)state;

    world_start(&w, 1);
    const char *const net[] = {"net", NULL};
    int ss = add_app(&w, 0, 1, "netsrv", net, NULL);
    int cs = add_app(&w, 0, 2, "client", NULL, net);
    int xs = add_app(&w, 0, 3, "thief", NULL, net);
    int hs = add_app(&w, 0, 4, "hoarder", NULL, net);
    struct srv_arg sa = {.sock = ss, .server = "msg0", .app_id = 1, .protocol = "net"};
    struct cli_arg ca = {.sock = cs, .app_id = 2}, xa = {.sock = xs, .app_id = 3};
    struct cli_arg ha = {.sock = hs, .app_id = 4};
    spawn(&s, fd_server, &sa, ss);
    /* The hoarder first: the client must be served while it hoards. */
    spawn(&h, fd_hoarder, &ha, hs);
    assert_int_equal(kh_wait_ready(&h, 30000), 0);
    spawn(&c, fd_client, &ca, cs);
    spawn(&x, fd_thief, &xa, xs);
    assert_int_equal(kh_wait_ready(&c, 30000), 0);
    assert_int_equal(kh_go(&x), 0);
    assert_int_equal(kh_reap(&x, 20000), 0);
    assert_int_equal(kh_go(&c), 0);
    assert_int_equal(kh_reap(&c, 30000), 0);
    assert_int_equal(kh_go(&h), 0);
    assert_int_equal(kh_reap(&h, 20000), 0);
    assert_int_equal(kh_reap(&s, 20000), 0);
    world_stop(&w);
    assert_int_equal(kh_log_count(&w.srv[0], "passed a descriptor to app 'hoarder', which has too "
                                             "many not taken; closed it"),
                     4);
    assert_true(kh_log_contains(&w.srv[0], "denied: app 'netsrv' tried to pass not a socket to "
                                           "app 'client' (only connected TCP sockets travel)"));
    assert_true(kh_log_contains(&w.srv[0], "denied: app 'netsrv' tried to pass a Unix socket to "
                                           "app 'client' (only connected TCP sockets travel)"));
    assert_true(kh_log_contains(&w.srv[0], "denied: app 'client' tried to pass a socket, not a "
                                           "pipe to app 'netsrv' (a client passes its server "
                                           "only a pipe's write end)"));
    assert_true(kh_log_contains(&w.srv[0], "denied: app 'thief' tried to take a descriptor "
                                           "passed to app 'client'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_request_denied),
        cmocka_unit_test(test_publish_denied),
        cmocka_unit_test(test_request_waits_for_publisher),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_calls_poll_loop),
        cmocka_unit_test(test_deferred_out_of_order),
        cmocka_unit_test(test_notifications),
        cmocka_unit_test(test_token_transfer),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_server_death),
        cmocka_unit_test(test_two_message_servers),
        cmocka_unit_test(test_hostile_client),
        cmocka_unit_test(test_app_restart),
        cmocka_unit_test(test_raw_wire),
        cmocka_unit_test(test_fd_transfer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
