/*
 * selftest.c - the self-test record in the state directory
 * (selftest_int.h): one "key value" line per field, after a comment line
 * and the format line:
 *
 *   # KOS self-test record (docs/running.md)
 *   format 1
 *   time 2026-12-01T18:04:05Z
 *   system i2c_sensor
 *   manifest 5d41...        (SHA-256 of the compiled manifest)
 *   signer 3f9a1c0de4b27781 (or "unsigned")
 *   app self_test
 *   result passed           (passed | failed | incomplete)
 *   checks 5
 *   failed 0
 *   summary msg0 ok (ping); rng ok (...); ...
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "selftest_int.h"

const char *kos__self_test_result_name(enum kos__self_test_result r)
{
    switch (r) {
    case KOS__SELF_TEST_RESULT_PASSED:
        return "passed";
    case KOS__SELF_TEST_RESULT_FAILED:
        return "failed";
    case KOS__SELF_TEST_INCOMPLETE:
        return "incomplete";
    default:
        return "none";
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

kos_status_t kos__self_test_write(const char *state_dir, const struct kos__self_test_record *rec,
                                  char *err, size_t errlen)
{
    char path[4096], tmp[4096], when[32], text[2048];
    struct timespec ts;
    struct tm tm;
    int fd, dfd, n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = snprintf(text, sizeof(text),
                 "# KOS self-test record (docs/running.md)\n"
                 "format %d\n"
                 "time %s\n"
                 "system %s\n"
                 "manifest %s\n"
                 "signer %s\n"
                 "app %s\n"
                 "result %s\n"
                 "checks %u\n"
                 "failed %u\n"
                 "summary %s\n",
                 KOS__SELF_TEST_FORMAT, when, rec->system, rec->manifest,
                 rec->signer ? rec->signer : "unsigned", rec->app,
                 kos__self_test_result_name(rec->result), (unsigned)rec->checks,
                 (unsigned)rec->failed, rec->summary);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        snprintf(err, errlen, "the self-test record is too long");
        return KOS_STATUS_TOO_LARGE;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, KOS__SELF_TEST_FILE) >=
            sizeof(path) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", state_dir, KOS__SELF_TEST_FILE) >=
            sizeof(tmp)) {
        snprintf(err, errlen, "state directory path too long");
        return KOS_STATUS_TOO_LARGE;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return KOS_STATUS_IO;
    }
    if (write_all(fd, text, (size_t)n) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return KOS_STATUS_IO;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return KOS_STATUS_IO;
    }
    dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return KOS_STATUS_OK;
}
