#include "handlers/worker.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "handlers/backoff.h"
#include "handlers/cms.h"
#include "handlers/fmt.h"
#include "handlers/fetches.h"
#include "handlers/hclient.h"
#include "handlers/push.h"
#include "handlers/sync_run.h"
#include "queue/lua.h"
#include "queue/rsync.h"

#define TICK_MS 10            /* how often a busy loop looks for new events and due deliveries */
#define IDLE_AFTER_MS 1000    /* a loop that found no work for this long is idle ... */
#define IDLE_MAX_MS 100       /* ... and waits up to this long between looks */
#define TAKE_COUNT 64         /* stream entries read (and fanned out in one script call) per read */
#define TAKE_ROUNDS 4         /* reads per poll while the stream keeps answering full batches */
#define COMPLETE_BATCH 128    /* outcomes written per complete.lua call */
#define COMPLETE_ARGS 11      /* complete.lua arguments per outcome */
#define RECLAIM_EVERY_MS 1000 /* expired leases go back this often */
#define MAX_FETCHES 8         /* GETs per title: a loop guard on cms_next_url */
#define FETCH_MAX_BODY (16u << 20)
#define SNIPPET_BYTES 512
#define REDIS_BACKOFF_MAX_MS 2000
#define DEFAULT_PUSH_TIMEOUT_MS 10000

enum job_state { JOB_FETCH, JOB_PUSH, JOB_COMPLETING };

/* One claimed delivery being worked on, from claim to complete. */
struct job {
    struct worker *w;
    struct job *prev, *next;
    size_t ti;
    const struct target *t;
    const struct source *src;
    enum job_state state;
    /* from the delivery record */
    char *id, *event_id, *event_type, *source, *content_type, *content_id, *show_id, *lease;
    char *request_id; /* the ingest request that accepted the event, for log correlation */
    int season, episode;
    int attempt; /* this attempt's number, 1-based */
    int unpublish;
    /* fetch */
    json_t *bodies[MAX_FETCHES];
    size_t n_bodies;
    char *title_type;
    struct hclient_call *call; /* the push in flight */
    struct fetch_wait *wait;   /* the source fetch in flight (shared with the event's others) */
    int64_t started;
    /* outcome, kept until Redis has it */
    const char *outcome;
    long http_status;
    char code[40];
    char *message;
    char *snippet;
    int64_t delay_ms;
    int64_t push_ms; /* -1 = no push made */
    int64_t duration_ms;
    int count_attempt;
    /* complete.lua arguments formatted from the above */
    char a_status[16], a_delay[24], a_push[24], a_dur[24];
};

struct worker {
    const struct config *cfg;
    struct event_base *base;
    struct hclient *hc;
    struct fetches *fx;
    struct sync_run *sync; /* catalog sync runs (handlers/sync_run.c) */
    struct rsync *rs;
    struct event *tick, *sigterm, *sigint, *drain;
    struct event *flush; /* made active when an outcome is ready: one complete.lua per loop */
    char consumer[96];
    struct job *jobs;
    size_t n_jobs;
    size_t *inflight; /* per target index */
    size_t rr;
    int stopping;
    int read_own;     /* re-read our own pending stream entries (after a failed fanout) */
    int take_full;    /* the last stream read was a full batch: more entries are waiting */
    uint64_t found;   /* stream entries read + deliveries claimed, ever: did a poll find work? */
    int64_t tick_ms;  /* the tick's current interval: TICK_MS, doubling while idle */
    int64_t found_at; /* when a poll last found work (or a delivery was in flight) */
    char autoclaim_cursor[48];
    int64_t next_reclaim, next_autoclaim;
    int64_t redis_retry_at, redis_backoff_ms;
    int redis_down;
    long drain_ms;
};

void worker_delivery_id(const char *source, const char *event_id, const char *target, char out[29])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[SHA256_DIGEST_LENGTH * 2 + 1];
    size_t ls = strlen(source), le = strlen(event_id), lt = strlen(target);
    unsigned char *buf = malloc(ls + le + lt + 2);

    if (buf == NULL) {
        memset(md, 0, sizeof(md));
    } else {
        memcpy(buf, source, ls + 1);
        memcpy(buf + ls + 1, event_id, le + 1);
        memcpy(buf + ls + le + 2, target, lt);
        SHA256(buf, ls + le + lt + 2, md);
        free(buf);
    }
    util_hex(md, sizeof(md), hex);
    memcpy(out, "dlv_", 4);
    memcpy(out + 4, hex, 24);
    out[28] = '\0';
}

/* ---- Redis plumbing ---------------------------------------------------------------------- */

static void redis_failed(struct worker *w, const char *what)
{
    if (!w->redis_down)
        LOG_WARN("redis unavailable, retrying", "op", what, "error", rsync_error(w->rs), NULL);
    w->redis_down = 1;
    w->redis_backoff_ms = w->redis_backoff_ms ? w->redis_backoff_ms * 2 : 50;
    if (w->redis_backoff_ms > REDIS_BACKOFF_MAX_MS)
        w->redis_backoff_ms = REDIS_BACKOFF_MAX_MS;
    w->redis_retry_at = util_mono_ms() + w->redis_backoff_ms;
}

static void redis_ok(struct worker *w)
{
    if (w->redis_down)
        LOG_INFO("redis available again", NULL);
    w->redis_down = 0;
    w->redis_backoff_ms = 0;
}

/* True while Redis is backing off after a failure in this or an earlier tick. */
static int redis_waiting(const struct worker *w)
{
    return util_mono_ms() < w->redis_retry_at;
}

