#include "relay/ingest.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/enqueue.h"
#include "queue/sources.h"
#include "queue/rconn.h"
#include "relay/envelope.h"
#include "relay/http.h"
#include "relay/metrics.h"
#include "relay/sig.h"

#define WEBHOOK_PREFIX "/webhooks/"
#define RETRY_AFTER_S "5"
#define TALLY_EVERY_MS 1000

/* Requests verified in one loop pass share one enqueue script call (each with its own
 * duplicate check, each answered once Redis confirmed its own event): Redis's per-call cost
 * (script dispatch, AOF write, reply) is most of its CPU per webhook. */
#ifndef INGEST_BATCH_MAX
#define INGEST_BATCH_MAX 64
#endif

/* One event waiting for Redis: its request and a copy of what the stream entry needs (the
 * envelope is gone by the time the batch is sent). */
struct pending_event {
    struct http_req *req;
    const struct source *src;
    struct enqueue_event ev; /* strings point into text */
    /* Redis' answer, kept while the replicas are asked (redis.min_replicas) */
    enum enqueue_outcome outcome;
    char stream_id[48];
    char text[];
};

/* One script call in flight. */
struct batch {
    struct ingest *in;
    size_t n;
    struct pending_event *pe[INGEST_BATCH_MAX];
};

struct ingest {
    const struct config *cfg;
    struct rconn *rc;
    struct metrics *m;
    struct event *flush_ev; /* sends `open` once the current loop pass is over */
    struct batch *open;     /* events collected for the next call */
    /* The sources' registration view (queue/sources): tallied here, added to Redis once a
     * second by one script call, never a round trip per request. */
    struct sources_tally *tally;
    struct event *tally_ev;
};

static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void tally_cb(evutil_socket_t fd, short what, void *arg);

struct ingest *ingest_new(struct event_base *base, const struct config *cfg, struct rconn *rc,
                          struct metrics *m)
{
    struct ingest *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return NULL;
    in->cfg = cfg;
    in->rc = rc;
    in->m = m;
    in->flush_ev = event_new(base, -1, 0, flush_cb, in);
    in->tally = sources_tally_new(cfg);
    in->tally_ev = event_new(base, -1, EV_PERSIST, tally_cb, in);
    if (in->flush_ev == NULL || in->tally == NULL || in->tally_ev == NULL) {
        ingest_free(in);
        return NULL;
    }
    struct timeval every = {TALLY_EVERY_MS / 1000, (TALLY_EVERY_MS % 1000) * 1000};
    event_add(in->tally_ev, &every);
    return in;
}

static void batch_fail(struct batch *b, const char *why);

static void on_tally_noted(struct redisReply *reply, void *arg)
{
    /* Best effort: a lost second of counts only makes the 24 h view a little low. */
    if (reply == NULL)
        LOG_DEBUG("source tallies not recorded", NULL);
}

static void tally_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ingest *in = arg;
    if (!sources_tally_dirty(in->tally) || !rconn_ready(in->rc))
        return; /* kept for the next tick */
    struct sources_args *a = sources_note_args(in->tally, in->cfg->redis_prefix, util_now_ms());
    if (a == NULL)
        return;
    if (rconn_script(in->rc, sources_note_script(), on_tally_noted, NULL, 0, sources_args_count(a),
                     sources_args_argv(a), NULL) != 0)
        LOG_DEBUG("source tallies not recorded", NULL);
    sources_args_free(a);
}

void ingest_free(struct ingest *in)
{
    if (in == NULL)
        return;
    if (in->open)
        batch_fail(in->open, "shutting down");
    if (in->flush_ev)
        event_free(in->flush_ev);
    if (in->tally_ev)
        event_free(in->tally_ev);
    sources_tally_free(in->tally);
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
    sources_tally_rejected(in->tally, source, code, util_now_ms());
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

/* Appends s as a JSON string body (without quotes) the way Jansson writes it; returns the new
 * end, or NULL when it would pass end. */
static char *json_escaped(char *p, const char *end, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (end - p < 6)
            return NULL;
        if (ch == '"' || ch == '\\') {
            *p++ = '\\';
            *p++ = (char)ch;
        } else if (ch < 0x20) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[ch >> 4];
            p[5] = hex[ch & 0xf];
            p += 6;
        } else {
            *p++ = (char)ch;
        }
    }
    return p;
}

