/*
 * harness.h - runs the real msg_server binary without KOS Core, doing what
 * Core would: a control socketpair at fd 3, a BOOT record, one ADD_CLIENT
 * (socket and grants) per app, APP_DOWN and STOP. Apps are forked processes
 * that hold only their own connections and use the public API through
 * kos__dir_create(). Used by the messaging integration test and bench/msg.
 *
 * Every function returns 0 on success and -1 (after printing why) on error.
 * Nothing here is thread-safe; use it from the test's main thread.
 */
#ifndef KOS_TEST_MSG_HARNESS_H
#define KOS_TEST_MSG_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <kos/msg.h>

#define KH_MAX_FDS 8

/* A running message server. */
struct kh_server {
    pid_t pid;
    int ctl; /* Core's end of the control channel */
    char name[64];
    char log_path[256]; /* its stdout and stderr */
};

/* Starts `binary` as message server `name`, its output appended to
 * `log_path`, and waits (up to 5 s) for READY. */
int kh_server_start(struct kh_server *s, const char *binary, const char *name,
                    const char *log_path);

/* Connects app `app_id` called `app`, which may publish the NULL-terminated
 * list `publish` and request `request`. *app_sock is the app's end, which
 * belongs to the caller (hand it to the app's process, then close it). */
int kh_server_add_app(struct kh_server *s, uint32_t app_id, const char *app,
                      const char *const *publish, const char *const *request, int *app_sock);

/* Tells the server that app `app_id` has exited, as Core would. */
int kh_server_app_down(struct kh_server *s, uint32_t app_id);

/* Sends STOP and reaps the server (killing it after 5 s). Returns its exit
 * status as waitpid() reports it, or -1. */
int kh_server_stop(struct kh_server *s);

/* True if the server's log holds `needle`. */
bool kh_log_contains(const struct kh_server *s, const char *needle);

/* How many times the server's log holds `needle` (-1 if it cannot be read). */
int kh_log_count(const struct kh_server *s, const char *needle);

/* A forked app. The child runs fn(arg, sync) with only fds 0-2, the
 * descriptors in `keep` and its sync pipes open, then exits with fn's
 * return value. */
struct kh_child {
    pid_t pid;
    int to_child;   /* parent's write end: kh_go() */
    int from_child; /* parent's read end: kh_wait_ready() */
};

/* What a child uses to talk to the parent. */
struct kh_sync {
    int from_parent;
    int to_parent;
};

typedef int (*kh_fn)(void *arg, const struct kh_sync *sync);

int kh_spawn(struct kh_child *c, kh_fn fn, void *arg, const int *keep, int n_keep);

/* Reaps a child, killing it after timeout_ms. Returns its exit code, 128+sig
 * if a signal ended it, or -1 if it had to be killed. */
int kh_reap(struct kh_child *c, int timeout_ms);

/* Parent -> child and child -> parent one-byte signals. The waits give up
 * after timeout_ms and return -1. */
int kh_go(struct kh_child *c);
int kh_wait_ready(struct kh_child *c, int timeout_ms);
int kh_signal(const struct kh_sync *sync);
int kh_wait_go(const struct kh_sync *sync, int timeout_ms);

/* In a child: makes a directory from a socket kept for it. Exits the child
 * with 99 on failure. */
kos_dir_t *kh_dir(int sock, const char *server, uint32_t app_id);

/* A fresh temporary directory for logs, e.g. "/tmp/kos-msg-XXXXXX". */
int kh_tmpdir(char *out, size_t cap);

#endif
