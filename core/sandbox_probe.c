/*
 * sandbox_probe.c - what the host's kernel lets Core build (sandbox.h,
 * kos_sandbox_probe*): each namespace, seccomp with the exec gate, and
 * Landlock's ABI, each tried in a child that reports back.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/i2c-dev.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <grp.h>
#include <linux/audit.h>
#include <poll.h>
#include <unistd.h>

#include <cap-ng.h>

#include "sandbox.h"
#include "sandbox_int.h"

/* ---- probing the host ---- */

static void why_add(struct kos_sandbox_host *h, const char *what, int err)
{
    size_t used = strlen(h->why);
    snprintf(h->why + used, sizeof(h->why) - used, "%s%s (%s)", used ? "; " : "", what,
             strerror(err));
}

/* What a probe child found: an errno for each thing it tried, 0 when it
 * worked. */
struct probe_result {
    int ns;
    int seccomp;
    int gate;
};

/* Starts a short-lived child running try(arg, &result), so nothing it
 * changes touches Core; it reports the result on a pipe. */
static void child_start(struct kos_sandbox_probe *pr,
                        void (*try)(const void *arg, struct probe_result *r), const void *arg)
{
    int p[2];

    pr->pid = -1;
    pr->fd = -1;
    pr->err = 0;
    if (pipe2(p, O_CLOEXEC) < 0) {
        pr->err = errno;
        return;
    }
    pr->pid = fork();
    if (pr->pid < 0) {
        pr->err = errno;
        close(p[0]);
        close(p[1]);
        return;
    }
    if (pr->pid == 0) {
        struct probe_result r = {0, 0, 0};
        try(arg, &r);
        if (write(p[1], &r, sizeof(r)) < 0)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    pr->fd = p[0];
}

/* Waits for the child child_start() started and returns what it found
 * (both fields the reason when it could not run or report). */
static struct probe_result child_finish(struct kos_sandbox_probe *pr)
{
    struct probe_result r = {pr->err, pr->err, pr->err};

    if (pr->fd >= 0) {
        ssize_t n;
        do
            n = read(pr->fd, &r, sizeof(r));
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t)sizeof(r))
            r.ns = r.seccomp = r.gate = EIO;
        close(pr->fd);
    }
    if (pr->pid > 0)
        while (waitpid(pr->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    pr->pid = -1;
    pr->fd = -1;
    return r;
}

static struct probe_result in_child(void (*try)(const void *arg, struct probe_result *r),
                                    const void *arg)
{
    struct kos_sandbox_probe pr;

    child_start(&pr, try, arg);
    return child_finish(&pr);
}

struct unshare_try {
    int flags;
    bool with_user;
};

/* unshare(flags); as an unprivileged user, the other namespaces need a user
 * namespace first. */
static void try_unshare(const void *arg, struct probe_result *r)
{
    const struct unshare_try *t = arg;

    if (t->with_user && unshare(CLONE_NEWUSER) < 0)
        r->ns = errno;
    else if (unshare(t->flags) < 0)
        r->ns = errno;
    /* A mount namespace is only useful if we may mount in it. */
    else if ((t->flags & CLONE_NEWNS) &&
             (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
              mount("kos", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=4k") < 0))
        r->ns = errno;
}

/* Sets up the exec gate as each init will, and lets one exec through as the
 * init does: a child's execveat() on a descriptor that is not open (INT_MAX,
 * standing for max_files) waits for the listener, which answers CONTINUE
 * (Linux >= 5.5), and the kernel then runs it: EBADF. A host may refuse the
 * listener (a container runtime that already holds one in the chain makes
 * the kernel answer EBUSY). The child reports its errno on a pipe whose end
 * of file also says that it died before its call. Returns 0 or an errno. */
static int try_gate(void)
{
    struct kos_sandbox_prog prog;
    int gate = -1, p[2] = {-1, -1}, got = 0, err;
    bool open = true;
    pid_t pid;

    err = kos_sandbox_gate_prog(&prog);
    if (err)
        return err;
    err = kos__sandbox_load_filter(&prog, SECCOMP_FILTER_FLAG_NEW_LISTENER, &gate);
    kos_sandbox_prog_fini(&prog);
    if (err)
        return err;
    if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        err = errno;
        goto out_close;
    }
    if (pid == 0) {
        close(gate);
        syscall(SYS_execveat, (long)INT_MAX, "", NULL, NULL, (long)AT_EMPTY_PATH);
        got = errno;
        _exit(write(p[1], &got, sizeof(got)) == (ssize_t)sizeof(got) ? 0 : 1);
    }
    close(p[1]);
    p[1] = -1;
    for (;;) {
        struct pollfd fds[2] = {{.fd = gate, .events = POLLIN}, {.fd = p[0], .events = POLLIN}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR) {
            err = errno;
            break;
        }
        if (fds[0].revents & POLLIN) {
            err = kos__sandbox_gate_answer(gate, pid, INT_MAX, &open);
            break;
        }
        if (fds[1].revents) {
            err = EIO; /* it ended before its call came */
            break;
        }
    }
    /* Without a listener, a call still waiting fails (ENOSYS). */
    close(gate);
    gate = -1;
    if (read(p[0], &got, sizeof(got)) != (ssize_t)sizeof(got))
        got = EIO;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (!err && got != EBADF)
        err = got ? got : EIO;
out_close:
    if (gate >= 0)
        close(gate);
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0)
            close(p[i]);
    return err;
}

/* Loads a seccomp filter, as every start will, and the exec gate. A host (a
 * container runtime, say) may refuse filters even where the kernel has
 * them. */
static void try_seccomp(const void *arg, struct probe_result *r)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc;
    (void)arg;

    r->gate = ENOSYS;
    if (!ctx) {
        r->seccomp = ENOMEM;
        return;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        r->seccomp = errno;
        return;
    }
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ptrace), 0) < 0) {
        r->seccomp = EINVAL;
        return;
    }
    rc = seccomp_load(ctx);
    /* libseccomp reports the kernel's refusal as -ECANCELED. */
    if (rc < 0)
        r->seccomp = rc == -ECANCELED ? EPERM : -rc;
    else
        r->gate = try_gate();
}

