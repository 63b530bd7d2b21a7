/*
 * fuzz_msgwire.c - libFuzzer harness for the message decoders in lib/: the
 * control records between Core and each process (boot_int.h) and the
 * directory conversation between an app and a message server
 * (msg_wire_int.h).
 *
 * The first input byte picks the decoder (its low 3 bits) and a parameter
 * (the high 5); the rest is the datagram:
 *   sel & 7 == 0  kos__boot_decode(rest)          a BOOT body
 *              1  kos__grants_decode(rest)        an ADD_CLIENT body
 *              2  kos__mw_decode(rest, nfds)      nfds = sel >> 3 (0..31): the
 *                                                 descriptors said to come with it
 *              3  rest sent as one SOCK_SEQPACKET datagram and read back with
 *                 kos__ctl_recv(), then decoded by its type as Core or the
 *                 process would
 *              4  rest sent as one datagram and read with kos__mw_recv()
 *              5  the other direction: rest fills a struct kos__mw, and what
 *                 kos__mw_encode() accepts must decode (msg_wire_int.h: the
 *                 encoder refuses "not a valid message")
 *              6  kos__self_test_decode(rest)     a SELF_TEST body (an app's
 *                                                 self-test report to Core)
 *              7  a record of Core's system interface (sys_int.h), by
 *                 sel >> 3: below 28, by its value % 7: 0 STATUS_REQ,
 *                 1 RESTART, 2 REBOOT, 3 CONSOLE_CREDIT (the requests Core
 *                 decodes from the app that manages the system), 4 STATUS,
 *                 5 RESULT, 6 CONSOLE (what that app decodes from Core);
 *                 28 and 30 TABLE_REQ, 29 and 31 TABLE
 * Every message type either table defines is reachable through 2 and 4 (the
 * seeds hold one of each, see fuzz_seeds.c). A decoder's verdict is checked
 * against its encoder: what decodes must encode back to exactly the same
 * bytes, since both sides share one fixed layout per type.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boot_int.h"
#include "fuzz.h"
#include "msg_wire_int.h"
#include "sys_int.h"

enum {
    SEL_BOOT,
    SEL_GRANTS,
    SEL_MW,
    SEL_CTL_SOCKET,
    SEL_MW_SOCKET,
    SEL_MW_ENCODE,
    SEL_SELF_TEST,
    SEL_SYS,
};

/* What the first call sets up; lives until the process exits. */
static struct {
    bool ready;
    int sock[2]; /* a connected SOCK_SEQPACKET pair: [0] sends, [1] receives */
    uint8_t ctl[KOS__CTL_MAX];
    uint8_t enc[KOS__CTL_MAX];
    struct kos__client_grants grants;
} fz;

static void setup(void)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fz.sock) != 0)
        kos_fuzz_fail("socketpair: %s", strerror(errno));
    fz.ready = true;
}

/* Fails unless buf[0..len) equals the encoding of what was decoded from it. */
static void same_bytes(const char *what, const void *buf, size_t len, size_t elen)
{
    if (elen != len || memcmp(fz.enc, buf, len) != 0)
        kos_fuzz_fail("%s: %zu bytes decode, but encode back to %zu different bytes", what, len,
                      elen);
}

/* The same for a record that may grow at its end (lib/sys.c, "Between
 * versions"): the encoding of what was decoded is buf[0..len) up to the
 * last field the decoder knows, bytes after that passed over, and optional
 * fields a shorter record left out encoded as zeros. */
static void same_prefix(const char *what, const void *buf, size_t len, size_t elen)
{
    size_t n = elen < len ? elen : len;

    if (memcmp(fz.enc, buf, n) != 0)
        kos_fuzz_fail("%s: %zu bytes decode, but encode back to different bytes", what, len);
    for (size_t i = n; i < elen; i++)
        if (fz.enc[i] != 0)
            kos_fuzz_fail("%s: %zu bytes decode, but encode back with %zu bytes more", what, len,
                          elen - len);
}

