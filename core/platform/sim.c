/*
 * sim.c - the `sim` platform (core/platform.h): KOS Core as an ordinary
 * process on the developer's machine, started by `kos-tool run`.
 *
 * What stays true: nothing here changes the host; the storage and keys are
 * the ones kos-tool run's options name, so start-up finds nothing itself,
 * and ending returns to kos-tool run, which runs Core again on a reboot.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "platform.h"

const char *kos__platform_name(void)
{
    return "sim";
}

int kos__platform_start(struct kos__platform_boot *b)
{
    memset(b, 0, sizeof(*b));
    b->console_fd = STDOUT_FILENO;
    return 0;
}

void kos__platform_end(enum kos__platform_end how)
{
    (void)how;
}

void kos__platform_say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("kos-tool run: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
