/*
 * msg_int.h - libkos messaging internals shared with the rest of KOS: how
 * lib/app.c turns a boot record's message-server socket into a kos_dir_t, and
 * the few hooks the tests need.
 *
 * A kos_dir_t owns its socket and keeps a list of the tokens and endpoints
 * made through it. Those belong to the app, not to the directory: destroying
 * the directory detaches them (every later call on them returns
 * KOS_STATUS_CLOSED) and the app still frees each with kos_token_close() /
 * kos_endpoint_close().
 *
 * libkos uses these system calls at run time (for the app sandbox's
 * allow-list): sendmsg, recvmsg, poll, epoll_create1, epoll_ctl, epoll_wait,
 * eventfd2, read, write, preadv2, pwritev2, mmap, munmap, fcntl (F_GET_SEALS),
 * fstat, close, futex, getrandom, clock_gettime and getcpu (normally vDSO),
 * shutdown.
 */
#ifndef KOS_MSG_INT_H
#define KOS_MSG_INT_H

#include <stdint.h>

#include <kos/msg.h>

/* Makes a directory from `sock`, the app's SOCK_SEQPACKET connection to the
 * message server named `server_name`, for the app numbered `app_id`. On
 * success the directory owns `sock` and *out belongs to the caller (free it
 * with kos__dir_destroy); on error `sock` stays the caller's and nothing else
 * is held. Does not block. */
kos_status_t kos__dir_create(int sock, const char *server_name, uint32_t app_id, kos_dir_t **out)
    __attribute__((warn_unused_result));

/* Closes the directory's socket and frees it, detaching its tokens and
 * endpoints. kos__dir_destroy(NULL) does nothing. */
void kos__dir_destroy(kos_dir_t *dir);

/* The message server's name this directory talks to ("msg0"). */
const char *kos__dir_server(const kos_dir_t *dir);

struct kos__trace_shm;

/* Makes the directory record its app's calls into `ring` (trace_int.h; the
 * app's, which must outlive the directory; NULL: none) as message server
 * number `index` of the app's boot record, whenever the ring says tracing
 * is on. Does not block. */
void kos__dir_set_trace(kos_dir_t *dir, struct kos__trace_shm *ring, uint32_t index);

/* ---- test hooks ---- */

struct kos__chan_shm;

/* The shared channel behind a token, so a test can play a hostile client. */
struct kos__chan_shm *kos__token_shm(kos_token_t *token);

/* The channel number the message server gave the token. */
uint32_t kos__token_channel(const kos_token_t *token);

/* The current spin budget (ns) of a token's or an endpoint's waits. */
uint32_t kos__token_spin_ns(const kos_token_t *token);
uint32_t kos__endpoint_spin_ns(const kos_endpoint_t *ep);

#endif
