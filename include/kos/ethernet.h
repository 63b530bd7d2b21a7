/*
 * ethernet.h - network connections, opened by the ethernet component
 * (kos_ethernet_protocol) on behalf of the apps its manifest entry allows.
 *
 * No app but ethernet can create a socket: every other app's sandbox has an
 * empty network namespace and a seccomp filter that refuses socket(). An app
 * asks ethernet to connect to a host and port; ethernet checks the caller
 * (as the message server vouches for it) and the destination against its
 * `allow` setting, resolves the name from its `hosts` setting, connects, and
 * hands the connected socket over as a descriptor (see msg.h). The app then
 * reads, writes, polls, shuts down and closes it like any socket; it cannot
 * connect it anywhere else. See docs/packages/ethernet.md.
 *
 * Statuses of kos_ethernet_connect(), besides the transport errors of
 * kos_msg_call():
 *   KOS_STATUS_OK               connected; *fd is the socket
 *   KOS_STATUS_UNAUTHORIZED     the allow list does not let this app reach
 *                               that host and port (ethernet logs it)
 *   KOS_STATUS_NOT_FOUND        the name is allowed but ethernet has no
 *                               address for it (its hosts setting)
 *   KOS_STATUS_REFUSED          the host answered, nobody listens there
 *                               (or it reset the connection)
 *   KOS_STATUS_UNREACHABLE      no route to the host or its network
 *   KOS_STATUS_TIMEOUT          no answer within the timeout
 *   KOS_STATUS_INVALID_ARGUMENT a malformed host, port 0, a bad timeout
 *   KOS_STATUS_BUSY             this app has too many connections being
 *                               opened at once; try again
 *   KOS_STATUS_NO_MEMORY        ethernet is out of sockets or memory
 *   KOS_STATUS_IO               another network error (kos_ethernet_last_error()
 *                               says which)
 *
 * A kos_ethernet_t is not thread-safe; use it from one thread at a time (or
 * open one per thread: each is its own token).
 */
#ifndef KOS_ETHERNET_H
#define KOS_ETHERNET_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The protocol ethernet publishes unless its manifest entry names another. */
#define KOS_ETHERNET_PROTOCOL "kos_ethernet_protocol"

/* The longest host: a DNS name of 253 characters. */
#define KOS_ETHERNET_HOST_MAX 253u

/* Transports. Only TCP: see docs/packages/ethernet.md for why UDP is not
 * handed out as a socket. */
#define KOS_ETHERNET_TCP 1u

/* Address families in struct kos_ethernet_addr. */
#define KOS_ETHERNET_IPV4 4u
#define KOS_ETHERNET_IPV6 6u

/*
 * The protocol's labels. Every integer on the wire is little-endian.
 *
 * KOS_ETHERNET_LABEL_CONNECT: param 0; payload
 *     u8 transport (KOS_ETHERNET_TCP), u8 0, u16 port (1..65535),
 *     u32 timeout_ms (0: ethernet's own limit), u16 host_len (1..253), u16 0,
 *     then host_len bytes of host, no NUL: a DNS name, a dotted IPv4 address,
 *     or an IPv6 address, optionally in brackets ("[fd00::1]").
 *   Reply on KOS_STATUS_OK: the connected socket as a descriptor, and a
 *   payload of two addresses, local then remote, each
 *     u8 family (4 or 6), u8 0, u16 port, 16 bytes of address (network
 *     order; IPv4 in the first 4, the rest 0).
 *   On a network error the reply's param is the errno value ethernet saw
 *   (ECONNREFUSED, EHOSTUNREACH, ...), else 0; there is no payload.
 * KOS_ETHERNET_LABEL_PAIR: no payload. Param 0: ethernet makes a TCP
 *   connection to itself on loopback (a listener on 127.0.0.1 for the
 *   moment it takes, its one accepted peer checked to be the connecting
 *   socket) and answers with one end as the descriptor, keeping the other
 *   for this client (one at a time: a new pair closes an untaken end).
 *   Param 1: answers with the kept end (KOS_STATUS_NOT_FOUND if none).
 *   Only for the apps its `pairs` setting names (else UNAUTHORIZED). Both
 *   ends are connected TCP sockets, so they travel between apps as any
 *   connection does: this is how the tunnel gives an app a forwarded
 *   stream (docs/packages/tunnel.md).
 * Any other label is answered with KOS_STATUS_UNSUPPORTED; a malformed
 * payload, or a request carrying a token, with KOS_STATUS_PROTOCOL.
 */
