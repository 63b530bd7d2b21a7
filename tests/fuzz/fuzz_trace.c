/*
 * fuzz_trace.c - what Core reads of a tracing ring an app wrote
 * (kos__trace_take, lib/trace.c) and what admin reads of Core's TRACES
 * record (kos__sys_traces_decode). The input's first byte chooses which;
 * for the ring, the rest is laid over a fresh ring after its header (the
 * counters and the slots, as a hostile app may write them), and it is
 * drained as Core drains it, twice (a stalled slot is skipped on the
 * second take). Promises checked: every record taken is valid for its kind
 * of ring (its kind, its message server's index, a NUL-terminated name that
 * is a KOS name for directory events and empty for calls), at most `max`
 * are taken, and a decoded TRACES record encodes back to the same bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "sys_int.h"
#include "trace_int.h"

static void check(const struct kos__trace_rec *r, bool dir_kinds, uint32_t n_dirs)
{
    size_t n = strnlen(r->name, sizeof(r->name));

    if (n == sizeof(r->name) || r->status >= KOS_STATUS__COUNT)
        kos_fuzz_fail("a record taken with an unterminated name or a bad status");
    if (dir_kinds && (!kos__trace_kind_dir(r->kind) || !kos__name_valid(r->name, n)))
        kos_fuzz_fail("a directory event taken that is not one");
    if (!dir_kinds &&
        ((r->kind != KOS__TRACE_CALL && r->kind != KOS__TRACE_SERVE) || r->dir >= n_dirs || n != 0))
        kos_fuzz_fail("a call record taken that is not one");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kos__trace_shm *ring;
    static struct kos__trace_rec out[64];
    static struct kos__sys_traces t;
    static uint8_t buf[KOS__CTL_MAX];
    size_t hdr = offsetof(struct kos__trace_shm, on);

    if (size < 1)
        return 0;
    if (data[0] & 1) {
        size_t len;
        if (kos__sys_traces_decode(data + 1, size - 1, &t) != KOS_STATUS_OK)
            return 0;
        if (kos__sys_traces_encode(&t, buf, sizeof(buf), &len) != KOS_STATUS_OK ||
            len != size - 1 || memcmp(buf, data + 1, len) != 0)
            kos_fuzz_fail("a TRACES record decoded does not encode back to itself");
        return 0;
    }
    if (!ring) {
        int fd;
        if (kos__trace_create(&fd, &ring) != KOS_STATUS_OK)
            abort();
    }
    bool dir_kinds = data[0] & 2;
    uint32_t n_dirs = (data[0] >> 2) & 7;
    size_t max = 1 + (data[0] >> 5) * 8;
    struct kos__trace_reader rd;

    kos__trace_reset(ring, &rd, true);
    size--;
    data++;
    if (size > KOS__TRACE_SIZE - hdr)
        size = KOS__TRACE_SIZE - hdr;
    memcpy((uint8_t *)ring + hdr, data, size);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t lost = 0;
        size_t n = kos__trace_take(ring, &rd, dir_kinds, n_dirs, out, max, &lost);
        if (n > max)
            kos_fuzz_fail("more records taken than asked for");
        for (size_t i = 0; i < n; i++)
            check(&out[i], dir_kinds, n_dirs);
        kos__trace_commit(ring, &rd);
    }
    return 0;
}
