/* EncoraStream adapter: the admin API's movies, shows (+ seasons) and episodes (+ parent show)
 * into the canonical title (docs/canonical.md). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/util.h"
#include "handlers/cms_internal.h"

/* Season list pages followed per show: a show with more seasons than 100 per page times this
 * is not a catalog, it is a loop. */
enum { ENCORA_MAX_SEASON_PAGES = 20 };

static int is_type(const struct cms_ref *ref, const char *type)
{
    return ref->content_type != NULL && strcmp(ref->content_type, type) == 0;
}

char *cms_encora_next_url(const struct source *src, const struct cms_ref *ref,
                          json_t *const *bodies, size_t n)
{
    const char *base = src->api_base_url;
    char *id = NULL, *cursor = NULL, *url = NULL;
    int rc = -1;

    if (is_type(ref, "movie")) {
        if (n > 0)
            goto out;
        id = cms_path_id(ref->content_id);
        if (id != NULL)
            rc = asprintf(&url, "%s/admin/movies/%s", base, id);
    } else if (is_type(ref, "show")) {
        id = cms_path_id(ref->content_id);
        if (id == NULL)
            goto out;
        if (n == 0) {
            rc = asprintf(&url, "%s/admin/shows/%s", base, id);
        } else if (n == 1) {
            rc = asprintf(&url, "%s/admin/shows/%s/seasons", base, id);
        } else if (n <= ENCORA_MAX_SEASON_PAGES) {
            /* The cursor comes from the CMS's own answer; it only ever becomes a percent-
             * encoded query value on a URL built from the configured base. */
            const char *next = cms_str(cms_obj(bodies[n - 1], "meta"), "next_cursor");
            if (next == NULL)
                goto out;
            cursor = util_pct_encode(next);
            if (cursor != NULL)
                rc = asprintf(&url, "%s/admin/shows/%s/seasons?cursor=%s", base, id, cursor);
        }
    } else if (is_type(ref, "episode")) {
        if (ref->season_number < 0 || ref->episode_number < 0)
            goto out;
        id = cms_path_id(ref->show_id);
        if (id == NULL)
            goto out;
        if (n == 0)
            rc = asprintf(&url, "%s/admin/shows/%s/seasons/%d/episodes/%d", base, id,
                          ref->season_number, ref->episode_number);
        else if (n == 1)
            rc = asprintf(&url, "%s/admin/shows/%s", base, id);
    }

out:
    free(id);
    free(cursor);
    return rc < 0 ? NULL : url;
}

/* "scheduled" titles are already listed by EncoraStream's own catalogue (they appear in its
 * search) with a future window; only draft and unpublished ones are not on offer. */
static const char *status_of(const json_t *body)
{
    const char *s = cms_str(body, "status");
    if (s != NULL && (strcmp(s, "draft") == 0 || strcmp(s, "unpublished") == 0))
        return "unpublished";
    return "published";
}

static json_t *string_array(const json_t *arr)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;

    if (out == NULL)
        return NULL;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v))
            cms_push_unique(out, json_string_value(v));
    }
    return out;
}

/* cast: [{name, role, character}] → actors into cast, everyone else into crew by role. */
static void set_people(json_t *t, const json_t *people)
{
    json_t *cast = json_array(), *crew = json_array();
    size_t i;
    json_t *p;

    json_array_foreach(people, i, p)
    {
        const char *name = cms_str(p, "name"), *role = cms_str(p, "role");
        if (name == NULL)
            continue;
        json_t *e = json_object();
        if (e == NULL)
            continue;
        cms_set_str(e, "name", name);
        if (role == NULL || strcmp(role, "actor") == 0 || strcmp(role, "cast") == 0) {
            cms_copy_str(e, "character", p, "character");
            json_array_append_new(cast, e);
        } else {
            cms_set_str(e, "role", role);
            json_array_append_new(crew, e);
        }
    }
    cms_set_new(t, "cast", cast);
    cms_set_new(t, "crew", crew);
}

/* images: {poster: url, backdrop: url, ...} → [{type, url}] in the object's order. */
static void set_artwork(json_t *t, const json_t *images)
{
    json_t *art = json_array();
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)images, key, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0)
            continue;
        json_t *e = json_object();
        if (e == NULL)
            continue;
        cms_set_str(e, "type", key);
        json_object_set(e, "url", v);
        json_array_append_new(art, e);
    }
    cms_set_new(t, "artwork", art);
}

