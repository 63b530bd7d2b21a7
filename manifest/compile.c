/*
 * compile.c - a validated manifest to the compiled form of compiled.h.
 *
 * The compiler lays the buffer out as header, process table (message servers
 * in m->servers order, then apps in m->apps order), region table (in
 * m->regions order), grant table, resource table (per app: its devices, then
 * its memory regions, in manifest order), string-reference table (per app:
 * arguments, environment, config) and string pool, in that order with no
 * gaps. Equal strings are stored once. What stays true: the buffer it returns is
 * accepted by kos_cm_open() (it checks its own output before handing it
 * over), so a manifest that does not hold kos_manifest_load()'s guarantees
 * is refused here rather than producing a buffer Core would refuse later.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiled.h"
#include "mf_int.h"

/* The string pool under construction, with a hash set for deduplication. */
struct pool {
    char *buf;
    size_t len, cap;
    uint32_t *slot; /* offset + 1; 0 = empty */
    size_t nslot;   /* a power of two */
    size_t count;
};

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool pool_grow_slots(struct pool *p)
{
    size_t nslot = p->nslot ? p->nslot * 2 : 256;
    uint32_t *slot = calloc(nslot, sizeof(uint32_t));
    if (slot == NULL)
        return false;
    for (size_t i = 0; i < p->nslot; i++) {
        if (p->slot[i] == 0)
            continue;
        const char *s = p->buf + p->slot[i] - 1;
        size_t j = (size_t)hash_str(s, strlen(s)) & (nslot - 1);
        while (slot[j] != 0)
            j = (j + 1) & (nslot - 1);
        slot[j] = p->slot[i];
    }
    free(p->slot);
    p->slot = slot;
    p->nslot = nslot;
    return true;
}

/* Stores `s` once and sets *off to its offset in the pool. Fails with
 * KOS_STATUS_NO_MEMORY, or KOS_STATUS_TOO_LARGE when the pool would pass
 * the compiled form's size limit. */
static kos_status_t pool_add(struct pool *p, const char *s, uint32_t *off)
{
    size_t n = strlen(s);
    if ((p->count + 1) * 2 > p->nslot && !pool_grow_slots(p))
        return KOS_STATUS_NO_MEMORY;
    size_t j = (size_t)hash_str(s, n) & (p->nslot - 1);
    while (p->slot[j] != 0) {
        if (strcmp(p->buf + p->slot[j] - 1, s) == 0) {
            *off = p->slot[j] - 1;
            return KOS_STATUS_OK;
        }
        j = (j + 1) & (p->nslot - 1);
    }
    if (n >= KOS_CM_MAX_SIZE || p->len + n + 1 > KOS_CM_MAX_SIZE)
        return KOS_STATUS_TOO_LARGE;
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n + 1)
            cap *= 2;
        char *nb = realloc(p->buf, cap);
        if (nb == NULL)
            return KOS_STATUS_NO_MEMORY;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n + 1);
    *off = (uint32_t)p->len;
    p->slot[j] = (uint32_t)p->len + 1;
    p->len += n + 1;
    p->count++;
    return KOS_STATUS_OK;
}

/* The tables under construction. */
struct tables {
    struct pool pool;
    struct kos_cm_proc *procs;
    struct kos_cm_grant *grants;
    struct kos_cm_res *res;
    struct kos_cm_region *regions;
    uint32_t *strrefs;
    uint32_t n_procs, n_grants, n_res, n_strrefs;
};

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        kos_status_t try_st_ = (expr);                                                             \
        if (try_st_)                                                                               \
            return try_st_;                                                                        \
    } while (0)

/* Counts the grant, resource and string-reference entries `m` needs; fails
 * with KOS_STATUS_TOO_LARGE if the tables alone would pass the size limit. */
static kos_status_t count_entries(const struct kos_manifest *m, uint64_t *n_grants, uint64_t *n_res,
                                  uint64_t *n_strrefs)
{
    uint64_t g = 0, r = 0, res = 0;
    for (size_t a = 0; a < m->n_apps; a++) {
        const struct kos_mf_app *app = &m->apps[a];
        if (app->n_args > KOS__MF_MAX_ARGS || app->n_env > KOS__MF_MAX_ENV ||
            app->n_grants > KOS_CM_MAX_PROCS || app->n_config > KOS__MF_MAX_CONFIG ||
            app->n_devices > KOS__MF_MAX_RES || app->n_regions > KOS__MF_MAX_RES ||
            app->n_devices + app->n_regions > KOS__MF_MAX_RES)
            return KOS_STATUS_INVALID_ARGUMENT;
        r += app->n_args + app->n_env + app->n_config;
        res += app->n_devices + app->n_regions;
        for (size_t i = 0; i < app->n_grants; i++) {
            const struct kos_mf_grant *gr = &app->grants[i];
            if (gr->n_publish > KOS_CM_MAX_SIZE || gr->n_request > KOS_CM_MAX_SIZE)
                return KOS_STATUS_TOO_LARGE;
            g += gr->n_publish + gr->n_request;
        }
        if (g * sizeof(struct kos_cm_grant) + r * sizeof(uint32_t) +
                res * sizeof(struct kos_cm_res) >
            KOS_CM_MAX_SIZE)
            return KOS_STATUS_TOO_LARGE;
    }
    *n_grants = g;
    *n_res = res;
    *n_strrefs = r;
    return KOS_STATUS_OK;
}

