/*
 * test_server_devices.c - what kos-server does with what its devices send
 * (server/devices.c), driven through the device port's hooks as
 * server/devport.c will call them, with AdminUp and LogBatch messages
 * encoded here with protobuf-c: who may connect; online and offline;
 * Register answered with Registered; Health and log records stored and
 * turned into events; commands sent as AdminDown and their results; a
 * malformed message stores nothing and ends the device's link on a later
 * loop turn; device text comes out of the API escaped.
 *
 * kos__devport_send() and kos__devport_kick() are server_port.h's: they
 * record what the server asked of its port (the port itself is tested with
 * the link, tests/server/devport_test.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin.pb-c.h"
#include "ca.h"
#include "logs.pb-c.h"
#include "req.h"
#include "server_fixture.h"
#include "server_int.h"
#include "server_port.h"
#include "store.h"

/* ---- the server, without its ports ---- */

static struct {
    json_t *events; /* [{"type", "device", "data"}] */
} seen;

static void tap(void *arg, const char *type, const char *device, json_t *data)
{
    (void)arg;
    json_array_append_new(
        seen.events, json_pack("{s:s, s:s?, s:O}", "type", type, "device", device, "data", data));
}

static int setup(void **state)
{
    if (srv_setup(state, "dev <1>", 7, 1))
        return -1;
    seen.events = json_array();
    srv.tap = tap;
    return 0;
}

static int teardown(void **state)
{
    json_decref(seen.events);
    return srv_teardown(state);
}

/* Runs the loop's pending work (deferred kicks). */
static void turn(void)
{
    event_base_loop(srv.base, EVLOOP_NONBLOCK);
}

/* The last event of `type`, or NULL. */
static json_t *last_event(const char *type)
{
    json_t *found = NULL, *e;
    size_t i;

    json_array_foreach(seen.events, i, e) if (strcmp(json_string_value(json_object_get(e, "type")),
                                                     type) == 0) found = json_object_get(e, "data");
    return found;
}

static size_t count_events(const char *type)
{
    size_t n = 0, i;
    json_t *e;

    json_array_foreach(seen.events, i, e) n +=
        strcmp(json_string_value(json_object_get(e, "type")), type) == 0;
    return n;
}

/* Sends an AdminUp through the data hook. */
static void send_up(Kos__Admin__AdminUp *up)
{
    uint8_t buf[4096];
    size_t n = kos__admin__admin_up__get_packed_size(up);

    assert_true(n <= sizeof(buf));
    kos__admin__admin_up__pack(up, buf);
    hooks.data(hooks.arg, id, 1, buf, n);
}

static Kos__Admin__AdminDown *sent_down(size_t i)
{
    assert_true(i < port.n_sent);
    assert_int_equal(port.sent_ch[i], 1);
    assert_string_equal(port.sent_to[i], id);
    return kos__admin__admin_down__unpack(NULL, port.sent_len[i], port.sent[i]);
}

static json_t *device(void)
{
    return kos__store_device_json(srv.store, id, true);
}

static void test_admit(void **state)
{
    (void)state;
    assert_int_equal(hooks.admit(hooks.arg, id), KOS_STATUS_OK);
    assert_int_equal(hooks.admit(hooks.arg, "0000000000000000000000000000000000000000000000000000"
                                            "000000000000"),
                     KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__devices_revoke(&srv, id), KOS_STATUS_OK);
    assert_int_equal(hooks.admit(hooks.arg, id), KOS_STATUS_UNAUTHORIZED);
    /* Revoking cut the device off at once, and said so. */
    assert_int_equal(port.n_kicked, 1);
    assert_string_equal(json_string_value(json_object_get(last_event("device"), "state")),
                        "revoked");
    assert_int_equal(kos__devices_revoke(&srv, "1111111111111111111111111111111111111111111111111"
                                               "111111111111111"),
                     KOS_STATUS_NOT_FOUND);
}

