/*
 * ethernet_int.h - the wire form of kos_ethernet_protocol, shared by the
 * client (lib/ethernet.c) and the ethernet component, and the host syntax
 * both check. The layout is documented in include/kos/ethernet.h.
 */
#ifndef KOS_ETHERNET_INT_H
#define KOS_ETHERNET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/ethernet.h>

#define KOS__ETH_CONNECT_HDR 12u /* u8 transport, u8 0, u16 port, u32 timeout, u16 len, u16 0 */
#define KOS__ETH_ADDR_LEN    20u /* u8 family, u8 0, u16 port, 16 bytes */
#define KOS__ETH_CONN_LEN    (2u * KOS__ETH_ADDR_LEN)

/* A CONNECT request, decoded or to encode. `host` is NUL-terminated. */
struct kos__eth_connect {
    uint8_t transport; /* KOS_ETHERNET_TCP */
    uint16_t port;
    uint32_t timeout_ms; /* 0: the server's own limit */
    char host[KOS_ETHERNET_HOST_MAX + 1];
};

/* What a host string is. */
enum kos__eth_host_kind {
    KOS__ETH_HOST_INVALID = 0,
    KOS__ETH_HOST_NAME = 1, /* a DNS name */
    KOS__ETH_HOST_ADDR = 2, /* a numeric IPv4 or IPv6 address */
};

/*
 * Classifies host[0..len): a numeric address (a dotted IPv4 address, or an
 * IPv6 address, optionally in brackets; an IPv4-mapped IPv6 address counts
 * as the IPv4 address it maps), filled into *addr's family and addr when
 * addr is not NULL (port untouched); a DNS name (1..253 characters, labels
 * of 1..63 letters, digits and '-' not starting or ending with '-', the
 * last label not all digits); or invalid (anything else, including zone
 * ids, NULs and spaces). Never blocks.
 */
enum kos__eth_host_kind kos__eth_host_parse(const char *host, size_t len,
                                            struct kos_ethernet_addr *addr);

/* Checks *r and encodes it into out[0..cap), setting *len.
 * KOS_STATUS_INVALID_ARGUMENT for an unknown transport, port 0 or a host
 * that kos__eth_host_parse() calls invalid; KOS_STATUS_TOO_LARGE if it does
 * not fit. Never blocks. */
kos_status_t kos__eth_connect_encode(const struct kos__eth_connect *r, uint8_t *out, size_t cap,
                                     uint32_t *len);

/* Decodes an untrusted CONNECT request, checking every size before reading
 * it: KOS_STATUS_PROTOCOL for a malformed payload (short, a host length
 * that disagrees with the payload's, non-zero reserved fields, a param),
 * KOS_STATUS_INVALID_ARGUMENT for an unknown transport, port 0, an empty,
 * overlong or invalid host. On error *r is unspecified. Never blocks. */
kos_status_t kos__eth_connect_decode(uint64_t param, const void *payload, size_t len,
                                     struct kos__eth_connect *r);

/* Writes a connection's two addresses (KOS__ETH_CONN_LEN bytes). */
void kos__eth_conn_encode(const struct kos_ethernet_conn *c, uint8_t out[KOS__ETH_CONN_LEN]);

/* Decodes a CONNECT reply's payload: KOS_STATUS_PROTOCOL unless it is
 * exactly KOS__ETH_CONN_LEN bytes of two well-formed addresses. */
kos_status_t kos__eth_conn_decode(const void *payload, size_t len, struct kos_ethernet_conn *c);

#endif
