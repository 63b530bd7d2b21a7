/*
 * image.c - system images (manifest.zip): building, signing and opening them.
 *
 * An image is a zip holding "image.sig" and one "blobs/<sha256 hex>" entry per
 * distinct file: the compiled manifest and each process's binary. The compiled
 * manifest records every binary's digest and image.sig records the manifest's
 * digest with an Ed25519 signature over it, so one signature covers all.
 *
 * Building resolves and hashes each binary once (the bytes hashed are the
 * bytes packed), compiles the manifest with those digests, and writes the zip
 * reproducibly - fixed entry order, timestamps and attributes - to a temporary
 * file in the output's folder that is renamed into place only when complete.
 *
 * Opening treats the file as hostile. A struct kos_image exists only once all
 * of it has been checked: entry names, sizes and methods, image.sig's syntax,
 * the manifest blob's digest and structure, the signature (unless the manifest
 * or the caller waives it), that every blob is referenced, and every binary's
 * digest. It then holds the compiled manifest in memory and each binary in a
 * sealed memfd; the zip itself is closed and never consulted again.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <zip.h>

#include "image.h"
#include "image_int.h"
#include "image_zip_int.h"
#include "keys_int.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: executable memfd even under vm.memfd_noexec */
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020 /* Linux 6.3: the mode's exec bits may not change */
#endif

#define BLOB_NAME_LEN (sizeof(KOS__IMAGE_BLOB_PREFIX) - 1 + 64)
#define CHUNK         (64u << 10)
/* Every entry carries 1980-01-01 00:00:00, the DOS epoch, so that builds do
 * not depend on the clock or the time zone. */
#define DOS_DATE_EPOCH ((0u << 9) | (1u << 5) | 1u)
#define DOS_TIME_EPOCH 0u
#define ENTRY_MODE     (S_IFREG | 0644u)

/* ---------------------------------------------------------------- helpers */

void kos__image_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case is not accepted: one spelling per digest */
}

/* Decodes exactly 2n lower-case hex digits. */
static bool unhex(const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* Whether `name` is "blobs/" followed by 64 lower-case hex digits; if so the
 * digest goes to sha. */
static bool parse_blob_name(const char *name, uint8_t sha[32])
{
    size_t plen = sizeof(KOS__IMAGE_BLOB_PREFIX) - 1;

    return strlen(name) == BLOB_NAME_LEN && memcmp(name, KOS__IMAGE_BLOB_PREFIX, plen) == 0 &&
           unhex(name + plen, 32, sha);
}

static void blob_name(const uint8_t sha[32], char out[BLOB_NAME_LEN + 1])
{
    memcpy(out, KOS__IMAGE_BLOB_PREFIX, sizeof(KOS__IMAGE_BLOB_PREFIX) - 1);
    kos__image_hex(sha, 32, out + sizeof(KOS__IMAGE_BLOB_PREFIX) - 1);
}

/* Copies an untrusted entry name for a message: printable ASCII only, and
 * not too long. */
static void printable(const char *in, char *out, size_t outlen)
{
    size_t i = 0;

    for (; in[i] && i + 4 < outlen; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    if (in[i] && i + 4 <= outlen) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

static bool sha256(const void *data, size_t len, uint8_t out[32])
{
    bool ok = EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) == 1;

    ERR_clear_error();
    return ok;
}

bool kos__image_sha256_mem(const void *data, size_t len, uint8_t out[32])
{
    return sha256(data, len, out);
}

int kos__image_sha256_fd(int fd, uint64_t max, uint8_t out[32], uint64_t *len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t *chunk = malloc(CHUNK);
    uint64_t done = 0;
    unsigned mdlen = 0;
    int e = 0;

    if (!md || !chunk || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        e = ENOMEM;
    while (!e) {
        ssize_t n = pread(fd, chunk, CHUNK, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            e = errno;
        else if (n == 0)
            break;
        else if ((uint64_t)n > max - done)
            e = EFBIG;
        else if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1)
            e = ENOMEM;
        else
            done += (uint64_t)n;
    }
    if (!e && (EVP_DigestFinal_ex(md, out, &mdlen) != 1 || mdlen != 32))
        e = ENOMEM;
    if (len)
        *len = done;
    EVP_MD_CTX_free(md);
    free(chunk);
    ERR_clear_error();
    return e;
}

void kos__image_sign_message(const uint8_t manifest[32], uint8_t msg[KOS__IMAGE_SIGN_MSG_LEN])
{
    size_t dlen = sizeof(KOS__IMAGE_SIGN_DOMAIN) - 1;

    memcpy(msg, KOS__IMAGE_SIGN_DOMAIN, dlen);
    memcpy(msg + dlen, manifest, 32);
}

kos_status_t kos__image_sign(EVP_PKEY *pkey, const uint8_t manifest[32],
                             uint8_t sig[KOS__ED25519_SIG_LEN])
{
    uint8_t msg[KOS__IMAGE_SIGN_MSG_LEN];
    size_t siglen = KOS__ED25519_SIG_LEN;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    kos_status_t st = KOS_STATUS_OK;

    kos__image_sign_message(manifest, msg);
    if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)) != 1 || siglen != KOS__ED25519_SIG_LEN)
        st = KOS_STATUS_INTERNAL;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return st;
}

/* ---------------------------------------------------------------- image.sig */

/* Takes the next "\n"-terminated line (without its newline). */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));

    if (!nl)
        return false;
    *line = *p;
    *len = (size_t)(nl - *p);
    *p = nl + 1;
    return true;
}

/* Whether line is exactly "<key> <2n lower-case hex digits>"; decodes them. */
static bool hex_field(const char *line, size_t len, const char *key, size_t n, uint8_t *out)
{
    size_t klen = strlen(key);

    return len == klen + 1 + 2 * n && memcmp(line, key, klen) == 0 && line[klen] == ' ' &&
           unhex(line + klen + 1, n, out);
}

static bool line_is(const char *line, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(line, want, len) == 0;
}

