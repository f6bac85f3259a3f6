#ifndef RELAY_WORKER_H
#define RELAY_WORKER_H

#include "core/config.h"

/* The delivery engine of relay-worker (README "Delivery", docs/redis.md): takes events from
 * the Redis stream, fans them out into deliveries, claims due deliveries of every target,
 * fetches the title from its source, renders and pushes it, and records each outcome. One
 * libevent loop per process; Redis and HTTP are both asynchronous on it, so a stalled Redis
 * delays only Redis work (handlers/worker_internal.h names the parts). */

struct worker;

/* Returns a worker for cfg (which must outlive it), or NULL on allocation failure. Caller
 * frees with worker_free(). curl_global_init() must have run. */
struct worker *worker_new(const struct config *cfg);
void worker_free(struct worker *w);

/* Runs until SIGTERM/SIGINT, then stops taking work, finishes what it holds (at most
 * drain_ms, then hands the rest back) and returns 0; returns -1 when the loop cannot run. */
int worker_run(struct worker *w, long drain_ms);

#endif
