#include "handlers/sync_run.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "handlers/backoff.h"
#include "handlers/hclient.h"
#include "handlers/sync_list.h"
#include "queue/lua.h"
#include "queue/rsync.h"
#include "queue/sync.h"

#define SCAN_EVERY_MS 500 /* how often an idle runner looks for runs to take or start */
#define LIST_MAX_BODY (32u << 20)
#define REDIS_RETRY_MS 1000 /* Redis refused a page: the same page again after this */
#define PAGES_MAX 1000000   /* a CMS whose cursors never end is a loop, not a catalog */

struct sync_run {
    const struct config *cfg;
    struct event_base *base;
    struct hclient *hc;
    struct rsync *rs;
    struct event *timer; /* the next page (now, or after a retry's delay) */
    char token[112];
    int64_t next_scan;
    int64_t next_beat;
    /* the run held, when id[0] */
    char id[32];
    const struct source *src;
    int64_t started_ms;
    char *phase, *cursor, *head;
    int attempts; /* failed attempts at the current page */
    long pages;
    struct hclient_call *call;
};

int sync_run_entry_wants(const char *targets, const char *name)
{
    if (targets == NULL || targets[0] == '\0')
        return 1;
    size_t n = strlen(name);
    for (const char *p = targets; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        if (e == NULL)
            break;
        p = e + 1;
    }
    return 0;
}

static int64_t lease_ms(const struct sync_run *sr)
{
    return sr->cfg->worker_visibility_timeout_ms;
}

