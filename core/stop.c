/*
 * stop.c - the stop order: clients are asked before the services they use,
 * STOP, then SIGTERM at half the grace, then SIGKILL.
 */
#include "core_int.h"

/* ---- shutdown ---- */

/* How long into a shutdown Core says whom it still waits for, and how long
 * after boot it says what keeps the system from being ready. */
#define WAIT_NOTE_US  1000000u
#define READY_NOTE_US 5000000u

static uint64_t grace_us(const struct core *c)
{
    return (uint64_t)(c->opts->grace_ms ? c->opts->grace_ms : 3000) * 1000u;
}

static bool is_alive(const struct proc *p)
{
    return p->state == P_RUNNING || p->state == P_WAITING || p->launching;
}

/* Arms the timer for the earliest thing Core must do at a time: the next
 * step in stopping a process, a restart after its delay, a note on whom a
 * shutdown or the boot still waits for. Disarms it when there is none. */
void kos__core_arm_timer(struct core *c)
{
    uint64_t next = UINT64_MAX, now = now_us();
    struct itimerspec its = {0};

    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (p->state == P_RUNNING && (p->stop == S_ASKED || p->stop == S_TERM) &&
            p->stop_at_us < next)
            next = p->stop_at_us;
        if (p->state == P_WAITING && p->restart_at_us < next)
            next = p->restart_at_us;
    }
    if (c->phase != PH_RUNNING && c->phase != PH_DONE && !c->wait_noted &&
        c->shutdown_us + WAIT_NOTE_US < next)
        next = c->shutdown_us + WAIT_NOTE_US;
    if (c->phase == PH_RUNNING && !c->system_ready && !c->ready_noted &&
        c->t0_us + READY_NOTE_US < next)
        next = c->t0_us + READY_NOTE_US;
    if (next != UINT64_MAX) {
        uint64_t us = next > now ? next - now : 1; /* a zero value would disarm it */
        its.it_value.tv_sec = (time_t)(us / 1000000u);
        its.it_value.tv_nsec = (long)(us % 1000000u) * 1000L;
    }
    timerfd_settime(c->timerfd, 0, &its, NULL);
}

/* Asks running process p to stop: a STOP record on its control channel,
 * which libkos turns into a clean return (kos_endpoint_serve(),
 * kos_app_stopping()). SIGTERM follows only if it has not stopped halfway
 * through its grace period, SIGKILL at its end. A process that closed its
 * control channel, or does not read it (it is full), gets SIGTERM at once:
 * that is then the only way to ask. */

void kos__core_ask_stop(struct core *c, struct proc *p)
{
    uint64_t now = now_us();

    kos__core_debug_end(c, p, "the app is being stopped");
    if (p->ctl >= 0 && kos__ctl_send_nowait(p->ctl, KOS__CTL_STOP, NULL, 0) == KOS_STATUS_OK) {
        p->stop = S_ASKED;
        p->stop_at_us = now + grace_us(c) / 2;
        return;
    }
    kill(p->pid, SIGTERM);
    p->stop = S_TERM;
    p->stop_at_us = now + grace_us(c);
}

/* Whether a process of the role runs, or is starting and may soon. */
bool kos__core_any_running(const struct core *c, uint32_t role)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (is_alive(&c->procs[i]) && c->procs[i].cm->role == role)
            return true;
    return false;
}

/* Whether the manifest lets process a request a protocol that process b
 * publishes on the same message server. */
bool kos__core_uses(const struct kos_cm *cm, const struct kos_cm_proc *a,
                    const struct kos_cm_proc *b)
{
    for (uint32_t i = 0; i < a->n_grants; i++) {
        const struct kos_cm_grant *want = kos_cm_grant(cm, a->grants_first + i);
        if (want->kind != KOS_CM_GRANT_REQUEST)
            continue;
        const char *proto = kos_cm_str(cm, want->protocol);
        for (uint32_t j = 0; j < b->n_grants; j++) {
            const struct kos_cm_grant *g = kos_cm_grant(cm, b->grants_first + j);
            if (g->kind == KOS_CM_GRANT_PUBLISH && g->server == want->server &&
                !strcmp(kos_cm_str(cm, g->protocol), proto))
                return true;
        }
    }
    return false;
}

bool kos__core_reaches(const struct core *c, uint32_t a, uint32_t b)
{
    return (c->reach[(size_t)a * c->reach_words + b / 64] >> (b % 64)) & 1u;
}

/* Fills c->reach: who kos__core_uses whom, then (Warshall) who kos__core_uses whom through
 * others. */
static void find_reach(struct core *c)
{
    uint32_t w = c->reach_words;

    for (uint32_t a = 0; a < c->n; a++)
        for (uint32_t b = 0; b < c->n; b++)
            if (a != b && c->procs[a].cm->role == KOS_CM_ROLE_APP &&
                c->procs[b].cm->role == KOS_CM_ROLE_APP &&
                kos__core_uses(c->cm, c->procs[a].cm, c->procs[b].cm))
                c->reach[(size_t)a * w + b / 64] |= UINT64_C(1) << (b % 64);
    for (uint32_t k = 0; k < c->n; k++)
        for (uint32_t i = 0; i < c->n; i++)
            if (kos__core_reaches(c, i, k))
                for (uint32_t j = 0; j < w; j++)
                    c->reach[(size_t)i * w + j] |= c->reach[(size_t)k * w + j];
}

/* Whether app p may be asked to stop yet: no app still alive kos__core_uses it,
 * directly or through others, unless p kos__core_uses that app too (a cycle, whose
 * apps are asked together). */
