/*
 * main.c - admin, the device's management agent (docs/packages/admin.md):
 * it reports the system to its server and carries out the server's
 * commands, through the tunnel (include/kos/tunnel.h, channels 1 admin,
 * 2 logs and 4 shell), Core's system interface (manages_system: true,
 * lib/sys_int.h) and log_server (a reader of every app's records).
 *
 * One poll loop serves Core's control channel (console lines, the state,
 * answers, STOP), the tunnel's notifications, and a clock for the tunnel's
 * reopening, Health, log_server's polling and the saved state. What stays
 * true:
 *  - admin never blocks on the server: the tunnel takes what it has room
 *    for and says when it has more (admin_agent_pump());
 *  - with no link (no tunnel, no server) admin says so once and then waits
 *    in poll() for Core's lines and a slow retry: no busy loop;
 *  - log_server's records are read only while the link is up, from a
 *    cursor: while the link is down they stay in log_server; console lines
 *    are kept in admin's bounded buffer; every loss is counted (admin.h);
 *  - the place in the log stream (the next LogRecord.seq, log_server's
 *    cursor of the oldest record not sent) is kept in /data/admin.state, so
 *    a restarted admin, or a rebooted system, goes on where it was.
 *
 * Settings (config:): health_every, offline_buffer, remote_shell (the
 * command console on the shell channel, shell.c), remote_debug (debugging
 * apps marked debug: true on the debug channel, debug.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kos/log.h>
#include <kos/logsrv.h>
#include <kos/msg.h>
#include <kos/tunnel.h>

#include "admin.h"

#define SERVER   "msg0"
#define CHANNELS ((1u << KOS_TUNNEL_ADMIN) | (1u << KOS_TUNNEL_LOGS))
#define OPTIONAL ((1u << KOS_TUNNEL_TRACES) | (1u << KOS_TUNNEL_SHELL) | (1u << KOS_TUNNEL_DEBUG))
/* Reopening the tunnel: from 1 s, doubling, at most a minute. The first
 * failure is said only once admin has run TUNNEL_QUIET_MS, so that a tunnel
 * still starting beside admin is not reported as missing. */
#define TUNNEL_FIRST_MS 1000u
#define TUNNEL_MAX_MS   60000u
#define TUNNEL_QUIET_MS 2000u
/* log_server: how long a call may take, how often it is asked for new
 * records while the link is up and nothing is pending, and how soon it is
 * looked for again when it is not there. */
#define LOGS_CALL_MS  2000
#define LOGS_POLL_MS  1000u
#define LOGS_RETRY_MS 60000u
/* The saved state: rewritten at most this often. */
#define STATE_FLUSH_MS 1000u
#define STATE_FILE     "/data/admin.state"
#define STATE_TMP      "/data/.admin.state.tmp"

struct admin {
    kos_app_t *app;
    kos_dir_t *dir;
    struct admin_config cfg;
    struct admin_agent agent;
    struct admin_shell shell;
    bool shell_rx;   /* the shell channel may hold input not taken yet */
    bool shell_said; /* said that the tunnel does not give the shell channel */
    struct admin_debug debug;
    bool debug_rx; /* the debug channel may hold input not taken yet */
    struct admin_upgrade upgrade;
    uint64_t unknown_said; /* Core's messages of unknown kinds passed over */
    uint64_t t0_ms;
    uint64_t wakeups;
    /* Core */
    uint32_t next_id;
    bool status_busy;   /* a STATUS is being gathered */
    bool status_again;  /* it changed meanwhile: gather it again after */
    uint32_t status_id; /* its request's id */
    struct admin_state *gather;
    uint32_t credit_owed; /* console credit to give back */
    uint32_t trace_owed;  /* trace credit to give back */
    /* the tunnel */
    kos_tunnel_t *tunnel;
    uint64_t tunnel_at_ms, tunnel_delay_ms;
    kos_status_t tunnel_said; /* the failure said last (0: none) */
    enum kos_tunnel_state link_said;
    bool link_said_valid;
    bool traces_said; /* said that the traces channel is not given */
    /* log_server */
    kos_logsrv_t *logs;
    uint64_t logs_at_ms; /* when to ask it next */
    uint64_t cursor;     /* the next record wanted */
    bool logs_said;      /* said that it is missing */
    /* the saved state */
    bool persist;
    uint64_t saved_seq, saved_cursor;
    uint64_t flush_at_ms;
    uint8_t rx[KOS_TUNNEL_DATA_MAX];
};