/* A pending device (docs/link.md, "Pending devices"): recorded with what
 * the port saw, once per key however often it comes, shown as an event;
 * at most KOS__SRV_PENDING_MAX kept, the least recently seen forgotten;
 * approved, it is registered under the name offered (or given, or
 * device-KEYID) and admitted; rejected, it is registered revoked and
 * refused; neither twice, nor for a device that is not pending. */
static void pending_key(unsigned n, uint8_t pub[32], char pid[65])
{
    memset(pub, 0, 32);
    pub[0] = (uint8_t)(n >> 8);
    pub[1] = (uint8_t)n;
    kos__ca_device_id(pub, pid);
}

static void test_pending(void **state)
{
    struct kos__devport_pending p = {"bench-7", "/CN=x/name=bench-7", "127.0.0.1"};
    char pid[65], first[65], why[512];
    uint8_t pub[32];
    json_t *j, *all;

    (void)state;
    pending_key(1, pub, first);
    assert_int_equal(hooks.admit(hooks.arg, first), KOS_STATUS_NOT_FOUND);
    hooks.pending(hooks.arg, first, pub, &p);
    hooks.pending(hooks.arg, first, pub, &p);
    j = kos__store_pending_json(srv.store, first);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "pending");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "bench-7");
    assert_string_equal(json_string_value(json_object_get(j, "subject")), "/CN=x/name=bench-7");
    assert_string_equal(json_string_value(json_object_get(j, "address")), "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    json_decref(j);
    assert_string_equal(json_string_value(json_object_get(last_event("device"), "state")),
                        "pending");
    /* Still unknown to the registry: the port keeps answering "waiting". */
    assert_int_equal(hooks.admit(hooks.arg, first), KOS_STATUS_NOT_FOUND);
    assert_null(kos__store_device_json(srv.store, first, true));

    /* A flood of keys: the newest KOS__SRV_PENDING_MAX stay. */
    for (unsigned i = 2; i < KOS__SRV_PENDING_MAX + 50; i++) {
        pending_key(i, pub, pid);
        hooks.pending(hooks.arg, pid, pub, &p);
    }
    all = kos__store_pending_json(srv.store, NULL);
    assert_int_equal(json_array_size(all), KOS__SRV_PENDING_MAX);
    json_decref(all);
    assert_null(kos__store_pending_json(srv.store, first));
    assert_int_equal(kos__devices_decide(&srv, first, true, NULL, why, sizeof(why)),
                     KOS_STATUS_NOT_FOUND);
    assert_non_null(strstr(why, "no pending device"));

    /* Approved under the name offered. */
    hooks.pending(hooks.arg, first, (pending_key(1, pub, pid), pub), &p);
    assert_int_equal(kos__devices_decide(&srv, first, true, NULL, why, sizeof(why)), KOS_STATUS_OK);
    j = kos__store_device_json(srv.store, first, true);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "registered");
    assert_string_equal(json_string_value(json_object_get(j, "name")), "bench-7");
    json_decref(j);
    assert_null(kos__store_pending_json(srv.store, first));
    assert_int_equal(hooks.admit(hooks.arg, first), KOS_STATUS_OK);
    assert_string_equal(json_string_value(json_object_get(last_event("device"), "state")),
                        "registered");
    assert_int_equal(kos__devices_decide(&srv, first, true, NULL, why, sizeof(why)),
                     KOS_STATUS_ALREADY_EXISTS);
    assert_non_null(strstr(why, "is not pending: it is registered"));
    assert_int_equal(kos__devices_decide(&srv, id, false, NULL, why, sizeof(why)),
                     KOS_STATUS_ALREADY_EXISTS);

    /* Rejected: registered revoked, refused from now on. A name that
     * breaks the rules is not offered: the default is taken. */
    snprintf(p.name, sizeof(p.name), "bad\x01name");
    pending_key(500, pub, pid);
    hooks.pending(hooks.arg, pid, pub, &p);
    j = kos__store_pending_json(srv.store, pid);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "");
    json_decref(j);
    assert_int_equal(kos__devices_decide(&srv, pid, false, NULL, why, sizeof(why)), KOS_STATUS_OK);
    j = kos__store_device_json(srv.store, pid, true);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "revoked");
    assert_true(strncmp(json_string_value(json_object_get(j, "name")), "device-", 7) == 0);
    json_decref(j);
    assert_int_equal(hooks.admit(hooks.arg, pid), KOS_STATUS_UNAUTHORIZED);

    /* A name given with the approval wins over the one offered. */
    pending_key(501, pub, pid);
    hooks.pending(hooks.arg, pid, pub, &p);
    assert_int_equal(kos__devices_decide(&srv, pid, true, "lab-3", why, sizeof(why)),
                     KOS_STATUS_OK);
    j = kos__store_device_json(srv.store, pid, true);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "lab-3");
    json_decref(j);
}

