/*
 * t_app.c - one test app with many behaviours, chosen by argv[1], so system
 * tests can describe whole systems in manifests:
 *
 *   serve PROTO [LAST]
 *                    publish PROTO on msg0 and answer calls until stopped;
 *                    with LAST, request LAST first and call it once on the
 *                    way out (as last_call)
 *   last_call LAST   request LAST on msg0, wait for Core's stop message, then
 *                    call LAST once and log the outcome (a service that must
 *                    still answer while its clients stop)
 *   crash            log, then die of SIGSEGV
 *   exit N [MS]      log, then exit with status N (after MS milliseconds)
 *   ask PROTO...     request each PROTO on msg0, log the outcome, ping it
 *   inspect          log every open fd and environment variable, then exit 0
 *   sleep            report ready, ignore SIGTERM and wait for Core's stop message
 *   stubborn         report ready, then ignore SIGTERM and Core's stop message
 *   unready          never report ready; wait for Core's stop message
 *   tick MS [TEXT]   report ready, then log "tick N" (N = 1, 2, ...; info, and
 *                    every fifth a warning too) and write TEXT, if given, as a
 *                    plain console line, every MS milliseconds until Core's
 *                    stop message (a device whose console a live view watches)
 *   spew N           write N bytes without a newline, then exit 0
 *   lines N [MS]     write N console lines (with MS, one every MS milliseconds),
 *                    report ready, wait for Core's stop message
 *   serve_crash PROTO N
 *                    serve PROTO, but die of SIGSEGV after answering N calls
 *   call_through PROTO N
 *                    make N calls on PROTO; when the token goes down, wait for
 *                    the server to be back (a new request with a timeout) and
 *                    go on; log each outage, then exit 0
 *   pinger PROTO MS LEN
 *                    request PROTO, then call it (label 7, LEN bytes of payload)
 *                    every MS milliseconds (0: as fast as it can) until Core's
 *                    stop message; log a failed call, and request PROTO
 *                    again when its server is gone
 *   selftest pass|fail|never|late
 *                    report ready and, unless never, a self test that passed
 *                    or failed (one check), then wait for Core's stop message;
 *                    late: wait for the stop message first, then report a
 *                    failure (needs reports_self_test: true)
 *   stream DEST BYTES [echo|sink|bulk]
 *                    report ready, open a forwarded stream to DEST through
 *                    the tunnel (kos_tunnel_stream) and write BYTES bytes of
 *                    a pattern (xorshift32 from 1, little-endian words; 0:
 *                    without end) to it; with echo (the default) read them
 *                    back and check every byte, with sink read nothing;
 *                    bulk is sink with the pattern's first 64 KiB made once
 *                    and written again and again, in 64 KiB writes (a
 *                    benchmark's source: bench/link/stream_bench.sh)
 *                    Logs the outcome ("stream DEST: N bytes echoed intact",
 *                    or the refusal's status and why), then waits for
 *                    Core's stop message
 *   manager STEP..., sysask, flood N PROTO
 *                    speak Core's system interface (t_sys.c)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kos/log.h>
#include <kos/msg.h>
#include <kos/tunnel.h>

#include "t_sys.h"

extern char **environ;

static int wait_for_stop(kos_app_t *app)
{
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, -1);
    }
    kos_log_info("stopping on request");
    return 0;
}

/* One tick: its lines. Never inlined, so that a debugger can break on it
 * and see it called from tick() (test_studio_debug.sh). */
__attribute__((noinline)) void t_app_tick_once(unsigned long n, const char *text);
__attribute__((noinline)) void t_app_tick_once(unsigned long n, const char *text)
{
    kos_log_info("tick %lu", n);
    if (n % 5 == 0)
        kos_log_warn("tick %lu: a multiple of 5", n);
    if (text) {
        printf("%s\n", text);
        fflush(stdout);
    }
}

/* Logs "tick N" every `ms` milliseconds until Core asks the app to stop;
 * every fifth tick also a warning, and `text` (unless NULL) each time as a
 * plain console line. */
static __attribute__((noinline)) int tick(kos_app_t *app, int ms, const char *text)
{
    if (kos_app_ready(app))
        return 1;
    for (unsigned long n = 1; !kos_app_stopping(app); n++) {
        t_app_tick_once(n, text);
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, ms > 0 ? ms : 1000);
    }
    kos_log_info("stopping on request");
    return 0;
}

