/*
 * checks.c - self_test's report and its quick check of random bytes (st.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st.h"

void st_report_init(struct st_report *r)
{
    memset(r, 0, sizeof(*r));
}

/* Appends s to the summary, printable, cutting with "..." at the end. */
static void append(struct st_report *r, const char *s)
{
    const size_t room = ST_SUMMARY_MAX - 1 - 3; /* keep space for "..." */

    for (; *s && !r->cut; s++) {
        if (r->used == room) {
            memcpy(r->summary + r->used, "...", 3);
            r->used += 3;
            r->cut = true;
            break;
        }
        r->summary[r->used++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    }
    r->summary[r->used] = '\0';
}

void st_report_add(struct st_report *r, const char *name, bool ok, const char *why)
{
    if (r->used)
        append(r, "; ");
    append(r, name);
    if (ok) {
        append(r, " ok");
        if (why && *why) {
            append(r, " (");
            append(r, why);
            append(r, ")");
        }
    } else {
        append(r, ": ");
        append(r, why && *why ? why : "failed");
        r->failed++;
    }
    r->checks++;
}

bool st_report_passed(const struct st_report *r)
{
    return r->checks > 0 && r->failed == 0;
}

/* True if the n bytes at p are one byte repeated. */
static bool uniform(const uint8_t *p, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (p[i] != p[0])
            return false;
    return true;
}

bool st_random_ok(const uint8_t *a, const uint8_t *b, size_t n, const uint8_t *bulk,
                  size_t bulk_len, unsigned *ones, char *why, size_t whylen)
{
    unsigned count = 0;

    *ones = 0;
    if (n == 0 || bulk_len < ST_MONOBIT_BYTES) {
        snprintf(why, whylen, "too few bytes to check");
        return false;
    }
    if (memcmp(a, b, n) == 0) {
        snprintf(why, whylen, "two reads of %zu bytes returned the same bytes", n);
        return false;
    }
    if (uniform(a, n) || uniform(b, n)) {
        snprintf(why, whylen, "a read of %zu bytes returned one byte repeated (0x%02x)", n,
                 uniform(a, n) ? a[0] : b[0]);
        return false;
    }
    for (size_t i = 0; i < ST_MONOBIT_BYTES; i++)
        count += (unsigned)__builtin_popcount(bulk[i]);
    *ones = count;
    if (count < ST_MONOBIT_LOW || count > ST_MONOBIT_HIGH) {
        snprintf(why, whylen, "monobit test failed: %u ones in 20000 bits (accepted %u..%u)", count,
                 ST_MONOBIT_LOW, ST_MONOBIT_HIGH);
        return false;
    }
    return true;
}

bool st_check_wanted(const char *v, bool *ok)
{
    *ok = true;
    if (!v || !strcmp(v, "check"))
        return true;
    if (!strcmp(v, "skip"))
        return false;
    *ok = false;
    return false;
}

void st_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}
