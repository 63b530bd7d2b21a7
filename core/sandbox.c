/*
 * sandbox.c - building the sandbox of one app or message server (sandbox.h).
 *
 * Layers, in the order they are put in place:
 *   1. namespaces: user and PID created at clone(), then mount, network,
 *      IPC and UTS by the new process itself, first thing (unshare(), in the
 *      new user namespace, which owns them as it would had they been made at
 *      clone()); Core writes the user namespace's maps: the app's uid 1000
 *      inside is its own host uid when Core is privileged, Core's uid
 *      otherwise;
 *   2. the root: a tmpfs holding only the ELF interpreter and the shared
 *      libraries the binary needs, each bind-mounted read-only, nosuid and
 *      nodev; /data bound read-write when granted; /proc only for sanitizer
 *      runtimes; then pivot_root and the tmpfs remounted read-only;
 *   3. in the init, before the app exists: the exec gate, a filter that
 *      sends execve and execveat to a listener the init holds;
 *   4. in the app: rlimits, Landlock, securebits and no capabilities,
 *      no_new_privs, then the seccomp allow-list, then execveat(). Core
 *      compiles each distinct allow-list once at boot (kos_sandbox_app_prog),
 *      and the gate's; the app and the init only load them.
 *
 * The seccomp filter's default action is EPERM (see docs/sandbox.md): a
 * denied call fails like any other refused call, so hostile attempts are
 * observable and glibc's fallbacks stay sane; clone3 answers ENOSYS so that
 * glibc falls back to clone(), whose namespace flags the filter can see.
 *
 * The one exec. A BPF filter sees a path only as a pointer into memory the
 * app controls, and cannot tell Core's execveat before the image runs from
 * the app's later ones, so the allow-list alone cannot hold "only the
 * verified binary": it lets execveat() through only on fd `max_files` with
 * AT_EMPTY_PATH (the RLIMIT_NOFILE value, a number no later open, dup or
 * received fd can take), but with an absolute path the kernel ignores the
 * descriptor. The exec gate decides instead: the kernel applies the most
 * restrictive action of all filters (the allow-list's EPERM wins over the
 * gate's notification, its ALLOW does not), so every exec the allow-list
 * lets through waits for the init's answer. The init lets through the first
 * one from the app, which is Core's own execveat (nothing else of the app
 * runs before it), and answers every later one EPERM for the app's whole
 * life. Its listener is the only one the kernel allows in the chain, so the
 * app cannot add a filter that answers in its place; if the init is gone
 * the kernel fails the call (ENOSYS). Other system call ABIs (x32 numbers,
 * i386 through int 0x80) meet libseccomp's bad-architecture action in both
 * filters: the calling thread is killed.
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

#define NS_FLAGS                                                                                   \
    (CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |     \
     CLONE_NEWCGROUP)

static const struct {
    uint32_t layer;
    int flag;
    const char *name;
} ns_table[] = {
    {KOS_SB_NS_MNT, CLONE_NEWNS, "mnt"},  {KOS_SB_NS_PID, CLONE_NEWPID, "pid"},
    {KOS_SB_NS_IPC, CLONE_NEWIPC, "ipc"}, {KOS_SB_NS_UTS, CLONE_NEWUTS, "uts"},
    {KOS_SB_NS_NET, CLONE_NEWNET, "net"}, {KOS_SB_NS_USER, CLONE_NEWUSER, "user"},
};

const char *kos_sandbox_step_name(int step)
{
    static const char *const names[] = {
        [KOS_SB_STEP_NONE] = "none",         [KOS_SB_STEP_SYNC] = "user and group ids",
        [KOS_SB_STEP_HOSTNAME] = "hostname", [KOS_SB_STEP_MOUNT] = "building the root",
        [KOS_SB_STEP_PIVOT] = "pivot_root",  [KOS_SB_STEP_RLIMIT] = "resource limits",
        [KOS_SB_STEP_LANDLOCK] = "landlock", [KOS_SB_STEP_CAPS] = "dropping capabilities",
        [KOS_SB_STEP_NNP] = "no_new_privs",  [KOS_SB_STEP_SECCOMP] = "seccomp",
        [KOS_SB_STEP_FDS] = "descriptors",   [KOS_SB_STEP_FORK] = "forking the app",
        [KOS_SB_STEP_EXEC] = "exec",         [KOS_SB_STEP_NAMESPACES] = "namespaces",
        [KOS_SB_STEP_GATE] = "exec gate",
    };
    if (step < 0 || (size_t)step >= sizeof(names) / sizeof(names[0]) || !names[step])
        return "unknown step";
    return names[step];
}

/* ---- Landlock system calls (no libc wrappers) ---- */

/* The build host's <linux/landlock.h> may predate ABI 3-6; these are the
 * kernel's stable values. */
#define LL_ACCESS_FS_TRUNCATE         (1ULL << 14)
#define LL_ACCESS_FS_IOCTL_DEV        (1ULL << 15)
#define LL_ACCESS_NET_BIND_TCP        (1ULL << 0)
#define LL_ACCESS_NET_CONNECT_TCP     (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL               (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; older kernels take a prefix. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

