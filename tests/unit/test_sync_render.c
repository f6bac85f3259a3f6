/* handlers/sync_render.c: Movida's sync skip renders a listed title per target as its delivery
 * would, and caches the series title groups of a run. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "handlers/cms.h"
#include "handlers/fmt.h"
#include "handlers/sync_render.h"
#include "queue/catalog.h"

static struct source movida = {
    .name = "movida",
    .kind = SOURCE_MOVIDA,
    .api_base_url = "https://movida.example.com/api",
};
static struct target canon = {.name = "canon", .format = FORMAT_CANONICAL};
static struct target titan = {.name = "titan", .format = FORMAT_TITANOS};
static char *movies_only[] = {"movie"};
static struct target movies = {.name = "movies",
                               .format = FORMAT_CANONICAL,
                               .content_types = movies_only,
                               .n_content_types = 1};

#define T0 1795168800000LL /* 2026-11-20T10:00:00Z */

static json_t *load(const char *rel)
{
    char path[512];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

/* The digest a delivery's catalog write would have: render as handlers/worker_job.c does. */
static void delivered_digest(const struct target *t, json_t *const *bodies, size_t n,
                             const char *id, int64_t at, int64_t first, char out[41])
{
    char err[256], ev[32], fs[32];
    struct cms_ref ref = {.content_id = id, .season_number = -1, .episode_number = -1};
    json_t *title = cms_normalize(&movida, &ref, bodies, n, err, sizeof(err));
    assert_non_null(title);
    util_rfc3339(at, ev);
    util_rfc3339(first, fs);
    struct fmt_ctx ctx = {.event_at = ev, .first_seen = fs};
    json_t *doc = fmt_render_ctx(t, title, &ctx, err, sizeof(err));
    assert_non_null(doc);
    char *text = json_dumps(catalog_title_doc(t->format, doc), JSON_COMPACT);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)text, strlen(text), md);
    util_hex(md, sizeof(md), out);
    free(text);
    json_decref(doc);
    json_decref(title);
}

static void test_feature_digest(void **state)
{
    (void)state;
    json_t *f = load("movida/title-feature.json");
    char want[41], got[41], other[41];

    assert_null(sync_render_group_url(&movida, f)); /* a feature needs no title group */
    json_t *title = sync_render_title(&movida, "30391", f, NULL);
    assert_non_null(title);
    delivered_digest(&canon, &f, 1, "30391", T0, T0 - 5000, want);
    assert_int_equal(sync_render_digest(&canon, &movida, title, T0, T0 - 5000, got),
                     SYNC_RENDER_DIGEST);
    assert_string_equal(got, want);
    /* the stand-in times are part of the document: another event time, another digest */
    assert_int_equal(sync_render_digest(&canon, &movida, title, T0 + 1000, T0 - 5000, other),
                     SYNC_RENDER_DIGEST);
    assert_string_not_equal(got, other);
    /* another format renders another document */
    assert_int_equal(sync_render_digest(&titan, &movida, title, T0, T0 - 5000, other),
                     SYNC_RENDER_DIGEST);
    assert_string_not_equal(got, other);
    json_decref(title);

    /* a listed field no format shows changes nothing; one a partner sees does */
    json_object_set_new(f, "acl_hash", json_string("changed"));
    title = sync_render_title(&movida, "30391", f, NULL);
    assert_int_equal(sync_render_digest(&canon, &movida, title, T0, T0 - 5000, other),
                     SYNC_RENDER_DIGEST);
    assert_string_equal(other, want);
    json_decref(title);
    json_object_set_new(f, "name", json_string("Renamed"));
    title = sync_render_title(&movida, "30391", f, NULL);
    assert_int_equal(sync_render_digest(&canon, &movida, title, T0, T0 - 5000, other),
                     SYNC_RENDER_DIGEST);
    assert_string_not_equal(other, want);
    json_decref(title);
    json_decref(f);
}

