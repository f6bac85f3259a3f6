#include "handlers/sync_run.h"

#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "handlers/backoff.h"
#include "handlers/fetches.h"
#include "handlers/hclient.h"
#include "handlers/sync_list.h"
#include "handlers/sync_render.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "queue/rsync.h"
#include "queue/sync.h"

#define SCAN_EVERY_MS 500 /* how often an idle runner looks for runs to take or start */
#define LIST_MAX_BODY (32u << 20)
#define REDIS_RETRY_MS 1000 /* Redis refused a page: the same page again after this */
#define PAGES_MAX 1000000   /* a CMS whose cursors never end is a loop, not a catalog */
/* The runner speaks to Redis asynchronously on the worker's loop (its own connection), so a
 * stalled Redis never holds up deliveries; only the hand-back at exit blocks, bounded. */
#define REDIS_TIMEOUT_MS 2000
#define RELEASE_TIMEOUT_MS 500
/* While a page is slow (or a retry waits), a beat at least this often renews the lease and
 * notices an operator's cancel; a run that lists briskly notices it at its next page. */
#define CANCEL_CHECK_MS 1000
#define GROUPS_MAX 1024 /* Movida title groups a run keeps (a series' episodes list together) */
#define GROUP_MAX_BODY (4u << 20)

struct sync_run {
    const struct config *cfg;
    struct event_base *base;
    struct hclient *hc;
    struct rconn *rc;
    struct fetches *fx;  /* listing pages take the source's request slots, like fetches */
    struct event *timer; /* the next page (now, or after a retry's delay) */
    char token[112];
    int64_t next_scan;
    int busy;     /* a claim, page or finish script is out: one at a time */
    int closing;  /* being freed: callbacks do nothing */
    unsigned gen; /* bumped when the run held changes: late answers about another are ignored */
    char **cands; /* run ids still to try after a scan */
    size_t n_cands, i_cand;
    int64_t next_beat;
    /* the run held, when id[0] */
    char id[32];
    const struct source *src;
    int64_t started_ms;
    char *phase, *cursor, *head;
    char *next_phase, *next_cursor; /* the position after the page being written */
    int attempts;                   /* failed attempts at the current page */
    long pages;
    struct fetch_wait *call;
    /* Movida's skip (handlers/sync_render): a listed page waits here while its title groups
     * are fetched and its catalog entries read, then is rendered per target */
    char *targets; /* the run's, comma-separated, in the run's order */
    int full;
    struct sync_page pend;
    int have_pend;
    size_t i_group;   /* the next item whose title group to look at */
    char *group_url;  /* the group being fetched */
    int group_failed; /* one failed on this page: no more asked for it (its titles are queued) */
    struct sync_render_groups *groups;
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

/* When the next beat is due: a third of the lease, and CANCEL_CHECK_MS at most. */
static int64_t next_beat_at(const struct sync_run *sr)
{
    int64_t every = lease_ms(sr) / 3;
    return util_mono_ms() + (every < CANCEL_CHECK_MS ? every : CANCEL_CHECK_MS);
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

/* ---- Redis, asynchronously ------------------------------------------------------------------ */

/* One script out: the runner, and which run it was about (gen), checked when it answers. */
struct call {
    struct sync_run *sr;
    unsigned gen;
    void (*done)(struct sync_run *sr, struct redisReply *r);
    const char *what;
};

static void on_reply(struct redisReply *r, void *arg)
{
    struct call *c = arg;
    struct sync_run *sr = c->sr;
    if (!sr->closing) {
        const char *err = sync_reply_error(r);
        if (r == NULL)
            LOG_WARN("sync: redis unavailable", "op", c->what, NULL);
        else if (err)
            LOG_ERROR("sync: redis script failed", "op", c->what, "error", err, NULL);
        if (c->done)
            c->done(sr, c->gen == sr->gen && r && err == NULL ? r : NULL);
    }
    free(c);
}

/* Sends a script; done(sr, reply) runs once with the reply, or with NULL when Redis failed
 * or the run held changed meanwhile. Returns 0, or -1 when nothing was sent (done not called). */
static int send_script(struct sync_run *sr, const char *lua, const char *what,
                       const struct sync_args *a,
                       void (*done)(struct sync_run *, struct redisReply *))
{
    if (a->oom) {
        LOG_ERROR("sync: out of memory", "op", what, NULL);
        return -1;
    }
    struct call *c = malloc(sizeof(*c));
    if (c == NULL)
        return -1;
    *c = (struct call){.sr = sr, .gen = sr->gen, .done = done, .what = what};
    if (rconn_script(sr->rc, lua, on_reply, c, 0, a->argc, (const char **)a->argv, a->lens) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

static void drop_pending(struct sync_run *sr)
{
    if (sr->have_pend)
        sync_page_clear(&sr->pend);
    sr->have_pend = 0;
    free(sr->group_url);
    sr->group_url = NULL;
    sr->group_failed = 0;
}

static void drop_run(struct sync_run *sr)
{
    if (sr->call)
        fetches_cancel(sr->fx, sr->call);
    sr->call = NULL;
    drop_pending(sr);
    sync_render_groups_free(sr->groups);
    sr->groups = NULL;
    free(sr->targets);
    sr->targets = NULL;
    if (sr->timer)
        evtimer_del(sr->timer);
    sr->id[0] = '\0';
    sr->src = NULL;
    free(sr->phase);
    free(sr->cursor);
    free(sr->head);
    sr->phase = sr->cursor = sr->head = NULL;
    sr->attempts = 0;
    sr->gen++;
}

static void arm(struct sync_run *sr, int64_t delay_ms)
{
    struct timeval tv = {.tv_sec = (time_t)(delay_ms / 1000),
                         .tv_usec = (suseconds_t)((delay_ms % 1000) * 1000)};
    evtimer_add(sr->timer, &tv);
}

/* ---- ending a run --------------------------------------------------------------------------- */

static void on_finished(struct sync_run *sr, struct redisReply *r)
{
    sr->busy = 0;
    if (r == NULL) {
        /* Redis will be back: the run stays running at the listing's end, and the timer ends
         * it again (or, once the lease expires, another worker does). */
        if (sr->id[0])
            arm(sr, REDIS_RETRY_MS);
        return;
    }
    struct sync_finished f;
    sync_finish_result(r, &f);
    if (f.ok) {
        if (strcmp(f.state, "done") == 0)
            LOG_INFO("sync done", "sync_id", sr->id, "source", sr->src->name,
                     LOG_INT("removed", f.removed), NULL);
        else if (strcmp(f.state, "cancelled") == 0)
            LOG_INFO("sync cancelled", "sync_id", sr->id, "source", sr->src->name,
                     LOG_INT("pages", sr->pages), NULL);
        else
            LOG_WARN("sync failed", "sync_id", sr->id, "source", sr->src->name, "error", f.code,
                     NULL);
    } else {
        LOG_WARN("sync: lease lost before the end", "sync_id", sr->id, NULL);
    }
    drop_run(sr);
}

/* Ends the run; with outcome "done" sync_finish.lua applies remove_missing and its guard. */
static void finish(struct sync_run *sr, const char *outcome, const char *code, const char *msg)
{
    struct sync_args a;
    if (strcmp(outcome, "done") != 0)
        LOG_WARN("sync: ending the run", "sync_id", sr->id, "error", code, "message", msg, NULL);
    sync_args_init(&a);
    sync_args_finish(&a, sr->cfg, sr->src, sr->id, sr->token, outcome, code, msg);
    if (send_script(sr, lua_sync_finish, "sync_finish", &a, on_finished) == 0)
        sr->busy = 1;
    else if (sr->id[0])
        arm(sr, REDIS_RETRY_MS);
    sync_args_clear(&a);
}

/* ---- listing -------------------------------------------------------------------------------- */

static void on_beat(struct sync_run *sr, struct redisReply *r)
{
    enum sync_beat_verdict v = r ? sync_beat_result(r) : SYNC_BEAT_ERROR;
    if (v == SYNC_BEAT_ERROR || !sr->id[0])
        return;
    if (v == SYNC_BEAT_CANCELLED) {
        /* sync_beat.lua ended it: the page in flight (if any) is dropped unread, and an
         * answer of a script still out is ignored (drop_run moves gen on) */
        LOG_INFO("sync cancelled", "sync_id", sr->id, "source", sr->src ? sr->src->name : NULL,
                 LOG_INT("pages", sr->pages), NULL);
        drop_run(sr);
    } else if (v == SYNC_BEAT_LOST && !sr->busy) {
        LOG_WARN("sync: lease lost", "sync_id", sr->id, NULL);
        drop_run(sr);
    }
}

static void beat(struct sync_run *sr, int errors, const char *msg)
{
    struct sync_args a;
    sync_args_init(&a);
    sync_args_beat(&a, sr->cfg, sr->id, sr->token, lease_ms(sr), errors, msg);
    (void)send_script(sr, lua_sync_beat, "sync_beat", &a, on_beat);
    sync_args_clear(&a);
    sr->next_beat = next_beat_at(sr);
}

/* One failed attempt at the current page: counted, retried with the delivery backoff (a
 * Retry-After on 429/503 as a minimum), the run failed after retry.max_attempts. */
static void page_failed(struct sync_run *sr, long status, const char *retry_after, const char *why)
{
    const struct config *cfg = sr->cfg;
    char msg[300];

    sr->attempts++;
    if (status > 0)
        snprintf(msg, sizeof(msg), "listing page answered HTTP %ld%s%s", status, why ? ": " : "",
                 why ? why : "");
    else
        snprintf(msg, sizeof(msg), "listing page failed: %s", why ? why : "error");
    LOG_WARN("sync: listing page failed", "sync_id", sr->id, "source", sr->src->name,
             LOG_INT("attempt", sr->attempts), "error", msg, NULL);
    beat(sr, 1, msg);
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
    arm(sr, backoff_delay_ms(cfg->retry_base_delay_ms, cfg->retry_max_delay_ms, sr->attempts,
                             min_ms, rnd));
}

static void on_page_applied(struct sync_run *sr, struct redisReply *r)
{
    sr->busy = 0;
    if (r == NULL) {
        if (sr->id[0])
            arm(sr, REDIS_RETRY_MS); /* the same page again: nothing of it was written */
        return;
    }
    const char *head;
    enum sync_page_verdict v = sync_page_result(r, &head);
    if (v == SYNC_PAGE_CANCELLED) {
        /* sync_page.lua ended it without this page: listing stops here */
        LOG_INFO("sync cancelled", "sync_id", sr->id, "source", sr->src->name,
                 LOG_INT("pages", sr->pages), NULL);
        drop_run(sr);
        return;
    }
    if (v != SYNC_PAGE_OK) {
        LOG_WARN("sync: lease lost", "sync_id", sr->id, NULL);
        drop_run(sr);
        return;
    }
    free(sr->phase);
    free(sr->cursor);
    sr->phase = sr->next_phase;
    sr->cursor = sr->next_cursor;
    sr->next_phase = sr->next_cursor = NULL;
    if (sr->phase == NULL || sr->cursor == NULL || set_str(&sr->head, head) != 0) {
        drop_run(sr); /* out of memory: the lease expires and a worker continues */
        return;
    }
    sr->attempts = 0;
    sr->pages++;
    sr->next_beat = next_beat_at(sr);
    struct sync_pos pos = {sr->phase, sr->cursor, sr->head};
    if (sync_list_done(sr->src, &pos))
        finish(sr, "done", "", "");
    else if (sr->pages >= PAGES_MAX)
        finish(sr, "failed", "source_invalid", "the listing did not end");
    else
        arm(sr, 0);
}

/* A page's titles and position go to Redis in one script, with the checkpoint. */
static void page_apply(struct sync_run *sr, const struct sync_page *pg, char *const *digests)
{
    struct sync_args a;
    const char *listed =
        sr->phase[0] ? sr->phase : (sr->src->kind == SOURCE_MOVIDA ? "titles" : "movies");
    sync_args_init(&a);
    sync_args_page(&a, sr->cfg, sr->id, sr->token, sync_list_mode(sr->src), listed, pg->phase,
                   pg->cursor, pg->pop, pg->total, pg->todo, pg->n_todo, pg->items, pg->n_items,
                   digests);
    free(sr->next_phase);
    free(sr->next_cursor);
    sr->next_phase = strdup(pg->phase);
    sr->next_cursor = strdup(pg->cursor);
    if (send_script(sr, lua_sync_page, "sync_page", &a, on_page_applied) == 0)
        sr->busy = 1;
    else
        arm(sr, REDIS_RETRY_MS);
    sync_args_clear(&a);
}

/* ---- Movida: what each target would receive ------------------------------------------------ */

static void next_group(struct sync_run *sr);

/* The digests of the pending page, per item, from sync_peek.lua's reply (r NULL: Redis
 * failed, every digest unknown), then the page goes to Redis. */
static void render_pending(struct sync_run *sr, const struct redisReply *r)
{
    const struct config *cfg = sr->cfg;
    const struct sync_page *pg = &sr->pend;
    const struct target *tg[64]; /* more: the reply does not match, every title is queued */
    size_t nt = 0;
    char **digests = calloc(pg->n_items + 1, sizeof(*digests));

    for (const char *p = sr->targets; p && *p && nt < 64;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), p);
        tg[nt++] = config_target(cfg, name);
        p = e ? e + 1 : p + n;
    }
    if (r && sync_peek_check(r, pg->n_items, nt) != 0)
        r = NULL;
    for (size_t i = 0; digests && i < pg->n_items; i++) {
        const json_t *group = NULL;
        char *url = sync_render_group_url(sr->src, pg->docs[i]);
        if (url)
            (void)sync_render_groups_get(sr->groups, url, &group);
        free(url);
        json_t *title =
            r ? sync_render_title(sr->src, pg->items[i].content_id, pg->docs[i], group) : NULL;
        int64_t at[64] = {0}, first[64] = {0};
        for (size_t k = 0; r && k < nt; k++)
            sync_peek_get(r, nt, i, k, &at[k], &first[k]);
        digests[i] = sync_render_digests(sr->src, tg, nt, title, at, first);
        json_decref(title);
    }
    if (digests == NULL)
        LOG_WARN("sync: out of memory rendering a page: every title queued", "sync_id", sr->id,
                 NULL);
    page_apply(sr, pg, digests);
    for (size_t i = 0; digests && i < pg->n_items; i++)
        free(digests[i]);
    free(digests);
    drop_pending(sr);
}

static void on_peek(struct sync_run *sr, struct redisReply *r)
{
    sr->busy = 0;
    if (!sr->have_pend)
        return;
    if (r == NULL) { /* the same page again after a while: nothing of it was written */
        drop_pending(sr);
        if (sr->id[0])
            arm(sr, REDIS_RETRY_MS);
        return;
    }
    render_pending(sr, r);
}

/* Reads what the targets' catalogs hold of the pending page's titles (sync_peek.lua). */
static void peek(struct sync_run *sr)
{
    struct sync_args a;
    sync_args_init(&a);
    sync_args_peek(&a, sr->cfg, sr->src->name, sr->targets, sr->pend.items, sr->pend.n_items);
    if (send_script(sr, lua_sync_peek, "sync_peek", &a, on_peek) == 0)
        sr->busy = 1;
    else
        render_pending(sr, NULL);
    sync_args_clear(&a);
}

static void on_group(const struct hclient_response *res, void *arg)
{
    struct sync_run *sr = arg;
    json_error_t je;
    json_t *doc = NULL;

    sr->call = NULL;
    if (res->error == HCLIENT_OK && res->status >= 200 && res->status < 300 && !res->truncated)
        doc = json_loadb(res->body, res->body_len, 0, &je);
    if (doc != NULL || (res->error == HCLIENT_OK && (res->status == 404 || res->status == 410))) {
        if (sync_render_groups_put(sr->groups, sr->group_url, doc) != 0)
            LOG_WARN("sync: out of memory caching a title group", "sync_id", sr->id, NULL);
    } else {
        /* The titles whose group is not cached are queued (their deliveries fetch it
         * themselves): a CMS in trouble gets no more group requests for this page. */
        LOG_WARN("sync: title group not fetched", "sync_id", sr->id, "source", sr->src->name,
                 LOG_INT("status", res->status), NULL);
        sr->group_failed = 1;
    }
    json_decref(doc);
    next_group(sr);
}

/* Starts a GET of one of the source's API documents into sr->call: kind "sync" a listing page,
 * "group" a title group; with the source's credentials and timeout, through the source's
 * request slots, under a key of this run's alone (never shared with another fetch). NULL when
 * it cannot start. */
static struct fetch_wait *start_api_get(struct sync_run *sr, const char *url, const char *kind,
                                        size_t max_body, hclient_cb cb)
{
    static const char *const headers[] = {"Accept: application/json", NULL};
    struct hclient_request req = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .auth = &sr->src->api_auth,
        .timeout_ms = sr->src->api_timeout_ms > 0 ? (long)sr->src->api_timeout_ms : 10000,
        .max_body = max_body,
    };
    char key[48];
    snprintf(key, sizeof(key), "%s\n%u", kind, sr->gen);
    sr->call = fetches_get(sr->fx, sr->src, 0, key, &req, cb, sr);
    return sr->call;
}

/* Fetches the next title group the pending page needs and has not cached, one at a time;
 * when none is left, reads the catalogs. */
static void next_group(struct sync_run *sr)
{
    const struct sync_page *pg = &sr->pend;
    if (sr->groups == NULL)
        sr->groups = sync_render_groups_new(GROUPS_MAX);
    for (; sr->groups && !sr->group_failed && sr->i_group < pg->n_items; sr->i_group++) {
        const json_t *cached;
        char *url = sync_render_group_url(sr->src, pg->docs[sr->i_group]);
        if (url == NULL || sync_render_groups_get(sr->groups, url, &cached)) {
            free(url);
            continue;
        }
        free(sr->group_url);
        sr->group_url = url;
        sr->i_group++;
        if (start_api_get(sr, url, "group", GROUP_MAX_BODY, on_group) != NULL)
            return;
        sr->group_failed = 1;
    }
    peek(sr);
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
            page_apply(sr, &view, NULL);
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
    if (pg.docs != NULL && !sr->full && pg.n_items > 0) {
        /* Movida: rendered per target before it is applied (the skip compares documents) */
        sr->pend = pg;
        sr->have_pend = 1;
        sr->i_group = 0;
        next_group(sr);
        return;
    }
    page_apply(sr, &pg, NULL);
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
    start_api_get(sr, url, "sync", LIST_MAX_BODY, on_page);
    free(url);
    if (sr->call == NULL)
        page_failed(sr, 0, NULL, "cannot start the request");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sync_run *sr = arg;
    if (!sr->id[0] || sr->call != NULL || sr->busy)
        return;
    struct sync_pos pos = {sr->phase, sr->cursor, sr->head};
    if (sr->phase[0] && sync_list_done(sr->src, &pos))
        finish(sr, "done", "", ""); /* again: Redis did not take the end the first time */
    else
        fetch_page(sr);
}

/* ---- taking runs ---------------------------------------------------------------------------- */

static void try_next(struct sync_run *sr);

static void on_claim(struct sync_run *sr, struct redisReply *r)
{
    struct sync_claimed cl;
    sr->busy = 0;
    if (r == NULL || sync_claim_result(r, &cl) != 0) {
        sr->id[0] = '\0';
        try_next(sr);
        return;
    }
    const struct source *src = config_source(sr->cfg, cl.source);
    if (src == NULL) {
        /* The config changed under a running run: end it (removing nothing). */
        static const struct source gone = {.name = "", .sync = {.remove_missing = 0}};
        sr->src = &gone;
        sr->phase = strdup("");
        sr->cursor = strdup("");
        sr->head = strdup("");
        LOG_WARN("sync: run of a source no longer configured", "sync_id", sr->id, NULL);
        finish(sr, "failed", "config_error", "the source is no longer configured");
        return;
    }
    sr->src = src;
    sr->full = cl.full;
    sr->started_ms = cl.started_ms;
    sr->pages = cl.pages;
    sr->attempts = 0;
    if (set_str(&sr->phase, cl.phase) != 0 || set_str(&sr->cursor, cl.cursor) != 0 ||
        set_str(&sr->head, cl.head) != 0 || set_str(&sr->targets, cl.targets) != 0) {
        drop_run(sr);
        return;
    }
    LOG_INFO(
        cl.takeover ? "sync: continuing a dead worker's run from its checkpoint" : "sync: listing",
        "sync_id", sr->id, "source", src->name, "phase", sr->phase[0] ? sr->phase : NULL, NULL);
    sr->next_beat = next_beat_at(sr);
    struct sync_pos pos = {sr->phase, sr->cursor, sr->head};
    if (sr->phase[0] && sync_list_done(src, &pos))
        finish(sr, "done", "", ""); /* listed completely before its worker died */
    else
        arm(sr, 0);
}

static void clear_cands(struct sync_run *sr)
{
    for (size_t i = 0; i < sr->n_cands; i++)
        free(sr->cands[i]);
    free(sr->cands);
    sr->cands = NULL;
    sr->n_cands = sr->i_cand = 0;
}

/* Tries to take the lease of the next candidate run (one claim out at a time). */
static void try_next(struct sync_run *sr)
{
    while (sr->i_cand < sr->n_cands && !sr->id[0]) {
        const char *id = sr->cands[sr->i_cand++];
        struct sync_args a;
        sync_args_init(&a);
        sync_args_claim(&a, sr->cfg, id, sr->token, lease_ms(sr));
        snprintf(sr->id, sizeof(sr->id), "%s", id); /* tentatively: on_claim confirms */
        sr->gen++;
        int rc = send_script(sr, lua_sync_claim, "sync_claim", &a, on_claim);
        sync_args_clear(&a);
        if (rc == 0) {
            sr->busy = 1;
            return;
        }
        sr->id[0] = '\0';
        break;
    }
    clear_cands(sr);
}

static void on_members(struct redisReply *r, void *arg)
{
    struct sync_run *sr = arg;
    if (sr->closing)
        return;
    sr->busy = 0;
    if (r == NULL || sr->id[0])
        return;
    clear_cands(sr);
    if (sync_active_ids(r, &sr->cands, &sr->n_cands) != 0)
        return;
    try_next(sr);
}

static void on_started(struct sync_run *sr, struct redisReply *r)
{
    char id[64];
    (void)sr;
    if (r && sync_start_result(r, id, sizeof(id)) == 1)
        LOG_INFO("sync scheduled", "sync_id", id, NULL);
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
        (void)send_script(sr, lua_sync_start, "sync_start", &a, on_started);
        sync_args_clear(&a);
        free(targets);
    }
}

