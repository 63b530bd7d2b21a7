/*
 * devices.c - what kos-server does with its devices: the device port's
 * hooks (who may connect; online and offline; each admin and logs message
 * decoded, checked, stored and turned into events; each shell message
 * decoded and handed to the shell's relay, shell.h) and the commands and
 * revocations the API asks for (server_int.h).
 *
 * What stays true: a message from a device is decoded with a bounded
 * allocator and checked whole before anything of it is stored, so a
 * malformed one changes nothing; it is logged and the device's link is
 * ended on the next loop turn, never inside the port's callback. Device
 * text reaches events and the API only escaped (srv_json.h). A log record's
 * text is cut to KOS__SRV_LOG_TEXT_MAX at a character boundary; one event
 * carries at most about KOS__SRV_EVENT_MAX bytes of records.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "admin.pb-c.h"
#include "boot_int.h"
#include "ca.h"
#include "debug.h"
#include "events.h"
#include "logs.pb-c.h"
#include "req.h"
#include "server_int.h"
#include "shell.h"
#include "srv_json.h"
#include "srv_limits.h"
#include "store.h"
#include "text_int.h"
#include "traces.pb-c.h"
#include "upgrades.h"

/* The channels of docs/link.md this server takes data on. */
#define CH_ADMIN  1u
#define CH_LOGS   2u
#define CH_TRACES 3u
#define CH_SHELL  4u
#define CH_DEBUG  5u

/* ---- decoding with a bounded allocator ---- */

struct budget {
    size_t used;
};

static void *budget_alloc(void *arg, size_t size)
{
    struct budget *b = arg;
    void *p;

    if (size > KOS__SRV_DECODE_BUDGET - b->used)
        return NULL;
    p = malloc(size);
    if (p)
        b->used += size;
    return p;
}

static void budget_free(void *arg, void *p)
{
    (void)arg;
    free(p);
}

/* ---- checking what a device sent ---- */

