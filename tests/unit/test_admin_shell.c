/*
 * test_admin_shell.c - admin's remote shell (components/admin/shell.c):
 * the command parser on good and hostile lines, and the session driven
 * with encoded ShellDown messages, as a server would send them, through
 * fake ops that stand for the tunnel and Core: each command's answer, the
 * answer's pieces and bounds, Core's answers and silence, a disabled shell,
 * a link that goes down.
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
#include "shell.pb-c.h"
#include "shell_msg.h"

/* ---- the parser ---- */

static kos_status_t parse(const char *line, struct admin_shell_command *c, char *err)
{
    return admin_shell_parse((const uint8_t *)line, strlen(line), c, err, 256);
}

static void test_parse_good(void **state)
{
    (void)state;
    struct admin_shell_command c;
    char err[256];

    static const struct {
        const char *line;
        enum admin_shell_cmd cmd;
        const char *app;
        uint32_t count;
        bool on;
    } good[] = {
        {"", ADMIN_SHELL_EMPTY, "", 0, false},
        {"   ", ADMIN_SHELL_EMPTY, "", 0, false},
        {"help", ADMIN_SHELL_HELP, "", 0, false},
        {"  apps  ", ADMIN_SHELL_APPS, "", 0, false},
        {"restart ticker", ADMIN_SHELL_RESTART, "ticker", 0, false},
        {"restart   a.b-c_9", ADMIN_SHELL_RESTART, "a.b-c_9", 0, false},
        {"logs", ADMIN_SHELL_LOGS, "", ADMIN_SHELL_LOGS_DEFAULT, false},
        {"logs 5", ADMIN_SHELL_LOGS, "", 5, false},
        {"logs ticker", ADMIN_SHELL_LOGS, "ticker", ADMIN_SHELL_LOGS_DEFAULT, false},
        {"logs ticker 200", ADMIN_SHELL_LOGS, "ticker", 200, false},
        {"logs 5 7", ADMIN_SHELL_LOGS, "5", 7, false},
        {"dir", ADMIN_SHELL_DIR, "", 0, false},
        {"trace sensor on", ADMIN_SHELL_TRACE, "sensor", 0, true},
        {"trace sensor off", ADMIN_SHELL_TRACE, "sensor", 0, false},
        {"health", ADMIN_SHELL_HEALTH, "", 0, false},
        {"reboot", ADMIN_SHELL_REBOOT, "", 0, false},
        {"keys", ADMIN_SHELL_KEYS, "", 0, false},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (parse(good[i].line, &c, err) != KOS_STATUS_OK)
            fail_msg("'%s' refused: %s", good[i].line, err);
        assert_int_equal(c.cmd, good[i].cmd);
        assert_string_equal(c.app, good[i].app);
        assert_int_equal(c.count, good[i].count);
        assert_int_equal(c.on, good[i].on);
    }
}

