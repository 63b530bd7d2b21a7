/*
 * msg_wire.c - encoding and decoding of directory messages (msg_wire_int.h).
 *
 * Each type has one fixed body layout, written and read by the same table of
 * fields below, so the encoder and the decoder cannot drift apart. The decoder
 * reads through a cursor that refuses to step past the end of the datagram,
 * and a message is accepted only if its body is consumed exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "msg_wire_int.h"

/* Body fields, in wire order, for each type. */
enum field {
    F_END = 0,
    F_ENDPOINT,
    F_CHANNEL,
    F_APP_ID,
    F_TIMEOUT,
    F_COOKIE,
    F_NAME,     /* a valid name, 1..63 bytes */
    F_NAME_OPT, /* a valid name when status is OK, else empty */
};

struct layout {
    uint32_t type;
    const char *name;
    bool reply;  /* has an id and a status */
    bool has_id; /* carries a request id */
    uint8_t fields[5];
};

static const struct layout layouts[] = {
    {KOS__MW_PUBLISH, "PUBLISH", false, true, {F_NAME}},
    {KOS__MW_REQUEST, "REQUEST", false, true, {F_TIMEOUT, F_NAME}},
    {KOS__MW_PING, "PING", false, true, {F_END}},
    {KOS__MW_UNPUBLISH, "UNPUBLISH", false, false, {F_ENDPOINT}},
    {KOS__MW_TOKEN_CLOSE, "TOKEN_CLOSE", false, false, {F_CHANNEL}},
    {KOS__MW_REVOKE, "REVOKE", false, false, {F_ENDPOINT, F_CHANNEL}},
    {KOS__MW_PREPARE, "PREPARE", false, false, {F_CHANNEL, F_COOKIE}},
    {KOS__MW_REDEEM, "REDEEM", false, true, {F_COOKIE}},
    {KOS__MW_FD_PASS, "FD_PASS", false, false, {F_CHANNEL, F_COOKIE}},
    {KOS__MW_FD_REDEEM, "FD_REDEEM", false, true, {F_COOKIE}},
    {KOS__MW_FD_DROP, "FD_DROP", false, false, {F_COOKIE}},
    {KOS__MW_PUBLISH_REPLY, "PUBLISH_REPLY", true, true, {F_ENDPOINT}},
    {KOS__MW_REQUEST_REPLY, "REQUEST_REPLY", true, true, {F_CHANNEL}},
    {KOS__MW_PING_REPLY, "PING_REPLY", true, true, {F_END}},
    {KOS__MW_REDEEM_REPLY, "REDEEM_REPLY", true, true, {F_CHANNEL, F_NAME_OPT}},
    {KOS__MW_NEW_CLIENT, "NEW_CLIENT", false, false, {F_ENDPOINT, F_CHANNEL, F_APP_ID, F_NAME}},
    {KOS__MW_CLIENT_GONE, "CLIENT_GONE", false, false, {F_ENDPOINT, F_CHANNEL}},
    {KOS__MW_TOKEN_DOWN, "TOKEN_DOWN", true, false, {F_CHANNEL}},
    {KOS__MW_FD_REDEEM_REPLY, "FD_REDEEM_REPLY", true, true, {F_END}},
};

static const struct layout *layout_of(uint32_t type)
{
    for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
        if (layouts[i].type == type)
            return &layouts[i];
    return NULL;
}

const char *kos__mw_type_name(uint32_t type)
{
    const struct layout *l = layout_of(type);
    return l ? l->name : "unknown";
}

size_t kos__mw_nfds(uint32_t type, uint32_t status)
{
    switch (type) {
    case KOS__MW_REQUEST_REPLY:
    case KOS__MW_REDEEM_REPLY:
        return status == KOS_STATUS_OK ? KOS__MW_CLIENT_FDS : 0;
    case KOS__MW_NEW_CLIENT:
        return KOS__MW_MAX_FDS;
    case KOS__MW_FD_PASS:
        return 1;
    case KOS__MW_FD_REDEEM_REPLY:
        return status == KOS_STATUS_OK ? 1 : 0;
    default:
        return 0;
    }
}

/* ---- cursor ---- */

struct cursor {
    uint8_t *w;       /* encoder: destination */
    const uint8_t *r; /* decoder: source */
    size_t pos, cap;
    bool bad;
};

static bool room(struct cursor *c, size_t n)
{
    if (c->bad || c->cap - c->pos < n)
        c->bad = true;
    return !c->bad;
}

static void put_u32(struct cursor *c, uint32_t v)
{
    if (!room(c, 4))
        return;
    for (int i = 0; i < 4; i++)
        c->w[c->pos++] = (uint8_t)(v >> (8 * i));
}

static void put_u64(struct cursor *c, uint64_t v)
{
    put_u32(c, (uint32_t)v);
    put_u32(c, (uint32_t)(v >> 32));
}

