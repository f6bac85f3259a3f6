/* handlers/sync_list.c: the catalog listing's URLs and page parsing (EncoraStream movies,
 * shows, seasons and episodes; Movida titles with next_link), on the shared fixtures and on
 * pages shaped like the CMS API documents. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "handlers/sync_list.h"

static struct source encora = {
    .name = "encora",
    .kind = SOURCE_ENCORASTREAM,
    .api_base_url = "https://cms.example.com/v2",
};
static struct source movida = {
    .name = "movida",
    .kind = SOURCE_MOVIDA,
    .api_base_url = "https://movida.example.com/api",
};

#define START_MS 1700000000000LL

static char *slurp(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("%s: cannot open", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static void url_is(const struct source *src, const char *phase, const char *cursor,
                   const char *head, const char *want)
{
    struct sync_pos pos = {phase, cursor, head};
    char *url = sync_list_url(src, &pos);
    if (want == NULL) {
        assert_null(url);
        return;
    }
    assert_non_null(url);
    assert_string_equal(url, want);
    free(url);
}

static void test_urls(void **state)
{
    (void)state;
    url_is(&encora, "", "", "",
           "https://cms.example.com/v2/admin/movies?status=published&limit=100");
    url_is(&encora, "movies", "a b/c", "",
           "https://cms.example.com/v2/admin/movies?status=published&limit=100&cursor=a%20b%2Fc");
    url_is(&encora, "shows", "", "",
           "https://cms.example.com/v2/admin/shows?status=published&limit=100");
    url_is(&encora, "todo", "", "S\tshow-1",
           "https://cms.example.com/v2/admin/shows/show-1/seasons");
    url_is(&encora, "todo", "x", "S\tshow-1",
           "https://cms.example.com/v2/admin/shows/show-1/seasons?cursor=x");
    url_is(&encora, "todo", "", "E\tshow-1\t3",
           "https://cms.example.com/v2/admin/shows/show-1/seasons/3/episodes?limit=100");
    url_is(&encora, "todo", "c2", "E\tshow-1\t3",
           "https://cms.example.com/v2/admin/shows/show-1/seasons/3/episodes?limit=100&cursor=c2");
    /* a checkpoint that is not one of ours builds nothing */
    url_is(&encora, "todo", "", "X\tshow-1", NULL);
    url_is(&encora, "todo", "", "E\tshow-1\tminus", NULL);
    /* ids are percent-encoded into one path segment */
    url_is(&encora, "todo", "", "S\t../a", "https://cms.example.com/v2/admin/shows/..%2Fa/seasons");
    url_is(&encora, "bogus", "", "", NULL);
    url_is(&movida, "", "", "",
           "https://movida.example.com/api/titles?pagination=true&per_page=200"
           "&expand=metadata,images,availability_windows&page=1");
    url_is(&movida, "titles", "3", "",
           "https://movida.example.com/api/titles?pagination=true&per_page=200"
           "&expand=metadata,images,availability_windows&page=3");
    url_is(&movida, "titles", "3x", "", NULL);
    url_is(&movida, "titles", "0", "", NULL);
}

static void parse_ok(const struct source *src, const char *phase, const char *cursor,
                     const char *head, const char *body, struct sync_page *pg)
{
    struct sync_pos pos = {phase, cursor, head};
    char err[200] = "";
    int rc = sync_list_parse(src, &pos, body, strlen(body), START_MS, pg, err, sizeof(err));
    if (rc != 0)
        fail_msg("parse failed: %s", err);
}

static void parse_fails(const struct source *src, const char *phase, const char *cursor,
                        const char *body, const char *needle)
{
    struct sync_pos pos = {phase, cursor, ""};
    struct sync_page pg;
    char err[200] = "";
    assert_int_equal(
        sync_list_parse(src, &pos, body, strlen(body), START_MS, &pg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, needle));
}

