/*
 * admin.h - the parts of the admin component (docs/packages/admin.md): its
 * settings, the bounded queue of log records on their way to the server,
 * and the agent that speaks the link's admin and logs channels
 * (docs/link.md, proto/admin.proto, proto/logs.proto).
 *
 * The agent does no I/O of its own: main.c hands it what Core, the tunnel
 * and log_server said, and it answers through struct admin_ops, so every
 * message it reads from the server can be tested (and fuzzed) as bytes.
 * What stays true:
 *  - a message from the server is read only from the bytes given, copied
 *    by protobuf-c before anything in it is used; one that does not unpack,
 *    or that the agent does not know, is refused and counted, with console
 *    lines about refusals within a budget; a command is always answered
 *    with a CommandResult, at once when it is refused;
 *  - the queue of records holds at most `offline_buffer` bytes; a record
 *    that does not fit pushes out the oldest, and every record lost on the
 *    device (pushed out here, dropped by Core before it reached admin, or
 *    gone from log_server's ring before admin read it) is counted and sent
 *    in the next LogBatch's `dropped`: never silent;
 *  - LogRecord.seq increases by one per record sent, and a batch's records
 *    leave the queue only once the tunnel took the batch;
 *  - every message the agent sends fits KOS_TUNNEL_DATA_MAX.
 */
#ifndef KOS_ADMIN_H
#define KOS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>
#include <kos/tunnel.h>

#include "budget_int.h"
#include "sys_int.h"

/* Limits, with their reasons. */
#define ADMIN_HEALTH_EVERY_MS                                                                      \
    10000u /* health_every's default (docs/link.md: at least every 10 s) */
#define ADMIN_HEALTH_EVERY_MIN_MS 1000u    /* health_every at least: a server need not hear more */
#define ADMIN_HEALTH_EVERY_MAX_MS 3600000u /* at most an hour: the server would think it gone */
#define ADMIN_HEALTH_MIN_MS                                                                        \
    1000u                                       /* a Health on change at most once a second, so an \
                                                   app in a crash loop cannot flood the link */
#define ADMIN_OFFLINE_BUFFER     (256u * 1024u) /* offline_buffer's default */
#define ADMIN_OFFLINE_BUFFER_MIN (16u * 1024u)  /* a few console lines at the least */
#define ADMIN_OFFLINE_BUFFER_MAX (64u * 1024u * 1024u) /* well inside admin's memory: */
#define ADMIN_COMMANDS_MAX       16u /* commands waiting for Core at once; more are BUSY */
#define ADMIN_UP_QUEUE           32u /* CommandResults waiting for the link (and room) */
#define ADMIN_LOG_PIECE                                                                            \
    3000u                                 /* text in one LogRecord: longer lines are split, so     \
                                             that a record always fits a batch */
#define ADMIN_RECORD_OVERHEAD      64u    /* what a queued record costs beyond its text and app */
#define ADMIN_REFUSAL_LOG_BURST    10u    /* console lines about refused messages: a burst, */
#define ADMIN_REFUSAL_LOG_EVERY_MS 10000u /* then one per 10 s */
#define ADMIN_TRACE_QUEUE                                                                          \
    2048u /* trace records waiting for the link: ~20 s of what                                     \
             Core passes on at most, ~700 KB */
#define ADMIN_TRACE_CHANNELS                                                                       \
    1024u /* channels known from grants, for naming the peer and                                   \
             protocol of a call: the newest are kept */

/* ---- settings (config.c) ---- */

struct admin_config {
    uint64_t health_every_ms; /* Health at least this often while linked */
    uint64_t offline_buffer;  /* bytes of records kept while they cannot be sent */
    bool remote_shell;        /* the command console on the shell channel (shell.c) */
    bool remote_debug;        /* debugging apps marked debug: true on the debug channel (debug.c) */
};

/* Reads admin's settings from n key/value pairs (the manifest entry's
 * config:, in order) into *cfg, defaults first. Known keys: health_every
 * (a duration, 1s to 1h), offline_buffer (a size, 16KiB to 64MiB),
 * remote_shell and remote_debug (enabled or disabled, the default). False, with err naming
 * the key, the value and what would be valid, for anything else. */
bool admin_config_parse(struct admin_config *cfg, const char *const *keys,
                        const char *const *values, size_t n, char *err, size_t errlen);

