#include "relay/admin.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/ops.h"
#include "queue/rconn.h"
#include "queue/sources.h"
#include "relay/admin_sync.h"
#include "relay/http.h"
#include "relay/ui.h"

#define PARAM_MAX 256
#define SEGMENT_MAX 128

struct admin {
    const struct config *cfg;
    struct rconn *rc;
};

/* One admin request waiting for Redis. It holds no pointer to struct admin: the Redis
 * connection may call back (with NULL) while the relay is being torn down. */
struct pending {
    struct http_req *req;
    struct rconn *rc;
    struct ops_call *call;
    enum ops_op op;
    char subject[SEGMENT_MAX]; /* delivery id or target, for the audit line */
};

struct admin *admin_new(const struct config *cfg, struct rconn *rc)
{
    struct admin *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->cfg = cfg;
    a->rc = rc;
    return a;
}

void admin_free(struct admin *a)
{
    free(a);
}

/* ---- running an operation ------------------------------------------------------------- */

static void reply_ops_error(struct http_req *req, const struct ops_error *err)
{
    if (err->status == 503)
        http_add_header(req, "Retry-After", "1");
    http_reply_error(req, err->status, err->code, err->message);
}

static int send_next(struct pending *p);

/* Changes made through the admin API leave a line in the log. */
static void audit(const struct pending *p, const json_t *result)
{
    char n[32];
    switch (p->op) {
    case OPS_REDELIVER:
        LOG_INFO("admin: delivery redelivered", "request_id", http_request_id(p->req),
                 "delivery_id", p->subject, NULL);
        break;
    case OPS_REDELIVER_BULK:
        snprintf(n, sizeof(n), "%lld",
                 (long long)json_integer_value(json_object_get(result, "redelivered")));
        LOG_INFO("admin: failed deliveries redelivered", "request_id", http_request_id(p->req),
                 "count", n, NULL);
        break;
    case OPS_PAUSE:
    case OPS_RESUME:
        LOG_INFO(p->op == OPS_PAUSE ? "admin: target paused" : "admin: target resumed",
                 "request_id", http_request_id(p->req), "target", p->subject, NULL);
        if (json_is_true(json_object_get(result, "circuit_closed")))
            LOG_INFO("circuit closed", "request_id", http_request_id(p->req), "target", p->subject,
                     "by", "operator", NULL);
        break;
    default:
        break;
    }
}

static void finish(struct pending *p, enum ops_status st)
{
    if (st == OPS_DONE) {
        json_t *result = ops_call_take_result(p->call);
        audit(p, result);
        http_reply_json(p->req, ops_call_http_status(p->call), result);
    } else
        reply_ops_error(p->req, ops_call_error(p->call));
    ops_call_free(p->call);
    free(p);
}

static void on_reply(struct redisReply *reply, void *arg)
{
    struct pending *p = arg;
    enum ops_status st = ops_call_feed(p->call, reply);
    if (st == OPS_AGAIN) {
        if (send_next(p) == 0)
            return;
        st = ops_call_feed(p->call, NULL); /* not connected any more: queue_unavailable */
    }
    finish(p, st);
}

static int send_next(struct pending *p)
{
    const char *script;
    int argc;
    const char **argv;
    const size_t *argvlen;
    ops_call_script(p->call, &script, &argc, &argv, &argvlen);
    return rconn_script(p->rc, script, on_reply, p, 0, argc, argv, argvlen);
}

static void run(struct admin *a, struct http_req *req, enum ops_op op,
                const struct ops_params *params)
{
    struct ops_error err;
    struct ops_call *call = ops_call_new(a->cfg, op, params, &err);
    if (call == NULL) {
        reply_ops_error(req, &err);
        return;
    }
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        ops_call_free(call);
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    p->req = req;
    p->rc = a->rc;
    p->call = call;
    p->op = op;
    if (params && (params->id || params->target))
        snprintf(p->subject, sizeof(p->subject), "%s", params->id ? params->id : params->target);
    if (send_next(p) != 0)
        finish(p, ops_call_feed(call, NULL));
}

/* ---- request checks ------------------------------------------------------------------- */

static int authorized(const struct admin *a, const struct http_req *req)
{
    const char *h = http_header(req, "Authorization");
    const struct secret *token = &a->cfg->admin_token;
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n != token->len || n == 0)
        return 0;
    return CRYPTO_memcmp(h, token->value, n) == 0;
}

int admin_method_is(struct http_req *req, const char *allowed)
{
    if (strcmp(http_method(req), allowed) == 0)
        return 1;
    http_add_header(req, "Allow", allowed);
    http_reply_error(req, 405, "method_not_allowed", "method not allowed on this endpoint");
    return 0;
}

