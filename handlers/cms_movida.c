/* Movida (BeBanjo) adapter: a title with metadata, images and availability windows expanded,
 * plus its series title group, into the canonical title (docs/canonical.md). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/util.h"
#include "handlers/cms_internal.h"

/* The numeric id at the end of a Movida link (".../title_groups/10113965"), copied into out,
 * or -1. Only the id is ever used: the link itself names a host the relay does not choose. */
static int link_id(const char *link, char *out, size_t cap)
{
    const char *slash = link != NULL ? strrchr(link, '/') : NULL;
    size_t len;

    if (slash == NULL)
        return -1;
    len = strlen(slash + 1);
    if (len == 0 || len >= cap || len > 18)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (slash[1 + i] < '0' || slash[1 + i] > '9')
            return -1;
    memcpy(out, slash + 1, len + 1);
    return 0;
}

char *cms_movida_next_url(const struct source *src, const struct cms_ref *ref,
                          json_t *const *bodies, size_t n)
{
    char *id = NULL, *url = NULL;
    char group[24];
    int rc = -1;

    if (n == 0) {
        id = cms_path_id(ref->content_id);
        if (id != NULL)
            rc = asprintf(&url, "%s/titles/%s?expand=metadata,images,availability_windows",
                          src->api_base_url, id);
    } else if (n == 1 && link_id(cms_str(bodies[0], "series_link"), group, sizeof(group)) == 0) {
        rc = asprintf(&url, "%s/title_groups/%s", src->api_base_url, group);
    }
    free(id);
    return rc < 0 ? NULL : url;
}

static const char *type_of(const char *title_type)
{
    static const char *const map[][2] = {
        {"feature", "movie"}, {"episode", "episode"}, {"series", "show"}, {"season", "season"}};
    for (size_t i = 0; title_type != NULL && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(title_type, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* Movida sends ids as integers; the canonical id is a string either way. */
static int id_string(const json_t *obj, const char *key, char *out, size_t cap)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return snprintf(out, cap, "%lld", (long long)json_integer_value(v)) < (int)cap ? 0 : -1;
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < cap) {
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        return 0;
    }
    return -1;
}

/* "US, CA" → ["US", "CA"]: Movida keeps lists (tags, territories) comma-separated. */
static json_t *split_list(const char *s)
{
    json_t *out = json_array();
    if (out == NULL || s == NULL)
        return out;
    while (*s != '\0') {
        const char *end = strchr(s, ',');
        size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
        const char *a = s, *b = s + len;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            char *item = strndup(a, (size_t)(b - a));
            if (item != NULL)
                cms_push_unique(out, item);
            free(item);
        }
        s += len;
        if (*s == ',')
            s++;
    }
    return out;
}

static void push_people(json_t *list, const json_t *names, const char *role)
{
    size_t i;
    json_t *v;

    json_array_foreach(names, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0)
            continue;
        json_t *e = json_object();
        if (e == NULL)
            continue;
        json_object_set(e, "name", v);
        if (role != NULL)
            cms_set_str(e, "role", role);
        json_array_append_new(list, e);
    }
}

static void set_artwork(json_t *t, const json_t *title)
{
    json_t *art = json_array();
    size_t i;
    json_t *img;

    json_array_foreach(cms_arr(cms_obj(title, "images"), "entries"), i, img)
    {
        const char *type = cms_str(img, "image_type"), *url = cms_str(img, "file_url");
        if (type == NULL || url == NULL)
            continue;
        json_t *e = json_object();
        if (e == NULL)
            continue;
        cms_set_str(e, "type", type);
        cms_set_str(e, "url", url);
        json_array_append_new(art, e);
    }
    cms_set_new(t, "artwork", art);
}

