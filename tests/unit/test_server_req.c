/*
 * test_server_req.c - reading what API clients send kos-server
 * (server/req.c): request bodies are JSON objects with known fields of the
 * right types and ranges, each refusal saying what was wrong; query strings
 * take known parameters once, with plain values; the secret is found in a
 * Bearer header or the kos_session cookie and nowhere else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>

#include "req.h"
#include "server_fixture.h"

static char err[1024];

/* Registers body `json` (with %s for the public key's PEM, JSON-escaped). */
static kos_status_t reg(const char *fmt, struct kos__req_register *out)
{
    EVP_PKEY *k = new_key("ED25519");
    char *pem = key_pem(k, 0), *esc, body[8192];
    json_t *s = json_string(pem);

    esc = json_dumps(s, JSON_ENCODE_ANY);
    snprintf(body, sizeof(body), fmt, esc);
    free(esc);
    json_decref(s);
    free(pem);
    EVP_PKEY_free(k);
    return kos__req_register(body, strlen(body), out, err, sizeof(err));
}

/* Expects `body` refused by kos__req_register with `words` in the error. */
static void reg_refused(const char *fmt, const char *words)
{
    struct kos__req_register r;

    assert_int_equal(reg(fmt, &r), KOS_STATUS_INVALID_ARGUMENT);
    if (!strstr(err, words))
        fail_msg("'%s': expected '%s' in '%s'", fmt, words, err);
}

