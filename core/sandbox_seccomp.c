/*
 * sandbox_seccomp.c - the seccomp allow-lists (sandbox.h): the calls every
 * app may make, those with argument rules, the exec gate's and the init's,
 * each compiled once at boot into a BPF program that a process only loads.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/i2c-dev.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <grp.h>
#include <linux/audit.h>
#include <poll.h>
#include <unistd.h>

#include <cap-ng.h>

#include "sandbox.h"
#include "sandbox_int.h"

/* The system calls every app may make, beyond those with argument rules. */
static const int allowed_calls[] = {
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(pread64),
    SCMP_SYS(pwrite64),
    SCMP_SYS(preadv),
    SCMP_SYS(pwritev),
    SCMP_SYS(preadv2),
    SCMP_SYS(pwritev2),
    SCMP_SYS(close),
    SCMP_SYS(close_range),
    SCMP_SYS(fstat),
    SCMP_SYS(newfstatat),
    SCMP_SYS(statx),
    SCMP_SYS(lseek),
    SCMP_SYS(access),
    SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2),
    SCMP_SYS(readlink),
    SCMP_SYS(readlinkat),
    SCMP_SYS(getdents),
    SCMP_SYS(getdents64),
    SCMP_SYS(getcwd),
    SCMP_SYS(chdir),
    SCMP_SYS(fchdir),
    SCMP_SYS(fadvise64),
    SCMP_SYS(mmap),
    SCMP_SYS(mprotect),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(mincore),
    SCMP_SYS(msync),
    SCMP_SYS(brk),
    SCMP_SYS(membarrier),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigpending),
    SCMP_SYS(rt_sigtimedwait),
    SCMP_SYS(rt_sigsuspend),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(kill),
    SCMP_SYS(tgkill),
    SCMP_SYS(tkill),
    SCMP_SYS(pause),
    SCMP_SYS(pipe),
    SCMP_SYS(pipe2),
    SCMP_SYS(select),
    SCMP_SYS(pselect6),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(epoll_create),
    SCMP_SYS(epoll_create1),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_pwait2),
    SCMP_SYS(eventfd2),
    SCMP_SYS(signalfd4),
    SCMP_SYS(timerfd_create),
    SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime),
    SCMP_SYS(dup),
    SCMP_SYS(dup2),
    SCMP_SYS(dup3),
    SCMP_SYS(flock),
    SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),
    SCMP_SYS(ftruncate),
    SCMP_SYS(fallocate),
    SCMP_SYS(memfd_create),
    SCMP_SYS(recvmsg),
    SCMP_SYS(recvmmsg),
    SCMP_SYS(recvfrom),
    SCMP_SYS(shutdown),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(getpeername),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(sched_getparam),
    SCMP_SYS(sched_getscheduler),
    SCMP_SYS(sched_get_priority_max),
    SCMP_SYS(sched_get_priority_min),
    SCMP_SYS(getcpu),
    SCMP_SYS(getpriority),
    SCMP_SYS(nanosleep),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(time),
    SCMP_SYS(getitimer),
    SCMP_SYS(setitimer),
    SCMP_SYS(alarm),
    SCMP_SYS(timer_create),
    SCMP_SYS(timer_settime),
    SCMP_SYS(timer_gettime),
    SCMP_SYS(timer_getoverrun),
    SCMP_SYS(timer_delete),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(getppid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(getgroups),
    SCMP_SYS(getresuid),
    SCMP_SYS(getresgid),
    SCMP_SYS(getpgrp),
    SCMP_SYS(getpgid),
    SCMP_SYS(getsid),
    SCMP_SYS(setsid),
    SCMP_SYS(setpgid),
    SCMP_SYS(uname),
    SCMP_SYS(getrlimit),
    SCMP_SYS(setrlimit),
    SCMP_SYS(getrusage),
    SCMP_SYS(umask),
    SCMP_SYS(prctl),
    SCMP_SYS(arch_prctl),
    SCMP_SYS(set_tid_address),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(get_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(futex),
    SCMP_SYS(futex_waitv),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(wait4),
    SCMP_SYS(waitid),
    SCMP_SYS(getrandom),
    SCMP_SYS(sendfile),
    SCMP_SYS(splice),
    SCMP_SYS(tee),
    SCMP_SYS(copy_file_range),
    /* The same calls under their 32-bit ARM (armhf) names: 64-bit file
     * offsets and sizes, 64-bit times (glibc tries these first, and falls
     * back only on ENOSYS, never on this filter's EPERM), 32-bit ids, the
     * non-rt signal return, and set_tls, which the loader calls before
     * main. An architecture without one of these names (every 64-bit one)
     * gets no rule for it from libseccomp. */
    SCMP_SYS(fstat64),
    SCMP_SYS(fstatat64),
    SCMP_SYS(_llseek),
    SCMP_SYS(ftruncate64),
    SCMP_SYS(arm_fadvise64_64),
    SCMP_SYS(sendfile64),
    SCMP_SYS(mmap2),
    SCMP_SYS(recv),
    SCMP_SYS(sigreturn),
    SCMP_SYS(rt_sigtimedwait_time64),
    SCMP_SYS(_newselect),
    SCMP_SYS(pselect6_time64),
    SCMP_SYS(ppoll_time64),
    SCMP_SYS(recvmmsg_time64),
    SCMP_SYS(timerfd_settime64),
    SCMP_SYS(timerfd_gettime64),
    SCMP_SYS(clock_gettime64),
    SCMP_SYS(clock_getres_time64),
    SCMP_SYS(clock_nanosleep_time64),
    SCMP_SYS(timer_settime64),
    SCMP_SYS(timer_gettime64),
    SCMP_SYS(futex_time64),
    SCMP_SYS(getuid32),
    SCMP_SYS(geteuid32),
    SCMP_SYS(getgid32),
    SCMP_SYS(getegid32),
    SCMP_SYS(getgroups32),
    SCMP_SYS(getresuid32),
    SCMP_SYS(getresgid32),
    SCMP_SYS(ugetrlimit),
#ifdef __ARM_NR_set_tls
    /* Not SCMP_SYS(set_tls): libseccomp 2.5's header makes that a pseudo
     * number, which its filters leave out, on ARM too (it looks for
     * __NR_set_tls, which ARM names __ARM_NR_set_tls). */
    __ARM_NR_set_tls,
#endif
};

/* Creating processes: only for an app that may have more than one
 * (limits: {processes: N}, N > 1); clone is in app_rules. */
static const int fork_calls[] = {
    SCMP_SYS(fork),
    SCMP_SYS(vfork),
};

/* Extra calls for an app with a data directory (Landlock and the mount
 * namespace confine them to /data). */
static const int data_calls[] = {
    SCMP_SYS(unlink),     SCMP_SYS(unlinkat),         SCMP_SYS(rmdir),    SCMP_SYS(rename),
    SCMP_SYS(renameat),   SCMP_SYS(renameat2),        SCMP_SYS(truncate), SCMP_SYS(utimensat),
    SCMP_SYS(truncate64), SCMP_SYS(utimensat_time64), /* their armhf names */
};

/* The mode bits no file an app creates or changes may have: setuid, setgid
 * and writable by others. The host directory behind /data is Core's alone
 * (0700), but what an app leaves there must still be nothing a host user
 * could run with the app's ids or change. */
#define FORBIDDEN_MODE (S_ISUID | S_ISGID | S_IWOTH)

/* The calls that create files or change modes in /data, and which argument
 * holds the mode: allowed only when it has none of FORBIDDEN_MODE. The
 * kernel reads a mode as a 16-bit umode_t, so only those bits matter, and
 * the mask lies within them. Creating opens (open, openat with O_CREAT or
 * O_TMPFILE) are in app_rules. */
static const struct {
    int call;
    unsigned arg;
} mode_calls[] = {
    {SCMP_SYS(mkdir), 1}, {SCMP_SYS(mkdirat), 2}, {SCMP_SYS(creat), 1},
    {SCMP_SYS(chmod), 1}, {SCMP_SYS(fchmod), 1},  {SCMP_SYS(fchmodat), 2},
};

/* The sockets an app with network: host may create: TCP and UDP over IPv4
 * and IPv6 (SOCK_NONBLOCK and SOCK_CLOEXEC allowed). */
static const struct {
    int domain, type;
} net_sockets[] = {
    {AF_INET, SOCK_STREAM},
    {AF_INET, SOCK_DGRAM},
    {AF_INET6, SOCK_STREAM},
    {AF_INET6, SOCK_DGRAM},
};

/* What else network: host allows: connecting, and listening and accepting. */
static const int net_calls[] = {
    SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
};

/* Locking its own memory: only the app that holds the device keys
 * (lock_bytes > 0), for its secure heap. Never mlockall. */
static const int lock_calls[] = {
    SCMP_SYS(mlock),
    SCMP_SYS(mlock2),
    SCMP_SYS(munlock),
};

/* The ioctls any app may make: asking how much a socket or pipe holds,
 * close-on-exec, whether stdio is a terminal, and I2C transfers on an
 * adapter the app was given. Nothing that reads or changes the host's
 * network (SIOCGIF*, SIOCETHTOOL, wireless), and not FIONBIO, which would
 * clear O_NONBLOCK behind the fcntl rule below. The command is an unsigned
 * int to the kernel, so only its low 32 bits are compared. */
static const unsigned long ioctl_cmds[] = {
    FIONREAD, TIOCOUTQ, SIOCATMARK, FIOCLEX, FIONCLEX, TCGETS, TIOCGWINSZ, I2C_RDWR, I2C_FUNCS,
};

/* The fcntl commands any app may use. F_SETFL is allowed only with
 * O_NONBLOCK set (below): an app shares the open files of its channels'
 * doorbells with its peers, and a peer that made one blocking and filled
 * it would hang the other party's next call (tests/hostile/test_fdpass.sh,
 * jam_doorbells). An app with network: host may clear it: ethernet hands
 * out blocking sockets. */
static const unsigned fcntl_cmds[] = {
    F_DUPFD,  F_DUPFD_CLOEXEC, F_GETFD,     F_SETFD,      F_GETFL,      F_GETLK,     F_SETLK,
    F_SETLKW, F_OFD_GETLK,     F_OFD_SETLK, F_OFD_SETLKW, F_GETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS,
};

/* The socket options an app without network: host may set on the sockets
 * it holds (those ethernet handed it): buffering, keep-alive, timeouts and
 * the type of service. Nothing that binds to a device, source-routes,
 * attaches a filter or an upper-layer protocol (TCP_ULP), or changes the
 * congestion control. The level and name are ints: compared whole, so
 * stray upper bits only refuse. */
static const struct {
    int level, name;
} sockopts[] = {
    {SOL_SOCKET, SO_KEEPALIVE},    {SOL_SOCKET, SO_LINGER},
    {SOL_SOCKET, SO_RCVBUF},       {SOL_SOCKET, SO_SNDBUF},
    {SOL_SOCKET, SO_RCVLOWAT},     {SOL_SOCKET, SO_OOBINLINE},
    {SOL_SOCKET, SO_RCVTIMEO_OLD}, {SOL_SOCKET, SO_SNDTIMEO_OLD},
    {SOL_SOCKET, SO_RCVTIMEO_NEW}, {SOL_SOCKET, SO_SNDTIMEO_NEW},
    {IPPROTO_TCP, TCP_NODELAY},    {IPPROTO_TCP, TCP_CORK},
    {IPPROTO_TCP, TCP_KEEPIDLE},   {IPPROTO_TCP, TCP_KEEPINTVL},
    {IPPROTO_TCP, TCP_KEEPCNT},    {IPPROTO_TCP, TCP_USER_TIMEOUT},
    {IPPROTO_TCP, TCP_QUICKACK},   {IPPROTO_TCP, TCP_NOTSENT_LOWAT},
    {IPPROTO_IP, IP_TOS},          {IPPROTO_IPV6, IPV6_TCLASS},
};

/* fcntl(2) by its two names: 32-bit ARM's glibc calls fcntl64, which takes
 * the same commands (none where the architecture lacks it). */
static const int fcntl_calls[] = {
    SCMP_SYS(fcntl),
    SCMP_SYS(fcntl64),
};

/* Adds the fcntl rules above for call `fcntl`. Returns 0 or -errno. */
static int fcntl_rules(scmp_filter_ctx ctx, const struct kos_sandbox *sb, int fcntl)
{
    int rc = 0;

    for (size_t i = 0; i < sizeof(fcntl_cmds) / sizeof(fcntl_cmds[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, fcntl, 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, fcntl_cmds[i]));
    /* A pipe may shrink, or grow back to its default size, never beyond:
     * its buffer is kernel memory that no memory limit counts on sim. The
     * whole 64-bit argument is compared, so a value that passes has no
     * stray upper bits for the kernel's 32-bit read to drop. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, fcntl, 2,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, F_SETPIPE_SZ),
                              SCMP_A2(SCMP_CMP_LE, KOS_SANDBOX_PIPE_MAX, 0));
    if (!rc && sb->net_host)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, fcntl, 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, F_SETFL));
    else if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, fcntl, 2,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, F_SETFL),
                              SCMP_A2(SCMP_CMP_MASKED_EQ, O_NONBLOCK, O_NONBLOCK));
    return rc;
}

/* Adds the ioctl, fcntl and setsockopt rules above. Returns 0 or -errno. */
static int fd_rules(scmp_filter_ctx ctx, const struct kos_sandbox *sb)
{
    int rc = 0;

    for (size_t i = 0; i < sizeof(ioctl_cmds) / sizeof(ioctl_cmds[0]) && !rc; i++)
        rc =
            seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)ioctl_cmds[i]));
    for (size_t i = 0; i < sizeof(fcntl_calls) / sizeof(fcntl_calls[0]) && !rc; i++)
        rc = fcntl_rules(ctx, sb, fcntl_calls[i]);
    if (sb->net_host)
        return rc ? rc : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 0);
    for (size_t i = 0; i < sizeof(sockopts) / sizeof(sockopts[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setsockopt), 2,
                              SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)sockopts[i].level, 0),
                              SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)sockopts[i].name, 0));
    return rc;
}

