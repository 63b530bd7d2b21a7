/*
 * fuzz_debug.c - libFuzzer harness for what admin reads on the link's
 * debug channel (components/admin/debug.c, proto/debug.proto): a server's
 * DebugDown messages, with Core answering and a debug agent at the other
 * end of a real socket pair.
 *
 * The first input byte picks enabled (even) or disabled (odd); the rest is
 * a script: records of a u16 length (little-endian) and that many bytes,
 * each a DebugDown message taken as admin takes them (only when debugging
 * is ready for one); a record of length 0xffff flips the link down or up,
 * 0xfffe makes Core answer what waits (OK with a fresh socket pair when the
 * next byte is even, else that byte as a status), 0xfffd makes the tunnel
 * refuse sends (BUSY) until the next 0xfffd, 0xfffc lets the clock run past
 * Core's deadline, 0xfffb has the agent write the next byte's count of
 * bytes and admin read them, and 0xfffa has the agent close its end.
 * Promises (admin.h): every message sent unpacks as a DebugUp, fits
 * KOS_TUNNEL_DATA_MAX and carries a KOS status; a disabled admin asks
 * nothing of Core and answers only UNAUTHORIZED; Core is asked only about
 * valid app names, and only when no session is under way; the bytes the
 * agent receives are exactly the data of the DebugDown messages taken while
 * a session was open, in order (a prefix of them when the session ends);
 * at the end admin holds no socket of the agent's (the agent sees EOF).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "debug.pb-c.h"
#include "fuzz.h"

static struct {
    struct admin_debug d;
    bool enabled;
    kos_status_t send_status;
    bool core_waits;
    uint32_t core_id;
    int agent;          /* the agent's end, or -1 */
    uint8_t want[8192]; /* bytes the agent should get, in order */
    size_t want_len, got_len;
    bool want_cut; /* more than fits want: not checked past it */
} fz;

static kos_status_t fake_send(void *arg, uint32_t channel, const void *data, size_t len)
{
    (void)arg;
    if (channel != KOS_TUNNEL_DEBUG)
        kos_fuzz_fail("debugging sent on channel %u", channel);
    if (len > KOS_TUNNEL_DATA_MAX)
        kos_fuzz_fail("debugging sent %zu bytes, more than %u", len, KOS_TUNNEL_DATA_MAX);
    if (fz.send_status)
        return fz.send_status;
    Kos__Debug__DebugUp *up = kos__debug__debug_up__unpack(NULL, len, data);
    if (!up)
        kos_fuzz_fail("debugging sent a DebugUp that does not unpack");
    uint32_t status = up->body_case == KOS__DEBUG__DEBUG_UP__BODY_OPENED   ? up->opened->status
                      : up->body_case == KOS__DEBUG__DEBUG_UP__BODY_CLOSED ? up->closed->status
                                                                           : 0;
    if (up->body_case == KOS__DEBUG__DEBUG_UP__BODY__NOT_SET)
        kos_fuzz_fail("a DebugUp with no body");
    if (status >= KOS_STATUS__COUNT)
        kos_fuzz_fail("a DebugUp with status %u", status);
    if (!fz.enabled &&
        (up->body_case == KOS__DEBUG__DEBUG_UP__BODY_DATA || status != KOS_STATUS_UNAUTHORIZED))
        kos_fuzz_fail("a disabled admin answered other than UNAUTHORIZED");
    kos__debug__debug_up__free_unpacked(up, NULL);
    return KOS_STATUS_OK;
}

static kos_status_t fake_attach(void *arg, uint32_t core_id, const char *app)
{
    (void)arg;
    if (!fz.enabled)
        kos_fuzz_fail("a disabled admin asked Core to debug");
    if (!kos__name_valid(app, strlen(app)))
        kos_fuzz_fail("Core was asked to debug an invalid name");
    if (fz.core_waits)
        kos_fuzz_fail("Core was asked twice at once");
    fz.core_waits = true;
    fz.core_id = core_id;
    return KOS_STATUS_OK;
}

/* Reads what reached the agent and checks it against what was sent. */
static void agent_drain(void)
{
    uint8_t buf[4096];

    while (fz.agent >= 0) {
        ssize_t n = recv(fz.agent, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++, fz.got_len++)
            if (fz.got_len < sizeof(fz.want) &&
                (fz.got_len >= fz.want_len || buf[i] != fz.want[fz.got_len]))
                kos_fuzz_fail("the agent got byte %zu wrong or unsent", fz.got_len);
    }
}

