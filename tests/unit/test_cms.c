/* handlers/cms*.c: which URLs are fetched, and how every fixture normalizes into the
 * canonical title (docs/canonical.md). */

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
#include "handlers/cms_internal.h"
#include "handlers/fmt.h"
#include "tests/unit/unit_fixture.h"

static struct source encora = {
    .name = "encora",
    .kind = SOURCE_ENCORASTREAM,
    .web_url = "https://watch.example.com/{type}s/{slug}",
    .api_base_url = "https://cms.example.com/v2",
};
static struct source movida = {
    .name = "movida",
    .kind = SOURCE_MOVIDA,
    .api_base_url = "https://movida.example.com/api",
};

static void assert_url(char *got, const char *want)
{
    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

#define STR(obj, key) json_string_value(json_object_get((obj), (key)))
#define INT(obj, key) json_integer_value(json_object_get((obj), (key)))

static void assert_str(const json_t *obj, const char *key, const char *want)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("%s: not a string", key);
    assert_string_equal(json_string_value(v), want);
}

static void assert_int(const json_t *obj, const char *key, long long want)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("%s: not an integer", key);
    assert_int_equal(json_integer_value(v), want);
}

static void assert_absent(const json_t *obj, const char *key)
{
    if (json_object_get(obj, key) != NULL)
        fail_msg("%s: present but should be omitted", key);
}

/* arr is a JSON array of exactly the given strings, in order. */
static void assert_strings(const json_t *arr, const char *const *want, size_t n)
{
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(arr, i)), want[i]);
}

static void assert_pair(const json_t *arr, size_t i, const char *k1, const char *v1, const char *k2,
                        const char *v2)
{
    const json_t *e = json_array_get(arr, i);
    assert_true(json_is_object(e));
    assert_str(e, k1, v1);
    if (v2 != NULL)
        assert_str(e, k2, v2);
    else
        assert_absent(e, k2);
}

/* ---- URLs ---- */

static void test_web_url(void **state)
{
    struct source src = {.name = "encora", .kind = SOURCE_ENCORASTREAM};
    struct cms_link ep = {.id = "e/1",
                          .type = "episode",
                          .show_id = "503c",
                          .show_slug = "köln 75",
                          .season_number = 1,
                          .episode_number = 12};

    src.web_url = "https://w.example/{type}s/{slug}";
    /* No slug of its own: the show's, percent-encoded like every value. */
    assert_url(cms_web_url(&src, &ep), "https://w.example/episodes/k%C3%B6ln%2075");
    src.web_url = "https://w.example/shows/{show_slug}/s{season_number}/e{episode_number}?i={id}";
    assert_url(cms_web_url(&src, &ep), "https://w.example/shows/k%C3%B6ln%2075/s1/e12?i=e%2F1");
    src.web_url = "https://w.example/{show_id}/{season_number}x{episode_number}";
    assert_url(cms_web_url(&src, &ep), "https://w.example/503c/1x12");
    /* Its own slug wins over the show's. */
    ep.slug = "the-rehearsal";
    src.web_url = "https://w.example/{type}s/{slug}";
    assert_url(cms_web_url(&src, &ep), "https://w.example/episodes/the-rehearsal");
    /* A placeholder without a value: no url, never a link with a hole. */
    ep.episode_number = -1;
    src.web_url = "https://w.example/{show_slug}/{episode_number}";
    assert_url(cms_web_url(&src, &ep), NULL);
    ep.episode_number = 0; /* episode 0 (a pilot) is a number */
    assert_url(cms_web_url(&src, &ep), "https://w.example/k%C3%B6ln%2075/0");

    /* A show is its own show; a movie has no show and no slug fallback. */
    struct cms_link show = {
        .id = "503c", .slug = "koln-75", .type = "show", .season_number = -1, .episode_number = -1};
    src.web_url = "https://w.example/{show_slug}/{show_id}";
    assert_url(cms_web_url(&src, &show), "https://w.example/koln-75/503c");
    struct cms_link movie = {
        .id = "m1", .type = "movie", .show_slug = "x", .season_number = -1, .episode_number = -1};
    src.web_url = "https://w.example/{type}s/{slug}";
    assert_url(cms_web_url(&src, &movie), NULL);
    src.web_url = "https://w.example/{type}s/{id}";
    assert_url(cms_web_url(&src, &movie), "https://w.example/movies/m1");
    /* An unknown {word} is left as written (config load rejects it). */
    src.web_url = "https://w.example/{nope}/{id}";
    assert_url(cms_web_url(&src, &movie), "https://w.example/{nope}/m1");
    src.web_url = NULL;
    assert_url(cms_web_url(&src, &movie), NULL);

    /* The per-type form: each type its own template; a type without one has no url. */
    char ep_tpl[] = "https://w.example/shows/{show_slug}/season-{season_number}/"
                    "episode-{episode_number}";
    char show_tpl[] = "https://w.example/shows/{slug}";
    src.web_urls[CONTENT_EPISODE] = ep_tpl;
    src.web_urls[CONTENT_SHOW] = show_tpl;
    ep.episode_number = 2;
    assert_url(cms_web_url(&src, &ep), "https://w.example/shows/k%C3%B6ln%2075/season-1/episode-2");
    assert_url(cms_web_url(&src, &show), "https://w.example/shows/koln-75");
    assert_url(cms_web_url(&src, &movie), NULL);
}

