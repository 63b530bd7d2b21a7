/*
 * log.c - console logging for apps.
 *
 * Each call formats one record and hands it to the console with a single
 * write(), so records from one app never interleave. KOS Core adds the
 * timestamp and the app's name.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <kos/log.h>

#define LOG_TEXT_MAX 4000

static const char *const level_names[] = {
    [KOS_LOG_DEBUG] = "debug",
    [KOS_LOG_INFO] = "info",
    [KOS_LOG_WARN] = "warn",
    [KOS_LOG_ERROR] = "error",
};

void kos_log(enum kos_log_level level, const char *fmt, ...)
{
    char line[LOG_TEXT_MAX + 32];
    va_list ap;
    int n, p;

    if ((unsigned)level > KOS_LOG_ERROR)
        level = KOS_LOG_ERROR;
    p = snprintf(line, sizeof(line), "%s: ", level_names[level]);
    va_start(ap, fmt);
    n = vsnprintf(line + p, LOG_TEXT_MAX + 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = snprintf(line + p, LOG_TEXT_MAX + 1, "(unformattable log record)");
    if (n > LOG_TEXT_MAX) {
        memcpy(line + p + LOG_TEXT_MAX - 3, "...", 3);
        n = LOG_TEXT_MAX;
    }
    n += p;
    line[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        off += (int)w;
    }
}
