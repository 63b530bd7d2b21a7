/*
 * runtime.c - the Studio's data folder and runtime file (runtime.h).
 *
 * What stays true: a runtime file that parses names a pid above 0, a
 * loopback URL of the form http://127.x.y.z:PORT/ with PORT 1-65535, a
 * device address HOST:PORT and a secret of exactly 64 lowercase hex
 * digits; the file is only ever replaced whole (rename), so a reader never
 * sees half of one.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"
#include "srv_limits.h"
#include "text_int.h"

kos_status_t kos__studio_data_dir(const char *given, char *out, size_t cap, char *err,
                                  size_t errlen)
{
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;

    if (given && *given)
        n = snprintf(out, cap, "%s", given);
    else if (xdg && xdg[0] == '/')
        n = snprintf(out, cap, "%s/kos/studio", xdg);
    else if (home && home[0] == '/')
        n = snprintf(out, cap, "%s/.local/share/kos/studio", home);
    else {
        snprintf(err, errlen,
                 "no data folder: neither XDG_DATA_HOME nor HOME is set to an absolute path "
                 "(give one with --data DIR)");
        return KOS_STATUS_NOT_FOUND;
    }
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, errlen, "the data folder's path is too long");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    return KOS_STATUS_OK;
}

/* Parses a whole decimal number from 1 to max in s[0..len). */
static bool parse_num(const char *s, size_t len, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;

    if (len == 0 || len > 10 || s[0] == '0')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* One octet of a dotted IPv4 address: "0", or 1-255 without leading zeros. */
static bool parse_octet(const char *s, size_t len, unsigned long *out)
{
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    return len <= 3 && parse_num(s, len, 255, out);
}

/* True if s[0..len) is a dotted IPv4 address in 127.0.0.0/8. */
static bool is_loopback_v4(const char *s, size_t len)
{
    unsigned long part;
    size_t start = 0, parts = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (!parse_octet(s + start, i - start, &part) || (parts == 0 && part != 127))
            return false;
        parts++;
        start = i + 1;
    }
    return parts == 4;
}

/* "HOST:PORT" with a loopback HOST, into host/port. */
static bool parse_hostport(const char *s, size_t len, char *host, size_t hostcap, unsigned *port)
{
    const char *colon = memrchr(s, ':', len);
    unsigned long p;

    if (!colon || (size_t)(colon - s) >= hostcap || !is_loopback_v4(s, (size_t)(colon - s)) ||
        !parse_num(colon + 1, len - (size_t)(colon + 1 - s), 65535, &p))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (unsigned)p;
    return true;
}

