/*
 * fuzz_manifest.c - libFuzzer harness for the manifest reader,
 * kos_manifest_parse() (manifest/manifest.h).
 *
 * The input is the text of a system.yaml. Base layers are looked up in the
 * test layers (tests/manifest/layers) and then in the SDK's layers/ folder,
 * so `base: minimal` and the broken test layers are both reachable. A
 * refused manifest must come with an error naming file:line:col. A manifest
 * the reader accepts must compile, the compiled form must pass kos_cm_open()
 * (manifest.h promises it) and describe the same processes, and every
 * accessor on it is walked (cm_walk.c).
 */
#include <stdlib.h>
#include <string.h>

#include "cm_walk.h"
#include "fuzz.h"
#include "manifest.h"

#ifndef KOS_FUZZ_TEST_LAYERS_DIR
#error "KOS_FUZZ_TEST_LAYERS_DIR must name tests/manifest/layers"
#endif
#ifndef KOS_FUZZ_LAYERS_DIR
#error "KOS_FUZZ_LAYERS_DIR must name the SDK's layers/ folder"
#endif

static const char *const layer_dirs[] = {KOS_FUZZ_TEST_LAYERS_DIR, KOS_FUZZ_LAYERS_DIR};
static const struct kos_mf_options opts = {layer_dirs, 2};

/* Compiles an accepted manifest and checks what comes out. */
static void check_compiled(const struct kos_manifest *m)
{
    size_t n = m->n_servers + m->n_apps, len = 0;
    uint8_t(*digests)[32];
    char err[256];
    struct kos_cm cm;
    void *buf = NULL;
    kos_status_t st;

    digests = calloc(n ? n : 1, sizeof(*digests));
    if (digests == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        memset(digests[i], (int)(i & 0xff), sizeof(digests[i]));
    st = kos_manifest_compile(m, (const uint8_t(*)[32])digests, &buf, &len);
    if (st == KOS_STATUS_NO_MEMORY)
        goto out_free_digests;
    if (st != KOS_STATUS_OK)
        kos_fuzz_fail("kos_manifest_compile failed (%s) on a manifest the reader accepted",
                      kos_status_str(st));
    if (kos_cm_open(&cm, buf, len, err, sizeof(err)) != KOS_STATUS_OK)
        kos_fuzz_fail("kos_cm_open refused what kos_manifest_compile wrote: %s", err);
    if (kos_cm_nprocs(&cm) != n)
        kos_fuzz_fail("compiled manifest has %u processes; the manifest has %zu",
                      kos_cm_nprocs(&cm), n);
    if (strcmp(kos_cm_str(&cm, cm.hdr->system_name), m->system) != 0)
        kos_fuzz_fail("compiled system name '%s' is not '%s'", kos_cm_str(&cm, cm.hdr->system_name),
                      m->system);
    if (kos_cm_signing_disabled(&cm) != !m->signing)
        kos_fuzz_fail("compiled signing flag differs from the manifest's");
    for (size_t i = 0; i < n; i++) {
        const struct kos_cm_proc *p = kos_cm_proc(&cm, (uint32_t)i);
        const char *want = i < m->n_servers ? m->servers[i].name : m->apps[i - m->n_servers].name;
        if (strcmp(kos_cm_str(&cm, p->name), want) != 0 ||
            memcmp(p->sha256, digests[i], sizeof(digests[i])) != 0)
            kos_fuzz_fail("compiled process %zu is '%s', not '%s' with its digest", i,
                          kos_cm_str(&cm, p->name), want);
    }
    volatile uint64_t sink = kos_fuzz_cm_walk(&cm);
    (void)sink;
    free(buf);
out_free_digests:
    free(digests);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kos_manifest *m = NULL;
    struct kos_mf_error err;
    char line[1100];
    kos_status_t st;

    memset(&err, 0, sizeof(err));
    st = kos_manifest_parse("system.yaml", (const char *)data, size, &opts, &m, &err);
    if (st == KOS_STATUS_OK) {
        if (m == NULL)
            kos_fuzz_fail("kos_manifest_parse succeeded without a manifest");
        check_compiled(m);
        kos_manifest_destroy(m);
        return 0;
    }
    if (m != NULL)
        kos_fuzz_fail("kos_manifest_parse failed (%s) but set its output", kos_status_str(st));
    if (st == KOS_STATUS_NO_MEMORY)
        return 0;
    if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL || err.msg[0] == '\0' ||
        memchr(err.file, '\0', sizeof(err.file)) == NULL || err.file[0] == '\0')
        kos_fuzz_fail("kos_manifest_parse failed (%s) without saying where and why",
                      kos_status_str(st));
    kos_mf_error_format(&err, line, sizeof(line));
    return 0;
}
