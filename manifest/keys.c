/*
 * keys.c - release keys: generating, loading and naming Ed25519 key pairs.
 *
 * A release key pair is two PEM files: the private key (unencrypted PKCS#8,
 * mode 0600) that signs system images, and the public key
 * (SubjectPublicKeyInfo, mode 0644) that devices and `kos-tool run` trust.
 * What stays true: a private key file is never overwritten, never written
 * readable by others, and never loaded if others can read it; every buffer
 * that held private key bytes is wiped before it is freed.
 */
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
    OPENSSL_clear_free(buf, len + 1); /* len + 1 <= the allocated size */
    ERR_clear_error();
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
    OPENSSL_clear_free(buf, len + 1); /* len + 1 <= the allocated size */
    ERR_clear_error();
    if (!pkey) {
        snprintf(err, errlen, "%s %s is not a PEM public key (expected a release.pub file)", what,
                 path);
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

    if (!EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 ||
        rawlen != sizeof(raw)) {
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