/* Reads admin's saved place in the log stream (/data/admin.state, written
 * by admin itself): '#' comment lines, "seq N" (N >= 1) and "cursor N"
 * lines, N decimal. *seq and *cursor start at 1 and 0 and take each good
 * line's value. False if a line is anything else (the good ones still
 * count). */
bool admin_place_parse(const char *text, size_t len, uint64_t *seq, uint64_t *cursor);

/* ---- the queue of records (logq.c) ---- */

struct admin_record {
    int64_t time_ns;  /* wall clock */
    uint32_t level;   /* 0 debug, 1 info, 2 warn, 3 error */
    bool console;     /* a console line, not a log_server record */
    uint64_t src_seq; /* log_server's sequence number; 0 for a console line */
    char app[KOS__NAME_MAX];
    size_t len;  /* bytes of text */
    char text[]; /* valid UTF-8 (escaped), NUL-terminated */
};

struct admin_logq {
    struct admin_record **r; /* a ring of cap slots, oldest at head */
    size_t cap, head, n;
    size_t bytes, max_bytes; /* what the records cost, and the bound */
    uint64_t dropped;        /* records lost since the last batch sent */
    uint64_t dropped_total;  /* since admin started */
};

/* Makes q empty, holding at most max_bytes. False if out of memory. */
bool admin_logq_init(struct admin_logq *q, size_t max_bytes);
void admin_logq_fini(struct admin_logq *q);

/* Queues text[0..len) of `app` as one record, or as several of at most
 * ADMIN_LOG_PIECE bytes each, cut between characters. The text is escaped
 * as Core escapes console text unless `escaped` says it is already, so a
 * record is always valid UTF-8. The oldest records go first when it does
 * not fit, counted as dropped. */
void admin_logq_push(struct admin_logq *q, int64_t time_ns, const char *app, uint32_t level,
                     bool console, uint64_t src_seq, const char *text, size_t len, bool escaped);

/* Counts n records lost before they reached the queue. */
void admin_logq_lost(struct admin_logq *q, uint64_t n);

/* Packs a LogBatch of the oldest records that fit `cap` bytes (the first
 * numbered first_seq, the next one more each) with the drops since the
 * last batch; *n_records says how many. Returns its length; 0 when the
 * queue is empty or out of memory. Nothing leaves the queue. */
size_t admin_logq_batch(struct admin_logq *q, uint64_t first_seq, uint8_t *buf, size_t cap,
                        size_t *n_records);

/* The batch of n records was sent: they leave the queue, and the drops
 * counted so far went with it. */
void admin_logq_sent(struct admin_logq *q, size_t n);

/* Takes log_server's records out of the queue (the link went down: they are
 * still in log_server) and returns the sequence number of the oldest, 0 if
 * there were none. Console lines stay. */
uint64_t admin_logq_unpull(struct admin_logq *q);

/* The sequence number of the oldest log_server record in the queue, 0 if
 * there is none. */
uint64_t admin_logq_oldest_src(const struct admin_logq *q);

/* ---- the trace records (traceq.c) ---- */

/* One record on its way: Core's, with the peer and protocol of a call
 * filled in from the channel's grant. */
struct admin_trace {
    struct kos__sys_trace r;
    bool verified;
};

/* A channel as its message server's GRANT named it. */
struct admin_trace_chan {
    uint32_t channel; /* 0: an empty entry */
    char server[KOS__NAME_MAX], client[KOS__NAME_MAX], serving[KOS__NAME_MAX];
    char protocol[KOS__NAME_MAX];
};

/*
 * What stays true: the queue holds at most ADMIN_TRACE_QUEUE records, the
 * oldest pushed out first and counted; a call's peer and protocol are only
 * ever what a GRANT of the same message server said of that channel, and
 * only when that grant's client (for a CALL) or server (for a SERVE) is the
 * app Core says recorded it; otherwise both stay "" and the record is not
 * verified. An app's own ring cannot make it look like another app's.
 */
struct admin_traceq {
    struct admin_trace *q; /* a ring of ADMIN_TRACE_QUEUE */
    size_t head, n;
    uint64_t dropped;               /* lost since the last batch sent (on the device, or here) */
    uint64_t dropped_total;         /* since admin started */
    uint64_t unverified;            /* calls whose channel was not known */
    struct admin_trace_chan *chans; /* ADMIN_TRACE_CHANNELS, a ring: the oldest replaced */
    size_t chan_next;
};

