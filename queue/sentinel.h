#ifndef RELAY_SENTINEL_H
#define RELAY_SENTINEL_H

#include <stddef.h>

#include "core/config.h"

/* Redis Sentinel discovery (redis.sentinel): asks each configured sentinel in turn for the
 * address of the master named redis.sentinel.master. Both Redis connection kinds use it: the
 * blocking one (queue/rsync) through sentinel_resolve(), the asynchronous one (queue/rconn)
 * through sentinel_query_start(), which never blocks the event loop.
 *
 * A sentinel's answer is only a candidate: the connection that uses it must check with
 * ROLE (sentinel_role_is_master) that the server really is a master before sending anything
 * else, because a sentinel that has not yet seen a failover, or a misconfigured one, may name
 * a replica or a dead host. Callers rotate the starting sentinel (start) after such a
 * failure, so one sentinel that keeps naming a bad address cannot pin them to it. */

struct event_base;
struct redisReply;
struct sentinel_query;

#define SENTINEL_HOST_MAX 256

/* Where the master is, and which sentinel said so. */
struct sentinel_addr {
    char host[SENTINEL_HOST_MAX];
    int port;
    size_t sentinel; /* index in cfg->sentinels of the sentinel that answered */
};

/* Blocking: asks the sentinels in turn, beginning with index start % n, each bounded by
 * timeout_ms (connect and every reply). Returns 0 with *out filled, or -1 with a reason in err
 * (never holding a password). */
int sentinel_resolve(const struct config *cfg, size_t start, long timeout_ms,
                     struct sentinel_addr *out, char *err, size_t errlen);

/* Called once per query, from the event loop (never from inside sentinel_query_start). addr is
 * NULL when no sentinel answered; err then says why. The query frees itself after the call:
 * forget the pointer. */
typedef void (*sentinel_cb)(const struct sentinel_addr *addr, const char *err, void *arg);

/* Non-blocking version of sentinel_resolve() on base (hiredis async: connects and replies are
 * driven by the loop, each sentinel bounded by timeout_ms by a timer). Returns NULL on
 * allocation failure (cb is not called). Sentinel addresses should be IP literals: hiredis
 * resolves a host name with a blocking getaddrinfo(). */
struct sentinel_query *sentinel_query_start(struct event_base *base, const struct config *cfg,
                                            size_t start, long timeout_ms, sentinel_cb cb,
                                            void *arg);
/* Cancels a query that has not called back yet (cb is not called). NULL is a no-op. */
void sentinel_query_free(struct sentinel_query *q);

/* Pure reply checks, shared by both connection kinds. */

/* Parses the answer to SENTINEL get-master-addr-by-name (a two-string array). Returns 0, or -1
 * when the sentinel does not know the master (nil) or the answer is malformed. */
int sentinel_parse_addr(const struct redisReply *r, char *host, size_t hostlen, int *port);
/* The replicas an INFO replication text lists as online (a replica still waiting for its full
 * sync counts in connected_slaves, yet cannot acknowledge a WAIT). */
long sentinel_online_replicas(const char *info);
/* True when r is a ROLE answer whose first element is "master". */
int sentinel_role_is_master(const struct redisReply *r);
/* True for the error replies that mean "this server is no longer (or not yet) the writable
 * master": READONLY, LOADING, MASTERDOWN. The connection should drop and re-resolve. */
int sentinel_is_failover_error(const struct redisReply *r);

#endif
