/*
 * compiled.c - checking and reading the compiled manifest in place.
 *
 * kos_cm_open() is the one gate between an untrusted buffer (it comes out of
 * a system image) and KOS Core: it checks every field of the header, every
 * table's bounds and alignment, every string, index, enum and reserved field,
 * with 64-bit arithmetic so that no sum can wrap. What stays true of a view
 * it accepts: every accessor below reads inside the buffer, every string
 * offset found in it names a NUL-terminated string inside the pool, names
 * are valid KOS names and unique, every grant points at a message server,
 * every resource is a device with an absolute path or a declared memory
 * region (page-sized, at least one page), with access bits inside
 * read|write, and every config entry is "name=value". It never allocates,
 * and its work is linear in the buffer's size (names are scanned at most 64
 * bytes, device paths at most KOS__MF_MAX_PATH + 1, and the pool's last byte
 * is a NUL, so no other string needs scanning to be known terminated).
 */
#include <assert.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "compiled.h"
#include "mf_int.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the compiled manifest is little-endian and read in place");
_Static_assert(sizeof(struct kos_cm_header) == 72, "header layout");
_Static_assert(sizeof(struct kos_cm_proc) == 136, "process layout");
_Static_assert(sizeof(struct kos_cm_grant) == 12, "grant layout");
_Static_assert(sizeof(struct kos_cm_res) == 16, "resource layout");
_Static_assert(sizeof(struct kos_cm_region) == 16, "region layout");

#define CM_FLAGS                                                                                   \
    (KOS_CM_SIGNING_DISABLED | KOS_CM_ISOLATION_BEST_EFFORT | KOS_CM_PROFILE_DEVELOPMENT)
#define CM_PROC_FLAGS                                                                              \
    (KOS_CM_PROC_ENDS_SYSTEM | KOS_CM_PROC_DATA_DIR | KOS_CM_PROC_DEBUG | KOS_CM_PROC_NET_HOST |   \
     KOS_CM_PROC_DEVICE_KEYS | KOS_CM_PROC_SELF_TEST | KOS_CM_PROC_MANAGES_SYSTEM)
/* Flags that at most one process, an app, may carry. */
#define CM_PROC_SINGLE_FLAGS                                                                       \
    (KOS_CM_PROC_DEVICE_KEYS | KOS_CM_PROC_SELF_TEST | KOS_CM_PROC_MANAGES_SYSTEM)
#define CM_ACCESS (KOS_CM_ACCESS_READ | KOS_CM_ACCESS_WRITE)

/* ---- names ---------------------------------------------------------- */

static bool is_alnum(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

bool kos__mf_name_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > 63 || !is_alnum((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!is_alnum(ch) && ch != '_' && ch != '.' && ch != '-')
            return false;
    }
    return true;
}

bool kos__mf_env_key_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > KOS__MF_MAX_ENV_KEY)
        return false;
    if (!(is_alnum((unsigned char)s[0]) || s[0] == '_') || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!is_alnum(ch) && ch != '_')
            return false;
    }
    return true;
}

bool kos__mf_device_path_valid(const char *s, size_t len)
{
    if (s == NULL || len < 2 || len > KOS__MF_MAX_PATH || s[0] != '/' ||
        memchr(s, '\0', len) != NULL)
        return false;
    /* Look at every component: the text between two '/' (or the end). */
    for (size_t i = 0; i < len;) {
        size_t j = i + 1;
        while (j < len && s[j] != '/')
            j++;
        if (j - i == 3 && s[i + 1] == '.' && s[i + 2] == '.')
            return false;
        i = j;
    }
    return true;
}

#define HDR_FIELD(f) ((uint64_t)offsetof(struct kos_cm_header, f))