bool admin_traceq_init(struct admin_traceq *t);
void admin_traceq_fini(struct admin_traceq *t);

/* Takes one batch from Core: grants and closes update the channels, calls
 * get their peer and protocol, everything is queued. */
void admin_traceq_take(struct admin_traceq *t, const struct kos__sys_traces *b);

/* Packs a TraceBatch of the oldest records that fit `cap` bytes with the
 * drops since the last batch; *n says how many. Returns its length, 0 when
 * there is nothing to send. Nothing leaves the queue. */
size_t admin_traceq_batch(struct admin_traceq *t, uint8_t *buf, size_t cap, size_t *n);

/* The batch of n records went: they leave the queue with the drops. */
void admin_traceq_sent(struct admin_traceq *t, size_t n);

/* ---- the agent (agent.c) ---- */

/* How the agent reaches the rest of the world. Each returns a status:
 * send: KOS_STATUS_OK, BUSY (no room on the channel now: the agent keeps the
 * message and tries again on admin_agent_pump()), UNAVAILABLE (the link is
 * down), or another error (the message is dropped and said). reserve (may
 * be NULL) is told, before a LogBatch goes, the first sequence number after
 * it, so that the numbers can be kept where a restart finds them. */
struct admin_ops {
    kos_status_t (*send)(void *arg, uint32_t channel, const void *data, size_t len);
    void (*reserve)(void *arg, uint64_t next_seq);
    kos_status_t (*restart)(void *arg, uint32_t core_id, const char *app);
    kos_status_t (*reboot)(void *arg, uint32_t core_id, const char *reason);
    /* The shell's (shell.c): a page of one of Core's tables (its answer
     * comes to admin_shell_table()), and a fresh state from Core (to
     * admin_shell_state()). */
    kos_status_t (*table)(void *arg, uint32_t core_id, uint32_t kind, uint32_t first);
    void (*want_state)(void *arg);
    /* Message tracing of an app on or off, answered through
     * admin_shell_core_result(); NULL in a build without tracing, where the
     * shell's `trace` says so. */
    kos_status_t (*trace)(void *arg, uint32_t core_id, const char *app, bool on);
    /* Remote debugging's (debug.c): a debugger on an app, answered through
     * admin_debug_core_result() with the agent's socket. */
    kos_status_t (*debug_attach)(void *arg, uint32_t core_id, const char *app);
    /* Upgrades' (upgrade.c): a request of Core's store interface
     * (KOS__CTL_SYS_STORE_*, answered through admin_upgrade_needs() and
     * admin_upgrade_core_result()), and the tunnel's fetch of a blob's
     * bytes [from, to) into fd (its end reported to admin_upgrade_fetched());
     * NULL where the tunnel is not open. */
    kos_status_t (*store)(void *arg, const struct kos__sys_request *rq);
    kos_status_t (*fetch)(void *arg, const uint8_t sha256[32], uint64_t from, uint64_t to, int fd);
    void *arg;
};

/* One app's state, as Core's STATUS says it. */
struct admin_app {
    char name[KOS__NAME_MAX];
    uint32_t role, state, restarts, restarts_asked;
    char last_exit[KOS__SYS_EXIT_MAX];
};

/* The system's state, copied out of Core's STATUS pages. */
struct admin_state {
    char system[KOS__NAME_MAX], manifest[KOS__SYS_DIGEST_MAX], signer[KOS__SYS_SIGNER_MAX];
    char platform[KOS__SYS_PLATFORM_MAX], version[KOS__SYS_VERSION_MAX];
    uint64_t boot_time_ns, uptime_ms;
    uint32_t boots, self_test;
    char self_test_text[KOS__SELF_TEST_TEXT_MAX];
    uint64_t mem_total, mem_used, storage_total, storage_used;
    uint32_t n_apps;
    struct admin_app apps[KOS__SYS_MAX_PROCS];
    /* The boot store's generations (store false: booted from an image
     * file), copied with their signers. */
    bool store;
    uint32_t generation, n_gens;
    struct admin_gen {
        uint32_t n, flags, state, tries, release, overlay;
        uint64_t created;
        char signer[KOS__SYS_SIGNER_MAX];
    } gens[KOS__SYS_MAX_GENS];
};

/* Copies one STATUS page into *s (the first page also sets the system's
 * fields). Returns true when the state is whole (the last page came). */
