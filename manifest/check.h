/*
 * check.h - the assurance checks: a catalogue of rules run over a manifest.
 *
 * Each rule has a stable id ("KOS-A001"), a severity, a one-line reason and
 * a fix; docs/assurance.md describes every rule with a bad and a fixed
 * example. kos_check_run() runs them all over a validated manifest and
 * returns the findings, each at the file:line:col of the offending entry.
 * An app may waive a rule for itself (waive: in the manifest) with a written
 * justification: the finding is still reported, marked waived, and does not
 * count towards failing. A waiver naming an unknown rule, or a rule that
 * found nothing in that app, is itself reported (KOS-A014), so stale waivers
 * are found.
 *
 * The checks read only the manifest model; they never fail on content, and
 * their output depends on nothing but the manifest (findings are sorted).
 */
#ifndef KOS_MANIFEST_CHECK_H
#define KOS_MANIFEST_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <kos/status.h>

#include "manifest.h"

/* Severities, in increasing order. */
enum kos_check_severity {
    KOS_CHECK_INFO = 1,
    KOS_CHECK_WARNING = 2,
    KOS_CHECK_ERROR = 3,
};

/* One rule of the catalogue. All strings are static. */
struct kos_check_rule {
    const char *id;   /* "KOS-A001": stable, never reused */
    const char *slug; /* "signing-disabled": a readable name for the id */
    enum kos_check_severity severity;
    bool per_app;       /* findings name an app, which may waive the rule */
    const char *title;  /* what the rule looks for, a short phrase */
    const char *reason; /* one line: why it matters */
    const char *fix;    /* one line: what to do */
};

/* One finding. `app`, `pos.file` and `justification` point into the
 * manifest the checks ran on, which must outlive the report. */
struct kos_check_finding {
    const struct kos_check_rule *rule;
    const char *app;       /* the app concerned, or NULL for the system */
    struct kos_mf_pos pos; /* the offending entry */
    char *message;         /* a sentence naming what was found (owned by the report) */
    bool waived;
    const char *justification;    /* the waiver's text when waived, else NULL */
    struct kos_mf_pos waiver_pos; /* where the waiver was written, when waived */
};

struct kos_check_report {
    struct kos_check_finding *findings; /* sorted by file, line, column, rule id */
    size_t n_findings;
    size_t count[KOS_CHECK_ERROR + 1]; /* findings not waived, by severity */
    size_t n_waived;
};

/* The whole catalogue, in id order; *n is set to its length. */
const struct kos_check_rule *kos_check_rules(size_t *n);

/* The rule with id `id`, or NULL. */
const struct kos_check_rule *kos_check_rule_find(const char *id);

/* "error", "warning" or "info". */
const char *kos_check_severity_str(enum kos_check_severity s);

/*
 * Runs every rule over `m` (a manifest kos_manifest_load() returned). On
 * success *out is a report that belongs to the caller (free it with
 * kos_check_report_destroy()) and points into `m`. Fails only with
 * KOS_STATUS_INVALID_ARGUMENT (NULL arguments) or KOS_STATUS_NO_MEMORY;
 * then *out is untouched. Does not block.
 */
kos_status_t kos_check_run(const struct kos_manifest *m, struct kos_check_report **out)
    __attribute__((warn_unused_result));

/* True if the report holds a finding, not waived, of severity `at_least` or
 * higher. */
bool kos_check_fails(const struct kos_check_report *r, enum kos_check_severity at_least);

/* kos_check_report_destroy(NULL) does nothing. */
void kos_check_report_destroy(struct kos_check_report *r);

#endif
