/*
 * mf_int.h - the manifest reader's private pieces, shared by its sources.
 *
 * Reading a manifest goes through three stages, each in its own file:
 *   tree.c      YAML text -> a tree of nodes that remember file:line:col;
 *   manifest.c  loading files, the base layer, and merging the two trees;
 *   validate.c  the merged tree -> the validated struct kos_manifest.
 * compile.c writes the compiled form and compiled.c checks and reads it
 * (compiled.c also holds the name rules, so it needs nothing else).
 * Everything a stage allocates lives in an arena: the `work` arena holds the
 * trees and is freed when reading ends; the `keep` arena holds the finished
 * manifest (and the file names its positions point at) and is freed by
 * kos_manifest_destroy(). The first error found is written to the caller's
 * struct kos_mf_error and reading stops there.
 */
#ifndef KOS_MANIFEST_MF_INT_H
#define KOS_MANIFEST_MF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

/* Limits of the manifest format (documented in docs/manifest.md). */
#define KOS__MF_MAX_FILE                     (1u << 20) /* bytes in one manifest or layer file */
#define KOS__MF_MAX_DEPTH                    32         /* nesting of mappings and sequences */
#define KOS__MF_MAX_ARGS                     256u       /* arguments of one app */
#define KOS__MF_MAX_ENV                      256u       /* environment variables of one app */
#define KOS__MF_MAX_STR                      4096u /* bytes in one argument or environment value */
#define KOS__MF_MAX_ENV_KEY                  255u  /* bytes in one environment variable name */
#define KOS__MF_MAX_RESTARTS                 1000u /* restart_limit.max */
#define KOS__MF_DEFAULT_RESTART_MAX          5u
#define KOS__MF_DEFAULT_RESTART_PERIOD_MS    10000u
#define KOS__MF_DEFAULT_RESTART_DELAY_MS     100u   /* restart_delay.first */
#define KOS__MF_DEFAULT_RESTART_DELAY_MAX_MS 10000u /* restart_delay.max */
#define KOS__MF_MAX_RES                      32u    /* devices + memory regions of one app */
#define KOS__MF_MAX_REGIONS                  256u   /* system memory regions */
#define KOS__MF_REGION_ALIGN                 4096u  /* a region's size is a multiple of this */
#define KOS__MF_MAX_REGION_SIZE              (1ull << 40) /* bytes in one region */
#define KOS__MF_MAX_PATH                     255u         /* bytes in a device path */
#define KOS__MF_MAX_CONFIG                   256u         /* config settings of one app */
#define KOS__MF_MIN_PROCS                    1u           /* limits.processes */
#define KOS__MF_MAX_PROCS_LIMIT              4096u
#define KOS__MF_MIN_FILES                    8u /* limits.files */
#define KOS__MF_MAX_FILES                    20000u
#define KOS__MF_MIN_STORAGE                  (1ull << 20) /* storage: a filesystem needs room */
#define KOS__MF_MAX_STORAGE                  (1ull << 40)
#define KOS__MF_MAX_CONFIG_BYTES             32768u /* "key=value" bytes of one app's config */
#define KOS__MF_MIN_WAIVER                   20u    /* characters in a waiver's justification */
#define KOS__MF_MAX_WAIVERS                  64u    /* waivers of one app */

/* A bump allocator: many allocations, one free. */
struct kos__mf_block;
struct kos__mf_arena {
    struct kos__mf_block *head;
};

/* Returns `n` zeroed bytes aligned for any object, or NULL when out of
 * memory. The memory lives until kos__mf_arena_free(). */
void *kos__mf_alloc(struct kos__mf_arena *a, size_t n);
/* Copies `n` bytes of `s` and a NUL; NULL when out of memory. */
char *kos__mf_strndup(struct kos__mf_arena *a, const char *s, size_t n);
/* Frees every allocation; the arena is then empty and may be reused. */
void kos__mf_arena_free(struct kos__mf_arena *a);

enum kos__mf_kind {
    KOS__MF_SCALAR = 1,
    KOS__MF_MAP = 2,
    KOS__MF_SEQ = 3,
};

struct kos__mf_pair;

/* One YAML node. Scalars hold their text NUL-terminated (it never contains
 * a NUL); `null` is set for a plain "", "~", "null", "Null" or "NULL". */
struct kos__mf_node {
    enum kos__mf_kind kind;
    bool null;
    struct kos_mf_pos pos;
    const char *str; /* scalar text */
    size_t len;
    size_t n;                    /* entries of a mapping or items of a sequence */
    struct kos__mf_pair *pairs;  /* mapping entries, in file order */
    struct kos__mf_node **items; /* sequence items */
};

struct kos__mf_pair {
    struct kos__mf_node *key; /* always a scalar */
    struct kos__mf_node *val;
    bool from_layer; /* a section entry the base layer declared (manifest.c) */
    bool optional;   /* a layer app marked optional: true (manifest.c): part of the
                        system only when the manifest names it */
    bool named;      /* the manifest wrote an entry of this name (manifest.c) */
};

/* The state of one kos_manifest_load()/parse() call. */
struct kos__mf_ctx {
    struct kos__mf_arena work;
    struct kos__mf_arena keep;
    struct kos_mf_error *err; /* may be NULL */
};

