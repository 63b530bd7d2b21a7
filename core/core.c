/*
 * core.c - KOS Core on the sim platform: boot, wire, supervise, shut down.
 *
 * Core owns one struct core for the life of a system. It verifies the image,
 * starts the message servers and then the apps, each with its console pipe,
 * its control socket and one socket per message server its manifest entry
 * names (Core hands the other end, with the app's grants, to that message
 * server). One poll loop then serves the consoles, the control channels,
 * signals (SIGCHLD, SIGINT, SIGTERM, SIGUSR1) and a timer for shutdown
 * deadlines. The app the manifest marks manages_system: true may also ask
 * for the system's state, an app's restart and a reboot, and gets the
 * console lines (the system interface, lib/sys_int.h); a reboot stops the
 * whole system and boots it again from the same image in this same loop.
 * What stays true: every running process has exactly one struct proc in
 * state RUNNING holding its pid, and Core never blocks on an app: what it
 * sends an app is sent without waiting.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot_int.h"
#include "channel_int.h"
#include "console_int.h"
#include "core.h"
#include "debugger_int.h"
#include "devkeys_int.h"
#include "image.h"
#include "proc_int.h"
#include "sandbox.h"
#include "selftest_int.h"
#include "store.h"
#include "statedir_int.h"
#include "storage_int.h"
#include "sys_int.h"
#include "sysq_int.h"
#include "text_int.h"
#include "trace_int.h"
#include "tree_int.h"
#include "uids_int.h"

/* Whether this Core is a sanitizer build, which may then sandbox binaries
 * that carry a sanitizer runtime (see docs/sandbox.md). */
#if defined(__SANITIZE_ADDRESS__)
#define CORE_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORE_SANITIZER 1
#endif
#endif
#ifndef CORE_SANITIZER
#define CORE_SANITIZER 0
#endif

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008u /* Linux 6.3 */
#endif

/* Defaults when the manifest declares no limit. */
#define DEFAULT_APP_FILES    1024u
#define DEFAULT_SERVER_FILES 8192u
/* One process (no threads, no fork): what memory: bounds on sim is then the
 * whole app, as a device's cgroup bounds it (docs/sandbox.md). */
#define DEFAULT_PROCS 1u
/* storage: of an app with data_dir: true that does not say: the size of its
 * /data where Core can bound it, and its RLIMIT_FSIZE everywhere. */
#define DEFAULT_APP_STORAGE (16ull << 20)

#define CORE_NAME "core"
/* What STATUS says this platform is; the only platform Core runs on today
 * (ARCHITECTURE §2: the device platform comes with its seam). */
#define CORE_PLATFORM "sim"
#ifndef KOS_VERSION
#define KOS_VERSION "0"
#endif

enum proc_state {
    P_IDLE,    /* not started yet */
    P_RUNNING, /* has a pid */
    P_WAITING, /* ended; restarted when restart_at_us comes (restart_delay) */
    P_DONE,    /* ended and will not be restarted */
    P_FAILED,  /* exceeded its restart limit, or could not start */
};

/* How far Core has gone in stopping a running process. */
enum stop_stage {
    S_NONE,  /* not asked */
    S_ASKED, /* a STOP record on its control channel; SIGTERM when stop_at_us comes */
    S_TERM,  /* SIGTERM; SIGKILL when stop_at_us comes */
    S_KILL,  /* SIGKILL */
};

enum phase {
    PH_RUNNING,
    PH_STOP_APPS,    /* apps asked to stop; servers still up */
    PH_STOP_SERVERS, /* apps gone; servers asked to stop */
    PH_DONE,
};

struct proc {
    uint32_t idx;
    const struct kos_cm_proc *cm;
    const char *name;
    enum proc_state state;
    pid_t pid;
    int ctl; /* Core's end of the control socket, or -1 */
    int con; /* read end of the console pipe, or -1 */
    bool ready;
    bool ended_ok;   /* its last exit was normal (status 0) */
    int last_status; /* as from waitpid(), or -1 */
    uint32_t starts;
    uint32_t restarts;       /* this boot, asked for or not */
    uint32_t restarts_asked; /* of those, asked for by the managing app */
    /* A restart the managing app asked for (KOS__CTL_SYS_RESTART): p is
     * being stopped, and starts again when it has ended; the app that asked,
     * in the run it asked from, gets the result. */
    bool restart_asked;
    uint32_t restart_by;       /* the index of the app that asked */
    uint32_t restart_by_start; /* its `starts` then */
    uint32_t restart_id;       /* its request's id */
    const char **argv;
    const char **envp;
    struct kos__console_buf conbuf;
    int status_fd;          /* the sandbox init's report of the app's wait status, or -1 */
    enum stop_stage stop;   /* how far stopping it has gone */
    uint64_t stop_at_us;    /* when it goes further (S_ASKED, S_TERM) */
    bool stopped;           /* its last run ended because Core asked it to stop */
    uint64_t started_us;    /* when its current or last run started */
    uint64_t restart_at_us; /* P_WAITING: when it is restarted */
    uint32_t quick;         /* restarts in a row after runs shorter than restart_period_ms */
    char **ro_files;        /* what its root holds (loader and libraries) */
    size_t n_ro_files;
    bool sanitizer;                      /* its binary carries a sanitizer runtime */
    char *data_dir;                      /* host path of its /data (a directory or an
                                            image), or NULL */
    struct kos__storage store;           /* its own file system at /data, or mnt -1 */
    char data_err[512];                  /* why its /data cannot be given to it, or "" */
    char root_err[256];                  /* why its root could not be worked out, or "" */
    const struct kos_sandbox_prog *prog; /* its compiled seccomp filter */
    /* Between launch and exec (see launch_proc): */
    bool launching;
    bool held;      /* its app waits for Core to release it (launch_more) */
    bool cancelled; /* Core killed the start before its app ran */
    struct kos__launch launch;
    /* Its message servers and the server ends of its sockets to them, which
     * go to each server (with its grants) once both it and the server run;
     * -1 once handed over. */
    uint32_t n_srv;
    uint32_t srv[KOS__BOOT_MAX_DIRS];
    int srv_end[KOS__BOOT_MAX_DIRS];
    /* Message tracing (lib/trace_int.h): its ring, made at its first start
     * and kept for the next ones, and Core's reader of it; whether the
     * managing app switched tracing on for it (kept across its restarts,
     * not across a reboot), and whether what it recorded before tracing
     * went off is still to be read. */
    int trace_fd;
    struct kos__trace_shm *trace;
    struct kos__trace_reader trd;
    bool traced;
    bool trace_flush;
    /* Remote debugging (debugger_int.h): its debug agent, if one is
     * attached (0: none), and the app's host pid it traces. */
    pid_t dbg_pid;
    pid_t dbg_target;
};

/* One compiled app filter, shared by every process whose sandbox
 * kos_sandbox_same_prog() says gets it. */
struct filter {
    struct kos_sandbox sb; /* the sandbox it was compiled for */
    struct kos_sandbox_prog prog;
};

struct core {
    const struct kos_core_opts *opts;
    struct kos_image *img;
    const struct kos_cm *cm;
    struct kos__console con;
    struct proc *procs;
    uint32_t n;
    int sigfd;
    int timerfd;
    enum phase phase;
    bool system_ready;
    bool failed; /* the exit status will be KOS_CORE_EXIT_FAILED */
    uint64_t t0_us;
    uint64_t shutdown_us;           /* when the shutdown began */
    bool wait_noted;                /* said whom the shutdown waits for */
    bool ready_noted;               /* said what the boot waits for */
    uint64_t self_test_deadline_us; /* when an unreported self test fails; 0: none */
    uint8_t *ctlbuf;
    enum kos_sandbox_mode mode;
    struct kos_sandbox_host host;
    struct kos_sandbox_probe probe; /* started at the very beginning */
    bool probing;                   /* probe still to be finished */
    uint32_t layers;                /* what every sandbox gets */
    uid_t uid_base;
    struct kos__uids uids;   /* the host uid range held, when privileged */
    struct kos__statedir sd; /* the state directory */
    int images;              /* whether apps' /data are images: -1 not asked yet, 0, 1 */
    char no_images[256];     /* if not, why not */
    int *region_fds;         /* one sealed memfd per system memory region */
    uint32_t n_regions;
    struct filter *filters; /* the distinct app filters, compiled at setup */
    uint32_t n_filters;
    struct kos_sandbox_prog init_prog; /* the sandbox init's own filter */
    bool have_init_prog;
    struct kos_sandbox_prog gate_prog; /* the exec gate's filter (KOS_SB_EXEC_GATE) */
    bool have_gate_prog;
    uint32_t next_launch;     /* the next process of the table to launch at boot */
    bool booted;              /* every process was launched or failed to */
    struct kos__devkeys keys; /* the device key bundle (--keys), or empty */
    /* For the order of shutdown: row a (reach_words words) has bit b set when
     * app a uses app b, directly (it requests a protocol b publishes on the
     * same message server) or through other apps. Filled in at shutdown. */
    uint64_t *reach;
    uint32_t reach_words;
    enum kos__self_test_result self_test;
    char self_test_text[KOS__SELF_TEST_TEXT_MAX + 64]; /* what Core said of it */
    /* The system interface (lib/sys_int.h). */
    int manager;                /* the app with manages_system: true, or -1 */
    struct kos__sysq sysq;      /* the console lines on their way to it */
    bool sys_watch;             /* it asked for STATUS since it started: tell it of changes */
    bool sys_changed_due;       /* a change it has not been told of */
    uint64_t sys_print;         /* what the last STATUS it got was of (state_print()) */
    uint8_t *sysbuf;            /* console lines being sent to it */
    uint8_t *sysout;            /* replies to it */
    void *syspage;              /* the STATUS page being answered (struct sys_page) */
    struct kos__budget sys_log; /* Core's lines about its requests */
    /* Message tracing: the managing app subscribed to trace records (its
     * first TRACE_CREDIT), the records it lets Core send now, what was lost
     * since the last batch sent, when the rings are drained next, how many
     * apps are traced, and the batch being sent. */
    bool trace_sub;
    uint32_t trace_credit;
    uint64_t trace_lost;
    uint64_t trace_next_us;
    uint32_t n_traced;
    struct kos__trace_rec *trace_recs; /* KOS__SYS_TRACE_BATCH */
    struct kos__sys_traces *trace_out;
    bool reboot;          /* the shutdown under way ends in a boot (a soft reboot) */
    char reboot_why[384]; /* who asked, and why */
    uint32_t generation;  /* booted from the boot store (opts->store): this one; else 0 */
    uint32_t boots;       /* 1, and one more for each soft reboot */
    int64_t boot_wall_ns; /* the wall clock when this boot began */
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#define say(c, ...) kos__console_printf(&(c)->con, CORE_NAME, __VA_ARGS__)

static bool is_server(const struct proc *p)
{
    return p->cm->role == KOS_CM_ROLE_MSG_SERVER;
}

static const char *kind(const struct proc *p)
{
    return is_server(p) ? "message server" : "app";
}

static const char *restart_name(uint32_t r)
{
    switch (r) {
    case KOS_CM_RESTART_PERMANENT:
        return "permanent";
    case KOS_CM_RESTART_TRANSIENT:
        return "transient";
    default:
        return "temporary";
    }
}

/* Describes a waitpid() status: "exited with status 3", "killed by signal 9 (Killed)". */
static void describe_status(int status, char *buf, size_t len)
{
    if (status < 0)
        snprintf(buf, len, "none");
    else if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "stopped (status 0x%x)", status);
}

/* ---- building each process's argv and environment ---- */

static kos_status_t build_vectors(struct core *c, struct proc *p)
{
    const struct kos_cm_proc *cm = p->cm;

    p->argv = calloc((size_t)cm->n_args + 2, sizeof(char *));
    p->envp = calloc((size_t)cm->n_env + 1, sizeof(char *));
    if (!p->argv || !p->envp)
        return KOS_STATUS_NO_MEMORY;
    p->argv[0] = p->name;
    for (uint32_t i = 0; i < cm->n_args; i++)
        p->argv[i + 1] = kos_cm_strref(c->cm, cm->args_first + i);
    for (uint32_t i = 0; i < cm->n_env; i++)
        p->envp[i] = kos_cm_strref(c->cm, cm->env_first + i);
    return KOS_STATUS_OK;
}

/* ---- starting ---- */

/* Collects the distinct message servers process p has grants on, in the order
 * they first appear. Returns their count. */
static uint32_t servers_of(const struct core *c, const struct proc *p, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t g = 0; g < p->cm->n_grants; g++) {
        uint32_t s = kos_cm_grant(c->cm, p->cm->grants_first + g)->server;
        bool seen = false;
        for (uint32_t i = 0; i < n; i++)
            seen |= out[i] == s;
        if (!seen && n < KOS__BOOT_MAX_DIRS)
            out[n++] = s;
    }
    return n;
}

static void trace_tell(struct core *c, const struct proc *p, uint32_t s, bool on);
static int trace_prepare(struct core *c, struct proc *p);

/* Sends message server `s` the server end of app p's socket and p's grants
 * and, when p is traced, tells it so (after the grants: they make the
 * server know p). */
static kos_status_t send_grants(struct core *c, struct proc *p, uint32_t s, int fd)
{
    struct kos__client_grants *g;
    struct proc *srv = &c->procs[s];
    size_t len;
    kos_status_t st;

    if (srv->state != P_RUNNING || srv->ctl < 0)
        return KOS_STATUS_UNAVAILABLE;
    g = calloc(1, sizeof(*g));
    if (!g)
        return KOS_STATUS_NO_MEMORY;
    g->app_id = p->idx;
    snprintf(g->app, sizeof(g->app), "%s", p->name);
    for (uint32_t i = 0; i < p->cm->n_grants; i++) {
        const struct kos_cm_grant *gr = kos_cm_grant(c->cm, p->cm->grants_first + i);
        const char *proto = kos_cm_str(c->cm, gr->protocol);
        if (gr->server != s)
            continue;
        if (gr->kind == KOS_CM_GRANT_PUBLISH && g->n_publish < KOS__GRANTS_MAX)
            g->publish[g->n_publish++] = proto;
        else if (gr->kind == KOS_CM_GRANT_REQUEST && g->n_request < KOS__GRANTS_MAX)
            g->request[g->n_request++] = proto;
    }
    st = kos__grants_encode(g, c->ctlbuf, KOS__CTL_MAX - sizeof(struct kos__ctl_hdr), &len);
    if (st == KOS_STATUS_OK)
        st = kos__ctl_send(srv->ctl, KOS__CTL_ADD_CLIENT, c->ctlbuf, len, fd);
    free(g);
    if (st == KOS_STATUS_OK && p->traced)
        trace_tell(c, p, s, true);
    return st;
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/*
 * Appends the device key bundle to the boot record of p, the app with
 * device_keys: true, after its n manifest resources: each key is a read-only
 * device-kind resource named as in the bundle's index. Core keeps the
 * descriptors (owned[] false), so a restarted key_store gets them again.
 * Returns 0, or -1 after saying why.
 */
static int add_device_keys(struct core *c, struct proc *p, struct kos__boot *boot, int first,
                           int *fds, bool *owned, uint32_t n)
{
    if (n + c->keys.n > KOS__BOOT_MAX_RES) {
        say(c, "cannot start %s '%s': %u devices and regions and %zu device keys, at most %u",
            kind(p), p->name, n, c->keys.n, KOS__BOOT_MAX_RES);
        return -1;
    }
    for (size_t k = 0; k < c->keys.n; k++) {
        const struct kos__devkey *key = &c->keys.e[k];
        uint32_t i = n + (uint32_t)k;

        for (uint32_t j = 0; j < n; j++) {
            if (!strcmp(boot->res[j].name, key->name)) {
                say(c,
                    "cannot start %s '%s': device key '%s' has the name of a device or region "
                    "its manifest entry grants",
                    kind(p), p->name, key->name);
                return -1;
            }
        }
        fds[i] = key->fd;
        owned[i] = false;
        snprintf(boot->res[i].name, sizeof(boot->res[i].name), "%s", key->name);
        boot->res[i].kind = KOS_CM_RES_DEVICE;
        boot->res[i].access = KOS_CM_ACCESS_READ;
        boot->res[i].fd = first + (int32_t)i;
        boot->res[i].size = 0;
    }
    boot->n_res = n + (uint32_t)c->keys.n;
    return 0;
}

/*
 * Starts process p: console pipe, control socket with its boot record, and
 * one socketpair per message server it uses. On failure logs why, leaves no
 * descriptor behind and returns the status.
 */
/*
 * Opens process p's devices and memory regions, in manifest order, for its
 * boot record (fds numbered from `first`). fds[i] is what the process gets;
 * owned[i] says whether Core must close it after the start. Returns the
 * count, or -1 after saying why.
 */
static int open_resources(struct core *c, struct proc *p, struct kos__boot *boot, int first,
                          int *fds, bool *owned, uint64_t *shared)
{
    uint32_t n = p->cm->n_res;

    *shared = 0;
    if (n > KOS__BOOT_MAX_RES) {
        say(c, "cannot start %s '%s': %u devices and regions, at most %u", kind(p), p->name, n,
            KOS__BOOT_MAX_RES);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct kos_cm_res *r = kos_cm_res(c->cm, p->cm->res_first + i);
        const char *name = kos_cm_str(c->cm, r->name);
        bool w = r->access & KOS_CM_ACCESS_WRITE, rd = r->access & KOS_CM_ACCESS_READ;
        int fd = -1;

        owned[i] = true;
        if (r->kind == KOS_CM_RES_DEVICE) {
            const char *path = kos_cm_str(c->cm, r->target);
            int mode = w && rd ? O_RDWR : w ? O_WRONLY : O_RDONLY;
            fd = open(path, mode | O_CLOEXEC | O_NOCTTY);
            if (fd < 0) {
                say(c, "cannot start %s '%s': device '%s' (%s): %s", kind(p), p->name, name, path,
                    strerror(errno));
                goto out_close;
            }
            boot->res[i].size = 0;
        } else {
            const struct kos_cm_region *reg = kos_cm_region(c->cm, r->target);
            int rfd = c->region_fds[r->target];
            if (w) {
                fd = rfd;
                owned[i] = false;
            } else {
                /* A new open file description that is read-only: mmap
                 * PROT_WRITE and write() are refused on it, while the
                 * writers keep theirs. */
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/fd/%d", rfd);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                    say(c, "cannot start %s '%s': read-only view of region '%s': %s", kind(p),
                        p->name, kos_cm_str(c->cm, reg->name), strerror(errno));
                    goto out_close;
                }
            }
            boot->res[i].size = reg->size;
            *shared += reg->size;
        }
        fds[i] = fd;
        snprintf(boot->res[i].name, sizeof(boot->res[i].name), "%s", name);
        boot->res[i].kind = r->kind;
        boot->res[i].access = r->access & 3u;
        boot->res[i].fd = first + (int32_t)i;
        continue;
    out_close:
        for (uint32_t j = 0; j < i; j++)
            if (owned[j])
                close(fds[j]);
        return -1;
    }
    boot->n_res = n;
    if ((p->cm->flags & KOS_CM_PROC_DEVICE_KEYS) &&
        add_device_keys(c, p, boot, first, fds, owned, n) < 0) {
        for (uint32_t j = 0; j < n; j++)
            if (owned[j])
                close(fds[j]);
        return -1;
    }
    return (int)boot->n_res;
}

