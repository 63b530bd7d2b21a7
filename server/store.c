/*
 * store.c - kos-server's database (store.h), on SQLite.
 *
 * What stays true: a migration and its schema_version row commit together
 * or not at all; every change a call makes (a batch of records with its
 * ring trimming, a command with its pruning) is one transaction, so a
 * failure leaves the database as it was. Text a device sent is stored as
 * its bytes and escaped only when it is turned into JSON (srv_json.h).
 * Statements are prepared once and kept (kos__store_prep()); between calls none is
 * in use, so the store holds no transaction open, but for one: with
 * kos__store_batching(), devices going online and offline and their
 * reports share a transaction until the end of the loop's turn, and any
 * other write (kos__store_prep() of one, kos__store_exec()) commits it
 * first, so that every other change is as durable as it was without it.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "srv_json.h"
#include "srvlog.h"
#include "store.h"
#include "store_int.h"

/* ---- the schema ---- */

static const char *const migrations_sql[] = {
    /* 1: the device registry, log records, commands. */
    "CREATE TABLE devices ("
    "  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64),"
    "  name TEXT NOT NULL,"
    "  public_key BLOB NOT NULL,"
    "  certificate TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'registered'"
    "    CHECK (state IN ('registered', 'online', 'offline', 'revoked')),"
    "  registered_ms INTEGER NOT NULL,"
    "  last_seen_ms INTEGER,"
    "  system TEXT, manifest_sha256 TEXT, signer TEXT, kos_version TEXT, platform TEXT,"
    "  boot_time_ns INTEGER,"
    "  health TEXT, health_ms INTEGER,"
    "  logs_dropped INTEGER NOT NULL DEFAULT 0,"
    "  log_seq INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE logs ("
    "  device TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  device_seq INTEGER NOT NULL,"
    "  time_ns INTEGER NOT NULL,"
    "  app TEXT NOT NULL,"
    "  level INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  console INTEGER NOT NULL,"
    "  PRIMARY KEY (device, seq)"
    ") WITHOUT ROWID;"
    "CREATE TABLE commands ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  command TEXT NOT NULL,"
    "  sent_ms INTEGER NOT NULL,"
    "  status INTEGER, message TEXT, done_ms INTEGER"
    ");"
    "CREATE INDEX commands_by_device ON commands(device, id);",
    /* 2: message trace records (docs/messages.md, "Tracing"). */
    "ALTER TABLE devices ADD COLUMN trace_seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE devices ADD COLUMN traces_dropped INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE traces ("
    "  device TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  time_ns INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  app TEXT NOT NULL, peer TEXT NOT NULL, server TEXT NOT NULL, protocol TEXT NOT NULL,"
    "  channel INTEGER NOT NULL, label INTEGER NOT NULL, status INTEGER NOT NULL,"
    "  req_len INTEGER NOT NULL, rep_len INTEGER NOT NULL, dur_ns INTEGER NOT NULL,"
    "  verified INTEGER NOT NULL,"
    "  PRIMARY KEY (device, seq)"
    ") WITHOUT ROWID;",
    /* 3: devices waiting for approval (docs/link.md, "Pending devices"). */
    "CREATE TABLE pending ("
    "  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 64),"
    "  public_key BLOB NOT NULL CHECK (length(public_key) = 32),"
    "  name TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  first_ms INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL"
    ");"
    "CREATE INDEX pending_by_last ON pending(last_ms);",
    /* 4: releases pushed to devices, their blobs, and each upgrade's state
     * (store_upgrades.c). */
    "CREATE TABLE releases ("
    "  id INTEGER PRIMARY KEY,"
    "  manifest_sha256 TEXT NOT NULL UNIQUE CHECK (length(manifest_sha256) = 64),"
    "  release INTEGER NOT NULL,"
    "  system TEXT NOT NULL,"
    "  image_sig TEXT NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE release_blobs ("
    "  release INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,"
    "  sha256 TEXT NOT NULL CHECK (length(sha256) = 64),"
    "  size INTEGER NOT NULL,"
    "  PRIMARY KEY (release, sha256)"
    ") WITHOUT ROWID;"
    "CREATE INDEX release_blobs_by_sha ON release_blobs(sha256);"
    "CREATE TABLE upgrades ("
    "  command INTEGER PRIMARY KEY,"
    "  device TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  release INTEGER NOT NULL REFERENCES releases(id),"
    "  stage TEXT,"
    "  done INTEGER NOT NULL DEFAULT 0,"
    "  total INTEGER NOT NULL DEFAULT 0,"
    "  blobs INTEGER NOT NULL DEFAULT 0,"
    "  served INTEGER NOT NULL DEFAULT 0,"
    "  progress_ms INTEGER"
    ");"
    "CREATE INDEX upgrades_by_device ON upgrades(device, command);",
    /* 5: a release's overlay number (overlay: in its manifest), 0 for none. */
    "ALTER TABLE releases ADD COLUMN overlay INTEGER NOT NULL DEFAULT 0;",
};

const struct kos__migrations kos__store_migrations = {
    migrations_sql, sizeof(migrations_sql) / sizeof(migrations_sql[0])};

static const char *const state_names[] = {"registered", "online", "offline", "revoked"};

const char *kos__dev_state_name(enum kos__dev_state s)
{
    return (unsigned)s < 4 ? state_names[s] : "unknown";
}

