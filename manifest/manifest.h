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
};

struct kos_mf_app {
    const char *name;
    const char *binary;         /* defaults to the app's name */
    uint64_t memory;            /* bytes; 0 when not declared */
    enum kos_cm_restart restart;/* default permanent */
    uint32_t restart_max;       /* default 5 ... */
    uint32_t restart_period_ms; /* ... within 10 s */
    bool ends_system;           /* default false */
    const char *const *args;
    size_t n_args;
    const char *const *env;     /* "KEY=VALUE" */
    size_t n_env;
    const struct kos_mf_grant *grants;
    size_t n_grants;
    struct kos_mf_pos pos;
};

struct kos_mf_server {
    const char *name;
    const char *binary;         /* default "msg_server" */
    struct kos_mf_pos pos;
};

struct kos_manifest {
    const char *system;
    const char *base;           /* layer name, or NULL */
    bool signing;               /* false when the manifest says signing: disabled */
    const struct kos_mf_server *servers;
    size_t n_servers;
    const struct kos_mf_app *apps;
    size_t n_apps;
    struct kos_mf_pos signing_pos;
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