static void check_boot(const uint8_t *body, size_t len)
{
    struct kos__boot boot;
    size_t elen = 0;

    if (kos__boot_decode(body, len, &boot) != KOS_STATUS_OK)
        return;
    if (boot.n_dirs > KOS__BOOT_MAX_DIRS || boot.n_res > KOS__BOOT_MAX_RES ||
        !kos__name_valid(boot.name, strnlen(boot.name, KOS__NAME_MAX)))
        kos_fuzz_fail("kos__boot_decode accepted a record with %u dirs, %u resources, name ok %d",
                      boot.n_dirs, boot.n_res,
                      kos__name_valid(boot.name, strnlen(boot.name, KOS__NAME_MAX)));
    if (kos__boot_encode(&boot, fz.enc, sizeof(fz.enc), &elen) != KOS_STATUS_OK)
        kos_fuzz_fail("kos__boot_encode refuses what kos__boot_decode accepted");
    same_bytes("BOOT", body, len, elen);
}

static void check_grants(const uint8_t *body, size_t len)
{
    struct kos__client_grants *g = &fz.grants;
    size_t elen = 0;

    if (kos__grants_decode(body, len, g) != KOS_STATUS_OK)
        return;
    if (g->n_publish > KOS__GRANTS_MAX || g->n_request > KOS__GRANTS_MAX)
        kos_fuzz_fail("kos__grants_decode accepted %u + %u names", g->n_publish, g->n_request);
    for (uint32_t i = 0; i < g->n_publish + g->n_request; i++) {
        const char *s = i < g->n_publish ? g->publish[i] : g->request[i - g->n_publish];
        if (s < g->names || s >= g->names + sizeof(g->names) ||
            !kos__name_valid(s, strnlen(s, KOS__NAME_MAX)))
            kos_fuzz_fail("kos__grants_decode name %u is not a valid name in its buffer", i);
    }
    if (kos__grants_encode(g, fz.enc, sizeof(fz.enc), &elen) != KOS_STATUS_OK)
        kos_fuzz_fail("kos__grants_encode refuses what kos__grants_decode accepted");
    same_bytes("ADD_CLIENT", body, len, elen);
}

static void check_self_test(const uint8_t *body, size_t len)
{
    struct kos__self_test r;
    size_t elen = 0, n;

    if (kos__self_test_decode(body, len, &r) != KOS_STATUS_OK)
        return;
    if ((r.verdict != KOS__SELF_TEST_PASSED && r.verdict != KOS__SELF_TEST_FAILED) ||
        r.failed > r.checks || (r.verdict == KOS__SELF_TEST_PASSED && r.failed))
        kos_fuzz_fail("kos__self_test_decode accepted verdict %u with %u of %u failed", r.verdict,
                      r.failed, r.checks);
    n = strnlen(r.summary, KOS__SELF_TEST_TEXT_MAX);
    if (n >= KOS__SELF_TEST_TEXT_MAX || (const uint8_t *)r.summary < body ||
        (const uint8_t *)r.summary + n >= body + len)
        kos_fuzz_fail("kos__self_test_decode's summary is not a string inside the body");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r.summary[i] < 0x20 || r.summary[i] == 0x7f)
            kos_fuzz_fail("kos__self_test_decode accepted control character 0x%02x",
                          (unsigned char)r.summary[i]);
    if (kos__self_test_encode(&r, fz.enc, sizeof(fz.enc), &elen) != KOS_STATUS_OK)
        kos_fuzz_fail("kos__self_test_encode refuses what kos__self_test_decode accepted");
    same_bytes("SELF_TEST", body, len, elen);
}

/* A record of the system interface: what decodes is valid and encodes back
 * to the same bytes, as far as the decoder reads (its strings inside the
 * body). */
