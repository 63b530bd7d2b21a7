/*
 * t_sys.c - t_app's modes that speak Core's system interface
 * (lib/sys_int.h), for tests/system/test_sysif.sh:
 *
 *   manager STEP...  the app with manages_system: true, doing each step in
 *                    turn, then serving its channel until stopped:
 *     status           fetch the whole state and log it, a line per process
 *                      as Core's summary prints it
 *     settle           ask for the state until every process runs and is
 *                      ready, waiting for Core's change notice in between
 *     restart NAME     ask for NAME's restart and log the result
 *     reboot-once      on the first boot, ask for a reboot, log the result
 *                      and wait for the stop (the steps after it are for
 *                      the next boot); on later boots, say which boot it is
 *     console-marker   subscribe to the console, log a marker and read
 *                      lines until the marker comes back; log what came
 *     flood-wait PROTO subscribe, then read nothing until an app calls PROTO;
 *                      then read until the flooder's last line, checking
 *                      that every flooder line missing is counted
 *     malformed WHAT   send a malformed request (WHAT: name, credit) and log
 *                      that Core closed the channel; then exit 0
 *     wait-line NAME TEXT
 *                      subscribe to the console and read lines (those
 *                      since boot come first) until one of NAME's holds
 *                      TEXT; log it
 *     end              exit 0 (with ends_system: true, the system ends)
 *   sysask           an app without the flag asks for the state; logs that
 *                    Core closed its channel, then waits for SIGTERM
 *   flood N PROTO    write N console lines, call PROTO, write "flood done"
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "sys_int.h"
#include "t_sys.h"

static uint8_t buf[KOS__CTL_MAX];
static uint32_t next_id = 1;

/* Waits up to timeout_ms for the next message from Core; returns its status
 * (KOS_STATUS_TIMEOUT if none came). Console lines are paid back at once. */
static kos_status_t next_msg(kos_app_t *app, struct kos__sys_msg *m, int timeout_ms)
{
    for (;;) {
        kos_status_t st = kos__sys_receive(app, buf, sizeof(buf), m);
        if (st != KOS_STATUS_WOULD_BLOCK)
            return st;
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        if (poll(&p, 1, timeout_ms) == 0)
            return KOS_STATUS_TIMEOUT;
    }
}

static void credit(kos_app_t *app, uint32_t bytes)
{
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_CONSOLE_CREDIT, .credit = bytes};
    if (kos__sys_send(app, &rq))
        kos_log_error("credit: cannot send");
}

/* What console line *l costs, to pay it back. */
static uint32_t line_cost(const struct kos__sys_line *l)
{
    return kos__sys_console_cost(8 + 4 + strlen(l->name) + 1 + strlen(l->text) + 1);
}

/* Waits for the answer to request `id`, skipping (and paying back) console
 * lines and change notices. */
static kos_status_t wait_answer(kos_app_t *app, uint32_t type, uint32_t id, struct kos__sys_msg *m)
{
    for (;;) {
        kos_status_t st = next_msg(app, m, 20000);
        if (st)
            return st;
        if (m->type == KOS__CTL_SYS_CONSOLE) {
            credit(app, line_cost(&m->u.line));
            continue;
        }
        if (m->type == KOS__CTL_STOP)
            return KOS_STATUS_CLOSED; /* kos_app_stopping() says why */
        if (m->type == type &&
            (type == KOS__CTL_SYS_STATUS ? m->u.status.id : m->u.result.id) == id)
            return KOS_STATUS_OK;
    }
}

/* Asks for the first page of the state until every process in it runs and
 * is ready; between two asks, waits for Core's notice that it changed. */
static int do_settle(kos_app_t *app)
{
    struct kos__sys_msg m;

    for (int round = 0; round < 100; round++) {
        struct kos__sys_request rq = {.type = KOS__CTL_SYS_STATUS_REQ, .id = next_id++};
        bool settled = true;
        if (kos__sys_send(app, &rq) || wait_answer(app, KOS__CTL_SYS_STATUS, rq.id, &m))
            return 1;
        for (uint32_t i = 0; i < m.u.status.n_procs; i++)
            settled &= m.u.status.procs[i].state == KOS__SYS_RUNNING_READY;
        if (settled)
            return 0;
        do {
            if (next_msg(app, &m, 20000))
                return 1;
            if (m.type == KOS__CTL_SYS_CONSOLE)
                credit(app, line_cost(&m.u.line));
            if (m.type == KOS__CTL_STOP)
                return 1;
        } while (m.type != KOS__CTL_SYS_CHANGED);
    }
    kos_log_error("settle: the system never settled");
    return 1;
}

