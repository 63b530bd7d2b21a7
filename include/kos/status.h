/*
 * status.h - the one status enum every KOS call returns.
 *
 * Every action in the KOS API returns a kos_status_t; KOS_STATUS_OK is zero so
 * "if (st)" tests for failure. kos_status_str() names each value.
 */
#ifndef KOS_STATUS_H
#define KOS_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#define KOS_API  __attribute__((visibility("default")))
#define KOS_MUST __attribute__((warn_unused_result))

typedef enum kos_status {
    KOS_STATUS_OK = 0,
    KOS_STATUS_INVALID_ARGUMENT, /* a parameter is out of range or malformed */
    KOS_STATUS_NOT_FOUND,        /* no such protocol, app, key or entry */
    KOS_STATUS_UNAUTHORIZED,     /* the manifest does not allow this */
    KOS_STATUS_INVALID_TOKEN,    /* the token is unknown, forged or revoked */
    KOS_STATUS_UNAVAILABLE,      /* the peer is not running (yet, or any more) */
    KOS_STATUS_TOO_LARGE,        /* a payload exceeds KOS_MSG_MAX_PAYLOAD */
    KOS_STATUS_TIMEOUT,          /* the deadline passed before an answer */
    KOS_STATUS_WOULD_BLOCK,      /* nothing to receive right now */
    KOS_STATUS_NO_MEMORY,        /* an allocation or a resource limit failed */
    KOS_STATUS_IO,               /* a system call failed */
    KOS_STATUS_PROTOCOL,         /* the peer sent a malformed or unknown message */
    KOS_STATUS_UNSUPPORTED,      /* the label or operation is not implemented */
    KOS_STATUS_ALREADY_EXISTS,   /* the name is taken (e.g. protocol already published) */
    KOS_STATUS_BUSY,             /* the peer's queue is full; try again */
    KOS_STATUS_CLOSED,           /* the connection has been closed */
    KOS_STATUS_INTERNAL,         /* a bug: an invariant did not hold */
    KOS_STATUS_REFUSED,          /* the remote end refused the connection (nobody listens) */
    KOS_STATUS_UNREACHABLE,      /* no route to the remote host or network */
    KOS_STATUS__COUNT
} kos_status_t;

/* Returns a constant, human-readable name for a status ("not found", ...).
 * Never returns NULL; unknown values give "unknown status". Does not block. */
KOS_API const char *kos_status_str(kos_status_t status);

#ifdef __cplusplus
}
#endif
#endif