static uint8_t ctlbuf[KOS__CTL_MAX];

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the ops the agent calls ---- */

static kos_status_t op_send(void *arg, uint32_t channel, const void *data, size_t len)
{
    struct admin *ad = arg;

    if (!ad->tunnel)
        return KOS_STATUS_UNAVAILABLE;
    return kos_tunnel_send(ad->tunnel, channel, data, len);
}

static kos_status_t op_restart(void *arg, uint32_t core_id, const char *app)
{
    struct admin *ad = arg;
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_RESTART, .id = core_id};

    snprintf(rq.app, sizeof(rq.app), "%s", app);
    return kos__sys_send(ad->app, &rq);
}

static kos_status_t op_trace(void *arg, uint32_t core_id, const char *app, bool on)
{
    struct admin *ad = arg;
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_TRACE_SET, .id = core_id, .on = on};

    snprintf(rq.app, sizeof(rq.app), "%s", app);
    return kos__sys_send(ad->app, &rq);
}

static kos_status_t op_reboot(void *arg, uint32_t core_id, const char *reason)
{
    struct admin *ad = arg;
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_REBOOT, .id = core_id, .reason = reason};

    return kos__sys_send(ad->app, &rq);
}

static kos_status_t op_table(void *arg, uint32_t core_id, uint32_t kind, uint32_t first)
{
    struct admin *ad = arg;
    struct kos__sys_request rq = {
        .type = KOS__CTL_SYS_TABLE_REQ, .id = core_id, .table = kind, .first = first};

    return kos__sys_send(ad->app, &rq);
}

static kos_status_t op_debug_attach(void *arg, uint32_t core_id, const char *app)
{
    struct admin *ad = arg;
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_DEBUG_ATTACH, .id = core_id};

    snprintf(rq.app, sizeof(rq.app), "%s", app);
    return kos__sys_send(ad->app, &rq);
}

static kos_status_t op_store(void *arg, const struct kos__sys_request *rq)
{
    struct admin *ad = arg;

    return kos__sys_send(ad->app, rq);
}

static kos_status_t op_fetch(void *arg, const uint8_t sha256[32], uint64_t from, uint64_t to,
                             int fd)
{
    struct admin *ad = arg;

    if (!ad->tunnel)
        return KOS_STATUS_UNAVAILABLE;
    return kos_tunnel_fetch(ad->tunnel, sha256, from, to, fd);
}

static void ask_status(struct admin *ad, uint32_t first);

static void op_want_state(void *arg)
{
    ask_status(arg, 0);
}

/* ---- the saved state ---- */

/* Reads /data/admin.state (admin_place_parse()); anything else in it is
 * said once, and the stream goes on from the good lines. */
