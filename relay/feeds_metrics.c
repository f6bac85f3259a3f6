/* The feed metrics: request counters kept here, the catalogs' counts refreshed from Redis. */
#include "relay/feeds_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "queue/lua.h"
#include "queue/rconn.h"

static void on_info(struct redisReply *reply, void *arg)
{
    struct feeds *f = arg;
    f->info_waiting = 0;
    size_t k = 0;
    for (size_t i = 0; i < f->cfg->n_targets; i++) {
        if (!catalog_has_feed(&f->cfg->targets[i]))
            continue;
        struct tstat *ts = &f->ts[i];
        int64_t live, removed, at;
        int got = catalog_feed_info_get(reply, k++, &live, &removed, &at);
        if (got < 0)
            return;
        if (got > 0)
            continue;
        ts->live = live;
        ts->removed = removed;
        if (at > ts->last_poll_ms)
            ts->last_poll_ms = at;
        ts->known = 1;
    }
}

void feeds_info_refresh(struct feeds *f)
{
    if (f->info_waiting)
        return;
    const char **argv = calloc(f->cfg->n_targets + 1, sizeof(*argv));
    if (argv == NULL)
        return;
    int argc = catalog_info_args(f->cfg, argv);
    f->info_waiting =
        argc > 1 && rconn_script(f->rc, lua_catalog_info, on_info, f, 0, argc, argv, NULL) == 0;
    free(argv);
}

/* A label value with \\, \" and newlines escaped (text format 0.0.4), cut to fit out. */
static const char *label(const char *v, char out[160])
{
    size_t o = 0;
    for (; *v && o + 3 < 160; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            out[o++] = '\\';
            out[o++] = *v == '\n' ? 'n' : *v;
        } else {
            out[o++] = *v;
        }
    }
    out[o] = '\0';
    return out;
}

char *feeds_metrics_text(void *arg)
{
    struct feeds *f = arg;
    struct out o = {0};
    char line[512], lb[160];
    const struct config *cfg = f->cfg;

    feeds_out_str(&o, "# HELP relay_feed_requests_total Feed requests, by target and HTTP status.\n"
                      "# TYPE relay_feed_requests_total counter\n");
    for (size_t i = 0; i < cfg->n_targets; i++) {
        if (!catalog_has_feed(&cfg->targets[i]))
            continue;
        for (size_t c = 0; c < FEEDS_N_CODES; c++) {
            snprintf(line, sizeof(line),
                     "relay_feed_requests_total{target=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                     label(cfg->targets[i].name, lb), FEEDS_CODES[c], f->ts[i].requests[c]);
            feeds_out_str(&o, line);
        }
    }
    feeds_out_str(&o, "# HELP relay_feed_items Titles in a feed target's catalog, by status.\n"
                      "# TYPE relay_feed_items gauge\n");
    for (size_t i = 0; i < cfg->n_targets; i++) {
        if (!catalog_has_feed(&cfg->targets[i]) || !f->ts[i].known)
            continue;
        snprintf(line, sizeof(line),
                 "relay_feed_items{target=\"%s\",status=\"live\"} %" PRId64 "\n"
                 "relay_feed_items{target=\"%s\",status=\"removed\"} %" PRId64 "\n",
                 label(cfg->targets[i].name, lb), f->ts[i].live, lb, f->ts[i].removed);
        feeds_out_str(&o, line);
    }
    feeds_out_str(&o,
                  "# HELP relay_feed_last_poll_timestamp_seconds When a partner last polled the "
                  "feed (any relay).\n"
                  "# TYPE relay_feed_last_poll_timestamp_seconds gauge\n");
    for (size_t i = 0; i < cfg->n_targets; i++) {
        if (!catalog_has_feed(&cfg->targets[i]) || f->ts[i].last_poll_ms <= 0)
            continue;
        snprintf(line, sizeof(line), "relay_feed_last_poll_timestamp_seconds{target=\"%s\"} %.3f\n",
                 label(cfg->targets[i].name, lb), (double)f->ts[i].last_poll_ms / 1000.0);
        feeds_out_str(&o, line);
    }
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    return o.p;
}
