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
 * app to stop. Called right after the previous request was answered, it
 * first spins briefly for the next one (KOS_TIMEOUT_SPIN: a client calling
 * again at once is served without a wake-up), then sleeps in poll(). */
static inline kos_status_t serve_next(kos_app_t *app, kos_endpoint_t *ep, struct kos_msg *m,
                                      struct kos_caller *from)
{
    for (int timeout = KOS_TIMEOUT_SPIN;; timeout = 0) {
        struct pollfd p[2] = {
            {.fd = kos_endpoint_fd(ep), .events = POLLIN},
            {.fd = kos_app_fd(app), .events = POLLIN},
        };
        kos_status_t st = kos_endpoint_receive(ep, m, from, timeout);
        if (st != KOS_STATUS_WOULD_BLOCK && st != KOS_STATUS_TIMEOUT)
            return st;
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents && kos_app_stopping(app))
            return KOS_STATUS_CLOSED;
    }
}

#endif
