/* One claimed delivery, from claim to outcome: fetch the title from its source, render it for
 * the target, push it, and turn every HTTP answer into one of the delivery results. */
#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jread.h"
#include "core/log.h"
#include "core/util.h"
#include "handlers/backoff.h"
#include "handlers/cms.h"
#include "handlers/fetches.h"
#include "handlers/fmt.h"
#include "handlers/hclient.h"
#include "handlers/push.h"
#include "handlers/worker_internal.h"
#include "queue/catalog.h"
#include "queue/lua.h"
#include "queue/rconn.h"

/* A catalog read in flight for a job; job is NULL once the job is gone. */
struct cat_lookup {
    struct job *job;
};

#define FETCH_MAX_BODY (16u << 20)
#define SNIPPET_BYTES 512
#define DEFAULT_PUSH_TIMEOUT_MS 10000
#define DEFAULT_FETCH_TIMEOUT_MS 5000

static uint32_t random32(void)
{
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)rand();
    return v;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

void worker_job_free(struct job *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->n_bodies; i++)
        json_decref(j->bodies[i]);
    jread_arena_free(j->arena); /* after the last of its values */
    free(j->strs);
    free(j->title_type);
    free(j->message);
    free(j->snippet);
    if (j->lookup)
        j->lookup->job = NULL; /* its answer, still to come, finds no job */
    free(j->cat_doc);
    free(j->cat_updated_at);
    free(j->cat_content_type);
    free(j);
}

void worker_job_unlink(struct job *j)
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
    w->freed[j->ti]++;
}

void worker_job_finish(struct job *j, enum dlv_result result, long http_status, const char *code,
                       const char *message, int64_t retry_after_ms)
{
    const struct config *cfg = j->w->cfg;

    j->state = JOB_DONE;
    j->result = result;
    j->http_status = http_status;
    size_t cl = code ? strnlen(code, sizeof(j->code) - 1) : 0;
    memcpy(j->code, code ? code : "", cl);
    j->code[cl] = '\0';
    free(j->message);
    j->message = message && message[0] ? strdup(message) : NULL;
    j->duration_ms = util_mono_ms() - j->started;
    j->count_attempt = result != DLV_RELEASE && result != DLV_SUPERSEDED;
    /* Only a retry waits; RAND_bytes per delivered outcome was a measurable cost. */
    j->delay_ms = result != DLV_RETRY
                      ? 0
                      : backoff_delay_ms(cfg->retry_base_delay_ms, cfg->retry_max_delay_ms,
                                         j->attempt, retry_after_ms, random32());
    worker_outcome_ready(j->w);
}

void worker_job_release(struct job *j)
{
    if (j->call)
        hclient_cancel(j->w->hc, j->call);
    j->call = NULL;
    if (j->wait)
        fetches_cancel(j->w->fx, j->wait);
    j->wait = NULL;
    j->state = JOB_DONE;
    j->result = DLV_RELEASE;
    j->count_attempt = 0;
}

void worker_job_outcome(const struct job *j, struct dlv_outcome *o)
{
    *o = (struct dlv_outcome){.id = j->id,
                              .lease = j->lease,
                              .result = j->result,
                              .http_status = j->http_status,
                              .code = j->code,
                              .message = j->message,
                              .snippet = j->snippet,
                              .delay_ms = j->delay_ms,
                              .push_ms = j->push_ms,
                              .duration_ms = j->duration_ms,
                              .count_attempt = j->count_attempt,
                              .cat_status = j->cat_status,
                              .cat_doc = j->cat_doc,
                              .cat_updated_at = j->cat_updated_at,
                              .cat_content_type = j->cat_content_type,
                              .cat_markets = j->cat_markets,
                              .cat_retention_s = j->t->feed.tombstone_retention_s > 0
                                                     ? j->t->feed.tombstone_retention_s
                                                     : 2592000,
                              .cat_store = j->t->delivery == DELIVERY_FEED};
}

