/*
 * validate.c - the merged manifest tree to a validated struct kos_manifest.
 *
 * Walks the merged `message_servers` and `apps` mappings in order, checking
 * every key, type, name, value and limit, and builds the model in the keep
 * arena as it goes. The first problem stops the walk with an error at the
 * offending node's position that says what would be valid. What stays true
 * of a model this file returns: every name is valid, app and message server
 * names are unique and distinct from each other, there is at least one app
 * and at most KOS_CM_MAX_PROCS processes, every grant names a declared
 * message server, no protocol is listed twice in one list, every memory
 * region an app maps is declared, an app's device and region names are
 * unique among themselves, and every value is within the limits of mf_int.h
 * and of the boot records in boot_int.h.
 */
#include <stdio.h>
#include <string.h>

#include "boot_int.h"
#include "config_int.h"
#include "mf_int.h"

_Static_assert(KOS__MF_MAX_RES <= KOS__BOOT_MAX_RES, "resources fit the boot record");
_Static_assert(KOS__MF_MAX_CONFIG <= KOS__BOOT_MAX_CONFIG, "config fits the boot record");
_Static_assert(63 + 1 + KOS__MF_MAX_STR + 1 <= KOS__CONFIG_MAX, "a setting fits the boot record");
_Static_assert(KOS__MF_MAX_CONFIG_BYTES + KOS__MF_MAX_CONFIG * 8 + KOS__MF_MAX_RES * 96 +
                       KOS__BOOT_MAX_DIRS * 80 + 256 <=
                   KOS__CTL_MAX,
               "a whole boot record fits one control message");

static const char *const server_keys[] = {"binary", NULL};
static const char *const app_keys[] = {"binary",
                                       "memory",
                                       "restart",
                                       "restart_limit",
                                       "ends_system",
                                       "args",
                                       "env",
                                       "protocols",
                                       "data_dir",
                                       "limits",
                                       "devices",
                                       "memory_regions",
                                       "debug",
                                       "config",
                                       "waive",
                                       "network",
                                       "device_keys",
                                       "reports_self_test",
                                       "storage",
                                       "restart_delay",
                                       "manages_system",
                                       NULL};
static const char *const limit_keys[] = {"max", "period", NULL};
static const char *const delay_keys[] = {"first", "max", NULL};
static const char *const grant_keys[] = {"publish", "request", NULL};
static const char *const rlimit_keys[] = {"processes", "files", NULL};
static const char *const device_entry_keys[] = {"path", "access", NULL};
static const char *const use_keys[] = {"region", "access", NULL};
static const char *const region_keys[] = {"size", NULL};

/* Copies the scalar `n` into the keep arena. */
static kos_status_t keep_str(struct kos__mf_ctx *c, const struct kos__mf_node *n, const char **out)
{
    *out = kos__mf_strndup(&c->keep, n->str, n->len);
    return *out ? KOS_STATUS_OK : kos__mf_oom(c);
}

/* Checks that `n` is a scalar holding a valid name and copies it. `noun`
 * says what the name is ("binary name") and `where` whose it is (" of app
 * 'pong'", or ""), for the messages. */
static kos_status_t take_name(struct kos__mf_ctx *c, const struct kos__mf_node *n, const char *noun,
                              const char *where, const char *example, const char **out)
{
    char what[256];
    snprintf(what, sizeof(what), "%s%s", noun, where);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, example);
    if (st)
        return st;
    if (!kos__mf_name_valid(n->str, n->len)) {
        char q[KOS__MF_QUOTE_SIZE];
        return kos__mf_fail(c, &n->pos, "invalid %s %s%s; " KOS__MF_NAME_RULE, noun,
                            kos__mf_quote(n->str, n->len, q), where);
    }
    return keep_str(c, n, out);
}

static bool text_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* Reads a size setting of app `app` (memory:, storage:): a whole number of
 * bytes with an optional unit, at least `min` bytes. `example` shows a good
 * one ("64MiB") and `none` says what leaving the key out means. */
static kos_status_t parse_size_key(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                   const char *key, const char *app, const char *example,
                                   uint64_t min, const char *none, uint64_t *out)
{
    char what[128], ex[64], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "%s of app '%s'", key, app);
    snprintf(ex, sizeof(ex), "%s: %s", key, example);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, ex);
    if (st)
        return st;
    uint64_t v = 0;
    switch (kos__parse_size(n->str, n->len, &v)) { /* docs/manifest.md, Sizes */
    case KOS_STATUS_OK:
        break;
    case KOS_STATUS_TOO_LARGE:
        goto out_too_large;
    default:
        goto out_invalid;
    }
    if (v == 0)
        return kos__mf_fail(c, &n->pos,
                            "%s of app '%s' is 0; write a size of more than 0 bytes, e.g. %s, or "
                            "leave %s out for %s",
                            key, app, example, key, none);
    if (v < min)
        return kos__mf_fail(c, &n->pos,
                            "%s of app '%s' is %s, less than the least it may be, %llu bytes "
                            "(%lluKiB); write at least that, e.g. %s",
                            key, app, kos__mf_quote(n->str, n->len, q), (unsigned long long)min,
                            (unsigned long long)(min >> 10), example);
    *out = v;
    return KOS_STATUS_OK;
out_invalid:
    return kos__mf_fail(c, &n->pos,
                        "invalid %s size %s for app '%s'; write a whole number of bytes with "
                        "an optional unit: B, KiB, MiB, GiB, TiB (1024-based) or kB, MB, GB, TB "
                        "(1000-based), e.g. %s",
                        key, kos__mf_quote(n->str, n->len, q), app, example);
out_too_large:
    return kos__mf_fail(c, &n->pos,
                        "%s size %s for app '%s' is too large to count in bytes; write a "
                        "smaller size, e.g. %s",
                        key, kos__mf_quote(n->str, n->len, q), app, example);
}

/* Checks that `n` is a mapping whose keys are all in `keys`; `what` names it
 * ("limits of app 'cam'") and `example` shows a good one. */
static kos_status_t expect_map_of(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                  const char *what, const char *example, const char *const *keys)
{
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_MAP, what, example);
    return st ? st : kos__mf_check_keys(c, n, keys, what);
}

/* Reads a duration setting `key` ("restart_limit.period") of app `app`: a
 * whole number with a unit (ms, s, m, h), in milliseconds; 0 only when
 * `zero_ok`. */
static kos_status_t parse_duration(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                   const char *key, const char *app, bool zero_ok, uint32_t *out)
{
    char what[128], ex[64], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "%s of app '%s'", key, app);
    snprintf(ex, sizeof(ex), "%s: 10s", strchr(key, '.') ? strchr(key, '.') + 1 : key);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, ex);
    if (st)
        return st;
    uint64_t v;
    st = kos__parse_duration_ms(n->str, n->len, &v); /* docs/manifest.md, Durations */
    if (st == KOS_STATUS_TOO_LARGE)
        goto out_too_long;
    if (st)
        goto out_invalid;
    if (v == 0 && !zero_ok)
        return kos__mf_fail(
            c, &n->pos, "%s of app '%s' is 0; write a duration of more than 0, e.g. 10s", key, app);
    *out = (uint32_t)v;
    return KOS_STATUS_OK;
