/*
 * sandbox.h - the isolation KOS Core builds around every app and message
 * server: namespaces, a minimal read-only root, seccomp, Landlock, no
 * capabilities and resource limits.
 *
 * The module is platform-neutral so that the sim platform (Core as an
 * ordinary process) and the device platform (Core as PID 1) share it. Its
 * pieces run in three places:
 *
 *   Core, once at boot      kos_sandbox_probe() learns what the host allows;
 *                           kos_sandbox_root_files() lists what a binary needs
 *                           in its root (PT_INTERP and DT_NEEDED, resolved);
 *                           kos_sandbox_app_prog() and kos_sandbox_init_prog()
 *                           compile the seccomp filters, once per distinct
 *                           filter, so that no process compiles one.
 *   Core, per start         kos_sandbox_clone() creates the process in its new
 *                           user and PID namespaces; kos_sandbox_map_ids()
 *                           writes its user namespace's uid/gid maps.
 *   the sandbox's init      kos_sandbox_unshare() creates its other namespaces;
 *   (PID 1 of the new       kos_sandbox_build_root() assembles and pivots into
 *   PID namespace)          the new root; kos_sandbox_init_prepare() opens the
 *                           exec gate (below) and what the init waits on; it
 *                           then forks the app and runs kos_sandbox_init():
 *                           answers the gate, forwards Core's signals and
 *                           reports the app's exact wait status.
 *   the app, before exec    kos_sandbox_enter(): limits, Landlock, capabilities,
 *                           no_new_privs and the (compiled) seccomp filter, the
 *                           last step before execveat() of the verified binary.
 *
 * The exec gate: a seccomp filter the init loads on itself before the app
 * exists, so the app and everything it starts inherit it, sends every
 * execve and execveat that the app's own filter lets through to a listener
 * only the init holds. The init lets the first one through, Core's execveat
 * of the verified binary, and refuses every later one with EPERM; the
 * listener is the chain's only one, so no other filter can answer for it.
 *
 * What stays true: in strict mode every layer the sandbox describes is in
 * force when the app's first instruction runs, or the app does not run; a
 * failing step is reported as (step, errno) and is never skipped. With the
 * exec gate, exactly one exec is let through per sandbox, the one Core's
 * code makes before anything of the image runs; when the init is gone the
 * kernel fails every exec (ENOSYS).
 */
#ifndef KOS_CORE_SANDBOX_H
#define KOS_CORE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/filter.h>

#include <kos/status.h>

/* How much isolation Core insists on. */
enum kos_sandbox_mode {
    KOS_SANDBOX_STRICT = 0,      /* every layer, or the system does not boot */
    KOS_SANDBOX_BEST_EFFORT = 1, /* every layer the host allows; Core says which are missing */
    KOS_SANDBOX_NONE = 2,        /* development only: no sandbox at all (benchmarks) */
};

/* Where resource limits come from. Only rlimits exist on sim; a device where
 * Core is PID 1 owns the cgroup v2 hierarchy and can use it instead. */
enum kos_sandbox_limits {
    KOS_SANDBOX_LIMITS_RLIMITS = 1,
    KOS_SANDBOX_LIMITS_CGROUP2 = 2, /* and a cgroup per app (core/cgroup.c) */
};

/* The layers, as bits, for reporting what is in force or missing. */
enum kos_sandbox_layer {
    KOS_SB_NS_USER = 1u << 0,
    KOS_SB_NS_MNT = 1u << 1,
    KOS_SB_NS_PID = 1u << 2,
    KOS_SB_NS_IPC = 1u << 3,
    KOS_SB_NS_UTS = 1u << 4,
    KOS_SB_NS_NET = 1u << 5,
    KOS_SB_SECCOMP = 1u << 6,
    KOS_SB_LANDLOCK = 1u << 7,
    KOS_SB_EXEC_GATE = 1u << 8, /* seccomp user notification with CONTINUE (Linux >= 5.5) */
    KOS_SB_ALL = (1u << 9) - 1,
};

