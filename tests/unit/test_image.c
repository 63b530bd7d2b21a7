/*
 * test_image.c - unit tests of system images and release keys.
 *
 * Builds small images from a manifest with tiny binaries (copies of
 * /bin/true and /bin/false), then opens them as built and after every kind
 * of tampering: each refusal is checked against the start of its message.
 * Tampered images are made with libzip (which keeps the zip itself
 * consistent, so only KOS's own checks can catch the change), by flipping
 * raw bytes, or by writing zips by hand (for what libzip will not write:
 * duplicate names, path tricks, encryption flags, odd methods).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zip.h>

#include "image.h"
#include "image_int.h"
#include "keys_int.h"
#include "manifest.h"
#include "store.h"
#include "store_int.h"

#define ERRLEN 2048

static const char signed_yaml[] = "system: t\n"
                                  "message_servers:\n"
                                  "  msg0:\n"
                                  "    binary: msg_server\n"
                                  "apps:\n"
                                  "  ping:\n"
                                  "    protocols:\n"
                                  "      msg0:\n"
                                  "        request: [p]\n"
                                  "  pong:\n"
                                  "    protocols:\n"
                                  "      msg0:\n"
                                  "        publish: [p]\n"
                                  "  pong2:\n"
                                  "    binary: pong\n";

static const char unsigned_yaml[] = "system: u\n"
                                    "signing: disabled\n"
                                    "message_servers:\n"
                                    "  msg0:\n"
                                    "    binary: msg_server\n"
                                    "apps:\n"
                                    "  ping: {}\n";

struct fixture {
    char dir[64];
    char bins[128];
    char key_a[128], pub_a[128], key_b[128], pub_b[128];
    char id_a[17];
    char hex_true[65], hex_false[65];
    struct kos_manifest *signed_m, *unsigned_m;
    char signed_img[128], unsigned_img[128];
    char hex_manifest[65]; /* of signed_img */
};

/* ---------------------------------------------------------------- helpers */

static void pathf(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < len);
}

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    size_t len;
    void *data = read_file(from, &len);

    write_file(to, data, len, mode);
    free(data);
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
    uint8_t md[32];

    assert_int_equal(EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL), 1);
    kos__image_hex(md, 32, hex);
}

static void file_hex(const char *path, char hex[65])
{
    size_t len;
    void *data = read_file(path, &len);

    sha256_hex(data, len, hex);
    free(data);
}

static void assert_prefix(const char *err, const char *prefix)
{
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error message\n  \"%s\"\ndoes not start with\n  \"%s\"", err, prefix);
}

static struct kos_manifest *parse(const char *yaml)
{
    struct kos_manifest *m = NULL;
    struct kos_mf_error merr;
    char buf[1200];

    if (kos_manifest_parse("test.yaml", yaml, strlen(yaml), NULL, &m, &merr) != KOS_STATUS_OK) {
        kos_mf_error_format(&merr, buf, sizeof(buf));
        fail_msg("manifest: %s", buf);
    }
    return m;
}

static kos_status_t build(struct fixture *f, const struct kos_manifest *m, const char *key,
                          const char *out, char *err)
{
    const char *dirs[] = {f->bins};
    struct kos_image_build_opts o = {
        .manifest_path = "test.yaml",
        .manifest = m,
        .bin_dirs = dirs,
        .n_bin_dirs = 1,
        .key_path = key,
        .out_path = out,
    };

    err[0] = '\0';
    return kos_image_build(&o, err, ERRLEN);
}

