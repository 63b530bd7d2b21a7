/*
 * fuzz_admin.c - libFuzzer harness for what admin reads from outside
 * (components/admin/admin.h): the server's AdminDown messages, and its
 * settings.
 *
 * The first input byte picks (sel % 4):
 *   0  the rest is one AdminDown message, given to an agent whose link is
 *      up and registered; Core then answers every request the agent made
 *   1  the rest is a script: records of a u16 length (little-endian) and
 *      that many bytes, each an AdminDown message; a record of length
 *      0xffff flips the link down or up instead, and one of 0xfffe makes
 *      Core answer what is pending (with a status from the next byte)
 *   2  the rest is settings, "key=value" per line, for admin_config_parse()
 *   3  the rest is a saved place in the log stream, for admin_place_parse()
 * What the agent sends goes to a fake tunnel; what it asks of Core, to a
 * fake Core. Promises (admin.h): every message the agent sends unpacks as an
 * AdminUp or a LogBatch and fits KOS_TUNNEL_DATA_MAX; every command the
 * server sent is answered by exactly one CommandResult with its id (once
 * Core has answered and the link is up), and nothing else is; a message
 * that is not a command is answered by nothing; accepted settings are in
 * their documented ranges; a saved place read has a sequence number of at
 * least 1, and one that prints back as admin writes it reads back the same.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin.pb-c.h"
#include "fuzz.h"
#include "logs.pb-c.h"

#define MAX_IDS 256

/* The fake world of one input. */
static struct {
    struct admin_agent a;
    struct admin_state *state;
    uint64_t asked[MAX_IDS]; /* command ids the server sent, in order */
    size_t n_asked;
    uint64_t answered[MAX_IDS]; /* CommandResult ids the agent sent */
    size_t n_answered;
    uint32_t core_ids[MAX_IDS]; /* requests made of Core, not answered yet */
    size_t n_core;
} fz;

static kos_status_t fake_send(void *arg, uint32_t channel, const void *data, size_t len)
{
    (void)arg;
    if (len > KOS_TUNNEL_DATA_MAX)
        kos_fuzz_fail("the agent sent %zu bytes, more than %u", len, KOS_TUNNEL_DATA_MAX);
    if (channel == KOS_TUNNEL_LOGS) {
        Kos__Logs__LogBatch *b = kos__logs__log_batch__unpack(NULL, len, data);
        if (!b)
            kos_fuzz_fail("the agent sent a LogBatch that does not unpack");
        kos__logs__log_batch__free_unpacked(b, NULL);
        return KOS_STATUS_OK;
    }
    if (channel != KOS_TUNNEL_ADMIN)
        kos_fuzz_fail("the agent sent on channel %u", channel);
    Kos__Admin__AdminUp *up = kos__admin__admin_up__unpack(NULL, len, data);
    if (!up)
        kos_fuzz_fail("the agent sent an AdminUp that does not unpack");
    if (up->body_case == KOS__ADMIN__ADMIN_UP__BODY_RESULT && fz.n_answered < MAX_IDS)
        fz.answered[fz.n_answered++] = up->result->id;
    kos__admin__admin_up__free_unpacked(up, NULL);
    return KOS_STATUS_OK;
}

static kos_status_t fake_restart(void *arg, uint32_t core_id, const char *app)
{
    (void)arg;
    if (!kos__name_valid(app, strlen(app)))
        kos_fuzz_fail("the agent asked Core to restart an app with an invalid name");
    if (fz.n_core < MAX_IDS)
        fz.core_ids[fz.n_core++] = core_id;
    return KOS_STATUS_OK;
}

static kos_status_t fake_reboot(void *arg, uint32_t core_id, const char *reason)
{
    (void)arg;
    (void)reason;
    if (fz.n_core < MAX_IDS)
        fz.core_ids[fz.n_core++] = core_id;
    return KOS_STATUS_OK;
}

/* Notes the command id the message holds, as the server meant it. */
static void note_command(const uint8_t *data, size_t len)
{
    Kos__Admin__AdminDown *m;

    if (len > KOS_TUNNEL_DATA_MAX || !(m = kos__admin__admin_down__unpack(NULL, len, data)))
        return;
    if (m->body_case == KOS__ADMIN__ADMIN_DOWN__BODY_COMMAND && fz.n_asked < MAX_IDS)
        fz.asked[fz.n_asked++] = m->command->id;
    kos__admin__admin_down__free_unpacked(m, NULL);
}

static void core_answers(uint32_t status)
{
    for (size_t i = 0; i < fz.n_core; i++)
        admin_agent_core_result(&fz.a, fz.core_ids[i], status % KOS_STATUS__COUNT, "answered");
    fz.n_core = 0;
}

