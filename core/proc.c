/*
 * proc.c - starting one process with exactly its granted descriptors.
 *
 * Without a sandbox the child moves every granted descriptor to its fixed
 * number, closes all others, resets its signal state, leaves Core's session,
 * asks to be killed if Core dies, and executes the verified binary from its
 * memfd.
 *
 * With a sandbox (sandbox.h) Core clones the sandbox's init in new
 * namespaces, writes its id maps, and lets it go; the init builds the root,
 * arranges the descriptors, opens the exec gate, starts the app with fork()
 * and becomes its init. The app enters the sandbox and executes the binary
 * from fd `max_files`; that exec waits for the init's answer at the gate,
 * which is why the init must not be suspended meanwhile (as vfork() would).
 * Any failure on the way is reported back as (step, errno) through a
 * close-on-exec pipe that only reaches end of file once the binary runs.
 * Starting is split in two (kos__proc_launch, kos__proc_finish) so that Core
 * can have many processes building their sandboxes at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boot_int.h"
#include "file_int.h"
#include "proc_int.h"

#define MAX_FDS (4 + KOS__BOOT_MAX_DIRS + KOS__BOOT_MAX_RES + 1 + 4) /* and the tracing ring */

__attribute__((noreturn)) static void child_fail(int errpipe, int step, int err)
{
    struct kos__spawn_err e = {.step = step, .err = err};
    ssize_t w = write(errpipe, &e, sizeof(e));
    (void)w;
    _exit(127);
}

static void reset_signals(void)
{
    sigset_t none;

    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * Moves the granted descriptors to 0..k-1 (inheritable) and `extra` (the
 * binary, the error pipe, maybe the status pipe) to k, k+1, ... (close-on-
 * exec), and closes every other descriptor. Returns k, or -1 with errno.
 * extra[] is updated with the new numbers.
 */
static int arrange_fds(const struct kos__spawn *s, int devnull, int *extra, size_t n_extra)
{
    int src[MAX_FDS];
    size_t n = 0, k;
    int hi = 0;

    src[n++] = devnull;
    src[n++] = s->console_fd;
    src[n++] = s->console_fd;
    src[n++] = s->ctl_fd;
    for (size_t i = 0; i < s->n_dir_fds; i++)
        src[n++] = s->dir_fds[i];
    for (size_t i = 0; i < s->n_res_fds; i++)
        src[n++] = s->res_fds[i];
    k = n;
    for (size_t i = 0; i < n_extra; i++)
        src[n++] = extra[i];
    for (size_t i = 0; i < n; i++)
        if (src[i] > hi)
            hi = src[i];
    /* Lift every source above the target range first, so no dup below
     * overwrites a source that has yet to move. */
    for (size_t i = 0; i < n; i++) {
        int fd = fcntl(src[i], F_DUPFD_CLOEXEC, hi + 1 > (int)n ? hi + 1 : (int)n);
        if (fd < 0)
            return -1;
        src[i] = fd;
    }
    for (size_t i = 0; i < n; i++)
        if (dup3(src[i], (int)i, i >= k ? O_CLOEXEC : 0) < 0)
            return -1;
    for (size_t i = 0; i < n_extra; i++)
        extra[i] = (int)(k + i);
    if (syscall(SYS_close_range, (unsigned)n, ~0u, 0) < 0)
        return -1;
    return (int)k;
}

/* Runs in the child when there is no sandbox; never returns. */
__attribute__((noreturn)) static void child_plain(const struct kos__spawn *s, int errpipe,
                                                  pid_t core_pid, int syncfd)
{
    int extra[3] = {s->exe_fd, errpipe, syncfd};
    int devnull;
    char go;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != core_pid)
        child_fail(errpipe, KOS_SB_STEP_SYNC, errno ? errno : ESRCH);
    reset_signals();
    setsid();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(errpipe, KOS_SB_STEP_NNP, errno);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        child_fail(errpipe, KOS_SB_STEP_FDS, errno);
    if (arrange_fds(s, devnull, extra, syncfd >= 0 ? 3 : 2) < 0)
        child_fail(errpipe, KOS_SB_STEP_FDS, errno);
    errpipe = extra[1];
    /* A held start waits for kos__proc_release(); end of file means Core
     * gave up before anything of the image ran. */
    if (syncfd >= 0 && read(extra[2], &go, 1) != 1)
        _exit(127);
    syscall(SYS_execveat, (long)extra[0], "", s->argv, s->envp, (long)AT_EMPTY_PATH);
    child_fail(errpipe, KOS_SB_STEP_EXEC, errno);
}

