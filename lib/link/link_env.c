/*
 * link_env.c - the envelopes a device link's peer sends (link.h,
 * docs/link.md "Envelopes"): Hello, Open, Close of a stream, data and
 * credit, each checked against what this end allowed before it is acted
 * on; anything else ends the link with what was wrong.
 */
#include "link_int.h"

static bool hex_id(const char *s)
{
    size_t n = strlen(s);

    if (n > KOS__LINK_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void on_hello(struct kos__link *l, const Kos__Link__Envelope *env)
{
    const Kos__Link__Hello *h = env->hello;

    if (env->channel != 0 || l->hello_got) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                            l->hello_got ? "a second Hello" : "a Hello on channel %u",
                            (unsigned)env->channel);
        return;
    }
    if (h->version != KOS__LINK_VERSION) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                            "Hello version %u (this end speaks %u)", (unsigned)h->version,
                            KOS__LINK_VERSION);
        return;
    }
    if (h->window < KOS__LINK_WINDOW_MIN || h->window > KOS__LINK_WINDOW_MAX) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                            "Hello window %u (4096 to 1048576)", (unsigned)h->window);
        return;
    }
    if (l->role == KOS__LINK_CLIENT && h->device_id && !hex_id(h->device_id)) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                            "Hello device_id is not a hex SHA-256");
        return;
    }
    size_t an = h->agent ? strnlen(h->agent, KOS__LINK_AGENT_MAX) : 0;
    if (!(l->peer_agent = malloc(an + 1)) ||
        (l->role == KOS__LINK_CLIENT && h->device_id && !(l->peer_id = strdup(h->device_id)))) {
        kos__link_terminate(l, KOS__LINK_END_IO, 0, "out of memory");
        return;
    }
    kos__link_printable(l->peer_agent, an + 1, h->agent ? h->agent : "", an);
    l->hello_got = true;
    l->peer_window = h->window;
    for (uint32_t c = 1; c < KOS__LINK_CHANNELS; c++)
        kos__link_chan(l, c)->credit = h->window;
    l->state = KOS__LINK_UP;
    if (l->cbs->up)
        l->cbs->up(l->arg, l);
    for (uint32_t c = 1; c < KOS__LINK_CHANNELS && l->state == KOS__LINK_UP; c++)
        kos__link_pump(l, c);
}

static const char *body_name(Kos__Link__Envelope__BodyCase b)
{
    switch (b) {
    case KOS__LINK__ENVELOPE__BODY_HELLO:
        return "Hello";
    case KOS__LINK__ENVELOPE__BODY_CREDIT:
        return "Credit";
    case KOS__LINK__ENVELOPE__BODY_DATA:
        return "data";
    case KOS__LINK__ENVELOPE__BODY_OPEN:
        return "Open";
    case KOS__LINK__ENVELOPE__BODY_CLOSE:
        return "Close";
    default:
        return "an unknown body";
    }
}

/* True if s (NUL-terminated, from a checked protobuf string) is 1..max
 * printable ASCII bytes (0..max when empty_ok). */
