/*
 * sys_int.h - Core's system interface: what the one app a manifest marks
 * `manages_system: true` (the Poukai layer's admin) may ask Core on its
 * control channel, and what Core sends it there (docs/running.md, "The
 * system interface").
 *
 * Requests, app -> Core (each a control message, boot_int.h):
 *   KOS__CTL_SYS_STATUS_REQ     u32 id, u32 first: a page of the system's
 *                               state, from process `first` on
 *   KOS__CTL_SYS_RESTART        u32 id, app name: stop that app as Core stops
 *                               any, and start it again (a restart asked for)
 *   KOS__CTL_SYS_REBOOT         u32 id, reason (printable): stop the whole
 *                               system and boot it again
 *   KOS__CTL_SYS_CONSOLE_CREDIT u32 bytes: Core may send that many more bytes
 *                               of console lines (kos__sys_console_cost() each);
 *                               the first one subscribes the app
 *   KOS__CTL_SYS_TRACE_SET      u32 id, u32 on (0 or 1), app name: record that
 *                               app's calls and its directory events, or stop
 *                               (answered by RESULT)
 *   KOS__CTL_SYS_TRACE_CREDIT   u32 records: Core may send that many more trace
 *                               records; the first one subscribes the app
 *   KOS__CTL_SYS_TABLE_REQ      u32 id, u32 table, u32 first: a page of one of
 *                               Core's read-only tables (enum
 *                               kos__sys_table_kind), from row `first` on
 *   KOS__CTL_SYS_DEBUG_ATTACH   u32 id, app name: attach a debugger (Core's
 *                               gdbserver, outside the app's sandbox) to that
 *                               app, which must be marked debug: true and
 *                               run; answered by RESULT, carrying on success
 *                               one end of a stream socket that speaks gdb's
 *                               remote protocol (closing it ends the session)
 *   KOS__CTL_SYS_STORE_NEED     u32 id, u32 len, image.sig (len bytes, 1..
 *                               KOS__SYS_SIG_MAX): which blobs of that image
 *                               the boot store lacks (answered by NEEDS)
 *   KOS__CTL_SYS_STORE_FETCH    u32 id, SHA-256 (32 bytes), u64 size: Core
 *                               opens the blob's staging file and answers by
 *                               RESULT carrying the write end of a pipe it
 *                               drains into the file, appending, never past
 *                               size; at most one at a time (a new one ends
 *                               the last)
 *   KOS__CTL_SYS_STORE_DONE     u32 id, SHA-256, u64 size: what was written
 *                               to the pipe (now closed) is the whole blob:
 *                               Core checks and keeps it (RESULT)
 *   KOS__CTL_SYS_STORE_ADD      u32 id, u32 len, image.sig: every blob is in
 *                               the store: store the image as the current
 *                               generation (RESULT), booted at the next
 *                               (re)boot
 * Core -> app:
 *   KOS__CTL_SYS_STORE_NEEDS    u32 id, u32 status, message, u32 same, u32 n,
 *                               n * (SHA-256, u64 have): the blobs the store
 *                               lacks (n <= KOS__SYS_NEED_MAX; 0: none, or
 *                               `same` is the current generation, which is
 *                               that image already) and the bytes of each it
 *                               has staged; or a refusal (status, message)
 *   KOS__CTL_SYS_STATUS         the page asked for (struct kos__sys_status),
 *                               with the boot store's generations after the
 *                               processes (each page carries them all)
 *   KOS__CTL_SYS_RESULT         u32 id, u32 status, message: how RESTART or
 *                               REBOOT went (a STATUS_REQ is answered by STATUS)
 *   KOS__CTL_SYS_CONSOLE        u64 time_ns, u32 dropped, name, text: one
 *                               console line as printed (escaped), and how many
 *                               lines were dropped before it
 *   KOS__CTL_SYS_CHANGED        (no body) a process's state, restarts or last
 *                               exit, or the self test, changed since the app
 *                               last asked for STATUS; at most one is pending
 *   KOS__CTL_SYS_TRACES         u64 lost, u32 n, then n records (struct
 *                               kos__sys_trace): trace records, each stamped
 *                               by Core with the names it knows the processes
 *                               by, and how many were lost before them
 *   KOS__CTL_SYS_TABLE          the page of a table asked for (struct
 *                               kos__sys_table)
 *
 * All integers are little-endian; strings are NUL-terminated and bounded.
 * Decoders take only bodies that match the layout exactly, with every name
 * valid, every text printable (no control character but tab, no DEL),
 * every count and enum in range; anything else is KOS_STATUS_PROTOCOL, and
 * Core then closes the sender's control channel. Core never blocks on the
 * app: what it sends there is sent without waiting, console lines only
 * within the credit the app gave, so the channel always has room for
 * results and for STOP.
 */
