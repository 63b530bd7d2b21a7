/*
 * traceq.c - the trace records on their way to the server (admin.h): the
 * channels known from the message servers' grants, the bounded queue, and
 * TraceBatches packed from it (proto/traces.proto).
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "trace_int.h"
#include "traces.pb-c.h"

bool admin_traceq_init(struct admin_traceq *t)
{
    memset(t, 0, sizeof(*t));
    t->q = calloc(ADMIN_TRACE_QUEUE, sizeof(*t->q));
    t->chans = calloc(ADMIN_TRACE_CHANNELS, sizeof(*t->chans));
    if (!t->q || !t->chans) {
        admin_traceq_fini(t);
        return false;
    }
    return true;
}

void admin_traceq_fini(struct admin_traceq *t)
{
    free(t->q);
    free(t->chans);
    memset(t, 0, sizeof(*t));
}

static struct admin_trace_chan *chan_find(struct admin_traceq *t, const char *server,
                                          uint32_t channel)
{
    for (size_t i = 0; i < ADMIN_TRACE_CHANNELS; i++) {
        struct admin_trace_chan *c = &t->chans[i];
        if (c->channel == channel && channel && !strcmp(c->server, server))
            return c;
    }
    return NULL;
}

/* A grant: the channel's parties and protocol, replacing what an older
 * grant of the same number said (a message server that restarted numbers
 * again). A channel that ended stays known: its last calls may be read
 * after its end. */
static void chan_grant(struct admin_traceq *t, const struct kos__sys_trace *r)
{
    struct admin_trace_chan *c = chan_find(t, r->server, r->channel);

    if (!r->channel)
        return;
    if (!c) {
        c = &t->chans[t->chan_next];
        t->chan_next = (t->chan_next + 1) % ADMIN_TRACE_CHANNELS;
    }
    c->channel = r->channel;
    memcpy(c->server, r->server, sizeof(c->server));
    memcpy(c->client, r->app, sizeof(c->client));
    memcpy(c->serving, r->peer, sizeof(c->serving));
    memcpy(c->protocol, r->protocol, sizeof(c->protocol));
}

/* A call's peer and protocol from its channel's grant, if the grant names
 * the recording app on the right side. */
static bool join(struct admin_traceq *t, struct kos__sys_trace *r)
{
    const struct admin_trace_chan *c = chan_find(t, r->server, r->channel);
    bool client = r->kind == KOS__TRACE_CALL;

    r->peer[0] = r->protocol[0] = '\0';
    if (!c || strcmp(client ? c->client : c->serving, r->app) != 0)
        return false;
    memcpy(r->peer, client ? c->serving : c->client, sizeof(r->peer));
    memcpy(r->protocol, c->protocol, sizeof(r->protocol));
    return true;
}

void admin_traceq_take(struct admin_traceq *t, const struct kos__sys_traces *b)
{
    t->dropped += b->lost;
    t->dropped_total += b->lost;
    for (uint32_t i = 0; i < b->n && i < KOS__SYS_TRACE_BATCH; i++) {
        struct admin_trace e = {.r = b->r[i], .verified = true};

        if (e.r.kind == KOS__TRACE_GRANT)
            chan_grant(t, &e.r);
        if (e.r.kind == KOS__TRACE_CALL || e.r.kind == KOS__TRACE_SERVE) {
            e.verified = join(t, &e.r);
            if (!e.verified)
                t->unverified++;
        }
        if (t->n == ADMIN_TRACE_QUEUE) {
            t->head = (t->head + 1) % ADMIN_TRACE_QUEUE;
            t->n--;
            t->dropped++;
            t->dropped_total++;
        }
        t->q[(t->head + t->n) % ADMIN_TRACE_QUEUE] = e;
        t->n++;
    }
}

size_t admin_traceq_batch(struct admin_traceq *t, uint8_t *buf, size_t cap, size_t *n)
{
    Kos__Traces__TraceBatch b = KOS__TRACES__TRACE_BATCH__INIT;
    Kos__Traces__TraceRecord recs[64], *ptrs[64];
    size_t k = 0, size;

    *n = 0;
    if (t->n == 0 && t->dropped == 0)
        return 0;
    b.dropped = t->dropped;
    b.records = ptrs;
    size = kos__traces__trace_batch__get_packed_size(&b);
    while (k < t->n && k < 64) {
        struct admin_trace *e = &t->q[(t->head + k) % ADMIN_TRACE_QUEUE];
        Kos__Traces__TraceRecord *r = &recs[k];

        kos__traces__trace_record__init(r);
        r->time_ns = (int64_t)e->r.time_ns;
        r->kind = (Kos__Traces__Kind)e->r.kind;
        r->app = e->r.app;
        r->peer = e->r.peer;
        r->server = e->r.server;
        r->protocol = e->r.protocol;
        r->channel = e->r.channel;
        r->label = e->r.label;
        r->status = e->r.status;
        r->req_len = e->r.req_len;
        r->rep_len = e->r.rep_len;
        r->dur_ns = e->r.dur_ns;
        r->verified = e->verified;
        /* The record, its tag and its length prefix. */
        size_t one = kos__traces__trace_record__get_packed_size(r) + 1 + 2;
        if (size + one > cap)
            break;
        ptrs[k] = r;
        size += one;
        k++;
    }
    b.n_records = k;
    if (kos__traces__trace_batch__get_packed_size(&b) > cap)
        return 0; /* cannot happen: counted above */
    *n = k;
    return kos__traces__trace_batch__pack(&b, buf);
}

void admin_traceq_sent(struct admin_traceq *t, size_t n)
{
    t->head = (t->head + n) % ADMIN_TRACE_QUEUE;
    t->n -= n;
    t->dropped = 0;
}
