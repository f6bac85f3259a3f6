#ifndef RELAY_JCONF_H
#define RELAY_JCONF_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Typed getters over a parsed JSON config. Each one reports its own problems as
 * "json.path: problem" lines into a struct jconf and leaves the caller's default untouched,
 * so one pass finds every problem of a file. Values are never quoted in a problem: any
 * string may be a secret. */

#define JCONF_PATH_MAX 512

struct jconf {
    char *errs; /* '\n'-separated "path: problem" lines; caller frees */
    size_t len, cap;
    int n_errors;
    int oom; /* a line could not be stored; n_errors still counts it */
};

/* Adds one problem line (control bytes in it become '?', so a line stays one line). */
__attribute__((format(printf, 3, 4))) void jconf_err(struct jconf *c, const char *path,
                                                     const char *fmt, ...);
/* jconf_err() at path.key. */
__attribute__((format(printf, 4, 5))) void jconf_err_at(struct jconf *c, const char *path,
                                                        const char *key, const char *fmt, ...);
/* strdup that records "out of memory" on failure; NULL then. */
char *jconf_strdup(struct jconf *c, const char *s);

/* out = base + "." + key (key alone when base is empty), truncated to n. */
void jconf_path(char *out, size_t n, const char *base, const char *key);
/* out = base + "[i]", truncated to n. */
void jconf_path_index(char *out, size_t n, const char *base, size_t i);

/* The value at obj.key, its path written to p (JCONF_PATH_MAX bytes); NULL when absent,
 * reported as "missing" when required. Owned by obj. */
const json_t *jconf_get(struct jconf *c, const json_t *obj, const char *path, const char *key,
                        int required, char *p);
/* Reports path.key "missing" when obj lacks key (for a key whose getter has a default). */
void jconf_require(struct jconf *c, const json_t *obj, const char *path, const char *key);
/* Reports every key of obj not in the NULL-terminated allowed list as "unknown key". */
void jconf_keys(struct jconf *c, const json_t *obj, const char *path, const char *const *allowed);
/* The object at key; NULL when absent (reported when required) or not an object (reported). */
const json_t *jconf_object(struct jconf *c, const json_t *obj, const char *path, const char *key,
                           int required);
/* The non-empty string at key, not copied (owned by obj); NULL when absent or invalid. */
const char *jconf_str(struct jconf *c, const json_t *obj, const char *path, const char *key,
                      int required);
/* Sets *out to the integer at key when it lies in [min, INT32_MAX]; absent leaves it. */
void jconf_int(struct jconf *c, const json_t *obj, const char *path, const char *key, int64_t min,
               int64_t *out);
/* The index in names (NULL-terminated) of the string at key, def when absent, -1 after an
 * error. */
int jconf_enum(struct jconf *c, const json_t *obj, const char *path, const char *key,
               const char *const *names, int def);
/* Copies the http(s) URL at key into *out (caller frees). With placeholders (NULL-terminated),
 * every {name} in it must be one of them. */
void jconf_url(struct jconf *c, const json_t *obj, const char *path, const char *key, int required,
               const char *const *placeholders, char **out);

/* True when s is an RFC 9110 token, i.e. a valid header name. */
int jconf_is_header_name(const char *s);

#endif