kos_status_t kos__image_sig_parse(const char *text, size_t len, struct kos__image_sig *out,
                                  char *err, size_t errlen)
{
    const char *p = text, *end = text + len, *line;
    size_t llen;

    memset(out, 0, sizeof(*out));
    if (len > KOS__IMAGE_SIG_MAX) {
        snprintf(err, errlen, "image.sig is %zu bytes; at most %u", len, KOS__IMAGE_SIG_MAX);
        return KOS_STATUS_PROTOCOL;
    }
    if (!next_line(&p, end, &line, &llen) || !line_is(line, llen, "kos-image 1")) {
        snprintf(err, errlen, "image.sig line 1 is not \"kos-image 1\"");
        return KOS_STATUS_PROTOCOL;
    }
    if (!next_line(&p, end, &line, &llen) ||
        !hex_field(line, llen, "manifest", 32, out->manifest)) {
        snprintf(err, errlen, "image.sig line 2 is not \"manifest <64 lower-case hex digits>\"");
        return KOS_STATUS_PROTOCOL;
    }
    if (!next_line(&p, end, &line, &llen)) {
        snprintf(err, errlen, "image.sig line 3 is missing: expected \"key <id>\" or \"unsigned\"");
        return KOS_STATUS_PROTOCOL;
    }
    if (line_is(line, llen, "unsigned")) {
        out->is_signed = false;
    } else {
        if (!hex_field(line, llen, "key", KOS__KEY_ID_LEN, out->key_id)) {
            snprintf(err, errlen,
                     "image.sig line 3 is neither \"key <16 lower-case hex digits>\" nor "
                     "\"unsigned\"");
            return KOS_STATUS_PROTOCOL;
        }
        if (!next_line(&p, end, &line, &llen) ||
            !hex_field(line, llen, "signature", KOS__ED25519_SIG_LEN, out->sig)) {
            snprintf(err, errlen,
                     "image.sig line 4 is not \"signature <128 lower-case hex digits>\"");
            return KOS_STATUS_PROTOCOL;
        }
        out->is_signed = true;
    }
    if (p != end) {
        snprintf(err, errlen, "image.sig has %zu unexpected bytes after its last line",
                 (size_t)(end - p));
        return KOS_STATUS_PROTOCOL;
    }
    return KOS_STATUS_OK;
}

size_t kos__image_sig_format(const struct kos__image_sig *sig, char *buf, size_t buflen)
{
    char manifest[65], key[2 * KOS__KEY_ID_LEN + 1], sigx[2 * KOS__ED25519_SIG_LEN + 1];
    int n;

    kos__image_hex(sig->manifest, 32, manifest);
    if (sig->is_signed) {
        kos__image_hex(sig->key_id, KOS__KEY_ID_LEN, key);
        kos__image_hex(sig->sig, KOS__ED25519_SIG_LEN, sigx);
        n = snprintf(buf, buflen, "kos-image 1\nmanifest %s\nkey %s\nsignature %s\n", manifest, key,
                     sigx);
    } else {
        n = snprintf(buf, buflen, "kos-image 1\nmanifest %s\nunsigned\n", manifest);
    }
    if (n < 0 || (size_t)n >= buflen)
        return 0;
    return (size_t)n;
}

/* ---------------------------------------------------------------- building */

/* One distinct file packed into the image. */
struct build_blob {
    uint8_t sha[32];
    uint8_t *data; /* owned */
    size_t len;
};

/* One distinct binary name, resolved. */
struct build_bin {
    const char *name;
    size_t blob;
};

struct build {
    const struct kos_image_build_opts *opts;
    char *err;
    size_t errlen;
    struct build_blob *blobs; /* [0] is the compiled manifest */
    size_t n_blobs;
    struct build_bin *bins;
    size_t n_bins;
};

/* Describes process i of the manifest (servers first, then apps). */
static void proc_describe(const struct kos_manifest *m, size_t i, const char **binary, char *who,
                          size_t wholen)
{
    if (i < m->n_servers) {
        *binary = m->servers[i].binary;
        snprintf(who, wholen, "message server '%s'", m->servers[i].name);
    } else {
        *binary = m->apps[i - m->n_servers].binary;
        snprintf(who, wholen, "app '%s'", m->apps[i - m->n_servers].name);
    }
}

/* Checks the "NAME=PATH" entries once, before anything is read. */
static kos_status_t check_bin_map(struct build *b)
{
    for (size_t i = 0; i < b->opts->n_bin_map; i++) {
        const char *e = b->opts->bin_map[i], *eq = e ? strchr(e, '=') : NULL;
        if (!eq || eq == e || eq[1] == '\0') {
            snprintf(b->err, b->errlen, "binary mapping '%s' is not NAME=PATH", e ? e : "(null)");
            return KOS_STATUS_INVALID_ARGUMENT;
        }
    }
    return KOS_STATUS_OK;
}

static bool is_regular_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds the file for binary `name` used by `who`: the first matching
 * NAME=PATH entry, else the first folder holding a regular file of that name.
 * On success *path is malloc()ed. */
static kos_status_t resolve_binary(struct build *b, const char *name, const char *who, char **path)
{
    const struct kos_image_build_opts *o = b->opts;
    size_t nlen = strlen(name), used;
    char *p;

    for (size_t i = 0; i < o->n_bin_map; i++) {
        const char *e = o->bin_map[i], *eq = strchr(e, '=');
        if ((size_t)(eq - e) == nlen && memcmp(e, name, nlen) == 0) {
            *path = strdup(eq + 1);
            return *path ? KOS_STATUS_OK : KOS_STATUS_NO_MEMORY;
        }
    }
    if (nlen == 0 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        snprintf(b->err, b->errlen,
                 "binary '%s' of %s is not a file name, so no folder is searched for it; "
                 "give --bin %s=PATH",
                 name, who, name);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < o->n_bin_dirs; i++) {
        if (asprintf(&p, "%s/%s", o->bin_dirs[i], name) < 0)
            return KOS_STATUS_NO_MEMORY;
        if (is_regular_file(p)) {
            *path = p;
            return KOS_STATUS_OK;
        }
        free(p);
    }
    used = (size_t)snprintf(b->err, b->errlen, "binary '%s' of %s not found: no --bin %s=PATH",
                            name, who, name);
    if (o->n_bin_dirs == 0 && used < b->errlen)
        used += (size_t)snprintf(b->err + used, b->errlen - used, " and no folder to search");
    for (size_t i = 0; i < o->n_bin_dirs && used < b->errlen; i++)
        used += (size_t)snprintf(b->err + used, b->errlen - used, "%s %s/%s",
                                 i == 0 ? ", and not at" : ",", o->bin_dirs[i], name);
    return KOS_STATUS_NOT_FOUND;
}

/* Reads a binary whole into memory. Refuses anything but a regular file of
 * at most KOS__IMAGE_BLOB_MAX bytes, or one that changes size while read. */
