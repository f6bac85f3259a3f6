#ifndef RELAY_AUTH_H
#define RELAY_AUTH_H

#include "core/secret.h"

/* Credentials the relay presents (api.auth, targets.*.auth) or checks (targets.*.feed.auth). */

enum auth_type { AUTH_NONE = 0, AUTH_BEARER, AUTH_BASIC, AUTH_DIGEST, AUTH_API_KEY };

struct auth {
    enum auth_type type;
    struct secret token;    /* bearer */
    char *username;         /* basic, digest */
    struct secret password; /* basic, digest */
    int in_query;           /* api_key: 1 = query parameter, 0 = header */
    char *name;             /* api_key: header or parameter name */
    struct secret value;    /* api_key */
};

/* Masks of the types auth_parse() accepts: bit (1 << enum auth_type). */
#define AUTH_ANY 0x1fu
/* A feed's partner proves who it is with a shared secret it sends: digest would need a
 * challenge round trip, and none would publish the catalog to anyone. */
#define AUTH_FEED ((1u << AUTH_BEARER) | (1u << AUTH_BASIC) | (1u << AUTH_API_KEY))

struct jconf;
struct json_t; /* jansson's json_t */

/* Parses obj.key (reported missing when required) into *au: a type among the mask's and
 * exactly that type's fields, secrets resolved. Problems go to c; *au keeps what parsed.
 * Free with auth_clear(). */
void auth_parse(struct jconf *c, const struct json_t *obj, const char *path, const char *key,
                int required, unsigned mask, struct auth *au);
/* Wipes the secrets and frees the strings; safe on a zeroed auth. */
void auth_clear(struct auth *au);

#endif
