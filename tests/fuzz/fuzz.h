/*
 * fuzz.h - what every harness in tests/fuzz/ defines and shares.
 *
 * Each harness is one .c file defining LLVMFuzzerTestOneInput(). It is linked
 * twice: with libFuzzer's main() in the `fuzz` preset (fuzz_<target>), and
 * with replay.c's main() in every build (fuzz_replay_<target>), which feeds
 * it each file of the target's corpus. A harness keeps no state between
 * inputs except what it sets up once on its first call, frees everything an
 * input made before it returns, and answers the same input the same way.
 * It calls abort() when the code under test breaks a promise its header
 * makes (a compiled manifest the compiler wrote that kos_cm_open() refuses,
 * a decoded message that does not encode back to the same bytes, ...), so
 * that libFuzzer reports it like a crash.
 */
#ifndef KOS_TESTS_FUZZ_H
#define KOS_TESTS_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input; always returns 0 (libFuzzer reserves other values). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports a broken promise on stderr and aborts. */
static inline void kos_fuzz_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static inline void kos_fuzz_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("fuzz: broken promise: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

#endif