static void state_load(struct admin *ad, uint64_t *seq, uint64_t *cursor)
{
    struct stat st;
    char text[1024];
    ssize_t n = -1;
    int fd;

    *seq = 1;
    *cursor = 0;
    ad->persist = stat("/data", &st) == 0 && S_ISDIR(st.st_mode);
    if (!ad->persist || (fd = open(STATE_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return;
    n = read(fd, text, sizeof(text));
    close(fd);
    bool good = n >= 0 && admin_place_parse(text, (size_t)(n < 0 ? 0 : n), seq, cursor);
    if (!good || (size_t)n == sizeof(text))
        kos_log_warn("%s is damaged: the log stream goes on from its last good values", STATE_FILE);
    ad->saved_seq = *seq;
    ad->saved_cursor = *cursor;
}

/* Where the stream is: the next seq, and the oldest log_server record not
 * sent yet (queued, or not read yet). */
static uint64_t cursor_now(const struct admin *ad)
{
    uint64_t oldest = admin_logq_oldest_src(&ad->agent.logq);
    return oldest ? oldest : ad->cursor;
}

/* Rewrites the saved state, with sequence number `seq` and the cursor now,
 * if either changed (a temporary file, renamed over it; synced when `sync`,
 * as at the end). */
static void state_write(struct admin *ad, uint64_t seq, bool sync)
{
    uint64_t cursor = cursor_now(ad);
    char text[160];
    int fd, n;

    if (!ad->persist || (seq == ad->saved_seq && cursor == ad->saved_cursor && !sync))
        return;
    n = snprintf(text, sizeof(text),
                 "# admin's place in the log stream (docs/packages/admin.md)\nseq %" PRIu64
                 "\ncursor %" PRIu64 "\n",
                 seq, cursor);
    fd = open(STATE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, (size_t)n) != n || (sync && fsync(fd) < 0) || close(fd) < 0 ||
        rename(STATE_TMP, STATE_FILE) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        kos_log_warn("cannot save %s: %s; the log stream's place stays in memory", STATE_FILE,
                     strerror(e));
        ad->persist = false;
        return;
    }
    ad->saved_seq = seq;
    ad->saved_cursor = cursor;
}

/* The place as it is now: the next number, the oldest record not sent. */
static void state_save(struct admin *ad, bool sync)
{
    uint64_t seq = ad->agent.next_seq;

    /* Numbers reserved for a batch the tunnel did not take stay reserved:
     * a number is never used twice. */
    state_write(ad, seq > ad->saved_seq || sync ? seq : ad->saved_seq, sync);
}

/* Before a batch goes: the numbers it uses are saved as used, so that an
 * admin that crashes right after never uses them again. */
static void op_reserve(void *arg, uint64_t next_seq)
{
    struct admin *ad = arg;

    if (next_seq > ad->saved_seq)
        state_write(ad, next_seq, false);
}

/* ---- Core ---- */

static void give_credit(struct admin *ad, uint32_t bytes)
{
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_CONSOLE_CREDIT, .credit = bytes};
    if (kos__sys_send(ad->app, &rq))
        kos_log_warn("cannot ask Core for console lines");
}

static void ask_status(struct admin *ad, uint32_t first)
{
    struct kos__sys_request rq = {
        .type = KOS__CTL_SYS_STATUS_REQ, .id = ++ad->next_id, .first = first};
    if (first == 0 && ad->status_busy) {
        ad->status_again = true; /* one at a time: again once it is in */
        return;
    }
    if (kos__sys_send(ad->app, &rq)) {
        kos_log_warn("cannot ask Core for the system's state");
        ad->status_busy = false;
        return;
    }
    ad->status_busy = true;
    ad->status_id = rq.id;
}

/* The level a console line was written at: "warn: ..." as kos_log writes
 * it; Core's lines and others count as info. */
static uint32_t line_level(const char *text)
{
    static const char *const names[] = {"debug: ", "info: ", "warn: ", "error: "};
    for (uint32_t i = 0; i < 4; i++)
        if (!strncmp(text, names[i], strlen(names[i])))
            return i;
    return KOS_LOG_INFO;
}

/* One console line from Core: into the queue, its cost paid back in
 * batches of a quarter of the window. */
static void on_line(struct admin *ad, const struct kos__sys_line *l)
{
    size_t len = strlen(l->text);

    admin_logq_lost(&ad->agent.logq, l->dropped);
    admin_logq_push(&ad->agent.logq, (int64_t)l->time_ns, l->name, line_level(l->text), true, 0,
                    l->text, len, true);
    admin_shell_line(&ad->shell, (int64_t)l->time_ns, l->name, l->text, len);
    ad->credit_owed += kos__sys_console_cost(8 + 4 + strlen(l->name) + 1 + len + 1);
    if (ad->credit_owed >= KOS__SYS_CONSOLE_WINDOW / 4) {
        give_credit(ad, ad->credit_owed);
        ad->credit_owed = 0;
    }
}

static void give_trace_credit(struct admin *ad, uint32_t records)
{
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_TRACE_CREDIT, .credit = records};
    if (kos__sys_send(ad->app, &rq))
        kos_log_warn("cannot ask Core for trace records");
}

/* A batch of trace records from Core: into the queue (bounded, admin.h),
 * their credit paid back in quarters of the window. */
static void on_traces(struct admin *ad, const struct kos__sys_traces *b, uint64_t now)
{
    admin_traceq_take(&ad->agent.traceq, b);
    ad->trace_owed += b->n;
    if (ad->trace_owed >= KOS__SYS_TRACE_WINDOW / 4) {
        give_trace_credit(ad, ad->trace_owed);
        ad->trace_owed = 0;
    }
    admin_agent_pump(&ad->agent, now);
}

/* Takes what Core sent. Returns false when admin is to stop (STOP, or the
 * channel gone), with *rc its exit status. */
