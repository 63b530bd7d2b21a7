/*
 * srvlog.c - kos-server's log (srvlog.h). Kept apart from the context so
 * that the modules tested alone (the database, the event streams) need
 * nothing of the device port.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "srvlog.h"

void kos__srv_log(const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ kos-server: ", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}
