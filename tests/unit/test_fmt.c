/* handlers/fmt*.c: the three output formats (README, "Formats"), rendered from titles that
 * cms_normalize() built from the fixtures. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "handlers/cms.h"
#include "handlers/fmt.h"
#include "queue/catalog.h"
#include "tests/unit/unit_fixture.h"

static struct source encora = {
    .name = "encora",
    .kind = SOURCE_ENCORASTREAM,
    .web_url = "https://watch.example.com/{type}s/{slug}",
    .api_base_url = "https://cms.example.com/v2",
};
/* Episodes have no slug: a template on the id gives them a deep link. */
static struct source encora_by_id = {
    .name = "encora",
    .kind = SOURCE_ENCORASTREAM,
    .web_url = "https://watch.example.com/{type}s/{id}",
    .api_base_url = "https://cms.example.com/v2",
};
static struct source movida = {
    .name = "movida",
    .kind = SOURCE_MOVIDA,
    .api_base_url = "https://movida.example.com/api",
};
static struct target gwi = {
    .name = "gowatchit",
    .format = FORMAT_GWI_JSON_1_1,
    .catalog_provider = "Example Media",
    .catalog_name = "example-vod",
    .catalog_locale = "en_US",
};
static struct target titanos = {.name = "titanos", .format = FORMAT_TITANOS};
static struct target canonical = {.name = "archive", .format = FORMAT_CANONICAL};

#define STR(obj, key) json_string_value(json_object_get((obj), (key)))

/* Every render of this file goes through these: with RELAY_RENDER_DIR set (the schema
 * test, tests/integration/test_schemas.py, runs this binary so) each document rendered is also
 * written there as <format>-<n>.json, to be validated against tests/schemas/. */
static json_t *render_ctx(const struct target *t, const json_t *title, const struct fmt_ctx *ctx,
                          char *err, size_t errlen)
{
    static const char *const names[] = {"canonical", "gwi_json_1.1", "titanos"};
    static int seq;
    json_t *doc = fmt_render_ctx(t, title, ctx, err, errlen);
    const char *dir = getenv("RELAY_RENDER_DIR");
    if (doc != NULL && dir != NULL && (unsigned)t->format < 3) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s-%03d.json", dir, names[t->format], seq++);
        if (json_dump_file(doc, path, JSON_INDENT(1)) != 0)
            fail_msg("cannot write %s", path);
    }
    return doc;
}

static json_t *render(const struct target *t, const json_t *title, int unpublish, char *err,
                      size_t errlen)
{
    const struct fmt_ctx ctx = {.unpublish = unpublish};
    return render_ctx(t, title, &ctx, err, errlen);
}

static json_t *title_of(const struct source *src, struct cms_ref ref, const char *f1,
                        const char *f2)
{
    json_t *bodies[2] = {fixture_load(f1), f2 != NULL ? fixture_load(f2) : NULL};
    char err[256] = "";
    json_t *t = cms_normalize(src, &ref, bodies, f2 != NULL ? 2 : 1, err, sizeof(err));
    if (t == NULL)
        fail_msg("normalize %s: %s", f1, err);
    json_decref(bodies[0]);
    json_decref(bodies[1]);
    return t;
}

static json_t *encora_movie(void)
{
    return title_of(&encora,
                    (struct cms_ref){"movie", "497f6eca-6276-4993-bfeb-53cbbbba6f08", NULL, -1, -1},
                    "encorastream/movie.json", NULL);
}

static json_t *encora_episode(void)
{
    return title_of(&encora_by_id,
                    (struct cms_ref){"episode", "a7a26ff2-e851-45b6-9634-d595f45458b7",
                                     "503c9125-a11a-4f69-b904-e679735399e2", 1, 2},
                    "encorastream/episode.json", "encorastream/show.json");
}

static json_t *movida_feature(void)
{
    return title_of(&movida, (struct cms_ref){NULL, "30391", NULL, -1, -1},
                    "movida/title-feature.json", NULL);
}

static void assert_str(const json_t *obj, const char *key, const char *want)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("%s: not a string", key);
    assert_string_equal(json_string_value(v), want);
}

/* obj has exactly these keys. */
static void assert_keys(const json_t *obj, const char *const *keys)
{
    size_t n = 0;
    assert_true(json_is_object(obj));
    for (; keys[n] != NULL; n++)
        if (json_object_get(obj, keys[n]) == NULL)
            fail_msg("missing key %s", keys[n]);
    if (json_object_size(obj) != n) {
        char *dump = json_dumps(obj, JSON_SORT_KEYS);
        fail_msg("expected %zu keys, got %zu: %s", n, json_object_size(obj), dump);
    }
}

static json_t *gwi_item(const json_t *doc)
{
    const json_t *items = json_object_get(doc, "items");
    assert_true(json_is_array(items));
    assert_int_equal(json_array_size(items), 1);
    return json_array_get(items, 0);
}