/* Opens `path` trusting up to two keys (NULL for none). */
static kos_status_t open_img(const char *path, const char *key1, const char *key2,
                             int allow_unsigned, struct kos_image **img, char *err)
{
    const char *keys[2];
    struct kos_image_open_opts o = {.trusted_keys = keys, .allow_unsigned = allow_unsigned};

    if (key1)
        keys[o.n_trusted_keys++] = key1;
    if (key2)
        keys[o.n_trusted_keys++] = key2;
    err[0] = '\0';
    *img = NULL;
    return kos_image_open(path, &o, img, err, ERRLEN);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    assert_non_null(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Opens, expects a refusal starting with `prefix`, and that nothing is held:
 * no image, and no file descriptor left open. (Memory is checked by the
 * sanitizer build.) */
static void expect_refused(const char *path, const char *key, int allow_unsigned,
                           const char *prefix)
{
    struct kos_image *img;
    char err[ERRLEN];
    int fds = count_fds();

    assert_int_not_equal(open_img(path, key, NULL, allow_unsigned, &img, err), KOS_STATUS_OK);
    assert_null(img);
    assert_prefix(err, prefix);
    assert_int_equal(count_fds(), fds);
}

/* Reads entry `name` of the zip at path. */
static void *zip_read(const char *path, const char *name, size_t *len)
{
    zip_t *za = zip_open(path, ZIP_RDONLY, NULL);
    zip_stat_t st;
    zip_file_t *zf;
    char *buf;

    assert_non_null(za);
    assert_int_equal(zip_stat(za, name, 0, &st), 0);
    buf = malloc(st.size + 1);
    zf = zip_fopen(za, name, 0);
    assert_non_null(zf);
    assert_int_equal(zip_fread(zf, buf, st.size), (zip_int64_t)st.size);
    zip_fclose(zf);
    zip_discard(za);
    buf[st.size] = '\0';
    *len = st.size;
    return buf;
}

/* Copies the image at src to dst, then replaces (or adds) entry `name` with
 * `data`; data == NULL deletes the entry instead. libzip recomputes sizes and
 * CRCs, so the zip stays well-formed. */
static void zip_edit(const char *src, const char *dst, const char *name, const void *data,
                     size_t len)
{
    zip_t *za;
    zip_int64_t idx;

    copy_file(src, dst, 0644);
    za = zip_open(dst, 0, NULL);
    assert_non_null(za);
    idx = zip_name_locate(za, name, 0);
    if (!data) {
        assert_true(idx >= 0);
        assert_int_equal(zip_delete(za, (zip_uint64_t)idx), 0);
    } else {
        zip_source_t *s = zip_source_buffer(za, data, len, 0);
        assert_non_null(s);
        if (idx >= 0)
            assert_int_equal(zip_file_replace(za, (zip_uint64_t)idx, s, 0), 0);
        else
            assert_true(zip_file_add(za, name, s, 0) >= 0);
    }
    assert_int_equal(zip_close(za), 0);
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

struct raw_entry {
    const char *name;
    const char *data;
    uint16_t flags;  /* general purpose bits (1 = encrypted) */
    uint16_t method; /* 0 = stored */
    uint32_t usize;  /* declared uncompressed size; 0 = the data's length */
};

static void put16(FILE *f, uint32_t v)
{
    fputc((int)(v & 0xff), f);
    fputc((int)((v >> 8) & 0xff), f);
}

static void put32(FILE *f, uint32_t v)
{
    put16(f, v & 0xffff);
    put16(f, v >> 16);
}

/* Writes a zip by hand, with whatever names, flags and methods. */
static void write_raw_zip(const char *path, const struct raw_entry *e, size_t n)
{
    FILE *f = fopen(path, "wb");
    uint32_t offs[16], cd_start, cd_end;

    assert_non_null(f);
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)strlen(e[i].data);
        uint32_t crc = crc32_of((const uint8_t *)e[i].data, len);
        offs[i] = (uint32_t)ftell(f);
        put32(f, 0x04034b50);
        put16(f, 20);
        put16(f, e[i].flags);
        put16(f, e[i].method);
        put16(f, 0);
        put16(f, 0x21);
        put32(f, crc);
        put32(f, len);
        put32(f, e[i].usize ? e[i].usize : len);
        put16(f, (uint32_t)strlen(e[i].name));
        put16(f, 0);
        fputs(e[i].name, f);
        fwrite(e[i].data, 1, len, f);
    }
    cd_start = (uint32_t)ftell(f);
    for (size_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)strlen(e[i].data);
        put32(f, 0x02014b50);
        put16(f, 20);
        put16(f, 20);
        put16(f, e[i].flags);
        put16(f, e[i].method);
        put16(f, 0);
        put16(f, 0x21);
        put32(f, crc32_of((const uint8_t *)e[i].data, len));
        put32(f, len);
        put32(f, e[i].usize ? e[i].usize : len);
        put16(f, (uint32_t)strlen(e[i].name));
        put16(f, 0);
        put16(f, 0);
        put16(f, 0);
        put16(f, 0);
        put32(f, 0);
        put32(f, offs[i]);
        fputs(e[i].name, f);
    }
    cd_end = (uint32_t)ftell(f);
    put32(f, 0x06054b50);
    put16(f, 0);
    put16(f, 0);
    put16(f, (uint32_t)n);
    put16(f, (uint32_t)n);
    put32(f, cd_end - cd_start);
    put32(f, cd_start);
    put16(f, 0);
    fclose(f);
}

static void run(const char *cmd)
{
    assert_int_equal(system(cmd), 0);
}

/* ---------------------------------------------------------------- fixture */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[ERRLEN], path[256];
    size_t len;
    char *sig;

    assert_non_null(f);
    strcpy(f->dir, "/tmp/kos-test-image-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    pathf(f->bins, sizeof(f->bins), "%s/bins", f->dir);
    assert_int_equal(mkdir(f->bins, 0755), 0);
    pathf(path, sizeof(path), "%s/msg_server", f->bins);
    copy_file("/bin/true", path, 0755);
    pathf(path, sizeof(path), "%s/ping", f->bins);
    copy_file("/bin/true", path, 0755);
    pathf(path, sizeof(path), "%s/pong", f->bins);
    copy_file("/bin/false", path, 0755);
    file_hex("/bin/true", f->hex_true);
    file_hex("/bin/false", f->hex_false);

    pathf(f->key_a, sizeof(f->key_a), "%s/a.key", f->dir);
    pathf(f->pub_a, sizeof(f->pub_a), "%s/a.pub", f->dir);
    pathf(f->key_b, sizeof(f->key_b), "%s/b.key", f->dir);
    pathf(f->pub_b, sizeof(f->pub_b), "%s/b.pub", f->dir);
    assert_int_equal(kos_key_generate_release(f->key_a, f->pub_a, err, sizeof(err)), 0);
    assert_int_equal(kos_key_generate_release(f->key_b, f->pub_b, err, sizeof(err)), 0);
    assert_int_equal(kos__key_id_of_public_file(f->pub_a, f->id_a, err, sizeof(err)), 0);

    f->signed_m = parse(signed_yaml);
    f->unsigned_m = parse(unsigned_yaml);
    pathf(f->signed_img, sizeof(f->signed_img), "%s/signed.zip", f->dir);
    pathf(f->unsigned_img, sizeof(f->unsigned_img), "%s/unsigned.zip", f->dir);
    if (build(f, f->signed_m, f->key_a, f->signed_img, err) != KOS_STATUS_OK)
        fail_msg("build: %s", err);
    if (build(f, f->unsigned_m, NULL, f->unsigned_img, err) != KOS_STATUS_OK)
        fail_msg("build: %s", err);

    sig = zip_read(f->signed_img, "image.sig", &len);
    assert_true(len > 80);
    memcpy(f->hex_manifest, sig + strlen("kos-image 1\nmanifest "), 64);
    f->hex_manifest[64] = '\0';
    free(sig);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    kos_manifest_destroy(f->signed_m);
    kos_manifest_destroy(f->unsigned_m);
    pathf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    run(cmd);
    free(f);
    return 0;
}

/* ---------------------------------------------------------------- tests */