static int ll_create_ruleset(const struct ll_ruleset_attr *attr, size_t size, uint32_t flags)
{
    return (int)syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

static int ll_add_rule(int fd, enum landlock_rule_type type, const void *attr)
{
    return (int)syscall(SYS_landlock_add_rule, fd, type, attr, 0);
}

static int ll_restrict_self(int fd)
{
    return (int)syscall(SYS_landlock_restrict_self, fd, 0);
}

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

static int load_filter(const struct kos_sandbox_prog *prog, unsigned flags, int *listener);
static int gate_answer(int gate, pid_t app, uint32_t max_files, bool *open);

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
    err = load_filter(&prog, SECCOMP_FILTER_FLAG_NEW_LISTENER, &gate);
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
            err = gate_answer(gate, pid, INT_MAX, &open);
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
    for (size_t i = 0; i < sizeof(ns_table) / sizeof(ns_table[0]); i++)
        flags |= ns_table[i].flag;
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
    for (size_t i = 0; i < sizeof(ns_table) / sizeof(ns_table[0]); i++) {
        char what[64];
        if (ns_table[i].flag == CLONE_NEWUSER)
            continue;
        err = in_child(try_unshare,
                       &(struct unshare_try){.flags = ns_table[i].flag, .with_user = with_user})
                  .ns;
        if (err == 0) {
            h->layers |= ns_table[i].layer;
        } else {
            snprintf(what, sizeof(what), "no %s namespace", ns_table[i].name);
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
        for (size_t i = 0; i < sizeof(ns_table) / sizeof(ns_table[0]); i++)
            h->layers |= ns_table[i].layer;
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
    for (size_t i = 0; i < sizeof(ns_table) / sizeof(ns_table[0]); i++) {
        if (!(layers & ns_table[i].layer))
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", first ? "namespaces " : ",",
                                 ns_table[i].name);
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

/* ---- what a binary needs in its root ---- */

#define ELF_MAX_NEEDED 64
#define ELF_MAX_FILES  128

struct elf_deps {
    char interp[PATH_MAX];
    char *needed[ELF_MAX_NEEDED];
    size_t n_needed;
    char runpath[PATH_MAX];
};

static bool pread_all(int fd, void *buf, size_t len, off_t off)
{
    ssize_t r = pread(fd, buf, len, off);
    return r == (ssize_t)len;
}

/* Reads a NUL-terminated string at file offset off. */
static bool pread_str(int fd, off_t off, char *out, size_t cap)
{
    ssize_t r = pread(fd, out, cap - 1, off);
    if (r <= 0)
        return false;
    out[r] = '\0';
    return strlen(out) < (size_t)r || (size_t)r < cap - 1;
}

/* Reads the interpreter, DT_NEEDED and DT_RUNPATH of an ELF64 file. A file
 * without PT_DYNAMIC (static) gives no dependencies. */
static kos_status_t elf_read(int fd, struct elf_deps *d, char *err, size_t errlen)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph[64];
    Elf64_Off dyn_off = 0;
    Elf64_Xword dyn_size = 0;
    uint64_t strtab = 0, runpath = UINT64_MAX, needed[ELF_MAX_NEEDED];
    size_t n_needed = 0;

    memset(d, 0, sizeof(*d));
    if (!pread_all(fd, &eh, sizeof(eh), 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phnum > 64 || !pread_all(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff)) {
        snprintf(err, errlen, "not a 64-bit ELF file");
        return KOS_STATUS_PROTOCOL;
    }
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type == PT_INTERP) {
            if (ph[i].p_filesz == 0 || ph[i].p_filesz >= sizeof(d->interp) ||
                !pread_all(fd, d->interp, ph[i].p_filesz, (off_t)ph[i].p_offset) ||
                d->interp[ph[i].p_filesz - 1] != '\0' || d->interp[0] != '/') {
                snprintf(err, errlen, "bad PT_INTERP");
                return KOS_STATUS_PROTOCOL;
            }
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn_off = ph[i].p_offset;
            dyn_size = ph[i].p_filesz;
        }
    }
    if (!dyn_size)
        return KOS_STATUS_OK;
    /* The dynamic section, a batch of entries per read, up to DT_NULL. */
    Elf64_Dyn dyn[64];
    bool end = false;
    for (Elf64_Xword o = 0; !end && o + sizeof(Elf64_Dyn) <= dyn_size && o < (1u << 20);) {
        Elf64_Xword left = (dyn_size - o) / sizeof(Elf64_Dyn);
        size_t want = left < 64 ? (size_t)left : 64;
        ssize_t got = pread(fd, dyn, want * sizeof(Elf64_Dyn), (off_t)(dyn_off + o));
        size_t k = got > 0 ? (size_t)got / sizeof(Elf64_Dyn) : 0;
        if (k == 0)
            break;
        for (size_t j = 0; j < k && !end; j++) {
            const Elf64_Dyn *dy = &dyn[j];
            if (dy->d_tag == DT_NULL)
                end = true;
            else if (dy->d_tag == DT_NEEDED && n_needed < ELF_MAX_NEEDED)
                needed[n_needed++] = dy->d_un.d_val;
            else if (dy->d_tag == DT_STRTAB)
                strtab = dy->d_un.d_ptr;
            else if (dy->d_tag == DT_RUNPATH || (dy->d_tag == DT_RPATH && runpath == UINT64_MAX))
                runpath = dy->d_un.d_val;
        }
        o += k * sizeof(Elf64_Dyn);
    }
    /* DT_STRTAB is an address: find the file offset through PT_LOAD. */
    off_t stroff = -1;
    for (int i = 0; i < eh.e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr &&
            strtab < ph[i].p_vaddr + ph[i].p_filesz)
            stroff = (off_t)(strtab - ph[i].p_vaddr + ph[i].p_offset);
    if (n_needed && stroff < 0) {
        snprintf(err, errlen, "no string table for DT_NEEDED");
        return KOS_STATUS_PROTOCOL;
    }
    for (size_t i = 0; i < n_needed; i++) {
        char name[NAME_MAX + 1];
        if (!pread_str(fd, stroff + (off_t)needed[i], name, sizeof(name)) || !name[0]) {
            snprintf(err, errlen, "bad DT_NEEDED entry");
            goto out_free;
        }
        d->needed[d->n_needed] = strdup(name);
        if (!d->needed[d->n_needed]) {
            snprintf(err, errlen, "out of memory");
            goto out_free;
        }
        d->n_needed++;
    }
    if (runpath != UINT64_MAX &&
        !pread_str(fd, stroff + (off_t)runpath, d->runpath, sizeof(d->runpath)))
        d->runpath[0] = '\0';
    return KOS_STATUS_OK;

out_free:
    for (size_t i = 0; i < d->n_needed; i++)
        free(d->needed[i]);
    d->n_needed = 0;
    return KOS_STATUS_PROTOCOL;
}

static void elf_free(struct elf_deps *d)
{
    for (size_t i = 0; i < d->n_needed; i++)
        free(d->needed[i]);
    d->n_needed = 0;
}

#if defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#else
#define MULTIARCH "unknown-linux-gnu"
#endif

/* The loader's default directories when it has no cache (Debian's glibc). */
static const char *const default_dirs[] = {
    "/lib/" MULTIARCH, "/usr/lib/" MULTIARCH, "/lib", "/usr/lib", "/lib64", "/usr/lib64",
};

struct file_list {
    char **v;
    size_t n;
};

static bool list_has(const struct file_list *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], path))
            return true;
    return false;
}

/* Finds library `name` as the loader would: DT_RUNPATH (absolute entries),
 * then the default directories; the first existing file wins. */
