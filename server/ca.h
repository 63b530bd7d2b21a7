/*
 * ca.h - the server's certificate authority: an Ed25519 key and a
 * self-signed certificate, made once in the data folder, which issues the
 * device port's certificate and every device's certificate
 * (docs/link.md, "Who the device is").
 *
 * What stays true: the CA's private key never leaves this object and its
 * file (DIR/ca.key, mode 0600); every certificate it issues is X.509 v3 and
 * verifies against its certificate. A device certificate certifies the
 * device's Ed25519 identity key under subject CN = the device id (the hex
 * SHA-256 of the raw public key) for client authentication; the device
 * port's certifies a fresh key for IP:127.0.0.1, DNS:localhost and the
 * address the port listens on, for server authentication.
 */
#ifndef KOS_SERVER_CA_H
#define KOS_SERVER_CA_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include <kos/status.h>

#define KOS__CA_KEY_FILE     "ca.key"
#define KOS__CA_CERT_FILE    "ca.crt"
#define KOS__CA_PORT_KEY     "server.key"
#define KOS__CA_PORT_CERT    "server.crt"
#define KOS__ED25519_KEY_LEN 32u

struct kos__ca;

/*
 * Loads the CA from folder `dir` (DIR/ca.key and DIR/ca.crt), or, when
 * neither exists, makes a new one there (the key 0600). Refuses one file
 * without the other, a key open to group or others, a key that is not
 * Ed25519 and a certificate that is not the key's; err says which file and
 * why. On success *out is the caller's (kos__ca_close). Blocks on file I/O.
 */
kos_status_t kos__ca_open(const char *dir, struct kos__ca **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Frees it, wiping the key. kos__ca_close(NULL) does nothing. */
void kos__ca_close(struct kos__ca *ca);

/* The CA's certificate, PEM, NUL-terminated; the CA's own. */
const char *kos__ca_cert_pem(const struct kos__ca *ca);

/*
 * Reads a device's public key from pem[0..len) as an API client sent it:
 * exactly one SubjectPublicKeyInfo PEM block ("-----BEGIN PUBLIC KEY-----"),
 * whitespace around it allowed, of an Ed25519 key. Puts the raw key in
 * raw. Refuses anything else, saying what it was (a private key, another
 * key type, not PEM). Never blocks.
 */
kos_status_t kos__ca_parse_public_key(const char *pem, size_t len,
                                      uint8_t raw[KOS__ED25519_KEY_LEN], char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The device id of raw public key `raw`: 64 lowercase hex digits and NUL. */
void kos__ca_device_id(const uint8_t raw[KOS__ED25519_KEY_LEN], char id[65]);

/* Issues a device certificate for `raw`. On success *pem is a new
 * NUL-terminated PEM string, the caller's (free). */
kos_status_t kos__ca_issue_device(struct kos__ca *ca, const uint8_t raw[KOS__ED25519_KEY_LEN],
                                  char **pem, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Makes the device port's key and certificate for IPv4 address `ip` (and
 * 127.0.0.1, localhost), writes them to DIR/server.key (0600) and
 * DIR/server.crt for inspection, and returns a TLS server context for
 * kos__devport_create(): TLS 1.3 only, the client's certificate required
 * and verified against the CA, no session tickets or cache, idle buffers
 * released. NULL with err set on failure. The context is the caller's
 * (SSL_CTX_free). Blocks on file I/O.
 */
SSL_CTX *kos__ca_port_ctx(struct kos__ca *ca, const char *dir, const char *ip, char *err,
                          size_t errlen);

#endif
