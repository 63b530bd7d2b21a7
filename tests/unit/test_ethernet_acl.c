/*
 * test_ethernet_acl.c - ethernet's settings (components/ethernet/acl.c):
 * the allow list grants exactly the apps, hosts, networks and ports it
 * names, and nothing when it does not parse; the hosts table; every
 * malformed setting is refused with a message naming what was expected and
 * where. (Its durations, counts and log budget are lib's: test_config.c,
 * test_budget.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eth.h"

static struct eth_acl acl;
static struct eth_hosts hosts;

/* Whether `app` may connect to host:port under the list parsed last. */
static bool allowed(const char *app, const char *host, uint16_t port)
{
    struct kos_ethernet_addr a;
    enum kos__eth_host_kind k = kos__eth_host_parse(host, strlen(host), &a);
    return eth_acl_find(&acl, app, KOS_ETHERNET_TCP, host, strlen(host), k, &a, port) != NULL;
}

static void parse_ok(const char *text)
{
    char err[256] = "";
    kos_status_t st = eth_acl_parse(&acl, text, err, sizeof(err));
    if (st)
        print_error("%s: %s\n", text, err);
    assert_int_equal(st, KOS_STATUS_OK);
}

static void test_allow(void **state)
{
    (void)state;
    parse_ok("sensor = tcp:Broker.Example.com:8883 ;"
             "updater=tcp:10.0.0.0/8:443, tcp:[fd00::/8]:443,tcp:192.0.2.7:8000-8099;"
             "any=tcp:*:80; ports=tcp:198.51.100.1:*;");
    assert_int_equal(acl.n, 6);

    /* Names: exactly the one named, any case, its port only. */
    assert_true(allowed("sensor", "broker.example.com", 8883));
    assert_true(allowed("sensor", "BROKER.example.COM", 8883));
    assert_false(allowed("sensor", "broker.example.com", 8884));
    assert_false(allowed("sensor", "evil.broker.example.com", 8883));
    assert_false(allowed("sensor", "broker.example.co", 8883));
    /* A name's rule does not cover the address it resolves to, nor another app. */
    assert_false(allowed("sensor", "192.0.2.10", 8883));
    assert_false(allowed("updater", "broker.example.com", 8883));
    assert_false(allowed("Sensor", "broker.example.com", 8883)); /* app names are exact */

    /* Networks: every address inside, none outside; not names. */
    assert_true(allowed("updater", "10.0.0.1", 443));
    assert_true(allowed("updater", "10.255.255.255", 443));
    assert_false(allowed("updater", "11.0.0.1", 443));
    assert_false(allowed("updater", "9.255.255.255", 443));
    assert_true(allowed("updater", "fd12:3456::1", 443));
    assert_true(allowed("updater", "[fdff::1]", 443));
    assert_false(allowed("updater", "fe80::1", 443));
    assert_false(allowed("updater", "updates.example", 443));
    /* IPv4-mapped IPv6 is its IPv4 address. */
    assert_true(allowed("updater", "::ffff:10.1.2.3", 443));
    assert_false(allowed("updater", "::ffff:11.1.2.3", 443));
    /* Ranges: both ends included. */
    assert_true(allowed("updater", "192.0.2.7", 8000));
    assert_true(allowed("updater", "192.0.2.7", 8099));
    assert_false(allowed("updater", "192.0.2.7", 7999));
    assert_false(allowed("updater", "192.0.2.7", 8100));
    assert_false(allowed("updater", "192.0.2.8", 8000));

    /* '*' hosts and ports. */
    assert_true(allowed("any", "anything.example", 80));
    assert_true(allowed("any", "203.0.113.9", 80));
    assert_true(allowed("any", "2001:db8::1", 80));
    assert_false(allowed("any", "anything.example", 81));
    assert_true(allowed("ports", "198.51.100.1", 1));
    assert_true(allowed("ports", "198.51.100.1", 65535));

    /* Nobody else; invalid hosts never. */
    assert_false(allowed("other", "10.0.0.1", 443));
    assert_false(allowed("any", "bad host", 80));
    assert_null(eth_acl_find(&acl, NULL, KOS_ETHERNET_TCP, "a", 1, KOS__ETH_HOST_NAME, NULL, 80));
    assert_false(eth_acl_find(&acl, "any", 2, "a.example", 9, KOS__ETH_HOST_NAME, NULL, 80));

    /* Rules print as they are written (canonically). */
    static const char *const printed[] = {
        "tcp:broker.example.com:8883", "tcp:10.0.0.0/8:443", "tcp:[fd00::/8]:443",
        "tcp:192.0.2.7:8000-8099",     "tcp:*:80",           "tcp:198.51.100.1:*",
    };
    for (size_t i = 0; i < acl.n; i++) {
        char buf[300];
        eth_rule_format(&acl.r[i], buf, sizeof(buf));
        assert_string_equal(buf, printed[i]);
    }

    /* Nothing and empty allow nothing. */
    parse_ok(NULL);
    assert_int_equal(acl.n, 0);
    parse_ok("  ;; ");
    assert_int_equal(acl.n, 0);
    assert_false(allowed("sensor", "broker.example.com", 8883));

    /* Networks of every prefix length, and single addresses. */
    parse_ok("a=tcp:0.0.0.0/0:1,tcp:[::/0]:2,tcp:[::1]:3,tcp:[::ffff:10.0.0.0/104]:4");
    assert_true(allowed("a", "1.2.3.4", 1));
    assert_false(allowed("a", "::1", 1));
    assert_true(allowed("a", "2001:db8::7", 2));
    assert_true(allowed("a", "::1", 3));
    assert_false(allowed("a", "::2", 3));
    assert_true(allowed("a", "10.9.9.9", 4));
    assert_false(allowed("a", "11.9.9.9", 4));
}

