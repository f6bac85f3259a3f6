#ifndef RELAY_PUSH_H
#define RELAY_PUSH_H

#include <stddef.h>

#include "core/config.h"

/* What a push to a target looks like on the wire (README, "Delivery"): its URL and headers. The
 * target's auth is applied by hclient from target->auth. */

/* t->url with {id}, {type} and {source} replaced, percent-encoded. Returns a malloc'd string
 * (caller frees), or NULL on allocation failure. NULL values expand to "". */
char *push_url(const struct target *t, const char *id, const char *type, const char *source);

struct push_meta {
    const char *delivery_id;
    const char *event_id;
    const char *event_type;
    int attempt;
};

#define PUSH_MAX_HEADERS 8

/* The fixed headers of one push, as "Name: value" strings (all in buf). */
struct push_headers {
    char *buf;
    const char *list[PUSH_MAX_HEADERS + 1]; /* NULL-terminated, for hclient_request.headers */
};

/* Builds Content-Type, Idempotency-Key, X-Relay-Event-Id, X-Relay-Event-Type,
 * X-Relay-Delivery-Attempt, User-Agent and (with t->signing_secret) X-Relay-Signature-256
 * over body. Returns 0, or -1 on allocation failure (h is then cleared). Release with
 * push_headers_clear(). */
int push_headers_build(struct push_headers *h, const struct target *t, const struct push_meta *m,
                       const char *body, size_t len);
void push_headers_clear(struct push_headers *h);

#endif