/* The largest file process p may write (RLIMIT_FSIZE): its storage when it
 * has a data directory, and at least its call channels (memfds it makes)
 * and its regions (`shared` bytes, which it may write with write()). */
static uint64_t max_file_bytes(const struct proc *p, uint64_t shared)
{
    uint64_t n = KOS__CHAN_SIZE > shared ? KOS__CHAN_SIZE : shared;

    if (p->cm->flags & KOS_CM_PROC_DATA_DIR) {
        uint64_t storage = p->cm->storage ? p->cm->storage : DEFAULT_APP_STORAGE;
        if (storage > n)
            n = storage;
    }
    return n;
}

/* The host uid and gid of process p (Core's own when it is unprivileged). */
static uid_t host_uid(const struct core *c, const struct proc *p)
{
    return c->host.privileged ? c->uid_base + p->idx : c->host.uid;
}

static gid_t host_gid(const struct core *c, const struct proc *p)
{
    return c->host.privileged ? (gid_t)(c->uid_base + p->idx) : c->host.gid;
}

/* Fills the sandbox of process p. */
static void fill_sandbox(struct core *c, struct proc *p, struct kos_sandbox *sb, uint64_t shared)
{
    bool srv = is_server(p);

    *sb = (struct kos_sandbox){
        .name = p->name,
        .layers = c->layers,
        .landlock_abi = c->host.landlock_abi,
        .host_uid = host_uid(c, p),
        .host_gid = host_gid(c, p),
        .privileged = c->host.privileged,
        .mnt_dir = c->sd.root,
        .ro_files = (const char *const *)p->ro_files,
        .n_ro_files = p->n_ro_files,
        .data_dir = p->data_dir,
        .data_mnt = -1,
        .net_host = !srv && (p->cm->flags & KOS_CM_PROC_NET_HOST),
        .proc = p->sanitizer,
        .sanitizer = p->sanitizer,
        .memory = p->cm->memory,
        .shared_bytes = shared,
        .max_procs = p->cm->max_procs ? p->cm->max_procs : DEFAULT_PROCS,
        .max_file_bytes = max_file_bytes(p, shared),
        .max_files = p->cm->max_files ? p->cm->max_files
                     : srv            ? DEFAULT_SERVER_FILES
                                      : DEFAULT_APP_FILES,
        .lock_bytes =
            !srv && (p->cm->flags & KOS_CM_PROC_DEVICE_KEYS) ? KOS_SANDBOX_KEYS_LOCK_BYTES : 0,
        .app_prog = p->prog,
        .init_prog = c->have_init_prog ? &c->init_prog : NULL,
        .gate_prog = c->have_gate_prog ? &c->gate_prog : NULL,
    };
}

/* Hands each message server of process p, once both run, the server end of
 * p's socket to it with p's grants; an end whose server will not run is
 * closed. Nothing happens for an end whose server is still starting. */
static void connect_proc(struct core *c, struct proc *p)
{
    if (p->state != P_RUNNING)
        return;
    for (uint32_t i = 0; i < p->n_srv; i++) {
        struct proc *srv = &c->procs[p->srv[i]];
        if (p->srv_end[i] < 0 || srv->launching)
            continue;
        kos_status_t gst = send_grants(c, p, p->srv[i], p->srv_end[i]);
        if (gst)
            say(c, "cannot connect app '%s' to message server '%s': %s", p->name, srv->name,
                kos_status_str(gst));
        close(p->srv_end[i]);
        p->srv_end[i] = -1;
    }
}

/* Closes the server ends of process p's sockets not handed over yet. */
static void drop_ends(struct proc *p)
{
    close_fds(p->srv_end, p->n_srv);
    for (uint32_t i = 0; i < p->n_srv; i++)
        p->srv_end[i] = -1;
    p->n_srv = 0;
}

/* Closes what a start that did not happen left of process p. */
static void drop_start(struct proc *p)
{
    drop_ends(p);
    if (p->con >= 0)
        close(p->con);
    if (p->ctl >= 0)
        close(p->ctl);
    p->con = p->ctl = -1;
}

/* Forgets a start Core killed before its app ran (reaped already or not):
 * the process stays "not started". */
static void abandon_start(struct proc *p, bool reaped)
{
    kos__proc_abandon(&p->launch, reaped);
    drop_start(p);
    p->launching = p->held = p->cancelled = false;
}

/*
 * Launches process p: console pipe, control socket with its boot record, and
 * one socketpair per message server it uses; then the child is created and
 * let go, and Core keeps only its own ends (p->con, p->ctl, p->srv_end). The
 * child's first instruction may not have run yet: finish_proc() learns
 * whether it did. On failure logs why, leaves no descriptor behind and
 * returns the status.
 */
static kos_status_t launch_proc(struct core *c, struct proc *p, bool hold)
{
    uint32_t n_srv = is_server(p) ? 0 : servers_of(c, p, p->srv);
    int app_ends[KOS__BOOT_MAX_DIRS];
    int res_fds[KOS__BOOT_MAX_RES + 1]; /* and the tracing ring */
    bool res_owned[KOS__BOOT_MAX_RES + 1];
    int n_res = 0;
    uint64_t shared = 0;
    int con[2] = {-1, -1}, ctl[2] = {-1, -1};
    struct kos__boot boot;
    struct kos__spawn sp;
    struct kos__spawn_err why = {0, 0};
    struct kos_sandbox sb;
    size_t len;
    int err = 0;
    kos_status_t st;

    for (uint32_t i = 0; i < KOS__BOOT_MAX_DIRS; i++)
        app_ends[i] = p->srv_end[i] = -1;
    p->n_srv = n_srv;
    if (c->mode != KOS_SANDBOX_NONE && p->root_err[0]) {
        say(c, "cannot start %s '%s': its root cannot be built: %s", kind(p), p->name, p->root_err);
        return KOS_STATUS_NOT_FOUND;
    }
    if (p->data_err[0]) {
        say(c, "cannot start %s '%s': %s", kind(p), p->name, p->data_err);
        return KOS_STATUS_NOT_FOUND;
    }
    memset(&boot, 0, sizeof(boot));
    boot.app_id = p->idx;
    boot.role = is_server(p) ? KOS__ROLE_MSG_SERVER : KOS__ROLE_APP;
    snprintf(boot.name, sizeof(boot.name), "%s", p->name);
    boot.n_dirs = n_srv;

    st = KOS_STATUS_IO;
    if (pipe2(con, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
        err = errno;
        goto out_close;
    }
    for (uint32_t i = 0; i < n_srv; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
            err = errno;
            goto out_close;
        }
        app_ends[i] = sv[0];
        p->srv_end[i] = sv[1];
        snprintf(boot.dirs[i].name, sizeof(boot.dirs[i].name), "%s", c->procs[p->srv[i]].name);
        boot.dirs[i].fd = (int32_t)(KOS__CTL_FD + 1 + i);
    }
    n_res =
        open_resources(c, p, &boot, (int)(KOS__CTL_FD + 1 + n_srv), res_fds, res_owned, &shared);
    if (n_res < 0) {
        n_res = 0;
        st = KOS_STATUS_NOT_FOUND;
        goto out_quiet;
    }
    /* Its tracing ring, after its resources (Core keeps the descriptor). */
    int tfd = trace_prepare(c, p);
    if (tfd >= 0) {
        res_fds[n_res] = tfd;
        res_owned[n_res] = false;
        boot.trace_fd = (int32_t)(KOS__CTL_FD + 1 + n_srv + (uint32_t)n_res);
        n_res++;
    }
    /* The app's settings (config:), as the manifest gives them. */
    boot.n_config = p->cm->n_config < KOS__BOOT_MAX_CONFIG ? p->cm->n_config : KOS__BOOT_MAX_CONFIG;
    for (uint32_t i = 0; i < boot.n_config; i++)
        boot.config[i] = kos_cm_strref(c->cm, p->cm->config_first + i);
    st = kos__boot_encode(&boot, c->ctlbuf, KOS__CTL_MAX, &len);
    if (st == KOS_STATUS_OK)
        st = kos__ctl_send(ctl[0], KOS__CTL_BOOT, c->ctlbuf, len, -1);
    if (st)
        goto out_close;

    if (c->mode != KOS_SANDBOX_NONE) {
        fill_sandbox(c, p, &sb, shared);
        /* Its file system, cloned for this start: the sandbox moves the
         * clone to /data, and Core keeps the original. */
        if (p->store.mnt >= 0 && (sb.data_mnt = kos__storage_clone(&p->store)) < 0) {
            say(c, "cannot start %s '%s': its /data (%s): %s", kind(p), p->name, p->data_dir,
                strerror(errno));
            st = KOS_STATUS_IO;
            goto out_quiet;
        }
    }
    sp = (struct kos__spawn){
        .exe_fd = kos_image_binary_fd(c->img, p->idx),
        .argv = p->argv,
        .envp = p->envp,
        .console_fd = con[1],
        .ctl_fd = ctl[1],
        .dir_fds = app_ends,
        .n_dir_fds = n_srv,
        .res_fds = res_fds,
        .n_res_fds = (size_t)n_res,
        .sb = c->mode != KOS_SANDBOX_NONE ? &sb : NULL,
        .hold = hold,
    };
    st = kos__proc_launch(&sp, &p->launch, &why);
    if (c->mode != KOS_SANDBOX_NONE && sb.data_mnt >= 0)
        close(sb.data_mnt); /* the child has its own */
    if (st) {
        if (why.step && why.step != KOS_SB_STEP_EXEC) {
            say(c, "cannot start %s '%s': sandbox: %s: %s", kind(p), p->name,
                kos_sandbox_step_name(why.step), strerror(why.err));
            goto out_quiet;
        }
        err = why.err;
        goto out_close;
    }
    /* The child holds its own copies of everything it was given. */
    for (int i = 0; i < n_res; i++)
        if (res_owned[i])
            close(res_fds[i]);
    close_fds(app_ends, n_srv);
    close(con[1]);
    close(ctl[1]);
    /* Core reads both while the process starts, and never blocks on them. */
    fcntl(con[0], F_SETFL, O_NONBLOCK);
    p->con = con[0];
    p->ctl = ctl[0];
    p->ready = false;
    p->launching = true;
    p->held = sp.hold;
    p->cancelled = false;
    return KOS_STATUS_OK;

out_close:
    say(c, "cannot start %s '%s': %s%s%s", kind(p), p->name, kos_status_str(st), err ? ": " : "",
        err ? strerror(err) : "");
out_quiet:
    for (int i = 0; i < n_res; i++)
        if (res_owned[i])
            close(res_fds[i]);
    close_fds(app_ends, n_srv);
    close_fds(con, 2);
    close_fds(ctl, 2);
    p->con = p->ctl = -1;
    drop_start(p);
    return st;
}

/* Learns whether launched process p runs its binary (blocking until it
 * does or fails, unless its errpipe is known to be ready). On success p is
 * RUNNING; otherwise its start is undone, why is logged and the status
 * returned. Connecting it to its message servers is connect_proc()'s. */
static kos_status_t finish_proc(struct core *c, struct proc *p)
{
    struct kos__spawn_err why;
    int status_fd = -1;
    kos_status_t st;

    p->launching = false;
    p->held = false;
    st = kos__proc_finish(&p->launch, &p->pid, &status_fd, &why);
    if (st) {
        if (why.step && why.step != KOS_SB_STEP_EXEC)
            say(c, "cannot start %s '%s': sandbox: %s: %s", kind(p), p->name,
                kos_sandbox_step_name(why.step), strerror(why.err));
        else
            say(c, "cannot start %s '%s': %s%s%s", kind(p), p->name, kos_status_str(st),
                why.err ? ": " : "", why.err ? strerror(why.err) : "");
        drop_start(p);
        return st;
    }
    p->status_fd = status_fd;
    p->state = P_RUNNING; /* it may have reported ready already */
    p->starts++;
    p->started_us = now_us();
    p->stop = S_NONE;
    return KOS_STATUS_OK;
}

/* Starts process p and waits until it runs (restarts). */
static kos_status_t start_proc(struct core *c, struct proc *p)
{
    kos_status_t st = launch_proc(c, p, false);

    if (st == KOS_STATUS_OK)
        st = finish_proc(c, p);
    if (st == KOS_STATUS_OK)
        connect_proc(c, p);
    return st;
}

/* ---- shutdown ---- */

/* How long into a shutdown Core says whom it still waits for, and how long
 * after boot it says what keeps the system from being ready. */
#define WAIT_NOTE_US  1000000u
#define READY_NOTE_US 5000000u

static uint64_t grace_us(const struct core *c)
{
    return (uint64_t)(c->opts->grace_ms ? c->opts->grace_ms : 3000) * 1000u;
}

static bool is_alive(const struct proc *p)
{
    return p->state == P_RUNNING || p->state == P_WAITING || p->launching;
}

/* Arms the timer for the earliest thing Core must do at a time: the next
 * step in stopping a process, a restart after its delay, a note on whom a
 * shutdown or the boot still waits for. Disarms it when there is none. */
static void arm_timer(struct core *c)
{
    uint64_t next = UINT64_MAX, now = now_us();
    struct itimerspec its = {0};

    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (p->state == P_RUNNING && (p->stop == S_ASKED || p->stop == S_TERM) &&
            p->stop_at_us < next)
            next = p->stop_at_us;
        if (p->state == P_WAITING && p->restart_at_us < next)
            next = p->restart_at_us;
    }
    if (c->phase != PH_RUNNING && c->phase != PH_DONE && !c->wait_noted &&
        c->shutdown_us + WAIT_NOTE_US < next)
        next = c->shutdown_us + WAIT_NOTE_US;
    if (c->phase == PH_RUNNING && !c->system_ready && !c->ready_noted &&
        c->t0_us + READY_NOTE_US < next)
        next = c->t0_us + READY_NOTE_US;
    if (next != UINT64_MAX) {
        uint64_t us = next > now ? next - now : 1; /* a zero value would disarm it */
        its.it_value.tv_sec = (time_t)(us / 1000000u);
        its.it_value.tv_nsec = (long)(us % 1000000u) * 1000L;
    }
    timerfd_settime(c->timerfd, 0, &its, NULL);
}

/* Asks running process p to stop: a STOP record on its control channel,
 * which libkos turns into a clean return (kos_endpoint_serve(),
 * kos_app_stopping()). SIGTERM follows only if it has not stopped halfway
 * through its grace period, SIGKILL at its end. A process that closed its
 * control channel, or does not read it (it is full), gets SIGTERM at once:
 * that is then the only way to ask. */
static void debug_end(struct core *c, struct proc *p, const char *why);

static void ask_stop(struct core *c, struct proc *p)
{
    uint64_t now = now_us();

    debug_end(c, p, "the app is being stopped");
    if (p->ctl >= 0 && kos__ctl_send_nowait(p->ctl, KOS__CTL_STOP, NULL, 0) == KOS_STATUS_OK) {
        p->stop = S_ASKED;
        p->stop_at_us = now + grace_us(c) / 2;
        return;
    }
    kill(p->pid, SIGTERM);
    p->stop = S_TERM;
    p->stop_at_us = now + grace_us(c);
}

