/*
 * cmd_manifest.c - kos-tool manifest.build and manifest.check.
 *
 * manifest.build reads a manifest, finds every binary it names, and writes a
 * signed system image (manifest/image.h). manifest.check reads and validates
 * a manifest, then runs the assurance checks (manifest/check.h) and prints
 * their findings for people or as JSON; its exit status says whether any
 * finding, not waived, reached the --fail-on severity.
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

#include "check.h"
#include "image.h"
#include "image_int.h"
#include "manifest.h"
#include "opts_int.h"
#include "text_int.h"
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

static void build_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool manifest.build MANIFEST -o OUT.zip [--key PRIVKEY] [--strict]\n"
            "           [--bin NAME=PATH]... [--bin-dir DIR]... [--layer-dir DIR]...\n"
            "\n"
            "Compiles MANIFEST (system.yaml) and packs it with every app's and message\n"
            "server's binary into a system image, each file stored under its SHA-256,\n"
            "signed with a release key. It runs the assurance checks first and prints\n"
            "their errors and warnings on stderr, as kos-tool manifest.check does; they\n"
            "do not stop the build unless --strict is given.\n"
            "\n"
            "  -o, --out OUT.zip   the image to write; replaced only once complete\n"
            "  --key PRIVKEY       release private key, from kos-tool keys.generate --release;\n"
            "                      required unless the manifest says signing: disabled (then\n"
            "                      it is ignored with a warning)\n"
            "  --bin NAME=PATH     take binary NAME from PATH; comes before any folder\n"
            "  --bin-dir DIR       search DIR for binaries by name; folders are searched in\n"
            "                      the order given, then the SDK's components folder\n"
            "  --layer-dir DIR     search DIR for base layers (<base>.yaml), then the SDK's\n"
            "  --strict            fail, and write nothing, if the assurance checks find an\n"
            "                      error or a warning that is not waived\n"
            "  -h, --help          show this help\n"
            "\n"
            "Options take the forms --name VALUE and --name=VALUE. Exit status: 0 image\n"
            "written, 1 build failed (or --strict and findings), 2 usage error.\n"
            "See %s and %s.\n",
            kos__tool_doc("images.md"), kos__tool_doc("assurance.md"));
}

enum { OPT_OUT, OPT_KEY, OPT_BIN, OPT_BIN_DIR, OPT_LAYER_DIR, OPT_STRICT, OPT_JSON, OPT_FAIL_ON };

static const struct kos__opt build_opts[] = {
    {"out", 'o', "OUT.zip", OPT_OUT},       {"key", 0, "PRIVKEY", OPT_KEY},
    {"bin", 0, "NAME=PATH", OPT_BIN},       {"bin-dir", 0, "DIR", OPT_BIN_DIR},
    {"layer-dir", 0, "DIR", OPT_LAYER_DIR}, {"strict", 0, NULL, OPT_STRICT},
};

static const struct kos__opt check_opts[] = {
    {"json", 0, NULL, OPT_JSON},
    {"fail-on", 0, "LEVEL", OPT_FAIL_ON},
    {"strict", 0, NULL, OPT_STRICT},
    {"layer-dir", 0, "DIR", OPT_LAYER_DIR},
};

static void print_finding(FILE *f, const struct kos_check_finding *x);

/* Takes `v` as the one MANIFEST argument of manifest.build or .check;
 * false (after saying so) when there is one already. */
static bool take_manifest(const struct kos__opts *p, const char **manifest_path, const char *v)
{
    if (*manifest_path) {
        kos__opts_usage_error(p, "unexpected argument '%s': only one MANIFEST", v);
        return false;
    }
    *manifest_path = v;
    return true;
}

/* Prints the findings of `rep` that a build reports (errors and warnings
 * not waived) on stderr, with a summary line; nothing when there are none. */
