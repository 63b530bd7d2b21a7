/*
 * req.c - reading what an API client sends (req.h).
 *
 * What stays true: a reader that returns KOS_STATUS_OK filled every field
 * of its output with a value inside the documented range; one that fails
 * wrote a NUL-terminated sentence into err and nothing else. Text the
 * client sent appears in err only through quote(): escaped as the console
 * escapes app text and cut at a character boundary.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "boot_int.h"
#include "req.h"
#include "text_int.h"

/* What a quoted piece of client text may take in an error. */
#define QUOTE_MAX 40u

/* Writes s[0..len), escaped and cut to QUOTE_MAX input bytes ("..." when
 * cut), into out[0..cap). */
static const char *quote(char *out, size_t cap, const char *s, size_t len)
{
    size_t take = len > QUOTE_MAX ? kos__text_boundary(s, QUOTE_MAX) : len, n;

    n = kos__text_escape(out, cap - 4, s, take, NULL);
    snprintf(out + n, cap - n, "%s", take < len ? "..." : "");
    return out;
}

bool kos__req_name_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    bool visible = false;

    if (len == 0 || len > KOS__SRV_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return false;
        /* C1 controls U+0080-009F are C2 80-9F; U+2028/2029 are E2 80 A8/A9. */
        if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)
            return false;
        if (u[i] == 0xe2 && i + 2 < len && u[i + 1] == 0x80 &&
            (u[i + 2] == 0xa8 || u[i + 2] == 0xa9))
            return false;
        if (u[i] != ' ')
            visible = true;
    }
    return visible;
}

