/*
 * test_manifest.c - unit tests of the manifest reader (manifest/manifest.h).
 *
 * Good manifests parse to the expected model: defaults, units, base layers,
 * override by name, removal with null, arguments and environment, and the
 * file:line:col each entry remembers. The bad-manifest corpus
 * (tests/manifest/bad/) covers the error messages one by one; here a few
 * errors are checked for status and position, limits are probed at their
 * edges, and every prefix and many one-byte mutations of a full manifest are
 * parsed to show the reader neither crashes nor leaks (run under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot_int.h"
#include "manifest.h"
#include "mf_int.h"

static const char *const layer_dirs[] = {KOS_TEST_LAYERS_DIR, KOS_LAYERS_DIR};
static const struct kos_mf_options opts = {layer_dirs, 2};

/* Parses `text` as "system.yaml" and fails the test with the error if it
 * does not load. */
static struct kos_manifest *load_ok(const char *text)
{
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    kos_status_t st = kos_manifest_parse("system.yaml", text, strlen(text), &opts, &m, &err);
    if (st != KOS_STATUS_OK) {
        char buf[1200];
        kos_mf_error_format(&err, buf, sizeof(buf));
        print_error("unexpected error: %s\n", buf);
    }
    assert_int_equal(st, KOS_STATUS_OK);
    assert_non_null(m);
    return m;
}

/* Parses `text` and expects a content error at line:col whose message
 * starts with `msg`. */
static void load_bad(const char *text, int line, int col, const char *msg)
{
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    kos_status_t st = kos_manifest_parse("system.yaml", text, strlen(text), &opts, &m, &err);
    assert_int_equal(st, KOS_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    if (strncmp(err.msg, msg, strlen(msg)) != 0 || err.line != line || err.col != col)
        print_error("got %d:%d: %s\nwant %d:%d: %s\n", err.line, err.col, err.msg, line, col, msg);
    assert_string_equal(err.file, "system.yaml");
    assert_int_equal(err.line, line);
    assert_int_equal(err.col, col);
    assert_memory_equal(err.msg, msg, strlen(msg));
}

static const struct kos_mf_app *find_app(const struct kos_manifest *m, const char *name)
{
    for (size_t i = 0; i < m->n_apps; i++)
        if (strcmp(m->apps[i].name, name) == 0)
            return &m->apps[i];
    fail_msg("no app %s", name);
    return NULL;
}

static void test_defaults(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: tiny\n"
                                     "apps:\n"
                                     "  hello: {}\n");
    assert_string_equal(m->system, "tiny");
    assert_null(m->base);
    assert_true(m->signing);
    assert_int_equal(m->n_servers, 0);
    assert_int_equal(m->n_apps, 1);
    const struct kos_mf_app *a = &m->apps[0];
    assert_string_equal(a->name, "hello");
    assert_string_equal(a->binary, "hello");
    assert_int_equal(a->memory, 0);
    assert_int_equal(a->restart, KOS_CM_RESTART_PERMANENT);
    assert_int_equal(a->restart_max, 5);
    assert_int_equal(a->restart_period_ms, 10000);
    assert_false(a->ends_system);
    assert_int_equal(a->n_args, 0);
    assert_int_equal(a->n_env, 0);
    assert_int_equal(a->n_grants, 0);
    assert_string_equal(a->pos.file, "system.yaml");
    assert_int_equal(a->pos.line, 3);
    assert_int_equal(a->pos.col, 3);
    kos_manifest_destroy(m);
}

static void test_full_app(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: ping_pong\n"                          /* 1 */
                                     "signing: disabled\n"                          /* 2 */
                                     "message_servers:\n"                           /* 3 */
                                     "  msg0: {binary: msg_server}\n"               /* 4 */
                                     "  msg1: {binary: other_server}\n"             /* 5 */
                                     "apps:\n"                                      /* 6 */
                                     "  pong:\n"                                    /* 7 */
                                     "    binary: pong_bin\n"                       /* 8 */
                                     "    memory: 8MiB\n"                           /* 9 */
                                     "    restart: transient\n"                     /* 10 */
                                     "    restart_limit: {max: 0, period: 500ms}\n" /* 11 */
                                     "    ends_system: true\n"                      /* 12 */
                                     "    args: [--count, \"5\", '', \"~\"]\n"      /* 13 */
                                     "    env: {GREETING: hello, EMPTY: \"\", _X1: 42}\n"
                                     "    protocols:\n" /* 15 */
                                     "      msg0:\n"    /* 16 */
                                     "        publish: [ping_protocol, other.proto]\n"
                                     "        request: [kos_log_protocol]\n" /* 18 */
                                     "      msg1: {}\n"                      /* 19 */
                                     "  ping:\n"                             /* 20 */
                                     "    restart: temporary\n"              /* 21 */
                                     "    ends_system: False\n");
    assert_false(m->signing);
    assert_string_equal(m->signing_pos.file, "system.yaml");
    assert_int_equal(m->signing_pos.line, 2);
    assert_int_equal(m->signing_pos.col, 10);
    assert_int_equal(m->n_servers, 2);
    assert_string_equal(m->servers[0].name, "msg0");
    assert_string_equal(m->servers[0].binary, "msg_server");
    assert_int_equal(m->servers[0].pos.line, 4);
    assert_int_equal(m->servers[0].pos.col, 3);
    assert_string_equal(m->servers[1].name, "msg1");
    assert_string_equal(m->servers[1].binary, "other_server");

    assert_int_equal(m->n_apps, 2);
    const struct kos_mf_app *a = &m->apps[0];
    assert_string_equal(a->name, "pong");
    assert_string_equal(a->binary, "pong_bin");
    assert_int_equal(a->memory, 8u << 20);
    assert_int_equal(a->restart, KOS_CM_RESTART_TRANSIENT);
    assert_int_equal(a->restart_max, 0);
    assert_int_equal(a->restart_period_ms, 500);
    assert_true(a->ends_system);
    assert_int_equal(a->n_args, 4);
    assert_string_equal(a->args[0], "--count");
    assert_string_equal(a->args[1], "5");
    assert_string_equal(a->args[2], "");
    assert_string_equal(a->args[3], "~");
    assert_int_equal(a->n_env, 3);
    assert_string_equal(a->env[0], "GREETING=hello");
    assert_string_equal(a->env[1], "EMPTY=");
    assert_string_equal(a->env[2], "_X1=42");
    assert_int_equal(a->n_grants, 2);
    const struct kos_mf_grant *g = &a->grants[0];
    assert_string_equal(g->server, "msg0");
    assert_ptr_equal(g->server, m->servers[0].name);
    assert_int_equal(g->n_publish, 2);
    assert_string_equal(g->publish[0], "ping_protocol");
    assert_string_equal(g->publish[1], "other.proto");
    assert_int_equal(g->n_request, 1);
    assert_string_equal(g->request[0], "kos_log_protocol");
    assert_int_equal(g->pos.line, 16);
    assert_int_equal(g->pos.col, 7);
    assert_string_equal(a->grants[1].server, "msg1");
    assert_int_equal(a->grants[1].n_publish, 0);
    assert_int_equal(a->grants[1].n_request, 0);
    assert_int_equal(a->pos.line, 7);

    const struct kos_mf_app *p = &m->apps[1];
    assert_string_equal(p->name, "ping");
    assert_int_equal(p->restart, KOS_CM_RESTART_TEMPORARY);
    assert_false(p->ends_system);
    assert_int_equal(p->pos.line, 20);
    kos_manifest_destroy(m);
}

