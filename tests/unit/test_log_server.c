/*
 * test_log_server.c - the pieces of log_server that hold its guarantees:
 * the record encoding (lib/logsrv.c), the store format and its recovery from
 * damage, the ring, the token bucket and the bounded store file.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bucket.h"
#include "logsrv_int.h"
#include "ring.h"
#include "store.h"

static struct kos__logrec rec(uint64_t seq, const char *app, const char *text)
{
    return (struct kos__logrec){.seq = seq,
                                .time_ns = 1700000000123456789 + (int64_t)seq,
                                .level = KOS_LOG_INFO,
                                .app = app,
                                .app_len = (uint8_t)strlen(app),
                                .text = text,
                                .text_len = (uint16_t)strlen(text)};
}

static void test_record_roundtrip(void **state)
{
    uint8_t buf[KOS__LOGREC_MAX];
    struct kos__logrec r = rec(42, "sensor", "temperature 21.5"), d;
    size_t n, used;
    (void)state;

    r.flags = KOS_LOGSRV_NOTICE;
    r.level = KOS_LOG_WARN;
    n = kos__logrec_encode(&r, buf, sizeof(buf));
    assert_int_equal(n, KOS__LOGREC_HDR + 6 + 16);
    assert_int_equal(kos__logrec_decode(buf, n, &d, &used), KOS_STATUS_OK);
    assert_int_equal(used, n);
    assert_int_equal(d.seq, 42);
    assert_int_equal(d.time_ns, r.time_ns);
    assert_int_equal(d.level, KOS_LOG_WARN);
    assert_int_equal(d.flags, KOS_LOGSRV_NOTICE);
    assert_memory_equal(d.app, "sensor", 6);
    assert_memory_equal(d.text, "temperature 21.5", 16);

    /* every truncation is refused */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(kos__logrec_decode(buf, k, &d, &used), KOS_STATUS_PROTOCOL);
    /* does not fit */
    assert_int_equal(kos__logrec_encode(&r, buf, n - 1), 0);
}

static void test_record_invalid(void **state)
{
    uint8_t buf[KOS__LOGREC_MAX], bad[KOS__LOGREC_MAX];
    struct kos__logrec r = rec(1, "app", "text"), d;
    char big[KOS_LOGSRV_TEXT_MAX + 2];
    size_t n, used;
    (void)state;

    n = kos__logrec_encode(&r, buf, sizeof(buf));
    assert_true(n > 0);
    memcpy(bad, buf, n);
    bad[16] = 4; /* level */
    assert_int_equal(kos__logrec_decode(bad, n, &d, &used), KOS_STATUS_PROTOCOL);
    memcpy(bad, buf, n);
    bad[17] = 0x80; /* unknown flag */
    assert_int_equal(kos__logrec_decode(bad, n, &d, &used), KOS_STATUS_PROTOCOL);
    memcpy(bad, buf, n);
    bad[19] = 1; /* reserved */
    assert_int_equal(kos__logrec_decode(bad, n, &d, &used), KOS_STATUS_PROTOCOL);
    memcpy(bad, buf, n);
    bad[18] = 0; /* no app name */
    assert_int_equal(kos__logrec_decode(bad, n, &d, &used), KOS_STATUS_PROTOCOL);
    memcpy(bad, buf, n);
    bad[KOS__LOGREC_HDR] = '-'; /* name starting with '-' */
    assert_int_equal(kos__logrec_decode(bad, n, &d, &used), KOS_STATUS_PROTOCOL);
    memcpy(bad, buf, n);
    bad[KOS__LOGREC_HDR + 3] = 0; /* NUL in the text */
    assert_int_equal(kos__logrec_decode(bad, n, &d, &used), KOS_STATUS_PROTOCOL);
    memcpy(bad, buf, n);
    bad[20] = 0xff; /* text_len past the end */
    assert_int_equal(kos__logrec_decode(bad, n, &d, &used), KOS_STATUS_PROTOCOL);

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    r = rec(1, "app", big);
    assert_int_equal(kos__logrec_encode(&r, buf, sizeof(buf)), 0);
}