#ifndef KOS_SYS_INT_H
#define KOS_SYS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/app.h>

#include "boot_int.h"

/* The limits of the records, with their reasons. */
#define KOS__SYS_REASON_MAX   256u  /* a reboot's reason, with its NUL: one line of Core's */
#define KOS__SYS_MESSAGE_MAX  512u  /* a result's message, with its NUL: one line */
#define KOS__SYS_EXIT_MAX     128u  /* a last exit as the summary says it, with its NUL */
#define KOS__SYS_DIGEST_MAX   65u   /* a SHA-256 in hex, with its NUL */
#define KOS__SYS_SIGNER_MAX   17u   /* a key id (16 hex digits), with its NUL */
#define KOS__SYS_PLATFORM_MAX 64u   /* "sim", "qemu-arm-virt,arch=aarch64", with its NUL */
#define KOS__SYS_VERSION_MAX  32u   /* "0.1.0", with its NUL */
#define KOS__SYS_MAX_PROCS    1024u /* processes in a system (KOS_CM_MAX_PROCS) */
#define KOS__SYS_SIG_MAX      1024u /* image.sig (KOS__IMAGE_SIG_MAX) */
#define KOS__SYS_NEED_MAX     64u   /* blobs a NEEDS names (KOS_STORE_NEED_MAX) */
/* Processes in one STATUS page: each takes at most 64 + 16 + 128 bytes, so
 * a page stays near 27 KB, well inside one control message with the
 * self test's summary (1 KB) and the header. */
#define KOS__SYS_PAGE_PROCS 128u
/* A console line's text, escaped, with its NUL: Core's lines hold at most
 * 2048 bytes before escaping (core/console_int.h), and escaping at most
 * quadruples them (lib/text_int.h). */
#define KOS__SYS_TEXT_MAX (4u * 2048u + 1u)
/* Console credit: the bytes of console lines an app may have waiting on its
 * channel. With KOS__SYS_CONSOLE_OVERHEAD counted per line for what the
 * kernel charges a datagram beyond its bytes, a full window stays well under
 * a socket's default send buffer (208 KiB), so results, STATUS pages and
 * STOP always find room. */
#define KOS__SYS_CONSOLE_WINDOW   65536u
#define KOS__SYS_CONSOLE_OVERHEAD 1024u

/* Trace records: at most KOS__SYS_TRACE_BATCH in one TRACES message (each
 * at most 48 + 4 * 64 bytes: under 10 KB), and at most
 * KOS__SYS_TRACE_WINDOW sent and not paid back in credit: under 40 KB on the
 * channel beside the console's window, so results and STOP still find room. */
#define KOS__SYS_TRACE_BATCH  32u
#define KOS__SYS_TRACE_WINDOW 128u

/* Core's tables: rows of KOS__SYS_TABLE_CELLS short cells (each a string of
 * at most KOS__NAME_MAX bytes with its NUL), sent a page at a time. A page
 * of KOS__SYS_TABLE_PAGE_ROWS rows stays near 33 KB, inside one control
 * message; KOS__SYS_TABLE_MAX_ROWS bounds what a reader may be told to
 * expect (every grant of the largest system). */
#define KOS__SYS_TABLE_CELLS     4u
#define KOS__SYS_TABLE_PAGE_ROWS 128u
#define KOS__SYS_TABLE_MAX_ROWS  (KOS__SYS_MAX_PROCS * KOS__GRANTS_MAX)

