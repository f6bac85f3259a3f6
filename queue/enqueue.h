#ifndef RELAY_QUEUE_ENQUEUE_H
#define RELAY_QUEUE_ENQUEUE_H

#include <stddef.h>
#include <stdint.h>

/* The ingest side of the queue protocol: the arguments of queue/lua/enqueue.lua for a batch of
 * events and the decoding of its reply. No I/O (the caller sends it on its rconn), so nothing
 * in relay/ knows a key name or an argument position. */

struct redisReply;

/* One accepted content event, as the envelope gave it. Strings are borrowed: they must stay
 * valid until enqueue_batch_args() has been called. NULL strings and negative numbers are
 * written as empty fields. */
struct enqueue_event {
    const char *source;
    const char *event_id;
    const char *type;
    const char *content_type;
    const char *content_id;
    const char *show_id;
    int season_number;
    int episode_number;
    int64_t created_at_ms;
    int64_t received_at_ms;
    const char *request_id;
};

enum enqueue_outcome { ENQUEUE_QUEUED, ENQUEUE_DUPLICATE, ENQUEUE_FAILED };

struct enqueue_args; /* a built argument vector */

/* Builds the script's arguments for n events (n >= 1): prefix, dedupe_ttl_s, then per event
 * source, event_id and the stream entry's value (docs/redis.md, "Ingest"), which holds NUL
 * bytes: send the arguments with their lengths. The values are copied into the result, source,
 * event_id and prefix are pointed to. Returns NULL when out of memory; free with
 * enqueue_args_free(). */
struct enqueue_args *enqueue_batch_args(const char *prefix, int64_t dedupe_ttl_s,
                                        const struct enqueue_event *ev, size_t n);
void enqueue_args_free(struct enqueue_args *a);
int enqueue_args_count(const struct enqueue_args *a);
const char **enqueue_args_argv(const struct enqueue_args *a);
const size_t *enqueue_args_argvlen(const struct enqueue_args *a);
/* The script to run (EVALSHA) with them: lua_enqueue, no keys. */
const char *enqueue_script(void);

/* The outcome of the i-th event of a batch of n from the script's reply (NULL when the
 * command failed). stream_id (may be NULL) receives the new entry's id, borrowed from the
 * reply. */
enum enqueue_outcome enqueue_reply(const struct redisReply *reply, size_t n, size_t i,
                                   const char **stream_id);

/* Why a failed call failed, for the log: Redis's error text or "no answer". */
const char *enqueue_reply_error(const struct redisReply *reply);

#endif
