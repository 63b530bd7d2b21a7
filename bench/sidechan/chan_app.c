/*
 * chan_app.c - the two ends of a covert channel through CPU contention,
 * for bench/sidechan: two apps with no protocol between them, pinned to
 * the same CPU (sched_setaffinity is allowed), agree on nothing but the
 * clock and a bit pattern both know.
 *
 *   send PERIOD_US BITS [nopin|allcpus]
 *                         in slot i (PERIOD_US long, from an epoch both
 *                         compute), spin for a 1 bit and sleep for a 0;
 *                         with allcpus, on every CPU at once (a thread per
 *                         CPU, which needs limits: {processes: N})
 *   recv PERIOD_US BITS [nopin]
 *                         count how far a clock-reading loop gets in each
 *                         slot; fewer iterations than the median is a 1;
 *                         log the bits and errors against the pattern
 *
 * Each tries to pin itself to CPU 0 unless told nopin or allcpus; the
 * sandbox refuses sched_setaffinity, so the scheduler alone decides whether
 * they share a CPU, and the receiver logs whether it was pinned. The epoch is the first multiple of
 * 4 s at least 1 s after start, so the two ends, started together, agree on it.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* The pattern both ends know: a 16-bit maximal LFSR's output, made once
 * before any thread runs. */
#define MAX_BITS 4096u
static unsigned char pattern[MAX_BITS];

static void make_pattern(void)
{
    uint16_t lfsr = 0xace1u;
    for (unsigned i = 0; i < MAX_BITS; i++) {
        unsigned b = ((lfsr >> 0) ^ (lfsr >> 2) ^ (lfsr >> 3) ^ (lfsr >> 5)) & 1u;
        lfsr = (uint16_t)((lfsr >> 1) | (b << 15));
        pattern[i] = lfsr & 1u;
    }
}

static int pattern_bit(unsigned i)
{
    return pattern[i];
}

struct sender {
    uint64_t epoch, period;
    unsigned bits;
};

/* Sends the pattern: spin through a 1 slot, sleep through a 0. */
static void *send_bits(void *arg)
{
    const struct sender *s = arg;
    for (unsigned i = 0; i < s->bits; i++) {
        uint64_t end = s->epoch + (i + 1) * s->period;
        if (pattern_bit(i))
            while (now_us() < end)
                ;
        else
            sleep_until(end);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    if (kos_app_open(&app) || argc < 4 || argc > 5)
        return 2;
    bool all = argc == 5 && !strcmp(argv[4], "allcpus"), pin = argc < 5, pinned = false;
    uint64_t period = strtoull(argv[2], NULL, 10);
    unsigned bits = (unsigned)strtoul(argv[3], NULL, 10);
    if (bits == 0 || bits > MAX_BITS)
        return 2;
    make_pattern();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (pin && !(pinned = sched_setaffinity(0, sizeof(one), &one) == 0))
        kos_log_info("sched_setaffinity: cannot pin to CPU 0: %s", strerror(errno));
    uint64_t epoch = (now_us() + 1000000u + 3999999u) / 4000000u * 4000000u;
    if (kos_app_ready(app))
        return 1;
    if (!strcmp(argv[1], "send")) {
        struct sender snd = {.epoch = epoch, .period = period, .bits = bits};
        pthread_t t[64];
        cpu_set_t mine; /* no /sys in the sandbox: ask the scheduler */
        long cpus = all && sched_getaffinity(0, sizeof(mine), &mine) == 0 ? CPU_COUNT(&mine) : 1;
        int extra = 0;
        for (; extra + 1 < cpus && extra < 64; extra++) {
            int e = pthread_create(&t[extra], NULL, send_bits, &snd);
            if (e) {
                kos_log_warn("a sending thread for each of %ld CPUs: %s", cpus, strerror(e));
                break;
            }
        }
        send_bits(&snd);
        for (int k = 0; k < extra; k++)
            pthread_join(t[k], NULL);
        kos_log_info("sent %u bits on %d CPUs", bits, extra + 1);
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
        kos_log_info("sidechan cpu: period %llu us, %u bits, %u errors (%s)",
                     (unsigned long long)period, bits, errors, pinned ? "pinned" : "not pinned");
        free(count);
        free(sorted);
    }
    while (!kos_app_stopping(app)) {
        struct pollfd p = {.fd = kos_app_fd(app), .events = POLLIN};
        poll(&p, 1, -1);
    }
    return 0;
}
