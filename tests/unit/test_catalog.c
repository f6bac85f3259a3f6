/* queue/catalog: feed cursors, query parsing and masking, removal documents, markets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "queue/catalog.c" /* reaches the statics */

static const unsigned char KEY[CATALOG_KEY_BYTES] = "unit-test-cursor-key-0123456789a";

static void test_cursor_roundtrip(void **state)
{
    (void)state;
    struct catalog_cursor c = {.pos = 12345, .hwm = 99999, .base = 99999, .issued_s = 1796160000},
                          d;
    char text[CATALOG_CURSOR_MAX];
    catalog_cursor_encode(KEY, "titanos", &c, text);
    assert_int_equal(strncmp(text, "2.12345.99999.99999.1796160000.", 31), 0);
    assert_int_equal(catalog_cursor_decode(KEY, "titanos", text, &d), 0);
    assert_int_equal(d.pos, 12345);
    assert_int_equal(d.hwm, 99999);
    assert_int_equal(d.base, 99999);
    assert_int_equal(d.issued_s, 1796160000);
    /* the largest numbers fit */
    struct catalog_cursor big = {999999999999999, 999999999999999, 999999999999999,
                                 999999999999999};
    char btext[CATALOG_CURSOR_MAX];
    catalog_cursor_encode(KEY, "titanos", &big, btext);
    assert_int_equal(catalog_cursor_decode(KEY, "titanos", btext, &d), 0);
    assert_int_equal(d.base, 999999999999999);
    /* a base unknown: the version 1 form, which older relays gave out, still read */
    struct catalog_cursor old = {.pos = 7, .hwm = 0, .base = -1, .issued_s = 1796160000};
    char otext[CATALOG_CURSOR_MAX];
    catalog_cursor_encode(KEY, "titanos", &old, otext);
    assert_int_equal(strncmp(otext, "1.7.0.1796160000.", 17), 0);
    assert_int_equal(catalog_cursor_decode(KEY, "titanos", otext, &d), 0);
    assert_int_equal(d.pos, 7);
    assert_int_equal(d.base, -1);
    /* one version's numbers under the other's tag do not authenticate */
    otext[0] = '2';
    assert_int_equal(catalog_cursor_decode(KEY, "titanos", otext, &d), -1);
    /* another target, another key, any change of a byte, truncation, extension */
    assert_int_equal(catalog_cursor_decode(KEY, "gowatchit", text, &d), -1);
    unsigned char other[CATALOG_KEY_BYTES];
    memcpy(other, KEY, sizeof(other));
    other[0] ^= 1;
    assert_int_equal(catalog_cursor_decode(other, "titanos", text, &d), -1);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++) {
        char bad[CATALOG_CURSOR_MAX];
        memcpy(bad, text, n + 1);
        bad[i] = bad[i] == '1' ? '2' : '1';
        assert_int_equal(catalog_cursor_decode(KEY, "titanos", bad, &d), -1);
        bad[i] = '\0';
        assert_int_equal(catalog_cursor_decode(KEY, "titanos", bad, &d), -1);
    }
    char longer[CATALOG_CURSOR_MAX + 2];
    snprintf(longer, sizeof(longer), "%s0", text);
    assert_int_equal(catalog_cursor_decode(KEY, "titanos", longer, &d), -1);
    assert_int_equal(catalog_cursor_decode(KEY, "titanos", "", &d), -1);
    assert_int_equal(catalog_cursor_decode(KEY, "titanos", NULL, &d), -1);
    /* leading zeros would give one cursor two spellings */
    assert_int_equal(
        catalog_cursor_decode(KEY, "titanos", "1.01.0.0.00000000000000000000000000000000", &d), -1);
}

