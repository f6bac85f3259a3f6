/* Pull feeds: routing and checking a feed request (target, method, credentials, parameters),
 * the cursor key and the catalog's meta it needs, and the module's lifetime. The answers are
 * in relay/feeds_page.c and relay/feeds_stream.c, what they share in relay/feeds_common.c. */
#include "relay/feeds.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "queue/catalog.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "relay/feeds_internal.h"
#include "relay/http.h"

#define INFO_EVERY_MS 5000 /* the metrics' view of the catalogs is refreshed this often */

/* The catalog's last change and drop: enough to answer If-None-Match without reading a page,
 * and to fix where a watchables.json stream ends. */
static void on_meta(struct redisReply *reply, void *arg)
{
    struct freq *r = arg;
    int64_t top = 0, dropped = 0;

    if (catalog_feed_meta_decode(reply, &top, &dropped) != 0) {
        feeds_fail_unavailable(r);
        return;
    }
    int64_t seen = r->cur.pos > r->cur.hwm ? r->cur.pos : r->cur.hwm;
    if (r->q.has_cursor && dropped > seen) {
        feeds_fail_dropped(r);
        return;
    }
    if (r->watchables) {
        feeds_stream_start(r, top);
        return;
    }
    feeds_etag_of(r, top, dropped, r->etag);
    const char *inm = http_header(r->req, "If-None-Match");
    if (inm && feeds_etag_matches(inm, r->etag)) {
        http_add_header(r->req, "ETag", r->etag);
        http_reply(r->req, 304, NULL, NULL, 0);
        feeds_finish(r, 304, 0, 0);
        return;
    }
    feeds_page_run(r);
}

static void read_meta(struct freq *r)
{
    struct catalog_feed_cmd c;
    catalog_feed_meta(&c, r->f->cfg->redis_prefix, r->t->name);
    if (rconn_command(r->f->rc, on_meta, r, c.argc, c.argv, NULL) != 0) {
        feeds_fail_unavailable(r);
    }
}

/* The key is known: check the cursor, then answer. */
void feeds_proceed(struct freq *r)
{
    if (r->q.has_cursor) {
        if (catalog_cursor_decode(r->f->key, r->t->name, r->q.cursor, &r->cur) != 0) {
            feeds_fail(r, 400, "invalid_cursor",
                       r->watchables ? "since: not a cursor this feed gave out"
                                     : "cursor: not a cursor this feed gave out");
            return;
        }
        int64_t age = util_now_ms() / 1000 - r->cur.issued_s;
        if (age > r->t->feed.tombstone_retention_s) {
            feeds_fail(r, 410, "cursor_expired",
                       "the cursor is older than the tombstone retention: take a full snapshot");
            return;
        }
    }
    if (r->watchables || http_header(r->req, "If-None-Match") != NULL)
        read_meta(r);
    else
        feeds_page_run(r);
}

static void on_key(struct redisReply *reply, void *arg)
{
    struct freq *r = arg;
    if (catalog_feed_key_decode(reply, r->f->key) != 0) {
        feeds_fail_unavailable(r);
        return;
    }
    r->f->have_key = 1;
    feeds_proceed(r);
}

static void with_key(struct freq *r)
{
    char fresh[2 * CATALOG_KEY_BYTES + 1];
    struct catalog_feed_cmd c;
    if (r->f->have_key) {
        feeds_proceed(r);
        return;
    }
    util_random_hex(fresh, CATALOG_KEY_BYTES);
    catalog_feed_key(&c, r->f->cfg->redis_prefix, fresh);
    if (rconn_script(r->f->rc, c.script, on_key, r, c.nkeys, c.argc, c.argv, NULL) != 0) {
        feeds_fail_unavailable(r);
    }
    OPENSSL_cleanse(fresh, sizeof(fresh));
}

/* ---- routing ---------------------------------------------------------------------------- */