/* The socket type bits, without SOCK_NONBLOCK and SOCK_CLOEXEC. */
#define SOCK_TYPE_BITS 0xfu

/* 020000000 is __O_TMPFILE without the O_DIRECTORY bit glibc adds to it. */
#define OPEN_WRITE_FLAGS  (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | 020000000)
#define OPEN_CREATE_FLAGS (O_CREAT | 020000000)

/* Fills ctx with the app's allow-list for sandbox sb. Returns 0 or -errno. */
static int app_rules(scmp_filter_ctx ctx, const struct kos_sandbox *sb)
{
    int rc = 0;

    for (size_t i = 0; i < sizeof(allowed_calls) / sizeof(allowed_calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_calls[i], 0);
    if (sb->data_dir) {
        for (size_t i = 0; i < sizeof(data_calls) / sizeof(data_calls[0]) && !rc; i++)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, data_calls[i], 0);
        for (size_t i = 0; i < sizeof(mode_calls) / sizeof(mode_calls[0]) && !rc; i++)
            rc = seccomp_rule_add(
                ctx, SCMP_ACT_ALLOW, mode_calls[i].call, 1,
                (struct scmp_arg_cmp){mode_calls[i].arg, SCMP_CMP_MASKED_EQ, FORBIDDEN_MODE, 0});
        /* Opening for writing, and creating with a mode that has none of
         * FORBIDDEN_MODE (the mode is read only with O_CREAT or O_TMPFILE). */
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_CREATE_FLAGS, 0));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  SCMP_A3(SCMP_CMP_MASKED_EQ, FORBIDDEN_MODE, 0));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, OPEN_CREATE_FLAGS, 0));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, FORBIDDEN_MODE, 0));
    } else {
        /* Opening is for reading what the root holds (the loader needs it
         * after exec); nothing can be created or written. */
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, OPEN_WRITE_FLAGS, 0));
        if (!rc)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, OPEN_WRITE_FLAGS, 0));
    }
    /* Sending on what the app holds, but never with MSG_FASTOPEN, which
     * would connect a TCP socket that is not yet connected: a socket an app
     * is handed (messages.md) is connected already, and stays so. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmmsg), 1,
                              SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
                              SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0));
    if (!rc) /* 32-bit ARM's send(2), sendto without an address */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(send), 1,
                              SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0));
    /* network: host: Internet sockets, and connecting, binding, listening
     * and accepting on them. Every other app gets none of this. */
    for (size_t i = 0; sb->net_host && i < sizeof(net_sockets) / sizeof(net_sockets[0]) && !rc; i++)
        rc = seccomp_rule_add(
            ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)net_sockets[i].domain, 0),
            SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_BITS, (scmp_datum_t)net_sockets[i].type));
    for (size_t i = 0; sb->net_host && i < sizeof(net_calls) / sizeof(net_calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, net_calls[i], 0);
    for (size_t i = 0; sb->lock_bytes && i < sizeof(lock_calls) / sizeof(lock_calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, lock_calls[i], 0);
    if (!rc)
        rc = fd_rules(ctx, sb);
    /* New processes and threads, but never in new namespaces, and none at
     * all for an app of one process (limits: {processes: 1}, the default):
     * then fork, vfork and clone are refused (EPERM) whatever the host's
     * process counts say. clone3 hides its flags in memory, so it reports
     * ENOSYS and glibc uses clone. */
    bool may_fork = sb->max_procs != 1 || sb->sanitizer; /* LeakSanitizer clones a tracer */
    for (size_t i = 0; may_fork && i < sizeof(fork_calls) / sizeof(fork_calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, fork_calls[i], 0);
    if (!rc && may_fork)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0));
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* Asking for the personality is harmless; changing it is not allowed. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0xffffffffu));
    /* Limits of itself only. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
                              SCMP_A0(SCMP_CMP_EQ, 0, 0));
    /* LeakSanitizer stops the app's own threads with ptrace at exit. The PID
     * namespace holds only the app and its init (not dumpable, no
     * capabilities), so that reaches nothing else. */
    if (!rc && sb->sanitizer)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ptrace), 1,
                              SCMP_A0(SCMP_CMP_NE, PTRACE_TRACEME, 0)); /* init never traces */
    /* The one exec: the verified binary at fd max_files, which no fd the app
     * can later open, duplicate or receive can ever be numbered. An absolute
     * path would still get past this rule (the kernel then ignores the fd):
     * the exec gate lets only the first such call run. */
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 2,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)sb->max_files, 0),
                              SCMP_A4(SCMP_CMP_EQ, AT_EMPTY_PATH, 0));
    return rc;
}

