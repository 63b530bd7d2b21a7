/*
 * test_compiled.c - unit tests of the compiled manifest (manifest/compiled.h).
 *
 * A manifest compiled and opened again reads back field for field. Then a
 * valid buffer is corrupted every way the format can be wrong - truncated
 * at every length, every byte flipped, each header, process and grant field
 * set to a bad value, and likewise every resource, region and config entry -
 * and kos_cm_open() must refuse each corruption with a sentence naming the
 * offset, or, where the change is harmless (a digest, a
 * memory limit), accept it in a state every accessor can read in bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest.h"
#include "mf_int.h"

static const char *const layer_dirs[] = {KOS_LAYERS_DIR};
static const struct kos_mf_options opts = {layer_dirs, 1};

static const char text[] = "system: ping_pong\n"
                           "base: minimal\n"
                           "signing: disabled\n"
                           "memory_regions:\n"
                           "  frame: {size: 64KiB}\n"
                           "  stats: {size: 4KiB}\n"
                           "message_servers:\n"
                           "  msg1: {binary: other_server}\n"
                           "apps:\n"
                           "  pong:\n"
                           "    memory: 8MiB\n"
                           "    restart: transient\n"
                           "    restart_limit: {max: 3, period: 2s}\n"
                           "    restart_delay: {first: 50ms, max: 2s}\n"
                           "    ends_system: true\n"
                           "    args: [--count, \"5\"]\n"
                           "    env: {GREETING: hello, EMPTY: \"\"}\n"
                           "    protocols:\n"
                           "      msg0:\n"
                           "        publish: [ping_protocol]\n"
                           "        request: [kos_log_protocol]\n"
                           "      msg1: {request: [ping_protocol]}\n"
                           "    data_dir: true\n"
                           "    storage: 2MiB\n"
                           "    limits: {processes: 4, files: 64}\n"
                           "    devices: {bus: {path: /dev/i2c-1, access: rw}}\n"
                           "    memory_regions: {out: {region: frame, access: rw}}\n"
                           "    config: {ring: \"16\", remote_shell: disabled}\n"
                           "  ping:\n"
                           "    protocols: {msg0: {request: [ping_protocol]}}\n"
                           "    debug: true\n"
                           "    memory_regions:\n"
                           "      in: {region: frame, access: r}\n"
                           "      st: {region: stats, access: rw}\n";

/* The valid compiled buffer every test starts from. */
struct fixture {
    uint8_t *buf;
    size_t len;
};

static uint8_t digest[4][32];

#define HDR(field) offsetof(struct kos_cm_header, field)

static int setup(void **state)
{
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    if (kos_manifest_parse("system.yaml", text, sizeof(text) - 1, &opts, &m, &err) != 0) {
        print_error("%s:%d:%d: %s\n", err.file, err.line, err.col, err.msg);
        return -1;
    }
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < 32; i++)
            digest[p][i] = (uint8_t)(p * 32 + i);
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    void *buf = NULL;
    kos_status_t st = kos_manifest_compile(m, (const uint8_t(*)[32])digest, &buf, &f->len);
    kos_manifest_destroy(m);
    if (st != KOS_STATUS_OK) {
        free(f);
        return -1;
    }
    f->buf = buf;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->buf);
    free(f);
    return 0;
}

/* An 8-aligned copy of `n` bytes of `src`, allocated at exactly n bytes so
 * ASan sees any read past them. */
static uint8_t *copy(const uint8_t *src, size_t n)
{
    void *p = NULL;
    size_t alloc = n ? n : 1;
    assert_int_equal(posix_memalign(&p, 8, alloc), 0);
    if (n > 0)
        memcpy(p, src, n);
    return p;
}

/* Reads everything an accepted view offers, so a bad acceptance shows up as
 * an ASan error or a failed assertion. */
