#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

/* Bounds on what is read from disk: a config or a secret file larger than this is a mistake
 * (a wrong path), not something to load into memory. */
#define CONFIG_MAX_FILE_BYTES (16 * 1024 * 1024)
#define SECRET_MAX_FILE_BYTES (64 * 1024)
#define PATH_MAX_LEN 512
#define NAME_MAX_LEN 64

/* Every integer setting is bounded so that arithmetic on it elsewhere (ms -> timeval,
 * backoff doubling, libcurl's long) cannot overflow. */
#define INT_SETTING_MAX INT32_MAX

struct ctx {
    char *errs; /* '\n'-separated "path: problem" lines */
    size_t len, cap;
    int n_errors;
    int oom;
};

static void err_addv(struct ctx *c, const char *path, const char *fmt, va_list ap)
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

__attribute__((format(printf, 3, 4))) static void err_add(struct ctx *c, const char *path,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_addv(c, path, fmt, ap);
    va_end(ap);
}

static char *xstrdup(struct ctx *c, const char *s)
{
    char *d = strdup(s);
    if (!d && !c->oom) {
        err_add(c, "config", "out of memory");
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

static void path_join(char *out, size_t n, const char *base, const char *key)
{
    size_t o = 0;
    out[0] = '\0';
    if (base && *base) {
        o = path_append(out, n, o, base);
        o = path_append(out, n, o, ".");
    }
    path_append(out, n, o, key);
}

static void path_index(char *out, size_t n, const char *base, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof(idx), "[%zu]", i);
    path_append(out, n, path_append(out, n, 0, base), idx);
}

/* ---- generic typed getters: each reports its own problems and leaves the default ---- */

static void check_keys(struct ctx *c, const json_t *obj, const char *path,
                       const char *const *allowed)
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
            char p[PATH_MAX_LEN];
            path_join(p, sizeof(p), path, key);
            err_add(c, p, "unknown key");
        }
    }
}

/* Returns the object at key, NULL when absent (reported when required) or of another type
 * (always reported). */
static const json_t *get_object(struct ctx *c, const json_t *obj, const char *path, const char *key,
                                int required)
{
    char p[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, key);
    path_join(p, sizeof(p), path, key);
    if (!v) {
        if (required)
            err_add(c, p, "missing");
        return NULL;
    }
    if (!json_is_object(v)) {
        err_add(c, p, "must be an object");
        return NULL;
    }
    return v;
}

/* Returns the non-empty string at key without copying; NULL when absent or invalid. */
static const char *get_str(struct ctx *c, const json_t *obj, const char *path, const char *key,
                           int required)
{
    char p[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, key);
    path_join(p, sizeof(p), path, key);
    if (!v) {
        if (required)
            err_add(c, p, "missing");
        return NULL;
    }
    if (!json_is_string(v)) {
        err_add(c, p, "must be a string");
        return NULL;
    }
    if (json_string_length(v) == 0) {
        err_add(c, p, "must not be empty");
        return NULL;
    }
    return json_string_value(v);
}

