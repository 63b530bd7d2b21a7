/*
 * test_msgsrv.c - the message server's directory under load, driven in one
 * process: apps are socket pairs, and the test runs the directory's poll
 * loop itself one turn at a time, so the bounds are checked by counting
 * messages, never by timing them.
 *
 * The bounds (docs/messages.md, "Under attack"):
 *   - per turn of the loop, at most 32 messages of any one app are handled,
 *     so an honest app's message waits behind at most 32 of each other app;
 *   - an app that leaves more than 1024 messages unread is disconnected;
 *   - an app holds at most 16 tokens on one endpoint and 256 in all.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot_int.h"
#include "msg_wire_int.h"
#include "msgsrv.h"

#define READ_BATCH 32

struct app {
    int sock; /* the app's end */
};

/* Connects an app with the given grants (NULL: none) to srv. */
static struct app connect_app(struct msgsrv *srv, uint32_t id, const char *name,
                              const char *publish, const char *request)
{
    struct kos__client_grants g;
    int sv[2];

    memset(&g, 0, sizeof(g));
    g.app_id = id;
    snprintf(g.app, sizeof(g.app), "%s", name);
    if (publish) {
        snprintf(g.names, KOS__NAME_MAX, "%s", publish);
        g.publish[g.n_publish++] = g.names;
    }
    if (request) {
        snprintf(g.names + KOS__NAME_MAX, KOS__NAME_MAX, "%s", request);
        g.request[g.n_request++] = g.names + KOS__NAME_MAX;
    }
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(msgsrv_add_client(srv, sv[0], &g), KOS_STATUS_OK);
    return (struct app){.sock = sv[1]};
}

/* Runs one turn of the directory's loop (what main.c does), without
 * waiting. Returns the number of descriptors that had events. */
static int turn(struct msgsrv *srv)
{
    struct pollfd p[64];
    size_t n = msgsrv_pollfds(srv, p, 64);
    int r = poll(p, n, 0);

    assert_true(r >= 0);
    for (size_t i = 0; i < n; i++)
        if (p[i].revents)
            msgsrv_handle(srv, &p[i]);
    return r;
}

static void send_msg(struct app *a, const struct kos__mw *m)
{
    assert_int_equal(kos__mw_send(a->sock, m, NULL, MSG_DONTWAIT), KOS_STATUS_OK);
}

/* Receives what waits for the app, closing any descriptors; returns how many
 * messages of `type` arrived and leaves the last one in *last. */
static unsigned drain(struct app *a, uint32_t type, struct kos__mw *last)
{
    unsigned n = 0;

    for (;;) {
        struct kos__mw m;
        int fds[KOS__MW_MAX_FDS];
        kos_status_t st = kos__mw_recv(a->sock, &m, fds, MSG_DONTWAIT);
        if (st == KOS_STATUS_WOULD_BLOCK)
            return n;
        assert_int_equal(st, KOS_STATUS_OK);
        for (size_t i = 0; i < kos__mw_nfds(m.type, m.status); i++)
            close(fds[i]);
        if (m.type == type) {
            n++;
            if (last)
                *last = m;
        }
    }
}

/* A flooder has hundreds of pings queued; an honest app's one ping is
 * answered in the first turn, while the flooder gets at most READ_BATCH. */
static void test_fair_turns(void **state)
{
    struct msgsrv *srv = msgsrv_create("msg0");
    struct app flood, honest;
    struct kos__mw m, last;
    unsigned sent = 0, answered = 0;
    (void)state;

    assert_non_null(srv);
    flood = connect_app(srv, 1, "flooder", NULL, NULL);
    honest = connect_app(srv, 2, "honest", NULL, NULL);
    for (; sent < 400; sent++) {
        m = (struct kos__mw){.type = KOS__MW_PING, .id = sent + 1};
        if (kos__mw_send(flood.sock, &m, NULL, MSG_DONTWAIT) != KOS_STATUS_OK)
            break; /* the socket is full: enough */
    }
    assert_true(sent > 2 * READ_BATCH);
    send_msg(&honest, &(struct kos__mw){.type = KOS__MW_PING, .id = 7});

    turn(srv);
    assert_int_equal(drain(&honest, KOS__MW_PING_REPLY, &last), 1);
    assert_int_equal(last.id, 7);
    answered = drain(&flood, KOS__MW_PING_REPLY, &last);
    assert_int_equal(answered, READ_BATCH);
    assert_int_equal(last.id, READ_BATCH); /* in order */

    /* Every one of the flooder's pings is answered in the end. */
    for (int t = 0; t < 100 && answered < sent; t++) {
        turn(srv);
        answered += drain(&flood, KOS__MW_PING_REPLY, &last);
    }
    assert_int_equal(answered, sent);
    assert_int_equal(last.id, sent);
    msgsrv_destroy(srv);
    close(flood.sock);
    close(honest.sock);
}