static bool state_of(const unsigned char *s, enum kos__dev_state *out)
{
    for (unsigned i = 0; s && i < 4; i++) {
        if (strcmp((const char *)s, state_names[i]) == 0) {
            *out = (enum kos__dev_state)i;
            return true;
        }
    }
    return false;
}

/* ---- helpers ---- */

/* A prepared statement for `sql`, a string constant, ready to bind and step:
 * kept from an earlier call when it is not in use (preparing one costs more
 * than stepping it), else prepared now and kept if there is room. Every
 * statement from here goes back through kos__store_unprep(), and none is in use
 * between calls, so a kept one holds no read transaction. */
/* Commits the batch of devices' states, if one is open. */
static void settle(struct kos__store *st)
{
    if (!st->batch)
        return;
    st->batch = false;
    if (sqlite3_get_autocommit(st->db)) { /* SQLite rolled it back on an error */
        kos__srv_log("database: a batch of devices' states was rolled back");
        return;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        kos__store_failed(st, "committing a batch of devices' states");
        kos__store_rollback(st);
    }
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    settle(arg);
}

bool kos__store_batching(struct kos__store *st, struct event_base *base)
{
    settle(st);
    if (st->commit_ev)
        event_free(st->commit_ev);
    st->commit_ev = base ? event_new(base, -1, 0, commit_cb, st) : NULL;
    return !base || st->commit_ev;
}

/* kos__store_prep(), for a write that may join the batch of devices'
 * states when batched (prep_batched()); any other write commits the batch
 * first. */
static sqlite3_stmt *prep(struct kos__store *st, const char *sql, bool batched)
{
    sqlite3_stmt *s = NULL;
    int spare = -1;

    for (int i = 0; i < STORE_STMTS; i++) {
        if (st->stmts[i].sql == sql && !st->stmts[i].busy) {
            s = st->stmts[i].s;
            st->stmts[i].busy = true;
            break;
        }
        if (!st->stmts[i].sql && spare < 0)
            spare = i;
    }
    if (!s) {
        if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
            kos__srv_log("database: %s (in: %.60s)", sqlite3_errmsg(st->db), sql);
            return NULL;
        }
        if (spare >= 0) {
            st->stmts[spare].sql = sql;
            st->stmts[spare].s = s;
            st->stmts[spare].busy = true;
        }
    }
    if (st->batch && !batched && !sqlite3_stmt_readonly(s))
        settle(st);
    return s;
}

sqlite3_stmt *kos__store_prep(struct kos__store *st, const char *sql)
{
    return prep(st, sql, false);
}

/* A statement for a write that joins the batch of devices' states,
 * opening it if none is (kos__store_batching()). */
static sqlite3_stmt *prep_batched(struct kos__store *st, const char *sql)
{
    if (st->commit_ev && !st->batch && sqlite3_get_autocommit(st->db) &&
        sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK) {
        st->batch = true;
        event_active(st->commit_ev, EV_TIMEOUT, 0);
    }
    return prep(st, sql, true);
}

/* Gives back a statement from kos__store_prep() (or NULL): a kept one is reset, its
 * bindings cleared; any other is finalized. */
void kos__store_unprep(struct kos__store *st, sqlite3_stmt *s)
{
    if (!s)
        return;
    for (int i = 0; i < STORE_STMTS; i++) {
        if (st->stmts[i].s == s) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            st->stmts[i].busy = false;
            return;
        }
    }
    sqlite3_finalize(s);
}

bool kos__store_exec(struct kos__store *st, const char *sql)
{
    settle(st);
    return sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

void kos__store_rollback(struct kos__store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        kos__store_exec(st, "ROLLBACK");
}

kos_status_t kos__store_failed(struct kos__store *st, const char *what)
{
    kos__srv_log("database: %s: %s", what, sqlite3_errmsg(st->db));
    return KOS_STATUS_IO;
}

/* A uint64 as SQLite's int64, clamped. */
sqlite3_int64 kos__store_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

/* Column i as JSON text (escaped), or null. */
json_t *kos__store_col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    if (!t)
        return json_null();
    return kos__json_text((const char *)t, (size_t)sqlite3_column_bytes(s, i));
}

/* ---- opening and migrations ---- */

