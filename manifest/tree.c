/*
 * tree.c - YAML text to a tree of positioned nodes, with the arena it lives in.
 *
 * The tree is the manifest reader's view of one file: mappings, sequences and
 * scalars, each remembering the 1-based line and column where it starts. What
 * stays true of a tree this file returns: every mapping key is a scalar and
 * unique within its mapping, no scalar contains a NUL, nesting is at most
 * KOS__MF_MAX_DEPTH deep, and there are no anchors, aliases or tags (the
 * manifest format does not use them, and refusing them keeps one file's text
 * the only source of its values). Building is recursive but depth-bounded, so
 * any input, however hostile, ends in a tree or in one error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "mf_int.h"

/* ---- arena ---------------------------------------------------------- */

#define ARENA_BLOCK 65536u
#define ARENA_ALIGN 16u

struct kos__mf_block {
    struct kos__mf_block *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

void *kos__mf_alloc(struct kos__mf_arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct kos__mf_block *b = a->head;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        struct kos__mf_block *nb = malloc(sizeof(*nb) + cap);
        if (nb == NULL)
            return NULL;
        nb->used = 0;
        nb->cap = cap;
        if (b != NULL && cap != ARENA_BLOCK) {
            /* A large block goes behind the current one, which may still
             * have room for small allocations. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *kos__mf_strndup(struct kos__mf_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = kos__mf_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void kos__mf_arena_free(struct kos__mf_arena *a)
{
    struct kos__mf_block *b = a->head;
    while (b != NULL) {
        struct kos__mf_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}

/* ---- errors --------------------------------------------------------- */

static kos_status_t fail_v(struct kos__mf_ctx *c, kos_status_t st, const struct kos_mf_pos *pos,
                           const char *fmt, va_list ap)
{
    struct kos_mf_error *e = c->err;
    if (e == NULL)
        return st;
    memset(e, 0, sizeof(*e));
    if (pos != NULL) {
        if (pos->file != NULL)
            snprintf(e->file, sizeof(e->file), "%s", pos->file);
        e->line = pos->line;
        e->col = pos->col;
    }
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    return st;
}

kos_status_t kos__mf_fail_st(struct kos__mf_ctx *c, kos_status_t st, const struct kos_mf_pos *pos,
                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kos_status_t r = fail_v(c, st, pos, fmt, ap);
    va_end(ap);
    return r;
}

kos_status_t kos__mf_fail(struct kos__mf_ctx *c, const struct kos_mf_pos *pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kos_status_t r = fail_v(c, KOS_STATUS_INVALID_ARGUMENT, pos, fmt, ap);
    va_end(ap);
    return r;
}

kos_status_t kos__mf_oom(struct kos__mf_ctx *c)
{
    return kos__mf_fail_st(c, KOS_STATUS_NO_MEMORY, NULL, "out of memory");
}

const char *kos__mf_quote(const char *s, size_t n, char buf[KOS__MF_QUOTE_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (o + 4 + 5 >= KOS__MF_QUOTE_SIZE) { /* room for an escape, "...'" and NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            buf[o++] = (char)ch;
        } else if (ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = '\\';
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        }
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

/* ---- tree helpers --------------------------------------------------- */

const struct kos__mf_node *kos__mf_get(const struct kos__mf_node *map, const char *key,
                                       const struct kos__mf_node **key_node)
{
    if (map == NULL || map->kind != KOS__MF_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const struct kos__mf_node *k = map->pairs[i].key;
        if (k->len == klen && memcmp(k->str, key, klen) == 0) {
            if (key_node != NULL)
                *key_node = k;
            return map->pairs[i].val;
        }
    }
    return NULL;
}

const char *kos__mf_kind_name(const struct kos__mf_node *n)
{
    if (n == NULL || (n->kind == KOS__MF_SCALAR && n->null))
        return "null";
    switch (n->kind) {
    case KOS__MF_MAP:
        return "a mapping";
    case KOS__MF_SEQ:
        return "a sequence";
    case KOS__MF_SCALAR:
        break;
    }
    return "a scalar";
}

/* ---- YAML to tree --------------------------------------------------- */

/* One parse: the libyaml parser and what errors need to name. */
struct tree_parse {
    struct kos__mf_ctx *c;
    yaml_parser_t parser;
    const char *file;
    const char *text;
    size_t len;
};

/* Converts a byte offset into the text to a 1-based line and column
 * (columns count characters, as libyaml's marks do). */
static struct kos_mf_pos offset_pos(const struct tree_parse *t, size_t off)
{
    struct kos_mf_pos pos = {t->file, 1, 1};
    if (off > t->len)
        off = t->len;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)t->text[i];
        if (ch == '\n' || (ch == '\r' && (i + 1 >= t->len || t->text[i + 1] != '\n'))) {
            pos.line++;
            pos.col = 1;
        } else if ((ch & 0xc0) != 0x80 && ch != '\r') {
            pos.col++;
        }
    }
    return pos;
}

static struct kos_mf_pos mark_pos(const struct tree_parse *t, yaml_mark_t m)
{
    struct kos_mf_pos pos = {t->file, 1, 1};
    if (m.line < 0x7fffffff)
        pos.line = (int)m.line + 1;
    if (m.column < 0x7fffffff)
        pos.col = (int)m.column + 1;
    return pos;
}

/* Reports libyaml's error, with the position it gives. */
static kos_status_t yaml_error(struct tree_parse *t)
{
    yaml_parser_t *p = &t->parser;
    const char *problem = p->problem != NULL ? p->problem : "unknown problem";
    struct kos_mf_pos pos;
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return kos__mf_oom(t->c);
    case YAML_READER_ERROR:
        pos = offset_pos(t, p->problem_offset);
        return kos__mf_fail(t->c, &pos,
                            "the file is not valid YAML text: %s; a manifest is UTF-8 text "
                            "without control characters",
                            problem);
    default:
        pos = mark_pos(t, p->problem_mark);
        if (p->context != NULL) {
            struct kos_mf_pos cpos = mark_pos(t, p->context_mark);
            return kos__mf_fail(t->c, &pos,
                                "YAML syntax error: %s (%s at line %d, column %d); check the "
                                "indentation, colons and quotes",
                                problem, p->context, cpos.line, cpos.col);
        }
        return kos__mf_fail(
            t->c, &pos, "YAML syntax error: %s; check the indentation, colons and quotes", problem);
    }
}

static kos_status_t next_event(struct tree_parse *t, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&t->parser, ev))
        return yaml_error(t);
    return KOS_STATUS_OK;
}

/* Refuses what a node event may carry but the format does not use. */
static kos_status_t check_props(struct tree_parse *t, const yaml_event_t *ev,
                                const yaml_char_t *anchor, const yaml_char_t *tag)
{
    struct kos_mf_pos pos = mark_pos(t, ev->start_mark);
    char q[KOS__MF_QUOTE_SIZE];
    if (anchor != NULL)
        return kos__mf_fail(
            t->c, &pos,
            "anchors and aliases are not supported (found anchor %s); write the value "
            "out in full",
            kos__mf_quote((const char *)anchor, strlen((const char *)anchor), q));
    if (tag != NULL)
        return kos__mf_fail(
            t->c, &pos,
            "tags are not supported (found tag %s); remove the tag and write a plain "
            "value",
            kos__mf_quote((const char *)tag, strlen((const char *)tag), q));
    return KOS_STATUS_OK;
}

static bool scalar_is_null(const char *s, size_t len)
{
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 &&
            (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 || memcmp(s, "NULL", 4) == 0));
}

