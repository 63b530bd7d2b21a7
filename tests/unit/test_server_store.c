/*
 * test_server_store.c - kos-server's database (server/store.c): migrations
 * (each once, in a transaction with its version; a database newer than the
 * program refused; a failing step rolled back), the device registry and its
 * states, the log ring (at most KOS__SRV_LOG_RING records a device, the
 * oldest deleted, numbers never reused), commands and their results,
 * releases and upgrades, and device text that comes back from the JSON
 * escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "server_fixture.h"
#include "store.h"

static char err[1024];
static const uint8_t pub[32] = {1, 2, 3};
static const char id_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char id_b[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* A count from the database at `path`: the first column of `sql`. */
static int count(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int n = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
}

static struct kos__store *open_db(void)
{
    struct kos__store *st = NULL;
    assert_int_equal(kos__store_open(in_scratch("s.db"), NULL, &st, err, sizeof(err)),
                     KOS_STATUS_OK);
    return st;
}

static void test_migrations_once(void **state)
{
    struct kos__store *st;
    const char *db = in_scratch("s.db");

    (void)state;
    st = open_db();
    assert_int_equal(kos__store_version(st), (int)kos__store_migrations.n);
    kos__store_close(st);
    st = open_db();
    kos__store_close(st);
    assert_int_equal(count(db, "SELECT count(*) FROM schema_version"),
                     (int)kos__store_migrations.n);
    kos__store_close(NULL);
}

