/*
 * cmd_push.c - `kos-tool push DEVICE IMAGE`: pushes a system image to a
 * device through the local Studio (docs/upgrades.md, "Pushing a release
 * from Studio") and follows the upgrade to its result.
 *
 * It opens Studio's event stream for the device first, so that nothing
 * the device says is missed, then uploads the image (POST
 * /api/devices/ID/upgrade), then prints each `upgrade` event of its
 * command as a progress line and the `result` event as the last. What
 * stays true: every text that came from the device or the server is
 * printed escaped (kos__tool_put_escaped); the exit status is 0 only when
 * the device's result says the upgrade was done.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "opts_int.h"
#include "studio.h"
#include "tool_int.h"

/* The largest image Studio takes (server/srv_limits.h, KOS__SRV_IMAGE_MAX). */
#define IMAGE_MAX (256u * 1024u * 1024u)
/* How long the upload may take to be answered: Studio checks the whole
 * image and stores its blobs first. */
#define UPLOAD_WAIT_S 300
/* How long push waits for the device's result by default. */
#define RESULT_WAIT_S 600
/* One line of the event stream, at most (an event's data is 64 KiB). */
#define LINE_MAX_BYTES (128u * 1024u)

/* Following one upgrade on the event stream. */
struct follow {
    const char *cmd;
    const char *name; /* the device's, escaped */
    struct event_base *base;
    struct evbuffer *lines; /* what came of the stream, not yet a whole line */
    char event[32];         /* the type of the event being read */
    json_t *early;          /* events that came before the command's id was known */
    uint64_t command;       /* the upgrade's command id; 0 before it is known */
    bool open, ended, done, timed_out, said_offline;
    int rc;
};

static const char *mib(uint64_t n, char buf[32])
{
    snprintf(buf, 32, "%.1f MiB", (double)n / (1024.0 * 1024.0));
    return buf;
}

/* One event about the device, once the command's id is known. */
static void on_event(struct follow *f, const char *type, json_t *d)
{
    uint64_t id = (uint64_t)json_integer_value(json_object_get(d, "command"));
    char a[32], b[32];

    if (!strcmp(type, "upgrade") && id == f->command) {
        const char *stage = json_string_value(json_object_get(d, "stage"));
        char line[256], shown[128];
        snprintf(line, sizeof(line), "kos-tool %s: '%s': %s: %s of %s (%" PRIu64 " blobs)", f->cmd,
                 f->name, kos__tool_shown(shown, sizeof(shown), stage ? stage : "?"),
                 mib((uint64_t)json_integer_value(json_object_get(d, "done")), a),
                 mib((uint64_t)json_integer_value(json_object_get(d, "total")), b),
                 (uint64_t)json_integer_value(json_object_get(d, "blobs")));
        puts(line);
        fflush(stdout);
    } else if (!strcmp(type, "result") &&
               (uint64_t)json_integer_value(json_object_get(d, "id")) == f->command) {
        json_int_t st = json_integer_value(json_object_get(d, "status"));
        const char *text = json_string_value(json_object_get(d, "status_text"));
        const char *msg = json_string_value(json_object_get(d, "message"));
        char line[2048], shown[1024];
        snprintf(line, sizeof(line), "kos-tool %s: '%s': %s%s%s%s", f->cmd, f->name,
                 st == 0 ? "done" : "failed: ", st == 0 ? "" : (text ? text : "?"),
                 msg && *msg ? ": " : "", msg ? kos__tool_shown(shown, sizeof(shown), msg) : "");
        puts(line);
        fflush(stdout);
        f->rc = st == 0 ? 0 : 1;
        f->done = true;
        event_base_loopbreak(f->base);
    } else if (!strcmp(type, "device")) {
        const char *state = json_string_value(json_object_get(d, "state"));
        if (state && !strcmp(state, "revoked")) {
            fprintf(stderr, "kos-tool %s: '%s' was revoked before its result came\n", f->cmd,
                    f->name);
            f->rc = 1;
            f->done = true;
            event_base_loopbreak(f->base);
        } else if (state && !strcmp(state, "offline") && !f->said_offline) {
            printf("kos-tool %s: '%s' is offline; waiting for it and its result\n", f->cmd,
                   f->name);
            fflush(stdout);
            f->said_offline = true;
        } else if (state && !strcmp(state, "online")) {
            f->said_offline = false;
        }
    }
}

/* One whole event: handled now, or kept until the command's id is known. */
static void dispatch(struct follow *f, const char *data)
{
    json_t *d = json_loads(data, 0, NULL);

    if (!d)
        return;
    if (!f->command)
        json_array_append_new(f->early, json_pack("{s:s, s:O}", "type", f->event, "data", d));
    else
        on_event(f, f->event, d);
    json_decref(d);
}