bool admin_state_take(struct admin_state *s, const struct kos__sys_status *page);

struct admin_pending {
    bool used;
    uint32_t core_id; /* the request to Core */
    uint64_t cmd_id;  /* the server's command */
};

struct admin_upgrade;

struct admin_agent {
    struct admin_ops ops;
    struct admin_upgrade *upgrade; /* where Upgrade commands go (NULL: refused) */
    struct admin_config cfg;
    struct admin_logq logq;
    struct admin_traceq traceq;
    bool traces_channel;       /* the tunnel gives admin the traces channel */
    bool traces_busy;          /* it had no room: wait for news */
    struct admin_state *state; /* the latest whole state; valid when have_state */
    struct admin_state *told;  /* what the last Health said of the apps and the self test */
    bool have_state, told_valid;
    bool up;         /* the link is up */
    bool registered; /* Register went out on this link */
    bool want_state; /* a Register or Health waits for a fresh state */
    bool health_due; /* a change to report */
    bool admin_busy; /* the admin channel had no room: wait for news */
    bool logs_busy;  /* likewise the logs channel */
    uint64_t last_health_ms;
    uint64_t next_seq; /* LogRecord.seq of the next record sent */
    uint64_t sent_records;
    struct admin_pending pending[ADMIN_COMMANDS_MAX];
    uint32_t next_core_id;
    struct {
        uint8_t *data;
        size_t len;
    } upq[ADMIN_UP_QUEUE]; /* CommandResults, packed, oldest first */
    size_t upq_head, upq_n;
    struct kos__budget refusal_log;
    uint64_t refused; /* messages from the server refused */
    char device_id[65];
    char device_name[128];
    uint8_t *buf; /* KOS_TUNNEL_DATA_MAX bytes for what is being packed */
};

/* Sets the agent up with its settings and ops; next_seq is the first
 * LogRecord.seq to use. False if out of memory. */
bool admin_agent_init(struct admin_agent *a, const struct admin_config *cfg,
                      const struct admin_ops *ops, uint64_t next_seq, uint64_t now_ms);
void admin_agent_fini(struct admin_agent *a);

/* A whole new state from Core (copied). Sends what waited for it (Register,
 * Health) and notes a change of the apps or the self test for a Health. */
void admin_agent_state(struct admin_agent *a, const struct admin_state *s, uint64_t now_ms);

/* The link went up or down. Up: Register goes out first, once the agent has
 * a fresh state (admin_agent_wants_state()). */
void admin_agent_link(struct admin_agent *a, bool up, uint64_t now_ms);

/* Whether the agent waits for a fresh state from Core. */
bool admin_agent_wants_state(const struct admin_agent *a);

/* One AdminDown message from the server (hostile bytes). */
void admin_agent_down(struct admin_agent *a, const uint8_t *data, size_t len, uint64_t now_ms);

/* Queues a CommandResult, and an UpgradeProgress, for the link. */
void admin_agent_result(struct admin_agent *a, uint64_t id, uint32_t status, const char *msg);
void admin_agent_progress(struct admin_agent *a, uint64_t id, const char *stage, uint64_t done,
                          uint64_t total, uint32_t blobs);

/* Whether every CommandResult has gone to the tunnel. */
bool admin_agent_results_sent(const struct admin_agent *a);

/* Core's answer to request core_id (a restart or a reboot). */
void admin_agent_core_result(struct admin_agent *a, uint32_t core_id, uint32_t status,
                             const char *message);

/* The tunnel has room again on these channels (a mask, 1u << channel). */
void admin_agent_room(struct admin_agent *a, uint32_t channels, uint64_t now_ms);

/* Sends what is due and fits: Register, CommandResults, Health, LogBatches.
 * Call it when the tunnel says a channel has room, after anything above,
 * and when admin_agent_next_ms() comes. */
void admin_agent_pump(struct admin_agent *a, uint64_t now_ms);

/* When the agent next has something to do by the clock (a Health), as
 * now_ms plus a delay; UINT64_MAX for never, or for when it waits for news
 * (a state from Core, room on the link). */
uint64_t admin_agent_next_ms(const struct admin_agent *a, uint64_t now_ms);

