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
 *              of every BOOT / ADD_CLIENT / directory message type and of
 *              every record of Core's system interface, direct and as a
 *              socket datagram, and each directory message's fields for
 *              the encoder mode
 *   keystore/  key_store requests of every label from kos__ks_encode(),
 *              allow lists, key files from kos__key_generate_device(), and
 *              base64 (see fuzz_keystore.c for the selector byte)
 *   logsrv/    records from kos__logrec_encode() (one with text that would
 *              drive a terminal), store files framed by
 *              kos__logstore_frame() (clean, truncated, damaged, headless)
 *              and queries from kos__logq_encode() (fuzz_logsrv.c)
 *   i2c/       transfers from kos__i2c_encode(), alone and as i2c_server
 *              conversations, allow lists, device lists and temperatures
 *              (fuzz_i2c.c)
 *   keys/      bundle.txt from kos__key_generate_device() and for the
 *              harness's scratch bundle, the release key pair, and blobs
 *              for the private-key detectors (fuzz_keys.c)
 *   admin/     AdminDown messages from the protobuf-c encoders (every kind
 *              of command, Registered, an unknown one), a script of several
 *              with the link going down and up and Core answering, admin's
 *              settings and saved places in the log stream (fuzz_admin.c)
 *   shell/     command lines (every command, good and hostile), ShellDown
 *              messages from protobuf-c's encoder, and scripts of several
 *              with Core answering, the link going down and up, the tunnel
 *              full, for an enabled and a disabled shell (fuzz_shell.c)
 *   msgsrv/    scripts for the message server's directory (fuzz_msgsrv.c):
 *              every directory message, requests that wait, token
 *              transfers, descriptor passing, revocation, apps going down
 *              and restarting, each documented bound, and garbage built
 *              from kos__mw_encode()
 *   studio/    kos-server's inputs (fuzz_studio.c): registration and
 *              command bodies, queries, secret headers, AdminUp and
 *              LogBatch messages from protobuf-c's encoders, runtime files
 *   image_seed_key.pub
 *              the public half of the release key that signed the images;
 *              the private half is deleted. Copy it over
 *              tests/fuzz/image_seed_key.pub together with the new seeds.
 * docs/fuzzing.md says how the seeds are merged into tests/fuzz/corpus/.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zip.h>

