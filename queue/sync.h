#ifndef RELAY_SYNC_H
#define RELAY_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Catalog sync runs in Redis (docs/redis.md, Sync): the argv of the queue/lua/sync_*.lua
 * scripts and the decoding of their replies. No I/O: the worker (handlers/sync.c), the relay's
 * admin API and relayctl run the scripts on their own connections. Every builder fills a
 * struct sync_args, whose strings it owns; nkeys is always 0. */

struct redisReply;
struct json_t;

struct sync_args {
    char **argv;
    size_t *lens;
    int argc;
    int cap;
    int oom; /* an append failed: the call must not be run */
};

void sync_args_init(struct sync_args *a);
void sync_args_clear(struct sync_args *a);
/* Appends one string (copied); on allocation failure sets a->oom. */
void sync_args_add(struct sync_args *a, const char *s);
void sync_args_addn(struct sync_args *a, const char *s, size_t n);
void sync_args_addi(struct sync_args *a, int64_t v);

/* A fresh run id, "syn_" + 20 hex characters (random): out has room for 25 bytes. */
void sync_new_id(char out[25]);

/* What POST /admin/sources/{name}/sync and relayctl sync ask for. */
struct sync_request {
    const char *source;
    const char *const *targets; /* NULL = every target that takes the source */
    size_t n_targets;
    int full;
    int dry_run;
    /* owned after sync_request_parse(); freed by sync_request_clear() */
    struct json_t *doc;
    const char **names;
};

/* Why a request is refused: HTTP status (404 unknown_source, 422 invalid_request), a stable
 * code and an operator message. */
struct sync_error {
    int status;
    char code[32];
    char message[256];
};

/* Validates req against cfg and returns the run's targets as a comma-separated list (caller
 * frees), or NULL with err filled. A named target must exist and take the source. */
char *sync_request_targets(const struct config *cfg, const struct sync_request *req,
                           struct sync_error *err);

/* Parses the optional JSON body {"targets": [...], "full": bool, "dry_run": bool} into req
 * (all but source; body may be empty). Returns 0, or -1 with err filled (400 invalid_json,
 * 422 invalid_request). Either way the caller ends with sync_request_clear(). */
int sync_request_parse(const char *body, size_t len, struct sync_request *req,
                       struct sync_error *err);
void sync_request_clear(struct sync_request *req);

/* sync_start.lua: due_ms 0 = now (operator), > 0 = only when the last run started that long
 * ago (the schedule). */
void sync_args_start(struct sync_args *a, const struct config *cfg, const char *id,
                     const char *source, const char *targets, int full, int dry_run,
                     int64_t due_ms);
/* The reply of sync_start.lua: 1 created, 0 running (*other gets the running id, copied into
 * other_len bytes), 2 not due, -1 malformed or an error reply. */
int sync_start_result(const struct redisReply *r, char *other, size_t other_len);

/* sync_claim.lua and sync_beat.lua (both also end a run whose cancel was requested, hence
 * retention_s). */
void sync_args_claim(struct sync_args *a, const struct config *cfg, const char *id,
                     const char *token, int64_t lease_ms);
void sync_args_beat(struct sync_args *a, const struct config *cfg, const char *id,
                    const char *token, int64_t lease_ms, int errors, const char *last_error);
void sync_args_release(struct sync_args *a, const struct config *cfg, const char *id,
                       const char *token);
/* sync_cancel.lua: an operator cancels run id. */
void sync_args_cancel(struct sync_args *a, const struct config *cfg, const char *id);
enum sync_cancel_verdict {
    SYNC_CANCEL_ERROR = -1, /* malformed or an error reply */
    SYNC_CANCELLED,         /* no worker held it: it ended cancelled now */
    SYNC_CANCELLING,        /* its worker ends it cancelled at its next page or beat */
    SYNC_CANCEL_ENDED,      /* it had already ended (the record says how): nothing done */
    SYNC_CANCEL_UNKNOWN,    /* no such run */
};
/* Decodes sync_cancel.lua's reply; *record is set to the run's flat record (inside r, for
 * sync_record_json()) for every verdict but UNKNOWN and ERROR. */
enum sync_cancel_verdict sync_cancel_result(const struct redisReply *r,
                                            const struct redisReply **record);
/* sync_finish.lua; outcome "done" or "failed" (a run whose cancel was requested ends
 * "cancelled" whatever the outcome, removing nothing). */
void sync_args_finish(struct sync_args *a, const struct config *cfg, const struct source *src,
                      const char *id, const char *token, const char *outcome, const char *code,
                      const char *message);
/* sync_records.lua: one run (id) or the newest limit runs (id NULL), of one source or all. */
void sync_args_records(struct sync_args *a, const struct config *cfg, const char *id,
                       const char *source, int limit);