static redisReply *script(struct worker *w, const char *lua, const char *what, int argc,
                          const char **argv, const size_t *argvlen)
{
    redisReply *r = rsync_script(w->rs, lua, 0, argc, argv, argvlen);
    if (r == NULL) {
        redis_failed(w, what);
        return NULL;
    }
    redis_ok(w);
    if (r->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("redis script failed", "op", what, "error", r->str, NULL);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static const char *rec_get(const redisReply *rec, const char *field)
{
    if (rec == NULL || rec->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < rec->elements; i += 2)
        if (rec->element[i]->type == REDIS_REPLY_STRING && strcmp(rec->element[i]->str, field) == 0)
            return rec->element[i + 1]->type == REDIS_REPLY_STRING ? rec->element[i + 1]->str
                                                                   : NULL;
    return NULL;
}

/* Positions in each record claim.lua returns (its FIELDS list). */
enum claim_field {
    CF_ID,
    CF_EVENT_ID,
    CF_REQUEST_ID,
    CF_EVENT_TYPE,
    CF_SOURCE,
    CF_CONTENT_TYPE,
    CF_CONTENT_ID,
    CF_SHOW_ID,
    CF_LEASE,
    CF_SEASON,
    CF_EPISODE,
    CF_ATTEMPT_COUNT,
    CF_STATUS,
    CF_COUNT
};

/* Field f of a claimed record, or NULL when absent (a nil from HMGET). */
static const char *claim_get(const redisReply *rec, enum claim_field f)
{
    if (rec == NULL || rec->type != REDIS_REPLY_ARRAY || rec->elements != CF_COUNT)
        return NULL;
    const redisReply *v = rec->element[f];
    return v->type == REDIS_REPLY_STRING ? v->str : NULL;
}

static uint32_t random32(void)
{
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)rand();
    return v;
}

/* ---- jobs -------------------------------------------------------------------------------- */

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->n_bodies; i++)
        json_decref(j->bodies[i]);
    free(j->id);
    free(j->event_id);
    free(j->request_id);
    free(j->event_type);
    free(j->source);
    free(j->content_type);
    free(j->content_id);
    free(j->show_id);
    free(j->lease);
    free(j->title_type);
    free(j->message);
    free(j->snippet);
    free(j);
}

static void job_unlink(struct job *j)
{
    struct worker *w = j->w;
    if (j->prev)
        j->prev->next = j->next;
    else
        w->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    w->n_jobs--;
    w->inflight[j->ti]--;
}

static void maybe_exit(struct worker *w)
{
    if (w->stopping && w->n_jobs == 0)
        event_base_loopexit(w->base, NULL);
}

static void log_outcome(const struct job *j, const char *status, int attempt)
{
    char att[16], dur[24], hs[16];
    snprintf(att, sizeof(att), "%d", attempt);
    snprintf(dur, sizeof(dur), "%" PRId64, j->duration_ms);
    snprintf(hs, sizeof(hs), "%ld", j->http_status);
    enum log_level lvl = strcmp(status, "failed") == 0     ? LOG_LEVEL_WARN
                         : strcmp(status, "retrying") == 0 ? LOG_LEVEL_WARN
                                                           : LOG_LEVEL_INFO;
    char msg[40];
    snprintf(msg, sizeof(msg), "delivery %s", status);
    LOG_AT(lvl, msg, "request_id", j->request_id, "event_id", j->event_id, "delivery_id", j->id,
           "source", j->source, "target", j->t->name, "status", status, "attempt", att,
           "duration_ms", dur, "http_status", j->http_status ? hs : NULL, "error_code",
           j->code[0] ? j->code : NULL, "error", j->message && j->message[0] ? j->message : NULL,
           NULL);
}

/* Logs what complete.lua answered for one job (one element of its reply). */
static void job_written(struct job *j, const redisReply *e)
{
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *status = e->element[0]->str;
    if (strcmp(status, "stale") == 0) {
        LOG_WARN("delivery lease lost; outcome dropped", "delivery_id", j->id, "target", j->t->name,
                 NULL);
    } else if (strcmp(j->outcome, "release") == 0) {
        LOG_INFO("delivery handed back", "delivery_id", j->id, "event_id", j->event_id, "target",
                 j->t->name, NULL);
    } else {
        long long att = e->elements >= 2 && e->element[1]->type == REDIS_REPLY_INTEGER
                            ? e->element[1]->integer
                            : j->attempt;
        log_outcome(j, status, (int)att);
    }
}

/* Writes the outcomes of jobs[0..n) with one complete.lua call. Returns 0 when Redis took
 * them (or answered with an error, which is logged: the leases then expire and the deliveries
 * are retried), -1 when Redis could not be reached: the jobs then stay to be written later. */
