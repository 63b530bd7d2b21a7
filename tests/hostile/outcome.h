/*
 * outcome.h - how the hostile apps report their attacks: one console line
 * per attempt, "attack NAME: contained: ..." or "attack NAME: ESCAPED:
 * ...", and a closing count; the test scripts check the lines.
 */
#ifndef KOS_TESTS_HOSTILE_OUTCOME_H
#define KOS_TESTS_HOSTILE_OUTCOME_H

/* 1 in a sanitizer build, whose apps may fork (LeakSanitizer's tracer), have
 * no memory limit and a private /proc: some attacks then mean less. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Records the outcome of one attempt. */
void outcome(const char *name, int contained, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs "attacks done: N contained, M escaped". */
void outcome_done(void);

#endif
