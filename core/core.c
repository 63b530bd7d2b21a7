/*
 * core.c - KOS Core on the sim platform: boot, wire, supervise, shut down.
 *
 * Core owns one struct core for the life of a system. It verifies the image,
 * starts the message servers and then the apps, each with its console pipe,
 * its control socket and one socket per message server its manifest entry
 * names (Core hands the other end, with the app's grants, to that message
 * server). One poll loop then serves the consoles, the control channels,
 * signals (SIGCHLD, SIGINT, SIGTERM, SIGUSR1) and a timer for shutdown
 * deadlines. What stays true: every running process has exactly one struct
 * proc in state RUNNING holding its pid, and Core never blocks on an app.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot_int.h"
#include "console_int.h"
#include "core.h"
#include "image.h"
#include "proc_int.h"

#define CORE_NAME "core"

enum proc_state {
    P_IDLE,     /* not started yet */
    P_RUNNING,  /* has a pid */
    P_DONE,     /* ended and will not be restarted */
    P_FAILED,   /* exceeded its restart intensity, or could not start */
};

enum phase {
    PH_RUNNING,
    PH_STOP_APPS,    /* apps asked to stop; servers still up */
    PH_STOP_SERVERS, /* apps gone; servers asked to stop */
    PH_DONE,
};

struct proc {
    uint32_t idx;
    const struct kos_cm_proc *cm;
    const char *name;
    enum proc_state state;
    pid_t pid;
    int ctl;            /* Core's end of the control socket, or -1 */
    int con;            /* read end of the console pipe, or -1 */
    bool ready;
    bool ended_ok;      /* its last exit was normal (status 0) */
    int last_status;    /* as from waitpid(), or -1 */
    uint32_t starts;
    uint32_t restarts;
    uint64_t *restart_ts; /* ring of the last restart_max restart times (ms) */
    uint32_t n_restart_ts;
    const char **argv;
    const char **envp;
    struct kos__console_buf conbuf;
};

struct core {
    const struct kos_core_opts *opts;
    struct kos_image *img;
    const struct kos_cm *cm;
    struct kos__console con;
    struct proc *procs;
    uint32_t n;
    int sigfd;
    int timerfd;
    enum phase phase;
    bool system_ready;
    bool failed;        /* the exit status will be KOS_CORE_EXIT_FAILED */
    uint64_t t0_us;
    uint8_t *ctlbuf;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#define say(c, ...) kos__console_printf(&(c)->con, CORE_NAME, __VA_ARGS__)

static bool is_server(const struct proc *p)
{
    return p->cm->role == KOS_CM_ROLE_MSG_SERVER;
}

static const char *kind(const struct proc *p)
{
    return is_server(p) ? "message server" : "app";
}

static const char *restart_name(uint32_t r)
{
    switch (r) {
    case KOS_CM_RESTART_PERMANENT:
        return "permanent";
    case KOS_CM_RESTART_TRANSIENT:
        return "transient";
    default:
        return "temporary";
    }
}

/* Describes a waitpid() status: "exited with status 3", "killed by signal 9 (Killed)". */
static void describe_status(int status, char *buf, size_t len)
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

/* ---- building each process's argv and environment ---- */

static kos_status_t build_vectors(struct core *c, struct proc *p)
{
    const struct kos_cm_proc *cm = p->cm;

    p->argv = calloc((size_t)cm->n_args + 2, sizeof(char *));
    p->envp = calloc((size_t)cm->n_env + 1, sizeof(char *));
    p->restart_ts = calloc(cm->restart_max ? cm->restart_max : 1, sizeof(uint64_t));
    if (!p->argv || !p->envp || !p->restart_ts)
        return KOS_STATUS_NO_MEMORY;
    p->argv[0] = p->name;
    for (uint32_t i = 0; i < cm->n_args; i++)
        p->argv[i + 1] = kos_cm_strref(c->cm, cm->args_first + i);
    for (uint32_t i = 0; i < cm->n_env; i++)
        p->envp[i] = kos_cm_strref(c->cm, cm->env_first + i);
    return KOS_STATUS_OK;
}

/* ---- starting ---- */

/* Collects the distinct message servers process p has grants on, in the order
 * they first appear. Returns their count. */
static uint32_t servers_of(const struct core *c, const struct proc *p, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t g = 0; g < p->cm->n_grants; g++) {
        uint32_t s = kos_cm_grant(c->cm, p->cm->grants_first + g)->server;
        bool seen = false;
        for (uint32_t i = 0; i < n; i++)
            seen |= out[i] == s;
        if (!seen && n < KOS__BOOT_MAX_DIRS)
            out[n++] = s;
    }
    return n;
}

