#ifndef RELAY_SRCLIMIT_H
#define RELAY_SRCLIMIT_H

#include <stdint.h>

#include "core/config.h"

/* The limits on the requests all workers together make to one source CMS
 * (sources.*.api.max_in_flight, default 8, and api.rate_per_s), for title fetches and sync
 * listings alike. The shared state is in Redis (srclimit.lua: a slot per request in flight,
 * with an expiry so that a dead worker's slots lapse, and a counter per rate window); asking
 * never blocks the loop: a request that cannot start now waits here, in memory, and is asked
 * for again when one of this process's requests ends, at the rate window's end, or on a short
 * poll for slots freed elsewhere. The asks and releases of one loop pass, per source, go to
 * Redis in one script call.
 *
 *   struct srclimit_slot *s = srclimit_acquire(sl, src, wait_ms, on_slot, arg);
 *   ... on_slot(s, arg): s granted (start the request), or NULL: waited wait_ms in vain
 *   srclimit_drop(s) when the request ends (or to stop waiting)
 */

struct srclimit;
struct srclimit_slot;
struct event_base;
struct rconn;

/* Called once per acquire, from the event loop, never from within srclimit_acquire: slot is
 * the granted slot (drop it when the request ends), or NULL when wait_ms passed first (the
 * wait is over and freed). */
typedef void (*srclimit_cb)(struct srclimit_slot *slot, void *arg);

/* A limiter speaking over rc (not owned) on base. owner names the process in slot tokens.
 * NULL on allocation failure. */
struct srclimit *srclimit_new(struct event_base *base, struct rconn *rc, const struct config *cfg,
                              const char *owner);
/* Frees it. Waits still queued are dropped without a callback; the slots not yet released
 * (drop them first) are handed back with one short blocking call, else they lapse. */
void srclimit_free(struct srclimit *sl);

/* Asks for a slot of src's CMS; wait_ms > 0 bounds the wait (0 = until granted). first: ahead
 * of the requests already waiting here (a sync's listing page, which the fetches it feeds
 * would otherwise keep waiting). Returns the wait, or NULL on allocation failure (cb is then
 * not called). */
struct srclimit_slot *srclimit_acquire(struct srclimit *sl, const struct source *src,
                                       int64_t wait_ms, int first, srclimit_cb cb, void *arg);
/* Stops waiting (cb is not called), or releases the granted slot. */
void srclimit_drop(struct srclimit_slot *slot);

/* Requests waiting for a slot and slots held, for logs and tests. */
void srclimit_counts(const struct srclimit *sl, size_t *waiting, size_t *held);

#endif