static void walk(const struct kos_cm *cm)
{
    uint32_t n = kos_cm_nprocs(cm);
    assert_true(n >= 1 && n <= KOS_CM_MAX_PROCS);
    size_t sum = strlen(kos_cm_str(cm, cm->hdr->system_name));
    for (uint32_t i = 0; i < n; i++) {
        const struct kos_cm_proc *p = kos_cm_proc(cm, i);
        sum += strlen(kos_cm_str(cm, p->name)) + strlen(kos_cm_str(cm, p->binary));
        for (uint32_t a = 0; a < p->n_args; a++)
            sum += strlen(kos_cm_strref(cm, p->args_first + a));
        for (uint32_t e = 0; e < p->n_env; e++)
            assert_non_null(strchr(kos_cm_strref(cm, p->env_first + e), '='));
        for (uint32_t g = 0; g < p->n_grants; g++) {
            const struct kos_cm_grant *gr = kos_cm_grant(cm, p->grants_first + g);
            assert_int_equal(kos_cm_proc(cm, gr->server)->role, KOS_CM_ROLE_MSG_SERVER);
            sum += strlen(kos_cm_str(cm, gr->protocol));
        }
        for (uint32_t c = 0; c < p->n_config; c++)
            assert_non_null(strchr(kos_cm_strref(cm, p->config_first + c), '='));
        for (uint32_t r = 0; r < p->n_res; r++) {
            const struct kos_cm_res *res = kos_cm_res(cm, p->res_first + r);
            sum += strlen(kos_cm_str(cm, res->name));
            assert_true(res->access >= 1 && res->access <= 3);
            if (res->kind == KOS_CM_RES_DEVICE) {
                assert_int_equal(kos_cm_str(cm, res->target)[0], '/');
            } else {
                assert_int_equal(res->kind, KOS_CM_RES_REGION);
                const struct kos_cm_region *g = kos_cm_region(cm, res->target);
                assert_true(g->size > 0 && g->size % 4096 == 0);
                sum += strlen(kos_cm_str(cm, g->name));
            }
        }
        assert_int_equal(kos_cm_find(cm, kos_cm_str(cm, p->name)), (int)i);
    }
    for (uint32_t i = 0; i < kos_cm_nregions(cm); i++)
        sum += strlen(kos_cm_str(cm, kos_cm_region(cm, i)->name));
    assert_true(sum > 0);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    struct kos_cm cm;
    char err[256];
    assert_int_equal((uintptr_t)f->buf % 8, 0);
    assert_int_equal(kos_cm_open(&cm, f->buf, f->len, err, sizeof(err)), KOS_STATUS_OK);
    assert_string_equal(err, "");
    assert_int_equal(cm.hdr->size, f->len);
    assert_true(kos_cm_signing_disabled(&cm));
    assert_string_equal(kos_cm_str(&cm, cm.hdr->system_name), "ping_pong");
    assert_int_equal(kos_cm_nprocs(&cm), 4);

    /* Message servers first (the layer's msg0, then msg1), then apps. */
    static const char *const names[] = {"msg0", "msg1", "pong", "ping"};
    static const char *const bins[] = {"msg_server", "other_server", "pong", "ping"};
    for (uint32_t i = 0; i < 4; i++) {
        const struct kos_cm_proc *p = kos_cm_proc(&cm, i);
        assert_string_equal(kos_cm_str(&cm, p->name), names[i]);
        assert_string_equal(kos_cm_str(&cm, p->binary), bins[i]);
        assert_int_equal(p->role, i < 2 ? KOS_CM_ROLE_MSG_SERVER : KOS_CM_ROLE_APP);
        assert_memory_equal(p->sha256, digest[i], 32);
        assert_int_equal(p->reserved, 0);
        assert_int_equal(kos_cm_find(&cm, names[i]), (int)i);
    }
    assert_int_equal(kos_cm_find(&cm, "nobody"), -1);
    assert_int_equal(kos_cm_find(&cm, NULL), -1);
    assert_int_equal(kos_cm_find(&cm, "msg"), -1);

    const struct kos_cm_proc *srv = kos_cm_proc(&cm, 0);
    assert_int_equal(srv->n_grants, 0);
    assert_int_equal(srv->n_args, 0);
    assert_int_equal(srv->restart, KOS_CM_RESTART_PERMANENT);

    const struct kos_cm_proc *pong = kos_cm_proc(&cm, 2);
    assert_int_equal(pong->memory, 8u << 20);
    assert_int_equal(pong->restart, KOS_CM_RESTART_TRANSIENT);
    assert_int_equal(pong->restart_max, 3);
    assert_int_equal(pong->restart_period_ms, 2000);
    assert_int_equal(pong->restart_delay_ms, 50);
    assert_int_equal(pong->restart_delay_max_ms, 2000);
    assert_int_equal(pong->flags, KOS_CM_PROC_ENDS_SYSTEM | KOS_CM_PROC_DATA_DIR);
    assert_int_equal(pong->max_procs, 4);
    assert_int_equal(pong->max_files, 64);
    assert_int_equal(pong->storage, 2u << 20);
    assert_int_equal(pong->n_config, 2);
    assert_string_equal(kos_cm_strref(&cm, pong->config_first), "ring=16");
    assert_string_equal(kos_cm_strref(&cm, pong->config_first + 1), "remote_shell=disabled");
    assert_int_equal(pong->n_res, 2);
    const struct kos_cm_res *bus = kos_cm_res(&cm, pong->res_first);
    assert_int_equal(bus->kind, KOS_CM_RES_DEVICE);
    assert_string_equal(kos_cm_str(&cm, bus->name), "bus");
    assert_string_equal(kos_cm_str(&cm, bus->target), "/dev/i2c-1");
    assert_int_equal(bus->access, KOS_CM_ACCESS_READ | KOS_CM_ACCESS_WRITE);
    const struct kos_cm_res *out = kos_cm_res(&cm, pong->res_first + 1);
    assert_int_equal(out->kind, KOS_CM_RES_REGION);
    assert_string_equal(kos_cm_str(&cm, out->name), "out");
    assert_int_equal(out->target, 0);
    assert_int_equal(kos_cm_nregions(&cm), 2);
    assert_string_equal(kos_cm_str(&cm, kos_cm_region(&cm, 0)->name), "frame");
    assert_int_equal(kos_cm_region(&cm, 0)->size, 64u << 10);
    assert_string_equal(kos_cm_str(&cm, kos_cm_region(&cm, 1)->name), "stats");
    assert_int_equal(kos_cm_region(&cm, 1)->reserved, 0);
    assert_int_equal(cm.hdr->release, 0);
    assert_int_equal(cm.hdr->version, KOS_CM_VERSION);
    assert_int_equal(cm.hdr->flags, KOS_CM_SIGNING_DISABLED);
    assert_int_equal(pong->n_args, 2);
    assert_string_equal(kos_cm_strref(&cm, pong->args_first), "--count");
    assert_string_equal(kos_cm_strref(&cm, pong->args_first + 1), "5");
    assert_int_equal(pong->n_env, 2);
    assert_string_equal(kos_cm_strref(&cm, pong->env_first), "GREETING=hello");
    assert_string_equal(kos_cm_strref(&cm, pong->env_first + 1), "EMPTY=");
    assert_int_equal(pong->n_grants, 3);
    const struct kos_cm_grant *g0 = kos_cm_grant(&cm, pong->grants_first);
    const struct kos_cm_grant *g1 = kos_cm_grant(&cm, pong->grants_first + 1);
    const struct kos_cm_grant *g2 = kos_cm_grant(&cm, pong->grants_first + 2);
    assert_int_equal(g0->server, 0);
    assert_int_equal(g0->kind, KOS_CM_GRANT_PUBLISH);
    assert_string_equal(kos_cm_str(&cm, g0->protocol), "ping_protocol");
    assert_int_equal(g1->server, 0);
    assert_int_equal(g1->kind, KOS_CM_GRANT_REQUEST);
    assert_string_equal(kos_cm_str(&cm, g1->protocol), "kos_log_protocol");
    assert_int_equal(g2->server, 1);
    assert_int_equal(g2->kind, KOS_CM_GRANT_REQUEST);
    assert_int_equal(g2->protocol, g0->protocol); /* strings are stored once */

    const struct kos_cm_proc *ping = kos_cm_proc(&cm, 3);
    assert_int_equal(ping->memory, 0);
    assert_int_equal(ping->restart, KOS_CM_RESTART_PERMANENT);
    assert_int_equal(ping->restart_max, 5);
    assert_int_equal(ping->restart_period_ms, 10000);
    assert_int_equal(ping->flags, KOS_CM_PROC_DEBUG);
    assert_int_equal(ping->n_config, 0);
    assert_int_equal(ping->n_res, 2);
    assert_int_equal(kos_cm_res(&cm, ping->res_first)->access, KOS_CM_ACCESS_READ);
    assert_int_equal(kos_cm_res(&cm, ping->res_first + 1)->target, 1);
    assert_int_equal(srv->n_res, 0);
    assert_int_equal(srv->n_config, 0);
    assert_int_equal(ping->n_grants, 1);
    assert_int_equal(kos_cm_grant(&cm, ping->grants_first)->server, 0);
    walk(&cm);
}