/* ---- the remote shell (shell.c) ----
 *
 * The device's command console, served on the link's shell channel
 * (proto/shell.proto) when the manifest says remote_shell: enabled. Not a
 * Unix shell: each line names one of a few commands that admin carries out
 * itself or asks of Core; no process is ever started. What stays true:
 *  - a line from the server is read only from the bytes given and parsed
 *    strictly (admin_shell_parse()); what is not a command is answered
 *    with why, never carried out;
 *  - with the shell disabled, every message on the channel is answered
 *    "disabled" and nothing else is done; the device says so on its
 *    console within a budget (one line, then one a minute);
 *  - one command runs at a time: the next line is taken only once the
 *    answer to the last has gone to the tunnel (admin_shell_ready()), so
 *    a server that sends faster waits in the link's flow control;
 *  - every answer ends with a ShellUp with `done`, its lines escaped
 *    (kos__text_escape()), each message within KOS_TUNNEL_DATA_MAX, the
 *    whole within ADMIN_SHELL_ANSWER_MAX; a command waiting for Core is
 *    answered TIMEOUT after ADMIN_SHELL_CORE_MS.
 */

#define ADMIN_SHELL_LINE_MAX     256u          /* a command line, bytes: commands are short */
#define ADMIN_SHELL_WORDS_MAX    4u            /* words in one (the longest command has 3) */
#define ADMIN_SHELL_OUT_LINE_MAX 1000u         /* an output line, escaped: longer ones are cut */
#define ADMIN_SHELL_ANSWER_MAX   (64u * 1024u) /* one answer's lines, bytes */
#define ADMIN_SHELL_QUEUE        24u  /* ShellUp messages of one answer (64 KiB in 4000s) */
#define ADMIN_SHELL_RECENT       256u /* console lines kept for `logs` */
#define ADMIN_SHELL_LOGS_DEFAULT 20u  /* lines `logs` shows, and at most */
#define ADMIN_SHELL_LOGS_MAX     200u
#define ADMIN_SHELL_TABLE_MAX    1024u  /* rows of Core's tables `dir` and `keys` show */
#define ADMIN_SHELL_CORE_MS      10000u /* how long a command waits for Core */
#define ADMIN_SHELL_LOG_BURST    10u    /* console lines about commands and refusals, */
#define ADMIN_SHELL_LOG_EVERY_MS 10000u /* then one per 10 s */
#define ADMIN_SHELL_OFF_EVERY_MS 60000u /* with the shell disabled: one, then one a minute */
/* Core request ids of the shell's, told apart from the agent's. */
#define ADMIN_SHELL_CORE_ID_BIT 0x80000000u

enum admin_shell_cmd {
    ADMIN_SHELL_EMPTY = 0, /* a line of spaces: nothing to do */
    ADMIN_SHELL_HELP,
    ADMIN_SHELL_APPS,
    ADMIN_SHELL_RESTART,
    ADMIN_SHELL_LOGS,
    ADMIN_SHELL_DIR,
    ADMIN_SHELL_TRACE,
    ADMIN_SHELL_HEALTH,
    ADMIN_SHELL_REBOOT,
    ADMIN_SHELL_KEYS,
};

struct admin_shell_command {
    enum admin_shell_cmd cmd;
    char app[KOS__NAME_MAX]; /* restart, trace; logs: "" for every app */
    uint32_t count;          /* logs: lines, 1..ADMIN_SHELL_LOGS_MAX */
    bool on;                 /* trace */
};

/* Reads one command line, line[0..len) (hostile bytes: a server's), into
 * *out. The line must be at most ADMIN_SHELL_LINE_MAX bytes of UTF-8
 * without control characters (C0, DEL, C1, line separators, bidirectional
 * controls); its words are separated by spaces. KOS_STATUS_OK, or
 * KOS_STATUS_INVALID_ARGUMENT (the line, or a command's arguments) or
 * KOS_STATUS_UNSUPPORTED (no such command), with err saying what was
 * wrong, any text of the line's quoted escaped. Never blocks. */
kos_status_t admin_shell_parse(const uint8_t *line, size_t len, struct admin_shell_command *out,
                               char *err, size_t errlen) __attribute__((warn_unused_result));

struct admin_recent_line {
    int64_t time_ns;
    char app[KOS__NAME_MAX];
    size_t len;
    char text[]; /* escaped, at most ADMIN_SHELL_OUT_LINE_MAX bytes */
};