static kos_status_t read_binary(struct build *b, const char *name, const char *who,
                                const char *path, uint8_t **out, size_t *out_len)
{
    struct stat st;
    uint8_t *data = NULL;
    size_t len = 0;
    char extra;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) != 0)
        goto out_io;
    if (!S_ISREG(st.st_mode)) {
        snprintf(b->err, b->errlen, "binary '%s' of %s: %s is not a regular file", name, who, path);
        goto out_close_fd;
    }
    if ((unsigned long long)st.st_size > KOS__IMAGE_BLOB_MAX) {
        snprintf(b->err, b->errlen, "binary '%s' of %s: %s is %lld bytes; at most %llu", name, who,
                 path, (long long)st.st_size, KOS__IMAGE_BLOB_MAX);
        goto out_close_fd;
    }
    data = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!data)
        goto out_io;
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out_io;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len != (size_t)st.st_size || read(fd, &extra, 1) != 0) {
        snprintf(b->err, b->errlen, "binary '%s' of %s: %s changed while it was read", name, who,
                 path);
        goto out_close_fd;
    }
    close(fd);
    *out = data;
    *out_len = len;
    return KOS_STATUS_OK;

out_io:
    snprintf(b->err, b->errlen, "binary '%s' of %s: cannot read %s: %s", name, who, path,
             strerror(errno));
out_close_fd:
    free(data);
    if (fd >= 0)
        close(fd);
    return KOS_STATUS_IO;
}

/* Resolves, reads and hashes every process's binary, one blob per distinct
 * content; fills digests[i] for process i. */
static kos_status_t gather_binaries(struct build *b, uint8_t (*digests)[32])
{
    const struct kos_manifest *m = b->opts->manifest;
    size_t n_procs = m->n_servers + m->n_apps;
    kos_status_t st;

    for (size_t i = 0; i < n_procs; i++) {
        const char *name;
        char who[160], *path = NULL;
        struct build_blob blob;
        size_t j;

        proc_describe(m, i, &name, who, sizeof(who));
        if (!name) {
            snprintf(b->err, b->errlen, "%s has no binary", who);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        for (j = 0; j < b->n_bins; j++)
            if (strcmp(b->bins[j].name, name) == 0)
                break;
        if (j < b->n_bins) {
            memcpy(digests[i], b->blobs[b->bins[j].blob].sha, 32);
            continue;
        }
        st = resolve_binary(b, name, who, &path);
        if (st == KOS_STATUS_NO_MEMORY)
            snprintf(b->err, b->errlen, "out of memory");
        if (st)
            return st;
        st = read_binary(b, name, who, path, &blob.data, &blob.len);
        if (st == KOS_STATUS_OK && kos__key_blob_is_private(blob.data, blob.len)) {
            /* No key is ever inside an image: devices get theirs at
             * provisioning (kos-tool run --keys, docs/keys.md). */
            snprintf(b->err, b->errlen,
                     "binary '%s' of %s: %s holds a private key (a PEM PRIVATE KEY block or a "
                     "PKCS#8 key); refusing to pack a key into an image: provision device keys "
                     "with kos-tool keys.generate --device and kos-tool run --keys",
                     name, who, path);
            OPENSSL_cleanse(blob.data, blob.len);
            free(blob.data);
            st = KOS_STATUS_UNAUTHORIZED;
        }
        free(path);
        if (st)
            return st;
        if (!sha256(blob.data, blob.len, blob.sha)) {
            free(blob.data);
            snprintf(b->err, b->errlen, "cannot compute SHA-256");
            return KOS_STATUS_INTERNAL;
        }
        for (j = 0; j < b->n_blobs; j++)
            if (memcmp(b->blobs[j].sha, blob.sha, 32) == 0)
                break;
        if (j < b->n_blobs)
            free(blob.data); /* the same bytes under another name: one blob */
        else
            b->blobs[b->n_blobs++] = blob;
        b->bins[b->n_bins].name = name;
        b->bins[b->n_bins++].blob = j;
        memcpy(digests[i], blob.sha, 32);
    }
    return KOS_STATUS_OK;
}

/* Signs the manifest digest with the release key. */
static kos_status_t sign_manifest(struct build *b, EVP_PKEY *pkey, struct kos__image_sig *sig)
{
    kos_status_t st;

    if (kos__key_id(pkey, sig->key_id) != KOS_STATUS_OK) {
        snprintf(b->err, b->errlen, "release key %s: cannot compute its id", b->opts->key_path);
        return KOS_STATUS_INTERNAL;
    }
    st = kos__image_sign(pkey, sig->manifest, sig->sig);
    if (st != KOS_STATUS_OK)
        snprintf(b->err, b->errlen, "cannot sign with release key %s", b->opts->key_path);
    sig->is_signed = st == KOS_STATUS_OK;
    return st;
}

/* Adds one entry with the fixed time, attributes and method. The data must
 * stay alive until zip_close(). */
static bool add_entry(zip_t *za, const char *name, const void *data, size_t len, bool deflate)
{
    zip_source_t *src;
    zip_int64_t idx;

    src = zip_source_buffer(za, data, len, 0);
    if (!src)
        return false;
    idx = zip_file_add(za, name, src, 0);
    if (idx < 0) {
        zip_source_free(src);
        return false;
    }
    return zip_set_file_compression(za, (zip_uint64_t)idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                                    0) == 0 &&
           zip_file_set_dostime(za, (zip_uint64_t)idx, DOS_TIME_EPOCH, DOS_DATE_EPOCH, 0) == 0 &&
           zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                            (zip_uint32_t)ENTRY_MODE << 16) == 0;
}

/* Makes the file at path durable, and its name durable in its folder. */
static bool sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    bool ok;

    if (fd < 0)
        return false;
    ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

