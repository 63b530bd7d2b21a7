/*
 * cmd_keys.c - kos-tool keys.generate.
 *
 * Today it makes release key pairs only: DIR/release.key (private, 0600)
 * signs system images and DIR/release.pub (public) is what devices and
 * `kos-tool run --trust` accept. Existing keys are never overwritten. Device
 * keys come with provisioning in a later issue.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "image_int.h"
#include "tool_int.h"

#define KEYS_CMD "keys.generate"

static void keys_usage(FILE *f)
{
    fprintf(f, "usage: kos-tool keys.generate --release --out DIR\n"
               "\n"
               "Makes a new Ed25519 release key pair for signing system images:\n"
               "  DIR/release.key   private key (PKCS#8 PEM, mode 0600): keep it secret;\n"
               "                    give it to kos-tool manifest.build --key\n"
               "  DIR/release.pub   public key (PEM): give it to devices and kos-tool run --trust\n"
               "DIR is created (mode 0700) if missing. Existing keys are never overwritten.\n"
               "\n"
               "Not yet: device keys (generated at provisioning) come in a later release;\n"
               "today --release is required.\n"
               "\n"
               "  --release           make a release key pair\n"
               "  --out DIR           folder for the two files\n"
               "  -h, --help          show this help\n");
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

int kos__tool_keys_generate(int argc, char **argv)
{
    char *priv = NULL, *pub = NULL, err[1024], id[2 * KOS__KEY_ID_LEN + 1];
    const char *out = NULL;
    bool release = false;
    struct stat st;
    int rc = 2;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            keys_usage(stdout);
            return 0;
        } else if (strcmp(a, "--release") == 0) {
            release = true;
        } else if (strncmp(a, "--out=", 6) == 0) {
            out = a + 6;
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kos-tool %s: option '%s' needs a value; see kos-tool %s --help\n",
                        KEYS_CMD, a, KEYS_CMD);
                return 2;
            }
            out = argv[++i];
        } else if (strcmp(a, "--device") == 0) {
            fprintf(stderr,
                    "kos-tool %s: device keys are not supported yet (they come with device "
                    "provisioning in a later release); only --release works today\n",
                    KEYS_CMD);
            return 2;
        } else {
            fprintf(stderr, "kos-tool %s: unknown argument '%s'; see kos-tool %s --help\n",
                    KEYS_CMD, a, KEYS_CMD);
            return 2;
        }
    }
    if (!release) {
        fprintf(stderr,
                "kos-tool %s: give --release: only release keys can be generated today "
                "(device keys come with device provisioning in a later release)\n",
                KEYS_CMD);
        return 2;
    }
    if (!out || !*out) {
        fprintf(stderr, "kos-tool %s: no output folder given: add --out DIR\n", KEYS_CMD);
        return 2;
    }

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