out_invalid:
    return kos__mf_fail(c, &n->pos,
                        "invalid duration %s for %s of app '%s'; write a whole number with a "
                        "unit: ms, s, m or h, e.g. 500ms, 10s or 2m",
                        kos__mf_quote(n->str, n->len, q), key, app);
out_too_long:
    return kos__mf_fail(c, &n->pos,
                        "%s %s of app '%s' is too long; the most is 4294967295ms (about 49 days)",
                        key, kos__mf_quote(n->str, n->len, q), app);
}

/* restart_delay: {first: 100ms, max: 10s}: how long Core waits before each
 * restart, doubling from `first` up to `max`. */
static kos_status_t parse_restart_delay(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                        struct kos_mf_app *app)
{
    char what[128];
    snprintf(what, sizeof(what), "restart_delay of app '%s'", app->name);
    kos_status_t st =
        expect_map_of(c, n, what, "restart_delay: {first: 100ms, max: 10s}", delay_keys);
    if (st)
        return st;
    const struct kos__mf_node *f = kos__mf_get(n, "first", NULL);
    if (f != NULL &&
        (st = parse_duration(c, f, "restart_delay.first", app->name, true, &app->restart_delay_ms)))
        return st;
    const struct kos__mf_node *m = kos__mf_get(n, "max", NULL);
    if (m != NULL && (st = parse_duration(c, m, "restart_delay.max", app->name, true,
                                          &app->restart_delay_max_ms)))
        return st;
    if (app->restart_delay_max_ms < app->restart_delay_ms)
        return kos__mf_fail(c, m ? &m->pos : &f->pos,
                            "restart_delay.max of app '%s' (%u ms) is less than its first "
                            "delay (%u ms); the delay doubles from first up to max",
                            app->name, app->restart_delay_max_ms, app->restart_delay_ms);
    return KOS_STATUS_OK;
}

static kos_status_t parse_restart_limit(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                        struct kos_mf_app *app)
{
    char what[128], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "restart_limit of app '%s'", app->name);
    kos_status_t st = expect_map_of(c, n, what, "restart_limit: {max: 5, period: 10s}", limit_keys);
    if (st)
        return st;
    const struct kos__mf_node *max = kos__mf_get(n, "max", NULL);
    if (max != NULL) {
        snprintf(what, sizeof(what), "restart_limit.max of app '%s'", app->name);
        st = kos__mf_expect(c, max, KOS__MF_SCALAR, what, "max: 5");
        if (st)
            return st;
        uint64_t v;
        size_t i = kos__parse_digits(max->str, max->len, &v);
        if (i == 0 || i != max->len || v > KOS__MF_MAX_RESTARTS)
            return kos__mf_fail(c, &max->pos,
                                "invalid restart_limit.max %s for app '%s'; write a whole number "
                                "from 0 to %u",
                                kos__mf_quote(max->str, max->len, q), app->name,
                                KOS__MF_MAX_RESTARTS);
        app->restart_max = (uint32_t)v;
    }
    const struct kos__mf_node *period = kos__mf_get(n, "period", NULL);
    if (period != NULL) {
        st = parse_duration(c, period, "restart_limit.period", app->name, false,
                            &app->restart_period_ms);
        if (st)
            return st;
    }
    return KOS_STATUS_OK;
}

static kos_status_t parse_restart(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                  struct kos_mf_app *app)
{
    char what[128], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "restart of app '%s'", app->name);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, "restart: permanent");
    if (st)
        return st;
    if (strcmp(n->str, "permanent") == 0)
        app->restart = KOS_CM_RESTART_PERMANENT;
    else if (strcmp(n->str, "transient") == 0)
        app->restart = KOS_CM_RESTART_TRANSIENT;
    else if (strcmp(n->str, "temporary") == 0)
        app->restart = KOS_CM_RESTART_TEMPORARY;
    else
        return kos__mf_fail(c, &n->pos,
                            "invalid restart policy %s for app '%s'; valid values: permanent, "
                            "transient, temporary",
                            kos__mf_quote(n->str, n->len, q), app->name);
    return KOS_STATUS_OK;
}

static kos_status_t parse_bool(struct kos__mf_ctx *c, const struct kos__mf_node *n, const char *key,
                               const char *app, bool *out)
{
    char what[128], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "%s of app '%s'", key, app);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, "true");
    if (st)
        return st;
    if (strcmp(n->str, "true") == 0 || strcmp(n->str, "True") == 0 || strcmp(n->str, "TRUE") == 0) {
        *out = true;
    } else if (strcmp(n->str, "false") == 0 || strcmp(n->str, "False") == 0 ||
               strcmp(n->str, "FALSE") == 0) {
        *out = false;
    } else {
        return kos__mf_fail(c, &n->pos,
                            "invalid value %s for %s of app '%s'; valid values: true, "
                            "false",
                            kos__mf_quote(n->str, n->len, q), key, app);
    }
    return KOS_STATUS_OK;
}

/* network: none (the default: an empty network namespace) or host (the
 * host's network namespace, and the system calls to open connections in
 * it). Only a base layer may write `host`: it is for the component that
 * opens connections on the other apps' behalf (ethernet), which a platform
 * layer brings; a manifest may take it away (network: none) but not give
 * it. */
static kos_status_t parse_network(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                  const struct kos_manifest *m, struct kos_mf_app *app)
{
    char what[128], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "network of app '%s'", app->name);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, "network: none");
    if (st)
        return st;
    app->network_pos = n->pos;
    if (strcmp(n->str, "none") == 0) {
        app->network_host = false;
        return KOS_STATUS_OK;
    }
    if (strcmp(n->str, "host") != 0)
        return kos__mf_fail(c, &n->pos, "invalid network %s for app '%s'; valid values: none, host",
                            kos__mf_quote(n->str, n->len, q), app->name);
    if (n->pos.file != NULL && m->file != NULL && strcmp(n->pos.file, m->file) == 0)
        return kos__mf_fail(c, &n->pos,
                            "network: host for app '%s' may only be declared by a base layer: "
                            "it gives the app the host's network, which only the ethernet "
                            "component holds; request kos_ethernet_protocol instead and list "
                            "the destinations in ethernet's allow setting",
                            app->name);
    app->network_host = true;
    return KOS_STATUS_OK;
}

