/*
 * budget_int.h - a log budget: the lines a component logs about one app are
 * allowed `burst` at once and then one per `every_ms`, and the lines left
 * out are counted, so that no app can flood the console through a service
 * that logs what it does. Every component keeps one per app (msg_server and
 * log_server in their own app tables, the others in a struct
 * kos__app_budgets); Core's console keeps one per process for the lines it
 * writes.
 *
 * What stays true: the next line logged about an app after some were left
 * out ends with " (and N more lines about app 'NAME' not logged)", worded
 * once, by kos__budget_note(); the lines left out are never lost count of.
 */
#ifndef KOS_BUDGET_INT_H
#define KOS_BUDGET_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/log.h>

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

/* A full budget at time now_ms. */
static inline struct kos__budget kos__budget_full(unsigned burst, unsigned every_ms,
                                                  uint64_t now_ms)
{
    return (struct kos__budget){.credit = burst, .refill_ms = now_ms + every_ms};
}

/* Writes to buf (len bytes) what ends a line logged about app `app` after
 * `quiet` lines about it were left out: "" when none were, else
 * " (and N more lines about app 'APP' not logged)". */
void kos__budget_note(char *buf, size_t len, unsigned long quiet, const char *app);

/* Logs (kos_log) a line about app `app` at `level` if budget b, of `burst`
 * lines then one per `every_ms`, allows it now, with the note above. */
void kos__budget_log(struct kos__budget *b, unsigned burst, unsigned every_ms, const char *app,
                     enum kos_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void kos__budget_vlog(struct kos__budget *b, unsigned burst, unsigned every_ms, const char *app,
                      enum kos_log_level level, const char *fmt, va_list ap);
/* The same at time now_ms, about anything: the note says
 * " (and N more lines about ABOUT not logged)". */
void kos__budget_vlog_about(struct kos__budget *b, unsigned burst, unsigned every_ms,
                            uint64_t now_ms, const char *about, enum kos_log_level level,
                            const char *fmt, va_list ap);

/* ---- a budget per app, for a component that keeps no table of apps ---- */

#define KOS__BUDGET_APPS     64u /* apps remembered; the longest unheard makes room */
#define KOS__BUDGET_NAME_MAX 63u /* an app's name (KOS__NAME_MAX less the NUL) */

struct kos__app_budgets {
    unsigned burst, every_ms;
    struct {
        char app[KOS__BUDGET_NAME_MAX + 1]; /* "" for a free slot */
        struct kos__budget budget;
    } a[KOS__BUDGET_APPS];
};

/* Sets t up empty, each app to get `burst` lines at once, then one per
 * `every_ms`. */
void kos__app_budgets_init(struct kos__app_budgets *t, unsigned burst, unsigned every_ms);

/* Takes one line of app `app`'s budget at time now_ms (kos__budget_take()).
 * An app not in t starts with a full budget, in a free slot or else in the
 * one of the app heard of least recently. */
bool kos__app_budgets_take(struct kos__app_budgets *t, const char *app, uint64_t now_ms,
                           unsigned long *quiet);

/* Logs (kos_log) a line about app `app` at `level`, within its budget in t,
 * with the note above. Never blocks but for the log line. */
void kos__app_log(struct kos__app_budgets *t, const char *app, enum kos_log_level level,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
