/*
 * core_int.h - what the parts of KOS Core (the .c files of core/) share: the state of a
 * system (struct core) and of each process (struct proc), and the functions
 * one part calls in another, each named kos__core_<what it does>.
 *
 * What stays true: every running process has exactly one struct proc in
 * state RUNNING holding its pid, and Core never blocks on an app: what it
 * sends an app is sent without waiting.
 */
#ifndef KOS_CORE_INT_H
#define KOS_CORE_INT_H

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
#include "le_int.h"
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
    /* Between launch and exec (see kos__core_launch_proc): */
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
     * went off is still to be read. While a message server has yet to
     * answer that it recorded what p holds (KOS__CTL_TRACE_DONE: a bit per
     * entry of kos__core_servers_of(), for the telling numbered trace_seq),
     * p's ring is not drained, so that its channels' grants go first. */
    int trace_fd;
    struct kos__trace_shm *trace;
    struct kos__trace_reader trd;
    bool traced;
    bool trace_flush;
    uint32_t trace_wait;
    uint32_t trace_seq;
    /* Remote debugging (debugger_int.h): its debug agent, if one is
     * attached (0: none), and the app's host pid it traces. */
    pid_t dbg_pid;
    pid_t dbg_target;
    /* Its cgroup (cgroup.c), where Core owns the hierarchy: the folder
     * (O_PATH), or -1; and its memory.events oom_kill count at its start
     * (UINT64_MAX: unknown). */
    int cg_fd;
    uint64_t cg_oom;
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
    int cgroup_fd; /* the cgroup v2 hierarchy Core owns (O_PATH), or -1: rlimits only */
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
     * app a kos__core_uses app b, directly (it requests a protocol b publishes on the
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
    /* The boot store's generations as STATUS reports them
     * (kos__core_store_survey(): read after the boot's choice and after
     * the self test settles; Core is the store's one writer while it runs,
     * so nothing else changes it meanwhile), with what this boot learnt:
     * the one whose self test failed (also when no good one is there to
     * fall back to, which the store does not remember), those that did
     * not verify. */
    struct kos_store_gen *gens; /* KOS_STORE_MAX_GENS */
    uint32_t n_gens;
    struct kos_store_state gen_state;
    uint32_t gen_epoch; /* one more at each survey */
    uint32_t gen_failed;
    uint32_t gen_damaged[KOS_STORE_MAX_GENS];
    uint32_t n_damaged;
    /* The blob an upgrade is staging (upgrade.c): its staging file, the
     * pipe Core drains into it (-1 when none), its digest and size, the
     * bytes it holds, and whether it got more than its size. */
    int stage_fd, stage_rd;
    uint8_t stage_sha[32];
    uint64_t stage_size, stage_got;
    bool stage_over;
    /* The blobs the last STORE_NEED named: the only ones the managing app
     * may stage (so that it cannot fill the store with others). */
    uint8_t stage_need[KOS__SYS_NEED_MAX][32];
    uint32_t n_stage_need;
    uint32_t boots;       /* 1, and one more for each soft reboot */
    int64_t boot_wall_ns; /* the wall clock when this boot began */
};

static inline uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#define say(c, ...) kos__console_printf(&(c)->con, CORE_NAME, __VA_ARGS__)

static inline bool is_server(const struct proc *p)
{
    return p->cm->role == KOS_CM_ROLE_MSG_SERVER;
}

static inline const char *kind(const struct proc *p)
{
    return is_server(p) ? "message server" : "app";
}

static inline const char *restart_name(uint32_t r)
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

/* The system interface (sysif.c), as core.c sets it up. */
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

/* sysif.c */
void kos__core_store_survey(struct core *c);

/* core.c */
void kos__core_describe_status(int status, char *buf, size_t len);
void kos__core_on_console(struct core *c, struct proc *p, size_t max);
bool kos__core_on_control(struct core *c, struct proc *p);
int kos__core_run_loop(struct core *c);

/* launch.c */
void kos__core_abandon_start(struct proc *p, bool reaped);
kos_status_t kos__core_build_vectors(struct core *c, struct proc *p);
void kos__core_connect_proc(struct core *c, struct proc *p);
void kos__core_drop_ends(struct proc *p);
void kos__core_fill_sandbox(struct core *c, struct proc *p, struct kos_sandbox *sb,
                            uint64_t shared);
