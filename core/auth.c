#include "core/auth.h"

#include <stdlib.h>
#include <string.h>

#include "core/jconf.h"

static const char *const auth_names[] = {"none", "bearer", "basic", "digest", "api_key", NULL};

void auth_parse(struct jconf *c, const json_t *obj, const char *path, const char *key, int required,
                unsigned mask, struct auth *au)
{
    char p[JCONF_PATH_MAX], tp[JCONF_PATH_MAX];
    const json_t *a = jconf_object(c, obj, path, key, required);
    if (!a)
        return;
    jconf_path(p, sizeof(p), path, key);
    if (!jconf_get(c, a, p, "type", 1, tp))
        return;
    const char *names[AUTH_API_KEY + 2];
    int map[AUTH_API_KEY + 1], nn = 0;
    for (int i = 0; auth_names[i]; i++)
        if (mask & (1u << i)) {
            map[nn] = i;
            names[nn++] = auth_names[i];
        }
    names[nn] = NULL;
    int t = jconf_enum(c, a, p, "type", names, -2);
    if (t < 0)
        return;
    au->type = (enum auth_type)map[t];
    /* Each type takes exactly its own fields: a stray one means the operator expects an
     * effect that would silently not happen. */
    static const char *const k_none[] = {"type", NULL};
    static const char *const k_bearer[] = {"type", "token", NULL};
    static const char *const k_user[] = {"type", "username", "password", NULL};
    static const char *const k_key[] = {"type", "in", "name", "value", NULL};
    switch (au->type) {
    case AUTH_NONE:
        jconf_keys(c, a, p, k_none);
        break;
    case AUTH_BEARER:
        jconf_keys(c, a, p, k_bearer);
        secret_get(c, a, p, "token", 1, &au->token);
        break;
    case AUTH_BASIC:
    case AUTH_DIGEST: {
        jconf_keys(c, a, p, k_user);
        const char *u = jconf_str(c, a, p, "username", 1);
        if (u) {
            if (au->type == AUTH_BASIC && strchr(u, ':')) {
                jconf_err_at(c, p, "username", "must not contain ':' for basic auth");
            } else {
                au->username = jconf_strdup(c, u);
            }
        }
        secret_get(c, a, p, "password", 1, &au->password);
        break;
    }
    case AUTH_API_KEY: {
        static const char *const ins[] = {"header", "query", NULL};
        jconf_keys(c, a, p, k_key);
        jconf_require(c, a, p, "in");
        int in = jconf_enum(c, a, p, "in", ins, 0);
        au->in_query = in == 1;
        const char *n = jconf_str(c, a, p, "name", 1);
        if (n) {
            if (in == 0 && !jconf_is_header_name(n)) {
                jconf_err_at(c, p, "name", "is not a valid header name");
            } else {
                au->name = jconf_strdup(c, n);
            }
        }
        secret_get(c, a, p, "value", 1, &au->value);
        break;
    }
    }
}

void auth_clear(struct auth *au)
{
    secret_clear(&au->token);
    free(au->username);
    secret_clear(&au->password);
    free(au->name);
    secret_clear(&au->value);
}
