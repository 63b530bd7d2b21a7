/*
 * sensor.c - sends --count weather Readings to the collector over
 * weather_protocol, each a protobuf message, and logs the Ack it gets back.
 */
#include <stdlib.h>
#include <string.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "weather.h"
#include "weather.pb-c.h"

int main(int argc, char **argv)
{
    unsigned count = 3;
    kos_app_t *app;
    kos_dir_t *dir;
    kos_token_t *collector;
    uint8_t buf[KOS_MSG_MAX_PAYLOAD];
    kos_status_t st;

    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--count"))
            count = (unsigned)strtoul(argv[i + 1], NULL, 10);
    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 1;
    st = kos_dir_request(dir, "weather_protocol", 5000, &collector);
    if (st) {
        kos_log_error("cannot reach the collector: %s", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        return 1;

    for (unsigned n = 1; n <= count; n++) {
        KosExample__Reading r = KOS_EXAMPLE__READING__INIT;
        struct kos_msg req = {.label = WEATHER_REPORT, .payload = buf}, reply = {0};
        KosExample__Ack *ack;

        r.seq = n;
        r.station = "rooftop";
        r.centi_celsius = 1850 + 25 * (int32_t)n; /* 18.75, 19.00, ... */
        r.humidity_pct = 40 + n;
        if (kos_example__reading__get_packed_size(&r) > sizeof(buf))
            return 1;
        req.len = (uint32_t)kos_example__reading__pack(&r, buf);
        kos_log_info("sending reading %u: " CENTI_FMT " C, %u%% (%u bytes)", n,
                     CENTI_ARGS(r.centi_celsius), r.humidity_pct, req.len);
        st = kos_msg_call(collector, &req, &reply, 5000);
        if (st) {
            kos_log_error("reading %u: collector said %s", n, kos_status_str(st));
            return 1;
        }
        ack = kos_example__ack__unpack(NULL, reply.len, reply.payload);
        if (!ack) {
            kos_log_error("reading %u: the collector's answer is not an Ack", n);
            return 1;
        }
        kos_log_info("ack %u: %u readings, mean " CENTI_FMT " C", ack->seq, ack->count,
                     CENTI_ARGS(ack->mean_centi_celsius));
        kos_example__ack__free_unpacked(ack, NULL);
    }
    kos_log_info("done: %u readings acknowledged", count);
    kos_token_close(collector);
    kos_app_close(app);
    return 0;
}