kos_status_t kos__core_finish_proc(struct core *c, struct proc *p);
gid_t kos__core_host_gid(const struct core *c, const struct proc *p);
uid_t kos__core_host_uid(const struct core *c, const struct proc *p);
kos_status_t kos__core_launch_proc(struct core *c, struct proc *p, bool hold);
kos_status_t kos__core_send_grants(struct core *c, struct proc *p, uint32_t s, int fd);
uint32_t kos__core_servers_of(const struct core *c, const struct proc *p, uint32_t *out);
kos_status_t kos__core_start_proc(struct core *c, struct proc *p);

/* stop.c */
void kos__core_advance_shutdown(struct core *c);
bool kos__core_any_running(const struct core *c, uint32_t role);
void kos__core_arm_timer(struct core *c);
void kos__core_ask_stop(struct core *c, struct proc *p);
void kos__core_begin_shutdown(struct core *c, const char *why);
void kos__core_on_timer(struct core *c);
bool kos__core_reaches(const struct core *c, uint32_t a, uint32_t b);
bool kos__core_uses(const struct kos_cm *cm, const struct kos_cm_proc *a,
                    const struct kos_cm_proc *b);

/* supervise.c */
void kos__core_check_ready(struct core *c);
void kos__core_close_console(struct core *c, struct proc *p);
void kos__core_ended_for_good(struct core *c, struct proc *p);
bool kos__core_on_self_test(struct core *c, struct proc *p, size_t len);
void kos__core_print_summary(struct core *c);
void kos__core_reap(struct core *c);
void kos__core_report_drops(struct core *c, struct proc *p, bool final);
void kos__core_restart_now(struct core *c, struct proc *p);
void kos__core_self_test_deadline(struct core *c);
void kos__core_self_test_settle(struct core *c, const struct proc *p,
                                enum kos__self_test_result result, uint32_t checks, uint32_t failed,
                                const char *summary);
unsigned kos__core_self_test_timeout_ms(const struct core *c);
uint32_t kos__core_sys_state(const struct proc *p);

/* sysif.c */
void kos__core_close_ctl(struct core *c, struct proc *p);
void kos__core_console_tap(void *arg, int64_t time_ns, const char *name, const char *text,
                           size_t len);
void kos__core_debug_end(struct core *c, struct proc *p, const char *why);
bool kos__core_on_sys_request(struct core *c, struct proc *p, uint32_t type, size_t len);
void kos__core_restart_asked_now(struct core *c, struct proc *t);
void kos__core_say_sys(struct core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kos__core_sys_notify(struct core *c);
void kos__core_sys_result(struct core *c, uint32_t to, uint32_t to_start, uint32_t id,
                          kos_status_t status, const char *fmt, ...);

/* tracing.c */
void kos__core_sys_trace_credit(struct core *c, uint32_t credit);
void kos__core_sys_trace_set(struct core *c, struct proc *from, const struct kos__sys_request *rq);
uint64_t kos__core_trace_due(const struct core *c);
int kos__core_trace_prepare(struct core *c, struct proc *p);
void kos__core_trace_pump(struct core *c);
void kos__core_trace_tell(struct core *c, struct proc *p, uint32_t s, bool on);
bool kos__core_trace_done(struct core *c, struct proc *srv, size_t len);

/* upgrade.c */
void kos__core_sys_store(struct core *c, struct proc *from, const struct kos__sys_request *rq);
void kos__core_stage_drain(struct core *c, size_t max);
void kos__core_stage_end(struct core *c);

/* cgroup.c */
int kos__core_cgroup_init(struct core *c, const char *dir, char *why, size_t whylen);
int kos__core_cgroup_prepare(struct core *c, struct proc *p, const struct kos_sandbox *sb,
                             char *why, size_t whylen);
bool kos__core_cgroup_oom(struct core *c, struct proc *p);

/* setup.c */
int kos__core_make_regions(struct core *c);
int kos__core_open_device_keys(struct core *c, const char *dir);
int kos__core_setup_sandbox(struct core *c);
int kos__core_setup_signals(struct core *c, sigset_t *old);

#endif