static kos_status_t parse_args(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                               struct kos_mf_app *app)
{
    char what[128];
    snprintf(what, sizeof(what), "args of app '%s'", app->name);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SEQ, what, "args: [--count, \"5\"]");
    if (st)
        return st;
    if (n->n > KOS__MF_MAX_ARGS)
        return kos__mf_fail(c, &n->pos, "app '%s' has %zu arguments; at most %u are allowed",
                            app->name, n->n, KOS__MF_MAX_ARGS);
    const char **args = kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(char *));
    if (args == NULL)
        return kos__mf_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *a = n->items[i];
        if (a->kind == KOS__MF_SCALAR && a->null)
            return kos__mf_fail(c, &a->pos,
                                "argument %zu of app '%s' is null; quote it (\"~\", \"\" or "
                                "\"null\") to pass it as text",
                                i + 1, app->name);
        snprintf(what, sizeof(what), "argument %zu of app '%s'", i + 1, app->name);
        st = kos__mf_expect(c, a, KOS__MF_SCALAR, what, "args: [--count, \"5\"]");
        if (st)
            return st;
        if (a->len > KOS__MF_MAX_STR)
            return kos__mf_fail(c, &a->pos,
                                "argument %zu of app '%s' is %zu bytes long; at most %u bytes "
                                "are allowed",
                                i + 1, app->name, a->len, KOS__MF_MAX_STR);
        st = keep_str(c, a, &args[i]);
        if (st)
            return st;
    }
    app->args = args;
    app->n_args = n->n;
    return KOS_STATUS_OK;
}

static kos_status_t parse_env(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                              struct kos_mf_app *app)
{
    char what[192], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "env of app '%s'", app->name);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_MAP, what, "env: {GREETING: hello}");
    if (st)
        return st;
    if (n->n > KOS__MF_MAX_ENV)
        return kos__mf_fail(c, &n->pos,
                            "app '%s' has %zu environment variables; at most %u are allowed",
                            app->name, n->n, KOS__MF_MAX_ENV);
    const char **env = kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(char *));
    struct kos_mf_pos *env_pos =
        kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(struct kos_mf_pos));
    if (env == NULL || env_pos == NULL)
        return kos__mf_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *k = n->pairs[i].key, *v = n->pairs[i].val;
        if (!kos__mf_env_key_valid(k->str, k->len))
            return kos__mf_fail(c, &k->pos,
                                "invalid environment variable name %s in app '%s'; a name is a "
                                "letter or '_' followed by letters, digits and '_' (at most %u "
                                "bytes)",
                                kos__mf_quote(k->str, k->len, q), app->name, KOS__MF_MAX_ENV_KEY);
        if (v->kind == KOS__MF_SCALAR && v->null)
            return kos__mf_fail(c, &v->pos,
                                "environment variable %s of app '%s' is null; write a value, or "
                                "\"\" for an empty one",
                                k->str, app->name);
        snprintf(what, sizeof(what), "environment variable %s of app '%s'", k->str, app->name);
        st = kos__mf_expect(c, v, KOS__MF_SCALAR, what, "env: {GREETING: hello}");
        if (st)
            return st;
        if (v->len > KOS__MF_MAX_STR)
            return kos__mf_fail(c, &v->pos,
                                "the value of environment variable %s of app '%s' is %zu bytes "
                                "long; at most %u bytes are allowed",
                                k->str, app->name, v->len, KOS__MF_MAX_STR);
        char *kv = kos__mf_alloc(&c->keep, k->len + 1 + v->len + 1);
        if (kv == NULL)
            return kos__mf_oom(c);
        memcpy(kv, k->str, k->len);
        kv[k->len] = '=';
        memcpy(kv + k->len + 1, v->str, v->len);
        env[i] = kv;
        env_pos[i] = k->pos;
    }
    app->env = env;
    app->env_pos = env_pos;
    app->n_env = n->n;
    return KOS_STATUS_OK;
}

/* Reads one `publish:` or `request:` list of protocol names. */
static kos_status_t parse_protocols(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                    const char *app, const char *server, const char *kind,
                                    const char *const **out, const struct kos_mf_pos **pos_out,
                                    size_t *n_out)
{
    char what[192], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "protocols.%s.%s of app '%s'", server, kind, app);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SEQ, what, "[my_protocol, kos_log_protocol]");
    if (st)
        return st;
    if (n->n > KOS__GRANTS_MAX)
        return kos__mf_fail(c, &n->pos, "%s lists %zu protocols; at most %u are allowed", what,
                            n->n, KOS__GRANTS_MAX);
    const char **names = kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(char *));
    struct kos_mf_pos *pos = kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(*pos));
    if (names == NULL || pos == NULL)
        return kos__mf_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *p = n->items[i];
        pos[i] = p->pos;
        char where[256];
        snprintf(where, sizeof(where), " in %s", what);
        st = take_name(c, p, "protocol name", where, "[my_protocol, kos_log_protocol]", &names[i]);
        if (st)
            return st;
        for (size_t j = 0; j < i; j++) {
            const struct kos__mf_node *o = n->items[j];
            if (o->len == p->len && memcmp(o->str, p->str, p->len) == 0)
                return kos__mf_fail(c, &p->pos,
                                    "protocol %s is listed twice in %s (first at line %d, column "
                                    "%d); list each protocol once",
                                    kos__mf_quote(p->str, p->len, q), what, o->pos.line,
                                    o->pos.col);
        }
    }
    *out = names;
    *pos_out = pos;
    *n_out = n->n;
    return KOS_STATUS_OK;
}

/* Reads an app's `protocols:` mapping into its grants. */
static kos_status_t parse_grants(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                 const struct kos_manifest *m, const struct kos__mf_node *servers,
                                 struct kos_mf_app *app)
{
    char what[192], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "protocols of app '%s'", app->name);
    kos_status_t st =
        kos__mf_expect(c, n, KOS__MF_MAP, what, "protocols: {msg0: {publish: [my_protocol]}}");
    if (st)
        return st;
    if (n->n > KOS__BOOT_MAX_DIRS)
        return kos__mf_fail(c, &n->pos,
                            "app '%s' uses %zu message servers; an app may use at most %u",
                            app->name, n->n, KOS__BOOT_MAX_DIRS);
    struct kos_mf_grant *grants =
        kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(struct kos_mf_grant));
    if (grants == NULL)
        return kos__mf_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *k = n->pairs[i].key, *v = n->pairs[i].val;
        struct kos_mf_grant *g = &grants[i];
        for (size_t s = 0; s < m->n_servers && g->server == NULL; s++)
            if (text_is(k->str, k->len, m->servers[s].name))
                g->server = m->servers[s].name;
        if (g->server == NULL) {
            char list[256];
            return kos__mf_fail(c, &k->pos,
                                "app '%s' uses message server %s, which is not declared; "
                                "declared message servers: %s",
                                app->name, kos__mf_quote(k->str, k->len, q),
                                kos__mf_list_keys(servers, list, sizeof(list)));
        }
        g->pos = k->pos;
        snprintf(what, sizeof(what), "protocols.%s of app '%s'", g->server, app->name);
        st = kos__mf_expect(c, v, KOS__MF_MAP, what,
                            "msg0: {publish: [my_protocol], request: [kos_log_protocol]}");
        if (st)
            return st;
        st = kos__mf_check_keys(c, v, grant_keys, what);
        if (st)
            return st;
        const struct kos__mf_node *pub = kos__mf_get(v, "publish", NULL);
        if (pub != NULL) {
            st = parse_protocols(c, pub, app->name, g->server, "publish", &g->publish,
                                 &g->publish_pos, &g->n_publish);
            if (st)
                return st;
        }
        const struct kos__mf_node *req = kos__mf_get(v, "request", NULL);
        if (req != NULL) {
            st = parse_protocols(c, req, app->name, g->server, "request", &g->request,
                                 &g->request_pos, &g->n_request);
            if (st)
                return st;
        }
    }
    app->grants = grants;
    app->n_grants = n->n;
    return KOS_STATUS_OK;
}