/* Sends message server `s` the server end of app p's socket and p's grants. */
static kos_status_t send_grants(struct core *c, struct proc *p, uint32_t s, int fd)
{
    struct kos__client_grants *g;
    struct proc *srv = &c->procs[s];
    size_t len;
    kos_status_t st;

    if (srv->state != P_RUNNING || srv->ctl < 0)
        return KOS_STATUS_UNAVAILABLE;
    g = calloc(1, sizeof(*g));
    if (!g)
        return KOS_STATUS_NO_MEMORY;
    g->app_id = p->idx;
    snprintf(g->app, sizeof(g->app), "%s", p->name);
    for (uint32_t i = 0; i < p->cm->n_grants; i++) {
        const struct kos_cm_grant *gr = kos_cm_grant(c->cm, p->cm->grants_first + i);
        const char *proto = kos_cm_str(c->cm, gr->protocol);
        if (gr->server != s)
            continue;
        if (gr->kind == KOS_CM_GRANT_PUBLISH && g->n_publish < KOS__GRANTS_MAX)
            g->publish[g->n_publish++] = proto;
        else if (gr->kind == KOS_CM_GRANT_REQUEST && g->n_request < KOS__GRANTS_MAX)
            g->request[g->n_request++] = proto;
    }
    st = kos__grants_encode(g, c->ctlbuf, KOS__CTL_MAX - sizeof(struct kos__ctl_hdr), &len);
    if (st == KOS_STATUS_OK)
        st = kos__ctl_send(srv->ctl, KOS__CTL_ADD_CLIENT, c->ctlbuf, len, fd);
    free(g);
    return st;
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/*
 * Starts process p: console pipe, control socket with its boot record, and
 * one socketpair per message server it uses. On failure logs why, leaves no
 * descriptor behind and returns the status.
 */
static kos_status_t start_proc(struct core *c, struct proc *p)
{
    uint32_t srv[KOS__BOOT_MAX_DIRS];
    uint32_t n_srv = is_server(p) ? 0 : servers_of(c, p, srv);
    int app_ends[KOS__BOOT_MAX_DIRS], srv_ends[KOS__BOOT_MAX_DIRS];
    int con[2] = {-1, -1}, ctl[2] = {-1, -1};
    struct kos__boot boot;
    struct kos__spawn sp;
    size_t len;
    int err = 0;
    kos_status_t st;

    for (uint32_t i = 0; i < KOS__BOOT_MAX_DIRS; i++)
        app_ends[i] = srv_ends[i] = -1;
    memset(&boot, 0, sizeof(boot));
    boot.app_id = p->idx;
    boot.role = is_server(p) ? KOS__ROLE_MSG_SERVER : KOS__ROLE_APP;
    snprintf(boot.name, sizeof(boot.name), "%s", p->name);
    boot.n_dirs = n_srv;

    st = KOS_STATUS_IO;
    if (pipe2(con, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
        err = errno;
        goto out_close;
    }
    for (uint32_t i = 0; i < n_srv; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
            err = errno;
            goto out_close;
        }
        app_ends[i] = sv[0];
        srv_ends[i] = sv[1];
        snprintf(boot.dirs[i].name, sizeof(boot.dirs[i].name), "%s", c->procs[srv[i]].name);
        boot.dirs[i].fd = (int32_t)(KOS__CTL_FD + 1 + i);
    }
    st = kos__boot_encode(&boot, c->ctlbuf, KOS__CTL_MAX, &len);
    if (st == KOS_STATUS_OK)
        st = kos__ctl_send(ctl[0], KOS__CTL_BOOT, c->ctlbuf, len, -1);
    if (st)
        goto out_close;

    sp = (struct kos__spawn){
        .exe_fd = kos_image_binary_fd(c->img, p->idx),
        .argv = p->argv,
        .envp = p->envp,
        .console_fd = con[1],
        .ctl_fd = ctl[1],
        .dir_fds = app_ends,
        .n_dir_fds = n_srv,
    };
    st = kos__proc_spawn(&sp, &p->pid, &err);
    if (st)
        goto out_close;

    /* The process runs: hand each of its message servers the other end. */
    for (uint32_t i = 0; i < n_srv; i++) {
        kos_status_t gst = send_grants(c, p, srv[i], srv_ends[i]);
        if (gst)
            say(c, "cannot connect app '%s' to message server '%s': %s", p->name,
                c->procs[srv[i]].name, kos_status_str(gst));
    }
    close_fds(app_ends, n_srv);
    close_fds(srv_ends, n_srv);
    close(con[1]);
    close(ctl[1]);
    fcntl(con[0], F_SETFL, O_NONBLOCK);
    p->con = con[0];
    p->ctl = ctl[0];
    p->state = P_RUNNING;
    p->ready = false;
    p->starts++;
    return KOS_STATUS_OK;

out_close:
    say(c, "cannot start %s '%s': %s%s%s", kind(p), p->name, kos_status_str(st),
        err ? ": " : "", err ? strerror(err) : "");
    close_fds(app_ends, n_srv);
    close_fds(srv_ends, n_srv);
    close_fds(con, 2);
    close_fds(ctl, 2);
    return st;
}

/* ---- shutdown ---- */

static void arm_timer(struct core *c, unsigned ms)
{
    struct itimerspec its = {.it_value = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}};
    timerfd_settime(c->timerfd, 0, &its, NULL);
}