static void test_parse_bad(void **state)
{
    (void)state;
    struct admin_shell_command c;
    char err[256], line[600];

    static const struct {
        const char *line;
        kos_status_t st;
        const char *says;
    } bad[] = {
        {"sh", KOS_STATUS_UNSUPPORTED,
         "unknown command 'sh': the commands are help, apps, restart, logs, dir, trace, health, "
         "reboot and keys"},
        {"APPS", KOS_STATUS_UNSUPPORTED, "unknown command 'APPS'"},
        {"rm -rf /", KOS_STATUS_UNSUPPORTED, "unknown command 'rm'"},
        {"apps now", KOS_STATUS_INVALID_ARGUMENT, "apps takes no arguments"},
        {"reboot -f", KOS_STATUS_INVALID_ARGUMENT, "reboot takes no arguments"},
        {"restart", KOS_STATUS_INVALID_ARGUMENT, "restart takes one app: restart APP"},
        {"restart a b", KOS_STATUS_INVALID_ARGUMENT, "restart takes one app"},
        {"restart ../x", KOS_STATUS_INVALID_ARGUMENT, "'../x' is not an app name"},
        {"restart caf\xc3\xa9", KOS_STATUS_INVALID_ARGUMENT, "'caf\xc3\xa9' is not an app name"},
        {"logs 0", KOS_STATUS_INVALID_ARGUMENT, "the number of lines is 1 to 200"},
        {"logs 201", KOS_STATUS_INVALID_ARGUMENT, "the number of lines is 1 to 200"},
        {"logs 99999999999999999999", KOS_STATUS_INVALID_ARGUMENT, "the number of lines"},
        {"logs ticker x", KOS_STATUS_INVALID_ARGUMENT, "logs takes an app, a number of lines"},
        {"logs a b c", KOS_STATUS_INVALID_ARGUMENT, "logs takes an app, a number of lines"},
        {"logs ticker 1 2", KOS_STATUS_INVALID_ARGUMENT, "logs takes an app, a number of lines"},
        {"logs a b c d", KOS_STATUS_INVALID_ARGUMENT,
         "too many words: no command takes more "
         "than 3"},
        {"trace sensor", KOS_STATUS_INVALID_ARGUMENT, "trace APP on|off"},
        {"trace sensor yes", KOS_STATUS_INVALID_ARGUMENT, "trace APP on|off"},
        {"trace bad/name on", KOS_STATUS_INVALID_ARGUMENT, "'bad/name' is not an app name"},
        {"apps\x1b[2J", KOS_STATUS_INVALID_ARGUMENT,
         "the line holds a control character (\\x1b) at byte 5"},
        {"apps\t", KOS_STATUS_INVALID_ARGUMENT, "a control character (\\x09) at byte 5"},
        {"apps\r", KOS_STATUS_INVALID_ARGUMENT, "a control character (\\x0d) at byte 5"},
        {"ap\x7fps", KOS_STATUS_INVALID_ARGUMENT, "a control character (\\x7f) at byte 3"},
        {"apps \xc2\x9b", KOS_STATUS_INVALID_ARGUMENT, "a control character (\\u009b) at byte 6"},
        {"\xe2\x80\xae", KOS_STATUS_INVALID_ARGUMENT, "a control character (\\u202e) at byte 1"},
        {"apps \xff", KOS_STATUS_INVALID_ARGUMENT, "not valid UTF-8 (byte 6 is \\xff)"},
        {"apps \xc0\xaf", KOS_STATUS_INVALID_ARGUMENT, "not valid UTF-8 (byte 6 is \\xc0)"},
        {"apps \xed\xa0\x80", KOS_STATUS_INVALID_ARGUMENT, "not valid UTF-8 (byte 6 is \\xed)"},
        {"apps \xe2\x82", KOS_STATUS_INVALID_ARGUMENT, "not valid UTF-8 (byte 6 is \\xe2)"},
        {"apps \xf4\x90\x80\x80", KOS_STATUS_INVALID_ARGUMENT, "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kos_status_t st = parse(bad[i].line, &c, err);
        if (st != bad[i].st || !strstr(err, bad[i].says))
            fail_msg("'%s': %s, said '%s'", bad[i].line, kos_status_str(st), err);
    }
    /* A NUL inside the line is a control character too. */
    assert_int_equal(admin_shell_parse((const uint8_t *)"apps\0x", 6, &c, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "(\\x00) at byte 5"));
    /* The longest line taken, and one byte more. */
    memset(line, 'a', sizeof(line));
    memcpy(line, "logs ", 5);
    assert_int_equal(admin_shell_parse((const uint8_t *)line, ADMIN_SHELL_LINE_MAX, &c, err, 256),
                     KOS_STATUS_INVALID_ARGUMENT); /* a name too long, but read */
    assert_non_null(strstr(err, "is not an app name"));
    assert_non_null(strstr(err, "...'")); /* quoted cut short */
    assert_int_equal(
        admin_shell_parse((const uint8_t *)line, ADMIN_SHELL_LINE_MAX + 1, &c, err, 256),
        KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "the line is 257 bytes long; a command line has at most 256"));
    /* An unknown word is quoted escaped: nothing of it drives a terminal. */
    assert_int_equal(parse("x\\x1b", &c, err), KOS_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err, "'x\\x1b'"));
}

/* ---- the session ---- */

#define MAX_SENT 64

/* What the shell sent and asked; what Core does. */
struct fake {
    kos_status_t send_status;
    size_t n_sent;
    uint8_t *data[MAX_SENT];
    size_t len[MAX_SENT];
    int restarts, reboots, tables, states;
    uint32_t core_id, table_kind, table_first;
    char app[64];
};

