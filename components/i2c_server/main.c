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
 *   server       the message server (default msg0)
 *
 * The lines about one app's requests (its denials) come from a log budget
 * per app (I2CSRV_LOG_BURST, then one per I2CSRV_LOG_EVERY_MS), so that no
 * app can flood the console through the server.
 */
#include <stdio.h>
#include <string.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "component_int.h"
#include "config_int.h"
#include "i2csrv.h"

#define DEFAULT_DEVICES "tmp102@0x48,24c02@0x50"
#define DEFAULT_TEMP_MC 23500

struct ctx {
    kos_app_t *app;
    struct i2csrv srv;
    struct sim_bus sim;
};

static int setup_backend(struct ctx *c)
{
    const char *backend = kos__cfg_str(c->app, "backend", "sim");
    char err[160];

    if (!strcmp(backend, "sim")) {
        const char *devices = kos__cfg_str(c->app, "devices", DEFAULT_DEVICES);
        const char *t = kos__cfg_str(c->app, "temperature", NULL);
        const char *s = kos__cfg_str(c->app, "temperature_step", NULL);
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
        const char *name = kos__cfg_str(c->app, "device", "bus");
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
    kos__component_reply(ep, from, st, &reply);
}

/* Reads the settings: the back end and the allow list. */
static kos_status_t start(void *arg, kos_app_t *app)
{
    struct ctx *c = arg;
    const char *allow;
    char err[160];

    c->app = app;
    i2csrv_init(&c->srv);
    if (setup_backend(c))
        return KOS_STATUS_INVALID_ARGUMENT;
    allow = kos__cfg_str(c->app, "allow", NULL);
    if (acl_parse(&c->srv.acl, allow, err, sizeof(err))) {
        kos_log_error("%s", err);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (!allow || !*allow)
        kos_log_warn("no 'allow' setting: every transfer will be refused");
    return KOS_STATUS_OK;
}

static void stopped(void *arg, char *buf, size_t len)
{
    struct ctx *c = arg;

    snprintf(buf, len, "%llu transfers, %llu bus faults, %llu denied",
             (unsigned long long)c->srv.n_transfers, (unsigned long long)c->srv.n_faults,
             (unsigned long long)c->srv.n_denied);
}

int main(void)
{
    static const struct kos__component i2c_server = {
        .protocol = KOS_I2C_PROTOCOL,
        .renamable = true,
        .start = start,
        .serve = {.request = on_request},
        .stopped = stopped,
    };
    static struct ctx c; /* static: the access list is large */

    return kos__component_main(&i2c_server, &c);
}
