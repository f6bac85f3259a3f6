/* Structural rules of the rendered documents, checked by fuzz_cms() on everything a renderer
 * returns: the C twin of the essentials of tests/schemas/ (every titanos key present with its
 * type and nothing else; gwi_json_1.1 types, value lists, ll_CC locales and the required and
 * conditional fields). #included by fuzz/harness.c, after FUZZ_CHECK. A violation aborts. */

#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/util.h"

static int fc_in(const char *s, const char *const *list)
{
    for (; s != NULL && *list != NULL; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static int fc_str(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0;
}

static int fc_str_or_null(const json_t *v)
{
    return json_is_null(v) || fc_str(v);
}

static int fc_int_or_null(const json_t *v)
{
    return json_is_null(v) || json_is_integer(v);
}

static int fc_strings(const json_t *v)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v))
        return 0;
    json_array_foreach(v, i, e) if (!fc_str(e)) return 0;
    return 1;
}

/* RFC 3339 UTC as the relay writes it: YYYY-MM-DDTHH:MM:SSZ. */
static int fc_instant(const json_t *v)
{
    int64_t ms;
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == 20 && s[10] == 'T' && s[19] == 'Z' &&
           util_parse_rfc3339(s, &ms) == 0;
}

static int fc_instant_or_null(const json_t *v)
{
    return json_is_null(v) || fc_instant(v);
}

static int fc_date_or_null(const json_t *v)
{
    const char *s = json_string_value(v);
    return json_is_null(v) || (s != NULL && strlen(s) == 10 && s[4] == '-' && s[7] == '-');
}

static int fc_ll_cc(const json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == 5 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' &&
           s[1] <= 'z' && s[2] == '_' && s[3] >= 'A' && s[3] <= 'Z' && s[4] >= 'A' && s[4] <= 'Z';
}

/* obj holds exactly these n keys. */
static int fc_exact(const json_t *obj, const char *const *keys)
{
    size_t n = 0;
    if (!json_is_object(obj))
        return 0;
    for (; keys[n] != NULL; n++)
        if (json_object_get(obj, keys[n]) == NULL)
            return 0;
    return json_object_size(obj) == n;
}

/* Every element of arr is an object with exactly keys, each value a string or null. */
static int fc_list_of(const json_t *arr, const char *const *keys)
{
    size_t i;
    json_t *e;
    if (!json_is_array(arr))
        return 0;
    json_array_foreach(arr, i, e)
    {
        if (!fc_exact(e, keys))
            return 0;
    }
    return 1;
}