static bool on_core(struct admin *ad, uint64_t now, int *rc)
{
    struct kos__sys_msg m;

    for (;;) {
        kos_status_t st = kos__sys_receive(ad->app, ctlbuf, sizeof(ctlbuf), &m);
        if (st == KOS_STATUS_WOULD_BLOCK)
            return true;
        if (st == KOS_STATUS_UNSUPPORTED) {
            /* A newer Core's news this admin does not know: passed over. */
            if (!ad->unknown_said++)
                kos_log_warn("Core sent a message of a kind this admin does not know (type %u): "
                             "passed over (and any more like it)",
                             m.type);
            continue;
        }
        if (st) {
            kos_log_error("Core's control channel: %s; stopping", kos_status_str(st));
            *rc = 1;
            return false;
        }
        switch (m.type) {
        case KOS__CTL_STOP:
            *rc = 0;
            return false;
        case KOS__CTL_SYS_CONSOLE:
            on_line(ad, &m.u.line);
            break;
        case KOS__CTL_SYS_TRACES:
            on_traces(ad, &m.u.traces, now);
            break;
        case KOS__CTL_SYS_CHANGED:
            ask_status(ad, 0);
            break;
        case KOS__CTL_SYS_STORE_NEEDS:
            admin_upgrade_needs(&ad->upgrade, &m.u.needs, now);
            break;
        case KOS__CTL_SYS_RESULT:
            if (admin_upgrade_owns(&ad->upgrade, m.u.result.id)) {
                admin_upgrade_core_result(&ad->upgrade, m.u.result.id, m.u.result.status,
                                          m.u.result.message, m.fd, now);
                break; /* its fd is taken */
            }
            if (admin_debug_core_result(&ad->debug, m.u.result.id, m.u.result.status,
                                        m.u.result.message, m.fd, now))
                break; /* its fd is taken */
            if (m.fd >= 0)
                close(m.fd);
            if (!admin_shell_core_result(&ad->shell, m.u.result.id, m.u.result.status,
                                         m.u.result.message, now))
                admin_agent_core_result(&ad->agent, m.u.result.id, m.u.result.status,
                                        m.u.result.message);
            break;
        case KOS__CTL_SYS_TABLE:
            admin_shell_table(&ad->shell, &m.u.table, now);
            break;
        case KOS__CTL_SYS_STATUS:
            if (!ad->status_busy || m.u.status.id != ad->status_id)
                break; /* an answer no longer waited for */
            if (!admin_state_take(ad->gather, &m.u.status)) {
                ask_status(ad, m.u.status.first + m.u.status.n_procs);
                break;
            }
            ad->status_busy = false;
            admin_agent_state(&ad->agent, ad->gather, now);
            admin_shell_state(&ad->shell, now);
            if (ad->status_again) {
                ad->status_again = false;
                ask_status(ad, 0);
            }
            break;
        }
    }
}

/* ---- the tunnel ---- */

static void say_link(struct admin *ad, const struct kos_tunnel_status *ts)
{
    static const char *const words[] = {"down", "connecting", "up", "refused by the server"};
    const char *w = (unsigned)ts->state < 4 ? words[ts->state] : "unknown";

    if (ad->link_said_valid && ad->link_said == ts->state)
        return;
    if (ts->state == KOS_TUNNEL_UP)
        kos_log_info("link up: server %s", ts->server);
    else if (!ad->link_said_valid || ad->link_said == KOS_TUNNEL_UP)
        kos_log_info("link %s (server %s); keeping console lines in a buffer of %" PRIu64
                     " bytes (offline_buffer) until it is up",
                     w, ts->server[0] ? ts->server : "not known yet", ad->cfg.offline_buffer);
    ad->link_said = ts->state;
    ad->link_said_valid = true;
}

/* The link may have gone up or down: tell the agent. */
static void check_link(struct admin *ad, uint64_t now)
{
    struct kos_tunnel_status ts;
    kos_status_t st = kos_tunnel_status(ad->tunnel, &ts);

    if (st) {
        /* The tunnel itself is gone (restarted): reopen it later. */
        kos_log_warn("the tunnel does not answer (%s); opening it again", kos_status_str(st));
        kos_tunnel_close(ad->tunnel);
        ad->tunnel = NULL;
        ad->tunnel_delay_ms = TUNNEL_FIRST_MS;
        ad->tunnel_at_ms = now + ad->tunnel_delay_ms;
        ts.state = KOS_TUNNEL_DOWN;
    } else {
        say_link(ad, &ts);
    }
    bool up = ts.state == KOS_TUNNEL_UP;
    if (up == ad->agent.up)
        return;
    if (!up) {
        /* log_server's records not sent are still in log_server. */
        uint64_t oldest = admin_logq_unpull(&ad->agent.logq);
        if (oldest)
            ad->cursor = oldest;
    }
    admin_agent_link(&ad->agent, up, now);
    admin_shell_link(&ad->shell, up);
    admin_debug_link(&ad->debug, up, now);
    if (up)
        ad->logs_at_ms = now;
}

