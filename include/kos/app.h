/*
 * app.h - an app's view of the system it runs in.
 *
 * KOS Core starts each app with exactly the file descriptors its manifest
 * grants: fd 0 is /dev/null, fds 1 and 2 are its console, fd 3 is its control
 * channel to Core, and each message server it may use follows. Core writes a
 * boot record on the control channel before the app runs; kos_app_open() reads
 * it. The app object owns every descriptor it was handed.
 *
 * A kos_app_t is not thread-safe: use it from one thread, or lock around it.
 */
#ifndef KOS_APP_H
#define KOS_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kos_app kos_app_t;
typedef struct kos_dir kos_dir_t;

/* Reads the boot record Core left on the control channel and returns the app
 * handle in *out. On error *out is untouched and nothing is held. Blocks only
 * for the boot record, which Core writes before the app starts. */
KOS_API KOS_MUST kos_status_t kos_app_open(kos_app_t **out);

/* Closes every channel the app holds and frees it. kos_app_close(NULL) does
 * nothing. */
KOS_API void kos_app_close(kos_app_t *app);

/* The app's name as the manifest spells it. Valid until kos_app_close(). */
KOS_API const char *kos_app_name(const kos_app_t *app);

/* Tells Core this app has finished starting. Core reports "system ready" when
 * every app has done so (or has ended normally). Calling it twice is harmless. */
KOS_API KOS_MUST kos_status_t kos_app_ready(kos_app_t *app);

/* Looks up the app's connection to the message server named `server`
 * ("msg0"). The directory belongs to the app: do not free it. Returns
 * KOS_STATUS_NOT_FOUND if the manifest gives the app no protocol on it. */
KOS_API KOS_MUST kos_status_t kos_app_dir(kos_app_t *app, const char *server, kos_dir_t **out);

/* Looks up a device or shared memory region the manifest grants this app
 * (apps.NAME.devices / apps.NAME.memory_regions), by the name the manifest
 * gives it. *fd is the app's descriptor for it: it belongs to the app handle,
 * do not close it. *size is a region's size in bytes, 0 for a device; may be
 * NULL. KOS_STATUS_NOT_FOUND if the manifest grants no such resource. */
KOS_API KOS_MUST kos_status_t kos_app_resource(kos_app_t *app, const char *name, int *fd,
                                               uint64_t *size);

/* Maps the shared memory region `name` into the app's address space with the
 * access the manifest grants (read-only or read-write). On success *addr and
 * *size describe the mapping, which lasts until the app unmaps it.
 * KOS_STATUS_NOT_FOUND if no such region is granted. */
KOS_API KOS_MUST kos_status_t kos_app_map_region(kos_app_t *app, const char *name, void **addr,
                                                 size_t *size);

/* The value of setting `key` from the app's manifest entry (config:), or
 * NULL if the manifest gives none. Valid until kos_app_close(). A
 * component's whole configuration comes from here. */
KOS_API const char *kos_app_config(const kos_app_t *app, const char *key);

/* Setting number i (0-based, in manifest order) of the app's config:, for
 * components whose settings are a family of keys (key_store's allow.APP).
 * On success *key points at its key, which is *key_len bytes long and is
 * not NUL-terminated, and *value at its NUL-terminated value; both are valid
 * until kos_app_close(). Returns false when i is past the last setting. */
KOS_API bool kos_app_config_at(const kos_app_t *app, size_t i, const char **key, size_t *key_len,
                               const char **value);

/* Reports the system's self test to Core: whether it passed, how many
 * checks ran and how many failed, and a one-line summary (at most 1023
 * bytes, no control characters), which Core prints and records (see
 * docs/packages/self_test.md). Only the app whose manifest entry says
 * reports_self_test: true may report; Core ignores anyone else's report and
 * closes their control channel, and it takes only the first report of a
 * boot. KOS_STATUS_INVALID_ARGUMENT for a passed verdict with failed checks,
 * more failed checks than checks, or a bad summary. Blocks only until the
 * control channel takes the message. */
KOS_API KOS_MUST kos_status_t kos_app_report_self_test(kos_app_t *app, bool passed, uint32_t checks,
                                                       uint32_t failed, const char *summary);

/* The control channel's descriptor, readable when Core has a message (for
 * example a shutdown request) for the app. */
KOS_API int kos_app_fd(const kos_app_t *app);

/* True once Core has asked the app to stop (it also sends SIGTERM). */
KOS_API bool kos_app_stopping(kos_app_t *app);

#ifdef __cplusplus
}
#endif
#endif