static void get_int(struct ctx *c, const json_t *obj, const char *path, const char *key,
                    int64_t min, int64_t *out)
{
    char p[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return;
    path_join(p, sizeof(p), path, key);
    if (!json_is_integer(v)) {
        err_add(c, p, "must be an integer");
        return;
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > INT_SETTING_MAX) {
        err_add(c, p, "must be between %lld and %d", (long long)min, INT_SETTING_MAX);
        return;
    }
    *out = n;
}

/* Returns the index of the matching name, the default when absent, -1 after an error. */
static int get_enum(struct ctx *c, const json_t *obj, const char *path, const char *key,
                    const char *const *names, int def)
{
    char p[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return def;
    path_join(p, sizeof(p), path, key);
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
    err_add(c, p, "must be one of %s", list);
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
static int template_ok(struct ctx *c, const char *p, const char *s, const char *const *allowed)
{
    const char *q = s;
    while ((q = strpbrk(q, "{}")) != NULL) {
        if (*q == '}') {
            err_add(c, p, "unmatched '}'");
            return 0;
        }
        const char *end = strchr(q, '}');
        if (!end) {
            err_add(c, p, "unmatched '{'");
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
            err_add(c, p, "unknown placeholder {%.*s} (allowed: %s)", (int)(n > 40 ? 40 : n), q + 1,
                    list);
            return 0;
        }
        q = end + 1;
    }
    return 1;
}

/* Copies an http(s) URL at key into *out. URL values are never echoed in errors: they can
 * carry userinfo. */
static void get_url(struct ctx *c, const json_t *obj, const char *path, const char *key,
                    int required, const char *const *placeholders, char **out)
{
    char p[PATH_MAX_LEN];
    const char *s = get_str(c, obj, path, key, required);
    if (!s)
        return;
    path_join(p, sizeof(p), path, key);
    if (!url_is_http(s)) {
        err_add(c, p, "must be an http:// or https:// URL without spaces");
        return;
    }
    if (placeholders && !template_ok(c, p, s, placeholders))
        return;
    *out = xstrdup(c, s);
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* RFC 7230 token: what a header name may hold. */
static int header_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(*s > 0x20 && *s < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", *s)))
            return 0;
    return 1;
}

/* ---- secrets ---- */

static void secret_clear(struct secret *s)
{
    if (s->value) {
        OPENSSL_cleanse(s->value, s->len);
        free(s->value);
    }
    s->value = NULL;
    s->len = 0;
}

/* Reads a secret file. Errors name the file path (not secret) and never its contents. */
static int secret_read_file(struct ctx *c, const char *p, const char *file, struct secret *out)
{
    int rc = -1;
    char *buf = NULL;
    size_t len = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_add(c, p, "cannot read file %s: %s", file, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err_add(c, p, "file %s is not a regular file", file);
        goto out;
    }
    buf = malloc(SECRET_MAX_FILE_BYTES + 1);
    if (!buf) {
        err_add(c, p, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, SECRET_MAX_FILE_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_add(c, p, "cannot read file %s: %s", file, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SECRET_MAX_FILE_BYTES) {
            err_add(c, p, "file %s is larger than %d bytes", file, SECRET_MAX_FILE_BYTES);
            goto out;
        }
    }
    /* Editors and `echo` add a final newline that is not part of the secret. */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0) {
        err_add(c, p, "file %s is empty", file);
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        err_add(c, p, "file %s contains a NUL byte", file);
        goto out;
    }
    out->value = malloc(len + 1);
    if (!out->value) {
        err_add(c, p, "out of memory");
        goto out;
    }
    memcpy(out->value, buf, len);
    out->value[len] = '\0';
    out->len = len;
    rc = 0;
out:
    if (buf) {
        OPENSSL_cleanse(buf, SECRET_MAX_FILE_BYTES + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Resolves the secret string v (literal, env:NAME or file:PATH) reported as p. */
static int secret_resolve(struct ctx *c, const char *p, const json_t *v, struct secret *out)
{
    if (!json_is_string(v)) {
        err_add(c, p, "must be a string (a secret, env:NAME or file:PATH)");
        return -1;
    }
    const char *s = json_string_value(v);
    size_t slen = json_string_length(v);
    if (slen == 0) {
        err_add(c, p, "must not be empty");
        return -1;
    }
    if (strncmp(s, "env:", 4) == 0) {
        const char *name = s + 4;
        if (!*name) {
            err_add(c, p, "env: needs a variable name");
            return -1;
        }
        const char *val = getenv(name);
        if (!val) {
            err_add(c, p, "environment variable %s is not set", name);
            return -1;
        }
        if (!*val) {
            err_add(c, p, "environment variable %s is empty", name);
            return -1;
        }
        out->value = strdup(val);
        if (!out->value) {
            err_add(c, p, "out of memory");
            return -1;
        }
        out->len = strlen(val);
        return 0;
    }
    if (strncmp(s, "file:", 5) == 0) {
        if (!s[5]) {
            err_add(c, p, "file: needs a path");
            return -1;
        }
        return secret_read_file(c, p, s + 5, out);
    }
    if (memchr(s, '\0', slen)) {
        err_add(c, p, "must not contain a NUL character");
        return -1;
    }
    out->value = malloc(slen + 1);
    if (!out->value) {
        err_add(c, p, "out of memory");
        return -1;
    }
    memcpy(out->value, s, slen + 1);
    out->len = slen;
    /* The parsed document is freed without wiping; scrub the literal now that it is copied. */
    OPENSSL_cleanse((char *)s, slen);
    return 0;
}

static void get_secret(struct ctx *c, const json_t *obj, const char *path, const char *key,
                       int required, struct secret *out)
{
    char p[PATH_MAX_LEN];
    const json_t *v = json_object_get(obj, key);
    path_join(p, sizeof(p), path, key);
    if (!v) {
        if (required)
            err_add(c, p, "missing");
        return;
    }
    secret_resolve(c, p, v, out);
}

/* ---- host:port and redis:// ---- */

/* Splits "host:port" or "[v6]:port" (port optional when def_port > 0). Returns 0 or -1 with
 * a problem written to why. */
static int parse_hostport(const char *s, size_t n, int def_port, char **host, int *port,
                          const char **why)
{
    const char *h, *colon;
    size_t hl;
    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) {
            *why = "unterminated '[' in IPv6 address";
            return -1;
        }
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1 < s + n ? rb + 1 : NULL;
        if (colon && *colon != ':') {
            *why = "expected ':' after ']'";
            return -1;
        }
    } else {
        h = s;
        colon = memchr(s, ':', n);
        hl = colon ? (size_t)(colon - s) : n;
        if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) {
            *why = "an IPv6 address must be written in brackets, e.g. [::1]:8080";
            return -1;
        }
    }
    if (hl == 0) {
        *why = "missing host";
        return -1;
    }
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)h[i] <= 0x20 || h[i] == 0x7f || strchr("/@?#[]", h[i])) {
            *why = "invalid character in host";
            return -1;
        }
    long pv = def_port;
    if (colon) {
        const char *ps = colon + 1, *pe = s + n;
        if (ps == pe) {
            *why = "missing port";
            return -1;
        }
        pv = 0;
        for (const char *q = ps; q < pe; q++) {
            if (*q < '0' || *q > '9' || pv > 65535) {
                *why = "port must be a number between 1 and 65535";
                return -1;
            }
            pv = pv * 10 + (*q - '0');
        }
    } else if (def_port <= 0) {
        *why = "missing port (expected host:port)";
        return -1;
    }
    if (pv < 1 || pv > 65535) {
        *why = "port must be a number between 1 and 65535";
        return -1;
    }
    *host = strndup(h, hl);
    if (!*host) {
        *why = "out of memory";
        return -1;
    }
    *port = (int)pv;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* redis://[:password@]host[:port][/db]. Messages never quote the URL: it may hold the
 * password. */
static void parse_redis_url(struct ctx *c, struct config *cfg, const char *p, const char *url)
{
    const char *why = NULL;
    if (strncmp(url, "rediss://", 9) == 0) {
        err_add(c, p, "rediss:// (TLS) is not supported; use redis://");
        return;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        err_add(c, p, "must be redis://[:password@]host[:port][/db]");
        return;
    }
    const char *a = url + 8;
    const char *slash = strchr(a, '/');
    const char *aend = slash ? slash : a + strlen(a);
    if (strpbrk(a, "?#")) {
        err_add(c, p, "query and fragment are not supported");
        return;
    }
    const char *at = NULL;
    for (const char *q = a; q < aend; q++)
        if (*q == '@')
            at = q;
    const char *hs = a;
    if (at) {
        if (*a != ':') {
            err_add(c, p, "a username is not supported; write redis://:password@host");
            return;
        }
        const char *ps = a + 1;
        size_t plen = (size_t)(at - ps);
        if (plen == 0) {
            err_add(c, p, "empty password");
            return;
        }
        char *pw = malloc(plen + 1);
        if (!pw) {
            err_add(c, p, "out of memory");
            return;
        }
        size_t o = 0;
        for (size_t i = 0; i < plen; i++) {
            if (ps[i] == '%' && i + 2 < plen && hexval(ps[i + 1]) >= 0 && hexval(ps[i + 2]) >= 0) {
                pw[o++] = (char)(hexval(ps[i + 1]) * 16 + hexval(ps[i + 2]));
                i += 2;
            } else {
                pw[o++] = ps[i];
            }
        }
        pw[o] = '\0';
        if (memchr(pw, '\0', o)) {
            OPENSSL_cleanse(pw, plen + 1);
            free(pw);
            err_add(c, p, "password must not contain a NUL byte");
            return;
        }
        cfg->redis_password.value = pw;
        cfg->redis_password.len = o;
        hs = at + 1;
    }
    if (parse_hostport(hs, (size_t)(aend - hs), 6379, &cfg->redis_host, &cfg->redis_port, &why) !=
        0) {
        err_add(c, p, "%s", why);
        return;
    }
    if (slash && slash[1]) {
        long db = 0;
        for (const char *q = slash + 1; *q; q++) {
            if (*q < '0' || *q > '9' || db > 1000000) {
                err_add(c, p, "database must be a non-negative number");
                return;
            }
            db = db * 10 + (*q - '0');
        }
        cfg->redis_db = (int)db;
    }
}

/* ---- auth ---- */

static const char *const auth_names[] = {"none", "bearer", "basic", "digest", "api_key", NULL};

static void parse_auth(struct ctx *c, const json_t *obj, const char *path, struct auth *au)
{
    char p[PATH_MAX_LEN];
    const json_t *a = get_object(c, obj, path, "auth", 0);
    if (!a)
        return;
    path_join(p, sizeof(p), path, "auth");
    if (!json_object_get(a, "type")) {
        char tp[PATH_MAX_LEN];
        path_join(tp, sizeof(tp), p, "type");
        err_add(c, tp, "missing");
        return;
    }
    int t = get_enum(c, a, p, "type", auth_names, AUTH_NONE);
    if (t < 0)
        return;
    au->type = (enum auth_type)t;
    /* Each type takes exactly its own fields: a stray one means the operator expects an
     * effect that would silently not happen. */
    static const char *const k_none[] = {"type", NULL};
    static const char *const k_bearer[] = {"type", "token", NULL};
    static const char *const k_user[] = {"type", "username", "password", NULL};
    static const char *const k_key[] = {"type", "in", "name", "value", NULL};
    switch (au->type) {
    case AUTH_NONE:
        check_keys(c, a, p, k_none);
        break;
    case AUTH_BEARER:
        check_keys(c, a, p, k_bearer);
        get_secret(c, a, p, "token", 1, &au->token);
        break;
    case AUTH_BASIC:
    case AUTH_DIGEST: {
        check_keys(c, a, p, k_user);
        const char *u = get_str(c, a, p, "username", 1);
        if (u) {
            if (au->type == AUTH_BASIC && strchr(u, ':')) {
                char up[PATH_MAX_LEN];
                path_join(up, sizeof(up), p, "username");
                err_add(c, up, "must not contain ':' for basic auth");
            } else {
                au->username = xstrdup(c, u);
            }
        }
        get_secret(c, a, p, "password", 1, &au->password);
        break;
    }
    case AUTH_API_KEY: {
        static const char *const ins[] = {"header", "query", NULL};
        check_keys(c, a, p, k_key);
        if (!json_object_get(a, "in")) {
            char ip[PATH_MAX_LEN];
            path_join(ip, sizeof(ip), p, "in");
            err_add(c, ip, "missing");
        }
        int in = get_enum(c, a, p, "in", ins, 0);
        au->in_query = in == 1;
        const char *n = get_str(c, a, p, "name", 1);
        if (n) {
            if (in == 0 && !header_name_ok(n)) {
                char np[PATH_MAX_LEN];
                path_join(np, sizeof(np), p, "name");
                err_add(c, np, "is not a valid header name");
            } else {
                au->name = xstrdup(c, n);
            }
        }
        get_secret(c, a, p, "value", 1, &au->value);
        break;
    }
    }
}

static void auth_clear(struct auth *au)
{
    secret_clear(&au->token);
    free(au->username);
    secret_clear(&au->password);
    free(au->name);
    secret_clear(&au->value);
}

/* ---- sources ---- */

static const char *const kind_names[] = {"encorastream", "movida", NULL};
static const char *const scheme_names[] = {"hmac-sha256-hex", "stripe", "standard-webhooks", NULL};

static void parse_signature(struct ctx *c, const json_t *src, const char *path, struct source *s)
{
    static const char *const keys[] = {"scheme", "header", "secrets", "tolerance_s", NULL};
    char p[PATH_MAX_LEN], sp[PATH_MAX_LEN];
    const json_t *sig = get_object(c, src, path, "signature", 1);
    if (!sig)
        return;
    path_join(p, sizeof(p), path, "signature");
    check_keys(c, sig, p, keys);

    int sch = get_enum(c, sig, p, "scheme", scheme_names, (int)s->scheme);
    if (sch >= 0)
        s->scheme = (enum sig_scheme)sch;

    const char *hdr = get_str(c, sig, p, "header", 0);
    path_join(sp, sizeof(sp), p, "header");
    if (hdr && sch >= 0 && s->scheme != SIG_HMAC_SHA256_HEX)
        err_add(c, sp, "only used with scheme hmac-sha256-hex");
    else if (hdr && !header_name_ok(hdr))
        err_add(c, sp, "is not a valid header name");
    /* stripe and standard-webhooks fix their header names; recorded for messages only. */
    const char *h = hdr                                  ? hdr
                    : s->scheme == SIG_STRIPE            ? "Stripe-Signature"
                    : s->scheme == SIG_STANDARD_WEBHOOKS ? "webhook-signature"
                                                         : "X-Encora-Signature-256";
    s->sig_header = xstrdup(c, h);

    get_int(c, sig, p, "tolerance_s", 1, &s->tolerance_s);

    const json_t *arr = json_object_get(sig, "secrets");
    path_join(sp, sizeof(sp), p, "secrets");
    if (!arr) {
        err_add(c, sp, "missing");
        return;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        err_add(c, sp, "must be a non-empty array of secrets");
        return;
    }
    s->secrets = calloc(json_array_size(arr), sizeof(*s->secrets));
    if (!s->secrets) {
        err_add(c, sp, "out of memory");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char ip[PATH_MAX_LEN];
        path_index(ip, sizeof(ip), sp, i);
        if (secret_resolve(c, ip, v, &s->secrets[s->n_secrets]) == 0)
            s->n_secrets++;
    }
}

static void parse_api(struct ctx *c, const json_t *src, const char *path, struct source *s)
{
    static const char *const keys[] = {"base_url", "auth", "timeout_ms", NULL};
    char p[PATH_MAX_LEN];
    const json_t *api = get_object(c, src, path, "api", 1);
    if (!api)
        return;
    path_join(p, sizeof(p), path, "api");
    check_keys(c, api, p, keys);
    get_url(c, api, p, "base_url", 1, NULL, &s->api_base_url);
    if (s->api_base_url) {
        /* Fetch URLs are built as base_url + "/admin/..."; and a movida self_link is checked
         * to lie under base_url, which a query or fragment would make meaningless. */
        if (strpbrk(s->api_base_url, "?#{}")) {
            char bp[PATH_MAX_LEN];
            path_join(bp, sizeof(bp), p, "base_url");
            err_add(c, bp, "must not hold a query, fragment or placeholder");
        }
        size_t n = strlen(s->api_base_url);
        while (n > 0 && s->api_base_url[n - 1] == '/')
            s->api_base_url[--n] = '\0';
    }
    parse_auth(c, api, p, &s->api_auth);
    get_int(c, api, p, "timeout_ms", 1, &s->api_timeout_ms);
}

/* sources.*.sync (catalog sync, handlers/sync.c). */
static void parse_sync(struct ctx *c, const json_t *src, const char *path, struct source *s)
{
    static const char *const keys[] = {"every_s", "remove_missing", "max_remove_fraction", NULL};
    char p[PATH_MAX_LEN], kp[PATH_MAX_LEN];
    const json_t *sy = get_object(c, src, path, "sync", 0);
    if (!sy)
        return;
    path_join(p, sizeof(p), path, "sync");
    check_keys(c, sy, p, keys);
    get_int(c, sy, p, "every_s", 0, &s->sync.every_s);
    const json_t *rm = json_object_get(sy, "remove_missing");
    path_join(kp, sizeof(kp), p, "remove_missing");
    if (rm && !json_is_boolean(rm))
        err_add(c, kp, "must be true or false");
    else if (rm)
        s->sync.remove_missing = json_is_true(rm);
    const json_t *fr = json_object_get(sy, "max_remove_fraction");
    path_join(kp, sizeof(kp), p, "max_remove_fraction");
    if (fr && (!json_is_number(fr) || json_number_value(fr) < 0 || json_number_value(fr) > 1))
        err_add(c, kp, "must be a number between 0 and 1");
    else if (fr)
        s->sync.max_remove_fraction = json_number_value(fr);
}

static void parse_source(struct ctx *c, const char *name, const json_t *src, struct source *s)
{
    static const char *const keys[] = {"kind", "web_url", "signature", "api", "sync", NULL};
    static const char *const web_ph[] = {"id", "slug", "type", NULL};
    char p[PATH_MAX_LEN];
    path_join(p, sizeof(p), "sources", name);
    s->name = xstrdup(c, name);
    s->tolerance_s = 300;
    s->api_timeout_ms = 10000;
    s->sync.remove_missing = 1;
    s->sync.max_remove_fraction = 0.2;
    if (!name_ok(name))
        err_add(c, p, "name must be 1-%d characters of A-Z a-z 0-9 _ -", NAME_MAX_LEN);
    if (!json_is_object(src)) {
        err_add(c, p, "must be an object");
        return;
    }
    check_keys(c, src, p, keys);
    if (!json_object_get(src, "kind")) {
        char kp[PATH_MAX_LEN];
        path_join(kp, sizeof(kp), p, "kind");
        err_add(c, kp, "missing");
    }
    int k = get_enum(c, src, p, "kind", kind_names, SOURCE_ENCORASTREAM);
    if (k >= 0)
        s->kind = (enum source_kind)k;
    /* Each CMS signs its webhooks one way; the default follows the kind. */
    s->scheme = s->kind == SOURCE_MOVIDA ? SIG_STANDARD_WEBHOOKS : SIG_HMAC_SHA256_HEX;
    get_url(c, src, p, "web_url", 0, web_ph, &s->web_url);
    parse_signature(c, src, p, s);
    parse_api(c, src, p, s);
    parse_sync(c, src, p, s);
}

static void source_clear(struct source *s)
{
    free(s->name);
    free(s->web_url);
    free(s->sig_header);
    for (size_t i = 0; i < s->n_secrets; i++)
        secret_clear(&s->secrets[i]);
    free(s->secrets);
    free(s->api_base_url);
    auth_clear(&s->api_auth);
}

/* ---- targets ---- */

static const char *const format_names[] = {"canonical", "gwi_json_1.1", "titanos", NULL};
static const char *const unpublish_names[] = {"tombstone", "delete", NULL};
static const char *const method_names[] = {"POST", "PUT", "PATCH", NULL};
static const char *const ctype_names[] = {"movie", "show", "season", "episode", NULL};

/* Reads an optional non-empty array of strings; check(i, s) validates each. */
static int get_str_array(struct ctx *c, const json_t *obj, const char *path, const char *key,
                         char ***out, size_t *n_out, const struct config *cfg, int is_sources)
{
    char p[PATH_MAX_LEN];
    const json_t *arr = json_object_get(obj, key);
    if (!arr)
        return 0;
    path_join(p, sizeof(p), path, key);
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        err_add(c, p, "must be a non-empty array of strings (omit it to take all)");
        return -1;
    }
    *out = calloc(json_array_size(arr), sizeof(char *));
    if (!*out) {
        err_add(c, p, "out of memory");
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char ip[PATH_MAX_LEN];
        path_index(ip, sizeof(ip), p, i);
        if (!json_is_string(v)) {
            err_add(c, ip, "must be a string");
            continue;
        }
        const char *s = json_string_value(v);
        if (is_sources) {
            if (!config_source(cfg, s)) {
                err_add(c, ip, "names no configured source");
                continue;
            }
        } else {
            int ok = 0;
            for (int k = 0; ctype_names[k]; k++)
                if (strcmp(ctype_names[k], s) == 0)
                    ok = 1;
            if (!ok) {
                err_add(c, ip, "must be one of movie, show, season, episode");
                continue;
            }
        }
        (*out)[*n_out] = xstrdup(c, s);
        if ((*out)[*n_out])
            (*n_out)++;
    }
    return 0;
}

static void parse_catalog(struct ctx *c, const json_t *tj, const char *path, struct target *t)
{
    static const char *const keys[] = {"provider", "name", "locale", NULL};
    char p[PATH_MAX_LEN];
    const json_t *cat = get_object(c, tj, path, "catalog", 0);
    path_join(p, sizeof(p), path, "catalog");
    if (json_object_get(tj, "catalog") && t->format != FORMAT_GWI_JSON_1_1) {
        err_add(c, p, "only used with format gwi_json_1.1");
        return;
    }
    const char *prov = NULL, *name = NULL, *loc = NULL;
    if (cat) {
        check_keys(c, cat, p, keys);
        prov = get_str(c, cat, p, "provider", 0);
        name = get_str(c, cat, p, "name", 0);
        loc = get_str(c, cat, p, "locale", 0);
        /* GoWatchIt wants ll_CC (e.g. en_US). */
        if (loc && !(strlen(loc) == 5 && loc[0] >= 'a' && loc[0] <= 'z' && loc[1] >= 'a' &&
                     loc[1] <= 'z' && loc[2] == '_' && loc[3] >= 'A' && loc[3] <= 'Z' &&
                     loc[4] >= 'A' && loc[4] <= 'Z')) {
            char lp[PATH_MAX_LEN];
            path_join(lp, sizeof(lp), p, "locale");
            err_add(c, lp, "must look like en_US");
            loc = NULL;
        }
    }
    if (t->format != FORMAT_GWI_JSON_1_1)
        return;
    t->catalog_provider = xstrdup(c, prov ? prov : t->name ? t->name : "");
    t->catalog_name = xstrdup(c, name ? name : t->name ? t->name : "");
    t->catalog_locale = xstrdup(c, loc ? loc : "en_US");
}

static void parse_target(struct ctx *c, const struct config *cfg, const char *name,
                         const json_t *tj, struct target *t)
{
    /* timeout_ms is not in CONTRACT §2: it bounds one push (connect + transfer), default
     * 10000, like sources.*.api.timeout_ms. */
    static const char *const keys[] = {
        "format",     "url",           "method",  "unpublish",      "auth",
        "sources",    "content_types", "catalog", "signing_secret", "max_in_flight",
        "rate_per_s", "timeout_ms",    NULL};
    static const char *const url_ph[] = {"id", "type", "source", NULL};
    char p[PATH_MAX_LEN];
    path_join(p, sizeof(p), "targets", name);
    t->name = xstrdup(c, name);
    t->max_in_flight = 8;
    t->timeout_ms = 10000;
    if (!name_ok(name))
        err_add(c, p, "name must be 1-%d characters of A-Z a-z 0-9 _ -", NAME_MAX_LEN);
    if (!json_is_object(tj)) {
        err_add(c, p, "must be an object");
        return;
    }
    check_keys(c, tj, p, keys);
    if (!json_object_get(tj, "format")) {
        char fp[PATH_MAX_LEN];
        path_join(fp, sizeof(fp), p, "format");
        err_add(c, fp, "missing");
    }
    int f = get_enum(c, tj, p, "format", format_names, FORMAT_CANONICAL);
    if (f >= 0)
        t->format = (enum target_format)f;
    get_url(c, tj, p, "url", 1, url_ph, &t->url);
    int m = get_enum(c, tj, p, "method", method_names, 0);
    t->method = xstrdup(c, method_names[m >= 0 ? m : 0]);
    int u = get_enum(c, tj, p, "unpublish", unpublish_names, UNPUBLISH_TOMBSTONE);
    if (u >= 0)
        t->unpublish = (enum unpublish_mode)u;
    parse_auth(c, tj, p, &t->auth);
    get_secret(c, tj, p, "signing_secret", 0, &t->signing_secret);
    get_str_array(c, tj, p, "sources", &t->sources, &t->n_sources, cfg, 1);
    get_str_array(c, tj, p, "content_types", &t->content_types, &t->n_content_types, cfg, 0);
    if (f >= 0)
        parse_catalog(c, tj, p, t);
    get_int(c, tj, p, "max_in_flight", 1, &t->max_in_flight);
    get_int(c, tj, p, "timeout_ms", 1, &t->timeout_ms);
    const json_t *r = json_object_get(tj, "rate_per_s");
    if (r) {
        char rp[PATH_MAX_LEN];
        path_join(rp, sizeof(rp), p, "rate_per_s");
        if (!json_is_number(r) || json_number_value(r) < 0 || json_number_value(r) > 1e6)
            err_add(c, rp, "must be a number between 0 (no limit) and 1000000");
        else
            t->rate_per_s = json_number_value(r);
    }
}

static void target_clear(struct target *t)
{
    free(t->name);
    free(t->url);
    free(t->method);
    auth_clear(&t->auth);
    secret_clear(&t->signing_secret);
    for (size_t i = 0; i < t->n_sources; i++)
        free(t->sources[i]);
    free(t->sources);
    for (size_t i = 0; i < t->n_content_types; i++)
        free(t->content_types[i]);
    free(t->content_types);
    free(t->catalog_provider);
    free(t->catalog_name);
    free(t->catalog_locale);
}

/* ---- top level ---- */

static void check_readable(struct ctx *c, const char *p, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        err_add(c, p, "cannot read %s: %s", file, strerror(errno));
        return;
    }
    fclose(f);
}

static void parse_tls(struct ctx *c, const json_t *root, struct config *cfg)
{
    static const char *const keys[] = {"cert_file", "key_file", NULL};
    const json_t *tls = get_object(c, root, "", "tls", 0);
    if (!tls)
        return;
    check_keys(c, tls, "tls", keys);
    const char *cert = get_str(c, tls, "tls", "cert_file", 1);
    const char *key = get_str(c, tls, "tls", "key_file", 1);
    if (cert)
        check_readable(c, "tls.cert_file", cert);
    if (key)
        check_readable(c, "tls.key_file", key);
    if (cert && key) {
        cfg->tls_cert_file = xstrdup(c, cert);
        cfg->tls_key_file = xstrdup(c, key);
    }
}

static void parse_root(struct ctx *c, const json_t *root, struct config *cfg, enum config_role role)
{
    static const char *const keys[] = {"listen",      "tls",    "redis", "limits",  "dedupe_ttl_s",
                                       "retention_s", "admin",  "log",   "sources", "targets",
                                       "retry",       "worker", NULL};
    static const char *const redis_keys[] = {"url", "prefix", NULL};
    static const char *const limit_keys[] = {"max_body_bytes", "request_timeout_ms",
                                             "max_connections", NULL};
    static const char *const admin_keys[] = {"token", NULL};
    static const char *const log_keys[] = {"level", NULL};
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    static const char *const retry_keys[] = {"max_attempts", "base_delay_ms", "max_delay_ms", NULL};
    static const char *const worker_keys[] = {"concurrency", "visibility_timeout_ms", NULL};
    const json_t *o;
    const char *s;

    check_keys(c, root, "", keys);

    s = get_str(c, root, "", "listen", 1);
    if (s) {
        const char *why = NULL;
        if (parse_hostport(s, strlen(s), 0, &cfg->listen_host, &cfg->listen_port, &why) != 0)
            err_add(c, "listen", "%s", why);
    }

    parse_tls(c, root, cfg);

    o = get_object(c, root, "", "redis", 1);
    if (o) {
        check_keys(c, o, "redis", redis_keys);
        const json_t *uv = json_object_get(o, "url");
        s = get_str(c, o, "redis", "url", 1);
        if (s) {
            parse_redis_url(c, cfg, "redis.url", s);
            /* The URL may carry the Redis password. */
            OPENSSL_cleanse((char *)s, json_string_length(uv));
        }
        s = get_str(c, o, "redis", "prefix", 0);
        if (s) {
            free(cfg->redis_prefix);
            cfg->redis_prefix = xstrdup(c, s);
        }
    }

    o = get_object(c, root, "", "limits", 0);
    if (o) {
        check_keys(c, o, "limits", limit_keys);
        get_int(c, o, "limits", "max_body_bytes", 1, &cfg->max_body_bytes);
        get_int(c, o, "limits", "request_timeout_ms", 1, &cfg->request_timeout_ms);
        get_int(c, o, "limits", "max_connections", 1, &cfg->max_connections);
    }
    get_int(c, root, "", "dedupe_ttl_s", 1, &cfg->dedupe_ttl_s);
    get_int(c, root, "", "retention_s", 1, &cfg->retention_s);

    o = get_object(c, root, "", "admin", 0);
    if (o) {
        check_keys(c, o, "admin", admin_keys);
        get_secret(c, o, "admin", "token", 0, &cfg->admin_token);
    }

    o = get_object(c, root, "", "log", 0);
    if (o) {
        check_keys(c, o, "log", log_keys);
        int l = get_enum(c, o, "log", "level", levels, 1);
        if (l >= 0) {
            free(cfg->log_level);
            cfg->log_level = xstrdup(c, levels[l]);
        }
    }

    o = get_object(c, root, "", "retry", 0);
    if (o) {
        check_keys(c, o, "retry", retry_keys);
        get_int(c, o, "retry", "max_attempts", 1, &cfg->retry_max_attempts);
        get_int(c, o, "retry", "base_delay_ms", 1, &cfg->retry_base_delay_ms);
        get_int(c, o, "retry", "max_delay_ms", 1, &cfg->retry_max_delay_ms);
        if (cfg->retry_max_delay_ms < cfg->retry_base_delay_ms)
            err_add(c, "retry.max_delay_ms", "must not be less than retry.base_delay_ms");
    }

    o = get_object(c, root, "", "worker", 0);
    if (o) {
        check_keys(c, o, "worker", worker_keys);
        get_int(c, o, "worker", "concurrency", 1, &cfg->worker_concurrency);
        get_int(c, o, "worker", "visibility_timeout_ms", 1, &cfg->worker_visibility_timeout_ms);
    }

    o = get_object(c, root, "", "sources", 1);
    if (o && json_object_size(o) == 0)
        err_add(c, "sources", "at least one source is required");
    if (o && json_object_size(o) > 0) {
        cfg->sources = calloc(json_object_size(o), sizeof(*cfg->sources));
        if (!cfg->sources) {
            err_add(c, "sources", "out of memory");
            return;
        }
        const char *name;
        json_t *v;
        /* Jansson (>= 2.8) iterates objects in insertion order, i.e. the file's order. */
        json_object_foreach((json_t *)o, name, v)
        {
            parse_source(c, name, v, &cfg->sources[cfg->n_sources++]);
        }
    }

    o = get_object(c, root, "", "targets", 0);
    if (o && json_object_size(o) > 0) {
        cfg->targets = calloc(json_object_size(o), sizeof(*cfg->targets));
        if (!cfg->targets) {
            err_add(c, "targets", "out of memory");
            return;
        }
        const char *name;
        json_t *v;
        json_object_foreach((json_t *)o, name, v)
        {
            parse_target(c, cfg, name, v, &cfg->targets[cfg->n_targets++]);
        }
    }
    if (role == CONFIG_ROLE_WORKER && cfg->n_targets == 0 &&
        !(json_object_get(root, "targets") && !o))
        err_add(c, "targets", "at least one target is required for relay-worker");
}

static struct config *config_defaults(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->redis_port = 6379;
    cfg->redis_prefix = strdup("relay");
    cfg->log_level = strdup("info");
    cfg->max_body_bytes = 1048576;
    cfg->request_timeout_ms = 10000;
    cfg->max_connections = 10000;
    cfg->dedupe_ttl_s = 86400;
    cfg->retention_s = 604800;
    cfg->retry_max_attempts = 15;
    cfg->retry_base_delay_ms = 5000;
    cfg->retry_max_delay_ms = 36000000;
    cfg->worker_concurrency = 32;
    cfg->worker_visibility_timeout_ms = 30000;
    if (!cfg->redis_prefix || !cfg->log_level) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Jansson's error text ends in " near '<token>'", which may quote a secret literal that sits
 * next to a syntax error; only the description before it is kept. */
static void json_error_line(struct ctx *c, const char *path, const json_error_t *je)
{
    char text[JSON_ERROR_TEXT_LENGTH];
    snprintf(text, sizeof(text), "%s", je->text);
    char *near = strstr(text, " near '");
    if (near)
        *near = '\0';
    err_add(c, path, "invalid JSON at line %d, column %d: %s", je->line, je->column, text);
}

struct config *config_parse(const char *json, size_t len, const char *path, enum config_role role,
                            char **errors)
{
    struct ctx c = {0};
    struct config *cfg = NULL;
    json_t *root = NULL;
    json_error_t je;
    const char *where = path ? path : "<config>";

    if (errors)
        *errors = NULL;
    cfg = config_defaults();
    if (!cfg) {
        err_add(&c, where, "out of memory");
        goto out;
    }
    if (path) {
        cfg->path = xstrdup(&c, path);
    }
    /* A key given twice would let the second silently override the first. */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        json_error_line(&c, where, &je);
        goto out;
    }
    if (!json_is_object(root)) {
        err_add(&c, where, "the top level must be a JSON object");
        goto out;
    }
    parse_root(&c, root, cfg, role);

out:
    json_decref(root);
    if (c.n_errors > 0) {
        config_free(cfg);
        cfg = NULL;
        if (errors && !c.oom) {
            *errors = c.errs;
            c.errs = NULL;
        } else if (errors) {
            *errors = strdup("config: out of memory");
        }
    }
    free(c.errs);
    return cfg;
}

struct config *config_load(const char *path, enum config_role role, char **errors)
{
    struct config *cfg = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    char line[PATH_MAX_LEN + 128];

    if (errors)
        *errors = NULL;
    f = fopen(path, "rb");
    if (!f) {
        snprintf(line, sizeof(line), "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    buf = malloc(CONFIG_MAX_FILE_BYTES + 1);
    if (!buf) {
        snprintf(line, sizeof(line), "%s: out of memory", path);
        goto fail;
    }
    len = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        snprintf(line, sizeof(line), "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (len > CONFIG_MAX_FILE_BYTES) {
        snprintf(line, sizeof(line), "%s: larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
        goto fail;
    }
    cfg = config_parse(buf, len, path, role, errors);
    goto out;

fail:
    if (errors)
        *errors = strdup(line);
out:
    if (buf) {
        /* The text may hold literal secrets. */
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    if (f)
        fclose(f);
    return cfg;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg->redis_host);
    secret_clear(&cfg->redis_password);
    free(cfg->redis_prefix);
    secret_clear(&cfg->admin_token);
    free(cfg->log_level);
    for (size_t i = 0; i < cfg->n_sources; i++)
        source_clear(&cfg->sources[i]);
    free(cfg->sources);
    for (size_t i = 0; i < cfg->n_targets; i++)
        target_clear(&cfg->targets[i]);
    free(cfg->targets);
    free(cfg);
}

const struct source *config_source(const struct config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (cfg->sources[i].name && strcmp(cfg->sources[i].name, name) == 0)
            return &cfg->sources[i];
    return NULL;
}

const struct target *config_target(const struct config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_targets; i++)
        if (cfg->targets[i].name && strcmp(cfg->targets[i].name, name) == 0)
            return &cfg->targets[i];
    return NULL;
}

int config_target_matches(const struct target *t, const char *source, const char *content_type)
{
    if (!t)
        return 0;
    if (t->sources) {
        int ok = 0;
        for (size_t i = 0; i < t->n_sources && !ok; i++)
            ok = source && strcmp(t->sources[i], source) == 0;
        if (!ok)
            return 0;
    }
    /* An unknown type (NULL or "": a movida event before its fetch) is not filtered out
     * here; callers check again once the type is known. */
    if (t->content_types && content_type && *content_type) {
        for (size_t i = 0; i < t->n_content_types; i++)
            if (strcmp(t->content_types[i], content_type) == 0)
                return 1;
        return 0;
    }
    return 1;
}

const char *config_default_path(const char *arg)
{
    if (arg && *arg)
        return arg;
    const char *env = getenv("RELAY_CONFIG");
    if (env && *env)
        return env;
    return "./relay.json";
}
