/*
 * store.c - the boot store (store.h): generations of system images on a
 * device's storage, which to boot, and the fallback.
 *
 * Every file is read as untrusted: names are checked before they are used,
 * records and `state` are parsed strictly, sizes are bounded, and nothing
 * is followed through a symbolic link. What a record says of a generation
 * is only a guide to which blobs to keep and what to show: booting verifies
 * the image itself again (kos_image_open_blobs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot_int.h"
#include "compiled.h"
#include "file_int.h"
#include "image_int.h"
#include "store.h"
#include "store_int.h"

#define MARKER      "kos-store 1\n"
#define MARKER_NAME "kos-store"
#define STATE_NAME  "state"
#define STATE_COPY  "state.1" /* the same, written after it: read when state is damaged */
#define STATE_HEAD  "kos-store-state 1\n"
#define GEN_HEAD    "kos-generation 1\n"
#define SIG_LINE    "image.sig\n"
#define RECORD_MAX  (2048u + KOS__IMAGE_MAX_ENTRIES * 96u + KOS__IMAGE_SIG_MAX)
#define STATE_MAX   256u
#define BLOB_TMP    ".tmp-"
#define COPY_CHUNK  (64u << 10)

/* ---- small helpers ---- */

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool is_hex64(const char *s)
{
    return is_hex(s, 64);
}

bool kos__store_unhex32(const char *s, uint8_t out[32])
{
    if (!is_hex64(s))
        return false;
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

/* A generation's file name: a decimal number from 1, without leading zeros. */
static bool gen_name(const char *s, uint32_t *n)
{
    unsigned long v = 0;

    if (!s[0] || s[0] == '0' || strlen(s) > 9)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    *n = (uint32_t)v;
    return true;
}

/* Takes the next "\n"-ended line of text [*p, end) into line (NUL-ended,
 * without the newline); a line holding a NUL is refused, so that what the
 * string functions see is the whole line. */
static bool take_line(const char **p, const char *end, char *line, size_t cap)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n;

    if (!nl || (n = (size_t)(nl - *p)) >= cap || memchr(*p, '\0', n))
        return false;
    memcpy(line, *p, n);
    line[n] = '\0';
    *p = nl + 1;
    return true;
}

/* A decimal number without sign or leading zeros, at most max. */
static bool parse_u(const char *s, uint64_t max, uint64_t *v)
{
    char *e;

    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1]))
        return false;
    errno = 0;
    unsigned long long x = strtoull(s, &e, 10);
    if (errno || *e || x > max)
        return false;
    *v = x;
    return true;
}

/* "KEY NUMBER". */
static bool line_u(const char *line, const char *key, uint64_t max, uint64_t *v)
{
    size_t k = strlen(key);

    return strncmp(line, key, k) == 0 && line[k] == ' ' && parse_u(line + k + 1, max, v);
}

/* ---- state ---- */

bool kos_store_failed(const struct kos_store_state *st, uint32_t gen)
{
    for (uint32_t i = 0; i < st->n_failed; i++)
        if (st->failed[i] == gen)
            return true;
    return false;
}

/* Remembers generation gen as failed (the oldest is forgotten beyond
 * KOS_STORE_FAILED_MAX), or, failed false, forgets it. */
static void mark_failed(struct kos_store_state *st, uint32_t gen, bool failed)
{
    uint32_t keep[KOS_STORE_FAILED_MAX + 1], n = 0;
    bool put = !failed || gen == 0;

    for (uint32_t i = 0; i < st->n_failed; i++) {
        if (st->failed[i] == gen)
            continue;
        if (!put && st->failed[i] > gen) {
            keep[n++] = gen;
            put = true;
        }
        keep[n++] = st->failed[i];
    }
    if (!put)
        keep[n++] = gen;
    if (n > KOS_STORE_FAILED_MAX) {
        memmove(keep, keep + (n - KOS_STORE_FAILED_MAX), KOS_STORE_FAILED_MAX * sizeof(keep[0]));
        n = KOS_STORE_FAILED_MAX;
    }
    memcpy(st->failed, keep, n * sizeof(keep[0]));
    st->n_failed = n;
}

/* "failed N N ...": ascending numbers from 1, single spaces, at most
 * KOS_STORE_FAILED_MAX. */
static bool parse_failed(const char *line, struct kos_store_state *st)
{
    const char *p = line + strlen("failed");
    char num[16];

    if (strncmp(line, "failed ", 7) != 0)
        return false;
    while (*p == ' ') {
        size_t k = strcspn(++p, " ");
        uint64_t v;
        if (k == 0 || k >= sizeof(num) || st->n_failed == KOS_STORE_FAILED_MAX)
            return false;
        memcpy(num, p, k);
        num[k] = '\0';
        if (!parse_u(num, UINT32_MAX, &v) || v == 0 ||
            (st->n_failed && v <= st->failed[st->n_failed - 1]))
            return false;
        st->failed[st->n_failed++] = (uint32_t)v;
        p += k;
    }
    return *p == '\0' && st->n_failed > 0;
}

kos_status_t kos__store_parse_state(const char *buf, size_t len, struct kos_store_state *st)
{
    static const char *const keys[] = {"current", "good", "tries"};
    const char *p = buf, *end = buf + len;
    char line[256];
    uint64_t v[3];
    bool ok = len > strlen(STATE_HEAD) && memcmp(buf, STATE_HEAD, strlen(STATE_HEAD)) == 0;
    struct kos_store_state got = {0};

    *st = (struct kos_store_state){0};
    p += ok ? strlen(STATE_HEAD) : 0;
    for (size_t i = 0; ok && i < 3; i++)
        ok = take_line(&p, end, line, sizeof(line)) && line_u(line, keys[i], UINT32_MAX, &v[i]);
    if (ok && p != end)
        ok = take_line(&p, end, line, sizeof(line)) && parse_failed(line, &got);
    if (!ok || p != end)
        return KOS_STATUS_PROTOCOL;
    got.current = (uint32_t)v[0];
    got.good = (uint32_t)v[1];
    got.tries = (uint32_t)v[2];
    *st = got;
    return KOS_STATUS_OK;
}

