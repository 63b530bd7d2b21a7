/*
 * chan_app.c - the two ends of a covert channel through CPU contention,
 * for bench/sidechan: two apps with no protocol between them, pinned to
 * the same CPU (sched_setaffinity is allowed), agree on nothing but the
 * clock and a bit pattern both know.
 *
 *   send PERIOD_US BITS   in slot i (PERIOD_US long, from an epoch both
 *                         compute), spin for a 1 bit and sleep for a 0
 *   recv PERIOD_US BITS   count how far a clock-reading loop gets in each
 *                         slot; fewer iterations than the median is a 1;
 *                         log the bits and errors against the pattern
 *
 * The epoch is the first multiple of 4 s at least 1 s after start, so the
 * two ends, started together, agree on it.
 */
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kos/app.h>
#include <kos/log.h>

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000u), .tv_nsec = (long)(t % 1000000u) * 1000};
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

/* Bit i of the pattern both ends know: a 16-bit maximal LFSR. */
static int pattern_bit(unsigned i)
{
    static uint16_t lfsr = 0xace1u;
    static unsigned at = 0;
    if (i < at) {
        lfsr = 0xace1u;
        at = 0;
    }
    while (at <= i) {
        unsigned b = ((lfsr >> 0) ^ (lfsr >> 2) ^ (lfsr >> 3) ^ (lfsr >> 5)) & 1u;
        lfsr = (uint16_t)((lfsr >> 1) | (b << 15));
        at++;
    }
    return lfsr & 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    if (kos_app_open(&app) || argc != 4)
        return 2;
    uint64_t period = strtoull(argv[2], NULL, 10);
    unsigned bits = (unsigned)strtoul(argv[3], NULL, 10);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (sched_setaffinity(0, sizeof(one), &one) < 0)
        kos_log_warn("sched_setaffinity: cannot pin to CPU 0");
    uint64_t epoch = (now_us() + 1000000u + 3999999u) / 4000000u * 4000000u;
    if (kos_app_ready(app))
        return 1;
    if (!strcmp(argv[1], "send")) {
        for (unsigned i = 0; i < bits; i++) {
            uint64_t end = epoch + (i + 1) * period;
            if (pattern_bit(i))
                while (now_us() < end)
                    ;
            else
                sleep_until(end);
        }
        kos_log_info("sent %u bits", bits);
    } else {
        uint64_t *count = calloc(bits, sizeof(uint64_t)), *sorted = calloc(bits, sizeof(uint64_t));
        if (!count || !sorted)
            return 1;
        sleep_until(epoch);
        for (unsigned i = 0; i < bits; i++) {
            uint64_t end = epoch + (i + 1) * period, n = 0;
            while (now_us() < end)
                n++;
            count[i] = n;
        }
        memcpy(sorted, count, bits * sizeof(uint64_t));
        qsort(sorted, bits, sizeof(uint64_t), cmp_u64);
        uint64_t median = sorted[bits / 2];
        unsigned errors = 0;
        for (unsigned i = 0; i < bits; i++)
            errors += (count[i] < median) != pattern_bit(i);
        kos_log_info("sidechan cpu: period %llu us, %u bits, %u errors", (unsigned long long)period,
                     bits, errors);
        free(count);
        free(sorted);
    }
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, -1);
    }
    return 0;
}
