/*
 * status.c - names for the status enum.
 *
 * The table is indexed by kos_status_t and covers every value below
 * KOS_STATUS__COUNT; the static assertion keeps the two in step.
 */
#include <kos/status.h>

static const char *const names[] = {
    [KOS_STATUS_OK] = "ok",
    [KOS_STATUS_INVALID_ARGUMENT] = "invalid argument",
    [KOS_STATUS_NOT_FOUND] = "not found",
    [KOS_STATUS_UNAUTHORIZED] = "unauthorized",
    [KOS_STATUS_INVALID_TOKEN] = "invalid token",
    [KOS_STATUS_UNAVAILABLE] = "unavailable",
    [KOS_STATUS_TOO_LARGE] = "too large",
    [KOS_STATUS_TIMEOUT] = "timeout",
    [KOS_STATUS_WOULD_BLOCK] = "would block",
    [KOS_STATUS_NO_MEMORY] = "no memory",
    [KOS_STATUS_IO] = "i/o error",
    [KOS_STATUS_PROTOCOL] = "protocol error",
    [KOS_STATUS_UNSUPPORTED] = "unsupported",
    [KOS_STATUS_ALREADY_EXISTS] = "already exists",
    [KOS_STATUS_BUSY] = "busy",
    [KOS_STATUS_CLOSED] = "closed",
    [KOS_STATUS_INTERNAL] = "internal error",
    [KOS_STATUS_REFUSED] = "connection refused",
    [KOS_STATUS_UNREACHABLE] = "unreachable",
};

_Static_assert(sizeof(names) / sizeof(names[0]) == KOS_STATUS__COUNT, "every status needs a name");

const char *kos_status_str(kos_status_t status)
{
    if ((unsigned)status >= KOS_STATUS__COUNT)
        return "unknown status";
    return names[status];
}
