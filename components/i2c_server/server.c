/*
 * server.c - answers kos_i2c_protocol requests: decode (every size checked
 * before use), check each message's address against the caller's allowance,
 * run the transfer on the back end, reply. The caller's name is the one the
 * message server vouches for; nothing in a payload says who is asking.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kos/log.h>

#include "i2csrv.h"

static kos_status_t handle_transfer(struct i2csrv *srv, const char *app, const struct kos_msg *req,
                                    struct kos_msg *reply)
{
    struct kos__i2c_xfer *x = &srv->x;
    struct kos_i2c_fault fault = {0};
    kos_status_t st;

    if (req->param != 0)
        return KOS_STATUS_PROTOCOL;
    st = kos__i2c_decode(req->payload, req->len, x);
    if (st)
        return st;
    for (uint32_t i = 0; i < x->n; i++) {
        if (!acl_allows(&srv->acl, app, x->msgs[i].addr)) {
            srv->n_denied++;
            kos__app_log(&srv->log, app, KOS_LOG_WARN,
                         "denied: '%s' may not reach address 0x%02x (message %u of %u); "
                         "nothing sent",
                         app, x->msgs[i].addr, i + 1, x->n);
            return KOS_STATUS_UNAUTHORIZED;
        }
        if ((x->msgs[i].flags & KOS_I2C_M_TEN) && !(srv->be.funcs & KOS_I2C_FUNC_10BIT_ADDR))
            return KOS_STATUS_UNSUPPORTED;
    }
    if (!(srv->be.funcs & KOS_I2C_FUNC_I2C))
        return KOS_STATUS_UNSUPPORTED;
    srv->n_transfers++;
    st = srv->be.transfer(srv->be.ctx, x->msgs, x->n, &fault);
    if (st) {
        srv->n_faults++;
        if (fault.error == 0)
            fault.error = EIO;
        reply->param = kos__i2c_fault_param(fault.error, fault.index);
        return st;
    }
    reply->payload = x->rdata;
    reply->len = x->rlen;
    return KOS_STATUS_OK;
}

void i2csrv_init(struct i2csrv *srv)
{
    memset(srv, 0, sizeof(*srv));
    kos__app_budgets_init(&srv->log, I2CSRV_LOG_BURST, I2CSRV_LOG_EVERY_MS);
}

kos_status_t i2csrv_handle(struct i2csrv *srv, const char *app, const struct kos_msg *req,
                           struct kos_msg *reply)
{
    *reply = (struct kos_msg){0};
    switch (req->label) {
    case KOS_I2C_LABEL_TRANSFER:
        return handle_transfer(srv, app, req, reply);
    case KOS_I2C_LABEL_FUNCS:
        if (req->len != 0 || req->param != 0)
            return KOS_STATUS_PROTOCOL;
        reply->param = srv->be.funcs;
        return KOS_STATUS_OK;
    default:
        return KOS_STATUS_UNSUPPORTED;
    }
}

kos_status_t i2csrv_parse_temp(const char *text, int32_t *mc)
{
    char *end;
    double v;

    if (!text || !*text)
        return KOS_STATUS_INVALID_ARGUMENT;
    v = strtod(text, &end);
    if (end == text || *end || !isfinite(v) || v < -273.15 || v > 1000.0)
        return KOS_STATUS_INVALID_ARGUMENT;
    *mc = (int32_t)lround(v * 1000.0);
    return KOS_STATUS_OK;
}