/* Says why a message is refused, for the log. */
static bool refuse(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool refuse(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return false;
}

static bool short_ok(const char *s)
{
    return strlen(s) <= KOS__SRV_SHORT_MAX;
}

static bool text_ok(const char *s)
{
    return strlen(s) <= KOS__SRV_TEXT_MAX;
}

static bool health_ok(const Kos__Admin__Health *h, char *why, size_t cap)
{
    if (h->n_apps > KOS__SRV_APPS_MAX)
        return refuse(why, cap, "a Health with %zu apps (at most %u)", h->n_apps,
                      KOS__SRV_APPS_MAX);
    for (size_t i = 0; i < h->n_apps; i++) {
        const Kos__Admin__App *a = h->apps[i];
        if (!short_ok(a->name) || !short_ok(a->kind) || !short_ok(a->state) ||
            !text_ok(a->last_exit))
            return refuse(why, cap, "a Health whose app %zu has a string too long", i);
    }
    if (!text_ok(h->self_test))
        return refuse(why, cap, "a Health whose self_test is too long");
    if (h->store && h->store->n_generations > KOS__SRV_GENS_MAX)
        return refuse(why, cap, "a Health with %zu generations (at most %u)",
                      h->store->n_generations, KOS__SRV_GENS_MAX);
    for (size_t i = 0; h->store && i < h->store->n_generations; i++) {
        const Kos__Admin__Generation *g = h->store->generations[i];
        if (!short_ok(g->state) || !short_ok(g->signer))
            return refuse(why, cap, "a Health whose generation %zu has a string too long", i);
    }
    return true;
}

/* The JSON the API shows of a Health's boot store: null for none. */
static json_t *store_json(const Kos__Admin__BootStore *bs)
{
    json_t *gens;

    if (!bs)
        return json_null();
    gens = json_array();
    for (size_t i = 0; gens && i < bs->n_generations; i++) {
        const Kos__Admin__Generation *g = bs->generations[i];
        json_array_append_new(
            gens, json_pack("{s:I, s:I, s:I, s:b, s:b, s:b, s:o, s:I, s:o, s:o}", "number",
                            (json_int_t)g->number, "release", (json_int_t)g->release, "overlay",
                            (json_int_t)g->overlay, "current", g->current, "good", g->good,
                            "running", g->running, "state", kos__json_str(g->state), "tries",
                            (json_int_t)g->tries, "signer", kos__json_str(g->signer), "created",
                            g->created && g->created <= (uint64_t)INT64_MAX / 1000
                                ? kos__json_time_ms((int64_t)g->created * 1000)
                                : json_null()));
    }
    return json_pack("{s:I, s:o}", "running", (json_int_t)bs->running, "generations",
                     gens ? gens : json_array());
}

static bool register_ok(const Kos__Admin__Register *r, char *why, size_t cap)
{
    if (!short_ok(r->system) || !short_ok(r->manifest_sha256) || !short_ok(r->signer) ||
        !short_ok(r->kos_version) || !short_ok(r->platform))
        return refuse(why, cap, "a Register with a string longer than %u bytes",
                      KOS__SRV_SHORT_MAX);
    return !r->health || health_ok(r->health, why, cap);
}

/* The JSON text the API shows of a Health (escaped strings). */
static char *health_json(const Kos__Admin__Health *h)
{
    json_t *apps = json_array(), *j;
    char *text;

    for (size_t i = 0; apps && i < h->n_apps; i++) {
        const Kos__Admin__App *a = h->apps[i];
        json_array_append_new(
            apps, json_pack("{s:o, s:o, s:o, s:I, s:o}", "name", kos__json_str(a->name), "kind",
                            kos__json_str(a->kind), "state", kos__json_str(a->state), "restarts",
                            (json_int_t)a->restarts, "last_exit", kos__json_str(a->last_exit)));
    }
    j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "time",
                  kos__json_time_ns(h->time_ns > (uint64_t)INT64_MAX ? 0 : (int64_t)h->time_ns),
                  "uptime_ms", kos__json_u64(h->uptime_ms), "apps", apps, "mem_total",
                  kos__json_u64(h->mem_total), "mem_used", kos__json_u64(h->mem_used),
                  "storage_total", kos__json_u64(h->storage_total), "storage_used",
                  kos__json_u64(h->storage_used), "self_test", kos__json_str(h->self_test),
                  "logs_dropped", kos__json_u64(h->logs_dropped), "store", store_json(h->store),
                  "remote_debug", h->remote_debug);
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

/* ---- the hooks ---- */

static kos_status_t hook_admit(void *arg, const char *id)
{
    struct kos__srv *srv = arg;
    enum kos__dev_state state;

    if (kos__store_device_get(srv->store, id, &state, NULL) != KOS_STATUS_OK)
        return KOS_STATUS_NOT_FOUND; /* the port refuses it, or asks hook_pending */
    if (state == KOS__DEV_REVOKED) {
        kos__srv_log("device port: refused device %.16s: revoked", id);
        return KOS_STATUS_UNAUTHORIZED;
    }
    return KOS_STATUS_OK;
}

/* Whether an event stream (or a test's tap) listens: events cost a query
 * or a document each, made only for someone. */
static bool listened(const struct kos__srv *srv)
{
    return (srv->events && kos__events_clients(srv->events)) || srv->tap;
}

/* An unknown device with its own certificate tried to connect: it is
 * recorded as pending (at most KOS__SRV_PENDING_MAX are kept), said in the
 * server's log the first time (for a bounded number of keys), and shown to
 * the UI. The port answers it
 * "waiting for approval"; nothing else of it is stored. */
static void hook_pending(void *arg, const char *id, const uint8_t pub[32],
                         const struct kos__devport_pending *p)
{
    struct kos__srv *srv = arg;
    const char *name = kos__req_name_valid(p->name, strlen(p->name)) ? p->name : "";
    bool is_new = false;

    if (kos__store_pending_seen(srv->store, id, pub, name, p->subject, p->address, &is_new) !=
        KOS_STATUS_OK)
        return;
    /* The log says so for the first KOS__SRV_PENDING_MAX new keys since the
     * server started, then once that it stops: a flood of keys does not
     * grow it. */
    if (is_new && srv->pending_logged < KOS__SRV_PENDING_MAX)
        kos__srv_log("device %.16s from %s is waiting for approval (%s)", id, p->address,
                     p->subject);
    else if (is_new && srv->pending_logged == KOS__SRV_PENDING_MAX)
        kos__srv_log("%u new devices waited for approval since the server started: the next "
                     "are not logged (the device list shows them)",
                     KOS__SRV_PENDING_MAX);
    if (is_new && srv->pending_logged <= KOS__SRV_PENDING_MAX)
        srv->pending_logged++;
    if (listened(srv))
        kos__srv_emit(srv, "device", id, kos__store_pending_json(srv->store, id));
}

void kos__devices_changed(struct kos__srv *srv, const char *id)
{
    /* The device's JSON costs a query and a document at every connect,
     * registration and disconnect. */
    if (!listened(srv))
        return;
    kos__srv_emit(srv, "device", id, kos__store_device_json(srv->store, id, true));
}

static void hook_online(void *arg, const char *id)
{
    struct kos__srv *srv = arg;

    if (kos__store_device_set_state(srv->store, id, KOS__DEV_ONLINE) != KOS_STATUS_OK)
        return;
    kos__srv_log("device %.16s is online", id);
    kos__devices_changed(srv, id);
}

static void hook_offline(void *arg, const char *id, const char *why)
{
    struct kos__srv *srv = arg;
    kos_status_t st = kos__store_device_set_state(srv->store, id, KOS__DEV_OFFLINE);

    kos__srv_log("device %.16s is offline: %s", id, why ? why : "link ended");
    kos__shell_offline(srv, id);
    kos__debug_offline(srv, id);
    if (st == KOS_STATUS_OK)
        kos__devices_changed(srv, id);
}

/* Answers a Register with Registered: the id and the server's name. */
static void send_registered(struct kos__srv *srv, const char *id)
{
    Kos__Admin__AdminDown down = KOS__ADMIN__ADMIN_DOWN__INIT;
    Kos__Admin__Registered reg = KOS__ADMIN__REGISTERED__INIT;
    char name[KOS__SRV_NAME_MAX + 1], did[KOS__DEVICE_ID_LEN + 1];
    enum kos__dev_state state;
    uint8_t buf[512];
    size_t n;

    if (!srv->devport || kos__store_device_get(srv->store, id, &state, name) != KOS_STATUS_OK)
        return;
    snprintf(did, sizeof(did), "%s", id);
    reg.device_id = did;
    reg.name = name;
    down.body_case = KOS__ADMIN__ADMIN_DOWN__BODY_REGISTERED;
    down.registered = &reg;
    n = kos__admin__admin_down__get_packed_size(&down);
    if (n > sizeof(buf))
        return;
    kos__admin__admin_down__pack(&down, buf);
    kos_status_t st = kos__devport_send(srv->devport, id, CH_ADMIN, buf, n);
    if (st)
        kos__srv_log("device %.16s: cannot answer its Register: %s", id, kos_status_str(st));
}

static bool on_admin(struct kos__srv *srv, const char *id, const uint8_t *p, size_t n, char *why,
                     size_t cap)
{
    struct budget b = {0};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &b};
    Kos__Admin__AdminUp *up = kos__admin__admin_up__unpack(&alloc, n, p);
    bool ok = false;
    char *health = NULL;

    if (!up)
        return refuse(why, cap, "an admin message that is not an AdminUp (%zu bytes)", n);
    switch (up->body_case) {
    case KOS__ADMIN__ADMIN_UP__BODY_REGISTER: {
        const Kos__Admin__Register *r = up->register_;
        struct kos__store_reg reg = {r->system,      r->manifest_sha256, r->signer,
                                     r->kos_version, r->platform,        r->boot_time_ns};
        if (!register_ok(r, why, cap))
            break;
        if (r->health && !(health = health_json(r->health))) {
            refuse(why, cap, "out of memory");
            break;
        }
        if (kos__store_device_report(srv->store, id, &reg, health) != KOS_STATUS_OK)
            break; /* said by the store */
        char sys[4 * 64 + 1];
        size_t k = kos__text_escape(sys, sizeof(sys) - 1, r->system,
                                    kos__text_boundary(r->system, strnlen(r->system, 64)), NULL);
        sys[k] = '\0';
        kos__srv_log("device %.16s registered: system '%s'", id, sys);
        send_registered(srv, id);
        kos__devices_changed(srv, id);
        ok = true;
        break;
    }
    case KOS__ADMIN__ADMIN_UP__BODY_HEALTH:
        if (!health_ok(up->health, why, cap))
            break;
        if (!(health = health_json(up->health))) {
            refuse(why, cap, "out of memory");
            break;
        }
        if (kos__store_device_report(srv->store, id, NULL, health) == KOS_STATUS_OK)
            kos__devices_changed(srv, id);
        ok = true;
        break;
    case KOS__ADMIN__ADMIN_UP__BODY_RESULT: {
        const Kos__Admin__CommandResult *r = up->result;
        if (!text_ok(r->message)) {
            refuse(why, cap, "a CommandResult whose message is longer than %u bytes",
                   KOS__SRV_TEXT_MAX);
            break;
        }
        ok = true;
        if (kos__store_command_done(srv->store, id, r->id, r->status, r->message) !=
            KOS_STATUS_OK) {
            kos__srv_log("device %.16s: a result for command %llu, which it was not waiting "
                         "for: ignored",
                         id, (unsigned long long)r->id);
            break;
        }
        kos__srv_emit(srv, "result", id,
                      json_pack("{s:s, s:o, s:I, s:s, s:o}", "device", id, "id",
                                kos__json_u64(r->id), "status", (json_int_t)r->status,
                                "status_text", kos_status_str((kos_status_t)r->status), "message",
                                kos__json_str(r->message)));
        break;
    }
    case KOS__ADMIN__ADMIN_UP__BODY_PROGRESS:
        ok = kos__upgrades_progress(srv, id, up->progress, why, cap);
        break;
    default:
        refuse(why, cap, "an AdminUp without a body");
        break;
    }
    free(health);
    kos__admin__admin_up__free_unpacked(up, &alloc);
    return ok;
}