static kos_status_t add_grants(struct tables *t, const struct kos_manifest *m,
                               const struct kos_mf_grant *gr, uint32_t kind,
                               const char *const *names, size_t n)
{
    uint32_t server = UINT32_MAX;
    for (size_t s = 0; s < m->n_servers; s++)
        if (gr->server != NULL && strcmp(m->servers[s].name, gr->server) == 0)
            server = (uint32_t)s;
    if (server == UINT32_MAX)
        return KOS_STATUS_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        struct kos_cm_grant *g = &t->grants[t->n_grants++];
        g->server = server;
        g->kind = kind;
        TRY(pool_add(&t->pool, names[i], &g->protocol));
    }
    return KOS_STATUS_OK;
}

static kos_status_t add_server(struct tables *t, const struct kos_mf_server *srv,
                               const uint8_t *sha)
{
    struct kos_cm_proc *p = &t->procs[t->n_procs++];
    TRY(pool_add(&t->pool, srv->name, &p->name));
    TRY(pool_add(&t->pool, srv->binary, &p->binary));
    p->role = KOS_CM_ROLE_MSG_SERVER;
    p->restart = KOS_CM_RESTART_PERMANENT;
    p->restart_max = KOS__MF_DEFAULT_RESTART_MAX;
    p->restart_period_ms = KOS__MF_DEFAULT_RESTART_PERIOD_MS;
    if (sha != NULL)
        memcpy(p->sha256, sha, 32);
    p->args_first = p->env_first = p->config_first = t->n_strrefs;
    p->grants_first = t->n_grants;
    p->res_first = t->n_res;
    return KOS_STATUS_OK;
}

/* Adds "key=value" to the pool as string reference *ref. */
static kos_status_t add_config(struct tables *t, const struct kos_mf_config *cf, uint32_t *ref)
{
    if (cf->key == NULL || cf->value == NULL)
        return KOS_STATUS_INVALID_ARGUMENT;
    char *kv = NULL;
    if (asprintf(&kv, "%s=%s", cf->key, cf->value) < 0)
        return KOS_STATUS_NO_MEMORY;
    kos_status_t st = pool_add(&t->pool, kv, ref);
    free(kv);
    return st;
}

/* Adds an app's devices, then its memory regions, to the resource table. */
static kos_status_t add_res(struct tables *t, const struct kos_manifest *m,
                            const struct kos_mf_app *app)
{
    for (size_t i = 0; i < app->n_devices; i++) {
        const struct kos_mf_device *d = &app->devices[i];
        struct kos_cm_res *r = &t->res[t->n_res++];
        if (d->name == NULL || d->path == NULL)
            return KOS_STATUS_INVALID_ARGUMENT;
        r->kind = KOS_CM_RES_DEVICE;
        r->access = d->access;
        TRY(pool_add(&t->pool, d->name, &r->name));
        TRY(pool_add(&t->pool, d->path, &r->target));
    }
    for (size_t i = 0; i < app->n_regions; i++) {
        const struct kos_mf_region_use *u = &app->regions[i];
        struct kos_cm_res *r = &t->res[t->n_res++];
        if (u->name == NULL || u->region == NULL)
            return KOS_STATUS_INVALID_ARGUMENT;
        r->kind = KOS_CM_RES_REGION;
        r->access = u->access;
        r->target = UINT32_MAX;
        for (size_t g = 0; g < m->n_regions; g++)
            if (strcmp(m->regions[g].name, u->region) == 0)
                r->target = (uint32_t)g;
        if (r->target == UINT32_MAX)
            return KOS_STATUS_INVALID_ARGUMENT;
        TRY(pool_add(&t->pool, u->name, &r->name));
    }
    return KOS_STATUS_OK;
}

