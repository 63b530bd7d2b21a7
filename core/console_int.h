/*
 * console_int.h - the system console: whole lines from every process.
 *
 * The console collects each process's output in a per-process line buffer
 * and emits only whole lines, "<timestamp> <name>: <text>", to the console
 * fd and optionally a file. A line longer than KOS__CONSOLE_LINE_MAX is split
 * into several lines, never dropped; control characters are escaped so no
 * app can forge another's line or drive the terminal. Partial lines are
 * flushed when the process's output ends.
 */
#ifndef KOS_CONSOLE_INT_H
#define KOS_CONSOLE_INT_H

#include <stddef.h>

#define KOS__CONSOLE_LINE_MAX 2048

struct kos__console {
    int fd;      /* terminal or pipe; -1 for none */
    int file_fd; /* saved stream; -1 for none */
};

/* One process's partial line. */
struct kos__console_buf {
    size_t len;
    char data[KOS__CONSOLE_LINE_MAX];
};

/* Feeds `len` bytes of output from process `name`, emitting each complete
 * line (and each full buffer as a split line). */
void kos__console_feed(struct kos__console *con, const char *name, struct kos__console_buf *buf,
                       const char *data, size_t len);

/* Emits whatever partial line remains. */
void kos__console_flush(struct kos__console *con, const char *name, struct kos__console_buf *buf);

/* Emits one line of Core's own under `name` ("core"). */
void kos__console_printf(struct kos__console *con, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
