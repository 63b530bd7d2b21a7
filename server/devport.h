/*
 * devport.h - the server's device port: where devices' links arrive
 * (docs/link.md). TLS 1.3 with client certificates, the WebSocket upgrade,
 * and a link session per device, on the server's libevent loop.
 *
 * The port knows nothing of storage: it asks the server, through the hooks,
 * whether a device may connect, and hands it each whole message that
 * arrives on a channel. What stays true: a device is online (between its
 * online() and offline() hooks) at most once at a time on one port; a second
 * link from the same device replaces the first, which is ended.
 */
#ifndef KOS_SERVER_DEVPORT_H
#define KOS_SERVER_DEVPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include <kos/status.h>

/* The hex device id: the SHA-256 of the raw identity public key. */
#define KOS__DEVICE_ID_LEN 64u

struct kos__devport;

/* What the port saw of a pending device (docs/link.md, "Pending
 * devices"): all printable ASCII, NUL-terminated. */
#define KOS__DEVPORT_NAME_MAX    64u
#define KOS__DEVPORT_SUBJECT_MAX 256u
struct kos__devport_pending {
    char name[KOS__DEVPORT_NAME_MAX + 1];       /* offered by its certificate, or "" */
    char subject[KOS__DEVPORT_SUBJECT_MAX + 1]; /* its certificate's subject */
    char address[48];                           /* where it connected from */
};

/* What a pending device is answered (HTTP 202, Kos-Reason). */
#define KOS__DEVPORT_PENDING_REASON "waiting for approval in Studio"

struct kos__devport_hooks {
    void *arg;
    /* Whether device `id` may connect: KOS_STATUS_OK, KOS_STATUS_NOT_FOUND
     * (unknown) or KOS_STATUS_UNAUTHORIZED (revoked). A refused device's
     * handshake fails with bad_certificate; an unknown one whose
     * certificate is its own (self-signed) is pending, when pending is set. */
    kos_status_t (*admit)(void *arg, const char *id);
    /* The device's link is up (Hello exchanged). */
    void (*online)(void *arg, const char *id);
    /* Its link has ended; `why` says how, for the server's log. */
    void (*offline)(void *arg, const char *id, const char *why);
    /* A whole message arrived on channel `ch` (1 admin: an AdminUp; 2 logs:
     * a LogBatch). The bytes are the hook's to read only during the call. */
    void (*data)(void *arg, const char *id, uint32_t ch, const uint8_t *p, size_t n);
    /* Unknown device `id` with raw Ed25519 key `pub` and a self-signed
     * certificate tried to connect (NULL: such a device is refused). Its
     * handshake completes, and its upgrade is answered 202 "waiting for
     * approval": it never links, and nothing it sends reaches the hooks.
     * Called from inside the handshake: record, never block for long. */
    void (*pending)(void *arg, const char *id, const uint8_t pub[32],
                    const struct kos__devport_pending *p);
    /* Something about device id's streams worth a line in the server's log
     * (a stream opened, refused, ended). May be NULL. */
    void (*note)(void *arg, const char *id, const char *text);
    /* The blob route (docs/link.md, "Blobs"; blobport.h). Whether device id
     * may have blob sha256 (64 lower-case hex digits): KOS_STATUS_OK with
     * *fd open for reading it (the route's to close) and *size its bytes;
     * KOS_STATUS_NOT_FOUND if the device was offered no such blob. NULL:
     * no blob is served. */
    kos_status_t (*blob_open)(void *arg, const char *id, const char *sha256, int *fd,
                              uint64_t *size);
    /* n bytes of blob sha256 went out to device id (an answer's body, as
     * far as it went). May be NULL. */
    void (*blob_served)(void *arg, const char *id, const char *sha256, uint64_t n);
};

/* A stream's window each way on the device port: what one stream may
 * hold of a device's bytes before its destination takes them, and of the
 * destination's before the device's credit comes (docs/link.md, "Limits").
 * Wider than the fixed channels' so that a bulk stream is not held to
 * 64 KiB per round trip: the protocol's widest, 1 MiB, as a stream of
 * 500 MB/s uses up 512 KiB of credit in a millisecond, less than a busy
 * machine may take to run the process that gives it back (512 KiB made
 * 376-513 MB/s on this machine, 1 MiB 419-706: bench/link/README.md). */
