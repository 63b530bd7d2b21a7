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
    if (body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
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