/* {"status":st,"event_id":id}: every accepted webhook is answered with it, so it is written
 * directly rather than built as a JSON object and dumped. */
static void reply_status(struct http_req *req, int status, const char *st, const char *event_id)
{
    char buf[2048];
    char *end = buf + sizeof(buf), *p = buf;
    static const char k_status[] = "{\"status\":\"", k_id[] = "\",\"event_id\":\"";
    memcpy(p, k_status, sizeof(k_status) - 1);
    p = json_escaped(p + sizeof(k_status) - 1, end, st); /* st is one of ours: it fits */
    if (p != NULL && event_id) {
        memcpy(p, k_id, sizeof(k_id) - 1);
        p = json_escaped(p + sizeof(k_id) - 1, end - 2, event_id);
    }
    if (p == NULL) {
        /* an id too long for buf (the envelope caps ids far below it): the general way */
        json_t *o = json_object();
        json_object_set_new(o, "status", json_string(st));
        json_object_set_new(o, "event_id", json_string(event_id));
        http_reply_json(req, status, o);
        return;
    }
    *p++ = '"';
    *p++ = '}';
    http_reply(req, status, "application/json", buf, (size_t)(p - buf));
}

static void queue_unavailable(struct ingest *in, struct http_req *req, const char *source)
{
    http_add_header(req, "Retry-After", RETRY_AFTER_S);
    reject(in, req, source, 503, "queue_unavailable", "the queue is unavailable; retry later");
}

/* Answers every event of b with 503 and frees it. */
static void batch_fail(struct batch *b, const char *why)
{
    for (size_t i = 0; i < b->n; i++) {
        struct pending_event *pe = b->pe[i];
        LOG_WARN("enqueue failed", "request_id", http_request_id(pe->req), "source", pe->src->name,
                 "event_id", pe->ev.event_id, "error", why, NULL);
        queue_unavailable(b->in, pe->req, pe->src->name);
        free(pe);
    }
    free(b);
}

static void answer_batch(struct batch *b);

/* redis.min_replicas: the answers wait for WAIT. A shortfall is a 503 although the events may
 * be on the master: a sender's retry then gets 200 duplicate once the replicas have it
 * (duplicates wait for the replicas too), so any 2xx means "held by min_replicas replicas". */
static void on_replicated(int ok, void *arg)
{
    if (ok)
        answer_batch(arg);
    else
        batch_fail(arg, "the replicas did not confirm the events in time");
}

static void on_enqueued(struct redisReply *reply, void *arg)
{
    struct batch *b = arg;
    struct ingest *in = b->in;

    if (enqueue_reply(reply, b->n, 0, NULL) == ENQUEUE_FAILED) {
        batch_fail(b, enqueue_reply_error(reply));
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        const char *sid = NULL;
        b->pe[i]->outcome = enqueue_reply(reply, b->n, i, &sid);
        snprintf(b->pe[i]->stream_id, sizeof(b->pe[i]->stream_id), "%s", sid ? sid : "");
    }
    if (in->cfg->redis_min_replicas == 0)
        answer_batch(b);
    else if (rconn_wait(in->rc, on_replicated, b) != 0)
        batch_fail(b, "redis is not connected");
}