static void fc_titanos(const json_t *d)
{
    static const char *const top[] = {
        "id",      "status",       "source",   "type",        "title",      "original_title",
        "titles",  "alt_titles",   "slug",     "description", "synopses",   "short_description",
        "tagline", "release_year", "premiere", "runtime_s",   "rating",     "genres",
        "network", "cast",         "crew",     "artwork",     "languages",  "availability",
        "series",  "seasons",      "url",      "created_at",  "updated_at", NULL};
    static const char *const str_or_null[] = {
        "source",  "title",  "slug",    "description", "short_description",
        "tagline", "rating", "network", "url",         NULL};
    static const char *const types[] = {"movie", "tv_show", "season", "episode", NULL};
    static const char *const title_keys[] = {"locale", "title", NULL};
    static const char *const synopsis_keys[] = {"locale", "synopsis", NULL};
    static const char *const cast_keys[] = {"name", "character", NULL};
    static const char *const crew_keys[] = {"name", "role", NULL};
    static const char *const art_keys[] = {"type", "url", NULL};
    static const char *const lang_keys[] = {"original", "audio", "subtitles", NULL};
    static const char *const av_keys[] = {"start",  "end", "territories", "territory_policy",
                                          "offers", NULL};
    static const char *const offer_keys[] = {"offer", "delivery_method", "format", "start",
                                             "end",   "territories",     "price",  NULL};
    static const char *const price_keys[] = {"currency", "amount", NULL};
    static const char *const series_keys[] = {"show_id",       "show_title",     "season_id",
                                              "season_number", "episode_number", NULL};
    static const char *const season_keys[] = {
        "id", "title", "premiere", "season_number", "episode_count", "release_year", NULL};
    size_t i;
    json_t *e;

    FUZZ_CHECK(fc_exact(d, top));
    FUZZ_CHECK(fc_str(json_object_get(d, "id")));
    const char *status = json_string_value(json_object_get(d, "status"));
    FUZZ_CHECK(status != NULL &&
               (strcmp(status, "published") == 0 || strcmp(status, "removed") == 0));
    FUZZ_CHECK(fc_in(json_string_value(json_object_get(d, "type")), types));
    FUZZ_CHECK(fc_str(json_object_get(d, "original_title")));
    for (const char *const *k = str_or_null; *k != NULL; k++)
        FUZZ_CHECK(fc_str_or_null(json_object_get(d, *k)));
    FUZZ_CHECK(fc_int_or_null(json_object_get(d, "release_year")));
    FUZZ_CHECK(fc_int_or_null(json_object_get(d, "runtime_s")));
    FUZZ_CHECK(fc_date_or_null(json_object_get(d, "premiere")));
    FUZZ_CHECK(fc_instant(json_object_get(d, "created_at")));
    FUZZ_CHECK(fc_instant(json_object_get(d, "updated_at")));
    FUZZ_CHECK(fc_strings(json_object_get(d, "alt_titles")));
    FUZZ_CHECK(fc_strings(json_object_get(d, "genres")));
    FUZZ_CHECK(fc_list_of(json_object_get(d, "titles"), title_keys));
    json_array_foreach(json_object_get(d, "titles"), i, e)
    {
        FUZZ_CHECK(fc_str(json_object_get(e, "locale")) && fc_str(json_object_get(e, "title")));
    }
    FUZZ_CHECK(fc_list_of(json_object_get(d, "synopses"), synopsis_keys));
    json_array_foreach(json_object_get(d, "synopses"), i, e)
    {
        FUZZ_CHECK(fc_str(json_object_get(e, "locale")) && fc_str(json_object_get(e, "synopsis")));
    }
    FUZZ_CHECK(fc_list_of(json_object_get(d, "cast"), cast_keys));
    FUZZ_CHECK(fc_list_of(json_object_get(d, "crew"), crew_keys));
    FUZZ_CHECK(fc_list_of(json_object_get(d, "artwork"), art_keys));
    FUZZ_CHECK(fc_list_of(json_object_get(d, "seasons"), season_keys));
    json_array_foreach(json_object_get(d, "seasons"), i, e)
    {
        FUZZ_CHECK(fc_int_or_null(json_object_get(e, "season_number")) &&
                   fc_int_or_null(json_object_get(e, "episode_count")) &&
                   fc_int_or_null(json_object_get(e, "release_year")));
    }
    const json_t *langs = json_object_get(d, "languages");
    FUZZ_CHECK(fc_exact(langs, lang_keys));
    FUZZ_CHECK(fc_str_or_null(json_object_get(langs, "original")));
    FUZZ_CHECK(fc_strings(json_object_get(langs, "audio")));
    FUZZ_CHECK(fc_strings(json_object_get(langs, "subtitles")));
    const json_t *ser = json_object_get(d, "series");
    FUZZ_CHECK(fc_exact(ser, series_keys));
    FUZZ_CHECK(fc_int_or_null(json_object_get(ser, "season_number")) &&
               fc_int_or_null(json_object_get(ser, "episode_number")));
    const json_t *av = json_object_get(d, "availability");
    FUZZ_CHECK(fc_exact(av, av_keys));
    FUZZ_CHECK(fc_instant_or_null(json_object_get(av, "start")));
    FUZZ_CHECK(fc_instant_or_null(json_object_get(av, "end")));
    FUZZ_CHECK(fc_strings(json_object_get(av, "territories")));
    FUZZ_CHECK(fc_list_of(json_object_get(av, "offers"), offer_keys));
    json_array_foreach(json_object_get(av, "offers"), i, e)
    {
        FUZZ_CHECK(fc_list_of(json_object_get(e, "price"), price_keys));
        FUZZ_CHECK(fc_strings(json_object_get(e, "territories")));
    }
    if (strcmp(status, "removed") == 0)
        FUZZ_CHECK(json_array_size(json_object_get(av, "offers")) == 0 &&
                   json_is_null(json_object_get(av, "start")));
}