static void test_query_parse(void **state)
{
    (void)state;
    struct catalog_query q;
    char bad[40];
    assert_int_equal(catalog_query_parse(NULL, CATALOG_QUERY_FEED, NULL, &q, bad, sizeof(bad)), 0);
    assert_int_equal(q.limit, 0);
    assert_int_equal(
        catalog_query_parse("limit=1000&content_type=show%2Cmovie&market=gb&cursor=a.b",
                            CATALOG_QUERY_FEED, NULL, &q, bad, sizeof(bad)),
        0);
    assert_int_equal(q.limit, 1000);
    assert_string_equal(q.types, "movie,show");
    assert_string_equal(q.market, "GB");
    assert_string_equal(q.cursor, "a.b");
    assert_int_equal(catalog_query_parse("api_key=x&limit=2", CATALOG_QUERY_FEED, "api_key", &q,
                                         bad, sizeof(bad)),
                     0);
    static const struct {
        const char *q, *bad;
        enum catalog_query_kind kind;
    } cases[] = {
        {"limit=0", "limit", CATALOG_QUERY_FEED},
        {"limit=01", "limit", CATALOG_QUERY_FEED},
        {"limit=1001", "limit", CATALOG_QUERY_FEED},
        {"limit=5&limit=5", "limit", CATALOG_QUERY_FEED},
        {"content_type=", "content_type", CATALOG_QUERY_FEED},
        {"content_type=movie,,show", "content_type", CATALOG_QUERY_FEED},
        {"market=u", "market", CATALOG_QUERY_FEED},
        {"market=U1", "market", CATALOG_QUERY_FEED},
        {"since=x", "since", CATALOG_QUERY_FEED},
        {"cursor=x", "cursor", CATALOG_QUERY_WATCHABLES},
        {"limit=5", "limit", CATALOG_QUERY_WATCHABLES},
        {"api_key=x&api_key=y", "api_key", CATALOG_QUERY_FEED},
        {"api_key=x", "api_key", CATALOG_QUERY_FEED},
        {"cursor=%00", "cursor", CATALOG_QUERY_FEED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *skip = strstr(cases[i].q, "api_key=x&") ? "api_key" : NULL;
        assert_int_equal(catalog_query_parse(cases[i].q, cases[i].kind, skip, &q, bad, sizeof(bad)),
                         -1);
        assert_string_equal(bad, cases[i].bad);
    }
    assert_int_equal(
        catalog_query_parse("since=abc", CATALOG_QUERY_WATCHABLES, NULL, &q, bad, sizeof(bad)), 0);
    assert_string_equal(q.cursor, "abc");
}

static void test_query_mask(void **state)
{
    (void)state;
    char out[128];
    catalog_query_mask("limit=5&api_key=s3cret&x=1", "api_key", out, sizeof(out));
    assert_string_equal(out, "limit=5&api_key=***&x=1");
    catalog_query_mask("api%5Fkey=s3cret", "api_key", out, sizeof(out));
    assert_string_equal(out, "api%5Fkey=***");
    catalog_query_mask("a=1", NULL, out, sizeof(out));
    assert_string_equal(out, "a=1");
    catalog_query_mask("limit=5&api_key=s3cret", "api_key", out, 12);
    assert_null(strstr(out, "s3cret"));
}

static void test_removal_docs(void **state)
{
    (void)state;
    const char *gwi = "{\"id\":\"m1\",\"title\":\"T\",\"available_formats\":[{\"format\":\"HD\"}]}";
    json_t *d = catalog_removal_doc(FORMAT_GWI_JSON_1_1, gwi, strlen(gwi));
    assert_non_null(d);
    assert_int_equal(json_array_size(json_object_get(d, "available_formats")), 0);
    assert_string_equal(json_string_value(json_object_get(d, "title")), "T");
    json_decref(d);
    const char *ti = "{\"id\":\"m1\",\"status\":\"published\",\"availability\":{\"territories\":"
                     "[\"US\"],\"offers\":[{}]}}";
    d = catalog_removal_doc(FORMAT_TITANOS, ti, strlen(ti));
    assert_string_equal(json_string_value(json_object_get(d, "status")), "removed");
    char *s = json_dumps(json_object_get(d, "availability"), JSON_COMPACT);
    /* Every titanos key stays: the empty availability is nulls and empty lists. */
    assert_string_equal(s, "{\"start\":null,\"end\":null,\"territories\":[],"
                           "\"territory_policy\":null,\"offers\":[]}");
    free(s);
    json_decref(d);
    d = catalog_removal_doc(FORMAT_CANONICAL, "{\"id\":\"x\"}", 10);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "unpublished");
    json_decref(d);
    assert_null(catalog_removal_doc(FORMAT_CANONICAL, "[1]", 3));
    assert_null(catalog_removal_doc(FORMAT_CANONICAL, "{", 1));
}