enum {
    KOS_ETHERNET_LABEL_CONNECT = 1,
    KOS_ETHERNET_LABEL_PAIR = 2,
};

/* An Internet address and port. */
struct kos_ethernet_addr {
    uint8_t family;   /* KOS_ETHERNET_IPV4 or KOS_ETHERNET_IPV6 */
    uint16_t port;    /* host order */
    uint8_t addr[16]; /* network order; an IPv4 address fills addr[0..4) */
};

/* Both ends of a connection ethernet opened. */
struct kos_ethernet_conn {
    struct kos_ethernet_addr local;
    struct kos_ethernet_addr remote;
};

typedef struct kos_ethernet kos_ethernet_t;

/* Requests `protocol` (NULL means KOS_ETHERNET_PROTOCOL) on `dir`, waiting up
 * to `timeout_ms` for ethernet to publish it (msg.h, "Client libraries"; a
 * connect has its own deadline), and returns a handle in *out,
 * which belongs to the caller (free it with kos_ethernet_close()). Statuses
 * are those of kos_dir_request(): KOS_STATUS_UNAUTHORIZED if the manifest
 * does not grant this app the protocol. On error nothing is held. */
KOS_API KOS_MUST kos_status_t kos_ethernet_open(kos_dir_t *dir, const char *protocol,
                                                int timeout_ms, kos_ethernet_t **out);

/* Gives up the handle. Sockets it opened stay open: they are the caller's.
 * kos_ethernet_close(NULL) does nothing. */
KOS_API void kos_ethernet_close(kos_ethernet_t *eth);

/*
 * Opens a TCP connection to `host` (a NUL-terminated DNS name, dotted IPv4
 * address or IPv6 address, at most KOS_ETHERNET_HOST_MAX characters) and
 * `port` (1..65535), waiting up to `timeout_ms` (more than 0, or -1 for
 * ethernet's own limit, which also caps a longer wait) for it to be
 * established. A name with several addresses is tried address by address
 * within that time. On KOS_STATUS_OK *fd is the connected socket, which
 * belongs to the caller (close it when done; it is close-on-exec and
 * blocking), and *info (may be NULL) says which addresses it joins. On
 * error *fd is -1. Blocks until connected, refused or timed out.
 */
KOS_API KOS_MUST kos_status_t kos_ethernet_connect(kos_ethernet_t *eth, const char *host,
                                                   uint16_t port, int timeout_ms, int *fd,
                                                   struct kos_ethernet_conn *info);

/* Has ethernet make a TCP connection to itself on loopback (see
 * KOS_ETHERNET_LABEL_PAIR) and returns both ends: *near and *far, both the
 * caller's (blocking, close-on-exec), connected to each other and to
 * nothing else. KOS_STATUS_UNAUTHORIZED unless ethernet's `pairs` setting
 * names this app. On error both are -1. Blocks for two calls to ethernet. */
KOS_API KOS_MUST kos_status_t kos_ethernet_pair(kos_ethernet_t *eth, int *near, int *far);

/* The errno value ethernet reported with the last failed call on this
 * handle (ECONNREFUSED, ENETUNREACH, ETIMEDOUT, ...), 0 if none. */
KOS_API int kos_ethernet_last_error(const kos_ethernet_t *eth);

/* Writes "192.0.2.1:80" or "[2001:db8::1]:443" into buf (len bytes, at least
 * 48 for any address) and returns buf. Never blocks. */
KOS_API char *kos_ethernet_addr_format(const struct kos_ethernet_addr *a, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