void worker_job_written(const struct job *j, const struct dlv_written *wr)
{
    if (wr->stale && j->rewrite) {
        /* most likely the first write, sent before Redis stalled, was taken after all */
        LOG_INFO("delivery outcome already recorded or lease moved on", "delivery_id", j->id,
                 "target", j->t->name, NULL);
        return;
    }
    if (wr->stale) {
        LOG_WARN("delivery lease lost; outcome dropped", "delivery_id", j->id, "target", j->t->name,
                 NULL);
        return;
    }
    if (j->result == DLV_RELEASE) {
        LOG_INFO("delivery handed back", "delivery_id", j->id, "event_id", j->event_id, "target",
                 j->t->name, NULL);
        return;
    }
    const char *status = wr->status ? wr->status : dlv_result_name(j->result);
    int warn = strcmp(status, "failed") == 0 || strcmp(status, "retrying") == 0;
    enum log_level lvl = warn ? LOG_LEVEL_WARN : LOG_LEVEL_INFO;
    if (log_threshold > lvl)
        return;
    char msg[40], hs[16];
    snprintf(msg, sizeof(msg), "delivery %s", status);
    snprintf(hs, sizeof(hs), "%ld", j->http_status);
    LOG_AT(lvl, msg, "request_id", j->request_id, "event_id", j->event_id, "delivery_id", j->id,
           "source", j->source, "target", j->t->name, "status", status,
           LOG_INT("attempt", wr->status ? wr->attempt_count : j->attempt),
           LOG_INT("duration_ms", j->duration_ms), "http_status", j->http_status ? hs : NULL,
           "error_code", j->code[0] ? j->code : NULL, "error", j->message, NULL);
}

/* ---- the verdict on an HTTP answer ----------------------------------------------------------- */

enum side { SIDE_SOURCE, SIDE_PARTNER };

struct verdict {
    int ok; /* 2xx: go on (fetch) or delivered (push) */
    enum dlv_result result;
    const char *code;
    int64_t retry_after_ms;
    char message[256];
};

/* The one rule for both the source fetch and the push: 2xx succeeds; transport errors,
 * timeouts, 408, 425, 429 and 5xx are retried (honouring Retry-After on 429/503 as a
 * minimum); any other answer fails at once, and a 404/410 from the source is
 * source_not_found. */
static void judge(const struct hclient_response *res, enum side side, struct verdict *v)
{
    const char *who = side == SIDE_SOURCE ? "source" : "partner";

    memset(v, 0, sizeof(*v));
    if (res->error) {
        v->result = DLV_RETRY;
        v->code = side == SIDE_SOURCE ? "source_unavailable" : hclient_error_code(res->error);
        snprintf(v->message, sizeof(v->message), "%s: %s",
                 side == SIDE_SOURCE ? "source fetch" : "push",
                 res->error_text ? res->error_text : "failed");
        return;
    }
    if (side == SIDE_SOURCE && (res->status == 404 || res->status == 410)) {
        snprintf(v->message, sizeof(v->message), "%s answered %ld", who, res->status);
        v->result = DLV_FAILED;
        v->code = "source_not_found";
        return;
    }
    enum backoff_class cls = backoff_classify(res->status);
    if (cls != BACKOFF_DONE)
        snprintf(v->message, sizeof(v->message), "%s answered %ld", who, res->status);
    switch (cls) {
    case BACKOFF_DONE:
        v->ok = 1;
        v->result = DLV_DELIVERED;
        v->code = "";
        break;
    case BACKOFF_RETRY:
        v->result = DLV_RETRY;
        v->code = side == SIDE_SOURCE ? "source_unavailable" : "partner_unavailable";
        if (!backoff_honours_retry_after(res->status) ||
            backoff_parse_retry_after(res->retry_after, util_now_ms(), &v->retry_after_ms) != 0)
            v->retry_after_ms = 0;
        break;
    default:
        v->result = DLV_FAILED;
        v->code = side == SIDE_SOURCE ? "source_rejected" : "partner_rejected";
        break;
    }
}

static void finish_verdict(struct job *j, const struct hclient_response *res,
                           const struct verdict *v)
{
    worker_job_finish(j, v->result, res->error ? 0 : res->status, v->code, v->message,
                      v->retry_after_ms);
}