static void test_register_and_health(void **state)
{
    Kos__Admin__AdminUp up = KOS__ADMIN__ADMIN_UP__INIT;
    Kos__Admin__Register reg = KOS__ADMIN__REGISTER__INIT;
    Kos__Admin__Health h = KOS__ADMIN__HEALTH__INIT;
    Kos__Admin__App app = KOS__ADMIN__APP__INIT, *apps[] = {&app};
    Kos__Admin__AdminDown *down;
    json_t *d;

    (void)state;
    hooks.online(hooks.arg, id);
    d = last_event("device");
    assert_string_equal(json_string_value(json_object_get(d, "state")), "online");
    app.name = "sensor";
    app.kind = "app";
    app.state = "running, ready";
    app.restarts = 2;
    app.last_exit = "";
    h.uptime_ms = 1234;
    h.n_apps = 1;
    h.apps = apps;
    h.mem_total = 1 << 20;
    h.self_test = "passed";
    reg.system = "weather\xff\x1b]0;owned\x07";
    reg.manifest_sha256 = "00ff";
    reg.signer = "3c8d056b3b71c87e";
    reg.kos_version = "0.1.0";
    reg.platform = "sim";
    reg.health = &h;
    up.body_case = KOS__ADMIN__ADMIN_UP__BODY_REGISTER;
    up.register_ = &reg;
    send_up(&up);
    /* Answered with Registered: the id and the name. */
    assert_int_equal(port.n_sent, 1);
    down = sent_down(0);
    assert_non_null(down);
    assert_int_equal(down->body_case, KOS__ADMIN__ADMIN_DOWN__BODY_REGISTERED);
    assert_string_equal(down->registered->device_id, id);
    assert_string_equal(down->registered->name, "dev <1>");
    kos__admin__admin_down__free_unpacked(down, NULL);
    d = device();
    assert_string_equal(json_string_value(json_object_get(d, "system")),
                        "weather\\xff\\x1b]0;owned\\x07");
    assert_string_equal(json_string_value(json_object_get(d, "signer")), "3c8d056b3b71c87e");
    json_t *a = json_array_get(json_object_get(json_object_get(d, "health"), "apps"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "state")), "running, ready");
    assert_int_equal(json_integer_value(json_object_get(a, "restarts")), 2);
    json_decref(d);
    /* A later Health replaces it, and is an event. */
    h.uptime_ms = 5678;
    h.n_apps = 0;
    up.body_case = KOS__ADMIN__ADMIN_UP__BODY_HEALTH;
    up.health = &h;
    send_up(&up);
    d = last_event("device");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "health"), "uptime_ms")),
                     5678);
    turn();
    assert_int_equal(port.n_kicked, 0);
    assert_true(json_is_null(json_object_get(json_object_get(d, "health"), "store")));
    assert_true(json_is_false(json_object_get(json_object_get(d, "health"), "remote_debug")));

    /* A Health with the boot store's generations: each as the API shows
     * it, a device's text escaped. */
    Kos__Admin__BootStore bs = KOS__ADMIN__BOOT_STORE__INIT;
    Kos__Admin__Generation g1 = KOS__ADMIN__GENERATION__INIT, g2 = KOS__ADMIN__GENERATION__INIT;
    Kos__Admin__Generation *gens[KOS__SRV_GENS_MAX + 1];
    g1.number = 1;
    g1.good = true;
    g1.state = "passed";
    g1.signer = "3c8d056b3b71c87e";
    g1.created = 1765000000;
    g2.number = 2;
    g2.current = g2.running = true;
    g2.state = "<b>on trial</b>\x1b";
    g2.tries = 1;
    g2.signer = "";
    gens[0] = &g1;
    gens[1] = &g2;
    bs.running = 2;
    bs.generations = gens;
    bs.n_generations = 2;
    h.store = &bs;
    h.remote_debug = true;
    send_up(&up);
    d = last_event("device");
    json_t *hs = json_object_get(json_object_get(d, "health"), "store");
    assert_int_equal(json_integer_value(json_object_get(hs, "running")), 2);
    json_t *j1 = json_array_get(json_object_get(hs, "generations"), 0);
    json_t *j2 = json_array_get(json_object_get(hs, "generations"), 1);
    assert_int_equal(json_integer_value(json_object_get(j1, "number")), 1);
    assert_true(json_is_true(json_object_get(j1, "good")));
    assert_true(json_is_false(json_object_get(j1, "current")));
    assert_string_equal(json_string_value(json_object_get(j1, "created")),
                        "2025-12-06T05:46:40.000Z");
    assert_true(json_is_true(json_object_get(j2, "current")));
    assert_true(json_is_true(json_object_get(j2, "running")));
    assert_string_equal(json_string_value(json_object_get(j2, "state")), "<b>on trial</b>\\x1b");
    assert_int_equal(json_integer_value(json_object_get(j2, "tries")), 1);
    assert_true(json_is_null(json_object_get(j2, "created")));
    assert_true(json_is_true(json_object_get(json_object_get(d, "health"), "remote_debug")));
    turn();
    assert_int_equal(port.n_kicked, 0);

    /* More generations than a store keeps: refused, the link ended. */
    for (size_t i = 0; i <= KOS__SRV_GENS_MAX; i++)
        gens[i] = &g1;
    bs.n_generations = KOS__SRV_GENS_MAX + 1;
    send_up(&up);
    turn();
    assert_int_equal(port.n_kicked, 1);
    h.store = NULL;
    hooks.offline(hooks.arg, id, "test");
    assert_string_equal(json_string_value(json_object_get(last_event("device"), "state")),
                        "offline");
}

