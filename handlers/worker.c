/* relay-worker's scheduler: one libevent loop runs the HTTP client (fetches and pushes), the
 * asynchronous Redis connection and the timers that poll for work; this file owns the loop's
 * events, Redis health, writing outcomes in batches, and shutdown. The intake (stream, claim,
 * reclaim) is worker_intake.c, one delivery's life is worker_job.c. */
#include "handlers/worker.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "handlers/alert.h"
#include "handlers/fetches.h"
#include "handlers/hclient.h"
#include "handlers/sync_run.h"
#include "handlers/worker_internal.h"
#include "queue/rconn.h"
#include "queue/srclimit.h"

#define TICK_MS 10            /* how often a busy loop looks for new events and due deliveries */
#define IDLE_AFTER_MS 1000    /* a loop that found no work for this long is idle ... */
#define IDLE_MAX_MS 100       /* ... and waits up to this long between looks */
#define REDIS_TIMEOUT_MS 2000 /* no answer for this long: the connection is dropped and redone */
#define REDIS_BACKOFF_MIN_MS 50
#define REDIS_BACKOFF_MAX_MS 2000
#define HARD_STOP_MS (REDIS_TIMEOUT_MS + 1000) /* after the drain: the last writes' bound */
#define DEFAULT_CONCURRENCY 32
#define DEFAULT_PUSH_TIMEOUT_MS 10000
/* An outcome waits at most GATHER_MS for others to share its complete.lua call, or until
 * GATHER_MAX are ready: a call's fixed cost (the script's setup, its counter and histogram
 * writes, a round trip) was paid by one outcome in a quarter of the calls at full speed. */
#define GATHER_MS 2
#define GATHER_MAX 32

/* ---- Redis health --------------------------------------------------------------------------- */

void worker_redis_failed(struct worker *w, const char *what)
{
    /* every command out on a dropped connection fails at once: back off once for all */
    if (worker_redis_waiting(w))
        return;
    if (!w->redis_down)
        LOG_WARN("redis unavailable, retrying", "op", what, NULL);
    w->redis_down = 1;
    w->redis_backoff_ms = w->redis_backoff_ms ? w->redis_backoff_ms * 2 : REDIS_BACKOFF_MIN_MS;
    if (w->redis_backoff_ms > REDIS_BACKOFF_MAX_MS)
        w->redis_backoff_ms = REDIS_BACKOFF_MAX_MS;
    w->redis_retry_at = util_mono_ms() + w->redis_backoff_ms;
}

void worker_redis_ok(struct worker *w)
{
    if (w->redis_down)
        LOG_INFO("redis available again", NULL);
    w->redis_down = 0;
    w->redis_backoff_ms = 0;
}

int worker_redis_waiting(const struct worker *w)
{
    return util_mono_ms() < w->redis_retry_at;
}

size_t worker_room_max(const struct worker *w)
{
    return (size_t)(w->cfg->worker_concurrency > 0 ? w->cfg->worker_concurrency
                                                   : DEFAULT_CONCURRENCY);
}

size_t worker_room(const struct worker *w)
{
    size_t limit = worker_room_max(w);
    return w->n_jobs < limit ? limit - w->n_jobs : 0;
}

void worker_found(struct worker *w, size_t n)
{
    if (n == 0)
        return;
    w->found_at = util_mono_ms();
    if (w->tick_ms > TICK_MS) {
        /* idle until now: look again at the busy pace at once, not after the idle interval */
        struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};
        w->tick_ms = TICK_MS;
        event_add(w->tick, &tv);
    }
}

void worker_maybe_exit(struct worker *w)
{
    if (w->stopping && !w->closing && w->n_jobs == 0 && w->writes == 0 && !w->intake_busy &&
        !w->claim_busy && !w->reclaim_busy)
        event_base_loopexit(w->base, NULL);
}

/* ---- writing outcomes ----------------------------------------------------------------------- */

/* One complete.lua call in flight and the jobs whose outcomes it carries. */
struct write_batch {
    struct worker *w;
    size_t n;
    struct job *jobs[DLV_COMPLETE_MAX];
};

static void flush_outcomes(struct worker *w);

/* complete.lua decided the circuit breaker's transitions; the worker whose outcome caused one
 * says so, once across all workers. */
