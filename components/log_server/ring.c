/*
 * ring.c - the bounded record ring of the log server (see ring.h).
 */
#include <stdlib.h>
#include <string.h>

#include "ring.h"

struct slot {
    struct kos__logrec r;
    char data[]; /* app then text */
};

struct ring {
    struct slot **slots;
    uint32_t cap;
    uint32_t head; /* index of the oldest record */
    uint32_t count;
};

struct ring *ring_create(uint32_t cap)
{
    struct ring *ring;

    if (cap == 0)
        return NULL;
    ring = calloc(1, sizeof(*ring));
    if (!ring)
        return NULL;
    ring->slots = calloc(cap, sizeof(*ring->slots));
    if (!ring->slots) {
        free(ring);
        return NULL;
    }
    ring->cap = cap;
    return ring;
}

void ring_destroy(struct ring *ring)
{
    if (!ring)
        return;
    for (uint32_t i = 0; i < ring->cap; i++)
        free(ring->slots[i]);
    free(ring->slots);
    free(ring);
}

kos_status_t ring_push(struct ring *ring, const struct kos__logrec *r)
{
    struct slot *s;
    uint32_t at;

    if (!kos__logrec_valid(r) || (ring->count && r->seq <= ring_at(ring, ring->count - 1)->seq))
        return KOS_STATUS_INVALID_ARGUMENT;
    s = malloc(sizeof(*s) + r->app_len + r->text_len);
    if (!s)
        return KOS_STATUS_NO_MEMORY;
    s->r = *r;
    memcpy(s->data, r->app, r->app_len);
    if (r->text_len)
        memcpy(s->data + r->app_len, r->text, r->text_len);
    s->r.app = s->data;
    s->r.text = s->data + r->app_len;
    if (ring->count == ring->cap) {
        free(ring->slots[ring->head]);
        ring->slots[ring->head] = NULL;
        ring->head = (ring->head + 1) % ring->cap;
        ring->count--;
    }
    at = (uint32_t)(((uint64_t)ring->head + ring->count) % ring->cap);
    ring->slots[at] = s;
    ring->count++;
    return KOS_STATUS_OK;
}

uint32_t ring_count(const struct ring *ring)
{
    return ring->count;
}

const struct kos__logrec *ring_at(const struct ring *ring, uint32_t i)
{
    return &ring->slots[(uint32_t)(((uint64_t)ring->head + i) % ring->cap)]->r;
}

uint32_t ring_find(const struct ring *ring, uint64_t seq)
{
    uint32_t lo = 0, hi = ring->count;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ring_at(ring, mid)->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
