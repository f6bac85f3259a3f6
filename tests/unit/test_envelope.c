#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "relay/envelope.h"
#include "relay/envelope_json.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "tests/fixtures"
#endif

static struct source encora = {
    .name = "encora", .kind = SOURCE_ENCORASTREAM, .api_base_url = "https://cms.example.com/v2"};
static struct source movida = {
    .name = "movida", .kind = SOURCE_MOVIDA, .api_base_url = "https://movida.example.com/api"};

static char *read_fixture(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65536, f);
    fclose(f);
    return buf;
}

/* Parses body and expects success; the caller frees the result. */
static struct envelope *ok(const struct source *src, const char *body, const char *fallback)
{
    struct envelope *env = (struct envelope *)1;
    char err[256];
    enum envelope_result r =
        envelope_parse(src, body, strlen(body), fallback, &env, err, sizeof(err));
    if (r != ENVELOPE_OK)
        print_error("unexpected failure: %s\n", err);
    assert_int_equal(r, ENVELOPE_OK);
    assert_non_null(env);
    return env;
}

/* Parses body and expects the given failure with exactly the given message. */
static void fails(const struct source *src, const char *body, const char *fallback,
                  enum envelope_result want, const char *msg)
{
    struct envelope *env = (struct envelope *)1;
    char err[256];
    enum envelope_result r =
        envelope_parse(src, body, strlen(body), fallback, &env, err, sizeof(err));
    assert_int_equal(r, want);
    assert_null(env);
    if (msg != NULL)
        assert_string_equal(err, msg);
}

#define INVALID(src, body, msg) fails(src, body, NULL, ENVELOPE_INVALID, msg)

/* ---- fixtures ---- */

static void test_fixture_published(void **state)
{
    size_t len;
    char *body = read_fixture("encorastream/webhook-published.json", &len);
    struct envelope *env = NULL;
    char err[256];
    assert_int_equal(envelope_parse(&encora, body, len, NULL, &env, err, sizeof(err)), ENVELOPE_OK);
    assert_string_equal(env->id, "evt_01JD2Q7K3V8X6M4N2P0R5T7W9Y");
    assert_string_equal(env->type, "content.published");
    assert_int_equal(env->created_at_ms, INT64_C(1795168800000)); /* 2026-11-20T10:00:00Z */
    assert_true(envelope_is_content(env));
    assert_string_equal(env->content_type, "movie");
    assert_string_equal(env->content_id, "497f6eca-6276-4993-bfeb-53cbbbba6f08");
    assert_null(env->show_id);
    assert_int_equal(env->season_number, -1);
    assert_int_equal(env->episode_number, -1);
    envelope_free(env);
    free(body);
}

static void test_fixture_unpublished(void **state)
{
    size_t len;
    char *body = read_fixture("encorastream/webhook-unpublished.json", &len);
    struct envelope *env = NULL;
    char err[256];
    assert_int_equal(envelope_parse(&encora, body, len, NULL, &env, err, sizeof(err)), ENVELOPE_OK);
    assert_string_equal(env->id, "evt_01JD2QB1C4E6G8J0K2M4P6R8T0");
    assert_string_equal(env->type, "content.unpublished");
    assert_int_equal(env->created_at_ms, INT64_C(1795177800000)); /* 2026-11-20T12:30:00Z */
    assert_true(envelope_is_content(env));
    assert_string_equal(env->content_type, "movie");
    assert_string_equal(env->content_id, "497f6eca-6276-4993-bfeb-53cbbbba6f08");
    envelope_free(env);
    free(body);
}

/* ---- common fields ---- */

static void test_non_content_types(void **state)
{
    struct envelope *env = ok(&encora, "{\"id\":\"evt_1\",\"type\":\"ping\"}", NULL);
    assert_string_equal(env->type, "ping");
    assert_false(envelope_is_content(env));
    assert_int_equal(env->created_at_ms, -1);
    assert_null(env->content_type);
    assert_null(env->content_id);
    envelope_free(env);

    /* No data needed, and whatever data there is goes unread. */
    env = ok(&movida, "{\"id\":\"e\",\"type\":\"title.renamed\",\"data\":[1,2]}", NULL);
    assert_false(envelope_is_content(env));
    assert_null(env->content_id);
    envelope_free(env);

    assert_false(envelope_is_content(NULL));
    envelope_free(NULL);
}

