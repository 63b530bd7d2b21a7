/*
 * cmd_run.c - `kos-tool run`: boot a system image on the sim platform.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "sandbox.h"
#include "tool_int.h"

#define MAX_TRUST 16

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool run IMAGE [--trust PUBKEY]... [--keys DIR] [--console FILE]\n"
            "                          [--grace MS] [--allow-unsigned] [--state-dir DIR]\n"
            "                          [--isolation strict|best-effort|none]\n"
            "                          [--self-test-timeout MS]\n"
            "\n"
            "Boots a system image (manifest.zip) on the sim platform: verifies it, starts\n"
            "its message servers and apps, prints the console and supervises the apps until\n"
            "the system ends or is interrupted (SIGINT or SIGTERM; SIGUSR1 prints a state\n"
            "summary).\n"
            "\n"
            "  --trust PUBKEY     a release public key the image may be signed with\n"
            "  --keys DIR         the device's key bundle (kos-tool keys.generate --device):\n"
            "                     handed read-only to the app with device_keys: true\n"
            "                     (key_store), never to any other and never into the image\n"
            "  --console FILE     also append the console to FILE (for log.view)\n"
            "  --grace MS         how long each app gets to stop, from when it is asked, before\n"
            "                     SIGKILL (default 3000); clients are asked before the\n"
            "                     services they use\n"
            "  --allow-unsigned   accept an unsigned image even if its manifest requires\n"
            "                     signing (development only)\n"
            "  --state-dir DIR    where apps' data directories live (default: a fresh\n"
            "                     directory under $XDG_RUNTIME_DIR or /tmp, removed at the end)\n"
            "  --isolation MODE   strict: every sandbox layer or no boot (default unless the\n"
            "                     manifest says isolation: best_effort); best-effort: boot\n"
            "                     with what the host allows and say what is missing; none:\n"
            "                     no sandbox at all (development and benchmarks only)\n"
            "  --self-test-timeout MS\n"
            "                     how long after boot the self test (the app with\n"
            "                     reports_self_test: true) has to report before it counts\n"
            "                     as failed (default 60000)\n"
            "\n"
            "Exit status: 0 clean end, 1 an app failed or a message server died,\n"
            "2 usage error (or a key bundle refused), 3 image refused, 4 host error,\n"
            "5 the system ran but its self test failed.\n");
}

int kos__tool_run(int argc, char **argv)
{
    const char *trust[MAX_TRUST];
    struct kos_core_opts o = {.console_fd = STDOUT_FILENO, .trusted_keys = trust, .isolation = -1};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            run_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--trust") && has_val) {
            if (o.n_trusted_keys == MAX_TRUST) {
                fprintf(stderr, "kos-tool run: at most %d --trust keys\n", MAX_TRUST);
                return 2;
            }
            trust[o.n_trusted_keys++] = argv[++i];
        } else if (!strcmp(a, "--keys") && has_val) {
            if (o.keys_dir) {
                fprintf(stderr, "kos-tool run: --keys given twice ('%s' and '%s')\n", o.keys_dir,
                        argv[i + 1]);
                return 2;
            }
            o.keys_dir = argv[++i];
        } else if (!strcmp(a, "--console") && has_val) {
            o.console_path = argv[++i];
        } else if (!strcmp(a, "--grace") && has_val) {
            char *end;
            errno = 0;
            unsigned long ms = strtoul(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || ms == 0 || ms > 600000) {
                fprintf(stderr,
                        "kos-tool run: --grace takes milliseconds from 1 to 600000, not '%s'\n",
                        argv[i]);
                return 2;
            }
            o.grace_ms = (unsigned)ms;
        } else if (!strcmp(a, "--self-test-timeout") && has_val) {
            char *end;
            errno = 0;
            unsigned long ms = strtoul(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || ms == 0 || ms > 3600000) {
                fprintf(stderr,
                        "kos-tool run: --self-test-timeout takes milliseconds from 1 to "
                        "3600000, not '%s'\n",
                        argv[i]);
                return 2;
            }
            o.self_test_timeout_ms = (unsigned)ms;
        } else if (!strcmp(a, "--state-dir") && has_val) {
            o.state_dir = argv[++i];
        } else if (!strcmp(a, "--isolation") && has_val) {
            const char *m = argv[++i];
            if (!strcmp(m, "strict"))
                o.isolation = KOS_SANDBOX_STRICT;
            else if (!strcmp(m, "best-effort") || !strcmp(m, "best_effort"))
                o.isolation = KOS_SANDBOX_BEST_EFFORT;
            else if (!strcmp(m, "none"))
                o.isolation = KOS_SANDBOX_NONE;
            else {
                fprintf(stderr,
                        "kos-tool run: --isolation takes strict, best-effort or none, not '%s'\n",
                        m);
                return 2;
            }
        } else if (!strcmp(a, "--allow-unsigned")) {
            o.allow_unsigned = true;
        } else if (a[0] == '-') {
            fprintf(stderr, "kos-tool run: unknown option or missing value: '%s'\n", a);
            run_usage(stderr);
            return 2;
        } else if (!o.image_path) {
            o.image_path = a;
        } else {
            fprintf(stderr, "kos-tool run: more than one image given ('%s' and '%s')\n",
                    o.image_path, a);
            return 2;
        }
    }
    if (!o.image_path) {
        fprintf(stderr, "kos-tool run: no image given\n");
        run_usage(stderr);
        return 2;
    }
    /* Console lines must reach a pipe reader promptly. */
    setvbuf(stdout, NULL, _IONBF, 0);
    return kos_core_run(&o);
}
