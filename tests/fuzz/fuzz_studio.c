/*
 * fuzz_studio.c - libFuzzer harness for what kos-server reads from
 * outside: API request bodies, query strings and the headers that carry
 * the secret (server/req.c), devices' admin and logs messages as the device
 * port hands them to the server (server/devices.c, on a fresh in-memory
 * database per input), and the runtime file kos-tool reads
 * (server/runtime.c).
 *
 * The first input byte picks what the rest is (sel % 8):
 *   0  a registration body, through kos__req_register(), and as an
 *      approval body, kos__req_approve();
 *   1  a command body, through kos__req_command();
 *   2  a logs query string (to the first NUL), kos__req_logs_query();
 *   3  an events query string, kos__req_events_query();
 *   4  an Authorization header and a Cookie header (split at the first
 *      NUL), kos__req_bearer_ok() and kos__req_cookie_ok();
 *   5  an AdminUp on the admin channel of a registered, online device,
 *      through the data hook;
 *   6  a LogBatch on its logs channel, likewise;
 *   7  a runtime file, kos__studio_rt_parse().
 * A first byte from 0xf0 up picks instead (its value % 2):
 *   0  a shell line body, through kos__req_shell();
 *   1  a ShellUp on the shell channel of an online device that has a line
 *      waiting for its answer (server/shell.c), through the data hook.
 *
 * The promises checked (req.h, server_int.h, store.h, runtime.h): a reader
 * that accepts fills its output within the documented ranges (a valid
 * name, an app name, a limit of 1-1000, a device id), one that refuses says
 * why in one NUL-terminated sentence of valid UTF-8 with no control
 * character; the secret is found only where it is; a device message is
 * either taken whole or refused with nothing stored and no event, the
 * device's link then ended on a later loop turn (never inside the hook);
 * every event's JSON dumps, and no string in it holds a control character
 * (device text is escaped); a Registered answer decodes and names the
 * device; a LogBatch taken stores exactly its records (up to the ring); an
 * accepted runtime file has a pid, a loopback URL and device address and a
 * 64-digit secret, and prints back to a file that parses the same; an
 * accepted shell body holds a line within KOS__SRV_SHELL_LINE_MAX; a
 * waiting shell line ends exactly once (its answer, or the server
 * stopping), an answer's JSON holds only escaped text within
 * KOS__SRV_SHELL_ANSWER_MAX, and a refused ShellUp ends the link.
 *
 * kos__devport_send() and kos__devport_kick() are this file's: they record
 * what the server asks of its device port.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin.pb-c.h"
#include "boot_int.h"
#include "fuzz.h"
#include "logs.pb-c.h"
#include "req.h"
#include "runtime.h"
#include "server_int.h"
#include "shell.h"
#include "shell.pb-c.h"
#include "store.h"

enum {
    SEL_REGISTER,
    SEL_COMMAND,
    SEL_LOGS_Q,
    SEL_EVENTS_Q,
    SEL_AUTH,
    SEL_ADMIN,
    SEL_LOGS,
    SEL_RT,
    SEL_SHELL_BODY,
    SEL_SHELL_UP,
};

static const char secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char dev_id[] = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

static struct {
    bool ready;
    struct event_base *base;
    size_t sent, kicked, events;
    bool in_hook;
    int shell_calls, shell_code; /* the waiting line's ends */
} fz;

kos_status_t kos__devport_send(struct kos__devport *dp, const char *id, uint32_t ch, const void *p,
                               size_t n)
{
    Kos__Admin__AdminDown *down;

    (void)dp;
    if (ch == 4 && strcmp(id, dev_id) == 0) {
        Kos__Shell__ShellDown *sd = kos__shell__shell_down__unpack(NULL, n, p);
        if (!sd)
            kos_fuzz_fail("the server sent a ShellDown that does not unpack");
        kos__shell__shell_down__free_unpacked(sd, NULL);
        return KOS_STATUS_OK;
    }
    if (ch != 1 || strcmp(id, dev_id) != 0)
        kos_fuzz_fail("sent on channel %u to %s", ch, id);
    down = kos__admin__admin_down__unpack(NULL, n, p);
    if (!down || down->body_case != KOS__ADMIN__ADMIN_DOWN__BODY_REGISTERED ||
        strcmp(down->registered->device_id, dev_id) != 0)
        kos_fuzz_fail("the server sent something but a Registered naming the device");
    kos__admin__admin_down__free_unpacked(down, NULL);
    fz.sent++;
    return KOS_STATUS_OK;
}