static kos_status_t fake_send(void *arg, uint32_t channel, const void *data, size_t len)
{
    struct fake *f = arg;

    assert_int_equal(channel, KOS_TUNNEL_SHELL);
    assert_true(len <= KOS_TUNNEL_DATA_MAX);
    if (f->send_status)
        return f->send_status;
    assert_true(f->n_sent < MAX_SENT);
    f->data[f->n_sent] = malloc(len ? len : 1);
    memcpy(f->data[f->n_sent], data, len);
    f->len[f->n_sent++] = len;
    return KOS_STATUS_OK;
}

static kos_status_t fake_restart(void *arg, uint32_t core_id, const char *app)
{
    struct fake *f = arg;
    f->restarts++;
    f->core_id = core_id;
    snprintf(f->app, sizeof(f->app), "%s", app);
    return KOS_STATUS_OK;
}

static kos_status_t fake_reboot(void *arg, uint32_t core_id, const char *reason)
{
    struct fake *f = arg;
    (void)reason;
    f->reboots++;
    f->core_id = core_id;
    return KOS_STATUS_OK;
}

static kos_status_t fake_table(void *arg, uint32_t core_id, uint32_t kind, uint32_t first)
{
    struct fake *f = arg;
    f->tables++;
    f->core_id = core_id;
    f->table_kind = kind;
    f->table_first = first;
    return KOS_STATUS_OK;
}

static void fake_want_state(void *arg)
{
    struct fake *f = arg;
    f->states++;
}

static void fake_clear(struct fake *f)
{
    for (size_t i = 0; i < f->n_sent; i++)
        free(f->data[i]);
    f->n_sent = 0;
}

struct rig {
    struct fake f;
    struct admin_agent a;
    struct admin_shell sh;
    struct admin_state *s;
};

static int setup(void **state, bool enabled)
{
    struct rig *r = calloc(1, sizeof(*r));
    struct admin_config cfg = {.health_every_ms = 10000, .offline_buffer = 256 * 1024};
    struct admin_ops ops = {.send = fake_send,
                            .restart = fake_restart,
                            .reboot = fake_reboot,
                            .table = fake_table,
                            .want_state = fake_want_state};

    assert_non_null(r);
    ops.arg = &r->f;
    assert_true(admin_agent_init(&r->a, &cfg, &ops, 1, 0));
    assert_true(admin_shell_init(&r->sh, enabled, &ops, &r->a, 0));
    r->s = calloc(1, sizeof(*r->s));
    strcpy(r->s->system, "weather");
    memset(r->s->manifest, 'a', 64);
    strcpy(r->s->platform, "sim");
    strcpy(r->s->version, "0.1.0");
    r->s->uptime_ms = 3723000;
    r->s->boots = 1;
    r->s->self_test = KOS__SYS_SELF_TEST_PASSED;
    r->s->mem_total = 64 << 20;
    r->s->mem_used = 10 << 20;
    r->s->n_apps = 3;
    static const char *const names[] = {"msg0", "log_server", "ticker"};
    for (uint32_t i = 0; i < 3; i++) {
        strcpy(r->s->apps[i].name, names[i]);
        r->s->apps[i].role = i == 0 ? KOS__ROLE_MSG_SERVER : KOS__ROLE_APP;
        r->s->apps[i].state = KOS__SYS_RUNNING_READY;
        strcpy(r->s->apps[i].last_exit, "none");
    }
    r->s->apps[2].restarts = r->s->apps[2].restarts_asked = 1;
    strcpy(r->s->apps[2].last_exit, "killed by signal 15 (Terminated)");
    admin_shell_link(&r->sh, true);
    *state = r;
    return 0;
}

static int setup_on(void **state)
{
    return setup(state, true);
}

static int setup_off(void **state)
{
    return setup(state, false);
}

static int teardown(void **state)
{
    struct rig *r = *state;
    admin_shell_fini(&r->sh);
    admin_agent_fini(&r->a);
    fake_clear(&r->f);
    free(r->s);
    free(r);
    return 0;
}

static void send_line(struct rig *r, uint64_t id, const char *line, uint64_t now)
{
    uint8_t buf[1024];
    assert_true(admin_shell_ready(&r->sh));
    admin_shell_input(&r->sh, buf, shell_msg_pack(buf, id, line), now);
}

