/*
 * hostile.c - a test app that attacks the system it runs in, and the
 * well-behaved apps it runs beside, chosen by argv[1]:
 *
 *   serve [PROTO]    publish PROTO ("echo") on msg0; answer every call (label 99:
 *                    reply with its own pid as the param)
 *   ping             request "echo" and call it every 5 ms until stopped;
 *                    log every failure and, at the end, a summary
 *   attack           try every escape in the list below, log one line per
 *                    attempt: "attack NAME: contained: ..." or
 *                    "attack NAME: ESCAPED: ...", then a total
 *   region_write V   write V into region "buf", log it, wait for stop
 *   region_read      wait for region "buf" to hold non-zero, log it, try to
 *                    write it (mmap PROT_WRITE, write(), mprotect), wait
 *   resources        log every resource and fd it holds, wait for stop
 *   ticker MS        log "tick N" every MS ms, N = 1, 2, ..., until stopped;
 *                    then "ticker done: N ticks" (a well-behaved neighbour)
 *   console_forge    write lines that try to drive the terminal and forge
 *                    Core's lines (C1 in both encodings, ESC, CR, line and
 *                    paragraph separators, bidi controls, invalid UTF-8, a
 *                    C1 across the console's line bound), then "forge done:
 *                    N lines", wait for stop
 *   console_flood HOW
 *                    write the console as fast as it can, forever: HOW is
 *                    "lines" (short lines), "newlines" (nothing else),
 *                    "stubborn" (newlines, ignoring SIGTERM and Core's stop
 *                    message) or "orphan" (a child floods newlines, holding
 *                    the console, while this process exits)
 *
 * It uses libkos's internal headers (the channel layout and the message
 * server's wire format) to forge what a real hostile app could forge.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "boot_int.h"
#include "channel_int.h"
#include "msg_wire_int.h"
#include "outcome.h"

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int wait_for_stop(kos_app_t *app)
{
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, -1);
    }
    kos_log_info("stopping on request");
    return 0;
}

/* ---- the well-behaved pair ---- */

static int serve(kos_app_t *app, const char *proto)
{
    kos_dir_t *dir;
    kos_endpoint_t *ep;
    kos_status_t st;
    unsigned long bad = 0;

    if (kos_app_dir(app, "msg0", &dir) || kos_dir_publish(dir, proto, &ep)) {
        kos_log_error("cannot publish %s", proto);
        return 1;
    }
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
            if (m.label == 99)
                m.param = (uint64_t)getpid();
            if (kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &m))
                bad++;
            continue;
        }
        if (st != KOS_STATUS_WOULD_BLOCK && st != KOS_STATUS_TIMEOUT) {
            /* A hostile client's garbage is its own problem; keep serving. */
            if (++bad < 10)
                kos_log_warn("receive: %s", kos_status_str(st));
            continue;
        }
        poll(p, 2, -1);
        if (p[1].revents && kos_app_stopping(app))
            break;
    }
    kos_log_info("served; %lu bad requests or replies", bad);
    kos_endpoint_close(ep);
    return 0;
}

static int ping(kos_app_t *app)
{
    kos_dir_t *dir;
    kos_token_t *tok;
    unsigned long calls = 0, failures = 0;
    uint64_t max_us = 0;
    kos_status_t st;

    /* Stop on Core's stop message only, so the summary is always written. */
    signal(SIGTERM, SIG_IGN);
    if (kos_app_dir(app, "msg0", &dir)) {
        kos_log_error("no msg0");
        return 1;
    }
    for (int i = 0; (st = kos_dir_request(dir, "echo", 2000, &tok)) != KOS_STATUS_OK; i++) {
        if (i == 50) {
            kos_log_error("cannot get echo: %s", kos_status_str(st));
            return 1;
        }
        usleep(20000);
    }
    if (kos_app_ready(app))
        return 1;
    while (!kos_app_stopping(app)) {
        struct kos_msg req = {.label = 7, .param = calls, .payload = "ping", .len = 4}, rep;
        uint64_t t0 = now_us();
        st = kos_msg_call(tok, &req, &rep, 1000);
        uint64_t dt = now_us() - t0;
        calls++;
        if (dt > max_us)
            max_us = dt;
        if (st || rep.param != req.param) {
            /* At shutdown Core stops pong and us together: a call that finds
             * pong gone while our own stop request is on its way is not a
             * failure of isolation. */
            struct pollfd c = {.fd = kos_app_fd(app), .events = POLLIN};
            if (st == KOS_STATUS_UNAVAILABLE && poll(&c, 1, 500) > 0 && kos_app_stopping(app))
                break;
            failures++;
            kos_log_warn("call %lu failed: %s", calls, kos_status_str(st));
        }
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, 5);
    }
    kos_log_info("pinger done: %lu calls, %lu failures, slowest %llu us", calls, failures,
                 (unsigned long long)max_us);
    kos_token_close(tok);
    return 0;
}

/* ---- attacks ---- */

static void try_open(const char *name, const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd >= 0) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf));
        ssize_t shown = 0;
        close(fd);
        for (ssize_t i = 0; i < n; i++)
            shown += buf[i] != 0;
        /* Only a sanitizer build has a /proc (its own namespace's); reading
         * its init's blanked command line reveals nothing. */
        if (!(flags & (O_WRONLY | O_RDWR)) && n >= 0 && shown == 0)
            outcome(name, 1, "opened %s in my own namespace's /proc: %zd bytes, all blank", path,
                    n);
        else
            outcome(name, 0, "opened %s and read %zd bytes (%zd non-zero)", path, n, shown);
    } else {
        outcome(name, 1, "open(%s): %s", path, strerror(errno));
    }
}

