/*
 * store.h - kos-server's database (SQLite): its schema and migrations, the
 * device registry, each device's log records and commands, and those rows
 * rendered as the API's JSON objects.
 *
 * What stays true: the schema is exactly the migrations up to the version
 * the schema_version table names, each applied once, in a transaction with
 * its version row; a database at a version newer than this program knows is
 * never opened (nor changed). A device holds at most KOS__SRV_LOG_RING log
 * records and KOS__SRV_COMMANDS_KEPT commands; there are at most
 * KOS__SRV_DEVICES_MAX devices. A device's log records are numbered by the
 * server (seq, from 1, never reused for that device).
 *
 * Every call blocks on the database (a local file: short). Strings handed
 * in are copied; JSON handed out is the caller's (json_decref).
 */
#ifndef KOS_SERVER_STORE_H
#define KOS_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <kos/status.h>

#include "srv_limits.h"

struct kos__store;
struct event_base;

/* A device's state. */
enum kos__dev_state {
    KOS__DEV_REGISTERED, /* known, never connected */
    KOS__DEV_ONLINE,
    KOS__DEV_OFFLINE,
    KOS__DEV_REVOKED, /* refused for good */
};

/* "registered", "online", "offline", "revoked". */
const char *kos__dev_state_name(enum kos__dev_state s);

/* The schema's versions, in order: migrations[i] takes the database from
 * version i to version i + 1 (SQL, one or more statements). */
struct kos__migrations {
    const char *const *sql;
    size_t n;
};

/* This program's migrations. */
extern const struct kos__migrations kos__store_migrations;

/*
 * Opens (creating it, mode 0600 under the caller's umask) the database at
 * `path` and brings it to the latest version of `m` (NULL: this program's),
 * each missing migration in its own transaction. Refuses a database newer
 * than `m`, one a migration fails on (that migration is rolled back; those
 * before it stay), and a file that is not a database, with err saying
 * which and what to do. Devices left online by a server that did not stop
 * cleanly are set offline. On success *out is the caller's
 * (kos__store_close).
 */
kos_status_t kos__store_open(const char *path, const struct kos__migrations *m,
                             struct kos__store **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * With base, the writes that keep the devices' states current (a device
 * going online or offline, its registration and health reports) share
 * one transaction that commits at the end of the loop's turn, before any
 * other write, and before this call with base NULL, which stops it (call
 * that before freeing base). A burst of connections so costs one commit
 * per turn, not three per device. What such a write does is lost only if
 * the process dies before the turn ends, and kos__store_open() sets every
 * device offline anyway; a revocation, a device's records and commands
 * commit at once, as without base. Returns false when out of memory (the
 * writes then commit each on its own).
 */
bool kos__store_batching(struct kos__store *st, struct event_base *base);

/* Closes it. kos__store_close(NULL) does nothing. */
void kos__store_close(struct kos__store *st);

/* The schema version the database is at. */
int kos__store_version(struct kos__store *st);

/* ---- devices ---- */

/* Registers device `id` (64 hex digits) with its raw Ed25519 public key
 * and certificate. KOS_STATUS_ALREADY_EXISTS if the id is known (whatever
 * its state), KOS_STATUS_NO_MEMORY if the registry is full; err says so. */
kos_status_t kos__store_device_add(struct kos__store *st, const char *id, const char *name,
                                   const uint8_t pub[32], const char *cert_pem, char *err,
                                   size_t errlen) __attribute__((warn_unused_result));

/* Device id's state and name (name may be NULL; else it has room for
 * KOS__SRV_NAME_MAX + 1 bytes). KOS_STATUS_NOT_FOUND if unknown. */
kos_status_t kos__store_device_get(struct kos__store *st, const char *id,
                                   enum kos__dev_state *state, char *name)
    __attribute__((warn_unused_result));

/* Sets its state (a revoked device stays revoked: KOS_STATUS_UNAUTHORIZED);
 * online and offline also set last seen to now. */
kos_status_t kos__store_device_set_state(struct kos__store *st, const char *id,
                                         enum kos__dev_state state)
    __attribute__((warn_unused_result));

