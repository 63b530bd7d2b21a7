/*
 * upgrade.c - what the device link reads before and beside wslay: the HTTP
 * upgrade request (server) and its response (client), RFC 6455's accept
 * key, the answer to a blob's ranged GET (docs/link.md, "Blobs"), and the
 * frame checker that holds every frame header to docs/link.md before wslay
 * reads the frame.
 *
 * All of it reads bytes from the other end: every length is checked before
 * it is used, nothing is read past `len`, and nothing here allocates.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "link.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void kos__link_accept_key(const char *key, char out[KOS__LINK_ACCEPT_SIZE])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%.24s" WS_GUID, key);

    SHA1((const unsigned char *)buf, (size_t)n, md);
    EVP_EncodeBlock((unsigned char *)out, md, sizeof(md)); /* 28 characters and a NUL */
}

/* One line of the header block: [p, p+n), without its CRLF. */
struct line {
    const char *p;
    size_t n;
};

/* Takes the next CRLF-terminated line from *at in buf[0..len). */
static bool next_line(const char *buf, size_t len, size_t *at, struct line *l)
{
    for (size_t i = *at; i + 1 < len; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n') {
            l->p = buf + *at;
            l->n = i - *at;
            *at = i + 2;
            return true;
        }
        if (buf[i] == '\n' || buf[i] == '\0')
            return false;
    }
    return false;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Splits a header line into name and trimmed value. */
static bool header(const struct line *l, struct line *name, struct line *value)
{
    size_t i = 0;

    while (i < l->n && is_tchar(l->p[i]))
        i++;
    if (i == 0 || i >= l->n || l->p[i] != ':')
        return false;
    name->p = l->p;
    name->n = i;
    i++;
    while (i < l->n && (l->p[i] == ' ' || l->p[i] == '\t'))
        i++;
    value->p = l->p + i;
    value->n = l->n - i;
    while (value->n && (value->p[value->n - 1] == ' ' || value->p[value->n - 1] == '\t'))
        value->n--;
    for (size_t k = 0; k < value->n; k++)
        if ((unsigned char)value->p[k] < 0x20 && value->p[k] != '\t')
            return false;
    return true;
}

static bool name_is(const struct line *n, const char *s)
{
    return n->n == strlen(s) && strncasecmp(n->p, s, n->n) == 0;
}

static bool value_is(const struct line *v, const char *s)
{
    return v->n == strlen(s) && strncasecmp(v->p, s, v->n) == 0;
}

/* True if the comma-separated list v holds token s (case-insensitive). */
static bool list_has(const struct line *v, const char *s)
{
    size_t i = 0, sl = strlen(s);

    while (i < v->n) {
        size_t a, b;
        while (i < v->n && (v->p[i] == ' ' || v->p[i] == '\t' || v->p[i] == ','))
            i++;
        a = i;
        while (i < v->n && v->p[i] != ',')
            i++;
        b = i;
        while (b > a && (v->p[b - 1] == ' ' || v->p[b - 1] == '\t'))
            b--;
        if (b - a == sl && strncasecmp(v->p + a, s, sl) == 0)
            return true;
    }
    return false;
}

/* True if v is 16 bytes in base64: 22 characters of the alphabet and "==",
 * the last character's unused bits zero. */
static bool key_ok(const struct line *v)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *last;

    if (v->n != 24 || v->p[22] != '=' || v->p[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!v->p[i] || !strchr(b64, v->p[i]))
            return false;
    last = strchr(b64, v->p[21]);
    return ((last - b64) & 0xf) == 0;
}

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__))

/* Reads the request line, METHOD SP TARGET SP HTTP/1.x, from req: its
 * parts, and *at past it. False (why says so) if it is not one. */
static bool request_line(const char *req, size_t len, size_t *at, struct line *method,
                         struct line *target, struct line *version, char *why, size_t whylen)
{
    struct line l;
    size_t sp1, sp2;

