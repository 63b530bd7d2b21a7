/*
 * text.c - app text made safe for a terminal (text_int.h).
 *
 * The input is read one UTF-8 sequence at a time by decode(), which accepts
 * exactly the well-formed sequences of Unicode's table 3-7 (no overlong
 * form, no surrogate, nothing above U+10FFFF). Each sequence is either
 * copied as it is or replaced by one escape; whatever does not decode is
 * escaped one byte at a time and decoding resumes at the next byte, so the
 * bytes of a broken sequence are each shown.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "text_int.h"

/* Decodes the sequence at s[0..avail), avail >= 1: its length (1 to 4),
 * with *cp set to its code point; 0 if s[0] does not start a well-formed
 * sequence; -1 if it starts one that the end of the input cuts short. */
static int decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char b = s[0], lo = 0x80, hi = 0xbf;
    uint32_t v;
    int n;

    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b < 0xc2) /* a continuation byte, or the lead of an overlong pair */
        return 0;
    if (b < 0xe0) {
        n = 2;
        v = b & 0x1fu;
    } else if (b < 0xf0) {
        n = 3;
        v = b & 0x0fu;
        if (b == 0xe0)
            lo = 0xa0; /* overlong below U+0800 */
        else if (b == 0xed)
            hi = 0x9f; /* surrogates U+D800-DFFF */
    } else if (b < 0xf5) {
        n = 4;
        v = b & 0x07u;
        if (b == 0xf0)
            lo = 0x90; /* overlong below U+10000 */
        else if (b == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((size_t)i >= avail)
            return -1;
        if (s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xbf;
        v = v << 6 | (s[i] & 0x3fu);
    }
    *cp = v;
    return n;
}

/* Whether a character a terminal would show as text is shown as itself. */
static bool printable(uint32_t cp)
{
    if (cp < 0x80)
        return cp == '\t' || (cp >= 0x20 && cp < 0x7f);
    return !(cp <= 0x9f ||                     /* C1 controls */
             cp == 0x061c ||                   /* arabic letter mark */
             cp == 0x200e || cp == 0x200f ||   /* left-to-right, right-to-left marks */
             (cp >= 0x2028 && cp <= 0x202e) || /* line, paragraph separators; embeddings,
                                                  overrides, pop */
             (cp >= 0x2066 && cp <= 0x2069));  /* isolates */
}

size_t kos__text_escape(char *out, size_t cap, const char *in, size_t len, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, n = 0;

    while (i < len) {
        char esc[6];
        const char *src = esc;
        size_t w;
        uint32_t cp = 0;
        int k = decode(s + i, len - i, &cp);

        if (k >= 1 && printable(cp)) {
            src = in + i;
            w = (size_t)k;
        } else if (k > 1) {
            esc[0] = '\\';
            esc[1] = 'u';
            for (int d = 0; d < 4; d++)
                esc[2 + d] = hex[(cp >> (12 - 4 * d)) & 0xfu];
            w = 6;
        } else {
            k = 1;
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[s[i] >> 4];
            esc[3] = hex[s[i] & 0xfu];
            w = 4;
        }
        if (cap - n < w)
            break;
        memcpy(out + n, src, w);
        n += w;
        i += (size_t)k;
    }
    if (used)
        *used = i;
    return n;
}

size_t kos__text_boundary(const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    uint32_t cp;

    for (size_t k = 1; k <= 3 && k <= len; k++) {
        unsigned char b = s[len - k];
        if (b < 0x80)
            return len; /* ASCII ends it: nothing is cut */
        if (b >= 0xc0)  /* the lead of the last sequence */
            return decode(s + len - k, k, &cp) == -1 ? len - k : len;
    }
    return len; /* only continuation bytes: stray, not a cut sequence */
}
