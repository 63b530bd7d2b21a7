/*
 * app.c - an app's handle on the system: its name, its control channel to
 * KOS Core and its connections to message servers.
 *
 * The handle is built from the boot record Core leaves on the control channel
 * before the app runs. It owns the control socket and every directory it
 * hands out; kos_app_close() releases them all.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kos/app.h>

#include "boot_int.h"
#include "msg_int.h"
#include "sys_int.h"
#include "trace_int.h"

struct kos_app {
    int ctl;
    uint32_t app_id;
    uint32_t role;
    bool ready_sent;
    bool stopping;
    char name[KOS__NAME_MAX];
    uint32_t n_dirs;
    struct {
        char name[KOS__NAME_MAX];
        kos_dir_t *dir;
    } dirs[KOS__BOOT_MAX_DIRS];
    uint32_t n_res;
    struct {
        char name[KOS__NAME_MAX];
        uint32_t kind;
        uint32_t access;
        int fd;
        uint64_t size;
    } res[KOS__BOOT_MAX_RES];
    uint32_t n_config;
    char **config;                /* "key=value" */
    struct kos__trace_shm *trace; /* its message-tracing ring, or NULL */
};

kos_status_t kos_app_open(kos_app_t **out)
{
    uint8_t *buf;
    struct kos__boot boot;
    struct kos_app *app;
    uint32_t type;
    size_t len;
    int fd;
    kos_status_t st;

    buf = malloc(KOS__CTL_MAX);
    if (!buf)
        return KOS_STATUS_NO_MEMORY;
    st = kos__ctl_recv(KOS__CTL_FD, buf, KOS__CTL_MAX, &type, &len, &fd, 0);
    if (st)
        goto out_free_buf;
    if (fd >= 0)
        close(fd);
    if (type != KOS__CTL_BOOT) {
        st = KOS_STATUS_PROTOCOL;
        goto out_free_buf;
    }
    st = kos__boot_decode(buf, len, &boot);
    if (st)
        goto out_free_buf;

    app = calloc(1, sizeof(*app));
    if (!app) {
        if (boot.trace_fd >= 0)
            close(boot.trace_fd);
        st = KOS_STATUS_NO_MEMORY;
        goto out_free_buf;
    }
    /* The tracing ring: mapped, its descriptor no longer needed. One that
     * cannot be mapped only means no tracing. */
    if (boot.trace_fd >= 0) {
        if (kos__trace_map(boot.trace_fd, &app->trace))
            app->trace = NULL;
        close(boot.trace_fd);
    }
    app->ctl = KOS__CTL_FD;
    app->app_id = boot.app_id;
    for (uint32_t i = 0; i < boot.n_res; i++) {
        memcpy(app->res[i].name, boot.res[i].name, KOS__NAME_MAX);
        app->res[i].kind = boot.res[i].kind;
        app->res[i].access = boot.res[i].access;
        app->res[i].fd = boot.res[i].fd;
        app->res[i].size = boot.res[i].size;
    }
    app->n_res = boot.n_res;
    app->role = boot.role;
    memcpy(app->name, boot.name, sizeof(app->name));
    for (uint32_t i = 0; i < boot.n_dirs; i++) {
        st = kos__dir_create(boot.dirs[i].fd, boot.dirs[i].name, boot.app_id, &app->dirs[i].dir);
        if (st) {
            /* The remaining descriptors were never taken over: close them. */
            for (uint32_t j = i; j < boot.n_dirs; j++)
                close(boot.dirs[j].fd);
            goto out_close_app;
        }
        kos__dir_set_trace(app->dirs[i].dir, app->trace, i);
        memcpy(app->dirs[i].name, boot.dirs[i].name, KOS__NAME_MAX);
        app->n_dirs = i + 1;
    }
    app->config = calloc(boot.n_config ? boot.n_config : 1, sizeof(char *));
    if (!app->config) {
        st = KOS_STATUS_NO_MEMORY;
        goto out_close_app;
    }
    for (uint32_t i = 0; i < boot.n_config; i++) {
        app->config[i] = strdup(boot.config[i]);
        if (!app->config[i]) {
            st = KOS_STATUS_NO_MEMORY;
            goto out_close_app;
        }
        app->n_config = i + 1;
    }
    free(buf);
    *out = app;
    return KOS_STATUS_OK;

out_close_app:
    app->ctl = -1; /* fd 3 stays open for a retry */
    kos_app_close(app);
out_free_buf:
    free(buf);
    return st;
}

void kos_app_close(kos_app_t *app)
{
    if (!app)
        return;
    for (uint32_t i = 0; i < app->n_dirs; i++)
        kos__dir_destroy(app->dirs[i].dir);
    for (uint32_t i = 0; i < app->n_res; i++)
        close(app->res[i].fd);
    for (uint32_t i = 0; i < app->n_config; i++)
        free(app->config[i]);
    free(app->config);
    kos__trace_unmap(app->trace); /* after the directories: their tokens no longer read it */
    if (app->ctl >= 0)
        close(app->ctl);
    free(app);
}

const char *kos_app_name(const kos_app_t *app)
{
    return app->name;
}

kos_status_t kos_app_ready(kos_app_t *app)
{
    kos_status_t st;

    if (app->ready_sent)
        return KOS_STATUS_OK;
    st = kos__ctl_send(app->ctl, KOS__CTL_READY, NULL, 0, -1);
    if (st == KOS_STATUS_OK)
        app->ready_sent = true;
    return st;
}