static void put_bytes(struct cursor *c, const char *s, size_t n)
{
    put_u32(c, (uint32_t)n);
    if (!room(c, n))
        return;
    memcpy(c->w + c->pos, s, n);
    c->pos += n;
}

static uint32_t get_u32(struct cursor *c)
{
    uint32_t v = 0;
    if (!room(c, 4))
        return 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)c->r[c->pos++] << (8 * i);
    return v;
}

static uint64_t get_u64(struct cursor *c)
{
    uint64_t lo = get_u32(c);
    return lo | (uint64_t)get_u32(c) << 32;
}

/* Reads a length-prefixed valid name into dst (KOS__NAME_MAX bytes, NUL
 * added). */
static void get_name(struct cursor *c, char *dst, bool may_be_empty)
{
    uint32_t n = get_u32(c);
    if (c->bad)
        return;
    if (n == 0 && may_be_empty) {
        dst[0] = '\0';
        return;
    }
    if (n >= KOS__NAME_MAX || !room(c, n) || !kos__name_valid((const char *)c->r + c->pos, n)) {
        c->bad = true;
        return;
    }
    memcpy(dst, c->r + c->pos, n);
    dst[n] = '\0';
    c->pos += n;
}

/* ---- encode / decode ---- */

kos_status_t kos__mw_encode(const struct kos__mw *m, void *buf, size_t cap, size_t *len)
{
    const struct layout *l = layout_of(m->type);
    struct cursor c = {.w = buf, .cap = cap};

    if (!l || m->status >= KOS_STATUS__COUNT || (!l->reply && m->status != 0))
        return KOS_STATUS_INVALID_ARGUMENT;
    /* As the decoder insists: a token goes down revoked or unavailable. */
    if (m->type == KOS__MW_TOKEN_DOWN && m->status != KOS_STATUS_INVALID_TOKEN &&
        m->status != KOS_STATUS_UNAVAILABLE)
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, m->type);
    put_u32(&c, 0); /* body length, patched below */
    put_u32(&c, l->has_id ? m->id : 0);
    put_u32(&c, m->status);
    for (size_t i = 0; i < sizeof(l->fields) && l->fields[i] != F_END; i++) {
        size_t n;
        switch (l->fields[i]) {
        case F_ENDPOINT:
            put_u32(&c, m->endpoint);
            break;
        case F_CHANNEL:
            put_u32(&c, m->channel);
            break;
        case F_APP_ID:
            put_u32(&c, m->app_id);
            break;
        case F_TIMEOUT:
            if (m->timeout_ms < -1)
                return KOS_STATUS_INVALID_ARGUMENT;
            put_u32(&c, (uint32_t)m->timeout_ms);
            break;
        case F_COOKIE:
            if (m->cookie == 0)
                return KOS_STATUS_INVALID_ARGUMENT;
            put_u64(&c, m->cookie);
            break;
        case F_NAME_OPT:
            if (m->status != KOS_STATUS_OK) {
                put_bytes(&c, "", 0);
                break;
            }
            /* fall through */
        case F_NAME:
            n = strnlen(m->name, KOS__NAME_MAX);
            if (!kos__name_valid(m->name, n))
                return KOS_STATUS_INVALID_ARGUMENT;
            put_bytes(&c, m->name, n);
            break;
        }
    }
    if (c.bad || c.pos > KOS__MW_MAX)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    c.pos = 4;
    put_u32(&c, (uint32_t)(*len - KOS__MW_HDR_LEN));
    return KOS_STATUS_OK;
}

