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
    return ch < TUN_CHANNELS ? names[ch] : "?";
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

kos_status_t tun_allow_parse(const char *allow, char owner[TUN_CHANNELS][TUN_APP_NAME_MAX + 1],
                             char *err, size_t errlen)
{
    size_t i = 0, start = 0;
    const char *what = "";

    memset(owner, 0, TUN_CHANNELS * (TUN_APP_NAME_MAX + 1));
    if (!allow)
        return KOS_STATUS_OK;
    for (;;) {
        char app[TUN_APP_NAME_MAX + 1];
        size_t n = 0;

        skip(allow, &i);
        if (!allow[i])
            return KOS_STATUS_OK;
        if (allow[i] == ';') {
            i++;
            continue;
        }
        start = i;
        while (app_char(allow[i]) && n < TUN_APP_NAME_MAX)
            app[n++] = allow[i++];
        app[n] = '\0';
        skip(allow, &i);
        if (n == 0 || app_char(allow[i]) || allow[i] != '=') {
            what = "APP=CHANNEL,... (an app name of 1-63 letters, digits, '_', '.' or '-')";
            goto bad;
        }
        i++;
        for (;;) {
            char ch[16];
            size_t k = 0;
            uint32_t c = 0;

            skip(allow, &i);
            start = i;
            while (((allow[i] >= 'a' && allow[i] <= 'z') || (allow[i] >= '0' && allow[i] <= '9')) &&
                   k + 1 < sizeof(ch))
                ch[k++] = allow[i++];
            ch[k] = '\0';
            for (uint32_t j = 1; j < TUN_CHANNELS; j++)
                if (!strcmp(ch, names[j]) || (k == 1 && ch[0] == (char)('0' + j)))
                    c = j;
            if (!c) {
                what = "a channel: admin, logs, traces, shell, debug (or 1-5)";
                goto bad;
            }
            if (owner[c][0] && strcmp(owner[c], app) != 0) {
                snprintf(err, errlen,
                         "allow: channel %s is given to '%s' and to '%s' (one app per channel) "
                         "at offset %zu",
                         names[c], owner[c], app, start);
                goto out_clear;
            }
            memcpy(owner[c], app, n + 1);
            skip(allow, &i);
            if (allow[i] == ',') {
                i++;
                continue;
            }
            if (allow[i] == ';' || !allow[i])
                break;
            start = i;
            what = "',' or ';'";
            goto bad;
        }
    }
bad:
    snprintf(err, errlen, "allow: expected %s at offset %zu ('%.24s')", what, start, allow + start);
out_clear:
    memset(owner, 0, TUN_CHANNELS * (TUN_APP_NAME_MAX + 1));
    return KOS_STATUS_INVALID_ARGUMENT;
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

kos_status_t tun_streams_parse(const char *text, struct tun_stream_rules *rules, char *err,
                               size_t errlen)
{
    size_t i = 0, start = 0;
    const char *what;

    memset(rules, 0, sizeof(*rules));
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
            what = "APP=NAME,... (an app name of 1-63 letters, digits, '_', '.' or '-')";
            goto bad;
        }
        i++;
        for (;;) {
            size_t k = 0;

            skip(text, &i);
            start = i;
            while (app_char(text[i + k]))
                k++;
            if (!tun_dest_name(text + i, k)) {
                what = "a destination name of 1-63 letters, digits, '_', '.' or '-'";
                goto bad;
            }
            if (rules->n == TUN_STREAM_RULES_MAX) {
                snprintf(err, errlen, "streams: more than %u app=destination pairs at offset %zu",
                         TUN_STREAM_RULES_MAX, start);
                goto out_clear;
            }
            memcpy(rules->r[rules->n].app, app, n + 1);
            memcpy(rules->r[rules->n].name, text + i, k);
            rules->r[rules->n].name[k] = '\0';
            rules->n++;
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
    snprintf(err, errlen, "streams: expected %s at offset %zu ('%.24s')", what, start,
             text + start);
out_clear:
    memset(rules, 0, sizeof(*rules));
    return KOS_STATUS_INVALID_ARGUMENT;
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
