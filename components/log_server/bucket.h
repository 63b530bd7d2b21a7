/*
 * bucket.h - a token bucket: at most `burst` records at once, refilled at
 * `rate` records per second.
 *
 * The bucket holds micro-tokens so slow rates refill smoothly; it never
 * holds more than `burst` tokens. Time is the caller's (monotonic ns), so the
 * bucket is a pure function of the calls made on it.
 */
#ifndef LOG_BUCKET_H
#define LOG_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#define BUCKET_MAX 1000000u /* largest rate and burst accepted */

struct bucket {
    uint64_t micro;   /* tokens x 1e6 */
    uint64_t last_ns; /* when micro was last brought up to date */
};

/* A full bucket at time now_ns. */
void bucket_init(struct bucket *b, uint32_t burst, uint64_t now_ns);

/* Refills for the time since the last call and takes one token if there is
 * one. rate 0 means no limit (always true). rate and burst are at most
 * BUCKET_MAX; burst is at least 1. */
bool bucket_take(struct bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ns);

#endif
