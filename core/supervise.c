/*
 * supervise.c - readiness and the state summary, the self test, consoles, and what
 * Core does when a process ends: restart policies, limits and delays.
 */
#include "core_int.h"

/* ---- readiness and the state summary ---- */

/* Tells the boot store how this boot's generation did: a pass makes it the
 * good one; a failure makes the next boot fall back, and reboots into it
 * now while the system runs. */
static void store_settle(struct core *c, bool passed)
{
    char note[256], err[512];

    if (!c->opts->store)
        return;
    if (kos_store_settle(c->opts->store, c->generation, passed, note, sizeof(note), err,
                         sizeof(err))) {
        say(c, "cannot record the self test in the boot store: %s", err);
        return;
    }
    if (!passed)
        c->gen_failed = c->generation;
    kos__core_store_survey(c);
    if (!note[0])
        return;
    say(c, "boot store: %s", note);
    if (!passed && c->phase == PH_RUNNING && !c->reboot) {
        snprintf(c->reboot_why, sizeof(c->reboot_why),
                 "generation %u failed its self test; rebooting into the last good one",
                 c->generation);
        c->reboot = true;
        kos__core_begin_shutdown(c, c->reboot_why);
    }
}

/* The system is ready when every process is ready or has ended normally,
 * or has failed for good (failed to start, reached its restart limit, or
 * ended abnormally and is not restarted): the line then names those. */
void kos__core_check_ready(struct core *c)
{
    char failed[512];
    size_t o = 0;
    uint32_t n_failed = 0;

    if (c->system_ready || c->phase != PH_RUNNING)
        return;
    failed[0] = '\0';
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (p->ready || (p->state == P_DONE && p->ended_ok))
            continue;
        if (p->state != P_FAILED && p->state != P_DONE)
            return;
        if (o < sizeof(failed))
            o += (size_t)snprintf(failed + o, sizeof(failed) - o, "%s'%s'", n_failed ? ", " : "",
                                  p->name);
        n_failed++;
    }
    c->system_ready = true;
    uint64_t us = now_us() - c->t0_us;
    bool self_tested = false;
    for (uint32_t i = 0; i < c->n; i++)
        self_tested |= (c->procs[i].cm->flags & KOS_CM_PROC_SELF_TEST) != 0;
    if (!n_failed)
        say(c, "system '%s' ready: %u processes in %" PRIu64 ".%03" PRIu64 " ms",
            kos_cm_str(c->cm, c->cm->hdr->system_name), c->n, us / 1000, us % 1000);
    else
        say(c,
            "system '%s' ready without %u failed app%s (%s): %u of %u processes in %" PRIu64
            ".%03" PRIu64 " ms",
            kos_cm_str(c->cm, c->cm->hdr->system_name), n_failed, n_failed == 1 ? "" : "s", failed,
            c->n - n_failed, c->n, us / 1000, us % 1000);
    /* Without a self-test app, a system ready with every app is what
     * passing means to the boot store. */
    if (!self_tested && !n_failed)
        store_settle(c, true);
}

/* The state column of the summary, as the system interface reports it
 * (enum kos__sys_state, whose words kos__sys_state_name() gives). */
uint32_t kos__core_sys_state(const struct proc *p)
{
    switch (p->state) {
    case P_IDLE:
        return KOS__SYS_NOT_STARTED;
    case P_RUNNING:
        return p->ready ? KOS__SYS_RUNNING_READY : KOS__SYS_RUNNING_NOT_READY;
    case P_WAITING:
        return KOS__SYS_WAITING;
    case P_DONE:
        return p->stopped ? KOS__SYS_STOPPED : KOS__SYS_ENDED;
    default:
        return KOS__SYS_FAILED;
    }
}

void kos__core_print_summary(struct core *c)
{
    say(c, "summary: %u processes", c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        char how[KOS__SYS_EXIT_MAX], asked[48] = "";
        kos__core_describe_status(p->last_status, how, sizeof(how));
        if (p->restarts_asked)
            snprintf(asked, sizeof(asked), " (%u asked for)", p->restarts_asked);
        say(c, "  %-16s %-14s %-18s restarts %u%s, last exit: %s", p->name, kind(p),
            kos__sys_state_name(kos__core_sys_state(p)), p->restarts, asked, how);
    }
}