static void attack_files(void)
{
    try_open("read_passwd", "/etc/passwd", O_RDONLY);
    try_open("host_proc_environ", "/proc/1/environ", O_RDONLY);
    try_open("proc_parent", "/proc/self/../1/cmdline", O_RDONLY);
    try_open("dev_shm", "/dev/shm", O_RDONLY | O_DIRECTORY);
    try_open("run_dir", "/run", O_RDONLY | O_DIRECTORY);
    try_open("write_own_binary", "/proc/self/exe", O_RDWR);
    try_open("create_file", "/kos-was-here", O_WRONLY | O_CREAT);
    try_open("write_library", "/lib64/ld-linux-x86-64.so.2", O_RDWR);
}

static void attack_sockets(void)
{
    struct {
        const char *name;
        int domain, type;
    } s[] = {{"tcp_socket", AF_INET, SOCK_STREAM},
             {"udp_socket", AF_INET6, SOCK_DGRAM},
             {"unix_socket", AF_UNIX, SOCK_STREAM},
             {"netlink_socket", AF_NETLINK, SOCK_RAW}};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        int fd = socket(s[i].domain, s[i].type | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            close(fd);
            outcome(s[i].name, 0, "socket() succeeded");
        } else {
            outcome(s[i].name, 1, "socket(): %s", strerror(errno));
        }
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
        close(sv[0]);
        close(sv[1]);
        outcome("socketpair", 0, "socketpair() succeeded");
    } else {
        outcome("socketpair", 1, "socketpair(): %s", strerror(errno));
    }
    /* Another app's channel by an abstract name or a path: needs a new
     * socket in the first place. Try connect() on a socket we do hold. */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, "\0kos-msg0", 9);
    int r = connect(KOS__CTL_FD + 1, (struct sockaddr *)&un, sizeof(sa_family_t) + 9);
    outcome("connect_abstract", r < 0, "connect(held socket, @kos-msg0): %s",
            r < 0 ? strerror(errno) : "succeeded");
}

static void attack_processes(kos_app_t *app)
{
    /* Every pid we can reach with kill(pid, 0) besides ourselves. */
    int reachable = 0, first = 0;
    pid_t self = getpid();
    for (pid_t pid = 1; pid < 70000; pid++) {
        if (pid == self)
            continue;
        if (kill(pid, 0) == 0) {
            if (!reachable++)
                first = pid;
        }
    }
    outcome("signal_scan", reachable == 0,
            "kill(pid, 0) for pids 1..69999 reached %d other "
            "processes%s%d (I am pid %d)",
            reachable, reachable ? ", first " : "", first, (int)self);
    int r = kill(1, SIGKILL);
    outcome("kill_init", r < 0, "kill(1, SIGKILL): %s", r < 0 ? strerror(errno) : "delivered");
    long pr = ptrace(PTRACE_ATTACH, 1, NULL, NULL);
    outcome("ptrace_init", pr < 0, "ptrace(ATTACH, 1): %s", pr < 0 ? strerror(errno) : "attached");
    pr = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    outcome("ptrace_traceme", pr < 0 || SANITIZED, "ptrace(TRACEME): %s%s",
            pr < 0 ? strerror(errno) : "allowed",
            pr < 0 ? "" : " (sanitizer build: LeakSanitizer may ptrace its own threads)");

    /* A sibling's pid, learnt through a message: it is a pid in the
     * sibling's namespace, which means nothing (or us) in ours. */
    kos_dir_t *dir;
    kos_token_t *tok;
    if (kos_app_dir(app, "msg0", &dir) == KOS_STATUS_OK &&
        kos_dir_request(dir, "echo", 2000, &tok) == KOS_STATUS_OK) {
        struct kos_msg req = {.label = 99}, rep;
        if (kos_msg_call(tok, &req, &rep, 2000) == KOS_STATUS_OK) {
            pid_t sib = (pid_t)rep.param;
            int k = sib == self ? -1 : kill(sib, SIGKILL);
            outcome("kill_sibling", sib == self || k < 0, "'echo' server says its pid is %d; %s",
                    (int)sib,
                    sib == self ? "in my PID namespace that pid is me"
                    : k < 0     ? strerror(errno)
                                : "SIGKILL delivered");
        } else {
            outcome("kill_sibling", 1, "could not ask the sibling its pid");
        }
        kos_token_close(tok);
    }
}

/* ---- executing anything after start ---- */

/* The loader: the one program besides our own binary that the root holds
 * and that would run if executed (libc runs too, and prints its banner);
 * libc's directory, should dladdr() not say where it is. */
#if defined(__x86_64__)
#define LOADER_DIR  "/lib64"
#define LOADER_NAME "ld-linux-x86-64.so.2"
#define LIBC_DIR    "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define LOADER_DIR  "/lib"
#define LOADER_NAME "ld-linux-aarch64.so.1"
#define LIBC_DIR    "aarch64-linux-gnu"
#else
#error "hostile.c: the loader's path for this architecture"
#endif
#define LOADER LOADER_DIR "/" LOADER_NAME

/* What an exec that worked runs shows on the console: the loader prints
 * "ESCAPED-exec: missing program name", libc its banner. */
static char *const exec_argv[] = {"ESCAPED-exec", NULL};
static char *const exec_envp[] = {NULL};

/* One execveat() attempt. */
struct exec_at {
    int fd;
    const char *path;
    int flags;
};

/* Each attempt returns only if its exec failed, with the errno it got. */
static int try_execve(const void *path)
{
    execve(path, exec_argv, exec_envp);
    return errno;
}

static int try_execveat(const void *arg)
{
    const struct exec_at *a = arg;
    syscall(SYS_execveat, (long)a->fd, a->path, exec_argv, exec_envp, (long)a->flags);
    return errno;
}

static int try_fexecve(const void *fd)
{
    fexecve(*(const int *)fd, exec_argv, exec_envp);
    return errno;
}