static void test_id_rules(void **state)
{
    struct envelope *env = ok(&movida, "{\"type\":\"ping\"}", "msg_p5jXN8AQM9LWM0D4loKWxJek");
    assert_string_equal(env->id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
    envelope_free(env);
    env = ok(&movida, "{\"id\":\"\",\"type\":\"ping\"}", "msg_1");
    assert_string_equal(env->id, "msg_1");
    envelope_free(env);
    env = ok(&movida, "{\"id\":null,\"type\":\"ping\"}", "msg_1");
    assert_string_equal(env->id, "msg_1");
    envelope_free(env);
    /* The envelope's own id wins over the header's. */
    env = ok(&movida, "{\"id\":\"evt-7781\",\"type\":\"ping\"}", "msg_1");
    assert_string_equal(env->id, "evt-7781");
    envelope_free(env);

    INVALID(&encora, "{\"type\":\"ping\"}", "id: missing");
    INVALID(&encora, "{\"id\":\"\",\"type\":\"ping\"}", "id: missing");
    fails(&encora, "{\"type\":\"ping\"}", "", ENVELOPE_INVALID, "id: missing");
    INVALID(&encora, "{\"id\":17,\"type\":\"ping\"}", "id: not a string");
    INVALID(&encora, "{\"id\":\"a\\u0001b\",\"type\":\"ping\"}", "id: contains control characters");
    char body[600];
    snprintf(body, sizeof(body), "{\"id\":\"%0300d\",\"type\":\"ping\"}", 0);
    INVALID(&encora, body, "id: too long");
    fails(&encora, "{\"type\":\"ping\"}", "bad\nid", ENVELOPE_INVALID,
          "webhook-id: contains control characters");
}

static void test_type_rules(void **state)
{
    INVALID(&encora, "{\"id\":\"e\"}", "type: missing");
    INVALID(&encora, "{\"id\":\"e\",\"type\":\"\"}", "type: missing");
    INVALID(&encora, "{\"id\":\"e\",\"type\":null}", "type: missing");
    INVALID(&encora, "{\"id\":\"e\",\"type\":[\"ping\"]}", "type: not a string");
    INVALID(&encora, "{\"id\":\"e\",\"type\":\"a\\tb\"}", "type: contains control characters");
}

static void test_created_at(void **state)
{
    struct envelope *env =
        ok(&encora, "{\"id\":\"e\",\"type\":\"ping\",\"created_at\":\"2026-11-20T11:00:00+01:00\"}",
           NULL);
    assert_int_equal(env->created_at_ms, INT64_C(1795168800000));
    envelope_free(env);
    env = ok(&encora,
             "{\"id\":\"e\",\"type\":\"ping\",\"created_at\":\"2026-11-20T10:00:00.250Z\"}", NULL);
    assert_int_equal(env->created_at_ms, INT64_C(1795168800250));
    envelope_free(env);
    env = ok(&encora, "{\"id\":\"e\",\"type\":\"ping\",\"created_at\":null}", NULL);
    assert_int_equal(env->created_at_ms, -1);
    envelope_free(env);

    static const char *const bad[] = {"\"yesterday\"",
                                      "\"2026-11-20T10:00:00\"",
                                      "\"2026-13-01T00:00:00Z\"",
                                      "\"\"",
                                      "1795168800",
                                      "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"id\":\"e\",\"type\":\"ping\",\"created_at\":%s}", bad[i]);
        INVALID(&encora, body, "created_at: not an RFC 3339 time");
    }
    INVALID(&encora, "{\"id\":\"e\",\"type\":\"ping\",\"created_at\":\"1969-07-20T20:17:00Z\"}",
            "created_at: before 1970");
}