/* What the host allows, learnt once at boot by kos_sandbox_probe(). */
struct kos_sandbox_host {
    uint32_t layers;  /* enum kos_sandbox_layer bits that work here */
    int landlock_abi; /* 0 if Landlock is unavailable */
    bool privileged;  /* Core may map each app to its own host uid */
    uid_t uid;        /* Core's own ids, mapped when not privileged */
    gid_t gid;
    enum kos_sandbox_limits limits;
    char why[512]; /* for each missing layer, what the host said */
};

/* A compiled seccomp filter: BPF instructions as the kernel takes them. */
struct kos_sandbox_prog {
    struct sock_filter *insns;
    size_t len; /* instructions */
};

/* The sandbox of one process. Core fills it; the pointers must stay valid
 * until the process has executed its binary. */
struct kos_sandbox {
    const char *name; /* hostname inside, and for messages */
    uint32_t layers;  /* layers to apply (a subset of the host's) */
    int landlock_abi;
    uid_t host_uid; /* the app's uid/gid outside its user namespace */
    gid_t host_gid;
    bool privileged;             /* Core is privileged: the ids are the app's alone and
                                    its supplementary groups are dropped */
    const char *mnt_dir;         /* an empty host directory to build the root on */
    const char *const *ro_files; /* host files bound read-only at the same path */
    size_t n_ro_files;
    const char *data_dir;    /* host directory bound read-write at /data, or, with
                                data_mnt, the image holding the app's file system;
                                NULL: no /data */
    int data_mnt;            /* with data_dir: a detached mount of the app's own file
                                system, cloned for this start, moved to /data instead of
                                binding data_dir; or -1 */
    bool net_host;           /* network: host: keeps the host's network namespace and may
                                open, connect, bind and accept Internet sockets */
    bool proc;               /* a private procfs at /proc (sanitizer runtimes) */
    bool sanitizer;          /* the binary carries a sanitizer runtime: allow
                                LeakSanitizer's ptrace of its own threads, no
                                address-space limit */
    uint64_t memory;         /* RLIMIT_DATA; 0 = none */
    uint64_t shared_bytes;   /* granted region bytes, added to the RLIMIT_AS allowance */
    uint32_t max_procs;      /* tasks (processes and threads): RLIMIT_NPROC for the app (its
                                init is added); 1: the filter refuses fork, vfork and clone
                                as well; 0 = none */
    uint64_t max_file_bytes; /* RLIMIT_FSIZE: the largest file the app may write (memfds and
                                /data alike); 0 = none */
    uint32_t max_files;      /* RLIMIT_NOFILE; also the fd number of the binary */
    int cgroup_fd;           /* the app's cgroup folder, where its process is placed before
                                anything of it runs (cgroup v2: Core owns the hierarchy);
                                -1: none */
    uint64_t lock_bytes;     /* RLIMIT_MEMLOCK (at most the host's), and mlock, mlock2 and
                                munlock allowed, when > 0: the app holding the device
                                keys, whose secure heap must never be swapped out;
                                0: nothing may be locked */
    const struct kos_sandbox_prog *app_prog;  /* the app's filter, compiled by
                                                 kos_sandbox_app_prog() for a sandbox
                                                 kos_sandbox_same_prog() as this one;
                                                 required with KOS_SB_SECCOMP */
    const struct kos_sandbox_prog *init_prog; /* the init's filter, or NULL: none */
    const struct kos_sandbox_prog *gate_prog; /* the exec gate's filter, compiled by
                                                 kos_sandbox_gate_prog(), or NULL: no
                                                 gate (the host has no
                                                 KOS_SB_EXEC_GATE, or no seccomp) */
};

/* The uid and gid an app has inside its user namespace. */
#define KOS_SANDBOX_APP_UID 1000u

/* The most a pipe's buffer may be set to (F_SETPIPE_SZ): Linux's default,
 * so a pipe may shrink and grow back, but holds no more kernel memory than
 * a pipe the app did not touch. */