static void test_encora_movie_urls(void **state)
{
    struct cms_ref ref = {"movie", "497f6eca-6276-4993-bfeb-53cbbbba6f08", NULL, -1, -1};
    json_t *body = json_object();
    assert_url(cms_next_url(&encora, &ref, NULL, 0),
               "https://cms.example.com/v2/admin/movies/497f6eca-6276-4993-bfeb-53cbbbba6f08");
    assert_url(cms_next_url(&encora, &ref, &body, 1), NULL);

    struct cms_ref odd = {"movie", "a b/../c?d#e", NULL, -1, -1};
    assert_url(cms_next_url(&encora, &odd, NULL, 0),
               "https://cms.example.com/v2/admin/movies/a%20b%2F..%2Fc%3Fd%23e");
    struct cms_ref dots = {"movie", "..", NULL, -1, -1};
    assert_url(cms_next_url(&encora, &dots, NULL, 0),
               "https://cms.example.com/v2/admin/movies/%2E%2E");
    struct cms_ref empty = {"movie", "", NULL, -1, -1};
    assert_url(cms_next_url(&encora, &empty, NULL, 0), NULL);
    struct cms_ref season = {"season", "x", NULL, -1, -1};
    assert_url(cms_next_url(&encora, &season, NULL, 0), NULL);
    json_decref(body);
}

static void test_encora_show_urls(void **state)
{
    struct cms_ref ref = {"show", "503c9125-a11a-4f69-b904-e679735399e2", NULL, -1, -1};
    json_t *bodies[3] = {fixture_load("encorastream/show.json"),
                         fixture_load("encorastream/seasons.json"), NULL};
    assert_url(cms_next_url(&encora, &ref, bodies, 0),
               "https://cms.example.com/v2/admin/shows/503c9125-a11a-4f69-b904-e679735399e2");
    assert_url(cms_next_url(&encora, &ref, bodies, 1),
               "https://cms.example.com/v2/admin/shows/503c9125-a11a-4f69-b904-e679735399e2"
               "/seasons");
    /* meta.next_cursor is null: the list is complete. */
    assert_url(cms_next_url(&encora, &ref, bodies, 2), NULL);
    /* Another page: the cursor is percent-encoded into the query. */
    bodies[2] = json_pack("{s:[], s:{s:s}}", "data", "meta", "next_cursor", "c=1&x/");
    assert_url(cms_next_url(&encora, &ref, bodies, 3),
               "https://cms.example.com/v2/admin/shows/503c9125-a11a-4f69-b904-e679735399e2"
               "/seasons?cursor=c%3D1%26x%2F");
    for (int i = 0; i < 3; i++)
        json_decref(bodies[i]);
}

static void test_encora_episode_urls(void **state)
{
    struct cms_ref ref = {"episode", "a7a26ff2-e851-45b6-9634-d595f45458b7",
                          "503c9125-a11a-4f69-b904-e679735399e2", 1, 2};
    json_t *bodies[2] = {fixture_load("encorastream/episode.json"),
                         fixture_load("encorastream/show.json")};
    assert_url(cms_next_url(&encora, &ref, bodies, 0),
               "https://cms.example.com/v2/admin/shows/503c9125-a11a-4f69-b904-e679735399e2"
               "/seasons/1/episodes/2");
    assert_url(cms_next_url(&encora, &ref, bodies, 1),
               "https://cms.example.com/v2/admin/shows/503c9125-a11a-4f69-b904-e679735399e2");
    assert_url(cms_next_url(&encora, &ref, bodies, 2), NULL);

    struct cms_ref odd = {"episode", "e", "s/1 x", 0, 0};
    assert_url(cms_next_url(&encora, &odd, NULL, 0),
               "https://cms.example.com/v2/admin/shows/s%2F1%20x/seasons/0/episodes/0");
    struct cms_ref no_season = {"episode", "e", "s", -1, 2};
    assert_url(cms_next_url(&encora, &no_season, NULL, 0), NULL);
    struct cms_ref no_show = {"episode", "e", NULL, 1, 2};
    assert_url(cms_next_url(&encora, &no_show, NULL, 0), NULL);
    json_decref(bodies[0]);
    json_decref(bodies[1]);
}

