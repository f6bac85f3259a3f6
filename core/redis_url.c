#include "core/redis_url.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/addr.h"
#include "core/util.h"

/* Decodes %XX escapes of the n bytes at s into a new secret. Returns 0, or -1 with why. */
static int decode_password(const char *s, size_t n, struct secret *out, const char **why)
{
    char *pw = malloc(n + 1);
    if (!pw) {
        *why = "out of memory";
        return -1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && util_hexval(s[i + 1]) >= 0 && util_hexval(s[i + 2]) >= 0) {
            pw[o++] = (char)(util_hexval(s[i + 1]) * 16 + util_hexval(s[i + 2]));
            i += 2;
        } else {
            pw[o++] = s[i];
        }
    }
    pw[o] = '\0';
    if (memchr(pw, '\0', o)) {
        OPENSSL_cleanse(pw, n + 1);
        free(pw);
        *why = "password must not contain a NUL byte";
        return -1;
    }
    out->value = pw;
    out->len = o;
    return 0;
}

int redis_url_parse(const char *url, struct redis_url *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (strncmp(url, "rediss://", 9) == 0) {
        *why = "rediss:// (TLS) is not supported; use redis://";
        goto fail;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        *why = "must be redis://[:password@]host[:port][/db]";
        goto fail;
    }
    const char *a = url + 8;
    const char *at = strrchr(a, '@');
    const char *hs = a;
    if (at) {
        if (*a != ':') {
            *why = "a username is not supported; write redis://:password@host (a password "
                   "holding '@' or '/' may be percent-encoded: %40, %2F)";
            goto fail;
        }
        if (at == a + 1) {
            *why = "empty password";
            goto fail;
        }
        if (decode_password(a + 1, (size_t)(at - a - 1), &out->password, why) != 0)
            goto fail;
        hs = at + 1;
    }
    if (strpbrk(hs, "?#")) {
        *why = "query and fragment are not supported";
        goto fail;
    }
    const char *slash = strchr(hs, '/');
    const char *hend = slash ? slash : hs + strlen(hs);
    if (addr_parse(hs, (size_t)(hend - hs), 6379, &out->host, &out->port, why) != 0)
        goto fail;
    if (slash && slash[1]) {
        long db = 0;
        for (const char *q = slash + 1; *q; q++) {
            if (*q < '0' || *q > '9' || db > 1000000) {
                *why = "database must be a non-negative number";
                goto fail;
            }
            db = db * 10 + (*q - '0');
        }
        out->db = (int)db;
    }
    return 0;
fail:
    redis_url_clear(out);
    return -1;
}

void redis_url_clear(struct redis_url *u)
{
    free(u->host);
    u->host = NULL;
    secret_clear(&u->password);
}
