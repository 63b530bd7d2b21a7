/*
 * studio.h - kos-tool's side of a local Studio server (docs/studio.md):
 * finding the running one through its runtime file (server/runtime.h) and
 * asking its JSON API, for the server.* commands and for provisioning
 * (keys.generate --server studio).
 */
#ifndef KOS_TOOL_STUDIO_H
#define KOS_TOOL_STUDIO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include <kos/status.h>

#include "runtime.h"

/* A Studio as kos-tool sees it. */
struct kos__tool_studio {
    char dir[PATH_MAX];       /* its data folder */
    struct kos__studio_rt rt; /* its runtime file, when there is one */
    bool has_rt;              /* there is a runtime file that parses */
    bool alive;               /* the pid it names is a kos-server */
};

/*
 * Looks at the Studio whose data folder is `data` (NULL: the default):
 * fills *s and returns KOS_STATUS_OK if it runs and answers its API;
 * KOS_STATUS_NOT_FOUND if it does not run (no runtime file, or one whose
 * process is gone: stale), KOS_STATUS_UNAVAILABLE if it runs but does not
 * answer, another status if the runtime file cannot be read; err says
 * which, and to run `kos-tool server.start` when it is not running. Blocks
 * up to a few seconds.
 */
kos_status_t kos__tool_studio_find(const char *data, struct kos__tool_studio *s, char *err,
                                   size_t errlen) __attribute__((warn_unused_result));

/*
 * Sends one request to the API of the Studio `rt` describes: `method`
 * ("GET", "POST") on `path`, with the JSON text `body` (NULL for none),
 * and the secret. On KOS_STATUS_OK, *status is the HTTP status and *resp
 * the JSON answer (the caller's, json_decref; NULL if the answer was not
 * JSON). Otherwise the server was not reached or did not answer within
 * `timeout_s` seconds, and err says so. Blocks.
 */
kos_status_t kos__tool_studio_call(const struct kos__studio_rt *rt, const char *method,
                                   const char *path, const char *body, int timeout_s, int *status,
                                   json_t **resp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* kos__tool_studio_call() with a body of body_len bytes of Content-Type
 * `type` (NULL: no body), any bytes (an image zip). */
kos_status_t kos__tool_studio_send(const struct kos__studio_rt *rt, const char *method,
                                   const char *path, const char *type, const void *body,
                                   size_t body_len, int timeout_s, int *status, json_t **resp,
                                   char *err, size_t errlen) __attribute__((warn_unused_result));

/* The "error" sentence of a refusal `resp`, or a generic one. */
const char *kos__tool_studio_error(const json_t *resp);

/* A hex prefix of a device id that names a device: at least this long. */
#define KOS__TOOL_DEVICE_PREFIX_MIN 4u

/* Finds the Studio (data folder `data`, NULL: the default) and the device
 * `want` names among its own (its id, a prefix of it of at least
 * KOS__TOOL_DEVICE_PREFIX_MIN hex digits, or its name), which must be
 * online: fills *s, its id and its name escaped for printing (1024 bytes),
 * or prints why not (as "kos-tool CMD: ...") and returns false. Blocks. */
bool kos__tool_studio_online_device(const char *cmd, const char *data, const char *want,
                                    struct kos__tool_studio *s, char id[65], char *name_shown);

/* text (from a device or a server), escaped as the console escapes it and
 * cut to fit buf (cap bytes), NUL-terminated: buf. */
const char *kos__tool_shown(char *buf, size_t cap, const char *text);

/* Prints len bytes of text escaped, then a newline, on f. */
void kos__tool_put_escaped(FILE *f, const char *text, size_t len);

#endif
