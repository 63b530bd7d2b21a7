/*
 * msg.h - protocols, tokens and calls.
 *
 * A protocol is a name in a message server's directory. A server app
 * publishes it and receives an endpoint; a client requests it and, if the
 * manifest allows, receives a token on which it can call. Once a token is
 * granted, calls go straight between the two apps over a shared-memory call
 * channel that only those two hold; the message server takes part only in
 * the directory and in token transfer.
 *
 * A message is a label, a parameter, up to KOS_MSG_MAX_PAYLOAD bytes of
 * payload and optionally one token. Calls are request/reply; a server may also
 * notify a client at any time. A server's reply or notification may instead
 * carry one descriptor, a connected TCP socket (the *_fd calls): that is how
 * the ethernet component hands over the connections it opens. A client's
 * request may carry the write end of a pipe (kos_msg_call_give_fd), for a
 * server that is to write a stream of bytes into it.
 *
 * Descriptors travel through the message server and nowhere else, only from
 * a protocol's publisher to one of its clients, and only connected TCP
 * sockets (IPv4 or IPv6): the publisher's library and the message server
 * each check that, so no app can pass a file, memory, pipe, Unix socket or
 * any other descriptor, nor push one to an app that did not call it. The
 * one exception goes the other way: a client may pass the server it calls
 * a pipe's write end, checked the same way, through which the server can
 * only write to whoever holds the read end. The
 * client gets its own duplicate of the socket (the publisher keeps its own
 * until it closes it); a client that does not take a descriptor with the
 * *_fd calls has it closed for it.
 *
 * Every object here exposes a file descriptor that becomes readable when it
 * has something to deliver, so an app can wait on it in its own poll loop.
 * None of these objects is thread-safe; use each from one thread at a time.
 *
 * Timeouts are in milliseconds: -1 waits forever, 0 does not wait.
 * kos_endpoint_receive() also takes KOS_TIMEOUT_SPIN: do not sleep, but
 * first spin briefly (bounded and adaptive, as every wait does before it
 * sleeps) while a client is active. A server that runs its own poll loop
 * uses it right after it answered a request, so a client calling again at
 * once is served without a wake-up (see docs/messages.md).
 *
 * Client libraries (kos_rng_open(), kos_logsrv_open(), kos_keystore_open(),
 * kos_i2c_open(), kos_ethernet_open()) follow one timeout rule. The
 * open's `timeout_ms` is how long it waits for the protocol's server to
 * publish the protocol: -1 forever, 0 not at all (KOS_STATUS_UNAVAILABLE if
 * nobody publishes it yet), N up to N ms (then KOS_STATUS_TIMEOUT); below -1
 * is KOS_STATUS_INVALID_ARGUMENT and nothing is requested. The same value
 * is then the deadline of each call on the handle, which returns
 * KOS_STATUS_TIMEOUT when the server has not answered by then; 0, with
 * which no call could wait for its answer, gives KOS_CLIENT_TIMEOUT_MS. A
 * library's *_set_timeout() changes the call deadline by the same rule.
 * (kos_ethernet_connect() takes a deadline of its own.)
 */
#ifndef KOS_MSG_H
#define KOS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KOS_MSG_MAX_PAYLOAD   4096u
#define KOS_PROTOCOL_NAME_MAX 63u

/* A client handle's call deadline when its open was given 0 (see above). */
#define KOS_CLIENT_TIMEOUT_MS 1000u

/* Labels at and above this value are reserved for KOS itself. */
#define KOS_MSG_LABEL_RESERVED 0xffff0000u

typedef struct kos_token kos_token_t;
typedef struct kos_endpoint kos_endpoint_t;

/*
 * A message. On send, `payload` points to `len` bytes owned by the caller and
 * `token`, if not NULL, is a token of the sender's to pass on: the receiver
 * gets its own token to the same protocol, and the sender keeps its own.
 * On receive, `payload` points into storage owned by the receiving object,
 * valid until the next call on that object, and `token`, if not NULL, is a new
 * token that belongs to the receiver (free it with kos_token_close()).
 */
struct kos_msg {
    uint32_t label;
    uint64_t param;
    const void *payload;
    uint32_t len;
    kos_token_t *token;
};

/* Who sent a request, as the message server vouches for it. */
struct kos_caller {
    uint32_t app_id; /* the sending app's index in the system */
    const char *app; /* its name; valid while the client is connected */
    uint32_t client; /* this endpoint's handle on that client's channel */
    uint32_t call;   /* the call to answer with kos_endpoint_reply() */
};

/* ---- directory ---- */

/* Publishes `protocol` on this message server and returns the endpoint on
 * which its calls arrive. KOS_STATUS_UNAUTHORIZED if the manifest does not
 * let this app publish it (the message server logs the attempt);
 * KOS_STATUS_ALREADY_EXISTS if another app already publishes it. On success
 * the endpoint belongs to the caller. Blocks for one round trip. */
