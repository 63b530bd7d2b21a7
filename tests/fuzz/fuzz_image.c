/*
 * fuzz_image.c - libFuzzer harness for image verification, kos_image_open()
 * (manifest/image.h), with a structure-aware mutator.
 *
 * The input is a candidate manifest.zip. It is written to a memfd and opened
 * through /proc/self/fd/N, so nothing touches the disk per input. Two release
 * keys are trusted:
 *
 * - tests/fuzz/image_seed_key.pub, the public half of the key that signed the
 *   seed images (fuzz_seeds.c deletes the private half once they are
 *   signed), so the committed corpus verifies as it was written;
 * - tests/fuzz/image_fuzz_key.pub, a fuzzing test key whose private half,
 *   image_fuzz_key.pem, is committed on purpose: the custom mutator below
 *   re-signs with it whatever manifest it changes. Nothing but this harness
 *   trusts it.
 *
 * When kos_image_open() accepts an image, its manifest is walked
 * (cm_walk.c), every process must have a memfd sealed against writes whose
 * bytes have the SHA-256 its manifest entry names (image.h: what Core
 * executes is exactly what was verified), and the image is closed again; a
 * refusal must come with a sentence. LLVMFuzzerTestOneInput() depends on the
 * input's bytes alone, so the corpus replays (replay.c) the same way whether
 * or not the mutator made it; replay never calls the mutator.
 *
 * Random byte mutations of a zip break its CRCs, a blob's name (its SHA-256)
 * or the signature, and kos_image_open() stops before the manifest's and the
 * binaries' checks. So LLVMFuzzerCustomMutator() reads the zip's entries with
 * libzip, changes one or two things - the compiled manifest's bytes (through
 * LLVMFuzzerMutate(), with its size field kept right most of the time), a
 * binary's bytes, a process's digest, the manifest's flags, image.sig's text
 * or kind, an entry added, removed, renamed or stored the other way - then,
 * in most mutations, makes the rest agree again: the changed blob renamed to
 * its SHA-256, the processes that used it pointed at the new digest, and
 * image.sig rewritten for the new manifest, signed with the fuzz key (or
 * "unsigned", or left stale), and writes a fresh zip (libzip computes the
 * CRCs). One call in sixteen, and any input that is not a zip it can read,
 * gets a plain LLVMFuzzerMutate() of the whole file, so the zip reader is
 * still fuzzed too. LLVMFuzzerCustomCrossOver() moves a blob, the manifest
 * or image.sig from one image to another, or splices two manifests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zip.h>

#include "cm_walk.h"
#include "fuzz.h"
#include "image.h"
#include "image_int.h"
#include "keys_int.h"

#ifndef KOS_FUZZ_IMAGE_SEED_KEY
#error "KOS_FUZZ_IMAGE_SEED_KEY must name tests/fuzz/image_seed_key.pub"
#endif
#ifndef KOS_FUZZ_IMAGE_FUZZ_KEY
#error "KOS_FUZZ_IMAGE_FUZZ_KEY must name tests/fuzz/image_fuzz_key.pub"
#endif
#ifndef KOS_FUZZ_IMAGE_FUZZ_PRIV
#error "KOS_FUZZ_IMAGE_FUZZ_PRIV must name tests/fuzz/image_fuzz_key.pem"
#endif

/* libFuzzer's own mutator, for the mutator below. Weak, because the replay
 * (replay.c) links no libFuzzer and never calls the mutator. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
                                 size_t size2, uint8_t *out, size_t max_out_size,
                                 unsigned int seed);

/* What the first call sets up; lives until the process exits. */
static struct {
    bool ready;
    int input_fd;        /* memfd the input is written to */
    char input_path[64]; /* /proc/self/fd/<input_fd> */
    EVP_PKEY *fuzz_key;  /* the mutator's signing key, loaded on its first call */
    uint8_t fuzz_key_id[KOS__KEY_ID_LEN];
    uint8_t seed_key_id[KOS__KEY_ID_LEN]; /* to name it in image.sig */
} fz;

/* Checks the trusted keys are there and makes the memfd inputs go to. */
static void setup(void)
{
    /* Without the keys every input fails before the image is read, and the
     * harness would pass while testing almost nothing. */
    if (access(KOS_FUZZ_IMAGE_SEED_KEY, R_OK) != 0)
        kos_fuzz_fail("cannot read %s: %s", KOS_FUZZ_IMAGE_SEED_KEY, strerror(errno));
    if (access(KOS_FUZZ_IMAGE_FUZZ_KEY, R_OK) != 0)
        kos_fuzz_fail("cannot read %s: %s", KOS_FUZZ_IMAGE_FUZZ_KEY, strerror(errno));
    fz.input_fd = memfd_create("fuzz-image", MFD_CLOEXEC);
    if (fz.input_fd < 0)
        kos_fuzz_fail("memfd_create: %s", strerror(errno));
    snprintf(fz.input_path, sizeof(fz.input_path), "/proc/self/fd/%d", fz.input_fd);
    fz.ready = true;
}