static void start(void)
{
    struct admin_config cfg = {.health_every_ms = 10000,
                               .offline_buffer = ADMIN_OFFLINE_BUFFER_MIN};
    struct admin_ops ops = {.send = fake_send, .restart = fake_restart, .reboot = fake_reboot};

    fz.n_asked = fz.n_answered = fz.n_core = 0;
    if (!fz.state) {
        fz.state = calloc(1, sizeof(*fz.state));
        if (!fz.state)
            abort();
        strcpy(fz.state->system, "fuzz");
        memset(fz.state->manifest, 'a', 64);
        strcpy(fz.state->platform, "sim");
        strcpy(fz.state->version, "0.1.0");
        fz.state->n_apps = 1;
        strcpy(fz.state->apps[0].name, "msg0");
        fz.state->apps[0].role = KOS__ROLE_MSG_SERVER;
        fz.state->apps[0].state = KOS__SYS_RUNNING_READY;
        strcpy(fz.state->apps[0].last_exit, "none");
    }
    if (!admin_agent_init(&fz.a, &cfg, &ops, 1, 0))
        abort();
    admin_agent_link(&fz.a, true, 0);
    admin_agent_state(&fz.a, fz.state, 0);
    if (!fz.a.registered)
        kos_fuzz_fail("the agent did not register");
}

/* Every command asked is answered once, by its id, and nothing else. */
static void finish(void)
{
    /* The link up, so that what waited goes. */
    if (!fz.a.up) {
        admin_agent_link(&fz.a, true, 1000);
        admin_agent_state(&fz.a, fz.state, 1000);
    }
    core_answers(0);
    admin_agent_pump(&fz.a, 2000);
    if (fz.n_asked <= ADMIN_UP_QUEUE && fz.n_asked < MAX_IDS) {
        if (fz.n_answered != fz.n_asked)
            kos_fuzz_fail("%zu commands sent, %zu results", fz.n_asked, fz.n_answered);
        for (size_t i = 0; i < fz.n_asked; i++) {
            bool found = false;
            for (size_t k = 0; k < fz.n_answered && !found; k++)
                if (fz.answered[k] == fz.asked[i]) {
                    fz.answered[k] = ~fz.answered[k]; /* each answer once */
                    found = true;
                }
            if (!found)
                kos_fuzz_fail("command %llu has no result", (unsigned long long)fz.asked[i]);
        }
    }
    admin_agent_fini(&fz.a);
}

static void run_one(const uint8_t *data, size_t len)
{
    start();
    note_command(data, len);
    admin_agent_down(&fz.a, data, len, 10);
    finish();
}

static void run_script(const uint8_t *p, size_t len)
{
    uint64_t now = 10;

    start();
    while (len >= 2) {
        size_t n = (size_t)p[0] | (size_t)p[1] << 8;
        p += 2;
        len -= 2;
        if (n == 0xffff) {
            admin_agent_link(&fz.a, !fz.a.up, now);
            if (fz.a.up)
                admin_agent_state(&fz.a, fz.state, now);
        } else if (n == 0xfffe) {
            core_answers(len ? p[0] : 0);
        } else {
            if (n > len)
                n = len;
            note_command(p, n);
            admin_agent_down(&fz.a, p, n, now);
            p += n;
            len -= n;
        }
        now += 700;
    }
    finish();
}

static void run_config(const uint8_t *data, size_t len)
{
    char *text = malloc(len + 1), *save = NULL;
    const char *keys[64], *values[64];
    size_t n = 0;
    struct admin_config cfg;
    char err[256];

    if (!text)
        abort();
    memcpy(text, data, len);
    text[len] = '\0';
    for (char *line = strtok_r(text, "\n", &save); line && n < 64;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        keys[n] = line;
        values[n++] = eq + 1;
    }
    err[0] = '\0';
    if (admin_config_parse(&cfg, keys, values, n, err, sizeof(err))) {
        if (cfg.health_every_ms < ADMIN_HEALTH_EVERY_MIN_MS ||
            cfg.health_every_ms > ADMIN_HEALTH_EVERY_MAX_MS ||
            cfg.offline_buffer < ADMIN_OFFLINE_BUFFER_MIN ||
            cfg.offline_buffer > ADMIN_OFFLINE_BUFFER_MAX)
            kos_fuzz_fail("settings accepted out of range: health_every %llu ms, offline_buffer "
                          "%llu",
                          (unsigned long long)cfg.health_every_ms,
                          (unsigned long long)cfg.offline_buffer);
    } else if (!err[0] || !strstr(err, "config")) {
        kos_fuzz_fail("a refused setting does not say why");
    }
    free(text);
}

static void run_place(const uint8_t *data, size_t len)
{
    uint64_t seq, cursor, seq2, cursor2;
    char text[128];
    int n;

    admin_place_parse((const char *)data, len, &seq, &cursor);
    if (seq == 0)
        kos_fuzz_fail("admin_place_parse gave sequence number 0");
    n = snprintf(text, sizeof(text), "# place\nseq %llu\ncursor %llu\n", (unsigned long long)seq,
                 (unsigned long long)cursor);
    if (!admin_place_parse(text, (size_t)n, &seq2, &cursor2) || seq2 != seq || cursor2 != cursor)
        kos_fuzz_fail("a saved place does not read back as it was written");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case 0:
        run_one(data + 1, size - 1);
        break;
    case 1:
        run_script(data + 1, size - 1);
        break;
    case 2:
        run_config(data + 1, size - 1);
        break;
    default:
        run_place(data + 1, size - 1);
    }
    return 0;
}
