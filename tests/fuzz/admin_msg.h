/*
 * admin_msg.h - AdminDown messages as a server would send them, for the
 * tests of admin (tests/unit/test_admin.c) and the seeds of its fuzz
 * harness (fuzz_seeds.c), from protobuf-c's encoders.
 */
#ifndef KOS_TESTS_ADMIN_MSG_H
#define KOS_TESTS_ADMIN_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "admin.pb-c.h"

enum admin_msg_kind {
    ADMIN_MSG_COMMAND_NONE, /* a Command of a kind nobody knows (no body) */
    ADMIN_MSG_RESTART,      /* a Command: RestartApp of `app` */
    ADMIN_MSG_REBOOT,       /* a Command: Reboot */
    ADMIN_MSG_REGISTERED,   /* Registered, with a device id and a name */
};

/* Packs an AdminDown into buf (large enough: at most a few hundred bytes
 * for the names given) and returns its length. */
static inline size_t admin_msg_pack(uint8_t *buf, enum admin_msg_kind kind, uint64_t id,
                                    const char *app)
{
    Kos__Admin__AdminDown down = KOS__ADMIN__ADMIN_DOWN__INIT;
    Kos__Admin__Command cmd = KOS__ADMIN__COMMAND__INIT;
    Kos__Admin__RestartApp ra = KOS__ADMIN__RESTART_APP__INIT;
    Kos__Admin__Reboot rb = KOS__ADMIN__REBOOT__INIT;
    Kos__Admin__Registered reg = KOS__ADMIN__REGISTERED__INIT;

    if (kind == ADMIN_MSG_REGISTERED) {
        reg.device_id = "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        reg.name = "roof";
        down.body_case = KOS__ADMIN__ADMIN_DOWN__BODY_REGISTERED;
        down.registered = &reg;
        return kos__admin__admin_down__pack(&down, buf);
    }
    cmd.id = id;
    if (kind == ADMIN_MSG_RESTART) {
        ra.app = (char *)app;
        cmd.body_case = KOS__ADMIN__COMMAND__BODY_RESTART_APP;
        cmd.restart_app = &ra;
    } else if (kind == ADMIN_MSG_REBOOT) {
        cmd.body_case = KOS__ADMIN__COMMAND__BODY_REBOOT;
        cmd.reboot = &rb;
    }
    down.body_case = KOS__ADMIN__ADMIN_DOWN__BODY_COMMAND;
    down.command = &cmd;
    return kos__admin__admin_down__pack(&down, buf);
}

#endif
