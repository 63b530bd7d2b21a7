/*
 * test_sandbox.c - the exec gate (sandbox.h): a process under it executes
 * exactly once, Core's execveat of fd max_files with AT_EMPTY_PATH made
 * before anything of its image ran; every later exec, of any kind and from
 * any of its processes, fails with EPERM; a first exec that is not that one
 * is refused and closes the gate; without the init's listener every exec
 * fails (ENOSYS).
 *
 * Each case plays Core: it forks an init that prepares the gate (as
 * child_init() in proc.c does), forks the app and runs kos_sandbox_init()
 * with its own filter. The app re-executes this binary from fd MAX_FILES
 * with "--again", which then tries to execute again in every way and exits
 * with AGAIN_OK plus the number of tries that did not fail with EPERM (an
 * exec that worked would run /bin/true instead: status 0). No case needs a
 * namespace, and none waits for a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

/* The binary's descriptor number, as RLIMIT_NOFILE would be. */
#define MAX_FILES 200

/* A program any host has, for the tries to run if they could. */
#define OTHER "/bin/true"

/* The exit status of "--again" when every try was refused, and of its child
 * when its try was. */
#define AGAIN_OK 64

static char *const other_argv[] = {"true", NULL};
static char *const no_env[] = {NULL};

static long exec_at(int fd, const char *path, int flags)
{
    return syscall(SYS_execveat, (long)fd, path, other_argv, no_env, (long)flags);
}

static void *exec_from_thread(void *arg)
{
    (void)arg;
    exec_at(MAX_FILES, OTHER, AT_EMPTY_PATH);
    return (void *)(intptr_t)errno;
}

/* Counts a try that did not fail with EPERM, and says which. */
static int check(const char *what, int err)
{
    if (err == EPERM)
        return 0;
    fprintf(stderr, "test_sandbox --again: %s: %s, expected EPERM\n", what, strerror(err));
    return 1;
}

/* The re-executed app: every way to execute again, each of which returns
 * only if refused. Returns AGAIN_OK plus the number not refused with
 * EPERM. */
static int again(void)
{
    int bad = 0, fd = open(OTHER, O_RDONLY | O_CLOEXEC);
    pthread_t t;
    void *res;
    pid_t pid;

    execve(OTHER, other_argv, no_env);
    bad += check("execve", errno);
    exec_at(AT_FDCWD, OTHER, 0);
    bad += check("execveat(AT_FDCWD)", errno);
    /* The registers of the one exec, with a path the kernel prefers. */
    exec_at(MAX_FILES, OTHER, AT_EMPTY_PATH);
    bad += check("execveat(MAX_FILES, absolute path, AT_EMPTY_PATH)", errno);
    exec_at(MAX_FILES, "", AT_EMPTY_PATH);
    bad += check("execveat(MAX_FILES, \"\", AT_EMPTY_PATH)", errno);
    if (fd >= 0 && dup2(fd, MAX_FILES) == MAX_FILES) {
        exec_at(MAX_FILES, "", AT_EMPTY_PATH);
        bad += check("execveat(a program at MAX_FILES)", errno);
    }
    if (pthread_create(&t, NULL, exec_from_thread, NULL) == 0 && pthread_join(t, &res) == 0)
        bad += check("from a second thread", (int)(intptr_t)res);
    else
        bad++;
    pid = fork();
    if (pid == 0) {
        exec_at(MAX_FILES, OTHER, AT_EMPTY_PATH);
        _exit(AGAIN_OK + check("from a child process", errno));
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != AGAIN_OK)
        bad++;
    return AGAIN_OK + bad;
}

/* How the app's first exec is made. */
enum first_exec {
    FIRST_CORE,  /* Core's: execveat(MAX_FILES, "", AT_EMPTY_PATH) of this binary */
    FIRST_OTHER, /* execve of another program, then Core's */
};

struct gate_case {
    struct kos_sandbox sb;
    struct kos_sandbox_prog gate, init;
    bool have_gate; /* the host has it (the probe says); otherwise skip */
};

