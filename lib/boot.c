/*
 * boot.c - control messages between KOS Core and the processes it starts.
 *
 * Each control message is one SOCK_SEQPACKET datagram: a kos__ctl_hdr and a
 * body of exactly hdr.len bytes, with at most one fd. The encoders produce
 * fixed little-endian layouts; the decoders accept only bodies that match
 * those layouts exactly, with every name NUL-terminated and valid.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "boot_int.h"
#include "cursor_int.h"

bool kos__name_valid(const char *s, size_t len)
{
    if (len == 0 || len >= KOS__NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (i == 0 && !alnum)
            return false;
        if (!alnum && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

/* Sends one control message with flags (MSG_DONTWAIT or 0). */
static kos_status_t ctl_send(int sock, uint32_t type, const void *body, size_t len, int fd,
                             int flags)
{
    struct kos__ctl_hdr hdr = {.type = type, .len = (uint32_t)len};
    struct iovec iov[2] = {
        {.iov_base = &hdr, .iov_len = sizeof(hdr)},
        {.iov_base = (void *)body, .iov_len = len},
    };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};

    if (len > KOS__CTL_MAX - sizeof(hdr))
        return KOS_STATUS_TOO_LARGE;
    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
        if (n >= 0)
            return (size_t)n == sizeof(hdr) + len ? KOS_STATUS_OK : KOS_STATUS_IO;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return KOS_STATUS_WOULD_BLOCK;
        return (errno == EPIPE || errno == ECONNRESET) ? KOS_STATUS_CLOSED : KOS_STATUS_IO;
    }
}

kos_status_t kos__ctl_send(int sock, uint32_t type, const void *body, size_t len, int fd)
{
    return ctl_send(sock, type, body, len, fd, 0);
}

kos_status_t kos__ctl_send_nowait(int sock, uint32_t type, const void *body, size_t len)
{
    return ctl_send(sock, type, body, len, -1, MSG_DONTWAIT);
}

kos_status_t kos__ctl_send_fd_nowait(int sock, uint32_t type, const void *body, size_t len, int fd)
{
    return ctl_send(sock, type, body, len, fd, MSG_DONTWAIT);
}

/* Closes every fd carried by a message we are about to reject. */
static void close_passed_fds(struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            close(fd);
        }
    }
}

kos_status_t kos__ctl_recv(int sock, void *buf, size_t cap, uint32_t *type, size_t *len, int *fd,
                           int flags)
{
    struct kos__ctl_hdr hdr;
    struct iovec iov[2] = {
        {.iov_base = &hdr, .iov_len = sizeof(hdr)},
        {.iov_base = buf, .iov_len = cap},
    };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    struct msghdr mh = {
        .msg_iov = iov, .msg_iovlen = 2, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    ssize_t n;

    *fd = -1;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN       ? KOS_STATUS_WOULD_BLOCK
               : errno == ECONNRESET ? KOS_STATUS_CLOSED
                                     : KOS_STATUS_IO;
    if (n == 0)
        return KOS_STATUS_CLOSED;
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof(hdr) ||
        hdr.len != (size_t)n - sizeof(hdr))
        goto out_reject;

    int nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            goto out_reject;
        nfds += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    }
    if (nfds > 1)
        goto out_reject;
    if (nfds == 1)
        memcpy(fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
    *type = hdr.type;
    *len = hdr.len;
    return KOS_STATUS_OK;

out_reject:
    close_passed_fds(&mh);
    return KOS_STATUS_PROTOCOL;
}

kos_status_t kos__boot_encode(const struct kos__boot *boot, void *buf, size_t cap, size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (boot->n_dirs > KOS__BOOT_MAX_DIRS)
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, boot->app_id);
    put_u32(&c, boot->role);
    put_name(&c, boot->name);
    put_u32(&c, boot->n_dirs);
    for (uint32_t i = 0; i < boot->n_dirs; i++) {
        put_name(&c, boot->dirs[i].name);
        put_u32(&c, (uint32_t)boot->dirs[i].fd);
    }
    if (boot->n_res > KOS__BOOT_MAX_RES)
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, boot->n_res);
    for (uint32_t i = 0; i < boot->n_res; i++) {
        put_name(&c, boot->res[i].name);
        put_u32(&c, boot->res[i].kind);
        put_u32(&c, boot->res[i].access);
        put_u32(&c, (uint32_t)boot->res[i].fd);
        put_u32(&c, (uint32_t)boot->res[i].size);
        put_u32(&c, (uint32_t)(boot->res[i].size >> 32));
    }
    if (boot->n_config > KOS__BOOT_MAX_CONFIG)
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, boot->n_config);
    for (uint32_t i = 0; i < boot->n_config; i++)
        put_string(&c, boot->config[i], KOS__CONFIG_MAX);
    put_u32(&c, boot->trace_fd > 0 ? (uint32_t)boot->trace_fd : 0); /* 0: none */
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