/* Reads a whole number written as digits only into *out; false if it is not
 * one or passes UINT32_MAX. */
static bool parse_u32(const struct kos__mf_node *n, uint32_t *out)
{
    uint64_t v;
    size_t i = kos__parse_digits(n->str, n->len, &v);
    if (i == 0 || i == SIZE_MAX || i != n->len || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Reads one limit of `limits:` (processes or files) into *out. */
static kos_status_t parse_one_limit(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                    const char *key, const char *app, uint32_t lo, uint32_t hi,
                                    uint32_t *out)
{
    char what[128], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "limits.%s of app '%s'", key, app);
    kos_status_t st =
        kos__mf_expect(c, n, KOS__MF_SCALAR, what, "limits: {processes: 4, files: 64}");
    if (st)
        return st;
    uint32_t v;
    if (!parse_u32(n, &v) || v < lo || v > hi)
        return kos__mf_fail(c, &n->pos,
                            "invalid limits.%s %s for app '%s'; write a whole number from %u to %u",
                            key, kos__mf_quote(n->str, n->len, q), app, lo, hi);
    *out = v;
    return KOS_STATUS_OK;
}

static kos_status_t parse_limits(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                 struct kos_mf_app *app)
{
    char what[128];
    snprintf(what, sizeof(what), "limits of app '%s'", app->name);
    kos_status_t st = expect_map_of(c, n, what, "limits: {processes: 4, files: 64}", rlimit_keys);
    if (st)
        return st;
    const struct kos__mf_node *f;
    if ((f = kos__mf_get(n, "processes", NULL)) != NULL) {
        st = parse_one_limit(c, f, "processes", app->name, KOS__MF_MIN_PROCS,
                             KOS__MF_MAX_PROCS_LIMIT, &app->max_procs);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(n, "files", NULL)) != NULL) {
        st = parse_one_limit(c, f, "files", app->name, KOS__MF_MIN_FILES, KOS__MF_MAX_FILES,
                             &app->max_files);
        if (st)
            return st;
    }
    return KOS_STATUS_OK;
}

/* Reads an access mode: r, w or rw for a device; r or rw for a memory
 * region. `what` names the entry ("device 'bus' of app 'cam'"). */
static kos_status_t parse_access(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                 const char *what, bool region, uint32_t *out)
{
    char w[192], q[KOS__MF_QUOTE_SIZE];
    snprintf(w, sizeof(w), "access of %s", what);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, w, region ? "access: r" : "access: rw");
    if (st)
        return st;
    if (text_is(n->str, n->len, "r")) {
        *out = KOS_CM_ACCESS_READ;
    } else if (text_is(n->str, n->len, "rw")) {
        *out = KOS_CM_ACCESS_READ | KOS_CM_ACCESS_WRITE;
    } else if (!region && text_is(n->str, n->len, "w")) {
        *out = KOS_CM_ACCESS_WRITE;
    } else if (region) {
        return kos__mf_fail(c, &n->pos,
                            "invalid access %s for %s; valid values: r (read-only), rw "
                            "(read-write)",
                            kos__mf_quote(n->str, n->len, q), what);
    } else {
        return kos__mf_fail(c, &n->pos,
                            "invalid access %s for %s; valid values: r (read), w (write), rw "
                            "(both)",
                            kos__mf_quote(n->str, n->len, q), what);
    }
    return KOS_STATUS_OK;
}

/* Checks the local name `k` of one of an app's devices or memory regions
 * (`kind`: "device" or "memory region") and that no device or region of
 * the app already has it. */
static kos_status_t take_local_name(struct kos__mf_ctx *c, const struct kos__mf_node *k,
                                    const char *kind, const struct kos_mf_app *app,
                                    const char **out)
{
    char noun[64], where[128];
    snprintf(noun, sizeof(noun), "%s name", kind);
    snprintf(where, sizeof(where), " in app '%s'", app->name);
    kos_status_t st =
        take_name(c, k, noun, where, "devices: {bus: {path: /dev/i2c-1, access: rw}}", out);
    if (st)
        return st;
    for (size_t i = 0; i < app->n_devices; i++)
        if (strcmp(app->devices[i].name, *out) == 0)
            return kos__mf_fail(c, &k->pos,
                                "%s '%s' of app '%s' has the same name as its device at line %d, "
                                "column %d; an app's devices and memory regions need distinct "
                                "names",
                                kind, *out, app->name, app->devices[i].pos.line,
                                app->devices[i].pos.col);
    return KOS_STATUS_OK;
}

/* Checks a device path: absolute, not "/", no ".." component. */
static kos_status_t check_device_path(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                      const char *what)
{
    char q[KOS__MF_QUOTE_SIZE];
    if (n->len > KOS__MF_MAX_PATH)
        return kos__mf_fail(c, &n->pos,
                            "the path of %s is %zu bytes long; at most %u bytes are allowed", what,
                            n->len, KOS__MF_MAX_PATH);
    if (n->len == 0 || n->str[0] != '/')
        return kos__mf_fail(c, &n->pos,
                            "the path %s of %s is not absolute; write the device node's full "
                            "path, e.g. /dev/i2c-1",
                            kos__mf_quote(n->str, n->len, q), what);
    if (n->len == 1)
        return kos__mf_fail(c, &n->pos,
                            "the path '/' of %s is the root folder, not a device; write the "
                            "device node's path, e.g. /dev/i2c-1",
                            what);
    if (!kos__mf_device_path_valid(n->str, n->len))
        return kos__mf_fail(c, &n->pos,
                            "the path %s of %s has a '..' component; write the device node's own "
                            "path, without '..', e.g. /dev/i2c-1",
                            kos__mf_quote(n->str, n->len, q), what);
    return KOS_STATUS_OK;
}