size_t kos__store_format_state(const struct kos_store_state *st, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, STATE_HEAD "current %u\ngood %u\ntries %u\n", st->current, st->good,
                     st->tries);
    size_t used;

    if (n <= 0 || (size_t)n >= cap)
        return 0;
    used = (size_t)n;
    for (uint32_t i = 0; i < st->n_failed && i < KOS_STORE_FAILED_MAX; i++) {
        n = snprintf(buf + used, cap - used, "%s%u", i ? " " : "failed ", st->failed[i]);
        if (n <= 0 || (size_t)n >= cap - used)
            return 0;
        used += (size_t)n;
    }
    if (st->n_failed) {
        if (used + 1 >= cap)
            return 0;
        buf[used++] = '\n';
        buf[used] = '\0';
    }
    return used;
}

/* Reads state file `name`: 0 and *st; ENOENT; or another errno (EPROTO
 * for one that does not parse). */
static int read_state_file(struct kos_store *s, const char *name, struct kos_store_state *st)
{
    char buf[STATE_MAX + 1];
    size_t len = 0;
    int e = kos__file_read_small(s->dfd, name, buf, sizeof(buf), &len);

    *st = (struct kos_store_state){0};
    if (!e && kos__store_parse_state(buf, len, st))
        e = EPROTO;
    return e;
}