static void test_episode_and_filters(void **state)
{
    (void)state;
    json_t *bodies[2] = {load("movida/title-episode.json"), load("movida/title-group-series.json")};
    char want[41], got[41];

    char *url = sync_render_group_url(&movida, bodies[0]);
    assert_non_null(url);
    /* built from api.base_url and the link's id, never the link itself */
    assert_string_equal(url, "https://movida.example.com/api/title_groups/10113965");
    free(url);
    json_t *title = sync_render_title(&movida, "73", bodies[0], bodies[1]);
    assert_non_null(title);
    delivered_digest(&canon, bodies, 2, "73", T0, T0, want);
    assert_int_equal(sync_render_digest(&canon, &movida, title, T0, T0, got), SYNC_RENDER_DIGEST);
    assert_string_equal(got, want);
    /* a target that does not take episodes gets nothing */
    assert_int_equal(sync_render_digest(&movies, &movida, title, T0, T0, got),
                     SYNC_RENDER_NOT_TAKEN);
    json_decref(title);
    /* without its group the episode renders otherwise (no series name): it would be sent */
    title = sync_render_title(&movida, "73", bodies[0], NULL);
    assert_int_equal(sync_render_digest(&canon, &movida, title, T0, T0, got), SYNC_RENDER_DIGEST);
    assert_string_not_equal(got, want);
    json_decref(title);

    /* the page script's entry: per target, in the run's order */
    title = sync_render_title(&movida, "73", bodies[0], bodies[1]);
    const struct target *tg[] = {&canon, &movies, NULL, &canon};
    int64_t at[] = {T0, T0, T0, 0}, first[] = {T0, T0, T0, 0};
    char *list = sync_render_digests(&movida, tg, 4, title, at, first);
    char expect[128];
    snprintf(expect, sizeof(expect), "%s,-,,", want); /* not taken; unknown target; no entry */
    assert_string_equal(list, expect);
    free(list);
    list = sync_render_digests(&movida, tg, 4, NULL, at, first);
    assert_string_equal(list, ",,,"); /* did not normalize: every target unknown */
    free(list);
    json_decref(title);

    /* a trailer does not normalize: unknown, so queued (the delivery reports why) */
    json_object_set_new(bodies[0], "title_type", json_string("trailer"));
    assert_null(sync_render_title(&movida, "73", bodies[0], bodies[1]));
    json_decref(bodies[0]);
    json_decref(bodies[1]);
}

static void test_groups_cache(void **state)
{
    (void)state;
    struct sync_render_groups *g = sync_render_groups_new(2);
    const json_t *doc = (const json_t *)1;
    json_t *a = json_pack("{s:i}", "id", 1);

    assert_non_null(g);
    assert_int_equal(sync_render_groups_get(g, "u1", &doc), 0);
    assert_null(doc);
    assert_int_equal(sync_render_groups_put(g, "u1", a), 0);
    assert_int_equal(sync_render_groups_put(g, "u2", NULL), 0); /* the CMS has none */
    assert_int_equal(sync_render_groups_get(g, "u1", &doc), 1);
    assert_ptr_equal(doc, a);
    assert_int_equal(sync_render_groups_get(g, "u2", &doc), 1);
    assert_null(doc);
    /* full: the oldest goes */
    assert_int_equal(sync_render_groups_put(g, "u3", a), 0);
    assert_int_equal(sync_render_groups_get(g, "u1", &doc), 0);
    assert_int_equal(sync_render_groups_get(g, "u2", &doc), 1);
    assert_int_equal(sync_render_groups_get(g, "u3", &doc), 1);
    assert_ptr_equal(doc, a);
    json_decref(a); /* the cache holds its own reference */
    assert_int_equal(json_integer_value(json_object_get(doc, "id")), 1);
    sync_render_groups_free(g);
    sync_render_groups_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_digest),
        cmocka_unit_test(test_episode_and_filters),
        cmocka_unit_test(test_groups_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