static kos_status_t add_app(struct tables *t, const struct kos_manifest *m,
                            const struct kos_mf_app *app, const uint8_t *sha)
{
    struct kos_cm_proc *p = &t->procs[t->n_procs++];
    TRY(pool_add(&t->pool, app->name, &p->name));
    TRY(pool_add(&t->pool, app->binary, &p->binary));
    p->role = KOS_CM_ROLE_APP;
    p->restart = (uint32_t)app->restart;
    p->memory = app->memory;
    p->flags = (app->ends_system ? KOS_CM_PROC_ENDS_SYSTEM : 0) |
               (app->data_dir ? KOS_CM_PROC_DATA_DIR : 0) | (app->debug ? KOS_CM_PROC_DEBUG : 0) |
               (app->network_host ? KOS_CM_PROC_NET_HOST : 0) |
               (app->device_keys ? KOS_CM_PROC_DEVICE_KEYS : 0) |
               (app->reports_self_test ? KOS_CM_PROC_SELF_TEST : 0) |
               (app->manages_system ? KOS_CM_PROC_MANAGES_SYSTEM : 0);
    p->max_procs = app->max_procs;
    p->max_files = app->max_files;
    p->storage = app->storage;
    p->restart_max = app->restart_max;
    p->restart_period_ms = app->restart_period_ms;
    p->restart_delay_ms = app->restart_delay_ms;
    p->restart_delay_max_ms = app->restart_delay_max_ms;
    if (sha != NULL)
        memcpy(p->sha256, sha, 32);

    p->args_first = t->n_strrefs;
    for (size_t i = 0; i < app->n_args; i++)
        TRY(pool_add(&t->pool, app->args[i], &t->strrefs[t->n_strrefs++]));
    p->n_args = (uint32_t)app->n_args;
    p->env_first = t->n_strrefs;
    for (size_t i = 0; i < app->n_env; i++)
        TRY(pool_add(&t->pool, app->env[i], &t->strrefs[t->n_strrefs++]));
    p->n_env = (uint32_t)app->n_env;
    p->config_first = t->n_strrefs;
    for (size_t i = 0; i < app->n_config; i++)
        TRY(add_config(t, &app->config[i], &t->strrefs[t->n_strrefs++]));
    p->n_config = (uint32_t)app->n_config;
    p->res_first = t->n_res;
    TRY(add_res(t, m, app));
    p->n_res = t->n_res - p->res_first;

    p->grants_first = t->n_grants;
    for (size_t i = 0; i < app->n_grants; i++) {
        const struct kos_mf_grant *gr = &app->grants[i];
        TRY(add_grants(t, m, gr, KOS_CM_GRANT_PUBLISH, gr->publish, gr->n_publish));
        TRY(add_grants(t, m, gr, KOS_CM_GRANT_REQUEST, gr->request, gr->n_request));
    }
    p->n_grants = t->n_grants - p->grants_first;
    return KOS_STATUS_OK;
}

static kos_status_t fill_tables(struct tables *t, const struct kos_manifest *m,
                                const uint8_t (*sha256)[32])
{
    uint32_t sys;
    TRY(pool_add(&t->pool, m->system, &sys));
    for (size_t i = 0; i < m->n_regions; i++) {
        if (m->regions[i].name == NULL)
            return KOS_STATUS_INVALID_ARGUMENT;
        t->regions[i].size = m->regions[i].size;
        TRY(pool_add(&t->pool, m->regions[i].name, &t->regions[i].name));
    }
    for (size_t s = 0; s < m->n_servers; s++)
        TRY(add_server(t, &m->servers[s], sha256 ? sha256[s] : NULL));
    for (size_t a = 0; a < m->n_apps; a++)
        TRY(add_app(t, m, &m->apps[a], sha256 ? sha256[m->n_servers + a] : NULL));
    return KOS_STATUS_OK;
}

