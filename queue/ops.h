#ifndef RELAY_OPS_H
#define RELAY_OPS_H

#include "core/config.h"

/* Operator operations (README, "Operating it": admin API and relayctl), implemented once: each is a
 * Lua script in queue/lua (stats.lua, ops_*.lua) that returns JSON, plus this transport-agnostic C
 * layer that validates the parameters, builds the script's argv and turns the replies into the
 * documents both front ends print. The caller runs each script with rsync_script() or
 * rconn_script() and feeds the reply back:
 *
 *   struct ops_call *c = ops_call_new(cfg, OPS_LIST, &params, &err);
 *   do {
 *       ops_call_script(c, &script, &argc, &argv, &argvlen);     (nkeys is always 0)
 *       reply = run it;
 *       st = ops_call_feed(c, reply);
 *   } while (st == OPS_AGAIN);
 *
 * Some operations take several script calls (a filtered page of the log, a bulk redelivery
 * walks P:failed in batches) so that Redis is never blocked for long by one script. */

struct ops_call;
struct redisReply;
struct rsync;
struct json_t;

enum ops_op {
    OPS_STATS = 0,
    OPS_LIST,
    OPS_SHOW,
    OPS_REDELIVER,
    OPS_REDELIVER_BULK,
    OPS_PAUSE,
    OPS_RESUME,
    OPS_TARGETS, /* per target: mode, paused, circuit, counts, last delivered, last error */
};

/* Everything as text, exactly as the operator gave it (query string, JSON body, argv); NULL
 * or "" = not given. Validation happens in ops_call_new so that both front ends agree. */
struct ops_params {
    const char *id;     /* OPS_SHOW, OPS_REDELIVER */
    const char *target; /* OPS_LIST, OPS_REDELIVER_BULK filter; OPS_PAUSE/RESUME name */
    const char *status; /* OPS_LIST filter; OPS_REDELIVER_BULK: required, "failed" */
    const char *source; /* OPS_LIST, OPS_REDELIVER_BULK filter */
    const char *limit;  /* OPS_LIST: 1..500, default 50 */
    const char *cursor; /* OPS_LIST: opaque, from meta.next_cursor */
    const char *since;  /* OPS_LIST, OPS_REDELIVER_BULK: RFC 3339, on created_at, inclusive */
    const char *until;  /* OPS_LIST, OPS_REDELIVER_BULK: RFC 3339, on created_at, inclusive */
};

/* Why an operation failed: an HTTP status (400, 404, 409, 422, 500, 503), a stable error code
 * (invalid_parameter, invalid_cursor, invalid_request, not_found, unknown_target,
 * unknown_source, delivery_in_flight, queue_unavailable, internal) and a message fit for an
 * operator (never holds secrets). */
struct ops_error {
    int status;
    char code[32];
    char message[256];
};

enum ops_status { OPS_DONE = 0, OPS_AGAIN, OPS_FAILED };

#define OPS_LIMIT_DEFAULT 50
#define OPS_LIMIT_MAX 500

/* Validates p and prepares the first script call. cfg must outlive the call; p's strings are
 * copied. Returns NULL with err filled when the input is invalid (or on allocation failure).
 * Caller frees with ops_call_free(). */
struct ops_call *ops_call_new(const struct config *cfg, enum ops_op op, const struct ops_params *p,
                              struct ops_error *err);
void ops_call_free(struct ops_call *c);

/* The next script to run, with nkeys 0. The pointers stay valid until the next ops_call_feed()
 * or ops_call_free(). */
void ops_call_script(const struct ops_call *c, const char **script, int *argc, const char ***argv,
                     const size_t **argvlen);

/* Takes the reply of the script call (NULL when Redis could not be reached; not freed here).
 * OPS_AGAIN: run ops_call_script() once more. OPS_DONE: ops_call_take_result(). OPS_FAILED:
 * ops_call_error(). */
enum ops_status ops_call_feed(struct ops_call *c, const struct redisReply *reply);

/* The result document after OPS_DONE; caller owns it (json_decref). NULL before that. */
struct json_t *ops_call_take_result(struct ops_call *c);
/* The HTTP status of a success: 202 for a single redelivery, else 200. */
int ops_call_http_status(const struct ops_call *c);
const struct ops_error *ops_call_error(const struct ops_call *c);

/* Runs a whole operation over a blocking connection. Returns the result (caller owns it), or
 * NULL with err filled. */
struct json_t *ops_run(struct rsync *rs, const struct config *cfg, enum ops_op op,
                       const struct ops_params *p, struct ops_error *err);

#endif
