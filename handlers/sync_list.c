/* The catalog listing of a sync run: EncoraStream's admin lists (movies, shows, each show's
 * seasons, each season's episodes) and Movida's paginated titles with their metadata expanded,
 * so that Movida's skip (the same rendered document) needs no request per title. */
#include "handlers/sync_list.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "handlers/cms_internal.h"

#define ENCORA_LIMIT 100
#define MOVIDA_PER_PAGE 200
#define MOVIDA_EXPAND "metadata,images,availability_windows"
#define ID_MAX 128
#define PAGE_ITEMS_MAX 1000 /* more per page than asked for is a broken CMS: refuse it */

int sync_list_done(const struct source *src, const struct sync_pos *pos)
{
    if (src->kind == SOURCE_MOVIDA)
        return strcmp(pos->phase, "end") == 0;
    return strcmp(pos->phase, "todo") == 0 && pos->head[0] == '\0';
}

const char *sync_list_mode(const struct source *src)
{
    return src->kind == SOURCE_MOVIDA ? "doc" : "ts";
}

/* An id as the listing may carry it: what goes into Redis keys, stream fields and the run's
 * tab- and comma-separated bookkeeping must not hold separators or control bytes. */
static int id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == ',')
            return 0;
    }
    return 1;
}

/* "S\t<show>" or "E\t<show>\t<n>": *kind, a copy of the show id, *season. */
static int parse_head(const char *head, char *kind, char **show, int *season)
{
    *show = NULL;
    *season = -1;
    if ((head[0] != 'S' && head[0] != 'E') || head[1] != '\t')
        return -1;
    *kind = head[0];
    const char *id = head + 2;
    const char *tab = strchr(id, '\t');
    if (*kind == 'S') {
        if (tab != NULL || !id_ok(id))
            return -1;
        *show = strdup(id);
    } else {
        if (tab == NULL)
            return -1;
        char *end;
        long n = strtol(tab + 1, &end, 10);
        if (*end != '\0' || end == tab + 1 || n < 0 || n > 100000)
            return -1;
        *show = strndup(id, (size_t)(tab - id));
        *season = (int)n;
        if (*show && !id_ok(*show)) {
            free(*show);
            *show = NULL;
            return -1;
        }
    }
    return *show ? 0 : -1;
}

static char *encora_url(const struct source *src, const struct sync_pos *pos)
{
    const char *base = src->api_base_url;
    char *url = NULL, *cur = NULL, *sid = NULL, *show = NULL;
    int rc = -1;

    if (pos->cursor[0]) {
        cur = util_pct_encode(pos->cursor);
        if (cur == NULL)
            goto out;
    }
    const char *phase = pos->phase[0] ? pos->phase : "movies";
    if (strcmp(phase, "movies") == 0 || strcmp(phase, "shows") == 0) {
        rc = asprintf(&url, "%s/admin/%s?status=published&limit=%d%s%s", base, phase, ENCORA_LIMIT,
                      cur ? "&cursor=" : "", cur ? cur : "");
    } else if (strcmp(phase, "todo") == 0) {
        char kind;
        int season;
        if (parse_head(pos->head, &kind, &show, &season) != 0)
            goto out;
        sid = cms_path_id(show);
        if (sid == NULL)
            goto out;
        if (kind == 'S')
            rc = asprintf(&url, "%s/admin/shows/%s/seasons%s%s", base, sid, cur ? "?cursor=" : "",
                          cur ? cur : "");
        else
            rc = asprintf(&url, "%s/admin/shows/%s/seasons/%d/episodes?limit=%d%s%s", base, sid,
                          season, ENCORA_LIMIT, cur ? "&cursor=" : "", cur ? cur : "");
    }
out:
    free(cur);
    free(sid);
    free(show);
    return rc < 0 ? NULL : url;
}

static char *movida_url(const struct source *src, const struct sync_pos *pos)
{
    char *url = NULL;
    long page = 1;
    if (pos->cursor[0]) {
        char *end;
        page = strtol(pos->cursor, &end, 10);
        if (*end != '\0' || page < 1 || page > 10000000)
            return NULL;
    }
    int rc = asprintf(&url, "%s/titles?pagination=true&per_page=%d&expand=%s&page=%ld",
                      src->api_base_url, MOVIDA_PER_PAGE, MOVIDA_EXPAND, page);
    return rc < 0 ? NULL : url;
}

char *sync_list_url(const struct source *src, const struct sync_pos *pos)
{
    if (src->api_base_url == NULL)
        return NULL;
    return src->kind == SOURCE_MOVIDA ? movida_url(src, pos) : encora_url(src, pos);
}

