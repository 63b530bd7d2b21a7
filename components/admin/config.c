/*
 * config.c - admin's settings, from its manifest entry's config:
 * (docs/packages/admin.md). Every value is checked; a bad one stops admin
 * at start with a line naming the key, the value and what would be valid.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "config.h"

bool admin_config_parse(struct admin_config *cfg, const char *const *keys,
                        const char *const *values, size_t n, char *err, size_t errlen)
{
    cfg->health_every_ms = ADMIN_HEALTH_EVERY_MS;
    cfg->offline_buffer = ADMIN_OFFLINE_BUFFER;
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i], *v = values[i];
        uint64_t x;

        if (!strcmp(k, "health_every")) {
            if (!cfg_parse_duration(v, &x) || x / 1000000u < ADMIN_HEALTH_EVERY_MIN_MS ||
                x / 1000000u > ADMIN_HEALTH_EVERY_MAX_MS) {
                snprintf(err, errlen,
                         "config health_every: '%s' is not a duration from 1s to 1h (e.g. 10s, "
                         "2m)",
                         v);
                return false;
            }
            cfg->health_every_ms = x / 1000000u;
        } else if (!strcmp(k, "offline_buffer")) {
            if (!cfg_parse_size(v, &x) || x < ADMIN_OFFLINE_BUFFER_MIN ||
                x > ADMIN_OFFLINE_BUFFER_MAX) {
                snprintf(err, errlen,
                         "config offline_buffer: '%s' is not a size from 16KiB to 64MiB (e.g. "
                         "256KiB, 1MiB)",
                         v);
                return false;
            }
            cfg->offline_buffer = x;
        } else if (!strcmp(k, "remote_shell")) {
            if (strcmp(v, "disabled") != 0) {
                snprintf(err, errlen,
                         "config remote_shell: '%s': admin has no remote shell yet (the link's "
                         "shell channel is to come); the only value is disabled",
                         v);
                return false;
            }
        } else {
            snprintf(err, errlen,
                     "config: unknown setting '%s'; admin's settings are health_every, "
                     "offline_buffer and remote_shell",
                     k);
            return false;
        }
    }
    return true;
}