static bool find_lib(const char *name, const char *runpath, char *out, size_t cap)
{
    char rp[PATH_MAX];
    char *save = NULL;

    if (strchr(name, '/')) {
        snprintf(out, cap, "%s", name);
        return name[0] == '/' && access(out, R_OK) == 0;
    }
    snprintf(rp, sizeof(rp), "%s", runpath);
    for (char *dir = strtok_r(rp, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (dir[0] != '/')
            continue; /* $ORIGIN and relative entries cannot be resolved for a memfd */
        if ((size_t)snprintf(out, cap, "%s/%s", dir, name) < cap && access(out, R_OK) == 0)
            return true;
    }
    for (size_t i = 0; i < sizeof(default_dirs) / sizeof(default_dirs[0]); i++)
        if ((size_t)snprintf(out, cap, "%s/%s", default_dirs[i], name) < cap &&
            access(out, R_OK) == 0)
            return true;
    return false;
}

static kos_status_t add_deps(int fd, struct file_list *l, bool *sanitizer, int depth, char *err,
                             size_t errlen)
{
    struct elf_deps d;
    kos_status_t st = elf_read(fd, &d, err, errlen);

    if (st)
        return st;
    if (depth > 16) {
        elf_free(&d);
        return KOS_STATUS_OK;
    }
    if (d.interp[0] && !list_has(l, d.interp)) {
        if (l->n >= ELF_MAX_FILES || access(d.interp, R_OK) < 0) {
            snprintf(err, errlen, "interpreter %s: %s", d.interp,
                     l->n >= ELF_MAX_FILES ? "too many files" : strerror(errno));
            st = KOS_STATUS_NOT_FOUND;
            goto out;
        }
        l->v[l->n++] = strdup(d.interp);
    }
    for (size_t i = 0; i < d.n_needed; i++) {
        char path[PATH_MAX];
        if (!find_lib(d.needed[i], d.runpath, path, sizeof(path))) {
            snprintf(err, errlen, "library %s not found", d.needed[i]);
            st = KOS_STATUS_NOT_FOUND;
            goto out;
        }
        if (!strncmp(d.needed[i], "libasan.", 8) || !strncmp(d.needed[i], "libubsan.", 9) ||
            !strncmp(d.needed[i], "libtsan.", 8) || !strncmp(d.needed[i], "liblsan.", 8))
            *sanitizer = true;
        if (list_has(l, path))
            continue;
        if (l->n >= ELF_MAX_FILES) {
            snprintf(err, errlen, "more than %d libraries", ELF_MAX_FILES);
            st = KOS_STATUS_TOO_LARGE;
            goto out;
        }
        l->v[l->n] = strdup(path);
        if (!l->v[l->n]) {
            st = KOS_STATUS_NO_MEMORY;
            goto out;
        }
        l->n++;
        int lfd = open(path, O_RDONLY | O_CLOEXEC);
        if (lfd < 0) {
            snprintf(err, errlen, "library %s: %s", path, strerror(errno));
            st = KOS_STATUS_IO;
            goto out;
        }
        st = add_deps(lfd, l, sanitizer, depth + 1, err, errlen);
        close(lfd);
        if (st)
            goto out;
    }
out:
    elf_free(&d);
    return st;
}

kos_status_t kos_sandbox_root_files(int fd, char ***files, size_t *n, bool *sanitizer, char *err,
                                    size_t errlen)
{
    struct file_list l = {.v = calloc(ELF_MAX_FILES + 1, sizeof(char *))};
    kos_status_t st;

    if (!l.v)
        return KOS_STATUS_NO_MEMORY;
    *sanitizer = false;
    st = add_deps(fd, &l, sanitizer, 0, err, errlen);
    if (st) {
        kos_sandbox_files_free(l.v);
        return st;
    }
    *files = l.v;
    *n = l.n;
    return KOS_STATUS_OK;
}

void kos_sandbox_files_free(char **files)
{
    for (size_t i = 0; files && files[i]; i++)
        free(files[i]);
    free(files);
}

/* ---- namespaces and ids ---- */

/* The namespaces created at clone(): the user namespace (Core writes its
 * maps) and the PID namespace (the child must be its PID 1). The others are
 * the child's to create, with kos_sandbox_unshare(). */
#define CLONE_NS (CLONE_NEWUSER | CLONE_NEWPID)

/* The namespace flags of sb's layers. */
static int ns_flags(const struct kos_sandbox *sb)
{
    int flags = 0;
    for (size_t i = 0; i < sizeof(ns_table) / sizeof(ns_table[0]); i++)
        if (sb->layers & ns_table[i].layer)
            flags |= ns_table[i].flag;
    if (sb->net_host)
        flags &= ~CLONE_NEWNET; /* network: host keeps the host's network */
    return flags;
}

pid_t kos_sandbox_clone(const struct kos_sandbox *sb)
{
    int flags = ns_flags(sb) & CLONE_NS;
    /* Like fork(): a NULL stack means the child continues on a copy of ours.
     * Core is single-threaded, so no lock can be held in the child. */
    return (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, 0);
}

int kos_sandbox_unshare(const struct kos_sandbox *sb)
{
    int flags = ns_flags(sb) & ~CLONE_NS;
    /* In the new user namespace when there is one, which then owns these as
     * it would had they been made at clone(). */
    if (flags && unshare(flags) < 0)
        return errno;
    return 0;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int err = 0;

    if (fd < 0)
        return errno;
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        err = errno ? errno : EIO;
    close(fd);
    return err;
}

int kos_sandbox_map_ids(const struct kos_sandbox *sb, pid_t pid)
{
    char path[64], map[64];
    int err;

    if (!(sb->layers & KOS_SB_NS_USER))
        return 0;
    /* An unprivileged writer must deny setgroups() first; a privileged one
     * leaves it to the child, which drops every supplementary group. */
    snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
    if (!sb->privileged && (err = write_file(path, "deny")) != 0)
        return err;
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", KOS_SANDBOX_APP_UID, (unsigned)sb->host_uid);
    if ((err = write_file(path, map)) != 0)
        return err;
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", KOS_SANDBOX_APP_UID, (unsigned)sb->host_gid);
    return write_file(path, map);
}

/* ---- the root ---- */

/* Creates every directory of `path` (absolute), relative to the current
 * directory, which is the new root. */
static int mkdirs(const char *path)
{
    char buf[PATH_MAX];

    if ((size_t)snprintf(buf, sizeof(buf), ".%s", path) >= sizeof(buf))
        return ENAMETOOLONG;
    for (char *s = buf + 2; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return errno;
        *s = '/';
    }
    return 0;
}

/* Binds what `src` (an O_PATH fd) names at `dst` (relative to the new root),
 * then remounts it with `flags`. Going through the fd means no host
 * directory on the way has to be searchable by the app's uid. */
static int bind_fd(int src, const char *dst, unsigned long flags)
{
    char from[64];

    snprintf(from, sizeof(from), "/proc/self/fd/%d", src);
    if (mount(from, dst, NULL, MS_BIND, NULL) < 0)
        return errno;
    if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
        return errno;
    return 0;
}

/* Mounts the app's data at "data" (relative to the new root), nosuid,
 * nodev and noexec: its own file system, a detached mount Core cloned for
 * this start, is moved there; or the host directory open at `dir` (an
 * O_PATH fd) is bound there. */
static int attach_data(const struct kos_sandbox *sb, int dir)
{
    const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

    if (sb->data_mnt < 0)
        return bind_fd(dir, "data", flags);
    if (move_mount(sb->data_mnt, "", AT_FDCWD, "data", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return errno;
    if (mount(NULL, "data", NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
        return errno;
    return 0;
}

/* Closes fd if it is one; returns 0, or errno if fd is -1. */
static int fd_close_errno(int fd)
{
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* True if the process must change its ids: inside its own user namespace,
 * or, without one, when a privileged Core can give it a host uid of its own
 * (an app must never run as Core's root). */
static bool must_become_app(const struct kos_sandbox *sb)
{
    return (sb->layers & KOS_SB_NS_USER) || sb->privileged;
}

static int become_app(const struct kos_sandbox *sb)
{
    bool ns = sb->layers & KOS_SB_NS_USER;
    uid_t uid = ns ? KOS_SANDBOX_APP_UID : sb->host_uid;
    gid_t gid = ns ? KOS_SANDBOX_APP_UID : sb->host_gid;

    /* Become the app's uid; keep the capabilities (the namespace's, or
     * Core's without one) until kos_sandbox_enter() drops them. */
    if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0 ||
        (sb->privileged && setgroups(0, NULL) < 0) || setresgid(gid, gid, gid) < 0 ||
        setresuid(uid, uid, uid) < 0)
        return errno;
    return 0;
}

int kos_sandbox_build_root(const struct kos_sandbox *sb, int *err)
{
    int src[ELF_MAX_FILES + 1];
    int data = -1, step = 0;
    size_t n = 0;

    *err = 0;
    if (sb->layers & KOS_SB_NS_UTS) {
        if (sethostname(sb->name, strlen(sb->name)) < 0) {
            *err = errno;
            return KOS_SB_STEP_HOSTNAME;
        }
    }
    if (!(sb->layers & KOS_SB_NS_MNT)) {
        if (must_become_app(sb) && (*err = become_app(sb)) != 0)
            return KOS_SB_STEP_SYNC;
        return 0;
    }
    if (sb->n_ro_files > ELF_MAX_FILES) {
        *err = E2BIG;
        return KOS_SB_STEP_MOUNT;
    }
    /* With Core's uid still: a private tmpfs on the mount point, and every
     * source opened by path. Nothing we mount may propagate to the host. */
    step = KOS_SB_STEP_MOUNT;
    char opts[96];
    if (sb->layers & KOS_SB_NS_USER)
        snprintf(opts, sizeof(opts), "mode=0755,size=64k,uid=%u,gid=%u", KOS_SANDBOX_APP_UID,
                 KOS_SANDBOX_APP_UID);
    else if (sb->privileged)
        snprintf(opts, sizeof(opts), "mode=0755,size=64k,uid=%u,gid=%u", (unsigned)sb->host_uid,
                 (unsigned)sb->host_gid);
    else
        snprintf(opts, sizeof(opts), "mode=0755,size=64k");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("kos-root", sb->mnt_dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0 ||
        chdir(sb->mnt_dir) < 0)
        goto out_errno;
    for (n = 0; n < sb->n_ro_files; n++) {
        src[n] = open(sb->ro_files[n], O_PATH | O_CLOEXEC);
        if (src[n] < 0)
            goto out_errno;
    }
    if (sb->data_dir && sb->data_mnt < 0 &&
        (data = open(sb->data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        goto out_errno;
    step = KOS_SB_STEP_SYNC;
    if (must_become_app(sb) && (*err = become_app(sb)) != 0)
        goto out_close;
    step = KOS_SB_STEP_MOUNT;
    for (size_t i = 0; i < n; i++) {
        char dst[PATH_MAX];
        int fd;
        if ((*err = mkdirs(sb->ro_files[i])) != 0)
            goto out_close;
        snprintf(dst, sizeof(dst), ".%s", sb->ro_files[i]);
        fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
        if (fd < 0)
            goto out_errno;
        close(fd);
        if ((*err = bind_fd(src[i], dst, MS_RDONLY | MS_NOSUID | MS_NODEV)) != 0)
            goto out_close;
    }
    if (sb->data_dir && (mkdir("data", 0755) < 0 || (*err = attach_data(sb, data)) != 0)) {
        if (!*err)
            *err = errno;
        goto out_close;
    }
    /* /dev/null, so that fd 0 reads as what it is; the app cannot open it
     * again (Landlock grants no access to it, seccomp no write opens). */
    int null_src = open("/dev/null", O_PATH | O_CLOEXEC);
    if (null_src < 0)
        goto out_errno;
    if ((*err = mkdirs("/dev/null")) != 0 ||
        ((fd_close_errno(open("dev/null", O_WRONLY | O_CREAT | O_CLOEXEC, 0444))) != 0) ||
        (*err = bind_fd(null_src, "dev/null", MS_RDONLY | MS_NOSUID | MS_NOEXEC)) != 0) {
        if (!*err)
            *err = errno;
        close(null_src);
        goto out_close;
    }
    close(null_src);
    if (sb->proc && (mkdir("proc", 0555) < 0 ||
                     mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0))
        goto out_errno;
    step = KOS_SB_STEP_PIVOT;
    if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        goto out_errno;
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) < 0)
        goto out_errno;
    close_all(src, n);
    if (data >= 0)
        close(data);
    return 0;

out_errno:
    *err = errno;
out_close:
    close_all(src, n);
    if (data >= 0)
        close(data);
    return step;
}

/* ---- entering the sandbox ---- */

static int set_limit(int res, rlim_t v)
{
    struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
    return setrlimit(res, &rl) < 0 ? errno : 0;
}

static int apply_limits(const struct kos_sandbox *sb)
{
    int err;

    if ((err = set_limit(RLIMIT_NOFILE, sb->max_files)) != 0)
        return err;
    /* Its init counts too, and LeakSanitizer's tracer in a sanitizer build. */
    if (sb->max_procs &&
        (err = set_limit(RLIMIT_NPROC, (rlim_t)sb->max_procs + 1 + sb->sanitizer)) != 0)
        return err;
    /* The largest file the app may write: its storage in /data, or, for
     * every app, its call channels' memfds and its granted regions. A
     * memfd's pages count against no memory limit until they are mapped. */
    if (sb->max_file_bytes && (err = set_limit(RLIMIT_FSIZE, sb->max_file_bytes)) != 0)
        return err;
    /* ASan's shadow memory is terabytes of address space: no memory limit
     * can coexist with it (Core says so at boot). */
    if (sb->memory && !sb->sanitizer) {
        if ((err = set_limit(RLIMIT_DATA, sb->memory)) != 0)
            return err;
        if ((err = set_limit(RLIMIT_AS,
                             sb->memory + sb->shared_bytes + KOS_SANDBOX_AS_ALLOWANCE)) != 0)
            return err;
    }
    /* Locked memory: none (so no mmap(MAP_LOCKED) either), but for the app
     * that holds the device keys, which gets what the host allows up to
     * lock_bytes. */
    struct rlimit host;
    rlim_t lock = sb->lock_bytes;
    if (lock && getrlimit(RLIMIT_MEMLOCK, &host) == 0 && host.rlim_max < lock)
        lock = host.rlim_max;
    if ((err = set_limit(RLIMIT_MEMLOCK, lock)) != 0)
        return err;
    return set_limit(RLIMIT_CORE, 0);
}

static int landlock_path(int ruleset, const char *path, uint64_t access)
{
    struct landlock_path_beneath_attr pb = {.allowed_access = access};
    int err = 0;

    pb.parent_fd = open(path, O_PATH | O_CLOEXEC);
    if (pb.parent_fd < 0)
        return errno;
    if (ll_add_rule(ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb) < 0)
        err = errno;
    close(pb.parent_fd);
    return err;
}

/* The filesystem rights each Landlock ABI knows. */
static uint64_t ll_fs_rights(int abi)
{
    uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */
    if (abi >= 2)
        r |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        r |= LL_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        r |= LL_ACCESS_FS_IOCTL_DEV;
    return r;
}

static int apply_landlock(const struct kos_sandbox *sb)
{
    int abi = sb->landlock_abi;
    uint64_t fs = ll_fs_rights(abi);
    struct ll_ruleset_attr attr = {.handled_access_fs = fs};
    size_t attr_size = offsetof(struct ll_ruleset_attr, handled_access_net);
    int rs, err = 0;

    if (abi >= 4) {
        /* network: host is for opening connections: TCP is left alone. */
        if (!sb->net_host)
            attr.handled_access_net = LL_ACCESS_NET_BIND_TCP | LL_ACCESS_NET_CONNECT_TCP;
        attr_size = offsetof(struct ll_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
        attr_size = sizeof(attr);
    }
    rs = ll_create_ruleset(&attr, attr_size, 0);
    if (rs < 0)
        return errno;
    /* The binary's own files: read and (for the loader) execute. */
    for (size_t i = 0; i < sb->n_ro_files && !err; i++)
        err = landlock_path(rs, sb->ro_files[i],
                            LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE);
    if (!err && sb->data_dir)
        err = landlock_path(rs, "/data",
                            fs & ~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                                   LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SOCK |
                                   LANDLOCK_ACCESS_FS_MAKE_FIFO |
                                   (abi >= 5 ? LL_ACCESS_FS_IOCTL_DEV : 0)));
    if (!err && sb->proc)
        err =
            landlock_path(rs, "/proc", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR);
    if (!err && ll_restrict_self(rs) < 0)
        err = errno;
    close(rs);
    return err;
}

/*
 * Empties the calling thread's bounding and ambient sets, then its effective,
 * permitted and inheritable sets, by system call: libcap-ng keeps
 * process-wide state (the pid it first saw) that a raw clone() or vfork()
 * child inherits stale, and its capng_apply() spends some 130 calls where 45
 * do. Every step is tried; returns 0 or the first errno.
 */
static int clear_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
    int err = 0;

    /* The bounding set first, while CAP_SETPCAP is still ours; EINVAL marks
     * the end of the capabilities this kernel knows. */
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
            continue;
        if (errno != EINVAL && !err)
            err = errno;
        if (errno == EINVAL)
            break;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && !err)
        err = errno;
    memset(none, 0, sizeof(none));
    if (syscall(SYS_capset, &hdr, none) < 0 && !err)
        err = errno;
    return err;
}

static int drop_caps(void)
{
    /* Lock root's special treatment away before the capabilities go. */
    int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
               SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        return errno;
    return clear_caps();
}

/* The system calls every app may make, beyond those with argument rules. */
static const int allowed_calls[] = {
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(preadv),
    SCMP_SYS(pwritev),
    SCMP_SYS(preadv2),
    SCMP_SYS(pwritev2),
    SCMP_SYS(close),
    SCMP_SYS(close_range),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(lseek),
    SCMP_SYS(access),
    SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2),
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
    SCMP_SYS(getdents),
    SCMP_SYS(getdents64),
    SCMP_SYS(getcwd),
    SCMP_SYS(chdir),
    SCMP_SYS(fchdir),
    SCMP_SYS(fadvise64),
    SCMP_SYS(mmap),
    SCMP_SYS(mprotect),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(mincore),
    SCMP_SYS(msync),
    SCMP_SYS(brk),
    SCMP_SYS(membarrier),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigpending),
    SCMP_SYS(rt_sigtimedwait),
    SCMP_SYS(rt_sigsuspend),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(kill),
    SCMP_SYS(tgkill),
    SCMP_SYS(tkill),
    SCMP_SYS(pause),
    SCMP_SYS(pipe),
    SCMP_SYS(pipe2),
    SCMP_SYS(select),
    SCMP_SYS(pselect6),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(epoll_create),
    SCMP_SYS(epoll_create1),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_pwait2),
    SCMP_SYS(eventfd2),
    SCMP_SYS(signalfd4),
    SCMP_SYS(timerfd_create),
    SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime),
    SCMP_SYS(dup),
    SCMP_SYS(dup2),
    SCMP_SYS(dup3),
    SCMP_SYS(flock),
    SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),
    SCMP_SYS(ftruncate),
    SCMP_SYS(fallocate),
    SCMP_SYS(memfd_create),
    SCMP_SYS(recvmsg),
    SCMP_SYS(recvmmsg),
    SCMP_SYS(recvfrom),
    SCMP_SYS(shutdown),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(sched_getparam),
    SCMP_SYS(sched_getscheduler),
    SCMP_SYS(sched_get_priority_max),
    SCMP_SYS(sched_get_priority_min),
    SCMP_SYS(getcpu),
    SCMP_SYS(getpriority),
    SCMP_SYS(nanosleep),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(time),
    SCMP_SYS(getitimer),
    SCMP_SYS(setitimer),
    SCMP_SYS(alarm),
    SCMP_SYS(timer_create),
    SCMP_SYS(timer_settime),
    SCMP_SYS(timer_gettime),
    SCMP_SYS(timer_getoverrun),
    SCMP_SYS(timer_delete),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getppid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(getgroups),
    SCMP_SYS(getresuid),
    SCMP_SYS(getresgid),
    SCMP_SYS(getpgrp),
    SCMP_SYS(getpgid),
    SCMP_SYS(getsid),
    SCMP_SYS(setsid),
    SCMP_SYS(setpgid),
    SCMP_SYS(uname),
    SCMP_SYS(getrlimit),
    SCMP_SYS(setrlimit),
    SCMP_SYS(getrusage),
    SCMP_SYS(umask),
    SCMP_SYS(prctl),
    SCMP_SYS(arch_prctl),
    SCMP_SYS(set_tid_address),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(get_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(futex),
    SCMP_SYS(futex_waitv),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(wait4),
    SCMP_SYS(waitid),
    SCMP_SYS(getrandom),
    SCMP_SYS(sendfile),
    SCMP_SYS(splice),
    SCMP_SYS(tee),
    SCMP_SYS(copy_file_range),
};

/* Creating processes: only for an app that may have more than one
 * (limits: {processes: N}, N > 1); clone is in app_rules. */
static const int fork_calls[] = {
    SCMP_SYS(fork),
    SCMP_SYS(vfork),
};

/* Extra calls for an app with a data directory (Landlock and the mount
 * namespace confine them to /data). */
static const int data_calls[] = {
    SCMP_SYS(unlink),   SCMP_SYS(unlinkat),  SCMP_SYS(rmdir),    SCMP_SYS(rename),
    SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(truncate), SCMP_SYS(utimensat),
};

/* The mode bits no file an app creates or changes may have: setuid, setgid
 * and writable by others. The host directory behind /data is Core's alone
 * (0700), but what an app leaves there must still be nothing a host user
 * could run with the app's ids or change. */
#define FORBIDDEN_MODE (S_ISUID | S_ISGID | S_IWOTH)

/* The calls that create files or change modes in /data, and which argument
 * holds the mode: allowed only when it has none of FORBIDDEN_MODE. The
 * kernel reads a mode as a 16-bit umode_t, so only those bits matter, and
 * the mask lies within them. Creating opens (open, openat with O_CREAT or
 * O_TMPFILE) are in app_rules. */
static const struct {
    int call;
    unsigned arg;
} mode_calls[] = {
    {SCMP_SYS(mkdir), 1}, {SCMP_SYS(mkdirat), 2}, {SCMP_SYS(creat), 1},
    {SCMP_SYS(chmod), 1}, {SCMP_SYS(fchmod), 1},  {SCMP_SYS(fchmodat), 2},
};

/* The sockets an app with network: host may create: TCP and UDP over IPv4
 * and IPv6 (SOCK_NONBLOCK and SOCK_CLOEXEC allowed). */
static const struct {
    int domain, type;
} net_sockets[] = {
    {AF_INET, SOCK_STREAM},
    {AF_INET, SOCK_DGRAM},
    {AF_INET6, SOCK_STREAM},
    {AF_INET6, SOCK_DGRAM},
};

/* What else network: host allows: connecting, and listening and accepting. */
static const int net_calls[] = {
    SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
};

/* Locking its own memory: only the app that holds the device keys
 * (lock_bytes > 0), for its secure heap. Never mlockall. */
static const int lock_calls[] = {
    SCMP_SYS(mlock),
    SCMP_SYS(mlock2),
    SCMP_SYS(munlock),
};

/* The ioctls any app may make: asking how much a socket or pipe holds,
 * close-on-exec, whether stdio is a terminal, and I2C transfers on an
 * adapter the app was given. Nothing that reads or changes the host's
 * network (SIOCGIF*, SIOCETHTOOL, wireless), and not FIONBIO, which would
 * clear O_NONBLOCK behind the fcntl rule below. The command is an unsigned
 * int to the kernel, so only its low 32 bits are compared. */
static const unsigned long ioctl_cmds[] = {
    FIONREAD, TIOCOUTQ, SIOCATMARK, FIOCLEX, FIONCLEX, TCGETS, TIOCGWINSZ, I2C_RDWR, I2C_FUNCS,
};

/* The fcntl commands any app may use. F_SETFL is allowed only with
 * O_NONBLOCK set (below): an app shares the open files of its channels'
 * doorbells with its peers, and a peer that made one blocking and filled
 * it would hang the other party's next call (tests/hostile/test_fdpass.sh,
 * jam_doorbells). An app with network: host may clear it: ethernet hands
 * out blocking sockets. */
static const unsigned fcntl_cmds[] = {
    F_DUPFD,  F_DUPFD_CLOEXEC, F_GETFD,     F_SETFD,      F_GETFL,      F_GETLK,     F_SETLK,
    F_SETLKW, F_OFD_GETLK,     F_OFD_SETLK, F_OFD_SETLKW, F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS,
};

/* The socket options an app without network: host may set on the sockets
 * it holds (those ethernet handed it): buffering, keep-alive, timeouts and
 * the type of service. Nothing that binds to a device, source-routes,
 * attaches a filter or an upper-layer protocol (TCP_ULP), or changes the
 * congestion control. The level and name are ints: compared whole, so
 * stray upper bits only refuse. */
static const struct {
    int level, name;
} sockopts[] = {
    {SOL_SOCKET, SO_KEEPALIVE},    {SOL_SOCKET, SO_LINGER},
    {SOL_SOCKET, SO_RCVBUF},       {SOL_SOCKET, SO_SNDBUF},
    {SOL_SOCKET, SO_RCVLOWAT},     {SOL_SOCKET, SO_OOBINLINE},
    {SOL_SOCKET, SO_RCVTIMEO_OLD}, {SOL_SOCKET, SO_SNDTIMEO_OLD},
    {SOL_SOCKET, SO_RCVTIMEO_NEW}, {SOL_SOCKET, SO_SNDTIMEO_NEW},
    {IPPROTO_TCP, TCP_NODELAY},    {IPPROTO_TCP, TCP_CORK},
    {IPPROTO_TCP, TCP_KEEPIDLE},   {IPPROTO_TCP, TCP_KEEPINTVL},
    {IPPROTO_TCP, TCP_KEEPCNT},    {IPPROTO_TCP, TCP_USER_TIMEOUT},
    {IPPROTO_TCP, TCP_QUICKACK},   {IPPROTO_TCP, TCP_NOTSENT_LOWAT},
    {IPPROTO_IP, IP_TOS},          {IPPROTO_IPV6, IPV6_TCLASS},
};

/* Adds the ioctl, fcntl and setsockopt rules above. Returns 0 or -errno. */
static int fd_rules(scmp_filter_ctx ctx, const struct kos_sandbox *sb)
{
    int rc = 0;

    for (size_t i = 0; i < sizeof(ioctl_cmds) / sizeof(ioctl_cmds[0]) && !rc; i++)
        rc =
            seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)ioctl_cmds[i]));
    for (size_t i = 0; i < sizeof(fcntl_cmds) / sizeof(fcntl_cmds[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, fcntl_cmds[i]));
    /* A pipe may shrink, or grow back to its default size, never beyond:
     * its buffer is kernel memory that no memory limit counts on sim. The
     * whole 64-bit argument is compared, so a value that passes has no
     * stray upper bits for the kernel's 32-bit read to drop. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, F_SETPIPE_SZ),
                              SCMP_A2(SCMP_CMP_LE, KOS_SANDBOX_PIPE_MAX, 0));
    if (sb->net_host) {
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, F_SETFL));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 0);
        return rc;
    }
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 2,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, F_SETFL),
                              SCMP_A2(SCMP_CMP_MASKED_EQ, O_NONBLOCK, O_NONBLOCK));
    for (size_t i = 0; i < sizeof(sockopts) / sizeof(sockopts[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 2,
                              SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)sockopts[i].level, 0),
                              SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)sockopts[i].name, 0));
    return rc;
}

/* The socket type bits, without SOCK_NONBLOCK and SOCK_CLOEXEC. */
#define SOCK_TYPE_BITS 0xfu

/* 020000000 is __O_TMPFILE without the O_DIRECTORY bit glibc adds to it. */
#define OPEN_WRITE_FLAGS  (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | 020000000)
#define OPEN_CREATE_FLAGS (O_CREAT | 020000000)

/* Fills ctx with the app's allow-list for sandbox sb. Returns 0 or -errno. */
static int app_rules(scmp_filter_ctx ctx, const struct kos_sandbox *sb)
{
    int rc = 0;

    for (size_t i = 0; i < sizeof(allowed_calls) / sizeof(allowed_calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_calls[i], 0);
    if (sb->data_dir) {
        for (size_t i = 0; i < sizeof(data_calls) / sizeof(data_calls[0]) && !rc; i++)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, data_calls[i], 0);
        for (size_t i = 0; i < sizeof(mode_calls) / sizeof(mode_calls[0]) && !rc; i++)
            rc = seccomp_rule_add(
                ctx, SCMP_ACT_ALLOW, mode_calls[i].call, 1,
                (struct scmp_arg_cmp){mode_calls[i].arg, SCMP_CMP_MASKED_EQ, FORBIDDEN_MODE, 0});
        /* Opening for writing, and creating with a mode that has none of
         * FORBIDDEN_MODE (the mode is read only with O_CREAT or O_TMPFILE). */
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_CREATE_FLAGS, 0));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  SCMP_A3(SCMP_CMP_MASKED_EQ, FORBIDDEN_MODE, 0));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, OPEN_CREATE_FLAGS, 0));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, FORBIDDEN_MODE, 0));
    } else {
        /* Opening is for reading what the root holds (the loader needs it
         * after exec); nothing can be created or written. */
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_WRITE_FLAGS, 0));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, OPEN_WRITE_FLAGS, 0));
    }
    /* Sending on what the app holds, but never with MSG_FASTOPEN, which
     * would connect a TCP socket that is not yet connected: a socket an app
     * is handed (messages.md) is connected already, and stays so. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmmsg), 1,
                              SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
                              SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0));
    /* network: host: Internet sockets, and connecting, binding, listening
     * and accepting on them. Every other app gets none of this. */
    for (size_t i = 0; sb->net_host && i < sizeof(net_sockets) / sizeof(net_sockets[0]) && !rc; i++)
        rc = seccomp_rule_add(
            ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)net_sockets[i].domain, 0),
            SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_BITS, (scmp_datum_t)net_sockets[i].type));
    for (size_t i = 0; sb->net_host && i < sizeof(net_calls) / sizeof(net_calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, net_calls[i], 0);
    for (size_t i = 0; sb->lock_bytes && i < sizeof(lock_calls) / sizeof(lock_calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, lock_calls[i], 0);
    if (!rc)
        rc = fd_rules(ctx, sb);
    /* New processes and threads, but never in new namespaces, and none at
     * all for an app of one process (limits: {processes: 1}, the default):
     * then fork, vfork and clone are refused (EPERM) whatever the host's
     * process counts say. clone3 hides its flags in memory, so it reports
     * ENOSYS and glibc uses clone. */
    bool may_fork = sb->max_procs != 1 || sb->sanitizer; /* LeakSanitizer clones a tracer */
    for (size_t i = 0; may_fork && i < sizeof(fork_calls) / sizeof(fork_calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, fork_calls[i], 0);
    if (!rc && may_fork)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* Asking for the personality is harmless; changing it is not allowed. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0xffffffffu));
    /* Limits of itself only. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                              SCMP_A0(SCMP_CMP_EQ, 0, 0));
    /* LeakSanitizer stops the app's own threads with ptrace at exit. The PID
     * namespace holds only the app and its init (not dumpable, no
     * capabilities), so that reaches nothing else. */
    if (!rc && sb->sanitizer)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ptrace), 1,
                              SCMP_A0(SCMP_CMP_NE, PTRACE_TRACEME, 0)); /* init never traces */
    /* The one exec: the verified binary at fd max_files, which no fd the app
     * can later open, duplicate or receive can ever be numbered. An absolute
     * path would still get past this rule (the kernel then ignores the fd):
     * the exec gate lets only the first such call run. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 2,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)sb->max_files, 0),
                              SCMP_A4(SCMP_CMP_EQ, AT_EMPTY_PATH, 0));
    return rc;
}

/* The exec gate's filter: execve and execveat wait for the listener's
 * answer; everything else is left to the app's own filter. */