/* One listed title, as sync_page.lua takes it. */
struct sync_item {
    char *content_id;
    char *content_type; /* "" when the CMS listing does not say (movida) */
    char *show_id;      /* "" unless an episode */
    int season_number;  /* -1 unless an episode */
    int episode_number; /* -1 unless an episode */
    int64_t order_ms;   /* the CMS's updated_at, or the run's start */
};

/* sync_page.lua for one listed page: mode "ts" or "doc"; listed is the phase the page was
 * listed in, total what the CMS says that phase holds (< 0 = unknown); phase and cursor the
 * position after the page. digests (mode "doc"; NULL = none known): per item, per run target,
 * comma-separated, the hex SHA-1 of the catalog document the target would get ("" = unknown,
 * "-" = the target does not take it); an item's NULL = none known. */
void sync_args_page(struct sync_args *a, const struct config *cfg, const char *id,
                    const char *token, const char *mode, const char *listed, const char *phase,
                    const char *cursor, int pop, long total, char *const *todo, size_t n_todo,
                    const struct sync_item *items, size_t n_items, char *const *digests);

/* sync_peek.lua: what the run's targets' catalogs hold of a listed page's titles (Movida's
 * skip); the reply is, per item and per target, two strings: the catalog's order_ts and the
 * title's first_seen ("" when not live in that catalog). */
void sync_args_peek(struct sync_args *a, const struct config *cfg, const char *source,
                    const char *targets, const struct sync_item *items, size_t n_items);

/* ---- the runner's replies (handlers/sync_run.c) ----------------------------------------- */

/* The reply is an error answer: its text, else NULL. */
const char *sync_reply_error(const struct redisReply *r);

/* The runs waiting for a worker (P:sync:active): a plain command, argv into a. */
void sync_args_active(struct sync_args *a, const struct config *cfg);
/* Copies the run ids of its reply (ids of 32 bytes or more are skipped) into *ids (*n of
 * them; caller frees each and the array). Returns 0, or -1 when the reply is not a list or
 * out of memory (nothing allocated). */
int sync_active_ids(const struct redisReply *r, char ***ids, size_t *n);

/* sync_claim.lua's answer when the lease was taken; strings point into the reply. */
struct sync_claimed {
    const char *source, *targets, *phase, *cursor, *head;
    int full;
    int64_t started_ms;
    long pages;
    int takeover; /* another worker held it (its lease had expired): continued from its checkpoint
                   */
};
/* Returns 0 when the run is ours now (c filled), -1 otherwise (gone, held, malformed). */
int sync_claim_result(const struct redisReply *r, struct sync_claimed *c);

/* sync_beat.lua's answer. */
enum sync_beat_verdict {
    SYNC_BEAT_ERROR = -1, /* malformed */
    SYNC_BEAT_LOST = 0,   /* the lease is not ours any more */
    SYNC_BEAT_OK = 1,
    SYNC_BEAT_CANCELLED = 2, /* an operator's cancel: the beat ended the run */
};
enum sync_beat_verdict sync_beat_result(const struct redisReply *r);

/* sync_page.lua's answer; on SYNC_PAGE_OK *head is the todo list's head (into the reply). */
enum sync_page_verdict { SYNC_PAGE_LOST = 0, SYNC_PAGE_OK, SYNC_PAGE_CANCELLED };
enum sync_page_verdict sync_page_result(const struct redisReply *r, const char **head);

/* sync_finish.lua's answer: ok 0 when the lease was lost before the end; else the state the
 * run ended in ("done", "failed", "cancelled"), its error code and the titles removed
 * (strings into the reply). */
struct sync_finished {
    int ok;
    const char *state, *code;
    long long removed;
};
void sync_finish_result(const struct redisReply *r, struct sync_finished *f);

/* sync_peek.lua's answer for a page of n_items and nt targets: 0 when it has that shape, -1
 * otherwise. sync_peek_get() then gives item i's order_ts and first_seen at target k (0 when
 * not live in that catalog). */
int sync_peek_check(const struct redisReply *r, size_t n_items, size_t nt);
void sync_peek_get(const struct redisReply *r, size_t nt, size_t i, size_t k, int64_t *order_ts,
                   int64_t *first_seen);

/* One run record as the admin API and relayctl show it (times RFC 3339, counts as numbers,
 * error a code or null beside error_message, targets an array), from a flat HGETALL reply. Returns
 * a new reference, or NULL when r is not a record. */
struct json_t *sync_record_json(const struct redisReply *r);
/* The records of a sync_records.lua reply as a JSON array (new reference; NULL on a malformed
 * reply). */
struct json_t *sync_records_json(const struct redisReply *r);

#endif
