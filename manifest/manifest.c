/*
 * manifest.c - loading a manifest and its base layer, and merging the two.
 *
 * A manifest file and the layer it names are each parsed into a tree
 * (tree.c); their top levels are checked here, then the manifest's
 * `memory_regions`, `message_servers` and `apps` are merged over the layer's:
 * entries with a new name are added after the layer's, entries with a layer's name are merged
 * into it key by key (mappings recursively; scalars and sequences replace),
 * and an entry whose value is null removes the layer's entry of that name.
 * A layer app marked `optional: true` is kept only when the manifest names
 * it. Every node keeps the position of the file it came from, so errors found
 * after the merge (validate.c) still point at the right file and line.
 *
 * What stays true: a kos_manifest handed to the caller owns all its memory
 * in one arena, released by kos_manifest_destroy(); on any error nothing is
 * handed out, every allocation is released, and *err holds the first error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "mf_int.h"

/* A finished manifest and the arena that holds everything it points at.
 * `m` is first, so the pointer handed out is also the owner's. */
struct mf_owner {
    struct kos_manifest m;
    struct kos__mf_arena keep;
};

static const char *const system_keys[] = {
    "system",    "base",           "release",         "overlay", "signing", "profile",
    "isolation", "memory_regions", "message_servers", "apps",    NULL};
static const char *const layer_keys[] = {"layer", "memory_regions", "message_servers", "apps",
                                         NULL};

/* Reads at most KOS__MF_MAX_FILE bytes from fd into a malloc()ed buffer.
 * Returns 0, an errno value, or EFBIG when the file is larger. */
static int read_fd(int fd, char **out, size_t *out_len)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap > KOS__MF_MAX_FILE) {
                free(buf);
                return EFBIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > KOS__MF_MAX_FILE) {
            free(buf);
            return EFBIG;
        }
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Reads the file at `path`; on error reports it (at `at`, or naming the
 * path when at is NULL) and returns the status. `what` says what the file
 * is, for the message. */
static kos_status_t read_file(struct kos__mf_ctx *c, const char *path, const char *what,
                              const struct kos_mf_pos *at, char **text, size_t *len)
{
    struct kos_mf_pos whole = {path, 0, 0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int e = fd < 0 ? errno : read_fd(fd, text, len);
    if (fd >= 0)
        close(fd);
    if (e == 0)
        return KOS_STATUS_OK;
    if (e == ENOMEM)
        return kos__mf_oom(c);
    if (e == EFBIG)
        return kos__mf_fail(c, at ? at : &whole,
                            "%s '%s' is larger than %u bytes, the most a manifest file may hold",
                            what, path, KOS__MF_MAX_FILE);
    return kos__mf_fail_st(c, KOS_STATUS_IO, at ? at : &whole, "cannot read %s '%s': %s", what,
                           path, strerror(e));
}

/* Checks that `n` is a scalar holding a valid name. */
static kos_status_t check_name(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                               const char *what, const char *example)
{
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, example);
    if (st)
        return st;
    if (!kos__mf_name_valid(n->str, n->len)) {
        char q[KOS__MF_QUOTE_SIZE];
        return kos__mf_fail(c, &n->pos, "invalid %s %s; " KOS__MF_NAME_RULE, what,
                            kos__mf_quote(n->str, n->len, q));
    }
    return KOS_STATUS_OK;
}

/* Checks that `n`, the top-level key `key`, is a scalar holding a whole
 * number from 1 to max, higher for each `what` ("release of the system"). */
static kos_status_t check_number(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                 const char *key, const char *example, uint32_t max,
                                 const char *what)
{
    uint64_t v;
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, key, example);
    if (st)
        return st;
    size_t i = kos__parse_digits(n->str, n->len, &v);
    if (i == 0 || i != n->len || v == 0 || v > max) {
        char q[KOS__MF_QUOTE_SIZE];
        return kos__mf_fail(c, &n->pos,
                            "invalid %s number %s; write a whole number from 1 to %u, higher "
                            "for each %s",
                            key, kos__mf_quote(n->str, n->len, q), max, what);
    }
    return KOS_STATUS_OK;
}

