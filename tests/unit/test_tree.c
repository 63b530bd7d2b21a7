/*
 * test_tree.c - Core's walks over app-written trees (core/tree.c): they
 * empty a tree or give it away without following a symbolic link, whatever
 * depth it has and whatever modes its owner left, with a bounded number of
 * descriptors, and never act outside it while someone swaps its directories
 * for links to a canary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tree_int.h"

#define OTHER_UID    65534u /* nobody: the owner an app's tree is given to */
#define CANARY_FILES 200

/* Under /dev/shm where there is one: a 100,000-deep chain is made and
 * removed there in a second or two, on a disk in tens of seconds. */
static char base[64];

static int setup(void **state)
{
    struct stat st;
    (void)state;
    snprintf(base, sizeof(base), "%s/kos-test-tree-XXXXXX",
             stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(base))
        return -1;
    return chmod(base, 0755);
}

static int teardown(void **state)
{
    (void)state;
    int fd = open(base, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        int err = kos__tree_clear(fd);
        (void)err; /* what is left is left in /tmp */
        close(fd);
    }
    rmdir(base);
    return 0;
}

/* "base/name", in a static buffer per call site's needs. */
static char *at(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", base, name);
    return buf;
}

static int open_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void touch(int dfd, const char *name, mode_t mode)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
}

/* Entries in the directory open at dfd, "." and ".." aside. */
static int count(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* A root-owned directory of CANARY_FILES files that no walk may touch. */
static void make_canary(const char *path)
{
    assert_int_equal(mkdir(path, 0755), 0);
    int fd = open_dir(path);
    for (int i = 0; i < CANARY_FILES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "canary_%d", i);
        touch(fd, name, 0644);
    }
    close(fd);
}

static void check_canary(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(st.st_mode & 07777, 0755);
    int fd = open_dir(path);
    for (int i = 0; i < CANARY_FILES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "canary_%d", i);
        assert_int_equal(fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(st.st_uid, geteuid());
    }
    close(fd);
}

/* A chain of `depth` directories "d" below the directory open at dfd, made
 * one level at a time through descriptors (it is deeper than PATH_MAX).
 * Every `locked`-th level gets mode 0 once the chain is made below it. */
static void make_chain(int dfd, size_t depth, size_t locked)
{
    int *fds = calloc(depth + 1, sizeof(int));
    assert_non_null(fds);
    fds[0] = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; i < depth; i++) {
        assert_int_equal(mkdirat(fds[0], "d", 0755), 0);
        int fd = openat(fds[0], "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        if (locked && i % locked == locked - 1)
            touch(fd, "f", 0600);
        /* Keep only the previous level open, to chmod it once we are in. */
        if (locked && i % locked == 0 && i > 0)
            fchmod(fds[0], 0);
        close(fds[0]);
        fds[0] = fd;
    }
    close(fds[0]);
    free(fds);
}

/* A tree with one of everything a walk meets. */
static void make_mixed(int dfd, const char *canary)
{
    assert_int_equal(mkdirat(dfd, "a", 0755), 0);
    assert_int_equal(mkdirat(dfd, "a/b", 0755), 0);
    assert_int_equal(mkdirat(dfd, "a/b/c", 0755), 0);
    touch(dfd, "top", 0644);
    touch(dfd, "a/b/c/deep", 04755);
    assert_int_equal(symlinkat(canary, dfd, "a/to_canary"), 0);
    assert_int_equal(symlinkat("/etc/passwd", dfd, "a/b/passwd"), 0);
    assert_int_equal(mkfifoat(dfd, "a/fifo", 0600), 0);
    assert_int_equal(mkdirat(dfd, "locked", 0755), 0);
    touch(dfd, "locked/inside", 0600);
    assert_int_equal(fchmodat(dfd, "locked", 0, 0), 0);
    assert_int_equal(mkdirat(dfd, "readonly", 0755), 0);
    touch(dfd, "readonly/inside", 0600);
    assert_int_equal(fchmodat(dfd, "readonly", 0500, 0), 0);
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof(name), "a/many_%d", i);
        touch(dfd, name, 0644);
    }
}