/* ---- gwi_json_1.1 ---- */

static void test_gwi_movie(void **state)
{
    json_t *t = encora_movie();
    char err[256] = "";
    json_t *doc = render(&gwi, t, 0, err, sizeof(err));
    if (doc == NULL)
        fail_msg("%s", err);

    static const char *const doc_keys[] = {"catalog_provider",
                                           "catalog_name",
                                           "catalog_types",
                                           "catalog_period",
                                           "_schema_version",
                                           "items",
                                           NULL};
    assert_keys(doc, doc_keys);
    assert_str(doc, "catalog_provider", "Example Media");
    assert_str(doc, "catalog_name", "example-vod");
    const json_t *types = json_object_get(doc, "catalog_types");
    assert_int_equal(json_array_size(types), 1);
    assert_string_equal(json_string_value(json_array_get(types, 0)), "movies");
    assert_str(doc, "catalog_period", "incremental");
    assert_str(doc, "_schema_version", "gwi_json_1.1");

    const json_t *item = gwi_item(doc);
    static const char *const item_keys[] = {"id",
                                            "title",
                                            "locale",
                                            "type",
                                            "release_year",
                                            "description",
                                            "url",
                                            "pg_rating",
                                            "categories",
                                            "runtime",
                                            "contributions",
                                            "artwork",
                                            "language_formats",
                                            "available_formats",
                                            NULL};
    assert_keys(item, item_keys);
    assert_str(item, "id", "497f6eca-6276-4993-bfeb-53cbbbba6f08");
    assert_str(item, "title", "La Casa de las Flores: La Película");
    assert_str(item, "locale", "en_US");
    assert_str(item, "type", "movie");
    assert_str(item, "release_year", "2021"); /* String per the spec */
    assert_str(item, "description",
               "Tras la muerte de su madre, los hermanos de la Mora se "
               "reúnen para recuperar la casa familiar.");
    assert_str(item, "url", "https://watch.example.com/movies/la-casa-de-las-flores-la-pelicula");
    assert_str(item, "pg_rating", "TV-14");
    const json_t *cats = json_object_get(item, "categories");
    assert_int_equal(json_array_size(cats), 2);
    assert_string_equal(json_string_value(json_array_get(cats, 0)), "comedy");
    assert_string_equal(json_string_value(json_array_get(cats, 1)), "drama");
    const json_t *runtime = json_object_get(item, "runtime");
    assert_true(json_is_integer(runtime)); /* Integer seconds */
    assert_int_equal(json_integer_value(runtime), 5640);

    const json_t *contrib = json_object_get(item, "contributions");
    static const char *const pair_keys[] = {"role", "name", NULL};
    static const char *const want_contrib[][2] = {{"director", "Manolo Caro"},
                                                  {"cast", "Cecilia Suárez"},
                                                  {"cast", "Aislinn Derbez"},
                                                  {"cast", "Darío Yazbek Bernal"}};
    assert_int_equal(json_array_size(contrib), 4);
    for (size_t i = 0; i < 4; i++) {
        const json_t *c = json_array_get(contrib, i);
        assert_keys(c, pair_keys);
        assert_str(c, "role", want_contrib[i][0]);
        assert_str(c, "name", want_contrib[i][1]);
    }

    /* poster, backdrop → scene, thumbnail; the logo has no GoWatchIt art type. */
    const json_t *art = json_object_get(item, "artwork");
    static const char *const art_keys[] = {"type", "url", NULL};
    static const char *const want_art[][2] = {
        {"poster", "https://cdn.encorastream.example/img/497f6eca/poster-2x3.jpg"},
        {"scene", "https://cdn.encorastream.example/img/497f6eca/backdrop-16x9.jpg"},
        {"thumbnail", "https://cdn.encorastream.example/img/497f6eca/thumb-16x9.jpg"}};
    assert_int_equal(json_array_size(art), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_keys(json_array_get(art, i), art_keys);
        assert_str(json_array_get(art, i), "type", want_art[i][0]);
        assert_str(json_array_get(art, i), "url", want_art[i][1]);
    }

    const json_t *lf = json_object_get(item, "language_formats");
    static const char *const lf_keys[] = {"type", "label", "code", NULL};
    static const char *const want_lf[][3] = {{"audio", "Spanish (MX)", "es"},
                                             {"audio", "English (US)", "en"},
                                             {"subtitles", "English (US)", "en"},
                                             {"subtitles", "Portuguese (BR)", "pt"}};
    assert_int_equal(json_array_size(lf), 4);
    for (size_t i = 0; i < 4; i++) {
        const json_t *l = json_array_get(lf, i);
        assert_keys(l, lf_keys);
        assert_str(l, "type", want_lf[i][0]);
        assert_str(l, "label", want_lf[i][1]);
        assert_str(l, "code", want_lf[i][2]);
    }

    const json_t *af = json_object_get(item, "available_formats");
    assert_int_equal(json_array_size(af), 1);
    const json_t *f = json_array_get(af, 0);
    static const char *const f_keys[] = {"locale", "delivery_method", "product_url",
                                         "availabilities", NULL};
    assert_keys(f, f_keys);
    assert_str(f, "locale", "en_US");
    assert_str(f, "delivery_method", "stream");
    assert_str(f, "product_url",
               "https://watch.example.com/movies/la-casa-de-las-flores-la-pelicula");
    const json_t *avs = json_object_get(f, "availabilities");
    assert_int_equal(json_array_size(avs), 1);
    const json_t *a = json_array_get(avs, 0);
    static const char *const a_keys[] = {"offer", "start", "end", "subscription_required", NULL};
    assert_keys(a, a_keys);
    assert_str(a, "offer", "subscription");
    assert_str(a, "start", "2026-11-20T00:00:00Z");
    assert_str(a, "end", "2027-11-19T23:59:59Z");
    assert_true(json_is_true(json_object_get(a, "subscription_required"))); /* Boolean */

    json_decref(doc);
    json_decref(t);
}

