#ifndef RELAY_CATALOG_H
#define RELAY_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* The catalog of a target (docs/redis.md, "Catalog") and the pull feeds served from it: the
 * transport-agnostic part, like queue/ops. Builds the argv of the catalog_*.lua scripts,
 * decodes their replies, makes and checks feed cursors, parses feed query strings and turns a
 * stored per-title document into the format's removal document. No I/O here. */

struct redisReply;
struct json_t;

/* ---- cursors ---------------------------------------------------------------------------- */

/* A position in a target's change sequence. pos: the last change the partner has seen. hwm:
 * while a snapshot is being paged, the catalog's last change when it began (removals up to
 * it are left out: the partner never had those titles); 0 once past it. base: where what the
 * partner holds was last exactly known: pos after a page that ended with has_more false (it
 * then holds every title as it was at base), the snapshot's hwm while a snapshot's last pages
 * run, the base of the cursor it came from otherwise; -1 unknown (a cursor from an older
 * relay). A filtered feed uses it to tell which titles the partner may hold that have left
 * the filter. issued_s: when the relay gave the cursor out. */
struct catalog_cursor {
    int64_t pos, hwm, base, issued_s;
};

#define CATALOG_KEY_BYTES 32   /* the per-deployment cursor key (P:cat:key, hex in Redis) */
#define CATALOG_CURSOR_MAX 112 /* longest cursor text, NUL included */

/* Writes the cursor's text ("2.pos.hwm.base.issued.mac", or "1.pos.hwm.issued.mac" when base
 * is unknown; the MAC an HMAC-SHA256 over target and the numbers) into out. Never fails. */
void catalog_cursor_encode(const unsigned char key[CATALOG_KEY_BYTES], const char *target,
                           const struct catalog_cursor *c, char out[CATALOG_CURSOR_MAX]);
/* Parses and authenticates a cursor given for target. Returns 0, or -1 when it is malformed,
 * truncated, forged or was made for another target (constant-time MAC compare). */
int catalog_cursor_decode(const unsigned char key[CATALOG_KEY_BYTES], const char *target,
                          const char *text, struct catalog_cursor *out);

/* ---- feed query strings ----------------------------------------------------------------- */

enum catalog_query_kind { CATALOG_QUERY_FEED = 0, CATALOG_QUERY_WATCHABLES };

#define CATALOG_LIMIT_MAX 1000

/* A feed request's parameters, validated. Strings point into the struct's own storage. */
struct catalog_query {
    int64_t limit;    /* 0 = not given */
    char cursor[256]; /* "" = not given (cursor= or, for watchables.json, since=) */
    int has_cursor;
    char types[64]; /* comma-separated canonical list, "" = all */
    char market[3]; /* "" = all */
};

/* Parses a raw query string (NULL = none) of a feed request. skip_param, when not NULL, is a
 * parameter accepted and ignored (the feed's api_key when it goes in the query). Returns 0, or
 * -1 with the offending parameter's name (truncated to badcap) in bad: an unknown parameter,
 * one given twice, or a bad value (limit outside 1..1000, a content type not movie, show,
 * season or episode, a market not two letters). */
int catalog_query_parse(const char *query, enum catalog_query_kind kind, const char *skip_param,
                        struct catalog_query *q, char *bad, size_t badcap);

/* The query string with the value of param (an api_key) replaced by "***", for logs, in out.
 * Anything that does not fit is cut. */
void catalog_query_mask(const char *query, const char *param, char *out, size_t cap);

/* ---- catalog_page.lua ------------------------------------------------------------------- */

struct catalog_page_req {
    const char *prefix, *target;
    int64_t after;    /* cursor pos, 0 = start */
    int64_t hwm;      /* -1 = a new snapshot (the script takes the catalog's last change) */
    int64_t upto;     /* highest seq to return, -1 = no bound */
    int64_t base;     /* the cursor's base, -1 = unknown or none */
    int64_t limit;    /* 1..1000 */
    int64_t scan_max; /* entries looked at, at most */
    const char *types, *market;
    int64_t retention_s;
};

#define CATALOG_PAGE_ARGC 11

/* Fills argv with the script's arguments (nkeys 0), formatting numbers into buf. */
void catalog_page_args(const struct catalog_page_req *r, char buf[CATALOG_PAGE_ARGC][24],
                       const char *argv[CATALOG_PAGE_ARGC]);

struct catalog_item {
    int removed;
    const char *doc; /* into the reply */
    size_t len;
};

struct catalog_page {
    int expired;
    int64_t pos, hwm, top, dropped;
    int has_more;
    size_t n;
    struct catalog_item *items; /* n of them; malloc'd, caller frees; strings live in reply */
};