static kos_status_t cm_fail(char *err, size_t errlen, kos_status_t st, uint64_t off,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Writes "offset N: <sentence>" into err and returns st. */
static kos_status_t cm_fail(char *err, size_t errlen, kos_status_t st, uint64_t off,
                            const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return st;
    int w = snprintf(err, errlen, "offset %llu: ", (unsigned long long)off);
    if (w >= 0 && (size_t)w < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + w, errlen - (size_t)w, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* The state of one kos_cm_open() call. */
struct cm_check {
    const uint8_t *base;
    size_t len;
    const struct kos_cm_header *hdr;
    const uint8_t *pool;
    char *err;
    size_t errlen;
};

#define CHECK_FAIL(k, off, ...)                                                                    \
    cm_fail((k)->err, (k)->errlen, KOS_STATUS_PROTOCOL, (off), __VA_ARGS__)

/* True if string offset `s` lies inside the pool (the pool's last byte is a
 * NUL, so the string is then terminated). */
static bool str_in_pool(const struct cm_check *k, uint32_t s)
{
    return s < k->hdr->strings_len;
}

/* Checks that string offset `s`, stored at byte `at`, names a valid name. */
static kos_status_t check_name(const struct cm_check *k, uint64_t at, uint32_t s, const char *what)
{
    if (!str_in_pool(k, s))
        return CHECK_FAIL(k, at, "%s string offset %u is outside the %u-byte string pool", what, s,
                          k->hdr->strings_len);
    const char *p = (const char *)k->pool + s;
    size_t max = k->hdr->strings_len - s;
    const char *nul = memchr(p, '\0', max < 64 ? max : 64);
    if (nul == NULL || !kos__mf_name_valid(p, (size_t)(nul - p)))
        return CHECK_FAIL(k, at,
                          "%s at string offset %u is not a valid name (1 to 63 letters, digits, "
                          "'_', '.' or '-', starting with a letter or digit)",
                          what, s);
    return KOS_STATUS_OK;
}

/* Checks a table of `n` entries of `size` bytes at `off`, `align`-aligned,
 * after the header and inside the buffer. `f_off` is where the header holds
 * the offset, for the message. */
static kos_status_t check_table(const struct cm_check *k, uint64_t f_off, const char *what,
                                uint64_t off, uint64_t n, uint64_t size, uint64_t align)
{
    if (off % align != 0)
        return CHECK_FAIL(k, f_off, "%s offset %llu is not %llu-byte aligned", what,
                          (unsigned long long)off, (unsigned long long)align);
    if (off < sizeof(struct kos_cm_header))
        return CHECK_FAIL(k, f_off, "%s offset %llu overlaps the %zu-byte header", what,
                          (unsigned long long)off, sizeof(struct kos_cm_header));
    uint64_t bytes = n * size; /* n < 2^32 and size <= 120: no overflow */
    if ((off > k->len || bytes > k->len - off) && size == 1)
        return CHECK_FAIL(k, f_off,
                          "%s (%llu bytes at offset %llu) runs past the end of the %zu-byte buffer",
                          what, (unsigned long long)n, (unsigned long long)off, k->len);
    if (off > k->len || bytes > k->len - off)
        return CHECK_FAIL(k, f_off,
                          "%s (%llu entries of %llu bytes at offset %llu) runs past the end of the "
                          "%zu-byte buffer",
                          what, (unsigned long long)n, (unsigned long long)size,
                          (unsigned long long)off, k->len);
    return KOS_STATUS_OK;
}

/* Checks that the byte ranges [a, a+alen) and [b, b+blen) do not overlap. */
static kos_status_t check_apart(const struct cm_check *k, const char *an, uint64_t a, uint64_t alen,
                                const char *bn, uint64_t b, uint64_t blen)
{
    if (alen == 0 || blen == 0 || a + alen <= b || b + blen <= a)
        return KOS_STATUS_OK;
    return CHECK_FAIL(k, a > b ? a : b,
                      "the %s (offset %llu, %llu bytes) overlaps the %s (offset "
                      "%llu, %llu bytes)",
                      an, (unsigned long long)a, (unsigned long long)alen, bn,
                      (unsigned long long)b, (unsigned long long)blen);
}

static kos_status_t check_header(struct cm_check *k)
{
    const struct kos_cm_header *h = k->hdr;
    kos_status_t st;

    if (memcmp(h->magic, KOS_CM_MAGIC, 4) != 0)
        return CHECK_FAIL(k, HDR_FIELD(magic), "bad magic; a compiled manifest starts with \"%s\"",
                          KOS_CM_MAGIC);
    if (h->version != KOS_CM_VERSION && h->version != KOS_CM_VERSION_4 &&
        h->version != KOS_CM_VERSION_3)
        return CHECK_FAIL(k, HDR_FIELD(version),
                          "unsupported version %u; this reader reads "
                          "versions %u to %u",
                          h->version, KOS_CM_VERSION_3, KOS_CM_VERSION);
    if (h->size != k->len)
        return CHECK_FAIL(k, HDR_FIELD(size), "size field says %u bytes but the buffer holds %zu",
                          h->size, k->len);
    uint32_t overlay = h->flags >> KOS_CM_OVERLAY_SHIFT;
    uint32_t flags = h->version == KOS_CM_VERSION ? h->flags & KOS_CM_OVERLAY_MAX : h->flags;
    if ((flags & ~(uint32_t)CM_FLAGS) != 0)
        return CHECK_FAIL(k, HDR_FIELD(flags), "unknown flags 0x%x; the valid flags are 0x%x",
                          flags & ~(uint32_t)CM_FLAGS, (unsigned)CM_FLAGS);
    if (h->version == KOS_CM_VERSION && overlay != 0 && h->release == 0)
        return CHECK_FAIL(k, HDR_FIELD(flags),
                          "overlay %u of no release: an overlay changes a numbered release",
                          overlay);
    if (h->version == KOS_CM_VERSION_3 && h->release != 0)
        return CHECK_FAIL(k, HDR_FIELD(release), "reserved field is %u; it must be 0 in version %u",
                          h->release, KOS_CM_VERSION_3);
    if (h->n_procs == 0 || h->n_procs > KOS_CM_MAX_PROCS)
        return CHECK_FAIL(k, HDR_FIELD(n_procs), "%u processes; a system has 1 to %u", h->n_procs,
                          KOS_CM_MAX_PROCS);
    st = check_table(k, HDR_FIELD(procs_off), "process table", h->procs_off, h->n_procs,
                     sizeof(struct kos_cm_proc), 8);
    if (st)
        return st;
    st = check_table(k, HDR_FIELD(grants_off), "grant table", h->grants_off, h->n_grants,
                     sizeof(struct kos_cm_grant), 4);
    if (st)
        return st;
    st = check_table(k, HDR_FIELD(strrefs_off), "string-reference table", h->strrefs_off,
                     h->n_strrefs, sizeof(uint32_t), 4);
    if (st)
        return st;
    st = check_table(k, HDR_FIELD(res_off), "resource table", h->res_off, h->n_res,
                     sizeof(struct kos_cm_res), 4);
    if (st)
        return st;
    if (h->n_regions > KOS__MF_MAX_REGIONS)
        return CHECK_FAIL(k, HDR_FIELD(n_regions), "%u memory regions; a system has at most %u",
                          h->n_regions, KOS__MF_MAX_REGIONS);
    st = check_table(k, HDR_FIELD(regions_off), "region table", h->regions_off, h->n_regions,
                     sizeof(struct kos_cm_region), 8);
    if (st)
        return st;
    st =
        check_table(k, HDR_FIELD(strings_off), "string pool", h->strings_off, h->strings_len, 1, 1);
    if (st)
        return st;
    if (h->strings_len == 0 || k->base[(uint64_t)h->strings_off + h->strings_len - 1] != '\0')
        return CHECK_FAIL(k, HDR_FIELD(strings_len),
                          "the string pool (%u bytes at offset %u) does not end with a NUL",
                          h->strings_len, h->strings_off);

    const struct {
        const char *name;
        uint64_t off, len;
    } r[6] = {
        {"process table", h->procs_off, (uint64_t)h->n_procs * sizeof(struct kos_cm_proc)},
        {"grant table", h->grants_off, (uint64_t)h->n_grants * sizeof(struct kos_cm_grant)},
        {"string-reference table", h->strrefs_off, (uint64_t)h->n_strrefs * sizeof(uint32_t)},
        {"string pool", h->strings_off, h->strings_len},
        {"resource table", h->res_off, (uint64_t)h->n_res * sizeof(struct kos_cm_res)},
        {"region table", h->regions_off, (uint64_t)h->n_regions * sizeof(struct kos_cm_region)},
    };
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++) {
            st = check_apart(k, r[i].name, r[i].off, r[i].len, r[j].name, r[j].off, r[j].len);
            if (st)
                return st;
        }
    k->pool = k->base + h->strings_off;
    return check_name(k, HDR_FIELD(system_name), h->system_name, "system name");
}

/* Checks a config entry "key=value": a valid name, then '='. */
static bool config_ok(const struct cm_check *k, uint32_t s)
{
    const char *p = (const char *)k->pool + s;
    size_t max = k->hdr->strings_len - s;
    if (max > 64)
        max = 64;
    const char *eq = memchr(p, '=', max);
    if (eq == NULL || memchr(p, '\0', (size_t)(eq - p)) != NULL)
        return false;
    return kos__mf_name_valid(p, (size_t)(eq - p));
}

/* Checks the region table: valid, unique names; sizes > 0, page multiples
 * and within the limit; reserved fields zero. */
static kos_status_t check_regions(const struct cm_check *k)
{
    const struct kos_cm_header *h = k->hdr;
    const struct kos_cm_region *r = (const struct kos_cm_region *)(k->base + h->regions_off);
    for (uint32_t i = 0; i < h->n_regions; i++) {
        uint64_t at = (uint64_t)h->regions_off + (uint64_t)i * sizeof(*r);
#define RAT(f) (at + offsetof(struct kos_cm_region, f))
        kos_status_t st = check_name(k, RAT(name), r[i].name, "region name");
        if (st)
            return st;
        if (r[i].reserved != 0)
            return CHECK_FAIL(k, RAT(reserved), "region %u's reserved field is %u; it must be 0", i,
                              r[i].reserved);
        if (r[i].size == 0 || r[i].size % KOS__MF_REGION_ALIGN != 0 ||
            r[i].size > KOS__MF_MAX_REGION_SIZE)
            return CHECK_FAIL(k, RAT(size),
                              "region %u has size %llu; a region is more than 0 bytes, a "
                              "multiple of %u and at most %llu",
                              i, (unsigned long long)r[i].size, KOS__MF_REGION_ALIGN,
                              (unsigned long long)KOS__MF_MAX_REGION_SIZE);
        const char *name = (const char *)k->pool + r[i].name;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp((const char *)k->pool + r[j].name, name) == 0)
                return CHECK_FAIL(k, RAT(name), "region %u has the same name '%s' as region %u", i,
                                  name, j);
#undef RAT
    }
    return KOS_STATUS_OK;
}

/* Checks the resource table: kinds, names, access bits and targets. Which
 * process holds an entry is checked in check_procs(). */
static kos_status_t check_res(const struct cm_check *k)
{
    const struct kos_cm_header *h = k->hdr;
    const struct kos_cm_res *r = (const struct kos_cm_res *)(k->base + h->res_off);
    for (uint32_t i = 0; i < h->n_res; i++) {
        uint64_t at = (uint64_t)h->res_off + (uint64_t)i * sizeof(*r);
#define RAT(f) (at + offsetof(struct kos_cm_res, f))
        if (r[i].kind != KOS_CM_RES_DEVICE && r[i].kind != KOS_CM_RES_REGION)
            return CHECK_FAIL(k, RAT(kind),
                              "resource %u has kind %u; valid kinds are 1 (device) and 2 "
                              "(memory region)",
                              i, r[i].kind);
        kos_status_t st = check_name(k, RAT(name), r[i].name, "resource name");
        if (st)
            return st;
        if (r[i].access == 0 || (r[i].access & ~(uint32_t)CM_ACCESS) != 0)
            return CHECK_FAIL(k, RAT(access),
                              "resource %u has access 0x%x; valid access is 1 (read), 2 (write) "
                              "or 3 (both)",
                              i, r[i].access);
        if (r[i].kind == KOS_CM_RES_REGION) {
            if (r[i].target >= h->n_regions)
                return CHECK_FAIL(k, RAT(target),
                                  "resource %u names region %u; the system has %u regions", i,
                                  r[i].target, h->n_regions);
            if ((r[i].access & KOS_CM_ACCESS_READ) == 0)
                return CHECK_FAIL(k, RAT(access),
                                  "resource %u maps a region write-only; a region is mapped "
                                  "read (1) or read-write (3)",
                                  i);
            continue;
        }
        if (!str_in_pool(k, r[i].target))
            return CHECK_FAIL(k, RAT(target),
                              "resource %u's device path offset %u is outside the %u-byte string "
                              "pool",
                              i, r[i].target, h->strings_len);
        const char *p = (const char *)k->pool + r[i].target;
        size_t max = h->strings_len - r[i].target;
        const char *nul = memchr(p, '\0', max < KOS__MF_MAX_PATH + 1 ? max : KOS__MF_MAX_PATH + 1);
        if (nul == NULL || !kos__mf_device_path_valid(p, (size_t)(nul - p)))
            return CHECK_FAIL(k, RAT(target),
                              "resource %u's device path at string offset %u is not an absolute "
                              "path of at most %u bytes without '..'",
                              i, r[i].target, KOS__MF_MAX_PATH);
#undef RAT
    }
    return KOS_STATUS_OK;
}

/* Checks an environment entry "KEY=VALUE": a valid variable name, then '='. */
static bool env_ok(const struct cm_check *k, uint32_t s)
{
    const char *p = (const char *)k->pool + s;
    size_t max = k->hdr->strings_len - s;
    if (max > KOS__MF_MAX_ENV_KEY + 1)
        max = KOS__MF_MAX_ENV_KEY + 1;
    const char *eq = memchr(p, '=', max);
    if (eq == NULL || memchr(p, '\0', (size_t)(eq - p)) != NULL)
        return false;
    return kos__mf_env_key_valid(p, (size_t)(eq - p));
}

static kos_status_t check_strrefs(const struct cm_check *k)
{
    const struct kos_cm_header *h = k->hdr;
    const uint32_t *refs = (const uint32_t *)(k->base + h->strrefs_off);
    for (uint32_t i = 0; i < h->n_strrefs; i++)
        if (!str_in_pool(k, refs[i]))
            return CHECK_FAIL(k, (uint64_t)h->strrefs_off + 4ull * i,
                              "string reference %u has offset %u, outside the %u-byte string pool",
                              i, refs[i], h->strings_len);
    return KOS_STATUS_OK;
}

static kos_status_t check_grants(const struct cm_check *k)
{
    const struct kos_cm_header *h = k->hdr;
    const struct kos_cm_grant *g = (const struct kos_cm_grant *)(k->base + h->grants_off);
    const struct kos_cm_proc *p = (const struct kos_cm_proc *)(k->base + h->procs_off);
    for (uint32_t i = 0; i < h->n_grants; i++) {
        uint64_t at = (uint64_t)h->grants_off + (uint64_t)i * sizeof(*g);
        if (g[i].server >= h->n_procs || p[g[i].server].role != KOS_CM_ROLE_MSG_SERVER)
            return CHECK_FAIL(k, at + offsetof(struct kos_cm_grant, server),
                              "grant %u names process %u, which is not a message server", i,
                              g[i].server);
        if (g[i].kind != KOS_CM_GRANT_PUBLISH && g[i].kind != KOS_CM_GRANT_REQUEST)
            return CHECK_FAIL(k, at + offsetof(struct kos_cm_grant, kind),
                              "grant %u has kind %u; valid kinds are 1 (publish) and 2 (request)",
                              i, g[i].kind);
        kos_status_t st = check_name(k, at + offsetof(struct kos_cm_grant, protocol), g[i].protocol,
                                     "protocol name");
        if (st)
            return st;
    }
    return KOS_STATUS_OK;
}

/* Checks a range [first, first+n) of a table of `total` entries. */
static kos_status_t check_range(const struct cm_check *k, uint64_t at, uint32_t i, const char *what,
                                uint32_t first, uint32_t n, uint32_t total)
{
    if ((uint64_t)first + n > total)
        return CHECK_FAIL(k, at,
                          "process %u's %s (entries %u to %llu) run past the table's %u entries", i,
                          what, first, (unsigned long long)first + n, total);
    return KOS_STATUS_OK;
}

static kos_status_t check_procs(const struct cm_check *k)
{
    const struct kos_cm_header *h = k->hdr;
    const struct kos_cm_proc *procs = (const struct kos_cm_proc *)(k->base + h->procs_off);
    const uint32_t *refs = (const uint32_t *)(k->base + h->strrefs_off);
    bool seen_app = false;
    uint32_t single_seen = 0;
    kos_status_t st;

    for (uint32_t i = 0; i < h->n_procs; i++) {
        const struct kos_cm_proc *p = &procs[i];
        uint64_t at = (uint64_t)h->procs_off + (uint64_t)i * sizeof(*p);
#define AT(f) (at + offsetof(struct kos_cm_proc, f))
        st = check_name(k, AT(name), p->name, "process name");
        if (st)
            return st;
        if (p->role != KOS_CM_ROLE_APP && p->role != KOS_CM_ROLE_MSG_SERVER)
            return CHECK_FAIL(k, AT(role),
                              "process %u has role %u; valid roles are 1 (app) and 2 (message "
                              "server)",
                              i, p->role);
        if (p->role == KOS_CM_ROLE_MSG_SERVER && seen_app)
            return CHECK_FAIL(k, AT(role),
                              "process %u is a message server listed after an app; message "
                              "servers come first",
                              i);
        seen_app = seen_app || p->role == KOS_CM_ROLE_APP;
        st = check_name(k, AT(binary), p->binary, "binary name");
        if (st)
            return st;
        if (p->restart < KOS_CM_RESTART_PERMANENT || p->restart > KOS_CM_RESTART_TEMPORARY)
            return CHECK_FAIL(k, AT(restart),
                              "process %u has restart policy %u; valid policies are 1 "
                              "(permanent), 2 (transient) and 3 (temporary)",
                              i, p->restart);
        if ((p->flags & ~(uint32_t)CM_PROC_FLAGS) != 0)
            return CHECK_FAIL(k, AT(flags),
                              "process %u has unknown flags 0x%x; the valid flags are 0x%x", i,
                              p->flags & ~(uint32_t)CM_PROC_FLAGS, (unsigned)CM_PROC_FLAGS);
        if (p->role == KOS_CM_ROLE_MSG_SERVER && (p->flags & KOS_CM_PROC_NET_HOST))
            return CHECK_FAIL(k, AT(flags),
                              "process %u is a message server with the host's network; only "
                              "apps may have it",
                              i);
        if ((p->flags & CM_PROC_SINGLE_FLAGS) && p->role != KOS_CM_ROLE_APP)
            return CHECK_FAIL(k, AT(flags),
                              "process %u is a message server with flags 0x%x, which only an app "
                              "may have",
                              i, p->flags & (uint32_t)CM_PROC_SINGLE_FLAGS);
        if (p->flags & single_seen & CM_PROC_SINGLE_FLAGS)
            return CHECK_FAIL(k, AT(flags),
                              "process %u has flags 0x%x, which an earlier process has; at most "
                              "one app may have each",
                              i, p->flags & single_seen & (uint32_t)CM_PROC_SINGLE_FLAGS);
        single_seen |= p->flags & CM_PROC_SINGLE_FLAGS;
        if (p->max_procs != 0 &&
            (p->max_procs < KOS__MF_MIN_PROCS || p->max_procs > KOS__MF_MAX_PROCS_LIMIT))
            return CHECK_FAIL(k, AT(max_procs),
                              "process %u has a process limit of %u; valid limits are 0 (the "
                              "default) or %u to %u",
                              i, p->max_procs, KOS__MF_MIN_PROCS, KOS__MF_MAX_PROCS_LIMIT);
        if (p->max_files != 0 &&
            (p->max_files < KOS__MF_MIN_FILES || p->max_files > KOS__MF_MAX_FILES))
            return CHECK_FAIL(k, AT(max_files),
                              "process %u has an open-file limit of %u; valid limits are 0 (the "
                              "default) or %u to %u",
                              i, p->max_files, KOS__MF_MIN_FILES, KOS__MF_MAX_FILES);
        if (p->restart_max > KOS__MF_MAX_RESTARTS)
            return CHECK_FAIL(k, AT(restart_max), "process %u allows %u restarts; at most %u", i,
                              p->restart_max, KOS__MF_MAX_RESTARTS);
        if (p->restart_delay_max_ms < p->restart_delay_ms)
            return CHECK_FAIL(k, AT(restart_delay_max_ms),
                              "process %u's restart delay rises to %u ms, less than its first "
                              "delay of %u ms",
                              i, p->restart_delay_max_ms, p->restart_delay_ms);
        if (p->restart_period_ms == 0)
            return CHECK_FAIL(k, AT(restart_period_ms),
                              "process %u has a restart period of 0 ms; it must be more than 0", i);
        if (p->reserved != 0)
            return CHECK_FAIL(k, AT(reserved), "process %u's reserved field is %u; it must be 0", i,
                              p->reserved);
        if (p->storage != 0 && !(p->flags & KOS_CM_PROC_DATA_DIR))
            return CHECK_FAIL(k, AT(storage),
                              "process %u has a storage bound but no data directory; storage "
                              "bounds /data",
                              i);
        if (p->storage != 0 &&
            (p->storage < KOS__MF_MIN_STORAGE || p->storage > KOS__MF_MAX_STORAGE))
            return CHECK_FAIL(k, AT(storage),
                              "process %u has a storage bound of %" PRIu64
                              " bytes; valid bounds are 0 (the default) or %llu to %llu",
                              i, p->storage, (unsigned long long)KOS__MF_MIN_STORAGE,
                              (unsigned long long)KOS__MF_MAX_STORAGE);
        if (p->n_args > KOS__MF_MAX_ARGS)
            return CHECK_FAIL(k, AT(n_args), "process %u has %u arguments; at most %u", i,
                              p->n_args, KOS__MF_MAX_ARGS);
        st = check_range(k, AT(args_first), i, "arguments", p->args_first, p->n_args, h->n_strrefs);
        if (st)
            return st;
        if (p->n_env > KOS__MF_MAX_ENV)
            return CHECK_FAIL(k, AT(n_env), "process %u has %u environment entries; at most %u", i,
                              p->n_env, KOS__MF_MAX_ENV);
        st = check_range(k, AT(env_first), i, "environment entries", p->env_first, p->n_env,
                         h->n_strrefs);
        if (st)
            return st;
        for (uint32_t e = 0; e < p->n_env; e++) {
            uint32_t r = p->env_first + e;
            if (!env_ok(k, refs[r]))
                return CHECK_FAIL(k, (uint64_t)h->strrefs_off + 4ull * r,
                                  "process %u's environment entry %u is not KEY=VALUE with a "
                                  "valid variable name",
                                  i, e);
        }
        if (p->role == KOS_CM_ROLE_MSG_SERVER && p->n_grants != 0)
            return CHECK_FAIL(k, AT(n_grants),
                              "process %u is a message server with %u grants; only apps have "
                              "grants",
                              i, p->n_grants);
        st = check_range(k, AT(grants_first), i, "grants", p->grants_first, p->n_grants,
                         h->n_grants);
        if (st)
            return st;
        if (p->role == KOS_CM_ROLE_MSG_SERVER && (p->n_res != 0 || p->n_config != 0))
            return CHECK_FAIL(k, p->n_res != 0 ? AT(n_res) : AT(n_config),
                              "process %u is a message server with %u resources and %u config "
                              "entries; only apps have them",
                              i, p->n_res, p->n_config);
        if (p->n_res > KOS__MF_MAX_RES)
            return CHECK_FAIL(k, AT(n_res), "process %u has %u resources; at most %u", i, p->n_res,
                              KOS__MF_MAX_RES);
        st = check_range(k, AT(res_first), i, "resources", p->res_first, p->n_res, h->n_res);
        if (st)
            return st;
        const struct kos_cm_res *res = (const struct kos_cm_res *)(k->base + h->res_off);
        for (uint32_t a = 0; a < p->n_res; a++)
            for (uint32_t b = 0; b < a; b++)
                if (res[p->res_first + a].name == res[p->res_first + b].name ||
                    strcmp((const char *)k->pool + res[p->res_first + a].name,
                           (const char *)k->pool + res[p->res_first + b].name) == 0)
                    return CHECK_FAIL(k,
                                      (uint64_t)h->res_off +
                                          (uint64_t)(p->res_first + a) * sizeof(struct kos_cm_res),
                                      "process %u's resources %u and %u have the same name '%s'", i,
                                      b, a, (const char *)k->pool + res[p->res_first + a].name);
        if (p->n_config > KOS__MF_MAX_CONFIG)
            return CHECK_FAIL(k, AT(n_config), "process %u has %u config entries; at most %u", i,
                              p->n_config, KOS__MF_MAX_CONFIG);
        st = check_range(k, AT(config_first), i, "config entries", p->config_first, p->n_config,
                         h->n_strrefs);
        if (st)
            return st;
        for (uint32_t e = 0; e < p->n_config; e++) {
            uint32_t r = p->config_first + e;
            if (!config_ok(k, refs[r]))
                return CHECK_FAIL(k, (uint64_t)h->strrefs_off + 4ull * r,
                                  "process %u's config entry %u is not key=value with a valid "
                                  "name as key",
                                  i, e);
        }
        /* Names are unique; Core finds processes by name. */
        const char *name = (const char *)k->pool + p->name;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp((const char *)k->pool + procs[j].name, name) == 0)
                return CHECK_FAIL(k, AT(name), "process %u has the same name '%s' as process %u", i,
                                  name, j);
#undef AT
    }
    return KOS_STATUS_OK;
}

