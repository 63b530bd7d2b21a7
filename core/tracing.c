/*
 * tracing.c - message tracing (docs/messages.md, "Tracing"): each process's ring,
 * switched on and off, drained to the managing app within its credit.
 */
#include "core_int.h"

/* ---- message tracing (docs/messages.md, "Tracing") ---- */

/* Whether any app Core traces kos__core_uses message server s: then s records the
 * directory events about those apps, and its ring is on. */
static bool trace_server_needed(const struct core *c, uint32_t s)
{
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (!p->traced)
            continue;
        uint32_t srv[KOS__BOOT_MAX_DIRS], n = kos__core_servers_of(c, p, srv);
        for (uint32_t k = 0; k < n; k++)
            if (srv[k] == s)
                return true;
    }
    return false;
}

/* Sets every message server's ring on or off as its apps need it. */
static void trace_servers_update(struct core *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *s = &c->procs[i];
        if (!is_server(s) || !s->trace)
            continue;
        bool on = trace_server_needed(c, i);
        if (!on && atomic_load_explicit(&s->trace->on, memory_order_relaxed))
            s->trace_flush = true;
        atomic_store_explicit(&s->trace->on, on, memory_order_relaxed);
    }
}

/* Message server s's bit in p->trace_wait: its place among p's servers
 * (kos__core_servers_of()), or 0 if p does not use it. */
static uint32_t server_bit(const struct core *c, const struct proc *p, uint32_t s)
{
    uint32_t list[KOS__BOOT_MAX_DIRS], n = kos__core_servers_of(c, p, list);

    for (uint32_t k = 0; k < n; k++)
        if (list[k] == s)
            return 1u << k;
    return 0;
}

/* Tells message server s whether to record the directory events about app
 * p (KOS__CTL_TRACE). A server that is not running learns it with p's
 * grants when it starts again (kos__core_send_grants). When on, p's ring
 * is not drained until s answers that it recorded what p holds now
 * (kos__core_trace_done). */
void kos__core_trace_tell(struct core *c, struct proc *p, uint32_t s, bool on)
{
    struct proc *srv = &c->procs[s];
    uint8_t body[12];

    if (srv->state != P_RUNNING || srv->ctl < 0)
        return;
    kos__put_le32(body, p->idx);
    kos__put_le32(body + 4, on ? 1u : 0u);
    kos__put_le32(body + 8, p->trace_seq);
    /* Twelve bytes on a channel the server reads in every turn: no room
     * means it does not read, and its directory events go unrecorded. */
    if (kos__ctl_send_nowait(srv->ctl, KOS__CTL_TRACE, body, sizeof(body)) != KOS_STATUS_OK) {
        kos__core_say_sys(
            c,
            "message server '%s' has no room on its control channel: it does not record "
            "app '%s''s directory events",
            srv->name, p->name);
        return;
    }
    if (on)
        p->trace_wait |= server_bit(c, p, s);
}

/* Message server srv answers a KOS__CTL_TRACE on (its body is in
 * c->ctlbuf): once every server of the app has, its ring is switched on
 * (if tracing was, and is still, waiting for that) and drained. An answer
 * to an earlier telling, or about an app it does not serve, changes
 * nothing. Returns false if the message is malformed. */
bool kos__core_trace_done(struct core *c, struct proc *srv, size_t len)
{
    uint32_t bit, idx, seq;

    if (len != 8)
        return false;
    idx = kos__get_le32(c->ctlbuf);
    seq = kos__get_le32(c->ctlbuf + 4);
    if (idx >= c->n)
        return false;
    struct proc *p = &c->procs[idx];
    if (is_server(p) || seq != p->trace_seq || !p->trace_wait)
        return true;
    bit = server_bit(c, p, srv->idx);
    if (!bit)
        return true;
    p->trace_wait &= ~bit;
    if (!p->trace_wait && p->traced) {
        if (p->trace)
            atomic_store_explicit(&p->trace->on, true, memory_order_relaxed);
        c->trace_next_us = now_us();
    }
    return true;
}

/* Tells each message server of app p whether p is traced, as a new
 * telling: answers to an earlier one no longer count. */
static void trace_tell_all(struct core *c, struct proc *p, bool on)
{
    uint32_t srv[KOS__BOOT_MAX_DIRS], n = kos__core_servers_of(c, p, srv);

    p->trace_seq++;
    p->trace_wait = 0;
    for (uint32_t k = 0; k < n; k++)
        kos__core_trace_tell(c, p, srv[k], on);
}

