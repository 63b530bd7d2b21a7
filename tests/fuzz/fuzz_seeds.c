/*
 * fuzz_seeds.c - writes the seed inputs of the fuzz corpora from real
 * encoders, so that the seeds follow the formats as they change.
 *
 *   fuzz_seeds OUTDIR
 *
 * writes, under OUTDIR (which must not exist yet):
 *   manifest/  every tests/manifest/good and bad file, and the extra
 *              manifests below (as given to kos_manifest_parse)
 *   compiled/  each good manifest compiled by kos_manifest_compile()
 *   image/     each good manifest built into an image by kos_image_build()
 *              with small stand-in binaries: signed when the manifest wants
 *              signing, unsigned when it says signing: disabled; and, from
 *              two of them, variants each broken in one way kos_image_open()
 *              must refuse (re-signed where the break is behind the
 *              signature)
 *   msgwire/   a selector byte (see fuzz_msgwire.c) and one encoded message
 *              of every BOOT / ADD_CLIENT / directory message type, direct
 *              and as a socket datagram, and each directory message's
 *              fields for the encoder mode
 *   image_seed_key.pub
 *              the public half of the release key that signed the images;
 *              the private half is deleted. Copy it over
 *              tests/fuzz/image_seed_key.pub together with the new seeds.
 * docs/fuzzing.md says how the seeds are merged into tests/fuzz/corpus/.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zip.h>

#include "boot_int.h"
#include "image.h"
#include "image_int.h"
#include "keys_int.h"
#include "manifest.h"
#include "msg_wire_int.h"

#ifndef KOS_FUZZ_MANIFEST_TESTS_DIR
#error "KOS_FUZZ_MANIFEST_TESTS_DIR must name tests/manifest"
#endif
#ifndef KOS_FUZZ_LAYERS_DIR
#error "KOS_FUZZ_LAYERS_DIR must name the SDK's layers/ folder"
#endif

static const char *const layer_dirs[] = {KOS_FUZZ_MANIFEST_TESTS_DIR "/layers",
                                         KOS_FUZZ_LAYERS_DIR};
static const struct kos_mf_options mf_opts = {layer_dirs, 2};

/* Manifests beyond the test corpora: corners the good files do not reach. */
static const char *const extra_manifests[] = {
    ("system: tiny\napps: {a: {}}\nmessage_servers: {m: {}}\n"),
    ("system: t2\nbase: minimal\nsigning: disabled\n"
     "apps:\n  a: {binary: same}\n  b: {binary: same}\n"),
    ("system: t3\nbase: minimal\napps:\n  a:\n    args: [\"x\", \"\", \"--y=1\"]\n"
     "    env: {A: \"1\", _B: \"\"}\n    restart: temporary\n"
     "    restart_limit: {max: 0, period: 1ms}\n"),
    ("system: t4\nbase: services\napps:\n  a:\n    protocols:\n"
     "      msg0: {publish: [p1, p2], request: [p3]}\n"),
    ("# comment only\n"),
    ("system: &a x\napps: {b: *a}\n"),
    ("system: 'quoted'\napps:\n  ? complex\n  : {}\n"),
    ("{system: flow, apps: {a: {memory: 1KiB}, b: {memory: 2GiB}}}\n"),
    ("system: regions\nbase: minimal\nsigning: disabled\nmemory_regions:\n"
     "  r1: {size: 4KiB}\n  r2: {size: 1MiB}\napps:\n"
     "  a:\n    memory_regions: {x: {region: r1, access: rw}, y: {region: r2, access: r}}\n"
     "    devices: {d: {path: /dev/zero, access: r}}\n"
     "    config: {k: v, n: \"1\"}\n    limits: {processes: 1, files: 8}\n"
     "  b:\n    memory_regions: {x: {region: r1, access: r}}\n    data_dir: true\n"),
};

