/*
 * config.c - admin's settings, from its manifest entry's config:
 * (docs/packages/admin.md), and its saved place in the log stream. Every
 * value is checked; a bad setting stops admin at start with a line naming
 * the key, the value and what would be valid.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "config_int.h"

bool admin_config_parse(struct admin_config *cfg, const char *const *keys,
                        const char *const *values, size_t n, char *err, size_t errlen)
{
    cfg->health_every_ms = ADMIN_HEALTH_EVERY_MS;
    cfg->offline_buffer = ADMIN_OFFLINE_BUFFER;
    cfg->remote_shell = false;
    cfg->remote_debug = false;
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i], *v = values[i];
        uint64_t x;

        if (!strcmp(k, "health_every")) {
            if (kos__cfg_parse_duration_ms(k, v, ADMIN_HEALTH_EVERY_MIN_MS,
                                           ADMIN_HEALTH_EVERY_MAX_MS, &x, err, errlen))
                return false;
            cfg->health_every_ms = x;
        } else if (!strcmp(k, "offline_buffer")) {
            if (kos__cfg_parse_size(k, v, ADMIN_OFFLINE_BUFFER_MIN, ADMIN_OFFLINE_BUFFER_MAX, &x,
                                    err, errlen))
                return false;
            cfg->offline_buffer = x;
        } else if (!strcmp(k, "remote_shell") || !strcmp(k, "remote_debug")) {
            bool shell = !strcmp(k, "remote_shell");
            bool *on = shell ? &cfg->remote_shell : &cfg->remote_debug;
            if (!strcmp(v, "enabled")) {
                *on = true;
            } else if (!strcmp(v, "disabled")) {
                *on = false;
            } else {
                snprintf(err, errlen,
                         "config %s: '%.64s' is not a value it takes; write enabled (%s, for "
                         "development systems) or disabled",
                         k, v,
                         shell ? "the device's command console on the link's shell channel"
                               : "debugging apps marked debug: true on the link's debug channel");
                return false;
            }
        } else {
            snprintf(err, errlen,
                     "config: unknown setting '%s'; admin's settings are health_every, "
                     "offline_buffer, remote_shell and remote_debug",
                     k);
            return false;
        }
    }
    return true;
}

/* Takes line[0..n) as `key` and a decimal number without sign or spaces
 * that fits 64 bits. */
static bool number_line(const char *line, size_t n, const char *key, uint64_t *out)
{
    size_t k = strlen(key);
    uint64_t v = 0;

    if (n <= k || memcmp(line, key, k) != 0 || n - k > 20)
        return false;
    for (size_t i = k; i < n; i++) {
        unsigned d = (unsigned)(line[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool admin_place_parse(const char *text, size_t len, uint64_t *seq, uint64_t *cursor)
{
    const char *p = text, *end = text + len;
    bool ok = true;

    *seq = 1;
    *cursor = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        uint64_t v;
        if (n == 0 || p[0] == '#')
            ; /* a comment, or an empty line */
        else if (number_line(p, n, "seq ", &v) && v > 0)
            *seq = v;
        else if (number_line(p, n, "cursor ", &v))
            *cursor = v;
        else
            ok = false;
        p += n + 1;
    }
    return ok;
}