static void test_open_signed(void **state)
{
    struct fixture *f = *state;
    struct kos_image *img;
    char err[ERRLEN], hex[65];
    const struct kos_cm *cm;
    uint8_t buf[1 << 16];
    int fd, fds = count_fds();
    ssize_t n;

    if (open_img(f->signed_img, f->pub_a, NULL, 0, &img, err) != KOS_STATUS_OK)
        fail_msg("open: %s", err);
    assert_string_equal(kos_image_signer(img), f->id_a);
    cm = kos_image_manifest(img);
    assert_int_equal(kos_cm_nprocs(cm), 4);
    assert_int_equal(kos_cm_find(cm, "msg0"), 0);
    /* Equal blobs share one memfd: msg0 and ping are both /bin/true. */
    assert_true(kos_image_binary_fd(img, 0) >= 0);
    assert_int_equal(kos_image_binary_fd(img, 0), kos_image_binary_fd(img, 1));
    assert_int_equal(kos_image_binary_fd(img, 2), kos_image_binary_fd(img, 3));
    assert_int_not_equal(kos_image_binary_fd(img, 1), kos_image_binary_fd(img, 2));
    assert_int_equal(kos_image_binary_fd(img, 4), -1);
    /* Each fd holds the binary it names, from its start. */
    fd = kos_image_binary_fd(img, 2);
    assert_int_equal(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
    {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        uint8_t d[32];
        assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            assert_int_equal(EVP_DigestUpdate(md, buf, (size_t)n), 1);
        assert_int_equal(EVP_DigestFinal_ex(md, d, NULL), 1);
        EVP_MD_CTX_free(md);
        kos__image_hex(d, 32, hex);
        assert_string_equal(hex, f->hex_false);
    }
    kos_image_close(img);
    kos_image_close(NULL);
    assert_int_equal(count_fds(), fds);

    /* Any one of several trusted keys will do. */
    if (open_img(f->signed_img, f->pub_b, f->pub_a, 0, &img, err) != KOS_STATUS_OK)
        fail_msg("open: %s", err);
    assert_string_equal(kos_image_signer(img), f->id_a);
    kos_image_close(img);
}

static void test_image_layout(void **state)
{
    struct fixture *f = *state;
    char name[128];
    zip_t *za = zip_open(f->signed_img, ZIP_RDONLY, NULL);

    assert_non_null(za);
    /* image.sig, the manifest, /bin/true once, /bin/false once. */
    assert_int_equal(zip_get_num_entries(za, 0), 4);
    assert_string_equal(zip_get_name(za, 0, 0), "image.sig");
    pathf(name, sizeof(name), "blobs/%s", f->hex_manifest);
    assert_string_equal(zip_get_name(za, 1, 0), name);
    pathf(name, sizeof(name), "blobs/%s", f->hex_true);
    assert_true(zip_name_locate(za, name, 0) >= 0);
    pathf(name, sizeof(name), "blobs/%s", f->hex_false);
    assert_true(zip_name_locate(za, name, 0) >= 0);
    zip_discard(za);
}

static void test_wrong_key_and_no_key(void **state)
{
    struct fixture *f = *state;

    expect_refused(f->signed_img, f->pub_b, 0, "signature does not verify with any trusted key");
    expect_refused(f->signed_img, NULL, 0, "no trusted release key given; pass --trust FILE");
    /* A private key or a missing file is not a trusted public key. */
    expect_refused(f->signed_img, f->key_a, 0, "trusted key ");
    expect_refused(f->signed_img, "/nonexistent/k.pub", 0, "trusted key /nonexistent/k.pub: ");
}

static void test_tampered_blob(void **state)
{
    struct fixture *f = *state;
    char name[128], path[256], want[512];
    uint8_t *data;
    size_t len;

    pathf(name, sizeof(name), "blobs/%s", f->hex_false);
    data = zip_read(f->signed_img, name, &len);
    data[len / 2] ^= 0xff;
    pathf(path, sizeof(path), "%s/tampered-blob.zip", f->dir);
    zip_edit(f->signed_img, path, name, data, len);
    pathf(want, sizeof(want), "blob %s (binary 'pong' of app 'pong') has SHA-256 ", f->hex_false);
    expect_refused(path, f->pub_a, 0, want);
    free(data);
}

static void test_flipped_raw_byte(void **state)
{
    struct fixture *f = *state;
    char name[128], path[256], want[512];
    uint8_t *data, *hit;
    size_t len;

    /* Flip a byte inside the compressed data of pong's blob, without
     * telling the zip: its CRC (or inflate) catches it. */
    data = read_file(f->signed_img, &len);
    pathf(name, sizeof(name), "blobs/%s", f->hex_false);
    hit = memmem(data, len, name, strlen(name));
    assert_non_null(hit);
    assert_true((size_t)(hit - data) + strlen(name) + 300 < len);
    hit[strlen(name) + 200] ^= 0x55;
    pathf(path, sizeof(path), "%s/flipped.zip", f->dir);
    write_file(path, data, len, 0644);
    pathf(want, sizeof(want), "cannot read blob %s (binary 'pong' of app 'pong'): ", f->hex_false);
    expect_refused(path, f->pub_a, 0, want);
    free(data);
}

static void test_tampered_sig(void **state)
{
    struct fixture *f = *state;
    char path[256], want[512], *sig, *line;
    size_t len;

    sig = zip_read(f->signed_img, "image.sig", &len);
    pathf(path, sizeof(path), "%s/sig.zip", f->dir);

    /* The digest changed to another blob that exists. */
    line = strstr(sig, "manifest ") + strlen("manifest ");
    memcpy(line, f->hex_true, 64);
    zip_edit(f->signed_img, path, "image.sig", sig, len);
    expect_refused(path, f->pub_a, 0, "signature does not verify with any trusted key");

    /* ... to a blob that does not. */
    memset(line, 'a', 64);
    zip_edit(f->signed_img, path, "image.sig", sig, len);
    pathf(want, sizeof(want), "image.sig names manifest %.64s, but the image has no blob", line);
    expect_refused(path, f->pub_a, 0, want);
    free(sig);

    /* One signature digit changed. */
    sig = zip_read(f->signed_img, "image.sig", &len);
    line = strstr(sig, "signature ") + strlen("signature ") + 10;
    *line = *line == '0' ? '1' : '0';
    zip_edit(f->signed_img, path, "image.sig", sig, len);
    expect_refused(path, f->pub_a, 0, "signature does not verify with any trusted key");
    free(sig);

    /* Syntax: upper-case hex, a stray byte, a missing line. */
    sig = zip_read(f->signed_img, "image.sig", &len);
    line = strstr(sig, "signature ") + strlen("signature ");
    for (size_t i = 0; i < 128; i++)
        if (line[i] >= 'a')
            line[i] = (char)(line[i] - 'a' + 'A');
    zip_edit(f->signed_img, path, "image.sig", sig, len);
    expect_refused(path, f->pub_a, 0, "image.sig line 4 is not \"signature <128");
    free(sig);
    zip_edit(f->signed_img, path, "image.sig", "kos-image 2\n", 12);
    expect_refused(path, f->pub_a, 0, "image.sig line 1 is not \"kos-image 1\"");
}

static void test_sig_parse(void **state)
{
    struct kos__image_sig sig, back;
    char text[KOS__IMAGE_SIG_MAX], err[256];
    size_t len;

    (void)state;
    memset(&sig, 0, sizeof(sig));
    for (size_t i = 0; i < 32; i++)
        sig.manifest[i] = (uint8_t)(i * 7);
    sig.is_signed = true;
    memset(sig.key_id, 0xab, sizeof(sig.key_id));
    memset(sig.sig, 0x5c, sizeof(sig.sig));
    len = kos__image_sig_format(&sig, text, sizeof(text));
    assert_true(len > 0);
    assert_int_equal(kos__image_sig_parse(text, len, &back, err, sizeof(err)), KOS_STATUS_OK);
    assert_memory_equal(&sig, &back, sizeof(sig));
    /* Missing final newline, an extra byte, a CR. */
    assert_int_not_equal(kos__image_sig_parse(text, len - 1, &back, err, sizeof(err)), 0);
    assert_prefix(err, "image.sig line 4 is not");
    text[len] = 'x';
    assert_int_not_equal(kos__image_sig_parse(text, len + 1, &back, err, sizeof(err)), 0);
    assert_prefix(err, "image.sig has 1 unexpected bytes after its last line");
    text[strlen("kos-image 1")] = '\r';
    assert_int_not_equal(kos__image_sig_parse(text, len, &back, err, sizeof(err)), 0);
    assert_prefix(err, "image.sig line 1 is not");

    sig.is_signed = false;
    len = kos__image_sig_format(&sig, text, sizeof(text));
    assert_int_equal(kos__image_sig_parse(text, len, &back, err, sizeof(err)), KOS_STATUS_OK);
    assert_false(back.is_signed);
    assert_memory_equal(sig.manifest, back.manifest, 32);
    assert_int_not_equal(kos__image_sig_parse("", 0, &back, err, sizeof(err)), 0);
    assert_int_equal(kos__image_sig_format(&sig, text, 20), 0);
}

static void test_manifest_replaced(void **state)
{
    struct fixture *f = *state;
    char name[128], path[256], want[512], *sig, *line, hex[65];
    void *other;
    size_t len, siglen;

    /* The manifest blob's bytes replaced by another valid compiled manifest
     * (the unsigned image's), under the old name. */
    {
        char *usig = zip_read(f->unsigned_img, "image.sig", &siglen);
        memcpy(hex, usig + strlen("kos-image 1\nmanifest "), 64);
        hex[64] = '\0';
        free(usig);
    }
    pathf(name, sizeof(name), "blobs/%s", hex);
    other = zip_read(f->unsigned_img, name, &len);
    pathf(name, sizeof(name), "blobs/%s", f->hex_manifest);
    pathf(path, sizeof(path), "%s/manifest.zip", f->dir);
    zip_edit(f->signed_img, path, name, other, len);
    pathf(want, sizeof(want), "manifest blob %s has SHA-256 %s", f->hex_manifest, hex);
    expect_refused(path, f->pub_a, 0, want);

    /* The other manifest added under its own name and image.sig pointed at
     * it, keeping the old signature. */
    pathf(name, sizeof(name), "blobs/%s", hex);
    zip_edit(f->signed_img, path, name, other, len);
    sig = zip_read(f->signed_img, "image.sig", &siglen);
    line = strstr(sig, "manifest ") + strlen("manifest ");
    memcpy(line, hex, 64);
    zip_edit(path, path, "image.sig", sig, siglen);
    expect_refused(path, f->pub_a, 0, "signature does not verify with any trusted key");
    /* ... and as unsigned, which that manifest (signing: disabled) accepts. */
    snprintf(sig, siglen + 1, "kos-image 1\nmanifest %s\nunsigned\n", hex);
    zip_edit(path, path, "image.sig", sig, strlen(sig));
    /* The old manifest blob is now an unreferenced blob (as are binaries
     * only the signed manifest names: whichever comes first is named). */
    expect_refused(path, NULL, 0, "image has blob ");
    free(sig);
    free(other);
}

static void test_extra_and_missing_entries(void **state)
{
    struct fixture *f = *state;
    char name[128], path[256], want[512], hex[65];

    pathf(path, sizeof(path), "%s/extra.zip", f->dir);
    zip_edit(f->signed_img, path, "notes.txt", "hello", 5);
    expect_refused(path, f->pub_a, 0, "image has an unexpected entry 'notes.txt'");

    zip_edit(f->signed_img, path, "blobs/", "", 0);
    expect_refused(path, f->pub_a, 0, "image has an unexpected entry 'blobs/'");

    sha256_hex("extra", 5, hex);
    pathf(name, sizeof(name), "blobs/%s", hex);
    zip_edit(f->signed_img, path, name, "extra", 5);
    pathf(want, sizeof(want), "image has blob %s, which its manifest does not reference", hex);
    expect_refused(path, f->pub_a, 0, want);

    pathf(name, sizeof(name), "blobs/%s", f->hex_false);
    zip_edit(f->signed_img, path, name, NULL, 0);
    pathf(want, sizeof(want), "image has no blob %s for binary 'pong' of app 'pong'", f->hex_false);
    expect_refused(path, f->pub_a, 0, want);

    zip_edit(f->signed_img, path, "image.sig", NULL, 0);
    expect_refused(path, f->pub_a, 0, "image has no image.sig");
}

static void test_not_a_zip_and_truncated(void **state)
{
    struct fixture *f = *state;
    char path[256], want[512];
    void *data;
    size_t len;

    pathf(path, sizeof(path), "%s/junk.zip", f->dir);
    write_file(path, "not a zip\n", 10, 0644);
    pathf(want, sizeof(want), "cannot open image %s: not a zip archive", path);
    expect_refused(path, f->pub_a, 0, want);

    data = read_file(f->signed_img, &len);
    pathf(path, sizeof(path), "%s/truncated.zip", f->dir);
    write_file(path, data, len / 2, 0644);
    pathf(want, sizeof(want), "cannot open image %s: ", path);
    expect_refused(path, f->pub_a, 0, want);
    /* Cut inside the central directory, keeping the end record's bytes. */
    memmove((char *)data + len - 40, (char *)data + len - 22, 22);
    write_file(path, data, len - 18, 0644);
    expect_refused(path, f->pub_a, 0, want);
    free(data);

    pathf(path, sizeof(path), "%s/missing.zip", f->dir);
    pathf(want, sizeof(want), "cannot open image %s: ", path);
    expect_refused(path, f->pub_a, 0, want);
}

static void test_hand_made_zips(void **state)
{
    struct fixture *f = *state;
    char path[256], blob[128];

    pathf(path, sizeof(path), "%s/raw.zip", f->dir);
    pathf(blob, sizeof(blob), "blobs/%s", f->hex_true);

    /* Two entries of one name (libzip refuses these itself; image.c checks
     * again in case it ever does not). */
    {
        struct raw_entry e[] = {{"image.sig", "a", 0, 0, 0}, {"image.sig", "b", 0, 0, 0}};
        char want[256];
        write_raw_zip(path, e, 2);
        pathf(want, sizeof(want), "cannot open image %s: two entries have the same name", path);
        expect_refused(path, f->pub_a, 0, want);
    }
    {
        struct raw_entry e[] = {
            {"image.sig", "a", 0, 0, 0}, {blob, "x", 0, 0, 0}, {blob, "y", 0, 0, 0}};
        char want[256];
        write_raw_zip(path, e, 3);
        pathf(want, sizeof(want), "cannot open image %s: two entries have the same name", path);
        expect_refused(path, f->pub_a, 0, want);
    }
    /* Path tricks. */
    {
        const char *bad[] = {"../image.sig", "/image.sig", "blobs/../image.sig", "./image.sig",
                             "blobs/ABCDEF", "image.sig/", "Image.sig"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            struct raw_entry e[] = {{bad[i], "x", 0, 0, 0}};
            write_raw_zip(path, e, 1);
            expect_refused(path, f->pub_a, 0, "image has an unexpected entry '");
        }
        /* An upper-case digest is another name, not the same blob. */
        char upper[128];
        strcpy(upper, blob);
        for (char *c = upper + 6; *c; c++)
            if (*c >= 'a' && *c <= 'f')
                *c = (char)(*c - 'a' + 'A');
        struct raw_entry e[] = {{upper, "x", 0, 0, 0}};
        write_raw_zip(path, e, 1);
        expect_refused(path, f->pub_a, 0, "image has an unexpected entry 'blobs/");
    }
    /* Encrypted, an unknown method, a huge declared size. */
    {
        struct raw_entry e[] = {{blob, "xxxxxxxxxxxxxxxx", 1, 0, 0}};
        char want[256];
        write_raw_zip(path, e, 1);
        pathf(want, sizeof(want), "image entry '%s' is encrypted", blob);
        expect_refused(path, f->pub_a, 0, want);
    }
    {
        struct raw_entry e[] = {{blob, "x", 0, 12, 0}};
        char want[256];
        write_raw_zip(path, e, 1);
        pathf(want, sizeof(want), "image entry '%s' uses compression method 12", blob);
        expect_refused(path, f->pub_a, 0, want);
    }
    {
        struct raw_entry e[] = {{blob, "x", 0, 8, 300u << 20}};
        char want[256];
        write_raw_zip(path, e, 1);
        pathf(want, sizeof(want), "image entry '%s' is 314572800 bytes; at most", blob);
        expect_refused(path, f->pub_a, 0, want);
    }
    /* A stored entry whose content is shorter than image.sig needs. */
    {
        struct raw_entry e[] = {{"image.sig", "kos-image 1\n", 0, 0, 0}};
        write_raw_zip(path, e, 1);
        expect_refused(path, f->pub_a, 0, "image.sig line 2 is not");
    }
}

static void test_unsigned(void **state)
{
    struct fixture *f = *state;
    char path[256], sig[256];
    struct kos_image *img;
    char err[ERRLEN];

    /* A signed-mode manifest with image.sig saying unsigned. */
    pathf(sig, sizeof(sig), "kos-image 1\nmanifest %s\nunsigned\n", f->hex_manifest);
    pathf(path, sizeof(path), "%s/stripped.zip", f->dir);
    zip_edit(f->signed_img, path, "image.sig", sig, strlen(sig));
    expect_refused(path, f->pub_a, 0, "image is unsigned but its manifest requires signing");
    expect_refused(path, NULL, 0, "image is unsigned but its manifest requires signing");
    /* ... which only allow_unsigned accepts. */
    if (open_img(path, NULL, NULL, 1, &img, err) != KOS_STATUS_OK)
        fail_msg("open: %s", err);
    assert_null(kos_image_signer(img));
    kos_image_close(img);

    /* signing: disabled boots without a key, and with one. */
    if (open_img(f->unsigned_img, NULL, NULL, 0, &img, err) != KOS_STATUS_OK)
        fail_msg("open: %s", err);
    assert_null(kos_image_signer(img));
    assert_true(kos_cm_signing_disabled(kos_image_manifest(img)));
    kos_image_close(img);
    if (open_img(f->unsigned_img, f->pub_a, NULL, 0, &img, err) != KOS_STATUS_OK)
        fail_msg("open: %s", err);
    assert_null(kos_image_signer(img));
    kos_image_close(img);
}

static void test_sealed_and_exec(void **state)
{
    struct fixture *f = *state;
    char *argv[] = {"t", NULL}, *envp[] = {NULL};
    struct kos_image *img;
    char err[ERRLEN];
    int fd, seals, status;
    pid_t pid;

    if (open_img(f->signed_img, f->pub_a, NULL, 0, &img, err) != KOS_STATUS_OK)
        fail_msg("open: %s", err);
    fd = kos_image_binary_fd(img, 1);
    seals = fcntl(fd, F_GET_SEALS);
    assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
                     F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    assert_int_equal(pwrite(fd, "x", 1, 0), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(ftruncate(fd, 1), -1);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, 0), -1); /* F_SEAL_SEAL */

    /* ping (/bin/true) exits 0, pong (/bin/false) exits 1. */
    for (uint32_t proc = 1; proc <= 2; proc++) {
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            execveat(kos_image_binary_fd(img, proc), "", argv, envp, AT_EMPTY_PATH);
            _exit(99);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), proc == 1 ? 0 : 1);
    }
    kos_image_close(img);
}

