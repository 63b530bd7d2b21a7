/*
 * fuzz_keys.c - libFuzzer harness for the key files kos-tool and the image
 * reader take from outside (manifest/keys.c): a device key bundle's index,
 * bundle.txt (kos__key_bundle_read(), for `kos-tool run --keys`), release
 * key files (kos__key_load_public(), kos__key_load_private()), and the test
 * that keeps private keys out of images (kos__key_blob_is_private()).
 *
 * The first input byte picks what the rest is (sel % 3):
 *   0  bundle.txt, written into a scratch bundle folder that holds real
 *      files: identity.key (0600) and .pub, tunnel.key (0600) and .pub,
 *      trusted/0011223344556677.pub, loose.key (0644: open to others),
 *      link.pub (a symbolic link to identity.pub), and out/, a symbolic
 *      link to a folder outside the bundle holding x.pub and x.key (0600);
 *   1  a key file (mode 0600), through kos__key_load_public() (sel & 4 == 0)
 *      or kos__key_load_private();
 *   2  any bytes, through kos__key_blob_is_private() and key_store's own
 *      ks_blob_is_private_key() and ks_key_parse().
 *
 * The promises checked (keys_int.h, ks.h): a bundle that reads lists at
 * most KOS__BUNDLE_MAX_ENTRIES keys, each of a known type with a 16-digit
 * id, each file a regular file inside the bundle (not reached through a
 * symbolic link), no private key open to group or others; a refused bundle
 * lists nothing and says why; a loaded key is Ed25519 and has an id; what
 * manifest.build's private-key check flags key_store's flags too, and both
 * flag every private key key_store would load.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "keys_int.h"
#include "ks.h"

enum { SEL_BUNDLE, SEL_KEYFILE, SEL_BLOB };

static struct {
    bool ready;
    char root[64];         /* scratch: root/bundle, root/outside */
    char bundle[PATH_MAX]; /* realpath of root/bundle */
    char index[PATH_MAX + 16];
    char keyfile[PATH_MAX + 16];
    struct kos__bundle b;
} fz;

static void put_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[PATH_MAX + 64];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fchmod(fd, mode) != 0 ||
        close(fd) != 0)
        kos_fuzz_fail("cannot write %s: %s", path, strerror(errno));
}

static void sub(char *out, size_t cap, const char *a, const char *b)
{
    if ((size_t)snprintf(out, cap, "%s/%s", a, b) >= cap)
        kos_fuzz_fail("path too long");
}

static void remove_tree(void)
{
    static const char *const files[] = {
        "bundle/bundle.txt", "bundle/identity.key", "bundle/identity.pub",
        "bundle/tunnel.key", "bundle/tunnel.pub",   "bundle/loose.key",
        "bundle/link.pub",   "bundle/out",          "bundle/trusted/0011223344556677.pub",
        "outside/x.pub",     "outside/x.key",       "keyfile",
    };
    char path[PATH_MAX];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        sub(path, sizeof(path), fz.root, files[i]);
        unlink(path);
    }
    sub(path, sizeof(path), fz.root, "bundle/trusted");
    rmdir(path);
    sub(path, sizeof(path), fz.root, "bundle");
    rmdir(path);
    sub(path, sizeof(path), fz.root, "outside");
    rmdir(path);
    rmdir(fz.root);
}