/* Checks a `message_servers:` or `apps:` section of one file: a mapping of
 * at most KOS_CM_MAX_PROCS entries. */
static kos_status_t check_section(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                                  const char *what, const char *example)
{
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_MAP, what, example);
    if (st)
        return st;
    if (n->n > KOS_CM_MAX_PROCS)
        return kos__mf_fail(c, &n->pos,
                            "%s has %zu entries; a system has at most %u message servers and apps "
                            "in all",
                            what, n->n, KOS_CM_MAX_PROCS);
    return KOS_STATUS_OK;
}

static const char *const profiles[] = {"release", "development", NULL};
static const char *const isolations[] = {"strict", "best_effort", NULL};

/* Checks that `n` is a scalar holding one of `valid` (NULL-ended). */
static kos_status_t check_enum(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                               const char *what, const char *example, const char *const *valid)
{
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_SCALAR, what, example);
    if (st)
        return st;
    char list[128] = "";
    size_t o = 0;
    for (size_t i = 0; valid[i] != NULL; i++) {
        if (strcmp(n->str, valid[i]) == 0)
            return KOS_STATUS_OK;
        int w = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", valid[i]);
        if (w > 0 && (size_t)w < sizeof(list) - o)
            o += (size_t)w;
    }
    char q[KOS__MF_QUOTE_SIZE];
    return kos__mf_fail(c, &n->pos, "invalid value %s for %s; valid values: %s",
                        kos__mf_quote(n->str, n->len, q), what, list);
}

/* Checks a `memory_regions:` section of one file: a mapping of at most
 * KOS__MF_MAX_REGIONS entries. */
static kos_status_t check_regions(struct kos__mf_ctx *c, const struct kos__mf_node *n)
{
    kos_status_t st = kos__mf_expect(c, n, KOS__MF_MAP, "memory_regions",
                                     "memory_regions: {frame: {size: 64KiB}}");
    if (st)
        return st;
    if (n->n > KOS__MF_MAX_REGIONS)
        return kos__mf_fail(c, &n->pos,
                            "memory_regions has %zu entries; a system has at most %u memory "
                            "regions",
                            n->n, KOS__MF_MAX_REGIONS);
    return KOS_STATUS_OK;
}

/* Checks the top level of the system manifest and fills *top (all but the
 * merged sections). */
static kos_status_t check_system_top(struct kos__mf_ctx *c, const struct kos__mf_node *root,
                                     struct kos__mf_top *top)
{
    kos_status_t st;

