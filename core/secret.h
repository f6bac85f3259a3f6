#ifndef RELAY_SECRET_H
#define RELAY_SECRET_H

#include <stddef.h>

struct jconf;
struct json_t; /* jansson's json_t */

/* A secret-valued setting, resolved at load time from a literal, env:NAME or file:PATH
 * (trailing newline trimmed). This struct has no printer: nothing logs or echoes a value,
 * and problems name the JSON path, the variable or the file, never the contents. */
struct secret {
    char *value; /* resolved bytes, NUL-terminated; NULL when not configured */
    size_t len;
};

/* Resolves the JSON string v into *out, reporting problems as p. A literal is wiped from the
 * parsed document once copied. Returns 0, or -1 after reporting. Free with secret_clear(). */
int secret_resolve(struct jconf *c, const char *p, const struct json_t *v, struct secret *out);
/* secret_resolve() of obj.key; absent is reported only when required. */
void secret_get(struct jconf *c, const struct json_t *obj, const char *path, const char *key,
                int required, struct secret *out);
/* Wipes and frees the value; safe on a zeroed or already cleared secret. */
void secret_clear(struct secret *s);

#endif
