/*
 * shell.c - the remote shell: the device's command console on the link's
 * shell channel (docs/packages/admin.md, "The remote shell";
 * proto/shell.proto). See admin.h for what stays true.
 *
 * A line goes through three steps: admin_shell_input() unpacks the
 * ShellDown and, with the shell enabled, admin_shell_parse() reads it into
 * a command; the command is carried out at once from what admin knows (help,
 * logs) or once Core has answered (apps and health from a fresh state,
 * restart, reboot, dir and keys from Core's tables); finish() then packs
 * the answer's lines into ShellUp messages for the tunnel. Nothing here does
 * I/O: the ops do (admin.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kos/log.h>

#include "admin.h"
#include "shell.pb-c.h"
#include "text_int.h"

static const char commands_list[] =
    "help, apps, restart, logs, dir, trace, health, reboot and keys";

/* ---- the parser ---- */

/* Quotes text[0..len) for a message: escaped, cut at 40 bytes. */
static void quote(char *out, size_t cap, const uint8_t *text, size_t len)
{
    size_t n = len > 40 ? kos__text_boundary((const char *)text, 40) : len;
    size_t k = kos__text_escape(out, cap - 5, (const char *)text, n, NULL);

    snprintf(out + k, cap - k, "%s", n < len ? "..." : "");
}

/* The length of the valid UTF-8 character at p[0..n), and its code point
 * in *cp; 0 if p does not start one (bad lead, continuation, overlong,
 * surrogate, above U+10FFFF, or cut short). */
static size_t utf8_char(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint32_t c = p[0], min;
    size_t k;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        k = 2, c &= 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3, c &= 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4, c &= 0x07, min = 0x10000;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return k;
}

/* Control characters in any encoding, as lib/text_int.h escapes them. */
static bool control(uint32_t c)
{
    return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
           c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
           (c >= 0x2066 && c <= 0x2069);
}

/* Checks the line as a whole; false with err saying what is wrong. */
static bool line_ok(const uint8_t *line, size_t len, char *err, size_t errlen)
{
    if (len > ADMIN_SHELL_LINE_MAX) {
        snprintf(err, errlen, "the line is %zu bytes long; a command line has at most %u", len,
                 ADMIN_SHELL_LINE_MAX);
        return false;
    }
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = utf8_char(line + i, len - i, &c);
        if (k == 0) {
            snprintf(err, errlen, "the line is not valid UTF-8 (byte %zu is \\x%02x)", i + 1,
                     line[i]);
            return false;
        }
        if (control(c)) {
            if (c < 0x80)
                snprintf(err, errlen, "the line holds a control character (\\x%02x) at byte %zu",
                         (unsigned)c, i + 1);
            else
                snprintf(err, errlen, "the line holds a control character (\\u%04x) at byte %zu",
                         (unsigned)c, i + 1);
            return false;
        }
        i += k;
    }
    return true;
}

struct word {
    const uint8_t *p;
    size_t n;
};

static bool word_is(const struct word *w, const char *s)
{
    return w->n == strlen(s) && memcmp(w->p, s, w->n) == 0;
}

/* Takes word w as an app name into app; false with err if it is not one. */
static bool app_word(const struct word *w, char app[KOS__NAME_MAX], char *err, size_t errlen)
{
    char q[200];

    if (w->n >= KOS__NAME_MAX || !kos__name_valid((const char *)w->p, w->n)) {
        quote(q, sizeof(q), w->p, w->n);
        snprintf(err, errlen, "'%s' is not an app name: 1 to 63 letters, digits, '_', '.' and '-'",
                 q);
        return false;
    }
    memcpy(app, w->p, w->n);
    app[w->n] = '\0';
    return true;
}

