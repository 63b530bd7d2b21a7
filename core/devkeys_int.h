/*
 * devkeys_int.h - the device key bundle Core hands to key_store
 * (`kos-tool run --keys DIR`, docs/keys.md).
 *
 * Core reads the bundle's index, opens each key file read-only and keeps the
 * descriptors for the life of the system; the one app whose manifest entry
 * says device_keys: true receives them (again at each restart) as
 * resources named like the index's entries (identity, tunnel, trusted_0,
 * ...). Core never reads a key's bytes, and never hands a key to any other
 * process. What stays true: every private key descriptor refers to a
 * regular file that only its owner may access, checked on the open file.
 */
#ifndef KOS_CORE_DEVKEYS_INT_H
#define KOS_CORE_DEVKEYS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <kos/status.h>

#include "keys_int.h"

struct kos__devkey {
    char name[32]; /* the resource name key_store looks it up by */
    char type[8];  /* ed25519 | x25519 */
    char id[2 * KOS__KEY_ID_LEN + 1];
    bool private_key;
    int fd; /* read-only, close-on-exec */
};

struct kos__devkeys {
    struct kos__devkey e[KOS__BUNDLE_MAX_ENTRIES];
    size_t n;
};

/* Reads bundle `dir` and opens its key files. Refuses an index that
 * kos__key_bundle_read() refuses, a key file that is a symbolic link or not
 * a regular file, and a private key that group or others may access; err
 * names the file. On failure nothing stays open and *out is empty. May
 * block on the file system. */
kos_status_t kos__devkeys_open(const char *dir, struct kos__devkeys *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Closes every descriptor; *keys is then empty. Harmless on an empty set. */
void kos__devkeys_close(struct kos__devkeys *keys);

#endif
