/*
 * api.c - kos-server's API port: the JSON API of docs/link.md ("The
 * server's API") and the web UI's files, on evhttp.
 *
 * What stays true, for every request, in this order:
 *  - a Host that is not this server's own address is refused (400): a
 *    page elsewhere cannot reach the API through a DNS name of its own;
 *  - without the secret (Authorization: Bearer, or the kos_session cookie
 *    that opening /?secret=SECRET sets) nothing is answered but 401;
 *  - a request that may change something (any method but GET and HEAD)
 *    from a browser page of another origin (its Origin, or Sec-Fetch-Site)
 *    is refused (403);
 *  - a body is read only up to KOS__SRV_BODY_MAX bytes, only as JSON, and
 *    only through req.h's readers, which say what was wrong (400, 413,
 *    415); nothing is changed by a refused request.
 * Every answer is JSON ({"error": "..."} for a refusal) under /api/, and
 * never cached; the UI's pages carry a Content-Security-Policy that allows
 * no script but the server's own files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ca.h"
#include "events.h"
#include "req.h"
#include "server_int.h"
#include "debug.h"
#include "shell.h"
#include "srv_json.h"
#include "srv_limits.h"
#include "store.h"
#include "ui.h"
#include "upgrades.h"

#define API_PREFIX     "/api/"
#define DEVICES_PREFIX "/api/devices/"

static const char *reason_of(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 303:
        return "See Other";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 507:
        return "Insufficient Storage";
    default:
        return "Internal Server Error";
    }
}

static void common_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
}

/* Sends `j` (taken) as the answer, code `code`. */
static void reply_json(struct evhttp_request *req, int code, json_t *j)
{
    struct evbuffer *buf = evbuffer_new();
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    if (!text) {
        code = 500;
        text = strdup("{\"error\":\"out of memory\"}");
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json; charset=utf-8");
    if (buf && text) {
        evbuffer_add(buf, text, strlen(text));
        evbuffer_add(buf, "\n", 1);
    }
    evhttp_send_reply(req, code, reason_of(code), buf);
    evbuffer_free(buf);
    free(text);
}

/* Refuses the request with `code` and a sentence saying why. */
static void reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char msg[1024];
    json_t *j;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    j = json_pack("{s:s}", "error", msg);
    reply_json(req, code, j ? j : json_pack("{s:s}", "error", "refused"));
}

/* A page's answer (not under /api/): text/html. */
static void reply_page(struct evhttp_request *req, int code, const char *type, const void *data,
                       size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *buf = evbuffer_new();

    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(
        h, "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'");
    if (buf)
        evbuffer_add_reference(buf, data, len, NULL, NULL);
    evhttp_send_reply(req, code, reason_of(code), buf);
    evbuffer_free(buf);
}

static const char no_secret_page[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>KOS Studio</title></head>\n"
    "<body><h1>KOS Studio</h1><p>This page needs the server's secret. Open the address that "
    "<code>kos-tool server.start</code> printed (<code>kos-tool server.status</code> prints "
    "it again): it holds the secret, which a new start of the server changes.</p></body>"
    "</html>\n";

/* ---- who may ask ---- */

/* True if header `value` is "HOST:PORT" for this server's address or
 * localhost, or, with `scheme`, "http://HOST:PORT". */
static bool is_own(const struct kos__srv *srv, const char *value, bool scheme)
{
    char a[64], b[64];

    if (!value)
        return false;
    snprintf(a, sizeof(a), "%s%s:%u", scheme ? "http://" : "", srv->address, srv->api_port);
    snprintf(b, sizeof(b), "%slocalhost:%u", scheme ? "http://" : "", srv->api_port);
    return strcmp(value, a) == 0 || strcmp(value, b) == 0;
}

static bool authorized(const struct kos__srv *srv, struct evkeyvalq *in)
{
    return kos__req_bearer_ok(evhttp_find_header(in, "Authorization"), srv->secret) ||
           kos__req_cookie_ok(evhttp_find_header(in, "Cookie"), srv->secret);
}

/* "/?secret=SECRET": sets the session cookie and sends the browser to "/"
 * without the secret in its address bar; a wrong secret gets 401. */
static void login(struct kos__srv *srv, struct evhttp_request *req, const char *query)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char cookie[128];

    if (strncmp(query, "secret=", 7) != 0 ||
        !kos__req_secret_ok(query + 7, strlen(query + 7), srv->secret)) {
        reply_page(req, 401, "text/html; charset=utf-8", no_secret_page,
                   sizeof(no_secret_page) - 1);
        return;
    }
    snprintf(cookie, sizeof(cookie), "kos_session=%s; Path=/; HttpOnly; SameSite=Strict",
             srv->secret);
    evhttp_add_header(h, "Set-Cookie", cookie);
    evhttp_add_header(h, "Location", "/");
    reply_page(req, 303, "text/html; charset=utf-8", "", 0);
}