/* An app that never reads its replies is disconnected once 1024 wait for
 * it; the directory goes on serving the others. */
static void test_never_reads(void **state)
{
    struct msgsrv *srv = msgsrv_create("msg0");
    struct app deaf, honest;
    struct kos__mw last;
    unsigned sent = 0;
    int sndbuf = 4096;
    (void)state;

    assert_non_null(srv);
    deaf = connect_app(srv, 1, "deaf", NULL, NULL);
    honest = connect_app(srv, 2, "honest", NULL, NULL);
    /* Keep the deaf app's receive queue small so replies back up fast. */
    assert_int_equal(setsockopt(deaf.sock, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf)), 0);
    for (int t = 0; t < 2000 && msgsrv_n_apps(srv) == 2; t++) {
        for (int k = 0; k < READ_BATCH; k++) {
            struct kos__mw m = {.type = KOS__MW_PING, .id = ++sent};
            if (kos__mw_send(deaf.sock, &m, NULL, MSG_DONTWAIT) != KOS_STATUS_OK)
                break;
        }
        turn(srv);
    }
    assert_int_equal(msgsrv_n_apps(srv), 1);
    assert_true(sent > 1024);
    send_msg(&honest, &(struct kos__mw){.type = KOS__MW_PING, .id = 9});
    turn(srv);
    assert_int_equal(drain(&honest, KOS__MW_PING_REPLY, &last), 1);
    assert_int_equal(last.id, 9);
    /* The deaf app's connection was closed: what it reads ends in EOF. */
    char buf[256];
    ssize_t r;
    while ((r = recv(deaf.sock, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        ;
    /* (ECONNRESET: the directory closed with the deaf app's pings unread.) */
    assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
    msgsrv_destroy(srv);
    close(deaf.sock);
    close(honest.sock);
}

/* Tokens: 16 per app and endpoint, then KOS_STATUS_NO_MEMORY; another app
 * still gets its tokens; closing one makes room again. */
static void test_token_limits(void **state)
{
    struct msgsrv *srv = msgsrv_create("msg0");
    struct app server, hoarder, other;
    struct kos__mw m, last;
    uint32_t channels[17];
    (void)state;

    assert_non_null(srv);
    server = connect_app(srv, 1, "server", "echo", NULL);
    hoarder = connect_app(srv, 2, "hoarder", NULL, "echo");
    other = connect_app(srv, 3, "other", NULL, "echo");
    send_msg(&server, &(struct kos__mw){.type = KOS__MW_PUBLISH, .id = 1, .name = "echo"});
    turn(srv);
    assert_int_equal(drain(&server, KOS__MW_PUBLISH_REPLY, &last), 1);
    assert_int_equal(last.status, KOS_STATUS_OK);

    for (uint32_t i = 0; i < 17; i++) {
        m = (struct kos__mw){.type = KOS__MW_REQUEST, .id = 100 + i, .name = "echo"};
        send_msg(&hoarder, &m);
        turn(srv);
        assert_int_equal(drain(&hoarder, KOS__MW_REQUEST_REPLY, &last), 1);
        assert_int_equal(last.id, 100 + i);
        assert_int_equal(last.status, i < 16 ? KOS_STATUS_OK : KOS_STATUS_NO_MEMORY);
        channels[i] = last.channel;
    }
    assert_int_equal(drain(&server, KOS__MW_NEW_CLIENT, NULL), 16);

    /* The other app is not affected. */
    send_msg(&other, &(struct kos__mw){.type = KOS__MW_REQUEST, .id = 5, .name = "echo"});
    turn(srv);
    assert_int_equal(drain(&other, KOS__MW_REQUEST_REPLY, &last), 1);
    assert_int_equal(last.status, KOS_STATUS_OK);

    /* Giving one up makes room for one more. */
    send_msg(&hoarder, &(struct kos__mw){.type = KOS__MW_TOKEN_CLOSE, .channel = channels[0]});
    send_msg(&hoarder, &(struct kos__mw){.type = KOS__MW_REQUEST, .id = 200, .name = "echo"});
    turn(srv);
    assert_int_equal(drain(&hoarder, KOS__MW_REQUEST_REPLY, &last), 1);
    assert_int_equal(last.id, 200);
    assert_int_equal(last.status, KOS_STATUS_OK);
    send_msg(&hoarder, &(struct kos__mw){.type = KOS__MW_REQUEST, .id = 201, .name = "echo"});
    turn(srv);
    assert_int_equal(drain(&hoarder, KOS__MW_REQUEST_REPLY, &last), 1);
    assert_int_equal(last.status, KOS_STATUS_NO_MEMORY);

    msgsrv_destroy(srv);
    close(server.sock);
    close(hoarder.sock);
    close(other.sock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fair_turns),
        cmocka_unit_test(test_never_reads),
        cmocka_unit_test(test_token_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