/* A growable array of pointers or pairs while a collection is read, then
 * copied into the arena at its exact size. */
struct vec {
    void *data;
    size_t n;
    size_t cap;
    size_t elem;
};

static bool vec_push(struct vec *v, const void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        if (cap > SIZE_MAX / v->elem)
            return false;
        void *d = realloc(v->data, cap * v->elem);
        if (d == NULL)
            return false;
        v->data = d;
        v->cap = cap;
    }
    memcpy((char *)v->data + v->n * v->elem, item, v->elem);
    v->n++;
    return true;
}

/* An open-addressing set of the keys seen so far in one mapping, holding
 * indexes into the mapping's pairs, so duplicate keys are found in linear
 * time however large the mapping. */
struct keyset {
    size_t *slot; /* index + 1; 0 = empty */
    size_t cap;   /* a power of two */
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Looks `key` up among pairs; if absent, inserts index `idx`. Returns the
 * index of an earlier equal key, SIZE_MAX when absent, or SIZE_MAX - 1 when
 * out of memory. */
static size_t keyset_add(struct keyset *ks, const struct kos__mf_pair *pairs, size_t idx,
                         const struct kos__mf_node *key)
{
    if ((idx + 1) * 2 > ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 16;
        if (cap > SIZE_MAX / sizeof(size_t))
            return SIZE_MAX - 1;
        size_t *slot = calloc(cap, sizeof(size_t));
        if (slot == NULL)
            return SIZE_MAX - 1;
        for (size_t i = 0; i < ks->cap; i++) {
            if (ks->slot[i] == 0)
                continue;
            const struct kos__mf_node *k = pairs[ks->slot[i] - 1].key;
            size_t j = (size_t)hash_bytes(k->str, k->len) & (cap - 1);
            while (slot[j] != 0)
                j = (j + 1) & (cap - 1);
            slot[j] = ks->slot[i];
        }
        free(ks->slot);
        ks->slot = slot;
        ks->cap = cap;
    }
    size_t j = (size_t)hash_bytes(key->str, key->len) & (ks->cap - 1);
    while (ks->slot[j] != 0) {
        const struct kos__mf_node *k = pairs[ks->slot[j] - 1].key;
        if (k->len == key->len && memcmp(k->str, key->str, k->len) == 0)
            return ks->slot[j] - 1;
        j = (j + 1) & (ks->cap - 1);
    }
    ks->slot[j] = idx + 1;
    return SIZE_MAX;
}

static kos_status_t parse_node(struct tree_parse *t, yaml_event_t *ev, int depth,
                               struct kos__mf_node **out);

/* Reads the entries of a mapping whose start event was just read. */
static kos_status_t parse_map(struct tree_parse *t, struct kos__mf_node *node, int depth)
{
    struct vec pairs = {NULL, 0, 0, sizeof(struct kos__mf_pair)};
    struct keyset ks = {NULL, 0};
    kos_status_t st = KOS_STATUS_OK;
    char q[KOS__MF_QUOTE_SIZE];

    for (;;) {
        yaml_event_t ev;
        st = next_event(t, &ev);
        if (st)
            goto out_free_vec;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        struct kos__mf_pair pair = {.key = NULL, .val = NULL};
        st = parse_node(t, &ev, depth + 1, &pair.key); /* deletes ev */
        if (st)
            goto out_free_vec;
        if (pair.key->kind != KOS__MF_SCALAR) {
            st = kos__mf_fail(t->c, &pair.key->pos,
                              "a mapping key must be a plain name, not %s; write 'name: value'",
                              kos__mf_kind_name(pair.key));
            goto out_free_vec;
        }
        size_t prev = keyset_add(&ks, pairs.data, pairs.n, pair.key);
        if (prev == SIZE_MAX - 1) {
            st = kos__mf_oom(t->c);
            goto out_free_vec;
        }
        if (prev != SIZE_MAX) {
            const struct kos__mf_node *first = ((struct kos__mf_pair *)pairs.data)[prev].key;
            st = kos__mf_fail(t->c, &pair.key->pos,
                              "duplicate key %s (first defined at line %d, column %d); each key "
                              "may appear only once in a mapping",
                              kos__mf_quote(pair.key->str, pair.key->len, q), first->pos.line,
                              first->pos.col);
            goto out_free_vec;
        }
        st = next_event(t, &ev);
        if (st)
            goto out_free_vec;
        st = parse_node(t, &ev, depth + 1, &pair.val);
        if (st)
            goto out_free_vec;
        if (!vec_push(&pairs, &pair)) {
            st = kos__mf_oom(t->c);
            goto out_free_vec;
        }
    }
    if (pairs.n > 0) {
        node->pairs = kos__mf_alloc(&t->c->work, pairs.n * sizeof(struct kos__mf_pair));
        if (node->pairs == NULL) {
            st = kos__mf_oom(t->c);
            goto out_free_vec;
        }
        memcpy(node->pairs, pairs.data, pairs.n * sizeof(struct kos__mf_pair));
        node->n = pairs.n;
    }
out_free_vec:
    free(ks.slot);
    free(pairs.data);
    return st;
}

/* Reads the items of a sequence whose start event was just read. */
static kos_status_t parse_seq(struct tree_parse *t, struct kos__mf_node *node, int depth)
{
    struct vec items = {NULL, 0, 0, sizeof(struct kos__mf_node *)};
    kos_status_t st = KOS_STATUS_OK;

    for (;;) {
        yaml_event_t ev;
        st = next_event(t, &ev);
        if (st)
            goto out_free_vec;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        struct kos__mf_node *item = NULL;
        st = parse_node(t, &ev, depth + 1, &item);
        if (st)
            goto out_free_vec;
        if (!vec_push(&items, &item)) {
            st = kos__mf_oom(t->c);
            goto out_free_vec;
        }
    }
    if (items.n > 0) {
        node->items = kos__mf_alloc(&t->c->work, items.n * sizeof(struct kos__mf_node *));
        if (node->items == NULL) {
            st = kos__mf_oom(t->c);
            goto out_free_vec;
        }
        memcpy(node->items, items.data, items.n * sizeof(struct kos__mf_node *));
        node->n = items.n;
    }
out_free_vec:
    free(items.data);
    return st;
}

/* Builds the node that starts with event `ev` (which this function deletes)
 * and everything under it. */
static kos_status_t parse_node(struct tree_parse *t, yaml_event_t *ev, int depth,
                               struct kos__mf_node **out)
{
    kos_status_t st = KOS_STATUS_OK;
    struct kos_mf_pos pos = mark_pos(t, ev->start_mark);
    struct kos__mf_node *node = NULL;
    char q[KOS__MF_QUOTE_SIZE];

