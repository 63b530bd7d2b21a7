/*
 * logstore.c - log_server's store file turned into console-style lines
 * (see logstore.h). The format and its scanner live in libkos
 * (lib/logsrv_int.h), shared with the log server itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

FILE *kos__tool_logstore_open(const char *path, FILE *err, bool *damaged)
{
    struct kos__logstore_report rep;
    struct stat st;
    uint8_t *buf = NULL;
    FILE *in, *out = NULL;
    size_t len;

    *damaged = false;
    in = fopen(path, "rb");
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