/* ---- parsing ----------------------------------------------------------------------------- */

void sync_page_clear(struct sync_page *p)
{
    for (size_t i = 0; i < p->n_items; i++) {
        free(p->items[i].content_id);
        free(p->items[i].content_type);
        free(p->items[i].show_id);
        if (p->docs)
            json_decref(p->docs[i]);
    }
    free(p->items);
    free(p->docs);
    for (size_t i = 0; i < p->n_todo; i++)
        free(p->todo[i]);
    free(p->todo);
    free(p->phase);
    free(p->cursor);
    memset(p, 0, sizeof(*p));
}

static int add_item(struct sync_page *p, const char *id, const char *type, const char *show,
                    int season, int episode, int64_t order)
{
    struct sync_item *it = &p->items[p->n_items];
    memset(it, 0, sizeof(*it));
    it->content_id = strdup(id);
    it->content_type = strdup(type);
    it->show_id = strdup(show ? show : "");
    it->season_number = season;
    it->episode_number = episode;
    it->order_ms = order;
    p->n_items++;
    return it->content_id && it->content_type && it->show_id ? 0 : -1;
}

static int add_todo(struct sync_page *p, const char *fmt_kind, const char *show, int season)
{
    char *s = NULL;
    int rc = season >= 0 ? asprintf(&s, "%s\t%s\t%d", fmt_kind, show, season)
                         : asprintf(&s, "%s\t%s", fmt_kind, show);
    if (rc < 0)
        return -1;
    p->todo[p->n_todo++] = s;
    return 0;
}

/* A listed title's order: its updated_at, else the run's start. */
static int64_t order_of(const json_t *o, int64_t start_ms)
{
    long long ms;
    const char *u = cms_str(o, "updated_at");
    if (u && cms_time_ms(u, &ms) == 0 && ms > 0)
        return (int64_t)ms;
    return start_ms;
}

/* Draft and unpublished titles are not on offer even if a listing returns them. */
static int encora_unpublished(const json_t *o)
{
    const char *s = cms_str(o, "status");
    return s && (strcmp(s, "draft") == 0 || strcmp(s, "unpublished") == 0);
}

static int encora_parse(const struct sync_pos *pos, json_t *doc, int64_t start_ms,
                        struct sync_page *out, char *err, size_t errlen)
{
    json_t *data = cms_arr(doc, "data");
    const char *phase = pos->phase[0] ? pos->phase : "movies";
    char kind = 0;
    char *show = NULL;
    int season = -1, rc = -1;
    long long total;

    if (data == NULL) {
        snprintf(err, errlen, "listing page without a data array");
        return -1;
    }
    size_t n = json_array_size(data);
    if (n > PAGE_ITEMS_MAX) {
        snprintf(err, errlen, "listing page with %zu items", n);
        return -1;
    }
    if (strcmp(phase, "todo") == 0 && parse_head(pos->head, &kind, &show, &season) != 0) {
        snprintf(err, errlen, "malformed checkpoint");
        return -1;
    }
    out->items = calloc(n + 1, sizeof(*out->items));
    out->todo = calloc(n + 1, sizeof(*out->todo));
    if (out->items == NULL || out->todo == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(data, i);
        const char *id = cms_str(o, "id");
        if (!json_is_object(o) || encora_unpublished(o))
            continue;
        if (kind == 'S') { /* a show's seasons: only the way to its episodes */
            long long num;
            if (cms_int(o, "season_number", 0, 100000, &num) == 0 &&
                add_todo(out, "E", show, (int)num) != 0)
                goto oom;
            continue;
        }
        if (!id_ok(id))
            continue; /* an id the relay cannot address; the CMS's own problem */
        int64_t order = order_of(o, start_ms);
        if (kind == 'E') {
            long long ep, sn;
            if (cms_int(o, "episode_number", 0, 1000000, &ep) != 0)
                continue;
            if (cms_int(o, "season_number", 0, 100000, &sn) != 0)
                sn = season;
            if (add_item(out, id, "episode", show, (int)sn, (int)ep, order) != 0)
                goto oom;
        } else if (strcmp(phase, "movies") == 0) {
            if (add_item(out, id, "movie", NULL, -1, -1, order) != 0)
                goto oom;
        } else {
            if (add_item(out, id, "show", NULL, -1, -1, order) != 0 ||
                add_todo(out, "S", id, -1) != 0)
                goto oom;
        }
    }
    json_t *meta = cms_obj(doc, "meta");
    const char *next = cms_str(meta, "next_cursor");
    out->total = -1;
    if (kind == 0 && (cms_int(meta, "total", 0, 100000000, &total) == 0 ||
                      cms_int(meta, "total_count", 0, 100000000, &total) == 0))
        out->total = (long)total;
    if (next != NULL) {
        out->phase = strdup(phase);
        out->cursor = strdup(next);
    } else {
        out->phase = strdup(strcmp(phase, "movies") == 0 ? "shows" : "todo");
        out->cursor = strdup("");
        out->pop = kind != 0;
    }
    if (out->phase == NULL || out->cursor == NULL)
        goto oom;
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    free(show);
    return rc;
}

