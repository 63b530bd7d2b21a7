/*
 * hog.c - a test app that tries to hold more of the host than its manifest
 * entry grants, and to learn about its neighbours from host-wide counters,
 * chosen by argv[1]:
 *
 *   one_process       an app of one process (the default): fork, vfork,
 *                     clone and a thread must all be refused
 *   processes N MIB   an app with limits: {processes: N}: fork children
 *                     that each touch MIB MiB until refused; the count
 *                     must stay below N
 *   shared_memory MIB an app with memory: below MIB MiB: map MIB MiB of
 *                     shared anonymous memory and touch every page. Shared
 *                     pages are not RLIMIT_DATA's, and RLIMIT_AS lets them
 *                     through within its allowance: only a cgroup's
 *                     memory.max bounds them, on a device, where the
 *                     kernel's OOM killer ends the app in its own cgroup
 *                     before the last page (tests/device/test_cgroup.sh).
 *                     Touching them all is an escape.
 *   kernel_memory     pipes grown with F_SETPIPE_SZ, a memfd grown past
 *                     RLIMIT_FSIZE, many memfds: each refused or bounded
 *   host_counters     sysinfo(), statfs(), fstatfs(), sched_setaffinity():
 *                     refused
 *   modes             in /data: setuid, setgid and world-writable modes by
 *                     every call that sets a mode, refused; ordinary modes
 *                     allowed; links refused
 *
 * Each attempt is one "attack NAME: contained|ESCAPED: ..." line
 * (outcome.h), then a total; the app then waits to be stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kos/app.h>
#include <kos/log.h>

#include "outcome.h"

static void *idle_thread(void *arg)
{
    (void)arg;
    return NULL;
}

static void one_process(void)
{
    if (SANITIZED) {
        /* LeakSanitizer clones a tracer at exit, so a sanitized binary may. */
        outcome("one_process", 1, "skipped: a sanitizer build may fork");
        return;
    }
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    int e = errno;
    if (p > 0)
        waitpid(p, NULL, 0);
    outcome("fork", p < 0, "fork(): %s", p < 0 ? strerror(e) : "a child ran");

#ifdef SYS_vfork /* not on aarch64, where the device tests build hog too */
    p = (pid_t)syscall(SYS_vfork);
    if (p == 0)
        _exit(0);
    e = errno;
    if (p > 0)
        waitpid(p, NULL, 0);
    outcome("vfork", p < 0, "vfork(): %s", p < 0 ? strerror(e) : "a child ran");
#endif

    /* clone() as fork() does it, without a new stack. */
    p = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, 0);
    if (p == 0)
        _exit(0);
    e = errno;
    if (p > 0)
        waitpid(p, NULL, 0);
    outcome("clone", p < 0, "clone(SIGCHLD): %s", p < 0 ? strerror(e) : "a child ran");

    pthread_t t;
    int r = pthread_create(&t, NULL, idle_thread, NULL);
    if (r == 0)
        pthread_join(t, NULL);
    outcome("thread", r != 0, "pthread_create(): %s", r ? strerror(r) : "a thread ran");
}

/* Forks children that each touch `mib` MiB and wait; counts how many ran. */
static void many_processes(int limit, int mib)
{
    pid_t kids[64];
    int n = 0, err = 0;
    int p2c[2];

    if (pipe(p2c) < 0) {
        outcome("processes", 0, "pipe(): %s", strerror(errno));
        return;
    }
    while (n < 64) {
        pid_t p = fork();
        if (p < 0) {
            err = errno;
            break;
        }
        if (p == 0) {
            close(p2c[1]);
            size_t len = (size_t)mib << 20;
            char *m = malloc(len);
            if (m)
                memset(m, 0x5a, len);
            char c;
            (void)!read(p2c[0], &c, 1); /* end of file: the parent is done */
            _exit(m ? 0 : 1);
        }
        kids[n++] = p;
    }
    close(p2c[1]);
    int touched = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0)
            touched++;
    }
    close(p2c[0]);
    /* The app itself is one of its `limit` processes. */
    outcome("processes", n <= limit - 1 + SANITIZED,
            "%d children (%d touched %d MiB each), then %s", n, touched, mib,
            err ? strerror(err) : "stopped");
}

static void shared_memory(int mib)
{
    size_t len = (size_t)mib << 20;
    char *m;

    kos_log_info("touching %d MiB of shared memory", mib);
    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        outcome("shared_memory", 1, "mmap(%d MiB, MAP_SHARED): %s", mib, strerror(errno));
        return;
    }
    for (size_t off = 0; off < len; off += 4096)
        m[off] = 1;
    outcome("shared_memory", 0, "touched all %d MiB", mib);
    munmap(m, len);
}

