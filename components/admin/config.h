/*
 * config.h - reading this component's settings.
 *
 * A setting comes from the manifest entry's `config:` (kos_app_config());
 * nothing is read from the environment or the command line.
 *
 * The parsers accept the manifest's own forms: sizes as in docs/manifest.md
 * (4096, 64KiB, 1MiB, 1MB) and durations (500ms, 60s, 2m, 1h).
 */
#ifndef COMPONENT_CONFIG_H
#define COMPONENT_CONFIG_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kos/app.h>

static inline const char *cfg_get(const kos_app_t *app, const char *key)
{
    return kos_app_config(app, key);
}

/* Parses a whole number followed by one of units[] (NULL-terminated, with
 * the matching multipliers); an empty unit is allowed if units has "". */
static inline bool cfg_parse_unit(const char *v, const char *const *units, const uint64_t *mul,
                                  uint64_t *out)
{
    char *end;

    if (!v || *v < '0' || *v > '9')
        return false;
    errno = 0;
    unsigned long long q = strtoull(v, &end, 10);
    if (errno)
        return false;
    for (int i = 0; units[i]; i++) {
        if (!strcmp(end, units[i])) {
            if (mul[i] && q > UINT64_MAX / mul[i])
                return false;
            *out = (uint64_t)q * mul[i];
            return true;
        }
    }
    return false;
}

static inline bool cfg_parse_size(const char *v, uint64_t *out)
{
    static const char *const u[] = {"", "B", "KiB", "MiB", "GiB", "kB", "MB", "GB", NULL};
    static const uint64_t m[] = {1,    1,       1024,      1024 * 1024, 1024 * 1024 * 1024,
                                 1000, 1000000, 1000000000};
    return cfg_parse_unit(v, u, m, out);
}

/* A duration in nanoseconds. */
static inline bool cfg_parse_duration(const char *v, uint64_t *out_ns)
{
    static const char *const u[] = {"ms", "s", "m", "h", NULL};
    static const uint64_t m[] = {1000000ull, 1000000000ull, 60000000000ull, 3600000000000ull};
    return cfg_parse_unit(v, u, m, out_ns);
}

static inline bool cfg_parse_bool(const char *v, bool *out)
{
    if (v && (!strcmp(v, "true") || !strcmp(v, "false"))) {
        *out = v[0] == 't';
        return true;
    }
    return false;
}

#endif