/* Whether a process of the role runs, or is starting and may soon. */
static bool any_running(const struct core *c, uint32_t role)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (is_alive(&c->procs[i]) && c->procs[i].cm->role == role)
            return true;
    return false;
}

/* Whether the manifest lets process a request a protocol that process b
 * publishes on the same message server. */
static bool uses(const struct kos_cm *cm, const struct kos_cm_proc *a, const struct kos_cm_proc *b)
{
    for (uint32_t i = 0; i < a->n_grants; i++) {
        const struct kos_cm_grant *want = kos_cm_grant(cm, a->grants_first + i);
        if (want->kind != KOS_CM_GRANT_REQUEST)
            continue;
        const char *proto = kos_cm_str(cm, want->protocol);
        for (uint32_t j = 0; j < b->n_grants; j++) {
            const struct kos_cm_grant *g = kos_cm_grant(cm, b->grants_first + j);
            if (g->kind == KOS_CM_GRANT_PUBLISH && g->server == want->server &&
                !strcmp(kos_cm_str(cm, g->protocol), proto))
                return true;
        }
    }
    return false;
}

static bool reaches(const struct core *c, uint32_t a, uint32_t b)
{
    return (c->reach[(size_t)a * c->reach_words + b / 64] >> (b % 64)) & 1u;
}

/* Fills c->reach: who uses whom, then (Warshall) who uses whom through
 * others. */
static void find_reach(struct core *c)
{
    uint32_t w = c->reach_words;

    for (uint32_t a = 0; a < c->n; a++)
        for (uint32_t b = 0; b < c->n; b++)
            if (a != b && c->procs[a].cm->role == KOS_CM_ROLE_APP &&
                c->procs[b].cm->role == KOS_CM_ROLE_APP &&
                uses(c->cm, c->procs[a].cm, c->procs[b].cm))
                c->reach[(size_t)a * w + b / 64] |= UINT64_C(1) << (b % 64);
    for (uint32_t k = 0; k < c->n; k++)
        for (uint32_t i = 0; i < c->n; i++)
            if (reaches(c, i, k))
                for (uint32_t j = 0; j < w; j++)
                    c->reach[(size_t)i * w + j] |= c->reach[(size_t)k * w + j];
}

/* Whether app p may be asked to stop yet: no app still alive uses it,
 * directly or through others, unless p uses that app too (a cycle, whose
 * apps are asked together). */
static bool may_stop(const struct core *c, const struct proc *p)
{
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *q = &c->procs[i];
        if (q != p && is_alive(q) && reaches(c, q->idx, p->idx) && !reaches(c, p->idx, q->idx))
            return false;
    }
    return true;
}

/* Moves the shutdown on as far as it can go now: apps are asked to stop
 * once the apps that use them have ended, message servers once every app
 * has. */
static void advance_shutdown(struct core *c)
{
    if (c->phase == PH_STOP_APPS) {
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->state == P_RUNNING && p->stop == S_NONE && p->cm->role == KOS_CM_ROLE_APP &&
                may_stop(c, p))
                ask_stop(c, p);
        }
        if (!any_running(c, KOS_CM_ROLE_APP)) {
            c->phase = PH_STOP_SERVERS;
            for (uint32_t i = 0; i < c->n; i++)
                if (c->procs[i].state == P_RUNNING && c->procs[i].stop == S_NONE)
                    ask_stop(c, &c->procs[i]);
        }
        arm_timer(c);
    }
    if (c->phase == PH_STOP_SERVERS && !any_running(c, KOS_CM_ROLE_MSG_SERVER))
        c->phase = PH_DONE;
}

static uint32_t list_awaited(const struct core *c, bool (*pending)(const struct proc *), char *buf,
                             size_t len);
static bool pending_ready(const struct proc *p);

static void begin_shutdown(struct core *c, const char *why)
{
    if (c->phase != PH_RUNNING)
        return;
    char list[1024];

    say(c, "shutting down: %s", why);
    if (!c->system_ready && list_awaited(c, pending_ready, list, sizeof(list)))
        say(c, "system '%s' was never ready: it was waiting for %s",
            kos_cm_str(c->cm, c->cm->hdr->system_name), list);
    c->phase = PH_STOP_APPS;
    c->shutdown_us = now_us();
    /* An app waiting out its restart delay stays down. */
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->state == P_WAITING) {
            p->state = P_DONE;
            say(c, "app '%s' is not restarted: the system is stopping", p->name);
        }
    }
    find_reach(c);
    advance_shutdown(c);
}

/* Writes "app 'a' (running, not ready), message server 'm' (stopping)" for
 * the processes that `pending` says are still awaited. Returns how many. */
static uint32_t list_awaited(const struct core *c, bool (*pending)(const struct proc *), char *buf,
                             size_t len)
{
    uint32_t n = 0;
    size_t o = 0;

    buf[0] = '\0';
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (!pending(p))
            continue;
        const char *what = "not started";
        if (p->launching)
            what = "starting";
        else if (p->state == P_WAITING)
            what = "waiting to restart";
        else if (p->state == P_RUNNING && p->stop != S_NONE)
            what = "stopping";
        else if (p->state == P_RUNNING && c->phase != PH_RUNNING)
            what = "to be asked once the apps that use it have stopped";
        else if (p->state == P_RUNNING)
            what = p->ready ? "running" : "running, not ready";
        if (o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s '%s' (%s)", n ? ", " : "", kind(p),
                                  p->name, what);
        n++;
    }
    if (o >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return n;
}

static bool pending_stop(const struct proc *p)
{
    return p->state == P_RUNNING || p->launching;
}

static bool pending_ready(const struct proc *p)
{
    return !p->ready && p->state != P_DONE && p->state != P_FAILED;
}

static void restart_now(struct core *c, struct proc *p);

/* The timer: the next step in stopping each process whose time has come,
 * restarts whose delay is over, and the notes on whom Core waits for. */
static void on_timer(struct core *c)
{
    uint64_t exp, now = now_us();
    char list[1024];

    if (read(c->timerfd, &exp, sizeof(exp)) < 0)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->state == P_RUNNING && p->stop == S_ASKED && p->stop_at_us <= now) {
            say(c, "%s '%s' has not stopped %" PRIu64 " ms after it was asked; sending SIGTERM",
                kind(p), p->name, grace_us(c) / 2000);
            kill(p->pid, SIGTERM);
            p->stop = S_TERM;
            p->stop_at_us = now + grace_us(c) - grace_us(c) / 2;
        } else if (p->state == P_RUNNING && p->stop == S_TERM && p->stop_at_us <= now) {
            say(c, "%s '%s' did not stop within the grace period (%" PRIu64 " ms); killing it",
                kind(p), p->name, grace_us(c) / 1000);
            kill(p->pid, SIGKILL);
            p->stop = S_KILL;
        } else if (p->state == P_WAITING && p->restart_at_us <= now) {
            restart_now(c, p);
        }
    }
    if (c->phase != PH_RUNNING && c->phase != PH_DONE && !c->wait_noted &&
        now >= c->shutdown_us + WAIT_NOTE_US) {
        c->wait_noted = true;
        if (list_awaited(c, pending_stop, list, sizeof(list)))
            say(c,
                "stopping: waiting for %s; each has %" PRIu64 " ms from when it was asked; "
                "press Ctrl-C again to kill everything now",
                list, grace_us(c) / 1000);
    }
    if (c->phase == PH_RUNNING && !c->system_ready && !c->ready_noted &&
        now >= c->t0_us + READY_NOTE_US) {
        c->ready_noted = true;
        if (list_awaited(c, pending_ready, list, sizeof(list)))
            say(c, "not ready after %u s: waiting for %s", READY_NOTE_US / 1000000u, list);
    }
    arm_timer(c);
}

/* ---- readiness and the state summary ---- */

/* Tells the boot store how this boot's generation did: a pass makes it the
 * good one; a failure makes the next boot fall back, and reboots into it
 * now while the system runs. */
static void store_settle(struct core *c, bool passed)
{
    char note[256], err[512];

    if (!c->opts->store)
        return;
    if (kos_store_settle(c->opts->store, c->generation, passed, note, sizeof(note), err,
                         sizeof(err))) {
        say(c, "cannot record the self test in the boot store: %s", err);
        return;
    }
    if (!note[0])
        return;
    say(c, "boot store: %s", note);
    if (!passed && c->phase == PH_RUNNING && !c->reboot) {
        snprintf(c->reboot_why, sizeof(c->reboot_why),
                 "generation %u failed its self test; rebooting into the last good one",
                 c->generation);
        c->reboot = true;
        begin_shutdown(c, c->reboot_why);
    }
}

/* The system is ready when every process is ready or has ended normally,
 * or has failed for good (failed to start, reached its restart limit, or
 * ended abnormally and is not restarted): the line then names those. */
static void check_ready(struct core *c)
{
    char failed[512];
    size_t o = 0;
    uint32_t n_failed = 0;

    if (c->system_ready || c->phase != PH_RUNNING)
        return;
    failed[0] = '\0';
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (p->ready || (p->state == P_DONE && p->ended_ok))
            continue;
        if (p->state != P_FAILED && p->state != P_DONE)
            return;
        if (o < sizeof(failed))
            o += (size_t)snprintf(failed + o, sizeof(failed) - o, "%s'%s'", n_failed ? ", " : "",
                                  p->name);
        n_failed++;
    }
    c->system_ready = true;
    uint64_t us = now_us() - c->t0_us;
    bool self_tested = false;
    for (uint32_t i = 0; i < c->n; i++)
        self_tested |= (c->procs[i].cm->flags & KOS_CM_PROC_SELF_TEST) != 0;
    if (!n_failed)
        say(c, "system '%s' ready: %u processes in %" PRIu64 ".%03" PRIu64 " ms",
            kos_cm_str(c->cm, c->cm->hdr->system_name), c->n, us / 1000, us % 1000);
    else
        say(c,
            "system '%s' ready without %u failed app%s (%s): %u of %u processes in %" PRIu64
            ".%03" PRIu64 " ms",
            kos_cm_str(c->cm, c->cm->hdr->system_name), n_failed, n_failed == 1 ? "" : "s", failed,
            c->n - n_failed, c->n, us / 1000, us % 1000);
    /* Without a self-test app, a system ready with every app is what
     * passing means to the boot store. */
    if (!self_tested && !n_failed)
        store_settle(c, true);
}

/* The state column of the summary, as the system interface reports it
 * (enum kos__sys_state, whose words kos__sys_state_name() gives). */
static uint32_t sys_state(const struct proc *p)
{
    switch (p->state) {
    case P_IDLE:
        return KOS__SYS_NOT_STARTED;
    case P_RUNNING:
        return p->ready ? KOS__SYS_RUNNING_READY : KOS__SYS_RUNNING_NOT_READY;
    case P_WAITING:
        return KOS__SYS_WAITING;
    case P_DONE:
        return p->stopped ? KOS__SYS_STOPPED : KOS__SYS_ENDED;
    default:
        return KOS__SYS_FAILED;
    }
}

static void print_summary(struct core *c)
{
    say(c, "summary: %u processes", c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        char how[KOS__SYS_EXIT_MAX], asked[48] = "";
        describe_status(p->last_status, how, sizeof(how));
        if (p->restarts_asked)
            snprintf(asked, sizeof(asked), " (%u asked for)", p->restarts_asked);
        say(c, "  %-16s %-14s %-18s restarts %u%s, last exit: %s", p->name, kind(p),
            kos__sys_state_name(sys_state(p)), p->restarts, asked, how);
    }
}

/* ---- the self test ---- */

/* Settles this boot's self test: says the verdict and records it in the
 * state directory. Only the first verdict of a boot counts. */
static unsigned self_test_timeout_ms(const struct core *c)
{
    return c->opts->self_test_timeout_ms ? c->opts->self_test_timeout_ms : 60000;
}

static void self_test_settle(struct core *c, const struct proc *p,
                             enum kos__self_test_result result, uint32_t checks, uint32_t failed,
                             const char *summary)
{
    struct kos__self_test_record rec = {
        .system = kos_cm_str(c->cm, c->cm->hdr->system_name),
        .manifest = kos_image_manifest_digest(c->img),
        .signer = kos_image_signer(c->img),
        .app = p->name,
        .result = result,
        .checks = checks,
        .failed = failed,
        .summary = summary,
    };
    char err[512];

    if (c->self_test != KOS__SELF_TEST_NONE)
        return;
    c->self_test = result;
    /* What Core says of it is also what the system interface reports. */
    char *t = c->self_test_text;
    size_t n = sizeof(c->self_test_text);
    if (result == KOS__SELF_TEST_RESULT_PASSED)
        snprintf(t, n, "passed: %s (%u checks)", summary, checks);
    else if (result == KOS__SELF_TEST_RESULT_FAILED && checks)
        snprintf(t, n, "failed: %s (%u of %u checks failed)", summary, failed, checks);
    else
        snprintf(t, n, "%s: %s", kos__self_test_result_name(result), summary);
    say(c, "self test %s", t);
    if (strlen(t) >= KOS__SELF_TEST_TEXT_MAX) /* the interface's bound, whole characters */
        t[kos__text_boundary(t, KOS__SELF_TEST_TEXT_MAX - 1)] = '\0';
    if (kos__self_test_write(c->sd.fd, &rec, err, sizeof(err)))
        say(c, "cannot record the self test: %s", err);
    else
        say(c, "self test recorded in %s/%s", c->sd.path, KOS__SELF_TEST_FILE);
    if (result == KOS__SELF_TEST_RESULT_PASSED || result == KOS__SELF_TEST_RESULT_FAILED)
        store_settle(c, result == KOS__SELF_TEST_RESULT_PASSED);
}

/* The self test's deadline passed without a report: it failed. The app goes
 * on running; a report it sends later is ignored, as a second one is. */
static void self_test_deadline(struct core *c)
{
    char why[160];

    c->self_test_deadline_us = 0;
    if (c->self_test != KOS__SELF_TEST_NONE || c->phase != PH_RUNNING)
        return;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].cm->flags & KOS_CM_PROC_SELF_TEST) {
            snprintf(why, sizeof(why), "app '%s' did not report within %u ms of boot",
                     c->procs[i].name, self_test_timeout_ms(c));
            self_test_settle(c, &c->procs[i], KOS__SELF_TEST_RESULT_FAILED, 0, 0, why);
            return;
        }
}

/* A SELF_TEST record from process p, already received into c->ctlbuf.
 * Returns false when p may not report (its channel is then closed). */
static bool on_self_test(struct core *c, struct proc *p, size_t len)
{
    struct kos__self_test r;

    if (!(p->cm->flags & KOS_CM_PROC_SELF_TEST)) {
        say(c,
            "%s '%s' sent a self-test report, but its manifest entry does not say "
            "reports_self_test: true; ignoring it and closing its control channel",
            kind(p), p->name);
        return false;
    }
    if (kos__self_test_decode(c->ctlbuf, len, &r)) {
        say(c, "app '%s' sent a malformed self-test report; closing its control channel", p->name);
        if (c->self_test == KOS__SELF_TEST_NONE)
            self_test_settle(c, p, KOS__SELF_TEST_RESULT_FAILED, 0, 0,
                             "the self-test report was malformed");
        return false;
    }
    if (c->self_test != KOS__SELF_TEST_NONE) {
        say(c, "app '%s' reported the self test again; this boot's verdict stands (%s)", p->name,
            kos__self_test_result_name(c->self_test));
        return true;
    }
    self_test_settle(c, p,
                     r.verdict == KOS__SELF_TEST_PASSED ? KOS__SELF_TEST_RESULT_PASSED
                                                        : KOS__SELF_TEST_RESULT_FAILED,
                     r.checks, r.failed, r.summary);
    return true;
}

/* ---- consoles ---- */

/* Reports the lines of process p's that its console budget dropped, if a
 * report is due (see kos__console_drops); `final` when p has ended. */
static void report_drops(struct core *c, struct proc *p, bool final)
{
    unsigned long n = kos__console_drops(&p->conbuf, now_us() / 1000, final);

    if (n)
        say(c,
            "%s '%s' writes its console too fast: %lu line%s dropped (its budget: %u lines at "
            "once, then one per %u ms)",
            kind(p), p->name, n, n == 1 ? "" : "s", KOS__CONSOLE_BURST, KOS__CONSOLE_EVERY_MS);
}

/* Closes process p's console after its last partial line, and reports
 * what its budget dropped. */
static void close_console(struct core *c, struct proc *p)
{
    kos__console_flush(&c->con, p->name, &p->conbuf, now_us() / 1000);
    close(p->con);
    p->con = -1;
    report_drops(c, p, true);
}

/* ---- exits and restarts ---- */

static void on_console(struct core *c, struct proc *p, size_t max);
static bool on_control(struct core *c, struct proc *p);

/* How many control messages an ended process's channel is read for: more
 * than it could have queued (the socket's buffer holds fewer), and a bound
 * on a grandchild that holds the channel and keeps writing. */
#define CTL_DRAIN_MAX 1024u

/* Decides what to do after process p exited with `status`. */
/* App p has ended for good (not restarted, or failed): the system may now
 * be ready without it, or end with it. */