static int gate_rules(scmp_filter_ctx ctx, const struct kos_sandbox *unused)
{
    int rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(execve), 0);

    (void)unused;
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(execveat), 0);
    return rc;
}

/* The commands the init gives its gate's listener. */
static const unsigned long gate_ioctls[] = {
    SECCOMP_IOCTL_NOTIF_RECV,
    SECCOMP_IOCTL_NOTIF_SEND,
};

/* init's own filter: it only waits (on its signalfd and its gate), answers
 * the gate, forwards signals and reports. A sanitizer runtime's _exit()
 * takes its alternate signal stack down first. */
static int init_rules(scmp_filter_ctx ctx, const struct kos_sandbox *unused)
{
    static const int calls[] = {
        SCMP_SYS(poll),         SCMP_SYS(ppoll),      SCMP_SYS(read),  SCMP_SYS(rt_sigprocmask),
        SCMP_SYS(rt_sigreturn), SCMP_SYS(wait4),      SCMP_SYS(kill),  SCMP_SYS(write),
        SCMP_SYS(exit),         SCMP_SYS(exit_group), SCMP_SYS(close), SCMP_SYS(getppid),
        SCMP_SYS(sigaltstack),
    };
    int rc = 0;

    (void)unused;
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
    for (size_t i = 0; i < sizeof(gate_ioctls) / sizeof(gate_ioctls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, gate_ioctls[i]));
    return rc;
}