static int jobs_write(struct worker *w, struct job **jobs, size_t n)
{
    const struct config *cfg = w->cfg;
    char maxa[24], ret[24], nb[24];
    size_t argc = 4 + COMPLETE_ARGS * n;
    const char **argv = malloc(argc * sizeof(*argv));

    if (argv == NULL)
        return -1;
    snprintf(maxa, sizeof(maxa), "%" PRId64, cfg->retry_max_attempts);
    snprintf(ret, sizeof(ret), "%" PRId64, cfg->retention_s);
    snprintf(nb, sizeof(nb), "%zu", n);
    argv[0] = cfg->redis_prefix;
    argv[1] = maxa;
    argv[2] = ret;
    argv[3] = nb;
    for (size_t i = 0; i < n; i++) {
        struct job *j = jobs[i];
        const char **a = argv + 4 + COMPLETE_ARGS * i;
        j->a_status[0] = '\0';
        if (j->http_status)
            snprintf(j->a_status, sizeof(j->a_status), "%ld", j->http_status);
        snprintf(j->a_delay, sizeof(j->a_delay), "%" PRId64, j->delay_ms);
        j->a_push[0] = '\0';
        if (j->push_ms >= 0)
            snprintf(j->a_push, sizeof(j->a_push), "%" PRId64, j->push_ms);
        snprintf(j->a_dur, sizeof(j->a_dur), "%" PRId64, j->duration_ms);
        a[0] = j->id;
        a[1] = j->lease;
        a[2] = j->outcome;
        a[3] = j->a_status;
        a[4] = j->code;
        a[5] = j->message ? j->message : "";
        a[6] = j->snippet ? j->snippet : "";
        a[7] = j->a_delay;
        a[8] = j->a_push;
        a[9] = j->a_dur;
        a[10] = j->count_attempt ? "1" : "0";
    }
    redisReply *r = rsync_script(w->rs, lua_complete, 0, (int)argc, argv, NULL);
    free(argv);
    if (r == NULL) {
        redis_failed(w, "complete");
        return -1;
    }
    redis_ok(w);
    if (r->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("redis script failed", "op", "complete", "delivery_id", jobs[0]->id, "error",
                  r->str, NULL);
    } else if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < n && i < r->elements; i++)
            job_written(jobs[i], r->element[i]);
    }
    freeReplyObject(r);
    return 0;
}

/* Writes every outcome waiting in w->jobs, COMPLETE_BATCH per call, and frees those jobs.
 * Returns 0, or -1 when Redis could not be reached (what is left is written later). */
static int flush_completions(struct worker *w)
{
    struct job *batch[COMPLETE_BATCH];
    int rc = 0;

    for (;;) {
        size_t n = 0;
        for (struct job *j = w->jobs; j && n < COMPLETE_BATCH; j = j->next)
            if (j->state == JOB_COMPLETING)
                batch[n++] = j;
        if (n == 0)
            break;
        if (jobs_write(w, batch, n) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            job_unlink(batch[i]);
            job_free(batch[i]);
        }
        if (n < COMPLETE_BATCH)
            break;
    }
    maybe_exit(w);
    return rc;
}

/* Ends the current attempt. outcome: delivered, retry, failed, superseded, release. */
static void job_finish(struct job *j, const char *outcome, long http_status, const char *code,
                       const char *message, int64_t retry_after_ms)
{
    struct worker *w = j->w;
    const struct config *cfg = w->cfg;

    j->state = JOB_COMPLETING;
    j->outcome = outcome;
    j->http_status = http_status;
    snprintf(j->code, sizeof(j->code), "%s", code ? code : "");
    free(j->message);
    j->message = message ? strdup(message) : NULL;
    j->duration_ms = util_mono_ms() - j->started;
    j->count_attempt = strcmp(outcome, "release") != 0 && strcmp(outcome, "superseded") != 0;
    /* Only a retry waits; RAND_bytes per delivered outcome was a measurable cost. */
    j->delay_ms = strcmp(outcome, "retry") != 0
                      ? 0
                      : backoff_delay_ms(cfg->retry_base_delay_ms, cfg->retry_max_delay_ms,
                                         j->attempt, retry_after_ms, random32());
    /* Written by on_flush once the loop has run every callback that is ready now, together
     * with the other outcomes of this round. */
    event_active(w->flush, EV_TIMEOUT, 1);
}

/* The first SNIPPET_BYTES of a response, cut back to whole UTF-8 characters; bytes of a body
 * that is not UTF-8 at all become '?', so the record stays valid JSON text for the admin API. */
static char *make_snippet(const char *body, size_t len)
{
    if (len > SNIPPET_BYTES)
        len = SNIPPET_BYTES;
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, body, len);
    s[len] = '\0';
    size_t cut = len;
    while (cut > 0 && len - cut < 4 && !util_utf8_valid((unsigned char *)s, cut))
        cut--;
    if (util_utf8_valid((unsigned char *)s, cut)) {
        s[cut] = '\0';
        return s;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80 || (s[i] < 0x20 && s[i] != '\n' && s[i] != '\t'))
            s[i] = '?';
    return s;
}

static void on_push_done(const struct hclient_response *res, void *arg)
{
    struct job *j = arg;
    char msg[256];

    j->call = NULL;
    j->push_ms = res->duration_ms;
    free(j->snippet);
    j->snippet = make_snippet(res->body, res->body_len);
    if (res->error) {
        snprintf(msg, sizeof(msg), "push: %s", res->error_text ? res->error_text : "failed");
        job_finish(j, "retry", 0, hclient_error_code(res->error), msg, 0);
        return;
    }
    snprintf(msg, sizeof(msg), "partner answered %ld", res->status);
    switch (backoff_classify(res->status)) {
    case BACKOFF_DONE:
        job_finish(j, "delivered", res->status, "", "", 0);
        break;
    case BACKOFF_RETRY: {
        int64_t ra = 0;
        if (!backoff_honours_retry_after(res->status) ||
            backoff_parse_retry_after(res->retry_after, util_now_ms(), &ra) != 0)
            ra = 0;
        job_finish(j, "retry", res->status, "partner_unavailable", msg, ra);
        break;
    }
    default:
        job_finish(j, "failed", res->status, "partner_rejected", msg, 0);
        break;
    }
}