/* The answer sent to line `id`, all its messages joined: its lines in
 * text ('\n' after each), and its status. Every message but the last is
 * not done; the last is. The sent messages are cleared. */
static uint32_t answer(struct rig *r, uint64_t id, char *text, size_t cap)
{
    size_t at = 0;
    uint32_t status = UINT32_MAX;

    assert_true(r->f.n_sent > 0);
    text[0] = '\0';
    for (size_t i = 0; i < r->f.n_sent; i++) {
        Kos__Shell__ShellUp *up = kos__shell__shell_up__unpack(NULL, r->f.len[i], r->f.data[i]);
        assert_non_null(up);
        assert_int_equal(up->id, id);
        assert_int_equal(up->done, i + 1 == r->f.n_sent);
        for (size_t k = 0; k < up->n_lines; k++) {
            for (const char *c = up->lines[k]; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    fail_msg("a control character in the answer: '%s'", up->lines[k]);
            at += (size_t)snprintf(text + at, at < cap ? cap - at : 0, "%s\n", up->lines[k]);
        }
        if (up->done)
            status = up->status;
        kos__shell__shell_up__free_unpacked(up, NULL);
    }
    fake_clear(&r->f);
    return status;
}

static void expect(const char *text, const char *says)
{
    if (!strstr(text, says))
        fail_msg("the answer lacks '%s':\n%s", says, text);
}

static char text[256 * 1024];

static void test_help_and_refusals(void **state)
{
    struct rig *r = *state;

    send_line(r, 1, "help", 0);
    assert_int_equal(answer(r, 1, text, sizeof(text)), KOS_STATUS_OK);
    expect(text, "  restart APP       stop app APP and start it again\n");
    expect(text, "  keys              the device's keys");
    send_line(r, 2, "", 0);
    assert_int_equal(answer(r, 2, text, sizeof(text)), KOS_STATUS_OK);
    assert_string_equal(text, "");
    send_line(r, 3, "bash -i", 0);
    assert_int_equal(answer(r, 3, text, sizeof(text)), KOS_STATUS_UNSUPPORTED);
    expect(text, "unknown command 'bash'");
    send_line(r, 4, "restart \x1b]0;pwned\x07", 0);
    assert_int_equal(answer(r, 4, text, sizeof(text)), KOS_STATUS_INVALID_ARGUMENT);
    expect(text, "control character (\\x1b) at byte 9");
    /* Not a ShellDown at all: answered with id 0. */
    admin_shell_input(&r->sh, (const uint8_t *)"\xff\xff\xff", 3, 0);
    assert_int_equal(answer(r, 0, text, sizeof(text)), KOS_STATUS_PROTOCOL);
    expect(text, "not a ShellDown message (3 bytes)");
    /* Tracing is not in this build (no trace op): said so, not faked. */
    send_line(r, 5, "trace ticker on", 0);
    assert_int_equal(answer(r, 5, text, sizeof(text)), KOS_STATUS_UNSUPPORTED);
    expect(text, "message tracing is not available in this build");
    assert_int_equal(r->f.restarts + r->f.reboots + r->f.tables + r->f.states, 0);
    assert_int_equal(r->sh.refused, 3);
}

static void test_apps_and_health(void **state)
{
    struct rig *r = *state;

    send_line(r, 7, "apps", 0);
    assert_false(admin_shell_ready(&r->sh));
    assert_true(admin_shell_wants_state(&r->sh));
    assert_int_equal(r->f.states, 1);
    assert_int_equal(r->f.n_sent, 0);
    admin_agent_state(&r->a, r->s, 5);
    admin_shell_state(&r->sh, 5);
    assert_true(admin_shell_ready(&r->sh));
    assert_int_equal(answer(r, 7, text, sizeof(text)), KOS_STATUS_OK);
    expect(text, "summary: 3 processes\n");
    expect(text, "  msg0             message server running, ready     restarts 0, last exit: "
                 "none\n");
    expect(text, "  ticker           app            running, ready     restarts 1 (1 asked for), "
                 "last exit: killed by signal 15 (Terminated)\n");

    send_line(r, 8, "health", 10);
    admin_shell_state(&r->sh, 11);
    assert_int_equal(answer(r, 8, text, sizeof(text)), KOS_STATUS_OK);
    expect(text, "system weather, image aaaaaaaaaaaaaaaa (unsigned), KOS 0.1.0 on sim\n");
    expect(text, "up 0d 1h 2m 3s, boot 1\n");
    expect(text, "memory: 10.0 MiB used of 64.0 MiB\n");
    expect(text, "self test: passed\n");
}

static void test_restart_and_reboot(void **state)
{
    struct rig *r = *state;

    send_line(r, 9, "restart ticker", 0);
    assert_int_equal(r->f.restarts, 1);
    assert_string_equal(r->f.app, "ticker");
    assert_true(r->f.core_id & ADMIN_SHELL_CORE_ID_BIT);
    assert_false(admin_shell_ready(&r->sh));
    /* An agent's result is not the shell's. */
    assert_false(admin_shell_core_result(&r->sh, 5, 0, "not mine", 1));
    assert_true(admin_shell_core_result(&r->sh, r->f.core_id, 0, "app 'ticker' restarted", 1));
    assert_int_equal(answer(r, 9, text, sizeof(text)), KOS_STATUS_OK);
    assert_string_equal(text, "app 'ticker' restarted\n");
    /* A late answer, for nobody, is the shell's still. */
    assert_true(admin_shell_core_result(&r->sh, r->f.core_id, 0, "again", 2));
    assert_int_equal(r->f.n_sent, 0);

    send_line(r, 10, "restart nothere", 3);
    assert_true(admin_shell_core_result(&r->sh, r->f.core_id, KOS_STATUS_NOT_FOUND,
                                        "no app 'nothere' in this system", 4));
    assert_int_equal(answer(r, 10, text, sizeof(text)), KOS_STATUS_NOT_FOUND);

    send_line(r, 11, "reboot", 5);
    assert_int_equal(r->f.reboots, 1);
    assert_true(admin_shell_core_result(&r->sh, r->f.core_id, 0, "rebooting: ...", 6));
    assert_int_equal(answer(r, 11, text, sizeof(text)), KOS_STATUS_OK);

    /* Core that never answers: TIMEOUT at the deadline, not before. */
    send_line(r, 12, "restart ticker", 100);
    assert_int_equal(admin_shell_next_ms(&r->sh), 100 + ADMIN_SHELL_CORE_MS);
    admin_shell_pump(&r->sh, 100 + ADMIN_SHELL_CORE_MS - 1);
    assert_int_equal(r->f.n_sent, 0);
    admin_shell_pump(&r->sh, 100 + ADMIN_SHELL_CORE_MS);
    assert_int_equal(answer(r, 12, text, sizeof(text)), KOS_STATUS_TIMEOUT);
    expect(text, "Core did not answer within 10 s");
    assert_int_equal(admin_shell_next_ms(&r->sh), UINT64_MAX);
}

/* A page of a table, rows [first, first + n) of `total`. */
static void table_page(struct rig *r, uint32_t kind, uint32_t first, uint32_t n, uint32_t total,
                       const char *const (*rows)[4])
{
    static struct kos__sys_table t;

    memset(&t, 0, sizeof(t));
    t.id = r->f.core_id;
    t.kind = kind;
    t.first = first;
    t.n_rows = n;
    t.n_total = total;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < 4; k++)
            t.cell[i][k] = rows[first + i][k];
    admin_shell_table(&r->sh, &t, 1);
}

