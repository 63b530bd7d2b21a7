/*
 * cmd_toolbox.c - kos-tool toolbox.*: tools that work on a running device
 * through the local Studio server (docs/studio.md). toolbox.remote_shell
 * is a line-based console on a device's command console (its admin's
 * remote shell, docs/packages/admin.md): each line read is sent to Studio
 * (POST /api/devices/ID/shell), which relays it to the device, and the
 * device's answer is printed.
 *
 * `kos-tool debug DEVICE APP` opens a debug session on an app of a device
 * (POST /api/devices/ID/debug), listens on a local port for gdb (target
 * remote) and relays one gdb connection to the session's port on Studio,
 * which carries it over the device's link to the debug agent Core attached
 * to the app.
 *
 * What stays true: nothing is run on this machine or on the device but
 * the device's own console commands; every line printed that came from the
 * device is escaped again here (kos__text_escape(), idempotent), so a
 * device or a server cannot drive the terminal; a line that cannot go as
 * JSON text (not UTF-8, a NUL) is refused here and not sent; the exit
 * status says whether every command was carried out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "opts_int.h"
#include "studio.h"
#include "text_int.h"
#include "tool_int.h"

/* How long a line waits for its answer here: past the server's own wait
 * (KOS__SRV_SHELL_WAIT_S, 30 s), so that the server's 504 is what says it. */
#define ANSWER_WAIT_S 40

enum { OPT_DATA };

static const struct kos__opt shell_opts[] = {
    {"data", 0, "DIR", OPT_DATA},
};

static void shell_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool toolbox.remote_shell DEVICE [--data DIR]\n"
            "\n"
            "A console on DEVICE's command console (its admin's remote shell), through the\n"
            "local Studio server: each line is one command, sent to the device, and its\n"
            "answer is printed. On a terminal it prompts with the device's name; otherwise\n"
            "it reads the lines from standard input, e.g.\n"
            "\n"
            "  echo apps | kos-tool toolbox.remote_shell bench-1\n"
            "\n"
            "The device's commands (its 'help' lists them): help, apps, restart APP,\n"
            "logs [APP] [N], dir, trace APP on|off, health, reboot, keys. Nothing else runs:\n"
            "it is not a Unix shell. The device must be online and its system must enable\n"
            "the shell (admin's remote_shell: enabled, in a development profile).\n"
            "\n"
            "  DEVICE             the device's id, a prefix of it (at least %u hex digits;\n"
            "                     its key id is one), or its name in Studio\n"
            "  --data DIR         the Studio's data folder (default $XDG_DATA_HOME/kos/studio,\n"
            "                     else ~/.local/share/kos/studio)\n"
            "  -h, --help         show this help\n"
            "\n"
            "End it with Ctrl-D (end of input). What the device sends is shown escaped.\n"
            "Exit status: 0 every command was carried out, 1 one was refused or failed (the\n"
            "line says why), or Studio, the device or its shell could not be reached (no\n"
            "Studio, an unknown device, offline, the shell disabled), 2 usage error. See %s.\n",
            KOS__TOOL_DEVICE_PREFIX_MIN, kos__tool_doc("studio.md"));
}

enum outcome { SENT_OK, SENT_REFUSED, STOP };

/* Sends one line and prints its answer. STOP when the session cannot go
 * on (the device or its shell cannot be reached). */
static enum outcome send_line(const char *cmd, const struct kos__tool_studio *s, const char *id,
                              const char *line, size_t len)
{
    char path[128], err[1024];
    json_t *body = json_object(), *resp = NULL, *v;
    char *text = NULL;
    enum outcome out = SENT_REFUSED;
    int status = 0;
    size_t i;

    if (body && json_object_set_new(body, "line", json_stringn(line, len)) == 0)
        text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        fprintf(stderr, "kos-tool %s: out of memory\n", cmd);
        return STOP;
    }
    snprintf(path, sizeof(path), "/api/devices/%s/shell", id);
    if (kos__tool_studio_call(&s->rt, "POST", path, text, ANSWER_WAIT_S, &status, &resp, err,
                              sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: %s\n", cmd, err);
        free(text);
        return STOP;
    }
    free(text);
    if (status != 200) {
        const char *e = kos__tool_studio_error(resp);
        fprintf(stderr, "kos-tool %s: ", cmd);
        kos__tool_put_escaped(stderr, e, strlen(e));
        /* The device gone (404, 409: revoked or offline; 502: its link
         * ended) ends the session; a refused line (400), a busy device
         * (503) or one slow to answer (504) does not. */
        out =
            status == 404 || status == 409 || status == 502 || status == 401 ? STOP : SENT_REFUSED;
        json_decref(resp);
        return out;
    }
    json_int_t st = json_integer_value(json_object_get(resp, "status"));
    json_array_foreach(json_object_get(resp, "lines"), i, v)
    {
        const char *l = json_string_value(v);
        if (l)
            kos__tool_put_escaped(st == 0 ? stdout : stderr, l, json_string_length(v));
    }
    if (json_is_true(json_object_get(resp, "cut")))
        fprintf(stderr, "kos-tool %s: the answer was cut (Studio keeps 256 KiB of one)\n", cmd);
    if (st == 0)
        out = SENT_OK;
    else if (st == KOS_STATUS_UNAUTHORIZED)
        out = STOP; /* the shell is disabled on the device: said in its line */
    json_decref(resp);
    fflush(stdout);
    return out;
}