static void test_newer_database_refused(void **state)
{
    static const char *const two[] = {"CREATE TABLE a (x)", "CREATE TABLE b (y)"};
    const struct kos__migrations m2 = {two, 2}, m1 = {two, 1};
    const char *db = in_scratch("m.db");
    struct kos__store *st;

    (void)state;
    assert_int_equal(kos__store_open(db, &m2, &st, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(kos__store_version(st), 2);
    kos__store_close(st);
    assert_int_equal(kos__store_open(db, &m1, &st, err, sizeof(err)), KOS_STATUS_UNSUPPORTED);
    assert_non_null(strstr(err, "schema version 2, newer than this kos-server knows (1)"));
    /* Nothing changed. */
    assert_int_equal(count(db, "SELECT max(version) FROM schema_version"), 2);
}

static void test_failing_migration_rolled_back(void **state)
{
    static const char *const one[] = {"CREATE TABLE a (x)"};
    static const char *const bad[] = {"CREATE TABLE a (x)",
                                      "CREATE TABLE c (z); CREATE TABLE a (x)"};
    const struct kos__migrations m1 = {one, 1}, mbad = {bad, 2};
    const char *db = in_scratch("f.db");
    struct kos__store *st;

    (void)state;
    assert_int_equal(kos__store_open(db, &m1, &st, err, sizeof(err)), KOS_STATUS_OK);
    kos__store_close(st);
    assert_int_not_equal(kos__store_open(db, &mbad, &st, err, sizeof(err)), KOS_STATUS_OK);
    assert_non_null(strstr(err, "from schema version 1 to 2"));
    assert_int_equal(count(db, "SELECT max(version) FROM schema_version"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'c'"), 0);
}

static void test_not_a_database(void **state)
{
    struct kos__store *st;

    (void)state;
    write_scratch("junk.db", "this is not an SQLite database, not even close to one......\n");
    assert_int_not_equal(kos__store_open(in_scratch("junk.db"), NULL, &st, err, sizeof(err)),
                         KOS_STATUS_OK);
    assert_non_null(strstr(err, "junk.db"));
}

static void test_devices(void **state)
{
    struct kos__store *st = open_db();
    enum kos__dev_state s;
    char name[KOS__SRV_NAME_MAX + 1];
    struct kos__store_reg reg = {"weather\x1b[2J", "abcd", "", "0.1.0", "sim", 1};
    json_t *all, *d;

    (void)state;
    assert_int_equal(kos__store_device_add(st, id_a, "<b>a</b>", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(kos__store_device_add(st, id_a, "again", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_ALREADY_EXISTS);
    assert_int_equal(kos__store_device_get(st, id_b, &s, NULL), KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__store_device_get(st, id_a, &s, name), KOS_STATUS_OK);
    assert_int_equal(s, KOS__DEV_REGISTERED);
    assert_string_equal(name, "<b>a</b>");
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_ONLINE), KOS_STATUS_OK);
    assert_int_equal(kos__store_device_report(st, id_a, &reg, "{\"uptime_ms\":5}"), KOS_STATUS_OK);
    assert_int_equal(kos__store_device_report(st, id_b, NULL, "{}"), KOS_STATUS_NOT_FOUND);
    d = kos__store_device_json(st, id_a, true);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "state")), "online");
    assert_string_equal(json_string_value(json_object_get(d, "name")), "<b>a</b>");
    /* Device text is escaped as the console escapes it. */
    assert_string_equal(json_string_value(json_object_get(d, "system")), "weather\\x1b[2J");
    assert_string_equal(json_string_value(json_object_get(d, "key_id")), "aaaaaaaaaaaaaaaa");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "health"), "uptime_ms")),
                     5);
    assert_true(json_is_string(json_object_get(d, "last_seen")));
    json_decref(d);
    /* A health report alone leaves the Register's facts. */
    assert_int_equal(kos__store_device_report(st, id_a, NULL, "{\"uptime_ms\":6}"), KOS_STATUS_OK);
    d = kos__store_device_json(st, id_a, false);
    assert_string_equal(json_string_value(json_object_get(d, "platform")), "sim");
    assert_null(json_object_get(d, "health"));
    json_decref(d);
    assert_null(kos__store_device_json(st, id_b, true));
    /* Revoked stays revoked. */
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_REVOKED), KOS_STATUS_OK);
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_ONLINE),
                     KOS_STATUS_UNAUTHORIZED);
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_REVOKED), KOS_STATUS_OK);
    assert_int_equal(kos__store_device_add(st, id_b, "b", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(kos__store_device_set_state(st, id_b, KOS__DEV_ONLINE), KOS_STATUS_OK);
    all = kos__store_devices_json(st);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    kos__store_close(st);
    /* A device left online by a server that stopped uncleanly is offline. */
    st = open_db();
    assert_int_equal(kos__store_device_get(st, id_b, &s, NULL), KOS_STATUS_OK);
    assert_int_equal(s, KOS__DEV_OFFLINE);
    assert_int_equal(kos__store_device_get(st, id_a, &s, NULL), KOS_STATUS_OK);
    assert_int_equal(s, KOS__DEV_REVOKED);
    kos__store_close(st);
    assert_string_equal(kos__dev_state_name(KOS__DEV_OFFLINE), "offline");
}

/* With an event base (kos__store_batching()), devices going online and
 * offline and their reports wait for the end of the loop's turn: another
 * connection sees them only then, or once any other write (a revocation,
 * a device's records) has committed them first; without the base, each
 * commits at once. Stopping commits what waits. */
static void test_batching(void **state)
{
    struct kos__store *st = open_db();
    struct event_base *base = event_base_new();
    const char *db = in_scratch("s.db");
    struct kos__store_rec rec = {1, 1, "app", 3, 1, "hi", 2, 0};
    uint64_t first;
    size_t stored;

    (void)state;
    assert_non_null(base);
    assert_int_equal(kos__store_device_add(st, id_a, "a", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(kos__store_device_add(st, id_b, "b", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_true(kos__store_batching(st, base));
    /* Waits for the turn; this connection sees it already. */
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_ONLINE), KOS_STATUS_OK);
    assert_int_equal(kos__store_device_set_state(st, id_b, KOS__DEV_ONLINE), KOS_STATUS_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE state = 'online'"), 0);
    assert_int_equal(kos__store_device_get(st, id_a, &(enum kos__dev_state){0}, NULL),
                     KOS_STATUS_OK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE state = 'online'"), 2);
    /* A report waits; a revocation commits it first, and itself. */
    assert_int_equal(kos__store_device_report(st, id_a, NULL, "{\"uptime_ms\":5}"), KOS_STATUS_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE health IS NOT NULL"), 0);
    assert_int_equal(kos__store_device_set_state(st, id_b, KOS__DEV_REVOKED), KOS_STATUS_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE health IS NOT NULL"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE state = 'revoked'"), 1);
    /* A device's records commit what waits before them. */
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_OFFLINE), KOS_STATUS_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE state = 'offline'"), 0);
    assert_int_equal(kos__store_logs_add(st, id_a, &rec, 1, 0, &first, &stored), KOS_STATUS_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE state = 'offline'"), 1);
    assert_int_equal(count(db, "SELECT count(*) FROM logs"), 1);
    /* Stopping commits; after it, each write commits at once. */
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_ONLINE), KOS_STATUS_OK);
    assert_true(kos__store_batching(st, NULL));
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE state = 'online'"), 1);
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_OFFLINE), KOS_STATUS_OK);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE state = 'online'"), 0);
    /* Closing a store whose batch is open commits it. */
    assert_true(kos__store_batching(st, base));
    assert_int_equal(kos__store_device_set_state(st, id_a, KOS__DEV_ONLINE), KOS_STATUS_OK);
    kos__store_close(st);
    assert_int_equal(count(db, "SELECT count(*) FROM devices WHERE state = 'online'"), 1);
    event_base_free(base);
}

static void test_log_ring(void **state)
{
    struct kos__store *st = open_db();
    enum { BATCH = 700 };
    static struct kos__store_rec recs[BATCH];
    uint64_t first, total = 0;
    size_t stored;
    json_t *j, *r;

    (void)state;
    assert_int_equal(kos__store_device_add(st, id_a, "a", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    for (size_t i = 0; i < BATCH; i++)
        recs[i] = (struct kos__store_rec){
            i, 1000000000 + (int64_t)i, "app", 3, (unsigned)i % 4, "\xff text\x07", 7, i % 2};
    /* Past the ring, in batches. */
    while (total < KOS__SRV_LOG_RING + 2 * BATCH) {
        assert_int_equal(kos__store_logs_add(st, id_a, recs, BATCH, 3, &first, &stored),
                         KOS_STATUS_OK);
        assert_int_equal(first, total + 1);
        assert_int_equal(stored, BATCH);
        total += BATCH;
    }
    assert_int_equal(count(in_scratch("s.db"), "SELECT count(*) FROM logs"), KOS__SRV_LOG_RING);
    assert_int_equal(count(in_scratch("s.db"), "SELECT min(seq) FROM logs"),
                     (int)(total - KOS__SRV_LOG_RING + 1));
    j = kos__store_logs_json(st, id_a, 0, 5);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "records")), 5);
    r = json_array_get(json_object_get(j, "records"), 0);
    assert_int_equal(json_integer_value(json_object_get(r, "seq")), total - KOS__SRV_LOG_RING + 1);
    assert_string_equal(json_string_value(json_object_get(r, "text")), "\\xff text\\x07");
    assert_int_equal(json_integer_value(json_object_get(j, "dropped")), 3 * (int)(total / BATCH));
    assert_int_equal(json_integer_value(json_object_get(j, "next")), total - KOS__SRV_LOG_RING + 5);
    json_decref(j);
    j = kos__store_logs_json(st, id_a, total - 2, 100);
    assert_int_equal(json_array_size(json_object_get(j, "records")), 2);
    json_decref(j);
    j = kos__store_logs_json(st, id_a, total, 100);
    assert_int_equal(json_array_size(json_object_get(j, "records")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "next")), total);
    json_decref(j);
    assert_null(kos__store_logs_json(st, id_b, 0, 10));
    assert_int_equal(kos__store_logs_add(st, id_b, recs, 1, 0, &first, &stored),
                     KOS_STATUS_NOT_FOUND);
    kos__store_close(st);
}

