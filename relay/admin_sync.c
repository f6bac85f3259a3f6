#include "relay/admin_sync.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "queue/sync.h"
#include "relay/admin.h"
#include "relay/http.h"

#define NAME_MAX_BYTES 128
#define LIST_DEFAULT 50
#define LIST_MAX 500

enum kind { START, LIST, SHOW, CANCEL };

/* One request waiting for Redis; no pointer to the admin (see admin.c's struct pending). */
struct pending {
    struct http_req *req;
    enum kind kind;
    char id[32];
    char source[NAME_MAX_BYTES];
};

static void unavailable(struct http_req *req)
{
    http_add_header(req, "Retry-After", "1");
    http_reply_error(req, 503, "queue_unavailable", "Redis is unavailable");
}

/* sync_cancel.lua answered: 200 with the record when the run ended cancelled now (no worker
 * held it), 202 when its worker ends it at its next page or beat, 409 when it had ended. */
static void cancel_replied(struct pending *p, const struct redisReply *r)
{
    const struct redisReply *flat;
    enum sync_cancel_verdict v = sync_cancel_result(r, &flat);
    json_t *rec = flat ? sync_record_json(flat) : NULL;
    char msg[256];

    if (v == SYNC_CANCEL_UNKNOWN) {
        http_reply_error(p->req, 404, "not_found", "no such sync run");
    } else if (rec == NULL) {
        http_reply_error(p->req, 500, "internal", "unexpected reply from Redis");
    } else if (v == SYNC_CANCEL_ENDED) {
        const char *state = json_string_value(json_object_get(rec, "state"));
        snprintf(msg, sizeof(msg), "sync %s already ended %s: only a running sync can be cancelled",
                 p->id, state ? state : "");
        http_reply_json(p->req, 409,
                        json_pack("{s:s,s:s,s:s,s:s?}", "code", "sync_not_running", "message", msg,
                                  "request_id", http_request_id(p->req), "state", state));
    } else {
        LOG_INFO(v == SYNC_CANCELLED ? "admin: sync cancelled" : "admin: sync cancel requested",
                 "request_id", http_request_id(p->req), "sync_id", p->id, NULL);
        http_reply_json(p->req, v == SYNC_CANCELLED ? 200 : 202, json_incref(rec));
    }
    json_decref(rec);
}

static void on_reply(struct redisReply *r, void *arg)
{
    struct pending *p = arg;
    char other[64], msg[256];

    if (r == NULL || sync_reply_error(r)) {
        if (r)
            LOG_ERROR("admin: sync script failed", "error", sync_reply_error(r), NULL);
        unavailable(p->req);
        goto out;
    }
    if (p->kind == START) {
        int st = sync_start_result(r, other, sizeof(other));
        if (st == 1) {
            LOG_INFO("admin: sync started", "request_id", http_request_id(p->req), "sync_id", p->id,
                     "source", p->source, NULL);
            http_reply_json(p->req, 202, json_pack("{s:s}", "sync_id", p->id));
        } else if (st == 0) {
            snprintf(msg, sizeof(msg), "sync %s is running for source %s", other, p->source);
            http_reply_error(p->req, 409, "sync_running", msg);
        } else {
            http_reply_error(p->req, 500, "internal", "unexpected reply from Redis");
        }
        goto out;
    }
    if (p->kind == CANCEL) {
        cancel_replied(p, r);
        goto out;
    }
    json_t *arr = sync_records_json(r);
    if (arr == NULL) {
        http_reply_error(p->req, 500, "internal", "unexpected reply from Redis");
        goto out;
    }
    if (p->kind == SHOW) {
        json_t *rec = json_array_get(arr, 0);
        if (rec == NULL)
            http_reply_error(p->req, 404, "not_found", "no such sync run");
        else
            http_reply_json(p->req, 200, json_incref(rec));
        json_decref(arr);
    } else {
        http_reply_json(p->req, 200,
                        json_pack("{s:o,s:{s:n}}", "data", arr, "meta", "next_cursor"));
    }
out:
    free(p);
}

static void send_script(struct rconn *rc, struct pending *p, const char *lua,
                        const struct sync_args *a)
{
    if (a->oom) {
        http_reply_error(p->req, 500, "internal", "out of memory");
        free(p);
        return;
    }
    if (rconn_script(rc, lua, on_reply, p, 0, a->argc, (const char **)a->argv, a->lens) != 0) {
        unavailable(p->req);
        free(p);
    }
}