/* The app, forked by the sandbox's init: closes every descriptor it must
 * not keep (the init's status pipe, signalfd and exec gate among them),
 * enters the sandbox and executes its binary - the one exec the gate lets
 * through; never returns. */
__attribute__((noreturn)) static void app_sandboxed(const struct kos__spawn *s, int exe,
                                                    int errpipe, pid_t init, int k)
{
    const struct kos_sandbox *sb = s->sb;
    int L = (int)sb->max_files, step, err;
    sigset_t none;

    /* The init reset every disposition already and installed none; only its
     * mask (everything blocked) must not pass on. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Without a PID namespace, the app must still die with its init. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(errpipe, KOS_SB_STEP_FDS, errno);
    if (getppid() != init)
        child_fail(errpipe, KOS_SB_STEP_SYNC, ESRCH);
    /* The binary goes to fd L, the RLIMIT_NOFILE value: the one number no
     * descriptor the app obtains later can take. */
    if (dup3(exe, L, O_CLOEXEC) < 0)
        child_fail(errpipe, KOS_SB_STEP_FDS, errno);
    if (dup3(errpipe, k, O_CLOEXEC) < 0)
        child_fail(errpipe, KOS_SB_STEP_FDS, errno);
    errpipe = k;
    if (syscall(SYS_close_range, (unsigned)k + 1, (unsigned)L - 1, 0) < 0 ||
        syscall(SYS_close_range, (unsigned)L + 1, ~0u, 0) < 0)
        child_fail(errpipe, KOS_SB_STEP_FDS, errno);
    step = kos_sandbox_enter(sb, &err);
    if (step)
        child_fail(errpipe, step, err);
    syscall(SYS_execveat, (long)L, "", s->argv, s->envp, (long)AT_EMPTY_PATH);
    child_fail(errpipe, KOS_SB_STEP_EXEC, errno);
}