static void log_circuit(const struct job *j, const struct dlv_written *wr)
{
    char hs[16];
    if (wr->circuit == DLV_CIRCUIT_SAME)
        return;
    snprintf(hs, sizeof(hs), "%ld", wr->last_http);
    LOG_AT(wr->circuit == DLV_CIRCUIT_OPENED ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
           wr->circuit == DLV_CIRCUIT_OPENED ? "circuit opened" : "circuit closed", "target",
           j->t->name, LOG_INT("failures", wr->failures), "delivery_id", j->id, "error_code",
           wr->last_code[0] ? wr->last_code : NULL, "error",
           wr->last_message[0] ? wr->last_message : NULL, "http_status", wr->last_http ? hs : NULL,
           NULL);
}

static void on_written(struct redisReply *r, void *arg)
{
    struct write_batch *b = arg;
    struct worker *w = b->w;
    const char *err = dlv_reply_error(r);

    w->writes--;
    if (w->closing) {
        free(b);
        return;
    }
    if (r == NULL) {
        /* Redis did not take them: written again once it is back (the lease still holds) */
        worker_redis_failed(w, "complete");
        for (size_t i = 0; i < b->n; i++) {
            b->jobs[i]->state = JOB_DONE;
            b->jobs[i]->rewrite = 1;
        }
        free(b);
        worker_maybe_exit(w);
        return;
    }
    worker_redis_ok(w);
    if (err)
        LOG_ERROR("redis script failed; the leases expire and the deliveries are retried", "op",
                  "complete", "delivery_id", b->jobs[0]->id, "error", err, NULL);
    for (size_t i = 0; i < b->n; i++) {
        struct job *j = b->jobs[i];
        struct dlv_written wr;
        if (!err && dlv_complete_result(r, i, &wr) == 0) {
            worker_job_written(j, &wr);
            log_circuit(j, &wr);
        }
        worker_job_unlink(j);
        worker_job_free(j);
    }
    free(b);
    /* room was freed: refill it at once instead of waiting for the next tick */
    worker_intake_claim(w);
    worker_maybe_exit(w);
}

/* Sends every decided outcome, DLV_COMPLETE_MAX per complete.lua call. */
static void flush_outcomes(struct worker *w)
{
    struct write_batch *b = NULL;

    w->ready = 0;
    for (;;) {
        const char *script;
        int argc;
        const char **argv;
        const size_t *lens;
        size_t n = 0;

        if (worker_redis_waiting(w))
            return;
        for (struct job *j = w->jobs; j && n < DLV_COMPLETE_MAX; j = j->next)
            n += j->state == JOB_DONE;
        if (n == 0)
            return;
        b = malloc(sizeof(*b));
        if (b == NULL || dlv_complete_begin(w->cmd_complete, w->cfg) != 0)
            goto fail;
        b->w = w;
        b->n = 0;
        for (struct job *j = w->jobs; j && b->n < DLV_COMPLETE_MAX; j = j->next) {
            struct dlv_outcome o;
            if (j->state != JOB_DONE)
                continue;
            worker_job_outcome(j, &o);
            if (dlv_complete_add(w->cmd_complete, &o) != 0)
                goto fail;
            b->jobs[b->n++] = j;
        }
        if (dlv_complete_end(w->cmd_complete) != 0)
            goto fail;
        dlv_cmd_get(w->cmd_complete, &script, &argc, &argv, &lens);
        if (rconn_script(w->rc, script, on_written, b, 0, argc, argv, lens) != 0) {
            worker_redis_failed(w, "complete");
            free(b);
            return;
        }
        struct write_batch *sent = b;
        b = NULL;
        for (size_t i = 0; i < sent->n; i++)
            sent->jobs[i]->state = JOB_WRITING;
        w->writes++;
        if (sent->n < DLV_COMPLETE_MAX)
            return;
    }
fail:
    free(b);
    LOG_ERROR("out of memory writing outcomes; retrying", NULL);
}

void worker_outcome_ready(struct worker *w)
{
    /* Written by on_flush together with the others ready by then (GATHER_MS). */
    w->ready++;
    if (w->ready >= GATHER_MAX || w->stopping) {
        event_active(w->flush, EV_TIMEOUT, 1);
        return;
    }
    if (!evtimer_pending(w->flush, NULL)) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = GATHER_MS * 1000};
        evtimer_add(w->flush, &tv);
    }
}

static void on_flush(evutil_socket_t fd, short kind, void *arg)
{
    flush_outcomes(arg);
}

/* ---- polling -------------------------------------------------------------------------------- */

