/*
 * cmd_manifest.c - kos-tool manifest.build and manifest.check.
 *
 * manifest.build reads a manifest, finds every binary it names, and writes a
 * signed system image (manifest/image.h). manifest.check reads and validates
 * a manifest; the catalogue of assurance checks comes in a later issue.
 *
 * Layers and component binaries are found the same way in an installed SDK
 * and in a build tree: folders given on the command line first, then the
 * SDK's folders next to kos-tool (bin/../share/kos/layers and
 * bin/../lib/kos/components), or, when kos-tool is not installed, the source
 * tree's layers and the build tree's components (compile-time paths).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "image_int.h"
#include "manifest.h"
#include "tool_int.h"

#ifndef KOS_INSTALL_LAYERS_REL
#define KOS_INSTALL_LAYERS_REL "../share/kos/layers"
#endif
#ifndef KOS_INSTALL_COMPONENTS_REL
#define KOS_INSTALL_COMPONENTS_REL "../lib/kos/components"
#endif

#define BUILD_CMD "manifest.build"
#define CHECK_CMD "manifest.check"

/* A growable list of strings taken from argv or built here; `owned` marks
 * what must be freed. */
struct strlist {
    const char **v;
    bool *owned;
    size_t n, cap;
};

static bool strlist_init(struct strlist *l, size_t cap)
{
    l->n = 0;
    l->cap = cap;
    l->v = calloc(cap ? cap : 1, sizeof(*l->v));
    l->owned = calloc(cap ? cap : 1, sizeof(*l->owned));
    return l->v && l->owned;
}

static void strlist_push(struct strlist *l, const char *s, bool owned)
{
    if (l->n < l->cap) {
        l->owned[l->n] = owned;
        l->v[l->n++] = s;
    }
}

static void strlist_fini(struct strlist *l)
{
    for (size_t i = 0; l->owned && i < l->n; i++)
        if (l->owned[i])
            free((char *)l->v[i]);
    free(l->v);
    free(l->owned);
}

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends the SDK folder `rel` next to kos-tool if it exists, else the
 * build-tree folder `fallback` (may be NULL). */
static void push_default_dir(struct strlist *l, const char *rel, const char *fallback)
{
    const char *self = kos__tool_self_dir();
    char *p = NULL;

    if (self && asprintf(&p, "%s/%s", self, rel) >= 0 && is_dir(p)) {
        strlist_push(l, p, true);
        return;
    }
    free(p);
    if (fallback)
        strlist_push(l, fallback, false);
}

static const char *default_layers_dir(void)
{
#ifdef KOS_SOURCE_LAYERS_DIR
    return KOS_SOURCE_LAYERS_DIR;
#else
    return NULL;
#endif
}

static const char *default_components_dir(void)
{
#ifdef KOS_BUILD_COMPONENTS_DIR
    return KOS_BUILD_COMPONENTS_DIR;
#else
    return NULL;
#endif
}

/* Matches option `name` at argv[*i], as "--name VALUE" or "--name=VALUE"
 * (and `short_name VALUE` when short_name is not NULL). Returns 1 and sets
 * *value on a match, 0 if argv[*i] is another option, -1 (after printing)
 * when the value is missing. */
static int option(const char *cmd, int argc, char **argv, int *i, const char *name,
                  const char *short_name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) == 0 && a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (strcmp(a, name) != 0 && !(short_name && strcmp(a, short_name) == 0))
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kos-tool %s: option '%s' needs a value; see kos-tool %s --help\n", cmd, a,
                cmd);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

static void build_usage(FILE *f)
{
    fprintf(f, "usage: kos-tool manifest.build MANIFEST -o OUT.zip [--key PRIVKEY]\n"
               "           [--bin NAME=PATH]... [--bin-dir DIR]... [--layer-dir DIR]...\n"
               "\n"
               "Compiles MANIFEST (system.yaml) and packs it with every app's and message\n"
               "server's binary into a system image, each file stored under its SHA-256,\n"
               "signed with a release key (see docs/images.md).\n"
               "\n"
               "  -o, --out OUT.zip   the image to write; replaced only once complete\n"
               "  --key PRIVKEY       release private key, from kos-tool keys.generate --release;\n"
               "                      required unless the manifest says signing: disabled (then\n"
               "                      it is ignored with a warning)\n"
               "  --bin NAME=PATH     take binary NAME from PATH; comes before any folder\n"
               "  --bin-dir DIR       search DIR for binaries by name; folders are searched in\n"
               "                      the order given, then the SDK's components folder\n"
               "  --layer-dir DIR     search DIR for base layers (<base>.yaml), then the SDK's\n"
               "  -h, --help          show this help\n");
}

