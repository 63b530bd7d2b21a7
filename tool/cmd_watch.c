/*
 * cmd_watch.c - `kos-tool watch`: rebuild a project on every change and boot
 * its system again.
 *
 * watch runs the build tree's run target (`cmake --build BUILD -t run`,
 * which builds and boots the system), watches the project's source folder
 * with inotify, and on a change (after a quiet moment) rebuilds. A build
 * that succeeds replaces the running system: it is asked to stop (SIGTERM,
 * as Ctrl-C would) and the run target starts again; a build that fails
 * shows its errors and leaves the running system as it is. What stays
 * true: at most one system runs, and when watch ends (Ctrl-C, SIGTERM) so
 * does it.
 *
 * With --device, nothing runs here: each build that succeeds (the first
 * one too) pushes the build tree's system image to that device through
 * the local Studio (cmd_push.c) and follows it to the device's result; a
 * build that fails shows its errors and pushes nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "opts_int.h"
#include "tool_int.h"

/* After a change, how long the tree must stay quiet before the rebuild: an
 * editor's save is often several writes and renames. */
#define QUIET_MS 300
/* The most folders watched: a project is a few. */
#define MAX_WATCHES 4096

static void watch_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool watch BUILD_DIR [--target TARGET]\n"
            "       kos-tool watch BUILD_DIR --device DEVICE [--image PATH] [--data DIR]\n"
            "\n"
            "Boots the system of the CMake build tree BUILD_DIR with its run target\n"
            "(`cmake --build BUILD_DIR -t run`, or --target, e.g. run_my_system), then\n"
            "rebuilds whenever a file of the project's source folder changes. A build\n"
            "that succeeds stops the running system and boots the new one; a build\n"
            "that fails shows its errors and keeps the running system. Ctrl-C ends\n"
            "both.\n"
            "\n"
            "With --device, each build that succeeds (the first one too) is pushed to\n"
            "DEVICE through the local Studio instead (as kos-tool push does), and watch\n"
            "prints the device's progress and result; a build that fails pushes\n"
            "nothing.\n"
            "\n"
            "  --target TARGET   the run target (default run)\n"
            "  --device DEVICE   push to this device (its id, a prefix of it, or its name)\n"
            "  --image PATH      the image to push (default: the one .zip file in BUILD_DIR,\n"
            "                    where kos_add_system puts a project's system image)\n"
            "  --data DIR        the Studio's data folder (default $XDG_DATA_HOME/kos/studio,\n"
            "                    else ~/.local/share/kos/studio)\n"
            "\n"
            "See %s and %s.\n",
            kos__tool_doc("sdk.md"), kos__tool_doc("upgrades.md"));
}

/* The project's source folder, from BUILD_DIR/CMakeCache.txt. */
static bool source_dir(const char *build, char *out, size_t len)
{
    char path[PATH_MAX], line[PATH_MAX + 64];
    static const char key[] = "CMAKE_HOME_DIRECTORY:INTERNAL=";
    bool found = false;

    snprintf(path, sizeof(path), "%s/CMakeCache.txt", build);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, sizeof(key) - 1))
            continue;
        line[strcspn(line, "\n")] = '\0';
        size_t n = strlen(line + sizeof(key) - 1);
        if (n == 0 || n >= len)
            continue;
        memcpy(out, line + sizeof(key) - 1, n + 1);
        found = true;
    }
    fclose(f);
    return found;
}

/* Watches `dir` and every folder below it but the build tree and hidden
 * folders. Returns the number of watches added, or -1 with errno. */
static int watch_tree(int ino, const char *dir, const char *build_real, int n)
{
    char real[PATH_MAX];
    if (!realpath(dir, real) || !strcmp(real, build_real))
        return n;
    if (n >= MAX_WATCHES) {
        errno = ENOSPC;
        return -1;
    }
    if (inotify_add_watch(ino, dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM) < 0)
        return -1;
    n++;
    DIR *d = opendir(dir);
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n >= 0) {
        char sub[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            n = watch_tree(ino, sub, build_real, n);
    }
    closedir(d);
    return n;
}