static kos_status_t parse_devices(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                  struct kos_mf_app *app)
{
    static const char example[] = "bus: {path: /dev/i2c-1, access: rw}";
    char what[192];
    snprintf(what, sizeof(what), "devices of app '%s'", app->name);
    kos_status_t st =
        kos__mf_expect(c, n, KOS__MF_MAP, what, "devices: {bus: {path: /dev/i2c-1, access: rw}}");
    if (st)
        return st;
    if (n->n > KOS__MF_MAX_RES)
        return kos__mf_fail(c, &n->pos, "app '%s' has %zu devices; at most %u are allowed",
                            app->name, n->n, KOS__MF_MAX_RES);
    struct kos_mf_device *devs =
        kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(struct kos_mf_device));
    if (devs == NULL)
        return kos__mf_oom(c);
    app->devices = devs;
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *k = n->pairs[i].key, *v = n->pairs[i].val, *f;
        struct kos_mf_device *d = &devs[i];
        st = take_local_name(c, k, "device", app, &d->name);
        if (st)
            return st;
        d->pos = k->pos;
        snprintf(what, sizeof(what), "device '%s' of app '%s'", d->name, app->name);
        st = kos__mf_expect(c, v, KOS__MF_MAP, what, example);
        if (st)
            return st;
        st = kos__mf_check_keys(c, v, device_entry_keys, what);
        if (st)
            return st;
        if ((f = kos__mf_get(v, "path", NULL)) == NULL)
            return kos__mf_fail(c, &v->pos,
                                "%s has no path; write e.g. %s: {path: /dev/i2c-1, "
                                "access: rw}",
                                what, d->name);
        char pwhat[224];
        snprintf(pwhat, sizeof(pwhat), "path of %s", what);
        st = kos__mf_expect(c, f, KOS__MF_SCALAR, pwhat, "path: /dev/i2c-1");
        if (st)
            return st;
        st = check_device_path(c, f, what);
        if (st)
            return st;
        st = keep_str(c, f, &d->path);
        if (st)
            return st;
        if ((f = kos__mf_get(v, "access", NULL)) == NULL)
            return kos__mf_fail(c, &v->pos,
                                "%s has no access; write access: r (read), w (write) or rw (both), "
                                "e.g. %s: {path: /dev/i2c-1, access: rw}",
                                what, d->name);
        st = parse_access(c, f, what, false, &d->access);
        if (st)
            return st;
        app->n_devices = i + 1;
    }
    return KOS_STATUS_OK;
}

static kos_status_t parse_region_uses(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                      const struct kos_manifest *m,
                                      const struct kos__mf_node *regions, struct kos_mf_app *app)
{
    char what[192], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "memory_regions of app '%s'", app->name);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_MAP, what,
                                     "memory_regions: {frame: {region: frame, access: rw}}");
    if (st)
        return st;
    if (app->n_devices + n->n > KOS__MF_MAX_RES)
        return kos__mf_fail(c, &n->pos,
                            "app '%s' has %zu devices and %zu memory regions; at most %u in all "
                            "are allowed",
                            app->name, app->n_devices, n->n, KOS__MF_MAX_RES);
    struct kos_mf_region_use *uses =
        kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(struct kos_mf_region_use));
    if (uses == NULL)
        return kos__mf_oom(c);
    app->regions = uses;
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *k = n->pairs[i].key, *v = n->pairs[i].val, *f;
        struct kos_mf_region_use *u = &uses[i];
        st = take_local_name(c, k, "memory region", app, &u->name);
        if (st)
            return st;
        u->pos = k->pos;
        snprintf(what, sizeof(what), "memory region '%s' of app '%s'", u->name, app->name);
        st = kos__mf_expect(c, v, KOS__MF_MAP, what, "frame: {region: frame, access: rw}");
        if (st)
            return st;
        st = kos__mf_check_keys(c, v, use_keys, what);
        if (st)
            return st;
        if ((f = kos__mf_get(v, "region", NULL)) == NULL)
            return kos__mf_fail(c, &v->pos,
                                "%s names no region; write the system memory region it maps, "
                                "e.g. %s: {region: %s, access: r}",
                                what, u->name, u->name);
        char rwhat[224];
        snprintf(rwhat, sizeof(rwhat), "region of %s", what);
        st = kos__mf_expect(c, f, KOS__MF_SCALAR, rwhat, "region: frame");
        if (st)
            return st;
        for (size_t r = 0; r < m->n_regions && u->region == NULL; r++)
            if (text_is(f->str, f->len, m->regions[r].name))
                u->region = m->regions[r].name;
        if (u->region == NULL) {
            char list[256];
            return kos__mf_fail(c, &f->pos,
                                "%s maps region %s, which is not declared; declared memory "
                                "regions: %s (declare regions under the top-level "
                                "memory_regions:)",
                                what, kos__mf_quote(f->str, f->len, q),
                                kos__mf_list_keys(regions, list, sizeof(list)));
        }
        if ((f = kos__mf_get(v, "access", NULL)) == NULL)
            return kos__mf_fail(c, &v->pos,
                                "%s has no access; write access: r (read-only) or rw "
                                "(read-write), e.g. %s: {region: %s, access: r}",
                                what, u->name, u->region);
        st = parse_access(c, f, what, true, &u->access);
        if (st)
            return st;
        app->n_regions = i + 1;
    }
    return KOS_STATUS_OK;
}

static kos_status_t parse_config(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                 struct kos_mf_app *app)
{
    char what[192], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "config of app '%s'", app->name);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_MAP, what, "config: {ring_size: 1024}");
    if (st)
        return st;
    if (n->n > KOS__MF_MAX_CONFIG)
        return kos__mf_fail(c, &n->pos, "app '%s' has %zu config settings; at most %u are allowed",
                            app->name, n->n, KOS__MF_MAX_CONFIG);
    struct kos_mf_config *cfg =
        kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(struct kos_mf_config));
    if (cfg == NULL)
        return kos__mf_oom(c);
    size_t total = 0;
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *k = n->pairs[i].key, *v = n->pairs[i].val;
        if (!kos__mf_name_valid(k->str, k->len))
            return kos__mf_fail(c, &k->pos, "invalid config key %s in app '%s'; " KOS__MF_NAME_RULE,
                                kos__mf_quote(k->str, k->len, q), app->name);
        if (v->kind == KOS__MF_SCALAR && v->null)
            return kos__mf_fail(c, &v->pos,
                                "config setting %s of app '%s' is null; write a value, or \"\" "
                                "for an empty one",
                                k->str, app->name);
        if (v->kind != KOS__MF_SCALAR)
            return kos__mf_fail(c, &v->pos,
                                "config setting %s of app '%s' is %s; a setting's value is a "
                                "scalar (text, number or true/false), e.g. %s: 1024",
                                k->str, app->name, kos__mf_kind_name(v), k->str);
        if (v->len > KOS__MF_MAX_STR)
            return kos__mf_fail(c, &v->pos,
                                "the value of config setting %s of app '%s' is %zu bytes long; at "
                                "most %u bytes are allowed",
                                k->str, app->name, v->len, KOS__MF_MAX_STR);
        total += k->len + 1 + v->len + 1;
        if (total > KOS__MF_MAX_CONFIG_BYTES)
            return kos__mf_fail(c, &k->pos,
                                "the config of app '%s' is larger than %u bytes in all (keys and "
                                "values); move bulk data into a file of the app",
                                app->name, KOS__MF_MAX_CONFIG_BYTES);
        cfg[i].pos = k->pos;
        st = keep_str(c, k, &cfg[i].key);
        if (st)
            return st;
        st = keep_str(c, v, &cfg[i].value);
        if (st)
            return st;
    }
    app->config = cfg;
    app->n_config = n->n;
    return KOS_STATUS_OK;
}