#include "admin.pb-c.h"
#include "admin_msg.h"
#include "shell.pb-c.h"
#include "shell_msg.h"
#include "boot_int.h"
#include "sys_int.h"
#include "i2c_int.h"
#include "image.h"
#include "image_int.h"
#include "keys_int.h"
#include "keystore_int.h"
#include "logs.pb-c.h"
#include "logsrv_int.h"
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
    char name[80], text[KOS__IMAGE_SIG_MAX], err[256];
    struct entry *e = image_find(img, KOS__IMAGE_SIG_NAME);

    memset(&sig, 0, sizeof(sig));
    sha256(cm, len, sig.manifest);
    blob_name(sig.manifest, name);
    if (image_find(img, name) == NULL)
        image_add(img, name, cm, len);
    if (sign) {
        EVP_PKEY *pkey = NULL;

        if (kos__key_load_private(c->key, &pkey, err, sizeof(err)) != KOS_STATUS_OK ||
            kos__key_id(pkey, sig.key_id) != KOS_STATUS_OK ||
            kos__image_sign(pkey, sig.manifest, sig.sig) != KOS_STATUS_OK)
            die("cannot sign a variant image");
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

/* The records of Core's system interface (sys_int.h), selector 7 with the
 * record's index in fuzz_msgwire.c's table, and as datagrams. */
static void seed_sys(void)
{
    static struct kos__sys_status s;
    uint8_t buf[KOS__CTL_MAX];
    size_t len;
    const struct {
        const char *what;
        struct kos__sys_request rq;
    } rqs[] = {
        {"sys-status-req", {.type = KOS__CTL_SYS_STATUS_REQ, .id = 1, .first = 128}},
        {"sys-restart", {.type = KOS__CTL_SYS_RESTART, .id = 2, .app = "worker"}},
        {"sys-reboot",
         {.type = KOS__CTL_SYS_REBOOT, .id = 3, .reason = "command 7 from the server"}},
        {"sys-credit", {.type = KOS__CTL_SYS_CONSOLE_CREDIT, .credit = KOS__SYS_CONSOLE_WINDOW}},
    };
    for (unsigned i = 0; i < 4; i++) {
        if (kos__sys_request_encode(&rqs[i].rq, buf, sizeof(buf), &len) != KOS_STATUS_OK)
            die("cannot encode %s", rqs[i].what);
        put_ctl(7 | i << 3, rqs[i].rq.type, rqs[i].what, buf, len);
    }
    memset(&s, 0, sizeof(s));
    s = (struct kos__sys_status){
        .id = 4,
        .system = "weather",
        .manifest = "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        .signer = "3f9a1c0de4b27781",
        .platform = "sim",
        .version = "0.1.0",
        .boot_time_ns = 1700000000000000000ull,
        .uptime_ms = 1234,
        .boots = 2,
        .self_test = KOS__SYS_SELF_TEST_PASSED,
        .self_test_summary = "passed: msg0 ok (ping) (1 checks)",
        .mem_total = 64 << 20,
        .mem_used = 12 << 20,
        .storage_total = 17 << 20,
        .storage_used = 1 << 16,
        .n_total = 3,
        .first = 0,
        .n_procs = 3,
        .procs = {{"msg0", KOS__ROLE_MSG_SERVER, KOS__SYS_RUNNING_READY, 0, 0, "none"},
                  {"worker", KOS__ROLE_APP, KOS__SYS_RUNNING_NOT_READY, 3, 2,
                   "exited with status 0"},
                  {"cam", KOS__ROLE_APP, KOS__SYS_FAILED, 5, 0,
                   "killed by signal 11 (Segmentation fault)"}},
        /* Booted from a boot store: 3 on trial, 2 good, 1 failed. */
        .store = 1,
        .generation = 3,
        .n_gens = 3,
        .gens = {{1, 0, KOS__SYS_GEN_FAILED, 0, 1765000000, "3f9a1c0de4b27781", 7},
                 {2, KOS__SYS_GEN_GOOD, KOS__SYS_GEN_PASSED, 0, 1765000100, "3f9a1c0de4b27781", 8},
                 {3, KOS__SYS_GEN_CURRENT | KOS__SYS_GEN_RUNNING, KOS__SYS_GEN_TRIAL, 1, 1765000200,
                  "3f9a1c0de4b27781"}},
    };
    if (kos__sys_status_encode(&s, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a STATUS page");
    put_ctl(7 | 4 << 3, KOS__CTL_SYS_STATUS, "sys-status", buf, len);
    struct kos__sys_result r = {5, KOS_STATUS_NOT_FOUND, "no app 'x' in this system"};
    if (kos__sys_result_encode(&r, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a RESULT");
    put_ctl(7 | 5 << 3, KOS__CTL_SYS_RESULT, "sys-result", buf, len);
    struct kos__sys_line l = {
        .time_ns = 1700000000123456000ull, .dropped = 3, .text = "info: \\x1b[2J and a tab\there"};
    strcpy(l.name, "talker");
    if (kos__sys_line_encode(&l, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a CONSOLE line");
    put_ctl(7 | 6 << 3, KOS__CTL_SYS_CONSOLE, "sys-console", buf, len);
    struct kos__sys_request trq = {
        .type = KOS__CTL_SYS_TABLE_REQ, .id = 6, .table = KOS__SYS_TABLE_GRANTS, .first = 0};
    if (kos__sys_request_encode(&trq, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a TABLE_REQ");
    put_ctl(7 | 28 << 3, KOS__CTL_SYS_TABLE_REQ, "sys-table-req", buf, len);
    static struct kos__sys_table t = {
        .id = 6, .kind = KOS__SYS_TABLE_GRANTS, .n_total = 3, .first = 1, .n_rows = 2};
    static const char *const g0[4] = {"msg0", "kos_log_protocol", "publish", "log_server"};
    static const char *const g1[4] = {"msg0", "kos_log_protocol", "request", "admin"};
    memcpy(t.cell[0], g0, sizeof(g0));
    memcpy(t.cell[1], g1, sizeof(g1));
    if (kos__sys_table_encode(&t, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a TABLE page");
    put_ctl(7 | 29 << 3, KOS__CTL_SYS_TABLE, "sys-table-grants", buf, len);
    static struct kos__sys_table k = {
        .id = 7, .kind = KOS__SYS_TABLE_KEYS, .n_total = 2, .n_rows = 2};
    static const char *const k0[4] = {"identity", "ed25519", "9c1d5bf12a0a0a53", "private"};
    static const char *const k1[4] = {"server", "text", "-", "item"};
    memcpy(k.cell[0], k0, sizeof(k0));
    memcpy(k.cell[1], k1, sizeof(k1));
    if (kos__sys_table_encode(&k, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("cannot encode a TABLE page");
    put_ctl(7 | 31 << 3, KOS__CTL_SYS_TABLE, "sys-table-keys", buf, len);
    struct kos__ctl_hdr hdr = {.type = KOS__CTL_SYS_CHANGED, .len = 0};
    put_wire(3, "ctl-changed", &hdr, sizeof(hdr));
}

/* ---- admin ---- */

static void put_admin(const char *what, uint8_t sel, const uint8_t *body, size_t len)
{
    uint8_t buf[8192];
    char name[128];

    buf[0] = sel;
    if (len)
        memcpy(buf + 1, body, len);
    snprintf(name, sizeof(name), "%s", what);
    put("admin", name, buf, len + 1);
}

static void seed_admin(void)
{
    uint8_t msg[512], script[4096];
    size_t len, n = 0;
    static const struct {
        const char *what;
        uint64_t id;
        enum admin_msg_kind kind;
        const char *app;
    } one[] = {
        {"restart", 7, ADMIN_MSG_RESTART, "worker"},
        {"restart-bad-name", 8, ADMIN_MSG_RESTART, "bad name"},
        {"restart-empty", 9, ADMIN_MSG_RESTART, ""},
        {"reboot", 10, ADMIN_MSG_REBOOT, NULL},
        {"command-unknown", 11, ADMIN_MSG_COMMAND_NONE, NULL},
        {"registered", 0, ADMIN_MSG_REGISTERED, NULL},
    };
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
        len = admin_msg_pack(msg, one[i].kind, one[i].id, one[i].app);
        put_admin(one[i].what, 0, msg, len);
    }
    put_admin("garbage", 0, (const uint8_t *)"\xff\xff\xff\xff", 4);
    put_admin("empty", 0, NULL, 0);
    /* A script: Registered, two restarts, the link down, a reboot, the link
     * up, Core answering. */
    static const int steps[][2] = {{3, 0}, {1, 1}, {1, 2}, {-1, 0}, {2, 3}, {-1, 0}, {-2, 0}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i][0] < 0) {
            uint16_t mark = steps[i][0] == -1 ? 0xffff : 0xfffe;
            script[n++] = (uint8_t)mark;
            script[n++] = (uint8_t)(mark >> 8);
            if (steps[i][0] == -2)
                script[n++] = 0; /* Core says ok */
            continue;
        }
        len =
            admin_msg_pack(msg, (enum admin_msg_kind)steps[i][0], (uint64_t)steps[i][1], "worker");
        script[n++] = (uint8_t)len;
        script[n++] = (uint8_t)(len >> 8);
        memcpy(script + n, msg, len);
        n += len;
    }
    put_admin("script", 1, script, n);
    static const char *const settings[] = {
        "health_every=10s\noffline_buffer=256KiB\nremote_shell=disabled",
        "health_every=500ms",
        "offline_buffer=64MiB",
        "remote_shell=enabled",
        "unknown=1",
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        char what[32];
        snprintf(what, sizeof(what), "settings-%zu", i);
        put_admin(what, 2, (const uint8_t *)settings[i], strlen(settings[i]));
    }
    static const char *const places[] = {
        "# admin's place in the log stream (docs/packages/admin.md)\nseq 1520\ncursor 977\n",
        "seq 0\ncursor -1\nseq 18446744073709551616\n",
    };
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        char what[32];
        snprintf(what, sizeof(what), "place-%zu", i);
        put_admin(what, 3, (const uint8_t *)places[i], strlen(places[i]));
    }
}

/* ---- the shell ---- */

static void put_shell(const char *what, uint8_t sel, const void *body, size_t len)
{
    uint8_t buf[8192];

    buf[0] = sel;
    if (len)
        memcpy(buf + 1, body, len);
    put("shell", what, buf, len + 1);
}

/* Appends a script record: a ShellDown of `line`, or a mark (0xffff the
 * link flips, 0xfffe Core answers with `arg`, 0xfffd the tunnel full or
 * free, 0xfffc Core's deadline passes). */
static size_t script_line(uint8_t *p, uint64_t id, const char *line)
{
    size_t len = shell_msg_pack(p + 2, id, line);
    p[0] = (uint8_t)len;
    p[1] = (uint8_t)(len >> 8);
    return len + 2;
}

static size_t script_mark(uint8_t *p, uint16_t mark, int arg)
{
    p[0] = (uint8_t)mark;
    p[1] = (uint8_t)(mark >> 8);
    if (arg < 0)
        return 2;
    p[2] = (uint8_t)arg;
    return 3;
}

static void seed_shell(void)
{
    static const char *const lines[] = {
        "help",      "apps",     "restart worker",  "logs",         "logs ticker 5",
        "logs 3",    "dir",      "trace worker on", "health",       "reboot",
        "keys",      "",         "sh -c id",        "restart ../x", "logs 0",
        "apps \x1b", "apps[2J", "apps ÿþ",         "apps â®",
    };
    uint8_t msg[512], script[4096];
    size_t n = 0;
    char what[64];

    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        snprintf(what, sizeof(what), "line-%02zu", i);
        put_shell(what, 0, lines[i], strlen(lines[i]));
        snprintf(what, sizeof(what), "msg-%02zu", i);
        put_shell(what, 1, msg, shell_msg_pack(msg, 100 + i, lines[i]));
    }
    char long_line[300];
    memset(long_line, 'a', sizeof(long_line));
    memcpy(long_line, "logs ", 5);
    put_shell("line-long", 0, long_line, sizeof(long_line));
    put_shell("msg-long", 1, msg, shell_msg_pack_n(msg, 7, long_line, sizeof(long_line)));
    put_shell("msg-garbage", 1, "ÿÿÿÿ", 4);
    put_shell("msg-empty", 1, NULL, 0);
    /* A session: help, apps (Core's state), restart (Core answers), dir
     * over two pages, the tunnel full, keys, the link down during a
     * reboot, a command Core never answers. */
    n += script_line(script + n, 1, "help");
    n += script_line(script + n, 2, "apps");
    n += script_mark(script + n, 0xfffe, 0);
    n += script_line(script + n, 3, "restart worker");
    n += script_mark(script + n, 0xfffe, 0);
    n += script_line(script + n, 4, "dir");
    n += script_mark(script + n, 0xfffe, 3 << 3 | 4);
    n += script_mark(script + n, 0xfffe, 0);
    n += script_mark(script + n, 0xfffd, -1);
    n += script_line(script + n, 5, "keys");
    n += script_mark(script + n, 0xfffe, 1);
    n += script_mark(script + n, 0xfffd, -1);
    n += script_line(script + n, 6, "reboot");
    n += script_mark(script + n, 0xffff, -1);
    n += script_mark(script + n, 0xfffe, 0);
    n += script_mark(script + n, 0xffff, -1);
    n += script_line(script + n, 7, "restart worker");
    n += script_mark(script + n, 0xfffc, -1);
    n += script_line(script + n, 8, "logs");
    put_shell("script-enabled", 2, script, n);
    put_shell("script-disabled", 3, script, n);
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
        KOS__MW_PUBLISH,         KOS__MW_REQUEST,     KOS__MW_PING,
        KOS__MW_UNPUBLISH,       KOS__MW_TOKEN_CLOSE, KOS__MW_REVOKE,
        KOS__MW_PREPARE,         KOS__MW_REDEEM,      KOS__MW_PUBLISH_REPLY,
        KOS__MW_REQUEST_REPLY,   KOS__MW_PING_REPLY,  KOS__MW_REDEEM_REPLY,
        KOS__MW_NEW_CLIENT,      KOS__MW_CLIENT_GONE, KOS__MW_TOKEN_DOWN,
        KOS__MW_FD_PASS,         KOS__MW_FD_REDEEM,   KOS__MW_FD_DROP,
        KOS__MW_FD_REDEEM_REPLY,
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

/* ---- the Poukai services' wires, their settings, and key files ---- */

/* Writes sel then data[0..len) as seed OUTDIR/<target>/NNN-<what>. */
static void put_sel(const char *target, unsigned sel, const char *what, const void *data,
                    size_t len)
{
    uint8_t *buf = malloc(len + 1);
    char name[128];

    if (!buf)
        die("out of memory");
    buf[0] = (uint8_t)sel;
    if (len)
        memcpy(buf + 1, data, len);
    snprintf(name, sizeof(name), "%03u-%s", seq++, what);
    put(target, name, buf, len + 1);
    free(buf);
}

static void put_text(const char *target, unsigned sel, const char *what, const char *text)
{
    put_sel(target, sel, what, text, strlen(text));
}

/* A key_store request as fuzz_keystore.c reads it: label, param, caller,
 * then the payload kos__ks_encode() writes. */
static void put_ks_request(const char *what, const struct kos__ks_req *r, unsigned app)
{
    uint8_t buf[3 + KOS_MSG_MAX_PAYLOAD];
    uint32_t len = 0;

    if (kos__ks_encode(r, buf + 3, sizeof(buf) - 3, &len) != KOS_STATUS_OK)
        die("kos__ks_encode refuses the %s seed", what);
    buf[0] = (uint8_t)r->label;
    buf[1] = (uint8_t)r->param;
    buf[2] = (uint8_t)app;
    put_sel("keystore", 0, what, buf, 3 + len);
}

static void seed_keystore(const char *priv_ed, const char *pub_ed, const char *priv_x)
{
    static const uint8_t zeros[64], peer[32] = {9};
    struct kos__ks_req r;

    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_PUBLIC_KEY, .key = "identity"};
    put_ks_request("public-identity", &r, 0);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_PUBLIC_KEY, .key = "peer"};
    put_ks_request("public-peer-other", &r, 1);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_SIGN,
                             .key = "identity",
                             .data = (const uint8_t *)"hello",
                             .len = 5};
    put_ks_request("sign-pure", &r, 0);
    r.param = KOS_KEYSTORE_MODE_DIGEST;
    r.data = zeros;
    r.len = KOS_KEYSTORE_DIGEST_LEN;
    put_ks_request("sign-digest", &r, 0);
    put_ks_request("sign-digest-denied", &r, 1);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_VERIFY,
                             .key = "peer",
                             .sig = zeros,
                             .data = (const uint8_t *)"hello",
                             .len = 5};
    put_ks_request("verify-pure", &r, 0);
    r.param = KOS_KEYSTORE_MODE_DIGEST;
    r.data = zeros;
    r.len = KOS_KEYSTORE_DIGEST_LEN;
    put_ks_request("verify-digest", &r, 1);
    r = (struct kos__ks_req){.label = KOS_KEYSTORE_LABEL_AGREE,
                             .key = "tunnel",
                             .param = 32,
                             .peer = peer,
                             .data = (const uint8_t *)"session",
                             .len = 7};
    put_ks_request("agree", &r, 0);
    r = (struct kos__ks_req){
        .label = KOS_KEYSTORE_LABEL_SIGN, .key = "ghost", .data = (const uint8_t *)"x", .len = 1};
    put_ks_request("sign-ghost", &r, 2);

    put_text("keystore", 1, "acl-harness",
             "app=identity:public,identity:sign,identity:verify,tunnel:agree,"
             "tunnel:public,peer:verify,peer:public;other=identity:verify,peer:public");
    put_text("keystore", 1, "acl-doc", "tunnel=tunnel:agree;admin=identity:sign,identity:public");
    put_text("keystore", 1, "acl-spaces", " a.b-c = k_1 : sign , k_1:verify ; ;b=k:agree;");
    put_text("keystore", 1, "acl-bad-op", "app=identity:encrypt");
    put_text("keystore", 1, "acl-sign-public", "app=peer:sign");

    put_text("keystore", 2 | 4, "key-ed-private", priv_ed);
    put_text("keystore", 2, "key-ed-private-open", priv_ed);
    put_text("keystore", 2, "key-ed-public", pub_ed);
    put_text("keystore", 2 | 4, "key-x-private", priv_x);
    put_text(
        "keystore", 2 | 4, "key-encrypted",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMC4CAQAw\n-----END ENCRYPTED PRIVATE KEY-----\n");
    put_text("keystore", 3, "base64",
             "MCowBQYDK2VwAyEA\n GZ9ECWmEzf6FQbrB\tZ9w7lshQhqowtrbLDFw4rXAxZuE=\n");
    put_text("keystore", 3, "base64-pad2", "QQ==");
}

/* A store file of the given records, optionally damaged. */
static size_t store_file(uint8_t *out, size_t cap, const struct kos__logrec *r, size_t n)
{
    size_t len = KOS__LOGSTORE_HDR;

    memcpy(out, KOS__LOGSTORE_MAGIC, KOS__LOGSTORE_HDR);
    for (size_t i = 0; i < n; i++) {
        size_t k = kos__logstore_frame(&r[i], out + len, cap - len);
        if (!k)
            die("kos__logstore_frame refuses a seed record");
        len += k;
    }
    return len;
}

static void seed_logsrv(void)
{
    static const char ctl[] = "tab\there\nnew line \\ bell\a del\x7f end";
    const struct kos__logrec recs[] = {
        {.seq = 1,
         .time_ns = 1700000000123456789,
         .level = KOS_LOG_INFO,
         .app_len = 5,
         .text_len = 5,
         .app = "hello",
         .text = "world"},
        {.seq = 2,
         .time_ns = 1700000001000000000,
         .level = KOS_LOG_WARN,
         .flags = KOS_LOGSRV_NOTICE,
         .app_len = 6,
         .text_len = 45,
         .app = "sensor",
         .text = "3 records from app sensor dropped by the rate"},
        {.seq = 7,
         .time_ns = -5,
         .level = KOS_LOG_ERROR,
         .app_len = 9,
         .text_len = sizeof(ctl) - 1,
         .app = "a.b-c_123",
         .text = ctl},
        {.seq = 8, .time_ns = 0, .level = KOS_LOG_DEBUG, .app_len = 1, .text_len = 0, .app = "x"},
    };
    const size_t nrec = sizeof(recs) / sizeof(recs[0]);
    static uint8_t buf[16384];
    size_t len;

    for (size_t i = 0; i < nrec; i++) {
        len = kos__logrec_encode(&recs[i], buf, sizeof(buf));
        if (!len)
            die("kos__logrec_encode refuses a seed record");
        put_sel("logsrv", 0, "record", buf, len);
        put_sel("logsrv", 5 * 5, "record-cut", buf, len); /* a 41-byte line buffer */
    }
    /* Text that would drive a terminal: C1 in both encodings, a separator,
     * a bidi override, invalid UTF-8, and a character the cut splits. */
    static const char term[] =
        "x\x9b"
        "2K\xc2\x9b"
        "1A\xc2\x9d"
        "0;t\xc2\x9c\xe2\x80\xa8\xe2\x80\xae\xed\xa0\x80\xc0\xaf\xe2\x82\xac";
    const struct kos__logrec tr = {.seq = 9,
                                   .time_ns = 1700000002000000000,
                                   .level = KOS_LOG_INFO,
                                   .app_len = 4,
                                   .text_len = sizeof(term) - 1,
                                   .app = "evil",
                                   .text = term};
    len = kos__logrec_encode(&tr, buf, sizeof(buf));
    if (!len)
        die("kos__logrec_encode refuses a seed record");
    put_sel("logsrv", 0, "record-terminal", buf, len);
    put_sel("logsrv", 8 * 5, "record-terminal-cut", buf, len); /* a 65-byte line buffer */
    len = store_file(buf, sizeof(buf), recs, nrec);
    put_sel("logsrv", 1, "scan-clean", buf, len);
    put_sel("logsrv", 2, "store-clean", buf, len);
    put_sel("logsrv", 1, "scan-truncated", buf, len - 3);
    put_sel("logsrv", 2, "store-truncated", buf, len - 3);
    buf[KOS__LOGSTORE_HDR + 20] ^= 0x40; /* the first record's body: its CRC fails */
    put_sel("logsrv", 1, "scan-damaged", buf, len);
    put_sel("logsrv", 2, "store-damaged", buf, len);
    put_sel("logsrv", 1, "scan-no-header", buf + 3, len - 3);
    put_sel("logsrv", 2, "store-empty", buf, 0);

    const struct kos__logq qs[] = {
        {.cursor = 0, .max_count = 0},
        {.cursor = 5,
         .since_ns = 1700000000000000000,
         .max_count = 10,
         .min_level = KOS_LOG_WARN,
         .app_len = 6,
         .app = "sensor"},
    };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        len = kos__logq_encode(&qs[i], buf, sizeof(buf));
        if (!len)
            die("kos__logq_encode refuses a seed query");
        put_sel("logsrv", 3, "query", buf, len);
    }
    put_text("logsrv", 4, "config-size", "64KiB");
    put_text("logsrv", 4, "config-count", "1024");
    put_text("logsrv", 4, "config-duration", "500ms");
    put_text("logsrv", 4, "config-bool", "true");
    put_text("logsrv", 4, "config-big", "18446744073709551615");
}

/* One i2c_server request in fuzz_i2c.c's conversation form. */
static size_t i2c_request(uint8_t *out, unsigned label, unsigned app, const struct kos_i2c_msg *m,
                          size_t n)
{
    uint32_t len = 0, rlen = 0;

    out[0] = (uint8_t)label;
    out[1] = 0;
    out[2] = (uint8_t)app;
    if (n && kos__i2c_encode(m, n, out + 5, KOS_MSG_MAX_PAYLOAD, &len, &rlen) != KOS_STATUS_OK)
        die("kos__i2c_encode refuses a seed transfer");
    out[3] = (uint8_t)len;
    out[4] = (uint8_t)(len >> 8);
    return 5 + len;
}

static void seed_i2c(void)
{
    static uint8_t buf[4 * (5 + KOS_MSG_MAX_PAYLOAD)];
    uint8_t ptr0[1] = {0}, cfg[3] = {1, 0x61, 0xa0}, page[5] = {0x10, 1, 2, 3, 4}, word[1] = {0x10},
            rd[8];
    const struct kos_i2c_msg temp[] = {{.addr = 0x48, .len = 1, .buf = ptr0},
                                       {.addr = 0x48, .flags = KOS_I2C_M_RD, .len = 2, .buf = rd}};
    const struct kos_i2c_msg config[] = {{.addr = 0x49, .len = 3, .buf = cfg}};
    const struct kos_i2c_msg eeprom_w[] = {{.addr = 0x50, .len = 5, .buf = page}};
    const struct kos_i2c_msg eeprom_r[] = {
        {.addr = 0x50, .len = 1, .buf = word},
        {.addr = 0x50, .flags = KOS_I2C_M_RD, .len = 8, .buf = rd}};
    const struct kos_i2c_msg ten[] = {
        {.addr = 0x123, .flags = KOS_I2C_M_TEN, .len = 1, .buf = ptr0}};
    const struct kos_i2c_msg absent[] = {
        {.addr = 0x20, .flags = KOS_I2C_M_RD, .len = 1, .buf = rd}};
    size_t len;

    len = i2c_request(buf, KOS_I2C_LABEL_TRANSFER, 0, temp, 2);
    put_sel("i2c", 0, "xfer-temp", buf + 5, len - 5);
    put_sel("i2c", 1, "srv-temp", buf, len);
    len = i2c_request(buf, KOS_I2C_LABEL_TRANSFER, 1, eeprom_w, 1);
    put_sel("i2c", 0, "xfer-eeprom-write", buf + 5, len - 5);
    len += i2c_request(buf + len, KOS_I2C_LABEL_TRANSFER, 1, eeprom_r, 2);
    put_sel("i2c", 1, "srv-eeprom", buf, len);
    len = i2c_request(buf, KOS_I2C_LABEL_TRANSFER, 2, config, 1);
    len += i2c_request(buf + len, KOS_I2C_LABEL_TRANSFER, 2, temp, 2);
    len += i2c_request(buf + len, KOS_I2C_LABEL_FUNCS, 2, NULL, 0);
    len += i2c_request(buf + len, KOS_I2C_LABEL_TRANSFER, 2, absent, 1);
    len += i2c_request(buf + len, KOS_I2C_LABEL_TRANSFER, 3, temp, 2);
    put_sel("i2c", 1, "srv-mixed", buf, len);
    len = i2c_request(buf, KOS_I2C_LABEL_TRANSFER, 2, ten, 1);
    put_sel("i2c", 0, "xfer-ten", buf + 5, len - 5);
    put_sel("i2c", 1, "srv-ten", buf, len);

    put_text("i2c", 2, "acl", "sensor=0x48,0x49;eeprom=0x50-0x57;admin=*");
    put_text("i2c", 2, "acl-spaces", " a = 72 , 0x50 - 0x57 ; b=0x3ff;a=8");
    put_text("i2c", 2, "acl-bad", "a=0x57-0x50");
    put_text("i2c", 3, "devices", "tmp102@0x48,tmp102@0x49,24c02@0x50,24c02@0x57");
    put_text("i2c", 3, "devices-spaces", " tmp102@72 24c02@0x50 ,tmp102@0x77");
    put_text("i2c", 3, "devices-bad", "tmp102@0x78");
    put_text("i2c", 4, "temp", "23.5");
    put_text("i2c", 4, "temp-neg", "-10.25");
    put_text("i2c", 4, "temp-exp", "1e2");
}

static void seed_keys(const char *dev, const char *release_key, const char *release_pub)
{
    char path[4600];
    size_t len;
    char *text;

    snprintf(path, sizeof(path), "%s/%s", dev, KOS__BUNDLE_INDEX);
    text = read_file(path, &len);
    put_sel("keys", 0, "bundle-generated", text, len);
    free(text);
    /* The scratch bundle fuzz_keys.c lays out. */
    put_text("keys", 0, "bundle-scratch",
             "# device key bundle\nformat 1\n"
             "identity ed25519 identity.key identity.pub 0011223344556677\n"
             "tunnel x25519 tunnel.key tunnel.pub 8899aabbccddeeff\n"
             "trusted_0 ed25519 - trusted/0011223344556677.pub 0011223344556677\n");
    put_text("keys", 0, "bundle-loose",
             "format 1\nloose ed25519 loose.key identity.pub 0011223344556677\n");
    put_text("keys", 0, "bundle-link", "format 1\ntrusted_0 ed25519 - link.pub 0011223344556677\n");
    put_text("keys", 0, "bundle-format-2", "format 2\n");

    text = read_file(release_pub, &len);
    put_sel("keys", 1, "release-pub", text, len);
    put_sel("keys", 2, "blob-pub", text, len);
    free(text);
    text = read_file(release_key, &len);
    put_sel("keys", 1 | 4, "release-key", text, len);
    put_sel("keys", 2, "blob-key", text, len);
    free(text);
    put_text("keys", 2, "blob-rsa",
             "junk\n-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n");
}

/* Device and release keys from the real generators, for the key seeds. */
static void seed_key_files(struct ctx *c)
{
    char dev[160], path[4600], err[512];
    char *priv_ed, *pub_ed, *priv_x;
    size_t len;

    snprintf(dev, sizeof(dev), "%s/device", c->tmp);
    if (kos__key_generate_device(dev, NULL, 0, NULL, 0, err, sizeof(err)) != KOS_STATUS_OK)
        die("cannot generate a device bundle: %s", err);
    snprintf(path, sizeof(path), "%s/identity.key", dev);
    priv_ed = read_file(path, &len);
    snprintf(path, sizeof(path), "%s/identity.pub", dev);
    pub_ed = read_file(path, &len);
    snprintf(path, sizeof(path), "%s/tunnel.key", dev);
    priv_x = read_file(path, &len);
    seed_keystore(priv_ed, pub_ed, priv_x);
    seed_keys(dev, c->key, c->pub);
    free(priv_ed);
    free(pub_ed);
    free(priv_x);
    /* Remove the bundle, private keys first. */
    static const char *const names[] = {"identity.key", "tunnel.key", "identity.pub", "tunnel.pub",
                                        KOS__BUNDLE_INDEX};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/trusted", dev);
    rmdir(path);
    if (rmdir(dev) != 0)
        die("cannot remove %s: %s", dev, strerror(errno));
}

/* ---- the message server's directory (fuzz_msgsrv.c's scripts) ---- */

/* Step kinds: 1-11 are the directory message types themselves. */
enum { MS_RAW = 0, MS_READ = 12, MS_TURN = 13, MS_TIME = 14, MS_CORE = 15 };
enum { MS_ADD = 0, MS_DOWN = 1, MS_CRASH = 2, MS_DOWN_ID = 3 }; /* MS_CORE's rep */
enum { MS_DILIGENT = 1, MS_SMALL_BUF = 2, MS_LATE = 4 };        /* an app's flags */
enum { MS_X1, MS_X2, MS_X8, MS_X64 };                           /* rep */
/* names[] of the harness, by index */
enum { N_ECHO, N_ALPHA, N_LOG, N_X, N_GAMMA, N_BETA, N_LONG, N_DELTA };
/* timeouts[]: 0, -1, 1, 49, 50, 51, 10000, INT32_MAX ms */
enum { T_NOW, T_EVER, T_1, T_49, T_50, T_51, T_10S, T_MAX };
/* advances[]: 1, 9, 49, 50, 51, 100, 999, 1000, 1001, 5000, 9999, 10000, 10001, ... */
enum {
    A_1,
    A_9,
    A_49,
    A_50,
    A_51,
    A_100,
    A_999,
    A_1000,
    A_1001,
    A_5000,
    A_9999,
    A_10000,
    A_10001,
    A_NEXT = 0xf1
};
/* Selectors: a channel the app holds, one it serves, any known, a number;
 * an endpoint of its own, someone else's; a fresh or recent cookie. */
#define OWN(k)    (k)
#define SERVED(k) (0x40 | (k))
#define OTHER(k)  (0x40 | (k))
#define ANY(k)    (0x80 | (k))
#define NUM(n)    (0xc0 | (n))
#define FRESH     0x80
#define RECENT(k) (0x80 | (k))
/* The harness's descriptor pool. */
enum { P_TCP_A, P_TCP_B, P_LISTEN, P_LOOSE, P_UDP, P_PIPE, P_UNIX, P_MEMFD, P_NULL, P_OWN };

struct ms_script {
    uint8_t b[4096];
    size_t n;
};

static void ms_bytes(struct ms_script *s, const void *p, size_t n)
{
    if (s->n + n > sizeof(s->b))
        die("a msgsrv seed script is too long");
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

static void ms_begin(struct ms_script *s, unsigned n_apps)
{
    s->n = 0;
    ms_bytes(s, &(uint8_t){(uint8_t)(n_apps - 2)}, 1);
}

static void ms_app(struct ms_script *s, unsigned id, unsigned publish, unsigned request,
                   unsigned flags)
{
    const uint8_t b[] = {(uint8_t)id,      (uint8_t)publish,        (uint8_t)(publish >> 8),
                         (uint8_t)request, (uint8_t)(request >> 8), (uint8_t)flags};
    ms_bytes(s, b, sizeof(b));
}

static void ms_op(struct ms_script *s, unsigned kind, unsigned app, unsigned rep,
                  const uint8_t *args, size_t n)
{
    ms_bytes(s, &(uint8_t){(uint8_t)(kind | app << 4 | rep << 6)}, 1);
    ms_bytes(s, args, n);
}
#define MS(s, kind, app, rep, ...)                                                                 \
    do {                                                                                           \
        const uint8_t a_[] = {0, __VA_ARGS__};                                                     \
        ms_op(s, kind, app, rep, a_ + 1, sizeof(a_) - 1);                                          \
    } while (0)

/* A raw step: `m` encoded, sent with nfds descriptors from `fd` on. */
static void ms_raw_mw(struct ms_script *s, unsigned app, const struct kos__mw *m, unsigned nfds,
                      unsigned fd)
{
    uint8_t buf[KOS__MW_MAX];
    size_t len;

    if (kos__mw_encode(m, buf, sizeof(buf), &len) != KOS_STATUS_OK)
        die("kos__mw_encode refuses a msgsrv seed's %s", kos__mw_type_name(m->type));
    MS(s, MS_RAW, app, 0, (uint8_t)(1 | nfds << 2), (uint8_t)fd, (uint8_t)len);
    ms_bytes(s, buf, len);
}

static void ms_put(const struct ms_script *s, const char *what)
{
    char name[128];

    snprintf(name, sizeof(name), "%03u-%s", seq++, what);
    put("msgsrv", name, s->b, s->n);
}

static void seed_msgsrv(void)
{
    struct ms_script sc, *s = &sc;
    const unsigned ALL = 0xffff;

    /* Publish, request (granted or not, waiting or not), ping, close, withdraw. */
    ms_begin(s, 3);
    ms_app(s, 1, 1u << N_ECHO | 1u << N_ALPHA, 0, MS_DILIGENT);
    ms_app(s, 2, 0, 1u << N_ECHO | 1u << N_ALPHA, MS_DILIGENT);
    ms_app(s, 3, 1u << N_LOG, 1u << N_ECHO, MS_DILIGENT);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ALPHA);
    MS(s, KOS__MW_PUBLISH, 2, MS_X1, N_LOG);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_X);    /* not granted */
    MS(s, KOS__MW_PUBLISH, 2, MS_X1, N_ECHO); /* not granted */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO); /* already published */
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ECHO, T_EVER);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_LOG, T_NOW); /* not granted */
    MS(s, KOS__MW_REQUEST, 2, MS_X2, N_ECHO, T_NOW);
    MS(s, KOS__MW_PING, 1, MS_X1);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_TOKEN_CLOSE, 1, MS_X1, OWN(0));
    MS(s, KOS__MW_TOKEN_CLOSE, 1, MS_X1, ANY(2)); /* not its own: ignored */
    MS(s, KOS__MW_UNPUBLISH, 2, MS_X1, OTHER(0)); /* not its own: ignored */
    MS(s, KOS__MW_UNPUBLISH, 0, MS_X1, OWN(0));
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REQUEST, 2, MS_X1, N_ECHO, T_NOW); /* withdrawn: unavailable */
    MS(s, MS_TURN, 0, MS_X2);
    ms_put(s, "directory");

    /* Requests that wait: time out, or are granted when the protocol comes. */
    ms_begin(s, 2);
    ms_app(s, 1, 1u << N_ECHO | 1u << N_ALPHA, 0, 0);
    ms_app(s, 2, 0, 1u << N_ECHO | 1u << N_ALPHA, 0);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ALPHA, T_50);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ECHO, T_EVER);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ECHO, T_10S);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ECHO, 0x80 | 3); /* 300 ms */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_49);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_1);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_READ, 1, MS_X64);
    MS(s, MS_TIME, 0, MS_X1, A_NEXT);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, MS_TURN, 0, MS_X2);
    MS(s, MS_READ, 0, MS_X64);
    MS(s, MS_READ, 1, MS_X64);
    ms_put(s, "waits");

    /* Token transfers: a holder prepares, another app redeems (it is not
     * granted the protocol); a redeem that overtakes its PREPARE; one that
     * never comes; an expired one; a second redeem of the same cookie. */
    ms_begin(s, 3);
    ms_app(s, 1, 1u << N_ECHO, 0, MS_DILIGENT);
    ms_app(s, 2, 0, 1u << N_ECHO, MS_DILIGENT);
    ms_app(s, 3, 0, 0, MS_DILIGENT);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ECHO, T_NOW);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_PREPARE, 1, MS_X1, OWN(0), FRESH);
    MS(s, KOS__MW_REDEEM, 2, MS_X1, RECENT(0));
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REDEEM, 2, MS_X1, RECENT(0)); /* again: waits, then refused */
    MS(s, KOS__MW_REDEEM, 2, MS_X1, 6);         /* before its PREPARE */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_PREPARE, 1, MS_X1, OWN(0), 6);
    MS(s, KOS__MW_PREPARE, 2, MS_X1, OWN(0), 5);    /* from the token it redeemed */
    MS(s, KOS__MW_PREPARE, 0, MS_X1, SERVED(0), 4); /* the server holds no token: ignored */
    MS(s, KOS__MW_PREPARE, 1, MS_X1, OWN(0), 7);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REDEEM, 0, MS_X1, 5);
    MS(s, KOS__MW_REDEEM, 2, MS_X1, 4);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_51);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_10001);
    MS(s, KOS__MW_REDEEM, 2, MS_X1, 7); /* expired */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_51);
    MS(s, MS_TURN, 0, MS_X1);
    ms_put(s, "transfer");

    /* Descriptor passing: a connected TCP socket to the channel's client;
     * another app trying to take it; a drop; every kind of descriptor that
     * may not travel; a pass on a channel the app does not serve; a redeem
     * that overtakes its pass; one never taken. */
    ms_begin(s, 3);
    ms_app(s, 1, 1u << N_ECHO, 0, MS_DILIGENT);
    ms_app(s, 2, 0, 1u << N_ECHO, MS_DILIGENT);
    ms_app(s, 3, 0, 1u << N_ECHO, MS_DILIGENT);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ECHO, T_NOW);
    MS(s, KOS__MW_REQUEST, 2, MS_X1, N_ECHO, T_NOW);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_FD_PASS, 0, MS_X1, SERVED(0), FRESH, P_TCP_A);
    MS(s, KOS__MW_FD_REDEEM, 1, MS_X1, RECENT(0));
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_FD_PASS, 0, MS_X1, SERVED(0), FRESH, P_TCP_B);
    MS(s, KOS__MW_FD_REDEEM, 2, MS_X1, RECENT(0)); /* not its own */
    MS(s, KOS__MW_FD_DROP, 2, MS_X1, RECENT(0));   /* not its own: ignored */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_FD_DROP, 1, MS_X1, RECENT(0));
    MS(s, MS_TURN, 0, MS_X1);
    for (unsigned fd = P_LISTEN; fd <= P_OWN; fd++)
        MS(s, KOS__MW_FD_PASS, 0, MS_X1, SERVED(1), FRESH, (uint8_t)fd);
    MS(s, KOS__MW_FD_PASS, 1, MS_X1, OWN(0), FRESH, P_TCP_A);  /* it does not serve it */
    MS(s, KOS__MW_FD_PASS, 0, MS_X1, NUM(63), FRESH, P_TCP_A); /* no such channel */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_FD_REDEEM, 2, MS_X1, 3); /* before its pass */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_FD_PASS, 0, MS_X1, SERVED(1), 3, P_TCP_B);
    MS(s, KOS__MW_FD_PASS, 0, MS_X1, SERVED(1), 3, P_TCP_A); /* the same cookie */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_FD_PASS, 0, MS_X1, SERVED(0), FRESH, P_TCP_A);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_10001);
    MS(s, MS_TURN, 0, MS_X1); /* not taken in time */
    MS(s, KOS__MW_FD_REDEEM, 1, MS_X1, RECENT(0));
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_51);
    MS(s, MS_TURN, 0, MS_X1);
    ms_put(s, "fd-pass");

    /* Revocation, apps going down, restarting and crashing. */
    ms_begin(s, 3);
    ms_app(s, 1, 1u << N_ECHO, 0, MS_DILIGENT);
    ms_app(s, 2, 0, 1u << N_ECHO, MS_DILIGENT);
    ms_app(s, 3, 0, 1u << N_ECHO, MS_DILIGENT);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REQUEST, 1, MS_X2, N_ECHO, T_NOW);
    MS(s, KOS__MW_REQUEST, 2, MS_X1, N_ECHO, T_NOW);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REVOKE, 0, MS_X1, SERVED(0), 0);       /* with its endpoint */
    MS(s, KOS__MW_REVOKE, 0, MS_X1, SERVED(1), NUM(63)); /* the wrong endpoint */
    MS(s, KOS__MW_REVOKE, 1, MS_X1, OWN(0), ANY(0));     /* not its to revoke */
    MS(s, KOS__MW_PREPARE, 1, MS_X1, OWN(1), 1);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 2, MS_DOWN);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 2, MS_ADD);
    MS(s, KOS__MW_REQUEST, 2, MS_X1, N_ECHO, T_EVER);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 1, MS_ADD);          /* a restart while it holds tokens */
    MS(s, KOS__MW_REDEEM, 1, MS_X1, 1); /* what its last life prepared */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 0, MS_CRASH);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 0, MS_DOWN);
    MS(s, MS_CORE, 0, MS_DOWN_ID, 200);
    MS(s, MS_CORE, 0, MS_ADD);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, MS_TURN, 0, MS_X2);
    ms_put(s, "down-restart");

    /* The token bounds: 16 on one endpoint, 256 in all (16 endpoints). */
    ms_begin(s, 2);
    ms_app(s, 1, ALL, 0, MS_DILIGENT);
    ms_app(s, 2, 0, ALL, MS_DILIGENT);
    for (unsigned i = 0; i < 16; i++)
        MS(s, KOS__MW_PUBLISH, 0, MS_X1, (uint8_t)i);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REQUEST, 1, MS_X8, N_ECHO, T_NOW);
    MS(s, KOS__MW_REQUEST, 1, MS_X8, N_ECHO, T_NOW);
    MS(s, KOS__MW_REQUEST, 1, MS_X2, N_ECHO, T_NOW);
    MS(s, MS_TURN, 0, MS_X2);
    for (unsigned i = 1; i < 16; i++) {
        MS(s, KOS__MW_REQUEST, 1, MS_X8, (uint8_t)i, T_NOW);
        MS(s, KOS__MW_REQUEST, 1, MS_X8, (uint8_t)i, T_NOW);
        MS(s, MS_TURN, 0, MS_X1);
    }
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ALPHA, T_NOW);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_TOKEN_CLOSE, 1, MS_X1, OWN(3));
    MS(s, KOS__MW_REQUEST, 1, MS_X2, N_ALPHA, T_NOW);
    MS(s, MS_TURN, 0, MS_X1);
    ms_put(s, "token-limits");

    /* Waits (64), prepared transfers (256), passed descriptors (16 for one
     * app), each filled past its bound. */
    ms_begin(s, 2);
    ms_app(s, 1, 1u << N_ECHO, 0, MS_DILIGENT);
    ms_app(s, 2, 0, 1u << N_ECHO | 1u << N_BETA, MS_DILIGENT);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ECHO, T_NOW);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REQUEST, 1, MS_X64, N_BETA, T_EVER);
    MS(s, MS_TURN, 0, MS_X2);
    MS(s, KOS__MW_REQUEST, 1, MS_X8, N_BETA, T_10S);
    MS(s, KOS__MW_REDEEM, 1, MS_X1, 2);
    MS(s, MS_TURN, 0, MS_X1);
    for (unsigned i = 0; i < 5; i++) {
        MS(s, KOS__MW_PREPARE, 1, MS_X64, OWN(0), FRESH);
        MS(s, MS_TURN, 0, MS_X2);
    }
    MS(s, KOS__MW_FD_PASS, 0, MS_X8, SERVED(0), FRESH, P_TCP_A);
    MS(s, KOS__MW_FD_PASS, 0, MS_X8, SERVED(0), FRESH, P_TCP_B);
    MS(s, KOS__MW_FD_PASS, 0, MS_X2, SERVED(0), FRESH, P_TCP_A);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_10000);
    MS(s, MS_TURN, 0, MS_X1);
    ms_put(s, "bounds");

    /* An app that never reads: its replies queue until 1024 wait and it is
     * disconnected, while the other is served. */
    ms_begin(s, 2);
    ms_app(s, 1, 0, 0, MS_SMALL_BUF);
    ms_app(s, 2, 0, 0, MS_DILIGENT);
    for (unsigned i = 0; i < 24; i++) {
        MS(s, KOS__MW_PING, 0, MS_X64);
        MS(s, KOS__MW_PING, 1, MS_X1);
        MS(s, MS_TURN, 0, MS_X2);
    }
    MS(s, MS_TURN, 0, MS_X8);
    ms_put(s, "never-reads");

    /* Denials past the console's budget, and time for it to refill. */
    ms_begin(s, 2);
    ms_app(s, 1, 1u << N_ECHO | 1u << N_ALPHA, 0, MS_DILIGENT);
    ms_app(s, 2, 0, 1u << N_ALPHA, MS_DILIGENT);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ALPHA);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_REQUEST, 1, MS_X1, N_ALPHA, T_NOW);
    MS(s, KOS__MW_REQUEST, 1, MS_X64, N_ECHO, T_NOW); /* not granted */
    MS(s, MS_TURN, 0, MS_X2);
    MS(s, MS_TIME, 0, MS_X1, A_1000);
    MS(s, KOS__MW_PUBLISH, 1, MS_X8, N_X);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_TIME, 0, MS_X1, A_5000);
    MS(s, KOS__MW_FD_PASS, 1, MS_X8, OWN(0), FRESH, P_TCP_A); /* it does not serve it */
    MS(s, KOS__MW_FD_PASS, 0, MS_X8, SERVED(0), FRESH, P_PIPE);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, KOS__MW_UNPUBLISH, 0, MS_X1, OWN(0));
    MS(s, KOS__MW_UNPUBLISH, 0, MS_X1, OWN(1));
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO); /* published again: within the budget */
    MS(s, MS_TURN, 0, MS_X1);
    ms_put(s, "denials");

    /* Garbage, one app at a time, each restarted after: bytes that are no
     * message, a directory message from an app, a message with a
     * descriptor it may not carry, a flipped byte, an empty datagram, an
     * oversized one. */
    ms_begin(s, 3);
    ms_app(s, 1, 1u << N_ECHO, 0, 0);
    ms_app(s, 2, 0, 1u << N_ECHO, 0);
    ms_app(s, 3, 0, 0, MS_DILIGENT);
    MS(s, KOS__MW_PUBLISH, 0, MS_X1, N_ECHO);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_RAW, 1, 0, 1, P_TCP_A, 5, 'h', 'e', 'l', 'l', 'o');
    MS(s, KOS__MW_PING, 2, MS_X1);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 1, MS_ADD);
    ms_raw_mw(s, 1,
              &(struct kos__mw){
                  .type = KOS__MW_TOKEN_DOWN, .status = KOS_STATUS_UNAVAILABLE, .channel = 1},
              0, 0);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 1, MS_ADD);
    ms_raw_mw(s, 1, &(struct kos__mw){.type = KOS__MW_PING, .id = 9}, 1, P_TCP_A);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 1, MS_ADD);
    /* A REQUEST_REPLY with its three descriptors, then a NEW_CLIENT
     * without its four, both encoded, one byte of the second flipped. */
    MS(s, MS_RAW, 1, 0, 0 | 3 << 2, P_MEMFD, KOS__MW_REQUEST_REPLY, 1, 7, 0, 0);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 1, MS_ADD);
    MS(s, MS_RAW, 1, 0, 2, 0, KOS__MW_NEW_CLIENT, 1, 7, 0, 0, 0x40, 5);
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 1, MS_ADD);
    MS(s, MS_RAW, 1, 0, 1, 0, 0); /* empty */
    MS(s, MS_TURN, 0, MS_X1);
    MS(s, MS_CORE, 1, MS_ADD);
    MS(s, MS_RAW, 0, 0, 3, 0, 150); /* 300 bytes */
    for (unsigned i = 0; i < 300; i++)
        ms_bytes(s, &(uint8_t){(uint8_t)i}, 1);
    MS(s, KOS__MW_PING, 2, MS_X1);
    MS(s, MS_TURN, 0, MS_X2);
    ms_put(s, "garbage");
}