static void set_languages(json_t *t, const json_t *body, const json_t *show)
{
    json_t *lang = json_object();
    if (lang == NULL)
        return;
    const char *orig = cms_str(body, "language");
    cms_set_str(lang, "original", orig != NULL ? orig : cms_str(show, "language"));
    cms_set_new(lang, "audio", string_array(cms_arr(body, "audio_languages")));
    cms_set_new(lang, "subtitles", string_array(cms_arr(body, "subtitle_languages")));
    cms_set_new(t, "languages", lang);
}

/* available_from/until plus geo_restrictions. EncoraStream sells nothing per title: playback
 * needs a subscription that covers it and is streamed (its stream endpoints say so), which is
 * the one offer recorded for the window. */
static void set_availability(json_t *t, const json_t *body, const char *status)
{
    const json_t *geo = cms_obj(body, "geo_restrictions");
    const char *policy = cms_str(geo, "policy");
    const char *from = cms_str(body, "available_from"), *until = cms_str(body, "available_until");
    json_t *av = json_object(), *terr = json_array(), *offers = json_array(),
           *offer = json_object();

    if (av == NULL || terr == NULL || offers == NULL || offer == NULL)
        goto out;
    json_t *list = cms_arr(geo, "territories");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v))
            cms_push_unique(terr, json_string_value(v));
    }
    const char *pol = NULL;
    if (policy != NULL && strcmp(policy, "allow_list") == 0)
        pol = "allow";
    else if (policy != NULL && strcmp(policy, "block_list") == 0)
        pol = "block";
    cms_set_datetime(av, "start", from);
    cms_set_datetime(av, "end", until);
    if (pol != NULL && json_array_size(terr) > 0) {
        json_object_set(av, "territories", terr);
        cms_set_str(av, "territory_policy", pol);
    }
    if (strcmp(status, "published") == 0) {
        cms_set_str(offer, "offer", "subscription");
        cms_set_str(offer, "delivery_method", "stream");
        cms_set_datetime(offer, "start", from);
        cms_set_datetime(offer, "end", until);
        /* A block list says where the offer is not; only an allow list names where it is. */
        if (pol != NULL && strcmp(pol, "allow") == 0 && json_array_size(terr) > 0)
            json_object_set(offer, "territories", terr);
        json_array_append(offers, offer);
        json_object_set(av, "offers", offers);
    }
    cms_set_new(t, "availability", av);
    av = NULL;

out:
    json_decref(av);
    json_decref(terr);
    json_decref(offers);
    json_decref(offer);
}

/* Fields every EncoraStream content object spells the same way. */
static void set_common(json_t *t, const json_t *body)
{
    const char *title = cms_str(body, "title"), *orig = cms_str(body, "original_title");
    long long mins;

    cms_set_str(t, "title", title);
    cms_set_str(t, "original_title", orig);
    if (orig != NULL && (title == NULL || strcmp(orig, title) != 0)) {
        json_t *alt = json_array();
        cms_push_unique(alt, orig);
        cms_set_new(t, "alt_titles", alt);
    }
    cms_copy_str(t, "slug", body, "slug");
    cms_copy_str(t, "description", body, "synopsis");
    cms_copy_str(t, "tagline", body, "tagline");
    /* Guard the multiplication: a week-long "runtime" is a data error, not a title. */
    if (cms_int(body, "runtime_minutes", 1, 10080, &mins) == 0)
        cms_set_int(t, "runtime_s", mins * 60);
    cms_copy_str(t, "rating", body, "content_rating");
    cms_set_new(t, "genres", string_array(cms_arr(body, "genres")));
    cms_copy_str(t, "network", body, "network");
    set_people(t, cms_arr(body, "cast"));
    set_artwork(t, cms_obj(body, "images"));
    cms_set_datetime(t, "created_at", cms_str(body, "created_at"));
    cms_set_datetime(t, "updated_at", cms_str(body, "updated_at"));
}

static void set_release(json_t *t, const json_t *body, const char *date)
{
    long long year;
    cms_set_date(t, "premiere", date);
    if (cms_int(body, "release_year", 1800, 2200, &year) == 0)
        cms_set_int(t, "release_year", year);
    else if (cms_year_of(date) > 0)
        cms_set_int(t, "release_year", cms_year_of(date));
}

