/*
 * compiled.h - the compiled manifest: the binary form KOS Core boots from.
 *
 * `kos-tool manifest.build` turns a validated manifest into one flat,
 * little-endian buffer that Core, running on a device, reads in place without
 * allocating. kos_cm_open() checks the whole buffer once (every offset, count,
 * index and string) so that the accessors afterwards cannot read out of
 * bounds; a buffer it rejects is never used.
 *
 * Layout: a header, then the process table (message servers first, then apps;
 * a process's index is its app_id), the region table, the grant table, the
 * resource table, the string-reference table (args, environment and config
 * lists) and the string pool (kos_manifest_compile() writes them in that
 * order; a reader checks only bounds, alignment and overlap). Every string
 * is a byte offset into the pool and ends with a NUL inside the pool.
 */
#ifndef KOS_MANIFEST_COMPILED_H
#define KOS_MANIFEST_COMPILED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#define KOS_CM_MAGIC     "KOSM"
#define KOS_CM_VERSION   5u /* 5: the overlay number; 4: the release number; 3 and 4 are read too */
#define KOS_CM_VERSION_4 4u
#define KOS_CM_VERSION_3 3u
/* The overlay number (overlay: K, a change on top of release N; 0 for a
 * release itself) is the high half of the header's flags (version 5). */
#define KOS_CM_OVERLAY_SHIFT 16u
#define KOS_CM_OVERLAY_MAX   0xffffu
#define KOS_CM_MAX_PROCS 1024u
#define KOS_CM_MAX_SIZE  (16u << 20)

enum kos_cm_flags {
    KOS_CM_SIGNING_DISABLED = 1u << 0,
    KOS_CM_ISOLATION_BEST_EFFORT = 1u << 1, /* isolation: best_effort: boot even where the
                                               host lacks a sandbox layer (Core says which) */
    KOS_CM_PROFILE_DEVELOPMENT = 1u << 2,   /* profile: development (default release) */
};

enum kos_cm_role {
    KOS_CM_ROLE_APP = 1,
    KOS_CM_ROLE_MSG_SERVER = 2,
};

enum kos_cm_restart {
    KOS_CM_RESTART_PERMANENT = 1, /* always restarted */
    KOS_CM_RESTART_TRANSIENT = 2, /* restarted only after an abnormal exit */
    KOS_CM_RESTART_TEMPORARY = 3, /* never restarted */
};

enum kos_cm_proc_flags {
    KOS_CM_PROC_ENDS_SYSTEM = 1u << 0,    /* when it ends for good, the system shuts down */
    KOS_CM_PROC_DATA_DIR = 1u << 1,       /* gets a private writable data directory at /data */
    KOS_CM_PROC_DEBUG = 1u << 2,          /* debug-only app (debug: true) */
    KOS_CM_PROC_NET_HOST = 1u << 3,       /* keeps the host's network (network: host); apps only */
    KOS_CM_PROC_DEVICE_KEYS = 1u << 4,    /* gets the device key bundle (device_keys: true);
                                             at most one app */
    KOS_CM_PROC_SELF_TEST = 1u << 5,      /* its self-test report counts (reports_self_test:
                                             true); at most one app */
    KOS_CM_PROC_MANAGES_SYSTEM = 1u << 6, /* Core answers its system requests and sends it
                                             the console (manages_system: true); at most
                                             one app */
};

enum kos_cm_res_kind {
    KOS_CM_RES_DEVICE = 1, /* a device node, opened by Core and handed over as an fd */
    KOS_CM_RES_REGION = 2, /* a named shared memory region (a memfd), shared between apps */
};

enum kos_cm_access {
    KOS_CM_ACCESS_READ = 1u << 0,
    KOS_CM_ACCESS_WRITE = 1u << 1,
};

enum kos_cm_grant_kind {
    KOS_CM_GRANT_PUBLISH = 1,
    KOS_CM_GRANT_REQUEST = 2,
};

struct kos_cm_header {
    char magic[4];        /* "KOSM" */
    uint32_t version;     /* KOS_CM_VERSION */
    uint32_t size;        /* total bytes, equal to the buffer's length */
    uint32_t flags;       /* enum kos_cm_flags */
    uint32_t system_name; /* string */
    uint32_t n_procs;
    uint32_t procs_off; /* struct kos_cm_proc[n_procs], 8-aligned */
    uint32_t n_grants;
    uint32_t grants_off; /* struct kos_cm_grant[n_grants], 4-aligned */
    uint32_t n_strrefs;
    uint32_t strrefs_off; /* uint32_t[n_strrefs], 4-aligned: string offsets */
    uint32_t strings_off; /* string pool */
    uint32_t strings_len;
    uint32_t n_res;
    uint32_t res_off; /* struct kos_cm_res[n_res], 4-aligned */
    uint32_t n_regions;
    uint32_t regions_off; /* struct kos_cm_region[n_regions], 8-aligned */
    uint32_t release;     /* the manifest's release number, 0 for none (always 0 in
                             version 3, where it was a reserved field) */
};