static void crash(void)
{
    /* Die of SIGSEGV even where a sanitizer has its own handler. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGSEGV, &dfl, NULL);
    raise(SIGSEGV);
}

/* Requests `last` (NULL: nothing) for last_call(). */
static kos_status_t request_last(kos_dir_t *dir, const char *last, kos_token_t **tok)
{
    kos_status_t st = KOS_STATUS_OK;

    *tok = NULL;
    if (last) /* stop at Core's stop message, not at its SIGTERM, to make the call */
        signal(SIGTERM, SIG_IGN);
    if (last && (st = kos_dir_request(dir, last, 5000, tok)))
        kos_log_error("request '%s': %s", last, kos_status_str(st));
    return st;
}

/* The call on the way out, after Core asked the app to stop. */
static void last_call(kos_token_t *tok, const char *last)
{
    if (!tok)
        return;
    struct kos_msg req = {.label = 9, .param = 42}, reply;
    kos_status_t st = kos_msg_call(tok, &req, &reply, 2000);
    if (st == KOS_STATUS_OK && reply.param != 42)
        st = KOS_STATUS_PROTOCOL;
    kos_log_info("last call on %s: %s", last, kos_status_str(st));
    kos_token_close(tok);
}

/* Serves proto; with crash_after > 0, dies after answering that many calls;
 * with last, calls it once when stopping. */
static int serve(kos_app_t *app, const char *proto, long crash_after, const char *last)
{
    long answered = 0;
    kos_dir_t *dir;
    kos_endpoint_t *ep;
    kos_token_t *tok;
    kos_status_t st;

    if (kos_app_dir(app, "msg0", &dir) || (st = kos_dir_publish(dir, proto, &ep))) {
        kos_log_error("cannot publish %s", proto);
        return 1;
    }
    if (request_last(dir, last, &tok))
        return 1;
    if (kos_app_ready(app))
        return 1;
    kos_log_info("serving %s", proto);
    for (;;) {
        struct pollfd p[2] = {{.fd = kos_endpoint_fd(ep), .events = POLLIN},
                              {.fd = kos_app_fd(app), .events = POLLIN}};
        struct kos_msg m;
        struct kos_caller from;
        st = kos_endpoint_receive(ep, &m, &from, 0);
        if (st == KOS_STATUS_OK) {
            if (m.token)
                kos_token_close(m.token);
            if (kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &m))
                kos_log_warn("reply to %s failed", from.app);
            if (crash_after > 0 && ++answered == crash_after) {
                kos_log_info("answered %ld calls; crashing", answered);
                crash();
            }
            continue;
        }
        if (st != KOS_STATUS_WOULD_BLOCK && st != KOS_STATUS_TIMEOUT) {
            kos_log_error("receive: %s", kos_status_str(st));
            return 1;
        }
        poll(p, 2, -1);
        if (p[1].revents && kos_app_stopping(app))
            break;
    }
    last_call(tok, last);
    kos_endpoint_close(ep);
    return 0;
}

/* Calls proto every ms milliseconds (0: back to back) with len bytes. */
static int pinger(kos_app_t *app, const char *proto, int ms, int len)
{
    static uint8_t buf[KOS_MSG_MAX_PAYLOAD];
    kos_dir_t *dir;
    kos_token_t *tok;
    kos_status_t st;

    if (len < 0 || len > (int)sizeof(buf))
        return 2;
    if (kos_app_dir(app, "msg0", &dir) || (st = kos_dir_request(dir, proto, 5000, &tok))) {
        kos_log_error("cannot request %s", proto);
        return 1;
    }
    if (kos_app_ready(app))
        return 1;
    kos_log_info("calling %s every %d ms with %d bytes", proto, ms, len);
    for (unsigned long n = 0; !kos_app_stopping(app); n++) {
        struct kos_msg q = {.label = 7, .param = n, .payload = buf, .len = (uint32_t)len}, r;
        st = kos_msg_call(tok, &q, &r, 2000);
        if (st == KOS_STATUS_UNAVAILABLE) {
            /* The server went: wait for it to be back, as clients do. */
            kos_token_close(tok);
            if ((st = kos_dir_request(dir, proto, 10000, &tok))) {
                kos_log_error("request '%s': %s", proto, kos_status_str(st));
                return 1;
            }
        } else if (st) {
            kos_log_warn("call %lu: %s", n, kos_status_str(st));
            usleep(100000);
        }
        if (ms > 0) {
            struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
            poll(&p, 1, ms);
        }
    }
    kos_token_close(tok);
    kos_log_info("stopping on request");
    return 0;
}