/* Emits n records as `type` events ("log", "trace") of about
 * KOS__SRV_EVENT_MAX bytes each, the drops counted once, with the first;
 * one(arg, i) makes record i's JSON (NULL: it is left out). */
static void emit_batched(struct kos__srv *srv, const char *id, const char *type, size_t n,
                         uint64_t dropped, json_t *(*one)(const void *arg, size_t i),
                         const void *arg)
{
    json_t *batch = NULL;
    size_t size = 0;

    if (!listened(srv))
        return;
    for (size_t i = 0; i <= n; i++) {
        json_t *r = NULL;
        size_t rsize = 0;

        if (i < n) {
            if (!(r = one(arg, i)))
                continue;
            rsize = json_dumpb(r, NULL, 0, JSON_COMPACT) + 1;
        }
        if (batch && (i == n || size + rsize > KOS__SRV_EVENT_MAX - 256)) {
            kos__srv_emit(srv, type, id,
                          json_pack("{s:s, s:o, s:o}", "device", id, "records", batch, "dropped",
                                    kos__json_u64(dropped)));
            dropped = 0;
            batch = NULL;
            size = 0;
        }
        if (!r)
            continue;
        if (!batch && !(batch = json_array())) {
            json_decref(r);
            continue;
        }
        json_array_append_new(batch, r);
        size += rsize;
    }
    if (n == 0 && dropped)
        kos__srv_emit(srv, type, id,
                      json_pack("{s:s, s:[], s:o}", "device", id, "records", "dropped",
                                kos__json_u64(dropped)));
}

