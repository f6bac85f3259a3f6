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
    json_t *r = ops_doc_record(raw);
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

    json_t *a = ops_doc_attempt("{\"at\":1795168800000,\"attempt\":2,\"http_status\":null,"
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

/* Three targets: a push target with a breaker, one without, and a feed target. */
static const char cfg3_json[] =
    "{\"listen\":\"127.0.0.1:1\",\"redis\":{\"url\":\"redis://127.0.0.1:1/0\"},"
    "\"sources\":{\"encora\":{\"kind\":\"encorastream\",\"signature\":{\"scheme\":"
    "\"hmac-sha256-hex\",\"secrets\":[\"s\"]},\"api\":{\"base_url\":\"http://127.0.0.1:9\"}}},"
    "\"targets\":{\"gw\":{\"format\":\"canonical\",\"url\":\"http://127.0.0.1:9/x\","
    "\"breaker\":{\"failures\":3,\"probe_s\":7}},"
    "\"nob\":{\"format\":\"canonical\",\"url\":\"http://127.0.0.1:9/y\",\"breaker\":null},"
    "\"fd\":{\"format\":\"titanos\",\"delivery\":\"feed\","
    "\"feed\":{\"auth\":{\"type\":\"bearer\",\"token\":\"t\"}}}}}";

static json_t *feed_one(const struct config *cfg, enum ops_op op, const char *target,
                        const char *reply)
{
    struct ops_error err;
    struct ops_params p = {.target = target};
    struct ops_call *c = ops_call_new(cfg, op, &p, &err);
    assert_non_null(c);
    redisReply r = {.type = REDIS_REPLY_STRING, .str = (char *)reply};
    r.len = strlen(r.str);
    assert_int_equal(ops_call_feed(c, &r), OPS_DONE);
    json_t *doc = ops_call_take_result(c);
    ops_call_free(c);
    assert_non_null(doc);
    return doc;
}

static const json_t *entry(const json_t *doc, size_t i, const char *name)
{
    const json_t *e = json_array_get(json_object_get(doc, "data"), i);
    assert_string_equal(json_string_value(json_object_get(e, "name")), name);
    return e;
}

static void test_targets_doc(void **state)
{
    (void)state;
    char *errors = NULL;
    struct config *cfg =
        config_parse(cfg3_json, sizeof(cfg3_json) - 1, "t3.json", CONFIG_ROLE_CTL, &errors);
    if (cfg == NULL)
        fail_msg("config: %s", errors ? errors : "?");
    free(errors);

    /* ops_targets.lua's argv: name and "1" when it serves a feed, per target */
    struct ops_error err;
    struct ops_call *c = ops_call_new(cfg, OPS_TARGETS, NULL, &err);
    const char *script;
    int argc;
    const char **argv;
    const size_t *argvlen;
    ops_call_script(c, &script, &argc, &argv, &argvlen);
    assert_ptr_equal(script, lua_ops_targets);
    assert_int_equal(argc, 7);
    assert_string_equal(argv[1], "gw");
    assert_string_equal(argv[2], "0");
    assert_string_equal(argv[5], "fd");
    assert_string_equal(argv[6], "1");
    ops_call_free(c);

    /* "nob" says open in Redis (its breaker was on once): without a breaker it is closed */
    json_t *doc = feed_one(
        cfg, OPS_TARGETS, NULL,
        "{\"targets\":{\"gw\":{\"pending\":4,\"retrying\":\"2\",\"paused\":false,"
        "\"circuit\":{\"state\":\"open\",\"fails\":\"5\",\"opened_at\":\"1795168800000\","
        "\"probe_at\":\"1795168807000\",\"last_ok_at\":\"\",\"last_err_at\":\"1795168800000\","
        "\"last_err_code\":\"partner_unavailable\",\"last_err_msg\":\"partner answered 503\","
        "\"last_err_http\":\"503\"}},"
        "\"nob\":{\"paused\":true,\"circuit\":{\"state\":\"open\",\"fails\":\"9\"}},"
        "\"fd\":{\"delivered\":3,\"circuit\":{\"last_ok_at\":\"1795168700000\"},"
        "\"feed\":{\"last_poll_at\":\"1795168800000\",\"last_poll_status\":\"200\"}}}}");
    const json_t *gw = entry(doc, 0, "gw");
    assert_string_equal(json_string_value(json_object_get(gw, "delivery")), "push");
    assert_string_equal(json_string_value(json_object_get(gw, "circuit")), "open");
    assert_int_equal(json_integer_value(json_object_get(gw, "consecutive_failures")), 5);
    assert_string_equal(json_string_value(json_object_get(gw, "circuit_opened_at")),
                        "2026-11-20T10:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(gw, "next_probe_at")),
                        "2026-11-20T10:00:07.000Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(gw, "breaker"), "probe_s")),
                     7);
    assert_int_equal(json_integer_value(json_object_get(gw, "retrying")), 2);
    assert_int_equal(json_integer_value(json_object_get(gw, "failed")), 0);
    assert_true(json_is_null(json_object_get(gw, "last_delivered_at")));
    const json_t *le = json_object_get(gw, "last_error");
    assert_string_equal(json_string_value(json_object_get(le, "code")), "partner_unavailable");
    assert_int_equal(json_integer_value(json_object_get(le, "http_status")), 503);
    assert_true(json_is_null(json_object_get(gw, "feed")));

    const json_t *nob = entry(doc, 1, "nob");
    assert_string_equal(json_string_value(json_object_get(nob, "circuit")), "closed");
    assert_true(json_is_null(json_object_get(nob, "breaker")));
    assert_true(json_is_null(json_object_get(nob, "circuit_opened_at")));
    assert_int_equal(json_integer_value(json_object_get(nob, "consecutive_failures")), 0);
    assert_true(json_is_true(json_object_get(nob, "paused")));
    assert_true(json_is_null(json_object_get(nob, "last_error")));

    const json_t *fd = entry(doc, 2, "fd");
    assert_string_equal(json_string_value(json_object_get(fd, "delivery")), "feed");
    assert_true(json_is_null(json_object_get(fd, "breaker")));
    assert_string_equal(json_string_value(json_object_get(fd, "last_delivered_at")),
                        "2026-11-20T09:58:20.000Z");
    const json_t *poll = json_object_get(fd, "feed");
    assert_string_equal(json_string_value(json_object_get(poll, "last_poll_at")),
                        "2026-11-20T10:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(poll, "last_poll_status")), 200);
    json_decref(doc);

    /* a target Redis knows nothing about yet */
    doc = feed_one(cfg, OPS_TARGETS, NULL, "{\"targets\":{}}");
    gw = entry(doc, 0, "gw");
    assert_string_equal(json_string_value(json_object_get(gw, "circuit")), "closed");
    assert_true(json_is_null(json_object_get(gw, "next_probe_at")));
    /* a feed target never polled: its feed is there, with no poll */
    const json_t *never = json_object_get(entry(doc, 2, "fd"), "feed");
    assert_true(json_is_object(never));
    assert_true(json_is_null(json_object_get(never, "last_poll_at")));
    json_decref(doc);

    /* /admin/stats: "circuit" per target */
    doc = feed_one(cfg, OPS_STATS, NULL,
                   "{\"queues\":{\"ready\":1,\"inflight\":0,\"scheduled\":0,\"failed\":0},"
                   "\"oldest_ms\":0,\"targets\":{\"gw\":{\"circuit\":\"open\"},"
                   "\"nob\":{\"circuit\":\"open\"},\"fd\":{}}}");
    const json_t *t = json_object_get(doc, "targets");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "gw"), "circuit")),
                        "open");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "nob"), "circuit")),
                        "closed");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t, "fd"), "circuit")),
                        "closed");
    json_decref(doc);

    /* resume: says when it closed an open circuit */
    doc = feed_one(cfg, OPS_RESUME, "gw",
                   "{\"name\":\"gw\",\"paused\":false,\"circuit\":\"closed\","
                   "\"circuit_closed\":true}");
    assert_true(json_is_true(json_object_get(doc, "circuit_closed")));
    assert_string_equal(json_string_value(json_object_get(doc, "circuit")), "closed");
    json_decref(doc);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),       cmocka_unit_test(test_argv),
        cmocka_unit_test(test_cursor_roundtrip), cmocka_unit_test(test_record_shape),
        cmocka_unit_test(test_feed_errors),      cmocka_unit_test(test_targets_doc)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
