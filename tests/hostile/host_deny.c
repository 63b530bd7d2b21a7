/*
 * host_deny.c - runs a command on a host that forbids some of what the KOS
 * sandbox needs, the way a container runtime's seccomp profile does: it
 * installs a seccomp filter that refuses the chosen kernel features with
 * EPERM, then executes the command, which inherits the filter.
 *
 *   host_deny LAYER[,LAYER...] -- COMMAND [ARG...]
 *
 * LAYER: userns (user namespaces), netns (network namespaces), seccomp (no
 * further seccomp filters), notify (no seccomp listener: the kernel answers
 * EBUSY where a filter in the chain already has one, as under a container
 * runtime that intercepts system calls). clone3 answers ENOSYS so that
 * glibc falls back to clone, whose flags a filter can inspect.
 */
#include <errno.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int deny_flag(scmp_filter_ctx ctx, unsigned long flag)
{
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    return rc;
}

int main(int argc, char **argv)
{
    scmp_filter_ctx ctx;
    char layers[256];
    int rc;

    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: host_deny LAYER[,LAYER...] -- COMMAND [ARG...]\n");
        return 2;
    }
    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        fprintf(stderr, "host_deny: seccomp_init failed\n");
        return 1;
    }
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    snprintf(layers, sizeof(layers), "%s", argv[1]);
    for (char *save = NULL, *l = strtok_r(layers, ",", &save); l && !rc;
         l = strtok_r(NULL, ",", &save)) {
        if (!strcmp(l, "userns")) {
            rc = deny_flag(ctx, CLONE_NEWUSER);
        } else if (!strcmp(l, "netns")) {
            rc = deny_flag(ctx, CLONE_NEWNET);
        } else if (!strcmp(l, "seccomp")) {
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(seccomp), 0);
            if (!rc)
                rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1,
                                      SCMP_A0(SCMP_CMP_EQ, PR_SET_SECCOMP));
        } else if (!strcmp(l, "notify")) {
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EBUSY), SCMP_SYS(seccomp), 2,
                                  SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER),
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                                          SECCOMP_FILTER_FLAG_NEW_LISTENER));
        } else {
            fprintf(stderr, "host_deny: unknown layer '%s' (userns, netns, seccomp, notify)\n", l);
            seccomp_release(ctx);
            return 2;
        }
    }
    if (rc || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || seccomp_load(ctx) != 0) {
        fprintf(stderr, "host_deny: cannot install the filter: %s\n", strerror(rc ? -rc : errno));
        seccomp_release(ctx);
        return 1;
    }
    seccomp_release(ctx);
    execvp(argv[3], argv + 3);
    fprintf(stderr, "host_deny: cannot run %s: %s\n", argv[3], strerror(errno));
    return 127;
}