static json_t *price_of(const json_t *w)
{
    const json_t *p = cms_obj(w, "price");
    const json_t *amount = json_object_get(p, "amount");
    const char *currency = cms_str(p, "currency");
    char buf[64];

    if (currency == NULL)
        return NULL;
    /* Prices stay decimal strings: a double would turn "3.99" into 3.9900000000000002. */
    if (json_is_string(amount) && json_string_length(amount) > 0)
        snprintf(buf, sizeof(buf), "%s", json_string_value(amount));
    else if (json_is_integer(amount))
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(amount));
    else if (json_is_real(amount))
        snprintf(buf, sizeof(buf), "%.2f", json_real_value(amount));
    else
        return NULL;
    json_t *arr = json_array(), *e = json_object();
    if (arr == NULL || e == NULL) {
        json_decref(arr);
        json_decref(e);
        return NULL;
    }
    cms_set_str(e, "currency", currency);
    cms_set_str(e, "amount", buf);
    json_array_append_new(arr, e);
    return arr;
}

/* One offer per availability window; the title-level window spans them all (earliest start,
 * latest end, no end when any window is open-ended) over the union of their territories. */
static void set_availability(json_t *t, const json_t *title)
{
    json_t *av = json_object(), *terr = json_array(), *offers = json_array();
    long long first = 0, last = 0, ms;
    const char *start = NULL, *end = NULL;
    int open_ended = 0;
    size_t i, j;
    json_t *w, *v;

    if (av == NULL || terr == NULL || offers == NULL)
        goto out;
    json_array_foreach(cms_arr(cms_obj(title, "availability_windows"), "entries"), i, w)
    {
        if (!json_is_object(w))
            continue;
        json_t *o = json_object();
        if (o == NULL)
            continue;
        cms_copy_str(o, "offer", w, "offer");
        cms_copy_str(o, "delivery_method", w, "delivery_method");
        cms_copy_str(o, "format", w, "format");
        cms_set_datetime(o, "start", cms_str(w, "start"));
        cms_set_datetime(o, "end", cms_str(w, "end"));
        json_t *wt = split_list(cms_str(w, "territories"));
        json_array_foreach(wt, j, v) cms_push_unique(terr, json_string_value(v));
        cms_set_new(o, "territories", wt);
        cms_set_new(o, "price", price_of(w));
        json_array_append_new(offers, o);

        const char *s = cms_str(o, "start"), *e = cms_str(o, "end");
        if (s != NULL && cms_time_ms(s, &ms) == 0 && (start == NULL || ms < first)) {
            first = ms;
            start = s;
        }
        if (e == NULL)
            open_ended = 1;
        else if (cms_time_ms(e, &ms) == 0 && (end == NULL || ms > last)) {
            last = ms;
            end = e;
        }
    }
    if (json_array_size(offers) == 0)
        goto out;
    cms_set_str(av, "start", start);
    if (!open_ended)
        cms_set_str(av, "end", end);
    if (json_array_size(terr) > 0) {
        json_object_set(av, "territories", terr);
        cms_set_str(av, "territory_policy", "allow");
    }
    json_object_set(av, "offers", offers);
    json_object_set(t, "availability", av);

out:
    json_decref(av);
    json_decref(terr);
    json_decref(offers);
}

/* Cast and crew: the title's own metadata, else the series group's (episodes carry little). */
static void set_people(json_t *t, const json_t *meta, const json_t *group_meta)
{
    json_t *cast = json_array(), *crew = json_array();

    push_people(crew, cms_arr(meta, "directors"), "director");
    push_people(crew, cms_arr(meta, "creators"), "creator");
    if (json_array_size(crew) == 0)
        push_people(crew, cms_arr(group_meta, "creators"), "creator");
    push_people(cast, cms_arr(meta, "cast"), NULL);
    if (json_array_size(cast) == 0)
        push_people(cast, cms_arr(group_meta, "cast"), NULL);
    cms_set_new(t, "cast", cast);
    cms_set_new(t, "crew", crew);
}

