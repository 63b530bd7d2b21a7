/*
 * tunnel.c - the client side of kos_tunnel_protocol (include/kos/tunnel.h):
 * a token for the tunnel's protocol, the channels this app claimed, and the
 * news the tunnel sent that the app has not taken yet.
 *
 * Every call is one round trip; news arrives as notifications on the token
 * (its descriptor is kos_tunnel_fd()), which kos_tunnel_news() drains and
 * merges. The status reply, and a fetch's result, are decoded with every
 * length checked; a fetch's request carries the descriptor the blob goes
 * to (kos_msg_call_give_fd).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kos/tunnel.h>

#include "tunnel_int.h"

#define CALL_TIMEOUT_MS 2000

struct kos_tunnel {
    kos_token_t *token;
    uint32_t channels;
};

/* One round trip on the tunnel's token; a reply carrying a token (this
 * protocol passes none) is a protocol error. */
static kos_status_t call(kos_token_t *token, const struct kos_msg *req, struct kos_msg *reply)
{
    kos_status_t st = kos_msg_call(token, req, reply, CALL_TIMEOUT_MS);

    if (st == KOS_STATUS_OK && reply->token) {
        kos_token_close(reply->token);
        reply->token = NULL;
        return KOS_STATUS_PROTOCOL;
    }
    return st;
}

static bool channel_ok(uint32_t ch)
{
    return ch >= 1 && ch <= 5;
}

kos_status_t kos_tunnel_open(kos_dir_t *dir, uint32_t channels, int timeout_ms, kos_tunnel_t **out)
{
    struct kos_msg req = {.label = KOS_TUNNEL_LABEL_OPEN, .param = channels}, reply;
    struct kos_tunnel *t;
    kos_status_t st;

    if (!dir || !out || (channels & ~KOS_TUNNEL_CHANNELS))
        return KOS_STATUS_INVALID_ARGUMENT;
    t = calloc(1, sizeof(*t));
    if (!t)
        return KOS_STATUS_NO_MEMORY;
    st = kos_dir_request(dir, KOS_TUNNEL_PROTOCOL, timeout_ms, &t->token);
    if (st)
        goto out_free;
    st = call(t->token, &req, &reply);
    if (st) {
        kos_token_close(t->token);
        goto out_free;
    }
    t->channels = channels;
    *out = t;
    return KOS_STATUS_OK;
out_free:
    free(t);
    return st;
}

void kos_tunnel_close(kos_tunnel_t *t)
{
    struct kos_msg req = {.label = KOS_TUNNEL_LABEL_CLOSE}, reply;

    if (!t)
        return;
    (void)!call(t->token, &req, &reply); /* best effort: the token goes anyway */
    kos_token_close(t->token);
    free(t);
}

kos_status_t kos_tunnel_stream(kos_tunnel_t *t, const char *destination, int timeout_ms, int *fd,
                               char *why, size_t whylen)
{
    size_t n = destination ? strnlen(destination, KOS_TUNNEL_DEST_MAX + 1) : 0;
    struct kos_msg req = {
        .label = KOS_TUNNEL_LABEL_STREAM, .payload = destination, .len = (uint32_t)n};
    struct kos_msg reply = {0};
    kos_status_t st;
    int got = -1;

    if (fd)
        *fd = -1;
    if (why && whylen)
        why[0] = '\0';
    if (!t || !fd || n == 0 || n > KOS_TUNNEL_DEST_MAX || timeout_ms == 0 || timeout_ms < -1)
        return KOS_STATUS_INVALID_ARGUMENT;
    st = kos_msg_call_fd(t->token, &req, &reply, timeout_ms, &got);
    if (st && why && whylen && reply.len && reply.len <= KOS_TUNNEL_WHY_MAX) {
        size_t k = reply.len < whylen - 1 ? reply.len : whylen - 1;
        for (size_t i = 0; i < k; i++) {
            char c = ((const char *)reply.payload)[i];
            why[i] = c >= 0x20 && c < 0x7f ? c : '?';
        }
        why[k] = '\0';
    }
    if (st == KOS_STATUS_OK && got < 0)
        st = KOS_STATUS_PROTOCOL; /* not what an honest tunnel sends */
    if (st) {
        if (got >= 0)
            close(got);
        return st;
    }
    *fd = got;
    return KOS_STATUS_OK;
}