/* Decodes the script's reply. Returns 0, or -1 when it is not the script's shape. */
int catalog_page_decode(const struct redisReply *reply, struct catalog_page *out);

/* ---- documents -------------------------------------------------------------------------- */

/* The format's removal document for a stored per-title document (JSON text): gwi_json_1.1 the
 * item with "available_formats": [], titanos the object with "status": "removed" and an empty
 * availability, canonical the title with "status": "unpublished". Returns a new reference, or
 * NULL when doc is not a JSON object. */
struct json_t *catalog_removal_doc(enum target_format format, const char *doc, size_t len);

/* The per-title document of a rendered push document: gwi_json_1.1 its one item, otherwise the
 * document itself. Returns a borrowed reference into rendered, or NULL. */
const struct json_t *catalog_title_doc(enum target_format format, const struct json_t *rendered);

/* The markets a canonical title is available in, as stored in the catalog for the market
 * filter: "" (everywhere), "+US,GB" (only these) or "-US,GB" (everywhere but these). Writes
 * at most cap bytes; a list that does not fit is cut at a whole code. */
void catalog_markets(const struct json_t *title, char *out, size_t cap);

/* The stored form of an entry (what C:docs holds, what catalog_page.lua and catalog_doc.lua
 * return): 'L' (live) or 'R' (removed), the entry's seq, ':', then the document. Fills it
 * (doc pointing into s) and seq. Returns 0, or -1 when s is not of that form. */
int catalog_stored_parse(const char *s, size_t len, struct catalog_item *it, int64_t *seq);

/* catalog_doc.lua's argv (nkeys 0): the stored form of one title's entry, or nil. */
#define CATALOG_DOC_ARGC 4
void catalog_doc_args(const char *prefix, const char *target, const char *source,
                      const char *content_id, const char *argv[CATALOG_DOC_ARGC]);
enum catalog_doc_state {
    CATALOG_DOC_ERROR = -1,
    CATALOG_DOC_ABSENT,
    CATALOG_DOC_LIVE,
    CATALOG_DOC_REMOVED
};
/* Decodes catalog_doc.lua's reply; for LIVE and REMOVED, doc and len give the document (into
 * reply). */
enum catalog_doc_state catalog_doc_decode(const struct redisReply *reply, const char **doc,
                                          size_t *len);

/* ---- operators: catalog_info.lua, catalog_list.lua ---------------------------------- */

/* True when target t serves a feed (a feed target, or a push target with feed). */
int catalog_has_feed(const struct target *t);

/* catalog_info.lua's argv (nkeys 0) for every target with a feed: at most 1 + n_targets
 * entries into argv. Returns argc (1 when no target has a feed). */
int catalog_info_args(const struct config *cfg, const char **argv);
/* {"feeds": {"<target>": {"format", "delivery", "live", "removed", "last_poll_at",
 * "last_poll_status", "lag"}}} from its reply. Returns a new reference, or NULL when the reply
 * is not the script's shape. */
struct json_t *catalog_info_json(const struct config *cfg, const struct redisReply *reply);

/* GET /admin/catalog and relayctl catalog: everything as the operator gave it (NULL or "" =
 * not given). */
struct catalog_list_params {
    const char *target, *status, *source, *limit, *cursor;
};
#define CATALOG_LIST_ARGC 7
#define CATALOG_LIST_DEFAULT 50
#define CATALOG_LIST_MAX 500
/* Validates p and fills argv (nkeys 0; numbers formatted into buf). Returns 0, or -1 with
 * status (400 or 404), code (invalid_parameter, invalid_cursor, unknown_target) and message. */
int catalog_list_args(const struct config *cfg, const struct catalog_list_params *p,
                      char buf[2][24], const char *argv[CATALOG_LIST_ARGC], int *status,
                      const char **code, char *message, size_t msgcap);
/* {"data": [{"source", "content_id", "content_type", "status", "updated_at", "delivered_at",
 * "delivery_id", "seq"}...], "meta": {"next_cursor": "…"|null}} from its reply; NULL when the
 * reply is not the script's shape. */
struct json_t *catalog_list_json(const struct redisReply *reply);

/* relayctl: runs catalog_info.lua / catalog_list.lua over a blocking connection. Returns the
 * document (caller owns it), or NULL with an operator's message in err (and for the list,
 * *status 400 for bad parameters, 404 for an unknown target, 503 for Redis). */
struct rsync;
struct json_t *catalog_run_info(struct rsync *rs, const struct config *cfg, char *err,
                                size_t errcap);
struct json_t *catalog_run_list(struct rsync *rs, const struct config *cfg,
                                const struct catalog_list_params *p, int *status, char *err,
                                size_t errcap);

#endif