static void test_movida_urls(void **state)
{
    struct cms_ref ref = {NULL, "73", NULL, -1, -1};
    json_t *ep = fixture_load("movida/title-episode.json"),
           *feat = fixture_load("movida/title-feature.json");
    json_t *group = fixture_load("movida/title-group-series.json");
    json_t *bodies[2] = {ep, group};

    assert_url(cms_next_url(&movida, &ref, NULL, 0),
               "https://movida.example.com/api/titles/73?expand=metadata,images,"
               "availability_windows");
    /* Only the numeric id of series_link is used, on the configured base (the link's host is
     * movida.bebanjo.net, not the configured one). */
    assert_url(cms_next_url(&movida, &ref, bodies, 1),
               "https://movida.example.com/api/title_groups/10113965");
    assert_url(cms_next_url(&movida, &ref, bodies, 2), NULL);
    assert_url(cms_next_url(&movida, &ref, &feat, 1), NULL);

    static const char *const bad[] = {"https://evil.example/steal", "https://x/title_groups/",
                                      "https://x/title_groups/12?x=1", "12/../13a", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = json_pack("{s:s}", "series_link", bad[i]);
        assert_url(cms_next_url(&movida, &ref, &b, 1), NULL);
        json_decref(b);
    }
    json_t *wrong = json_pack("{s:i}", "series_link", 5);
    assert_url(cms_next_url(&movida, &ref, &wrong, 1), NULL);
    json_decref(wrong);

    struct cms_ref odd = {NULL, "7 3/x", NULL, -1, -1};
    assert_url(cms_next_url(&movida, &odd, NULL, 0),
               "https://movida.example.com/api/titles/7%203%2Fx?expand=metadata,images,"
               "availability_windows");
    json_decref(ep);
    json_decref(feat);
    json_decref(group);
}

/* ---- normalization ---- */

static const char *const KEYS_MOVIE[] = {
    "id",         "source",       "type",    "status",     "title",        "original_title",
    "slug",       "description",  "tagline", "runtime_s",  "rating",       "genres",
    "cast",       "crew",         "artwork", "updated_at", "release_year", "languages",
    "created_at", "availability", "url"};

static void assert_keys(const json_t *obj, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (json_object_get(obj, keys[i]) == NULL)
            fail_msg("missing key %s", keys[i]);
    if (json_object_size(obj) != n) {
        char *dump = json_dumps(obj, JSON_SORT_KEYS);
        fail_msg("expected %zu keys, got %zu: %s", n, json_object_size(obj), dump);
    }
}