struct bad_case {
    const char *text;
    const char *msg;
};

static void test_allow_bad(void **state)
{
    static const struct bad_case cases[] = {
        {"sensor", "allow: expected APP=tcp:HOST:PORTS,... at offset 0 ('sensor')"},
        {"=tcp:a.example:1", "allow: expected APP=tcp:HOST:PORTS,... at offset 0"},
        {"s=udp:1.2.3.4:53", "allow: expected tcp:HOST:PORTS (only TCP connections are opened) "
                             "at offset 2 ('udp:1.2.3.4:53')"},
        {"s=tcp:a.example", "allow: expected ':' and the ports after the host at offset 15"},
        {"s=tcp:a.example:", "allow: expected a port (1-65535), a range (8000-8099) or '*' at "
                             "offset 16"},
        {"s=tcp:a.example:0", "allow: expected a port (1-65535)"},
        {"s=tcp:a.example:65536", "allow: expected a port (1-65535)"},
        {"s=tcp:a.example:99999999999", "allow: expected a port (1-65535)"},
        {"s=tcp:a.example:90-80", "allow: expected the end of a port range, at least its start "
                                  "and at most 65535 at offset 16 ('90-80')"},
        {"s=tcp:a.example:80-", "allow: expected the end of a port range"},
        {"s=tcp:a.example:80x", "allow: expected ',' or ';' at offset 18 ('x')"},
        {"s=tcp:a_b.example:80", "allow: expected ':' and the ports after the host at offset 7"},
        {"s=tcp:bad..name:80", "allow: expected a host: '*', a name, an IPv4 address or network"},
        {"s=tcp:10.0.0.256:80", "allow: expected a host"},
        {"s=tcp:::1:80", "allow: expected a host: '*', a name (at most 253 characters)"},
        {"s=tcp:[::1:80", "allow: expected an IPv6 address or network in brackets"},
        {"s=tcp:[]:80", "allow: expected an IPv6 address or network in brackets"},
        {"s=tcp:[10.0.0.1]:80", "allow: expected an IPv6 address or network in brackets"},
        {"s=tcp:10.0.0.0/33:80", "allow: expected a network prefix of 0 to 32 bits after '/'"},
        {"s=tcp:10.0.0.0/:80", "allow: expected a network prefix of 0 to 32 bits"},
        {"s=tcp:10.0.0.0/8/8:80", "allow: expected a network prefix of 0 to 32 bits"},
        {"s=tcp:[fd00::/129]:80", "allow: expected a network prefix of 0 to 128 bits"},
        {"s=tcp:10.0.0.1/8:80", "allow: expected a network address whose bits beyond the prefix "
                                "are zero (e.g. 10.0.0.0/8)"},
        {"s=tcp:[fd00::1/8]:80", "allow: expected a network address whose bits beyond"},
        {"s=tcp:name.example/8:80", "allow: expected a host"},
        {"s=tcp:[::ffff:10.0.0.0/8]:80", "allow: expected a prefix of at least 96 bits for an "
                                         "IPv4-mapped network"},
        {"a234567890123456789012345678901234567890123456789012345678901234=tcp:*:1",
         "allow: expected an app name of at most 63 characters at offset 0"},
        {"s=tcp:*:1 t=tcp:*:2", "allow: expected ',' or ';' at offset 10 ('t=tcp:*:2')"},
        {"s=tcp:*:1,", "allow: expected tcp:HOST:PORTS (only TCP connections are opened) at "
                       "offset 10"},
        {"s\n=tcp:*:1", "allow: expected APP=tcp:HOST:PORTS,... at offset 0"},
    };
    char err[256];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        kos_status_t st = eth_acl_parse(&acl, cases[i].text, err, sizeof(err));
        if (st != KOS_STATUS_INVALID_ARGUMENT || strncmp(err, cases[i].msg, strlen(cases[i].msg)))
            print_error("'%s': status %d, '%s'\n   wanted '%s'\n", cases[i].text, (int)st, err,
                        cases[i].msg);
        assert_int_equal(st, KOS_STATUS_INVALID_ARGUMENT);
        assert_true(strncmp(err, cases[i].msg, strlen(cases[i].msg)) == 0);
        assert_int_equal(acl.n, 0); /* a list that fails grants nothing */
    }

    /* At most 128 destinations. */
    char *many = malloc(129 * 16 + 8);
    assert_non_null(many);
    strcpy(many, "a=");
    for (int i = 0; i < 129; i++)
        sprintf(many + strlen(many), "%stcp:*:%d", i ? "," : "", i + 1);
    assert_int_equal(eth_acl_parse(&acl, many, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "at most 128 destinations in all"));
    many[strlen(many) - strlen(",tcp:*:129")] = '\0';
    assert_int_equal(eth_acl_parse(&acl, many, err, sizeof(err)), KOS_STATUS_OK);
    assert_int_equal(acl.n, 128);
    free(many);
}

