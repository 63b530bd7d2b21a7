/*
 * test_check.c - unit tests of the assurance-check API (manifest/check.h).
 *
 * The rules themselves are covered by the corpus under tests/check/ (one
 * positive and one negative manifest per rule, replayed by check_rules);
 * here: the catalogue's shape, the API's edges, the report's counts and
 * order, models built by hand without positions, and that no finding
 * quotes a secret-looking value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "manifest.h"

static const char *const layer_dirs[] = {KOS_LAYERS_DIR};
static const struct kos_mf_options opts = {layer_dirs, 1};

static struct kos_manifest *load(const char *text)
{
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    if (kos_manifest_parse("system.yaml", text, strlen(text), &opts, &m, &err) != 0)
        fail_msg("%s:%d:%d: %s", err.file, err.line, err.col, err.msg);
    return m;
}

static void test_catalogue(void **state)
{
    (void)state;
    size_t n = 0;
    const struct kos_check_rule *r = kos_check_rules(&n);
    assert_true(n >= 16);
    assert_non_null(kos_check_rules(NULL));
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(kos_check_rule_find(r[i].id), &r[i]);
        assert_true(r[i].severity >= KOS_CHECK_INFO && r[i].severity <= KOS_CHECK_ERROR);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(r[i].slug, r[j].slug);
    }
    assert_null(kos_check_rule_find("KOS-A999"));
    assert_null(kos_check_rule_find(NULL));
    assert_string_equal(kos_check_severity_str(KOS_CHECK_ERROR), "error");
    assert_string_equal(kos_check_severity_str(KOS_CHECK_WARNING), "warning");
    assert_string_equal(kos_check_severity_str(KOS_CHECK_INFO), "info");
    assert_string_equal(kos_check_severity_str((enum kos_check_severity)9), "unknown");
}

static void test_api_edges(void **state)
{
    (void)state;
    struct kos_check_report *rep = NULL;
    struct kos_manifest *m = load("system: s\napps: {a: {memory: 1MiB}}\n");
    assert_int_equal(kos_check_run(NULL, &rep), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos_check_run(m, NULL), KOS_STATUS_INVALID_ARGUMENT);
    assert_null(rep);
    assert_int_equal(kos_check_run(m, &rep), KOS_STATUS_OK);
    assert_int_equal(rep->n_findings, 0);
    assert_false(kos_check_fails(rep, KOS_CHECK_INFO));
    assert_false(kos_check_fails(NULL, KOS_CHECK_INFO));
    kos_check_report_destroy(rep);
    kos_check_report_destroy(NULL);
    kos_manifest_destroy(m);
}

static void test_counts_and_order(void **state)
{
    (void)state;
    struct kos_manifest *m = load("system: s\n"            /* 1 */
                                  "base: minimal\n"        /* 2 */
                                  "profile: development\n" /* 3 */
                                  "signing: disabled\n"    /* 4 */
                                  "apps:\n"                /* 5 */
                                  "  b: {}\n"              /* 6 */
                                  "  a:\n"                 /* 7 */
                                  "    waive: {KOS-A008: \"bounded by fixed pools at start\"}\n");
    struct kos_check_report *rep = NULL;
    assert_int_equal(kos_check_run(m, &rep), KOS_STATUS_OK);
    /* A016 (3), A001 (4), A008 on b (6), A008 on a waived (7). */
    assert_int_equal(rep->n_findings, 4);
    static const char *const ids[] = {"KOS-A016", "KOS-A001", "KOS-A008", "KOS-A008"};
    static const int lines[] = {3, 4, 6, 7};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(rep->findings[i].rule->id, ids[i]);
        assert_int_equal(rep->findings[i].pos.line, lines[i]);
    }
    assert_null(rep->findings[0].app);
    assert_string_equal(rep->findings[2].app, "b");
    assert_false(rep->findings[2].waived);
    assert_true(rep->findings[3].waived);
    assert_string_equal(rep->findings[3].justification, "bounded by fixed pools at start");
    assert_int_equal(rep->findings[3].waiver_pos.line, 8);
    assert_int_equal(rep->count[KOS_CHECK_ERROR], 1);
    assert_int_equal(rep->count[KOS_CHECK_WARNING], 1);
    assert_int_equal(rep->count[KOS_CHECK_INFO], 1);
    assert_int_equal(rep->n_waived, 1);
    assert_true(kos_check_fails(rep, KOS_CHECK_ERROR));
    kos_check_report_destroy(rep);
    kos_manifest_destroy(m);
}

