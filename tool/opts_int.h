/*
 * opts_int.h - the one command-line parser of kos-tool's sub-commands.
 *
 * Each sub-command describes its options in a table of struct kos__opt and
 * reads its arguments with kos__opts_next(), which wraps getopt_long(). An
 * option that takes a value is written `--name VALUE` or `--name=VALUE`
 * (a short one `-o VALUE` or `-oVALUE`); a flag takes no value; `--` ends
 * the options; every other argument comes back in order as KOS__OPTS_ARG.
 * Long names are matched whole, never by a prefix, so a script keeps
 * working when an option is added. -h and --help come back as
 * KOS__OPTS_HELP for every sub-command.
 *
 * Every usage error is printed once, on stderr, as
 * "kos-tool CMD: what was wrong; see kos-tool CMD --help", naming the
 * argument as it was written, and the caller then exits with status 2; a
 * bad value says instead what would be valid ("kos-tool run: --grace takes
 * milliseconds from 1 to 600000, not 'soon'"). kos-server parses its
 * command line with the same parser, as "kos-server PROFILE" (see prog).
 */
#ifndef KOS_TOOL_OPTS_INT_H
#define KOS_TOOL_OPTS_INT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

/* The most options one sub-command may declare (besides --help). */
#define KOS__OPTS_MAX 24

/* One option of a sub-command. */
struct kos__opt {
    const char *name;       /* the long name without its dashes: "trust" */
    char short_name;        /* 'o' for -o, or 0 */
    const char *value_name; /* the value's name ("PUBKEY"), or NULL for a flag */
    int id;                 /* what kos__opts_next() returns for it: >= 0 */
};

/* What kos__opts_next() returns besides an option's id. */
enum {
    KOS__OPTS_END = -1,   /* no arguments left */
    KOS__OPTS_ARG = -2,   /* an argument that is not an option, in *value */
    KOS__OPTS_HELP = -3,  /* -h or --help */
    KOS__OPTS_ERROR = -4, /* a usage error, already printed: exit with status 2 */
};

/* The parser's state: caller-allocated, kos__opts_init() fills it. */
struct kos__opts {
    const char *prog; /* "kos-tool" (kos__opts_init's), or the caller's: the program in messages */
    const char *cmd;  /* "run", "manifest.build": the name in messages */
    int argc;
    char **argv;
    const struct kos__opt *table;
    size_t n;
    bool rest_are_args; /* after "--" */
    struct option longopts[KOS__OPTS_MAX + 2];
    char shortopts[3 * KOS__OPTS_MAX + 8];
};

/*
 * Prepares to parse argv[1..argc) of sub-command `cmd` (argv[0] is its
 * name) with the `n` options of `table`, which must outlive the parser.
 * Resets getopt's globals, so one process may parse several times. The
 * table is the caller's promise: at most KOS__OPTS_MAX entries, distinct
 * names, ids >= 0, no "help" and no 'h' (asserted).
 */
void kos__opts_init(struct kos__opts *p, const char *cmd, int argc, char **argv,
                    const struct kos__opt *table, size_t n);

/*
 * Reads the next argument. Returns an option's id (with its value in
 * *value, which points into argv, or NULL for a flag), KOS__OPTS_ARG (the
 * argument in *value), KOS__OPTS_HELP, KOS__OPTS_END, or KOS__OPTS_ERROR
 * after printing what was wrong: an unknown option (with the options it may
 * have meant), a missing or empty value, a value given to a flag. Does not
 * block.
 */
int kos__opts_next(struct kos__opts *p, const char **value);

/* Prints "kos-tool CMD: MESSAGE; see kos-tool CMD --help" on stderr and
 * returns 2, the exit status of a usage error. */
int kos__opts_usage_error(const struct kos__opts *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parses `value`, the value of option `--opt`, as a whole decimal number
 * from `min` to `max`. On success stores it in *out and returns true; else
 * prints "kos-tool CMD: --opt takes UNIT from MIN to MAX, not 'VALUE'" and
 * returns false.
 */
bool kos__opts_number(const struct kos__opts *p, const char *opt, const char *value,
                      unsigned long min, unsigned long max, const char *unit, unsigned long *out);

/* Parses `value`, the value of option `--opt`, as a TCP port: 0 (any free
 * one) to 65535, as kos__opts_number() does. */
bool kos__opts_port(const struct kos__opts *p, const char *opt, const char *value, unsigned *out);

/*
 * Finds `value`, the value of option `--opt`, among the `n` names of
 * `choices`. Returns its index, or -1 after printing
 * "kos-tool CMD: --opt takes A, B or C, not 'VALUE'".
 */
int kos__opts_choice(const struct kos__opts *p, const char *opt, const char *value,
                     const char *const *choices, size_t n);

#endif