static void chunk_cb(struct evhttp_request *req, void *arg)
{
    struct follow *f = arg;
    size_t n;
    char *line;

    evbuffer_add_buffer(f->lines, evhttp_request_get_input_buffer(req));
    while (!f->done && (line = evbuffer_readln(f->lines, &n, EVBUFFER_EOL_LF))) {
        if (!strncmp(line, "event: ", 7))
            snprintf(f->event, sizeof(f->event), "%s", line + 7);
        else if (!strncmp(line, "data: ", 6))
            dispatch(f, line + 6);
        free(line);
    }
    if (evbuffer_get_length(f->lines) > LINE_MAX_BYTES)
        evbuffer_drain(f->lines, evbuffer_get_length(f->lines)); /* not Studio's stream */
}

static int header_cb(struct evhttp_request *req, void *arg)
{
    struct follow *f = arg;

    if (evhttp_request_get_response_code(req) != 200)
        return -1;
    f->open = true;
    event_base_loopbreak(f->base);
    return 0;
}

static void stream_done_cb(struct evhttp_request *req, void *arg)
{
    struct follow *f = arg;

    (void)req;
    f->ended = true;
    event_base_loopbreak(f->base);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct follow *f = arg;

    (void)fd;
    (void)what;
    f->timed_out = true;
    event_base_loopbreak(f->base);
}

/* Reads the image at path whole (at most IMAGE_MAX bytes): a new buffer,
 * or NULL with the reason printed. */
static char *read_image(const char *cmd, const char *path, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "kos-tool %s: cannot read image %s: %s\n", cmd, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t)st.st_size > IMAGE_MAX) {
        fprintf(stderr,
                "kos-tool %s: %s is not an image Studio takes (a file of 1 byte to 256 MiB: "
                "kos-tool manifest.build makes one)\n",
                cmd, path);
        goto out;
    }
    buf = malloc((size_t)st.st_size);
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "kos-tool %s: cannot read image %s: %s\n", cmd, path,
                    n < 0 ? strerror(errno) : "it got shorter");
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)n;
    }
    if (!buf)
        fprintf(stderr, "kos-tool %s: out of memory\n", cmd);
    *len = got;
out:
    if (fd >= 0)
        close(fd);
    return buf;
}

/* Opens the event stream of device id on f->base: true once it answers. */
static bool open_stream(struct follow *f, const struct kos__studio_rt *rt, const char *id,
                        struct evhttp_connection **conn)
{
    struct evhttp_request *req;
    struct evkeyvalq *h;
    char path[128], host[64], auth[16 + KOS__STUDIO_SECRET_HEX];

    *conn = evhttp_connection_base_new(f->base, NULL, rt->api_host, (ev_uint16_t)rt->api_port);
    req = *conn ? evhttp_request_new(stream_done_cb, f) : NULL;
    if (!req)
        return false;
    evhttp_connection_set_retries(*conn, 0);
    evhttp_request_set_chunked_cb(req, chunk_cb);
    evhttp_request_set_header_cb(req, header_cb);
    h = evhttp_request_get_output_headers(req);
    snprintf(host, sizeof(host), "%s:%u", rt->api_host, rt->api_port);
    snprintf(auth, sizeof(auth), "Bearer %s", rt->secret);
    snprintf(path, sizeof(path), "/api/events?device=%s", id);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "Authorization", auth);
    if (evhttp_make_request(*conn, req, EVHTTP_REQ_GET, path) != 0)
        return false;
    event_base_dispatch(f->base);
    return f->open && !f->ended;
}

/* Uploads the image; on success prints what was pushed and sets
 * f->command. */
static bool upload(struct follow *f, const struct kos__studio_rt *rt, const char *id,
                   const char *image)
{
    char path[128], err[1024], a[32];
    size_t len = 0;
    char *buf = read_image(f->cmd, image, &len);
    json_t *resp = NULL;
    int status = 0;
    kos_status_t st;

    if (!buf)
        return false;
    snprintf(path, sizeof(path), "/api/devices/%s/upgrade", id);
    st = kos__tool_studio_send(rt, "POST", path, "application/zip", buf, len, UPLOAD_WAIT_S,
                               &status, &resp, err, sizeof(err));
    free(buf);
    if (st != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: %s\n", f->cmd, err);
        return false;
    }
    if (status != 202) {
        const char *e = kos__tool_studio_error(resp);
        fprintf(stderr, "kos-tool %s: Studio refused %s: ", f->cmd, image);
        kos__tool_put_escaped(stderr, e, strlen(e));
        json_decref(resp);
        return false;
    }
    f->command = (uint64_t)json_integer_value(json_object_get(resp, "id"));
    const char *system = json_string_value(json_object_get(resp, "system"));
    char shown[256], over[32] = "";
    json_int_t overlay = json_integer_value(json_object_get(resp, "overlay"));
    if (overlay > 0)
        snprintf(over, sizeof(over), " overlay %" PRId64, (int64_t)overlay);
    printf("kos-tool %s: pushed release %" PRId64 "%s of '%s' (%" PRId64 " blobs, %s) to '%s': "
           "command %" PRIu64 "\n",
           f->cmd, (int64_t)json_integer_value(json_object_get(resp, "release")), over,
           kos__tool_shown(shown, sizeof(shown), system ? system : "?"),
           (int64_t)json_integer_value(json_object_get(resp, "blobs")),
           mib((uint64_t)json_integer_value(json_object_get(resp, "bytes")), a), f->name,
           f->command);
    fflush(stdout);
    json_decref(resp);
    return f->command != 0;
}