static void test_encora_movies(void **state)
{
    (void)state;
    struct sync_page pg;
    parse_ok(
        &encora, "", "", "",
        "{\"data\": [{\"id\": \"m1\", \"status\": \"published\", \"updated_at\": "
        "\"2026-11-20T10:00:00Z\"}, {\"id\": \"m2\"}, {\"id\": \"m3\", \"status\": \"draft\"}, "
        "{\"id\": \"bad,id\"}, {\"id\": 7}, \"junk\"], \"meta\": {\"next_cursor\": \"c1\", "
        "\"total\": 250}}",
        &pg);
    assert_int_equal(pg.n_items, 2);
    assert_string_equal(pg.items[0].content_id, "m1");
    assert_string_equal(pg.items[0].content_type, "movie");
    assert_int_equal(pg.items[0].order_ms, 1795168800000LL);
    assert_int_equal(pg.items[0].season_number, -1);
    assert_null(pg.docs); /* only Movida's listing is kept for the skip */
    assert_int_equal(pg.items[1].order_ms, START_MS); /* no updated_at: the run's start */
    assert_string_equal(pg.phase, "movies");
    assert_string_equal(pg.cursor, "c1");
    assert_int_equal(pg.pop, 0);
    assert_int_equal(pg.total, 250);
    assert_int_equal(pg.n_todo, 0);
    sync_page_clear(&pg);

    /* the last movies page moves on to shows */
    parse_ok(&encora, "movies", "c1", "", "{\"data\": [], \"meta\": {\"next_cursor\": null}}", &pg);
    assert_string_equal(pg.phase, "shows");
    assert_string_equal(pg.cursor, "");
    assert_int_equal(pg.total, -1);
    sync_page_clear(&pg);
}

static void test_encora_shows_seasons_episodes(void **state)
{
    (void)state;
    struct sync_page pg;
    parse_ok(&encora, "shows", "", "",
             "{\"data\": [{\"id\": \"s1\", \"updated_at\": \"2026-11-20T10:04:12Z\"}], "
             "\"meta\": {}}",
             &pg);
    assert_int_equal(pg.n_items, 1);
    assert_string_equal(pg.items[0].content_type, "show");
    assert_int_equal(pg.n_todo, 1);
    assert_string_equal(pg.todo[0], "S\ts1");
    assert_string_equal(pg.phase, "todo");
    assert_int_equal(pg.pop, 0);
    sync_page_clear(&pg);

    /* the shared fixture: a show's seasons are the way to its episodes, not titles */
    char *body = slurp("encorastream/seasons.json");
    parse_ok(&encora, "todo", "", "S\t503c9125-a11a-4f69-b904-e679735399e2", body, &pg);
    free(body);
    assert_int_equal(pg.n_items, 0);
    assert_int_equal(pg.n_todo, 1);
    assert_string_equal(pg.todo[0], "E\t503c9125-a11a-4f69-b904-e679735399e2\t1");
    assert_string_equal(pg.phase, "todo");
    assert_int_equal(pg.pop, 1);
    sync_page_clear(&pg);

    parse_ok(&encora, "todo", "", "E\ts1\t2",
             "{\"data\": [{\"id\": \"e1\", \"episode_number\": 4, \"updated_at\": "
             "\"2026-11-20T10:05:30Z\"}, {\"id\": \"e2\"}], \"meta\": {\"next_cursor\": \"n\"}}",
             &pg);
    assert_int_equal(pg.n_items, 1); /* e2 has no episode number: not addressable */
    assert_string_equal(pg.items[0].content_type, "episode");
    assert_string_equal(pg.items[0].show_id, "s1");
    assert_int_equal(pg.items[0].season_number, 2);
    assert_int_equal(pg.items[0].episode_number, 4);
    assert_string_equal(pg.cursor, "n");
    assert_int_equal(pg.pop, 0);
    sync_page_clear(&pg);
}

