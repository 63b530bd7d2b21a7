/*
 * budget_int.h - a log budget: the lines a component logs about one app are
 * allowed `burst` at once and then one per `every_ms`, and the lines left
 * out are counted, so that no app can flood the console through a service
 * that logs what it does. msg_server, ethernet and log_server keep one per
 * app; Core's console keeps one per process for the lines it writes.
 */
#ifndef KOS_BUDGET_INT_H
#define KOS_BUDGET_INT_H

#include <stdbool.h>
#include <stdint.h>

struct kos__budget {
    unsigned credit;     /* lines that may be logged now */
    uint64_t refill_ms;  /* when the next credit comes */
    unsigned long quiet; /* lines left out since the last one logged */
};

/* Takes one line of budget b at time now_ms: true if it may be logged, with
 * *quiet set to how many lines were left out before it (and the count
 * reset); false (the line is counted) otherwise. Credit comes at one per
 * every_ms, at most `burst`. */
static inline bool kos__budget_take(struct kos__budget *b, unsigned burst, unsigned every_ms,
                                    uint64_t now_ms, unsigned long *quiet)
{
    if (now_ms >= b->refill_ms) {
        uint64_t credit = b->credit + (now_ms - b->refill_ms) / every_ms + 1;
        b->credit = credit > burst ? burst : (unsigned)credit;
        b->refill_ms = now_ms + every_ms;
    }
    if (b->credit == 0) {
        b->quiet++;
        return false;
    }
    b->credit--;
    *quiet = b->quiet;
    b->quiet = 0;
    return true;
}

#endif
