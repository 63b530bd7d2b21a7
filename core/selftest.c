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
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "selftest_int.h"
#include "file_int.h"
#include "statedir_int.h"

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

kos_status_t kos__self_test_write(int state_fd, const struct kos__self_test_record *rec, char *err,
                                  size_t errlen)
{
    char when[32], text[2048];
    struct timespec ts;
    struct tm tm;
    int n, e;

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
    e = kos__file_replace(state_fd, KOS__SELF_TEST_FILE, text, (size_t)n);
    if (e) {
        snprintf(err, errlen, "cannot replace %s: %s", KOS__SELF_TEST_FILE, strerror(e));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}