static char out_dir[4096];
static unsigned seq;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("fuzz_seeds: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Writes one seed as OUTDIR/<target>/<name>. */
static void put(const char *target, const char *name, const void *data, size_t len)
{
    char path[4600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
    f = fopen(path, "wbx");
    if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

static void make_dir(const char *fmt, const char *arg)
{
    char path[4600];

    snprintf(path, sizeof(path), fmt, out_dir, arg);
    if (mkdir(path, 0755) != 0)
        die("cannot create %s: %s", path, strerror(errno));
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
        fread(buf, 1, (size_t)n, f) != (size_t)n)
        die("cannot read %s", path);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* ---- manifests, compiled manifests and images ---- */

struct ctx {
    char tmp[64];   /* scratch folder: key pair and stand-in binaries */
    char key[128];  /* release private key */
    char pub[128];  /* its public half */
    char bins[128]; /* stand-in binaries, one per binary name */
};

/* Writes a small stand-in for binary `name` unless it exists. */
static void stand_in(struct ctx *c, const char *name)
{
    char path[512], text[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", c->bins, name);
    if (access(path, F_OK) == 0)
        return;
    snprintf(text, sizeof(text), "#!kos-fuzz stand-in for %s\n", name);
    f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        die("cannot write %s", path);
}

/* ---- image variants ---- */

/* One entry of an image being rewritten. */
struct entry {
    char name[80];
    uint8_t *data;
    size_t len;
};

struct image {
    struct entry e[16];
    size_t n;
};

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;

    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        die("cannot compute SHA-256");
}

static void image_free(struct image *img)
{
    for (size_t i = 0; i < img->n; i++)
        free(img->e[i].data);
    img->n = 0;
}

/* Reads every entry of the zip at `path`. */
static void image_read(const char *path, struct image *img)
{
    zip_t *za = zip_open(path, ZIP_RDONLY, NULL);
    zip_int64_t n = za ? zip_get_num_entries(za, 0) : -1;

    if (n < 0 || (size_t)n > sizeof(img->e) / sizeof(img->e[0]))
        die("cannot read image %s", path);
    img->n = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        struct entry *e = &img->e[img->n++];
        zip_stat_t st;
        zip_file_t *zf;

        if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 ||
            (zf = zip_fopen_index(za, (zip_uint64_t)i, 0)) == NULL)
            die("cannot read entry %lld of %s", (long long)i, path);
        snprintf(e->name, sizeof(e->name), "%s", st.name);
        e->len = (size_t)st.size;
        e->data = malloc(e->len ? e->len : 1);
        if (e->data == NULL || zip_fread(zf, e->data, st.size) != (zip_int64_t)st.size)
            die("cannot read entry %s of %s", e->name, path);
        zip_fclose(zf);
    }
    zip_discard(za);
}

/* Writes `img` as a zip at `path`, every entry stored (or deflated). */
static void image_write(const char *path, const struct image *img, bool deflate)
{
    int zerr = 0;
    zip_t *za;

    unlink(path);
    za = zip_open(path, ZIP_CREATE | ZIP_EXCL, &zerr);
    if (za == NULL)
        die("cannot create %s", path);
    for (size_t i = 0; i < img->n; i++) {
        zip_source_t *src = zip_source_buffer(za, img->e[i].data, img->e[i].len, 0);
        zip_int64_t idx = src ? zip_file_add(za, img->e[i].name, src, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0)
            die("cannot add %s to %s: %s", img->e[i].name, path, zip_strerror(za));
        zip_set_file_compression(za, (zip_uint64_t)idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
        zip_file_set_mtime(za, (zip_uint64_t)idx, 315532800, 0); /* 1980-01-01 */
    }
    if (zip_close(za) != 0)
        die("cannot write %s", path);
}

static struct entry *image_find(struct image *img, const char *name)
{
    for (size_t i = 0; i < img->n; i++)
        if (strcmp(img->e[i].name, name) == 0)
            return &img->e[i];
    return NULL;
}

static void image_remove(struct image *img, struct entry *e)
{
    free(e->data);
    *e = img->e[--img->n];
}

static void image_add(struct image *img, const char *name, const void *data, size_t len)
{
    struct entry *e = &img->e[img->n++];

    snprintf(e->name, sizeof(e->name), "%s", name);
    e->len = len;
    e->data = malloc(len ? len : 1);
    if (e->data == NULL)
        die("out of memory");
    memcpy(e->data, data, len);
}

static void blob_name(const uint8_t sha[32], char out[80])
{
    char hex[65];

    kos__image_hex(sha, 32, hex);
    snprintf(out, 80, "%s%s", KOS__IMAGE_BLOB_PREFIX, hex);
}

/* Rewrites image.sig for the manifest blob `cm` (stored under its digest):
 * signed with the seed key when `sign`, else "unsigned". */
static void image_set_manifest(struct ctx *c, struct image *img, const uint8_t *cm, size_t len,
                               bool sign)
{
    struct kos__image_sig sig;
    uint8_t msg[KOS__IMAGE_SIGN_MSG_LEN];
    char name[80], text[KOS__IMAGE_SIG_MAX], err[256];
    struct entry *e = image_find(img, KOS__IMAGE_SIG_NAME);

    memset(&sig, 0, sizeof(sig));
    sha256(cm, len, sig.manifest);
    blob_name(sig.manifest, name);
    if (image_find(img, name) == NULL)
        image_add(img, name, cm, len);
    if (sign) {
        EVP_PKEY *pkey = NULL;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        size_t slen = sizeof(sig.sig);

        kos__image_sign_message(sig.manifest, msg);
        if (kos__key_load_private(c->key, &pkey, err, sizeof(err)) != KOS_STATUS_OK ||
            kos__key_id(pkey, sig.key_id) != KOS_STATUS_OK || md == NULL ||
            EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) != 1 ||
            EVP_DigestSign(md, sig.sig, &slen, msg, sizeof(msg)) != 1)
            die("cannot sign a variant image");
        EVP_MD_CTX_free(md);
        EVP_PKEY_free(pkey);
        sig.is_signed = true;
    }
    size_t tlen = kos__image_sig_format(&sig, text, sizeof(text));
    if (e != NULL)
        image_remove(img, e);
    image_add(img, KOS__IMAGE_SIG_NAME, text, tlen);
}

/* The compiled manifest image.sig names, or NULL. */
static struct entry *image_manifest(struct image *img)
{
    struct entry *e = image_find(img, KOS__IMAGE_SIG_NAME);
    struct kos__image_sig sig;
    char err[256], name[80];

    if (e == NULL ||
        kos__image_sig_parse((const char *)e->data, e->len, &sig, err, sizeof(err)) != 0)
        return NULL;
    blob_name(sig.manifest, name);
    return image_find(img, name);
}

/* Writes variant `what` of the image at `path` after `edit` changed it. */
static void put_variant(struct ctx *c, const char *label, const char *what, struct image *img,
                        bool deflate)
{
    char path[256], name[300];
    size_t len;

    snprintf(path, sizeof(path), "%s/variant.zip", c->tmp);
    image_write(path, img, deflate);
    char *zip = read_file(path, &len);
    snprintf(name, sizeof(name), "%s-%s.zip", label, what);
    put("image", name, zip, len);
    free(zip);
    unlink(path);
}

/* Variants of the image at `path`, each broken in one way. */
static void seed_image_variants(struct ctx *c, const char *label, const char *path, bool sign)
{
    struct image img;
    struct entry *cm, *bin;
    char name[80];
    uint8_t sha[32];

#define FRESH()                                                                                    \
    do {                                                                                           \
        image_free(&img);                                                                          \
        image_read(path, &img);                                                                    \
        cm = image_manifest(&img);                                                                 \
        bin = NULL;                                                                                \
        for (size_t i_ = 0; i_ < img.n; i_++)                                                      \
            if (&img.e[i_] != cm && strcmp(img.e[i_].name, KOS__IMAGE_SIG_NAME) != 0)              \
                bin = &img.e[i_];                                                                  \
        if (cm == NULL || bin == NULL)                                                             \
            die("%s has no manifest or no binary", path);                                          \
    } while (0)

    img.n = 0;
    FRESH();
    put_variant(c, label, "deflated", &img, true);

    FRESH(); /* a binary's bytes changed under its old name */
    bin->data[0] ^= 1;
    put_variant(c, label, "tampered-binary", &img, false);

    FRESH(); /* a blob nobody references */
    sha256("unreferenced", 12, sha);
    blob_name(sha, name);
    image_add(&img, name, "unreferenced", 12);
    put_variant(c, label, "unreferenced-blob", &img, false);

    FRESH(); /* a binary missing */
    image_remove(&img, bin);
    put_variant(c, label, "missing-binary", &img, false);

    FRESH(); /* an entry that is neither image.sig nor a blob */
    image_add(&img, "README", "hello\n", 6);
    put_variant(c, label, "extra-entry", &img, false);

    FRESH();
    image_remove(&img, image_find(&img, KOS__IMAGE_SIG_NAME));
    put_variant(c, label, "no-sig", &img, false);

    FRESH(); /* the manifest blob stored under a wrong name */
    sha256("wrong", 5, sha);
    blob_name(sha, cm->name);
    put_variant(c, label, "manifest-misnamed", &img, false);

    FRESH(); /* signed the other way round */
    image_set_manifest(c, &img, cm->data, cm->len, !sign);
    put_variant(c, label, sign ? "unsigned-sig" : "signed-sig", &img, false);

    FRESH(); /* the manifest changed (a process's restart policy made invalid),
              * stored and signed properly: only kos_cm_open() can refuse it */
    {
        const struct kos_cm_header *h = (const struct kos_cm_header *)cm->data;
        uint8_t *copy = malloc(cm->len);
        size_t clen = cm->len;
        if (copy == NULL)
            die("out of memory");
        memcpy(copy, cm->data, clen);
        memset(copy + h->procs_off + offsetof(struct kos_cm_proc, restart), 9, 1);
        image_remove(&img, cm);
        image_set_manifest(c, &img, copy, clen, sign);
        put_variant(c, label, "bad-manifest", &img, false);
        free(copy);
    }

    FRESH(); /* a process's digest names a blob that is not there, signed */
    {
        const struct kos_cm_header *h = (const struct kos_cm_header *)cm->data;
        uint8_t *copy = malloc(cm->len);
        size_t clen = cm->len;
        if (copy == NULL)
            die("out of memory");
        memcpy(copy, cm->data, clen);
        copy[h->procs_off + offsetof(struct kos_cm_proc, sha256)] ^= 0xff;
        image_remove(&img, cm);
        image_set_manifest(c, &img, copy, clen, sign);
        put_variant(c, label, "digest-without-blob", &img, false);
        free(copy);
    }
    image_free(&img);
#undef FRESH
}

/* Compiles and packs one manifest that loads. */
static void seed_from_manifest(struct ctx *c, const char *label, const struct kos_manifest *m)
{
    size_t n = m->n_servers + m->n_apps, len = 0;
    uint8_t(*digests)[32] = calloc(n, sizeof(*digests));
    char name[300], path[512], err[512];
    void *buf = NULL;

    if (digests == NULL)
        die("out of memory");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < 32; k++)
            digests[i][k] = (uint8_t)(i * 32 + k);
    if (kos_manifest_compile(m, (const uint8_t(*)[32])digests, &buf, &len) != KOS_STATUS_OK)
        die("cannot compile %s", label);
    snprintf(name, sizeof(name), "%s.kosm", label);
    put("compiled", name, buf, len);
    free(buf);
    free(digests);

    for (size_t i = 0; i < m->n_servers; i++)
        stand_in(c, m->servers[i].binary);
    for (size_t i = 0; i < m->n_apps; i++)
        stand_in(c, m->apps[i].binary);
    const char *const dirs[] = {c->bins};
    snprintf(path, sizeof(path), "%s/image.zip", c->tmp);
    struct kos_image_build_opts bo = {
        .manifest_path = label,
        .manifest = m,
        .bin_dirs = dirs,
        .n_bin_dirs = 1,
        .key_path = m->signing ? c->key : NULL,
        .out_path = path,
    };
    if (kos_image_build(&bo, err, sizeof(err)) != KOS_STATUS_OK)
        die("cannot build an image of %s: %s", label, err);
    size_t zlen;
    char *zip = read_file(path, &zlen);
    snprintf(name, sizeof(name), "%s-%s.zip", label, m->signing ? "signed" : "unsigned");
    put("image", name, zip, zlen);
    free(zip);
    /* Broken variants of one signed and one unsigned system. */
    if (strcmp(label, "good-ping_pong") == 0 || strcmp(label, "extra-01") == 0)
        seed_image_variants(c, label, path, m->signing);
    unlink(path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Seeds from every file of tests/manifest/<kind>. */
static void seed_manifest_dir(struct ctx *c, const char *kind)
{
    char dir[512], path[1024], name[300];
    char *names[1024];
    size_t n = 0;
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/%s", KOS_FUZZ_MANIFEST_TESTS_DIR, kind);
    d = opendir(dir);
    if (d == NULL)
        die("cannot open %s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL && n < 1024)
        if (de->d_name[0] != '.' && strstr(de->d_name, ".yaml") != NULL)
            names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        size_t len;
        char *text;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        text = read_file(path, &len);
        snprintf(name, sizeof(name), "%s-%s", kind, names[i]);
        put("manifest", name, text, len);
        if (kos_manifest_parse("system.yaml", text, len, &mf_opts, &m, &err) == KOS_STATUS_OK) {
            snprintf(name, sizeof(name), "%s-%.*s", kind, (int)(strlen(names[i]) - 5), names[i]);
            seed_from_manifest(c, name, m);
            kos_manifest_destroy(m);
        } else if (strcmp(kind, "good") == 0) {
            die("%s does not load: %s:%d:%d: %s", path, err.file, err.line, err.col, err.msg);
        }
        free(text);
        free(names[i]);
    }
}

static void seed_extra_manifests(struct ctx *c)
{
    for (size_t i = 0; i < sizeof(extra_manifests) / sizeof(extra_manifests[0]); i++) {
        const char *text = extra_manifests[i];
        struct kos_manifest *m = NULL;
        struct kos_mf_error err;
        char name[64];

        snprintf(name, sizeof(name), "extra-%02zu.yaml", i);
        put("manifest", name, text, strlen(text));
        if (kos_manifest_parse("system.yaml", text, strlen(text), &mf_opts, &m, &err) ==
            KOS_STATUS_OK) {
            snprintf(name, sizeof(name), "extra-%02zu", i);
            seed_from_manifest(c, name, m);
            kos_manifest_destroy(m);
        }
    }
}

/* ---- control records and directory messages ---- */

/* Writes sel then body as one msgwire seed. */
static void put_wire(unsigned sel, const char *what, const void *body, size_t len)
{
    uint8_t buf[KOS__CTL_MAX + 16];
    char name[128];

    buf[0] = (uint8_t)sel;
    memcpy(buf + 1, body, len);
    snprintf(name, sizeof(name), "%03u-%s-%u", seq++, what, sel);
    put("msgwire", name, buf, len + 1);
}

/* Writes a control record direct (sel) and as a datagram with its header. */
static void put_ctl(unsigned sel, uint32_t type, const char *what, const void *body, size_t len)
{
    uint8_t dgram[KOS__CTL_MAX + 16];
    struct kos__ctl_hdr hdr = {.type = type, .len = (uint32_t)len};

    put_wire(sel, what, body, len);
    memcpy(dgram, &hdr, sizeof(hdr));
    memcpy(dgram + sizeof(hdr), body, len);
    put_wire(3, what, dgram, sizeof(hdr) + len);
}

static void seed_boot(void)
{
    static struct kos__boot b; /* large: keep it off the stack */
    uint8_t buf[KOS__CTL_MAX];
    size_t len;

    memset(&b, 0, sizeof(b));
    b.app_id = 3;
    b.role = KOS__ROLE_APP;
    strcpy(b.name, "pong");
    if (kos__boot_encode(&b, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a BOOT record");
    put_ctl(0, KOS__CTL_BOOT, "boot-bare", buf, len);

    b.n_dirs = 2;
    strcpy(b.dirs[0].name, "msg0");
    b.dirs[0].fd = 4;
    strcpy(b.dirs[1].name, "msg1.x-y_z");
    b.dirs[1].fd = 1024;
    b.n_res = 2;
    strcpy(b.res[0].name, "i2c");
    b.res[0].kind = 1;
    b.res[0].access = 3;
    b.res[0].fd = 6;
    strcpy(b.res[1].name, "frames");
    b.res[1].kind = 2;
    b.res[1].access = 1;
    b.res[1].fd = 7;
    b.res[1].size = 1ull << 33;
    if (kos__boot_encode(&b, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a BOOT record");
    put_ctl(0, KOS__CTL_BOOT, "boot-full", buf, len);

    memset(&b, 0, sizeof(b));
    b.app_id = 0;
    b.role = KOS__ROLE_MSG_SERVER;
    strcpy(b.name, "msg0");
    if (kos__boot_encode(&b, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a BOOT record");
    put_ctl(0, KOS__CTL_BOOT, "boot-server", buf, len);
}

static void seed_grants(void)
{
    static struct kos__client_grants g;
    static const char *const names[] = {"ping_protocol", "kos_log_protocol", "a", "b.c-d_e"};
    uint8_t buf[KOS__CTL_MAX];
    size_t len;

    memset(&g, 0, sizeof(g));
    g.app_id = 5;
    strcpy(g.app, "ping");
    if (kos__grants_encode(&g, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode ADD_CLIENT");
    put_ctl(1, KOS__CTL_ADD_CLIENT, "grants-none", buf, len);
    g.n_publish = 2;
    g.publish[0] = names[0];
    g.publish[1] = names[2];
    g.n_request = 2;
    g.request[0] = names[1];
    g.request[1] = names[3];
    if (kos__grants_encode(&g, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode ADD_CLIENT");
    put_ctl(1, KOS__CTL_ADD_CLIENT, "grants-some", buf, len);

    /* Bodiless control messages, as datagrams only. */
    static const uint32_t bare[] = {KOS__CTL_READY, KOS__CTL_STOP, KOS__CTL_APP_DOWN};
    for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++) {
        struct kos__ctl_hdr hdr = {.type = bare[i], .len = 0};
        put_wire(3, "ctl-bare", &hdr, sizeof(hdr));
    }
}

/* Writes `m` the way fuzz_msgwire's encoder mode (5) reads it: type and
 * status as one byte each, then id, endpoint, channel, app_id, timeout_ms
 * (4 bytes each) and cookie (8), little-endian, then the name. */
static void put_mw_fields(const struct kos__mw *m, const char *what)
{
    uint8_t buf[2 + 5 * 4 + 8 + KOS__NAME_MAX], *p = buf;
    const uint32_t u32[] = {m->id, m->endpoint, m->channel, m->app_id, (uint32_t)m->timeout_ms};
    size_t n = strnlen(m->name, KOS__NAME_MAX);

    *p++ = (uint8_t)m->type;
    *p++ = (uint8_t)m->status;
    for (size_t i = 0; i < sizeof(u32) / sizeof(u32[0]); i++)
        for (int b = 0; b < 4; b++)
            *p++ = (uint8_t)(u32[i] >> (8 * b));
    for (int b = 0; b < 8; b++)
        *p++ = (uint8_t)(m->cookie >> (8 * b));
    memcpy(p, m->name, n);
    put_wire(5, what, buf, (size_t)(p - buf) + n);
}

/* One directory message of every type, with and without a failure status
 * where the type has one. */
static void seed_mw(void)
{
    static const uint32_t types[] = {
        KOS__MW_PUBLISH,       KOS__MW_REQUEST,       KOS__MW_PING,       KOS__MW_UNPUBLISH,
        KOS__MW_TOKEN_CLOSE,   KOS__MW_REVOKE,        KOS__MW_PREPARE,    KOS__MW_REDEEM,
        KOS__MW_PUBLISH_REPLY, KOS__MW_REQUEST_REPLY, KOS__MW_PING_REPLY, KOS__MW_REDEEM_REPLY,
        KOS__MW_NEW_CLIENT,    KOS__MW_CLIENT_GONE,   KOS__MW_TOKEN_DOWN, KOS__MW_FD_PASS,
        KOS__MW_FD_REDEEM,     KOS__MW_FD_DROP,       KOS__MW_FD_REDEEM_REPLY,
    };
    static const uint32_t statuses[] = {KOS_STATUS_OK, KOS_STATUS_UNAVAILABLE,
                                        KOS_STATUS_INVALID_TOKEN};
    uint8_t buf[KOS__MW_MAX];
    size_t len, n_ok = 0;

    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++) {
            struct kos__mw m = {
                .type = types[t],
                .id = 7,
                .status = statuses[s],
                .endpoint = 2,
                .channel = 9,
                .app_id = 4,
                .timeout_ms = s == 0 ? -1 : 250,
                .cookie = 0x1122334455667788ull,
            };
            char what[64];

            strcpy(m.name, "ping_protocol");
            if (kos__mw_encode(&m, buf, sizeof(buf), &len) != KOS_STATUS_OK)
                continue; /* a status this type does not carry */
            struct kos__mw back;
            size_t nfds = kos__mw_nfds(m.type, m.status);
            if (kos__mw_decode(buf, len, nfds, &back) != KOS_STATUS_OK) {
                /* The encoder let through what the decoder refuses: worth
                 * knowing, but not a seed. */
                fprintf(stderr, "fuzz_seeds: note: %s with status %u encodes but does not decode\n",
                        kos__mw_type_name(m.type), m.status);
                continue;
            }
            snprintf(what, sizeof(what), "mw-%s", kos__mw_type_name(m.type));
            put_wire((unsigned)(2 | nfds << 3), what, buf, len);
            if (nfds == 0)
                put_wire(4, what, buf, len);
            put_mw_fields(&m, what);
            n_ok++;
        }
    }
    if (n_ok < sizeof(types) / sizeof(types[0]))
        die("only %zu directory messages encode", n_ok);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    struct ctx c;
    char err[512], path[4600];

    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds OUTDIR\n");
        return 2;
    }
    snprintf(out_dir, sizeof(out_dir), "%s", argv[1]);
    if (mkdir(out_dir, 0755) != 0)
        die("cannot create %s: %s", out_dir, strerror(errno));
    make_dir("%s/%s", "manifest");
    make_dir("%s/%s", "compiled");
    make_dir("%s/%s", "image");
    make_dir("%s/%s", "msgwire");

    snprintf(c.tmp, sizeof(c.tmp), "/tmp/kos-fuzz-seeds.XXXXXX");
    if (mkdtemp(c.tmp) == NULL)
        die("mkdtemp: %s", strerror(errno));
    snprintf(c.key, sizeof(c.key), "%s/release.key", c.tmp);
    snprintf(c.pub, sizeof(c.pub), "%s/release.pub", c.tmp);
    snprintf(c.bins, sizeof(c.bins), "%s/bin", c.tmp);
    if (mkdir(c.bins, 0700) != 0)
        die("cannot create %s: %s", c.bins, strerror(errno));
    if (kos_key_generate_release(c.key, c.pub, err, sizeof(err)) != KOS_STATUS_OK)
        die("cannot generate a key: %s", err);

    seed_manifest_dir(&c, "good");
    seed_manifest_dir(&c, "bad");
    seed_extra_manifests(&c);
    seed_boot();
    seed_grants();
    seed_mw();

    size_t plen;
    char *pub = read_file(c.pub, &plen);
    snprintf(path, sizeof(path), "%s/image_seed_key.pub", out_dir);
    FILE *f = fopen(path, "wx");
    if (f == NULL || fwrite(pub, 1, plen, f) != plen || fclose(f) != 0)
        die("cannot write %s", path);
    free(pub);

    /* Remove the scratch folder, the private key first. */
    unlink(c.key);
    unlink(c.pub);
    DIR *d = opendir(c.bins);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", c.bins, de->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(c.bins);
    rmdir(c.tmp);
    printf("fuzz_seeds: wrote seeds under %s\n", out_dir);
    return 0;
}
