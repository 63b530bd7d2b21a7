/*
 * selftest_int.h - what Core keeps of a boot's self test: the verdict that
 * the app marked reports_self_test sent, written to the state directory for
 * the boot-fallback logic (docs/running.md, "Self test").
 *
 * The record is a small text file, STATE_DIR/self_test, replaced atomically
 * (temporary file, fsync, rename, directory fsync): a reader finds the old
 * record or the new one, whole.
 */
#ifndef KOS_CORE_SELFTEST_INT_H
#define KOS_CORE_SELFTEST_INT_H

#include <stdint.h>

#include <kos/status.h>

#define KOS__SELF_TEST_FILE   "self_test"
#define KOS__SELF_TEST_FORMAT 1

enum kos__self_test_result {
    KOS__SELF_TEST_NONE = 0,      /* no report yet */
    KOS__SELF_TEST_RESULT_PASSED, /* the self-test app reported a pass */
    KOS__SELF_TEST_RESULT_FAILED, /* it reported a failure, or ended without reporting */
    KOS__SELF_TEST_INCOMPLETE,    /* the system stopped before it reported */
};

struct kos__self_test_record {
    const char *system;   /* the system's name */
    const char *manifest; /* the compiled manifest's SHA-256, hex */
    const char *signer;   /* the release key id, or NULL for an unsigned image */
    const char *app;      /* the app that reported */
    enum kos__self_test_result result;
    uint32_t checks, failed;
    const char *summary; /* printable, one line */
};

/* The word for a result: "passed", "failed", "incomplete" or "none". */
const char *kos__self_test_result_name(enum kos__self_test_result r);

/* Writes *rec as self_test in the state directory open at state_fd,
 * replacing any earlier record (kos__statedir_replace). On failure err says
 * why and the earlier record, if any, is left as it was. Blocks on the file
 * system (fsync). */
kos_status_t kos__self_test_write(int state_fd, const struct kos__self_test_record *rec, char *err,
                                  size_t errlen) __attribute__((warn_unused_result));

#endif
