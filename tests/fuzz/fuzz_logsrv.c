/*
 * fuzz_logsrv.c - libFuzzer harness for kos_log_protocol's decoders
 * (lib/logsrv.c) and the log_server's store file as it is read back after a
 * restart (components/log_server/store.c and ring.c).
 *
 * The first input byte picks what the rest is (sel % 5):
 *   0  one encoded record, through kos__logrec_decode(), then printed with
 *      kos__logrec_format() into a buffer of (sel / 5) * 8 + 1 bytes and
 *      into one large enough for any record;
 *   1  a whole store file held in memory, through kos__logstore_scan();
 *   2  a store file on disk: written as kos_log.store into a scratch data
 *      directory, opened with store_open() loading each record into a ring
 *      as log_server does, repaired with store_rewrite() when the scan found
 *      damage, then opened again;
 *   3  a query request, through kos__logq_decode();
 *   4  a setting's value (text to the first NUL), through the size,
 *      duration, number and boolean parsers of lib/config.c, which every
 *      component and the manifest reader share.
 *
 * The promises checked (logsrv_int.h, store.h): a decoded record is valid
 * and encodes back to the bytes it came from; a printed record is one line,
 * NUL-terminated within its buffer, with no control character left
 * unescaped, nor invalid UTF-8, a C1 control, a separator or a bidi
 * control (escaping it again changes nothing); a scan accounts for every
 * byte (header, delivered frames, skipped regions), delivers frames that
 * frame back to the bytes at their offsets in increasing order, and calls
 * the file valid exactly when nothing was skipped; a store that was repaired
 * reads back clean with exactly the records the ring kept; a decoded query
 * encodes back to the same bytes; a setting read as a number is its digits
 * times its unit's multiplier, without overflow, and a value refused gets
 * one sentence naming the setting.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"
#include "fuzz.h"
#include "logsrv_int.h"
#include "ring.h"
#include "store.h"
#include "text_int.h"

enum { SEL_RECORD, SEL_SCAN, SEL_STORE, SEL_QUERY, SEL_CONFIG };

#define MAX_BYTES KOS_STORE_MIN_SIZE /* the smallest store log_server allows */
#define RING_CAP  64u                /* the smallest ring it allows */

static struct {
    bool ready;
    char dir[64];
    char path[128];
    uint8_t enc[KOS__LOGSTORE_FRAME_MAX];
    char line[4 * KOS_LOGSRV_TEXT_MAX + 256];
} fz;

static void cleanup(void)
{
    char tmp[160];

    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", fz.dir, KOS_STORE_FILE);
    unlink(fz.path);
    unlink(tmp);
    rmdir(fz.dir);
}

static void setup(void)
{
    snprintf(fz.dir, sizeof(fz.dir), "/tmp/kos-fuzz-logsrv.XXXXXX");
    if (!mkdtemp(fz.dir))
        kos_fuzz_fail("mkdtemp: %s", strerror(errno));
    snprintf(fz.path, sizeof(fz.path), "%s/%s", fz.dir, KOS_STORE_FILE);
    atexit(cleanup);
    fz.ready = true;
}

/* Checks a printed record: n bytes, NUL-terminated, one line at most, and
 * safe for a terminal: escaping it again changes nothing, so it holds no
 * control, no invalid UTF-8, no separator or bidi control. */
static void check_line(const char *out, size_t n, size_t cap)
{
    static char again[KOS__TEXT_ESCAPED_MAX(sizeof(fz.line))];
    size_t len, used, m;

    if (n >= cap || out[n] != '\0' || strlen(out) != n)
        kos_fuzz_fail("kos__logrec_format returned %zu for a %zu-byte buffer", n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if ((c < 0x20 || c == 0x7f) && !(c == '\n' && i == n - 1))
            kos_fuzz_fail("kos__logrec_format left byte %#x unescaped at %zu", c, i);
    }
    len = n && out[n - 1] == '\n' ? n - 1 : n;
    m = kos__text_escape(again, sizeof(again), out, len, &used);
    if (used != len || m != len || memcmp(again, out, len) != 0)
        kos_fuzz_fail("kos__logrec_format left text a terminal would act on");
}

