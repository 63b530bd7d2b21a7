/*
 * cm_walk.c - the compiled-manifest walk shared by the fuzz harnesses
 * (cm_walk.h).
 */
#include <string.h>

#include "cm_walk.h"
#include "fuzz.h"

/* Folds a string into the digest; strlen() is the read that must stay in
 * bounds. */
static uint64_t mix_str(uint64_t h, const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ n;
}

/* Checks that entries [first, first+n) lie inside a table of `total`. */
static void check_range(uint32_t proc, const char *what, uint32_t first, uint32_t n, uint32_t total)
{
    if ((uint64_t)first + n > total)
        kos_fuzz_fail("kos_cm_open accepted process %u whose %s (%u from %u) run past the "
                      "table's %u entries",
                      proc, what, n, first, total);
}

static uint64_t walk_strrefs(const struct kos_cm *cm, uint64_t h, uint32_t first, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        h = mix_str(h, kos_cm_strref(cm, first + k));
    return h;
}

static uint64_t walk_res(const struct kos_cm *cm, uint64_t h, uint32_t i)
{
    const struct kos_cm_res *r = kos_cm_res(cm, i);

    h = mix_str(h, kos_cm_str(cm, r->name));
    h ^= r->access;
    switch (r->kind) {
    case KOS_CM_RES_DEVICE:
        h = mix_str(h, kos_cm_str(cm, r->target));
        break;
    case KOS_CM_RES_REGION:
        if (r->target >= kos_cm_nregions(cm))
            kos_fuzz_fail("kos_cm_open accepted resource %u naming region %u of %u", i, r->target,
                          kos_cm_nregions(cm));
        h = mix_str(h, kos_cm_str(cm, kos_cm_region(cm, r->target)->name));
        break;
    default:
        kos_fuzz_fail("kos_cm_open accepted resource %u of kind %u", i, r->kind);
    }
    return h;
}

uint64_t kos_fuzz_cm_walk(const struct kos_cm *cm)
{
    const struct kos_cm_header *hdr = cm->hdr;
    uint32_t n = kos_cm_nprocs(cm);
    uint64_t h = 0xcbf29ce484222325ull;

    h = mix_str(h, kos_cm_str(cm, hdr->system_name));
    h ^= kos_cm_signing_disabled(cm);
    if (n == 0 || n > KOS_CM_MAX_PROCS)
        kos_fuzz_fail("kos_cm_open accepted %u processes", n);

    /* Every table on its own, entry by entry. */
    for (uint32_t i = 0; i < hdr->n_strrefs; i++)
        h = mix_str(h, kos_cm_strref(cm, i));
    for (uint32_t i = 0; i < hdr->n_grants; i++) {
        const struct kos_cm_grant *g = kos_cm_grant(cm, i);
        if (g->server >= n || kos_cm_proc(cm, g->server)->role != KOS_CM_ROLE_MSG_SERVER)
            kos_fuzz_fail("kos_cm_open accepted grant %u naming process %u, not a message server",
                          i, g->server);
        h = mix_str(h ^ g->kind, kos_cm_str(cm, g->protocol));
    }
    for (uint32_t i = 0; i < kos_cm_nregions(cm); i++) {
        const struct kos_cm_region *r = kos_cm_region(cm, i);
        h = mix_str(h ^ r->size, kos_cm_str(cm, r->name));
    }
    for (uint32_t i = 0; i < hdr->n_res; i++)
        h = walk_res(cm, h, i);

    /* Every process, through the ranges it names. */
    for (uint32_t i = 0; i < n; i++) {
        const struct kos_cm_proc *p = kos_cm_proc(cm, i);
        const char *name = kos_cm_str(cm, p->name);

        h = mix_str(h, name);
        h = mix_str(h, kos_cm_str(cm, p->binary));
        for (size_t b = 0; b < sizeof(p->sha256); b++)
            h = (h ^ p->sha256[b]) * 0x100000001b3ull;
        h ^= p->role ^ p->restart ^ p->memory ^ p->flags ^ p->restart_max ^ p->restart_period_ms ^
             p->max_procs ^ p->max_files;
        check_range(i, "arguments", p->args_first, p->n_args, hdr->n_strrefs);
        h = walk_strrefs(cm, h, p->args_first, p->n_args);
        check_range(i, "environment entries", p->env_first, p->n_env, hdr->n_strrefs);
        h = walk_strrefs(cm, h, p->env_first, p->n_env);
        check_range(i, "config entries", p->config_first, p->n_config, hdr->n_strrefs);
        h = walk_strrefs(cm, h, p->config_first, p->n_config);
        check_range(i, "grants", p->grants_first, p->n_grants, hdr->n_grants);
        for (uint32_t g = 0; g < p->n_grants; g++)
            h = mix_str(h, kos_cm_str(cm, kos_cm_grant(cm, p->grants_first + g)->protocol));
        check_range(i, "resources", p->res_first, p->n_res, hdr->n_res);
        for (uint32_t r = 0; r < p->n_res; r++)
            h = walk_res(cm, h, p->res_first + r);
        if (p->role != KOS_CM_ROLE_APP && p->role != KOS_CM_ROLE_MSG_SERVER)
            kos_fuzz_fail("kos_cm_open accepted process %u with role %u", i, p->role);
        /* Names are unique, so Core finds each process by its own name. */
        if (kos_cm_find(cm, name) != (int)i)
            kos_fuzz_fail("kos_cm_find('%s') is %d, not %u: names are not unique", name,
                          kos_cm_find(cm, name), i);
    }
    return h;
}
