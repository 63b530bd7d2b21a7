/*
 * sandbox.c - building the sandbox of one app or message server (sandbox.h):
 * its namespaces and ids, limits, Landlock, capabilities, entering it, and
 * the init that holds the exec gate. What the host can do is probed in
 * sandbox_probe.c, the root's files found and bound in sandbox_root.c, the
 * seccomp allow-lists built in sandbox_seccomp.c (shared: sandbox_int.h).
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
#include "file_int.h"
#include "sandbox_int.h"

const struct kos__sandbox_ns kos__sandbox_ns_table[KOS__SANDBOX_N_NS] = {
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
        [KOS_SB_STEP_GATE] = "exec gate",    [KOS_SB_STEP_CGROUP] = "its cgroup",
    };
    if (step < 0 || (size_t)step >= sizeof(names) / sizeof(names[0]) || !names[step])
        return "unknown step";
    return names[step];
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
    for (size_t i = 0; i < KOS__SANDBOX_N_NS; i++)
        if (sb->layers & kos__sandbox_ns_table[i].layer)
            flags |= kos__sandbox_ns_table[i].flag;
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

int kos_sandbox_map_ids(const struct kos_sandbox *sb, pid_t pid)
{
    char path[64], map[64];
    int err;

    if (!(sb->layers & KOS_SB_NS_USER))
        return 0;
    /* An unprivileged writer must deny setgroups() first; a privileged one
     * leaves it to the child, which drops every supplementary group. */
    snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
    if (!sb->privileged && (err = kos__file_write_text(AT_FDCWD, path, "deny")) != 0)
        return err;
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", KOS_SANDBOX_APP_UID, (unsigned)sb->host_uid);
    if ((err = kos__file_write_text(AT_FDCWD, path, map)) != 0)
        return err;
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    snprintf(map, sizeof(map), "%u %u 1\n", KOS_SANDBOX_APP_UID, (unsigned)sb->host_gid);
    return kos__file_write_text(AT_FDCWD, path, map);
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

/* Loads a compiled filter on the calling thread, as seccomp_load() would
 * with libseccomp's default attributes (no_new_privs is already set), with
 * the SECCOMP_FILTER_FLAG_* `flags`; with SECCOMP_FILTER_FLAG_NEW_LISTENER,
 * *listener is the new listener (close-on-exec). Returns 0 or an errno. */
int kos__sandbox_load_filter(const struct kos_sandbox_prog *prog, unsigned flags, int *listener)
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
    return kos__sandbox_load_filter(prog, 0, NULL);
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
        *err =
            kos__sandbox_load_filter(sb->gate_prog, SECCOMP_FILTER_FLAG_NEW_LISTENER, &w->gate_fd);
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
#elif defined(__arm__) && defined(__ARMEL__)
#define GATE_ARCH AUDIT_ARCH_ARM /* armhf: 32-bit ARM, little-endian */
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
int kos__sandbox_gate_answer(int gate, pid_t app, uint32_t max_files, bool *open)
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
            (void)kos__sandbox_gate_answer(gate, app, sb->max_files, &open);
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