struct batch_of {
    const void *recs;
    uint64_t first_seq;
};

static json_t *log_json(const void *arg, size_t i)
{
    const struct batch_of *b = arg;
    const struct kos__store_rec *r = (const struct kos__store_rec *)b->recs + i;

    return kos__json_record(b->first_seq + i, r->device_seq, r->time_ns, r->app, r->app_len,
                            r->level, r->text, r->text_len, r->console);
}

static json_t *trace_json(const void *arg, size_t i)
{
    const struct batch_of *b = arg;

    return kos__json_trace(b->first_seq + i, (const struct kos__store_trace *)b->recs + i);
}

/* Emits stored log records (first_seq is the first one's seq) as "log"
 * events. */
static void emit_logs(struct kos__srv *srv, const char *id, const struct kos__store_rec *recs,
                      size_t n, uint64_t first_seq, uint64_t dropped)
{
    struct batch_of b = {recs, first_seq};

    emit_batched(srv, id, "log", n, dropped, log_json, &b);
}

static bool on_logs(struct kos__srv *srv, const char *id, const uint8_t *p, size_t n, char *why,
                    size_t cap)
{
    struct budget b = {0};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &b};
    Kos__Logs__LogBatch *lb = kos__logs__log_batch__unpack(&alloc, n, p);
    struct kos__store_rec *recs = NULL;
    uint64_t first = 0;
    size_t stored = 0, skip;
    bool ok = false;

    if (!lb)
        return refuse(why, cap, "a logs message that is not a LogBatch (%zu bytes)", n);
    if (lb->n_records && !(recs = calloc(lb->n_records, sizeof(*recs)))) {
        refuse(why, cap, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < lb->n_records; i++) {
        const Kos__Logs__LogRecord *r = lb->records[i];
        size_t tlen = strlen(r->text);

        if (r->level > 3) {
            refuse(why, cap, "a LogRecord (seq %llu) with level %u (0 to 3)",
                   (unsigned long long)r->seq, r->level);
            goto out;
        }
        if (strlen(r->app) > KOS__SRV_NAME_MAX) {
            refuse(why, cap, "a LogRecord (seq %llu) whose app name is longer than %u bytes",
                   (unsigned long long)r->seq, KOS__SRV_NAME_MAX);
            goto out;
        }
        if (tlen > KOS__SRV_LOG_TEXT_MAX)
            tlen = kos__text_boundary(r->text, KOS__SRV_LOG_TEXT_MAX);
        recs[i] = (struct kos__store_rec){r->seq,   r->time_ns, r->app, strlen(r->app),
                                          r->level, r->text,    tlen,   r->console};
    }
    ok = true;
    if (kos__store_logs_add(srv->store, id, recs, lb->n_records, lb->dropped, &first, &stored) !=
        KOS_STATUS_OK)
        goto out;
    if (lb->dropped)
        kos__srv_log("device %.16s lost %llu log records before this batch", id,
                     (unsigned long long)lb->dropped);
    skip = lb->n_records - stored;
    emit_logs(srv, id, recs ? recs + skip : NULL, stored, first, lb->dropped);
out:
    free(recs);
    kos__logs__log_batch__free_unpacked(lb, &alloc);
    return ok;
}

