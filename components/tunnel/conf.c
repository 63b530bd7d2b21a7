/*
 * conf.c - the tunnel's settings and the bundle's `server` item: untrusted
 * text (a manifest's, a bundle's), read with every length checked.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tun.h"

static const char *const names[TUN_CHANNELS] = {"link",   "admin", "logs",
                                                "traces", "shell", "debug"};

const char *tun_channel_name(uint32_t ch)
{
    return ch < TUN_CHANNELS ? names[ch] : ch == TUN_ALLOW_BLOBS ? "blobs" : "?";
}

static bool app_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static void skip(const char *s, size_t *i)
{
    while (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n')
        (*i)++;
}

/* One item of a list setting: `item` (len bytes, at offset `at`) given to
 * `app`. Returns 0, or writes err and returns an error. */
typedef kos_status_t (*list_item_fn)(void *ctx, const char *app, const char *item, size_t len,
                                     size_t at, char *err, size_t errlen);

static bool channel_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Parses the form the allow and streams settings share, "APP=ITEM,ITEM;
 * APP=...": apps of app_char()s, items of item_char()s (at most item_max),
 * spaces around separators ignored; each item goes to fn. On error err
 * names the setting, what was expected (app_what for an app, item_what for
 * an item) and the offset. */
static kos_status_t parse_lists(const char *text, const char *setting, const char *app_what,
                                bool (*item_char)(char), size_t item_max, const char *item_what,
                                list_item_fn fn, void *ctx, char *err, size_t errlen)
{
    size_t i = 0, start = 0;
    const char *what;

    if (!text)
        return KOS_STATUS_OK;
    for (;;) {
        char app[TUN_APP_NAME_MAX + 1];
        size_t n = 0;

        skip(text, &i);
        if (!text[i])
            return KOS_STATUS_OK;
        if (text[i] == ';') {
            i++;
            continue;
        }
        start = i;
        while (app_char(text[i]) && n < TUN_APP_NAME_MAX)
            app[n++] = text[i++];
        app[n] = '\0';
        skip(text, &i);
        if (n == 0 || app_char(text[i]) || text[i] != '=') {
            what = app_what;
            goto bad;
        }
        i++;
        for (;;) {
            size_t k = 0;

            skip(text, &i);
            start = i;
            while (item_char(text[i + k]) && k <= item_max)
                k++;
            if (k == 0 || k > item_max) {
                what = item_what;
                goto bad;
            }
            if (fn(ctx, app, text + i, k, start, err, errlen))
                return KOS_STATUS_INVALID_ARGUMENT;
            i += k;
            skip(text, &i);
            if (text[i] == ',') {
                i++;
                continue;
            }
            if (text[i] == ';' || !text[i])
                break;
            start = i;
            what = "',' or ';'";
            goto bad;
        }
    }
bad:
    snprintf(err, errlen, "%s: expected %s at offset %zu ('%.24s')", setting, what, start,
             text + start);
    return KOS_STATUS_INVALID_ARGUMENT;
}

