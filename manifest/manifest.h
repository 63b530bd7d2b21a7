/*
 * manifest.h - reading system.yaml into a validated system description.
 *
 * kos_manifest_load() reads a manifest, applies its base layer (a manifest
 * fragment the manifest extends and overrides by name), and validates the
 * result. The kos_manifest it returns is read-only and complete: every app has
 * a binary, a restart policy and its grants resolved against the declared
 * message servers. Errors name file:line:column and say what would be valid.
 *
 * kos_manifest_compile() turns it into the compiled form of compiled.h.
 */
#ifndef KOS_MANIFEST_H
#define KOS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#include "compiled.h"

/* Where an entry came from: the manifest itself or a layer file. */
struct kos_mf_pos {
    const char *file;
    int line; /* 1-based */
    int col;  /* 1-based */
};

/* The first error found. */
struct kos_mf_error {
    char file[512];
    int line;
    int col;
    char msg[512];
};

struct kos_mf_grant {
    const char *server;         /* a message server's name */
    const char *const *publish; /* protocol names */
    size_t n_publish;
    const char *const *request;
    size_t n_request;
    struct kos_mf_pos pos;
    /* Where each protocol name was written (parallel to publish and
     * request; NULL in a model built by hand: then `pos` is used). */
    const struct kos_mf_pos *publish_pos;
    const struct kos_mf_pos *request_pos;
};

/* A device node granted to an app (devices:). */
struct kos_mf_device {
    const char *name;      /* the app's local name for it */
    const char *path;      /* absolute, e.g. "/dev/i2c-1" */
    uint32_t access;       /* enum kos_cm_access bits: r, w or rw */
    struct kos_mf_pos pos; /* of the name */
};

/* A system memory region mapped by an app (an app's memory_regions:). */
struct kos_mf_region_use {
    const char *name;      /* the app's local name for it */
    const char *region;    /* a system region's name (struct kos_mf_region) */
    uint32_t access;       /* KOS_CM_ACCESS_READ, or READ | WRITE */
    struct kos_mf_pos pos; /* of the name */
};

/* One component setting (config:), compiled as "key=value". */
struct kos_mf_config {
    const char *key;       /* a name */
    const char *value;     /* the scalar's text */
    struct kos_mf_pos pos; /* of the key */
};

/* A waived assurance rule (waive:): the check still runs, and its finding is
 * shown as waived with this justification. */
struct kos_mf_waiver {
    const char *rule;      /* a rule id, e.g. "KOS-A006" (checked by check.c) */
    const char *reason;    /* at least 20 characters */
    struct kos_mf_pos pos; /* of the rule id */
};

struct kos_mf_app {
    const char *name;
    const char *binary;            /* defaults to the app's name */
    uint64_t memory;               /* bytes; 0 when not declared */
    enum kos_cm_restart restart;   /* default permanent */
    uint32_t restart_max;          /* default 5 ... */
    uint32_t restart_period_ms;    /* ... of runs shorter than 10 s each */
    uint32_t restart_delay_ms;     /* the first restart's delay, default 100 ms, doubling ... */
    uint32_t restart_delay_max_ms; /* ... up to 10 s */
    bool ends_system;              /* default false */
    const char *const *args;
    size_t n_args;
    const char *const *env; /* "KEY=VALUE" */
    size_t n_env;
    const struct kos_mf_grant *grants;
    size_t n_grants;
    struct kos_mf_pos pos;
    const struct kos_mf_pos *env_pos; /* of each env key (parallel to env), or NULL */
    bool from_layer;                  /* declared by the base layer (the manifest may change it) */
    bool data_dir;                    /* a private writable /data (default false) */
    bool debug;                       /* a debug-only app (default false) */
    bool network_host;                /* network: host, declared by the base layer (default
                                         false: an empty network namespace) */
    bool device_keys;                 /* Core hands it the device key bundle (default false;
                                         at most one app) */
    bool reports_self_test;           /* Core takes its self-test report (default false; at
                                         most one app) */
    bool manages_system;              /* Core answers its system requests and sends it the
                                         console (default false; at most one app) */
    uint64_t storage;                 /* storage: bytes /data may hold; 0 = default (only
                                         with data_dir) */
    uint32_t max_procs;               /* limits.processes; 0 = default */
    uint32_t max_files;               /* limits.files; 0 = default */
    const struct kos_mf_device *devices;
    size_t n_devices;
    const struct kos_mf_region_use *regions;
    size_t n_regions;
    const struct kos_mf_config *config;
    size_t n_config;
    const struct kos_mf_waiver *waivers;
    size_t n_waivers;
    /* Where each setting was written (the app's own position when it was
     * not written). */
    struct kos_mf_pos memory_pos, data_dir_pos, debug_pos, limits_pos, network_pos, device_keys_pos,
        reports_self_test_pos, storage_pos, manages_system_pos;
};

