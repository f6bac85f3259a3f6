#ifndef RELAY_CMS_H
#define RELAY_CMS_H

#include <stddef.h>

#include "core/config.h"

struct json_t;

/* Source CMS adapters: which URLs to GET for one title, and how to turn the responses
 * into the canonical title (docs/canonical.md). Pure functions: the worker does the HTTP. */

/* What the worker knows about the title before fetching (from the queued event). */
struct cms_ref {
    const char *content_type; /* movie, show, season, episode, or NULL (movida: unknown) */
    const char *content_id;
    const char *show_id; /* encorastream episodes */
    int season_number;   /* encorastream episodes, else -1 */
    int episode_number;  /* encorastream episodes, else -1 */
};

/* Returns the URL of the next GET needed, given the n bodies fetched so far (in order), or
 * NULL when everything needed is fetched. URLs are built from src->api_base_url plus
 * percent-encoded ids, never taken whole from a webhook or a response. Caller frees. */
char *cms_next_url(const struct source *src, const struct cms_ref *ref,
                   struct json_t *const *bodies, size_t n);

/* Builds the canonical title from the fetched bodies. Returns a new reference, or NULL with
 * a message in err when the bodies are not the expected shape. */
struct json_t *cms_normalize(const struct source *src, const struct cms_ref *ref,
                             struct json_t *const *bodies, size_t n, char *err, size_t errlen);

/* The minimal canonical title for an unpublish (no fetch): id, type, source, status. */
struct json_t *cms_tombstone(const struct source *src, const struct cms_ref *ref);

#endif