static int do_status(kos_app_t *app)
{
    uint32_t first = 0, n_total = 1;
    struct kos__sys_msg m;

    while (first < n_total) {
        struct kos__sys_request rq = {
            .type = KOS__CTL_SYS_STATUS_REQ, .id = next_id++, .first = first};
        kos_status_t st = kos__sys_send(app, &rq);
        if (!st)
            st = wait_answer(app, KOS__CTL_SYS_STATUS, rq.id, &m);
        if (st) {
            kos_log_error("status: %s", kos_status_str(st));
            return 1;
        }
        const struct kos__sys_status *s = &m.u.status;
        if (first == 0)
            kos_log_info("status: system %s, boot %u, platform %s, version %s, signer %s, "
                         "manifest %s, %u processes, self test: %s",
                         s->system, s->boots, s->platform, s->version,
                         s->signer[0] ? s->signer : "none", s->manifest, s->n_total,
                         s->self_test == KOS__SYS_SELF_TEST_NONE ? "none" : s->self_test_summary);
        if (first == 0)
            kos_log_info("status: memory %llu of %llu bytes, storage %llu of %llu bytes, "
                         "uptime %s",
                         (unsigned long long)s->mem_used, (unsigned long long)s->mem_total,
                         (unsigned long long)s->storage_used, (unsigned long long)s->storage_total,
                         s->uptime_ms > 0 ? "> 0" : "0");
        for (uint32_t i = 0; i < s->n_procs; i++) {
            const struct kos__sys_proc *p = &s->procs[i];
            char asked[48] = "";
            if (p->restarts_asked)
                snprintf(asked, sizeof(asked), " (%u asked for)", p->restarts_asked);
            kos_log_info("status:   %-16s %-14s %-18s restarts %u%s, last exit: %s", p->name,
                         p->role == KOS__ROLE_APP ? "app" : "message server",
                         kos__sys_state_name(p->state), p->restarts, asked, p->last_exit);
        }
        n_total = s->n_total;
        first = s->first + s->n_procs;
        if (s->n_procs == 0)
            break;
    }
    kos_log_info("status done");
    return 0;
}

static int do_request(kos_app_t *app, struct kos__sys_request *rq, const char *what)
{
    struct kos__sys_msg m;
    kos_status_t st;

    rq->id = next_id++;
    st = kos__sys_send(app, rq);
    if (!st)
        st = wait_answer(app, KOS__CTL_SYS_RESULT, rq->id, &m);
    if (st) {
        kos_log_error("%s: %s", what, kos_status_str(st));
        return 1;
    }
    kos_log_info("%s: %s: %s", what, kos_status_str((kos_status_t)m.u.result.status),
                 m.u.result.message);
    return 0;
}

static int do_reboot_once(kos_app_t *app)
{
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_STATUS_REQ, .id = next_id++};
    struct kos__sys_msg m;

    if (kos__sys_send(app, &rq) || wait_answer(app, KOS__CTL_SYS_STATUS, rq.id, &m))
        return 1;
    if (m.u.status.boots > 1) {
        kos_log_info("boot %u: not rebooting", m.u.status.boots);
        return 0;
    }
    rq = (struct kos__sys_request){.type = KOS__CTL_SYS_REBOOT, .reason = "the test asked"};
    return do_request(app, &rq, "reboot") ? 1 : 2; /* 2: the other steps are for the next boot */
}

/* Waits for the next console line into *m and pays it back; false (said)
 * if none comes. */
static bool next_line(kos_app_t *app, struct kos__sys_msg *m)
{
    do {
        kos_status_t st = next_msg(app, m, 20000);
        if (st) {
            kos_log_error("console: %s", kos_status_str(st));
            return false;
        }
    } while (m->type != KOS__CTL_SYS_CONSOLE);
    credit(app, line_cost(&m->u.line));
    return true;
}

static int do_console_marker(kos_app_t *app)
{
    struct kos__sys_msg m;
    unsigned lines = 0, dropped = 0;
    bool boot_seen = false;
    char marker[64];

    credit(app, KOS__SYS_CONSOLE_WINDOW);
    snprintf(marker, sizeof(marker), "info: marker %d", (int)getpid());
    kos_log_info("marker %d", (int)getpid());
    while (next_line(app, &m)) {
        lines++;
        dropped += m.u.line.dropped;
        if (!strcmp(m.u.line.name, "core") && strstr(m.u.line.text, "booting system"))
            boot_seen = true;
        if (!strcmp(m.u.line.name, kos_app_name(app)) && !strcmp(m.u.line.text, marker)) {
            kos_log_info("console: the marker came back after %u lines, %u dropped; Core's boot "
                         "line %s",
                         lines, dropped, boot_seen ? "came too" : "did not come");
            return 0;
        }
    }
    return 1;
}

