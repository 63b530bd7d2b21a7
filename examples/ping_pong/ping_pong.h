/*
 * ping_pong.h - the labels of the example's two protocols.
 */
#ifndef PING_PONG_H
#define PING_PONG_H

/* ping_protocol, served by pong */
enum {
    PING_REPORT_TO = 1, /* token: a scoreboard token pong should report to */
    PING_PING = 2,      /* param: round number; reply payload: "pong <n>" */
};

/* scoreboard_protocol, served by scoreboard */
enum {
    SCORE_ADD = 1,   /* param: points; reply param: new total */
    SCORE_TOTAL = 2, /* reply param: total */
};

#endif
