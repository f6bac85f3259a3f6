#include "core/jread.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <jansson.h>

#include "core/util.h"

/* Jansson's JSON_PARSER_MAX_DEPTH: a value (scalar or not) nested deeper is refused. */
#define JREAD_MAX_DEPTH 2048
/* Numbers longer than this are read from a heap copy (strtod needs a NUL-terminated text). */
#define NUM_STACK 64

struct reader {
    const unsigned char *p, *end;
    unsigned flags;
};

static void skip_ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hexval4(const unsigned char *s, int32_t *out)
{
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = util_hexval(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(int32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escapes of the raw string text s[0..n) (between its quotes, already checked to
 * hold no control byte and valid UTF-8) into out (n bytes are enough). Returns the decoded
 * length, or -1 for an invalid escape, a lone surrogate or a \u0000. */
static long unescape(const unsigned char *s, size_t n, char *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        if (s[i] != '\\') {
            out[o++] = (char)s[i++];
            continue;
        }
        if (i + 1 >= n)
            return -1;
        unsigned char c = s[i + 1];
        i += 2;
        /* the one-letter escapes and what they stand for */
        static const char named[128] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                        ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
        if (c < sizeof(named) && named[c] != 0) {
            out[o++] = named[c];
            continue;
        }
        switch (c) {
        case 'u': {
            int32_t cp, lo;
            if (i + 4 > n || hexval4(s + i, &cp) != 0)
                return -1;
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' || hexval4(s + i + 2, &lo) != 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                i += 6;
                cp = ((cp - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            if (cp == 0)
                return -1; /* Jansson takes no NUL in a value or a key */
            o += utf8_put(cp, out + o);
            break;
        }
        default:
            return -1;
        }
    }
    return (long)o;
}

/* A string at r->p (its opening quote): its decoded text in *text and *len, pointing into the
 * input when it has no escape, else into scratch (cap bytes) or, when longer, into a buffer
 * left in *heap for the caller to free. Returns 0, or -1 for a malformed string. */
static int read_string(struct reader *r, char *scratch, size_t cap, char **heap, const char **text,
                       size_t *len)
{
    const unsigned char *s = ++r->p, *p = s;
    int escaped = 0;
    *heap = NULL;
    for (;;) {
        if (r->end - p >= 8 && util_json_plain8(p)) {
            p += 8;
            continue;
        }
        if (p >= r->end)
            return -1;
        unsigned c = *p;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1; /* a NUL or another control byte: not in a JSON string */
        if (c == '\\') {
            /* the escape's own validity is checked when it is decoded */
            escaped = 1;
            if (p + 1 >= r->end)
                return -1;
            p += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t k = util_utf8_seq(p, (size_t)(r->end - p));
            if (k == 0)
                return -1;
            p += k;
            continue;
        }
        p++;
    }
    size_t n = (size_t)(p - s);
    r->p = p + 1;
    if (!escaped) {
        *text = (const char *)s;
        *len = n;
        return 0;
    }
    char *buf = scratch;
    if (n > cap) {
        buf = *heap = malloc(n);
        if (buf == NULL)
            return -1;
    }
    long dl = unescape(s, n, buf);
    if (dl < 0) {
        free(*heap);
        *heap = NULL;
        return -1;
    }
    *text = buf;
    *len = (size_t)dl;
    return 0;
}

static json_t *read_value(struct reader *r, int depth);

/* Jansson's reader drops one NUL byte that directly follows a number or a literal (the byte it
 * reads to find the token's end and puts back is lost when it is a NUL): the same here, so
 * that both readers take the same texts. */
static void skip_nul_after_token(struct reader *r)
{
    if (r->p < r->end && *r->p == '\0')
        r->p++;
}

/* After the opening bracket: 1 (and past it) when closer follows at once, an empty container. */
static int opened_empty(struct reader *r, char closer)
{
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == closer) {
        r->p++;
        return 1;
    }
    return 0;
}

/* After a member: 1 when closer ends the container (and past it), 0 after a ',' (and the
 * white space after it), -1 for anything else. */
static int next_member(struct reader *r, char closer)
{
    skip_ws(r);
    if (r->p >= r->end)
        return -1;
    if (*r->p == closer) {
        r->p++;
        return 1;
    }
    if (*r->p != ',')
        return -1;
    r->p++;
    skip_ws(r);
    return 0;
}

static json_t *read_object(struct reader *r, int depth)
{
    json_t *obj = json_object();
    if (obj == NULL || opened_empty(r, '}'))
        return obj;
    for (;;) {
        char scratch[64], *heap = NULL;
        const char *key;
        size_t klen;
        if (r->p >= r->end || *r->p != '"' ||
            read_string(r, scratch, sizeof(scratch), &heap, &key, &klen) != 0)
            goto fail;
        skip_ws(r);
        json_t *v = NULL;
        if (r->p < r->end && *r->p == ':') {
            r->p++;
            skip_ws(r);
            v = read_value(r, depth + 1);
        }
        /* steals v (the key is copied); a repeated key keeps its place and takes the last
         * value, as in Jansson, or refuses the text with JREAD_REJECT_DUPLICATES */
        int rc = -1;
        if (v && (r->flags & JREAD_REJECT_DUPLICATES) && json_object_getn(obj, key, klen))
            json_decref(v);
        else if (v)
            rc = json_object_setn_new_nocheck(obj, key, klen, v);
        if (heap)
            free(heap);
        if (rc != 0)
            goto fail;
        rc = next_member(r, '}');
        if (rc < 0)
            goto fail;
        if (rc > 0)
            return obj;
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *read_array(struct reader *r, int depth)
{
    json_t *arr = json_array();
    if (arr == NULL || opened_empty(r, ']'))
        return arr;
    for (int rc = 0; rc == 0;) {
        json_t *v = read_value(r, depth + 1);
        /* the element is stolen even when it cannot be appended */
        rc = v == NULL || json_array_append_new(arr, v) != 0 ? -1 : next_member(r, ']');
        if (rc < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static int is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* The end of the run of digits at p, NULL when there is none. */
static const unsigned char *digit_run(const unsigned char *p, const unsigned char *end)
{
    if (!is_digit(p, end))
        return NULL;
    while (is_digit(p, end))
        p++;
    return p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?: an integer when it has neither fraction nor
 * exponent (refused past json_int_t, as Jansson does), else a real (refused on overflow). */
static json_t *read_number(struct reader *r)
{
    const unsigned char *s = r->p, *p = s, *end = r->end;
    int neg = 0, real = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!is_digit(p, end))
        return NULL;
    const unsigned char *digits = p;
    if (*p == '0') {
        p++;
        if (is_digit(p, end))
            return NULL; /* a leading zero */
    } else {
        while (is_digit(p, end))
            p++;
    }
    size_t ndigits = (size_t)(p - digits);
    if (p < end && *p == '.') {
        p = digit_run(p + 1, end);
        real = 1;
    }
    if (p != NULL && p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        p = digit_run(p, end);
        real = 1;
    }
    if (p == NULL)
        return NULL;
    r->p = p;
    skip_nul_after_token(r);
    if (!real && ndigits <= 18) {
        int64_t v = 0;
        for (const unsigned char *q = digits; q < p; q++)
            v = v * 10 + (*q - '0');
        return json_integer(neg ? -v : v);
    }
    size_t n = (size_t)(p - s);
    char stack[NUM_STACK];
    char *text = n < sizeof(stack) ? stack : malloc(n + 1);
    if (text == NULL)
        return NULL;
    memcpy(text, s, n);
    text[n] = '\0';
    json_t *out = NULL;
    errno = 0;
    if (!real) {
        long long v = strtoll(text, NULL, 10);
        if (errno != ERANGE)
            out = json_integer((json_int_t)v);
    } else {
        double v = strtod(text, NULL);
        if (!((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE))
            out = json_real(v);
    }
    if (text != stack)
        free(text);
    return out;
}

/* Apart from read_value() so that its scratch buffer is not on the stack of every level of a
 * deeply nested text. */
__attribute__((noinline)) static json_t *read_string_value(struct reader *r)
{
    char scratch[256], *heap = NULL;
    const char *text;
    size_t n;
    if (read_string(r, scratch, sizeof(scratch), &heap, &text, &n) != 0)
        return NULL;
    json_t *v = json_stringn_nocheck(text, n);
    if (heap)
        free(heap);
    return v;
}

static json_t *read_literal(struct reader *r, const char *word, size_t n, json_t *value)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return NULL;
    r->p += n;
    /* Jansson reads a run of letters as one word: "truex" is no literal */
    if (r->p < r->end && ((*r->p >= 'a' && *r->p <= 'z') || (*r->p >= 'A' && *r->p <= 'Z')))
        return NULL;
    skip_nul_after_token(r);
    return value;
}

static json_t *read_value(struct reader *r, int depth)
{
    if (depth > JREAD_MAX_DEPTH || r->p >= r->end)
        return NULL;
    switch (*r->p) {
    case '{':
        return read_object(r, depth);
    case '[':
        return read_array(r, depth);
    case '"':
        return read_string_value(r);
    case 't':
        return read_literal(r, "true", 4, json_true());
    case 'f':
        return read_literal(r, "false", 5, json_false());
    case 'n':
        return read_literal(r, "null", 4, json_null());
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            return read_number(r);
        return NULL;
    }
}

json_t *jread_parse(const char *buf, size_t len)
{
    return jread_parse_flags(buf, len, 0);
}

json_t *jread_parse_flags(const char *buf, size_t len, unsigned flags)
{
    if (buf == NULL)
        return NULL;
    struct reader r = {
        .p = (const unsigned char *)buf, .end = (const unsigned char *)buf + len, .flags = flags};
    skip_ws(&r);
    if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
        return NULL;
    json_t *v = read_value(&r, 1);
    if (v == NULL)
        return NULL;
    skip_ws(&r);
    if (r.p != r.end) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- arenas ------------------------------------------------------------------------------ */

/* Arena chunks are carved from one region reserved at install (address space only: a page is
 * backed once touched), so that a block's free knows by its address whether it is an arena's
 * (nothing to do) or malloc's (free() it; such blocks are plain malloc blocks, so what Jansson
 * hands out, json_dumps' text, is still released with free()). Chunks are reused, last freed
 * first; a block bigger than a quarter chunk, or any once the region is used up, comes from
 * malloc. */
#define CHUNK_BYTES (32u << 10)
#define REGION_CHUNKS 8192u /* 256 MiB of address space */

struct chunk {
    struct chunk *next; /* in its arena, or in the spare list */
    size_t used;
};

struct jread_arena {
    struct chunk *chunks; /* the newest first; allocations come from its end */
};

static int installed;
static struct jread_arena *current;
static unsigned char *region, *region_end, *region_top; /* [region, region_top) handed out */
static struct chunk *spare;

static struct chunk *chunk_new(void)
{
    struct chunk *c = spare;
    if (c) {
        spare = c->next;
    } else if ((size_t)(region_end - region_top) >= CHUNK_BYTES) {
        c = (struct chunk *)region_top;
        region_top += CHUNK_BYTES;
    } else {
        return NULL;
    }
    c->next = NULL;
    c->used = (sizeof(struct chunk) + 15u) & ~(size_t)15u;
    return c;
}

static void *arena_malloc(size_t size)
{
    size_t need = (size + 15u) & ~(size_t)15u;
    if (current == NULL || need > CHUNK_BYTES / 4 || need == 0)
        return malloc(size);
    struct chunk *c = current->chunks;
    if (c == NULL || CHUNK_BYTES - c->used < need) {
        c = chunk_new();
        if (c == NULL)
            return malloc(size);
        c->next = current->chunks;
        current->chunks = c;
    }
    void *p = (unsigned char *)c + c->used;
    c->used += need;
    return p;
}

static void arena_free(void *p)
{
    if ((unsigned char *)p >= region && (unsigned char *)p < region_end)
        return; /* an arena's: goes with it */
    free(p);
}

void jread_alloc_install(void)
{
    void *r = mmap(NULL, (size_t)REGION_CHUNKS * CHUNK_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return; /* no arenas: Jansson allocates from malloc, as without */
    region = region_top = r;
    region_end = region + (size_t)REGION_CHUNKS * CHUNK_BYTES;
    json_set_alloc_funcs(arena_malloc, arena_free);
    installed = 1;
}

struct jread_arena *jread_arena_new(void)
{
    return installed ? calloc(1, sizeof(struct jread_arena)) : NULL;
}

void jread_arena_free(struct jread_arena *a)
{
    if (a == NULL)
        return;
    if (current == a)
        current = NULL;
    while (a->chunks) {
        struct chunk *c = a->chunks;
        a->chunks = c->next;
        c->next = spare;
        spare = c;
    }
    free(a);
}

struct jread_arena *jread_arena_enter(struct jread_arena *a)
{
    struct jread_arena *prev = current;
    current = a;
    return prev;
}

void jread_arena_leave(struct jread_arena *prev)
{
    current = prev;
}
