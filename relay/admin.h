#ifndef RELAY_ADMIN_H
#define RELAY_ADMIN_H

#include "core/config.h"

/* Uses relay/http.h (struct http_req: the relay's own HTTP server, not evhttp).
 * The admin API (README, "Operating it") under /admin/. Every operation is implemented once in
 * queue/ops (shared with relayctl); this module only does HTTP, auth and JSON. */

struct admin;
struct rconn;
struct http_req;

struct admin *admin_new(const struct config *cfg, struct rconn *rc);
void admin_free(struct admin *a);

/* Handles a request whose path starts with /admin/ (http_path(req)).
 * 404 when no admin token is configured, 401 without the right bearer token. */
void admin_handle(struct admin *a, struct http_req *req);
/* The same check for admin routes served by other modules (relay/feeds): returns 1 when the
 * request may go on, else 0 with the 404 or 401 answered. */
int admin_authorize(struct admin *a, struct http_req *req);
/* Returns 1 when req's method is allowed, else 0 with a 405 (and its Allow header) answered. */
int admin_method_is(struct http_req *req, const char *allowed);

#endif