    if (!next_line(req, len, at, &l)) {
        WHY("not an HTTP request (no request line)");
        return false;
    }
    for (sp1 = 0; sp1 < l.n && l.p[sp1] != ' '; sp1++)
        if (!is_tchar(l.p[sp1]))
            break;
    for (sp2 = sp1 + 1; sp2 < l.n && l.p[sp2] != ' '; sp2++)
        if ((unsigned char)l.p[sp2] <= 0x20 || (unsigned char)l.p[sp2] >= 0x7f)
            break;
    if (sp1 == 0 || sp1 >= l.n || l.p[sp1] != ' ' || sp2 == sp1 + 1 || sp2 >= l.n ||
        l.p[sp2] != ' ' || l.n - sp2 - 1 != 8 || strncmp(l.p + sp2 + 1, "HTTP/1.", 7) != 0 ||
        (l.p[l.n - 1] != '0' && l.p[l.n - 1] != '1')) {
        WHY("not an HTTP request (a malformed request line)");
        return false;
    }
    *method = (struct line){l.p, sp1};
    *target = (struct line){l.p + sp1 + 1, sp2 - sp1 - 1};
    *version = (struct line){l.p + sp2 + 1, 8};
    return true;
}

/* Reads the next header line of a request from req at *at into name and
 * value: 1 for a header, 0 for the empty line that ends them, -1 (why says
 * so) for a line that is not one. */
static int request_header(const char *req, size_t len, size_t *at, struct line *name,
                          struct line *value, char *why, size_t whylen)
{
    struct line l;

    if (!next_line(req, len, at, &l)) {
        WHY("not an HTTP request (a header line without CRLF)");
        return -1;
    }
    if (l.n == 0)
        return 0;
    if (!header(&l, name, value)) {
        WHY("a malformed header line");
        return -1;
    }
    return 1;
}

int kos__link_parse_request(const char *req, size_t len, char key[25], char *why, size_t whylen)
{
    struct line name, value, method, target, version;
    bool upgrade = false, connection = false, proto = false, have_key = false;
    int ws_version = -1, got;
    size_t at = 0;

    key[0] = '\0';
    if (!request_line(req, len, &at, &method, &target, &version, why, whylen))
        return 400;
    while ((got = request_header(req, len, &at, &name, &value, why, whylen)) > 0) {
        if (name_is(&name, "Upgrade"))
            upgrade = upgrade || list_has(&value, "websocket");
        else if (name_is(&name, "Connection"))
            connection = connection || list_has(&value, "upgrade");
        else if (name_is(&name, "Sec-WebSocket-Protocol"))
            proto = proto || list_has(&value, KOS__LINK_SUBPROTOCOL);
        else if (name_is(&name, "Sec-WebSocket-Version"))
            ws_version = value_is(&value, "13") ? 13 : 0;
        else if (name_is(&name, "Sec-WebSocket-Key")) {
            if (have_key || !key_ok(&value)) {
                WHY("a bad Sec-WebSocket-Key (16 bytes in base64, once)");
                return 400;
            }
            memcpy(key, value.p, 24);
            key[24] = '\0';
            have_key = true;
        }
    }
    if (got < 0)
        return 400;
    if (at != len) {
        WHY("bytes after the request's header block");
        return 400;
    }
    if (!(method.n == 3 && memcmp(method.p, "GET", 3) == 0) ||
        !(target.n == strlen(KOS__LINK_PATH) && memcmp(target.p, KOS__LINK_PATH, target.n) == 0)) {
        WHY("not GET " KOS__LINK_PATH " (%.*s %.*s)", (int)(method.n > 16 ? 16 : method.n),
            method.p, (int)(target.n > 64 ? 64 : target.n), target.p);
        return 404;
    }
    if (version.p[7] != '1')
        WHY("HTTP/1.0 cannot upgrade");
    else if (!upgrade || !connection)
        WHY("not a WebSocket upgrade (Upgrade: websocket, Connection: Upgrade)");
    else if (ws_version != 13)
        WHY("Sec-WebSocket-Version is not 13");
    else if (!have_key)
        WHY("no Sec-WebSocket-Key");
    else if (!proto)
        WHY("Sec-WebSocket-Protocol does not offer " KOS__LINK_SUBPROTOCOL);
    else
        return 101;
    key[0] = '\0';
    return 400;
}

