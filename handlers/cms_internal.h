#ifndef RELAY_CMS_INTERNAL_H
#define RELAY_CMS_INTERNAL_H

/* Internals of the cms module (cms.c and its adapters cms_encora.c, cms_movida.c), the way
 * libevent keeps http-internal.h beside http.h. Nothing outside handlers/cms*.c includes it. */

#include <stddef.h>

#include <jansson.h>

#include "handlers/cms.h"

/* Adapters, dispatched to by cms.c on src->kind. Same contracts as cms_next_url() and
 * cms_normalize(). */
char *cms_encora_next_url(const struct source *src, const struct cms_ref *ref,
                          json_t *const *bodies, size_t n);
json_t *cms_encora_normalize(const struct source *src, const struct cms_ref *ref,
                             json_t *const *bodies, size_t n, char *err, size_t errlen);
char *cms_movida_next_url(const struct source *src, const struct cms_ref *ref,
                          json_t *const *bodies, size_t n);
json_t *cms_movida_normalize(const struct source *src, const struct cms_ref *ref,
                             json_t *const *bodies, size_t n, char *err, size_t errlen);

/* Reading CMS responses, which are untrusted: every getter checks the JSON type and answers
 * "absent" for anything unexpected, so a wrong type drops the field instead of the title. */

/* obj[key] when it is a non-empty string, else NULL. obj may be anything, even NULL. */
const char *cms_str(const json_t *obj, const char *key);
/* obj[key] when it is an object, else NULL (borrowed). */
json_t *cms_obj(const json_t *obj, const char *key);
/* obj[key] when it is an array, else NULL (borrowed). */
json_t *cms_arr(const json_t *obj, const char *key);
/* Stores obj[key] in *out when it is an integer (or a real with no fraction) within
 * [lo, hi]; returns 0, or -1 when absent or out of range. */
int cms_int(const json_t *obj, const char *key, long long lo, long long hi, long long *out);

/* Building the canonical title. Each setter does nothing when the value is absent or
 * malformed, which is how optional fields stay omitted rather than invented. */

/* A new title holding the keys that are always present. NULL on allocation failure. */
json_t *cms_title_new(const struct source *src, const char *id, const char *type,
                      const char *status);
/* key is a literal in every setter (not checked as UTF-8 again). */
void cms_set_str(json_t *dst, const char *key, const char *val);
/* cms_set_str(dst, key, cms_str(obj, field)), sharing obj's string. */
void cms_copy_str(json_t *dst, const char *key, const json_t *obj, const char *field);
void cms_set_int(json_t *dst, const char *key, long long val);
/* val must start with YYYY-MM-DD (a date or a date-time); stores that date. */
void cms_set_date(json_t *dst, const char *key, const char *val);
/* val must be RFC 3339; stores it as UTC "YYYY-MM-DDTHH:MM:SSZ". */
void cms_set_datetime(json_t *dst, const char *key, const char *val);
/* Steals val; stores it unless it is NULL or an empty array/object (then drops it). */
void cms_set_new(json_t *dst, const char *key, json_t *val);
/* Appends s to the string array arr unless arr already holds it. */
void cms_push_unique(json_t *arr, const char *s);

/* The year of a value starting with YYYY-MM-DD when within 1800..2200, or -1. */
int cms_year_of(const char *date);
/* Milliseconds since the epoch of an RFC 3339 value; returns 0, or -1 when malformed. */
int cms_time_ms(const char *val, long long *ms);

/* URL pieces. */
/* An id ready for a path segment: percent-encoded, with "." and ".." encoded too so that no
 * dot-segment reaches the URL. NULL when id is NULL or empty, or on allocation failure. */
char *cms_path_id(const char *id);
/* What a consumer deep link is built from; NULL / -1 = unknown. */
struct cms_link {
    const char *id, *slug, *type;
    const char *show_id, *show_slug; /* seasons and episodes: the parent show's */
    int season_number, episode_number;
};
/* The consumer deep link: the source's web_url template for link->type with {id}, {slug},
 * {type}, {show_id}, {show_slug}, {season_number} and {episode_number} replaced (percent-
 * encoded). A season or episode without a slug takes its show's for {slug}; for a show,
 * {show_id}/{show_slug} are its own. NULL when the type has no template or the template names
 * a placeholder whose value is unknown. Caller frees. */
char *cms_web_url(const struct source *src, const struct cms_link *link);
/* Sets title's "url" to cms_web_url() of link, whose show_id, season_number and
 * episode_number are first taken from the title's "series" (the normalized parent links,
 * whichever CMS they came from); no url when the template cannot be filled. */
void cms_set_web_url(json_t *title, const struct source *src, struct cms_link *link);

#endif
