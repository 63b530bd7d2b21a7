/*
 * blobport.h - the device port's blob route (docs/link.md, "Blobs"): GET
 * /kos/blobs/<sha256> with Range, on a connection of its own, after the
 * same TLS handshake as a link. devport.c hands a connection here when its
 * first request line asks for a blob.
 *
 * What stays true: a connection holds at most KOS__BLOB_QUEUE bytes of a
 * blob in memory, read from the file as the client takes them, so a client
 * that reads slowly or not at all costs that and a file descriptor, never
 * the blob; one that takes nothing for KOS__BLOB_STALL_MS is dropped, and
 * one that asks nothing for KOS__BLOB_IDLE_MS is closed. Every answer has a
 * Content-Length; a 400 (or a request for another path) ends the
 * connection. Only the blobs the hooks open for this device are served.
 */
#ifndef KOS_SERVER_BLOBPORT_H
#define KOS_SERVER_BLOBPORT_H

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "devport.h"

/* Limits (docs/link.md, "Blobs"). */
#define KOS__BLOB_IDLE_MS  10000u         /* a kept connection waits this long for a request */
#define KOS__BLOB_STALL_MS 30000u         /* a client that takes nothing this long is dropped */
#define KOS__BLOB_QUEUE    (256u * 1024u) /* a blob's bytes read ahead for one connection */
#define KOS__BLOB_CHUNK    (64u * 1024u)  /* one read of the file */

struct kos__blobconn;

/* Serves blob requests for device `id` on `bev` (a TLS bufferevent past
 * its handshake, whose input holds at least the first request line; the
 * connection's from now on, freed with it). The hooks' blob_open() and
 * blob_served() say what may be served and hear what was. closed(arg) is
 * called once, from the event loop, when the connection has ended; the
 * caller then frees it. Returns NULL (bev freed) if out of memory. */
struct kos__blobconn *kos__blobconn_new(struct event_base *base, struct bufferevent *bev,
                                        const char *id, const struct kos__devport_hooks *hooks,
                                        void (*closed)(void *arg), void *arg);

/* Ends the connection now (counting what it served). NULL does nothing. */
void kos__blobconn_free(struct kos__blobconn *b);

#endif