enum admin_shell_wait {
    ADMIN_SHELL_IDLE = 0, /* no command under way */
    ADMIN_SHELL_CORE,     /* a restart, a reboot or a trace: Core's result */
    ADMIN_SHELL_TABLE,    /* a page of Core's table */
    ADMIN_SHELL_STATE,    /* a fresh state */
};

struct admin_shell {
    struct admin_ops ops;
    const struct admin_agent *agent; /* its state, device id and counts, read only */
    bool enabled;
    bool up;        /* the link is up */
    bool link_busy; /* the channel had no room: wait for news */
    /* the command under way */
    enum admin_shell_wait wait;
    struct admin_shell_command cmd;
    uint64_t id;        /* the server's id of the line */
    uint32_t core_id;   /* the request to Core waited for */
    uint32_t next_core; /* the next, without ADMIN_SHELL_CORE_ID_BIT */
    uint64_t deadline_ms;
    bool discard; /* the link went down meanwhile: the answer goes nowhere */
    /* the answer being built: NUL-terminated lines, one after another */
    char *out;
    size_t out_len, out_lines;
    bool out_cut;
    /* a table being gathered (dir, keys) */
    char (*rows)[KOS__SYS_TABLE_CELLS][KOS__NAME_MAX];
    uint32_t n_rows, rows_total;
    /* ShellUp messages packed, waiting for the link, oldest first */
    struct {
        uint8_t *data;
        size_t len;
    } q[ADMIN_SHELL_QUEUE];
    size_t q_head, q_n;
    /* the newest console lines, for `logs`: a ring, oldest at head */
    struct admin_recent_line *recent[ADMIN_SHELL_RECENT];
    size_t recent_head, recent_n;
    struct kos__budget log; /* lines about commands and refusals */
    uint64_t commands, refused, lost;
};

/* Sets the shell up (enabled or not) with its ops and the agent it reads
 * the system's state from. False if out of memory. */
bool admin_shell_init(struct admin_shell *sh, bool enabled, const struct admin_ops *ops,
                      const struct admin_agent *agent, uint64_t now_ms);
void admin_shell_fini(struct admin_shell *sh);

/* Whether the shell takes the next message from the channel now: no
 * command under way and the last answer handed to the tunnel. */
bool admin_shell_ready(const struct admin_shell *sh);

/* One message from the shell channel (hostile bytes): a ShellDown, carried
 * out or refused. Call it only when admin_shell_ready(); a message that
 * comes while a command is under way is refused BUSY. */
void admin_shell_input(struct admin_shell *sh, const uint8_t *data, size_t len, uint64_t now_ms);

/* Core's answer to a request of the shell's: true if core_id was the
 * shell's (ADMIN_SHELL_CORE_ID_BIT), whether or not it still waited. */
bool admin_shell_core_result(struct admin_shell *sh, uint32_t core_id, uint32_t status,
                             const char *message, uint64_t now_ms);

/* A page of one of Core's tables (decoded, valid). */
void admin_shell_table(struct admin_shell *sh, const struct kos__sys_table *t, uint64_t now_ms);

/* The agent has a fresh state from Core. */
void admin_shell_state(struct admin_shell *sh, uint64_t now_ms);

/* Whether the shell waits for a fresh state from Core. */
bool admin_shell_wants_state(const struct admin_shell *sh);

/* One console line (escaped, as Core sent it) or one of log_server's
 * records (raw; escaped here), kept for `logs` while the shell is enabled. */
void admin_shell_line(struct admin_shell *sh, int64_t time_ns, const char *app, const char *text,
                      size_t len);

/* The link went up or down. Down: answers waiting for it are dropped (the
 * server's own request ends with the link). */
void admin_shell_link(struct admin_shell *sh, bool up);

/* The tunnel has room on the shell channel again. */
void admin_shell_room(struct admin_shell *sh, uint64_t now_ms);

/* Sends what waits, as the tunnel takes it, and ends a command whose wait
 * for Core is over (TIMEOUT). */
void admin_shell_pump(struct admin_shell *sh, uint64_t now_ms);

/* When the shell next has something to do by the clock (a command's
 * deadline); UINT64_MAX for never. */
uint64_t admin_shell_next_ms(const struct admin_shell *sh);

