/*
 * cmd_server.c - kos-tool server.start, server.stop and server.status: the
 * local Studio server (kos-server studio, docs/studio.md).
 *
 * What stays true: server.start reports success only once the server it
 * started answers its API with the secret of its runtime file, and then
 * prints the address to open; a server that fails to start has its own
 * words relayed. server.stop signals only a process that is a kos-server
 * (never a pid reused by something else), and reports success only once it
 * is gone. A runtime file left by a server that died is removed only while
 * holding the data folder's lock, which a running server never releases.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "opts_int.h"
#include "studio.h"
#include "tool_int.h"

/* How long start waits for the server to answer, and stop for it to end. */
#define START_WAIT_MS 30000
#define STOP_WAIT_MS  30000
#define POLL_MS       100

enum { OPT_DATA, OPT_PORT, OPT_DEVICE_PORT, OPT_FOREGROUND, OPT_STREAMS };

static const struct kos__opt server_opts[] = {
    {"data", 0, "DIR", OPT_DATA},
    {"port", 0, "N", OPT_PORT},
    {"device-port", 0, "N", OPT_DEVICE_PORT},
    {"foreground", 0, NULL, OPT_FOREGROUND},
    {"streams", 0, "LIST", OPT_STREAMS},
};

static void start_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool server.start [--data DIR] [--port N] [--device-port N]\n"
            "                             [--streams NAME=HOST:PORT,...] [--foreground]\n"
            "\n"
            "Starts the local Studio server (kos-server studio) in the background, waits until\n"
            "it answers, and prints the address to open in a browser, with the secret that\n"
            "lets you in, and the address devices connect to. Both ports listen on 127.0.0.1\n"
            "only. The server keeps its devices, their logs and its CA in DIR, and its log in\n"
            "DIR/server.log.\n"
            "\n"
            "  --data DIR         the Studio's data folder (default $XDG_DATA_HOME/kos/studio,\n"
            "                     else ~/.local/share/kos/studio); made mode 0700\n"
            "  --port N           the web UI and API port (default %u; 0: any free port)\n"
            "  --device-port N    the port devices connect to (default %u; 0: any free\n"
            "                     port); device bundles name it, so keep it\n"
            "  --streams LIST     the destinations devices may open streams to, by name:\n"
            "                     NAME=HOST:PORT,... (loopback addresses only)\n"
            "  --foreground       run in this terminal until Ctrl-C, its log on stderr\n"
            "  -h, --help         show this help\n"
            "\n"
            "Options take the forms --name VALUE and --name=VALUE.\n"
            "Exit status: 0 it runs, 1 it did not start (already running, a port in use, a\n"
            "data folder it cannot write: the message says), 2 usage error. See %s.\n",
            KOS__STUDIO_API_PORT, KOS__STUDIO_DEVICE_PORT, kos__tool_doc("studio.md"));
}

static void stop_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool server.stop [--data DIR]\n"
            "\n"
            "Stops the local Studio server: asks it to stop (SIGTERM) and waits until it has.\n"
            "Its devices, logs and CA stay in its data folder for the next start.\n"
            "\n"
            "  --data DIR         the Studio's data folder (default $XDG_DATA_HOME/kos/studio,\n"
            "                     else ~/.local/share/kos/studio)\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 stopped, 1 it was not running or did not stop. See %s.\n",
            kos__tool_doc("studio.md"));
}

static void status_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool server.status [--data DIR]\n"
            "\n"
            "Says whether the local Studio server runs and, if it does, the address to open\n"
            "(with its secret), the address devices connect to, and how many devices it\n"
            "knows in each state.\n"
            "\n"
            "  --data DIR         the Studio's data folder (default $XDG_DATA_HOME/kos/studio,\n"
            "                     else ~/.local/share/kos/studio)\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 it runs and answers, 1 it does not. See %s.\n",
            kos__tool_doc("studio.md"));
}

/* Reads the options of `cmd`; those it does not take are usage errors.
 * Returns -1 to go on, else the exit status. */
struct server_args {
    const char *data;
    const char *port, *device_port, *streams;
    bool foreground;
};

static int parse(const char *cmd, int argc, char **argv, bool start, void (*usage)(FILE *),
                 struct server_args *a)
{
    struct kos__opts p;
    const char *v;
    unsigned port;
    int opt;

    memset(a, 0, sizeof(*a));
    /* server.stop and server.status take only --data. */
    kos__opts_init(&p, cmd, argc, argv, server_opts, start ? 5 : 1);
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_DATA:
            a->data = v;
            break;
        case OPT_PORT:
            if (!kos__opts_port(&p, "port", v, &port))
                return 2;
            a->port = v;
            break;
        case OPT_DEVICE_PORT:
            if (!kos__opts_port(&p, "device-port", v, &port))
                return 2;
            a->device_port = v;
            break;
        case OPT_FOREGROUND:
            a->foreground = true;
            break;
        case OPT_STREAMS:
            a->streams = v;
            break;
        case KOS__OPTS_ARG:
            return kos__opts_usage_error(&p, "unexpected argument '%s'", v);
        }
    }
    return -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Removes a stale runtime file in dir, if no server holds the folder. */