kos_status_t kos__store_read_state(struct kos_store *s, struct kos_store_state *st, char *err,
                                   size_t errlen)
{
    int e = read_state_file(s, STATE_NAME, st);

    if (e == ENOENT)
        return KOS_STATUS_OK;
    if (e == EPROTO) {
        snprintf(err, errlen,
                 "%s/%s is not a store state (\"kos-store-state 1\", then current, good and "
                 "tries, each a number on its own line)",
                 s->path, STATE_NAME);
        return KOS_STATUS_PROTOCOL;
    }
    if (e) {
        snprintf(err, errlen, "cannot read %s/%s: %s", s->path, STATE_NAME, strerror(e));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

static kos_status_t write_state(struct kos_store *s, const struct kos_store_state *st, char *err,
                                size_t errlen)
{
    char buf[STATE_MAX];
    size_t n = kos__store_format_state(st, buf, sizeof(buf));
    int e = kos__file_replace(s->dfd, STATE_NAME, buf, n);

    if (e) {
        snprintf(err, errlen, "cannot write %s/%s: %s", s->path, STATE_NAME, strerror(e));
        return KOS_STATUS_IO;
    }
    /* The copy, for a state that a bad block or a hand damages. */
    e = kos__file_replace(s->dfd, STATE_COPY, buf, n);
    if (e) {
        snprintf(err, errlen, "cannot write %s/%s: %s", s->path, STATE_COPY, strerror(e));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

kos_status_t kos_store_state(struct kos_store *s, struct kos_store_state *out, char *err,
                             size_t errlen)
{
    return kos__store_read_state(s, out, err, errlen);
}

/* ---- records ---- */

kos_status_t kos__store_parse_record(const char *buf, size_t len, struct kos__store_record *r,
                                     char *why, size_t whylen)
{
    const char *p = buf, *end = buf + len;
    char line[256], hex[65];
    uint64_t v;

    memset(r, 0, sizeof(*r));
#define BAD(what)                                                                                  \
    do {                                                                                           \
        snprintf(why, whylen, "%s", what);                                                         \
        return KOS_STATUS_PROTOCOL;                                                                \
    } while (0)
    if (!take_line(&p, end, line, sizeof(line)) || strcmp(line, "kos-generation 1") != 0)
        BAD("its first line is not \"kos-generation 1\"");
    if (!take_line(&p, end, line, sizeof(line)) || strncmp(line, "manifest ", 9) != 0 ||
        !is_hex64(line + 9))
        BAD("no manifest digest");
    memcpy(r->g.manifest, line + 9, 65);
    if (!take_line(&p, end, line, sizeof(line)) || strncmp(line, "system ", 7) != 0 ||
        !kos__name_valid(line + 7, strlen(line + 7)) || strlen(line + 7) >= sizeof(r->g.system))
        BAD("no system name");
    snprintf(r->g.system, sizeof(r->g.system), "%s", line + 7);
    if (!take_line(&p, end, line, sizeof(line)) || strncmp(line, "signer ", 7) != 0 ||
        (strcmp(line + 7, "-") != 0 && !is_hex(line + 7, 16)))
        BAD("no signer");
    if (strcmp(line + 7, "-") != 0)
        snprintf(r->g.signer, sizeof(r->g.signer), "%s", line + 7);
    if (!take_line(&p, end, line, sizeof(line)))
        BAD("no time it was created");
    if (strncmp(line, "release ", 8) == 0) {
        if (!line_u(line, "release", UINT32_MAX, &v) || v == 0)
            BAD("a release line that is not \"release N\" with N from 1 to 4294967295");
        r->g.release = (uint32_t)v;
        if (!take_line(&p, end, line, sizeof(line)))
            BAD("no time it was created");
        if (strncmp(line, "overlay ", 8) == 0) {
            if (!line_u(line, "overlay", KOS_CM_OVERLAY_MAX, &v) || v == 0)
                BAD("an overlay line that is not \"overlay N\" with N from 1 to 65535");
            r->g.overlay = (uint32_t)v;
            if (!take_line(&p, end, line, sizeof(line)))
                BAD("no time it was created");
        }
    }
    if (!line_u(line, "created", INT64_MAX, &v))
        BAD("no time it was created");
    r->g.created = (int64_t)v;
    for (;;) {
        if (!take_line(&p, end, line, sizeof(line)))
            BAD("it ends before its image.sig");
        if (strcmp(line, "image.sig") == 0)
            break;
        if (strncmp(line, "blob ", 5) != 0 || strlen(line) < 5 + 64 + 2 || line[5 + 64] != ' ' ||
            r->n_blobs == KOS__IMAGE_MAX_ENTRIES)
            BAD("a line that is not \"blob DIGEST SIZE\", or too many");
        memcpy(hex, line + 5, 64);
        hex[64] = '\0';
        if (!kos__store_unhex32(hex, r->blob[r->n_blobs]) ||
            !parse_u(line + 5 + 64 + 1, KOS__IMAGE_BLOB_MAX, &v))
            BAD("a blob line with a bad digest or size");
        r->size[r->n_blobs] = v;
        r->g.bytes += v;
        r->n_blobs++;
    }
    r->g.n_blobs = r->n_blobs;
    r->sig_len = (size_t)(end - p);
    if (r->n_blobs == 0 || r->sig_len == 0 || r->sig_len > KOS__IMAGE_SIG_MAX)
        BAD("no blobs, or no image.sig of at most 1024 bytes");
    memcpy(r->sig, p, r->sig_len);
#undef BAD
    return KOS_STATUS_OK;
}

size_t kos__store_format_record(const struct kos__store_record *r, char *buf, size_t cap)
{
    char hex[65];
    size_t used;
    char release[64] = "";
    int n;

    if (r->g.release && r->g.overlay)
        snprintf(release, sizeof(release), "release %" PRIu32 "\noverlay %" PRIu32 "\n",
                 r->g.release, r->g.overlay);
    else if (r->g.release)
        snprintf(release, sizeof(release), "release %" PRIu32 "\n", r->g.release);
    n = snprintf(buf, cap, GEN_HEAD "manifest %s\nsystem %s\nsigner %s\n%screated %lld\n",
                 r->g.manifest, r->g.system, r->g.signer[0] ? r->g.signer : "-", release,
                 (long long)r->g.created);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    used = (size_t)n;
    for (uint32_t i = 0; i < r->n_blobs; i++) {
        kos__image_hex(r->blob[i], 32, hex);
        n = snprintf(buf + used, cap - used, "blob %s %" PRIu64 "\n", hex, r->size[i]);
        if (n < 0 || (size_t)n >= cap - used)
            return 0;
        used += (size_t)n;
    }
    if (used + strlen(SIG_LINE) + r->sig_len > cap)
        return 0;
    memcpy(buf + used, SIG_LINE, strlen(SIG_LINE));
    used += strlen(SIG_LINE);
    memcpy(buf + used, r->sig, r->sig_len);
    return used + r->sig_len;
}

kos_status_t kos__store_read_record(struct kos_store *s, uint32_t n, struct kos__store_record *r,
                                    char *err, size_t errlen)
{
    char *buf = malloc(RECORD_MAX + 1), name[16], why[128];
    kos_status_t st;
    size_t len = 0;
    int e;

    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    snprintf(name, sizeof(name), "%u", n);
    e = kos__file_read_small(s->gens, name, buf, RECORD_MAX + 1, &len);
    if (e) {
        snprintf(err, errlen, "cannot read generation %u (%s/generations/%u): %s", n, s->path, n,
                 e == EFBIG    ? "too large"
                 : e == EINVAL ? "not a regular file"
                               : strerror(e));
        free(buf);
        return e == ENOENT ? KOS_STATUS_NOT_FOUND : KOS_STATUS_IO;
    }
    st = kos__store_parse_record(buf, len, r, why, sizeof(why));
    if (st)
        snprintf(err, errlen, "generation %u's record (%s/generations/%u) is damaged: %s", n,
                 s->path, n, why);
    r->g.n = n;
    free(buf);
    return st;
}

/* The generations' numbers, ascending; *n how many. */
static kos_status_t gen_numbers(struct kos_store *s, uint32_t *nums, size_t cap, size_t *n,
                                char *err, size_t errlen)
{
    int fd = openat(s->gens, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    *n = 0;
    if (!d) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "cannot list %s/generations: %s", s->path, strerror(errno));
        return KOS_STATUS_IO;
    }
    while ((de = readdir(d))) {
        uint32_t g;
        if (!gen_name(de->d_name, &g))
            continue;
        if (*n == cap) {
            closedir(d);
            snprintf(err, errlen, "%s/generations holds more than %zu generations", s->path, cap);
            return KOS_STATUS_TOO_LARGE;
        }
        nums[(*n)++] = g;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) /* few: insertion sort */
        for (size_t j = i; j > 0 && nums[j - 1] > nums[j]; j--) {
            uint32_t t = nums[j];
            nums[j] = nums[j - 1];
            nums[j - 1] = t;
        }
    return KOS_STATUS_OK;
}

/* kos_store_list(), or with `survey` kos_store_survey(). */
static kos_status_t list(struct kos_store *s, struct kos_store_gen *out, size_t cap, size_t *n,
                         bool survey, char *err, size_t errlen)
{
    uint32_t nums[KOS_STORE_MAX_GENS];
    struct kos__store_record *r = malloc(sizeof(*r));
    size_t count;
    kos_status_t st;

    *n = 0;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    st = gen_numbers(s, nums, KOS_STORE_MAX_GENS, &count, err, errlen);
    for (size_t i = 0; !st && i < count && *n < cap; i++) {
        st = kos__store_read_record(s, nums[i], r, err, errlen);
        if (!st) {
            out[(*n)++] = r->g;
        } else if (survey && st != KOS_STATUS_NO_MEMORY) {
            out[(*n)++] = (struct kos_store_gen){.n = nums[i], .damaged = true};
            st = KOS_STATUS_OK;
        }
    }
    free(r);
    return st;
}

kos_status_t kos_store_list(struct kos_store *s, struct kos_store_gen *out, size_t cap, size_t *n,
                            char *err, size_t errlen)
{
    return list(s, out, cap, n, false, err, errlen);
}

kos_status_t kos_store_survey(struct kos_store *s, struct kos_store_gen *out, size_t cap, size_t *n,
                              char *err, size_t errlen)
{
    return list(s, out, cap, n, true, err, errlen);
}

/* ---- opening ---- */

/* Removes what an interrupted write left: temporary blobs and records. */
static void remove_leftovers(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    bool any = false;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, BLOB_TMP, strlen(BLOB_TMP)) == 0 ||
            (de->d_name[0] == '.' && len > 5 && strcmp(de->d_name + len - 4, ".tmp") == 0)) {
            unlinkat(dirfd(d), de->d_name, 0);
            any = true;
        }
    }
    if (any)
        fsync(dirfd(d));
    closedir(d);
}

