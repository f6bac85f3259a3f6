#ifndef RELAY_WORKER_INTERNAL_H
#define RELAY_WORKER_INTERNAL_H

/* Shared by the three parts of relay-worker's engine; not for other modules.
 *   worker.c        the scheduler: the loop's timers, Redis health, writing outcomes, shutdown
 *   worker_intake.c Redis work that brings deliveries in: take/autoclaim + fanout, claim,
 *                   reclaim (all asynchronous: a stalled Redis delays only these)
 *   worker_job.c    one claimed delivery from claim to outcome: fetch, render, push, verdict */

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "queue/delivery.h"

struct event;
struct event_base;
struct hclient;
struct hclient_call;
struct fetches;
struct fetch_wait;
struct srclimit;
struct rconn;
struct json_t;
struct jread_arena;

#define WORKER_MAX_FETCHES 8 /* GETs per title: a loop guard on cms_next_url */

enum job_state {
    JOB_FETCH,   /* the source fetch is in flight */
    JOB_PUSH,    /* the push is in flight */
    JOB_DONE,    /* the outcome is decided and waits to be written */
    JOB_WRITING, /* complete.lua with the outcome is in flight */
};

/* One claimed delivery being worked on, from claim to complete. */
struct job {
    struct worker *w;
    struct job *prev, *next;
    size_t ti;
    const struct target *t;
    const struct source *src;
    enum job_state state;
    /* from the claim; all in one allocation (strs) */
    char *strs;
    const char *id, *event_id, *request_id, *event_type, *source, *content_type, *content_id,
        *show_id, *lease;
    int64_t first_seen_ms, event_at_ms; /* 0 = unknown */
    int season, episode;
    int attempt; /* this attempt's number, 1-based */
    int unpublish;
    /* fetch */
    struct jread_arena *arena; /* the Jansson values of bodies and of the render (jread.h) */
    struct json_t *bodies[WORKER_MAX_FETCHES];
    size_t n_bodies;
    char *title_type;
    struct hclient_call *call; /* the push in flight */
    struct fetch_wait *wait;   /* the source fetch in flight (shared with the event's others) */
    int64_t started;
    /* the outcome, kept until Redis has it */
    enum dlv_result result;
    long http_status;
    char code[40];
    char *message;
    char *snippet;
    int64_t delay_ms;
    int64_t push_ms; /* -1 = no push made */
    int64_t duration_ms;
    int count_attempt;
    int rewrite; /* an earlier write of this outcome got no answer (Redis may have taken it) */
    /* the catalog write that goes with a delivered outcome (queue/catalog): cat_status NULL =
     * none, "live" with cat_doc, or "removed" */
    const char *cat_status;
    char *cat_doc, *cat_updated_at, *cat_content_type;
    struct cat_lookup *lookup; /* the catalog read of a tombstone in flight */
    char cat_markets[160];
};

struct worker {
    const struct config *cfg;
    struct event_base *base;
    struct hclient *hc;
    struct fetches *fx;
    struct srclimit *sl;   /* the sources' request limits (queue/srclimit) */
    struct sync_run *sync; /* catalog sync runs (handlers/sync_run.c) */
    struct alert *alert;   /* alerting (handlers/alert.c) */
    struct rconn *rc;
    struct event *tick, *sigterm, *sigint, *drain, *hard_stop;
    struct event *flush; /* outcomes ready: one complete.lua for those of a few ms (GATHER_MS) */
    size_t ready;        /* outcomes ready since the last flush */
    struct event *log_flush; /* made active when a log line is held (core/log buffered mode) */
    char consumer[96];
    struct job *jobs;
    size_t n_jobs;
    size_t *inflight;    /* per target index */
    size_t *room;        /* scratch for claims, per target index */
    size_t *fan_targets; /* scratch for fanout: the targets of one entry */
    int stopping;
    int closing; /* worker_free: callbacks must not start anything */
    /* Redis work in flight: at most one intake chain, one claim and one reclaim at a time;
     * any number of outcome writes */
    int intake_busy, claim_busy, reclaim_busy;
    int claim_again; /* something freed room or added deliveries while a claim was out */
    /* Deliveries may be due that no fanout leased (a fanout left some in the due lists, a
     * reclaim put some back): claim when room frees, not only on the tick. */
    int due_maybe;
    size_t *claim_asked; /* per target: the room the claim out asked for */
    int64_t *full_since; /* per target: since when it has no room (0 = it has) */
    /* per target: the room its max_in_flight across workers had left at the last fanout (-1 =
     * unknown), and the deliveries of it this worker ended since */
    long *room_hint;
    size_t *freed;
    size_t claim_asked_total; /* its max */
    int fanout_leasing;       /* the fanout out leases (its reply starts jobs) */
    size_t fanout_m;          /* entries in it */
    int take_deferred;        /* a read was skipped for want of room: read once room frees */
    int take_count;           /* entries the last read asked for */
    size_t claim_rr;          /* the target claims start with, rotated */
    size_t writes;
    struct dlv_cmd *cmd_intake, *cmd_fanout, *cmd_claim, *cmd_reclaim, *cmd_complete;
    int take_round;
    int read_own;     /* re-read our own pending stream entries (after a failed fanout) */
    int take_full;    /* the last stream read was a full batch: more entries are waiting */
    int64_t tick_ms;  /* the tick's interval: TICK_MS while busy, growing while idle */
    int64_t found_at; /* when a reply last brought work (or a delivery was in flight) */
    char autoclaim_cursor[48];
    int64_t next_reclaim, next_autoclaim;
    int64_t redis_retry_at, redis_backoff_ms;
    int redis_down;
    long drain_ms;
};

/* worker.c */
void worker_redis_failed(struct worker *w, const char *what);
void worker_redis_ok(struct worker *w);
int worker_redis_waiting(const struct worker *w);
/* Room for new jobs left under worker.concurrency. */
size_t worker_room(const struct worker *w);
/* worker.concurrency (its default when unset). */
size_t worker_room_max(const struct worker *w);
/* A reply brought n stream entries or claimed deliveries: the loop is busy. */
void worker_found(struct worker *w, size_t n);
/* Exits the loop once stopping and nothing is held or in flight. */
void worker_maybe_exit(struct worker *w);
void worker_outcome_ready(struct worker *w);

/* worker_intake.c */
/* One poll: reclaim and autoclaim when due, read the stream, claim. */
void worker_intake_poll(struct worker *w);
/* Claims due deliveries into the room there is (again later if a claim is out). */
void worker_intake_claim(struct worker *w);

/* worker_job.c */
/* Starts work on one claimed delivery of target ti (a job in w->jobs); on shutdown it is
 * handed back at once. Returns 0, or -1 on allocation failure (its lease expires). */
int worker_job_start(struct worker *w, size_t ti, const struct dlv_claimed *d);
/* Ends the current attempt with result; the outcome is written with the next batch. */
void worker_job_finish(struct job *j, enum dlv_result result, long http_status, const char *code,
                       const char *message, int64_t retry_after_ms);
/* Cancels what the job has in flight and hands the delivery back unattempted. */
void worker_job_release(struct job *j);
void worker_job_unlink(struct job *j);
void worker_job_free(struct job *j);
/* The outcome in the form complete.lua takes; borrows from j. */
void worker_job_outcome(const struct job *j, struct dlv_outcome *o);
/* Logs what Redis recorded for the job's outcome. */
void worker_job_written(const struct job *j, const struct dlv_written *wr);

#endif