/* What one console line of `body_len` bytes costs in credit. */
static inline uint32_t kos__sys_console_cost(size_t body_len)
{
    return (uint32_t)(sizeof(struct kos__ctl_hdr) + body_len + KOS__SYS_CONSOLE_OVERHEAD);
}

/* A process's state, as Core's summary says it (kos__sys_state_name()). */
enum kos__sys_state {
    KOS__SYS_NOT_STARTED = 1,   /* "not started" */
    KOS__SYS_RUNNING_READY,     /* "running, ready" */
    KOS__SYS_RUNNING_NOT_READY, /* "running, not ready" */
    KOS__SYS_WAITING,           /* "waiting to restart" */
    KOS__SYS_ENDED,             /* "ended": it ended by itself */
    KOS__SYS_STOPPED,           /* "stopped": it ended when asked */
    KOS__SYS_FAILED,            /* "failed" */
};

/* The boot store's generations in a STATUS (every page carries them all):
 * a store keeps at most KOS_STORE_MAX_GENS (manifest/store.h) records, so
 * 64 of at most 5 * 4 + 8 + 17 bytes each add under 3 KB to a page. */
#define KOS__SYS_MAX_GENS 64u
#define KOS__SYS_OVERLAY_MAX 0xffffu /* as KOS_CM_OVERLAY_MAX */

/* A generation's state, as the health report says it
 * (kos__sys_gen_state_name()). */
enum kos__sys_gen_state {
    KOS__SYS_GEN_KEPT = 1, /* "kept": neither current nor good; not booted this time */
    KOS__SYS_GEN_TRIAL,    /* "on trial": current, its self test not passed yet */
    KOS__SYS_GEN_PASSED,   /* "passed": good (its self test passed) */
    KOS__SYS_GEN_FAILED,   /* "failed": its self test failed, or it used its boots */
    KOS__SYS_GEN_DAMAGED,  /* "damaged": its record or image does not verify */
};

/* A generation's marks (struct kos__sys_gen's flags). */
#define KOS__SYS_GEN_CURRENT 1u /* what boots next */
#define KOS__SYS_GEN_GOOD    2u /* the last whose self test passed */
#define KOS__SYS_GEN_RUNNING 4u /* what runs now */
#define KOS__SYS_GEN_FLAGS   7u

struct kos__sys_gen {
    uint32_t n;         /* its number, from 1; ascending in a page */
    uint32_t flags;     /* KOS__SYS_GEN_* marks; each on one generation at most */
    uint32_t state;     /* enum kos__sys_gen_state */
    uint32_t tries;     /* boots counted without a passed self test (current only) */
    uint64_t created;   /* when it was stored, Unix seconds; 0 unknown */
    const char *signer; /* the release key id, "" for unsigned or unknown */
    uint32_t release;   /* its manifest's release number, 0 for none */
    uint32_t overlay;   /* its overlay number on that release, 0 for none (optional) */
};

/* The self test's verdict this boot. */
enum kos__sys_self_test {
    KOS__SYS_SELF_TEST_NONE = 0, /* none yet, or no app reports one */
    KOS__SYS_SELF_TEST_PASSED = 1,
    KOS__SYS_SELF_TEST_FAILED = 2,
    KOS__SYS_SELF_TEST_INCOMPLETE = 3,
};

struct kos__sys_proc {
    const char *name;
    uint32_t role;           /* KOS__ROLE_APP or KOS__ROLE_MSG_SERVER */
    uint32_t state;          /* enum kos__sys_state */
    uint32_t restarts;       /* restarts this boot, asked for or not */
    uint32_t restarts_asked; /* of those, asked for (KOS__CTL_SYS_RESTART) */
    const char *last_exit;   /* "none", "exited with status 0", "killed by signal 9 (Killed)" */
};

/* One STATUS page. Strings point into the decoded body (or, encoding, are
 * the caller's). */
