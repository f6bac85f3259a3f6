#include "core/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/jconf.h"

/* A secret file larger than this is a mistake (a wrong path), not something to load. */
#define SECRET_MAX_FILE_BYTES (64 * 1024)

void secret_clear(struct secret *s)
{
    if (s->value) {
        OPENSSL_cleanse(s->value, s->len);
        free(s->value);
    }
    s->value = NULL;
    s->len = 0;
}

/* Reads a secret file. Errors name the file path (not secret) and never its contents. */
static int secret_read_file(struct jconf *c, const char *p, const char *file, struct secret *out)
{
    int rc = -1;
    char *buf = NULL;
    size_t len = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        jconf_err(c, p, "cannot read file %s: %s", file, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        jconf_err(c, p, "file %s is not a regular file", file);
        goto out;
    }
    buf = malloc(SECRET_MAX_FILE_BYTES + 1);
    if (!buf) {
        jconf_err(c, p, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, SECRET_MAX_FILE_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            jconf_err(c, p, "cannot read file %s: %s", file, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SECRET_MAX_FILE_BYTES) {
            jconf_err(c, p, "file %s is larger than %d bytes", file, SECRET_MAX_FILE_BYTES);
            goto out;
        }
    }
    /* Editors and `echo` add a final newline that is not part of the secret. */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0) {
        jconf_err(c, p, "file %s is empty", file);
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        jconf_err(c, p, "file %s contains a NUL byte", file);
        goto out;
    }
    out->value = malloc(len + 1);
    if (!out->value) {
        jconf_err(c, p, "out of memory");
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
int secret_resolve(struct jconf *c, const char *p, const json_t *v, struct secret *out)
{
    if (!json_is_string(v)) {
        jconf_err(c, p, "must be a string (a secret, env:NAME or file:PATH)");
        return -1;
    }
    const char *s = json_string_value(v);
    size_t slen = json_string_length(v);
    if (slen == 0) {
        jconf_err(c, p, "must not be empty");
        return -1;
    }
    if (strncmp(s, "env:", 4) == 0) {
        const char *name = s + 4;
        if (!*name) {
            jconf_err(c, p, "env: needs a variable name");
            return -1;
        }
        const char *val = getenv(name);
        if (!val) {
            jconf_err(c, p, "environment variable %s is not set", name);
            return -1;
        }
        if (!*val) {
            jconf_err(c, p, "environment variable %s is empty", name);
            return -1;
        }
        out->value = strdup(val);
        if (!out->value) {
            jconf_err(c, p, "out of memory");
            return -1;
        }
        out->len = strlen(val);
        return 0;
    }
    if (strncmp(s, "file:", 5) == 0) {
        if (!s[5]) {
            jconf_err(c, p, "file: needs a path");
            return -1;
        }
        return secret_read_file(c, p, s + 5, out);
    }
    if (memchr(s, '\0', slen)) {
        jconf_err(c, p, "must not contain a NUL character");
        return -1;
    }
    out->value = malloc(slen + 1);
    if (!out->value) {
        jconf_err(c, p, "out of memory");
        return -1;
    }
    memcpy(out->value, s, slen + 1);
    out->len = slen;
    /* The parsed document is freed without wiping; scrub the literal now that it is copied. */
    OPENSSL_cleanse((char *)s, slen);
    return 0;
}

void secret_get(struct jconf *c, const json_t *obj, const char *path, const char *key, int required,
                struct secret *out)
{
    char p[JCONF_PATH_MAX];
    const json_t *v = jconf_get(c, obj, path, key, required, p);
    if (v)
        secret_resolve(c, p, v, out);
}
