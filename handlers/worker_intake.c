/* The Redis work that brings deliveries in: read the stream (take, or autoclaim what a dead
 * worker held), fan each read out with one script call, claim every target's due deliveries
 * with one script call, and put expired leases back (reclaim). Every call is asynchronous
 * (queue/rconn): a slow or stopped Redis delays this work and nothing else; pushes and
 * fetches in flight go on. At most one take/autoclaim chain, one claim and one reclaim are out
 * at a time.
 *
 * One fetch per event: a worker reads only as many entries as it has room for, and the fanout
 * leases the new deliveries that are due now to it at once (fanout.lua), so the deliveries of
 * an event to every target start together here and share one CMS fetch (handlers/fetches).
 * What the fanout could not lease (no room, a paused target, a rate, an older push of the
 * title in flight) waits in the due lists for the claim, as do retries. */
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
/* A target without room holds the stream reads back this long (its deliveries of the events
 * read meanwhile could not start with their events' others, and would fetch on their own);
 * one full for longer (a slow partner) no longer does. */
#define FULL_WAIT_MS 200

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
static void claim(struct worker *w);
static void maybe_take(struct worker *w);
static size_t start_claimed(struct worker *w, const struct redisReply *r);

/* Room for new deliveries per target (into w->room) under its max_in_flight and the worker's
 * concurrency, less what a claim still out asked for. Returns the room in all. */
static size_t rooms(struct worker *w)
{
    const struct config *cfg = w->cfg;
    size_t limit = worker_room(w);

    if (w->claim_busy)
        limit = limit > w->claim_asked_total ? limit - w->claim_asked_total : 0;
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target *t = &cfg->targets[i];
        size_t mif = (size_t)(t->max_in_flight > 0 ? t->max_in_flight : DEFAULT_MAX_IN_FLIGHT);
        size_t used = w->inflight[i] + (w->claim_busy ? w->claim_asked[i] : 0);
        size_t room = used < mif ? mif - used : 0;
        w->room[i] = room < limit ? room : limit;
    }
    return limit;
}

static void claim_now(struct worker *w);

static void intake_done(struct worker *w)
{
    w->intake_busy = 0;
    if (w->claim_again)
        claim_now(w);
    worker_maybe_exit(w);
}

static void on_fanout(struct redisReply *r, void *arg)
{
    struct worker *w = arg;
    const char *err = dlv_reply_error(r);

    if (w->closing)
        return;
    int leasing = w->fanout_leasing;
    w->fanout_leasing = 0;
    if (!answered(w, r, "fanout") || err) {
        if (err)
            LOG_ERROR("redis script failed", "op", "fanout", "error", err, NULL);
        /* the entries stay pending in the group: read our own again (what Redis may have
         * leased meanwhile is reclaimed when the leases expire) */
        w->read_own = 1;
        w->due_maybe = 1;
        intake_done(w);
        return;
    }
    long created = dlv_fanout_total(r);
    for (size_t k = 0; leasing && k < w->cfg->n_targets; k++) {
        w->room_hint[k] = dlv_fanout_room_left(r, w->fanout_m, k);
        w->freed[k] = 0;
    }
    size_t leased = leasing ? start_claimed(w, dlv_fanout_leased(r, w->fanout_m)) : 0;
    if (created > (long)leased)
        w->due_maybe = 1; /* some wait in the due lists */
    /* before the chain's next read, so that its answer comes first */
    if (w->due_maybe || w->claim_again)
        claim_now(w);
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
    int lease = 0;
    if (!w->stopping) {
        size_t limit = rooms(w);
        if (limit > 0) {
            if (dlv_fanout_lease(w->cmd_fanout, w->consumer, w->room, limit) != 0)
                goto fail;
            lease = 1;
        }
    }
    if (dlv_fanout_end(w->cmd_fanout) != 0)
        goto fail;
    if (send(w, w->cmd_fanout, on_fanout, "fanout") != 0) {
        w->read_own = 1;
        return 0;
    }
    w->fanout_leasing = lease;
    w->fanout_m = m;
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
    w->take_full = s.n >= (size_t)w->take_count;
    if (!fanout(w, &s))
        intake_done(w);
}

/* Reads the stream: as many entries as there is room for their deliveries (a worker reading
 * more than it can start would leave them to the due lists, where each target's deliveries are
 * taken in their own order and the event's fetch is no longer shared). */