static void ended_for_good(struct core *c, struct proc *p)
{
    /* An app that ended normally counts as ready, and one that failed is
     * no longer waited for: it may have been the last the system waited
     * for. */
    check_ready(c);
    if (p->cm->flags & KOS_CM_PROC_ENDS_SYSTEM) {
        begin_shutdown(c, "an app that ends the system has ended");
        return;
    }
    if (!any_running(c, KOS_CM_ROLE_APP))
        begin_shutdown(c, "no app is running any more");
}

/* Says how process p ended during a shutdown: "stopped" when it ended
 * because Core asked it to, in whatever way that took. */
static const char *stop_phrase(const struct proc *p, int status, const char *how, char *buf,
                               size_t len)
{
    if (p->stop == S_NONE)
        snprintf(buf, len, "ended: %s", how);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        snprintf(buf, len, "stopped");
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM && p->stop >= S_TERM)
        snprintf(buf, len, "stopped by SIGTERM");
    else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && p->stop == S_KILL)
        snprintf(buf, len, "killed (SIGKILL)");
    else
        snprintf(buf, len, "stopped: %s", how);
    return buf;
}

static void say_stopped(struct core *c, const struct proc *p, int status, const char *how)
{
    char what[192];

    say(c, "%s '%s' %s", kind(p), p->name, stop_phrase(p, status, how, what, sizeof(what)));
}

/* The delay before app p's next restart: restart_delay.first, doubled for
 * each restart in a row after a short run, at most restart_delay.max. */
static uint64_t restart_delay_us(const struct proc *p)
{
    uint64_t ms = p->cm->restart_delay_ms;

    for (uint32_t i = 0; i < p->quick && ms < p->cm->restart_delay_max_ms; i++)
        ms *= 2;
    if (ms > p->cm->restart_delay_max_ms)
        ms = p->cm->restart_delay_max_ms;
    return ms * 1000u;
}

/* Restarts app p, whose delay is over. */
static void restart_now(struct core *c, struct proc *p)
{
    p->state = P_IDLE;
    p->restart_at_us = 0;
    if (start_proc(c, p) == KOS_STATUS_OK)
        return;
    p->state = P_FAILED;
    c->failed = true;
    ended_for_good(c, p);
}

static void close_ctl(struct core *c, struct proc *p);
static void restart_asked_now(struct core *c, struct proc *t);
static void sys_result(struct core *c, uint32_t to, uint32_t to_start, uint32_t id,
                       kos_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Decides what to do after process p exited with `status`. */
static void on_exit_status(struct core *c, struct proc *p, int status)
{
    char how[128];
    bool normal = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    uint64_t now = now_us();
    uint32_t restart = p->cm->restart;
    bool want;

    debug_end(c, p, "the app ended");
    /* The process is gone, so its pipe holds all it wrote: take every last
     * line now, before a restart replaces the pipe. That is at most what
     * the pipe can hold; more would come from a grandchild that holds the
     * pipe and writes on, which must not keep Core here. Output that
     * orphaned grandchildren write later is not captured. */
    if (p->con >= 0) {
        int size = fcntl(p->con, F_GETPIPE_SZ);
        on_console(c, p, size > 0 ? (size_t)size : 65536u);
        if (p->con >= 0)
            close_console(c, p);
    }
    /* Likewise its last control messages, such as a self-test report sent
     * just before it ended. */
    for (unsigned i = 0; i < CTL_DRAIN_MAX && p->ctl >= 0 && on_control(c, p); i++)
        ;
    p->pid = 0;
    p->last_status = status;
    p->ended_ok = normal;
    p->ready = false;
    p->stopped = c->phase != PH_RUNNING && p->stop != S_NONE;
    close_ctl(c, p);
    describe_status(status, how, sizeof(how));
    if ((p->cm->flags & KOS_CM_PROC_SELF_TEST) && c->self_test == KOS__SELF_TEST_NONE) {
        char why[192];
        snprintf(why, sizeof(why), "app '%s' %s before it reported", p->name, how);
        self_test_settle(
            c, p, c->phase == PH_RUNNING ? KOS__SELF_TEST_RESULT_FAILED : KOS__SELF_TEST_INCOMPLETE,
            0, 0, why);
    }

    /* Stopped for a restart the managing app asked for: started again at
     * once, whatever its policy and restart_limit say. */
    if (p->restart_asked && c->phase == PH_RUNNING) {
        char what[192];
        say(c, "app '%s' %s for the restart app '%s' asked for; starting it again", p->name,
            stop_phrase(p, status, how, what, sizeof(what)), c->procs[p->restart_by].name);
        p->stop = S_NONE;
        restart_asked_now(c, p);
        return;
    }
    if (p->restart_asked) {
        p->restart_asked = false;
        sys_result(c, p->restart_by, p->restart_by_start, p->restart_id, KOS_STATUS_UNAVAILABLE,
                   "the system began to stop before app '%s' restarted", p->name);
    }
    if (c->phase != PH_RUNNING) {
        p->state = P_DONE;
        say_stopped(c, p, status, how);
        p->stop = S_NONE;
        advance_shutdown(c);
        return;
    }
    p->stop = S_NONE;
    if (is_server(p)) {
        /* Every app's tokens on this server are gone with it. */
        p->state = P_FAILED;
        c->failed = true;
        say(c, "message server '%s' %s; the system cannot run without it", p->name, how);
        begin_shutdown(c, "a message server died");
        return;
    }
    want = restart == KOS_CM_RESTART_PERMANENT || (restart == KOS_CM_RESTART_TRANSIENT && !normal);
    if (!want) {
        p->state = P_DONE;
        say(c, "app '%s' %s (%s: not restarted)", p->name, how, restart_name(restart));
        if (!normal)
            c->failed = true;
        ended_for_good(c, p);
        return;
    }

    /* A run as long as restart_period_ms shows the app works: the count of
     * restarts in a row, and the delay, start again. A crash loop, fast or
     * slow, reaches restart_max. */
    uint64_t ran_ms = (now - p->started_us) / 1000u;
    if (ran_ms >= p->cm->restart_period_ms)
        p->quick = 0;
    if (p->quick >= p->cm->restart_max) {
        p->state = P_FAILED;
        c->failed = true;
        say(c,
            "app '%s' %s after %" PRIu64 " ms; it failed: %u restarts in a row, each after a run "
            "shorter than %u ms, reached its limit (restart_limit: {max: %u, period: %u ms}); "
            "not restarting it",
            p->name, how, ran_ms, p->quick, p->cm->restart_period_ms, p->cm->restart_max,
            p->cm->restart_period_ms);
        ended_for_good(c, p);
        return;
    }
    uint64_t delay = restart_delay_us(p);
    p->quick++;
    p->restarts++;
    say(c,
        "app '%s' %s after %" PRIu64 " ms; restarting it in %" PRIu64
        " ms (%s, restart %u of %u in a row)",
        p->name, how, ran_ms, delay / 1000u, restart_name(restart), p->quick, p->cm->restart_max);
    if (delay == 0) {
        restart_now(c, p);
        return;
    }
    p->state = P_WAITING;
    p->restart_at_us = now + delay;
    arm_timer(c);
}

static void reap(struct core *c)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->launching && p->cancelled && p->launch.pid == pid) {
                abandon_start(p, true);
                advance_shutdown(c);
                break;
            }
            if (p->launching && p->launch.pid == pid) {
                /* It ran and ended before its start was seen: its error
                 * pipe says now which it did. */
                if (finish_proc(c, p) != KOS_STATUS_OK) {
                    p->state = P_FAILED;
                    c->failed = true;
                    if (is_server(p))
                        begin_shutdown(c, "a message server could not start");
                    break;
                }
                drop_ends(p); /* nothing to connect any more */
            }
            if (p->state == P_RUNNING && p->pid == pid) {
                /* The sandbox's init reports the app's own wait status;
                 * without a report (the init was killed) its own status is
                 * the answer. */
                if (p->status_fd >= 0) {
                    int app_status;
                    if (read(p->status_fd, &app_status, sizeof(app_status)) ==
                        (ssize_t)sizeof(app_status))
                        status = app_status;
                    close(p->status_fd);
                    p->status_fd = -1;
                }
                on_exit_status(c, p, status);
                break;
            }
        }
        /* A debug agent that ended by itself (its session closed). */
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->dbg_pid == pid) {
                p->dbg_pid = 0;
                if (p->state == P_RUNNING && p->dbg_target > 0)
                    kill(p->dbg_target, SIGCONT); /* never left stopped */
                say(c, "debug session on app '%s' ended: gdbserver %s", p->name,
                    WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "detached and exited"
                                                                  : "ended abnormally");
            }
        }
        /* Other pids are orphans Core adopted as subreaper: nothing to do. */
    }
}

/* ---- the system interface (lib/sys_int.h) ---- */

/* Core's lines about the managing app's requests come from a budget, so that
 * the app cannot flood the console through Core: a burst, then one a
 * second; the next line says how many were left out. */
#define SYS_LOG_BURST    20u
#define SYS_LOG_EVERY_MS 1000u
/* The buffers of what Core sends the managing app: a console line (its
 * text, name and fields), and a reply (a STATUS page at most). */
#define SYS_LINE_BUF (KOS__SYS_TEXT_MAX + KOS__NAME_MAX + 64)

/* One STATUS page being answered, with room for its processes' last
 * exits. */
struct sys_page {
    struct kos__sys_status s;
    char exits[KOS__SYS_PAGE_PROCS][KOS__SYS_EXIT_MAX];
};

static void say_sys(struct core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say_sys(struct core *c, const char *fmt, ...)
{
    unsigned long quiet;
    char text[KOS__CONSOLE_LINE_MAX];
    va_list ap;

    if (!kos__budget_take(&c->sys_log, SYS_LOG_BURST, SYS_LOG_EVERY_MS, now_us() / 1000, &quiet))
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (quiet)
        say(c, "%s (and %lu more lines about the system interface not printed)", text, quiet);
    else
        say(c, "%s", text);
}

static bool is_manager(const struct core *c, const struct proc *p)
{
    return c->manager >= 0 && p->idx == (uint32_t)c->manager;
}

/* Closes Core's end of process p's control channel. The managing app's
 * console lines in flight count as dropped, and it is told of changes
 * again only once it has asked for STATUS. */
static void close_ctl(struct core *c, struct proc *p)
{
    if (p->ctl >= 0) {
        close(p->ctl);
        p->ctl = -1;
    }
    if (is_manager(c, p)) {
        kos__sysq_unsubscribe(&c->sysq);
        c->sys_watch = false;
        /* Trace records in flight are lost with it; the rest wait in the
         * rings for the next subscriber. */
        c->trace_sub = false;
        c->trace_credit = 0;
    }
}

/* Sends the managing app p an answer, without waiting. A channel with no
 * room (the app does not read it) is closed, saying so; one that is gone
 * is closed quietly (its exit is reported). Returns whether it was sent. */
static bool sys_reply(struct core *c, struct proc *p, uint32_t type, const void *body, size_t len)
{
    kos_status_t st;

    if (p->ctl < 0)
        return false;
    st = kos__ctl_send_nowait(p->ctl, type, body, len);
    if (st == KOS_STATUS_OK)
        return true;
    if (st == KOS_STATUS_WOULD_BLOCK)
        say(c, "app '%s' does not read its control channel (no room for Core's answer); closing it",
            p->name);
    close_ctl(c, p);
    return false;
}

/* Answers request `id` of app `to`, if the run of it that asked (its
 * `starts` then) still runs, with a status and a message. */
static void sys_result(struct core *c, uint32_t to, uint32_t to_start, uint32_t id,
                       kos_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void sys_result(struct core *c, uint32_t to, uint32_t to_start, uint32_t id,
                       kos_status_t status, const char *fmt, ...)
{
    struct proc *p = &c->procs[to];
    char msg[KOS__SYS_MESSAGE_MAX];
    struct kos__sys_result r = {.id = id, .status = (uint32_t)status, .message = msg};
    va_list ap;
    size_t len;
    int n;

    if (p->state != P_RUNNING || p->starts != to_start || p->ctl < 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    else if ((size_t)n >= sizeof(msg))
        msg[kos__text_boundary(msg, sizeof(msg) - 1)] = '\0';
    if (kos__sys_result_encode(&r, c->sysout, KOS__CTL_MAX, &len) == KOS_STATUS_OK)
        (void)sys_reply(c, p, KOS__CTL_SYS_RESULT, c->sysout, len);
}

/* Sends the managing app the console lines its credit covers. Never waits:
 * a line the channel has no room for waits in the queue for the next
 * credit. */
static void sys_pump(struct core *c)
{
    const struct kos__sysq_line *l;
    uint64_t dropped;
    struct proc *m;

    if (c->manager < 0)
        return;
    m = &c->procs[c->manager];
    if (m->ctl < 0 || m->state != P_RUNNING)
        return;
    while ((l = kos__sysq_next(&c->sysq, &dropped)) != NULL) {
        struct kos__sys_line sl = {
            .time_ns = (uint64_t)l->time_ns,
            .dropped = dropped > UINT32_MAX ? UINT32_MAX : (uint32_t)dropped,
            .text = l->text,
        };
        size_t len;

        memcpy(sl.name, l->name, sizeof(sl.name));
        if (kos__sys_line_encode(&sl, c->sysbuf, SYS_LINE_BUF, &len)) {
            kos__sysq_discard(&c->sysq); /* cannot happen: console text is printable */
            continue;
        }
        if (kos__ctl_send_nowait(m->ctl, KOS__CTL_SYS_CONSOLE, c->sysbuf, len) != KOS_STATUS_OK)
            break;
        kos__sysq_sent(&c->sysq);
    }
}

/* Each console line, as printed, goes to the managing app's queue. */
static void console_tap(void *arg, int64_t time_ns, const char *name, const char *text, size_t len)
{
    struct core *c = arg;

    if (c->manager < 0)
        return;
    kos__sysq_push(&c->sysq, time_ns, name, text, len);
    sys_pump(c);
}

/* ---- message tracing (docs/messages.md, "Tracing") ---- */

/* Whether any app Core traces uses message server s: then s records the
 * directory events about those apps, and its ring is on. */
static bool trace_server_needed(const struct core *c, uint32_t s)
{
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (!p->traced)
            continue;
        uint32_t srv[KOS__BOOT_MAX_DIRS], n = servers_of(c, p, srv);
        for (uint32_t k = 0; k < n; k++)
            if (srv[k] == s)
                return true;
    }
    return false;
}

/* Sets every message server's ring on or off as its apps need it. */
static void trace_servers_update(struct core *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *s = &c->procs[i];
        if (!is_server(s) || !s->trace)
            continue;
        bool on = trace_server_needed(c, i);
        if (!on && atomic_load_explicit(&s->trace->on, memory_order_relaxed))
            s->trace_flush = true;
        atomic_store_explicit(&s->trace->on, on, memory_order_relaxed);
    }
}

/* Tells message server s whether to record the directory events about app
 * p (KOS__CTL_TRACE). A server that is not running learns it with p's
 * grants when it starts again (send_grants). */
static void trace_tell(struct core *c, const struct proc *p, uint32_t s, bool on)
{
    struct proc *srv = &c->procs[s];
    uint8_t body[8];

    if (srv->state != P_RUNNING || srv->ctl < 0)
        return;
    for (int i = 0; i < 4; i++) {
        body[i] = (uint8_t)(p->idx >> (8 * i));
        body[4 + i] = (uint8_t)((on ? 1u : 0u) >> (8 * i));
    }
    /* Eight bytes on a channel the server reads in every turn: no room
     * means it does not read, and its directory events go unrecorded. */
    if (kos__ctl_send_nowait(srv->ctl, KOS__CTL_TRACE, body, sizeof(body)) != KOS_STATUS_OK)
        say_sys(c,
                "message server '%s' has no room on its control channel: it does not record "
                "app '%s''s directory events",
                srv->name, p->name);
}

/* Tells each message server of app p whether p is traced. */
static void trace_tell_all(struct core *c, const struct proc *p, bool on)
{
    uint32_t srv[KOS__BOOT_MAX_DIRS], n = servers_of(c, p, srv);

    for (uint32_t k = 0; k < n; k++)
        trace_tell(c, p, srv[k], on);
}

/* Turns one ring record into what the managing app gets, with Core's names:
 * the ring's process for its calls, the message server's word (app ids it
 * was given by Core) for directory events. False if it names what Core does
 * not know. */
static bool trace_convert(const struct core *c, const struct proc *p,
                          const struct kos__trace_rec *r, int64_t wall_minus_mono,
                          struct kos__sys_trace *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = r->kind;
    out->status = r->status;
    out->label = r->label;
    out->channel = r->channel;
    out->req_len = r->req_len;
    out->rep_len = r->rep_len;
    out->time_ns = (uint64_t)((int64_t)r->time_ns + wall_minus_mono);
    out->dur_ns = r->dur_ns;
    if (!is_server(p)) {
        if (r->dir >= p->n_srv)
            return false;
        snprintf(out->app, sizeof(out->app), "%s", p->name);
        snprintf(out->server, sizeof(out->server), "%s", c->procs[p->srv[r->dir]].name);
        return true;
    }
    if (r->app_id >= c->n || is_server(&c->procs[r->app_id]))
        return false;
    snprintf(out->app, sizeof(out->app), "%s", c->procs[r->app_id].name);
    snprintf(out->server, sizeof(out->server), "%s", p->name);
    if (r->peer_id != UINT32_MAX) {
        if (r->peer_id >= c->n)
            return false;
        snprintf(out->peer, sizeof(out->peer), "%s", c->procs[r->peer_id].name);
    }
    snprintf(out->protocol, sizeof(out->protocol), "%s", r->name);
    return true;
}

/* Sends one batch of process p's records, if the managing app's credit
 * allows. Returns whether it took anything out of the ring. */
static bool trace_send_from(struct core *c, struct proc *m, struct proc *p, int64_t wall_minus_mono)
{
    struct kos__trace_reader saved = p->trd;
    uint64_t lost = 0;
    uint32_t max = c->trace_credit < KOS__SYS_TRACE_BATCH ? c->trace_credit : KOS__SYS_TRACE_BATCH;
    size_t n, len;

    if (max == 0)
        return false;
    n = kos__trace_take(p->trace, &p->trd, is_server(p), is_server(p) ? 0 : p->n_srv, c->trace_recs,
                        max, &lost);
    struct kos__sys_traces *t = c->trace_out;
    t->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (trace_convert(c, p, &c->trace_recs[i], wall_minus_mono, &t->r[t->n]))
            t->n++;
        else
            lost++;
    }
    if (t->n == 0 && lost == 0 && p->trd.tail == saved.tail) {
        p->trd = saved;
        return false;
    }
    t->lost = c->trace_lost + lost;
    if (t->n == 0) {
        /* Only losses: counted now, said with the next batch. */
        c->trace_lost = t->lost;
        kos__trace_commit(p->trace, &p->trd);
        return p->trd.tail != saved.tail;
    }
    if (kos__sys_traces_encode(t, c->sysout, KOS__CTL_MAX, &len) != KOS_STATUS_OK ||
        kos__ctl_send_nowait(m->ctl, KOS__CTL_SYS_TRACES, c->sysout, len) != KOS_STATUS_OK) {
        /* No room now: the records stay in the ring for the next drain. */
        p->trd = saved;
        return false;
    }
    kos__trace_commit(p->trace, &p->trd);
    c->trace_lost = 0;
    c->trace_credit -= t->n;
    return true;
}

