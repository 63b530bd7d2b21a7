/*
 * no_tunnel.c - a stand-in for the tunnel's client (include/kos/tunnel.h)
 * in builds whose libkos does not have it yet: the tunnel component and its
 * client are being written on their own branch. Every call says there is
 * no tunnel, so admin idles as it does in a system without a server.
 * components/admin/CMakeLists.txt builds this file only when no source of
 * lib/ defines kos_tunnel_open(); delete it once the client is merged.
 */
#include <kos/tunnel.h>

kos_status_t kos_tunnel_open(kos_dir_t *dir, uint32_t channels, int timeout_ms, kos_tunnel_t **out)
{
    (void)dir;
    (void)channels;
    (void)timeout_ms;
    (void)out;
    return KOS_STATUS_UNSUPPORTED;
}

void kos_tunnel_close(kos_tunnel_t *t)
{
    (void)t;
}

kos_status_t kos_tunnel_send(kos_tunnel_t *t, uint32_t channel, const void *data, size_t len)
{
    (void)t;
    (void)channel;
    (void)data;
    (void)len;
    return KOS_STATUS_UNAVAILABLE;
}

kos_status_t kos_tunnel_receive(kos_tunnel_t *t, uint32_t channel, void *buf, size_t cap,
                                size_t *len)
{
    (void)t;
    (void)channel;
    (void)buf;
    (void)cap;
    (void)len;
    return KOS_STATUS_WOULD_BLOCK;
}

kos_status_t kos_tunnel_status(kos_tunnel_t *t, struct kos_tunnel_status *st)
{
    (void)t;
    (void)st;
    return KOS_STATUS_UNAVAILABLE;
}

int kos_tunnel_fd(const kos_tunnel_t *t)
{
    (void)t;
    return -1;
}

uint32_t kos_tunnel_news(kos_tunnel_t *t, int *link_changed)
{
    (void)t;
    *link_changed = 0;
    return 0;
}