static redisReply *run_script(struct sync_run *sr, const char *lua, const char *what,
                              const struct sync_args *a)
{
    if (a->oom) {
        LOG_ERROR("sync: out of memory", "op", what, NULL);
        return NULL;
    }
    redisReply *r = rsync_script(sr->rs, lua, 0, a->argc, (const char **)a->argv, a->lens);
    if (r == NULL) {
        LOG_WARN("sync: redis unavailable", "op", what, "error", rsync_error(sr->rs), NULL);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("sync: redis script failed", "op", what, "error", r->str, NULL);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static const char *el_str(const redisReply *r, size_t i)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return "";
    const redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS ? e->str : "";
}

static int set_str(char **dst, const char *s)
{
    char *c = strdup(s ? s : "");
    if (c == NULL)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

static void drop_run(struct sync_run *sr)
{
    if (sr->call)
        hclient_cancel(sr->hc, sr->call);
    sr->call = NULL;
    if (sr->timer)
        evtimer_del(sr->timer);
    sr->id[0] = '\0';
    sr->src = NULL;
    free(sr->phase);
    free(sr->cursor);
    free(sr->head);
    sr->phase = sr->cursor = sr->head = NULL;
    sr->attempts = 0;
}

static void arm(struct sync_run *sr, int64_t delay_ms)
{
    struct timeval tv = {.tv_sec = (time_t)(delay_ms / 1000),
                         .tv_usec = (suseconds_t)((delay_ms % 1000) * 1000)};
    evtimer_add(sr->timer, &tv);
}

/* Ends the run; with outcome "done" sync_finish.lua applies remove_missing and its guard. */
static void finish(struct sync_run *sr, const char *outcome, const char *code, const char *msg)
{
    struct sync_args a;
    sync_args_init(&a);
    sync_args_finish(&a, sr->cfg, sr->src, sr->id, sr->token, outcome, code, msg);
    redisReply *r = run_script(sr, lua_sync_finish, "sync_finish", &a);
    sync_args_clear(&a);
    if (r == NULL) {
        /* Redis will be back: the run stays running and this worker (or another, once the
         * lease expires) lists it again from the checkpoint, which is the listing's end. */
        arm(sr, REDIS_RETRY_MS);
        return;
    }
    if (strcmp(el_str(r, 0), "ok") == 0) {
        char removed[24];
        snprintf(removed, sizeof(removed), "%lld",
                 r->elements > 3 && r->element[3]->type == REDIS_REPLY_INTEGER
                     ? r->element[3]->integer
                     : 0);
        const char *state = el_str(r, 1);
        if (strcmp(state, "done") == 0)
            LOG_INFO("sync done", "sync_id", sr->id, "source", sr->src->name, "removed", removed,
                     NULL);
        else
            LOG_WARN("sync failed", "sync_id", sr->id, "source", sr->src->name, "error",
                     el_str(r, 2), "message", strcmp(el_str(r, 2), code) == 0 ? msg : NULL, NULL);
    } else {
        LOG_WARN("sync: lease lost before the end", "sync_id", sr->id, NULL);
    }
    freeReplyObject(r);
    drop_run(sr);
}

/* One failed attempt at the current page: counted, retried with the delivery backoff (a
 * Retry-After on 429/503 as a minimum), the run failed after retry.max_attempts. */
static void page_failed(struct sync_run *sr, long status, const char *retry_after, const char *why)
{
    const struct config *cfg = sr->cfg;
    char msg[300];
    struct sync_args a;

    sr->attempts++;
    if (status > 0)
        snprintf(msg, sizeof(msg), "listing page answered HTTP %ld%s%s", status, why ? ": " : "",
                 why ? why : "");
    else
        snprintf(msg, sizeof(msg), "listing page failed: %s", why ? why : "error");
    sync_args_init(&a);
    sync_args_beat(&a, cfg, sr->id, sr->token, lease_ms(sr), 1, msg);
    redisReply *r = run_script(sr, lua_sync_beat, "sync_beat", &a);
    sync_args_clear(&a);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
        freeReplyObject(r);
        LOG_WARN("sync: lease lost", "sync_id", sr->id, NULL);
        drop_run(sr);
        return;
    }
    if (r)
        freeReplyObject(r);
    char n[16];
    snprintf(n, sizeof(n), "%d", sr->attempts);
    LOG_WARN("sync: listing page failed", "sync_id", sr->id, "source", sr->src->name, "attempt", n,
             "error", msg, NULL);
    if (sr->attempts >= cfg->retry_max_attempts) {
        finish(sr, "failed", "source_unavailable", msg);
        return;
    }
    int64_t min_ms = 0, ra;
    if (retry_after && backoff_honours_retry_after(status) &&
        backoff_parse_retry_after(retry_after, util_now_ms(), &ra) == 0)
        min_ms = ra;
    uint32_t rnd = 0;
    (void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    int64_t d = backoff_delay_ms(cfg->retry_base_delay_ms, cfg->retry_max_delay_ms, sr->attempts,
                                 min_ms, rnd);
    sr->next_beat = util_mono_ms() + lease_ms(sr) / 3;
    arm(sr, d);
}

/* A page's titles and position go to Redis in one script, with the checkpoint. */
static void page_apply(struct sync_run *sr, const struct sync_page *pg)
{
    struct sync_args a;
    sync_args_init(&a);
    const char *listed =
        sr->phase[0] ? sr->phase : (sr->src->kind == SOURCE_MOVIDA ? "titles" : "movies");
    sync_args_page(&a, sr->cfg, sr->id, sr->token, sync_list_mode(sr->src), listed, pg->phase,
                   pg->cursor, pg->pop, pg->total, pg->todo, pg->n_todo, pg->items, pg->n_items);
    redisReply *r = run_script(sr, lua_sync_page, "sync_page", &a);
    sync_args_clear(&a);
    if (r == NULL) {
        arm(sr, REDIS_RETRY_MS); /* the same page again: nothing of it was written */
        return;
    }
    if (strcmp(el_str(r, 0), "ok") != 0) {
        freeReplyObject(r);
        LOG_WARN("sync: lease lost", "sync_id", sr->id, NULL);
        drop_run(sr);
        return;
    }
    if (set_str(&sr->phase, pg->phase) != 0 || set_str(&sr->cursor, pg->cursor) != 0 ||
        set_str(&sr->head, el_str(r, 1)) != 0) {
        freeReplyObject(r);
        drop_run(sr); /* out of memory: the lease expires and a worker continues */
        return;
    }
    freeReplyObject(r);
    sr->attempts = 0;
    sr->pages++;
    sr->next_beat = util_mono_ms() + lease_ms(sr) / 3;
    struct sync_pos pos = {sr->phase, sr->cursor, sr->head};
    if (sync_list_done(sr->src, &pos))
        finish(sr, "done", "", "");
    else if (sr->pages >= PAGES_MAX)
        finish(sr, "failed", "source_invalid", "the listing did not end");
    else
        arm(sr, 0);
}

static void on_page(const struct hclient_response *res, void *arg)
{
    struct sync_run *sr = arg;
    struct sync_pos pos = {sr->phase, sr->cursor, sr->head};
    struct sync_page pg;
    char err[200];

    sr->call = NULL;
    enum backoff_class cls = backoff_classify(res->status);
    if (res->error != HCLIENT_OK) {
        page_failed(sr, 0, NULL, hclient_error_code(res->error));
        return;
    }
    if (cls == BACKOFF_RETRY) {
        page_failed(sr, res->status, res->retry_after, NULL);
        return;
    }
    if (cls == BACKOFF_FAIL) {
        /* A show or season that went away between its listing and this request: nothing of
         * it is listed (so, with remove_missing, it is removed), the rest goes on. */
        if (strcmp(pos.phase, "todo") == 0 && (res->status == 404 || res->status == 410)) {
            struct sync_page view = {
                .phase = (char *)"todo", .cursor = (char *)"", .pop = 1, .total = -1};
            page_apply(sr, &view);
            return;
        }
        char msg[120];
        snprintf(msg, sizeof(msg), "listing page answered HTTP %ld", res->status);
        finish(sr, "failed", "source_rejected", msg);
        return;
    }
    if (res->truncated) {
        page_failed(sr, res->status, NULL, "listing page too large");
        return;
    }
    if (sync_list_parse(sr->src, &pos, res->body, res->body_len, sr->started_ms, &pg, err,
                        sizeof(err)) != 0) {
        page_failed(sr, res->status, NULL, err);
        return;
    }
    page_apply(sr, &pg);
    sync_page_clear(&pg);
}

static void fetch_page(struct sync_run *sr)
{
    struct sync_pos pos = {sr->phase, sr->cursor, sr->head};
    char *url = sync_list_url(sr->src, &pos);
    if (url == NULL) {
        finish(sr, "failed", "internal", "cannot build the listing URL from the checkpoint");
        return;
    }
    static const char *const headers[] = {"Accept: application/json", NULL};
    struct hclient_request req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .auth = &sr->src->api_auth,
        .timeout_ms = sr->src->api_timeout_ms > 0 ? (long)sr->src->api_timeout_ms : 10000,
        .max_body = LIST_MAX_BODY,
    };
    sr->call = hclient_start(sr->hc, &req, on_page, sr);
    free(url);
    if (sr->call == NULL)
        page_failed(sr, 0, NULL, "cannot start the request");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sync_run *sr = arg;
    if (sr->id[0] && sr->call == NULL)
        fetch_page(sr);
}

/* Takes the lease of run id when nobody valid holds it. Returns 1 when taken. */
static int adopt(struct sync_run *sr, const char *id)
{
    struct sync_args a;
    int taken = 0;
    sync_args_init(&a);
    sync_args_claim(&a, sr->cfg, id, sr->token, lease_ms(sr));
    redisReply *r = run_script(sr, lua_sync_claim, "sync_claim", &a);
    sync_args_clear(&a);
    if (r == NULL || strcmp(el_str(r, 0), "ok") != 0 || r->elements < 11)
        goto out;
    const struct source *src = config_source(sr->cfg, el_str(r, 1));
    if (src == NULL) {
        LOG_WARN("sync: run of a source no longer configured", "sync_id", id, NULL);
        goto out; /* its lease expires; an operator sees it running (rare: a config change) */
    }
    snprintf(sr->id, sizeof(sr->id), "%s", id);
    sr->src = src;
    sr->started_ms = strtoll(el_str(r, 5), NULL, 10);
    sr->pages = strtol(el_str(r, 9), NULL, 10);
    sr->attempts = 0;
    if (set_str(&sr->phase, el_str(r, 6)) != 0 || set_str(&sr->cursor, el_str(r, 7)) != 0 ||
        set_str(&sr->head, el_str(r, 8)) != 0) {
        drop_run(sr);
        goto out;
    }
    int takeover = r->element[10]->type == REDIS_REPLY_INTEGER && r->element[10]->integer == 1;
    LOG_INFO(takeover ? "sync: continuing a dead worker's run from its checkpoint"
                      : "sync: listing",
             "sync_id", id, "source", src->name, "phase", sr->phase[0] ? sr->phase : NULL, NULL);
    sr->next_beat = util_mono_ms() + lease_ms(sr) / 3;
    taken = 1;
    struct sync_pos pos = {sr->phase, sr->cursor, sr->head};
    if (sr->phase[0] && sync_list_done(src, &pos))
        finish(sr, "done", "", ""); /* listed completely before its worker died */
    else
        arm(sr, 0);
out:
    if (!taken)
        sr->id[0] = '\0';
    if (r)
        freeReplyObject(r);
    return taken;
}

/* Starts the runs the schedule asks for; sync_start.lua decides (across workers) whether one
 * is due, so only one worker starts each. */
static void schedule(struct sync_run *sr)
{
    const struct config *cfg = sr->cfg;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct source *src = &cfg->sources[i];
        if (src->sync.every_s <= 0)
            continue;
        struct sync_request req = {.source = src->name};
        struct sync_error err;
        char *targets = sync_request_targets(cfg, &req, &err);
        if (targets == NULL)
            continue;
        char id[25];
        struct sync_args a;
        sync_new_id(id);
        sync_args_init(&a);
        sync_args_start(&a, cfg, id, src->name, targets, 0, 0, src->sync.every_s * 1000);
        redisReply *r = run_script(sr, lua_sync_start, "sync_start", &a);
        sync_args_clear(&a);
        if (r && sync_start_result(r, NULL, 0) == 1)
            LOG_INFO("sync scheduled", "sync_id", id, "source", src->name, "targets", targets,
                     NULL);
        if (r)
            freeReplyObject(r);
        free(targets);
    }
}

