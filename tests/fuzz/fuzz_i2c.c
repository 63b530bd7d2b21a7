/*
 * fuzz_i2c.c - libFuzzer harness for kos_i2c_protocol's decoder
 * (lib/i2c.c) and what i2c_server reads from outside
 * (components/i2c_server): requests, run on the simulated bus, and its
 * `allow`, `devices` and temperature settings.
 *
 * The first input byte picks what the rest is (sel % 5):
 *   0  a transfer payload, through kos__i2c_decode();
 *   1  a conversation: requests one after another, each a label (1 byte),
 *      a param (1 byte), the caller (1 byte, an index into apps[]), a
 *      payload length (2 bytes, little-endian) and the payload, answered by
 *      i2csrv_handle() on a fresh simulated bus (TMP102s at 0x48 and 0x49,
 *      24C02s at 0x50 and 0x57) with an allow list; (sel / 5) % 4 picks the
 *      TMP102s' step per conversion: 0.125, 0, +1000 or -1000 degC (the
 *      largest the settings allow, which saturates at once);
 *   2  an `allow` setting (text to the first NUL), through acl_parse();
 *   3  a `devices` setting, through sim_init();
 *   4  a temperature, through i2csrv_parse_temp().
 *
 * The promises checked (i2c_int.h, i2csrv.h): what decodes encodes back to
 * the same bytes and the same read length; an answered transfer reached
 * only addresses its caller is allowed, and its reply carries exactly the
 * bytes its reads asked for; a refused one names why without a reply; a
 * parsed bus has valid, distinct addresses that sim_find() finds; a parsed
 * temperature is within its range, and so is every simulated one however
 * long it steps; every refusal says what was wrong.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "i2c_int.h"
#include "i2csrv.h"

enum { SEL_DECODE, SEL_SERVER, SEL_ACL, SEL_DEVICES, SEL_TEMP };

static const char *const apps[] = {"sensor", "eeprom", "admin", "nobody"};
#define N_APPS (sizeof(apps) / sizeof(apps[0]))

static const char allow[] = "sensor=0x48,0x49;eeprom=0x50-0x57;admin=*";
static const char devices[] = "tmp102@0x48,tmp102@0x49,24c02@0x50,24c02@0x57";

static struct {
    struct kos__i2c_xfer x;
    struct i2csrv srv;
    struct sim_bus bus;
    uint8_t enc[KOS_MSG_MAX_PAYLOAD];
    char text[4096];
} fz;

/* The rest of the input as a NUL-terminated string in fz.text. */
static const char *as_text(const uint8_t *p, size_t len)
{
    if (len >= sizeof(fz.text))
        len = sizeof(fz.text) - 1;
    memcpy(fz.text, p, len);
    fz.text[len] = '\0';
    return fz.text;
}

static void run_decode(const uint8_t *p, size_t len)
{
    struct kos__i2c_xfer *x = &fz.x;
    uint32_t elen = 0, rlen = 0, reads = 0;

    if (kos__i2c_decode(len ? p : NULL, len, x) != KOS_STATUS_OK)
        return;
    if (x->n == 0 || x->n > KOS_I2C_MAX_MSGS || x->rlen > KOS_I2C_MAX_DATA)
        kos_fuzz_fail("kos__i2c_decode accepted %u messages reading %u bytes", x->n, x->rlen);
    for (uint32_t i = 0; i < x->n; i++) {
        const struct kos_i2c_msg *m = &x->msgs[i];
        if (!kos__i2c_msg_valid(m->addr, m->flags))
            kos_fuzz_fail("kos__i2c_decode accepted message %u to %#x, flags %#x", i, m->addr,
                          m->flags);
        if (m->flags & KOS_I2C_M_RD) {
            if (m->buf != x->rdata + reads)
                kos_fuzz_fail("read %u does not land in order in rdata", i);
            reads += m->len;
        }
    }
    if (kos__i2c_encode(x->msgs, x->n, fz.enc, sizeof(fz.enc), &elen, &rlen) != KOS_STATUS_OK)
        kos_fuzz_fail("kos__i2c_encode refuses what kos__i2c_decode accepted");
    if (elen != len || memcmp(fz.enc, p, len) != 0 || rlen != x->rlen || reads != rlen)
        kos_fuzz_fail("a transfer decodes from %zu bytes but encodes to %u (reads %u/%u)", len,
                      elen, rlen, x->rlen);
}

