/*
 * deny_ns.c - runs a command on a host that refuses one kind of namespace.
 *
 * `t_deny_ns KIND COMMAND [ARGS...]` installs a seccomp filter under which
 * clone() and unshare() asking for a new KIND namespace (mnt, pid, ipc, uts,
 * net or user) fail with EPERM, as on a host whose policy forbids it, and
 * clone3() reports ENOSYS so that callers fall back to clone(). Then it
 * executes COMMAND, which inherits the filter with all its children. Tests
 * use it to see Core find and name the missing layer.
 */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static const struct {
    const char *name;
    int flag;
} kinds[] = {
    {"mnt", CLONE_NEWNS},  {"pid", CLONE_NEWPID}, {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"user", CLONE_NEWUSER},
};

int main(int argc, char **argv)
{
    scmp_filter_ctx ctx;
    int flag = 0, rc;

    if (argc < 3) {
        fprintf(stderr, "usage: t_deny_ns mnt|pid|ipc|uts|net|user COMMAND [ARGS...]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (!strcmp(argv[1], kinds[i].name))
            flag = kinds[i].flag;
    if (!flag) {
        fprintf(stderr, "t_deny_ns: unknown namespace kind '%s'\n", argv[1]);
        return 2;
    }
    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        fprintf(stderr, "t_deny_ns: seccomp_init failed\n");
        return 1;
    }
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, (scmp_datum_t)flag, (scmp_datum_t)flag));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, (scmp_datum_t)flag, (scmp_datum_t)flag));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (!rc)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc) {
        fprintf(stderr, "t_deny_ns: cannot install the filter: %s\n", strerror(-rc));
        return 1;
    }
    execvp(argv[2], argv + 2);
    fprintf(stderr, "t_deny_ns: cannot execute %s: %s\n", argv[2], strerror(errno));
    return 127;
}
