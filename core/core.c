/*
 * core.c - KOS Core on the sim platform: boot a system image and run its loop.
 *
 * kos_core_run() verifies the image (or boots from the store), sets up the
 * sandbox, and then, for each boot, starts the processes and serves one
 * poll loop: consoles, control channels, signals and the timer. The phases
 * live beside it: launch.c (starting a process), supervise.c (readiness,
 * the self test, exits and restarts), stop.c (the stop order), sysif.c and
 * tracing.c (the managing app's system interface), setup.c (what a boot
 * needs before its first process: data, uids, regions, filters, keys).
 */
#include "core_int.h"

/* Describes a waitpid() status: "exited with status 3", "killed by signal 9 (Killed)". */
void kos__core_describe_status(int status, char *buf, size_t len)
{
    if (status < 0)
        snprintf(buf, len, "none");
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "stopped (status 0x%x)", status);
}

static void on_signal(struct core *c)
{
    struct signalfd_siginfo si;

    while (read(c->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            kos__core_reap(c);
            break;
        case SIGUSR1:
            kos__core_print_summary(c);
            break;
        default: /* SIGINT, SIGTERM, SIGHUP */
            if (c->phase == PH_RUNNING) {
                kos__core_begin_shutdown(c, si.ssi_signo == SIGINT ? "interrupted (SIGINT)"
                                                                   : "asked to stop (SIGTERM)");
            } else if (c->reboot) {
                c->reboot = false;
                say(c,
                    "asked to stop (%s) during a reboot: the system stops, and does not boot "
                    "again",
                    si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            } else {
                say(c, "second stop request: killing everything now");
                for (uint32_t i = 0; i < c->n; i++)
                    if (c->procs[i].state == P_RUNNING) {
                        kill(c->procs[i].pid, SIGKILL);
                        c->procs[i].stop = S_KILL;
                    }
            }
        }
    }
}

/* Reads at most `max` bytes of what process p has written to its console,
 * so that no process keeps Core here; at the end of its output (every
 * holder of the pipe has gone) flushes its last line and closes the pipe. */
void kos__core_on_console(struct core *c, struct proc *p, size_t max)
{
    char buf[4096];

    while (max > 0) {
        ssize_t n = read(p->con, buf, max < sizeof(buf) ? max : sizeof(buf));
        if (n > 0) {
            kos__console_feed(&c->con, p->name, &p->conbuf, buf, (size_t)n, now_us() / 1000);
            max -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EINTR))
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        /* End of output: every holder of the pipe has gone. */
        kos__core_close_console(c, p);
        return;
    }
}

/* Handles one message on process p's control channel. Returns true when it
 * took one and the channel stays open. */
bool kos__core_on_control(struct core *c, struct proc *p)
{
    uint32_t type;
    size_t len;
    int fd;
    kos_status_t st =
        kos__ctl_recv(p->ctl, c->ctlbuf, KOS__CTL_MAX, &type, &len, &fd, MSG_DONTWAIT);

    if (st == KOS_STATUS_WOULD_BLOCK)
        return false;
    if (fd >= 0)
        close(fd);
    if (st == KOS_STATUS_OK && type == KOS__CTL_READY && len == 0) {
        p->ready = true;
        kos__core_check_ready(c);
        return true;
    }
    if (st == KOS_STATUS_OK && type == KOS__CTL_SELF_TEST) {
        if (kos__core_on_self_test(c, p, len))
            return true;
        kos__core_close_ctl(c, p);
        return false;
    }
    if (st == KOS_STATUS_OK && type == KOS__CTL_TRACE_DONE && is_server(p)) {
        if (kos__core_trace_done(c, p, len))
            return true;
        say(c,
            "message server '%s' sent a malformed TRACE_DONE (%zu bytes); closing its "
            "control channel",
            p->name, len);
        kos__core_close_ctl(c, p);
        return false;
    }
    if (st == KOS_STATUS_OK && (kos__sys_to_core(type) || kos__sys_unknown(type))) {
        if (kos__core_on_sys_request(c, p, type, len))
            return true;
        kos__core_close_ctl(c, p);
        return false;
    }
    if (st == KOS_STATUS_OK)
        say(c,
            "%s '%s' sent an unknown control message (type %u, %zu bytes); closing its "
            "control channel",
            kind(p), p->name, type, len);
    else if (st != KOS_STATUS_CLOSED)
        say(c, "%s '%s' sent a malformed control message (%s); closing its control channel",
            kind(p), p->name, kos_status_str(st));
    kos__core_close_ctl(c, p);
    return false;
}