static void print_build_findings(const char *manifest_path, const struct kos_check_report *rep)
{
    size_t e = rep->count[KOS_CHECK_ERROR], w = rep->count[KOS_CHECK_WARNING];

    if (e + w == 0)
        return;
    for (size_t i = 0; i < rep->n_findings; i++) {
        const struct kos_check_finding *x = &rep->findings[i];
        if (!x->waived && x->rule->severity >= KOS_CHECK_WARNING)
            print_finding(stderr, x);
    }
    fprintf(stderr,
            "kos-tool %s: the assurance checks found %zu %s and %zu %s (and %zu info, %zu waived: "
            "kos-tool manifest.check %s shows them all)\n",
            BUILD_CMD, e, e == 1 ? "error" : "errors", w, w == 1 ? "warning" : "warnings",
            rep->count[KOS_CHECK_INFO], rep->n_waived, manifest_path);
}

int kos__tool_manifest_build(int argc, char **argv)
{
    const char *manifest_path = NULL, *out = NULL, *key = NULL, *v;
    struct kos_check_report *rep = NULL;
    struct strlist bins, bin_dirs, layer_dirs;
    struct kos__opts p;
    bool strict = false;
    struct kos__image_build_info info;
    struct kos_image_build_opts o;
    struct kos_manifest *m = NULL;
    struct kos_mf_options mopts;
    struct kos_mf_error merr;
    char err[1024];
    int rc = 2, opt;

    if (!strlist_init(&bins, (size_t)argc) || !strlist_init(&bin_dirs, (size_t)argc + 1) ||
        !strlist_init(&layer_dirs, (size_t)argc + 1)) {
        fprintf(stderr, "kos-tool %s: out of memory\n", BUILD_CMD);
        rc = 1;
        goto out_free_lists;
    }
    kos__opts_init(&p, BUILD_CMD, argc, argv, build_opts,
                   sizeof(build_opts) / sizeof(build_opts[0]));
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        const char *eq;
        switch (opt) {
        case KOS__OPTS_HELP:
            build_usage(stdout);
            rc = 0;
            goto out_free_lists;
        case KOS__OPTS_ERROR:
            goto out_free_lists;
        case OPT_OUT:
            out = v;
            break;
        case OPT_KEY:
            key = v;
            break;
        case OPT_BIN:
            eq = strchr(v, '=');
            if (!eq || eq == v || eq[1] == '\0') {
                fprintf(stderr, "kos-tool %s: --bin '%s' is not NAME=PATH\n", BUILD_CMD, v);
                goto out_free_lists;
            }
            strlist_push(&bins, v, false);
            break;
        case OPT_BIN_DIR:
            strlist_push(&bin_dirs, v, false);
            break;
        case OPT_LAYER_DIR:
            strlist_push(&layer_dirs, v, false);
            break;
        case OPT_STRICT:
            strict = true;
            break;
        case KOS__OPTS_ARG:
            if (!take_manifest(&p, &manifest_path, v))
                goto out_free_lists;
            break;
        }
    }
    if (!manifest_path) {
        kos__opts_usage_error(&p, "no MANIFEST given");
        goto out_free_lists;
    }
    if (!out) {
        kos__opts_usage_error(&p, "no output given: add -o OUT.zip");
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
    if (kos_check_run(m, &rep) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: out of memory\n", BUILD_CMD);
        goto out_destroy_manifest;
    }
    print_build_findings(manifest_path, rep);
    if (strict && kos_check_fails(rep, KOS_CHECK_WARNING)) {
        fprintf(stderr,
                "kos-tool %s: --strict: no image written, as the assurance checks found errors "
                "or warnings; fix them, or waive a rule for an app with a written reason (see "
                "%s)\n",
                BUILD_CMD, kos__tool_doc("assurance.md"));
        goto out_destroy_report;
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
        goto out_destroy_report;
    }
    if (info.is_signed)
        printf("wrote %s (%zu blobs, signed by key %s)\n", out, info.n_blobs, info.key_id);
    else
        printf("wrote %s (%zu blobs, unsigned: the manifest says signing: disabled)\n", out,
               info.n_blobs);
    rc = 0;

out_destroy_report:
    kos_check_report_destroy(rep);
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
    fprintf(f,
            "usage: kos-tool manifest.check MANIFEST [--json] [--fail-on LEVEL | --strict]\n"
            "           [--layer-dir DIR]...\n"
            "\n"
            "Reads MANIFEST (system.yaml), applies its base layer and validates it, then runs\n"
            "the assurance checks (docs/assurance.md): every finding is printed as\n"
            "FILE:LINE:COL: SEVERITY: [RULE] message, with the rule's reason and fix;\n"
            "findings an app waives are shown as waived, with the justification.\n"
            "\n"
            "  --json              print one JSON document instead (for CI)\n"
            "  --fail-on LEVEL     error (default), warning, info or never: exit 1 if a\n"
            "                      finding that is not waived has this severity or more\n"
            "  --strict            the same as --fail-on warning (and manifest.build --strict)\n"
            "  --layer-dir DIR     search DIR for base layers (<base>.yaml), then the SDK's\n"
            "  -h, --help          show this help\n"
            "\n"
            "Options take the forms --name VALUE and --name=VALUE.\n"
            "Exit status: 0 when the checks pass (warnings alone pass unless --strict or\n"
            "--fail-on warning), 1 when they fail or the manifest is invalid\n"
            "(FILE:LINE:COL: message on stderr), 2 for a usage error. See %s.\n",
            kos__tool_doc("assurance.md"));
}

