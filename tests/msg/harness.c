/*
 * harness.c - a stand-in for KOS Core around a real msg_server (harness.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot_int.h"
#include "harness.h"
#include "msg_int.h"

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "harness: " __VA_ARGS__);                                                  \
        fputc('\n', stderr);                                                                       \
        return -1;                                                                                 \
    } while (0)

/* Closes every descriptor from 3 up except those in keep[]. */
static void close_all_but(const int *keep, int n_keep)
{
    for (int fd = 3; fd < 1024; fd++) {
        bool kept = false;
        for (int i = 0; i < n_keep; i++)
            kept = kept || keep[i] == fd;
        if (!kept)
            close(fd);
    }
}

int kh_server_start(struct kh_server *s, const char *binary, const char *name, const char *log_path)
{
    int sv[2];
    uint8_t buf[512];
    struct kos__boot boot = {.app_id = 0, .role = KOS__ROLE_MSG_SERVER};
    size_t len;

    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->log_path, sizeof(s->log_path), "%s", log_path);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        FAIL("socketpair: %s", strerror(errno));
    s->pid = fork();
    if (s->pid < 0)
        FAIL("fork: %s", strerror(errno));
    if (s->pid == 0) {
        /* Out of the way first, so nothing below lands on fd 3 for good. */
        int ctl = fcntl(sv[1], F_DUPFD, 16);
        int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int null = open("/dev/null", O_RDONLY);
        int keep = KOS__CTL_FD;
        if (ctl < 0 || out < 0 || null < 0)
            _exit(127);
        dup2(null, 0);
        dup2(out, 1);
        dup2(out, 2);
        dup2(ctl, KOS__CTL_FD);
        close_all_but(&keep, 1);
        execl(binary, "msg_server", (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    s->ctl = sv[0];
    snprintf(boot.name, sizeof(boot.name), "%s", name);
    if (kos__boot_encode(&boot, buf, sizeof(buf), &len) ||
        kos__ctl_send(s->ctl, KOS__CTL_BOOT, buf, len, -1))
        FAIL("cannot send the boot record");
    struct pollfd p = {.fd = s->ctl, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1)
        FAIL("%s did not report ready", name);
    uint8_t *rbuf = malloc(KOS__CTL_MAX);
    uint32_t type = 0;
    int fd = -1;
    kos_status_t st = kos__ctl_recv(s->ctl, rbuf, KOS__CTL_MAX, &type, &len, &fd, 0);
    free(rbuf);
    if (st || type != KOS__CTL_READY)
        FAIL("%s: expected READY, got %s / type %u", name, kos_status_str(st), type);
    return 0;
}

int kh_server_add_app(struct kh_server *s, uint32_t app_id, const char *app,
                      const char *const *publish, const char *const *request, int *app_sock)
{
    struct kos__client_grants *g = calloc(1, sizeof(*g));
    uint8_t *buf = malloc(KOS__CTL_MAX);
    size_t len;
    int sv[2];
    int rc = -1;

    if (!g || !buf)
        goto out_free;
    g->app_id = app_id;
    snprintf(g->app, sizeof(g->app), "%s", app);
    for (; publish && publish[g->n_publish]; g->n_publish++)
        g->publish[g->n_publish] = publish[g->n_publish];
    for (; request && request[g->n_request]; g->n_request++)
        g->request[g->n_request] = request[g->n_request];
    if (kos__grants_encode(g, buf, KOS__CTL_MAX, &len))
        goto out_free;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        goto out_free;
    if (kos__ctl_send(s->ctl, KOS__CTL_ADD_CLIENT, buf, len, sv[0])) {
        close(sv[0]);
        close(sv[1]);
        goto out_free;
    }
    close(sv[0]);
    *app_sock = sv[1];
    rc = 0;
out_free:
    free(g);
    free(buf);
    if (rc)
        fprintf(stderr, "harness: cannot add app %s\n", app);
    return rc;
}

int kh_server_app_down(struct kh_server *s, uint32_t app_id)
{
    uint8_t body[4] = {(uint8_t)app_id, (uint8_t)(app_id >> 8), (uint8_t)(app_id >> 16),
                       (uint8_t)(app_id >> 24)};
    if (kos__ctl_send(s->ctl, KOS__CTL_APP_DOWN, body, sizeof(body), -1))
        FAIL("cannot send APP_DOWN");
    return 0;
}

static int reap_pid(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0;; waited += 5) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0)
            return -1;
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return -1;
        }
        usleep(5000);
    }
}

