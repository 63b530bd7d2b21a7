/*
 * cmd_run.c - `kos-tool run`: boot a system image on the sim platform.
 *
 * What stays true: nothing starts before every argument was read and the
 * image argument is at least a file that could be an image; a folder or a
 * manifest given instead is refused with a line saying what to give.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "platform.h"
#include "sandbox.h"
#include "store.h"
#include "opts_int.h"
#include "tool_int.h"

#define MAX_TRUST 16

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool run IMAGE [--trust PUBKEY]... [--keys DIR] [--console FILE]\n"
            "                          [--grace MS] [--allow-unsigned] [--state-dir DIR]\n"
            "                          [--isolation strict|best-effort|none]\n"
            "                          [--self-test-timeout MS]\n"
            "       kos-tool run --storage DIR [IMAGE] [the same options]\n"
            "       kos-tool run --platform qemu-arm-virt DISK\n"
            "\n"
            "Boots a system image (the manifest.zip that kos-tool manifest.build or\n"
            "kos_add_system() wrote) on the sim platform: verifies it, starts its message\n"
            "servers and apps, prints the console and supervises the apps until the system\n"
            "ends or is interrupted (SIGINT or SIGTERM; SIGUSR1 prints a state summary).\n"
            "\n"
            "  --trust PUBKEY     a release public key the image may be signed with\n"
            "                     (repeatable)\n"
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
            "                     directory under $XDG_RUNTIME_DIR or /tmp, removed at the end;\n"
            "                     with --storage, DIR/apps, kept)\n"
            "  --storage DIR      boot from a boot store, as a device does from its storage:\n"
            "                     IMAGE, if given, is verified and stored as a new generation\n"
            "                     that becomes current; Core boots current, falls back to the\n"
            "                     good generation when current fails its self test, and boots\n"
            "                     again on a reboot (DIR is made if missing; kos-tool\n"
            "                     storage.show DIR lists its generations)\n"
            "  --isolation MODE   strict: every sandbox layer or no boot (default unless the\n"
            "                     manifest says isolation: best_effort); best-effort: boot\n"
            "                     with what the host allows and say what is missing; none:\n"
            "                     no sandbox at all (development and benchmarks only)\n"
            "  --self-test-timeout MS\n"
            "                     how long after boot the self test (the app with\n"
            "                     reports_self_test: true) has to report before it counts\n"
            "                     as failed (default 60000)\n"
            "  --platform SPEC    sim (the default: Core runs here, as above), or\n"
            "                     qemu-arm-virt: boot DISK, the disk image kos-tool bootstrap\n"
            "                     wrote, under qemu-system-aarch64 with U-Boot (no other\n"
            "                     option applies; Ctrl-C stops it; see %s)\n"
            "  -h, --help         show this help\n"
            "\n"
            "Options take the forms --name VALUE and --name=VALUE.\n"
            "Exit status: 0 clean end, 1 an app failed or a message server died,\n"
            "2 usage error (or a key bundle refused), 3 image refused, 4 host error,\n"
            "5 the system ran but its self test failed. See %s.\n",
            kos__tool_doc("boards.md"), kos__tool_doc("running.md"));
}

/* Says what IMAGE is when it cannot be an image at all (a folder, a
 * manifest) and returns false; kos_image_open() judges everything else. */
static bool image_arg_ok(const char *path)
{
    struct stat st;
    char head[512];
    size_t n = 0;
    FILE *f;

    if (stat(path, &st) != 0)
        return true; /* said by Core, as every other refusal */
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "kos-tool run: %s is a folder, not a system image: give the .zip that kos-tool "
                "manifest.build -o wrote (kos_add_system() writes <build dir>/<name>.zip)\n",
                path);
        return false;
    }
    if (!S_ISREG(st.st_mode) || !(f = fopen(path, "rb")))
        return true;
    n = fread(head, 1, sizeof(head) - 1, f);
    fclose(f);
    head[n] = '\0';
    if (n >= 4 && memcmp(head, "PK", 2) == 0)
        return true;
    size_t len = strlen(path);
    bool yaml_name = (len > 5 && strcmp(path + len - 5, ".yaml") == 0) ||
                     (len > 4 && strcmp(path + len - 4, ".yml") == 0);
    if (yaml_name || strncmp(head, "system:", 7) == 0 || strstr(head, "\nsystem:")) {
        fprintf(stderr,
                "kos-tool run: %s is a manifest, not a system image: build the image first, "
                "with kos-tool manifest.build %s -o manifest.zip --key RELEASE.key (or "
                "kos_add_system() in CMake), then run manifest.zip\n",
                path, path);
        return false;
    }
    return true;
}

/* --storage: IMAGE, if any, into the store; then Core, again after each
 * reboot, until the system ends. */
static int run_from_store(struct kos_core_opts *o, const char *dir)
{
    struct kos_image_open_opts io = {.trusted_keys = o->trusted_keys,
                                     .n_trusted_keys = o->n_trusted_keys,
                                     .allow_unsigned = o->allow_unsigned};
    char err[1024], state[4096];
    struct kos_store *s;
    int rc;

    kos_status_t st = kos_store_open(dir, true, true, &s, err, sizeof(err));
    if (st) {
        fprintf(stderr, "kos-tool run: %s\n", err);
        return st == KOS_STATUS_BUSY || st == KOS_STATUS_IO ? 4 : 2;
    }
    if (o->image_path) {
        if (kos__tool_store_import("run", s, dir, o->image_path, &io, stderr, "kos-tool run: ")) {
            kos_store_close(s);
            return 3;
        }
    }
    if (!o->state_dir) {
        snprintf(state, sizeof(state), "%s/apps", dir);
        o->state_dir = state;
    }
    o->store = s;
    o->image_path = NULL;
    rc = kos__platform_run_store(o); /* sim: Core runs again after each reboot */
    kos_store_close(s);
    return rc;
}