struct kos_cm_proc {
    uint32_t name;              /* string: the app's or message server's name */
    uint32_t role;              /* enum kos_cm_role */
    uint32_t binary;            /* string: the binary's name in the manifest */
    uint32_t restart;           /* enum kos_cm_restart */
    uint8_t sha256[32];         /* of the binary; the image stores it under this hash */
    uint64_t memory;            /* bytes; 0 = no limit declared */
    uint32_t flags;             /* enum kos_cm_proc_flags */
    uint32_t restart_max;       /* restarts allowed in a row of runs each shorter than
                                   restart_period_ms ... */
    uint32_t restart_period_ms; /* ... before the app is marked failed */
    uint32_t args_first;        /* index into the strref table */
    uint32_t n_args;            /* arguments after argv[0] (argv[0] is the name) */
    uint32_t env_first;         /* index into the strref table: "KEY=VALUE" */
    uint32_t n_env;
    uint32_t grants_first; /* index into the grant table */
    uint32_t n_grants;
    uint32_t max_procs;    /* tasks (processes and threads) limit (RLIMIT_NPROC / pids.max);
                              0 = default (1) */
    uint32_t max_files;    /* open-file limit (RLIMIT_NOFILE); 0 = default */
    uint32_t res_first;    /* index into the resource table */
    uint32_t n_res;        /* devices and regions granted, in manifest order */
    uint32_t config_first; /* index into the strref table: "key=value" settings (config:) */
    uint32_t n_config;
    uint32_t restart_delay_ms;     /* delay before the first restart in a row; doubles ... */
    uint64_t storage;              /* bytes /data may hold (storage:); 0 = default; only with
                                      KOS_CM_PROC_DATA_DIR */
    uint32_t restart_delay_max_ms; /* ... up to this; >= restart_delay_ms */
    uint32_t reserved;             /* zero */
};

/* A device or shared memory region granted to one process. It arrives as an
 * fd; the boot record names it by `name`. */
struct kos_cm_res {
    uint32_t kind;   /* enum kos_cm_res_kind */
    uint32_t name;   /* string: the name the app looks it up by */
    uint32_t target; /* DEVICE: string, the device node's path;
                        REGION: index into the region table */
    uint32_t access; /* enum kos_cm_access bits */
};

/* A shared memory region declared by the system (memory_regions:). */
struct kos_cm_region {
    uint32_t name;     /* string */
    uint32_t reserved; /* zero */
    uint64_t size;     /* bytes, > 0, a multiple of the page size */
};

struct kos_cm_grant {
    uint32_t server;   /* index of a KOS_CM_ROLE_MSG_SERVER process */
    uint32_t kind;     /* enum kos_cm_grant_kind */
    uint32_t protocol; /* string */
};

/* A validated view of a compiled manifest. Holds no memory of its own: it
 * points into the caller's buffer, which must stay alive and unchanged. */
struct kos_cm {
    const uint8_t *base;
    size_t len;
    const struct kos_cm_header *hdr;
};

/* Validates `len` bytes at `buf` (8-byte aligned) and fills *cm. On failure
 * returns KOS_STATUS_PROTOCOL (or INVALID_ARGUMENT for a NULL/unaligned
 * buffer) and writes a sentence saying what is wrong and at which offset into
 * err (errlen bytes, may be 0). Never allocates. */
kos_status_t kos_cm_open(struct kos_cm *cm, const void *buf, size_t len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The overlay number of a manifest kos_cm_open() accepted: 0 for a
 * release itself (and for versions 3 and 4). */
uint32_t kos_cm_overlay(const struct kos_cm *cm);

/* Accessors on a view that kos_cm_open() accepted. Indexes must be in range
 * (they are checked with assertions only). */
const char *kos_cm_str(const struct kos_cm *cm, uint32_t off);
uint32_t kos_cm_nprocs(const struct kos_cm *cm);
const struct kos_cm_proc *kos_cm_proc(const struct kos_cm *cm, uint32_t i);
const struct kos_cm_grant *kos_cm_grant(const struct kos_cm *cm, uint32_t i);
const char *kos_cm_strref(const struct kos_cm *cm, uint32_t i);
const struct kos_cm_res *kos_cm_res(const struct kos_cm *cm, uint32_t i);
uint32_t kos_cm_nregions(const struct kos_cm *cm);
const struct kos_cm_region *kos_cm_region(const struct kos_cm *cm, uint32_t i);
bool kos_cm_signing_disabled(const struct kos_cm *cm);
/* Index of the process named `name`, or -1. */
int kos_cm_find(const struct kos_cm *cm, const char *name);

#endif
