/*
 * test_admin_upgrade.c - admin's upgrades (components/admin/upgrade.c): an
 * Upgrade command carried out through fake ops that stand for Core's store
 * interface and the tunnel's fetch: offers refused for each fault, the way
 * through (the manifest, then the binaries, a resumed blob, the store, the
 * reboot), Core's refusal, a blob the offer lacks, fetches that keep
 * failing, Core still draining, the same image, and one upgrade at a time.
 * What admin sends is read back from the agent's queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "admin.pb-c.h"

#define SIG "kos-image 1\nmanifest 00\nunsigned\n"

static struct {
    struct kos__sys_request rq[64];
    char sig[64][KOS__SYS_SIG_MAX + 1];
    size_t n_rq;
    int fetches;
    uint64_t from, to;
    int fetch_fd;
    kos_status_t fetch_status;
    int reboots;
    char reason[200];
} f;

static kos_status_t fake_store(void *arg, const struct kos__sys_request *rq)
{
    (void)arg;
    assert_true(f.n_rq < 64);
    f.rq[f.n_rq] = *rq;
    if (rq->sig) {
        memcpy(f.sig[f.n_rq], rq->sig, rq->sig_len);
        f.sig[f.n_rq][rq->sig_len] = '\0';
    }
    f.n_rq++;
    return KOS_STATUS_OK;
}

static kos_status_t fake_fetch(void *arg, const uint8_t sha[32], uint64_t from, uint64_t to, int fd)
{
    (void)arg;
    (void)sha;
    f.fetches++;
    f.from = from;
    f.to = to;
    f.fetch_fd = fcntl(fd, F_GETFD) >= 0 ? fd : -1;
    return f.fetch_status;
}

static kos_status_t fake_reboot(void *arg, uint32_t id, const char *reason)
{
    (void)arg;
    (void)id;
    f.reboots++;
    snprintf(f.reason, sizeof(f.reason), "%s", reason);
    return KOS_STATUS_OK;
}

struct rig {
    struct admin_agent a;
    struct admin_upgrade u;
    struct admin_ops ops;
};

static struct rig *rig_new(void)
{
    struct rig *r = calloc(1, sizeof(*r));
    struct admin_config cfg = {.health_every_ms = 10000, .offline_buffer = 64 * 1024};

    memset(&f, 0, sizeof(f));
    r->ops = (struct admin_ops){.store = fake_store, .fetch = fake_fetch, .reboot = fake_reboot};
    assert_true(admin_agent_init(&r->a, &cfg, &r->ops, 1, 0));
    assert_true(admin_upgrade_init(&r->u, &r->a, &r->ops, 0, 0));
    r->a.upgrade = &r->u;
    return r;
}

static void rig_free(struct rig *r)
{
    admin_upgrade_fini(&r->u);
    admin_agent_fini(&r->a);
    free(r);
}

/* Takes the oldest message the agent queued for the link. */
static Kos__Admin__AdminUp *take_up(struct rig *r)
{
    struct admin_agent *a = &r->a;

    if (a->upq_n == 0)
        return NULL;
    Kos__Admin__AdminUp *up =
        kos__admin__admin_up__unpack(NULL, a->upq[a->upq_head].len, a->upq[a->upq_head].data);
    assert_non_null(up);
    free(a->upq[a->upq_head].data);
    a->upq_head = (a->upq_head + 1) % ADMIN_UP_QUEUE;
    a->upq_n--;
    return up;
}

/* The next CommandResult (progress before it skipped); its status. */
static uint32_t take_result(struct rig *r, uint64_t id, char *msg, size_t cap)
{
    Kos__Admin__AdminUp *up;

    while ((up = take_up(r)) && up->body_case == KOS__ADMIN__ADMIN_UP__BODY_PROGRESS)
        kos__admin__admin_up__free_unpacked(up, NULL);
    assert_non_null(up);
    assert_int_equal(up->body_case, KOS__ADMIN__ADMIN_UP__BODY_RESULT);
    assert_int_equal(up->result->id, id);
    uint32_t st = up->result->status;
    snprintf(msg, cap, "%s", up->result->message);
    kos__admin__admin_up__free_unpacked(up, NULL);
    return st;
}

static const char *hex(int n)
{
    static char buf[4][65];
    static int k;
    char *h = buf[k++ % 4];
    for (int i = 0; i < 64; i++)
        h[i] = "0123456789abcdef"[(n + i) % 16];
    h[64] = '\0';
    return h;
}

