/*
 * test_msg_channel.c - the shared-memory call channel (lib/channel.c): the
 * memfd is sealed and checked when mapped, slots are copied out and
 * validated, bells never block whatever the peer does, and the spin budget
 * adapts within its bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel_int.h"

static void test_create_and_map(void **state)
{
    struct kos__chan_shm *a, *b;
    int fd;
    (void)state;

    assert_int_equal(kos__chan_create(42, &fd, &a), KOS_STATUS_OK);
    assert_int_equal(kos__chan_map(fd, 42, &b), KOS_STATUS_OK);
    assert_int_equal(b->channel, 42);
    assert_int_equal(atomic_load(&b->srv_sleeping), 1);
    assert_int_equal(atomic_load(&b->cli_sleeping), 0);
    /* Two mappings of one channel. */
    atomic_store(&a->req.seq, 7);
    assert_int_equal(atomic_load(&b->req.seq), 7);
    /* The seals hold: nobody can shrink or grow it, or lift the seals. */
    assert_int_equal(ftruncate(fd, 4096), -1);
    assert_int_equal(ftruncate(fd, (off_t)KOS__CHAN_SIZE * 2), -1);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
    /* The wrong channel number. */
    struct kos__chan_shm *c;
    assert_int_equal(kos__chan_map(fd, 43, &c), KOS_STATUS_PROTOCOL);
    kos__chan_unmap(a);
    kos__chan_unmap(b);
    kos__chan_unmap(NULL);
    close(fd);
}

static void test_map_refuses(void **state)
{
    struct kos__chan_shm *m;
    int fd, p[2];
    (void)state;

    /* Not sealed. */
    fd = memfd_create("t", MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)KOS__CHAN_SIZE), 0);
    assert_int_equal(kos__chan_map(fd, 1, &m), KOS_STATUS_PROTOCOL);
    /* Sealed but the wrong size. */
    assert_int_equal(ftruncate(fd, (off_t)KOS__CHAN_SIZE - 4096), 0);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
    assert_int_equal(kos__chan_map(fd, 1, &m), KOS_STATUS_PROTOCOL);
    close(fd);
    /* Sealed, right size, but not a channel (no magic). */
    fd = memfd_create("t", MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(fd, (off_t)KOS__CHAN_SIZE), 0);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
    assert_int_equal(kos__chan_map(fd, 0, &m), KOS_STATUS_PROTOCOL);
    close(fd);
    /* Not a memfd at all. */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(kos__chan_map(p[0], 1, &m), KOS_STATUS_PROTOCOL);
    close(p[0]);
    close(p[1]);
}

static void test_put_take(void **state)
{
    struct kos__chan_shm *shm;
    struct kos__chan_msg m;
    uint8_t in[KOS_MSG_MAX_PAYLOAD], out[KOS_MSG_MAX_PAYLOAD];
    int fd;
    (void)state;

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 13);
    assert_int_equal(kos__chan_create(1, &fd, &shm), KOS_STATUS_OK);
    kos__chan_put(&shm->req, 5, 100, 0x1122334455667788ull, in, sizeof(in), KOS_STATUS_BUSY,
                  KOS__SLOT_TOKEN, 99);
    assert_int_equal(atomic_load(&shm->req.seq), 5);
    assert_int_equal(kos__chan_take(&shm->req, 5, &m, out), KOS_STATUS_OK);
    assert_int_equal(m.seq, 5);
    assert_int_equal(m.label, 100);
    assert_int_equal(m.param, 0x1122334455667788ull);
    assert_int_equal(m.len, sizeof(in));
    assert_int_equal(m.status, KOS_STATUS_BUSY);
    assert_int_equal(m.flags, KOS__SLOT_TOKEN);
    assert_int_equal(m.cookie, 99);
    assert_memory_equal(in, out, sizeof(in));

    /* A slot rewritten since its seq was read: read it again later. */
    assert_int_equal(kos__chan_take(&shm->req, 4, &m, out), KOS_STATUS_BUSY);

    /* What a hostile writer could leave: each is refused after the copy,
     * and the copy never runs past the buffer. */
    kos__chan_put(&shm->req, 6, 1, 0, in, 10, 0, 0, 0);
    atomic_store(&shm->req.len, KOS_MSG_MAX_PAYLOAD + 1);
    assert_int_equal(kos__chan_take(&shm->req, 6, &m, out), KOS_STATUS_PROTOCOL);
    atomic_store(&shm->req.len, 0xffffffffu);
    assert_int_equal(kos__chan_take(&shm->req, 6, &m, out), KOS_STATUS_PROTOCOL);
    atomic_store(&shm->req.len, 10);
    atomic_store(&shm->req.status, KOS_STATUS__COUNT);
    assert_int_equal(kos__chan_take(&shm->req, 6, &m, out), KOS_STATUS_PROTOCOL);
    atomic_store(&shm->req.status, 0);
    atomic_store(&shm->req.flags, 2);
    assert_int_equal(kos__chan_take(&shm->req, 6, &m, out), KOS_STATUS_PROTOCOL);
    atomic_store(&shm->req.flags, KOS__SLOT_TOKEN);
    atomic_store(&shm->req.cookie, 0);
    assert_int_equal(kos__chan_take(&shm->req, 6, &m, out), KOS_STATUS_PROTOCOL);
    atomic_store(&shm->req.flags, 0);
    assert_int_equal(kos__chan_take(&shm->req, 6, &m, out), KOS_STATUS_OK);
    assert_int_equal(m.len, 10);

    kos__chan_unmap(shm);
    close(fd);
}

