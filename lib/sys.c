/*
 * sys.c - the records of Core's system interface (sys_int.h) and the
 * managing app's side of it.
 *
 * Each record is a fixed little-endian layout read and written with
 * cursor_int.h. What stays true: a decoder accepts a body only when it
 * holds one whole record of its type, every string NUL-terminated inside
 * it, bounded, and printable or a valid name, every count and enum in
 * range; an encoder refuses what its decoder would, so a record that
 * encodes always decodes.
 *
 * Between versions (docs/upgrades.md): an upgrade replaces the managing
 * app but not Core, so either side may be the newer. A record grows only
 * at its end, and only by fields that may be absent: a decoder reads the
 * optional fields it knows when they are there (absent, they are 0) and
 * passes over bytes after the last field it knows.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kos/status.h>

#include "cursor_int.h"
#include "sys_int.h"
#include "trace_int.h"

const char *kos__sys_state_name(uint32_t state)
{
    switch (state) {
    case KOS__SYS_NOT_STARTED:
        return "not started";
    case KOS__SYS_RUNNING_READY:
        return "running, ready";
    case KOS__SYS_RUNNING_NOT_READY:
        return "running, not ready";
    case KOS__SYS_WAITING:
        return "waiting to restart";
    case KOS__SYS_ENDED:
        return "ended";
    case KOS__SYS_STOPPED:
        return "stopped";
    case KOS__SYS_FAILED:
        return "failed";
    default:
        return "unknown";
    }
}

const char *kos__sys_gen_state_name(uint32_t state)
{
    switch (state) {
    case KOS__SYS_GEN_KEPT:
        return "kept";
    case KOS__SYS_GEN_TRIAL:
        return "on trial";
    case KOS__SYS_GEN_PASSED:
        return "passed";
    case KOS__SYS_GEN_FAILED:
        return "failed";
    case KOS__SYS_GEN_DAMAGED:
        return "damaged";
    default:
        return "unknown";
    }
}

bool kos__sys_from_core(uint32_t type)
{
    return type == KOS__CTL_SYS_STATUS || type == KOS__CTL_SYS_RESULT ||
           type == KOS__CTL_SYS_CONSOLE || type == KOS__CTL_SYS_CHANGED ||
           type == KOS__CTL_SYS_TRACES || type == KOS__CTL_SYS_TABLE ||
           type == KOS__CTL_SYS_STORE_NEEDS;
}

bool kos__sys_to_core(uint32_t type)
{
    return type == KOS__CTL_SYS_STATUS_REQ || type == KOS__CTL_SYS_RESTART ||
           type == KOS__CTL_SYS_REBOOT || type == KOS__CTL_SYS_CONSOLE_CREDIT ||
           type == KOS__CTL_SYS_TRACE_SET || type == KOS__CTL_SYS_TRACE_CREDIT ||
           type == KOS__CTL_SYS_TABLE_REQ || type == KOS__CTL_SYS_DEBUG_ATTACH ||
           type == KOS__CTL_SYS_STORE_NEED || type == KOS__CTL_SYS_STORE_FETCH ||
           type == KOS__CTL_SYS_STORE_DONE || type == KOS__CTL_SYS_STORE_ADD;
}

bool kos__sys_unknown(uint32_t type)
{
    return type > KOS__CTL_LAST && type < KOS__CTL_SYS_FUTURE_END;
}

/* ---- requests ---- */

static bool credit_ok(uint32_t credit)
{
    return credit >= 1 && credit <= KOS__SYS_CONSOLE_WINDOW;
}

static bool table_kind_ok(uint32_t kind)
{
    return kind == KOS__SYS_TABLE_GRANTS || kind == KOS__SYS_TABLE_KEYS;
}

