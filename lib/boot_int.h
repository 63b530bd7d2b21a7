/*
 * boot_int.h - the control channel between KOS Core and each process it starts.
 *
 * Every app and every message server gets a SOCK_SEQPACKET control socket at
 * KOS__CTL_FD. Each datagram is one control message: a struct kos__ctl_hdr
 * followed by a type-specific body, at most KOS__CTL_MAX bytes in all, with
 * at most one file descriptor attached (SCM_RIGHTS). Decoders check every
 * size and count before reading and reject what does not fit; an unknown type
 * is a protocol error that ends the conversation.
 *
 * Core writes KOS__CTL_BOOT before the process runs, so the first read on the
 * control socket always finds it.
 */
#ifndef KOS_BOOT_INT_H
#define KOS_BOOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#define KOS__CTL_FD          3      /* control socket to Core */
#define KOS__CTL_MAX         65536u /* largest control datagram */
#define KOS__NAME_MAX        64u    /* app, server and protocol names, with the NUL */
#define KOS__BOOT_MAX_DIRS   16u    /* message servers one app may use */
#define KOS__BOOT_MAX_RES    32u    /* devices and memory regions one app may hold */
#define KOS__BOOT_MAX_CONFIG 256u   /* settings one app may have */
#define KOS__CONFIG_MAX      4352u  /* one "key=value" setting, with its NUL */

enum kos__ctl_type {
    KOS__CTL_BOOT = 1,       /* Core -> process: who you are, which fds you hold */
    KOS__CTL_READY = 2,      /* process -> Core: started (no body) */
    KOS__CTL_STOP = 3,       /* Core -> process: please stop (no body) */
    KOS__CTL_ADD_CLIENT = 4, /* Core -> message server: an app's channel (1 fd) and its grants */
    KOS__CTL_APP_DOWN = 5,   /* Core -> message server: an app has exited */
    KOS__CTL_SELF_TEST = 6,  /* process -> Core: the self test's verdict
                                (struct kos__self_test); only the app the manifest
                                marks reports_self_test counts */
    /* The system interface (sys_int.h): only the app the manifest marks
     * manages_system: true may send these, and only it gets the others. */
    KOS__CTL_SYS_STATUS_REQ = 7,      /* app -> Core: the system's state, please */
    KOS__CTL_SYS_STATUS = 8,          /* Core -> app: the system's state (a page of it) */
    KOS__CTL_SYS_RESTART = 9,         /* app -> Core: restart this app */
    KOS__CTL_SYS_REBOOT = 10,         /* app -> Core: reboot the system */
    KOS__CTL_SYS_RESULT = 11,         /* Core -> app: how a request went */
    KOS__CTL_SYS_CONSOLE_CREDIT = 12, /* app -> Core: send me console lines, this many bytes */
    KOS__CTL_SYS_CONSOLE = 13,        /* Core -> app: one console line */
    KOS__CTL_SYS_CHANGED = 14,        /* Core -> app: the state changed since it last asked */
    /* Message tracing (docs/messages.md, "Tracing"). */
    KOS__CTL_TRACE = 15,            /* Core -> message server: u32 app_id, u32 on, u32 seq:
                                       record that app's directory events (or stop) */
    KOS__CTL_SYS_TRACE_SET = 16,    /* app -> Core: trace this app's calls, or stop */
    KOS__CTL_SYS_TRACE_CREDIT = 17, /* app -> Core: send me trace records, this many */
    KOS__CTL_SYS_TRACES = 18,       /* Core -> app: a batch of trace records */
    KOS__CTL_SYS_TABLE_REQ = 20,    /* app -> Core: a page of one of Core's tables, please */
    KOS__CTL_SYS_TABLE = 21,        /* Core -> app: the page asked for */
    /* Remote debugging (docs/link.md, "Debug"). */
    KOS__CTL_SYS_DEBUG_ATTACH = 22, /* app -> Core: attach a debugger to this app; answered by
                                       RESULT, with one end of its socket on success */
    KOS__CTL_TRACE_DONE = 23,       /* message server -> Core: u32 app_id, u32 seq: what
                                       that app holds is in its ring (after a TRACE on) */
    /* Upgrades (docs/upgrades.md): an image into the boot store, blob by blob. */
    KOS__CTL_SYS_STORE_NEED = 24,  /* app -> Core: which blobs of this image do you lack? */
    KOS__CTL_SYS_STORE_NEEDS = 25, /* Core -> app: these */
    KOS__CTL_SYS_STORE_FETCH = 26, /* app -> Core: a pipe to write this blob into, please;
                                      answered by RESULT, with its write end on success */
    KOS__CTL_SYS_STORE_DONE = 27,  /* app -> Core: that blob is whole: keep it; RESULT */
    KOS__CTL_SYS_STORE_ADD = 28,   /* app -> Core: store the image as current; RESULT */
    KOS__CTL_LAST = 28,            /* the last type this KOS knows; later ones are added after */
    KOS__CTL_SYS_FUTURE_END = 4096, /* types below this a later KOS may add (sys_int.h) */
};

enum kos__role {
    KOS__ROLE_APP = 1,
    KOS__ROLE_MSG_SERVER = 2,
};

struct kos__ctl_hdr {
    uint32_t type;
    uint32_t len; /* bytes of body after this header */
};

