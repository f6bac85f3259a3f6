/* Movida's sync skip: a listed title rendered per target as its delivery would render it, and
 * the run's title group cache. */
#include "handlers/sync_render.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "handlers/cms.h"
#include "handlers/fmt.h"
#include "queue/catalog.h"

struct group {
    char *url;
    json_t *doc; /* NULL: the CMS has none */
};

struct sync_render_groups {
    struct group *v; /* a ring: next is the slot to fill */
    size_t n, max, next;
};

char *sync_render_group_url(const struct source *src, const json_t *listed)
{
    /* The delivery's second request, asked of the same adapter so that both agree. */
    json_t *const bodies[1] = {(json_t *)listed};
    struct cms_ref ref = {.season_number = -1, .episode_number = -1};
    return cms_next_url(src, &ref, bodies, 1);
}

struct sync_render_groups *sync_render_groups_new(size_t max)
{
    struct sync_render_groups *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->max = max > 0 ? max : 1;
    g->v = calloc(g->max, sizeof(*g->v));
    if (g->v == NULL) {
        free(g);
        return NULL;
    }
    return g;
}

void sync_render_groups_free(struct sync_render_groups *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].url);
        json_decref(g->v[i].doc);
    }
    free(g->v);
    free(g);
}

int sync_render_groups_get(const struct sync_render_groups *g, const char *url, const json_t **doc)
{
    /* Linear: a page of 200 titles looks up a few groups among at most max; the listing's
     * order keeps a series' episodes together, so the newest entries are the likely hits. */
    for (size_t k = 0; k < g->n; k++) {
        size_t i = (g->next + g->max - 1 - k) % g->max;
        if (strcmp(g->v[i].url, url) == 0) {
            *doc = g->v[i].doc;
            return 1;
        }
    }
    *doc = NULL;
    return 0;
}

int sync_render_groups_put(struct sync_render_groups *g, const char *url, json_t *doc)
{
    char *copy = strdup(url);
    if (copy == NULL)
        return -1;
    struct group *slot = &g->v[g->next];
    if (g->n == g->max) {
        free(slot->url);
        json_decref(slot->doc);
    } else {
        g->n++;
    }
    slot->url = copy;
    slot->doc = json_incref(doc);
    g->next = (g->next + 1) % g->max;
    return 0;
}

json_t *sync_render_title(const struct source *src, const char *content_id, const json_t *listed,
                          const json_t *group)
{
    /* A Movida event carries only the title's id: the same reference a delivery normalizes
     * with (handlers/worker_job.c, job_cms_ref). */
    struct cms_ref ref = {.content_id = content_id, .season_number = -1, .episode_number = -1};
    json_t *const bodies[2] = {(json_t *)listed, (json_t *)group};
    char err[256];
    return cms_normalize(src, &ref, bodies, group ? 2 : 1, err, sizeof(err));
}

/* The target's content_types filter, as a delivery applies it once the title is fetched. */
static int takes(const struct target *t, const struct source *src, const json_t *title)
{
    const char *type = json_string_value(json_object_get(title, "type"));
    return type == NULL || config_target_matches(t, src->name, type);
}

enum sync_render_result sync_render_digest(const struct target *t, const struct source *src,
                                           const json_t *title, int64_t event_at_ms,
                                           int64_t first_seen_ms, char digest[41])
{
    char event_at[32], first_seen[32], err[256];
    struct fmt_ctx ctx = {.unpublish = 0};
    enum sync_render_result res = SYNC_RENDER_NONE;

    digest[0] = '\0';
    if (!takes(t, src, title))
        return SYNC_RENDER_NOT_TAKEN;
    /* The stand-in times as the delivery that filled the catalog had them (job_render_doc):
     * a title whose content did not change renders byte for byte as it did then. */
    if (event_at_ms > 0) {
        util_rfc3339(event_at_ms, event_at);
        ctx.event_at = event_at;
    }
    if (first_seen_ms > 0) {
        util_rfc3339(first_seen_ms, first_seen);
        ctx.first_seen = first_seen;
    }
    json_t *doc = fmt_render_ctx(t, title, &ctx, err, sizeof(err));
    if (doc == NULL)
        return SYNC_RENDER_NONE;
    /* what the catalog stores: the per-title document, compact (job_catalog_live) */
    const json_t *item = catalog_title_doc(t->format, doc);
    char *text = item ? json_dumps(item, JSON_COMPACT) : NULL;
    if (text != NULL) {
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)text, strlen(text), md);
        util_hex(md, sizeof(md), digest);
        res = SYNC_RENDER_DIGEST;
    }
    free(text);
    json_decref(doc);
    return res;
}

char *sync_render_digests(const struct source *src, const struct target *const *tg, size_t nt,
                          const json_t *title, const int64_t *at, const int64_t *first)
{
    size_t cap = nt * 41 + 1, len = 0;
    char *list = calloc(1, cap);
    for (size_t k = 0; list && k < nt; k++) {
        char d[41] = "";
        if (title && tg[k] && !takes(tg[k], src, title))
            snprintf(d, sizeof(d), "-");
        else if (title && tg[k] && at[k] > 0) /* else not in its catalog: nothing to compare */
            (void)sync_render_digest(tg[k], src, title, at[k], first[k], d);
        len += (size_t)snprintf(list + len, cap - len, "%s%s", k ? "," : "", d);
    }
    return list;
}