static void test_commands(void **state)
{
    struct kos__store *st = open_db();
    uint64_t c1, c2;

    (void)state;
    assert_int_equal(kos__store_device_add(st, id_a, "a", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(kos__store_device_add(st, id_b, "b", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(kos__store_command_add(st, id_a, "{\"reboot\":true}", &c1), KOS_STATUS_OK);
    assert_int_equal(kos__store_command_add(st, id_a, "{\"reboot\":true}", &c2), KOS_STATUS_OK);
    assert_true(c2 > c1);
    /* Only its own device answers a command, once. */
    assert_int_equal(kos__store_command_done(st, id_b, c1, 0, "ok"), KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__store_command_done(st, id_a, c1, 0, "ok"), KOS_STATUS_OK);
    assert_int_equal(kos__store_command_done(st, id_a, c1, 0, "ok"), KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__store_command_done(st, id_a, 0, 0, "ok"), KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__store_command_done(st, id_a, UINT64_MAX, 0, "ok"), KOS_STATUS_NOT_FOUND);
    /* Old ones are forgotten past the bound. */
    for (unsigned i = 0; i < KOS__SRV_COMMANDS_KEPT + 5; i++)
        assert_int_equal(kos__store_command_add(st, id_a, "{}", &c2), KOS_STATUS_OK);
    assert_int_equal(count(in_scratch("s.db"), "SELECT count(*) FROM commands"),
                     KOS__SRV_COMMANDS_KEPT);
    kos__store_close(st);
}

/* Releases offered to devices (store_upgrades.c): a device is offered the
 * blobs of its own upgrades only, a release is recorded once however often
 * it is sent, progress goes to its own device's upgrade, bytes served are
 * counted on the newest upgrade that offered the blob, and the device's
 * last upgrade comes back as JSON with its result, device text escaped. */
static void test_upgrades(void **state)
{
    static const char sha1[] = "1111111111111111111111111111111111111111111111111111111111111111";
    static const char sha2[] = "2222222222222222222222222222222222222222222222222222222222222222";
    const char *const shas[] = {sha1, sha2};
    const uint64_t sizes[] = {100, 2000};
    struct kos__store_release r = {.manifest_sha256 = sha1,
                                   .system = "weather",
                                   .image_sig = "kos-image 1\n",
                                   .release = 7,
                                   .n_blobs = 2,
                                   .blob_sha256 = shas,
                                   .blob_size = sizes,
                                   .bytes = 2100};
    struct kos__store *st = open_db();
    uint64_t c1, c2, cmd, size;
    json_t *j;

    (void)state;
    assert_int_equal(kos__store_device_add(st, id_a, "a", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(kos__store_device_add(st, id_b, "b", pub, "CERT", err, sizeof(err)),
                     KOS_STATUS_OK);
    j = kos__store_upgrade_json(st, id_a);
    assert_true(json_is_null(j));
    json_decref(j);
    assert_int_equal(kos__store_upgrade_add(st, id_a, &r, "{\"upgrade\":{}}", &c1), KOS_STATUS_OK);
    assert_int_equal(kos__store_upgrade_add(st, id_a, &r, "{\"upgrade\":{}}", &c2), KOS_STATUS_OK);
    assert_int_equal(count(in_scratch("s.db"), "SELECT count(*) FROM releases"), 1);
    assert_int_equal(count(in_scratch("s.db"), "SELECT count(*) FROM release_blobs"), 2);
    assert_int_equal(kos__store_blob_offered(st, id_a, sha2, &cmd, &size), KOS_STATUS_OK);
    assert_true(cmd == c2 && size == 2000);
    assert_int_equal(kos__store_blob_offered(st, id_b, sha2, &cmd, &size), KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__store_blob_offered(st, id_a, "33", &cmd, &size), KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__store_upgrade_progress(st, id_b, c2, "fetching", 1, 2, 1),
                     KOS_STATUS_NOT_FOUND);
    assert_int_equal(kos__store_upgrade_progress(st, id_a, c2, "fetching\x1b", 1000, 2100, 2),
                     KOS_STATUS_OK);
    assert_int_equal(kos__store_upgrade_served(st, c2, 1500), KOS_STATUS_OK);
    assert_int_equal(kos__store_upgrade_served(st, c2, 600), KOS_STATUS_OK);
    j = kos__store_upgrade_json(st, id_a);
    assert_int_equal(json_integer_value(json_object_get(j, "command")), (json_int_t)c2);
    assert_int_equal(json_integer_value(json_object_get(j, "release")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "blobs")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "served")), 2100);
    assert_string_equal(json_string_value(json_object_get(j, "stage")), "fetching\\x1b");
    assert_true(json_is_null(json_object_get(j, "status")));
    json_decref(j);
    assert_int_equal(kos__store_command_done(st, id_a, c2, 3, "<b>no</b>"), KOS_STATUS_OK);
    j = kos__store_upgrade_json(st, id_a);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 3);
    assert_string_equal(json_string_value(json_object_get(j, "status_text")), "unauthorized");
    assert_string_equal(json_string_value(json_object_get(j, "message")), "<b>no</b>");
    json_decref(j);
    kos__store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations_once, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_newer_database_refused, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_failing_migration_rolled_back, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_devices, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_batching, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_log_ring, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_commands, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_upgrades, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