/* A name a device sent for a trace record: a KOS name, or "" where the
 * record may leave it unknown. */
static bool trace_name_ok(const char *s, bool may_be_empty)
{
    size_t n = strlen(s);
    return n == 0 ? may_be_empty : kos__name_valid(s, n);
}

/* Emits stored trace records as "trace" events. */
static void emit_traces(struct kos__srv *srv, const char *id, const struct kos__store_trace *recs,
                        size_t n, uint64_t first_seq, uint64_t dropped)
{
    struct batch_of b = {recs, first_seq};

    emit_batched(srv, id, "trace", n, dropped, trace_json, &b);
}

/* A TraceBatch (proto/traces.proto): checked whole, then stored. */
static bool on_traces(struct kos__srv *srv, const char *id, const uint8_t *p, size_t n, char *why,
                      size_t cap)
{
    struct budget b = {0};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &b};
    Kos__Traces__TraceBatch *tb = kos__traces__trace_batch__unpack(&alloc, n, p);
    struct kos__store_trace *recs = NULL;
    uint64_t first = 0;
    size_t stored = 0, skip;
    bool ok = false;

    if (!tb)
        return refuse(why, cap, "a traces message that is not a TraceBatch (%zu bytes)", n);
    if (tb->n_records && !(recs = calloc(tb->n_records, sizeof(*recs)))) {
        refuse(why, cap, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < tb->n_records; i++) {
        const Kos__Traces__TraceRecord *r = tb->records[i];
        bool call =
            r->kind == KOS__TRACES__KIND__KIND_CALL || r->kind == KOS__TRACES__KIND__KIND_SERVE;

        if (!kos__store_trace_kind_known((unsigned)r->kind) || !trace_name_ok(r->app, false) ||
            !trace_name_ok(r->server, false) || !trace_name_ok(r->peer, true) ||
            !trace_name_ok(r->protocol, call) || r->status >= KOS_STATUS__COUNT) {
            refuse(why, cap,
                   "a TraceRecord (%zu of the batch) with an unknown kind, a status out of range "
                   "or a name that is not a KOS name",
                   i);
            goto out;
        }
        recs[i] = (struct kos__store_trace){
            .time_ns = r->time_ns,
            .kind = (unsigned)r->kind,
            .app = r->app,
            .peer = r->peer,
            .server = r->server,
            .protocol = r->protocol,
            .channel = r->channel,
            .label = r->label,
            .status = r->status,
            .req_len = r->req_len,
            .rep_len = r->rep_len,
            .dur_ns = r->dur_ns,
            .verified = r->verified,
        };
    }
    ok = true;
    if (kos__store_traces_add(srv->store, id, recs, tb->n_records, tb->dropped, &first, &stored) !=
        KOS_STATUS_OK)
        goto out;
    skip = tb->n_records - stored;
    emit_traces(srv, id, recs ? recs + skip : NULL, stored, first, tb->dropped);
out:
    free(recs);
    kos__traces__trace_batch__free_unpacked(tb, &alloc);
    return ok;
}