void sync_run_tick(struct sync_run *sr)
{
    if (sr == NULL || sr->busy || !rconn_ready(sr->rc))
        return;
    int64_t now = util_mono_ms();
    if (sr->id[0]) {
        /* Waiting out a retry delay or a slow page: keep the lease, and see whether an
         * operator cancelled the run. A page renews it (and sees that) when applied. */
        if (now >= sr->next_beat && sr->src)
            beat(sr, 0, "");
        return;
    }
    if (now < sr->next_scan)
        return;
    sr->next_scan = now + SCAN_EVERY_MS;
    schedule(sr);
    struct sync_args a;
    sync_args_init(&a);
    sync_args_active(&a, sr->cfg);
    if (!a.oom && rconn_command(sr->rc, on_members, sr, a.argc, (const char **)a.argv, a.lens) == 0)
        sr->busy = 1;
    sync_args_clear(&a);
}

struct sync_run *sync_run_new(const struct config *cfg, struct event_base *base,
                              struct srclimit *sl)
{
    struct sync_run *sr = calloc(1, sizeof(*sr));
    if (sr == NULL)
        return NULL;
    sr->cfg = cfg;
    sr->base = base;
    sr->hc = hclient_new(base);
    sr->rc = rconn_new(base, cfg, REDIS_TIMEOUT_MS);
    sr->timer = evtimer_new(base, on_timer, sr);
    sr->fx = sr->hc ? fetches_new(sr->hc, sl) : NULL;
    if (sr->hc == NULL || sr->rc == NULL || sr->timer == NULL || sr->fx == NULL) {
        sync_run_free(sr);
        return NULL;
    }
    fetches_first(sr->fx);
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
    sr->closing = 1;
    rconn_free(sr->rc); /* answers still out run now, with nothing, and do nothing */
    if (sr->id[0] && sr->src) {
        /* The worker is exiting: a short blocking call hands the lease back at once, so
         * another worker continues now rather than after the lease's expiry. */
        struct rsync *rs = rsync_new(sr->cfg, RELEASE_TIMEOUT_MS);
        struct sync_args a;
        sync_args_init(&a);
        sync_args_release(&a, sr->cfg, sr->id, sr->token);
        struct redisReply *r = rs && !a.oom ? rsync_script(rs, lua_sync_release, 0, a.argc,
                                                           (const char **)a.argv, a.lens)
                                            : NULL;
        sync_args_clear(&a);
        rsync_reply_free(r);
        rsync_free(rs);
        LOG_INFO("sync: run handed back", "sync_id", sr->id, NULL);
    }
    drop_run(sr);
    clear_cands(sr);
    fetches_free(sr->fx);
    hclient_free(sr->hc);
    if (sr->timer)
        event_free(sr->timer);
    free(sr->next_phase);
    free(sr->next_cursor);
    sr->next_phase = sr->next_cursor = NULL;
    free(sr);
}