/* Asks every running process of the given role to stop: a STOP record on its
 * control channel and SIGTERM. */
static void stop_role(struct core *c, uint32_t role)
{
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->state != P_RUNNING || p->cm->role != role)
            continue;
        if (p->ctl >= 0 && kos__ctl_send(p->ctl, KOS__CTL_STOP, NULL, 0, -1) != KOS_STATUS_OK) {
            /* A full or closed control channel does not stop the shutdown. */
        }
        kill(p->pid, SIGTERM);
    }
    arm_timer(c, c->opts->grace_ms ? c->opts->grace_ms : 3000);
}

static bool any_running(const struct core *c, uint32_t role)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].state == P_RUNNING && c->procs[i].cm->role == role)
            return true;
    return false;
}

/* Moves the shutdown on as far as it can go now. */
static void advance_shutdown(struct core *c)
{
    if (c->phase == PH_STOP_APPS && !any_running(c, KOS_CM_ROLE_APP)) {
        c->phase = PH_STOP_SERVERS;
        stop_role(c, KOS_CM_ROLE_MSG_SERVER);
    }
    if (c->phase == PH_STOP_SERVERS && !any_running(c, KOS_CM_ROLE_MSG_SERVER))
        c->phase = PH_DONE;
}

static void begin_shutdown(struct core *c, const char *why)
{
    if (c->phase != PH_RUNNING)
        return;
    say(c, "shutting down: %s", why);
    c->phase = PH_STOP_APPS;
    stop_role(c, KOS_CM_ROLE_APP);
    advance_shutdown(c);
}

/* The grace period ran out: kill whatever of the current phase still runs. */
static void on_timer(struct core *c)
{
    uint64_t exp;
    uint32_t role = c->phase == PH_STOP_APPS ? KOS_CM_ROLE_APP : KOS_CM_ROLE_MSG_SERVER;

    if (read(c->timerfd, &exp, sizeof(exp)) < 0)
        return;
    if (c->phase != PH_STOP_APPS && c->phase != PH_STOP_SERVERS)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->state == P_RUNNING && p->cm->role == role) {
            say(c, "%s '%s' did not stop within the grace period; killing it", kind(p), p->name);
            kill(p->pid, SIGKILL);
        }
    }
}

/* ---- readiness and the state summary ---- */

static void check_ready(struct core *c)
{
    if (c->system_ready || c->phase != PH_RUNNING)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (!(p->ready || (p->state == P_DONE && p->ended_ok)))
            return;
    }
    c->system_ready = true;
    uint64_t us = now_us() - c->t0_us;
    say(c, "system '%s' ready: %u processes in %" PRIu64 ".%03" PRIu64 " ms",
        kos_cm_str(c->cm, c->cm->hdr->system_name), c->n, us / 1000, us % 1000);
}

