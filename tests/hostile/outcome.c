/*
 * outcome.c - the hostile apps' report of their attacks (outcome.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include <kos/log.h>

#include "outcome.h"

static int n_contained, n_escaped;

void outcome(const char *name, int contained, const char *fmt, ...)
{
    char buf[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (contained)
        n_contained++;
    else
        n_escaped++;
    kos_log_info("attack %s: %s: %s", name, contained ? "contained" : "ESCAPED", buf);
}

void outcome_done(void)
{
    kos_log_info("attacks done: %d contained, %d escaped", n_contained, n_escaped);
}