    if (root->kind != KOS__MF_MAP)
        return kos__mf_fail(c, &root->pos,
                            "expected a mapping at the top of the manifest, found %s; a manifest "
                            "starts with 'system: NAME'",
                            kos__mf_kind_name(root));
    st = kos__mf_check_keys(c, root, system_keys, "the manifest's top level");
    if (st)
        return st;
    top->root = root;
    top->system = kos__mf_get(root, "system", NULL);
    if (top->system == NULL)
        return kos__mf_fail(c, &root->pos,
                            "missing key 'system'; a manifest starts with 'system: NAME'");
    st = check_name(c, top->system, "system name", "system: my_system");
    if (st)
        return st;
    top->base = kos__mf_get(root, "base", NULL);
    if (top->base != NULL) {
        st = check_name(c, top->base, "base layer name", "base: minimal");
        if (st)
            return st;
    }
    top->release = kos__mf_get(root, "release", NULL);
    if (top->release != NULL) {
        st = check_number(c, top->release, "release", "release: 12", UINT32_MAX,
                          "release of the system");
        if (st)
            return st;
    }
    top->overlay = kos__mf_get(root, "overlay", NULL);
    if (top->overlay != NULL) {
        const struct kos__mf_node *o = top->overlay;
        st = check_number(c, o, "overlay", "overlay: 1", KOS_CM_OVERLAY_MAX,
                          "overlay of the release");
        if (st)
            return st;
        if (top->release == NULL)
            return kos__mf_fail(c, &o->pos,
                                "overlay: without release: an overlay is a change on top of a "
                                "numbered release; say which, e.g. release: 12 with overlay: 1");
    }
    top->signing = kos__mf_get(root, "signing", NULL);
    if (top->signing != NULL) {
        const struct kos__mf_node *s = top->signing;
        st = kos__mf_expect(c, s, KOS__MF_SCALAR, "signing", "signing: enabled");
        if (st)
            return st;
        if (strcmp(s->str, "enabled") != 0 && strcmp(s->str, "disabled") != 0) {
            char q[KOS__MF_QUOTE_SIZE];
            return kos__mf_fail(c, &s->pos,
                                "invalid value %s for signing; valid values: enabled, disabled",
                                kos__mf_quote(s->str, s->len, q));
        }
    }
    top->profile = kos__mf_get(root, "profile", NULL);
    if (top->profile != NULL) {
        st = check_enum(c, top->profile, "profile", "profile: release", profiles);
        if (st)
            return st;
    }
    top->isolation = kos__mf_get(root, "isolation", NULL);
    if (top->isolation != NULL) {
        st = check_enum(c, top->isolation, "isolation", "isolation: strict", isolations);
        if (st)
            return st;
    }
    top->regions = kos__mf_get(root, "memory_regions", NULL);
    if (top->regions != NULL) {
        st = check_regions(c, top->regions);
        if (st)
            return st;
    }
    top->servers = kos__mf_get(root, "message_servers", NULL);
    if (top->servers != NULL) {
        st = check_section(c, top->servers, "message_servers",
                           "message_servers: {msg0: {binary: msg_server}}");
        if (st)
            return st;
    }
    top->apps = kos__mf_get(root, "apps", &top->apps_key);
    if (top->apps != NULL) {
        st = check_section(c, top->apps, "apps", "apps: {pong: {binary: pong}}");
        if (st)
            return st;
    }
    return KOS_STATUS_OK;
}

/* Checks the top level of a layer file loaded as base layer `name`. */
static kos_status_t check_layer_top(struct kos__mf_ctx *c, const struct kos__mf_node *root,
                                    const char *name, const struct kos__mf_node **regions,
                                    const struct kos__mf_node **servers,
                                    const struct kos__mf_node **apps)
{
    kos_status_t st;

    if (root->kind != KOS__MF_MAP)
        return kos__mf_fail(c, &root->pos,
                            "expected a mapping at the top of the layer file, found %s; a layer "
                            "file starts with 'layer: NAME'",
                            kos__mf_kind_name(root));
    st = kos__mf_check_keys(c, root, layer_keys, "a layer file's top level");
    if (st)
        return st;
    const struct kos__mf_node *layer = kos__mf_get(root, "layer", NULL);
    if (layer == NULL)
        return kos__mf_fail(c, &root->pos,
                            "missing key 'layer'; a layer file starts with 'layer: NAME'");
    st = check_name(c, layer, "layer name", "layer: minimal");
    if (st)
        return st;
    if (strcmp(layer->str, name) != 0)
        return kos__mf_fail(c, &layer->pos,
                            "this file declares layer '%s' but was loaded as base layer '%s'; "
                            "the name after 'layer:' must match the file's name",
                            layer->str, name);
    *regions = kos__mf_get(root, "memory_regions", NULL);
    if (*regions != NULL) {
        st = check_regions(c, *regions);
        if (st)
            return st;
    }
    *servers = kos__mf_get(root, "message_servers", NULL);
    if (*servers != NULL) {
        st = check_section(c, *servers, "message_servers",
                           "message_servers: {msg0: {binary: msg_server}}");
        if (st)
            return st;
    }
    *apps = kos__mf_get(root, "apps", NULL);
    if (*apps != NULL) {
        st = check_section(c, *apps, "apps", "apps: {log: {binary: log_server}}");
        if (st)
            return st;
    }
    return KOS_STATUS_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Lists the *.yaml files of the layer folders into buf, sorted, for the
 * "layer not found" message. */
static const char *list_layers(const struct kos_mf_options *opts, char *buf, size_t size)
{
    enum { MAX_NAMES = 32 };
    char names[MAX_NAMES][64];
    size_t n = 0;
    bool more = false;

    for (size_t d = 0; opts != NULL && opts->layer_dirs != NULL && d < opts->n_layer_dirs; d++) {
        DIR *dir = opts->layer_dirs[d] ? opendir(opts->layer_dirs[d]) : NULL;
        if (dir == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            size_t len = strlen(de->d_name);
            if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0 ||
                !kos__mf_name_valid(de->d_name, len - 5))
                continue;
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                dup = strlen(names[i]) == len - 5 && memcmp(names[i], de->d_name, len - 5) == 0;
            if (dup)
                continue;
            if (n == MAX_NAMES) {
                more = true;
                continue;
            }
            memcpy(names[n], de->d_name, len - 5);
            names[n][len - 5] = '\0';
            n++;
        }
        closedir(dir);
    }
    qsort(names, n, sizeof(names[0]), cmp_names);
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= size - o)
            break;
        o += (size_t)w;
    }
    if (n == 0)
        snprintf(buf, size, "none");
    else if (more && o + 5 < size)
        snprintf(buf + o, size - o, ", ...");
    return buf;
}