static bool may_stop(const struct core *c, const struct proc *p)
{
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *q = &c->procs[i];
        if (q != p && is_alive(q) && kos__core_reaches(c, q->idx, p->idx) &&
            !kos__core_reaches(c, p->idx, q->idx))
            return false;
    }
    return true;
}

/* Moves the shutdown on as far as it can go now: apps are asked to stop
 * once the apps that use them have ended, message servers once every app
 * has. */
void kos__core_advance_shutdown(struct core *c)
{
    if (c->phase == PH_STOP_APPS) {
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->state == P_RUNNING && p->stop == S_NONE && p->cm->role == KOS_CM_ROLE_APP &&
                may_stop(c, p))
                kos__core_ask_stop(c, p);
        }
        if (!kos__core_any_running(c, KOS_CM_ROLE_APP)) {
            c->phase = PH_STOP_SERVERS;
            for (uint32_t i = 0; i < c->n; i++)
                if (c->procs[i].state == P_RUNNING && c->procs[i].stop == S_NONE)
                    kos__core_ask_stop(c, &c->procs[i]);
        }
        kos__core_arm_timer(c);
    }
    if (c->phase == PH_STOP_SERVERS && !kos__core_any_running(c, KOS_CM_ROLE_MSG_SERVER))
        c->phase = PH_DONE;
}

static uint32_t list_awaited(const struct core *c, bool (*pending)(const struct proc *), char *buf,
                             size_t len);
static bool pending_ready(const struct proc *p);

void kos__core_begin_shutdown(struct core *c, const char *why)
{
    if (c->phase != PH_RUNNING)
        return;
    char list[1024];

    say(c, "shutting down: %s", why);
    if (!c->system_ready && list_awaited(c, pending_ready, list, sizeof(list)))
        say(c, "system '%s' was never ready: it was waiting for %s",
            kos_cm_str(c->cm, c->cm->hdr->system_name), list);
    c->phase = PH_STOP_APPS;
    c->shutdown_us = now_us();
    /* An app waiting out its restart delay stays down. */
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->state == P_WAITING) {
            p->state = P_DONE;
            say(c, "app '%s' is not restarted: the system is stopping", p->name);
        }
    }
    find_reach(c);
    kos__core_advance_shutdown(c);
}

/* Writes "app 'a' (running, not ready), message server 'm' (stopping)" for
 * the processes that `pending` says are still awaited. Returns how many. */
static uint32_t list_awaited(const struct core *c, bool (*pending)(const struct proc *), char *buf,
                             size_t len)
{
    uint32_t n = 0;
    size_t o = 0;

    buf[0] = '\0';
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (!pending(p))
            continue;
        const char *what = "not started";
        if (p->launching)
            what = "starting";
        else if (p->state == P_WAITING)
            what = "waiting to restart";
        else if (p->state == P_RUNNING && p->stop != S_NONE)
            what = "stopping";
        else if (p->state == P_RUNNING && c->phase != PH_RUNNING)
            what = "to be asked once the apps that use it have stopped";
        else if (p->state == P_RUNNING)
            what = p->ready ? "running" : "running, not ready";
        if (o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s '%s' (%s)", n ? ", " : "", kind(p),
                                  p->name, what);
        n++;
    }
    if (o >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return n;
}

static bool pending_stop(const struct proc *p)
{
    return p->state == P_RUNNING || p->launching;
}

static bool pending_ready(const struct proc *p)
{
    return !p->ready && p->state != P_DONE && p->state != P_FAILED;
}

/* The timer: the next step in stopping each process whose time has come,
 * restarts whose delay is over, and the notes on whom Core waits for. */
void kos__core_on_timer(struct core *c)
{
    uint64_t exp, now = now_us();
    char list[1024];

    if (read(c->timerfd, &exp, sizeof(exp)) < 0)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->state == P_RUNNING && p->stop == S_ASKED && p->stop_at_us <= now) {
            say(c, "%s '%s' has not stopped %" PRIu64 " ms after it was asked; sending SIGTERM",
                kind(p), p->name, grace_us(c) / 2000);
            kill(p->pid, SIGTERM);
            p->stop = S_TERM;
            p->stop_at_us = now + grace_us(c) - grace_us(c) / 2;
        } else if (p->state == P_RUNNING && p->stop == S_TERM && p->stop_at_us <= now) {
            say(c, "%s '%s' did not stop within the grace period (%" PRIu64 " ms); killing it",
                kind(p), p->name, grace_us(c) / 1000);
            kill(p->pid, SIGKILL);
            p->stop = S_KILL;
        } else if (p->state == P_WAITING && p->restart_at_us <= now) {
            kos__core_restart_now(c, p);
        }
    }
    if (c->phase != PH_RUNNING && c->phase != PH_DONE && !c->wait_noted &&
        now >= c->shutdown_us + WAIT_NOTE_US) {
        c->wait_noted = true;
        if (list_awaited(c, pending_stop, list, sizeof(list)))
            say(c,
                "stopping: waiting for %s; each has %" PRIu64 " ms from when it was asked; "
                "press Ctrl-C again to kill everything now",
                list, grace_us(c) / 1000);
    }
    if (c->phase == PH_RUNNING && !c->system_ready && !c->ready_noted &&
        now >= c->t0_us + READY_NOTE_US) {
        c->ready_noted = true;
        if (list_awaited(c, pending_ready, list, sizeof(list)))
            say(c, "not ready after %u s: waiting for %s", READY_NOTE_US / 1000000u, list);
    }
    kos__core_arm_timer(c);
}
