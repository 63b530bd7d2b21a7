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
 * message server, no protocol is listed twice in one list, and every value
 * is within the limits of mf_int.h and of the boot records in boot_int.h.
 */
#include <stdio.h>
#include <string.h>

#include "boot_int.h"
#include "mf_int.h"

static const char *const server_keys[] = {"binary", NULL};
static const char *const app_keys[] = {"binary",        "memory",      "restart",
                                       "restart_limit", "ends_system", "args",
                                       "env",           "protocols",   NULL};
static const char *const limit_keys[] = {"max", "period", NULL};
static const char *const grant_keys[] = {"publish", "request", NULL};

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

/* Parses the leading decimal digits of s[0..len) into *v. Returns how many
 * bytes were digits (0 if none), or SIZE_MAX if the value overflows. */
static size_t parse_digits(const char *s, size_t len, uint64_t *v)
{
    size_t i = 0;
    *v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10)
            return SIZE_MAX;
        *v = *v * 10 + d;
        i++;
    }
    return i;
}

static bool text_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static kos_status_t parse_memory(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                 const char *app, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"KiB", 1ull << 10},
        {"MiB", 1ull << 20},
        {"GiB", 1ull << 30},
        {"TiB", 1ull << 40},
        {"kB", 1000ull},
        {"MB", 1000000ull},
        {"GB", 1000000000ull},
        {"TB", 1000000000000ull},
    };
    char what[128], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "memory of app '%s'", app);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, "memory: 64MiB");
    if (st)
        return st;
    uint64_t v;
    size_t i = parse_digits(n->str, n->len, &v);
    if (i == SIZE_MAX)
        goto out_too_large;
    if (i == 0)
        goto out_invalid;
    size_t u = i;
    while (u < n->len && n->str[u] == ' ')
        u++;
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (!text_is(n->str + u, n->len - u, units[k].unit))
            continue;
        if (units[k].unit[0] == '\0' && u != i)
            goto out_invalid; /* trailing spaces and no unit */
        if (v > UINT64_MAX / units[k].mult)
            goto out_too_large;
        v *= units[k].mult;
        if (v == 0)
            return kos__mf_fail(c, &n->pos,
                                "memory of app '%s' is 0; write a size of more than 0 bytes, "
                                "e.g. 64MiB, or leave memory out for no limit",
                                app);
        *out = v;
        return KOS_STATUS_OK;
    }
out_invalid:
    return kos__mf_fail(c, &n->pos,
                        "invalid memory size %s for app '%s'; write a whole number of bytes with "
                        "an optional unit: B, KiB, MiB, GiB, TiB (1024-based) or kB, MB, GB, TB "
                        "(1000-based), e.g. 64MiB",
                        kos__mf_quote(n->str, n->len, q), app);
out_too_large:
    return kos__mf_fail(c, &n->pos,
                        "memory size %s for app '%s' is too large to count in bytes; write a "
                        "smaller size, e.g. 64MiB",
                        kos__mf_quote(n->str, n->len, q), app);
}

static kos_status_t parse_period(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                 const char *app, uint32_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    char what[128], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "restart_limit.period of app '%s'", app);
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, "period: 10s");
    if (st)
        return st;
    uint64_t v;
    size_t i = parse_digits(n->str, n->len, &v);
    if (i == SIZE_MAX)
        goto out_too_long;
    if (i == 0)
        goto out_invalid;
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (!text_is(n->str + i, n->len - i, units[k].unit))
            continue;
        if (v > UINT32_MAX / units[k].ms)
            goto out_too_long;
        if (v == 0)
            return kos__mf_fail(c, &n->pos,
                                "restart_limit.period of app '%s' is 0; write a period of more "
                                "than 0, e.g. 10s",
                                app);
        *out = (uint32_t)(v * units[k].ms);
        return KOS_STATUS_OK;
    }
out_invalid:
    return kos__mf_fail(c, &n->pos,
                        "invalid duration %s for restart_limit.period of app '%s'; write a whole "
                        "number with a unit: ms, s, m or h, e.g. 500ms, 10s or 2m",
                        kos__mf_quote(n->str, n->len, q), app);
