/*
 * cmd_storage.c - `kos-tool storage.show`: a boot store's generations, and
 * which is current and which is good; `kos-tool storage.import`: an image
 * into a store as its new current generation, without booting it
 * (docs/storage.md).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "opts_int.h"

#define MAX_TRUST 16
#include "store.h"
#include "tool_int.h"

static void storage_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool storage.show DIR\n"
            "\n"
            "Lists the generations of the boot store in DIR (kos-tool run --storage DIR; a\n"
            "device's data partition): each one's number, system, release number (- for\n"
            "none; 7+2 for overlay 2 of release 7), manifest digest, signer, size and when\n"
            "it was stored, which one is current (booted next) and which is good (passed\n"
            "its self test; the fallback), and the boots current has had without passing.\n"
            "Reads the store without changing it.\n"
            "\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 shown, 1 the store cannot be read, 2 usage error. See %s.\n",
            kos__tool_doc("storage.md"));
}

int kos__tool_storage_show(int argc, char **argv)
{
    struct kos_store_gen gens[KOS_STORE_MAX_GENS];
    struct kos_store_state state;
    const char *dir = NULL, *v;
    struct kos_store *s;
    struct kos__opts p;
    char err[1024];
    size_t n;
    int id;

    kos__opts_init(&p, "storage.show", argc, argv, NULL, 0);
    while ((id = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (id) {
        case KOS__OPTS_HELP:
            storage_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case KOS__OPTS_ARG:
            if (dir)
                return kos__opts_usage_error(&p, "more than one store given ('%s' and '%s')", dir,
                                             v);
            dir = v;
            break;
        }
    }
    if (!dir)
        return kos__opts_usage_error(&p, "no store given: kos-tool storage.show DIR");
    if (kos_store_open(dir, false, false, &s, err, sizeof(err))) {
        fprintf(stderr, "kos-tool storage.show: %s\n", err);
        return 1;
    }
    if (kos_store_state(s, &state, err, sizeof(err)) ||
        kos_store_list(s, gens, KOS_STORE_MAX_GENS, &n, err, sizeof(err))) {
        fprintf(stderr, "kos-tool storage.show: %s\n", err);
        kos_store_close(s);
        return 1;
    }
    kos_store_close(s);
    printf("store %s: %zu generation%s; current %u, good %u", dir, n, n == 1 ? "" : "s",
           state.current, state.good);
    if (state.current && state.current != state.good)
        printf(" (current has had %u of %u boot%s to pass its self test)", state.tries,
               KOS_STORE_TRIES, KOS_STORE_TRIES == 1 ? "" : "s");
    printf("\n");
    if (n)
        printf("  %-4s %-20s %-10s %-16s %-16s %10s  %-20s %s\n", "gen", "system", "release",
               "manifest", "signer", "bytes", "stored", "");
    for (size_t i = 0; i < n; i++) {
        const struct kos_store_gen *g = &gens[i];
        char when[32] = "?", marks[32] = "", release[24] = "-";
        time_t t = (time_t)g->created;
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        const char *mark[3] = {g->n == state.current ? "current" : NULL,
                               g->n == state.good ? "good" : NULL,
                               kos_store_failed(&state, g->n) ? "failed" : NULL};
        for (size_t k = 0, used = 0; k < 3; k++)
            if (mark[k])
                used += (size_t)snprintf(marks + used, sizeof(marks) - used, "%s%s",
                                         used ? ", " : "", mark[k]);
        if (g->release && g->overlay)
            snprintf(release, sizeof(release), "%u+%u", g->release, g->overlay);
        else if (g->release)
            snprintf(release, sizeof(release), "%u", g->release);
        printf("  %-4u %-20s %-10s %-16.16s %-16s %10llu  %-20s %s\n", g->n, g->system, release,
               g->manifest, g->signer[0] ? g->signer : "(unsigned)", (unsigned long long)g->bytes,
               when, marks);
    }
    return 0;
}

static void import_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool storage.import DIR IMAGE --trust PUBKEY... [--allow-unsigned]\n"
            "\n"
            "Verifies IMAGE (its signature against the --trust keys, every blob's digest),\n"
            "stores the blobs the boot store in DIR lacks and a record of it, and makes it\n"
            "the current generation, as kos-tool run --storage DIR IMAGE does, without\n"
            "booting it: the next boot from DIR boots it once, and falls back to the good\n"
            "generation unless its self test passes. DIR is made if missing.\n"
            "\n"
            "  --trust PUBKEY     a release public key the image may be signed with\n"
            "                     (repeatable)\n"
            "  --allow-unsigned   accept an unsigned image even if its manifest requires\n"
            "                     signing (development only)\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 stored (or current already), 1 the store cannot be written,\n"
            "2 usage error, 3 image refused. See %s.\n",
            kos__tool_doc("storage.md"));
}

kos_status_t kos__tool_store_import(const char *cmd, struct kos_store *s, const char *dir,
                                    const char *image, const struct kos_image_open_opts *io,
                                    FILE *said, const char *prefix)
{
    char err[1024];
    uint32_t gen;
    bool added;
    kos_status_t st = kos_store_import(s, image, io, &gen, &added, err, sizeof(err));

    if (st) {
        fprintf(stderr, "kos-tool %s: refusing image %s: %s\n", cmd, image, err);
        return st;
    }
    fprintf(said,
            added ? "%sstored image %s as generation %u of %s; it is current\n"
                  : "%simage %s is generation %u of %s, current already\n",
            prefix, image, gen, dir);
    return KOS_STATUS_OK;
}

int kos__tool_storage_import(int argc, char **argv)
{
    enum { OPT_TRUST, OPT_ALLOW_UNSIGNED };
    static const struct kos__opt table[] = {{"trust", 0, "PUBKEY", OPT_TRUST},
                                            {"allow-unsigned", 0, NULL, OPT_ALLOW_UNSIGNED}};
    const char *trust[MAX_TRUST], *dir = NULL, *image = NULL, *v;
    struct kos_image_open_opts io = {.trusted_keys = trust};
    struct kos_store *s;
    struct kos__opts p;
    char err[1024];
    int id;

    kos__opts_init(&p, "storage.import", argc, argv, table, 2);
    while ((id = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (id) {
        case KOS__OPTS_HELP:
            import_usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case OPT_TRUST:
            if (io.n_trusted_keys == MAX_TRUST)
                return kos__opts_usage_error(&p, "at most %d --trust keys", MAX_TRUST);
            trust[io.n_trusted_keys++] = v;
            break;
        case OPT_ALLOW_UNSIGNED:
            io.allow_unsigned = 1;
            break;
        case KOS__OPTS_ARG:
            if (dir && image)
                return kos__opts_usage_error(&p, "unexpected argument '%s'", v);
            *(dir ? &image : &dir) = v;
            break;
        }
    }
    if (!image)
        return kos__opts_usage_error(&p, "kos-tool storage.import DIR IMAGE --trust PUBKEY");
    kos_status_t st = kos_store_open(dir, true, true, &s, err, sizeof(err));
    if (st) {
        fprintf(stderr, "kos-tool storage.import: %s\n", err);
        return 1;
    }
    st = kos__tool_store_import("storage.import", s, dir, image, &io, stdout, "");
    kos_store_close(s);
    if (st)
        return st == KOS_STATUS_IO || st == KOS_STATUS_NO_MEMORY ? 1 : 3;
    return 0;
}
