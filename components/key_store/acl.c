/*
 * acl.c - key_store's allow list: which app may do which operation with
 * which key, parsed from the manifest entry's `allow` setting and its
 * per-app `allow.APP` settings.
 *
 *   allow: "tunnel=tunnel:agree;admin=identity:sign,identity:public"
 *   allow.self_test: "identity:sign_digest,identity:verify"
 *
 * What stays true: a list that fails to parse grants nothing, and an app or
 * key not named in the list may do nothing.
 */
#include <stdio.h>
#include <string.h>

#include "ks.h"

static const struct {
    const char *name;
    unsigned op;
} ops[] = {
    {"public", KS_OP_PUBLIC}, {"sign", KS_OP_SIGN},   {"sign_digest", KS_OP_SIGN_DIGEST},
    {"verify", KS_OP_VERIFY}, {"agree", KS_OP_AGREE},
};

const char *ks_op_name(unsigned op)
{
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (ops[i].op == op)
            return ops[i].name;
    return "?";
}

static bool app_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* The parser's position in the text. */
struct cursor {
    const char *s;
    size_t at;
};

static void skip_spaces(struct cursor *c)
{
    while (c->s[c->at] == ' ' || c->s[c->at] == '\t')
        c->at++;
}

/* Reads a run of characters accepted by ok() into out (cap bytes with the
 * NUL). Returns its length, 0 if there is none, or cap if it is too long. */
static size_t word(struct cursor *c, bool (*ok)(char), char *out, size_t cap)
{
    size_t n = 0;

    skip_spaces(c);
    while (ok(c->s[c->at])) {
        if (n + 1 < cap)
            out[n] = c->s[c->at];
        n++;
        c->at++;
    }
    if (n >= cap)
        return cap;
    out[n] = '\0';
    skip_spaces(c);
    return n;
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool op_char(char c)
{
    return (c >= 'a' && c <= 'z') || c == '_';
}

static kos_status_t add(struct ks_acl *acl, const char *app, const char *key, unsigned op)
{
    for (size_t i = 0; i < acl->n; i++) {
        if (!strcmp(acl->e[i].app, app) && !strcmp(acl->e[i].key, key)) {
            acl->e[i].ops |= op;
            return KOS_STATUS_OK;
        }
    }
    if (acl->n == KS_ACL_MAX)
        return KOS_STATUS_TOO_LARGE;
    snprintf(acl->e[acl->n].app, sizeof(acl->e[0].app), "%s", app);
    snprintf(acl->e[acl->n].key, sizeof(acl->e[0].key), "%s", key);
    acl->e[acl->n].ops = op;
    acl->n++;
    return KOS_STATUS_OK;
}

/* Parses "KEY:OP,KEY:OP..." for `app` from c's position up to a ';' or the
 * end, adding each pair to acl. On error sets *what and *start. */
static bool parse_pairs(struct cursor *c, struct ks_acl *acl, const char *app, const char **what,
                        size_t *start)
{
    char key[KOS_KEYSTORE_KEY_NAME_MAX + 1], op[16];
    size_t n;

    for (;;) {
        unsigned bit = 0;

        *start = c->at;
        n = word(c, key_char, key, sizeof(key));
        if (n == 0 || n == sizeof(key) || c->s[c->at] != ':') {
            *what = n == sizeof(key) ? "a key name of at most 31 characters [a-z0-9_]"
                                     : "KEY:OPERATION (a key name from [a-z0-9_])";
            return false;
        }
        c->at++;
        *start = c->at;
        n = word(c, op_char, op, sizeof(op));
        for (size_t i = 0; n && n < sizeof(op) && i < sizeof(ops) / sizeof(ops[0]); i++)
            if (!strcmp(op, ops[i].name))
                bit = ops[i].op;
        if (!bit) {
            *what = "an operation: public, sign, sign_digest, verify or agree";
            return false;
        }
        if (add(acl, app, key, bit)) {
            *what = "at most 64 app and key pairs";
            return false;
        }
        if (c->s[c->at] == ',') {
            c->at++;
            continue;
        }
        if (c->s[c->at] == ';' || !c->s[c->at])
            return true;
        *start = c->at;
        *what = "',' or ';'";
        return false;
    }
}

kos_status_t ks_acl_parse(struct ks_acl *acl, const char *allow, char *err, size_t errlen)
{
    memset(acl, 0, sizeof(*acl));
    return ks_acl_add(acl, NULL, allow, err, errlen);
}

kos_status_t ks_acl_add(struct ks_acl *acl, const char *app, const char *list, char *err,
                        size_t errlen)
{
    struct cursor c = {.s = list, .at = 0};
    char name[KS_APP_NAME_MAX + 1];
    const char *what = "";
    size_t n, start = 0;

    if (!list)
        return KOS_STATUS_OK;
    if (app) {
        /* allow.APP: "KEY:OP,KEY:OP", or "" for nothing. */
        size_t len = strlen(app);
        bool ok = len > 0 && len <= KS_APP_NAME_MAX;
        for (size_t i = 0; ok && i < len; i++)
            ok = app_char(app[i]);
        if (!ok) {
            snprintf(err, errlen,
                     "allow.%.80s: not an app name (1-63 letters, digits, '_', '.' "
                     "or '-')",
                     app);
            goto out_clear;
        }
        skip_spaces(&c);
        if (!c.s[c.at])
            return KOS_STATUS_OK;
        if (parse_pairs(&c, acl, app, &what, &start) && !c.s[c.at])
            return KOS_STATUS_OK;
        if (!what[0]) { /* stopped at a ';' */
            start = c.at;
            what = "',' (one app per allow.APP setting)";
        }
        snprintf(err, errlen, "allow.%s: expected %s at offset %zu ('%.24s')", app, what, start,
                 list + start);
        goto out_clear;
    }
    for (;;) {
        skip_spaces(&c);
        if (!c.s[c.at])
            return KOS_STATUS_OK;
        if (c.s[c.at] == ';') { /* an empty entry, e.g. a trailing ';' */
            c.at++;
            continue;
        }
        start = c.at;
        n = word(&c, app_char, name, sizeof(name));
        if (n == 0 || n == sizeof(name) || c.s[c.at] != '=') {
            what = n == sizeof(name) ? "an app name of at most 63 characters"
                                     : "APP=KEY:OPERATION,...";
            break;
        }
        c.at++;
        if (!parse_pairs(&c, acl, name, &what, &start))
            break;
    }
    snprintf(err, errlen, "allow: expected %s at offset %zu ('%.24s')", what, start, list + start);
out_clear:
    memset(acl, 0, sizeof(*acl));
    return KOS_STATUS_INVALID_ARGUMENT;
}

unsigned ks_acl_ops(const struct ks_acl *acl, const char *app, const char *key)
{
    if (!app || !key)
        return 0;
    for (size_t i = 0; i < acl->n; i++)
        if (!strcmp(acl->e[i].app, app) && !strcmp(acl->e[i].key, key))
            return acl->e[i].ops;
    return 0;
}