static void kernel_memory(void)
{
    /* A write past RLIMIT_FSIZE raises SIGXFSZ; see the EFBIG instead. */
    signal(SIGXFSZ, SIG_IGN);

    int fds[2], grown = 0, pipes = 0;
    int last = 0;
    if (pipe(fds) == 0) {
        int r = fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
        last = r < 0 ? errno : 0;
        grown += r >= 0;
        int back =
            fcntl(fds[1], F_SETPIPE_SZ, 4096) >= 0 && fcntl(fds[1], F_SETPIPE_SZ, 65536) >= 0;
        outcome("pipe_shrink_and_back", back, "F_SETPIPE_SZ 4096, then 65536: %s",
                back ? "allowed" : strerror(errno));
        close(fds[0]);
        close(fds[1]);
    }
    /* The argument's upper bits are not a way past the bound. */
    if (pipe(fds) == 0) {
        /* (On a 32-bit architecture there are none: the plain 1 MiB.) */
        long r = syscall(SYS_fcntl, fds[1], F_SETPIPE_SZ, (unsigned long)(1ull << 32 | 1ull << 20));
        grown += r >= 0;
        close(fds[0]);
        close(fds[1]);
    }
    /* As many pipes as the files limit allows, each grown if it can be and
     * filled: what they hold is kernel memory that memory: does not count
     * on sim. */
    static int pipe_fds[20000][2];
    static char chunk[1 << 16];
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    long long held = 0;
    while (pipes < 20000 && pipe2(pipe_fds[pipes], O_NONBLOCK | O_CLOEXEC) == 0) {
        grown += fcntl(pipe_fds[pipes][1], F_SETPIPE_SZ, 1 << 20) >= 0;
        ssize_t w;
        while ((w = write(pipe_fds[pipes][1], chunk, sizeof(chunk))) > 0)
            held += w;
        pipes++;
    }
    outcome("pipe_grow", grown == 0, "%d pipes; %d grown to 1 MiB (%s)", pipes, grown,
            last ? strerror(last) : "allowed");
    /* The bound docs/sandbox.md states: files / 2 pipes of 64 KiB. */
    outcome("pipe_memory", held <= (long long)(nofile.rlim_cur / 2) * 65536,
            "%d pipes hold %lld KiB (files %llu: at most %llu KiB)", pipes, held >> 10,
            (unsigned long long)nofile.rlim_cur, (unsigned long long)(nofile.rlim_cur / 2) * 64);
    for (int i = 0; i < pipes; i++) {
        close(pipe_fds[i][0]);
        close(pipe_fds[i][1]);
    }

    int mfd = memfd_create("hog", MFD_CLOEXEC);
    if (mfd >= 0) {
        int r = ftruncate(mfd, 512 << 20);
        int e = errno;
        static char page[1 << 16];
        ssize_t total = 0, w;
        memset(page, 1, sizeof(page));
        while (total < (512 << 20) && (w = pwrite(mfd, page, sizeof(page), total)) > 0)
            total += w;
        outcome("memfd_big", r < 0 && total < (512 << 20),
                "ftruncate(512 MiB): %s; wrote %zd bytes before %s", r < 0 ? strerror(e) : "done",
                total, strerror(errno));
        close(mfd);
    }
    struct rlimit fsz;
    getrlimit(RLIMIT_FSIZE, &fsz);
    outcome("fsize", fsz.rlim_cur != RLIM_INFINITY, "RLIMIT_FSIZE is %llu bytes",
            (unsigned long long)fsz.rlim_cur);
    /* As many memfds as the files limit allows, each written to its end:
     * pages that are never mapped, which RLIMIT_AS does not see. */
    long long in_memfds = 0;
    int memfds = 0;
    for (;;) {
        int m = memfd_create("hog", MFD_CLOEXEC);
        if (m < 0)
            break;
        memfds++;
        ssize_t w;
        off_t off = 0;
        while ((w = pwrite(m, chunk, sizeof(chunk), off)) > 0)
            off += w;
        in_memfds += off;
    }
    outcome("memfd_memory",
            fsz.rlim_cur != RLIM_INFINITY &&
                in_memfds <= (long long)nofile.rlim_cur * (long long)fsz.rlim_cur,
            "%d memfds hold %lld KiB (files %llu x RLIMIT_FSIZE: at most %llu KiB)", memfds,
            in_memfds >> 10, (unsigned long long)nofile.rlim_cur,
            (unsigned long long)(nofile.rlim_cur * fsz.rlim_cur) >> 10);
}