static int call_through(kos_app_t *app, const char *proto, long n)
{
    kos_dir_t *dir;
    kos_token_t *tok = NULL;
    long done = 0, outages = 0;
    kos_status_t st;

    if (kos_app_dir(app, "msg0", &dir) || kos_app_ready(app))
        return 1;
    while (done < n) {
        if (!tok) {
            /* Waits up to 10 s for a publisher: the server may be restarting. */
            st = kos_dir_request(dir, proto, 10000, &tok);
            if (st) {
                kos_log_error("request '%s': %s", proto, kos_status_str(st));
                return 1;
            }
        }
        struct kos_msg req = {.label = 7, .param = (uint64_t)done, .payload = "hi", .len = 2},
                       reply;
        st = kos_msg_call(tok, &req, &reply, 5000);
        if (st == KOS_STATUS_OK && reply.param == (uint64_t)done) {
            done++;
            continue;
        }
        if (st != KOS_STATUS_UNAVAILABLE) {
            kos_log_error("call %ld: %s", done, kos_status_str(st));
            return 1;
        }
        /* The server went away: this token stays down; wait for it back. */
        outages++;
        kos_log_info("call %ld: server unavailable; waiting for it to be back", done);
        st = kos_msg_call(tok, &req, &reply, 0);
        kos_log_info("the old token still says: %s", kos_status_str(st));
        kos_token_close(tok);
        tok = NULL;
    }
    kos_token_close(tok);
    kos_log_info("%ld calls answered through %ld outages", done, outages);
    return 0;
}

static int ask(kos_app_t *app, int n, char **protos)
{
    kos_dir_t *dir;

    if (kos_app_dir(app, "msg0", &dir)) {
        kos_log_error("no msg0");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        kos_token_t *tok;
        kos_status_t st = kos_dir_request(dir, protos[i], 2000, &tok);
        kos_log_info("request '%s': %s", protos[i], kos_status_str(st));
        if (st)
            continue;
        struct kos_msg req = {.label = 7, .param = 42, .payload = "hi", .len = 2}, reply;
        st = kos_msg_call(tok, &req, &reply, 2000);
        kos_log_info("call '%s': %s, echo param %llu", protos[i], kos_status_str(st),
                     st ? 0ULL : (unsigned long long)reply.param);
        kos_token_close(tok);
    }
    if (kos_app_ready(app))
        return 1;
    return 0;
}

/* Without /proc (a sandboxed app has none), finds open fds with fcntl and
 * names them from fstat the way /proc/self/fd would. */
static void inspect_fds_without_proc(void)
{
    for (int fd = 0; fd < 65536; fd++) {
        struct stat sb;
        char target[64];
        if (fcntl(fd, F_GETFD) < 0 || fstat(fd, &sb) < 0)
            continue;
        if (S_ISCHR(sb.st_mode) && major(sb.st_rdev) == 1 && minor(sb.st_rdev) == 3)
            snprintf(target, sizeof(target), "/dev/null");
        else if (S_ISSOCK(sb.st_mode))
            snprintf(target, sizeof(target), "socket:[%lu]", (unsigned long)sb.st_ino);
        else if (S_ISFIFO(sb.st_mode))
            snprintf(target, sizeof(target), "pipe:[%lu]", (unsigned long)sb.st_ino);
        else
            snprintf(target, sizeof(target), "mode 0%o", (unsigned)sb.st_mode);
        kos_log_info("fd %d -> %s", fd, target);
    }
}

static int inspect(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int self = d ? dirfd(d) : -1;

    if (!d)
        inspect_fds_without_proc();

    while (d && (e = readdir(d))) {
        char path[300], target[PATH_MAX];
        ssize_t n;
        if (e->d_name[0] == '.' || atoi(e->d_name) == self)
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        target[n < 0 ? 0 : n] = '\0';
        kos_log_info("fd %s -> %s", e->d_name, target);
    }
    if (d)
        closedir(d);
    for (char **v = environ; *v; v++)
        kos_log_info("env %s", *v);
    kos_log_info("inspect done");
    return 0;
}

/* The pattern a stream carries: xorshift32 from 1, one little-endian word
 * per 4 bytes (tests/system/test_studio_stream.sh makes the same). */
