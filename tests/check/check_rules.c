/*
 * check_rules.c - replays the assurance-check corpus under tests/check/.
 *
 *   check_rules files DIR LAYER_DIR...   every DIR/NAME.yaml gives exactly the
 *                                        findings its header lines expect
 *   check_rules catalogue DIR DOC        every rule of the catalogue has
 *                                        DIR/<id>/bad.yaml and ok.yaml and a
 *                                        section "## <id>" in DOC
 *   check_rules show FILE LAYER_DIR...   prints the findings of FILE as
 *                                        header lines, to start a new file
 *
 * A corpus file starts with comment lines, one per finding it must produce
 * (in any order), or a single "none":
 *   # expect: KOS-A006 at 12:9
 *   # expect: KOS-A008 at 7:3 waived
 *   # expect: KOS-A008 at services.yaml:12:3   (in a layer file)
 *   # expect: none
 * In a folder named after a rule (KOS-A006/), bad.yaml must expect a finding
 * of that rule that is not waived and ok.yaml must expect none of it: the
 * positive and the negative case. The run prints one line per file and
 * exits 1 if any file did not produce exactly its expected findings.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "manifest.h"

#define MAX_EXPECT 64

struct expect {
    char line[MAX_EXPECT][128];
    int n;
    bool none;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lists DIR's *.yaml files, sorted; returns how many (or -1). */
static int list_yaml(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        char **nn = realloc(names, (size_t)(n + 1) * sizeof(char *));
        if (nn == NULL)
            abort();
        names = nn;
        names[n] = strdup(de->d_name);
        if (names[n] == NULL)
            abort();
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    *out = names;
    return n;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Reads the "# expect:" header lines of `path`. */
static int read_expect(const char *path, struct expect *e)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char buf[512];
    memset(e, 0, sizeof(*e));
    while (fgets(buf, sizeof(buf), f) != NULL) {
        if (strncmp(buf, "# expect: ", 10) != 0)
            break;
        char *s = buf + 10;
        s[strcspn(s, "\r\n")] = '\0';
        if (strcmp(s, "none") == 0) {
            e->none = true;
            continue;
        }
        if (e->n == MAX_EXPECT || strlen(s) >= sizeof(e->line[0])) {
            fclose(f);
            return -1;
        }
        snprintf(e->line[e->n++], sizeof(e->line[0]), "%s", s);
    }
    fclose(f);
    return e->none == (e->n == 0) ? 0 : -1;
}

/* "ID at LINE:COL[ waived]", with the file's base name before LINE when
 * the finding is in another file than `path` (a layer). */
static void finding_line(const struct kos_check_finding *x, const char *path, char *buf, size_t len)
{
    char file[256] = "";
    if (x->pos.file != NULL && strcmp(x->pos.file, path) != 0) {
        const char *b = strrchr(x->pos.file, '/');
        snprintf(file, sizeof(file), "%s:", b ? b + 1 : x->pos.file);
    }
    snprintf(buf, len, "%s at %s%d:%d%s", x->rule->id, file, x->pos.line, x->pos.col,
             x->waived ? " waived" : "");
}

/* Loads `path` and runs the checks; prints a manifest error and returns
 * NULL if it does not load. */
static struct kos_check_report *run_file(const char *path, const struct kos_mf_options *opts,
                                         struct kos_manifest **m)
{
    struct kos_mf_error err;
    struct kos_check_report *rep = NULL;
    if (kos_manifest_load(path, opts, m, &err) != KOS_STATUS_OK) {
        char msg[1200];
        kos_mf_error_format(&err, msg, sizeof(msg));
        printf("FAIL %s: does not load: %s\n", path, msg);
        return NULL;
    }
    if (kos_check_run(*m, &rep) != KOS_STATUS_OK) {
        printf("FAIL %s: kos_check_run failed\n", path);
        kos_manifest_destroy(*m);
        return NULL;
    }
    return rep;
}