static void test_encora_movie(void **state)
{
    struct cms_ref ref = {"movie", "497f6eca-6276-4993-bfeb-53cbbbba6f08", NULL, -1, -1};
    json_t *body = fixture_load("encorastream/movie.json");
    char err[256] = "";
    json_t *t = cms_normalize(&encora, &ref, &body, 1, err, sizeof(err));
    assert_non_null(t);

    assert_keys(t, KEYS_MOVIE, sizeof(KEYS_MOVIE) / sizeof(KEYS_MOVIE[0]));
    assert_str(t, "id", "497f6eca-6276-4993-bfeb-53cbbbba6f08");
    assert_str(t, "source", "encora");
    assert_str(t, "type", "movie");
    assert_str(t, "status", "published");
    assert_str(t, "title", "La Casa de las Flores: La Película");
    assert_str(t, "original_title", "La Casa de las Flores: La Película");
    assert_absent(t, "alt_titles"); /* the original title is the title */
    assert_str(t, "slug", "la-casa-de-las-flores-la-pelicula");
    assert_str(t, "description",
               "Tras la muerte de su madre, los hermanos de la Mora se reúnen "
               "para recuperar la casa familiar.");
    assert_str(t, "tagline", "Una familia. Una casa. Un plan.");
    assert_int(t, "release_year", 2021);
    assert_absent(t, "premiere");
    assert_int(t, "runtime_s", 94 * 60);
    assert_str(t, "rating", "TV-14");
    static const char *const genres[] = {"comedy", "drama"};
    assert_strings(json_object_get(t, "genres"), genres, 2);
    assert_absent(t, "network");

    const json_t *cast = json_object_get(t, "cast");
    assert_int_equal(json_array_size(cast), 3);
    assert_pair(cast, 0, "name", "Cecilia Suárez", "character", "Paulina de la Mora");
    assert_pair(cast, 1, "name", "Aislinn Derbez", "character", "Elena de la Mora");
    assert_pair(cast, 2, "name", "Darío Yazbek Bernal", "character", "Julián de la Mora");
    const json_t *crew = json_object_get(t, "crew");
    assert_int_equal(json_array_size(crew), 1);
    assert_pair(crew, 0, "name", "Manolo Caro", "role", "director");

    const json_t *art = json_object_get(t, "artwork");
    assert_int_equal(json_array_size(art), 4);
    assert_pair(art, 0, "type", "poster", "url",
                "https://cdn.encorastream.example/img/497f6eca/poster-2x3.jpg");
    assert_pair(art, 1, "type", "backdrop", "url",
                "https://cdn.encorastream.example/img/497f6eca/backdrop-16x9.jpg");
    assert_pair(art, 2, "type", "thumbnail", "url",
                "https://cdn.encorastream.example/img/497f6eca/thumb-16x9.jpg");
    assert_pair(art, 3, "type", "logo", "url",
                "https://cdn.encorastream.example/img/497f6eca/logo.png");

    const json_t *lang = json_object_get(t, "languages");
    assert_absent(lang, "original");
    static const char *const audio[] = {"es-MX", "en-US"}, *const subs[] = {"en-US", "pt-BR"};
    assert_strings(json_object_get(lang, "audio"), audio, 2);
    assert_strings(json_object_get(lang, "subtitles"), subs, 2);

    const json_t *av = json_object_get(t, "availability");
    assert_str(av, "start", "2026-11-20T00:00:00Z");
    assert_str(av, "end", "2027-11-19T23:59:59Z");
    static const char *const terr[] = {"MX", "US", "ES", "AR"};
    assert_strings(json_object_get(av, "territories"), terr, 4);
    assert_str(av, "territory_policy", "allow");
    const json_t *offers = json_object_get(av, "offers");
    assert_int_equal(json_array_size(offers), 1);
    const json_t *o = json_array_get(offers, 0);
    assert_str(o, "offer", "subscription");
    assert_str(o, "delivery_method", "stream");
    assert_absent(o, "format");
    assert_str(o, "start", "2026-11-20T00:00:00Z");
    assert_str(o, "end", "2027-11-19T23:59:59Z");
    assert_strings(json_object_get(o, "territories"), terr, 4);

    assert_absent(t, "series");
    assert_str(t, "url", "https://watch.example.com/movies/la-casa-de-las-flores-la-pelicula");
    assert_str(t, "updated_at", "2026-11-20T09:58:01Z");
    json_decref(t);

    /* Status mapping: a draft is not on offer. */
    json_object_set_new(body, "status", json_string("draft"));
    t = cms_normalize(&encora, &ref, &body, 1, err, sizeof(err));
    assert_str(t, "status", "unpublished");
    assert_absent(json_object_get(t, "availability"), "offers");
    json_decref(t);
    json_decref(body);
}