static int setup(void **state)
{
    struct gate_case *g = calloc(1, sizeof(*g));
    struct kos_sandbox_host h;

    assert_non_null(g);
    *state = g;
    kos_sandbox_probe(&h);
    if (!(h.layers & KOS_SB_EXEC_GATE)) {
        print_message("no exec gate on this host: %s\n", h.why);
        return 0;
    }
    g->have_gate = true;
    assert_int_equal(kos_sandbox_gate_prog(&g->gate), 0);
    assert_int_equal(kos_sandbox_init_prog(&g->init), 0);
    g->sb.name = "gate";
    g->sb.max_files = MAX_FILES;
    g->sb.gate_prog = &g->gate;
    g->sb.init_prog = &g->init;
    return 0;
}

static int teardown(void **state)
{
    struct gate_case *g = *state;

    kos_sandbox_prog_fini(&g->gate);
    kos_sandbox_prog_fini(&g->init);
    free(g);
    return 0;
}

/* The app: its first exec, then, if that fails, Core's (as child_fail()
 * would report it: exit 100 + errno). */
__attribute__((noreturn)) static void app(enum first_exec first, int self)
{
    char *argv[] = {"test_sandbox", "--again", NULL};
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup3(self, MAX_FILES, O_CLOEXEC) != MAX_FILES)
        _exit(99);
    if (first == FIRST_OTHER) {
        execve(OTHER, other_argv, no_env);
        if (errno != EPERM)
            _exit(98);
    }
    syscall(SYS_execveat, (long)MAX_FILES, "", argv, no_env, (long)AT_EMPTY_PATH);
    _exit(100 + errno);
}

/* Runs an init and its app as Core would; returns the app's wait status,
 * which the init reports. */
static int run(struct gate_case *g, enum first_exec first)
{
    int st[2], status = -1, self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    pid_t init;

    if (!g->have_gate)
        skip();
    assert_true(self >= 0);
    assert_int_equal(pipe2(st, O_CLOEXEC), 0);
    init = fork();
    assert_true(init >= 0);
    if (init == 0) {
        struct kos_sandbox_waits w;
        int err;
        close(st[0]);
        if (kos_sandbox_init_prepare(&g->sb, &w, &err) != 0)
            _exit(1);
        pid_t a = fork();
        if (a < 0)
            _exit(2);
        if (a == 0) {
            close(w.gate_fd);
            close(w.signal_fd);
            app(first, self);
        }
        close(self);
        kos_sandbox_init(&g->sb, a, st[1], &w);
    }
    close(self);
    close(st[1]);
    assert_int_equal(read(st[0], &status, sizeof(status)), sizeof(status));
    close(st[0]);
    int init_status;
    assert_int_equal(waitpid(init, &init_status, 0), init);
    assert_int_equal(init_status, 0); /* exited with 0: its filter allowed all it did */
    return status;
}

/* Core's exec runs; nothing after it does. */
static void test_one_exec(void **state)
{
    int status = run(*state, FIRST_CORE);

    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), AGAIN_OK);
}

/* A first exec that is not Core's is refused and closes the gate: Core's
 * then fails too, before anything ran. */
static void test_first_other_closes(void **state)
{
    int status = run(*state, FIRST_OTHER);

    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 100 + EPERM);
}

/* Without the init's listener, the gate fails closed: ENOSYS. */
static void test_no_listener_fails_closed(void **state)
{
    struct gate_case *g = *state;
    int p[2], err = 0;
    pid_t pid;

    if (!g->have_gate)
        skip();
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct kos_sandbox_waits w;
        int e;
        close(p[0]);
        if (kos_sandbox_init_prepare(&g->sb, &w, &e) != 0)
            _exit(1);
        close(w.gate_fd);
        execve(OTHER, other_argv, no_env);
        e = errno;
        _exit(write(p[1], &e, sizeof(e)) == (ssize_t)sizeof(e) ? 0 : 1);
    }
    close(p[1]);
    assert_int_equal(read(p[0], &err, sizeof(err)), sizeof(err));
    close(p[0]);
    assert_int_equal(err, ENOSYS);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_exec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_other_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_listener_fails_closed, setup, teardown),
    };

    if (argc > 1 && !strcmp(argv[1], "--again"))
        return again();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
