#include "relay/ingest.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "relay/envelope.h"
#include "relay/http.h"
#include "relay/metrics.h"
#include "relay/sig.h"

#define WEBHOOK_PREFIX "/webhooks/"
#define RETRY_AFTER_S "5"

struct ingest {
    const struct config *cfg;
    struct rconn *rc;
    struct metrics *m;
};

/* What an enqueue callback needs after Redis answers. */
struct pending_event {
    struct ingest *in;
    struct http_req *req;
    const struct source *src;
    char *event_id;
    char *event_type;
};

struct ingest *ingest_new(const struct config *cfg, struct rconn *rc, struct metrics *m)
{
    struct ingest *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return NULL;
    in->cfg = cfg;
    in->rc = rc;
    in->m = m;
    return in;
}

void ingest_free(struct ingest *in)
{
    free(in);
}

static const struct source *source_of(const struct ingest *in, const struct http_req *req)
{
    const char *name = http_path(req) + strlen(WEBHOOK_PREFIX);
    return config_source(in->cfg, name);
}

static void reject(struct ingest *in, struct http_req *req, const char *source, int status,
                   const char *code, const char *message)
{
    metrics_rejection(in->m, source, code);
    LOG_INFO("webhook rejected", "request_id", http_request_id(req), "source", source, "code", code,
             NULL);
    http_reply_error(req, status, code, message);
}

void ingest_reject(struct ingest *in, struct http_req *req, int status, const char *code,
                   const char *message)
{
    reject(in, req, http_path(req) + strlen(WEBHOOK_PREFIX), status, code, message);
}

int ingest_on_headers(struct ingest *in, struct http_req *req)
{
    const struct source *src = source_of(in, req);
    const char *name = http_path(req) + strlen(WEBHOOK_PREFIX);
    if (src == NULL) {
        reject(in, req, name, 404, "unknown_source", "no source with this name is configured");
        return 1;
    }
    if (strcmp(http_method(req), "POST") != 0) {
        http_add_header(req, "Allow", "POST");
        reject(in, req, src->name, 405, "method_not_allowed", "webhooks must be POSTed");
        return 1;
    }
    return 0;
}

static int is_json_media_type(const char *ct)
{
    static const char want[] = "application/json";
    if (ct == NULL)
        return 0;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return 0;
    const char *rest = ct + sizeof(want) - 1;
    while (*rest == ' ')
        rest++;
    return *rest == '\0' || *rest == ';';
}

static const char *header_cb(void *ctx, const char *name)
{
    return http_header(ctx, name);
}

/* The id a standard-webhooks sender signed: webhook-id, or svix-id from Svix-branded senders
 * (relay/sig.c takes the same set). */
static const char *standard_webhook_id(const struct http_req *req)
{
    if (http_header(req, "webhook-id") || http_header(req, "webhook-timestamp") ||
        http_header(req, "webhook-signature"))
        return http_header(req, "webhook-id");
    return http_header(req, "svix-id");
}

static void reply_status(struct http_req *req, int status, const char *st, const char *event_id)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(st));
    if (event_id)
        json_object_set_new(o, "event_id", json_string(event_id));
    http_reply_json(req, status, o);
}

static void pending_free(struct pending_event *pe)
{
    if (pe == NULL)
        return;
    free(pe->event_id);
    free(pe->event_type);
    free(pe);
}

static void queue_unavailable(struct ingest *in, struct http_req *req, const char *source)
{
    http_add_header(req, "Retry-After", RETRY_AFTER_S);
    reject(in, req, source, 503, "queue_unavailable",
           "the queue is unavailable; retry later, nothing was stored");
}

static void on_enqueued(struct redisReply *reply, void *arg)
{
    struct pending_event *pe = arg;
    struct ingest *in = pe->in;
    const char *src = pe->src->name;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        LOG_WARN("enqueue failed", "request_id", http_request_id(pe->req), "source", src,
                 "event_id", pe->event_id, "error",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "no answer", NULL);
        queue_unavailable(in, pe->req, src);
    } else if (reply->element[0]->integer == 0) {
        metrics_webhook(in->m, src, "duplicate");
        LOG_INFO("webhook duplicate", "request_id", http_request_id(pe->req), "source", src,
                 "event_id", pe->event_id, NULL);
        reply_status(pe->req, 200, "duplicate", pe->event_id);
    } else {
        metrics_webhook(in->m, src, "queued");
        LOG_INFO("webhook accepted", "request_id", http_request_id(pe->req), "source", src,
                 "event_id", pe->event_id, "event_type", pe->event_type, "stream_id",
                 reply->element[1]->str, NULL);
        reply_status(pe->req, 202, "queued", pe->event_id);
    }
    pending_free(pe);
}