static void setup(void)
{
    static const char pub[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
                              "-----END PUBLIC KEY-----\n";
    static const char priv[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                               "-----END PRIVATE KEY-----\n";
    char dir[PATH_MAX], out[PATH_MAX];

    snprintf(fz.root, sizeof(fz.root), "/tmp/kos-fuzz-keys.XXXXXX");
    if (!mkdtemp(fz.root))
        kos_fuzz_fail("mkdtemp: %s", strerror(errno));
    atexit(remove_tree);
    sub(dir, sizeof(dir), fz.root, "bundle");
    sub(out, sizeof(out), fz.root, "outside");
    if (mkdir(dir, 0700) != 0 || mkdir(out, 0700) != 0)
        kos_fuzz_fail("mkdir: %s", strerror(errno));
    put_file(dir, "identity.key", priv, 0600);
    put_file(dir, "identity.pub", pub, 0644);
    put_file(dir, "tunnel.key", priv, 0600);
    put_file(dir, "tunnel.pub", pub, 0644);
    put_file(dir, "loose.key", priv, 0644);
    put_file(out, "x.pub", pub, 0644);
    put_file(out, "x.key", priv, 0600);
    sub(fz.index, sizeof(fz.index), dir, "trusted");
    if (mkdir(fz.index, 0700) != 0)
        kos_fuzz_fail("mkdir: %s", strerror(errno));
    put_file(fz.index, "0011223344556677.pub", pub, 0644);
    sub(fz.index, sizeof(fz.index), dir, "link.pub");
    if (symlink("identity.pub", fz.index) != 0)
        kos_fuzz_fail("symlink: %s", strerror(errno));
    sub(fz.index, sizeof(fz.index), dir, "out");
    if (symlink("../outside", fz.index) != 0)
        kos_fuzz_fail("symlink: %s", strerror(errno));
    if (!realpath(dir, fz.bundle))
        kos_fuzz_fail("realpath: %s", strerror(errno));
    sub(fz.index, sizeof(fz.index), fz.bundle, KOS__BUNDLE_INDEX);
    sub(fz.keyfile, sizeof(fz.keyfile), fz.root, "keyfile");
    fz.ready = true;
}

static void write_input(const char *path, const uint8_t *p, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    if (fd < 0 || (len && write(fd, p, len) != (ssize_t)len) || close(fd) != 0)
        kos_fuzz_fail("cannot write %s: %s", path, strerror(errno));
}

static void run_bundle(const uint8_t *p, size_t len)
{
    struct kos__bundle *b = &fz.b;
    size_t dl = strlen(fz.bundle);
    char err[512] = "", real[PATH_MAX];
    struct stat sb;
    kos_status_t st;

    write_input(fz.index, p, len, 0644);
    st = kos__key_bundle_read(fz.bundle, b, err, sizeof(err));
    if (st != KOS_STATUS_OK) {
        if (b->n != 0 || err[0] == '\0')
            kos_fuzz_fail("a refused bundle (%s) lists %zu keys or does not say why",
                          kos_status_str(st), b->n);
        return;
    }
    if (b->n > KOS__BUNDLE_MAX_ENTRIES)
        kos_fuzz_fail("a bundle lists %zu keys", b->n);
    for (size_t i = 0; i < b->n; i++) {
        const struct kos__bundle_entry *e = &b->e[i];

        if ((strcmp(e->type, "ed25519") && strcmp(e->type, "x25519")) || strlen(e->id) != 16 ||
            e->name[0] == '\0')
            kos_fuzz_fail("bundle entry %zu: type '%s', id '%s'", i, e->type, e->id);
        if (lstat(e->path, &sb) != 0 || !S_ISREG(sb.st_mode))
            kos_fuzz_fail("bundle entry %zu: %s is not a regular file", i, e->path);
        if (e->private_key && (sb.st_mode & 077))
            kos_fuzz_fail("bundle entry %zu: private key %s is open to others", i, e->path);
        if (!realpath(e->path, real) || strncmp(real, fz.bundle, dl) != 0 || real[dl] != '/')
            kos_fuzz_fail("bundle entry %zu: %s is %s, outside the bundle %s", i, e->path, real,
                          fz.bundle);
    }
}

static void run_keyfile(const uint8_t *p, size_t len, bool private_key)
{
    EVP_PKEY *k = NULL;
    uint8_t id[KOS__KEY_ID_LEN];
    char err[512] = "";
    kos_status_t st;

    write_input(fz.keyfile, p, len, 0600);
    st = private_key ? kos__key_load_private(fz.keyfile, &k, err, sizeof(err))
                     : kos__key_load_public(fz.keyfile, &k, err, sizeof(err));
    if (st != KOS_STATUS_OK) {
        if (k != NULL || err[0] == '\0')
            kos_fuzz_fail("a refused key file (%s) gives a key or does not say why",
                          kos_status_str(st));
        return;
    }
    if (!k || !EVP_PKEY_is_a(k, "ED25519"))
        kos_fuzz_fail("a loaded release key is not Ed25519");
    if (kos__key_id(k, id) != KOS_STATUS_OK)
        kos_fuzz_fail("a loaded release key has no id");
    EVP_PKEY_free(k);
}

static void run_blob(const uint8_t *p, size_t len)
{
    bool a = kos__key_blob_is_private(len ? p : NULL, len);
    bool b = ks_blob_is_private_key(len ? p : NULL, len);
    struct ks_raw_key k;
    char err[256];

    /* manifest.build's check wants a whole PEM header line (so that a
     * binary holding the words passes); key_store's, for its own files,
     * takes any mention: what the first sees, the second must too. */
    if (a && !b)
        kos_fuzz_fail("kos__key_blob_is_private sees a private key ks_blob_is_private_key misses");
    if (ks_key_parse((const char *)p, len, &k, err, sizeof(err)) == KOS_STATUS_OK) {
        if (k.private_key && !(a && b))
            kos_fuzz_fail("a private key key_store loads is not seen as one (image check %d, "
                          "key_store's %d)",
                          a, b);
        kstore_wipe(&k, sizeof(k));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.ready)
        setup();
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case SEL_BUNDLE:
        run_bundle(data + 1, size - 1);
        break;
    case SEL_KEYFILE:
        run_keyfile(data + 1, size - 1, data[0] & 4);
        break;
    default:
        run_blob(data + 1, size - 1);
        break;
    }
    return 0;
}
