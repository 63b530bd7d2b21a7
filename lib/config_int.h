/*
 * config_int.h - a component's settings, read from its manifest entry
 * (config:, kos_app_config()) in the manifest's own forms, and the size and
 * duration parsers the manifest reader uses for its own keys.
 *
 * What stays true:
 *  - a size is a whole number of bytes with an optional unit, and a
 *    duration a whole number with a unit, exactly as docs/manifest.md says
 *    (Sizes, Durations); a number is decimal digits only; a boolean is
 *    `true` or `false`. Nothing else is accepted: no sign, fraction,
 *    hexadecimal, separator or space around the value;
 *  - a setting left out takes the default its reader gives, unchecked;
 *  - a bad value changes nothing (*out is untouched) and gets one sentence,
 *    on one line, naming the setting, the value as written (its first
 *    KOS__CFG_QUOTE_MAX bytes, escaped as app text is: text_int.h) and what
 *    would be valid.
 *
 * The kos__cfg_parse_*() functions check a value and write that sentence to
 * a buffer; the kos__cfg_*() functions read the setting from the app and
 * log the sentence (kos_log_error). Neither blocks, but for the log line.
 */
#ifndef KOS_CONFIG_INT_H
#define KOS_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/app.h>

/* The most of a bad value an error message quotes. */
#define KOS__CFG_QUOTE_MAX 40
/* The longest duration: as in the manifest, what a u32 of milliseconds
 * holds (about 49 days). */
#define KOS__DURATION_MAX_MS 4294967295ull
/* Big enough for every sentence these functions write. */
#define KOS__CFG_ERR_MAX 512

/* Parses the leading decimal digits of s[0..len) into *v. Returns how many
 * bytes were digits (0 if none), or SIZE_MAX if the value overflows 64
 * bits. */
size_t kos__parse_digits(const char *s, size_t len, uint64_t *v);

/* Parses the size s[0..len): KOS_STATUS_OK with *bytes set,
 * KOS_STATUS_TOO_LARGE if it does not fit in 64 bits, or
 * KOS_STATUS_INVALID_ARGUMENT if it is not a size. */
kos_status_t kos__parse_size(const char *s, size_t len, uint64_t *bytes);

/* Parses the duration s[0..len) (0 included): KOS_STATUS_OK with *ms set,
 * KOS_STATUS_TOO_LARGE if it is over KOS__DURATION_MAX_MS, or
 * KOS_STATUS_INVALID_ARGUMENT if it is not a duration. */
kos_status_t kos__parse_duration_ms(const char *s, size_t len, uint64_t *ms);

/* Checks `value` of setting `key` and sets *out: a size of min..max bytes,
 * a duration of min..max milliseconds (max at most KOS__DURATION_MAX_MS), a
 * whole number min..max, true or false. On KOS_STATUS_INVALID_ARGUMENT, err
 * (errlen bytes, KOS__CFG_ERR_MAX is enough) holds the sentence and *out is
 * untouched. */
kos_status_t kos__cfg_parse_size(const char *key, const char *value, uint64_t min, uint64_t max,
                                 uint64_t *out, char *err, size_t errlen);
kos_status_t kos__cfg_parse_duration_ms(const char *key, const char *value, uint64_t min,
                                        uint64_t max, uint64_t *out, char *err, size_t errlen);
kos_status_t kos__cfg_parse_uint(const char *key, const char *value, uint64_t min, uint64_t max,
                                 uint64_t *out, char *err, size_t errlen);
kos_status_t kos__cfg_parse_bool(const char *key, const char *value, bool *out, char *err,
                                 size_t errlen);

/* Setting `key` of the app's manifest entry, or `def` when there is none.
 * Valid until kos_app_close(). */
const char *kos__cfg_str(const kos_app_t *app, const char *key, const char *def);

/* Reads setting `key` as the matching kos__cfg_parse_*() checks it: *out is
 * the value, or `def` when the manifest gives none. A bad value is logged as
 * an error and gives KOS_STATUS_INVALID_ARGUMENT, *out untouched. */
kos_status_t kos__cfg_size(const kos_app_t *app, const char *key, uint64_t def, uint64_t min,
                           uint64_t max, uint64_t *out) __attribute__((warn_unused_result));
kos_status_t kos__cfg_duration_ms(const kos_app_t *app, const char *key, uint64_t def, uint64_t min,
                                  uint64_t max, uint64_t *out) __attribute__((warn_unused_result));
kos_status_t kos__cfg_uint(const kos_app_t *app, const char *key, uint64_t def, uint64_t min,
                           uint64_t max, uint64_t *out) __attribute__((warn_unused_result));
kos_status_t kos__cfg_bool(const kos_app_t *app, const char *key, bool def, bool *out)
    __attribute__((warn_unused_result));

#endif