/* A model built by hand has no per-entry positions: findings fall back to
 * the app's or the grant's position. */
static void test_hand_built_model(void **state)
{
    (void)state;
    const char *const pub[] = {"p"};
    const char *const req[] = {"kos_tunnel_protocol", "kos_keystore_protocol", "q"};
    const char *const env[] = {"API_KEY=x", "PLAIN=1"};
    struct kos_mf_grant g = {.server = "msg0",
                             .publish = pub,
                             .n_publish = 1,
                             .request = req,
                             .n_request = 3,
                             .pos = {"hand", 9, 9}};
    struct kos_mf_device dev = {.name = "d", .path = "/srv/x", .access = 3, .pos = {"hand", 2, 2}};
    struct kos_mf_app app = {.name = "a",
                             .binary = "a",
                             .restart = KOS_CM_RESTART_PERMANENT,
                             .restart_max = 5,
                             .restart_period_ms = 1,
                             .env = env,
                             .n_env = 2,
                             .grants = &g,
                             .n_grants = 1,
                             .devices = &dev,
                             .n_devices = 1,
                             .pos = {"hand", 1, 1}};
    struct kos_mf_server srv = {.name = "msg0", .binary = "msg_server"};
    struct kos_manifest m = {
        .system = "s", .signing = true, .servers = &srv, .n_servers = 1, .apps = &app, .n_apps = 1};
    struct kos_check_report *rep = NULL;
    assert_int_equal(kos_check_run(&m, &rep), KOS_STATUS_OK);
    /* A003 x3 (nobody publishes tunnel, keystore, q), A004 (p), A006, A007,
     * A008, A009 (API_KEY), A015. */
    size_t seen[20] = {0};
    for (size_t i = 0; i < rep->n_findings; i++) {
        int id = atoi(rep->findings[i].rule->id + 5);
        assert_true(id > 0 && id < 20);
        seen[id]++;
        assert_string_equal(rep->findings[i].pos.file, "hand");
    }
    assert_int_equal(seen[3], 3);
    assert_int_equal(seen[4], 1);
    assert_int_equal(seen[6], 1);
    assert_int_equal(seen[7], 1);
    assert_int_equal(seen[8], 1);
    assert_int_equal(seen[9], 1);
    assert_int_equal(seen[15], 1);
    assert_int_equal(rep->n_findings, 9);
    kos_check_report_destroy(rep);
}

/* Secrets are named, never quoted. */
static void test_secret_not_echoed(void **state)
{
    (void)state;
    struct kos_manifest *m = load("system: s\n"
                                  "apps:\n"
                                  "  a:\n"
                                  "    memory: 1MiB\n"
                                  "    env:\n"
                                  "      URL: \"https://bob:Sup3rS3cret@example.com/x\"\n"
                                  "      HEX: 00112233445566778899aabbccddeeff00112233\n"
                                  "      SESSION_SECRET: Sup3rS3cretToo\n");
    struct kos_check_report *rep = NULL;
    assert_int_equal(kos_check_run(m, &rep), KOS_STATUS_OK);
    assert_int_equal(rep->n_findings, 3);
    for (size_t i = 0; i < rep->n_findings; i++) {
        assert_string_equal(rep->findings[i].rule->id, "KOS-A009");
        assert_null(strstr(rep->findings[i].message, "Sup3r"));
        assert_null(strstr(rep->findings[i].message, "aabbcc"));
    }
    kos_check_report_destroy(rep);
    kos_manifest_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue),         cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_counts_and_order),  cmocka_unit_test(test_hand_built_model),
        cmocka_unit_test(test_secret_not_echoed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
