#include "relay/envelope_json.h"

#include <string.h>

/*
 * A fast path for the plain JSON that webhook bodies are, taken before Jansson's own parser
 * (which reads a character at a time through a callback and was a sixth of the relay's CPU
 * per webhook). It builds the same Jansson tree json_loadb() would, but only for documents it
 * fully understands; anything else (a string with an escape, a real number, an integer of
 * more than 18 digits, nesting deeper than EJ_MAX_DEPTH, a top level that is not an object,
 * and every malformed document) returns NULL and the caller asks Jansson, whose verdict and
 * error messages therefore stand. Within what it takes it has Jansson's rules for
 * JSON_REJECT_DUPLICATES (a duplicate key at any depth is left to Jansson to report). The
 * input must be valid UTF-8 (envelope_parse checks first), so strings are not checked again.
 * fuzz_envelope checks that the tree is json_equal() to Jansson's for every input taken.
 */

#define EJ_MAX_DEPTH 32
#define EJ_MAX_DIGITS 18 /* always inside json_int_t (int64) */

struct ej {
    const char *p, *end;
};

static json_t *value(struct ej *s, int depth);

static void skip_ws(struct ej *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* A string without escapes or control characters, at s->p (the opening quote). Returns 0 with
 * its bytes in *str, *len, or -1. */
static int string_span(struct ej *s, const char **str, size_t *len)
{
    const char *q = s->p + 1;
    while (q < s->end) {
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            *str = s->p + 1;
            *len = (size_t)(q - s->p - 1);
            s->p = q + 1;
            return 0;
        }
        if (c == '\\' || c < 0x20)
            return -1;
        q++;
    }
    return -1;
}

static json_t *number(struct ej *s)
{
    const char *q = s->p;
    int neg = q < s->end && *q == '-';
    q += neg;
    const char *digits = q;
    while (q < s->end && *q >= '0' && *q <= '9')
        q++;
    size_t n = (size_t)(q - digits);
    if (n == 0 || n > EJ_MAX_DIGITS || (digits[0] == '0' && n > 1))
        return NULL;
    if (q < s->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return NULL; /* a real: Jansson's */
    json_int_t v = 0;
    for (const char *d = digits; d < q; d++)
        v = v * 10 + (*d - '0');
    s->p = q;
    return json_integer(neg ? -v : v);
}

static json_t *literal(struct ej *s, const char *word, json_t *(*make)(void))
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return NULL;
    s->p += n;
    return make();
}

static json_t *object(struct ej *s, int depth)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    s->p++; /* { */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return o;
    }
    for (;;) {
        const char *key;
        size_t klen;
        skip_ws(s);
        if (s->p >= s->end || *s->p != '"' || string_span(s, &key, &klen) != 0)
            goto fail;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            goto fail;
        s->p++;
        if (json_object_getn(o, key, klen) != NULL)
            goto fail; /* a duplicate: refused, in Jansson's words */
        json_t *v = value(s, depth + 1);
        if (v == NULL || json_object_setn_new_nocheck(o, key, klen, v) != 0)
            goto fail; /* setn_new frees v on failure */
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return o;
        }
        goto fail;
    }
fail:
    json_decref(o);
    return NULL;
}

static json_t *array(struct ej *s, int depth)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    s->p++; /* [ */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return a;
    }
    for (;;) {
        json_t *v = value(s, depth + 1);
        if (v == NULL || json_array_append_new(a, v) != 0)
            goto fail;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return a;
        }
        goto fail;
    }
fail:
    json_decref(a);
    return NULL;
}

static json_t *value(struct ej *s, int depth)
{
    const char *str;
    size_t len;
    if (depth > EJ_MAX_DEPTH)
        return NULL;
    skip_ws(s);
    if (s->p >= s->end)
        return NULL;
    switch (*s->p) {
    case '{':
        return object(s, depth);
    case '[':
        return array(s, depth);
    case '"':
        /* valid UTF-8 (checked by the caller) and no NUL (a control character) */
        return string_span(s, &str, &len) == 0 ? json_stringn_nocheck(str, len) : NULL;
    case 't':
        return literal(s, "true", json_true);
    case 'f':
        return literal(s, "false", json_false);
    case 'n':
        return literal(s, "null", json_null);
    default:
        return number(s);
    }
}

json_t *envelope_json_load(const char *body, size_t len)
{
    struct ej s = {body, body + len};
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return NULL;
    json_t *root = value(&s, 1);
    skip_ws(&s);
    if (root != NULL && s.p != s.end) {
        json_decref(root);
        return NULL;
    }
    return root;
}
