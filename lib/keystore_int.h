/*
 * keystore_int.h - the wire form of kos_keystore_protocol requests, shared
 * by the client (lib/keystore.c) and the key_store component. The layout is
 * documented in include/kos/keystore.h.
 */
#ifndef KOS_KEYSTORE_INT_H
#define KOS_KEYSTORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kos/keystore.h>

/* A request, decoded or to encode. The pointers point into the payload it
 * was decoded from (or into the caller's buffers when encoding); `key` is a
 * copy, NUL-terminated. */
struct kos__ks_req {
    uint32_t label;
    uint64_t param;
    char key[KOS_KEYSTORE_KEY_NAME_MAX + 1];
    const uint8_t *sig;  /* VERIFY: KOS_KEYSTORE_SIGNATURE_LEN bytes */
    const uint8_t *peer; /* AGREE: KOS_KEYSTORE_PUBLIC_KEY_LEN bytes */
    const uint8_t *data; /* SIGN, VERIFY: data or digest; AGREE: label */
    size_t len;
};

/* True if name[0..len) is a valid key name: 1..KOS_KEYSTORE_KEY_NAME_MAX
 * characters from [a-z0-9_]. */
bool kos__ks_name_valid(const char *name, size_t len);

/* Decodes an untrusted request (label, param, payload) into *r, checking
 * every size before reading it. KOS_STATUS_UNSUPPORTED for an unknown
 * label, KOS_STATUS_PROTOCOL for a malformed payload (short, long, a bad
 * name length, trailing bytes, a param where none belongs),
 * KOS_STATUS_INVALID_ARGUMENT for a bad name, mode or length param,
 * KOS_STATUS_TOO_LARGE for data over KOS_KEYSTORE_DATA_MAX or a label over
 * KOS_KEYSTORE_LABEL_MAX. On error *r is unspecified. Never blocks. */
kos_status_t kos__ks_decode(uint32_t label, uint64_t param, const void *payload, size_t len,
                            struct kos__ks_req *r);

/* Checks *r as kos__ks_decode() would and encodes its payload into
 * out[0..cap), setting *len. Same statuses. Never blocks. */
kos_status_t kos__ks_encode(const struct kos__ks_req *r, uint8_t *out, size_t cap, uint32_t *len);

#endif