/* ---- booting ---- */

/* How many processes may be between launch and exec at once. */
#define MAX_LAUNCHING 32u

/* Asks process p, which has just started during a shutdown, to stop at once
 * (the shutdown could not reach it while it was starting, and it was never
 * connected, so nothing kos__core_uses it). */
static void stop_late(struct core *c, struct proc *p)
{
    kos__core_drop_ends(p);
    kos__core_ask_stop(c, p);
    kos__core_arm_timer(c);
}

/* Launched process p ran its binary or failed to (its error pipe is
 * readable): records which, and connects what can now be connected. */
static void on_started(struct core *c, struct proc *p)
{
    if (p->cancelled) {
        kos__core_abandon_start(p, false);
        kos__core_advance_shutdown(c); /* a shutdown may have waited for it */
        return;
    }
    if (kos__core_finish_proc(c, p) != KOS_STATUS_OK) {
        p->state = P_FAILED;
        c->failed = true;
        if (is_server(p))
            kos__core_begin_shutdown(c, "a message server could not start");
        kos__core_advance_shutdown(c);
        return;
    }
    if (c->phase != PH_RUNNING) {
        stop_late(c, p);
        return;
    }
    if (!is_server(p)) {
        kos__core_connect_proc(c, p);
        return;
    }
    for (uint32_t i = 0; i < c->n; i++)
        if (!is_server(&c->procs[i]))
            kos__core_connect_proc(c, &c->procs[i]);
}

/* Whether every message server runs and has reported ready (or can no
 * longer: its control channel is gone). */
static bool servers_ready(const struct core *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (is_server(p) && (p->state != P_RUNNING || (!p->ready && p->ctl >= 0)))
            return false;
    }
    return true;
}

/*
 * Launches what the boot may launch now, without waiting for any process to
 * build its sandbox: every message server at once, then every app at once.
 * No app runs before every message server runs and has reported ready: its
 * start is held meanwhile (its sandbox is built, its descriptors arranged)
 * and released by kos__proc_release(). Each is launched in table
 * order (cloned, its ids mapped, let go), at most MAX_LAUNCHING at a time;
 * kos__core_run_loop() learns from each error pipe when it runs (on_started). If the
 * system shuts down meanwhile (a message server could not start, a signal),
 * held starts are killed and stay "not started"; if no app could start, the
 * system shuts down.
 */
static void launch_more(struct core *c)
{
    bool ready = servers_ready(c);
    uint32_t n = 0;

    if (c->booted)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->held && c->phase != PH_RUNNING) {
            kill(p->launch.pid, SIGKILL);
            p->held = false;
            p->cancelled = true;
        } else if (p->held && ready) {
            p->held = false;
            (void)kos__proc_release(&p->launch); /* a dead init is reaped as any */
        }
        n += p->launching;
    }
    while (c->phase == PH_RUNNING && c->next_launch < c->n && n < MAX_LAUNCHING) {
        struct proc *p = &c->procs[c->next_launch];
        c->next_launch++;
        if (kos__core_launch_proc(c, p, !is_server(p) && !ready) == KOS_STATUS_OK) {
            n++;
            continue;
        }
        p->state = P_FAILED;
        c->failed = true;
        if (is_server(p))
            kos__core_begin_shutdown(c, "a message server could not start");
    }
    if (n > 0 || (c->phase == PH_RUNNING && c->next_launch < c->n))
        return;
    c->booted = true;
    /* Ends whose server never ran are closed, saying so. */
    for (uint32_t i = 0; i < c->n; i++)
        kos__core_connect_proc(c, &c->procs[i]);
    if (c->phase == PH_RUNNING && !kos__core_any_running(c, KOS_CM_ROLE_APP))
        kos__core_begin_shutdown(c, "no app could start");
}

