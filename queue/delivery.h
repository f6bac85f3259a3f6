#ifndef RELAY_DELIVERY_H
#define RELAY_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "queue/entry.h"

/* The worker's side of the Redis protocol (docs/redis.md, "Deliveries"): argument builders
 * and reply decoders for take/ack (the stream), fanout, claim, complete and reclaim, and the
 * delivery id. No I/O, like queue/ops: the caller sends a built command over either
 * connection (rconn_command/rconn_script, rsync_*) and hands the reply to the decoder. Key
 * names and script argument positions are known here and in queue/lua only.
 *
 *   struct dlv_cmd *c = dlv_cmd_new();
 *   dlv_claim(c, cfg, consumer, room);             (0, or -1 on allocation failure)
 *   dlv_cmd_get(c, &script, &argc, &argv, &argvlen);  (script NULL: a plain command)
 *   ... send it; in the reply's callback: dlv_claim_count(reply, k), dlv_claim_get(...)
 */

struct redisReply;
struct dlv_cmd;

#define DLV_ID_SIZE 29 /* "dlv_" + 24 hex digits + NUL */

/* The delivery id of (source, event_id, target): "dlv_" + the first 24 hex digits of
 * SHA-256(source NUL event_id NUL target). Stable, so fan-out is idempotent and a repeat
 * carries the same Idempotency-Key. Never fails, allocates nothing. */
void dlv_id(const char *source, const char *event_id, const char *target, char out[DLV_ID_SIZE]);

/* ---- commands ------------------------------------------------------------------------------ */

/* A command being built. Strings given to the builders are borrowed until the command is sent
 * (the connections copy what they send); numbers and ids are stored in the command. Returns
 * NULL on allocation failure. A command is reused after dlv_cmd_reset() (done by every
 * builder), keeping its memory. */
struct dlv_cmd *dlv_cmd_new(void);
void dlv_cmd_free(struct dlv_cmd *c);
void dlv_cmd_reset(struct dlv_cmd *c);
/* script: the lua_* script to run with nkeys 0, or NULL for a plain command. The pointers
 * stay valid until the command is reset or freed. */
void dlv_cmd_get(const struct dlv_cmd *c, const char **script, int *argc, const char ***argv,
                 const size_t **argvlen);

/* ---- the stream (take, ack) ---------------------------------------------------------------- */

/* XREADGROUP of up to count new entries (own = 0) or of this consumer's own pending ones
 * (own = 1: entries read before a fanout failed). */
int dlv_take(struct dlv_cmd *c, const struct config *cfg, const char *consumer, int count, int own)
    __attribute__((warn_unused_result));
/* XAUTOCLAIM of entries idle for visibility_timeout_ms, from cursor ("0-0" to start). */
int dlv_autoclaim(struct dlv_cmd *c, const struct config *cfg, const char *consumer,
                  const char *cursor, int count) __attribute__((warn_unused_result));
/* XGROUP CREATE of the stream and group (MKSTREAM), after a NOGROUP answer. */
int dlv_group_create(struct dlv_cmd *c, const struct config *cfg)
    __attribute__((warn_unused_result));

/* What a take/autoclaim reply holds. */
struct dlv_stream {
    const struct redisReply *entries; /* the entries array, or NULL when there are none */
    size_t n;                         /* entries in it */
    int nogroup;                      /* the group or stream is gone: dlv_group_create */
    const char *error;                /* another error answer, or NULL */
};
/* Decodes a dlv_take (autoclaim = 0) or dlv_autoclaim reply; for an autoclaim, the cursor
 * to continue from is copied into cursor (reset to "0-0" on an unexpected answer). The
 * result points into reply. */
void dlv_stream_decode(const struct redisReply *reply, int autoclaim, char *cursor,
                       size_t cursor_len, struct dlv_stream *out);

/* One stream entry; strings point into the reply ("" when a field is absent). An entry is
 * either the relay's (one field, e: the values joined by NUL bytes, each of which then ends a
 * value where it lies) or named fields (a sync's, and those of builds before the joined one). */