/* Replaces the memfd's contents with the input. */
static void write_input(const uint8_t *data, size_t size)
{
    size_t done = 0;

    if (ftruncate(fz.input_fd, 0) != 0)
        kos_fuzz_fail("ftruncate: %s", strerror(errno));
    while (done < size) {
        ssize_t n = pwrite(fz.input_fd, data + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            kos_fuzz_fail("pwrite: %s", strerror(errno));
        done += (size_t)n;
    }
}

/* Fails unless the memfd's whole contents have SHA-256 `want`. */
static void check_digest(uint32_t proc, int fd, off_t size, const uint8_t want[32])
{
    uint8_t *buf = malloc(size > 0 ? (size_t)size : 1), got[32];
    unsigned int len = 0;
    off_t done = 0;

    if (buf == NULL)
        return;
    while (done < size) {
        ssize_t n = pread(fd, buf + done, (size_t)(size - done), done);
        if (n <= 0)
            kos_fuzz_fail("cannot read process %u's binary memfd: %s", proc,
                          n < 0 ? strerror(errno) : "short");
        done += n;
    }
    if (EVP_Digest(buf, (size_t)size, got, &len, EVP_sha256(), NULL) != 1 || len != 32)
        kos_fuzz_fail("cannot compute SHA-256");
    if (memcmp(got, want, 32) != 0)
        kos_fuzz_fail("process %u's binary memfd does not hold the bytes its manifest names", proc);
    free(buf);
}

/* Checks what an accepted image holds. */
static void check_image(const struct kos_image *img)
{
    const struct kos_cm *cm = kos_image_manifest(img);
    uint32_t n = kos_cm_nprocs(cm);
    volatile uint64_t sink = kos_fuzz_cm_walk(cm);
    const char *signer = kos_image_signer(img);

    (void)sink;
    if (signer != NULL && strlen(signer) != 16)
        kos_fuzz_fail("signer id '%s' is not 16 hex digits", signer);
    if (signer == NULL && !kos_cm_signing_disabled(cm))
        kos_fuzz_fail("an unsigned image whose manifest requires signing was accepted");
    for (uint32_t i = 0; i < n; i++) {
        int fd = kos_image_binary_fd(img, i);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
            kos_fuzz_fail("process %u of an accepted image has no binary memfd (%d)", i, fd);
        int seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & F_SEAL_WRITE) == 0)
            kos_fuzz_fail("process %u's binary memfd is not sealed against writes", i);
        check_digest(i, fd, sb.st_size, kos_cm_proc(cm, i)->sha256);
    }
    if (kos_image_binary_fd(img, n) != -1)
        kos_fuzz_fail("kos_image_binary_fd answers for process %u of %u", n, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *const keys[] = {KOS_FUZZ_IMAGE_SEED_KEY, KOS_FUZZ_IMAGE_FUZZ_KEY};
    struct kos_image_open_opts opts = {.trusted_keys = keys, .n_trusted_keys = 2};
    struct kos_image *img = NULL;
    char err[512];
    kos_status_t st;

    if (!fz.ready)
        setup();
    write_input(data, size);
    err[0] = '\0';
    st = kos_image_open(fz.input_path, &opts, &img, err, sizeof(err));
    if (st == KOS_STATUS_OK) {
        if (img == NULL)
            kos_fuzz_fail("kos_image_open succeeded without an image");
        check_image(img);
        kos_image_close(img);
        return 0;
    }
    if (img != NULL)
        kos_fuzz_fail("kos_image_open failed (%s) but set its output", kos_status_str(st));
    if (st != KOS_STATUS_NO_MEMORY && err[0] == '\0')
        kos_fuzz_fail("kos_image_open failed (%s) without a sentence", kos_status_str(st));
    return 0;
}

/* ---------------------------------------------------------------- mutator */

#define MZ_MAX_ENTRIES 24          /* more, and the input is mutated as bytes */
#define MZ_NAME_MAX    128         /* bytes of an entry name, with its NUL */
#define MZ_ENTRY_MAX   (64u << 10) /* bytes of one entry, uncompressed */
#define MZ_TOTAL_MAX   (256u << 10)
#define MZ_BLOB_NAME   (sizeof(KOS__IMAGE_BLOB_PREFIX) - 1 + 64)
#define MZ_DOS_DATE    ((0u << 9) | (1u << 5) | 1u) /* 1980-01-01, as images have */

