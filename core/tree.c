/*
 * tree.c - walking a directory tree that an app wrote, through descriptors
 * only (tree_int.h): emptying it, or giving it to a uid and gid.
 *
 * A walk is a loop over a stack of levels, level 0 being the caller's
 * directory. Each level records the directory's inode, where its listing
 * resumes (the getdents offset after the entry being walked) and the name
 * it has in its parent. What stays true:
 *
 *   - every directory the walk acts in is open, and was checked after it
 *     was opened (fstat): a directory on the tree's file system whose inode
 *     is the one listed for that name or, reopened through "..", the one
 *     recorded on the way down;
 *   - every change is one name relative to such a descriptor, never
 *     following a symbolic link (openat O_NOFOLLOW, unlinkat, fchownat
 *     AT_SYMLINK_NOFOLLOW, fchown on the open directory);
 *   - at most KOS__TREE_WINDOW levels besides level 0 are open, and they are
 *     the deepest ones: levels [lowest_open, depth) when depth > lowest_open.
 *
 * So a symbolic link swapped in for a directory is met by O_NOFOLLOW and
 * removed (or given) as the link it is; a directory moved elsewhere during
 * the walk is never entered again through "..", because its new parent is
 * not the one recorded; and a chain of any depth costs one open and one
 * reopen per level, not a descriptor or a stack frame.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tree_int.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6, the same number on every architecture */
#endif

/* Passes kos__tree_clear() makes at most over a tree that keeps changing
 * under it (each must remove something): a writer racing the removal must
 * not keep Core busy for ever. */
#define CLEAR_PASSES 64

enum op { OP_CLEAR, OP_CHOWN };

struct level {
    ino_t ino;   /* the directory, as fstat() saw it once opened */
    off_t pos;   /* where its listing resumes: after the entry being walked */
    size_t name; /* offset in walk.names of the name it has in its parent */
    int fd;      /* open, or -1 while it is outside the window */
};

struct walk {
    enum op op;
    uid_t uid; /* OP_CHOWN: the new owner */
    gid_t gid;
    uid_t me;  /* Core's effective uid: the owner whose locked directories it may open up */
    dev_t dev; /* the tree's file system */
    struct level *lv;
    size_t depth, cap;
    char *names; /* the names of levels 1..depth-1, each NUL-terminated */
    size_t names_len, names_cap;
    size_t lowest_open; /* the shallowest level besides 0 that may be open */
    size_t n_open;      /* levels besides 0 that are open */
    int err;            /* the first error met */
    unsigned long done; /* entries removed or given */
    char buf[32768] __attribute__((aligned(8)));
};

static void note(struct walk *w, int err)
{
    if (!w->err)
        w->err = err;
}

/* chmod of what an O_PATH descriptor names (fchmod() refuses those). */
static int chmod_fd(int fd, mode_t mode)
{
    char path[64];

    if (syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno != ENOSYS && errno != EINVAL)
        return -1;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return chmod(path, mode);
}

/* Opens directory `name` in parent, which its owner (Core's uid) made
 * unreadable or unsearchable: gives it mode u+rwx first. Returns a read
 * descriptor or -1 with errno. */
