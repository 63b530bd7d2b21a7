/*
 * store_int.h - what the store's files share (store.c, store_upgrades.c):
 * the store itself and its helpers around prepared statements.
 *
 * What stays true: a statement from kos__store_prep() goes back through
 * kos__store_unprep() before the call that took it returns, so none is in
 * use between calls, and between calls the store holds no transaction
 * open but the batch of devices' states (kos__store_batching()), which
 * commits before any other write.
 */
#ifndef KOS_SERVER_STORE_INT_H
#define KOS_SERVER_STORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include <kos/status.h>

/* The statements a store keeps prepared: one per SQL text its calls use
 * (about 35), each found by the address of its text, a string constant. */
#define STORE_STMTS 64

struct kos__store {
    sqlite3 *db;
    int version;
    /* The transaction that devices' comings and goings share
     * (kos__store_batching()): its commit, and whether it is open. */
    struct event *commit_ev;
    bool batch;
    struct {
        const char *sql; /* the constant it was prepared from */
        sqlite3_stmt *s;
        bool busy; /* between prep() and unprep() */
    } stmts[STORE_STMTS];
};

/* A prepared statement for `sql`, a string constant, ready to bind and
 * step (kept from an earlier call when it is not in use), or NULL (said in
 * the server's log). */
sqlite3_stmt *kos__store_prep(struct kos__store *st, const char *sql);

/* Gives back a statement from kos__store_prep() (or NULL). */
void kos__store_unprep(struct kos__store *st, sqlite3_stmt *s);

/* Runs SQL without results ("BEGIN IMMEDIATE", "COMMIT"). */
bool kos__store_exec(struct kos__store *st, const char *sql);

/* Rolls back the transaction open, if one is. */
void kos__store_rollback(struct kos__store *st);

/* Logs that `what` failed with SQLite's message; KOS_STATUS_IO. */
kos_status_t kos__store_failed(struct kos__store *st, const char *what);

/* A uint64 as SQLite's int64, clamped. */
sqlite3_int64 kos__store_i64(uint64_t v);

/* Records a command (kos__store_command_add) and, in the same
 * transaction, whatever also(st, its id, arg) records (NULL: nothing); if
 * also() fails, nothing is recorded. */
kos_status_t
kos__store_command_with(struct kos__store *st, const char *id, const char *json,
                        kos_status_t (*also)(struct kos__store *st, sqlite3_int64 cid, void *arg),
                        void *arg, uint64_t *cmd_id) __attribute__((warn_unused_result));

/* Column i as JSON text (escaped), or null. */
json_t *kos__store_col_text(sqlite3_stmt *s, int i);

#endif