struct exec_thread {
    const struct exec_at *at;
    int err;
};

static void *exec_thread_main(void *arg)
{
    struct exec_thread *t = arg;
    t->err = try_execveat(t->at);
    return NULL;
}

/* The same execveat() from a second thread: a successful exec would end
 * the first one too. */
static int try_execveat_thread(const void *arg)
{
    struct exec_thread t = {.at = arg};
    pthread_t th;
    int err = pthread_create(&th, NULL, exec_thread_main, &t);
    if (err)
        return err;
    pthread_join(th, NULL);
    return t.err;
}

/* A filter of our own whose listener we hold, to answer our own exec with
 * CONTINUE in the exec gate's place (the kernel asks the newest filter's
 * listener first): a second thread makes the call, we answer it. */
static int try_own_listener(const void *arg)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]), .filter = insns};
    struct exec_thread t = {.at = arg};
    struct seccomp_notif n;
    pthread_t th;
    int fd =
        (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);

    if (fd < 0)
        return errno;
    if (pthread_create(&th, NULL, exec_thread_main, &t) != 0)
        return EAGAIN;
    memset(&n, 0, sizeof(n));
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &n) == 0) {
        struct seccomp_notif_resp r = {.id = n.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
        ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &r);
    }
    pthread_join(th, NULL);
    return t.err;
}

#if defined(__x86_64__)
/* The other system call entries of an x86-64 CPU: x32 numbers (the native
 * ABI's numbers with bit 30 set) and the i386 ABI through int 0x80. Both
 * take 32-bit pointers, so the strings and arrays live in the low 4 GiB. */
#define X32_SYSCALL_BIT 0x40000000L
#define X32_EXECVE      520L
#define X32_EXECVEAT    545L
#define I386_EXECVE     11L

struct low_args {
    char path[64];
    char arg0[16];
    uint32_t argv[2];
    uint32_t envp[1];
};

static int try_x32_execve(const void *arg)
{
    const struct low_args *l = arg;
    syscall(X32_SYSCALL_BIT | X32_EXECVE, l->path, l->argv, l->envp);
    return errno;
}

static int try_x32_execveat(const void *arg)
{
    const struct low_args *l = arg;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    syscall(X32_SYSCALL_BIT | X32_EXECVEAT, (long)rl.rlim_cur, l->path, l->argv, l->envp,
            (long)AT_EMPTY_PATH);
    return errno;
}

static int try_int80_execve(const void *arg)
{
    const struct low_args *l = arg;
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(I386_EXECVE), "b"(l->path), "c"(l->argv), "d"(l->envp)
                     : "memory", "cc", "r8", "r9", "r10", "r11");
    return ret < 0 ? (int)-ret : EINVAL;
}
#endif

/*
 * Runs one exec attempt in a child of its own, so that an exec that works
 * replaces only that child: the program it ran prints on the console and
 * the attack says ESCAPED, and the attacks go on. The child reports the
 * errno its attempt got on a close-on-exec pipe; no report means its exec
 * ran something, unless the child was killed by SIGSYS (a seccomp filter's
 * answer to a foreign system call ABI) or, for `refusal` when it is not 0,
 * by that signal (int 0x80 where the kernel offers no 32-bit entry).
 */
static void exec_attempt(const char *name, const char *what, int (*try)(const void *),
                         const void *arg, int refusal)
{
    int p[2], err = 0, status = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0) {
        outcome(name, 0, "%s: no pipe to report on: %s", what, strerror(errno));
        return;
    }
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        err = try(arg);
        n = write(p[1], &err, sizeof(err));
        _exit(n == (ssize_t)sizeof(err) ? 0 : 1);
    }
    close(p[1]);
    if (pid < 0) {
        outcome(name, 0, "%s: cannot fork to try: %s", what, strerror(errno));
        close(p[0]);
        return;
    }
    do
        n = read(p[0], &err, sizeof(err));
    while (n < 0 && errno == EINTR);
    close(p[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof(err))
        outcome(name, 1, "%s: %s", what, strerror(err));
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        outcome(name, 1, "%s: killed by SIGSYS (a foreign system call ABI)", what);
    else if (refusal && WIFSIGNALED(status) && WTERMSIG(status) == refusal)
        outcome(name, 1, "%s: killed by %s (no such entry on this host)", what, strsignal(refusal));
    else if (WIFSIGNALED(status))
        outcome(name, 0, "%s: no errno; killed by %s after its exec ran", what,
                strsignal(WTERMSIG(status)));
    else
        outcome(name, 0, "%s: no errno; exited with status %d after its exec ran", what,
                WEXITSTATUS(status));
}

/* Opens path for an attempt; an open that fails leaves nothing to execute,
 * which is said as the attempt's outcome. Returns the fd or -1. */
static int exec_open(const char *name, const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        outcome(name, 1, "open(%s): %s: nothing to execute", path, strerror(errno));
    return fd;
}

/* A new memfd holding a copy of the loader, or as much of it as the file
 * size limit lets through (the kernel refuses before it reads a byte, so a
 * partial copy tries the same); -1 after saying why not. *copied and *size
 * say how much. */
static int exec_copy_loader(const char *name, off_t *copied, off_t *size)
{
    int src = exec_open(name, LOADER, O_RDONLY), mfd;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    char buf[65536];
    struct stat st;
    ssize_t n = 0, w = 0;

    *copied = *size = 0;
    if (src < 0)
        return -1;
    if (fstat(src, &st) == 0)
        *size = st.st_size;
    mfd = memfd_create("copy", MFD_CLOEXEC);
    while (mfd >= 0 && w == n && (n = read(src, buf, sizeof(buf))) > 0) {
        w = write(mfd, buf, (size_t)n);
        if (w > 0)
            *copied += w;
    }
    signal(SIGXFSZ, was);
    if (mfd < 0 || n < 0 || *copied == 0) {
        outcome(name, 1, "copying the loader into a memfd: %s: nothing to execute",
                strerror(errno));
        if (mfd >= 0)
            close(mfd);
        mfd = -1;
    }
    close(src);
    return mfd;
}