static void raw(int n, uint8_t out[32])
{
    const char *h = hex(n);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

/* The overlay number offer() sends with release 7 (0: none). */
static uint32_t offer_overlay;

/* Offers blobs 1..n (blob 1 the manifest), each of size 1000 * i. */
static void offer(struct rig *r, uint64_t id, int n, const char *sig)
{
    Kos__Admin__Upgrade m = KOS__ADMIN__UPGRADE__INIT;
    Kos__Admin__Blob b[8], *pb[8];

    for (int i = 0; i < n; i++) {
        kos__admin__blob__init(&b[i]);
        b[i].sha256 = (char *)hex(i + 1);
        b[i].size = 1000u * (uint64_t)(i + 1);
        pb[i] = &b[i];
    }
    m.image_sig = (char *)sig;
    m.blobs = pb;
    m.n_blobs = (size_t)n;
    m.release = 7;
    m.overlay = offer_overlay;
    admin_upgrade_start(&r->u, id, &m, 0);
}

static void answer_needs(struct rig *r, uint32_t status, uint32_t same, const int *blobs,
                         const uint64_t *have, uint32_t n)
{
    struct kos__sys_needs a = {.id = f.rq[f.n_rq - 1].id,
                               .status = status,
                               .same = same,
                               .message = status ? "it is release 7, older than generation 4" : "",
                               .n = n};
    assert_int_equal(f.rq[f.n_rq - 1].type, KOS__CTL_SYS_STORE_NEED);
    for (uint32_t i = 0; i < n; i++) {
        raw(blobs[i], a.need[i].sha256);
        a.need[i].have = have ? have[i] : 0;
    }
    admin_upgrade_needs(&r->u, &a, 0);
}

/* Core answers the last request with status (and, for a FETCH, a pipe). */
static void answer(struct rig *r, uint32_t type, uint32_t status, uint64_t now)
{
    int p[2] = {-1, -1};

    assert_int_equal(f.rq[f.n_rq - 1].type, type);
    if (type == KOS__CTL_SYS_STORE_FETCH && !status)
        assert_int_equal(pipe(p), 0);
    admin_upgrade_core_result(&r->u, f.rq[f.n_rq - 1].id, status, status ? "no" : "ok", p[1], now);
    if (p[0] >= 0)
        close(p[0]);
}

static void test_bad_offers(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    char msg[600];
    Kos__Admin__Upgrade m = KOS__ADMIN__UPGRADE__INIT;
    Kos__Admin__Blob b = KOS__ADMIN__BLOB__INIT, *pb[] = {&b};

    /* No image_sig; no blob; a bad digest; a size of 0; too large. */
    admin_upgrade_start(&r->u, 1, &m, 0);
    assert_int_equal(take_result(r, 1, msg, sizeof(msg)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "image_sig"));
    m.image_sig = SIG;
    admin_upgrade_start(&r->u, 2, &m, 0);
    assert_int_equal(take_result(r, 2, msg, sizeof(msg)), KOS_STATUS_INVALID_ARGUMENT);
    m.blobs = pb;
    m.n_blobs = 1;
    b.sha256 = "ABCDEF";
    b.size = 10;
    admin_upgrade_start(&r->u, 3, &m, 0);
    assert_int_equal(take_result(r, 3, msg, sizeof(msg)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "sha256"));
    b.sha256 = (char *)hex(1);
    b.size = 0;
    admin_upgrade_start(&r->u, 4, &m, 0);
    assert_int_equal(take_result(r, 4, msg, sizeof(msg)), KOS_STATUS_INVALID_ARGUMENT);
    b.size = KOS__SYS_BLOB_MAX + 1;
    admin_upgrade_start(&r->u, 5, &m, 0);
    assert_int_equal(take_result(r, 5, msg, sizeof(msg)), KOS_STATUS_INVALID_ARGUMENT);
    char big[KOS__SYS_SIG_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    m.image_sig = big;
    b.size = 10;
    admin_upgrade_start(&r->u, 6, &m, 0);
    assert_int_equal(take_result(r, 6, msg, sizeof(msg)), KOS_STATUS_INVALID_ARGUMENT);
    /* None of them reached Core. */
    assert_int_equal(f.n_rq, 0);
    rig_free(r);
}

static void test_through(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    char msg[600];
    int man[] = {1}, bins[] = {2, 3};
    uint64_t have[] = {500, 0};

    offer(r, 40, 3, SIG);
    assert_int_equal(f.n_rq, 1);
    assert_string_equal(f.sig[0], SIG);
    Kos__Admin__AdminUp *up = take_up(r);
    assert_int_equal(up->body_case, KOS__ADMIN__ADMIN_UP__BODY_PROGRESS);
    assert_string_equal(up->progress->stage, "checking");
    assert_int_equal(up->progress->command, 40);
    kos__admin__admin_up__free_unpacked(up, NULL);
    /* A second one meanwhile: busy. */
    offer(r, 41, 1, SIG);
    assert_int_equal(take_result(r, 41, msg, sizeof(msg)), KOS_STATUS_BUSY);

    answer_needs(r, 0, 0, man, NULL, 1);
    assert_int_equal(f.rq[f.n_rq - 1].type, KOS__CTL_SYS_STORE_FETCH);
    assert_int_equal(f.rq[f.n_rq - 1].size, 1000);
    answer(r, KOS__CTL_SYS_STORE_FETCH, 0, 0);
    assert_int_equal(f.fetches, 1);
    assert_int_equal(f.from, 0);
    assert_int_equal(f.to, 1000);
    admin_upgrade_fetched(&r->u, KOS_STATUS_OK, 1000, "", 0);
    answer(r, KOS__CTL_SYS_STORE_DONE, 0, 0);
    /* The binaries: the first resumed from its 500 bytes. */
    answer_needs(r, 0, 0, bins, have, 2);
    assert_int_equal(f.rq[f.n_rq - 1].size, 2000);
    answer(r, KOS__CTL_SYS_STORE_FETCH, 0, 0);
    assert_int_equal(f.from, 500);
    assert_int_equal(f.to, 2000);
    admin_upgrade_fetched(&r->u, KOS_STATUS_OK, 1500, "", 0);
    /* Core still drains the pipe: asked again after a moment. */
    answer(r, KOS__CTL_SYS_STORE_DONE, KOS_STATUS_BUSY, 0);
    size_t asked = f.n_rq;
    admin_upgrade_pump(&r->u, 1);
    assert_int_equal(f.n_rq, asked);
    admin_upgrade_pump(&r->u, admin_upgrade_next_ms(&r->u));
    assert_int_equal(f.n_rq, asked + 1);
    answer(r, KOS__CTL_SYS_STORE_DONE, 0, 100);
    answer_needs(r, 0, 0, bins + 1, NULL, 1);
    answer(r, KOS__CTL_SYS_STORE_FETCH, 0, 100);
    admin_upgrade_fetched(&r->u, KOS_STATUS_OK, 3000, "", 100);
    answer(r, KOS__CTL_SYS_STORE_DONE, 0, 100);
    answer_needs(r, 0, 0, NULL, NULL, 0);
    assert_int_equal(f.rq[f.n_rq - 1].type, KOS__CTL_SYS_STORE_ADD);
    assert_string_equal(f.sig[f.n_rq - 1], SIG);
    assert_int_equal(f.reboots, 0);
    answer(r, KOS__CTL_SYS_STORE_ADD, 0, 100);

    /* Progress (the last says all was fetched), then one result, then nothing. */
    up = take_up(r);
    assert_int_equal(up->body_case, KOS__ADMIN__ADMIN_UP__BODY_PROGRESS);
    assert_string_equal(up->progress->stage, "verifying");
    assert_int_equal(up->progress->done, 5500);
    assert_int_equal(up->progress->total, 5500);
    assert_int_equal(up->progress->blobs, 3);
    kos__admin__admin_up__free_unpacked(up, NULL);
    assert_int_equal(take_result(r, 40, msg, sizeof(msg)), KOS_STATUS_OK);
    assert_non_null(strstr(msg, "release 7"));
    assert_non_null(strstr(msg, "5500 bytes fetched"));
    assert_null(take_up(r));
    /* The reboot: once the result has gone, after the grace. */
    admin_upgrade_pump(&r->u, 200);
    assert_int_equal(f.reboots, 0);
    admin_upgrade_pump(&r->u, 100 + ADMIN_UPGRADE_GRACE_MS);
    assert_int_equal(f.reboots, 1);
    assert_non_null(strstr(f.reason, "upgrade to release 7"));
    admin_upgrade_pump(&r->u, 100000);
    assert_int_equal(f.reboots, 1);
    rig_free(r);
}

/* The overlay number the server sends is for messages only: named with
 * its release, and left out when no manifest could carry it. */
static void test_overlay_named(void **state)
{
    (void)state;
    static const struct {
        uint32_t overlay;
        const char *what;
    } cases[] = {{2, "release 7 overlay 2"}, {KOS__SYS_OVERLAY_MAX + 1, "release 7"}};
    char msg[600], want[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rig *r = rig_new();
        offer_overlay = cases[i].overlay;
        offer(r, 60, 1, SIG);
        offer_overlay = 0;
        answer_needs(r, 0, 0, NULL, NULL, 0);
        answer(r, KOS__CTL_SYS_STORE_ADD, 0, 0);
        assert_int_equal(take_result(r, 60, msg, sizeof(msg)), KOS_STATUS_OK);
        snprintf(want, sizeof(want), "%s: ", cases[i].what);
        if (strncmp(msg, want, strlen(want)) != 0)
            fail_msg("overlay %u: the result says '%s', not '%s...'", cases[i].overlay, msg, want);
        admin_upgrade_pump(&r->u, ADMIN_UPGRADE_GRACE_MS);
        assert_int_equal(f.reboots, 1);
        snprintf(want, sizeof(want), "upgrade to %s (command 60 ", cases[i].what);
        if (!strstr(f.reason, want))
            fail_msg("overlay %u: the reboot's reason is '%s'", cases[i].overlay, f.reason);
        rig_free(r);
    }
}

static void test_refusals(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    char msg[600];
    int stranger[] = {9};

    /* Core refuses (a downgrade, a bad signature): that is the result. */
    offer(r, 50, 2, SIG);
    answer_needs(r, KOS_STATUS_UNAUTHORIZED, 0, NULL, NULL, 0);
    assert_int_equal(take_result(r, 50, msg, sizeof(msg)), KOS_STATUS_UNAUTHORIZED);
    assert_non_null(strstr(msg, "older than generation 4"));
    /* The same image as current: nothing to do. */
    offer(r, 51, 2, SIG);
    answer_needs(r, 0, 4, NULL, NULL, 0);
    assert_int_equal(take_result(r, 51, msg, sizeof(msg)), KOS_STATUS_OK);
    assert_non_null(strstr(msg, "generation 4"));
    /* The image needs a blob the offer does not name. */
    offer(r, 52, 2, SIG);
    answer_needs(r, 0, 0, stranger, NULL, 1);
    assert_int_equal(take_result(r, 52, msg, sizeof(msg)), KOS_STATUS_PROTOCOL);
    /* Core cannot store it in the end. */
    offer(r, 53, 1, SIG);
    answer_needs(r, 0, 0, NULL, NULL, 0);
    answer(r, KOS__CTL_SYS_STORE_ADD, KOS_STATUS_UNAUTHORIZED, 0);
    assert_int_equal(take_result(r, 53, msg, sizeof(msg)), KOS_STATUS_UNAUTHORIZED);
    admin_upgrade_pump(&r->u, 100000);
    assert_int_equal(f.reboots, 0);
    /* An answer nobody waits for changes nothing. */
    admin_upgrade_core_result(&r->u, 12345, 0, "ok", -1, 0);
    assert_null(take_up(r));
    rig_free(r);
}

static void test_fetch_failures(void **state)
{
    (void)state;
    struct rig *r = rig_new();
    char msg[600];
    int man[] = {1};
    uint64_t now = 0;

    offer(r, 60, 1, SIG);
    for (unsigned i = 0; i < ADMIN_UPGRADE_TRIES; i++) {
        answer_needs(r, 0, 0, man, NULL, 1);
        answer(r, KOS__CTL_SYS_STORE_FETCH, 0, now);
        admin_upgrade_fetched(&r->u, KOS_STATUS_UNREACHABLE, 10, "the connection broke", now);
        if (i + 1 == ADMIN_UPGRADE_TRIES)
            break;
        /* Waits, longer each time, then asks the store again. */
        size_t asked = f.n_rq;
        uint64_t at = admin_upgrade_next_ms(&r->u);
        assert_true(at >= now + ((uint64_t)ADMIN_UPGRADE_RETRY_MS << i));
        admin_upgrade_pump(&r->u, at - 1);
        assert_int_equal(f.n_rq, asked);
        admin_upgrade_pump(&r->u, at);
        assert_int_equal(f.n_rq, asked + 1);
        now = at;
    }
    assert_int_equal(take_result(r, 60, msg, sizeof(msg)), KOS_STATUS_UNAVAILABLE);
    assert_non_null(strstr(msg, "the connection broke"));
    /* A tunnel that does not allow admin blobs: said at once. */
    f.fetch_status = KOS_STATUS_UNAUTHORIZED;
    offer(r, 61, 1, SIG);
    answer_needs(r, 0, 0, man, NULL, 1);
    answer(r, KOS__CTL_SYS_STORE_FETCH, 0, 0);
    assert_int_equal(take_result(r, 61, msg, sizeof(msg)), KOS_STATUS_UNAUTHORIZED);
    assert_non_null(strstr(msg, "blobs"));
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_offers),     cmocka_unit_test(test_through),
        cmocka_unit_test(test_overlay_named),  cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_fetch_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