static void remove_stale(const char *dir)
{
    char why[256], path[PATH_MAX + 32];
    int fd = kos__studio_lock(dir, why, sizeof(why));

    if (fd < 0)
        return;
    snprintf(path, sizeof(path), "%s/%s", dir, KOS__STUDIO_RUNTIME_FILE);
    unlink(path);
    close(fd);
}

/* The kos-server next to this kos-tool. */
static bool server_binary(char *out, size_t cap)
{
    snprintf(out, cap, "%s/kos-server", kos__tool_self_dir());
    return access(out, X_OK) == 0;
}

/* Prints what kos-server wrote to its log from offset `from` on, before
 * it ended, each line as kos-tool's own (its log's timestamps dropped). */
static void relay(const char *cmd, const char *log, off_t from)
{
    static const char prefix[] = "kos-server studio: ";
    char text[8192], *line, *nl;
    bool any = false;
    ssize_t n = 0;
    int fd = open(log, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        n = pread(fd, text, sizeof(text) - 1, from);
        close(fd);
    }
    text[n > 0 ? n : 0] = '\0';
    for (line = text; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
            continue; /* a log line, not the reason it ended */
        fprintf(stderr, "kos-tool %s: %s\n", cmd, line + sizeof(prefix) - 1);
        any = true;
    }
    if (!any)
        fprintf(stderr, "kos-tool %s: kos-server ended at start; its log is %s\n", cmd, log);
}

static void print_running(const struct kos__tool_studio *s)
{
    printf("open:    %s?secret=%s\n", s->rt.url, s->rt.secret);
    printf("devices: connect to %s\n", s->rt.device);
}

int kos__tool_server_start(int argc, char **argv)
{
    static const char cmd[] = "server.start";
    char bin[PATH_MAX], log[PATH_MAX + 16], err[1024];
    const char *args[16];
    struct kos__tool_studio s;
    struct server_args a;
    size_t n_args = 0;
    int rc, status, logfd;
    off_t logstart;
    pid_t pid;
    kos_status_t st;

    rc = parse(cmd, argc, argv, true, start_usage, &a);
    if (rc >= 0)
        return rc;
    st = kos__tool_studio_find(a.data, &s, err, sizeof(err));
    if (st == KOS_STATUS_OK || st == KOS_STATUS_UNAVAILABLE) {
        fprintf(stderr,
                "kos-tool %s: Studio is already running (pid %ld, %s) with the data "
                "folder %s%s: stop it first with kos-tool server.stop\n",
                cmd, (long)s.rt.pid, s.rt.url, s.dir, st ? ", though it does not answer" : "");
        return 1;
    }
    if (!s.dir[0]) {
        fprintf(stderr, "kos-tool %s: %s\n", cmd, err);
        return 1;
    }
    if (kos__studio_make_data_dir(s.dir, err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: %s\n", cmd, err);
        return 1;
    }
    if (!server_binary(bin, sizeof(bin))) {
        fprintf(stderr, "kos-tool %s: cannot find kos-server next to kos-tool (%s)\n", cmd, bin);
        return 1;
    }
    args[n_args++] = "kos-server";
    args[n_args++] = "studio";
    args[n_args++] = "--data";
    args[n_args++] = s.dir;
    if (a.port) {
        args[n_args++] = "--port";
        args[n_args++] = a.port;
    }
    if (a.device_port) {
        args[n_args++] = "--device-port";
        args[n_args++] = a.device_port;
    }
    if (a.streams) {
        args[n_args++] = "--streams";
        args[n_args++] = a.streams;
    }
    if (a.foreground) {
        args[n_args] = NULL;
        execv(bin, (char *const *)args);
        fprintf(stderr, "kos-tool %s: cannot run %s: %s\n", cmd, bin, strerror(errno));
        return 1;
    }
    args[n_args] = NULL;
    /* The server's output goes to its log from the start; what it wrote
     * there before it ended is how a failed start explains itself. */
    snprintf(log, sizeof(log), "%s/server.log", s.dir);
    logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (logfd < 0 || (logstart = lseek(logfd, 0, SEEK_END)) < 0) {
        fprintf(stderr, "kos-tool %s: cannot write the server's log %s: %s\n", cmd, log,
                strerror(errno));
        if (logfd >= 0)
            close(logfd);
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "kos-tool %s: cannot start kos-server: %s\n", cmd, strerror(errno));
        close(logfd);
        return 1;
    }
    if (pid == 0) {
        /* Its own session, so the terminal's signals do not reach it. */
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        setsid();
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        execv(bin, (char *const *)args);
        fprintf(stderr, "kos-server studio: cannot run %s: %s\n", bin, strerror(errno));
        _exit(1);
    }
    close(logfd);
    for (long waited = 0;; waited += POLL_MS) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            relay(cmd, log, logstart);
            rc = 1;
            break;
        }
        if (kos__tool_studio_find(a.data, &s, err, sizeof(err)) == KOS_STATUS_OK &&
            s.rt.pid == pid) {
            printf("Studio is running (pid %ld); its data is in %s.\n", (long)pid, s.dir);
            print_running(&s);
            printf("Open the first address in a browser; stop the server with kos-tool "
                   "server.stop.\n");
            rc = 0;
            break;
        }
        if (waited >= START_WAIT_MS) {
            fprintf(stderr,
                    "kos-tool %s: kos-server (pid %ld) did not answer within %d s; its log is "
                    "%s\n",
                    cmd, (long)pid, START_WAIT_MS / 1000, log);
            rc = 1;
            break;
        }
        sleep_ms(POLL_MS);
    }
    return rc;
}

