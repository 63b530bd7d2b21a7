/*
 * server.c - kos-server's Studio profile started and stopped
 * (server_int.h): the data folder, the database, the CA, the API port, the
 * device port, the runtime file.
 *
 * What stays true: the runtime file exists only while the server answers
 * on its API port, written last at start and removed first at stop; every
 * file the server makes is private to its user (umask 077: 0600 files,
 * 0700 folders); the secret is made at each start from the system's random
 * source and written nowhere but the runtime file.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/http.h>
#include <openssl/rand.h>

#include "ca.h"
#include "events.h"
#include "debug.h"
#include "shell.h"
#include "server_int.h"
#include "srv_limits.h"
#include "store.h"

static bool make_secret(char out[KOS__STUDIO_SECRET_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[KOS__STUDIO_SECRET_HEX / 2];

    if (RAND_priv_bytes(raw, sizeof(raw)) != 1)
        return false;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[KOS__STUDIO_SECRET_HEX] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    return true;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct kos__srv *srv = arg;

    (void)what;
    kos__srv_log("stopping (%s)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopexit(srv->base, NULL);
}

/* Binds the API port; the port it got in srv->api_port. */
static kos_status_t api_listen(struct kos__srv *srv, unsigned port, char *err, size_t errlen)
{
    struct evhttp_bound_socket *sock;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    srv->http = evhttp_new(srv->base);
    if (!srv->http) {
        snprintf(err, errlen, "out of memory");
        return KOS_STATUS_NO_MEMORY;
    }
    evhttp_set_max_headers_size(srv->http, KOS__SRV_HEADERS_MAX);
    evhttp_set_max_body_size(srv->http, KOS__SRV_IMAGE_MAX);
    evhttp_set_timeout(srv->http, KOS__SRV_IDLE_S);
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(srv->http, kos__api_handle, srv);
    sock = evhttp_bind_socket_with_handle(srv->http, srv->address, (ev_uint16_t)port);
    if (!sock) {
        int e = errno;
        if (e == EADDRINUSE)
            snprintf(err, errlen,
                     "the API port %s:%u is in use (another program listens there): choose "
                     "another with --port, or --port 0 for any free one",
                     srv->address, port);
        else
            snprintf(err, errlen, "cannot listen on %s:%u: %s", srv->address, port, strerror(e));
        return KOS_STATUS_IO;
    }
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) != 0 ||
        ss.ss_family != AF_INET) {
        snprintf(err, errlen, "cannot tell which port the API listens on");
        return KOS_STATUS_IO;
    }
    srv->api_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return KOS_STATUS_OK;
}

