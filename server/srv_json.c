/*
 * srv_json.c - JSON values for kos-server's API and events (srv_json.h).
 *
 * What stays true: every string made here from a device's bytes went
 * through kos__text_escape(), so jansson (which refuses invalid UTF-8)
 * always takes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_json.h"
#include "text_int.h"

json_t *kos__json_text(const char *s, size_t len)
{
    char stack[256], *buf = stack;
    size_t n, cap = KOS__TEXT_ESCAPED_MAX(len);
    json_t *j;

    if (cap > sizeof(stack) && !(buf = malloc(cap)))
        return NULL;
    n = kos__text_escape(buf, cap, s, len, NULL);
    j = json_stringn(buf, n);
    if (buf != stack)
        free(buf);
    return j;
}

json_t *kos__json_str(const char *s)
{
    return s ? kos__json_text(s, strlen(s)) : json_null();
}

/* "YYYY-MM-DDTHH:MM:SS" + frac + "Z" for `secs` since the epoch. */
static json_t *time_json(int64_t secs, const char *frac)
{
    char out[64];
    struct tm tm;
    time_t t = (time_t)secs;

    if (!gmtime_r(&t, &tm))
        return json_null();
    snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return json_string(out);
}

json_t *kos__json_time_ms(int64_t ms)
{
    char frac[8];

    if (ms <= 0)
        return json_null();
    snprintf(frac, sizeof(frac), ".%03d", (int)(ms % 1000));
    return time_json(ms / 1000, frac);
}

json_t *kos__json_time_ns(int64_t ns)
{
    char frac[12];

    if (ns <= 0)
        return json_null();
    snprintf(frac, sizeof(frac), ".%06d", (int)(ns % 1000000000 / 1000));
    return time_json(ns / 1000000000, frac);
}

json_t *kos__json_u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

const char *kos__json_level_name(unsigned level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    return level < 4 ? names[level] : "error";
}

json_t *kos__json_record(uint64_t seq, uint64_t device_seq, int64_t time_ns, const char *app,
                         size_t app_len, unsigned level, const char *text, size_t text_len,
                         bool console)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:s, s:o, s:b}", "seq", kos__json_u64(seq), "device_seq",
                     kos__json_u64(device_seq), "time", kos__json_time_ns(time_ns), "app",
                     kos__json_text(app, app_len), "level", kos__json_level_name(level), "text",
                     kos__json_text(text, text_len), "console", console);
}

int64_t kos__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
