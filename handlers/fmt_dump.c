/* The worker's JSON writer: a rendered document to the exact text json_dumps(doc, JSON_COMPACT)
 * gives, at a fraction of its cost. Jansson's dumper decodes every string one code point at a
 * time through a callback per fragment; on a delivery it was the largest single cost of the
 * worker (two dumps per delivery, ~15% of its CPU in bench/pipeline). The text must stay the
 * same byte for byte: the catalog compares a title's new document with the stored one to tell
 * a change from a repeat, and tests/unit/test_fmt.c checks the two writers agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jread.h"
#include "core/util.h"
#include "handlers/fmt.h"

/* Past this the document is not one a partner takes (sources are read up to 16 MiB). */
#define DUMP_MAX_BYTES (64u << 20)
/* Jansson's parser stops at 2048 levels; rendered documents have a handful. */
#define DUMP_MAX_DEPTH 2048

struct out {
    char *buf;
    size_t len, cap;
    int failed;
};

static int grow(struct out *o, size_t need)
{
    if (o->failed)
        return -1;
    if (o->len + need + 1 <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 2048;
    while (cap < o->len + need + 1)
        cap *= 2;
    if (cap > DUMP_MAX_BYTES) {
        o->failed = 1;
        return -1;
    }
    char *nb = realloc(o->buf, cap);
    if (nb == NULL) {
        o->failed = 1;
        return -1;
    }
    o->buf = nb;
    o->cap = cap;
    return 0;
}

static void put(struct out *o, const char *s, size_t n)
{
    if (grow(o, n) != 0)
        return;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_c(struct out *o, char c)
{
    if (grow(o, 1) != 0)
        return;
    o->buf[o->len++] = c;
}

/* A JSON string as Jansson writes it without JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH: '"' and
 * '\\' escaped, \b \f \n \r \t by name, other control characters as \u00XX (upper-case hex),
 * everything else (DEL and non-ASCII included) as is. Text that is not valid UTF-8 fails the
 * dump, as it does Jansson's. */
static void put_string(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    /* the worst case, every byte a \u00XX: reserved once so the loop writes unchecked */
    if (n > DUMP_MAX_BYTES / 6 || grow(o, n * 6 + 2) != 0) {
        o->failed = 1;
        return;
    }
    char *w = o->buf + o->len;
    *w++ = '"';
    while (p < end) {
        if (end - p >= 8 && util_json_plain8(p)) {
            memcpy(w, p, 8);
            w += 8;
            p += 8;
            continue;
        }
        unsigned c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *w++ = (char)c;
            p++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = util_utf8_seq(p, (size_t)(end - p));
            if (k == 0) {
                o->failed = 1;
                return;
            }
            memcpy(w, p, k);
            w += k;
            p += k;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *w++ = (char)c;
            break;
        case '\b':
            *w++ = 'b';
            break;
        case '\f':
            *w++ = 'f';
            break;
        case '\n':
            *w++ = 'n';
            break;
        case '\r':
            *w++ = 'r';
            break;
        case '\t':
            *w++ = 't';
            break;
        default:
            memcpy(w, "u00", 3);
            w[3] = hex[c >> 4];
            w[4] = hex[c & 15];
            w += 5;
            break;
        }
        p++;
    }
    *w++ = '"';
    o->len = (size_t)(w - o->buf);
}

static void put_integer(struct out *o, json_int_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    /* in unsigned arithmetic, so that the most negative value has a magnitude too */
    unsigned long long m = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + m % 10);
        m /= 10;
    } while (m > 0);
    if (v < 0)
        tmp[--i] = '-';
    put(o, tmp + i, sizeof(tmp) - i);
}

static void put_value(struct out *o, const json_t *v, int depth)
{
    if (o->failed)
        return;
    if (depth > DUMP_MAX_DEPTH) {
        o->failed = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        int first = 1;
        put_c(o, '{');
        json_object_foreach((json_t *)v, key, val)
        {
            if (!first)
                put_c(o, ',');
            first = 0;
            put_string(o, key, strlen(key));
            put_c(o, ':');
            put_value(o, val, depth + 1);
        }
        put_c(o, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        put_c(o, '[');
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                put_c(o, ',');
            put_value(o, json_array_get(v, i), depth + 1);
        }
        put_c(o, ']');
        break;
    }
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        put_integer(o, json_integer_value(v));
        break;
    case JSON_REAL: {
        /* Rare in a rendered document (prices are strings): Jansson's own text, so that its
         * rules for precision and exponents need no copy here. */
        /* out of any arena: the text is released with free() */
        struct jread_arena *prev = jread_arena_enter(NULL);
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        jread_arena_leave(prev);
        if (t == NULL) {
            o->failed = 1;
            return;
        }
        put(o, t, strlen(t));
        free(t);
        break;
    }
    case JSON_TRUE:
        put(o, "true", 4);
        break;
    case JSON_FALSE:
        put(o, "false", 5);
        break;
    case JSON_NULL:
        put(o, "null", 4);
        break;
    default:
        o->failed = 1;
        break;
    }
}

char *fmt_dump(const json_t *doc, size_t *len)
{
    struct out o = {0};

    if (doc == NULL)
        return NULL;
    put_value(&o, doc, 0);
    if (grow(&o, 0) != 0) {
        free(o.buf);
        return NULL;
    }
    o.buf[o.len] = '\0';
    if (len)
        *len = o.len;
    return o.buf;
}

char *fmt_body(const struct target *t, json_t *doc, const char *item, size_t *len)
{
    if (item == NULL || t == NULL || !json_is_object(doc))
        return fmt_dump(doc, len);
    size_t ilen = strlen(item);
    if (t->format != FORMAT_GWI_JSON_1_1) {
        /* canonical and titanos: the document is the title's own */
        char *s = malloc(ilen + 1);
        if (s == NULL)
            return NULL;
        memcpy(s, item, ilen + 1);
        if (len)
            *len = ilen;
        return s;
    }
    /* gwi_json_1.1: the feed envelope around "items": [item], its last key. The envelope is
     * written without it and the item's text spliced in where the key stood. */
    json_t *items = json_object_get(doc, "items");
    void *last = NULL;
    for (void *it = json_object_iter(doc); it; it = json_object_iter_next(doc, it))
        last = it;
    if (json_array_size(items) != 1 || last == NULL ||
        strcmp(json_object_iter_key(last), "items") != 0)
        return fmt_dump(doc, len);
    json_incref(items);
    json_object_del(doc, "items");
    size_t hlen = 0;
    char *head = fmt_dump(doc, &hlen);
    /* back where it was: it was the last key, and is again */
    json_object_set_new(doc, "items", items);
    if (head == NULL)
        return NULL;
    static const char key[] = "\"items\":[";
    size_t total = hlen - 1 + (hlen > 2) + (sizeof(key) - 1) + ilen + 2;
    char *s = malloc(total + 1);
    if (s == NULL) {
        free(head);
        return NULL;
    }
    size_t o = hlen - 1; /* the envelope without its closing brace */
    memcpy(s, head, o);
    if (hlen > 2)
        s[o++] = ',';
    memcpy(s + o, key, sizeof(key) - 1);
    o += sizeof(key) - 1;
    memcpy(s + o, item, ilen);
    o += ilen;
    s[o++] = ']';
    s[o++] = '}';
    s[o] = '\0';
    free(head);
    if (len)
        *len = o;
    return s;
}