kos_status_t kos_tunnel_send(kos_tunnel_t *t, uint32_t channel, const void *data, size_t len)
{
    struct kos_msg req = {
        .label = KOS_TUNNEL_LABEL_SEND, .param = channel, .payload = data, .len = (uint32_t)len};
    struct kos_msg reply;

    if (!t || !channel_ok(channel) || (len && !data) || len == 0)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (len > KOS_TUNNEL_DATA_MAX)
        return KOS_STATUS_TOO_LARGE;
    if (!(t->channels & (1u << channel)))
        return KOS_STATUS_UNAUTHORIZED;
    return call(t->token, &req, &reply);
}

kos_status_t kos_tunnel_receive(kos_tunnel_t *t, uint32_t channel, void *buf, size_t cap,
                                size_t *len)
{
    struct kos_msg req = {.label = KOS_TUNNEL_LABEL_RECEIVE, .param = channel}, reply;
    kos_status_t st;

    if (!t || !channel_ok(channel) || !buf || !len || cap < KOS_TUNNEL_DATA_MAX)
        return KOS_STATUS_INVALID_ARGUMENT;
    if (!(t->channels & (1u << channel)))
        return KOS_STATUS_UNAUTHORIZED;
    if ((st = call(t->token, &req, &reply)))
        return st;
    if (reply.len == 0 || reply.len > KOS_TUNNEL_DATA_MAX)
        return KOS_STATUS_PROTOCOL;
    memcpy(buf, reply.payload, reply.len);
    *len = reply.len;
    return KOS_STATUS_OK;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

void kos__tunnel_fetch_encode(const uint8_t sha256[32], uint64_t from, uint64_t to,
                              uint8_t out[KOS__TUNNEL_FETCH_SIZE])
{
    memcpy(out, sha256, 32);
    put64(out + 32, from);
    put64(out + 40, to);
}

kos_status_t kos__tunnel_fetch_decode(const uint8_t *p, size_t n, uint8_t sha256[32],
                                      uint64_t *from, uint64_t *to)
{
    if (n != KOS__TUNNEL_FETCH_SIZE)
        return KOS_STATUS_PROTOCOL;
    *from = get64(p + 32);
    *to = get64(p + 40);
    if (*from >= *to || *to > KOS_TUNNEL_FETCH_MAX)
        return KOS_STATUS_PROTOCOL;
    memcpy(sha256, p, 32);
    return KOS_STATUS_OK;
}

size_t kos__tunnel_result_encode(uint64_t written, const char *why, uint8_t *out)
{
    size_t n = why ? strnlen(why, KOS_TUNNEL_WHY_MAX) : 0;

    put64(out, written);
    if (n)
        memcpy(out + 8, why, n);
    return 8 + n;
}

kos_status_t kos__tunnel_result_decode(const uint8_t *p, size_t n, uint64_t *written, char *why,
                                       size_t whylen)
{
    size_t k;

    *written = 0;
    if (why && whylen)
        why[0] = '\0';
    if (n == 0)
        return KOS_STATUS_OK; /* no fetch to speak of */
    if (n < 8 || n > 8 + KOS_TUNNEL_WHY_MAX)
        return KOS_STATUS_PROTOCOL;
    *written = get64(p);
    if (*written > KOS_TUNNEL_FETCH_MAX)
        return KOS_STATUS_PROTOCOL;
    if (!why || !whylen)
        return KOS_STATUS_OK;
    k = n - 8 < whylen - 1 ? n - 8 : whylen - 1;
    for (size_t i = 0; i < k; i++)
        why[i] = p[8 + i] >= 0x20 && p[8 + i] < 0x7f ? (char)p[8 + i] : '?';
    why[k] = '\0';
    return KOS_STATUS_OK;
}

kos_status_t kos_tunnel_fetch(kos_tunnel_t *t, const uint8_t sha256[32], uint64_t from, uint64_t to,
                              int fd)
{
    uint8_t buf[KOS__TUNNEL_FETCH_SIZE];
    struct kos_msg req = {.label = KOS_TUNNEL_LABEL_FETCH, .payload = buf, .len = sizeof(buf)};
    struct kos_msg reply;
    kos_status_t st;

    if (!t || !sha256 || from >= to || to > KOS_TUNNEL_FETCH_MAX || fd < 0)
        return KOS_STATUS_INVALID_ARGUMENT;
    kos__tunnel_fetch_encode(sha256, from, to, buf);
    st = kos_msg_call_give_fd(t->token, &req, &reply, CALL_TIMEOUT_MS, fd);
    if (st == KOS_STATUS_OK && reply.token) {
        kos_token_close(reply.token);
        return KOS_STATUS_PROTOCOL;
    }
    return st;
}

kos_status_t kos_tunnel_fetch_result(kos_tunnel_t *t, uint64_t *written, char *why, size_t whylen)
{
    struct kos_msg req = {.label = KOS_TUNNEL_LABEL_FETCH_RESULT}, reply = {0};
    uint64_t w = 0;
    kos_status_t st, dst;

    if (why && whylen)
        why[0] = '\0';
    if (written)
        *written = 0;
    if (!t)
        return KOS_STATUS_INVALID_ARGUMENT;
    st = call(t->token, &req, &reply);
    if (st == KOS_STATUS_UNAVAILABLE || st == KOS_STATUS_INVALID_TOKEN ||
        st == KOS_STATUS_TIMEOUT || st == KOS_STATUS_PROTOCOL)
        if (reply.len == 0)
            return st; /* the call itself failed */
    dst = kos__tunnel_result_decode(reply.payload, reply.len, &w, why, whylen);
    if (dst)
        return dst;
    if (written)
        *written = w;
    return st;
}

size_t kos__tunnel_status_encode(const struct kos_tunnel_status *st, uint8_t *out)
{
    size_t idl = strnlen(st->device_id, 64), svl = strnlen(st->server, 255), n = 17;

    put32(out, (uint32_t)st->state);
    put32(out + 4, st->reconnects);
    put32(out + 8, (uint32_t)st->retry_in_ms);
    put32(out + 12, (uint32_t)(st->retry_in_ms >> 32));
    out[16] = (uint8_t)idl;
    memcpy(out + n, st->device_id, idl);
    n += idl;
    out[n++] = (uint8_t)svl;
    memcpy(out + n, st->server, svl);
    return n + svl;
}

kos_status_t kos__tunnel_status_decode(const uint8_t *p, size_t n, struct kos_tunnel_status *st)
{
    size_t at = 17, idl, svl;

    if (n < 18 || n > KOS_TUNNEL_STATUS_SIZE)
        return KOS_STATUS_PROTOCOL;
    memset(st, 0, sizeof(*st));
    st->state = (enum kos_tunnel_state)get32(p);
    st->reconnects = get32(p + 4);
    st->retry_in_ms = (uint64_t)get32(p + 8) | (uint64_t)get32(p + 12) << 32;
    idl = p[16];
    if (st->state > KOS_TUNNEL_REFUSED || idl > 64 || at + idl + 1 > n)
        return KOS_STATUS_PROTOCOL;
    memcpy(st->device_id, p + at, idl);
    at += idl;
    svl = p[at++];
    if (at + svl != n)
        return KOS_STATUS_PROTOCOL;
    memcpy(st->server, p + at, svl);
    return KOS_STATUS_OK;
}

kos_status_t kos_tunnel_status(kos_tunnel_t *t, struct kos_tunnel_status *out)
{
    struct kos_msg req = {.label = KOS_TUNNEL_LABEL_STATUS}, reply;
    kos_status_t st;

    if (!t || !out)
        return KOS_STATUS_INVALID_ARGUMENT;
    if ((st = call(t->token, &req, &reply)))
        return st;
    return kos__tunnel_status_decode(reply.payload, reply.len, out);
}

int kos_tunnel_fd(const kos_tunnel_t *t)
{
    return t ? kos_token_fd(t->token) : -1;
}

uint32_t kos_tunnel_news(kos_tunnel_t *t, int *link_changed)
{
    struct kos_msg note;
    uint32_t mask = 0;

    if (link_changed)
        *link_changed = 0;
    if (!t)
        return 0;
    while (kos_token_receive(t->token, &note, 0) == KOS_STATUS_OK) {
        if (note.token)
            kos_token_close(note.token);
        if (note.label != KOS_TUNNEL_NOTE_NEWS)
            continue;
        mask |= (uint32_t)note.param & (t->channels | KOS_TUNNEL_NEWS_FETCH);
        if ((note.param & KOS_TUNNEL_NEWS_LINK) && link_changed)
            *link_changed = 1;
    }
    return mask;
}
