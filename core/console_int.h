/*
 * console_int.h - the system console: whole lines from every process.
 *
 * The console collects each process's output in a per-process line buffer
 * and emits only whole lines, "<timestamp> <name>: <text>", to the console
 * fd and optionally a file. What stays true:
 *  - a line longer than KOS__CONSOLE_LINE_MAX is split into several lines,
 *    never cut short, and the split never falls inside a valid UTF-8
 *    character; partial lines are flushed when the process's output ends;
 *  - the text is escaped by kos__text_escape() (lib/text_int.h): no C0 or C1
 *    control, invalid UTF-8, line separator or bidirectional control
 *    reaches the terminal, so no app can forge another's line (or Core's) or
 *    drive the terminal;
 *  - each process has a budget of lines (KOS__CONSOLE_BURST at once, then
 *    one per KOS__CONSOLE_EVERY_MS): a line over it is dropped and counted,
 *    and kos__console_drops() hands the count to Core to report, so drops
 *    are never silent. Core's own lines are not budgeted.
 */
#ifndef KOS_CONSOLE_INT_H
#define KOS_CONSOLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget_int.h"

/* The console's limits, with their reasons. */
#define KOS__CONSOLE_LINE_MAX 2048u /* bytes of text in one line: longer ones are split */
/* A process may write KOS__CONSOLE_BURST lines at once, then one line per
 * KOS__CONSOLE_EVERY_MS (100 a second): an app's start-up, a sanitizer's
 * report, or a test app's dump of a few thousand lines fits whole in the
 * burst, and the steady rate is more than anyone reads; yet a process that
 * floods adds at most about 200 KB to the console and then 4 KB a second
 * (10 MB, then 200 KB a second, with the longest lines), where it would
 * add ten megabytes a second. */
#define KOS__CONSOLE_BURST    5000u
#define KOS__CONSOLE_EVERY_MS 10u
/* Lines dropped over the budget are reported at most this often, and when
 * the process ends. */
#define KOS__CONSOLE_REPORT_MS 5000u
/* Bytes Core reads from one process's console in one turn of its loop, so a
 * process that floods cannot keep Core from its signals, its timers, its
 * control channels and the other consoles. Four pipe pages. */
#define KOS__CONSOLE_TURN_MAX 16384u

/* Called with each line as it is printed: its time (the timestamp's, in
 * ns since 1970, whole microseconds), the name, and the escaped text
 * (len bytes, not NUL-terminated). It may not print. */
typedef void kos__console_tap_fn(void *arg, int64_t time_ns, const char *name, const char *text,
                                 size_t len);

struct kos__console {
    int fd;                   /* terminal or pipe; -1 for none */
    int file_fd;              /* saved stream; -1 for none */
    kos__console_tap_fn *tap; /* also hands each line to this; may be NULL */
    void *tap_arg;
};

/* One process's partial line, and its budget. */
struct kos__console_buf {
    size_t len;
    struct kos__budget budget;
    unsigned long dropped; /* lines dropped over the budget, not reported yet */
    bool reported;         /* kos__console_drops() has handed a count over, */
    uint64_t reported_ms;  /* ... last at this time */
    char data[KOS__CONSOLE_LINE_MAX];
};

/* Makes buf empty, with a full budget at time now_ms (a monotonic clock in
 * milliseconds, the one every call below is given). */
void kos__console_buf_init(struct kos__console_buf *buf, uint64_t now_ms);

/* Feeds `len` bytes of output from process `name` at time now_ms, emitting
 * each complete line (and each full buffer, as a split line) within the
 * budget and counting the others. Blocks only on writing the console. */
void kos__console_feed(struct kos__console *con, const char *name, struct kos__console_buf *buf,
                       const char *data, size_t len, uint64_t now_ms);

/* Emits whatever partial line remains (within the budget). */
void kos__console_flush(struct kos__console *con, const char *name, struct kos__console_buf *buf,
                        uint64_t now_ms);

/* The number of lines dropped and not reported yet, if a report is due at
 * now_ms: KOS__CONSOLE_REPORT_MS after the last report (the first is due at
 * once), or whenever `final` (the process has ended). They then count as
 * reported. 0 when there are none or it is not time yet. */
unsigned long kos__console_drops(struct kos__console_buf *buf, uint64_t now_ms, bool final);

/* Emits one line of Core's own under `name` ("core"). */
void kos__console_printf(struct kos__console *con, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