static void test_encora_show(void **state)
{
    struct cms_ref ref = {"show", "503c9125-a11a-4f69-b904-e679735399e2", NULL, -1, -1};
    json_t *bodies[2] = {fixture_load("encorastream/show.json"),
                         fixture_load("encorastream/seasons.json")};
    char err[256] = "";
    json_t *t = cms_normalize(&encora, &ref, bodies, 2, err, sizeof(err));
    assert_non_null(t);

    assert_str(t, "id", "503c9125-a11a-4f69-b904-e679735399e2");
    assert_str(t, "type", "show");
    assert_str(t, "status", "published");
    assert_str(t, "title", "Köln 75");
    assert_str(t, "original_title", "Köln 75");
    assert_absent(t, "alt_titles");
    assert_str(t, "slug", "koln-75");
    assert_str(t, "description",
               "Eine junge Konzertveranstalterin setzt alles daran, ein "
               "legendäres Jazzkonzert zu ermöglichen.");
    assert_str(t, "premiere", "2026-03-06");
    assert_int(t, "release_year", 2026);
    assert_absent(t, "runtime_s");
    assert_str(t, "rating", "TV-PG");
    static const char *const genres[] = {"drama", "music"};
    assert_strings(json_object_get(t, "genres"), genres, 2);
    assert_str(t, "network", "EncoraStream Originals");
    const json_t *crew = json_object_get(t, "crew");
    assert_int_equal(json_array_size(crew), 1);
    assert_pair(crew, 0, "name", "Ido Fluk", "role", "creator");
    const json_t *cast = json_object_get(t, "cast");
    assert_int_equal(json_array_size(cast), 2);
    assert_pair(cast, 0, "name", "Mala Emde", "character", "Vera Brandes");
    assert_pair(cast, 1, "name", "John Magaro", "character", "Keith Jarrett");
    const json_t *art = json_object_get(t, "artwork");
    assert_int_equal(json_array_size(art), 2);
    assert_pair(art, 0, "type", "poster", "url",
                "https://cdn.encorastream.example/img/503c9125/poster-2x3.jpg");
    assert_pair(art, 1, "type", "backdrop", "url",
                "https://cdn.encorastream.example/img/503c9125/backdrop-16x9.jpg");
    const json_t *lang = json_object_get(t, "languages");
    assert_str(lang, "original", "de");
    assert_int_equal(json_object_size(lang), 1);

    /* Block list: no window dates, no offer territories, the policy says where not. */
    const json_t *av = json_object_get(t, "availability");
    assert_absent(av, "start");
    assert_absent(av, "end");
    static const char *const terr[] = {"CN", "RU"};
    assert_strings(json_object_get(av, "territories"), terr, 2);
    assert_str(av, "territory_policy", "block");
    const json_t *o = json_array_get(json_object_get(av, "offers"), 0);
    assert_str(o, "offer", "subscription");
    assert_absent(o, "territories");

    const json_t *seasons = json_object_get(t, "seasons");
    assert_int_equal(json_array_size(seasons), 1);
    const json_t *s = json_array_get(seasons, 0);
    assert_str(s, "id", "3e93eb58-18e4-4960-a483-d51daf6cd6fd");
    assert_int(s, "season_number", 1);
    assert_str(s, "title", "Staffel 1");
    assert_int(s, "episode_count", 6);
    assert_int(s, "release_year", 2026);
    assert_str(s, "premiere", "2026-03-06");
    assert_str(t, "url", "https://watch.example.com/shows/koln-75");
    assert_str(t, "updated_at", "2026-11-20T10:04:12Z");
    json_decref(t);
    json_decref(bodies[0]);
    json_decref(bodies[1]);
}

static void test_encora_episode(void **state)
{
    struct cms_ref ref = {"episode", "a7a26ff2-e851-45b6-9634-d595f45458b7",
                          "503c9125-a11a-4f69-b904-e679735399e2", 1, 2};
    json_t *bodies[2] = {fixture_load("encorastream/episode.json"),
                         fixture_load("encorastream/show.json")};
    char err[256] = "";
    json_t *t = cms_normalize(&encora, &ref, bodies, 2, err, sizeof(err));
    assert_non_null(t);

    assert_str(t, "id", "a7a26ff2-e851-45b6-9634-d595f45458b7");
    assert_str(t, "type", "episode");
    assert_str(t, "status", "published");
    assert_str(t, "title", "Die Probe");
    assert_str(t, "description", "Vera kämpft um einen Flügel, der die Nacht übersteht.");
    assert_int(t, "runtime_s", 47 * 60);
    assert_str(t, "rating", "TV-PG");
    assert_str(t, "premiere", "2026-03-13");
    assert_int(t, "release_year", 2026);
    const json_t *series = json_object_get(t, "series");
    assert_str(series, "show_id", "503c9125-a11a-4f69-b904-e679735399e2");
    assert_str(series, "show_title", "Köln 75");
    assert_str(series, "season_id", "3e93eb58-18e4-4960-a483-d51daf6cd6fd");
    assert_int(series, "season_number", 1);
    assert_int(series, "episode_number", 2);
    /* From the parent show. */
    assert_str(t, "network", "EncoraStream Originals");
    static const char *const genres[] = {"drama", "music"};
    assert_strings(json_object_get(t, "genres"), genres, 2);
    assert_int_equal(json_array_size(json_object_get(t, "cast")), 2);
    assert_pair(json_object_get(t, "crew"), 0, "name", "Ido Fluk", "role", "creator");
    assert_str(json_object_get(t, "languages"), "original", "de");
    /* Not the show's: its own artwork only. */
    const json_t *art = json_object_get(t, "artwork");
    assert_int_equal(json_array_size(art), 1);
    assert_pair(art, 0, "type", "thumbnail", "url",
                "https://cdn.encorastream.example/img/a7a26ff2/still-16x9.jpg");
    const json_t *av = json_object_get(t, "availability");
    assert_str(av, "start", "2026-03-13T00:00:00Z");
    assert_absent(av, "end"); /* available_until: null = indefinite */
    assert_absent(av, "territories");
    /* An episode has no slug: {slug} is its show's (the show was fetched anyway). */
    assert_str(t, "url", "https://watch.example.com/episodes/koln-75");
    assert_str(t, "updated_at", "2026-11-20T10:05:30Z");
    assert_str(t, "created_at", "2026-02-01T11:00:00Z");
    json_decref(t);

    /* Without the parent show the episode still normalizes, from the event's numbers, but
     * has no slug to link with: no url rather than a wrong one. */
    t = cms_normalize(&encora, &ref, bodies, 1, err, sizeof(err));
    assert_non_null(t);
    assert_absent(json_object_get(t, "series"), "show_title");
    assert_absent(t, "network");
    assert_absent(t, "url");
    json_decref(t);
    json_decref(bodies[0]);
    json_decref(bodies[1]);
}