/*
 * After start, nothing can be executed: not by path, not through any
 * descriptor (the number of the one the app was started from included,
 * which it can learn: it is its RLIMIT_NOFILE), not a copy in a new memfd,
 * not from another thread, not through another system call ABI.
 */
static void attack_exec(void)
{
    char *argv[] = {"sh", "-c", "echo escaped", NULL};
    char *envp[] = {NULL};
    char what[512], libc[256] = "/lib/" LIBC_DIR "/libc.so.6";
    struct rlimit rl;
    Dl_info dli;
    int r = execve("/bin/sh", argv, envp);
    outcome("execve_sh", 1, "execve(/bin/sh): %s", strerror(errno));
    (void)r;
    r = (int)syscall(SYS_execveat, AT_FDCWD, LOADER, argv, envp, 0);
    outcome("execveat_loader", r < 0, "execveat(loader): %s", strerror(errno));
    /* Re-executing through a descriptor: every number, with AT_EMPTY_PATH. */
    int ok = 0;
    for (int fd = 0; fd < 2048; fd++) {
        if (fcntl(fd, F_GETFD) < 0)
            continue;
        if (syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH) == 0)
            ok++;
    }
    outcome("reexec_fd", ok == 0, "execveat(fd, \"\", AT_EMPTY_PATH) on every open fd: %s",
            strerror(errno));
    /* A fresh executable memfd. */
    int mfd = memfd_create("x", MFD_CLOEXEC);
    if (mfd >= 0) {
        r = (int)syscall(SYS_execveat, mfd, "", argv, envp, AT_EMPTY_PATH);
        outcome("exec_new_memfd", r < 0, "execveat(new memfd): %s", strerror(errno));
        close(mfd);
    }

    /* The rest, each in a child of its own. The number of the descriptor
     * the app was started from is our RLIMIT_NOFILE. */
    getrlimit(RLIMIT_NOFILE, &rl);
    int L = (int)rl.rlim_cur;
    if (dladdr((void *)gnu_get_libc_version, &dli) && dli.dli_fname && dli.dli_fname[0] == '/')
        snprintf(libc, sizeof(libc), "%s", dli.dli_fname);
    exec_attempt("execve_loader", "execve(" LOADER ")", try_execve, LOADER, 0);
    /* The audit's attack: the allowed descriptor number and flag, with an
     * absolute path, for which the kernel ignores the descriptor. */
    struct exec_at at = {L, LOADER, AT_EMPTY_PATH};
    snprintf(what, sizeof(what), "execveat(%d, %s, AT_EMPTY_PATH)", L, LOADER);
    exec_attempt("execveat_max_files_abs", what, try_execveat, &at, 0);
    struct exec_at at_libc = {L, libc, AT_EMPTY_PATH};
    snprintf(what, sizeof(what), "execveat(%d, %s, AT_EMPTY_PATH)", L, libc);
    exec_attempt("execveat_max_files_libc", what, try_execveat, &at_libc, 0);
    struct exec_at at_empty = {L, "", AT_EMPTY_PATH};
    snprintf(what, sizeof(what), "execveat(%d, \"\", AT_EMPTY_PATH)", L);
    exec_attempt("execveat_max_files_empty", what, try_execveat, &at_empty, 0);
    snprintf(what, sizeof(what), "execveat(%d, %s, AT_EMPTY_PATH) from a second thread", L, LOADER);
    exec_attempt("exec_thread", what, try_execveat_thread, &at, 0);
    exec_attempt("exec_own_listener",
                 "seccomp(NEW_LISTENER) of my own, to answer my own execveat with CONTINUE",
                 try_own_listener, &at, 0);
    /* Relative to a directory, and through descriptors of programs. */
    int dfd = exec_open("execveat_opath_dir", LOADER_DIR, O_PATH | O_DIRECTORY);
    if (dfd >= 0) {
        struct exec_at rel = {dfd, LOADER_NAME, 0};
        exec_attempt("execveat_opath_dir", "execveat(O_PATH " LOADER_DIR ", " LOADER_NAME ")",
                     try_execveat, &rel, 0);
        close(dfd);
    }
    int pfd = exec_open("execveat_opath_file", LOADER, O_PATH);
    if (pfd >= 0) {
        struct exec_at opath = {pfd, "", AT_EMPTY_PATH};
        exec_attempt("execveat_opath_file", "execveat(O_PATH " LOADER ", \"\", AT_EMPTY_PATH)",
                     try_execveat, &opath, 0);
        close(pfd);
    }
    int lfd = exec_open("fexecve_loader", LOADER, O_RDONLY);
    if (lfd >= 0) {
        exec_attempt("fexecve_loader", "fexecve(" LOADER ")", try_fexecve, &lfd, 0);
        close(lfd);
    }
    int cfd = exec_open("fexecve_libc", libc, O_RDONLY);
    if (cfd >= 0) {
        snprintf(what, sizeof(what), "fexecve(%s)", libc);
        exec_attempt("fexecve_libc", what, try_fexecve, &cfd, 0);
        close(cfd);
    }
    /* A copy of a program in a new memfd: through the memfd, and by its
     * /proc path with the allowed number (only a sanitizer build has a
     * /proc to resolve it). */
    off_t copied, size;
    int copy = exec_copy_loader("exec_memfd_copy", &copied, &size);
    if (copy >= 0) {
        char copy_what[96], proc_path[64];
        snprintf(copy_what, sizeof(copy_what), "memfd copy of the loader, %lld of %lld bytes",
                 (long long)copied, (long long)size);
        struct exec_at m = {copy, "", AT_EMPTY_PATH};
        snprintf(what, sizeof(what), "execveat(%s, \"\", AT_EMPTY_PATH)", copy_what);
        exec_attempt("exec_memfd_copy", what, try_execveat, &m, 0);
        snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", copy);
        struct exec_at mp = {L, proc_path, AT_EMPTY_PATH};
        snprintf(what, sizeof(what), "execveat(%d, %s, AT_EMPTY_PATH) (the %s)", L, proc_path,
                 copy_what);
        exec_attempt("exec_memfd_proc_path", what, try_execveat, &mp, 0);
        close(copy);
    }
