/*
 * cmd_keys.c - kos-tool keys.generate.
 *
 * --release makes a release key pair: DIR/release.key (private, 0600) signs
 * system images and DIR/release.pub (public) is what devices and `kos-tool
 * run --trust` accept. --device makes a device's key bundle (docs/keys.md):
 * an Ed25519 identity key, an X25519 tunnel key and copies of the release
 * public keys the device trusts, for `kos-tool run --keys DIR`. Existing
 * keys are never overwritten.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "image_int.h"
#include "keys_int.h"
#include "opts_int.h"
#include "tool_int.h"

#define KEYS_CMD "keys.generate"

static void keys_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool keys.generate --release --out DIR\n"
            "       kos-tool keys.generate --device --out DIR [--trust RELEASE.pub]...\n"
            "\n"
            "--release makes a new Ed25519 release key pair for signing system images:\n"
            "  DIR/release.key   private key (PKCS#8 PEM, mode 0600): keep it secret;\n"
            "                    give it to kos-tool manifest.build --key\n"
            "  DIR/release.pub   public key (PEM): give it to devices and kos-tool run --trust\n"
            "DIR is created (mode 0700) if missing. Existing keys are never overwritten.\n"
            "\n"
            "--device makes a device's key bundle in DIR (a new or empty folder, mode 0700),\n"
            "held on the device by key_store (kos-tool run --keys DIR):\n"
            "  DIR/identity.key, .pub   Ed25519: the device's identity for its server link\n"
            "  DIR/tunnel.key, .pub     X25519: key agreement for the tunnel\n"
            "  DIR/trusted/ID.pub       a copy of each --trust release public key\n"
            "  DIR/bundle.txt           the index: one line per key\n"
            "Private keys are mode 0600, public keys 0644.\n"
            "\n"
            "  --release           make a release key pair\n"
            "  --device            make a device key bundle\n"
            "  --trust PUBKEY      (--device) a release public key the device trusts;\n"
            "                      repeat for several (at most 16)\n"
            "  -o, --out DIR       the folder to write\n"
            "  -h, --help          show this help\n"
            "\n"
            "Options take the forms --name VALUE and --name=VALUE. See %s.\n",
            kos__tool_doc("keys.md"));
}

/* Creates dir and any missing parents, each with mode 0700. */
static int make_dirs(const char *dir)
{
    char *p = strdup(dir);
    int rc = 0;

    if (!p)
        return -1;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0700) != 0 && errno != EEXIST)
        rc = -1;
    free(p);
    return rc;
}

/* Makes parent folders of `dir` as make_dirs() does, but not dir itself. */
static int make_parents(const char *dir)
{
    char *p = strdup(dir), *slash;
    int rc = 0;

    if (!p)
        return -1;
    slash = strrchr(p, '/');
    if (slash && slash != p) {
        *slash = '\0';
        rc = make_dirs(p);
    }
    free(p);
    return rc;
}

static int generate_device(const char *out, const char *const *trust, size_t n_trust)
{
    char err[1024], index[2048];

    if (make_parents(out) != 0) {
        fprintf(stderr, "kos-tool %s: cannot create the parent folders of %s: %s\n", KEYS_CMD, out,
                strerror(errno));
        return 1;
    }
    if (kos__key_generate_device(out, trust, n_trust, index, sizeof(index), err, sizeof(err))) {
        fprintf(stderr, "kos-tool %s: %s\n", KEYS_CMD, err);
        return 1;
    }
    printf("wrote device key bundle %s (private keys: keep them secret):\n%s", out, index);
    if (n_trust == 0)
        printf("note: no --trust key given: this device trusts no release key yet\n");
    return 0;
}

#define MAX_TRUST 16

enum { OPT_RELEASE, OPT_DEVICE, OPT_OUT, OPT_TRUST };

static const struct kos__opt keys_opts[] = {
    {"release", 0, NULL, OPT_RELEASE},
    {"device", 0, NULL, OPT_DEVICE},
    {"out", 'o', "DIR", OPT_OUT},
    {"trust", 0, "PUBKEY", OPT_TRUST},
};

int kos__tool_keys_generate(int argc, char **argv)
{
    char *priv = NULL, *pub = NULL, err[1024], id[2 * KOS__KEY_ID_LEN + 1];
    const char *out = NULL, *trust[MAX_TRUST], *v;
    size_t n_trust = 0;
    bool release = false, device = false;
    struct kos__opts p;
    struct stat st;
    int rc = 2, opt;

    kos__opts_init(&p, KEYS_CMD, argc, argv, keys_opts, sizeof(keys_opts) / sizeof(keys_opts[0]));
    while ((opt = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (opt) {
        case KOS__OPTS_HELP:
            keys_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_RELEASE:
            release = true;
            break;
        case OPT_DEVICE:
            device = true;
            break;
        case OPT_OUT:
            out = v;
            break;
        case OPT_TRUST:
            if (n_trust == MAX_TRUST)
                return kos__opts_usage_error(&p, "at most %d --trust keys", MAX_TRUST);
            trust[n_trust++] = v;
            break;
        case KOS__OPTS_ARG:
            return kos__opts_usage_error(&p, "unexpected argument '%s': the folder goes with --out",
                                         v);
        }
    }
    if (release == device)
        return kos__opts_usage_error(&p, "give one of --release (a release key pair) or --device "
                                         "(a device key bundle)");
    if (!out)
        return kos__opts_usage_error(&p, "no output folder given: add --out DIR");
    if (n_trust && !device)
        return kos__opts_usage_error(&p, "--trust goes with --device");
    if (device)
        return generate_device(out, trust, n_trust);

    rc = 1;
    if (make_dirs(out) != 0 || stat(out, &st) != 0) {
        fprintf(stderr, "kos-tool %s: cannot create folder %s: %s\n", KEYS_CMD, out,
                strerror(errno));
        return rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "kos-tool %s: %s exists and is not a folder\n", KEYS_CMD, out);
        return rc;
    }
    if (asprintf(&priv, "%s/release.key", out) < 0) {
        priv = NULL;
        goto out_oom;
    }
    if (asprintf(&pub, "%s/release.pub", out) < 0) {
        pub = NULL;
        goto out_oom;
    }
    if (kos_key_generate_release(priv, pub, err, sizeof(err)) != KOS_STATUS_OK ||
        kos__key_id_of_public_file(pub, id, err, sizeof(err)) != KOS_STATUS_OK) {
        fprintf(stderr, "kos-tool %s: %s\n", KEYS_CMD, err);
        goto out_free_paths;
    }
    printf("wrote %s (private: keep it secret) and %s (public); key id %s\n", priv, pub, id);
    rc = 0;
    goto out_free_paths;

out_oom:
    fprintf(stderr, "kos-tool %s: out of memory\n", KEYS_CMD);
out_free_paths:
    free(pub);
    free(priv);
    return rc;
}