/* Sends doc (NULL: no body, DELETE) to the target. Takes nothing from doc. */
static void job_push(struct job *j, const json_t *doc)
{
    const struct target *t = j->t;
    char *body = NULL, *url = NULL;
    struct push_headers h;
    int have_headers = 0;

    if (doc) {
        body = json_dumps(doc, JSON_COMPACT);
        if (body == NULL)
            goto internal;
    }
    const char *type = j->title_type ? j->title_type : j->content_type;
    url = push_url(t, j->content_id, type, j->source);
    if (url == NULL)
        goto internal;
    struct push_meta meta = {.delivery_id = j->id,
                             .event_id = j->event_id,
                             .event_type = j->event_type,
                             .attempt = j->attempt};
    if (push_headers_build(&h, t, &meta, body, body ? strlen(body) : 0) != 0)
        goto internal;
    have_headers = 1;
    struct hclient_request req = {
        .method = doc ? t->method : "DELETE",
        .url = url,
        .headers = h.list,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .auth = &t->auth,
        .timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_PUSH_TIMEOUT_MS,
        .max_body = SNIPPET_BYTES * 2,
    };
    j->state = JOB_PUSH;
    j->call = hclient_start(j->w->hc, &req, on_push_done, j);
    if (j->call == NULL)
        goto internal;
    push_headers_clear(&h);
    free(url);
    free(body);
    return;
internal:
    if (have_headers)
        push_headers_clear(&h);
    free(url);
    free(body);
    job_finish(j, "retry", 0, "internal_error", "could not build the push request", 0);
}

static void job_cms_ref(const struct job *j, struct cms_ref *ref)
{
    ref->content_type = j->content_type[0] ? j->content_type : NULL;
    ref->content_id = j->content_id;
    ref->show_id = j->show_id[0] ? j->show_id : NULL;
    ref->season_number = j->season;
    ref->episode_number = j->episode;
}

/* Everything fetched: normalize, filter by type, render, push. */
static void job_render(struct job *j)
{
    struct cms_ref ref;
    char err[512] = "";

    job_cms_ref(j, &ref);
    json_t *title = cms_normalize(j->src, &ref, j->bodies, j->n_bodies, err, sizeof(err));
    if (title == NULL) {
        job_finish(j, "failed", 0, "source_invalid", err[0] ? err : "unexpected source document",
                   0);
        return;
    }
    const char *type = json_string_value(json_object_get(title, "type"));
    if (type) {
        free(j->title_type);
        j->title_type = strdup(type);
    }
    /* Movida events carry no type: the target's content_types filter applies only now. */
    if (type && !config_target_matches(j->t, j->source, type)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "target does not take %s", type);
        json_decref(title);
        job_finish(j, "superseded", 0, "filtered", msg, 0);
        return;
    }
    json_t *doc = fmt_render(j->t, title, 0, err, sizeof(err));
    json_decref(title);
    if (doc == NULL) {
        job_finish(j, "failed", 0, "validation_failed", err[0] ? err : "missing fields", 0);
        return;
    }
    job_push(j, doc);
    json_decref(doc);
}

static void job_fetch_next(struct job *j);

static void on_fetch_done(const struct hclient_response *res, void *arg)
{
    struct job *j = arg;
    char msg[256];

    j->wait = NULL;
    if (res->error) {
        snprintf(msg, sizeof(msg), "source fetch: %s",
                 res->error_text ? res->error_text : "failed");
        job_finish(j, "retry", 0, "source_unavailable", msg, 0);
        return;
    }
    snprintf(msg, sizeof(msg), "source answered %ld", res->status);
    if (res->status == 404 || res->status == 410) {
        job_finish(j, "failed", res->status, "source_not_found", msg, 0);
        return;
    }
    switch (backoff_classify(res->status)) {
    case BACKOFF_DONE:
        break;
    case BACKOFF_RETRY: {
        int64_t ra = 0;
        if (!backoff_honours_retry_after(res->status) ||
            backoff_parse_retry_after(res->retry_after, util_now_ms(), &ra) != 0)
            ra = 0;
        job_finish(j, "retry", res->status, "source_unavailable", msg, ra);
        return;
    }
    default:
        job_finish(j, "failed", res->status, "source_rejected", msg, 0);
        return;
    }
    if (res->truncated) {
        job_finish(j, "failed", res->status, "source_invalid", "source document too large", 0);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(res->body, res->body_len, 0, &jerr);
    if (doc == NULL) {
        /* A cut-off or garbled answer is more likely a hiccup than the CMS's real state. */
        job_finish(j, "retry", res->status, "source_invalid", "source answered invalid JSON", 0);
        return;
    }
    j->bodies[j->n_bodies++] = doc;
    job_fetch_next(j);
}

static void job_fetch_next(struct job *j)
{
    static const char *const headers[] = {"Accept: application/json", NULL};
    struct cms_ref ref;

    job_cms_ref(j, &ref);
    char *url = cms_next_url(j->src, &ref, j->bodies, j->n_bodies);
    if (url == NULL) {
        job_render(j);
        return;
    }
    if (j->n_bodies >= MAX_FETCHES) {
        free(url);
        job_finish(j, "failed", 0, "source_invalid", "too many linked documents", 0);
        return;
    }
    struct hclient_request req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .auth = &j->src->api_auth,
        .timeout_ms = j->src->api_timeout_ms > 0 ? j->src->api_timeout_ms : 5000,
        .max_body = FETCH_MAX_BODY,
    };
    /* The deliveries of this event to other targets fetch the same documents now: one
     * request answers them all. Keyed by event, never shared across events. */
    size_t klen = strlen(j->source) + strlen(j->event_id) + strlen(url) + 3;
    char *key = malloc(klen);
    j->state = JOB_FETCH;
    if (key) {
        snprintf(key, klen, "%s\n%s\n%s", j->source, j->event_id, url);
        j->wait = fetches_get(j->w->fx, key, &req, on_fetch_done, j);
    }
    free(key);
    free(url);
    if (j->wait == NULL)
        job_finish(j, "retry", 0, "internal_error", "could not start the source fetch", 0);
}

