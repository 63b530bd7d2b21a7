/*
 * cmd_log.c - `kos-tool log.view`: filter a console stream, live or saved, or
 * log_server's store file, offline.
 *
 * A console line is "<timestamp> <app>: <text>" with a fixed-width UTC
 * timestamp (2026-11-26T16:01:02.345678Z), so time filters compare strings.
 * Lines that are not console lines are reported on stderr with their line
 * number and make the exit status 1; every valid line is still considered.
 * A line is printed escaped by kos__text_escape(), as Core escapes it, so a
 * console file written by something else cannot drive the terminal either;
 * Core's own lines come out unchanged. Each line is written as soon as it is
 * read, so `kos-tool run ... | kos-tool log.view -` streams. --app NAME also
 * keeps Core's lines about NAME ('NAME' quoted in a line of core's).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logstore.h"
#include "opts_int.h"
#include "text_int.h"
#include "tool_int.h"

#define TS_LEN   27 /* strlen("2026-11-26T16:01:02.345678Z") */
#define MAX_APPS 32

static const char ts_shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";

/* True if s[0..n) matches the start of the timestamp shape. */
static bool ts_prefix_ok(const char *s, size_t n)
{
    if (n == 0 || n > TS_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (ts_shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != ts_shape[i])
            return false;
    }
    return true;
}

/* Parses a --since/--until value into a timestamp prefix in out: either a
 * prefix of an ISO-8601 UTC timestamp or a duration ago (30s, 10m, 2h, 1d). */
static bool parse_time(const char *v, char *out)
{
    size_t n = strlen(v);
    char *end;

    if (ts_prefix_ok(v, n)) {
        memcpy(out, v, n + 1);
        return true;
    }
    errno = 0;
    unsigned long q = strtoul(v, &end, 10);
    if (errno || end == v || strlen(end) != 1)
        return false;
    unsigned long mul = *end == 's'   ? 1
                        : *end == 'm' ? 60
                        : *end == 'h' ? 3600
                        : *end == 'd' ? 86400
                                      : 0;
    if (!mul || q > 10UL * 365 * 86400 / mul)
        return false;
    time_t t = time(NULL) - (time_t)(q * mul);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, TS_LEN + 1, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
    return true;
}

static void log_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool log.view [FILE|-] [--store STORE] [--app NAME]... [--level L]\n"
            "                         [--since T] [--until T]\n"
            "\n"
            "Prints the lines of a console stream (kos-tool run --console FILE, or - for\n"
            "standard input, streamed as it comes) that match every filter; with --store,\n"
            "the records of log_server's store file (kos_log.store in its data directory)\n"
            "as console lines.\n"
            "--app NAME keeps NAME's lines and Core's lines about NAME (started,\n"
            "restarted, stopped); a NAME that never appears is said on stderr.\n"
            "--level L keeps lines at level L or above: debug, info, warn, error (a line\n"
            "without a level, such as Core's, counts as info).\n"
            "T is a UTC timestamp or its prefix (2026-11-26T16:01) or a duration before\n"
            "now (30s, 10m, 2h, 1d). --since keeps lines at or after T; --until keeps\n"
            "lines before T.\n"
            "Lines are printed escaped as Core's console escapes app text (\\xHH,\n"
            "\\uHHHH; see %s), so no line can drive the terminal.\n"
            "Options take the forms --name VALUE and --name=VALUE.\n",
            kos__tool_doc("running.md"));
}

static const char *const levels[] = {"debug", "info", "warn", "error"};

/* The level of a line's text ("warn: disk full" is warn); -1 for none. */
static int line_level(const char *text, size_t len)
{
    for (int l = 0; l < 4; l++) {
        size_t n = strlen(levels[l]);
        if (len > n + 1 && !memcmp(text, levels[l], n) && text[n] == ':' && text[n + 1] == ' ')
            return l;
    }
    return -1;
}

/* Whether `text` (len bytes) holds 'name', quoted. */
static bool mentions(const char *text, size_t len, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; (size_t)(p - text) + n + 2 <= len; p++) {
        p = memchr(p, '\'', len - (size_t)(p - text));
        if (!p || (size_t)(p - text) + n + 2 > len)
            return false;
        if (!memcmp(p + 1, name, n) && p[n + 1] == '\'')
            return true;
    }
    return false;
}

enum { OPT_APP, OPT_STORE, OPT_LEVEL, OPT_SINCE, OPT_UNTIL };

static const struct kos__opt log_opts[] = {
    {"app", 0, "NAME", OPT_APP},  {"store", 0, "STORE", OPT_STORE}, {"level", 0, "L", OPT_LEVEL},
    {"since", 0, "T", OPT_SINCE}, {"until", 0, "T", OPT_UNTIL},
};

