#include "relay/app.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "queue/rconn.h"
#include "relay/admin.h"
#include "relay/feeds.h"
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
    struct feeds *feeds;
    struct server *server;
    struct event *log_ev; /* writes the loop pass's held log lines (log_set_buffered) */
    int admin_apart;      /* admin.listen is set: operator routes only there */
};

/* Where a route is served. Operator routes (admin API, metrics) move to admin.listen when it
 * is configured and are then 404 on the public listener. */
enum route_where {
    ROUTE_PUBLIC = 1,   /* the public listener only */
    ROUTE_OPERATOR = 2, /* admin.listen, or the public listener when there is none */
    ROUTE_ANY = 3       /* both (health probes) */
};

struct route {
    const char *path;
    int prefix; /* path is a prefix ("/webhooks/"), else exact */
    enum route_where where;
    /* Before the body: returns 1 when it answered. May be NULL. */
    int (*on_headers)(struct app *a, struct http_req *req);
    void (*handle)(struct app *a, struct http_req *req);
};

static int only_get(struct http_req *req)
{
    const char *m = http_method(req);
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return 0;
    http_add_header(req, "Allow", "GET, HEAD");
    http_reply_error(req, 405, "method_not_allowed", "use GET");
    return 1;
}

static void reply_ok(struct http_req *req, int status, const char *state)
{
    http_reply_json(req, status, json_pack("{s:s}", "status", state));
}

static int webhook_headers(struct app *a, struct http_req *req)
{
    return ingest_on_headers(a->ingest, req);
}

static void webhook(struct app *a, struct http_req *req)
{
    ingest_handle(a->ingest, req);
}

static int probe_headers(struct app *a, struct http_req *req)
{
    return only_get(req);
}

static void healthz(struct app *a, struct http_req *req)
{
    reply_ok(req, 200, "ok");
}

static void readyz(struct app *a, struct http_req *req)
{
    const char *why = rconn_unready_reason(a->rc);
    if (why == NULL)
        why = rconn_ha_problem(a->rc); /* eviction policy, too few replicas */
    if (why == NULL)
        reply_ok(req, 200, "ready");
    else
        http_reply_error(req, 503, "queue_unavailable", why);
}

static void metrics(struct app *a, struct http_req *req)
{
    metrics_handle(a->metrics, req);
}

static void admin(struct app *a, struct http_req *req)
{
    admin_handle(a->admin, req);
}

static void feed(struct app *a, struct http_req *req)
{
    feeds_handle(a->feeds, req);
}

static void admin_feeds(struct app *a, struct http_req *req)
{
    if (admin_authorize(a->admin, req))
        feeds_admin_handle(a->feeds, req);
}

static const struct route routes[] = {
    {"/feeds/", 1, ROUTE_PUBLIC, NULL, feed},
    {"/admin/feeds", 0, ROUTE_OPERATOR, NULL, admin_feeds},
    {"/admin/catalog/", 1, ROUTE_OPERATOR, NULL, admin_feeds},
    {"/webhooks/", 1, ROUTE_PUBLIC, webhook_headers, webhook},
    {"/healthz", 0, ROUTE_ANY, probe_headers, healthz},
    {"/readyz", 0, ROUTE_ANY, probe_headers, readyz},
    {"/metrics", 0, ROUTE_OPERATOR, NULL, metrics},
    {"/admin", 0, ROUTE_OPERATOR, NULL, admin},
    {"/admin/", 1, ROUTE_OPERATOR, NULL, admin},
};

static const struct route *route_of(const struct app *a, struct http_req *req)
{
    const char *path = http_path(req);
    enum route_where here;
    if (!a->admin_apart)
        here = ROUTE_PUBLIC | ROUTE_OPERATOR;
    else
        here = http_on_admin_listener(req) ? ROUTE_OPERATOR : ROUTE_PUBLIC;
    for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
        const struct route *r = &routes[i];
        int match =
            r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0;
        if (match)
            return (r->where & here) ? r : NULL;
    }
    return NULL;
}

static int on_headers(struct http_req *req, void *arg)
{
    struct app *a = arg;
    const struct route *r = route_of(a, req);
    if (r == NULL) {
        /* Known at once: answered before the body, which the server then skips. */
        http_reply_error(req, 404, "not_found", "no such endpoint");
        return 1;
    }
    return r->on_headers ? r->on_headers(a, req) : 0;
}

static void on_request(struct http_req *req, void *arg)
{
    struct app *a = arg;
    const struct route *r = route_of(a, req);
    if (r == NULL)
        http_reply_error(req, 404, "not_found", "no such endpoint");
    else
        r->handle(a, req);
}

/* A request the server refused itself: webhooks count and log it like every other
 * rejection; anything else is logged. */
static void on_error(struct http_req *req, int status, const char *code, const char *message,
                     void *arg)
{
    struct app *a = arg;
    const char *path = http_path(req);
    if (path && strncmp(path, "/webhooks/", 10) == 0 && !http_on_admin_listener(req)) {
        ingest_reject(a->ingest, req, status, code, message);
        return;
    }
    LOG_INFO("request refused", "request_id", http_request_id(req), "code", code, NULL);
    http_reply_error(req, status, code, message);
}

/* The info lines of one loop pass (a line per webhook) go out in one write once the pass's
 * callbacks have run, not a write each: log_set_buffered() activates this when it holds a
 * line. Warnings and errors are written at once. */
static void on_log_flush(evutil_socket_t fd, short what, void *arg)
{
    log_flush();
}

static void on_log_held(void *arg)
{
    struct app *a = arg;
    event_active(a->log_ev, EV_TIMEOUT, 0);
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
    a->ingest = ingest_new(base, cfg, a->rc, a->metrics);
    a->feeds = feeds_new(base, cfg, a->rc);
    if (a->metrics == NULL || a->admin == NULL || a->ingest == NULL || a->feeds == NULL)
        goto fail;
    metrics_add_section(a->metrics, feeds_metrics_text, a->feeds);
    struct server_handlers h = {on_headers, on_request, on_error, a};
    a->server = server_new(base, cfg, &h, err, errlen);
    if (a->server == NULL)
        goto fail;
    if (cfg->admin_listen_host) {
        if (server_listen_admin(a->server, cfg->admin_listen_host, cfg->admin_listen_port, err,
                                errlen) != 0)
            goto fail;
        a->admin_apart = 1;
    }
    a->log_ev = event_new(base, -1, 0, on_log_flush, NULL);
    if (a->log_ev == NULL)
        goto fail;
    log_set_buffered(1, on_log_held, a);
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
    if (a->log_ev) {
        log_set_buffered(0, NULL, NULL); /* writes what is held; no more events to activate */
        event_free(a->log_ev);
    }
    /* Redis first: its pending callbacks still answer requests the server owns; then ingest. */
    rconn_free(a->rc);
    ingest_free(a->ingest); /* answers the events it still collects, on the server's connections */
    server_free(a->server);
    admin_free(a->admin);
    feeds_free(a->feeds);
    metrics_free(a->metrics);
    free(a);
}