void kos__devport_kick(struct kos__devport *dp, const char *id)
{
    (void)dp;
    if (fz.in_hook)
        kos_fuzz_fail("a device's link ended inside the port's callback");
    if (strcmp(id, dev_id) != 0)
        kos_fuzz_fail("kicked %s", id);
    fz.kicked++;
}

/* No string anywhere in j holds a control character but tab. */
static void check_strings(const json_t *j)
{
    const char *key;
    json_t *v;
    size_t i;

    if (json_is_string(j)) {
        const unsigned char *s = (const unsigned char *)json_string_value(j);
        for (i = 0; i < json_string_length(j); i++)
            if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
                kos_fuzz_fail("a control character 0x%02x in an event's text", s[i]);
    } else if (json_is_object(j)) {
        json_object_foreach((json_t *)j, key, v) check_strings(v);
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) check_strings(v);
    }
}

static void tap(void *arg, const char *type, const char *device, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);

    (void)arg;
    if (!text || strcmp(device, dev_id) != 0)
        kos_fuzz_fail("an event (%s) that does not dump, or about another device", type);
    free(text);
    check_strings(data);
    fz.events++;
}

/* err is one sentence: NUL-terminated, valid UTF-8, no control character. */
static void check_err(const char *err, size_t cap)
{
    json_t *j;

    if (!memchr(err, '\0', cap) || !err[0])
        kos_fuzz_fail("a refusal without a reason");
    j = json_string(err);
    if (!j)
        kos_fuzz_fail("a reason that is not valid UTF-8: %s", err);
    check_strings(j);
    json_decref(j);
}

/* A NUL-terminated copy of data[0..n). */
static char *text_of(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);

    if (!s)
        abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* The end of the shell line waiting in fuzz_device(). */
static void shell_done(void *arg, int code, json_t *answer)
{
    (void)arg;
    fz.shell_calls++;
    fz.shell_code = code;
    if (!answer)
        kos_fuzz_fail("a shell line ended without an answer");
    check_strings(answer);
    if (code == 200) {
        json_t *v;
        size_t i, bytes = 0;
        json_array_foreach(json_object_get(answer, "lines"), i, v) bytes +=
            json_string_length(v) + 1;
        if (bytes > 4 * KOS__SRV_SHELL_ANSWER_MAX) /* escaping at most quadruples */
            kos_fuzz_fail("a shell answer of %zu bytes", bytes);
        if (!json_is_integer(json_object_get(answer, "status")))
            kos_fuzz_fail("a shell answer without a status");
    }
    json_decref(answer);
}

