/* GET /feeds/{target}/watchables.json: one GoWatchIt document, streamed from Redis in ranges
 * of the change sequence while the client keeps up. */
#include "relay/feeds_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "queue/rconn.h"
#include "relay/http.h"

#define STREAM_BATCH 512  /* items per Redis call while streaming watchables.json */
#define STREAM_INFLIGHT 6 /* Redis calls in flight per stream */
#define STREAM_HIGH_WATER                                                                          \
    (1u << 20) /* unsent bytes above which the stream waits for the client                         \
                */

#ifdef HTTP_STREAM_LOW_WATER
static void stream_done(struct freq *r)
{
    struct http_req *req = r->req;
    r->finished = 1;
    feeds_finish(r, 200, r->items, r->bytes); /* frees r; req lives until http_stream_end */
    http_stream_end(req);
}

/* One range of the change sequence being read, (lo, hi]: one ZRANGEBYSCORE of C:docs, whose
 * members are the entries' stored forms (seq and document), in seq order. Plain commands
 * rather than catalog_page.lua: moving 1.4 KB documents through Lua strings cost Redis 7 us
 * per title. A title that changes while the document streams moves past its end (upto), so
 * the next incremental brings it; the ranges are disjoint, so none comes twice. */
struct sfetch {
    struct freq *r;
    int64_t hi;
};

static void stream_pump(struct freq *r);
static void stream_cut(struct freq *r, const char *why);
static void on_stream_docs(struct redisReply *reply, void *arg);

static int stream_issue(struct freq *r, int64_t lo, int64_t hi)
{
    struct catalog_feed_cmd c;
    struct sfetch *sf = calloc(1, sizeof(*sf));
    if (sf == NULL)
        return -1;
    sf->r = r;
    sf->hi = hi;
    catalog_feed_docs(&c, r->f->cfg->redis_prefix, r->t->name, lo, hi, STREAM_BATCH);
    if (rconn_command(r->f->rc, on_stream_docs, sf, c.argc, c.argv, NULL) != 0) {
        free(sf);
        return -1;
    }
    r->inflight++;
    return 0;
}

static void on_stream_docs(struct redisReply *reply, void *arg)
{
    struct sfetch *sf = arg;
    struct freq *r = sf->r;
    int64_t hi = sf->hi, seq = 0;

    free(sf);
    r->inflight--;
    if (r->cut || !http_stream_alive(r->req)) {
        stream_cut(r, NULL);
        return;
    }
    long count = catalog_feed_docs_count(reply);
    if (count < 0) {
        stream_cut(r, "redis");
        return;
    }
    size_t n = (size_t)count;
    /* Sparse ranges (a catalog that changed a lot) are widened so that a stream never costs
     * one call per few titles; a range holding more than a batch is read on below. */
    if (n < STREAM_BATCH / 2 && r->width < ((int64_t)1 << 40))
        r->width *= 2;
    /* sized for the batch at once: growing it would copy the batch again */
    struct out o = {0};
    size_t items = 0, want = 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        (void)catalog_feed_docs_get(reply, i, &len);
        want += len + 1;
    }
    o.p = malloc(want);
    o.cap = o.p ? want : 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *d = catalog_feed_docs_get(reply, i, &len);
        struct catalog_item it;
        if (d == NULL || catalog_stored_parse(d, len, &it, &seq) != 0) {
            free(o.p);
            stream_cut(r, "redis");
            return;
        }
        /* a removal from before the snapshot: a title the partner never had */
        if (it.removed && seq <= r->hwm)
            continue;
        if (!r->first)
            feeds_out_str(&o, ",");
        r->first = 0;
        if (feeds_item_add(r, &o, &it) != 0)
            o.oom = 1;
        items++;
    }
    r->items += items;
    if (o.oom) {
        free(o.p);
        stream_cut(r, "out of memory");
        return;
    }
    /* A full batch: the rest of the range is read on from its last member. */
    if (n == STREAM_BATCH && seq < hi && stream_issue(r, seq, hi) != 0) {
        free(o.p);
        stream_cut(r, "redis");
        return;
    }
    size_t len = o.len;
    int bad = 0;
    if (len > 0)
        bad = http_stream_write_take(r->req, o.p, len) != 0; /* takes o.p */
    else
        free(o.p);
    r->bytes += len;
    if (bad) {
        stream_cut(r, NULL);
        return;
    }
    stream_pump(r);
}