static const char *state_name(enum proc_state s)
{
    switch (s) {
    case P_IDLE:
        return "not started";
    case P_RUNNING:
        return "running";
    case P_DONE:
        return "ended";
    default:
        return "failed";
    }
}

static void print_summary(struct core *c)
{
    say(c, "summary: %u processes", c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        char how[128];
        describe_status(p->last_status, how, sizeof(how));
        say(c, "  %-16s %-14s %-11s %-9s restarts %u, last exit: %s", p->name, kind(p),
            state_name(p->state), p->ready ? "ready" : "not ready", p->restarts, how);
    }
}

/* ---- exits and restarts ---- */

static void on_console(struct core *c, struct proc *p);

/* Decides what to do after process p exited with `status`. */
static void on_exit_status(struct core *c, struct proc *p, int status)
{
    char how[128];
    bool normal = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    uint64_t now = now_us() / 1000;
    uint32_t restart = p->cm->restart;
    bool want;

    /* The process is gone, so its pipe holds all it wrote: take every last
     * line now, before a restart replaces the pipe. Output that orphaned
     * grandchildren write later is not captured. */
    if (p->con >= 0) {
        on_console(c, p);
        if (p->con >= 0) {
            kos__console_flush(&c->con, p->name, &p->conbuf);
            close(p->con);
            p->con = -1;
        }
    }
    p->pid = 0;
    p->last_status = status;
    p->ended_ok = normal;
    p->ready = false;
    if (p->ctl >= 0) {
        close(p->ctl);
        p->ctl = -1;
    }
    describe_status(status, how, sizeof(how));

    if (c->phase != PH_RUNNING) {
        p->state = P_DONE;
        say(c, "%s '%s' %s", kind(p), p->name, how);
        advance_shutdown(c);
        return;
    }
    if (is_server(p)) {
        /* Every app's tokens on this server are gone with it. */
        p->state = P_FAILED;
        c->failed = true;
        say(c, "message server '%s' %s; the system cannot run without it", p->name, how);
        begin_shutdown(c, "a message server died");
        return;
    }
    want = restart == KOS_CM_RESTART_PERMANENT ||
           (restart == KOS_CM_RESTART_TRANSIENT && !normal);
    if (!want) {
        p->state = P_DONE;
        say(c, "app '%s' %s (%s: not restarted)", p->name, how, restart_name(restart));
        if (!normal)
            c->failed = true;
        goto out_ended;
    }

    /* Restart intensity: at most restart_max restarts within the period. */
    uint32_t recent = 0;
    for (uint32_t i = 0; i < p->n_restart_ts; i++)
        if (now - p->restart_ts[i] < p->cm->restart_period_ms)
            recent++;
    if (recent >= p->cm->restart_max) {
        p->state = P_FAILED;
        c->failed = true;
        say(c, "app '%s' %s; it failed: %u restarts within %u ms reached its limit of %u; "
               "not restarting it",
            p->name, how, recent, p->cm->restart_period_ms, p->cm->restart_max);
        goto out_ended;
    }
    if (p->cm->restart_max) {
        p->restart_ts[p->restarts % p->cm->restart_max] = now;
        if (p->n_restart_ts < p->cm->restart_max)
            p->n_restart_ts++;
    }
    p->restarts++;
    say(c, "app '%s' %s; restarting it (%s, restart %u of %u within %u ms)", p->name, how,
        restart_name(restart), recent + 1, p->cm->restart_max, p->cm->restart_period_ms);
    if (start_proc(c, p) == KOS_STATUS_OK)
        return;
    p->state = P_FAILED;
    c->failed = true;

out_ended:
    if (p->cm->flags & KOS_CM_PROC_ENDS_SYSTEM) {
        begin_shutdown(c, "an app that ends the system has ended");
        return;
    }
    if (!any_running(c, KOS_CM_ROLE_APP))
        begin_shutdown(c, "no app is running any more");
}

static void reap(struct core *c)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->state == P_RUNNING && p->pid == pid) {
                on_exit_status(c, p, status);
                break;
            }
        }
        /* Other pids are orphans Core adopted as subreaper: nothing to do. */
    }
}