static void test_json_errors(void **state)
{
    fails(&encora, "", NULL, ENVELOPE_INVALID_JSON, NULL);
    fails(&encora, "{\"id\":\"e\",", NULL, ENVELOPE_INVALID_JSON, NULL);
    fails(&encora, "{'id':'e'}", NULL, ENVELOPE_INVALID_JSON, NULL);
    fails(&encora, "{\"id\":\"e\",\"type\":\"ping\"} trailing", NULL, ENVELOPE_INVALID_JSON, NULL);
    /* Invalid UTF-8: a lone continuation byte, an overlong '/', a UTF-16 surrogate. */
    fails(&encora, "{\"id\":\"\x80\",\"type\":\"ping\"}", NULL, ENVELOPE_INVALID_JSON,
          "body: not valid UTF-8");
    fails(&encora, "{\"id\":\"\xc0\xaf\",\"type\":\"ping\"}", NULL, ENVELOPE_INVALID_JSON,
          "body: not valid UTF-8");
    fails(&encora, "{\"id\":\"\xed\xa0\x80\",\"type\":\"ping\"}", NULL, ENVELOPE_INVALID_JSON,
          "body: not valid UTF-8");

    /* Well-formed JSON of the wrong shape is an invalid envelope, not invalid JSON. */
    INVALID(&encora, "[]", "body: not a JSON object");
    INVALID(&encora, "\"ping\"", "body: not a JSON object");
    INVALID(&encora, "null", "body: not a JSON object");
    INVALID(&encora, "{\"id\":\"a\",\"id\":\"b\",\"type\":\"ping\"}", "body: duplicate object key");
    INVALID(&encora, "{\"id\":\"a\\u0000b\",\"type\":\"ping\"}", "body: string contains U+0000");

    /* Multi-byte UTF-8 in ids is fine. */
    struct envelope *env = ok(&encora, "{\"id\":\"évt-ü\",\"type\":\"ping\"}", NULL);
    assert_string_equal(env->id, "évt-ü");
    envelope_free(env);
}

static void test_errors_never_echo_body(void **state)
{
    static const char *const bodies[] = {
        "{\"id\":\"e\",\"type\":\"content.published\",\"data\":{\"content_type\":\"movie\","
        "\"content_id\":\"SECRETMARK/../x\"}}",
        "{\"id\":\"e\",\"type\":\"content.published\",\"data\":{\"content_type\":\"SECRETMARK\","
        "\"content_id\":\"x\"}}",
        "{\"id\":\"e\",\"type\":\"ping\",\"created_at\":\"SECRETMARK\"}",
        "{\"id\":\"e\",\"SECRETMARK\" \"type\":\"ping\"}",
        "{\"SECRETMARK\":tru}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct envelope *env = NULL;
        char err[256];
        enum envelope_result r =
            envelope_parse(&encora, bodies[i], strlen(bodies[i]), NULL, &env, err, sizeof(err));
        assert_int_not_equal(r, ENVELOPE_OK);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "SECRETMARK"));
    }
    struct envelope *env = NULL;
    char err[256];
    const char *body = "{\"id\":\"e\",\"type\":\"content.published\",\"data\":{"
                       "\"self_link\":\"https://SECRETMARK.example/api/titles/1\"}}";
    assert_int_equal(envelope_parse(&movida, body, strlen(body), NULL, &env, err, sizeof(err)),
                     ENVELOPE_INVALID);
    assert_null(strstr(err, "SECRETMARK"));
}

static void test_small_error_buffer(void **state)
{
    struct envelope *env = NULL;
    char err[8];
    const char *body = "{\"id\":\"e\",\"type\":\"content.published\"}";
    assert_int_equal(envelope_parse(&encora, body, strlen(body), NULL, &env, err, sizeof(err)),
                     ENVELOPE_INVALID);
    assert_string_equal(err, "data: m");
    assert_int_equal(envelope_parse(&encora, body, strlen(body), NULL, &env, NULL, 0),
                     ENVELOPE_INVALID);
}

/* ---- encorastream ---- */

#define EPUB(data) "{\"id\":\"evt_1\",\"type\":\"content.published\",\"data\":" data "}"

static void test_encora_types(void **state)
{
    struct envelope *env =
        ok(&encora, EPUB("{\"content_type\":\"show\",\"content_id\":\"show_1.v2\"}"), NULL);
    assert_string_equal(env->content_type, "show");
    assert_string_equal(env->content_id, "show_1.v2");
    assert_null(env->show_id);
    envelope_free(env);

    INVALID(&encora, EPUB("{\"content_type\":\"season\",\"content_id\":\"x\"}"),
            "data.content_type: must be movie, show or episode");
    INVALID(&encora, EPUB("{\"content_type\":\"channel\",\"content_id\":\"x\"}"),
            "data.content_type: must be movie, show or episode");
    INVALID(&encora, EPUB("{\"content_type\":\"Movie\",\"content_id\":\"x\"}"),
            "data.content_type: must be movie, show or episode");
    INVALID(&encora, EPUB("{\"content_type\":1,\"content_id\":\"x\"}"),
            "data.content_type: must be movie, show or episode");
    INVALID(&encora, EPUB("{\"content_id\":\"x\"}"), "data.content_type: missing");
    INVALID(&encora, "{\"id\":\"e\",\"type\":\"content.published\"}", "data: missing");
    INVALID(&encora, "{\"id\":\"e\",\"type\":\"content.unpublished\",\"data\":null}",
            "data: missing");
    INVALID(&encora, EPUB("[]"), "data: not an object");
    INVALID(&encora, EPUB("\"movie\""), "data: not an object");
}