static void test_record_format(void **state)
{
    struct kos__logrec r = rec(1, "pong", "a\nb\\c\x01");
    char line[256];
    (void)state;

    r.time_ns = 1700000000123456789;
    kos__logrec_format(&r, line, sizeof(line));
    assert_string_equal(line, "2023-11-14T22:13:20.123456Z pong: info: a\\nb\\\\c\\x01\n");
    /* cut but terminated */
    assert_true(kos__logrec_format(&r, line, 10) <= 9);
    assert_int_equal(strlen(line), 9);
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(kos__crc32("123456789", 9), 0xcbf43926u); /* the check value */
    assert_int_equal(kos__crc32("", 0), 0);
    /* Every byte value, against the bit-at-a-time definition. */
    uint8_t all[256];
    uint32_t crc = 0xffffffffu;
    for (int i = 0; i < 256; i++) {
        all[i] = (uint8_t)(255 - i);
        crc ^= all[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    assert_int_equal(kos__crc32(all, sizeof(all)), ~crc);
}

/* ---- store format ---- */

struct collected {
    uint64_t seqs[64];
    size_t n;
};

static void collect(const struct kos__logrec *r, uint64_t off, void *arg)
{
    struct collected *c = arg;
    (void)off;
    if (c->n < 64)
        c->seqs[c->n++] = r->seq;
}

/* Builds a store image of records 1..n into buf; returns its length and the
 * offset of each frame in offs. */
static size_t build_store(uint8_t *buf, size_t cap, int n, size_t *offs)
{
    size_t len = KOS__LOGSTORE_HDR;
    char text[32];

    memcpy(buf, KOS__LOGSTORE_MAGIC, KOS__LOGSTORE_HDR);
    for (int i = 1; i <= n; i++) {
        snprintf(text, sizeof(text), "record %d", i);
        struct kos__logrec r = rec((uint64_t)i, "writer", text);
        offs[i] = len;
        size_t f = kos__logstore_frame(&r, buf + len, cap - len);
        assert_true(f > 0);
        len += f;
    }
    offs[n + 1] = len;
    return len;
}

static void test_store_scan_ok(void **state)
{
    uint8_t buf[4096];
    size_t offs[12];
    struct collected c = {0};
    struct kos__logstore_report rep;
    size_t len = build_store(buf, sizeof(buf), 10, offs);
    (void)state;

    assert_int_equal(kos__logstore_scan(buf, len, collect, &c, &rep), KOS_STATUS_OK);
    assert_int_equal(rep.records, 10);
    assert_int_equal(c.n, 10);
    assert_int_equal(c.seqs[9], 10);
    assert_true(rep.header_ok);
    assert_int_equal(rep.bad_regions, 0);
    /* empty file and header only */
    assert_int_equal(kos__logstore_scan(buf, 0, NULL, NULL, &rep), KOS_STATUS_OK);
    assert_int_equal(kos__logstore_scan(buf, KOS__LOGSTORE_HDR, NULL, NULL, &rep), KOS_STATUS_OK);
    assert_int_equal(rep.records, 0);
}

static void test_store_scan_truncated(void **state)
{
    uint8_t buf[4096];
    size_t offs[12];
    struct collected c = {0};
    struct kos__logstore_report rep;
    size_t len = build_store(buf, sizeof(buf), 10, offs);
    (void)state;

    /* cut in the middle of record 10: records 1..9 kept */
    assert_int_equal(kos__logstore_scan(buf, len - 5, collect, &c, &rep), KOS_STATUS_PROTOCOL);
    assert_int_equal(rep.records, 9);
    assert_int_equal(c.n, 9);
    assert_true(rep.truncated);
    assert_int_equal(rep.first_bad, offs[10]);
    assert_int_equal(rep.bad_bytes, len - 5 - offs[10]);
    /* every cut point keeps exactly the whole frames before it */
    for (size_t cut = KOS__LOGSTORE_HDR; cut < len; cut++) {
        int whole = 0;
        for (int i = 1; i <= 10; i++)
            whole += offs[i + 1] <= cut;
        memset(&c, 0, sizeof(c));
        (void)kos__logstore_scan(buf, cut, collect, &c, &rep);
        assert_int_equal(rep.records, (uint64_t)whole);
    }
}

static void test_store_scan_corrupt(void **state)
{
    uint8_t buf[4096];
    size_t offs[12];
    struct collected c = {0};
    struct kos__logstore_report rep;
    size_t len = build_store(buf, sizeof(buf), 10, offs);
    (void)state;

    /* one flipped bit in record 4's text, garbage over record 7's header */
    buf[offs[5] - 2] ^= 0x10;
    memset(buf + offs[7], 0xa5, 6);
    assert_int_equal(kos__logstore_scan(buf, len, collect, &c, &rep), KOS_STATUS_PROTOCOL);
    assert_int_equal(rep.records, 8);
    assert_int_equal(rep.bad_regions, 2);
    assert_int_equal(rep.first_bad, offs[4]);
    assert_int_equal(rep.bad_bytes, (offs[5] - offs[4]) + (offs[8] - offs[7]));
    assert_false(rep.truncated);
    uint64_t want[] = {1, 2, 3, 5, 6, 8, 9, 10};
    assert_int_equal(c.n, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(c.seqs[i], want[i]);

    /* a damaged header: records are still found */
    len = build_store(buf, sizeof(buf), 3, offs);
    buf[0] = 'X';
    memset(&c, 0, sizeof(c));
    assert_int_equal(kos__logstore_scan(buf, len, collect, &c, &rep), KOS_STATUS_PROTOCOL);
    assert_false(rep.header_ok);
    assert_int_equal(rep.records, 3);

    /* random garbage yields nothing and does not crash */
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    memset(&c, 0, sizeof(c));
    (void)kos__logstore_scan(buf, sizeof(buf), collect, &c, &rep);
    assert_int_equal(rep.records, 0);
}

/* ---- ring ---- */

static void test_ring(void **state)
{
    struct ring *ring = ring_create(4);
    char text[16];
    (void)state;

    assert_non_null(ring);
    assert_int_equal(ring_count(ring), 0);
    assert_int_equal(ring_find(ring, 0), 0);
    for (uint64_t s = 1; s <= 6; s++) {
        snprintf(text, sizeof(text), "t%llu", (unsigned long long)s);
        struct kos__logrec r = rec(s * 10, "app", text);
        assert_int_equal(ring_push(ring, &r), KOS_STATUS_OK);
    }
    /* holds the newest 4, oldest first, as private copies */
    assert_int_equal(ring_count(ring), 4);
    assert_int_equal(ring_at(ring, 0)->seq, 30);
    assert_int_equal(ring_at(ring, 3)->seq, 60);
    assert_memory_equal(ring_at(ring, 3)->text, "t6", 2);
    assert_int_equal(ring_find(ring, 0), 0);
    assert_int_equal(ring_find(ring, 30), 0);
    assert_int_equal(ring_find(ring, 31), 1);
    assert_int_equal(ring_find(ring, 60), 3);
    assert_int_equal(ring_find(ring, 61), 4);
    /* out of order or invalid: refused, nothing changes */
    struct kos__logrec r = rec(60, "app", "dup");
    assert_int_equal(ring_push(ring, &r), KOS_STATUS_INVALID_ARGUMENT);
    r = rec(70, "", "no app");
    assert_int_equal(ring_push(ring, &r), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(ring_count(ring), 4);
    ring_destroy(ring);
    ring_destroy(NULL);
    assert_null(ring_create(0));
}

/* ---- token bucket ---- */

static void test_bucket(void **state)
{
    struct bucket b;
    uint64_t t = 1000;
    int ok = 0;
    (void)state;

    bucket_init(&b, 5, t);
    for (int i = 0; i < 10; i++)
        ok += bucket_take(&b, 2, 5, t);
    assert_int_equal(ok, 5);                            /* the burst */
    assert_false(bucket_take(&b, 2, 5, t + 499999999)); /* 0.999 token */
    assert_true(bucket_take(&b, 2, 5, t + 500000000));  /* 2/s: one per 0.5 s */
    assert_false(bucket_take(&b, 2, 5, t + 500000000));
    /* a long pause refills to the burst only */
    t += 3600ull * 1000000000ull;
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += bucket_take(&b, 2, 5, t);
    assert_int_equal(ok, 5);
    /* time going backwards adds nothing */
    assert_false(bucket_take(&b, 2, 5, t - 1000000000ull));
    /* rate 0: no limit */
    for (int i = 0; i < 1000; i++)
        assert_true(bucket_take(&b, 0, 5, t));
    /* over 10 s at 100/s with burst 20, at most 20 + 1000 are taken */
    bucket_init(&b, 20, 0);
    ok = 0;
    for (uint64_t ns = 0; ns <= 10000000000ull; ns += 1000000) /* 1 ms steps, 2 tries each */
        ok += bucket_take(&b, 100, 20, ns) + bucket_take(&b, 100, 20, ns);
    assert_int_equal(ok, 1020);
    /* extreme settings do not overflow */
    bucket_init(&b, BUCKET_MAX, 0);
    assert_true(bucket_take(&b, BUCKET_MAX, BUCKET_MAX, UINT64_MAX));
    bucket_init(&b, 1, 0);
    assert_true(bucket_take(&b, 1, 1, 0));
    assert_true(bucket_take(&b, 1, 1, UINT64_MAX));
}

/* ---- the store file ---- */

static char tmpdir[64];

static int store_setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/kos-logstore-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int store_teardown(void **state)
{
    char path[128];
    (void)state;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, KOS_STORE_FILE);
    unlink(path);
    rmdir(tmpdir);
    return 0;
}

struct loaded {
    struct ring *ring;
    uint64_t n;
};

static void load(const struct kos__logrec *r, uint64_t off, void *arg)
{
    struct loaded *l = arg;
    (void)off;
    assert_int_equal(ring_push(l->ring, r), KOS_STATUS_OK);
    l->n++;
}

static void test_store_file(void **state)
{
    struct store s;
    struct kos__logstore_report rep;
    struct loaded l = {.ring = ring_create(1000)};
    uint8_t frame[KOS__LOGSTORE_FRAME_MAX];
    char err[256], text[600], path[128];
    struct stat stt;
    (void)state;

    assert_int_equal(
        store_open(&s, tmpdir, KOS_STORE_MIN_SIZE, true, load, &l, &rep, err, sizeof(err)),
        KOS_STATUS_OK);
    assert_int_equal(l.n, 0);
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = 0;
    /* 400 records of ~650 bytes: far over 128 KiB, so it is rewritten */
    for (uint64_t i = 1; i <= 400; i++) {
        struct kos__logrec r = rec(i, "writer", text);
        assert_int_equal(ring_push(l.ring, &r), KOS_STATUS_OK);
        size_t n = kos__logstore_frame(&r, frame, sizeof(frame));
        assert_int_equal(store_append(&s, frame, n, l.ring), KOS_STATUS_OK);
        assert_true(s.size <= KOS_STORE_MIN_SIZE);
    }
    store_close(&s);
    snprintf(path, sizeof(path), "%s/%s", tmpdir, KOS_STORE_FILE);
    assert_int_equal(stat(path, &stt), 0);
    assert_true(stt.st_size <= KOS_STORE_MIN_SIZE);
    assert_int_equal(stt.st_mode & 0777, 0600);

    /* reopen: the newest records are there, ending with 400 */
    ring_destroy(l.ring);
    l.ring = ring_create(1000);
    l.n = 0;
    assert_int_equal(
        store_open(&s, tmpdir, KOS_STORE_MIN_SIZE, true, load, &l, &rep, err, sizeof(err)),
        KOS_STATUS_OK);
    assert_true(l.n > 50);
    assert_int_equal(rep.bad_regions, 0);
    assert_int_equal(ring_at(l.ring, ring_count(l.ring) - 1)->seq, 400);
    store_close(&s);

    /* a torn last write: the valid part is kept and reported */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x4c\x47\x52\x31\x40\x00", 6), 6);
    close(fd);
    uint64_t before = l.n;
    ring_destroy(l.ring);
    l.ring = ring_create(1000);
    l.n = 0;
    assert_int_equal(
        store_open(&s, tmpdir, KOS_STORE_MIN_SIZE, true, load, &l, &rep, err, sizeof(err)),
        KOS_STATUS_OK);
    assert_int_equal(l.n, before);
    assert_true(rep.truncated);
    assert_int_equal(rep.bad_bytes, 6);
    /* the server then rewrites it: clean again, nothing valid lost */
    assert_int_equal(store_rewrite(&s, l.ring, KOS_STORE_MIN_SIZE), KOS_STATUS_OK);
    store_close(&s);
    ring_destroy(l.ring);
    l.ring = ring_create(1000);
    l.n = 0;
    assert_int_equal(
        store_open(&s, tmpdir, KOS_STORE_MIN_SIZE, true, load, &l, &rep, err, sizeof(err)),
        KOS_STATUS_OK);
    assert_int_equal(rep.bad_regions, 0);
    assert_int_equal(l.n, before);
    store_close(&s);
    ring_destroy(l.ring);

    /* a missing directory is an error with a sentence */
    assert_int_equal(store_open(&s, "/nonexistent/kos", KOS_STORE_MIN_SIZE, true, NULL, NULL, &rep,
                                err, sizeof(err)),
                     KOS_STATUS_IO);
    assert_non_null(strstr(err, "/nonexistent/kos"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_roundtrip),
        cmocka_unit_test(test_record_invalid),
        cmocka_unit_test(test_record_format),
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_store_scan_ok),
        cmocka_unit_test(test_store_scan_truncated),
        cmocka_unit_test(test_store_scan_corrupt),
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test_setup_teardown(test_store_file, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
