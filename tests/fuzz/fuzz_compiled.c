/*
 * fuzz_compiled.c - libFuzzer harness for the compiled-manifest reader,
 * kos_cm_open() (manifest/compiled.h).
 *
 * The input is a candidate compiled manifest. It is copied into a buffer of
 * exactly its size (malloc() aligns it to 16, so the 8-byte alignment
 * kos_cm_open() asks for holds), and when kos_cm_open() accepts it every
 * accessor is walked (cm_walk.c): a read past the buffer is an
 * AddressSanitizer report, and an index that stays inside the buffer but
 * breaks a promise of compiled.h aborts. A refusal must come with a sentence.
 * The corpus holds compiled manifests the manifest compiler wrote (see
 * fuzz_seeds.c) and what fuzzing found from them.
 */
#include <stdlib.h>
#include <string.h>

#include "cm_walk.h"
#include "compiled.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct kos_cm cm;
    uint8_t *buf;
    kos_status_t st;

    buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    if (size)
        memcpy(buf, data, size);
    st = kos_cm_open(&cm, buf, size, err, sizeof(err));
    if (st == KOS_STATUS_OK) {
        volatile uint64_t sink = kos_fuzz_cm_walk(&cm);
        (void)sink;
    } else if (st != KOS_STATUS_PROTOCOL || err[0] == '\0' ||
               memchr(err, '\0', sizeof(err)) == NULL) {
        kos_fuzz_fail("kos_cm_open refused %zu bytes with status %d and no sentence", size,
                      (int)st);
    }
    free(buf);
    return 0;
}