#if defined(__x86_64__)
    struct low_args *low = mmap(NULL, sizeof(*low), PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        outcome("exec_x32", 0, "no memory below 4 GiB to try from: %s", strerror(errno));
    } else {
        snprintf(low->path, sizeof(low->path), "%s", LOADER);
        snprintf(low->arg0, sizeof(low->arg0), "%s", exec_argv[0]);
        low->argv[0] = (uint32_t)(uintptr_t)low->arg0;
        low->argv[1] = 0;
        low->envp[0] = 0;
        exec_attempt("exec_x32", "x32 execve(" LOADER ")", try_x32_execve, low, 0);
        snprintf(what, sizeof(what), "x32 execveat(%d, %s, AT_EMPTY_PATH)", L, LOADER);
        exec_attempt("exec_x32_execveat", what, try_x32_execveat, low, 0);
        exec_attempt("exec_int80", "int 0x80 (i386) execve(" LOADER ")", try_int80_execve, low,
                     SIGSEGV);
        munmap(low, sizeof(*low));
    }
#endif
}

/* Kernel interfaces a sandboxed app has no business with. */
static void attack_kernel(void)
{
    int r;

    r = unshare(CLONE_NEWUSER);
    outcome("unshare_user", r < 0, "unshare(CLONE_NEWUSER): %s", strerror(errno));
    r = mount("none", "/", "tmpfs", 0, NULL);
    outcome("mount", r < 0, "mount(tmpfs, /): %s", strerror(errno));
    r = (int)syscall(SYS_bpf, 0, NULL, 0);
    outcome("bpf", r < 0, "bpf(): %s", strerror(errno));
    r = (int)syscall(SYS_keyctl, 0, 0, 0, 0, 0);
    outcome("keyctl", r < 0, "keyctl(): %s", strerror(errno));
    r = (int)syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
    outcome("perf_event_open", r < 0, "perf_event_open(): %s", strerror(errno));
    r = (int)syscall(SYS_io_uring_setup, 1, NULL);
    outcome("io_uring", r < 0, "io_uring_setup(): %s", strerror(errno));
    r = (int)syscall(SYS_setns, 0, 0);
    outcome("setns", r < 0, "setns(): %s", strerror(errno));
    r = (int)syscall(SYS_pivot_root, "/", "/");
    outcome("pivot_root", r < 0, "pivot_root(): %s", strerror(errno));
    /* Pinning memory is for the key store's secret keys alone. */
    static char page[4096] __attribute__((aligned(4096)));
    r = (int)syscall(SYS_mlock, page, sizeof(page)); /* ASan's mlock() does nothing */
    outcome("mlock", r < 0, "mlock(): %s", r < 0 ? strerror(errno) : "locked");
    void *m =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    outcome("mmap_locked", m == MAP_FAILED, "mmap(MAP_LOCKED): %s",
            m == MAP_FAILED ? strerror(errno) : "mapped");
}