/* Polls, then re-arms itself. Every idle poll is a few Redis calls, and many workers share one
 * Redis: a worker that found no work for IDLE_AFTER_MS doubles its interval up to
 * IDLE_MAX_MS, and is back at TICK_MS as soon as a poll finds work. (Backing off after a
 * single empty poll put up to ~50 ms on the p99 latency at 500 events/s, where several
 * workers share a steady trickle and many polls come back empty.) */
static void on_tick(evutil_socket_t fd, short kind, void *arg)
{
    struct worker *w = arg;

    flush_outcomes(w);
    worker_intake_poll(w);
    if (!w->stopping)
        sync_run_tick(w->sync);
    int64_t now = util_mono_ms();
    /* the replies set found_at when they bring work (worker_found) */
    if (w->n_jobs > 0 || w->redis_down || w->stopping)
        w->found_at = now;
    if (now - w->found_at < IDLE_AFTER_MS)
        w->tick_ms = TICK_MS;
    else if (w->tick_ms < IDLE_MAX_MS)
        w->tick_ms = w->tick_ms * 2 < IDLE_MAX_MS ? w->tick_ms * 2 : IDLE_MAX_MS;
    struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)(w->tick_ms * 1000)};
    event_add(w->tick, &tv);
}

/* The log lines of one loop pass (a line per delivery) go out in one write once the pass's
 * callbacks have run: log_set_buffered() activates this when a line is held. */
static void on_log_flush(evutil_socket_t fd, short kind, void *arg)
{
    log_flush();
}

static void log_held(void *arg)
{
    struct worker *w = arg;
    event_active(w->log_flush, EV_TIMEOUT, 1);
}

/* ---- shutdown ------------------------------------------------------------------------------- */

static void on_hard_stop(evutil_socket_t fd, short kind, void *arg)
{
    struct worker *w = arg;
    /* What Redis has not taken by now is left to the leases: another worker retries it. */
    LOG_WARN("stopping with outcomes unwritten; their leases expire and they are retried", NULL);
    event_base_loopexit(w->base, NULL);
}

static void on_drain_timeout(evutil_socket_t fd, short kind, void *arg)
{
    struct worker *w = arg;

    /* What is still in flight is handed back, with the outcomes already decided. */
    for (struct job *j = w->jobs; j; j = j->next)
        if (j->state == JOB_FETCH || j->state == JOB_PUSH)
            worker_job_release(j);
    flush_outcomes(w);
    struct timeval tv = {.tv_sec = HARD_STOP_MS / 1000, .tv_usec = (HARD_STOP_MS % 1000) * 1000};
    evtimer_add(w->hard_stop, &tv);
    worker_maybe_exit(w);
}