/* Opens the tunnel with admin's channels: admin and logs, and the optional
 * ones, traces and shell, which admin takes when the tunnel's allow gives
 * them (shell whether its shell is enabled or not, so that a server that
 * sends a line to a disabled shell is answered, and the device says so,
 * rather than left waiting). Without an optional channel admin does all
 * else, and says once what cannot be had. */
static void open_tunnel(struct admin *ad, uint64_t now)
{
    kos_status_t st = kos_tunnel_open(ad->dir, CHANNELS | OPTIONAL, 0, &ad->tunnel);
    uint32_t got = CHANNELS | OPTIONAL;

    if (st == KOS_STATUS_UNAUTHORIZED) {
        /* The optional channels the allow setting gives: the largest set
         * of them it takes, most first (traces before shell before debug
         * when it takes only some). */
        static const uint32_t fewer[] = {(1u << KOS_TUNNEL_TRACES) | (1u << KOS_TUNNEL_SHELL),
                                         (1u << KOS_TUNNEL_TRACES) | (1u << KOS_TUNNEL_DEBUG),
                                         (1u << KOS_TUNNEL_SHELL) | (1u << KOS_TUNNEL_DEBUG),
                                         1u << KOS_TUNNEL_TRACES,
                                         1u << KOS_TUNNEL_SHELL,
                                         1u << KOS_TUNNEL_DEBUG,
                                         0};
        for (size_t i = 0; i < sizeof(fewer) / sizeof(fewer[0]) && st == KOS_STATUS_UNAUTHORIZED;
             i++) {
            got = CHANNELS | fewer[i];
            st = kos_tunnel_open(ad->dir, got, 0, &ad->tunnel);
        }
        if (st == KOS_STATUS_OK && !(got & (1u << KOS_TUNNEL_TRACES)) && !ad->traces_said) {
            ad->traces_said = true;
            kos_log_info("the tunnel does not give admin the traces channel (its allow setting "
                         "says admin=admin,logs,...): message tracing cannot be switched on");
        }
        if (st == KOS_STATUS_OK && !(got & (1u << KOS_TUNNEL_SHELL)) && ad->cfg.remote_shell &&
            !ad->shell_said)
            kos_log_error(
                "remote_shell is enabled, but the tunnel does not give admin the shell "
                "channel: its allow setting must say admin=admin,logs,traces,shell,debug,blobs; the "
                "shell is off");
        if (st == KOS_STATUS_OK && !(got & (1u << KOS_TUNNEL_DEBUG)) && ad->cfg.remote_debug &&
            !ad->shell_said)
            kos_log_error(
                "remote_debug is enabled, but the tunnel does not give admin the debug "
                "channel: its allow setting must say admin=admin,logs,traces,shell,debug,blobs; "
                "debugging is off");
        if (st == KOS_STATUS_OK)
            ad->shell_said = true;
    }
    ad->agent.traces_channel = st == KOS_STATUS_OK && (got & (1u << KOS_TUNNEL_TRACES));
    if (st == KOS_STATUS_OK) {
        ad->tunnel_said = KOS_STATUS_OK;
        check_link(ad, now);
        return;
    }
    ad->tunnel = NULL;
    ad->tunnel_at_ms = now + ad->tunnel_delay_ms;
    if (ad->tunnel_delay_ms < TUNNEL_MAX_MS)
        ad->tunnel_delay_ms =
            ad->tunnel_delay_ms * 2 < TUNNEL_MAX_MS ? ad->tunnel_delay_ms * 2 : TUNNEL_MAX_MS;
    if (now - ad->t0_ms < TUNNEL_QUIET_MS || st == ad->tunnel_said)
        return;
    ad->tunnel_said = st;
    if (st == KOS_STATUS_UNAUTHORIZED)
        kos_log_error("the tunnel does not give admin its channels (admin, logs): its allow "
                      "setting must say admin=admin,logs,traces,shell,debug,blobs");
    else
        kos_log_info("no link to a server (kos_tunnel_protocol: %s); keeping console lines in a "
                     "buffer of %" PRIu64 " bytes (offline_buffer) until there is one",
                     kos_status_str(st), ad->cfg.offline_buffer);
}

