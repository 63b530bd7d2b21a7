/*
 * acl.c - key_store's allow list: which app may do which operation with
 * which key, parsed from the manifest entry's `allow` setting.
 *
 *   allow: "tunnel=tunnel:agree;admin=identity:sign,identity:public"
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
    {"public", KS_OP_PUBLIC},
    {"sign", KS_OP_SIGN},
    {"verify", KS_OP_VERIFY},
    {"agree", KS_OP_AGREE},
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
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
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
    return c >= 'a' && c <= 'z';
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

kos_status_t ks_acl_parse(struct ks_acl *acl, const char *allow, char *err, size_t errlen)
{
    struct cursor c = {.s = allow, .at = 0};
    char app[KS_APP_NAME_MAX + 1], key[KOS_KEYSTORE_KEY_NAME_MAX + 1], op[16];
    const char *what;
    size_t n, start;

    memset(acl, 0, sizeof(*acl));
    if (!allow)
        return KOS_STATUS_OK;
    for (;;) {
        skip_spaces(&c);
        if (!c.s[c.at])
            return KOS_STATUS_OK;
        if (c.s[c.at] == ';') { /* an empty entry, e.g. a trailing ';' */
            c.at++;
            continue;
        }
        start = c.at;
        n = word(&c, app_char, app, sizeof(app));
        if (n == 0 || n == sizeof(app) || c.s[c.at] != '=') {
            what = n == sizeof(app) ? "an app name of at most 63 characters"
                                    : "APP=KEY:OPERATION,...";
            goto bad;
        }
        c.at++;
        for (;;) {
            unsigned bit = 0;

            start = c.at;
            n = word(&c, key_char, key, sizeof(key));
            if (n == 0 || n == sizeof(key) || c.s[c.at] != ':') {
                what = n == sizeof(key) ? "a key name of at most 31 characters [a-z0-9_]"
                                        : "KEY:OPERATION (a key name from [a-z0-9_])";
                goto bad;
            }
            c.at++;
            start = c.at;
            n = word(&c, op_char, op, sizeof(op));
            for (size_t i = 0; n && n < sizeof(op) && i < sizeof(ops) / sizeof(ops[0]); i++)
                if (!strcmp(op, ops[i].name))
                    bit = ops[i].op;
            if (!bit) {
                what = "an operation: public, sign, verify or agree";
                goto bad;
            }
            if (add(acl, app, key, bit)) {
                what = "at most 64 app and key pairs";
                goto bad;
            }
            if (c.s[c.at] == ',') {
                c.at++;
                continue;
            }
            if (c.s[c.at] == ';' || !c.s[c.at])
                break;
            start = c.at;
            what = "',' or ';'";
            goto bad;
        }
    }
bad:
    snprintf(err, errlen, "allow: expected %s at offset %zu ('%.24s')", what, start,
             allow + start);
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