static void job_begin(struct job *j)
{
    if (j->src == NULL) {
        job_finish(j, "failed", 0, "config_error", "source no longer configured", 0);
        return;
    }
    if (!j->unpublish) {
        job_fetch_next(j);
        return;
    }
    if (j->t->unpublish == UNPUBLISH_DELETE) {
        job_push(j, NULL);
        return;
    }
    struct cms_ref ref;
    char err[512] = "";
    job_cms_ref(j, &ref);
    json_t *tomb = cms_tombstone(j->src, &ref);
    json_t *doc = tomb ? fmt_render(j->t, tomb, 1, err, sizeof(err)) : NULL;
    json_decref(tomb);
    if (doc == NULL) {
        job_finish(j, "failed", 0, "validation_failed", err[0] ? err : "no removal document", 0);
        return;
    }
    job_push(j, doc);
    json_decref(doc);
}

static char *dup_field(const redisReply *rec, enum claim_field f)
{
    const char *v = claim_get(rec, f);
    return strdup(v ? v : "");
}

/* Starts work on one claimed record. */
static void job_start(struct worker *w, size_t ti, const redisReply *rec)
{
    struct job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return; /* the lease expires and the delivery is reclaimed */
    j->w = w;
    j->ti = ti;
    j->t = &w->cfg->targets[ti];
    j->push_ms = -1;
    j->started = util_mono_ms();
    j->id = dup_field(rec, CF_ID);
    j->event_id = dup_field(rec, CF_EVENT_ID);
    j->request_id = dup_field(rec, CF_REQUEST_ID);
    j->event_type = dup_field(rec, CF_EVENT_TYPE);
    j->source = dup_field(rec, CF_SOURCE);
    j->content_type = dup_field(rec, CF_CONTENT_TYPE);
    j->content_id = dup_field(rec, CF_CONTENT_ID);
    j->show_id = dup_field(rec, CF_SHOW_ID);
    j->lease = dup_field(rec, CF_LEASE);
    const char *v = claim_get(rec, CF_SEASON);
    j->season = v && *v ? atoi(v) : -1;
    v = claim_get(rec, CF_EPISODE);
    j->episode = v && *v ? atoi(v) : -1;
    v = claim_get(rec, CF_ATTEMPT_COUNT);
    j->attempt = (v ? atoi(v) : 0) + 1;
    if (!j->id || !j->event_id || !j->event_type || !j->source || !j->content_type ||
        !j->content_id || !j->show_id || !j->lease) {
        job_free(j);
        return;
    }
    j->unpublish = strcmp(j->event_type, "content.unpublished") == 0;
    j->src = config_source(w->cfg, j->source);
    j->next = w->jobs;
    if (w->jobs)
        w->jobs->prev = j;
    w->jobs = j;
    w->n_jobs++;
    w->inflight[ti]++;
    job_begin(j);
}

/* ---- taking events ----------------------------------------------------------------------- */

/* Appends one stream entry's fanout.lua arguments (stream id, nt, nf, target/id pairs,
 * fields) to argv/lens at *argc; ids has room for the entry's targets, nbuf for nt and nf.
 * Returns 0, or -1 when the entry is not a stream entry (nothing appended). */
static int fanout_args(struct worker *w, const redisReply *entry, const char **argv, size_t *lens,
                       int *argc, char (*ids)[29], char nbuf[2][16])
{
    const struct config *cfg = w->cfg;
    const char *sid = entry->element[0]->str;
    const redisReply *fields = entry->element[1];
    size_t nf = fields->elements;
    const char *source = rec_get(fields, "source");
    const char *event_id = rec_get(fields, "event_id");
    const char *ctype = rec_get(fields, "content_type");
    const char *only = rec_get(fields, "targets"); /* a sync's publish: the targets it chose */
    int a = *argc, nt = 0;

    argv[a++] = sid;
    argv[a++] = nbuf[0];
    argv[a++] = nbuf[1];
    if (source && event_id && config_source(cfg, source)) {
        for (size_t i = 0; i < cfg->n_targets; i++) {
            const struct target *t = &cfg->targets[i];
            if (!config_target_matches(t, source, ctype) || !sync_run_entry_wants(only, t->name))
                continue;
            worker_delivery_id(source, event_id, t->name, ids[nt]);
            argv[a++] = t->name;
            argv[a++] = ids[nt];
            nt++;
        }
    } else {
        LOG_WARN("dropping stream entry of unknown source", "stream_id", sid, "source", source,
                 "event_id", event_id, NULL);
    }
    snprintf(nbuf[0], sizeof(nbuf[0]), "%d", nt);
    snprintf(nbuf[1], sizeof(nbuf[1]), "%zu", nf);
    for (int i = *argc; i < a; i++)
        lens[i] = strlen(argv[i]);
    for (size_t i = 0; i < nf; i++) {
        const redisReply *e = fields->element[i];
        argv[a] = e->type == REDIS_REPLY_STRING ? e->str : "";
        lens[a] = e->type == REDIS_REPLY_STRING ? (size_t)e->len : 0;
        a++;
    }
    *argc = a;
    return 0;
}

static int is_entry(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements >= 2 &&
           e->element[0]->type == REDIS_REPLY_STRING && e->element[1]->type == REDIS_REPLY_ARRAY;
}

/* Entries of an XREADGROUP/XAUTOCLAIM answer, fanned out with one fanout.lua call. Returns the
 * number handled, -1 when Redis failed (the entries stay pending in the group and are read
 * again). */
