/*
 * doze.c - idle server links doze (docs/link.md, "Idle links").
 *
 * A link given a dozer (kos__link_config.dozer) that has had nothing in
 * flight for the dozer's delay (kos__link_quiet(): no byte buffered either
 * way, the TLS layer's included, no message waiting for credit, no frame
 * half read, no stream) frees its bufferevent, whose buffers, events and
 * TLS glue are about 1 KiB, and its work event. The dozer watches the
 * socket in its own epoll set, one event on the loop for all dozing links,
 * and checks their silence bound once a second. So a dozing link holds
 * only its session (link_int.h), its TLS state and its socket.
 *
 * It wakes (kos__link_awake()) when the peer sends (the dozer's event),
 * or when the link needs to write or to do work (a send, a Credit, a
 * Close, the end): a new bufferevent over the same SSL and socket, and a
 * new work event. No byte is in flight either time, so none is lost or
 * reordered. The doze timer is the work event, added with the delay
 * after each read, write and piece of work.
 */
#include <sys/epoll.h>
#include <unistd.h>

#include "link_int.h"

#define SWEEP_MS   1000u /* how often the dozing links' silence is checked */
#define WAKE_BATCH 64

struct kos__link_dozer {
    struct event_base *base;
    int epfd;
    struct event *ev;    /* epfd is readable: a dozing link's peer sent */
    struct event *sweep; /* while links doze: their silence bounds */
    struct kos__link *head;
    size_t n;
    uint32_t doze_ms;
};

/* Milliseconds since input last came on l. */
static uint64_t silent_ms(const struct kos__link *l)
{
    struct timeval now, gone;

    event_base_gettimeofday_cached(l->base, &now);
    evutil_timersub(&now, &l->last_in, &gone);
    return gone.tv_sec < 0 ? 0 : (uint64_t)gone.tv_sec * 1000 + (uint64_t)gone.tv_usec / 1000;
}

/* Whether l has its work event, made now if it has none (a dozing link);
 * false without memory. */
static bool work_ev_made(struct kos__link *l)
{
    return l->work_ev || (l->work_ev = event_new(l->base, -1, 0, kos__link_work_cb, l));
}

/* Takes l off its dozer: its socket out of the set, itself off the list. */
static void off(struct kos__link_dozer *dz, struct kos__link *l)
{
    (void)epoll_ctl(dz->epfd, EPOLL_CTL_DEL, l->fd, NULL);
    if (l->dprev)
        l->dprev->dnext = l->dnext;
    else
        dz->head = l->dnext;
    if (l->dnext)
        l->dnext->dprev = l->dprev;
    l->dprev = l->dnext = NULL;
    l->dozing = false;
    if (--dz->n == 0)
        event_del(dz->sweep);
}

bool kos__link_awake(struct kos__link *l)
{
    struct timeval left, idle = kos__link_ms_tv(l->idle_ms);
    uint64_t gone;

    if (!l->dozing)
        return true;
    if (!work_ev_made(l))
        return false; /* still dozing: its next wake-up tries again */
    off(l->dozer, l);
    l->bev = bufferevent_openssl_socket_new(l->base, l->fd, l->ssl, BUFFEREVENT_SSL_OPEN, 0);
    if (!l->bev) {
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
        return false;
    }
    if (l->dirty_ok)
        bufferevent_openssl_set_allow_dirty_shutdown(l->bev, 1);
    kos__link_bev_setup(l);
    /* What is left of the silence bound; the next input sets all of it
     * again (read_cb). */
    gone = silent_ms(l);
    left = kos__link_ms_tv(gone + 1 < l->idle_ms ? l->idle_ms - (uint32_t)gone : 1);
    bufferevent_set_timeouts(l->bev, &left, &idle);
    l->short_limit = true;
    if (l->work) /* asked while it dozed */
        event_active(l->work_ev, EV_TIMEOUT, 0);
    return true;
}