static void host_counters(void)
{
    struct sysinfo si;
    int r = sysinfo(&si);
    outcome("sysinfo", r < 0, "sysinfo(): %s", r < 0 ? strerror(errno) : "answered");
    struct statfs sf;
    r = statfs("/", &sf);
    outcome("statfs", r < 0, "statfs(/): %s", r < 0 ? strerror(errno) : "answered");
    r = fstatfs(0, &sf);
    outcome("fstatfs", r < 0, "fstatfs(0): %s", r < 0 ? strerror(errno) : "answered");
    /* Placing itself on a CPU of its choice (beside another app) is what
     * makes CPU contention a channel (bench/sidechan). */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    r = sched_setaffinity(0, sizeof(one), &one);
    outcome("sched_setaffinity", r < 0, "sched_setaffinity(CPU 0): %s",
            r < 0 ? strerror(errno) : "pinned");
}

/* One attempt at a mode: `bad` says whether it must be refused. */
static void mode_try(const char *name, int r, int bad)
{
    int e = errno;
    if (bad)
        outcome(name, r < 0, "%s", r < 0 ? strerror(e) : "allowed");
    else
        outcome(name, r >= 0, "%s", r >= 0 ? "allowed" : strerror(e));
}

static void modes(void)
{
    umask(0);
    int fd = open("/data/plain", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    mode_try("create_0644", fd, 0);
    if (fd >= 0)
        close(fd);
    mode_try("create_setuid", open("/data/suid", O_WRONLY | O_CREAT | O_CLOEXEC, 04755), 1);
    mode_try("create_world_writable",
             openat(AT_FDCWD, "/data/ww", O_WRONLY | O_CREAT | O_CLOEXEC, 0666), 1);
#ifdef SYS_creat /* not on aarch64 */
    mode_try("creat_setgid", (int)syscall(SYS_creat, "/data/sgid", 02755), 1);
#endif
    mode_try("tmpfile_setuid", open("/data", O_TMPFILE | O_WRONLY | O_CLOEXEC, 04700), 1);
    mode_try("mkdir_world_writable", mkdir("/data/wwdir", 0777), 1);
    mode_try("mkdirat_setgid", mkdirat(AT_FDCWD, "/data/sgdir", 02755), 1);
    mode_try("mkdir_0755", mkdir("/data/dir", 0755), 0);
    fd = open("/data/plain", O_RDONLY | O_CLOEXEC);
    mode_try("fchmod_setuid", fchmod(fd, 04755), 1);
    mode_try("fchmod_setuid_high_bits", (int)syscall(SYS_fchmod, fd, 0x10000u | 04755), 1);
    mode_try("fchmod_world_writable", fchmod(fd, 0666), 1);
    mode_try("fchmod_0600", fchmod(fd, 0600), 0);
    if (fd >= 0)
        close(fd);
    mode_try("chmod_setgid", chmod("/data/plain", 02755), 1);
    mode_try("chmod_0640", chmod("/data/plain", 0640), 0);
    mode_try("fchmodat_setuid", fchmodat(AT_FDCWD, "/data/plain", 04755, 0), 1);
    mode_try("fchmodat_0644", fchmodat(AT_FDCWD, "/data/plain", 0644, 0), 0);
    mode_try("symlink", symlink("/etc/shadow", "/data/link"), 1);
    mode_try("hard_link", link("/data/plain", "/data/plain2"), 1);
    mode_try("mknod_fifo", mknod("/data/fifo", S_IFIFO | 0600, 0), 1);
    struct stat sb;
    int r = stat("/data/plain", &sb);
    outcome("mode_kept", r == 0 && (sb.st_mode & 07777) == 0644, "/data/plain has mode %o",
            r == 0 ? sb.st_mode & 07777 : 0);
}

static int wait_for_stop(kos_app_t *app)
{
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, -1);
    }
    return 0;
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    kos_status_t st = kos_app_open(&app);

    if (st) {
        fprintf(stderr, "hog: %s\n", kos_status_str(st));
        return 1;
    }
    if (argc < 2) {
        kos_log_error("usage: hog MODE");
        return 2;
    }
    if (!strcmp(argv[1], "one_process"))
        one_process();
    else if (!strcmp(argv[1], "processes") && argc == 4)
        many_processes(atoi(argv[2]), atoi(argv[3]));
    else if (!strcmp(argv[1], "shared_memory") && argc == 3)
        shared_memory(atoi(argv[2]));
    else if (!strcmp(argv[1], "kernel_memory"))
        kernel_memory();
    else if (!strcmp(argv[1], "host_counters"))
        host_counters();
    else if (!strcmp(argv[1], "modes"))
        modes();
    else {
        kos_log_error("unknown mode %s", argv[1]);
        return 2;
    }
    outcome_done();
    if (kos_app_ready(app))
        return 1;
    return wait_for_stop(app);
}
