/*
 * test_ethernet_wire.c - kos_ethernet_protocol's wire codec and host syntax
 * (lib/ethernet.c): requests and replies round-trip; every truncation, every
 * byte of padding, a lying host length, non-zero reserved fields, a param,
 * unknown transports, port 0 and invalid hosts are refused with the status
 * the header documents; hosts are classified as names, addresses (IPv4,
 * IPv6, IPv4-mapped) or invalid.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ethernet_int.h"

static uint8_t buf[KOS_MSG_MAX_PAYLOAD + 1];

static kos_status_t decode(const uint8_t *p, size_t len, struct kos__eth_connect *r)
{
    return kos__eth_connect_decode(0, p, len, r);
}

static uint32_t encode(const char *host, uint16_t port, uint32_t timeout)
{
    struct kos__eth_connect r = {
        .transport = KOS_ETHERNET_TCP, .port = port, .timeout_ms = timeout};
    uint32_t len = 0;
    strcpy(r.host, host);
    assert_int_equal(kos__eth_connect_encode(&r, buf, sizeof(buf), &len), KOS_STATUS_OK);
    return len;
}

static void test_round_trip(void **state)
{
    static const char *const hosts[] = {"broker.example.com", "10.0.0.5", "fd00::1",
                                        "[2001:db8::1]",      "a",        "xn--bcher-kva.example"};
    struct kos__eth_connect r;
    (void)state;

    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        uint32_t len = encode(hosts[i], 8883, 2500);
        assert_int_equal(len, KOS__ETH_CONNECT_HDR + strlen(hosts[i]));
        assert_int_equal(decode(buf, len, &r), KOS_STATUS_OK);
        assert_int_equal(r.transport, KOS_ETHERNET_TCP);
        assert_int_equal(r.port, 8883);
        assert_int_equal(r.timeout_ms, 2500);
        assert_string_equal(r.host, hosts[i]);
    }
    /* The layout is the documented one, little-endian. */
    uint32_t len = encode("ab", 0x1234, 0x01020304);
    static const uint8_t want[] = {1, 0, 0x34, 0x12, 4, 3, 2, 1, 2, 0, 0, 0, 'a', 'b'};
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));

    /* The longest host. */
    char longest[KOS_ETHERNET_HOST_MAX + 1];
    memset(longest, 'a', KOS_ETHERNET_HOST_MAX);
    for (size_t i = 63; i < KOS_ETHERNET_HOST_MAX; i += 64)
        longest[i] = '.';
    longest[KOS_ETHERNET_HOST_MAX] = '\0';
    len = encode(longest, 1, 0);
    assert_int_equal(decode(buf, len, &r), KOS_STATUS_OK);
    assert_string_equal(r.host, longest);
}

static void test_malformed(void **state)
{
    struct kos__eth_connect r;
    uint32_t len = encode("host.example", 80, 0);
    uint8_t copy[sizeof(buf)];
    (void)state;

    /* Every strict prefix and a byte of padding. */
    for (uint32_t cut = 0; cut < len; cut++)
        assert_int_equal(decode(buf, cut, &r), KOS_STATUS_PROTOCOL);
    buf[len] = 'x';
    assert_int_equal(decode(buf, len + 1, &r), KOS_STATUS_PROTOCOL);
    assert_int_equal(decode(NULL, 0, &r), KOS_STATUS_PROTOCOL);
    /* A param, where none belongs. */
    assert_int_equal(kos__eth_connect_decode(1, buf, len, &r), KOS_STATUS_PROTOCOL);
    /* Each reserved byte. */
    for (size_t at = 0; at < KOS__ETH_CONNECT_HDR; at++) {
        if (at != 1 && at != 10 && at != 11)
            continue;
        memcpy(copy, buf, len);
        copy[at] = 1;
        assert_int_equal(decode(copy, len, &r), KOS_STATUS_PROTOCOL);
    }
    /* A host length that disagrees with the payload, either way. */
    memcpy(copy, buf, len);
    copy[8] = (uint8_t)(len - KOS__ETH_CONNECT_HDR + 1);
    assert_int_equal(decode(copy, len, &r), KOS_STATUS_PROTOCOL);
    copy[8] = (uint8_t)(len - KOS__ETH_CONNECT_HDR - 1);
    assert_int_equal(decode(copy, len, &r), KOS_STATUS_PROTOCOL);
    copy[8] = 0;
    copy[9] = 1; /* 256 + ... */
    assert_int_equal(decode(copy, len, &r), KOS_STATUS_PROTOCOL);
}