static void test_gwi_movida_offers(void **state)
{
    json_t *t = movida_feature();
    char err[256] = "";
    json_t *doc = render(&gwi, t, 0, err, sizeof(err));
    if (doc == NULL)
        fail_msg("%s", err);
    const json_t *item = gwi_item(doc);
    const json_t *alt = json_object_get(item, "alt_titles");
    assert_int_equal(json_array_size(alt), 1);
    assert_string_equal(json_string_value(json_array_get(alt, 0)), "Green Lantern");
    assert_str(item, "short_description", "A test pilot becomes an intergalactic hero.");
    assert_str(item, "premiere", "2011-06-17");
    assert_str(item, "release_year", "2011");
    assert_int_equal(json_integer_value(json_object_get(item, "runtime")), 6840);
    /* Code only: "en" has a name, but no region. */
    const json_t *lf = json_object_get(item, "language_formats");
    assert_null(lf); /* Movida gives the original language only, no audio/subtitle tracks */

    /* Both windows are stream/hd: one format, two availabilities. */
    const json_t *af = json_object_get(item, "available_formats");
    assert_int_equal(json_array_size(af), 1);
    const json_t *f = json_array_get(af, 0);
    assert_str(f, "delivery_method", "stream");
    assert_str(f, "format", "hd");
    assert_str(f, "product_url", "https://watch.example.com/movies/the-green-lantern");
    const json_t *avs = json_object_get(f, "availabilities");
    assert_int_equal(json_array_size(avs), 2);
    const json_t *rent = json_array_get(avs, 1);
    assert_str(rent, "offer", "rent");
    assert_true(json_is_false(json_object_get(rent, "subscription_required")));
    assert_null(json_object_get(rent, "end"));
    const json_t *price = json_array_get(json_object_get(rent, "price"), 0);
    static const char *const p_keys[] = {"currency", "price", NULL};
    assert_keys(price, p_keys);
    assert_str(price, "currency", "USD");
    assert_str(price, "price", "3.99");
    assert_null(json_object_get(json_array_get(avs, 0), "price"));
    json_decref(doc);
    json_decref(t);
}

static void test_gwi_episode_and_show(void **state)
{
    json_t *t = encora_episode();
    char err[256] = "";
    json_t *doc = render(&gwi, t, 0, err, sizeof(err));
    if (doc == NULL)
        fail_msg("%s", err);
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "catalog_types"), 0)),
                        "episodes");
    const json_t *item = gwi_item(doc);
    assert_str(item, "type", "episode");
    assert_str(item, "show_id", "503c9125-a11a-4f69-b904-e679735399e2");
    assert_str(item, "season_id", "3e93eb58-18e4-4960-a483-d51daf6cd6fd");
    assert_str(item, "title", "Die Probe");
    assert_str(item, "premiere", "2026-03-13");
    assert_str(item, "release_year", "2026");
    assert_str(item, "network", "EncoraStream Originals");
    assert_str(item, "url",
               "https://watch.example.com/episodes/a7a26ff2-e851-45b6-9634-d595f45458b7");
    assert_int_equal(json_integer_value(json_object_get(item, "runtime")), 2820);
    const json_t *c0 = json_array_get(json_object_get(item, "contributions"), 0);
    assert_str(c0, "role", "creator");
    assert_str(c0, "name", "Ido Fluk");
    const json_t *a = json_array_get(
        json_object_get(json_array_get(json_object_get(item, "available_formats"), 0),
                        "availabilities"),
        0);
    assert_str(a, "start", "2026-03-13T00:00:00Z");
    assert_null(json_object_get(a, "end"));
    json_decref(doc);
    json_decref(t);

    json_t *show = title_of(&encora, (struct cms_ref){"show", "503c9125", NULL, -1, -1},
                            "encorastream/show.json", "encorastream/seasons.json");
    doc = render(&gwi, show, 0, err, sizeof(err));
    if (doc == NULL)
        fail_msg("%s", err);
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "catalog_types"), 0)),
                        "shows");
    item = gwi_item(doc);
    assert_str(item, "type", "show");
    assert_str(item, "title", "Köln 75");
    assert_str(item, "url", "https://watch.example.com/shows/koln-75");
    assert_str(item, "premiere", "2026-03-06");
    json_decref(doc);
    json_decref(show);
}