static void test_dir_and_keys(void **state)
{
    struct rig *r = *state;
    static const char *const grants[][4] = {
        {"msg0", "kos_log_protocol", "request", "admin"},
        {"msg0", "kos_log_protocol", "publish", "log_server"},
        {"msg0", "weather", "request", "display"},
        {"msg0", "kos_log_protocol", "request", "ticker"},
        {"msg1", "weather", "publish", "sensor"},
    };
    static const char *const bundle[][4] = {
        {"identity", "ed25519", "9c1d5bf12a0a0a53", "private"},
        {"trusted_0", "ed25519", "03fb14beb85653a2", "public"},
        {"identity_cert", "x509", "9c1d5bf12a0a0a53", "item"},
        {"server", "text", "-", "item"},
    };

    admin_agent_state(&r->a, r->s, 0);
    send_line(r, 20, "dir", 0);
    assert_int_equal(r->f.tables, 1);
    assert_int_equal(r->f.table_kind, KOS__SYS_TABLE_GRANTS);
    assert_int_equal(r->f.table_first, 0);
    table_page(r, KOS__SYS_TABLE_GRANTS, 0, 3, 5, grants);
    assert_int_equal(r->f.tables, 2); /* the next page */
    assert_int_equal(r->f.table_first, 3);
    assert_int_equal(r->f.n_sent, 0);
    table_page(r, KOS__SYS_TABLE_GRANTS, 3, 2, 5, grants);
    assert_int_equal(answer(r, 20, text, sizeof(text)), KOS_STATUS_OK);
    expect(text, "3 protocols, as the manifest grants them");
    expect(text, "  msg0 kos_log_protocol: published by log_server (running, ready); requested by "
                 "admin, ticker\n");
    expect(text, "  msg0 weather: published by no app; requested by display\n");
    expect(text, "  msg1 weather: published by sensor; requested by no app\n");

    send_line(r, 21, "keys", 2);
    assert_int_equal(r->f.table_kind, KOS__SYS_TABLE_KEYS);
    table_page(r, KOS__SYS_TABLE_KEYS, 0, 4, 4, bundle);
    assert_int_equal(answer(r, 21, text, sizeof(text)), KOS_STATUS_OK);
    expect(text, "  identity         ed25519  9c1d5bf12a0a0a53 key pair, private half in "
                 "key_store\n");
    expect(text, "  trusted_0        ed25519  03fb14beb85653a2 public key\n");
    expect(text, "  identity_cert    x509     9c1d5bf12a0a0a53 certificate\n");
    send_line(r, 22, "keys", 3);
    table_page(r, KOS__SYS_TABLE_KEYS, 0, 0, 0, bundle);
    assert_int_equal(answer(r, 22, text, sizeof(text)), KOS_STATUS_OK);
    expect(text, "no device key bundle");
    /* A page for another request is not this one's. */
    send_line(r, 23, "keys", 4);
    r->f.core_id ^= 1;
    table_page(r, KOS__SYS_TABLE_KEYS, 0, 1, 1, bundle);
    assert_int_equal(r->f.n_sent, 0);
    r->f.core_id ^= 1;
    table_page(r, KOS__SYS_TABLE_KEYS, 0, 1, 1, bundle);
    assert_int_equal(answer(r, 23, text, sizeof(text)), KOS_STATUS_OK);
}

