/*
 * component_int.h - how a component starts, serves and stops: the one
 * sequence every server component runs (in the spirit of Microkit's
 * libmicrokit, the library owns the loop). A component says what it serves
 * in a struct kos__component and calls kos__component_main() from main();
 * it is then a settings reader (start) and a request handler (request).
 *
 * The sequence, and what stays true of it:
 *  1. SIGTERM is ignored: Core asks an app to stop with a control message
 *     (and SIGTERM), and the component stops on the message, between
 *     requests, so no reply is cut off;
 *  2. kos_app_open(); start(ctx, app) reads the settings (config_int.h) and
 *     sets up, logging why when it fails;
 *  3. the protocol is published on the message server: `protocol`, or when
 *     `renamable`, the ones the `protocol` and `server` settings name
 *     (default `protocol` on msg0); published(ctx, ep) is told the
 *     endpoint, which stays the library's;
 *  4. kos_app_ready(), then one line "serving PROTOCOL" (": " and what
 *     describe() writes, when it writes something);
 *  5. the serve loop (kos__serve()) until Core asks the app to stop, or
 *     receiving fails ("receive failed: STATUS" is logged);
 *  6. "stopping: " and what stopped() writes, or "stopping on request"
 *     when there is no stopped() and the app was asked to stop;
 *  7. fini(ctx) frees what start() set up: it runs whenever start() ran,
 *     so it copes with a start that failed halfway, and before the
 *     endpoint is closed, so it may still answer the requests it holds
 *     (with kos_endpoint_reply() on the endpoint published() was given);
 *     then the endpoint and the app are closed.
 * The exit status kos__component_main() returns is 0 after a stop Core
 * asked for, 1 after any failure (the app could not be opened, a setting
 * was bad, the protocol could not be published, Core was not told of
 * readiness, receiving failed).
 */
#ifndef KOS_COMPONENT_INT_H
#define KOS_COMPONENT_INT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include <kos/msg.h>

/*
 * The loop of a server (kos__serve()): `request` gets each request, as
 * kos_endpoint_serve() passes them. The other hooks are optional, for a
 * server that answers later or waits on more than its endpoint:
 *
 * flush(ctx): no request is waiting (or the loop ends): answer what was
 *     deferred, before the server spins for the next request or sleeps.
 * wait(ctx, pfds, room, &timeout_ms): the server is about to sleep: fill up
 *     to `room` entries of pfds with the descriptors it waits on besides
 *     its endpoint and the control channel, and return how many; a return
 *     over `room` asks to be called again with that much room. *timeout_ms
 *     (-1 on entry) is how long it may sleep at most.
 * woken(ctx, pfds, n): after each sleep, with the n entries wait() filled,
 *     their revents set (0 when the sleep was cut short by a signal).
 */
struct kos__serve_ops {
    kos_serve_fn request;
    void (*flush)(void *ctx);
    size_t (*wait)(void *ctx, struct pollfd *pfds, size_t room, int *timeout_ms);
    void (*woken)(void *ctx, const struct pollfd *pfds, size_t n);
};

/* Passes each request on `ep` to ops->request(ctx, ...) until Core asks the
 * app to stop, spinning briefly after a request (KOS_TIMEOUT_SPIN) and
 * sleeping on the endpoint, the control channel and what ops->wait() adds
 * otherwise. Returns KOS_STATUS_OK once the app was asked to stop, the
 * error that ended receiving, KOS_STATUS_IO if poll() failed or
 * KOS_STATUS_NO_MEMORY if wait()'s room could not be had. Blocks. */
kos_status_t kos__serve(kos_app_t *app, kos_endpoint_t *ep, const struct kos__serve_ops *ops,
                        void *ctx) __attribute__((warn_unused_result));

/* What a component serves and its hooks (the sequence is at the top). */
struct kos__component {
    const char *protocol; /* what it publishes */
    bool renamable;       /* the `protocol` and `server` settings may say another */
    /* Reads the settings and sets up; on failure logs why and returns an
     * error (the component exits with 1). Required. */
    kos_status_t (*start)(void *ctx, kos_app_t *app);
    /* Optional: the protocol is published on `ep` (the library's: do not
     * close it); runs before Core is told the app is ready. */
    void (*published)(void *ctx, kos_endpoint_t *ep);
    /* Optional: what the "serving" line says after the protocol's name. */
    void (*describe)(void *ctx, char *buf, size_t len);
    /* The serve loop's hooks; serve.request is required. */
    struct kos__serve_ops serve;
    /* Optional: what the "stopping" line says (after the loop, whatever
     * ended it). */
    void (*stopped)(void *ctx, char *buf, size_t len);
    /* Optional: frees what start() set up (step 7). */
    void (*fini)(void *ctx);
};

/* Answers the request `to` with kos_endpoint_reply(); logs a warning if
 * that fails for another reason than the client having gone. Never
 * blocks but for the log line. */
void kos__component_reply(kos_endpoint_t *ep, const struct kos_caller *to, kos_status_t status,
                          const struct kos_msg *reply);

/* Runs component c on ctx (which the caller owns; the hooks get it) through
 * the whole sequence above and returns the exit status for main(). Blocks
 * until the component stops. */
int kos__component_main(const struct kos__component *c, void *ctx);

#endif