/* Compiles the rules `add` puts in a filter whose default is `def` into a
 * BPF program: libseccomp writes it to a memfd, from which it is read back
 * whole. Returns 0 or an errno. */
static int compile(uint32_t def, int (*add)(scmp_filter_ctx, const struct kos_sandbox *),
                   const struct kos_sandbox *sb, struct kos_sandbox_prog *out)
{
    scmp_filter_ctx ctx = seccomp_init(def);
    struct sock_filter *insns = NULL;
    int fd = -1, rc;
    off_t size;

    memset(out, 0, sizeof(*out));
    if (!ctx)
        return ENOMEM;
    rc = add(ctx, sb);
    if (rc)
        goto out;
    fd = memfd_create("kos-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = seccomp_export_bpf(ctx, fd);
    if (rc)
        goto out;
    size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(*insns) != 0 ||
        size / (off_t)sizeof(*insns) > BPF_MAXINSNS) {
        rc = -E2BIG;
        goto out;
    }
    insns = malloc((size_t)size);
    if (!insns) {
        rc = -ENOMEM;
        goto out;
    }
    if (!pread_all(fd, insns, (size_t)size, 0)) {
        rc = -EIO;
        goto out;
    }
    out->insns = insns;
    out->len = (size_t)size / sizeof(*insns);
    insns = NULL;
out:
    free(insns);
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
    return rc < 0 ? -rc : rc;
}