static void scan(struct sync_run *sr)
{
    redisReply *r = rsync_commandf(sr->rs, "SMEMBERS %s:sync:active", sr->cfg->redis_prefix);
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements && !sr->id[0]; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING && r->element[i]->len < 32)
                (void)adopt(sr, r->element[i]->str);
    freeReplyObject(r);
}

void sync_run_tick(struct sync_run *sr)
{
    if (sr == NULL)
        return;
    int64_t now = util_mono_ms();
    if (sr->id[0]) {
        /* Waiting out a retry delay: keep the lease. A page in flight renews it when done. */
        if (sr->call == NULL && now >= sr->next_beat && sr->src) {
            struct sync_args a;
            sync_args_init(&a);
            sync_args_beat(&a, sr->cfg, sr->id, sr->token, lease_ms(sr), 0, "");
            redisReply *r = run_script(sr, lua_sync_beat, "sync_beat", &a);
            sync_args_clear(&a);
            if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
                LOG_WARN("sync: lease lost", "sync_id", sr->id, NULL);
                drop_run(sr);
            }
            if (r)
                freeReplyObject(r);
            sr->next_beat = now + lease_ms(sr) / 3;
        }
        return;
    }
    if (now < sr->next_scan)
        return;
    sr->next_scan = now + SCAN_EVERY_MS;
    schedule(sr);
    scan(sr);
}