/* ---- the loop ---- */

/* Once every process has ended, how long Core waits for the last output of
 * grandchildren that still hold a console pipe. */
#define DONE_WAIT_MS 200u

/* What one turn of the loop drains of an upgrade's blob (upgrade.c). */
#define STAGE_TURN_MAX (256u << 10)

int kos__core_run_loop(struct core *c)
{
    enum { W_CONSOLE, W_CONTROL, W_START, W_STAGE };
    size_t cap = 3 + 3 * (size_t)c->n;
    struct pollfd *pfd = calloc(cap, sizeof(*pfd));
    struct {
        struct proc *p;
        int what;
    } *who = calloc(cap, sizeof(*who));

    if (!pfd || !who) {
        free(pfd);
        free(who);
        say(c, "out of memory");
        return KOS_CORE_EXIT_HOST;
    }
    uint64_t done_by_us = 0; /* once the system is done: when to stop waiting for output */

    kos__core_arm_timer(c); /* for the note on what the boot waits for */
    for (;;) {
        bool consoles_open = false, drops_pending = false;
        size_t n = 0;

        launch_more(c);
        kos__core_check_ready(
            c);                  /* a process that failed to start may be the last one waited for */
        kos__core_sys_notify(c); /* the managing app hears of what changed */
        pfd[n++] = (struct pollfd){.fd = c->sigfd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = c->timerfd, .events = POLLIN};
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->con >= 0) {
                who[n].p = p;
                who[n].what = W_CONSOLE;
                pfd[n++] = (struct pollfd){.fd = p->con, .events = POLLIN};
                consoles_open = true;
            }
            kos__core_report_drops(c, p, false);
            drops_pending |= p->conbuf.dropped > 0;
            if (p->ctl >= 0) {
                who[n].p = p;
                who[n].what = W_CONTROL;
                pfd[n++] = (struct pollfd){.fd = p->ctl, .events = POLLIN};
            }
            if (p->launching) {
                who[n].p = p;
                who[n].what = W_START;
                pfd[n++] = (struct pollfd){.fd = p->launch.errpipe, .events = POLLIN};
            }
        }
        if (c->stage_rd >= 0) {
            who[n].p = NULL;
            who[n].what = W_STAGE;
            pfd[n++] = (struct pollfd){.fd = c->stage_rd, .events = POLLIN};
        }
        if (c->phase == PH_DONE && !consoles_open)
            break;
        /* Once everything has exited, wait only briefly for the last output
         * of grandchildren that may still hold a console pipe, however much
         * they write. Until the self test reports, wake up for its deadline;
         * while dropped lines wait to be reported, for their report. */
        int timeout = drops_pending ? (int)KOS__CONSOLE_REPORT_MS : -1;
        if (c->phase == PH_DONE) {
            uint64_t now = now_us();
            if (!done_by_us)
                done_by_us = now + DONE_WAIT_MS * 1000u;
            if (now >= done_by_us)
                break;
            timeout = (int)((done_by_us - now + 999) / 1000);
        }
        uint64_t trace_at = kos__core_trace_due(c);
        if (trace_at != UINT64_MAX) {
            uint64_t now = now_us();
            if (now >= trace_at) {
                kos__core_trace_pump(c);
                c->trace_next_us = now + KOS__TRACE_DRAIN_MS * 1000u;
                trace_at = c->trace_next_us;
            }
            uint64_t ms = (trace_at - now + 999) / 1000;
            if (timeout < 0 || ms < (uint64_t)timeout)
                timeout = (int)ms;
        }
        if (c->self_test_deadline_us && c->phase == PH_RUNNING) {
            uint64_t now = now_us();
            if (now >= c->self_test_deadline_us) {
                kos__core_self_test_deadline(c);
            } else {
                uint64_t ms = (c->self_test_deadline_us - now + 999) / 1000;
                if (timeout < 0 || ms < (uint64_t)timeout)
                    timeout = ms > INT32_MAX ? INT32_MAX : (int)ms;
            }
        }
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            say(c, "poll failed: %s", strerror(errno));
            break;
        }
        if (r == 0 && c->phase == PH_DONE)
            break;
        if (r == 0)
            continue; /* a deadline or a report: handled at the top */
        /* Consoles first, so a process's last lines precede its exit report;
         * starts before signals, so a process that ran and already ended is
         * known to run when its exit is reaped. Each console gets a bounded
         * turn, so every turn comes back to the signals and the timer. */
        for (size_t i = 2; i < n; i++)
            if (who[i].what == W_CONSOLE && pfd[i].revents && who[i].p->con == pfd[i].fd)
                kos__core_on_console(c, who[i].p, KOS__CONSOLE_TURN_MAX);
        for (size_t i = 2; i < n; i++)
            if (who[i].what == W_CONTROL && pfd[i].revents && who[i].p->ctl == pfd[i].fd)
                kos__core_on_control(c, who[i].p);
        for (size_t i = 2; i < n; i++)
            if (who[i].what == W_START && pfd[i].revents && who[i].p->launching)
                on_started(c, who[i].p);
        for (size_t i = 2; i < n; i++)
            if (who[i].what == W_STAGE && pfd[i].revents && c->stage_rd == pfd[i].fd)
                kos__core_stage_drain(c, STAGE_TURN_MAX);
        if (pfd[0].revents)
            on_signal(c);
        if (pfd[1].revents)
            kos__core_on_timer(c);
    }
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].con >= 0)
            kos__core_close_console(c, &c->procs[i]);
    free(pfd);
    free(who);
    return c->failed ? KOS_CORE_EXIT_FAILED : KOS_CORE_EXIT_OK;
}

