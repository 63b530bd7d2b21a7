/*
 * test_admin.c - the admin component's parts (components/admin/admin.h):
 * its settings, the bounded queue of records, and the agent driven with
 * encoded AdminDown messages, as the server would send them, through fake
 * ops that stand for the tunnel and Core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin.pb-c.h"
#include "admin_msg.h"
#include "logs.pb-c.h"

/* ---- settings ---- */

static bool parse(struct admin_config *cfg, const char *key, const char *value, char *err)
{
    const char *k[] = {key}, *v[] = {value};
    return admin_config_parse(cfg, k, v, key ? 1 : 0, err, 256);
}

static void test_config(void **state)
{
    (void)state;
    struct admin_config cfg;
    char err[256];

    assert_true(parse(&cfg, NULL, NULL, err));
    assert_int_equal(cfg.health_every_ms, 10000);
    assert_int_equal(cfg.offline_buffer, 256 * 1024);
    assert_true(parse(&cfg, "health_every", "2m", err));
    assert_int_equal(cfg.health_every_ms, 120000);
    assert_true(parse(&cfg, "offline_buffer", "1MiB", err));
    assert_int_equal(cfg.offline_buffer, 1024 * 1024);
    assert_true(parse(&cfg, "remote_shell", "disabled", err));
    assert_false(cfg.remote_shell);
    assert_true(parse(&cfg, "remote_shell", "enabled", err));
    assert_true(cfg.remote_shell);

    static const struct {
        const char *key, *value, *says;
    } bad[] = {
        {"health_every", "500ms",
         "config health_every: '500ms' is too small; write a duration from 1s to 1h"},
        {"health_every", "2h", "config health_every: '2h' is too large"},
        {"health_every", "10", "config health_every: '10' is not a duration from 1s to 1h"},
        {"offline_buffer", "1KiB",
         "config offline_buffer: '1KiB' is too small; write a size from 16KiB to 64MiB"},
        {"offline_buffer", "128MiB", "config offline_buffer: '128MiB' is too large"},
        {"offline_buffer", "lots", "config offline_buffer: 'lots' is not a size"},
        {"remote_shell", "yes",
         "config remote_shell: 'yes' is not a value it takes; write enabled (the device's "
         "command console"},
        {"remote_shell", "Enabled", "config remote_shell: 'Enabled' is not a value it takes"},
        {"remote_debug", "on",
         "config remote_debug: 'on' is not a value it takes; write enabled (debugging apps "
         "marked debug: true"},
        {"health_evry", "10s", "config: unknown setting 'health_evry'; admin's settings are"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(parse(&cfg, bad[i].key, bad[i].value, err));
        if (!strstr(err, bad[i].says))
            fail_msg("%s: %s: said '%s'", bad[i].key, bad[i].value, err);
    }
}

/* The saved place in the log stream: strict lines, the good ones kept. */
static void test_place(void **state)
{
    (void)state;
    uint64_t seq, cursor;
    static const char good[] = "# admin's place\nseq 1520\ncursor 977\n";

    assert_true(admin_place_parse(good, strlen(good), &seq, &cursor));
    assert_int_equal(seq, 1520);
    assert_int_equal(cursor, 977);
    assert_true(admin_place_parse("", 0, &seq, &cursor));
    assert_int_equal(seq, 1);
    assert_int_equal(cursor, 0);
    static const char *const bad[] = {
        "seq 0\n",
        "seq -5\n",
        "seq  5\n",
        "seq 5 \n",
        "seq 18446744073709551616\n",
        "cursor\n",
        "cursor 0x10\n",
        "seq 5\ncursor 9\njunk\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (admin_place_parse(bad[i], strlen(bad[i]), &seq, &cursor))
            fail_msg("accepted '%s'", bad[i]);
    /* The good lines of a damaged file still count. */
    assert_false(admin_place_parse(bad[7], strlen(bad[7]), &seq, &cursor));
    assert_int_equal(seq, 5);
    assert_int_equal(cursor, 9);
    assert_true(admin_place_parse("seq 18446744073709551615", 24, &seq, &cursor));
    assert_int_equal(seq, UINT64_MAX);
}

/* ---- the queue ---- */

static Kos__Logs__LogBatch *unpack_batch(const uint8_t *buf, size_t len)
{
    Kos__Logs__LogBatch *b = kos__logs__log_batch__unpack(NULL, len, buf);
    assert_non_null(b);
    return b;
}

static void test_logq_bounds(void **state)
{
    (void)state;
    struct admin_logq q;
    uint8_t buf[KOS_TUNNEL_DATA_MAX];
    size_t n, len;

    assert_true(admin_logq_init(&q, 16 * 1024));
    for (int i = 0; i < 1000; i++) {
        char text[64];
        int k = snprintf(text, sizeof(text), "info: line %d", i);
        admin_logq_push(&q, 1000 + i, "talker", 1, true, 0, text, (size_t)k, true);
        assert_true(q.bytes <= q.max_bytes);
    }
    /* The oldest went first, every one counted. */
    assert_true(q.dropped > 0);
    assert_int_equal(q.dropped + q.n, 1000);
    assert_int_equal(q.dropped_total, q.dropped);
    admin_logq_lost(&q, 5); /* lost before they came */
    len = admin_logq_batch(&q, 41, buf, sizeof(buf), &n);
    assert_true(len > 0 && len <= sizeof(buf));
    assert_true(n > 0 && n < q.n);
    Kos__Logs__LogBatch *b = unpack_batch(buf, len);
    assert_int_equal(b->n_records, n);
    assert_int_equal(b->dropped, 1000 - q.n + 5);
    assert_int_equal(b->records[0]->seq, 41);
    assert_int_equal(b->records[n - 1]->seq, 41 + n - 1);
    char first[64];
    snprintf(first, sizeof(first), "info: line %d", 1000 - (int)q.n);
    assert_string_equal(b->records[0]->text, first);
    assert_string_equal(b->records[0]->app, "talker");
    assert_true(b->records[0]->console);
    kos__logs__log_batch__free_unpacked(b, NULL);
    /* Sent: they leave, and the next batch starts with no drops. */
    size_t before = q.n;
    admin_logq_sent(&q, n);
    assert_int_equal(q.n, before - n);
    assert_int_equal(q.dropped, 0);
    len = admin_logq_batch(&q, 41 + n, buf, sizeof(buf), &n);
    b = unpack_batch(buf, len);
    assert_int_equal(b->dropped, 0);
    kos__logs__log_batch__free_unpacked(b, NULL);
    admin_logq_fini(&q);
}

static void test_logq_text(void **state)
{
    (void)state;
    struct admin_logq q;
    uint8_t buf[KOS_TUNNEL_DATA_MAX];
    size_t n, len;
    static char big[9999];

    assert_true(admin_logq_init(&q, 256 * 1024));
    /* Raw text (a log_server record) is escaped: valid UTF-8, no controls. */
    admin_logq_push(&q, 1, "app", 2, false, 17, "a\x1b[2J\xff\n", 7, false);
    assert_int_equal(q.n, 1);
    len = admin_logq_batch(&q, 1, buf, sizeof(buf), &n);
    Kos__Logs__LogBatch *b = unpack_batch(buf, len);
    assert_string_equal(b->records[0]->text, "a\\x1b[2J\\xff\\x0a");
    assert_false(b->records[0]->console);
    assert_int_equal(b->records[0]->level, 2);
    kos__logs__log_batch__free_unpacked(b, NULL);
    admin_logq_sent(&q, n);
    /* A long line is split between characters, each piece a record. */
    for (size_t i = 0; i + 3 <= sizeof(big); i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3); /* the euro sign */
    admin_logq_push(&q, 2, "core", 1, true, 0, big, 9999, true);
    assert_true(q.n >= 4);
    size_t total = 0;
    while ((len = admin_logq_batch(&q, 1, buf, sizeof(buf), &n)) > 0) {
        b = unpack_batch(buf, len);
        for (size_t i = 0; i < b->n_records; i++) {
            size_t l = strlen(b->records[i]->text);
            assert_true(l <= ADMIN_LOG_PIECE);
            assert_int_equal(l % 3, 0); /* no character cut */
            total += l;
        }
        kos__logs__log_batch__free_unpacked(b, NULL);
        admin_logq_sent(&q, n);
    }
    assert_int_equal(total, 9999);
    /* A record never fits when alone larger than the bound: counted. */
    admin_logq_fini(&q);
    assert_true(admin_logq_init(&q, 16 * 1024));
    admin_logq_push(&q, 3, "app", 1, false, 0, "x", 1, true);
    admin_logq_push(&q, 3, "app", 1, false, 0, big, 9999, true); /* four pieces, all fit */
    assert_int_equal(q.dropped, 0);
    admin_logq_fini(&q);
}

static void test_logq_unpull(void **state)
{
    (void)state;
    struct admin_logq q;

    assert_true(admin_logq_init(&q, 64 * 1024));
    assert_int_equal(admin_logq_unpull(&q), 0);
    admin_logq_push(&q, 1, "core", 1, true, 0, "one", 3, true);
    admin_logq_push(&q, 2, "app", 1, false, 30, "rec 30", 6, false);
    admin_logq_push(&q, 3, "core", 1, true, 0, "two", 3, true);
    admin_logq_push(&q, 4, "app", 1, false, 31, "rec 31", 6, false);
    assert_int_equal(admin_logq_oldest_src(&q), 30);
    size_t bytes = q.bytes;
    assert_int_equal(admin_logq_unpull(&q), 30);
    assert_int_equal(q.n, 2);
    assert_true(q.bytes < bytes);
    assert_int_equal(admin_logq_oldest_src(&q), 0);
    uint8_t buf[KOS_TUNNEL_DATA_MAX];
    size_t n, len = admin_logq_batch(&q, 1, buf, sizeof(buf), &n);
    Kos__Logs__LogBatch *b = unpack_batch(buf, len);
    assert_int_equal(b->n_records, 2);
    assert_string_equal(b->records[0]->text, "one");
    assert_string_equal(b->records[1]->text, "two");
    kos__logs__log_batch__free_unpacked(b, NULL);
    admin_logq_fini(&q);
}

/* ---- the agent ---- */

#define MAX_SENT 64

/* The world the agent sees: what it sent, what it asked Core. */
struct fake {
    kos_status_t send_status; /* what sends answer */
    size_t n_sent;
    uint32_t channel[MAX_SENT];
    uint8_t *data[MAX_SENT];
    size_t len[MAX_SENT];
    int restarts, reboots;
    uint32_t last_core_id;
    char last_app[64], last_reason[128];
};

static kos_status_t fake_send(void *arg, uint32_t channel, const void *data, size_t len)
{
    struct fake *f = arg;
    assert_true(len <= KOS_TUNNEL_DATA_MAX);
    if (f->send_status)
        return f->send_status;
    assert_true(f->n_sent < MAX_SENT);
    f->channel[f->n_sent] = channel;
    f->data[f->n_sent] = malloc(len);
    memcpy(f->data[f->n_sent], data, len);
    f->len[f->n_sent++] = len;
    return KOS_STATUS_OK;
}

/* What the agent asks of Core: counted, its id and text kept. */
static kos_status_t fake_ask(struct fake *f, int *count, uint32_t core_id, char *text, size_t cap,
                             const char *what)
{
    (*count)++;
    f->last_core_id = core_id;
    snprintf(text, cap, "%s", what);
    return KOS_STATUS_OK;
}

static kos_status_t fake_restart(void *arg, uint32_t core_id, const char *app)
{
    struct fake *f = arg;
    return fake_ask(f, &f->restarts, core_id, f->last_app, sizeof(f->last_app), app);
}

static kos_status_t fake_reboot(void *arg, uint32_t core_id, const char *reason)
{
    struct fake *f = arg;
    return fake_ask(f, &f->reboots, core_id, f->last_reason, sizeof(f->last_reason), reason);
}

static void fake_clear(struct fake *f)
{
    for (size_t i = 0; i < f->n_sent; i++)
        free(f->data[i]);
    f->n_sent = 0;
}

/* The i-th message sent, as an AdminUp (on the admin channel). */
static Kos__Admin__AdminUp *sent_up(struct fake *f, size_t i)
{
    assert_true(i < f->n_sent);
    assert_int_equal(f->channel[i], KOS_TUNNEL_ADMIN);
    Kos__Admin__AdminUp *up = kos__admin__admin_up__unpack(NULL, f->len[i], f->data[i]);
    assert_non_null(up);
    return up;
}

struct rig {
    struct fake f;
    struct admin_agent a;
    struct admin_state *s;
};

static void sample_state(struct admin_state *s, uint32_t n_apps)
{
    memset(s, 0, sizeof(*s));
    strcpy(s->system, "weather");
    memset(s->manifest, 'a', 64);
    strcpy(s->signer, "0123456789abcdef");
    strcpy(s->platform, "sim");
    strcpy(s->version, "0.1.0");
    s->boot_time_ns = 1700000000000000000ull;
    s->uptime_ms = 1234;
    s->boots = 1;
    s->self_test = KOS__SYS_SELF_TEST_PASSED;
    strcpy(s->self_test_text, "passed: msg0 ok (1 checks)");
    s->mem_total = 64 << 20;
    s->mem_used = 10 << 20;
    s->n_apps = n_apps;
    for (uint32_t i = 0; i < n_apps; i++) {
        snprintf(s->apps[i].name, sizeof(s->apps[i].name), i == 0 ? "msg0" : "app%u", i);
        s->apps[i].role = i == 0 ? KOS__ROLE_MSG_SERVER : KOS__ROLE_APP;
        s->apps[i].state = KOS__SYS_RUNNING_READY;
        strcpy(s->apps[i].last_exit, "none");
    }
}

static int rig_setup(void **state)
{
    struct rig *r = calloc(1, sizeof(*r));
    struct admin_config cfg = {.health_every_ms = 10000, .offline_buffer = 256 * 1024};
    struct admin_ops ops = {.send = fake_send, .restart = fake_restart, .reboot = fake_reboot};

    assert_non_null(r);
    ops.arg = &r->f;
    r->s = malloc(sizeof(*r->s));
    assert_non_null(r->s);
    sample_state(r->s, 4);
    assert_true(admin_agent_init(&r->a, &cfg, &ops, 100, 0));
    *state = r;
    return 0;
}

static int rig_teardown(void **state)
{
    struct rig *r = *state;
    admin_agent_fini(&r->a);
    fake_clear(&r->f);
    free(r->s);
    free(r);
    return 0;
}

/* The link up and Register sent, at time 0. */
static void rig_register(struct rig *r)
{
    admin_agent_link(&r->a, true, 0);
    assert_true(admin_agent_wants_state(&r->a));
    admin_agent_state(&r->a, r->s, 0);
    assert_true(r->a.registered);
}

/* The last message sent is a CommandResult: id, status, and a message
 * holding `says`. */
static void expect_result(struct fake *f, uint64_t id, uint32_t status, const char *says)
{
    Kos__Admin__AdminUp *up = sent_up(f, f->n_sent - 1);
    assert_int_equal(up->body_case, KOS__ADMIN__ADMIN_UP__BODY_RESULT);
    assert_int_equal(up->result->id, id);
    assert_int_equal(up->result->status, status);
    if (!strstr(up->result->message, says))
        fail_msg("result message '%s' lacks '%s'", up->result->message, says);
    kos__admin__admin_up__free_unpacked(up, NULL);
}

static void test_register_and_health(void **state)
{
    struct rig *r = *state;

    /* Nothing goes while the link is down. */
    admin_agent_state(&r->a, r->s, 0);
    admin_agent_pump(&r->a, 0);
    assert_int_equal(r->f.n_sent, 0);
    /* Up: Register first, from a fresh state. */
    admin_agent_link(&r->a, true, 10);
    assert_int_equal(r->f.n_sent, 0);
    assert_true(admin_agent_wants_state(&r->a));
    admin_agent_state(&r->a, r->s, 20);
    assert_int_equal(r->f.n_sent, 1);
    Kos__Admin__AdminUp *up = sent_up(&r->f, 0);
    assert_int_equal(up->body_case, KOS__ADMIN__ADMIN_UP__BODY_REGISTER);
    assert_string_equal(up->register_->system, "weather");
    assert_int_equal(strlen(up->register_->manifest_sha256), 64);
    assert_string_equal(up->register_->signer, "0123456789abcdef");
    assert_string_equal(up->register_->kos_version, "0.1.0");
    assert_string_equal(up->register_->platform, "sim");
    assert_int_equal(up->register_->boot_time_ns, 1700000000000000000ull);
    Kos__Admin__Health *h = up->register_->health;
    assert_non_null(h);
    assert_int_equal(h->n_apps, 4);
    assert_string_equal(h->apps[0]->name, "msg0");
    assert_string_equal(h->apps[0]->kind, "message server");
    assert_string_equal(h->apps[1]->kind, "app");
    assert_string_equal(h->apps[1]->state, "running, ready");
    assert_string_equal(h->apps[1]->last_exit, "none");
    assert_string_equal(h->self_test, "passed");
    assert_int_equal(h->mem_total, 64 << 20);
    kos__admin__admin_up__free_unpacked(up, NULL);
    fake_clear(&r->f);

    /* No change: no Health until health_every, then from a fresh state. */
    admin_agent_state(&r->a, r->s, 500);
    admin_agent_pump(&r->a, 5000);
    assert_int_equal(r->f.n_sent, 0);
    assert_int_equal(admin_agent_next_ms(&r->a, 5000), 20 + 10000);
    admin_agent_pump(&r->a, 10020);
    assert_int_equal(r->f.n_sent, 0);
    assert_true(admin_agent_wants_state(&r->a));
    r->s->uptime_ms = 11000;
    admin_agent_state(&r->a, r->s, 10030);
    assert_int_equal(r->f.n_sent, 1);
    up = sent_up(&r->f, 0);
    assert_int_equal(up->body_case, KOS__ADMIN__ADMIN_UP__BODY_HEALTH);
    assert_int_equal(up->health->uptime_ms, 11000);
    kos__admin__admin_up__free_unpacked(up, NULL);
    fake_clear(&r->f);

    /* A change (an app restarted): a Health, at most one a second. */
    r->s->apps[2].restarts = 1;
    strcpy(r->s->apps[2].last_exit, "killed by signal 11 (Segmentation fault)");
    admin_agent_state(&r->a, r->s, 10500);
    assert_int_equal(r->f.n_sent, 0); /* within a second of the last */
    assert_int_equal(admin_agent_next_ms(&r->a, 10500), 10030 + ADMIN_HEALTH_MIN_MS);
    admin_agent_pump(&r->a, 11030);
    assert_int_equal(r->f.n_sent, 1);
    up = sent_up(&r->f, 0);
    assert_int_equal(up->health->apps[2]->restarts, 1);
    assert_string_equal(up->health->apps[2]->last_exit, "killed by signal 11 (Segmentation fault)");
    kos__admin__admin_up__free_unpacked(up, NULL);
    fake_clear(&r->f);

    /* Down, then up again: Register again. */
    admin_agent_link(&r->a, false, 12000);
    admin_agent_link(&r->a, true, 13000);
    admin_agent_state(&r->a, r->s, 13001);
    up = sent_up(&r->f, 0);
    assert_int_equal(up->body_case, KOS__ADMIN__ADMIN_UP__BODY_REGISTER);
    kos__admin__admin_up__free_unpacked(up, NULL);
}

static void test_health_fits(void **state)
{
    struct rig *r = *state;

    /* A system too large for one message: as many apps as fit. */
    sample_state(r->s, KOS__SYS_MAX_PROCS);
    for (uint32_t i = 0; i < KOS__SYS_MAX_PROCS; i++)
        memset(r->s->apps[i].last_exit, 'x', KOS__SYS_EXIT_MAX - 1);
    rig_register(r);
    Kos__Admin__AdminUp *up = sent_up(&r->f, 0);
    assert_true(up->register_->health->n_apps > 0);
    assert_true(up->register_->health->n_apps < KOS__SYS_MAX_PROCS);
    kos__admin__admin_up__free_unpacked(up, NULL);
}

/* A store of n generations: the newest current and running, the one before
 * it good, the oldest failed. */
static void sample_store(struct admin_state *s, uint32_t n)
{
    s->store = true;
    s->generation = n;
    s->n_gens = n;
    for (uint32_t i = 0; i < n; i++) {
        struct admin_gen *g = &s->gens[i];
        g->n = i + 1;
        g->flags = i + 1 == n   ? KOS__SYS_GEN_CURRENT | KOS__SYS_GEN_RUNNING
                   : i + 2 == n ? KOS__SYS_GEN_GOOD
                                : 0;
        g->state = i + 1 == n   ? KOS__SYS_GEN_TRIAL
                   : i + 2 == n ? KOS__SYS_GEN_PASSED
                   : i == 0     ? KOS__SYS_GEN_FAILED
                                : KOS__SYS_GEN_KEPT;
        g->tries = i + 1 == n ? 1 : 0;
        g->created = 1765000000 + i;
        strcpy(g->signer, "0123456789abcdef");
    }
}

static void test_health_store(void **state)
{
    struct rig *r = *state;

    /* No store: none; remote_debug as admin's setting says. */
    rig_register(r);
    Kos__Admin__AdminUp *up = sent_up(&r->f, 0);
    assert_null(up->register_->health->store);
    assert_false(up->register_->health->remote_debug);
    kos__admin__admin_up__free_unpacked(up, NULL);
    fake_clear(&r->f);

    /* A store: every generation, its marks and its state in words. */
    sample_store(r->s, 3);
    admin_agent_link(&r->a, false, 100);
    rig_register(r);
    up = sent_up(&r->f, 0);
    Kos__Admin__BootStore *bs = up->register_->health->store;
    assert_non_null(bs);
    assert_int_equal(bs->running, 3);
    assert_int_equal(bs->n_generations, 3);
    assert_int_equal(bs->generations[0]->number, 1);
    assert_string_equal(bs->generations[0]->state, "failed");
    assert_true(bs->generations[1]->good);
    assert_false(bs->generations[1]->current);
    assert_string_equal(bs->generations[1]->state, "passed");
    assert_true(bs->generations[2]->current && bs->generations[2]->running);
    assert_string_equal(bs->generations[2]->state, "on trial");
    assert_int_equal(bs->generations[2]->tries, 1);
    assert_string_equal(bs->generations[2]->signer, "0123456789abcdef");
    assert_int_equal(bs->generations[2]->created, 1765000002);
    kos__admin__admin_up__free_unpacked(up, NULL);
    fake_clear(&r->f);

    /* A change of a generation's state alone is a Health on change. */
    r->s->gens[2].state = KOS__SYS_GEN_PASSED;
    r->s->gens[2].flags |= KOS__SYS_GEN_GOOD;
    r->s->gens[1].flags = 0;
    r->s->gens[1].state = KOS__SYS_GEN_KEPT;
    admin_agent_state(&r->a, r->s, 5000);
    admin_agent_pump(&r->a, 5000);
    assert_int_equal(r->f.n_sent, 1);
    up = sent_up(&r->f, 0);
    assert_int_equal(up->body_case, KOS__ADMIN__ADMIN_UP__BODY_HEALTH);
    assert_string_equal(up->health->store->generations[2]->state, "passed");
    kos__admin__admin_up__free_unpacked(up, NULL);
}

static void test_health_store_fits(void **state)
{
    struct rig *r = *state;

    /* The largest store beside the largest system: the marked generations
     * and the newest others that fit, apps after them, in one message. */
    sample_state(r->s, KOS__SYS_MAX_PROCS);
    sample_store(r->s, KOS__SYS_MAX_GENS);
    rig_register(r);
    assert_int_equal(r->f.n_sent, 1);
    Kos__Admin__AdminUp *up = sent_up(&r->f, 0);
    Kos__Admin__BootStore *bs = up->register_->health->store;
    assert_non_null(bs);
    assert_true(bs->n_generations >= 2);
    assert_int_equal(bs->generations[bs->n_generations - 1]->number, KOS__SYS_MAX_GENS);
    assert_true(bs->generations[bs->n_generations - 2]->good);
    assert_true(up->register_->health->n_apps > 0);
    kos__admin__admin_up__free_unpacked(up, NULL);
}

static void test_commands(void **state)
{
    struct rig *r = *state;
    uint8_t buf[256];
    size_t len;

    rig_register(r);
    fake_clear(&r->f);
    /* Restart: asked of Core, answered when Core answers. */
    len = admin_msg_pack(buf, ADMIN_MSG_RESTART, 7, "worker");
    admin_agent_down(&r->a, buf, len, 100);
    assert_int_equal(r->f.restarts, 1);
    assert_string_equal(r->f.last_app, "worker");
    assert_int_equal(r->f.n_sent, 0);
    admin_agent_core_result(&r->a, r->f.last_core_id, KOS_STATUS_OK, "app 'worker' restarted");
    admin_agent_pump(&r->a, 110);
    expect_result(&r->f, 7, 0, "app 'worker' restarted");
    /* An answer Core gives twice, or for nothing asked, is ignored. */
    admin_agent_core_result(&r->a, r->f.last_core_id, KOS_STATUS_OK, "again");
    admin_agent_core_result(&r->a, 999, KOS_STATUS_OK, "never asked");
    admin_agent_pump(&r->a, 120);
    assert_int_equal(r->f.n_sent, 1);
    /* Core's refusal goes back as it is. */
    len = admin_msg_pack(buf, ADMIN_MSG_RESTART, 8, "msg0");
    admin_agent_down(&r->a, buf, len, 130);
    admin_agent_core_result(&r->a, r->f.last_core_id, KOS_STATUS_UNSUPPORTED,
                            "'msg0' is a message server");
    admin_agent_pump(&r->a, 140);
    expect_result(&r->f, 8, KOS_STATUS_UNSUPPORTED, "message server");
    /* Reboot: Core is told who asked. */
    len = admin_msg_pack(buf, ADMIN_MSG_REBOOT, 9, NULL);
    admin_agent_down(&r->a, buf, len, 150);
    assert_int_equal(r->f.reboots, 1);
    assert_string_equal(r->f.last_reason, "command 9 from the server");
    admin_agent_core_result(&r->a, r->f.last_core_id, KOS_STATUS_OK, "rebooting");
    admin_agent_pump(&r->a, 160);
    expect_result(&r->f, 9, 0, "rebooting");
    /* Refused at once: not a name, an unknown kind of command. */
    static const char *const not_names[] = {"", "bad name", "../x", "-lead"};
    for (size_t i = 0; i < 4; i++) {
        len = admin_msg_pack(buf, ADMIN_MSG_RESTART, 20 + i, not_names[i]);
        admin_agent_down(&r->a, buf, len, 170);
        expect_result(&r->f, 20 + i, KOS_STATUS_INVALID_ARGUMENT, "not an app name");
    }
    len = admin_msg_pack(buf, ADMIN_MSG_COMMAND_NONE, 30, NULL);
    admin_agent_down(&r->a, buf, len, 180);
    expect_result(&r->f, 30, KOS_STATUS_UNSUPPORTED, "does not know this command");
    assert_int_equal(r->f.restarts, 2);
    assert_int_equal(r->a.refused, 5);
}

static void test_too_many_commands(void **state)
{
    struct rig *r = *state;
    uint8_t buf[256];

    rig_register(r);
    fake_clear(&r->f);
    for (uint64_t id = 1; id <= ADMIN_COMMANDS_MAX; id++)
        admin_agent_down(&r->a, buf, admin_msg_pack(buf, ADMIN_MSG_RESTART, id, "worker"), 10);
    assert_int_equal(r->f.restarts, ADMIN_COMMANDS_MAX);
    assert_int_equal(r->f.n_sent, 0);
    admin_agent_down(&r->a, buf, admin_msg_pack(buf, ADMIN_MSG_RESTART, 99, "worker"), 10);
    assert_int_equal(r->f.restarts, ADMIN_COMMANDS_MAX);
    expect_result(&r->f, 99, KOS_STATUS_BUSY, "too many commands");
}

static void test_refused(void **state)
{
    struct rig *r = *state;
    static const uint8_t garbage[][8] = {
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, /* not protobuf */
        {0x12, 0x05, 0x08},                               /* a command cut short */
        {0x1a, 0x00},                                     /* an unknown field, no body */
    };
    static const size_t glen[] = {8, 3, 2};
    uint8_t big[KOS_TUNNEL_DATA_MAX + 1];

    rig_register(r);
    fake_clear(&r->f);
    for (size_t i = 0; i < 3; i++)
        admin_agent_down(&r->a, garbage[i], glen[i], 100);
    admin_agent_down(&r->a, NULL, 0, 100); /* an empty message: no body */
    memset(big, 0, sizeof(big));
    admin_agent_down(&r->a, big, sizeof(big), 100);
    assert_int_equal(r->a.refused, 5);
    assert_int_equal(r->f.n_sent, 0);
    assert_int_equal(r->f.restarts + r->f.reboots, 0);

    /* Registered: before this link's Register, refused; after, taken. */
    Kos__Admin__AdminDown down = KOS__ADMIN__ADMIN_DOWN__INIT;
    Kos__Admin__Registered reg = KOS__ADMIN__REGISTERED__INIT;
    uint8_t buf[256];
    reg.device_id = "3f9a1c0de4b27781aaaabbbbccccddddeeeeffff00001111222233334444";
    reg.name = "roof\x1b[2J";
    down.body_case = KOS__ADMIN__ADMIN_DOWN__BODY_REGISTERED;
    down.registered = &reg;
    size_t len = kos__admin__admin_down__pack(&down, buf);
    admin_agent_down(&r->a, buf, len, 200);
    assert_string_equal(r->a.device_name, "roof\x1b[2J"); /* escaped when shown */
    admin_agent_link(&r->a, false, 300);
    admin_agent_link(&r->a, true, 400);
    admin_agent_down(&r->a, buf, len, 500);
    assert_int_equal(r->a.refused, 6);
}

static void test_busy_and_logs(void **state)
{
    struct rig *r = *state;
    uint8_t buf[256];

    rig_register(r);
    fake_clear(&r->f);
    /* The tunnel has no room: the result waits, and goes with the room. */
    r->f.send_status = KOS_STATUS_BUSY;
    admin_agent_down(&r->a, buf, admin_msg_pack(buf, ADMIN_MSG_RESTART, 5, "worker"), 10);
    admin_agent_core_result(&r->a, r->f.last_core_id, KOS_STATUS_OK, "restarted");
    admin_agent_pump(&r->a, 20);
    assert_int_equal(r->f.n_sent, 0);
    r->f.send_status = KOS_STATUS_OK;
    admin_agent_pump(&r->a, 30); /* still busy until the tunnel says */
    assert_int_equal(r->f.n_sent, 0);
    admin_agent_room(&r->a, 1u << KOS_TUNNEL_ADMIN, 40);
    expect_result(&r->f, 5, 0, "restarted");
    fake_clear(&r->f);

    /* Records: numbered from the agent's next_seq, in batches. */
    for (int i = 0; i < 100; i++)
        admin_logq_push(&r->a.logq, i, "core", 1, true, 0, "a line of the console", 21, true);
    admin_logq_lost(&r->a.logq, 3);
    admin_agent_pump(&r->a, 50);
    assert_true(r->f.n_sent >= 1);
    uint64_t expect_seq = 100, records = 0;
    for (size_t i = 0; i < r->f.n_sent; i++) {
        assert_int_equal(r->f.channel[i], KOS_TUNNEL_LOGS);
        Kos__Logs__LogBatch *b = unpack_batch(r->f.data[i], r->f.len[i]);
        assert_int_equal(b->dropped, i == 0 ? 3 : 0);
        for (size_t k = 0; k < b->n_records; k++)
            assert_int_equal(b->records[k]->seq, expect_seq++);
        records += b->n_records;
        kos__logs__log_batch__free_unpacked(b, NULL);
    }
    assert_int_equal(records, 100);
    assert_int_equal(r->a.next_seq, 200);
    assert_int_equal(r->a.logq.n, 0);
    fake_clear(&r->f);
    /* The link down: records wait, and nothing is numbered. */
    r->f.send_status = KOS_STATUS_UNAVAILABLE;
    admin_logq_push(&r->a.logq, 1, "core", 1, true, 0, "waiting", 7, true);
    admin_agent_pump(&r->a, 60);
    assert_int_equal(r->a.logq.n, 1);
    assert_int_equal(r->a.next_seq, 200);
}

/* A whole state from two STATUS pages. */
static void test_state_take(void **state)
{
    (void)state;
    struct admin_state *s = calloc(1, sizeof(*s));
    struct kos__sys_status p = {
        .system = "weather",
        .manifest = "0000000000000000000000000000000000000000000000000000000000000000",
        .signer = "",
        .platform = "sim",
        .version = "0.1.0",
        .self_test_summary = "",
        .n_total = 3,
        .first = 0,
        .n_procs = 2,
        .procs = {{"msg0", KOS__ROLE_MSG_SERVER, KOS__SYS_RUNNING_READY, 0, 0, "none"},
                  {"a", KOS__ROLE_APP, KOS__SYS_WAITING, 2, 1, "exited with status 1"}},
    };

    assert_non_null(s);
    assert_false(admin_state_take(s, &p));
    p.first = 2;
    p.n_procs = 1;
    p.procs[0] = (struct kos__sys_proc){"b", KOS__ROLE_APP, KOS__SYS_FAILED, 5, 0, "none"};
    assert_true(admin_state_take(s, &p));
    assert_int_equal(s->n_apps, 3);
    assert_string_equal(s->system, "weather");
    assert_string_equal(s->apps[1].last_exit, "exited with status 1");
    assert_int_equal(s->apps[2].state, KOS__SYS_FAILED);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_place),
        cmocka_unit_test(test_logq_bounds),
        cmocka_unit_test(test_logq_text),
        cmocka_unit_test(test_logq_unpull),
        cmocka_unit_test(test_state_take),
        cmocka_unit_test_setup_teardown(test_register_and_health, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_health_fits, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_health_store, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_health_store_fits, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_commands, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_too_many_commands, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_refused, rig_setup, rig_teardown),
        cmocka_unit_test_setup_teardown(test_busy_and_logs, rig_setup, rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
