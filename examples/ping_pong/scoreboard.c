/*
 * scoreboard.c - keeps a total that clients add to.
 */
#include <kos/log.h>
#include <kos/msg.h>

#include "ping_pong.h"
#include "serve.h"

int main(void)
{
    kos_app_t *app;
    kos_dir_t *dir;
    kos_endpoint_t *ep;
    uint64_t total = 0;
    kos_status_t st;

    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 1;
    st = kos_dir_publish(dir, "scoreboard_protocol", &ep);
    if (st) {
        kos_log_error("cannot publish scoreboard_protocol: %s", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        return 1;

    for (;;) {
        struct kos_msg m, reply = {0};
        struct kos_caller from;

        st = serve_next(app, ep, &m, &from);
        if (st == KOS_STATUS_CLOSED)
            break;
        if (st) {
            kos_log_error("receive failed: %s", kos_status_str(st));
            break;
        }
        if (m.token)
            kos_token_close(m.token);
        if (m.label == SCORE_ADD) {
            total += m.param;
            kos_log_info("'%s' scored %llu; total %llu", from.app, (unsigned long long)m.param,
                         (unsigned long long)total);
        }
        reply.param = total;
        st = kos_endpoint_reply(
            ep, &from,
            m.label == SCORE_ADD || m.label == SCORE_TOTAL ? KOS_STATUS_OK : KOS_STATUS_UNSUPPORTED,
            &reply);
        if (st)
            kos_log_warn("reply to '%s' failed: %s", from.app, kos_status_str(st));
    }
    kos_endpoint_close(ep);
    kos_app_close(app);
    return 0;
}