static kos_status_t allow_item(void *ctx, const char *app, const char *item, size_t len, size_t at,
                               char *err, size_t errlen)
{
    char(*owner)[TUN_APP_NAME_MAX + 1] = ctx;
    uint32_t c = 0;

    for (uint32_t j = 1; j < TUN_CHANNELS; j++)
        if ((strlen(names[j]) == len && !memcmp(item, names[j], len)) ||
            (len == 1 && item[0] == (char)('0' + j)))
            c = j;
    if (len == 5 && !memcmp(item, "blobs", 5))
        c = TUN_ALLOW_BLOBS;
    if (!c) {
        snprintf(err, errlen,
                 "allow: expected a channel: admin, logs, traces, shell, debug (or 1-5), or blobs "
                 "at offset %zu ('%.24s')",
                 at, item);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (owner[c][0] && strcmp(owner[c], app) != 0) {
        snprintf(err, errlen,
                 "allow: %s%s is given to '%s' and to '%s' (one app each) at offset %zu",
                 c == TUN_ALLOW_BLOBS ? "" : "channel ", tun_channel_name(c), owner[c], app, at);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    snprintf(owner[c], TUN_APP_NAME_MAX + 1, "%s", app);
    return KOS_STATUS_OK;
}

kos_status_t tun_allow_parse(const char *allow, char owner[TUN_ALLOW_N][TUN_APP_NAME_MAX + 1],
                             char *err, size_t errlen)
{
    kos_status_t st;

    memset(owner, 0, TUN_ALLOW_N * (TUN_APP_NAME_MAX + 1));
    st = parse_lists(
        allow, "allow", "APP=CHANNEL,... (an app name of 1-63 letters, digits, '_', '.' or '-')",
        channel_char, 15, "a channel: admin, logs, traces, shell, debug (or 1-5), or blobs",
        allow_item, owner, err, errlen);
    if (st)
        memset(owner, 0, TUN_ALLOW_N * (TUN_APP_NAME_MAX + 1));
    return st;
}

bool tun_dest_name(const char *s, size_t n)
{
    if (n == 0 || n > TUN_DEST_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!app_char(s[i]))
            return false;
    return true;
}

static kos_status_t streams_item(void *ctx, const char *app, const char *item, size_t len,
                                 size_t at, char *err, size_t errlen)
{
    struct tun_stream_rules *rules = ctx;

    if (rules->n == TUN_STREAM_RULES_MAX) {
        snprintf(err, errlen, "streams: more than %u app=destination pairs at offset %zu",
                 TUN_STREAM_RULES_MAX, at);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    snprintf(rules->r[rules->n].app, sizeof(rules->r[0].app), "%s", app);
    memcpy(rules->r[rules->n].name, item, len);
    rules->r[rules->n].name[len] = '\0';
    rules->n++;
    return KOS_STATUS_OK;
}

kos_status_t tun_streams_parse(const char *text, struct tun_stream_rules *rules, char *err,
                               size_t errlen)
{
    kos_status_t st;

    memset(rules, 0, sizeof(*rules));
    st = parse_lists(
        text, "streams", "APP=NAME,... (an app name of 1-63 letters, digits, '_', '.' or '-')",
        app_char, TUN_DEST_NAME_MAX, "a destination name of 1-63 letters, digits, '_', '.' or '-'",
        streams_item, rules, err, errlen);
    if (st)
        memset(rules, 0, sizeof(*rules));
    return st;
}

bool tun_streams_allow(const struct tun_stream_rules *rules, const char *app, const char *name)
{
    for (size_t i = 0; i < rules->n; i++)
        if (!strcmp(rules->r[i].app, app) && !strcmp(rules->r[i].name, name))
            return true;
    return false;
}

/* True if h[0..n) is a DNS name: labels of letters, digits and '-'. */
static bool dns_name(const char *h, size_t n)
{
    size_t label = 0;

    if (n == 0 || n > TUN_HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

kos_status_t tun_server_parse(const char *text, size_t len, char host[TUN_HOST_MAX + 1],
                              uint16_t *port, char *name, size_t namecap, char *err, size_t errlen)
{
    size_t at = 0, lineno = 0;
    bool have = false;

    if (namecap)
        name[0] = '\0';
    while (at < len) {
        const char *line = text + at, *nl = memchr(line, '\n', len - at);
        size_t n = nl ? (size_t)(nl - line) : len - at;

        at += n + (nl ? 1 : 0);
        lineno++;
        if (n && line[n - 1] == '\r')
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        if (n > 8 && !memcmp(line, "address ", 8)) {
            const char *a = line + 8, *colon;
            size_t an = n - 8, hn;
            char portbuf[8], *end;
            unsigned long p;

            colon = NULL;
            for (size_t i = an; i > 0; i--)
                if (a[i - 1] == ':') {
                    colon = a + i - 1;
                    break;
                }
            if (!colon || (size_t)(a + an - colon - 1) >= sizeof(portbuf) ||
                a + an - colon - 1 == 0)
                goto bad_address;
            memcpy(portbuf, colon + 1, (size_t)(a + an - colon - 1));
            portbuf[a + an - colon - 1] = '\0';
            p = strtoul(portbuf, &end, 10);
            if (*end || p == 0 || p > 65535 || portbuf[0] < '0' || portbuf[0] > '9')
                goto bad_address;
            hn = (size_t)(colon - a);
            if (hn >= 2 && a[0] == '[' && a[hn - 1] == ']') {
                struct in6_addr in6;
                if (hn - 2 > TUN_HOST_MAX)
                    goto bad_address;
                memcpy(host, a + 1, hn - 2);
                host[hn - 2] = '\0';
                if (inet_pton(AF_INET6, host, &in6) != 1)
                    goto bad_address;
            } else {
                struct in_addr in4;
                if (hn == 0 || hn > TUN_HOST_MAX)
                    goto bad_address;
                memcpy(host, a, hn);
                host[hn] = '\0';
                if (inet_pton(AF_INET, host, &in4) != 1 && !dns_name(host, hn))
                    goto bad_address;
            }
            *port = (uint16_t)p;
            have = true;
        } else if (n > 5 && !memcmp(line, "name ", 5)) {
            size_t k = n - 5 < namecap - 1 ? n - 5 : namecap - 1;
            for (size_t i = 0; i < k; i++)
                name[i] = (line[5 + i] >= 0x20 && line[5 + i] < 0x7f) ? line[5 + i] : '?';
            name[k] = '\0';
        }
        /* other lines: for later versions, ignored */
        continue;
    bad_address:
        snprintf(err, errlen,
                 "server: line %zu: expected 'address HOST:PORT' (a name, an IPv4 address or "
                 "[an IPv6 address], and a port 1-65535)",
                 lineno);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (!have) {
        snprintf(err, errlen, "server: no 'address HOST:PORT' line");
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    return KOS_STATUS_OK;
}