/* ---- remote debugging (debug.c) ----
 *
 * A debugger's bytes on the link's debug channel (proto/debug.proto),
 * relayed to and from the debug agent Core attaches to an app marked
 * debug: true (KOS__CTL_SYS_DEBUG_ATTACH), when the manifest says
 * remote_debug: enabled. What stays true:
 *  - a message from the server is read only from the bytes given; with
 *    debugging disabled every open is answered "disabled" and nothing else
 *    is done (the device says so on its console within a budget);
 *  - one session at a time; a second open is answered BUSY;
 *  - nothing blocks: the agent's socket is non-blocking, the bytes towards
 *    it wait in a buffer of ADMIN_DEBUG_BUF (a message is taken from the
 *    channel only when it fits: a faster server waits in the link's flow
 *    control), and the agent's bytes are read only while the queue towards
 *    the tunnel has room (a faster agent waits in its socket);
 *  - a session ends when either side closes, when the link goes down, or
 *    on a message that does not unpack; the other side is told.
 */

#define ADMIN_DEBUG_CHUNK   3900u         /* agent bytes in one DebugUp: fits KOS_TUNNEL_DATA_MAX */
#define ADMIN_DEBUG_BUF     (64u * 1024u) /* debugger bytes waiting for the agent */
#define ADMIN_DEBUG_QUEUE   8u            /* DebugUp messages waiting for the tunnel */
#define ADMIN_DEBUG_CORE_MS 10000u        /* how long an open waits for Core */
/* Core request ids of debugging's, told apart from the agent's and the
 * shell's. */
#define ADMIN_DEBUG_CORE_ID_BIT 0x40000000u

enum admin_debug_state {
    ADMIN_DEBUG_IDLE = 0, /* no session */
    ADMIN_DEBUG_CORE,     /* an open waits for Core's answer */
    ADMIN_DEBUG_OPEN,     /* bytes flow */
};

struct admin_debug {
    struct admin_ops ops;
    bool enabled;
    bool up;        /* the link is up */
    bool link_busy; /* the channel had no room: wait for news */
    enum admin_debug_state state;
    char app[KOS__NAME_MAX];
    uint32_t core_id, next_core;
    uint64_t deadline_ms;
    int sock; /* the agent's socket (non-blocking), or -1 */
    uint8_t *down;
    size_t down_len; /* bytes for the agent, waiting */
    struct {
        uint8_t *data;
        size_t len;
    } q[ADMIN_DEBUG_QUEUE]; /* packed DebugUp messages, oldest first */
    size_t q_head, q_n;
    struct kos__budget log;
    uint64_t sessions, refused, lost, bytes_down, bytes_up;
};

/* Sets debugging up (enabled or not) with its ops. False if out of memory. */
bool admin_debug_init(struct admin_debug *d, bool enabled, const struct admin_ops *ops,
                      uint64_t now_ms);
/* Ends any session and frees everything. */
void admin_debug_fini(struct admin_debug *d);

/* Whether the next message from the channel is taken now: room for its
 * bytes and for the answers. */
bool admin_debug_ready(const struct admin_debug *d);

/* One message from the debug channel (hostile bytes): a DebugDown. */
void admin_debug_input(struct admin_debug *d, const uint8_t *data, size_t len, uint64_t now_ms);

/* Core's answer to a request of debugging's: true if core_id was its
 * (ADMIN_DEBUG_CORE_ID_BIT), whether or not it still waited; fd (the
 * agent's socket with an OK, else -1) is then taken (kept or closed). */
bool admin_debug_core_result(struct admin_debug *d, uint32_t core_id, uint32_t status,
                             const char *message, int fd, uint64_t now_ms);

/* The agent's socket to poll, -1 for none, with the events wanted in
 * *events (POLLIN while the queue has room, POLLOUT while bytes wait). */
int admin_debug_fd(const struct admin_debug *d, short *events);

/* The socket polled with revents: bytes moved, a closed agent ends the
 * session. */
void admin_debug_io(struct admin_debug *d, short revents, uint64_t now_ms);

/* The link went up or down (down: the session ends). */
void admin_debug_link(struct admin_debug *d, bool up, uint64_t now_ms);

/* The tunnel has room on the debug channel again. */
void admin_debug_room(struct admin_debug *d, uint64_t now_ms);

/* Sends what waits, as the tunnel takes it, and ends an open whose wait
 * for Core is over (TIMEOUT). */
void admin_debug_pump(struct admin_debug *d, uint64_t now_ms);

/* When debugging next has something to do by the clock; UINT64_MAX for
 * never. */