static void enqueue(struct ingest *in, struct http_req *req, const struct source *src,
                    const struct envelope *env)
{
    char ttl[24], created[24] = "", received[24], season[16] = "", episode[16] = "";
    struct pending_event *pe = calloc(1, sizeof(*pe));
    if (pe == NULL)
        goto fail;
    pe->in = in;
    pe->req = req;
    pe->src = src;
    pe->event_id = strdup(env->id);
    pe->event_type = strdup(env->type);
    if (pe->event_id == NULL || pe->event_type == NULL)
        goto fail;
    snprintf(ttl, sizeof(ttl), "%lld", (long long)in->cfg->dedupe_ttl_s);
    if (env->created_at_ms >= 0)
        snprintf(created, sizeof(created), "%lld", (long long)env->created_at_ms);
    snprintf(received, sizeof(received), "%lld", (long long)util_now_ms());
    if (env->season_number >= 0)
        snprintf(season, sizeof(season), "%d", env->season_number);
    if (env->episode_number >= 0)
        snprintf(episode, sizeof(episode), "%d", env->episode_number);
    const char *argv[] = {
        in->cfg->redis_prefix,
        src->name,
        env->id,
        ttl,
        "source",
        src->name,
        "event_id",
        env->id,
        "type",
        env->type,
        "content_type",
        env->content_type ? env->content_type : "",
        "content_id",
        env->content_id ? env->content_id : "",
        "show_id",
        env->show_id ? env->show_id : "",
        "season_number",
        season,
        "episode_number",
        episode,
        "created_at",
        created,
        "received_at",
        received,
        "request_id",
        http_request_id(req),
    };
    if (rconn_script(in->rc, lua_enqueue, on_enqueued, pe, 0, (int)(sizeof(argv) / sizeof(*argv)),
                     argv, NULL) != 0) {
        pending_free(pe);
        queue_unavailable(in, req, src->name);
    }
    return;
fail:
    pending_free(pe);
    http_reply_error(req, 500, "internal", "out of memory");
}

void ingest_handle(struct ingest *in, struct http_req *req)
{
    const struct source *src = source_of(in, req);
    struct envelope *env = NULL;
    char err[256];
    size_t len;
    const unsigned char *body = http_body(req, &len);

    if (!is_json_media_type(http_header(req, "Content-Type"))) {
        reject(in, req, src->name, 415, "unsupported_media_type",
               "Content-Type must be application/json");
        return;
    }
    switch (sig_verify(src, header_cb, req, body, len, util_now_ms() / 1000)) {
    case SIG_OK:
        break;
    case SIG_MISSING:
        reject(in, req, src->name, 401, "signature_missing", "the signature header is missing");
        return;
    case SIG_OUT_OF_TOLERANCE:
        reject(in, req, src->name, 401, "timestamp_out_of_tolerance",
               "the signed timestamp is too far from the current time");
        return;
    default:
        reject(in, req, src->name, 401, "signature_invalid",
               "the signature does not match the body");
        return;
    }
    const char *fallback = src->scheme == SIG_STANDARD_WEBHOOKS ? standard_webhook_id(req) : NULL;
    switch (envelope_parse(src, (const char *)body, len, fallback, &env, err, sizeof(err))) {
    case ENVELOPE_OK:
        break;
    case ENVELOPE_INVALID_JSON:
        reject(in, req, src->name, 400, "invalid_json", "the body is not valid UTF-8 JSON");
        return;
    default:
        reject(in, req, src->name, 422, "invalid_envelope", err);
        return;
    }
    if (strcmp(env->type, "ping") == 0) {
        metrics_webhook(in->m, src->name, "ignored");
        reply_status(req, 200, "pong", NULL);
    } else if (!envelope_is_content(env)) {
        metrics_webhook(in->m, src->name, "ignored");
        LOG_INFO("webhook ignored", "request_id", http_request_id(req), "source", src->name,
                 "event_id", env->id, "event_type", env->type, NULL);
        reply_status(req, 200, "ignored", env->id);
    } else if (rconn_unready_reason(in->rc) != NULL) {
        queue_unavailable(in, req, src->name);
    } else {
        enqueue(in, req, src, env);
    }
    envelope_free(env);
}