static void run_server(const uint8_t *p, size_t len, unsigned param)
{
    static const int32_t steps[] = {125, 0, 1000000, -1000000};
    struct i2csrv *srv = &fz.srv;
    char err[256];

    i2csrv_init(srv);
    if (sim_init(&fz.bus, devices, 23500, steps[param % 4], err, sizeof(err)) != KOS_STATUS_OK ||
        acl_parse(&srv->acl, allow, err, sizeof(err)) != KOS_STATUS_OK)
        kos_fuzz_fail("the harness's bus or allow list is refused: %s", err);
    sim_backend(&fz.bus, &srv->be);

    while (len >= 5) {
        struct kos_msg req = {0}, reply;
        const char *app = apps[p[2] % N_APPS];
        size_t plen = (size_t)p[3] | (size_t)p[4] << 8;
        uint64_t transfers = srv->n_transfers, denied = srv->n_denied;
        kos_status_t st, expect;

        req.label = p[0];
        req.param = p[1];
        p += 5;
        len -= 5;
        if (plen > len)
            plen = len;
        req.payload = plen ? p : NULL;
        req.len = (uint32_t)plen;
        p += plen;
        len -= plen;

        /* What the server must answer, from the decoder, the allow list and
         * the bus's features, checked in the order i2csrv.h gives; "OK"
         * means the bus decides. */
        expect =
            req.param != 0 ? KOS_STATUS_PROTOCOL : kos__i2c_decode(req.payload, req.len, &fz.x);
        for (uint32_t i = 0; expect == KOS_STATUS_OK && i < fz.x.n; i++) {
            if (!acl_allows(&srv->acl, app, fz.x.msgs[i].addr))
                expect = KOS_STATUS_UNAUTHORIZED;
            else if ((fz.x.msgs[i].flags & KOS_I2C_M_TEN) &&
                     !(srv->be.funcs & KOS_I2C_FUNC_10BIT_ADDR))
                expect = KOS_STATUS_UNSUPPORTED;
        }
        if (expect == KOS_STATUS_OK && !(srv->be.funcs & KOS_I2C_FUNC_I2C))
            expect = KOS_STATUS_UNSUPPORTED;

        st = i2csrv_handle(srv, app, &req, &reply);
        if (req.label == KOS_I2C_LABEL_FUNCS) {
            if (st == KOS_STATUS_OK && (reply.param != srv->be.funcs || reply.len))
                kos_fuzz_fail("FUNCS answered %#llx", (unsigned long long)reply.param);
            continue;
        }
        if (req.label != KOS_I2C_LABEL_TRANSFER) {
            if (st != KOS_STATUS_UNSUPPORTED)
                kos_fuzz_fail("label %u answered %s", req.label, kos_status_str(st));
            continue;
        }
        if (expect != KOS_STATUS_OK) {
            if (st != expect || srv->n_transfers != transfers || reply.len || reply.payload)
                kos_fuzz_fail("a transfer that must be refused with %s answers %s",
                              kos_status_str(expect), kos_status_str(st));
            if ((st == KOS_STATUS_UNAUTHORIZED) != (srv->n_denied == denied + 1))
                kos_fuzz_fail("a denial is not counted, or a count is not a denial");
            continue;
        }
        if (srv->n_transfers != transfers + 1)
            kos_fuzz_fail("a transfer that reaches the bus is not counted");
        if (st == KOS_STATUS_OK) {
            if (reply.len != srv->x.rlen || (reply.len && reply.payload != srv->x.rdata))
                kos_fuzz_fail("a transfer reading %u bytes replies with %u", srv->x.rlen,
                              reply.len);
        } else if (st == KOS_STATUS_NOT_FOUND || st == KOS_STATUS_IO) {
            if (reply.len || reply.payload || (uint32_t)reply.param == 0 ||
                (reply.param >> 32) >= srv->x.n)
                kos_fuzz_fail("a bus fault replies with data or a bad fault %#llx",
                              (unsigned long long)reply.param);
        } else {
            kos_fuzz_fail("the bus answers %s", kos_status_str(st));
        }
    }
    for (uint32_t i = 0; i < fz.bus.n; i++)
        if (fz.bus.dev[i].model == SIM_TMP102 &&
            (fz.bus.dev[i].u.tmp102.temp_mc < -273150 || fz.bus.dev[i].u.tmp102.temp_mc > 1000000))
            kos_fuzz_fail("a simulated TMP102 reached %d mdegC", fz.bus.dev[i].u.tmp102.temp_mc);
}