    if (depth > KOS__MF_MAX_DEPTH) {
        st = kos__mf_fail(t->c, &pos,
                          "nesting is too deep (more than %d levels); a manifest needs only a "
                          "few levels of mappings and sequences",
                          KOS__MF_MAX_DEPTH);
        goto out_delete_event;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        st = kos__mf_fail(t->c, &pos,
                          "anchors and aliases are not supported (found alias %s); write the value "
                          "out in full",
                          kos__mf_quote((const char *)ev->data.alias.anchor,
                                        strlen((const char *)ev->data.alias.anchor), q));
        goto out_delete_event;
    case YAML_SCALAR_EVENT:
        st = check_props(t, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
        if (st)
            goto out_delete_event;
        break;
    case YAML_MAPPING_START_EVENT:
        st = check_props(t, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
        if (st)
            goto out_delete_event;
        break;
    case YAML_SEQUENCE_START_EVENT:
        st = check_props(t, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
        if (st)
            goto out_delete_event;
        break;
    default:
        /* libyaml only gives node events here; anything else is a bug in
         * it or in this reader, reported rather than trusted. */
        st = kos__mf_fail_st(t->c, KOS_STATUS_INTERNAL, &pos, "unexpected YAML event %d",
                             (int)ev->type);
        goto out_delete_event;
    }

    node = kos__mf_alloc(&t->c->work, sizeof(*node));
    if (node == NULL) {
        st = kos__mf_oom(t->c);
        goto out_delete_event;
    }
    node->pos = pos;

    if (ev->type == YAML_SCALAR_EVENT) {
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (memchr(s, '\0', len) != NULL) {
            st = kos__mf_fail(t->c, &pos,
                              "a string may not contain a NUL character (\\0); remove it");
            goto out_delete_event;
        }
        node->kind = KOS__MF_SCALAR;
        node->str = kos__mf_strndup(&t->c->work, s, len);
        if (node->str == NULL) {
            st = kos__mf_oom(t->c);
            goto out_delete_event;
        }
        node->len = len;
        node->null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && scalar_is_null(s, len);
        yaml_event_delete(ev);
        *out = node;
        return KOS_STATUS_OK;
    }

    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    yaml_event_delete(ev);
    node->kind = is_map ? KOS__MF_MAP : KOS__MF_SEQ;
    node->str = "";
    st = is_map ? parse_map(t, node, depth) : parse_seq(t, node, depth);
    if (st)
        return st;
    *out = node;
    return KOS_STATUS_OK;

out_delete_event:
    yaml_event_delete(ev);
    return st;
}

kos_status_t kos__mf_tree_parse(struct kos__mf_ctx *c, const char *file, const char *text,
                                size_t len, struct kos__mf_node **root)
{
    struct tree_parse t = {.c = c, .file = file, .text = text, .len = len};
    kos_status_t st;
    yaml_event_t ev;
    struct kos__mf_node *node = NULL;

    *root = NULL;
    if (!yaml_parser_initialize(&t.parser))
        return kos__mf_oom(c);
    yaml_parser_set_input_string(&t.parser, (const unsigned char *)text, len);

    st = next_event(&t, &ev);
    if (st)
        goto out_delete_parser;
    yaml_event_delete(&ev); /* the stream start */

    st = next_event(&t, &ev);
    if (st)
        goto out_delete_parser;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        goto out_delete_parser; /* no document: an empty file */
    }
    yaml_event_delete(&ev); /* the document start */

    st = next_event(&t, &ev);
    if (st)
        goto out_delete_parser;
    st = parse_node(&t, &ev, 0, &node);
    if (st)
        goto out_delete_parser;

    st = next_event(&t, &ev); /* the document end */
    if (st)
        goto out_delete_parser;
    yaml_event_delete(&ev);

    st = next_event(&t, &ev);
    if (st)
        goto out_delete_parser;
    if (ev.type != YAML_STREAM_END_EVENT) {
        struct kos_mf_pos pos = mark_pos(&t, ev.start_mark);
        yaml_event_delete(&ev);
        st = kos__mf_fail(c, &pos,
                          "a second YAML document starts here; a manifest file holds exactly one "
                          "document");
        goto out_delete_parser;
    }
    yaml_event_delete(&ev);

    if (!(node->kind == KOS__MF_SCALAR && node->null))
        *root = node;

out_delete_parser:
    yaml_parser_delete(&t.parser);
    return st;
}

kos_status_t kos__mf_expect(struct kos__mf_ctx *c, const struct kos__mf_node *n,
                            enum kos__mf_kind kind, const char *what, const char *example)
{
    if (n->kind == kind && !n->null)
        return KOS_STATUS_OK;
    const char *want = kind == KOS__MF_MAP   ? "a mapping"
                       : kind == KOS__MF_SEQ ? "a sequence"
                                             : "a scalar";
    return kos__mf_fail(c, &n->pos, "expected %s for %s, found %s; write e.g. %s", want, what,
                        kos__mf_kind_name(n), example);
}

/* Appends s (n bytes) to buf at *o, replacing unprintable bytes with '?';
 * returns false if it did not fit (leaving room for "..." and a NUL). */
static bool append_text(char *buf, size_t size, size_t *o, const char *s, size_t n)
{
    if (*o + n + 4 >= size)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[(*o)++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    buf[*o] = '\0';
    return true;
}

const char *kos__mf_list_keys(const struct kos__mf_node *map, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    if (map == NULL || map->kind != KOS__MF_MAP || map->n == 0) {
        snprintf(buf, size, "none");
        return buf;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct kos__mf_node *k = map->pairs[i].key;
        if ((i > 0 && !append_text(buf, size, &o, ", ", 2)) ||
            !append_text(buf, size, &o, k->str, k->len)) {
            memcpy(buf + o, "...", 4);
            break;
        }
    }
    return buf;
}

kos_status_t kos__mf_check_keys(struct kos__mf_ctx *c, const struct kos__mf_node *map,
                                const char *const *valid, const char *where)
{
    for (size_t i = 0; i < map->n; i++) {
        const struct kos__mf_node *k = map->pairs[i].key;
        bool known = false;
        for (const char *const *v = valid; *v != NULL && !known; v++)
            known = strlen(*v) == k->len && memcmp(*v, k->str, k->len) == 0;
        if (known)
            continue;
        char list[256];
        size_t o = 0;
        list[0] = '\0';
        for (const char *const *v = valid; *v != NULL; v++) {
            if ((v != valid && !append_text(list, sizeof(list), &o, ", ", 2)) ||
                !append_text(list, sizeof(list), &o, *v, strlen(*v)))
                break;
        }
        char q[KOS__MF_QUOTE_SIZE];
        return kos__mf_fail(c, &k->pos, "unknown key %s in %s; valid keys: %s",
                            kos__mf_quote(k->str, k->len, q), where, list);
    }
    return KOS_STATUS_OK;
}