/* Drains the rings of the traced apps and of the message servers that
 * record for them (servers first, so that a channel's grant goes before
 * the calls on it) into the managing app, within its credit. What does not
 * fit stays in the rings, where the processes count what they cannot
 * write: nothing piles up in Core. */
static void trace_pump(struct core *c)
{
    struct timespec mono, wall;
    struct proc *m;

    if (c->manager < 0 || !c->trace_sub)
        return;
    m = &c->procs[c->manager];
    if (m->ctl < 0 || m->state != P_RUNNING)
        return;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t wall_minus_mono = ((int64_t)wall.tv_sec - (int64_t)mono.tv_sec) * 1000000000 +
                              ((int64_t)wall.tv_nsec - (int64_t)mono.tv_nsec);
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < c->n && c->trace_credit > 0; i++) {
            struct proc *p = &c->procs[i];
            if (!p->trace || is_server(p) != (pass == 0))
                continue;
            bool wanted = is_server(p) ? atomic_load_explicit(&p->trace->on, memory_order_relaxed)
                                       : p->traced;
            if (!wanted && !p->trace_flush)
                continue;
            while (c->trace_credit > 0 && trace_send_from(c, m, p, wall_minus_mono))
                ;
            if (!wanted && !kos__trace_pending(p->trace, &p->trd))
                p->trace_flush = false;
        }
    }
}

/* When the rings are drained next, or UINT64_MAX when none needs it. */
static uint64_t trace_due(const struct core *c)
{
    if (!c->trace_sub || c->trace_credit == 0)
        return UINT64_MAX;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].trace && (c->procs[i].traced || c->procs[i].trace_flush ||
                                  (is_server(&c->procs[i]) && c->n_traced)))
            return c->trace_next_us;
    return UINT64_MAX;
}

/* The managing app switches tracing on or off for an app. */
static void sys_trace_set(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct proc *p = NULL;

    for (uint32_t i = 0; i < c->n; i++)
        if (!strcmp(c->procs[i].name, rq->app))
            p = &c->procs[i];
    if (!p) {
        sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_NOT_FOUND,
                   "no app '%s' in this system", rq->app);
        return;
    }
    if (is_server(p)) {
        sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_INVALID_ARGUMENT,
                   "'%s' is a message server: its directory events are traced with the apps "
                   "they are about",
                   p->name);
        return;
    }
    if (p->traced != (rq->on != 0)) {
        p->traced = rq->on != 0;
        c->n_traced += p->traced ? 1u : (uint32_t)-1;
        if (p->trace) {
            if (p->traced) /* only what it records from now on */
                kos__trace_skip(p->trace, &p->trd);
            else
                p->trace_flush = true;
            atomic_store_explicit(&p->trace->on, p->traced, memory_order_relaxed);
        }
        trace_servers_update(c);
        trace_tell_all(c, p, p->traced);
        c->trace_next_us = now_us();
    }
    say_sys(c, "app '%s' asked to trace the calls of app '%s' %s", from->name, p->name,
            p->traced ? "from now on" : "no more");
    sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_OK, "tracing app '%s' %s", p->name,
               p->traced ? "on" : "off");
}

/* The managing app gives trace credit: the first subscribes it, and the
 * message servers are told again of every traced app, so that they record
 * the channels those apps hold (a new subscriber knows none). */
static void sys_trace_credit(struct core *c, uint32_t credit)
{
    if (!c->trace_sub) {
        c->trace_sub = true;
        c->trace_credit = 0;
        for (uint32_t i = 0; i < c->n; i++)
            if (c->procs[i].traced)
                trace_tell_all(c, &c->procs[i], true);
    }
    c->trace_credit = c->trace_credit + credit > KOS__SYS_TRACE_WINDOW ? KOS__SYS_TRACE_WINDOW
                                                                       : c->trace_credit + credit;
    trace_pump(c);
}

/* Process p starts: its ring is made the first time (without one, it just
 * records nothing), what the last run left is drained, and it starts empty,
 * on if p is traced (or, for a message server, needed). Returns the ring's
 * descriptor for the boot record, or -1. */
static int trace_prepare(struct core *c, struct proc *p)
{
    if (!p->trace) {
        kos_status_t st = kos__trace_create(&p->trace_fd, &p->trace);
        if (st) {
            say(c, "%s '%s' starts without a tracing ring: %s", kind(p), p->name,
                kos_status_str(st));
            p->trace = NULL;
            p->trace_fd = -1;
            return -1;
        }
    }
    trace_pump(c);
    bool on = is_server(p) ? trace_server_needed(c, p->idx) : p->traced;
    if (p->traced || p->trace_flush) {
        /* What the last run recorded and Core could not pass on yet. */
        uint32_t left = atomic_load_explicit(&p->trace->head, memory_order_relaxed) - p->trd.tail;
        c->trace_lost += left > KOS__TRACE_SLOTS ? KOS__TRACE_SLOTS : left;
    }
    kos__trace_reset(p->trace, &p->trd, on);
    p->trace_flush = false;
    return p->trace_fd;
}

/* A fingerprint of what STATUS reports that changes by itself: each
 * process's state, restarts and last exit, and the self test (FNV-1a). */
static uint64_t state_print(const struct core *c)
{
    uint64_t h = 14695981039346656037ull;
    uint32_t v[5];

    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        v[0] = sys_state(p);
        v[1] = p->restarts;
        v[2] = p->restarts_asked;
        v[3] = (uint32_t)p->last_status;
        v[4] = (uint32_t)c->self_test;
        for (size_t k = 0; k < sizeof(v); k++) {
            h ^= ((const uint8_t *)v)[k];
            h *= 1099511628211ull;
        }
    }
    return h;
}

/* Tells the managing app, once, that what STATUS reports has changed since
 * it last asked; again only after it asks. */
static void sys_notify(struct core *c)
{
    struct proc *m;

    if (c->manager < 0 || !c->sys_watch)
        return;
    m = &c->procs[c->manager];
    if (!c->sys_changed_due && state_print(c) != c->sys_print)
        c->sys_changed_due = true;
    if (!c->sys_changed_due || m->ctl < 0)
        return;
    if (kos__ctl_send_nowait(m->ctl, KOS__CTL_SYS_CHANGED, NULL, 0) == KOS_STATUS_OK) {
        c->sys_changed_due = false;
        c->sys_watch = false;
    }
}

/* The resident bytes of process `pid`, as /proc/PID/statm says; 0 where it
 * cannot tell. */
static uint64_t statm_rss(long pid)
{
    char path[64];
    unsigned long long size, resident;
    FILE *f;
    int n;

    snprintf(path, sizeof(path), "/proc/%ld/statm", pid);
    if (!(f = fopen(path, "re")))
        return 0;
    n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* The resident bytes of running process p: its sandbox's init (p->pid) and
 * the init's children (the app), as /proc says. */
static uint64_t rss_of(const struct proc *p)
{
    char path[96];
    uint64_t total;
    long child;
    FILE *f;

    if (p->state != P_RUNNING || p->pid <= 0)
        return 0;
    total = statm_rss(p->pid);
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)p->pid, (int)p->pid);
    if ((f = fopen(path, "re")) != NULL) {
        for (int i = 0; i < 64 && fscanf(f, "%ld", &child) == 1; i++)
            total += statm_rss(child);
        fclose(f);
    }
    return total;
}

/* Answers STATUS_REQ: one page of the system's state, from process `first`
 * on. Returns false if the channel was closed. */
static bool sys_status(struct core *c, struct proc *p, const struct kos__sys_request *rq)
{
    struct sys_page *pg = (struct sys_page *)c->syspage;
    struct kos__sys_status *s = &pg->s;
    const char *signer = kos_image_signer(c->img);
    size_t len;

    memset(s, 0, sizeof(*s));
    s->id = rq->id;
    s->system = kos_cm_str(c->cm, c->cm->hdr->system_name);
    s->manifest = kos_image_manifest_digest(c->img);
    s->signer = signer ? signer : "";
    s->platform = CORE_PLATFORM;
    s->version = KOS_VERSION;
    s->boot_time_ns = (uint64_t)c->boot_wall_ns;
    s->uptime_ms = (now_us() - c->t0_us) / 1000u;
    s->boots = c->boots;
    s->self_test = c->self_test == KOS__SELF_TEST_RESULT_PASSED   ? KOS__SYS_SELF_TEST_PASSED
                   : c->self_test == KOS__SELF_TEST_RESULT_FAILED ? KOS__SYS_SELF_TEST_FAILED
                   : c->self_test == KOS__SELF_TEST_INCOMPLETE    ? KOS__SYS_SELF_TEST_INCOMPLETE
                                                                  : KOS__SYS_SELF_TEST_NONE;
    s->self_test_summary = c->self_test == KOS__SELF_TEST_NONE ? "" : c->self_test_text;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *q = &c->procs[i];
        s->mem_total += q->cm->memory;
        s->mem_used += rss_of(q);
        if (q->cm->role == KOS_CM_ROLE_APP && (q->cm->flags & KOS_CM_PROC_DATA_DIR)) {
            struct statvfs vfs;
            s->storage_total += q->cm->storage ? q->cm->storage : DEFAULT_APP_STORAGE;
            if (q->store.mnt >= 0 && fstatvfs(q->store.mnt, &vfs) == 0)
                s->storage_used += (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
        }
    }
    s->n_total = c->n;
    s->first = rq->first < c->n ? rq->first : c->n;
    for (uint32_t i = s->first; i < c->n && s->n_procs < KOS__SYS_PAGE_PROCS; i++) {
        const struct proc *q = &c->procs[i];
        struct kos__sys_proc *out = &s->procs[s->n_procs];
        describe_status(q->last_status, pg->exits[s->n_procs], KOS__SYS_EXIT_MAX);
        out->name = q->name;
        out->role = is_server(q) ? KOS__ROLE_MSG_SERVER : KOS__ROLE_APP;
        out->state = sys_state(q);
        out->restarts = q->restarts;
        out->restarts_asked = q->restarts_asked;
        out->last_exit = pg->exits[s->n_procs];
        s->n_procs++;
    }
    if (kos__sys_status_encode(s, c->sysout, KOS__CTL_MAX, &len)) {
        say(c, "cannot answer app '%s' with the system's state: it does not encode", p->name);
        return true;
    }
    if (!sys_reply(c, p, KOS__CTL_SYS_STATUS, c->sysout, len))
        return false;
    /* From now on, tell it of a change once. */
    c->sys_watch = true;
    c->sys_changed_due = false;
    c->sys_print = state_print(c);
    return true;
}

/* Answers TABLE_REQ: one page of a read-only table, from row `first` on:
 * the message directory as the manifest grants it (every process's grants,
 * in manifest order: what the message servers enforce), or the device key
 * bundle Core opened (names, types and key ids; Core never reads a key).
 * Returns false if the channel was closed. */
static bool sys_table(struct core *c, struct proc *p, const struct kos__sys_request *rq)
{
    struct kos__sys_table t = {.id = rq->id, .kind = rq->table};
    uint32_t row = 0;
    size_t len;

    if (rq->table == KOS__SYS_TABLE_GRANTS) {
        for (uint32_t i = 0; i < c->n; i++) {
            const struct kos_cm_proc *cp = c->procs[i].cm;
            for (uint32_t g = 0; g < cp->n_grants; g++, row++) {
                const struct kos_cm_grant *gr = kos_cm_grant(c->cm, cp->grants_first + g);
                if (row < rq->first || t.n_rows == KOS__SYS_TABLE_PAGE_ROWS)
                    continue;
                const char **cell = t.cell[t.n_rows++];
                cell[0] = kos_cm_str(c->cm, kos_cm_proc(c->cm, gr->server)->name);
                cell[1] = kos_cm_str(c->cm, gr->protocol);
                cell[2] = gr->kind == KOS_CM_GRANT_PUBLISH ? "publish" : "request";
                cell[3] = c->procs[i].name;
            }
        }
    } else {
        for (size_t k = 0; k < c->keys.n; k++, row++) {
            const struct kos__devkey *dk = &c->keys.e[k];
            if (row < rq->first || t.n_rows == KOS__SYS_TABLE_PAGE_ROWS)
                continue;
            const char **cell = t.cell[t.n_rows++];
            bool item = strcmp(dk->type, "x509") == 0 || strcmp(dk->type, "text") == 0;
            cell[0] = dk->name;
            cell[1] = dk->type;
            cell[2] = dk->id;
            cell[3] = item ? "item" : dk->private_key ? "private" : "public";
        }
    }
    t.n_total = row;
    t.first = rq->first < row ? rq->first : row;
    if (kos__sys_table_encode(&t, c->sysout, KOS__CTL_MAX, &len)) {
        say(c, "cannot answer app '%s' with table %u: it does not encode", p->name, rq->table);
        sys_result(c, p->idx, p->starts, rq->id, KOS_STATUS_INTERNAL, "Core cannot encode table %u",
                   rq->table);
        return p->ctl >= 0;
    }
    return sys_reply(c, p, KOS__CTL_SYS_TABLE, c->sysout, len);
}

static void ended_for_good(struct core *c, struct proc *p);

/* Starts app t again for the restart the managing app asked for (t has
 * ended, or was not running), and answers that app. The restart counts as
 * one asked for, not towards restart_limit: its count of quick restarts
 * starts from nothing. */
static void restart_asked_now(struct core *c, struct proc *t)
{
    kos_status_t st;

    t->restart_asked = false;
    t->restarts++;
    t->restarts_asked++;
    t->quick = 0;
    t->state = P_IDLE;
    t->restart_at_us = 0;
    st = start_proc(c, t);
    if (st == KOS_STATUS_OK) {
        sys_result(c, t->restart_by, t->restart_by_start, t->restart_id, KOS_STATUS_OK,
                   "app '%s' restarted", t->name);
        return;
    }
    t->state = P_FAILED;
    c->failed = true;
    sys_result(c, t->restart_by, t->restart_by_start, t->restart_id, st,
               "app '%s' could not start again (%s); Core's console says why", t->name,
               kos_status_str(st));
    ended_for_good(c, t);
}

/* The process request rq names, for a request that acts on one (`verb`
 * says how, for Core's line); NULL, with the app answered, while the
 * system stops or when it has no process of that name. */
static struct proc *sys_target(struct core *c, struct proc *from, const struct kos__sys_request *rq,
                               const char *verb)
{
    struct proc *t = NULL;

    for (uint32_t i = 0; i < c->n && !t; i++)
        if (!strcmp(c->procs[i].name, rq->app))
            t = &c->procs[i];
    if (c->phase != PH_RUNNING) {
        sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_UNAVAILABLE,
                   "the system is stopping");
        return NULL;
    }
    if (!t) {
        say_sys(c, "app '%s' asked to %s app '%s', which this system does not have", from->name,
                verb, rq->app);
        sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_NOT_FOUND,
                   "no app '%s' in this system", rq->app);
    }
    return t;
}

/* RESTART: stops app `rq->app` as Core stops any app, then starts it again;
 * refuses message servers, unknown names, apps on their way up or down,
 * and everything while the system stops. */