static void test_gwi_validation_failed(void **state)
{
    char err[256] = "";
    /* Nothing but the keys every title has. */
    json_t *bare = json_pack("{s:s, s:s, s:s, s:s}", "id", "m1", "source", "encora", "type",
                             "movie", "status", "published");
    assert_null(render(&gwi, bare, 0, err, sizeof(err)));
    assert_string_equal(err, "missing: title, release_year, contributions.director, url");

    /* An episode needs a premiere; a director is a movie's requirement only. */
    json_object_set_new(bare, "type", json_string("episode"));
    json_object_set_new(bare, "title", json_string("E1"));
    assert_null(render(&gwi, bare, 0, err, sizeof(err)));
    assert_string_equal(err, "missing: release_year, premiere, url");
    json_object_set_new(bare, "type", json_string("season"));
    assert_null(render(&gwi, bare, 0, err, sizeof(err)));
    assert_string_equal(err, "missing: release_year, premiere, url");
    json_decref(bare);

    /* An Encora episode without its show (no slug to link with) has no deep link. */
    json_t *ep = title_of(&encora, (struct cms_ref){"episode", "a7a26ff2", "503c9125", 1, 2},
                          "encorastream/episode.json", NULL);
    assert_null(render(&gwi, ep, 0, err, sizeof(err)));
    assert_string_equal(err, "missing: url");
    json_decref(ep);

    /* A movie without a director. */
    json_t *m = encora_movie();
    json_object_del(m, "crew");
    json_object_del(m, "release_year");
    assert_null(render(&gwi, m, 0, err, sizeof(err)));
    assert_string_equal(err, "missing: release_year, contributions.director");
    json_decref(m);

    /* The url may instead be on every available format: the spec's product_url. */
    m = encora_movie();
    json_object_del(m, "url");
    assert_null(render(&gwi, m, 0, err, sizeof(err)));
    assert_string_equal(err, "missing: url");
    json_decref(m);

    assert_null(render(&gwi, NULL, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "missing: id"));
}

static void test_gwi_tombstone(void **state)
{
    char err[256] = "";

    /* The removal is the complete item as last delivered, with "available_formats": []. */
    json_t *t = encora_movie();
    json_t *pub = render(&gwi, t, 0, err, sizeof(err));
    json_t *doc = render(&gwi, t, 1, err, sizeof(err));
    if (pub == NULL || doc == NULL)
        fail_msg("render refused: %s", err);
    assert_str(doc, "_schema_version", "gwi_json_1.1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "catalog_types"), 0)),
                        "movies");
    json_t *item = json_copy(gwi_item(doc)), *was = json_copy(gwi_item(pub));
    const json_t *af = json_object_get(item, "available_formats");
    assert_true(json_is_array(af));
    assert_int_equal(json_array_size(af), 0);
    assert_true(json_array_size(json_object_get(was, "available_formats")) > 0);
    json_object_del(item, "available_formats");
    json_object_del(was, "available_formats");
    assert_true(json_equal(item, was));
    assert_str(item, "title", "La Casa de las Flores: La Película");
    json_decref(item);
    json_decref(was);
    json_decref(doc);
    json_decref(pub);
    json_decref(t);

    /* An episode's removal too (its url from the show's slug). */
    t = title_of(&encora,
                 (struct cms_ref){"episode", "a7a26ff2-e851-45b6-9634-d595f45458b7",
                                  "503c9125-a11a-4f69-b904-e679735399e2", 1, 2},
                 "encorastream/episode.json", "encorastream/show.json");
    doc = render(&gwi, t, 1, err, sizeof(err));
    if (doc == NULL)
        fail_msg("episode removal refused: %s", err);
    assert_str(gwi_item(doc), "url", "https://watch.example.com/episodes/koln-75");
    assert_str(gwi_item(doc), "premiere", "2026-03-13");
    assert_int_equal(json_array_size(json_object_get(gwi_item(doc), "available_formats")), 0);
    json_decref(doc);
    json_decref(t);

    /* A bare tombstone is no valid item: GoWatchIt needs title, release_year, a director and
     * a url on every item, removals included. The worker renders removals from the title. */
    struct cms_ref ref = {"movie", "497f6eca-6276-4993-bfeb-53cbbbba6f08", NULL, -1, -1};
    t = cms_tombstone(&encora, &ref);
    assert_null(render(&gwi, t, 1, err, sizeof(err)));
    assert_string_equal(err, "missing: title, release_year, contributions.director, url");
    json_decref(t);
    struct cms_ref mref = {NULL, "73", NULL, -1, -1};
    t = cms_tombstone(&movida, &mref);
    assert_null(render(&gwi, t, 1, err, sizeof(err)));
    assert_string_equal(err, "missing: title, type, release_year, url");
    json_decref(t);

    /* Which targets need the full title for an unpublish. */
    struct target del = gwi;
    del.unpublish = UNPUBLISH_DELETE;
    assert_true(fmt_removal_needs_title(&gwi));
    assert_true(fmt_removal_needs_title(&titanos));
    assert_false(fmt_removal_needs_title(&canonical));
    assert_false(fmt_removal_needs_title(&del));
    assert_false(fmt_removal_needs_title(NULL));
}

