#ifndef RELAY_FEEDS_INTERNAL_H
#define RELAY_FEEDS_INTERNAL_H

/* Private to relay/feeds*.c: what the feed endpoints share (the module's state, one request
 * from its headers to its answer, credentials, the answer's log line and counters, ETags,
 * cursors, item rendering). relay/feeds.h is the module's public API. */

#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "queue/catalog.h"
#include "queue/catalog_feed.h"
#include "relay/feeds.h"

#define QUERY_LOG_MAX 512

/* The statuses relay_feed_requests_total counts, in its order. */
#define FEEDS_N_CODES 9
extern const int FEEDS_CODES[FEEDS_N_CODES];

/* Per-target counters for the metrics. */
struct tstat {
    uint64_t requests[FEEDS_N_CODES];
    int64_t live, removed, last_poll_ms; /* from Redis, a few seconds old at most */
    int known;
};

struct feeds {
    struct event_base *base;
    const struct config *cfg;
    struct rconn *rc;
    unsigned char key[CATALOG_KEY_BYTES];
    int have_key;
    struct tstat *ts; /* per target index */
    struct event *timer;
    int info_waiting;
    int migrated, migrating; /* catalog_migrate.lua done / in flight */
};

/* One feed request, from its headers to its answer. */
struct freq {
    struct feeds *f;
    struct http_req *req;
    size_t ti;
    const struct target *t;
    int watchables;
    struct catalog_query q;
    struct catalog_cursor cur;
    int64_t started;
    int64_t limit;
    char etag[40];
    /* for the log line, taken at once: req is gone once answered */
    char rid[48];
    char query[QUERY_LOG_MAX];
    /* watchables.json stream */
    int streaming, first, finished, cut;
    int inflight;           /* ranges asked of Redis, not answered yet */
    int64_t pos, hwm, upto; /* next range starts after pos; the document ends at upto */
    int64_t width;          /* seqs per range */
    size_t items, bytes;
};

struct out {
    char *p;
    size_t len, cap;
    int oom;
};

/* A growing string; oom is set (and the string left as it was) once an append fails. */
void feeds_out_add(struct out *o, const char *s, size_t n);
void feeds_out_str(struct out *o, const char *s);

/* The index of status in FEEDS_CODES, or -1. */
int feeds_code_index(int status);
void feeds_sha256(const void *p, size_t n, unsigned char out[32]);

/* 1 when req carries the target's feed credentials (compared in constant time). */
int feeds_authorized(const struct target *t, struct http_req *req);

/* Logs, counts and frees r once its answer has been sent. */
void feeds_finish(struct freq *r, int status, size_t items, size_t bytes);
/* Answers r with an error, then feeds_finish(). */
void feeds_fail(struct freq *r, int status, const char *code, const char *message);
/* 503 queue_unavailable with Retry-After: Redis could not take or answer a call. */
void feeds_fail_unavailable(struct freq *r);
/* 410 cursor_expired: removals after the cursor's position were dropped by retention. */
void feeds_fail_dropped(struct freq *r);

/* The entity tag of the answer r asks for, the catalog being at top with dropped. */
void feeds_etag_of(const struct freq *r, int64_t top, int64_t dropped, char out[40]);
int feeds_etag_matches(const char *inm, const char *etag);
/* The cursor after a page that ends at pos; base: see struct catalog_cursor. */
void feeds_next_cursor(const struct freq *r, int64_t pos, int64_t hwm, int64_t base,
                       char out[CATALOG_CURSOR_MAX]);
/* Appends one item (a removal rendered as the format's removal document). Returns 0, or -1
 * when a stored document is not JSON. */
int feeds_item_add(const struct freq *r, struct out *o, const struct catalog_item *it);

/* The request is checked and the key known: check the cursor, then answer (relay/feeds.c). */
void feeds_proceed(struct freq *r);
/* GET /feeds/{target}: reads one page and answers it (relay/feeds_page.c). */
void feeds_page_run(struct freq *r);
/* GET /feeds/{target}/watchables.json: streams the document up to top (relay/feeds_stream.c). */
void feeds_stream_start(struct freq *r, int64_t top);
/* Asks Redis for the catalogs' counts behind the metrics, unless asked already
 * (relay/feeds_metrics.c). */
void feeds_info_refresh(struct feeds *f);
/* Moves catalogs of the old layout on, a batch at a time, until none is left; nothing once
 * done or while a batch is out (relay/feeds_migrate.c). */
void feeds_migrate(struct feeds *f);

#endif
