/*
 * fuzz_shell.c - libFuzzer harness for what admin reads on the link's shell
 * channel (components/admin/shell.c, proto/shell.proto): a server's
 * ShellDown messages, and the command lines in them.
 *
 * The first input byte picks (sel % 4):
 *   0  the rest is one command line, for admin_shell_parse()
 *   1  the rest is one ShellDown message, given to an enabled shell whose
 *      link is up; Core then answers whatever the command asked
 *   2  the rest is a script for an enabled shell: records of a u16 length
 *      (little-endian) and that many bytes, each a ShellDown message taken
 *      as admin takes them (only when the shell is ready); a record of
 *      length 0xffff flips the link down or up, 0xfffe makes Core answer
 *      what waits (a status from the next byte, a table page of the next
 *      byte's rows), 0xfffd makes the tunnel refuse sends (BUSY) until the
 *      next 0xfffd, and 0xfffc lets the clock run past Core's deadline
 *   3  the same script for a disabled shell
 * What the shell sends goes to a fake tunnel; what it asks of Core, to a
 * fake Core. Promises (admin.h): every message sent unpacks as a ShellUp,
 * fits KOS_TUNNEL_DATA_MAX, and its lines are escaped text (escaping them
 * again changes nothing, and no control character is left); each line
 * taken is answered by exactly one ShellUp with done, with its id (0 for a
 * message that does not unpack), once Core has answered and the link is
 * up, and an answer's lines add up to at most ADMIN_SHELL_ANSWER_MAX; a
 * disabled shell asks nothing of Core and answers only UNAUTHORIZED (or
 * BUSY); Core is asked to restart only valid app names; a line the parser
 * accepts is one its grammar allows, and one it refuses says why, without
 * a control character.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "fuzz.h"
#include "shell.pb-c.h"
#include "text_int.h"

#define MAX_IDS 512

static struct {
    struct admin_agent a;
    struct admin_shell sh;
    struct admin_state *state;
    bool enabled;
    kos_status_t send_status;
    uint64_t taken[MAX_IDS]; /* ids of the lines taken, in order */
    size_t n_taken;
    uint64_t done[MAX_IDS]; /* ids answered done */
    size_t n_done;
    size_t answer_bytes; /* of the answer being sent */
    bool core_waits;     /* a request to Core not answered yet */
    uint32_t core_id, table_kind, table_first;
    bool wants_state;
} fz;