static int fanout_entries(struct worker *w, const redisReply *entries)
{
    const struct config *cfg = w->cfg;
    size_t m = 0, nargs = 3;
    int rc = 0;

    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (is_entry(e)) {
            m++;
            nargs += 3 + 2 * cfg->n_targets + e->element[1]->elements;
            continue;
        }
        /* deleted while pending: only acknowledge it */
        if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
            e->element[0]->type == REDIS_REPLY_STRING) {
            redisReply *r = rsync_commandf(w->rs, "XACK %s:events workers %s", cfg->redis_prefix,
                                           e->element[0]->str);
            if (r)
                freeReplyObject(r);
        }
    }
    if (m == 0)
        return 0;
    char(*ids)[29] = calloc(m * (cfg->n_targets + 1), sizeof(*ids));
    char(*nbuf)[2][16] = calloc(m, sizeof(*nbuf));
    const char **argv = calloc(nargs, sizeof(*argv));
    size_t *lens = calloc(nargs, sizeof(*lens));
    char ret[24], mb[24];
    int argc = 0;

    if (ids == NULL || nbuf == NULL || argv == NULL || lens == NULL) {
        rc = -1;
        w->read_own = 1;
        goto out;
    }
    snprintf(ret, sizeof(ret), "%" PRId64, cfg->retention_s);
    snprintf(mb, sizeof(mb), "%zu", m);
    argv[argc++] = cfg->redis_prefix;
    argv[argc++] = ret;
    argv[argc++] = mb;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    size_t k = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (!is_entry(e))
            continue;
        (void)fanout_args(w, e, argv, lens, &argc, ids + k * (cfg->n_targets + 1), nbuf[k]);
        k++;
    }
    redisReply *r = script(w, lua_fanout, "fanout", argc, argv, lens);
    if (r == NULL) {
        rc = -1;
        w->read_own = 1;
        goto out;
    }
    if (log_threshold <= LOG_LEVEL_DEBUG && r->type == REDIS_REPLY_ARRAY) {
        k = 0;
        for (size_t i = 0; i < entries->elements && k < r->elements; i++) {
            const redisReply *e = entries->element[i];
            if (!is_entry(e))
                continue;
            char n[24];
            snprintf(n, sizeof(n), "%lld", r->element[k++]->integer);
            LOG_DEBUG("event fanned out", "event_id", rec_get(e->element[1], "event_id"), "source",
                      rec_get(e->element[1], "source"), "stream_id", e->element[0]->str,
                      "deliveries", n, NULL);
        }
    }
    freeReplyObject(r);
    rc = (int)m;
out:
    free(ids);
    free(nbuf);
    free(argv);
    free(lens);
    return rc;
}

static void ensure_group(struct worker *w)
{
    char key[256];
    snprintf(key, sizeof(key), "%s:events", w->cfg->redis_prefix);
    const char *argv[] = {"XGROUP", "CREATE", key, "workers", "0", "MKSTREAM"};
    redisReply *r = rsync_command(w->rs, 6, argv, NULL);
    if (r == NULL) {
        redis_failed(w, "xgroup");
        return;
    }
    if (r->type != REDIS_REPLY_ERROR)
        LOG_INFO("created consumer group", "stream", key, NULL);
    freeReplyObject(r);
}

/* Reads new stream entries (or, after a failure, our own pending ones) and fans them out. */
static void take(struct worker *w)
{
    char key[256], count[16];
    snprintf(key, sizeof(key), "%s:events", w->cfg->redis_prefix);
    snprintf(count, sizeof(count), "%d", TAKE_COUNT);
    w->take_full = 0;
    const char *argv[] = {"XREADGROUP", "GROUP", "workers",
                          w->consumer,  "COUNT", count,
                          "STREAMS",    key,     w->read_own ? "0" : ">"};
    redisReply *r = rsync_command(w->rs, 9, argv, NULL);
    if (r == NULL) {
        redis_failed(w, "xreadgroup");
        return;
    }
    redis_ok(w);
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "NOGROUP", 7) == 0)
            ensure_group(w);
        else
            LOG_ERROR("xreadgroup failed", "error", r->str, NULL);
        freeReplyObject(r);
        return;
    }
    int handled = 0;
    size_t got = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->elements >= 2) {
        got = r->element[0]->element[1]->elements;
        handled = fanout_entries(w, r->element[0]->element[1]);
    }
    w->take_full = handled >= 0 && got >= TAKE_COUNT;
    w->found += got;
    if (w->read_own && handled == 0)
        w->read_own = 0; /* our pending list is empty again */
    freeReplyObject(r);
}

/* Entries a dead worker read but never fanned out come back after visibility_timeout_ms. */
static void autoclaim(struct worker *w)
{
    char key[256], idle[24];
    snprintf(key, sizeof(key), "%s:events", w->cfg->redis_prefix);
    snprintf(idle, sizeof(idle), "%" PRId64, w->cfg->worker_visibility_timeout_ms);
    const char *argv[] = {"XAUTOCLAIM",        key,     "workers", w->consumer, idle,
                          w->autoclaim_cursor, "COUNT", "32"};
    redisReply *r = rsync_command(w->rs, 8, argv, NULL);
    if (r == NULL) {
        redis_failed(w, "xautoclaim");
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING)
            snprintf(w->autoclaim_cursor, sizeof(w->autoclaim_cursor), "%s", r->element[0]->str);
        int n = fanout_entries(w, r->element[1]);
        if (n > 0) {
            char c[16];
            snprintf(c, sizeof(c), "%d", n);
            LOG_INFO("took over stream entries of a stalled worker", "entries", c, NULL);
        }
    } else {
        snprintf(w->autoclaim_cursor, sizeof(w->autoclaim_cursor), "0-0");
    }
    freeReplyObject(r);
}