/* The sandbox's init, right after clone(); never returns. */
__attribute__((noreturn)) static void child_init(const struct kos__spawn *s, int errpipe,
                                                 int syncfd, int status_fd)
{
    int extra[4] = {s->exe_fd, errpipe, status_fd, syncfd};
    struct kos_sandbox_waits w;
    int step, err, devnull, k;
    char go;
    pid_t init, app;

    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(errpipe, KOS_SB_STEP_SYNC, errno);
    if ((err = kos_sandbox_unshare(s->sb)) != 0)
        child_fail(errpipe, KOS_SB_STEP_NAMESPACES, err);
    /* What needs no ids first, while Core writes them. */
    reset_signals();
    setsid();
    /* Only a private /proc could show the app what the init inherited. */
    if (s->sb->proc)
        kos_sandbox_hide_cmdline();
    /* Core writes our id maps, then one byte; end of file means Core died
     * or gave up. */
    if (read(syncfd, &go, 1) != 1)
        _exit(127);
    step = kos_sandbox_build_root(s->sb, &err);
    if (step)
        child_fail(errpipe, step, err);
    /* The new root has its own /dev/null (or, without a mount namespace,
     * this is the host's). */
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        child_fail(errpipe, KOS_SB_STEP_FDS, errno);
    k = arrange_fds(s, devnull, extra, 4);
    if (k < 0)
        child_fail(errpipe, KOS_SB_STEP_FDS, errno);
    /* arrange_fds() moved the error pipe to extra[1] and closed the rest. */
    if ((int)s->sb->max_files <= k + 3)
        child_fail(extra[1], KOS_SB_STEP_FDS, EMFILE);
    /* Every signal blocked, and what the init will wait on: a signalfd and
     * the exec gate, which the app will inherit. */
    step = kos_sandbox_init_prepare(s->sb, &w, &err);
    if (step)
        child_fail(extra[1], step, err);
    /* Everything is ready; the app starts on Core's second byte (at once,
     * unless Core holds it until its message servers are ready). End of
     * file means Core gave up: nothing of the image has run. */
    if (read(extra[3], &go, 1) != 1)
        _exit(127);
    close(extra[3]);
    /* fork(), not vfork(): the app's exec waits for this init's answer. */
    init = getpid();
    app = fork();
    if (app < 0)
        child_fail(extra[1], KOS_SB_STEP_FORK, errno);
    if (app == 0)
        app_sandboxed(s, extra[0], extra[1], init, k);
    /* The init keeps nothing but its status pipe (0), its signalfd (1) and
     * its gate (2). */
    if (dup2(extra[2], 0) < 0 || dup2(w.signal_fd, 1) < 0 ||
        (w.gate_fd >= 0 && dup2(w.gate_fd, 2) < 0))
        _exit(127);
    syscall(SYS_close_range, w.gate_fd >= 0 ? 3u : 2u, ~0u, 0);
    w = (struct kos_sandbox_waits){.signal_fd = 1, .gate_fd = w.gate_fd >= 0 ? 2 : -1};
    kos_sandbox_init(s->sb, app, 0, &w);
}

static kos_status_t spawn_plain(const struct kos__spawn *s, pid_t *pid, struct kos__spawn_err *why,
                                int errpipe[2], int syncp[2])
{
    pid_t core_pid = getpid();
    pid_t child_pid = fork();

    if (child_pid < 0) {
        why->err = errno;
        return KOS_STATUS_IO;
    }
    if (child_pid == 0) {
        close(errpipe[0]);
        if (syncp[1] >= 0)
            close(syncp[1]);
        child_plain(s, errpipe[1], core_pid, syncp[0]);
    }
    *pid = child_pid;
    return KOS_STATUS_OK;
}

static void close2(int fds[2])
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Moves process pid into the cgroup folder dirfd: it has not run anything
 * of the app yet, and what it starts stays there. Returns 0 or an errno. */
static int cgroup_enter(int dirfd, pid_t pid)
{
    char text[24];

    snprintf(text, sizeof(text), "%d", (int)pid);
    return kos__file_write_text(dirfd, "cgroup.procs", text);
}

kos_status_t kos__proc_launch(const struct kos__spawn *s, struct kos__launch *l,
                              struct kos__spawn_err *why)
{
    int errpipe[2] = {-1, -1}, syncp[2] = {-1, -1}, statp[2] = {-1, -1};
    pid_t child_pid = -1;
    kos_status_t st = KOS_STATUS_IO;