/* Finds and reads "<name>.yaml" in the layer folders, in order. */
static kos_status_t find_layer(struct kos__mf_ctx *c, const struct kos_mf_options *opts,
                               const struct kos__mf_node *base, const char **path, char **text,
                               size_t *len)
{
    char buf[4096];
    for (size_t d = 0; opts != NULL && opts->layer_dirs != NULL && d < opts->n_layer_dirs; d++) {
        const char *dir = opts->layer_dirs[d];
        if (dir == NULL)
            continue;
        int w = snprintf(buf, sizeof(buf), "%s/%s.yaml", dir, base->str);
        if (w < 0 || (size_t)w >= sizeof(buf))
            continue;
        if (access(buf, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR))
            continue;
        *path = kos__mf_strndup(&c->keep, buf, (size_t)w);
        if (*path == NULL)
            return kos__mf_oom(c);
        return read_file(c, *path, "base layer file", &base->pos, text, len);
    }
    char avail[1024];
    return kos__mf_fail(c, &base->pos,
                        "base layer '%s' not found in the layer folders; available layers: %s",
                        base->str, list_layers(opts, avail, sizeof(avail)));
}

/* Returns a new mapping: `l`'s entries with `u`'s merged over them. */
static struct kos__mf_node *merge_nodes(struct kos__mf_ctx *c, const struct kos__mf_node *l,
                                        const struct kos__mf_node *u);

/* Index of key `k` among the first `n` pairs, or SIZE_MAX. */
static size_t find_pair(const struct kos__mf_pair *pairs, size_t n, const struct kos__mf_node *k)
{
    for (size_t i = 0; i < n; i++) {
        const struct kos__mf_node *pk = pairs[i].key;
        if (pairs[i].val != NULL && pk->len == k->len && memcmp(pk->str, k->str, k->len) == 0)
            return i;
    }
    return SIZE_MAX;
}

/* Merges `u` over `l`: two mappings merge key by key, anything else is
 * replaced by `u`. Returns NULL when out of memory. */
static struct kos__mf_node *merge_nodes(struct kos__mf_ctx *c, const struct kos__mf_node *l,
                                        const struct kos__mf_node *u)
{
    if (l == NULL || l->kind != KOS__MF_MAP || u->kind != KOS__MF_MAP)
        return (struct kos__mf_node *)u;
    struct kos__mf_node *m = kos__mf_alloc(&c->work, sizeof(*m));
    if (m == NULL)
        return NULL;
    *m = *u;
    m->pairs = kos__mf_alloc(&c->work, (l->n + u->n) * sizeof(struct kos__mf_pair));
    if (m->pairs == NULL)
        return NULL;
    if (l->n > 0)
        memcpy(m->pairs, l->pairs, l->n * sizeof(struct kos__mf_pair));
    m->n = l->n;
    for (size_t i = 0; i < u->n; i++) {
        const struct kos__mf_pair *up = &u->pairs[i];
        size_t j = find_pair(m->pairs, l->n, up->key);
        if (j == SIZE_MAX) {
            m->pairs[m->n++] = *up;
            continue;
        }
        struct kos__mf_node *v = merge_nodes(c, m->pairs[j].val, up->val);
        if (v == NULL)
            return NULL;
        m->pairs[j].key = up->key;
        m->pairs[j].val = v;
    }
    return m;
}

