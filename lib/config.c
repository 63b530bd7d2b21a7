/*
 * config.c - sizes, durations, numbers and booleans in the manifest's forms
 * (config_int.h): the one parser of each, for the manifest reader's own
 * keys and for every component's settings, and the one wording of what is
 * wrong with a bad value.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <kos/log.h>

#include "config_int.h"
#include "text_int.h"

struct unit {
    const char *name;
    uint64_t mult;
};

/* Sizes (docs/manifest.md#sizes). Largest first within each family, as
 * fmt_value() wants them. */
static const struct unit size_units[] = {
    {"TiB", 1ull << 40},
    {"GiB", 1ull << 30},
    {"MiB", 1ull << 20},
    {"KiB", 1ull << 10},
    {"TB", 1000000000000ull},
    {"GB", 1000000000ull},
    {"MB", 1000000ull},
    {"kB", 1000ull},
    {"B", 1},
    {"", 1},
};

/* Durations in milliseconds (docs/manifest.md#durations). */
static const struct unit duration_units[] = {
    {"h", 3600000},
    {"m", 60000},
    {"s", 1000},
    {"ms", 1},
};

#define N_SIZE_UNITS     (sizeof(size_units) / sizeof(size_units[0]))
#define N_DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

size_t kos__parse_digits(const char *s, size_t len, uint64_t *v)
{
    size_t i = 0;

    *v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return SIZE_MAX;
        *v = *v * 10 + d;
        i++;
    }
    return i;
}

static bool text_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

kos_status_t kos__parse_size(const char *s, size_t len, uint64_t *bytes)
{
    uint64_t v;
    size_t i = kos__parse_digits(s, len, &v), u;

    if (i == SIZE_MAX)
        return KOS_STATUS_TOO_LARGE;
    if (i == 0)
        return KOS_STATUS_INVALID_ARGUMENT;
    for (u = i; u < len && s[u] == ' ';)
        u++;
    for (size_t k = 0; k < N_SIZE_UNITS; k++) {
        if (!text_is(s + u, len - u, size_units[k].name))
            continue;
        if (size_units[k].name[0] == '\0' && u != i)
            return KOS_STATUS_INVALID_ARGUMENT; /* trailing spaces and no unit */
        if (v > UINT64_MAX / size_units[k].mult)
            return KOS_STATUS_TOO_LARGE;
        *bytes = v * size_units[k].mult;
        return KOS_STATUS_OK;
    }
    return KOS_STATUS_INVALID_ARGUMENT;
}

kos_status_t kos__parse_duration_ms(const char *s, size_t len, uint64_t *ms)
{
    uint64_t v;
    size_t i = kos__parse_digits(s, len, &v);

    if (i == SIZE_MAX)
        return KOS_STATUS_TOO_LARGE;
    if (i == 0)
        return KOS_STATUS_INVALID_ARGUMENT;
    for (size_t k = 0; k < N_DURATION_UNITS; k++) {
        if (!text_is(s + i, len - i, duration_units[k].name))
            continue;
        if (v > KOS__DURATION_MAX_MS / duration_units[k].mult)
            return KOS_STATUS_TOO_LARGE;
        *ms = v * duration_units[k].mult;
        return KOS_STATUS_OK;
    }
    return KOS_STATUS_INVALID_ARGUMENT;
}

/* ---- what a bad value gets told ---- */

/* One kind of setting: how its values are named and bounded. */
struct kind {
    const char *noun;         /* "a size" */
    const char *form;         /* how one is written; NULL: the noun says it */
    const char *example;      /* a good value, if it is in range */
    uint64_t limit;           /* the most the form can hold */
    const struct unit *units; /* for showing bounds; NULL: plain numbers */
    size_t n_units;
    kos_status_t (*parse)(const char *s, size_t len, uint64_t *out);
};

/* v written with the largest unit that divides it ("128KiB", "5m"), or as
 * a plain number (of milliseconds: "1500ms"). */
