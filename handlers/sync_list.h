#ifndef RELAY_SYNC_LIST_H
#define RELAY_SYNC_LIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "queue/sync.h"

/* The catalog listing of a sync run (README, Sync and backfill): which page to GET next and
 * what a page holds. Pure functions; handlers/sync.c does the HTTP and the Redis.
 *
 * A position is (phase, cursor, head). EncoraStream: phase "movies", then "shows" (each show
 * appends "S\t<show id>" to the run's todo list), then "todo": the todo head is either
 * "S\t<show id>" (its seasons: each appends "E\t<show id>\t<season number>") or
 * "E\t<show id>\t<n>" (that season's episodes). Movida: phase "titles", the cursor being the
 * page number. The cursor is "" on a phase's (or todo item's) first page. */

struct sync_pos {
    const char *phase; /* "" = not started */
    const char *cursor;
    const char *head; /* the todo list's first item, "" when empty */
};

/* What one page gave, and the position after it. */
struct sync_page {
    struct sync_item *items;
    size_t n_items;
    struct json_t **docs; /* Movida: each item's listed entry, for the skip (handlers/sync_render);
                           * else NULL. Owned (references). */
    char **todo;          /* items to append to the todo list */
    size_t n_todo;
    char *phase; /* position after this page */
    char *cursor;
    int pop;    /* the todo head is finished */
    long total; /* titles the CMS says this phase holds, -1 = not said */
};

/* True when the listing at this position has nothing left to GET. */
int sync_list_done(const struct source *src, const struct sync_pos *pos);

/* The skip mode of this source for sync_page.lua: "ts" (updated_at) or "doc" (fingerprint). */
const char *sync_list_mode(const struct source *src);

/* The URL of the page at pos, built from src->api_base_url and percent-encoded ids and
 * cursors (never a URL taken whole from a response). Caller frees; NULL on a malformed
 * position or allocation failure. */
char *sync_list_url(const struct source *src, const struct sync_pos *pos);

/* Parses the page GET at pos answered (body of len bytes). start_ms is the run's start, the
 * order of titles whose CMS gives no updated_at. Returns 0 with out filled (free with
 * sync_page_clear()), or -1 with a message in err when the page is not a listing page (no
 * data/entries array, not JSON, a next link outside the API): the caller retries it. */
int sync_list_parse(const struct source *src, const struct sync_pos *pos, const char *body,
                    size_t len, int64_t start_ms, struct sync_page *out, char *err, size_t errlen);
void sync_page_clear(struct sync_page *p);

#endif
