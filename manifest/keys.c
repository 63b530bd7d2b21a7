/*
 * keys.c - release keys and device key bundles: generating, loading and
 * naming Ed25519 and X25519 key pairs.
 *
 * A release key pair is two PEM files: the private key (unencrypted PKCS#8,
 * mode 0600) that signs system images, and the public key
 * (SubjectPublicKeyInfo, mode 0644) that devices and `kos-tool run` trust.
 * A device bundle is a folder holding the device's own key pairs and copies
 * of the release public keys it trusts, with an index (docs/keys.md).
 * What stays true: a private key file is never overwritten, never written
 * readable by others, and never loaded if others can read it; every buffer
 * that held private key bytes is wiped before it is freed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "image.h"
#include "keys_int.h"

#define KEY_FILE_MAX (64u << 10) /* a PEM key is a few hundred bytes */

/* Refuses to decrypt: release keys are protected by file permissions, and a
 * prompt would hang a build. Returning -1 makes PEM reading fail cleanly. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

#define PEM_PUBLIC  "-----BEGIN PUBLIC KEY-----"
#define PEM_PRIVATE "PRIVATE KEY-----"

/* `path` with its ending `from` replaced by `to` in out, or "" when it does
 * not end so. */
static void sibling(const char *path, const char *from, const char *to, char *out, size_t outlen)
{
    size_t n = strlen(path), nf = strlen(from);

    out[0] = '\0';
    if (n > nf && strcmp(path + n - nf, from) == 0)
        snprintf(out, outlen, "%.*s%s", (int)(n - nf), path, to);
}

/* Says that `path`, given as a release private key, holds a public key,
 * and names the private half that keys.generate writes beside it. */
static void say_public_key(const char *what, const char *path, char *err, size_t errlen)
{
    char priv[4096];

    sibling(path, ".pub", ".key", priv, sizeof(priv));
    if (priv[0] && access(priv, F_OK) == 0)
        snprintf(err, errlen,
                 "%s %s is a public key (" PEM_PUBLIC "), not a private one: sign with its "
                 "private half, %s",
                 what, path, priv);
    else if (priv[0])
        snprintf(err, errlen,
                 "%s %s is a public key (" PEM_PUBLIC "), not a private one: sign with its "
                 "private half, which kos-tool keys.generate --release wrote as %s (not there now)",
                 what, path, priv);
    else
        snprintf(err, errlen,
                 "%s %s is a public key (" PEM_PUBLIC "), not a private one: sign with the "
                 "private half of the pair (release.key from kos-tool keys.generate --release)",
                 what, path);
}

/* True if the file at `fd` starts as a PEM public key. Reads only its first
 * line, which holds nothing secret whatever the file is. */
static bool starts_public(int fd)
{
    char head[sizeof(PEM_PUBLIC)];
    ssize_t n = pread(fd, head, sizeof(head) - 1, 0);

    return n == (ssize_t)sizeof(head) - 1 && memcmp(head, PEM_PUBLIC, sizeof(head) - 1) == 0;
}

/* Reads a whole key file into a fresh buffer (wipe and free it with
 * OPENSSL_clear_free). `what` names the file's role in messages. When
 * `private_key` is set, a file that group or others may access is refused. */
static kos_status_t read_key_file(const char *what, const char *path, bool private_key, char **out,
                                  size_t *out_len, char *err, size_t errlen)
{
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;
    char *buf = NULL;
    size_t len = 0, size = 0;
    struct stat sb;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: cannot open: %s", what, path, strerror(errno));
        return errno == ENOENT ? KOS_STATUS_NOT_FOUND : KOS_STATUS_IO;
    }
    if (fstat(fd, &sb) != 0) {
        snprintf(err, errlen, "%s %s: cannot stat: %s", what, path, strerror(errno));
        st = KOS_STATUS_IO;
        goto out_close_fd;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s %s is not a regular file", what, path);
        goto out_close_fd;
    }
    if (private_key && starts_public(fd)) {
        /* A public key given for a private one: say so before anything
         * about its mode, which is right for a public key. */
        say_public_key(what, path, err, errlen);
        goto out_close_fd;
    }
    if (private_key && (sb.st_mode & 077) != 0) {
        snprintf(err, errlen,
                 "%s %s may be read or written by group or others (mode %04o); "
                 "refusing to use it: run chmod 600 %s",
                 what, path, (unsigned)(sb.st_mode & 07777), path);
        st = KOS_STATUS_UNAUTHORIZED;
        goto out_close_fd;
    }
    if (sb.st_size <= 0 || (unsigned long long)sb.st_size > KEY_FILE_MAX) {
        snprintf(err, errlen, "%s %s is not a PEM key (%lld bytes)", what, path,
                 (long long)sb.st_size);
        goto out_close_fd;
    }
    size = (size_t)sb.st_size;
    buf = OPENSSL_malloc(size + 1);
    if (!buf) {
        snprintf(err, errlen, "%s %s: out of memory", what, path);
        st = KOS_STATUS_NO_MEMORY;
        goto out_close_fd;
    }
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
            st = KOS_STATUS_IO;
            goto out_free_buf;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    *out = buf;
    *out_len = len;
    return KOS_STATUS_OK;