int kos__tool_log_view(int argc, char **argv)
{
    const char *apps[MAX_APPS];
    unsigned long app_lines[MAX_APPS] = {0};
    size_t n_apps = 0;
    const char *path = NULL, *store = NULL;
    int min_level = -1;
    bool damaged = false;
    char since[TS_LEN + 1] = "", until[TS_LEN + 1] = "";
    FILE *in;
    char *line = NULL, *out = NULL;
    size_t cap = 0, out_cap = 0;
    unsigned long lineno = 0, bad = 0;
    ssize_t len;
    struct kos__opts p;
    const char *v;
    int opt;

    kos__opts_init(&p, "log.view", argc, argv, log_opts, sizeof(log_opts) / sizeof(log_opts[0]));
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            log_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_APP:
            if (n_apps == MAX_APPS)
                return kos__opts_usage_error(&p, "at most %d --app filters", MAX_APPS);
            apps[n_apps++] = v;
            break;
        case OPT_STORE:
            store = v;
            break;
        case OPT_LEVEL:
            min_level = kos__opts_choice(&p, "level", v, levels, 4);
            if (min_level < 0)
                return 2;
            break;
        case OPT_SINCE:
        case OPT_UNTIL:
            if (!parse_time(v, opt == OPT_SINCE ? since : until)) {
                fprintf(stderr,
                        "kos-tool log.view: --%s takes a UTC timestamp such as "
                        "2026-11-26T16:01:02 (or a prefix of one) or a duration such as 10m, "
                        "not '%s'\n",
                        opt == OPT_SINCE ? "since" : "until", v);
                return 2;
            }
            break;
        case KOS__OPTS_ARG:
            if (path)
                return kos__opts_usage_error(&p, "more than one file given ('%s' and '%s')", path,
                                             v);
            path = v;
            break;
        }
    }
    if (store && path) {
        fprintf(stderr, "kos-tool log.view: give a console FILE or --store STORE, not both\n");
        return 2;
    }
    if (store) {
        in = kos__tool_logstore_open(store, stderr, &damaged);
        if (!in)
            return 1;
        path = store;
    } else if (!path || !strcmp(path, "-")) {
        in = stdin;
        path = "(stdin)";
    } else if (!(in = fopen(path, "r"))) {
        fprintf(stderr, "kos-tool log.view: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        const char *app = line + TS_LEN + 1;
        const char *colon = len > TS_LEN + 1 ? strstr(app, ": ") : NULL;
        if (len < TS_LEN + 4 || !ts_prefix_ok(line, TS_LEN) || line[TS_LEN] != ' ' || !colon ||
            colon == app || memchr(app, ' ', (size_t)(colon - app))) {
            fprintf(stderr,
                    "kos-tool log.view: %s:%lu: not a console line "
                    "(expected '<timestamp> <app>: <text>')\n",
                    path, lineno);
            bad++;
            continue;
        }
        if (since[0] && strncmp(line, since, strlen(since)) < 0)
            continue;
        if (until[0] && strncmp(line, until, strlen(until)) >= 0)
            continue;
        const char *text_at = colon + 2;
        size_t text_len = (size_t)(line + len - text_at) - (line[len - 1] == '\n');
        if (min_level >= 0) {
            int l = line_level(text_at, text_len);
            if ((l < 0 ? 1 : l) < min_level)
                continue;
        }
        if (n_apps) {
            bool core = colon - app == 4 && !memcmp(app, "core", 4);
            bool match = false;
            for (size_t i = 0; i < n_apps; i++) {
                bool hit = (strlen(apps[i]) == (size_t)(colon - app) &&
                            !memcmp(apps[i], app, (size_t)(colon - app))) ||
                           (core && mentions(text_at, text_len, apps[i]));
                app_lines[i] += hit;
                match |= hit;
            }
            if (!match)
                continue;
        }
        size_t text = (size_t)len - (line[len - 1] == '\n');
        if (out_cap < KOS__TEXT_ESCAPED_MAX(text) + 1) {
            char *bigger = realloc(out, KOS__TEXT_ESCAPED_MAX(text) + 1);
            if (!bigger) {
                fprintf(stderr, "kos-tool log.view: %s:%lu: out of memory\n", path, lineno);
                bad++;
                break;
            }
            out = bigger;
            out_cap = KOS__TEXT_ESCAPED_MAX(text) + 1;
        }
        size_t n = kos__text_escape(out, out_cap - 1, line, text, NULL);
        out[n++] = '\n';
        /* One line at a time, so a pipe streams as a terminal does. */
        if (fwrite(out, 1, n, stdout) != n || fflush(stdout) != 0) {
            bad++;
            break; /* the reader is gone */
        }
    }
    for (size_t i = 0; i < n_apps; i++)
        if (!app_lines[i])
            fprintf(stderr, "kos-tool log.view: no line from or about app '%s' in %s\n", apps[i],
                    path);
    if (ferror(in)) {
        fprintf(stderr, "kos-tool log.view: error reading %s: %s\n", path, strerror(errno));
        bad++;
    }
    free(line);
    free(out);
    if (in != stdin)
        fclose(in);
    return bad || damaged ? 1 : 0;
}