static void test_hosts_table(void **state)
{
    struct kos_ethernet_addr a[ETH_HOST_ADDRS];
    char err[256];
    size_t n;
    (void)state;

    assert_int_equal(eth_hosts_parse(&hosts,
                                     "Broker.Example.com = 192.0.2.10, [2001:db8::10] ;"
                                     "printer.lan=fd00::5",
                                     err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_int_equal(hosts.n, 2);
    assert_true(eth_hosts_lookup(&hosts, "broker.EXAMPLE.com", a, &n));
    assert_int_equal(n, 2);
    assert_int_equal(a[0].family, KOS_ETHERNET_IPV4);
    assert_int_equal(a[0].addr[3], 10);
    assert_int_equal(a[1].family, KOS_ETHERNET_IPV6);
    assert_int_equal(a[1].addr[15], 0x10);
    assert_true(eth_hosts_lookup(&hosts, "printer.lan", a, &n));
    assert_int_equal(n, 1);
    assert_false(eth_hosts_lookup(&hosts, "other.lan", a, &n));
    assert_int_equal(n, 0);
    /* localhost is built in, unless the table says otherwise. */
    assert_true(eth_hosts_lookup(&hosts, "localhost", a, &n));
    assert_int_equal(n, 2);
    assert_int_equal(a[0].addr[0], 127);
    assert_int_equal(a[1].addr[15], 1);
    assert_int_equal(eth_hosts_parse(&hosts, "localhost=10.0.0.1", err, sizeof(err)),
                     KOS_STATUS_OK);
    assert_true(eth_hosts_lookup(&hosts, "localhost", a, &n));
    assert_int_equal(n, 1);
    assert_int_equal(a[0].addr[0], 10);

    static const struct bad_case cases[] = {
        {"a.example", "hosts: expected '=' and the addresses after the name at offset 9"},
        {"a.example=", "hosts: expected an IPv4 or IPv6 address at offset 10"},
        {"a.example=host.example", "hosts: expected an IPv4 or IPv6 address at offset 10"},
        {"a.example=10.0.0.1 10.0.0.2", "hosts: expected ',' or ';' at offset 19"},
        {"10.0.0.1=10.0.0.1", "hosts: expected NAME=ADDRESS,... with a DNS name"},
        {"=10.0.0.1", "hosts: expected NAME=ADDRESS,..."},
        {"a.example=1.1.1.1;A.EXAMPLE=2.2.2.2", "hosts: expected each name once at offset 18"},
        {"a.example=1.0.0.1,1.0.0.2,1.0.0.3,1.0.0.4,1.0.0.5,1.0.0.6,1.0.0.7,1.0.0.8,1.0.0.9",
         "hosts: expected at most 8 addresses for one name"},
        {"a.example=fe80::1%eth0", "hosts: expected ',' or ';'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        kos_status_t st = eth_hosts_parse(&hosts, cases[i].text, err, sizeof(err));
        if (st != KOS_STATUS_INVALID_ARGUMENT || strncmp(err, cases[i].msg, strlen(cases[i].msg)))
            print_error("'%s': status %d, '%s'\n   wanted '%s'\n", cases[i].text, (int)st, err,
                        cases[i].msg);
        assert_int_equal(st, KOS_STATUS_INVALID_ARGUMENT);
        assert_true(strncmp(err, cases[i].msg, strlen(cases[i].msg)) == 0);
        assert_int_equal(hosts.n, 0);
    }
    /* At most 64 names. */
    char text[65 * 24];
    text[0] = '\0';
    for (int i = 0; i < 65; i++)
        sprintf(text + strlen(text), "h%d.example=10.0.0.1;", i);
    assert_int_equal(eth_hosts_parse(&hosts, text, err, sizeof(err)), KOS_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "at most 64 names"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_allow_bad),
        cmocka_unit_test(test_hosts_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
