#ifndef RELAY_WORKER_H
#define RELAY_WORKER_H

#include "core/config.h"

/* The delivery engine of relay-worker (CONTRACT §5, docs/redis.md): takes events from the
 * Redis stream, fans them out into deliveries, claims due deliveries per target, fetches the
 * title from its source, renders and pushes it, and records each outcome. One libevent loop
 * per process; Redis calls are blocking (loopback, sub-millisecond), HTTP is asynchronous. */

struct worker;

/* Returns a worker for cfg (which must outlive it), or NULL on allocation failure. Caller
 * frees with worker_free(). curl_global_init() must have run. */
struct worker *worker_new(const struct config *cfg);
void worker_free(struct worker *w);

/* Runs until SIGTERM/SIGINT, then stops taking work, finishes what it holds (at most
 * drain_ms, then hands the rest back) and returns 0; returns -1 when the loop cannot run. */
int worker_run(struct worker *w, long drain_ms);

/* The stable delivery id: "dlv_" + first 24 hex of SHA-256(source \0 event_id \0 target). */
void worker_delivery_id(const char *source, const char *event_id, const char *target, char out[29]);

#endif