static void test_commands(void **state)
{
    struct kos__req_command c = {.kind = KOS__CMD_RESTART_APP, .app = "sensor"};
    Kos__Admin__AdminUp up = KOS__ADMIN__ADMIN_UP__INIT;
    Kos__Admin__CommandResult res = KOS__ADMIN__COMMAND_RESULT__INIT;
    Kos__Admin__AdminDown *down;
    uint64_t cid, cid2;
    json_t *r;

    (void)state;
    /* Not online: refused, nothing sent. */
    assert_int_equal(kos__devices_command(&srv, id, &c, &cid, err, sizeof(err)),
                     KOS_STATUS_UNAVAILABLE);
    assert_int_equal(port.n_sent, 0);
    hooks.online(hooks.arg, id);
    assert_int_equal(kos__devices_command(&srv, id, &c, &cid, err, sizeof(err)), KOS_STATUS_OK);
    down = sent_down(0);
    assert_int_equal(down->body_case, KOS__ADMIN__ADMIN_DOWN__BODY_COMMAND);
    assert_int_equal(down->command->id, cid);
    assert_int_equal(down->command->body_case, KOS__ADMIN__COMMAND__BODY_RESTART_APP);
    assert_string_equal(down->command->restart_app->app, "sensor");
    kos__admin__admin_down__free_unpacked(down, NULL);
    c.kind = KOS__CMD_REBOOT;
    assert_int_equal(kos__devices_command(&srv, id, &c, &cid2, err, sizeof(err)), KOS_STATUS_OK);
    down = sent_down(1);
    assert_int_equal(down->command->body_case, KOS__ADMIN__COMMAND__BODY_REBOOT);
    kos__admin__admin_down__free_unpacked(down, NULL);
    /* The result comes back as an event. */
    res.id = cid;
    res.status = KOS_STATUS_NOT_FOUND;
    res.message = "no app \x1b[31msensor";
    up.body_case = KOS__ADMIN__ADMIN_UP__BODY_RESULT;
    up.result = &res;
    send_up(&up);
    r = last_event("result");
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), cid);
    assert_int_equal(json_integer_value(json_object_get(r, "status")), KOS_STATUS_NOT_FOUND);
    assert_string_equal(json_string_value(json_object_get(r, "status_text")), "not found");
    assert_string_equal(json_string_value(json_object_get(r, "message")), "no app \\x1b[31msensor");
    /* Twice, or for a command never sent: ignored, not an error. */
    send_up(&up);
    res.id = 999;
    send_up(&up);
    assert_int_equal(count_events("result"), 1);
    turn();
    assert_int_equal(port.n_kicked, 0);
    /* A full channel says so. */
    port.send_status = KOS_STATUS_BUSY;
    assert_int_equal(kos__devices_command(&srv, id, &c, &cid2, err, sizeof(err)), KOS_STATUS_BUSY);
    assert_non_null(strstr(err, "full"));
}

