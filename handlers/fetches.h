#ifndef RELAY_FETCHES_H
#define RELAY_FETCHES_H

#include "handlers/hclient.h"

/* Shared source fetches: the deliveries of one event to several targets all need the same
 * CMS documents at about the same moment. A GET started under a key that is already in flight
 * joins that request instead of sending its own, and every waiter's callback gets the same
 * response. Nothing is cached after a response: the key must include the event, so a later
 * event never gets a document fetched before it happened (the partner would end up with
 * stale metadata). */

struct fetches;
struct fetch_wait;

struct fetches *fetches_new(struct hclient *hc);
/* Frees the table; requests still in flight are cancelled without calling back. */
void fetches_free(struct fetches *f);

/* Starts req (a GET) under key, or joins the request in flight under the same key. cb gets
 * the response exactly once unless the wait is cancelled. Returns the wait, or NULL when the
 * request could not be started (cb is then not called). */
struct fetch_wait *fetches_get(struct fetches *f, const char *key,
                               const struct hclient_request *req, hclient_cb cb, void *arg);
/* Stops waiting; the request itself is cancelled when nobody else waits for it. */
void fetches_cancel(struct fetches *f, struct fetch_wait *w);

/* Requests started and requests joined since fetches_new (for tests and logs). */
void fetches_counts(const struct fetches *f, size_t *started, size_t *joined);

#endif