/* Stages blob `hex` of image `img` in store s: its bytes [from, to) appended. */
static void stage(struct kos_store *s, const char *img, const char *hex, size_t from, size_t to,
                  uint64_t *have)
{
    char name[80], err[ERRLEN];
    uint8_t sha[32];
    size_t len;
    int fd;

    pathf(name, sizeof(name), "blobs/%s", hex);
    char *data = zip_read(img, name, &len);
    assert_true(kos__store_unhex32(hex, sha));
    if (kos_store_stage_open(s, sha, len, &fd, have, err, sizeof(err)))
        fail_msg("stage_open: %s", err);
    if (to > len)
        to = len;
    if (to > from)
        assert_int_equal(write(fd, data + from, to - from), (ssize_t)(to - from));
    close(fd);
    free(data);
}

static uint64_t blob_len(const char *img, const char *hex)
{
    char name[80];
    size_t len;

    pathf(name, sizeof(name), "blobs/%s", hex);
    free(zip_read(img, name, &len));
    return len;
}

/* An upgrade's way into a store: what it needs, blob by blob, resumed,
 * checked, then stored as a generation; refusals before anything is
 * staged. */
static void test_store_stage(void **state)
{
    struct fixture *f = *state;
    const char *keys[] = {f->pub_a};
    struct kos_image_open_opts io = {.trusted_keys = keys, .n_trusted_keys = 1};
    struct kos_store_need need[KOS_STORE_NEED_MAX];
    char dir[128], err[ERRLEN], path[256];
    struct kos_store *s;
    size_t n, sig_len;
    uint32_t same, gen;
    uint64_t have;
    uint8_t sha[32];
    bool added;

    char *sig = zip_read(f->signed_img, "image.sig", &sig_len);
    pathf(dir, sizeof(dir), "%s/store", f->dir);
    if (kos_store_open(dir, true, true, &s, err, sizeof(err)))
        fail_msg("open: %s", err);

    /* A key the store does not trust: refused before anything else. */
    {
        const char *other[] = {f->pub_b};
        struct kos_image_open_opts bad = {.trusted_keys = other, .n_trusted_keys = 1};
        assert_int_equal(kos_store_need(s, sig, sig_len, &bad, need, KOS_STORE_NEED_MAX, &n, &same,
                                        err, sizeof(err)),
                         KOS_STATUS_UNAUTHORIZED);
        assert_prefix(err, "signature does not verify with any trusted key");
    }
    /* Garbage for image.sig. */
    assert_int_equal(kos_store_need(s, "kos-image 2\n", 12, &io, need, KOS_STORE_NEED_MAX, &n,
                                    &same, err, sizeof(err)),
                     KOS_STATUS_PROTOCOL);

    /* First the manifest alone. */
    if (kos_store_need(s, sig, sig_len, &io, need, KOS_STORE_NEED_MAX, &n, &same, err, sizeof(err)))
        fail_msg("need: %s", err);
    assert_int_equal(n, 1);
    assert_int_equal(same, 0);
    assert_true(kos__store_unhex32(f->hex_manifest, sha));
    assert_memory_equal(need[0].sha256, sha, 32);
    assert_int_equal(need[0].have, 0);

    /* Half of it, then (a broken link) the store says how much it has. */
    uint64_t mlen = blob_len(f->signed_img, f->hex_manifest);
    stage(s, f->signed_img, f->hex_manifest, 0, mlen / 2, &have);
    assert_int_equal(have, 0);
    assert_int_equal(kos_store_stage_done(s, sha, mlen, err, sizeof(err)), KOS_STATUS_IO);
    assert_prefix(err, "blob ");
    assert_int_equal(
        kos_store_need(s, sig, sig_len, &io, need, KOS_STORE_NEED_MAX, &n, &same, err, sizeof(err)),
        KOS_STATUS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(need[0].have, mlen / 2);
    stage(s, f->signed_img, f->hex_manifest, mlen / 2, mlen, &have);
    assert_int_equal(have, mlen / 2);
    if (kos_store_stage_done(s, sha, mlen, err, sizeof(err)))
        fail_msg("done: %s", err);

    /* Then the binaries: /bin/true and /bin/false, once each. */
    if (kos_store_need(s, sig, sig_len, &io, need, KOS_STORE_NEED_MAX, &n, &same, err, sizeof(err)))
        fail_msg("need: %s", err);
    assert_int_equal(n, 2);
    /* Storing now is refused: a blob is missing. */
    assert_int_not_equal(kos_store_add(s, sig, sig_len, &io, &gen, &added, err, sizeof(err)),
                         KOS_STATUS_OK);
    assert_false(added);

    /* A blob whose bytes are not its digest's is removed, and needed again. */
    {
        uint8_t t[32];
        uint64_t tlen = blob_len(f->signed_img, f->hex_true);
        int fd;
        assert_true(kos__store_unhex32(f->hex_true, t));
        if (kos_store_stage_open(s, t, tlen, &fd, &have, err, sizeof(err)))
            fail_msg("stage_open: %s", err);
        char *junk = calloc(1, tlen);
        assert_int_equal(write(fd, junk, tlen), (ssize_t)tlen);
        free(junk);
        close(fd);
        assert_int_equal(kos_store_stage_done(s, t, tlen, err, sizeof(err)), KOS_STATUS_PROTOCOL);
        assert_prefix(err, "blob ");
        assert_non_null(strstr(err, "arrived with SHA-256"));
        pathf(path, sizeof(path), "%s/incoming/%s", dir, f->hex_true);
        assert_int_equal(access(path, F_OK), -1);
    }
    const char *bins[] = {f->hex_true, f->hex_false};
    for (int i = 0; i < 2; i++) {
        uint8_t b[32];
        uint64_t len = blob_len(f->signed_img, bins[i]);
        assert_true(kos__store_unhex32(bins[i], b));
        stage(s, f->signed_img, bins[i], 0, len, &have);
        if (kos_store_stage_done(s, b, len, err, sizeof(err)))
            fail_msg("done: %s", err);
    }
    if (kos_store_need(s, sig, sig_len, &io, need, KOS_STORE_NEED_MAX, &n, &same, err, sizeof(err)))
        fail_msg("need: %s", err);
    assert_int_equal(n, 0);
    if (kos_store_add(s, sig, sig_len, &io, &gen, &added, err, sizeof(err)))
        fail_msg("add: %s", err);
    assert_true(added);
    assert_int_equal(gen, 1);
    /* The same image again is no change. */
    if (kos_store_need(s, sig, sig_len, &io, need, KOS_STORE_NEED_MAX, &n, &same, err, sizeof(err)))
        fail_msg("need: %s", err);
    assert_int_equal(same, 1);
    assert_int_equal(n, 0);
    /* It boots as an imported image would. */
    struct kos_image *img;
    if (kos_store_open_image(s, 1, &io, &img, err, sizeof(err)))
        fail_msg("open_image: %s", err);
    kos_image_close(img);
    kos_store_close(s);
    free(sig);
}

static void test_reproducible(void **state)
{
    struct fixture *f = *state;
    char p1[256], p2[256], err[ERRLEN];
    void *a, *b;
    size_t la, lb;

    pathf(p1, sizeof(p1), "%s/r1.zip", f->dir);
    pathf(p2, sizeof(p2), "%s/r2.zip", f->dir);
    setenv("TZ", "UTC", 1);
    tzset();
    assert_int_equal(build(f, f->signed_m, f->key_a, p1, err), KOS_STATUS_OK);
    sleep(2); /* a zip's clock has 2-second steps */
    setenv("TZ", "Pacific/Auckland", 1);
    tzset();
    assert_int_equal(build(f, f->signed_m, f->key_a, p2, err), KOS_STATUS_OK);
    unsetenv("TZ");
    tzset();
    a = read_file(p1, &la);
    b = read_file(p2, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
}

/* The folder holds nothing but the given names (no temporary leftovers). */
static void assert_dir_entries(const char *dir, size_t expected)
{
    char cmd[512];
    FILE *p;
    int n = -1;

    pathf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    assert_int_equal(n, (int)expected);
}

static void test_build_errors(void **state)
{
    struct fixture *f = *state;
    char out_dir[256], out[256], want[512], key[256], err[ERRLEN];
    const char *empty_dirs[] = {"/nonexistent-a", "/nonexistent-b"};
    const char *map[] = {"pong=/bin/true"};
    struct kos_image *img;

    pathf(out_dir, sizeof(out_dir), "%s/out", f->dir);
    assert_int_equal(mkdir(out_dir, 0755), 0);
    pathf(out, sizeof(out), "%s/img.zip", out_dir);

    assert_int_not_equal(build(f, f->signed_m, NULL, out, err), KOS_STATUS_OK);
    assert_prefix(err, "manifest requires signing; give --key");
    assert_int_not_equal(build(f, f->unsigned_m, f->key_a, out, err), KOS_STATUS_OK);
    assert_prefix(err, "manifest says signing: disabled, yet a release key was given");

    /* A binary that is nowhere: the message names every place looked. */
    {
        struct kos_image_build_opts o = {.manifest = f->signed_m,
                                         .bin_dirs = empty_dirs,
                                         .n_bin_dirs = 2,
                                         .key_path = f->key_a,
                                         .out_path = out};
        assert_int_equal(kos_image_build(&o, err, sizeof(err)), KOS_STATUS_NOT_FOUND);
        assert_string_equal(err, "binary 'msg_server' of message server 'msg0' not found: no "
                                 "--bin msg_server=PATH, and not at /nonexistent-a/msg_server, "
                                 "/nonexistent-b/msg_server");
        o.n_bin_dirs = 0;
        assert_int_equal(kos_image_build(&o, err, sizeof(err)), KOS_STATUS_NOT_FOUND);
        assert_prefix(err, "binary 'msg_server' of message server 'msg0' not found: no --bin "
                           "msg_server=PATH and no folder to search");
        /* A mapping that is not NAME=PATH. */
        const char *badmap[] = {"pong"};
        o.bin_map = badmap;
        o.n_bin_map = 1;
        assert_int_equal(kos_image_build(&o, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
        assert_prefix(err, "binary mapping 'pong' is not NAME=PATH");
    }
    assert_dir_entries(out_dir, 0);

    /* --bin comes before the folders: pong becomes /bin/true, one blob less. */
    {
        const char *dirs[] = {f->bins};
        struct kos__image_build_info info;
        struct kos_image_build_opts o = {.manifest = f->signed_m,
                                         .bin_map = map,
                                         .n_bin_map = 1,
                                         .bin_dirs = dirs,
                                         .n_bin_dirs = 1,
                                         .key_path = f->key_a,
                                         .out_path = out};
        assert_int_equal(kos__image_build(&o, &info, err, sizeof(err)), KOS_STATUS_OK);
        assert_int_equal(info.n_blobs, 2);
        assert_true(info.is_signed);
        assert_string_equal(info.key_id, f->id_a);
        assert_int_equal(open_img(out, f->pub_a, NULL, 0, &img, err), KOS_STATUS_OK);
        assert_int_equal(kos_image_binary_fd(img, 1), kos_image_binary_fd(img, 2));
        kos_image_close(img);
    }
    assert_dir_entries(out_dir, 1);

    /* Key files: too open, not a key, not Ed25519, missing. */
    pathf(key, sizeof(key), "%s/open.key", f->dir);
    copy_file(f->key_a, key, 0640);
    pathf(want, sizeof(want),
          "release key %s may be read or written by group or others (mode 0640); refusing", key);
    assert_int_equal(build(f, f->signed_m, key, out, err), KOS_STATUS_UNAUTHORIZED);
    assert_prefix(err, want);
    assert_int_equal(chmod(key, 0604), 0);
    assert_int_equal(build(f, f->signed_m, key, out, err), KOS_STATUS_UNAUTHORIZED);
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(build(f, f->signed_m, key, out, err), KOS_STATUS_OK);

    write_file(key, "hello\n", 6, 0600);
    pathf(want, sizeof(want), "release key %s is not an unencrypted PEM private key", key);
    assert_int_not_equal(build(f, f->signed_m, key, out, err), KOS_STATUS_OK);
    assert_prefix(err, want);

    {
        EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        FILE *kf = fopen(key, "w");
        assert_non_null(ec);
        assert_non_null(kf);
        assert_int_equal(PEM_write_PrivateKey(kf, ec, NULL, NULL, 0, NULL, NULL), 1);
        fclose(kf);
        EVP_PKEY_free(ec);
    }
    pathf(want, sizeof(want), "release key %s is a EC key, not Ed25519", key);
    assert_int_not_equal(build(f, f->signed_m, key, out, err), KOS_STATUS_OK);
    assert_prefix(err, want);

    pathf(want, sizeof(want), "release key %s/none.key: cannot open: ", f->dir);
    pathf(key, sizeof(key), "%s/none.key", f->dir);
    assert_int_not_equal(build(f, f->signed_m, key, out, err), KOS_STATUS_OK);
    assert_prefix(err, want);

    /* An output folder that does not exist. */
    pathf(out, sizeof(out), "%s/no/such/dir/img.zip", f->dir);
    assert_int_equal(build(f, f->signed_m, f->key_a, out, err), KOS_STATUS_IO);
    pathf(want, sizeof(want), "cannot write %s: cannot create a temporary file beside it: ", out);
    assert_prefix(err, want);
}

static void test_generate(void **state)
{
    struct fixture *f = *state;
    char priv[256], pub[256], want[512], err[ERRLEN], id[17];
    struct stat st;
    EVP_PKEY *pkey;
    mode_t old_mask;

    pathf(priv, sizeof(priv), "%s/g.key", f->dir);
    pathf(pub, sizeof(pub), "%s/g.pub", f->dir);
    old_mask = umask(077); /* the public key is still 0644 */
    assert_int_equal(kos_key_generate_release(priv, pub, err, sizeof(err)), KOS_STATUS_OK);
    umask(old_mask);
    assert_int_equal(stat(priv, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(kos__key_load_private(priv, &pkey, err, sizeof(err)), KOS_STATUS_OK);
    EVP_PKEY_free(pkey);
    assert_int_equal(kos__key_id_of_public_file(pub, id, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(strlen(id), 16);

    pathf(want, sizeof(want), "release key %s already exists; refusing to overwrite it", priv);
    assert_int_equal(kos_key_generate_release(priv, pub, err, sizeof(err)),
                     KOS_STATUS_ALREADY_EXISTS);
    assert_prefix(err, want);
    /* Only the public key is left: still refused, and the private key is not
     * created. */
    assert_int_equal(unlink(priv), 0);
    pathf(want, sizeof(want), "public key %s already exists; refusing to overwrite it", pub);
    assert_int_equal(kos_key_generate_release(priv, pub, err, sizeof(err)),
                     KOS_STATUS_ALREADY_EXISTS);
    assert_prefix(err, want);
    assert_int_equal(access(priv, F_OK), -1);
    /* Two generated keys differ. */
    {
        char id2[17];
        assert_int_equal(kos__key_id_of_public_file(f->pub_a, id2, err, sizeof(err)), 0);
        assert_string_not_equal(id, id2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_parse),
        cmocka_unit_test(test_open_signed),
        cmocka_unit_test(test_image_layout),
        cmocka_unit_test(test_wrong_key_and_no_key),
        cmocka_unit_test(test_tampered_blob),
        cmocka_unit_test(test_flipped_raw_byte),
        cmocka_unit_test(test_tampered_sig),
        cmocka_unit_test(test_manifest_replaced),
        cmocka_unit_test(test_extra_and_missing_entries),
        cmocka_unit_test(test_not_a_zip_and_truncated),
        cmocka_unit_test(test_hand_made_zips),
        cmocka_unit_test(test_unsigned),
        cmocka_unit_test(test_sealed_and_exec),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_store_stage),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_generate),
    };

    return cmocka_run_group_tests_name("image", tests, setup, teardown);
}
