/*
 * test_sys.c - the records of Core's system interface (lib/sys_int.h):
 * round trips, every truncation and every malformed field refused, the
 * state names, a send that would block; and Core's queue of console lines
 * for the managing app (core/sysq_int.h): bounds, credit, drops counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sys_int.h"
#include "sysq_int.h"

static uint8_t buf[KOS__CTL_MAX];

/* Every proper prefix of buf[0..len) is refused by the decoder for
 * `type`, except buf[0..older) (a record without the optional fields an
 * older sender leaves out; older = len when there are none); one byte
 * more, as a newer sender may append, is passed over. */
static void prefixes_checked(uint32_t type, size_t len, size_t older)
{
    struct kos__sys_request rq;
    struct kos__sys_status st;
    struct kos__sys_result rs;
    struct kos__sys_line ln;
    static struct kos__sys_table tb;

    for (size_t n = 0; n <= len; n++) {
        size_t m = n < len ? n : len + 1;
        kos_status_t s;
        if (n == len)
            buf[len] = 'x';
        if (type == KOS__CTL_SYS_STATUS)
            s = kos__sys_status_decode(buf, m, &st);
        else if (type == KOS__CTL_SYS_RESULT)
            s = kos__sys_result_decode(buf, m, &rs);
        else if (type == KOS__CTL_SYS_CONSOLE)
            s = kos__sys_line_decode(buf, m, &ln);
        else if (type == KOS__CTL_SYS_TABLE)
            s = kos__sys_table_decode(buf, m, &tb);
        else
            s = kos__sys_request_decode(type, buf, m, &rq);
        if ((n == len || n == older) && s != KOS_STATUS_OK)
            fail_msg("type %u: %zu of %zu bytes refused", type, m, len);
        if (n != len && n != older && s != KOS_STATUS_PROTOCOL)
            fail_msg("type %u: %zu of %zu bytes accepted", type, m, len);
    }
}

static void truncations_refused(uint32_t type, size_t len)
{
    prefixes_checked(type, len, len);
}

static void test_requests(void **state)
{
    (void)state;
    struct kos__sys_request r, d;
    size_t len;

    r = (struct kos__sys_request){.type = KOS__CTL_SYS_STATUS_REQ, .id = 7, .first = 128};
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_request_decode(r.type, buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.id, 7);
    assert_int_equal(d.first, 128);
    truncations_refused(r.type, len);

    r = (struct kos__sys_request){.type = KOS__CTL_SYS_RESTART, .id = 8, .app = "worker"};
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_request_decode(r.type, buf, len, &d), KOS_STATUS_OK);
    assert_string_equal(d.app, "worker");
    truncations_refused(r.type, len);

    r = (struct kos__sys_request){.type = KOS__CTL_SYS_REBOOT, .id = 9, .reason = "command 4"};
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_request_decode(r.type, buf, len, &d), KOS_STATUS_OK);
    assert_string_equal(d.reason, "command 4");
    truncations_refused(r.type, len);

    r = (struct kos__sys_request){.type = KOS__CTL_SYS_CONSOLE_CREDIT, .credit = 4096};
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(len, 4);
    assert_int_equal(kos__sys_request_decode(r.type, buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.credit, 4096);
    truncations_refused(r.type, len);

    /* What the encoder refuses, and the decoder too. */
    static const char *const bad_names[] = {"", "bad name", "-x", "a/b"};
    for (size_t i = 0; i < 4; i++) {
        r = (struct kos__sys_request){.type = KOS__CTL_SYS_RESTART};
        strcpy(r.app, bad_names[i]);
        assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len),
                         KOS_STATUS_INVALID_ARGUMENT);
        memset(buf, 0, 4);
        memcpy(buf + 4, bad_names[i], strlen(bad_names[i]) + 1);
        assert_int_equal(
            kos__sys_request_decode(KOS__CTL_SYS_RESTART, buf, 4 + strlen(bad_names[i]) + 1, &d),
            KOS_STATUS_PROTOCOL);
    }
    r = (struct kos__sys_request){.type = KOS__CTL_SYS_REBOOT, .reason = "line\nbreak"};
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    memcpy(buf + 4, "esc\x1b", 5);
    assert_int_equal(kos__sys_request_decode(KOS__CTL_SYS_REBOOT, buf, 9, &d), KOS_STATUS_PROTOCOL);
    for (uint32_t credit = 0; credit < 2; credit++) {
        uint32_t v = credit ? KOS__SYS_CONSOLE_WINDOW + 1 : 0;
        r = (struct kos__sys_request){.type = KOS__CTL_SYS_CONSOLE_CREDIT, .credit = v};
        assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len),
                         KOS_STATUS_INVALID_ARGUMENT);
        memcpy(buf, &v, 4);
        assert_int_equal(kos__sys_request_decode(KOS__CTL_SYS_CONSOLE_CREDIT, buf, 4, &d),
                         KOS_STATUS_PROTOCOL);
    }
    uint32_t first = KOS__SYS_MAX_PROCS;
    memset(buf, 0, 4);
    memcpy(buf + 4, &first, 4);
    assert_int_equal(kos__sys_request_decode(KOS__CTL_SYS_STATUS_REQ, buf, 8, &d),
                     KOS_STATUS_PROTOCOL);
    /* A type that is not a request. */
    assert_int_equal(kos__sys_request_decode(KOS__CTL_SYS_STATUS, buf, 8, &d), KOS_STATUS_PROTOCOL);
    r = (struct kos__sys_request){.type = KOS__CTL_SYS_RESULT};
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
}