/* ---- main ---- */

/* ---- kos-server (fuzz_studio.c) ---- */

/* The PEM of pkey (its private key when priv), as a JSON string's text. */
static void pem_json(EVP_PKEY *pkey, bool priv, char *out, size_t cap)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;
    size_t o = 0;

    if (!bio || !(priv ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
                       : PEM_write_bio_PUBKEY(bio, pkey)))
        die("cannot encode a key");
    len = BIO_get_mem_data(bio, &data);
    for (long i = 0; i < len && o + 3 < cap; i++) {
        if (data[i] == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = data[i];
        }
    }
    out[o] = '\0';
    BIO_free(bio);
}

static void put_admin_up(const char *what, const Kos__Admin__AdminUp *up)
{
    uint8_t buf[4096];
    size_t n = kos__admin__admin_up__get_packed_size(up);

    if (n > sizeof(buf))
        die("the %s seed is too big", what);
    kos__admin__admin_up__pack(up, buf);
    put_sel("studio", 5, what, buf, n);
}

static void put_logs(const char *what, const Kos__Logs__LogBatch *b)
{
    uint8_t buf[8192];
    size_t n = kos__logs__log_batch__get_packed_size(b);

    if (n > sizeof(buf))
        die("the %s seed is too big", what);
    kos__logs__log_batch__pack(b, buf);
    put_sel("studio", 6, what, buf, n);
}

