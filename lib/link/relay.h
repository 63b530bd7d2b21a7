/*
 * relay.h - a stream of the device link relayed to a TCP connection: the
 * one piece both ends of a forwarded stream share (docs/link.md,
 * "Streams"). kos-server relays a device's stream to its destination; the
 * tunnel relays it to the loopback connection whose other end the app
 * holds.
 *
 * What stays true: the relay holds at most the link's window of the
 * peer's bytes (they are credited back only as the connection takes them)
 * and at most one read's worth (KOS__RELAY_READ_MAX) of the connection's
 * (it stops reading while the stream's credit and send bound are used up);
 * the connection's end closes the stream after its last bytes have gone,
 * and the stream's end closes the connection after the peer's last bytes
 * are written. Not thread-safe: use it from the link's loop.
 */
#ifndef KOS_LINK_RELAY_H
#define KOS_LINK_RELAY_H

#include <stdint.h>

#include <event2/bufferevent.h>

#include "link.h"

/* Connection bytes per data envelope: 64 KiB less the envelope's own
 * bytes (at most 16) and a client's frame header (8), so that a message
 * is four whole TLS records (16 KiB each) and not a fifth of a few bytes:
 * an envelope of 32 KiB of data went out as three records and write()s,
 * and kos-server read each with two read()s. */
#define KOS__RELAY_CHUNK    (4u * 16384u - 24u)
#define KOS__RELAY_READ_MAX 262144u /* connection bytes read ahead of the stream's credit */
#define KOS__RELAY_DRAIN_MS 30000u  /* a closed stream's last bytes wait this long to be written */
/* A connection read again within this many microseconds is sending in
 * bulk: what it sent waits at most this long to fill an envelope. */
#define KOS__RELAY_HOLD_US 1000u

struct kos__relay;

/* The relay has ended from the connection's side (EOF: code 0, or an
 * error), having closed the stream; the owner frees it, now or later,
 * with kos__relay_free(). `why` is for the logs. */
typedef void (*kos__relay_ended_fn)(void *arg, struct kos__relay *r, uint32_t code,
                                    const char *why);

/* Relays open stream ch of link l and connected `bev`, which the relay
 * owns from now on (freed with it, whatever happens). NULL (bev freed) if
 * there is no memory. Never blocks. */
struct kos__relay *kos__relay_new(struct kos__link *l, uint32_t ch, struct bufferevent *bev,
                                  kos__relay_ended_fn ended, void *arg);

/* The link's data() for the stream: the bytes are queued on the
 * connection. KOS_STATUS_NO_MEMORY if they cannot be. */
kos_status_t kos__relay_data(struct kos__relay *r, const uint8_t *p, size_t n);

/* The link's room() for the stream: reads the connection again. */
void kos__relay_room(struct kos__relay *r);

/* The link's stream_closed() for the stream: the connection is closed
 * once the peer's bytes are written (within KOS__RELAY_DRAIN_MS), and the
 * relay then frees itself; at once when none wait. Either way the relay is
 * no longer the caller's: forget r (it never touches the link again). */
void kos__relay_peer_closed(struct kos__relay *r);

/* Frees the relay and its connection at once. kos__relay_free(NULL) does
 * nothing. */
void kos__relay_free(struct kos__relay *r);

/* The stream's channel. */
uint32_t kos__relay_channel(const struct kos__relay *r);

#endif
