/* The Redis work that brings deliveries in: read the stream (take, or autoclaim what a dead
 * worker held), fan each read out with one script call, claim every target's due deliveries
 * with one script call, and put expired leases back (reclaim). Every call is asynchronous
 * (queue/rconn): a slow or stopped Redis delays this work and nothing else; pushes and
 * fetches in flight go on. At most one take/autoclaim chain, one claim and one reclaim are out
 * at a time. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "handlers/sync_run.h"
#include "handlers/worker_internal.h"
#include "queue/rconn.h"

#define TAKE_COUNT 64      /* stream entries read (and fanned out in one script call) per read */
#define TAKE_ROUNDS 4      /* reads per poll while the stream keeps answering full batches */
#define AUTOCLAIM_COUNT 32 /* entries taken over per XAUTOCLAIM */
#define RECLAIM_LIMIT 100  /* expired leases (and old P:failed entries) handled per call */
#define RECLAIM_EVERY_MS 1000
#define DEFAULT_MAX_IN_FLIGHT 8

/* Sends cmd; cb gets the reply (NULL when Redis failed). Returns 0, or -1 when it could not be
 * sent (not connected): the caller undoes its busy flag. */
static int send(struct worker *w, const struct dlv_cmd *cmd, rconn_cb cb, const char *what)
{
    const char *script;
    int argc;
    const char **argv;
    const size_t *lens;

    dlv_cmd_get(cmd, &script, &argc, &argv, &lens);
    int rc = script ? rconn_script(w->rc, script, cb, w, 0, argc, argv, lens)
                    : rconn_command(w->rc, cb, w, argc, argv, lens);
    if (rc != 0)
        worker_redis_failed(w, what);
    return rc;
}

/* A reply arrived: NULL means the connection failed (logged once, backing off). Returns 1
 * when there is an answer to read. */
static int answered(struct worker *w, const struct redisReply *r, const char *what)
{
    if (r == NULL) {
        worker_redis_failed(w, what);
        return 0;
    }
    worker_redis_ok(w);
    return 1;
}

/* ---- the stream ----------------------------------------------------------------------------- */

static void take(struct worker *w);

static void intake_done(struct worker *w)
{
    w->intake_busy = 0;
    worker_maybe_exit(w);
}

static void on_fanout(struct redisReply *r, void *arg)
{
    struct worker *w = arg;
    const char *err = dlv_reply_error(r);

    if (w->closing)
        return;
    if (!answered(w, r, "fanout") || err) {
        if (err)
            LOG_ERROR("redis script failed", "op", "fanout", "error", err, NULL);
        /* the entries stay pending in the group: read our own again */
        w->read_own = 1;
        intake_done(w);
        return;
    }
    if (dlv_fanout_total(r) > 0)
        worker_intake_claim(w);
    if (w->take_full && ++w->take_round < TAKE_ROUNDS && !w->stopping) {
        take(w);
        return;
    }
    intake_done(w);
}

/* Fans out the entries of a take/autoclaim reply with one fanout.lua call. Returns 1 when the
 * call is out (on_fanout ends the chain), 0 when there was nothing to fan out. */
static int fanout(struct worker *w, const struct dlv_stream *s)
{
    const struct config *cfg = w->cfg;
    size_t *targets = w->fan_targets;
    size_t m = 0;

    if (s->n == 0)
        return 0;
    if (dlv_fanout_begin(w->cmd_fanout, cfg) != 0)
        goto fail;
    for (size_t i = 0; i < s->n; i++) {
        struct dlv_entry e;
        size_t nt = 0;
        if (dlv_stream_entry(s, i, &e) != 0)
            continue;
        if (!e.deleted && config_source(cfg, e.source) && e.event_id[0]) {
            for (size_t k = 0; k < cfg->n_targets; k++)
                if (config_target_matches(&cfg->targets[k], e.source, e.content_type) &&
                    sync_run_entry_wants(e.targets, cfg->targets[k].name))
                    targets[nt++] = k;
        } else if (!e.deleted) {
            LOG_WARN("dropping stream entry of unknown source", "stream_id", e.sid, "source",
                     e.source, "event_id", e.event_id, NULL);
        }
        /* an entry with no target (or deleted while pending) is only acknowledged */
        if (dlv_fanout_add(w->cmd_fanout, &e, targets, nt) != 0)
            goto fail;
        m++;
    }
    if (m == 0)
        return 0;
    if (dlv_fanout_end(w->cmd_fanout) != 0)
        goto fail;
    if (send(w, w->cmd_fanout, on_fanout, "fanout") != 0) {
        w->read_own = 1;
        return 0;
    }
    return 1;
fail:
    LOG_ERROR("out of memory building a fanout; the entries are read again", NULL);
    w->read_own = 1;
    return 0;
}