static void stream_cut(struct freq *r, const char *why)
{
    if (!r->cut && why)
        /* The head is out: the only honest signal left is a cut body (no closing "]}"),
         * which no JSON parser takes for a whole document. */
        LOG_ERROR("watchables.json stream cut", "request_id", r->rid, "target", r->t->name,
                  LOG_STR("why", why), NULL);
    r->cut = 1;
    if (r->inflight == 0)
        stream_done(r);
}

/* Keeps up to STREAM_INFLIGHT ranges in flight while the client keeps up (fewer than
 * STREAM_HIGH_WATER bytes unsent): Redis and the socket work at once, memory stays flat, a
 * slow partner is paced by on_drain. The ranges are disjoint, so every title is written
 * once, whatever order the answers come in. Ends the document once all is read. */
static void stream_pump(struct freq *r)
{
    while (r->inflight < STREAM_INFLIGHT && r->pos < r->upto &&
           http_stream_pending(r->req) < STREAM_HIGH_WATER) {
        int64_t hi = r->pos + r->width < r->upto ? r->pos + r->width : r->upto;
        if (stream_issue(r, r->pos, hi) != 0) {
            stream_cut(r, "redis");
            return;
        }
        r->pos = hi;
    }
    if (r->inflight == 0 && r->pos >= r->upto) {
        if (http_stream_write(r->req, "]}", 2) == 0)
            r->bytes += 2;
        stream_done(r);
    }
}

static void on_drain(struct http_req *req, void *arg)
{
    struct freq *r = arg;
    (void)req;
    if (r->finished || r->cut)
        return;
    if (!http_stream_alive(r->req)) {
        stream_cut(r, NULL);
        return;
    }
    stream_pump(r);
}

/* The document's head: the spec's catalog fields, then the items array opened. */
static char *stream_head(const struct target *t, int full)
{
    static const char *const plural[] = {"movies", "shows", "seasons", "episodes"};
    static const char *const names[] = {"movie", "show", "season", "episode"};
    const char *provider = t->catalog_provider ? t->catalog_provider : t->name;
    json_t *types = json_array();
    for (size_t i = 0; i < 4; i++) {
        int take = t->content_types == NULL;
        for (size_t k = 0; k < t->n_content_types; k++)
            take |= strcmp(t->content_types[k], names[i]) == 0;
        if (take)
            json_array_append_new(types, json_string(plural[i]));
    }
    json_t *doc = json_pack("{s:s,s:s,s:o,s:s,s:s}", "catalog_provider", provider, "catalog_name",
                            t->catalog_name ? t->catalog_name : provider, "catalog_types", types,
                            "catalog_period", full ? "full" : "incremental", "_schema_version",
                            "gwi_json_1.1");
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(n + 16);
    if (out) {
        memcpy(out, s, n - 1); /* without the closing brace */
        memcpy(out + n - 1, ",\"items\":[", 11);
    }
    free(s);
    return out;
}

void feeds_stream_start(struct freq *r, int64_t top)
{
    char cursor[CATALOG_CURSOR_MAX];
    int full = !r->q.has_cursor;
    char *head = stream_head(r->t, full);

    if (head == NULL) {
        feeds_fail(r, 500, "internal", "out of memory");
        return;
    }
    /* The document ends at the catalog's last change now: what changes while it streams has a
     * later seq and comes with the next incremental from X-Relay-Next-Cursor. */
    r->upto = top;
    r->pos = full ? 0 : r->cur.pos;
    r->hwm = full ? top : r->cur.hwm;
    r->first = 1;
    r->width = STREAM_BATCH;
    feeds_next_cursor(r, top, top, top, cursor); /* it then holds all up to top */
    http_add_header(r->req, "X-Relay-Next-Cursor", cursor);
    http_add_header(r->req, "Cache-Control", "no-cache");
    r->streaming = 1;
    if (http_stream_begin(r->req, 200, "application/json", on_drain, r) != 0 ||
        http_stream_write(r->req, head, strlen(head)) != 0) {
        free(head);
        stream_done(r);
        return;
    }
    r->bytes = strlen(head);
    free(head);
    if (strcmp(http_method(r->req), "HEAD") == 0) {
        stream_done(r);
        return;
    }
    stream_pump(r);
}
#else
/* Built without the streaming server (relay/http.h's http_stream_*): no watchables.json. */
void feeds_stream_start(struct freq *r, int64_t top)
{
    (void)top;
    feeds_fail(r, 500, "internal", "watchables.json needs the streaming server");
}
#endif