static void seed_studio(void)
{
    static const char secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    char pem[1024], body[2048], text[512];

    if (!ed || !x)
        die("cannot make keys");
    /* 0: registration bodies */
    pem_json(ed, false, pem, sizeof(pem));
    snprintf(body, sizeof(body),
             "{\"public_key\": \"%s\", \"name\": \"<script>alert(1)</script>\"}", pem);
    put_text("studio", 0, "register", body);
    snprintf(body, sizeof(body), "{\"public_key\": \"%s\"}", pem);
    put_text("studio", 0, "register-unnamed", body);
    snprintf(body, sizeof(body), "{\"public_key\": \"%s\", \"name\": \"a\\u2028b\"}", pem);
    put_text("studio", 0, "register-separator", body);
    pem_json(x, false, pem, sizeof(pem));
    snprintf(body, sizeof(body), "{\"public_key\": \"%s\"}", pem);
    put_text("studio", 0, "register-x25519", body);
    pem_json(ed, true, pem, sizeof(pem));
    snprintf(body, sizeof(body), "{\"public_key\": \"%s\"}", pem);
    put_text("studio", 0, "register-private", body);
    put_text("studio", 0, "register-cut", "{\"public_key\": ");
    put_text("studio", 0, "register-unknown", "{\"pubkey\": 1, \"\\u001b[2J\": 2}");
    /* 1: command bodies */
    put_text("studio", 1, "restart", "{\"restart_app\": \"sensor\"}");
    put_text("studio", 1, "reboot", "{\"reboot\": true}");
    put_text("studio", 1, "both", "{\"reboot\": true, \"restart_app\": \"a\"}");
    put_text("studio", 1, "reboot-false", "{\"reboot\": false}");
    /* 2, 3: queries */
    put_text("studio", 2, "logs-query", "after=42&limit=7");
    put_text("studio", 2, "logs-query-bad", "after=1&after=2&limit=0&x");
    snprintf(text, sizeof(text), "device=%s", secret);
    put_text("studio", 3, "events-query", text);
    put_text("studio", 3, "events-query-bad", "device=ZZ&other=1");
    /* 4: the secret's headers, split at a NUL */
    snprintf(text, sizeof(text), "Bearer %s%ctheme=dark; kos_session=%s", secret, 0, secret);
    put_sel("studio", 4, "auth", text, strlen(text) + 1 + strlen(text + strlen(text) + 1));
    /* 5: AdminUp */
    {
        Kos__Admin__AdminUp up = KOS__ADMIN__ADMIN_UP__INIT;
        Kos__Admin__Register reg = KOS__ADMIN__REGISTER__INIT;
        Kos__Admin__Health h = KOS__ADMIN__HEALTH__INIT;
        Kos__Admin__App a1 = KOS__ADMIN__APP__INIT, a2 = KOS__ADMIN__APP__INIT;
        Kos__Admin__App *apps[] = {&a1, &a2};
        Kos__Admin__CommandResult res = KOS__ADMIN__COMMAND_RESULT__INIT;

        a1.name = "sensor";
        a1.kind = "app";
        a1.state = "running, ready";
        a1.restarts = 3;
        a1.last_exit = "exit 1";
        a2.name = "msg0";
        a2.kind = "message server";
        a2.state = "running";
        a2.last_exit = "";
        h.time_ns = 1700000000000000000ull;
        h.uptime_ms = 123456;
        h.n_apps = 2;
        h.apps = apps;
        h.mem_total = 1 << 30;
        h.mem_used = 1 << 20;
        h.self_test = "passed";
        reg.system = "weather_station";
        reg.manifest_sha256 = "3c8d056b3b71c87e3c8d056b3b71c87e3c8d056b3b71c87e3c8d056b3b71c87e";
        reg.signer = "3c8d056b3b71c87e";
        reg.kos_version = "0.1.0";
        reg.platform = "sim";
        reg.boot_time_ns = 1700000000000000000ull;
        reg.health = &h;
        up.body_case = KOS__ADMIN__ADMIN_UP__BODY_REGISTER;
        up.register_ = &reg;
        put_admin_up("admin-register", &up);
        reg.system = "\x1b]0;title\x07\xff\xc0";
        put_admin_up("admin-register-control", &up);
        up.body_case = KOS__ADMIN__ADMIN_UP__BODY_HEALTH;
        up.health = &h;
        put_admin_up("admin-health", &up);
        res.id = 1;
        res.status = 2;
        res.message = "no app 'x'";
        up.body_case = KOS__ADMIN__ADMIN_UP__BODY_RESULT;
        up.result = &res;
        put_admin_up("admin-result", &up);
        up.body_case = KOS__ADMIN__ADMIN_UP__BODY__NOT_SET;
        put_admin_up("admin-empty", &up);
    }
    /* 6: LogBatch */
    {
        Kos__Logs__LogRecord r[4], *rp[4];
        Kos__Logs__LogBatch b = KOS__LOGS__LOG_BATCH__INIT;
        static const char *const texts[] = {"hello", "\x1b[2J cleared", "caf\xc3\xa9 \xe2\x80\xae",
                                            "\xff\xfe"};

        for (unsigned i = 0; i < 4; i++) {
            kos__logs__log_record__init(&r[i]);
            r[i].seq = 10 + i;
            r[i].time_ns = 1700000000000000000ll + i;
            r[i].app = i % 2 ? "sensor" : "core";
            r[i].level = i;
            r[i].text = (char *)texts[i];
            r[i].console = i == 1;
            rp[i] = &r[i];
        }
        b.records = rp;
        b.n_records = 4;
        b.dropped = 5;
        put_logs("logs-batch", &b);
        b.n_records = 0;
        put_logs("logs-dropped-only", &b);
        r[0].level = 9;
        b.n_records = 1;
        put_logs("logs-bad-level", &b);
    }
    /* 7: runtime files */
    snprintf(text, sizeof(text),
             "# kos-server's runtime file\npid 4242\nurl http://127.0.0.1:7440/\n"
             "device 127.0.0.1:7443\nsecret %s\n",
             secret);
    put_text("studio", 7, "runtime", text);
    put_text("studio", 7, "runtime-bad", "pid 0\nurl http://10.0.0.1:80/\nsecret x\nsecret y\n");
    /* 0xf0: shell line bodies; 0xf1: ShellUp answers to line 1 */
    put_text("studio", 0xf0, "shell-line", "{\"line\": \"restart sensor\"}");
    put_text("studio", 0xf0, "shell-line-escapes", "{\"line\": \"apps\\u001b[2J\\u202e\"}");
    put_text("studio", 0xf0, "shell-line-bad", "{\"line\": 5, \"x\": 1}");
    {
        Kos__Shell__ShellUp up = KOS__SHELL__SHELL_UP__INIT;
        char *lines[] = {"summary: 2 processes", "  evil \x1b[2J \xff", ""};
        uint8_t buf[256];

        up.id = 1;
        up.lines = lines;
        up.n_lines = 3;
        put_sel("studio", 0xf1, "shell-up-part", buf, kos__shell__shell_up__pack(&up, buf));
        up.done = true;
        put_sel("studio", 0xf1, "shell-up-done", buf, kos__shell__shell_up__pack(&up, buf));
        up.id = 2;
        put_sel("studio", 0xf1, "shell-up-other-line", buf, kos__shell__shell_up__pack(&up, buf));
        up.id = 1;
        up.status = 99;
        up.n_lines = 0;
        put_sel("studio", 0xf1, "shell-up-bad-status", buf, kos__shell__shell_up__pack(&up, buf));
    }
    EVP_PKEY_free(ed);
    EVP_PKEY_free(x);
}

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
    make_dir("%s/%s", "keystore");
    make_dir("%s/%s", "logsrv");
    make_dir("%s/%s", "i2c");
    make_dir("%s/%s", "keys");
    make_dir("%s/%s", "msgsrv");
    make_dir("%s/%s", "studio");
    make_dir("%s/%s", "admin");
    make_dir("%s/%s", "shell");

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
    seed_key_files(&c);
    seed_logsrv();
    seed_i2c();
    seed_msgsrv();
    seed_studio();
    seed_sys();
    seed_admin();
    seed_shell();

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
