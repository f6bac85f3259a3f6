/* queue/ops: parameter validation, cursors and the record shape, without Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "queue/ops.c" /* reaches the statics */

static const char cfg_json[] =
    "{\"listen\":\"127.0.0.1:1\",\"redis\":{\"url\":\"redis://127.0.0.1:1/0\"},"
    "\"sources\":{\"encora\":{\"kind\":\"encorastream\",\"signature\":{\"scheme\":"
    "\"hmac-sha256-hex\",\"secrets\":[\"s\"]},\"api\":{\"base_url\":\"http://127.0.0.1:9\"}}},"
    "\"targets\":{\"canon\":{\"format\":\"canonical\",\"url\":\"http://127.0.0.1:9/x\"}}}";

static int setup(void **state)
{
    char *errors = NULL;
    struct config *cfg =
        config_parse(cfg_json, sizeof(cfg_json) - 1, "test.json", CONFIG_ROLE_CTL, &errors);
    if (cfg == NULL)
        fprintf(stderr, "%s\n", errors ? errors : "config");
    free(errors);
    *state = cfg;
    return cfg ? 0 : -1;
}

static int teardown(void **state)
{
    config_free(*state);
    return 0;
}

static void expect_invalid(const struct config *cfg, enum ops_op op, struct ops_params p,
                           int status, const char *code)
{
    struct ops_error err;
    struct ops_call *c = ops_call_new(cfg, op, &p, &err);
    assert_null(c);
    assert_int_equal(err.status, status);
    assert_string_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
}

static void test_validation(void **state)
{
    const struct config *cfg = *state;
    expect_invalid(cfg, OPS_LIST, (struct ops_params){.limit = "0"}, 400, "invalid_parameter");
    expect_invalid(cfg, OPS_LIST, (struct ops_params){.limit = "501"}, 400, "invalid_parameter");
    expect_invalid(cfg, OPS_LIST, (struct ops_params){.limit = "5x"}, 400, "invalid_parameter");
    expect_invalid(cfg, OPS_LIST, (struct ops_params){.status = "gone"}, 400, "invalid_parameter");
    expect_invalid(cfg, OPS_LIST, (struct ops_params){.target = "nope"}, 404, "unknown_target");
    expect_invalid(cfg, OPS_LIST, (struct ops_params){.source = "nope"}, 404, "unknown_source");
    expect_invalid(cfg, OPS_LIST, (struct ops_params){.cursor = "!!"}, 400, "invalid_cursor");
    expect_invalid(cfg, OPS_SHOW, (struct ops_params){.id = "../x"}, 404, "not_found");
    expect_invalid(cfg, OPS_REDELIVER_BULK, (struct ops_params){0}, 422, "invalid_request");
    expect_invalid(cfg, OPS_REDELIVER_BULK, (struct ops_params){.status = "failed", .since = "x"},
                   422, "invalid_request");
    expect_invalid(
        cfg, OPS_REDELIVER_BULK,
        (struct ops_params){.status = "failed", .since = "2026-01-02", .until = "2026-01-01"}, 422,
        "invalid_request");
    expect_invalid(cfg, OPS_PAUSE, (struct ops_params){.target = "nope"}, 404, "unknown_target");
}

static void test_argv(void **state)
{
    const struct config *cfg = *state;
    struct ops_error err;
    struct ops_params p = {.status = "failed", .since = "2026-11-20T10:00:00Z"};
    struct ops_call *c = ops_call_new(cfg, OPS_REDELIVER_BULK, &p, &err);
    const char *script;
    int argc;
    const char **argv;
    const size_t *argvlen;
    assert_non_null(c);
    ops_call_script(c, &script, &argc, &argv, &argvlen);
    assert_ptr_equal(script, lua_ops_redeliver);
    assert_int_equal(argc, 10); /* prefix, retention, mode, offset, batch, 4 filters, 1 target */
    assert_string_equal(argv[2], "bulk");
    assert_string_equal(argv[7], "1795168800000");
    assert_string_equal(argv[8], "");
    assert_string_equal(argv[9], "canon");
    ops_call_free(c);
}

static void test_cursor_roundtrip(void **state)
{
    (void)state;
    char *score = NULL, *id = NULL;
    char *cur = cursor_encode("1795168800000", "dlv_0123456789abcdef01234567");
    assert_non_null(cur);
    assert_null(strpbrk(cur, "+/="));
    assert_int_equal(cursor_decode(cur, &score, &id), 0);
    assert_string_equal(score, "1795168800000");
    assert_string_equal(id, "dlv_0123456789abcdef01234567");
    free(score);
    free(id);
    free(cur);
    /* a well-formed base64 of something that is not ours */
    assert_int_equal(cursor_decode("aGVsbG8", &score, &id), -1);
}

static void test_record_shape(void **state)
{
    (void)state;
    json_t *raw =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", "dlv_1", "status", "retrying",
                  "attempt_count", "3", "http_status", "503", "error_code", "http_5xx",
                  "error_message", "busy", "next_retry_at", "1795168800000", "created_at",
                  "1795168700000", "delivered_at", "", "response_snippet", "");
    json_t *r = record_json(raw);
    assert_int_equal(json_integer_value(json_object_get(r, "attempt_count")), 3);
    assert_int_equal(json_integer_value(json_object_get(r, "http_status")), 503);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                        "http_5xx");
    assert_string_equal(json_string_value(json_object_get(r, "next_retry_at")),
                        "2026-11-20T10:00:00.000Z");
    assert_true(json_is_null(json_object_get(r, "delivered_at")));
    assert_true(json_is_null(json_object_get(r, "response_snippet")));
    assert_true(json_is_null(json_object_get(r, "updated_at")));
    json_decref(r);
    json_decref(raw);

    json_t *a = attempt_json("{\"at\":1795168800000,\"attempt\":2,\"http_status\":null,"
                             "\"error\":{\"code\":\"timeout\",\"message\":\"slow\"},"
                             "\"duration_ms\":5000}");
    assert_string_equal(json_string_value(json_object_get(a, "at")), "2026-11-20T10:00:00.000Z");
    assert_true(json_is_null(json_object_get(a, "http_status")));
    assert_int_equal(json_integer_value(json_object_get(a, "duration_ms")), 5000);
    json_decref(a);
}

static void test_feed_errors(void **state)
{
    const struct config *cfg = *state;
    struct ops_error err;
    struct ops_params p = {.id = "dlv_1"};
    struct ops_call *c = ops_call_new(cfg, OPS_SHOW, &p, &err);
    redisReply r = {.type = REDIS_REPLY_STRING, .str = "{\"error\":\"not_found\"}"};
    r.len = strlen(r.str);
    assert_int_equal(ops_call_feed(c, &r), OPS_FAILED);
    assert_int_equal(ops_call_error(c)->status, 404);
    ops_call_free(c);

    c = ops_call_new(cfg, OPS_SHOW, &p, &err);
    assert_int_equal(ops_call_feed(c, NULL), OPS_FAILED);
    assert_string_equal(ops_call_error(c)->code, "queue_unavailable");
    ops_call_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation), cmocka_unit_test(test_argv),
        cmocka_unit_test(test_cursor_roundtrip), cmocka_unit_test(test_record_shape),
        cmocka_unit_test(test_feed_errors)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
