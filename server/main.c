/*
 * main.c - kos-server: the Studio and Fleet servers (ARCHITECTURE.md
 * section 9). This release has the Studio profile:
 *
 *   kos-server studio [--data DIR] [--port N] [--device-port N]
 *                     [--address ADDR]
 *
 * `kos-tool server.start` is how users run it (docs/studio.md). The command
 * line is read with kos-tool's one option parser (tool/opts_int.h).
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "opts_int.h"
#include "server_int.h"

#ifndef KOS_VERSION
#define KOS_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kos-server studio [--data DIR] [--port N] [--device-port N]\n"
            "                         [--address ADDR] [--streams NAME=HOST:PORT,...]\n"
            "\n"
            "Runs the Studio server: a local, single-user server for development, with a\n"
            "web UI and a JSON API on its API port and devices' links on its device port,\n"
            "both on loopback only. Users start it with kos-tool server.start.\n"
            "\n"
            "  --data DIR         its data folder (default $XDG_DATA_HOME/kos/studio, else\n"
            "                     ~/.local/share/kos/studio), made mode 0700\n"
            "  --port N           the API and web UI port (default %u; 0: any free port)\n"
            "  --device-port N    the device port (default %u; 0: any free port)\n"
            "  --address ADDR     the loopback address both listen on (default 127.0.0.1;\n"
            "                     127.0.0.0/8 only)\n"
            "  --streams LIST     the destinations devices may open streams to, by name\n"
            "                     (NAME=HOST:PORT,...; loopback addresses only)\n"
            "  -h, --help         show this help\n"
            "\n"
            "It writes DIR/studio.run (its address and secret, mode 0600) once it answers,\n"
            "and removes it when SIGTERM or SIGINT stops it. See docs/studio.md.\n",
            KOS__STUDIO_API_PORT, KOS__STUDIO_DEVICE_PORT);
}

enum { OPT_DATA, OPT_PORT, OPT_DEVICE_PORT, OPT_ADDRESS, OPT_STREAMS };

static const struct kos__opt studio_opts[] = {
    {"data", 0, "DIR", OPT_DATA},
    {"port", 0, "N", OPT_PORT},
    {"device-port", 0, "N", OPT_DEVICE_PORT},
    {"address", 0, "ADDR", OPT_ADDRESS},
    {"streams", 0, "LIST", OPT_STREAMS},
};

/* True if addr is an IPv4 address in 127.0.0.0/8. */
static bool loopback(const char *addr)
{
    struct in_addr in;

    return inet_pton(AF_INET, addr, &in) == 1 && (ntohl(in.s_addr) >> 24) == 127;
}

static int studio(int argc, char **argv)
{
    const char *data = NULL, *v;
    char dir[PATH_MAX], err[1024];
    struct kos__srv_opts o = {NULL, "127.0.0.1", KOS__STUDIO_API_PORT, KOS__STUDIO_DEVICE_PORT,
                              NULL};
    struct kos__srv srv;
    struct kos__opts p;
    int opt;

    kos__opts_init(&p, "studio", argc, argv, studio_opts,
                   sizeof(studio_opts) / sizeof(studio_opts[0]));
    p.prog = "kos-server";
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_DATA:
            data = v;
            break;
        case OPT_PORT:
            if (!kos__opts_port(&p, "port", v, &o.api_port))
                return 2;
            break;
        case OPT_DEVICE_PORT:
            if (!kos__opts_port(&p, "device-port", v, &o.device_port))
                return 2;
            break;
        case OPT_ADDRESS:
            if (strcmp(v, "localhost") == 0)
                v = "127.0.0.1";
            if (!loopback(v)) {
                fprintf(stderr,
                        "kos-server studio: --address takes a loopback address (127.0.0.0/8): "
                        "Studio is for this machine only, not '%s'\n",
                        v);
                return 2;
            }
            o.address = v;
            break;
        case OPT_STREAMS:
            o.streams = v;
            break;
        case KOS__OPTS_ARG:
            return kos__opts_usage_error(&p, "unexpected argument '%s'", v);
        }
    }
    if (o.api_port && o.api_port == o.device_port)
        return kos__opts_usage_error(&p, "--port and --device-port are both %u", o.api_port);
    if (kos__studio_data_dir(data, dir, sizeof(dir), err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-server studio: %s\n", err);
        return 1;
    }
    o.data_dir = dir;
    if (kos__srv_start(&srv, &o, err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-server studio: %s\n", err);
        return 1;
    }
    /* The secret goes to a terminal only, never into a log. */
    if (isatty(STDOUT_FILENO)) {
        printf("KOS Studio is running. Open http://%s:%u/?secret=%s in a browser.\n"
               "Devices connect to %s. Stop it with Ctrl-C.\n",
               srv.address, srv.api_port, srv.secret, srv.device_addr);
        fflush(stdout);
    }
    kos__srv_run(&srv);
    kos__srv_stop(&srv);
    kos__srv_log("stopped");
    return 0;
}

/* The heap's policy. By default glibc gives the heap's free top back once
 * it passes 128 KiB, a threshold that moves with what was mmapped: a
 * forwarded stream's buffers (OpenSSL's read-ahead of 66 KiB, evbuffer
 * chains of 64-128 KiB), freed and taken again with every message, cost a
 * brk() each way and the faults and zeroing of their pages: 4,300 brk() a
 * second on a 400 MB/s stream. The free top is kept up to
 * KOS__SERVER_HEAP_KEEP and pieces below KOS__SERVER_MMAP_MIN come from
 * the heap; the device port gives unused pages back with malloc_trim()
 * shortly after handshakes and streams end (devport.c, trim_soon()), so
 * idle links do not pay for it. */
#define KOS__SERVER_HEAP_KEEP (4 * 1024 * 1024)
#define KOS__SERVER_MMAP_MIN  (1024 * 1024)
static void heap_policy(void)
{
#ifdef __GLIBC__
    (void)mallopt(M_MMAP_THRESHOLD, KOS__SERVER_MMAP_MIN);
    (void)mallopt(M_TRIM_THRESHOLD, KOS__SERVER_HEAP_KEEP);
#endif
}

int main(int argc, char **argv)
{
    heap_policy();
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("kos-server %s\n", KOS_VERSION);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "studio"))
        return studio(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "fleet")) {
        fprintf(stderr, "kos-server: the fleet profile is not built yet; run kos-server studio\n");
        return 2;
    }
    fprintf(stderr, "kos-server: give a profile: kos-server studio [OPTIONS] (see --help)\n");
    return 2;
}