/* What a device's Register said. */
struct kos__store_reg {
    const char *system, *manifest_sha256, *signer, *kos_version, *platform;
    uint64_t boot_time_ns;
};

/* Records its Register (reg may be NULL) and/or its last Health (the JSON
 * text the server made of it, or NULL to leave it), and last seen. */
kos_status_t kos__store_device_report(struct kos__store *st, const char *id,
                                      const struct kos__store_reg *reg, const char *health_json)
    __attribute__((warn_unused_result));

/* Every device, as an array of the API's device objects (without health),
 * in the order they were registered. */
json_t *kos__store_devices_json(struct kos__store *st);

/* One device as the API shows it, with its last health when `full`; NULL
 * if unknown (or out of memory). */
json_t *kos__store_device_json(struct kos__store *st, const char *id, bool full);

/* ---- devices waiting for approval (docs/link.md, "Pending devices") ---- */

/* Records an attempt of device `id`, unknown to the registry, with its raw
 * public key, the name its certificate offers ("" for none), the
 * certificate's subject and the address it came from (all text checked
 * by the caller): a new row, or the known one's last attempt, address and
 * count. Only the KOS__SRV_PENDING_MAX most recently seen are kept: the
 * others are deleted, in the same transaction. *is_new says whether id
 * was not pending before. */
kos_status_t kos__store_pending_seen(struct kos__store *st, const char *id, const uint8_t pub[32],
                                     const char *name, const char *subject, const char *address,
                                     bool *is_new) __attribute__((warn_unused_result));

/* Pending device id's public key and offered name (room for
 * KOS__SRV_NAME_MAX + 1 bytes). KOS_STATUS_NOT_FOUND if it is not pending. */
kos_status_t kos__store_pending_get(struct kos__store *st, const char *id, uint8_t pub[32],
                                    char *name) __attribute__((warn_unused_result));

/* Forgets pending device id. KOS_STATUS_NOT_FOUND if it was not pending. */
kos_status_t kos__store_pending_remove(struct kos__store *st, const char *id)
    __attribute__((warn_unused_result));

/* Pending device id as the API shows it (NULL: not pending), or, for a
 * NULL id, every pending device not registered since, as an array, the
 * first seen first. */
json_t *kos__store_pending_json(struct kos__store *st, const char *id);

/* ---- log records ---- */

/* One record as a device sent it (strings are not NUL-terminated). */
struct kos__store_rec {
    uint64_t device_seq;
    int64_t time_ns;
    const char *app;
    size_t app_len;
    unsigned level; /* 0-3 */
    const char *text;
    size_t text_len; /* at most KOS__SRV_LOG_TEXT_MAX */
    bool console;
};

/* Stores the n records of one batch for device id (only the last
 * KOS__SRV_LOG_RING of them when there are more), adds `dropped` to its
 * count of lost records, and deletes its oldest records beyond the ring,
 * in one transaction. *first_seq is the server's number of the first record
 * stored, *stored how many were. */
kos_status_t kos__store_logs_add(struct kos__store *st, const char *id,
                                 const struct kos__store_rec *recs, size_t n, uint64_t dropped,
                                 uint64_t *first_seq, size_t *stored)
    __attribute__((warn_unused_result));

/* {"records": [...], "dropped": N, "next": SEQ}: device id's records
 * numbered above `after`, at most `limit`, oldest first; "next" is the
 * last one's seq (or `after`), for the next call. NULL if unknown. */
json_t *kos__store_logs_json(struct kos__store *st, const char *id, uint64_t after, unsigned limit);

/* ---- message trace records ---- */

/* One trace record as a device sent it, checked (names are KOS names or
 * ""; kind known). */
struct kos__store_trace {
    int64_t time_ns;
    unsigned kind; /* proto/traces.proto's Kind */
    const char *app, *peer, *server, *protocol;
    uint32_t channel, label, status, req_len, rep_len;
    uint64_t dur_ns;
    bool verified;
};

/* Whether `kind` is one of traces.proto's kinds (but KIND_UNKNOWN). */
bool kos__store_trace_kind_known(unsigned kind);

