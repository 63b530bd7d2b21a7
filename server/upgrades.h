/*
 * upgrades.h - pushing a release to a device (docs/upgrades.md, "Pushing
 * a release from Studio"): the image zip an API client sends is checked
 * and its blobs stored content-addressed in the data folder's blobs/, the
 * release recorded, and an Upgrade command sent to the device, which then
 * fetches the blobs it lacks from the device port's blob route
 * (blobport.h) and reports UpgradeProgress and a CommandResult.
 *
 * What stays true: a device is served only the blobs of releases sent to
 * it; a bad image stores nothing and is refused saying which entry and
 * which digest were wrong; every call runs on the server's loop and blocks
 * only on its files and database.
 */
#ifndef KOS_SERVER_UPGRADES_H
#define KOS_SERVER_UPGRADES_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/buffer.h>
#include <jansson.h>

#include <kos/status.h>

#include "admin.pb-c.h"
#include "devport.h"

struct kos__srv;

/* The data folder's blob store, content-addressed: one file per blob,
 * named by its SHA-256 in hex. */
#define KOS__UPGRADES_BLOBS_DIR "blobs"

/* Pushes the image zip in body (an API request's, drained: written to a
 * temporary file of the data folder, removed again) to device id, which
 * must be online: checks it and stores its blobs (kos__image_unpack),
 * records the release and the command, and sends the device its Upgrade. On success
 * *answer is {"id", "release", "system", "blobs", "bytes"} (the caller's).
 * Else err says why: KOS_STATUS_NOT_FOUND (no such device),
 * KOS_STATUS_UNAUTHORIZED (revoked), KOS_STATUS_UNAVAILABLE (not online),
 * KOS_STATUS_PROTOCOL (a bad image, stored nothing), KOS_STATUS_TOO_LARGE
 * (an Upgrade too large for one message to the device), KOS_STATUS_BUSY
 * (its admin channel is full), KOS_STATUS_IO. Blocks on the files. */
kos_status_t kos__upgrades_push(struct kos__srv *srv, const char *id, struct evbuffer *body,
                                json_t **answer, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Takes an UpgradeProgress from device id: stored and sent as an upgrade
 * event. False, with why, for a malformed one (the caller ends the link);
 * one for a command that is not its upgrade is logged and dropped. */
bool kos__upgrades_progress(struct kos__srv *srv, const char *id,
                            const Kos__Admin__UpgradeProgress *p, char *why, size_t cap);

/* Fills the blob route's hooks of h (blob_open, blob_served) for srv. */
void kos__upgrades_hooks(struct kos__srv *srv, struct kos__devport_hooks *h);

#endif