/*
 * Takes the `optional:` key out of each of a layer's apps (`lapps`, a
 * checked mapping) and marks the entry instead, so that validate.c sees a
 * plain app. An optional app is part of a system only when the manifest
 * names it (docs/manifest.md, "Optional entries"). Only a layer's apps may
 * be optional; the value is true or false.
 */
static kos_status_t take_optional(struct kos__mf_ctx *c, struct kos__mf_node *lapps)
{
    for (size_t i = 0; i < lapps->n; i++) {
        struct kos__mf_pair *p = &lapps->pairs[i];
        const struct kos__mf_node *k = NULL, *v;
        struct kos__mf_node *copy;
        char q[KOS__MF_QUOTE_SIZE];

        if (p->val->kind != KOS__MF_MAP || (v = kos__mf_get(p->val, "optional", &k)) == NULL)
            continue;
        if (v->kind != KOS__MF_SCALAR || v->null ||
            (strcmp(v->str, "true") && strcmp(v->str, "false")))
            return kos__mf_fail(c, &v->pos,
                                "invalid value %s for optional of app '%s'; valid values: true "
                                "(the app is part of a system only when its manifest names it), "
                                "false",
                                v->kind == KOS__MF_SCALAR && !v->null
                                    ? kos__mf_quote(v->str, v->len, q)
                                    : kos__mf_kind_name(v),
                                p->key->str);
        p->optional = strcmp(v->str, "true") == 0;
        copy = kos__mf_alloc(&c->work, sizeof(*copy));
        if (copy == NULL)
            return kos__mf_oom(c);
        *copy = *p->val;
        copy->pairs = kos__mf_alloc(&c->work, (p->val->n ? p->val->n : 1) * sizeof(*copy->pairs));
        if (copy->pairs == NULL)
            return kos__mf_oom(c);
        copy->n = 0;
        for (size_t j = 0; j < p->val->n; j++)
            if (p->val->pairs[j].key != k)
                copy->pairs[copy->n++] = p->val->pairs[j];
        p->val = copy;
    }
    return KOS_STATUS_OK;
}

/* Merges the manifest's section `u` (apps or message servers) over the
 * layer's `l`, removing the layer's entries that `u` sets to null and the
 * optional ones (apps only) that `u` does not name. `what` names one entry
 * ("app"); `whats` the section ("apps"). `base` is the manifest's base
 * node, or NULL when it has none. */