static void test_markets(void **state)
{
    (void)state;
    char out[16];
    json_t *t = json_loads("{\"availability\":{\"territories\":[\"us\",\"GB\",\"bad\"],"
                           "\"territory_policy\":\"allow\"}}",
                           0, NULL);
    catalog_markets(t, out, sizeof(out));
    assert_string_equal(out, "+US,GB");
    json_decref(t);
    t = json_loads("{\"availability\":{\"territories\":[\"FR\"],\"territory_policy\":\"block\"}}",
                   0, NULL);
    catalog_markets(t, out, sizeof(out));
    assert_string_equal(out, "-FR");
    json_decref(t);
    t = json_loads("{\"availability\":{}}", 0, NULL);
    catalog_markets(t, out, sizeof(out));
    assert_string_equal(out, "");
    json_decref(t);
    t = json_loads("{\"availability\":{\"territories\":[\"AA\",\"BB\",\"CC\",\"DD\",\"EE\"]}}", 0,
                   NULL);
    catalog_markets(t, out, 8); /* "+AA,BB" fits, ",CC" does not */
    assert_string_equal(out, "+AA,BB");
    json_decref(t);
}

static void test_stored_form(void **state)
{
    (void)state;
    struct catalog_item it;
    int64_t seq = 0;
    const char *live = "L42:{\"id\":\"m1\"}";
    assert_int_equal(catalog_stored_parse(live, strlen(live), &it, &seq), 0);
    assert_int_equal(seq, 42);
    assert_int_equal(it.removed, 0);
    assert_int_equal(it.len, strlen("{\"id\":\"m1\"}"));
    assert_memory_equal(it.doc, "{\"id\":\"m1\"}", it.len);
    assert_int_equal(catalog_stored_parse("R7:{}", 5, &it, &seq), 0);
    assert_int_equal(it.removed, 1);
    assert_int_equal(seq, 7);
    assert_int_equal(it.len, 2);
    /* an empty document is still the form; anything else is not */
    assert_int_equal(catalog_stored_parse("L1:", 3, &it, &seq), 0);
    assert_int_equal(it.len, 0);
    const char *bad[] = {"", "L", "L:", "L12", "X12:{}", "L1x:{}", "{}", "L1234567890123456:{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(catalog_stored_parse(bad[i], strlen(bad[i]), &it, &seq), -1);
    /* catalog_doc.lua's reply */
    const char *doc = NULL;
    size_t len = 0;
    redisReply nil = {.type = REDIS_REPLY_NIL};
    assert_int_equal(catalog_doc_decode(&nil, &doc, &len), CATALOG_DOC_ABSENT);
    redisReply str = {.type = REDIS_REPLY_STRING, .str = (char *)"R9:{\"a\":1}", .len = 10};
    assert_int_equal(catalog_doc_decode(&str, &doc, &len), CATALOG_DOC_REMOVED);
    assert_int_equal(len, 7);
    assert_memory_equal(doc, "{\"a\":1}", 7);
    redisReply old = {.type = REDIS_REPLY_STRING, .str = (char *)"L{\"a\":1}", .len = 8};
    assert_int_equal(catalog_doc_decode(&old, &doc, &len), CATALOG_DOC_ERROR);
    assert_int_equal(catalog_doc_decode(NULL, &doc, &len), CATALOG_DOC_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor_roundtrip), cmocka_unit_test(test_query_parse),
        cmocka_unit_test(test_query_mask),       cmocka_unit_test(test_removal_docs),
        cmocka_unit_test(test_markets),          cmocka_unit_test(test_stored_form)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
