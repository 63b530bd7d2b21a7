/*
 * context.c - what every module of kos-server does through its context
 * (server_int.h): emit events, end a device's link later.
 *
 * What stays true: an event's data is handed to every stream and the tap,
 * then released, whatever happens; a kick asked for inside the device
 * port's callback runs on a later loop turn, once per device however often
 * it was asked.
 */
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "server_int.h"

void kos__srv_emit(struct kos__srv *srv, const char *type, const char *device, json_t *data)
{
    if (!data)
        return;
    if (srv->events)
        kos__events_send(srv->events, type, device, data);
    if (srv->tap)
        srv->tap(srv->tap_arg, type, device, data);
    json_decref(data);
}

static void do_kicks(evutil_socket_t fd, short what, void *arg)
{
    struct kos__srv *srv = arg;

    (void)fd;
    (void)what;
    for (unsigned i = 0; i < srv->n_kicks; i++)
        if (srv->devport)
            kos__devport_kick(srv->devport, srv->kicks[i]);
    srv->n_kicks = 0;
}

void kos__srv_kick_later(struct kos__srv *srv, const char *id)
{
    for (unsigned i = 0; i < srv->n_kicks; i++)
        if (strcmp(srv->kicks[i], id) == 0)
            return;
    if (srv->n_kicks == KOS__SRV_KICKS_MAX)
        return;
    snprintf(srv->kicks[srv->n_kicks++], sizeof(srv->kicks[0]), "%s", id);
    if (!srv->kick_ev)
        srv->kick_ev = event_new(srv->base, -1, 0, do_kicks, srv);
    if (srv->kick_ev)
        event_active(srv->kick_ev, EV_TIMEOUT, 0);
}