/* Writes `s` as a JSON string: quoted, with '"', '\\' and control
 * characters escaped, and any byte that is not part of valid UTF-8 written
 * as U+FFFD, so the document is valid whatever the input. NULL is null. */
static void json_str(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        unsigned char ch = *p;
        if (ch == '"' || ch == '\\') {
            fputc('\\', f);
            fputc(ch, f);
            p++;
        } else if (ch == '\n') {
            fputs("\\n", f);
            p++;
        } else if (ch == '\t') {
            fputs("\\t", f);
            p++;
        } else if (ch == '\r') {
            fputs("\\r", f);
            p++;
        } else if (ch < 0x20 || ch == 0x7f) {
            fprintf(f, "\\u%04x", ch);
            p++;
        } else if (ch < 0x80) {
            fputc(ch, f);
            p++;
        } else {
            /* A UTF-8 sequence: its length from the lead byte, then
             * continuation bytes, no overlong forms, no surrogates, at most
             * U+10FFFF. */
            size_t n = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 0;
            unsigned cp = n == 4 ? ch & 0x07u : n == 3 ? ch & 0x0fu : ch & 0x1fu;
            bool ok = n >= 2 && ch <= 0xf4;
            for (size_t i = 1; ok && i < n; i++) {
                ok = (p[i] & 0xc0) == 0x80;
                cp = (cp << 6) | (p[i] & 0x3fu);
            }
            ok = ok && !(n == 2 && cp < 0x80) && !(n == 3 && cp < 0x800) &&
                 !(n == 4 && cp < 0x10000) && !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
            if (ok) {
                fwrite(p, 1, n, f);
                p += n;
            } else {
                fputs("\\ufffd", f);
                p++;
            }
        }
    }
    fputc('"', f);
}

static const char *const fail_on_names[] = {"never", "info", "warning", "error"};
/* --fail-on's values as its help lists them, most severe first. */
static const char *const fail_on_choices[] = {"error", "warning", "info", "never"};