static void test_movida_feature(void **state)
{
    struct cms_ref ref = {NULL, "30391", NULL, -1, -1};
    json_t *body = fixture_load("movida/title-feature.json");
    char err[256] = "";
    json_t *t = cms_normalize(&movida, &ref, &body, 1, err, sizeof(err));
    assert_non_null(t);

    assert_str(t, "id", "30391");
    assert_str(t, "source", "movida");
    assert_str(t, "type", "movie");
    assert_str(t, "status", "published");
    assert_str(t, "title", "The Green Lantern");
    assert_str(t, "original_title", "Green Lantern");
    static const char *const alt[] = {"Green Lantern"};
    assert_strings(json_object_get(t, "alt_titles"), alt, 1);
    assert_absent(t, "slug");
    assert_str(t, "description",
               "A test pilot is granted a mystical green ring that bestows him with otherworldly "
               "powers.");
    assert_str(t, "short_description", "A test pilot becomes an intergalactic hero.");
    assert_str(t, "premiere", "2011-06-17");
    assert_int(t, "release_year", 2011);
    assert_int(t, "runtime_s", 6840);
    assert_str(t, "rating", "PG-13");
    static const char *const genres[] = {"Action", "Drama"};
    assert_strings(json_object_get(t, "genres"), genres, 2);
    const json_t *crew = json_object_get(t, "crew");
    assert_int_equal(json_array_size(crew), 1);
    assert_pair(crew, 0, "name", "Martin Campbell", "role", "director");
    const json_t *cast = json_object_get(t, "cast");
    assert_int_equal(json_array_size(cast), 3);
    assert_pair(cast, 0, "name", "Ryan Reynolds", "character", NULL);
    assert_pair(cast, 2, "name", "Peter Sarsgaard", "character", NULL);
    const json_t *art = json_object_get(t, "artwork");
    assert_int_equal(json_array_size(art), 2);
    assert_pair(art, 0, "type", "poster", "url",
                "https://assets.movida.example/images/5501/green-lantern-poster.jpg");
    assert_pair(art, 1, "type", "thumbnail", "url",
                "https://assets.movida.example/images/5502/green-lantern-thumb.jpg");
    assert_str(json_object_get(t, "languages"), "original", "en");

    const json_t *av = json_object_get(t, "availability");
    assert_str(av, "start", "2026-11-20T00:00:00Z");
    assert_absent(av, "end"); /* window 9002 is open-ended */
    static const char *const terr[] = {"US", "CA"};
    assert_strings(json_object_get(av, "territories"), terr, 2);
    assert_str(av, "territory_policy", "allow");
    const json_t *offers = json_object_get(av, "offers");
    assert_int_equal(json_array_size(offers), 2);
    const json_t *o = json_array_get(offers, 0);
    assert_str(o, "offer", "subscription");
    assert_str(o, "delivery_method", "stream");
    assert_str(o, "format", "hd");
    assert_str(o, "start", "2026-11-20T00:00:00Z");
    assert_str(o, "end", "2027-05-31T23:59:59Z");
    assert_strings(json_object_get(o, "territories"), terr, 2);
    assert_absent(o, "price");
    o = json_array_get(offers, 1);
    assert_str(o, "offer", "rent");
    assert_str(o, "start", "2026-12-01T00:00:00Z");
    assert_absent(o, "end");
    static const char *const us[] = {"US"};
    assert_strings(json_object_get(o, "territories"), us, 1);
    const json_t *price = json_array_get(json_object_get(o, "price"), 0);
    assert_str(price, "currency", "USD");
    assert_str(price, "amount", "3.99");

    assert_absent(t, "series");
    assert_str(t, "url", "https://watch.example.com/movies/the-green-lantern");
    assert_absent(t, "updated_at");
    json_decref(t);
    json_decref(body);
}