bool kos__link_printable_text(const char *s, size_t max, bool empty_ok)
{
    size_t n = s ? strlen(s) : 0;

    if (n > max || (!n && !empty_ok))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

/* A refusal of an Open that gets no slot (too many streams, or no taker):
 * a Close that the opener does not answer. */
static void refuse_unslotted(struct kos__link *l, uint32_t c, uint32_t code, const char *reason)
{
    struct stream tmp = {.id = c, .state = SS_ASKED};

    l->n_streams++; /* stream_send_close frees the slot it thinks it has */
    kos__link_stream_send_close(l, &tmp, code, reason);
    if (tmp.id) /* it failed before it freed (and ended the link) */
        l->n_streams--;
}

/* An Open: the peer asks for a stream, or answers (accepts) this end's. */
static void on_open(struct kos__link *l, const Kos__Link__Envelope *env)
{
    const Kos__Link__Open *o = env->open;
    uint32_t c = env->channel;
    struct stream *st;

    if (c < KOS__LINK_STREAM_FIRST || c > KOS__LINK_STREAM_LAST) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                            "Open on channel %u (streams are channels 16 to 65535)", (unsigned)c);
        return;
    }
    if (o->window < KOS__LINK_WINDOW_MIN || o->window > KOS__LINK_WINDOW_MAX) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                            "Open on channel %u with window %u (4096 to 1048576)", (unsigned)c,
                            (unsigned)o->window);
        return;
    }
    st = kos__link_stream_find(l, c);
    if (st) {
        if (st->state != SS_OPENING) {
            kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                                "Open on channel %u, which is in use", (unsigned)c);
            return;
        }
        /* The answer to this end's Open: accepted. */
        st->state = SS_OPEN;
        st->window = o->window;
        st->ch.credit = o->window;
        if (st->close_pending && !st->ch.head) {
            kos__link_stream_send_close(l, st, st->close_code, st->close_reason);
            return;
        }
        if (l->cbs->stream_opened)
            l->cbs->stream_opened(l->arg, l, c);
        kos__link_pump(l, c);
        return;
    }
    if (!kos__link_printable_text(o->destination, KOS__LINK_DEST_MAX, false) ||
        !kos__link_printable_text(o->app, KOS__LINK_APP_MAX, true)) {
        kos__link_terminate(
            l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
            "Open on channel %u with a bad destination or app (printable, at most %u and "
            "%u bytes)",
            (unsigned)c, KOS__LINK_DEST_MAX, KOS__LINK_APP_MAX);
        return;
    }
    if (!l->cbs->stream_open) {
        refuse_unslotted(l, c, KOS_STATUS_UNSUPPORTED, "this end opens no streams");
        return;
    }
    if (l->n_streams >= KOS__LINK_STREAMS_MAX || !(st = kos__link_stream_new(l, c, SS_ASKED))) {
        char why[64];
        snprintf(why, sizeof(why), "too many streams (at most %u at once)", KOS__LINK_STREAMS_MAX);
        refuse_unslotted(l, c, KOS_STATUS_BUSY, why);
        return;
    }
    st->window = o->window;
    l->cbs->stream_open(l->arg, l, c, o->destination, o->app ? o->app : "");
}

/* A Close on a stream: the peer ends it, refuses it, or answers this end's
 * Close. Each end answers a Close it did not ask for, except a refusal. */
static void on_stream_close(struct kos__link *l, const Kos__Link__Envelope *env)
{
    uint32_t c = env->channel;
    struct stream *st = kos__link_stream_find(l, c);
    char reason[REASON_MAX + 1] = "";
    bool refused, told;

    if (!st) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_DATA,
                            "Close on channel %u, which is not open", (unsigned)c);
        return;
    }
    if (st->close_got) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                            "a second Close on channel %u", (unsigned)c);
        return;
    }
    st->close_got = true;
    if (st->close_sent) {
        kos__link_stream_free(l, st);
        return;
    }
    if (env->close->reason)
        kos__link_printable(reason, sizeof(reason), env->close->reason, strlen(env->close->reason));
    refused = st->state == SS_OPENING;
    told = !st->close_pending; /* a stream this end closed hears no more of it */
    if (refused) {
        kos__link_stream_free(l, st); /* a refusal is not answered */
    } else {
        kos__link_stream_send_close(l, st, 0, "");
        if (l->state >= KOS__LINK_CLOSING)
            return;
    }
    if (told && l->cbs->stream_closed)
        l->cbs->stream_closed(l->arg, l, c, env->close->code, reason);
}

/* A data envelope's bytes on channel c: held to the channel's state and
 * credit, then handed to the user. */
static void on_data(struct kos__link *l, uint32_t c, const uint8_t *data, size_t len)
{
    struct stream *sm = kos__link_stream_find(l, c);
    struct chan *ch = kos__link_chan(l, c);
    kos_status_t st;

    if (!ch || (sm && sm->state != SS_OPEN)) {
        kos__link_terminate(
            l, KOS__LINK_END_VIOLATION, c == 0 ? KOS__LINK_CLOSE_PROTOCOL : KOS__LINK_CLOSE_DATA,
            c == 0 ? "data on channel 0" : "data on channel %u, which is not open", (unsigned)c);
        return;
    }
    if (sm && (sm->close_sent || sm->close_pending))
        return; /* this end closed it: what crossed its Close is dropped */
    uint32_t win = sm ? l->stream_window : l->window;
    if (len > win - ch->unacked) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_POLICY,
                            "%zu bytes of data on channel %u beyond the credit given (%llu left)",
                            len, (unsigned)c, (unsigned long long)(win - ch->unacked));
        return;
    }
    ch->unacked += (uint32_t)len;
    st = l->cbs->data ? l->cbs->data(l->arg, l, c, data, len) : KOS_STATUS_UNSUPPORTED;
    if (st && l->state < KOS__LINK_CLOSING)
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_DATA,
                            "data on channel %u, which this end does not take", (unsigned)c);
}