static void test_signing_enabled_and_no_digests(void **state)
{
    (void)state;
    const char t[] = "system: s\napps: {a: {}}\n";
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    assert_int_equal(kos_manifest_parse("x", t, sizeof(t) - 1, &opts, &m, &err), KOS_STATUS_OK);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(kos_manifest_compile(m, NULL, &buf, &len), KOS_STATUS_OK);
    struct kos_cm cm;
    assert_int_equal(kos_cm_open(&cm, buf, len, NULL, 0), KOS_STATUS_OK);
    assert_false(kos_cm_signing_disabled(&cm));
    assert_int_equal(kos_cm_nprocs(&cm), 1);
    static const uint8_t zero[32];
    assert_memory_equal(kos_cm_proc(&cm, 0)->sha256, zero, 32);
    assert_int_equal(cm.hdr->n_grants, 0);
    assert_int_equal(cm.hdr->n_strrefs, 0);
    assert_int_equal(cm.hdr->n_res, 0);
    assert_int_equal(kos_cm_nregions(&cm), 0);
    walk(&cm);
    free(buf);
    kos_manifest_destroy(m);
}

static void test_compile_refuses_bad_models(void **state)
{
    (void)state;
    void *buf = NULL;
    size_t len = 0;
    struct kos_mf_app app = {.name = "a",
                             .binary = "a",
                             .restart = KOS_CM_RESTART_PERMANENT,
                             .restart_max = 5,
                             .restart_period_ms = 10000};
    struct kos_manifest m = {.system = "s", .signing = true, .apps = &app, .n_apps = 1};
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_OK);
    free(buf);
    buf = NULL;

    assert_int_equal(kos_manifest_compile(NULL, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos_manifest_compile(&m, NULL, NULL, &len), KOS_STATUS_INVALID_ARGUMENT);
    app.name = "bad name";
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    app.name = "a";
    app.restart = 9;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    app.restart = KOS_CM_RESTART_PERMANENT;
    app.restart_period_ms = 0;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    app.restart_period_ms = 1;
    /* A grant naming a server that is not declared. */
    const char *const pub[] = {"p"};
    struct kos_mf_grant g = {.server = "msg0", .publish = pub, .n_publish = 1};
    app.grants = &g;
    app.n_grants = 1;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    /* Two processes of one name. */
    struct kos_mf_server srv = {.name = "a", .binary = "msg_server"};
    m.servers = &srv;
    m.n_servers = 1;
    app.n_grants = 0;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    m.n_servers = 0;
    /* Resources and config the reader would have refused. */
    struct kos_mf_device dev = {.name = "d", .path = "dev/x", .access = KOS_CM_ACCESS_READ};
    app.devices = &dev;
    app.n_devices = 1;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    dev.path = "/dev/x";
    dev.access = 4;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    dev.access = KOS_CM_ACCESS_READ;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_OK);
    free(buf);
    buf = NULL;
    struct kos_mf_region_use use = {.name = "r", .region = "nowhere", .access = 1};
    app.regions = &use;
    app.n_regions = 1;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    struct kos_mf_region reg = {.name = "nowhere", .size = 100};
    m.regions = &reg;
    m.n_regions = 1;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    reg.size = 4096;
    use.name = "d"; /* the device's name */
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    use.name = "r";
    struct kos_mf_config cfg = {.key = "bad key", .value = "v"};
    app.config = &cfg;
    app.n_config = 1;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    cfg.key = "good_key";
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_OK);
    free(buf);
    buf = NULL;
    app.max_files = 3;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    /* No processes. */
    m.n_servers = 0;
    m.n_apps = 0;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
    assert_null(buf);
}