static void on_signal(evutil_socket_t sig, short kind, void *arg)
{
    struct worker *w = arg;
    if (w->stopping)
        return;
    w->stopping = 1;
    LOG_INFO("stopping: finishing deliveries in flight", "signal",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", LOG_INT("in_flight", w->n_jobs), NULL);
    struct timeval tv = {.tv_sec = w->drain_ms / 1000, .tv_usec = (w->drain_ms % 1000) * 1000};
    evtimer_add(w->drain, &tv);
    worker_maybe_exit(w);
}

/* ---- life cycle ----------------------------------------------------------------------------- */

struct worker *worker_new(const struct config *cfg)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->cfg = cfg;
    w->base = event_base_new();
    w->inflight = calloc(cfg->n_targets + 1, sizeof(*w->inflight));
    w->room = calloc(cfg->n_targets + 1, sizeof(*w->room));
    w->fan_targets = calloc(cfg->n_targets + 1, sizeof(*w->fan_targets));
    w->claim_asked = calloc(cfg->n_targets + 1, sizeof(*w->claim_asked));
    w->full_since = calloc(cfg->n_targets + 1, sizeof(*w->full_since));
    w->room_hint = calloc(cfg->n_targets + 1, sizeof(*w->room_hint));
    w->freed = calloc(cfg->n_targets + 1, sizeof(*w->freed));
    for (size_t i = 0; w->room_hint && i < cfg->n_targets; i++)
        w->room_hint[i] = -1;
    w->cmd_intake = dlv_cmd_new();
    w->cmd_fanout = dlv_cmd_new();
    w->cmd_claim = dlv_cmd_new();
    w->cmd_reclaim = dlv_cmd_new();
    w->cmd_complete = dlv_cmd_new();
    if (w->base == NULL || w->inflight == NULL || w->room == NULL || w->fan_targets == NULL ||
        w->claim_asked == NULL || w->full_since == NULL || w->room_hint == NULL ||
        w->freed == NULL || w->cmd_intake == NULL || w->cmd_fanout == NULL ||
        w->cmd_claim == NULL || w->cmd_reclaim == NULL || w->cmd_complete == NULL)
        goto fail;
    w->rc = rconn_new(w->base, cfg, REDIS_TIMEOUT_MS);
    w->hc = hclient_new(w->base);
    char host[64] = "host", rnd[9];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    util_random_hex(rnd, 4);
    snprintf(w->consumer, sizeof(w->consumer), "%s-%d-%s", host, (int)getpid(), rnd);
    w->sl = w->rc ? srclimit_new(w->base, w->rc, cfg, w->consumer) : NULL;
    w->fx = w->hc && w->sl ? fetches_new(w->hc, w->sl) : NULL;
    w->tick = evtimer_new(w->base, on_tick, w);
    w->tick_ms = TICK_MS;
    w->found_at = util_mono_ms();
    w->sigterm = evsignal_new(w->base, SIGTERM, on_signal, w);
    w->sigint = evsignal_new(w->base, SIGINT, on_signal, w);
    w->drain = evtimer_new(w->base, on_drain_timeout, w);
    w->hard_stop = evtimer_new(w->base, on_hard_stop, w);
    w->flush = event_new(w->base, -1, 0, on_flush, w);
    w->log_flush = event_new(w->base, -1, 0, on_log_flush, w);
    w->sync = w->sl ? sync_run_new(cfg, w->base, w->sl) : NULL;
    w->alert = alert_new(cfg, w->base); /* inert without alerts */
    if (w->alert == NULL)
        goto fail;
    if (w->sync == NULL || w->rc == NULL || w->hc == NULL || w->fx == NULL || w->tick == NULL ||
        w->sigterm == NULL || w->sigint == NULL || w->drain == NULL || w->hard_stop == NULL ||
        w->flush == NULL || w->log_flush == NULL)
        goto fail;
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
    /* Redis callbacks still out run now, with no reply: they must not start anything. */
    w->closing = 1;
    rconn_free(w->rc);
    while (w->jobs) {
        struct job *j = w->jobs;
        if (j->call)
            hclient_cancel(w->hc, j->call);
        if (j->wait)
            fetches_cancel(w->fx, j->wait);
        worker_job_unlink(j);
        worker_job_free(j);
    }
    sync_run_free(w->sync);
    alert_free(w->alert);
    fetches_free(w->fx);
    srclimit_free(w->sl); /* after the fetches dropped their slots */
    hclient_free(w->hc);
    if (w->log_flush)
        log_set_buffered(0, NULL, NULL); /* writes what is held; no more events to activate */
    struct event *evs[] = {w->tick,      w->sigterm, w->sigint,   w->drain,
                           w->hard_stop, w->flush,   w->log_flush};
    for (size_t i = 0; i < sizeof(evs) / sizeof(*evs); i++)
        if (evs[i])
            event_free(evs[i]);
    dlv_cmd_free(w->cmd_intake);
    dlv_cmd_free(w->cmd_fanout);
    dlv_cmd_free(w->cmd_claim);
    dlv_cmd_free(w->cmd_reclaim);
    dlv_cmd_free(w->cmd_complete);
    free(w->inflight);
    free(w->room);
    free(w->fan_targets);
    free(w->claim_asked);
    free(w->full_since);
    free(w->room_hint);
    free(w->freed);
    if (w->base)
        event_base_free(w->base);
    free(w);
}

int worker_run(struct worker *w, long drain_ms)
{
    struct timeval tick = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};
    w->drain_ms = drain_ms;
    if (event_add(w->tick, &tick) != 0 || event_add(w->sigterm, NULL) != 0 ||
        event_add(w->sigint, NULL) != 0 || alert_start(w->alert) != 0)
        return -1;
    log_set_buffered(1, log_held, w);
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
    if (event_base_dispatch(w->base) < 0) {
        log_flush();
        return -1;
    }
    size_t started = 0, joined = 0;
    fetches_counts(w->fx, &started, &joined);
    /* source_fetches_shared: deliveries that used another delivery's fetch of the same event */
    LOG_INFO("worker stopped", LOG_INT("source_fetches", started),
             LOG_INT("source_fetches_shared", joined), NULL);
    log_flush();
    return 0;
}