/* The decoded boot record. Names are NUL-terminated. */
struct kos__boot {
    uint32_t app_id;
    uint32_t role;
    char name[KOS__NAME_MAX];
    uint32_t n_dirs;
    struct {
        char name[KOS__NAME_MAX]; /* message server's name, e.g. "msg0" */
        int32_t fd;               /* this process's descriptor to it */
    } dirs[KOS__BOOT_MAX_DIRS];
    uint32_t n_res;
    struct {
        char name[KOS__NAME_MAX]; /* as the manifest names it for this app */
        uint32_t kind;            /* enum kos_cm_res_kind: 1 device, 2 region */
        uint32_t access;          /* 1 read, 2 write, 3 both */
        int32_t fd;
        uint64_t size; /* a region's size; 0 for a device */
    } res[KOS__BOOT_MAX_RES];
    /* The app's settings (config: in the manifest) as "key=value" strings.
     * Encoding reads config[0..n_config); decoding points config[] into the
     * decoded body, which must outlive it. */
    uint32_t n_config;
    const char *config[KOS__BOOT_MAX_CONFIG];
    /* The process's message-tracing ring (trace_int.h); 0 or -1 for none
     * (encoded as 0, decoded as -1). */
    int32_t trace_fd;
};

/*
 * The decoded ADD_CLIENT record: which app owns the attached socket and which
 * protocols it may publish and request on this message server. `names` holds
 * n_publish then n_request NUL-terminated names back to back; the pointers in
 * publish[] / request[] point into it.
 */
#define KOS__GRANTS_MAX 256u
struct kos__client_grants {
    uint32_t app_id;
    char app[KOS__NAME_MAX];
    uint32_t n_publish;
    uint32_t n_request;
    const char *publish[KOS__GRANTS_MAX];
    const char *request[KOS__GRANTS_MAX];
    char names[KOS__GRANTS_MAX * 2 * KOS__NAME_MAX];
};

/*
 * The decoded SELF_TEST record: u32 verdict (1 passed, 2 failed), u32
 * checks run, u32 checks failed, then the summary as a NUL-terminated
 * string of at most KOS__SELF_TEST_TEXT_MAX bytes with its NUL, printable
 * (no byte below 0x20, no 0x7f). A passed verdict has no failed check and
 * failed checks are at most the checks run. `summary` points into the
 * decoded body, which must outlive it.
 */
#define KOS__SELF_TEST_TEXT_MAX 1024u
enum { KOS__SELF_TEST_PASSED = 1, KOS__SELF_TEST_FAILED = 2 };
struct kos__self_test {
    uint32_t verdict;
    uint32_t checks;
    uint32_t failed;
    const char *summary;
};

/* Sends one control message with an optional fd (-1 for none). Blocks until
 * the socket accepts it. */
kos_status_t kos__ctl_send(int sock, uint32_t type, const void *body, size_t len, int fd)
    __attribute__((warn_unused_result));

/* Sends one control message without waiting: KOS_STATUS_WOULD_BLOCK when
 * the socket has no room for it now (nothing is sent). How Core sends what
 * it sends a running app, so that no app can hold Core up. */
kos_status_t kos__ctl_send_nowait(int sock, uint32_t type, const void *body, size_t len)
    __attribute__((warn_unused_result));

/* kos__ctl_send_nowait() with an fd (-1 for none): on KOS_STATUS_OK the
 * receiver holds a copy of it; the caller's fd stays the caller's. */
kos_status_t kos__ctl_send_fd_nowait(int sock, uint32_t type, const void *body, size_t len, int fd)
    __attribute__((warn_unused_result));

/* Receives one control message into buf (cap bytes, at least KOS__CTL_MAX).
 * On success *type, *len and *fd (-1 if none came) are set and the received
 * fd belongs to the caller. KOS_STATUS_CLOSED at end of stream;
 * KOS_STATUS_PROTOCOL for a truncated or oversized datagram (any fd that came
 * with it is closed). `flags` is passed to recvmsg (e.g. MSG_DONTWAIT). */
kos_status_t kos__ctl_recv(int sock, void *buf, size_t cap, uint32_t *type, size_t *len, int *fd,
                           int flags) __attribute__((warn_unused_result));

/* Encoders write into buf (cap bytes) and set *len; they fail with
 * KOS_STATUS_TOO_LARGE if it does not fit. Decoders validate everything and
 * return KOS_STATUS_PROTOCOL on malformed input, leaving *out unspecified. */
kos_status_t kos__boot_encode(const struct kos__boot *boot, void *buf, size_t cap, size_t *len)
    __attribute__((warn_unused_result));
kos_status_t kos__boot_decode(const void *body, size_t len, struct kos__boot *out)
    __attribute__((warn_unused_result));
kos_status_t kos__grants_encode(const struct kos__client_grants *g, void *buf, size_t cap,
                                size_t *len) __attribute__((warn_unused_result));
kos_status_t kos__grants_decode(const void *body, size_t len, struct kos__client_grants *out)
    __attribute__((warn_unused_result));

kos_status_t kos__self_test_encode(const struct kos__self_test *r, void *buf, size_t cap,
                                   size_t *len) __attribute__((warn_unused_result));
kos_status_t kos__self_test_decode(const void *body, size_t len, struct kos__self_test *out)
    __attribute__((warn_unused_result));

/* True if `s` is a valid KOS name: 1..63 bytes of [A-Za-z0-9_.-], starting
 * with a letter or digit. */
bool kos__name_valid(const char *s, size_t len);

#endif