    *why = (struct kos__spawn_err){0, 0};
    *l = (struct kos__launch){.pid = -1, .errpipe = -1, .status_fd = -1, .release_fd = -1};
    if (s->n_dir_fds > KOS__BOOT_MAX_DIRS || s->n_res_fds > KOS__BOOT_MAX_RES + 1)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (pipe2(errpipe, O_CLOEXEC) < 0 || ((s->sb || s->hold) && pipe2(syncp, O_CLOEXEC) < 0) ||
        (s->sb && pipe2(statp, O_CLOEXEC) < 0)) {
        why->err = errno;
        goto out_close;
    }
    if (!s->sb) {
        st = spawn_plain(s, &child_pid, why, errpipe, syncp);
        if (st)
            goto out_close;
        close(syncp[0]);
        syncp[0] = -1;
        l->release_fd = syncp[1]; /* -1 unless held */
        syncp[1] = -1;
    } else {
        child_pid = kos_sandbox_clone(s->sb);
        if (child_pid < 0) {
            why->step = KOS_SB_STEP_SYNC;
            why->err = errno;
            goto out_close;
        }
        if (child_pid == 0) {
            close(errpipe[0]);
            close(syncp[1]);
            close(statp[0]);
            child_init(s, errpipe[1], syncp[0], statp[1]);
        }
        close(syncp[0]);
        syncp[0] = -1;
        /* The child waits for its maps; they are written before anything
         * else is started. A held start keeps the pipe's write end: children
         * started meanwhile inherit it, and close it with every other
         * inherited descriptor before anything of theirs runs. */
        int err = kos_sandbox_map_ids(s->sb, child_pid);
        /* One byte for the maps, and the second (start the app) unless the
         * caller holds it back for kos__proc_release(). */
        if (err) {
            why->step = KOS_SB_STEP_SYNC;
            why->err = err;
            kill(child_pid, SIGKILL);
        } else if (s->sb->cgroup_fd >= 0 && (err = cgroup_enter(s->sb->cgroup_fd, child_pid))) {
            why->step = KOS_SB_STEP_CGROUP;
            why->err = err;
            kill(child_pid, SIGKILL);
        } else if (write(syncp[1], "gr", s->hold ? 1 : 2) != (s->hold ? 1 : 2)) {
            why->step = KOS_SB_STEP_SYNC;
            why->err = errno;
            kill(child_pid, SIGKILL);
        } else if (s->hold) {
            l->release_fd = syncp[1];
            syncp[1] = -1;
        }
        close2(syncp);
        close(statp[1]);
        statp[1] = -1;
    }
    close(errpipe[1]);
    errpipe[1] = -1;
    l->pid = child_pid;
    l->errpipe = errpipe[0];
    l->status_fd = statp[0];
    l->failed = *why;
    return KOS_STATUS_OK;

out_close:
    close2(errpipe);
    close2(syncp);
    close2(statp);
    return st;
}

int kos__proc_release(struct kos__launch *l)
{
    int err = 0;

    if (l->release_fd < 0)
        return 0;
    if (write(l->release_fd, "r", 1) != 1)
        err = errno ? errno : EIO;
    close(l->release_fd);
    l->release_fd = -1;
    return err;
}

void kos__proc_abandon(struct kos__launch *l, bool reaped)
{
    if (!reaped && l->pid > 0)
        while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    if (l->errpipe >= 0)
        close(l->errpipe);
    if (l->status_fd >= 0)
        close(l->status_fd);
    if (l->release_fd >= 0)
        close(l->release_fd);
    *l = (struct kos__launch){.pid = -1, .errpipe = -1, .status_fd = -1, .release_fd = -1};
}

kos_status_t kos__proc_finish(struct kos__launch *l, pid_t *pid, int *status_fd,
                              struct kos__spawn_err *why)
{
    struct kos__spawn_err e;
    kos_status_t st = KOS_STATUS_IO;
    ssize_t r;

    *why = l->failed;
    *status_fd = -1;
    do
        r = read(l->errpipe, &e, sizeof(e));
    while (r < 0 && errno == EINTR);
    if (r == 0 && !why->err) {
        *pid = l->pid;
        *status_fd = l->status_fd;
        l->status_fd = -1;
        st = KOS_STATUS_OK;
        goto out_close;
    }
    if (!why->err) {
        if (r == (ssize_t)sizeof(e))
            *why = e;
        else
            why->err = EIO;
    }
    while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR)
        ;
out_close:
    close(l->errpipe);
    l->errpipe = -1;
    if (l->status_fd >= 0)
        close(l->status_fd);
    l->status_fd = -1;
    if (l->release_fd >= 0)
        close(l->release_fd);
    l->release_fd = -1;
    l->pid = -1;
    return st;
}