static void print_json_report(FILE *f, const char *path, const struct kos_manifest *m,
                              const struct kos_check_report *rep, int fail_on, bool failed)
{
    fputs("{\n  \"manifest\": ", f);
    json_str(f, path);
    fputs(",\n  \"system\": ", f);
    json_str(f, m->system);
    fprintf(f, ",\n  \"profile\": \"%s\",\n  \"fail_on\": \"%s\",\n  \"result\": \"%s\",\n",
            m->profile == KOS_MF_PROFILE_DEVELOPMENT ? "development" : "release",
            fail_on_names[fail_on], failed ? "fail" : "pass");
    fprintf(f,
            "  \"summary\": {\"error\": %zu, \"warning\": %zu, \"info\": %zu, \"waived\": %zu},\n",
            rep->count[KOS_CHECK_ERROR], rep->count[KOS_CHECK_WARNING], rep->count[KOS_CHECK_INFO],
            rep->n_waived);
    fputs("  \"findings\": [", f);
    for (size_t i = 0; i < rep->n_findings; i++) {
        const struct kos_check_finding *x = &rep->findings[i];
        fputs(i ? ",\n    {" : "\n    {", f);
        fputs("\"rule\": ", f);
        json_str(f, x->rule->id);
        fputs(", \"slug\": ", f);
        json_str(f, x->rule->slug);
        fprintf(f, ", \"severity\": \"%s\", \"app\": ", kos_check_severity_str(x->rule->severity));
        json_str(f, x->app);
        fputs(", \"file\": ", f);
        json_str(f, x->pos.file);
        fprintf(f, ", \"line\": %d, \"column\": %d, \"message\": ", x->pos.line, x->pos.col);
        json_str(f, x->message);
        fputs(", \"title\": ", f);
        json_str(f, x->rule->title);
        fputs(", \"reason\": ", f);
        json_str(f, x->rule->reason);
        fputs(", \"fix\": ", f);
        json_str(f, x->rule->fix);
        fprintf(f, ", \"waived\": %s, \"justification\": ", x->waived ? "true" : "false");
        json_str(f, x->waived ? x->justification : NULL);
        fputs(", \"waiver\": ", f);
        if (x->waived) {
            fputs("{\"file\": ", f);
            json_str(f, x->waiver_pos.file);
            fprintf(f, ", \"line\": %d, \"column\": %d}", x->waiver_pos.line, x->waiver_pos.col);
        } else {
            fputs("null", f);
        }
        fputc('}', f);
    }
    fputs(rep->n_findings ? "\n  ]\n}\n" : "]\n}\n", f);
}

static void print_json_error(FILE *f, const char *path, const struct kos_mf_error *e)
{
    fputs("{\n  \"manifest\": ", f);
    json_str(f, path);
    fputs(",\n  \"result\": \"error\",\n  \"error\": {\"file\": ", f);
    json_str(f, e->file[0] ? e->file : path);
    fprintf(f, ", \"line\": %d, \"column\": %d, \"message\": ", e->line, e->col);
    json_str(f, e->msg);
    fputs("}\n}\n", f);
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* Writes `s` as Core's console writes app text (kos__text_escape: C0 and
 * C1 controls, invalid UTF-8, line separators and bidirectional controls
 * escaped), with newline and tab as \n and \t, so that no text from a
 * manifest can start a line of its own in the report or drive the
 * terminal. */
static void put_clean(FILE *f, const char *s)
{
    char out[KOS__TEXT_ESCAPED_MAX(256)];

    if (!s)
        s = "(null)";
    while (*s) {
        size_t run = strcspn(s, "\n\t"), used;
        while (run > 0) {
            size_t take = run < 256 ? run : 256;
            size_t n = kos__text_escape(out, sizeof(out), s, take, &used);
            fwrite(out, 1, n, f);
            s += used;
            run -= used;
        }
        if (*s == '\n' || *s == '\t') {
            fputs(*s == '\n' ? "\\n" : "\\t", f);
            s++;
        }
    }
}

/* One finding for people: FILE:LINE:COL: SEVERITY: [RULE] message, then
 * the waiver if any, the reason and the fix, indented. */
static void print_finding(FILE *f, const struct kos_check_finding *x)
{
    const char *sev = kos_check_severity_str(x->rule->severity);

    put_clean(f, x->pos.file);
    if (x->waived)
        fprintf(f, ":%d:%d: waived (%s): [%s] ", x->pos.line, x->pos.col, sev, x->rule->id);
    else
        fprintf(f, ":%d:%d: %s: [%s] ", x->pos.line, x->pos.col, sev, x->rule->id);
    put_clean(f, x->message);
    fputc('\n', f);
    if (x->waived) {
        fputs("    waived at ", f);
        put_clean(f, x->waiver_pos.file);
        fprintf(f, ":%d:%d: \"", x->waiver_pos.line, x->waiver_pos.col);
        put_clean(f, x->justification);
        fputs("\"\n", f);
    }
    fprintf(f, "    reason: %s\n    fix: %s\n", x->rule->reason, x->rule->fix);
}