/* ---- bodies ---- */

/* The request's body, NUL-terminated, as a new string (free), or NULL after
 * refusing it. */
static char *take_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t n = evbuffer_get_length(in);
    char *buf;

    if (n > KOS__SRV_BODY_MAX) {
        reply_error(req, 413, "the body is %zu bytes long; at most %u", n, KOS__SRV_BODY_MAX);
        return NULL;
    }
    if (n > 0 && (!type || strncasecmp(type, "application/json", 16) != 0 ||
                  (type[16] && type[16] != ';' && type[16] != ' '))) {
        reply_error(req, 415, "the body must be JSON, sent as Content-Type: application/json");
        return NULL;
    }
    buf = malloc(n + 1);
    if (!buf) {
        reply_error(req, 500, "out of memory");
        return NULL;
    }
    evbuffer_remove(in, buf, n);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- routes ---- */

/* GET /api/devices: the registered devices, then the pending ones. */
static json_t *devices_json(struct kos__srv *srv)
{
    json_t *all = kos__store_devices_json(srv->store), *pending;

    if (!all)
        return NULL;
    pending = kos__store_pending_json(srv->store, NULL);
    if (!pending || json_array_extend(all, pending) != 0) {
        json_decref(pending);
        json_decref(all);
        return NULL;
    }
    json_decref(pending);
    return json_pack("{s:o}", "devices", all);
}

static void devices_post(struct kos__srv *srv, struct evhttp_request *req)
{
    struct kos__req_register r;
    char err[512], id[KOS__DEVICE_ID_LEN + 1], *cert = NULL, *body;
    size_t len;
    kos_status_t st;

    if (!(body = take_body(req, &len)))
        return;
    st = kos__req_register(body, len, &r, err, sizeof(err));
    free(body);
    if (st) {
        reply_error(req, 400, "%s", err);
        return;
    }
    kos__ca_device_id(r.pub, id);
    if (!r.name[0])
        snprintf(r.name, sizeof(r.name), "device-%.16s", id);
    if (kos__ca_issue_device(srv->ca, r.pub, &cert, err, sizeof(err)) != KOS_STATUS_OK) {
        reply_error(req, 500, "%s", err);
        return;
    }
    st = kos__store_device_add(srv->store, id, r.name, r.pub, cert, err, sizeof(err));
    if (st) {
        free(cert);
        reply_error(req,
                    st == KOS_STATUS_ALREADY_EXISTS ? 409
                    : st == KOS_STATUS_NO_MEMORY    ? 507
                                                    : 500,
                    "%s", err);
        return;
    }
    kos__srv_log("device %.16s registered", id);
    kos__devices_changed(srv, id);
    reply_json(req, 201,
               json_pack("{s:s, s:o, s:s, s:s, s:s}", "id", id, "name", kos__json_str(r.name),
                         "certificate", cert, "server_ca", kos__ca_cert_pem(srv->ca), "address",
                         srv->device_addr));
    free(cert);
}

static void traces_get(struct kos__srv *srv, struct evhttp_request *req, const char *id,
                       const char *query)
{
    char err[256];
    uint64_t after;
    unsigned limit;
    json_t *j;

    if (kos__req_traces_query(query, &after, &limit, err, sizeof(err)) != KOS_STATUS_OK) {
        reply_error(req, 400, "%s", err);
        return;
    }
    j = kos__store_traces_json(srv->store, id, after, limit);
    if (!j)
        reply_error(req, 404, "no device %s", id);
    else
        reply_json(req, 200, j);
}

