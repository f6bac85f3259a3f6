#ifndef RELAY_FETCHES_H
#define RELAY_FETCHES_H

#include <stdint.h>

#include "core/config.h"
#include "handlers/hclient.h"

/* Shared source fetches: the deliveries of one event to several targets all need the same
 * CMS documents at about the same moment. A GET started under a key that is already in flight
 * joins that request instead of sending its own, and every waiter's callback gets the same
 * response. Nothing is cached after a response: the key must include the event, so a later
 * event never gets a document fetched before it happened (the partner would end up with
 * stale metadata).
 *
 * Every request first takes a slot of its source's limits (queue/srclimit:
 * sources.*.api.max_in_flight and rate_per_s across all workers); one waiting for its slot is
 * joined like one in flight. */

struct fetches;
struct fetch_wait;
struct srclimit;

/* res->error of a request that never went out: its source's limits kept it waiting longer
 * than the wait_ms given (status 0, no body). */
#define FETCHES_NOT_STARTED (-1)

/* sl: the limiter requests go through (not owned), NULL = no limits. */
struct fetches *fetches_new(struct hclient *hc, struct srclimit *sl);
/* This table's requests take the next free slot of their source, ahead of other tables'
 * requests waiting in the same limiter (the sync listing's pages, ahead of the fetches). */
void fetches_first(struct fetches *f);
/* Frees the table; requests still in flight are cancelled without calling back. */
void fetches_free(struct fetches *f);

/* Starts req (a GET to src's CMS) under key once src's limits give it a slot, or joins the
 * request waiting or in flight under the same key. wait_ms > 0 bounds the wait for the slot
 * (then cb gets error FETCHES_NOT_STARTED); 0 waits as long as it takes. req's url is copied;
 * its method, headers and auth must stay valid until cb. cb gets the response exactly once
 * unless the wait is cancelled. Returns the wait, or NULL when the request could not be set up
 * (cb is then not called). */
struct fetch_wait *fetches_get(struct fetches *f, const struct source *src, int64_t wait_ms,
                               const char *key, const struct hclient_request *req, hclient_cb cb,
                               void *arg);
/* Stops waiting; the request itself is cancelled when nobody else waits for it. */
void fetches_cancel(struct fetches *f, struct fetch_wait *w);

/* Requests started and requests joined since fetches_new (for tests and logs). */
void fetches_counts(const struct fetches *f, size_t *started, size_t *joined);

#endif
