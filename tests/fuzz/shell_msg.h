/*
 * shell_msg.h - ShellDown messages as a server would send them on the
 * link's shell channel (proto/shell.proto), for the tests of admin's shell
 * (tests/unit/test_admin_shell.c) and the seeds of its fuzz harness
 * (fuzz_seeds.c), from protobuf-c's encoder.
 */
#ifndef KOS_TESTS_SHELL_MSG_H
#define KOS_TESTS_SHELL_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shell.pb-c.h"

/* Packs a ShellDown of id and line[0..len) into buf (at least len + 16
 * bytes) and returns its length. */
static inline size_t shell_msg_pack_n(uint8_t *buf, uint64_t id, const void *line, size_t len)
{
    Kos__Shell__ShellDown down = KOS__SHELL__SHELL_DOWN__INIT;

    down.id = id;
    down.line.data = (uint8_t *)line;
    down.line.len = len;
    return kos__shell__shell_down__pack(&down, buf);
}

/* The same for a NUL-terminated line. */
static inline size_t shell_msg_pack(uint8_t *buf, uint64_t id, const char *line)
{
    return shell_msg_pack_n(buf, id, line, strlen(line));
}

#endif