KOS_API KOS_MUST kos_status_t kos_dir_publish(kos_dir_t *dir, const char *protocol,
                                              kos_endpoint_t **out);

/* Requests a token for `protocol`. If nobody publishes it yet, waits up to
 * `timeout_ms` for a publisher (KOS_STATUS_UNAVAILABLE when 0 and nobody
 * publishes, KOS_STATUS_TIMEOUT when the wait ran out).
 * KOS_STATUS_UNAUTHORIZED if the manifest does not let this app request it
 * (the message server logs the attempt). On success the token belongs to
 * the caller. */
KOS_API KOS_MUST kos_status_t kos_dir_request(kos_dir_t *dir, const char *protocol, int timeout_ms,
                                              kos_token_t **out);

/* Round trip to the message server itself. */
KOS_API KOS_MUST kos_status_t kos_dir_ping(kos_dir_t *dir, int timeout_ms);

/* Readable when the directory connection has something to process; call
 * kos_dir_process() then. */
KOS_API int kos_dir_fd(const kos_dir_t *dir);

/* Handles whatever the message server has sent (new clients for endpoints,
 * revocations). Never blocks. Endpoint receive calls do this themselves. */
KOS_API KOS_MUST kos_status_t kos_dir_process(kos_dir_t *dir);

/* ---- client side ---- */

/* Calls the token's server with `request` and waits up to `timeout_ms` for
 * its reply. On return of KOS_STATUS_OK the server's answer is in *reply
 * (payload valid until the next call on this token) and the function returns
 * the status the server replied with. Transport errors:
 * KOS_STATUS_TOO_LARGE (payload over KOS_MSG_MAX_PAYLOAD, nothing sent),
 * KOS_STATUS_INVALID_TOKEN (revoked), KOS_STATUS_UNAVAILABLE (server gone),
 * KOS_STATUS_TIMEOUT. One call at a time per token. `reply` may be NULL. */
KOS_API KOS_MUST kos_status_t kos_msg_call(kos_token_t *token, const struct kos_msg *request,
                                           struct kos_msg *reply, int timeout_ms);

/* Like kos_msg_call(), and takes the descriptor the server's reply may
 * carry (kos_endpoint_reply_fd): *fd is it, which then belongs to the
 * caller, or -1 when the reply carries none. If the reply carries one that
 * cannot be had (the message server refused to carry it, or it expired),
 * returns KOS_STATUS_INVALID_TOKEN with *fd -1. Blocks like kos_msg_call(),
 * plus one round trip to the message server when a descriptor comes. */
KOS_API KOS_MUST kos_status_t kos_msg_call_fd(kos_token_t *token, const struct kos_msg *request,
                                              struct kos_msg *reply, int timeout_ms, int *fd);

/* Like kos_msg_call(), and hands the token's server a duplicate of `fd`,
 * the write end of a pipe (the one descriptor a request may carry), which
 * it takes with kos_endpoint_receive_fd(); `fd` stays the caller's. For a
 * server that is to write a stream of bytes somewhere (the tunnel fetching
 * a blob). KOS_STATUS_INVALID_ARGUMENT, nothing sent, if `fd` is not a
 * pipe's write end or the request also carries a token. Blocks like
 * kos_msg_call(). */
KOS_API KOS_MUST kos_status_t kos_msg_call_give_fd(kos_token_t *token,
                                                   const struct kos_msg *request,
                                                   struct kos_msg *reply, int timeout_ms, int fd);

/* Round trip to the token's server, answered by its KOS library without
 * reaching the app's code. */
KOS_API KOS_MUST kos_status_t kos_token_ping(kos_token_t *token, int timeout_ms);

/* Takes the next notification the server sent on this token, if any:
 * KOS_STATUS_WOULD_BLOCK when there is none. Never blocks when timeout_ms
 * is 0. Payload valid until the next call on this token. */
KOS_API KOS_MUST kos_status_t kos_token_receive(kos_token_t *token, struct kos_msg *note,
                                                int timeout_ms);

/* Like kos_token_receive(), and takes the descriptor the notification may
 * carry (kos_endpoint_notify_fd), as kos_msg_call_fd() does. */
KOS_API KOS_MUST kos_status_t kos_token_receive_fd(kos_token_t *token, struct kos_msg *note,
                                                   int timeout_ms, int *fd);

/* Readable when a notification is waiting or the token was revoked. */
KOS_API int kos_token_fd(const kos_token_t *token);

/* The protocol this token calls. */
KOS_API const char *kos_token_protocol(const kos_token_t *token);

/* Gives the token up; its server sees the client leave.
 * kos_token_close(NULL) does nothing. */