static void test_logs_and_pieces(void **state)
{
    struct rig *r = *state;
    char line[3000];
    size_t pieces;

    send_line(r, 30, "logs", 0);
    assert_int_equal(answer(r, 30, text, sizeof(text)), KOS_STATUS_OK);
    expect(text, "no console lines kept");
    for (int i = 0; i < 300; i++) {
        int n = snprintf(line, sizeof(line), "info: tick %d", i);
        admin_shell_line(&r->sh, 1700000000000000000ll + i * 1000000ll, i % 2 ? "ticker" : "core",
                         line, (size_t)n);
    }
    /* An app's text that would drive a terminal is kept escaped. */
    admin_shell_line(&r->sh, 1700000001000000000ll, "ticker", "evil \x1b[2J", 9);
    send_line(r, 31, "logs ticker 3", 1);
    assert_int_equal(answer(r, 31, text, sizeof(text)), KOS_STATUS_OK);
    assert_string_equal(text, "2023-11-14 22:13:20.297 ticker: info: tick 297\n"
                              "2023-11-14 22:13:20.299 ticker: info: tick 299\n"
                              "2023-11-14 22:13:21.000 ticker: evil \\x1b[2J\n");
    send_line(r, 32, "logs 2", 1);
    assert_int_equal(answer(r, 32, text, sizeof(text)), KOS_STATUS_OK);
    assert_string_equal(text, "2023-11-14 22:13:20.299 ticker: info: tick 299\n"
                              "2023-11-14 22:13:21.000 ticker: evil \\x1b[2J\n");
    /* Long lines: the answer comes in several messages, each within
     * KOS_TUNNEL_DATA_MAX (fake_send checks), each line cut. */
    memset(line, 'x', sizeof(line));
    for (int i = 0; i < 200; i++)
        admin_shell_line(&r->sh, 1700000002000000000ll, "talker", line, sizeof(line));
    send_line(r, 33, "logs talker 200", 2);
    pieces = r->f.n_sent;
    assert_true(pieces > 20);
    assert_int_equal(answer(r, 33, text, sizeof(text)), KOS_STATUS_OK);
    assert_true(strlen(text) <= ADMIN_SHELL_ANSWER_MAX);
    expect(text, "x [cut]\n");
    expect(text, "... (the answer is cut here: at most 65536 bytes)\n");
}

