/*
 * sysif.c - the system interface (lib/sys_int.h): what the app that manages the
 * system may ask of Core, and what Core sends it.
 */
#include "core_int.h"

/* ---- the system interface (lib/sys_int.h) ---- */

void kos__core_say_sys(struct core *c, const char *fmt, ...)
{
    unsigned long quiet;
    char text[KOS__CONSOLE_LINE_MAX];
    va_list ap;

    if (!kos__budget_take(&c->sys_log, SYS_LOG_BURST, SYS_LOG_EVERY_MS, now_us() / 1000, &quiet))
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (quiet)
        say(c, "%s (and %lu more lines about the system interface not printed)", text, quiet);
    else
        say(c, "%s", text);
}

static bool is_manager(const struct core *c, const struct proc *p)
{
    return c->manager >= 0 && p->idx == (uint32_t)c->manager;
}

/* Closes Core's end of process p's control channel. The managing app's
 * console lines in flight count as dropped, and it is told of changes
 * again only once it has asked for STATUS. */
void kos__core_close_ctl(struct core *c, struct proc *p)
{
    if (p->ctl >= 0) {
        close(p->ctl);
        p->ctl = -1;
    }
    if (is_manager(c, p)) {
        kos__sysq_unsubscribe(&c->sysq);
        c->sys_watch = false;
        /* Trace records in flight are lost with it; the rest wait in the
         * rings for the next subscriber. */
        c->trace_sub = false;
        c->trace_credit = 0;
    }
}

/* Sends the managing app p an answer, without waiting. A channel with no
 * room (the app does not read it) is closed, saying so; one that is gone
 * is closed quietly (its exit is reported). Returns whether it was sent. */
static bool sys_reply(struct core *c, struct proc *p, uint32_t type, const void *body, size_t len)
{
    kos_status_t st;

    if (p->ctl < 0)
        return false;
    st = kos__ctl_send_nowait(p->ctl, type, body, len);
    if (st == KOS_STATUS_OK)
        return true;
    if (st == KOS_STATUS_WOULD_BLOCK)
        say(c, "app '%s' does not read its control channel (no room for Core's answer); closing it",
            p->name);
    kos__core_close_ctl(c, p);
    return false;
}

/* Answers request `id` of app `to`, if the run of it that asked (its
 * `starts` then) still runs, with a status and a message. */