static kos_status_t merge_section(struct kos__mf_ctx *c, const struct kos__mf_node *l,
                                  const struct kos__mf_node *u, const char *what, const char *whats,
                                  const struct kos__mf_node *base, const struct kos__mf_node **out)
{
    if (u == NULL && l != NULL) {
        /* The layer's section as is: every entry is the layer's. */
        struct kos__mf_node *m = kos__mf_alloc(&c->work, sizeof(*m));
        if (m == NULL)
            return kos__mf_oom(c);
        *m = *l;
        m->pairs = kos__mf_alloc(&c->work, (l->n ? l->n : 1) * sizeof(struct kos__mf_pair));
        if (m->pairs == NULL)
            return kos__mf_oom(c);
        m->n = 0;
        for (size_t i = 0; i < l->n; i++) {
            if (l->pairs[i].optional)
                continue; /* not named, so not part of the system */
            m->pairs[m->n] = l->pairs[i];
            m->pairs[m->n++].from_layer = true;
        }
        *out = m;
        return KOS_STATUS_OK;
    }
    if (u == NULL) {
        *out = l;
        return KOS_STATUS_OK;
    }
    size_t ln = l != NULL ? l->n : 0;
    struct kos__mf_node *m = kos__mf_alloc(&c->work, sizeof(*m));
    if (m == NULL)
        return kos__mf_oom(c);
    *m = *u;
    m->pairs = kos__mf_alloc(&c->work, (ln + u->n) * sizeof(struct kos__mf_pair));
    if (m->pairs == NULL)
        return kos__mf_oom(c);
    if (ln > 0)
        memcpy(m->pairs, l->pairs, ln * sizeof(struct kos__mf_pair));
    for (size_t i = 0; i < ln; i++)
        m->pairs[i].from_layer = true;
    m->n = ln;
    for (size_t i = 0; i < u->n; i++) {
        const struct kos__mf_pair *up = &u->pairs[i];
        size_t j = find_pair(m->pairs, ln, up->key);
        char q[KOS__MF_QUOTE_SIZE];
        if (up->val->kind == KOS__MF_SCALAR && up->val->null) {
            if (base == NULL && strcmp(what, "memory region") == 0)
                return kos__mf_fail(c, &up->key->pos,
                                    "%s %s is set to null, which removes the base layer's %s of "
                                    "that name, but this manifest has no base layer; write "
                                    "'%.*s: {size: 64KiB}' to declare a memory region",
                                    what, kos__mf_quote(up->key->str, up->key->len, q), what,
                                    (int)(up->key->len > 63 ? 63 : up->key->len), up->key->str);
            if (base == NULL)
                return kos__mf_fail(c, &up->key->pos,
                                    "%s %s is set to null, which removes the base layer's %s of "
                                    "that name, but this manifest has no base layer; write "
                                    "'%.*s: {}' for %s %s with default settings",
                                    what, kos__mf_quote(up->key->str, up->key->len, q), what,
                                    (int)(up->key->len > 63 ? 63 : up->key->len), up->key->str,
                                    what[0] == 'a' ? "an" : "a", what);
            if (j == SIZE_MAX) {
                char list[256];
                return kos__mf_fail(c, &up->key->pos,
                                    "cannot remove %s %s: base layer '%s' has no %s of that "
                                    "name; its %s: %s",
                                    what, kos__mf_quote(up->key->str, up->key->len, q), base->str,
                                    what, whats, kos__mf_list_keys(l, list, sizeof(list)));
            }
            m->pairs[j].val = NULL; /* removed; compacted below */
            continue;
        }
        if (j == SIZE_MAX) {
            m->pairs[m->n++] = *up;
            continue;
        }
        struct kos__mf_node *v = merge_nodes(c, m->pairs[j].val, up->val);
        if (v == NULL)
            return kos__mf_oom(c);
        m->pairs[j].key = up->key;
        m->pairs[j].val = v;
        m->pairs[j].named = true;
    }
    /* Drop what was removed, and the optional layer apps nobody named. */
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->pairs[i].val != NULL && !(m->pairs[i].optional && !m->pairs[i].named))
            m->pairs[k++] = m->pairs[i];
    m->n = k;
    *out = m;
    return KOS_STATUS_OK;
}

/* Reads, layers and validates `text`; on success *out owns c->keep. */
static kos_status_t read_manifest(struct kos__mf_ctx *c, const char *name, const char *text,
                                  size_t len, const struct kos_mf_options *opts,
                                  struct kos_manifest **out)
{
    kos_status_t st;
    struct kos__mf_top top = {0};
    struct kos__mf_node *root = NULL;
    const struct kos__mf_node *lregions = NULL, *lservers = NULL, *lapps = NULL;
    char *ltext = NULL;

    const char *file = kos__mf_strndup(&c->keep, name, strlen(name));
    if (file == NULL)
        return kos__mf_oom(c);
    struct kos_mf_pos start = {file, 1, 1};
    if (len > KOS__MF_MAX_FILE)
        return kos__mf_fail(c, &(struct kos_mf_pos){file, 0, 0},
                            "the manifest is larger than %u bytes, the most a manifest file may "
                            "hold",
                            KOS__MF_MAX_FILE);
    st = kos__mf_tree_parse(c, file, text, len, &root);
    if (st)
        return st;
    if (root == NULL)
        return kos__mf_fail(c, &start,
                            "the manifest is empty; a manifest starts with 'system: NAME' and "
                            "declares its apps under 'apps:'");
    st = check_system_top(c, root, &top);
    if (st)
        return st;