static void run_record(const uint8_t *p, size_t len, unsigned param)
{
    struct kos__logrec r;
    size_t used = 0, n, cap = (size_t)param * 8 + 1;
    char *small;

    if (kos__logrec_decode(p, len, &r, &used) != KOS_STATUS_OK)
        return;
    if (!kos__logrec_valid(&r) || used > len || used != kos__logrec_size(&r))
        kos_fuzz_fail("kos__logrec_decode accepted an invalid record (%zu of %zu bytes)", used,
                      len);
    n = kos__logrec_encode(&r, fz.enc, sizeof(fz.enc));
    if (n != used || memcmp(fz.enc, p, n) != 0)
        kos_fuzz_fail("a decoded record encodes back to %zu other bytes (from %zu)", n, used);
    n = kos__logrec_format(&r, fz.line, sizeof(fz.line));
    check_line(fz.line, n, sizeof(fz.line));
    if (n == 0 || fz.line[n - 1] != '\n')
        kos_fuzz_fail("a record does not print as a whole line in %zu bytes", sizeof(fz.line));
    small = malloc(cap); /* exactly cap bytes, so ASan sees an overrun */
    if (!small)
        kos_fuzz_fail("out of memory");
    n = kos__logrec_format(&r, small, cap);
    check_line(small, n, cap);
    if (strncmp(small, fz.line, n && small[n - 1] == '\n' ? n - 1 : n) != 0)
        kos_fuzz_fail("a record printed in %zu bytes is not the start of its whole line", cap);
    free(small);
}

struct scan_state {
    const uint8_t *buf;
    size_t len;
    uint64_t next;  /* the least offset the next record may start at */
    uint64_t bytes; /* framed bytes delivered */
    uint64_t n;
};

static void on_record(const struct kos__logrec *r, uint64_t off, void *arg)
{
    struct scan_state *s = arg;
    size_t n;

    if (off < s->next || off >= s->len)
        kos_fuzz_fail("kos__logstore_scan delivered a record at %llu after %llu",
                      (unsigned long long)off, (unsigned long long)s->next);
    n = kos__logstore_frame(r, fz.enc, sizeof(fz.enc));
    if (n == 0 || n > s->len - off || memcmp(fz.enc, s->buf + off, n) != 0)
        kos_fuzz_fail("the record delivered at %llu does not frame back to its bytes",
                      (unsigned long long)off);
    s->next = off + n;
    s->bytes += n;
    s->n++;
}

static void run_scan(const uint8_t *p, size_t len)
{
    struct scan_state s = {.buf = p, .len = len};
    struct kos__logstore_report rep;
    kos_status_t st;
    uint64_t hdr;

    st = kos__logstore_scan(p, len, on_record, &s, &rep);
    hdr = len && rep.header_ok ? KOS__LOGSTORE_HDR : 0;
    if (rep.records != s.n)
        kos_fuzz_fail("kos__logstore_scan counts %llu records but delivered %llu",
                      (unsigned long long)rep.records, (unsigned long long)s.n);
    if (hdr + s.bytes + rep.bad_bytes != len)
        kos_fuzz_fail("kos__logstore_scan accounts for %llu + %llu + %llu of %zu bytes",
                      (unsigned long long)hdr, (unsigned long long)s.bytes,
                      (unsigned long long)rep.bad_bytes, len);
    if ((st == KOS_STATUS_OK) != (rep.header_ok && rep.bad_regions == 0))
        kos_fuzz_fail("kos__logstore_scan returns %s with header_ok %d and %llu bad regions",
                      kos_status_str(st), rep.header_ok, (unsigned long long)rep.bad_regions);
    if ((rep.bad_regions == 0) != (rep.bad_bytes == 0) ||
        (rep.bad_regions && rep.first_bad >= len) || rep.bad_regions > len)
        kos_fuzz_fail("kos__logstore_scan reports %llu bad regions, %llu bytes, first at %llu",
                      (unsigned long long)rep.bad_regions, (unsigned long long)rep.bad_bytes,
                      (unsigned long long)rep.first_bad);
}

/* log_server's load_record(): out-of-order sequence numbers are skipped. */
static void load_record(const struct kos__logrec *r, uint64_t offset, void *arg)
{
    (void)offset;
    uint32_t n = ring_count(arg);

    if (ring_push(arg, r) != KOS_STATUS_OK && kos__logrec_valid(r) &&
        (n == 0 || r->seq > ring_at(arg, n - 1)->seq))
        kos_fuzz_fail("ring_push refuses a valid record in sequence");
}

