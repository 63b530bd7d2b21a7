/*
 * opts.c - the one command-line parser of kos-tool's sub-commands, on
 * getopt_long().
 *
 * What stays true: the argument getopt_long() is working on when
 * kos__opts_next() is called is argv[optind] (getopt runs in RETURN_IN_ORDER
 * mode, so argv is never permuted), which is how every message names the
 * argument as it was written; an option is accepted only under its whole
 * name; a usage error is printed exactly once, by this file, before
 * KOS__OPTS_ERROR is returned.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts_int.h"

/* getopt_long()'s code for table entry i; above every char. */
#define LONG_VAL(i) (256 + (int)(i))
#define HELP_VAL    LONG_VAL(KOS__OPTS_MAX)

void kos__opts_init(struct kos__opts *p, const char *cmd, int argc, char **argv,
                    const struct kos__opt *table, size_t n)
{
    char *s = p->shortopts;

    assert(n <= KOS__OPTS_MAX);
    memset(p, 0, sizeof(*p));
    p->prog = "kos-tool";
    p->cmd = cmd;
    p->argc = argc;
    p->argv = argv;
    p->table = table;
    p->n = n;
    /* '-': arguments come back in order (code 1); ':': a missing value is
     * told apart from an unknown option. */
    *s++ = '-';
    *s++ = ':';
    *s++ = 'h';
    for (size_t i = 0; i < n; i++) {
        assert(table[i].id >= 0 && table[i].name && strcmp(table[i].name, "help") != 0);
        assert(table[i].short_name != 'h');
        p->longopts[i] =
            (struct option){table[i].name, table[i].value_name ? required_argument : no_argument,
                            NULL, LONG_VAL(i)};
        if (table[i].short_name) {
            *s++ = table[i].short_name;
            if (table[i].value_name)
                *s++ = ':';
        }
    }
    p->longopts[n] = (struct option){"help", no_argument, NULL, HELP_VAL};
    *s = '\0';
    optind = 0; /* glibc: start afresh */
    opterr = 0; /* the messages are ours */
}

int kos__opts_usage_error(const struct kos__opts *p, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s %s: ", p->prog, p->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see %s %s --help\n", p->prog, p->cmd);
    return 2;
}

/* The edit distance between a[0..na) and b[0..nb), for names of options
 * (both under 64 characters; longer ones count as far apart). */
static size_t distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t row[64], prev_diag, tmp;

    if (na >= 64 || nb >= 64)
        return 64;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        prev_diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            tmp = row[j];
            size_t best = prev_diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev_diag = tmp;
        }
    }
    return row[nb];
}

/* Prints " (did you mean --a or --b?)" for the options whose names `name`
 * (without dashes, up to '=') starts or is a small typo of; nothing when
 * none is close. */
static void print_suggestions(const struct kos__opts *p, const char *name)
{
    size_t len = strcspn(name, "="), found = 0;

    if (len == 0)
        return;
    for (size_t i = 0; i <= p->n; i++) {
        const char *cand = i < p->n ? p->table[i].name : "help";
        size_t clen = strlen(cand);
        bool close = (len < clen && strncmp(cand, name, len) == 0) ||
                     distance(name, len, cand, clen) <= (clen <= 4 ? 1u : 2u);
        if (!close)
            continue;
        fprintf(stderr, "%s--%s", found ? " or " : " (did you mean ", cand);
        found++;
    }
    if (found)
        fputs("?)", stderr);
}

/* An unknown option: `arg` as written. */
static int unknown(const struct kos__opts *p, const char *arg)
{
    size_t len = strcspn(arg, "=");

    fprintf(stderr, "%s %s: unknown option '%.*s'", p->prog, p->cmd, (int)len, arg);
    print_suggestions(p, arg + (arg[1] == '-' ? 2 : 1));
    fprintf(stderr, "; see %s %s --help\n", p->prog, p->cmd);
    return KOS__OPTS_ERROR;
}

/* The table entry getopt_long()'s code `c` stands for, or NULL. */
static const struct kos__opt *entry_of(const struct kos__opts *p, int c)
{
    if (c >= LONG_VAL(0) && c < LONG_VAL(p->n))
        return &p->table[c - LONG_VAL(0)];
    for (size_t i = 0; c > 0 && c < 256 && i < p->n; i++)
        if (p->table[i].short_name == c)
            return &p->table[i];
    return NULL;
}

/* "--name" or "-o", as `arg` shows the option was written. */
static void print_option(const struct kos__opt *o, const char *arg)
{
    if (arg[0] == '-' && arg[1] != '-' && o->short_name)
        fprintf(stderr, "-%c", o->short_name);
    else
        fprintf(stderr, "--%s", o->name);
}