/* ---- push ----------------------------------------------------------------------------------- */

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
    struct verdict v;

    j->call = NULL;
    j->push_ms = res->duration_ms;
    free(j->snippet);
    j->snippet = make_snippet(res->body, res->body_len);
    judge(res, SIDE_PARTNER, &v);
    finish_verdict(j, res, &v);
}

/* Sends doc (NULL: no body, DELETE) to the target. Takes nothing from doc, and leaves it as it
 * was. */
static void job_push(struct job *j, json_t *doc)
{
    const struct target *t = j->t;
    char *body = NULL, *url = NULL;
    struct push_headers h;
    int have_headers = 0;

    size_t body_len = 0;
    if (doc) {
        /* the catalog's copy of the title, when there is one, is part of the body */
        body = fmt_body(t, doc, j->cat_doc, &body_len);
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
    if (push_headers_build(&h, t, &meta, body, body_len) != 0)
        goto internal;
    have_headers = 1;
    struct hclient_request req = {
        .method = doc ? t->method : "DELETE",
        .url = url,
        .headers = h.list,
        .body = body,
        .body_len = body_len,
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
    worker_job_finish(j, DLV_RETRY, 0, "internal_error", "could not build the push request", 0);
}

/* ---- render --------------------------------------------------------------------------------- */

static void job_cms_ref(const struct job *j, struct cms_ref *ref)
{
    ref->content_type = j->content_type[0] ? j->content_type : NULL;
    ref->content_id = j->content_id;
    ref->show_id = j->show_id[0] ? j->show_id : NULL;
    ref->season_number = j->season;
    ref->episode_number = j->episode;
}

/* An unpublish to t is rendered from the full title (fetched like a publish), not from the
 * event alone, where the format's removal is the complete document with its availability
 * emptied (gwi_json_1.1, titanos). */
static int removal_needs_title(const struct target *t)
{
    return fmt_removal_needs_title(t);
}

/* The target's document for title (the removal document for an unpublish), or NULL with err
 * saying what is missing. The event's time and the title's first sighting stand in for the
 * updated_at / created_at a CMS does not give (Movida). */
static json_t *job_render_doc(const struct job *j, const json_t *title, char *err, size_t errlen)
{
    char event_at[32], first_seen[32];
    struct fmt_ctx ctx = {.unpublish = j->unpublish};
    if (j->event_at_ms > 0) {
        util_rfc3339(j->event_at_ms, event_at);
        ctx.event_at = event_at;
    }
    if (j->first_seen_ms > 0) {
        util_rfc3339(j->first_seen_ms, first_seen);
        ctx.first_seen = first_seen;
    }
    return fmt_render_ctx(j->t, title, &ctx, err, errlen);
}

/* An unpublish whose title the source no longer serves: the removal is rendered from the
 * event alone; a format that cannot describe the title without it has nothing to remove. */
static void job_render_tombstone(struct job *j, int fetched)
{
    struct cms_ref ref;
    char err[512] = "";

    j->cat_status = "removed";
    job_cms_ref(j, &ref);
    json_t *tomb = cms_tombstone(j->src, &ref);
    json_t *doc = tomb ? job_render_doc(j, tomb, err, sizeof(err)) : NULL;
    json_decref(tomb);
    if (doc == NULL && fetched) {
        worker_job_finish(j, DLV_SUPERSEDED, 0, "not_in_catalog",
                          "the source no longer serves the title: nothing to remove", 0);
        return;
    }
    if (doc == NULL) {
        worker_job_finish(j, DLV_FAILED, 0, "validation_failed",
                          err[0] ? err : "no removal document", 0);
        return;
    }
    job_push(j, doc);
    json_decref(doc);
}

/* What the catalog keeps of a delivered publish: the per-title document, its updated_at, type
 * and markets. Returns 0, or -1 out of memory. */
static int job_catalog_live(struct job *j, const json_t *title, const json_t *doc)
{
    const json_t *item = catalog_title_doc(j->t->format, doc);
    const char *upd = json_string_value(json_object_get(title, "updated_at"));
    const char *type = json_string_value(json_object_get(title, "type"));
    j->cat_doc = item ? fmt_dump(item, NULL) : NULL;
    j->cat_updated_at = strdup(upd ? upd : "");
    j->cat_content_type = strdup(type ? type : j->content_type);
    if (j->cat_doc == NULL || j->cat_updated_at == NULL || j->cat_content_type == NULL)
        return -1;
    catalog_markets(title, j->cat_markets, sizeof(j->cat_markets));
    j->cat_status = "live";
    return 0;
}

/* Everything fetched: normalize, filter by type, render, push. */
static void job_render_push(struct job *j)
{
    struct cms_ref ref;
    char err[512] = "";

    job_cms_ref(j, &ref);
    json_t *title = cms_normalize(j->src, &ref, j->bodies, j->n_bodies, err, sizeof(err));
    if (title == NULL) {
        worker_job_finish(j, DLV_FAILED, 0, "source_invalid",
                          err[0] ? err : "unexpected source document", 0);
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
        worker_job_finish(j, DLV_SUPERSEDED, 0, "filtered", msg, 0);
        return;
    }
    json_t *doc = job_render_doc(j, title, err, sizeof(err));
    if (doc == NULL) {
        json_decref(title);
        worker_job_finish(j, DLV_FAILED, 0, "validation_failed", err[0] ? err : "missing fields",
                          0);
        return;
    }
    if (!j->unpublish && job_catalog_live(j, title, doc) != 0) {
        json_decref(title);
        json_decref(doc);
        worker_job_finish(j, DLV_RETRY, 0, "internal_error", "out of memory", 0);
        return;
    }
    json_decref(title);
    if (j->unpublish)
        j->cat_status = "removed";
    if (j->t->delivery == DELIVERY_FEED)
        /* a feed target's delivery is storing the document: complete.lua writes it */
        worker_job_finish(j, DLV_DELIVERED, 0, "", "", 0);
    else
        job_push(j, doc);
    json_decref(doc);
}

/* job_render_push() in the job's arena: every Jansson value it makes is released before it
 * returns (what it keeps, the catalog document and the push body, is text). */
static void job_render(struct job *j)
{
    struct jread_arena *prev = jread_arena_enter(j->arena);
    job_render_push(j);
    jread_arena_leave(prev);
}

/* ---- fetch ---------------------------------------------------------------------------------- */

static void job_fetch_next(struct job *j);

static void on_fetch_done(const struct hclient_response *res, void *arg)
{
    struct job *j = arg;
    struct verdict v;

    j->wait = NULL;
    if (res->error == FETCHES_NOT_STARTED) {
        /* The source's limits kept the fetch waiting for half the lease: handed back
         * unattempted rather than held until the lease runs out (someone takes it again). */
        LOG_INFO("source busy: delivery handed back", "delivery_id", j->id, "source", j->source,
                 "target", j->t->name, NULL);
        worker_job_release(j);
        worker_outcome_ready(j->w);
        return;
    }
    judge(res, SIDE_SOURCE, &v);
    if (!v.ok) {
        if (j->unpublish && !res->error && (res->status == 404 || res->status == 410)) {
            job_render_tombstone(j, 1);
            return;
        }
        finish_verdict(j, res, &v);
        return;
    }
    if (res->truncated) {
        worker_job_finish(j, DLV_FAILED, res->status, "source_invalid", "source document too large",
                          0);
        return;
    }
    if (j->arena == NULL)
        j->arena = jread_arena_new(); /* NULL: from malloc, as without */
    struct jread_arena *prev = jread_arena_enter(j->arena);
    json_t *doc = jread_parse(res->body, res->body_len);
    jread_arena_leave(prev);
    if (doc == NULL) {
        /* A cut-off or garbled answer is more likely a hiccup than the CMS's real state. */
        worker_job_finish(j, DLV_RETRY, res->status, "source_invalid",
                          "source answered invalid JSON", 0);
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
    if (j->n_bodies >= WORKER_MAX_FETCHES) {
        free(url);
        worker_job_finish(j, DLV_FAILED, 0, "source_invalid", "too many linked documents", 0);
        return;
    }
    struct hclient_request req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .auth = &j->src->api_auth,
        .timeout_ms =
            j->src->api_timeout_ms > 0 ? j->src->api_timeout_ms : DEFAULT_FETCH_TIMEOUT_MS,
        .max_body = FETCH_MAX_BODY,
    };
    /* The deliveries of this event to other targets fetch the same documents now: one
     * request answers them all. Keyed by event, never shared across events. */
    size_t klen = strlen(j->source) + strlen(j->event_id) + strlen(url) + 3;
    char *key = malloc(klen);
    j->state = JOB_FETCH;
    if (key) {
        /* a fetch that waits for a CMS slot longer than half the lease is handed back */
        int64_t wait = j->w->cfg->worker_visibility_timeout_ms / 2 - (util_mono_ms() - j->started);
        size_t ls = strlen(j->source), le = strlen(j->event_id);
        memcpy(key, j->source, ls);
        key[ls] = '\n';
        memcpy(key + ls + 1, j->event_id, le);
        key[ls + 1 + le] = '\n';
        memcpy(key + ls + le + 2, url, strlen(url) + 1);
        j->wait = fetches_get(j->w->fx, j->src, wait > 1 ? wait : 1, key, &req, on_fetch_done, j);
    }
    free(key);
    free(url);
    if (j->wait == NULL)
        worker_job_finish(j, DLV_RETRY, 0, "internal_error", "could not start the source fetch", 0);
}

/* ---- tombstones from the catalog ------------------------------------------------------------ */

/* A push target's removal document is its catalog's document (what the partner last got) with
 * the availability emptied; gwi_json_1.1 pushes it wrapped in its feed document. */
static json_t *tombstone_push_doc(const struct target *t, const char *doc, size_t len)
{
    json_t *item = catalog_removal_doc(t->format, doc, len);
    if (item == NULL || t->format != FORMAT_GWI_JSON_1_1)
        return item;
    static const char *const types[][2] = {
        {"movie", "movies"}, {"show", "shows"}, {"season", "seasons"}, {"episode", "episodes"}};
    const char *type = json_string_value(json_object_get(item, "type"));
    const char *provider = t->catalog_provider ? t->catalog_provider : t->name;
    json_t *ct = json_array();
    for (size_t i = 0; type && i < 4; i++)
        if (strcmp(type, types[i][0]) == 0)
            json_array_append_new(ct, json_string(types[i][1]));
    return json_pack("{s:s,s:s,s:o,s:s,s:s,s:[o]}", "catalog_provider", provider, "catalog_name",
                     t->catalog_name ? t->catalog_name : provider, "catalog_types", ct,
                     "catalog_period", "incremental", "_schema_version", "gwi_json_1.1", "items",
                     item);
}

static void job_fetch_or_tombstone(struct job *j);

static void on_catalog_doc(struct redisReply *reply, void *arg)
{
    struct cat_lookup *lk = arg;
    struct job *j = lk->job;
    free(lk);
    if (j == NULL)
        return;
    j->lookup = NULL;
    if (j->state != JOB_FETCH || j->w->closing)
        return; /* handed back meanwhile */
    const char *text = NULL;
    size_t len = 0;
    enum catalog_doc_state st = catalog_doc_decode(reply, &text, &len);
    if (st == CATALOG_DOC_ERROR) {
        worker_job_finish(j, DLV_RETRY, 0, "internal_error", "could not read the catalog", 0);
        return;
    }
    if (st == CATALOG_DOC_ABSENT) {
        /* not in the catalog: a title delivered before the catalog existed, or never; the
         * removal is rendered as before (ends not_in_catalog when the CMS has no title) */
        job_fetch_or_tombstone(j);
        return;
    }
    if (st == CATALOG_DOC_REMOVED) {
        worker_job_finish(j, DLV_SUPERSEDED, 0, "not_in_catalog",
                          "the target's catalog holds the title as removed already", 0);
        return;
    }
    json_t *doc = tombstone_push_doc(j->t, text, len);
    if (doc == NULL) {
        worker_job_finish(j, DLV_FAILED, 0, "validation_failed", "catalog document unreadable", 0);
        return;
    }
    j->cat_status = "removed";
    job_push(j, doc);
    json_decref(doc);
}

/* Reads the title's document from the target's catalog, then pushes its removal. */
static void job_catalog_tombstone(struct job *j)
{
    const char *argv[CATALOG_DOC_ARGC];
    struct cat_lookup *lk = malloc(sizeof(*lk));
    if (lk == NULL) {
        worker_job_finish(j, DLV_RETRY, 0, "internal_error", "out of memory", 0);
        return;
    }
    lk->job = j;
    catalog_doc_args(j->w->cfg->redis_prefix, j->t->name, j->source, j->content_id, argv);
    j->state = JOB_FETCH;
    j->lookup = lk;
    if (rconn_script(j->w->rc, lua_catalog_doc, on_catalog_doc, lk, 0, CATALOG_DOC_ARGC, argv,
                     NULL) != 0) {
        j->lookup = NULL;
        free(lk);
        worker_job_finish(j, DLV_RETRY, 0, "internal_error", "could not read the catalog", 0);
    }
}

static void job_begin(struct job *j)
{
    if (j->src == NULL) {
        worker_job_finish(j, DLV_FAILED, 0, "config_error", "source no longer configured", 0);
        return;
    }
    if (j->unpublish && j->t->delivery == DELIVERY_FEED) {
        /* the removal document is rendered from the catalog when a partner polls */
        j->cat_status = "removed";
        worker_job_finish(j, DLV_DELIVERED, 0, "", "", 0);
        return;
    }
    if (j->unpublish && j->t->unpublish == UNPUBLISH_TOMBSTONE) {
        job_catalog_tombstone(j);
        return;
    }
    job_fetch_or_tombstone(j);
}

static void job_fetch_or_tombstone(struct job *j)
{
    if (!j->unpublish || removal_needs_title(j->t)) {
        job_fetch_next(j);
        return;
    }
    j->cat_status = "removed";
    if (j->t->unpublish == UNPUBLISH_DELETE) {
        job_push(j, NULL);
        return;
    }
    job_render_tombstone(j, 0);
}

/* ---- start ---------------------------------------------------------------------------------- */

/* Copies the claim's strings into one allocation; the job's pointers point into it. */
static int job_copy_strings(struct job *j, const struct dlv_claimed *d)
{
    const char *src[] = {d->id,           d->event_id,   d->request_id, d->event_type, d->source,
                         d->content_type, d->content_id, d->show_id,    d->lease};
    const char **dst[] = {&j->id,         &j->event_id, &j->request_id,
                          &j->event_type, &j->source,   &j->content_type,
                          &j->content_id, &j->show_id,  &j->lease};
    size_t n = sizeof(src) / sizeof(*src), total = 0;

    for (size_t i = 0; i < n; i++)
        total += strlen(src[i]) + 1;
    j->strs = malloc(total);
    if (j->strs == NULL)
        return -1;
    char *p = j->strs;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(src[i]) + 1;
        memcpy(p, src[i], len);
        *dst[i] = p;
        p += len;
    }
    return 0;
}

int worker_job_start(struct worker *w, size_t ti, const struct dlv_claimed *d)
{
    struct job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -1;
    if (job_copy_strings(j, d) != 0) {
        free(j);
        return -1;
    }
    j->w = w;
    j->ti = ti;
    j->t = &w->cfg->targets[ti];
    j->push_ms = -1;
    j->started = util_mono_ms();
    j->season = d->season;
    j->episode = d->episode;
    j->attempt = d->attempt_count + 1;
    j->first_seen_ms = d->first_seen[0] ? strtoll(d->first_seen, NULL, 10) : 0;
    j->event_at_ms = d->event_at[0] ? strtoll(d->event_at, NULL, 10) : 0;
    j->unpublish = strcmp(j->event_type, "content.unpublished") == 0;
    j->src = config_source(w->cfg, j->source);
    j->next = w->jobs;
    if (w->jobs)
        w->jobs->prev = j;
    w->jobs = j;
    w->n_jobs++;
    w->inflight[ti]++;
    if (w->stopping) {
        /* claimed while the shutdown began: hand it back unattempted */
        worker_job_release(j);
        worker_outcome_ready(w);
        return 0;
    }
    job_begin(j);
    return 0;
}