void kos__link_doze_later(struct kos__link *l)
{
    struct timeval tv;

    /* Not while work is asked: event_add() with a timeout would take the
     * work event off the loop's active list, and the work (a Credit, say)
     * would wait for the doze timer. The work's callback asks again. */
    if (!l->dozer || !l->bev || !l->work_ev || l->state != KOS__LINK_UP || l->work)
        return;
    tv = kos__link_ms_tv(l->dozer->doze_ms);
    event_add(l->work_ev, &tv);
}

void kos__link_doze(struct kos__link *l)
{
    struct kos__link_dozer *dz = l->dozer;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
    struct timeval sweep = kos__link_ms_tv(SWEEP_MS);

    if (!dz || l->dozing || !l->bev || l->state != KOS__LINK_UP)
        return;
    if (!kos__link_quiet(l) || epoll_ctl(dz->epfd, EPOLL_CTL_ADD, l->fd, &ev) != 0) {
        kos__link_doze_later(l);
        return;
    }
    l->dozing = true;
    l->dnext = dz->head;
    if (dz->head)
        dz->head->dprev = l;
    dz->head = l;
    if (dz->n++ == 0)
        event_add(dz->sweep, &sweep);
    bufferevent_free(l->bev);
    l->bev = NULL;
    event_free(l->work_ev); /* this is its callback: it is not pending */
    l->work_ev = NULL;
}

void kos__link_undoze(struct kos__link *l)
{
    if (l->dozing)
        off(l->dozer, l);
}

bool kos__link_dozing(const struct kos__link *l)
{
    return l && l->dozing;
}

/* Dozing links' peers have sent: each wakes, and its new bufferevent reads
 * what came. One that cannot wake (no memory) leaves the set, so that it
 * does not keep the loop busy; its silence bound ends it. */
static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct kos__link_dozer *dz = arg;
    struct epoll_event evs[WAKE_BATCH];
    int n;

    (void)fd;
    (void)what;
    n = epoll_wait(dz->epfd, evs, WAKE_BATCH, 0);
    for (int i = 0; i < n; i++) {
        struct kos__link *l = evs[i].data.ptr;
        if (!kos__link_awake(l) && l->dozing)
            (void)epoll_ctl(dz->epfd, EPOLL_CTL_DEL, l->fd, NULL);
    }
}

/* Ends the dozing links whose peers have been silent for their bound. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct kos__link_dozer *dz = arg;
    struct kos__link *l, *next;

    (void)fd;
    (void)what;
    for (l = dz->head; l; l = next) {
        next = l->dnext;
        if (silent_ms(l) < l->idle_ms)
            continue;
        if (!work_ev_made(l))
            continue; /* the next sweep tries again */
        off(dz, l);
        kos__link_end_silent(l, false); /* closed() comes from the loop */
    }
}

struct kos__link_dozer *kos__link_dozer_new(struct event_base *base, uint32_t doze_ms)
{
    struct kos__link_dozer *dz = calloc(1, sizeof(*dz));

    if (!dz)
        return NULL;
    dz->base = base;
    dz->doze_ms = doze_ms ? doze_ms : 1;
    dz->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (dz->epfd < 0 || !(dz->ev = event_new(base, dz->epfd, EV_READ | EV_PERSIST, wake_cb, dz)) ||
        !(dz->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, dz)) || event_add(dz->ev, NULL)) {
        kos__link_dozer_free(dz);
        return NULL;
    }
    return dz;
}

void kos__link_dozer_set_delay(struct kos__link_dozer *dz, uint32_t doze_ms)
{
    dz->doze_ms = doze_ms ? doze_ms : 1;
}

size_t kos__link_dozer_count(const struct kos__link_dozer *dz)
{
    return dz ? dz->n : 0;
}

void kos__link_dozer_free(struct kos__link_dozer *dz)
{
    if (!dz)
        return;
    assert(dz->n == 0);
    if (dz->ev)
        event_free(dz->ev);
    if (dz->sweep)
        event_free(dz->sweep);
    if (dz->epfd >= 0)
        close(dz->epfd);
    free(dz);
}
