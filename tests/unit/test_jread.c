/* core/jread: the worker's JSON reader accepts exactly what json_loadb(buf, len, 0) accepts
 * and builds the same tree, key order included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/jread.h"

/* Both readers on the same bytes: both refuse, or both give the same tree and the same text. */
static void same(const char *buf, size_t len)
{
    json_error_t je;
    json_t *want = json_loadb(buf, len, 0, &je);
    json_t *got = jread_parse(buf, len);
    if ((want == NULL) != (got == NULL))
        fail_msg("jansson %s, jread %s: %.*s", want ? "accepts" : "refuses",
                 got ? "accepts" : "refuses", (int)(len > 200 ? 200 : len), buf);
    if (want != NULL) {
        assert_true(json_equal(want, got));
        char *a = json_dumps(want, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b); /* the same order of keys too */
        free(a);
        free(b);
    }
    json_decref(want);
    json_decref(got);
}

static void same_s(const char *s)
{
    same(s, strlen(s));
}

static char *slurp(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static const char *const fixtures[] = {
    "encorastream/movie.json",
    "encorastream/episode.json",
    "encorastream/show.json",
    "encorastream/seasons.json",
    "encorastream/webhook-published.json",
    "movida/title-episode.json",
    "movida/title-feature.json",
    "movida/title-group-series.json",
    "gowatchit/sample_feed_1.1.json",
};

static void test_fixtures(void **state)
{
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        size_t len;
        char *buf = slurp(fixtures[i], &len);
        /* the GoWatchIt sample is not valid JSON (a stray comma): refused by both */
        json_t *t = jread_parse(buf, len);
        if (t == NULL && strstr(fixtures[i], "gowatchit") == NULL)
            fail_msg("%s refused", fixtures[i]);
        json_decref(t);
        same(buf, len);
        free(buf);
    }
}

static void test_edges(void **state)
{
    static const char *const cases[] = {
        "{}",
        "[]",
        " [ ] ",
        "\t{\r\n}\n",
        "",
        " ",
        "1",
        "\"s\"",
        "true",
        "null",
        "[1]x",
        "[1] [2]",
        "[",
        "]",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "{'a':1}",
        "[01]",
        "[-0]",
        "[-0.0]",
        "[0.5]",
        "[.5]",
        "[1.]",
        "[1.e5]",
        "[1e]",
        "[1e+]",
        "[1e5]",
        "[1E-5]",
        "[-]",
        "[+1]",
        "[--1]",
        "[0x10]",
        "[9223372036854775807]",
        "[9223372036854775808]",
        "[-9223372036854775808]",
        "[-9223372036854775809]",
        "[999999999999999999]",
        "[1000000000000000000]",
        "[123456789012345678901234567890]",
        "[1e308]",
        "[1e309]",
        "[-1e309]",
        "[1e-400]",
        "[3.141592653589793238462643383279]",
        "[true]",
        "[truex]",
        "[true1]",
        "[tru]",
        "[nul]",
        "[TRUE]",
        "[false,null]",
        "[\"\"]",
        "[\"a\\\"b\"]",
        "[\"\\\\\"]",
        "[\"\\/\"]",
        "[\"\\b\\f\\n\\r\\t\"]",
        "[\"\\x\"]",
        "[\"\\u0041\"]",
        "[\"\\u00e9\"]",
        "[\"\\u20AC\"]",
        "[\"\\uD83D\\uDE00\"]",
        "[\"\\uD83D\"]",
        "[\"\\uDE00\"]",
        "[\"\\uD83Dx\"]",
        "[\"\\uD83D\\u0041\"]",
        "[\"\\u0000\"]",
        "{\"\\u0000\":1}",
        "[\"\\u00\"]",
        "[\"\\u00G0\"]",
        "[\"\\",
        "[\"abc",
        "[\"a\nb\"]",
        "[\"a\tb\"]",
        "[\"\x7f\"]",
        "[\"caf\xc3\xa9\"]",
        "[\"\xc3\"]",
        "[\"\xc3\x28\"]",
        "[\"\xc0\xaf\"]",
        "[\"\xe0\x80\xaf\"]",
        "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xf0\x9f\x98\x80\"]",
        "[\"\xff\"]",
        "{\"a\":1,\"a\":2}",
        "{\"b\":1,\"a\":2,\"b\":3}",
        "{\"\":0}",
        "{\"k\\n\":\"v\"}",
        "[[[]]]",
        "{\"a\":{\"b\":[{\"c\":null}]}}",
        "\xef\xbb\xbf{}",
        "[1]\x00",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        same_s(cases[i]);
    /* a NUL inside the text, which strlen would hide */
    same("[\"a\0b\"]", 7);
    same("[1,\0]", 5);
    same("{\"a\0\":1}", 8);
    /* Jansson drops one NUL after a number or a literal, not two, not elsewhere */
    same("[1\0]", 5);
    same("[1\0\0]", 6);
    same("[true\0,null\0]", 14);
    same("[\0 1]", 5);
    same("{\"a\":1\0}", 9);
    same("{\"a\"\0:1}", 9);
    same("[1.5e3\0]", 9);
}

static void test_depth(void **state)
{
    /* around Jansson's 2048 levels, containers and a scalar at the bottom */
    for (int n = 2045; n <= 2050; n++) {
        char *buf = malloc((size_t)n * 2 + 8);
        assert_non_null(buf);
        memset(buf, '[', (size_t)n);
        memset(buf + n, ']', (size_t)n);
        same(buf, (size_t)n * 2);
        memset(buf, '[', (size_t)n);
        buf[n] = '1';
        memset(buf + n + 1, ']', (size_t)n);
        same(buf, (size_t)n * 2 + 1);
        free(buf);
    }
}

/* Thousands of damaged copies of a real source document (bytes changed, dropped, repeated,
 * a cut at every length): the two readers agree on each. */
static void test_mutations(void **state)
{
    size_t len;
    char *orig = slurp("encorastream/movie.json", &len);
    char *buf = malloc(len + 16);
    assert_non_null(buf);
    static const char alphabet[] = "{}[]\",:\\u0123456789abcdefABCDEF.eE+- \t\n\r\x00\x1f\x7f"
                                   "\x80\xbf\xc3\xe2\xed\xf0\xff";
    uint32_t seed = 12345;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, orig, len);
        size_t n = len;
        int edits = 1 + (int)(seed % 3);
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            char c = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
            switch ((seed >> 20) % 3) {
            case 0:
                buf[at] = c;
                break;
            case 1:
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            default:
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = c;
                n++;
                break;
            }
        }
        same(buf, n);
    }
    for (size_t cut = 0; cut <= len; cut++)
        same(orig, cut);
    free(buf);
    free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