static void test_encora_content_id(void **state)
{
    char body[512], id[200];
    INVALID(&encora, EPUB("{\"content_type\":\"movie\"}"), "data.content_id: missing");
    INVALID(&encora, EPUB("{\"content_type\":\"movie\",\"content_id\":\"\"}"),
            "data.content_id: missing");
    INVALID(&encora, EPUB("{\"content_type\":\"movie\",\"content_id\":42}"),
            "data.content_id: not a string");
    static const char *const bad[] = {"../admin", "a/b",   "a b", "a%2Fb",           "..",
                                      ".",        "a?b=1", "a#b", "\\u00e9t\\u00e9", "a\\u0000b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), EPUB("{\"content_type\":\"movie\",\"content_id\":\"%s\"}"),
                 bad[i]);
        struct envelope *env = NULL;
        char err[256];
        assert_int_equal(envelope_parse(&encora, body, strlen(body), NULL, &env, err, sizeof(err)),
                         ENVELOPE_INVALID);
        assert_null(env);
    }
    INVALID(&encora, EPUB("{\"content_type\":\"movie\",\"content_id\":\"a/b\"}"),
            "data.content_id: not a valid id (letters, digits, '-', '_', '.')");

    memset(id, 'a', 128);
    id[128] = '\0';
    snprintf(body, sizeof(body), EPUB("{\"content_type\":\"movie\",\"content_id\":\"%s\"}"), id);
    struct envelope *env = ok(&encora, body, NULL);
    assert_int_equal(strlen(env->content_id), 128);
    envelope_free(env);
    id[128] = 'a';
    id[129] = '\0';
    snprintf(body, sizeof(body), EPUB("{\"content_type\":\"movie\",\"content_id\":\"%s\"}"), id);
    INVALID(&encora, body, "data.content_id: too long");
}

#define EP(extra) EPUB("{\"content_type\":\"episode\",\"content_id\":\"ep-1\"" extra "}")

static void test_encora_episode(void **state)
{
    struct envelope *env =
        ok(&encora, EP(",\"show_id\":\"503c9125-a11a\",\"season_number\":2,\"episode_number\":5"),
           NULL);
    assert_string_equal(env->content_type, "episode");
    assert_string_equal(env->content_id, "ep-1");
    assert_string_equal(env->show_id, "503c9125-a11a");
    assert_int_equal(env->season_number, 2);
    assert_int_equal(env->episode_number, 5);
    envelope_free(env);

    /* The CMS's Get Episode route takes episode_number >= 0 (a pilot or special as 0). */
    env = ok(&encora, EP(",\"show_id\":\"s\",\"season_number\":1,\"episode_number\":0"), NULL);
    assert_int_equal(env->episode_number, 0);
    envelope_free(env);

    INVALID(&encora, EP(",\"season_number\":1,\"episode_number\":1"), "data.show_id: missing");
    INVALID(&encora, EP(",\"show_id\":\"../x\",\"season_number\":1,\"episode_number\":1"),
            "data.show_id: not a valid id (letters, digits, '-', '_', '.')");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"episode_number\":1"), "data.season_number: missing");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"season_number\":1"), "data.episode_number: missing");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"season_number\":0,\"episode_number\":1"),
            "data.season_number: not an integer >= 1");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"season_number\":-3,\"episode_number\":1"),
            "data.season_number: not an integer >= 1");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"season_number\":\"1\",\"episode_number\":1"),
            "data.season_number: not an integer >= 1");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"season_number\":1.0,\"episode_number\":1"),
            "data.season_number: not an integer >= 1");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"season_number\":4294967297,\"episode_number\":1"),
            "data.season_number: not an integer >= 1");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"season_number\":1,\"episode_number\":-1"),
            "data.episode_number: not an integer >= 0");
    INVALID(&encora, EP(",\"show_id\":\"s\",\"season_number\":1,\"episode_number\":true"),
            "data.episode_number: not an integer >= 0");
}

