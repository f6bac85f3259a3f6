#include "core/jconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every integer setting is bounded so that arithmetic on it elsewhere (ms -> timeval,
 * backoff doubling, libcurl's long) cannot overflow. */
#define INT_SETTING_MAX INT32_MAX

static void jconf_errv(struct jconf *c, const char *path, const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s: ", path);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    /* One problem = one line, whatever bytes a key name carried. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    size_t ll = strlen(line);

    c->n_errors++;
    if (c->oom)
        return;
    size_t need = c->len + ll + 2;
    if (need > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        while (ncap < need)
            ncap *= 2;
        char *nb = realloc(c->errs, ncap);
        if (!nb) {
            c->oom = 1;
            return;
        }
        c->errs = nb;
        c->cap = ncap;
    }
    if (c->len)
        c->errs[c->len++] = '\n';
    memcpy(c->errs + c->len, line, ll + 1);
    c->len += ll;
}

void jconf_err(struct jconf *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jconf_errv(c, path, fmt, ap);
    va_end(ap);
}

void jconf_err_at(struct jconf *c, const char *path, const char *key, const char *fmt, ...)
{
    char p[JCONF_PATH_MAX];
    va_list ap;
    jconf_path(p, sizeof(p), path, key);
    va_start(ap, fmt);
    jconf_errv(c, p, fmt, ap);
    va_end(ap);
}

char *jconf_strdup(struct jconf *c, const char *s)
{
    char *d = strdup(s);
    if (!d && !c->oom) {
        jconf_err(c, "config", "out of memory");
        c->oom = 1;
    }
    return d;
}

/* Appends s at offset o of out (size n), truncating; returns the new length. Plain copies
 * rather than snprintf("%s.%s"): a truncated path is acceptable, a warning per call is not. */
static size_t path_append(char *out, size_t n, size_t o, const char *s)
{
    size_t l = strlen(s);
    if (o + l >= n)
        l = n - 1 - o;
    memcpy(out + o, s, l);
    out[o + l] = '\0';
    return o + l;
}

void jconf_path(char *out, size_t n, const char *base, const char *key)
{
    size_t o = 0;
    out[0] = '\0';
    if (base && *base) {
        o = path_append(out, n, o, base);
        o = path_append(out, n, o, ".");
    }
    path_append(out, n, o, key);
}

void jconf_path_index(char *out, size_t n, const char *base, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof(idx), "[%zu]", i);
    path_append(out, n, path_append(out, n, 0, base), idx);
}

/* ---- generic typed getters: each reports its own problems and leaves the default ---- */

void jconf_keys(struct jconf *c, const json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                ok = 1;
        if (!ok) {
            char p[JCONF_PATH_MAX];
            jconf_path(p, sizeof(p), path, key);
            jconf_err(c, p, "unknown key");
        }
    }
}

const json_t *jconf_get(struct jconf *c, const json_t *obj, const char *path, const char *key,
                        int required, char *p)
{
    const json_t *v = json_object_get(obj, key);
    jconf_path(p, JCONF_PATH_MAX, path, key);
    if (!v && required)
        jconf_err(c, p, "missing");
    return v;
}

void jconf_require(struct jconf *c, const json_t *obj, const char *path, const char *key)
{
    if (!json_object_get(obj, key))
        jconf_err_at(c, path, key, "missing");
}

/* Returns the object at key, NULL when absent (reported when required) or of another type
 * (always reported). */
const json_t *jconf_object(struct jconf *c, const json_t *obj, const char *path, const char *key,
                           int required)
{
    char p[JCONF_PATH_MAX];
    const json_t *v = jconf_get(c, obj, path, key, required, p);
    if (!v)
        return NULL;
    if (!json_is_object(v)) {
        jconf_err(c, p, "must be an object");
        return NULL;
    }
    return v;
}

/* Returns the non-empty string at key without copying; NULL when absent or invalid. */
const char *jconf_str(struct jconf *c, const json_t *obj, const char *path, const char *key,
                      int required)
{
    char p[JCONF_PATH_MAX];
    const json_t *v = jconf_get(c, obj, path, key, required, p);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        jconf_err(c, p, "must be a string");
        return NULL;
    }
    if (json_string_length(v) == 0) {
        jconf_err(c, p, "must not be empty");
        return NULL;
    }
    return json_string_value(v);
}

void jconf_int(struct jconf *c, const json_t *obj, const char *path, const char *key, int64_t min,
               int64_t *out)
{
    char p[JCONF_PATH_MAX];
    const json_t *v = jconf_get(c, obj, path, key, 0, p);
    if (!v)
        return;
    if (!json_is_integer(v)) {
        jconf_err(c, p, "must be an integer");
        return;
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > INT_SETTING_MAX) {
        jconf_err(c, p, "must be between %lld and %d", (long long)min, INT_SETTING_MAX);
        return;
    }
    *out = n;
}

/* Returns the index of the matching name, the default when absent, -1 after an error. */
int jconf_enum(struct jconf *c, const json_t *obj, const char *path, const char *key,
               const char *const *names, int def)
{
    char p[JCONF_PATH_MAX];
    const json_t *v = jconf_get(c, obj, path, key, 0, p);
    if (!v)
        return def;
    if (json_is_string(v)) {
        for (int i = 0; names[i]; i++)
            if (strcmp(names[i], json_string_value(v)) == 0)
                return i;
    }
    char list[256] = "";
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", names[i]);
    }
    jconf_err(c, p, "must be one of %s", list);
    return -1;
}

static int url_is_http(const char *s)
{
    const char *rest;
    if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else
        return 0;
    if (*rest == '\0' || *rest == '/')
        return 0;
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return 0;
    return 1;
}

/* Checks that every {placeholder} of a URL template is one the caller replaces, so a typo
 * such as {ID} is found at startup rather than sent to a partner verbatim. */
static int template_ok(struct jconf *c, const char *p, const char *s, const char *const *allowed)
{
    const char *q = s;
    while ((q = strpbrk(q, "{}")) != NULL) {
        if (*q == '}') {
            jconf_err(c, p, "unmatched '}'");
            return 0;
        }
        const char *end = strchr(q, '}');
        if (!end) {
            jconf_err(c, p, "unmatched '{'");
            return 0;
        }
        size_t n = (size_t)(end - q - 1);
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strlen(*a) == n && strncmp(*a, q + 1, n) == 0)
                ok = 1;
        if (!ok) {
            char list[128] = "";
            for (const char *const *a = allowed; *a; a++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof(list) - l, "%s{%s}", a == allowed ? "" : ", ", *a);
            }
            jconf_err(c, p, "unknown placeholder {%.*s} (allowed: %s)", (int)(n > 40 ? 40 : n),
                      q + 1, list);
            return 0;
        }
        q = end + 1;
    }
    return 1;
}

/* Copies an http(s) URL at key into *out. URL values are never echoed in errors: they can
 * carry userinfo. */
void jconf_url(struct jconf *c, const json_t *obj, const char *path, const char *key, int required,
               const char *const *placeholders, char **out)
{
    char p[JCONF_PATH_MAX];
    const char *s = jconf_str(c, obj, path, key, required);
    if (!s)
        return;
    jconf_path(p, sizeof(p), path, key);
    if (!url_is_http(s)) {
        jconf_err(c, p, "must be an http:// or https:// URL without spaces");
        return;
    }
    if (placeholders && !template_ok(c, p, s, placeholders))
        return;
    *out = jconf_strdup(c, s);
}

int jconf_is_header_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(*s > 0x20 && *s < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", *s)))
            return 0;
    return 1;
}
