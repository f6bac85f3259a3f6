/* core/log: every line is one valid JSON object, whatever the values hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "core/log.h"

static char *captured;
static size_t captured_len;
static FILE *capture;

static int setup(void **state)
{
    capture = open_memstream(&captured, &captured_len);
    log_set_stream(capture);
    log_set_level(LOG_LEVEL_INFO);
    log_set_program("test_log");
    return capture ? 0 : -1;
}

static int teardown(void **state)
{
    log_set_stream(NULL);
    fclose(capture);
    free(captured);
    return 0;
}

/* Parses the single line written since the last call (strictly: UTF-8, no duplicate keys),
 * checks it is one line within LOG_LINE_MAX. Caller decrefs. */
static json_t *last_line(void)
{
    static size_t seen;
    fflush(capture);
    assert_true(captured_len > seen);
    const char *line = captured + seen;
    size_t n = captured_len - seen;
    seen = captured_len;
    assert_true(n <= LOG_LINE_MAX);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1));
    json_error_t je;
    json_t *doc = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL)
        fail_msg("invalid JSON (%s): %.*s", je.text, (int)(n > 300 ? 300 : n), line);
    assert_true(json_is_object(doc));
    return doc;
}

static void test_fields_and_types(void **state)
{
    char rid[] = "req-1";
    LOG_INFO("webhook accepted", "request_id", rid, "skipped", NULL, LOG_INT("bytes", 1048576),
             LOG_INT("neg", -5), LOG_INT("big", INT64_MAX), LOG_BOOL("dup", 7), LOG_BOOL("tls", 0),
             LOG_DOUBLE("seconds", 0.25), LOG_DOUBLE("nan", NAN), LOG_STR("source", "encora"),
             LOG_STR("nothing", NULL), LOG_STRN("path", "/webhooks/encora?x", 16),
             LOG_STRN("none", NULL, 3), NULL);
    json_t *d = last_line();
    assert_string_equal(json_string_value(json_object_get(d, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(d, "program")), "test_log");
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "webhook accepted");
    assert_non_null(json_string_value(json_object_get(d, "ts")));
    assert_string_equal(json_string_value(json_object_get(d, "request_id")), "req-1");
    assert_null(json_object_get(d, "skipped"));
    assert_true(json_is_integer(json_object_get(d, "bytes")));
    assert_int_equal(json_integer_value(json_object_get(d, "bytes")), 1048576);
    assert_int_equal(json_integer_value(json_object_get(d, "neg")), -5);
    assert_true(json_integer_value(json_object_get(d, "big")) == INT64_MAX);
    assert_true(json_is_true(json_object_get(d, "dup")));
    assert_true(json_is_false(json_object_get(d, "tls")));
    assert_true(json_real_value(json_object_get(d, "seconds")) == 0.25);
    assert_true(json_is_null(json_object_get(d, "nan")));
    assert_string_equal(json_string_value(json_object_get(d, "source")), "encora");
    assert_null(json_object_get(d, "nothing"));
    assert_string_equal(json_string_value(json_object_get(d, "path")), "/webhooks/encora");
    assert_null(json_object_get(d, "none"));
    assert_null(json_object_get(d, "truncated"));
    json_decref(d);
}

static int evaluated;
static int64_t count_call(void)
{
    evaluated++;
    return 1;
}

/* Below the threshold nothing is written, and the arguments are not even evaluated. */
static void test_level_checked_first(void **state)
{
    fflush(capture);
    size_t before = captured_len;
    evaluated = 0;
    LOG_DEBUG("noise", LOG_INT("n", count_call()), NULL);
    fflush(capture);
    assert_int_equal(evaluated, 0);
    assert_int_equal(captured_len, before);
    LOG_WARN("kept", LOG_INT("n", count_call()), NULL);
    assert_int_equal(evaluated, 1);
    json_t *d = last_line();
    assert_string_equal(json_string_value(json_object_get(d, "level")), "warn");
    json_decref(d);
}

/* A 10 KB sender-controlled value (a source name in the path, say): the value is cut, the line
 * stays whole, and the fields after it are kept. */
static void test_long_value_truncated(void **state)
{
    char *big = malloc(10 * 1024 + 1);
    assert_non_null(big);
    memset(big, 'a', 10 * 1024);
    big[10 * 1024] = '\0';
    LOG_WARN("unknown source", "source", big, "request_id", "req-2", NULL);
    json_t *d = last_line();
    const char *v = json_string_value(json_object_get(d, "source"));
    assert_non_null(v);
    assert_int_equal(strlen(v), LOG_VALUE_MAX + 3);
    assert_string_equal(v + LOG_VALUE_MAX, "...");
    assert_string_equal(json_string_value(json_object_get(d, "request_id")), "req-2");
    json_decref(d);

    /* The cut never splits a character. */
    memset(big, 'a', LOG_VALUE_MAX - 1);
    strcpy(big + LOG_VALUE_MAX - 1, "\xc3\xa9tail");
    LOG_WARN("boundary", "v", big, NULL);
    d = last_line();
    v = json_string_value(json_object_get(d, "v"));
    assert_int_equal(strlen(v), LOG_VALUE_MAX - 1 + 3);
    assert_string_equal(v + LOG_VALUE_MAX - 1, "...");
    json_decref(d);

    /* So does a long message. */
    memset(big, 'm', 10 * 1024);
    big[10 * 1024] = '\0';
    LOG_ERROR(big, NULL);
    d = last_line();
    assert_int_equal(strlen(json_string_value(json_object_get(d, "msg"))), LOG_VALUE_MAX + 3);
    json_decref(d);
    free(big);
}