/* Turns one ring record into what the managing app gets, with Core's names:
 * the ring's process for its calls, the message server's word (app ids it
 * was given by Core) for directory events. False if it names what Core does
 * not know. */
static bool trace_convert(const struct core *c, const struct proc *p,
                          const struct kos__trace_rec *r, int64_t wall_minus_mono,
                          struct kos__sys_trace *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = r->kind;
    out->status = r->status;
    out->label = r->label;
    out->channel = r->channel;
    out->req_len = r->req_len;
    out->rep_len = r->rep_len;
    out->time_ns = (uint64_t)((int64_t)r->time_ns + wall_minus_mono);
    out->dur_ns = r->dur_ns;
    if (!is_server(p)) {
        if (r->dir >= p->n_srv)
            return false;
        snprintf(out->app, sizeof(out->app), "%s", p->name);
        snprintf(out->server, sizeof(out->server), "%s", c->procs[p->srv[r->dir]].name);
        return true;
    }
    if (r->app_id >= c->n || is_server(&c->procs[r->app_id]))
        return false;
    snprintf(out->app, sizeof(out->app), "%s", c->procs[r->app_id].name);
    snprintf(out->server, sizeof(out->server), "%s", p->name);
    if (r->peer_id != UINT32_MAX) {
        if (r->peer_id >= c->n)
            return false;
        snprintf(out->peer, sizeof(out->peer), "%s", c->procs[r->peer_id].name);
    }
    snprintf(out->protocol, sizeof(out->protocol), "%s", r->name);
    return true;
}

/* Sends one batch of process p's records, if the managing app's credit
 * allows. Returns whether it took anything out of the ring. */
static bool trace_send_from(struct core *c, struct proc *m, struct proc *p, int64_t wall_minus_mono)
{
    struct kos__trace_reader saved = p->trd;
    uint64_t lost = 0;
    uint32_t max = c->trace_credit < KOS__SYS_TRACE_BATCH ? c->trace_credit : KOS__SYS_TRACE_BATCH;
    size_t n, len;

    if (max == 0)
        return false;
    n = kos__trace_take(p->trace, &p->trd, is_server(p), is_server(p) ? 0 : p->n_srv, c->trace_recs,
                        max, &lost);
    struct kos__sys_traces *t = c->trace_out;
    t->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (trace_convert(c, p, &c->trace_recs[i], wall_minus_mono, &t->r[t->n]))
            t->n++;
        else
            lost++;
    }
    if (t->n == 0 && lost == 0 && p->trd.tail == saved.tail) {
        p->trd = saved;
        return false;
    }
    t->lost = c->trace_lost + lost;
    if (t->n == 0) {
        /* Only losses: counted now, said with the next batch. */
        c->trace_lost = t->lost;
        kos__trace_commit(p->trace, &p->trd);
        return p->trd.tail != saved.tail;
    }
    if (kos__sys_traces_encode(t, c->sysout, KOS__CTL_MAX, &len) != KOS_STATUS_OK ||
        kos__ctl_send_nowait(m->ctl, KOS__CTL_SYS_TRACES, c->sysout, len) != KOS_STATUS_OK) {
        /* No room now: the records stay in the ring for the next drain. */
        p->trd = saved;
        return false;
    }
    kos__trace_commit(p->trace, &p->trd);
    c->trace_lost = 0;
    c->trace_credit -= t->n;
    return true;
}

/* Drains the rings of the traced apps and of the message servers that
 * record for them (servers first, so that a channel's grant goes before
 * the calls on it) into the managing app, within its credit. What does not
 * fit stays in the rings, where the processes count what they cannot
 * write: nothing piles up in Core. */
void kos__core_trace_pump(struct core *c)
{
    struct timespec mono, wall;
    struct proc *m;

    if (c->manager < 0 || !c->trace_sub)
        return;
    m = &c->procs[c->manager];
    if (m->ctl < 0 || m->state != P_RUNNING)
        return;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t wall_minus_mono = ((int64_t)wall.tv_sec - (int64_t)mono.tv_sec) * 1000000000 +
                              ((int64_t)wall.tv_nsec - (int64_t)mono.tv_nsec);
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < c->n && c->trace_credit > 0; i++) {
            struct proc *p = &c->procs[i];
            if (!p->trace || is_server(p) != (pass == 0))
                continue;
            bool wanted = is_server(p) ? atomic_load_explicit(&p->trace->on, memory_order_relaxed)
                                       : p->traced;
            if ((!wanted && !p->trace_flush) || p->trace_wait)
                continue;
            while (c->trace_credit > 0 && trace_send_from(c, m, p, wall_minus_mono))
                ;
            if (!wanted && !kos__trace_pending(p->trace, &p->trd))
                p->trace_flush = false;
        }
    }
}