/* Stores the n records of one batch for device id (only the last
 * KOS__SRV_TRACE_RING of them when there are more), adds `dropped` to its
 * count of lost trace records, and deletes its oldest beyond the ring, in
 * one transaction; *first_seq and *stored as for the logs. */
kos_status_t kos__store_traces_add(struct kos__store *st, const char *id,
                                   const struct kos__store_trace *recs, size_t n, uint64_t dropped,
                                   uint64_t *first_seq, size_t *stored)
    __attribute__((warn_unused_result));

/* One record as the API shows it: {"seq", "time", "kind", "app", "peer",
 * "server", "protocol", "channel", "label", "status", "status_name",
 * "req_len", "rep_len", "dur_ns", "verified"}, names escaped. */
json_t *kos__json_trace(uint64_t seq, const struct kos__store_trace *r);

/* {"records": [...], "dropped": N, "next": SEQ}: device id's trace records
 * numbered above `after`, at most `limit`, oldest first. NULL if unknown. */
json_t *kos__store_traces_json(struct kos__store *st, const char *id, uint64_t after,
                               unsigned limit);

/* ---- commands ---- */

/* Records a command (its JSON as the API took it) for device id: its id
 * in *cmd_id. Forgets the device's oldest beyond KOS__SRV_COMMANDS_KEPT. */
kos_status_t kos__store_command_add(struct kos__store *st, const char *id, const char *json,
                                    uint64_t *cmd_id) __attribute__((warn_unused_result));

/* Records command cmd_id's result. KOS_STATUS_NOT_FOUND if device id has
 * no such command waiting for its result. */
kos_status_t kos__store_command_done(struct kos__store *st, const char *id, uint64_t cmd_id,
                                     uint32_t status, const char *message)
    __attribute__((warn_unused_result));

/* ---- releases and upgrades (store_upgrades.c) ---- */

/* A release as the server took it (kos__image_unpack): its manifest's
 * digest, release number and system, its image.sig, and its blobs. */
struct kos__store_release {
    const char *manifest_sha256, *system, *image_sig;
    uint32_t release, overlay;
    size_t n_blobs;
    const char *const *blob_sha256; /* [n_blobs], 64 hex digits each */
    const uint64_t *blob_size;      /* [n_blobs] */
    uint64_t bytes;
};

/* Records upgrade command `json` for device id with release r (a release
 * with the same manifest is recorded once, its blobs with it), in one
 * transaction: the command's id in *cmd_id. */
kos_status_t kos__store_upgrade_add(struct kos__store *st, const char *id,
                                    const struct kos__store_release *r, const char *json,
                                    uint64_t *cmd_id) __attribute__((warn_unused_result));

/* Records an UpgradeProgress of device id's upgrade command cmd_id.
 * KOS_STATUS_NOT_FOUND if it has no such upgrade. */
kos_status_t kos__store_upgrade_progress(struct kos__store *st, const char *id, uint64_t cmd_id,
                                         const char *stage, uint64_t done, uint64_t total,
                                         uint32_t blobs) __attribute__((warn_unused_result));

/* Whether device id was offered blob sha256 (a release sent it holds it):
 * KOS_STATUS_OK with the newest such upgrade's command in *cmd_id and the
 * blob's size in *size, else KOS_STATUS_NOT_FOUND. */
kos_status_t kos__store_blob_offered(struct kos__store *st, const char *id, const char *sha256,
                                     uint64_t *cmd_id, uint64_t *size)
    __attribute__((warn_unused_result));

/* Adds n bytes served by the blob route to upgrade command cmd_id. */
kos_status_t kos__store_upgrade_served(struct kos__store *st, uint64_t cmd_id, uint64_t n)
    __attribute__((warn_unused_result));

/* Device id's last upgrade as the API shows it ({"command", "release",
 * "system", "manifest", "blobs", "bytes", "stage", "done", "total",
 * "fetch_blobs", "served", "status", "status_text", "message", "sent",
 * "progress_time", "done_time"}), json null if it has none; NULL if out of
 * memory. */
json_t *kos__store_upgrade_json(struct kos__store *st, const char *id);

#endif