static void test_movida_episode(void **state)
{
    struct cms_ref ref = {NULL, "73", NULL, -1, -1};
    json_t *bodies[2] = {fixture_load("movida/title-episode.json"),
                         fixture_load("movida/title-group-series.json")};
    char err[256] = "";
    json_t *t = cms_normalize(&movida, &ref, bodies, 2, err, sizeof(err));
    assert_non_null(t);

    assert_str(t, "id", "73");
    assert_str(t, "type", "episode");
    assert_str(t, "title", "Episode 1");
    assert_absent(t, "alt_titles");
    assert_str(t, "description", "The crew sets out on the first mission.");
    assert_str(t, "premiere", "2024-09-02");
    assert_int(t, "release_year", 2024);
    assert_int(t, "runtime_s", 2700);
    assert_str(t, "rating", "TV-14");
    assert_str(json_object_get(t, "languages"), "original", "es");
    const json_t *series = json_object_get(t, "series");
    assert_str(series, "show_id", "10113965");
    assert_str(series, "show_title", "El Viaje");
    assert_absent(series, "season_id");
    assert_int(series, "season_number", 1);
    assert_int(series, "episode_number", 1);
    /* Cast and creator come from the series group. */
    const json_t *cast = json_object_get(t, "cast");
    assert_int_equal(json_array_size(cast), 2);
    assert_pair(cast, 0, "name", "Álvaro Morte", "character", NULL);
    assert_pair(json_object_get(t, "crew"), 0, "name", "Lucía Ferrer", "role", "creator");
    const json_t *art = json_object_get(t, "artwork");
    assert_int_equal(json_array_size(art), 1);
    assert_pair(art, 0, "type", "thumbnail", "url",
                "https://assets.movida.example/images/5601/ep1-still.jpg");
    const json_t *av = json_object_get(t, "availability");
    assert_str(av, "start", "2026-11-20T00:00:00Z");
    assert_str(av, "end", "2027-11-20T00:00:00Z");
    static const char *const terr[] = {"ES", "PT"};
    assert_strings(json_object_get(av, "territories"), terr, 2);
    assert_str(t, "url", "https://watch.example.com/series/el-viaje/s1/e1");
    json_decref(t);

    /* Trailers are titles too, but not catalogue entries. */
    json_object_set_new(bodies[0], "title_type", json_string("trailer"));
    assert_null(cms_normalize(&movida, &ref, bodies, 2, err, sizeof(err)));
    assert_non_null(strstr(err, "trailer"));
    json_decref(bodies[0]);
    json_decref(bodies[1]);
}

static void test_tombstone(void **state)
{
    struct cms_ref ref = {"movie", "497f6eca", NULL, -1, -1};
    json_t *t = cms_tombstone(&encora, &ref);
    assert_int_equal(json_object_size(t), 4);
    assert_str(t, "id", "497f6eca");
    assert_str(t, "type", "movie");
    assert_str(t, "source", "encora");
    assert_str(t, "status", "unpublished");
    json_decref(t);

    struct cms_ref mref = {NULL, "73", NULL, -1, -1};
    t = cms_tombstone(&movida, &mref);
    assert_int_equal(json_object_size(t), 4);
    assert_true(json_is_null(json_object_get(t, "type")));
    json_decref(t);

    struct cms_ref none = {"movie", NULL, NULL, -1, -1};
    assert_null(cms_tombstone(&encora, &none));
}

static void test_not_an_object(void **state)
{
    struct cms_ref ref = {"movie", "x", NULL, -1, -1};
    json_t *arr = json_array();
    char err[256] = "";
    assert_null(cms_normalize(&encora, &ref, &arr, 1, err, sizeof(err)));
    assert_true(err[0] != '\0');
    assert_null(cms_normalize(&encora, &ref, NULL, 0, err, sizeof(err)));
    struct cms_ref mref = {NULL, "73", NULL, -1, -1};
    assert_null(cms_normalize(&movida, &mref, &arr, 1, err, sizeof(err)));
    json_decref(arr);
}

/* ---- wrong types: every node of every fixture replaced by every other JSON type ---- */