/* One entry of an image being rewritten. */
struct mz_entry {
    char name[MZ_NAME_MAX];
    uint8_t *data; /* owned; malloc()ed */
    size_t len;
    bool deflate;
};

/* An image's entries, in zip order. */
struct mz_image {
    struct mz_entry e[MZ_MAX_ENTRIES];
    size_t n;
};

/* How image.sig is written for a changed manifest. */
enum mz_sig {
    MZ_SIG_FUZZ_KEY,  /* signed with the fuzz key: verifies */
    MZ_SIG_UNSIGNED,  /* "unsigned" */
    MZ_SIG_STALE,     /* the old image.sig kept: names the old digest */
    MZ_SIG_WRONG_KEY, /* the fuzz key's signature under the seed key's id */
    MZ_SIG_BAD,       /* a signature over another digest */
};

/* A small deterministic generator: the same seed gives the same mutation. */
static uint32_t mz_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static uint32_t mz_below(uint64_t *s, uint32_t n)
{
    return n ? mz_rand(s) % n : 0;
}

static void mz_free(struct mz_image *z)
{
    for (size_t i = 0; i < z->n; i++)
        free(z->e[i].data);
    z->n = 0;
}

/* Loads the fuzz key on the mutator's first call. */
static void mz_setup(void)
{
    char hex[2 * KOS__KEY_ID_LEN + 1], err[256];
    BIO *bio;

    if (fz.fuzz_key != NULL)
        return;
    if (kos__key_id_of_public_file(KOS_FUZZ_IMAGE_SEED_KEY, hex, err, sizeof(err)) != KOS_STATUS_OK)
        kos_fuzz_fail("%s", err);
    for (size_t i = 0; i < KOS__KEY_ID_LEN; i++)
        fz.seed_key_id[i] = (uint8_t)strtoul((char[3]){hex[2 * i], hex[2 * i + 1], '\0'}, NULL, 16);
    bio = BIO_new_file(KOS_FUZZ_IMAGE_FUZZ_PRIV, "r");
    if (bio != NULL)
        fz.fuzz_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (fz.fuzz_key == NULL || kos__key_id(fz.fuzz_key, fz.fuzz_key_id) != KOS_STATUS_OK)
        kos_fuzz_fail("cannot load the fuzz key %s", KOS_FUZZ_IMAGE_FUZZ_PRIV);
    ERR_clear_error();
}

static void mz_sha256(const void *data, size_t len, uint8_t out[32])
{
    if (EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) != 1)
        kos_fuzz_fail("cannot compute SHA-256");
}

static void mz_blob_name(const uint8_t sha[32], char out[MZ_NAME_MAX])
{
    char hex[65];

    kos__image_hex(sha, 32, hex);
    snprintf(out, MZ_NAME_MAX, "%s%s", KOS__IMAGE_BLOB_PREFIX, hex);
}

/* Reads every entry of the zip in data; false if it is not one libzip reads
 * whole (then the caller mutates bytes instead). A deflated entry is mostly
 * written back stored: zlib's deflate state (256 KiB, zeroed on every
 * stream) made deflating cost more than the input's whole run under ASan,
 * and one entry in eight, plus mz_mutate_once()'s own switch, keeps inflate
 * fuzzed. */
static bool mz_read(const uint8_t *data, size_t size, struct mz_image *z, uint64_t *rs)
{
    zip_source_t *src;
    zip_t *za;
    zip_int64_t n;
    size_t total = 0;
    bool ok = false;

    z->n = 0;
    src = zip_source_buffer_create(data, size, 0, NULL);
    if (src == NULL)
        return false;
    za = zip_open_from_source(src, ZIP_RDONLY, NULL);
    if (za == NULL) {
        zip_source_free(src);
        return false;
    }
    n = zip_get_num_entries(za, 0);
    if (n < 0 || n > MZ_MAX_ENTRIES)
        goto out_discard;
    for (zip_int64_t i = 0; i < n; i++) {
        struct mz_entry *e = &z->e[z->n];
        zip_stat_t st;
        zip_file_t *zf;
        zip_int64_t got;

        zip_stat_init(&st);
        if (zip_stat_index(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &st) != 0 ||
            (st.valid & (ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_METHOD)) !=
                (ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_METHOD) ||
            strlen(st.name) >= MZ_NAME_MAX || st.size > MZ_ENTRY_MAX ||
            total + st.size > MZ_TOTAL_MAX)
            goto out_discard;
        snprintf(e->name, sizeof(e->name), "%s", st.name);
        e->len = (size_t)st.size;
        e->deflate = st.comp_method != ZIP_CM_STORE && mz_below(rs, 8) == 0;
        e->data = malloc(e->len ? e->len : 1);
        if (e->data == NULL)
            goto out_discard;
        z->n++;
        zf = zip_fopen_index(za, (zip_uint64_t)i, 0);
        if (zf == NULL)
            goto out_discard;
        got = zip_fread(zf, e->data, st.size);
        zip_fclose(zf);
        if (got != (zip_int64_t)st.size)
            goto out_discard;
        total += e->len;
    }
    ok = true;
out_discard:
    zip_discard(za); /* frees src too */
    if (!ok)
        mz_free(z);
    return ok;
}

