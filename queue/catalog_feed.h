#ifndef RELAY_QUEUE_CATALOG_FEED_H
#define RELAY_QUEUE_CATALOG_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "queue/catalog.h"

/* The relay's pull feeds' share of Redis beside the page script (docs/redis.md, "Catalog and
 * pull feeds"): the catalog's meta, its cursor key, its stored documents for a stream, the
 * poll note, the layout migration and the metrics' counts. Argument builders and reply
 * decoders only, like queue/catalog.c: relay/feeds*.c sends them on its connection and knows
 * no key name nor argument position. */

struct redisReply;

/* One command's arguments, in the struct's own buffers (so it must outlive the send, which
 * copies them). script NULL: a plain command; else one of queue/lua.h's, with nkeys keys. */
struct catalog_feed_cmd {
    const char *script;
    int nkeys;
    int argc;
    const char *argv[8];
    char key[256];
    char v[3][24];
};

/* The reply is an error answer: its text, else NULL. */
const char *catalog_feed_reply_error(const struct redisReply *r);

/* The catalog's last seq given out and highest dropped removal (If-None-Match, a stream's
 * end). Decode returns 0, or -1 when the reply is not HMGET's (missing fields read 0). */
void catalog_feed_meta(struct catalog_feed_cmd *c, const char *prefix, const char *target);
int catalog_feed_meta_decode(const struct redisReply *r, int64_t *seq, int64_t *dropped);

/* catalog_key.lua: the per-deployment cursor key, made once from fresh (2 * CATALOG_KEY_BYTES
 * hex digits, borrowed: it must outlive c) by the first relay that asks. Decode returns 0 with
 * key set, or -1 when the reply is not such a key. */
void catalog_feed_key(struct catalog_feed_cmd *c, const char *prefix, const char *fresh);
int catalog_feed_key_decode(const struct redisReply *r, unsigned char key[CATALOG_KEY_BYTES]);

/* At most count stored documents with lo < seq <= hi, in seq order (a watchables stream).
 * catalog_feed_docs_count() is how many came back (-1: not the command's answer);
 * catalog_feed_docs_get() the i-th in stored form (catalog_stored_parse), NULL when not a
 * string. */
void catalog_feed_docs(struct catalog_feed_cmd *c, const char *prefix, const char *target,
                       int64_t lo, int64_t hi, int count);
long catalog_feed_docs_count(const struct redisReply *r);
const char *catalog_feed_docs_get(const struct redisReply *r, size_t i, size_t *len);

/* The poll a partner made: when, the answer's status, the cursor it used (its lag). */
void catalog_feed_poll(struct catalog_feed_cmd *c, const char *prefix, const char *target,
                       int64_t at_ms, int status, int64_t cursor);

/* catalog_migrate.lua's argv (nkeys 0) for a batch of batch titles of every target with a
 * feed: at most 2 + n_targets entries into argv, buf its batch size. Returns argc. The answer:
 * titles still to move (0: done), or -1 when it is not the script's. */
int catalog_feed_migrate_args(const struct config *cfg, int batch, char buf[24], const char **argv);
long long catalog_feed_migrate_left(const struct redisReply *r);

/* catalog_info.lua's answer (catalog_info_args), for the metrics: the k-th feed target's live
 * and removed counts and last poll (ms). Returns 0, 1 when that entry is malformed (skip it),
 * -1 when the reply has no k-th entry (or is not the script's). */
int catalog_feed_info_get(const struct redisReply *r, size_t k, int64_t *live, int64_t *removed,
                          int64_t *last_poll_ms);

#endif