/* When the rings are drained next, or UINT64_MAX when none needs it. */
uint64_t kos__core_trace_due(const struct core *c)
{
    if (!c->trace_sub || c->trace_credit == 0)
        return UINT64_MAX;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].trace && (c->procs[i].traced || c->procs[i].trace_flush ||
                                  (is_server(&c->procs[i]) && c->n_traced)))
            return c->trace_next_us;
    return UINT64_MAX;
}

/* The managing app switches tracing on or off for an app. */
void kos__core_sys_trace_set(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct proc *p = NULL;

    for (uint32_t i = 0; i < c->n; i++)
        if (!strcmp(c->procs[i].name, rq->app))
            p = &c->procs[i];
    if (!p) {
        kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_NOT_FOUND,
                             "no app '%s' in this system", rq->app);
        return;
    }
    if (is_server(p)) {
        kos__core_sys_result(
            c, from->idx, from->starts, rq->id, KOS_STATUS_INVALID_ARGUMENT,
            "'%s' is a message server: its directory events are traced with the apps "
            "they are about",
            p->name);
        return;
    }
    if (p->traced != (rq->on != 0)) {
        p->traced = rq->on != 0;
        c->n_traced += p->traced ? 1u : (uint32_t)-1;
        if (p->trace) {
            if (p->traced) /* only what it records from now on */
                kos__trace_skip(p->trace, &p->trd);
            else
                p->trace_flush = true;
            atomic_store_explicit(&p->trace->on, false, memory_order_relaxed);
        }
        trace_servers_update(c);
        trace_tell_all(c, p, p->traced);
        /* On once its servers have recorded what it holds (at once if it
         * has none running): its first call comes after its channels'
         * grants, in time as in order. */
        if (p->trace && p->traced && !p->trace_wait)
            atomic_store_explicit(&p->trace->on, true, memory_order_relaxed);
        c->trace_next_us = now_us();
    }
    kos__core_say_sys(c, "app '%s' asked to trace the calls of app '%s' %s", from->name, p->name,
                      p->traced ? "from now on" : "no more");
    kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_OK, "tracing app '%s' %s",
                         p->name, p->traced ? "on" : "off");
}

/* The managing app gives trace credit: the first subscribes it, and the
 * message servers are told again of every traced app, so that they record
 * the channels those apps hold (a new subscriber knows none). */
void kos__core_sys_trace_credit(struct core *c, uint32_t credit)
{
    if (!c->trace_sub) {
        c->trace_sub = true;
        c->trace_credit = 0;
        for (uint32_t i = 0; i < c->n; i++)
            if (c->procs[i].traced)
                trace_tell_all(c, &c->procs[i], true);
    }
    c->trace_credit = c->trace_credit + credit > KOS__SYS_TRACE_WINDOW ? KOS__SYS_TRACE_WINDOW
                                                                       : c->trace_credit + credit;
    kos__core_trace_pump(c);
}

/* Process p starts: its ring is made the first time (without one, it just
 * records nothing), what the last run left is drained, and it starts empty,
 * on if p is traced (or, for a message server, needed). Returns the ring's
 * descriptor for the boot record, or -1. */
int kos__core_trace_prepare(struct core *c, struct proc *p)
{
    if (!p->trace) {
        kos_status_t st = kos__trace_create(&p->trace_fd, &p->trace);
        if (st) {
            say(c, "%s '%s' starts without a tracing ring: %s", kind(p), p->name,
                kos_status_str(st));
            p->trace = NULL;
            p->trace_fd = -1;
            return -1;
        }
    }
    kos__core_trace_pump(c);
    bool on = is_server(p) ? trace_server_needed(c, p->idx) : p->traced;
    if (p->traced || p->trace_flush) {
        /* What the last run recorded and Core could not pass on yet. */
        uint32_t left = atomic_load_explicit(&p->trace->head, memory_order_relaxed) - p->trd.tail;
        c->trace_lost += left > KOS__TRACE_SLOTS ? KOS__TRACE_SLOTS : left;
    }
    kos__trace_reset(p->trace, &p->trd, on);
    p->trace_flush = false;
    return p->trace_fd;
}