/* A ShellUp (a part of the answer to a shell line, shell.h) or a DebugUp
 * (an answer to a debug open, the agent's bytes, or the end, debug.h):
 * decoded with the bounded allocator as `d` says, and handed to its relay. */
static bool on_relayed(struct kos__srv *srv, const char *id, const uint8_t *p, size_t n, char *why,
                       size_t cap, const ProtobufCMessageDescriptor *d, const char *what)
{
    struct budget b = {0};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &b};
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &alloc, n, p);
    bool ok;

    if (!m)
        return refuse(why, cap, "a %s message that is not a %s (%zu bytes)", what, d->short_name,
                      n);
    if (d == &kos__shell__shell_up__descriptor)
        ok = kos__shell_answer(srv, id, (const Kos__Shell__ShellUp *)m, why, cap);
    else
        ok = kos__debug_up(srv, id, (const Kos__Debug__DebugUp *)m, why, cap);
    protobuf_c_message_free_unpacked(m, &alloc);
    return ok;
}

static void hook_data(void *arg, const char *id, uint32_t ch, const uint8_t *p, size_t n)
{
    struct kos__srv *srv = arg;
    char why[256] = "";
    bool ok;

    if (n > KOS__SRV_MSG_MAX)
        ok = refuse(why, sizeof(why), "a message of %zu bytes (at most %u)", n, KOS__SRV_MSG_MAX);
    else if (ch == CH_ADMIN)
        ok = on_admin(srv, id, p, n, why, sizeof(why));
    else if (ch == CH_LOGS)
        ok = on_logs(srv, id, p, n, why, sizeof(why));
    else if (ch == CH_TRACES)
        ok = on_traces(srv, id, p, n, why, sizeof(why));
    else if (ch == CH_SHELL)
        ok =
            on_relayed(srv, id, p, n, why, sizeof(why), &kos__shell__shell_up__descriptor, "shell");
    else if (ch == CH_DEBUG)
        ok =
            on_relayed(srv, id, p, n, why, sizeof(why), &kos__debug__debug_up__descriptor, "debug");
    else
        ok = refuse(why, sizeof(why), "data on channel %u, which this server does not take", ch);
    if (!ok && why[0]) {
        kos__srv_log("device %.16s sent %s: its link is ended", id, why);
        kos__srv_kick_later(srv, id);
    }
}