static struct kos__sys_status sample_status(void)
{
    return (struct kos__sys_status){
        .id = 3,
        .system = "weather",
        .manifest = "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        .signer = "3f9a1c0de4b27781",
        .platform = "sim",
        .version = "0.1.0",
        .boot_time_ns = 1ull << 60,
        .uptime_ms = 42,
        .boots = 2,
        .self_test = KOS__SYS_SELF_TEST_FAILED,
        .self_test_summary = "failed: key_store: not found (1 of 5 checks failed)",
        .mem_total = 1 << 30,
        .mem_used = 1 << 20,
        .storage_total = 17 << 20,
        .storage_used = 4096,
        .n_total = 3,
        .first = 1,
        .n_procs = 2,
        .procs = {{"rng_server", KOS__ROLE_APP, KOS__SYS_RUNNING_READY, 3, 1,
                   "exited with status 0"},
                  {"cam", KOS__ROLE_APP, KOS__SYS_FAILED, 5, 0,
                   "killed by signal 11 (Segmentation fault)"}},
    };
}

/* Fills *s with a full page of the longest names, exits and summary. */
static void fill_page(struct kos__sys_status *s)
{
    static char names[KOS__SYS_PAGE_PROCS][KOS__NAME_MAX], exit_[KOS__SYS_EXIT_MAX];
    static char summary[KOS__SELF_TEST_TEXT_MAX];

    memset(exit_, 'x', sizeof(exit_) - 1);
    memset(summary, 's', sizeof(summary) - 1);
    s->self_test_summary = summary;
    s->n_total = KOS__SYS_MAX_PROCS;
    s->first = 0;
    s->n_procs = KOS__SYS_PAGE_PROCS;
    for (uint32_t i = 0; i < KOS__SYS_PAGE_PROCS; i++) {
        snprintf(names[i], sizeof(names[i]), "%062u", i);
        s->procs[i] = (struct kos__sys_proc){names[i], KOS__ROLE_APP, KOS__SYS_ENDED, 0, 0, exit_};
    }
}