static void fmt_value(const struct kind *k, uint64_t v, char *buf, size_t len)
{
    for (size_t i = 0; i < k->n_units && v; i++) {
        if (k->units[i].mult > 1 && v % k->units[i].mult == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / k->units[i].mult),
                     k->units[i].name);
            return;
        }
    }
    snprintf(buf, len, "%llu%s", (unsigned long long)v, k->units == duration_units ? "ms" : "");
}

/* "a size from 128KiB to 1GiB", "a size of at least 128KiB", ... */
static void fmt_range(const struct kind *k, uint64_t min, uint64_t max, char *buf, size_t len)
{
    char a[32], b[32];

    fmt_value(k, min, a, sizeof(a));
    fmt_value(k, max, b, sizeof(b));
    if (min == 0 && max >= k->limit)
        snprintf(buf, len, "%s", k->noun);
    else if (max >= k->limit)
        snprintf(buf, len, "%s of at least %s", k->noun, a);
    else if (min == 0)
        snprintf(buf, len, "%s of at most %s", k->noun, b);
    else
        snprintf(buf, len, "%s from %s to %s", k->noun, a, b);
}

/* The first KOS__CFG_QUOTE_MAX bytes of value, escaped as app text is
 * (text_int.h) so that the sentence stays one line, and "..." if it was
 * longer. */
static const char *quote(const char *value, char *buf, size_t cap)
{
    size_t len = value ? strnlen(value, KOS__CFG_QUOTE_MAX + 1) : 0, n;
    bool cut = len > KOS__CFG_QUOTE_MAX;

    assert(cap >= KOS__TEXT_ESCAPED_MAX(KOS__CFG_QUOTE_MAX) + 4);
    if (cut)
        len = kos__text_boundary(value, KOS__CFG_QUOTE_MAX);
    n = kos__text_escape(buf, cap - 4, value ? value : "", len, NULL);
    memcpy(buf + n, cut ? "..." : "", cut ? 4 : 1);
    return buf;
}

