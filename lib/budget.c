/*
 * budget.c - log budgets per app (budget_int.h): the one wording of the
 * note that counts the lines left out, a line logged within a budget, and
 * a small table of budgets by app name for components that keep none.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "budget_int.h"
#include "channel_int.h"

#define LINE_MAX_TEXT 1024 /* a budgeted line, before its note */

void kos__budget_note(char *buf, size_t len, unsigned long quiet, const char *app)
{
    if (quiet)
        snprintf(buf, len, " (and %lu more lines about app '%s' not logged)", quiet,
                 app ? app : "?");
    else if (len)
        buf[0] = '\0';
}

/* Logs the line fmt/ap at level, after `quiet` lines about `about` were
 * left out. */
static void log_line(enum kos_log_level level, unsigned long quiet, const char *about,
                     const char *fmt, va_list ap)
{
    char text[LINE_MAX_TEXT];

    vsnprintf(text, sizeof(text), fmt, ap);
    if (quiet)
        kos_log(level, "%s (and %lu more lines about %s not logged)", text, quiet, about);
    else
        kos_log(level, "%s", text);
}

/* "app 'APP'", what a line about an app is about. */
static void about_app(char *buf, size_t len, const char *app)
{
    snprintf(buf, len, "app '%s'", app ? app : "?");
}

void kos__budget_vlog_about(struct kos__budget *b, unsigned burst, unsigned every_ms,
                            uint64_t now_ms, const char *about, enum kos_log_level level,
                            const char *fmt, va_list ap)
{
    unsigned long quiet;

    if (kos__budget_take(b, burst, every_ms, now_ms, &quiet))
        log_line(level, quiet, about, fmt, ap);
}

void kos__budget_vlog(struct kos__budget *b, unsigned burst, unsigned every_ms, const char *app,
                      enum kos_log_level level, const char *fmt, va_list ap)
{
    char about[KOS__BUDGET_NAME_MAX + 8];

    about_app(about, sizeof(about), app);
    kos__budget_vlog_about(b, burst, every_ms, kos__now_ns() / 1000000u, about, level, fmt, ap);
}

void kos__budget_log(struct kos__budget *b, unsigned burst, unsigned every_ms, const char *app,
                     enum kos_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    kos__budget_vlog(b, burst, every_ms, app, level, fmt, ap);
    va_end(ap);
}

void kos__app_budgets_init(struct kos__app_budgets *t, unsigned burst, unsigned every_ms)
{
    memset(t, 0, sizeof(*t));
    t->burst = burst;
    t->every_ms = every_ms;
}

bool kos__app_budgets_take(struct kos__app_budgets *t, const char *app, uint64_t now_ms,
                           unsigned long *quiet)
{
    size_t i, oldest = 0;

    assert(t->every_ms > 0); /* kos__app_budgets_init() was called */
    if (!app || !app[0])
        app = "?"; /* never: the message server names every caller */
    for (i = 0; i < KOS__BUDGET_APPS; i++) {
        if (t->a[i].app[0] && !strncmp(t->a[i].app, app, KOS__BUDGET_NAME_MAX))
            break;
        if (!t->a[i].app[0] ||
            (t->a[oldest].app[0] && t->a[i].budget.refill_ms < t->a[oldest].budget.refill_ms))
            oldest = i;
    }
    if (i == KOS__BUDGET_APPS) { /* new here: a full budget */
        i = oldest;
        snprintf(t->a[i].app, sizeof(t->a[i].app), "%s", app);
        t->a[i].budget = kos__budget_full(t->burst, t->every_ms, now_ms);
    }
    return kos__budget_take(&t->a[i].budget, t->burst, t->every_ms, now_ms, quiet);
}

void kos__app_log(struct kos__app_budgets *t, const char *app, enum kos_log_level level,
                  const char *fmt, ...)
{
    char about[KOS__BUDGET_NAME_MAX + 8];
    unsigned long quiet;
    va_list ap;

    if (!kos__app_budgets_take(t, app, kos__now_ns() / 1000000u, &quiet))
        return;
    about_app(about, sizeof(about), app);
    va_start(ap, fmt);
    log_line(level, quiet, about, fmt, ap);
    va_end(ap);
}