/* The version the database is at (0 for a new one), or -1. */
static int read_version(struct kos__store *st)
{
    sqlite3_stmt *s = kos__store_prep(st, "SELECT coalesce(max(version), 0) FROM schema_version");
    int v = -1;

    if (s && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    kos__store_unprep(st, s);
    return v;
}

static kos_status_t migrate(struct kos__store *st, const char *path,
                            const struct kos__migrations *m, char *err, size_t errlen)
{
    int v = read_version(st);

    if (v < 0) {
        snprintf(err, errlen, "cannot read the schema version of %s: %s", path,
                 sqlite3_errmsg(st->db));
        return KOS_STATUS_IO;
    }
    if ((size_t)v > m->n) {
        snprintf(err, errlen,
                 "the database %s is at schema version %d, newer than this kos-server knows "
                 "(%zu): it was written by a newer kos-server; run that one, or give another "
                 "--data folder",
                 path, v, m->n);
        return KOS_STATUS_UNSUPPORTED;
    }
    for (size_t i = (size_t)v; i < m->n; i++) {
        sqlite3_stmt *s;
        int now;

        if (!kos__store_exec(st, "BEGIN IMMEDIATE"))
            goto out_failed;
        /* Another process may have got here first (the lock file keeps
         * servers apart; this keeps the rule true without it). */
        now = read_version(st);
        if (now < 0)
            goto out_failed;
        if ((size_t)now > i) {
            kos__store_exec(st, "COMMIT");
            i = (size_t)now - 1;
            continue;
        }
        if (sqlite3_exec(st->db, m->sql[i], NULL, NULL, NULL) != SQLITE_OK)
            goto out_failed;
        s = kos__store_prep(st, "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)");
        if (!s)
            goto out_failed;
        sqlite3_bind_int(s, 1, (int)i + 1);
        sqlite3_bind_int64(s, 2, kos__now_ms());
        int rc = sqlite3_step(s);
        kos__store_unprep(st, s);
        if (rc != SQLITE_DONE || !kos__store_exec(st, "COMMIT"))
            goto out_failed;
        kos__srv_log("database %s: schema version %zu", path, i + 1);
        continue;
    out_failed:
        snprintf(err, errlen,
                 "the database %s cannot be brought from schema version %zu to %zu: %s "
                 "(nothing of that step was applied)",
                 path, i, i + 1, sqlite3_errmsg(st->db));
        kos__store_rollback(st);
        return KOS_STATUS_IO;
    }
    st->version = (int)m->n;
    return KOS_STATUS_OK;
}

kos_status_t kos__store_open(const char *path, const struct kos__migrations *m,
                             struct kos__store **out, char *err, size_t errlen)
{
    struct kos__store *st = calloc(1, sizeof(*st));
    kos_status_t rc;

    if (!st) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    if (!m)
        m = &kos__store_migrations;
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open the database %s: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        rc = KOS_STATUS_IO;
        goto out_close;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_extended_result_codes(st->db, 1);
    /* The first read tells a file that is not a database. */
    if (!kos__store_exec(st, "PRAGMA journal_mode = WAL") ||
        !kos__store_exec(st, "PRAGMA synchronous = NORMAL") ||
        !kos__store_exec(st, "PRAGMA foreign_keys = ON") ||
        /* A 512 KiB page cache (SQLite's default is 2 MB): a device's row
         * and its last report are read and written where it links, and
         * the operating system caches the file as well. A Studio with 1,000
         * devices filled 2 MB with their reports, 2 KiB per device link. */
        !kos__store_exec(st, "PRAGMA cache_size = -512") ||
        !kos__store_exec(st, "CREATE TABLE IF NOT EXISTS schema_version ("
                             "version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)")) {
        snprintf(err, errlen, "cannot use %s as kos-server's database: %s", path,
                 sqlite3_errmsg(st->db));
        rc = KOS_STATUS_IO;
        goto out_close;
    }
    rc = migrate(st, path, m, err, errlen);
    if (rc)
        goto out_close;
    if (m == &kos__store_migrations &&
        !kos__store_exec(st, "UPDATE devices SET state = 'offline' WHERE state = 'online'")) {
        snprintf(err, errlen, "cannot update %s: %s", path, sqlite3_errmsg(st->db));
        rc = KOS_STATUS_IO;
        goto out_close;
    }
    *out = st;
    return KOS_STATUS_OK;

out_close:
    kos__store_close(st);
    return rc;
}

void kos__store_close(struct kos__store *st)
{
    if (!st)
        return;
    kos__store_batching(st, NULL);
    for (int i = 0; i < STORE_STMTS; i++)
        sqlite3_finalize(st->stmts[i].s);
    sqlite3_close(st->db);
    free(st);
}

int kos__store_version(struct kos__store *st)
{
    return st->version;
}

/* ---- devices ---- */

kos_status_t kos__store_device_add(struct kos__store *st, const char *id, const char *name,
                                   const uint8_t pub[32], const char *cert_pem, char *err,
                                   size_t errlen)
{
    sqlite3_stmt *s;
    int rc;

    s = kos__store_prep(st, "SELECT count(*) FROM devices");
    if (!s || sqlite3_step(s) != SQLITE_ROW) {
        kos__store_unprep(st, s);
        snprintf(err, errlen, "the database failed");
        return kos__store_failed(st, "counting devices");
    }
    rc = sqlite3_column_int(s, 0);
    kos__store_unprep(st, s);
    if ((unsigned)rc >= KOS__SRV_DEVICES_MAX) {
        snprintf(err, errlen, "this server holds %u devices, as many as it may",
                 rc < 0 ? 0u : (unsigned)rc);
        return KOS_STATUS_NO_MEMORY;
    }
    s = kos__store_prep(st,
                        "INSERT INTO devices (id, name, public_key, certificate, registered_ms) "
                        "VALUES (?, ?, ?, ?, ?)");
    if (!s) {
        snprintf(err, errlen, "the database failed");
        return KOS_STATUS_IO;
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, pub, 32, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, cert_pem, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, kos__now_ms());
    rc = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        snprintf(err, errlen, "device %s is already registered", id);
        return KOS_STATUS_ALREADY_EXISTS;
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "the database failed");
        return kos__store_failed(st, "adding a device");
    }
    return KOS_STATUS_OK;
}