    if (top.base != NULL) {
        const char *lpath = NULL;
        size_t llen = 0;
        struct kos__mf_node *lroot = NULL;
        st = find_layer(c, opts, top.base, &lpath, &ltext, &llen);
        if (st)
            return st;
        st = kos__mf_tree_parse(c, lpath, ltext, llen, &lroot);
        if (st)
            goto out_free_layer_text;
        if (lroot == NULL) {
            st = kos__mf_fail(c, &(struct kos_mf_pos){lpath, 1, 1},
                              "the layer file is empty; a layer file starts with 'layer: NAME'");
            goto out_free_layer_text;
        }
        st = check_layer_top(c, lroot, top.base->str, &lregions, &lservers, &lapps);
        if (st)
            goto out_free_layer_text;
        if (lapps != NULL) {
            st = take_optional(c, (struct kos__mf_node *)lapps);
            if (st)
                goto out_free_layer_text;
        }
    }

    st = merge_section(c, lregions, top.regions, "memory region", "memory regions", top.base,
                       &top.regions);
    if (st)
        goto out_free_layer_text;
    st = merge_section(c, lservers, top.servers, "message server", "message servers", top.base,
                       &top.servers);
    if (st)
        goto out_free_layer_text;
    st = merge_section(c, lapps, top.apps, "app", "apps", top.base, &top.apps);
    if (st)
        goto out_free_layer_text;

    struct mf_owner *own = calloc(1, sizeof(*own));
    if (own == NULL) {
        st = kos__mf_oom(c);
        goto out_free_layer_text;
    }
    st = kos__mf_build(c, &top, &own->m);
    if (st) {
        free(own);
        goto out_free_layer_text;
    }
    own->keep = c->keep;
    c->keep.head = NULL;
    *out = &own->m;

out_free_layer_text:
    free(ltext);
    return st;
}

kos_status_t kos_manifest_parse(const char *name, const char *text, size_t len,
                                const struct kos_mf_options *opts, struct kos_manifest **out,
                                struct kos_mf_error *err)
{
    struct kos__mf_ctx c = {.err = err};
    if (name == NULL)
        name = "<manifest>";
    if (out == NULL || (text == NULL && len > 0))
        return kos__mf_fail_st(&c, KOS_STATUS_INVALID_ARGUMENT, NULL,
                               "kos_manifest_parse: no text or no place for the result");
    if (text == NULL)
        text = "";
    kos_status_t st = read_manifest(&c, name, text, len, opts, out);
    kos__mf_arena_free(&c.work);
    kos__mf_arena_free(&c.keep);
    return st;
}

kos_status_t kos_manifest_load(const char *path, const struct kos_mf_options *opts,
                               struct kos_manifest **out, struct kos_mf_error *err)
{
    struct kos__mf_ctx c = {.err = err};
    char *text = NULL;
    size_t len = 0;
    if (path == NULL || out == NULL)
        return kos__mf_fail_st(&c, KOS_STATUS_INVALID_ARGUMENT, NULL,
                               "kos_manifest_load: no path or no place for the result");
    kos_status_t st = read_file(&c, path, "manifest", NULL, &text, &len);
    if (st)
        return st;
    st = kos_manifest_parse(path, text, len, opts, out, err);
    free(text);
    return st;
}

void kos_manifest_destroy(struct kos_manifest *m)
{
    if (m == NULL)
        return;
    struct mf_owner *own = (struct mf_owner *)m;
    kos__mf_arena_free(&own->keep);
    free(own);
}

void kos_mf_error_format(const struct kos_mf_error *err, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    if (err == NULL) {
        snprintf(buf, len, "no error");
    } else if (err->file[0] != '\0' && err->line > 0) {
        snprintf(buf, len, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
    } else if (err->file[0] != '\0') {
        snprintf(buf, len, "%s: %s", err->file, err->msg);
    } else {
        snprintf(buf, len, "%s", err->msg);
    }
}