struct dlv_entry {
    const char *sid;
    const char *source, *event_id, *content_type;
    const char *targets; /* a sync's publish: the targets it goes to (comma-separated), "" = all */
    int deleted;         /* the entry was deleted while pending: only acknowledge it */
    const struct redisReply *fields_; /* named fields, or NULL */
    const char *value_[ENTRY_VALUES]; /* the joined values, split */
    size_t len_[ENTRY_VALUES];
};
/* Entry i of s. Returns 0, or -1 when the element is not an entry at all (skip it). */
int dlv_stream_entry(const struct dlv_stream *s, size_t i, struct dlv_entry *e);

/* ---- fanout --------------------------------------------------------------------------------- */

/* fanout.lua over the entries added between begin and end: one script call creates every
 * delivery of the read and acknowledges the entries. dlv_fanout_add appends one entry with the
 * configured targets it goes to (targets[0..nt) index cfg->targets; nt may be 0: the entry is
 * only acknowledged). Each returns 0, or -1 when an allocation failed (the command is then
 * unusable until reset: do not send it). */
int dlv_fanout_begin(struct dlv_cmd *c, const struct config *cfg)
    __attribute__((warn_unused_result));
int dlv_fanout_add(struct dlv_cmd *c, const struct dlv_entry *e, const size_t *targets, size_t nt)
    __attribute__((warn_unused_result));
/* Optional, after the last dlv_fanout_add: the new deliveries that are due now are leased to
 * consumer at once, as dlv_claim would take them (room[i] at most for cfg->targets[i], max in
 * all; pause, rate_per_s, max_in_flight across workers and an open circuit honoured), so that
 * the worker which read an event fetches its title once for all its targets. */
int dlv_fanout_lease(struct dlv_cmd *c, const char *consumer, const size_t *room, size_t max)
    __attribute__((warn_unused_result));
int dlv_fanout_end(struct dlv_cmd *c) __attribute__((warn_unused_result));
/* What a fanout with dlv_fanout_lease leased, m being the entries added: shaped like a claim
 * reply (read it with dlv_claim_count/dlv_claim_get); NULL when the reply holds no lease. */
const struct redisReply *dlv_fanout_leased(const struct redisReply *reply, size_t m);
/* With the lease: the room target k's max_in_flight across all workers had left after it, or
 * -1 when the reply does not say (no bound, or nothing to lease there). */
long dlv_fanout_room_left(const struct redisReply *reply, size_t m, size_t k);
/* Deliveries created for the k-th added entry, or -1 when the reply does not say. */
long dlv_fanout_created(const struct redisReply *reply, size_t k);
/* Deliveries created by the whole call (0 when the reply does not say). */
long dlv_fanout_total(const struct redisReply *reply);

/* ---- claim ---------------------------------------------------------------------------------- */

/* claim.lua for every target at once: room[i] deliveries at most for cfg->targets[i] (0 =
 * none) and max in all, honouring max_in_flight and rate_per_s across all workers, pause and
 * the circuit breaker (an open circuit gives one probe per breaker_probe_s, across all
 * workers). Targets are served from index
 * first on (rotate it between calls so that none starves the others). */
int dlv_claim(struct dlv_cmd *c, const struct config *cfg, const char *consumer, const size_t *room,
              size_t max, size_t first) __attribute__((warn_unused_result));

/* One claimed delivery; strings point into the reply ("" when absent). */
struct dlv_claimed {
    const char *id, *event_id, *request_id, *event_type, *source, *content_type, *content_id,
        *show_id, *lease;
    int season, episode; /* -1 when not applicable */
    int attempt_count;   /* attempts made before this one */
    int superseded;      /* ended superseded at claim: not leased, nothing to do */
    /* when the relay first fanned the title out to this target (ms as text), "" unknown */
    const char *first_seen;
    /* the event's time (ms as text): its created_at, else when the relay received it */
    const char *event_at;
};
/* Deliveries claimed for target k. */
size_t dlv_claim_count(const struct redisReply *reply, size_t k);
/* The i-th of them. Returns 0, or -1 when the element is malformed (skip it: its lease
 * expires and another attempt follows). */