static void fuzz_req(unsigned sel, const uint8_t *data, size_t n)
{
    char err[512], dev[65], *s = text_of(data, n), *second;
    struct kos__req_register r;
    struct kos__req_command c;
    static struct kos__req_shell sl;
    uint64_t after;
    unsigned limit;

    switch (sel) {
    case SEL_REGISTER:
        if (kos__req_register(s, n, &r, err, sizeof(err)) == KOS_STATUS_OK) {
            if (r.name[0] && !kos__req_name_valid(r.name, strlen(r.name)))
                kos_fuzz_fail("an accepted name that is not valid: %s", r.name);
        } else {
            check_err(err, sizeof(err));
        }
        if (kos__req_approve(s, n, r.name, err, sizeof(err)) == KOS_STATUS_OK) {
            if (r.name[0] && !kos__req_name_valid(r.name, strlen(r.name)))
                kos_fuzz_fail("an approval's name that is not valid: %s", r.name);
        } else {
            check_err(err, sizeof(err));
        }
        break;
    case SEL_COMMAND:
        if (kos__req_command(s, n, &c, err, sizeof(err)) == KOS_STATUS_OK) {
            if (c.kind == KOS__CMD_RESTART_APP && !kos__name_valid(c.app, strlen(c.app)))
                kos_fuzz_fail("an accepted app name that is not one: %s", c.app);
        } else {
            check_err(err, sizeof(err));
        }
        break;
    case SEL_LOGS_Q:
        if (kos__req_logs_query(s, &after, &limit, err, sizeof(err)) == KOS_STATUS_OK) {
            if (limit < 1 || limit > KOS__SRV_LOGS_LIMIT_MAX || after > INT64_MAX)
                kos_fuzz_fail("an accepted query out of range: after %llu limit %u",
                              (unsigned long long)after, limit);
        } else {
            check_err(err, sizeof(err));
        }
        break;
    case SEL_EVENTS_Q:
        if (kos__req_events_query(s, dev, err, sizeof(err)) == KOS_STATUS_OK) {
            if (dev[0] && !kos__req_is_device_id(dev, strlen(dev)))
                kos_fuzz_fail("an accepted device that is not an id: %s", dev);
        } else {
            check_err(err, sizeof(err));
        }
        break;
    case SEL_SHELL_BODY:
        if (kos__req_shell(s, n, &sl, err, sizeof(err)) == KOS_STATUS_OK) {
            if (sl.len > KOS__SRV_SHELL_LINE_MAX || sl.line[sl.len] != '\0')
                kos_fuzz_fail("an accepted shell line of %zu bytes", sl.len);
        } else {
            check_err(err, sizeof(err));
        }
        break;
    case SEL_AUTH:
        second = s + strlen(s) + (strlen(s) < n ? 1 : 0);
        if (kos__req_bearer_ok(s, secret) && !strstr(s, secret))
            kos_fuzz_fail("a Bearer header without the secret was taken: %s", s);
        if (kos__req_cookie_ok(second, secret)) {
            char want[80];
            snprintf(want, sizeof(want), "kos_session=%s", secret);
            if (!strstr(second, want))
                kos_fuzz_fail("a Cookie header without the session was taken: %s", second);
        }
        break;
    }
    free(s);
}

