/*
 * tunnel_app.c - the test app of the tunnel's system tests (t_tunnel): it
 * uses kos_tunnel_* as admin would, reporting on its console.
 *
 *   pinger N     claims the admin channel; each time the link comes up,
 *                sends N messages "ping K.I" and prints each answer
 *                ("pinger: info: got: echo: ping K.I"); runs until stopped
 *   outsider     tries channels the allow setting does not give it
 *                ("open admin: unauthorized", ...), then ends
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kos/log.h>
#include <kos/msg.h>
#include <kos/tunnel.h>

static const char *state_name(enum kos_tunnel_state s)
{
    switch (s) {
    case KOS_TUNNEL_UP:
        return "up";
    case KOS_TUNNEL_CONNECTING:
        return "connecting";
    case KOS_TUNNEL_REFUSED:
        return "refused";
    default:
        return "down";
    }
}

static int pinger(kos_app_t *app, kos_dir_t *dir, int n)
{
    kos_tunnel_t *t;
    struct kos_tunnel_status st;
    kos_status_t s = kos_tunnel_open(dir, 1u << KOS_TUNNEL_ADMIN, 15000, &t);
    bool was_up = false;
    unsigned ups = 0;
    static char buf[KOS_TUNNEL_DATA_MAX];

    kos_log_info("open admin: %s", kos_status_str(s));
    if (s)
        return 1;
    if (kos_tunnel_send(t, KOS_TUNNEL_LOGS, "x", 1) == KOS_STATUS_UNAUTHORIZED)
        kos_log_info("send on logs: unauthorized");
    for (;;) {
        struct pollfd p[2] = {{.fd = kos_tunnel_fd(t), .events = POLLIN},
                              {.fd = kos_app_fd(app), .events = POLLIN}};
        int changed = 0;
        uint32_t news;

        if (kos_tunnel_status(t, &st) == KOS_STATUS_OK && (st.state == KOS_TUNNEL_UP) != was_up) {
            was_up = st.state == KOS_TUNNEL_UP;
            kos_log_info("link %s (server %s, device %s, %u reconnects)", state_name(st.state),
                         st.server, st.device_id[0] ? st.device_id : "-", st.reconnects);
            if (was_up) {
                ups++;
                for (int i = 0; i < n; i++) {
                    char msg[64];
                    snprintf(msg, sizeof(msg), "ping %u.%d", ups, i);
                    s = kos_tunnel_send(t, KOS_TUNNEL_ADMIN, msg, strlen(msg));
                    if (s)
                        kos_log_info("send: %s", kos_status_str(s));
                }
            }
        }
        for (;;) {
            size_t len;
            s = kos_tunnel_receive(t, KOS_TUNNEL_ADMIN, buf, sizeof(buf), &len);
            if (s)
                break;
            kos_log_info("got: %.*s", (int)(len > 80 ? 80 : len), buf);
        }
        if (poll(p, 2, 1000) > 0 && p[1].revents && kos_app_stopping(app))
            break;
        news = kos_tunnel_news(t, &changed);
        (void)news;
    }
    kos_tunnel_close(t);
    return 0;
}

static int outsider(kos_dir_t *dir)
{
    kos_tunnel_t *t;
    kos_status_t s = kos_tunnel_open(dir, 1u << KOS_TUNNEL_ADMIN, 15000, &t);

    kos_log_info("open admin: %s", kos_status_str(s));
    if (!s)
        kos_tunnel_close(t);
    s = kos_tunnel_open(dir, 1u << KOS_TUNNEL_SHELL, 15000, &t);
    kos_log_info("open shell: %s", kos_status_str(s));
    if (!s)
        kos_tunnel_close(t);
    kos_log_info("outsider: done");
    return 0;
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    kos_dir_t *dir;
    int rc = 1;

    if (kos_app_open(&app))
        return 1;
    if (kos_app_dir(app, "msg0", &dir) || kos_app_ready(app))
        goto out;
    if (argc >= 3 && !strcmp(argv[1], "pinger"))
        rc = pinger(app, dir, atoi(argv[2]));
    else if (argc >= 2 && !strcmp(argv[1], "outsider"))
        rc = outsider(dir);
    else
        kos_log_error("usage: t_tunnel pinger N | outsider");
out:
    kos_app_close(app);
    return rc;
}