/* Checks one file; returns 0 if it gave exactly what it expects. */
static int check_file(const char *dir, const char *name, const struct kos_mf_options *opts)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct expect e;
    if (read_expect(path, &e) != 0) {
        printf("FAIL %s: no valid '# expect:' header\n", path);
        return 1;
    }
    struct kos_manifest *m = NULL;
    struct kos_check_report *rep = run_file(path, opts, &m);
    if (rep == NULL)
        return 1;

    int bad = 0;
    bool used[MAX_EXPECT] = {false};
    for (size_t i = 0; i < rep->n_findings; i++) {
        char got[128];
        finding_line(&rep->findings[i], path, got, sizeof(got));
        int k = -1;
        for (int j = 0; j < e.n && k < 0; j++)
            if (!used[j] && strcmp(e.line[j], got) == 0)
                k = j;
        if (k < 0) {
            printf("FAIL %s: unexpected finding: %s (%s)\n", path, got, rep->findings[i].message);
            bad = 1;
        } else {
            used[k] = true;
        }
    }
    for (int j = 0; j < e.n; j++)
        if (!used[j]) {
            printf("FAIL %s: expected finding missing: %s\n", path, e.line[j]);
            bad = 1;
        }

    /* In a rule's folder: bad.yaml shows the rule, ok.yaml does not. */
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    if (kos_check_rule_find(base) != NULL) {
        size_t idlen = strlen(base);
        bool fires = false;
        for (int j = 0; j < e.n; j++)
            fires |= strncmp(e.line[j], base, idlen) == 0 && e.line[j][idlen] == ' ' &&
                     strstr(e.line[j], " waived") == NULL;
        bool fires_any = false;
        for (int j = 0; j < e.n; j++)
            fires_any |= strncmp(e.line[j], base, idlen) == 0 && e.line[j][idlen] == ' ';
        if (strcmp(name, "bad.yaml") == 0 && !fires) {
            printf("FAIL %s: a rule's bad.yaml must expect a finding of %s\n", path, base);
            bad = 1;
        }
        if (strcmp(name, "ok.yaml") == 0 && fires_any) {
            printf("FAIL %s: a rule's ok.yaml must expect no finding of %s\n", path, base);
            bad = 1;
        }
    }
    if (!bad)
        printf("ok   %s (%zu findings)\n", path, rep->n_findings);
    kos_check_report_destroy(rep);
    kos_manifest_destroy(m);
    return bad;
}

static int run_files(const char *dir, const struct kos_mf_options *opts)
{
    char **names;
    int n = list_yaml(dir, &names);
    if (n <= 0) {
        printf("FAIL %s: no corpus files\n", dir);
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < n; i++)
        failed += check_file(dir, names[i], opts);
    free_list(names, n);
    printf("checked %d files in %s: %d failed\n", n, dir, failed);
    return failed ? 1 : 0;
}

/* Every rule has a test folder and a documented section. */
static int run_catalogue(const char *dir, const char *doc)
{
    FILE *f = fopen(doc, "r");
    if (f == NULL) {
        printf("FAIL cannot read %s\n", doc);
        return 1;
    }
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = '\0';
    size_t n;
    const struct kos_check_rule *rules = kos_check_rules(&n);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct kos_check_rule *r = &rules[i];
        char want[64], path[4096];
        snprintf(want, sizeof(want), "\n## %s", r->id);
        if (strstr(text, want) == NULL) {
            printf("FAIL %s has no section '## %s'\n", doc, r->id);
            failed++;
        }
        snprintf(want, sizeof(want), "| %s |", r->id);
        if (strstr(text, want) == NULL) {
            printf("FAIL %s has no table row '| %s |'\n", doc, r->id);
            failed++;
        }
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof(path), "%s/%s/%s", dir, r->id, k ? "ok.yaml" : "bad.yaml");
            FILE *t = fopen(path, "r");
            if (t == NULL) {
                printf("FAIL no test manifest %s\n", path);
                failed++;
            } else {
                fclose(t);
            }
        }
        /* Ids are KOS-A followed by three digits, in order, never reused. */
        char expect_id[32];
        snprintf(expect_id, sizeof(expect_id), "KOS-A%03zu", i + 1);
        if (strcmp(r->id, expect_id) != 0) {
            printf("FAIL rule %zu has id %s, expected %s\n", i, r->id, expect_id);
            failed++;
        }
        if (!r->reason[0] || !r->fix[0] || !r->title[0] || !r->slug[0]) {
            printf("FAIL rule %s lacks a title, reason, fix or slug\n", r->id);
            failed++;
        }
    }
    printf("checked %zu rules: %d problems\n", n, failed);
    return failed ? 1 : 0;
}

static int show(const char *path, const struct kos_mf_options *opts)
{
    struct kos_manifest *m = NULL;
    struct kos_check_report *rep = run_file(path, opts, &m);
    if (rep == NULL)
        return 1;
    for (size_t i = 0; i < rep->n_findings; i++) {
        char got[128];
        finding_line(&rep->findings[i], path, got, sizeof(got));
        printf("# expect: %s\n", got);
        printf("#   (%s: %s)\n", rep->findings[i].pos.file, rep->findings[i].message);
    }
    if (rep->n_findings == 0)
        printf("# expect: none\n");
    kos_check_report_destroy(rep);
    kos_manifest_destroy(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "catalogue") == 0)
        return run_catalogue(argv[2], argv[3]);
    if (argc < 3) {
        fprintf(stderr, "usage: check_rules files|show DIR|FILE LAYER_DIR...\n"
                        "       check_rules catalogue DIR DOC\n");
        return 2;
    }
    struct kos_mf_options opts = {(const char *const *)(argv + 3), (size_t)(argc - 3)};
    if (strcmp(argv[1], "files") == 0)
        return run_files(argv[2], &opts);
    if (strcmp(argv[1], "show") == 0)
        return show(argv[2], &opts);
    fprintf(stderr, "check_rules: unknown mode '%s'\n", argv[1]);
    return 2;
}