/* The exec gate's filter: execve and execveat wait for the listener's
 * answer; everything else is left to the app's own filter. */
static int gate_rules(scmp_filter_ctx ctx, const struct kos_sandbox *unused)
{
    int rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(execve), 0);

    (void)unused;
    if (!rc)
        rc = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(execveat), 0);
    return rc;
}

/* The commands the init gives its gate's listener. */
static const unsigned long gate_ioctls[] = {
    SECCOMP_IOCTL_NOTIF_RECV,
    SECCOMP_IOCTL_NOTIF_SEND,
};

/* init's own filter: it only waits (on its signalfd and its gate), answers
 * the gate, forwards signals and reports. A sanitizer runtime's _exit()
 * takes its alternate signal stack down first. */
static int init_rules(scmp_filter_ctx ctx, const struct kos_sandbox *unused)
{
    static const int calls[] = {
        SCMP_SYS(poll),           SCMP_SYS(ppoll),        SCMP_SYS(read),
        SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(wait4),
        SCMP_SYS(kill),           SCMP_SYS(write),        SCMP_SYS(exit),
        SCMP_SYS(exit_group),     SCMP_SYS(close),        SCMP_SYS(getppid),
        SCMP_SYS(sigaltstack),    SCMP_SYS(ppoll_time64), SCMP_SYS(sigreturn), /* armhf's */
    };
    int rc = 0;

    (void)unused;
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
    for (size_t i = 0; i < sizeof(gate_ioctls) / sizeof(gate_ioctls[0]) && !rc; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, gate_ioctls[i]));
    return rc;
}