static void sys_restart(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct proc *t = sys_target(c, from, rq, "restart");

    if (!t)
        return;
#define ANSWER(st, ...) sys_result(c, from->idx, from->starts, rq->id, st, __VA_ARGS__)
    if (is_server(t)) {
        say_sys(c, "app '%s' asked to restart message server '%s'; refused", from->name, t->name);
        ANSWER(KOS_STATUS_UNSUPPORTED,
               "'%s' is a message server: Core does not restart one (every token on it would "
               "die with it); reboot instead",
               t->name);
        return;
    }
    if (t->launching || t->restart_asked || (t->state == P_RUNNING && t->stop != S_NONE) ||
        (t->state == P_IDLE && !c->booted)) {
        ANSWER(KOS_STATUS_BUSY, "app '%s' is starting or stopping; ask again later", t->name);
        return;
    }
    say_sys(c,
            "app '%s' asked to restart app '%s' (%s): restarting it (a restart asked for does "
            "not count towards its restart_limit)",
            from->name, t->name, kos__sys_state_name(sys_state(t)));
    t->restart_asked = true;
    t->restart_by = from->idx;
    t->restart_by_start = from->starts;
    t->restart_id = rq->id;
    if (t->state == P_RUNNING) {
        if (t == from)
            ANSWER(KOS_STATUS_OK, "restarting app '%s', the app that asked: no later answer",
                   t->name);
        ask_stop(c, t);
        arm_timer(c);
        return;
    }
    restart_asked_now(c, t); /* waiting to restart, ended or failed: at once */
#undef ANSWER
}

/* REBOOT: answers, then stops the whole system as on SIGTERM; run_loop()
 * returns, and kos_core_run() boots it again. */
static void sys_reboot(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    if (c->phase != PH_RUNNING) {
        sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_UNAVAILABLE,
                   "the system is stopping already");
        return;
    }
    sys_result(c, from->idx, from->starts, rq->id, KOS_STATUS_OK,
               "rebooting: the system stops and boots again from the same image");
    snprintf(c->reboot_why, sizeof(c->reboot_why), "app '%s' asked for a reboot%s%s", from->name,
             rq->reason[0] ? ": " : "", rq->reason);
    c->reboot = true;
    begin_shutdown(c, c->reboot_why);
}

/* Ends app p's debug session, if it has one: the agent is killed and
 * reaped here (a SIGKILLed process's end takes no time Core would notice),
 * so that the kernel has detached it from the app before the app is
 * continued, in case the agent held it stopped. */
static void debug_end(struct core *c, struct proc *p, const char *why)
{
    if (p->dbg_pid <= 0)
        return;
    kill(p->dbg_pid, SIGKILL);
    while (waitpid(p->dbg_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (p->dbg_target > 0)
        kill(p->dbg_target, SIGCONT);
    say(c, "debug session on app '%s' ended: %s; gdbserver (pid %d) killed", p->name, why,
        (int)p->dbg_pid);
    p->dbg_pid = 0;
    p->dbg_target = 0;
}

/* DEBUG_ATTACH: starts the debug agent on app `rq->app`, outside its
 * sandbox, and hands the managing app its socket with the result. Refuses
 * unknown names, message servers, apps not marked debug: true, apps not
 * running, a second session on one app, and everything while the system
 * stops. */
static void sys_debug_attach(struct core *c, struct proc *from, const struct kos__sys_request *rq)
{
    struct proc *t = sys_target(c, from, rq, "debug");
    char err[300], msg[KOS__SYS_MESSAGE_MAX];
    struct kos__sys_result r = {.id = rq->id, .message = msg};
    pid_t target, agent;
    size_t len;
    int sock;

    if (!t)
        return;
#define ANSWER(st, ...) sys_result(c, from->idx, from->starts, rq->id, st, __VA_ARGS__)
    if (is_server(t) || !(t->cm->flags & KOS_CM_PROC_DEBUG)) {
        say_sys(c, "app '%s' asked to debug %s '%s', which is not marked debug: true; refused",
                from->name, kind(t), t->name);
        ANSWER(KOS_STATUS_UNAUTHORIZED,
               "%s '%s' is not marked debug: true in the manifest: only such apps are debugged",
               kind(t), t->name);
        return;
    }
    if (t->state != P_RUNNING || t->launching || t->stop != S_NONE || t->restart_asked) {
        ANSWER(KOS_STATUS_UNAVAILABLE, "app '%s' is not running (%s)", t->name,
               kos__sys_state_name(sys_state(t)));
        return;
    }
    if (t->dbg_pid > 0) {
        ANSWER(KOS_STATUS_BUSY, "app '%s' has a debug session already (one at a time)", t->name);
        return;
    }
    target = t->status_fd >= 0 ? kos__debugger_app_pid(t->pid) : t->pid;
    if (target <= 0) {
        ANSWER(KOS_STATUS_UNAVAILABLE, "app '%s' has no process to attach to now", t->name);
        return;
    }
    if (kos__debugger_start(KOS__DEBUGGER_PATH, target, &agent, &sock, err, sizeof(err)) !=
        KOS_STATUS_OK) {
        say(c, "app '%s' asked to debug app '%s': %s", from->name, t->name, err);
        ANSWER(KOS_STATUS_UNAVAILABLE, "the device cannot debug: %s", err);
        return;
    }
#undef ANSWER
    t->dbg_pid = agent;
    t->dbg_target = target;
    say(c,
        "app '%s' asked to debug app '%s': gdbserver (pid %d) attached to its process (host pid "
        "%d) from outside its sandbox; the session ends when its socket closes",
        from->name, t->name, (int)agent, (int)target);
    snprintf(msg, sizeof(msg), "gdbserver attached to app '%s'", t->name);
    r.status = KOS_STATUS_OK;
    if (from->ctl < 0 || kos__sys_result_encode(&r, c->sysout, KOS__CTL_MAX, &len) ||
        kos__ctl_send_fd_nowait(from->ctl, KOS__CTL_SYS_RESULT, c->sysout, len, sock)) {
        close(sock);
        debug_end(c, t, "its socket could not be handed over");
        return;
    }
    close(sock); /* the managing app holds it now */
}

static const char *sys_what(uint32_t type)
{
    switch (type) {
    case KOS__CTL_SYS_STATUS_REQ:
        return "the system's state";
    case KOS__CTL_SYS_RESTART:
        return "an app's restart";
    case KOS__CTL_SYS_REBOOT:
        return "a reboot";
    case KOS__CTL_SYS_TRACE_SET:
        return "an app's tracing";
    case KOS__CTL_SYS_TRACE_CREDIT:
        return "trace records";
    case KOS__CTL_SYS_TABLE_REQ:
        return "one of its tables";
    case KOS__CTL_SYS_DEBUG_ATTACH:
        return "a debugger on an app";
    default:
        return "the console lines";
    }
}

/* A request of the system interface from process p, already received into
 * c->ctlbuf. Returns false when p's channel is to be closed: p may not ask
 * (its manifest entry does not say manages_system: true), or the request is
 * malformed, or p does not take its answers. */
static bool on_sys_request(struct core *c, struct proc *p, uint32_t type, size_t len)
{
    struct kos__sys_request rq;

    if (!is_manager(c, p)) {
        say(c,
            "%s '%s' asked Core for %s, but its manifest entry does not say manages_system: "
            "true; refusing it and closing its control channel",
            kind(p), p->name, sys_what(type));
        return false;
    }
    if (kos__sys_request_decode(type, c->ctlbuf, len, &rq)) {
        say(c,
            "app '%s' sent a malformed request for %s (type %u, %zu bytes); closing its "
            "control channel",
            p->name, sys_what(type), type, len);
        return false;
    }
    switch (type) {
    case KOS__CTL_SYS_STATUS_REQ:
        return sys_status(c, p, &rq);
    case KOS__CTL_SYS_RESTART:
        sys_restart(c, p, &rq);
        break;
    case KOS__CTL_SYS_REBOOT:
        sys_reboot(c, p, &rq);
        break;
    case KOS__CTL_SYS_TRACE_SET:
        sys_trace_set(c, p, &rq);
        break;
    case KOS__CTL_SYS_TRACE_CREDIT:
        sys_trace_credit(c, rq.credit);
        break;
    case KOS__CTL_SYS_TABLE_REQ:
        return sys_table(c, p, &rq);
    case KOS__CTL_SYS_DEBUG_ATTACH:
        sys_debug_attach(c, p, &rq);
        break;
    default:
        kos__sysq_credit(&c->sysq, rq.credit);
        sys_pump(c);
    }
    return p->ctl >= 0;
}

static void on_signal(struct core *c)
{
    struct signalfd_siginfo si;

    while (read(c->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap(c);
            break;
        case SIGUSR1:
            print_summary(c);
            break;
        default: /* SIGINT, SIGTERM, SIGHUP */
            if (c->phase == PH_RUNNING) {
                begin_shutdown(c, si.ssi_signo == SIGINT ? "interrupted (SIGINT)"
                                                         : "asked to stop (SIGTERM)");
            } else if (c->reboot) {
                c->reboot = false;
                say(c,
                    "asked to stop (%s) during a reboot: the system stops, and does not boot "
                    "again",
                    si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            } else {
                say(c, "second stop request: killing everything now");
                for (uint32_t i = 0; i < c->n; i++)
                    if (c->procs[i].state == P_RUNNING) {
                        kill(c->procs[i].pid, SIGKILL);
                        c->procs[i].stop = S_KILL;
                    }
            }
        }
    }
}

/* Reads at most `max` bytes of what process p has written to its console,
 * so that no process keeps Core here; at the end of its output (every
 * holder of the pipe has gone) flushes its last line and closes the pipe. */
static void on_console(struct core *c, struct proc *p, size_t max)
{
    char buf[4096];

    while (max > 0) {
        ssize_t n = read(p->con, buf, max < sizeof(buf) ? max : sizeof(buf));
        if (n > 0) {
            kos__console_feed(&c->con, p->name, &p->conbuf, buf, (size_t)n, now_us() / 1000);
            max -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EINTR))
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        /* End of output: every holder of the pipe has gone. */
        close_console(c, p);
        return;
    }
}

/* Handles one message on process p's control channel. Returns true when it
 * took one and the channel stays open. */
static bool on_control(struct core *c, struct proc *p)
{
    uint32_t type;
    size_t len;
    int fd;
    kos_status_t st =
        kos__ctl_recv(p->ctl, c->ctlbuf, KOS__CTL_MAX, &type, &len, &fd, MSG_DONTWAIT);

    if (st == KOS_STATUS_WOULD_BLOCK)
        return false;
    if (fd >= 0)
        close(fd);
    if (st == KOS_STATUS_OK && type == KOS__CTL_READY && len == 0) {
        p->ready = true;
        check_ready(c);
        return true;
    }
    if (st == KOS_STATUS_OK && type == KOS__CTL_SELF_TEST) {
        if (on_self_test(c, p, len))
            return true;
        close_ctl(c, p);
        return false;
    }
    if (st == KOS_STATUS_OK &&
        (type == KOS__CTL_SYS_STATUS_REQ || type == KOS__CTL_SYS_RESTART ||
         type == KOS__CTL_SYS_REBOOT || type == KOS__CTL_SYS_CONSOLE_CREDIT ||
         type == KOS__CTL_SYS_TRACE_SET || type == KOS__CTL_SYS_TRACE_CREDIT ||
         type == KOS__CTL_SYS_TABLE_REQ || type == KOS__CTL_SYS_DEBUG_ATTACH)) {
        if (on_sys_request(c, p, type, len))
            return true;
        close_ctl(c, p);
        return false;
    }
    if (st == KOS_STATUS_OK)
        say(c,
            "%s '%s' sent an unknown control message (type %u, %zu bytes); closing its "
            "control channel",
            kind(p), p->name, type, len);
    else if (st != KOS_STATUS_CLOSED)
        say(c, "%s '%s' sent a malformed control message (%s); closing its control channel",
            kind(p), p->name, kos_status_str(st));
    close_ctl(c, p);
    return false;
}

/* ---- booting ---- */

/* How many processes may be between launch and exec at once. */
#define MAX_LAUNCHING 32u

/* Asks process p, which has just started during a shutdown, to stop at once
 * (the shutdown could not reach it while it was starting, and it was never
 * connected, so nothing uses it). */
static void stop_late(struct core *c, struct proc *p)
{
    drop_ends(p);
    ask_stop(c, p);
    arm_timer(c);
}

/* Launched process p ran its binary or failed to (its error pipe is
 * readable): records which, and connects what can now be connected. */
static void on_started(struct core *c, struct proc *p)
{
    if (p->cancelled) {
        abandon_start(p, false);
        advance_shutdown(c); /* a shutdown may have waited for it */
        return;
    }
    if (finish_proc(c, p) != KOS_STATUS_OK) {
        p->state = P_FAILED;
        c->failed = true;
        if (is_server(p))
            begin_shutdown(c, "a message server could not start");
        advance_shutdown(c);
        return;
    }
    if (c->phase != PH_RUNNING) {
        stop_late(c, p);
        return;
    }
    if (!is_server(p)) {
        connect_proc(c, p);
        return;
    }
    for (uint32_t i = 0; i < c->n; i++)
        if (!is_server(&c->procs[i]))
            connect_proc(c, &c->procs[i]);
}

/* Whether every message server runs and has reported ready (or can no
 * longer: its control channel is gone). */
static bool servers_ready(const struct core *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        const struct proc *p = &c->procs[i];
        if (is_server(p) && (p->state != P_RUNNING || (!p->ready && p->ctl >= 0)))
            return false;
    }
    return true;
}

/*
 * Launches what the boot may launch now, without waiting for any process to
 * build its sandbox: every message server at once, then every app at once.
 * No app runs before every message server runs and has reported ready: its
 * start is held meanwhile (its sandbox is built, its descriptors arranged)
 * and released by kos__proc_release(). Each is launched in table
 * order (cloned, its ids mapped, let go), at most MAX_LAUNCHING at a time;
 * run_loop() learns from each error pipe when it runs (on_started). If the
 * system shuts down meanwhile (a message server could not start, a signal),
 * held starts are killed and stay "not started"; if no app could start, the
 * system shuts down.
 */
static void launch_more(struct core *c)
{
    bool ready = servers_ready(c);
    uint32_t n = 0;

    if (c->booted)
        return;
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->held && c->phase != PH_RUNNING) {
            kill(p->launch.pid, SIGKILL);
            p->held = false;
            p->cancelled = true;
        } else if (p->held && ready) {
            p->held = false;
            (void)kos__proc_release(&p->launch); /* a dead init is reaped as any */
        }
        n += p->launching;
    }
    while (c->phase == PH_RUNNING && c->next_launch < c->n && n < MAX_LAUNCHING) {
        struct proc *p = &c->procs[c->next_launch];
        c->next_launch++;
        if (launch_proc(c, p, !is_server(p) && !ready) == KOS_STATUS_OK) {
            n++;
            continue;
        }
        p->state = P_FAILED;
        c->failed = true;
        if (is_server(p))
            begin_shutdown(c, "a message server could not start");
    }
    if (n > 0 || (c->phase == PH_RUNNING && c->next_launch < c->n))
        return;
    c->booted = true;
    /* Ends whose server never ran are closed, saying so. */
    for (uint32_t i = 0; i < c->n; i++)
        connect_proc(c, &c->procs[i]);
    if (c->phase == PH_RUNNING && !any_running(c, KOS_CM_ROLE_APP))
        begin_shutdown(c, "no app could start");
}

/* ---- the loop ---- */

/* Once every process has ended, how long Core waits for the last output of
 * grandchildren that still hold a console pipe. */
#define DONE_WAIT_MS 200u