/* The page number of a Movida next_link, which must point at the same titles listing under
 * the configured API (a response never chooses what the relay fetches). */
static int movida_next_page(const struct source *src, const char *link, long *page)
{
    size_t bl = strlen(src->api_base_url);
    if (strncmp(link, src->api_base_url, bl) != 0 || strncmp(link + bl, "/titles?", 8) != 0)
        return -1;
    const char *q = link + bl + 7;
    for (const char *p = q; p && *p; p = strchr(p + 1, '&')) {
        const char *kv = p + 1;
        if (strncmp(kv, "page=", 5) == 0) {
            char *end;
            long v = strtol(kv + 5, &end, 10);
            if ((*end != '\0' && *end != '&') || v < 1 || v > 10000000)
                return -1;
            *page = v;
            return 0;
        }
    }
    return -1;
}

static int movida_parse(const struct source *src, const struct sync_pos *pos, json_t *doc,
                        int64_t start_ms, struct sync_page *out, char *err, size_t errlen)
{
    json_t *entries = cms_arr(doc, "entries");
    long long total;

    if (entries == NULL) {
        snprintf(err, errlen, "listing page without an entries array");
        return -1;
    }
    size_t n = json_array_size(entries);
    if (n > PAGE_ITEMS_MAX) {
        snprintf(err, errlen, "listing page with %zu items", n);
        return -1;
    }
    out->items = calloc(n + 1, sizeof(*out->items));
    out->docs = calloc(n + 1, sizeof(*out->docs));
    if (out->items == NULL || out->docs == NULL)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(entries, i);
        char id[32];
        long long num;
        const char *rt = cms_str(o, "resource_type");
        if (!json_is_object(o) || (rt && strcmp(rt, "title") != 0))
            continue;
        if (cms_int(o, "id", 0, 999999999999LL, &num) == 0)
            snprintf(id, sizeof(id), "%lld", num);
        else if (cms_str(o, "id") && strlen(cms_str(o, "id")) < sizeof(id) &&
                 strspn(cms_str(o, "id"), "0123456789") == strlen(cms_str(o, "id")))
            snprintf(id, sizeof(id), "%s", cms_str(o, "id"));
        else
            continue;
        /* kept for the skip, which renders the title from it as a delivery would */
        out->docs[out->n_items] = json_incref(o);
        if (add_item(out, id, "", NULL, -1, -1, start_ms) != 0)
            goto oom;
    }
    out->total = cms_int(doc, "total_entries", 0, 100000000, &total) == 0 ? (long)total : -1;
    const char *next = cms_str(doc, "next_link");
    if (next != NULL) {
        long page;
        if (movida_next_page(src, next, &page) != 0) {
            snprintf(err, errlen, "next_link outside the titles listing of api.base_url");
            return -1;
        }
        long cur = pos->cursor[0] ? strtol(pos->cursor, NULL, 10) : 1;
        if (page <= cur) {
            snprintf(err, errlen, "next_link does not advance (page %ld after %ld)", page, cur);
            return -1;
        }
        out->phase = strdup("titles");
        if (asprintf(&out->cursor, "%ld", page) < 0)
            out->cursor = NULL;
    } else {
        out->phase = strdup("end");
        out->cursor = strdup("");
    }
    if (out->phase == NULL || out->cursor == NULL)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int sync_list_parse(const struct source *src, const struct sync_pos *pos, const char *body,
                    size_t len, int64_t start_ms, struct sync_page *out, char *err, size_t errlen)
{
    json_error_t je;
    memset(out, 0, sizeof(*out));
    out->total = -1;
    json_t *doc = json_loadb(body, len, 0, &je);
    if (doc == NULL) {
        snprintf(err, errlen, "listing page is not JSON");
        return -1;
    }
    int rc = src->kind == SOURCE_MOVIDA ? movida_parse(src, pos, doc, start_ms, out, err, errlen)
                                        : encora_parse(pos, doc, start_ms, out, err, errlen);
    json_decref(doc);
    if (rc != 0)
        sync_page_clear(out);
    return rc;
}
