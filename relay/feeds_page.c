/* GET /feeds/{target}: one page of the catalog's changes, with its cursor and ETag. */
#include "relay/feeds_internal.h"

#include <stdlib.h>

#include "core/log.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "relay/http.h"

#define SCAN_MAX 5000 /* catalog entries one feed page looks at, at most */

static void on_page(struct redisReply *reply, void *arg)
{
    struct freq *r = arg;
    struct catalog_page pg;
    struct out o = {0};
    char cursor[CATALOG_CURSOR_MAX];

    if (reply == NULL) {
        feeds_fail_unavailable(r);
        return;
    }
    if (catalog_page_decode(reply, &pg) != 0) {
        LOG_ERROR("feed page: unexpected reply", "target", r->t->name, "error",
                  catalog_feed_reply_error(reply) ? catalog_feed_reply_error(reply) : "shape",
                  NULL);
        feeds_fail(r, 500, "internal", "could not read the catalog");
        return;
    }
    if (pg.expired) {
        feeds_fail_dropped(r);
        return;
    }
    feeds_etag_of(r, pg.top, pg.dropped, r->etag);
    feeds_out_str(&o, "{\"data\":[");
    for (size_t i = 0; i < pg.n; i++) {
        if (i)
            feeds_out_str(&o, ",");
        if (feeds_item_add(r, &o, &pg.items[i]) != 0)
            o.oom = 1;
    }
    /* Where what the partner holds is exactly known: at the end of this page when nothing
     * more follows; else where the snapshot began (what it holds came after), or the base it
     * had (the snapshot's first page: its own hwm). */
    int64_t since = r->q.has_cursor ? (r->cur.hwm > r->cur.pos ? r->cur.hwm : r->cur.base) : pg.hwm;
    feeds_next_cursor(r, pg.pos, pg.hwm, pg.has_more ? since : pg.pos, cursor);
    feeds_out_str(&o, "],\"meta\":{\"next_cursor\":\"");
    feeds_out_str(&o, cursor);
    feeds_out_str(&o, pg.has_more ? "\",\"has_more\":true}}" : "\",\"has_more\":false}}");
    size_t n = pg.n;
    free(pg.items);
    if (o.oom) {
        free(o.p);
        feeds_fail(r, 500, "internal", "could not build the page");
        return;
    }
    http_add_header(r->req, "ETag", r->etag);
    http_add_header(r->req, "Cache-Control", "no-cache");
    http_reply(r->req, 200, "application/json", o.p, o.len);
    feeds_finish(r, 200, n, o.len);
    free(o.p);
}

void feeds_page_run(struct freq *r)
{
    char buf[CATALOG_PAGE_ARGC][24];
    const char *argv[CATALOG_PAGE_ARGC];
    struct catalog_page_req pr = {
        .prefix = r->f->cfg->redis_prefix,
        .target = r->t->name,
        .after = r->q.has_cursor ? r->cur.pos : 0,
        .hwm = r->q.has_cursor ? r->cur.hwm : -1,
        .base = r->q.has_cursor ? r->cur.base : -1,
        .upto = -1,
        .limit = r->limit,
        .scan_max = SCAN_MAX,
        .types = r->q.types,
        .market = r->q.market,
        .retention_s = r->t->feed.tombstone_retention_s,
    };
    catalog_page_args(&pr, buf, argv);
    if (rconn_script(r->f->rc, lua_catalog_page, on_page, r, 0, CATALOG_PAGE_ARGC, argv, NULL) !=
        0) {
        feeds_fail_unavailable(r);
    }
}