enum {
    OPT_TRUST,
    OPT_KEYS,
    OPT_CONSOLE,
    OPT_GRACE,
    OPT_SELF_TEST_TIMEOUT,
    OPT_STATE_DIR,
    OPT_ISOLATION,
    OPT_ALLOW_UNSIGNED,
    OPT_STORAGE,
    OPT_PLATFORM
};

static const struct kos__opt run_opts[] = {
    {"trust", 0, "PUBKEY", OPT_TRUST},
    {"keys", 0, "DIR", OPT_KEYS},
    {"console", 0, "FILE", OPT_CONSOLE},
    {"grace", 0, "MS", OPT_GRACE},
    {"self-test-timeout", 0, "MS", OPT_SELF_TEST_TIMEOUT},
    {"state-dir", 0, "DIR", OPT_STATE_DIR},
    {"isolation", 0, "MODE", OPT_ISOLATION},
    {"allow-unsigned", 0, NULL, OPT_ALLOW_UNSIGNED},
    {"storage", 0, "DIR", OPT_STORAGE},
    {"platform", 0, "SPEC", OPT_PLATFORM},
};

/* --isolation's values, in the order of enum kos_sandbox_isolation. */
static const char *const isolation_names[] = {"strict", "best-effort", "none"};
_Static_assert(KOS_SANDBOX_STRICT == 0 && KOS_SANDBOX_BEST_EFFORT == 1 && KOS_SANDBOX_NONE == 2,
               "isolation_names follows enum kos_sandbox_isolation");

int kos__tool_run(int argc, char **argv)
{
    const char *trust[MAX_TRUST], *v;
    struct kos_core_opts o = {.console_fd = STDOUT_FILENO, .trusted_keys = trust, .isolation = -1};
    const char *storage = NULL, *platform = NULL, *sim_opt = NULL; /* an option of sim's */
    struct kos__opts p;
    unsigned long ms;
    int id, k;

    kos__opts_init(&p, "run", argc, argv, run_opts, sizeof(run_opts) / sizeof(run_opts[0]));
    while ((id = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        for (size_t i = 0;
             id >= 0 && id != OPT_PLATFORM && i < sizeof(run_opts) / sizeof(run_opts[0]); i++)
            if (run_opts[i].id == id)
                sim_opt = run_opts[i].name;
        switch (id) {
        case KOS__OPTS_HELP:
            run_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_TRUST:
            if (o.n_trusted_keys == MAX_TRUST)
                return kos__opts_usage_error(&p, "at most %d --trust keys", MAX_TRUST);
            trust[o.n_trusted_keys++] = v;
            break;
        case OPT_KEYS:
            if (o.keys_dir)
                return kos__opts_usage_error(&p, "--keys given twice ('%s' and '%s')", o.keys_dir,
                                             v);
            o.keys_dir = v;
            break;
        case OPT_CONSOLE:
            o.console_path = v;
            break;
        case OPT_GRACE:
            if (!kos__opts_number(&p, "grace", v, 1, 600000, "milliseconds", &ms))
                return 2;
            o.grace_ms = (unsigned)ms;
            break;
        case OPT_SELF_TEST_TIMEOUT:
            if (!kos__opts_number(&p, "self-test-timeout", v, 1, 3600000, "milliseconds", &ms))
                return 2;
            o.self_test_timeout_ms = (unsigned)ms;
            break;
        case OPT_STATE_DIR:
            o.state_dir = v;
            break;
        case OPT_ISOLATION:
            /* best_effort, as a manifest writes it, is accepted too. */
            k = strcmp(v, "best_effort") == 0
                    ? KOS_SANDBOX_BEST_EFFORT
                    : kos__opts_choice(&p, "isolation", v, isolation_names,
                                       sizeof(isolation_names) / sizeof(isolation_names[0]));
            if (k < 0)
                return 2;
            o.isolation = k;
            break;
        case OPT_ALLOW_UNSIGNED:
            o.allow_unsigned = true;
            break;
        case OPT_STORAGE:
            if (storage)
                return kos__opts_usage_error(&p, "--storage given twice ('%s' and '%s')", storage,
                                             v);
            storage = v;
            break;
        case OPT_PLATFORM:
            platform = v;
            break;
        case KOS__OPTS_ARG:
            if (o.image_path)
                return kos__opts_usage_error(&p, "more than one image given ('%s' and '%s')",
                                             o.image_path, v);
            o.image_path = v;
            break;
        }
    }
    if (platform && strcmp(platform, "sim") != 0) {
        if (strcmp(platform, "qemu-arm-virt") != 0 &&
            strcmp(platform, "qemu-arm-virt,arch=aarch64") != 0)
            return kos__opts_usage_error(&p, "--platform takes sim or qemu-arm-virt, not '%s'",
                                         platform);
        if (sim_opt)
            return kos__opts_usage_error(&p,
                                         "--%s is for the sim platform: a device's disk holds its "
                                         "store, keys and trusted keys (kos-tool bootstrap)",
                                         sim_opt);
        if (!o.image_path)
            return kos__opts_usage_error(&p, "no disk given: kos-tool run --platform "
                                             "qemu-arm-virt DISK (kos-tool bootstrap writes it)");
        return kos__tool_run_qemu(o.image_path);
    }
    if (!o.image_path && !storage)
        return kos__opts_usage_error(&p, "no image given: kos-tool run IMAGE.zip --trust PUBKEY");
    if (o.image_path && !image_arg_ok(o.image_path))
        return 3;
    /* Console lines must reach a pipe reader promptly. */
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!storage)
        return kos_core_run(&o);
    return run_from_store(&o, storage);
}