static void hook_note(void *arg, const char *id, const char *text)
{
    (void)arg;
    kos__srv_log("device %.16s: %s", id, text);
}

struct kos__devport_hooks kos__devices_hooks(struct kos__srv *srv)
{
    struct kos__devport_hooks h = {.arg = srv,
                                   .admit = hook_admit,
                                   .online = hook_online,
                                   .offline = hook_offline,
                                   .data = hook_data,
                                   .pending = hook_pending,
                                   .note = hook_note};

    kos__upgrades_hooks(srv, &h);
    return h;
}

/* ---- what the API asks ---- */

kos_status_t kos__devices_reachable(struct kos__srv *srv, const char *id, char *err, size_t errlen)
{
    enum kos__dev_state state;

    if (kos__store_device_get(srv->store, id, &state, NULL) != KOS_STATUS_OK) {
        snprintf(err, errlen, "no device %s", id);
        return KOS_STATUS_NOT_FOUND;
    }
    if (state == KOS__DEV_REVOKED) {
        snprintf(err, errlen, "device %s is revoked", id);
        return KOS_STATUS_UNAUTHORIZED;
    }
    if (state != KOS__DEV_ONLINE || !srv->devport) {
        snprintf(err, errlen, "device %s is not online", id);
        return KOS_STATUS_UNAVAILABLE;
    }
    return KOS_STATUS_OK;
}

kos_status_t kos__devices_command(struct kos__srv *srv, const char *id,
                                  const struct kos__req_command *cmd, uint64_t *cmd_id, char *err,
                                  size_t errlen)
{
    Kos__Admin__AdminDown down = KOS__ADMIN__ADMIN_DOWN__INIT;
    Kos__Admin__Command c = KOS__ADMIN__COMMAND__INIT;
    Kos__Admin__RestartApp ra = KOS__ADMIN__RESTART_APP__INIT;
    Kos__Admin__Reboot rb = KOS__ADMIN__REBOOT__INIT;
    Kos__Admin__SetTracing tr = KOS__ADMIN__SET_TRACING__INIT;
    char json[128], app[sizeof(cmd->app)];
    uint8_t buf[256];
    kos_status_t st;
    size_t n;

    st = kos__devices_reachable(srv, id, err, errlen);
    if (st)
        return st;
    if (cmd->kind == KOS__CMD_RESTART_APP)
        snprintf(json, sizeof(json), "{\"restart_app\":\"%s\"}", cmd->app);
    else if (cmd->kind == KOS__CMD_TRACE)
        snprintf(json, sizeof(json), "{\"trace\":{\"app\":\"%s\",\"on\":%s}}", cmd->app,
                 cmd->on ? "true" : "false");
    else
        snprintf(json, sizeof(json), "{\"reboot\":true}");
    st = kos__store_command_add(srv->store, id, json, cmd_id);
    if (st) {
        snprintf(err, errlen, "the database failed");
        return st;
    }
    c.id = *cmd_id;
    if (cmd->kind == KOS__CMD_RESTART_APP) {
        snprintf(app, sizeof(app), "%s", cmd->app);
        ra.app = app;
        c.body_case = KOS__ADMIN__COMMAND__BODY_RESTART_APP;
        c.restart_app = &ra;
    } else if (cmd->kind == KOS__CMD_TRACE) {
        snprintf(app, sizeof(app), "%s", cmd->app);
        tr.app = app;
        tr.on = cmd->on;
        c.body_case = KOS__ADMIN__COMMAND__BODY_SET_TRACING;
        c.set_tracing = &tr;
    } else {
        c.body_case = KOS__ADMIN__COMMAND__BODY_REBOOT;
        c.reboot = &rb;
    }
    down.body_case = KOS__ADMIN__ADMIN_DOWN__BODY_COMMAND;
    down.command = &c;
    n = kos__admin__admin_down__get_packed_size(&down);
    if (n > sizeof(buf)) {
        snprintf(err, errlen, "the command does not fit a message");
        return KOS_STATUS_INTERNAL;
    }
    kos__admin__admin_down__pack(&down, buf);
    st = kos__devport_send(srv->devport, id, CH_ADMIN, buf, n);
    if (st) {
        /* Not sent: its result is that. */
        if (kos__store_command_done(srv->store, id, *cmd_id, st, "not sent") != KOS_STATUS_OK)
            kos__srv_log("device %.16s: cannot record command %llu as not sent", id,
                         (unsigned long long)*cmd_id);
        if (st == KOS_STATUS_BUSY)
            snprintf(err, errlen, "device %s's admin channel is full: try again", id);
        else
            snprintf(err, errlen, "device %s is not online", id);
        return st == KOS_STATUS_BUSY ? KOS_STATUS_BUSY : KOS_STATUS_UNAVAILABLE;
    }
    kos__srv_log("device %.16s: command %llu sent (%s)", id, (unsigned long long)*cmd_id,
                 cmd->kind == KOS__CMD_RESTART_APP ? "restart an app"
                 : cmd->kind == KOS__CMD_TRACE     ? (cmd->on ? "tracing on" : "tracing off")
                                                   : "reboot");
    return KOS_STATUS_OK;
}