json_t *cms_movida_normalize(const struct source *src, const struct cms_ref *ref,
                             json_t *const *bodies, size_t n, char *err, size_t errlen)
{
    char id[32], group_id[32];
    long long num;

    if (n < 1 || !json_is_object(bodies[0])) {
        snprintf(err, errlen, "movida: title response is not a JSON object");
        return NULL;
    }
    const json_t *title = bodies[0];
    const char *title_type = cms_str(title, "title_type");
    const char *type = type_of(title_type);
    if (type == NULL) {
        /* Trailers, promos and ads are Movida titles but no catalogue entries. */
        snprintf(err, errlen, "movida: unsupported title_type %s",
                 title_type != NULL ? title_type : "(none)");
        return NULL;
    }
    if (ref->content_id != NULL && ref->content_id[0] != '\0')
        snprintf(id, sizeof(id), "%.31s", ref->content_id);
    else if (id_string(title, "id", id, sizeof(id)) != 0) {
        snprintf(err, errlen, "movida: title has no id");
        return NULL;
    }
    const json_t *group = n > 1 && json_is_object(bodies[1]) ? bodies[1] : NULL;
    const json_t *meta = cms_obj(title, "metadata");
    const json_t *group_meta = cms_obj(group, "metadata");

    /* Movida has no publication status; the title was fetched for a published event. */
    json_t *t = cms_title_new(src, id, type, "published");
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* "name" is the title's own name; "title" prefixes episodes with "E01, ". */
    const char *name = cms_str(title, "name");
    if (name == NULL)
        name = cms_str(title, "title");
    const char *orig = cms_str(meta, "original_title");
    cms_set_str(t, "title", name);
    cms_set_str(t, "original_title", orig);
    if (orig != NULL && (name == NULL || strcmp(orig, name) != 0)) {
        json_t *alt = json_array();
        cms_push_unique(alt, orig);
        cms_set_new(t, "alt_titles", alt);
    }
    cms_copy_str(t, "description", meta, "synopsis");
    cms_copy_str(t, "short_description", meta, "short_synopsis");
    const char *premiere = cms_str(meta, "premiere_date");
    cms_set_date(t, "premiere", premiere);
    /* The release is the premiere; the production year is the fallback, as it is often a
     * year early. */
    if (cms_year_of(premiere) > 0)
        cms_set_int(t, "release_year", cms_year_of(premiere));
    else if (cms_int(meta, "year_of_production", 1800, 2200, &num) == 0)
        cms_set_int(t, "release_year", num);
    if (cms_int(meta, "duration_in_seconds", 1, 7 * 86400, &num) == 0)
        cms_set_int(t, "runtime_s", num);
    cms_copy_str(t, "rating", meta, "rating");
    json_t *genres = split_list(cms_str(title, "tags"));
    if (json_array_size(genres) == 0 && group != NULL) {
        json_decref(genres);
        genres = split_list(cms_str(group, "tags"));
    }
    cms_set_new(t, "genres", genres);
    set_people(t, meta, group_meta);
    set_artwork(t, title);
    json_t *lang = json_object();
    cms_copy_str(lang, "original", meta, "original_language");
    cms_set_new(t, "languages", lang);
    set_availability(t, title);

    if (strcmp(type, "episode") == 0 || strcmp(type, "season") == 0) {
        json_t *series = json_object();
        if (link_id(cms_str(title, "series_link"), group_id, sizeof(group_id)) == 0 ||
            id_string(group, "id", group_id, sizeof(group_id)) == 0)
            cms_set_str(series, "show_id", group_id);
        cms_copy_str(series, "show_title", group, "name");
        if (cms_int(meta, "season_number", 0, 100000, &num) == 0)
            cms_set_int(series, "season_number", num);
        if (cms_int(title, "episode_number", 0, 100000, &num) == 0)
            cms_set_int(series, "episode_number", num);
        cms_set_new(t, "series", series);
    }

    const char *product_url = cms_str(meta, "product_url");
    if (product_url != NULL) {
        cms_set_str(t, "url", product_url);
    } else {
        /* Movida titles carry no slug; a template on ids ({id}, {show_id}, numbers) works. */
        struct cms_link link = {.id = id, .type = type};
        cms_set_web_url(t, src, &link);
    }
    cms_set_datetime(t, "updated_at", cms_str(title, "updated_at"));
    return t;
}