/* ---- the self test ---- */

/* Settles this boot's self test: says the verdict and records it in the
 * state directory. Only the first verdict of a boot counts. */
unsigned kos__core_self_test_timeout_ms(const struct core *c)
{
    return c->opts->self_test_timeout_ms ? c->opts->self_test_timeout_ms : 60000;
}

void kos__core_self_test_settle(struct core *c, const struct proc *p,
                                enum kos__self_test_result result, uint32_t checks, uint32_t failed,
                                const char *summary)
{
    struct kos__self_test_record rec = {
        .system = kos_cm_str(c->cm, c->cm->hdr->system_name),
        .manifest = kos_image_manifest_digest(c->img),
        .signer = kos_image_signer(c->img),
        .app = p->name,
        .result = result,
        .checks = checks,
        .failed = failed,
        .summary = summary,
    };
    char err[512];

    if (c->self_test != KOS__SELF_TEST_NONE)
        return;
    c->self_test = result;
    /* What Core says of it is also what the system interface reports. */
    char *t = c->self_test_text;
    size_t n = sizeof(c->self_test_text);
    if (result == KOS__SELF_TEST_RESULT_PASSED)
        snprintf(t, n, "passed: %s (%u checks)", summary, checks);
    else if (result == KOS__SELF_TEST_RESULT_FAILED && checks)
        snprintf(t, n, "failed: %s (%u of %u checks failed)", summary, failed, checks);
    else
        snprintf(t, n, "%s: %s", kos__self_test_result_name(result), summary);
    say(c, "self test %s", t);
    if (strlen(t) >= KOS__SELF_TEST_TEXT_MAX) /* the interface's bound, whole characters */
        t[kos__text_boundary(t, KOS__SELF_TEST_TEXT_MAX - 1)] = '\0';
    if (kos__self_test_write(c->sd.fd, &rec, err, sizeof(err)))
        say(c, "cannot record the self test: %s", err);
    else
        say(c, "self test recorded in %s/%s", c->sd.path, KOS__SELF_TEST_FILE);
    if (result == KOS__SELF_TEST_RESULT_PASSED || result == KOS__SELF_TEST_RESULT_FAILED)
        store_settle(c, result == KOS__SELF_TEST_RESULT_PASSED);
}

/* The self test's deadline passed without a report: it failed. The app goes
 * on running; a report it sends later is ignored, as a second one is. */
void kos__core_self_test_deadline(struct core *c)
{
    char why[160];

    c->self_test_deadline_us = 0;
    if (c->self_test != KOS__SELF_TEST_NONE || c->phase != PH_RUNNING)
        return;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].cm->flags & KOS_CM_PROC_SELF_TEST) {
            snprintf(why, sizeof(why), "app '%s' did not report within %u ms of boot",
                     c->procs[i].name, kos__core_self_test_timeout_ms(c));
            kos__core_self_test_settle(c, &c->procs[i], KOS__SELF_TEST_RESULT_FAILED, 0, 0, why);
            return;
        }
}

/* A SELF_TEST record from process p, already received into c->ctlbuf.
 * Returns false when p may not report (its channel is then closed). */