/* Counts the characters (UTF-8 code points) of s[0..len) after trimming
 * spaces, tabs and newlines at both ends. */
static size_t count_chars(const char *s, size_t len)
{
    while (len > 0 &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    size_t i = 0, n = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    for (; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

static kos_status_t parse_waivers(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                  struct kos_mf_app *app)
{
    static const char example[] = "waive: {KOS-A006: \"why this rule does not apply here\"}";
    char what[192], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "waive of app '%s'", app->name);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_MAP, what, example);
    if (st)
        return st;
    if (n->n > KOS__MF_MAX_WAIVERS)
        return kos__mf_fail(c, &n->pos, "app '%s' has %zu waivers; at most %u are allowed",
                            app->name, n->n, KOS__MF_MAX_WAIVERS);
    struct kos_mf_waiver *w =
        kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(struct kos_mf_waiver));
    if (w == NULL)
        return kos__mf_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *k = n->pairs[i].key, *v = n->pairs[i].val;
        if (!kos__mf_name_valid(k->str, k->len))
            return kos__mf_fail(c, &k->pos,
                                "invalid rule id %s in waive of app '%s'; write the id of an "
                                "assurance rule, e.g. KOS-A006 (docs/assurance.md lists them)",
                                kos__mf_quote(k->str, k->len, q), app->name);
        if (v->kind == KOS__MF_SCALAR && v->null)
            return kos__mf_fail(c, &v->pos,
                                "the waiver of %s for app '%s' has no justification; write why "
                                "the rule does not apply here, in at least %u characters",
                                k->str, app->name, KOS__MF_MIN_WAIVER);
        snprintf(what, sizeof(what), "the justification for waiving %s in app '%s'", k->str,
                 app->name);
        st = kos__mf_expect(c, v, KOS__MF_SCALAR, what, example);
        if (st)
            return st;
        size_t chars = count_chars(v->str, v->len);
        if (chars < KOS__MF_MIN_WAIVER)
            return kos__mf_fail(c, &v->pos,
                                "the justification for waiving %s in app '%s' is %zu characters "
                                "long; write at least %u saying why the rule does not apply here",
                                k->str, app->name, chars, KOS__MF_MIN_WAIVER);
        if (v->len > KOS__MF_MAX_STR)
            return kos__mf_fail(c, &v->pos,
                                "the justification for waiving %s in app '%s' is %zu bytes long; "
                                "at most %u bytes are allowed",
                                k->str, app->name, v->len, KOS__MF_MAX_STR);
        w[i].pos = k->pos;
        st = keep_str(c, k, &w[i].rule);
        if (st)
            return st;
        st = keep_str(c, v, &w[i].reason);
        if (st)
            return st;
    }
    app->waivers = w;
    app->n_waivers = n->n;
    return KOS_STATUS_OK;
}

/* Reads the system's memory_regions (merged with the layer's). */
static kos_status_t build_regions(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                  struct kos_manifest *m)
{
    static const char example[] = "frame: {size: 64KiB}";
    char what[128], q[KOS__MF_QUOTE_SIZE];
    if (n->n > KOS__MF_MAX_REGIONS)
        return kos__mf_fail(c, &n->pairs[KOS__MF_MAX_REGIONS].key->pos,
                            "too many memory regions; a system has at most %u, the base layer's "
                            "and the manifest's together",
                            KOS__MF_MAX_REGIONS);
    struct kos_mf_region *r =
        kos__mf_alloc(&c->keep, (n->n ? n->n : 1) * sizeof(struct kos_mf_region));
    if (r == NULL)
        return kos__mf_oom(c);
    m->regions = r;
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *k = n->pairs[i].key, *v = n->pairs[i].val, *f;
        kos_status_t st = take_name(c, k, "memory region name", "",
                                    "memory_regions: {frame: {size: 64KiB}}", &r[i].name);
        if (st)
            return st;
        r[i].pos = k->pos;
        snprintf(what, sizeof(what), "memory region '%s'", r[i].name);
        st = kos__mf_expect(c, v, KOS__MF_MAP, what, example);
        if (st)
            return st;
        st = kos__mf_check_keys(c, v, region_keys, what);
        if (st)
            return st;
        if ((f = kos__mf_get(v, "size", NULL)) == NULL)
            return kos__mf_fail(c, &v->pos,
                                "memory region '%s' has no size; write its size, a multiple of "
                                "%u bytes, e.g. %s: {size: 64KiB}",
                                r[i].name, KOS__MF_REGION_ALIGN, r[i].name);
        snprintf(what, sizeof(what), "size of memory region '%s'", r[i].name);
        st = kos__mf_expect(c, f, KOS__MF_SCALAR, what, "size: 64KiB");
        if (st)
            return st;
        uint64_t size = 0;
        kos_status_t sr = kos__parse_size(f->str, f->len, &size);
        if (sr == KOS_STATUS_INVALID_ARGUMENT)
            return kos__mf_fail(c, &f->pos,
                                "invalid size %s for memory region '%s'; write a whole number of "
                                "bytes with an optional unit: B, KiB, MiB, GiB, TiB (1024-based) "
                                "or kB, MB, GB, TB (1000-based), e.g. 64KiB",
                                kos__mf_quote(f->str, f->len, q), r[i].name);
        if (sr == KOS_STATUS_TOO_LARGE || size > KOS__MF_MAX_REGION_SIZE)
            return kos__mf_fail(c, &f->pos,
                                "size %s of memory region '%s' is more than 1TiB, the most a "
                                "region may have",
                                kos__mf_quote(f->str, f->len, q), r[i].name);
        if (size == 0)
            return kos__mf_fail(c, &f->pos,
                                "size of memory region '%s' is 0; write a size of more than 0 "
                                "bytes, a multiple of %u, e.g. 64KiB",
                                r[i].name, KOS__MF_REGION_ALIGN);
        if (size % KOS__MF_REGION_ALIGN != 0) {
            uint64_t down = size / KOS__MF_REGION_ALIGN * KOS__MF_REGION_ALIGN;
            uint64_t up = down + KOS__MF_REGION_ALIGN;
            if (down == 0)
                return kos__mf_fail(c, &f->pos,
                                    "size %s of memory region '%s' is %llu bytes, not a "
                                    "multiple of %u (the page size); write e.g. 4KiB",
                                    kos__mf_quote(f->str, f->len, q), r[i].name,
                                    (unsigned long long)size, KOS__MF_REGION_ALIGN);
            return kos__mf_fail(c, &f->pos,
                                "size %s of memory region '%s' is %llu bytes, not a multiple of "
                                "%u (the page size); write e.g. %llu or %llu",
                                kos__mf_quote(f->str, f->len, q), r[i].name,
                                (unsigned long long)size, KOS__MF_REGION_ALIGN,
                                (unsigned long long)down, (unsigned long long)up);
        }
        r[i].size = size;
        m->n_regions = i + 1;
    }
    return KOS_STATUS_OK;
}

