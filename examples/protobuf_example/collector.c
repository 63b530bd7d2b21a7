/*
 * collector.c - publishes weather_protocol, unpacks each Reading (an
 * untrusted protobuf payload: a malformed one is refused), keeps a running
 * mean and answers with an Ack.
 */
#include <poll.h>
#include <stdlib.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "weather.h"
#include "weather.pb-c.h"

/* Handles one request; returns the status to reply with. */
static kos_status_t handle(const struct kos_msg *m, const struct kos_caller *from, uint32_t *count,
                           int64_t *sum, uint8_t *out, struct kos_msg *reply)
{
    KosExample__Reading *r;
    KosExample__Ack ack = KOS_EXAMPLE__ACK__INIT;

    if (m->label != WEATHER_REPORT)
        return KOS_STATUS_UNSUPPORTED;
    r = kos_example__reading__unpack(NULL, m->len, m->payload);
    if (!r) {
        kos_log_warn("'%s' sent a malformed Reading (%u bytes)", from->app, m->len);
        return KOS_STATUS_PROTOCOL;
    }
    (*count)++;
    *sum += r->centi_celsius;
    kos_log_info("reading %u from '%s' at %s: " CENTI_FMT " C, %u%%", r->seq, from->app, r->station,
                 CENTI_ARGS(r->centi_celsius), r->humidity_pct);
    ack.seq = r->seq;
    ack.count = *count;
    ack.mean_centi_celsius = (int32_t)(*sum / *count);
    kos_example__reading__free_unpacked(r, NULL);
    reply->payload = out;
    reply->len = (uint32_t)kos_example__ack__pack(&ack, out); /* an Ack is < 20 bytes */
    return KOS_STATUS_OK;
}

int main(void)
{
    kos_app_t *app;
    kos_dir_t *dir;
    kos_endpoint_t *ep;
    uint32_t count = 0;
    int64_t sum = 0;
    uint8_t out[64];
    kos_status_t st;

    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 1;
    st = kos_dir_publish(dir, "weather_protocol", &ep);
    if (st) {
        kos_log_error("cannot publish weather_protocol: %s", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        return 1;

    for (bool busy = false;;) {
        struct pollfd p[2] = {
            {.fd = kos_endpoint_fd(ep), .events = POLLIN},
            {.fd = kos_app_fd(app), .events = POLLIN},
        };
        struct kos_msg m, reply = {0};
        struct kos_caller from;

        /* Right after an answer, spin briefly for the next request (never
         * sleeping); otherwise only look, and sleep in poll(). */
        st = kos_endpoint_receive(ep, &m, &from, busy ? KOS_TIMEOUT_SPIN : 0);
        busy = st == KOS_STATUS_OK;
        if (st == KOS_STATUS_OK) {
            if (m.token)
                kos_token_close(m.token);
            st = handle(&m, &from, &count, &sum, out, &reply);
            if (kos_endpoint_reply(ep, &from, st, &reply))
                kos_log_warn("reply to '%s' failed", from.app);
            continue;
        }
        if (st != KOS_STATUS_WOULD_BLOCK && st != KOS_STATUS_TIMEOUT) {
            kos_log_error("receive failed: %s", kos_status_str(st));
            break;
        }
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents && kos_app_stopping(app))
            break;
    }
    kos_endpoint_close(ep);
    kos_app_close(app);
    return 0;
}
