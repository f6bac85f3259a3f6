#ifndef RELAY_QUEUE_METRICS_HASH_H
#define RELAY_QUEUE_METRICS_HASH_H

#include "core/config.h"

/* P:metrics: the counters and histogram buckets the Lua scripts add to (docs/redis.md,
 * "Metrics (`P:metrics`, hash of counters)"), which relay/metrics.c renders for Prometheus. The
 * command that reads it and the decoding of its answer; no I/O (the caller sends it over either
 * connection). */

struct redisReply;
struct json_t;

struct metrics_hash_cmd {
    char key[256];
    const char *argv[2];
};

/* Fills c with the command (2 arguments, c->argv). Returns 0, or -1 when the prefix is too
 * long for the key. */
int metrics_hash_command(const struct config *cfg, struct metrics_hash_cmd *c);

/* The answer as an object of field -> string value (fields or values with a NUL byte are
 * left out); NULL when reply is NULL or not a hash's answer, or out of memory. Caller owns
 * it. */
struct json_t *metrics_hash_decode(const struct redisReply *reply);

#endif