static int run_loop(struct core *c)
{
    enum { W_CONSOLE, W_CONTROL, W_START };
    size_t cap = 2 + 3 * (size_t)c->n;
    struct pollfd *pfd = calloc(cap, sizeof(*pfd));
    struct {
        struct proc *p;
        int what;
    } *who = calloc(cap, sizeof(*who));

    if (!pfd || !who) {
        free(pfd);
        free(who);
        say(c, "out of memory");
        return KOS_CORE_EXIT_HOST;
    }
    uint64_t done_by_us = 0; /* once the system is done: when to stop waiting for output */

    arm_timer(c); /* for the note on what the boot waits for */
    for (;;) {
        bool consoles_open = false, drops_pending = false;
        size_t n = 0;

        launch_more(c);
        check_ready(c); /* a process that failed to start may be the last one waited for */
        sys_notify(c);  /* the managing app hears of what changed */
        pfd[n++] = (struct pollfd){.fd = c->sigfd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = c->timerfd, .events = POLLIN};
        for (uint32_t i = 0; i < c->n; i++) {
            struct proc *p = &c->procs[i];
            if (p->con >= 0) {
                who[n].p = p;
                who[n].what = W_CONSOLE;
                pfd[n++] = (struct pollfd){.fd = p->con, .events = POLLIN};
                consoles_open = true;
            }
            report_drops(c, p, false);
            drops_pending |= p->conbuf.dropped > 0;
            if (p->ctl >= 0) {
                who[n].p = p;
                who[n].what = W_CONTROL;
                pfd[n++] = (struct pollfd){.fd = p->ctl, .events = POLLIN};
            }
            if (p->launching) {
                who[n].p = p;
                who[n].what = W_START;
                pfd[n++] = (struct pollfd){.fd = p->launch.errpipe, .events = POLLIN};
            }
        }
        if (c->phase == PH_DONE && !consoles_open)
            break;
        /* Once everything has exited, wait only briefly for the last output
         * of grandchildren that may still hold a console pipe, however much
         * they write. Until the self test reports, wake up for its deadline;
         * while dropped lines wait to be reported, for their report. */
        int timeout = drops_pending ? (int)KOS__CONSOLE_REPORT_MS : -1;
        if (c->phase == PH_DONE) {
            uint64_t now = now_us();
            if (!done_by_us)
                done_by_us = now + DONE_WAIT_MS * 1000u;
            if (now >= done_by_us)
                break;
            timeout = (int)((done_by_us - now + 999) / 1000);
        }
        uint64_t trace_at = trace_due(c);
        if (trace_at != UINT64_MAX) {
            uint64_t now = now_us();
            if (now >= trace_at) {
                trace_pump(c);
                c->trace_next_us = now + KOS__TRACE_DRAIN_MS * 1000u;
                trace_at = c->trace_next_us;
            }
            uint64_t ms = (trace_at - now + 999) / 1000;
            if (timeout < 0 || ms < (uint64_t)timeout)
                timeout = (int)ms;
        }
        if (c->self_test_deadline_us && c->phase == PH_RUNNING) {
            uint64_t now = now_us();
            if (now >= c->self_test_deadline_us) {
                self_test_deadline(c);
            } else {
                uint64_t ms = (c->self_test_deadline_us - now + 999) / 1000;
                if (timeout < 0 || ms < (uint64_t)timeout)
                    timeout = ms > INT32_MAX ? INT32_MAX : (int)ms;
            }
        }
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            say(c, "poll failed: %s", strerror(errno));
            break;
        }
        if (r == 0 && c->phase == PH_DONE)
            break;
        if (r == 0)
            continue; /* a deadline or a report: handled at the top */
        /* Consoles first, so a process's last lines precede its exit report;
         * starts before signals, so a process that ran and already ended is
         * known to run when its exit is reaped. Each console gets a bounded
         * turn, so every turn comes back to the signals and the timer. */
        for (size_t i = 2; i < n; i++)
            if (who[i].what == W_CONSOLE && pfd[i].revents && who[i].p->con == pfd[i].fd)
                on_console(c, who[i].p, KOS__CONSOLE_TURN_MAX);
        for (size_t i = 2; i < n; i++)
            if (who[i].what == W_CONTROL && pfd[i].revents && who[i].p->ctl == pfd[i].fd)
                on_control(c, who[i].p);
        for (size_t i = 2; i < n; i++)
            if (who[i].what == W_START && pfd[i].revents && who[i].p->launching)
                on_started(c, who[i].p);
        if (pfd[0].revents)
            on_signal(c);
        if (pfd[1].revents)
            on_timer(c);
    }
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].con >= 0)
            close_console(c, &c->procs[i]);
    free(pfd);
    free(who);
    return c->failed ? KOS_CORE_EXIT_FAILED : KOS_CORE_EXIT_OK;
}

/* ---- setup ---- */

/* Whether apps' /data are file systems of their own here; if not, why not
 * is in c->no_images. Asked once. */
static bool use_images(struct core *c)
{
    if (c->images < 0) {
        c->images = 0;
        if (!c->host.privileged)
            snprintf(c->no_images, sizeof(c->no_images), "Core is unprivileged: it cannot mount");
        else if (!(c->layers & KOS_SB_NS_MNT))
            snprintf(c->no_images, sizeof(c->no_images), "no mount namespace to mount it in");
        else
            c->images = kos__storage_usable(c->no_images, sizeof(c->no_images)) == 0;
    }
    return c->images;
}

/* Gives the tree open at fd (p's data, which an earlier run may have left
 * to other host uids) to p's host uid, unless its top is p's already: the
 * walk gives the top last, so a top of p's means the walk was finished.
 * Returns 0 or an errno. */
static int give_data(struct core *c, struct proc *p, int fd)
{
    uid_t uid = host_uid(c, p);
    gid_t gid = host_gid(c, p);
    struct stat st;
    int err;

    if (fstat(fd, &st) < 0)
        return errno;
    if (st.st_uid == uid && st.st_gid == gid)
        return 0;
    err = kos__tree_chown(fd, uid, gid);
    if (!err)
        say(c, "storage: /data of '%s' given to host uid %u (it belonged to uid %u)", p->name,
            (unsigned)uid, (unsigned)st.st_uid);
    return err;
}

/* Process p's data as its own file system: STATE/data/NAME.img, made,
 * grown or kept as storage: says, mounted detached into p->store. Returns
 * 0, or -1 with p->data_err saying why. */