out_free_buf:
    OPENSSL_clear_free(buf, size + 1);
out_close_fd:
    close(fd);
    return st;
}

/* Checks that pkey is an Ed25519 key; on failure frees it and says so. */
static kos_status_t require_ed25519(const char *what, const char *path, EVP_PKEY *pkey, char *err,
                                    size_t errlen)
{
    const char *type;

    if (EVP_PKEY_is_a(pkey, "ED25519"))
        return KOS_STATUS_OK;
    type = EVP_PKEY_get0_type_name(pkey);
    snprintf(err, errlen, "%s %s is a %s key, not Ed25519", what, path, type ? type : "unknown");
    EVP_PKEY_free(pkey);
    return KOS_STATUS_INVALID_ARGUMENT;
}

kos_status_t kos__key_load_private(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
    const char *what = "release key";
    EVP_PKEY *pkey = NULL;
    kos_status_t st;
    size_t len;
    char *buf;
    BIO *bio;

    st = read_key_file(what, path, true, &buf, &len, err, errlen);
    if (st)
        return st;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    }
    bool is_public = !pkey && strstr(buf, PEM_PUBLIC) && !strstr(buf, PEM_PRIVATE);
    OPENSSL_clear_free(buf, len + 1); /* len + 1 <= the allocated size */
    ERR_clear_error();
    if (is_public) {
        say_public_key(what, path, err, errlen);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (!pkey) {
        snprintf(err, errlen,
                 "%s %s is not an unencrypted PEM private key "
                 "(make one with kos-tool keys.generate --release)",
                 what, path);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    st = require_ed25519(what, path, pkey, err, errlen);
    if (st)
        return st;
    *out = pkey;
    return KOS_STATUS_OK;
}

kos_status_t kos__key_load_public(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
    const char *what = "trusted key";
    EVP_PKEY *pkey = NULL;
    kos_status_t st;
    size_t len;
    char *buf;
    BIO *bio;

    st = read_key_file(what, path, false, &buf, &len, err, errlen);
    if (st)
        return st;
    bio = BIO_new_mem_buf(buf, (int)len);
    if (bio) {
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
    }
    bool is_private = !pkey && strstr(buf, PEM_PRIVATE) != NULL;
    OPENSSL_clear_free(buf, len + 1); /* len + 1 <= the allocated size */
    ERR_clear_error();
    if (!pkey) {
        char pub[4096];
        sibling(path, ".key", ".pub", pub, sizeof(pub));
        if (is_private)
            snprintf(err, errlen,
                     "%s %s is a private key, not a public one: trust its public half%s%s "
                     "(a private key never leaves whoever signs releases)",
                     what, path, pub[0] ? ", " : "", pub);
        else
            snprintf(err, errlen, "%s %s is not a PEM public key (expected a release.pub file)",
                     what, path);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    st = require_ed25519(what, path, pkey, err, errlen);
    if (st)
        return st;
    *out = pkey;
    return KOS_STATUS_OK;
}

kos_status_t kos__key_id(EVP_PKEY *pkey, uint8_t id[KOS__KEY_ID_LEN])
{
    unsigned char raw[32], md[32];
    size_t rawlen = sizeof(raw);

    if (!(EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "X25519")) ||
        EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != sizeof(raw)) {
        ERR_clear_error();
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (EVP_Digest(raw, rawlen, md, NULL, EVP_sha256(), NULL) != 1) {
        ERR_clear_error();
        return KOS_STATUS_INTERNAL;
    }
    memcpy(id, md, KOS__KEY_ID_LEN);
    return KOS_STATUS_OK;
}

kos_status_t kos__key_id_of_public_file(const char *pub_path, char hex[2 * KOS__KEY_ID_LEN + 1],
                                        char *err, size_t errlen)
{
    uint8_t id[KOS__KEY_ID_LEN];
    EVP_PKEY *pkey;
    kos_status_t st;

    st = kos__key_load_public(pub_path, &pkey, err, errlen);
    if (st)
        return st;
    st = kos__key_id(pkey, id);
    EVP_PKEY_free(pkey);
    if (st) {
        snprintf(err, errlen, "public key %s: cannot compute its id", pub_path);
        return st;
    }
    kos__image_hex(id, sizeof(id), hex);
    return KOS_STATUS_OK;
}

/* Creates `path` exclusively with `mode` and writes len bytes to it, synced.
 * On failure removes what it created. */
static kos_status_t write_new_file(const char *what, const char *path, mode_t mode,
                                   const char *data, size_t len, char *err, size_t errlen)
{
    size_t done = 0;
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
    if (fd < 0) {
        if (errno == EEXIST) {
            snprintf(err, errlen, "%s %s already exists; refusing to overwrite it", what, path);
            return KOS_STATUS_ALREADY_EXISTS;
        }
        snprintf(err, errlen, "cannot create %s %s: %s", what, path, strerror(errno));
        return KOS_STATUS_IO;
    }
    /* The umask may only have narrowed the mode; make it exact. */
    if (fchmod(fd, mode) != 0)
        goto out_unlink;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out_unlink;
        done += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto out_unlink;
    if (close(fd) != 0) {
        fd = -1;
        goto out_unlink;
    }
    return KOS_STATUS_OK;

out_unlink:
    snprintf(err, errlen, "cannot write %s %s: %s", what, path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(path);
    return KOS_STATUS_IO;
}

/* Serialises pkey with `write` into memory, then into a new file. The memory
 * BIO's bytes are wiped before it is freed. */
static kos_status_t write_pem(const char *what, const char *path, mode_t mode, EVP_PKEY *pkey,
                              bool private_key, char *err, size_t errlen)
{
    kos_status_t st = KOS_STATUS_INTERNAL;
    char *data = NULL;
    long len;
    BIO *bio;
    int ok;

    bio = BIO_new(BIO_s_mem());
    if (!bio) {
        snprintf(err, errlen, "cannot encode %s: out of memory", what);
        return KOS_STATUS_NO_MEMORY;
    }
    if (private_key)
        ok = PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    else
        ok = PEM_write_bio_PUBKEY(bio, pkey);
    len = BIO_get_mem_data(bio, &data);
    if (ok != 1 || len <= 0 || !data) {
        ERR_clear_error();
        snprintf(err, errlen, "cannot encode %s", what);
        goto out_free_bio;
    }
    st = write_new_file(what, path, mode, data, (size_t)len, err, errlen);
out_free_bio:
    if (data && len > 0)
        OPENSSL_cleanse(data, (size_t)len);
    BIO_free(bio);
    return st;
}

kos_status_t kos_key_generate_release(const char *priv_path, const char *pub_path, char *err,
                                      size_t errlen)
{
    kos_status_t st;
    struct stat sb;
    EVP_PKEY *pkey;

    if (!priv_path || !pub_path) {
        snprintf(err, errlen, "no path given for the release key pair");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    /* Check both before writing either, so a refusal leaves nothing behind.
     * The exclusive create below still guards against a race. */
    if (lstat(priv_path, &sb) == 0) {
        snprintf(err, errlen, "release key %s already exists; refusing to overwrite it", priv_path);
        return KOS_STATUS_ALREADY_EXISTS;
    }
    if (lstat(pub_path, &sb) == 0) {
        snprintf(err, errlen, "public key %s already exists; refusing to overwrite it", pub_path);
        return KOS_STATUS_ALREADY_EXISTS;
    }
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pkey) {
        ERR_clear_error();
        snprintf(err, errlen, "cannot generate an Ed25519 key");
        return KOS_STATUS_INTERNAL;
    }
    st = write_pem("release key", priv_path, 0600, pkey, true, err, errlen);
    if (st)
        goto out_free_pkey;
    st = write_pem("public key", pub_path, 0644, pkey, false, err, errlen);
    if (st) {
        unlink(priv_path);
        goto out_free_pkey;
    }
out_free_pkey:
    EVP_PKEY_free(pkey);
    return st;
}

/* ---- device key bundles ---- */

/* What a bundle being written has created so far, to undo on failure. */
struct undo {
    char *paths[8 + KOS__BUNDLE_MAX_TRUSTED];
    size_t n;
    char *dirs[2];
    size_t n_dirs;
};

static void undo_all(struct undo *u)
{
    while (u->n)
        unlink(u->paths[--u->n]);
    while (u->n_dirs)
        rmdir(u->dirs[--u->n_dirs]);
}

static void undo_free(struct undo *u)
{
    for (size_t i = 0; i < sizeof(u->paths) / sizeof(u->paths[0]); i++)
        free(u->paths[i]);
    for (size_t i = 0; i < 2; i++)
        free(u->dirs[i]);
    memset(u, 0, sizeof(*u));
}

/* Joins dir and name into a new string recorded in u, or NULL. */
static char *path_in(struct undo *u, const char *dir, const char *name)
{
    char *p;

    if (u->n == sizeof(u->paths) / sizeof(u->paths[0]) || asprintf(&p, "%s/%s", dir, name) < 0)
        return NULL;
    return p;
}

/* Makes `dir` (mode 0700) or accepts an existing empty folder. */
static kos_status_t make_empty_dir(struct undo *u, const char *dir, char *err, size_t errlen)
{
    struct stat sb;
    DIR *d;

    if (mkdir(dir, 0700) == 0) {
        u->dirs[u->n_dirs++] = strdup(dir);
        return KOS_STATUS_OK;
    }
    if (errno != EEXIST) {
        snprintf(err, errlen, "cannot create folder %s: %s", dir, strerror(errno));
        return KOS_STATUS_IO;
    }
    if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a folder", dir);
        return KOS_STATUS_ALREADY_EXISTS;
    }
    d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot read folder %s: %s", dir, strerror(errno));
        return KOS_STATUS_IO;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(err, errlen,
                     "%s is not empty (it holds %s); refusing to overwrite a key bundle: "
                     "give a new folder",
                     dir, e->d_name);
            closedir(d);
            return KOS_STATUS_ALREADY_EXISTS;
        }
    }
    closedir(d);
    if (chmod(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot chmod 700 %s: %s", dir, strerror(errno));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

/* Generates a key pair of `type` and writes NAME.key and NAME.pub into dir;
 * appends its index line to idx. */
static kos_status_t write_pair(struct undo *u, const char *dir, const char *name, const char *type,
                               char *idx, size_t idxcap, char *err, size_t errlen)
{
    char file[64], hex[2 * KOS__KEY_ID_LEN + 1];
    uint8_t id[KOS__KEY_ID_LEN];
    kos_status_t st = KOS_STATUS_NO_MEMORY;
    EVP_PKEY *pkey;
    char *priv, *pub;
    size_t used = strlen(idx);

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, strcmp(type, "ed25519") ? "X25519" : "ED25519");
    if (!pkey) {
        ERR_clear_error();
        snprintf(err, errlen, "cannot generate an %s key", type);
        return KOS_STATUS_INTERNAL;
    }
    snprintf(file, sizeof(file), "%s.key", name);
    if (!(priv = path_in(u, dir, file)))
        goto out_free;
    u->paths[u->n++] = priv;
    st = write_pem("private key", priv, 0600, pkey, true, err, errlen);
    if (st) {
        u->n--; /* not created */
        goto out_free;
    }
    snprintf(file, sizeof(file), "%s.pub", name);
    st = KOS_STATUS_NO_MEMORY;
    if (!(pub = path_in(u, dir, file)))
        goto out_free;
    u->paths[u->n++] = pub;
    st = write_pem("public key", pub, 0644, pkey, false, err, errlen);
    if (st) {
        u->n--;
        goto out_free;
    }
    st = kos__key_id(pkey, id);
    if (st) {
        snprintf(err, errlen, "cannot compute the id of %s", pub);
        goto out_free;
    }
    kos__image_hex(id, sizeof(id), hex);
    snprintf(idx + used, idxcap - used, "%s %s %s.key %s.pub %s\n", name, type, name, name, hex);
out_free:
    EVP_PKEY_free(pkey); /* clears the private key */
    return st;
}

kos_status_t kos__key_generate_device(const char *dir, const char *const *trust, size_t n_trust,
                                      char *index_out, size_t index_cap, char *err, size_t errlen)
{
    char idx[2048], file[64], *tdir = NULL, *path;
    char ids[KOS__BUNDLE_MAX_TRUSTED][2 * KOS__KEY_ID_LEN + 1];
    struct undo u = {0};
    kos_status_t st;

    if (!dir || !*dir || (n_trust && !trust)) {
        snprintf(err, errlen, "no folder given for the device key bundle");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (n_trust > KOS__BUNDLE_MAX_TRUSTED) {
        snprintf(err, errlen, "at most %u trusted release keys", KOS__BUNDLE_MAX_TRUSTED);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    /* Check every trusted key before writing anything. */
    for (size_t i = 0; i < n_trust; i++) {
        st = kos__key_id_of_public_file(trust[i], ids[i], err, errlen);
        if (st)
            return st;
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(ids[i], ids[j])) {
                snprintf(err, errlen, "trusted key %s is given twice (key id %s)", trust[i],
                         ids[i]);
                return KOS_STATUS_INVALID_ARGUMENT;
            }
        }
    }
    st = make_empty_dir(&u, dir, err, errlen);
    if (st)
        goto out;
    snprintf(idx, sizeof(idx),
             "# KOS device key bundle (docs/keys.md): NAME TYPE PRIVATE PUBLIC KEY-ID\n"
             "format %d\n",
             KOS__BUNDLE_FORMAT);
    if ((st = write_pair(&u, dir, "identity", "ed25519", idx, sizeof(idx), err, errlen)) ||
        (st = write_pair(&u, dir, "tunnel", "x25519", idx, sizeof(idx), err, errlen)))
        goto out_undo;
    st = KOS_STATUS_NO_MEMORY;
    if (asprintf(&tdir, "%s/trusted", dir) < 0) {
        tdir = NULL;
        goto out_undo;
    }
    if (mkdir(tdir, 0700) != 0) {
        snprintf(err, errlen, "cannot create folder %s: %s", tdir, strerror(errno));
        st = KOS_STATUS_IO;
        goto out_undo;
    }
    u.dirs[u.n_dirs++] = strdup(tdir);
    for (size_t i = 0; i < n_trust; i++) {
        EVP_PKEY *pkey;
        size_t used = strlen(idx);

        st = kos__key_load_public(trust[i], &pkey, err, errlen);
        if (st)
            goto out_undo;
        snprintf(file, sizeof(file), "%.*s.pub", 2 * KOS__KEY_ID_LEN, ids[i]);
        st = KOS_STATUS_NO_MEMORY;
        if (!(path = path_in(&u, tdir, file))) {
            EVP_PKEY_free(pkey);
            goto out_undo;
        }
        u.paths[u.n++] = path;
        st = write_pem("trusted key", path, 0644, pkey, false, err, errlen);
        EVP_PKEY_free(pkey);
        if (st) {
            u.n--;
            goto out_undo;
        }
        snprintf(idx + used, sizeof(idx) - used, "trusted_%zu ed25519 - trusted/%s.pub %s\n", i,
                 ids[i], ids[i]);
    }
    /* The index last: a bundle with an index is complete. */
    st = KOS_STATUS_NO_MEMORY;
    if (!(path = path_in(&u, dir, KOS__BUNDLE_INDEX)))
        goto out_undo;
    u.paths[u.n++] = path;
    st = write_new_file("bundle index", path, 0644, idx, strlen(idx), err, errlen);
    if (st) {
        u.n--;
        goto out_undo;
    }
    if (index_out && index_cap)
        snprintf(index_out, index_cap, "%s", idx);
    goto out;

out_undo:
    undo_all(&u);
out:
    free(tdir);
    undo_free(&u);
    return st;
}

/* Checks one file of a bundle: a regular file, not a symbolic link, and for
 * a private key not open to group or others. */
static kos_status_t check_bundle_file(const char *path, bool private_key, char *err, size_t errlen)
{
    struct stat sb;

    if (lstat(path, &sb) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? KOS_STATUS_NOT_FOUND : KOS_STATUS_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (private_key && (sb.st_mode & 077)) {
        snprintf(err, errlen,
                 "private key %s may be read or written by group or others (mode %04o): run "
                 "chmod 600 %s",
                 path, (unsigned)(sb.st_mode & 07777), path);
        return KOS_STATUS_UNAUTHORIZED;
    }
    return KOS_STATUS_OK;
}

/* A bundle-relative file name: no "..", no leading '/', only [A-Za-z0-9_./-]. */
static bool bundle_name_ok(const char *s)
{
    if (!*s || *s == '/' || strstr(s, ".."))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '/' || *s == '-'))
            return false;
    return true;
}

kos_status_t kos__key_bundle_read(const char *dir, struct kos__bundle *out, char *err,
                                  size_t errlen)
{
    char *path = NULL, *text = NULL, *save = NULL, absdir[4096], real[4096];
    size_t len, lineno = 0, dl;
    bool have_format = false;
    kos_status_t st;

    memset(out, 0, sizeof(*out));
    if (!realpath(dir, absdir)) {
        snprintf(err, errlen, "key bundle %s: %s", dir, strerror(errno));
        return KOS_STATUS_NOT_FOUND;
    }
    dl = strlen(absdir);
    if (dl == 1)
        dl = 0; /* the bundle is "/": every file is inside it */
    if (asprintf(&path, "%s/%s", absdir, KOS__BUNDLE_INDEX) < 0)
        return KOS_STATUS_NO_MEMORY;
    st = read_key_file("bundle index", path, false, &text, &len, err, errlen);
    if (st)
        goto out;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[32], type[8], priv[256], pub[256], id[17], rest[2];
        struct kos__bundle_entry *e;
        int n;

        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (!have_format) {
            if (sscanf(line, "format %d%1s", &n, rest) != 1 || n != KOS__BUNDLE_FORMAT) {
                snprintf(err, errlen, "%s:%zu: expected 'format %d'", path, lineno,
                         KOS__BUNDLE_FORMAT);
                st = KOS_STATUS_PROTOCOL;
                goto out;
            }
            have_format = true;
            continue;
        }
        if (sscanf(line, "%31s %7s %255s %255s %16s%1s", name, type, priv, pub, id, rest) != 5 ||
            !bundle_name_ok(pub)) {
            snprintf(err, errlen,
                     "%s:%zu: expected NAME ed25519|x25519|x509|text PRIVATE-FILE|- PUBLIC-FILE "
                     "KEY-ID|-",
                     path, lineno);
            st = KOS_STATUS_PROTOCOL;
            goto out;
        }
        bool item = !strcmp(type, "x509") || !strcmp(type, "text");
        if (item ? strcmp(priv, "-") != 0 || (strcmp(id, "-") && strlen(id) != 16)
                 : (strcmp(type, "ed25519") && strcmp(type, "x25519")) || strlen(id) != 16 ||
                       (strcmp(priv, "-") && !bundle_name_ok(priv))) {
            snprintf(err, errlen,
                     item ? "%s:%zu: expected NAME x509|text - FILE KEY-ID|- (a public item)"
                          : "%s:%zu: expected NAME ed25519|x25519 PRIVATE-FILE|- PUBLIC-FILE "
                            "KEY-ID",
                     path, lineno);
            st = KOS_STATUS_PROTOCOL;
            goto out;
        }
        if (out->n == KOS__BUNDLE_MAX_ENTRIES) {
            snprintf(err, errlen, "%s:%zu: more than %u keys", path, lineno,
                     KOS__BUNDLE_MAX_ENTRIES);
            st = KOS_STATUS_TOO_LARGE;
            goto out;
        }
        e = &out->e[out->n];
        snprintf(e->name, sizeof(e->name), "%s", name);
        snprintf(e->type, sizeof(e->type), "%s", type);
        snprintf(e->id, sizeof(e->id), "%s", id);
        e->private_key = strcmp(priv, "-") != 0;
        e->item = item;
        if ((size_t)snprintf(e->path, sizeof(e->path), "%s/%s", absdir,
                             e->private_key ? priv : pub) >= sizeof(e->path)) {
            snprintf(err, errlen, "%s:%zu: path too long", path, lineno);
            st = KOS_STATUS_TOO_LARGE;
            goto out;
        }
        st = check_bundle_file(e->path, e->private_key, err, errlen);
        if (st)
            goto out;
        /* lstat() sees only the last component: a folder in the path may
         * be a symbolic link out of the bundle. */
        real[0] = '\0';
        if (!realpath(e->path, real) || strncmp(real, absdir, dl) != 0 || real[dl] != '/') {
            snprintf(err, errlen, "%s:%zu: %s leads out of the bundle (to %s)", path, lineno,
                     e->private_key ? priv : pub, real[0] ? real : "?");
            st = KOS_STATUS_INVALID_ARGUMENT;
            goto out;
        }
        out->n++;
    }
    if (!have_format) {
        snprintf(err, errlen, "%s: no 'format %d' line", path, KOS__BUNDLE_FORMAT);
        st = KOS_STATUS_PROTOCOL;
    }
out:
    if (text)
        OPENSSL_clear_free(text, len + 1);
    free(path);
    if (st)
        memset(out, 0, sizeof(*out));
    return st;
}