int kos__tool_toolbox_remote_shell(int argc, char **argv)
{
    static const char cmd[] = "toolbox.remote_shell";
    const char *data = NULL, *want = NULL, *v;
    struct kos__tool_studio s;
    struct kos__opts p;
    char id[65], name_shown[1024];
    bool interactive, failed = false;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int opt;

    kos__opts_init(&p, cmd, argc, argv, shell_opts, 1);
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            shell_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_DATA:
            data = v;
            break;
        case KOS__OPTS_ARG:
            if (want)
                return kos__opts_usage_error(&p, "unexpected argument '%s' (one DEVICE only)", v);
            want = v;
            break;
        }
    }
    if (!want)
        return kos__opts_usage_error(&p, "which device? give its id, a prefix of it or its name");
    if (!kos__tool_studio_online_device(cmd, data, want, &s, id, name_shown))
        return 1;
    interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    if (interactive)
        printf("remote shell on '%s' (device %.16s): one command per line, 'help' lists them; "
               "Ctrl-D ends\n",
               name_shown, id);
    for (;;) {
        if (interactive) {
            printf("%s> ", name_shown);
            fflush(stdout);
        }
        errno = 0;
        n = getline(&line, &cap, stdin);
        if (n < 0) {
            if (errno)
                fprintf(stderr, "kos-tool %s: cannot read standard input: %s\n", cmd,
                        strerror(errno));
            if (interactive)
                putchar('\n');
            break;
        }
        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        /* What JSON text cannot carry is refused here (the device would
         * refuse it too). */
        json_t *probe = memchr(line, '\0', (size_t)n) ? NULL : json_stringn(line, (size_t)n);
        if (!probe) {
            fprintf(stderr, "kos-tool %s: line %zu is not UTF-8 text without NUL bytes: not sent\n",
                    cmd, lineno);
            failed = true;
            continue;
        }
        json_decref(probe);
        enum outcome o = send_line(cmd, &s, id, line, (size_t)n);
        if (o != SENT_OK)
            failed = true;
        if (o == STOP)
            break;
    }
    free(line);
    return failed ? 1 : 0;
}

/* ---- kos-tool debug ---- */

enum { DBG_DATA, DBG_PORT };

static const struct kos__opt debug_opts[] = {
    {"data", 0, "DIR", DBG_DATA},
    {"port", 'p', "N", DBG_PORT},
};

static void debug_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool debug DEVICE APP [--port N] [--data DIR]\n"
            "\n"
            "Debugs app APP of DEVICE with gdb, through the local Studio server: opens a\n"
            "debug session (the device's Core attaches gdbserver to the app, from outside\n"
            "its sandbox), listens on 127.0.0.1:N and prints the gdb command to connect:\n"
            "\n"
            "  kos-tool debug bench-1 sensor --port 2345 &\n"
            "  gdb build/sensor -ex 'target remote 127.0.0.1:2345'\n"
            "\n"
            "It relays one gdb connection and exits when it ends; quitting gdb detaches\n"
            "from the app, which runs on. The app must be marked debug: true in the\n"
            "manifest, the device online, and its system must enable debugging (admin's\n"
            "remote_debug: enabled, in a development profile). While gdb holds the app\n"
            "stopped, the app does not answer its clients.\n"
            "\n"
            "  DEVICE             the device's id, a prefix of it (at least %u hex digits;\n"
            "                     its key id is one), or its name in Studio\n"
            "  APP                the app's name in the device's manifest\n"
            "  -p, --port N       the local port for gdb (default 0: any free one, printed)\n"
            "  --data DIR         the Studio's data folder (default $XDG_DATA_HOME/kos/studio,\n"
            "                     else ~/.local/share/kos/studio)\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 the session ended (gdb disconnected, or the device ended it),\n"
            "1 it could not be opened (no Studio, an unknown or offline device, the app\n"
            "not marked debug: true, debugging disabled: the line says why), 2 usage error.\n"
            "See %s.\n",
            KOS__TOOL_DEVICE_PREFIX_MIN, kos__tool_doc("studio.md"));
}

/* Listens on 127.0.0.1:port (0: any); the socket, its port in *got, or -1
 * with the reason printed. */
static int listen_local(const char *cmd, unsigned port, unsigned *got)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t len = sizeof(sin);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 1) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        fprintf(stderr, "kos-tool %s: cannot listen on 127.0.0.1:%u: %s%s\n", cmd, port,
                strerror(errno), errno == EADDRINUSE ? " (give another --port, or 0)" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *got = ntohs(sin.sin_port);
    return fd;
}

/* Connects to the session's port on Studio's address and proves the
 * token; the socket, or -1 with the reason printed. */