/* ---- titanos ---- */

/* a and b have the same keys at every level (the first element of each list stands for
 * its elements; an empty list has no structure to compare). */
static void assert_same_shape(const json_t *a, const json_t *b, const char *path)
{
    const char *key;
    json_t *va;

    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            fail_msg("%s: %zu vs %zu keys", path, json_object_size(a), json_object_size(b));
        json_object_foreach((json_t *)a, key, va)
        {
            const json_t *vb = json_object_get(b, key);
            if (vb == NULL)
                fail_msg("%s.%s: missing", path, key);
            char sub[256];
            snprintf(sub, sizeof(sub), "%s.%s", path, key);
            if (json_is_array(va) != json_is_array(vb) && !json_is_null(va) && !json_is_null(vb))
                fail_msg("%s: list vs not", sub);
            if (json_is_object(va) != json_is_object(vb) && !json_is_null(va) && !json_is_null(vb))
                fail_msg("%s: object vs not", sub);
            assert_same_shape(va, vb, sub);
        }
    } else if (json_is_array(a) && json_is_array(b) && json_array_size(a) > 0 &&
               json_array_size(b) > 0) {
        assert_same_shape(json_array_get(a, 0), json_array_get(b, 0), path);
    }
}

static const char *const TITANOS_KEYS[] = {"id",          "status",
                                           "source",      "type",
                                           "title",       "original_title",
                                           "alt_titles",  "slug",
                                           "description", "short_description",
                                           "tagline",     "release_year",
                                           "premiere",    "runtime_s",
                                           "rating",      "genres",
                                           "network",     "cast",
                                           "crew",        "artwork",
                                           "languages",   "availability",
                                           "series",      "seasons",
                                           "url",         "updated_at",
                                           "created_at",  "titles",
                                           "synopses",    NULL};

static void test_titanos_shape(void **state)
{
    char err[256] = "";
    json_t *movie = encora_movie(), *ep = encora_episode(), *mov = movida_feature();
    json_t *movida_ep = title_of(&movida, (struct cms_ref){NULL, "73", NULL, -1, -1},
                                 "movida/title-episode.json", "movida/title-group-series.json");
    struct cms_ref ref = {"movie", "497f6eca", NULL, -1, -1};
    json_t *tomb = cms_tombstone(&encora, &ref);

    json_t *r_movie = render(&titanos, movie, 0, err, sizeof(err));
    json_t *r_ep = render(&titanos, ep, 0, err, sizeof(err));
    json_t *r_mov = render(&titanos, mov, 0, err, sizeof(err));
    json_t *r_mep = render(&titanos, movida_ep, 0, err, sizeof(err));
    /* A bare tombstone has no type or title: no valid removal (rendered from the title). */
    assert_null(render(&titanos, tomb, 1, err, sizeof(err)));
    assert_string_equal(err, "missing: title");
    json_t *r_tomb = render(&titanos, mov, 1, err, sizeof(err));
    assert_non_null(r_movie);
    assert_non_null(r_ep);
    assert_non_null(r_mov);
    assert_non_null(r_mep);
    assert_non_null(r_tomb);

    assert_keys(r_movie, TITANOS_KEYS);
    static const char *const lang_keys[] = {"original", "audio", "subtitles", NULL};
    static const char *const av_keys[] = {"start",  "end", "territories", "territory_policy",
                                          "offers", NULL};
    static const char *const series_keys[] = {"show_id",       "show_title",     "season_id",
                                              "season_number", "episode_number", NULL};
    const json_t *all[] = {r_movie, r_ep, r_mov, r_mep, r_tomb};
    for (size_t i = 0; i < 5; i++) {
        assert_keys(all[i], TITANOS_KEYS);
        assert_keys(json_object_get(all[i], "languages"), lang_keys);
        assert_keys(json_object_get(all[i], "availability"), av_keys);
        assert_keys(json_object_get(all[i], "series"), series_keys);
        for (size_t j = 0; j < 5; j++)
            assert_same_shape(all[i], all[j], "$");
    }
    /* Offers of Encora and Movida look alike too (Movida's carries format and price). */
    static const char *const offer_keys[] = {"offer", "delivery_method", "format", "start",
                                             "end",   "territories",     "price",  NULL};
    assert_keys(
        json_array_get(json_object_get(json_object_get(r_movie, "availability"), "offers"), 0),
        offer_keys);
    assert_keys(
        json_array_get(json_object_get(json_object_get(r_mov, "availability"), "offers"), 1),
        offer_keys);

    /* Values: absent → null or [], present → as in the canonical title. */
    assert_str(r_movie, "status", "published");
    assert_str(r_movie, "title", "La Casa de las Flores: La Película");
    assert_int_equal(json_integer_value(json_object_get(r_movie, "runtime_s")), 5640);
    assert_true(json_is_null(json_object_get(r_movie, "network")));
    assert_true(json_is_null(json_object_get(json_object_get(r_movie, "series"), "show_id")));
    assert_int_equal(json_array_size(json_object_get(r_movie, "seasons")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r_ep, "series"), "episode_number")), 2);
    assert_true(json_is_null(json_object_get(
        json_array_get(json_object_get(json_object_get(r_ep, "availability"), "offers"), 0),
        "end")));

    assert_str(r_tomb, "id", "30391");
    assert_str(r_tomb, "status", "removed");
    assert_true(json_is_null(json_object_get(json_object_get(r_tomb, "availability"), "start")));
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(r_tomb, "availability"), "territories")),
        0);
    /* A full title sent as removal offers nothing any more. */
    json_t *r_gone = render(&titanos, movie, 1, err, sizeof(err));
    assert_str(r_gone, "status", "removed");
    assert_str(r_gone, "title", "La Casa de las Flores: La Película");
    assert_int_equal(
        json_array_size(json_object_get(json_object_get(r_gone, "availability"), "offers")), 0);
    assert_same_shape(r_gone, r_movie, "$");

    json_t *decoded = json_pack("{s:i}", "id", 5);
    assert_null(render(&titanos, decoded, 0, err, sizeof(err)));
    assert_string_equal(err, "missing: id, type, title");
    json_decref(decoded);

    json_t *objs[] = {movie, ep, mov, movida_ep, tomb, r_movie, r_ep, r_mov, r_mep, r_tomb, r_gone};
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
        json_decref(objs[i]);
}