kos_status_t kos__store_device_get(struct kos__store *st, const char *id,
                                   enum kos__dev_state *state, char *name)
{
    sqlite3_stmt *s = kos__store_prep(st, "SELECT state, name FROM devices WHERE id = ?");
    kos_status_t rc = KOS_STATUS_NOT_FOUND;
    int step;

    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        rc = state_of(sqlite3_column_text(s, 0), state) ? KOS_STATUS_OK : KOS_STATUS_IO;
        if (name) {
            const unsigned char *t = sqlite3_column_text(s, 1);
            snprintf(name, KOS__SRV_NAME_MAX + 1, "%s", t ? (const char *)t : "");
        }
    } else if (step != SQLITE_DONE) {
        rc = kos__store_failed(st, "reading a device");
    }
    kos__store_unprep(st, s);
    return rc;
}

kos_status_t kos__store_device_set_state(struct kos__store *st, const char *id,
                                         enum kos__dev_state state)
{
    enum kos__dev_state now;
    const char *sql;
    sqlite3_stmt *s;
    kos_status_t rc;
    int step, changed;

    assert((unsigned)state < 4);
    /* One statement in the common case (a device going online or
     * offline, twice per connection); a revoked device's row is left as
     * it is, and only then is the row read to say why nothing changed. */
    sql = "UPDATE devices SET state = ?2, "
          "last_seen_ms = CASE WHEN ?3 THEN ?4 ELSE last_seen_ms END "
          "WHERE id = ?1 AND state != 'revoked'";
    /* Online and offline may wait for the turn's end; a revocation not. */
    s = state == KOS__DEV_ONLINE || state == KOS__DEV_OFFLINE ? prep_batched(st, sql)
                                                              : kos__store_prep(st, sql);
    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, state_names[state], -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, state == KOS__DEV_ONLINE || state == KOS__DEV_OFFLINE);
    sqlite3_bind_int64(s, 4, kos__now_ms());
    step = sqlite3_step(s);
    changed = sqlite3_changes(st->db);
    kos__store_unprep(st, s);
    if (step != SQLITE_DONE)
        return kos__store_failed(st, "setting a device's state");
    if (changed)
        return KOS_STATUS_OK;
    rc = kos__store_device_get(st, id, &now, NULL);
    if (rc)
        return rc;
    if (now == KOS__DEV_REVOKED)
        return state == KOS__DEV_REVOKED ? KOS_STATUS_OK : KOS_STATUS_UNAUTHORIZED;
    return KOS_STATUS_OK; /* not revoked, so the update had nothing to change */
}

kos_status_t kos__store_device_report(struct kos__store *st, const char *id,
                                      const struct kos__store_reg *reg, const char *health_json)
{
    sqlite3_stmt *s;
    int step;

    s = prep_batched(st, "UPDATE devices SET last_seen_ms = ?2,"
                         " system = CASE WHEN ?3 THEN ?4 ELSE system END,"
                         " manifest_sha256 = CASE WHEN ?3 THEN ?5 ELSE manifest_sha256 END,"
                         " signer = CASE WHEN ?3 THEN ?6 ELSE signer END,"
                         " kos_version = CASE WHEN ?3 THEN ?7 ELSE kos_version END,"
                         " platform = CASE WHEN ?3 THEN ?8 ELSE platform END,"
                         " boot_time_ns = CASE WHEN ?3 THEN ?9 ELSE boot_time_ns END,"
                         " health = coalesce(?10, health),"
                         " health_ms = CASE WHEN ?10 IS NULL THEN health_ms ELSE ?2 END"
                         " WHERE id = ?1");
    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, kos__now_ms());
    sqlite3_bind_int(s, 3, reg != NULL);
    if (reg) {
        sqlite3_bind_text(s, 4, reg->system, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, reg->manifest_sha256, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, reg->signer, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, reg->kos_version, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 8, reg->platform, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 9, kos__store_i64(reg->boot_time_ns));
    }
    if (health_json)
        sqlite3_bind_text(s, 10, health_json, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (step != SQLITE_DONE)
        return kos__store_failed(st, "recording a device's report");
    return sqlite3_changes(st->db) ? KOS_STATUS_OK : KOS_STATUS_NOT_FOUND;
}

#define DEVICE_COLUMNS                                                                             \
    "id, name, state, registered_ms, last_seen_ms, system, manifest_sha256, signer, "              \
    "kos_version, platform, boot_time_ns, logs_dropped, health, health_ms"

/* The API's device object for the current row of a DEVICE_COLUMNS query. */
static json_t *device_row(sqlite3_stmt *s, bool full)
{
    const char *id = (const char *)sqlite3_column_text(s, 0);
    json_t *d;

    if (!id || strlen(id) != 64)
        return NULL;
    d = json_pack("{s:s, s:s%, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "id", id,
                  "key_id", id, (size_t)16, "name", kos__store_col_text(s, 1), "state",
                  sqlite3_column_text(s, 2) ? (const char *)sqlite3_column_text(s, 2) : "",
                  "registered", kos__json_time_ms(sqlite3_column_int64(s, 3)), "last_seen",
                  kos__json_time_ms(sqlite3_column_int64(s, 4)), "system",
                  kos__store_col_text(s, 5), "image", kos__store_col_text(s, 6), "signer",
                  kos__store_col_text(s, 7), "kos_version", kos__store_col_text(s, 8), "platform",
                  kos__store_col_text(s, 9), "boot_time",
                  kos__json_time_ns(sqlite3_column_int64(s, 10)), "logs_dropped",
                  (json_int_t)sqlite3_column_int64(s, 11));
    if (d && full) {
        const char *h = (const char *)sqlite3_column_text(s, 12);
        json_t *health = h ? json_loads(h, 0, NULL) : NULL;
        json_object_set_new(d, "health", health ? health : json_null());
        json_object_set_new(d, "health_time", kos__json_time_ms(sqlite3_column_int64(s, 13)));
    }
    return d;
}

