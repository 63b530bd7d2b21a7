/*
 * logstore.h - reading log_server's store file offline, for
 * `kos-tool log.view --store FILE`.
 */
#ifndef KOS_TOOL_LOGSTORE_H
#define KOS_TOOL_LOGSTORE_H

#include <stdbool.h>
#include <stdio.h>

/* Reads the log_server store file at `path` (or /kos_log.store in the
 * file system image at `path`, log_server's /data) and returns a stream, positioned
 * at its start, holding each valid record as one console-style line
 * "<UTC time> <app>: <level>: <text>" in file order, so the console filters
 * of log.view apply unchanged. Damage (a bad header, a corrupt or truncated
 * frame) is reported on `err` with its offset, *damaged is set, and every
 * valid record is still returned. Returns NULL after printing the reason on
 * `err` if the file cannot be read. The stream belongs to the caller
 * (fclose it). Blocks on file I/O. */
FILE *kos__tool_logstore_open(const char *path, FILE *err, bool *damaged);

#endif