static void test_memory_units(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } cases[] = {
        {"1", 1},
        {"4096", 4096},
        {"512B", 512},
        {"64KiB", 64u << 10},
        {"8MiB", 8u << 20},
        {"8 MiB", 8u << 20},
        {"2GiB", 2ull << 30},
        {"3TiB", 3ull << 40},
        {"5kB", 5000},
        {"3MB", 3000000},
        {"1GB", 1000000000},
        {"2TB", 2000000000000ull},
        {"\"16MiB\"", 16u << 20},
        {"18446744073709551615", UINT64_MAX},
        {"16777215TiB", 16777215ull << 40},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "system: s\napps:\n  a: {memory: %s}\n", cases[i].text);
        struct kos_manifest *m = load_ok(text);
        assert_int_equal(m->apps[0].memory, cases[i].bytes);
        kos_manifest_destroy(m);
    }
    static const char *const bad[] = {"0",
                                      "0MiB",
                                      "-1",
                                      "1.5MiB",
                                      "MiB",
                                      "1 ",
                                      "1kib",
                                      "1K",
                                      "1M",
                                      "1 MiB x",
                                      "0x10",
                                      "1_000",
                                      "1e6",
                                      "16777216TiB",
                                      "18446744073709551616",
                                      "1Mi",
                                      "1 B B",
                                      "1\tB",
                                      "99999999999999GB"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "system: s\napps:\n  a: {memory: \"%s\"}\n", bad[i]);
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        assert_int_equal(kos_manifest_parse("x", text, strlen(text), &opts, &m, &err),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_int_equal(err.line, 3);
        assert_int_equal(err.col, 15);
        assert_non_null(strstr(err.msg, "memory"));
    }
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint32_t ms;
    } cases[] = {
        {"1ms", 1},
        {"500ms", 500},
        {"10s", 10000},
        {"2m", 120000},
        {"1h", 3600000},
        {"4294967295ms", 4294967295u},
        {"1193h", 1193u * 3600000u},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "system: s\napps:\n  a: {restart_limit: {period: %s}}\n",
                 cases[i].text);
        struct kos_manifest *m = load_ok(text);
        assert_int_equal(m->apps[0].restart_period_ms, cases[i].ms);
        assert_int_equal(m->apps[0].restart_max, 5); /* untouched default */
        kos_manifest_destroy(m);
    }
    static const char *const bad[] = {"10",
                                      "0s",
                                      "s",
                                      "1.5s",
                                      "10 s",
                                      "1d",
                                      "-1s",
                                      "1S",
                                      "1194h",
                                      "4294967296ms",
                                      "99999999999999999999999s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "system: s\napps:\n  a: {restart_limit: {period: \"%s\"}}\n",
                 bad[i]);
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        assert_int_equal(kos_manifest_parse("x", text, strlen(text), &opts, &m, &err),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_non_null(strstr(err.msg, "restart_limit.period"));
    }
    load_bad("system: s\napps:\n  a: {restart_limit: {max: 1001}}\n", 3, 28,
             "invalid restart_limit.max '1001' for app 'a'; write a whole number from 0 to 1000");
    struct kos_manifest *m = load_ok("system: s\napps:\n  a: {restart_limit: {max: 1000}}\n");
    assert_int_equal(m->apps[0].restart_max, 1000);
    assert_int_equal(m->apps[0].restart_period_ms, 10000);
    kos_manifest_destroy(m);
}

static void test_extensions(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: cam_sys\n"                           /* 1 */
                                     "base: minimal\n"                             /* 2 */
                                     "profile: development\n"                      /* 3 */
                                     "isolation: best_effort\n"                    /* 4 */
                                     "memory_regions:\n"                           /* 5 */
                                     "  frame: {size: 64KiB}\n"                    /* 6 */
                                     "  stats: {size: 8192}\n"                     /* 7 */
                                     "apps:\n"                                     /* 8 */
                                     "  cam:\n"                                    /* 9 */
                                     "    data_dir: true\n"                        /* 10 */
                                     "    limits: {processes: 4, files: 64}\n"     /* 11 */
                                     "    devices:\n"                              /* 12 */
                                     "      bus: {path: /dev/i2c-1, access: rw}\n" /* 13 */
                                     "      led: {path: /dev/leds/0, access: w}\n" /* 14 */
                                     "    memory_regions:\n"                       /* 15 */
                                     "      out: {region: frame, access: rw}\n"    /* 16 */
                                     "      st: {region: stats, access: r}\n"      /* 17 */
                                     "    debug: true\n"                           /* 18 */
                                     "    config: {ring_size: 1024, label: \"a b\", e: \"\"}\n"
                                     "    env: {TOKEN_FILE: /data/t}\n" /* 20 */
                                     "    waive:\n"                     /* 21 */
                                     "      KOS-A011: \"  a lab camera with a debug console  \"\n"
                                     "    protocols: {msg0: {publish: [p1, p2], request: [q]}}\n"
                                     "  plain: {}\n"); /* 24 */
    assert_int_equal(m->profile, KOS_MF_PROFILE_DEVELOPMENT);
    assert_int_equal(m->profile_pos.line, 3);
    assert_int_equal(m->profile_pos.col, 10);
    assert_int_equal(m->isolation, KOS_MF_ISOLATION_BEST_EFFORT);
    assert_int_equal(m->isolation_pos.line, 4);
    assert_string_equal(m->file, "system.yaml");
    assert_int_equal(m->n_regions, 2);
    assert_string_equal(m->regions[0].name, "frame");
    assert_int_equal(m->regions[0].size, 64u << 10);
    assert_int_equal(m->regions[0].pos.line, 6);
    assert_int_equal(m->regions[0].pos.col, 3);
    assert_string_equal(m->regions[1].name, "stats");
    assert_int_equal(m->regions[1].size, 8192);

    const struct kos_mf_app *a = find_app(m, "cam");
    assert_false(a->from_layer);
    assert_true(a->data_dir);
    assert_int_equal(a->data_dir_pos.line, 10);
    assert_int_equal(a->max_procs, 4);
    assert_int_equal(a->max_files, 64);
    assert_int_equal(a->limits_pos.line, 11);
    assert_int_equal(a->n_devices, 2);
    assert_string_equal(a->devices[0].name, "bus");
    assert_string_equal(a->devices[0].path, "/dev/i2c-1");
    assert_int_equal(a->devices[0].access, KOS_CM_ACCESS_READ | KOS_CM_ACCESS_WRITE);
    assert_int_equal(a->devices[0].pos.line, 13);
    assert_int_equal(a->devices[0].pos.col, 7);
    assert_int_equal(a->devices[1].access, KOS_CM_ACCESS_WRITE);
    assert_int_equal(a->n_regions, 2);
    assert_string_equal(a->regions[0].name, "out");
    assert_string_equal(a->regions[0].region, "frame");
    assert_ptr_equal(a->regions[0].region, m->regions[0].name); /* resolved */
    assert_int_equal(a->regions[0].access, KOS_CM_ACCESS_READ | KOS_CM_ACCESS_WRITE);
    assert_int_equal(a->regions[1].access, KOS_CM_ACCESS_READ);
    assert_int_equal(a->regions[1].pos.line, 17);
    assert_true(a->debug);
    assert_int_equal(a->debug_pos.line, 18);
    assert_int_equal(a->debug_pos.col, 12);
    assert_int_equal(a->n_config, 3);
    assert_string_equal(a->config[0].key, "ring_size");
    assert_string_equal(a->config[0].value, "1024");
    assert_string_equal(a->config[1].value, "a b");
    assert_string_equal(a->config[2].value, "");
    assert_int_equal(a->config[0].pos.line, 19);
    assert_int_equal(a->config[0].pos.col, 14);
    assert_int_equal(a->env_pos[0].line, 20);
    assert_int_equal(a->env_pos[0].col, 11);
    assert_int_equal(a->n_waivers, 1);
    assert_string_equal(a->waivers[0].rule, "KOS-A011");
    assert_string_equal(a->waivers[0].reason, "  a lab camera with a debug console  ");
    assert_int_equal(a->waivers[0].pos.line, 22);
    assert_int_equal(a->waivers[0].pos.col, 7);
    assert_int_equal(a->grants[0].publish_pos[1].line, 23);
    assert_int_equal(a->grants[0].publish_pos[1].col, 38);
    assert_int_equal(a->grants[0].request_pos[0].col, 53);

    /* Defaults. */
    const struct kos_mf_app *p = find_app(m, "plain");
    assert_false(p->data_dir);
    assert_false(p->debug);
    assert_int_equal(p->max_procs, 0);
    assert_int_equal(p->max_files, 0);
    assert_int_equal(p->n_devices + p->n_regions + p->n_config + p->n_waivers, 0);
    assert_int_equal(p->memory_pos.line, 24); /* not written: the app's position */
    assert_int_equal(p->debug_pos.line, 24);

    /* Compiled: flags, limits, resources in order (devices, then regions)
     * and config as key=value. */
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(kos_manifest_compile(m, NULL, &buf, &len), KOS_STATUS_OK);
    struct kos_cm cm;
    char err[256];
    assert_int_equal(kos_cm_open(&cm, buf, len, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(cm.hdr->flags, KOS_CM_ISOLATION_BEST_EFFORT | KOS_CM_PROFILE_DEVELOPMENT);
    assert_int_equal(kos_cm_nregions(&cm), 2);
    assert_string_equal(kos_cm_str(&cm, kos_cm_region(&cm, 1)->name), "stats");
    assert_int_equal(kos_cm_region(&cm, 1)->size, 8192);
    const struct kos_cm_proc *cp = kos_cm_proc(&cm, (uint32_t)kos_cm_find(&cm, "cam"));
    assert_int_equal(cp->flags, KOS_CM_PROC_DATA_DIR | KOS_CM_PROC_DEBUG);
    assert_int_equal(cp->max_procs, 4);
    assert_int_equal(cp->max_files, 64);
    assert_int_equal(cp->n_res, 4);
    static const char *const rnames[] = {"bus", "led", "out", "st"};
    for (uint32_t i = 0; i < 4; i++) {
        const struct kos_cm_res *r = kos_cm_res(&cm, cp->res_first + i);
        assert_string_equal(kos_cm_str(&cm, r->name), rnames[i]);
        assert_int_equal(r->kind, i < 2 ? KOS_CM_RES_DEVICE : KOS_CM_RES_REGION);
    }
    assert_string_equal(kos_cm_str(&cm, kos_cm_res(&cm, cp->res_first)->target), "/dev/i2c-1");
    assert_int_equal(kos_cm_res(&cm, cp->res_first + 3)->target, 1);
    assert_int_equal(kos_cm_res(&cm, cp->res_first + 3)->access, KOS_CM_ACCESS_READ);
    assert_int_equal(cp->n_config, 3);
    assert_string_equal(kos_cm_strref(&cm, cp->config_first), "ring_size=1024");
    assert_string_equal(kos_cm_strref(&cm, cp->config_first + 1), "label=a b");
    assert_string_equal(kos_cm_strref(&cm, cp->config_first + 2), "e=");
    free(buf);
    kos_manifest_destroy(m);

    m = load_ok("system: s\napps: {a: {}}\n");
    assert_int_equal(m->profile, KOS_MF_PROFILE_RELEASE);
    assert_int_equal(m->isolation, KOS_MF_ISOLATION_STRICT);
    assert_int_equal(m->n_regions, 0);
    kos_manifest_destroy(m);
}

static void test_layer_extensions(void **state)
{
    (void)state;
    /* Regions merge by name; an app of the layer keeps its regions and gets
     * the manifest's merged in; entries remember whether the layer declared
     * them. */
    struct kos_manifest *m = load_ok("system: s\n"               /* 1 */
                                     "base: shared_mem\n"        /* 2 */
                                     "memory_regions:\n"         /* 3 */
                                     "  frame: {size: 128KiB}\n" /* 4 */
                                     "  scratch: ~\n"            /* 5 */
                                     "  stats: {size: 4KiB}\n"   /* 6 */
                                     "apps:\n"                   /* 7 */
                                     "  producer:\n"             /* 8 */
                                     "    memory_regions:\n"     /* 9 */
                                     "      counters: {region: stats, access: rw}\n"
                                     "  consumer: {memory: 4MiB}\n");
    assert_int_equal(m->n_regions, 2);
    assert_string_equal(m->regions[0].name, "frame");
    assert_int_equal(m->regions[0].size, 128u << 10);
    assert_string_equal(m->regions[1].name, "stats");
    const struct kos_mf_app *p = find_app(m, "producer");
    assert_true(p->from_layer);
    assert_int_equal(p->memory, 4u << 20);
    assert_int_equal(p->n_regions, 2);
    assert_string_equal(p->regions[0].name, "out");
    assert_non_null(strstr(p->regions[0].pos.file, "shared_mem.yaml"));
    assert_string_equal(p->regions[1].name, "counters");
    assert_string_equal(p->regions[1].pos.file, "system.yaml");
    assert_false(find_app(m, "consumer")->from_layer);
    kos_manifest_destroy(m);

    /* A layer's app not mentioned by the manifest is the layer's too. */
    m = load_ok("system: s\nbase: services\napps:\n  main: {}\n");
    assert_true(find_app(m, "logger")->from_layer);
    assert_true(find_app(m, "rng")->from_layer);
    assert_false(find_app(m, "main")->from_layer);
    kos_manifest_destroy(m);
}

static void test_network_host(void **state)
{
    (void)state;
    /* The layer's ethernet keeps the host's network; nobody else has it. */
    struct kos_manifest *m = load_ok("system: s\nbase: network\napps:\n  client: {}\n");
    const struct kos_mf_app *e = find_app(m, "ethernet");
    assert_true(e->network_host);
    assert_non_null(strstr(e->network_pos.file, "network.yaml"));
    assert_int_equal(e->network_pos.line, 9);
    assert_false(find_app(m, "client")->network_host);
    /* It is compiled as a flag of that app alone. */
    void *buf = NULL;
    size_t len = 0;
    struct kos_cm cm;
    assert_int_equal(kos_manifest_compile(m, NULL, &buf, &len), KOS_STATUS_OK);
    assert_int_equal(kos_cm_open(&cm, buf, len, NULL, 0), KOS_STATUS_OK);
    for (uint32_t i = 0; i < kos_cm_nprocs(&cm); i++) {
        const struct kos_cm_proc *p = kos_cm_proc(&cm, i);
        bool eth = strcmp(kos_cm_str(&cm, p->name), "ethernet") == 0;
        assert_int_equal((p->flags & KOS_CM_PROC_NET_HOST) != 0, eth);
    }
    free(buf);
    kos_manifest_destroy(m);

    /* The manifest may take it away. */
    m = load_ok("system: s\nbase: network\napps:\n  ethernet: {network: none}\n");
    e = find_app(m, "ethernet");
    assert_false(e->network_host);
    assert_string_equal(e->network_pos.file, "system.yaml");
    kos_manifest_destroy(m);
}

static void test_base_minimal(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: ping_pong\n"
                                     "base: minimal\n"
                                     "apps:\n"
                                     "  pong:\n"
                                     "    protocols: {msg0: {publish: [ping_protocol]}}\n");
    assert_string_equal(m->base, "minimal");
    assert_int_equal(m->n_servers, 1);
    assert_string_equal(m->servers[0].name, "msg0");
    assert_string_equal(m->servers[0].binary, "msg_server");
    /* The server's position is in the layer file. */
    const char *file = m->servers[0].pos.file;
    assert_non_null(strstr(file, "minimal.yaml"));
    assert_string_equal(file + strlen(file) - strlen("layers/minimal.yaml"), "layers/minimal.yaml");
    assert_true(m->servers[0].pos.line > 1);
    assert_int_equal(m->servers[0].pos.col, 3);
    assert_int_equal(m->n_apps, 1);
    assert_string_equal(m->apps[0].grants[0].server, "msg0");
    kos_manifest_destroy(m);
}

static void test_layer_override(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: big\n"                   /* 1 */
                                     "base: services\n"                /* 2 */
                                     "message_servers:\n"              /* 3 */
                                     "  msg0: {binary: fast_server}\n" /* 4 */
                                     "  msg9: {}\n"                    /* 5 */
                                     "apps:\n"                         /* 6 */
                                     "  logger:\n"                     /* 7 */
                                     "    memory: 16MiB\n"             /* 8 */
                                     "    restart_limit: {max: 2}\n"   /* 9 */
                                     "    args: [--quiet]\n"           /* 10 */
                                     "    env: {LOG_LEVEL: debug, NEW: x}\n"
                                     "    protocols:\n" /* 12 */
                                     "      msg0: {request: [kos_rng_protocol]}\n"
                                     "  main:\n" /* 14 */
                                     "    protocols: {msg9: {request: [kos_log_protocol]}}\n");
    assert_string_equal(m->base, "services");
    /* Layer entries first, in the layer's order, then the manifest's new ones. */
    assert_int_equal(m->n_servers, 3);
    assert_string_equal(m->servers[0].name, "msg0");
    assert_string_equal(m->servers[0].binary, "fast_server");
    assert_string_equal(m->servers[0].pos.file, "system.yaml");
    assert_int_equal(m->servers[0].pos.line, 4);
    assert_string_equal(m->servers[1].name, "msg_sys");
    assert_string_equal(m->servers[1].binary, "msg_server");
    assert_non_null(strstr(m->servers[1].pos.file, "services.yaml"));
    assert_string_equal(m->servers[2].name, "msg9");

    assert_int_equal(m->n_apps, 3);
    assert_string_equal(m->apps[0].name, "logger");
    assert_string_equal(m->apps[1].name, "rng");
    assert_string_equal(m->apps[2].name, "main");
    const struct kos_mf_app *l = find_app(m, "logger");
    assert_int_equal(l->pos.line, 7); /* overridden: the manifest's key */
    assert_string_equal(l->pos.file, "system.yaml");
    assert_string_equal(l->binary, "log_server");  /* kept from the layer */
    assert_int_equal(l->memory, 16u << 20);        /* replaced */
    assert_int_equal(l->restart_max, 2);           /* merged into restart_limit */
    assert_int_equal(l->restart_period_ms, 60000); /* kept from the layer */
    assert_int_equal(l->n_args, 1);                /* sequences replace */
    assert_string_equal(l->args[0], "--quiet");
    assert_int_equal(l->n_env, 3); /* mappings merge */
    assert_string_equal(l->env[0], "LOG_LEVEL=debug");
    assert_string_equal(l->env[1], "LOG_RING=256");
    assert_string_equal(l->env[2], "NEW=x");
    assert_int_equal(l->n_grants, 2);
    assert_string_equal(l->grants[0].server, "msg0");
    assert_int_equal(l->grants[0].n_publish, 1); /* kept */
    assert_string_equal(l->grants[0].publish[0], "kos_log_protocol");
    assert_int_equal(l->grants[0].n_request, 1); /* added */
    assert_string_equal(l->grants[0].request[0], "kos_rng_protocol");
    assert_int_equal(l->grants[0].pos.line, 13);
    assert_string_equal(l->grants[1].server, "msg_sys");
    assert_non_null(strstr(l->grants[1].pos.file, "services.yaml"));

    const struct kos_mf_app *r = find_app(m, "rng");
    assert_non_null(strstr(r->pos.file, "services.yaml"));
    assert_string_equal(r->binary, "rng_server");
    kos_manifest_destroy(m);
}

