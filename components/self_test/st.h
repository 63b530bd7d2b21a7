/*
 * st.h - the self_test component's parts that need no running system: the
 * report it builds check by check, the quick check of random bytes, and its
 * settings' forms.
 *
 * What stays true of a report: its summary is printable text of at most
 * ST_SUMMARY_MAX - 1 bytes (what Core accepts), cut with "..." rather than
 * overflowing, and `failed` never exceeds `checks`.
 */
#ifndef KOS_SELF_TEST_ST_H
#define KOS_SELF_TEST_ST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_SUMMARY_MAX 1024u /* with the NUL: KOS__SELF_TEST_TEXT_MAX */

struct st_report {
    char summary[ST_SUMMARY_MAX];
    size_t used;
    uint32_t checks;
    uint32_t failed;
    bool cut; /* the summary was cut */
};

/* Empties the report. */
void st_report_init(struct st_report *r);

/* Adds one check's result: "NAME ok" or "NAME: WHY" for a failure, after a
 * "; " when the summary is not empty. `why` may be NULL for a pass. Control
 * characters in name or why are written as '?'. */
void st_report_add(struct st_report *r, const char *name, bool ok, const char *why);

/* True when every check passed and there was at least one. */
bool st_report_passed(const struct st_report *r);

/*
 * The quick check of random bytes: two reads `a` and `b` of n bytes must
 * differ and neither may be one byte repeated; `bulk` (bulk_len bytes, at
 * least 2500) must pass a monobit test on its first 20000 bits: the count
 * of ones within six standard deviations of 10000 (9576..10424), which a
 * working generator fails about twice in a billion boots, while a stuck or
 * badly biased one fails at once. On failure `why` says what was wrong.
 * *ones receives the count of ones.
 */
#define ST_MONOBIT_BYTES 2500u
#define ST_MONOBIT_LOW   9576u
#define ST_MONOBIT_HIGH  10424u
bool st_random_ok(const uint8_t *a, const uint8_t *b, size_t n, const uint8_t *bulk,
                  size_t bulk_len, unsigned *ones, char *why, size_t whylen);

/* Whether a check setting says to run the check: NULL or "check" runs it,
 * "skip" does not; anything else is an error (*ok false). */
bool st_check_wanted(const char *v, bool *ok);

/* Writes n bytes as lower-case hex into out (2n + 1 bytes). */
void st_hex(const uint8_t *p, size_t n, char *out);

#endif