/* Every namespace the sandbox uses, as a start asks for them. */
static int all_ns_flags(void)
{
    int flags = 0;
    for (size_t i = 0; i < KOS__SANDBOX_N_NS; i++)
        flags |= kos__sandbox_ns_table[i].flag;
    return flags;
}

/* The common case, in one child: a seccomp filter and the exec gate, then
 * every namespace at once, the way each sandbox takes them, mounting in the
 * new mount namespace. The filters come first so that the gate's child is
 * an ordinary one, not the init of a new PID namespace, which costs more to
 * make and to tear down. */
static void try_all(const void *arg, struct probe_result *r)
{
    struct unshare_try all = {.flags = all_ns_flags()};
    (void)arg;

    try_seccomp(NULL, r);
    try_unshare(&all, r);
}

/* Learns, one namespace at a time, which the host refuses and why. Only run
 * when the combined probe failed: it costs a short-lived child per kind. */
static void probe_each_namespace(struct kos_sandbox_host *h)
{
    int err = in_child(try_unshare, &(struct unshare_try){.flags = CLONE_NEWUSER}).ns;
    if (err == 0)
        h->layers |= KOS_SB_NS_USER;
    else
        why_add(h, "no user namespace", err);
    bool with_user = !h->privileged && (h->layers & KOS_SB_NS_USER);
    for (size_t i = 0; i < KOS__SANDBOX_N_NS; i++) {
        char what[64];
        if (kos__sandbox_ns_table[i].flag == CLONE_NEWUSER)
            continue;
        err = in_child(try_unshare, &(struct unshare_try){.flags = kos__sandbox_ns_table[i].flag,
                                                          .with_user = with_user})
                  .ns;
        if (err == 0) {
            h->layers |= kos__sandbox_ns_table[i].layer;
        } else {
            snprintf(what, sizeof(what), "no %s namespace", kos__sandbox_ns_table[i].name);
            why_add(h, what, err);
        }
    }
}