/* Writes z as a zip into out; returns its size, or 0 if it does not fit or
 * libzip refuses. A name seen before is left out (libzip writes each once). */
static size_t mz_write_once(const struct mz_image *z, uint8_t *out, size_t max_size)
{
    zip_source_t *src;
    zip_stat_t st;
    zip_t *za;
    size_t len = 0;

    src = zip_source_buffer_create(NULL, 0, 0, NULL);
    if (src == NULL)
        return 0;
    zip_source_keep(src);
    za = zip_open_from_source(src, ZIP_CREATE | ZIP_TRUNCATE, NULL);
    if (za == NULL)
        goto out_free_src;
    for (size_t i = 0; i < z->n; i++) {
        const struct mz_entry *e = &z->e[i];
        zip_source_t *s;
        zip_int64_t idx;

        if (e->name[0] == '\0' || zip_name_locate(za, e->name, ZIP_FL_ENC_RAW) >= 0)
            continue;
        s = zip_source_buffer(za, e->data, e->len, 0);
        if (s == NULL)
            goto out_discard;
        idx = zip_file_add(za, e->name, s, ZIP_FL_ENC_RAW);
        if (idx < 0) {
            zip_source_free(s);
            continue; /* a name libzip will not store */
        }
        if (zip_set_file_compression(za, (zip_uint64_t)idx,
                                     e->deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0 ||
            zip_file_set_dostime(za, (zip_uint64_t)idx, 0, MZ_DOS_DATE, 0) != 0)
            goto out_discard;
    }
    if (zip_close(za) != 0)
        goto out_discard;
    zip_stat_init(&st);
    if (zip_source_stat(src, &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0 || st.size > max_size ||
        zip_source_open(src) != 0)
        goto out_free_src;
    if (zip_source_read(src, out, st.size) == (zip_int64_t)st.size)
        len = (size_t)st.size;
    zip_source_close(src);
    goto out_free_src;

out_discard:
    zip_discard(za);
out_free_src:
    zip_source_free(src);
    return len;
}

/* mz_write_once(), and if the zip does not fit stored, again deflated. */
static size_t mz_write(struct mz_image *z, uint8_t *out, size_t max_size)
{
    size_t len = mz_write_once(z, out, max_size);

    if (len == 0) {
        for (size_t i = 0; i < z->n; i++)
            z->e[i].deflate = z->e[i].len > 64;
        len = mz_write_once(z, out, max_size);
    }
    return len;
}

static struct mz_entry *mz_find(struct mz_image *z, const char *name)
{
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0)
            return &z->e[i];
    return NULL;
}

static void mz_remove(struct mz_image *z, struct mz_entry *e)
{
    size_t i = (size_t)(e - z->e);

    free(e->data);
    memmove(&z->e[i], &z->e[i + 1], (z->n - i - 1) * sizeof(z->e[0]));
    z->n--;
}

/* Inserts an entry (a copy of data) at position `at`; NULL if full. */
static struct mz_entry *mz_insert(struct mz_image *z, size_t at, const char *name, const void *data,
                                  size_t len, bool deflate)
{
    uint8_t *copy;

    if (z->n == MZ_MAX_ENTRIES || (copy = malloc(len ? len : 1)) == NULL)
        return NULL;
    if (at > z->n)
        at = z->n;
    memcpy(copy, data, len);
    memmove(&z->e[at + 1], &z->e[at], (z->n - at) * sizeof(z->e[0]));
    z->n++;
    snprintf(z->e[at].name, sizeof(z->e[at].name), "%s", name);
    z->e[at].data = copy;
    z->e[at].len = len;
    z->e[at].deflate = deflate;
    return &z->e[at];
}

/* The compiled manifest: the blob image.sig names, else the first blob that
 * starts like one. */
static struct mz_entry *mz_manifest(struct mz_image *z)
{
    struct mz_entry *sig = mz_find(z, KOS__IMAGE_SIG_NAME);
    struct kos__image_sig parsed;
    char name[MZ_NAME_MAX], err[256];
    struct mz_entry *e;

    if (sig != NULL && kos__image_sig_parse((const char *)sig->data, sig->len, &parsed, err,
                                            sizeof(err)) == KOS_STATUS_OK) {
        mz_blob_name(parsed.manifest, name);
        if ((e = mz_find(z, name)) != NULL)
            return e;
    }
    for (size_t i = 0; i < z->n; i++)
        if (z->e[i].len >= sizeof(struct kos_cm_header) && memcmp(z->e[i].data, "KOSM", 4) == 0)
            return &z->e[i];
    return NULL;
}

/* Runs LLVMFuzzerMutate() over an entry's bytes, with room to grow. */
static void mz_mutate_bytes(struct mz_entry *e, size_t max_len)
{
    size_t cap = e->len + 64 < max_len ? e->len + 64 : max_len;
    uint8_t *buf;

    if (cap < e->len)
        cap = e->len;
    if (cap == 0 || (buf = malloc(cap)) == NULL)
        return;
    memcpy(buf, e->data, e->len);
    if (e->len == 0) /* LLVMFuzzerMutate() wants a byte to start from */
        buf[e->len++] = 0;
    e->len = LLVMFuzzerMutate(buf, e->len, cap);
    free(e->data);
    e->data = buf;
}

/* Signs the image message for `manifest` with the fuzz key. */
static void mz_sign(const uint8_t manifest[32], uint8_t sig[KOS__ED25519_SIG_LEN])
{
    if (kos__image_sign(fz.fuzz_key, manifest, sig) != KOS_STATUS_OK)
        kos_fuzz_fail("cannot sign with the fuzz key");
}

/* Rewrites image.sig for a manifest with digest `sha` the way `how` says;
 * a missing image.sig is added first in the zip, as images have it. */
static void mz_set_sig(struct mz_image *z, const uint8_t sha[32], enum mz_sig how, uint64_t *rs)
{
    struct mz_entry *e = mz_find(z, KOS__IMAGE_SIG_NAME);
    struct kos__image_sig sig;
    char text[KOS__IMAGE_SIG_MAX];
    size_t len;

    if (how == MZ_SIG_STALE)
        return;
    memset(&sig, 0, sizeof(sig));
    memcpy(sig.manifest, sha, 32);
    if (how != MZ_SIG_UNSIGNED) {
        uint8_t other[32];

        memcpy(other, sha, 32);
        if (how == MZ_SIG_BAD)
            other[mz_below(rs, 32)] ^= (uint8_t)(1u << mz_below(rs, 8));
        mz_sign(other, sig.sig);
        memcpy(sig.key_id, fz.fuzz_key_id, KOS__KEY_ID_LEN);
        if (how == MZ_SIG_WRONG_KEY)
            memcpy(sig.key_id, fz.seed_key_id, KOS__KEY_ID_LEN);
        sig.is_signed = true;
    }
    len = kos__image_sig_format(&sig, text, sizeof(text));
    if (e == NULL)
        e = mz_insert(z, 0, KOS__IMAGE_SIG_NAME, "", 0, false);
    if (e == NULL || len == 0)
        return;
    free(e->data);
    e->data = malloc(len);
    e->len = e->data != NULL ? len : 0;
    if (e->data != NULL)
        memcpy(e->data, text, len);
}

/* Mostly signed with the fuzz key, sometimes not, as a changed manifest's
 * image.sig is rewritten. */
static enum mz_sig mz_pick_sig(uint64_t *rs, const struct mz_entry *cm)
{
    uint32_t flags = 0;
    uint32_t r = mz_below(rs, 32);

    if (cm->len >= sizeof(struct kos_cm_header))
        memcpy(&flags, cm->data + offsetof(struct kos_cm_header, flags), sizeof(flags));
    if ((flags & KOS_CM_SIGNING_DISABLED) && r < 16)
        return MZ_SIG_UNSIGNED;
    return r < 26   ? MZ_SIG_FUZZ_KEY
           : r < 28 ? MZ_SIG_UNSIGNED
           : r < 30 ? MZ_SIG_STALE
           : r < 31 ? MZ_SIG_WRONG_KEY
                    : MZ_SIG_BAD;
}

/* Makes the image agree with its changed manifest `cm`: stored under its
 * digest, and image.sig rewritten for it. */
static void mz_fix_manifest(struct mz_image *z, struct mz_entry *cm, uint64_t *rs)
{
    uint8_t sha[32];

    mz_sha256(cm->data, cm->len, sha);
    mz_blob_name(sha, cm->name);
    mz_set_sig(z, sha, mz_pick_sig(rs, cm), rs);
}

/* Keeps the compiled manifest's size field equal to its length. */
static void mz_fix_size(struct mz_entry *cm)
{
    uint32_t size = (uint32_t)cm->len;

    if (cm->len >= sizeof(struct kos_cm_header))
        memcpy(cm->data + offsetof(struct kos_cm_header, size), &size, sizeof(size));
}

/* Where process i's digest lies in the manifest, or NULL. */
static uint8_t *mz_proc_sha(struct mz_entry *cm, uint32_t i)
{
    struct kos_cm_header h;
    size_t at;

    if (cm->len < sizeof(h))
        return NULL;
    memcpy(&h, cm->data, sizeof(h));
    if (i >= h.n_procs || i >= KOS_CM_MAX_PROCS)
        return NULL;
    at = (size_t)h.procs_off + (size_t)i * sizeof(struct kos_cm_proc) +
         offsetof(struct kos_cm_proc, sha256);
    return at + 32 <= cm->len ? cm->data + at : NULL;
}

static uint32_t mz_nprocs(const struct mz_entry *cm)
{
    struct kos_cm_header h;

    if (cm->len < sizeof(h))
        return 0;
    memcpy(&h, cm->data, sizeof(h));
    return h.n_procs < KOS_CM_MAX_PROCS ? h.n_procs : KOS_CM_MAX_PROCS;
}

/* A random entry other than image.sig and the manifest, or NULL. */
static struct mz_entry *mz_pick_binary(struct mz_image *z, const struct mz_entry *cm, uint64_t *rs)
{
    struct mz_entry *pick[MZ_MAX_ENTRIES];
    size_t n = 0;

    for (size_t i = 0; i < z->n; i++)
        if (&z->e[i] != cm && strcmp(z->e[i].name, KOS__IMAGE_SIG_NAME) != 0)
            pick[n++] = &z->e[i];
    return n ? pick[mz_below(rs, (uint32_t)n)] : NULL;
}

/* A binary's bytes changed; mostly renamed to its new digest, with every
 * process that used it pointed at that digest and the manifest fixed. */
static void mz_op_binary(struct mz_image *z, struct mz_entry *cm, uint64_t *rs, size_t max_len)
{
    struct mz_entry *bin = mz_pick_binary(z, cm, rs);
    uint8_t old[32], sha[32];
    bool had_digest;

    if (bin == NULL)
        return;
    had_digest = strlen(bin->name) == MZ_BLOB_NAME &&
                 strncmp(bin->name, KOS__IMAGE_BLOB_PREFIX, MZ_BLOB_NAME - 64) == 0;
    mz_sha256(bin->data, bin->len, old);
    mz_mutate_bytes(bin, max_len);
    if (mz_below(rs, 8) == 0)
        return; /* tampered under its old name */
    mz_sha256(bin->data, bin->len, sha);
    mz_blob_name(sha, bin->name);
    if (cm == NULL || !had_digest || mz_below(rs, 8) == 0)
        return; /* a blob the manifest does not reference */
    for (uint32_t i = 0, n = mz_nprocs(cm); i < n; i++) {
        uint8_t *p = mz_proc_sha(cm, i);
        if (p != NULL && memcmp(p, old, 32) == 0)
            memcpy(p, sha, 32);
    }
    mz_fix_manifest(z, cm, rs);
}

/* A process's digest pointed at another blob, or at none. */
static void mz_op_proc_digest(struct mz_image *z, struct mz_entry *cm, uint64_t *rs)
{
    uint32_t n = mz_nprocs(cm);
    uint8_t *p = n ? mz_proc_sha(cm, mz_below(rs, n)) : NULL;
    struct mz_entry *other = mz_pick_binary(z, cm, rs);

    if (p == NULL)
        return;
    if (other != NULL && mz_below(rs, 4) != 0)
        mz_sha256(other->data, other->len, p);
    else if (mz_below(rs, 2) == 0)
        mz_sha256(cm->data, cm->len, p); /* the manifest as a binary */
    else
        p[mz_below(rs, 32)] ^= (uint8_t)(1u + mz_below(rs, 255));
    mz_fix_manifest(z, cm, rs);
}

/* One flag of the manifest's header flipped (signing: disabled and the rest,
 * and bits no version defines). */
static void mz_op_flags(struct mz_image *z, struct mz_entry *cm, uint64_t *rs)
{
    uint32_t flags;

    if (cm->len < sizeof(struct kos_cm_header))
        return;
    memcpy(&flags, cm->data + offsetof(struct kos_cm_header, flags), sizeof(flags));
    flags ^= mz_below(rs, 4) ? 1u << mz_below(rs, 3) : 1u << mz_below(rs, 32);
    memcpy(cm->data + offsetof(struct kos_cm_header, flags), &flags, sizeof(flags));
    mz_fix_manifest(z, cm, rs);
}

/* A new entry: a blob nobody references, a copy of one under another name,
 * an entry that is no blob, or a second manifest. */
static void mz_op_add(struct mz_image *z, struct mz_entry *cm, uint64_t *rs)
{
    struct mz_entry *src = z->n ? &z->e[mz_below(rs, (uint32_t)z->n)] : NULL;
    uint8_t buf[64], sha[32];
    char name[MZ_NAME_MAX];
    size_t at = mz_below(rs, (uint32_t)z->n + 1), len;

    switch (mz_below(rs, 4)) {
    case 0: /* a small blob under its digest */
        len = 1 + mz_below(rs, sizeof(buf));
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)mz_rand(rs);
        mz_sha256(buf, len, sha);
        mz_blob_name(sha, name);
        mz_insert(z, at, name, buf, len, mz_below(rs, 2));
        break;
    case 1: /* an existing entry's bytes under a name that is not their digest */
        if (src == NULL)
            return;
        mz_sha256(src->data, src->len, sha);
        sha[mz_below(rs, 32)] ^= 1;
        mz_blob_name(sha, name);
        mz_insert(z, at, name, src->data, src->len, src->deflate);
        break;
    case 2: { /* an entry that is not a blob */
        static const char *const names[] = {"README",       "blobs/",   "blobs/x", "image.sig/",
                                            "../image.sig", "/blobs/a", "BLOBS/a"};
        mz_insert(z, at, names[mz_below(rs, sizeof(names) / sizeof(names[0]))], "x\n", 2, false);
        break;
    }
    default: { /* the manifest once more, changed, under its own digest */
        struct mz_entry *copy;
        if (cm == NULL)
            return;
        copy = mz_insert(z, at, "", cm->data, cm->len, cm->deflate);
        if (copy == NULL || copy->len == 0)
            return;
        copy->data[mz_below(rs, (uint32_t)copy->len)] ^= 1;
        mz_sha256(copy->data, copy->len, sha);
        mz_blob_name(sha, copy->name);
        break;
    }
    }
}