/* Reads a varint of at most max bytes at p (n bytes there) into *v;
 * returns its length, 0 if it is longer, cut short or not below limit. */
static size_t varint(const uint8_t *p, size_t n, size_t max, uint64_t limit, uint64_t *v)
{
    uint64_t x = 0;

    for (size_t i = 0; i < n && i < max; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (x >= limit)
                return 0;
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* Finds the data of an envelope that is exactly `channel` (field 1, a
 * varint of at most 5 bytes, below 2^32 and not 0, which is left out)
 * then `data` (field 4, its length a varint of at most 3 bytes, the rest
 * of the envelope): the form every sender packs a data envelope in.
 * Anything else, valid or not, is not matched and goes through protobuf-c
 * as before. protobuf-c copies a `data` out of the envelope into memory
 * of its own (a malloc and a copy of up to 64 KiB per message); this
 * reads it where it is. */
static bool data_in_place(const uint8_t *p, size_t n, uint32_t *c, const uint8_t **data,
                          size_t *len)
{
    uint64_t ch, dl;
    size_t i = 0, k;

    if (n < 2 || p[i++] != 0x08) /* field 1, varint */
        return false;
    k = varint(p + i, n - i, 5, (uint64_t)UINT32_MAX + 1, &ch);
    if (!k || ch == 0)
        return false;
    i += k;
    if (i >= n || p[i++] != 0x22) /* field 4, length-delimited */
        return false;
    k = varint(p + i, n - i, 3, (uint64_t)1 << 21, &dl);
    if (!k)
        return false;
    i += k;
    if (dl != n - i)
        return false;
    *c = (uint32_t)ch;
    *data = p + i;
    *len = (size_t)dl;
    return true;
}

void kos__link_on_envelope(struct kos__link *l, const uint8_t *p, size_t n)
{
    Kos__Link__Envelope *env;
    const uint8_t *data;
    size_t len;
    uint32_t c;

    if (l->hello_got && data_in_place(p, n, &c, &data, &len)) {
        on_data(l, c, data, len);
        return;
    }
    env = kos__link__envelope__unpack(NULL, n, p);

    if (!env) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL,
                            "a malformed envelope");
        return;
    }
    c = env->channel;
    if (env->body_case == KOS__LINK__ENVELOPE__BODY_HELLO) {
        on_hello(l, env);
        goto out;
    }
    if (!l->hello_got) {
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_PROTOCOL, "%s before Hello",
                            body_name(env->body_case));
        goto out;
    }
    switch (env->body_case) {
    case KOS__LINK__ENVELOPE__BODY_CREDIT: {
        struct stream *sm = kos__link_stream_find(l, c);
        struct chan *ch = kos__link_chan(l, c);

        if (!ch || (sm && sm->state != SS_OPEN)) {
            kos__link_terminate(l, KOS__LINK_END_VIOLATION,
                                c == 0 ? KOS__LINK_CLOSE_PROTOCOL : KOS__LINK_CLOSE_DATA,
                                "Credit on channel %u, which is not open", (unsigned)c);
            break;
        }
        ch->credit = env->credit->bytes > UINT64_MAX - ch->credit ? UINT64_MAX
                                                                  : ch->credit + env->credit->bytes;
        kos__link_pump(l, c);
        break;
    }
    case KOS__LINK__ENVELOPE__BODY_DATA:
        on_data(l, c, env->data.data, env->data.len);
        break;
    case KOS__LINK__ENVELOPE__BODY_CLOSE:
        if (c != 0) {
            on_stream_close(l, env);
            break;
        }
        {
            char reason[REASON_MAX + 1] = "";
            if (env->close->reason)
                kos__link_printable(reason, sizeof(reason), env->close->reason,
                                    strlen(env->close->reason));
            kos__link_terminate(l, KOS__LINK_END_PEER, KOS__LINK_CLOSE_NORMAL,
                                "the peer closed the link (code %u%s%s)",
                                (unsigned)env->close->code, reason[0] ? ": " : "", reason);
        }
        break;
    case KOS__LINK__ENVELOPE__BODY_OPEN:
        on_open(l, env);
        break;
    default:
        kos__link_terminate(l, KOS__LINK_END_VIOLATION, KOS__LINK_CLOSE_DATA,
                            "an envelope with no known body");
        break;
    }
out:
    kos__link__envelope__free_unpacked(env, NULL);
}

/* ---- wslay's callbacks ---- */