void kos__core_sys_result(struct core *c, uint32_t to, uint32_t to_start, uint32_t id,
                          kos_status_t status, const char *fmt, ...)
{
    struct proc *p = &c->procs[to];
    char msg[KOS__SYS_MESSAGE_MAX];
    struct kos__sys_result r = {.id = id, .status = (uint32_t)status, .message = msg};
    va_list ap;
    size_t len;
    int n;

    if (p->state != P_RUNNING || p->starts != to_start || p->ctl < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    else if ((size_t)n >= sizeof(msg))
        msg[kos__text_boundary(msg, sizeof(msg) - 1)] = '\0';
    if (kos__sys_result_encode(&r, c->sysout, KOS__CTL_MAX, &len) == KOS_STATUS_OK)
        (void)sys_reply(c, p, KOS__CTL_SYS_RESULT, c->sysout, len);
}

/* Sends the managing app the console lines its credit covers. Never waits:
 * a line the channel has no room for waits in the queue for the next
 * credit. */
static void sys_pump(struct core *c)
{
    const struct kos__sysq_line *l;
    uint64_t dropped;
    struct proc *m;

    if (c->manager < 0)
        return;
    m = &c->procs[c->manager];
    if (m->ctl < 0 || m->state != P_RUNNING)
        return;
    while ((l = kos__sysq_next(&c->sysq, &dropped)) != NULL) {
        struct kos__sys_line sl = {
            .time_ns = (uint64_t)l->time_ns,
            .dropped = dropped > UINT32_MAX ? UINT32_MAX : (uint32_t)dropped,
            .text = l->text,
        };
        size_t len;

        memcpy(sl.name, l->name, sizeof(sl.name));
        if (kos__sys_line_encode(&sl, c->sysbuf, SYS_LINE_BUF, &len)) {
            kos__sysq_discard(&c->sysq); /* cannot happen: console text is printable */
            continue;
        }
        if (kos__ctl_send_nowait(m->ctl, KOS__CTL_SYS_CONSOLE, c->sysbuf, len) != KOS_STATUS_OK)
            break;
        kos__sysq_sent(&c->sysq);
    }
}

/* Each console line, as printed, goes to the managing app's queue. */
void kos__core_console_tap(void *arg, int64_t time_ns, const char *name, const char *text,
                           size_t len)
{
    struct core *c = arg;

    if (c->manager < 0)
        return;
    kos__sysq_push(&c->sysq, time_ns, name, text, len);
    sys_pump(c);
}

_Static_assert(KOS_STORE_MAX_GENS <= KOS__SYS_MAX_GENS, "a STATUS carries every generation");

void kos__core_store_survey(struct core *c)
{
    char err[512];
    size_t n = 0;

    if (!c->opts->store || !c->gens)
        return;
    c->gen_epoch++;
    if (kos_store_state(c->opts->store, &c->gen_state, err, sizeof(err)) ||
        kos_store_survey(c->opts->store, c->gens, KOS_STORE_MAX_GENS, &n, err, sizeof(err))) {
        say(c, "cannot read the boot store's generations for the system's state: %s", err);
        n = 0;
    }
    c->n_gens = (uint32_t)n;
}

static bool gen_damaged(const struct core *c, const struct kos_store_gen *g)
{
    if (g->damaged)
        return true;
    for (uint32_t i = 0; i < c->n_damaged; i++)
        if (c->gen_damaged[i] == g->n)
            return true;
    return false;
}

_Static_assert(KOS__SYS_OVERLAY_MAX == KOS_CM_OVERLAY_MAX,
               "STATUS carries every overlay number a manifest may hold");

/* The generations into STATUS page s: their marks from the store's state,
 * their states from it and from what this boot learnt. */
static void status_gens(const struct core *c, struct kos__sys_status *s)
{
    const struct kos_store_state *st = &c->gen_state;

    if (!c->opts->store)
        return;
    s->store = 1;
    s->generation = c->generation;
    for (uint32_t i = 0; i < c->n_gens && s->n_gens < KOS__SYS_MAX_GENS; i++) {
        const struct kos_store_gen *g = &c->gens[i];
        struct kos__sys_gen *o = &s->gens[s->n_gens++];
        o->n = g->n;
        o->flags = (g->n == st->current ? KOS__SYS_GEN_CURRENT : 0) |
                   (g->n == st->good ? KOS__SYS_GEN_GOOD : 0) |
                   (g->n == c->generation ? KOS__SYS_GEN_RUNNING : 0);
        o->state = gen_damaged(c, g)                                     ? KOS__SYS_GEN_DAMAGED
                   : g->n == st->good                                    ? KOS__SYS_GEN_PASSED
                   : g->n == c->gen_failed || kos_store_failed(st, g->n) ? KOS__SYS_GEN_FAILED
                   : g->n == st->current                                 ? KOS__SYS_GEN_TRIAL
                   : g->n == c->generation                               ? KOS__SYS_GEN_TRIAL
                                                                         : KOS__SYS_GEN_KEPT;
        o->tries = g->n == st->current && g->n != st->good ? st->tries : 0;
        o->release = g->release;
        o->overlay = g->overlay; /* the store reads an overlay only after a release */
        o->created = g->created > 0 ? (uint64_t)g->created : 0;
        o->signer = g->signer;
    }
}

/* A fingerprint of what STATUS reports that changes by itself: each
 * process's state, restarts and last exit, the self test and the boot
 * store's survey (FNV-1a). */
static uint64_t state_print(const struct core *c)
{
    uint64_t h = 14695981039346656037ull;
    uint32_t v[5];

    for (size_t k = 0; k < sizeof(c->gen_epoch); k++) {
        h ^= ((const uint8_t *)&c->gen_epoch)[k];
        h *= 1099511628211ull;
    }

    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        v[0] = kos__core_sys_state(p);
        v[1] = p->restarts;
        v[2] = p->restarts_asked;
        v[3] = (uint32_t)p->last_status;
        v[4] = (uint32_t)c->self_test;
        for (size_t k = 0; k < sizeof(v); k++) {
            h ^= ((const uint8_t *)v)[k];
            h *= 1099511628211ull;
        }
    }
    return h;
}