bool kos__link_is_blob_request(const char *line, size_t len)
{
    static const char path[] = " " KOS__LINK_BLOBS_PATH;
    size_t sp = 0;

    while (sp < len && sp < 16 && is_tchar(line[sp]))
        sp++;
    return sp > 0 && len - sp >= sizeof(path) - 1 && memcmp(line + sp, path, sizeof(path) - 1) == 0;
}

/* Reads a decimal uint64 from v->p[*i..v->n): false if there is no digit or
 * it overflows. */
static bool read_u64(const struct line *v, size_t *i, uint64_t *out)
{
    uint64_t x = 0;
    size_t start = *i;

    for (; *i < v->n && v->p[*i] >= '0' && v->p[*i] <= '9'; (*i)++) {
        if (x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(v->p[*i] - '0');
    }
    *out = x;
    return *i > start;
}

/* Range: bytes=FROM- or bytes=FROM-LAST with LAST >= FROM; anything else
 * (several ranges, a suffix range, another unit) is not one we serve. */
static bool range_ok(const struct line *v, uint64_t *from, uint64_t *last)
{
    size_t i = 6;

    if (v->n < 8 || strncasecmp(v->p, "bytes=", 6) != 0 || !read_u64(v, &i, from) || i >= v->n ||
        v->p[i] != '-')
        return false;
    i++;
    *last = UINT64_MAX;
    if (i == v->n)
        return true;
    return read_u64(v, &i, last) && i == v->n && *last >= *from;
}

int kos__link_parse_blob_request(const char *req, size_t len, struct kos__link_blob_req *out,
                                 char *why, size_t whylen)
{
    struct line name, value, method, target, version;
    const size_t plen = sizeof(KOS__LINK_BLOBS_PATH) - 1;
    bool keep_alive = false, ranges = false;
    int got;
    size_t at = 0;

    memset(out, 0, sizeof(*out));
    if (!request_line(req, len, &at, &method, &target, &version, why, whylen))
        return 400;
    if (target.n < plen || memcmp(target.p, KOS__LINK_BLOBS_PATH, plen) != 0) {
        WHY("only GET " KOS__LINK_BLOBS_PATH "<sha256> is served on this connection");
        return 404;
    }
    out->close = version.p[7] == '0';
    while ((got = request_header(req, len, &at, &name, &value, why, whylen)) > 0) {
        if (name_is(&name, "Connection")) {
            out->close = out->close || list_has(&value, "close");
            keep_alive = keep_alive || list_has(&value, "keep-alive");
        } else if (name_is(&name, "Transfer-Encoding") ||
                   (name_is(&name, "Content-Length") && !value_is(&value, "0"))) {
            WHY("a GET of a blob with a body");
            return 400;
        } else if (name_is(&name, "Range")) {
            if (ranges)
                out->range_bad = true; /* two Range headers: several ranges */
            ranges = true;
            out->ranged = true;
            if (!range_ok(&value, &out->from, &out->last))
                out->range_bad = true;
        }
    }
    if (version.p[7] == '0' && keep_alive)
        out->close = false;
    if (got < 0)
        return 400;
    if (at != len) {
        WHY("bytes after the request's header block");
        return 400;
    }
    if (!(method.n == 3 && memcmp(method.p, "GET", 3) == 0)) {
        WHY("%.*s of a blob: only GET is served", (int)(method.n > 16 ? 16 : method.n), method.p);
        return 400;
    }
    if (target.n != plen + 64) {
        WHY("a blob's path is " KOS__LINK_BLOBS_PATH "<64 lower-case hex digits>");
        return 400;
    }
    for (size_t i = 0; i < 64; i++) {
        char c = target.p[plen + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            WHY("a blob's path is " KOS__LINK_BLOBS_PATH "<64 lower-case hex digits>");
            return 400;
        }
        out->sha256[i] = c;
    }
    out->sha256[64] = '\0';
    return 0;
}

/* Reads a response's status line ("HTTP/1.1 NNN reason") from resp at *at:
 * the status, or -1 when it is not one. */
static int status_line(const char *resp, size_t len, size_t *at)
{
    struct line l;

    if (!next_line(resp, len, at, &l) || l.n < 12 || strncmp(l.p, "HTTP/1.1 ", 9) != 0 ||
        l.p[9] < '1' || l.p[9] > '5' || l.p[10] < '0' || l.p[10] > '9' || l.p[11] < '0' ||
        l.p[11] > '9' || (l.n > 12 && l.p[12] != ' '))
        return -1;
    return (l.p[9] - '0') * 100 + (l.p[10] - '0') * 10 + (l.p[11] - '0');
}

/* Takes the next header of a response into name and value: 1, or 0 at the
 * empty line that ends the block, or -1 (why says) when it is malformed. */
static int next_header(const char *resp, size_t len, size_t *at, struct line *name,
                       struct line *value, char *why, size_t whylen)
{
    struct line l;

    if (!next_line(resp, len, at, &l)) {
        WHY("a malformed response (a header line without CRLF)");
        return -1;
    }
    if (l.n == 0)
        return 0;
    if (!header(&l, name, value)) {
        WHY("a malformed response header");
        return -1;
    }
    return 1;
}

int kos__link_parse_response(const char *resp, size_t len, const char *accept, char *why,
                             size_t whylen)
{
    struct line name, value;
    bool upgrade = false, connection = false, proto = false, acc = false;
    char reason[KOS__LINK_REASON_MAX + 1] = "";
    size_t at = 0;
    int status = status_line(resp, len, &at), h;

    if (status < 0) {
        WHY("not an HTTP/1.1 response");
        return -1;
    }
    while ((h = next_header(resp, len, &at, &name, &value, why, whylen)) != 0) {
        if (h < 0)
            return -1;
        if (name_is(&name, "Upgrade"))
            upgrade = value_is(&value, "websocket");
        else if (name_is(&name, "Connection"))
            connection = list_has(&value, "upgrade");
        else if (name_is(&name, "Sec-WebSocket-Protocol"))
            proto = value_is(&value, KOS__LINK_SUBPROTOCOL);
        else if (name_is(&name, "Sec-WebSocket-Accept"))
            acc = value.n == 28 && memcmp(value.p, accept, 28) == 0;
        else if (name_is(&name, "Kos-Reason")) {
            size_t n = value.n < KOS__LINK_REASON_MAX ? value.n : KOS__LINK_REASON_MAX;
            for (size_t i = 0; i < n; i++)
                reason[i] = value.p[i] >= 0x20 && value.p[i] <= 0x7e ? value.p[i] : '?';
            reason[n] = '\0';
        }
    }
    if (at != len) {
        WHY("bytes after the response's header block");
        return -1;
    }
    if (status != 101) {
        WHY("the server answered the upgrade with HTTP %d%s%s", status, reason[0] ? ": " : "",
            reason);
        return status;
    }
    if (!upgrade || !connection)
        WHY("101 without Upgrade: websocket and Connection: Upgrade");
    else if (!acc)
        WHY("101 with a wrong Sec-WebSocket-Accept");
    else if (!proto)
        WHY("101 without Sec-WebSocket-Protocol: " KOS__LINK_SUBPROTOCOL);
    else
        return 101;
    return -1;
}

/* Reads a decimal number of 1-20 digits, p[0..n) entirely, into *v; false
 * when it is not one or does not fit. */
static bool decimal(const char *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;

    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || x > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    *v = x;
    return true;
}

/* Reads "bytes FIRST-LAST/SIZE" (a Content-Range of one satisfied range). */
static bool content_range(const struct line *v, uint64_t *first, uint64_t *last, uint64_t *size)
{
    const char *p = v->p, *end = v->p + v->n, *dash, *slash;

    if (v->n < 6 || memcmp(p, "bytes ", 6) != 0)
        return false;
    p += 6;
    dash = memchr(p, '-', (size_t)(end - p));
    slash = dash ? memchr(dash, '/', (size_t)(end - dash)) : NULL;
    return slash && decimal(p, (size_t)(dash - p), first) &&
           decimal(dash + 1, (size_t)(slash - dash - 1), last) &&
           decimal(slash + 1, (size_t)(end - slash - 1), size);
}

kos_status_t kos__link_parse_blob_response(const char *resp, size_t len, uint64_t from, uint64_t to,
                                           char *why, size_t whylen)
{
    struct line name, value, range = {NULL, 0};
    bool have_len = false, have_range = false;
    uint64_t clen = 0, first = 0, last = 0, size = 0;
    size_t at = 0;
    int status = status_line(resp, len, &at), h;

    if (from >= to) {
        WHY("an empty range [%llu, %llu)", (unsigned long long)from, (unsigned long long)to);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (status < 0) {
        WHY("not an HTTP/1.1 response");
        return KOS_STATUS_PROTOCOL;
    }
    while ((h = next_header(resp, len, &at, &name, &value, why, whylen)) != 0) {
        if (h < 0)
            return KOS_STATUS_PROTOCOL;
        if (name_is(&name, "Transfer-Encoding")) {
            WHY("a Transfer-Encoding header (%.*s): a blob comes with its Content-Length",
                (int)(value.n > 32 ? 32 : value.n), value.p);
            return KOS_STATUS_PROTOCOL;
        }
        if (name_is(&name, "Content-Length")) {
            if (have_len || !decimal(value.p, value.n, &clen)) {
                WHY(have_len ? "two Content-Length headers" : "a malformed Content-Length");
                return KOS_STATUS_PROTOCOL;
            }
            have_len = true;
        } else if (name_is(&name, "Content-Range")) {
            if (have_range) {
                WHY("two Content-Range headers");
                return KOS_STATUS_PROTOCOL;
            }
            range = value;
            have_range = true;
        }
    }
    if (at != len) {
        WHY("bytes after the response's header block");
        return KOS_STATUS_PROTOCOL;
    }
    if (status == 404) {
        WHY("the server has no such blob for this device (HTTP 404)");
        return KOS_STATUS_NOT_FOUND;
    }
    if (status == 403) {
        WHY("the server refused this device (HTTP 403)");
        return KOS_STATUS_REFUSED;
    }
    if (status != 206 && !(status == 200 && from == 0)) {
        WHY("the server answered HTTP %d to a ranged GET (expected 206%s)", status,
            from == 0 ? " or 200" : "");
        return KOS_STATUS_PROTOCOL;
    }
    if (!have_len) {
        WHY("HTTP %d without a Content-Length", status);
        return KOS_STATUS_PROTOCOL;
    }
    if (status == 200) {
        if (have_range || clen != to) {
            WHY("HTTP 200 with %s%llu bytes (the blob is %llu bytes)",
                have_range ? "a Content-Range and " : "", (unsigned long long)clen,
                (unsigned long long)to);
            return KOS_STATUS_PROTOCOL;
        }
        return KOS_STATUS_OK;
    }
    if (!have_range) {
        WHY("HTTP 206 without a Content-Range");
        return KOS_STATUS_PROTOCOL;
    }
    if (!content_range(&range, &first, &last, &size)) {
        WHY("a malformed Content-Range (%.*s; expected bytes FIRST-LAST/SIZE)",
            (int)(range.n > 48 ? 48 : range.n), range.p);
        return KOS_STATUS_PROTOCOL;
    }
    if (first != from || last != to - 1 || size < to) {
        WHY("HTTP 206 with Content-Range bytes %llu-%llu/%llu (asked for bytes %llu-%llu of a "
            "blob of at least %llu)",
            (unsigned long long)first, (unsigned long long)last, (unsigned long long)size,
            (unsigned long long)from, (unsigned long long)(to - 1), (unsigned long long)to);
        return KOS_STATUS_PROTOCOL;
    }
    if (clen != to - from) {
        WHY("HTTP 206 with Content-Length %llu for a range of %llu bytes", (unsigned long long)clen,
            (unsigned long long)(to - from));
        return KOS_STATUS_PROTOCOL;
    }
    return KOS_STATUS_OK;
}

void kos__link_frames_init(struct kos__link_frames *f, bool from_client)
{
    memset(f, 0, sizeof(*f));
    f->from_client = from_client;
    f->need = 2;
}

/* Checks a whole frame header in f->hdr. Returns 0 or a close code. */
static uint16_t check_header(struct kos__link_frames *f, char *why, size_t whylen)
{
    uint8_t b0 = f->hdr[0], b1 = f->hdr[1], op = b0 & 0x0f;
    bool fin = b0 & 0x80, masked = b1 & 0x80;
    uint64_t len = b1 & 0x7f;

    if (len == 126) {
        len = (uint64_t)f->hdr[2] << 8 | f->hdr[3];
        if (len < 126) {
            WHY("a frame length not in its shortest form");
            return KOS__LINK_CLOSE_PROTOCOL;
        }
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | f->hdr[2 + i];
        if (len >> 63) {
            WHY("a frame length with its top bit set");
            return KOS__LINK_CLOSE_PROTOCOL;
        }
        if (len < 65536) {
            WHY("a frame length not in its shortest form");
            return KOS__LINK_CLOSE_PROTOCOL;
        }
    }
    if (b0 & 0x70) {
        WHY("a frame with reserved bits set");
        return KOS__LINK_CLOSE_PROTOCOL;
    }
    if (masked != f->from_client) {
        WHY(f->from_client ? "an unmasked frame from the client"
                           : "a masked frame from the server");
        return KOS__LINK_CLOSE_PROTOCOL;
    }
    switch (op) {
    case 0x1:
        WHY("a text frame (the link carries binary messages only)");
        return KOS__LINK_CLOSE_DATA;
    case 0x2:
        if (!fin) {
            WHY("a fragmented message (each message is one frame)");
            return KOS__LINK_CLOSE_PROTOCOL;
        }
        if (len > KOS__LINK_MSG_MAX) {
            WHY("a message of %llu bytes (at most %u)", (unsigned long long)len, KOS__LINK_MSG_MAX);
            return KOS__LINK_CLOSE_TOO_BIG;
        }
        break;
    case 0x8:
    case 0x9:
    case 0xa:
        if (!fin || len > 125) {
            WHY(!fin ? "a fragmented control frame" : "a control frame over 125 bytes");
            return KOS__LINK_CLOSE_PROTOCOL;
        }
        break;
    case 0x0:
        WHY("a continuation frame (each message is one frame)");
        return KOS__LINK_CLOSE_PROTOCOL;
    default:
        WHY("a frame with unknown opcode %u", op);
        return KOS__LINK_CLOSE_PROTOCOL;
    }
    f->skip = len;
    return 0;
}

uint16_t kos__link_frames_feed(struct kos__link_frames *f, const uint8_t *p, size_t n, char *why,
                               size_t whylen)
{
    while (n) {
        if (f->skip) {
            size_t k = f->skip < n ? (size_t)f->skip : n;
            f->skip -= k;
            p += k;
            n -= k;
            continue;
        }
        f->hdr[f->have++] = *p++;
        n--;
        if (f->have == 2) {
            uint8_t l7 = f->hdr[1] & 0x7f;
            f->need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((f->hdr[1] & 0x80) ? 4 : 0);
        }
        if (f->have < f->need)
            continue;
        uint16_t code = check_header(f, why, whylen);
        if (code)
            return code;
        f->have = 0;
        f->need = 2;
    }
    return 0;
}