/* A path segment that is a plain name (no percent-encoding needed for source names or ids). */
static int plain_segment(const char *s, size_t n, char *out, size_t cap)
{
    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') ||
              (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return -1;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static void start(const struct config *cfg, struct rconn *rc, struct http_req *req,
                  const char *source)
{
    struct sync_request sreq = {0};
    struct sync_error err;
    struct sync_args a;
    size_t len;
    const unsigned char *body = http_body(req, &len);
    const char *ct = http_header(req, "Content-Type");
    char *targets = NULL;

    sync_args_init(&a);
    if (len > 0 && ct && strncasecmp(ct, "application/json", 16) != 0) {
        http_reply_error(req, 415, "unsupported_media_type", "send application/json");
        goto out;
    }
    if (sync_request_parse((const char *)body, len, &sreq, &err) != 0) {
        http_reply_error(req, err.status, err.code, err.message);
        goto out;
    }
    sreq.source = source;
    targets = sync_request_targets(cfg, &sreq, &err);
    if (targets == NULL) {
        http_reply_error(req, err.status, err.code, err.message);
        goto out;
    }
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        goto out;
    }
    p->req = req;
    p->kind = START;
    snprintf(p->source, sizeof(p->source), "%s", source);
    sync_new_id(p->id);
    sync_args_start(&a, cfg, p->id, source, targets, sreq.full, sreq.dry_run, 0);
    send_script(rc, p, lua_sync_start, &a);
out:
    sync_args_clear(&a);
    sync_request_clear(&sreq);
    free(targets);
}

static void records(const struct config *cfg, struct rconn *rc, struct http_req *req,
                    const char *id)
{
    char source[NAME_MAX_BYTES] = "", limit_s[16] = "";
    long limit = LIST_DEFAULT;
    struct sync_args a;

    if (id == NULL) {
        if (http_query_param(req, "source", source, sizeof(source)) >= 0 && source[0] &&
            config_source(cfg, source) == NULL) {
            http_reply_error(req, 404, "unknown_source", "no source with that name");
            return;
        }
        if (http_query_param(req, "limit", limit_s, sizeof(limit_s)) >= 0) {
            char *end;
            limit = strtol(limit_s, &end, 10);
            if (limit_s[0] == '\0' || *end != '\0' || limit < 1 || limit > LIST_MAX) {
                http_reply_error(req, 400, "invalid_parameter",
                                 "limit: must be an integer from 1 to 500");
                return;
            }
        }
    }
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    p->req = req;
    p->kind = id ? SHOW : LIST;
    sync_args_init(&a);
    sync_args_records(&a, cfg, id ? id : "", source, (int)limit);
    send_script(rc, p, lua_sync_records, &a);
    sync_args_clear(&a);
}

static void cancel(const struct config *cfg, struct rconn *rc, struct http_req *req, const char *id)
{
    struct sync_args a;
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    p->req = req;
    p->kind = CANCEL;
    snprintf(p->id, sizeof(p->id), "%.31s", id); /* admin_sync_handle() caps ids at 31 */
    sync_args_init(&a);
    sync_args_cancel(&a, cfg, id);
    send_script(rc, p, lua_sync_cancel, &a);
    sync_args_clear(&a);
}

int admin_sync_handle(const struct config *cfg, struct rconn *rc, struct http_req *req,
                      const char *path)
{
    static const char sprefix[] = "/admin/sources/";
    static const char rprefix[] = "/admin/syncs/";
    char seg[NAME_MAX_BYTES];

    if (strcmp(path, "/admin/syncs") == 0) {
        if (admin_method_is(req, "GET"))
            records(cfg, rc, req, NULL);
        return 1;
    }
    if (strncmp(path, rprefix, sizeof(rprefix) - 1) == 0) {
        const char *id = path + sizeof(rprefix) - 1;
        const char *slash = strchr(id, '/');
        size_t n = slash ? (size_t)(slash - id) : strlen(id);
        if (plain_segment(id, n, seg, 32) != 0 || (slash && strcmp(slash, "/cancel") != 0)) {
            http_reply_error(req, 404, "not_found", "no such sync run");
            return 1;
        }
        if (slash == NULL) {
            if (admin_method_is(req, "GET"))
                records(cfg, rc, req, seg);
        } else if (admin_method_is(req, "POST")) {
            cancel(cfg, rc, req, seg);
        }
        return 1;
    }
    if (strncmp(path, sprefix, sizeof(sprefix) - 1) == 0) {
        const char *name = path + sizeof(sprefix) - 1;
        const char *slash = strchr(name, '/');
        if (slash == NULL || strcmp(slash, "/sync") != 0)
            return 0;
        if (plain_segment(name, (size_t)(slash - name), seg, sizeof(seg)) != 0 ||
            config_source(cfg, seg) == NULL) {
            http_reply_error(req, 404, "unknown_source", "no source with that name");
            return 1;
        }
        if (admin_method_is(req, "POST"))
            start(cfg, rc, req, seg);
        return 1;
    }
    return 0;
}