static void commands_post(struct kos__srv *srv, struct evhttp_request *req, const char *id)
{
    struct kos__req_command c;
    char err[512], *body;
    uint64_t cmd_id;
    size_t len;
    kos_status_t st;

    if (!(body = take_body(req, &len)))
        return;
    st = kos__req_command(body, len, &c, err, sizeof(err));
    free(body);
    if (st) {
        reply_error(req, 400, "%s", err);
        return;
    }
    st = kos__devices_command(srv, id, &c, &cmd_id, err, sizeof(err));
    switch (st) {
    case KOS_STATUS_OK:
        reply_json(req, 202, json_pack("{s:o}", "id", kos__json_u64(cmd_id)));
        return;
    case KOS_STATUS_NOT_FOUND:
        reply_error(req, 404, "%s", err);
        return;
    case KOS_STATUS_UNAUTHORIZED:
    case KOS_STATUS_UNAVAILABLE:
        reply_error(req, 409, "%s", err);
        return;
    case KOS_STATUS_BUSY:
        reply_error(req, 503, "%s", err);
        return;
    default:
        reply_error(req, 500, "%s", err);
        return;
    }
}

/* POST /api/devices/ID/upgrade, the body an image zip, which
 * kos__upgrades_push() checks and sends. */
static void upgrade_post(struct kos__srv *srv, struct evhttp_request *req, const char *id)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t n = evbuffer_get_length(in);
    char err[512];
    json_t *answer = NULL;
    kos_status_t st;

    if (n > KOS__SRV_IMAGE_MAX) {
        reply_error(req, 413, "the image is %zu bytes long; at most %u", n, KOS__SRV_IMAGE_MAX);
        return;
    }
    if (!type || strncasecmp(type, "application/zip", 15) != 0 ||
        (type[15] && type[15] != ';' && type[15] != ' ')) {
        reply_error(req, 415,
                    "the body must be an image zip, sent as Content-Type: "
                    "application/zip");
        return;
    }
    if (n == 0) {
        reply_error(req, 400,
                    "the body is empty: send the image zip (kos-tool manifest.build makes one)");
        return;
    }
    st = kos__upgrades_push(srv, id, in, &answer, err, sizeof(err));
    if (st == KOS_STATUS_OK) {
        reply_json(req, 202, answer);
        return;
    }
    reply_error(req,
                st == KOS_STATUS_NOT_FOUND                                      ? 404
                : st == KOS_STATUS_UNAUTHORIZED || st == KOS_STATUS_UNAVAILABLE ? 409
                : st == KOS_STATUS_PROTOCOL || st == KOS_STATUS_TOO_LARGE       ? 400
                : st == KOS_STATUS_BUSY                                         ? 503
                                                                                : 500,
                "%s", err);
}

/* A shell line or a debug open waiting for its device's answer: the
 * request it answers. It belongs to the relay's done() or, if the client
 * goes first, to the connection's close callback, whichever comes first;
 * the other is then never called (done() removes the callback, the
 * callback cancels the line or the open). */
struct relay_wait {
    struct kos__srv *srv;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    uint64_t id;
    bool debug; /* a debug open (debug.h), else a shell line (shell.h) */
};

static void relay_done(void *arg, int code, json_t *answer)
{
    struct relay_wait *w = arg;

    evhttp_connection_set_closecb(w->conn, NULL, NULL);
    reply_json(w->req, code, answer);
    free(w);
}

static void relay_gone(struct evhttp_connection *conn, void *arg)
{
    struct relay_wait *w = arg;

    (void)conn;
    if (w->debug)
        kos__debug_cancel(w->srv->debug, w->id);
    else
        kos__shell_cancel(w->srv->shell, w->id);
    free(w);
}

/* A wait for request req, or NULL with req answered 500. */
static struct relay_wait *relay_wait_new(struct kos__srv *srv, struct evhttp_request *req,
                                         bool debug)
{
    struct relay_wait *w = calloc(1, sizeof(*w));

    if (!w) {
        reply_error(req, 500, "out of memory");
        return NULL;
    }
    w->srv = srv;
    w->req = req;
    w->conn = evhttp_request_get_connection(req);
    w->debug = debug;
    return w;
}