int kos_sandbox_app_prog(const struct kos_sandbox *sb, struct kos_sandbox_prog *out)
{
    return compile(SCMP_ACT_ERRNO(EPERM), app_rules, sb, out);
}

int kos_sandbox_init_prog(struct kos_sandbox_prog *out)
{
    return compile(SCMP_ACT_KILL_PROCESS, init_rules, NULL, out);
}

int kos_sandbox_gate_prog(struct kos_sandbox_prog *out)
{
    return compile(SCMP_ACT_ALLOW, gate_rules, NULL, out);
}

bool kos_sandbox_same_prog(const struct kos_sandbox *a, const struct kos_sandbox *b)
{
    return !a->data_dir == !b->data_dir && a->net_host == b->net_host &&
           a->sanitizer == b->sanitizer && a->max_files == b->max_files &&
           !a->lock_bytes == !b->lock_bytes && (a->max_procs == 1) == (b->max_procs == 1);
}

void kos_sandbox_prog_fini(struct kos_sandbox_prog *prog)
{
    if (!prog)
        return;
    free(prog->insns);
    prog->insns = NULL;
    prog->len = 0;
}

/* Loads a compiled filter on the calling thread, as seccomp_load() would
 * with libseccomp's default attributes (no_new_privs is already set), with
 * the SECCOMP_FILTER_FLAG_* `flags`; with SECCOMP_FILTER_FLAG_NEW_LISTENER,
 * *listener is the new listener (close-on-exec). Returns 0 or an errno. */