static void test_clear_mixed(void **state)
{
    (void)state;
    char tree[256], canary[256];
    struct stat st;

    make_canary(at(canary, sizeof(canary), "canary1"));
    assert_int_equal(mkdir(at(tree, sizeof(tree), "mixed"), 0755), 0);
    int fd = open_dir(tree);
    make_mixed(fd, canary);
    assert_int_equal(kos__tree_clear(fd), 0);
    assert_int_equal(count(fd), 0);
    assert_int_equal(fstat(fd, &st), 0); /* the directory itself stays */
    close(fd);
    check_canary(canary);
    assert_int_equal(stat("/etc/passwd", &st), 0);
}

/* Every entry beneath dfd (and dfd) is owned by uid, links included. */
static void check_owner(int dfd, uid_t uid, int *n)
{
    struct stat st;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(fd);
    struct dirent *e;

    assert_non_null(d);
    assert_int_equal(fstat(dirfd(d), &st), 0);
    assert_int_equal(st.st_uid, uid);
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        assert_int_equal(fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(st.st_uid, uid);
        (*n)++;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            assert_true(sub >= 0);
            check_owner(sub, uid, n);
            close(sub);
        }
    }
    closedir(d);
}

static void test_chown_mixed(void **state)
{
    (void)state;
    char tree[256], canary[256];
    struct stat st;
    int n = 0;

    if (geteuid() != 0)
        skip();
    make_canary(at(canary, sizeof(canary), "canary2"));
    assert_int_equal(mkdir(at(tree, sizeof(tree), "given"), 0755), 0);
    int fd = open_dir(tree);
    make_mixed(fd, canary);
    assert_int_equal(kos__tree_chown(fd, OTHER_UID, OTHER_UID), 0);
    check_owner(fd, OTHER_UID, &n);
    assert_true(n >= 110);
    /* Links were changed, never what they point to. */
    check_canary(canary);
    assert_int_equal(stat("/etc/passwd", &st), 0);
    assert_int_equal(st.st_uid, 0);
    /* A setuid file given away is no longer setuid. */
    assert_int_equal(fstatat(fd, "a/b/c/deep", &st, 0), 0);
    assert_int_equal(st.st_mode & 06000, 0);
    assert_int_equal(kos__tree_clear(fd), 0);
    close(fd);
}

/* The walks never hold more than the window (plus a few) descriptors: with
 * the soft limit just above it they still finish. */
