#ifndef RELAY_RSYNC_H
#define RELAY_RSYNC_H

#include <stddef.h>

#include "core/config.h"

/* Blocking Redis connection for relay-worker and relayctl: connects lazily, reconnects on the
 * next call after an error, every call bounded by a timeout. */

struct rsync;
struct redisReply;

struct rsync *rsync_new(const struct config *cfg, long timeout_ms);
void rsync_free(struct rsync *rs);

/* Returns the reply (caller frees with rsync_reply_free()), or NULL when Redis could not be
 * reached or the connection broke; rsync_error() then says why. A Redis error reply is
 * returned as a reply of type REDIS_REPLY_ERROR. */
struct redisReply *rsync_command(struct rsync *rs, int argc, const char **argv,
                                 const size_t *argvlen);
/* printf-style convenience for fixed commands (no user data in the format). */
struct redisReply *rsync_commandf(struct rsync *rs, const char *fmt, ...);
/* EVALSHA with EVAL fallback; argv holds nkeys keys then the arguments. script is one of the
 * embedded lua_* strings (queue/lua.h), whose digests are computed at build time. */
struct redisReply *rsync_script(struct rsync *rs, const char *script, int nkeys, int argc,
                                const char **argv, const size_t *argvlen);
const char *rsync_error(const struct rsync *rs);
/* Frees a reply of the calls above, so that callers need not include hiredis; NULL is a
 * no-op. */
void rsync_reply_free(struct redisReply *r);

#endif