struct kos__sys_status {
    uint32_t id;                          /* the request's */
    const char *system;                   /* the system's name */
    const char *manifest;                 /* SHA-256 of the compiled manifest, 64 hex digits */
    const char *signer;                   /* the release key id, "" for an unsigned image */
    const char *platform;                 /* "sim" */
    const char *version;                  /* KOS's version */
    uint64_t boot_time_ns;                /* wall clock when this boot began */
    uint64_t uptime_ms;                   /* since then */
    uint32_t boots;                       /* 1, and one more for each soft reboot of this Core */
    uint32_t self_test;                   /* enum kos__sys_self_test */
    const char *self_test_summary;        /* what Core said of it, "" for none */
    uint64_t mem_total, mem_used;         /* bytes, see docs/running.md */
    uint64_t storage_total, storage_used; /* bytes, likewise */
    uint32_t n_total;                     /* processes in the system */
    uint32_t first;                       /* the index of procs[0] */
    uint32_t n_procs;                     /* in this page */
    struct kos__sys_proc procs[KOS__SYS_PAGE_PROCS];
    /* The boot store: store 1 when Core booted from one (then generation
     * is the one running), else 0 with no generations. */
    uint32_t store;
    uint32_t generation;
    uint32_t n_gens;
    struct kos__sys_gen gens[KOS__SYS_MAX_GENS];
};

/* Core's tables, and what each row's cells hold. Both are read-only views:
 * the manifest is the source of truth for the grants (what the message
 * servers enforce), the bundle Core opened for the keys (key_store holds
 * the keys themselves; Core never reads them). */
enum kos__sys_table_kind {
    /* The message directory as the manifest grants it, in manifest order:
     * server (a message server's name), protocol, "publish" or "request",
     * app. */
    KOS__SYS_TABLE_GRANTS = 1,
    /* The device key bundle (kos-tool run --keys), in its index's order:
     * name, type ("ed25519", "x25519", "x509", "text"), the key id (16 hex
     * digits of the public key's digest, "-" for an item that certifies
     * no key), and "private" (key_store holds the private half), "public"
     * (a public key only) or "item" (a certificate or text). */
    KOS__SYS_TABLE_KEYS = 2,
};

/* One page of a table. */
struct kos__sys_table {
    uint32_t id;      /* the request's */
    uint32_t kind;    /* enum kos__sys_table_kind */
    uint32_t n_total; /* rows in the whole table */
    uint32_t first;   /* the index of row[0] */
    uint32_t n_rows;  /* in this page */
    const char *cell[KOS__SYS_TABLE_PAGE_ROWS][KOS__SYS_TABLE_CELLS];
};

/* A request, as sent and as Core decodes it. */
struct kos__sys_request {
    uint32_t type;           /* KOS__CTL_SYS_STATUS_REQ, _RESTART, _REBOOT, _CONSOLE_CREDIT,
                                _TRACE_SET, _TRACE_CREDIT, _TABLE_REQ, _DEBUG_ATTACH */
    uint32_t id;             /* echoed in the answer (not for the credits) */
    uint32_t first;          /* STATUS_REQ: the first process wanted; TABLE_REQ: row */
    uint32_t table;          /* TABLE_REQ: enum kos__sys_table_kind */
    char app[KOS__NAME_MAX]; /* RESTART, TRACE_SET, DEBUG_ATTACH: a valid name */
    const char *reason;      /* REBOOT: printable, at most KOS__SYS_REASON_MAX with its NUL */
    uint32_t credit;         /* CONSOLE_CREDIT: 1..KOS__SYS_CONSOLE_WINDOW bytes;
                                TRACE_CREDIT: 1..KOS__SYS_TRACE_WINDOW records */
    uint32_t on;             /* TRACE_SET: 0 or 1 */
    const char *sig;         /* STORE_NEED, STORE_ADD: image.sig's sig_len bytes (not a string) */
    uint32_t sig_len;        /* 1..KOS__SYS_SIG_MAX */
    uint8_t sha256[32];      /* STORE_FETCH, STORE_DONE: the blob */
    uint64_t size;           /* STORE_FETCH, STORE_DONE: its bytes, 1..KOS__SYS_BLOB_MAX */
};

#define KOS__SYS_BLOB_MAX (256ull << 20) /* a blob's largest size (KOS__IMAGE_BLOB_MAX) */