static void parent_dir(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(out, outlen, ".");
    else if (slash == path)
        snprintf(out, outlen, "/");
    else
        snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

/* Writes the zip to a temporary file beside out_path, then renames it. */
static kos_status_t write_zip(struct build *b, const char *sigtext, size_t siglen)
{
    const char *out = b->opts->out_path;
    char name[BLOB_NAME_LEN + 1], dir[4096];
    zip_t *za;
    char *tmp;
    int fd, zerr;

    if (asprintf(&tmp, "%s.tmp-XXXXXX", out) < 0) {
        snprintf(b->err, b->errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        snprintf(b->err, b->errlen, "cannot write %s: cannot create a temporary file beside it: %s",
                 out, strerror(errno));
        free(tmp);
        return KOS_STATUS_IO;
    }
    close(fd);
    za = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        snprintf(b->err, b->errlen, "cannot write %s: %s", tmp, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        goto out_unlink_tmp;
    }
    /* image.sig first, then the manifest, then binaries in first-use order. */
    if (!add_entry(za, KOS__IMAGE_SIG_NAME, sigtext, siglen, false))
        goto out_discard_zip;
    for (size_t i = 0; i < b->n_blobs; i++) {
        blob_name(b->blobs[i].sha, name);
        if (!add_entry(za, name, b->blobs[i].data, b->blobs[i].len, true))
            goto out_discard_zip;
    }
    if (zip_close(za) != 0)
        goto out_discard_zip;
    parent_dir(out, dir, sizeof(dir));
    if (chmod(tmp, 0644) != 0 || !sync_path(tmp, O_RDONLY) || rename(tmp, out) != 0) {
        snprintf(b->err, b->errlen, "cannot write %s: %s", out, strerror(errno));
        goto out_unlink_tmp;
    }
    (void)sync_path(dir, O_RDONLY | O_DIRECTORY); /* best effort: the image is complete */
    free(tmp);
    return KOS_STATUS_OK;

out_discard_zip:
    snprintf(b->err, b->errlen, "cannot write %s: %s", out, zip_strerror(za));
    zip_discard(za);
out_unlink_tmp:
    unlink(tmp);
    free(tmp);
    return KOS_STATUS_IO;
}

kos_status_t kos__image_build(const struct kos_image_build_opts *opts,
                              struct kos__image_build_info *info, char *err, size_t errlen)
{
    struct build b = {.opts = opts, .err = err, .errlen = errlen};
    uint8_t(*digests)[32] = NULL;
    char sigtext[KOS__IMAGE_SIG_MAX];
    struct kos__image_sig sig;
    const struct kos_manifest *m;
    kos_status_t st;
    struct kos_cm cm;
    char cmerr[256] = "its signing flag differs from the manifest's";
    size_t n_procs, siglen, cmlen = 0;
    EVP_PKEY *pkey = NULL;
    void *cmbuf = NULL;

    if (!opts || !opts->manifest || !opts->out_path) {
        snprintf(err, errlen, "no manifest or output path given");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    m = opts->manifest;
    if (m->signing && !opts->key_path) {
        snprintf(err, errlen, "manifest requires signing; give --key");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (!m->signing && opts->key_path) {
        snprintf(err, errlen, "manifest says signing: disabled, yet a release key was given");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    n_procs = m->n_servers + m->n_apps;
    if (n_procs == 0 || n_procs > KOS_CM_MAX_PROCS) {
        snprintf(err, errlen, "manifest has %zu processes; between 1 and %u are allowed", n_procs,
                 KOS_CM_MAX_PROCS);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    st = check_bin_map(&b);
    if (st)
        return st;
    /* The key is loaded before any binary is read, so a bad key fails fast. */
    if (opts->key_path) {
        st = kos__key_load_private(opts->key_path, &pkey, err, errlen);
        if (st)
            return st;
    }

    digests = calloc(n_procs, sizeof(*digests));
    b.blobs = calloc(n_procs + 1, sizeof(*b.blobs));
    b.bins = calloc(n_procs, sizeof(*b.bins));
    if (!digests || !b.blobs || !b.bins) {
        snprintf(err, errlen, "out of memory");
        st = KOS_STATUS_NO_MEMORY;
        goto out_free_blobs;
    }
    b.n_blobs = 1; /* blobs[0] is the compiled manifest, filled below */
    st = gather_binaries(&b, digests);
    if (st)
        goto out_free_blobs;

    st = kos_manifest_compile(m, (const uint8_t(*)[32])digests, &cmbuf, &cmlen);
    if (st) {
        snprintf(err, errlen, "cannot compile %s: %s",
                 opts->manifest_path ? opts->manifest_path : "the manifest", kos_status_str(st));
        goto out_free_blobs;
    }
    /* What is packed must be what Core accepts. */
    if (kos_cm_open(&cm, cmbuf, cmlen, cmerr, sizeof(cmerr)) != KOS_STATUS_OK ||
        kos_cm_signing_disabled(&cm) != !m->signing) {
        snprintf(err, errlen, "the compiled manifest does not validate: %s", cmerr);
        st = KOS_STATUS_INTERNAL;
        goto out_free_cm;
    }
    b.blobs[0].data = cmbuf;
    b.blobs[0].len = cmlen;
    cmbuf = NULL; /* owned by blobs[0] now */
    if (!sha256(b.blobs[0].data, cmlen, b.blobs[0].sha)) {
        snprintf(err, errlen, "cannot compute SHA-256");
        st = KOS_STATUS_INTERNAL;
        goto out_free_blobs;
    }
    /* A binary identical to the compiled manifest is the same blob. */
    for (size_t i = 1; i < b.n_blobs; i++) {
        if (memcmp(b.blobs[i].sha, b.blobs[0].sha, 32) == 0) {
            free(b.blobs[i].data);
            b.blobs[i] = b.blobs[--b.n_blobs];
            break;
        }
    }

    memset(&sig, 0, sizeof(sig));
    memcpy(sig.manifest, b.blobs[0].sha, 32);
    if (m->signing) {
        st = sign_manifest(&b, pkey, &sig);
        if (st)
            goto out_free_blobs;
    }
    siglen = kos__image_sig_format(&sig, sigtext, sizeof(sigtext));
    if (siglen == 0) {
        snprintf(err, errlen, "cannot format image.sig");
        st = KOS_STATUS_INTERNAL;
        goto out_free_blobs;
    }
    st = write_zip(&b, sigtext, siglen);
    if (st)
        goto out_free_blobs;
    if (info) {
        info->n_blobs = b.n_blobs;
        info->is_signed = sig.is_signed;
        info->key_id[0] = '\0';
        if (sig.is_signed)
            kos__image_hex(sig.key_id, KOS__KEY_ID_LEN, info->key_id);
    }

out_free_cm:
    free(cmbuf);
out_free_blobs:
    for (size_t i = 0; b.blobs && i < b.n_blobs; i++)
        free(b.blobs[i].data);
    free(b.blobs);
    free(b.bins);
    free(digests);
    EVP_PKEY_free(pkey);
    return st;
}

kos_status_t kos_image_build(const struct kos_image_build_opts *opts, char *err, size_t errlen)
{
    return kos__image_build(opts, NULL, err, errlen);
}

/* ---------------------------------------------------------------- opening */

struct kos_image {
    void *cm_buf; /* the compiled manifest, 8-aligned */
    size_t cm_len;
    char sig_text[KOS__IMAGE_SIG_MAX + 1]; /* image.sig as read */
    size_t sig_len;
    struct kos_cm cm;
    uint32_t n_procs;
    int *proc_fd; /* [n_procs]: each process's binary; shared by equal blobs */
    int *fds;     /* the distinct memfds, each closed once */
    size_t n_fds;
    bool is_signed; /* verified with a trusted key */
    char signer[2 * KOS__KEY_ID_LEN + 1];
    char manifest_hex[65]; /* the compiled manifest's SHA-256 */
};

static int blob_cmp(const void *a, const void *b)
{
    return memcmp(((const struct blob_entry *)a)->sha, ((const struct blob_entry *)b)->sha, 32);
}

/* A store's blob: the regular file named by its digest, if there is one. */
static struct blob_entry *find_store_blob(struct opening *o, const uint8_t sha[32])
{
    char hex[65];
    struct stat st;
    struct blob_entry *be;

    for (size_t i = 0; i < o->n_blobs; i++)
        if (memcmp(o->blobs[i].sha, sha, 32) == 0)
            return &o->blobs[i];
    if (o->n_blobs == KOS__IMAGE_MAX_ENTRIES)
        return NULL;
    kos__image_hex(sha, 32, hex);
    if (fstatat(o->store_dfd, hex, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    be = &o->blobs[o->n_blobs++];
    *be = (struct blob_entry){.size = (zip_uint64_t)st.st_size, .fd = -1};
    memcpy(be->sha, sha, 32);
    return be;
}

struct blob_entry *kos__image_find_blob(struct opening *o, const uint8_t sha[32])
{
    struct blob_entry key;

    if (!o->za)
        return find_store_blob(o, sha);
    memcpy(key.sha, sha, 32);
    return bsearch(&key, o->blobs, o->n_blobs, sizeof(key), blob_cmp);
}

/* Checks every entry's name, method and size, and indexes the blobs. */
kos_status_t kos__image_scan_entries(struct opening *o)
{
    zip_int64_t n = zip_get_num_entries(o->za, 0);
    unsigned long long total = 0;
    char shown[128];

    if (n < 0 || (zip_uint64_t)n > KOS__IMAGE_MAX_ENTRIES) {
        snprintf(o->err, o->errlen, "image has %lld entries; at most %u", (long long)n,
                 KOS__IMAGE_MAX_ENTRIES);
        return KOS_STATUS_PROTOCOL;
    }
    o->blobs = calloc((size_t)n + 1, sizeof(*o->blobs));
    if (!o->blobs) {
        snprintf(o->err, o->errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    for (zip_uint64_t i = 0; i < (zip_uint64_t)n; i++) {
        const zip_uint64_t need =
            ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
        struct blob_entry *be = &o->blobs[o->n_blobs];
        zip_stat_t zs;

        zip_stat_init(&zs);
        if (zip_stat_index(o->za, i, ZIP_FL_ENC_RAW, &zs) != 0 || (zs.valid & need) != need ||
            !zs.name) {
            snprintf(o->err, o->errlen, "image entry %llu cannot be read: %s",
                     (unsigned long long)i, zip_strerror(o->za));
            return KOS_STATUS_PROTOCOL;
        }
        printable(zs.name, shown, sizeof(shown));
        if (strcmp(zs.name, KOS__IMAGE_SIG_NAME) == 0) {
            if (o->have_sig) {
                snprintf(o->err, o->errlen, "image has two entries named %s", KOS__IMAGE_SIG_NAME);
                return KOS_STATUS_PROTOCOL;
            }
            o->have_sig = true;
            o->sig_index = i;
            o->sig_size = zs.size;
        } else if (parse_blob_name(zs.name, be->sha)) {
            be->index = i;
            be->size = zs.size;
            be->fd = -1;
            o->n_blobs++;
        } else {
            snprintf(o->err, o->errlen,
                     "image has an unexpected entry '%s' (only image.sig and blobs/<sha256 hex> "
                     "may appear)",
                     shown);
            return KOS_STATUS_PROTOCOL;
        }
        if (zs.encryption_method != ZIP_EM_NONE) {
            snprintf(o->err, o->errlen, "image entry '%s' is encrypted", shown);
            return KOS_STATUS_PROTOCOL;
        }
        if (zs.comp_method != ZIP_CM_STORE && zs.comp_method != ZIP_CM_DEFLATE) {
            snprintf(o->err, o->errlen,
                     "image entry '%s' uses compression method %u; only stored and deflated "
                     "entries are read",
                     shown, (unsigned)zs.comp_method);
            return KOS_STATUS_PROTOCOL;
        }
        if (zs.size > KOS__IMAGE_BLOB_MAX) {
            snprintf(o->err, o->errlen, "image entry '%s' is %llu bytes; at most %llu", shown,
                     (unsigned long long)zs.size, KOS__IMAGE_BLOB_MAX);
            return KOS_STATUS_PROTOCOL;
        }
        total += zs.size;
        if (total > KOS__IMAGE_TOTAL_MAX) {
            snprintf(o->err, o->errlen, "image holds more than %llu bytes", KOS__IMAGE_TOTAL_MAX);
            return KOS_STATUS_PROTOCOL;
        }
    }
    if (!o->have_sig) {
        snprintf(o->err, o->errlen, "image has no %s", KOS__IMAGE_SIG_NAME);
        return KOS_STATUS_PROTOCOL;
    }
    qsort(o->blobs, o->n_blobs, sizeof(*o->blobs), blob_cmp);
    for (size_t i = 1; i < o->n_blobs; i++) {
        if (memcmp(o->blobs[i - 1].sha, o->blobs[i].sha, 32) == 0) {
            char name[BLOB_NAME_LEN + 1];
            blob_name(o->blobs[i].sha, name);
            snprintf(o->err, o->errlen, "image has two entries named %s", name);
            return KOS_STATUS_PROTOCOL;
        }
    }
    return KOS_STATUS_OK;
}

/* Reads entry `index` of `size` bytes whole, hashing it into sha: into mem
 * (size bytes) if not NULL, and into fd if >= 0. `what` names the entry for
 * messages. Fails if the entry does not decompress to exactly `size` bytes or
 * its CRC does not match. */
kos_status_t kos__image_read_entry(struct opening *o, const struct blob_entry *be, const char *what,
                                   uint8_t *mem, int fd, uint8_t sha[32])
{
    kos_status_t st = KOS_STATUS_PROTOCOL;
    const zip_uint64_t size = be->size;
    zip_uint64_t done = 0;
    unsigned int mdlen = 0;
    zip_file_t *zf = NULL;
    int src = -1;
    EVP_MD_CTX *md;
    uint8_t *chunk;

    if (!o->za && size > KOS__IMAGE_BLOB_MAX) {
        snprintf(o->err, o->errlen, "%s is %llu bytes; at most %llu", what,
                 (unsigned long long)size, KOS__IMAGE_BLOB_MAX);
        return KOS_STATUS_PROTOCOL;
    }
    chunk = malloc(CHUNK);
    md = EVP_MD_CTX_new();
    if (!chunk || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        snprintf(o->err, o->errlen, "out of memory");
        st = KOS_STATUS_NO_MEMORY;
        goto out_free_md;
    }
    if (o->za) {
        zf = zip_fopen_index(o->za, be->index, 0);
        if (!zf) {
            snprintf(o->err, o->errlen, "cannot read %s: %s", what, zip_strerror(o->za));
            goto out_free_md;
        }
    } else {
        char hex[65];
        kos__image_hex(be->sha, 32, hex);
        src = openat(o->store_dfd, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (src < 0) {
            snprintf(o->err, o->errlen, "cannot read %s: %s", what, strerror(errno));
            st = KOS_STATUS_IO;
            goto out_free_md;
        }
    }
    for (;;) {
        /* Ask for one byte more than promised, to catch an entry that
         * inflates (or a file that grew) to more than its declared size. */
        zip_uint64_t want = size - done + 1 < CHUNK ? size - done + 1 : CHUNK;
        zip_int64_t n;
        if (zf)
            n = zip_fread(zf, chunk, want);
        else
            while ((n = read(src, chunk, (size_t)want)) < 0 && errno == EINTR)
                ;
        if (n < 0) {
            snprintf(o->err, o->errlen, "cannot read %s: %s", what,
                     zf ? zip_file_strerror(zf) : strerror(errno));
            goto out_close_zf;
        }
        if (n == 0)
            break;
        if ((zip_uint64_t)n > size - done) {
            snprintf(o->err, o->errlen,
                     "cannot read %s: it holds more than its declared %llu bytes", what,
                     (unsigned long long)size);
            goto out_close_zf;
        }
        if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1) {
            snprintf(o->err, o->errlen, "cannot compute SHA-256");
            st = KOS_STATUS_INTERNAL;
            goto out_close_zf;
        }
        if (mem)
            memcpy(mem + done, chunk, (size_t)n);
        for (zip_int64_t w = 0; fd >= 0 && w < n;) {
            ssize_t k = write(fd, chunk + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                snprintf(o->err, o->errlen, "cannot copy %s into memory: %s", what,
                         k < 0 ? strerror(errno) : "short write");
                st = KOS_STATUS_IO;
                goto out_close_zf;
            }
            w += k;
        }
        done += (zip_uint64_t)n;
    }
    if (done != size) {
        snprintf(o->err, o->errlen, "cannot read %s: it holds %llu bytes, not the declared %llu",
                 what, (unsigned long long)done, (unsigned long long)size);
        goto out_close_zf;
    }
    if (EVP_DigestFinal_ex(md, sha, &mdlen) != 1 || mdlen != 32) {
        snprintf(o->err, o->errlen, "cannot compute SHA-256");
        st = KOS_STATUS_INTERNAL;
        goto out_close_zf;
    }
    st = KOS_STATUS_OK;
out_close_zf:
    if (zf)
        zip_fclose(zf);
    if (src >= 0)
        close(src);
out_free_md:
    EVP_MD_CTX_free(md);
    free(chunk);
    ERR_clear_error();
    return st;
}

static kos_status_t load_trusted_keys(struct opening *o)
{
    const struct kos_image_open_opts *opts = o->opts;
    kos_status_t st;

    if (opts->n_trusted_keys == 0)
        return KOS_STATUS_OK;
    o->keys = calloc(opts->n_trusted_keys, sizeof(*o->keys));
    if (!o->keys) {
        snprintf(o->err, o->errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    for (size_t i = 0; i < opts->n_trusted_keys; i++) {
        st = kos__key_load_public(opts->trusted_keys[i], &o->keys[i], o->err, o->errlen);
        if (st)
            return st;
        o->n_keys++;
    }
    return KOS_STATUS_OK;
}

static const struct kos_image_open_opts no_opts = {0};

/* Verifies the signature with the trusted keys whose id image.sig names.
 * On success writes the signer's id. */
static kos_status_t verify_signature(struct opening *o, const struct kos__image_sig *sig,
                                     char signer[2 * KOS__KEY_ID_LEN + 1])
{
    uint8_t msg[KOS__IMAGE_SIGN_MSG_LEN], id[KOS__KEY_ID_LEN];
    char named[2 * KOS__KEY_ID_LEN + 1], hex[2 * KOS__KEY_ID_LEN + 1];
    size_t used;

    kos__image_sign_message(sig->manifest, msg);
    for (size_t i = 0; i < o->n_keys; i++) {
        EVP_MD_CTX *ctx;
        bool ok;

        if (kos__key_id(o->keys[i], id) != KOS_STATUS_OK ||
            memcmp(id, sig->key_id, sizeof(id)) != 0)
            continue;
        ctx = EVP_MD_CTX_new();
        ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, o->keys[i]) == 1 &&
             EVP_DigestVerify(ctx, sig->sig, sizeof(sig->sig), msg, sizeof(msg)) == 1;
        EVP_MD_CTX_free(ctx);
        ERR_clear_error();
        if (ok) {
            kos__image_hex(id, sizeof(id), signer);
            return KOS_STATUS_OK;
        }
    }
    kos__image_hex(sig->key_id, KOS__KEY_ID_LEN, named);
    used = (size_t)snprintf(o->err, o->errlen,
                            "signature does not verify with any trusted key (image.sig names "
                            "key %s; trusted:",
                            named);
    for (size_t i = 0; i < o->n_keys && used < o->errlen; i++) {
        if (kos__key_id(o->keys[i], id) != KOS_STATUS_OK)
            continue;
        kos__image_hex(id, sizeof(id), hex);
        used += (size_t)snprintf(o->err + used, o->errlen - used, " %s", hex);
    }
    if (used < o->errlen)
        snprintf(o->err + used, o->errlen - used, ")");
    return KOS_STATUS_UNAUTHORIZED;
}

kos_status_t kos__image_sig_check(const char *text, size_t len,
                                  const struct kos_image_open_opts *opts,
                                  struct kos__image_sig *sig, char signer[17], char *err,
                                  size_t errlen)
{
    struct opening o = {.opts = opts ? opts : &no_opts, .err = err, .errlen = errlen};
    kos_status_t st = kos__image_sig_parse(text, len, sig, err, errlen);

    signer[0] = '\0';
    if (st || !sig->is_signed)
        return st;
    st = load_trusted_keys(&o);
    if (!st && o.n_keys == 0) {
        snprintf(err, errlen, "no trusted release key given; pass --trust FILE");
        st = KOS_STATUS_UNAUTHORIZED;
    }
    if (!st)
        st = verify_signature(&o, sig, signer);
    for (size_t i = 0; i < o.n_keys; i++)
        EVP_PKEY_free(o.keys[i]);
    free(o.keys);
    return st;
}

/* Reads, checks, signature-checks and validates the compiled manifest. */
static kos_status_t open_manifest(struct opening *o, struct kos_image *img)
{
    char text[KOS__IMAGE_SIG_MAX + 1], want[65], got[65], cmerr[256];
    struct kos__image_sig sig;
    struct blob_entry *be;
    uint8_t sha[32];
    bool required;
    kos_status_t st;

    size_t sig_len = o->za ? (size_t)o->sig_size : o->sig_len;

    if (sig_len > KOS__IMAGE_SIG_MAX) {
        snprintf(o->err, o->errlen, "image.sig is %zu bytes; at most %u", sig_len,
                 KOS__IMAGE_SIG_MAX);
        return KOS_STATUS_PROTOCOL;
    }
    if (o->za) {
        struct blob_entry sig_entry = {.index = o->sig_index, .size = o->sig_size};
        st = kos__image_read_entry(o, &sig_entry, "image.sig", (uint8_t *)text, -1, sha);
        if (st)
            return st;
    } else {
        memcpy(text, o->sig_text, sig_len);
    }
    st = kos__image_sig_parse(text, sig_len, &sig, o->err, o->errlen);
    memcpy(img->sig_text, text, sig_len);
    img->sig_len = sig_len;
    if (st)
        return st;

    kos__image_hex(sig.manifest, 32, want);
    be = kos__image_find_blob(o, sig.manifest);
    if (!be) {
        snprintf(o->err, o->errlen, "image.sig names manifest %s, but the image has no blob %s",
                 want, want);
        return KOS_STATUS_PROTOCOL;
    }
    if (be->size == 0 || be->size > KOS_CM_MAX_SIZE) {
        snprintf(o->err, o->errlen, "manifest blob %s is %llu bytes; it must be 1 to %u", want,
                 (unsigned long long)be->size, KOS_CM_MAX_SIZE);
        return KOS_STATUS_PROTOCOL;
    }
    img->cm_buf = malloc((size_t)be->size); /* malloc() aligns to at least 8 */
    if (!img->cm_buf) {
        snprintf(o->err, o->errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    img->cm_len = (size_t)be->size;
    st = kos__image_read_entry(o, be, "the manifest blob", img->cm_buf, -1, sha);
    if (st)
        return st;
    if (memcmp(sha, sig.manifest, 32) != 0) {
        kos__image_hex(sha, 32, got);
        snprintf(o->err, o->errlen, "manifest blob %s has SHA-256 %s", want, got);
        return KOS_STATUS_PROTOCOL;
    }
    be->referenced = true;
    memcpy(img->manifest_hex, want, sizeof(img->manifest_hex));

    /* Check a signature before parsing what it covers, when we can. */
    if (sig.is_signed && o->n_keys > 0) {
        st = verify_signature(o, &sig, img->signer);
        if (st)
            return st;
        img->is_signed = true;
    }
    st = kos_cm_open(&img->cm, img->cm_buf, (size_t)be->size, cmerr, sizeof(cmerr));
    if (st) {
        snprintf(o->err, o->errlen, "manifest blob %s is not a valid compiled manifest: %s", want,
                 cmerr);
        return KOS_STATUS_PROTOCOL;
    }
    required = !kos_cm_signing_disabled(&img->cm) && !o->opts->allow_unsigned;
    if (required && !sig.is_signed) {
        snprintf(o->err, o->errlen, "image is unsigned but its manifest requires signing");
        return KOS_STATUS_UNAUTHORIZED;
    }
    if (required && o->n_keys == 0) {
        snprintf(o->err, o->errlen, "no trusted release key given; pass --trust FILE");
        return KOS_STATUS_UNAUTHORIZED;
    }
    return KOS_STATUS_OK;
}

/* Makes an empty memfd that can be sealed and executed. */
static int make_memfd(const char *name)
{
    char label[64];
    int fd;

    snprintf(label, sizeof(label), "kos:%s", name);
    fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) /* before Linux 6.3, memfds are executable anyway */
        fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd;
}

/* Seals a filled memfd against any change and rewinds it. */
static bool seal_memfd(int fd)
{
    const int seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

    if (fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) != 0 &&
        (errno != EINVAL || fcntl(fd, F_ADD_SEALS, seals) != 0))
        return false;
    return lseek(fd, 0, SEEK_SET) == 0;
}

/* Copies blob `be`, used by process `proc`, into a sealed memfd, checking
 * its digest on the way. */
static kos_status_t load_binary(struct opening *o, struct kos_image *img, struct blob_entry *be,
                                const struct kos_cm_proc *proc)
{
    const char *binary = kos_cm_str(&img->cm, proc->binary);
    const char *name = kos_cm_str(&img->cm, proc->name);
    const char *role = proc->role == KOS_CM_ROLE_MSG_SERVER ? "message server" : "app";
    char want[65], got[65], what[256];
    uint8_t sha[32];
    kos_status_t st;
    int fd;

    kos__image_hex(be->sha, 32, want);
    snprintf(what, sizeof(what), "blob %s (binary '%s' of %s '%s')", want, binary, role, name);
    fd = make_memfd(binary);
    if (fd < 0) {
        snprintf(o->err, o->errlen, "cannot hold %s in memory: %s%s", what, strerror(errno),
                 errno == EACCES ? " (executable memfds are forbidden: is vm.memfd_noexec 2?)"
                                 : "");
        return KOS_STATUS_IO;
    }
    st = kos__image_read_entry(o, be, what, NULL, fd, sha);
    if (st)
        goto out_close_fd;
    if (memcmp(sha, be->sha, 32) != 0) {
        kos__image_hex(sha, 32, got);
        snprintf(o->err, o->errlen, "%s has SHA-256 %s", what, got);
        st = KOS_STATUS_PROTOCOL;
        goto out_close_fd;
    }
    if (!seal_memfd(fd)) {
        snprintf(o->err, o->errlen, "cannot seal %s: %s", what, strerror(errno));
        st = KOS_STATUS_IO;
        goto out_close_fd;
    }
    be->fd = fd;
    img->fds[img->n_fds++] = fd;
    return KOS_STATUS_OK;

out_close_fd:
    close(fd);
    return st;
}

/* Finds every process's blob, refuses blobs nobody references, then loads
 * each distinct blob once. */
static kos_status_t open_binaries(struct opening *o, struct kos_image *img)
{
    char want[65];
    kos_status_t st;

    img->n_procs = kos_cm_nprocs(&img->cm);
    img->proc_fd = malloc(((size_t)img->n_procs + 1) * sizeof(int));
    img->fds = malloc(((size_t)img->n_procs + 1) * sizeof(int));
    if (!img->proc_fd || !img->fds) {
        snprintf(o->err, o->errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    for (uint32_t i = 0; i < img->n_procs; i++) {
        const struct kos_cm_proc *p = kos_cm_proc(&img->cm, i);
        struct blob_entry *be = kos__image_find_blob(o, p->sha256);
        if (!be) {
            kos__image_hex(p->sha256, 32, want);
            snprintf(o->err, o->errlen, "image has no blob %s for binary '%s' of %s '%s'", want,
                     kos_cm_str(&img->cm, p->binary),
                     p->role == KOS_CM_ROLE_MSG_SERVER ? "message server" : "app",
                     kos_cm_str(&img->cm, p->name));
            return KOS_STATUS_PROTOCOL;
        }
        be->referenced = true;
    }
    for (size_t i = 0; o->za && i < o->n_blobs; i++) { /* a store holds many generations */
        if (!o->blobs[i].referenced) {
            kos__image_hex(o->blobs[i].sha, 32, want);
            snprintf(o->err, o->errlen, "image has blob %s, which its manifest does not reference",
                     want);
            return KOS_STATUS_PROTOCOL;
        }
    }
    for (uint32_t i = 0; i < img->n_procs; i++) {
        const struct kos_cm_proc *p = kos_cm_proc(&img->cm, i);
        struct blob_entry *be = kos__image_find_blob(o, p->sha256);
        if (be->fd < 0) {
            st = load_binary(o, img, be, p);
            if (st)
                return st;
        }
        img->proc_fd[i] = be->fd;
    }
    return KOS_STATUS_OK;
}

/* The rest of an opening once its entries are known (st: how that went):
 * the manifest, the binaries; then whatever it holds is let go, and *out
 * set on success. */
static kos_status_t finish_open(struct opening *o, kos_status_t st, struct kos_image *img,
                                struct kos_image **out)
{
    if (!st)
        st = open_manifest(o, img);
    if (!st)
        st = open_binaries(o, img);
    if (!st) {
        *out = img;
        img = NULL;
    }
    if (o->za)
        zip_discard(o->za);
    for (size_t i = 0; i < o->n_keys; i++)
        EVP_PKEY_free(o->keys[i]);
    free(o->keys);
    free(o->blobs);
    kos_image_close(img);
    return st;
}

kos_status_t kos_image_open_blobs(int blobs_dfd, const char *sig_text, size_t sig_len,
                                  const struct kos_image_open_opts *opts, struct kos_image **out,
                                  char *err, size_t errlen)
{
    struct opening o = {.opts = opts ? opts : &no_opts,
                        .err = err,
                        .errlen = errlen,
                        .store_dfd = blobs_dfd,
                        .sig_text = sig_text,
                        .sig_len = sig_len};
    struct kos_image *img = calloc(1, sizeof(*img));
    kos_status_t st;

    o.blobs = calloc(KOS__IMAGE_MAX_ENTRIES, sizeof(*o.blobs));
    if (!img || !o.blobs) {
        snprintf(err, errlen, "out of memory");
        st = KOS_STATUS_NO_MEMORY;
    } else {
        st = load_trusted_keys(&o);
    }
    return finish_open(&o, st, img, out);
}

kos_status_t kos__image_zip_open(struct opening *o, const char *path, const char *name)
{
    int zerr = 0;
    zip_error_t ze;

    o->za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (o->za)
        return KOS_STATUS_OK;
    zip_error_init_with_code(&ze, zerr);
    if (zerr == ZIP_ER_NOZIP)
        snprintf(o->err, o->errlen, "cannot open %s: not a zip archive", name);
    else if (zerr == ZIP_ER_EXISTS) /* libzip's word for a repeated entry name */
        snprintf(o->err, o->errlen, "cannot open %s: two entries have the same name", name);
    else
        snprintf(o->err, o->errlen, "cannot open %s: %s", name, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return zerr == ZIP_ER_NOENT                         ? KOS_STATUS_NOT_FOUND
           : zerr == ZIP_ER_OPEN || zerr == ZIP_ER_READ ? KOS_STATUS_IO
                                                        : KOS_STATUS_PROTOCOL;
}

kos_status_t kos_image_open(const char *path, const struct kos_image_open_opts *opts,
                            struct kos_image **out, char *err, size_t errlen)
{
    struct opening o = {.path = path,
                        .opts = opts ? opts : &no_opts,
                        .err = err,
                        .errlen = errlen,
                        .store_dfd = -1};
    struct kos_image *img;
    kos_status_t st;

    if (!path || !out) {
        snprintf(err, errlen, "no image path given");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    img = calloc(1, sizeof(*img));
    if (!img) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    /* Bad trust configuration is reported before the image is looked at. */
    st = load_trusted_keys(&o);
    if (st)
        return finish_open(&o, st, img, out);
    char name[PATH_MAX + 8];
    snprintf(name, sizeof(name), "image %s", path);
    st = kos__image_zip_open(&o, path, name);
    if (st)
        return finish_open(&o, st, img, out);
    return finish_open(&o, kos__image_scan_entries(&o), img, out);
}

const struct kos_cm *kos_image_manifest(const struct kos_image *img)
{
    return &img->cm;
}

int kos_image_binary_fd(const struct kos_image *img, uint32_t proc)
{
    if (!img || proc >= img->n_procs)
        return -1;
    return img->proc_fd[proc];
}

const void *kos_image_manifest_bytes(const struct kos_image *img, size_t *len)
{
    *len = img->cm_len;
    return img->cm_buf;
}

const char *kos_image_sig_text(const struct kos_image *img, size_t *len)
{
    *len = img->sig_len;
    return img->sig_text;
}

const char *kos_image_signer(const struct kos_image *img)
{
    return img && img->is_signed ? img->signer : NULL;
}

const char *kos_image_manifest_digest(const struct kos_image *img)
{
    return img->manifest_hex;
}

void kos_image_close(struct kos_image *img)
{
    if (!img)
        return;
    for (size_t i = 0; i < img->n_fds; i++)
        close(img->fds[i]);
    free(img->fds);
    free(img->proc_fd);
    free(img->cm_buf);
    free(img);
}
