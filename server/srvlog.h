/*
 * srvlog.h - kos-server's log: one line per event worth knowing, on
 * stderr (the log file when kos-tool server.start runs the server).
 */
#ifndef KOS_SERVER_SRVLOG_H
#define KOS_SERVER_SRVLOG_H

/* Prints one line of the server's log on stderr: "<UTC time> kos-server:
 * <text>". Never given a secret or a private key. */
void kos__srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
