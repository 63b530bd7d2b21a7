/*
 * acl.c - which app may reach which bus addresses, from the component's
 * `allow` setting: "APP=ADDR[,ADDR...][;APP=...]". Each ADDR is a number
 * (0x48 or 72), an inclusive range (0x50-0x57) or "*" (every address).
 * Spaces around items are ignored; an app named twice gets the union. An app
 * not named may reach nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i2csrv.h"

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static void set_range(uint8_t *bits, unsigned lo, unsigned hi)
{
    for (unsigned a = lo; a <= hi; a++)
        bits[a / 8] |= (uint8_t)(1u << (a % 8));
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Parses one address number; NULL if there is none or it is over 0x3ff. */
static const char *parse_addr(const char *p, unsigned *out)
{
    char *end;
    unsigned long v;

    if (*p < '0' || *p > '9')
        return NULL;
    v = strtoul(p, &end, 0);
    if (end == p || v > 0x3ff)
        return NULL;
    *out = (unsigned)v;
    return end;
}

kos_status_t acl_parse(struct acl *acl, const char *text, char *err, size_t errlen)
{
    const char *p = text ? text : "";

    memset(acl, 0, sizeof(*acl));
    for (;;) {
        const char *name;
        size_t len;
        uint32_t i;

        p = skip_spaces(p);
        if (!*p)
            return KOS_STATUS_OK;
        name = p;
        while (name_char(*p))
            p++;
        len = (size_t)(p - name);
        p = skip_spaces(p);
        if (len == 0 || len > KOS_PROTOCOL_NAME_MAX || *p != '=') {
            snprintf(err, errlen, "allow: expected APP=ADDRESS,... at offset %zu ('%.20s')",
                     (size_t)(name - text), name);
            return KOS_STATUS_INVALID_ARGUMENT;
        }
        for (i = 0; i < acl->n; i++)
            if (strlen(acl->e[i].app) == len && !memcmp(acl->e[i].app, name, len))
                break;
        if (i == acl->n) {
            if (acl->n == ACL_MAX_APPS) {
                snprintf(err, errlen, "allow: at most %u apps", ACL_MAX_APPS);
                return KOS_STATUS_INVALID_ARGUMENT;
            }
            memcpy(acl->e[i].app, name, len);
            acl->e[i].app[len] = '\0';
            acl->n++;
        }
        p++; /* '=' */
        for (;;) {
            unsigned lo, hi;
            const char *item = p = skip_spaces(p);

            if (*p == '*') {
                lo = 0;
                hi = 0x3ff;
                p++;
            } else if ((p = parse_addr(p, &lo)) != NULL) {
                hi = lo;
                if (*p == '-' && ((p = parse_addr(p + 1, &hi)) == NULL || hi < lo))
                    p = NULL;
            }
            if (!p) {
                snprintf(err, errlen,
                         "allow: bad address at offset %zu ('%.20s'); write e.g. 0x48, "
                         "0x50-0x57 or *",
                         (size_t)(item - text), item);
                return KOS_STATUS_INVALID_ARGUMENT;
            }
            set_range(acl->e[i].bits, lo, hi);
            p = skip_spaces(p);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == ';') {
                p++;
                break;
            }
            if (!*p)
                break;
            snprintf(err, errlen,
                     "allow: unexpected '%c' at offset %zu; separate addresses "
                     "with ',' and apps with ';'",
                     *p, (size_t)(p - text));
            return KOS_STATUS_INVALID_ARGUMENT;
        }
    }
}

bool acl_allows(const struct acl *acl, const char *app, uint16_t addr)
{
    if (!app || addr > 0x3ff)
        return false;
    for (uint32_t i = 0; i < acl->n; i++)
        if (!strcmp(acl->e[i].app, app))
            return acl->e[i].bits[addr / 8] & (1u << (addr % 8));
    return false;
}
