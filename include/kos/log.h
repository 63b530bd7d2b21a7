/*
 * log.h - console logging for apps.
 *
 * kos_log_*() write one line to the app's console ("<level>: <text>"); KOS
 * Core prefixes it with a timestamp and the app's name. A line never
 * interleaves with another write from the same app. These calls only write to
 * fd 2 and may block while the console pipe is full.
 */
#ifndef KOS_LOG_H
#define KOS_LOG_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum kos_log_level {
    KOS_LOG_DEBUG,
    KOS_LOG_INFO,
    KOS_LOG_WARN,
    KOS_LOG_ERROR,
};

/* Writes one formatted line at `level`. Text longer than 4000 bytes is cut and
 * marked with "..."; a newline in the text starts a new console line. */
KOS_API void kos_log(enum kos_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define kos_log_debug(...) kos_log(KOS_LOG_DEBUG, __VA_ARGS__)
#define kos_log_info(...)  kos_log(KOS_LOG_INFO, __VA_ARGS__)
#define kos_log_warn(...)  kos_log(KOS_LOG_WARN, __VA_ARGS__)
#define kos_log_error(...) kos_log(KOS_LOG_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