static void attack_fork_bomb(void)
{
    pid_t kids[4096];
    int n = 0, err = 0;

    while (n < 4096) {
        pid_t p = fork();
        if (p < 0) {
            err = errno;
            break;
        }
        if (p == 0) {
            pause();
            _exit(0);
        }
        kids[n++] = p;
    }
    for (int i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
    for (int i = 0; i < n; i++)
        waitpid(kids[i], NULL, 0);
    outcome("fork_bomb", n < 4096, "%d forks, then %s", n, err ? strerror(err) : "stopped");
}

static void attack_memory(void)
{
    /* A write past RLIMIT_FSIZE raises SIGXFSZ; an attacker ignores it to
     * see the EFBIG. */
    signal(SIGXFSZ, SIG_IGN);
    if (SANITIZED) {
        outcome("memory", 1, "skipped: a sanitizer build has no memory limit (ASan's shadow)");
        return;
    }
    size_t mib = 0;
    void **chunks = calloc(4096, sizeof(void *));
    while (chunks && mib < 4096) {
        void *p = malloc(1u << 20);
        if (!p)
            break;
        memset(p, 0xa5, 1u << 20);
        chunks[mib++] = p;
    }
    for (size_t i = 0; i < mib; i++)
        free(chunks[i]);
    free(chunks);
    outcome("memory_malloc", mib < 4096, "malloc gave %zu MiB before failing", mib);

    int mfd = memfd_create("big", MFD_CLOEXEC);
    if (mfd >= 0) {
        size_t big = (size_t)1 << 30;
        void *p = MAP_FAILED;
        if (ftruncate(mfd, (off_t)big) == 0)
            p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
        outcome("memory_shared_memfd", p == MAP_FAILED, "1 GiB shared memfd mapping: %s",
                p == MAP_FAILED ? strerror(errno) : "mapped");
        if (p != MAP_FAILED)
            munmap(p, big);
        close(mfd);
    }
}

/* Fds we hold that are channel memfds: each must be one we were given. */
static void attack_guess_fds(void)
{
    int channels = 0, held = 0;
    for (int fd = 0; fd < 65536; fd++) {
        struct stat sb;
        if (fcntl(fd, F_GETFD) < 0 || fstat(fd, &sb) < 0)
            continue;
        held++;
        if (S_ISREG(sb.st_mode) && (size_t)sb.st_size == KOS__CHAN_SIZE)
            channels++;
    }
    outcome("guess_fds", channels == 0,
            "probed fds 0..65535: %d open, %d channel memfds among "
            "them (a client keeps none: it maps and closes its own)",
            held, channels);
    try_open("shm_path", "/dev/shm/kos-channel", O_RDWR);
}

/* Raw wire access to msg0: forged tokens, the scribbled channel, flooding. */
struct scribble {
    struct kos__chan_shm *shm;
    int ring;
    _Atomic int stop;
    unsigned long writes;
};

static void *scribbler(void *arg)
{
    struct scribble *s = arg;
    uint32_t x = 12345;
    while (!atomic_load(&s->stop)) {
        x = x * 1103515245u + 12345u;
        atomic_store(&s->shm->req.len, x);
        atomic_store(&s->shm->req.label, x >> 3);
        atomic_store(&s->shm->req.flags, x >> 7);
        atomic_store(&s->shm->req.cookie, x);
        atomic_store(&s->shm->req.seq, x >> 11);
        atomic_store(&s->shm->srv_sleeping, x & 1);
        atomic_store(&s->shm->note_head, x);
        atomic_store(&s->shm->down, x & 3 ? 0 : x);
        memset(s->shm->req.payload, (int)x, 64);
        kos__bell_ring(s->ring);
        s->writes++;
    }
    return NULL;
}

static kos_status_t raw_call(int sock, struct kos__mw *m, struct kos__mw *rep, int fds[4])
{
    kos_status_t st = kos__mw_send(sock, m, NULL, 0);
    if (st)
        return st;
    for (int i = 0; i < 200; i++) {
        st = kos__mw_recv(sock, rep, fds, 0);
        if (st)
            return st;
        if (rep->id == m->id)
            return KOS_STATUS_OK;
        for (size_t f = 0; f < kos__mw_nfds(rep->type, rep->status); f++)
            close(fds[f]);
    }
    return KOS_STATUS_PROTOCOL;
}

static void attack_messaging(kos_app_t *app)
{
    kos_dir_t *dir;
    kos_token_t *tok;
    kos_status_t st;

    if (kos_app_dir(app, "msg0", &dir)) {
        outcome("messaging", 0, "no msg0");
        return;
    }
    st = kos_dir_request(dir, "secret", 2000, &tok);
    outcome("undeclared_protocol", st != KOS_STATUS_OK, "request 'secret': %s", kos_status_str(st));
    if (!st)
        kos_token_close(tok);

    int sock = kos_dir_fd(dir);
    struct kos__mw m = {0}, rep;
    int fds[4];

    /* Redeem a made-up transfer cookie. */
    m = (struct kos__mw){.type = KOS__MW_REDEEM, .id = 90001, .cookie = 0x5eedf00dULL};
    st = raw_call(sock, &m, &rep, fds);
    outcome("forge_token_cookie", st || rep.status != KOS_STATUS_OK,
            "REDEEM of a made-up cookie: %s",
            st ? kos_status_str(st) : kos_status_str((kos_status_t)rep.status));
    if (!st && rep.status == KOS_STATUS_OK)
        for (size_t f = 0; f < kos__mw_nfds(rep.type, rep.status); f++)
            close(fds[f]);
    /* Close or revoke channels and endpoints that are not ours. */
    for (uint32_t ch = 0; ch < 64; ch++) {
        struct kos__mw c = {.type = KOS__MW_TOKEN_CLOSE, .channel = ch};
        (void)!kos__mw_send(sock, &c, NULL, MSG_DONTWAIT);
        c = (struct kos__mw){.type = KOS__MW_REVOKE, .endpoint = ch, .channel = ch};
        (void)!kos__mw_send(sock, &c, NULL, MSG_DONTWAIT);
    }
    outcome("forge_close_revoke", 1,
            "sent TOKEN_CLOSE and REVOKE for channels and endpoints "
            "0..63 (the pinger's calls show whether any took effect)");

    /* Our own channel to 'echo', obtained at the wire level so we hold its
     * memfd and doorbell: scribble on it while the server reads it. */
    m = (struct kos__mw){.type = KOS__MW_REQUEST, .id = 90002, .timeout_ms = 2000};
    snprintf(m.name, sizeof(m.name), "echo");
    st = raw_call(sock, &m, &rep, fds);
    if (st || rep.type != KOS__MW_REQUEST_REPLY || rep.status != KOS_STATUS_OK) {
        outcome("scribble_channel", 0, "could not get a raw channel: %s",
                kos_status_str(st ? st : (kos_status_t)rep.status));
    } else {
        struct scribble s = {.ring = fds[KOS__MW_FD_RING]};
        if (kos__chan_map(fds[KOS__MW_FD_SHM], rep.channel, &s.shm) == KOS_STATUS_OK) {
            pthread_t t;
            if (pthread_create(&t, NULL, scribbler, &s) == 0) {
                usleep(300000);
                atomic_store(&s.stop, 1);
                pthread_join(t, NULL);
                outcome("scribble_channel", 1,
                        "%lu scribbles over 300 ms on my own channel "
                        "while the server read it (the pinger shows whether it kept serving)",
                        s.writes);
            } else {
                outcome("scribble_channel", 0, "pthread_create failed");
            }
            kos__chan_unmap(s.shm);
        }
        for (int f = 0; f < 3; f++)
            close(fds[f]);
    }

    /* Hoard tokens: each one costs the server descriptors, so the message
     * server caps how many one app may hold on one endpoint (16). */
    {
        kos_token_t *hoard[64];
        unsigned got = 0;
        kos_status_t hst = KOS_STATUS_OK;
        while (got < 64) {
            hst = kos_dir_request(dir, "echo", 2000, &hoard[got]);
            if (hst)
                break;
            got++;
        }
        /* The raw channel above still counts: it was never closed. */
        outcome("hoard_tokens", hst == KOS_STATUS_NO_MEMORY && got <= 16,
                "got %u more 'echo' tokens, then %s", got, kos_status_str(hst));
        while (got)
            kos_token_close(hoard[--got]);
    }

    /* Flood the message server: many requests, replies never read. */
    unsigned long sent = 0, busy = 0;
    uint64_t t0 = now_us();
    while (now_us() - t0 < 1000000) {
        struct kos__mw f = {
            .type = KOS__MW_REQUEST, .id = 100000 + (uint32_t)sent, .timeout_ms = 0};
        snprintf(f.name, sizeof(f.name), sent % 2 ? "echo" : "secret");
        st = kos__mw_send(sock, &f, NULL, MSG_DONTWAIT);
        if (st == KOS_STATUS_BUSY) {
            busy++;
            usleep(100);
            continue;
        }
        if (st)
            break;
        sent++;
    }
    outcome("flood_msg_server", 1,
            "%lu requests in 1 s without reading a reply (%lu times the "
            "socket was full), last status %s",
            sent, busy, kos_status_str(st));
    /* Then garbage frames. */
    uint8_t junk[256];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37u);
    for (int i = 0; i < 100; i++)
        (void)!send(sock, junk, (size_t)(i % 200) + 1, MSG_DONTWAIT);
    outcome("malformed_frames", 1, "sent 100 malformed frames to msg0");
}