static void on_signal(struct core *c)
{
    struct signalfd_siginfo si;

    while (read(c->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap(c);
            break;
        case SIGUSR1:
            print_summary(c);
            break;
        default: /* SIGINT, SIGTERM, SIGHUP */
            if (c->phase == PH_RUNNING) {
                begin_shutdown(c, si.ssi_signo == SIGINT ? "interrupted (SIGINT)"
                                                         : "asked to stop (SIGTERM)");
            } else {
                say(c, "second stop request: killing everything now");
                for (uint32_t i = 0; i < c->n; i++)
                    if (c->procs[i].state == P_RUNNING)
                        kill(c->procs[i].pid, SIGKILL);
            }
        }
    }
}

/* Reads whatever process p has written to its console. */
static void on_console(struct core *c, struct proc *p)
{
    char buf[4096];

    for (;;) {
        ssize_t n = read(p->con, buf, sizeof(buf));
        if (n > 0) {
            kos__console_feed(&c->con, p->name, &p->conbuf, buf, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EINTR))
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        /* End of output: every holder of the pipe has gone. */
        kos__console_flush(&c->con, p->name, &p->conbuf);
        close(p->con);
        p->con = -1;
        return;
    }
}

/* Handles one message on process p's control channel. */
static void on_control(struct core *c, struct proc *p)
{
    uint32_t type;
    size_t len;
    int fd;
    kos_status_t st = kos__ctl_recv(p->ctl, c->ctlbuf, KOS__CTL_MAX, &type, &len, &fd,
                                    MSG_DONTWAIT);

    if (st == KOS_STATUS_WOULD_BLOCK)
        return;
    if (fd >= 0)
        close(fd);
    if (st == KOS_STATUS_OK && type == KOS__CTL_READY && len == 0) {
        p->ready = true;
        check_ready(c);
        return;
    }
    if (st == KOS_STATUS_OK)
        say(c, "%s '%s' sent an unknown control message (type %u, %zu bytes); closing its "
               "control channel",
            kind(p), p->name, type, len);
    else if (st != KOS_STATUS_CLOSED)
        say(c, "%s '%s' sent a malformed control message (%s); closing its control channel",
            kind(p), p->name, kos_status_str(st));
    close(p->ctl);
    p->ctl = -1;
}

/* ---- the loop ---- */

static int run_loop(struct core *c)
{
    size_t cap = 2 + 2 * (size_t)c->n;
    struct pollfd *pfd = calloc(cap, sizeof(*pfd));
    struct {
        struct proc *p;
        bool console;
    } *who = calloc(cap, sizeof(*who));

    if (!pfd || !who) {
        free(pfd);
        free(who);
        say(c, "out of memory");
        return KOS_CORE_EXIT_HOST;
    }
    for (;;) {
        bool consoles_open = false;
        size_t n = 0;

        pfd[n++] = (struct pollfd){.fd = c->sigfd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = c->timerfd, .events = POLLIN};
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->con >= 0) {
                who[n].p = p;
                who[n].console = true;
                pfd[n++] = (struct pollfd){.fd = p->con, .events = POLLIN};
                consoles_open = true;
            }
            if (p->ctl >= 0) {
                who[n].p = p;
                who[n].console = false;
                pfd[n++] = (struct pollfd){.fd = p->ctl, .events = POLLIN};
            }
        }
        if (c->phase == PH_DONE && !consoles_open)
            break;
        /* Once everything has exited, wait only briefly for the last output
         * of grandchildren that may still hold a console pipe. */
        int timeout = c->phase == PH_DONE ? 200 : -1;
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            say(c, "poll failed: %s", strerror(errno));
            break;
        }
        if (r == 0)
            break;
        /* Consoles first, so a process's last lines precede its exit report. */
        for (size_t i = 2; i < n; i++)
            if (who[i].console && pfd[i].revents)
                on_console(c, who[i].p);
        for (size_t i = 2; i < n; i++)
            if (!who[i].console && pfd[i].revents && who[i].p->ctl == pfd[i].fd)
                on_control(c, who[i].p);
        if (pfd[0].revents)
            on_signal(c);
        if (pfd[1].revents)
            on_timer(c);
    }
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].con >= 0)
            kos__console_flush(&c->con, c->procs[i].name, &c->procs[i].conbuf);
    free(pfd);
    free(who);
    return c->failed ? KOS_CORE_EXIT_FAILED : KOS_CORE_EXIT_OK;
}