static int needs_value(const struct kos__opts *p, const struct kos__opt *o, const char *arg,
                       const char *why)
{
    fprintf(stderr, "%s %s: option '", p->prog, p->cmd);
    print_option(o, arg);
    fprintf(stderr, "' needs a value%s (", why);
    print_option(o, arg);
    fprintf(stderr, " %s); see %s %s --help\n", o->value_name, p->prog, p->cmd);
    return KOS__OPTS_ERROR;
}

int kos__opts_next(struct kos__opts *p, const char **value)
{
    int at, c;

    *value = NULL;
    at = optind > 0 ? optind : 1;
    if (!p->rest_are_args && at < p->argc && strcmp(p->argv[at], "--") == 0) {
        p->rest_are_args = true;
        optind = ++at;
    }
    if (p->rest_are_args) {
        if (optind >= p->argc)
            return KOS__OPTS_END;
        *value = p->argv[optind++];
        return KOS__OPTS_ARG;
    }
    c = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, NULL);
    if (c == -1)
        return KOS__OPTS_END;
    if (c == 1) {
        *value = optarg;
        return KOS__OPTS_ARG;
    }
    const char *arg = p->argv[at]; /* the argument as written */
    if (c == 'h' || (c == HELP_VAL && strcmp(arg, "--help") == 0))
        return KOS__OPTS_HELP;
    if (c == HELP_VAL)
        return unknown(p, arg);
    if (c == '?') {
        const struct kos__opt *o = entry_of(p, optopt);
        const char *eq = strchr(arg, '=');
        if ((optopt == HELP_VAL || o) && arg[1] == '-' && eq) {
            fprintf(stderr, "%s %s: option '--%s' takes no value, not '%s'; see %s %s --help\n",
                    p->prog, p->cmd, o ? o->name : "help", eq + 1, p->prog, p->cmd);
            return KOS__OPTS_ERROR;
        }
        if (arg[1] != '-' && optopt > 0 && strlen(arg) == 2) {
            fprintf(stderr, "%s %s: unknown option '-%c'", p->prog, p->cmd, optopt);
            fprintf(stderr, "; see %s %s --help\n", p->prog, p->cmd);
            return KOS__OPTS_ERROR;
        }
        /* An unknown long option, or a word after a single dash ("-trust"):
         * name the whole argument. */
        return unknown(p, arg);
    }
    const struct kos__opt *o = entry_of(p, c == ':' ? optopt : c);
    if (!o)
        return unknown(p, arg);
    if (c == ':')
        return needs_value(p, o, arg, "");
    if (c >= LONG_VAL(0)) {
        /* getopt_long() accepts a prefix of a name; we do not. */
        size_t len = strlen(o->name);
        if (strncmp(arg + 2, o->name, len) != 0 || (arg[2 + len] && arg[2 + len] != '='))
            return unknown(p, arg);
    }
    if (o->value_name) {
        /* `--key --bin-dir x`: the value is missing, not "--bin-dir". */
        if (optarg == p->argv[at + 1] && optarg[0] == '-' && optarg[1] == '-' && optarg[2]) {
            fprintf(stderr, "%s %s: option '", p->prog, p->cmd);
            print_option(o, arg);
            fprintf(stderr, "' needs a value (");
            print_option(o, arg);
            fprintf(stderr,
                    " %s), not the option '%s' (write '--%s=%s' if you mean that value); see "
                    "%s %s --help\n",
                    o->value_name, optarg, o->name, optarg, p->prog, p->cmd);
            return KOS__OPTS_ERROR;
        }
        if (optarg[0] == '\0')
            return needs_value(p, o, arg, ", not an empty one");
        *value = optarg;
    }
    return o->id;
}

bool kos__opts_number(const struct kos__opts *p, const char *opt, const char *value,
                      unsigned long min, unsigned long max, const char *unit, unsigned long *out)
{
    unsigned long v;
    char *end;

    errno = 0;
    v = strtoul(value, &end, 10);
    if (errno || end == value || *end || value[0] == '-' || value[0] == '+' || v < min || v > max) {
        fprintf(stderr, "%s %s: --%s takes %s from %lu to %lu, not '%s'\n", p->prog, p->cmd, opt,
                unit, min, max, value);
        return false;
    }
    *out = v;
    return true;
}

bool kos__opts_port(const struct kos__opts *p, const char *opt, const char *value, unsigned *out)
{
    unsigned long v;

    if (!kos__opts_number(p, opt, value, 0, 65535, "a port number", &v))
        return false;
    *out = (unsigned)v;
    return true;
}

int kos__opts_choice(const struct kos__opts *p, const char *opt, const char *value,
                     const char *const *choices, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(value, choices[i]) == 0)
            return (int)i;
    fprintf(stderr, "%s %s: --%s takes ", p->prog, p->cmd, opt);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", choices[i]);
    fprintf(stderr, ", not '%s'\n", value);
    return -1;
}