static void on_group(struct redisReply *r, void *arg)
{
    struct worker *w = arg;
    if (w->closing)
        return;
    if (answered(w, r, "xgroup") && !dlv_reply_error(r))
        LOG_INFO("created consumer group", "stream", "events", NULL);
    intake_done(w);
}

static void on_take(struct redisReply *r, void *arg)
{
    struct worker *w = arg;
    struct dlv_stream s;

    if (w->closing)
        return;
    w->take_full = 0;
    if (!answered(w, r, "xreadgroup")) {
        /* Redis may still have run it (a stall, not a loss): what it read is in our pending
         * list, read again from there */
        w->read_own = 1;
        intake_done(w);
        return;
    }
    dlv_stream_decode(r, 0, NULL, 0, &s);
    if (s.nogroup) {
        if (dlv_group_create(w->cmd_intake, w->cfg) == 0 &&
            send(w, w->cmd_intake, on_group, "xgroup") == 0)
            return;
        intake_done(w);
        return;
    }
    if (s.error) {
        LOG_ERROR("xreadgroup failed", "error", s.error, NULL);
        intake_done(w);
        return;
    }
    worker_found(w, s.n);
    if (w->read_own && s.n == 0)
        w->read_own = 0; /* our pending list is empty again */
    w->take_full = s.n >= TAKE_COUNT;
    if (!fanout(w, &s))
        intake_done(w);
}

static void take(struct worker *w)
{
    if (dlv_take(w->cmd_intake, w->cfg, w->consumer, TAKE_COUNT, w->read_own) != 0 ||
        send(w, w->cmd_intake, on_take, "xreadgroup") != 0)
        intake_done(w);
}

/* Entries a dead worker read but never fanned out come back after visibility_timeout_ms. */
static void on_autoclaim(struct redisReply *r, void *arg)
{
    struct worker *w = arg;
    struct dlv_stream s;

    if (w->closing)
        return;
    if (!answered(w, r, "xautoclaim")) {
        intake_done(w);
        return;
    }
    dlv_stream_decode(r, 1, w->autoclaim_cursor, sizeof(w->autoclaim_cursor), &s);
    if (s.nogroup || s.error) {
        intake_done(w); /* the next take recreates the group */
        return;
    }
    if (s.n > 0)
        LOG_INFO("took over stream entries of a stalled worker", LOG_INT("entries", s.n), NULL);
    w->take_full = 0;
    if (!fanout(w, &s))
        intake_done(w);
}

/* ---- reclaim -------------------------------------------------------------------------------- */

static void on_reclaim(struct redisReply *r, void *arg)
{
    struct worker *w = arg;
    struct dlv_reclaimed rc;

    if (w->closing)
        return;
    w->reclaim_busy = 0;
    if (answered(w, r, "reclaim")) {
        if (dlv_reply_error(r))
            LOG_ERROR("redis script failed", "op", "reclaim", "error", dlv_reply_error(r), NULL);
        else if (dlv_reclaim_decode(r, &rc) == 0 && (rc.back > 0 || rc.superseded > 0)) {
            LOG_WARN("reclaimed expired delivery leases", LOG_INT("deliveries", rc.back),
                     LOG_INT("superseded", rc.superseded), NULL);
            worker_intake_claim(w);
        }
        if (!dlv_reply_error(r) && rc.trimmed > 0)
            LOG_INFO("trimmed failed deliveries past retention", LOG_INT("deliveries", rc.trimmed),
                     NULL);
    }
    worker_maybe_exit(w);
}