kos_status_t kos_app_dir(kos_app_t *app, const char *server, kos_dir_t **out)
{
    for (uint32_t i = 0; i < app->n_dirs; i++) {
        if (strcmp(app->dirs[i].name, server) == 0) {
            *out = app->dirs[i].dir;
            return KOS_STATUS_OK;
        }
    }
    return KOS_STATUS_NOT_FOUND;
}

kos_status_t kos_app_resource(kos_app_t *app, const char *name, int *fd, uint64_t *size)
{
    for (uint32_t i = 0; i < app->n_res; i++) {
        if (strcmp(app->res[i].name, name) == 0) {
            *fd = app->res[i].fd;
            if (size)
                *size = app->res[i].size;
            return KOS_STATUS_OK;
        }
    }
    return KOS_STATUS_NOT_FOUND;
}

kos_status_t kos_app_map_region(kos_app_t *app, const char *name, void **addr, size_t *size)
{
    for (uint32_t i = 0; i < app->n_res; i++) {
        if (strcmp(app->res[i].name, name) != 0 || app->res[i].kind != 2)
            continue;
        int prot = PROT_READ | (app->res[i].access & 2 ? PROT_WRITE : 0);
        if (app->res[i].size == 0 || app->res[i].size > SIZE_MAX)
            return KOS_STATUS_INVALID_ARGUMENT;
        void *p = mmap(NULL, (size_t)app->res[i].size, prot, MAP_SHARED, app->res[i].fd, 0);
        if (p == MAP_FAILED)
            return errno == ENOMEM ? KOS_STATUS_NO_MEMORY : KOS_STATUS_IO;
        *addr = p;
        *size = (size_t)app->res[i].size;
        return KOS_STATUS_OK;
    }
    return KOS_STATUS_NOT_FOUND;
}

const char *kos_app_config(const kos_app_t *app, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < app->n_config; i++)
        if (strncmp(app->config[i], key, n) == 0 && app->config[i][n] == '=')
            return app->config[i] + n + 1;
    return NULL;
}

bool kos_app_config_at(const kos_app_t *app, size_t i, const char **key, size_t *key_len,
                       const char **value)
{
    const char *eq;

    if (i >= app->n_config)
        return false;
    eq = strchr(app->config[i], '='); /* the boot record's decoder checked there is one */
    if (!eq)
        return false;
    *key = app->config[i];
    *key_len = (size_t)(eq - app->config[i]);
    *value = eq + 1;
    return true;
}

kos_status_t kos_app_report_self_test(kos_app_t *app, bool passed, uint32_t checks, uint32_t failed,
                                      const char *summary)
{
    struct kos__self_test r = {
        .verdict = passed ? KOS__SELF_TEST_PASSED : KOS__SELF_TEST_FAILED,
        .checks = checks,
        .failed = failed,
        .summary = summary,
    };
    uint8_t buf[16 + KOS__SELF_TEST_TEXT_MAX];
    size_t len;
    kos_status_t st = kos__self_test_encode(&r, buf, sizeof(buf), &len);

    if (st)
        return st == KOS_STATUS_TOO_LARGE ? KOS_STATUS_INVALID_ARGUMENT : st;
    return kos__ctl_send(app->ctl, KOS__CTL_SELF_TEST, buf, len, -1);
}

int kos_app_fd(const kos_app_t *app)
{
    return app->ctl;
}

kos_status_t kos__app_ctl_take_fd(kos_app_t *app, void *buf, size_t cap, uint32_t *type,
                                  size_t *len, int *fd)
{
    kos_status_t st = kos__ctl_recv(app->ctl, buf, cap, type, len, fd, MSG_DONTWAIT);

    if (st == KOS_STATUS_WOULD_BLOCK)
        return st;
    if (st || *type == KOS__CTL_STOP)
        app->stopping = true;
    return st;
}

kos_status_t kos__app_ctl_take(kos_app_t *app, void *buf, size_t cap, uint32_t *type, size_t *len)
{
    int fd;
    kos_status_t st = kos__app_ctl_take_fd(app, buf, cap, type, len, &fd);

    if (fd >= 0)
        close(fd); /* only the managing app takes Core's descriptors (sys.c) */
    return st;
}

bool kos_app_stopping(kos_app_t *app)
{
    uint8_t buf[256];
    uint32_t type;
    size_t len;

    while (!app->stopping) {
        /* What Core sends only the app that manages the system (sys_int.h)
         * is not for this call: it is taken off the channel and dropped
         * (a datagram longer than the buffer is dropped whole). */
        struct kos__ctl_hdr hdr;
        ssize_t n = recv(app->ctl, &hdr, sizeof(hdr), MSG_DONTWAIT | MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break; /* nothing now */
        if (n == (ssize_t)sizeof(hdr) &&
            (kos__sys_from_core(hdr.type) || kos__sys_unknown(hdr.type))) {
            if (recv(app->ctl, buf, sizeof(buf), MSG_DONTWAIT) < 0)
                break;
            continue;
        }
        /* Core's only other message to a running app is STOP; anything
         * else, or a closed channel, means Core is gone or confused: stop
         * too. */
        kos_status_t st = kos__app_ctl_take(app, buf, sizeof(buf), &type, &len);
        (void)st;
        app->stopping = true;
    }
    return app->stopping;
}