/* Every row statement s (prepared, or NULL: it failed) gives, as an array
 * of row()'s objects; NULL if one fails. Finalizes s. */
static json_t *rows_json(struct kos__store *st, sqlite3_stmt *s,
                         json_t *(*row)(sqlite3_stmt *s, bool full))
{
    json_t *all = json_array();
    int step;

    if (!s || !all)
        goto out_fail;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *d = row(s, false);
        if (!d || json_array_append_new(all, d) != 0)
            goto out_fail;
    }
    if (step != SQLITE_DONE)
        goto out_fail;
    kos__store_unprep(st, s);
    return all;

out_fail:
    kos__store_unprep(st, s);
    json_decref(all);
    return NULL;
}

json_t *kos__store_devices_json(struct kos__store *st)
{
    return rows_json(
        st,
        kos__store_prep(st, "SELECT " DEVICE_COLUMNS " FROM devices ORDER BY registered_ms, id"),
        device_row);
}

json_t *kos__store_device_json(struct kos__store *st, const char *id, bool full)
{
    sqlite3_stmt *s = kos__store_prep(st, "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?");
    json_t *d = NULL;

    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        d = device_row(s, full);
    kos__store_unprep(st, s);
    return d;
}

/* ---- devices waiting for approval ---- */

kos_status_t kos__store_pending_seen(struct kos__store *st, const char *id, const uint8_t pub[32],
                                     const char *name, const char *subject, const char *address,
                                     bool *is_new)
{
    sqlite3_stmt *s;
    int64_t now = kos__now_ms();
    int rc;

    if (!kos__store_exec(st, "BEGIN IMMEDIATE"))
        return kos__store_failed(st, "recording a pending device");
    s = kos__store_prep(st, "SELECT 1 FROM pending WHERE id = ?");
    if (!s)
        goto out_failed;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto out_failed;
    *is_new = rc == SQLITE_DONE;
    s = kos__store_prep(st,
                        "INSERT INTO pending (id, public_key, name, subject, address, first_ms, "
                        "last_ms, attempts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1) "
                        "ON CONFLICT (id) DO UPDATE SET address = ?5, last_ms = ?6, "
                        "attempts = min(attempts + 1, 1000000000)");
    if (!s)
        goto out_failed;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, pub, 32, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, address, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, now);
    rc = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (rc != SQLITE_DONE)
        goto out_failed;
    /* The newest KOS__SRV_PENDING_MAX stay; the one just seen is newest. */
    s = kos__store_prep(st, "DELETE FROM pending WHERE id NOT IN "
                            "(SELECT id FROM pending ORDER BY last_ms DESC, id LIMIT ?)");
    if (!s)
        goto out_failed;
    sqlite3_bind_int(s, 1, (int)KOS__SRV_PENDING_MAX);
    rc = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (rc != SQLITE_DONE || !kos__store_exec(st, "COMMIT"))
        goto out_failed;
    return KOS_STATUS_OK;

out_failed:
    kos__store_rollback(st);
    return kos__store_failed(st, "recording a pending device");
}

kos_status_t kos__store_pending_get(struct kos__store *st, const char *id, uint8_t pub[32],
                                    char *name)
{
    sqlite3_stmt *s = kos__store_prep(st, "SELECT public_key, name FROM pending WHERE id = ?");
    kos_status_t rc = KOS_STATUS_NOT_FOUND;
    int step;

    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(s, 1);
        if (sqlite3_column_bytes(s, 0) != 32 || !n || strlen(n) > KOS__SRV_NAME_MAX) {
            rc = KOS_STATUS_IO;
        } else {
            memcpy(pub, sqlite3_column_blob(s, 0), 32);
            memcpy(name, n, strlen(n) + 1);
            rc = KOS_STATUS_OK;
        }
    } else if (step != SQLITE_DONE) {
        rc = kos__store_failed(st, "reading a pending device");
    }
    kos__store_unprep(st, s);
    return rc;
}

kos_status_t kos__store_pending_remove(struct kos__store *st, const char *id)
{
    sqlite3_stmt *s = kos__store_prep(st, "DELETE FROM pending WHERE id = ?");
    int rc;

    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (rc != SQLITE_DONE)
        return kos__store_failed(st, "forgetting a pending device");
    return sqlite3_changes(st->db) ? KOS_STATUS_OK : KOS_STATUS_NOT_FOUND;
}

/* The API's object of a pending device, for the current row of a
 * PENDING_COLUMNS query: the fields of a registered device's (those it
 * cannot have yet null) and what the server saw of its attempts. */
#define PENDING_COLUMNS "id, name, subject, address, first_ms, last_ms, attempts"

static json_t *pending_row(sqlite3_stmt *s, bool full)
{
    const char *id = (const char *)sqlite3_column_text(s, 0);

    (void)full; /* a pending device has no health */
    if (!id || strlen(id) != 64)
        return NULL;
    return json_pack("{s:s, s:s%, s:o, s:s, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:n, s:i, s:o, s:o, "
                     "s:o, s:o, s:I}",
                     "id", id, "key_id", id, (size_t)16, "name", kos__store_col_text(s, 1), "state",
                     "pending", "registered", "last_seen", "system", "image", "signer",
                     "kos_version", "platform", "boot_time", "logs_dropped", 0, "subject",
                     kos__store_col_text(s, 2), "address", kos__store_col_text(s, 3),
                     "first_attempt", kos__json_time_ms(sqlite3_column_int64(s, 4)), "last_attempt",
                     kos__json_time_ms(sqlite3_column_int64(s, 5)), "attempts",
                     (json_int_t)sqlite3_column_int64(s, 6));
}