static void test_encora_unpublished_needs_data(void **state)
{
    struct envelope *env =
        ok(&encora,
           "{\"id\":\"e\",\"type\":\"content.unpublished\",\"data\":{\"content_type\":\"episode\","
           "\"content_id\":\"ep\",\"show_id\":\"s\",\"season_number\":1,\"episode_number\":2}}",
           NULL);
    assert_true(envelope_is_content(env));
    assert_string_equal(env->show_id, "s");
    envelope_free(env);
    INVALID(&encora,
            "{\"id\":\"e\",\"type\":\"content.unpublished\",\"data\":{\"content_type\":\"movie\"}}",
            "data.content_id: missing");
}

/* ---- movida ---- */

#define MPUB(data) "{\"id\":\"evt-7781\",\"type\":\"content.published\",\"data\":" data "}"

static void test_movida_title_id(void **state)
{
    struct envelope *env = ok(&movida, MPUB("{\"title_id\":73}"), NULL);
    assert_string_equal(env->id, "evt-7781");
    assert_string_equal(env->content_id, "73");
    assert_null(env->content_type);
    assert_null(env->show_id);
    assert_int_equal(env->season_number, -1);
    envelope_free(env);
    env = ok(&movida, MPUB("{\"title_id\":\"73\"}"), NULL);
    assert_string_equal(env->content_id, "73");
    envelope_free(env);
    env = ok(&movida, MPUB("{\"title_id\":\"0073\"}"), NULL);
    assert_string_equal(env->content_id, "73");
    envelope_free(env);
    env = ok(&movida, MPUB("{\"title_id\":9007199254740993}"), NULL);
    assert_string_equal(env->content_id, "9007199254740993");
    envelope_free(env);

    static const char *const bad[] = {"0",        "-73",     "73.5",    "\"\"",
                                      "\"0\"",    "\"-73\"", "\"7 3\"", "\"73a\"",
                                      "\"0x49\"", "true",    "[73]",    "\"1234567890123456789\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body), MPUB("{\"title_id\":%s}"), bad[i]);
        INVALID(&movida, body, "data.title_id: not a positive integer");
    }
    INVALID(&movida, MPUB("{}"), "data.title_id: missing (or data.self_link)");
    INVALID(&movida, MPUB("{\"title_id\":null}"), "data.title_id: missing (or data.self_link)");
    INVALID(&movida, "{\"id\":\"e\",\"type\":\"content.unpublished\"}", "data: missing");
}

static void test_movida_self_link(void **state)
{
    struct envelope *env =
        ok(&movida, MPUB("{\"self_link\":\"https://movida.example.com/api/titles/73\"}"), NULL);
    assert_string_equal(env->content_id, "73");
    envelope_free(env);
    /* Both given and agreeing. */
    env = ok(&movida,
             MPUB("{\"title_id\":73,\"self_link\":\"https://movida.example.com/api/titles/73\"}"),
             NULL);
    assert_string_equal(env->content_id, "73");
    envelope_free(env);
    INVALID(&movida,
            MPUB("{\"title_id\":74,\"self_link\":\"https://movida.example.com/api/titles/73\"}"),
            "data.self_link: does not match data.title_id");

    static const char *const outside[] = {
        "https://movida.bebanjo.net/api/titles/73",
        "https://evil.example.com/api/titles/73",
        "http://movida.example.com/api/titles/73",
        "https://movida.example.com/api.evil.com/titles/73",
        "https://movida.example.com.evil.com/api/titles/73",
        "https://movida.example.com/api/titles/73/../../admin",
        "https://movida.example.com/api/titles/73?expand=x",
        "https://movida.example.com/api/titles/73/",
        "https://movida.example.com/api/titles/",
        "https://movida.example.com/api/titles/0",
        "https://movida.example.com/api/titles/abc",
        "https://movida.example.com/api/content_promotions/4",
        "https://movida.example.com/api/movies/73",
        "https://movida.example.com/api/Titles/73",
        "https://movida.example.com/api//titles/73",
        "https://movida.example.com/titles/73",
        "/api/titles/73",
        "",
    };
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body), MPUB("{\"self_link\":\"%s\"}"), outside[i]);
        INVALID(&movida, body, "data.self_link: not under the source's api.base_url");
    }
    INVALID(&movida, MPUB("{\"self_link\":73}"), "data.self_link: not a string");

    /* Without an api.base_url no self_link can be trusted. */
    struct source bare = movida;
    bare.api_base_url = NULL;
    INVALID(&bare, MPUB("{\"self_link\":\"https://movida.example.com/api/titles/73\"}"),
            "data.self_link: not under the source's api.base_url");
}