/* ---- claim ---------------------------------------------------------------------------------- */

static void on_claim(struct redisReply *r, void *arg)
{
    struct worker *w = arg;
    const struct config *cfg = w->cfg;

    if (w->closing)
        return;
    w->claim_busy = 0;
    if (answered(w, r, "claim")) {
        if (dlv_reply_error(r))
            LOG_ERROR("redis script failed", "op", "claim", "error", dlv_reply_error(r), NULL);
        for (size_t k = 0; k < cfg->n_targets; k++) {
            size_t n = dlv_claim_count(r, k);
            worker_found(w, n);
            for (size_t i = 0; i < n; i++) {
                struct dlv_claimed d;
                if (dlv_claim_get(r, k, i, &d) != 0)
                    continue; /* malformed: its lease expires and it is retried */
                if (d.superseded) {
                    LOG_INFO("delivery superseded", "event_id", d.event_id, "delivery_id", d.id,
                             "source", d.source, "target", cfg->targets[k].name, "status",
                             "superseded", LOG_INT("attempt", d.attempt_count),
                             LOG_INT("duration_ms", 0), NULL);
                    continue;
                }
                if (worker_job_start(w, k, &d) != 0)
                    LOG_ERROR("out of memory starting a delivery; its lease expires", "delivery_id",
                              d.id, NULL);
            }
        }
    }
    if (w->claim_again) {
        w->claim_again = 0;
        worker_intake_claim(w);
    }
    worker_maybe_exit(w);
}

void worker_intake_claim(struct worker *w)
{
    const struct config *cfg = w->cfg;
    size_t limit = worker_room(w), total = 0;

    if (w->stopping || w->closing || worker_redis_waiting(w))
        return;
    if (w->claim_busy) {
        w->claim_again = 1;
        return;
    }
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target *t = &cfg->targets[i];
        size_t mif = (size_t)(t->max_in_flight > 0 ? t->max_in_flight : DEFAULT_MAX_IN_FLIGHT);
        size_t room = w->inflight[i] < mif ? mif - w->inflight[i] : 0;
        w->room[i] = room < limit ? room : limit;
        total += w->room[i];
    }
    if (total == 0 || limit == 0)
        return;
    if (dlv_claim(w->cmd_claim, cfg, w->consumer, w->room, limit, w->claim_rr++) != 0)
        return;
    w->claim_again = 0;
    if (send(w, w->cmd_claim, on_claim, "claim") == 0)
        w->claim_busy = 1;
}

/* ---- one poll ------------------------------------------------------------------------------- */

void worker_intake_poll(struct worker *w)
{
    int64_t now = util_mono_ms();

    if (w->stopping || worker_redis_waiting(w))
        return;
    if (!w->reclaim_busy && now >= w->next_reclaim) {
        w->next_reclaim = now + RECLAIM_EVERY_MS;
        if (dlv_reclaim(w->cmd_reclaim, w->cfg, RECLAIM_LIMIT) == 0 &&
            send(w, w->cmd_reclaim, on_reclaim, "reclaim") == 0)
            w->reclaim_busy = 1;
    }
    if (!w->intake_busy && !worker_redis_waiting(w)) {
        w->intake_busy = 1;
        if (now >= w->next_autoclaim) {
            int64_t every = w->cfg->worker_visibility_timeout_ms / 2;
            w->next_autoclaim = now + (every > 100 ? every : 100);
            if (dlv_autoclaim(w->cmd_intake, w->cfg, w->consumer, w->autoclaim_cursor,
                              AUTOCLAIM_COUNT) != 0 ||
                send(w, w->cmd_intake, on_autoclaim, "xautoclaim") != 0)
                intake_done(w);
        } else {
            w->take_round = 0;
            take(w);
        }
    }
    worker_intake_claim(w);
}
