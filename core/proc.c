/*
 * proc.c - starting one process with exactly its granted descriptors.
 *
 * The child moves every granted descriptor to its fixed number, closes all
 * others, resets its signal state, leaves Core's session, asks to be killed
 * if Core dies, and executes the verified binary from its memfd. An exec
 * failure is reported back through a close-on-exec pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot_int.h"
#include "proc_int.h"

#define MAX_FDS (4 + KOS__BOOT_MAX_DIRS + 2)

static void child_fail(int errpipe, int err)
{
    ssize_t w = write(errpipe, &err, sizeof(err));
    (void)w;
    _exit(127);
}

/* Runs in the child; never returns. */
static void child(const struct kos__spawn *s, int errpipe, pid_t core_pid)
{
    int src[MAX_FDS];
    size_t n = 0;
    int devnull, hi = 0;
    sigset_t none;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != core_pid)
        child_fail(errpipe, errno ? errno : ESRCH);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    setsid();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(errpipe, errno);

    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        child_fail(errpipe, errno);
    src[n++] = devnull;
    src[n++] = s->console_fd;
    src[n++] = s->console_fd;
    src[n++] = s->ctl_fd;
    for (size_t i = 0; i < s->n_dir_fds; i++)
        src[n++] = s->dir_fds[i];
    src[n++] = s->exe_fd;
    src[n++] = errpipe;
    for (size_t i = 0; i < n; i++)
        if (src[i] > hi)
            hi = src[i];
    /* Lift every source above the target range first, so no dup2 below
     * overwrites a source that has yet to move. */
    for (size_t i = 0; i < n; i++) {
        int fd = fcntl(src[i], F_DUPFD_CLOEXEC, hi + 1 > (int)n ? hi + 1 : (int)n);
        if (fd < 0)
            child_fail(errpipe, errno);
        src[i] = fd;
    }
    errpipe = src[n - 1];
    for (size_t i = 0; i < n; i++) {
        /* The binary and the error pipe stay close-on-exec. */
        int flags = i >= n - 2 ? O_CLOEXEC : 0;
        if (dup3(src[i], (int)i, flags) < 0)
            child_fail(errpipe, errno);
    }
    errpipe = (int)n - 1;
    if (syscall(SYS_close_range, (unsigned)n, ~0u, 0) < 0)
        child_fail(errpipe, errno);
    syscall(SYS_execveat, (int)n - 2, "", s->argv, s->envp, AT_EMPTY_PATH);
    child_fail(errpipe, errno);
}

kos_status_t kos__proc_spawn(const struct kos__spawn *s, pid_t *pid, int *err_no)
{
    int pipefd[2];
    pid_t core_pid = getpid();
    pid_t child_pid;
    int err = 0;
    ssize_t r;

    *err_no = 0;
    if (s->n_dir_fds > KOS__BOOT_MAX_DIRS)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        *err_no = errno;
        return KOS_STATUS_IO;
    }
    child_pid = fork();
    if (child_pid < 0) {
        *err_no = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return KOS_STATUS_IO;
    }
    if (child_pid == 0) {
        close(pipefd[0]);
        child(s, pipefd[1], core_pid);
    }
    close(pipefd[1]);
    do
        r = read(pipefd[0], &err, sizeof(err));
    while (r < 0 && errno == EINTR);
    close(pipefd[0]);
    if (r == 0) {
        *pid = child_pid;
        return KOS_STATUS_OK;
    }
    *err_no = r == (ssize_t)sizeof(err) ? err : EIO;
    while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return KOS_STATUS_IO;
}