int kos__tool_server_stop(int argc, char **argv)
{
    static const char cmd[] = "server.stop";
    struct kos__tool_studio s;
    struct server_args a;
    char err[1024];
    kos_status_t st;
    int rc;

    rc = parse(cmd, argc, argv, false, stop_usage, &a);
    if (rc >= 0)
        return rc;
    st = kos__tool_studio_find(a.data, &s, err, sizeof(err));
    if (!s.alive) {
        if (s.has_rt)
            remove_stale(s.dir);
        fprintf(stderr, "kos-tool %s: %s\n", cmd,
                st == KOS_STATUS_NOT_FOUND ? "Studio is not running" : err);
        return 1;
    }
    if (kill(s.rt.pid, SIGTERM) != 0) {
        fprintf(stderr, "kos-tool %s: cannot signal kos-server (pid %ld): %s\n", cmd,
                (long)s.rt.pid, strerror(errno));
        return 1;
    }
    for (long waited = 0; kos__studio_pid_is_server(s.rt.pid); waited += POLL_MS) {
        if (waited >= STOP_WAIT_MS) {
            fprintf(stderr,
                    "kos-tool %s: kos-server (pid %ld) did not stop within %d s; end it with "
                    "kill -KILL %ld\n",
                    cmd, (long)s.rt.pid, STOP_WAIT_MS / 1000, (long)s.rt.pid);
            return 1;
        }
        sleep_ms(POLL_MS);
    }
    printf("Studio stopped (pid %ld); its data stays in %s.\n", (long)s.rt.pid, s.dir);
    return 0;
}

int kos__tool_server_status(int argc, char **argv)
{
    static const char cmd[] = "server.status";
    static const char *const states[] = {"online", "offline", "registered", "revoked", "pending"};
    struct kos__tool_studio s;
    struct server_args a;
    unsigned counts[5] = {0}, total = 0;
    char err[1024];
    json_t *resp = NULL, *d;
    size_t i;
    int rc, status;
    kos_status_t st;

    rc = parse(cmd, argc, argv, false, status_usage, &a);
    if (rc >= 0)
        return rc;
    st = kos__tool_studio_find(a.data, &s, err, sizeof(err));
    if (st == KOS_STATUS_NOT_FOUND) {
        if (s.has_rt)
            remove_stale(s.dir);
        printf("Studio is not running (data folder %s).\n", s.dir);
        return 1;
    }
    if (st) {
        fprintf(stderr, "kos-tool %s: %s\n", cmd, err);
        return 1;
    }
    if (kos__tool_studio_call(&s.rt, "GET", "/api/devices", NULL, 10, &status, &resp, err,
                              sizeof(err)) != KOS_STATUS_OK ||
        status != 200) {
        fprintf(stderr, "kos-tool %s: Studio (pid %ld) does not answer: %s\n", cmd, (long)s.rt.pid,
                status ? kos__tool_studio_error(resp) : err);
        json_decref(resp);
        return 1;
    }
    json_array_foreach(json_object_get(resp, "devices"), i, d)
    {
        const char *state = json_string_value(json_object_get(d, "state"));
        total++;
        for (size_t k = 0; state && k < 5; k++)
            if (strcmp(state, states[k]) == 0)
                counts[k]++;
    }
    json_decref(resp);
    printf("Studio is running (pid %ld); its data is in %s.\n", (long)s.rt.pid, s.dir);
    print_running(&s);
    printf("%u device%s: %u online, %u offline, %u registered (never connected), %u revoked", total,
           total == 1 ? "" : "s", counts[0], counts[1], counts[2], counts[3]);
    if (counts[4])
        printf(", %u pending (waiting for approval in the web UI)", counts[4]);
    printf("\n");
    return 0;
}