static void destroy(struct core *c)
{
    for (uint32_t i = 0; c->procs && i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->state == P_RUNNING && p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
        }
        if (p->ctl >= 0)
            close(p->ctl);
        if (p->con >= 0)
            close(p->con);
        if (p->status_fd >= 0)
            close(p->status_fd);
        if (p->cg_fd >= 0)
            close(p->cg_fd);
        free(p->argv);
        free(p->envp);
        kos_sandbox_files_free(p->ro_files);
        free(p->data_dir);
        kos__storage_close(&p->store);
    }
    kos__devkeys_close(&c->keys);
    kos__core_stage_end(c);
    if (c->cgroup_fd >= 0)
        close(c->cgroup_fd);
    free(c->gens);
    for (uint32_t i = 0; c->region_fds && i < c->n_regions; i++)
        if (c->region_fds[i] >= 0)
            close(c->region_fds[i]);
    for (uint32_t i = 0; c->filters && i < c->n_filters; i++)
        kos_sandbox_prog_fini(&c->filters[i].prog);
    free(c->filters);
    kos_sandbox_prog_fini(&c->init_prog);
    kos_sandbox_prog_fini(&c->gate_prog);
    free(c->region_fds);
    /* Every sandbox is gone: so are the apps' file systems, with this. */
    int err = kos__statedir_remove(&c->sd);
    if (err)
        say(c, "WARNING: cannot remove all of the state directory %s: %s", c->sd.path,
            strerror(err));
    kos__statedir_close(&c->sd);
    kos__uids_release(&c->uids);
    free(c->reach);
    free(c->ctlbuf);
    free(c->sysbuf);
    free(c->sysout);
    free(c->syspage);
    free(c->trace_recs);
    free(c->trace_out);
    for (uint32_t i = 0; c->procs && i < c->n; i++) {
        if (c->procs[i].trace) { /* its descriptor is valid only then */
            kos__trace_unmap(c->procs[i].trace);
            close(c->procs[i].trace_fd);
        }
    }
    free(c->procs);
    kos__sysq_fini(&c->sysq);
    kos_image_close(c->img);
    if (c->probing)
        kos_sandbox_probe_cancel(&c->probe);
    if (c->sigfd >= 0)
        close(c->sigfd);
    if (c->timerfd >= 0)
        close(c->timerfd);
    if (c->con.file_fd >= 0)
        close(c->con.file_fd);
}

