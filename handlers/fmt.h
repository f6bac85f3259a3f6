#ifndef RELAY_FMT_H
#define RELAY_FMT_H

#include <stddef.h>

#include "core/config.h"

struct json_t;

/* Output formats rendered from the canonical title (docs/canonical.md, docs/titanos.md). */

/* What the worker knows about one delivery beyond the title itself. Every field may be NULL
 * (unknown); the strings are borrowed for the duration of the call. */
struct fmt_ctx {
    /* Render the format's removal document (an unpublish to a "tombstone" target). */
    int unpublish;
    /* RFC 3339 UTC: the event's created_at. The title's updated_at when the CMS gives none
     * (Movida has no updated_at). */
    const char *event_at;
    /* RFC 3339 UTC: the first time the relay saw this (source, content id), recorded once at
     * fan-out and never moved. The title's created_at when the CMS gives none (Movida);
     * removals keep it, so it must be passed for unpublishes too. */
    const char *first_seen;
};

/* Renders title for target t. ctx may be NULL (= a publish with nothing else known).
 * Returns a new reference; NULL when the title lacks what the format requires, with err
 * holding "missing: field, field" (a validation_failed delivery). The title is not changed. */
struct json_t *fmt_render_ctx(const struct target *t, const struct json_t *title,
                              const struct fmt_ctx *ctx, char *err, size_t errlen);

/* fmt_render_ctx() with only ctx.unpublish set. */
struct json_t *fmt_render(const struct target *t, const struct json_t *title, int unpublish,
                          char *err, size_t errlen);

/* Removals. A gwi_json_1.1 or titanos removal is the complete document as last delivered with
 * the availability emptied, so it is rendered from the full title, not from cms_tombstone()
 * (canonical's removal is rendered from cms_tombstone(), no fetch):
 *
 *   if (fmt_removal_needs_title(t)) {
 *       fetch as for a publish (cms_next_url / cms_normalize; the EncoraStream admin API and
 *       Movida serve unpublished titles too), then
 *       doc = fmt_render_ctx(t, full_title, &(struct fmt_ctx){.unpublish = 1, ...}, ...);
 *   }
 *
 * When the CMS no longer serves the title (404/410), render cms_tombstone() instead: only
 * canonical can describe a removal by id alone; gwi_json_1.1 (title, release_year, director,
 * url on every item) and titanos (type, original_title, titles) cannot, fmt_render_ctx()
 * returns NULL with "missing: ...", and there is nothing to remove that the relay can
 * describe: the delivery ends superseded with not_in_catalog, nothing sent (until the catalog
 * renders removals from what was delivered). */

/* 1 when an unpublish to t sends a removal document built from the full title
 * (gwi_json_1.1 and titanos with "unpublish": "tombstone"), 0 when it needs none (canonical's
 * removal is complete from the event; "delete" is a bare DELETE). */
int fmt_removal_needs_title(const struct target *t);

struct json_t *fmt_canonical_render(const struct target *t, const struct json_t *title,
                                    const struct fmt_ctx *ctx, char *err, size_t errlen);
struct json_t *fmt_gwi_render(const struct target *t, const struct json_t *title,
                              const struct fmt_ctx *ctx, char *err, size_t errlen);
struct json_t *fmt_titanos_render(const struct target *t, const struct json_t *title,
                                  const struct fmt_ctx *ctx, char *err, size_t errlen);

/* doc as the text json_dumps(doc, JSON_COMPACT) gives, byte for byte, written faster
 * (fmt_dump.c). Returns a malloc'd string the caller frees (its length in *len when len is
 * not NULL), or NULL out of memory, for a string that is not UTF-8 or past 64 MiB. */
char *fmt_dump(const struct json_t *doc, size_t *len);
/* The push body of doc, t's rendered document, when item is the text of its per-title part
 * (catalog_title_doc(), already written for the catalog): the same text as fmt_dump(doc), with
 * item reused instead of written again. item NULL: fmt_dump(doc). doc is left as it was.
 * Caller frees; NULL as fmt_dump(). */
char *fmt_body(const struct target *t, struct json_t *doc, const char *item, size_t *len);

#endif