static void fc_gwi(const json_t *d)
{
    static const char *const top[] = {"catalog_provider",
                                      "catalog_name",
                                      "catalog_types",
                                      "catalog_period",
                                      "_schema_version",
                                      "items",
                                      NULL};
    static const char *const catalog_types[] = {"movies", "shows", "seasons", "episodes", NULL};
    static const char *const types[] = {"movie", "show", "season", "episode", NULL};
    static const char *const item_keys[] = {"id",
                                            "show_id",
                                            "season_id",
                                            "title",
                                            "locale",
                                            "alt_titles",
                                            "type",
                                            "release_year",
                                            "premiere",
                                            "network",
                                            "description",
                                            "short_description",
                                            "url",
                                            "pg_rating",
                                            "categories",
                                            "runtime",
                                            "contributions",
                                            "artwork",
                                            "language_formats",
                                            "available_formats",
                                            NULL};
    static const char *const art_types[] = {"thumbnail", "poster", "scene", NULL};
    static const char *const methods[] = {"stream", "download", "theatrical",
                                          "mail",   "physical", NULL};
    static const char *const offers[] = {"rent", "buy", "subscription", NULL};
    static const char *const lang_types[] = {"audio", "subtitles", NULL};
    size_t i, j, k;
    json_t *e, *f, *a;

    FUZZ_CHECK(fc_exact(d, top));
    FUZZ_CHECK(fc_str(json_object_get(d, "catalog_provider")));
    FUZZ_CHECK(fc_str(json_object_get(d, "catalog_name")));
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(d, "_schema_version")), "gwi_json_1.1") ==
               0);
    const char *period = json_string_value(json_object_get(d, "catalog_period"));
    FUZZ_CHECK(period != NULL &&
               (strcmp(period, "incremental") == 0 || strcmp(period, "full") == 0));
    json_array_foreach(json_object_get(d, "catalog_types"), i, e)
    {
        FUZZ_CHECK(fc_in(json_string_value(e), catalog_types));
    }
    const json_t *items = json_object_get(d, "items");
    FUZZ_CHECK(json_is_array(items) && json_array_size(items) == 1);
    const json_t *it = json_array_get(items, 0);
    FUZZ_CHECK(json_is_object(it));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)it, key, v)
    {
        FUZZ_CHECK(fc_in(key, item_keys));
        if (strcmp(key, "alt_titles") == 0 || strcmp(key, "categories") == 0)
            FUZZ_CHECK(fc_strings(v));
        else if (strcmp(key, "runtime") == 0)
            FUZZ_CHECK(json_is_integer(v) && json_integer_value(v) >= 0);
        else if (!json_is_array(v))
            FUZZ_CHECK(fc_str(v));
    }
    static const char *const required[] = {"id", "title", "locale", "type", "release_year", NULL};
    for (const char *const *r = required; *r != NULL; r++)
        FUZZ_CHECK(json_object_get(it, *r) != NULL);
    const char *type = json_string_value(json_object_get(it, "type"));
    FUZZ_CHECK(fc_in(type, types));
    FUZZ_CHECK(fc_ll_cc(json_object_get(it, "locale")));
    const char *year = json_string_value(json_object_get(it, "release_year"));
    FUZZ_CHECK(year != NULL && strlen(year) == 4 && strspn(year, "0123456789") == 4);
    if (strcmp(type, "season") == 0 || strcmp(type, "episode") == 0)
        FUZZ_CHECK(json_object_get(it, "premiere") != NULL);
    int director = 0;
    json_array_foreach(json_object_get(it, "contributions"), i, e)
    {
        FUZZ_CHECK(json_object_size(e) == 2 && fc_str(json_object_get(e, "role")) &&
                   fc_str(json_object_get(e, "name")));
        director |= strcmp(json_string_value(json_object_get(e, "role")), "director") == 0;
    }
    if (strcmp(type, "movie") == 0)
        FUZZ_CHECK(director);
    json_array_foreach(json_object_get(it, "artwork"), i, e)
    {
        FUZZ_CHECK(json_object_size(e) == 2 &&
                   fc_in(json_string_value(json_object_get(e, "type")), art_types) &&
                   fc_str(json_object_get(e, "url")));
    }
    json_array_foreach(json_object_get(it, "language_formats"), i, e)
    {
        FUZZ_CHECK(fc_in(json_string_value(json_object_get(e, "type")), lang_types));
    }
    const json_t *formats = json_object_get(it, "available_formats");
    FUZZ_CHECK(json_is_array(formats));
    int all_product_urls = json_array_size(formats) > 0;
    json_array_foreach(formats, i, f)
    {
        FUZZ_CHECK(fc_ll_cc(json_object_get(f, "locale")));
        const json_t *dm = json_object_get(f, "delivery_method");
        FUZZ_CHECK(dm == NULL || fc_in(json_string_value(dm), methods));
        all_product_urls &= fc_str(json_object_get(f, "product_url"));
        const json_t *avs = json_object_get(f, "availabilities");
        FUZZ_CHECK(json_is_array(avs));
        json_array_foreach(avs, j, a)
        {
            const json_t *o = json_object_get(a, "offer"),
                         *sub = json_object_get(a, "subscription_required");
            FUZZ_CHECK(o == NULL || fc_in(json_string_value(o), offers));
            FUZZ_CHECK(sub == NULL || json_is_boolean(sub));
            json_array_foreach(json_object_get(a, "price"), k, e)
            {
                FUZZ_CHECK(fc_str(json_object_get(e, "currency")) &&
                           fc_str(json_object_get(e, "price")));
            }
        }
    }
    FUZZ_CHECK(json_object_get(it, "url") != NULL || all_product_urls);
}

static void fc_canonical(const json_t *d)
{
    FUZZ_CHECK(fc_str(json_object_get(d, "id")));
    FUZZ_CHECK(json_is_string(json_object_get(d, "source")));
    FUZZ_CHECK(fc_str_or_null(json_object_get(d, "type")));
    FUZZ_CHECK(fc_str(json_object_get(d, "status")));
}

/* Aborts when doc, rendered for a target of format fmt, breaks its format's structure. */
static void fmt_check_document(enum target_format fmt, const json_t *doc)
{
    switch (fmt) {
    case FORMAT_CANONICAL:
        fc_canonical(doc);
        break;
    case FORMAT_GWI_JSON_1_1:
        fc_gwi(doc);
        break;
    case FORMAT_TITANOS:
        fc_titanos(doc);
        break;
    }
}