/* STORE_NEEDS. */
struct kos__sys_need {
    uint8_t sha256[32];
    uint64_t have; /* bytes staged already */
};

struct kos__sys_needs {
    uint32_t id;
    uint32_t status;     /* a kos_status_t */
    const char *message; /* printable, at most KOS__SYS_MESSAGE_MAX with its NUL */
    uint32_t same;       /* the current generation when it is that image already, else 0 */
    uint32_t n;
    struct kos__sys_need need[KOS__SYS_NEED_MAX];
};

struct kos__sys_result {
    uint32_t id;
    uint32_t status;     /* a kos_status_t */
    const char *message; /* printable, at most KOS__SYS_MESSAGE_MAX with its NUL */
};

struct kos__sys_line {
    uint64_t time_ns;         /* wall clock, as the console's timestamp says */
    uint32_t dropped;         /* lines dropped since the one before this */
    char name[KOS__NAME_MAX]; /* "core" or the process's name */
    const char *text;         /* escaped as printed; at most KOS__SYS_TEXT_MAX with its NUL */
};

/* One trace record as Core passes it on. Names are Core's (the process
 * table's), never the recording process's own say. */
struct kos__sys_trace {
    uint32_t kind;                /* enum kos__trace_kind (trace_int.h) */
    uint32_t status;              /* a kos_status_t */
    uint32_t label;               /* CALL, SERVE: the request's label; DENY: 0 request, 1 publish */
    uint32_t channel;             /* the message server's channel number, 0 for none */
    uint32_t req_len, rep_len;    /* payload bytes */
    uint64_t time_ns;             /* wall clock when it began */
    uint64_t dur_ns;              /* how long it took */
    char app[KOS__NAME_MAX];      /* CALL, SERVE: the ring's process; directory events: the app
                                     they are about (as the message server vouches) */
    char server[KOS__NAME_MAX];   /* the message server */
    char peer[KOS__NAME_MAX];     /* directory events: the other app, or "" */
    char protocol[KOS__NAME_MAX]; /* directory events: the protocol, or "" */
};

struct kos__sys_traces {
    uint64_t lost; /* records lost before these since the last batch */
    uint32_t n;
    struct kos__sys_trace r[KOS__SYS_TRACE_BATCH];
};

/* Any message Core sends the managing app, decoded. */
struct kos__sys_msg {
    uint32_t type; /* KOS__CTL_STOP or one of the KOS__CTL_SYS_* Core sends */
    int fd;        /* a RESULT's descriptor (a DEBUG_ATTACH's socket), the caller's; else -1 */
    union {
        struct kos__sys_status status;
        struct kos__sys_result result;
        struct kos__sys_line line;
        struct kos__sys_traces traces;
        struct kos__sys_table table;
        struct kos__sys_needs needs;
    } u;
};

/* The summary's words for a state ("running, ready"); "unknown" otherwise. */
const char *kos__sys_state_name(uint32_t state);

/* A generation's state in words ("on trial"); "unknown" otherwise. */
const char *kos__sys_gen_state_name(uint32_t state);

/* True for the requests the managing app may send Core. */
bool kos__sys_to_core(uint32_t type);

/* True for a type this KOS does not know but a later one may send
 * (KOS__CTL_LAST < type < KOS__CTL_SYS_FUTURE_END): Core answers such a
 * request from the managing app, whose body starts with its u32 id, with
 * RESULT KOS_STATUS_UNSUPPORTED instead of closing its channel, so that
 * an app newer than Core (a release upgraded over the link runs on the
 * Core of the device's boot partition) learns what this Core cannot do;
 * and the managing app passes over such a message from a newer Core
 * (kos__sys_receive() says KOS_STATUS_UNSUPPORTED). */
bool kos__sys_unknown(uint32_t type);

/* True for the types Core sends only to the managing app. */
bool kos__sys_from_core(uint32_t type);

/* Encoders write into buf (cap bytes) and set *len: KOS_STATUS_TOO_LARGE if
 * it does not fit, KOS_STATUS_INVALID_ARGUMENT for a field the decoder would
 * refuse. Decoders validate everything (see the file's head) and return
 * KOS_STATUS_PROTOCOL for what is malformed; strings they set point into
 * body, which must outlive them. */