/* Tells the managing app, once, that what STATUS reports has changed since
 * it last asked; again only after it asks. */
void kos__core_sys_notify(struct core *c)
{
    struct proc *m;

    if (c->manager < 0 || !c->sys_watch)
        return;
    m = &c->procs[c->manager];
    if (!c->sys_changed_due && state_print(c) != c->sys_print)
        c->sys_changed_due = true;
    if (!c->sys_changed_due || m->ctl < 0)
        return;
    if (kos__ctl_send_nowait(m->ctl, KOS__CTL_SYS_CHANGED, NULL, 0) == KOS_STATUS_OK) {
        c->sys_changed_due = false;
        c->sys_watch = false;
    }
}

/* The resident bytes of process `pid`, as /proc/PID/statm says; 0 where it
 * cannot tell. */
static uint64_t statm_rss(long pid)
{
    char path[64];
    unsigned long long size, resident;
    FILE *f;
    int n;

    snprintf(path, sizeof(path), "/proc/%ld/statm", pid);
    if (!(f = fopen(path, "re")))
        return 0;
    n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* The resident bytes of running process p: its sandbox's init (p->pid) and
 * the init's children (the app), as /proc says. */
static uint64_t rss_of(const struct proc *p)
{
    char path[96];
    uint64_t total;
    long child;
    FILE *f;

    if (p->state != P_RUNNING || p->pid <= 0)
        return 0;
    total = statm_rss(p->pid);
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)p->pid, (int)p->pid);
    if ((f = fopen(path, "re")) != NULL) {
        for (int i = 0; i < 64 && fscanf(f, "%ld", &child) == 1; i++)
            total += statm_rss(child);
        fclose(f);
    }
    return total;
}

/* Answers STATUS_REQ: one page of the system's state, from process `first`
 * on. Returns false if the channel was closed. */
static bool sys_status(struct core *c, struct proc *p, const struct kos__sys_request *rq)
{
    struct sys_page *pg = (struct sys_page *)c->syspage;
    struct kos__sys_status *s = &pg->s;
    const char *signer = kos_image_signer(c->img);
    size_t len;

    memset(s, 0, sizeof(*s));
    s->id = rq->id;
    s->system = kos_cm_str(c->cm, c->cm->hdr->system_name);
    s->manifest = kos_image_manifest_digest(c->img);
    s->signer = signer ? signer : "";
    s->platform = CORE_PLATFORM;
    s->version = KOS_VERSION;
    s->boot_time_ns = (uint64_t)c->boot_wall_ns;
    s->uptime_ms = (now_us() - c->t0_us) / 1000u;
    s->boots = c->boots;
    s->self_test = c->self_test == KOS__SELF_TEST_RESULT_PASSED   ? KOS__SYS_SELF_TEST_PASSED
                   : c->self_test == KOS__SELF_TEST_RESULT_FAILED ? KOS__SYS_SELF_TEST_FAILED
                   : c->self_test == KOS__SELF_TEST_INCOMPLETE    ? KOS__SYS_SELF_TEST_INCOMPLETE
                                                                  : KOS__SYS_SELF_TEST_NONE;
    s->self_test_summary = c->self_test == KOS__SELF_TEST_NONE ? "" : c->self_test_text;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *q = &c->procs[i];
        s->mem_total += q->cm->memory;
        s->mem_used += rss_of(q);
        if (q->cm->role == KOS_CM_ROLE_APP && (q->cm->flags & KOS_CM_PROC_DATA_DIR)) {
            struct statvfs vfs;
            s->storage_total += q->cm->storage ? q->cm->storage : DEFAULT_APP_STORAGE;
            if (q->store.mnt >= 0 && fstatvfs(q->store.mnt, &vfs) == 0)
                s->storage_used += (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
        }
    }
    s->n_total = c->n;
    s->first = rq->first < c->n ? rq->first : c->n;
    for (uint32_t i = s->first; i < c->n && s->n_procs < KOS__SYS_PAGE_PROCS; i++) {
        const struct proc *q = &c->procs[i];
        struct kos__sys_proc *out = &s->procs[s->n_procs];
        kos__core_describe_status(q->last_status, pg->exits[s->n_procs], KOS__SYS_EXIT_MAX);
        out->name = q->name;
        out->role = is_server(q) ? KOS__ROLE_MSG_SERVER : KOS__ROLE_APP;
        out->state = kos__core_sys_state(q);
        out->restarts = q->restarts;
        out->restarts_asked = q->restarts_asked;
        out->last_exit = pg->exits[s->n_procs];
        s->n_procs++;
    }
    status_gens(c, s);
    if (kos__sys_status_encode(s, c->sysout, KOS__CTL_MAX, &len)) {
        say(c, "cannot answer app '%s' with the system's state: it does not encode", p->name);
        return true;
    }
    if (!sys_reply(c, p, KOS__CTL_SYS_STATUS, c->sysout, len))
        return false;
    /* From now on, tell it of a change once. */
    c->sys_watch = true;
    c->sys_changed_due = false;
    c->sys_print = state_print(c);
    return true;
}