/* The device port, when this build has one. */
static kos_status_t device_listen(struct kos__srv *srv, unsigned port, const char *streams,
                                  char *err, size_t errlen)
{
    struct kos__devport_hooks hooks = kos__devices_hooks(srv);
    char addr[32], why[256] = "";

    srv->port_ctx = kos__ca_port_ctx(srv->ca, srv->data_dir, srv->address, err, errlen);
    if (!srv->port_ctx)
        return KOS_STATUS_IO;
    snprintf(addr, sizeof(addr), "%s:%u", srv->address, port);
    srv->devport = kos__devport_create(srv->base, srv->port_ctx, addr, &hooks, why, sizeof(why));
    if (!srv->devport) {
        snprintf(err, errlen,
                 "cannot open the device port %s: %s (choose another with --device-port, or "
                 "--device-port 0 for any free one)",
                 addr, why);
        return KOS_STATUS_IO;
    }
    if (kos__devport_set_streams(srv->devport, streams, true, why, sizeof(why)) != KOS_STATUS_OK) {
        snprintf(err, errlen, "--%s", why);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    snprintf(srv->device_addr, sizeof(srv->device_addr), "%s:%u", srv->address,
             kos__devport_port(srv->devport));
    return KOS_STATUS_OK;
}

kos_status_t kos__srv_start(struct kos__srv *srv, const struct kos__srv_opts *opts, char *err,
                            size_t errlen)
{
    struct kos__studio_rt rt, old;
    char path[PATH_MAX + 16], why[512];
    kos_status_t st;

    memset(srv, 0, sizeof(*srv));
    srv->lock_fd = -1;
    snprintf(srv->data_dir, sizeof(srv->data_dir), "%s", opts->data_dir);
    snprintf(srv->address, sizeof(srv->address), "%s", opts->address);
    umask(077);
    st = kos__studio_make_data_dir(srv->data_dir, err, errlen);
    if (st)
        return st;
    srv->lock_fd = kos__studio_lock(srv->data_dir, why, sizeof(why));
    if (srv->lock_fd < 0) {
        if (errno == EWOULDBLOCK) {
            bool known =
                kos__studio_rt_read(srv->data_dir, &old, why, sizeof(why)) == KOS_STATUS_OK;
            snprintf(err, errlen,
                     "another kos-server already uses the data folder %s%s%s%s (stop it with "
                     "kos-tool server.stop)",
                     srv->data_dir, known ? " (" : "", known ? old.url : "", known ? ")" : "");
        } else {
            snprintf(err, errlen, "%s", why);
        }
        return KOS_STATUS_ALREADY_EXISTS;
    }
    if (kos__studio_rt_read(srv->data_dir, &old, why, sizeof(why)) != KOS_STATUS_NOT_FOUND)
        kos__srv_log("replacing the runtime file of a server that did not stop cleanly");
    snprintf(path, sizeof(path), "%s/studio.db", srv->data_dir);
    st = kos__store_open(path, NULL, &srv->store, err, errlen);
    if (st)
        goto out_stop;
    st = kos__ca_open(srv->data_dir, &srv->ca, err, errlen);
    if (st)
        goto out_stop;
    st = KOS_STATUS_INTERNAL;
    if (!make_secret(srv->secret)) {
        snprintf(err, errlen, "cannot make a secret: the random source failed");
        goto out_stop;
    }
    srv->base = event_base_new();
    if (!srv->base || !kos__store_batching(srv->store, srv->base) ||
        !(srv->events = kos__events_create(srv->base)) ||
        !(srv->shell = kos__shell_create(srv->base, 0)) ||
        !(srv->debug = kos__debug_create(srv->base))) {
        snprintf(err, errlen, "out of memory");
        goto out_stop;
    }
    st = api_listen(srv, opts->api_port, err, errlen);
    if (st)
        goto out_stop;
    st = device_listen(srv, opts->device_port, opts->streams, err, errlen);
    if (st)
        goto out_stop;
    srv->sig_term = evsignal_new(srv->base, SIGTERM, on_signal, srv);
    srv->sig_int = evsignal_new(srv->base, SIGINT, on_signal, srv);
    if (!srv->sig_term || !srv->sig_int || evsignal_add(srv->sig_term, NULL) != 0 ||
        evsignal_add(srv->sig_int, NULL) != 0) {
        snprintf(err, errlen, "cannot catch SIGTERM and SIGINT");
        st = KOS_STATUS_INTERNAL;
        goto out_stop;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&rt, 0, sizeof(rt));
    rt.pid = getpid();
    snprintf(rt.url, sizeof(rt.url), "http://%s:%u/", srv->address, srv->api_port);
    snprintf(rt.device, sizeof(rt.device), "%s", srv->device_addr);
    snprintf(rt.secret, sizeof(rt.secret), "%s", srv->secret);
    st = kos__studio_rt_write(srv->data_dir, &rt, err, errlen);
    if (st)
        goto out_stop;
    srv->runtime_written = true;
    kos__srv_log("Studio started (pid %ld): API on http://%s:%u/, device port %s, data in %s",
                 (long)rt.pid, srv->address, srv->api_port, srv->device_addr, srv->data_dir);
    return KOS_STATUS_OK;

out_stop:
    kos__srv_stop(srv);
    return st;
}

void kos__srv_run(struct kos__srv *srv)
{
    event_base_dispatch(srv->base);
}

void kos__srv_stop(struct kos__srv *srv)
{
    if (srv->runtime_written)
        kos__studio_rt_remove(srv->data_dir, getpid());
    srv->runtime_written = false;
    kos__events_destroy(srv->events);
    srv->events = NULL;
    kos__shell_destroy(srv->shell); /* answers what waits, before evhttp goes */
    srv->shell = NULL;
    kos__debug_destroy(srv->debug); /* its ports and clients, before the device port goes */
    srv->debug = NULL;
    if (srv->devport)
        kos__devport_destroy(srv->devport);
    srv->devport = NULL;
    if (srv->http)
        evhttp_free(srv->http);
    srv->http = NULL;
    SSL_CTX_free(srv->port_ctx);
    srv->port_ctx = NULL;
    if (srv->sig_term)
        event_free(srv->sig_term);
    if (srv->sig_int)
        event_free(srv->sig_int);
    if (srv->kick_ev)
        event_free(srv->kick_ev);
    srv->sig_term = srv->sig_int = srv->kick_ev = NULL;
    if (srv->store)
        kos__store_batching(srv->store, NULL); /* before its event's base goes */
    if (srv->base)
        event_base_free(srv->base);
    srv->base = NULL;
    kos__ca_close(srv->ca);
    srv->ca = NULL;
    kos__store_close(srv->store);
    srv->store = NULL;
    if (srv->lock_fd >= 0)
        close(srv->lock_fd);
    srv->lock_fd = -1;
    OPENSSL_cleanse(srv->secret, sizeof(srv->secret));
}