kos_status_t kos__studio_rt_parse(const char *text, size_t len, struct kos__studio_rt *rt,
                                  char *err, size_t errlen)
{
    enum { K_PID, K_URL, K_DEVICE, K_SECRET, K_N };
    static const char *const keys[K_N] = {"pid", "url", "device", "secret"};
    bool seen[K_N] = {false};
    size_t pos = 0, line = 0;

    memset(rt, 0, sizeof(*rt));
    if (len > KOS__SRV_RUNTIME_MAX) {
        snprintf(err, errlen, "it is %zu bytes long; a runtime file is at most %u", len,
                 KOS__SRV_RUNTIME_MAX);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    while (pos < len) {
        const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - l) : len - pos, klen, vlen;
        const char *sp, *v;
        int k;

        pos += n + (nl ? 1 : 0);
        line++;
        if (n == 0 || l[0] == '#')
            continue;
        sp = memchr(l, ' ', n);
        if (!sp || memchr(l, '\0', n)) {
            snprintf(err, errlen, "line %zu is not 'KEY VALUE'", line);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        klen = (size_t)(sp - l);
        v = sp + 1;
        vlen = n - klen - 1;
        for (k = 0; k < K_N; k++)
            if (strlen(keys[k]) == klen && memcmp(keys[k], l, klen) == 0)
                break;
        if (k == K_N) {
            char key[KOS__TEXT_ESCAPED_MAX(32) + 1];
            size_t kn = kos__text_escape(key, sizeof(key) - 1, l,
                                         kos__text_boundary(l, klen > 32 ? 32 : klen), NULL);
            key[kn] = '\0';
            snprintf(err, errlen, "line %zu: unknown key '%s'", line, key);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        if (seen[k]) {
            snprintf(err, errlen, "line %zu: '%s' is given twice", line, keys[k]);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        seen[k] = true;
        bool ok = false;
        unsigned long num = 0;
        switch (k) {
        case K_PID:
            ok = parse_num(v, vlen, INT_MAX, &num);
            rt->pid = (pid_t)num;
            break;
        case K_URL: {
            static const char pre[] = "http://";
            size_t pl = sizeof(pre) - 1;
            ok = vlen > pl + 1 && vlen < sizeof(rt->url) && memcmp(v, pre, pl) == 0 &&
                 v[vlen - 1] == '/' &&
                 parse_hostport(v + pl, vlen - pl - 1, rt->api_host, sizeof(rt->api_host),
                                &rt->api_port);
            if (ok) {
                memcpy(rt->url, v, vlen);
                rt->url[vlen] = '\0';
            }
            break;
        }
        case K_DEVICE: {
            char host[16];
            unsigned port;
            ok = vlen < sizeof(rt->device) && parse_hostport(v, vlen, host, sizeof(host), &port);
            if (ok) {
                memcpy(rt->device, v, vlen);
                rt->device[vlen] = '\0';
            }
            break;
        }
        case K_SECRET:
            ok = vlen == KOS__STUDIO_SECRET_HEX;
            for (size_t i = 0; ok && i < vlen; i++)
                ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f');
            if (ok) {
                memcpy(rt->secret, v, vlen);
                rt->secret[vlen] = '\0';
            }
            break;
        }
        if (!ok) {
            snprintf(err, errlen, "line %zu: '%s' has a malformed value", line, keys[k]);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
    }
    for (int k = 0; k < K_N; k++) {
        if (!seen[k]) {
            snprintf(err, errlen, "it has no '%s' line", keys[k]);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
    }
    return KOS_STATUS_OK;
}

/* DIR/name into out. */
static bool path_in(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap;
}

kos_status_t kos__studio_rt_read(const char *dir, struct kos__studio_rt *rt, char *err,
                                 size_t errlen)
{
    char path[PATH_MAX], buf[KOS__SRV_RUNTIME_MAX + 1], why[256];
    ssize_t n;
    size_t len = 0;
    int fd;

    if (!path_in(path, sizeof(path), dir, KOS__STUDIO_RUNTIME_FILE)) {
        snprintf(err, errlen, "the data folder's path is too long");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return errno == ENOENT ? KOS_STATUS_NOT_FOUND : KOS_STATUS_IO;
    }
    while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            return KOS_STATUS_IO;
        }
        len += (size_t)n;
    }
    close(fd);
    if (kos__studio_rt_parse(buf, len, rt, why, sizeof(why)) != KOS_STATUS_OK) {
        snprintf(err, errlen, "%s is not a kos-server runtime file: %s", path, why);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    return KOS_STATUS_OK;
}

kos_status_t kos__studio_replace_file(const char *path, mode_t mode, const void *data, size_t len,
                                      char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    size_t done = 0;
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "the path %s is too long", path);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return KOS_STATUS_IO;
    }
    while (done < len) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out_fail;
        done += (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
        goto out_fail;
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;

out_fail:
    snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    return KOS_STATUS_IO;
}

kos_status_t kos__studio_rt_write(const char *dir, const struct kos__studio_rt *rt, char *err,
                                  size_t errlen)
{
    char path[PATH_MAX], text[512];
    int n;

    n = snprintf(text, sizeof(text),
                 "# kos-server's runtime file (docs/studio.md): removed at a clean stop\n"
                 "pid %ld\nurl %s\ndevice %s\nsecret %s\n",
                 (long)rt->pid, rt->url, rt->device, rt->secret);
    assert(n > 0 && (size_t)n < sizeof(text));
    if (!path_in(path, sizeof(path), dir, KOS__STUDIO_RUNTIME_FILE)) {
        snprintf(err, errlen, "the data folder's path is too long");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    return kos__studio_replace_file(path, 0600, text, (size_t)n, err, errlen);
}

kos_status_t kos__studio_make_data_dir(const char *dir, char *err, size_t errlen)
{
    char *p = strdup(dir);
    struct stat sb;

    if (!p) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        mkdir(p, 0700);
        *s = '/';
    }
    free(p);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the data folder %s: %s (give another with --data)",
                 dir, strerror(errno));
        return KOS_STATUS_IO;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "the data folder %s is not a folder (give another with --data)", dir);
        return KOS_STATUS_IO;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "the data folder %s is not writable: %s (give another with --data)",
                 dir, strerror(errno));
        return KOS_STATUS_IO;
    }
    if ((sb.st_mode & 077) && chmod(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot make the data folder %s private (chmod 700): %s", dir,
                 strerror(errno));
        return KOS_STATUS_IO;
    }
    return KOS_STATUS_OK;
}

void kos__studio_rt_remove(const char *dir, pid_t pid)
{
    struct kos__studio_rt rt;
    char path[PATH_MAX], why[256];

    if (kos__studio_rt_read(dir, &rt, why, sizeof(why)) != KOS_STATUS_OK || rt.pid != pid)
        return;
    if (path_in(path, sizeof(path), dir, KOS__STUDIO_RUNTIME_FILE))
        unlink(path);
}

bool kos__studio_pid_is_server(pid_t pid)
{
    char path[64], comm[32];
    ssize_t n;
    int fd;

    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
        return false;
    snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, comm, sizeof(comm) - 1);
    close(fd);
    if (n <= 0)
        return false;
    comm[n] = '\0';
    return strcmp(comm, "kos-server\n") == 0;
}

int kos__studio_lock(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    int fd;

    if (!path_in(path, sizeof(path), dir, KOS__STUDIO_LOCK_FILE)) {
        snprintf(err, errlen, "the data folder's path is too long");
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
