#ifndef RELAY_INGEST_H
#define RELAY_INGEST_H

#include "core/config.h"

/* POST /webhooks/{source} (README, "Endpoints"): verify, validate, deduplicate and enqueue. */

struct ingest;
struct event_base;
struct rconn;
struct metrics;
struct http_req;

/* Caller frees with ingest_free(); cfg, rc and m must outlive it. NULL when out of memory. */
struct ingest *ingest_new(struct event_base *base, const struct config *cfg, struct rconn *rc,
                          struct metrics *m);
void ingest_free(struct ingest *in);

/* Rows 1-2 of §3 (unknown source, method), before the body is read. Returns 1 when it
 * answered. */
int ingest_on_headers(struct ingest *in, struct http_req *req);
/* Answers a request to /webhooks/ that the server refused itself (413, 400, 408, ...): counted
 * and logged like every rejection. */
void ingest_reject(struct ingest *in, struct http_req *req, int status, const char *code,
                   const char *message);
/* Rows 4-9, with the body read (row 3, the size cap, is the server's). */
void ingest_handle(struct ingest *in, struct http_req *req);

#endif