struct pattern {
    uint32_t x;
    uint64_t at;
};

static uint8_t pattern_next(struct pattern *p)
{
    if (p->at % 4 == 0) {
        p->x ^= p->x << 13;
        p->x ^= p->x >> 17;
        p->x ^= p->x << 5;
    }
    return (uint8_t)(p->x >> (8 * (p->at++ % 4)));
}

/* The stream mode (see the head of the file). */
static int stream(kos_app_t *app, const char *dest, uint64_t bytes, bool echo, bool bulk)
{
    static uint8_t out[65536], in[16384];
    size_t chunk = bulk ? sizeof(out) : 16384;
    struct pattern wp = {1, 0}, rp = {1, 0};
    kos_tunnel_t *t = NULL;
    kos_dir_t *dir;
    char why[KOS_TUNNEL_WHY_MAX + 1];
    size_t have = 0, off = 0;
    uint64_t sent = 0, got = 0;
    kos_status_t st;
    int fd = -1;

    signal(SIGPIPE, SIG_IGN); /* a stream the far end closed fails with EPIPE */
    if (kos_app_ready(app))
        return 1;
    if ((st = kos_app_dir(app, "msg0", &dir)) || (st = kos_tunnel_open(dir, 0, 10000, &t))) {
        kos_log_error("stream %s: cannot reach the tunnel: %s", dest, kos_status_str(st));
        return wait_for_stop(app);
    }
    /* The link may not be up yet: try again while it is down. */
    for (int i = 0; i < 300; i++) {
        st = kos_tunnel_stream(t, dest, 15000, &fd, why, sizeof(why));
        if (st != KOS_STATUS_UNAVAILABLE || kos_app_stopping(app))
            break;
        usleep(100000);
    }
    if (st) {
        kos_log_warn("stream %s refused: %s: %s", dest, kos_status_str(st), why);
        kos_tunnel_close(t);
        return wait_for_stop(app);
    }
    kos_log_info("stream %s open", dest);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (!kos_app_stopping(app) && (bytes == 0 || sent < bytes || (echo && got < bytes))) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                              {.fd = kos_app_fd(app), .events = POLLIN}};
        if (bytes == 0 || sent < bytes)
            p[0].events |= POLLOUT;
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[0].revents & POLLOUT) {
            if (off == have) {
                uint64_t left = bytes ? bytes - sent : chunk;
                have = left < chunk ? (size_t)left : chunk;
                if (!bulk || sent == 0)
                    for (size_t i = 0; i < (bulk ? chunk : have); i++)
                        out[i] = pattern_next(&wp);
                off = 0;
            }
            ssize_t n = write(fd, out + off, have - off);
            if (n > 0) {
                off += (size_t)n;
                sent += (uint64_t)n;
            } else if (n < 0 && errno != EAGAIN) {
                kos_log_warn("stream %s: write failed after %llu bytes: %s", dest,
                             (unsigned long long)sent, strerror(errno));
                break;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(fd, in, sizeof(in));
            if (n == 0 || (n < 0 && errno != EAGAIN)) {
                kos_log_warn("stream %s: closed by the far end after %llu bytes sent, %llu back",
                             dest, (unsigned long long)sent, (unsigned long long)got);
                break;
            }
            for (ssize_t i = 0; i < n; i++) {
                uint8_t want = pattern_next(&rp);
                if (in[i] != want) {
                    kos_log_error("stream %s: byte %llu came back as %u, sent as %u", dest,
                                  (unsigned long long)got, in[i], want);
                    goto out;
                }
                got++;
            }
        }
    }
    if (echo && got == bytes)
        kos_log_info("stream %s: %llu bytes echoed intact", dest, (unsigned long long)got);
    else if (!echo && sent == bytes)
        kos_log_info("stream %s: %llu bytes sent", dest, (unsigned long long)sent);