static int attack(kos_app_t *app)
{
    if (kos_app_ready(app))
        return 1;
    kos_log_info("attacks starting (pid %d, uid %d)", (int)getpid(), (int)getuid());
    attack_files();
    attack_sockets();
    attack_processes(app);
    attack_exec();
    attack_kernel();
    attack_fork_bomb();
    attack_memory();
    attack_guess_fds();
    attack_messaging(app);
    outcome_done();
    return wait_for_stop(app);
}

/* ---- devices and regions ---- */

static int region_write(kos_app_t *app, const char *value)
{
    void *addr;
    size_t size;
    kos_status_t st = kos_app_map_region(app, "buf", &addr, &size);
    if (st) {
        kos_log_error("map buf: %s", kos_status_str(st));
        return 1;
    }
    snprintf(addr, size, "%s", value);
    kos_log_info("wrote '%s' into region buf (%zu bytes)", value, size);
    if (kos_app_ready(app))
        return 1;
    return wait_for_stop(app);
}

static int region_read(kos_app_t *app)
{
    void *addr;
    size_t size;
    int fd;
    uint64_t sz;
    kos_status_t st = kos_app_map_region(app, "buf", &addr, &size);
    if (st || kos_app_resource(app, "buf", &fd, &sz)) {
        kos_log_error("map buf: %s", kos_status_str(st));
        return 1;
    }
    for (int i = 0; i < 500 && !((volatile char *)addr)[0]; i++)
        usleep(10000);
    kos_log_info("read '%.64s' from region buf", (const char *)addr);
    void *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    kos_log_info("mmap PROT_WRITE: %s", w == MAP_FAILED ? strerror(errno) : "mapped");
    ssize_t n = pwrite(fd, "x", 1, 0);
    kos_log_info("write(): %s", n < 0 ? strerror(errno) : "wrote");
    int r = mprotect(addr, size, PROT_READ | PROT_WRITE);
    kos_log_info("mprotect PROT_WRITE: %s", r < 0 ? strerror(errno) : "allowed");
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int rw = open(path, O_RDWR);
    kos_log_info("reopen read-write: %s", rw < 0 ? strerror(errno) : "opened");
    if (kos_app_ready(app))
        return 1;
    return wait_for_stop(app);
}

static int resources(kos_app_t *app)
{
    static const char *const names[] = {"buf", "zero", "sink"};
    for (size_t i = 0; i < 3; i++) {
        int fd;
        uint64_t size;
        kos_status_t st = kos_app_resource(app, names[i], &fd, &size);
        if (st) {
            kos_log_info("resource %s: %s", names[i], kos_status_str(st));
            continue;
        }
        struct stat sb;
        fstat(fd, &sb);
        int fl = fcntl(fd, F_GETFL);
        kos_log_info("resource %s: fd %d, %s, %s, size %llu", names[i], fd,
                     S_ISCHR(sb.st_mode) ? "character device" : "memory",
                     (fl & O_ACCMODE) == O_RDONLY   ? "read-only"
                     : (fl & O_ACCMODE) == O_WRONLY ? "write-only"
                                                    : "read-write",
                     (unsigned long long)size);
        if (!strcmp(names[i], "zero")) {
            char b[4] = {1, 1, 1, 1};
            ssize_t n = read(fd, b, sizeof(b));
            kos_log_info("read %zd bytes from zero: %d%d%d%d", n, b[0], b[1], b[2], b[3]);
        }
    }
    int n = 0;
    for (int fd = 0; fd < 65536; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    kos_log_info("holds %d fds", n);
    if (kos_app_ready(app))
        return 1;
    return wait_for_stop(app);
}

/* ---- what confinement is left on a host that forbids some layers ---- */

static int confined(kos_app_t *app)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int e = errno;
    int fd = open("/etc/passwd", O_RDONLY);
    int e2 = errno;

    if (s >= 0)
        close(s);
    if (fd >= 0)
        close(fd);
    kos_log_info("confined: pid %d uid %d socket %s open /etc/passwd %s", (int)getpid(),
                 (int)getuid(), s >= 0 ? "ALLOWED" : strerror(e),
                 fd >= 0 ? "ALLOWED" : strerror(e2));
    if (kos_app_ready(app))
        return 1;
    return 0;
}