static void on_tunnel(struct admin *ad, uint64_t now)
{
    int changed = 0;
    uint32_t ch = kos_tunnel_news(ad->tunnel, &changed);
    size_t len;

    if (changed)
        check_link(ad, now);
    if (!ad->tunnel)
        return;
    if (ch & KOS_TUNNEL_NEWS_FETCH) {
        char why[KOS_TUNNEL_WHY_MAX + 1] = "";
        uint64_t written = 0;
        kos_status_t st = kos_tunnel_fetch_result(ad->tunnel, &written, why, sizeof(why));
        if (st != KOS_STATUS_WOULD_BLOCK)
            admin_upgrade_fetched(&ad->upgrade, st, written, why, now);
    }
    if (ch & (1u << KOS_TUNNEL_ADMIN))
        while (kos_tunnel_receive(ad->tunnel, KOS_TUNNEL_ADMIN, ad->rx, sizeof(ad->rx), &len) ==
               KOS_STATUS_OK)
            admin_agent_down(&ad->agent, ad->rx, len, now);
    if (ch & (1u << KOS_TUNNEL_SHELL)) {
        ad->shell_rx = true; /* input (taken in the loop, one line at a time), or room */
        admin_shell_room(&ad->shell, now);
    }
    if (ch & (1u << KOS_TUNNEL_DEBUG)) {
        ad->debug_rx = true; /* input (taken in the loop while it fits), or room */
        admin_debug_room(&ad->debug, now);
    }
    /* The logs channel goes to the server only: whatever comes is dropped. */
    if (ch & (1u << KOS_TUNNEL_LOGS))
        while (kos_tunnel_receive(ad->tunnel, KOS_TUNNEL_LOGS, ad->rx, sizeof(ad->rx), &len) ==
               KOS_STATUS_OK)
            ad->agent.refused++;
    if (ch & (1u << KOS_TUNNEL_TRACES))
        while (kos_tunnel_receive(ad->tunnel, KOS_TUNNEL_TRACES, ad->rx, sizeof(ad->rx), &len) ==
               KOS_STATUS_OK)
            ad->agent.refused++;
    admin_agent_room(&ad->agent, ch, now);
}

/* Takes the shell's input, one line at a time: the next only once the
 * answer to the last has gone to the tunnel, so that a server that sends
 * faster waits in the link's flow control. */
static void take_shell(struct admin *ad, uint64_t now)
{
    size_t len;

    while (ad->tunnel && ad->shell_rx && admin_shell_ready(&ad->shell)) {
        if (kos_tunnel_receive(ad->tunnel, KOS_TUNNEL_SHELL, ad->rx, sizeof(ad->rx), &len) !=
            KOS_STATUS_OK) {
            ad->shell_rx = false;
            break;
        }
        admin_shell_input(&ad->shell, ad->rx, len, now);
    }
}

/* Takes the debug channel's input while debugging has room for it, so
 * that a server that sends faster than the agent reads waits in the link's
 * flow control. */
static void take_debug(struct admin *ad, uint64_t now)
{
    size_t len;

    while (ad->tunnel && ad->debug_rx && admin_debug_ready(&ad->debug)) {
        if (kos_tunnel_receive(ad->tunnel, KOS_TUNNEL_DEBUG, ad->rx, sizeof(ad->rx), &len) !=
            KOS_STATUS_OK) {
            ad->debug_rx = false;
            break;
        }
        admin_debug_input(&ad->debug, ad->rx, len, now);
    }
}

/* ---- log_server ---- */

struct pull {
    struct admin *ad;
    uint64_t first; /* the first record's seq, 0 before it */
};

