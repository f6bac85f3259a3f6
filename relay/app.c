#include "relay/app.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "queue/rconn.h"
#include "relay/admin.h"
#include "relay/http.h"
#include "relay/ingest.h"
#include "relay/metrics.h"
#include "relay/server.h"

#define SHUTDOWN_GRACE_MS 10000
#define REDIS_TIMEOUT_MS 2000

struct app {
    struct event_base *base;
    const struct config *cfg;
    struct rconn *rc;
    struct metrics *metrics;
    struct admin *admin;
    struct ingest *ingest;
    struct server *server;
};

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int on_headers(struct http_req *req, void *arg)
{
    struct app *a = arg;
    if (starts_with(http_path(req), "/webhooks/"))
        return ingest_on_headers(a->ingest, req);
    return 0;
}

static void reply_ok(struct http_req *req, int status, const char *state)
{
    http_reply_json(req, status, json_pack("{s:s}", "status", state));
}

static void on_request(struct http_req *req, void *arg)
{
    struct app *a = arg;
    const char *path = http_path(req);

    if (starts_with(path, "/webhooks/")) {
        ingest_handle(a->ingest, req);
    } else if (strcmp(path, "/healthz") == 0) {
        reply_ok(req, 200, "ok");
    } else if (strcmp(path, "/readyz") == 0) {
        const char *ha = rconn_ha_problem(a->rc);
        if (!rconn_ready(a->rc))
            http_reply_error(req, 503, "queue_unavailable", "redis is not reachable");
        else if (ha != NULL)
            http_reply_error(req, 503, "queue_unavailable", ha);
        else
            reply_ok(req, 200, "ready");
    } else if (strcmp(path, "/metrics") == 0) {
        metrics_handle(a->metrics, req);
    } else if (strcmp(path, "/admin") == 0 || starts_with(path, "/admin/")) {
        admin_handle(a->admin, req);
    } else {
        http_reply_error(req, 404, "not_found", "no such endpoint");
    }
}

struct app *app_new(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
    struct app *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->base = base;
    a->cfg = cfg;
    a->rc = rconn_new(base, cfg, REDIS_TIMEOUT_MS);
    if (a->rc == NULL)
        goto fail;
    a->metrics = metrics_new(cfg, a->rc);
    a->admin = admin_new(cfg, a->rc);
    a->ingest = ingest_new(cfg, a->rc, a->metrics);
    if (a->metrics == NULL || a->admin == NULL || a->ingest == NULL)
        goto fail;
    struct server_handlers h = {on_headers, on_request, a};
    a->server = server_new(base, cfg, &h, err, errlen);
    if (a->server == NULL)
        goto fail;
    return a;
fail:
    app_free(a);
    return NULL;
}

static void on_drained(void *arg)
{
    struct app *a = arg;
    event_base_loopexit(a->base, NULL);
}

void app_shutdown(struct app *a)
{
    LOG_INFO("shutting down: no new connections, answering requests in progress", NULL);
    server_shutdown(a->server, SHUTDOWN_GRACE_MS, on_drained, a);
}

void app_free(struct app *a)
{
    if (a == NULL)
        return;
    /* Redis first: its pending callbacks still answer requests the server owns. */
    rconn_free(a->rc);
    server_free(a->server);
    ingest_free(a->ingest);
    admin_free(a->admin);
    metrics_free(a->metrics);
    free(a);
}