static void take(struct worker *w)
{
    int count = TAKE_COUNT;
    if (!w->read_own) {
        /* room for at least one event's deliveries to every target, not counting what a
         * claim out may take (its answer comes first) */
        size_t room = worker_room(w), nt = w->cfg->n_targets ? w->cfg->n_targets : 1;
        size_t need = nt < worker_room_max(w) ? nt : worker_room_max(w);
        if (w->claim_busy)
            room = room > w->claim_asked_total ? room - w->claim_asked_total : 0;
        if (room == 0 || room < need) {
            w->take_deferred = 1; /* read again once room frees (worker_intake_claim) */
            intake_done(w);
            return;
        }
        size_t n = room / nt;
        int64_t now = util_mono_ms();
        for (size_t i = 0; i < w->cfg->n_targets; i++) {
            const struct target *t = &w->cfg->targets[i];
            size_t mif = (size_t)(t->max_in_flight > 0 ? t->max_in_flight : DEFAULT_MAX_IN_FLIGHT);
            size_t r = w->inflight[i] < mif ? mif - w->inflight[i] : 0;
            /* and what the target's max_in_flight across workers left, as last seen */
            if (w->room_hint[i] >= 0 && (size_t)w->room_hint[i] + w->freed[i] < r)
                r = (size_t)w->room_hint[i] + w->freed[i];
            if (r > 0) {
                w->full_since[i] = 0;
                n = r < n ? r : n;
            } else if (w->full_since[i] == 0) {
                w->full_since[i] = now;
                n = 0;
            } else if (now - w->full_since[i] < FULL_WAIT_MS) {
                n = 0;
            }
        }
        if (n == 0) {
            w->take_deferred = 1; /* a target frees room soon (worker_intake_claim) */
            intake_done(w);
            return;
        }
        count = n > TAKE_COUNT ? TAKE_COUNT : (int)n;
    }
    w->take_deferred = 0;
    w->take_count = count;
    if (dlv_take(w->cmd_intake, w->cfg, w->consumer, count, w->read_own) != 0 ||
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
            w->due_maybe = 1;
            claim(w);
        }
        if (!dlv_reply_error(r) && rc.trimmed > 0)
            LOG_INFO("trimmed failed deliveries past retention", LOG_INT("deliveries", rc.trimmed),
                     NULL);
        if (!dlv_reply_error(r) && rc.expired > 0)
            LOG_WARN("deliveries waited past retention_s: ended failed (expired)",
                     LOG_INT("deliveries", rc.expired), NULL);
    }
    worker_maybe_exit(w);
}

/* ---- claim ---------------------------------------------------------------------------------- */

/* Starts a job for each delivery of a claim-shaped reply (claim.lua's, or the leases of a
 * fanout). Returns how many records it held. */
static size_t start_claimed(struct worker *w, const struct redisReply *r)
{
    const struct config *cfg = w->cfg;
    size_t total = 0;

    for (size_t k = 0; r && k < cfg->n_targets; k++) {
        size_t n = dlv_claim_count(r, k);
        worker_found(w, n);
        total += n;
        for (size_t i = 0; i < n; i++) {
            struct dlv_claimed d;
            if (dlv_claim_get(r, k, i, &d) != 0)
                continue; /* malformed: its lease expires and it is retried */
            if (d.superseded) {
                LOG_INFO("delivery superseded", "event_id", d.event_id, "delivery_id", d.id,
                         "source", d.source, "target", cfg->targets[k].name, "status", "superseded",
                         LOG_INT("attempt", d.attempt_count), LOG_INT("duration_ms", 0), NULL);
                continue;
            }
            if (worker_job_start(w, k, &d) != 0)
                LOG_ERROR("out of memory starting a delivery; its lease expires", "delivery_id",
                          d.id, NULL);
        }
    }
    return total;
}

static void on_claim(struct redisReply *r, void *arg)
{
    struct worker *w = arg;

    if (w->closing)
        return;
    w->claim_busy = 0;
    if (answered(w, r, "claim")) {
        if (dlv_reply_error(r))
            LOG_ERROR("redis script failed", "op", "claim", "error", dlv_reply_error(r), NULL);
        /* fewer than asked: the due lists hold nothing more to take now (the tick looks
         * again, for retries coming due); as many: there may be more */
        else
            w->due_maybe = start_claimed(w, r) >= w->claim_asked_total;
    }
    if (w->claim_again) {
        w->claim_again = 0;
        claim(w);
    }
    maybe_take(w); /* a read deferred while this claim was out */
    worker_maybe_exit(w);
}

/* Claims due deliveries into the room there is (again later if a claim or a leasing fanout
 * is out). */
static void claim_now(struct worker *w)
{
    const struct config *cfg = w->cfg;

    if (w->stopping || w->closing || worker_redis_waiting(w))
        return;
    if (w->claim_busy || w->fanout_leasing) {
        w->claim_again = 1;
        return;
    }
    size_t limit = rooms(w), total = 0;
    for (size_t i = 0; i < cfg->n_targets; i++)
        total += w->room[i];
    if (total == 0 || limit == 0)
        return;
    if (dlv_claim(w->cmd_claim, cfg, w->consumer, w->room, limit, w->claim_rr++) != 0)
        return;
    w->claim_again = 0;
    if (send(w, w->cmd_claim, on_claim, "claim") == 0) {
        w->claim_busy = 1;
        memcpy(w->claim_asked, w->room, cfg->n_targets * sizeof(*w->room));
        w->claim_asked_total = total < limit ? total : limit;
    }
}

/* A claim sent while a stream read is out would be answered after it, and the read's fanout
 * would find the room promised to the claim: it waits for the read's chain to end. */
static void claim(struct worker *w)
{
    if (w->intake_busy) {
        w->claim_again = 1;
        return;
    }
    claim_now(w);
}

/* Reads the stream again when a read was cut short for want of room, or came back full. */
static void maybe_take(struct worker *w)
{
    if (w->intake_busy || w->stopping || w->closing || worker_redis_waiting(w) ||
        (!w->take_deferred && !w->take_full) || worker_room(w) == 0)
        return;
    w->intake_busy = 1;
    w->take_round = 0;
    take(w);
}

void worker_intake_claim(struct worker *w)
{
    /* the claim first: on the one connection its answer comes before the read's, so the
     * read's fanout leases what room the claim left */
    if (w->due_maybe || w->claim_again)
        claim(w);
    maybe_take(w);
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
    /* the claim first (retries come due with time): its answer comes before the read's */
    claim(w);
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
}
