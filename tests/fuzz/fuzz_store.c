/*
 * fuzz_store.c - what a boot store reads from a device's storage
 * (manifest/store_int.h): a generation's record and `state`, as damaged or
 * hostile files may hold them. The input's first byte chooses which; the
 * rest is the file. Promises checked: a parsed record has a manifest digest
 * of 64 lower-case hex digits, a valid system name, at least one blob and at
 * most KOS__IMAGE_MAX_ENTRIES, an image.sig of 1 to KOS__IMAGE_SIG_MAX bytes,
 * and formats back to exactly the input; a parsed state formats back to
 * exactly the input, its failed generations ascending from 1 and at most
 * KOS_STORE_FAILED_MAX; a refused record says why.
 */
#include <string.h>

#include "boot_int.h"
#include "fuzz.h"
#include "store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kos__store_record r;
    static char out[160 * 1024]; /* more than the largest record */
    char why[128] = "";

    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    if (data[0] & 1) {
        struct kos_store_state st;
        if (kos__store_parse_state(text, len, &st) == KOS_STATUS_OK) {
            size_t n = kos__store_format_state(&st, out, sizeof(out));
            if (n != len || memcmp(out, text, len) != 0)
                kos_fuzz_fail("a state parsed does not format back to the same bytes");
            if (st.n_failed > KOS_STORE_FAILED_MAX)
                kos_fuzz_fail("a state with %u failed generations parsed", st.n_failed);
            for (uint32_t i = 0; i < st.n_failed; i++)
                if (st.failed[i] == 0 || (i && st.failed[i] <= st.failed[i - 1]))
                    kos_fuzz_fail("a state's failed generations are not ascending from 1");
        }
        return 0;
    }
    if (kos__store_parse_record(text, len, &r, why, sizeof(why)) != KOS_STATUS_OK) {
        if (!why[0])
            kos_fuzz_fail("a record refused without saying why");
        return 0;
    }
    if (strlen(r.g.manifest) != 64 || strspn(r.g.manifest, "0123456789abcdef") != 64)
        kos_fuzz_fail("a record parsed with a bad manifest digest");
    if (!kos__name_valid(r.g.system, strlen(r.g.system)))
        kos_fuzz_fail("a record parsed with a bad system name");
    if (r.n_blobs < 1 || r.n_blobs > KOS__IMAGE_MAX_ENTRIES || r.sig_len < 1 ||
        r.sig_len > KOS__IMAGE_SIG_MAX)
        kos_fuzz_fail("a record parsed with %u blobs and %zu bytes of image.sig", r.n_blobs,
                      r.sig_len);
    size_t n = kos__store_format_record(&r, out, sizeof(out));
    if (n != len || memcmp(out, text, len) != 0)
        kos_fuzz_fail("a record parsed does not format back to the same bytes");
    return 0;
}
