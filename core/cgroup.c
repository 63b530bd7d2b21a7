/*
 * cgroup.c - resource limits by cgroup v2 where Core owns the hierarchy (a
 * device, where Core is PID 1: kos_core_opts.cgroup_dir; docs/sandbox.md
 * "Limits"). Each app and message server gets its own cgroup, app.<name>,
 * under the hierarchy's root, with memory.max from its manifest's memory:
 * (and its memory regions) and pids.max from its processes, and its
 * process is placed in it before anything of the app runs. It bounds what
 * rlimits cannot: the app's page cache, kernel memory and tmpfs pages, and
 * every process it has, together. The rlimits stay as well. On sim, where
 * the machine's own supervisor owns the hierarchy, Core never touches it.
 */
#include "core_int.h"
#include "file_int.h"

/* The count of OOM kills memory.events of cgroup folder fd says, or
 * UINT64_MAX when it cannot be read. */
static uint64_t oom_kills(int fd)
{
    char events[512];
    const char *at;
    size_t len;

    if (kos__file_read_small(fd, "memory.events", events, sizeof(events), &len) != 0 ||
        (at = strstr(events, "oom_kill ")) == NULL)
        return UINT64_MAX;
    return strtoull(at + 9, NULL, 10);
}

/* Whether the space-separated list `list` holds `word`. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

int kos__core_cgroup_init(struct core *c, const char *dir, char *why, size_t whylen)
{
    char ctl[256];
    int err;

    c->cgroup_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->cgroup_fd < 0) {
        snprintf(why, whylen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    size_t len;

    if ((err = kos__file_read_small(c->cgroup_fd, "cgroup.controllers", ctl, sizeof(ctl), &len)) !=
            0 ||
        !has_word(ctl, "memory") || !has_word(ctl, "pids")) {
        snprintf(why, whylen, "%s offers no memory and pids controllers (%s)", dir,
                 err ? strerror(err) : "cgroup.controllers lacks them");
        goto fail;
    }
    if ((err = kos__file_write_text(c->cgroup_fd, "cgroup.subtree_control", "+memory +pids")) !=
        0) {
        snprintf(why, whylen, "cannot enable the memory and pids controllers in %s: %s", dir,
                 strerror(err));
        goto fail;
    }
    return 0;
fail:
    close(c->cgroup_fd);
    c->cgroup_fd = -1;
    return -1;
}

int kos__core_cgroup_prepare(struct core *c, struct proc *p, const struct kos_sandbox *sb,
                             char *why, size_t whylen)
{
    char name[KOS__NAME_MAX + 8], v[32];
    int err;

    if (c->cgroup_fd < 0)
        return -1;
    if (p->cg_fd < 0) {
        snprintf(name, sizeof(name), "app.%s", p->name);
        if (mkdirat(c->cgroup_fd, name, 0755) < 0 && errno != EEXIST) {
            snprintf(why, whylen, "cannot make its cgroup %s: %s", name, strerror(errno));
            return -1;
        }
        p->cg_fd = openat(c->cgroup_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (p->cg_fd < 0) {
            snprintf(why, whylen, "cannot open its cgroup %s: %s", name, strerror(errno));
            return -1;
        }
    }
    /* Its memory and its granted regions' pages; its processes and its
     * sandbox's init. */
    if (sb->memory)
        snprintf(v, sizeof(v), "%" PRIu64, sb->memory + sb->shared_bytes);
    else
        snprintf(v, sizeof(v), "max");
    if ((err = kos__file_write_text(p->cg_fd, "memory.max", v)) != 0) {
        snprintf(why, whylen, "cannot set its cgroup's memory.max to %s: %s", v, strerror(err));
        return -1;
    }
    /* Absent without swap accounting. */
    (void)kos__file_write_text(p->cg_fd, "memory.swap.max", "0");
    if (sb->max_procs)
        snprintf(v, sizeof(v), "%" PRIu32, sb->max_procs + 1);
    else
        snprintf(v, sizeof(v), "max");
    if ((err = kos__file_write_text(p->cg_fd, "pids.max", v)) != 0) {
        snprintf(why, whylen, "cannot set its cgroup's pids.max to %s: %s", v, strerror(err));
        return -1;
    }
    p->cg_oom = oom_kills(p->cg_fd);
    return 0;
}

bool kos__core_cgroup_oom(struct core *c, struct proc *p)
{
    uint64_t n;

    if (c->cgroup_fd < 0 || p->cg_fd < 0 || p->cg_oom == UINT64_MAX)
        return false;
    n = oom_kills(p->cg_fd);
    return n != UINT64_MAX && n > p->cg_oom;
}