KOS_API void kos_token_close(kos_token_t *token);

/* ---- server side ---- */

/* kos_endpoint_receive()'s timeout for "spin, never sleep": see above. */
#define KOS_TIMEOUT_SPIN (-2)

/* Waits up to `timeout_ms` for the next request from any client and returns
 * it in *msg with the sender in *from. Pings are answered internally and not
 * returned. The payload stays valid until the next receive on this
 * endpoint. Each request must be answered with kos_endpoint_reply(), in any
 * order. */
KOS_API KOS_MUST kos_status_t kos_endpoint_receive(kos_endpoint_t *ep, struct kos_msg *msg,
                                                   struct kos_caller *from, int timeout_ms);

/* Like kos_endpoint_receive(), and takes the descriptor the request may
 * carry (kos_msg_call_give_fd): *fd is it, a pipe's write end that then
 * belongs to the caller, or -1 when the request carries none or it could
 * not be had. kos_endpoint_receive() gives such a descriptor up. */
KOS_API KOS_MUST kos_status_t kos_endpoint_receive_fd(kos_endpoint_t *ep, struct kos_msg *msg,
                                                      struct kos_caller *from, int timeout_ms,
                                                      int *fd);

/* Answers the request identified by `to` with `status` and `reply` (may be
 * NULL). KOS_STATUS_INVALID_TOKEN if that client has gone. Never blocks. */
KOS_API KOS_MUST kos_status_t kos_endpoint_reply(kos_endpoint_t *ep, const struct kos_caller *to,
                                                 kos_status_t status, const struct kos_msg *reply);

/* Like kos_endpoint_reply(), and hands the client a duplicate of `fd`, a
 * connected TCP socket, which stays the caller's (close it when done). The
 * reply may not also carry a token. KOS_STATUS_INVALID_ARGUMENT if `fd` is
 * not a connected TCP socket (nothing is sent); KOS_STATUS_BUSY if the
 * message server's connection is full (nothing is sent: reply again, or
 * without the descriptor). `fd` -1 is kos_endpoint_reply(). Never blocks. */
KOS_API KOS_MUST kos_status_t kos_endpoint_reply_fd(kos_endpoint_t *ep, const struct kos_caller *to,
                                                    kos_status_t status,
                                                    const struct kos_msg *reply, int fd);

/* Sends a notification to one client. KOS_STATUS_BUSY when that client's
 * notification queue is full (the client has not read it). Never blocks. */
KOS_API KOS_MUST kos_status_t kos_endpoint_notify(kos_endpoint_t *ep, uint32_t client,
                                                  const struct kos_msg *note);

/* Like kos_endpoint_notify(), and hands the client a duplicate of `fd` as
 * kos_endpoint_reply_fd() does. Never blocks. */
KOS_API KOS_MUST kos_status_t kos_endpoint_notify_fd(kos_endpoint_t *ep, uint32_t client,
                                                     const struct kos_msg *note, int fd);

/* Revokes one client's token: its pending and later calls fail with
 * KOS_STATUS_INVALID_TOKEN. */
KOS_API KOS_MUST kos_status_t kos_endpoint_revoke(kos_endpoint_t *ep, uint32_t client);

/* True while client `client` is connected (its token open, its app
 * running), as far as the endpoint has heard: a client that left is seen
 * once kos_endpoint_receive() has run after the message server said so.
 * Never blocks. */
KOS_API bool kos_endpoint_has_client(const kos_endpoint_t *ep, uint32_t client);

/* Readable when a request may be waiting. */
KOS_API int kos_endpoint_fd(const kos_endpoint_t *ep);

/* Withdraws the protocol and frees the endpoint; clients see
 * KOS_STATUS_UNAVAILABLE. kos_endpoint_close(NULL) does nothing. */
KOS_API void kos_endpoint_close(kos_endpoint_t *ep);

/* A request handler for kos_endpoint_serve(): answers `req` from `from`
 * with kos_endpoint_reply() (now, or later with a copy of *from). The
 * request's payload is valid only during the call; a token it carries
 * belongs to the handler. */
typedef void (*kos_serve_fn)(void *arg, kos_endpoint_t *ep, const struct kos_msg *req,
                             const struct kos_caller *from);

/* The loop of a server that has nothing else to wait for: passes each
 * request on `ep` to fn(arg, ...) until Core asks the app to stop, waiting
 * on the endpoint and on the app's control channel together, spinning
 * briefly after each request (KOS_TIMEOUT_SPIN) and sleeping otherwise.
 * Returns KOS_STATUS_OK once the app was asked to stop (kos_app_stopping()),
 * or the error that ended receiving. Blocks. */
KOS_API KOS_MUST kos_status_t kos_endpoint_serve(kos_app_t *app, kos_endpoint_t *ep,
                                                 kos_serve_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
