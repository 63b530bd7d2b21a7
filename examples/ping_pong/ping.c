/*
 * ping.c - calls pong a few times, after handing it a scoreboard token.
 */
#include <stdlib.h>
#include <string.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "ping_pong.h"

int main(int argc, char **argv)
{
    unsigned rounds = 3;
    kos_app_t *app;
    kos_dir_t *dir;
    kos_token_t *pong, *scoreboard;
    struct kos_msg req = {0}, reply;
    kos_status_t st;

    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--rounds"))
            rounds = (unsigned)strtoul(argv[i + 1], NULL, 10);

    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 1;
    if ((st = kos_dir_request(dir, "ping_protocol", 5000, &pong)) ||
        (st = kos_dir_request(dir, "scoreboard_protocol", 5000, &scoreboard))) {
        kos_log_error("cannot get my tokens: %s", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        return 1;

    /* Hand pong a scoreboard token of its own: a capability its manifest
     * entry does not grant. */
    req = (struct kos_msg){.label = PING_REPORT_TO, .token = scoreboard};
    st = kos_msg_call(pong, &req, NULL, 5000);
    if (st) {
        kos_log_error("pong refused the scoreboard token: %s", kos_status_str(st));
        return 1;
    }
    for (unsigned r = 1; r <= rounds; r++) {
        req = (struct kos_msg){.label = PING_PING, .param = r, .payload = "ping", .len = 4};
        st = kos_msg_call(pong, &req, &reply, 5000);
        if (st) {
            kos_log_error("ping %u failed: %s", r, kos_status_str(st));
            return 1;
        }
        kos_log_info("round %u: pong answered '%.*s'", r, (int)reply.len,
                     (const char *)reply.payload);
    }
    req = (struct kos_msg){.label = SCORE_TOTAL};
    st = kos_msg_call(scoreboard, &req, &reply, 5000);
    if (st) {
        kos_log_error("scoreboard total failed: %s", kos_status_str(st));
        return 1;
    }
    kos_log_info("done: %u rounds, scoreboard total %llu", rounds, (unsigned long long)reply.param);
    kos_token_close(pong);
    kos_token_close(scoreboard);
    kos_app_close(app);
    return 0;
}