static int open_locked(const struct walk *w, int parent, const char *name)
{
    struct stat st;
    int p = openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd = -1, err = EACCES;

    if (p < 0)
        return -1;
    if (fstat(p, &st) < 0)
        err = errno;
    else if (st.st_uid != w->me)
        err = EACCES;
    else if (chmod_fd(p, (st.st_mode & 07777) | 0700) < 0 ||
             (fd = openat(p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        err = errno;
    close(p);
    errno = err;
    return fd;
}

/* Whether `name` in parent is, now, the directory st describes. */
static bool still_listed(int parent, const char *name, const struct stat *st)
{
    struct stat now;
    return fstatat(parent, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st->st_dev &&
           now.st_ino == st->st_ino;
}

/*
 * Opens directory `name` of parent and checks it: a directory on the tree's
 * file system with inode `ino`. When it was listed (not ".."), an inode that
 * differs from the listing's d_ino is accepted if the name still leads to
 * it (some file systems report other inode numbers in listings). When
 * clearing, a directory Core's uid owns gets u+rwx so its entries can go.
 * Returns the descriptor, or -errno.
 */
static int open_dir(const struct walk *w, int parent, const char *name, ino_t ino, bool listed)
{
    struct stat st;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err;

    if (fd < 0 && errno == EACCES)
        fd = open_locked(w, parent, name);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        err = errno;
        goto out_close;
    }
    err = ESTALE;
    if (!S_ISDIR(st.st_mode))
        goto out_close;
    if (st.st_dev != w->dev) {
        err = EXDEV;
        goto out_close;
    }
    if (st.st_ino != ino && !(listed && still_listed(parent, name, &st)))
        goto out_close;
    if (w->op == OP_CLEAR && (st.st_mode & 0700) != 0700 && st.st_uid == w->me &&
        fchmod(fd, (st.st_mode & 07777) | 0700) < 0) {
        err = errno;
        goto out_close;
    }
    return fd;

out_close:
    close(fd);
    return -err;
}

/* Makes directory fd, inode ino, named `name` in the level above, the
 * deepest level, closing the shallowest open one if the window is full.
 * Takes fd in every case. Returns false (having closed fd) when out of
 * memory. */
static bool push(struct walk *w, int fd, ino_t ino, const char *name)
{
    size_t len = strlen(name) + 1;

    if (w->depth == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct level *lv = realloc(w->lv, cap * sizeof(*lv));
        if (!lv)
            goto out_nomem;
        w->lv = lv;
        w->cap = cap;
    }
    if (w->names_len + len > w->names_cap) {
        size_t cap = w->names_cap ? w->names_cap * 2 : 4096;
        while (cap < w->names_len + len)
            cap *= 2;
        char *names = realloc(w->names, cap);
        if (!names)
            goto out_nomem;
        w->names = names;
        w->names_cap = cap;
    }
    if (w->depth > 0 && w->n_open == KOS__TREE_WINDOW) {
        struct level *old = &w->lv[w->lowest_open];
        assert(w->lowest_open < w->depth && old->fd >= 0);
        close(old->fd);
        old->fd = -1;
        w->lowest_open++;
        w->n_open--;
    }
    w->lv[w->depth] = (struct level){.ino = ino, .pos = 0, .name = w->names_len, .fd = fd};
    memcpy(w->names + w->names_len, name, len);
    w->names_len += len;
    if (w->depth > 0)
        w->n_open++;
    w->depth++;
    return true;

out_nomem:
    close(fd);
    note(w, ENOMEM);
    return false;
}

/* Closes every level below 0 still open and ends the walk. */
static void abandon(struct walk *w)
{
    for (size_t i = 1; i < w->depth; i++)
        if (w->lv[i].fd >= 0)
            close(w->lv[i].fd);
    w->depth = 0;
}

/*
 * The deepest level is done: goes back to its parent, reopening the parent
 * through ".." (and checking it is the directory recorded) if it was outside
 * the window; when clearing, removes the finished directory. Returns false
 * when the walk is over: level 0 was done, or the way back up led
 * elsewhere.
 */
static bool up(struct walk *w)
{
    size_t c = w->depth - 1, p;

    if (c == 0) {
        w->depth = 0;
        return false;
    }
    p = c - 1;
    if (w->lv[p].fd < 0) {
        int fd = open_dir(w, w->lv[c].fd, "..", w->lv[p].ino, false);
        if (fd < 0) {
            note(w, -fd == ENOENT ? ESTALE : -fd);
            abandon(w);
            return false;
        }
        w->lv[p].fd = fd;
        w->lowest_open = p;
        w->n_open++;
    }
    close(w->lv[c].fd);
    w->n_open--;
    if (w->op == OP_CLEAR) {
        if (unlinkat(w->lv[p].fd, w->names + w->lv[c].name, AT_REMOVEDIR) == 0)
            w->done++;
        else if (errno != ENOENT)
            note(w, errno);
    }
    w->names_len = w->lv[c].name;
    w->depth--;
    return true;
}

/* Removes or gives entry `name` of parent, which is not a directory (or no
 * longer is: a symbolic link swapped in for one is itself the entry). */
static void leaf(struct walk *w, int parent, const char *name)
{
    int r = w->op == OP_CLEAR ? unlinkat(parent, name, 0)
                              : fchownat(parent, name, w->uid, w->gid, AT_SYMLINK_NOFOLLOW);
    if (r == 0)
        w->done++;
    else if (errno != ENOENT)
        note(w, errno);
}

/* Handles entry e of the deepest level. Returns true when it went down into
 * it (the rest of the listing is then read again later, from lv.pos). */
static bool visit(struct walk *w, const struct dirent64 *e)
{
    int parent = w->lv[w->depth - 1].fd;
    unsigned char type = e->d_type;
    int fd;

    if (type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(parent, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                note(w, errno);
            return false;
        }
        type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
    }
    if (type != DT_DIR) {
        leaf(w, parent, e->d_name);
        return false;
    }
    fd = open_dir(w, parent, e->d_name, e->d_ino, true);
    if (fd == -ELOOP || fd == -ENOTDIR) {
        leaf(w, parent, e->d_name); /* no longer a directory */
        return false;
    }
    if (fd < 0) {
        if (fd != -ENOENT)
            note(w, -fd);
        return false;
    }
    if (w->op == OP_CHOWN) {
        if (fchown(fd, w->uid, w->gid) == 0)
            w->done++;
        else
            note(w, errno);
    }
    return push(w, fd, e->d_ino, e->d_name);
}

/* One walk over the tree beneath top. */
static void walk(struct walk *w, int top)
{
    struct stat st;

    w->depth = 0;
    w->names_len = 0;
    w->lowest_open = 1;
    w->n_open = 0;
    if (fstat(top, &st) < 0) {
        note(w, errno);
        return;
    }
    w->dev = st.st_dev;
    if (w->op == OP_CLEAR && (st.st_mode & 0700) != 0700 && st.st_uid == w->me &&
        chmod_fd(top, (st.st_mode & 07777) | 0700) < 0) {
        note(w, errno);
        return;
    }
    /* Level 0 is a new open of the caller's directory, with an offset of
     * its own (top may also be an O_PATH descriptor). */
    int fd0 = openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd0 < 0) {
        note(w, errno);
        return;
    }
    if (!push(w, fd0, st.st_ino, ""))
        return;
    while (w->depth > 0) {
        struct level *l = &w->lv[w->depth - 1];
        ssize_t n = -1;

        if (lseek(l->fd, l->pos, SEEK_SET) >= 0)
            n = getdents64(l->fd, w->buf, sizeof(w->buf));
        if (n < 0)
            note(w, errno);
        if (n <= 0) {
            if (!up(w))
                break;
            continue;
        }
        for (ssize_t off = 0; off < n;) {
            const struct dirent64 *e = (const void *)(w->buf + off);
            off += e->d_reclen;
            l->pos = e->d_off;
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if (visit(w, e))
                break; /* l may have moved with the stack */
        }
    }
    close(fd0);
}

static struct walk *walk_new(enum op op)
{
    struct walk *w = calloc(1, sizeof(*w));

    if (w) {
        w->op = op;
        w->me = geteuid();
    }
    return w;
}

static void walk_free(struct walk *w)
{
    free(w->lv);
    free(w->names);
    free(w);
}

int kos__tree_clear(int dfd)
{
    struct walk *w = walk_new(OP_CLEAR);
    int err;

    if (!w)
        return ENOMEM;
    for (int pass = 0; pass < CLEAR_PASSES; pass++) {
        w->err = 0;
        w->done = 0;
        walk(w, dfd);
        if (!w->err || !w->done)
            break;
    }
    err = w->err;
    walk_free(w);
    return err;
}

int kos__tree_chown(int dfd, uid_t uid, gid_t gid)
{
    struct walk *w = walk_new(OP_CHOWN);
    int err;

    if (!w)
        return ENOMEM;
    w->uid = uid;
    w->gid = gid;
    walk(w, dfd);
    if (!w->err && fchownat(dfd, "", uid, gid, AT_EMPTY_PATH) < 0)
        note(w, errno);
    err = w->err;
    walk_free(w);
    return err;
}