kos_status_t kos__sys_request_encode(const struct kos__sys_request *r, void *buf, size_t cap,
                                     size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    switch (r->type) {
    case KOS__CTL_SYS_STATUS_REQ:
        put_u32(&c, r->id);
        put_u32(&c, r->first);
        break;
    case KOS__CTL_SYS_RESTART:
    case KOS__CTL_SYS_DEBUG_ATTACH:
        if (!kos__name_valid(r->app, strnlen(r->app, KOS__NAME_MAX)))
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->id);
        put_name(&c, r->app);
        break;
    case KOS__CTL_SYS_REBOOT:
        if (!r->reason || !printable_ok(r->reason, KOS__SYS_REASON_MAX))
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->id);
        put_string(&c, r->reason, KOS__SYS_REASON_MAX);
        break;
    case KOS__CTL_SYS_CONSOLE_CREDIT:
        if (!credit_ok(r->credit))
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->credit);
        break;
    case KOS__CTL_SYS_TRACE_SET:
        if (!kos__name_valid(r->app, strnlen(r->app, KOS__NAME_MAX)) || r->on > 1)
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->id);
        put_u32(&c, r->on);
        put_name(&c, r->app);
        break;
    case KOS__CTL_SYS_TRACE_CREDIT:
        if (r->credit < 1 || r->credit > KOS__SYS_TRACE_WINDOW)
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->credit);
        break;
    case KOS__CTL_SYS_TABLE_REQ:
        if (!table_kind_ok(r->table) || r->first >= KOS__SYS_TABLE_MAX_ROWS)
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->id);
        put_u32(&c, r->table);
        put_u32(&c, r->first);
        break;
    case KOS__CTL_SYS_STORE_NEED:
    case KOS__CTL_SYS_STORE_ADD:
        if (!r->sig || r->sig_len < 1 || r->sig_len > KOS__SYS_SIG_MAX)
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->id);
        put_u32(&c, r->sig_len);
        put_bytes(&c, r->sig, r->sig_len);
        break;
    case KOS__CTL_SYS_STORE_FETCH:
    case KOS__CTL_SYS_STORE_DONE:
        if (r->size < 1 || r->size > KOS__SYS_BLOB_MAX)
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->id);
        put_bytes(&c, r->sha256, 32);
        put_u64(&c, r->size);
        break;
    default:
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

kos_status_t kos__sys_request_decode(uint32_t type, const void *body, size_t len,
                                     struct kos__sys_request *out)
{
    struct cursor c = {.r = body, .cap = len};