/* Answers every event of b from the outcomes on_enqueued kept, and frees it. */
static void answer_batch(struct batch *b)
{
    struct ingest *in = b->in;
    for (size_t i = 0; i < b->n; i++) {
        struct pending_event *pe = b->pe[i];
        const char *src = pe->src->name, *stream_id = pe->stream_id;
        switch (pe->outcome) {
        case ENQUEUE_DUPLICATE:
            metrics_webhook(in->m, src, "duplicate");
            sources_tally_accepted(in->tally, src);
            LOG_INFO("webhook duplicate", "request_id", http_request_id(pe->req), "source", src,
                     "event_id", pe->ev.event_id, NULL);
            reply_status(pe->req, 200, "duplicate", pe->ev.event_id);
            break;
        case ENQUEUE_QUEUED:
            metrics_webhook(in->m, src, "queued");
            sources_tally_accepted(in->tally, src);
            LOG_INFO("webhook accepted", "request_id", http_request_id(pe->req), "source", src,
                     "event_id", pe->ev.event_id, "event_type", pe->ev.type, "stream_id", stream_id,
                     NULL);
            reply_status(pe->req, 202, "queued", pe->ev.event_id);
            break;
        default:
            LOG_WARN("enqueue failed", "request_id", http_request_id(pe->req), "source", src,
                     "event_id", pe->ev.event_id, "error", "malformed answer", NULL);
            queue_unavailable(in, pe->req, src);
            break;
        }
        free(pe);
    }
    free(b);
}

static void flush(struct ingest *in)
{
    struct batch *b = in->open;
    struct enqueue_event ev[INGEST_BATCH_MAX];
    in->open = NULL;
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        ev[i] = b->pe[i]->ev;
    struct enqueue_args *args =
        enqueue_batch_args(in->cfg->redis_prefix, in->cfg->dedupe_ttl_s, ev, b->n);
    if (args == NULL) {
        batch_fail(b, "out of memory");
        return;
    }
    int rc = rconn_script(in->rc, enqueue_script(), on_enqueued, b, 0, enqueue_args_count(args),
                          enqueue_args_argv(args), enqueue_args_argvlen(args));
    enqueue_args_free(args);
    if (rc != 0)
        batch_fail(b, "redis is not connected");
    else
        rconn_flush(in->rc); /* may answer b already, if the connection fails */
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    flush(arg);
}

/* Appends a copy of s to *p (a string area sized beforehand) and returns it. */
static const char *put(char **p, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = *p;
    memcpy(d, s, n);
    *p += n;
    return d;
}

static void enqueue(struct ingest *in, struct http_req *req, const struct source *src,
                    const struct envelope *env)
{
    const char *strs[] = {env->id,         env->type,    env->content_type,
                          env->content_id, env->show_id, http_request_id(req)};
    size_t size = 0;
    for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
        size += strs[i] ? strlen(strs[i]) + 1 : 0;
    struct pending_event *pe = malloc(sizeof(*pe) + size);
    if (pe == NULL)
        goto oom;
    if (in->open == NULL) {
        in->open = calloc(1, sizeof(*in->open));
        if (in->open == NULL)
            goto oom;
        in->open->in = in;
        /* Run after the callbacks already due in this loop pass (the other connections'
         * reads): made active, not a zero timer, which would cost one more epoll_wait. */
        event_active(in->flush_ev, EV_TIMEOUT, 0);
    }
    char *p = pe->text;
    pe->req = req;
    pe->src = src;
    pe->ev = (struct enqueue_event){
        .source = src->name,
        .event_id = put(&p, env->id),
        .type = put(&p, env->type),
        .content_type = put(&p, env->content_type),
        .content_id = put(&p, env->content_id),
        .show_id = put(&p, env->show_id),
        .season_number = env->season_number,
        .episode_number = env->episode_number,
        .created_at_ms = env->created_at_ms,
        .received_at_ms = util_now_ms(),
        .request_id = put(&p, http_request_id(req)),
    };
    in->open->pe[in->open->n++] = pe;
    if (in->open->n == INGEST_BATCH_MAX) {
        event_del(in->flush_ev);
        flush(in);
    }
    return;
oom:
    free(pe);
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
    case SIG_OK: {
        int64_t now = util_now_ms();
        metrics_verified(in->m, src->name, now);
        sources_tally_verified(in->tally, src->name, now);
        break;
    }
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
        sources_tally_ping(in->tally, src->name, util_now_ms());
        sources_tally_accepted(in->tally, src->name);
        reply_status(req, 200, "pong", NULL);
    } else if (!envelope_is_content(env)) {
        metrics_webhook(in->m, src->name, "ignored");
        sources_tally_accepted(in->tally, src->name);
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