static void fuzz_device(unsigned sel, const uint8_t *data, size_t n)
{
    static const uint8_t pub[32] = {0x5a};
    struct kos__srv srv;
    struct kos__devport_hooks hooks;
    char err[512];
    json_t *before, *after, *logs;
    size_t stored_before, stored_after;

    memset(&srv, 0, sizeof(srv));
    srv.base = fz.base;
    srv.devport = (struct kos__devport *)&fz; /* never looked into */
    srv.tap = tap;
    if (kos__store_open(":memory:", NULL, &srv.store, err, sizeof(err)) != KOS_STATUS_OK ||
        kos__store_device_add(srv.store, dev_id, "dev", pub, "CERT", err, sizeof(err)) !=
            KOS_STATUS_OK)
        kos_fuzz_fail("cannot set up the database: %s", err);
    hooks = kos__devices_hooks(&srv);
    hooks.online(hooks.arg, dev_id);
    fz.sent = fz.kicked = fz.events = 0;
    fz.shell_calls = 0;
    if (sel == SEL_SHELL_UP) {
        uint64_t lid;
        if (!(srv.shell = kos__shell_create(fz.base, 60000)) ||
            kos__shell_send(&srv, dev_id, "apps", 4, shell_done, NULL, &lid, err, sizeof(err)) !=
                KOS_STATUS_OK ||
            lid != 1)
            kos_fuzz_fail("cannot send a shell line: %s", err);
    }
    before = kos__store_device_json(srv.store, dev_id, true);
    logs = kos__store_logs_json(srv.store, dev_id, 0, KOS__SRV_LOGS_LIMIT_MAX);
    stored_before = json_array_size(json_object_get(logs, "records"));
    json_decref(logs);

    fz.in_hook = true;
    hooks.data(hooks.arg, dev_id, sel == SEL_ADMIN ? 1 : sel == SEL_LOGS ? 2 : 4, data, n);
    fz.in_hook = false;
    size_t events = fz.events; /* since the online event */
    event_base_loop(fz.base, EVLOOP_NONBLOCK);

    after = kos__store_device_json(srv.store, dev_id, true);
    logs = kos__store_logs_json(srv.store, dev_id, 0, KOS__SRV_LOGS_LIMIT_MAX);
    stored_after = json_array_size(json_object_get(logs, "records"));
    json_decref(logs);
    if (fz.kicked) {
        /* Refused: nothing stored, nothing said, nothing sent. */
        json_object_del(before, "last_seen");
        json_object_del(after, "last_seen");
        if (!json_equal(before, after) || stored_after != stored_before || events || fz.sent)
            kos_fuzz_fail("a refused message changed something (%zu events, %zu sent)", events,
                          fz.sent);
    } else if (sel == SEL_LOGS) {
        Kos__Logs__LogBatch *b = kos__logs__log_batch__unpack(NULL, n, data);
        size_t want = b ? b->n_records : 0;
        if (want > KOS__SRV_LOG_RING)
            want = KOS__SRV_LOG_RING;
        if (b && stored_after - stored_before != want && want <= KOS__SRV_LOGS_LIMIT_MAX)
            kos_fuzz_fail("a LogBatch of %zu records stored %zu", b->n_records,
                          stored_after - stored_before);
        kos__logs__log_batch__free_unpacked(b, NULL);
    }
    if (sel == SEL_SHELL_UP) {
        int answered = fz.shell_calls;
        if (answered > 1 || (answered && fz.kicked))
            kos_fuzz_fail("a shell line ended %d times (kicked %zu)", answered, fz.kicked);
        kos__shell_destroy(srv.shell);
        if (fz.shell_calls != 1 || (!answered && fz.shell_code != 503))
            kos_fuzz_fail("a shell line ended %d times", fz.shell_calls);
    }
    json_decref(before);
    json_decref(after);
    if (srv.kick_ev)
        event_free(srv.kick_ev);
    kos__store_close(srv.store);
}

static void fuzz_rt(const uint8_t *data, size_t n)
{
    struct kos__studio_rt rt, again;
    char err[512], text[512];
    int len;

    if (kos__studio_rt_parse((const char *)data, n, &rt, err, sizeof(err)) != KOS_STATUS_OK) {
        check_err(err, sizeof(err));
        return;
    }
    if (rt.pid <= 0 || strlen(rt.secret) != KOS__STUDIO_SECRET_HEX ||
        strncmp(rt.url, "http://127.", 11) != 0 || strncmp(rt.device, "127.", 4) != 0 ||
        rt.api_port == 0 || rt.api_port > 65535)
        kos_fuzz_fail("an accepted runtime file with a field out of range");
    len = snprintf(text, sizeof(text), "pid %ld\nurl %s\ndevice %s\nsecret %s\n", (long)rt.pid,
                   rt.url, rt.device, rt.secret);
    if (kos__studio_rt_parse(text, (size_t)len, &again, err, sizeof(err)) != KOS_STATUS_OK ||
        memcmp(&rt, &again, sizeof(rt)) != 0)
        kos_fuzz_fail("an accepted runtime file does not print back the same: %s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel;

    if (!fz.ready) {
        fz.base = event_base_new();
        if (!fz.base)
            abort();
        fz.ready = true;
    }
    if (size == 0)
        return 0;
    sel = data[0] >= 0xf0 ? (data[0] % 2 ? SEL_SHELL_UP : SEL_SHELL_BODY) : data[0] % 8u;
    data++;
    size--;
    if (sel <= SEL_AUTH || sel == SEL_SHELL_BODY)
        fuzz_req(sel, data, size);
    else if (sel == SEL_RT)
        fuzz_rt(data, size);
    else
        fuzz_device(sel, data, size);
    return 0;
}
