/*
 * test_trace.c - message tracing's ring (lib/trace.c) and the system
 * interface's TRACES record (lib/sys.c): the memfd is sealed and checked
 * when mapped, a full ring counts drops instead of waiting, Core's reader
 * takes only published and valid records and skips a slot that stays
 * unpublished, and a batch of records encodes and decodes to itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "sys_int.h"
#include "trace_int.h"

static struct kos__trace_rec call(uint32_t label)
{
    return (struct kos__trace_rec){.kind = KOS__TRACE_CALL,
                                   .channel = 3,
                                   .label = label,
                                   .req_len = 16,
                                   .rep_len = 8,
                                   .time_ns = 1,
                                   .dur_ns = 2};
}

static void test_map(void **state)
{
    struct kos__trace_shm *a, *b;
    int fd;
    (void)state;

    assert_int_equal(kos__trace_create(&fd, &a), KOS_STATUS_OK);
    assert_int_equal(kos__trace_map(fd, &b), KOS_STATUS_OK);
    assert_int_equal(atomic_load(&b->on), 0);
    atomic_store(&a->on, 1);
    assert_int_equal(atomic_load(&b->on), 1);
    assert_int_equal(ftruncate(fd, 4096), -1); /* sealed */
    kos__trace_unmap(b);
    kos__trace_unmap(a);
    close(fd);
    /* Not a ring: a plain memfd. */
    fd = memfd_create("x", MFD_CLOEXEC);
    assert_int_equal(ftruncate(fd, (off_t)KOS__TRACE_SIZE), 0);
    assert_int_equal(kos__trace_map(fd, &b), KOS_STATUS_PROTOCOL);
    close(fd);
    /* With no ring, tracing reads as off. */
    assert_false(kos__trace_enabled(&kos__trace_never));
}

static void test_put_take(void **state)
{
    static struct kos__trace_rec out[KOS__TRACE_SLOTS];
    struct kos__trace_reader rd;
    struct kos__trace_shm *r;
    uint64_t lost = 0;
    int fd;
    (void)state;

    assert_int_equal(kos__trace_create(&fd, &r), KOS_STATUS_OK);
    kos__trace_reset(r, &rd, true);
    for (uint32_t i = 0; i < KOS__TRACE_SLOTS + 10; i++) {
        struct kos__trace_rec c = call(i);
        kos__trace_put(r, &c);
    }
    /* Full: ten dropped, counted by the writer. */
    assert_int_equal(atomic_load(&r->dropped), 10);
    assert_int_equal(kos__trace_take(r, &rd, false, 1, out, 5, &lost), 5);
    assert_int_equal(lost, 10);
    assert_int_equal(out[0].label, 0);
    assert_int_equal(out[4].label, 4);
    /* Not committed: the writer still sees the ring full. */
    struct kos__trace_rec c = call(99);
    kos__trace_put(r, &c);
    assert_int_equal(atomic_load(&r->dropped), 11);
    kos__trace_commit(r, &rd);
    kos__trace_put(r, &c);
    lost = 0;
    /* The ring's 1019 left and the one written once there was room. */
    assert_int_equal(kos__trace_take(r, &rd, false, 1, out, KOS__TRACE_SLOTS, &lost),
                     KOS__TRACE_SLOTS - 4);
    assert_int_equal(lost, 1);
    assert_int_equal(out[KOS__TRACE_SLOTS - 5].label, 99);
    assert_false(kos__trace_pending(r, &rd));
    kos__trace_unmap(r);
    close(fd);
}

