/*
 * srv_json.h - the JSON values kos-server's API and events are made of
 * (jansson), where one rule must hold everywhere: text a device sent is
 * escaped as the console escapes it (lib/text_int.h) before it becomes a
 * JSON string, so it is always valid UTF-8 and holds no control character,
 * and a browser shows it as text (the UI inserts it with textContent).
 *
 * Every function returns a new reference (the caller's), or NULL only when
 * memory runs out; none blocks.
 */
#ifndef KOS_SERVER_SRV_JSON_H
#define KOS_SERVER_SRV_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Text from a device (any bytes, NUL-terminated or s[0..len)), escaped. */
json_t *kos__json_text(const char *s, size_t len);
/* The same for a NUL-terminated string; NULL s gives JSON null. */
json_t *kos__json_str(const char *s);

/* A time as RFC 3339 UTC, "2026-11-26T16:20:01.402Z" (milliseconds) or
 * "...01.402345Z" (microseconds, from nanoseconds); 0 gives JSON null. */
json_t *kos__json_time_ms(int64_t ms);
json_t *kos__json_time_ns(int64_t ns);

/* An unsigned number; above what JSON integers hold here (INT64_MAX) it is
 * that bound. */
json_t *kos__json_u64(uint64_t v);

/* A log level's name: "debug", "info", "warn", "error" (levels 0-3). */
const char *kos__json_level_name(unsigned level);

/* One stored log record as the API shows it: {"seq", "device_seq", "time",
 * "app", "level", "text", "console"}. */
json_t *kos__json_record(uint64_t seq, uint64_t device_seq, int64_t time_ns, const char *app,
                         size_t app_len, unsigned level, const char *text, size_t text_len,
                         bool console);

/* The wall clock in milliseconds since the epoch. */
int64_t kos__now_ms(void);

#endif
