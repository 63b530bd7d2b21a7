/*
 * fuzz_image.c - libFuzzer harness for image verification, kos_image_open()
 * (manifest/image.h).
 *
 * The input is a candidate manifest.zip. It is written to a memfd and opened
 * through /proc/self/fd/N, so nothing touches the disk per input. One release
 * key is trusted: tests/fuzz/image_seed_key.pub, the public half of the key
 * that signed the seed images (fuzz_seeds.c deletes the private half once
 * they are signed). So a mutation of a signed seed that keeps its manifest
 * blob still verifies, and the fuzzer reaches what lies behind the signature
 * (the manifest's checks, the binaries' digests and memfds); a mutated
 * image.sig exercises the refusals. (A second, freshly generated trusted key
 * would add nothing the mutated key ids in image.sig do not reach, and
 * kos_image_open() parses each trusted key's PEM on every call, which under
 * ASan costs about 2 ms a key: one key doubles the executions per second.)
 * When kos_image_open() accepts an image, its manifest is walked
 * (cm_walk.c), every process must have a memfd sealed against writes whose
 * bytes have the SHA-256 its manifest entry names (image.h: what Core
 * executes is exactly what was verified), and the image is closed again; a
 * refusal must come with a sentence.
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

#include <openssl/evp.h>

#include "cm_walk.h"
#include "fuzz.h"
#include "image.h"

#ifndef KOS_FUZZ_IMAGE_SEED_KEY
#error "KOS_FUZZ_IMAGE_SEED_KEY must name tests/fuzz/image_seed_key.pub"
#endif

/* What the first call sets up; lives until the process exits. */
static struct {
    bool ready;
    int input_fd;        /* memfd the input is written to */
    char input_path[64]; /* /proc/self/fd/<input_fd> */
} fz;

/* Checks the seed key is there and makes the memfd inputs go to. */
static void setup(void)
{
    /* Without the seed key every input fails before the image is read, and
     * the harness would pass while testing almost nothing. */
    if (access(KOS_FUZZ_IMAGE_SEED_KEY, R_OK) != 0)
        kos_fuzz_fail("cannot read %s: %s", KOS_FUZZ_IMAGE_SEED_KEY, strerror(errno));
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
    const char *const keys[] = {KOS_FUZZ_IMAGE_SEED_KEY};
    struct kos_image_open_opts opts = {.trusted_keys = keys, .n_trusted_keys = 1};
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
