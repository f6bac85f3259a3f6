#ifndef RELAY_RCONN_H
#define RELAY_RCONN_H

#include <stddef.h>

#include "core/config.h"

/* Asynchronous Redis connection on a libevent loop (hiredis' libevent adapter) that
 * reconnects by itself with backoff. Used by the relay, whose requests must never block. */

struct rconn;
struct event_base;
struct redisReply;

/* Called exactly once per command. reply is NULL when the connection failed, dropped or the
 * command timed out; it lives only during the callback: copy what you keep. */
typedef void (*rconn_cb)(struct redisReply *reply, void *arg);

/* Returns a connection that starts connecting at once; NULL on allocation failure.
 * timeout_ms bounds every command. */
struct rconn *rconn_new(struct event_base *base, const struct config *cfg, long timeout_ms);
void rconn_free(struct rconn *rc);

/* True while connected: commands can be sent. */
int rconn_ready(const struct rconn *rc);
/* NULL when an enqueue can succeed right now: connected, authenticated, the last real
 * exchange answered within the last second, and writes accepted (no OOM or READONLY answer
 * since the last accepted write). Else a short reason (no secrets) for /readyz. An idle
 * connection keeps this fresh with a small write probe every few hundred ms. */
const char *rconn_unready_reason(const struct rconn *rc);

/* NULL while Redis can keep what it acknowledges, else why not (static text owned by rc):
 * its maxmemory-policy is not noeviction, or (with redis.min_replicas) it has fewer connected
 * replicas. Checked at connect and every 2 s; each change is logged at error level. */
const char *rconn_ha_problem(const struct rconn *rc);

/* rconn_wait() outcome: ok is 1 when at least redis.min_replicas replicas confirmed, within
 * redis.replica_timeout_ms, every write this connection made before the WAIT. */
typedef void (*rconn_wait_cb)(int ok, void *arg);

/* Asks Redis (WAIT) whether enough replicas hold the writes made so far. All calls made in one
 * event-loop pass share one WAIT, sent once the pass is over, and only one WAIT is in flight
 * at a time (later callers share the next one). Returns 0 (cb will be called, also with ok 0
 * when the connection drops), or -1 when not connected (cb is not called). */
int rconn_wait(struct rconn *rc, rconn_wait_cb cb, void *arg);

/* Queues a command. Returns 0 (cb will be called), or -1 when not connected (cb is not
 * called). */
int rconn_command(struct rconn *rc, rconn_cb cb, void *arg, int argc, const char **argv,
                  const size_t *argvlen);

/* Runs an embedded Lua script (queue/lua, lua_<name>) with EVALSHA, falling back to EVAL when
 * Redis does not know it (after a restart). argv holds nkeys keys then the arguments. */
int rconn_script(struct rconn *rc, const char *script, rconn_cb cb, void *arg, int nkeys, int argc,
                 const char **argv, const size_t *argvlen);

/* Writes the queued commands now instead of when the loop next finds the socket writable: for
 * a caller that sends its one command of the loop pass (the ingest's batch), this saves a
 * loop pass and, with libevent's changelist, the two epoll_ctl calls of hiredis adding and
 * removing its write interest. Callbacks of a connection that fails meanwhile may run from
 * inside this call. */
void rconn_flush(struct rconn *rc);

#endif