/* Copies the percent-decoded path segment s[0..n) into out. -1 when it is empty, too long, or
 * decodes to a NUL or '/'. */
static int segment(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = util_hexval(s[i + 1]), lo = util_hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || c == '/' || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Query parameters of GET /admin/deliveries: each known at most once, nothing else. */
#define LIST_PARAMS 7
static int list_params(struct http_req *req, char vals[LIST_PARAMS][PARAM_MAX],
                       struct ops_params *p)
{
    static const char *const names[LIST_PARAMS] = {"status", "target", "source", "limit",
                                                   "cursor", "since",  "until"};
    int seen[LIST_PARAMS] = {0};
    const char *q = http_query(req);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        size_t nlen = len;
        const char *eq = memchr(q, '=', len);
        if (eq)
            nlen = (size_t)(eq - q);
        if (len > 0) {
            size_t k;
            for (k = 0; k < LIST_PARAMS; k++)
                if (strlen(names[k]) == nlen && strncmp(q, names[k], nlen) == 0)
                    break;
            if (k == LIST_PARAMS) {
                http_reply_error(req, 400, "invalid_parameter",
                                 "unknown query parameter; known: status, target, source, "
                                 "since, until, limit, cursor");
                return -1;
            }
            if (seen[k]++) {
                http_reply_error(req, 400, "invalid_parameter", "a query parameter is repeated");
                return -1;
            }
            if (http_query_param(req, names[k], vals[k], PARAM_MAX) < 0) {
                http_reply_error(req, 400, "invalid_parameter", "a query parameter is too long");
                return -1;
            }
        }
        q = amp ? amp + 1 : NULL;
    }
    p->status = seen[0] ? vals[0] : NULL;
    p->target = seen[1] ? vals[1] : NULL;
    p->source = seen[2] ? vals[2] : NULL;
    p->limit = seen[3] ? vals[3] : NULL;
    p->cursor = seen[4] ? vals[4] : NULL;
    /* "since=" given but empty is a mistake, not "no bound" */
    for (int k = 5; k < 7; k++) {
        if (seen[k] && vals[k][0] == '\0') {
            char msg[96];
            snprintf(msg, sizeof(msg),
                     "%s: empty; give an RFC 3339 time (e.g. "
                     "2026-11-20T10:00:00Z)",
                     names[k]);
            http_reply_error(req, 400, "invalid_parameter", msg);
            return -1;
        }
    }
    p->since = seen[5] ? vals[5] : NULL;
    p->until = seen[6] ? vals[6] : NULL;
    if (seen[3] && vals[3][0] == '\0') {
        http_reply_error(req, 400, "invalid_parameter", "limit: must be an integer from 1 to 500");
        return -1;
    }
    return 0;
}

/* POST /admin/redeliver: {"status": "failed", "target", "source", "since", "until"}. */
static void bulk_redeliver(struct admin *a, struct http_req *req)
{
    static const char *const fields[] = {"status", "target", "source", "since", "until"};
    const char *ct = http_header(req, "Content-Type");
    size_t len;
    const unsigned char *body = http_body(req, &len);
    const char *vals[5] = {NULL};
    json_error_t jerr;
    char msg[160];

    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        http_reply_error(req, 415, "unsupported_media_type", "send application/json");
        return;
    }
    json_t *doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        http_reply_error(req, 400, "invalid_json", "the body is not valid JSON");
        return;
    }
    if (!json_is_object(doc)) {
        http_reply_error(req, 422, "invalid_request", "the body must be a JSON object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        size_t k;
        for (k = 0; k < 5; k++)
            if (strcmp(key, fields[k]) == 0)
                break;
        if (k == 5) {
            snprintf(msg, sizeof(msg),
                     "%.60s: unknown field (known: status, target, source, "
                     "since, until)",
                     key);
            http_reply_error(req, 422, "invalid_request", msg);
            goto out;
        }
        if (json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            snprintf(msg, sizeof(msg), "%s: must be a string", fields[k]);
            http_reply_error(req, 422, "invalid_request", msg);
            goto out;
        }
        vals[k] = json_string_value(v);
    }
    struct ops_params p = {.status = vals[0],
                           .target = vals[1],
                           .source = vals[2],
                           .since = vals[3],
                           .until = vals[4]};
    run(a, req, OPS_REDELIVER_BULK, &p);
out:
    json_decref(doc);
}

/* ---- GET /admin/sources (queue/sources) ----------------------------------------------- */

struct sources_call {
    struct http_req *req;
    const struct config *cfg;
};