static int load_filter(const struct kos_sandbox_prog *prog, unsigned flags, int *listener)
{
    struct sock_fprog fp;
    long rc;

    if (!prog || !prog->insns || prog->len == 0 || prog->len > BPF_MAXINSNS)
        return EINVAL;
    fp.len = (unsigned short)prog->len;
    fp.filter = prog->insns;
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fp);
    if (rc >= 0) {
        if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)
            *listener = (int)rc;
        return 0;
    }
    if (errno == ENOSYS && !flags && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) == 0)
        return 0;
    return errno;
}

static int load_prog(const struct kos_sandbox_prog *prog)
{
    return load_filter(prog, 0, NULL);
}

int kos_sandbox_enter(const struct kos_sandbox *sb, int *err)
{
    *err = 0;
    if ((*err = apply_limits(sb)) != 0)
        return KOS_SB_STEP_RLIMIT;
    if ((sb->layers & KOS_SB_LANDLOCK) && (*err = apply_landlock(sb)) != 0)
        return KOS_SB_STEP_LANDLOCK;
    if ((*err = drop_caps()) != 0 && (sb->layers & KOS_SB_NS_USER || geteuid() == 0))
        return KOS_SB_STEP_CAPS;
    *err = 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        *err = errno;
        return KOS_SB_STEP_NNP;
    }
    if ((sb->layers & KOS_SB_SECCOMP) && (*err = load_prog(sb->app_prog)) != 0)
        return KOS_SB_STEP_SECCOMP;
    return 0;
}