kos_status_t kos_manifest_compile(const struct kos_manifest *m, const uint8_t (*sha256)[32],
                                  void **out, size_t *len)
{
    struct tables t = {0};
    uint64_t n_grants, n_res, n_strrefs;
    kos_status_t st;

    if (m == NULL || out == NULL || len == NULL || m->system == NULL ||
        (m->n_servers > 0 && m->servers == NULL) || (m->n_apps > 0 && m->apps == NULL) ||
        m->n_servers + m->n_apps == 0 || m->n_servers + m->n_apps > KOS_CM_MAX_PROCS ||
        (m->n_regions > 0 && m->regions == NULL) || m->n_regions > KOS__MF_MAX_REGIONS)
        return KOS_STATUS_INVALID_ARGUMENT;
    st = count_entries(m, &n_grants, &n_res, &n_strrefs);
    if (st)
        return st;

    size_t n_procs = m->n_servers + m->n_apps;
    t.procs = calloc(n_procs, sizeof(struct kos_cm_proc));
    t.grants = calloc(n_grants ? n_grants : 1, sizeof(struct kos_cm_grant));
    t.res = calloc(n_res ? n_res : 1, sizeof(struct kos_cm_res));
    t.regions = calloc(m->n_regions ? m->n_regions : 1, sizeof(struct kos_cm_region));
    t.strrefs = calloc(n_strrefs ? n_strrefs : 1, sizeof(uint32_t));
    if (t.procs == NULL || t.grants == NULL || t.res == NULL || t.regions == NULL ||
        t.strrefs == NULL) {
        st = KOS_STATUS_NO_MEMORY;
        goto out_free_tables;
    }
    st = fill_tables(&t, m, sha256);
    if (st)
        goto out_free_tables;

    uint64_t procs_off = sizeof(struct kos_cm_header);
    uint64_t regions_off = procs_off + (uint64_t)n_procs * sizeof(struct kos_cm_proc);
    uint64_t grants_off = regions_off + m->n_regions * sizeof(struct kos_cm_region);
    uint64_t res_off = grants_off + n_grants * sizeof(struct kos_cm_grant);
    uint64_t strrefs_off = res_off + n_res * sizeof(struct kos_cm_res);
    uint64_t strings_off = strrefs_off + n_strrefs * sizeof(uint32_t);
    uint64_t size = strings_off + t.pool.len;
    if (size > KOS_CM_MAX_SIZE) {
        st = KOS_STATUS_TOO_LARGE;
        goto out_free_tables;
    }

    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, 8, (size_t)size) != 0) {
        st = KOS_STATUS_NO_MEMORY;
        goto out_free_tables;
    }
    memset(buf, 0, (size_t)size);
    struct kos_cm_header *h = (struct kos_cm_header *)buf;
    memcpy(h->magic, KOS_CM_MAGIC, 4);
    h->version = KOS_CM_VERSION;
    h->release = m->release;
    h->size = (uint32_t)size;
    h->flags = (m->signing ? 0 : KOS_CM_SIGNING_DISABLED) |
               (m->isolation == KOS_MF_ISOLATION_BEST_EFFORT ? KOS_CM_ISOLATION_BEST_EFFORT : 0) |
               (m->profile == KOS_MF_PROFILE_DEVELOPMENT ? KOS_CM_PROFILE_DEVELOPMENT : 0) |
               m->overlay << KOS_CM_OVERLAY_SHIFT;
    h->system_name = 0; /* the first string added */
    h->n_procs = (uint32_t)n_procs;
    h->procs_off = (uint32_t)procs_off;
    h->n_grants = (uint32_t)n_grants;
    h->grants_off = (uint32_t)grants_off;
    h->n_strrefs = (uint32_t)n_strrefs;
    h->strrefs_off = (uint32_t)strrefs_off;
    h->strings_off = (uint32_t)strings_off;
    h->strings_len = (uint32_t)t.pool.len;
    h->n_res = (uint32_t)n_res;
    h->res_off = (uint32_t)res_off;
    h->n_regions = (uint32_t)m->n_regions;
    h->regions_off = (uint32_t)regions_off;
    memcpy(buf + procs_off, t.procs, n_procs * sizeof(struct kos_cm_proc));
    if (m->n_regions > 0)
        memcpy(buf + regions_off, t.regions, m->n_regions * sizeof(struct kos_cm_region));
    if (n_res > 0)
        memcpy(buf + res_off, t.res, n_res * sizeof(struct kos_cm_res));
    if (n_grants > 0)
        memcpy(buf + grants_off, t.grants, n_grants * sizeof(struct kos_cm_grant));
    if (n_strrefs > 0)
        memcpy(buf + strrefs_off, t.strrefs, n_strrefs * sizeof(uint32_t));
    memcpy(buf + strings_off, t.pool.buf, t.pool.len);

    /* The model did not hold what kos_manifest_load() guarantees (an
     * invalid name, a duplicate, a bad value): refuse it. */
    struct kos_cm cm;
    if (kos_cm_open(&cm, buf, (size_t)size, NULL, 0) != KOS_STATUS_OK) {
        free(buf);
        st = KOS_STATUS_INVALID_ARGUMENT;
        goto out_free_tables;
    }
    *out = buf;
    *len = (size_t)size;

out_free_tables:
    free(t.pool.buf);
    free(t.pool.slot);
    free(t.strrefs);
    free(t.regions);
    free(t.res);
    free(t.grants);
    free(t.procs);
    return st;
}
