#ifndef RELAY_ALERT_H
#define RELAY_ALERT_H

#include "core/config.h"

/* relay-worker's alerting (README "Alerts"): a timer on the worker's loop that, once a second,
 * runs one Redis script (queue/alerts: conditions, the outbox, dedupe and grouping, leases)
 * over its own asynchronous connection, then POSTs the messages it was given to the
 * configured receivers with its own HTTP client, at most ALERT_IN_FLIGHT at a time per
 * receiver, retried with backoff. Nothing here waits: a slow or unreachable receiver holds up
 * only its own few messages, never a delivery. */

struct alert;
struct event_base;

/* Returns the alerting of cfg on base (inert when cfg has no alerts), or NULL when out of
 * memory. Caller frees with alert_free() (which drops what was not sent: its lease expires
 * and another worker sends it). curl_global_init() must have run. */
struct alert *alert_new(const struct config *cfg, struct event_base *base);
void alert_free(struct alert *a);

/* Starts the timer. Returns 0, or -1 when the loop refused it. */
int alert_start(struct alert *a);

#endif