/* ---- canonical ---- */

static void test_canonical(void **state)
{
    char err[256] = "";
    json_t *t = movida_feature();
    json_t *out = render(&canonical, t, 0, err, sizeof(err));
    assert_non_null(out);
    assert_true(out != t);
    assert_true(json_equal(out, t));
    json_decref(out);

    out = render(&canonical, t, 1, err, sizeof(err));
    assert_str(out, "status", "unpublished");
    assert_str(t, "status", "published"); /* the shared title is untouched */
    json_decref(out);
    json_decref(t);

    struct cms_ref ref = {"episode", "e1", "s1", 1, 2};
    t = cms_tombstone(&encora, &ref);
    out = render(&canonical, t, 1, err, sizeof(err));
    assert_true(json_equal(out, t));
    assert_str(out, "status", "unpublished");
    json_decref(out);
    json_decref(t);
}

/* The Standard Schema rows: created_at, updated_at, type, original_title, titles, synopses. */
static void test_titanos_schema_rows(void **state)
{
    char err[256] = "";
    json_t *movie = encora_movie(), *mov = movida_feature();
    json_t *show = title_of(&encora, (struct cms_ref){"show", "503c", NULL, -1, -1},
                            "encorastream/show.json", "encorastream/seasons.json");

    /* EncoraStream gives both times: the CMS's win over the event's. */
    struct fmt_ctx ctx = {.event_at = "2030-01-01T00:00:00Z", .first_seen = "2029-01-01T00:00:00Z"};
    json_t *r = render_ctx(&titanos, movie, &ctx, err, sizeof(err));
    assert_non_null(r);
    assert_str(r, "type", "movie");
    assert_str(r, "created_at", "2026-10-02T09:12:44Z");
    assert_str(r, "updated_at", "2026-11-20T09:58:01Z");
    /* No catalog.locale and no original language: the first audio language, the texts as
     * the CMS has them. */
    const json_t *tt = json_object_get(r, "titles");
    assert_int_equal(json_array_size(tt), 1);
    assert_str(json_array_get(tt, 0), "locale", "es-MX");
    assert_str(json_array_get(tt, 0), "title", "La Casa de las Flores: La Película");
    const json_t *sy = json_object_get(r, "synopses");
    assert_int_equal(json_array_size(sy), 1);
    assert_str(json_array_get(sy, 0), "locale", "es-MX");
    assert_str(json_array_get(sy, 0), "synopsis", STR(movie, "description"));
    json_decref(r);

    /* Shows are tv_show; catalog.locale, when set, is the texts' locale. */
    struct target de = titanos;
    de.catalog_locale = "de_DE";
    r = render_ctx(&de, show, &ctx, err, sizeof(err));
    assert_non_null(r);
    assert_str(r, "type", "tv_show");
    assert_str(json_array_get(json_object_get(r, "titles"), 0), "locale", "de_DE");
    assert_str(json_array_get(json_object_get(r, "synopses"), 0), "locale", "de_DE");
    json_decref(r);

    /* Movida has neither time: updated_at is the event's, created_at the first sighting, and
     * a later update or the removal keeps that created_at. No original title: the title. */
    r = render_ctx(&titanos, mov, &ctx, err, sizeof(err));
    assert_non_null(r);
    assert_str(r, "created_at", "2029-01-01T00:00:00Z");
    assert_str(r, "updated_at", "2030-01-01T00:00:00Z");
    json_decref(r);
    struct fmt_ctx later = {.event_at = "2031-05-05T00:00:00Z",
                            .first_seen = "2029-01-01T00:00:00Z"};
    r = render_ctx(&titanos, mov, &later, err, sizeof(err));
    assert_str(r, "created_at", "2029-01-01T00:00:00Z");
    assert_str(r, "updated_at", "2031-05-05T00:00:00Z");
    json_decref(r);
    later.unpublish = 1;
    r = render_ctx(&titanos, mov, &later, err, sizeof(err));
    assert_str(r, "status", "removed");
    assert_str(r, "created_at", "2029-01-01T00:00:00Z");
    json_decref(r);
    /* The caller's title is not changed by the context. */
    assert_null(json_object_get(mov, "created_at"));
    assert_null(json_object_get(mov, "updated_at"));
    /* Context times are written the relay's one way, whatever spelling the worker passed. */
    struct fmt_ctx spelled = {.event_at = "2031-05-05T02:00:00.250+02:00",
                              .first_seen = "2029-01-01t00:00:00z"};
    r = render_ctx(&titanos, mov, &spelled, err, sizeof(err));
    assert_str(r, "updated_at", "2031-05-05T00:00:00Z");
    json_decref(r);
    /* A malformed context time is ignored, never copied. */
    struct fmt_ctx bad = {.event_at = "yesterday", .first_seen = "2029-13-45T00:00:00Z"};
    r = render_ctx(&titanos, mov, &bad, err, sizeof(err));
    assert_string_not_equal(STR(r, "updated_at"), "yesterday");
    assert_string_equal(STR(r, "created_at"), STR(r, "updated_at"));
    json_decref(r);

    /* original_title: the title when the CMS names none; titles add the original in its
     * own language when it differs. */
    json_t *m2 = json_deep_copy(mov);
    json_object_del(m2, "original_title");
    r = render(&titanos, m2, 0, err, sizeof(err));
    assert_str(r, "original_title", STR(m2, "title"));
    json_decref(r);
    json_object_set_new(m2, "original_title", json_string("El Original"));
    json_object_set_new(m2, "languages", json_pack("{s:s}", "original", "es"));
    r = render(&de, m2, 0, err, sizeof(err));
    assert_str(r, "original_title", "El Original");
    tt = json_object_get(r, "titles");
    assert_int_equal(json_array_size(tt), 2);
    assert_str(json_array_get(tt, 1), "locale", "es");
    assert_str(json_array_get(tt, 1), "title", "El Original");
    json_decref(r);
    /* Nothing known about the language: "und". */
    json_object_del(m2, "languages");
    r = render(&titanos, m2, 0, err, sizeof(err));
    assert_str(json_array_get(json_object_get(r, "titles"), 0), "locale", "und");
    json_decref(r);
    json_decref(m2);

    json_decref(show);
    json_decref(mov);
    json_decref(movie);
}

