/*
 * srv_limits.h - every bound kos-server keeps, in one place, each with its
 * reason. What one device, one browser or one API client can make the
 * server hold (in memory or in its database) is bounded by these.
 */
#ifndef KOS_SERVER_SRV_LIMITS_H
#define KOS_SERVER_SRV_LIMITS_H

/* ---- the API port (HTTP) ---- */

/* A request body the API reads: every body it takes is a small JSON object
 * (a device's public key and name, a command). Larger ones get 413 with a
 * JSON error. */
#define KOS__SRV_BODY_MAX (64u * 1024u)
/* An image zip pushed to a device (POST /api/devices/ID/upgrade), the one
 * body that is not small JSON: a system's binaries. evhttp buffers a body
 * whole before the route sees it and has one bound for every route, so it
 * is set to this; every other route still refuses a body over
 * KOS__SRV_BODY_MAX (413) once it has come. */
#define KOS__SRV_IMAGE_MAX (256u * 1024u * 1024u)
/* The request line and headers together. */
#define KOS__SRV_HEADERS_MAX (8u * 1024u)
/* An idle API connection is closed after this many seconds. */
#define KOS__SRV_IDLE_S 60

/* ---- server-sent events (/api/events) ---- */

/* Clients at once: each is a browser tab's live view. */
#define KOS__SRV_SSE_CLIENTS_MAX 32u
/* What may wait, unsent, for one client (libevent's output buffer): a
 * client that lets more pile up does not read, and is dropped; it never
 * grows the server's memory beyond this. Several whole events fit. */
#define KOS__SRV_SSE_QUEUE_MAX (512u * 1024u)
/* The kernel's send buffer for an event stream's socket, so that what a
 * client does not read is held (and counted) in the queue above. */
#define KOS__SRV_SSE_SNDBUF (64u * 1024u)
/* One event's data: log records are split over several events. */
#define KOS__SRV_EVENT_MAX (64u * 1024u)
/* A comment line every this many seconds keeps proxies and browsers from
 * taking a quiet stream for a dead one. */
#define KOS__SRV_SSE_KEEPALIVE_S 15
/* A client that takes nothing of a pending event for this long is dropped. */
#define KOS__SRV_SSE_WRITE_TIMEOUT_S 60

/* ---- devices ---- */

/* Devices a server registers (an API client cannot fill the disk). */
#define KOS__SRV_DEVICES_MAX 10000u
/* Devices waiting for approval that the server remembers (docs/link.md,
 * "Pending devices"): anyone who can reach the device port can make a key,
 * so a flood of unknown keys costs at most this many small rows (and as
 * many rows on the UI's page); the least recently seen are forgotten, and
 * a real device forgotten so comes back on its next attempt. */
#define KOS__SRV_PENDING_MAX 100u
/* A device's name, bytes of UTF-8. */
#define KOS__SRV_NAME_MAX 64u
/* A public key PEM in a registration. An Ed25519 one is 113 bytes. */
#define KOS__SRV_PEM_MAX 4096u
/* A whole message on the admin, logs or traces channel (docs/link.md). */
#define KOS__SRV_MSG_MAX (64u * 1024u)
/* What decoding one message may allocate (protobuf-c's allocations, which
 * can be several times the message's size for many small fields). */
#define KOS__SRV_DECODE_BUDGET (4u * 1024u * 1024u)
/* Apps in one Health report. */
#define KOS__SRV_APPS_MAX 256u
/* Boot store generations in one Health report: a store keeps at most 64
 * (manifest/store.h, KOS_STORE_MAX_GENS). */
#define KOS__SRV_GENS_MAX 64u
/* An app's name, kind and state strings, a system or platform name. */
#define KOS__SRV_SHORT_MAX 256u
/* An app's last exit, a self test's verdict, a command's result message. */
#define KOS__SRV_TEXT_MAX 1024u
/* A log record's text as stored: longer text is cut at a character
 * boundary (log_server's records are at most 1024 bytes; console lines
 * can be longer). */
#define KOS__SRV_LOG_TEXT_MAX 4096u
/* Log records kept per device: a ring in the database; when a batch takes
 * a device past it, its oldest records are deleted. With the text bound
 * above, one device holds at most about 40 MiB of records. */
#define KOS__SRV_LOG_RING 10000u
/* Records one GET /api/devices/ID/logs returns at most (and by default). */
#define KOS__SRV_LOGS_LIMIT_MAX     1000u
#define KOS__SRV_LOGS_LIMIT_DEFAULT 200u
/* Message trace records kept per device (docs/messages.md, "Tracing"): a
 * ring in the database like the logs; each is small (names of at most 63
 * bytes), so one device holds at most a few MiB of them. */
#define KOS__SRV_TRACE_RING 10000u
/* Records one GET /api/devices/ID/traces returns at most (and by default). */
#define KOS__SRV_TRACES_LIMIT_MAX     1000u
#define KOS__SRV_TRACES_LIMIT_DEFAULT 200u
/* An upgrade's stage as a device names it ("fetching"): printable, short. */
#define KOS__SRV_STAGE_MAX 32u
/* Commands remembered per device (their results): older ones are deleted. */
#define KOS__SRV_COMMANDS_KEPT 1000u

/* ---- the remote shell (POST /api/devices/ID/shell) ---- */

/* A command line the server relays: the device takes at most 256 bytes
 * and says why it refuses a longer one (it is the judge of what a line may
 * hold); beyond this the server refuses the line itself. */
#define KOS__SRV_SHELL_LINE_MAX 1024u
/* How long a line waits for its device's answer before the client gets
 * 504 (the device answers within its own 10 s wait for Core). */
#define KOS__SRV_SHELL_WAIT_S 30
/* Lines waiting for an answer at once: in all, and for one device (which
 * answers one at a time). */
#define KOS__SRV_SHELL_WAITING_MAX        64u
#define KOS__SRV_SHELL_WAITING_PER_DEVICE 4u
/* An answer's lines kept for the client, bytes as escaped (a device sends
 * at most 64 KiB); the rest is dropped and the answer says "cut". */
#define KOS__SRV_SHELL_ANSWER_MAX (256u * 1024u)

/* ---- remote debugging (POST /api/devices/ID/debug) ---- */

/* Sessions at once: one per device (its admin serves one), and in all. */
#define KOS__SRV_DEBUG_SESSIONS 16u
/* How long an open waits for the device's answer (it waits 10 s for Core),
 * and how long the session's port then waits for its client. */
#define KOS__SRV_DEBUG_OPEN_S    30
#define KOS__SRV_DEBUG_CONNECT_S 60
/* The device's bytes waiting for a client that does not read them: gdb's
 * packets are small, so a client this far behind is stuck, and the
 * session ends. */
#define KOS__SRV_DEBUG_BUFFER (1024u * 1024u)
/* The client's bytes in one DebugDown: inside the tunnel's 4000. */
#define KOS__SRV_DEBUG_CHUNK 3900u
/* The token a client proves it holds, hex digits, and the first line it
 * sends ("KOS-DEBUG " and the token) at most. */
#define KOS__SRV_DEBUG_TOKEN_HEX 32u
#define KOS__SRV_DEBUG_HELLO_MAX 64u

/* ---- the runtime file ---- */

/* Its size: a few short lines. */
#define KOS__SRV_RUNTIME_MAX 4096u

#endif
