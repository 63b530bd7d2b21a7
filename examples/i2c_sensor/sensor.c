/*
 * sensor.c - reads a TMP102 temperature sensor over I2C every period,
 * prints the temperature and keeps it in the device's log (log_server, a
 * structured record per reading); ends after --count readings.
 *
 * The TMP102 (TI SBOS397) has a pointer register: write 0x00 to point at the
 * temperature register, then read two bytes, MSB first. The temperature is a
 * 12-bit two's complement number of 1/16 degC, left-justified (bit 0 of the
 * low byte set means extended 13-bit mode).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kos/i2c.h>
#include <kos/log.h>
#include <kos/logsrv.h>

#define TMP102_ADDR   0x48
#define TMP102_TEMP   0x00
#define TMP102_CONFIG 0x01

/* Converts the temperature register to hundredths of a degree. */
static int32_t centi_celsius(const uint8_t r[2])
{
    int16_t raw = (int16_t)(r[0] << 8 | r[1]);
    int32_t sixteenths = (r[1] & 1) ? raw >> 3 : raw >> 4;
    return sixteenths * 100 / 16;
}

int main(int argc, char **argv)
{
    unsigned count = 5, period_ms = 1000;
    kos_app_t *app;
    kos_dir_t *dir;
    kos_i2c_t *bus;
    kos_logsrv_t *log;
    uint8_t ptr, r[2];
    kos_status_t st;

    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--count"))
            count = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--period-ms"))
            period_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
    }
    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 1;
    st = kos_i2c_open(dir, NULL, 5000, &bus);
    if (st) {
        kos_log_error("cannot open the I2C bus: %s", kos_status_str(st));
        return 1;
    }
    st = kos_logsrv_open(dir, 5000, &log);
    if (st) {
        kos_log_error("cannot open the log: %s", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        return 1;

    ptr = TMP102_CONFIG;
    st = kos_i2c_write_read(bus, TMP102_ADDR, &ptr, 1, r, 2);
    if (st) {
        kos_log_error("no TMP102 at 0x%02x: %s", TMP102_ADDR, kos_status_str(st));
        return 1;
    }
    kos_log_info("TMP102 at 0x%02x, configuration 0x%02x%02x", TMP102_ADDR, r[0], r[1]);

    for (unsigned n = 1; n <= count && !kos_app_stopping(app); n++) {
        ptr = TMP102_TEMP;
        st = kos_i2c_write_read(bus, TMP102_ADDR, &ptr, 1, r, 2);
        if (st) {
            kos_log_error("reading the temperature failed: %s", kos_status_str(st));
            return 1;
        }
        int32_t c = centi_celsius(r);
        kos_log_info("temperature %s%d.%02d C", c < 0 ? "-" : "", abs(c) / 100, abs(c) % 100);
        st = kos_logsrv_printf(log, KOS_LOG_INFO, "temperature %s%d.%02d C", c < 0 ? "-" : "",
                               abs(c) / 100, abs(c) % 100);
        if (st)
            kos_log_warn("the log did not keep reading %u: %s", n, kos_status_str(st));
        if (n < count)
            nanosleep(&(struct timespec){.tv_sec = period_ms / 1000,
                                         .tv_nsec = (long)(period_ms % 1000) * 1000000},
                      NULL);
    }
    kos_log_info("done: %u readings", count);
    kos_logsrv_close(log);
    kos_i2c_close(bus);
    kos_app_close(app);
    return 0;
}