static void write_store(const uint8_t *p, size_t len)
{
    int fd = open(fz.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || (len && write(fd, p, len) != (ssize_t)len) || close(fd) != 0)
        kos_fuzz_fail("cannot write %s: %s", fz.path, strerror(errno));
}

static void same_record(const struct kos__logrec *a, const struct kos__logrec *b)
{
    if (a->seq != b->seq || a->time_ns != b->time_ns || a->level != b->level ||
        a->flags != b->flags || a->app_len != b->app_len || a->text_len != b->text_len ||
        memcmp(a->app, b->app, a->app_len) != 0 ||
        (a->text_len && memcmp(a->text, b->text, a->text_len) != 0))
        kos_fuzz_fail("record %llu reads back changed from the store", (unsigned long long)a->seq);
}

static void run_store(const uint8_t *p, size_t len)
{
    struct ring *ring = ring_create(RING_CAP), *again = ring_create(RING_CAP);
    struct kos__logstore_report rep, rep2;
    struct store s;
    char err[256];
    bool rewritten;
    kos_status_t st;

    if (!ring || !again)
        kos_fuzz_fail("out of memory");
    unlink(fz.path);
    if (len)
        write_store(p, len);
    st = store_open(&s, fz.dir, MAX_BYTES, false, load_record, ring, &rep, err, sizeof(err));
    if (st != KOS_STATUS_OK)
        kos_fuzz_fail("store_open refuses a regular file: %s", err);
    for (uint32_t i = 1; i < ring_count(ring); i++)
        if (ring_at(ring, i)->seq <= ring_at(ring, i - 1)->seq)
            kos_fuzz_fail("the ring loaded from the store is out of order");
    rewritten = !rep.header_ok || rep.bad_regions || s.size > MAX_BYTES;
    if (rewritten) {
        st = store_rewrite(&s, ring, MAX_BYTES);
        if (st != KOS_STATUS_OK)
            kos_fuzz_fail("store_rewrite failed: %s", kos_status_str(st));
    }
    store_close(&s);
    st = store_open(&s, fz.dir, MAX_BYTES, false, load_record, again, &rep2, err, sizeof(err));
    if (st != KOS_STATUS_OK)
        kos_fuzz_fail("store_open refuses the store it rewrote: %s", err);
    store_close(&s);
    if (!rep2.header_ok || rep2.bad_regions || rep2.truncated)
        kos_fuzz_fail("a repaired store reads back damaged (%llu bad bytes)",
                      (unsigned long long)rep2.bad_bytes);
    /* Read back: the ring's records, or when rewritten the newest of them
     * that fit in max_bytes (store.h). */
    uint32_t first = ring_count(ring);
    uint64_t used = KOS__LOGSTORE_HDR;
    while (rewritten && first > 0 &&
           used + KOS__LOGSTORE_FRAME_HDR + kos__logrec_size(ring_at(ring, first - 1)) <= MAX_BYTES)
        used += KOS__LOGSTORE_FRAME_HDR + kos__logrec_size(ring_at(ring, --first));
    if (!rewritten)
        first = 0;
    if (ring_count(again) != ring_count(ring) - first)
        kos_fuzz_fail("the ring held %u records (%u to keep), the store read back %u",
                      ring_count(ring), ring_count(ring) - first, ring_count(again));
    for (uint32_t i = first; i < ring_count(ring); i++)
        same_record(ring_at(ring, i), ring_at(again, i - first));
    ring_destroy(ring);
    ring_destroy(again);
}

static void run_query(const uint8_t *p, size_t len)
{
    struct kos__logq q;
    size_t n;

    if (kos__logq_decode(p, len, &q) != KOS_STATUS_OK)
        return;
    if (q.min_level > KOS_LOG_ERROR || q.app_len > KOS__LOGREC_APP_MAX ||
        len != KOS__LOGQ_HDR + (size_t)q.app_len)
        kos_fuzz_fail("kos__logq_decode accepted level %u, app of %u bytes in %zu", q.min_level,
                      q.app_len, len);
    n = kos__logq_encode(&q, fz.enc, sizeof(fz.enc));
    if (n != len || memcmp(fz.enc, p, len) != 0)
        kos_fuzz_fail("a decoded query encodes back to %zu other bytes", n);
}

