/*
 * serve.h - the wait loop shared by the example's two servers: wait on the
 * endpoint and on Core's control channel in one poll(), as an app with its
 * own event loop would.
 */
#ifndef SERVE_H
#define SERVE_H

#include <poll.h>

#include <kos/msg.h>

/* Waits for the next request. Returns KOS_STATUS_CLOSED when Core asks the
 * app to stop. */
static inline kos_status_t serve_next(kos_app_t *app, kos_endpoint_t *ep, struct kos_msg *m,
                                      struct kos_caller *from)
{
    for (;;) {
        struct pollfd p[2] = {
            {.fd = kos_endpoint_fd(ep), .events = POLLIN},
            {.fd = kos_app_fd(app), .events = POLLIN},
        };
        kos_status_t st = kos_endpoint_receive(ep, m, from, 0);
        if (st != KOS_STATUS_WOULD_BLOCK && st != KOS_STATUS_TIMEOUT)
            return st;
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents && kos_app_stopping(app))
            return KOS_STATUS_CLOSED;
    }
}

#endif
