/*
 * srvlog.c - kos-server's log (srvlog.h). Kept apart from the context so
 * that the modules tested alone (the database, the event streams) need
 * nothing of the device port.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srvlog.h"

/* Each line goes out in one write(): stderr is unbuffered, and a line
 * written in three pieces (stamp, text, newline) cost three system calls,
 * nine for a device's connection, and could be split by another writer's
 * line. */
void kos__srv_log(const char *fmt, ...)
{
    char buf[1024], *line = buf;
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int head, n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    head = snprintf(buf, sizeof(buf),
                    "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ kos-server: ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    va_start(ap, fmt);
    n = vsnprintf(buf + head, sizeof(buf) - (size_t)head - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)head + (size_t)n + 1 >= sizeof(buf)) { /* a longer line, on the heap */
        if ((line = malloc((size_t)head + (size_t)n + 2))) {
            memcpy(line, buf, (size_t)head);
            va_start(ap, fmt);
            vsnprintf(line + head, (size_t)n + 1, fmt, ap);
            va_end(ap);
        } else { /* no memory: the line as far as it fits */
            line = buf;
            n = (int)(sizeof(buf) - (size_t)head - 2);
        }
    }
    line[head + n] = '\n';
    fwrite(line, 1, (size_t)head + (size_t)n + 1, stderr);
    fflush(stderr);
    if (line != buf)
        free(line);
}