kos_status_t kos__sys_request_encode(const struct kos__sys_request *r, void *buf, size_t cap,
                                     size_t *len) __attribute__((warn_unused_result));
kos_status_t kos__sys_request_decode(uint32_t type, const void *body, size_t len,
                                     struct kos__sys_request *out)
    __attribute__((warn_unused_result));
kos_status_t kos__sys_status_encode(const struct kos__sys_status *s, void *buf, size_t cap,
                                    size_t *len) __attribute__((warn_unused_result));
kos_status_t kos__sys_status_decode(const void *body, size_t len, struct kos__sys_status *out)
    __attribute__((warn_unused_result));
kos_status_t kos__sys_result_encode(const struct kos__sys_result *r, void *buf, size_t cap,
                                    size_t *len) __attribute__((warn_unused_result));
kos_status_t kos__sys_result_decode(const void *body, size_t len, struct kos__sys_result *out)
    __attribute__((warn_unused_result));
kos_status_t kos__sys_line_encode(const struct kos__sys_line *l, void *buf, size_t cap, size_t *len)
    __attribute__((warn_unused_result));
kos_status_t kos__sys_line_decode(const void *body, size_t len, struct kos__sys_line *out)
    __attribute__((warn_unused_result));
kos_status_t kos__sys_traces_encode(const struct kos__sys_traces *t, void *buf, size_t cap,
                                    size_t *len) __attribute__((warn_unused_result));
kos_status_t kos__sys_traces_decode(const void *body, size_t len, struct kos__sys_traces *out)
    __attribute__((warn_unused_result));
/* A table's page: each cell as its kind says (enum kos__sys_table_kind),
 * rows within n_total, n_total within KOS__SYS_TABLE_MAX_ROWS. */
kos_status_t kos__sys_table_encode(const struct kos__sys_table *t, void *buf, size_t cap,
                                   size_t *len) __attribute__((warn_unused_result));
kos_status_t kos__sys_table_decode(const void *body, size_t len, struct kos__sys_table *out)
    __attribute__((warn_unused_result));

kos_status_t kos__sys_needs_encode(const struct kos__sys_needs *n, void *buf, size_t cap,
                                   size_t *len) __attribute__((warn_unused_result));
kos_status_t kos__sys_needs_decode(const void *body, size_t len, struct kos__sys_needs *out)
    __attribute__((warn_unused_result));

/* The managing app's side. */

/* Sends request *r to Core on the app's control channel. Blocks only until
 * the channel takes it. */
kos_status_t kos__sys_send(kos_app_t *app, const struct kos__sys_request *r)
    __attribute__((warn_unused_result));

/* Takes the next message Core sent the app, without waiting, into *m;
 * strings in *m point into buf (cap bytes, at least KOS__CTL_MAX), which
 * must outlive them. A STOP is returned as type KOS__CTL_STOP and makes
 * kos_app_stopping() true from then on. KOS_STATUS_WOULD_BLOCK when there is
 * none; KOS_STATUS_CLOSED when Core closed the channel (it refused a
 * request, or is gone: stop); KOS_STATUS_PROTOCOL for a message this side
 * cannot read. */
kos_status_t kos__sys_receive(kos_app_t *app, void *buf, size_t cap, struct kos__sys_msg *m)
    __attribute__((warn_unused_result));

/* Receives the next control message without waiting (app.c): STOP, or a
 * closed or broken channel, also marks the app stopping. *type and *len as
 * kos__ctl_recv() sets them. */
kos_status_t kos__app_ctl_take(kos_app_t *app, void *buf, size_t cap, uint32_t *type, size_t *len)
    __attribute__((warn_unused_result));

/* kos__app_ctl_take() that hands over a descriptor that came with the
 * message in *fd (the caller's; -1 if none) instead of closing it. */
kos_status_t kos__app_ctl_take_fd(kos_app_t *app, void *buf, size_t cap, uint32_t *type,
                                  size_t *len, int *fd) __attribute__((warn_unused_result));

#endif