/* Checks what a config_int.h parser made of text: its leading digits times
 * the multiplier of the unit that follows them (after spaces, when
 * `spaced` and there is a unit). */
static void check_number(const char *text, uint64_t v, const char *const *units,
                         const uint64_t *mul, bool spaced)
{
    unsigned __int128 q = 0;
    size_t i = 0, j;

    while (text[i] >= '0' && text[i] <= '9') {
        q = q * 10 + (unsigned)(text[i++] - '0');
        if (q > UINT64_MAX)
            kos_fuzz_fail("config parser accepted '%.40s', which overflows", text);
    }
    if (i == 0)
        kos_fuzz_fail("config parser accepted '%.40s' without digits", text);
    for (j = i; spaced && text[j] == ' ';)
        j++;
    for (size_t u = 0; units[u]; u++)
        if (!strcmp(text + (units[u][0] ? j : i), units[u])) {
            if (q * mul[u] != v)
                kos_fuzz_fail("config parser read '%.40s' as %llu", text, (unsigned long long)v);
            return;
        }
    kos_fuzz_fail("config parser accepted '%.40s' with an unknown unit", text);
}

/* A refused value's sentence: one line, naming the setting. */
static void check_refusal(kos_status_t st, const char *err)
{
    if (st == KOS_STATUS_OK)
        return;
    if (st != KOS_STATUS_INVALID_ARGUMENT || strncmp(err, "config k: '", 11) != 0 ||
        strchr(err, '\n'))
        kos_fuzz_fail("a refused setting got %s, '%.60s'", kos_status_str(st), err);
}

static void run_config(const uint8_t *p, size_t len)
{
    static const char *const sizes[] = {"",   "B",  "KiB", "MiB", "GiB", "TiB",
                                        "kB", "MB", "GB",  "TB",  NULL};
    static const uint64_t size_mul[] = {1,          1,    1ull << 10, 1ull << 20, 1ull << 30,
                                        1ull << 40, 1000, 1000000,    1000000000, 1000000000000};
    static const char *const durations[] = {"ms", "s", "m", "h", NULL};
    static const uint64_t duration_mul[] = {1, 1000, 60000, 3600000};
    char text[256], err[KOS__CFG_ERR_MAX];
    uint64_t v = 0;
    bool b = false;

    if (len >= sizeof(text))
        len = sizeof(text) - 1;
    memcpy(text, p, len);
    text[len] = '\0';
    len = strlen(text);
    if (kos__parse_size(text, len, &v) == KOS_STATUS_OK)
        check_number(text, v, sizes, size_mul, true);
    if (kos__parse_duration_ms(text, len, &v) == KOS_STATUS_OK) {
        check_number(text, v, durations, duration_mul, false);
        if (v > KOS__DURATION_MAX_MS)
            kos_fuzz_fail("duration '%.40s' read as %llu ms", text, (unsigned long long)v);
    }
    if (kos__cfg_parse_bool("k", text, &b, err, sizeof(err)) == KOS_STATUS_OK &&
        strcmp(text, b ? "true" : "false") != 0)
        kos_fuzz_fail("kos__cfg_parse_bool read '%.40s' as %d", text, b);
    check_refusal(kos__cfg_parse_size("k", text, 1024, 1ull << 40, &v, err, sizeof(err)), err);
    check_refusal(kos__cfg_parse_duration_ms("k", text, 1, 600000, &v, err, sizeof(err)), err);
    check_refusal(kos__cfg_parse_uint("k", text, 0, UINT64_MAX, &v, err, sizeof(err)), err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.ready)
        setup();
    if (size == 0)
        return 0;
    switch (data[0] % 5) {
    case SEL_RECORD:
        run_record(data + 1, size - 1, data[0] / 5);
        break;
    case SEL_SCAN:
        run_scan(data + 1, size - 1);
        break;
    case SEL_STORE:
        run_store(data + 1, size - 1);
        break;
    case SEL_QUERY:
        run_query(data + 1, size - 1);
        break;
    default:
        run_config(data + 1, size - 1);
        break;
    }
    return 0;
}