static void check_sys(uint32_t type, const uint8_t *body, size_t len)
{
    static struct kos__sys_status s; /* large: off the stack */
    static struct kos__sys_table tb;
    struct kos__sys_request rq;
    struct kos__sys_result rs;
    struct kos__sys_line ln;
    size_t elen = 0;
    kos_status_t st;

    switch (type) {
    case KOS__CTL_SYS_STATUS:
        if (kos__sys_status_decode(body, len, &s))
            return;
        if (s.n_procs > KOS__SYS_PAGE_PROCS || s.first + s.n_procs > s.n_total ||
            s.n_total > KOS__SYS_MAX_PROCS)
            kos_fuzz_fail("kos__sys_status_decode accepted %u processes from %u of %u", s.n_procs,
                          s.first, s.n_total);
        st = kos__sys_status_encode(&s, fz.enc, sizeof(fz.enc), &elen);
        break;
    case KOS__CTL_SYS_RESULT:
        if (kos__sys_result_decode(body, len, &rs))
            return;
        if (rs.status >= KOS_STATUS__COUNT)
            kos_fuzz_fail("kos__sys_result_decode accepted status %u", rs.status);
        st = kos__sys_result_encode(&rs, fz.enc, sizeof(fz.enc), &elen);
        break;
    case KOS__CTL_SYS_CONSOLE:
        if (kos__sys_line_decode(body, len, &ln))
            return;
        for (const char *c = ln.text; *c; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                kos_fuzz_fail("kos__sys_line_decode accepted control character 0x%02x",
                              (unsigned char)*c);
        st = kos__sys_line_encode(&ln, fz.enc, sizeof(fz.enc), &elen);
        break;
    case KOS__CTL_SYS_TABLE:
        if (kos__sys_table_decode(body, len, &tb))
            return;
        if (tb.n_rows > KOS__SYS_TABLE_PAGE_ROWS || tb.first + tb.n_rows > tb.n_total ||
            tb.n_total > KOS__SYS_TABLE_MAX_ROWS)
            kos_fuzz_fail("kos__sys_table_decode accepted %u rows from %u of %u", tb.n_rows,
                          tb.first, tb.n_total);
        for (uint32_t r = 0; r < tb.n_rows; r++)
            if (!kos__name_valid(tb.cell[r][0], strlen(tb.cell[r][0])))
                kos_fuzz_fail("kos__sys_table_decode accepted a row without a valid name");
        st = kos__sys_table_encode(&tb, fz.enc, sizeof(fz.enc), &elen);
        break;
    default:
        if (kos__sys_request_decode(type, body, len, &rq))
            return;
        if (type == KOS__CTL_SYS_RESTART && !kos__name_valid(rq.app, strlen(rq.app)))
            kos_fuzz_fail("kos__sys_request_decode accepted a restart of an invalid name");
        if (type == KOS__CTL_SYS_CONSOLE_CREDIT &&
            (rq.credit == 0 || rq.credit > KOS__SYS_CONSOLE_WINDOW))
            kos_fuzz_fail("kos__sys_request_decode accepted a credit of %u", rq.credit);
        if (type == KOS__CTL_SYS_TABLE_REQ &&
            ((rq.table != KOS__SYS_TABLE_GRANTS && rq.table != KOS__SYS_TABLE_KEYS) ||
             rq.first >= KOS__SYS_TABLE_MAX_ROWS))
            kos_fuzz_fail("kos__sys_request_decode accepted table %u from row %u", rq.table,
                          rq.first);
        st = kos__sys_request_encode(&rq, fz.enc, sizeof(fz.enc), &elen);
    }
    if (st != KOS_STATUS_OK)
        kos_fuzz_fail("the system interface's encoder refuses a type %u record its decoder "
                      "accepted",
                      type);
    same_prefix("a system interface record", body, len, elen);
}

static void run_sys(unsigned which, const uint8_t *body, size_t len)
{
    static const uint32_t types[] = {KOS__CTL_SYS_STATUS_REQ, KOS__CTL_SYS_RESTART,
                                     KOS__CTL_SYS_REBOOT,     KOS__CTL_SYS_CONSOLE_CREDIT,
                                     KOS__CTL_SYS_STATUS,     KOS__CTL_SYS_RESULT,
                                     KOS__CTL_SYS_CONSOLE};
    if (which >= 28)
        check_sys(which % 2 ? KOS__CTL_SYS_TABLE : KOS__CTL_SYS_TABLE_REQ, body, len);
    else
        check_sys(types[which % 7], body, len);
}

/* Checks a decoded directory message against its encoder. */
static void check_mw(const struct kos__mw *m, const uint8_t *buf, size_t len)
{
    size_t elen = 0;

    if (strcmp(kos__mw_type_name(m->type), "unknown") == 0)
        kos_fuzz_fail("kos__mw_decode accepted unknown type %u", m->type);
    if (m->status >= KOS_STATUS__COUNT)
        kos_fuzz_fail("kos__mw_decode accepted status %u", m->status);
    if (m->name[0] != '\0' && !kos__name_valid(m->name, strnlen(m->name, KOS__NAME_MAX)))
        kos_fuzz_fail("kos__mw_decode accepted an invalid name");
    if (kos__mw_encode(m, fz.enc, KOS__MW_MAX, &elen) != KOS_STATUS_OK)
        kos_fuzz_fail("kos__mw_encode refuses a %s that kos__mw_decode accepted",
                      kos__mw_type_name(m->type));
    same_bytes(kos__mw_type_name(m->type), buf, len, elen);
}

static void run_mw(const uint8_t *buf, size_t len, size_t nfds)
{
    struct kos__mw m;

    if (kos__mw_decode(buf, len, nfds, &m) != KOS_STATUS_OK)
        return;
    if (nfds != kos__mw_nfds(m.type, m.status))
        kos_fuzz_fail("kos__mw_decode accepted a %s with %zu descriptors; it carries %zu",
                      kos__mw_type_name(m.type), nfds, kos__mw_nfds(m.type, m.status));
    check_mw(&m, buf, len);
}

/* Sends buf as one datagram; false if the socket will not take it whole. */
static bool send_datagram(const uint8_t *buf, size_t len)
{
    ssize_t n = send(fz.sock[0], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n >= 0 && (size_t)n == len;
}

static void run_ctl_socket(const uint8_t *buf, size_t len)
{
    uint32_t type = 0;
    size_t blen = 0;
    int fd = -1;

    if (len == 0 || !send_datagram(buf, len))
        return;
    if (kos__ctl_recv(fz.sock[1], fz.ctl, sizeof(fz.ctl), &type, &blen, &fd, MSG_DONTWAIT) !=
        KOS_STATUS_OK)
        return;
    if (fd >= 0)
        kos_fuzz_fail("kos__ctl_recv produced descriptor %d; none was sent", fd);
    if (blen + sizeof(struct kos__ctl_hdr) != len ||
        memcmp(fz.ctl, buf + sizeof(struct kos__ctl_hdr), blen) != 0)
        kos_fuzz_fail("kos__ctl_recv returned a %zu-byte body from a %zu-byte datagram", blen, len);
    switch (type) {
    case KOS__CTL_BOOT:
        check_boot(fz.ctl, blen);
        break;
    case KOS__CTL_ADD_CLIENT:
        check_grants(fz.ctl, blen);
        break;
    case KOS__CTL_SELF_TEST:
        check_self_test(fz.ctl, blen);
        break;
    case KOS__CTL_SYS_STATUS_REQ:
    case KOS__CTL_SYS_RESTART:
    case KOS__CTL_SYS_REBOOT:
    case KOS__CTL_SYS_CONSOLE_CREDIT:
    case KOS__CTL_SYS_STATUS:
    case KOS__CTL_SYS_RESULT:
    case KOS__CTL_SYS_CONSOLE:
    case KOS__CTL_SYS_TABLE_REQ:
    case KOS__CTL_SYS_TABLE:
        check_sys(type, fz.ctl, blen);
        break;
    default:
        break; /* READY, STOP, APP_DOWN, CHANGED and unknown types have no decoder */
    }
}

static void run_mw_socket(const uint8_t *buf, size_t len)
{
    int fds[KOS__MW_MAX_FDS];
    struct kos__mw m;

    if (len == 0 || !send_datagram(buf, len))
        return;
    if (kos__mw_recv(fz.sock[1], &m, fds, MSG_DONTWAIT) != KOS_STATUS_OK)
        return;
    if (kos__mw_nfds(m.type, m.status) != 0)
        kos_fuzz_fail("kos__mw_recv accepted a %s without its descriptors",
                      kos__mw_type_name(m.type));
    check_mw(&m, buf, len);
}

/* Takes the next n (<= 8) bytes as a little-endian number; 0 past the end. */
static uint64_t take(const uint8_t **p, size_t *len, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i<n && * len> 0; i++, (*p)++, (*len)--)
        v |= (uint64_t) * *p << (8 * i);
    return v;
}

/* Encoder first: a message built from the input that kos__mw_encode() takes
 * must be one kos__mw_decode() takes, with the descriptors it says. */
static void run_mw_encode(const uint8_t *p, size_t len)
{
    struct kos__mw m, back;
    size_t elen = 0;
    uint8_t buf[KOS__MW_MAX];

    memset(&m, 0, sizeof(m));
    /* Small numbers are the interesting ones: bias the type and status. */
    m.type = (uint32_t)take(&p, &len, 1);
    m.status = (uint32_t)take(&p, &len, 1) % (KOS_STATUS__COUNT + 1u);
    m.id = (uint32_t)take(&p, &len, 4);
    m.endpoint = (uint32_t)take(&p, &len, 4);
    m.channel = (uint32_t)take(&p, &len, 4);
    m.app_id = (uint32_t)take(&p, &len, 4);
    m.timeout_ms = (int32_t)(uint32_t)take(&p, &len, 4);
    m.cookie = take(&p, &len, 8);
    memcpy(m.name, p, len < KOS__NAME_MAX - 1 ? len : KOS__NAME_MAX - 1);
    if (kos__mw_encode(&m, buf, sizeof(buf), &elen) != KOS_STATUS_OK)
        return;
    if (elen < KOS__MW_HDR_LEN || elen > KOS__MW_MAX)
        kos_fuzz_fail("kos__mw_encode wrote %zu bytes", elen);
    if (kos__mw_decode(buf, elen, kos__mw_nfds(m.type, m.status), &back) != KOS_STATUS_OK)
        kos_fuzz_fail("kos__mw_encode accepted a %s with status %u that kos__mw_decode refuses",
                      kos__mw_type_name(m.type), m.status);
    if (back.type != m.type || back.status != m.status)
        kos_fuzz_fail("a %s decodes as type %u, status %u", kos__mw_type_name(m.type), back.type,
                      back.status);
    check_mw(&back, buf, elen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.ready)
        setup();
    if (size == 0)
        return 0;
    unsigned sel = data[0];
    const uint8_t *rest = data + 1;
    size_t len = size - 1;

    switch (sel & 7) {
    case SEL_BOOT:
        check_boot(rest, len);
        break;
    case SEL_GRANTS:
        check_grants(rest, len);
        break;
    case SEL_MW:
        run_mw(rest, len, sel >> 3);
        break;
    case SEL_CTL_SOCKET:
        run_ctl_socket(rest, len);
        break;
    case SEL_MW_SOCKET:
        run_mw_socket(rest, len);
        break;
    case SEL_MW_ENCODE:
        run_mw_encode(rest, len);
        break;
    case SEL_SELF_TEST:
        check_self_test(rest, len);
        break;
    case SEL_SYS:
        run_sys(sel >> 3, rest, len);
        break;
    default:
        break;
    }
    return 0;
}
