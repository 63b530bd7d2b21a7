/*
 * logstore.c - log_server's store file turned into console-style lines
 * (see logstore.h). The format and its scanner live in libkos
 * (lib/logsrv_int.h), shared with the log server itself. The store may be
 * given as the file, or as log_server's file system image (/data where Core
 * bounds it), from which debugfs copies it out without mounting anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "logsrv_int.h"
#include "logstore.h"

#define STORE_READ_MAX (256u * 1024u * 1024u)

static void put_line(const struct kos__logrec *r, uint64_t offset, void *arg)
{
    char line[64 + KOS__LOGREC_APP_MAX + 4 * KOS_LOGSRV_TEXT_MAX + 8];
    size_t n = kos__logrec_format(r, line, sizeof(line));
    (void)offset;
    fwrite(line, 1, n, arg);
}

/* Whether the open file is an ext2/3/4 file system image: the superblock's
 * magic, 0xEF53, at byte 1080. */
static bool is_ext_image(FILE *in)
{
    unsigned char magic[2];
    bool yes = fseek(in, 1080, SEEK_SET) == 0 && fread(magic, 1, 2, in) == 2 && magic[0] == 0x53 &&
               magic[1] == 0xef;
    rewind(in);
    return yes;
}

/* Copies /kos_log.store out of the file system image `img` (log_server's
 * /data, docs/sandbox.md) into a new file in a new folder under $TMPDIR or
 * /tmp, with debugfs, which reads the image without mounting it. Returns
 * the open copy (the folder and file are removed already), or NULL after
 * saying why on `err`. */
static FILE *store_from_image(const char *img, FILE *err)
{
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], file[PATH_MAX + 32], req[PATH_MAX + 64];
    FILE *copy = NULL;
    pid_t pid;
    int status;

    snprintf(dir, sizeof(dir), "%s/kos-logview-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(err, "kos-tool log.view: cannot make a folder for the store of %s: %s\n", img,
                strerror(errno));
        return NULL;
    }
    snprintf(file, sizeof(file), "%s/kos_log.store", dir);
    snprintf(req, sizeof(req), "dump /kos_log.store %s", file);
    char *argv[] = {"debugfs", "-R", req, (char *)img, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int e = posix_spawnp(&pid, "debugfs", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e) {
        fprintf(err,
                "kos-tool log.view: %s is a file system image, and reading it needs debugfs "
                "(Debian's e2fsprogs): %s\n",
                img, strerror(e));
        goto out_rmdir;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    copy = fopen(file, "rb");
    if (!copy)
        fprintf(err,
                "kos-tool log.view: %s is a file system image without /kos_log.store (is it "
                "log_server's? debugfs -R 'ls -l /' %s shows what it holds)\n",
                img, img);
    unlink(file);
out_rmdir:
    rmdir(dir);
    return copy;
}

FILE *kos__tool_logstore_open(const char *path, FILE *err, bool *damaged)
{
    struct kos__logstore_report rep;
    struct stat st;
    uint8_t *buf = NULL;
    FILE *in, *out = NULL;
    size_t len;

    *damaged = false;
    in = fopen(path, "rb");
    if (in && is_ext_image(in)) {
        fclose(in);
        in = store_from_image(path, err);
        if (!in)
            return NULL;
    }
    if (!in || fstat(fileno(in), &st) < 0) {
        fprintf(err, "kos-tool log.view: cannot open %s: %s\n", path, strerror(errno));
        goto out_close;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > STORE_READ_MAX) {
        fprintf(err, "kos-tool log.view: %s is not a log store (%s)\n", path,
                S_ISREG(st.st_mode) ? "larger than 256 MiB" : "not a regular file");
        goto out_close;
    }
    len = (size_t)st.st_size;
    buf = malloc(len ? len : 1);
    out = tmpfile();
    if (!buf || !out) {
        fprintf(err, "kos-tool log.view: cannot read %s: %s\n", path, strerror(errno));
        goto out_fail;
    }
    if (fread(buf, 1, len, in) != len) {
        fprintf(err, "kos-tool log.view: cannot read %s: %s\n", path,
                ferror(in) ? strerror(errno) : "file shrank while being read");
        goto out_fail;
    }
    if (kos__logstore_scan(buf, len, put_line, out, &rep) != KOS_STATUS_OK) {
        *damaged = true;
        fprintf(err,
                "kos-tool log.view: %s: store damaged%s%s: %llu bytes in %llu region(s) "
                "skipped, the first at offset %llu; %llu valid records kept\n",
                path, rep.header_ok ? "" : " (bad header)", rep.truncated ? " (truncated)" : "",
                (unsigned long long)rep.bad_bytes, (unsigned long long)rep.bad_regions,
                (unsigned long long)rep.first_bad, (unsigned long long)rep.records);
    }
    if (fflush(out) != 0 || fseek(out, 0, SEEK_SET) != 0) {
        fprintf(err, "kos-tool log.view: cannot buffer %s: %s\n", path, strerror(errno));
        goto out_fail;
    }
    free(buf);
    fclose(in);
    return out;

out_fail:
    if (out)
        fclose(out);
    out = NULL;
out_close:
    free(buf);
    if (in)
        fclose(in);
    return out;
}
