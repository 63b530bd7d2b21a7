/*
 * debugger.c - starting the debug agent (debugger_int.h).
 *
 * The agent is forked from Core and exec'd at once: between fork and exec
 * the child only resets its signal mask, moves its socket to stdin and
 * stdout and closes the rest, so nothing of Core's state (its sandboxes'
 * descriptors, its keys) reaches it. An exec that fails is reported
 * through a close-on-exec pipe, so the caller knows before it answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "debugger_int.h"

pid_t kos__debugger_app_pid(pid_t init)
{
    char path[64], buf[64];
    ssize_t n;
    long v;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)init, (int)init);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    v = strtol(buf, NULL, 10);
    return v > 0 ? (pid_t)v : -1;
}

/* The child: never returns. */
static void child(const char *path, pid_t target, int s, int errfd)
{
    char pidbuf[24];
    sigset_t none;
    int null;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    null = open("/dev/null", O_WRONLY);
    if (dup2(s, 0) < 0 || dup2(s, 1) < 0 || null < 0 || dup2(null, 2) < 0)
        goto fail;
    /* Everything else goes but the error pipe, which closes on exec. */
    if (errfd > 3)
        syscall(SYS_close_range, 3u, (unsigned)errfd - 1, 0u);
    syscall(SYS_close_range, (unsigned)errfd + 1, ~0u, 0u);
    snprintf(pidbuf, sizeof(pidbuf), "%d", (int)target);
    execl(path, path, "--once", "--attach", "-", pidbuf, (char *)NULL);
fail : {
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof(e));
    (void)w;
    _exit(127);
}
}

kos_status_t kos__debugger_start(const char *path, pid_t target, pid_t *pid, int *sock, char *err,
                                 size_t errlen)
{
    int sv[2], ep[2], e = 0;
    ssize_t n;
    pid_t p;

    if (access(path, X_OK) != 0) {
        snprintf(err, errlen, "%s cannot be run (%s): install Debian's gdbserver package", path,
                 strerror(errno));
        return KOS_STATUS_UNAVAILABLE;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "no socket pair for the debugger: %s", strerror(errno));
        return KOS_STATUS_IO;
    }
    if (pipe2(ep, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "no pipe for the debugger: %s", strerror(errno));
        goto out_close_pair;
    }
    p = fork();
    if (p < 0) {
        snprintf(err, errlen, "cannot fork the debugger: %s", strerror(errno));
        close(ep[0]);
        close(ep[1]);
        goto out_close_pair;
    }
    if (p == 0)
        child(path, target, sv[1], ep[1]);
    close(ep[1]);
    close(sv[1]);
    do
        n = read(ep[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof(e)) {
        /* It never ran: reaped here, so that Core's loop does not see it. */
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
        close(sv[0]);
        snprintf(err, errlen, "cannot run %s: %s", path, strerror(e));
        return KOS_STATUS_IO;
    }
    *pid = p;
    *sock = sv[0];
    return KOS_STATUS_OK;
out_close_pair:
    close(sv[0]);
    close(sv[1]);
    return KOS_STATUS_IO;
}