uint64_t admin_debug_next_ms(const struct admin_debug *d);

/* ---- upgrades (upgrade.c) ---- */

/* An Upgrade command carried out (docs/upgrades.md): Core says which blobs
 * its store lacks; for each, Core gives a pipe into the blob's staging, the
 * tunnel fetches the bytes missing into it, and Core checks and keeps the
 * blob; once none is missing, Core stores the image as current, and the
 * device reboots into it once the result has gone to the link. One upgrade
 * at a time; a fetch that fails is tried again, from where it stopped,
 * ADMIN_UPGRADE_TRIES times. What stays true: nothing the server sends
 * reaches the store unchecked (Core verifies every digest and the
 * signature), and every upgrade ends in exactly one CommandResult. */
#define ADMIN_UPGRADE_TRIES    5u    /* fetches of the upgrade that may fail */
#define ADMIN_UPGRADE_RETRY_MS 2000u /* the wait before the first retry; doubles */
#define ADMIN_UPGRADE_BLOBS    1025u /* blobs an offer may name (KOS__IMAGE_MAX_ENTRIES) */
#define ADMIN_UPGRADE_GRACE_MS 1000u /* the wait for the result to leave before rebooting */

enum admin_upgrade_step {
    UP_IDLE = 0,
    UP_NEED,   /* asked Core which blobs it lacks */
    UP_OPEN,   /* asked Core for the next blob's pipe */
    UP_FETCH,  /* the tunnel fetches it */
    UP_DONE,   /* asked Core to keep it */
    UP_WAIT,   /* waiting to ask again (a retry, or Core still draining) */
    UP_ADD,    /* asked Core to store the image */
    UP_REBOOT, /* stored: rebooting once the result has gone */
};

struct admin_upgrade_blob {
    uint8_t sha256[32];
    uint64_t size;
};

struct admin_upgrade {
    struct admin_agent *agent;
    const struct admin_ops *ops;
    enum admin_upgrade_step step, after_wait;
    uint64_t cmd_id;
    uint32_t core_id; /* the request to Core waited for */
    uint32_t next_core_id;
    char sig[KOS__SYS_SIG_MAX];
    uint32_t sig_len, release;
    char what[48];                    /* "release 7" or "release 7 overlay 2", for messages */
    struct admin_upgrade_blob *offer; /* ADMIN_UPGRADE_BLOBS */
    size_t n_offer;
    struct admin_upgrade_blob cur; /* the blob under way */
    uint64_t cur_have;
    uint64_t fetched, to_fetch; /* bytes */
    uint32_t blobs_to_fetch, failures;
    uint64_t wait_until_ms, progress_ms;
    struct kos__budget log;
    uint64_t upgrades; /* carried out since admin started */
};

bool admin_upgrade_init(struct admin_upgrade *u, struct admin_agent *a, const struct admin_ops *ops,
                        uint32_t first_core_id, uint64_t now_ms);
void admin_upgrade_fini(struct admin_upgrade *u);

/* Core request ids from first_core_id up (admin_upgrade_init) are the
 * upgrade's: true if core_id is one of them. */
bool admin_upgrade_owns(const struct admin_upgrade *u, uint32_t core_id);

/* An Upgrade command from the server (hostile: every field is checked);
 * its result is queued on the agent. */
struct Kos__Admin__Upgrade;
void admin_upgrade_start(struct admin_upgrade *u, uint64_t cmd_id,
                         const struct Kos__Admin__Upgrade *m, uint64_t now_ms);

/* Core's answers: NEEDS, and RESULT (with a FETCH's pipe in fd, taken). */
void admin_upgrade_needs(struct admin_upgrade *u, const struct kos__sys_needs *n, uint64_t now_ms);
void admin_upgrade_core_result(struct admin_upgrade *u, uint32_t core_id, uint32_t status,
                               const char *message, int fd, uint64_t now_ms);

/* The tunnel's fetch ended: its status, the bytes it wrote, why. */
void admin_upgrade_fetched(struct admin_upgrade *u, kos_status_t st, uint64_t written,
                           const char *why, uint64_t now_ms);

/* The clock: retries, and the reboot once the result has gone. */
void admin_upgrade_pump(struct admin_upgrade *u, uint64_t now_ms);
uint64_t admin_upgrade_next_ms(const struct admin_upgrade *u);

#endif