static void on_record(const struct kos_logsrv_record *r, void *arg)
{
    struct pull *p = arg;

    if (!p->first)
        p->first = r->seq;
    admin_logq_push(&p->ad->agent.logq, r->time_ns, r->app, (uint32_t)r->level, false, r->seq,
                    r->text, r->text_len, false);
    if (p->ad->cfg.remote_shell) {
        static const char *const levels[] = {"debug", "info", "warn", "error"};
        char text[ADMIN_SHELL_OUT_LINE_MAX];
        int n = snprintf(text, sizeof(text), "%s: %.*s",
                         (unsigned)r->level < 4 ? levels[r->level] : "log",
                         (int)(r->text_len < sizeof(text) ? r->text_len : sizeof(text)), r->text);
        if (n > 0)
            admin_shell_line(&p->ad->shell, r->time_ns, r->app, text,
                             (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
    }
}

/* Reads log_server's records from the cursor while the link is up and the
 * queue has room; counts those gone from its ring before they were read. */
static void pull_logs(struct admin *ad, uint64_t now)
{
    if (!ad->agent.registered || now < ad->logs_at_ms ||
        ad->agent.logq.bytes > ad->agent.logq.max_bytes / 2)
        return;
    ad->logs_at_ms = now + LOGS_POLL_MS;
    if (!ad->logs) {
        kos_status_t st = kos_logsrv_open(ad->dir, LOGS_CALL_MS, &ad->logs);
        if (st) {
            ad->logs = NULL;
            ad->logs_at_ms = now + LOGS_RETRY_MS;
            if (!ad->logs_said)
                kos_log_warn("log_server does not answer (%s): sending console lines only",
                             kos_status_str(st));
            ad->logs_said = true;
            return;
        }
    }
    struct kos_logsrv_query q = {.cursor = ad->cursor};
    struct pull p = {.ad = ad};
    bool more = false, gap = false;
    kos_status_t st = kos_logsrv_query(ad->logs, &q, on_record, &p, &more, &gap);
    if (st) {
        kos_log_warn("log_server: %s; asking again later", kos_status_str(st));
        kos_logsrv_close(ad->logs);
        ad->logs = NULL;
        return;
    }
    if (p.first && ad->cursor && p.first > ad->cursor)
        admin_logq_lost(&ad->agent.logq, p.first - ad->cursor); /* gone from its ring */
    if (!p.first && q.cursor < ad->cursor) {
        kos_log_warn("log_server's records start again (it lost its store): reading them from "
                     "the oldest");
        q.cursor = 0;
        more = true;
    }
    ad->cursor = q.cursor;
    if (more)
        ad->logs_at_ms = now; /* at once */
}

/* ---- the loop ---- */

/* SIGTERM only wakes poll(); admin stops through Core's STOP. */
static void on_sigterm(int sig)
{
    (void)sig;
}

/* Reads the settings; false (said) if one is invalid. */
static bool config(struct admin *ad)
{
    const char *keys[KOS__BOOT_MAX_CONFIG], *values[KOS__BOOT_MAX_CONFIG];
    char names[KOS__BOOT_MAX_CONFIG][KOS__NAME_MAX];
    size_t n = 0, klen;
    const char *key, *value;
    char err[256];

    while (n < KOS__BOOT_MAX_CONFIG && kos_app_config_at(ad->app, n, &key, &klen, &value)) {
        snprintf(names[n], sizeof(names[n]), "%.*s", (int)klen, key);
        keys[n] = names[n];
        values[n] = value;
        n++;
    }
    if (!admin_config_parse(&ad->cfg, keys, values, n, err, sizeof(err))) {
        kos_log_error("%s", err);
        return false;
    }
    return true;
}

int main(void)
{
    static struct admin ad;
    struct admin_ops ops = {.send = op_send,
                            .reserve = op_reserve,
                            .restart = op_restart,
                            .reboot = op_reboot,
                            .trace = op_trace,
                            .table = op_table,
                            .want_state = op_want_state,
                            .debug_attach = op_debug_attach,
                            .store = op_store,
                            .fetch = op_fetch,
                            .arg = &ad};
    uint64_t seq, now;
    int rc = 1;

    struct sigaction sa = {.sa_handler = on_sigterm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    if (kos_app_open(&ad.app))
        return 1;
    if (!config(&ad))
        goto out_close_app;
    ad.t0_ms = now = mono_ms();
    state_load(&ad, &seq, &ad.cursor);
    ad.gather = calloc(1, sizeof(*ad.gather));
    if (!ad.gather || !admin_agent_init(&ad.agent, &ad.cfg, &ops, seq, now)) {
        kos_log_error("out of memory");
        goto out_close_app;
    }
    if (!admin_shell_init(&ad.shell, ad.cfg.remote_shell, &ops, &ad.agent, now) ||
        !admin_debug_init(&ad.debug, ad.cfg.remote_debug, &ops, now) ||
        !admin_upgrade_init(&ad.upgrade, &ad.agent, &ops, 0, now)) {
        kos_log_error("out of memory");
        goto out_fini;
    }
    ad.agent.upgrade = &ad.upgrade;
    if (kos_app_dir(ad.app, SERVER, &ad.dir)) {
        kos_log_error("no message server %s: admin needs kos_tunnel_protocol and "
                      "kos_log_protocol on it",
                      SERVER);
        goto out_fini;
    }
    if (kos_app_ready(ad.app))
        goto out_fini;
    /* Core: every console line from now on (and the boot's), and the state. */
    give_credit(&ad, KOS__SYS_CONSOLE_WINDOW);
    give_trace_credit(&ad, KOS__SYS_TRACE_WINDOW);
    ask_status(&ad, 0);
    ad.tunnel_delay_ms = TUNNEL_FIRST_MS;
    open_tunnel(&ad, now);
    if (!ad.persist)
        kos_log_warn("no /data: the log stream's place is kept in memory only (give admin "
                     "data_dir: true)");

    for (;;) {
        struct pollfd p[3] = {{.fd = kos_app_fd(ad.app), .events = POLLIN},
                              {.fd = ad.tunnel ? kos_tunnel_fd(ad.tunnel) : -1, .events = POLLIN},
                              {.fd = -1}};
        uint64_t next = UINT64_MAX, t;
        int timeout;

        now = mono_ms();
        if (admin_agent_wants_state(&ad.agent))
            ask_status(&ad, 0);
        take_shell(&ad, now);
        admin_shell_pump(&ad.shell, now);
        take_debug(&ad, now);
        admin_debug_pump(&ad.debug, now);
        admin_upgrade_pump(&ad.upgrade, now);
        p[2].fd = admin_debug_fd(&ad.debug, &p[2].events);
        admin_agent_pump(&ad.agent, now);
        if (ad.agent.up)
            pull_logs(&ad, now);
        admin_agent_pump(&ad.agent, now);
        if (now >= ad.flush_at_ms) {
            state_save(&ad, false);
            ad.flush_at_ms = now + STATE_FLUSH_MS;
        }
        /* The clock: reopening the tunnel, the agent's Health, log_server,
         * and the saved state when it has changed. */
        if (!ad.tunnel)
            next = ad.tunnel_at_ms;
        if ((t = admin_agent_next_ms(&ad.agent, now)) < next)
            next = t;
        if ((t = admin_shell_next_ms(&ad.shell)) < next)
            next = t;
        if ((t = admin_debug_next_ms(&ad.debug)) < next)
            next = t;
        if ((t = admin_upgrade_next_ms(&ad.upgrade)) < next)
            next = t;
        if (ad.agent.up && ad.agent.registered &&
            ad.agent.logq.bytes <= ad.agent.logq.max_bytes / 2 && ad.logs_at_ms < next)
            next = ad.logs_at_ms; /* with the queue fuller, the link's room wakes it */
        if ((ad.agent.next_seq > ad.saved_seq || cursor_now(&ad) != ad.saved_cursor) &&
            ad.persist && ad.flush_at_ms < next)
            next = ad.flush_at_ms;
        timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
        if (poll(p, 3, timeout) < 0 && errno != EINTR)
            break;
        ad.wakeups++;
        now = mono_ms();
        if (p[2].fd >= 0 && p[2].revents)
            admin_debug_io(&ad.debug, p[2].revents, now);
        if (p[0].revents && !on_core(&ad, now, &rc))
            break;
        if (ad.tunnel && p[1].revents)
            on_tunnel(&ad, now);
        if (!ad.tunnel && now >= ad.tunnel_at_ms)
            open_tunnel(&ad, now);
    }
    state_save(&ad, true);
    if (ad.shell.commands || ad.shell.refused)
        kos_log_info("shell: %" PRIu64 " commands carried out, %" PRIu64 " lines refused",
                     ad.shell.commands, ad.shell.refused);
    if (ad.debug.sessions || ad.debug.refused)
        kos_log_info("debug: %" PRIu64 " sessions, %" PRIu64 " messages refused", ad.debug.sessions,
                     ad.debug.refused);
    kos_log_info("stopping%s: %" PRIu64 " records sent, %zu waiting (%zu bytes), %" PRIu64
                 " lost on the device, %" PRIu64 " messages from the server refused; %" PRIu64
                 " wake-ups",
                 rc == 0 ? " on request" : "", ad.agent.sent_records, ad.agent.logq.n,
                 ad.agent.logq.bytes, ad.agent.logq.dropped_total, ad.agent.refused, ad.wakeups);
    kos_logsrv_close(ad.logs);
    kos_tunnel_close(ad.tunnel);
out_fini:
    admin_upgrade_fini(&ad.upgrade);
    admin_debug_fini(&ad.debug);
    admin_shell_fini(&ad.shell);
    admin_agent_fini(&ad.agent);
    free(ad.gather);
out_close_app:
    kos_app_close(ad.app);
    return rc;
}
