/*
 * debugger_int.h - the debug agent Core starts for remote debugging
 * (docs/link.md, "Debug"): gdbserver, run as Core's own child outside every
 * sandbox, attached to an app's process, speaking gdb's remote protocol on
 * one end of a socket pair whose other end Core hands on.
 *
 * What stays true: the app's sandbox is not touched (the agent traces it
 * from outside, with Core's rights, and the app gets nothing new); the
 * agent holds no descriptor of Core's but its socket (stdin and stdout)
 * and /dev/null (stderr), and dies with Core (PR_SET_PDEATHSIG).
 */
#ifndef KOS_CORE_DEBUGGER_INT_H
#define KOS_CORE_DEBUGGER_INT_H

#include <stddef.h>
#include <sys/types.h>

#include <kos/status.h>

/* Debian's gdbserver (package gdbserver). */
#define KOS__DEBUGGER_PATH "/usr/bin/gdbserver"

/* The host pid of the app a sandbox's init `init` started (its first
 * child), or -1 if it has none now. Never blocks. */
pid_t kos__debugger_app_pid(pid_t init);

/* Starts `path` (gdbserver) attached to host process `target` in --once
 * mode on a socket pair. On KOS_STATUS_OK *pid is the agent's (Core reaps
 * it) and *sock the other end of its socket (the caller's, close-on-exec):
 * closing it ends the session, and gdbserver then detaches from the app
 * and exits. Otherwise err says why and nothing runs. Blocks only until
 * the agent has exec'd (or failed to). */
kos_status_t kos__debugger_start(const char *path, pid_t target, pid_t *pid, int *sock, char *err,
                                 size_t errlen) __attribute__((warn_unused_result));

#endif
