/*
 * sysq_int.h - the console lines on their way to the app that manages the
 * system (manages_system: true), which forwards them to its server.
 *
 * Core keeps the lines it printed in a bounded queue and sends them to that
 * app only within the credit the app gives (lib/sys_int.h,
 * KOS__CTL_SYS_CONSOLE_CREDIT), so neither a slow app nor a flood of lines
 * ever blocks Core or fills the app's control channel. What stays true:
 *  - the queue holds at most KOS__SYSQ_LINES lines and KOS__SYSQ_BYTES bytes
 *    of text; a line that does not fit pushes out the oldest unsent ones,
 *    which are counted, and the count goes with the next line sent: no line
 *    is lost silently;
 *  - the lines sent and not yet paid back in credit (in flight) cost at most
 *    KOS__SYS_CONSOLE_WINDOW; when the app ends, they are counted as dropped
 *    (some may have reached it), and the next app to subscribe starts with
 *    what is still queued;
 *  - before any app subscribes, the queue keeps the newest lines (the boot's
 *    among them), so the app gets them when it does.
 */
#ifndef KOS_CORE_SYSQ_INT_H
#define KOS_CORE_SYSQ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sys_int.h"

/* The queue's bounds: a few seconds of a busy system's console, and the
 * whole of a boot's lines. */
#define KOS__SYSQ_LINES 512u
#define KOS__SYSQ_BYTES (256u * 1024u)
/* Lines in flight: each costs at least KOS__SYS_CONSOLE_OVERHEAD. */
#define KOS__SYSQ_FLIGHT (KOS__SYS_CONSOLE_WINDOW / KOS__SYS_CONSOLE_OVERHEAD)

struct kos__sysq_line {
    int64_t time_ns;
    char name[KOS__NAME_MAX];
    size_t len;  /* bytes of text */
    char text[]; /* escaped, NUL-terminated */
};

struct kos__sysq {
    struct kos__sysq_line *line[KOS__SYSQ_LINES]; /* a ring, oldest at head */
    uint32_t head, n;
    size_t bytes;                      /* of text queued */
    uint64_t dropped;                  /* lines dropped since the last one sent */
    uint64_t dropped_all;              /* lines dropped since Core started */
    bool subscribed;                   /* the app asked for lines (its first credit) */
    uint32_t credit;                   /* bytes the app lets Core send now */
    uint32_t flight[KOS__SYSQ_FLIGHT]; /* the cost of each line in flight, oldest first */
    uint32_t flight_head, flight_n;
    uint32_t returned; /* credit paid back that covers no whole line yet */
};

/* Makes q empty, unsubscribed. */
void kos__sysq_init(struct kos__sysq *q);

/* Frees every queued line. */
void kos__sysq_fini(struct kos__sysq *q);

/* Queues one line, as the console printed it (text escaped, len bytes, at
 * most KOS__SYS_TEXT_MAX - 1), pushing out the oldest lines if it does not
 * fit; a line Core cannot copy is counted as dropped. */
void kos__sysq_push(struct kos__sysq *q, int64_t time_ns, const char *name, const char *text,
                    size_t len);

/* What line l costs in credit once encoded (kos__sys_console_cost()). */
uint32_t kos__sysq_cost(const struct kos__sysq_line *l);

/* The next line to send, if the app subscribed and its credit covers the
 * line's cost; NULL otherwise. *dropped says how many lines to report with
 * it. */
const struct kos__sysq_line *kos__sysq_next(const struct kos__sysq *q, uint64_t *dropped);

/* The line kos__sysq_next() gave was sent: it leaves the queue and is in
 * flight, its cost taken from the credit. */
void kos__sysq_sent(struct kos__sysq *q);

/* The line kos__sysq_next() gave cannot be sent: it leaves the queue,
 * counted as dropped. */
void kos__sysq_discard(struct kos__sysq *q);

/* The app gave `bytes` of credit (1..KOS__SYS_CONSOLE_WINDOW): the first
 * subscribes it; later ones pay back lines in flight, oldest first, and what
 * is left is credit. The credit never passes the window less what is in
 * flight. */
void kos__sysq_credit(struct kos__sysq *q, uint32_t bytes);

/* The app ended or its channel closed: its lines in flight count as
 * dropped, and nothing is sent until an app subscribes again. */
void kos__sysq_unsubscribe(struct kos__sysq *q);

#endif