int kos__tool_push_image(const char *cmd, const char *data, const char *device, const char *image,
                         unsigned timeout_s)
{
    struct follow f = {.cmd = cmd, .rc = 1};
    struct kos__tool_studio s;
    struct evhttp_connection *conn = NULL;
    struct event *timer = NULL;
    struct timeval tv = {(time_t)timeout_s, 0};
    char id[65], name_shown[1024];
    size_t i;
    json_t *e;

    if (!kos__tool_studio_online_device(cmd, data, device, &s, id, name_shown))
        return 1;
    f.name = name_shown;
    f.base = event_base_new();
    f.lines = evbuffer_new();
    f.early = json_array();
    if (!f.base || !f.lines || !f.early) {
        fprintf(stderr, "kos-tool %s: out of memory\n", cmd);
        goto out;
    }
    if (!open_stream(&f, &s.rt, id, &conn)) {
        fprintf(stderr, "kos-tool %s: Studio's event stream for '%s' does not open\n", cmd,
                name_shown);
        goto out;
    }
    if (!upload(&f, &s.rt, id, image))
        goto out;
    json_array_foreach(f.early, i, e)
    {
        if (!f.done)
            on_event(&f, json_string_value(json_object_get(e, "type")), json_object_get(e, "data"));
    }
    timer = evtimer_new(f.base, timeout_cb, &f);
    if (timer)
        evtimer_add(timer, &tv);
    while (!f.done && !f.ended && !f.timed_out)
        event_base_dispatch(f.base);
    if (f.timed_out && !f.done)
        fprintf(stderr,
                "kos-tool %s: no result from '%s' within %u s (Studio's device page "
                "shows it when it comes)\n",
                cmd, name_shown, timeout_s);
    else if (!f.done)
        fprintf(stderr, "kos-tool %s: Studio's event stream ended before the result came\n", cmd);
out:
    if (timer)
        event_free(timer);
    if (conn)
        evhttp_connection_free(conn);
    if (f.lines)
        evbuffer_free(f.lines);
    json_decref(f.early);
    if (f.base)
        event_base_free(f.base);
    return f.done ? f.rc : 1;
}

static void push_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool push DEVICE IMAGE [--data DIR] [--timeout SECONDS]\n"
            "\n"
            "Pushes the system image IMAGE (a manifest.zip, as kos-tool manifest.build and\n"
            "kos_add_system make it) to DEVICE through the local Studio, which must be\n"
            "running (kos-tool server.start) with DEVICE online. Studio checks the image,\n"
            "stores its blobs and sends the device an Upgrade command; the device fetches\n"
            "the blobs it lacks, checks the signature with its own trusted keys, stores\n"
            "the release and reboots into it. push prints the device's progress and its\n"
            "result, and exits 0 only when the device says it is done.\n"
            "\n"
            "DEVICE is a device's id, a prefix of it (at least %u hex digits) or its name.\n"
            "\n"
            "  --data DIR         the Studio's data folder (default $XDG_DATA_HOME/kos/studio,\n"
            "                     else ~/.local/share/kos/studio)\n"
            "  --timeout SECONDS  how long to wait for the device's result (default %u)\n"
            "\n"
            "See %s.\n",
            KOS__TOOL_DEVICE_PREFIX_MIN, RESULT_WAIT_S, kos__tool_doc("upgrades.md"));
}

int kos__tool_push(int argc, char **argv)
{
    enum { OPT_DATA, OPT_TIMEOUT };
    static const struct kos__opt table[] = {{"data", 0, "DIR", OPT_DATA},
                                            {"timeout", 0, "SECONDS", OPT_TIMEOUT}};
    const char *data = NULL, *device = NULL, *image = NULL, *v;
    unsigned long timeout_s = RESULT_WAIT_S;
    struct kos__opts p;
    int o;

    kos__opts_init(&p, "push", argc, argv, table, sizeof(table) / sizeof(table[0]));
    while ((o = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (o) {
        case KOS__OPTS_HELP:
            push_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_DATA:
            data = v;
            break;
        case OPT_TIMEOUT:
            if (!kos__opts_number(&p, "timeout", v, 1, 86400, "seconds", &timeout_s))
                return 2;
            break;
        default:
            if (!device)
                device = v;
            else if (!image)
                image = v;
            else
                return kos__opts_usage_error(&p, "unexpected argument '%s' (DEVICE IMAGE only)", v);
        }
    }
    if (!device || !image)
        return kos__opts_usage_error(&p, "give the DEVICE and the IMAGE to push to it");
    return kos__tool_push_image("push", data, device, image, (unsigned)timeout_s);
}