struct sync_run *sync_run_new(const struct config *cfg, struct event_base *base)
{
    struct sync_run *sr = calloc(1, sizeof(*sr));
    if (sr == NULL)
        return NULL;
    sr->cfg = cfg;
    sr->base = base;
    sr->hc = hclient_new(base);
    sr->rs = rsync_new(cfg, 5000);
    sr->timer = evtimer_new(base, on_timer, sr);
    if (sr->hc == NULL || sr->rs == NULL || sr->timer == NULL) {
        sync_run_free(sr);
        return NULL;
    }
    char host[64] = "host", rnd[9];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    util_random_hex(rnd, 4);
    snprintf(sr->token, sizeof(sr->token), "%s-%d-%s", host, (int)getpid(), rnd);
    return sr;
}

void sync_run_free(struct sync_run *sr)
{
    if (sr == NULL)
        return;
    if (sr->id[0] && sr->rs) {
        struct sync_args a;
        sync_args_init(&a);
        sync_args_release(&a, sr->cfg, sr->id, sr->token);
        redisReply *r = run_script(sr, lua_sync_release, "sync_release", &a);
        sync_args_clear(&a);
        if (r)
            freeReplyObject(r);
        LOG_INFO("sync: run handed back", "sync_id", sr->id, NULL);
    }
    drop_run(sr);
    hclient_free(sr->hc);
    if (sr->timer)
        event_free(sr->timer);
    rsync_free(sr->rs);
    free(sr->phase);
    free(sr->cursor);
    free(sr->head);
    free(sr);
}
