#ifndef RELAY_SYNC_RUN_H
#define RELAY_SYNC_RUN_H

#include "core/config.h"

/* The catalog sync runner inside relay-worker (README, Sync and backfill): starts the runs
 * that sources.*.sync.every_s schedules, takes the lease of a running run that no live worker
 * holds (a new one, or a dead worker's, from its checkpoint), lists the CMS page by page and
 * hands each page to sync_page.lua, then ends the run with sync_finish.lua. One run at a time
 * per worker; its own Redis connection and HTTP client on the worker's event loop, so the
 * delivery loop never waits for a listing. */

struct sync_run;
struct event_base;
struct srclimit;

/* Returns a runner on base (cfg outlives it), or NULL on allocation failure. Its listing pages
 * take slots of sl (the worker's CMS request limits, not owned; freed after the runner), ahead
 * of the worker's fetches. */
struct sync_run *sync_run_new(const struct config *cfg, struct event_base *base,
                              struct srclimit *sl);
/* Hands the run it holds back (lease cleared: another worker continues at once) and frees. */
void sync_run_free(struct sync_run *sr);
/* Called from the worker's tick: cheap when there is nothing to do (looks at Redis at most
 * every SCAN_EVERY_MS). */
void sync_run_tick(struct sync_run *sr);

/* True when a stream entry's "targets" field (comma-separated; NULL or "" = every target)
 * lets target name have it: a sync's publish goes only to the targets it was listed for. */
int sync_run_entry_wants(const char *targets, const char *name);

#endif
