#ifndef RELAY_QUEUE_ALERTS_H
#define RELAY_QUEUE_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* The alerts' share of Redis (alert_tick.lua, docs/redis.md "Alerts"): the outbox P:alerts
 * that Lua scripts append to (alert_emit in prelude.lua), the per-receiver dedupe and
 * condition state, and the messages waiting to be sent, leased to one worker at a time. One
 * script call per tick does all of it atomically, so workers never send a message twice.
 * No I/O here: the tick's arguments and the decoding of its answer (handlers/alert.c sends). */

struct redisReply;
struct json_t;

#define ALERTS_SINK_ID_LEN 12

/* A receiver's identity in Redis: the first hex digits of SHA-256 of its URL, so state
 * survives reordering the alerts array and no URL (a credential) is stored. out gets
 * ALERTS_SINK_ID_LEN hex digits and a NUL. */
void alerts_sink_id(const struct alert_sink *s, char out[ALERTS_SINK_ID_LEN + 1]);

/* What one tick asks of Redis: per receiver (in cfg->alerts order) its id and how many
 * messages it may take now, and the messages finished since the last tick. */
struct alerts_ack {
    const char *sink;    /* sink id */
    const char *id;      /* message id */
    const char *outcome; /* "sent" or "failed" (relay_alerts_total) */
};

struct alerts_args;

/* Returns the arguments of alert_tick.lua, or NULL when out of memory. sink_ids and room have
 * cfg->n_alerts entries. Free with alerts_args_free(). */
struct alerts_args *alerts_tick_args(const struct config *cfg, const char *const *sink_ids,
                                     const size_t *room, int64_t lease_ms,
                                     const struct alerts_ack *acks, size_t n_acks);
void alerts_args_free(struct alerts_args *a);
int alerts_args_count(const struct alerts_args *a);
const char **alerts_args_argv(const struct alerts_args *a);
const char *alerts_tick_script(void);

/* One message to send, as alert_tick.lua leased it. ok 0: a malformed entry (only id and sink
 * are set), to be acknowledged and dropped. */
struct alerts_msg {
    int ok;
    char *id, *sink;
    char *type, *subject, *summary;
    char *state;            /* "" (an event), "grouped", "firing" or "resolved" */
    int64_t at_ms;          /* when it happened (a grouped message: the last one counted) */
    int64_t count;          /* events this message stands for (grouped: counted in the interval) */
    int64_t window_s;       /* grouped: the interval they were counted in */
    struct json_t *details; /* an object, never NULL when ok */
};

/* Decodes alert_tick.lua's answer into *msgs (*n of them; caller frees with
 * alerts_msgs_free()) and the number of waiting messages Redis dropped for room. Returns 0, or
 * -1 when the reply is not the script's answer (nothing allocated). */
int alerts_tick_decode(const struct redisReply *r, struct alerts_msg **msgs, size_t *n,
                       long long *dropped);
void alerts_msgs_free(struct alerts_msg *msgs, size_t n);
/* The reply is an error answer: its text, else NULL. */
const char *alerts_reply_error(const struct redisReply *r);
/* Frees what one message holds; safe on a zeroed or cleared one. */
void alerts_msg_clear(struct alerts_msg *m);

#endif