/* Parses body[0..len) as one JSON object. */
static json_t *load_object(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j;

    if (len == 0) {
        snprintf(err, errlen, "the body is empty; it must be a JSON object");
        return NULL;
    }
    j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j) {
        /* jansson's text quotes the input near the error: escape it. */
        char why[KOS__TEXT_ESCAPED_MAX(JSON_ERROR_TEXT_LENGTH) + 1];
        size_t n = kos__text_escape(why, sizeof(why) - 1, je.text,
                                    strnlen(je.text, sizeof(je.text)), NULL);
        why[n] = '\0';
        snprintf(err, errlen, "the body is not valid JSON: %s (line %d, column %d)", why, je.line,
                 je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        snprintf(err, errlen, "the body must be a JSON object ({...})");
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Refuses a key of obj not among known[0..n): `takes` says what it takes. */
static bool only_known(json_t *obj, const char *const *known, size_t n, const char *takes,
                       char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    char q[4 * QUOTE_MAX + 8];

    json_object_foreach(obj, key, v)
    {
        size_t i;
        for (i = 0; i < n && strcmp(key, known[i]) != 0; i++)
            ;
        if (i == n) {
            snprintf(err, errlen, "unknown field \"%s\": %s", quote(q, sizeof(q), key, strlen(key)),
                     takes);
            return false;
        }
    }
    return true;
}

/* A body's optional "name" (absent or null: out stays ""). */
static bool read_name(const json_t *name, char out[KOS__SRV_NAME_MAX + 1], char *err, size_t errlen)
{
    if (!name || json_is_null(name))
        return true;
    if (!json_is_string(name) ||
        !kos__req_name_valid(json_string_value(name), json_string_length(name))) {
        snprintf(err, errlen,
                 "\"name\" must be a string of 1 to %u bytes without control characters",
                 KOS__SRV_NAME_MAX);
        return false;
    }
    memcpy(out, json_string_value(name), json_string_length(name));
    out[json_string_length(name)] = '\0';
    return true;
}

kos_status_t kos__req_approve(const char *body, size_t len, char name[KOS__SRV_NAME_MAX + 1],
                              char *err, size_t errlen)
{
    static const char *const known[] = {"name"};
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;
    json_t *j;

    name[0] = '\0';
    if (len == 0)
        return KOS_STATUS_OK;
    if (!(j = load_object(body, len, err, errlen)))
        return st;
    if (only_known(j, known, 1, "an approval takes \"name\" (optional) or no body", err, errlen) &&
        read_name(json_object_get(j, "name"), name, err, errlen))
        st = KOS_STATUS_OK;
    json_decref(j);
    return st;
}

kos_status_t kos__req_register(const char *body, size_t len, struct kos__req_register *out,
                               char *err, size_t errlen)
{
    static const char *const known[] = {"public_key", "name"};
    json_t *j, *pk, *name;
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;

    memset(out, 0, sizeof(*out));
    if (!(j = load_object(body, len, err, errlen)))
        return st;
    if (!only_known(j, known, 2,
                    "a registration takes \"public_key\" (PEM) and \"name\" (optional)", err,
                    errlen))
        goto out;
    pk = json_object_get(j, "public_key");
    name = json_object_get(j, "name");
    if (!pk) {
        snprintf(err, errlen,
                 "\"public_key\" is missing: give the device's identity public key (PEM)");
        goto out;
    }
    if (!json_is_string(pk)) {
        snprintf(err, errlen, "\"public_key\" must be a string (PEM)");
        goto out;
    }
    if (!read_name(name, out->name, err, errlen))
        goto out;
    if (kos__ca_parse_public_key(json_string_value(pk), json_string_length(pk), out->pub, err,
                                 errlen) != KOS_STATUS_OK)
        goto out;
    st = KOS_STATUS_OK;
out:
    json_decref(j);
    return st;
}

kos_status_t kos__req_command(const char *body, size_t len, struct kos__req_command *out, char *err,
                              size_t errlen)
{
    static const char *const known[] = {"restart_app", "reboot", "trace"};
    static const char takes[] = "a command is {\"restart_app\": APP}, {\"reboot\": true} or "
                                "{\"trace\": {\"app\": APP, \"on\": true|false}}";
    json_t *j, *app, *reboot, *trace;
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;

    memset(out, 0, sizeof(*out));
    if (!(j = load_object(body, len, err, errlen)))
        return st;
    if (!only_known(j, known, 3, takes, err, errlen))
        goto out;
    app = json_object_get(j, "restart_app");
    reboot = json_object_get(j, "reboot");
    trace = json_object_get(j, "trace");
    if ((app != NULL) + (reboot != NULL) + (trace != NULL) != 1) {
        snprintf(err, errlen, "give exactly one command: %s", takes);
        goto out;
    }
    if (trace) {
        static const char *const tknown[] = {"app", "on"};
        json_t *tapp = json_object_get(trace, "app"), *on = json_object_get(trace, "on");
        if (!json_is_object(trace) || !only_known(trace, tknown, 2, takes, err, errlen)) {
            if (!json_is_object(trace))
                snprintf(err, errlen, "\"trace\" must be an object: %s", takes);
            goto out;
        }
        if (!tapp || !json_is_string(tapp) ||
            !kos__name_valid(json_string_value(tapp), json_string_length(tapp))) {
            snprintf(err, errlen,
                     "\"trace\".\"app\" must be an app's name (1 to 63 characters of "
                     "A-Z a-z 0-9 _ . -, starting with a letter or digit)");
            goto out;
        }
        if (!on || !json_is_boolean(on)) {
            snprintf(err, errlen, "\"trace\".\"on\" must be true or false");
            goto out;
        }
        out->kind = KOS__CMD_TRACE;
        out->on = json_is_true(on);
        memcpy(out->app, json_string_value(tapp), json_string_length(tapp));
    } else if (app) {
        if (!json_is_string(app) ||
            !kos__name_valid(json_string_value(app), json_string_length(app))) {
            snprintf(err, errlen,
                     "\"restart_app\" must be an app's name (1 to 63 characters of "
                     "A-Z a-z 0-9 _ . -, starting with a letter or digit)");
            goto out;
        }
        out->kind = KOS__CMD_RESTART_APP;
        memcpy(out->app, json_string_value(app), json_string_length(app));
    } else {
        if (!json_is_true(reboot)) {
            snprintf(err, errlen, "\"reboot\" must be true");
            goto out;
        }
        out->kind = KOS__CMD_REBOOT;
    }
    st = KOS_STATUS_OK;
out:
    json_decref(j);
    return st;
}

kos_status_t kos__req_shell(const char *body, size_t len, struct kos__req_shell *out, char *err,
                            size_t errlen)
{
    static const char *const known[] = {"line"};
    json_t *j, *line;
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;

    memset(out, 0, sizeof(*out));
    if (!(j = load_object(body, len, err, errlen)))
        return st;
    if (!only_known(j, known, 1, "a shell line is {\"line\": LINE}", err, errlen))
        goto out;
    line = json_object_get(j, "line");
    if (!line || !json_is_string(line)) {
        snprintf(err, errlen, "\"line\" must be a string: one command line for the device");
        goto out;
    }
    if (json_string_length(line) > KOS__SRV_SHELL_LINE_MAX) {
        snprintf(err, errlen, "\"line\" is %zu bytes long; at most %u", json_string_length(line),
                 KOS__SRV_SHELL_LINE_MAX);
        goto out;
    }
    out->len = json_string_length(line);
    memcpy(out->line, json_string_value(line), out->len);
    st = KOS_STATUS_OK;
out:
    json_decref(j);
    return st;
}

kos_status_t kos__req_debug(const char *body, size_t len, char app[64], bool *gdb, char *err,
                            size_t errlen)
{
    static const char *const known[] = {"app", "gdb"};
    json_t *j, *a, *g;
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;

    app[0] = '\0';
    *gdb = false;
    if (!(j = load_object(body, len, err, errlen)))
        return st;
    if (!only_known(j, known, 2,
                    "a debug session is {\"app\": APP} or {\"app\": APP, \"gdb\": true}", err,
                    errlen))
        goto out;
    g = json_object_get(j, "gdb");
    if (g && !json_is_boolean(g)) {
        snprintf(err, errlen, "\"gdb\" must be true or false");
        goto out;
    }
    *gdb = g && json_is_true(g);
    a = json_object_get(j, "app");
    if (!a || !json_is_string(a) || !kos__name_valid(json_string_value(a), json_string_length(a))) {
        snprintf(err, errlen,
                 "\"app\" must be an app's name (1 to 63 characters of letters, digits, '_', "
                 "'.' and '-'): the app to debug, marked debug: true in its manifest");
        goto out;
    }
    memcpy(app, json_string_value(a), json_string_length(a) + 1);
    st = KOS_STATUS_OK;
out:
    json_decref(j);
    return st;
}

/* One "key=value" of a query: calls back for each, in order. The values
 * here are numbers and ids: only [A-Za-z0-9] is taken, unescaped. */
typedef bool (*param_fn)(void *arg, const char *key, size_t klen, const char *val, size_t vlen,
                         char *err, size_t errlen);

static kos_status_t each_param(const char *query, param_fn fn, void *arg, char *err, size_t errlen)
{
    char q[4 * QUOTE_MAX + 8];
    const char *p = query ? query : "";
    size_t total = strlen(p);

    if (total > 1024) {
        snprintf(err, errlen, "the query string is %zu bytes long; at most 1024", total);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    while (*p) {
        size_t n = strcspn(p, "&"), klen = strcspn(p, "=&");
        const char *v = p + klen + 1;
        size_t vlen = klen < n ? n - klen - 1 : 0;

        if (klen == n) {
            snprintf(err, errlen, "the query parameter \"%s\" has no value (NAME=VALUE)",
                     quote(q, sizeof(q), p, n));
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        for (size_t i = 0; i < vlen; i++) {
            char c = v[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
                snprintf(err, errlen, "the query parameter \"%s\" has a malformed value",
                         quote(q, sizeof(q), p, klen));
                return KOS_STATUS_INVALID_ARGUMENT;
            }
        }
        if (!fn(arg, p, klen, v, vlen, err, errlen))
            return KOS_STATUS_INVALID_ARGUMENT;
        p += n;
        if (*p == '&')
            p++;
    }
    return KOS_STATUS_OK;
}

/* A whole decimal number from min to max in v[0..len). */
static bool number(const char *v, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;

    if (len == 0 || len > 20 || (len > 1 && v[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x < min || x > max)
        return false;
    *out = x;
    return true;
}

/* A page of records: the logs' or the traces'. */
struct logs_q {
    uint64_t after;
    unsigned limit;
    bool seen_after, seen_limit;
    unsigned max;     /* the largest limit */
    const char *what; /* "logs", "traces" */
};

static bool logs_param(void *arg, const char *key, size_t klen, const char *val, size_t vlen,
                       char *err, size_t errlen)
{
    struct logs_q *q = arg;
    char quoted[4 * QUOTE_MAX + 8];
    uint64_t x;

    if (klen == 5 && memcmp(key, "after", 5) == 0) {
        if (q->seen_after || !number(val, vlen, 0, INT64_MAX, &x)) {
            snprintf(err, errlen, "\"after\" takes one record number (0 or more)");
            return false;
        }
        q->after = x;
        q->seen_after = true;
        return true;
    }
    if (klen == 5 && memcmp(key, "limit", 5) == 0) {
        if (q->seen_limit || !number(val, vlen, 1, q->max, &x)) {
            snprintf(err, errlen, "\"limit\" takes one number from 1 to %u", q->max);
            return false;
        }
        q->limit = (unsigned)x;
        q->seen_limit = true;
        return true;
    }
    snprintf(err, errlen, "unknown query parameter \"%s\": the %s take after=SEQ and limit=N",
             quote(quoted, sizeof(quoted), key, klen), q->what);
    return false;
}

/* A page query of `what` (the logs, the traces): after=SEQ and limit=N. */
static kos_status_t page_query(const char *query, unsigned def, unsigned max, const char *what,
                               uint64_t *after, unsigned *limit, char *err, size_t errlen)
{
    struct logs_q q = {0, def, false, false, max, what};
    kos_status_t st = each_param(query, logs_param, &q, err, errlen);

    if (st)
        return st;
    *after = q.after;
    *limit = q.limit;
    return KOS_STATUS_OK;
}

kos_status_t kos__req_logs_query(const char *query, uint64_t *after, unsigned *limit, char *err,
                                 size_t errlen)
{
    return page_query(query, KOS__SRV_LOGS_LIMIT_DEFAULT, KOS__SRV_LOGS_LIMIT_MAX, "logs", after,
                      limit, err, errlen);
}

kos_status_t kos__req_traces_query(const char *query, uint64_t *after, unsigned *limit, char *err,
                                   size_t errlen)
{
    return page_query(query, KOS__SRV_TRACES_LIMIT_DEFAULT, KOS__SRV_TRACES_LIMIT_MAX, "traces",
                      after, limit, err, errlen);
}

static bool events_param(void *arg, const char *key, size_t klen, const char *val, size_t vlen,
                         char *err, size_t errlen)
{
    char *device = arg, quoted[4 * QUOTE_MAX + 8];

    if (klen == 6 && memcmp(key, "device", 6) == 0) {
        if (device[0] || !kos__req_is_device_id(val, vlen)) {
            snprintf(err, errlen, "\"device\" takes one device id (64 lowercase hex digits)");
            return false;
        }
        memcpy(device, val, vlen);
        device[vlen] = '\0';
        return true;
    }
    snprintf(err, errlen, "unknown query parameter \"%s\": the events take device=ID",
             quote(quoted, sizeof(quoted), key, klen));
    return false;
}

kos_status_t kos__req_events_query(const char *query, char device[65], char *err, size_t errlen)
{
    device[0] = '\0';
    return each_param(query, events_param, device, err, errlen);
}

bool kos__req_is_device_id(const char *s, size_t len)
{
    if (len != 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool kos__req_secret_ok(const char *given, size_t len, const char *secret)
{
    size_t n = strlen(secret);

    return len == n && n > 0 && CRYPTO_memcmp(given, secret, n) == 0;
}

bool kos__req_bearer_ok(const char *authorization, const char *secret)
{
    const char *p = authorization;

    if (!p || strncasecmp(p, "Bearer ", 7) != 0)
        return false;
    p += 7;
    while (*p == ' ')
        p++;
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    return kos__req_secret_ok(p, len, secret);
}

bool kos__req_cookie_ok(const char *cookie, const char *secret)
{
    static const char name[] = "kos_session=";
    const char *p = cookie;
    bool ok = false;

    while (p && *p) {
        size_t n;

        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        n = strcspn(p, ";");
        /* Every kos_session is looked at, so the time taken does not say
         * which one matched. */
        if (n >= sizeof(name) - 1 && memcmp(p, name, sizeof(name) - 1) == 0) {
            size_t vlen = n - (sizeof(name) - 1);
            while (vlen && (p[sizeof(name) - 1 + vlen - 1] == ' '))
                vlen--;
            ok |= kos__req_secret_ok(p + sizeof(name) - 1, vlen, secret);
        }
        p += n;
    }
    return ok;
}
