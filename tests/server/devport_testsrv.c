/*
 * devport_testsrv.c - a small server around the device port (devport.h),
 * for the tests: no database, the hooks are here. It prints each event on
 * stdout, one line each (flushed), and takes commands on stdin:
 *
 *   devport_testsrv --cert F --key F --ca F [--listen ADDR] [--allow ID,ID...]
 *                   [--echo] [--limits HS_MS,UPGRADE_MS,IDLE_MS,WINDOW]
 *                   [--streams NAME=HOST:PORT,...] [--doze MS]
 *
 *   stdout: "listening PORT", "admit ID yes|no", "online ID",
 *           "offline ID: WHY", "data ID CH LEN TEXT" (TEXT the first 64
 *           bytes, non-printable as '.'), "send ID CH: STATUS",
 *           "note ID TEXT" (streams opened, refused, ended)
 *           "links UP DOZING" (the answer to "links")
 *   stdin:  "send ID CH TEXT" (TEXT once, or "send ID CH xN TEXT" N times),
 *           "kick ID", "links", "quit"
 *   --allow  the devices admit() lets in ("*": any); others are refused
 *   --echo   answers each message on channel 1 with "echo: " and it
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "devport.h"

static const char *allow = "";
static bool echo;
static struct kos__devport *dp;
static struct event_base *base;

static kos_status_t admit(void *arg, const char *id)
{
    bool ok = !strcmp(allow, "*") || strstr(allow, id) != NULL;

    (void)arg;
    printf("admit %s %s\n", id, ok ? "yes" : "no");
    fflush(stdout);
    return ok ? KOS_STATUS_OK : KOS_STATUS_UNAUTHORIZED;
}

static void online(void *arg, const char *id)
{
    (void)arg;
    printf("online %s\n", id);
    fflush(stdout);
}

static void offline(void *arg, const char *id, const char *why)
{
    (void)arg;
    printf("offline %s: %s\n", id, why);
    fflush(stdout);
}

static void note(void *arg, const char *id, const char *text)
{
    (void)arg;
    printf("note %s %s\n", id, text);
    fflush(stdout);
}

static void data(void *arg, const char *id, uint32_t ch, const uint8_t *p, size_t n)
{
    char text[65];
    size_t i;

    (void)arg;
    for (i = 0; i < n && i < 64; i++)
        text[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
    text[i] = '\0';
    printf("data %s %u %zu %s\n", id, ch, n, text);
    fflush(stdout);
    if (echo && ch == 1 && n + 6 <= 4096) {
        uint8_t out[4096 + 6];
        memcpy(out, "echo: ", 6);
        memcpy(out + 6, p, n);
        kos_status_t st = kos__devport_send(dp, id, 1, out, n + 6);
        if (st) {
            printf("send %s 1: %s\n", id, kos_status_str(st));
            fflush(stdout);
        }
    }
}

static void command(evutil_socket_t fd, short what, void *arg)
{
    static char line[8192];
    static size_t have;
    ssize_t n;

    (void)what;
    (void)arg;
    n = read(fd, line + have, sizeof(line) - 1 - have);
    if (n <= 0) {
        event_base_loopbreak(base);
        return;
    }
    have += (size_t)n;
    for (char *nl; (nl = memchr(line, '\n', have));) {
        char id[80], text[4096];
        unsigned ch, times = 1;
        *nl = '\0';
        if (sscanf(line, "send %79s %u x%u %4095[^\n]", id, &ch, &times, text) == 4 ||
            sscanf(line, "send %79s %u %4095[^\n]", id, &ch, text) == 3) {
            kos_status_t st = KOS_STATUS_OK;
            unsigned sent = 0;
            for (; sent < times && !(st = kos__devport_send(dp, id, ch, text, strlen(text)));
                 sent++)
                ;
            printf("send %s %u: %s (%u sent)\n", id, ch, kos_status_str(st), sent);
        } else if (sscanf(line, "kick %79s", id) == 1) {
            kos__devport_kick(dp, id);
            printf("kicked %s\n", id);
        } else if (!strcmp(line, "links")) {
            size_t up, dozing;
            kos__devport_links(dp, &up, &dozing);
            printf("links %zu %zu\n", up, dozing);
        } else if (!strcmp(line, "quit")) {
            event_base_loopbreak(base);
        }
        fflush(stdout);
        have -= (size_t)(nl + 1 - line);
        memmove(line, nl + 1, have);
    }
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *ca = NULL, *listen = "127.0.0.1:0", *limits = NULL,
               *streams = NULL;
    uint32_t doze = 0;
    struct kos__devport_hooks hooks = {
        .admit = admit, .online = online, .offline = offline, .data = data, .note = note};
    char err[256];
    SSL_CTX *ctx;
    struct event *in;

    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--echo"))
            echo = true;
        else if (i + 1 < argc && !strcmp(argv[i], "--cert"))
            cert = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--key"))
            key = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--ca"))
            ca = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--listen"))
            listen = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--allow"))
            allow = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--limits"))
            limits = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--streams"))
            streams = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--doze"))
            doze = (uint32_t)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: devport_testsrv --cert F --key F --ca F [--listen ADDR] "
                            "[--allow IDS] [--echo] [--limits HS,UP,IDLE,WINDOW] "
                            "[--streams LIST] [--doze MS]\n");
            return 2;
        }
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (!cert || !key || !ca || !ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        ERR_print_errors_fp(stderr);
        fprintf(stderr, "devport_testsrv: cannot set up TLS\n");
        return 1;
    }
    base = event_base_new();
    dp = kos__devport_create(base, ctx, listen, &hooks, err, sizeof(err));
    if (!dp) {
        fprintf(stderr, "devport_testsrv: %s\n", err);
        return 1;
    }
    if (kos__devport_set_streams(dp, streams, true, err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "devport_testsrv: %s\n", err);
        return 2;
    }
    if (limits) {
        unsigned hs = 0, up = 0, idle = 0, win = 0;
        sscanf(limits, "%u,%u,%u,%u", &hs, &up, &idle, &win);
        kos__devport_set_limits(dp, hs, up, idle, win);
    }
    if (doze)
        kos__devport_set_doze(dp, doze);
    in = event_new(base, 0, EV_READ | EV_PERSIST, command, NULL);
    event_add(in, NULL);
    printf("listening %u\n", kos__devport_port(dp));
    fflush(stdout);
    event_base_dispatch(base);
    event_free(in);
    kos__devport_destroy(dp);
    event_base_free(base);
    SSL_CTX_free(ctx);
    return 0;
}