json_t *kos__store_pending_json(struct kos__store *st, const char *id)
{
    sqlite3_stmt *s;
    json_t *d = NULL;

    if (!id)
        return rows_json(st,
                         kos__store_prep(st, "SELECT " PENDING_COLUMNS " FROM pending "
                                             "WHERE id NOT IN (SELECT id FROM devices) "
                                             "ORDER BY first_ms, id"),
                         pending_row);
    s = kos__store_prep(st, "SELECT " PENDING_COLUMNS " FROM pending WHERE id = ?");
    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        d = pending_row(s, true);
    kos__store_unprep(st, s);
    return d;
}

/* ---- log records ---- */

/* The most a count of lost records adds up to (JSON numbers stay exact). */
#define DROPPED_MAX ((sqlite3_int64)1 << 53)

/* A device's ring of records (its logs, its traces): the SQL that numbers,
 * inserts, counts and trims it, and how many it keeps. The strings are the
 * statements' keys in the cache (prep), so each is one constant. */
struct ring_kind {
    const char *what;   /* "log records", for messages */
    const char *last;   /* the device's last seq */
    const char *insert; /* ?1 device, ?2 seq, then the record's own (bind) */
    const char *update; /* ?1 device, ?2 last seq, ?3 now, ?4 dropped, ?5 DROPPED_MAX */
    const char *trim;   /* ?1 device, ?2 the highest seq to delete */
    size_t ring;
};

/* Adds the newest `ring` of n records to device id's ring in one
 * transaction (bind(ins, i, arg) binds record i's own columns from ?3 on),
 * counts `dropped`, and trims the ring; *first_seq is the first stored
 * one's seq, *stored how many. */
static kos_status_t ring_add(struct kos__store *st, const char *id, const struct ring_kind *k,
                             size_t n, uint64_t dropped,
                             void (*bind)(sqlite3_stmt *ins, size_t i, const void *arg),
                             const void *arg, uint64_t *first_seq, size_t *stored)
{
    sqlite3_stmt *s = NULL, *ins = NULL;
    sqlite3_int64 last;
    size_t skip = n > k->ring ? n - k->ring : 0;
    kos_status_t rc = KOS_STATUS_IO;

    if (!kos__store_exec(st, "BEGIN IMMEDIATE"))
        return kos__store_failed(st, k->what);
    s = kos__store_prep(st, k->last);
    if (!s)
        goto out_rollback;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = KOS_STATUS_NOT_FOUND;
        goto out_rollback;
    }
    last = sqlite3_column_int64(s, 0);
    kos__store_unprep(st, s);
    s = NULL;
    ins = kos__store_prep(st, k->insert);
    if (!ins)
        goto out_rollback;
    for (size_t i = skip; i < n; i++) {
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, last + 1 + (sqlite3_int64)(i - skip));
        bind(ins, i, arg);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto out_rollback;
    }
    kos__store_unprep(st, ins);
    ins = NULL;
    s = kos__store_prep(st, k->update);
    if (!s)
        goto out_rollback;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, last + (sqlite3_int64)(n - skip));
    sqlite3_bind_int64(s, 3, kos__now_ms());
    sqlite3_bind_int64(s, 4,
                       dropped > (uint64_t)DROPPED_MAX ? DROPPED_MAX : (sqlite3_int64)dropped);
    sqlite3_bind_int64(s, 5, DROPPED_MAX);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out_rollback;
    kos__store_unprep(st, s);
    s = kos__store_prep(st, k->trim);
    if (!s)
        goto out_rollback;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, last + (sqlite3_int64)(n - skip) - (sqlite3_int64)k->ring);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out_rollback;
    kos__store_unprep(st, s);
    s = NULL;
    if (!kos__store_exec(st, "COMMIT"))
        goto out_rollback;
    *first_seq = (uint64_t)last + 1;
    *stored = n - skip;
    return KOS_STATUS_OK;

out_rollback:
    if (rc == KOS_STATUS_IO)
        kos__store_failed(st, k->what);
    kos__store_unprep(st, s);
    kos__store_unprep(st, ins);
    kos__store_rollback(st);
    return rc;
}

static const struct ring_kind log_ring = {
    "storing log records",
    "SELECT log_seq FROM devices WHERE id = ?",
    "INSERT INTO logs (device, seq, device_seq, time_ns, app, level, text, console)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "UPDATE devices SET log_seq = ?2, last_seen_ms = ?3,"
    " logs_dropped = min(logs_dropped + ?4, ?5) WHERE id = ?1",
    "DELETE FROM logs WHERE device = ? AND seq <= ?",
    KOS__SRV_LOG_RING,
};

static void bind_log(sqlite3_stmt *ins, size_t i, const void *arg)
{
    const struct kos__store_rec *r = (const struct kos__store_rec *)arg + i;

    assert(r->level < 4 && r->text_len <= KOS__SRV_LOG_TEXT_MAX);
    sqlite3_bind_int64(ins, 3, kos__store_i64(r->device_seq));
    sqlite3_bind_int64(ins, 4, r->time_ns);
    sqlite3_bind_text(ins, 5, r->app, (int)r->app_len, SQLITE_STATIC);
    sqlite3_bind_int(ins, 6, (int)r->level);
    sqlite3_bind_text(ins, 7, r->text, (int)r->text_len, SQLITE_STATIC);
    sqlite3_bind_int(ins, 8, r->console);
}