static int make_data_image(struct core *c, struct proc *p, const char *img, uint64_t bytes)
{
    char err[256], size[32], was[32];
    enum kos__storage_how how;
    uint64_t was_bytes;
    int root, e;

    e = kos__storage_open(&p->store, c->sd.data_fd, img, bytes, host_uid(c, p), host_gid(c, p),
                          &how, &was_bytes, err, sizeof(err));
    if (e) {
        snprintf(p->data_err, sizeof(p->data_err),
                 "its data, data/%s in the state directory: %s; the image is left as it is "
                 "(docs/sandbox.md, \"Data directories\", says how to look inside)",
                 img, err);
        return -1;
    }
    kos__storage_size_name(p->store.bytes, size, sizeof(size));
    kos__storage_size_name(was_bytes, was, sizeof(was));
    say(c, "storage: /data of '%s' is its own file system of %s (data/%s%s%s)", p->name, size, img,
        how == KOS__STORAGE_MADE    ? ", made now"
        : how == KOS__STORAGE_GROWN ? ", grown from "
                                    : "",
        how == KOS__STORAGE_GROWN ? was : "");
    if (how == KOS__STORAGE_LARGER || how == KOS__STORAGE_NOT_GROWN) {
        kos__storage_size_name(bytes, size, sizeof(size));
        say(c,
            "WARNING: storage: /data of '%s' stays %s: storage: says %s, and Core %s%s (see "
            "docs/sandbox.md)",
            p->name, was, size,
            how == KOS__STORAGE_LARGER ? "never shrinks a file system holding an app's data"
                                       : "could not grow it: ",
            how == KOS__STORAGE_LARGER ? "" : err);
    }
    root = openat(p->store.mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    e = root < 0 ? errno : give_data(c, p, root);
    if (root >= 0)
        close(root);
    if (e) {
        snprintf(p->data_err, sizeof(p->data_err),
                 "its data, data/%s in the state directory, cannot be given to host uid %u: %s",
                 img, (unsigned)host_uid(c, p), strerror(e));
        kos__storage_close(&p->store);
        return -1;
    }
    return 0;
}

/* Process p's data as a plain directory, STATE/data/NAME, given to its host
 * uid when Core is privileged. Returns 0, or -1 with p->data_err saying
 * why. */
static int make_data_plain(struct core *c, struct proc *p)
{
    bool made = mkdirat(c->sd.data_fd, p->name, 0700) == 0;
    bool give = c->mode != KOS_SANDBOX_NONE && c->host.privileged;
    int fd, e = 0;

    if (!made && errno != EEXIST)
        e = errno;
    else if ((fd = openat(c->sd.data_fd, p->name,
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        e = errno;
    else {
        if (give && made && fchown(fd, host_uid(c, p), host_gid(c, p)) < 0)
            e = errno;
        else if (give && !made)
            e = give_data(c, p, fd);
        close(fd);
    }
    if (e)
        snprintf(p->data_err, sizeof(p->data_err),
                 "its data directory, data/%s in the state directory: %s", p->name, strerror(e));
    return e ? -1 : 0;
}

/*
 * Gives process p (data_dir: true) its data: its own file system of
 * storage: bytes where Core can mount, else a plain directory (saying that
 * storage: is not enforced then); what an earlier run left is taken over
 * and given to this run's host uid. A directory kept from a run without
 * images stays one (Core never converts or deletes data); an image Core
 * cannot mount here keeps the app from starting. Problems are p's alone:
 * they are said now, and p->data_err keeps it from starting.
 */
static void make_data_dir(struct core *c, struct proc *p)
{
    uint64_t bytes = p->cm->storage ? p->cm->storage : DEFAULT_APP_STORAGE;
    char img[KOS__NAME_MAX + 4], size[32], path[PATH_MAX];
    bool have_img, have_dir;
    struct stat st;
    int rc;

    snprintf(img, sizeof(img), "%s.img", p->name);
    have_img = fstatat(c->sd.data_fd, img, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    have_dir =
        fstatat(c->sd.data_fd, p->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    /* An empty directory of an earlier run without images is no data. */
    if (have_dir && !have_img && c->mode != KOS_SANDBOX_NONE && use_images(c) &&
        unlinkat(c->sd.data_fd, p->name, AT_REMOVEDIR) == 0)
        have_dir = false;
    kos__storage_size_name(bytes, size, sizeof(size));
    if (have_img && (c->mode == KOS_SANDBOX_NONE || !use_images(c))) {
        snprintf(p->data_err, sizeof(p->data_err),
                 "its data is in the image data/%s in the state directory, which Core cannot "
                 "mount here (%s)",
                 img, c->mode == KOS_SANDBOX_NONE ? "--isolation none" : c->no_images);
        rc = -1;
    } else if (c->mode != KOS_SANDBOX_NONE && use_images(c) && !have_dir) {
        rc = make_data_image(c, p, img, bytes);
        snprintf(path, sizeof(path), "%s/data/%s", c->sd.path, img);
    } else {
        rc = make_data_plain(c, p);
        snprintf(path, sizeof(path), "%s/data/%s", c->sd.path, p->name);
        if (rc == 0 && c->mode != KOS_SANDBOX_NONE)
            say(c,
                "WARNING: storage: /data of '%s' is a plain directory: storage: (%s) is not "
                "enforced (%s)",
                p->name, size,
                use_images(c) ? "it holds data from a run without images; docs/sandbox.md says "
                                "how to move it into one"
                              : c->no_images);
    }
    if (rc == 0 && !(p->data_dir = strdup(path)))
        snprintf(p->data_err, sizeof(p->data_err), "out of memory");
    if (p->data_err[0])
        say(c, "storage: /data of '%s': %s; Core will not start it", p->name, p->data_err);
}

/* Takes a range of host uids no other Core holds, the one the state
 * directory recorded if it is free, and records it. Returns 0, or -1 after
 * saying why. */
static int take_uids(struct core *c)
{
    char err[256];
    int e;

    if (kos__uids_claim(&c->uids, kos__uids_recorded(c->sd.fd), err, sizeof(err))) {
        say(c, "cannot take a range of host uids: %s", err);
        return -1;
    }
    c->uid_base = c->uids.first;
    if ((e = kos__uids_record(c->sd.fd, &c->uids)) != 0)
        say(c, "WARNING: cannot record the uid range in %s/%s: %s", c->sd.path, KOS__UID_RECORD,
            strerror(e));
    return 0;
}

/* Creates every system memory region once: a sealed memfd of its size that
 * can never be executed, grown, shrunk or sealed further (so no holder can
 * take write access away from the others). */
static int make_regions(struct core *c)
{
    c->n_regions = kos_cm_nregions(c->cm);
    if (!c->n_regions)
        return 0;
    c->region_fds = calloc(c->n_regions, sizeof(int));
    if (!c->region_fds)
        return -1;
    for (uint32_t i = 0; i < c->n_regions; i++)
        c->region_fds[i] = -1;
    for (uint32_t i = 0; i < c->n_regions; i++) {
        const struct kos_cm_region *r = kos_cm_region(c->cm, i);
        const char *name = kos_cm_str(c->cm, r->name);
        int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
        if (fd < 0 && errno == EINVAL) /* kernels before 6.3 */
            fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, (off_t)r->size) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
            say(c, "cannot create memory region '%s' (%" PRIu64 " bytes): %s", name, r->size,
                strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        c->region_fds[i] = fd;
    }
    return 0;
}

/* Compiles each distinct app seccomp filter once, and the init's, so that
 * no process compiles one between its clone and its exec. Returns 0, or -1
 * after saying why. */
static int compile_filters(struct core *c)
{
    c->filters = calloc(c->n ? c->n : 1, sizeof(*c->filters));
    if (!c->filters) {
        say(c, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        struct kos_sandbox sb;
        uint32_t f;

        fill_sandbox(c, p, &sb, 0);
        for (f = 0; f < c->n_filters; f++)
            if (kos_sandbox_same_prog(&c->filters[f].sb, &sb))
                break;
        if (f == c->n_filters) {
            int err = kos_sandbox_app_prog(&sb, &c->filters[f].prog);
            if (err) {
                say(c, "cannot compile the seccomp filter of %s '%s': %s", kind(p), p->name,
                    strerror(err));
                return -1;
            }
            c->filters[f].sb = sb;
            c->n_filters++;
        }
        p->prog = &c->filters[f].prog;
    }
    /* The init's own filter is best-effort hardening of trusted code. */
    c->have_init_prog = kos_sandbox_init_prog(&c->init_prog) == 0;
    /* The exec gate is not: the probe found the host has it. */
    if (c->layers & KOS_SB_EXEC_GATE) {
        int err = kos_sandbox_gate_prog(&c->gate_prog);
        if (err) {
            say(c, "cannot compile the exec gate's seccomp filter: %s", strerror(err));
            return -1;
        }
        c->have_gate_prog = true;
    }
    return 0;
}

/*
 * Decides the isolation, probes the host, says what is in force and prepares
 * what sandboxes need (state directory, each binary's root, data
 * directories). Returns 0, or an exit status after saying why.
 */
static int setup_sandbox(struct core *c)
{
    const uint32_t required = KOS_SB_ALL & ~KOS_SB_LANDLOCK; /* Landlock: where the kernel has it */
    char desc[256], err[PATH_MAX + 256], range[96];
    uint32_t n_san = 0;

    if (c->opts->isolation >= 0)
        c->mode = (enum kos_sandbox_mode)c->opts->isolation;
    else
        c->mode = c->cm->hdr->flags & KOS_CM_ISOLATION_BEST_EFFORT ? KOS_SANDBOX_BEST_EFFORT
                                                                   : KOS_SANDBOX_STRICT;
    if (make_regions(c) < 0)
        return KOS_CORE_EXIT_HOST;
    if (kos__statedir_open(&c->sd, c->opts->state_dir, err, sizeof(err))) {
        say(c, "%s", err);
        return KOS_CORE_EXIT_HOST;
    }
    if (c->mode == KOS_SANDBOX_NONE) {
        say(c, "WARNING: sandbox: NONE (--isolation none): apps run unconfined, with every "
               "file, socket and process of this user within reach; development only");
    } else {
        if (!c->probing)
            kos_sandbox_probe_start(&c->probe);
        c->probing = false;
        kos_sandbox_probe_finish(&c->probe, &c->host);
        uint32_t missing = required & ~c->host.layers;
        c->layers = c->host.layers;
        if (missing && c->mode == KOS_SANDBOX_STRICT) {
            say(c, "sandbox: the host forbids: %s", c->host.why);
            say(c, "refusing to boot: strict isolation needs every layer (accept weaker "
                   "isolation with 'isolation: best_effort' in the manifest or kos-tool run "
                   "--isolation best-effort)");
            return KOS_CORE_EXIT_HOST;
        }
        kos_sandbox_describe(c->layers, c->host.landlock_abi, desc, sizeof(desc));
        say(c, "sandbox: %s; limits: rlimits (no delegated cgroup)", desc);
        if (missing || !(c->layers & KOS_SB_LANDLOCK))
            say(c, "WARNING: sandbox: %s isolation: missing: %s",
                missing ? "best-effort" : "strict", c->host.why);
        if ((c->layers & KOS_SB_SECCOMP) && !(c->layers & KOS_SB_EXEC_GATE))
            say(c, "WARNING: sandbox: no exec gate: an app can execute again after it started, "
                   "any program its root holds (its loader, its libraries)");
        if (c->host.privileged && take_uids(c) < 0)
            return KOS_CORE_EXIT_HOST;
        snprintf(range, sizeof(range), "range %u, held in %s/%u.lock", (unsigned)c->uids.range,
                 KOS__UID_LOCK_DIR, (unsigned)c->uids.range);
        if (!(c->layers & KOS_SB_NS_USER) && c->host.privileged)
            say(c,
                "WARNING: sandbox: no user namespace: each process runs as host uid %u + its "
                "index (%s), with no capabilities",
                (unsigned)c->uid_base, range);
        else if (!(c->layers & KOS_SB_NS_USER))
            say(c, "WARNING: sandbox: no user namespace: apps keep Core's uid %u",
                (unsigned)c->host.uid);
        else if (c->host.privileged)
            say(c,
                "sandbox: each process runs as uid %u in its own user namespace, mapped to "
                "host uid %u + its index (%s)",
                KOS_SANDBOX_APP_UID, (unsigned)c->uid_base, range);
        else
            say(c,
                "sandbox: Core is unprivileged: every process's uid %u maps to Core's uid "
                "%u, so process limits count all of this user's processes",
                KOS_SANDBOX_APP_UID, (unsigned)c->host.uid);
    }
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (c->mode != KOS_SANDBOX_NONE &&
            kos_sandbox_root_files(kos_image_binary_fd(c->img, p->idx), &p->ro_files,
                                   &p->n_ro_files, &p->sanitizer, p->root_err,
                                   sizeof(p->root_err)) != KOS_STATUS_OK &&
            !p->root_err[0])
            snprintf(p->root_err, sizeof(p->root_err), "cannot read its binary");
        if (p->sanitizer && !CORE_SANITIZER && !p->root_err[0])
            snprintf(p->root_err, sizeof(p->root_err),
                     "its binary carries a sanitizer runtime, which only a sanitizer build "
                     "of Core sandboxes");
        n_san += p->sanitizer;
        if (c->mode != KOS_SANDBOX_NONE && !is_server(p) && (p->cm->flags & KOS_CM_PROC_NET_HOST))
            say(c,
                "sandbox: app '%s' shares the host's network (network: host): it may open "
                "Internet sockets",
                p->name);
        if (p->cm->flags & KOS_CM_PROC_DATA_DIR)
            make_data_dir(c, p);
    }
    if (c->mode != KOS_SANDBOX_NONE && (c->layers & KOS_SB_SECCOMP) && compile_filters(c) < 0)
        return KOS_CORE_EXIT_HOST;
    if (n_san)
        say(c,
            "sandbox: %u binaries carry a sanitizer runtime (sanitizer build): they get a "
            "private /proc, may ptrace their own threads, and have no memory limits",
            n_san);
    say(c, "state directory: %s", c->sd.path);
    return 0;
}

/* Opens the device key bundle (--keys) for the app with device_keys: true,
 * and says which keys go to which app. Returns 0, or -1 after saying why. */
static int open_device_keys(struct core *c, const char *dir)
{
    const struct kos_cm *cm = c->cm;
    const char *to = NULL;
    char err[1024], list[512];
    size_t o = 0;

    if (kos__devkeys_open(dir, &c->keys, err, sizeof(err))) {
        say(c, "refusing the device key bundle %s: %s", dir, err);
        return -1;
    }
    for (uint32_t i = 0; i < kos_cm_nprocs(cm); i++)
        if (kos_cm_proc(cm, i)->flags & KOS_CM_PROC_DEVICE_KEYS)
            to = kos_cm_str(cm, kos_cm_proc(cm, i)->name);
    list[0] = '\0';
    for (size_t i = 0; i < c->keys.n && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s (%s %s %s)", i ? ", " : "",
                              c->keys.e[i].name, c->keys.e[i].type,
                              c->keys.e[i].private_key ? "private" : "public", c->keys.e[i].id);
    if (!to) {
        say(c,
            "WARNING: --keys %s given, but no app of this system takes the device keys "
            "(device_keys: true); nobody gets them",
            dir);
        kos__devkeys_close(&c->keys);
        return 0;
    }
    say(c, "device keys from %s for app '%s', read-only: %s", dir, to, c->keys.n ? list : "none");
    /* The bundle's trusted release keys are what the device will accept
     * releases from; an image signed by another key boots (it is trusted
     * through --trust) but says so. */
    const char *signer = kos_image_signer(c->img);
    bool trusts_any = false, trusts_signer = false;
    for (size_t i = 0; i < c->keys.n; i++) {
        if (strncmp(c->keys.e[i].name, "trusted_", 8) != 0)
            continue;
        trusts_any = true;
        trusts_signer |= signer && !strcmp(c->keys.e[i].id, signer);
    }
    if (signer && trusts_any && !trusts_signer)
        say(c,
            "WARNING: the device key bundle %s does not trust release key %s, which signed this "
            "image (it is trusted here through --trust); the device would refuse releases "
            "signed by it: make the bundle with keys.generate --device --trust naming that key",
            dir, signer);
    else if (signer && !trusts_any)
        say(c,
            "WARNING: the device key bundle %s trusts no release key; the device would refuse "
            "every release",
            dir);
    return 0;
}

static int setup_signals(struct core *c, sigset_t *old)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGPIPE);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0)
        return -1;
    sigdelset(&set, SIGPIPE);
    c->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return c->sigfd < 0 || c->timerfd < 0 ? -1 : 0;
}

static void destroy(struct core *c)
{
    for (uint32_t i = 0; c->procs && i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (p->state == P_RUNNING && p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
        }
        if (p->ctl >= 0)
            close(p->ctl);
        if (p->con >= 0)
            close(p->con);
        if (p->status_fd >= 0)
            close(p->status_fd);
        free(p->argv);
        free(p->envp);
        kos_sandbox_files_free(p->ro_files);
        free(p->data_dir);
        kos__storage_close(&p->store);
    }
    kos__devkeys_close(&c->keys);
    for (uint32_t i = 0; c->region_fds && i < c->n_regions; i++)
        if (c->region_fds[i] >= 0)
            close(c->region_fds[i]);
    for (uint32_t i = 0; c->filters && i < c->n_filters; i++)
        kos_sandbox_prog_fini(&c->filters[i].prog);
    free(c->filters);
    kos_sandbox_prog_fini(&c->init_prog);
    kos_sandbox_prog_fini(&c->gate_prog);
    free(c->region_fds);
    /* Every sandbox is gone: so are the apps' file systems, with this. */
    int err = kos__statedir_remove(&c->sd);
    if (err)
        say(c, "WARNING: cannot remove all of the state directory %s: %s", c->sd.path,
            strerror(err));
    kos__statedir_close(&c->sd);
    kos__uids_release(&c->uids);
    free(c->reach);
    free(c->ctlbuf);
    free(c->sysbuf);
    free(c->sysout);
    free(c->syspage);
    free(c->trace_recs);
    free(c->trace_out);
    for (uint32_t i = 0; c->procs && i < c->n; i++) {
        if (c->procs[i].trace) { /* its descriptor is valid only then */
            kos__trace_unmap(c->procs[i].trace);
            close(c->procs[i].trace_fd);
        }
    }
    free(c->procs);
    kos__sysq_fini(&c->sysq);
    kos_image_close(c->img);
    if (c->probing)
        kos_sandbox_probe_cancel(&c->probe);
    if (c->sigfd >= 0)
        close(c->sigfd);
    if (c->timerfd >= 0)
        close(c->timerfd);
    if (c->con.file_fd >= 0)
        close(c->con.file_fd);
}

/* Makes everything of the boot that ended new for the next one (a soft
 * reboot): every process not started, its counters at nothing, the self
 * test not reported, the memory regions new (a reboot clears memory). What
 * stays: the image, the state directory and every app's data, the device
 * keys, the sandbox, the console and the lines queued for the managing
 * app. Returns 0, or -1 after saying why the system cannot boot again. */
static int reset_boot(struct core *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        p->state = P_IDLE;
        p->pid = 0;
        p->ready = p->ended_ok = p->stopped = false;
        p->last_status = -1;
        p->starts = p->restarts = p->restarts_asked = p->quick = 0;
        p->restart_asked = false;
        p->stop = S_NONE;
        p->stop_at_us = p->started_us = p->restart_at_us = 0;
        p->launching = p->held = p->cancelled = false;
        drop_ends(p); /* any end never handed over */
        kos__console_buf_init(&p->conbuf, now_us() / 1000);
        p->traced = p->trace_flush = false; /* tracing does not survive a reboot */
    }
    c->n_traced = 0;
    for (uint32_t i = 0; c->region_fds && i < c->n_regions; i++)
        if (c->region_fds[i] >= 0)
            close(c->region_fds[i]);
    free(c->region_fds);
    c->region_fds = NULL;
    c->n_regions = 0;
    if (make_regions(c) < 0)
        return -1;
    memset(c->reach, 0, ((size_t)c->n * c->reach_words + 1) * sizeof(uint64_t));
    c->phase = PH_RUNNING;
    c->system_ready = c->failed = false;
    c->wait_noted = c->ready_noted = false;
    c->shutdown_us = 0;
    c->next_launch = 0;
    c->booted = false;
    c->self_test = KOS__SELF_TEST_NONE;
    c->self_test_text[0] = '\0';
    c->sys_watch = c->sys_changed_due = false;
    c->reboot = false;
    return 0;
}

/* Starts a boot: its clocks, its self-test deadline, its line. */
static void begin_boot(struct core *c)
{
    struct timespec ts;

    if (c->boots > 0) /* the first boot's clock started with Core */
        c->t0_us = now_us();
    clock_gettime(CLOCK_REALTIME, &ts);
    c->boot_wall_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    c->boots++;
    c->self_test_deadline_us = 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->procs[i].cm->flags & KOS_CM_PROC_SELF_TEST)
            c->self_test_deadline_us = c->t0_us + (uint64_t)self_test_timeout_ms(c) * 1000;
    if (c->boots == 1)
        say(c, "booting system '%s': %u message servers and apps",
            kos_cm_str(c->cm, c->cm->hdr->system_name), c->n);
    else
        say(c,
            "booting system '%s' again (soft reboot %u, the same image): %u message servers "
            "and apps",
            kos_cm_str(c->cm, c->cm->hdr->system_name), c->boots - 1, c->n);
}

int kos_core_run(const struct kos_core_opts *opts)
{
    struct core c = {.opts = opts,
                     .sigfd = -1,
                     .timerfd = -1,
                     .images = -1,
                     .manager = -1,
                     .uids = {.range = KOS__UID_NONE, .lock_fd = -1},
                     .sd = {.fd = -1, .data_fd = -1}};
    struct kos_image_open_opts io = {
        .trusted_keys = opts->trusted_keys,
        .n_trusted_keys = opts->n_trusted_keys,
        .allow_unsigned = opts->allow_unsigned,
    };
    char err[1024];
    sigset_t oldmask;
    int rc = KOS_CORE_EXIT_HOST;

    c.t0_us = now_us();
    /* A console that is a closed pipe must never end Core: from its first
     * line on, a write to it fails with EPIPE instead (console.c). */
    sigset_t pipe_set, mask_before;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_set, &mask_before);
    c.con.fd = opts->console_fd;
    c.con.file_fd = -1;
    if (opts->console_path) {
        c.con.file_fd = open(opts->console_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (c.con.file_fd < 0) {
            fprintf(stderr, "kos-tool run: cannot open console file %s: %s\n", opts->console_path,
                    strerror(errno));
            return KOS_CORE_EXIT_USAGE;
        }
    }
    /* The host's namespaces are tried in a child while the image is
     * verified (the child runs nothing of the image). */
    if (opts->isolation != KOS_SANDBOX_NONE) {
        kos_sandbox_probe_start(&c.probe);
        c.probing = true;
    }
    char shown[1100];
    if (opts->store) {
        char note[256];
        if (kos_store_boot(opts->store, &c.generation, note, sizeof(note), err, sizeof(err))) {
            say(&c, "cannot boot from the store: %s", err);
            rc = KOS_CORE_EXIT_REFUSED;
            goto out;
        }
        if (note[0])
            say(&c, "boot store: %s", note);
        /* A generation that does not verify gives way to good, then to
         * the newest one left (kos_store_fall_back), each said. */
        uint32_t tried[KOS_STORE_MAX_GENS];
        size_t n_tried = 0;
        for (;;) {
            snprintf(shown, sizeof(shown), "generation %u of store %s", c.generation,
                     kos_store_path(opts->store));
            if (!kos_store_open_image(opts->store, c.generation, &io, &c.img, err, sizeof(err)))
                break;
            say(&c, "refusing %s: %s", shown, err);
            tried[n_tried++] = c.generation;
            if (n_tried == KOS_STORE_MAX_GENS ||
                kos_store_fall_back(opts->store, tried, n_tried, &c.generation, note, sizeof(note),
                                    err, sizeof(err))) {
                say(&c, "cannot boot from the store: %s",
                    n_tried == KOS_STORE_MAX_GENS ? "too many generations tried" : err);
                rc = KOS_CORE_EXIT_REFUSED;
                goto out;
            }
            say(&c, "boot store: %s", note);
        }
    } else {
        snprintf(shown, sizeof(shown), "image %s", opts->image_path);
        if (kos_image_open(opts->image_path, &io, &c.img, err, sizeof(err))) {
            say(&c, "refusing image %s: %s", opts->image_path, err);
            rc = KOS_CORE_EXIT_REFUSED;
            goto out;
        }
    }
    c.cm = kos_image_manifest(c.img);
    if (kos_image_signer(c.img))
        say(&c, "%s verified: signed by release key %s", shown, kos_image_signer(c.img));
    else
        say(&c, "WARNING: %s is not signed (its manifest says signing: disabled)", shown);

    if (opts->keys_dir && open_device_keys(&c, opts->keys_dir)) {
        rc = KOS_CORE_EXIT_USAGE;
        goto out;
    }

    c.n = kos_cm_nprocs(c.cm);
    c.procs = calloc(c.n, sizeof(*c.procs));
    c.ctlbuf = malloc(KOS__CTL_MAX);
    c.sysbuf = malloc(SYS_LINE_BUF);
    c.sysout = malloc(KOS__CTL_MAX);
    c.syspage = malloc(sizeof(struct sys_page));
    c.trace_recs = calloc(KOS__SYS_TRACE_BATCH, sizeof(*c.trace_recs));
    c.trace_out = calloc(1, sizeof(*c.trace_out));
    c.reach_words = (c.n + 63) / 64;
    c.reach = calloc((size_t)c.n * c.reach_words + 1, sizeof(uint64_t));
    if (!c.procs || !c.ctlbuf || !c.reach || !c.sysbuf || !c.sysout || !c.syspage ||
        !c.trace_recs || !c.trace_out)
        goto out_nomem;
    for (uint32_t i = 0; i < c.n; i++) {
        struct proc *p = &c.procs[i];
        p->idx = i;
        p->cm = kos_cm_proc(c.cm, i);
        p->name = kos_cm_str(c.cm, p->cm->name);
        p->ctl = p->con = -1;
        p->status_fd = -1;
        p->trace_fd = -1;
        p->last_status = -1;
        kos__console_buf_init(&p->conbuf, c.t0_us / 1000);
        p->store.mnt = -1;
        if (build_vectors(&c, p))
            goto out_nomem;
        if (p->cm->role == KOS_CM_ROLE_APP && (p->cm->flags & KOS_CM_PROC_MANAGES_SYSTEM))
            c.manager = (int)i;
    }
    /* The system interface's app gets every console line from now on. */
    c.sys_log = (struct kos__budget){.credit = SYS_LOG_BURST,
                                     .refill_ms = c.t0_us / 1000 + SYS_LOG_EVERY_MS};
    if (c.manager >= 0) {
        c.con.tap = console_tap;
        c.con.tap_arg = &c;
        say(&c,
            "app '%s' manages the system (manages_system: true): it may ask for the system's "
            "state, restart apps and reboot, and gets every console line",
            c.procs[c.manager].name);
    }
    if (setup_signals(&c, &oldmask) < 0) {
        say(&c, "cannot set up signal handling: %s", strerror(errno));
        goto out;
    }
    /* Orphaned grandchildren of apps are reparented to Core and reaped. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* Sandboxed binaries sit at fd max_files, which must be below our own
     * limit; take the whole hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    rc = setup_sandbox(&c);
    if (rc) {
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
        goto out;
    }
    rc = KOS_CORE_EXIT_HOST;

    /* One boot, and one more for each soft reboot asked for. */
    for (;;) {
        begin_boot(&c);
        rc = run_loop(&c);
        for (uint32_t i = 0; i < c.n && c.self_test == KOS__SELF_TEST_NONE; i++)
            if (c.procs[i].cm->flags & KOS_CM_PROC_SELF_TEST)
                self_test_settle(&c, &c.procs[i],
                                 c.procs[i].state == P_FAILED ? KOS__SELF_TEST_RESULT_FAILED
                                                              : KOS__SELF_TEST_INCOMPLETE,
                                 0, 0, "the system stopped before it reported");
        if (rc == KOS_CORE_EXIT_OK && c.self_test == KOS__SELF_TEST_RESULT_FAILED)
            rc = KOS_CORE_EXIT_SELF_TEST;
        print_summary(&c);
        if (!c.reboot || rc == KOS_CORE_EXIT_HOST)
            break;
        if (opts->store) {
            /* The store decides what boots next: the caller starts Core
             * again, as a device reboots. */
            say(&c, "system stopped for a reboot (%s); booting from the store again", c.reboot_why);
            rc = KOS_CORE_EXIT_REBOOT;
            break;
        }
        say(&c, "system stopped for a reboot (%s; this boot's exit status: %d); booting it again",
            c.reboot_why, rc);
        if (reset_boot(&c) < 0) {
            rc = KOS_CORE_EXIT_HOST;
            break;
        }
    }
    say(&c, "system stopped (exit status %d)", rc);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    goto out;

out_nomem:
    say(&c, "out of memory");
out:
    destroy(&c);
    /* A SIGPIPE from a closed console is pending, not delivered: take it
     * before the caller's mask comes back. */
    while (sigtimedwait(&pipe_set, NULL, &(struct timespec){0, 0}) == SIGPIPE)
        ;
    sigprocmask(SIG_SETMASK, &mask_before, NULL);
    return rc;
}