/* Values outside the table's lists never go out; catalog.locale becomes ll_CC. */
static void test_gwi_values(void **state)
{
    char err[256] = "";
    json_t *t = encora_movie();
    json_t *offers = json_object_get(json_object_get(t, "availability"), "offers");
    json_array_append_new(
        offers, json_pack("{s:s, s:s}", "offer", "svod", "delivery_method", "_theatrical"));
    json_array_append_new(offers,
                          json_pack("{s:s, s:s}", "offer", "free", "delivery_method", "satellite"));
    struct target tg = gwi;
    tg.catalog_locale = "EN-gb";
    json_t *doc = render(&tg, t, 0, err, sizeof(err));
    if (doc == NULL)
        fail_msg("render refused: %s", err);
    const json_t *item = gwi_item(doc);
    assert_str(item, "locale", "en_GB");
    const json_t *af = json_object_get(item, "available_formats");
    assert_int_equal(json_array_size(af), 3);
    assert_str(json_array_get(af, 0), "delivery_method", "stream");
    assert_str(json_array_get(af, 1), "delivery_method", "theatrical");
    assert_str(json_array_get(af, 1), "locale", "en_GB");
    const json_t *av = json_array_get(json_object_get(json_array_get(af, 1), "availabilities"), 0);
    assert_str(av, "offer", "subscription");
    /* Neither value is GoWatchIt's: both left out, the availability kept. */
    assert_null(json_object_get(json_array_get(af, 2), "delivery_method"));
    av = json_array_get(json_object_get(json_array_get(af, 2), "availabilities"), 0);
    assert_null(json_object_get(av, "offer"));
    json_decref(doc);

    tg.catalog_locale = "english";
    assert_null(render(&tg, t, 0, err, sizeof(err)));
    assert_string_equal(err, "invalid: catalog.locale is not ll_CC (en_US)");
    tg.catalog_locale = "e1_US";
    assert_null(render(&tg, t, 0, err, sizeof(err)));
    json_decref(t);
}