kos_status_t kos__store_logs_add(struct kos__store *st, const char *id,
                                 const struct kos__store_rec *recs, size_t n, uint64_t dropped,
                                 uint64_t *first_seq, size_t *stored)
{
    return ring_add(st, id, &log_ring, n, dropped, bind_log, recs, first_seq, stored);
}

json_t *kos__store_logs_json(struct kos__store *st, const char *id, uint64_t after, unsigned limit)
{
    sqlite3_stmt *s = kos__store_prep(st, "SELECT logs_dropped FROM devices WHERE id = ?");
    json_t *recs = NULL, *out = NULL;
    sqlite3_int64 dropped;
    uint64_t next = after;
    int step;

    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    dropped = sqlite3_column_int64(s, 0);
    kos__store_unprep(st, s);
    s = kos__store_prep(st, "SELECT seq, device_seq, time_ns, app, level, text, console FROM logs"
                            " WHERE device = ? AND seq > ? ORDER BY seq LIMIT ?");
    if (!s || !(recs = json_array()))
        goto out;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, kos__store_i64(after));
    sqlite3_bind_int(s, 3, (int)limit);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *app = (const char *)sqlite3_column_text(s, 3);
        size_t app_len = (size_t)sqlite3_column_bytes(s, 3);
        const char *text = (const char *)sqlite3_column_text(s, 5);
        size_t text_len = (size_t)sqlite3_column_bytes(s, 5);
        json_t *r;

        next = (uint64_t)sqlite3_column_int64(s, 0);
        r = kos__json_record(next, (uint64_t)sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
                             app ? app : "", app_len, (unsigned)sqlite3_column_int(s, 4) & 3u,
                             text ? text : "", text_len, sqlite3_column_int(s, 6) != 0);
        if (!r || json_array_append_new(recs, r) != 0)
            goto out;
    }
    if (step != SQLITE_DONE)
        goto out;
    out = json_pack("{s:O, s:I, s:o}", "records", recs, "dropped", (json_int_t)dropped, "next",
                    kos__json_u64(next));
out:
    kos__store_unprep(st, s);
    json_decref(recs);
    return out;
}

/* ---- trace records ---- */

static const char *trace_kind_name(unsigned kind)
{
    switch (kind) {
    case 1:
        return "call";
    case 2:
        return "serve";
    case 16:
        return "publish";
    case 17:
        return "grant";
    case 18:
        return "deny";
    case 19:
        return "close";
    case 20:
        return "unpublish";
    default:
        return "unknown";
    }
}

bool kos__store_trace_kind_known(unsigned kind)
{
    return strcmp(trace_kind_name(kind), "unknown") != 0;
}

static const struct ring_kind trace_ring = {
    "storing trace records",
    "SELECT trace_seq FROM devices WHERE id = ?",
    "INSERT INTO traces (device, seq, time_ns, kind, app, peer, server, protocol,"
    " channel, label, status, req_len, rep_len, dur_ns, verified)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "UPDATE devices SET trace_seq = ?2, last_seen_ms = ?3,"
    " traces_dropped = min(traces_dropped + ?4, ?5) WHERE id = ?1",
    "DELETE FROM traces WHERE device = ? AND seq <= ?",
    KOS__SRV_TRACE_RING,
};

static void bind_trace(sqlite3_stmt *ins, size_t i, const void *arg)
{
    const struct kos__store_trace *r = (const struct kos__store_trace *)arg + i;

    sqlite3_bind_int64(ins, 3, r->time_ns);
    sqlite3_bind_int(ins, 4, (int)r->kind);
    sqlite3_bind_text(ins, 5, r->app, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, r->peer, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, r->server, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 8, r->protocol, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 9, r->channel);
    sqlite3_bind_int64(ins, 10, r->label);
    sqlite3_bind_int64(ins, 11, r->status);
    sqlite3_bind_int64(ins, 12, r->req_len);
    sqlite3_bind_int64(ins, 13, r->rep_len);
    sqlite3_bind_int64(ins, 14, kos__store_i64(r->dur_ns));
    sqlite3_bind_int(ins, 15, r->verified);
}

kos_status_t kos__store_traces_add(struct kos__store *st, const char *id,
                                   const struct kos__store_trace *recs, size_t n, uint64_t dropped,
                                   uint64_t *first_seq, size_t *stored)
{
    return ring_add(st, id, &trace_ring, n, dropped, bind_trace, recs, first_seq, stored);
}

json_t *kos__json_trace(uint64_t seq, const struct kos__store_trace *r)
{
    return json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:s, s:I, s:I, s:o, s:b}",
                     "seq", kos__json_u64(seq), "time", kos__json_time_ns(r->time_ns), "kind",
                     trace_kind_name(r->kind), "app", kos__json_str(r->app), "peer",
                     kos__json_str(r->peer), "server", kos__json_str(r->server), "protocol",
                     kos__json_str(r->protocol), "channel", (json_int_t)r->channel, "label",
                     (json_int_t)r->label, "status", (json_int_t)r->status, "status_name",
                     r->status < KOS_STATUS__COUNT ? kos_status_str((kos_status_t)r->status)
                                                   : "unknown",
                     "req_len", (json_int_t)r->req_len, "rep_len", (json_int_t)r->rep_len, "dur_ns",
                     kos__json_u64(r->dur_ns), "verified", r->verified);
}

