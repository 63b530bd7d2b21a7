/*
 * msgsrv.h - a message server's directory: the apps connected to it, the
 * protocols they publish, the call channels it has granted, and the requests
 * and token transfers still waiting.
 *
 * The directory is driven by one thread (main.c's poll loop) and never
 * blocks: every socket is non-blocking, a message an app cannot take yet is
 * queued (up to a bound, after which the app is disconnected), and anything
 * that waits (a request for a protocol nobody publishes yet, a redeemed
 * transfer whose announcement is still in flight) is kept with a deadline
 * that msgsrv_expire() enforces.
 *
 * What stays true:
 *   - an app gets a token only for a protocol its grants (from Core's
 *     ADD_CLIENT record) let it request, or by redeeming a transfer another
 *     holder of a token to that protocol prepared; each refusal is logged
 *     with the app's name;
 *   - every channel descriptor is created here (never taken from an app) and
 *     handed to exactly the two parties; the directory keeps only a mapping
 *     of the channel's memory, to mark it down when a party leaves;
 *   - the only descriptors taken from apps are connected TCP sockets that a
 *     publisher passes (FD_PASS) for the client of one of its own channels;
 *     each is handed to that client alone, once, and closed here when it is
 *     taken, dropped, its channel goes, or it expires; anything else an app
 *     tries to pass is closed and logged;
 *   - a message from an app that is malformed or does not fit the app's
 *     role ends that app's connection, not the server.
 */
#ifndef KOS_MSGSRV_H
#define KOS_MSGSRV_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/status.h>

#include "boot_int.h"

struct msgsrv;

/* Makes an empty directory for the message server named `name`. Returns NULL
 * when out of memory. */
struct msgsrv *msgsrv_create(const char *name);

/* Disconnects every app and frees the directory. msgsrv_destroy(NULL) does
 * nothing. */
void msgsrv_destroy(struct msgsrv *srv);

/* Adds an app's connection: `sock` (taken in every case) is the server end of
 * its SOCK_SEQPACKET socket, `grants` what the manifest lets it publish and
 * request here. An app that was already connected under the same id (it
 * restarted) is first treated as gone. */
kos_status_t msgsrv_add_client(struct msgsrv *srv, int sock,
                               const struct kos__client_grants *grants)
    __attribute__((warn_unused_result));

/* Treats an app as gone: its protocols are withdrawn, the tokens to them
 * fail with KOS_STATUS_UNAVAILABLE, the servers it called see it leave. */
void msgsrv_app_down(struct msgsrv *srv, uint32_t app_id);

/* Message tracing (docs/messages.md, "Tracing"). Apps whose ids are at or
 * above this are never traced: Core's process table holds at most 1024. */
#define KOS__MSGSRV_TRACE_APPS 1024u

struct kos__trace_shm;

/* Records directory events into `ring` (the server's, which must outlive
 * the directory; NULL: none) while its `on` says so. */
void msgsrv_set_trace(struct msgsrv *srv, struct kos__trace_shm *ring);

/* Records (or stops recording) the directory events about app `app_id`:
 * its publishes and withdrawals, its grants and their ends (as client or
 * server), its denials. Switching it on first records what it holds now
 * (a PUBLISH per endpoint, a GRANT per channel), so that a reader that
 * starts then knows its channels. */
void msgsrv_trace_app(struct msgsrv *srv, uint32_t app_id, bool on);

/* Fills up to `cap` pollfds, one per connected app (POLLIN, plus POLLOUT
 * while messages wait to be sent to it), and returns how many. */
size_t msgsrv_pollfds(const struct msgsrv *srv, struct pollfd *pfds, size_t cap);

/* The number of connected apps. */
size_t msgsrv_n_apps(const struct msgsrv *srv);

/* Handles what poll() reported for one app's descriptor. */
void msgsrv_handle(struct msgsrv *srv, const struct pollfd *pfd);

/* Answers the waits whose deadline has passed, and returns how many
 * milliseconds poll() may sleep until the next one (-1: none). */
int msgsrv_expire(struct msgsrv *srv);

/*
 * For tests and the fuzz harness, which turn the loop themselves.
 */

/* Replaces the clock the directory reads every deadline from (milliseconds
 * on CLOCK_MONOTONIC by default) with now(arg), so that a test makes time
 * pass by counting and what expires does not depend on the machine's speed.
 * now() must never go back. NULL restores the default. */
void msgsrv_set_clock(struct msgsrv *srv, uint64_t (*now)(void *arg), void *arg);

/* What the directory holds, counted from its tables. */
struct msgsrv_stats {
    size_t apps, endpoints, channels;
    size_t waits;       /* requests and redeems waiting */
    size_t cookies;     /* token transfers prepared and not redeemed yet */
    size_t fds;         /* passed descriptors not taken yet */
    size_t descriptors; /* open descriptors the directory holds: sockets, queued, passed */
};
void msgsrv_stats(const struct msgsrv *srv, struct msgsrv_stats *out);

/* What the directory holds for one connected app, counted from its tables. */
struct msgsrv_app_stats {
    bool doomed;          /* to be disconnected at the end of the next msgsrv_handle() */
    size_t endpoints;     /* protocols it publishes */
    size_t tokens;        /* channels it holds as a client */
    size_t tokens_max_ep; /* the most of those on one endpoint */
    size_t waits;         /* its requests and redeems waiting */
    size_t cookies;       /* transfers it prepared, not redeemed yet (expired ones included
                           * until msgsrv_expire() drops them) */
    size_t fds;           /* descriptors passed to it, not taken yet */
    size_t queued;        /* messages waiting for its socket to take them */
    size_t queued_fds;    /* descriptors in those messages */
};

/* Fills *out for app `app_id`; false (and *out untouched) if it is not
 * connected. */
bool msgsrv_app_stats(const struct msgsrv *srv, uint32_t app_id, struct msgsrv_app_stats *out);

/* Checks the directory's own bookkeeping: each app's counters match its
 * tables, ids are unique, every endpoint belongs to a connected app, every
 * channel's parties are connected and its server publishes its endpoint,
 * every wait's app is connected, every passed descriptor waits for its
 * channel's client. True when all holds; otherwise false with what does not
 * in why (cap bytes). Quadratic in the tables' sizes. */
bool msgsrv_check(const struct msgsrv *srv, char *why, size_t cap);

#endif