/* A line count for logs: decimal digits only, 1 to ADMIN_SHELL_LOGS_MAX. */
static bool count_word(const struct word *w, uint32_t *out)
{
    uint32_t v = 0;

    if (w->n == 0 || w->n > 3)
        return false;
    for (size_t i = 0; i < w->n; i++) {
        if (w->p[i] < '0' || w->p[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(w->p[i] - '0');
    }
    if (v < 1 || v > ADMIN_SHELL_LOGS_MAX)
        return false;
    *out = v;
    return true;
}

static bool all_digits(const struct word *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->p[i] < '0' || w->p[i] > '9')
            return false;
    return w->n > 0;
}

kos_status_t admin_shell_parse(const uint8_t *line, size_t len, struct admin_shell_command *out,
                               char *err, size_t errlen)
{
    static const struct {
        const char *name;
        enum admin_shell_cmd cmd;
    } names[] = {
        {"help", ADMIN_SHELL_HELP},       {"apps", ADMIN_SHELL_APPS},
        {"restart", ADMIN_SHELL_RESTART}, {"logs", ADMIN_SHELL_LOGS},
        {"dir", ADMIN_SHELL_DIR},         {"trace", ADMIN_SHELL_TRACE},
        {"health", ADMIN_SHELL_HEALTH},   {"reboot", ADMIN_SHELL_REBOOT},
        {"keys", ADMIN_SHELL_KEYS},
    };
    struct word w[ADMIN_SHELL_WORDS_MAX];
    size_t n = 0;
    char q[200];

    memset(out, 0, sizeof(*out));
    if (!line_ok(line, len, err, errlen))
        return KOS_STATUS_INVALID_ARGUMENT;
    for (size_t i = 0; i < len;) {
        if (line[i] == ' ') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && line[i] != ' ')
            i++;
        if (n == ADMIN_SHELL_WORDS_MAX) {
            snprintf(err, errlen, "too many words: no command takes more than %u",
                     ADMIN_SHELL_WORDS_MAX - 1);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        w[n++] = (struct word){line + start, i - start};
    }
    if (n == 0) {
        out->cmd = ADMIN_SHELL_EMPTY;
        return KOS_STATUS_OK;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (word_is(&w[0], names[i].name))
            out->cmd = names[i].cmd;
    switch (out->cmd) {
    case ADMIN_SHELL_EMPTY:
        quote(q, sizeof(q), w[0].p, w[0].n);
        snprintf(err, errlen, "unknown command '%s': the commands are %s (help says more)", q,
                 commands_list);
        return KOS_STATUS_UNSUPPORTED;
    case ADMIN_SHELL_RESTART:
        if (n != 2) {
            snprintf(err, errlen, "restart takes one app: restart APP");
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        return app_word(&w[1], out->app, err, errlen) ? KOS_STATUS_OK : KOS_STATUS_INVALID_ARGUMENT;
    case ADMIN_SHELL_LOGS:
        /* logs, logs N, logs APP, logs APP N: a word of digits alone is N
         * (an app named "5" is `logs 5 20`). */
        out->count = ADMIN_SHELL_LOGS_DEFAULT;
        if (n > 3 || (n == 3 && !all_digits(&w[2]))) {
            snprintf(err, errlen, "logs takes an app, a number of lines or both: logs [APP] [N]");
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        if (n == 3 || (n == 2 && !all_digits(&w[1])))
            if (!app_word(&w[1], out->app, err, errlen))
                return KOS_STATUS_INVALID_ARGUMENT;
        if (n >= 2 && all_digits(&w[n - 1]) && !count_word(&w[n - 1], &out->count)) {
            snprintf(err, errlen, "logs: the number of lines is 1 to %u", ADMIN_SHELL_LOGS_MAX);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        return KOS_STATUS_OK;
    case ADMIN_SHELL_TRACE:
        if (n != 3 || !(word_is(&w[2], "on") || word_is(&w[2], "off"))) {
            snprintf(err, errlen, "trace takes an app and on or off: trace APP on|off");
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        out->on = word_is(&w[2], "on");
        return app_word(&w[1], out->app, err, errlen) ? KOS_STATUS_OK : KOS_STATUS_INVALID_ARGUMENT;
    default:
        if (n != 1) {
            snprintf(err, errlen, "%.*s takes no arguments", (int)w[0].n, (const char *)w[0].p);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        return KOS_STATUS_OK;
    }
}

/* ---- the answer ---- */

static void say(struct admin_shell *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one line to the answer, escaped and cut to ADMIN_SHELL_OUT_LINE_MAX;
 * past ADMIN_SHELL_ANSWER_MAX (less room for the note saying so) the answer
 * is cut. */
static void say(struct admin_shell *sh, const char *fmt, ...)
{
    char raw[2 * ADMIN_SHELL_OUT_LINE_MAX], line[ADMIN_SHELL_OUT_LINE_MAX + 1];
    size_t n, k, used;
    va_list ap;
    int r;

    if (sh->out_cut)
        return;
    va_start(ap, fmt);
    r = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    n = r < 0 ? 0 : (size_t)r < sizeof(raw) ? (size_t)r : sizeof(raw) - 1;
    k = kos__text_escape(line, ADMIN_SHELL_OUT_LINE_MAX - 6, raw, n, &used);
    if (used < n)
        k += (size_t)snprintf(line + k, sizeof(line) - k, " [cut]");
    line[k] = '\0';
    if (sh->out_len + k + 1 > ADMIN_SHELL_ANSWER_MAX - 128) {
        sh->out_cut = true;
        return;
    }
    memcpy(sh->out + sh->out_len, line, k + 1);
    sh->out_len += k + 1;
    sh->out_lines++;
}

static void clear_answer(struct admin_shell *sh)
{
    sh->out_len = sh->out_lines = 0;
    sh->out_cut = false;
}

/* Queues one packed ShellUp; false (counted) if the queue is full. */
static bool queue_up(struct admin_shell *sh, const Kos__Shell__ShellUp *up)
{
    size_t len = kos__shell__shell_up__get_packed_size(up);
    uint8_t *data;

    if (sh->q_n == ADMIN_SHELL_QUEUE || !(data = malloc(len ? len : 1))) {
        sh->lost++;
        return false;
    }
    kos__shell__shell_up__pack(up, data);
    sh->q[(sh->q_head + sh->q_n) % ADMIN_SHELL_QUEUE].data = data;
    sh->q[(sh->q_head + sh->q_n) % ADMIN_SHELL_QUEUE].len = len;
    sh->q_n++;
    return true;
}

/* Ends the command under way: its lines, packed into ShellUp messages of
 * at most KOS_TUNNEL_DATA_MAX bytes, the last with done and status. */
static void finish(struct admin_shell *sh, kos_status_t status, uint64_t now_ms)
{
    Kos__Shell__ShellUp up = KOS__SHELL__SHELL_UP__INIT;
    char *ptrs[KOS_TUNNEL_DATA_MAX / 2]; /* a line costs at least 2 bytes packed */
    size_t at = 0;

    if (sh->out_cut) {
        sh->out_cut = false;
        say(sh, "... (the answer is cut here: at most %u bytes)", ADMIN_SHELL_ANSWER_MAX);
    }
    sh->wait = ADMIN_SHELL_IDLE;
    free(sh->rows);
    sh->rows = NULL;
    if (sh->discard) {
        sh->discard = false;
        clear_answer(sh);
        return;
    }
    up.id = sh->id;
    up.lines = ptrs;
    for (size_t i = 0; i < sh->out_lines; i++) {
        char *line = sh->out + at;
        at += strlen(line) + 1;
        ptrs[up.n_lines++] = line;
        if (kos__shell__shell_up__get_packed_size(&up) + 16 > KOS_TUNNEL_DATA_MAX) {
            up.n_lines--; /* it goes with the next message */
            queue_up(sh, &up);
            ptrs[0] = line;
            up.n_lines = 1;
        }
    }
    up.done = true;
    up.status = (uint32_t)status;
    queue_up(sh, &up);
    clear_answer(sh);
    admin_shell_pump(sh, now_ms);
}

/* ---- logging on the device ---- */

static void note(struct admin_shell *sh, uint64_t now_ms, enum kos_log_level level, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void note(struct admin_shell *sh, uint64_t now_ms, enum kos_log_level level, const char *fmt,
                 ...)
{
    va_list ap;

    va_start(ap, fmt);
    kos__budget_vlog_about(&sh->log, sh->enabled ? ADMIN_SHELL_LOG_BURST : 1,
                           sh->enabled ? ADMIN_SHELL_LOG_EVERY_MS : ADMIN_SHELL_OFF_EVERY_MS,
                           now_ms, "the shell", level, fmt, ap);
    va_end(ap);
}

/* ---- the commands ---- */

static void help(struct admin_shell *sh)
{
    say(sh, "the device's command console (one command per line, words separated by spaces):");
    say(sh, "  help              this list");
    say(sh, "  apps              the system's processes, as Core's summary says them");
    say(sh, "  restart APP       stop app APP and start it again");
    say(sh,
        "  logs [APP] [N]    the last N console lines (%u by default, at most %u), of APP or "
        "of every app",
        ADMIN_SHELL_LOGS_DEFAULT, ADMIN_SHELL_LOGS_MAX);
    say(sh, "  dir               the message directory: each protocol, who publishes it and who "
            "may request it");
    say(sh, "  trace APP on|off  message tracing of app APP");
    say(sh, "  health            uptime, memory, storage, the self test");
    say(sh, "  reboot            stop the whole system and boot it again");
    say(sh, "  keys              the device's keys: names, types and public key ids");
}

static const char *kind_name(uint32_t role)
{
    return role == KOS__ROLE_MSG_SERVER ? "message server" : "app";
}

static void apps(struct admin_shell *sh)
{
    const struct admin_state *s = sh->agent->state;

    say(sh, "summary: %u processes", s->n_apps);
    for (uint32_t i = 0; i < s->n_apps && i < KOS__SYS_MAX_PROCS; i++) {
        const struct admin_app *p = &s->apps[i];
        char asked[48] = "";
        if (p->restarts_asked)
            snprintf(asked, sizeof(asked), " (%u asked for)", p->restarts_asked);
        say(sh, "  %-16s %-14s %-18s restarts %u%s, last exit: %s", p->name, kind_name(p->role),
            kos__sys_state_name(p->state), p->restarts, asked, p->last_exit);
    }
}

/* n bytes as people read them: "512 B", "12.3 MiB". */
static const char *bytes(char *buf, size_t cap, uint64_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    unsigned u = 0;

    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%" PRIu64 " B", n);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

static void health(struct admin_shell *sh)
{
    const struct admin_state *s = sh->agent->state;
    uint64_t t = s->uptime_ms / 1000;
    char a[32], b[32];

    say(sh, "system %s, image %.16s (%s%s), KOS %s on %s", s->system, s->manifest,
        s->signer[0] ? "signed by " : "unsigned", s->signer, s->version, s->platform);
    say(sh, "up %" PRIu64 "d %" PRIu64 "h %" PRIu64 "m %" PRIu64 "s, boot %u", t / 86400,
        t / 3600 % 24, t / 60 % 60, t % 60, s->boots);
    say(sh, "memory: %s used of %s", bytes(a, sizeof(a), s->mem_used),
        bytes(b, sizeof(b), s->mem_total));
    say(sh, "storage: %s used of %s", bytes(a, sizeof(a), s->storage_used),
        bytes(b, sizeof(b), s->storage_total));
    say(sh, "self test: %s",
        s->self_test == KOS__SYS_SELF_TEST_PASSED ? "passed"
        : s->self_test_text[0]                    ? s->self_test_text
                                                  : "none yet");
    say(sh, "log records lost on the device: %" PRIu64, sh->agent->logq.dropped_total);
    if (sh->agent->device_id[0])
        say(sh, "registered with the server as '%s' (device %.16s)", sh->agent->device_name,
            sh->agent->device_id);
}

static void logs(struct admin_shell *sh, const struct admin_shell_command *c)
{
    size_t shown = 0, first = sh->recent_n;

    /* The newest c->count lines of the app (or of all), oldest first. */
    while (first > 0 && shown < c->count) {
        const struct admin_recent_line *l =
            sh->recent[(sh->recent_head + first - 1) % ADMIN_SHELL_RECENT];
        first--;
        if (!c->app[0] || !strcmp(l->app, c->app))
            shown++;
    }
    if (shown == 0) {
        say(sh, "no console lines%s%s%s kept (admin keeps the last %u of the system's)",
            c->app[0] ? " of app '" : "", c->app, c->app[0] ? "'" : "", ADMIN_SHELL_RECENT);
        return;
    }
    for (size_t i = first; i < sh->recent_n; i++) {
        const struct admin_recent_line *l = sh->recent[(sh->recent_head + i) % ADMIN_SHELL_RECENT];
        time_t secs = (time_t)(l->time_ns / 1000000000);
        struct tm tm;
        char when[32] = "";
        if (c->app[0] && strcmp(l->app, c->app))
            continue;
        if (gmtime_r(&secs, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        say(sh, "%s.%03u %s: %s", when, (unsigned)(l->time_ns / 1000000 % 1000), l->app, l->text);
    }
}

/* The state of app `name`, from the last state, or NULL. */
static const char *state_of(const struct admin_shell *sh, const char *name)
{
    const struct admin_state *s = sh->agent->state;

    if (!sh->agent->have_state)
        return NULL;
    for (uint32_t i = 0; i < s->n_apps && i < KOS__SYS_MAX_PROCS; i++)
        if (!strcmp(s->apps[i].name, name))
            return kos__sys_state_name(s->apps[i].state);
    return NULL;
}

static int cmp_row(const void *pa, const void *pb)
{
    const char(*a)[KOS__NAME_MAX] = pa, (*b)[KOS__NAME_MAX] = pb;
    int c = strcmp(a[0], b[0]);
    if (!c)
        c = strcmp(a[1], b[1]);
    if (!c)
        c = strcmp(a[2], b[2]); /* "publish" before "request" */
    if (!c)
        c = strcmp(a[3], b[3]);
    return c;
}

/* dir: the grants, by message server and protocol. */
static void dir(struct admin_shell *sh)
{
    uint32_t n_protocols = 0;

    qsort(sh->rows, sh->n_rows, sizeof(*sh->rows), cmp_row);
    for (uint32_t i = 0; i < sh->n_rows;) {
        uint32_t j = i;
        while (j < sh->n_rows && !strcmp(sh->rows[j][0], sh->rows[i][0]) &&
               !strcmp(sh->rows[j][1], sh->rows[i][1]))
            j++;
        n_protocols++;
        i = j;
    }
    say(sh,
        "%u protocol%s, as the manifest grants them (the message servers enforce it):", n_protocols,
        n_protocols == 1 ? "" : "s");
    for (uint32_t i = 0; i < sh->n_rows;) {
        char pubs[600] = "", reqs[600] = "";
        size_t np = 0, nr = 0;
        uint32_t j = i;
        for (; j < sh->n_rows && !strcmp(sh->rows[j][0], sh->rows[i][0]) &&
               !strcmp(sh->rows[j][1], sh->rows[i][1]);
             j++) {
            const char *app = sh->rows[j][3];
            if (!strcmp(sh->rows[j][2], "publish")) {
                const char *st = state_of(sh, app);
                np += (size_t)snprintf(pubs + np, np < sizeof(pubs) ? sizeof(pubs) - np : 0,
                                       "%s%s%s%s%s", np ? ", " : "", app, st ? " (" : "",
                                       st ? st : "", st ? ")" : "");
            } else {
                nr += (size_t)snprintf(reqs + nr, nr < sizeof(reqs) ? sizeof(reqs) - nr : 0, "%s%s",
                                       nr ? ", " : "", app);
            }
            if (np >= sizeof(pubs))
                np = sizeof(pubs);
            if (nr >= sizeof(reqs))
                nr = sizeof(reqs);
        }
        say(sh, "  %s %s: published by %s; requested by %s", sh->rows[i][0], sh->rows[i][1],
            np ? pubs : "no app", nr ? reqs : "no app");
        i = j;
    }
    if (sh->rows_total > sh->n_rows)
        say(sh, "  ... and %u more grants not shown", sh->rows_total - sh->n_rows);
}

static void keys(struct admin_shell *sh)
{
    if (sh->n_rows == 0) {
        say(sh, "no device key bundle (kos-tool run --keys DIR hands key_store one)");
        return;
    }
    say(sh, "the device's key bundle (key_store holds the private keys; these are public ids):");
    for (uint32_t i = 0; i < sh->n_rows; i++) {
        const char(*r)[KOS__NAME_MAX] = sh->rows[i];
        const char *what = !strcmp(r[3], "private")  ? "key pair, private half in key_store"
                           : !strcmp(r[3], "public") ? "public key"
                           : !strcmp(r[1], "x509")   ? "certificate"
                                                     : "public item";
        say(sh, "  %-16s %-8s %-16s %s", r[0], r[1], r[2], what);
    }
    if (sh->rows_total > sh->n_rows)
        say(sh, "  ... and %u more not shown", sh->rows_total - sh->n_rows);
}

/* Asks Core for something the command waits for; an ops failure ends the
 * command at once. */
static void ask_core(struct admin_shell *sh, uint64_t now_ms)
{
    kos_status_t st = KOS_STATUS_OK;

    sh->core_id = ADMIN_SHELL_CORE_ID_BIT | (sh->next_core++ & ~ADMIN_SHELL_CORE_ID_BIT);
    sh->deadline_ms = now_ms + ADMIN_SHELL_CORE_MS;
    switch (sh->cmd.cmd) {
    case ADMIN_SHELL_RESTART:
        sh->wait = ADMIN_SHELL_CORE;
        st = sh->ops.restart(sh->ops.arg, sh->core_id, sh->cmd.app);
        break;
    case ADMIN_SHELL_REBOOT:
        sh->wait = ADMIN_SHELL_CORE;
        st = sh->ops.reboot(sh->ops.arg, sh->core_id, "the remote shell asked for it");
        break;
    case ADMIN_SHELL_TRACE:
        sh->wait = ADMIN_SHELL_CORE;
        st = sh->ops.trace(sh->ops.arg, sh->core_id, sh->cmd.app, sh->cmd.on);
        break;
    case ADMIN_SHELL_DIR:
    case ADMIN_SHELL_KEYS:
        sh->wait = ADMIN_SHELL_TABLE;
        sh->n_rows = sh->rows_total = 0;
        sh->rows = calloc(ADMIN_SHELL_TABLE_MAX, sizeof(*sh->rows));
        if (!sh->rows) {
            say(sh, "out of memory");
            finish(sh, KOS_STATUS_NO_MEMORY, now_ms);
            return;
        }
        st = sh->ops.table(
            sh->ops.arg, sh->core_id,
            sh->cmd.cmd == ADMIN_SHELL_DIR ? KOS__SYS_TABLE_GRANTS : KOS__SYS_TABLE_KEYS, 0);
        break;
    default: /* apps, health */
        sh->wait = ADMIN_SHELL_STATE;
        if (sh->ops.want_state)
            sh->ops.want_state(sh->ops.arg);
        break;
    }
    if (st) {
        say(sh, "Core cannot be asked now (%s)", kos_status_str(st));
        finish(sh, st, now_ms);
    }
}

/* Carries out a parsed command. */
static void run(struct admin_shell *sh, uint64_t now_ms)
{
    const struct admin_shell_command *c = &sh->cmd;

    sh->commands++;
    switch (c->cmd) {
    case ADMIN_SHELL_EMPTY:
        finish(sh, KOS_STATUS_OK, now_ms);
        return;
    case ADMIN_SHELL_HELP:
        help(sh);
        finish(sh, KOS_STATUS_OK, now_ms);
        return;
    case ADMIN_SHELL_LOGS:
        logs(sh, c);
        finish(sh, KOS_STATUS_OK, now_ms);
        return;
    case ADMIN_SHELL_TRACE:
        if (!sh->ops.trace) {
            say(sh, "trace: message tracing is not available in this build of admin");
            finish(sh, KOS_STATUS_UNSUPPORTED, now_ms);
            return;
        }
        if (c->on && !sh->agent->traces_channel) {
            say(sh, "trace: the tunnel does not give admin the traces channel: its allow setting "
                    "must say admin=admin,logs,traces,shell,debug,blobs");
            finish(sh, KOS_STATUS_UNAVAILABLE, now_ms);
            return;
        }
        note(sh, now_ms, KOS_LOG_INFO, "shell: tracing of app '%s' %s, asked by the server", c->app,
             c->on ? "on" : "off");
        break;
    case ADMIN_SHELL_RESTART:
        note(sh, now_ms, KOS_LOG_INFO, "shell: restart app '%s', asked by the server", c->app);
        break;
    case ADMIN_SHELL_REBOOT:
        note(sh, now_ms, KOS_LOG_INFO, "shell: reboot, asked by the server");
        break;
    default:
        break;
    }
    ask_core(sh, now_ms);
}

/* ---- the session ---- */

bool admin_shell_init(struct admin_shell *sh, bool enabled, const struct admin_ops *ops,
                      const struct admin_agent *agent, uint64_t now_ms)
{
    memset(sh, 0, sizeof(*sh));
    sh->ops = *ops;
    sh->agent = agent;
    sh->enabled = enabled;
    sh->next_core = 1;
    sh->log =
        kos__budget_full(enabled ? ADMIN_SHELL_LOG_BURST : 1,
                         enabled ? ADMIN_SHELL_LOG_EVERY_MS : ADMIN_SHELL_OFF_EVERY_MS, now_ms);
    sh->out = malloc(ADMIN_SHELL_ANSWER_MAX);
    return sh->out != NULL;
}

void admin_shell_fini(struct admin_shell *sh)
{
    for (size_t i = 0; i < sh->q_n; i++)
        free(sh->q[(sh->q_head + i) % ADMIN_SHELL_QUEUE].data);
    for (size_t i = 0; i < sh->recent_n; i++)
        free(sh->recent[(sh->recent_head + i) % ADMIN_SHELL_RECENT]);
    free(sh->rows);
    free(sh->out);
    memset(sh, 0, sizeof(*sh));
}

bool admin_shell_ready(const struct admin_shell *sh)
{
    return sh->wait == ADMIN_SHELL_IDLE && sh->q_n == 0;
}

void admin_shell_input(struct admin_shell *sh, const uint8_t *data, size_t len, uint64_t now_ms)
{
    Kos__Shell__ShellDown *m = NULL;
    char err[512];
    kos_status_t st;

    if (len <= KOS_TUNNEL_DATA_MAX)
        m = kos__shell__shell_down__unpack(NULL, len, data);
    if (sh->wait != ADMIN_SHELL_IDLE) {
        /* Not taken while busy (admin_shell_ready()); refused if it comes. */
        Kos__Shell__ShellUp up = KOS__SHELL__SHELL_UP__INIT;
        char *line = "busy: one command at a time";
        up.id = m ? m->id : 0;
        up.lines = &line;
        up.n_lines = 1;
        up.done = true;
        up.status = KOS_STATUS_BUSY;
        queue_up(sh, &up);
        sh->refused++;
        admin_shell_pump(sh, now_ms);
        goto out;
    }
    sh->id = m ? m->id : 0;
    if (!sh->enabled) {
        sh->refused++;
        note(sh, now_ms, KOS_LOG_WARN,
             "refused shell input from the server: the remote shell is disabled on this device "
             "(admin's remote_shell setting)");
        say(sh, "the remote shell is disabled on this device (admin's remote_shell setting is "
                "disabled; see docs/packages/admin.md)");
        finish(sh, KOS_STATUS_UNAUTHORIZED, now_ms);
        goto out;
    }
    if (!m) {
        sh->refused++;
        note(sh, now_ms, KOS_LOG_WARN,
             "refused a message on the shell channel that is not a ShellDown (%zu bytes)", len);
        say(sh, "refused: not a ShellDown message (%zu bytes)", len);
        finish(sh, KOS_STATUS_PROTOCOL, now_ms);
        goto out;
    }
    st = admin_shell_parse(m->line.data, m->line.len, &sh->cmd, err, sizeof(err));
    if (st) {
        sh->refused++;
        note(sh, now_ms, KOS_LOG_INFO, "shell: refused a line from the server: %s", err);
        say(sh, "%s", err);
        finish(sh, st, now_ms);
        goto out;
    }
    run(sh, now_ms);
out:
    if (m)
        kos__shell__shell_down__free_unpacked(m, NULL);
}

bool admin_shell_core_result(struct admin_shell *sh, uint32_t core_id, uint32_t status,
                             const char *message, uint64_t now_ms)
{
    if (!(core_id & ADMIN_SHELL_CORE_ID_BIT))
        return false;
    if (sh->wait != ADMIN_SHELL_CORE && sh->wait != ADMIN_SHELL_TABLE)
        return true; /* late: its command timed out */
    if (core_id != sh->core_id)
        return true;
    /* A table's request refused by Core comes as a result too. */
    say(sh, "%s", message ? message : "");
    finish(sh, status < KOS_STATUS__COUNT ? (kos_status_t)status : KOS_STATUS_INTERNAL, now_ms);
    return true;
}

void admin_shell_table(struct admin_shell *sh, const struct kos__sys_table *t, uint64_t now_ms)
{
    if (sh->wait != ADMIN_SHELL_TABLE || t->id != sh->core_id)
        return;
    for (uint32_t r = 0; r < t->n_rows && sh->n_rows < ADMIN_SHELL_TABLE_MAX; r++) {
        for (uint32_t i = 0; i < KOS__SYS_TABLE_CELLS; i++)
            snprintf(sh->rows[sh->n_rows][i], KOS__NAME_MAX, "%s", t->cell[r][i]);
        sh->n_rows++;
    }
    sh->rows_total = t->n_total;
    uint32_t next = t->first + t->n_rows;
    if (t->n_rows > 0 && next < t->n_total && sh->n_rows < ADMIN_SHELL_TABLE_MAX) {
        kos_status_t st = sh->ops.table(sh->ops.arg, sh->core_id, t->kind, next);
        if (st == KOS_STATUS_OK) {
            sh->deadline_ms = now_ms + ADMIN_SHELL_CORE_MS;
            return;
        }
    }
    if (sh->cmd.cmd == ADMIN_SHELL_DIR)
        dir(sh);
    else
        keys(sh);
    finish(sh, KOS_STATUS_OK, now_ms);
}

void admin_shell_state(struct admin_shell *sh, uint64_t now_ms)
{
    if (sh->wait != ADMIN_SHELL_STATE || !sh->agent->have_state)
        return;
    if (sh->cmd.cmd == ADMIN_SHELL_APPS)
        apps(sh);
    else
        health(sh);
    finish(sh, KOS_STATUS_OK, now_ms);
}

bool admin_shell_wants_state(const struct admin_shell *sh)
{
    return sh->wait == ADMIN_SHELL_STATE;
}

void admin_shell_line(struct admin_shell *sh, int64_t time_ns, const char *app, const char *text,
                      size_t len)
{
    struct admin_recent_line *l;
    size_t k;

    if (!sh->enabled)
        return;
    l = malloc(sizeof(*l) + ADMIN_SHELL_OUT_LINE_MAX + 1);
    if (!l)
        return;
    l->time_ns = time_ns;
    snprintf(l->app, sizeof(l->app), "%s", app);
    k = kos__text_escape(l->text, ADMIN_SHELL_OUT_LINE_MAX, text, len, NULL);
    l->text[k] = '\0';
    l->len = k;
    if (sh->recent_n == ADMIN_SHELL_RECENT) {
        free(sh->recent[sh->recent_head]);
        sh->recent_head = (sh->recent_head + 1) % ADMIN_SHELL_RECENT;
        sh->recent_n--;
    }
    sh->recent[(sh->recent_head + sh->recent_n) % ADMIN_SHELL_RECENT] = l;
    sh->recent_n++;
}

void admin_shell_link(struct admin_shell *sh, bool up)
{
    sh->up = up;
    sh->link_busy = false;
    if (up)
        return;
    for (size_t i = 0; i < sh->q_n; i++)
        free(sh->q[(sh->q_head + i) % ADMIN_SHELL_QUEUE].data);
    sh->q_head = sh->q_n = 0;
    if (sh->wait != ADMIN_SHELL_IDLE)
        sh->discard = true;
}

void admin_shell_room(struct admin_shell *sh, uint64_t now_ms)
{
    sh->link_busy = false;
    admin_shell_pump(sh, now_ms);
}

void admin_shell_pump(struct admin_shell *sh, uint64_t now_ms)
{
    if (sh->wait != ADMIN_SHELL_IDLE && now_ms >= sh->deadline_ms) {
        say(sh, "Core did not answer within %u s", ADMIN_SHELL_CORE_MS / 1000);
        finish(sh, KOS_STATUS_TIMEOUT, now_ms);
    }
    while (sh->q_n > 0 && sh->up && !sh->link_busy) {
        size_t i = sh->q_head;
        kos_status_t st = sh->ops.send(sh->ops.arg, KOS_TUNNEL_SHELL, sh->q[i].data, sh->q[i].len);
        if (st == KOS_STATUS_BUSY || st == KOS_STATUS_UNAVAILABLE) {
            sh->link_busy = true; /* the tunnel's news says when */
            break;
        }
        if (st != KOS_STATUS_OK)
            sh->lost++; /* said by nobody else: dropped, counted */
        free(sh->q[i].data);
        sh->q[i].data = NULL;
        sh->q_head = (sh->q_head + 1) % ADMIN_SHELL_QUEUE;
        sh->q_n--;
    }
}

uint64_t admin_shell_next_ms(const struct admin_shell *sh)
{
    return sh->wait != ADMIN_SHELL_IDLE ? sh->deadline_ms : UINT64_MAX;
}
