/*
 * msg_wire_int.h - the directory conversation between an app's libkos and a
 * message server.
 *
 * Each app holds one SOCK_SEQPACKET socket to each message server it may use.
 * Every datagram is one message: a 16-byte header (type, body length, request
 * id, status; little-endian u32 each) followed by a body whose layout is
 * fixed by the type, with exactly the number of descriptors (SCM_RIGHTS) the
 * type calls for. Names travel as a u32 length and that many bytes, no NUL.
 *
 * The decoder checks every size before it reads a field and accepts only
 * messages that match their layout exactly: a wrong length, a bad name, a
 * status out of range, an unexpected descriptor or an unknown type is
 * KOS_STATUS_PROTOCOL, and the receiver ends the conversation (OpenBSD imsg).
 *
 * The server sends three descriptors (to the client) or four (to the
 * server) with each new channel, in the order of the KOS__MW_FD_* positions
 * below (channel_int.h says what they are). The one descriptor an app ever
 * sends it is a connected TCP socket in FD_PASS, which the publisher of a
 * protocol hands to one of its clients with a reply or a notification: the
 * message server keeps it under the transfer's cookie for exactly that
 * client, which takes it with FD_REDEEM (or gives it up with FD_DROP). What
 * may travel is checked on both sides (kos__mw_fd_passable): an app can
 * pass only a connected TCP socket it holds, never a file, memfd, pipe, Unix socket
 * or anything else that would reach past what the manifest grants.
 * The other way, a client may pass the server of its channel the write end
 * of a pipe with a request (kos__mw_fd_pipe_write_end; FD_PASS on the
 * client's channel): where a server is to write a stream of bytes (the
 * tunnel, a fetched blob). The server can only write into it.
 */
#ifndef KOS_MSG_WIRE_INT_H
#define KOS_MSG_WIRE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#include "boot_int.h"

#define KOS__MW_HDR_LEN 16u
#define KOS__MW_MAX     256u /* largest datagram, header included */
#define KOS__MW_MAX_FDS 4u   /* descriptors one message may carry */

/* Descriptor positions in a channel grant: REQUEST_REPLY and REDEEM_REPLY
 * carry the client's three, NEW_CLIENT the server's four. */
enum {
    KOS__MW_FD_SHM = 0,       /* both: the sealed memfd holding the call channel */
    KOS__MW_FD_WAIT = 1,      /* client: note bell read end; server: its doorbell */
    KOS__MW_FD_RING = 2,      /* client: the server's doorbell; server: note bell write end */
    KOS__MW_FD_RING_READ = 3, /* server: note bell read end, held against SIGPIPE */
};
#define KOS__MW_CLIENT_FDS 3u

enum kos__mw_type {
    /* app -> message server */
    KOS__MW_PUBLISH = 1,     /* id, name = protocol           -> PUBLISH_REPLY */
    KOS__MW_REQUEST = 2,     /* id, timeout_ms, name = protocol -> REQUEST_REPLY */
    KOS__MW_PING = 3,        /* id                            -> PING_REPLY */
    KOS__MW_UNPUBLISH = 4,   /* endpoint: the publisher withdraws it */
    KOS__MW_TOKEN_CLOSE = 5, /* channel: the client gives its token up */
    KOS__MW_REVOKE = 6,      /* endpoint, channel: the publisher revokes a client */
    KOS__MW_PREPARE = 7,     /* channel, cookie: a transfer of this token is coming */
    KOS__MW_REDEEM = 8,      /* id, cookie                    -> REDEEM_REPLY */
    KOS__MW_FD_PASS =
        9, /* channel, cookie; 1 fd: a socket for the client, or a pipe for the server */
    KOS__MW_FD_REDEEM = 10, /* id, cookie                    -> FD_REDEEM_REPLY */
    KOS__MW_FD_DROP = 11,   /* cookie: the client does not want the socket */

