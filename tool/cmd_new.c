/*
 * cmd_new.c - `kos-tool new`: a new project from a template.
 *
 * A template is one of the SDK's examples, a complete CMake project that
 * builds against the installed SDK (find_package(KOS)). `new` copies it into
 * a folder that does not exist yet (or is empty), names the project and its
 * system after the folder (or --name), and says how to build and run it.
 * What stays true: nothing is written outside the new folder, an existing
 * file is never overwritten, and a copy that fails is removed whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opts_int.h"
#include "tool_int.h"

#ifndef KOS_INSTALL_TEMPLATES_REL
#define KOS_INSTALL_TEMPLATES_REL "../share/kos/templates"
#endif

/* The templates: the name a user types, the example it is, what it holds. */
static const struct {
    const char *name, *example, *what;
} templates[] = {
    {"hello", "hello", "one app that logs a line: the smallest system"},
    {"ping_pong", "ping_pong", "a client, a server and a token passed between them"},
    {"sensor", "i2c_sensor",
     "the Poukai base layer and a sensor app reading a (simulated) I2C sensor into the log"},
    {"protobuf", "protobuf_example", "two apps exchanging protobuf messages"},
};

#define N_TEMPLATES (sizeof(templates) / sizeof(templates[0]))

/* The largest file a template may hold: they are a few KiB. */
#define TEMPLATE_FILE_MAX (256u << 10)

static void new_usage(FILE *f)
{
    fprintf(f, "usage: kos-tool new TEMPLATE DIR [--name NAME]\n"
               "\n"
               "Makes DIR (which must not exist, or be empty) a new KOS project from a\n"
               "template, its project and system named NAME (default: DIR's last part;\n"
               "letters, digits and '_', starting with a letter). Templates:\n");
    for (size_t i = 0; i < N_TEMPLATES; i++)
        fprintf(f, "  %-10s %s\n", templates[i].name, templates[i].what);
    fprintf(f,
            "\nThen: cmake -S DIR -B DIR/build && cmake --build DIR/build -t run\n"
            "(with the SDK's bin/ on PATH or CMAKE_PREFIX_PATH set to it). See %s.\n",
            kos__tool_doc("sdk.md"));
}

/* Where the template `example` is: the SDK's templates folder, else the
 * source tree's examples. Writes the path into out. */
static bool template_dir(const char *example, const char *name, char *out, size_t len)
{
    struct stat st;

    snprintf(out, len, "%s/%s/%s", kos__tool_self_dir(), KOS_INSTALL_TEMPLATES_REL, name);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return true;
#ifdef KOS_SOURCE_EXAMPLES_DIR
    snprintf(out, len, "%s/%s", KOS_SOURCE_EXAMPLES_DIR, example);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return true;
#else
    (void)example;
#endif
    return false;
}

/* A project name CMake and a manifest both take. */
static bool name_ok(const char *s)
{
    if (!s[0] || strlen(s) > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

/* Reads a whole template file (at most TEMPLATE_FILE_MAX bytes). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;

    if (!f)
        return NULL;
    buf = malloc(TEMPLATE_FILE_MAX + 1);
    if (buf) {
        *len = fread(buf, 1, TEMPLATE_FILE_MAX + 1, f);
        if (ferror(f) || *len > TEMPLATE_FILE_MAX) {
            free(buf);
            buf = NULL;
            errno = ferror(f) ? EIO : EFBIG;
        } else {
            buf[*len] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* Replaces, in text, the rest of the first line that starts with `prefix`
 * by `value` (up to the first character of `stop` on that line, or its
 * end). Returns the new text (the caller's) or NULL when out of memory; the
 * text unchanged (copied) when no line starts so. */
static char *replace_line(const char *text, const char *prefix, const char *stop, const char *value)
{
    size_t plen = strlen(prefix);
    const char *at = NULL;

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, plen)) {
            at = p + plen;
            break;
        }
    if (!at)
        return strdup(text);
    size_t keep = strcspn(at, stop);
    size_t before = (size_t)(at - text), vlen = strlen(value);
    char *out = malloc(strlen(text) - keep + vlen + 1);
    if (!out)
        return NULL;
    memcpy(out, text, before);
    memcpy(out + before, value, vlen);
    strcpy(out + before + vlen, at + keep);
    return out;
}

/* Writes a new file (never one that exists) with `mode`. */
static int write_new(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            errno = e ? e : EIO;
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}

/* Copies folder `from` into the new folder `to` (made here), naming the
 * project and system `name` in CMakeLists.txt and system.yaml. Build trees
 * of the template are not copied. Returns 0, or -1 with err set. */
