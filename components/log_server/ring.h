/*
 * ring.h - the log server's bounded ring of records, oldest first.
 *
 * The ring holds at most `cap` records, each a private heap copy; pushing
 * onto a full ring frees the oldest. Sequence numbers strictly increase from
 * oldest to newest (gaps are allowed), so a record is found by binary search.
 */
#ifndef LOG_RING_H
#define LOG_RING_H

#include <stdint.h>

#include "logsrv_int.h"

struct ring;

/* A ring for up to cap (>= 1) records, or NULL if out of memory. */
struct ring *ring_create(uint32_t cap);

/* Frees the ring and its records. ring_destroy(NULL) does nothing. */
void ring_destroy(struct ring *ring);

/* Copies r in as the newest record. KOS_STATUS_INVALID_ARGUMENT if its seq
 * is not above the newest's or r is not a valid record, KOS_STATUS_NO_MEMORY
 * if the copy cannot be made; the ring is unchanged then. */
kos_status_t ring_push(struct ring *ring, const struct kos__logrec *r)
    __attribute__((warn_unused_result));

/* Records held. */
uint32_t ring_count(const struct ring *ring);

/* The i-th record from the oldest (i < ring_count()); valid until the next
 * push. */
const struct kos__logrec *ring_at(const struct ring *ring, uint32_t i);

/* The index of the oldest record whose seq is at least `seq`
 * (ring_count() if none). */
uint32_t ring_find(const struct ring *ring, uint64_t seq);

#endif