out_too_long:
    return kos__mf_fail(c, &n->pos,
                        "restart_limit.period %s of app '%s' is too long; the most is "
                        "4294967295ms (about 49 days)",
                        kos__mf_quote(n->str, n->len, q), app);
}

static kos_status_t parse_restart_limit(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                        struct kos_mf_app *app)
{
    char what[128], q[KOS__MF_QUOTE_SIZE];
    snprintf(what, sizeof(what), "restart_limit of app '%s'", app->name);
    kos_status_t st =
        kos__mf_expect(c, n, KOS__MF_MAP, what, "restart_limit: {max: 5, period: 10s}");
    if (st)
        return st;
    st = kos__mf_check_keys(c, n, limit_keys, what);
    if (st)
        return st;
    const struct kos__mf_node *max = kos__mf_get(n, "max", NULL);
    if (max != NULL) {
        snprintf(what, sizeof(what), "restart_limit.max of app '%s'", app->name);
        st = kos__mf_expect(c, max, KOS__MF_SCALAR, what, "max: 5");
        if (st)
            return st;
        uint64_t v;
        size_t i = parse_digits(max->str, max->len, &v);
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
        st = parse_period(c, period, app->name, &app->restart_period_ms);
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
    if (env == NULL)
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
    }
    app->env = env;
    app->n_env = n->n;
    return KOS_STATUS_OK;
}

/* Reads one `publish:` or `request:` list of protocol names. */
static kos_status_t parse_protocols(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                    const char *app, const char *server, const char *kind,
                                    const char *const **out, size_t *n_out)
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
    if (names == NULL)
        return kos__mf_oom(c);
    for (size_t i = 0; i < n->n; i++) {
        const struct kos__mf_node *p = n->items[i];
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
                                 &g->n_publish);
            if (st)
                return st;
        }
        const struct kos__mf_node *req = kos__mf_get(v, "request", NULL);
        if (req != NULL) {
            st = parse_protocols(c, req, app->name, g->server, "request", &g->request,
                                 &g->n_request);
            if (st)
                return st;
        }
    }
    app->grants = grants;
    app->n_grants = n->n;
    return KOS_STATUS_OK;
}

static kos_status_t build_app(struct kos__mf_ctx *c, const struct kos__mf_pair *pair,
                              const struct kos_manifest *m, const struct kos__mf_node *servers,
                              struct kos_mf_app *app)
{
    const struct kos__mf_node *k = pair->key, *v = pair->val, *f;
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
    app->binary = app->name;
    app->restart = KOS_CM_RESTART_PERMANENT;
    app->restart_max = KOS__MF_DEFAULT_RESTART_MAX;
    app->restart_period_ms = KOS__MF_DEFAULT_RESTART_PERIOD_MS;

    snprintf(what, sizeof(what), "app '%s'", app->name);
    if (v->kind == KOS__MF_SCALAR && v->null)
        return kos__mf_fail(c, &v->pos,
                            "expected a mapping of settings for app '%s', found null; write "
                            "e.g. %s: {binary: %s}, or %s: {} for the defaults",
                            app->name, app->name, app->name, app->name);
    st = kos__mf_expect(c, v, KOS__MF_MAP, what, "pong: {binary: pong, memory: 8MiB}");
    if (st)
        return st;
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
        st = parse_memory(c, f, app->name, &app->memory);
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
    m->signing = top->signing == NULL || strcmp(top->signing->str, "enabled") == 0;
    m->signing_pos = top->signing != NULL ? top->signing->pos : top->root->pos;

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
        st = build_app(c, pair, m, servers, &app[i]);
        if (st)
            return st;
        m->n_apps = i + 1;
    }
    if (n_apps == 0) {
        const struct kos_mf_pos *pos = top->apps_key ? &top->apps_key->pos : &top->root->pos;
        return kos__mf_fail(c, pos,
                            "the system has no apps; declare at least one under 'apps:', e.g. "
                            "apps: {pong: {binary: pong}}");
    }
    return KOS_STATUS_OK;
}