/* Makes everything of the boot that ended new for the next one (a soft
 * reboot): every process not started, its counters at nothing, the self
 * test not reported, the memory regions new (a reboot clears memory). What
 * stays: the image, the state directory and every app's data, the device
 * keys, the sandbox, the console and the lines queued for the managing
 * app. Returns 0, or -1 after saying why the system cannot boot again. */
static int reset_boot(struct core *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        p->state = P_IDLE;
        p->pid = 0;
        p->ready = p->ended_ok = p->stopped = false;
        p->last_status = -1;
        p->starts = p->restarts = p->restarts_asked = p->quick = 0;
        p->restart_asked = false;
        p->stop = S_NONE;
        p->stop_at_us = p->started_us = p->restart_at_us = 0;
        p->launching = p->held = p->cancelled = false;
        kos__core_drop_ends(p); /* any end never handed over */
        kos__console_buf_init(&p->conbuf, now_us() / 1000);
        p->traced = p->trace_flush = false; /* tracing does not survive a reboot */
    }
    c->n_traced = 0;
    for (uint32_t i = 0; c->region_fds && i < c->n_regions; i++)
        if (c->region_fds[i] >= 0)
            close(c->region_fds[i]);
    free(c->region_fds);
    c->region_fds = NULL;
    c->n_regions = 0;
    if (kos__core_make_regions(c) < 0)
        return -1;
    memset(c->reach, 0, ((size_t)c->n * c->reach_words + 1) * sizeof(uint64_t));
    c->phase = PH_RUNNING;
    c->system_ready = c->failed = false;
    c->wait_noted = c->ready_noted = false;
    c->shutdown_us = 0;
    c->next_launch = 0;
    c->booted = false;
    c->self_test = KOS__SELF_TEST_NONE;
    c->self_test_text[0] = '\0';
    c->sys_watch = c->sys_changed_due = false;
    c->reboot = false;
    return 0;
}

/* Starts a boot: its clocks, its self-test deadline, its line. */
static void begin_boot(struct core *c)
{
    struct timespec ts;

    if (c->boots > 0) /* the first boot's clock started with Core */
        c->t0_us = now_us();
    clock_gettime(CLOCK_REALTIME, &ts);
    c->boot_wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    c->boots++;
    c->self_test_deadline_us = 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].cm->flags & KOS_CM_PROC_SELF_TEST)
            c->self_test_deadline_us =
                c->t0_us + (uint64_t)kos__core_self_test_timeout_ms(c) * 1000;
    if (c->boots == 1)
        say(c, "booting system '%s': %u message servers and apps",
            kos_cm_str(c->cm, c->cm->hdr->system_name), c->n);
    else
        say(c,
            "booting system '%s' again (soft reboot %u, the same image): %u message servers "
            "and apps",
            kos_cm_str(c->cm, c->cm->hdr->system_name), c->boots - 1, c->n);
}

