#ifndef RELAY_ENVELOPE_H
#define RELAY_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Webhook envelopes of the two source kinds (README, "Endpoints"), validated into one shape. */

struct envelope {
    char *id;              /* envelope "id", or the fallback id (standard-webhooks webhook-id) */
    char *type;            /* "content.published", "content.unpublished", "ping", anything */
    int64_t created_at_ms; /* -1 when absent */
    /* Set only for content.published / content.unpublished: */
    char *content_type; /* movie, show, season, episode; for movida mapped from
                           data.title_type when given, else NULL (unknown until fetched) */
    char *content_id;   /* encorastream content_id; movida title id (digits) */
    char *show_id;      /* encorastream episode only, else NULL */
    int season_number;  /* encorastream episode only, else -1 */
    int episode_number; /* encorastream episode only, else -1 */
};

enum envelope_result {
    ENVELOPE_OK = 0,
    ENVELOPE_INVALID_JSON, /* not UTF-8 JSON -> 400 invalid_json */
    ENVELOPE_INVALID       /* JSON but not a valid envelope -> 422 invalid_envelope */
};

/* Parses body for source src. fallback_id (may be NULL) is used when the envelope has no
 * "id". On ENVELOPE_OK *out is a new envelope the caller frees with envelope_free(); otherwise
 * *out is NULL and err holds a message naming the offending field (e.g. "data.content_id:
 * missing"), never any of the body's bytes beyond field names. */
enum envelope_result envelope_parse(const struct source *src, const char *body, size_t len,
                                    const char *fallback_id, struct envelope **out, char *err,
                                    size_t errlen);
void envelope_free(struct envelope *env);

/* True for content.published and content.unpublished. */
int envelope_is_content(const struct envelope *env);

#endif