static void test_layer_removal(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: small\n"
                                     "base: services\n"
                                     "message_servers:\n"
                                     "  msg_sys: ~\n"
                                     "apps:\n"
                                     "  logger: ~\n"
                                     "  rng: null\n"
                                     "  main: {protocols: {msg0: {request: [x]}}}\n");
    assert_int_equal(m->n_servers, 1);
    assert_string_equal(m->servers[0].name, "msg0");
    assert_int_equal(m->n_apps, 1);
    assert_string_equal(m->apps[0].name, "main");
    kos_manifest_destroy(m);

    /* Removing every app the layer has and adding none leaves no apps. */
    load_bad("system: s\nbase: services\napps:\n  logger: ~\n  rng:\n", 3, 1,
             "the system has no apps");
    /* Removing what the layer does not have. */
    load_bad("system: s\nbase: services\napps:\n  nothere: ~\n", 4, 3,
             "cannot remove app 'nothere': base layer 'services' has no app of that name; its "
             "apps: logger, rng");
    /* Removing a server an app of the layer still uses: the error points
     * at the layer's use of it. */
    const char t[] = "system: s\nbase: services\nmessage_servers: {msg_sys: ~}\n";
    struct kos_mf_error err;
    assert_int_equal(kos_manifest_parse("system.yaml", t, sizeof(t) - 1, &opts, &m, &err),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.file, "services.yaml"));
    assert_string_equal(err.msg, "app 'logger' uses message server 'msg_sys', which is not "
                                 "declared; declared message servers: msg0");
}