static void test_hostile_writer(void **state)
{
    static struct kos__trace_rec out[8];
    struct kos__trace_reader rd;
    struct kos__trace_shm *r;
    uint64_t lost = 0;
    int fd;
    (void)state;

    assert_int_equal(kos__trace_create(&fd, &r), KOS_STATUS_OK);
    kos__trace_reset(r, &rd, true);
    /* An app writing a directory event, a bad dir index, a bad status. */
    struct kos__trace_rec bad[3] = {call(1), call(2), call(3)};
    bad[0].kind = KOS__TRACE_GRANT;
    bad[1].dir = 5;
    bad[2].status = 9999;
    for (int i = 0; i < 3; i++)
        kos__trace_put(r, &bad[i]);
    struct kos__trace_rec good = call(4);
    kos__trace_put(r, &good);
    assert_int_equal(kos__trace_take(r, &rd, false, 1, out, 8, &lost), 1);
    assert_int_equal(out[0].label, 4);
    assert_int_equal(lost, 3);
    /* A message server's ring takes directory events only, named validly. */
    struct kos__trace_reader rd2;
    kos__trace_reset(r, &rd2, true);
    struct kos__trace_rec ev = {.kind = KOS__TRACE_GRANT, .app_id = 1, .peer_id = 2};
    strcpy(ev.name, "echo_protocol");
    kos__trace_put(r, &ev);
    strcpy(ev.name, "bad name");
    kos__trace_put(r, &ev);
    kos__trace_put(r, &good);
    lost = 0;
    assert_int_equal(kos__trace_take(r, &rd2, true, 0, out, 8, &lost), 1);
    assert_string_equal(out[0].name, "echo_protocol");
    assert_int_equal(lost, 2);
    /* A slot reserved and never published: waited for once, then skipped. */
    atomic_fetch_add(&r->head, 1);
    kos__trace_put(r, &good);
    lost = 0;
    assert_int_equal(kos__trace_take(r, &rd2, true, 0, out, 8, &lost), 0);
    assert_int_equal(lost, 0);
    assert_int_equal(kos__trace_take(r, &rd2, true, 0, out, 8, &lost), 0);
    assert_int_equal(lost, 2); /* the stalled slot, and the call (not a directory event) */
    /* A head far ahead of the tail: at most a ring is read, the rest lost. */
    atomic_store(&r->head, rd2.tail + 5 * KOS__TRACE_SLOTS);
    lost = 0;
    (void)kos__trace_take(r, &rd2, true, 0, out, 8, &lost);
    assert_true(lost >= 4 * KOS__TRACE_SLOTS);
    kos__trace_unmap(r);
    close(fd);
}

static void test_traces_codec(void **state)
{
    static struct kos__sys_traces t, d;
    static uint8_t buf[KOS__CTL_MAX];
    size_t len;
    (void)state;

    memset(&t, 0, sizeof(t));
    t.lost = 7;
    t.n = KOS__SYS_TRACE_BATCH;
    for (uint32_t i = 0; i < t.n; i++) {
        struct kos__sys_trace *r = &t.r[i];
        r->kind = i % 2 ? KOS__TRACE_CALL : KOS__TRACE_GRANT;
        r->label = i;
        r->time_ns = 1000 + i;
        strcpy(r->app, "pinger");
        strcpy(r->server, "msg0");
        if (r->kind == KOS__TRACE_GRANT) {
            strcpy(r->peer, "echo");
            strcpy(r->protocol, "echo_protocol");
        }
    }
    assert_int_equal(kos__sys_traces_encode(&t, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_true(len < 10 * 1024 + 16);
    assert_int_equal(kos__sys_traces_decode(buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.lost, 7);
    assert_int_equal(d.n, t.n);
    assert_memory_equal(&d.r[5], &t.r[5], sizeof(d.r[5]));
    /* Truncated: refused; a byte more, as a newer Core may append, is
     * passed over. */
    assert_int_equal(kos__sys_traces_decode(buf, len - 1, &d), KOS_STATUS_PROTOCOL);
    assert_int_equal(kos__sys_traces_decode(buf, len + 1, &d), KOS_STATUS_OK);
    /* An unknown kind or an app that is not a name: refused both ways. */
    t.r[0].kind = 99;
    assert_int_equal(kos__sys_traces_encode(&t, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    t.r[0].kind = KOS__TRACE_CALL;
    strcpy(t.r[0].app, "");
    assert_int_equal(kos__sys_traces_encode(&t, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    /* TRACE_SET and TRACE_CREDIT requests. */
    struct kos__sys_request rq = {.type = KOS__CTL_SYS_TRACE_SET, .id = 4, .on = 1}, dq;
    strcpy(rq.app, "pinger");
    assert_int_equal(kos__sys_request_encode(&rq, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_request_decode(rq.type, buf, len, &dq), KOS_STATUS_OK);
    assert_string_equal(dq.app, "pinger");
    assert_int_equal(dq.on, 1);
    buf[4] = 2; /* on must be 0 or 1 */
    assert_int_equal(kos__sys_request_decode(rq.type, buf, len, &dq), KOS_STATUS_PROTOCOL);
    rq = (struct kos__sys_request){.type = KOS__CTL_SYS_TRACE_CREDIT,
                                   .credit = KOS__SYS_TRACE_WINDOW + 1};
    assert_int_equal(kos__sys_request_encode(&rq, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_put_take),
        cmocka_unit_test(test_hostile_writer),
        cmocka_unit_test(test_traces_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