/* The key id of the first certificate in pem[0..len), "-" when its key is
 * not Ed25519 or X25519; false if pem holds no certificate. */
static bool cert_key_id(const void *pem, size_t len, char hex[2 * KOS__KEY_ID_LEN + 1])
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
    EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
    uint8_t id[KOS__KEY_ID_LEN];

    BIO_free(bio);
    if (!x) {
        ERR_clear_error();
        return false;
    }
    snprintf(hex, 2 * KOS__KEY_ID_LEN + 1, "-");
    if (pk &&
        (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519 ||
         EVP_PKEY_get_base_id(pk) == EVP_PKEY_X25519) &&
        kos__key_id(pk, id) == KOS_STATUS_OK)
        kos__image_hex(id, sizeof(id), hex);
    X509_free(x);
    ERR_clear_error();
    return true;
}

kos_status_t kos__key_bundle_add_item(const char *dir, const char *name, const char *type,
                                      const char *file, const void *bytes, size_t len, char *err,
                                      size_t errlen)
{
    struct kos__bundle *b = NULL;
    char id[2 * KOS__KEY_ID_LEN + 1] = "-", *index = NULL, *text = NULL, *tmp = NULL, *item = NULL,
                                  *line = NULL;
    size_t tlen = 0, nl = name ? strlen(name) : 0;
    kos_status_t st = KOS_STATUS_INVALID_ARGUMENT;
    const uint8_t *p = bytes;

    if (!dir || !name || !type || !file || !bytes) {
        snprintf(err, errlen, "a bundle item needs a folder, a name, a type, a file and bytes");
        return st;
    }
    for (size_t i = 0; i < nl; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_'))
            nl = 0;
    if (nl == 0 || nl > 31) {
        snprintf(err, errlen, "'%s' is not an item name (1-31 characters from [a-z0-9_])", name);
        return st;
    }
    if (!bundle_name_ok(file) || strlen(file) > 255) {
        snprintf(err, errlen, "'%s' is not a file name inside the bundle", file);
        return st;
    }
    if (len == 0 || len > KOS__BUNDLE_ITEM_MAX) {
        snprintf(err, errlen, "item '%s': %zu bytes (1 to %u)", name, len, KOS__BUNDLE_ITEM_MAX);
        return KOS_STATUS_TOO_LARGE;
    }
    if (!strcmp(type, "x509")) {
        if (!cert_key_id(bytes, len, id)) {
            snprintf(err, errlen, "item '%s' is not a PEM certificate", name);
            return st;
        }
    } else if (!strcmp(type, "text")) {
        for (size_t i = 0; i < len; i++)
            if (!(p[i] == '\n' || p[i] == '\t' || (p[i] >= 0x20 && p[i] < 0x7f))) {
                snprintf(err, errlen, "item '%s' is not printable text (byte %zu)", name, i);
                return st;
            }
    } else {
        snprintf(err, errlen, "item type '%s' is not x509 or text", type);
        return st;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    st = kos__key_bundle_read(dir, b, err, errlen);
    if (st)
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        if (!strcmp(b->e[i].name, name)) {
            snprintf(err, errlen, "the bundle %s already has '%s'", dir, name);
            st = KOS_STATUS_ALREADY_EXISTS;
            goto out;
        }
    }
    st = KOS_STATUS_NO_MEMORY;
    if (asprintf(&index, "%s/%s", dir, KOS__BUNDLE_INDEX) < 0 && (index = NULL, true))
        goto out;
    if (asprintf(&tmp, "%s/%s.new", dir, KOS__BUNDLE_INDEX) < 0 && (tmp = NULL, true))
        goto out;
    if (asprintf(&item, "%s/%s", dir, file) < 0 && (item = NULL, true))
        goto out;
    if (asprintf(&line, "%s %s - %s %s\n", name, type, file, id) < 0 && (line = NULL, true))
        goto out;
    st = read_key_file("bundle index", index, false, &text, &tlen, err, errlen);
    if (st)
        goto out;
    st = write_new_file("bundle item", item, 0644, bytes, len, err, errlen);
    if (st)
        goto out;
    /* The index anew: the old text, a line end if it lacked one, the item. */
    char *idx = malloc(tlen + strlen(line) + 2);
    if (!idx) {
        st = KOS_STATUS_NO_MEMORY;
        unlink(item);
        goto out;
    }
    memcpy(idx, text, tlen);
    size_t il = tlen;
    if (il && idx[il - 1] != '\n')
        idx[il++] = '\n';
    memcpy(idx + il, line, strlen(line));
    il += strlen(line);
    unlink(tmp); /* a leftover of an interrupted add */
    st = write_new_file("bundle index", tmp, 0644, idx, il, err, errlen);
    free(idx);
    if (st == KOS_STATUS_OK && rename(tmp, index) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", index, strerror(errno));
        unlink(tmp);
        st = KOS_STATUS_IO;
    }
    if (st) {
        unlink(item);
        goto out;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
out:
    if (text)
        OPENSSL_clear_free(text, tlen + 1);
    free(index);
    free(tmp);
    free(item);
    free(line);
    free(b);
    return st;
}

/* True if p[0..len) starts a PEM private key block: "-----BEGIN ", a label
 * of capitals, digits and spaces ending in "PRIVATE KEY", "-----" and a
 * line end. A binary that merely holds the words (as key_store's does, to
 * parse keys) is not one. */
static bool pem_private_at(const uint8_t *p, size_t len)
{
    static const char begin[] = "-----BEGIN ", tail[] = "PRIVATE KEY";
    const size_t bl = sizeof(begin) - 1, tl = sizeof(tail) - 1;
    size_t k = bl;

    if (len < bl || memcmp(p, begin, bl) != 0)
        return false;
    while (k < len && k - bl < 64 &&
           ((p[k] >= 'A' && p[k] <= 'Z') || (p[k] >= '0' && p[k] <= '9') || p[k] == ' '))
        k++;
    if (k - bl < tl || memcmp(p + k - tl, tail, tl) != 0)
        return false;
    return len - k >= 6 && memcmp(p + k, "-----", 5) == 0 && (p[k + 5] == '\n' || p[k + 5] == '\r');
}

bool kos__key_blob_is_private(const void *data, size_t len)
{
    static const uint8_t pkcs8[11] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30,
                                      0x05, 0x06, 0x03, 0x2b, 0x65};
    const uint8_t *p = data;

    if (!p)
        return false;
    if (len >= 48 && memcmp(p, pkcs8, sizeof(pkcs8)) == 0 && (p[11] == 0x70 || p[11] == 0x6e))
        return true;
    for (size_t i = 0; i + 11 <= len; i++) {
        const uint8_t *hit = memchr(p + i, '-', len - i);
        if (!hit)
            break;
        i = (size_t)(hit - p);
        if (pem_private_at(hit, len - i))
            return true;
    }
    return false;
}