/* An entry's name changed: mutated as bytes, made upper case, or swapped for
 * image.sig or another blob's digest. */
static void mz_op_rename(struct mz_image *z, uint64_t *rs)
{
    struct mz_entry *e;
    size_t len;

    if (z->n == 0)
        return;
    e = &z->e[mz_below(rs, (uint32_t)z->n)];
    switch (mz_below(rs, 4)) {
    case 0:
        len = strlen(e->name);
        if (len == 0)
            e->name[len++] = 'a';
        len = LLVMFuzzerMutate((uint8_t *)e->name, len, MZ_NAME_MAX - 1);
        e->name[len] = '\0';
        break;
    case 1:
        for (char *c = e->name; *c; c++)
            if (*c >= 'a' && *c <= 'f')
                *c = (char)(*c - 'a' + 'A');
        break;
    case 2:
        snprintf(e->name, sizeof(e->name), "%s", KOS__IMAGE_SIG_NAME);
        break;
    default: {
        uint8_t sha[32];
        mz_sha256(e->data, e->len, sha);
        mz_blob_name(sha, e->name);
        break;
    }
    }
}

/* image.sig changed: its text mutated as bytes, or rewritten for the
 * manifest in one of its kinds. */
static void mz_op_sig(struct mz_image *z, struct mz_entry *cm, uint64_t *rs, size_t max_len)
{
    struct mz_entry *e = mz_find(z, KOS__IMAGE_SIG_NAME);

    if (e != NULL && mz_below(rs, 2) == 0) {
        mz_mutate_bytes(e, max_len < KOS__IMAGE_SIG_MAX + 8 ? max_len : KOS__IMAGE_SIG_MAX + 8);
    } else if (cm != NULL) {
        uint8_t sha[32];
        mz_sha256(cm->data, cm->len, sha);
        mz_set_sig(z, sha, (enum mz_sig)mz_below(rs, MZ_SIG_BAD + 1), rs);
    }
}

