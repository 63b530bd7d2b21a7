/*
 * cursor_int.h - reading and writing the fixed little-endian layouts of
 * Core's control records (boot_int.h, sys_int.h).
 *
 * A cursor walks one buffer, either writing (w) or reading (r), and turns
 * `bad` on at the first field that does not fit or is not valid; every
 * later call then does nothing, so an encoder or decoder checks `bad` once
 * at its end. What stays true: a reader never reads past `cap`, and a
 * string it returns ends with a NUL inside the buffer.
 */
#ifndef KOS_CURSOR_INT_H
#define KOS_CURSOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "boot_int.h"

struct cursor {
    uint8_t *w;       /* writer: destination */
    const uint8_t *r; /* reader: source */
    size_t pos, cap;
    bool bad;
};

static inline void put_u32(struct cursor *c, uint32_t v)
{
    if (c->bad || c->cap - c->pos < 4) {
        c->bad = true;
        return;
    }
    for (int i = 0; i < 4; i++)
        c->w[c->pos++] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64(struct cursor *c, uint64_t v)
{
    put_u32(c, (uint32_t)v);
    put_u32(c, (uint32_t)(v >> 32));
}

/* Writes a NUL-terminated string of at most max bytes with its NUL. */
static inline void put_string(struct cursor *c, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (c->bad || n >= max || c->cap - c->pos < n + 1) {
        c->bad = true;
        return;
    }
    memcpy(c->w + c->pos, s, n + 1);
    c->pos += n + 1;
}

static inline void put_name(struct cursor *c, const char *s)
{
    put_string(c, s, KOS__NAME_MAX);
}

/* Returns a pointer to a NUL-terminated string of at most max bytes (with
 * its NUL) inside the body, or NULL. */
static inline const char *get_string(struct cursor *c, size_t max)
{
    if (c->bad)
        return NULL;
    size_t avail = c->cap - c->pos;
    const uint8_t *nul = memchr(c->r + c->pos, 0, avail < max ? avail : max);
    if (!nul) {
        c->bad = true;
        return NULL;
    }
    const char *s = (const char *)c->r + c->pos;
    c->pos = (size_t)(nul - c->r) + 1;
    return s;
}

static inline uint32_t get_u32(struct cursor *c)
{
    uint32_t v = 0;
    if (c->bad || c->cap - c->pos < 4) {
        c->bad = true;
        return 0;
    }
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)c->r[c->pos++] << (8 * i);
    return v;
}

static inline uint64_t get_u64(struct cursor *c)
{
    uint64_t lo = get_u32(c);
    return lo | (uint64_t)get_u32(c) << 32;
}

static inline void put_bytes(struct cursor *c, const void *p, size_t n)
{
    if (c->bad || c->cap - c->pos < n) {
        c->bad = true;
        return;
    }
    memcpy(c->w + c->pos, p, n);
    c->pos += n;
}

/* Returns the next n bytes inside the body, or NULL. */
static inline const uint8_t *get_bytes(struct cursor *c, size_t n)
{
    if (c->bad || c->cap - c->pos < n) {
        c->bad = true;
        return NULL;
    }
    c->pos += n;
    return c->r + c->pos - n;
}

/* Reads a NUL-terminated valid name into dst (KOS__NAME_MAX bytes). */
static inline void get_name(struct cursor *c, char *dst)
{
    const char *s = get_string(c, KOS__NAME_MAX);

    if (!s || !kos__name_valid(s, strlen(s))) {
        c->bad = true;
        return;
    }
    memcpy(dst, s, strlen(s) + 1);
}

/* True if s (at most max bytes with its NUL) holds no control character but
 * tab and no DEL: a line that can be printed as it is. */
static inline bool printable_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
            return false;
    return true;
}

#endif