static void agent_close(void)
{
    if (fz.agent >= 0)
        close(fz.agent);
    fz.agent = -1;
    fz.want_len = fz.got_len = 0;
}

/* Notes the data of a DebugDown that a session open now will take. */
static void note_data(const uint8_t *data, size_t len)
{
    Kos__Debug__DebugDown *m = NULL;

    if (fz.d.state != ADMIN_DEBUG_OPEN || len > KOS_TUNNEL_DATA_MAX ||
        !(m = kos__debug__debug_down__unpack(NULL, len, data)))
        return;
    if (m->body_case == KOS__DEBUG__DEBUG_DOWN__BODY_DATA &&
        m->data.len <= ADMIN_DEBUG_BUF - fz.d.down_len) {
        size_t n = m->data.len;
        if (fz.want_len + n > sizeof(fz.want))
            n = sizeof(fz.want) - fz.want_len;
        if (n > 0)
            memcpy(fz.want + fz.want_len, m->data.data, n);
        fz.want_len += n;
    }
    kos__debug__debug_down__free_unpacked(m, NULL);
}

static void core_answers(uint8_t b)
{
    int sv[2];

    if (!fz.core_waits)
        return;
    fz.core_waits = false;
    if (b % 2 == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        agent_close();
        fz.agent = sv[1];
        fcntl(fz.agent, F_SETFL, O_NONBLOCK);
        admin_debug_core_result(&fz.d, fz.core_id, KOS_STATUS_OK, "attached", sv[0], 0);
        return;
    }
    admin_debug_core_result(&fz.d, fz.core_id, b % (KOS_STATUS__COUNT + 2u), "refused", -1, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct admin_ops ops = {.send = fake_send, .debug_attach = fake_attach};
    uint64_t now = 0;
    size_t i = 1;

    if (size < 1)
        return 0;
    memset(&fz, 0, sizeof(fz));
    fz.agent = -1;
    fz.enabled = data[0] % 2 == 0;
    if (!admin_debug_init(&fz.d, fz.enabled, &ops, 0))
        abort();
    admin_debug_link(&fz.d, true, 0);
    while (i + 2 <= size) {
        size_t len = (size_t)data[i] | (size_t)data[i + 1] << 8;
        uint8_t arg = i + 2 < size ? data[i + 2] : 0;
        short ev;
        i += 2;
        switch (len) {
        case 0xffff:
            admin_debug_link(&fz.d, !fz.d.up, now);
            fz.core_waits = fz.core_waits && fz.d.state == ADMIN_DEBUG_CORE;
            continue;
        case 0xfffe:
            core_answers(arg);
            i++;
            continue;
        case 0xfffd:
            fz.send_status = fz.send_status ? KOS_STATUS_OK : KOS_STATUS_BUSY;
            if (!fz.send_status)
                admin_debug_room(&fz.d, now);
            continue;
        case 0xfffc:
            now += ADMIN_DEBUG_CORE_MS + 1;
            admin_debug_pump(&fz.d, now);
            if (fz.d.state != ADMIN_DEBUG_CORE)
                fz.core_waits = false;
            continue;
        case 0xfffb:
            if (fz.agent >= 0) {
                uint8_t junk[256];
                memset(junk, 'x', sizeof(junk));
                ssize_t w = send(fz.agent, junk, arg, MSG_DONTWAIT | MSG_NOSIGNAL);
                (void)w;
            }
            i++;
            if (admin_debug_fd(&fz.d, &ev) >= 0)
                admin_debug_io(&fz.d, (short)(ev & POLLIN ? POLLIN : 0) | POLLOUT, now);
            continue;
        case 0xfffa:
            agent_close();
            if (admin_debug_fd(&fz.d, &ev) >= 0)
                admin_debug_io(&fz.d, POLLIN | POLLHUP, now);
            continue;
        default:
            break;
        }
        if (len > size - i)
            len = size - i;
        if (admin_debug_ready(&fz.d)) {
            note_data(data + i, len);
            admin_debug_input(&fz.d, data + i, len, now);
            if (fz.d.state != ADMIN_DEBUG_CORE)
                fz.core_waits = false;
            agent_drain();
        }
        i += len;
    }
    agent_drain();
    admin_debug_fini(&fz.d);
    /* Admin holds no end of the agent's socket any more. */
    if (fz.agent >= 0) {
        char c;
        ssize_t n;
        while ((n = recv(fz.agent, &c, 1, MSG_DONTWAIT)) > 0)
            ;
        if (n < 0 && errno == EAGAIN)
            kos_fuzz_fail("admin still holds the agent's socket after fini");
    }
    agent_close();
    return 0;
}