/* Answers TABLE_REQ: one page of a read-only table, from row `first` on:
 * the message directory as the manifest grants it (every process's grants,
 * in manifest order: what the message servers enforce), or the device key
 * bundle Core opened (names, types and key ids; Core never reads a key).
 * Returns false if the channel was closed. */
static bool sys_table(struct core *c, struct proc *p, const struct kos__sys_request *rq)
{
    struct kos__sys_table t = {.id = rq->id, .kind = rq->table};
    uint32_t row = 0;
    size_t len;

    if (rq->table == KOS__SYS_TABLE_GRANTS) {
        for (uint32_t i = 0; i < c->n; i++) {
            const struct kos_cm_proc *cp = c->procs[i].cm;
            for (uint32_t g = 0; g < cp->n_grants; g++, row++) {
                const struct kos_cm_grant *gr = kos_cm_grant(c->cm, cp->grants_first + g);
                if (row < rq->first || t.n_rows == KOS__SYS_TABLE_PAGE_ROWS)
                    continue;
                const char **cell = t.cell[t.n_rows++];
                cell[0] = kos_cm_str(c->cm, kos_cm_proc(c->cm, gr->server)->name);
                cell[1] = kos_cm_str(c->cm, gr->protocol);
                cell[2] = gr->kind == KOS_CM_GRANT_PUBLISH ? "publish" : "request";
                cell[3] = c->procs[i].name;
            }
        }
    } else {
        for (size_t k = 0; k < c->keys.n; k++, row++) {
            const struct kos__devkey *dk = &c->keys.e[k];
            if (row < rq->first || t.n_rows == KOS__SYS_TABLE_PAGE_ROWS)
                continue;
            const char **cell = t.cell[t.n_rows++];
            bool item = strcmp(dk->type, "x509") == 0 || strcmp(dk->type, "text") == 0;
            cell[0] = dk->name;
            cell[1] = dk->type;
            cell[2] = dk->id;
            cell[3] = item ? "item" : dk->private_key ? "private" : "public";
        }
    }
    t.n_total = row;
    t.first = rq->first < row ? rq->first : row;
    if (kos__sys_table_encode(&t, c->sysout, KOS__CTL_MAX, &len)) {
        say(c, "cannot answer app '%s' with table %u: it does not encode", p->name, rq->table);
        kos__core_sys_result(c, p->idx, p->starts, rq->id, KOS_STATUS_INTERNAL,
                             "Core cannot encode table %u", rq->table);
        return p->ctl >= 0;
    }
    return sys_reply(c, p, KOS__CTL_SYS_TABLE, c->sysout, len);
}