kos_status_t kos__mw_decode(const void *buf, size_t len, size_t nfds, struct kos__mw *out)
{
    struct cursor c = {.r = buf, .cap = len};
    const struct layout *l;
    uint32_t body_len;

    memset(out, 0, sizeof(*out));
    if (len > KOS__MW_MAX)
        return KOS_STATUS_PROTOCOL;
    out->type = get_u32(&c);
    body_len = get_u32(&c);
    out->id = get_u32(&c);
    out->status = get_u32(&c);
    if (c.bad || body_len != len - KOS__MW_HDR_LEN)
        return KOS_STATUS_PROTOCOL;
    l = layout_of(out->type);
    if (!l || out->status >= KOS_STATUS__COUNT || (!l->reply && out->status != 0) ||
        (!l->has_id && out->id != 0))
        return KOS_STATUS_PROTOCOL;
    if (out->type == KOS__MW_TOKEN_DOWN && out->status != KOS_STATUS_INVALID_TOKEN &&
        out->status != KOS_STATUS_UNAVAILABLE)
        return KOS_STATUS_PROTOCOL;
    for (size_t i = 0; i < sizeof(l->fields) && l->fields[i] != F_END; i++) {
        switch (l->fields[i]) {
        case F_ENDPOINT:
            out->endpoint = get_u32(&c);
            break;
        case F_CHANNEL:
            out->channel = get_u32(&c);
            break;
        case F_APP_ID:
            out->app_id = get_u32(&c);
            break;
        case F_TIMEOUT:
            out->timeout_ms = (int32_t)get_u32(&c);
            if (out->timeout_ms < -1)
                c.bad = true;
            break;
        case F_COOKIE:
            out->cookie = get_u64(&c);
            if (out->cookie == 0)
                c.bad = true;
            break;
        case F_NAME:
            get_name(&c, out->name, false);
            break;
        case F_NAME_OPT:
            if (out->status == KOS_STATUS_OK)
                get_name(&c, out->name, false);
            else if (get_u32(&c) != 0)
                c.bad = true; /* no name with a failure */
            break;
        }
    }
    if (c.bad || c.pos != len || nfds != kos__mw_nfds(out->type, out->status))
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* ---- passable descriptors ---- */

bool kos__mw_fd_passable(int fd, const char **why)
{
    const char *dummy;
    struct stat st;
    int domain = 0, type = 0, proto = 0, listening = 0;
    socklen_t len;

    if (!why)
        why = &dummy;
    if (fstat(fd, &st) < 0) {
        *why = "not an open descriptor";
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) {
        *why = "not a socket";
        return false;
    }
    len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
        *why = "a socket of unknown family";
        return false;
    }
    if (domain != AF_INET && domain != AF_INET6) {
        *why = domain == AF_UNIX ? "a Unix socket" : "a socket that is not IPv4 or IPv6";
        return false;
    }
    len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
        *why = "an Internet socket that is not a stream (TCP) socket";
        return false;
    }
    len = sizeof(proto);
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0 || proto != IPPROTO_TCP) {
        *why = "a stream socket that is not TCP";
        return false;
    }
    len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || listening) {
        *why = "a listening TCP socket";
        return false;
    }
    /* Only a connected socket: an unconnected one could still be connected
     * anywhere (sendto with MSG_FASTOPEN). */
    struct sockaddr_storage peer;
    len = sizeof(peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0) {
        *why = "a TCP socket that is not connected";
        return false;
    }
    return true;
}

bool kos__mw_fd_pipe_write_end(int fd, const char **why)
{
    const char *dummy;
    struct stat st;
    int fl;

    if (!why)
        why = &dummy;
    if (fstat(fd, &st) < 0) {
        *why = "not an open descriptor";
        return false;
    }
    if (!S_ISFIFO(st.st_mode)) {
        *why = S_ISSOCK(st.st_mode) ? "a socket, not a pipe" : "not a pipe";
        return false;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != O_WRONLY) {
        *why = "a pipe's read end";
        return false;
    }
    return true;
}

/* ---- socket I/O ---- */

kos_status_t kos__mw_send(int sock, const struct kos__mw *m, const int *fds, int flags)
{
    uint8_t buf[KOS__MW_MAX];
    size_t len, nfds = kos__mw_nfds(m->type, m->status);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(KOS__MW_MAX_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    kos_status_t st;

    st = kos__mw_encode(m, buf, sizeof(buf), &len);
    if (st)
        return st;
    iov.iov_len = len;
    if (nfds) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
        if (n >= 0)
            return (size_t)n == len ? KOS_STATUS_OK : KOS_STATUS_IO;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return KOS_STATUS_BUSY;
        if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
            return KOS_STATUS_CLOSED;
        if (errno == ENOMEM || errno == ENOBUFS || errno == ETOOMANYREFS)
            return KOS_STATUS_NO_MEMORY;
        return KOS_STATUS_IO;
    }
}

kos_status_t kos__mw_recv(int sock, struct kos__mw *out, int fds[KOS__MW_MAX_FDS], int flags)
{
    /* One byte more than the largest message, so an oversized one shows as
     * truncated instead of passing as a short one. */
    uint8_t buf[KOS__MW_MAX + 1];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(8 * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    int got[8];
    size_t nfds = 0;
    bool bad = false;
    ssize_t n;
    kos_status_t st;

    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? KOS_STATUS_WOULD_BLOCK
               : errno == ECONNRESET                     ? KOS_STATUS_CLOSED
                                                         : KOS_STATUS_IO;
    /* Collect every descriptor first, so each path below can close them. */
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            bad = true;
            continue;
        }
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (nfds < sizeof(got) / sizeof(got[0]))
                got[nfds++] = fd;
            else
                close(fd);
        }
    }
    if (n == 0 && nfds == 0)
        return KOS_STATUS_CLOSED;
    st = KOS_STATUS_PROTOCOL;
    if (!bad && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && nfds <= KOS__MW_MAX_FDS)
        st = kos__mw_decode(buf, (size_t)n, nfds, out);
    if (st) {
        for (size_t i = 0; i < nfds; i++)
            close(got[i]);
        return st;
    }
    memcpy(fds, got, nfds * sizeof(int));
    return KOS_STATUS_OK;
}