/* A layer's optional apps are part of a system only when its manifest names
 * them; `~` leaves one out whether the layer makes it optional or not. */
static void test_layer_optional(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: s\n"
                                     "base: optional\n"
                                     "apps:\n"
                                     "  sensor: {}\n");
    assert_int_equal(m->n_apps, 3); /* keys, admin (optional: false), sensor */
    assert_string_equal(m->apps[0].name, "keys");
    assert_true(m->apps[0].device_keys);
    assert_false(m->apps[0].reports_self_test);
    assert_string_equal(m->apps[1].name, "admin");
    assert_true(m->apps[1].reports_self_test);
    assert_string_equal(m->apps[2].name, "sensor");
    assert_false(m->apps[2].device_keys);
    kos_manifest_destroy(m);

    /* Named: the layer's entry, merged, in the layer's order. */
    m = load_ok("system: s\n"
                "base: optional\n"
                "apps:\n"
                "  sensor: {}\n"
                "  tunnel: {memory: 16MiB}\n");
    assert_int_equal(m->n_apps, 4);
    assert_string_equal(m->apps[1].name, "tunnel");
    assert_int_equal(m->apps[1].memory, 16u << 20);
    assert_true(m->apps[1].from_layer);
    assert_int_equal(m->apps[1].n_grants, 1);
    assert_int_equal(m->apps[1].grants[0].n_publish, 1);
    kos_manifest_destroy(m);

    m = load_ok("system: s\n"
                "base: optional\n"
                "apps:\n"
                "  tunnel: {}\n"
                "  sensor: {}\n");
    assert_int_equal(m->n_apps, 4);
    assert_int_equal(find_app(m, "tunnel")->memory, 8u << 20);
    kos_manifest_destroy(m);

    /* Left out explicitly: valid for an optional app and for a plain one. */
    m = load_ok("system: s\n"
                "base: optional\n"
                "apps:\n"
                "  tunnel: ~\n"
                "  admin: ~\n"
                "  sensor: {}\n");
    assert_int_equal(m->n_apps, 2);
    assert_string_equal(m->apps[0].name, "keys");
    assert_string_equal(m->apps[1].name, "sensor");
    kos_manifest_destroy(m);

    /* A manifest without an apps: section gets the layer's plain apps. */
    m = load_ok("system: s\n"
                "base: optional\n");
    assert_int_equal(m->n_apps, 2);
    kos_manifest_destroy(m);

    load_bad("system: s\n"
             "apps:\n"
             "  a: {optional: true}\n",
             3, 7, "'optional' is for a base layer's apps");
    load_bad("system: s\n"
             "base: optional\n"
             "apps:\n"
             "  tunnel: {optional: false}\n",
             4, 12, "'optional' is for a base layer's apps");
    load_bad("system: s\n"
             "base: optional\n"
             "apps:\n"
             "  vpn: ~\n",
             4, 3,
             "cannot remove app 'vpn': base layer 'optional' has no app of that name; "
             "its apps: keys, tunnel, admin");

    struct kos_manifest *bad = NULL;
    struct kos_mf_error err;
    const char *text = "system: s\nbase: optional_bad\napps: {a: {}}\n";
    assert_int_equal(kos_manifest_parse("system.yaml", text, strlen(text), &opts, &bad, &err),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.file, "optional_bad.yaml"));
    assert_int_equal(err.line, 4);
    assert_int_equal(err.col, 15);
    assert_non_null(strstr(err.msg, "invalid value 'yes' for optional of app 'tunnel'"));
}