int kos__tool_manifest_build(int argc, char **argv)
{
    const char *manifest_path = NULL, *out = NULL, *key = NULL, *v;
    struct strlist bins, bin_dirs, layer_dirs;
    struct kos__image_build_info info;
    struct kos_image_build_opts o;
    struct kos_manifest *m = NULL;
    struct kos_mf_options mopts;
    struct kos_mf_error merr;
    char err[1024];
    int rc = 2, r;

    if (!strlist_init(&bins, (size_t)argc) || !strlist_init(&bin_dirs, (size_t)argc + 1) ||
        !strlist_init(&layer_dirs, (size_t)argc + 1)) {
        fprintf(stderr, "kos-tool %s: out of memory\n", BUILD_CMD);
        rc = 1;
        goto out_free_lists;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            build_usage(stdout);
            rc = 0;
            goto out_free_lists;
        }
        if ((r = option(BUILD_CMD, argc, argv, &i, "--out", "-o", &v)) != 0) {
            if (r < 0)
                goto out_free_lists;
            out = v;
        } else if ((r = option(BUILD_CMD, argc, argv, &i, "--key", NULL, &v)) != 0) {
            if (r < 0)
                goto out_free_lists;
            key = v;
        } else if ((r = option(BUILD_CMD, argc, argv, &i, "--bin", NULL, &v)) != 0) {
            const char *eq = r > 0 ? strchr(v, '=') : NULL;
            if (r < 0)
                goto out_free_lists;
            if (!eq || eq == v || eq[1] == '\0') {
                fprintf(stderr, "kos-tool %s: --bin '%s' is not NAME=PATH\n", BUILD_CMD, v);
                goto out_free_lists;
            }
            strlist_push(&bins, v, false);
        } else if ((r = option(BUILD_CMD, argc, argv, &i, "--bin-dir", NULL, &v)) != 0) {
            if (r < 0)
                goto out_free_lists;
            strlist_push(&bin_dirs, v, false);
        } else if ((r = option(BUILD_CMD, argc, argv, &i, "--layer-dir", NULL, &v)) != 0) {
            if (r < 0)
                goto out_free_lists;
            strlist_push(&layer_dirs, v, false);
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "kos-tool %s: unknown option '%s'; see kos-tool %s --help\n", BUILD_CMD,
                    a, BUILD_CMD);
            goto out_free_lists;
        } else if (!manifest_path) {
            manifest_path = a;
        } else {
            fprintf(stderr, "kos-tool %s: unexpected argument '%s': only one MANIFEST\n", BUILD_CMD,
                    a);
            goto out_free_lists;
        }
    }
    if (!manifest_path) {
        fprintf(stderr, "kos-tool %s: no MANIFEST given; see kos-tool %s --help\n", BUILD_CMD,
                BUILD_CMD);
        goto out_free_lists;
    }
    if (!out) {
        fprintf(stderr, "kos-tool %s: no output given: add -o OUT.zip\n", BUILD_CMD);
        goto out_free_lists;
    }
    push_default_dir(&layer_dirs, KOS_INSTALL_LAYERS_REL, default_layers_dir());
    push_default_dir(&bin_dirs, KOS_INSTALL_COMPONENTS_REL, default_components_dir());

    rc = 1;
    mopts.layer_dirs = layer_dirs.v;
    mopts.n_layer_dirs = layer_dirs.n;
    memset(&merr, 0, sizeof(merr));
    if (kos_manifest_load(manifest_path, &mopts, &m, &merr) != KOS_STATUS_OK) {
        kos_mf_error_format(&merr, err, sizeof(err));
        fprintf(stderr, "kos-tool %s: %s\n", BUILD_CMD, err);
        goto out_free_lists;
    }
    if (!m->signing && key) {
        fprintf(stderr,
                "kos-tool %s: warning: %s says signing: disabled, so --key %s is ignored "
                "and the image is unsigned\n",
                BUILD_CMD, manifest_path, key);
        key = NULL;
    }
    memset(&o, 0, sizeof(o));
    o.manifest_path = manifest_path;
    o.manifest = m;
    o.bin_map = bins.v;
    o.n_bin_map = bins.n;
    o.bin_dirs = bin_dirs.v;
    o.n_bin_dirs = bin_dirs.n;
    o.key_path = key;
    o.out_path = out;
    if (kos__image_build(&o, &info, err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: %s\n", BUILD_CMD, err);
        goto out_destroy_manifest;
    }
    if (info.is_signed)
        printf("wrote %s (%zu blobs, signed by key %s)\n", out, info.n_blobs, info.key_id);
    else
        printf("wrote %s (%zu blobs, unsigned: the manifest says signing: disabled)\n", out,
               info.n_blobs);
    rc = 0;

out_destroy_manifest:
    kos_manifest_destroy(m);
out_free_lists:
    strlist_fini(&layer_dirs);
    strlist_fini(&bin_dirs);
    strlist_fini(&bins);
    return rc;
}