/* fmt_dump() and fmt_body() write what json_dumps(JSON_COMPACT) writes, byte for byte. */
static void assert_same_text(json_t *doc, const struct target *t)
{
    char *want = json_dumps(doc, JSON_COMPACT);
    size_t len = 0;
    char *got = fmt_dump(doc, &len);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    if (t != NULL) {
        char *item = fmt_dump(catalog_title_doc(t->format, doc), NULL);
        assert_non_null(item);
        char *body = fmt_body(t, doc, item, &len);
        assert_non_null(body);
        assert_string_equal(body, want);
        assert_int_equal(len, strlen(want));
        /* doc is left as it was */
        char *again = json_dumps(doc, JSON_COMPACT);
        assert_string_equal(again, want);
        free(again);
        free(body);
        free(item);
    }
    free(got);
    free(want);
}

static void test_dump_matches_jansson(void **state)
{
    json_t *doc = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:b,s:b,s:n,s:{},s:[],s:[{}]}",
                            "plain", "abc", "escapes", "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f", "utf8",
                            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac", "zero", (json_int_t)0,
                            "min", (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX, "real", 1.5,
                            "big", 1e300, "small", -2.5e-7, "t", 1, "f", 0, "null", "o", "a", "ao");
    assert_non_null(doc);
    json_object_set_new(doc, "nul", json_stringn("a\0b", 3));
    json_object_set_new(doc, "", json_string("empty key"));
    json_object_set_new(doc, "k\"ey\n", json_string(""));
    assert_same_text(doc, NULL);
    assert_same_text(json_object_get(doc, "o"), NULL);
    json_decref(doc);

    /* text that is not UTF-8 fails, as in Jansson */
    json_t *bad = json_stringn_nocheck("\xc3\x28", 2);
    assert_null(fmt_dump(bad, NULL));
    assert_null(json_dumps(bad, JSON_COMPACT | JSON_ENCODE_ANY));
    json_decref(bad);
}

/* Every fixture title renders in every format, published and removed (the schema test
 * validates what this writes), and the worker's writer gives the same text as Jansson's. */
static void test_every_fixture_every_format(void **state)
{
    char err[256] = "";
    json_t *titles[] = {
        encora_movie(),
        encora_episode(),
        movida_feature(),
        title_of(&encora,
                 (struct cms_ref){"show", "503c9125-a11a-4f69-b904-e679735399e2", NULL, -1, -1},
                 "encorastream/show.json", "encorastream/seasons.json"),
        title_of(&encora,
                 (struct cms_ref){"episode", "a7a26ff2-e851-45b6-9634-d595f45458b7",
                                  "503c9125-a11a-4f69-b904-e679735399e2", 1, 2},
                 "encorastream/episode.json", "encorastream/show.json"),
        title_of(&movida, (struct cms_ref){NULL, "73", NULL, -1, -1}, "movida/title-episode.json",
                 "movida/title-group-series.json"),
    };
    const struct target *targets[] = {&gwi, &titanos, &canonical};
    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
        for (size_t k = 0; k < 3; k++)
            for (int unpublish = 0; unpublish < 2; unpublish++) {
                const struct fmt_ctx ctx = {.unpublish = unpublish,
                                            .event_at = "2026-11-20T10:00:00Z",
                                            .first_seen = "2026-11-01T08:00:00Z"};
                json_t *doc = render_ctx(targets[k], titles[i], &ctx, err, sizeof(err));
                if (doc == NULL)
                    fail_msg("title %zu, %s, unpublish %d: %s", i, targets[k]->name, unpublish,
                             err);
                assert_same_text(doc, targets[k]);
                json_decref(doc);
            }
    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
        json_decref(titles[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gwi_movie),
        cmocka_unit_test(test_gwi_movida_offers),
        cmocka_unit_test(test_gwi_episode_and_show),
        cmocka_unit_test(test_gwi_validation_failed),
        cmocka_unit_test(test_gwi_tombstone),
        cmocka_unit_test(test_gwi_values),
        cmocka_unit_test(test_titanos_shape),
        cmocka_unit_test(test_titanos_schema_rows),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_every_fixture_every_format),
        cmocka_unit_test(test_dump_matches_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
