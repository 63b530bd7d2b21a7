/*
 * main.c - kos-tool: dispatch to a sub-command.
 *
 * Sub-commands are named family.verb (manifest.build, keys.generate) or a
 * single verb (run); each lives in the cmd_<family>.c file of its family.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool_int.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"manifest.build", kos__tool_manifest_build, "compile a manifest into a signed system image"},
    {"manifest.check", kos__tool_manifest_check,
     "validate a manifest and run the assurance checks"},
    {"keys.generate", kos__tool_keys_generate, "make a release key pair, or a device's key bundle"},
    {"run", kos__tool_run, "boot a system image on the sim platform, or a device's disk"},
    {"bootstrap", kos__tool_bootstrap,
     "write a device's first disk (an image or a card; qemu-arm-virt and boards)"},
    {"network.enable_forwarding", kos__tool_network_enable_forwarding,
     "let a device on a TAP interface reach beyond this machine (nftables)"},
    {"network.disable_forwarding", kos__tool_network_disable_forwarding,
     "take back what network.enable_forwarding did"},
    {"storage.show", kos__tool_storage_show,
     "list a boot store's generations, and which is current and good"},
    {"storage.import", kos__tool_storage_import,
     "store an image in a boot store as its current generation, without booting"},
    {"log.view", kos__tool_log_view, "filter a console stream, live or saved, or a log store"},
    {"new", kos__tool_new,
     "make a new project from a template (hello, ping_pong, sensor, protobuf)"},
    {"watch", kos__tool_watch, "rebuild a project on every change and boot its system again"},
    {"server.start", kos__tool_server_start,
     "start the local Studio server and print the address to open"},
    {"server.stop", kos__tool_server_stop, "stop the local Studio server"},
    {"server.status", kos__tool_server_status,
     "say whether the Studio server runs, where, and its devices"},
    {"toolbox.remote_shell", kos__tool_toolbox_remote_shell,
     "a console on a device's command console, through Studio"},
    {"toolbox.relay", kos__tool_toolbox_relay,
     "join standard input and output to a loopback TCP port (for QEMU devices)"},
    {"debug", kos__tool_debug, "debug an app of a device with gdb, through Studio"},
    {"push", kos__tool_push, "push a system image to a device through Studio, and follow it"},
};

const char *kos__tool_self_dir(void)
{
    static char dir[PATH_MAX];
    ssize_t n;

    if (dir[0])
        return dir;
    n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
    if (n <= 0) {
        strcpy(dir, ".");
        return dir;
    }
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    return dir;
}

#ifndef KOS_INSTALL_DOCS_REL
#define KOS_INSTALL_DOCS_REL "../share/doc/kos"
#endif

const char *kos__tool_doc(const char *page)
{
    static char paths[4][PATH_MAX];
    static unsigned next;
    char *out = paths[next++ % 4];
    struct stat st;

    const char *sep = page[0] ? "/" : "";

    snprintf(out, PATH_MAX, "%s/%s%s%s", kos__tool_self_dir(), KOS_INSTALL_DOCS_REL, sep, page);
    if (stat(out, &st) == 0)
        return out;
#ifdef KOS_SOURCE_DOCS_DIR
    snprintf(out, PATH_MAX, "%s%s%s", KOS_SOURCE_DOCS_DIR, sep, page);
#else
    snprintf(out, PATH_MAX, "docs%s%s", sep, page);
#endif
    return out;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kos-tool COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-21s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n'kos-tool COMMAND --help' describes each command; options take the forms\n"
            "--name VALUE and --name=VALUE. The guides are in %s.\n",
            kos__tool_doc(""));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kos-tool %s\n", KOS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "kos-tool: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