/* The relay took w's request (st OK): the answer comes through
 * relay_done(), or the client goes first. Otherwise it is answered now
 * with err, and w freed. */
static void relay_started(struct relay_wait *w, kos_status_t st, const char *err)
{
    struct evhttp_request *req = w->req;

    if (st == KOS_STATUS_OK) {
        evhttp_connection_set_closecb(w->conn, relay_gone, w);
        return;
    }
    free(w);
    reply_error(req,
                st == KOS_STATUS_NOT_FOUND          ? 404
                : st == KOS_STATUS_UNAUTHORIZED     ? 409
                : st == KOS_STATUS_UNAVAILABLE      ? 409
                : st == KOS_STATUS_BUSY             ? 503
                : st == KOS_STATUS_INVALID_ARGUMENT ? 400
                                                    : 500,
                "%s", err);
}

/* POST /api/devices/ID/shell {"line": LINE}: the answer is sent when the
 * device's comes (shell.h). */
static void shell_post(struct kos__srv *srv, struct evhttp_request *req, const char *id)
{
    struct kos__req_shell line;
    struct relay_wait *w;
    char err[512], *body;
    size_t len;
    kos_status_t st;

    if (!(body = take_body(req, &len)))
        return;
    st = kos__req_shell(body, len, &line, err, sizeof(err));
    free(body);
    if (st) {
        reply_error(req, 400, "%s", err);
        return;
    }
    if (!(w = relay_wait_new(srv, req, false)))
        return;
    st = kos__shell_send(srv, id, line.line, line.len, relay_done, w, &w->id, err, sizeof(err));
    relay_started(w, st, err);
}

/* POST /api/devices/ID/debug/end (no body): ends the device's debug
 * session, whichever client opened it. */
static void debug_end_post(struct kos__srv *srv, struct evhttp_request *req, const char *id)
{
    char app[64];

    if (kos__debug_end(srv, id, app) != KOS_STATUS_OK) {
        reply_error(req, 404, "device %s has no debug session", id);
        return;
    }
    reply_json(req, 200, json_pack("{s:s, s:s, s:b}", "device", id, "app", app, "ended", 1));
}

/* POST /api/devices/ID/debug {"app": APP}: a debug session (debug.h); the
 * answer, with the session's port and token, is sent when the device's
 * comes (struct relay_wait). */
static void debug_post(struct kos__srv *srv, struct evhttp_request *req, const char *id)
{
    struct relay_wait *w;
    char err[512], app[64], *body;
    size_t len;
    bool gdb;
    kos_status_t st;

    if (!(body = take_body(req, &len)))
        return;
    st = kos__req_debug(body, len, app, &gdb, err, sizeof(err));
    free(body);
    if (st) {
        reply_error(req, 400, "%s", err);
        return;
    }
    if (!(w = relay_wait_new(srv, req, true)))
        return;
    st = kos__debug_open(srv, id, app, gdb, relay_done, w, &w->id, err, sizeof(err));
    relay_started(w, st, err);
}

static void logs_get(struct kos__srv *srv, struct evhttp_request *req, const char *id,
                     const char *query)
{
    char err[512];
    uint64_t after;
    unsigned limit;
    json_t *j;

    if (kos__req_logs_query(query, &after, &limit, err, sizeof(err)) != KOS_STATUS_OK) {
        reply_error(req, 400, "%s", err);
        return;
    }
    j = kos__store_logs_json(srv->store, id, after, limit);
    if (!j) {
        reply_error(req, 404, "no device %s", id);
        return;
    }
    reply_json(req, 200, j);
}