/* ---- setup ---- */

static int setup_signals(struct core *c, sigset_t *old)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGPIPE);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0)
        return -1;
    sigdelset(&set, SIGPIPE);
    c->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return c->sigfd < 0 || c->timerfd < 0 ? -1 : 0;
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
        free(p->argv);
        free(p->envp);
        free(p->restart_ts);
    }
    free(c->procs);
    free(c->ctlbuf);
    kos_image_close(c->img);
    if (c->sigfd >= 0)
        close(c->sigfd);
    if (c->timerfd >= 0)
        close(c->timerfd);
    if (c->con.file_fd >= 0)
        close(c->con.file_fd);
}

int kos_core_run(const struct kos_core_opts *opts)
{
    struct core c = {.opts = opts, .sigfd = -1, .timerfd = -1};
    struct kos_image_open_opts io = {
        .trusted_keys = opts->trusted_keys,
        .n_trusted_keys = opts->n_trusted_keys,
        .allow_unsigned = opts->allow_unsigned,
    };
    char err[1024];
    sigset_t oldmask;
    int rc = KOS_CORE_EXIT_HOST;

    c.t0_us = now_us();
    c.con.fd = opts->console_fd;
    c.con.file_fd = -1;
    if (opts->console_path) {
        c.con.file_fd = open(opts->console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (c.con.file_fd < 0) {
            fprintf(stderr, "kos-tool run: cannot open console file %s: %s\n",
                    opts->console_path, strerror(errno));
            return KOS_CORE_EXIT_USAGE;
        }
    }
    if (kos_image_open(opts->image_path, &io, &c.img, err, sizeof(err))) {
        say(&c, "refusing image %s: %s", opts->image_path, err);
        rc = KOS_CORE_EXIT_REFUSED;
        goto out;
    }
    c.cm = kos_image_manifest(c.img);
    if (kos_image_signer(c.img))
        say(&c, "image %s verified: signed by release key %s", opts->image_path,
            kos_image_signer(c.img));
    else
        say(&c, "WARNING: image %s is not signed (its manifest says signing: disabled)",
            opts->image_path);

    c.n = kos_cm_nprocs(c.cm);
    c.procs = calloc(c.n, sizeof(*c.procs));
    c.ctlbuf = malloc(KOS__CTL_MAX);
    if (!c.procs || !c.ctlbuf)
        goto out_nomem;
    for (uint32_t i = 0; i < c.n; i++) {
        struct proc *p = &c.procs[i];
        p->idx = i;
        p->cm = kos_cm_proc(c.cm, i);
        p->name = kos_cm_str(c.cm, p->cm->name);
        p->ctl = p->con = -1;
        p->last_status = -1;
        if (build_vectors(&c, p))
            goto out_nomem;
    }
    if (setup_signals(&c, &oldmask) < 0) {
        say(&c, "cannot set up signal handling: %s", strerror(errno));
        goto out;
    }
    /* Orphaned grandchildren of apps are reparented to Core and reaped. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    say(&c, "booting system '%s': %u message servers and apps", kos_cm_str(c.cm,
        c.cm->hdr->system_name), c.n);
    /* Message servers first (they come first in the table), so that each
     * app's channels can be handed to a running server. */
    for (uint32_t i = 0; i < c.n; i++) {
        struct proc *p = &c.procs[i];
        if (start_proc(&c, p) == KOS_STATUS_OK)
            continue;
        p->state = P_FAILED;
        c.failed = true;
        if (is_server(p)) {
            begin_shutdown(&c, "a message server could not start");
            break;
        }
    }
    if (c.phase == PH_RUNNING && !any_running(&c, KOS_CM_ROLE_APP))
        begin_shutdown(&c, "no app could start");
    rc = run_loop(&c);
    print_summary(&c);
    say(&c, "system stopped (exit status %d)", rc);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    goto out;

out_nomem:
    say(&c, "out of memory");
out:
    destroy(&c);
    return rc;
}