static void test_movida_title_type(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {{"feature", "movie"},   {"film", "movie"},  {"movie", "movie"},
                 {"episode", "episode"}, {"series", "show"}, {"show", "show"},
                 {"season", "season"},   {"trailer", NULL},  {"Feature", NULL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body), MPUB("{\"title_id\":73,\"title_type\":\"%s\"}"), cases[i].in);
        struct envelope *env = ok(&movida, body, NULL);
        if (cases[i].out == NULL)
            assert_null(env->content_type);
        else
            assert_string_equal(env->content_type, cases[i].out);
        envelope_free(env);
    }
    struct envelope *env = ok(&movida, MPUB("{\"title_id\":73,\"title_type\":7}"), NULL);
    assert_null(env->content_type);
    envelope_free(env);
}

static void test_movida_fallback_id(void **state)
{
    /* Standard Webhooks senders may leave "id" out; webhook-id stands in. */
    struct envelope *env =
        ok(&movida, "{\"type\":\"content.unpublished\",\"data\":{\"title_id\":73}}", "msg_2");
    assert_string_equal(env->id, "msg_2");
    assert_string_equal(env->content_id, "73");
    envelope_free(env);
}

/* The fast path takes plain documents, giving Jansson's tree, and leaves the rest (escapes,
 * reals, long integers, duplicates, bad syntax, a non-object top level) to Jansson. */
static void test_fast_json(void **state)
{
    static const char *const taken[] = {
        "{}",
        " {\"id\":\"e\",\"n\":-0,\"m\":123456789012345678,\"a\":[1,\"x\",true,false,null,[],{}]}\n",
        "{\"data\":{\"deep\":{\"k\":{\"l\":[[[]]]}}},\"\":\"\xc3\xa9\"}",
    };
    static const char *const left[] = {"{\"id\":\"e\\u0041\"}",
                                       "{\"n\":1.5}",
                                       "{\"n\":1e3}",
                                       "{\"n\":1234567890123456789}",
                                       "{\"n\":01}",
                                       "{\"k\":1,\"k\":2}",
                                       "{\"a\":{\"k\":1,\"k\":2}}",
                                       "{\"a\":1,}",
                                       "{\"a\":1} x",
                                       "[1]",
                                       "\"s\"",
                                       "{\"a\":tru}",
                                       "{\"a\":\"tab\there\"}",
                                       "",
                                       "{\"a\":-}"};
    for (size_t i = 0; i < sizeof(taken) / sizeof(*taken); i++) {
        json_error_t jerr;
        json_t *fast = envelope_json_load(taken[i], strlen(taken[i]));
        json_t *slow =
            json_loadb(taken[i], strlen(taken[i]), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        assert_non_null(fast);
        assert_non_null(slow);
        assert_true(json_equal(fast, slow));
        json_decref(fast);
        json_decref(slow);
    }
    for (size_t i = 0; i < sizeof(left) / sizeof(*left); i++)
        assert_null(envelope_json_load(left[i], strlen(left[i])));
    /* valid, but nested past the fast path's depth: Jansson's to take */
    char deep[128] = "{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    assert_null(envelope_json_load(deep, strlen(deep)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_json),
        cmocka_unit_test(test_fixture_published),
        cmocka_unit_test(test_fixture_unpublished),
        cmocka_unit_test(test_non_content_types),
        cmocka_unit_test(test_id_rules),
        cmocka_unit_test(test_type_rules),
        cmocka_unit_test(test_created_at),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_errors_never_echo_body),
        cmocka_unit_test(test_small_error_buffer),
        cmocka_unit_test(test_encora_types),
        cmocka_unit_test(test_encora_content_id),
        cmocka_unit_test(test_encora_episode),
        cmocka_unit_test(test_encora_unpublished_needs_data),
        cmocka_unit_test(test_movida_title_id),
        cmocka_unit_test(test_movida_self_link),
        cmocka_unit_test(test_movida_title_type),
        cmocka_unit_test(test_movida_fallback_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