kos_status_t kos__devices_decide(struct kos__srv *srv, const char *id, bool approve,
                                 const char *name, char *err, size_t errlen)
{
    char offered[KOS__SRV_NAME_MAX + 1], *cert = NULL;
    enum kos__dev_state state;
    uint8_t pub[32];
    kos_status_t st;

    err[0] = '\0';
    if (kos__store_device_get(srv->store, id, &state, NULL) == KOS_STATUS_OK) {
        snprintf(err, errlen, "device %s is not pending: it is %s", id, kos__dev_state_name(state));
        return KOS_STATUS_ALREADY_EXISTS;
    }
    st = kos__store_pending_get(srv->store, id, pub, offered);
    if (st) {
        snprintf(err, errlen,
                 st == KOS_STATUS_NOT_FOUND ? "no pending device %s (a device is pending "
                                              "from its first attempt to connect)"
                                            : "the database failed reading pending device %s",
                 id);
        return st;
    }
    if (!name || !name[0])
        name = offered;
    if (!name[0]) {
        snprintf(offered, sizeof(offered), "device-%.16s", id);
        name = offered;
    }
    st = kos__ca_issue_device(srv->ca, pub, &cert, err, errlen);
    if (!st)
        st = kos__store_device_add(srv->store, id, name, pub, cert, err, errlen);
    free(cert);
    if (!st && !approve)
        st = kos__store_device_set_state(srv->store, id, KOS__DEV_REVOKED);
    if (st) {
        if (!err[0])
            snprintf(err, errlen, "the database failed");
        return st;
    }
    if (kos__store_pending_remove(srv->store, id) != KOS_STATUS_OK)
        kos__srv_log("device %.16s: its pending record stays (the list hides it)", id);
    kos__srv_log("device %.16s %s as '%s'", id, approve ? "approved" : "rejected (revoked)", name);
    kos__devices_changed(srv, id);
    return KOS_STATUS_OK;
}

kos_status_t kos__devices_revoke(struct kos__srv *srv, const char *id)
{
    enum kos__dev_state state;
    kos_status_t st = kos__store_device_get(srv->store, id, &state, NULL);

    if (st)
        return st;
    if (state != KOS__DEV_REVOKED) {
        st = kos__store_device_set_state(srv->store, id, KOS__DEV_REVOKED);
        if (st)
            return st;
        kos__srv_log("device %.16s is revoked", id);
        kos__devices_changed(srv, id);
    }
    if (srv->devport)
        kos__devport_kick(srv->devport, id);
    return KOS_STATUS_OK;
}