static void test_status(void **state)
{
    (void)state;
    struct kos__sys_status s = sample_status(), d;
    size_t len;

    assert_int_equal(kos__sys_status_encode(&s, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_status_decode(buf, len, &d), KOS_STATUS_OK);
    assert_string_equal(d.system, "weather");
    assert_string_equal(d.signer, "3f9a1c0de4b27781");
    assert_int_equal(d.boot_time_ns, 1ull << 60);
    assert_int_equal(d.boots, 2);
    assert_int_equal(d.self_test, KOS__SYS_SELF_TEST_FAILED);
    assert_int_equal(d.n_procs, 2);
    assert_string_equal(d.procs[1].name, "cam");
    assert_int_equal(d.procs[0].restarts_asked, 1);
    assert_string_equal(d.procs[1].last_exit, "killed by signal 11 (Segmentation fault)");
    truncations_refused(KOS__CTL_SYS_STATUS, len);

    /* A full page of the longest names and exits fits a control message. */
    s = sample_status();
    fill_page(&s);
    assert_int_equal(
        kos__sys_status_encode(&s, buf, KOS__CTL_MAX - sizeof(struct kos__ctl_hdr), &len),
        KOS_STATUS_OK);
    assert_int_equal(kos__sys_status_decode(buf, len, &d), KOS_STATUS_OK);

    /* Each malformed field is refused (the decoder applies the same
     * checks to what it read, see sys.c's status_ok()). */
    for (int i = 0; i < 15; i++) {
        s = sample_status();
        switch (i) {
        case 0:
            s.system = "not a name";
            break;
        case 1:
            s.manifest = "5d41";
            break;
        case 2:
            s.manifest = "5D41402ABC4B2A76B9719D911017C592AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
            break;
        case 3:
            s.signer = "xyz";
            break;
        case 4:
            s.platform = "sim\n";
            break;
        case 5:
            s.self_test = 4;
            break;
        case 6:
            s.self_test_summary = "passed\x1b";
            break;
        case 7:
            s.n_procs = 3;
            break;
        case 8:
            s.n_total = KOS__SYS_MAX_PROCS + 1;
            break;
        case 9:
            s.procs[0].role = 3;
            break;
        case 10:
            s.procs[0].state = 0;
            break;
        case 11:
            s.procs[0].state = 8;
            break;
        case 12:
            s.procs[0].restarts_asked = 4;
            break;
        case 13:
            s.procs[1].last_exit = "killed\x7f";
            break;
        default:
            s.procs[1].name = "";
            break;
        }
        if (kos__sys_status_encode(&s, buf, sizeof(buf), &len) != KOS_STATUS_INVALID_ARGUMENT)
            fail_msg("malformed field %d encoded", i);
    }
    /* Written by hand: a state out of range. */
    s = sample_status();
    assert_int_equal(kos__sys_status_encode(&s, buf, sizeof(buf), &len), KOS_STATUS_OK);
    size_t at = len - 12 - (strlen(s.procs[1].last_exit) + 1) - 16; /* cam's state */
    uint32_t eight = 8;
    memcpy(buf + at + 4, &eight, 4);
    assert_int_equal(kos__sys_status_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
}

/* A page from a boot store: generation 3 on trial and running, 2 good, 1
 * failed, 4 damaged. */
static struct kos__sys_status sample_store(void)
{
    struct kos__sys_status s = sample_status();

    s.store = 1;
    s.generation = 3;
    s.n_gens = 4;
    s.gens[0] =
        (struct kos__sys_gen){1, 0, KOS__SYS_GEN_FAILED, 0, 1765000000, "3f9a1c0de4b27781", 0, 0};
    s.gens[1] = (struct kos__sys_gen){
        2, KOS__SYS_GEN_GOOD, KOS__SYS_GEN_PASSED, 0, 1765000100, "3f9a1c0de4b27781", 0, 0};
    s.gens[2] = (struct kos__sys_gen){3,
                                      KOS__SYS_GEN_CURRENT | KOS__SYS_GEN_RUNNING,
                                      KOS__SYS_GEN_TRIAL,
                                      1,
                                      1765000200,
                                      "",
                                      4000000000u,
                                      2};
    s.gens[3] = (struct kos__sys_gen){4, 0, KOS__SYS_GEN_DAMAGED, 0, 0, "", 0, 0};
    return s;
}

static void test_status_gens(void **state)
{
    (void)state;
    struct kos__sys_status s = sample_store(), d;
    size_t len;

    assert_int_equal(kos__sys_status_encode(&s, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_status_decode(buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.store, 1);
    assert_int_equal(d.generation, 3);
    assert_int_equal(d.n_gens, 4);
    assert_int_equal(d.gens[2].flags, KOS__SYS_GEN_CURRENT | KOS__SYS_GEN_RUNNING);
    assert_int_equal(d.gens[2].tries, 1);
    assert_int_equal(d.gens[2].release, 4000000000u);
    assert_int_equal(d.gens[2].overlay, 2);
    assert_int_equal(d.gens[1].release, 0);
    assert_int_equal(d.gens[1].overlay, 0);
    assert_int_equal(d.gens[1].created, 1765000100);
    assert_string_equal(d.gens[0].signer, "3f9a1c0de4b27781");
    assert_string_equal(d.gens[3].signer, "");
    assert_string_equal(kos__sys_gen_state_name(d.gens[2].state), "on trial");
    assert_string_equal(kos__sys_gen_state_name(KOS__SYS_GEN_DAMAGED), "damaged");
    assert_string_equal(kos__sys_gen_state_name(0), "unknown");
    /* An older Core's page ends before the overlay numbers: it decodes,
     * with none. */
    prefixes_checked(KOS__CTL_SYS_STATUS, len, len - 4 * 4);
    assert_int_equal(kos__sys_status_decode(buf, len - 4 * 4, &d), KOS_STATUS_OK);
    assert_int_equal(d.n_gens, 4);
    assert_int_equal(d.gens[2].release, 4000000000u);
    assert_int_equal(d.gens[2].overlay, 0);

    /* The largest store beside a full page of the longest names still fits
     * one control message. */
    fill_page(&s);
    s.n_gens = KOS__SYS_MAX_GENS;
    s.generation = KOS__SYS_MAX_GENS;
    for (uint32_t i = 0; i < KOS__SYS_MAX_GENS; i++)
        s.gens[i] = (struct kos__sys_gen){i + 1,
                                          i + 1 == KOS__SYS_MAX_GENS ? 7u : 0u,
                                          KOS__SYS_GEN_KEPT,
                                          UINT32_MAX,
                                          UINT64_MAX,
                                          "ffffffffffffffff",
                                          UINT32_MAX,
                                          KOS__SYS_OVERLAY_MAX};
    assert_int_equal(
        kos__sys_status_encode(&s, buf, KOS__CTL_MAX - sizeof(struct kos__ctl_hdr), &len),
        KOS_STATUS_OK);
    assert_int_equal(kos__sys_status_decode(buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.n_gens, KOS__SYS_MAX_GENS);

    /* Each malformed generation is refused. */
    for (int i = 0; i < 15; i++) {
        s = sample_store();
        switch (i) {
        case 13:
            s.gens[1].overlay = 1; /* an overlay of no release */
            break;
        case 14:
            s.gens[2].overlay = KOS__SYS_OVERLAY_MAX + 1;
            break;
        case 0:
            s.store = 2;
            break;
        case 1:
            s.store = 0; /* generations without a store */
            break;
        case 2:
            s.generation = 0;
            break;
        case 3:
            s.n_gens = KOS__SYS_MAX_GENS + 1;
            break;
        case 4:
            s.gens[1].n = 1; /* not ascending */
            break;
        case 5:
            s.gens[0].n = 0;
            break;
        case 6:
            s.gens[0].flags = KOS__SYS_GEN_GOOD; /* two good */
            break;
        case 7:
            s.gens[0].flags = 8;
            break;
        case 8:
            s.gens[0].state = 0;
            break;
        case 9:
            s.gens[0].state = KOS__SYS_GEN_DAMAGED + 1;
            break;
        case 10:
            s.gens[0].signer = "3F9A1C0DE4B27781";
            break;
        case 11:
            s.generation = 2; /* the running mark is on 3 */
            break;
        default:
            s.gens[3].signer = NULL;
            break;
        }
        if (kos__sys_status_encode(&s, buf, sizeof(buf), &len) != KOS_STATUS_INVALID_ARGUMENT)
            fail_msg("malformed generation field %d encoded", i);
    }
    /* No store, no generations: what a page from an image file says. */
    s = sample_status();
    s.generation = 1;
    assert_int_equal(kos__sys_status_encode(&s, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);

    /* Written by hand: a count past the bound, read before any generation,
     * and a count larger than the generations sent. */
    s = sample_store();
    assert_int_equal(kos__sys_status_encode(&s, buf, sizeof(buf), &len), KOS_STATUS_OK);
    size_t at = len - 4 * 4 - 4 * (5 * 4 + 8) - (17 + 17 + 1 + 1) - 4; /* n_gens */
    uint32_t v;
    memcpy(&v, buf + at, 4);
    assert_int_equal(v, 4);
    v = UINT32_MAX;
    memcpy(buf + at, &v, 4);
    assert_int_equal(kos__sys_status_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    v = 5;
    memcpy(buf + at, &v, 4);
    assert_int_equal(kos__sys_status_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    v = 3; /* the fourth generation's bytes read as overlay numbers: 4 of no release */
    memcpy(buf + at, &v, 4);
    assert_int_equal(kos__sys_status_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
}

static void test_result_and_line(void **state)
{
    (void)state;
    struct kos__sys_result r = {5, KOS_STATUS_NOT_FOUND, "no app 'x' in this system"}, rd;
    struct kos__sys_line l = {.time_ns = 123456789000,
                              .dropped = 17,
                              .text = "info: \\x1b tab\tok"},
                         ld;
    size_t len;

    assert_int_equal(kos__sys_result_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_result_decode(buf, len, &rd), KOS_STATUS_OK);
    assert_int_equal(rd.status, KOS_STATUS_NOT_FOUND);
    assert_string_equal(rd.message, r.message);
    truncations_refused(KOS__CTL_SYS_RESULT, len);
    r.status = KOS_STATUS__COUNT;
    assert_int_equal(kos__sys_result_encode(&r, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    r = (struct kos__sys_result){1, 0, "bell\a"};
    assert_int_equal(kos__sys_result_encode(&r, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);

    strcpy(l.name, "core");
    assert_int_equal(kos__sys_line_encode(&l, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_line_decode(buf, len, &ld), KOS_STATUS_OK);
    assert_int_equal(ld.time_ns, 123456789000);
    assert_int_equal(ld.dropped, 17);
    assert_string_equal(ld.name, "core");
    assert_string_equal(ld.text, l.text);
    truncations_refused(KOS__CTL_SYS_CONSOLE, len);
    l.text = "raw\x1b";
    assert_int_equal(kos__sys_line_encode(&l, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
    l.text = "ok";
    strcpy(l.name, "no name");
    assert_int_equal(kos__sys_line_encode(&l, buf, sizeof(buf), &len), KOS_STATUS_INVALID_ARGUMENT);
}

static void test_names_and_types(void **state)
{
    (void)state;
    assert_string_equal(kos__sys_state_name(KOS__SYS_NOT_STARTED), "not started");
    assert_string_equal(kos__sys_state_name(KOS__SYS_RUNNING_READY), "running, ready");
    assert_string_equal(kos__sys_state_name(KOS__SYS_RUNNING_NOT_READY), "running, not ready");
    assert_string_equal(kos__sys_state_name(KOS__SYS_WAITING), "waiting to restart");
    assert_string_equal(kos__sys_state_name(KOS__SYS_ENDED), "ended");
    assert_string_equal(kos__sys_state_name(KOS__SYS_STOPPED), "stopped");
    assert_string_equal(kos__sys_state_name(KOS__SYS_FAILED), "failed");
    assert_string_equal(kos__sys_state_name(0), "unknown");
    assert_true(kos__sys_from_core(KOS__CTL_SYS_CONSOLE));
    assert_true(kos__sys_from_core(KOS__CTL_SYS_CHANGED));
    assert_false(kos__sys_from_core(KOS__CTL_STOP));
    assert_false(kos__sys_from_core(KOS__CTL_SYS_REBOOT));
}

/* Core's tables: a request and a page of each kind round-trip; every
 * truncation, a cell out of its kind, rows beyond the total and a kind
 * that does not exist are refused. */
static void test_table(void **state)
{
    (void)state;
    static struct kos__sys_table t, d;
    struct kos__sys_request r, rd;
    size_t len;

    r = (struct kos__sys_request){
        .type = KOS__CTL_SYS_TABLE_REQ, .id = 4, .table = KOS__SYS_TABLE_KEYS, .first = 2};
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(len, 12);
    assert_int_equal(kos__sys_request_decode(r.type, buf, len, &rd), KOS_STATUS_OK);
    assert_int_equal(rd.id, 4);
    assert_int_equal(rd.table, KOS__SYS_TABLE_KEYS);
    assert_int_equal(rd.first, 2);
    truncations_refused(r.type, len);
    r.table = 3;
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    r.table = KOS__SYS_TABLE_GRANTS;
    r.first = KOS__SYS_TABLE_MAX_ROWS;
    assert_int_equal(kos__sys_request_encode(&r, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);

    t = (struct kos__sys_table){
        .id = 9, .kind = KOS__SYS_TABLE_GRANTS, .n_total = 5, .first = 3, .n_rows = 2};
    const char *g0[] = {"msg0", "kos_log_protocol", "publish", "log_server"};
    const char *g1[] = {"msg0", "kos_log_protocol", "request", "admin"};
    memcpy(t.cell[0], g0, sizeof(g0));
    memcpy(t.cell[1], g1, sizeof(g1));
    assert_int_equal(kos__sys_table_encode(&t, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_table_decode(buf, len, &d), KOS_STATUS_OK);
    assert_int_equal(d.n_rows, 2);
    assert_int_equal(d.first, 3);
    assert_string_equal(d.cell[1][3], "admin");
    truncations_refused(KOS__CTL_SYS_TABLE, len);

    t = (struct kos__sys_table){.id = 1, .kind = KOS__SYS_TABLE_KEYS, .n_total = 3, .n_rows = 3};
    const char *k0[] = {"identity", "ed25519", "9c1d5bf12a0a0a53", "private"};
    const char *k1[] = {"identity_cert", "x509", "9c1d5bf12a0a0a53", "item"};
    const char *k2[] = {"server", "text", "-", "item"};
    memcpy(t.cell[0], k0, sizeof(k0));
    memcpy(t.cell[1], k1, sizeof(k1));
    memcpy(t.cell[2], k2, sizeof(k2));
    assert_int_equal(kos__sys_table_encode(&t, buf, sizeof(buf), &len), KOS_STATUS_OK);
    assert_int_equal(kos__sys_table_decode(buf, len, &d), KOS_STATUS_OK);
    assert_string_equal(d.cell[2][2], "-");

    /* Cells out of their kind, refused by both ends. */
    static const struct {
        uint32_t kind;
        int cell;
        const char *value;
    } bad[] = {
        {KOS__SYS_TABLE_GRANTS, 0, "bad name"},
        {KOS__SYS_TABLE_GRANTS, 2, "serve"},
        {KOS__SYS_TABLE_GRANTS, 3, ""},
        {KOS__SYS_TABLE_KEYS, 1, "rsa"},
        {KOS__SYS_TABLE_KEYS, 2, "9C1D5BF12A0A0A53"},
        {KOS__SYS_TABLE_KEYS, 2, "9c1d"},
        {KOS__SYS_TABLE_KEYS, 3, "secret"},
        {KOS__SYS_TABLE_KEYS, 0, "esc\x1b"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = (struct kos__sys_table){.kind = bad[i].kind, .n_total = 1, .n_rows = 1};
        memcpy(t.cell[0], bad[i].kind == KOS__SYS_TABLE_GRANTS ? g0 : k0, sizeof(g0));
        t.cell[0][bad[i].cell] = bad[i].value;
        if (kos__sys_table_encode(&t, buf, sizeof(buf), &len) != KOS_STATUS_INVALID_ARGUMENT)
            fail_msg("bad cell %zu encoded", i);
    }
    /* Rows beyond the total, and a kind that does not exist, written by hand. */
    t = (struct kos__sys_table){.kind = KOS__SYS_TABLE_GRANTS, .n_total = 1, .n_rows = 1};
    memcpy(t.cell[0], g0, sizeof(g0));
    assert_int_equal(kos__sys_table_encode(&t, buf, sizeof(buf), &len), KOS_STATUS_OK);
    uint32_t v = 0;
    memcpy(buf + 8, &v, 4); /* n_total 0 */
    assert_int_equal(kos__sys_table_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    v = 1;
    memcpy(buf + 8, &v, 4);
    v = 7;
    memcpy(buf + 4, &v, 4); /* kind 7 */
    assert_int_equal(kos__sys_table_decode(buf, len, &d), KOS_STATUS_PROTOCOL);
    assert_true(kos__sys_from_core(KOS__CTL_SYS_TABLE));
    assert_false(kos__sys_from_core(KOS__CTL_SYS_TABLE_REQ));
}

/* Core's sends to an app never wait: a full channel says WOULD_BLOCK. */
static void test_send_nowait(void **state)
{
    (void)state;
    int sv[2], n = 0;
    kos_status_t st;

    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    memset(buf, 'x', 4096);
    while ((st = kos__ctl_send_nowait(sv[0], KOS__CTL_SYS_CHANGED, buf, 4096)) == KOS_STATUS_OK)
        assert_true(++n < 100000);
    assert_int_equal(st, KOS_STATUS_WOULD_BLOCK);
    assert_true(n > 0);
    close(sv[1]);
    assert_int_equal(kos__ctl_send_nowait(sv[0], KOS__CTL_STOP, NULL, 0), KOS_STATUS_CLOSED);
    close(sv[0]);
}

/* ---- Core's queue of console lines ---- */

static void push(struct kos__sysq *q, int i)
{
    char text[64];
    int n = snprintf(text, sizeof(text), "info: line %d", i);
    kos__sysq_push(q, i, "talker", text, (size_t)n);
}

static void test_sysq(void **state)
{
    (void)state;
    static struct kos__sysq q;
    const struct kos__sysq_line *l;
    uint64_t dropped;

    kos__sysq_init(&q);
    /* Before anyone subscribes, the newest lines are kept, the rest
     * counted. */
    for (int i = 0; i < (int)KOS__SYSQ_LINES + 10; i++)
        push(&q, i);
    assert_int_equal(q.n, KOS__SYSQ_LINES);
    assert_int_equal(q.dropped, 10);
    assert_null(kos__sysq_next(&q, &dropped)); /* not subscribed */
    /* The first credit subscribes; lines go within it, the first with the
     * count. */
    kos__sysq_credit(&q, 3 * kos__sysq_cost(q.line[q.head]));
    l = kos__sysq_next(&q, &dropped);
    assert_non_null(l);
    assert_int_equal(dropped, 10);
    assert_string_equal(l->text, "info: line 10");
    kos__sysq_sent(&q);
    for (int k = 0; k < 2; k++) {
        assert_non_null(kos__sysq_next(&q, &dropped));
        assert_int_equal(dropped, 0);
        kos__sysq_sent(&q);
    }
    assert_null(kos__sysq_next(&q, &dropped)); /* the credit is spent */
    assert_int_equal(q.flight_n, 3);
    /* Paying one line back frees one line's credit. */
    kos__sysq_credit(&q, kos__sysq_cost(q.line[q.head]));
    assert_int_equal(q.flight_n, 2);
    assert_non_null(kos__sysq_next(&q, &dropped));
    kos__sysq_sent(&q);
    assert_null(kos__sysq_next(&q, &dropped));
    /* Credit never passes the window less what is in flight. */
    for (int k = 0; k < 100; k++)
        kos__sysq_credit(&q, KOS__SYS_CONSOLE_WINDOW);
    uint64_t in_flight = 0;
    for (uint32_t k = 0; k < q.flight_n; k++)
        in_flight += q.flight[(q.flight_head + k) % KOS__SYSQ_FLIGHT];
    assert_true(q.credit + in_flight <= KOS__SYS_CONSOLE_WINDOW);
    /* The app ends: its lines in flight count as dropped; nothing is sent
     * until it subscribes again. */
    uint32_t flying = q.flight_n;
    uint64_t before = q.dropped;
    kos__sysq_unsubscribe(&q);
    assert_int_equal(q.dropped, before + flying);
    assert_null(kos__sysq_next(&q, &dropped));
    kos__sysq_credit(&q, KOS__SYS_CONSOLE_WINDOW);
    l = kos__sysq_next(&q, &dropped);
    assert_non_null(l);
    assert_int_equal(dropped, flying);
    /* The byte bound: a long line pushes out old ones. */
    static char big[KOS__SYS_TEXT_MAX];
    memset(big, 'b', sizeof(big));
    uint32_t n_before = q.n;
    for (int k = 0; k < 40; k++)
        kos__sysq_push(&q, 1, "core", big, sizeof(big) - 1);
    assert_true(q.bytes <= KOS__SYSQ_BYTES);
    assert_true(q.n < n_before + 40);
    kos__sysq_push(&q, 1, "core", big, sizeof(big)); /* too long: counted */
    kos__sysq_fini(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_status_gens),
        cmocka_unit_test(test_result_and_line),
        cmocka_unit_test(test_names_and_types),
        cmocka_unit_test(test_send_nowait),
        cmocka_unit_test(test_sysq),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