int dlv_claim_get(const struct redisReply *reply, size_t k, size_t i, struct dlv_claimed *d);

/* ---- complete ------------------------------------------------------------------------------- */

/* How an attempt ended. */
enum dlv_result {
    DLV_DELIVERED = 0,
    DLV_RETRY,      /* retried after delay_ms (failed once the attempts are spent) */
    DLV_FAILED,     /* failed at once */
    DLV_SUPERSEDED, /* nothing to send (filtered): no attempt counted */
    DLV_RELEASE,    /* handed back unattempted (shutdown): due again at once */
};
const char *dlv_result_name(enum dlv_result r);

struct dlv_outcome {
    const char *id, *lease;
    enum dlv_result result;
    long http_status;                     /* 0 = none */
    const char *code, *message, *snippet; /* NULL = "" */
    int64_t delay_ms;                     /* DLV_RETRY */
    int64_t push_ms;                      /* -1 = no push was made */
    int64_t duration_ms;                  /* the whole attempt */
    int count_attempt;
    /* The catalog write that goes with a delivered outcome, in the same script (catalog_lib):
     * cat_status NULL = none, "live" (cat_doc: the per-title document) or "removed".
     * cat_store: this delivery is the store of a feed target, so a write the catalog refuses
     * (an older event, or a removal of a title it never had) ends it superseded. */
    const char *cat_status, *cat_doc, *cat_updated_at, *cat_content_type, *cat_markets;
    int64_t cat_retention_s;
    int cat_store;
};

/* complete.lua over the outcomes added between begin and end (at most DLV_COMPLETE_MAX). The
 * same call keeps the circuit breaker of every push target with targets.*.breaker. */
#define DLV_COMPLETE_MAX 128
int dlv_complete_begin(struct dlv_cmd *c, const struct config *cfg)
    __attribute__((warn_unused_result));
int dlv_complete_add(struct dlv_cmd *c, const struct dlv_outcome *o)
    __attribute__((warn_unused_result));
int dlv_complete_end(struct dlv_cmd *c) __attribute__((warn_unused_result));

/* What Redis recorded for the i-th outcome: status is the record's status now (pending,
 * retrying, delivered, failed, superseded), or NULL when the lease had moved on (stale: the
 * delivery was reclaimed, the outcome was dropped) or the reply does not say (malformed). */
enum dlv_circuit { DLV_CIRCUIT_SAME = 0, DLV_CIRCUIT_OPENED, DLV_CIRCUIT_CLOSED };
struct dlv_written {
    const char *status;
    int attempt_count;
    int stale;
    /* This outcome opened or closed its target's circuit (the worker that wrote it logs it):
     * the consecutive retryable failures counted, and the last error recorded for the target
     * (strings point into the reply; last_http 0 = none). Unset for DLV_CIRCUIT_SAME. */
    enum dlv_circuit circuit;
    long failures;
    const char *last_code, *last_message;
    long last_http;
};
int dlv_complete_result(const struct redisReply *reply, size_t i, struct dlv_written *w);

/* ---- reclaim -------------------------------------------------------------------------------- */

/* reclaim.lua: expired leases back to due (at most limit), and P:failed trimmed to
 * retention_s. */
int dlv_reclaim(struct dlv_cmd *c, const struct config *cfg, int limit)
    __attribute__((warn_unused_result));
struct dlv_reclaimed {
    long back, superseded, trimmed;
    long expired; /* waited in P:due until their record was about to expire: ended failed */
};
/* Returns 0, or -1 when the reply is not reclaim.lua's answer. */
int dlv_reclaim_decode(const struct redisReply *reply, struct dlv_reclaimed *out);

/* The reply is an error answer: its text, else NULL. */
const char *dlv_reply_error(const struct redisReply *reply);

#endif
