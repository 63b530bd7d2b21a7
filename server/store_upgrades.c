/*
 * store_upgrades.c - the releases kos-server has offered devices, their
 * blobs, and each upgrade's state (store.h, "releases and upgrades").
 *
 * What stays true: a release is recorded once per manifest digest, with
 * all its blobs, in the transaction that records the first upgrade
 * command offering it; an upgrade row exists exactly for each upgrade
 * command sent (or tried), so "the blobs offered to a device" are those of
 * the releases its upgrade rows name. Device text (a stage) is stored as
 * its bytes and escaped only when turned into JSON.
 */
#include <stdio.h>
#include <string.h>

#include "srv_json.h"
#include "srvlog.h"
#include "store.h"
#include "store_int.h"

/* The id of the release with r's manifest, recorded now if it is new. */
static kos_status_t release_id(struct kos__store *st, const struct kos__store_release *r,
                               sqlite3_int64 *rid)
{
    sqlite3_stmt *s = kos__store_prep(st, "SELECT id FROM releases WHERE manifest_sha256 = ?");
    int step;

    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, r->manifest_sha256, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW)
        *rid = sqlite3_column_int64(s, 0);
    kos__store_unprep(st, s);
    if (step == SQLITE_ROW)
        return KOS_STATUS_OK;
    if (step != SQLITE_DONE)
        return KOS_STATUS_IO;
    s = kos__store_prep(st, "INSERT INTO releases (manifest_sha256, release, system, image_sig,"
                            " bytes, created_ms, overlay) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, r->manifest_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, r->release);
    sqlite3_bind_text(s, 3, r->system, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->image_sig, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, kos__store_i64(r->bytes));
    sqlite3_bind_int64(s, 6, kos__now_ms());
    sqlite3_bind_int64(s, 7, r->overlay);
    step = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (step != SQLITE_DONE)
        return KOS_STATUS_IO;
    *rid = sqlite3_last_insert_rowid(st->db);
    for (size_t i = 0; i < r->n_blobs; i++) {
        s = kos__store_prep(st,
                            "INSERT INTO release_blobs (release, sha256, size) VALUES (?, ?, ?)");
        if (!s)
            return KOS_STATUS_IO;
        sqlite3_bind_int64(s, 1, *rid);
        sqlite3_bind_text(s, 2, r->blob_sha256[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, kos__store_i64(r->blob_size[i]));
        step = sqlite3_step(s);
        kos__store_unprep(st, s);
        if (step != SQLITE_DONE)
            return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

/* What add_upgrade() records: release r offered to device id. */
struct offer {
    const struct kos__store_release *r;
    const char *id;
};

/* Inside the command's transaction: the release (recorded if it is new)
 * and the upgrade row of command cid. */
static kos_status_t add_upgrade(struct kos__store *st, sqlite3_int64 cid, void *arg)
{
    const struct offer *o = arg;
    sqlite3_int64 rid = 0;
    sqlite3_stmt *s;
    int step;

    if (release_id(st, o->r, &rid) != KOS_STATUS_OK)
        return KOS_STATUS_IO;
    s = kos__store_prep(st, "INSERT INTO upgrades (command, device, release) VALUES (?, ?, ?)");
    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_int64(s, 1, cid);
    sqlite3_bind_text(s, 2, o->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, rid);
    step = sqlite3_step(s);
    kos__store_unprep(st, s);
    return step == SQLITE_DONE ? KOS_STATUS_OK : KOS_STATUS_IO;
}

kos_status_t kos__store_upgrade_add(struct kos__store *st, const char *id,
                                    const struct kos__store_release *r, const char *json,
                                    uint64_t *cmd_id)
{
    struct offer o = {r, id};

    return kos__store_command_with(st, id, json, add_upgrade, &o, cmd_id);
}

kos_status_t kos__store_upgrade_progress(struct kos__store *st, const char *id, uint64_t cmd_id,
                                         const char *stage, uint64_t done, uint64_t total,
                                         uint32_t blobs)
{
    sqlite3_stmt *s;
    int step;

    if (cmd_id == 0 || cmd_id > (uint64_t)INT64_MAX)
        return KOS_STATUS_NOT_FOUND;
    s = kos__store_prep(st, "UPDATE upgrades SET stage = ?, done = ?, total = ?, blobs = ?,"
                            " progress_ms = ? WHERE command = ? AND device = ?");
    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, stage, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, kos__store_i64(done));
    sqlite3_bind_int64(s, 3, kos__store_i64(total));
    sqlite3_bind_int64(s, 4, blobs);
    sqlite3_bind_int64(s, 5, kos__now_ms());
    sqlite3_bind_int64(s, 6, (sqlite3_int64)cmd_id);
    sqlite3_bind_text(s, 7, id, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    kos__store_unprep(st, s);
    if (step != SQLITE_DONE)
        return kos__store_failed(st, "recording an upgrade's progress");
    return sqlite3_changes(st->db) ? KOS_STATUS_OK : KOS_STATUS_NOT_FOUND;
}

kos_status_t kos__store_blob_offered(struct kos__store *st, const char *id, const char *sha256,
                                     uint64_t *cmd_id, uint64_t *size)
{
    sqlite3_stmt *s = kos__store_prep(
        st, "SELECT u.command, b.size FROM upgrades u JOIN release_blobs b ON b.release ="
            " u.release WHERE u.device = ? AND b.sha256 = ? ORDER BY u.command DESC LIMIT 1");
    int step;

    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sha256, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *cmd_id = (uint64_t)sqlite3_column_int64(s, 0);
        *size = (uint64_t)sqlite3_column_int64(s, 1);
    }
    kos__store_unprep(st, s);
    if (step == SQLITE_ROW)
        return KOS_STATUS_OK;
    return step == SQLITE_DONE ? KOS_STATUS_NOT_FOUND
                               : kos__store_failed(st, "finding a blob offered to a device");
}

kos_status_t kos__store_upgrade_served(struct kos__store *st, uint64_t cmd_id, uint64_t n)
{
    sqlite3_stmt *s =
        kos__store_prep(st, "UPDATE upgrades SET served = served + ? WHERE command = ?");
    int step;

    if (!s)
        return KOS_STATUS_IO;
    sqlite3_bind_int64(s, 1, kos__store_i64(n));
    sqlite3_bind_int64(s, 2, kos__store_i64(cmd_id));
    step = sqlite3_step(s);
    kos__store_unprep(st, s);
    return step == SQLITE_DONE ? KOS_STATUS_OK : kos__store_failed(st, "counting bytes served");
}

json_t *kos__store_upgrade_json(struct kos__store *st, const char *id)
{
    sqlite3_stmt *s = kos__store_prep(
        st, "SELECT u.command, r.release, r.system, r.manifest_sha256, r.bytes, u.stage, u.done,"
            " u.total, u.blobs, u.served, c.status, c.message, c.sent_ms, u.progress_ms,"
            " c.done_ms, (SELECT count(*) FROM release_blobs b WHERE b.release = r.id), r.overlay"
            " FROM upgrades u JOIN releases r ON r.id = u.release"
            " LEFT JOIN commands c ON c.id = u.command"
            " WHERE u.device = ? ORDER BY u.command DESC LIMIT 1");
    json_t *j = NULL;
    int step;

    if (!s)
        return NULL;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        j = json_null();
    else if (step == SQLITE_ROW) {
        bool has_status = sqlite3_column_type(s, 10) != SQLITE_NULL;
        uint32_t status = (uint32_t)sqlite3_column_int64(s, 10);
        j = json_pack(
            "{s:o, s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, "
            "s:o}",
            "command", kos__json_u64((uint64_t)sqlite3_column_int64(s, 0)), "release",
            (json_int_t)sqlite3_column_int64(s, 1), "overlay",
            (json_int_t)sqlite3_column_int64(s, 16), "system", kos__store_col_text(s, 2),
            "manifest", kos__store_col_text(s, 3), "blobs", (json_int_t)sqlite3_column_int64(s, 15),
            "bytes", kos__json_u64((uint64_t)sqlite3_column_int64(s, 4)), "stage",
            kos__store_col_text(s, 5), "done", kos__json_u64((uint64_t)sqlite3_column_int64(s, 6)),
            "total", kos__json_u64((uint64_t)sqlite3_column_int64(s, 7)), "fetch_blobs",
            (json_int_t)sqlite3_column_int64(s, 8), "served",
            kos__json_u64((uint64_t)sqlite3_column_int64(s, 9)), "status",
            has_status ? json_integer(status) : json_null(), "status_text",
            has_status ? json_string(kos_status_str((kos_status_t)status)) : json_null(), "message",
            kos__store_col_text(s, 11), "sent", kos__json_time_ms(sqlite3_column_int64(s, 12)),
            "progress_time", kos__json_time_ms(sqlite3_column_int64(s, 13)), "done_time",
            kos__json_time_ms(sqlite3_column_int64(s, 14)));
    } else {
        kos__store_failed(st, "reading a device's last upgrade");
    }
    kos__store_unprep(st, s);
    return j;
}