/* device_keys, reports_self_test and manages_system: booleans, one app
 * each, compiled into the process flags. */
static void test_core_privileges(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: s\n"
                                     "apps:\n"
                                     "  ks: {device_keys: true}\n"
                                     "  st: {reports_self_test: True}\n"
                                     "  other: {device_keys: false, reports_self_test: false}\n"
                                     "  mgr: {manages_system: true}\n");
    void *buf;
    size_t len;
    uint8_t sha[5][32] = {{0}};
    struct kos_cm cm;
    char err[256];

    assert_true(find_app(m, "ks")->device_keys);
    assert_true(find_app(m, "st")->reports_self_test);
    assert_false(find_app(m, "other")->device_keys);
    assert_int_equal(kos_manifest_compile(m, sha, &buf, &len), KOS_STATUS_OK);
    assert_int_equal(kos_cm_open(&cm, buf, len, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(kos_cm_proc(&cm, 0)->flags, KOS_CM_PROC_DEVICE_KEYS);
    assert_int_equal(kos_cm_proc(&cm, 1)->flags, KOS_CM_PROC_SELF_TEST);
    assert_int_equal(kos_cm_proc(&cm, 2)->flags, 0);
    assert_int_equal(kos_cm_proc(&cm, 3)->flags, KOS_CM_PROC_MANAGES_SYSTEM);
    assert_true(find_app(m, "mgr")->manages_system);
    assert_false(find_app(m, "other")->manages_system);
    free(buf);
    kos_manifest_destroy(m);

    load_bad("system: s\n"
             "apps:\n"
             "  a: {device_keys: true}\n"
             "  b: {device_keys: true}\n",
             4, 20, "apps 'a' and 'b' both have device_keys: true");
    load_bad("system: s\n"
             "apps:\n"
             "  a: {reports_self_test: true}\n"
             "  b: {reports_self_test: true}\n",
             4, 26, "apps 'a' and 'b' both have reports_self_test: true");
    load_bad("system: s\n"
             "apps:\n"
             "  a: {manages_system: true}\n"
             "  b: {manages_system: true}\n",
             4, 23, "apps 'a' and 'b' both have manages_system: true; one app manages the system");
    load_bad("system: s\n"
             "apps:\n"
             "  a: {manages_system: 1}\n",
             3, 23, "invalid value '1' for manages_system of app 'a'");
    load_bad("system: s\n"
             "apps:\n"
             "  a: {device_keys: yes}\n",
             3, 20, "invalid value 'yes' for device_keys of app 'a'");
}

static void test_minimal_remove_msg0(void **state)
{
    (void)state;
    struct kos_manifest *m = load_ok("system: s\n"
                                     "base: minimal\n"
                                     "message_servers: {msg0: ~, own: {}}\n"
                                     "apps: {a: {protocols: {own: {publish: [p]}}}}\n");
    assert_int_equal(m->n_servers, 1);
    assert_string_equal(m->servers[0].name, "own");
    kos_manifest_destroy(m);
}

static void test_errors_positions(void **state)
{
    (void)state;
    load_bad("system: s\napps:\n  a:\n    memroy: 1\n", 4, 5,
             "unknown key 'memroy' in app 'a'; valid keys: binary, memory, restart, "
             "restart_limit, ends_system, args, env, protocols");
    load_bad("system: s\napps:\n  a: {restart: always}\n", 3, 16,
             "invalid restart policy 'always' for app 'a'; valid values: permanent, transient, "
             "temporary");
    load_bad("apps: {a: {}}\n", 1, 1, "missing key 'system'");
    load_bad("system: s\napps: {a: {}, a: {}}\n", 2, 15, "duplicate key 'a'");
    load_bad("system: s\napps: [a]\n", 2, 7, "expected a mapping for apps, found a sequence");
    load_bad("system: s\napps:\n  a: {args: [[x]]}\n", 3, 14,
             "expected a scalar for argument 1 of app 'a', found a sequence");
    load_bad("system: s\n\tapps: {}\n", 2, 1, "YAML syntax error:");
}

static void test_io_errors(void **state)
{
    (void)state;
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    kos_status_t st = kos_manifest_load("/nonexistent/dir/system.yaml", &opts, &m, &err);
    assert_int_equal(st, KOS_STATUS_IO);
    assert_null(m);
    assert_string_equal(err.file, "/nonexistent/dir/system.yaml");
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/system.yaml"));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    char buf[1200];
    kos_mf_error_format(&err, buf, sizeof(buf));
    assert_memory_equal(buf, "/nonexistent/dir/system.yaml: cannot read manifest",
                        strlen("/nonexistent/dir/system.yaml: cannot read manifest"));

    /* A directory is not a manifest. */
    st = kos_manifest_load("/", &opts, &m, &err);
    assert_int_equal(st, KOS_STATUS_IO);
    assert_non_null(strstr(err.msg, "Is a directory"));

    /* A real file loads; positions name its path. */
    char path[] = "/tmp/kos_test_manifest_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "system: f\nbase: minimal\napps:\n  app1: {}\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    st = kos_manifest_load(path, &opts, &m, &err);
    unlink(path);
    assert_int_equal(st, KOS_STATUS_OK);
    assert_string_equal(m->apps[0].pos.file, path);
    assert_int_equal(m->apps[0].pos.line, 4);
    kos_manifest_destroy(m);
}

static void test_error_format(void **state)
{
    (void)state;
    struct kos_mf_error e = {.file = "a.yaml", .line = 3, .col = 7, .msg = "bad thing"};
    char buf[64];
    kos_mf_error_format(&e, buf, sizeof(buf));
    assert_string_equal(buf, "a.yaml:3:7: bad thing");
    e.line = 0;
    kos_mf_error_format(&e, buf, sizeof(buf));
    assert_string_equal(buf, "a.yaml: bad thing");
    char small[8];
    e.line = 3;
    kos_mf_error_format(&e, small, sizeof(small));
    assert_string_equal(small, "a.yaml:");
    kos_mf_error_format(&e, small, 0); /* writes nothing */
    kos_manifest_destroy(NULL);
}

static void test_api_edges(void **state)
{
    (void)state;
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    /* No error struct: still refused, nothing written. */
    assert_int_equal(kos_manifest_parse("x", "apps: {}", 8, &opts, &m, NULL),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_null(m);
    /* Empty text, NULL text. */
    assert_int_equal(kos_manifest_parse("x", NULL, 0, &opts, &m, &err),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_string_equal(err.file, "x");
    assert_memory_equal(err.msg, "the manifest is empty", 21);
    assert_int_equal(kos_manifest_parse(NULL, "", 0, &opts, &m, &err), KOS_STATUS_INVALID_ARGUMENT);
    /* No layer folders: a base cannot be found. */
    const char t[] = "system: s\nbase: minimal\napps: {a: {}}\n";
    assert_int_equal(kos_manifest_parse("x", t, sizeof(t) - 1, NULL, &m, &err),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "available layers: none"));
    /* The text need not be NUL-terminated: only len bytes are read. */
    const char u[] = "system: s\napps: {a: {}}\nXXXX";
    assert_int_equal(kos_manifest_parse("x", u, sizeof(u) - 5, &opts, &m, &err), KOS_STATUS_OK);
    kos_manifest_destroy(m);
}

static void test_limits(void **state)
{
    (void)state;
    size_t cap = 1u << 20;
    char *t = malloc(cap);
    assert_non_null(t);

    /* 1024 processes is the most: 1 server from the layer + 1023 apps. */
    for (int extra = 0; extra <= 1; extra++) {
        size_t o = (size_t)snprintf(t, cap, "system: s\nbase: minimal\napps:\n");
        for (int i = 0; i < 1023 + extra; i++)
            o += (size_t)snprintf(t + o, cap - o, "  app%d: {}\n", i);
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        kos_status_t st = kos_manifest_parse("x", t, o, &opts, &m, &err);
        if (extra == 0) {
            assert_int_equal(st, KOS_STATUS_OK);
            assert_int_equal(m->n_apps, 1023);
            void *buf = NULL;
            size_t len = 0;
            assert_int_equal(kos_manifest_compile(m, NULL, &buf, &len), KOS_STATUS_OK);
            free(buf);
            kos_manifest_destroy(m);
        } else {
            assert_int_equal(st, KOS_STATUS_INVALID_ARGUMENT);
            assert_int_equal(err.line, 4 + 1023);
            assert_memory_equal(err.msg, "too many processes", 18);
        }
    }

    /* 256 arguments, each of 4096 bytes, is the most. */
    for (int extra = 0; extra <= 1; extra++) {
        size_t o = (size_t)snprintf(t, cap, "system: s\napps:\n  a:\n    args:\n");
        for (int i = 0; i < 256 + extra; i++)
            o += (size_t)snprintf(t + o, cap - o, "    - a%d\n", i);
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        kos_status_t st = kos_manifest_parse("x", t, o, &opts, &m, &err);
        assert_int_equal(st, extra ? KOS_STATUS_INVALID_ARGUMENT : KOS_STATUS_OK);
        if (extra)
            assert_memory_equal(err.msg, "app 'a' has 257 arguments", 25);
        kos_manifest_destroy(m);
    }
    for (int extra = 0; extra <= 1; extra++) {
        size_t o = (size_t)snprintf(t, cap, "system: s\napps:\n  a:\n    args: [");
        memset(t + o, 'x', 4096 + (size_t)extra);
        o += 4096 + (size_t)extra;
        o += (size_t)snprintf(t + o, cap - o, "]\n    env: {K: \"");
        memset(t + o, 'y', 4096);
        o += 4096;
        o += (size_t)snprintf(t + o, cap - o, "\"}\n");
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        kos_status_t st = kos_manifest_parse("x", t, o, &opts, &m, &err);
        assert_int_equal(st, extra ? KOS_STATUS_INVALID_ARGUMENT : KOS_STATUS_OK);
        if (extra)
            assert_memory_equal(err.msg, "argument 1 of app 'a' is 4097 bytes long", 40);
        else
            assert_int_equal(strlen(m->apps[0].env[0]), 2 + 4096);
        kos_manifest_destroy(m);
    }

    /* Deep nesting is refused, not recursed into. */
    {
        size_t o = (size_t)snprintf(t, cap, "system: s\napps: {a: {args: ");
        for (int i = 0; i < 100000; i++)
            t[o++] = '[';
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        assert_int_equal(kos_manifest_parse("x", t, o, &opts, &m, &err),
                         KOS_STATUS_INVALID_ARGUMENT);
        assert_memory_equal(err.msg, "nesting is too deep", 19);
    }

    /* A file over 1 MiB is refused before it is parsed. */
    memset(t, '#', cap); /* exactly 1 MiB: read, and found empty */
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    assert_int_equal(kos_manifest_parse("x", t, cap, &opts, &m, &err), KOS_STATUS_INVALID_ARGUMENT);
    assert_memory_equal(err.msg, "the manifest is empty", 21);
    free(t);
    char *big = calloc(1, cap + 2);
    assert_non_null(big);
    memset(big, '#', cap + 1);
    assert_int_equal(kos_manifest_parse("x", big, cap + 1, &opts, &m, &err),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.msg, "larger than"));
    free(big);
}

/* A manifest using every feature, mutated below. */
static const char full[] = "system: ping_pong\n"
                           "base: services\n"
                           "signing: disabled\n"
                           "message_servers:\n"
                           "  msg1: {binary: msg_server}\n"
                           "  msg_sys: ~\n"
                           "apps:\n"
                           "  logger: {memory: 1MiB, env: {A: b}}\n"
                           "  rng: ~\n"
                           "  pong:\n"
                           "    binary: pong\n"
                           "    memory: 8MiB\n"
                           "    restart: permanent\n"
                           "    restart_limit: {max: 5, period: 10s}\n"
                           "    ends_system: false\n"
                           "    args: [--count, \"5\"]\n"
                           "    env: {GREETING: hello}\n"
                           "    protocols:\n"
                           "      msg0:\n"
                           "        publish: [ping_protocol]\n"
                           "        request: [kos_log_protocol]\n"
                           "      msg1: {request: [x]}\n"
                           "    data_dir: true\n"
                           "    limits: {processes: 4, files: 64}\n"
                           "    devices: {bus: {path: /dev/i2c-1, access: rw}}\n"
                           "    memory_regions: {f: {region: frame, access: r}}\n"
                           "    debug: false\n"
                           "    config: {ring: 16}\n"
                           "    waive: {KOS-A008: \"twenty characters or more\"}\n"
                           "memory_regions: {frame: {size: 4KiB}}\n"
                           "profile: release\n"
                           "isolation: strict\n";

/* Parses text; whatever happens, the result is consistent. */
static void parse_any(const char *text, size_t len)
{
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    kos_status_t st = kos_manifest_parse("fuzz.yaml", text, len, &opts, &m, &err);
    if (st == KOS_STATUS_OK) {
        assert_non_null(m);
        assert_true(m->n_apps >= 1);
        void *buf = NULL;
        size_t blen = 0;
        assert_int_equal(kos_manifest_compile(m, NULL, &buf, &blen), KOS_STATUS_OK);
        free(buf);
        kos_manifest_destroy(m);
    } else {
        assert_null(m);
        assert_true(err.msg[0] != '\0');
        assert_true(err.line >= 0 && err.col >= 0);
    }
}

static void test_no_crash(void **state)
{
    (void)state;
    size_t n = sizeof(full) - 1;
    parse_any(full, n);
    char *buf = malloc(n);
    assert_non_null(buf);
    for (size_t len = 0; len < n; len++) {
        /* Copy exactly len bytes so ASan sees any read past them. */
        char *p = malloc(len ? len : 1);
        assert_non_null(p);
        memcpy(p, full, len);
        parse_any(p, len);
        free(p);
    }
    static const char subst[] = {'\0', '\n', ' ', ':',  '-', '[',  '{',        '~', '&',
                                 '*',  '!',  '"', '\'', '#', '\t', (char)0xff, 'x', '}'};
    for (size_t i = 0; i < n; i++) {
        for (size_t s = 0; s < sizeof(subst); s++) {
            memcpy(buf, full, n);
            buf[i] = subst[s];
            parse_any(buf, n);
        }
    }
    free(buf);
}

/* The reader's name rule is libkos's: a name the manifest accepts is one the
 * boot records accept, and the reverse. */
static void test_name_rule_matches_libkos(void **state)
{
    (void)state;
    static const char *const names[] = {
        "a",
        "A",
        "0",
        "msg0",
        "ping_protocol",
        "sensor.v2",
        "a-b",
        "a_",
        "a.",
        "_a",
        ".a",
        "-a",
        "",
        "a b",
        "a/b",
        "a:b",
        "\xc3\xa9",
        "a\x01",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len = strlen(names[i]);
        assert_int_equal(kos__mf_name_valid(names[i], len), kos__name_valid(names[i], len));
    }
    char s[2] = {0, 0};
    for (int ch = 0; ch < 256; ch++) {
        s[0] = (char)ch;
        assert_int_equal(kos__mf_name_valid(s, 1), kos__name_valid(s, 1));
        char t[3] = {'a', (char)ch, 0};
        assert_int_equal(kos__mf_name_valid(t, 2), kos__name_valid(t, 2));
    }
    assert_true(kos__mf_name_valid(names[18], 63));
    assert_false(kos__mf_name_valid(names[19], 64));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_full_app),
        cmocka_unit_test(test_memory_units),     cmocka_unit_test(test_durations),
        cmocka_unit_test(test_extensions),       cmocka_unit_test(test_layer_extensions),
        cmocka_unit_test(test_base_minimal),     cmocka_unit_test(test_layer_override),
        cmocka_unit_test(test_layer_removal),    cmocka_unit_test(test_layer_optional),
        cmocka_unit_test(test_core_privileges),  cmocka_unit_test(test_minimal_remove_msg0),
        cmocka_unit_test(test_errors_positions), cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_network_host),     cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_api_edges),        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_no_crash),         cmocka_unit_test(test_name_rule_matches_libkos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