    /* message server -> app */
    KOS__MW_PUBLISH_REPLY = 64,   /* id, status, endpoint */
    KOS__MW_REQUEST_REPLY = 65,   /* id, status, channel; 3 fds when status is OK */
    KOS__MW_PING_REPLY = 66,      /* id */
    KOS__MW_REDEEM_REPLY = 67,    /* id, status, channel, name = protocol; 3 fds when OK */
    KOS__MW_NEW_CLIENT = 68,      /* endpoint, channel, app_id, name = app; 4 fds */
    KOS__MW_CLIENT_GONE = 69,     /* endpoint, channel: that client left */
    KOS__MW_TOKEN_DOWN = 70,      /* channel, status: why calls on it now fail */
    KOS__MW_FD_REDEEM_REPLY = 71, /* id, status; 1 fd when status is OK */
};

/* One decoded message. Fields a type does not use are zero. */
struct kos__mw {
    uint32_t type;
    uint32_t id;     /* request id; replies echo it; 0 in one-way messages */
    uint32_t status; /* replies and TOKEN_DOWN; 0 elsewhere */
    uint32_t endpoint;
    uint32_t channel;
    uint32_t app_id;
    int32_t timeout_ms; /* REQUEST: -1 forever, else >= 0 */
    uint64_t cookie;    /* PREPARE, REDEEM: non-zero */
    char name[KOS__NAME_MAX];
};

/* How many descriptors a message of this type and status carries. */
size_t kos__mw_nfds(uint32_t type, uint32_t status);

/* Writes `m` into buf (cap bytes) and sets *len. KOS_STATUS_INVALID_ARGUMENT
 * if `m` is not a valid message (unknown type, bad name, ...);
 * KOS_STATUS_TOO_LARGE if it does not fit. Does not block. */
kos_status_t kos__mw_encode(const struct kos__mw *m, void *buf, size_t cap, size_t *len)
    __attribute__((warn_unused_result));

/* Validates one received datagram of `len` bytes that came with `nfds`
 * descriptors and fills *out. KOS_STATUS_PROTOCOL on anything malformed; *out
 * is then unspecified. Does not block. */
kos_status_t kos__mw_decode(const void *buf, size_t len, size_t nfds, struct kos__mw *out)
    __attribute__((warn_unused_result));

/* Encodes and sends `m` with kos__mw_nfds() descriptors from `fds` (which stay
 * the caller's). `flags` is passed to sendmsg (e.g. MSG_DONTWAIT, which turns
 * a full socket into KOS_STATUS_BUSY). KOS_STATUS_CLOSED if the peer is gone. */
kos_status_t kos__mw_send(int sock, const struct kos__mw *m, const int *fds, int flags)
    __attribute__((warn_unused_result));

/* Receives and decodes one message. On success the descriptors it carried are
 * in fds[0..kos__mw_nfds()) and belong to the caller (close-on-exec). On any
 * error every descriptor that came is closed. KOS_STATUS_WOULD_BLOCK when
 * `flags` has MSG_DONTWAIT and nothing is waiting; KOS_STATUS_CLOSED at end of
 * stream; KOS_STATUS_PROTOCOL for a malformed message. */
kos_status_t kos__mw_recv(int sock, struct kos__mw *out, int fds[KOS__MW_MAX_FDS], int flags)
    __attribute__((warn_unused_result));

/* True if `fd` is a descriptor that may travel between apps: a connected
 * TCP socket (IPv4 or IPv6). Otherwise *why (if not NULL) says
 * what it is instead ("a Unix socket", "not a socket", ...). Never blocks. */
bool kos__mw_fd_passable(int fd, const char **why);

/* True if `fd` is the write end of a pipe: the one descriptor a client may
 * pass its server with a request (the server can only write into it, to
 * whoever holds the read end). Otherwise *why (if not NULL) says what it
 * is instead. Never blocks. */
bool kos__mw_fd_pipe_write_end(int fd, const char **why);

/* A name of the type's table, for log lines ("PUBLISH", "unknown"). */
const char *kos__mw_type_name(uint32_t type);

#endif