/* ---- the sandbox's init ---- */

void kos_sandbox_hide_cmdline(void)
{
    char buf[4096];
    unsigned long a_start = 0, a_end = 0, e_start = 0, e_end = 0;
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* Fields 48-51 (arg_start, arg_end, env_start, env_end) follow the
     * command name, which ends at the last ')'. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && *p && field < 48; p++)
        if (*p == ' ')
            field++;
    if (!p || sscanf(p, "%lu %lu %lu %lu", &a_start, &a_end, &e_start, &e_end) != 4)
        return;
    if (a_start && a_end > a_start && a_end - a_start < (1ul << 20))
        memset((void *)a_start, 0, a_end - a_start);
    if (e_start && e_end > e_start && e_end - e_start < (1ul << 20))
        memset((void *)e_start, 0, e_end - e_start);
}

int kos_sandbox_init_prepare(const struct kos_sandbox *sb, struct kos_sandbox_waits *w, int *err)
{
    sigset_t all;

    *err = 0;
    w->gate_fd = -1;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    w->signal_fd = signalfd(-1, &all, SFD_CLOEXEC);
    if (w->signal_fd < 0) {
        *err = errno;
        return KOS_SB_STEP_FDS;
    }
    if (!sb->gate_prog)
        return 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        *err = errno;
    else
        *err = load_filter(sb->gate_prog, SECCOMP_FILTER_FLAG_NEW_LISTENER, &w->gate_fd);
    if (*err) {
        close(w->signal_fd);
        w->signal_fd = -1;
        return KOS_SB_STEP_GATE;
    }
    return 0;
}

/* The architecture of the system calls the gate hears (its filter kills
 * every other). */
#if defined(__x86_64__)
#define GATE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define GATE_ARCH AUDIT_ARCH_AARCH64
#else
#error "sandbox.c: the audit architecture of this platform"
#endif

/*
 * Answers the one exec call waiting at the gate: while *open, the first
 * call from `app` is let through if it is Core's execveat(max_files, "",
 * AT_EMPTY_PATH), and the gate closes whatever it was; every other call is
 * answered EPERM. Only the caller's pid and the call's registers are looked
 * at, never the memory they point to, which the caller could change. A call
 * interrupted before its answer (a signal) is gone (ENOENT); the restarted
 * call comes again and, the gate closed, is refused: nothing of the app ran
 * in between, and it fails to start. Returns 0 once an answer is given, or
 * an errno.
 */
static int gate_answer(int gate, pid_t app, uint32_t max_files, bool *open)
{
    struct seccomp_notif n;
    struct seccomp_notif_resp resp;

    memset(&n, 0, sizeof(n));
    if (ioctl(gate, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0)
        return errno;
    memset(&resp, 0, sizeof(resp));
    resp.id = n.id;
    resp.error = -EPERM;
    if (*open && n.pid == (uint32_t)app) {
        *open = false;
        if (n.data.arch == GATE_ARCH && n.data.nr == __NR_execveat && n.data.args[0] == max_files &&
            n.data.args[4] == AT_EMPTY_PATH) {
            resp.error = 0;
            resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        }
    }
    if (ioctl(gate, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0)
        return errno;
    return 0;
}

void kos_sandbox_init(const struct kos_sandbox *sb, pid_t app, int status_fd,
                      const struct kos_sandbox_waits *w)
{
    int gate = w->gate_fd;
    bool open = gate >= 0;

    /* Nothing here may be ptraced or inspected by the app. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (clear_caps() != 0) {
        /* Without a user namespace there may be nothing to drop. */
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    /* Best-effort hardening of trusted code; the app's filter is what
     * matters. */
    if (sb->init_prog && load_prog(sb->init_prog) != 0) {
        /* The init still holds nothing but its status pipe, its signals
         * and its gate. */
    }
    /* Core: 0 when it is outside our PID namespace, its pid otherwise. */
    pid_t core = getppid();
    for (;;) {
        struct pollfd p[2] = {{.fd = w->signal_fd, .events = POLLIN},
                              {.fd = gate, .events = POLLIN}};
        struct signalfd_siginfo si;

        if (poll(p, gate >= 0 ? 2 : 1, -1) < 0)
            continue;
        if (p[1].revents & POLLIN) {
            (void)gate_answer(gate, app, sb->max_files, &open);
        } else if (p[1].revents) {
            /* Never expected (the init itself keeps the filter in use);
             * without its listener every exec fails (ENOSYS). */
            close(gate);
            gate = -1;
        }
        if (!(p[0].revents & POLLIN) || read(w->signal_fd, &si, sizeof(si)) != sizeof(si))
            continue;
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = (pid_t)syscall(SYS_wait4, -1, &status, WNOHANG, NULL)) > 0) {
                if (pid == app && (WIFEXITED(status) || WIFSIGNALED(status))) {
                    ssize_t wr = write(status_fd, &status, sizeof(status));
                    (void)wr;
                    _exit(0);
                }
            }
            continue;
        }
        /* Forward what comes from outside the namespace (Core: si_pid 0 in
         * a new PID namespace); ignore what the app's processes send. */
        if (si.ssi_pid == 0 || si.ssi_pid == (uint32_t)core)
            kill(app, sig);
    }
}