struct kos_mf_server {
    const char *name;
    const char *binary; /* default "msg_server" */
    struct kos_mf_pos pos;
};

enum kos_mf_profile {
    KOS_MF_PROFILE_RELEASE = 0, /* the default */
    KOS_MF_PROFILE_DEVELOPMENT = 1,
};

enum kos_mf_isolation {
    KOS_MF_ISOLATION_STRICT = 0, /* the default: refuse to boot without every sandbox layer */
    KOS_MF_ISOLATION_BEST_EFFORT = 1,
};

/* A shared memory region declared by the system (memory_regions:). */
struct kos_mf_region {
    const char *name;
    uint64_t size;         /* bytes: > 0, a multiple of 4096 */
    struct kos_mf_pos pos; /* of the name */
};

struct kos_manifest {
    const char *system;
    const char *base; /* layer name, or NULL */
    uint32_t release; /* the release number; 0 when the manifest gives none */
    uint32_t overlay; /* the overlay number on top of that release (overlay:); 0 for none */
    bool signing;     /* false when the manifest says signing: disabled */
    const struct kos_mf_server *servers;
    size_t n_servers;
    const struct kos_mf_app *apps;
    size_t n_apps;
    struct kos_mf_pos signing_pos;
    enum kos_mf_profile profile;
    enum kos_mf_isolation isolation;
    const struct kos_mf_region *regions;
    size_t n_regions;
    /* Where each was written (the top of the manifest when it was not). */
    struct kos_mf_pos profile_pos, isolation_pos;
    const char *file; /* the manifest's own file name (positions compare with it) */
};

struct kos_mf_options {
    /* Folders searched, in order, for "<base>.yaml" when a manifest names a
     * base layer. */
    const char *const *layer_dirs;
    size_t n_layer_dirs;
};

/* Reads, layers and validates the manifest at `path`. On success *out belongs
 * to the caller (free with kos_manifest_destroy()); on failure *err says what
 * and where, and *out is untouched. KOS_STATUS_IO if a file cannot be read,
 * KOS_STATUS_INVALID_ARGUMENT for any content error. */
kos_status_t kos_manifest_load(const char *path, const struct kos_mf_options *opts,
                               struct kos_manifest **out, struct kos_mf_error *err)
    __attribute__((warn_unused_result));

/* Same, from a buffer; `name` is used as the file name in positions. */
kos_status_t kos_manifest_parse(const char *name, const char *text, size_t len,
                                const struct kos_mf_options *opts, struct kos_manifest **out,
                                struct kos_mf_error *err) __attribute__((warn_unused_result));

/* kos_manifest_destroy(NULL) does nothing. */
void kos_manifest_destroy(struct kos_manifest *m);

/* Formats "file:line:col: message" into buf. */
void kos_mf_error_format(const struct kos_mf_error *err, char *buf, size_t len);

/*
 * Compiles `m` into the compiled form. `sha256` holds one digest per process
 * in compiled order: message servers first (in m->servers order), then apps
 * (in m->apps order). On success *out is a malloc()ed, 8-aligned buffer of
 * *len bytes that belongs to the caller, and kos_cm_open() accepts it.
 */
kos_status_t kos_manifest_compile(const struct kos_manifest *m, const uint8_t (*sha256)[32],
                                  void **out, size_t *len) __attribute__((warn_unused_result));

#endif