bool kos__core_on_self_test(struct core *c, struct proc *p, size_t len)
{
    struct kos__self_test r;

    if (!(p->cm->flags & KOS_CM_PROC_SELF_TEST)) {
        say(c,
            "%s '%s' sent a self-test report, but its manifest entry does not say "
            "reports_self_test: true; ignoring it and closing its control channel",
            kind(p), p->name);
        return false;
    }
    if (kos__self_test_decode(c->ctlbuf, len, &r)) {
        say(c, "app '%s' sent a malformed self-test report; closing its control channel", p->name);
        if (c->self_test == KOS__SELF_TEST_NONE)
            kos__core_self_test_settle(c, p, KOS__SELF_TEST_RESULT_FAILED, 0, 0,
                                       "the self-test report was malformed");
        return false;
    }
    if (c->self_test != KOS__SELF_TEST_NONE) {
        say(c, "app '%s' reported the self test again; this boot's verdict stands (%s)", p->name,
            kos__self_test_result_name(c->self_test));
        return true;
    }
    if (r.verdict != KOS__SELF_TEST_PASSED && c->phase != PH_RUNNING) {
        /* The system began stopping before the report came: the services
         * the checks asked are going away, so a failure says nothing of the
         * release. A pass still counts. */
        char why[KOS__SELF_TEST_TEXT_MAX + 160];
        snprintf(why, sizeof(why),
                 "the system began stopping before app '%s' reported; its report came during "
                 "the stop (%u of %u checks failed: %s)",
                 p->name, r.failed, r.checks, r.summary);
        kos__core_self_test_settle(c, p, KOS__SELF_TEST_INCOMPLETE, r.checks, r.failed, why);
        return true;
    }
    kos__core_self_test_settle(c, p,
                               r.verdict == KOS__SELF_TEST_PASSED ? KOS__SELF_TEST_RESULT_PASSED
                                                                  : KOS__SELF_TEST_RESULT_FAILED,
                               r.checks, r.failed, r.summary);
    return true;
}

/* ---- consoles ---- */

/* Reports the lines of process p's that its console budget dropped, if a
 * report is due (see kos__console_drops); `final` when p has ended. */
void kos__core_report_drops(struct core *c, struct proc *p, bool final)
{
    unsigned long n = kos__console_drops(&p->conbuf, now_us() / 1000, final);

    if (n)
        say(c,
            "%s '%s' writes its console too fast: %lu line%s dropped (its budget: %u lines at "
            "once, then one per %u ms)",
            kind(p), p->name, n, n == 1 ? "" : "s", KOS__CONSOLE_BURST, KOS__CONSOLE_EVERY_MS);
}

/* Closes process p's console after its last partial line, and reports
 * what its budget dropped. */
void kos__core_close_console(struct core *c, struct proc *p)
{
    kos__console_flush(&c->con, p->name, &p->conbuf, now_us() / 1000);
    close(p->con);
    p->con = -1;
    kos__core_report_drops(c, p, true);
}

/* ---- exits and restarts ---- */

/* How many control messages an ended process's channel is read for: more
 * than it could have queued (the socket's buffer holds fewer), and a bound
 * on a grandchild that holds the channel and keeps writing. */
#define CTL_DRAIN_MAX 1024u

/* Decides what to do after process p exited with `status`. */
/* App p has ended for good (not restarted, or failed): the system may now
 * be ready without it, or end with it. */
void kos__core_ended_for_good(struct core *c, struct proc *p)
{
    /* An app that ended normally counts as ready, and one that failed is
     * no longer waited for: it may have been the last the system waited
     * for. */
    kos__core_check_ready(c);
    if (p->cm->flags & KOS_CM_PROC_ENDS_SYSTEM) {
        kos__core_begin_shutdown(c, "an app that ends the system has ended");
        return;
    }
    if (!kos__core_any_running(c, KOS_CM_ROLE_APP))
        kos__core_begin_shutdown(c, "no app is running any more");
}

/* Says how process p ended during a shutdown: "stopped" when it ended
 * because Core asked it to, in whatever way that took. */
static const char *stop_phrase(const struct proc *p, int status, const char *how, char *buf,
                               size_t len)
{
    if (p->stop == S_NONE)
        snprintf(buf, len, "ended: %s", how);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        snprintf(buf, len, "stopped");
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM && p->stop >= S_TERM)
        snprintf(buf, len, "stopped by SIGTERM");
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && p->stop == S_KILL)
        snprintf(buf, len, "killed (SIGKILL)");
    else
        snprintf(buf, len, "stopped: %s", how);
    return buf;
}

