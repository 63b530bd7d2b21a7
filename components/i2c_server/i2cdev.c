/*
 * i2cdev.c - the back end for a real bus: Linux's i2c-dev interface on a
 * /dev/i2c-N descriptor that KOS Core opened for this component because its
 * manifest entry grants the device (the component never opens paths).
 *
 * A transfer is one I2C_RDWR ioctl; the adapter's features come from
 * I2C_FUNCS once, at start. Linux reports an address NACK as ENXIO (some
 * adapters: EREMOTEIO or EIO) and does not say which message failed, so the
 * fault's index is 0.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/i2c-dev.h>
#include <linux/i2c.h>

#include "i2csrv.h"

static kos_status_t i2cdev_transfer(void *ctx, struct kos_i2c_msg *msgs, uint32_t n,
                                    struct kos_i2c_fault *fault)
{
    int fd = (int)(intptr_t)ctx; /* the back end's context is the descriptor */
    struct i2c_msg m[KOS_I2C_MAX_MSGS];
    struct i2c_rdwr_ioctl_data rdwr = {.msgs = m, .nmsgs = n};

    if (n > KOS_I2C_MAX_MSGS)
        return KOS_STATUS_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < n; i++) {
        m[i] = (struct i2c_msg){
            .addr = msgs[i].addr,
            .flags = (msgs[i].flags & KOS_I2C_M_RD ? I2C_M_RD : 0) |
                     (msgs[i].flags & KOS_I2C_M_TEN ? I2C_M_TEN : 0),
            .len = msgs[i].len,
            .buf = msgs[i].buf,
        };
    }
    if (ioctl(fd, I2C_RDWR, &rdwr) >= 0)
        return KOS_STATUS_OK;
    *fault = (struct kos_i2c_fault){.error = errno, .index = 0};
    return errno == ENXIO ? KOS_STATUS_NOT_FOUND : KOS_STATUS_IO;
}

kos_status_t i2cdev_backend(int fd, struct i2c_backend *be)
{
    unsigned long funcs = 0;

    if (ioctl(fd, I2C_FUNCS, &funcs) < 0)
        return KOS_STATUS_IO;
    *be = (struct i2c_backend){
        .name = "i2c-dev",
        .ctx = (void *)(intptr_t)fd,
        .transfer = i2cdev_transfer,
        .funcs = (uint32_t)funcs,
    };
    return KOS_STATUS_OK;
}