uint32_t kos_cm_overlay(const struct kos_cm *cm)
{
    return cm->hdr->version == KOS_CM_VERSION ? cm->hdr->flags >> KOS_CM_OVERLAY_SHIFT : 0;
}

kos_status_t kos_cm_open(struct kos_cm *cm, const void *buf, size_t len, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (cm == NULL || buf == NULL)
        return cm_fail(err, errlen, KOS_STATUS_INVALID_ARGUMENT, 0, "no buffer or no view");
    if ((uintptr_t)buf % 8 != 0)
        return cm_fail(err, errlen, KOS_STATUS_INVALID_ARGUMENT, 0,
                       "the buffer is not 8-byte aligned");
    struct cm_check k = {.base = buf, .len = len, .hdr = buf, .err = err, .errlen = errlen};
    if (len < sizeof(struct kos_cm_header))
        return CHECK_FAIL(&k, len, "the buffer holds %zu bytes, fewer than the %zu-byte header",
                          len, sizeof(struct kos_cm_header));
    if (len > KOS_CM_MAX_SIZE)
        return CHECK_FAIL(&k, 0,
                          "the buffer holds %zu bytes, more than the %u a compiled "
                          "manifest may have",
                          len, KOS_CM_MAX_SIZE);
    kos_status_t st = check_header(&k);
    if (st)
        return st;
    st = check_strrefs(&k);
    if (st)
        return st;
    st = check_grants(&k);
    if (st)
        return st;
    st = check_regions(&k);
    if (st)
        return st;
    st = check_res(&k);
    if (st)
        return st;
    st = check_procs(&k);
    if (st)
        return st;
    cm->base = buf;
    cm->len = len;
    cm->hdr = buf;
    return KOS_STATUS_OK;
}

