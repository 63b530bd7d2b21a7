/*
 * studio.c - finding and asking a local Studio server (studio.h), with
 * libevent's HTTP client on a loop of its own for each request.
 *
 * What stays true: a request goes only to the loopback address the
 * runtime file names (runtime.c refuses any other), carries the secret
 * only in its Authorization header, and an answer is read up to 4 MiB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "studio.h"
#include "text_int.h"

#define ANSWER_MAX (4 * 1024 * 1024)

struct call {
    int status;
    bool failed;
    struct evbuffer *body;
};

static void on_answer(struct evhttp_request *req, void *arg)
{
    struct call *c = arg;

    if (!req || evhttp_request_get_response_code(req) == 0) {
        c->failed = true;
        return;
    }
    c->status = evhttp_request_get_response_code(req);
    evbuffer_add_buffer(c->body, evhttp_request_get_input_buffer(req));
}

kos_status_t kos__tool_studio_call(const struct kos__studio_rt *rt, const char *method,
                                   const char *path, const char *body, int timeout_s, int *status,
                                   json_t **resp, char *err, size_t errlen)
{
    return kos__tool_studio_send(rt, method, path, body ? "application/json" : NULL, body,
                                 body ? strlen(body) : 0, timeout_s, status, resp, err, errlen);
}

kos_status_t kos__tool_studio_send(const struct kos__studio_rt *rt, const char *method,
                                   const char *path, const char *type, const void *body,
                                   size_t body_len, int timeout_s, int *status, json_t **resp,
                                   char *err, size_t errlen)
{
    struct call c = {0, false, evbuffer_new()};
    struct event_base *base = event_base_new();
    struct evhttp_connection *conn = NULL;
    struct evhttp_request *req;
    struct evkeyvalq *h;
    char host[64], auth[16 + KOS__STUDIO_SECRET_HEX];
    kos_status_t st = KOS_STATUS_NO_MEMORY;
    bool post = strcmp(method, "POST") == 0;
    size_t len;

    *resp = NULL;
    *status = 0;
    if (!base || !c.body)
        goto out;
    conn = evhttp_connection_base_new(base, NULL, rt->api_host, (ev_uint16_t)rt->api_port);
    if (!conn)
        goto out;
    evhttp_connection_set_timeout(conn, timeout_s);
    evhttp_connection_set_retries(conn, 0);
    evhttp_connection_set_max_body_size(conn, ANSWER_MAX);
    req = evhttp_request_new(on_answer, &c);
    if (!req)
        goto out;
    h = evhttp_request_get_output_headers(req);
    snprintf(host, sizeof(host), "%s:%u", rt->api_host, rt->api_port);
    snprintf(auth, sizeof(auth), "Bearer %s", rt->secret);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "Authorization", auth);
    evhttp_add_header(h, "Connection", "close");
    if (type) {
        evhttp_add_header(h, "Content-Type", type);
        if (evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len) != 0)
            goto out;
    }
    if (evhttp_make_request(conn, req, post ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, path) != 0) {
        snprintf(err, errlen, "cannot send a request to kos-server at %s", rt->url);
        st = KOS_STATUS_IO;
        goto out;
    }
    event_base_dispatch(base);
    if (c.failed) {
        snprintf(err, errlen,
                 "kos-server at %s does not answer (refused, or no answer within %d s)", rt->url,
                 timeout_s);
        st = KOS_STATUS_UNAVAILABLE;
        goto out;
    }
    len = evbuffer_get_length(c.body);
    if (len) {
        const char *text = (const char *)evbuffer_pullup(c.body, -1);
        *resp = text ? json_loadb(text, len, 0, NULL) : NULL;
    }
    *status = c.status;
    st = KOS_STATUS_OK;
out:
    if (st == KOS_STATUS_NO_MEMORY)
        snprintf(err, errlen, "out of memory");
    if (conn)
        evhttp_connection_free(conn);
    if (base)
        event_base_free(base);
    if (c.body)
        evbuffer_free(c.body);
    return st;
}

const char *kos__tool_studio_error(const json_t *resp)
{
    const char *e = json_string_value(json_object_get(resp, "error"));

    return e ? e : "kos-server refused the request without saying why";
}

kos_status_t kos__tool_studio_find(const char *data, struct kos__tool_studio *s, char *err,
                                   size_t errlen)
{
    char why[512];
    kos_status_t st;
    json_t *resp = NULL;
    int status;

    memset(s, 0, sizeof(*s));
    st = kos__studio_data_dir(data, s->dir, sizeof(s->dir), err, errlen);
    if (st)
        return st;
    st = kos__studio_rt_read(s->dir, &s->rt, why, sizeof(why));
    if (st == KOS_STATUS_NOT_FOUND) {
        snprintf(err, errlen,
                 "Studio is not running (no runtime file in %s): start it with kos-tool "
                 "server.start",
                 s->dir);
        return st;
    }
    if (st) {
        snprintf(err, errlen, "%s", why);
        return st;
    }
    s->has_rt = true;
    s->alive = kos__studio_pid_is_server(s->rt.pid);
    if (!s->alive) {
        snprintf(err, errlen,
                 "Studio is not running (its runtime file in %s names pid %ld, which is no "
                 "kos-server): start it with kos-tool server.start",
                 s->dir, (long)s->rt.pid);
        return KOS_STATUS_NOT_FOUND;
    }
    st = kos__tool_studio_call(&s->rt, "GET", "/api/devices", NULL, 5, &status, &resp, why,
                               sizeof(why));
    json_decref(resp);
    if (st || status != 200) {
        snprintf(err, errlen, "Studio (pid %ld) runs but does not answer: %s", (long)s->rt.pid,
                 st ? why : "its API refused the secret in its own runtime file");
        return KOS_STATUS_UNAVAILABLE;
    }
    return KOS_STATUS_OK;
}

/* ---- naming a device ---- */

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return n > 0;
}