/* Many long fields: those that do not fit are dropped whole and the line says so. */
static void test_line_limit(void **state)
{
    char v[LOG_VALUE_MAX + 1];
    memset(v, 'x', LOG_VALUE_MAX);
    v[LOG_VALUE_MAX] = '\0';
    LOG_INFO("many", "a", v, "b", v, "c", v, "d", v, "e", v, "f", v, "g", v, "h", v, "i", v, "j", v,
             LOG_INT("small", 42), NULL);
    json_t *d = last_line();
    assert_true(json_is_true(json_object_get(d, "truncated")));
    assert_string_equal(json_string_value(json_object_get(d, "a")), v);
    assert_null(json_object_get(d, "j"));
    assert_int_equal(json_integer_value(json_object_get(d, "small")), 42);
    json_decref(d);
}

/* Bytes that are not UTF-8 are written as \xHH text; valid characters pass as they are. */
static void test_invalid_utf8_escaped(void **state)
{
    LOG_INFO("bytes", "bad",
             "a\xff\xfe"
             "b",
             "overlong", "\xc0\xaf", "surrogate", "\xed\xa0\x80", "cut", "x\xe2\x82", "above",
             "\xf4\x90\x80\x80", "lone", "\x80", "good",
             "caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x8e\xac", NULL);
    json_t *d = last_line();
    assert_string_equal(json_string_value(json_object_get(d, "bad")), "a\\xff\\xfeb");
    assert_string_equal(json_string_value(json_object_get(d, "overlong")), "\\xc0\\xaf");
    assert_string_equal(json_string_value(json_object_get(d, "surrogate")), "\\xed\\xa0\\x80");
    assert_string_equal(json_string_value(json_object_get(d, "cut")), "x\\xe2\\x82");
    assert_string_equal(json_string_value(json_object_get(d, "above")), "\\xf4\\x90\\x80\\x80");
    assert_string_equal(json_string_value(json_object_get(d, "lone")), "\\x80");
    assert_string_equal(json_string_value(json_object_get(d, "good")),
                        "caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x8e\xac");
    json_decref(d);
    /* Also in keys and the message. */
    LOG_INFO("m\xff", "k\xfe", "v", NULL);
    d = last_line();
    assert_string_equal(json_string_value(json_object_get(d, "msg")), "m\\xff");
    assert_string_equal(json_string_value(json_object_get(d, "k\\xfe")), "v");
    json_decref(d);
}

/* Control characters are escaped and come back as they were. */
static void test_control_characters(void **state)
{
    const char *ctl = "a\nb\rc\td\x01"
                      "e\x1b[31m\x7f\"q\"\\";
    LOG_INFO("ctl", "v", ctl, NULL);
    fflush(capture);
    json_t *d = last_line();
    assert_string_equal(json_string_value(json_object_get(d, "v")), ctl);
    json_decref(d);
    /* The raw line holds no control byte: a terminal shows it safely. */
    const char *end = captured + captured_len - 1;
    const char *start = end - 1;
    while (start > captured && start[-1] != '\n')
        start--;
    for (const char *p = start; p < end; p++)
        assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
}

static void count_held(void *arg)
{
    (*(int *)arg)++;
}

/* Buffered mode: info lines wait for log_flush() or a warn line, in order, whole lines. */
static void test_buffered(void **state)
{
    json_t *d;
    fflush(capture);
    size_t before = captured_len;
    int held = 0;
    log_set_buffered(1, count_held, &held);
    LOG_INFO("held one", NULL);
    LOG_INFO("held two", NULL);
    fflush(capture);
    assert_int_equal(captured_len, before);
    assert_int_equal(held, 1); /* once per filling of an empty buffer */
    log_flush();
    fflush(capture);
    assert_true(captured_len > before);
    assert_non_null(strstr(captured + before, "held one"));
    assert_true(strstr(captured + before, "held one") < strstr(captured + before, "held two"));
    before = captured_len;
    LOG_INFO("held three", NULL);
    LOG_WARN("at once", NULL);
    fflush(capture);
    assert_true(strstr(captured + before, "held three") < strstr(captured + before, "at once"));
    /* more than the buffer holds: written as it fills, nothing lost or cut */
    before = captured_len;
    char v[600];
    memset(v, 'x', sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    for (int i = 0; i < 40; i++)
        LOG_INFO("many", LOG_INT("i", i), "v", v, NULL);
    fflush(capture);
    assert_true(captured_len > before);
    log_set_buffered(0, NULL, NULL);
    fflush(capture);
    int lines = 0;
    for (const char *p = captured + before; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, 40);
    /* every line parses: whole lines only, in order */
    const char *p = captured + before;
    for (int i = 0; i < 40; i++) {
        const char *nl = strchr(p, '\n');
        json_error_t je;
        d = json_loadb(p, (size_t)(nl - p), 0, &je);
        assert_non_null(d);
        assert_int_equal(json_integer_value(json_object_get(d, "i")), i);
        json_decref(d);
        p = nl + 1;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_types),
        cmocka_unit_test(test_level_checked_first),
        cmocka_unit_test(test_long_value_truncated),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_invalid_utf8_escaped),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_buffered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
