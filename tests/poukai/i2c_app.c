/*
 * i2c_app.c - a test client of kos_i2c_protocol. Each argument is one step,
 * run in order; each logs one line saying what happened, so system tests can
 * check the console:
 *
 *   open           request kos_i2c_protocol (stop here if refused)
 *   funcs          log the bus features
 *   temp           read the TMP102 at 0x48
 *   eeprom         write and read back the 24C02 at 0x50: a byte, a page
 *                  write that wraps within its page, a sequential read that
 *                  wraps from 0xFF to 0x00
 *   probe ADDR     a zero-length write to ADDR (SMBus quick): ok, not found...
 *   read ADDR      read one byte from ADDR
 *   garbage        send malformed requests and an unknown label
 *   flood N ADDR   N one-byte reads from ADDR, as fast as they are answered;
 *                  logs how many were refused
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kos/i2c.h>
#include <kos/log.h>

#define EE 0x50

static int eeprom(kos_i2c_t *bus)
{
    uint8_t w[1 + 8], r[16], at;
    kos_status_t st;

    /* A byte write, then a random read (dummy write + repeated start). */
    w[0] = 0x10;
    w[1] = 0x5a;
    if ((st = kos_i2c_write(bus, EE, w, 2)))
        goto fail;
    at = 0x10;
    if ((st = kos_i2c_write_read(bus, EE, &at, 1, r, 1)))
        goto fail;
    kos_log_info("eeprom: byte 0x10 reads back 0x%02x", r[0]);

    /* A page write starting at 0x26: 0x26, 0x27 then wraps to 0x20..0x25. */
    w[0] = 0x26;
    for (int i = 0; i < 8; i++)
        w[1 + i] = (uint8_t)(0xa0 + i);
    if ((st = kos_i2c_write(bus, EE, w, sizeof(w))))
        goto fail;
    at = 0x20;
    if ((st = kos_i2c_write_read(bus, EE, &at, 1, r, 8)))
        goto fail;
    kos_log_info("eeprom: page 0x20 reads %02x %02x %02x %02x %02x %02x %02x %02x", r[0], r[1],
                 r[2], r[3], r[4], r[5], r[6], r[7]);

    /* The last byte, then a sequential read across the end. */
    w[0] = 0xff;
    w[1] = 0x77;
    if ((st = kos_i2c_write(bus, EE, w, 2)))
        goto fail;
    w[0] = 0x00;
    w[1] = 0x11;
    if ((st = kos_i2c_write(bus, EE, w, 2)))
        goto fail;
    at = 0xfe;
    if ((st = kos_i2c_write_read(bus, EE, &at, 1, r, 3)))
        goto fail;
    kos_log_info("eeprom: 0xfe.. reads %02x %02x %02x", r[0], r[1], r[2]);
    return 0;
fail:
    kos_log_error("eeprom: %s", kos_status_str(st));
    return 1;
}

static void log_result(const char *what, unsigned addr, kos_i2c_t *bus, kos_status_t st)
{
    struct kos_i2c_fault f;

    kos_i2c_last_fault(bus, &f);
    if (f.error)
        kos_log_info("%s 0x%02x: %s (%s, message %u)", what, addr, kos_status_str(st),
                     f.error == ENXIO       ? "ENXIO"
                     : f.error == EREMOTEIO ? "EREMOTEIO"
                                            : strerror(f.error),
                     f.index);
    else
        kos_log_info("%s 0x%02x: %s", what, addr, kos_status_str(st));
}

static void garbage(kos_i2c_t *bus, kos_token_t *tok)
{
    static const uint8_t short_hdr[3] = {1, 0, 0};
    static const uint8_t lying[12] = {1, 0, 0, 0, 0x50, 0, 0, 0, 200, 0, 0, 0};
    struct kos_msg m = {.label = KOS_I2C_LABEL_TRANSFER, .payload = short_hdr, .len = 3}, r;

    (void)bus;
    kos_log_info("garbage short header: %s", kos_status_str(kos_msg_call(tok, &m, &r, 2000)));
    m.payload = lying;
    m.len = sizeof(lying);
    kos_log_info("garbage lying length: %s", kos_status_str(kos_msg_call(tok, &m, &r, 2000)));
    m = (struct kos_msg){.label = 77};
    kos_log_info("garbage unknown label: %s", kos_status_str(kos_msg_call(tok, &m, &r, 2000)));
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    kos_dir_t *dir;
    kos_i2c_t *bus = NULL;
    kos_token_t *raw = NULL;
    kos_status_t st;
    int rc = 0;

    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 1;
    if (kos_app_ready(app))
        return 1;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *step = argv[i];
        unsigned addr = i + 1 < argc ? (unsigned)strtoul(argv[i + 1], NULL, 0) : 0;
        uint8_t b[2];

        if (!strcmp(step, "open")) {
            st = kos_i2c_open(dir, NULL, 5000, &bus);
            kos_log_info("open: %s", kos_status_str(st));
            if (st)
                break;
            continue;
        }
        if (!bus) {
            kos_log_error("'%s' before 'open'", step);
            return 2;
        }
        if (!strcmp(step, "funcs")) {
            uint32_t f = 0;
            st = kos_i2c_funcs(bus, &f);
            kos_log_info("funcs: %s, i2c %s", kos_status_str(st),
                         (f & KOS_I2C_FUNC_I2C) ? "yes" : "no");
        } else if (!strcmp(step, "temp")) {
            b[0] = 0;
            st = kos_i2c_write_read(bus, 0x48, b, 1, b, 2);
            kos_log_info("temp: %s, register 0x%02x%02x", kos_status_str(st), b[0], b[1]);
        } else if (!strcmp(step, "eeprom")) {
            rc = eeprom(bus);
        } else if (!strcmp(step, "probe")) {
            log_result("probe", addr, bus, kos_i2c_write(bus, (uint16_t)addr, NULL, 0));
            i++;
        } else if (!strcmp(step, "read")) {
            log_result("read", addr, bus, kos_i2c_read(bus, (uint16_t)addr, b, 1));
            i++;
        } else if (!strcmp(step, "flood")) {
            unsigned n = (unsigned)addr, refused = 0;
            addr = i + 2 < argc ? (unsigned)strtoul(argv[i + 2], NULL, 0) : 0;
            for (unsigned k = 0; k < n; k++)
                if (kos_i2c_read(bus, (uint16_t)addr, b, 1) == KOS_STATUS_UNAUTHORIZED)
                    refused++;
            kos_log_info("flood: %u of %u refused", refused, n);
            i += 2;
        } else if (!strcmp(step, "garbage")) {
            if ((st = kos_dir_request(dir, KOS_I2C_PROTOCOL, 5000, &raw)) == KOS_STATUS_OK)
                garbage(bus, raw);
            kos_token_close(raw);
        } else {
            kos_log_error("unknown step '%s'", step);
            rc = 2;
        }
    }
    kos_log_info("steps done");
    kos_i2c_close(bus);
    kos_app_close(app);
    return rc;
}