/* text, escaped and cut to fit buf (cap bytes), NUL-terminated. */
const char *kos__tool_shown(char *buf, size_t cap, const char *text)
{
    size_t n = kos__text_escape(buf, cap - 1, text, strlen(text), NULL);

    buf[n] = '\0';
    return buf;
}

/* Prints text escaped, then a newline, on f. */
void kos__tool_put_escaped(FILE *f, const char *text, size_t len)
{
    char buf[4096];
    size_t used;

    while (len > 0) {
        size_t n = kos__text_escape(buf, sizeof(buf), text, len, &used);
        if (used == 0)
            break;
        fwrite(buf, 1, n, f);
        text += used;
        len -= used;
    }
    fputc('\n', f);
}

/* Finds the device `want` names among Studio's: its id, a hex prefix of
 * it, or its name. Fills id and name and returns its state, or NULL with
 * the reason printed. */
static const char *find_device(const char *cmd, const struct kos__tool_studio *s, const char *want,
                               char id[65], char name[256])
{
    static char state[32];
    json_t *resp = NULL, *d, *hit = NULL;
    size_t i, len = strlen(want), n_hits = 0;
    char err[1024];
    int status;
    int pass;

    if (kos__tool_studio_call(&s->rt, "GET", "/api/devices", NULL, 10, &status, &resp, err,
                              sizeof(err)) != KOS_STATUS_OK ||
        status != 200) {
        fprintf(stderr, "kos-tool %s: Studio does not answer: %s\n", cmd,
                status ? kos__tool_studio_error(resp) : err);
        json_decref(resp);
        return NULL;
    }
    /* By id, then by name, then by prefix: the first that names any. */
    for (pass = 0; pass < 3 && n_hits == 0; pass++) {
        json_array_foreach(json_object_get(resp, "devices"), i, d)
        {
            const char *did = json_string_value(json_object_get(d, "id"));
            const char *dname = json_string_value(json_object_get(d, "name"));
            const char *dstate = json_string_value(json_object_get(d, "state"));
            /* A pending device is no one's yet, and names itself: never
             * taken for a registered one. */
            bool pending = dstate && !strcmp(dstate, "pending");
            bool match = pass == 0   ? did && !strcmp(did, want)
                         : pass == 1 ? dname && !strcmp(dname, want)
                                     : did && len >= KOS__TOOL_DEVICE_PREFIX_MIN &&
                                           lower_hex(want, len) && !strncmp(did, want, len);
            if (!match || pending)
                continue;
            if (n_hits++ == 0)
                hit = d;
        }
    }
    if (n_hits == 0) {
        char q[300];
        fprintf(stderr,
                "kos-tool %s: Studio knows no device '%s': give a device's id, a prefix of it (at "
                "least %u hex digits) or its name (Studio's web UI lists them)\n",
                cmd, kos__tool_shown(q, sizeof(q), want), KOS__TOOL_DEVICE_PREFIX_MIN);
        json_decref(resp);
        return NULL;
    }
    if (n_hits > 1) {
        fprintf(stderr, "kos-tool %s: '%s' names %zu devices; give more of the id:\n", cmd,
                pass == 2 ? "the name" : "the prefix", n_hits);
        json_array_foreach(json_object_get(resp, "devices"), i, d)
        {
            const char *did = json_string_value(json_object_get(d, "id"));
            const char *dname = json_string_value(json_object_get(d, "name"));
            const char *dstate = json_string_value(json_object_get(d, "state"));
            if (!did || !dname || (dstate && !strcmp(dstate, "pending")) ||
                (strcmp(dname, want) != 0 && strncmp(did, want, len) != 0))
                continue;
            fprintf(stderr, "  %s  ", did);
            kos__tool_put_escaped(stderr, dname, strlen(dname));
        }
        json_decref(resp);
        return NULL;
    }
    snprintf(id, 65, "%s", json_string_value(json_object_get(hit, "id")));
    snprintf(name, 256, "%s", json_string_value(json_object_get(hit, "name")));
    snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(hit, "state")));
    json_decref(resp);
    return state;
}

/* Finds the Studio (data folder `data`, NULL: the default) and the device
 * `want` names among its own, which must be online: fills *s, its id and
 * its name escaped for printing (1024 bytes), or prints why not and
 * returns false. */
bool kos__tool_studio_online_device(const char *cmd, const char *data, const char *want,
                                    struct kos__tool_studio *s, char id[65], char *name_shown)
{
    char err[1024], name[256];
    const char *state;

    if (kos__tool_studio_find(data, s, err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: %s\n", cmd, err);
        return false;
    }
    if (!(state = find_device(cmd, s, want, id, name)))
        return false;
    kos__tool_shown(name_shown, 1024, name);
    if (strcmp(state, "online") != 0) {
        fprintf(stderr, "kos-tool %s: device '%s' (%.16s) is %s%s\n", cmd, name_shown, id, state,
                !strcmp(state, "revoked") ? ": Studio refuses it"
                                          : ", not online: boot it with its key bundle (kos-tool "
                                            "run IMAGE --keys DIR) and try again");
        return false;
    }
    return true;
}
