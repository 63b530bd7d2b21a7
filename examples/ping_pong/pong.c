/*
 * pong.c - answers pings, and reports each one to whatever scoreboard a
 * client hands it a token for.
 */
#include <stdio.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "ping_pong.h"
#include "serve.h"

int main(void)
{
    kos_app_t *app;
    kos_dir_t *dir;
    kos_endpoint_t *ep;
    kos_token_t *scoreboard = NULL;
    kos_status_t st;

    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 1;
    st = kos_dir_publish(dir, "ping_protocol", &ep);
    if (st) {
        kos_log_error("cannot publish ping_protocol: %s", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        return 1;

    for (;;) {
        struct kos_msg m, reply = {0};
        struct kos_caller from;
        char text[32];

        st = serve_next(app, ep, &m, &from);
        if (st == KOS_STATUS_CLOSED)
            break;
        if (st) {
            kos_log_error("receive failed: %s", kos_status_str(st));
            break;
        }
        switch (m.label) {
        case PING_REPORT_TO:
            if (!m.token) {
                st = kos_endpoint_reply(ep, &from, KOS_STATUS_INVALID_ARGUMENT, NULL);
                break;
            }
            kos_token_close(scoreboard);
            scoreboard = m.token;
            kos_log_info("'%s' gave me a token for %s", from.app, kos_token_protocol(scoreboard));
            st = kos_endpoint_reply(ep, &from, KOS_STATUS_OK, NULL);
            break;
        case PING_PING:
            reply.len =
                (uint32_t)snprintf(text, sizeof(text), "pong %llu", (unsigned long long)m.param);
            reply.payload = text;
            kos_log_info("ping %llu from '%s'", (unsigned long long)m.param, from.app);
            if (scoreboard) {
                struct kos_msg add = {.label = SCORE_ADD, .param = 1}, total;
                if (kos_msg_call(scoreboard, &add, &total, 1000) == KOS_STATUS_OK)
                    kos_log_info("scoreboard total is now %llu", (unsigned long long)total.param);
            }
            st = kos_endpoint_reply(ep, &from, KOS_STATUS_OK, &reply);
            break;
        default:
            if (m.token)
                kos_token_close(m.token);
            st = kos_endpoint_reply(ep, &from, KOS_STATUS_UNSUPPORTED, NULL);
        }
        if (st)
            kos_log_warn("reply to '%s' failed: %s", from.app, kos_status_str(st));
    }
    kos_token_close(scoreboard);
    kos_endpoint_close(ep);
    kos_app_close(app);
    return 0;
}
