/*
 * main.c - the i2c_server component: owns one I2C bus and publishes it as
 * kos_i2c_protocol (or the protocol its `protocol` setting names), letting
 * each app reach only the addresses its `allow` setting lists.
 *
 * Settings (the manifest entry's config:, see docs/packages/i2c_server.md):
 *   backend      sim (default) | i2c-dev
 *   device       i2c-dev: the name of the granted device (default "bus")
 *   devices      sim: "MODEL@ADDR,..." (default "tmp102@0x48,24c02@0x50")
 *   temperature  sim: TMP102 temperature in degC (default 23.5)
 *   temperature_step  sim: added after each conversion (default 0)
 *   allow        "APP=ADDR,...;APP=..." (default: nobody may reach anything)
 *   protocol     the protocol to publish (default kos_i2c_protocol)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "i2csrv.h"

#define DEFAULT_DEVICES "tmp102@0x48,24c02@0x50"
#define DEFAULT_TEMP_MC 23500

struct ctx {
    kos_app_t *app;
    struct i2csrv srv;
    struct sim_bus sim;
};

/* A setting of the component's manifest entry (config:), or `def`. */
static const char *setting(const struct ctx *c, const char *key, const char *def)
{
    const char *v = kos_app_config(c->app, key);

    return v ? v : def;
}

static int setup_backend(struct ctx *c)
{
    const char *backend = setting(c, "backend", "sim");
    char err[160];

    if (!strcmp(backend, "sim")) {
        const char *devices = setting(c, "devices", DEFAULT_DEVICES);
        const char *t = setting(c, "temperature", NULL);
        const char *s = setting(c, "temperature_step", NULL);
        int32_t temp = DEFAULT_TEMP_MC, step = 0;

        if (t && i2csrv_parse_temp(t, &temp)) {
            kos_log_error("temperature: '%s' is not a temperature in degC (e.g. 23.5)", t);
            return 1;
        }
        if (s && i2csrv_parse_temp(s, &step)) {
            kos_log_error("temperature_step: '%s' is not a number of degC (e.g. 0.25)", s);
            return 1;
        }
        if (sim_init(&c->sim, devices, temp, step, err, sizeof(err))) {
            kos_log_error("%s", err);
            return 1;
        }
        sim_backend(&c->sim, &c->srv.be);
        kos_log_info("simulated bus: %s", *devices ? devices : "no devices");
        return 0;
    }
    if (!strcmp(backend, "i2c-dev")) {
        const char *name = setting(c, "device", "bus");
        int fd;
        kos_status_t st = kos_app_resource(c->app, name, &fd, NULL);

        if (st) {
            kos_log_error("backend i2c-dev: no device '%s' granted (devices: {%s: {path: "
                          "/dev/i2c-N, access: rw}}): %s",
                          name, name, kos_status_str(st));
            return 1;
        }
        if (i2cdev_backend(fd, &c->srv.be)) {
            kos_log_error("backend i2c-dev: device '%s' is not an I2C adapter (I2C_FUNCS failed)",
                          name);
            return 1;
        }
        kos_log_info("i2c-dev bus '%s': features 0x%08x", name, c->srv.be.funcs);
        return 0;
    }
    kos_log_error("backend: unknown back end '%s'; valid: sim, i2c-dev", backend);
    return 1;
}

/* One request: checked against the allow list and carried out. */
static void on_request(void *arg, kos_endpoint_t *ep, const struct kos_msg *m,
                       const struct kos_caller *from)
{
    struct ctx *c = arg;
    struct kos_msg reply = {0};
    kos_status_t st;

    if (m->token) { /* this protocol takes no tokens */
        kos_token_close(m->token);
        st = KOS_STATUS_PROTOCOL;
    } else {
        st = i2csrv_handle(&c->srv, from->app, m, &reply);
    }
    if (kos_endpoint_reply(ep, from, st, &reply))
        kos_log_warn("reply to '%s' failed", from->app);
}

static int serve(struct ctx *c, kos_endpoint_t *ep)
{
    kos_status_t st = kos_endpoint_serve(c->app, ep, on_request, c);

    if (st)
        kos_log_error("receive failed: %s", kos_status_str(st));
    return st ? 1 : 0;
}

int main(void)
{
    struct ctx *c = calloc(1, sizeof(*c));
    const char *allow, *protocol, *server;
    kos_endpoint_t *ep;
    kos_dir_t *dir;
    char err[160];
    kos_status_t st;
    int rc = 1;

    if (!c)
        return 1;
    /* Core asks an app to stop with a control message and SIGTERM: stop on
     * the message, between requests, so no reply is cut off. */
    signal(SIGTERM, SIG_IGN);
    if (kos_app_open(&c->app))
        goto out_free;
    if (setup_backend(c))
        goto out_close_app;
    allow = setting(c, "allow", NULL);
    if (acl_parse(&c->srv.acl, allow, err, sizeof(err))) {
        kos_log_error("%s", err);
        goto out_close_app;
    }
    if (!allow || !*allow)
        kos_log_warn("no 'allow' setting: every transfer will be refused");
    protocol = setting(c, "protocol", KOS_I2C_PROTOCOL);
    server = setting(c, "server", "msg0");
    if ((st = kos_app_dir(c->app, server, &dir)) || (st = kos_dir_publish(dir, protocol, &ep))) {
        kos_log_error("cannot publish %s on %s: %s", protocol, server, kos_status_str(st));
        goto out_close_app;
    }
    if (kos_app_ready(c->app))
        goto out_close_ep;
    kos_log_info("serving %s", protocol);
    rc = serve(c, ep);
    kos_log_info("stopping: %llu transfers, %llu bus faults, %llu denied",
                 (unsigned long long)c->srv.n_transfers, (unsigned long long)c->srv.n_faults,
                 (unsigned long long)c->srv.n_denied);
out_close_ep:
    kos_endpoint_close(ep);
out_close_app:
    kos_app_close(c->app);
out_free:
    free(c);
    return rc;
}
