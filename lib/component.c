/*
 * component.c - the serve loop every server shares (kos_endpoint_serve()
 * and kos__serve()) and the start, serve and stop sequence of a component
 * (kos__component_main()); component_int.h says what stays true of both.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <kos/log.h>

#include "component_int.h"
#include "config_int.h"

#define SERVE_FIXED_FDS 2 /* the endpoint and the control channel */

/* The descriptors a sleeping server waits on: the endpoint, the control
 * channel and what ops->wait() adds. */
struct serve_fds {
    struct pollfd fixed[SERVE_FIXED_FDS]; /* enough without ops->wait() */
    struct pollfd *p;                     /* fixed, or heap */
    struct pollfd *heap;
    size_t cap;
};

/* Fills fds (growing it) for the next sleep; returns how many entries, or 0
 * if the room could not be had. */
static size_t serve_pollfds(kos_app_t *app, kos_endpoint_t *ep, const struct kos__serve_ops *ops,
                            void *ctx, struct serve_fds *fds, int *timeout_ms)
{
    size_t n = 0;

    *timeout_ms = -1;
    while (ops->wait && (n = ops->wait(ctx, fds->p + SERVE_FIXED_FDS, fds->cap - SERVE_FIXED_FDS,
                                       timeout_ms)) > fds->cap - SERVE_FIXED_FDS) {
        struct pollfd *p = realloc(fds->heap, (n + SERVE_FIXED_FDS) * sizeof(*p));
        if (!p)
            return 0;
        fds->p = fds->heap = p;
        fds->cap = n + SERVE_FIXED_FDS;
        *timeout_ms = -1;
    }
    fds->p[0] = (struct pollfd){.fd = kos_endpoint_fd(ep), .events = POLLIN};
    fds->p[1] = (struct pollfd){.fd = kos_app_fd(app), .events = POLLIN};
    for (size_t i = 0; i < n; i++)
        fds->p[SERVE_FIXED_FDS + i].revents = 0;
    return n + SERVE_FIXED_FDS;
}

kos_status_t kos__serve(kos_app_t *app, kos_endpoint_t *ep, const struct kos__serve_ops *ops,
                        void *ctx)
{
    struct serve_fds fds = {.cap = SERVE_FIXED_FDS};
    kos_status_t st;

    if (!app || !ep || !ops || !ops->request)
        return KOS_STATUS_INVALID_ARGUMENT;
    fds.p = fds.fixed;
    /* After a request is answered the server spins for the next one: at
     * once without a flush; with one, once the requests waiting are taken
     * and the deferred answers are out. A flush also comes before each
     * sleep. */
    for (bool spin = false, answered = false;;) {
        struct kos_msg m;
        struct kos_caller from;
        int timeout_ms;
        size_t n;

        st = kos_endpoint_receive(ep, &m, &from, spin ? KOS_TIMEOUT_SPIN : 0);
        if (st == KOS_STATUS_OK) {
            ops->request(ctx, ep, &m, &from);
            answered = true;
            spin = !ops->flush;
            continue;
        }
        if (st != KOS_STATUS_WOULD_BLOCK)
            break;
        if (ops->flush && !spin) {
            ops->flush(ctx);
            if (answered) {
                answered = false;
                spin = true;
                continue;
            }
        }
        spin = answered = false;
        n = serve_pollfds(app, ep, ops, ctx, &fds, &timeout_ms);
        if (!n) {
            st = KOS_STATUS_NO_MEMORY;
            break;
        }
        if (poll(fds.p, n, timeout_ms) < 0 && errno != EINTR) {
            st = KOS_STATUS_IO;
            break;
        }
        if (fds.p[1].revents && kos_app_stopping(app)) {
            st = KOS_STATUS_OK;
            break;
        }
        if (ops->woken)
            ops->woken(ctx, fds.p + SERVE_FIXED_FDS, n - SERVE_FIXED_FDS);
    }
    if (ops->flush)
        ops->flush(ctx);
    free(fds.heap);
    return st;
}

void kos__component_reply(kos_endpoint_t *ep, const struct kos_caller *to, kos_status_t status,
                          const struct kos_msg *reply)
{
    kos_status_t st = kos_endpoint_reply(ep, to, status, reply);

    if (st && st != KOS_STATUS_INVALID_TOKEN) /* a client that left does not matter */
        kos_log_warn("reply to '%s' failed: %s", to->app, kos_status_str(st));
}

kos_status_t kos_endpoint_serve(kos_app_t *app, kos_endpoint_t *ep, kos_serve_fn fn, void *arg)
{
    const struct kos__serve_ops ops = {.request = fn};

    if (!fn)
        return KOS_STATUS_INVALID_ARGUMENT;
    return kos__serve(app, ep, &ops, arg);
}

/* Publishes the component's protocol; logs why not. */
static kos_status_t publish(const struct kos__component *c, kos_app_t *app, const char **protocol,
                            kos_endpoint_t **ep)
{
    const char *server = c->renamable ? kos__cfg_str(app, "server", "msg0") : "msg0";
    kos_dir_t *dir;
    kos_status_t st;

    *protocol = c->renamable ? kos__cfg_str(app, "protocol", c->protocol) : c->protocol;
    if ((st = kos_app_dir(app, server, &dir)) || (st = kos_dir_publish(dir, *protocol, ep))) {
        kos_log_error("cannot publish %s on %s: %s", *protocol, server, kos_status_str(st));
        return st;
    }
    return KOS_STATUS_OK;
}

int kos__component_main(const struct kos__component *c, void *ctx)
{
    kos_endpoint_t *ep = NULL;
    const char *protocol;
    kos_app_t *app;
    char line[512];
    kos_status_t st;
    int rc = 1;

    signal(SIGTERM, SIG_IGN);
    if (kos_app_open(&app))
        return 1;
    if (c->start(ctx, app) || publish(c, app, &protocol, &ep))
        goto out_fini;
    if (c->published)
        c->published(ctx, ep);
    if (kos_app_ready(app)) {
        kos_log_error("cannot tell Core this app is ready");
        goto out_fini;
    }
    line[0] = '\0';
    if (c->describe)
        c->describe(ctx, line, sizeof(line));
    kos_log_info("serving %s%s%s", protocol, line[0] ? ": " : "", line);

    st = kos__serve(app, ep, &c->serve, ctx);
    if (st)
        kos_log_error("receive failed: %s", kos_status_str(st));
    else
        rc = 0;
    if (c->stopped) {
        line[0] = '\0';
        c->stopped(ctx, line, sizeof(line));
        kos_log_info("stopping: %s", line);
    } else if (!st) {
        kos_log_info("stopping on request");
    }
out_fini:
    if (c->fini)
        c->fini(ctx);
    kos_endpoint_close(ep);
    kos_app_close(app);
    return rc;
}