static void run_acl(const uint8_t *p, size_t len)
{
    static struct acl acl;
    char err[256] = "";

    if (acl_parse(&acl, as_text(p, len), err, sizeof(err)) != KOS_STATUS_OK) {
        if (!strstr(err, "allow:"))
            kos_fuzz_fail("acl_parse refuses '%.40s' without saying why", fz.text);
        return;
    }
    if (acl.n > ACL_MAX_APPS)
        kos_fuzz_fail("acl_parse kept %u apps", acl.n);
    for (uint32_t i = 0; i < acl.n; i++) {
        size_t n = strlen(acl.e[i].app);
        if (n == 0 || n > KOS_PROTOCOL_NAME_MAX || !strstr(fz.text, acl.e[i].app))
            kos_fuzz_fail("acl_parse entry %u is '%s'", i, acl.e[i].app);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(acl.e[j].app, acl.e[i].app))
                kos_fuzz_fail("acl_parse lists '%s' twice", acl.e[i].app);
    }
    if (acl_allows(&acl, "no such app, not a name", 0x48) || acl_allows(&acl, NULL, 0x48))
        kos_fuzz_fail("acl_allows lets an unnamed app in");
    for (uint32_t i = 0; i < acl.n; i++)
        if (acl_allows(&acl, acl.e[i].app, 0x400))
            kos_fuzz_fail("acl_allows an address over 0x3ff");
}

static void run_devices(const uint8_t *p, size_t len)
{
    char err[256] = "";

    if (sim_init(&fz.bus, as_text(p, len), 20000, 0, err, sizeof(err)) != KOS_STATUS_OK) {
        if (!strstr(err, "devices:"))
            kos_fuzz_fail("sim_init refuses '%.40s' without saying why", fz.text);
        return;
    }
    if (fz.bus.n > SIM_MAX_DEVICES)
        kos_fuzz_fail("sim_init made %u devices", fz.bus.n);
    for (uint32_t i = 0; i < fz.bus.n; i++) {
        const struct sim_device *d = &fz.bus.dev[i];
        if (d->addr < 0x08 || d->addr > 0x77 || sim_find(&fz.bus, d->addr) != d ||
            (d->model != SIM_TMP102 && d->model != SIM_AT24C02))
            kos_fuzz_fail("sim_init device %u at %#x is not valid or not found", i, d->addr);
    }
}

static void run_temp(const uint8_t *p, size_t len)
{
    int32_t mc = 0;

    if (i2csrv_parse_temp(as_text(p, len), &mc) != KOS_STATUS_OK)
        return;
    if (mc < -273150 || mc > 1000000)
        kos_fuzz_fail("i2csrv_parse_temp accepted '%.40s' as %d mdegC", fz.text, mc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 5) {
    case SEL_DECODE:
        run_decode(data + 1, size - 1);
        break;
    case SEL_SERVER:
        run_server(data + 1, size - 1, data[0] / 5);
        break;
    case SEL_ACL:
        run_acl(data + 1, size - 1);
        break;
    case SEL_DEVICES:
        run_devices(data + 1, size - 1);
        break;
    default:
        run_temp(data + 1, size - 1);
        break;
    }
    return 0;
}
