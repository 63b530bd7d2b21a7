/*
 * server_port.h - what the unit tests of kos-server's modules that drive
 * its devices share (test_server_devices.c, test_server_shell.c): the
 * device port as far as the server uses it, whose kos__devport_send() and
 * kos__devport_kick() record what the server asked of it, and a server
 * without its ports but with a database, a CA and one registered device.
 * Include it once per test executable, after server_fixture.h.
 */
#ifndef KOS_TESTS_SERVER_PORT_H
#define KOS_TESTS_SERVER_PORT_H

#include "ca.h"
#include "server_int.h"
#include "store.h"

static struct {
    uint8_t sent[16][2048];
    size_t sent_len[16], n_sent;
    char sent_to[16][65];
    uint32_t sent_ch[16];
    char kicked[8][65];
    size_t n_kicked;
    kos_status_t send_status;
} port;

kos_status_t kos__devport_send(struct kos__devport *dp, const char *id, uint32_t ch, const void *p,
                               size_t n)
{
    (void)dp;
    if (port.send_status)
        return port.send_status;
    assert_true(port.n_sent < 16 && n <= sizeof(port.sent[0]));
    memcpy(port.sent[port.n_sent], p, n);
    port.sent_len[port.n_sent] = n;
    port.sent_ch[port.n_sent] = ch;
    snprintf(port.sent_to[port.n_sent], 65, "%s", id);
    port.n_sent++;
    return KOS_STATUS_OK;
}

void kos__devport_kick(struct kos__devport *dp, const char *id)
{
    (void)dp;
    assert_true(port.n_kicked < 8);
    snprintf(port.kicked[port.n_kicked++], 65, "%s", id);
}

/* What a relay (shell.h, debug.h) answered a request: one slot per
 * request, by the arg given. */
struct ended {
    int calls, code;
    json_t *answer;
};

static inline void done(void *arg, int code, json_t *answer)
{
    struct ended *e = arg;
    e->calls++;
    e->code = code;
    json_decref(e->answer);
    e->answer = answer;
}

static struct kos__srv srv;
static struct kos__devport_hooks hooks;
static char id[65], err[1024];

/* A scratch folder, the port cleared, and srv with a loop, a database and
 * a CA in it, and device `name` registered: its key's bytes are
 * i * mul + add, its id in `id`; hooks are the server's. */
static int srv_setup(void **state, const char *name, unsigned mul, unsigned add)
{
    uint8_t raw[32];
    char *cert;

    if (scratch_setup(state))
        return -1;
    memset(&port, 0, sizeof(port));
    memset(&srv, 0, sizeof(srv));
    srv.base = event_base_new();
    srv.devport = (struct kos__devport *)&port; /* never looked into */
    if (kos__store_open(in_scratch("t.db"), NULL, &srv.store, err, sizeof(err)) ||
        kos__ca_open(scratch, &srv.ca, err, sizeof(err)))
        return -1;
    for (unsigned i = 0; i < 32; i++)
        raw[i] = (uint8_t)(i * mul + add);
    kos__ca_device_id(raw, id);
    if (kos__ca_issue_device(srv.ca, raw, &cert, err, sizeof(err)) ||
        kos__store_device_add(srv.store, id, name, raw, cert, err, sizeof(err)))
        return -1;
    free(cert);
    hooks = kos__devices_hooks(&srv);
    return 0;
}

static int srv_teardown(void **state)
{
    if (srv.kick_ev)
        event_free(srv.kick_ev);
    event_base_free(srv.base);
    kos__ca_close(srv.ca);
    kos__store_close(srv.store);
    return scratch_teardown(state);
}

#endif