void kos_sandbox_probe_start(struct kos_sandbox_probe *pr)
{
    child_start(pr, try_all, NULL);
}

void kos_sandbox_probe_cancel(struct kos_sandbox_probe *pr)
{
    if (pr->pid > 0 || pr->fd >= 0)
        (void)child_finish(pr);
}

void kos_sandbox_probe(struct kos_sandbox_host *h)
{
    struct kos_sandbox_probe pr;

    kos_sandbox_probe_start(&pr);
    kos_sandbox_probe_finish(&pr, h);
}

void kos_sandbox_probe_finish(struct kos_sandbox_probe *pr, struct kos_sandbox_host *h)
{
    struct probe_result all = child_finish(pr);

    memset(h, 0, sizeof(*h));
    h->uid = getuid();
    h->gid = getgid();
    h->limits = KOS_SANDBOX_LIMITS_RLIMITS;
    capng_get_caps_process();
    h->privileged = geteuid() == 0 && capng_have_capability(CAPNG_EFFECTIVE, CAP_SETUID) &&
                    capng_have_capability(CAPNG_EFFECTIVE, CAP_SETGID);

    /* Only if the combined try failed is each kind tried alone, to say which
     * the host refuses (and the filter in a child of its own). */
    if (all.ns == 0) {
        for (size_t i = 0; i < KOS__SANDBOX_N_NS; i++)
            h->layers |= kos__sandbox_ns_table[i].layer;
    } else {
        probe_each_namespace(h);
    }
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 || seccomp_api_get() < 1) {
        why_add(h, "no seccomp filters", errno ? errno : ENOSYS);
    } else {
        struct probe_result sc = all.ns == 0 ? all : in_child(try_seccomp, NULL);
        /* The exec gate is part of seccomp: named only where filters work. */
        if (sc.seccomp)
            why_add(h, "no seccomp filters", sc.seccomp);
        else
            h->layers |= KOS_SB_SECCOMP;
        if (!sc.seccomp && !sc.gate)
            h->layers |= KOS_SB_EXEC_GATE;
        else if (!sc.seccomp)
            why_add(h, "no seccomp user notification for the exec gate", sc.gate);
    }
    int abi = ll_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi > 0) {
        h->layers |= KOS_SB_LANDLOCK;
        h->landlock_abi = abi;
    } else {
        why_add(h, "no landlock", errno);
    }
}

void kos_sandbox_describe(uint32_t layers, int landlock_abi, char *buf, size_t len)
{
    size_t used = 0;
    bool first = true;

    buf[0] = '\0';
    for (size_t i = 0; i < KOS__SANDBOX_N_NS; i++) {
        if (!(layers & kos__sandbox_ns_table[i].layer))
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", first ? "namespaces " : ",",
                                 kos__sandbox_ns_table[i].name);
        first = false;
        if (used >= len)
            return;
    }
    if (first)
        used += (size_t)snprintf(buf + used, len - used, "no namespaces");
    if (used < len)
        used += (size_t)snprintf(buf + used, len - used, "; %s",
                                 !(layers & KOS_SB_SECCOMP)  ? "no seccomp"
                                 : layers & KOS_SB_EXEC_GATE ? "seccomp"
                                                             : "seccomp without exec gate");
    if (used < len) {
        if (layers & KOS_SB_LANDLOCK)
            snprintf(buf + used, len - used, "; landlock ABI %d", landlock_abi);
        else
            snprintf(buf + used, len - used, "; no landlock");
    }
}