#define KOS_SANDBOX_PIPE_MAX 65536u

/* RLIMIT_AS allowance above `memory` for code, libraries, stacks and the
 * message channels. */
#define KOS_SANDBOX_AS_ALLOWANCE (64ull << 20)

/* lock_bytes of the app that holds the device keys: its secure heap (64 KiB)
 * with room to spare. */
#define KOS_SANDBOX_KEYS_LOCK_BYTES (256u << 10)

/* The setup steps, for error reports: a failure is (step, errno). */
enum kos_sandbox_step {
    KOS_SB_STEP_NONE = 0,
    KOS_SB_STEP_SYNC,
    KOS_SB_STEP_HOSTNAME,
    KOS_SB_STEP_MOUNT,
    KOS_SB_STEP_PIVOT,
    KOS_SB_STEP_RLIMIT,
    KOS_SB_STEP_LANDLOCK,
    KOS_SB_STEP_CAPS,
    KOS_SB_STEP_NNP,
    KOS_SB_STEP_SECCOMP,
    KOS_SB_STEP_FDS,
    KOS_SB_STEP_FORK,
    KOS_SB_STEP_EXEC,
    KOS_SB_STEP_NAMESPACES,
    KOS_SB_STEP_GATE,
    KOS_SB_STEP_CGROUP,
};

/* A step's name, e.g. "seccomp". */
const char *kos_sandbox_step_name(int step);

/* A probe of the host under way: a short-lived child trying every namespace
 * at once, and a seccomp filter. */
struct kos_sandbox_probe {
    pid_t pid; /* the child, or -1 */
    int fd;    /* where it reports, or -1 */
    int err;   /* why it could not be started, or 0 */
};

/* Learns which layers the host allows: every namespace at once, a seccomp
 * filter and the exec gate (a listener answering one execveat with
 * CONTINUE) in one short-lived child and, only if the namespaces fail
 * together, each kind (and the filters) in a child of its own to say which
 * the host refuses. Never fails; what does not work is left out of h->layers
 * and explained in h->why. Blocks for a millisecond or so (a few when a
 * namespace is refused). */
void kos_sandbox_probe(struct kos_sandbox_host *h);

/* kos_sandbox_probe() in two halves, so that the child tries the namespaces
 * while Core does other work (it runs none of the image): _start() forks it
 * and returns at once; _finish() waits for it and fills *h as
 * kos_sandbox_probe() does; _cancel() only reaps it. Each started probe is
 * finished or cancelled exactly once. */
void kos_sandbox_probe_start(struct kos_sandbox_probe *pr);
void kos_sandbox_probe_finish(struct kos_sandbox_probe *pr, struct kos_sandbox_host *h);
void kos_sandbox_probe_cancel(struct kos_sandbox_probe *pr);

/* Writes "namespaces mnt,pid,...; seccomp; landlock ABI 7" for `layers`
 * ("seccomp without exec gate" when the host has filters but no gate). */
void kos_sandbox_describe(uint32_t layers, int landlock_abi, char *buf, size_t len);

/*
 * Lists the host files binary `fd` needs to run: its ELF interpreter and the
 * shared libraries it needs, transitively, resolved the way the dynamic
 * loader resolves them without a cache. On success *files is a
 * NULL-terminated array of paths (free with kos_sandbox_files_free) and
 * *sanitizer tells whether a sanitizer runtime is among them. A statically
 * linked binary gives an empty list. On failure writes why into err.
 */
kos_status_t kos_sandbox_root_files(int fd, char ***files, size_t *n, bool *sanitizer, char *err,
                                    size_t errlen) __attribute__((warn_unused_result));
void kos_sandbox_files_free(char **files);

/* Compiles the seccomp allow-list of an app with sandbox sb (see
 * docs/sandbox.md), the sandbox init's own filter, or the exec gate's (the
 * same for every sandbox). Returns 0 or an errno; on success *prog is the
 * caller's, to release with kos_sandbox_prog_fini(). */