void feeds_handle(struct feeds *f, struct http_req *req)
{
    const char *path = http_path(req) + strlen("/feeds/");
    const char *slash = strchr(path, '/');
    size_t nlen = slash ? (size_t)(slash - path) : strlen(path);
    char name[128];
    int watchables = 0;

    if (slash != NULL) {
        if (strcmp(slash, "/watchables.json") != 0)
            goto not_found;
        watchables = 1;
    }
    if (nlen == 0 || nlen >= sizeof(name))
        goto not_found;
    memcpy(name, path, nlen);
    name[nlen] = '\0';
    const struct target *t = config_target(f->cfg, name);
    if (t == NULL || !catalog_has_feed(t) || (watchables && t->format != FORMAT_GWI_JSON_1_1))
        goto not_found;

    struct freq *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    r->f = f;
    r->req = req;
    r->t = t;
    r->ti = (size_t)(t - f->cfg->targets);
    r->watchables = watchables;
    r->started = util_mono_ms();
    snprintf(r->rid, sizeof(r->rid), "%s", http_request_id(req));
    const struct auth *au = &t->feed.auth;
    catalog_query_mask(http_query(req), au->type == AUTH_API_KEY && au->in_query ? au->name : NULL,
                       r->query, sizeof(r->query));
    const char *m = http_method(req);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        http_add_header(req, "Allow", "GET, HEAD");
        feeds_fail(r, 405, "method_not_allowed", "use GET");
        return;
    }
    if (!feeds_authorized(t, req)) {
        if (t->feed.auth.type == AUTH_BASIC)
            http_add_header(req, "WWW-Authenticate", "Basic realm=\"relay-feed\"");
        else if (t->feed.auth.type == AUTH_BEARER)
            http_add_header(req, "WWW-Authenticate", "Bearer realm=\"relay-feed\"");
        feeds_fail(r, 401, "unauthorized", "valid feed credentials are required");
        return;
    }
    char bad[40], msg[96];
    if (catalog_query_parse(http_query(req),
                            watchables ? CATALOG_QUERY_WATCHABLES : CATALOG_QUERY_FEED,
                            au->type == AUTH_API_KEY && au->in_query ? au->name : NULL, &r->q, bad,
                            sizeof(bad)) != 0) {
        /* the name is echoed when it is a plain word (never raw request bytes otherwise) */
        int plain = bad[0] != '\0';
        for (const char *c = bad; *c; c++)
            plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.';
        snprintf(msg, sizeof(msg), "%s: unknown parameter or invalid value",
                 plain ? bad : "a parameter");
        feeds_fail(r, 400, "invalid_parameter", msg);
        return;
    }
    r->limit = r->q.limit ? r->q.limit : t->feed.page_size > 0 ? t->feed.page_size : 500;
    if (r->limit > CATALOG_LIMIT_MAX)
        r->limit = CATALOG_LIMIT_MAX;
    with_key(r);
    return;

not_found:
    http_reply_error(req, 404, "not_found", "no such feed");
}

/* ---- lifetime --------------------------------------------------------------------------- */

/* Every INFO_EVERY_MS, and once at start: the layout migration until it is done, and the
 * catalogs' counts behind the metrics. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct feeds *f = arg;
    (void)fd;
    (void)what;
    feeds_migrate(f);
    feeds_info_refresh(f);
}

struct feeds *feeds_new(struct event_base *base, const struct config *cfg, struct rconn *rc)
{
    struct feeds *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->base = base;
    f->cfg = cfg;
    f->rc = rc;
    f->ts = calloc(cfg->n_targets ? cfg->n_targets : 1, sizeof(*f->ts));
    f->timer = event_new(base, -1, EV_PERSIST, on_tick, f);
    if (f->ts == NULL || f->timer == NULL) {
        feeds_free(f);
        return NULL;
    }
    struct timeval tv = {INFO_EVERY_MS / 1000, (INFO_EVERY_MS % 1000) * 1000};
    event_add(f->timer, &tv);
    event_active(f->timer, EV_TIMEOUT, 1);
    return f;
}

void feeds_free(struct feeds *f)
{
    if (f == NULL)
        return;
    if (f->timer)
        event_free(f->timer);
    OPENSSL_cleanse(f->key, sizeof(f->key));
    free(f->ts);
    free(f);
}