/* The link: no room waits; down drops what waited and the answer of a
 * command under way. */
static void test_link(void **state)
{
    struct rig *r = *state;

    r->f.send_status = KOS_STATUS_BUSY;
    send_line(r, 40, "help", 0);
    assert_false(admin_shell_ready(&r->sh));
    r->f.send_status = KOS_STATUS_OK;
    admin_shell_pump(&r->sh, 1); /* still waiting for the tunnel's news */
    assert_int_equal(r->f.n_sent, 0);
    admin_shell_room(&r->sh, 2);
    assert_true(admin_shell_ready(&r->sh));
    assert_int_equal(answer(r, 40, text, sizeof(text)), KOS_STATUS_OK);

    send_line(r, 41, "restart ticker", 3);
    admin_shell_link(&r->sh, false);
    admin_shell_link(&r->sh, true);
    assert_true(admin_shell_core_result(&r->sh, r->f.core_id, 0, "app 'ticker' restarted", 4));
    assert_int_equal(r->f.n_sent, 0); /* its server went with the link */
    assert_true(admin_shell_ready(&r->sh));

    /* A line while a command is under way (admin does not take one then):
     * refused BUSY, the command goes on. */
    send_line(r, 42, "restart ticker", 5);
    uint8_t buf[64];
    admin_shell_input(&r->sh, buf, shell_msg_pack(buf, 43, "apps"), 5);
    assert_int_equal(answer(r, 43, text, sizeof(text)), KOS_STATUS_BUSY);
    assert_true(admin_shell_core_result(&r->sh, r->f.core_id, 0, "app 'ticker' restarted", 6));
    assert_int_equal(answer(r, 42, text, sizeof(text)), KOS_STATUS_OK);
}

/* Disabled: every message is answered "disabled", nothing is carried out,
 * and no console line is kept. */
static void test_disabled(void **state)
{
    struct rig *r = *state;
    static const char *const lines[] = {"apps", "reboot", "restart ticker", "\xff\xfe", ""};

    for (uint64_t i = 0; i < 5; i++) {
        send_line(r, 50 + i, lines[i], i);
        assert_int_equal(answer(r, 50 + i, text, sizeof(text)), KOS_STATUS_UNAUTHORIZED);
        expect(text, "the remote shell is disabled on this device");
    }
    admin_shell_input(&r->sh, (const uint8_t *)"\x08", 1, 9);
    assert_int_equal(answer(r, 0, text, sizeof(text)), KOS_STATUS_UNAUTHORIZED);
    assert_int_equal(r->f.restarts + r->f.reboots + r->f.tables + r->f.states, 0);
    assert_int_equal(r->sh.refused, 6);
    assert_int_equal(r->sh.commands, 0);
    admin_shell_line(&r->sh, 1, "ticker", "tick", 4);
    assert_int_equal(r->sh.recent_n, 0);
    /* One console line, then one a minute (the budget's). */
    assert_int_equal(r->sh.log.quiet, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test_setup_teardown(test_help_and_refusals, setup_on, teardown),
        cmocka_unit_test_setup_teardown(test_apps_and_health, setup_on, teardown),
        cmocka_unit_test_setup_teardown(test_restart_and_reboot, setup_on, teardown),
        cmocka_unit_test_setup_teardown(test_dir_and_keys, setup_on, teardown),
        cmocka_unit_test_setup_teardown(test_logs_and_pieces, setup_on, teardown),
        cmocka_unit_test_setup_teardown(test_link, setup_on, teardown),
        cmocka_unit_test_setup_teardown(test_disabled, setup_off, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
