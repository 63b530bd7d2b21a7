/*
 * bucket.c - the per-app token bucket of the log server (see bucket.h).
 */
#include "bucket.h"

void bucket_init(struct bucket *b, uint32_t burst, uint64_t now_ns)
{
    b->micro = (uint64_t)burst * 1000000u;
    b->last_ns = now_ns;
}

bool bucket_take(struct bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ns)
{
    uint64_t full = (uint64_t)burst * 1000000u;

    if (rate == 0)
        return true;
    /* A clock that did not move (or went back) adds nothing. */
    if (now_ns > b->last_ns && b->micro >= full) {
        b->last_ns = now_ns;
    } else if (now_ns > b->last_ns) {
        /* rate tokens/s is rate/1000 micro-tokens per ns. Compare with the
         * time needed to fill up first, so the product cannot overflow; keep
         * the time not yet turned into whole micro-tokens. */
        uint64_t elapsed = now_ns - b->last_ns;
        uint64_t need_ns = ((full - b->micro) * 1000u + rate - 1) / rate;
        if (elapsed >= need_ns) {
            b->micro = full;
            b->last_ns = now_ns;
        } else {
            uint64_t add = elapsed * rate / 1000u;
            b->micro += add;
            b->last_ns += add * 1000u / rate;
        }
    }
    if (b->micro > full)
        b->micro = full;
    if (b->micro < 1000000u)
        return false;
    b->micro -= 1000000u;
    return true;
}
