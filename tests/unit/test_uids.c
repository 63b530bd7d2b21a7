/*
 * test_uids.c - host uid ranges (core/uids.c) and the state directory
 * (core/statedir.c): a range held is never handed out again until it is
 * released, the recorded range is preferred, a record Core does not
 * understand is ignored, and a state directory is Core's user's, mode
 * 0700 and held by one Core at a time.
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
#include <sys/stat.h>
#include <unistd.h>

#include "file_int.h"
#include "statedir_int.h"
#include "tree_int.h"
#include "uids_int.h"

static void write_record(int dfd, const char *text)
{
    assert_int_equal(kos__file_replace(dfd, KOS__UID_RECORD, text, strlen(text)), 0);
}

static void test_record(void **state)
{
    (void)state;
    char dir[] = "/tmp/kos-test-uids-XXXXXX";
    struct kos__uids u = {.range = 7, .first = KOS__UID_BASE + 7 * KOS__UID_SPAN, .lock_fd = -1};

    assert_non_null(mkdtemp(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_int_equal(kos__uids_recorded(dfd), KOS__UID_NONE); /* none yet */
    assert_int_equal(kos__uids_record(dfd, &u), 0);
    assert_int_equal(kos__uids_recorded(dfd), 7);
    /* What Core does not understand, it ignores. */
    write_record(dfd, "format 2\nrange 3\n");
    assert_int_equal(kos__uids_recorded(dfd), KOS__UID_NONE);
    write_record(dfd, "format 1\nrange 3x\n");
    assert_int_equal(kos__uids_recorded(dfd), KOS__UID_NONE);
    write_record(dfd, "format 1\nrange 1000\n");
    assert_int_equal(kos__uids_recorded(dfd), KOS__UID_NONE);
    write_record(dfd, "# comment\nformat 1\nrange 999\n");
    assert_int_equal(kos__uids_recorded(dfd), 999);
    /* No temporary file is left behind. */
    assert_int_equal(faccessat(dfd, ".uids.tmp", F_OK, 0), -1);
    unlinkat(dfd, KOS__UID_RECORD, 0);
    close(dfd);
    rmdir(dir);
}

static void test_claim(void **state)
{
    (void)state;
    struct kos__uids a, b, c;
    char err[256];

    if (geteuid() != 0)
        skip(); /* the lock directory is root's, in /run */
    assert_int_equal(kos__uids_claim(&a, KOS__UID_NONE, err, sizeof(err)), KOS_STATUS_OK);
    /* Held: another claim, even preferring it, gets another range. */
    assert_int_equal(kos__uids_claim(&b, a.range, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_not_equal(a.range, b.range);
    assert_int_equal(a.first, KOS__UID_BASE + a.range * KOS__UID_SPAN);
    /* A free range preferred is the one taken. */
    assert_int_equal(kos__uids_claim(&c, 950, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(c.range, 950);
    kos__uids_release(&c);
    assert_int_equal(kos__uids_claim(&c, 950, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(c.range, 950);
    kos__uids_release(&a);
    kos__uids_release(&b);
    kos__uids_release(&c);
    struct stat st;
    assert_int_equal(stat(KOS__UID_LOCK_DIR, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, 0);
}

static void test_statedir(void **state)
{
    (void)state;
    char dir[] = "/tmp/kos-test-state-XXXXXX", path[64], err[512];
    struct kos__statedir a, b;
    struct stat st;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(kos__statedir_open(&a, path, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(fstat(a.fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(fstat(a.data_fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_false(a.fresh);
    /* One Core at a time. */
    assert_int_equal(kos__statedir_open(&b, path, err, sizeof(err)), KOS_STATUS_IO);
    assert_non_null(strstr(err, "is in use by another Core"));
    kos__statedir_close(&a);
    assert_int_equal(kos__statedir_open(&b, path, err, sizeof(err)), KOS_STATUS_OK);
    kos__statedir_close(&b);
    /* A fresh one is removed, with what it holds, at the end. */
    assert_int_equal(kos__statedir_open(&a, NULL, err, sizeof(err)), KOS_STATUS_OK);
    assert_true(a.fresh);
    snprintf(path, sizeof(path), "%s", a.path);
    assert_int_equal(mkdirat(a.data_fd, "app", 0), 0);
    kos__statedir_close(&a);
    assert_int_equal(stat(path, &st), -1);
    if (geteuid() == 0) {
        /* Another user's directory is refused. */
        snprintf(path, sizeof(path), "%s/theirs", dir);
        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(kos__statedir_open(&a, path, err, sizeof(err)), KOS_STATUS_IO);
        assert_non_null(strstr(err, "belongs to uid 65534"));
        rmdir(path);
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_int_equal(kos__tree_clear(fd), 0);
    close(fd);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_claim),
        cmocka_unit_test(test_statedir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
