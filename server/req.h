/*
 * req.h - reading what an API client sends kos-server: request bodies
 * (JSON), query strings, the secret in a header or a cookie, device ids in
 * paths. Pure functions of their input, so they are tested and fuzzed
 * alone (tests/fuzz/fuzz_studio.c).
 *
 * Every reader refuses what it does not fully understand (an unknown field,
 * a duplicate key, a value of the wrong type or out of range) and says in
 * err, in one sentence an API client can show, what was wrong; text the
 * client sent is quoted escaped and cut short. None blocks or keeps
 * anything.
 */
#ifndef KOS_SERVER_REQ_H
#define KOS_SERVER_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#include "ca.h"
#include "srv_limits.h"

/* POST /api/devices: {"public_key": PEM, "name": NAME}. */
struct kos__req_register {
    uint8_t pub[KOS__ED25519_KEY_LEN];
    char name[KOS__SRV_NAME_MAX + 1]; /* "" when the body gave none */
};

/* The name rule: 1 to KOS__SRV_NAME_MAX bytes of UTF-8 (jansson checked
 * that), no control character (C0, DEL, C1), no line or paragraph
 * separator, not only spaces. */
bool kos__req_name_valid(const char *s, size_t len);

kos_status_t kos__req_register(const char *body, size_t len, struct kos__req_register *out,
                               char *err, size_t errlen) __attribute__((warn_unused_result));

/* POST /api/devices/ID/approve: no body, or {"name": NAME}; name is ""
 * when none is given. */
kos_status_t kos__req_approve(const char *body, size_t len, char name[KOS__SRV_NAME_MAX + 1],
                              char *err, size_t errlen) __attribute__((warn_unused_result));

/* POST /api/devices/ID/commands: {"restart_app": APP}, {"reboot": true}
 * or {"trace": {"app": APP, "on": BOOL}}. */
enum kos__req_cmd { KOS__CMD_RESTART_APP, KOS__CMD_REBOOT, KOS__CMD_TRACE };

struct kos__req_command {
    enum kos__req_cmd kind;
    char app[64]; /* restart_app, trace: a KOS name (kos__name_valid) */
    bool on;      /* trace */
};

kos_status_t kos__req_command(const char *body, size_t len, struct kos__req_command *out, char *err,
                              size_t errlen) __attribute__((warn_unused_result));

/* POST /api/devices/ID/shell: {"line": LINE}, a string of at most
 * KOS__SRV_SHELL_LINE_MAX bytes (JSON makes it valid UTF-8 without NUL;
 * what else it may hold is the device's to judge). On success out->line
 * holds it, NUL-terminated, out->len bytes. */
struct kos__req_shell {
    char line[KOS__SRV_SHELL_LINE_MAX + 1];
    size_t len;
};

kos_status_t kos__req_shell(const char *body, size_t len, struct kos__req_shell *out, char *err,
                            size_t errlen) __attribute__((warn_unused_result));

/* POST /api/devices/ID/debug: {"app": APP[, "gdb": BOOL]}, an app's name
 * (kos__name_valid). On success app holds it, NUL-terminated, and *gdb
 * whether the session's port takes gdb at once (default false). */
kos_status_t kos__req_debug(const char *body, size_t len, char app[64], bool *gdb, char *err,
                            size_t errlen) __attribute__((warn_unused_result));

/* GET /api/devices/ID/logs?after=SEQ&limit=N: query is the part after '?'
 * (NULL or "" for none). after defaults to 0, limit to
 * KOS__SRV_LOGS_LIMIT_DEFAULT and is 1 to KOS__SRV_LOGS_LIMIT_MAX. */
kos_status_t kos__req_logs_query(const char *query, uint64_t *after, unsigned *limit, char *err,
                                 size_t errlen) __attribute__((warn_unused_result));

/* GET /api/devices/ID/traces?after=SEQ&limit=N: as the logs, with
 * KOS__SRV_TRACES_LIMIT_DEFAULT and KOS__SRV_TRACES_LIMIT_MAX. */
kos_status_t kos__req_traces_query(const char *query, uint64_t *after, unsigned *limit, char *err,
                                   size_t errlen) __attribute__((warn_unused_result));

/* GET /api/events?device=ID: device is "" when the query names none. */
kos_status_t kos__req_events_query(const char *query, char device[65], char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* True if s[0..len) is a device id: 64 lowercase hex digits. */
bool kos__req_is_device_id(const char *s, size_t len);

/* True if header value `authorization` is "Bearer SECRET" for `secret`
 * (the scheme in any case), compared in constant time. NULL gives false. */
bool kos__req_bearer_ok(const char *authorization, const char *secret);

/* True if Cookie header value `cookie` holds kos_session=SECRET for
 * `secret`, compared in constant time. NULL gives false. */
bool kos__req_cookie_ok(const char *cookie, const char *secret);

/* True if `given` (a query's secret, any length) is `secret`, compared in
 * constant time. */
bool kos__req_secret_ok(const char *given, size_t len, const char *secret);

#endif