out:
    close(fd);
    kos_tunnel_close(t);
    return wait_for_stop(app);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    kos_app_t *app;
    kos_status_t st;

    if (!strcmp(mode, "inspect"))
        return inspect(); /* before kos_app_open takes over any fd */
    st = kos_app_open(&app);
    if (st) {
        fprintf(stderr, "t_app: kos_app_open: %s\n", kos_status_str(st));
        return 1;
    }
    int rc = 2;
    if (!strcmp(mode, "serve") && argc > 2) {
        rc = serve(app, argv[2], 0, argc > 3 ? argv[3] : NULL);
    } else if (!strcmp(mode, "last_call") && argc > 2) {
        kos_dir_t *dir;
        kos_token_t *tok;
        rc = 1;
        if (!kos_app_dir(app, "msg0", &dir) && !request_last(dir, argv[2], &tok) &&
            !kos_app_ready(app)) {
            rc = wait_for_stop(app);
            last_call(tok, argv[2]);
        }
    } else if (!strcmp(mode, "serve_crash") && argc > 3) {
        rc = serve(app, argv[2], atol(argv[3]), NULL);
    } else if (!strcmp(mode, "pinger") && argc > 4) {
        rc = pinger(app, argv[2], atoi(argv[3]), atoi(argv[4]));
    } else if (!strcmp(mode, "call_through") && argc > 3) {
        rc = call_through(app, argv[2], atol(argv[3]));
    } else if (!strcmp(mode, "crash")) {
        kos_log_info("about to crash");
        crash();
    } else if (!strcmp(mode, "exit") && argc > 2) {
        if (argc > 3) /* exit N MS: after MS milliseconds, never having been ready */
            usleep((useconds_t)atoi(argv[3]) * 1000);
        kos_log_info("exiting with status %s", argv[2]);
        rc = atoi(argv[2]);
    } else if (!strcmp(mode, "ask")) {
        rc = ask(app, argc - 2, argv + 2);
    } else if (!strcmp(mode, "sleep")) {
        /* Stop only when Core's stop message arrives on the control channel. */
        signal(SIGTERM, SIG_IGN);
        rc = kos_app_ready(app) ? 1 : wait_for_stop(app);
    } else if (!strcmp(mode, "selftest") && argc > 2 && !strcmp(argv[2], "late")) {
        /* Reports a failure only once Core asks it to stop, as a self test
         * whose services went away with the system would. */
        signal(SIGTERM, SIG_IGN);
        rc = kos_app_ready(app) || wait_for_stop(app) ||
             kos_app_report_self_test(app, false, 1, 1, "t_app: told to fail");
    } else if (!strcmp(mode, "selftest") && argc > 2) {
        bool never = !strcmp(argv[2], "never"), passed = !strcmp(argv[2], "pass");
        rc = 1;
        if (!kos_app_ready(app) &&
            (never ||
             !kos_app_report_self_test(app, passed, 1, passed ? 0 : 1,
                                       passed ? "t_app: all well" : "t_app: told to fail")))
            rc = wait_for_stop(app);
    } else if (!strcmp(mode, "tick") && argc > 2) {
        rc = tick(app, atoi(argv[2]), argc > 3 ? argv[3] : NULL);
    } else if (!strcmp(mode, "unready")) {
        rc = wait_for_stop(app);
    } else if (!strcmp(mode, "stubborn")) {
        signal(SIGTERM, SIG_IGN);
        if (kos_app_ready(app) == KOS_STATUS_OK)
            for (;;)
                pause();
        rc = 1;
    } else if (!strcmp(mode, "stream") && argc > 3) {
        const char *how = argc > 4 ? argv[4] : "echo";
        rc = stream(app, argv[2], strtoull(argv[3], NULL, 10),
                    strcmp(how, "sink") != 0 && strcmp(how, "bulk") != 0, !strcmp(how, "bulk"));
    } else if (!strcmp(mode, "manager")) {
        rc = t_sys_manager(app, argc - 2, argv + 2);
    } else if (!strcmp(mode, "sysask")) {
        rc = t_sys_ask(app);
    } else if (!strcmp(mode, "flood") && argc > 3) {
        rc = t_sys_flood(app, atol(argv[2]), argv[3]);
    } else if (!strcmp(mode, "lines") && argc > 2) {
        long n = atol(argv[2]);
        int ms = argc > 3 ? atoi(argv[3]) : 0;
        for (long i = 1; i <= n; i++) {
            printf("line %05ld of %ld\n", i, n);
            if (ms > 0) {
                fflush(stdout);
                usleep((useconds_t)ms * 1000);
            }
        }
        fflush(stdout);
        rc = kos_app_ready(app) ? 1 : wait_for_stop(app);
    } else if (!strcmp(mode, "spew") && argc > 2) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++)
            putchar('a' + (int)(i % 26));
        fflush(stdout);
        rc = 0;
    } else {
        kos_log_error("unknown mode '%s'", mode);
    }
    kos_app_close(app);
    return rc;
}
