#ifndef RELAY_FEEDS_H
#define RELAY_FEEDS_H

#include "core/config.h"

/* Uses relay/http.h (struct http_req: the relay's own HTTP server).
 * Pull feeds on the public listener: GET /feeds/{target} (paged, cursors, filters, ETag) and
 * GET /feeds/{target}/watchables.json (one GoWatchIt document, streamed), with the partner's
 * credentials from targets.*.feed.auth; and the operators' GET /admin/feeds and
 * GET /admin/catalog/{target}. Everything it reads is in Redis (queue/catalog,
 * catalog_*.lua); this module does HTTP, credentials, logs and metrics. */

struct feeds;
struct rconn;
struct http_req;
struct event_base;

/* Caller frees with feeds_free() after the Redis connection (whose pending callbacks still
 * answer requests). cfg and rc must outlive it. NULL on allocation failure. */
struct feeds *feeds_new(struct event_base *base, const struct config *cfg, struct rconn *rc);
void feeds_free(struct feeds *f);

/* A request whose path starts with /feeds/. 404 not_found for a target without a feed. */
void feeds_handle(struct feeds *f, struct http_req *req);

/* GET /admin/feeds and GET /admin/catalog/{target}, the caller having checked the admin token.
 * Returns 1 when path is one of them (answered), else 0. */
int feeds_admin_handle(struct feeds *f, struct http_req *req);

/* The feed metrics in Prometheus text format (relay_feed_requests_total{target,code},
 * relay_feed_items{target,status}, relay_feed_last_poll_timestamp_seconds{target}). Returns a
 * malloc'd string the caller frees, or NULL. */
char *feeds_metrics_text(void *feeds);

#endif