static void test_layout(void **state)
{
    (void)state;
    /* Each side's fields on its own cache line, slots line-aligned. */
    assert_int_equal(offsetof(struct kos__chan_shm, down) % KOS__CACHE_LINE, 0);
    assert_int_equal(offsetof(struct kos__chan_shm, cli_sleeping) % KOS__CACHE_LINE, 0);
    assert_int_equal(offsetof(struct kos__chan_shm, srv_sleeping) % KOS__CACHE_LINE, 0);
    assert_true(offsetof(struct kos__chan_shm, srv_sleeping) !=
                offsetof(struct kos__chan_shm, cli_sleeping));
    assert_int_equal(offsetof(struct kos__chan_shm, req) % KOS__LINE_PAIR, 0);
    assert_int_equal(offsetof(struct kos__chan_shm, rep) % KOS__LINE_PAIR, 0);
    assert_int_equal(offsetof(struct kos__chan_shm, notes[1]) % KOS__LINE_PAIR, 0);
    assert_true(offsetof(struct kos__chan_shm, srv_sleeping) / KOS__LINE_PAIR !=
                offsetof(struct kos__chan_shm, cli_sleeping) / KOS__LINE_PAIR);
    assert_int_equal(offsetof(struct kos__chan_slot, payload), KOS__CACHE_LINE);
    assert_int_equal(KOS__CHAN_SIZE % 4096, 0);
    assert_true(KOS__CHAN_SIZE >= sizeof(struct kos__chan_shm));
}

static void test_spin_policy(void **state)
{
    struct kos__spin s;
    (void)state;

    kos__spin_init(&s);
    assert_int_equal(s.budget_ns, KOS__SPIN_START_NS);
    for (int i = 0; i < 40; i++)
        kos__spin_result(&s, true);
    assert_int_equal(s.budget_ns, KOS__SPIN_MAX_NS);
    kos__spin_result(&s, false);
    assert_int_equal(s.budget_ns, KOS__SPIN_MAX_NS / 2);
    for (int i = 0; i < 40; i++)
        kos__spin_result(&s, false);
    assert_int_equal(s.budget_ns, KOS__SPIN_MIN_NS);
    kos__spin_result(&s, true);
    assert_int_equal(s.budget_ns, KOS__SPIN_MIN_NS * 2);
    /* Never spin against a peer on our own CPU. */
    assert_false(kos__spin_worth(&s, 3, 3));
    assert_true(kos__spin_worth(&s, 2, 3));
    assert_true(kos__spin_worth(&s, -1, 3));
}

static void test_bells(void **state)
{
    int b[2];
    (void)state;

    assert_int_equal(kos__bell_create(b), KOS_STATUS_OK);
    assert_true(kos__bell_drain(b[0])); /* empty: still has a writer */
    kos__bell_ring(b[1]);
    struct pollfd p = {.fd = b[0], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_true(kos__bell_drain(b[0]));
    assert_int_equal(poll(&p, 1, 0), 0);

    /* A peer sharing our file descriptions makes them blocking and fills
     * the bell: ringing and draining still return at once. */
    assert_int_equal(fcntl(b[0], F_SETFL, 0), 0);
    assert_int_equal(fcntl(b[1], F_SETFL, 0), 0);
    assert_true(kos__bell_drain(b[0]));
    for (int i = 0; i < 100000; i++)
        kos__bell_ring(b[1]);
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_true(kos__bell_drain(b[0]));
    assert_int_equal(poll(&p, 1, 0), 0);

    /* The writer goes: the bell says so, once its last ring is read. */
    kos__bell_ring(b[1]);
    close(b[1]);
    assert_int_equal(poll(&p, 1, 0), 1);
    assert_true(p.revents & POLLHUP);
    assert_true(kos__bell_drain(b[0]));
    assert_false(kos__bell_drain(b[0]));
    close(b[0]);
}

static void test_doorbell(void **state)
{
    int fd;
    (void)state;

    assert_int_equal(kos__doorbell_create(&fd), KOS_STATUS_OK);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    kos__doorbell_ring(fd);
    kos__doorbell_ring(fd);
    assert_int_equal(poll(&p, 1, 0), 1);
    /* Saturated (by a hostile client): ringing still returns at once. */
    uint64_t max = 0xfffffffffffffffeull;
    assert_int_equal(write(fd, &max, sizeof(max)), -1); /* would overflow */
    uint64_t v;
    assert_int_equal(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
    assert_int_equal(write(fd, &max, sizeof(max)), (ssize_t)sizeof(max));
    kos__doorbell_ring(fd);
    assert_int_equal(poll(&p, 1, 0), 1);
    close(fd);
}

static void test_futex_and_deadlines(void **state)
{
    _Atomic uint32_t word = 5;
    (void)state;

    assert_int_equal(kos__deadline(-1), UINT64_MAX);
    assert_int_equal(kos__remaining_ms(UINT64_MAX), -1);
    assert_int_equal(kos__remaining_ms(kos__now_ns() - 1), 0);
    int r = kos__remaining_ms(kos__deadline(100));
    assert_true(r > 0 && r <= 100);
    /* Not the expected value: returns at once, not a timeout. */
    assert_true(kos__futex_wait(&word, 4, kos__deadline(1000)));
    /* The expected value and a short deadline: a timeout. */
    uint64_t t0 = kos__now_ns();
    assert_false(kos__futex_wait(&word, 5, kos__deadline(20)));
    assert_true(kos__now_ns() - t0 >= 15000000u);
    kos__futex_wake(&word); /* nobody waits: harmless */
    assert_true(kos__cpu() >= -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_map), cmocka_unit_test(test_map_refuses),
        cmocka_unit_test(test_put_take),       cmocka_unit_test(test_layout),
        cmocka_unit_test(test_spin_policy),    cmocka_unit_test(test_bells),
        cmocka_unit_test(test_doorbell),       cmocka_unit_test(test_futex_and_deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