int kos_sandbox_app_prog(const struct kos_sandbox *sb, struct kos_sandbox_prog *prog)
    __attribute__((warn_unused_result));
int kos_sandbox_init_prog(struct kos_sandbox_prog *prog) __attribute__((warn_unused_result));
int kos_sandbox_gate_prog(struct kos_sandbox_prog *prog) __attribute__((warn_unused_result));
void kos_sandbox_prog_fini(struct kos_sandbox_prog *prog);

/* Whether sandboxes a and b get the same app filter (it depends only on
 * whether there is a data directory, network: host, the sanitizer flag,
 * max_files, whether it may lock memory and whether it is one process). */
bool kos_sandbox_same_prog(const struct kos_sandbox *a, const struct kos_sandbox *b);

/* Creates a child in the sandbox's new user and PID namespaces (like fork(),
 * with SIGCHLD on exit). Returns the pid in the parent, 0 in the child, -1
 * with errno. The child then calls kos_sandbox_unshare() first thing. */
pid_t kos_sandbox_clone(const struct kos_sandbox *sb);

/* In the new child, before anything else: creates its other namespaces
 * (mount, network, IPC, UTS), so that their cost is the child's, in
 * parallel with other starts, not Core's. Returns 0 or an errno. */
int kos_sandbox_unshare(const struct kos_sandbox *sb);

/* Writes the child's uid and gid maps (the app's uid inside maps to
 * sb->host_uid/host_gid). Only with KOS_SB_NS_USER. Returns 0 or an errno. */
int kos_sandbox_map_ids(const struct kos_sandbox *sb, pid_t pid);

/* In the new child, once its ids are mapped: sets the hostname and builds and
 * enters the new root. Returns 0, or the failing step with *err set. */
int kos_sandbox_build_root(const struct kos_sandbox *sb, int *err);

/* In the app's process, right before execveat(sb->max_files, "", ...,
 * AT_EMPTY_PATH): the binary must already sit at fd sb->max_files. Applies
 * limits, Landlock, drops every capability, sets no_new_privs and loads the
 * seccomp filter. Returns 0, or the failing step with *err set. */
int kos_sandbox_enter(const struct kos_sandbox *sb, int *err);

/* In the sandbox's init, while the host's /proc is still in reach: blanks
 * the command line and environment it inherited from Core, so that a
 * private /proc shows nothing of Core's. Best effort. */
void kos_sandbox_hide_cmdline(void);

/* What the sandbox's init waits on. */
struct kos_sandbox_waits {
    int signal_fd; /* a signalfd for every signal (all blocked) */
    int gate_fd;   /* the exec gate's listener, or -1: no gate */
};

/* In the sandbox's init, before it creates the app: blocks every signal and
 * opens a signalfd for them and, with sb->gate_prog, loads the exec gate's
 * filter on the calling process (setting no_new_privs), which the app it
 * then creates inherits. On success *w holds both descriptors (close-on-
 * exec; the app must not keep the gate's) and 0 is returned; otherwise the
 * failing step, with *err set, and whatever was opened is closed. The app
 * must then be started with fork(), never vfork(): its exec waits for the
 * init's answer. */
int kos_sandbox_init_prepare(const struct kos_sandbox *sb, struct kos_sandbox_waits *w, int *err);

/* The sandbox's init, PID 1 of the new PID namespace, after it forked the
 * app: drops its capabilities, loads its own filter sb->init_prog (if not
 * NULL), holds no descriptor but `status_fd` and those of *w, answers the
 * exec gate (the first exec the app makes, execveat of fd sb->max_files
 * with AT_EMPTY_PATH, runs; every other exec of any process in the sandbox
 * fails with EPERM), forwards every signal Core sends it to the app, reaps
 * orphans, and when the app ends writes its wait status (an int) to
 * status_fd and exits, which ends every process left in the namespace.
 * Never returns. */
__attribute__((noreturn)) void kos_sandbox_init(const struct kos_sandbox *sb, pid_t app,
                                                int status_fd, const struct kos_sandbox_waits *w);

#endif