static int do_wait_line(kos_app_t *app, const char *name, const char *text)
{
    static bool subscribed;
    struct kos__sys_msg m;

    if (!subscribed)
        credit(app, KOS__SYS_CONSOLE_WINDOW);
    subscribed = true;
    while (next_line(app, &m))
        if (!strcmp(m.u.line.name, name) && strstr(m.u.line.text, text)) {
            kos_log_info("console: %s said: %s", name, m.u.line.text);
            return 0;
        }
    kos_log_error("console: no line of %s's held '%s'", name, text);
    return 1;
}

static int do_flood_wait(kos_app_t *app, const char *proto)
{
    struct kos__sys_msg m;
    kos_dir_t *dir;
    kos_endpoint_t *ep;
    struct kos_msg call;
    struct kos_caller from;
    unsigned long received = 0, dropped_total = 0, since = 0, uncovered = 0;
    long last = 0;

    credit(app, KOS__SYS_CONSOLE_WINDOW);
    if (kos_app_dir(app, "msg0", &dir) || kos_dir_publish(dir, proto, &ep)) {
        kos_log_error("cannot publish %s", proto);
        return 1;
    }
    /* Not a line read until the flooder is done. */
    if (kos_endpoint_receive(ep, &call, &from, 60000)) {
        kos_log_error("the flooder never called");
        return 1;
    }
    if (kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &call))
        kos_log_warn("cannot answer the flooder");
    for (;;) {
        if (!next_line(app, &m))
            return 1;
        dropped_total += m.u.line.dropped;
        since += m.u.line.dropped;
        if (strcmp(m.u.line.name, "flooder"))
            continue;
        if (!strcmp(m.u.line.text, "flood done"))
            break;
        long k;
        if (sscanf(m.u.line.text, "flood line %ld", &k) != 1)
            continue;
        /* The lines missing since the last one here: counted with this one
         * or the lines between (other apps' lines may be among them). */
        if ((unsigned long)(k - last - 1) > since)
            uncovered++;
        last = k;
        since = 0;
        received++;
    }
    kos_log_info("console flood: %lu of the flooder's lines came, %lu lines dropped and counted, "
                 "%lu gaps not covered by a count",
                 received, dropped_total, uncovered);
    kos_endpoint_close(ep);
    return 0;
}

/* A request of a later KOS (type 200, id 77): Core answers it cannot and
 * keeps the channel open. */
static int do_future(kos_app_t *app)
{
    uint8_t body[12] = {77, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    struct kos__sys_msg m;

    if (kos__ctl_send(kos_app_fd(app), 200, body, sizeof(body), -1))
        return 1;
    if (wait_answer(app, KOS__CTL_SYS_RESULT, 77, &m)) {
        kos_log_error("future: no answer");
        return 1;
    }
    kos_log_info("future: %s: %s", kos_status_str((kos_status_t)m.u.result.status),
                 m.u.result.message);
    return m.u.result.status == KOS_STATUS_UNSUPPORTED ? 0 : 1;
}

/* An upgrade's blob the store never asked for (id 78): Core refuses to
 * stage it, and the channel stays open. */
static int do_stage_stranger(kos_app_t *app)
{
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_STORE_FETCH, .id = 78, .size = 1000};
    struct kos__sys_msg m;

    memset(rq.sha256, 0xab, sizeof(rq.sha256));
    if (kos__sys_send(app, &rq) || wait_answer(app, KOS__CTL_SYS_RESULT, 78, &m)) {
        kos_log_error("stage-stranger: no answer");
        return 1;
    }
    if (m.fd >= 0)
        close(m.fd);
    kos_log_info("stage-stranger: %s: %s", kos_status_str((kos_status_t)m.u.result.status),
                 m.u.result.message);
    return m.u.result.status == KOS_STATUS_OK ? 1 : 0;
}

static int do_malformed(kos_app_t *app, const char *what)
{
    uint8_t body[64];
    size_t len;
    uint32_t type;
    struct kos__sys_msg m;

    memset(body, 0, sizeof(body));
    if (!strcmp(what, "name")) {
        type = KOS__CTL_SYS_RESTART;
        memcpy(body + 4, "bad name!", 10); /* id 0, then a name that is not one */
        len = 14;
    } else {
        type = KOS__CTL_SYS_CONSOLE_CREDIT; /* a credit of 0 */
        len = 4;
    }
    if (kos__ctl_send(kos_app_fd(app), type, body, len, -1)) {
        kos_log_error("malformed %s: cannot send", what);
        return 1;
    }
    for (;;) {
        kos_status_t st = next_msg(app, &m, 20000);
        if (st == KOS_STATUS_CLOSED) {
            kos_log_info("malformed %s: Core closed the control channel", what);
            return 0;
        }
        if (st && st != KOS_STATUS_OK) {
            kos_log_error("malformed %s: %s", what, kos_status_str(st));
            return 1;
        }
    }
}