static void reclaim(struct worker *w)
{
    const char *argv[] = {w->cfg->redis_prefix, "100"};
    redisReply *r = script(w, lua_reclaim, "reclaim", 2, argv, NULL);
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", r->integer);
        LOG_WARN("reclaimed expired delivery leases", "deliveries", n, NULL);
    }
    freeReplyObject(r);
}

/* Claims up to n due deliveries of target ti and starts them. Returns how many started. */
static size_t claim(struct worker *w, size_t ti, size_t n)
{
    const struct config *cfg = w->cfg;
    const struct target *t = &cfg->targets[ti];
    char nb[24], vt[24], rate[32], ret[24];
    snprintf(nb, sizeof(nb), "%zu", n);
    snprintf(vt, sizeof(vt), "%" PRId64, cfg->worker_visibility_timeout_ms);
    snprintf(rate, sizeof(rate), "%.6f", t->rate_per_s > 0 ? t->rate_per_s : 0.0);
    snprintf(ret, sizeof(ret), "%" PRId64, cfg->retention_s);
    const char *argv[] = {cfg->redis_prefix, t->name, nb, vt, rate, ret, w->consumer};
    redisReply *r = script(w, lua_claim, "claim", 7, argv, NULL);
    size_t started = 0;
    if (r == NULL)
        return 0;
    if (r->type == REDIS_REPLY_ARRAY)
        w->found += r->elements;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *rec = r->element[i];
        const char *status = claim_get(rec, CF_STATUS);
        if (status && strcmp(status, "superseded") == 0) {
            LOG_INFO("delivery superseded", "event_id", claim_get(rec, CF_EVENT_ID), "delivery_id",
                     claim_get(rec, CF_ID), "source", claim_get(rec, CF_SOURCE), "target", t->name,
                     "status", "superseded", "attempt", claim_get(rec, CF_ATTEMPT_COUNT),
                     "duration_ms", "0", NULL);
            continue;
        }
        job_start(w, ti, rec);
        started++;
    }
    freeReplyObject(r);
    return started;
}

static void claim_all(struct worker *w)
{
    const struct config *cfg = w->cfg;
    size_t nt = cfg->n_targets;
    for (size_t k = 0; k < nt && !redis_waiting(w); k++) {
        size_t limit = (size_t)(cfg->worker_concurrency > 0 ? cfg->worker_concurrency : 32);
        if (w->n_jobs >= limit)
            break;
        size_t ti = (w->rr + k) % nt;
        const struct target *t = &cfg->targets[ti];
        size_t mif = (size_t)(t->max_in_flight > 0 ? t->max_in_flight : 8);
        if (w->inflight[ti] >= mif)
            continue;
        size_t room = mif - w->inflight[ti];
        if (room > limit - w->n_jobs)
            room = limit - w->n_jobs;
        claim(w, ti, room);
    }
    w->rr++;
}

/* Reads the stream while it answers full batches (at most TAKE_ROUNDS reads), then claims
 * due deliveries into the room there is. */
static void poll_work(struct worker *w)
{
    for (int k = 0; k < TAKE_ROUNDS && !redis_waiting(w); k++) {
        take(w);
        if (!w->take_full)
            break;
    }
    if (!redis_waiting(w))
        claim_all(w);
}

static void tick(struct worker *w)
{
    int64_t now = util_mono_ms();

    if (redis_waiting(w) || flush_completions(w) != 0)
        return;
    if (w->stopping || redis_waiting(w))
        return;
    if (now >= w->next_reclaim) {
        reclaim(w);
        w->next_reclaim = now + RECLAIM_EVERY_MS;
    }
    if (now >= w->next_autoclaim && !redis_waiting(w)) {
        autoclaim(w);
        int64_t every = w->cfg->worker_visibility_timeout_ms / 2;
        w->next_autoclaim = now + (every > 100 ? every : 100);
    }
    poll_work(w);
    sync_run_tick(w->sync);
}

/* Polls, then re-arms itself. Every idle poll is a few Redis scripts per target, and many
 * workers share one Redis: a worker that found no work for IDLE_AFTER_MS doubles its interval
 * up to IDLE_MAX_MS, and is back at TICK_MS as soon as a poll finds work. (Backing off after
 * a single empty poll put up to ~50 ms on the p99 latency at 500 events/s, where several
 * workers share a steady trickle and many polls come back empty.) */
static void on_tick(evutil_socket_t fd, short kind, void *arg)
{
    struct worker *w = arg;
    uint64_t before = w->found;

    tick(w);
    int64_t now = util_mono_ms();
    if (w->found != before || w->n_jobs > 0 || w->redis_down || w->stopping)
        w->found_at = now;
    if (now - w->found_at < IDLE_AFTER_MS)
        w->tick_ms = TICK_MS;
    else if (w->tick_ms < IDLE_MAX_MS)
        w->tick_ms = w->tick_ms * 2 < IDLE_MAX_MS ? w->tick_ms * 2 : IDLE_MAX_MS;
    struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)(w->tick_ms * 1000)};
    event_add(w->tick, &tv);
}

/* Outcomes are ready: write them all in one go, then refill the room they freed at once
 * instead of waiting for the next tick. */
static void on_flush(evutil_socket_t fd, short kind, void *arg)
{
    struct worker *w = arg;

    if (redis_waiting(w) || flush_completions(w) != 0)
        return; /* the tick retries */
    if (w->stopping || redis_waiting(w))
        return;
    if (w->take_full)
        take(w);
    if (!redis_waiting(w))
        claim_all(w);
}