/* Records the first error at `pos` (NULL: no position) and returns `st`. */
kos_status_t kos__mf_fail_st(struct kos__mf_ctx *c, kos_status_t st, const struct kos_mf_pos *pos,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Same, with KOS_STATUS_INVALID_ARGUMENT: a content error. */
kos_status_t kos__mf_fail(struct kos__mf_ctx *c, const struct kos_mf_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records "out of memory" and returns KOS_STATUS_NO_MEMORY. */
kos_status_t kos__mf_oom(struct kos__mf_ctx *c);

/* Writes `s` (n bytes) into buf as a quoted, printable string for an error
 * message: 'text', with control and non-ASCII bytes escaped and long text
 * cut with "...". Returns buf. */
#define KOS__MF_QUOTE_SIZE 96
const char *kos__mf_quote(const char *s, size_t n, char buf[KOS__MF_QUOTE_SIZE]);

/* Parses YAML `text` (len bytes) into a tree whose positions name `file`
 * (which must outlive the tree). *root is NULL when the file holds no
 * document or only an empty one. Refuses anchors, aliases, tags, duplicate
 * keys, non-scalar keys, NUL characters in strings, more than one document
 * and nesting deeper than KOS__MF_MAX_DEPTH. */
kos_status_t kos__mf_tree_parse(struct kos__mf_ctx *c, const char *file, const char *text,
                                size_t len, struct kos__mf_node **root)
    __attribute__((warn_unused_result));

/* Returns the value for `key` in mapping `map`, or NULL. Sets *key_node to
 * the key when key_node is not NULL and the key is found. */
const struct kos__mf_node *kos__mf_get(const struct kos__mf_node *map, const char *key,
                                       const struct kos__mf_node **key_node);

/* Checks that `n` is of `kind` (a scalar must also not be null); if not,
 * reports "expected <kind> for <what>, found <kind>; write e.g. <example>". */
kos_status_t kos__mf_expect(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                            enum kos__mf_kind kind, const char *what, const char *example)
    __attribute__((warn_unused_result));

/* Checks that every key of mapping `map` is one of `valid` (NULL-ended); if
 * not, reports "unknown key 'k' in <where>; valid keys: a, b, c". */
kos_status_t kos__mf_check_keys(struct kos__mf_ctx *c, const struct kos__mf_node *map,
                                const char *const *valid, const char *where)
    __attribute__((warn_unused_result));

/* Writes the keys of mapping `map`, comma-separated, into buf (cut with
 * "..." when they do not fit; "none" when there are none). Returns buf. */
const char *kos__mf_list_keys(const struct kos__mf_node *map, char *buf, size_t size);

/* The rule for names, for error messages. */
/* Core prints its own console lines under this name. */
#define KOS__MF_RESERVED_NAME "core"

#define KOS__MF_NAME_RULE                                                                          \
    "a name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit"

/* A short name for a node's kind: "a mapping", "a sequence", "a scalar" or
 * "null". */
const char *kos__mf_kind_name(const struct kos__mf_node *n);

/* The top-level nodes of a system manifest, once checked. */
struct kos__mf_top {
    const struct kos__mf_node *root;
    const struct kos__mf_node *system;    /* a valid name */
    const struct kos__mf_node *base;      /* a valid name, or NULL */
    const struct kos__mf_node *release;   /* a whole number 1..UINT32_MAX, or NULL */
    const struct kos__mf_node *overlay;   /* a whole number 1..KOS_CM_OVERLAY_MAX, or NULL */
    const struct kos__mf_node *signing;   /* "enabled" or "disabled", or NULL */
    const struct kos__mf_node *profile;   /* "release" or "development", or NULL */
    const struct kos__mf_node *isolation; /* "strict" or "best_effort", or NULL */
    const struct kos__mf_node *regions;   /* merged memory_regions mapping, or NULL */
    const struct kos__mf_node *servers;   /* merged mapping, or NULL */
    const struct kos__mf_node *apps;      /* merged mapping, or NULL */
    const struct kos__mf_node *apps_key;  /* where 'apps:' was written, or NULL */
};

/* Validates the merged tree and fills *m, allocating from c->keep. */
kos_status_t kos__mf_build(struct kos__mf_ctx *c, const struct kos__mf_top *top,
                           struct kos_manifest *m) __attribute__((warn_unused_result));

/* True if s[0..len) is a KOS name: 1..63 bytes of [A-Za-z0-9_.-] starting
 * with a letter or digit. The same rule as libkos's kos__name_valid(), kept
 * here so the compiled-form checker depends on nothing outside manifest/;
 * test_manifest checks the two agree. */
bool kos__mf_name_valid(const char *s, size_t len);
/* True if s[0..len) is an environment variable name: [A-Za-z_][A-Za-z0-9_]*
 * of at most KOS__MF_MAX_ENV_KEY bytes. */
bool kos__mf_env_key_valid(const char *s, size_t len);
/* True if s[0..len) is a device path Core may open: absolute, not "/" alone,
 * at most KOS__MF_MAX_PATH bytes, no NUL and no ".." component. */
bool kos__mf_device_path_valid(const char *s, size_t len);

#endif
