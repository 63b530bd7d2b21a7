/*
 * agent.c - admin's side of the link's admin and logs channels
 * (docs/link.md, "Admin" and "Logs"): Register once per link, Health on
 * change and every health_every, a CommandResult for every command, and
 * the log records in LogBatches. See admin.h for what stays true.
 *
 * Commands go to Core through the ops (Core's system interface, lib/sys_int.h)
 * with an id of the agent's; Core's answer comes back through
 * admin_agent_core_result() and becomes the command's CommandResult.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kos/log.h>

#include "admin.h"
#include "admin.pb-c.h"

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Says why a message from the server was refused, within the budget; the
 * next line says how many were left out. */
static void refuse(struct admin_agent *a, uint64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(struct admin_agent *a, uint64_t now_ms, const char *fmt, ...)
{
    unsigned long quiet;
    char text[256];
    va_list ap;

    a->refused++;
    if (!kos__budget_take(&a->refusal_log, ADMIN_REFUSAL_LOG_BURST, ADMIN_REFUSAL_LOG_EVERY_MS,
                          now_ms, &quiet))
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (quiet)
        kos_log_warn("%s (and %lu more refused messages not logged)", text, quiet);
    else
        kos_log_warn("%s", text);
}

bool admin_agent_init(struct admin_agent *a, const struct admin_config *cfg,
                      const struct admin_ops *ops, uint64_t next_seq, uint64_t now_ms)
{
    memset(a, 0, sizeof(*a));
    a->ops = *ops;
    a->cfg = *cfg;
    a->next_seq = next_seq ? next_seq : 1;
    a->next_core_id = 1;
    a->refusal_log = (struct kos__budget){.credit = ADMIN_REFUSAL_LOG_BURST,
                                          .refill_ms = now_ms + ADMIN_REFUSAL_LOG_EVERY_MS};
    a->state = calloc(1, sizeof(*a->state));
    a->told = calloc(1, sizeof(*a->told));
    a->buf = malloc(KOS_TUNNEL_DATA_MAX);
    if (!a->state || !a->told || !a->buf || !admin_logq_init(&a->logq, cfg->offline_buffer) ||
        !admin_traceq_init(&a->traceq)) {
        admin_agent_fini(a);
        return false;
    }
    return true;
}

void admin_agent_fini(struct admin_agent *a)
{
    for (size_t i = 0; i < a->upq_n; i++)
        free(a->upq[(a->upq_head + i) % ADMIN_UP_QUEUE].data);
    admin_logq_fini(&a->logq);
    admin_traceq_fini(&a->traceq);
    free(a->state);
    free(a->told);
    free(a->buf);
    memset(a, 0, sizeof(*a));
}

/* ---- the state ---- */

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

bool admin_state_take(struct admin_state *s, const struct kos__sys_status *page)
{
    if (page->first == 0) {
        copy_str(s->system, sizeof(s->system), page->system);
        copy_str(s->manifest, sizeof(s->manifest), page->manifest);
        copy_str(s->signer, sizeof(s->signer), page->signer);
        copy_str(s->platform, sizeof(s->platform), page->platform);
        copy_str(s->version, sizeof(s->version), page->version);
        copy_str(s->self_test_text, sizeof(s->self_test_text), page->self_test_summary);
        s->boot_time_ns = page->boot_time_ns;
        s->uptime_ms = page->uptime_ms;
        s->boots = page->boots;
        s->self_test = page->self_test;
        s->mem_total = page->mem_total;
        s->mem_used = page->mem_used;
        s->storage_total = page->storage_total;
        s->storage_used = page->storage_used;
        s->n_apps = 0;
        s->store = page->store != 0;
        s->generation = page->generation;
        s->n_gens = 0;
        for (uint32_t i = 0; i < page->n_gens && i < KOS__SYS_MAX_GENS; i++) {
            const struct kos__sys_gen *g = &page->gens[i];
            struct admin_gen *o = &s->gens[s->n_gens++];
            o->n = g->n;
            o->flags = g->flags;
            o->state = g->state;
            o->tries = g->tries;
            o->release = g->release;
            o->overlay = g->overlay;
            o->created = g->created;
            copy_str(o->signer, sizeof(o->signer), g->signer);
        }
    }
    for (uint32_t i = 0; i < page->n_procs && page->first + i < KOS__SYS_MAX_PROCS; i++) {
        const struct kos__sys_proc *p = &page->procs[i];
        struct admin_app *app = &s->apps[page->first + i];
        copy_str(app->name, sizeof(app->name), p->name);
        copy_str(app->last_exit, sizeof(app->last_exit), p->last_exit);
        app->role = p->role;
        app->state = p->state;
        app->restarts = p->restarts;
        app->restarts_asked = p->restarts_asked;
    }
    s->n_apps = page->first + page->n_procs;
    return page->n_procs == 0 || s->n_apps >= page->n_total;
}

/* Whether the apps or the self test differ between two states: what a
 * Health on change is for (uptime and memory change all the time). */
static bool state_differs(const struct admin_state *x, const struct admin_state *y)
{
    if (x->n_apps != y->n_apps || x->self_test != y->self_test || x->boots != y->boots ||
        strcmp(x->self_test_text, y->self_test_text) || x->store != y->store ||
        x->generation != y->generation || x->n_gens != y->n_gens)
        return true;
    for (uint32_t i = 0; i < x->n_gens; i++) {
        const struct admin_gen *p = &x->gens[i], *q = &y->gens[i];
        if (p->n != q->n || p->flags != q->flags || p->state != q->state || p->tries != q->tries ||
            p->release != q->release || p->overlay != q->overlay)
            return true;
    }
    for (uint32_t i = 0; i < x->n_apps; i++) {
        const struct admin_app *p = &x->apps[i], *q = &y->apps[i];
        if (strcmp(p->name, q->name) || p->state != q->state || p->restarts != q->restarts ||
            strcmp(p->last_exit, q->last_exit))
            return true;
    }
    return false;
}

/* ---- packing what goes up ---- */

/* What a Health says of the boot store: the messages it points to, filled
 * from a state by fill_store(). */
struct health_store {
    Kos__Admin__BootStore store;
    Kos__Admin__Generation gens[KOS__SYS_MAX_GENS];
    Kos__Admin__Generation *ptrs[KOS__SYS_MAX_GENS];
};

/* The generations of state s into *hs and h: every marked one (current,
 * good, running) and the newest `others` of the rest, oldest first.
 * Returns how many are left out. */
static uint32_t fill_store(const struct admin_state *s, struct health_store *hs,
                           Kos__Admin__Health *h, uint32_t others)
{
    uint32_t n = 0, skipped = 0;

    kos__admin__boot_store__init(&hs->store);
    hs->store.running = s->generation;
    /* Which to show: from the newest back. */
    bool show[KOS__SYS_MAX_GENS] = {false};
    for (uint32_t i = s->n_gens; i > 0; i--) {
        if (s->gens[i - 1].flags || others) {
            if (!s->gens[i - 1].flags)
                others--;
            show[i - 1] = true;
        } else {
            skipped++;
        }
    }
    for (uint32_t i = 0; i < s->n_gens; i++) {
        const struct admin_gen *g = &s->gens[i];
        if (!show[i])
            continue;
        Kos__Admin__Generation *o = &hs->gens[n];
        kos__admin__generation__init(o);
        o->number = g->n;
        o->current = (g->flags & KOS__SYS_GEN_CURRENT) != 0;
        o->good = (g->flags & KOS__SYS_GEN_GOOD) != 0;
        o->running = (g->flags & KOS__SYS_GEN_RUNNING) != 0;
        o->state = (char *)kos__sys_gen_state_name(g->state);
        o->tries = g->tries;
        o->release = g->release;
        o->overlay = g->overlay;
        o->signer = (char *)g->signer;
        o->created = g->created;
        hs->ptrs[n++] = o;
    }
    hs->store.generations = hs->ptrs;
    hs->store.n_generations = n;
    h->store = s->store ? &hs->store : NULL;
    return skipped;
}

/* The Health of state s, its apps pointing into apps[] (n_apps of them at
 * most); "passed" for a passed self test, Core's words otherwise. */
static void fill_health(const struct admin_agent *a, const struct admin_state *s,
                        Kos__Admin__Health *h, Kos__Admin__App *apps, Kos__Admin__App **ptrs,
                        uint32_t n_apps)
{
    kos__admin__health__init(h);
    h->time_ns = (uint64_t)wall_ns();
    h->uptime_ms = s->uptime_ms;
    h->mem_total = s->mem_total;
    h->mem_used = s->mem_used;
    h->storage_total = s->storage_total;
    h->storage_used = s->storage_used;
    h->self_test = s->self_test == KOS__SYS_SELF_TEST_PASSED ? "passed" : (char *)s->self_test_text;
    h->logs_dropped = a->logq.dropped_total;
    h->remote_debug = a->cfg.remote_debug;
    for (uint32_t i = 0; i < n_apps; i++) {
        const struct admin_app *p = &s->apps[i];
        kos__admin__app__init(&apps[i]);
        apps[i].name = (char *)p->name;
        apps[i].kind = p->role == KOS__ROLE_MSG_SERVER ? "message server" : "app";
        apps[i].state = (char *)kos__sys_state_name(p->state);
        apps[i].restarts = p->restarts;
        apps[i].last_exit = (char *)p->last_exit;
        ptrs[i] = &apps[i];
    }
    h->apps = ptrs;
    h->n_apps = n_apps;
}

/* Packs a Register (register_ true) or a Health of the current state into
 * a->buf, with as many apps as fit KOS_TUNNEL_DATA_MAX. Returns its length,
 * 0 if out of memory. */
static size_t pack_state(struct admin_agent *a, bool register_)
{
    const struct admin_state *s = a->state;
    Kos__Admin__AdminUp up = KOS__ADMIN__ADMIN_UP__INIT;
    Kos__Admin__Register reg = KOS__ADMIN__REGISTER__INIT;
    Kos__Admin__Health h;
    Kos__Admin__App *apps = calloc(s->n_apps ? s->n_apps : 1, sizeof(*apps));
    Kos__Admin__App **ptrs = calloc(s->n_apps ? s->n_apps : 1, sizeof(*ptrs));
    struct health_store *hs = malloc(sizeof(*hs));
    uint32_t n = s->n_apps;
    size_t len = 0;

    if (!apps || !ptrs || !hs)
        goto out;
    if (register_) {
        reg.system = (char *)s->system;
        reg.manifest_sha256 = (char *)s->manifest;
        reg.signer = (char *)s->signer;
        reg.kos_version = (char *)s->version;
        reg.platform = (char *)s->platform;
        reg.boot_time_ns = s->boot_time_ns;
        reg.health = &h;
        up.body_case = KOS__ADMIN__ADMIN_UP__BODY_REGISTER;
        up.register_ = &reg;
    } else {
        up.body_case = KOS__ADMIN__ADMIN_UP__BODY_HEALTH;
        up.health = &h;
    }
    /* A store too large for one message: its marked generations and the
     * newest others; then, a system too large: its first apps. */
    uint32_t others = s->n_gens, left_out = 0;
    for (;;) {
        fill_health(a, s, &h, apps, ptrs, n);
        left_out = fill_store(s, hs, &h, others);
        if (kos__admin__admin_up__get_packed_size(&up) <= KOS_TUNNEL_DATA_MAX)
            break;
        if (others > 0)
            others = others > 8 ? others - 8 : 0;
        else if (n > 0)
            n--;
        else
            break;
    }
    if (n < s->n_apps)
        kos_log_warn("%s: %u of the system's %u processes fit in one message",
                     register_ ? "register" : "health", n, s->n_apps);
    if (left_out)
        kos_log_warn("%s: %u of the boot store's %u generations fit in one message",
                     register_ ? "register" : "health", s->n_gens - left_out, s->n_gens);
    if (kos__admin__admin_up__get_packed_size(&up) <= KOS_TUNNEL_DATA_MAX)
        len = kos__admin__admin_up__pack(&up, a->buf);
out:
    free(apps);
    free(ptrs);
    free(hs);
    return len;
}

/* Queues a CommandResult for the link. The oldest goes when the queue is
 * full (it cannot be: results come from commands, bounded by
 * ADMIN_COMMANDS_MAX, each answered once). */
static void queue_result(struct admin_agent *a, uint64_t id, uint32_t status, const char *msg)
{
    Kos__Admin__AdminUp up = KOS__ADMIN__ADMIN_UP__INIT;
    Kos__Admin__CommandResult r = KOS__ADMIN__COMMAND_RESULT__INIT;
    char text[KOS__SYS_MESSAGE_MAX];
    uint8_t *data;
    size_t len;

    snprintf(text, sizeof(text), "%s", msg);
    r.id = id;
    r.status = status;
    r.message = text;
    up.body_case = KOS__ADMIN__ADMIN_UP__BODY_RESULT;
    up.result = &r;
    len = kos__admin__admin_up__get_packed_size(&up);
    data = malloc(len ? len : 1);
    if (!data) {
        kos_log_error("out of memory: the result of command %llu is lost", (unsigned long long)id);
        return;
    }
    kos__admin__admin_up__pack(&up, data);
    if (a->upq_n == ADMIN_UP_QUEUE) {
        free(a->upq[a->upq_head].data);
        a->upq_head = (a->upq_head + 1) % ADMIN_UP_QUEUE;
        a->upq_n--;
        kos_log_warn("too many command results waiting for the link: the oldest is lost");
    }
    a->upq[(a->upq_head + a->upq_n) % ADMIN_UP_QUEUE].data = data;
    a->upq[(a->upq_head + a->upq_n) % ADMIN_UP_QUEUE].len = len;
    a->upq_n++;
}

void admin_agent_result(struct admin_agent *a, uint64_t id, uint32_t status, const char *msg)
{
    queue_result(a, id, status, msg);
}

void admin_agent_progress(struct admin_agent *a, uint64_t id, const char *stage, uint64_t done,
                          uint64_t total, uint32_t blobs)
{
    Kos__Admin__AdminUp up = KOS__ADMIN__ADMIN_UP__INIT;
    Kos__Admin__UpgradeProgress pr = KOS__ADMIN__UPGRADE_PROGRESS__INIT;
    uint8_t *data;
    size_t len;

    pr.command = id;
    pr.stage = (char *)stage;
    pr.done = done;
    pr.total = total;
    pr.blobs = blobs;
    up.body_case = KOS__ADMIN__ADMIN_UP__BODY_PROGRESS;
    up.progress = &pr;
    len = kos__admin__admin_up__get_packed_size(&up);
    if (a->upq_n == ADMIN_UP_QUEUE || !(data = malloc(len ? len : 1)))
        return; /* progress is only news: the result is what counts */
    kos__admin__admin_up__pack(&up, data);
    a->upq[(a->upq_head + a->upq_n) % ADMIN_UP_QUEUE].data = data;
    a->upq[(a->upq_head + a->upq_n) % ADMIN_UP_QUEUE].len = len;
    a->upq_n++;
}

bool admin_agent_results_sent(const struct admin_agent *a)
{
    return a->upq_n == 0;
}

/* ---- sending ---- */

/* Sends one message on `channel`. True if the tunnel took it; false when
 * it has no room (the channel is marked busy: the caller keeps the message)
 * or the link is down or broken (said, except for the link being down). */
static bool send_up(struct admin_agent *a, uint32_t channel, const void *data, size_t len)
{
    kos_status_t st = a->ops.send(a->ops.arg, channel, data, len);

    if (st == KOS_STATUS_OK)
        return true;
    if (st == KOS_STATUS_BUSY) {
        if (channel == KOS_TUNNEL_ADMIN)
            a->admin_busy = true;
        else if (channel == KOS_TUNNEL_TRACES)
            a->traces_busy = true;
        else
            a->logs_busy = true;
        return false;
    }
    if (st != KOS_STATUS_UNAVAILABLE)
        kos_log_warn("cannot send on channel %u: %s", channel, kos_status_str(st));
    /* Down or broken: wait for the tunnel's news. */
    a->admin_busy = a->logs_busy = a->traces_busy = true;
    return false;
}

/* Sends the Health of the current state; true if it went. */
static bool send_health(struct admin_agent *a, uint64_t now_ms)
{
    size_t len = pack_state(a, false);

    if (!len || !send_up(a, KOS_TUNNEL_ADMIN, a->buf, len))
        return false;
    a->last_health_ms = now_ms;
    a->health_due = false;
    memcpy(a->told, a->state, sizeof(*a->told));
    a->told_valid = true;
    return true;
}

void admin_agent_pump(struct admin_agent *a, uint64_t now_ms)
{
    if (!a->up)
        return;
    /* Register first, from a fresh state. */
    if (!a->registered) {
        if (!a->have_state || a->want_state || a->admin_busy)
            return;
        size_t len = pack_state(a, true);
        if (!len || !send_up(a, KOS_TUNNEL_ADMIN, a->buf, len))
            return;
        a->registered = true;
        a->last_health_ms = now_ms;
        memcpy(a->told, a->state, sizeof(*a->told));
        a->told_valid = true;
        a->health_due = false;
    }
    while (a->upq_n > 0 && !a->admin_busy) {
        size_t i = a->upq_head;
        if (!send_up(a, KOS_TUNNEL_ADMIN, a->upq[i].data, a->upq[i].len))
            break;
        free(a->upq[i].data);
        a->upq[i].data = NULL;
        a->upq_head = (a->upq_head + 1) % ADMIN_UP_QUEUE;
        a->upq_n--;
    }
    /* Health: on change (at most once per ADMIN_HEALTH_MIN_MS), and every
     * health_every from a fresh state. */
    if (!a->admin_busy && a->health_due && now_ms - a->last_health_ms >= ADMIN_HEALTH_MIN_MS)
        send_health(a, now_ms);
    if (!a->admin_busy && now_ms - a->last_health_ms >= a->cfg.health_every_ms)
        a->want_state = true;
    /* The records, batch after batch, while the tunnel takes them. */
    while (!a->logs_busy) {
        size_t n, len = admin_logq_batch(&a->logq, a->next_seq, a->buf, KOS_TUNNEL_DATA_MAX, &n);
        if (!len)
            break;
        if (a->ops.reserve)
            a->ops.reserve(a->ops.arg, a->next_seq + n);
        if (!send_up(a, KOS_TUNNEL_LOGS, a->buf, len))
            break;
        admin_logq_sent(&a->logq, n);
        a->next_seq += n;
        a->sent_records += n;
    }
    /* The trace records likewise, on their own channel. */
    while (a->traces_channel && !a->traces_busy) {
        size_t n, len = admin_traceq_batch(&a->traceq, a->buf, KOS_TUNNEL_DATA_MAX, &n);
        if (!len || !send_up(a, KOS_TUNNEL_TRACES, a->buf, len))
            break;
        admin_traceq_sent(&a->traceq, n);
    }
}

void admin_agent_room(struct admin_agent *a, uint32_t channels, uint64_t now_ms)
{
    if (channels & (1u << KOS_TUNNEL_ADMIN))
        a->admin_busy = false;
    if (channels & (1u << KOS_TUNNEL_LOGS))
        a->logs_busy = false;
    if (channels & (1u << KOS_TUNNEL_TRACES))
        a->traces_busy = false;
    admin_agent_pump(a, now_ms);
}

uint64_t admin_agent_next_ms(const struct admin_agent *a, uint64_t now_ms)
{
    uint64_t next;

    (void)now_ms;
    /* Waiting for a state from Core, or for room on the link: those come as
     * news, not by the clock. */
    if (!a->up || !a->registered || a->want_state || a->admin_busy)
        return UINT64_MAX;
    next = a->last_health_ms + a->cfg.health_every_ms;
    if (a->health_due && a->last_health_ms + ADMIN_HEALTH_MIN_MS < next)
        next = a->last_health_ms + ADMIN_HEALTH_MIN_MS;
    return next;
}

void admin_agent_state(struct admin_agent *a, const struct admin_state *s, uint64_t now_ms)
{
    if (s != a->state)
        memcpy(a->state, s, sizeof(*a->state));
    a->have_state = true;
    if (a->told_valid && state_differs(a->state, a->told))
        a->health_due = true;
    if (a->want_state) {
        a->want_state = false;
        if (a->registered)
            send_health(a, now_ms);
    }
    admin_agent_pump(a, now_ms);
}

bool admin_agent_wants_state(const struct admin_agent *a)
{
    return a->want_state || !a->have_state;
}

void admin_agent_link(struct admin_agent *a, bool up, uint64_t now_ms)
{
    a->up = up;
    a->registered = false;
    a->admin_busy = a->logs_busy = a->traces_busy = false;
    a->health_due = false;
    if (up) {
        a->want_state = true; /* Register says the state now */
        admin_agent_pump(a, now_ms);
    }
}

/* ---- what comes down ---- */

static struct admin_pending *pending_add(struct admin_agent *a, uint64_t cmd_id)
{
    for (size_t i = 0; i < ADMIN_COMMANDS_MAX; i++) {
        if (!a->pending[i].used) {
            a->pending[i] = (struct admin_pending){
                .used = true, .core_id = a->next_core_id++, .cmd_id = cmd_id};
            if (a->next_core_id == 0)
                a->next_core_id = 1;
            return &a->pending[i];
        }
    }
    return NULL;
}

static void on_command(struct admin_agent *a, const Kos__Admin__Command *cmd, uint64_t now_ms)
{
    struct admin_pending *p;
    char reason[64];
    kos_status_t st;

    if (cmd->body_case == KOS__ADMIN__COMMAND__BODY_RESTART_APP) {
        const char *name = cmd->restart_app && cmd->restart_app->app ? cmd->restart_app->app : "";
        if (!kos__name_valid(name, strlen(name))) {
            refuse(a, now_ms, "refused command %llu: restart of an app with an invalid name",
                   (unsigned long long)cmd->id);
            queue_result(a, cmd->id, KOS_STATUS_INVALID_ARGUMENT,
                         "not an app name: 1 to 63 letters, digits, '_', '.' and '-'");
            return;
        }
        if (!(p = pending_add(a, cmd->id))) {
            queue_result(a, cmd->id, KOS_STATUS_BUSY, "too many commands under way; try again");
            return;
        }
        kos_log_info("command %llu from the server: restart app '%s'", (unsigned long long)cmd->id,
                     name);
        st = a->ops.restart(a->ops.arg, p->core_id, name);
    } else if (cmd->body_case == KOS__ADMIN__COMMAND__BODY_SET_TRACING) {
        const char *name = cmd->set_tracing && cmd->set_tracing->app ? cmd->set_tracing->app : "";
        bool on = cmd->set_tracing && cmd->set_tracing->on;
        if (!kos__name_valid(name, strlen(name))) {
            refuse(a, now_ms, "refused command %llu: tracing of an app with an invalid name",
                   (unsigned long long)cmd->id);
            queue_result(a, cmd->id, KOS_STATUS_INVALID_ARGUMENT,
                         "not an app name: 1 to 63 letters, digits, '_', '.' and '-'");
            return;
        }
        if (on && !a->traces_channel) {
            queue_result(a, cmd->id, KOS_STATUS_UNAVAILABLE,
                         "the tunnel does not give admin the traces channel: its allow setting "
                         "must say admin=admin,logs,traces,shell,debug,blobs");
            return;
        }
        if (!(p = pending_add(a, cmd->id))) {
            queue_result(a, cmd->id, KOS_STATUS_BUSY, "too many commands under way; try again");
            return;
        }
        kos_log_info("command %llu from the server: tracing app '%s' %s",
                     (unsigned long long)cmd->id, name, on ? "on" : "off");
        st = a->ops.trace ? a->ops.trace(a->ops.arg, p->core_id, name, on) : KOS_STATUS_UNSUPPORTED;
    } else if (cmd->body_case == KOS__ADMIN__COMMAND__BODY_UPGRADE) {
        if (!a->upgrade)
            queue_result(a, cmd->id, KOS_STATUS_UNSUPPORTED, "this admin carries out no upgrades");
        else
            admin_upgrade_start(a->upgrade, cmd->id, cmd->upgrade, now_ms);
        return;
    } else if (cmd->body_case == KOS__ADMIN__COMMAND__BODY_REBOOT) {
        if (!(p = pending_add(a, cmd->id))) {
            queue_result(a, cmd->id, KOS_STATUS_BUSY, "too many commands under way; try again");
            return;
        }
        kos_log_info("command %llu from the server: reboot", (unsigned long long)cmd->id);
        snprintf(reason, sizeof(reason), "command %llu from the server",
                 (unsigned long long)cmd->id);
        st = a->ops.reboot(a->ops.arg, p->core_id, reason);
    } else {
        refuse(a, now_ms, "refused command %llu: a kind of command admin does not know",
               (unsigned long long)cmd->id);
        queue_result(a, cmd->id, KOS_STATUS_UNSUPPORTED, "admin does not know this command");
        return;
    }
    if (st) {
        p->used = false;
        queue_result(a, cmd->id, st, "Core cannot be asked now");
    }
}

void admin_agent_down(struct admin_agent *a, const uint8_t *data, size_t len, uint64_t now_ms)
{
    Kos__Admin__AdminDown *m;

    if (len > KOS_TUNNEL_DATA_MAX) {
        refuse(a, now_ms, "refused a message from the server: %zu bytes, more than %u", len,
               KOS_TUNNEL_DATA_MAX);
        return;
    }
    m = kos__admin__admin_down__unpack(NULL, len, data);
    if (!m) {
        refuse(a, now_ms, "refused a message from the server that is not an AdminDown (%zu bytes)",
               len);
        return;
    }
    switch (m->body_case) {
    case KOS__ADMIN__ADMIN_DOWN__BODY_REGISTERED:
        if (!a->registered) {
            refuse(a, now_ms, "refused Registered from the server before this link's Register");
            break;
        }
        copy_str(a->device_id, sizeof(a->device_id), m->registered->device_id);
        copy_str(a->device_name, sizeof(a->device_name), m->registered->name);
        /* Names from the server are shown escaped by the console. */
        kos_log_info("registered with the server as '%s' (device %.16s)", a->device_name,
                     a->device_id);
        break;
    case KOS__ADMIN__ADMIN_DOWN__BODY_COMMAND:
        on_command(a, m->command, now_ms);
        break;
    default:
        refuse(a, now_ms, "refused a message from the server that admin does not know (%zu bytes)",
               len);
    }
    kos__admin__admin_down__free_unpacked(m, NULL);
    admin_agent_pump(a, now_ms);
}

void admin_agent_core_result(struct admin_agent *a, uint32_t core_id, uint32_t status,
                             const char *message)
{
    for (size_t i = 0; i < ADMIN_COMMANDS_MAX; i++) {
        struct admin_pending *p = &a->pending[i];
        if (p->used && p->core_id == core_id) {
            p->used = false;
            kos_log_info("command %llu: %s: %s", (unsigned long long)p->cmd_id,
                         kos_status_str((kos_status_t)status), message);
            queue_result(a, p->cmd_id, status, message);
            return;
        }
    }
}