/* Starts `cmake --build BUILD [-t TARGET]` in a process group of its own;
 * returns its pid, or -1. */
static pid_t start_cmake(const char *build, const char *target)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (target)
        execlp("cmake", "cmake", "--build", build, "-t", target, (char *)NULL);
    else
        execlp("cmake", "cmake", "--build", build, (char *)NULL);
    fprintf(stderr, "kos-tool watch: cannot run cmake: %s\n", strerror(errno));
    _exit(127);
}

/* Asks the running system (the run target's process group) to stop, as
 * Ctrl-C would, and waits for it. */
static void stop_system(pid_t *run)
{
    if (*run <= 0)
        return;
    kill(-*run, SIGINT);
    while (waitpid(*run, NULL, 0) < 0 && errno == EINTR)
        ;
    *run = -1;
}

/* The image to push: `given`, or the one .zip file directly in build
 * (kos_add_system's default OUTPUT for a project's top folder). False with
 * the reason printed. */
static bool image_path(const char *build, const char *given, char *out, size_t len)
{
    struct dirent *e;
    unsigned n = 0;
    DIR *d;

    if (given) {
        snprintf(out, len, "%s", given);
        return true;
    }
    d = opendir(build);
    while (d && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".zip") && e->d_name[0] != '.') {
            if (n++ == 0)
                snprintf(out, len, "%s/%s", build, e->d_name);
        }
    }
    if (d)
        closedir(d);
    if (n == 1)
        return true;
    fprintf(stderr,
            "kos-tool watch: %s holds %s system image (.zip): give the one to push with "
            "--image PATH\n",
            build, n ? "more than one" : "no");
    return false;
}

/* Pushes the image to the device in a child process (so that Ctrl-C ends
 * it as it ends a build) and waits for it. */
static void push_built(const char *build, const char *given, const char *device, const char *data)
{
    char image[PATH_MAX];
    pid_t pid;
    int status = -1;

    if (!image_path(build, given, image, sizeof(image)))
        return;
    pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        fflush(stdout);
        _exit(kos__tool_push_image("watch", data, device, image, 600));
    }
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    printf(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? "kos-tool watch: pushed; waiting for changes\n"
               : "kos-tool watch: the push did not succeed; waiting for changes\n");
    fflush(stdout);
}