static kos_status_t build_app(struct kos__mf_ctx *c, const struct kos__mf_pair *pair,
                              const struct kos_manifest *m, const struct kos__mf_top *top,
                              struct kos_mf_app *app)
{
    const struct kos__mf_node *servers = top->servers;
    const struct kos__mf_node *k = pair->key, *v = pair->val, *f, *kn;
    char what[128];
    kos_status_t st = take_name(c, k, "app name", "", "apps: {pong: {binary: pong}}", &app->name);
    if (st)
        return st;
    if (strcmp(app->name, KOS__MF_RESERVED_NAME) == 0)
        return kos__mf_fail(c, &k->pos,
                            "app name '" KOS__MF_RESERVED_NAME "' is reserved for KOS Core's own "
                            "console lines; choose another name");
    for (size_t s = 0; s < m->n_servers; s++) {
        const struct kos_mf_server *srv = &m->servers[s];
        if (strcmp(srv->name, app->name) == 0)
            return kos__mf_fail(c, &k->pos,
                                "app '%s' has the same name as the message server declared at "
                                "%s:%d:%d; apps and message servers need distinct names",
                                app->name, srv->pos.file, srv->pos.line, srv->pos.col);
    }
    app->pos = k->pos;
    app->memory_pos = app->data_dir_pos = app->debug_pos = app->limits_pos = k->pos;
    app->storage_pos = k->pos;
    app->network_pos = app->device_keys_pos = app->reports_self_test_pos = k->pos;
    app->manages_system_pos = k->pos;
    app->from_layer = pair->from_layer;
    app->binary = app->name;
    app->restart = KOS_CM_RESTART_PERMANENT;
    app->restart_max = KOS__MF_DEFAULT_RESTART_MAX;
    app->restart_period_ms = KOS__MF_DEFAULT_RESTART_PERIOD_MS;
    app->restart_delay_ms = KOS__MF_DEFAULT_RESTART_DELAY_MS;
    app->restart_delay_max_ms = KOS__MF_DEFAULT_RESTART_DELAY_MAX_MS;

    snprintf(what, sizeof(what), "app '%s'", app->name);
    if (v->kind == KOS__MF_SCALAR && v->null)
        return kos__mf_fail(c, &v->pos,
                            "expected a mapping of settings for app '%s', found null; write "
                            "e.g. %s: {binary: %s}, or %s: {} for the defaults",
                            app->name, app->name, app->name, app->name);
    st = kos__mf_expect(c, v, KOS__MF_MAP, what, "pong: {binary: pong, memory: 8MiB}");
    if (st)
        return st;
    if ((f = kos__mf_get(v, "optional", &kn)) != NULL)
        return kos__mf_fail(c, &kn->pos,
                            "'optional' is for a base layer's apps (an optional layer app is "
                            "part of a system only when its manifest names it); in a manifest, "
                            "leave app '%s' out, or remove the layer's with '%s: ~'",
                            app->name, app->name);
    st = kos__mf_check_keys(c, v, app_keys, what);
    if (st)
        return st;

    if ((f = kos__mf_get(v, "binary", NULL)) != NULL) {
        snprintf(what, sizeof(what), " of app '%s'", app->name);
        st = take_name(c, f, "binary name", what, "binary: pong", &app->binary);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "memory", NULL)) != NULL) {
        app->memory_pos = f->pos;
        st = parse_size_key(c, f, "memory", app->name, "64MiB", 1, "no limit", &app->memory);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "restart", NULL)) != NULL) {
        st = parse_restart(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "restart_limit", NULL)) != NULL) {
        st = parse_restart_limit(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "restart_delay", NULL)) != NULL) {
        st = parse_restart_delay(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "ends_system", NULL)) != NULL) {
        st = parse_bool(c, f, "ends_system", app->name, &app->ends_system);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "args", NULL)) != NULL) {
        st = parse_args(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "env", NULL)) != NULL) {
        st = parse_env(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "protocols", NULL)) != NULL) {
        st = parse_grants(c, f, m, servers, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "data_dir", NULL)) != NULL) {
        app->data_dir_pos = f->pos;
        st = parse_bool(c, f, "data_dir", app->name, &app->data_dir);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "storage", &kn)) != NULL) {
        app->storage_pos = f->pos;
        st = parse_size_key(c, f, "storage", app->name, "16MiB", KOS__MF_MIN_STORAGE,
                            "the default, 16MiB", &app->storage);
        if (st)
            return st;
        if (!app->data_dir)
            return kos__mf_fail(c, &kn->pos,
                                "app '%s' has storage: but no data directory; storage bounds "
                                "what /data holds: add data_dir: true, or remove storage:",
                                app->name);
    }
    if ((f = kos__mf_get(v, "limits", NULL)) != NULL) {
        app->limits_pos = f->pos;
        st = parse_limits(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "devices", NULL)) != NULL) {
        st = parse_devices(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "memory_regions", NULL)) != NULL) {
        st = parse_region_uses(c, f, m, top->regions, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "debug", NULL)) != NULL) {
        app->debug_pos = f->pos;
        st = parse_bool(c, f, "debug", app->name, &app->debug);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "device_keys", NULL)) != NULL) {
        app->device_keys_pos = f->pos;
        st = parse_bool(c, f, "device_keys", app->name, &app->device_keys);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "reports_self_test", NULL)) != NULL) {
        app->reports_self_test_pos = f->pos;
        st = parse_bool(c, f, "reports_self_test", app->name, &app->reports_self_test);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "manages_system", NULL)) != NULL) {
        app->manages_system_pos = f->pos;
        st = parse_bool(c, f, "manages_system", app->name, &app->manages_system);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "config", NULL)) != NULL) {
        st = parse_config(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "waive", NULL)) != NULL) {
        st = parse_waivers(c, f, app);
        if (st)
            return st;
    }
    if ((f = kos__mf_get(v, "network", NULL)) != NULL) {
        st = parse_network(c, f, m, app);
        if (st)
            return st;
    }
    return KOS_STATUS_OK;
}

