/*
 * sandbox_int.h - what the parts of the sandbox (sandbox.c: namespaces,
 * limits, Landlock, capabilities, entering and the init; sandbox_probe.c:
 * what the host can do; sandbox_root.c: a binary's files and the root;
 * sandbox_seccomp.c: the allow-lists) share among themselves.
 */
#ifndef KOS_SANDBOX_INT_H
#define KOS_SANDBOX_INT_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/landlock.h>

#include "sandbox.h"

/* ---- Landlock system calls (no libc wrappers) ---- */

/* The build host's <linux/landlock.h> may predate ABI 3-6; these are the
 * kernel's stable values. */
#define LL_ACCESS_FS_TRUNCATE         (1ULL << 14)
#define LL_ACCESS_FS_IOCTL_DEV        (1ULL << 15)
#define LL_ACCESS_NET_BIND_TCP        (1ULL << 0)
#define LL_ACCESS_NET_CONNECT_TCP     (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LL_SCOPE_SIGNAL               (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; older kernels take a prefix. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

static inline int ll_create_ruleset(const struct ll_ruleset_attr *attr, size_t size, uint32_t flags)
{
    return (int)syscall(SYS_landlock_create_ruleset, attr, size, flags);
}

static inline int ll_add_rule(int fd, enum landlock_rule_type type, const void *attr)
{
    return (int)syscall(SYS_landlock_add_rule, fd, type, attr, 0);
}

static inline int ll_restrict_self(int fd)
{
    return (int)syscall(SYS_landlock_restrict_self, fd, 0);
}

#define NS_FLAGS                                                                                   \
    (CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |     \
     CLONE_NEWCGROUP)

/* Each namespace layer: its KOS_SB_NS_* bit, its CLONE_NEW* flag, its name. */
#define KOS__SANDBOX_N_NS 6u
struct kos__sandbox_ns {
    uint32_t layer;
    int flag;
    const char *name;
};
extern const struct kos__sandbox_ns kos__sandbox_ns_table[KOS__SANDBOX_N_NS];

/* Reads exactly len bytes at file offset off. */
static inline bool pread_all(int fd, void *buf, size_t len, off_t off)
{
    ssize_t r = pread(fd, buf, len, off);
    return r == (ssize_t)len;
}

/* Loads a compiled filter on the calling thread, as seccomp_load() would
 * with libseccomp's default attributes (no_new_privs is already set), with
 * the SECCOMP_FILTER_FLAG_* `flags`; with SECCOMP_FILTER_FLAG_NEW_LISTENER,
 * *listener is the new listener (close-on-exec). Returns 0 or an errno. */
int kos__sandbox_load_filter(const struct kos_sandbox_prog *prog, unsigned flags, int *listener);

/* The init answers one exec the gate's listener reports (see sandbox.c). */
int kos__sandbox_gate_answer(int gate, pid_t app, uint32_t max_files, bool *open);

#endif
