/*
 * events.h - server-sent events (GET /api/events): each client's stream is
 * a chunked evhttp reply to which every event is written as
 *
 *   event: TYPE
 *   data: {compact JSON}
 *   (empty line)
 *
 * What stays true: at most KOS__SRV_SSE_CLIENTS_MAX clients; what waits,
 * unsent, for one client never exceeds KOS__SRV_SSE_QUEUE_MAX bytes in the
 * server's memory: an event that would take it past is not queued, and the
 * client, which does not read, is dropped on the next loop turn (never
 * inside a callback of its own connection). A client that goes away is
 * forgotten when its connection closes.
 */
#ifndef KOS_SERVER_EVENTS_H
#define KOS_SERVER_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include <kos/status.h>

struct kos__events;

/* A hub on `base`, with a keep-alive comment sent every
 * KOS__SRV_SSE_KEEPALIVE_S. NULL if out of memory. */
struct kos__events *kos__events_create(struct event_base *base);

/* Ends every stream (their connections are closed) and frees the hub.
 * Call it before evhttp_free(). kos__events_destroy(NULL) does nothing. */
void kos__events_destroy(struct kos__events *ev);

/* Answers `req` with an event stream of the events about device `device`
 * ("" for every event). KOS_STATUS_BUSY (nothing sent) when the hub has
 * as many clients as it may. */
kos_status_t kos__events_attach(struct kos__events *ev, struct evhttp_request *req,
                                const char *device) __attribute__((warn_unused_result));

/* Queues event `type` about `device` with `data` for every client that
 * takes it. Does not block. */
void kos__events_send(struct kos__events *ev, const char *type, const char *device,
                      const json_t *data);

/* How many clients there are, and how many were dropped for not reading. */
size_t kos__events_clients(const struct kos__events *ev);
uint64_t kos__events_dropped(const struct kos__events *ev);

#endif