/* One structural change to the image. */
static void mz_mutate_once(struct mz_image *z, uint64_t *rs, size_t max_len)
{
    struct mz_entry *cm = mz_manifest(z);
    uint32_t r = mz_below(rs, 16);

    if (cm == NULL && r < 8)
        r = 8 + mz_below(rs, 8);
    if (r < 6) { /* the manifest's bytes */
        mz_mutate_bytes(cm, max_len);
        if (mz_below(rs, 8) != 0)
            mz_fix_size(cm);
        mz_fix_manifest(z, cm, rs);
    } else if (r < 7) {
        mz_op_proc_digest(z, cm, rs);
    } else if (r < 8) {
        mz_op_flags(z, cm, rs);
    } else if (r < 11) {
        mz_op_binary(z, cm, rs, max_len);
    } else if (r < 12) {
        mz_op_add(z, cm, rs);
    } else if (r < 13) {
        if (z->n > 1)
            mz_remove(z, &z->e[mz_below(rs, (uint32_t)z->n)]);
    } else if (r < 14) {
        mz_op_rename(z, rs);
    } else if (r < 15) {
        mz_op_sig(z, cm, rs, max_len);
    } else if (z->n > 0) { /* stored the other way */
        struct mz_entry *e = &z->e[mz_below(rs, (uint32_t)z->n)];
        e->deflate = !e->deflate;
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    uint64_t rs = seed;
    struct mz_image z;
    size_t len = 0;

    mz_setup();
    if (mz_below(&rs, 16) == 0 || !mz_read(data, size, &z, &rs))
        return LLVMFuzzerMutate(data, size, max_size);
    for (uint32_t i = 0, n = 1 + (mz_below(&rs, 4) == 0); i < n; i++)
        mz_mutate_once(&z, &rs, max_size / 2);
    len = mz_write(&z, data, max_size);
    mz_free(&z);
    return len ? len : LLVMFuzzerMutate(data, size, max_size);
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
                                 size_t size2, uint8_t *out, size_t max_out_size, unsigned int seed)
{
    uint64_t rs = seed;
    struct mz_image a, b;
    struct mz_entry *cm_a, *cm_b, *e;
    size_t len = 0;

    mz_setup();
    if (!mz_read(data1, size1, &a, &rs))
        return 0;
    if (!mz_read(data2, size2, &b, &rs)) {
        mz_free(&a);
        return 0;
    }
    cm_a = mz_manifest(&a);
    cm_b = mz_manifest(&b);
    switch (mz_below(&rs, 4)) {
    case 0: /* one of b's entries added to a */
        if (b.n > 0) {
            e = &b.e[mz_below(&rs, (uint32_t)b.n)];
            mz_insert(&a, mz_below(&rs, (uint32_t)a.n + 1), e->name, e->data, e->len, e->deflate);
        }
        break;
    case 1: /* b's manifest with a's binaries */
        if (cm_a != NULL && cm_b != NULL) {
            mz_remove(&a, cm_a);
            cm_a = mz_insert(&a, 1, cm_b->name, cm_b->data, cm_b->len, cm_b->deflate);
            if (cm_a != NULL)
                mz_fix_manifest(&a, cm_a, &rs);
        }
        break;
    case 2: /* a's manifest up to a point, then b's from the same offset */
        if (cm_a != NULL && cm_b != NULL && cm_b->len > 0) {
            size_t cut = mz_below(&rs, (uint32_t)(cm_a->len < cm_b->len ? cm_a->len : cm_b->len));
            uint8_t *buf = malloc(cm_b->len);
            if (buf == NULL)
                break;
            memcpy(buf, cm_a->data, cut);
            memcpy(buf + cut, cm_b->data + cut, cm_b->len - cut);
            free(cm_a->data);
            cm_a->data = buf;
            cm_a->len = cm_b->len;
            mz_fix_size(cm_a);
            mz_fix_manifest(&a, cm_a, &rs);
        }
        break;
    default: /* b's image.sig in a */
        if ((e = mz_find(&b, KOS__IMAGE_SIG_NAME)) != NULL) {
            struct mz_entry *old = mz_find(&a, KOS__IMAGE_SIG_NAME);
            if (old != NULL)
                mz_remove(&a, old);
            mz_insert(&a, 0, e->name, e->data, e->len, e->deflate);
        }
        break;
    }
    len = mz_write(&a, out, max_out_size);
    mz_free(&a);
    mz_free(&b);
    return len;
}