json_t *kos__store_traces_json(struct kos__store *st, const char *id, uint64_t after,
                               unsigned limit)
{
    sqlite3_stmt *s = kos__store_prep(st, "SELECT traces_dropped FROM devices WHERE id = ?");
    json_t *recs = NULL, *out = NULL;
    sqlite3_int64 dropped;
    uint64_t next = after;
    int step;

    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    dropped = sqlite3_column_int64(s, 0);
    kos__store_unprep(st, s);
    s = kos__store_prep(
        st, "SELECT seq, time_ns, kind, app, peer, server, protocol, channel, label, status,"
            " req_len, rep_len, dur_ns, verified FROM traces"
            " WHERE device = ? AND seq > ? ORDER BY seq LIMIT ?");
    if (!s || !(recs = json_array()))
        goto out;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, kos__store_i64(after));
    sqlite3_bind_int(s, 3, (int)limit);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t[4];
        for (int k = 0; k < 4; k++) {
            t[k] = (const char *)sqlite3_column_text(s, 3 + k);
            if (!t[k])
                t[k] = "";
        }
        struct kos__store_trace r = {
            .time_ns = sqlite3_column_int64(s, 1),
            .kind = (unsigned)sqlite3_column_int(s, 2),
            .app = t[0],
            .peer = t[1],
            .server = t[2],
            .protocol = t[3],
            .channel = (uint32_t)sqlite3_column_int64(s, 7),
            .label = (uint32_t)sqlite3_column_int64(s, 8),
            .status = (uint32_t)sqlite3_column_int64(s, 9),
            .req_len = (uint32_t)sqlite3_column_int64(s, 10),
            .rep_len = (uint32_t)sqlite3_column_int64(s, 11),
            .dur_ns = (uint64_t)sqlite3_column_int64(s, 12),
            .verified = sqlite3_column_int(s, 13) != 0,
        };
        json_t *j;

        next = (uint64_t)sqlite3_column_int64(s, 0);
        j = kos__json_trace(next, &r);
        if (!j || json_array_append_new(recs, j) != 0)
            goto out;
    }
    if (step != SQLITE_DONE)
        goto out;
    out = json_pack("{s:O, s:I, s:o}", "records", recs, "dropped", (json_int_t)dropped, "next",
                    kos__json_u64(next));
out:
    kos__store_unprep(st, s);
    json_decref(recs);
    return out;
}

/* ---- commands ---- */

kos_status_t kos__store_command_with(struct kos__store *st, const char *id, const char *json,
                                     kos_status_t (*also)(struct kos__store *st, sqlite3_int64 cid,
                                                          void *arg),
                                     void *arg, uint64_t *cmd_id)
{
    sqlite3_stmt *s;
    sqlite3_int64 cid;

    if (!kos__store_exec(st, "BEGIN IMMEDIATE"))
        return kos__store_failed(st, "recording a command");
    s = kos__store_prep(st, "INSERT INTO commands (device, command, sent_ms) VALUES (?, ?, ?)");
    if (!s)
        goto out_rollback;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, json, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, kos__now_ms());
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out_rollback;
    kos__store_unprep(st, s);
    cid = sqlite3_last_insert_rowid(st->db);
    s = kos__store_prep(st,
                        "DELETE FROM commands WHERE device = ?1 AND id < (SELECT min(id) FROM"
                        " (SELECT id FROM commands WHERE device = ?1 ORDER BY id DESC LIMIT ?2))");
    if (!s)
        goto out_rollback;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, (int)KOS__SRV_COMMANDS_KEPT);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out_rollback;
    kos__store_unprep(st, s);
    s = NULL;
    if ((also && also(st, cid, arg) != KOS_STATUS_OK) || !kos__store_exec(st, "COMMIT"))
        goto out_rollback;
    *cmd_id = (uint64_t)cid;
    return KOS_STATUS_OK;

out_rollback:
    kos__store_failed(st, "recording a command");
    kos__store_unprep(st, s);
    kos__store_rollback(st);
    return KOS_STATUS_IO;
}

kos_status_t kos__store_command_add(struct kos__store *st, const char *id, const char *json,
                                    uint64_t *cmd_id)
{
    return kos__store_command_with(st, id, json, NULL, NULL, cmd_id);
}

kos_status_t kos__store_command_done(struct kos__store *st, const char *id, uint64_t cmd_id,
                                     uint32_t status, const char *message)
{
    sqlite3_stmt *s;
    int step;

    if (cmd_id == 0 || cmd_id > (uint64_t)INT64_MAX)
        return KOS_STATUS_NOT_FOUND;
    s = kos__store_prep(st, "UPDATE commands SET status = ?, message = ?, done_ms = ?"
                            " WHERE id = ? AND device = ? AND done_ms IS NULL");
    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_int64(s, 1, status);
    sqlite3_bind_text(s, 2, message, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, kos__now_ms());
    sqlite3_bind_int64(s, 4, (sqlite3_int64)cmd_id);
    sqlite3_bind_text(s, 5, id, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (step != SQLITE_DONE)
        return kos__store_failed(st, "recording a command's result");
    return sqlite3_changes(st->db) ? KOS_STATUS_OK : KOS_STATUS_NOT_FOUND;
}
