/*
 * sysq.c - the console lines on their way to the app that manages the
 * system: a bounded ring of copies, sent within the app's credit. See
 * sysq_int.h for what stays true of it.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sysq_int.h"

void kos__sysq_init(struct kos__sysq *q)
{
    memset(q, 0, sizeof(*q));
}

void kos__sysq_fini(struct kos__sysq *q)
{
    for (uint32_t i = 0; i < q->n; i++)
        free(q->line[(q->head + i) % KOS__SYSQ_LINES]);
    kos__sysq_init(q);
}

/* Takes the oldest line off the queue. */
static void pop(struct kos__sysq *q)
{
    struct kos__sysq_line *l = q->line[q->head];

    assert(q->n > 0);
    q->bytes -= l->len;
    free(l);
    q->line[q->head] = NULL;
    q->head = (q->head + 1) % KOS__SYSQ_LINES;
    q->n--;
}

static void drop(struct kos__sysq *q, uint64_t n)
{
    q->dropped += n;
    q->dropped_all += n;
}

void kos__sysq_push(struct kos__sysq *q, int64_t time_ns, const char *name, const char *text,
                    size_t len)
{
    struct kos__sysq_line *l;

    if (len >= KOS__SYS_TEXT_MAX || len > KOS__SYSQ_BYTES) {
        drop(q, 1);
        return;
    }
    while (q->n > 0 && (q->n == KOS__SYSQ_LINES || q->bytes + len > KOS__SYSQ_BYTES)) {
        pop(q);
        drop(q, 1);
    }
    l = malloc(sizeof(*l) + len + 1);
    if (!l) {
        drop(q, 1);
        return;
    }
    l->time_ns = time_ns;
    strncpy(l->name, name, sizeof(l->name) - 1);
    l->name[sizeof(l->name) - 1] = '\0';
    l->len = len;
    memcpy(l->text, text, len);
    l->text[len] = '\0';
    q->line[(q->head + q->n) % KOS__SYSQ_LINES] = l;
    q->n++;
    q->bytes += len;
}

uint32_t kos__sysq_cost(const struct kos__sysq_line *l)
{
    /* time, dropped, the name and the text, each string with its NUL */
    return kos__sys_console_cost(8 + 4 + strlen(l->name) + 1 + l->len + 1);
}

const struct kos__sysq_line *kos__sysq_next(const struct kos__sysq *q, uint64_t *dropped)
{
    const struct kos__sysq_line *l = q->n ? q->line[q->head] : NULL;

    if (!l || !q->subscribed || q->flight_n == KOS__SYSQ_FLIGHT || kos__sysq_cost(l) > q->credit)
        return NULL;
    *dropped = q->dropped;
    return l;
}

void kos__sysq_sent(struct kos__sysq *q)
{
    uint32_t cost = kos__sysq_cost(q->line[q->head]);

    assert(cost <= q->credit && q->flight_n < KOS__SYSQ_FLIGHT);
    q->credit -= cost;
    q->flight[(q->flight_head + q->flight_n) % KOS__SYSQ_FLIGHT] = cost;
    q->flight_n++;
    q->dropped = 0;
    pop(q);
}

void kos__sysq_discard(struct kos__sysq *q)
{
    pop(q);
    drop(q, 1);
}

void kos__sysq_credit(struct kos__sysq *q, uint32_t bytes)
{
    uint64_t in_flight = 0;

    if (!q->subscribed) {
        q->subscribed = true;
        q->credit = 0;
        q->returned = 0;
    } else {
        /* Paid back: the lines in flight it covers, oldest first. */
        q->returned += bytes;
        while (q->flight_n > 0 && q->flight[q->flight_head] <= q->returned) {
            q->returned -= q->flight[q->flight_head];
            q->flight_head = (q->flight_head + 1) % KOS__SYSQ_FLIGHT;
            q->flight_n--;
        }
        if (q->flight_n == 0)
            q->returned = 0;
    }
    for (uint32_t i = 0; i < q->flight_n; i++)
        in_flight += q->flight[(q->flight_head + i) % KOS__SYSQ_FLIGHT];
    uint64_t credit = (uint64_t)q->credit + bytes;
    uint64_t room = KOS__SYS_CONSOLE_WINDOW > in_flight ? KOS__SYS_CONSOLE_WINDOW - in_flight : 0;
    q->credit = (uint32_t)(credit < room ? credit : room);
}

void kos__sysq_unsubscribe(struct kos__sysq *q)
{
    drop(q, q->flight_n);
    q->subscribed = false;
    q->credit = 0;
    q->flight_head = q->flight_n = 0;
    q->returned = 0;
}
