/*
 * console_int.h - the system console: whole lines from every process.
 *
 * The console collects each process's output in a per-process line buffer
 * and emits only whole lines, "<timestamp> <name>: <text>", to the console
 * fd and optionally a file. What stays true:
 *  - a line longer than KOS__CONSOLE_LINE_MAX is split into several lines,
 *    never cut short, and the split never falls inside a UTF-8 character;
 *    partial lines are flushed when the process's output ends;
 *  - the text is escaped by kos__text_escape() (lib/text_int.h): no C0 or C1
 *    control, invalid UTF-8, line separator or bidirectional control
 *    reaches the terminal, so no app can forge another's line (or Core's) or
 *    drive the terminal.
 */
#ifndef KOS_CONSOLE_INT_H
#define KOS_CONSOLE_INT_H

#include <stddef.h>

/* The console's limits, with their reasons. */
#define KOS__CONSOLE_LINE_MAX 2048u /* bytes of text in one line: longer ones are split */

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