static int connect_session(const char *cmd, const char *addr, unsigned port, const char *token)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char hello[128];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int n = snprintf(hello, sizeof(hello), "KOS-DEBUG %s\n", token);

    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        send(fd, hello, (size_t)n, MSG_NOSIGNAL) != n) {
        fprintf(stderr, "kos-tool %s: cannot reach the session's port %u on Studio: %s\n", cmd,
                port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Writes all of buf[0..n) to fd (blocking); false if it is gone. */
static bool write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w;
        n -= (size_t)w;
    }
    return true;
}

/* Relays bytes between a and b until either ends; which one ended first
 * in *a_ended. */
static void relay(int a, int b, bool *a_ended)
{
    char buf[16384];

    for (;;) {
        struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            *a_ended = true;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents)
                continue;
            ssize_t n = recv(p[i].fd, buf, sizeof(buf), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || !write_all(p[1 - i].fd, buf, (size_t)n)) {
                *a_ended = n <= 0 ? i == 0 : i == 1;
                return;
            }
        }
    }
}

int kos__tool_debug(int argc, char **argv)
{
    static const char cmd[] = "debug";
    const char *data = NULL, *want = NULL, *app = NULL, *v;
    struct kos__tool_studio s;
    struct kos__opts p;
    char err[1024], id[65], name_shown[1024], path[128], *text;
    unsigned port = 0, got;
    json_t *body, *resp = NULL;
    int opt, status = 0, lfd, gdb, sfd;
    bool gdb_ended = false;

    kos__opts_init(&p, cmd, argc, argv, debug_opts, sizeof(debug_opts) / sizeof(debug_opts[0]));
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            debug_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case DBG_DATA:
            data = v;
            break;
        case DBG_PORT:
            if (!kos__opts_port(&p, "port", v, &port))
                return 2;
            break;
        case KOS__OPTS_ARG:
            if (!want)
                want = v;
            else if (!app)
                app = v;
            else
                return kos__opts_usage_error(&p, "unexpected argument '%s' (DEVICE APP only)", v);
            break;
        }
    }
    if (!want)
        return kos__opts_usage_error(&p, "which device? give its id, a prefix of it or its name");
    if (!app)
        return kos__opts_usage_error(&p, "which app? give the name of an app of the device's "
                                         "manifest marked debug: true");
    if (!kos__tool_studio_online_device(cmd, data, want, &s, id, name_shown))
        return 1;
    /* The local port first: a port in use fails before the app is stopped. */
    if ((lfd = listen_local(cmd, port, &got)) < 0)
        return 1;
    body = json_pack("{s:s}", "app", app);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    snprintf(path, sizeof(path), "/api/devices/%s/debug", id);
    if (!text || kos__tool_studio_call(&s.rt, "POST", path, text, ANSWER_WAIT_S, &status, &resp,
                                       err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: %s\n", cmd, text ? err : "out of memory");
        free(text);
        close(lfd);
        return 1;
    }
    free(text);
    if (status != 200) {
        const char *e = kos__tool_studio_error(resp);
        fprintf(stderr, "kos-tool %s: cannot debug app '%s' of device '%s': ", cmd, app,
                name_shown);
        kos__tool_put_escaped(stderr, e, strlen(e));
        json_decref(resp);
        close(lfd);
        return 1;
    }
    json_int_t sport = json_integer_value(json_object_get(resp, "port"));
    const char *token = json_string_value(json_object_get(resp, "token"));
    if (sport <= 0 || sport > 65535 || !token) {
        fprintf(stderr, "kos-tool %s: Studio's answer has no session port and token\n", cmd);
        json_decref(resp);
        close(lfd);
        return 1;
    }
    sfd = connect_session(cmd, s.rt.api_host, (unsigned)sport, token);
    json_decref(resp);
    if (sfd < 0) {
        close(lfd);
        return 1;
    }
    fprintf(stderr,
            "kos-tool %s: gdbserver is attached to app '%s' on device '%s' (%.16s); the app is "
            "stopped until gdb continues it. Connect gdb with:\n",
            cmd, app, name_shown, id);
    printf("target remote 127.0.0.1:%u\n", got);
    fflush(stdout);
    /* One gdb; the session's end (the device closing) also ends the wait. */
    for (;;) {
        struct pollfd pw[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pw, 2, -1) < 0 && errno != EINTR)
            break;
        if (pw[1].revents) {
            fprintf(stderr, "kos-tool %s: the device ended the session before gdb connected\n",
                    cmd);
            close(lfd);
            close(sfd);
            return 0;
        }
        if (pw[0].revents)
            break;
    }
    gdb = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    close(lfd);
    if (gdb < 0) {
        fprintf(stderr, "kos-tool %s: cannot take gdb's connection: %s\n", cmd, strerror(errno));
        close(sfd);
        return 1;
    }
    fprintf(stderr, "kos-tool %s: gdb connected; relaying\n", cmd);
    relay(gdb, sfd, &gdb_ended);
    close(gdb);
    close(sfd);
    fprintf(stderr, "kos-tool %s: the debug session ended (%s)\n", cmd,
            gdb_ended ? "gdb disconnected; the app runs on" : "the device or Studio ended it");
    return 0;
}