static void test_invalid(void **state)
{
    struct kos__eth_connect r;
    uint8_t copy[sizeof(buf)];
    uint32_t len = encode("host.example", 80, 0);
    (void)state;

    /* Unknown transports, port 0. */
    memcpy(copy, buf, len);
    copy[0] = 2;
    assert_int_equal(decode(copy, len, &r), KOS_STATUS_INVALID_ARGUMENT);
    copy[0] = 0;
    assert_int_equal(decode(copy, len, &r), KOS_STATUS_INVALID_ARGUMENT);
    memcpy(copy, buf, len);
    copy[2] = copy[3] = 0;
    assert_int_equal(decode(copy, len, &r), KOS_STATUS_INVALID_ARGUMENT);
    /* An empty host, a host over 253 bytes. */
    memset(copy, 0, KOS__ETH_CONNECT_HDR);
    copy[0] = 1;
    copy[2] = 80;
    assert_int_equal(decode(copy, KOS__ETH_CONNECT_HDR, &r), KOS_STATUS_INVALID_ARGUMENT);
    copy[8] = 254;
    memset(copy + KOS__ETH_CONNECT_HDR, 'a', 254);
    assert_int_equal(decode(copy, KOS__ETH_CONNECT_HDR + 254, &r), KOS_STATUS_INVALID_ARGUMENT);
    /* Hosts with a NUL, a space, a newline (would forge log lines), a zone. */
    static const char *const bad[] = {"a\0b", "a b", "a\nb", "fe80::1%eth0", "a_b.example"};
    static const size_t bad_len[] = {3, 3, 3, 12, 11};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(copy, 0, KOS__ETH_CONNECT_HDR);
        copy[0] = 1;
        copy[2] = 80;
        copy[8] = (uint8_t)bad_len[i];
        memcpy(copy + KOS__ETH_CONNECT_HDR, bad[i], bad_len[i]);
        assert_int_equal(decode(copy, KOS__ETH_CONNECT_HDR + bad_len[i], &r),
                         KOS_STATUS_INVALID_ARGUMENT);
    }
    /* The encoder refuses what the decoder would. */
    struct kos__eth_connect e = {.transport = KOS_ETHERNET_TCP, .port = 80};
    strcpy(e.host, "bad host");
    assert_int_equal(kos__eth_connect_encode(&e, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    strcpy(e.host, "ok.example");
    e.port = 0;
    assert_int_equal(kos__eth_connect_encode(&e, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    e.port = 80;
    e.transport = 17;
    assert_int_equal(kos__eth_connect_encode(&e, buf, sizeof(buf), &len),
                     KOS_STATUS_INVALID_ARGUMENT);
    e.transport = KOS_ETHERNET_TCP;
    assert_int_equal(kos__eth_connect_encode(&e, buf, KOS__ETH_CONNECT_HDR + 9, &len),
                     KOS_STATUS_TOO_LARGE);
}

static enum kos__eth_host_kind kind(const char *s, struct kos_ethernet_addr *a)
{
    return kos__eth_host_parse(s, strlen(s), a);
}

static void test_hosts(void **state)
{
    struct kos_ethernet_addr a;
    (void)state;

    assert_int_equal(kind("10.0.0.5", &a), KOS__ETH_HOST_ADDR);
    assert_int_equal(a.family, KOS_ETHERNET_IPV4);
    assert_memory_equal(a.addr, ((uint8_t[]){10, 0, 0, 5}), 4);
    assert_int_equal(kind("::1", &a), KOS__ETH_HOST_ADDR);
    assert_int_equal(a.family, KOS_ETHERNET_IPV6);
    assert_int_equal(a.addr[15], 1);
    assert_int_equal(kind("[fd00::1]", &a), KOS__ETH_HOST_ADDR);
    assert_int_equal(a.addr[0], 0xfd);
    /* IPv4-mapped IPv6 is the IPv4 address, so allow lists see one form. */
    assert_int_equal(kind("::ffff:127.0.0.1", &a), KOS__ETH_HOST_ADDR);
    assert_int_equal(a.family, KOS_ETHERNET_IPV4);
    assert_memory_equal(a.addr, ((uint8_t[]){127, 0, 0, 1}), 4);

    static const char *const names[] = {"localhost", "broker.example.com", "a-b.c",
                                        "x1",        "123.example",        "EXAMPLE.com"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_int_equal(kind(names[i], NULL), KOS__ETH_HOST_NAME);

    static const char *const invalid[] = {
        "",
        "-a.example",
        "a-.example",
        "a..b",
        ".a",
        "a.",
        "10.0.0.256",
        "10.0.0",
        "1.2.3.4.5",
        "0x7f.1",
        "[10.0.0.1]",
        "[]",
        "[::1",
        "::1]",
        "fe80::1%1",
        "a b",
        "a_b",
        "*",
        "1:2:3:4:5:6:7:8:9",
        "[g::1]",
        "012345678901234567890123456789012345678901234567890123456789"
        "0123.x"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (kind(invalid[i], NULL) != KOS__ETH_HOST_INVALID)
            print_error("'%s' was not refused\n", invalid[i]);
        assert_int_equal(kind(invalid[i], NULL), KOS__ETH_HOST_INVALID);
    }
    /* A label of 63 is fine, 64 is not; the whole name at most 253. */
    char label[80];
    memset(label, 'a', 63);
    strcpy(label + 63, ".example");
    assert_int_equal(kind(label, NULL), KOS__ETH_HOST_NAME);
    memset(label, 'a', 64);
    strcpy(label + 64, ".example");
    assert_int_equal(kind(label, NULL), KOS__ETH_HOST_INVALID);
    char big[300];
    memset(big, 'a', sizeof(big));
    for (size_t i = 50; i < sizeof(big); i += 51)
        big[i] = '.';
    big[254] = '\0';
    assert_int_equal(kind(big, NULL), KOS__ETH_HOST_INVALID);
    big[253] = '\0';
    assert_int_equal(kind(big, NULL), KOS__ETH_HOST_NAME);
    /* A NUL inside: inet_pton() and name checks would stop at it. */
    assert_int_equal(kos__eth_host_parse("127.0.0.1\0.evil", 15, NULL), KOS__ETH_HOST_INVALID);
    assert_int_equal(kos__eth_host_parse("a.example\0", 10, NULL), KOS__ETH_HOST_INVALID);
    assert_int_equal(kos__eth_host_parse("[::1\0]", 6, NULL), KOS__ETH_HOST_INVALID);
}

static void test_conn(void **state)
{
    struct kos_ethernet_conn c =
                                 {
                                     .local = {.family = KOS_ETHERNET_IPV4,
                                               .port = 40000,
                                               .addr = {127, 0, 0, 1}},
                                     .remote = {.family = KOS_ETHERNET_IPV6,
                                                .port = 443,
                                                .addr = {0x20, 0x01, 0x0d, 0xb8}},
                                 },
                             back;
    uint8_t p[KOS__ETH_CONN_LEN + 1];
    char text[64];
    (void)state;

    c.remote.addr[15] = 1;
    kos__eth_conn_encode(&c, p);
    assert_int_equal(kos__eth_conn_decode(p, KOS__ETH_CONN_LEN, &back), KOS_STATUS_OK);
    assert_int_equal(back.local.family, c.local.family);
    assert_int_equal(back.local.port, c.local.port);
    assert_memory_equal(back.local.addr, c.local.addr, 16);
    assert_int_equal(back.remote.family, c.remote.family);
    assert_int_equal(back.remote.port, c.remote.port);
    assert_memory_equal(back.remote.addr, c.remote.addr, 16);
    assert_string_equal(kos_ethernet_addr_format(&back.local, text, sizeof(text)),
                        "127.0.0.1:40000");
    assert_string_equal(kos_ethernet_addr_format(&back.remote, text, sizeof(text)),
                        "[2001:db8::1]:443");
    /* Wrong sizes, families, reserved bytes, IPv4 with bytes past its 4. */
    assert_int_equal(kos__eth_conn_decode(p, KOS__ETH_CONN_LEN - 1, &back), KOS_STATUS_PROTOCOL);
    assert_int_equal(kos__eth_conn_decode(p, KOS__ETH_CONN_LEN + 1, &back), KOS_STATUS_PROTOCOL);
    p[0] = 5;
    assert_int_equal(kos__eth_conn_decode(p, KOS__ETH_CONN_LEN, &back), KOS_STATUS_PROTOCOL);
    p[0] = KOS_ETHERNET_IPV4;
    p[1] = 1;
    assert_int_equal(kos__eth_conn_decode(p, KOS__ETH_CONN_LEN, &back), KOS_STATUS_PROTOCOL);
    p[1] = 0;
    p[10] = 1;
    assert_int_equal(kos__eth_conn_decode(p, KOS__ETH_CONN_LEN, &back), KOS_STATUS_PROTOCOL);
    struct kos_ethernet_addr bad = {.family = 9};
    assert_string_equal(kos_ethernet_addr_format(&bad, text, sizeof(text)), "?");
}

/* The client refuses bad arguments before any round trip. */
static void test_client_args(void **state)
{
    int fd = 7;
    (void)state;

    assert_int_equal(kos_ethernet_connect(NULL, "a", 1, 100, &fd, NULL),
                     KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(fd, -1);
    assert_int_equal(kos_ethernet_open(NULL, NULL, 0, NULL), KOS_STATUS_INVALID_ARGUMENT);
    assert_int_equal(kos_ethernet_last_error(NULL), 0);
    kos_ethernet_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_invalid),    cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_conn),       cmocka_unit_test(test_client_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