int t_sys_manager(kos_app_t *app, int argc, char **argv)
{
    bool rebooting = false;

    signal(SIGTERM, SIG_IGN); /* stop at Core's stop message */
    if (kos_app_ready(app))
        return 1;
    for (int i = 0; i < argc; i++) {
        int rc = 0;
        if (!strcmp(argv[i], "status")) {
            rc = do_status(app);
        } else if (!strcmp(argv[i], "restart") && i + 1 < argc) {
            struct kos__sys_request rq = {.type = KOS__CTL_SYS_RESTART};
            char what[96];
            snprintf(rq.app, sizeof(rq.app), "%s", argv[++i]);
            snprintf(what, sizeof(what), "restart %s", rq.app);
            rc = do_request(app, &rq, what);
        } else if (!strcmp(argv[i], "stage-stranger")) {
            rc = do_stage_stranger(app);
        } else if (!strcmp(argv[i], "future")) {
            rc = do_future(app);
        } else if (!strcmp(argv[i], "settle")) {
            rc = do_settle(app);
        } else if (!strcmp(argv[i], "reboot-once")) {
            if ((rc = do_reboot_once(app)) == 2) {
                rebooting = true;
                break;
            }
        } else if (!strcmp(argv[i], "console-marker")) {
            rc = do_console_marker(app);
        } else if (!strcmp(argv[i], "flood-wait") && i + 1 < argc) {
            rc = do_flood_wait(app, argv[++i]);
        } else if (!strcmp(argv[i], "malformed") && i + 1 < argc) {
            return do_malformed(app, argv[++i]);
        } else if (!strcmp(argv[i], "wait-line") && i + 2 < argc) {
            rc = do_wait_line(app, argv[i + 1], argv[i + 2]);
            i += 2;
        } else if (!strcmp(argv[i], "end")) {
            kos_log_info("manager: ending");
            return 0;
        } else {
            kos_log_error("unknown step '%s'", argv[i]);
            rc = 1;
        }
        if (rc && kos_app_stopping(app))
            break; /* stopped half way (a reboot, a shutdown) */
        if (rc)
            return rc;
    }
    if (!kos_app_stopping(app) && !rebooting)
        kos_log_info("manager: done");
    /* Serve the channel until Core asks to stop, paying console lines back. */
    while (!kos_app_stopping(app)) {
        struct kos__sys_msg m;
        kos_status_t st = next_msg(app, &m, -1);
        if (st == KOS_STATUS_OK && m.type == KOS__CTL_STOP)
            break;
        if (st == KOS_STATUS_OK && m.type == KOS__CTL_SYS_CONSOLE)
            credit(app, line_cost(&m.u.line));
        if (st && st != KOS_STATUS_TIMEOUT) {
            kos_log_error("channel: %s", kos_status_str(st));
            return 1;
        }
    }
    kos_log_info("stopping on request");
    return 0;
}

int t_sys_ask(kos_app_t *app)
{
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_STATUS_REQ, .id = 1};
    struct kos__sys_msg m;
    kos_status_t st;

    if (kos_app_ready(app) || kos__sys_send(app, &rq))
        return 1;
    while ((st = next_msg(app, &m, 20000)) == KOS_STATUS_OK)
        ;
    kos_log_info("sysask: %s",
                 st == KOS_STATUS_CLOSED ? "Core closed the control channel" : kos_status_str(st));
    for (;;)
        pause(); /* until SIGTERM: Core can no longer ask otherwise */
}

int t_sys_flood(kos_app_t *app, long n, const char *proto)
{
    kos_dir_t *dir;
    kos_token_t *tok;
    struct kos_msg req = {.label = 1}, reply;

    if (kos_app_ready(app))
        return 1;
    for (long i = 1; i <= n; i++)
        printf("flood line %05ld\n", i);
    fflush(stdout);
    if (kos_app_dir(app, "msg0", &dir) || kos_dir_request(dir, proto, 10000, &tok) ||
        kos_msg_call(tok, &req, &reply, 60000)) {
        kos_log_error("cannot call %s", proto);
        return 1;
    }
    kos_token_close(tok);
    printf("flood done\n");
    fflush(stdout);
    return 0;
}