static void test_logs(void **state)
{
    enum { N = 280 };
    static Kos__Logs__LogRecord recs[N];
    static Kos__Logs__LogRecord *ptrs[N];
    static char text[N][200];
    Kos__Logs__LogBatch b = KOS__LOGS__LOG_BATCH__INIT;
    static uint8_t buf[256 * 1024];
    size_t n, total = 0, i;
    json_t *e, *j;

    (void)state;
    for (i = 0; i < N; i++) {
        kos__logs__log_record__init(&recs[i]);
        recs[i].seq = 100 + i;
        recs[i].time_ns = 1700000000000000000LL;
        recs[i].app = i % 2 ? "sensor" : "core";
        recs[i].level = (uint32_t)(i % 4);
        memset(text[i], 'x', sizeof(text[i]) - 1);
        text[i][0] = '\x1b';
        recs[i].text = text[i];
        recs[i].console = i % 3 == 0;
        ptrs[i] = &recs[i];
    }
    b.records = ptrs;
    b.n_records = N;
    b.dropped = 17;
    n = kos__logs__log_batch__get_packed_size(&b);
    assert_true(n <= KOS__SRV_MSG_MAX && n <= sizeof(buf));
    kos__logs__log_batch__pack(&b, buf);
    hooks.data(hooks.arg, id, 2, buf, n);
    /* Stored, counted, and sent as several events of bounded size. */
    j = kos__store_logs_json(srv.store, id, 0, 1000);
    assert_int_equal(json_array_size(json_object_get(j, "records")), N);
    assert_int_equal(json_integer_value(json_object_get(j, "dropped")), 17);
    e = json_array_get(json_object_get(j, "records"), 1);
    assert_string_equal(json_string_value(json_object_get(e, "app")), "sensor");
    assert_string_equal(json_string_value(json_object_get(e, "level")), "info");
    assert_int_equal(json_integer_value(json_object_get(e, "device_seq")), 101);
    assert_int_equal(strncmp(json_string_value(json_object_get(e, "text")), "\\x1bxxx", 7), 0);
    json_decref(j);
    assert_true(count_events("log") > 1);
    /* Every record in exactly one event, each event of bounded size, the
     * loss counted once, with the first. */
    size_t nth = 0;
    json_array_foreach(seen.events, i, e)
    {
        json_t *d = json_object_get(e, "data");
        char *s;
        if (strcmp(json_string_value(json_object_get(e, "type")), "log") != 0)
            continue;
        s = json_dumps(d, JSON_COMPACT);
        assert_true(strlen(s) <= KOS__SRV_EVENT_MAX);
        free(s);
        assert_int_equal(json_integer_value(json_object_get(d, "dropped")), nth++ ? 0 : 17);
        total += json_array_size(json_object_get(d, "records"));
    }
    assert_int_equal(total, N);
    /* Text longer than the bound is cut at a character boundary. */
    {
        static char big[KOS__SRV_LOG_TEXT_MAX + 100];
        Kos__Logs__LogRecord *one[] = {&recs[0]};
        memset(big, 'y', sizeof(big) - 1);
        memcpy(big + KOS__SRV_LOG_TEXT_MAX - 1, "\xc3\xa9", 2); /* an é across the cut */
        recs[0].text = big;
        b.records = one;
        b.n_records = 1;
        b.dropped = 0;
        n = kos__logs__log_batch__get_packed_size(&b);
        kos__logs__log_batch__pack(&b, buf);
        hooks.data(hooks.arg, id, 2, buf, n);
        j = kos__store_logs_json(srv.store, id, N, 10);
        e = json_array_get(json_object_get(j, "records"), 0);
        assert_int_equal(strlen(json_string_value(json_object_get(e, "text"))),
                         KOS__SRV_LOG_TEXT_MAX - 1);
        json_decref(j);
    }
    turn();
    assert_int_equal(port.n_kicked, 0);
}