/* Builds the tree (`cmake --build BUILD`) and waits: true if it built. */
static bool build_all(const char *build)
{
    pid_t b = start_cmake(build, NULL);
    int status = -1;

    while (b > 0 && waitpid(b, &status, 0) < 0 && errno == EINTR)
        ;
    return b > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int kos__tool_watch(int argc, char **argv)
{
    enum { OPT_TARGET, OPT_DEVICE, OPT_IMAGE, OPT_DATA };
    static const struct kos__opt table[] = {{"target", 0, "TARGET", OPT_TARGET},
                                            {"device", 0, "DEVICE", OPT_DEVICE},
                                            {"image", 0, "PATH", OPT_IMAGE},
                                            {"data", 0, "DIR", OPT_DATA}};
    struct kos__opts p;
    const char *build = NULL, *target = "run", *device = NULL, *image = NULL, *data = NULL, *v;
    bool target_given = false;
    char src[PATH_MAX], build_real[PATH_MAX];
    int o, rc = 0;

    kos__opts_init(&p, "watch", argc, argv, table, sizeof(table) / sizeof(table[0]));
    while ((o = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        if (o == KOS__OPTS_HELP) {
            watch_usage(stdout);
            return 0;
        }
        if (o == KOS__OPTS_ERROR)
            return 2;
        if (o == OPT_TARGET) {
            target = v;
            target_given = true;
        } else if (o == OPT_DEVICE)
            device = v;
        else if (o == OPT_IMAGE)
            image = v;
        else if (o == OPT_DATA)
            data = v;
        else if (!build)
            build = v;
        else
            return kos__opts_usage_error(&p, "one BUILD_DIR, not also '%s'", v);
    }
    if (!build)
        return kos__opts_usage_error(&p, "give the project's BUILD_DIR");
    if (device && target_given)
        return kos__opts_usage_error(&p, "--target boots here, --device pushes: give one");
    if (!device && (image || data))
        return kos__opts_usage_error(&p, "--%s goes with --device DEVICE",
                                     image ? "image" : "data");
    if (!realpath(build, build_real) || !source_dir(build, src, sizeof(src))) {
        fprintf(stderr,
                "kos-tool watch: %s is not a configured CMake build tree (no CMakeCache.txt); "
                "configure it first: cmake -S PROJECT -B %s\n",
                build, build);
        return 2;
    }
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino < 0 || watch_tree(ino, src, build_real, 0) < 0) {
        fprintf(stderr, "kos-tool watch: cannot watch %s: %s\n", src, strerror(errno));
        return 1;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "kos-tool watch: %s\n", strerror(errno));
        close(ino);
        return 1;
    }
    pid_t run = -1;
    if (device) {
        printf("kos-tool watch: watching %s; building and pushing to %s\n", src, device);
        fflush(stdout);
        if (build_all(build))
            push_built(build, image, device, data);
        else
            printf("kos-tool watch: the build failed; nothing pushed\n");
        fflush(stdout);
    } else {
        printf("kos-tool watch: watching %s; building and booting with %s\n", src, target);
        fflush(stdout);
        run = start_cmake(build, target);
    }
    uint64_t changed_at = 0;

    for (;;) {
        int timeout = -1;
        if (changed_at) {
            uint64_t due = changed_at + QUIET_MS, t = now_ms();
            timeout = due > t ? (int)(due - t) : 0;
        }
        struct pollfd pfd[2] = {{.fd = ino, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents) {
            char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
            ssize_t n;
            while ((n = read(ino, buf, sizeof(buf))) > 0) {
                for (char *q = buf; q < buf + n;) {
                    struct inotify_event *ev = (struct inotify_event *)q;
                    /* A new folder is watched too; hidden files (editors'
                     * swap files) are not changes. */
                    if (ev->len && ev->name[0] != '.') {
                        changed_at = now_ms();
                        if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
                            (void)watch_tree(ino, src, build_real, 0);
                    }
                    q += sizeof(*ev) + ev->len;
                }
            }
        }
        if (pfd[1].revents) {
            struct signalfd_siginfo si;
            bool end = false;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD) {
                    int status;
                    pid_t w;
                    while ((w = waitpid(-1, &status, WNOHANG)) > 0)
                        if (w == run) {
                            run = -1; /* the system ended by itself */
                            printf("kos-tool watch: the system has ended; waiting for changes\n");
                            fflush(stdout);
                        }
                } else {
                    end = true;
                }
            }
            if (end)
                break;
        }
        if (changed_at && now_ms() >= changed_at + QUIET_MS) {
            changed_at = 0;
            printf("kos-tool watch: a change; rebuilding\n");
            fflush(stdout);
            bool built = build_all(build);
            if (built && device) {
                printf("kos-tool watch: built; pushing to %s\n", device);
                fflush(stdout);
                push_built(build, image, device, data);
            } else if (!built && device) {
                printf("kos-tool watch: the build failed; nothing pushed\n");
                fflush(stdout);
            } else if (built) {
                printf("kos-tool watch: built; booting the new system\n");
                fflush(stdout);
                stop_system(&run);
                run = start_cmake(build, target);
            } else {
                printf("kos-tool watch: the build failed; the running system stays as it is\n");
                fflush(stdout);
            }
        }
    }
    stop_system(&run);
    close(sfd);
    close(ino);
    return rc;
}