static void say_stopped(struct core *c, const struct proc *p, int status, const char *how)
{
    char what[192];

    say(c, "%s '%s' %s", kind(p), p->name, stop_phrase(p, status, how, what, sizeof(what)));
}

/* The delay before app p's next restart: restart_delay.first, doubled for
 * each restart in a row after a short run, at most restart_delay.max. */
static uint64_t restart_delay_us(const struct proc *p)
{
    uint64_t ms = p->cm->restart_delay_ms;

    for (uint32_t i = 0; i < p->quick && ms < p->cm->restart_delay_max_ms; i++)
        ms *= 2;
    if (ms > p->cm->restart_delay_max_ms)
        ms = p->cm->restart_delay_max_ms;
    return ms * 1000u;
}

/* Restarts app p, whose delay is over. */
void kos__core_restart_now(struct core *c, struct proc *p)
{
    p->state = P_IDLE;
    p->restart_at_us = 0;
    if (kos__core_start_proc(c, p) == KOS_STATUS_OK)
        return;
    p->state = P_FAILED;
    c->failed = true;
    kos__core_ended_for_good(c, p);
}

/* Decides what to do after process p exited with `status`. */
static void on_exit_status(struct core *c, struct proc *p, int status)
{
    char how[128];
    bool normal = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    uint64_t now = now_us();
    uint32_t restart = p->cm->restart;
    bool want;

    kos__core_debug_end(c, p, "the app ended");
    /* The process is gone, so its pipe holds all it wrote: take every last
     * line now, before a restart replaces the pipe. That is at most what
     * the pipe can hold; more would come from a grandchild that holds the
     * pipe and writes on, which must not keep Core here. Output that
     * orphaned grandchildren write later is not captured. */
    if (p->con >= 0) {
        int size = fcntl(p->con, F_GETPIPE_SZ);
        kos__core_on_console(c, p, size > 0 ? (size_t)size : 65536u);
        if (p->con >= 0)
            kos__core_close_console(c, p);
    }
    /* Likewise its last control messages, such as a self-test report sent
     * just before it ended. */
    for (unsigned i = 0; i < CTL_DRAIN_MAX && p->ctl >= 0 && kos__core_on_control(c, p); i++)
        ;
    p->pid = 0;
    p->last_status = status;
    p->ended_ok = normal;
    p->ready = false;
    p->stopped = c->phase != PH_RUNNING && p->stop != S_NONE;
    kos__core_close_ctl(c, p);
    kos__core_describe_status(status, how, sizeof(how));
    if (kos__core_cgroup_oom(c, p)) {
        size_t n = strlen(how);
        snprintf(how + n, sizeof(how) - n, " (out of memory: its cgroup reached memory.max)");
    }
    if ((p->cm->flags & KOS_CM_PROC_SELF_TEST) && c->self_test == KOS__SELF_TEST_NONE) {
        char why[192];
        snprintf(why, sizeof(why), "app '%s' %s before it reported", p->name, how);
        kos__core_self_test_settle(
            c, p, c->phase == PH_RUNNING ? KOS__SELF_TEST_RESULT_FAILED : KOS__SELF_TEST_INCOMPLETE,
            0, 0, why);
    }

    /* Stopped for a restart the managing app asked for: started again at
     * once, whatever its policy and restart_limit say. */
    if (p->restart_asked && c->phase == PH_RUNNING) {
        char what[192];
        say(c, "app '%s' %s for the restart app '%s' asked for; starting it again", p->name,
            stop_phrase(p, status, how, what, sizeof(what)), c->procs[p->restart_by].name);
        p->stop = S_NONE;
        kos__core_restart_asked_now(c, p);
        return;
    }
    if (p->restart_asked) {
        p->restart_asked = false;
        kos__core_sys_result(c, p->restart_by, p->restart_by_start, p->restart_id,
                             KOS_STATUS_UNAVAILABLE,
                             "the system began to stop before app '%s' restarted", p->name);
    }
    if (c->phase != PH_RUNNING) {
        p->state = P_DONE;
        say_stopped(c, p, status, how);
        p->stop = S_NONE;
        kos__core_advance_shutdown(c);
        return;
    }
    p->stop = S_NONE;
    if (is_server(p)) {
        /* Every app's tokens on this server are gone with it. */
        p->state = P_FAILED;
        c->failed = true;
        say(c, "message server '%s' %s; the system cannot run without it", p->name, how);
        kos__core_begin_shutdown(c, "a message server died");
        return;
    }
    want = restart == KOS_CM_RESTART_PERMANENT || (restart == KOS_CM_RESTART_TRANSIENT && !normal);
    if (!want) {
        p->state = P_DONE;
        say(c, "app '%s' %s (%s: not restarted)", p->name, how, restart_name(restart));
        if (!normal)
            c->failed = true;
        kos__core_ended_for_good(c, p);
        return;
    }

    /* A run as long as restart_period_ms shows the app works: the count of
     * restarts in a row, and the delay, start again. A crash loop, fast or
     * slow, kos__core_reaches restart_max. */
    uint64_t ran_ms = (now - p->started_us) / 1000u;
    if (ran_ms >= p->cm->restart_period_ms)
        p->quick = 0;
    if (p->quick >= p->cm->restart_max) {
        p->state = P_FAILED;
        c->failed = true;
        say(c,
            "app '%s' %s after %" PRIu64 " ms; it failed: %u restarts in a row, each after a run "
            "shorter than %u ms, reached its limit (restart_limit: {max: %u, period: %u ms}); "
            "not restarting it",
            p->name, how, ran_ms, p->quick, p->cm->restart_period_ms, p->cm->restart_max,
            p->cm->restart_period_ms);
        kos__core_ended_for_good(c, p);
        return;
    }
    uint64_t delay = restart_delay_us(p);
    p->quick++;
    p->restarts++;
    say(c,
        "app '%s' %s after %" PRIu64 " ms; restarting it in %" PRIu64
        " ms (%s, restart %u of %u in a row)",
        p->name, how, ran_ms, delay / 1000u, restart_name(restart), p->quick, p->cm->restart_max);
    if (delay == 0) {
        kos__core_restart_now(c, p);
        return;
    }
    p->state = P_WAITING;
    p->restart_at_us = now + delay;
    kos__core_arm_timer(c);
}

