#ifndef RELAY_QUEUE_SOURCES_H
#define RELAY_QUEUE_SOURCES_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* The registration view of each source (GET /admin/sources, `relayctl sources`): the last
 * verified request, the last ping, accepted and rejected requests over the last 24 hours
 * (rejections by code) and the last rejection, kept in Redis so every relay process
 * contributes. The ingest path never waits on it: each process tallies in memory and adds its
 * tally to Redis at most once a second (sources_note_args()). No I/O here. */

struct sources_tally;
struct sources_args;
struct redisReply;
struct json_t;

/* Caller frees with sources_tally_free(); cfg must outlive it. NULL when out of memory. */
struct sources_tally *sources_tally_new(const struct config *cfg);
void sources_tally_free(struct sources_tally *t);

/* Record one request of a configured source (unknown names are ignored). */
void sources_tally_verified(struct sources_tally *t, const char *source, int64_t now_ms);
void sources_tally_ping(struct sources_tally *t, const char *source, int64_t now_ms);
void sources_tally_accepted(struct sources_tally *t, const char *source);
/* code: the error code of the answer (signature_invalid, ...). */
void sources_tally_rejected(struct sources_tally *t, const char *source, const char *code,
                            int64_t now_ms);
/* Anything recorded since the last sources_note_args()? */
int sources_tally_dirty(const struct sources_tally *t);

/* The arguments of sources_note.lua for what was tallied, which is then cleared. Returns NULL
 * when out of memory (the tally is kept). Free with sources_args_free(). */
struct sources_args *sources_note_args(struct sources_tally *t, const char *prefix, int64_t now_ms);
/* The arguments of sources_read.lua for every configured source. */
struct sources_args *sources_read_args(const struct config *cfg, int64_t now_ms);
void sources_args_free(struct sources_args *a);
int sources_args_count(const struct sources_args *a);
const char **sources_args_argv(const struct sources_args *a);
const char *sources_note_script(void);
const char *sources_read_script(void);

/* Builds {"data": [one object per configured source]} from sources_read.lua's reply, with the
 * configuration's part (name, kind, path, scheme, header, number of secrets: never their
 * values). Returns NULL when the reply is malformed. Caller owns the result. */
struct json_t *sources_decode(const struct config *cfg, const struct redisReply *reply);

/* The same view over a blocking connection (relayctl): runs sources_read.lua and decodes it.
 * Returns NULL with a message in err (no secrets) when Redis could not answer. */
struct rsync;
struct json_t *sources_read(struct rsync *rs, const struct config *cfg, int64_t now_ms, char *err,
                            size_t errlen);

#endif