int kh_server_stop(struct kh_server *s)
{
    int status = 0;

    if (s->pid <= 0)
        return -1;
    if (kos__ctl_send(s->ctl, KOS__CTL_STOP, NULL, 0, -1))
        fprintf(stderr, "harness: cannot send STOP to %s\n", s->name);
    int r = reap_pid(s->pid, 5000, &status);
    close(s->ctl);
    s->pid = 0;
    return r < 0 ? -1 : status;
}

bool kh_log_contains(const struct kh_server *s, const char *needle)
{
    char buf[65536];
    FILE *f = fopen(s->log_path, "r");
    size_t n;

    if (!f)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

int kh_log_count(const struct kh_server *s, const char *needle)
{
    static char buf[1 << 20];
    FILE *f = fopen(s->log_path, "r");
    size_t n;
    int count = 0;

    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (const char *p = strstr(buf, needle); p; p = strstr(p + 1, needle))
        count++;
    return count;
}

int kh_spawn(struct kh_child *c, kh_fn fn, void *arg, const int *keep, int n_keep)
{
    int down[2], up[2];

    if (n_keep > KH_MAX_FDS)
        FAIL("too many descriptors to keep");
    if (pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC) < 0)
        FAIL("pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    c->pid = fork();
    if (c->pid < 0)
        FAIL("fork: %s", strerror(errno));
    if (c->pid == 0) {
        int k[KH_MAX_FDS + 2];
        for (int i = 0; i < n_keep; i++)
            k[i] = keep[i];
        k[n_keep] = down[0];
        k[n_keep + 1] = up[1];
        close_all_but(k, n_keep + 2);
        struct kh_sync sync = {.from_parent = down[0], .to_parent = up[1]};
        int rc = fn(arg, &sync);
        fflush(stdout);
        fflush(stderr);
        /* exit(), not _exit(): under LeakSanitizer a leak in the app's
         * process fails it too. */
        exit(rc);
    }
    close(down[0]);
    close(up[1]);
    c->to_child = down[1];
    c->from_child = up[0];
    return 0;
}

int kh_reap(struct kh_child *c, int timeout_ms)
{
    int status = 0;
    int r = reap_pid(c->pid, timeout_ms, &status);

    close(c->to_child);
    close(c->from_child);
    c->pid = 0;
    if (r < 0) {
        fprintf(stderr, "harness: a child did not finish in time\n");
        return -1;
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static int put_byte(int fd)
{
    char b = 1;
    return write(fd, &b, 1) == 1 ? 0 : -1;
}

static int get_byte(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char b;

    if (poll(&p, 1, timeout_ms) != 1)
        return -1;
    return read(fd, &b, 1) == 1 ? 0 : -1;
}

int kh_go(struct kh_child *c)
{
    return put_byte(c->to_child);
}

int kh_wait_ready(struct kh_child *c, int timeout_ms)
{
    return get_byte(c->from_child, timeout_ms);
}

int kh_signal(const struct kh_sync *sync)
{
    return put_byte(sync->to_parent);
}

int kh_wait_go(const struct kh_sync *sync, int timeout_ms)
{
    return get_byte(sync->from_parent, timeout_ms);
}

kos_dir_t *kh_dir(int sock, const char *server, uint32_t app_id)
{
    kos_dir_t *dir;
    kos_status_t st = kos__dir_create(sock, server, app_id, &dir);

    if (st) {
        fprintf(stderr, "harness: kos__dir_create: %s\n", kos_status_str(st));
        _exit(99);
    }
    return dir;
}

int kh_tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/kos-msg-XXXXXX");
    if (!mkdtemp(out))
        FAIL("mkdtemp: %s", strerror(errno));
    return 0;
}