#define KOS__DEVPORT_STREAM_WINDOW KOS__LINK_WINDOW_MAX
/* OpenSSL's read buffer while a link has records waiting: four whole TLS
 * records (16 KiB of plaintext, 5 bytes of header, up to 256 of
 * expansion each), a forwarded stream's 64 KiB message. */
#define KOS__DEVPORT_READ_AHEAD (4u * (16384u + 5u + 256u))

/* How long after the first handshake of a burst the port gives the heap's
 * unused pages back to the system (devport.c, trim_soon()): a burst of
 * handshakes ends before it, and it costs the server one walk of the
 * heap per this interval at most. */
#define KOS__DEVPORT_TRIM_MS 2000u

/* How long a device's link has nothing in flight before it dozes: it
 * frees its bufferevent and its event (about 1.2 KiB) until the device
 * sends or the server has something for it (lib/link/link.h, doze_ms; docs/link.md,
 * "Idle links"). Short, so that when many devices link at once (a server
 * restart), what the first to doze free is used again by the next
 * handshakes instead of staying a hole in the heap; waking costs a few
 * allocations, and a link busier than this stays awake. */
#define KOS__DEVPORT_DOZE_MS 200u

/* The most stream destinations a port knows. */
#define KOS__DEVPORT_DESTS_MAX 32u

/* Sets the destinations devices may open streams to (docs/link.md,
 * "Streams"): `spec` is "NAME=HOST:PORT,NAME=HOST:PORT" (NAME 1-63
 * letters, digits, '_', '-', '.'; HOST an IPv4 address or [IPv6]), NULL or
 * "" for none. A device's Open names a NAME; any other is refused. With
 * loopback_only, a HOST outside 127.0.0.0/8 and ::1 is an error (Studio).
 * On error err says what was wrong and where, and nothing changes. Never
 * blocks. */
kos_status_t kos__devport_set_streams(struct kos__devport *dp, const char *spec, bool loopback_only,
                                      char *err, size_t errlen) __attribute__((warn_unused_result));

/* Listens on `addr` ("127.0.0.1:7443", port 0 for any free one) with `ctx`
 * (the server's certificate and key, and the device CA to verify clients
 * against: the caller's, kept alive until kos__devport_destroy()). The port
 * sets on ctx what docs/link.md requires: TLS 1.3 only, a client
 * certificate required and checked by the port's verify callback (the
 * chain to the CA, then the device id from the key, the CN against it and
 * admit()), no session tickets, idle buffers released. Returns NULL with
 * err set if it cannot listen. */
struct kos__devport *kos__devport_create(struct event_base *base, SSL_CTX *ctx, const char *addr,
                                         const struct kos__devport_hooks *hooks, char *err,
                                         size_t errlen);

/* Changes the port's bounds (0: the default of lib/link/link.h): how long a
 * TLS handshake may take (10 s), the upgrade request after it (10 s), the
 * silence that ends a link (90 s), and the window each link gives a device
 * (64 KiB). For tests and for a server's configuration; affects later
 * connections. Never blocks. */
void kos__devport_set_limits(struct kos__devport *dp, uint32_t handshake_ms, uint32_t upgrade_ms,
                             uint32_t idle_ms, uint32_t window);

/* Sets how long a link has nothing in flight before it dozes (0: the
 * default above), for tests; affects later connections. */
void kos__devport_set_doze(struct kos__devport *dp, uint32_t doze_ms);

/* The links up now, and how many of them doze. */
void kos__devport_links(const struct kos__devport *dp, size_t *up, size_t *dozing);

/* The port it listens on (useful with port 0). */
unsigned kos__devport_port(const struct kos__devport *dp);

/* Queues one message on channel `ch` to device `id` (an AdminDown on
 * channel 1). KOS_STATUS_UNAVAILABLE if it is not online; KOS_STATUS_BUSY
 * if its channel has no room (its credit and the port's bound: try again
 * later); KOS_STATUS_TOO_LARGE if n is over the device's window. Never
 * blocks. */
kos_status_t kos__devport_send(struct kos__devport *dp, const char *id, uint32_t ch, const void *p,
                               size_t n);

/* Ends device id's link now, if it has one (it was revoked). */
void kos__devport_kick(struct kos__devport *dp, const char *id);

/* Ends every link and stops listening. kos__devport_destroy(NULL) does
 * nothing. */
void kos__devport_destroy(struct kos__devport *dp);

#endif