/* Compiles the rules `add` puts in a filter whose default is `def` into a
 * BPF program: libseccomp writes it to a memfd, from which it is read back
 * whole. Returns 0 or an errno. */
static int compile(uint32_t def, int (*add)(scmp_filter_ctx, const struct kos_sandbox *),
                   const struct kos_sandbox *sb, struct kos_sandbox_prog *out)
{
    scmp_filter_ctx ctx = seccomp_init(def);
    struct sock_filter *insns = NULL;
    int fd = -1, rc;
    off_t size;

    memset(out, 0, sizeof(*out));
    if (!ctx)
        return ENOMEM;
    rc = add(ctx, sb);
    if (rc)
        goto out;
    fd = memfd_create("kos-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = seccomp_export_bpf(ctx, fd);
    if (rc)
        goto out;
    size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(*insns) != 0 ||
        size / (off_t)sizeof(*insns) > BPF_MAXINSNS) {
        rc = -E2BIG;
        goto out;
    }
    insns = malloc((size_t)size);
    if (!insns) {
        rc = -ENOMEM;
        goto out;
    }
    if (!pread_all(fd, insns, (size_t)size, 0)) {
        rc = -EIO;
        goto out;
    }
    out->insns = insns;
    out->len = (size_t)size / sizeof(*insns);
    insns = NULL;
out:
    free(insns);
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
    return rc < 0 ? -rc : rc;
}

int kos_sandbox_app_prog(const struct kos_sandbox *sb, struct kos_sandbox_prog *out)
{
    return compile(SCMP_ACT_ERRNO(EPERM), app_rules, sb, out);
}

int kos_sandbox_init_prog(struct kos_sandbox_prog *out)
{
    return compile(SCMP_ACT_KILL_PROCESS, init_rules, NULL, out);
}

int kos_sandbox_gate_prog(struct kos_sandbox_prog *out)
{
    return compile(SCMP_ACT_ALLOW, gate_rules, NULL, out);
}

bool kos_sandbox_same_prog(const struct kos_sandbox *a, const struct kos_sandbox *b)
{
    return !a->data_dir == !b->data_dir && a->net_host == b->net_host &&
           a->sanitizer == b->sanitizer && a->max_files == b->max_files &&
           !a->lock_bytes == !b->lock_bytes && (a->max_procs == 1) == (b->max_procs == 1);
}

void kos_sandbox_prog_fini(struct kos_sandbox_prog *prog)
{
    if (!prog)
        return;
    free(prog->insns);
    prog->insns = NULL;
    prog->len = 0;
}
