/*
 * check_bad.c - replays the manifest corpora under tests/manifest/.
 *
 *   check_bad bad  DIR LAYER_DIR...   every DIR/NAME.yaml is refused with
 *                                     the error its header comments expect
 *   check_bad good DIR LAYER_DIR...   every DIR/NAME.yaml loads, compiles and
 *                                     opens as a compiled manifest
 *   check_bad show FILE LAYER_DIR...  prints what loading FILE gives
 *
 * A bad file starts with two comment lines, optionally a third:
 *   # expect: <exact start of the message after "file:line:col: ">
 *   # at: LINE:COL
 *   # in: <file name of the error's position, when not this file>
 * The run prints one line per file and a summary, and exits 1 if any file
 * did not behave as expected or if no file was checked at all.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lists DIR's *.yaml files, sorted; returns how many (or -1). */
static int list_yaml(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        return -1;
    }
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

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Reads the header comments of a bad file. */
static int read_expect(const char *path, char *expect, size_t elen, int *line, int *col, char *in,
                       size_t inlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char l1[1024], l2[256], l3[512];
    int ok = fgets(l1, sizeof(l1), f) && fgets(l2, sizeof(l2), f);
    if (!ok || strncmp(l1, "# expect: ", 10) != 0 || sscanf(l2, "# at: %d:%d", line, col) != 2) {
        fclose(f);
        return -1;
    }
    l1[strcspn(l1, "\r\n")] = '\0';
    snprintf(expect, elen, "%s", l1 + 10);
    in[0] = '\0';
    if (fgets(l3, sizeof(l3), f) && strncmp(l3, "# in: ", 6) == 0) {
        l3[strcspn(l3, "\r\n")] = '\0';
        snprintf(in, inlen, "%s", l3 + 6);
    }
    fclose(f);
    return 0;
}

static int check_bad_file(const char *path, const struct kos_mf_options *opts)
{
    char expect[1024], in[512], got[2048];
    int line, col;
    if (read_expect(path, expect, sizeof(expect), &line, &col, in, sizeof(in)) != 0) {
        printf("FAIL %s: the first lines must be '# expect: ...' and '# at: LINE:COL'\n", path);
        return 1;
    }
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    kos_status_t st = kos_manifest_load(path, opts, &m, &err);
    if (st == KOS_STATUS_OK) {
        printf("FAIL %s: it loaded, expected \"%s\"\n", path, expect);
        kos_manifest_destroy(m);
        return 1;
    }
    kos_mf_error_format(&err, got, sizeof(got));
    const char *want_file = in[0] ? in : base_name(path);
    if (st != KOS_STATUS_INVALID_ARGUMENT || strncmp(err.msg, expect, strlen(expect)) != 0 ||
        err.line != line || err.col != col || strcmp(base_name(err.file), want_file) != 0) {
        printf("FAIL %s (status %d)\n  expected: %s:%d:%d: %s\n  got:      %s\n", path, (int)st,
               want_file, line, col, expect, got);
        return 1;
    }
    printf("ok   %s\n", got);
    return 0;
}

static int check_good_file(const char *path, const struct kos_mf_options *opts)
{
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    char got[2048];
    if (kos_manifest_load(path, opts, &m, &err) != KOS_STATUS_OK) {
        kos_mf_error_format(&err, got, sizeof(got));
        printf("FAIL %s: %s\n", path, got);
        return 1;
    }
    void *buf = NULL;
    size_t len = 0;
    struct kos_cm cm;
    char cerr[256];
    int rc = 0;
    if (kos_manifest_compile(m, NULL, &buf, &len) != KOS_STATUS_OK) {
        printf("FAIL %s: loaded but did not compile\n", path);
        rc = 1;
    } else if (kos_cm_open(&cm, buf, len, cerr, sizeof(cerr)) != KOS_STATUS_OK) {
        printf("FAIL %s: compiled form refused: %s\n", path, cerr);
        rc = 1;
    } else {
        printf("ok   %s (%zu servers, %zu apps, %zu bytes compiled)\n", path, m->n_servers,
               m->n_apps, len);
    }
    free(buf);
    kos_manifest_destroy(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s bad|good DIR [LAYER_DIR...] | show FILE [LAYER_DIR...]\n",
                argv[0]);
        return 2;
    }
    struct kos_mf_options opts = {(const char *const *)argv + 3, (size_t)argc - 3};
    if (strcmp(argv[1], "show") == 0) {
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        char got[2048];
        kos_status_t st = kos_manifest_load(argv[2], &opts, &m, &err);
        if (st != KOS_STATUS_OK) {
            kos_mf_error_format(&err, got, sizeof(got));
            printf("%s\n", got);
            return 1;
        }
        printf("ok: system %s, %zu servers, %zu apps\n", m->system, m->n_servers, m->n_apps);
        kos_manifest_destroy(m);
        return 0;
    }
    bool bad = strcmp(argv[1], "bad") == 0;
    if (!bad && strcmp(argv[1], "good") != 0) {
        fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], argv[1]);
        return 2;
    }
    char **names;
    int n = list_yaml(argv[2], &names);
    if (n < 0)
        return 1;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[2], names[i]);
        failed += bad ? check_bad_file(path, &opts) : check_good_file(path, &opts);
    }
    free_list(names, n);
    printf("checked %d %s manifests: %d passed, %d failed\n", n, bad ? "bad" : "good", n - failed,
           failed);
    return failed == 0 && n > 0 ? 0 : 1;
}