/* Starts app t again for the restart the managing app asked for (t has
 * ended, or was not running), and answers that app. The restart counts as
 * one asked for, not towards restart_limit: its count of quick restarts
 * starts from nothing. */
void kos__core_restart_asked_now(struct core *c, struct proc *t)
{
    kos_status_t st;

    t->restart_asked = false;
    t->restarts++;
    t->restarts_asked++;
    t->quick = 0;
    t->state = P_IDLE;
    t->restart_at_us = 0;
    st = kos__core_start_proc(c, t);
    if (st == KOS_STATUS_OK) {
        kos__core_sys_result(c, t->restart_by, t->restart_by_start, t->restart_id, KOS_STATUS_OK,
                             "app '%s' restarted", t->name);
        return;
    }
    t->state = P_FAILED;
    c->failed = true;
    kos__core_sys_result(c, t->restart_by, t->restart_by_start, t->restart_id, st,
                         "app '%s' could not start again (%s); Core's console says why", t->name,
                         kos_status_str(st));
    kos__core_ended_for_good(c, t);
}

/* The process request rq names, for a request that acts on one (`verb`
 * says how, for Core's line); NULL, with the app answered, while the
 * system stops or when it has no process of that name. */
static struct proc *sys_target(struct core *c, struct proc *from, const struct kos__sys_request *rq,
                               const char *verb)
{
    struct proc *t = NULL;

    for (uint32_t i = 0; i < c->n && !t; i++)
        if (!strcmp(c->procs[i].name, rq->app))
            t = &c->procs[i];
    if (c->phase != PH_RUNNING) {
        kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_UNAVAILABLE,
                             "the system is stopping");
        return NULL;
    }
    if (!t) {
        kos__core_say_sys(c, "app '%s' asked to %s app '%s', which this system does not have",
                          from->name, verb, rq->app);
        kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_NOT_FOUND,
                             "no app '%s' in this system", rq->app);
    }
    return t;
}

/* RESTART: stops app `rq->app` as Core stops any app, then starts it again;
 * refuses message servers, unknown names, apps on their way up or down,
 * and everything while the system stops. */
static void sys_restart(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct proc *t = sys_target(c, from, rq, "restart");

    if (!t)
        return;
#define ANSWER(st, ...) kos__core_sys_result(c, from->idx, from->starts, rq->id, st, __VA_ARGS__)
    if (is_server(t)) {
        kos__core_say_sys(c, "app '%s' asked to restart message server '%s'; refused", from->name,
                          t->name);
        ANSWER(KOS_STATUS_UNSUPPORTED,
               "'%s' is a message server: Core does not restart one (every token on it would "
               "die with it); reboot instead",
               t->name);
        return;
    }
    if (t->launching || t->restart_asked || (t->state == P_RUNNING && t->stop != S_NONE) ||
        (t->state == P_IDLE && !c->booted)) {
        ANSWER(KOS_STATUS_BUSY, "app '%s' is starting or stopping; ask again later", t->name);
        return;
    }
    kos__core_say_sys(
        c,
        "app '%s' asked to restart app '%s' (%s): restarting it (a restart asked for does "
        "not count towards its restart_limit)",
        from->name, t->name, kos__sys_state_name(kos__core_sys_state(t)));
    t->restart_asked = true;
    t->restart_by = from->idx;
    t->restart_by_start = from->starts;
    t->restart_id = rq->id;
    if (t->state == P_RUNNING) {
        if (t == from)
            ANSWER(KOS_STATUS_OK, "restarting app '%s', the app that asked: no later answer",
                   t->name);
        kos__core_ask_stop(c, t);
        kos__core_arm_timer(c);
        return;
    }
    kos__core_restart_asked_now(c, t); /* waiting to restart, ended or failed: at once */
#undef ANSWER
}

/* REBOOT: answers, then stops the whole system as on SIGTERM; kos__core_run_loop()
 * returns, and kos_core_run() boots it again. */
