/*
 * proc_int.h - starting one process of a system.
 *
 * A process starts with exactly the descriptors it is granted, at fixed
 * numbers: 0 /dev/null, 1 and 2 its console, 3 its control channel to Core,
 * then one socket per message server it may use. Nothing else is inherited:
 * not Core's other descriptors, not its environment, not its signal mask.
 * The binary is executed from the image's sealed memfd, so what runs is what
 * was verified.
 */
#ifndef KOS_PROC_INT_H
#define KOS_PROC_INT_H

#include <stddef.h>
#include <sys/types.h>

#include <kos/status.h>

struct kos__spawn {
    int exe_fd;                /* sealed memfd of the verified binary */
    const char *const *argv;   /* argv[0] is the process's name; NULL-terminated */
    const char *const *envp;   /* exactly the manifest's environment; NULL-terminated */
    int console_fd;            /* write end of the console pipe */
    int ctl_fd;                /* process end of the control socket */
    const int *dir_fds;        /* process ends of message-server sockets, in order */
    size_t n_dir_fds;
};

/* Starts the process and returns its pid once it has executed the binary.
 * If it could not, returns KOS_STATUS_IO with the child's errno in *err_no and
 * the (already reaped) child leaves nothing behind. The caller keeps its
 * descriptors. */
kos_status_t kos__proc_spawn(const struct kos__spawn *s, pid_t *pid, int *err_no)
    __attribute__((warn_unused_result));

#endif