int kos_core_run(const struct kos_core_opts *opts)
{
    struct core c = {.opts = opts,
                     .sigfd = -1,
                     .timerfd = -1,
                     .images = -1,
                     .manager = -1,
                     .cgroup_fd = -1,
                     .stage_fd = -1,
                     .stage_rd = -1,
                     .uids = {.range = KOS__UID_NONE, .lock_fd = -1},
                     .sd = {.fd = -1, .data_fd = -1}};
    struct kos_image_open_opts io = {
        .trusted_keys = opts->trusted_keys,
        .n_trusted_keys = opts->n_trusted_keys,
        .allow_unsigned = opts->allow_unsigned,
    };
    char err[1024];
    sigset_t oldmask;
    int rc = KOS_CORE_EXIT_HOST;

    c.t0_us = now_us();
    /* A console that is a closed pipe must never end Core: from its first
     * line on, a write to it fails with EPIPE instead (console.c). */
    sigset_t pipe_set, mask_before;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_set, &mask_before);
    c.con.fd = opts->console_fd;
    c.con.file_fd = -1;
    if (opts->console_path) {
        c.con.file_fd = open(opts->console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (c.con.file_fd < 0) {
            fprintf(stderr, "kos-tool run: cannot open console file %s: %s\n", opts->console_path,
                    strerror(errno));
            return KOS_CORE_EXIT_USAGE;
        }
    }
    /* The host's namespaces are tried in a child while the image is
     * verified (the child runs nothing of the image). */
    if (opts->isolation != KOS_SANDBOX_NONE) {
        kos_sandbox_probe_start(&c.probe);
        c.probing = true;
    }
    char shown[1100];
    if (opts->store) {
        char note[256];
        if (kos_store_boot(opts->store, &c.generation, note, sizeof(note), err, sizeof(err))) {
            say(&c, "cannot boot from the store: %s", err);
            rc = KOS_CORE_EXIT_REFUSED;
            goto out;
        }
        if (note[0])
            say(&c, "boot store: %s", note);
        /* A generation that does not verify gives way to good, then to
         * the newest one left (kos_store_fall_back), each said. */
        uint32_t tried[KOS_STORE_MAX_GENS];
        size_t n_tried = 0;
        for (;;) {
            snprintf(shown, sizeof(shown), "generation %u of store %s", c.generation,
                     kos_store_path(opts->store));
            if (!kos_store_open_image(opts->store, c.generation, &io, &c.img, err, sizeof(err)))
                break;
            say(&c, "refusing %s: %s", shown, err);
            c.gen_damaged[c.n_damaged++] = c.generation;
            tried[n_tried++] = c.generation;
            if (n_tried == KOS_STORE_MAX_GENS ||
                kos_store_fall_back(opts->store, tried, n_tried, &c.generation, note, sizeof(note),
                                    err, sizeof(err))) {
                say(&c, "cannot boot from the store: %s",
                    n_tried == KOS_STORE_MAX_GENS ? "too many generations tried" : err);
                rc = KOS_CORE_EXIT_REFUSED;
                goto out;
            }
            say(&c, "boot store: %s", note);
        }
        c.gens = calloc(KOS_STORE_MAX_GENS, sizeof(*c.gens));
        if (!c.gens)
            goto out_nomem;
        kos__core_store_survey(&c);
    } else {
        snprintf(shown, sizeof(shown), "image %s", opts->image_path);
        if (kos_image_open(opts->image_path, &io, &c.img, err, sizeof(err))) {
            say(&c, "refusing image %s: %s", opts->image_path, err);
            rc = KOS_CORE_EXIT_REFUSED;
            goto out;
        }
    }
    c.cm = kos_image_manifest(c.img);
    if (kos_image_signer(c.img))
        say(&c, "%s verified: signed by release key %s", shown, kos_image_signer(c.img));
    else
        say(&c, "WARNING: %s is not signed (its manifest says signing: disabled)", shown);

    if (opts->keys_dir && kos__core_open_device_keys(&c, opts->keys_dir)) {
        rc = KOS_CORE_EXIT_USAGE;
        goto out;
    }

    c.n = kos_cm_nprocs(c.cm);
    c.procs = calloc(c.n, sizeof(*c.procs));
    c.ctlbuf = malloc(KOS__CTL_MAX);
    c.sysbuf = malloc(SYS_LINE_BUF);
    c.sysout = malloc(KOS__CTL_MAX);
    c.syspage = malloc(sizeof(struct sys_page));
    c.trace_recs = calloc(KOS__SYS_TRACE_BATCH, sizeof(*c.trace_recs));
    c.trace_out = calloc(1, sizeof(*c.trace_out));
    c.reach_words = (c.n + 63) / 64;
    c.reach = calloc((size_t)c.n * c.reach_words + 1, sizeof(uint64_t));
    if (!c.procs || !c.ctlbuf || !c.reach || !c.sysbuf || !c.sysout || !c.syspage ||
        !c.trace_recs || !c.trace_out)
        goto out_nomem;
    for (uint32_t i = 0; i < c.n; i++) {
        struct proc *p = &c.procs[i];
        p->idx = i;
        p->cm = kos_cm_proc(c.cm, i);
        p->name = kos_cm_str(c.cm, p->cm->name);
        p->ctl = p->con = -1;
        p->status_fd = -1;
        p->trace_fd = -1;
        p->cg_fd = -1;
        p->last_status = -1;
        kos__console_buf_init(&p->conbuf, c.t0_us / 1000);
        p->store.mnt = -1;
        if (kos__core_build_vectors(&c, p))
            goto out_nomem;
        if (p->cm->role == KOS_CM_ROLE_APP && (p->cm->flags & KOS_CM_PROC_MANAGES_SYSTEM))
            c.manager = (int)i;
    }
    /* The system interface's app gets every console line from now on. */
    c.sys_log = (struct kos__budget){.credit = SYS_LOG_BURST,
                                     .refill_ms = c.t0_us / 1000 + SYS_LOG_EVERY_MS};
    if (c.manager >= 0) {
        c.con.tap = kos__core_console_tap;
        c.con.tap_arg = &c;
        say(&c,
            "app '%s' manages the system (manages_system: true): it may ask for the system's "
            "state, restart apps and reboot, and gets every console line",
            c.procs[c.manager].name);
    }
    if (kos__core_setup_signals(&c, &oldmask) < 0) {
        say(&c, "cannot set up signal handling: %s", strerror(errno));
        goto out;
    }
    /* Orphaned grandchildren of apps are reparented to Core and reaped. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* Sandboxed binaries sit at fd max_files, which must be below our own
     * limit; take the whole hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    rc = kos__core_setup_sandbox(&c);
    if (rc) {
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
        goto out;
    }
    rc = KOS_CORE_EXIT_HOST;

    /* One boot, and one more for each soft reboot asked for. */
    for (;;) {
        begin_boot(&c);
        rc = kos__core_run_loop(&c);
        for (uint32_t i = 0; i < c.n && c.self_test == KOS__SELF_TEST_NONE; i++)
            if (c.procs[i].cm->flags & KOS_CM_PROC_SELF_TEST)
                kos__core_self_test_settle(&c, &c.procs[i],
                                           c.procs[i].state == P_FAILED
                                               ? KOS__SELF_TEST_RESULT_FAILED
                                               : KOS__SELF_TEST_INCOMPLETE,
                                           0, 0, "the system stopped before it reported");
        if (rc == KOS_CORE_EXIT_OK && c.self_test == KOS__SELF_TEST_RESULT_FAILED)
            rc = KOS_CORE_EXIT_SELF_TEST;
        kos__core_print_summary(&c);
        if (!c.reboot || rc == KOS_CORE_EXIT_HOST)
            break;
        if (opts->store) {
            /* The store decides what boots next: the caller starts Core
             * again, as a device reboots. */
            say(&c, "system stopped for a reboot (%s); booting from the store again", c.reboot_why);
            rc = KOS_CORE_EXIT_REBOOT;
            break;
        }
        say(&c, "system stopped for a reboot (%s; this boot's exit status: %d); booting it again",
            c.reboot_why, rc);
        if (reset_boot(&c) < 0) {
            rc = KOS_CORE_EXIT_HOST;
            break;
        }
    }
    say(&c, "system stopped (exit status %d)", rc);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    goto out;

out_nomem:
    say(&c, "out of memory");
out:
    destroy(&c);
    /* A SIGPIPE from a closed console is pending, not delivered: take it
     * before the caller's mask comes back. */
    while (sigtimedwait(&pipe_set, NULL, &(struct timespec){0, 0}) == SIGPIPE)
        ;
    sigprocmask(SIG_SETMASK, &mask_before, NULL);
    return rc;
}