/* Seasons of a show, from every fetched page of /seasons (bodies after the show). */
static void set_seasons(json_t *t, json_t *const *pages, size_t n)
{
    json_t *seasons = json_array();
    long long num;

    for (size_t p = 0; p < n; p++) {
        size_t i;
        json_t *s;
        json_array_foreach(cms_arr(pages[p], "data"), i, s)
        {
            if (!json_is_object(s) || cms_int(s, "season_number", 0, 100000, &num) != 0)
                continue;
            json_t *e = json_object();
            if (e == NULL)
                continue;
            cms_copy_str(e, "id", s, "id");
            cms_set_int(e, "season_number", num);
            cms_copy_str(e, "title", s, "title");
            if (cms_int(s, "episode_count", 0, 100000, &num) == 0)
                cms_set_int(e, "episode_count", num);
            set_release(e, s, cms_str(s, "first_air_date"));
            json_array_append_new(seasons, e);
        }
    }
    cms_set_new(t, "seasons", seasons);
}

/* An episode takes the show-level facts it does not carry itself from its parent show. */
static void set_episode_parent(json_t *t, const struct cms_ref *ref, const json_t *ep,
                               const json_t *show)
{
    json_t *series = json_object();
    long long num;

    if (series == NULL)
        return;
    const char *show_id = cms_str(ep, "show_id");
    cms_set_str(series, "show_id", show_id != NULL ? show_id : ref->show_id);
    cms_copy_str(series, "show_title", show, "title");
    cms_copy_str(series, "season_id", ep, "season_id");
    if (cms_int(ep, "season_number", 0, 100000, &num) == 0)
        cms_set_int(series, "season_number", num);
    else if (ref->season_number >= 0)
        cms_set_int(series, "season_number", ref->season_number);
    if (cms_int(ep, "episode_number", 0, 100000, &num) == 0)
        cms_set_int(series, "episode_number", num);
    else if (ref->episode_number >= 0)
        cms_set_int(series, "episode_number", ref->episode_number);
    cms_set_new(t, "series", series);

    if (show == NULL)
        return;
    if (json_object_get(t, "cast") == NULL && json_object_get(t, "crew") == NULL)
        set_people(t, cms_arr(show, "cast"));
    if (json_object_get(t, "genres") == NULL)
        cms_set_new(t, "genres", string_array(cms_arr(show, "genres")));
    if (json_object_get(t, "network") == NULL)
        cms_copy_str(t, "network", show, "network");
}

json_t *cms_encora_normalize(const struct source *src, const struct cms_ref *ref,
                             json_t *const *bodies, size_t n, char *err, size_t errlen)
{
    const char *type = ref->content_type;
    json_t *t = NULL;

    if (type == NULL ||
        (strcmp(type, "movie") != 0 && strcmp(type, "show") != 0 && strcmp(type, "episode") != 0)) {
        snprintf(err, errlen, "encorastream: unsupported content type %s",
                 type != NULL ? type : "(none)");
        return NULL;
    }
    if (n < 1 || !json_is_object(bodies[0])) {
        snprintf(err, errlen, "encorastream: %s response is not a JSON object", type);
        return NULL;
    }
    const json_t *body = bodies[0];
    const json_t *show =
        n > 1 && strcmp(type, "episode") == 0 && json_is_object(bodies[1]) ? bodies[1] : NULL;
    const char *id = ref->content_id != NULL && ref->content_id[0] != '\0' ? ref->content_id
                                                                           : cms_str(body, "id");
    if (id == NULL) {
        snprintf(err, errlen, "encorastream: %s has no id", type);
        return NULL;
    }
    const char *status = status_of(body);
    t = cms_title_new(src, id, type, status);
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    set_common(t, body);
    if (strcmp(type, "movie") == 0) {
        set_release(t, body, NULL); /* movies carry a year, no date */
    } else if (strcmp(type, "show") == 0) {
        set_release(t, body, cms_str(body, "first_air_date"));
        if (n > 1)
            set_seasons(t, bodies + 1, n - 1);
    } else {
        set_release(t, body, cms_str(body, "air_date"));
        set_episode_parent(t, ref, body, show);
    }
    set_languages(t, body, show);
    set_availability(t, body, status);

    /* An episode's show is fetched anyway (its title, cast and genres), so its slug for the
     * deep link costs no request of its own. */
    struct cms_link link = {
        .id = id, .slug = cms_str(body, "slug"), .type = type, .show_slug = cms_str(show, "slug")};
    cms_set_web_url(t, src, &link);
    return t;
}