    memset(out, 0, sizeof(*out));
    out->type = type;
    switch (type) {
    case KOS__CTL_SYS_STATUS_REQ:
        out->id = get_u32(&c);
        out->first = get_u32(&c);
        if (out->first >= KOS__SYS_MAX_PROCS)
            c.bad = true;
        break;
    case KOS__CTL_SYS_RESTART:
    case KOS__CTL_SYS_DEBUG_ATTACH:
        out->id = get_u32(&c);
        get_name(&c, out->app);
        break;
    case KOS__CTL_SYS_REBOOT:
        out->id = get_u32(&c);
        out->reason = get_string(&c, KOS__SYS_REASON_MAX);
        if (out->reason && !printable_ok(out->reason, KOS__SYS_REASON_MAX))
            c.bad = true;
        break;
    case KOS__CTL_SYS_CONSOLE_CREDIT:
        out->credit = get_u32(&c);
        if (!credit_ok(out->credit))
            c.bad = true;
        break;
    case KOS__CTL_SYS_TRACE_SET:
        out->id = get_u32(&c);
        out->on = get_u32(&c);
        get_name(&c, out->app);
        if (out->on > 1)
            c.bad = true;
        break;
    case KOS__CTL_SYS_TRACE_CREDIT:
        out->credit = get_u32(&c);
        if (out->credit < 1 || out->credit > KOS__SYS_TRACE_WINDOW)
            c.bad = true;
        break;
    case KOS__CTL_SYS_TABLE_REQ:
        out->id = get_u32(&c);
        out->table = get_u32(&c);
        out->first = get_u32(&c);
        if (!table_kind_ok(out->table) || out->first >= KOS__SYS_TABLE_MAX_ROWS)
            c.bad = true;
        break;
    case KOS__CTL_SYS_STORE_NEED:
    case KOS__CTL_SYS_STORE_ADD:
        out->id = get_u32(&c);
        out->sig_len = get_u32(&c);
        if (out->sig_len < 1 || out->sig_len > KOS__SYS_SIG_MAX)
            c.bad = true;
        out->sig = (const char *)get_bytes(&c, out->sig_len);
        break;
    case KOS__CTL_SYS_STORE_FETCH:
    case KOS__CTL_SYS_STORE_DONE: {
        out->id = get_u32(&c);
        const uint8_t *sha = get_bytes(&c, 32);
        if (sha)
            memcpy(out->sha256, sha, 32);
        out->size = get_u64(&c);
        if (out->size < 1 || out->size > KOS__SYS_BLOB_MAX)
            c.bad = true;
        break;
    }
    default:
        return KOS_STATUS_PROTOCOL;
    }
    if (c.bad)
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* ---- STATUS ---- */

static bool hex_ok(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Whether the generations of *s are what a decoder accepts: none without a
 * store; numbers ascending from 1; each mark on one generation at most, the
 * running one's number the page's `generation`; states in range. */
static bool gens_ok(const struct kos__sys_status *s)
{
    uint32_t seen = 0, prev = 0;

    if (s->store > 1 || s->n_gens > KOS__SYS_MAX_GENS ||
        (!s->store && (s->n_gens || s->generation)) || (s->store && !s->generation))
        return false;
    for (uint32_t i = 0; i < s->n_gens; i++) {
        const struct kos__sys_gen *g = &s->gens[i];
        if (g->n <= prev || (g->flags & ~KOS__SYS_GEN_FLAGS) || (g->flags & seen) ||
            g->state < KOS__SYS_GEN_KEPT || g->state > KOS__SYS_GEN_DAMAGED || !g->signer ||
            (g->signer[0] && !hex_ok(g->signer, 16)) ||
            ((g->flags & KOS__SYS_GEN_RUNNING) && g->n != s->generation) ||
            g->overlay > KOS__SYS_OVERLAY_MAX || (g->overlay && !g->release))
            return false;
        seen |= g->flags;
        prev = g->n;
    }
    return true;
}

/* Whether the strings, counts and enums of *s are what a decoder accepts. */
static bool status_ok(const struct kos__sys_status *s)
{
    if (!s->system || !kos__name_valid(s->system, strnlen(s->system, KOS__NAME_MAX)) ||
        !s->manifest || !hex_ok(s->manifest, 64) || !s->signer ||
        (s->signer[0] && !hex_ok(s->signer, 16)) || !s->platform ||
        !printable_ok(s->platform, KOS__SYS_PLATFORM_MAX) || !s->version ||
        !printable_ok(s->version, KOS__SYS_VERSION_MAX) ||
        s->self_test > KOS__SYS_SELF_TEST_INCOMPLETE || !s->self_test_summary ||
        !printable_ok(s->self_test_summary, KOS__SELF_TEST_TEXT_MAX))
        return false;
    if (s->n_total > KOS__SYS_MAX_PROCS || s->n_procs > KOS__SYS_PAGE_PROCS ||
        s->first > s->n_total || s->n_procs > s->n_total - s->first)
        return false;
    for (uint32_t i = 0; i < s->n_procs; i++) {
        const struct kos__sys_proc *p = &s->procs[i];
        if (!p->name || !kos__name_valid(p->name, strnlen(p->name, KOS__NAME_MAX)) ||
            (p->role != KOS__ROLE_APP && p->role != KOS__ROLE_MSG_SERVER) ||
            p->state < KOS__SYS_NOT_STARTED || p->state > KOS__SYS_FAILED ||
            p->restarts_asked > p->restarts || !p->last_exit ||
            !printable_ok(p->last_exit, KOS__SYS_EXIT_MAX))
            return false;
    }
    return gens_ok(s);
}

kos_status_t kos__sys_status_encode(const struct kos__sys_status *s, void *buf, size_t cap,
                                    size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (!status_ok(s))
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, s->id);
    put_name(&c, s->system);
    put_string(&c, s->manifest, KOS__SYS_DIGEST_MAX);
    put_string(&c, s->signer, KOS__SYS_SIGNER_MAX);
    put_string(&c, s->platform, KOS__SYS_PLATFORM_MAX);
    put_string(&c, s->version, KOS__SYS_VERSION_MAX);
    put_u64(&c, s->boot_time_ns);
    put_u64(&c, s->uptime_ms);
    put_u32(&c, s->boots);
    put_u32(&c, s->self_test);
    put_string(&c, s->self_test_summary, KOS__SELF_TEST_TEXT_MAX);
    put_u64(&c, s->mem_total);
    put_u64(&c, s->mem_used);
    put_u64(&c, s->storage_total);
    put_u64(&c, s->storage_used);
    put_u32(&c, s->n_total);
    put_u32(&c, s->first);
    put_u32(&c, s->n_procs);
    for (uint32_t i = 0; i < s->n_procs; i++) {
        const struct kos__sys_proc *p = &s->procs[i];
        put_name(&c, p->name);
        put_u32(&c, p->role);
        put_u32(&c, p->state);
        put_u32(&c, p->restarts);
        put_u32(&c, p->restarts_asked);
        put_string(&c, p->last_exit, KOS__SYS_EXIT_MAX);
    }
    put_u32(&c, s->store);
    put_u32(&c, s->generation);
    put_u32(&c, s->n_gens);
    for (uint32_t i = 0; i < s->n_gens; i++) {
        const struct kos__sys_gen *g = &s->gens[i];
        put_u32(&c, g->n);
        put_u32(&c, g->flags);
        put_u32(&c, g->state);
        put_u32(&c, g->tries);
        put_u32(&c, g->release);
        put_u64(&c, g->created);
        put_string(&c, g->signer, KOS__SYS_SIGNER_MAX);
    }
    /* Optional, added later: each generation's overlay number. */
    for (uint32_t i = 0; i < s->n_gens; i++)
        put_u32(&c, s->gens[i].overlay);
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

kos_status_t kos__sys_status_decode(const void *body, size_t len, struct kos__sys_status *out)
{
    struct cursor c = {.r = body, .cap = len};

    memset(out, 0, sizeof(*out));
    out->id = get_u32(&c);
    out->system = get_string(&c, KOS__NAME_MAX);
    out->manifest = get_string(&c, KOS__SYS_DIGEST_MAX);
    out->signer = get_string(&c, KOS__SYS_SIGNER_MAX);
    out->platform = get_string(&c, KOS__SYS_PLATFORM_MAX);
    out->version = get_string(&c, KOS__SYS_VERSION_MAX);
    out->boot_time_ns = get_u64(&c);
    out->uptime_ms = get_u64(&c);
    out->boots = get_u32(&c);
    out->self_test = get_u32(&c);
    out->self_test_summary = get_string(&c, KOS__SELF_TEST_TEXT_MAX);
    out->mem_total = get_u64(&c);
    out->mem_used = get_u64(&c);
    out->storage_total = get_u64(&c);
    out->storage_used = get_u64(&c);
    out->n_total = get_u32(&c);
    out->first = get_u32(&c);
    out->n_procs = get_u32(&c);
    if (c.bad || out->n_procs > KOS__SYS_PAGE_PROCS)
        return KOS_STATUS_PROTOCOL;
    for (uint32_t i = 0; i < out->n_procs && !c.bad; i++) {
        struct kos__sys_proc *p = &out->procs[i];
        p->name = get_string(&c, KOS__NAME_MAX);
        p->role = get_u32(&c);
        p->state = get_u32(&c);
        p->restarts = get_u32(&c);
        p->restarts_asked = get_u32(&c);
        p->last_exit = get_string(&c, KOS__SYS_EXIT_MAX);
    }
    out->store = get_u32(&c);
    out->generation = get_u32(&c);
    out->n_gens = get_u32(&c);
    if (c.bad || out->n_gens > KOS__SYS_MAX_GENS)
        return KOS_STATUS_PROTOCOL;
    for (uint32_t i = 0; i < out->n_gens && !c.bad; i++) {
        struct kos__sys_gen *g = &out->gens[i];
        g->n = get_u32(&c);
        g->flags = get_u32(&c);
        g->state = get_u32(&c);
        g->tries = get_u32(&c);
        g->release = get_u32(&c);
        g->created = get_u64(&c);
        g->signer = get_string(&c, KOS__SYS_SIGNER_MAX);
    }
    /* An older Core ends the record here. */
    if (!c.bad && c.pos < len)
        for (uint32_t i = 0; i < out->n_gens; i++)
            out->gens[i].overlay = get_u32(&c);
    if (c.bad || !status_ok(out))
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* ---- RESULT ---- */

static bool result_ok(const struct kos__sys_result *r)
{
    return r->status < KOS_STATUS__COUNT && r->message &&
           printable_ok(r->message, KOS__SYS_MESSAGE_MAX);
}

kos_status_t kos__sys_result_encode(const struct kos__sys_result *r, void *buf, size_t cap,
                                    size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (!result_ok(r))
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, r->id);
    put_u32(&c, r->status);
    put_string(&c, r->message, KOS__SYS_MESSAGE_MAX);
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

kos_status_t kos__sys_result_decode(const void *body, size_t len, struct kos__sys_result *out)
{
    struct cursor c = {.r = body, .cap = len};

    out->id = get_u32(&c);
    out->status = get_u32(&c);
    out->message = get_string(&c, KOS__SYS_MESSAGE_MAX);
    if (c.bad || !result_ok(out))
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* ---- STORE_NEEDS ---- */

kos_status_t kos__sys_needs_encode(const struct kos__sys_needs *n, void *buf, size_t cap,
                                   size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (!n->message || !printable_ok(n->message, KOS__SYS_MESSAGE_MAX) ||
        n->n > KOS__SYS_NEED_MAX || (n->status != KOS_STATUS_OK && n->n))
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, n->id);
    put_u32(&c, n->status);
    put_string(&c, n->message, KOS__SYS_MESSAGE_MAX);
    put_u32(&c, n->same);
    put_u32(&c, n->n);
    for (uint32_t i = 0; i < n->n; i++) {
        put_bytes(&c, n->need[i].sha256, 32);
        put_u64(&c, n->need[i].have);
    }
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

kos_status_t kos__sys_needs_decode(const void *body, size_t len, struct kos__sys_needs *out)
{
    struct cursor c = {.r = body, .cap = len};

    out->id = get_u32(&c);
    out->status = get_u32(&c);
    out->message = get_string(&c, KOS__SYS_MESSAGE_MAX);
    out->same = get_u32(&c);
    out->n = get_u32(&c);
    if (out->n > KOS__SYS_NEED_MAX || (out->status != KOS_STATUS_OK && out->n) ||
        (out->message && !printable_ok(out->message, KOS__SYS_MESSAGE_MAX)))
        c.bad = true;
    for (uint32_t i = 0; !c.bad && i < out->n; i++) {
        const uint8_t *sha = get_bytes(&c, 32);
        if (sha)
            memcpy(out->need[i].sha256, sha, 32);
        out->need[i].have = get_u64(&c);
        if (out->need[i].have > KOS__SYS_BLOB_MAX)
            c.bad = true;
    }
    if (c.bad)
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* ---- CONSOLE ---- */

kos_status_t kos__sys_line_encode(const struct kos__sys_line *l, void *buf, size_t cap, size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (!kos__name_valid(l->name, strnlen(l->name, KOS__NAME_MAX)) || !l->text ||
        !printable_ok(l->text, KOS__SYS_TEXT_MAX))
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u64(&c, l->time_ns);
    put_u32(&c, l->dropped);
    put_name(&c, l->name);
    put_string(&c, l->text, KOS__SYS_TEXT_MAX);
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

kos_status_t kos__sys_line_decode(const void *body, size_t len, struct kos__sys_line *out)
{
    struct cursor c = {.r = body, .cap = len};

    out->time_ns = get_u64(&c);
    out->dropped = get_u32(&c);
    get_name(&c, out->name);
    out->text = get_string(&c, KOS__SYS_TEXT_MAX);
    if (c.bad || !printable_ok(out->text, KOS__SYS_TEXT_MAX))
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* ---- TRACES ---- */

/* A name field that may be empty. */
static bool name_or_empty(const char *s)
{
    size_t n = strnlen(s, KOS__NAME_MAX);
    return n == 0 || kos__name_valid(s, n);
}

static bool trace_ok(const struct kos__sys_trace *r)
{
    bool call = r->kind == KOS__TRACE_CALL || r->kind == KOS__TRACE_SERVE;

    return (call || kos__trace_kind_dir(r->kind)) && r->status < KOS_STATUS__COUNT &&
           kos__name_valid(r->app, strnlen(r->app, KOS__NAME_MAX)) &&
           kos__name_valid(r->server, strnlen(r->server, KOS__NAME_MAX)) &&
           name_or_empty(r->peer) && name_or_empty(r->protocol);
}

kos_status_t kos__sys_traces_encode(const struct kos__sys_traces *t, void *buf, size_t cap,
                                    size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (t->n > KOS__SYS_TRACE_BATCH)
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u64(&c, t->lost);
    put_u32(&c, t->n);
    for (uint32_t i = 0; i < t->n; i++) {
        const struct kos__sys_trace *r = &t->r[i];
        if (!trace_ok(r))
            return KOS_STATUS_INVALID_ARGUMENT;
        put_u32(&c, r->kind);
        put_u32(&c, r->status);
        put_u32(&c, r->label);
        put_u32(&c, r->channel);
        put_u32(&c, r->req_len);
        put_u32(&c, r->rep_len);
        put_u64(&c, r->time_ns);
        put_u64(&c, r->dur_ns);
        put_string(&c, r->app, KOS__NAME_MAX);
        put_string(&c, r->server, KOS__NAME_MAX);
        put_string(&c, r->peer, KOS__NAME_MAX);
        put_string(&c, r->protocol, KOS__NAME_MAX);
    }
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

/* ---- TABLE ---- */

static bool word_in(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, words[i]))
            return true;
    return false;
}

/* Whether row `cell` holds what a table of `kind` says its cells hold. */
static bool row_ok(uint32_t kind, const char *const *cell)
{
    static const char *const grant_kinds[] = {"publish", "request"};
    static const char *const key_types[] = {"ed25519", "x25519", "x509", "text"};
    static const char *const key_holds[] = {"private", "public", "item"};

    for (uint32_t i = 0; i < KOS__SYS_TABLE_CELLS; i++)
        if (!cell[i] || strnlen(cell[i], KOS__NAME_MAX) >= KOS__NAME_MAX)
            return false;
    if (!kos__name_valid(cell[0], strlen(cell[0])))
        return false;
    if (kind == KOS__SYS_TABLE_GRANTS)
        return kos__name_valid(cell[1], strlen(cell[1])) && word_in(cell[2], grant_kinds, 2) &&
               kos__name_valid(cell[3], strlen(cell[3]));
    return word_in(cell[1], key_types, 4) && (!strcmp(cell[2], "-") || hex_ok(cell[2], 16)) &&
           word_in(cell[3], key_holds, 3);
}

static bool table_ok(const struct kos__sys_table *t)
{
    if (!table_kind_ok(t->kind) || t->n_total > KOS__SYS_TABLE_MAX_ROWS ||
        t->n_rows > KOS__SYS_TABLE_PAGE_ROWS || t->first > t->n_total ||
        t->n_rows > t->n_total - t->first)
        return false;
    for (uint32_t r = 0; r < t->n_rows; r++)
        if (!row_ok(t->kind, t->cell[r]))
            return false;
    return true;
}

kos_status_t kos__sys_table_encode(const struct kos__sys_table *t, void *buf, size_t cap,
                                   size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (!table_ok(t))
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, t->id);
    put_u32(&c, t->kind);
    put_u32(&c, t->n_total);
    put_u32(&c, t->first);
    put_u32(&c, t->n_rows);
    for (uint32_t r = 0; r < t->n_rows; r++)
        for (uint32_t i = 0; i < KOS__SYS_TABLE_CELLS; i++)
            put_string(&c, t->cell[r][i], KOS__NAME_MAX);
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

/* Reads a string field of at most KOS__NAME_MAX bytes with its NUL into
 * dst; its validity is checked with the whole record. */
static void get_field(struct cursor *c, char *dst)
{
    const char *s = get_string(c, KOS__NAME_MAX);

    if (s)
        memcpy(dst, s, strlen(s) + 1);
    else
        dst[0] = '\0';
}

kos_status_t kos__sys_traces_decode(const void *body, size_t len, struct kos__sys_traces *out)
{
    struct cursor c = {.r = body, .cap = len};

    out->lost = get_u64(&c);
    out->n = get_u32(&c);
    if (c.bad || out->n > KOS__SYS_TRACE_BATCH)
        return KOS_STATUS_PROTOCOL;
    for (uint32_t i = 0; i < out->n && !c.bad; i++) {
        struct kos__sys_trace *r = &out->r[i];
        r->kind = get_u32(&c);
        r->status = get_u32(&c);
        r->label = get_u32(&c);
        r->channel = get_u32(&c);
        r->req_len = get_u32(&c);
        r->rep_len = get_u32(&c);
        r->time_ns = get_u64(&c);
        r->dur_ns = get_u64(&c);
        get_field(&c, r->app);
        get_field(&c, r->server);
        get_field(&c, r->peer);
        get_field(&c, r->protocol);
        if (!c.bad && !trace_ok(r))
            c.bad = true;
    }
    if (c.bad)
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

kos_status_t kos__sys_table_decode(const void *body, size_t len, struct kos__sys_table *out)
{
    struct cursor c = {.r = body, .cap = len};

    out->id = get_u32(&c);
    out->kind = get_u32(&c);
    out->n_total = get_u32(&c);
    out->first = get_u32(&c);
    out->n_rows = get_u32(&c);
    if (c.bad || out->n_rows > KOS__SYS_TABLE_PAGE_ROWS)
        return KOS_STATUS_PROTOCOL;
    for (uint32_t r = 0; r < out->n_rows && !c.bad; r++)
        for (uint32_t i = 0; i < KOS__SYS_TABLE_CELLS; i++)
            out->cell[r][i] = get_string(&c, KOS__NAME_MAX);
    if (c.bad || !table_ok(out))
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* ---- the managing app's side ---- */

kos_status_t kos__sys_send(kos_app_t *app, const struct kos__sys_request *r)
{
    uint8_t buf[16 + KOS__SYS_REASON_MAX + KOS__NAME_MAX];
    size_t len;
    kos_status_t st = kos__sys_request_encode(r, buf, sizeof(buf), &len);

    if (st)
        return st;
    return kos__ctl_send(kos_app_fd(app), r->type, buf, len, -1);
}

kos_status_t kos__sys_receive(kos_app_t *app, void *buf, size_t cap, struct kos__sys_msg *m)
{
    size_t len;
    kos_status_t st = kos__app_ctl_take_fd(app, buf, cap, &m->type, &len, &m->fd);

    if (m->fd >= 0 && (st || m->type != KOS__CTL_SYS_RESULT)) {
        close(m->fd); /* only a RESULT carries one */
        m->fd = -1;
    }
    if (st)
        return st;
    switch (m->type) {
    case KOS__CTL_STOP:
        return len == 0 ? KOS_STATUS_OK : KOS_STATUS_PROTOCOL;
    case KOS__CTL_SYS_CHANGED:
        return len == 0 ? KOS_STATUS_OK : KOS_STATUS_PROTOCOL;
    case KOS__CTL_SYS_STATUS:
        return kos__sys_status_decode(buf, len, &m->u.status);
    case KOS__CTL_SYS_RESULT:
        st = kos__sys_result_decode(buf, len, &m->u.result);
        if (st && m->fd >= 0) {
            close(m->fd);
            m->fd = -1;
        }
        return st;
    case KOS__CTL_SYS_CONSOLE:
        return kos__sys_line_decode(buf, len, &m->u.line);
    case KOS__CTL_SYS_TRACES:
        return kos__sys_traces_decode(buf, len, &m->u.traces);
    case KOS__CTL_SYS_TABLE:
        return kos__sys_table_decode(buf, len, &m->u.table);
    case KOS__CTL_SYS_STORE_NEEDS:
        return kos__sys_needs_decode(buf, len, &m->u.needs);
    default:
        return kos__sys_unknown(m->type) ? KOS_STATUS_UNSUPPORTED : KOS_STATUS_PROTOCOL;
    }
}
