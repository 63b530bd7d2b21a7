/*
 * cm_walk.h - reads every field of a compiled manifest that kos_cm_open()
 * accepted, for the fuzz harnesses (fuzz_compiled, fuzz_manifest,
 * fuzz_image).
 *
 * compiled.h promises that after kos_cm_open() every accessor reads inside
 * the buffer, every string is NUL-terminated inside the pool, process names
 * are unique and every grant points at a message server. The walk goes
 * through each accessor (processes, grants, string references, resources,
 * regions, strings) and checks those promises explicitly; a read past the
 * buffer shows up under AddressSanitizer, and a broken promise that stays
 * inside the buffer aborts with a sentence saying which.
 */
#ifndef KOS_TESTS_FUZZ_CM_WALK_H
#define KOS_TESTS_FUZZ_CM_WALK_H

#include <stdint.h>

#include "compiled.h"

/* Walks the whole view and returns a digest of what it read (so nothing is
 * optimised away). Aborts on a broken promise. */
uint64_t kos_fuzz_cm_walk(const struct kos_cm *cm);

#endif