static void test_register(void **state)
{
    struct kos__req_register r;

    (void)state;
    assert_int_equal(reg("{\"public_key\": %s, \"name\": \"<script>alert(1)</script>\"}", &r),
                     KOS_STATUS_OK);
    assert_string_equal(r.name, "<script>alert(1)</script>");
    assert_int_equal(reg("{\"public_key\": %s}", &r), KOS_STATUS_OK);
    assert_string_equal(r.name, "");
    assert_int_equal(reg("{\"public_key\": %s, \"name\": null}", &r), KOS_STATUS_OK);
    assert_int_equal(reg("{\"public_key\": %s, \"name\": \"caf\\u00e9 \\ud83d\\ude00\"}", &r),
                     KOS_STATUS_OK);
    reg_refused("{\"public_key\": %s", "not valid JSON");
    reg_refused("[%s]", "must be a JSON object");
    reg_refused("{\"public_key\": %s, \"public_key\": 1}", "duplicate");
    reg_refused("{\"public_key\": %s, \"nmae\": \"x\"}", "unknown field \"nmae\"");
    reg_refused("{\"name\": \"x\"} %.0s", "\"public_key\" is missing");
    reg_refused("{\"public_key\": 5} %.0s", "must be a string");
    reg_refused("{\"public_key\": %s, \"name\": 7}", "\"name\" must be a string");
    reg_refused("{\"public_key\": %s, \"name\": \"\"}", "\"name\" must be");
    reg_refused("{\"public_key\": %s, \"name\": \"   \"}", "\"name\" must be");
    reg_refused("{\"public_key\": %s, \"name\": \"a\\nb\"}", "\"name\" must be");
    reg_refused("{\"public_key\": %s, \"name\": \"a\\u0000b\"}", "not valid JSON");
    reg_refused("{\"public_key\": %s, \"name\": \"a\\u0085b\"}", "\"name\" must be");
    reg_refused("{\"public_key\": %s, \"name\": \"a\\u2028b\"}", "\"name\" must be");
    reg_refused("{\"public_key\": %s, \"name\": "
                "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
                "1 to 64 bytes");
    reg_refused("{\"public_key\": \"hello\"} %.0s", "not one PEM public key");
    /* An unknown field's name is quoted escaped and cut short. */
    reg_refused("{\"public_key\": %s, \"\\u001b[2J"
                "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\": 1}",
                "unknown field \"\\x1b[2Jyyyyy");
    assert_null(strchr(err, '\x1b'));
    assert_non_null(strstr(err, "...\""));
    assert_int_equal(kos__req_register("", 0, &r, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(kos__req_register("{\"a\":\xff}", 7, &r, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    /* jansson's reason quotes the input near the error: it comes escaped
     * (found by fuzz_studio: corpus/studio/regress-json-error-quotes-input). */
    assert_int_equal(kos__req_register("\x7f\x9d\x8fy\": ", 8, &r, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "not valid JSON"));
    assert_null(strchr(err, 0x7f));
    json_t *js = json_string(err);
    assert_non_null(js); /* valid UTF-8 */
    json_decref(js);
}

/* A shell line: any string within the bound (the device judges the rest). */
static void test_shell(void **state)
{
    static struct kos__req_shell sl;
    static char body[KOS__SRV_SHELL_LINE_MAX + 64];
    const char *b;

    (void)state;
    b = "{\"line\": \"restart sensor\"}";
    assert_int_equal(kos__req_shell(b, strlen(b), &sl, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(sl.line, "restart sensor");
    assert_int_equal(sl.len, 14);
    b = "{\"line\": \"apps\\u001b[2J\"}";
    assert_int_equal(kos__req_shell(b, strlen(b), &sl, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(sl.line, "apps\x1b[2J");
    b = "{\"line\": \"\"}";
    assert_int_equal(kos__req_shell(b, strlen(b), &sl, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(sl.len, 0);
    static const struct {
        const char *body, *says;
    } bad[] = {
        {"{}", "\"line\" must be a string"},
        {"{\"line\": 5}", "\"line\" must be a string"},
        {"{\"line\": \"a\", \"cmd\": 1}", "unknown field \"cmd\""},
        {"{\"line\": \"a\\u0000b\"}", "not valid JSON"},
        {"{\"line\": \"\\udcff\"}", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(kos__req_shell(bad[i].body, strlen(bad[i].body), &sl, err, sizeof(err)),
                         KOS_STATUS_INVALID_ARGUMENT);
        if (!strstr(err, bad[i].says))
            fail_msg("'%s': expected '%s' in '%s'", bad[i].body, bad[i].says, err);
    }
    int n = snprintf(body, sizeof(body), "{\"line\": \"");
    memset(body + n, 'a', KOS__SRV_SHELL_LINE_MAX + 1);
    strcpy(body + n + KOS__SRV_SHELL_LINE_MAX + 1, "\"}");
    assert_int_equal(kos__req_shell(body, strlen(body), &sl, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "\"line\" is 1025 bytes long; at most 1024"));
}

/* POST /api/devices/ID/approve: no body, or an optional valid name. */
static void test_approve(void **state)
{
    char name[KOS__SRV_NAME_MAX + 1];
    static const struct {
        const char *body, *says;
    } bad[] = {
        {"{\"name\": 5}", "\"name\" must be a string"},
        {"{\"name\": \"a\\u0007b\"}", "without control characters"},
        {"{\"name\": \"\"}", "\"name\" must be a string of 1 to 64 bytes"},
        {"{\"nmae\": \"x\"}", "an approval takes \"name\" (optional) or no body"},
        {"[1]", "a JSON object"},
    };
    const char *b;

    (void)state;
    assert_int_equal(kos__req_approve("", 0, name, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(name, "");
    b = "{}";
    assert_int_equal(kos__req_approve(b, strlen(b), name, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(name, "");
    b = "{\"name\": \"lab-3\"}";
    assert_int_equal(kos__req_approve(b, strlen(b), name, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(name, "lab-3");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(kos__req_approve(bad[i].body, strlen(bad[i].body), name, err, sizeof(err)),
                         KOS_STATUS_INVALID_ARGUMENT);
        if (!strstr(err, bad[i].says))
            fail_msg("'%s': expected '%s' in '%s'", bad[i].body, bad[i].says, err);
    }
}

static void command_refused(const char *body, const char *words)
{
    struct kos__req_command c;

    assert_int_equal(kos__req_command(body, strlen(body), &c, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    if (!strstr(err, words))
        fail_msg("'%s': expected '%s' in '%s'", body, words, err);
}

static void test_command(void **state)
{
    struct kos__req_command c;
    const char *b;

    (void)state;
    b = "{\"restart_app\": \"sensor_1\"}";
    assert_int_equal(kos__req_command(b, strlen(b), &c, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(c.kind, KOS__CMD_RESTART_APP);
    assert_string_equal(c.app, "sensor_1");
    b = "{\"reboot\": true}";
    assert_int_equal(kos__req_command(b, strlen(b), &c, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(c.kind, KOS__CMD_REBOOT);
    command_refused("{}", "exactly one command");
    command_refused("{\"reboot\": true, \"restart_app\": \"a\"}", "exactly one command");
    command_refused("{\"reboot\": false}", "must be true");
    command_refused("{\"reboot\": 1}", "must be true");
    command_refused("{\"restart_app\": \"../x\"}", "an app's name");
    command_refused("{\"restart_app\": \"\"}", "an app's name");
    command_refused("{\"restart_app\": 3}", "an app's name");
    command_refused("{\"shutdown\": true}", "unknown field \"shutdown\"");
    command_refused("\"reboot\"", "must be a JSON object");
    command_refused("{\"reboot\": true} x", "not valid JSON");
}

static void test_queries(void **state)
{
    uint64_t after;
    unsigned limit;
    char dev[65];

    (void)state;
    assert_int_equal(kos__req_logs_query(NULL, &after, &limit, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(after, 0);
    assert_int_equal(limit, KOS__SRV_LOGS_LIMIT_DEFAULT);
    assert_int_equal(kos__req_logs_query("after=42&limit=7", &after, &limit, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(after, 42);
    assert_int_equal(limit, 7);
    assert_int_equal(kos__req_logs_query("limit=1001", &after, &limit, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "\"limit\" takes one number from 1 to 1000"));
    assert_int_equal(kos__req_logs_query("limit=0", &after, &limit, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__req_logs_query("after=-1", &after, &limit, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(
        kos__req_logs_query("after=99999999999999999999999", &after, &limit, err, sizeof(err)),
        KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__req_logs_query("after=1&after=2", &after, &limit, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__req_logs_query("before=1", &after, &limit, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "unknown query parameter \"before\""));
    assert_int_equal(kos__req_logs_query("after", &after, &limit, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__req_logs_query("after=%31", &after, &limit, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos__req_events_query("", dev, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(dev, "");
    assert_int_equal(kos__req_events_query(
                         "device=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                         dev, err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_string_equal(dev, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_int_equal(kos__req_events_query("device=ABC", dev, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    dev[0] = '\0';
    assert_true(kos__req_is_device_id(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 64));
    assert_false(kos__req_is_device_id(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF", 64));
    assert_false(kos__req_is_device_id("0123", 4));
}

static void test_secret(void **state)
{
    const char *s = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char h[256];

    (void)state;
    snprintf(h, sizeof(h), "Bearer %s", s);
    assert_true(kos__req_bearer_ok(h, s));
    snprintf(h, sizeof(h), "bearer  %s ", s);
    assert_true(kos__req_bearer_ok(h, s));
    snprintf(h, sizeof(h), "Basic %s", s);
    assert_false(kos__req_bearer_ok(h, s));
    snprintf(h, sizeof(h), "Bearer %.63s", s);
    assert_false(kos__req_bearer_ok(h, s));
    snprintf(h, sizeof(h), "Bearer %s0", s);
    assert_false(kos__req_bearer_ok(h, s));
    assert_false(kos__req_bearer_ok(NULL, s));
    assert_false(kos__req_bearer_ok("Bearer ", s));
    snprintf(h, sizeof(h), "theme=dark; kos_session=%s; other=1", s);
    assert_true(kos__req_cookie_ok(h, s));
    snprintf(h, sizeof(h), "kos_session=wrong; kos_session=%s", s);
    assert_true(kos__req_cookie_ok(h, s));
    snprintf(h, sizeof(h), "xkos_session=%s", s);
    assert_false(kos__req_cookie_ok(h, s));
    snprintf(h, sizeof(h), "kos_session=%.32s", s);
    assert_false(kos__req_cookie_ok(h, s));
    assert_false(kos__req_cookie_ok(NULL, s));
    assert_false(kos__req_cookie_ok("", s));
    assert_true(kos__req_secret_ok(s, 64, s));
    assert_false(kos__req_secret_ok(s, 63, s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register), cmocka_unit_test(test_command),
        cmocka_unit_test(test_shell),    cmocka_unit_test(test_approve),
        cmocka_unit_test(test_queries),  cmocka_unit_test(test_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