/* A message that must be refused: nothing stored, the link ended later. */
static void refused(uint32_t ch, const uint8_t *p, size_t n)
{
    size_t kicks = port.n_kicked, events = json_array_size(seen.events);
    json_t *before = device(), *after;

    hooks.data(hooks.arg, id, ch, p, n);
    assert_int_equal(port.n_kicked, kicks); /* not inside the callback */
    turn();
    assert_int_equal(port.n_kicked, kicks + 1);
    assert_string_equal(port.kicked[kicks], id);
    assert_int_equal(json_array_size(seen.events), events);
    after = device();
    json_object_del(before, "last_seen");
    json_object_del(after, "last_seen");
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
}

static void test_malformed(void **state)
{
    Kos__Admin__AdminUp up = KOS__ADMIN__ADMIN_UP__INIT;
    Kos__Logs__LogRecord r = KOS__LOGS__LOG_RECORD__INIT, *rp[] = {&r};
    Kos__Logs__LogBatch b = KOS__LOGS__LOG_BATCH__INIT;
    Kos__Admin__Register reg = KOS__ADMIN__REGISTER__INIT;
    static uint8_t buf[KOS__SRV_MSG_MAX + 16];
    static char longs[KOS__SRV_SHORT_MAX + 2];
    size_t n;

    (void)state;
    hooks.online(hooks.arg, id);
    json_array_clear(seen.events);
    /* Not protobuf at all. */
    memset(buf, 0xff, 64);
    refused(1, buf, 64);
    refused(2, buf, 64);
    /* An AdminUp without a body. */
    n = kos__admin__admin_up__get_packed_size(&up);
    kos__admin__admin_up__pack(&up, buf);
    refused(1, buf, n);
    /* A channel the server does not take. */
    refused(9, buf, 1);
    /* Too big. */
    memset(buf, 0, sizeof(buf));
    refused(2, buf, KOS__SRV_MSG_MAX + 1);
    /* A record with a level that does not exist: the whole batch refused. */
    r.level = 7;
    r.app = "a";
    r.text = "t";
    b.records = rp;
    b.n_records = 1;
    n = kos__logs__log_batch__get_packed_size(&b);
    kos__logs__log_batch__pack(&b, buf);
    refused(2, buf, n);
    /* A string longer than the bound. */
    memset(longs, 's', sizeof(longs) - 1);
    reg.system = longs;
    up.body_case = KOS__ADMIN__ADMIN_UP__BODY_REGISTER;
    up.register_ = &reg;
    n = kos__admin__admin_up__get_packed_size(&up);
    kos__admin__admin_up__pack(&up, buf);
    refused(1, buf, n);
    assert_int_equal(port.n_sent, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_and_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