static void on_sources(struct redisReply *reply, void *arg)
{
    struct sources_call *sc = arg;
    json_t *doc = sources_decode(sc->cfg, reply);
    if (doc)
        http_reply_json(sc->req, 200, doc);
    else
        http_reply_error(sc->req, 503, "queue_unavailable", "redis did not answer");
    free(sc);
}

static void sources(struct admin *a, struct http_req *req)
{
    struct sources_call *sc = calloc(1, sizeof(*sc));
    struct sources_args *args = sources_read_args(a->cfg, util_now_ms());
    if (sc == NULL || args == NULL) {
        free(sc);
        sources_args_free(args);
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    sc->req = req;
    sc->cfg = a->cfg;
    if (rconn_script(a->rc, sources_read_script(), on_sources, sc, 0, sources_args_count(args),
                     sources_args_argv(args), NULL) != 0) {
        free(sc);
        http_reply_error(req, 503, "queue_unavailable", "redis is not reachable");
    }
    sources_args_free(args);
}

/* ---- routing -------------------------------------------------------------------------- */

int admin_authorize(struct admin *a, struct http_req *req)
{
    if (a->cfg->admin_token.value == NULL) {
        http_reply_error(req, 404, "not_found", "no such endpoint");
        return 0;
    }
    if (!authorized(a, req)) {
        http_add_header(req, "WWW-Authenticate", "Bearer realm=\"relay-admin\"");
        http_reply_error(req, 401, "unauthorized", "a valid admin bearer token is required");
        return 0;
    }
    return 1;
}

void admin_handle(struct admin *a, struct http_req *req)
{
    const char *path = http_path(req);
    char seg[SEGMENT_MAX];

    if (a->cfg->admin_token.value == NULL) {
        http_reply_error(req, 404, "not_found", "no such endpoint");
        return;
    }
    /* The dashboard holds no data: it is served without the token and sends it itself. */
    if (strcmp(path, "/admin/ui") == 0 || strcmp(path, "/admin/ui/") == 0) {
        ui_handle(req);
        return;
    }
    if (!admin_authorize(a, req))
        return;

    if (admin_sync_handle(a->cfg, a->rc, req, path))
        return;
    if (strcmp(path, "/admin/stats") == 0) {
        if (admin_method_is(req, "GET"))
            run(a, req, OPS_STATS, NULL);
        return;
    }
    if (strcmp(path, "/admin/sources") == 0) {
        if (admin_method_is(req, "GET"))
            sources(a, req);
        return;
    }
    if (strcmp(path, "/admin/deliveries") == 0) {
        char vals[LIST_PARAMS][PARAM_MAX];
        struct ops_params p = {0};
        if (admin_method_is(req, "GET") && list_params(req, vals, &p) == 0)
            run(a, req, OPS_LIST, &p);
        return;
    }
    if (strcmp(path, "/admin/targets") == 0) {
        if (admin_method_is(req, "GET"))
            run(a, req, OPS_TARGETS, NULL);
        return;
    }
    if (strcmp(path, "/admin/redeliver") == 0) {
        if (admin_method_is(req, "POST"))
            bulk_redeliver(a, req);
        return;
    }

    static const char dprefix[] = "/admin/deliveries/";
    static const char tprefix[] = "/admin/targets/";
    if (strncmp(path, dprefix, sizeof(dprefix) - 1) == 0) {
        const char *id = path + sizeof(dprefix) - 1;
        const char *slash = strchr(id, '/');
        size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
        if (segment(id, idlen, seg, sizeof(seg)) != 0)
            goto not_found;
        struct ops_params p = {.id = seg};
        if (slash == NULL) {
            if (admin_method_is(req, "GET"))
                run(a, req, OPS_SHOW, &p);
            return;
        }
        if (strcmp(slash, "/redeliver") == 0) {
            if (admin_method_is(req, "POST"))
                run(a, req, OPS_REDELIVER, &p);
            return;
        }
        goto not_found;
    }
    if (strncmp(path, tprefix, sizeof(tprefix) - 1) == 0) {
        const char *name = path + sizeof(tprefix) - 1;
        const char *slash = strchr(name, '/');
        if (slash == NULL || segment(name, (size_t)(slash - name), seg, sizeof(seg)) != 0)
            goto not_found;
        int pause = strcmp(slash, "/pause") == 0;
        if (!pause && strcmp(slash, "/resume") != 0)
            goto not_found;
        if (admin_method_is(req, "POST")) {
            struct ops_params p = {.target = seg};
            run(a, req, pause ? OPS_PAUSE : OPS_RESUME, &p);
        }
        return;
    }
not_found:
    http_reply_error(req, 404, "not_found", "no such admin endpoint");
}