static void check_usage(FILE *f)
{
    fprintf(f, "usage: kos-tool manifest.check MANIFEST [--layer-dir DIR]...\n"
               "\n"
               "Reads MANIFEST (system.yaml), applies its base layer and validates it, then\n"
               "prints \"ok\" or the first error as file:line:column: message.\n"
               "\n"
               "Not yet: the catalogue of assurance checks (rule ids, severities, reasons,\n"
               "fixes, JSON output for CI) comes in a later release; today this command only\n"
               "checks that the manifest is valid.\n"
               "\n"
               "  --layer-dir DIR     search DIR for base layers (<base>.yaml), then the SDK's\n"
               "  -h, --help          show this help\n");
}

int kos__tool_manifest_check(int argc, char **argv)
{
    const char *manifest_path = NULL, *v;
    struct kos_manifest *m = NULL;
    struct kos_mf_options mopts;
    struct kos_mf_error merr;
    struct strlist layer_dirs;
    char err[1024];
    int rc = 2, r;

    if (!strlist_init(&layer_dirs, (size_t)argc + 1)) {
        fprintf(stderr, "kos-tool %s: out of memory\n", CHECK_CMD);
        rc = 1;
        goto out_free_list;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            check_usage(stdout);
            rc = 0;
            goto out_free_list;
        }
        if ((r = option(CHECK_CMD, argc, argv, &i, "--layer-dir", NULL, &v)) != 0) {
            if (r < 0)
                goto out_free_list;
            strlist_push(&layer_dirs, v, false);
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "kos-tool %s: unknown option '%s'; see kos-tool %s --help\n", CHECK_CMD,
                    a, CHECK_CMD);
            goto out_free_list;
        } else if (!manifest_path) {
            manifest_path = a;
        } else {
            fprintf(stderr, "kos-tool %s: unexpected argument '%s': only one MANIFEST\n", CHECK_CMD,
                    a);
            goto out_free_list;
        }
    }
    if (!manifest_path) {
        fprintf(stderr, "kos-tool %s: no MANIFEST given; see kos-tool %s --help\n", CHECK_CMD,
                CHECK_CMD);
        goto out_free_list;
    }
    push_default_dir(&layer_dirs, KOS_INSTALL_LAYERS_REL, default_layers_dir());

    rc = 1;
    mopts.layer_dirs = layer_dirs.v;
    mopts.n_layer_dirs = layer_dirs.n;
    memset(&merr, 0, sizeof(merr));
    if (kos_manifest_load(manifest_path, &mopts, &m, &merr) != KOS_STATUS_OK) {
        kos_mf_error_format(&merr, err, sizeof(err));
        fprintf(stderr, "kos-tool %s: %s\n", CHECK_CMD, err);
        goto out_free_list;
    }
    kos_manifest_destroy(m);
    printf("ok\n");
    rc = 0;

out_free_list:
    strlist_fini(&layer_dirs);
    return rc;
}