/* Opens (or, writing, makes) sub-folder `name`. */
static int sub_dir(struct kos_store *s, const char *name, char *err, size_t errlen)
{
    int fd;

    if (s->write && mkdirat(s->dfd, name, 0700) != 0 && errno != EEXIST)
        fd = -1;
    else
        fd = openat(s->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        snprintf(err, errlen, "cannot open %s/%s: %s", s->path, name, strerror(errno));
    return fd;
}

kos_status_t kos_store_open(const char *dir, bool write, bool create, struct kos_store **out,
                            char *err, size_t errlen)
{
    struct kos_store *s = calloc(1, sizeof(*s));
    char marker[64];
    struct stat st;
    size_t len = 0;
    int e;

    if (!s || !(s->path = strdup(dir))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    s->blobs = s->gens = s->incoming = -1;
    s->write = write;
    if (write && create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make the store %s: %s", dir, strerror(errno));
        goto fail_io;
    }
    s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s->dfd < 0) {
        snprintf(err, errlen, "cannot open the store %s: %s", dir,
                 errno == ENOTDIR ? "not a folder" : strerror(errno));
        if (errno == ENOENT) {
            kos_store_close(s);
            return KOS_STATUS_NOT_FOUND;
        }
        goto fail_io;
    }
    if (write) {
        if (flock(s->dfd, LOCK_EX | LOCK_NB) != 0) {
            snprintf(err, errlen, "the store %s is in use by another Core or kos-tool", dir);
            kos_store_close(s);
            return KOS_STATUS_BUSY;
        }
        if (fstat(s->dfd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
            snprintf(err, errlen,
                     "the store %s is not this user's own, or others may write to it: another "
                     "user could change what boots",
                     dir);
            kos_store_close(s);
            return KOS_STATUS_UNAUTHORIZED;
        }
    }
    e = kos__file_read_small(s->dfd, MARKER_NAME, marker, sizeof(marker), &len);
    if (e == ENOENT && write) {
        /* A new store: only in an empty folder. */
        int fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;
        bool empty = d != NULL;
        while (d && (de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                empty = false;
        if (d)
            closedir(d);
        if (!empty) {
            snprintf(err, errlen,
                     "%s is not a KOS store (it has no kos-store file) and is not empty: "
                     "refusing to use it as one",
                     dir);
            kos_store_close(s);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        e = kos__file_replace(s->dfd, MARKER_NAME, MARKER, strlen(MARKER));
        if (e) {
            snprintf(err, errlen, "cannot write %s/%s: %s", dir, MARKER_NAME, strerror(e));
            goto fail_io;
        }
    } else if (e) {
        snprintf(err, errlen, "%s is not a KOS store: %s/%s %s", dir, dir, MARKER_NAME,
                 e == ENOENT ? "is missing" : strerror(e));
        kos_store_close(s);
        return e == ENOENT ? KOS_STATUS_NOT_FOUND : KOS_STATUS_IO;
    } else if (strcmp(marker, MARKER) != 0) {
        snprintf(err, errlen,
                 "%s/%s does not say \"kos-store 1\": a store of another format, which this "
                 "KOS does not read",
                 dir, MARKER_NAME);
        kos_store_close(s);
        return KOS_STATUS_PROTOCOL;
    }
    if ((s->blobs = sub_dir(s, "blobs", err, errlen)) < 0 ||
        (s->gens = sub_dir(s, "generations", err, errlen)) < 0)
        goto fail_io;
    if (write) {
        remove_leftovers(s->dfd);
        remove_leftovers(s->blobs);
        remove_leftovers(s->gens);
    }
    *out = s;
    return KOS_STATUS_OK;

fail_io:
    kos_store_close(s);
    return KOS_STATUS_IO;
}

void kos_store_close(struct kos_store *s)
{
    if (!s)
        return;
    if (s->blobs >= 0)
        close(s->blobs);
    if (s->gens >= 0)
        close(s->gens);
    if (s->incoming >= 0)
        close(s->incoming);
    if (s->dfd >= 0)
        close(s->dfd);
    free(s->path);
    free(s);
}

const char *kos_store_path(const struct kos_store *s)
{
    return s->path;
}

/* ---- importing ---- */

/* Writes blob `sha` from fd (read from its start) or mem to its temporary
 * file, unless a file of that name and size is there (booting checks its
 * digest anyway): *written says whether. The caller syncs the store's file
 * system and then renames it into place (put_blobs_done). */
static kos_status_t put_blob(struct kos_store *s, const uint8_t sha[32], int src, const void *mem,
                             size_t size, bool *written, char *err, size_t errlen)
{
    char hex[65], tmp[80];
    struct stat st;
    int fd, e = 0;

    *written = false;
    kos__image_hex(sha, 32, hex);
    if (fstatat(s->blobs, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        (size_t)st.st_size == size)
        return KOS_STATUS_OK;
    snprintf(tmp, sizeof(tmp), BLOB_TMP "%s", hex);
    unlinkat(s->blobs, tmp, 0);
    fd = openat(s->blobs, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = errno;
        goto out;
    }
    if (mem) {
        if (kos__write_all(fd, mem, size) != 0)
            e = errno;
    } else {
        char *buf = malloc(COPY_CHUNK);
        off_t off = 0;
        if (!buf)
            e = ENOMEM;
        while (!e && (size_t)off < size) {
            ssize_t r = pread(src, buf, COPY_CHUNK, off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                e = r < 0 ? errno : EIO;
            else if (kos__write_all(fd, buf, (size_t)r) != 0)
                e = errno;
            else
                off += r;
        }
        free(buf);
    }
    close(fd);
    *written = !e;
out:
    if (e) {
        unlinkat(s->blobs, tmp, 0);
        snprintf(err, errlen, "cannot store blob %s in %s/blobs: %s", hex, s->path, strerror(e));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

/* The blobs written (n of them, their digests in sha) are made durable
 * with one sync of the store's file system, which is cheaper than a sync
 * per file and as safe (nothing names them yet), then renamed into place
 * and the folder synced. */
static kos_status_t put_blobs_done(struct kos_store *s, uint8_t (*sha)[32], size_t n, char *err,
                                   size_t errlen)
{
    char hex[65], tmp[80];

    if (n && syncfs(s->blobs) != 0) {
        snprintf(err, errlen, "cannot sync the store %s: %s", s->path, strerror(errno));
        return KOS_STATUS_IO;
    }
    for (size_t i = 0; i < n; i++) {
        kos__image_hex(sha[i], 32, hex);
        snprintf(tmp, sizeof(tmp), BLOB_TMP "%s", hex);
        if (renameat(s->blobs, tmp, s->blobs, hex) != 0) {
            snprintf(err, errlen, "cannot store blob %s in %s/blobs: %s", hex, s->path,
                     strerror(errno));
            return KOS_STATUS_IO;
        }
    }
    if (n && fsync(s->blobs) != 0) {
        snprintf(err, errlen, "cannot sync %s/blobs: %s", s->path, strerror(errno));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

/* Removes generations that are neither current, good nor among the
 * KOS_STORE_KEEP newest, then the blobs no kept generation needs. */
static void collect(struct kos_store *s, const struct kos_store_state *state)
{
    uint32_t nums[KOS_STORE_MAX_GENS];
    struct kos__store_record *r = malloc(sizeof(*r));
    uint8_t(*keep)[32] = calloc(KOS_STORE_MAX_GENS * KOS__IMAGE_MAX_ENTRIES, 32);
    size_t n, n_keep = 0;
    char err[256], name[16];
    bool damaged = false;

    if (!r || !keep || gen_numbers(s, nums, KOS_STORE_MAX_GENS, &n, err, sizeof(err)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        bool kept = nums[i] == state->current || nums[i] == state->good || i + KOS_STORE_KEEP >= n;
        if (!kept) {
            snprintf(name, sizeof(name), "%u", nums[i]);
            unlinkat(s->gens, name, 0);
            continue;
        }
        if (kos__store_read_record(s, nums[i], r, err, sizeof(err))) {
            damaged = true; /* its blobs are unknown: keep every blob */
            continue;
        }
        memcpy(keep[n_keep], r->blob, (size_t)r->n_blobs * 32);
        n_keep += r->n_blobs;
    }
    fsync(s->gens);
    if (damaged)
        goto out;
    int fd = openat(s->blobs, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        uint8_t sha[32];
        bool needed = false;
        if (!kos__store_unhex32(de->d_name, sha))
            continue;
        for (size_t i = 0; i < n_keep && !needed; i++)
            needed = memcmp(keep[i], sha, 32) == 0;
        if (!needed)
            unlinkat(s->blobs, de->d_name, 0);
    }
    if (d) {
        fsync(s->blobs);
        closedir(d);
    } else if (fd >= 0) {
        close(fd);
    }
out:
    free(keep);
    free(r);
}

/* "release 7", "release 7 overlay 2", or "without a release number". */
static const char *release_name(uint32_t release, uint32_t overlay, char buf[48])
{
    if (!release)
        return "without a release number";
    if (overlay)
        snprintf(buf, 48, "release %u overlay %u", release, overlay);
    else
        snprintf(buf, 48, "release %u", release);
    return buf;
}

/* A release never goes back (store.h): an image of release `release`
 * (overlay `overlay` of it, or 0) may follow generation `was` (its record
 * *g) only when it comes later, release first, then overlay, or when
 * neither has a release number. */
static kos_status_t check_release(const struct kos_store *s, uint32_t was,
                                  const struct kos_store_gen *g, uint32_t release,
                                  uint32_t overlay, char *err, size_t errlen)
{
    char mine[48], theirs[48];

    if (release > g->release || (release == g->release && release && overlay > g->overlay) ||
        (release == 0 && g->release == 0))
        return KOS_STATUS_OK;
    const char *m = release_name(release, overlay, mine);
    const char *t = release_name(g->release, g->overlay, theirs);
    if (release == g->release && overlay == g->overlay)
        snprintf(err, errlen,
                 "it is %s, as generation %u of %s already is, with other contents: a new "
                 "release needs a higher number (the manifest's 'release' key), a new overlay "
                 "a higher 'overlay'",
                 m, was, s->path);
    else
        snprintf(err, errlen,
                 "it is %s, older than generation %u of %s (%s): a device never goes back to an "
                 "older release; build the old contents as a new release to return to them",
                 m, was, s->path, t);
    return KOS_STATUS_UNAUTHORIZED;
}

kos_status_t kos__store_may_add(struct kos_store *s, const char *manifest_hex, uint32_t release,
                                uint32_t overlay, struct kos_store_state *state, uint32_t *same,
                                char *err, size_t errlen)
{
    struct kos__store_record *cur = malloc(sizeof(*cur));
    kos_status_t st;

    *same = 0;
    if (!cur) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    st = kos__store_read_state(s, state, err, errlen);
    if (st)
        goto out;
    uint32_t was = state->current;
    bool have_cur = was && kos__store_read_record(s, was, cur, err, errlen) == KOS_STATUS_OK;
    if (have_cur && strcmp(cur->g.manifest, manifest_hex) == 0) {
        *same = was;
        goto out;
    }
    if (!have_cur && state->good && state->good != state->current &&
        kos__store_read_record(s, state->good, cur, err, errlen) == KOS_STATUS_OK) {
        have_cur = true;
        was = state->good;
    }
    st = have_cur ? check_release(s, was, &cur->g, release, overlay, err, errlen)
                  : KOS_STATUS_OK;
out:
    free(cur);
    return st;
}

/* The first step of storing image img as a generation: whether it may be
 * (kos__store_may_add), its number (*gen; 0 when it is current already),
 * and its record, with for each blob the process whose binary it is
 * (proc_of[i]; the manifest's, blob 0, has none). */
static kos_status_t begin_add(struct kos_store *s, const struct kos_image *img,
                              struct kos_store_state *state, struct kos__store_record *rec,
                              uint32_t *proc_of, uint32_t *gen, char *err, size_t errlen)
{
    const struct kos_cm *cm = kos_image_manifest(img);
    uint32_t nums[KOS_STORE_MAX_GENS], same;
    size_t n_gens, sig_len, cm_len;
    kos_status_t st;

    *gen = 0;
    st = kos__store_may_add(s, kos_image_manifest_digest(img), cm->hdr->release,
                            kos_cm_overlay(cm), state, &same, err, errlen);
    if (st || same)
        return st;
    st = gen_numbers(s, nums, KOS_STORE_MAX_GENS, &n_gens, err, errlen);
    if (st)
        return st;
    uint32_t next = n_gens ? nums[n_gens - 1] + 1 : 1;
    if (next > 999999999u) {
        snprintf(err, errlen, "the store %s has used every generation number", s->path);
        return KOS_STATUS_TOO_LARGE;
    }

    const char *sig = kos_image_sig_text(img, &sig_len);
    kos_image_manifest_bytes(img, &cm_len);
    snprintf(rec->g.manifest, sizeof(rec->g.manifest), "%s", kos_image_manifest_digest(img));
    snprintf(rec->g.system, sizeof(rec->g.system), "%s", kos_cm_str(cm, cm->hdr->system_name));
    snprintf(rec->g.signer, sizeof(rec->g.signer), "%s",
             kos_image_signer(img) ? kos_image_signer(img) : "");
    rec->g.release = cm->hdr->release;
    rec->g.overlay = kos_cm_overlay(cm);
    rec->g.created = (int64_t)time(NULL);
    if (!kos__store_unhex32(rec->g.manifest, rec->blob[0])) {
        snprintf(err, errlen, "internal error: the image's manifest digest");
        return KOS_STATUS_INTERNAL;
    }
    rec->size[0] = cm_len;
    rec->n_blobs = 1;
    for (uint32_t i = 0; i < kos_cm_nprocs(cm); i++) {
        const struct kos_cm_proc *p = kos_cm_proc(cm, i);
        bool seen = false;
        struct stat sb;
        for (uint32_t j = 0; j < rec->n_blobs && !seen; j++)
            seen = memcmp(rec->blob[j], p->sha256, 32) == 0;
        if (seen)
            continue;
        if (rec->n_blobs == KOS__IMAGE_MAX_ENTRIES || fstat(kos_image_binary_fd(img, i), &sb)) {
            snprintf(err, errlen, "cannot read a binary of the image");
            return KOS_STATUS_INTERNAL;
        }
        memcpy(rec->blob[rec->n_blobs], p->sha256, 32);
        proc_of[rec->n_blobs] = i;
        rec->size[rec->n_blobs++] = (uint64_t)sb.st_size;
    }
    memcpy(rec->sig, sig, sig_len);
    rec->sig_len = sig_len;
    *gen = next;
    return KOS_STATUS_OK;
}

/* The last step, once every blob of rec is in the store and synced: the
 * record, then state naming it current, then what no kept generation
 * needs goes. */
static kos_status_t finish_add(struct kos_store *s, const struct kos__store_record *rec,
                               struct kos_store_state *state, uint32_t gen, char *err,
                               size_t errlen)
{
    char *text = malloc(RECORD_MAX), name[16];
    kos_status_t st;
    size_t len;
    int e;

    if (!text) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    len = kos__store_format_record(rec, text, RECORD_MAX);
    if (!len) {
        snprintf(err, errlen, "internal error: a generation record too large");
        free(text);
        return KOS_STATUS_INTERNAL;
    }
    snprintf(name, sizeof(name), "%u", gen);
    e = kos__file_replace(s->gens, name, text, len);
    free(text);
    if (e) {
        snprintf(err, errlen, "cannot write %s/generations/%s: %s", s->path, name, strerror(e));
        return KOS_STATUS_IO;
    }
    state->current = gen;
    state->tries = 0;
    st = write_state(s, state, err, errlen);
    if (!st)
        collect(s, state);
    return st;
}

/* Stores opened image img: its blobs (put_blob: from the image file when
 * `from_file`, else they are in the store already), its record, state. */
static kos_status_t add_image(struct kos_store *s, const struct kos_image *img, bool from_file,
                              uint32_t *gen, bool *added, char *err, size_t errlen)
{
    struct kos__store_record *rec = calloc(1, sizeof(*rec));
    uint32_t *proc_of = calloc(KOS__IMAGE_MAX_ENTRIES, sizeof(*proc_of));
    uint8_t(*new_blobs)[32] = calloc(KOS__IMAGE_MAX_ENTRIES, 32);
    struct kos_store_state state;
    size_t n_new = 0, cm_len;
    kos_status_t st;

    *added = false;
    if (!rec || !proc_of || !new_blobs) {
        snprintf(err, errlen, "out of memory");
        st = KOS_STATUS_NO_MEMORY;
        goto out;
    }
    st = begin_add(s, img, &state, rec, proc_of, gen, err, errlen);
    if (st || !*gen) {
        if (!st)
            *gen = state.current; /* the same image as current: nothing to do */
        goto out;
    }
    const void *cm_bytes = kos_image_manifest_bytes(img, &cm_len);
    for (uint32_t i = 0; from_file && !st && i < rec->n_blobs; i++) {
        bool written;
        st = i == 0 ? put_blob(s, rec->blob[0], -1, cm_bytes, cm_len, &written, err, errlen)
                    : put_blob(s, rec->blob[i], kos_image_binary_fd(img, proc_of[i]), NULL,
                               (size_t)rec->size[i], &written, err, errlen);
        if (!st && written)
            memcpy(new_blobs[n_new++], rec->blob[i], 32);
    }
    if (!st)
        st = put_blobs_done(s, new_blobs, n_new, err, errlen);
    if (!st)
        st = finish_add(s, rec, &state, *gen, err, errlen);
    *added = st == KOS_STATUS_OK;
out:
    free(new_blobs);
    free(proc_of);
    free(rec);
    return st;
}

/* Opens the image (from the file at zip_path, or else from the store's
 * blobs and image.sig `sig`), verified, and stores it. */
static kos_status_t open_and_add(struct kos_store *s, const char *zip_path, const char *sig,
                                 size_t sig_len, const struct kos_image_open_opts *opts,
                                 uint32_t *gen, bool *added, char *err, size_t errlen)
{
    struct kos_image *img = NULL;
    kos_status_t st;

    *added = false;
    if (!s->write) {
        snprintf(err, errlen, "the store %s is open read-only", s->path);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    st = zip_path ? kos_image_open(zip_path, opts, &img, err, errlen)
                  : kos_image_open_blobs(s->blobs, sig, sig_len, opts, &img, err, errlen);
    if (!st)
        st = add_image(s, img, zip_path != NULL, gen, added, err, errlen);
    kos_image_close(img);
    return st;
}

kos_status_t kos_store_import(struct kos_store *s, const char *zip_path,
                              const struct kos_image_open_opts *opts, uint32_t *gen, bool *added,
                              char *err, size_t errlen)
{
    return open_and_add(s, zip_path, NULL, 0, opts, gen, added, err, errlen);
}

kos_status_t kos_store_add(struct kos_store *s, const char *sig, size_t sig_len,
                           const struct kos_image_open_opts *opts, uint32_t *gen, bool *added,
                           char *err, size_t errlen)
{
    return open_and_add(s, NULL, sig, sig_len, opts, gen, added, err, errlen);
}

/* ---- booting ---- */

/* What to boot when `state` is missing or damaged (why: an errno from
 * read_state_file): its copy, or else, when the store holds generations,
 * the newest (which the boot then verifies). found says what was found. */
static kos_status_t recover_state(struct kos_store *s, int why, struct kos_store_state *state,
                                  char *found, size_t foundlen, char *err, size_t errlen)
{
    const char *what = why == ENOENT   ? "is missing"
                       : why == EPROTO ? "does not parse"
                                       : "cannot be read";
    uint32_t nums[KOS_STORE_MAX_GENS];
    size_t n;
    kos_status_t st;

    if (read_state_file(s, STATE_COPY, state) == 0 && state->current) {
        snprintf(found, foundlen, "%s/%s %s: booting as its copy, %s, says", s->path, STATE_NAME,
                 what, STATE_COPY);
        return write_state(s, state, err, errlen);
    }
    st = gen_numbers(s, nums, KOS_STORE_MAX_GENS, &n, err, errlen);
    *state = (struct kos_store_state){0};
    if (st || n == 0)
        return st; /* nothing stored yet: nothing to boot */
    state->current = nums[n - 1];
    snprintf(found, foundlen,
             "%s/%s %s, and its copy, %s, cannot be used either: booting the newest "
             "generation with no good one known",
             s->path, STATE_NAME, what, STATE_COPY);
    return write_state(s, state, err, errlen);
}

kos_status_t kos_store_boot(struct kos_store *s, uint32_t *gen, char *note, size_t notelen,
                            char *err, size_t errlen)
{
    struct kos_store_state state;
    kos_status_t st = KOS_STATUS_OK;
    int e = read_state_file(s, STATE_NAME, &state);

    note[0] = '\0';
    if (e && (st = recover_state(s, e, &state, note, notelen, err, errlen)))
        return st;
    size_t used = strlen(note);
    if (used) {
        snprintf(note + used, notelen - used, "; ");
        used = strlen(note);
    }
    note += used;
    notelen -= used;
    if (!state.current) {
        snprintf(err, errlen, "the store %s holds no current generation: give an image to boot",
                 s->path);
        return KOS_STATUS_NOT_FOUND;
    }
    *gen = state.current;
    if (state.current == state.good) {
        if (used)
            snprintf(note, notelen, "booting generation %u, the good one", state.current);
        return KOS_STATUS_OK;
    }
    if (state.tries >= KOS_STORE_TRIES && state.good) {
        snprintf(note, notelen,
                 "generation %u did not pass its self test in %u boot%s: falling back to "
                 "generation %u, the last good one",
                 state.current, state.tries, state.tries == 1 ? "" : "s", state.good);
        mark_failed(&state, state.current, true);
        *gen = state.current = state.good;
        state.tries = 0;
    } else {
        state.tries++;
        if (state.tries > KOS_STORE_TRIES)
            snprintf(note, notelen,
                     "generation %u has not passed its self test in %u boots, and no generation "
                     "is good to fall back to: booting it again",
                     state.current, state.tries - 1);
        else
            snprintf(note, notelen,
                     "generation %u is new: boot %u of %u in which its self test must pass, or "
                     "the store falls back%s",
                     state.current, state.tries, KOS_STORE_TRIES,
                     state.good ? "" : " (there is no good generation yet)");
    }
    return write_state(s, &state, err, errlen);
}

static bool in_list(const uint32_t *list, size_t n, uint32_t g)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == g)
            return true;
    return false;
}

kos_status_t kos_store_fall_back(struct kos_store *s, const uint32_t *tried, size_t n_tried,
                                 uint32_t *gen, char *note, size_t notelen, char *err,
                                 size_t errlen)
{
    uint32_t nums[KOS_STORE_MAX_GENS];
    struct kos_store_state state;
    kos_status_t st = kos__store_read_state(s, &state, err, errlen);
    size_t n;

    if (st)
        return st;
    if (state.good && !in_list(tried, n_tried, state.good)) {
        *gen = state.good;
        snprintf(note, notelen, "falling back to generation %u, the good one", *gen);
    } else {
        st = gen_numbers(s, nums, KOS_STORE_MAX_GENS, &n, err, errlen);
        if (st)
            return st;
        *gen = 0;
        for (size_t i = n; i > 0 && !*gen; i--)
            if (!in_list(tried, n_tried, nums[i - 1]))
                *gen = nums[i - 1];
        if (!*gen) {
            snprintf(err, errlen, "no generation of the store %s can be booted", s->path);
            return KOS_STATUS_NOT_FOUND;
        }
        snprintf(note, notelen, "%s: falling back to generation %u, the newest one left to try",
                 state.good ? "the good generation cannot be booted either"
                            : "no generation is good",
                 *gen);
    }
    state.current = *gen;
    state.tries = 0;
    return write_state(s, &state, err, errlen);
}

kos_status_t kos_store_settle(struct kos_store *s, uint32_t gen, bool passed, char *note,
                              size_t notelen, char *err, size_t errlen)
{
    struct kos_store_state state;
    kos_status_t st = kos__store_read_state(s, &state, err, errlen);

    note[0] = '\0';
    if (st || gen != state.current)
        return st;
    if (passed) {
        if (state.good == gen)
            return KOS_STATUS_OK;
        snprintf(note, notelen, "generation %u passed its self test: it is the good one now", gen);
        mark_failed(&state, gen, false);
        state.good = gen;
        state.tries = 0;
    } else {
        if (!state.good || state.good == gen)
            return KOS_STATUS_OK;
        snprintf(note, notelen,
                 "generation %u failed its self test: the next boot falls back to generation %u",
                 gen, state.good);
        mark_failed(&state, gen, true);
        state.current = state.good;
        state.tries = 0;
    }
    return write_state(s, &state, err, errlen);
}

kos_status_t kos_store_open_image(struct kos_store *s, uint32_t gen,
                                  const struct kos_image_open_opts *opts, struct kos_image **out,
                                  char *err, size_t errlen)
{
    struct kos__store_record *r = malloc(sizeof(*r));
    char why[768];
    kos_status_t st;

    if (!r) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    st = kos__store_read_record(s, gen, r, err, errlen);
    if (!st) {
        st = kos_image_open_blobs(s->blobs, r->sig, r->sig_len, opts, out, why, sizeof(why));
        if (st)
            snprintf(err, errlen, "generation %u of %s: %s", gen, s->path, why);
        else if (strcmp(kos_image_manifest_digest(*out), r->g.manifest) != 0) {
            snprintf(err, errlen,
                     "generation %u of %s: its record names manifest %s, its image.sig %s", gen,
                     s->path, r->g.manifest, kos_image_manifest_digest(*out));
            kos_image_close(*out);
            *out = NULL;
            st = KOS_STATUS_PROTOCOL;
        } else if (kos_image_manifest(*out)->hdr->release != r->g.release ||
                   kos_cm_overlay(kos_image_manifest(*out)) != r->g.overlay) {
            char said[48], is[48];
            snprintf(err, errlen, "generation %u of %s: its record says %s, its manifest %s", gen,
                     s->path, release_name(r->g.release, r->g.overlay, said),
                     release_name(kos_image_manifest(*out)->hdr->release,
                                  kos_cm_overlay(kos_image_manifest(*out)), is));
            kos_image_close(*out);
            *out = NULL;
            st = KOS_STATUS_PROTOCOL;
        }
    }
    free(r);
    return st;
}