struct fuzz_case {
    const struct source *src;
    struct cms_ref ref;
    const char *files[2];
    size_t n;
};

static void render_all(const json_t *title)
{
    static struct target targets[] = {
        {.name = "c", .format = FORMAT_CANONICAL},
        {.name = "g", .format = FORMAT_GWI_JSON_1_1, .catalog_locale = "en_US"},
        {.name = "t", .format = FORMAT_TITANOS},
    };
    char err[256];
    for (size_t i = 0; i < 3; i++)
        for (int unpub = 0; unpub < 2; unpub++)
            json_decref(fmt_render(&targets[i], title, unpub, err, sizeof(err)));
}

static size_t runs;

static void normalize_checked(const struct fuzz_case *c, json_t *const *bodies)
{
    char err[256] = "";
    json_t *t = cms_normalize(c->src, &c->ref, bodies, c->n, err, sizeof(err));
    runs++;
    if (t == NULL) {
        /* Only a non-object body or an unsupported Movida title_type may refuse. */
        assert_true(err[0] != '\0');
        return;
    }
    assert_true(json_is_string(json_object_get(t, "id")));
    assert_true(json_is_string(json_object_get(t, "status")));
    render_all(t);
    json_decref(t);
}

static void mutate(const struct fuzz_case *c, json_t *const *bodies, json_t *node)
{
    json_t *alts[] = {json_integer(42), json_string("x"), json_array(),   json_object(),
                      json_null(),      json_true(),      json_real(1.5), json_string("")};
    const size_t nalts = sizeof(alts) / sizeof(alts[0]);

    if (json_is_object(node)) {
        const char *key;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(node, tmp, key, v)
        {
            json_incref(v);
            for (size_t i = 0; i < nalts; i++) {
                json_object_set(node, key, alts[i]);
                normalize_checked(c, bodies);
            }
            json_object_set_new(node, key, v);
            mutate(c, bodies, v);
        }
    } else if (json_is_array(node)) {
        for (size_t k = 0; k < json_array_size(node); k++) {
            json_t *v = json_incref(json_array_get(node, k));
            for (size_t i = 0; i < nalts; i++) {
                json_array_set(node, k, alts[i]);
                normalize_checked(c, bodies);
            }
            json_array_set_new(node, k, v);
            mutate(c, bodies, v);
        }
    }
    for (size_t i = 0; i < nalts; i++)
        json_decref(alts[i]);
}

static void test_wrong_types_do_not_crash(void **state)
{
    const struct fuzz_case cases[] = {
        {&encora, {"movie", "m1", NULL, -1, -1}, {"encorastream/movie.json", NULL}, 1},
        {&encora,
         {"show", "s1", NULL, -1, -1},
         {"encorastream/show.json", "encorastream/seasons.json"},
         2},
        {&encora,
         {"episode", "e1", "s1", 1, 2},
         {"encorastream/episode.json", "encorastream/show.json"},
         2},
        {&movida, {NULL, "30391", NULL, -1, -1}, {"movida/title-feature.json", NULL}, 1},
        {&movida,
         {NULL, "73", NULL, -1, -1},
         {"movida/title-episode.json", "movida/title-group-series.json"},
         2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *bodies[2] = {NULL, NULL};
        for (size_t b = 0; b < cases[i].n; b++)
            bodies[b] = fixture_load(cases[i].files[b]);
        for (size_t b = 0; b < cases[i].n; b++) {
            /* Each whole body of the wrong type, then each node inside it. */
            json_t *saved = bodies[b];
            json_t *alts[] = {json_integer(1), json_string("x"), json_array(), json_null()};
            for (size_t k = 0; k < 4; k++) {
                bodies[b] = alts[k];
                normalize_checked(&cases[i], bodies);
                json_decref(alts[k]);
            }
            bodies[b] = saved;
            mutate(&cases[i], bodies, bodies[b]);
        }
        for (size_t b = 0; b < cases[i].n; b++)
            json_decref(bodies[b]);
    }
    assert_true(runs > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_web_url),
        cmocka_unit_test(test_encora_movie_urls),
        cmocka_unit_test(test_encora_show_urls),
        cmocka_unit_test(test_encora_episode_urls),
        cmocka_unit_test(test_movida_urls),
        cmocka_unit_test(test_encora_movie),
        cmocka_unit_test(test_encora_show),
        cmocka_unit_test(test_encora_episode),
        cmocka_unit_test(test_movida_feature),
        cmocka_unit_test(test_movida_episode),
        cmocka_unit_test(test_tombstone),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_wrong_types_do_not_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