kos_status_t kos__boot_decode(const void *body, size_t len, struct kos__boot *out)
{
    struct cursor c = {.r = body, .cap = len};

    memset(out, 0, sizeof(*out));
    out->app_id = get_u32(&c);
    out->role = get_u32(&c);
    get_name(&c, out->name);
    out->n_dirs = get_u32(&c);
    if (c.bad || out->n_dirs > KOS__BOOT_MAX_DIRS ||
        (out->role != KOS__ROLE_APP && out->role != KOS__ROLE_MSG_SERVER))
        return KOS_STATUS_PROTOCOL;
    for (uint32_t i = 0; i < out->n_dirs; i++) {
        get_name(&c, out->dirs[i].name);
        uint32_t fd = get_u32(&c);
        if (fd <= KOS__CTL_FD || fd > 1024)
            c.bad = true;
        out->dirs[i].fd = (int32_t)fd;
    }
    out->n_res = get_u32(&c);
    if (c.bad || out->n_res > KOS__BOOT_MAX_RES)
        return KOS_STATUS_PROTOCOL;
    for (uint32_t i = 0; i < out->n_res; i++) {
        get_name(&c, out->res[i].name);
        out->res[i].kind = get_u32(&c);
        out->res[i].access = get_u32(&c);
        uint32_t fd = get_u32(&c);
        uint64_t lo = get_u32(&c), hi = get_u32(&c);
        out->res[i].fd = (int32_t)fd;
        out->res[i].size = lo | hi << 32;
        if (fd <= KOS__CTL_FD || fd > 1024 || out->res[i].kind < 1 || out->res[i].kind > 2 ||
            out->res[i].access < 1 || out->res[i].access > 3)
            c.bad = true;
    }
    out->n_config = get_u32(&c);
    if (c.bad || out->n_config > KOS__BOOT_MAX_CONFIG)
        return KOS_STATUS_PROTOCOL;
    for (uint32_t i = 0; i < out->n_config && !c.bad; i++) {
        out->config[i] = get_string(&c, KOS__CONFIG_MAX);
        const char *eq = out->config[i] ? strchr(out->config[i], '=') : NULL;
        if (!eq || !kos__name_valid(out->config[i], (size_t)(eq - out->config[i])))
            c.bad = true;
    }
    uint32_t tfd = get_u32(&c);
    out->trace_fd = tfd ? (int32_t)tfd : -1;
    if (tfd != 0 && (tfd <= KOS__CTL_FD || tfd > 1024))
        c.bad = true;
    if (c.bad || c.pos != len)
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

kos_status_t kos__grants_encode(const struct kos__client_grants *g, void *buf, size_t cap,
                                size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (g->n_publish > KOS__GRANTS_MAX || g->n_request > KOS__GRANTS_MAX)
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, g->app_id);
    put_name(&c, g->app);
    put_u32(&c, g->n_publish);
    put_u32(&c, g->n_request);
    for (uint32_t i = 0; i < g->n_publish; i++)
        put_name(&c, g->publish[i]);
    for (uint32_t i = 0; i < g->n_request; i++)
        put_name(&c, g->request[i]);
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

kos_status_t kos__grants_decode(const void *body, size_t len, struct kos__client_grants *out)
{
    struct cursor c = {.r = body, .cap = len};
    char *names = out->names;

    out->app_id = get_u32(&c);
    get_name(&c, out->app);
    out->n_publish = get_u32(&c);
    out->n_request = get_u32(&c);
    if (c.bad || out->n_publish > KOS__GRANTS_MAX || out->n_request > KOS__GRANTS_MAX)
        return KOS_STATUS_PROTOCOL;
    for (uint32_t i = 0; i < out->n_publish + out->n_request && !c.bad; i++) {
        get_name(&c, names);
        if (i < out->n_publish)
            out->publish[i] = names;
        else
            out->request[i - out->n_publish] = names;
        names += KOS__NAME_MAX;
    }
    if (c.bad || c.pos != len)
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}

/* True if s is a self-test summary: printable, at most max bytes with its
 * NUL. */
static bool summary_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool verdict_ok(const struct kos__self_test *r)
{
    if (r->verdict != KOS__SELF_TEST_PASSED && r->verdict != KOS__SELF_TEST_FAILED)
        return false;
    if (r->failed > r->checks)
        return false;
    return r->verdict == KOS__SELF_TEST_FAILED || r->failed == 0;
}

kos_status_t kos__self_test_encode(const struct kos__self_test *r, void *buf, size_t cap,
                                   size_t *len)
{
    struct cursor c = {.w = buf, .cap = cap};

    if (!verdict_ok(r) || !r->summary || !summary_ok(r->summary, KOS__SELF_TEST_TEXT_MAX))
        return KOS_STATUS_INVALID_ARGUMENT;
    put_u32(&c, r->verdict);
    put_u32(&c, r->checks);
    put_u32(&c, r->failed);
    put_string(&c, r->summary, KOS__SELF_TEST_TEXT_MAX);
    if (c.bad)
        return KOS_STATUS_TOO_LARGE;
    *len = c.pos;
    return KOS_STATUS_OK;
}

kos_status_t kos__self_test_decode(const void *body, size_t len, struct kos__self_test *out)
{
    struct cursor c = {.r = body, .cap = len};

    out->verdict = get_u32(&c);
    out->checks = get_u32(&c);
    out->failed = get_u32(&c);
    out->summary = get_string(&c, KOS__SELF_TEST_TEXT_MAX);
    if (c.bad || c.pos != len || !verdict_ok(out) ||
        !summary_ok(out->summary, KOS__SELF_TEST_TEXT_MAX))
        return KOS_STATUS_PROTOCOL;
    return KOS_STATUS_OK;
}
