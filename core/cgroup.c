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

/* Reads file `name` of dirfd (at most cap - 1 bytes, NUL-terminated).
 * Returns 0 or an errno. */
static int cg_read(int dirfd, const char *name, char *buf, size_t cap)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return errno;
    n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return errno;
    buf[n] = '\0';
    return 0;
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
    if ((err = cg_read(c->cgroup_fd, "cgroup.controllers", ctl, sizeof(ctl))) != 0 ||
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
    char name[KOS__NAME_MAX + 8], v[32], events[512];
    const char *at;
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
    (void)kos__file_write_text(p->cg_fd, "memory.swap.max",
                               "0"); /* absent without swap accounting */
    if (sb->max_procs)
        snprintf(v, sizeof(v), "%" PRIu32, sb->max_procs + 1);
    else
        snprintf(v, sizeof(v), "max");
    if ((err = kos__file_write_text(p->cg_fd, "pids.max", v)) != 0) {
        snprintf(why, whylen, "cannot set its cgroup's pids.max to %s: %s", v, strerror(err));
        return -1;
    }
    p->cg_oom = 0;
    if (cg_read(p->cg_fd, "memory.events", events, sizeof(events)) == 0 &&
        (at = strstr(events, "oom_kill ")) != NULL)
        p->cg_oom = strtoull(at + 9, NULL, 10);
    return 0;
}

bool kos__core_cgroup_oom(struct core *c, struct proc *p)
{
    char events[512];
    const char *at;

    if (c->cgroup_fd < 0 || p->cg_fd < 0 ||
        cg_read(p->cg_fd, "memory.events", events, sizeof(events)) != 0 ||
        (at = strstr(events, "oom_kill ")) == NULL)
        return false;
    return strtoull(at + 9, NULL, 10) > p->cg_oom;
}