static kos_status_t parse_as(const struct kind *k, const char *key, const char *value, uint64_t min,
                             uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    char range[96], ex[32], q[KOS__TEXT_ESCAPED_MAX(KOS__CFG_QUOTE_MAX) + 4];
    uint64_t v = 0;
    kos_status_t st;

    assert(min <= max);
    if (max > k->limit)
        max = k->limit;
    st = value ? k->parse(value, strlen(value), &v) : KOS_STATUS_INVALID_ARGUMENT;
    if (st == KOS_STATUS_OK && v >= min && v <= max) {
        *out = v;
        return KOS_STATUS_OK;
    }
    fmt_range(k, min, max, range, sizeof(range));
    if (st == KOS_STATUS_INVALID_ARGUMENT) {
        if (k->parse(k->example, strlen(k->example), &v) || v < min || v > max)
            fmt_value(k, min, ex, sizeof(ex));
        else
            snprintf(ex, sizeof(ex), "%s", k->example);
        if (k->form)
            snprintf(err, errlen, "config %s: '%s' is not %s; write %s, e.g. %s", key,
                     quote(value, q, sizeof(q)), range, k->form, ex);
        else
            snprintf(err, errlen, "config %s: '%s' is not %s", key, quote(value, q, sizeof(q)),
                     range);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (st == KOS_STATUS_TOO_LARGE || v > max) {
        /* Past what the form holds, say the bound even when it is the form's. */
        if (max == k->limit) {
            fmt_value(k, max, ex, sizeof(ex));
            snprintf(range + strlen(range), sizeof(range) - strlen(range), "%s at most %s",
                     min ? " and" : " of", ex);
        }
        snprintf(err, errlen, "config %s: '%s' is too large; write %s", key,
                 quote(value, q, sizeof(q)), range);
    } else {
        snprintf(err, errlen, "config %s: '%s' is too small; write %s", key,
                 quote(value, q, sizeof(q)), range);
    }
    return KOS_STATUS_INVALID_ARGUMENT;
}

/* A whole number: decimal digits only. */
static kos_status_t parse_uint(const char *s, size_t len, uint64_t *out)
{
    size_t i = kos__parse_digits(s, len, out);

    if (i == SIZE_MAX)
        return KOS_STATUS_TOO_LARGE;
    return i && i == len ? KOS_STATUS_OK : KOS_STATUS_INVALID_ARGUMENT;
}

static const struct kind size_kind = {
    .noun = "a size",
    .form = "a whole number of bytes with an optional unit: B, KiB, MiB, GiB, TiB (1024-based) "
            "or kB, MB, GB, TB (1000-based)",
    .example = "64KiB",
    .limit = UINT64_MAX,
    .units = size_units,
    .n_units = N_SIZE_UNITS,
    .parse = kos__parse_size,
};

static const struct kind duration_kind = {
    .noun = "a duration",
    .form = "a whole number with a unit: ms, s, m or h",
    .example = "10s",
    .limit = KOS__DURATION_MAX_MS,
    .units = duration_units,
    .n_units = N_DURATION_UNITS,
    .parse = kos__parse_duration_ms,
};

static const struct kind uint_kind = {
    .noun = "a whole number",
    .example = "1",
    .limit = UINT64_MAX,
    .parse = parse_uint,
};

kos_status_t kos__cfg_parse_size(const char *key, const char *value, uint64_t min, uint64_t max,
                                 uint64_t *out, char *err, size_t errlen)
{
    return parse_as(&size_kind, key, value, min, max, out, err, errlen);
}

kos_status_t kos__cfg_parse_duration_ms(const char *key, const char *value, uint64_t min,
                                        uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    return parse_as(&duration_kind, key, value, min, max, out, err, errlen);
}

kos_status_t kos__cfg_parse_uint(const char *key, const char *value, uint64_t min, uint64_t max,
                                 uint64_t *out, char *err, size_t errlen)
{
    return parse_as(&uint_kind, key, value, min, max, out, err, errlen);
}

kos_status_t kos__cfg_parse_bool(const char *key, const char *value, bool *out, char *err,
                                 size_t errlen)
{
    char q[KOS__TEXT_ESCAPED_MAX(KOS__CFG_QUOTE_MAX) + 4];

    if (value && (!strcmp(value, "true") || !strcmp(value, "false"))) {
        *out = value[0] == 't';
        return KOS_STATUS_OK;
    }
    snprintf(err, errlen, "config %s: '%s' is not true or false", key, quote(value, q, sizeof(q)));
    return KOS_STATUS_INVALID_ARGUMENT;
}

/* ---- from the app's manifest entry ---- */

const char *kos__cfg_str(const kos_app_t *app, const char *key, const char *def)
{
    const char *v = kos_app_config(app, key);

    return v ? v : def;
}

/* Reads setting `key` through parse_as(); logs what is wrong with it. */
static kos_status_t read_as(const struct kind *k, const kos_app_t *app, const char *key,
                            uint64_t def, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *v = kos_app_config(app, key);
    char err[KOS__CFG_ERR_MAX];

    if (!v) {
        *out = def;
        return KOS_STATUS_OK;
    }
    if (parse_as(k, key, v, min, max, out, err, sizeof(err))) {
        kos_log_error("%s", err);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    return KOS_STATUS_OK;
}

kos_status_t kos__cfg_size(const kos_app_t *app, const char *key, uint64_t def, uint64_t min,
                           uint64_t max, uint64_t *out)
{
    return read_as(&size_kind, app, key, def, min, max, out);
}

kos_status_t kos__cfg_duration_ms(const kos_app_t *app, const char *key, uint64_t def, uint64_t min,
                                  uint64_t max, uint64_t *out)
{
    return read_as(&duration_kind, app, key, def, min, max, out);
}

kos_status_t kos__cfg_uint(const kos_app_t *app, const char *key, uint64_t def, uint64_t min,
                           uint64_t max, uint64_t *out)
{
    return read_as(&uint_kind, app, key, def, min, max, out);
}

kos_status_t kos__cfg_bool(const kos_app_t *app, const char *key, bool def, bool *out)
{
    const char *v = kos_app_config(app, key);
    char err[KOS__CFG_ERR_MAX];

    if (!v) {
        *out = def;
        return KOS_STATUS_OK;
    }
    if (kos__cfg_parse_bool(key, v, out, err, sizeof(err))) {
        kos_log_error("%s", err);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    return KOS_STATUS_OK;
}