static void limit_files(struct rlimit *old, rlim_t n)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, old), 0);
    rl = *old;
    rl.rlim_cur = n;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static void test_deep_chain(void **state)
{
    (void)state;
    char tree[256];
    struct rlimit old;
    const size_t depth = 100000;

    assert_int_equal(mkdir(at(tree, sizeof(tree), "chain"), 0755), 0);
    int fd = open_dir(tree);
    make_chain(fd, depth, 997);
    limit_files(&old, KOS__TREE_WINDOW + 16);
    if (geteuid() == 0) {
        assert_int_equal(kos__tree_chown(fd, OTHER_UID, OTHER_UID), 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_uid, OTHER_UID);
    }
    assert_int_equal(kos__tree_clear(fd), 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(count(fd), 0);
    close(fd);
}

/* As the owner without privilege (Core run by a user): directories the
 * owner locked (mode 0, 0500) are opened up and removed; chains too. */
static void test_unprivileged_owner(void **state)
{
    (void)state;
    char tree[256];
    pid_t pid;
    int status;

    if (geteuid() != 0)
        skip(); /* run as root, the test drops to nobody for this part */
    assert_int_equal(mkdir(at(tree, sizeof(tree), "user"), 0755), 0);
    assert_int_equal(chown(tree, OTHER_UID, OTHER_UID), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setresgid(OTHER_UID, OTHER_UID, OTHER_UID) ||
            setresuid(OTHER_UID, OTHER_UID, OTHER_UID))
            _exit(10);
        int fd = open(tree, O_RDONLY | O_DIRECTORY);
        make_mixed(fd, "/nonexistent");
        make_chain(fd, 2000, 7);
        if (kos__tree_chown(fd, OTHER_UID, OTHER_UID) != 0)
            _exit(11);
        fchmod(fd, 0); /* the top too */
        if (kos__tree_clear(fd) != 0)
            _exit(12);
        _exit(count(fd) == 0 ? 0 : 13);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the race: directories swapped for links to a canary ---- */

struct swapper {
    int dfd;             /* the tree's top */
    const char *canary;  /* what the links point to */
    const char *outside; /* where subtrees are moved out to */
    atomic_bool stop;
    atomic_ulong swaps;
};

/* Swaps "box" for a link to the canary and back, and moves a deep part of
 * the chain out of the tree and back, as fast as it can. */
static void *swap_loop(void *arg)
{
    struct swapper *s = arg;
    int out = open(s->outside, O_RDONLY | O_DIRECTORY);

    while (!atomic_load(&s->stop)) {
        if (renameat(s->dfd, "box", s->dfd, "box.away") == 0) {
            if (symlinkat(s->canary, s->dfd, "box") == 0)
                atomic_fetch_add(&s->swaps, 1);
            sched_yield();
            unlinkat(s->dfd, "box", 0);
            renameat(s->dfd, "box.away", s->dfd, "box");
        }
        if (renameat(s->dfd,
                     "chain/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d",
                     out, "moved") == 0) {
            sched_yield();
            renameat(out, "moved", s->dfd,
                     "chain/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d");
        }
    }
    close(out);
    return NULL;
}

static void fill_race_tree(int fd)
{
    assert_int_equal(mkdirat(fd, "box", 0777), 0);
    int box = openat(fd, "box", O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof(name), "canary_%d", i); /* the canary's names */
        touch(box, name, 0644);
    }
    assert_int_equal(mkdirat(box, "sub", 0777), 0);
    touch(box, "sub/canary_1", 0644);
    close(box);
    assert_int_equal(mkdirat(fd, "chain", 0755), 0);
    int chain = openat(fd, "chain", O_RDONLY | O_DIRECTORY);
    make_chain(chain, 3 * KOS__TREE_WINDOW, 0);
    close(chain);
}

static void race(bool chown_walk)
{
    char tree[256], canary[256], outside[256];
    const int rounds = 60;
    unsigned long swaps = 0;

    make_canary(at(canary, sizeof(canary), chown_walk ? "canary_c" : "canary_r"));
    make_canary(at(outside, sizeof(outside), chown_walk ? "out_c" : "out_r")); /* where
                                                                                 subtrees go */
    rmdir(at(tree, sizeof(tree), "race"));
    for (int r = 0; r < rounds; r++) {
        assert_int_equal(mkdir(tree, 0755), 0);
        int fd = open_dir(tree);
        fill_race_tree(fd);
        struct swapper s = {.dfd = fd, .canary = canary, .outside = outside};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, swap_loop, &s), 0);
        /* Either may fail while the tree moves under it. */
        int err = chown_walk ? kos__tree_chown(fd, OTHER_UID, OTHER_UID) : kos__tree_clear(fd);
        (void)err;
        atomic_store(&s.stop, true);
        pthread_join(t, NULL);
        swaps += atomic_load(&s.swaps);
        check_canary(canary);
        check_canary(outside);
        /* What was moved out and not back is the test's to remove. */
        int out = open_dir(outside);
        int moved = openat(out, "moved", O_RDONLY | O_DIRECTORY);
        if (moved >= 0) {
            assert_int_equal(kos__tree_clear(moved), 0);
            close(moved);
            assert_int_equal(unlinkat(out, "moved", AT_REMOVEDIR), 0);
        }
        close(out);
        check_canary(outside);
        assert_int_equal(kos__tree_clear(fd), 0);
        close(fd);
        assert_int_equal(rmdir(tree), 0);
    }
    /* The swapper did get its links in while the walks ran. */
    assert_true(swaps > 0);
}

static void test_race_clear(void **state)
{
    (void)state;
    race(false);
}

static void test_race_chown(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    race(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clear_mixed), cmocka_unit_test(test_chown_mixed),
        cmocka_unit_test(test_deep_chain),  cmocka_unit_test(test_unprivileged_owner),
        cmocka_unit_test(test_race_clear),  cmocka_unit_test(test_race_chown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
