#ifndef RELAY_ADMIN_SYNC_H
#define RELAY_ADMIN_SYNC_H

#include "core/config.h"

/* The admin API's catalog sync endpoints (README, Sync and backfill), called by admin.c after
 * its token check: POST /admin/sources/{name}/sync, GET /admin/syncs, GET /admin/syncs/{id},
 * POST /admin/syncs/{id}/cancel.
 * The runs themselves live in Redis (queue/sync) and are listed by relay-worker. */

struct rconn;
struct http_req;

/* Answers req and returns 1 when path is one of the sync endpoints, else returns 0 and leaves
 * req alone. */
int admin_sync_handle(const struct config *cfg, struct rconn *rc, struct http_req *req,
                      const char *path);

#endif