/* ---- shutdown ---------------------------------------------------------------------------- */

static void on_drain_timeout(evutil_socket_t fd, short kind, void *arg)
{
    struct worker *w = arg;
    struct job *j;

    /* Outcomes already decided go first; then what is still in flight is handed back (if
     * Redis is unreachable, the leases simply expire and another worker retries). */
    int rc = flush_completions(w);
    for (j = w->jobs; j && rc == 0; j = j->next) {
        if (j->state == JOB_COMPLETING)
            continue; /* Redis did not take it: the lease expires and another worker retries */
        hclient_cancel(w->hc, j->call);
        j->call = NULL;
        fetches_cancel(w->fx, j->wait);
        j->wait = NULL;
        j->state = JOB_COMPLETING;
        j->outcome = "release";
        j->count_attempt = 0;
    }
    if (rc == 0)
        (void)flush_completions(w);
    while (w->jobs) {
        j = w->jobs;
        job_unlink(j);
        job_free(j);
    }
    event_base_loopexit(w->base, NULL);
}

static void on_signal(evutil_socket_t sig, short kind, void *arg)
{
    struct worker *w = arg;
    if (w->stopping)
        return;
    w->stopping = 1;
    char n[16];
    snprintf(n, sizeof(n), "%zu", w->n_jobs);
    LOG_INFO("stopping: finishing deliveries in flight", "signal",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", "in_flight", n, NULL);
    if (w->n_jobs == 0) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    struct timeval tv = {.tv_sec = w->drain_ms / 1000, .tv_usec = (w->drain_ms % 1000) * 1000};
    evtimer_add(w->drain, &tv);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

struct worker *worker_new(const struct config *cfg)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->cfg = cfg;
    w->base = event_base_new();
    w->inflight = calloc(cfg->n_targets + 1, sizeof(*w->inflight));
    w->rs = rsync_new(cfg, 2000);
    if (w->base == NULL || w->inflight == NULL || w->rs == NULL)
        goto fail;
    w->hc = hclient_new(w->base);
    w->fx = w->hc ? fetches_new(w->hc) : NULL;
    w->tick = evtimer_new(w->base, on_tick, w);
    w->tick_ms = TICK_MS;
    w->found_at = util_mono_ms();
    w->sigterm = evsignal_new(w->base, SIGTERM, on_signal, w);
    w->sigint = evsignal_new(w->base, SIGINT, on_signal, w);
    w->drain = evtimer_new(w->base, on_drain_timeout, w);
    w->flush = event_new(w->base, -1, 0, on_flush, w);
    w->sync = sync_run_new(cfg, w->base);
    if (w->sync == NULL || w->hc == NULL || w->fx == NULL || w->tick == NULL ||
        w->sigterm == NULL || w->sigint == NULL || w->drain == NULL || w->flush == NULL)
        goto fail;
    char host[64] = "host", rnd[9];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    util_random_hex(rnd, 4);
    snprintf(w->consumer, sizeof(w->consumer), "%s-%d-%s", host, (int)getpid(), rnd);
    snprintf(w->autoclaim_cursor, sizeof(w->autoclaim_cursor), "0-0");
    w->read_own = 1;
    return w;
fail:
    worker_free(w);
    return NULL;
}

void worker_free(struct worker *w)
{
    if (w == NULL)
        return;
    while (w->jobs) {
        struct job *j = w->jobs;
        if (j->call)
            hclient_cancel(w->hc, j->call);
        if (j->wait)
            fetches_cancel(w->fx, j->wait);
        job_unlink(j);
        job_free(j);
    }
    sync_run_free(w->sync);
    fetches_free(w->fx);
    hclient_free(w->hc);
    if (w->tick)
        event_free(w->tick);
    if (w->sigterm)
        event_free(w->sigterm);
    if (w->sigint)
        event_free(w->sigint);
    if (w->drain)
        event_free(w->drain);
    if (w->flush)
        event_free(w->flush);
    rsync_free(w->rs);
    free(w->inflight);
    if (w->base)
        event_base_free(w->base);
    free(w);
}

int worker_run(struct worker *w, long drain_ms)
{
    struct timeval tick = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};
    w->drain_ms = drain_ms;
    if (event_add(w->tick, &tick) != 0 || event_add(w->sigterm, NULL) != 0 ||
        event_add(w->sigint, NULL) != 0)
        return -1;
    LOG_INFO("worker started", "consumer", w->consumer, NULL);
    /* A push that outlives its lease is reclaimed and sent again by another worker, and the
     * next event's push for the title stops waiting for it: say so while it is a config. */
    for (size_t i = 0; i < w->cfg->n_targets; i++) {
        const struct target *t = &w->cfg->targets[i];
        int64_t push_ms = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_PUSH_TIMEOUT_MS;
        if (push_ms >= w->cfg->worker_visibility_timeout_ms)
            LOG_WARN("worker.visibility_timeout_ms is not above the target's timeout_ms: a slow "
                     "push may be sent twice and overlap the next one",
                     "target", t->name, NULL);
    }
    if (event_base_dispatch(w->base) < 0)
        return -1;
    size_t started = 0, joined = 0;
    char s1[24], s2[24];
    fetches_counts(w->fx, &started, &joined);
    snprintf(s1, sizeof(s1), "%zu", started);
    snprintf(s2, sizeof(s2), "%zu", joined);
    /* source_fetches_shared: deliveries that used another delivery's fetch of the same event */
    LOG_INFO("worker stopped", "source_fetches", s1, "source_fetches_shared", s2, NULL);
    return 0;
}