/* ---- the console ---- */

static int ticker(kos_app_t *app, const char *ms_arg)
{
    int ms = atoi(ms_arg);
    unsigned n = 0;

    /* Stop on Core's stop message only, so the summary is always written. */
    signal(SIGTERM, SIG_IGN);
    if (kos_app_ready(app))
        return 1;
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        kos_log_info("tick %u", ++n);
        poll(&p, 1, ms > 0 ? ms : 50);
    }
    kos_log_info("ticker done: %u ticks", n);
    return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(0); /* the console is gone */
        p += w;
        n -= (size_t)w;
    }
}

static int console_forge(kos_app_t *app)
{
    /* (Strings are split where a hex escape is followed by a hex digit.) */
    static const char *const lines[] = {
        "raw CSI: \x9b"
        "2K\x9b"
        "1Gcore: self test passed: forged (8-bit CSI)\n",
        "utf-8 CSI: \xc2\x9b"
        "2K\xc2\x9b"
        "1Gcore: self test passed: forged (UTF-8 CSI)\n",
        "utf-8 OSC: \xc2\x9d"
        "0;pwned title\xc2\x9c and \xc2\x9d"
        "52;c;cHduZWQ=\x07\n",
        "NEL: before\xc2\x85"
        "2026-01-01T00:00:00.000000Z core: self test passed: forged (NEL)\n",
        "line separator: before\xe2\x80\xa8"
        "core: self test passed: forged (LS)\n",
        "paragraph separator: \xe2\x80\xa9 after\n",
        "bidi: \xe2\x80\xae"
        "dessap tset fles :eroc\xe2\x80\xac \xe2\x81\xa7x\xe2\x81\xa9 \xe2\x80\x8f \xd8\x9c\n",
        "invalid: \xff\xfe \xc0\xaf \xe0\x82\x9b \xed\xa0\x80 \xf4\x90\x80\x80 \x80\x9b cut "
        "\xe2\x80\n",
        "ESC: \x1b[2K\x1b[1G\x1b]0;pwned\x07 core: self test passed: forged (ESC)\n",
        "CR: \rcore: self test passed: forged (CR)\n",
        "\r2026-01-01T00:00:00.000000Z core: self test passed: forged (CR at start)\n",
    };
    static char longline[2047 + 5];
    size_t n = sizeof(lines) / sizeof(lines[0]);

    for (size_t i = 0; i < n; i++)
        write_all(1, lines[i], strlen(lines[i]));
    /* A UTF-8 CSI across the console's 2048-byte line bound. */
    memset(longline, 'a', 2047);
    memcpy(longline + 2047,
           "\xc2\x9b"
           "2J\n",
           5);
    write_all(1, longline, sizeof(longline));
    kos_log_info("forge done: %zu lines", n + 1);
    if (kos_app_ready(app))
        return 1;
    return wait_for_stop(app);
}

static int console_flood(kos_app_t *app, const char *how)
{
    static char buf[65536];
    size_t len = sizeof(buf);

    if (!strcmp(how, "stubborn"))
        signal(SIGTERM, SIG_IGN);
    if (!strcmp(how, "lines")) {
        static const char line[] = "flood\n";
        len = sizeof(buf) / (sizeof(line) - 1) * (sizeof(line) - 1);
        for (size_t i = 0; i < len; i += sizeof(line) - 1)
            memcpy(buf + i, line, sizeof(line) - 1);
    } else {
        memset(buf, '\n', sizeof(buf));
    }
    if (kos_app_ready(app))
        return 1;
    kos_log_info("flooding (%s)", how);
    if (!strcmp(how, "orphan")) {
        /* The parent ends only once the child's flood has begun, so the
         * pipe is full when Core takes the parent's last lines. (Run with
         * --isolation none: pipe() and fork() are not sandboxed away.) */
        int sync[2];
        char c = 0;
        if (pipe(sync) < 0) {
            kos_log_error("pipe: %s", strerror(errno));
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            kos_log_error("fork: %s", strerror(errno));
            return 1;
        }
        if (pid > 0) {
            close(sync[1]);
            if (read(sync[0], &c, 1) != 1)
                kos_log_error("the child did not start flooding");
            kos_log_info("left child %d flooding", (int)pid);
            return 0;
        }
        close(sync[0]);
        write_all(1, buf, len);
        if (write(sync[1], &c, 1) != 1)
            _exit(1);
        close(sync[1]);
    }
    for (;;)
        write_all(1, buf, len);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    kos_app_t *app;
    int rc = 2;

    if (kos_app_open(&app)) {
        fprintf(stderr, "hostile: kos_app_open failed\n");
        return 1;
    }
    if (!strcmp(mode, "serve"))
        rc = serve(app, argc > 2 ? argv[2] : "echo");
    else if (!strcmp(mode, "ping"))
        rc = ping(app);
    else if (!strcmp(mode, "attack"))
        rc = attack(app);
    else if (!strcmp(mode, "region_write") && argc > 2)
        rc = region_write(app, argv[2]);
    else if (!strcmp(mode, "region_read"))
        rc = region_read(app);
    else if (!strcmp(mode, "resources"))
        rc = resources(app);
    else if (!strcmp(mode, "confined"))
        rc = confined(app);
    else if (!strcmp(mode, "ticker") && argc > 2)
        rc = ticker(app, argv[2]);
    else if (!strcmp(mode, "console_forge"))
        rc = console_forge(app);
    else if (!strcmp(mode, "console_flood") && argc > 2)
        rc = console_flood(app, argv[2]);
    else
        kos_log_error("unknown mode '%s'", mode);
    kos_app_close(app);
    return rc;
}