static void print_text_report(FILE *f, const struct kos_check_report *rep, int fail_on, bool failed)
{
    for (size_t i = 0; i < rep->n_findings; i++)
        print_finding(f, &rep->findings[i]);
    size_t e = rep->count[KOS_CHECK_ERROR], w = rep->count[KOS_CHECK_WARNING],
           n = rep->count[KOS_CHECK_INFO];
    fprintf(f, "summary: %zu %s, %zu %s, %zu info, %zu waived; %s (--fail-on %s)\n", e,
            plural(e, "error", "errors"), w, plural(w, "warning", "warnings"), n, rep->n_waived,
            failed ? "FAIL" : "pass", fail_on_names[fail_on]);
}

int kos__tool_manifest_check(int argc, char **argv)
{
    const char *manifest_path = NULL, *v;
    struct kos_check_report *rep = NULL;
    struct kos_manifest *m = NULL;
    struct kos_mf_options mopts;
    struct kos_mf_error merr;
    struct strlist layer_dirs;
    struct kos__opts p;
    bool json = false, fail_on_given = false;
    int fail_on = KOS_CHECK_ERROR; /* an index into fail_on_names: 0 never, else a severity */
    char err[1024];
    int rc = 2, opt;

    if (!strlist_init(&layer_dirs, (size_t)argc + 1)) {
        fprintf(stderr, "kos-tool %s: out of memory\n", CHECK_CMD);
        rc = 1;
        goto out_free_list;
    }
    kos__opts_init(&p, CHECK_CMD, argc, argv, check_opts,
                   sizeof(check_opts) / sizeof(check_opts[0]));
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            check_usage(stdout);
            rc = 0;
            goto out_free_list;
        case KOS__OPTS_ERROR:
            goto out_free_list;
        case OPT_JSON:
            json = true;
            break;
        case OPT_FAIL_ON:
        case OPT_STRICT:
            if (fail_on_given) {
                kos__opts_usage_error(&p, "give one --fail-on LEVEL or --strict (the same as "
                                          "--fail-on warning), not several");
                goto out_free_list;
            }
            fail_on_given = true;
            fail_on = opt == OPT_STRICT ? KOS_CHECK_WARNING
                                        : kos__opts_choice(&p, "fail-on", v, fail_on_choices, 4);
            if (fail_on < 0)
                goto out_free_list;
            if (opt == OPT_FAIL_ON)
                fail_on = fail_on == 3 ? 0 : KOS_CHECK_ERROR - fail_on; /* by severity */
            break;
        case OPT_LAYER_DIR:
            strlist_push(&layer_dirs, v, false);
            break;
        case KOS__OPTS_ARG:
            if (!take_manifest(&p, &manifest_path, v))
                goto out_free_list;
            break;
        }
    }
    if (!manifest_path) {
        kos__opts_usage_error(&p, "no MANIFEST given");
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
        if (json)
            print_json_error(stdout, manifest_path, &merr);
        goto out_free_list;
    }
    if (kos_check_run(m, &rep) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: out of memory\n", CHECK_CMD);
        goto out_destroy_manifest;
    }
    bool failed = fail_on != 0 && kos_check_fails(rep, (enum kos_check_severity)fail_on);
    if (json)
        print_json_report(stdout, manifest_path, m, rep, fail_on, failed);
    else
        print_text_report(stdout, rep, fail_on, failed);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "kos-tool %s: cannot write the report\n", CHECK_CMD);
        goto out_destroy_report;
    }
    rc = failed ? 1 : 0;

out_destroy_report:
    kos_check_report_destroy(rep);
out_destroy_manifest:
    kos_manifest_destroy(m);
out_free_list:
    strlist_fini(&layer_dirs);
    return rc;
}
