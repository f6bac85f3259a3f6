#ifndef RELAY_METRICS_H
#define RELAY_METRICS_H

#include <stdint.h>

#include "core/config.h"

/* Uses relay/http.h (struct http_req: the relay's own HTTP server, not evhttp).
 * Prometheus metrics (README, "Operating it"): ingest counters kept in this process, queue depth
 * and worker-side delivery metrics read from Redis at scrape time. */

struct metrics;
struct rconn;
struct http_req;

/* Caller frees with metrics_free(). cfg and rc must outlive it. */
struct metrics *metrics_new(const struct config *cfg, struct rconn *rc);
void metrics_free(struct metrics *m);

/* outcome: queued, duplicate, ignored, rejected. */
void metrics_webhook(struct metrics *m, const char *source, const char *outcome);
/* A rejected webhook: also counts relay_webhooks_total{outcome="rejected"}. code is the
 * error code (signature_invalid, ...). source may be an unknown name: it is escaped. */
void metrics_rejection(struct metrics *m, const char *source, const char *code);

/* A request of a configured source whose signature verified (the last-received gauge). */
void metrics_verified(struct metrics *m, const char *source, int64_t now_ms);
/* Adds a section another module renders (Prometheus text, malloc'd, NULL = none) at the end
 * of every scrape. arg must outlive m. */
void metrics_add_section(struct metrics *m, char *(*text)(void *arg), void *arg);

/* Serves GET /metrics (text/plain; version=0.0.4); answers asynchronously. */
void metrics_handle(struct metrics *m, struct http_req *req);

#endif
