#ifndef RELAY_SYNC_RENDER_H
#define RELAY_SYNC_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Movida's sync skip (README, Sync and backfill): Movida gives no updated_at, so a sync run
 * compares what a target would receive for a listed title with what its catalog holds. The
 * listing carries each title with its metadata expanded, so the runner (handlers/sync_run.c)
 * normalizes and renders it exactly as a delivery would (handlers/cms, handlers/fmt) and
 * hands sync_page.lua the SHA-1 of the document the target's catalog would then store; the
 * script skips the target when its catalog's document has that digest. Pure functions, and
 * the run's cache of series title groups (the one document besides the title that a Movida
 * episode's render reads, fetched once per group, not per title). */

struct json_t;
struct sync_render_groups;

/* The URL of the title group the listed title's render needs (the one a delivery fetches
 * second), or NULL when none is. Caller frees. */
char *sync_render_group_url(const struct source *src, const struct json_t *listed);

/* A cache of title groups by URL, at most max entries (when full, the oldest is dropped).
 * NULL on allocation failure; _free(NULL) is a no-op. */
struct sync_render_groups *sync_render_groups_new(size_t max);
void sync_render_groups_free(struct sync_render_groups *g);
/* 1 when url is cached, with *doc the group (borrowed; NULL = the CMS has none), else 0. */
int sync_render_groups_get(const struct sync_render_groups *g, const char *url,
                           const struct json_t **doc);
/* Caches doc (a reference is taken; NULL = the CMS has none) under url. 0, or -1 out of
 * memory (nothing cached). */
int sync_render_groups_put(struct sync_render_groups *g, const char *url, struct json_t *doc);

/* The canonical title of a listed Movida title (group: its title group, or NULL), as a
 * delivery of content_id normalizes it. New reference, or NULL when it does not normalize
 * (then the title is queued and the delivery reports why). */
struct json_t *sync_render_title(const struct source *src, const char *content_id,
                                 const struct json_t *listed, const struct json_t *group);

enum sync_render_result {
    SYNC_RENDER_NONE = -1,    /* cannot tell (no render): queue it */
    SYNC_RENDER_DIGEST = 0,   /* digest filled */
    SYNC_RENDER_NOT_TAKEN = 1 /* the target does not take this content type: nothing to send */
};
/* What target t would store in its catalog for title if delivered now with the event time
 * event_at_ms and the title's first sighting first_seen_ms (the stand-ins a render uses for
 * the updated_at and created_at Movida does not give; <= 0 = unknown): the hex SHA-1 of that
 * document, as queue/lua/complete.lua stores it, into digest. */
enum sync_render_result sync_render_digest(const struct target *t, const struct source *src,
                                           const struct json_t *title, int64_t event_at_ms,
                                           int64_t first_seen_ms, char digest[41]);

/* One listed title's entry for sync_page.lua: per target tg[k] (NULL: not configured), comma-
 * separated, the digest of what it would receive; "-" when it does not take the title; ""
 * when unknown (title NULL: it did not normalize) or when its catalog holds no live entry to
 * compare with (at[k] <= 0). Caller frees; NULL when out of memory. */
char *sync_render_digests(const struct source *src, const struct target *const *tg, size_t nt,
                          const struct json_t *title, const int64_t *at, const int64_t *first);

#endif