static void test_encora_bad_pages(void **state)
{
    (void)state;
    parse_fails(&encora, "movies", "", "{}", "data array");
    parse_fails(&encora, "movies", "", "{\"data\": {}}", "data array");
    parse_fails(&encora, "movies", "", "<html>", "not JSON");
    parse_fails(&encora, "movies", "", "", "not JSON");
}

static char *movida_page(const char *next_link, const char *name)
{
    char *feature = slurp("movida/title-feature.json");
    char *episode = slurp("movida/title-episode.json");
    json_error_t je;
    json_t *f = json_loads(feature, 0, &je), *e = json_loads(episode, 0, &je);
    free(feature);
    free(episode);
    assert_non_null(f);
    assert_non_null(e);
    if (name)
        json_object_set_new(f, "name", json_string(name));
    json_t *page = json_pack("{s:i,s:[o,o]}", "total_entries", 450, "entries", f, e);
    if (next_link)
        json_object_set_new(page, "next_link", json_string(next_link));
    char *s = json_dumps(page, JSON_COMPACT);
    json_decref(page);
    return s;
}

static void test_movida(void **state)
{
    (void)state;
    struct sync_page pg, pg2;
    char *body = movida_page("https://movida.example.com/api/titles?pagination=true&page=2", NULL);
    parse_ok(&movida, "", "", "", body, &pg);
    free(body);
    assert_int_equal(pg.n_items, 2);
    assert_string_equal(pg.items[0].content_id, "30391");
    assert_string_equal(pg.items[1].content_id, "73");
    assert_string_equal(pg.items[0].content_type, "");
    assert_int_equal(pg.items[0].order_ms, START_MS);
    /* each item's listed entry is kept, for the skip's render */
    assert_non_null(pg.docs);
    assert_int_equal(json_integer_value(json_object_get(pg.docs[0], "id")), 30391);
    assert_int_equal(json_integer_value(json_object_get(pg.docs[1], "id")), 73);
    assert_string_equal(pg.phase, "titles");
    assert_string_equal(pg.cursor, "2");
    assert_int_equal(pg.total, 450);

    body = movida_page(NULL, NULL);
    parse_ok(&movida, "titles", "2", "", body, &pg2);
    free(body);
    assert_string_equal(pg2.phase, "end");
    struct sync_pos end = {pg2.phase, pg2.cursor, ""};
    assert_true(sync_list_done(&movida, &end));
    sync_page_clear(&pg2);
    body = movida_page(NULL, "Renamed");
    parse_ok(&movida, "titles", "2", "", body, &pg2);
    free(body);
    assert_string_equal(json_string_value(json_object_get(pg2.docs[0], "name")), "Renamed");
    sync_page_clear(&pg2);
    sync_page_clear(&pg);

    /* a next_link elsewhere, or one that does not advance, is refused */
    body = movida_page("https://evil.example.com/api/titles?page=2", NULL);
    parse_fails(&movida, "titles", "", body, "outside");
    free(body);
    body = movida_page("https://movida.example.com/api/other?page=2", NULL);
    parse_fails(&movida, "titles", "", body, "outside");
    free(body);
    body = movida_page("https://movida.example.com/api/titles?pagination=true&page=2", NULL);
    parse_fails(&movida, "titles", "2", body, "does not advance");
    free(body);
    parse_fails(&movida, "titles", "", "{\"entries\": null}", "entries array");
}

static void test_done(void **state)
{
    (void)state;
    struct sync_pos p1 = {"todo", "", ""}, p2 = {"todo", "", "S\tx"}, p3 = {"shows", "", ""};
    assert_true(sync_list_done(&encora, &p1));
    assert_false(sync_list_done(&encora, &p2));
    assert_false(sync_list_done(&encora, &p3));
    assert_string_equal(sync_list_mode(&encora), "ts");
    assert_string_equal(sync_list_mode(&movida), "doc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_encora_movies),
        cmocka_unit_test(test_encora_shows_seasons_episodes),
        cmocka_unit_test(test_encora_bad_pages),
        cmocka_unit_test(test_movida),
        cmocka_unit_test(test_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