static int copy_tree(const char *from, const char *to, const char *name, char *err, size_t errlen)
{
    DIR *d = opendir(from);
    struct dirent *e;
    int rc = 0;

    if (!d || (mkdir(to, 0755) < 0 && errno != EEXIST)) {
        snprintf(err, errlen, "%s: %s", d ? to : from, strerror(errno));
        if (d)
            closedir(d);
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char src[PATH_MAX], dst[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "build"))
            continue;
        snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
        if (lstat(src, &st) < 0) {
            snprintf(err, errlen, "%s: %s", src, strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = copy_tree(src, dst, name, err, errlen);
        } else if (S_ISREG(st.st_mode)) {
            size_t len = 0;
            char *text = read_file(src, &len), *named = NULL;
            if (text && !strcmp(e->d_name, "CMakeLists.txt")) {
                named = replace_line(text, "project(", " )", name);
            } else if (text && !strcmp(e->d_name, "system.yaml")) {
                named = replace_line(text, "system: ", " \n#", name);
            }
            if (named) {
                free(text);
                text = named;
                len = strlen(text);
            }
            if (!text || write_new(dst, text, len, st.st_mode & 0755) < 0) {
                snprintf(err, errlen, "%s: %s", text ? dst : src, strerror(errno));
                rc = -1;
            }
            free(text);
        }
    }
    closedir(d);
    return rc;
}

/* Removes what copy_tree() made of `dir` (files and folders it wrote). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char p[PATH_MAX];
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int kos__tool_new(int argc, char **argv)
{
    enum { OPT_NAME };
    static const struct kos__opt table[] = {{"name", 0, "NAME", OPT_NAME}};
    struct kos__opts p;
    const char *tmpl = NULL, *dir = NULL, *name = NULL, *v;
    char from[PATH_MAX], err[PATH_MAX + 128], base[PATH_MAX];
    int o;
    size_t t;

    kos__opts_init(&p, "new", argc, argv, table, sizeof(table) / sizeof(table[0]));
    while ((o = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        if (o == KOS__OPTS_HELP) {
            new_usage(stdout);
            return 0;
        }
        if (o == KOS__OPTS_ERROR)
            return 2;
        if (o == OPT_NAME)
            name = v;
        else if (!tmpl)
            tmpl = v;
        else if (!dir)
            dir = v;
        else
            return kos__opts_usage_error(&p, "one TEMPLATE and one DIR, not also '%s'", v);
    }
    if (!tmpl || !dir)
        return kos__opts_usage_error(&p, "give a TEMPLATE and a DIR");
    for (t = 0; t < N_TEMPLATES && strcmp(templates[t].name, tmpl); t++)
        ;
    if (t == N_TEMPLATES) {
        fprintf(stderr, "kos-tool new: no template '%s'; the templates are:", tmpl);
        for (size_t i = 0; i < N_TEMPLATES; i++)
            fprintf(stderr, " %s", templates[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    if (!name) {
        snprintf(base, sizeof(base), "%s", dir);
        size_t n = strlen(base);
        while (n > 1 && base[n - 1] == '/')
            base[--n] = '\0';
        const char *slash = strrchr(base, '/');
        name = slash ? slash + 1 : base;
    }
    if (!name_ok(name)) {
        fprintf(stderr,
                "kos-tool new: '%s' cannot name a project: use 1 to 63 letters, digits and '_', "
                "starting with a letter (give one with --name)\n",
                name);
        return 2;
    }
    if (!template_dir(templates[t].example, templates[t].name, from, sizeof(from))) {
        fprintf(stderr,
                "kos-tool new: the template '%s' is not installed beside this kos-tool (looked "
                "in %s/%s)\n",
                tmpl, kos__tool_self_dir(), KOS_INSTALL_TEMPLATES_REL);
        return 1;
    }
    DIR *existing = opendir(dir);
    if (existing) {
        struct dirent *e;
        bool empty = true;
        while ((e = readdir(existing)) != NULL)
            empty &= !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
        closedir(existing);
        if (!empty) {
            fprintf(stderr, "kos-tool new: %s exists and is not empty; give a new folder\n", dir);
            return 1;
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "kos-tool new: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* The new folder's parent must be there: new makes only the folder. */
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dir);
    char *cut = strrchr(parent, '/');
    while (cut && cut > parent && cut[1] == '\0') { /* "a/b/" */
        *cut = '\0';
        cut = strrchr(parent, '/');
    }
    struct stat pst;
    if (cut && cut != parent) {
        *cut = '\0';
        if (stat(parent, &pst) < 0 || !S_ISDIR(pst.st_mode)) {
            fprintf(stderr, "kos-tool new: %s: the folder %s does not exist; make it first\n", dir,
                    parent);
            return 1;
        }
    }
    if (copy_tree(from, dir, name, err, sizeof(err)) < 0) {
        fprintf(stderr, "kos-tool new: cannot copy the template: %s\n", err);
        remove_tree(dir);
        return 1;
    }
    printf("made %s: project '%s' from the template '%s' (%s)\n"
           "build it and boot its system:\n"
           "  cmake -S %s -B %s/build\n"
           "  cmake --build %s/build -t run\n",
           dir, name, tmpl, templates[t].what, dir, dir, dir);
    return 0;
}