static void events_get(struct kos__srv *srv, struct evhttp_request *req, const char *query)
{
    char err[512], device[KOS__DEVICE_ID_LEN + 1];
    enum kos__dev_state state;

    if (kos__req_events_query(query, device, err, sizeof(err)) != KOS_STATUS_OK) {
        reply_error(req, 400, "%s", err);
        return;
    }
    if (device[0] && kos__store_device_get(srv->store, device, &state, NULL) != KOS_STATUS_OK) {
        reply_error(req, 404, "no device %s", device);
        return;
    }
    if (!srv->events || kos__events_attach(srv->events, req, device) != KOS_STATUS_OK)
        reply_error(req, 503, "too many event streams are open (at most %u): close one",
                    KOS__SRV_SSE_CLIENTS_MAX);
}

/* POST /api/devices/ID/approve [{"name": NAME}], POST .../reject: a
 * pending device registered, or registered revoked (docs/link.md, "Pending
 * devices"). */
static void decide_post(struct kos__srv *srv, struct evhttp_request *req, const char *id,
                        bool approve)
{
    char err[512], name[KOS__SRV_NAME_MAX + 1] = "", *body;
    size_t len = 0;
    kos_status_t st;

    if (!(body = take_body(req, &len)))
        return;
    st = approve ? kos__req_approve(body, len, name, err, sizeof(err))
         : len   ? (snprintf(err, sizeof(err), "a rejection takes no body"),
                  KOS_STATUS_INVALID_ARGUMENT)
                 : KOS_STATUS_OK;
    free(body);
    if (st) {
        reply_error(req, 400, "%s", err);
        return;
    }
    st = kos__devices_decide(srv, id, approve, name, err, sizeof(err));
    if (st) {
        reply_error(req,
                    st == KOS_STATUS_NOT_FOUND        ? 404
                    : st == KOS_STATUS_ALREADY_EXISTS ? 409
                    : st == KOS_STATUS_NO_MEMORY      ? 507
                                                      : 500,
                    "%s", err);
        return;
    }
    reply_json(req, 200, kos__store_device_json(srv->store, id, true));
}

/* Refuses a method a route does not take. */
static void not_allowed(struct evhttp_request *req, const char *allow)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
    reply_error(req, 405, "this route takes %s only", allow);
}

/* Routes /api/devices/ID[/WHAT]: rest is the path after the prefix. */
static void device_route(struct kos__srv *srv, struct evhttp_request *req, bool get,
                         const char *rest, const char *query)
{
    char id[KOS__DEVICE_ID_LEN + 1];
    size_t idlen = strcspn(rest, "/");
    const char *what = rest[idlen] ? rest + idlen + 1 : NULL;
    json_t *j;

    if (!kos__req_is_device_id(rest, idlen)) {
        reply_error(req, 404, "no such route: a device id is 64 lowercase hex digits");
        return;
    }
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    if (!what) {
        if (!get) {
            not_allowed(req, "GET");
            return;
        }
        j = kos__store_device_json(srv->store, id, true);
        if (j)
            json_object_set_new(j, "upgrade", kos__store_upgrade_json(srv->store, id));
        else
            j = kos__store_pending_json(srv->store, id);
        if (!j)
            reply_error(req, 404, "no device %s", id);
        else
            reply_json(req, 200, j);
    } else if (strcmp(what, "revoke") == 0) {
        if (get) {
            not_allowed(req, "POST");
            return;
        }
        if (kos__devices_revoke(srv, id) != KOS_STATUS_OK) {
            reply_error(req, 404, "no device %s", id);
            return;
        }
        reply_json(req, 200, kos__store_device_json(srv->store, id, true));
    } else if (strcmp(what, "approve") == 0 || strcmp(what, "reject") == 0) {
        if (get)
            not_allowed(req, "POST");
        else
            decide_post(srv, req, id, what[0] == 'a');
    } else if (strcmp(what, "upgrade") == 0) {
        if (get)
            not_allowed(req, "POST");
        else
            upgrade_post(srv, req, id);
    } else if (strcmp(what, "commands") == 0) {
        if (get)
            not_allowed(req, "POST");
        else
            commands_post(srv, req, id);
    } else if (strcmp(what, "logs") == 0) {
        if (!get)
            not_allowed(req, "GET");
        else
            logs_get(srv, req, id, query);
    } else if (strcmp(what, "traces") == 0) {
        if (!get)
            not_allowed(req, "GET");
        else
            traces_get(srv, req, id, query);
    } else if (strcmp(what, "shell") == 0) {
        if (get)
            not_allowed(req, "POST");
        else
            shell_post(srv, req, id);
    } else if (strcmp(what, "debug") == 0) {
        if (get)
            not_allowed(req, "POST");
        else
            debug_post(srv, req, id);
    } else if (strcmp(what, "debug/end") == 0) {
        if (get)
            not_allowed(req, "POST");
        else
            debug_end_post(srv, req, id);
    } else {
        reply_error(req, 404, "no such route");
    }
}