static void test_open_arguments(void **state)
{
    struct fixture *f = *state;
    struct kos_cm cm;
    char err[256];
    assert_int_equal(kos_cm_open(&cm, NULL, f->len, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos_cm_open(NULL, f->buf, f->len, err, sizeof(err)),
                     KOS_STATUS_INVALID_ARGUMENT);
    /* Unaligned. */
    uint8_t *p = malloc(f->len + 8);
    assert_non_null(p);
    uint8_t *u = p + ((uintptr_t)p % 8 == 0 ? 4 : 0);
    while ((uintptr_t)u % 8 == 0)
        u++;
    memcpy(u, f->buf, f->len);
    assert_int_equal(kos_cm_open(&cm, u, f->len, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "aligned"));
    free(p);
    /* Error buffers of any size, including none, are respected. */
    uint8_t *c = copy(f->buf, f->len);
    c[0] = 'X';
    char tiny[5] = "zzzz";
    assert_int_equal(kos_cm_open(&cm, c, f->len, tiny, 3), KOS_STATUS_PROTOCOL);
    assert_string_equal(tiny, "of");
    assert_int_equal(tiny[3], 'z');
    assert_int_equal(kos_cm_open(&cm, c, f->len, NULL, 0), KOS_STATUS_PROTOCOL);
    assert_int_equal(kos_cm_open(&cm, c, f->len, tiny, 0), KOS_STATUS_PROTOCOL);
    free(c);
    /* Larger than the format allows. */
    uint8_t *big = calloc(1, (size_t)KOS_CM_MAX_SIZE + 8);
    assert_non_null(big);
    memcpy(big, f->buf, f->len);
    assert_int_equal(kos_cm_open(&cm, big, (size_t)KOS_CM_MAX_SIZE + 8, err, sizeof(err)),
                     KOS_STATUS_PROTOCOL);
    assert_non_null(strstr(err, "more than"));
    free(big);
}

static void test_truncation(void **state)
{
    struct fixture *f = *state;
    struct kos_cm cm;
    char err[256];
    for (size_t len = 0; len < f->len; len++) {
        /* As is: the size field no longer matches (or there is no header). */
        uint8_t *c = copy(f->buf, len);
        assert_int_equal(kos_cm_open(&cm, c, len, err, sizeof(err)), KOS_STATUS_PROTOCOL);
        assert_memory_equal(err, "offset ", 7);
        /* With the size field patched to match: a table or the pool runs
         * past the end. */
        if (len >= sizeof(struct kos_cm_header)) {
            ((struct kos_cm_header *)c)->size = (uint32_t)len;
            assert_int_equal(kos_cm_open(&cm, c, len, err, sizeof(err)), KOS_STATUS_PROTOCOL);
        }
        free(c);
    }
}

static void test_every_byte(void **state)
{
    struct fixture *f = *state;
    static const uint8_t flips[] = {0x01, 0x02, 0x10, 0x20, 0x40, 0x80, 0xff};
    struct kos_cm cm;
    char err[256];
    size_t accepted = 0, refused = 0;
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    for (size_t i = 0; i < f->len; i++) {
        for (size_t k = 0; k < sizeof(flips); k++) {
            uint8_t *c = copy(f->buf, f->len);
            c[i] ^= flips[k];
            kos_status_t st = kos_cm_open(&cm, c, f->len, err, sizeof(err));
            if (st == KOS_STATUS_OK) {
                walk(&cm);
                accepted++;
            } else {
                assert_int_equal(st, KOS_STATUS_PROTOCOL);
                assert_memory_equal(err, "offset ", 7);
                refused++;
            }
            /* Every header byte matters, but for the system name's offset,
             * which may land on another valid name, the release number (and
             * the overlay's, with one), version 4 (read as before),
             * the signing and isolation flags, and the offset of an empty
             * table. */
            bool harmless =
                (i >= HDR(system_name) && i < HDR(system_name) + 4) ||
                (i >= HDR(release) && i < HDR(release) + 4) ||
                (i == HDR(version) && (f->buf[i] ^ flips[k]) == KOS_CM_VERSION_4) ||
                (h->release && i >= HDR(flags) + 2 && i < HDR(flags) + 4) ||
                (h->n_res == 0 && i >= HDR(res_off) && i < HDR(res_off) + 4) ||
                (h->n_regions == 0 && i >= HDR(regions_off) && i < HDR(regions_off) + 4) ||
                (i == HDR(flags) &&
                 (flips[k] == KOS_CM_SIGNING_DISABLED || flips[k] == KOS_CM_ISOLATION_BEST_EFFORT));
            if (i < sizeof(struct kos_cm_header) && !harmless && st == KOS_STATUS_OK)
                fail_msg("header byte %zu ^ 0x%02x was accepted", i, flips[k]);
            free(c);
        }
    }
    assert_true(refused > accepted);
    /* The string pool's terminating NUL is required. */
    uint8_t *c = copy(f->buf, f->len);
    c[f->len - 1] = 'x';
    assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    assert_non_null(strstr(err, "does not end with a NUL"));
    free(c);
}

/* One corruption: write `val` (of `width` bytes) at `off` and expect
 * kos_cm_open() to refuse it with a message containing `want`. */
static void corrupt(const struct fixture *f, const char *what, size_t off, uint64_t val, int width,
                    const char *want)
{
    uint8_t *c = copy(f->buf, f->len);
    assert_true(off + (size_t)width <= f->len);
    if (width == 4) {
        uint32_t v = (uint32_t)val;
        memcpy(c + off, &v, 4);
    } else {
        memcpy(c + off, &val, 8);
    }
    struct kos_cm cm;
    char err[256];
    kos_status_t st = kos_cm_open(&cm, c, f->len, err, sizeof(err));
    if (st != KOS_STATUS_PROTOCOL || strstr(err, want) == NULL)
        print_error("%s: status %d, message \"%s\", wanted \"%s\"\n", what, (int)st, err, want);
    assert_int_equal(st, KOS_STATUS_PROTOCOL);
    assert_non_null(strstr(err, want));
    free(c);
}

/* The release number: any in version 4; in version 3, where it was a
 * reserved field, only 0, read as no release number. */
static void test_release(void **state)
{
    struct fixture *f = *state;
    struct kos_cm cm;
    char err[256];
    uint32_t v;
    uint8_t *c = copy(f->buf, f->len);

    v = 7;
    memcpy(c + HDR(release), &v, 4);
    assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(cm.hdr->release, 7);
    v = KOS_CM_VERSION_3;
    memcpy(c + HDR(version), &v, 4);
    assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    assert_non_null(strstr(err, "offset 68: reserved field is 7; it must be 0 in version 3"));
    v = 0;
    memcpy(c + HDR(release), &v, 4);
    assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(cm.hdr->release, 0);
    free(c);

    /* The overlay number: the flags' high half, in version 5, with a
     * release; refused in version 4 (unknown flags) and without a release. */
    c = copy(f->buf, f->len);
    uint32_t flags;
    memcpy(&flags, c + HDR(flags), 4);
    flags |= 3u << KOS_CM_OVERLAY_SHIFT;
    memcpy(c + HDR(flags), &flags, 4);
    v = 7;
    memcpy(c + HDR(release), &v, 4);
    assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(kos_cm_overlay(&cm), 3);
    v = KOS_CM_VERSION_4;
    memcpy(c + HDR(version), &v, 4);
    assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    assert_non_null(strstr(err, "unknown flags 0x30000"));
    v = KOS_CM_VERSION;
    memcpy(c + HDR(version), &v, 4);
    v = 0;
    memcpy(c + HDR(release), &v, 4);
    assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_PROTOCOL);
    assert_non_null(strstr(err, "overlay 3 of no release: an overlay changes a numbered release"));
    free(c);

    /* From the manifest's release key. */
    static const char rel[] = "system: s\nrelease: 4000000000\nsigning: disabled\n"
                              "apps: {a: {binary: a}}\n";
    struct kos_manifest *m = NULL;
    struct kos_mf_error merr;
    void *buf = NULL;
    size_t len;
    assert_int_equal(kos_manifest_parse("r.yaml", rel, sizeof(rel) - 1, &opts, &m, &merr), 0);
    assert_int_equal(m->release, 4000000000u);
    assert_int_equal(kos_manifest_compile(m, NULL, &buf, &len), KOS_STATUS_OK);
    kos_manifest_destroy(m);
    assert_int_equal(kos_cm_open(&cm, buf, len, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(cm.hdr->release, 4000000000u);
    free(buf);
}

static void test_header_fields(void **state)
{
    struct fixture *f = *state;
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    corrupt(f, "magic", HDR(magic), 0x4d534f4c, 4, "offset 0: bad magic");
    corrupt(f, "version", HDR(version), 1, 4, "offset 4: unsupported version 1");
    corrupt(f, "size", HDR(size), f->len + 8, 4, "offset 8: size field says");
    corrupt(f, "flags", HDR(flags), 9, 4, "offset 12: unknown flags 0x8");
    corrupt(f, "no procs", HDR(n_procs), 0, 4, "offset 20: 0 processes");
    corrupt(f, "too many procs", HDR(n_procs), KOS_CM_MAX_PROCS + 1, 4, "1025 processes");
    corrupt(f, "procs past end", HDR(n_procs), 1000, 4, "process table (1000 entries");
    corrupt(f, "procs unaligned", HDR(procs_off), h->procs_off + 4, 4, "not 8-byte aligned");
    corrupt(f, "procs over header", HDR(procs_off), 0, 4, "overlaps the 72-byte header");
    corrupt(f, "procs far", HDR(procs_off), 0xfffffff8u, 4, "runs past the end");
    corrupt(f, "grants unaligned", HDR(grants_off), h->grants_off + 1, 4, "not 4-byte aligned");
    corrupt(f, "grants past end", HDR(n_grants), 0xffffffffu, 4, "grant table (4294967295");
    corrupt(f, "grants over header", HDR(grants_off), 8, 4, "overlaps the 72-byte header");
    corrupt(f, "grants over procs", HDR(grants_off), h->procs_off, 4,
            "offset 72: the process table (offset 72, 544 bytes) overlaps the grant table "
            "(offset 72, 48 bytes)");
    corrupt(f, "strrefs far", HDR(strrefs_off), 0xfffffffcu, 4, "string-reference table");
    corrupt(f, "strrefs over pool", HDR(strrefs_off), h->strings_off - 4, 4,
            "overlaps the string pool");
    corrupt(f, "pool past end", HDR(strings_len), h->strings_len + 1, 4, "string pool");
    corrupt(f, "pool off past end", HDR(strings_off), 0xffffffffu, 4, "string pool");
    corrupt(f, "empty pool", HDR(strings_len), 0, 4, "does not end with a NUL");
    corrupt(f, "pool without final NUL", HDR(strings_len), h->strings_len - 1, 4,
            "does not end with a NUL");
    corrupt(f, "system name outside", HDR(system_name), h->strings_len, 4,
            "system name string offset");
    const struct kos_cm_proc *pong = (const struct kos_cm_proc *)(f->buf + h->procs_off) + 2;
    uint32_t dashes = ((const uint32_t *)(f->buf + h->strrefs_off))[pong->args_first];
    char want[96];
    snprintf(want, sizeof(want), "system name at string offset %u is not a valid name", dashes);
    corrupt(f, "system name not a name", HDR(system_name), dashes, 4, want);
    /* The overflow cases: offsets plus lengths that wrap in 32 bits. */
    corrupt(f, "wrapping pool", HDR(strings_off), 0x80000000u, 4, "string pool");
    corrupt(f, "wrapping pool len", HDR(strings_len), 0xfffffff0u, 4, "string pool");
}

/* The offset of field `field` of process i / grant i. */
static size_t proc_at(const struct fixture *f, uint32_t i, size_t field)
{
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    return h->procs_off + i * sizeof(struct kos_cm_proc) + field;
}

static size_t grant_at(const struct fixture *f, uint32_t i, size_t field)
{
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    return h->grants_off + i * sizeof(struct kos_cm_grant) + field;
}

#define PROC(field)  offsetof(struct kos_cm_proc, field)
#define GRANT(field) offsetof(struct kos_cm_grant, field)

static void test_proc_fields(void **state)
{
    struct fixture *f = *state;
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    const struct kos_cm_proc *pong = (const struct kos_cm_proc *)(f->buf + h->procs_off) + 2;
    char want[64];

    snprintf(want, sizeof(want), "offset %zu: process name string offset",
             proc_at(f, 2, PROC(name)));
    corrupt(f, "name outside", proc_at(f, 2, PROC(name)), h->strings_len + 100, 4, want);
    corrupt(f, "name dup", proc_at(f, 3, PROC(name)), pong->name, 4,
            "process 3 has the same name 'pong' as process 2");
    /* "--count" is in the pool: not a valid name. */
    const uint32_t *refs = (const uint32_t *)(f->buf + h->strrefs_off);
    corrupt(f, "name invalid", proc_at(f, 2, PROC(name)), refs[pong->args_first], 4,
            "process name at string offset");
    corrupt(f, "binary invalid", proc_at(f, 2, PROC(binary)), refs[pong->env_first], 4,
            "binary name at string offset");
    corrupt(f, "role 0", proc_at(f, 2, PROC(role)), 0, 4, "process 2 has role 0");
    corrupt(f, "role 3", proc_at(f, 2, PROC(role)), 3, 4, "process 2 has role 3");
    corrupt(f, "server after app", proc_at(f, 3, PROC(role)), KOS_CM_ROLE_MSG_SERVER, 4,
            "process 3 is a message server listed after an app");
    corrupt(f, "restart 0", proc_at(f, 2, PROC(restart)), 0, 4, "restart policy 0");
    corrupt(f, "restart 4", proc_at(f, 2, PROC(restart)), 4, 4, "restart policy 4");
    corrupt(f, "server with host network", proc_at(f, 0, PROC(flags)), KOS_CM_PROC_NET_HOST, 4,
            "process 0 is a message server with the host's network");
    corrupt(f, "flags", proc_at(f, 2, PROC(flags)), 0x81, 4, "unknown flags 0x80");
    corrupt(f, "device keys on a server", proc_at(f, 1, PROC(flags)), KOS_CM_PROC_DEVICE_KEYS, 4,
            "process 1 is a message server with flags 0x10, which only an app may have");
    corrupt(f, "self test on a server", proc_at(f, 0, PROC(flags)), KOS_CM_PROC_SELF_TEST, 4,
            "process 0 is a message server with flags 0x20");
    corrupt(f, "manager on a server", proc_at(f, 1, PROC(flags)), KOS_CM_PROC_MANAGES_SYSTEM, 4,
            "process 1 is a message server with flags 0x40");
    /* Each of those three flags belongs to one app at most. */
    for (uint32_t flag = KOS_CM_PROC_DEVICE_KEYS; flag <= KOS_CM_PROC_MANAGES_SYSTEM; flag <<= 1) {
        uint8_t *c = copy(f->buf, f->len);
        struct kos_cm cm;
        char err[256];
        uint32_t pong_flags = flag | KOS_CM_PROC_DATA_DIR; /* pong keeps its storage: */
        memcpy(c + proc_at(f, 2, PROC(flags)), &pong_flags, 4);
        assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_OK);
        memcpy(c + proc_at(f, 3, PROC(flags)), &flag, 4);
        assert_int_equal(kos_cm_open(&cm, c, f->len, err, sizeof(err)), KOS_STATUS_PROTOCOL);
        assert_non_null(strstr(err, "which an earlier process has; at most one app may have each"));
        free(c);
    }
    corrupt(f, "restart_max", proc_at(f, 2, PROC(restart_max)), 1001, 4, "allows 1001 restarts");
    corrupt(f, "period 0", proc_at(f, 2, PROC(restart_period_ms)), 0, 4, "restart period of 0");
    corrupt(f, "delay max below first", proc_at(f, 2, PROC(restart_delay_max_ms)), 10, 4,
            "process 2's restart delay rises to 10 ms, less than its first delay of 50 ms");
    corrupt(f, "reserved", proc_at(f, 2, PROC(reserved)), 7, 4, "reserved field is 7");
    corrupt(f, "args past table", proc_at(f, 2, PROC(n_args)), h->n_strrefs + 1, 4,
            "process 2's arguments");
    corrupt(f, "args first past", proc_at(f, 2, PROC(args_first)), h->n_strrefs, 4,
            "process 2's arguments");
    corrupt(f, "args wrap", proc_at(f, 2, PROC(args_first)), 0xffffffffu, 4,
            "process 2's arguments");
    corrupt(f, "too many args", proc_at(f, 2, PROC(n_args)), 257, 4, "257 arguments");
    corrupt(f, "env past table", proc_at(f, 2, PROC(env_first)), h->n_strrefs - 1, 4,
            "environment entries");
    corrupt(f, "env not KEY=VALUE", proc_at(f, 2, PROC(env_first)), pong->args_first, 4,
            "environment entry 0 is not KEY=VALUE");
    corrupt(f, "too many env", proc_at(f, 2, PROC(n_env)), 257, 4, "257 environment entries");
    corrupt(f, "grants past table", proc_at(f, 2, PROC(n_grants)), h->n_grants + 1, 4,
            "process 2's grants");
    corrupt(f, "grants wrap", proc_at(f, 2, PROC(grants_first)), 0xfffffffeu, 4,
            "process 2's grants");
    corrupt(f, "server with grants", proc_at(f, 0, PROC(n_grants)), 1, 4,
            "process 0 is a message server with 1 grants");
}

static void test_grant_fields(void **state)
{
    struct fixture *f = *state;
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    corrupt(f, "grant to app", grant_at(f, 0, GRANT(server)), 2, 4,
            "grant 0 names process 2, which is not a message server");
    corrupt(f, "grant to nothing", grant_at(f, 1, GRANT(server)), 4, 4, "grant 1 names process 4");
    corrupt(f, "grant to huge", grant_at(f, 1, GRANT(server)), 0xffffffffu, 4,
            "which is not a message server");
    corrupt(f, "kind 0", grant_at(f, 0, GRANT(kind)), 0, 4, "grant 0 has kind 0");
    corrupt(f, "kind 3", grant_at(f, 2, GRANT(kind)), 3, 4, "grant 2 has kind 3");
    corrupt(f, "protocol outside", grant_at(f, 0, GRANT(protocol)), h->strings_len, 4,
            "protocol name string offset");
    corrupt(f, "strref outside", h->strrefs_off, h->strings_len, 4,
            "string reference 0 has offset");
    char want[64];
    snprintf(want, sizeof(want), "offset %zu: grant 0 has kind 0", grant_at(f, 0, GRANT(kind)));
    corrupt(f, "offset in message", grant_at(f, 0, GRANT(kind)), 0, 4, want);
}

static size_t res_at(const struct fixture *f, uint32_t i, size_t field)
{
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    return h->res_off + i * sizeof(struct kos_cm_res) + field;
}

static size_t region_at(const struct fixture *f, uint32_t i, size_t field)
{
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    return h->regions_off + i * sizeof(struct kos_cm_region) + field;
}

#define RES(field)    offsetof(struct kos_cm_res, field)
#define REGION(field) offsetof(struct kos_cm_region, field)

/* The tables added in version 2: regions, resources, and the new process
 * fields (limits, resources, config). */
static void test_v2_fields(void **state)
{
    struct fixture *f = *state;
    const struct kos_cm_header *h = (const struct kos_cm_header *)f->buf;
    const struct kos_cm_proc *pong = (const struct kos_cm_proc *)(f->buf + h->procs_off) + 2;
    const uint32_t *refs = (const uint32_t *)(f->buf + h->strrefs_off);
    const struct kos_cm_res *res = (const struct kos_cm_res *)(f->buf + h->res_off);
    char want[128];
    assert_int_equal(h->n_res, 4); /* pong: bus, out; ping: in, st */
    assert_int_equal(h->n_regions, 2);

    /* Header. */
    corrupt(f, "regions unaligned", HDR(regions_off), h->regions_off + 4, 4, "not 8-byte aligned");
    corrupt(f, "too many regions", HDR(n_regions), 257, 4,
            "257 memory regions; a system has at most 256");
    corrupt(f, "regions past end", HDR(n_regions), 200, 4, "region table (200 entries");
    corrupt(f, "regions over procs", HDR(regions_off), h->procs_off, 4,
            "overlaps the region table");
    corrupt(f, "res unaligned", HDR(res_off), h->res_off + 1, 4, "not 4-byte aligned");
    corrupt(f, "res far", HDR(res_off), 0xfffffffcu, 4, "resource table");
    corrupt(f, "res over grants", HDR(res_off), h->grants_off, 4, "overlaps the resource table");
    corrupt(f, "res past end", HDR(n_res), 0x10000000u, 4, "resource table (268435456 entries");

    /* Regions. */
    snprintf(want, sizeof(want), "offset %zu: region name string offset",
             region_at(f, 1, REGION(name)));
    corrupt(f, "region name outside", region_at(f, 1, REGION(name)), h->strings_len, 4, want);
    corrupt(f, "region name invalid", region_at(f, 1, REGION(name)), refs[pong->args_first], 4,
            "region name at string offset");
    corrupt(f, "region name dup", region_at(f, 1, REGION(name)),
            ((const struct kos_cm_region *)(f->buf + h->regions_off))->name, 4,
            "region 1 has the same name 'frame' as region 0");
    corrupt(f, "region reserved", region_at(f, 0, REGION(reserved)), 1, 4,
            "region 0's reserved field is 1");
    corrupt(f, "region size 0", region_at(f, 0, REGION(size)), 0, 8, "region 0 has size 0");
    corrupt(f, "region size odd", region_at(f, 1, REGION(size)), 4097, 8, "region 1 has size 4097");
    corrupt(f, "region size huge", region_at(f, 1, REGION(size)), (1ull << 40) + 4096, 8,
            "a multiple of 4096 and at most 1099511627776");

    /* Resources. */
    corrupt(f, "res kind 0", res_at(f, 0, RES(kind)), 0, 4, "resource 0 has kind 0");
    corrupt(f, "res kind 3", res_at(f, 1, RES(kind)), 3, 4, "resource 1 has kind 3");
    corrupt(f, "res name outside", res_at(f, 0, RES(name)), h->strings_len + 7, 4,
            "resource name string offset");
    corrupt(f, "res name invalid", res_at(f, 0, RES(name)), res[0].target, 4,
            "resource name at string offset"); /* "/dev/i2c-1" is no name */
    corrupt(f, "res name dup", res_at(f, 1, RES(name)), res[0].name, 4,
            "process 2's resources 0 and 1 have the same name 'bus'");
    corrupt(f, "access 0", res_at(f, 0, RES(access)), 0, 4, "resource 0 has access 0x0");
    corrupt(f, "access 4", res_at(f, 0, RES(access)), 4, 4, "resource 0 has access 0x4");
    corrupt(f, "region write-only", res_at(f, 1, RES(access)), KOS_CM_ACCESS_WRITE, 4,
            "resource 1 maps a region write-only");
    corrupt(f, "region index", res_at(f, 1, RES(target)), 2, 4,
            "resource 1 names region 2; the system has 2 regions");
    corrupt(f, "device path outside", res_at(f, 0, RES(target)), h->strings_len, 4,
            "resource 0's device path offset");
    corrupt(f, "device path relative", res_at(f, 0, RES(target)), pong->name, 4,
            "resource 0's device path at string offset");
    corrupt(f, "region as device", res_at(f, 1, RES(kind)), KOS_CM_RES_DEVICE, 4,
            "resource 1's device path at string offset"); /* target 0: the system name */

    /* Process fields. */
    corrupt(f, "max_procs", proc_at(f, 2, PROC(max_procs)), 4097, 4,
            "process 2 has a process limit of 4097");
    corrupt(f, "max_files", proc_at(f, 2, PROC(max_files)), 7, 4,
            "process 2 has an open-file limit of 7");
    corrupt(f, "max_files big", proc_at(f, 2, PROC(max_files)), 20001, 4,
            "open-file limit of 20001");
    corrupt(f, "storage without data_dir", proc_at(f, 3, PROC(storage)), 16u << 20, 8,
            "process 3 has a storage bound but no data directory");
    corrupt(f, "storage too small", proc_at(f, 2, PROC(storage)), 4096, 8,
            "process 2 has a storage bound of 4096 bytes");
    corrupt(f, "too many res", proc_at(f, 2, PROC(n_res)), 33, 4, "process 2 has 33 resources");
    corrupt(f, "res past table", proc_at(f, 3, PROC(res_first)), 3, 4, "process 3's resources");
    corrupt(f, "res wrap", proc_at(f, 3, PROC(res_first)), 0xffffffffu, 4, "process 3's resources");
    corrupt(f, "server with res", proc_at(f, 0, PROC(n_res)), 1, 4,
            "process 0 is a message server with 1 resources");
    corrupt(f, "server with config", proc_at(f, 1, PROC(n_config)), 1, 4,
            "process 1 is a message server with 0 resources and 1 config entries");
    corrupt(f, "too many config", proc_at(f, 2, PROC(n_config)), 257, 4, "257 config entries");
    corrupt(f, "config past table", proc_at(f, 2, PROC(config_first)), h->n_strrefs - 1, 4,
            "process 2's config entries");
    corrupt(f, "config not key=value", proc_at(f, 2, PROC(config_first)), pong->args_first, 4,
            "process 2's config entry 0 is not key=value");
    corrupt(f, "proc flags", proc_at(f, 3, PROC(flags)), 0x80, 4, "unknown flags 0x80");
}

/* The device-path rule shared by the reader and the compiled-form checker. */
static void test_device_path_rule(void **state)
{
    (void)state;
    static const char *const good[] = {"/dev/i2c-1", "/dev/null", "/x",     "/dev/./a",
                                       "/a..b/c",    "/dev/...",  "/dev//x"};
    static const char *const bad[] = {"",    "/",       "dev/x",  "/dev/../etc/shadow",
                                      "/..", "/dev/..", "x/../y", "../dev/x"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(kos__mf_device_path_valid(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(kos__mf_device_path_valid(bad[i], strlen(bad[i])));
    char longp[300];
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    assert_true(kos__mf_device_path_valid(longp, 255));
    assert_false(kos__mf_device_path_valid(longp, 256));
    assert_false(kos__mf_device_path_valid("/dev/a\0b", 8));
    assert_false(kos__mf_device_path_valid(NULL, 0));
}

static void test_max_size_model(void **state)
{
    (void)state;
    /* 1024 processes with grants, args and env compile and open. */
    static struct kos_mf_app apps[KOS_CM_MAX_PROCS - 1];
    static char names[KOS_CM_MAX_PROCS][16];
    const char *const args[] = {"--a", "--b"};
    const char *const env[] = {"A=1"};
    const char *const protos[] = {"p1", "p2", "p3"};
    struct kos_mf_grant g = {
        .server = "msg0", .publish = protos, .n_publish = 3, .request = protos, .n_request = 3};
    struct kos_mf_server srv = {.name = "msg0", .binary = "msg_server"};
    for (size_t i = 0; i < KOS_CM_MAX_PROCS - 1; i++) {
        snprintf(names[i], sizeof(names[i]), "app%zu", i);
        apps[i] = (struct kos_mf_app){.name = names[i],
                                      .binary = "bin",
                                      .restart = KOS_CM_RESTART_TEMPORARY,
                                      .restart_max = 1,
                                      .restart_period_ms = 1,
                                      .args = args,
                                      .n_args = 2,
                                      .env = env,
                                      .n_env = 1,
                                      .grants = &g,
                                      .n_grants = 1};
    }
    struct kos_manifest m = {.system = "big",
                             .signing = true,
                             .servers = &srv,
                             .n_servers = 1,
                             .apps = apps,
                             .n_apps = KOS_CM_MAX_PROCS - 1};
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_OK);
    struct kos_cm cm;
    char err[256];
    assert_int_equal(kos_cm_open(&cm, buf, len, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(kos_cm_nprocs(&cm), KOS_CM_MAX_PROCS);
    assert_int_equal(cm.hdr->n_grants, 6 * (KOS_CM_MAX_PROCS - 1));
    assert_int_equal(kos_cm_find(&cm, "app1022"), 1023);
    walk(&cm);
    free(buf);
    /* One more is refused. */
    m.n_servers = 2;
    struct kos_mf_server two[2] = {srv, {.name = "msg1", .binary = "msg_server"}};
    m.servers = two;
    assert_int_equal(kos_manifest_compile(&m, NULL, &buf, &len), KOS_STATUS_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test(test_signing_enabled_and_no_digests),
        cmocka_unit_test(test_compile_refuses_bad_models),
        cmocka_unit_test_setup_teardown(test_open_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proc_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grant_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_fields, setup, teardown),
        cmocka_unit_test(test_device_path_rule),
        cmocka_unit_test(test_max_size_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
