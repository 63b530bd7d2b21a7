/*
 * console.c - whole lines, timestamped and named, from every process.
 *
 * Lines are written with one write() each so that the stream stays parseable
 * line by line; their text is escaped by kos__text_escape(); each process's
 * lines are taken from its budget (lib/budget_int.h) before they are
 * written. See console_int.h for what stays true of it.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console_int.h"
#include "text_int.h"

/* Writes all n bytes to fd. Returns false when fd is gone for good (a
 * closed pipe, EPIPE, or any other error but EINTR). */
static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Emits one line: timestamp, name, and the text escaped. */
static void emit(struct kos__console *con, const char *name, const char *text, size_t len)
{
    char line[64 + 64 + KOS__TEXT_ESCAPED_MAX(KOS__CONSOLE_LINE_MAX) + 1];
    struct timespec ts;
    struct tm tm;
    size_t n;

    assert(len <= KOS__CONSOLE_LINE_MAX);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%06ldZ %.63s: ", ts.tv_nsec / 1000, name);
    size_t text_at = n;
    n += kos__text_escape(line + n, sizeof(line) - n - 1, text, len, NULL);
    if (con->tap)
        con->tap(con->tap_arg, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec / 1000 * 1000, name,
                 line + text_at, n - text_at);
    line[n++] = '\n';
    /* A console that is gone (`kos-tool run | head`, a closed terminal)
     * stops being written to; the system goes on, and the console file, if
     * any, keeps every line and says when that happened. */
    if (con->fd >= 0 && !write_all(con->fd, line, n)) {
        int err = errno;
        con->fd = -1;
        if (con->file_fd >= 0) {
            char note[160];
            int k = snprintf(note, sizeof(note),
                             "%.27s core: the console output is gone (%s); lines go to this "
                             "file only\n",
                             line, strerror(err));
            if (k > 0)
                (void)write_all(con->file_fd, note,
                                (size_t)k < sizeof(note) ? (size_t)k : sizeof(note) - 1);
        }
    }
    if (con->file_fd >= 0)
        (void)write_all(con->file_fd, line, n);
}

/* Emits the first len bytes of buf as one line of process `name` if its
 * budget allows at now_ms; otherwise counts the line as dropped. */
static void put_line(struct kos__console *con, const char *name, struct kos__console_buf *buf,
                     size_t len, uint64_t now_ms)
{
    unsigned long quiet; /* the budget's own count; buf->dropped is reported instead */

    if (kos__budget_take(&buf->budget, KOS__CONSOLE_BURST, KOS__CONSOLE_EVERY_MS, now_ms, &quiet))
        emit(con, name, buf->data, len);
    else
        buf->dropped++;
}

void kos__console_buf_init(struct kos__console_buf *buf, uint64_t now_ms)
{
    buf->len = 0;
    buf->budget = (struct kos__budget){
        .credit = KOS__CONSOLE_BURST,
        .refill_ms = now_ms + KOS__CONSOLE_EVERY_MS,
    };
    buf->dropped = 0;
    buf->reported = false;
    buf->reported_ms = 0;
}

void kos__console_feed(struct kos__console *con, const char *name, struct kos__console_buf *buf,
                       const char *data, size_t len, uint64_t now_ms)
{
    while (len > 0) {
        if (buf->len == KOS__CONSOLE_LINE_MAX) {
            /* A full buffer: it ends here if a newline follows, else it is
             * emitted as one piece of a longer line, cut where no character
             * is split, and what is cut off begins the next piece. */
            if (*data == '\n') {
                put_line(con, name, buf, buf->len, now_ms);
                buf->len = 0;
                data++;
                len--;
            } else {
                size_t cut = kos__text_boundary(buf->data, buf->len);
                put_line(con, name, buf, cut, now_ms);
                memmove(buf->data, buf->data + cut, buf->len - cut);
                buf->len -= cut;
            }
            continue;
        }
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        size_t room = KOS__CONSOLE_LINE_MAX - buf->len;

        if (take > room) {
            take = room;
            nl = NULL;
        }
        memcpy(buf->data + buf->len, data, take);
        buf->len += take;
        data += take;
        len -= take;
        if (nl) {
            put_line(con, name, buf, buf->len, now_ms);
            buf->len = 0;
            data++;
            len--;
        }
    }
}

void kos__console_flush(struct kos__console *con, const char *name, struct kos__console_buf *buf,
                        uint64_t now_ms)
{
    if (buf->len > 0)
        put_line(con, name, buf, buf->len, now_ms);
    buf->len = 0;
}

unsigned long kos__console_drops(struct kos__console_buf *buf, uint64_t now_ms, bool final)
{
    unsigned long n = buf->dropped;

    if (n == 0 || (!final && buf->reported && now_ms - buf->reported_ms < KOS__CONSOLE_REPORT_MS))
        return 0;
    buf->dropped = 0;
    buf->reported = true;
    buf->reported_ms = now_ms;
    return n;
}

void kos__console_printf(struct kos__console *con, const char *name, const char *fmt, ...)
{
    char text[KOS__CONSOLE_LINE_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* Cut short, it loses whole characters only. */
    emit(con, name, text,
         (size_t)n < sizeof(text) ? (size_t)n : kos__text_boundary(text, sizeof(text) - 1));
}