void kos__core_reap(struct core *c)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->launching && p->cancelled && p->launch.pid == pid) {
                kos__core_abandon_start(p, true);
                kos__core_advance_shutdown(c);
                break;
            }
            if (p->launching && p->launch.pid == pid) {
                /* It ran and ended before its start was seen: its error
                 * pipe says now which it did. */
                if (kos__core_finish_proc(c, p) != KOS_STATUS_OK) {
                    p->state = P_FAILED;
                    c->failed = true;
                    if (is_server(p))
                        kos__core_begin_shutdown(c, "a message server could not start");
                    break;
                }
                kos__core_drop_ends(p); /* nothing to connect any more */
            }
            if (p->state == P_RUNNING && p->pid == pid) {
                /* The sandbox's init reports the app's own wait status;
                 * without a report (the init was killed) its own status is
                 * the answer. */
                if (p->status_fd >= 0) {
                    int app_status;
                    if (read(p->status_fd, &app_status, sizeof(app_status)) ==
                        (ssize_t)sizeof(app_status))
                        status = app_status;
                    close(p->status_fd);
                    p->status_fd = -1;
                }
                on_exit_status(c, p, status);
                break;
            }
        }
        /* A debug agent that ended by itself (its session closed). */
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->dbg_pid == pid) {
                p->dbg_pid = 0;
                if (p->state == P_RUNNING && p->dbg_target > 0)
                    kill(p->dbg_target, SIGCONT); /* never left stopped */
                say(c, "debug session on app '%s' ended: gdbserver %s", p->name,
                    WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "detached and exited"
                                                                  : "ended abnormally");
            }
        }
        /* Other pids are orphans Core adopted as subreaper: nothing to do. */
    }
}