const char *kos_cm_str(const struct kos_cm *cm, uint32_t off)
{
    assert(off < cm->hdr->strings_len);
    return (const char *)cm->base + cm->hdr->strings_off + off;
}

uint32_t kos_cm_nprocs(const struct kos_cm *cm)
{
    return cm->hdr->n_procs;
}

const struct kos_cm_proc *kos_cm_proc(const struct kos_cm *cm, uint32_t i)
{
    assert(i < cm->hdr->n_procs);
    return (const struct kos_cm_proc *)(cm->base + cm->hdr->procs_off) + i;
}

const struct kos_cm_grant *kos_cm_grant(const struct kos_cm *cm, uint32_t i)
{
    assert(i < cm->hdr->n_grants);
    return (const struct kos_cm_grant *)(cm->base + cm->hdr->grants_off) + i;
}

const char *kos_cm_strref(const struct kos_cm *cm, uint32_t i)
{
    assert(i < cm->hdr->n_strrefs);
    const uint32_t *refs = (const uint32_t *)(cm->base + cm->hdr->strrefs_off);
    return kos_cm_str(cm, refs[i]);
}

const struct kos_cm_res *kos_cm_res(const struct kos_cm *cm, uint32_t i)
{
    assert(i < cm->hdr->n_res);
    return (const struct kos_cm_res *)(cm->base + cm->hdr->res_off) + i;
}

uint32_t kos_cm_nregions(const struct kos_cm *cm)
{
    return cm->hdr->n_regions;
}

const struct kos_cm_region *kos_cm_region(const struct kos_cm *cm, uint32_t i)
{
    assert(i < cm->hdr->n_regions);
    return (const struct kos_cm_region *)(cm->base + cm->hdr->regions_off) + i;
}

bool kos_cm_signing_disabled(const struct kos_cm *cm)
{
    return (cm->hdr->flags & KOS_CM_SIGNING_DISABLED) != 0;
}

int kos_cm_find(const struct kos_cm *cm, const char *name)
{
    if (name == NULL)
        return -1;
    for (uint32_t i = 0; i < cm->hdr->n_procs; i++)
        if (strcmp(kos_cm_str(cm, kos_cm_proc(cm, i)->name), name) == 0)
            return (int)i;
    return -1;
}