/* True if s is text as kos__text_escape() leaves it. */
static bool escaped(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(KOS__TEXT_ESCAPED_MAX(n) + 1);
    bool ok;

    if (!out)
        abort();
    ok = kos__text_escape(out, KOS__TEXT_ESCAPED_MAX(n), s, n, NULL) == n && !memcmp(out, s, n);
    free(out);
    for (size_t i = 0; ok && i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            ok = false;
    return ok;
}

static kos_status_t fake_send(void *arg, uint32_t channel, const void *data, size_t len)
{
    (void)arg;
    if (channel != KOS_TUNNEL_SHELL)
        kos_fuzz_fail("the shell sent on channel %u", channel);
    if (len > KOS_TUNNEL_DATA_MAX)
        kos_fuzz_fail("the shell sent %zu bytes, more than %u", len, KOS_TUNNEL_DATA_MAX);
    if (fz.send_status)
        return fz.send_status;
    Kos__Shell__ShellUp *up = kos__shell__shell_up__unpack(NULL, len, data);
    if (!up)
        kos_fuzz_fail("the shell sent a ShellUp that does not unpack");
    for (size_t i = 0; i < up->n_lines; i++) {
        if (!escaped(up->lines[i]))
            kos_fuzz_fail("the shell sent a line that is not escaped text");
        fz.answer_bytes += strlen(up->lines[i]) + 1;
    }
    if (fz.answer_bytes > ADMIN_SHELL_ANSWER_MAX)
        kos_fuzz_fail("an answer of more than %u bytes", ADMIN_SHELL_ANSWER_MAX);
    if (up->done) {
        if (!fz.enabled && up->status != KOS_STATUS_UNAUTHORIZED && up->status != KOS_STATUS_BUSY)
            kos_fuzz_fail("a disabled shell answered with status %u", up->status);
        if (up->status >= KOS_STATUS__COUNT)
            kos_fuzz_fail("an answer with status %u", up->status);
        if (fz.n_done < MAX_IDS)
            fz.done[fz.n_done++] = up->id;
        fz.answer_bytes = 0;
    }
    kos__shell__shell_up__free_unpacked(up, NULL);
    return KOS_STATUS_OK;
}

static kos_status_t ask(uint32_t core_id)
{
    if (!fz.enabled)
        kos_fuzz_fail("a disabled shell asked Core for something");
    fz.core_waits = true;
    fz.core_id = core_id;
    return KOS_STATUS_OK;
}

static kos_status_t fake_restart(void *arg, uint32_t core_id, const char *app)
{
    (void)arg;
    if (!kos__name_valid(app, strlen(app)))
        kos_fuzz_fail("the shell asked Core to restart an app with an invalid name");
    fz.table_kind = 0;
    return ask(core_id);
}

static kos_status_t fake_reboot(void *arg, uint32_t core_id, const char *reason)
{
    (void)arg;
    (void)reason;
    fz.table_kind = 0;
    return ask(core_id);
}

static kos_status_t fake_table(void *arg, uint32_t core_id, uint32_t kind, uint32_t first)
{
    (void)arg;
    if (kind != KOS__SYS_TABLE_GRANTS && kind != KOS__SYS_TABLE_KEYS)
        kos_fuzz_fail("the shell asked for table %u", kind);
    fz.table_kind = kind;
    fz.table_first = first;
    return ask(core_id);
}

static void fake_want_state(void *arg)
{
    (void)arg;
    if (!fz.enabled)
        kos_fuzz_fail("a disabled shell asked for the system's state");
    fz.wants_state = true;
}

/* Core answers what waits: a result (status s), a table page of n rows
 * (more pages may follow), or a fresh state. */
static void core_answers(uint8_t s, uint64_t now)
{
    static struct kos__sys_table t;
    static const char *const grant[4] = {"msg0", "kos_log_protocol", "publish", "log_server"};
    static const char *const key[4] = {"identity", "ed25519", "9c1d5bf12a0a0a53", "private"};

    if (fz.wants_state) {
        fz.wants_state = false;
        admin_agent_state(&fz.a, fz.state, now);
        admin_shell_state(&fz.sh, now);
    }
    if (!fz.core_waits)
        return;
    fz.core_waits = false;
    if (fz.table_kind && s % 8 != 7) {
        memset(&t, 0, sizeof(t));
        t.id = fz.core_id;
        t.kind = fz.table_kind;
        t.n_total = fz.table_first + (s % 8) * 40u + (s >> 3);
        t.first = fz.table_first;
        t.n_rows = t.n_total - t.first < KOS__SYS_TABLE_PAGE_ROWS ? t.n_total - t.first
                                                                  : KOS__SYS_TABLE_PAGE_ROWS;
        for (uint32_t r = 0; r < t.n_rows; r++)
            memcpy(t.cell[r], t.kind == KOS__SYS_TABLE_GRANTS ? grant : key, sizeof(grant));
        admin_shell_table(&fz.sh, &t, now);
        return;
    }
    admin_shell_core_result(&fz.sh, fz.core_id, s % (KOS_STATUS__COUNT + 2u), "answered", now);
}

/* Notes the id of a message the shell is about to take, as it will see it. */
static void note_taken(const uint8_t *data, size_t len)
{
    Kos__Shell__ShellDown *m = NULL;
    uint64_t id = 0;

    if (len <= KOS_TUNNEL_DATA_MAX && (m = kos__shell__shell_down__unpack(NULL, len, data)))
        id = m->id;
    if (m)
        kos__shell__shell_down__free_unpacked(m, NULL);
    if (fz.n_taken < MAX_IDS)
        fz.taken[fz.n_taken++] = id;
}

static void start(bool enabled)
{
    struct admin_config cfg = {.health_every_ms = 10000,
                               .offline_buffer = ADMIN_OFFLINE_BUFFER_MIN};
    struct admin_ops ops = {.send = fake_send,
                            .restart = fake_restart,
                            .reboot = fake_reboot,
                            .table = fake_table,
                            .want_state = fake_want_state};

    fz.enabled = enabled;
    fz.send_status = KOS_STATUS_OK;
    fz.n_taken = fz.n_done = fz.answer_bytes = 0;
    fz.core_waits = fz.wants_state = false;
    if (!fz.state) {
        fz.state = calloc(1, sizeof(*fz.state));
        if (!fz.state)
            abort();
        strcpy(fz.state->system, "fuzz");
        memset(fz.state->manifest, 'a', 64);
        strcpy(fz.state->platform, "sim");
        strcpy(fz.state->version, "0.1.0");
        fz.state->n_apps = 2;
        strcpy(fz.state->apps[0].name, "msg0");
        fz.state->apps[0].role = KOS__ROLE_MSG_SERVER;
        strcpy(fz.state->apps[1].name, "log_server");
        fz.state->apps[1].role = KOS__ROLE_APP;
        for (int i = 0; i < 2; i++) {
            fz.state->apps[i].state = KOS__SYS_RUNNING_READY;
            strcpy(fz.state->apps[i].last_exit, "none");
        }
    }
    if (!admin_agent_init(&fz.a, &cfg, &ops, 1, 0) ||
        !admin_shell_init(&fz.sh, enabled, &ops, &fz.a, 0))
        abort();
    admin_shell_link(&fz.sh, true);
    /* A few console lines for `logs`, one that would drive a terminal. */
    admin_shell_line(&fz.sh, 1700000000000000000ll, "ticker", "info: tick 1", 12);
    admin_shell_line(&fz.sh, 1700000000500000000ll, "evil", "\x1b]0;x\x07\xff\xe2\x80\xae", 10);
}

/* Every line taken is answered once, by its id, and nothing else is. */
static void finish(uint64_t now)
{
    fz.send_status = KOS_STATUS_OK;
    if (!fz.sh.up)
        admin_shell_link(&fz.sh, true);
    for (int i = 0; i < 64 && !admin_shell_ready(&fz.sh); i++) {
        core_answers(0, now);
        admin_shell_room(&fz.sh, now);
    }
    if (!admin_shell_ready(&fz.sh))
        kos_fuzz_fail("the shell is not ready after Core answered everything");
    /* Lines whose answers went with a link that went down are not
     * answered; otherwise, each once. */
    if (fz.n_taken < MAX_IDS && fz.n_done > fz.n_taken)
        kos_fuzz_fail("%zu lines taken, %zu answers", fz.n_taken, fz.n_done);
    for (size_t i = 0; i < fz.n_done; i++) {
        bool found = false;
        for (size_t k = 0; k < fz.n_taken && !found; k++)
            if (fz.taken[k] == fz.done[i]) {
                fz.taken[k] = ~fz.taken[k];
                found = true;
            }
        if (!found && fz.n_taken < MAX_IDS)
            kos_fuzz_fail("an answer to line %llu, which was not taken (or answered twice)",
                          (unsigned long long)fz.done[i]);
    }
    admin_shell_fini(&fz.sh);
    admin_agent_fini(&fz.a);
}

static void run_parse(const uint8_t *data, size_t len)
{
    struct admin_shell_command c;
    char err[512];

    err[0] = '\0';
    kos_status_t st = admin_shell_parse(data, len, &c, err, sizeof(err));
    if (st == KOS_STATUS_OK) {
        if (len > ADMIN_SHELL_LINE_MAX)
            kos_fuzz_fail("a line of %zu bytes was accepted", len);
        if ((c.cmd == ADMIN_SHELL_RESTART || c.cmd == ADMIN_SHELL_TRACE) &&
            !kos__name_valid(c.app, strlen(c.app)))
            kos_fuzz_fail("a command was accepted for an invalid app name");
        if (c.cmd == ADMIN_SHELL_LOGS && (c.count < 1 || c.count > ADMIN_SHELL_LOGS_MAX ||
                                          (c.app[0] && !kos__name_valid(c.app, strlen(c.app)))))
            kos_fuzz_fail("logs was accepted with %u lines", c.count);
        for (size_t i = 0; i < len; i++)
            if (data[i] < 0x20 || data[i] == 0x7f)
                kos_fuzz_fail("a line with control character 0x%02x was accepted", data[i]);
        return;
    }
    if (st != KOS_STATUS_INVALID_ARGUMENT && st != KOS_STATUS_UNSUPPORTED)
        kos_fuzz_fail("admin_shell_parse returned %s", kos_status_str(st));
    if (!err[0] || !escaped(err))
        kos_fuzz_fail("a refused line is not said, or said with a control character");
}

static void run_one(const uint8_t *data, size_t len)
{
    start(true);
    note_taken(data, len);
    admin_shell_input(&fz.sh, data, len, 10);
    finish(20);
}

static void run_script(const uint8_t *p, size_t len, bool enabled)
{
    uint64_t now = 10;

    start(enabled);
    while (len >= 2) {
        size_t n = (size_t)p[0] | (size_t)p[1] << 8;
        p += 2;
        len -= 2;
        if (n == 0xffff) {
            admin_shell_link(&fz.sh, !fz.sh.up);
            fz.answer_bytes = 0; /* an answer cut by the link is not sent on */
        } else if (n == 0xfffe) {
            core_answers(len ? p[0] : 0, now);
        } else if (n == 0xfffd) {
            fz.send_status = fz.send_status ? KOS_STATUS_OK : KOS_STATUS_BUSY;
            if (!fz.send_status)
                admin_shell_room(&fz.sh, now);
        } else if (n == 0xfffc) {
            now += ADMIN_SHELL_CORE_MS;
        } else {
            if (n > len)
                n = len;
            /* admin takes a line only when the shell is ready; one that
             * comes otherwise waits in the tunnel (here: is dropped). */
            if (admin_shell_ready(&fz.sh)) {
                note_taken(p, n);
                admin_shell_input(&fz.sh, p, n, now);
            }
            p += n;
            len -= n;
        }
        now += 700;
        admin_shell_pump(&fz.sh, now);
    }
    finish(now + ADMIN_SHELL_CORE_MS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case 0:
        run_parse(data + 1, size - 1);
        break;
    case 1:
        run_one(data + 1, size - 1);
        break;
    default:
        run_script(data + 1, size - 1, data[0] % 4 == 2);
    }
    return 0;
}
