/*
 * proc_int.h - starting one process of a system.
 *
 * A process starts with exactly the descriptors it is granted, at fixed
 * numbers: 0 /dev/null, 1 and 2 its console, 3 its control channel to Core,
 * then one socket per message server it may use, then its devices and
 * memory regions. Nothing else is inherited: not Core's other descriptors,
 * not its environment, not its signal mask. The binary is executed from the
 * image's sealed memfd, so what runs is what was verified.
 *
 * With a sandbox, the process Core starts is the sandbox's init (PID 1 of the
 * app's PID namespace); it forks the app, forwards Core's signals to it and
 * reports the app's exact wait status on a pipe (status_fd) before it exits.
 */
#ifndef KOS_PROC_INT_H
#define KOS_PROC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <kos/status.h>

#include "sandbox.h"

struct kos__spawn {
    int exe_fd;              /* sealed memfd of the verified binary */
    const char *const *argv; /* argv[0] is the process's name; NULL-terminated */
    const char *const *envp; /* exactly the manifest's environment; NULL-terminated */
    int console_fd;          /* write end of the console pipe */
    int ctl_fd;              /* process end of the control socket */
    const int *dir_fds;      /* process ends of message-server sockets, in order */
    size_t n_dir_fds;
    const int *res_fds; /* devices and regions, in boot-record order, then the tracing ring */
    size_t n_res_fds;
    const struct kos_sandbox *sb; /* NULL: no sandbox (--isolation none) */
    bool hold;                    /* the child prepares everything (with a sandbox, the
                                     init), then waits for kos__proc_release() before the
                                     app starts */
};

/* Why a start failed: the sandbox step (enum kos_sandbox_step) and errno. */
struct kos__spawn_err {
    int step;
    int err;
};

/* A process Core has started and whose first instruction may not have run
 * yet: the child holds the write end of `errpipe`, which reaches end of file
 * once the binary runs and otherwise carries why it could not. */
struct kos__launch {
    pid_t pid;
    int errpipe;                  /* read end, close-on-exec */
    int status_fd;                /* with a sandbox, the init's status pipe (read end), else -1 */
    int release_fd;               /* a held start: what kos__proc_release() writes to, else -1 */
    struct kos__spawn_err failed; /* a failure already known at launch */
};

/* Starts the process without waiting for it to run: creates the child (in
 * its sandbox, whose ids it maps) and lets it go. The child owns copies of
 * the caller's descriptors in s, so the caller may close its own right away.
 * Returns KOS_STATUS_OK with *l filled, to be passed to kos__proc_finish();
 * otherwise nothing was started and *why may say why. Blocks only for the
 * clone and the id maps, not for the child's work. */
kos_status_t kos__proc_launch(const struct kos__spawn *s, struct kos__launch *l,
                              struct kos__spawn_err *why) __attribute__((warn_unused_result));

/* Lets a start launched with s->hold go on to start the app; does nothing
 * for another. Returns 0 or an errno (the init is gone, and its exit is
 * reported like any other). */
int kos__proc_release(struct kos__launch *l);

/* Gives up a launched start the caller has killed (SIGKILL) before its app
 * ran: reaps the child unless `reaped`, and releases *l. */
void kos__proc_abandon(struct kos__launch *l, bool reaped);

/* Waits until a launched process has executed its binary (l->errpipe reads
 * end of file; poll it first to never block) or failed, and releases *l.
 * Once the binary runs, returns KOS_STATUS_OK with its pid and, with a
 * sandbox, *status_fd the read end of the init's status pipe (close-on-exec,
 * the caller's), else -1. If it could not start, returns KOS_STATUS_IO with
 * the step and errno in *why, and the (already reaped) child leaves nothing
 * behind. */
kos_status_t kos__proc_finish(struct kos__launch *l, pid_t *pid, int *status_fd,
                              struct kos__spawn_err *why) __attribute__((warn_unused_result));

#endif