static void api_route(struct kos__srv *srv, struct evhttp_request *req, bool get, const char *path,
                      const char *query)
{
    bool has_query = query && *query;

    if (strcmp(path, "/api/devices") == 0) {
        if (has_query)
            reply_error(req, 400, "/api/devices takes no query parameters");
        else if (get)
            reply_json(req, 200, devices_json(srv));
        else
            devices_post(srv, req);
    } else if (strncmp(path, DEVICES_PREFIX, sizeof(DEVICES_PREFIX) - 1) == 0) {
        if (has_query && !strstr(path, "/logs") && !strstr(path, "/traces"))
            reply_error(req, 400, "this route takes no query parameters");
        else
            device_route(srv, req, get, path + sizeof(DEVICES_PREFIX) - 1, query);
    } else if (strcmp(path, "/api/server") == 0) {
        if (has_query)
            reply_error(req, 400, "/api/server takes no query parameters");
        else if (!get)
            not_allowed(req, "GET");
        else
            reply_json(req, 200,
                       json_pack("{s:s, s:s, s:s}", "name", "studio", "device_address",
                                 srv->device_addr, "server_ca", kos__ca_cert_pem(srv->ca)));
    } else if (strcmp(path, "/api/events") == 0) {
        /* HEAD too: a stream without a body would only hold a place. */
        if (evhttp_request_get_command(req) != EVHTTP_REQ_GET)
            not_allowed(req, "GET");
        else
            events_get(srv, req, query);
    } else {
        reply_error(req, 404, "no such route (the API is in docs/link.md)");
    }
}

void kos__api_handle(struct evhttp_request *req, void *arg)
{
    struct kos__srv *srv = arg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    bool api;
    const char *origin, *site;
    const struct kos__ui_file *f;

    common_headers(req);
    if (!path || !*path)
        path = "/";
    api = strncmp(path, API_PREFIX, sizeof(API_PREFIX) - 1) == 0 || strcmp(path, "/api") == 0;
    if (!is_own(srv, evhttp_find_header(in, "Host"), false)) {
        reply_error(req, 400, "this server answers only to Host %s:%u (or localhost:%u)",
                    srv->address, srv->api_port, srv->api_port);
        return;
    }
    if (get && strcmp(path, "/") == 0 && query && *query) {
        login(srv, req, query);
        return;
    }
    if (!authorized(srv, in)) {
        if (api)
            reply_error(req, 401,
                        "the server's secret is missing or wrong: send Authorization: Bearer "
                        "SECRET (kos-tool server.status shows the address with it)");
        else
            reply_page(req, 401, "text/html; charset=utf-8", no_secret_page,
                       sizeof(no_secret_page) - 1);
        return;
    }
    if (!get) {
        origin = evhttp_find_header(in, "Origin");
        site = evhttp_find_header(in, "Sec-Fetch-Site");
        if ((origin && !is_own(srv, origin, true)) ||
            (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)) {
            reply_error(req, 403,
                        "a request that changes something must come from this server's own "
                        "pages (Origin http://%s:%u)",
                        srv->address, srv->api_port);
            return;
        }
        if (cmd != EVHTTP_REQ_POST) {
            not_allowed(req, api ? "GET, POST" : "GET");
            return;
        }
    }
    if (api) {
        api_route(srv, req, get, path, query);
        return;
    }
    f = get ? kos__ui_find(path) : NULL;
    if (!get)
        not_allowed(req, "GET");
    else if (!f)
        reply_error(req, 404, "no such page");
    else
        reply_page(req, 200, f->type, f->data, f->len);
}