static void sys_reboot(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    if (c->phase != PH_RUNNING) {
        kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_UNAVAILABLE,
                             "the system is stopping already");
        return;
    }
    kos__core_sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_OK,
                         "rebooting: the system stops and boots again from the same image");
    snprintf(c->reboot_why, sizeof(c->reboot_why), "app '%s' asked for a reboot%s%s", from->name,
             rq->reason[0] ? ": " : "", rq->reason);
    c->reboot = true;
    kos__core_begin_shutdown(c, c->reboot_why);
}

/* Ends app p's debug session, if it has one: the agent is killed and
 * reaped here (a SIGKILLed process's end takes no time Core would notice),
 * so that the kernel has detached it from the app before the app is
 * continued, in case the agent held it stopped. */
void kos__core_debug_end(struct core *c, struct proc *p, const char *why)
{
    if (p->dbg_pid <= 0)
        return;
    kill(p->dbg_pid, SIGKILL);
    while (waitpid(p->dbg_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (p->dbg_target > 0)
        kill(p->dbg_target, SIGCONT);
    say(c, "debug session on app '%s' ended: %s; gdbserver (pid %d) killed", p->name, why,
        (int)p->dbg_pid);
    p->dbg_pid = 0;
    p->dbg_target = 0;
}

/* DEBUG_ATTACH: starts the debug agent on app `rq->app`, outside its
 * sandbox, and hands the managing app its socket with the result. Refuses
 * unknown names, message servers, apps not marked debug: true, apps not
 * running, a second session on one app, and everything while the system
 * stops. */
static void sys_debug_attach(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct proc *t = sys_target(c, from, rq, "debug");
    char err[300], msg[KOS__SYS_MESSAGE_MAX];
    struct kos__sys_result r = {.id = rq->id, .message = msg};
    pid_t target, agent;
    size_t len;
    int sock;

    if (!t)
        return;
#define ANSWER(st, ...) kos__core_sys_result(c, from->idx, from->starts, rq->id, st, __VA_ARGS__)
    if (is_server(t) || !(t->cm->flags & KOS_CM_PROC_DEBUG)) {
        kos__core_say_sys(
            c, "app '%s' asked to debug %s '%s', which is not marked debug: true; refused",
            from->name, kind(t), t->name);
        ANSWER(KOS_STATUS_UNAUTHORIZED,
               "%s '%s' is not marked debug: true in the manifest: only such apps are debugged",
               kind(t), t->name);
        return;
    }
    if (t->state != P_RUNNING || t->launching || t->stop != S_NONE || t->restart_asked) {
        ANSWER(KOS_STATUS_UNAVAILABLE, "app '%s' is not running (%s)", t->name,
               kos__sys_state_name(kos__core_sys_state(t)));
        return;
    }
    if (t->dbg_pid > 0) {
        ANSWER(KOS_STATUS_BUSY, "app '%s' has a debug session already (one at a time)", t->name);
        return;
    }
    target = t->status_fd >= 0 ? kos__debugger_app_pid(t->pid) : t->pid;
    if (target <= 0) {
        ANSWER(KOS_STATUS_UNAVAILABLE, "app '%s' has no process to attach to now", t->name);
        return;
    }
    if (kos__debugger_start(KOS__DEBUGGER_PATH, target, &agent, &sock, err, sizeof(err)) !=
        KOS_STATUS_OK) {
        say(c, "app '%s' asked to debug app '%s': %s", from->name, t->name, err);
        ANSWER(KOS_STATUS_UNAVAILABLE, "the device cannot debug: %s", err);
        return;
    }
#undef ANSWER
    t->dbg_pid = agent;
    t->dbg_target = target;
    say(c,
        "app '%s' asked to debug app '%s': gdbserver (pid %d) attached to its process (host pid "
        "%d) from outside its sandbox; the session ends when its socket closes",
        from->name, t->name, (int)agent, (int)target);
    snprintf(msg, sizeof(msg), "gdbserver attached to app '%s'", t->name);
    r.status = KOS_STATUS_OK;
    if (from->ctl < 0 || kos__sys_result_encode(&r, c->sysout, KOS__CTL_MAX, &len) ||
        kos__ctl_send_fd_nowait(from->ctl, KOS__CTL_SYS_RESULT, c->sysout, len, sock)) {
        close(sock);
        kos__core_debug_end(c, t, "its socket could not be handed over");
        return;
    }
    close(sock); /* the managing app holds it now */
}

static const char *sys_what(uint32_t type)
{
    switch (type) {
    case KOS__CTL_SYS_STATUS_REQ:
        return "the system's state";
    case KOS__CTL_SYS_RESTART:
        return "an app's restart";
    case KOS__CTL_SYS_REBOOT:
        return "a reboot";
    case KOS__CTL_SYS_TRACE_SET:
        return "an app's tracing";
    case KOS__CTL_SYS_TRACE_CREDIT:
        return "trace records";
    case KOS__CTL_SYS_TABLE_REQ:
        return "one of its tables";
    case KOS__CTL_SYS_DEBUG_ATTACH:
        return "a debugger on an app";
    case KOS__CTL_SYS_STORE_NEED:
    case KOS__CTL_SYS_STORE_FETCH:
    case KOS__CTL_SYS_STORE_DONE:
    case KOS__CTL_SYS_STORE_ADD:
        return "an upgrade";
    case KOS__CTL_SYS_CONSOLE_CREDIT:
        return "the console lines";
    default:
        return "something this Core does not know";
    }
}

/* A request of the system interface from process p, already received into
 * c->ctlbuf. Returns false when p's channel is to be closed: p may not ask
 * (its manifest entry does not say manages_system: true), or the request is
 * malformed, or p does not take its answers. */
bool kos__core_on_sys_request(struct core *c, struct proc *p, uint32_t type, size_t len)
{
    struct kos__sys_request rq;

    if (!is_manager(c, p)) {
        say(c,
            "%s '%s' asked Core for %s, but its manifest entry does not say manages_system: "
            "true; refusing it and closing its control channel",
            kind(p), p->name, sys_what(type));
        return false;
    }
    if (kos__sys_unknown(type)) {
        /* A request of a later KOS: this Core says it cannot, and goes on. */
        uint32_t id = len >= 4 ? kos__get_le32(c->ctlbuf) : 0;
        kos__core_say_sys(c,
                          "app '%s' asked Core for something this Core does not know (request "
                          "type %u): answered that it cannot",
                          p->name, type);
        kos__core_sys_result(c, p->idx, p->starts, id, KOS_STATUS_UNSUPPORTED,
                             "this device's Core does not know request type %u: it is older "
                             "than the app that asked",
                             type);
        return p->ctl >= 0;
    }
    if (kos__sys_request_decode(type, c->ctlbuf, len, &rq)) {
        say(c,
            "app '%s' sent a malformed request for %s (type %u, %zu bytes); closing its "
            "control channel",
            p->name, sys_what(type), type, len);
        return false;
    }
    switch (type) {
    case KOS__CTL_SYS_STATUS_REQ:
        return sys_status(c, p, &rq);
    case KOS__CTL_SYS_RESTART:
        sys_restart(c, p, &rq);
        break;
    case KOS__CTL_SYS_REBOOT:
        sys_reboot(c, p, &rq);
        break;
    case KOS__CTL_SYS_TRACE_SET:
        kos__core_sys_trace_set(c, p, &rq);
        break;
    case KOS__CTL_SYS_TRACE_CREDIT:
        kos__core_sys_trace_credit(c, rq.credit);
        break;
    case KOS__CTL_SYS_TABLE_REQ:
        return sys_table(c, p, &rq);
    case KOS__CTL_SYS_DEBUG_ATTACH:
        sys_debug_attach(c, p, &rq);
        break;
    case KOS__CTL_SYS_STORE_NEED:
    case KOS__CTL_SYS_STORE_FETCH:
    case KOS__CTL_SYS_STORE_DONE:
    case KOS__CTL_SYS_STORE_ADD:
        kos__core_sys_store(c, p, &rq);
        break;
    default:
        kos__sysq_credit(&c->sysq, rq.credit);
        sys_pump(c);
    }
    return p->ctl >= 0;
}