static kos_status_t build_server(struct kos__mf_ctx *c, const struct kos__mf_pair *pair,
                                 struct kos_mf_server *srv)
{
    const struct kos__mf_node *k = pair->key, *v = pair->val;
    char what[128];
    kos_status_t st = take_name(c, k, "message server name", "",
                                "message_servers: {msg0: {binary: msg_server}}", &srv->name);
    if (st)
        return st;
    if (strcmp(srv->name, KOS__MF_RESERVED_NAME) == 0)
        return kos__mf_fail(c, &k->pos,
                            "message server name '" KOS__MF_RESERVED_NAME "' is reserved for KOS "
                            "Core's own console lines; choose another name");
    srv->pos = k->pos;
    srv->binary = "msg_server";
    if (v->kind == KOS__MF_SCALAR && v->null)
        return kos__mf_fail(c, &v->pos,
                            "expected a mapping of settings for message server '%s', found null; "
                            "write e.g. %s: {binary: msg_server}, or %s: {} for the defaults",
                            srv->name, srv->name, srv->name);
    snprintf(what, sizeof(what), "message server '%s'", srv->name);
    st = kos__mf_expect(c, v, KOS__MF_MAP, what, "msg0: {binary: msg_server}");
    if (st)
        return st;
    st = kos__mf_check_keys(c, v, server_keys, what);
    if (st)
        return st;
    const struct kos__mf_node *b = kos__mf_get(v, "binary", NULL);
    if (b != NULL) {
        snprintf(what, sizeof(what), " of message server '%s'", srv->name);
        st = take_name(c, b, "binary name", what, "binary: msg_server", &srv->binary);
        if (st)
            return st;
    }
    return KOS_STATUS_OK;
}

/* At most one app may get the device keys, at most one may report the
 * self test, and at most one may manage the system: each is a privilege
 * Core gives to one process. */
static kos_status_t check_single(struct kos__mf_ctx *c, const struct kos_manifest *m)
{
    const struct kos_mf_app *keys = NULL, *test = NULL, *manager = NULL;

    for (size_t i = 0; i < m->n_apps; i++) {
        const struct kos_mf_app *a = &m->apps[i];
        if (a->device_keys && keys)
            return kos__mf_fail(c, &a->device_keys_pos,
                                "apps '%s' and '%s' both have device_keys: true; Core hands the "
                                "device key bundle to one app only (key_store), set at %s:%d:%d",
                                keys->name, a->name, keys->device_keys_pos.file,
                                keys->device_keys_pos.line, keys->device_keys_pos.col);
        if (a->reports_self_test && test)
            return kos__mf_fail(c, &a->reports_self_test_pos,
                                "apps '%s' and '%s' both have reports_self_test: true; one app "
                                "reports the self test (self_test), set at %s:%d:%d",
                                test->name, a->name, test->reports_self_test_pos.file,
                                test->reports_self_test_pos.line, test->reports_self_test_pos.col);
        if (a->manages_system && manager)
            return kos__mf_fail(c, &a->manages_system_pos,
                                "apps '%s' and '%s' both have manages_system: true; one app "
                                "manages the system (admin), set at %s:%d:%d",
                                manager->name, a->name, manager->manages_system_pos.file,
                                manager->manages_system_pos.line, manager->manages_system_pos.col);
        if (a->device_keys)
            keys = a;
        if (a->reports_self_test)
            test = a;
        if (a->manages_system)
            manager = a;
    }
    return KOS_STATUS_OK;
}

kos_status_t kos__mf_build(struct kos__mf_ctx *c, const struct kos__mf_top *top,
                           struct kos_manifest *m)
{
    kos_status_t st;
    const struct kos__mf_node *servers = top->servers, *apps = top->apps;
    size_t n_servers = servers ? servers->n : 0, n_apps = apps ? apps->n : 0;

    st = keep_str(c, top->system, &m->system);
    if (st)
        return st;
    if (top->base != NULL) {
        st = keep_str(c, top->base, &m->base);
        if (st)
            return st;
    }
    if (top->release != NULL) {
        uint64_t v = 0;
        kos__parse_digits(top->release->str, top->release->len, &v);
        m->release = (uint32_t)v;
    }
    if (top->overlay != NULL) {
        uint64_t v = 0;
        kos__parse_digits(top->overlay->str, top->overlay->len, &v);
        m->overlay = (uint32_t)v;
    }
    m->signing = top->signing == NULL || strcmp(top->signing->str, "enabled") == 0;
    m->signing_pos = top->signing != NULL ? top->signing->pos : top->root->pos;
    m->file = top->root->pos.file;
    m->profile = top->profile != NULL && strcmp(top->profile->str, "development") == 0
                     ? KOS_MF_PROFILE_DEVELOPMENT
                     : KOS_MF_PROFILE_RELEASE;
    m->profile_pos = top->profile != NULL ? top->profile->pos : top->root->pos;
    m->isolation = top->isolation != NULL && strcmp(top->isolation->str, "best_effort") == 0
                       ? KOS_MF_ISOLATION_BEST_EFFORT
                       : KOS_MF_ISOLATION_STRICT;
    m->isolation_pos = top->isolation != NULL ? top->isolation->pos : top->root->pos;
    if (top->regions != NULL) {
        st = build_regions(c, top->regions, m);
        if (st)
            return st;
    }

    struct kos_mf_server *srv =
        kos__mf_alloc(&c->keep, (n_servers ? n_servers : 1) * sizeof(struct kos_mf_server));
    struct kos_mf_app *app =
        kos__mf_alloc(&c->keep, (n_apps ? n_apps : 1) * sizeof(struct kos_mf_app));
    if (srv == NULL || app == NULL)
        return kos__mf_oom(c);
    m->servers = srv;
    m->apps = app;

    for (size_t i = 0; i < n_servers; i++) {
        const struct kos__mf_pair *pair = &servers->pairs[i];
        if (i >= KOS_CM_MAX_PROCS)
            return kos__mf_fail(c, &pair->key->pos,
                                "too many processes; a system has at most %u message servers and "
                                "apps in all",
                                KOS_CM_MAX_PROCS);
        st = build_server(c, pair, &srv[i]);
        if (st)
            return st;
        m->n_servers = i + 1;
    }
    for (size_t i = 0; i < n_apps; i++) {
        const struct kos__mf_pair *pair = &apps->pairs[i];
        if (n_servers + i >= KOS_CM_MAX_PROCS)
            return kos__mf_fail(c, &pair->key->pos,
                                "too many processes; a system has at most %u message servers and "
                                "apps in all",
                                KOS_CM_MAX_PROCS);
        st = build_app(c, pair, m, top, &app[i]);
        if (st)
            return st;
        m->n_apps = i + 1;
    }
    st = check_single(c, m);
    if (st)
        return st;
    if (n_apps == 0) {
        const struct kos_mf_pos *pos = top->apps_key ? &top->apps_key->pos : &top->root->pos;
        return kos__mf_fail(c, pos,
                            "the system has no apps; declare at least one under 'apps:', e.g. "
                            "apps: {pong: {binary: pong}}");
    }
    return KOS_STATUS_OK;
}
