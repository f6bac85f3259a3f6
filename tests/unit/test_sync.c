/* queue/sync.c: sync requests (body and target validation), the sync_*.lua argument layouts
 * and the decoding of run records. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/sync_run.h"
#include "queue/sync.h"
#include "tests/unit/unit_reply.h"

static struct config *cfg;

static int setup(void **state)
{
    (void)state;
    static const char json[] =
        "{\"listen\": \"127.0.0.1:8080\", \"redis\": {\"url\": \"redis://127.0.0.1:6379/0\"},"
        " \"sources\": {"
        "  \"encora\": {\"kind\": \"encorastream\", \"signature\": {\"secrets\": [\"s\"]},"
        "              \"api\": {\"base_url\": \"https://cms.example.com/v2\"},"
        "              \"sync\": {\"every_s\": 3600, \"max_remove_fraction\": 0.5,"
        "                       \"remove_missing\": false}},"
        "  \"movida\": {\"kind\": \"movida\", \"signature\": {\"secrets\": [\"s\"]},"
        "              \"api\": {\"base_url\": \"https://m.example.com/api\"}}},"
        " \"targets\": {"
        "  \"a\": {\"format\": \"canonical\", \"url\": \"https://a.example.com/{id}\"},"
        "  \"b\": {\"format\": \"canonical\", \"url\": \"https://b.example.com/{id}\","
        "         \"sources\": [\"movida\"]}}}";
    char *errors = NULL;
    cfg = config_parse(json, strlen(json), "test.json", CONFIG_ROLE_WORKER, &errors);
    if (cfg == NULL)
        fail_msg("config: %s", errors ? errors : "?");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    config_free(cfg);
    return 0;
}

static void test_config_keys(void **state)
{
    (void)state;
    const struct source *e = config_source(cfg, "encora"), *m = config_source(cfg, "movida");
    assert_int_equal(e->sync.every_s, 3600);
    assert_int_equal(e->sync.remove_missing, 0);
    assert_true(e->sync.max_remove_fraction == 0.5);
    /* defaults */
    assert_int_equal(m->sync.every_s, 0);
    assert_int_equal(m->sync.remove_missing, 1);
    assert_true(m->sync.max_remove_fraction == 0.2);

    static const char *const bad[] = {"{\"every_s\": -1}",
                                      "{\"remove_missing\": 1}",
                                      "{\"max_remove_fraction\": 2}",
                                      "{\"max_remove_fraction\": \"x\"}",
                                      "{\"bogus\": 1}",
                                      "[]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[1024], *errors = NULL;
        snprintf(json, sizeof(json),
                 "{\"listen\": \"127.0.0.1:1\", \"redis\": {\"url\": \"redis://h:1/0\"},"
                 " \"sources\": {\"e\": {\"kind\": \"encorastream\", \"signature\": "
                 "{\"secrets\": [\"s\"]}, \"api\": {\"base_url\": \"https://x/v2\"}, "
                 "\"sync\": %s}}}",
                 bad[i]);
        struct config *c = config_parse(json, strlen(json), "t.json", CONFIG_ROLE_RELAY, &errors);
        assert_null(c);
        assert_non_null(errors);
        assert_non_null(strstr(errors, "sources.e.sync"));
        free(errors);
    }
}

static void test_request_parse(void **state)
{
    (void)state;
    struct sync_request r = {0};
    struct sync_error err;

    assert_int_equal(sync_request_parse("", 0, &r, &err), 0);
    assert_null(r.targets);
    assert_int_equal(r.full, 0);
    sync_request_clear(&r);
    assert_int_equal(sync_request_parse(" \n", 2, &r, &err), 0);
    sync_request_clear(&r);

    const char *ok = "{\"targets\": [\"a\", \"b\"], \"full\": true, \"dry_run\": false}";
    assert_int_equal(sync_request_parse(ok, strlen(ok), &r, &err), 0);
    assert_int_equal(r.n_targets, 2);
    assert_string_equal(r.targets[1], "b");
    assert_int_equal(r.full, 1);
    assert_int_equal(r.dry_run, 0);
    sync_request_clear(&r);

    static const struct {
        const char *body;
        int status;
        const char *code;
    } bad[] = {
        {"{", 400, "invalid_json"},
        {"[1]", 422, "invalid_request"},
        {"{\"full\": 1}", 422, "invalid_request"},
        {"{\"dry_run\": \"yes\"}", 422, "invalid_request"},
        {"{\"targets\": \"a\"}", 422, "invalid_request"},
        {"{\"targets\": [1]}", 422, "invalid_request"},
        {"{\"other\": 1}", 422, "invalid_request"},
        {"{\"full\": true, \"full\": false}", 400, "invalid_json"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sync_request_parse(bad[i].body, strlen(bad[i].body), &r, &err), -1);
        assert_int_equal(err.status, bad[i].status);
        assert_string_equal(err.code, bad[i].code);
        sync_request_clear(&r);
    }
}

static void targets_are(const char *source, const char *const *names, size_t n, const char *want,
                        int status, const char *code)
{
    struct sync_request r = {.source = source, .targets = names, .n_targets = n};
    struct sync_error err;
    char *t = sync_request_targets(cfg, &r, &err);
    if (want) {
        assert_non_null(t);
        assert_string_equal(t, want);
        free(t);
    } else {
        assert_null(t);
        assert_int_equal(err.status, status);
        assert_string_equal(err.code, code);
    }
}

static void test_request_targets(void **state)
{
    (void)state;
    static const char *const ab[] = {"a", "b"}, *const aa[] = {"a", "a"}, *const x[] = {"x"};
    static const char *const b[] = {"b"};
    targets_are("encora", NULL, 0, "a", 0, NULL); /* b takes only movida */
    targets_are("movida", NULL, 0, "a,b", 0, NULL);
    targets_are("movida", ab, 2, "a,b", 0, NULL);
    targets_are("movida", aa, 2, "a", 0, NULL);
    targets_are("encora", b, 1, NULL, 422, "invalid_request");
    targets_are("encora", x, 1, NULL, 422, "unknown_target");
    targets_are("encora", ab, 0, NULL, 422, "invalid_request");
    targets_are("nope", NULL, 0, NULL, 404, "unknown_source");
}

static void test_args(void **state)
{
    (void)state;
    struct sync_args a;
    sync_args_init(&a);
    sync_args_start(&a, cfg, "syn_1", "encora", "a", 1, 0, 0);
    assert_int_equal(a.argc, 8);
    assert_string_equal(a.argv[0], "relay");
    assert_string_equal(a.argv[4], "1");
    assert_string_equal(a.argv[6], "0");
    sync_args_clear(&a);

    struct sync_item items[2] = {
        {.content_id = "m1",
         .content_type = "movie",
         .show_id = "",
         .season_number = -1,
         .episode_number = -1,
         .order_ms = 42},
        {.content_id = "e1",
         .content_type = "episode",
         .show_id = "s1",
         .season_number = 2,
         .episode_number = 5,
         .order_ms = 43},
    };
    char *todo[] = {"S\ts1"};
    char *digests[] = {"", "abc,-"};
    sync_args_page(&a, cfg, "syn_1", "tok", "ts", "movies", "movies", "c9", 0, 250, todo, 1, items,
                   2, digests);
    assert_false(a.oom);
    /* 4 (claim) + dedupe, retention, mode, phase, cursor, pop, total, n_todo, todo, n, 2*7 */
    assert_int_equal(a.argc, 4 + 8 + 1 + 1 + 14);
    assert_string_equal(a.argv[6], "ts");
    assert_string_equal(a.argv[10], "movies=250");
    assert_string_equal(a.argv[11], "1");
    assert_string_equal(a.argv[12], "S\ts1");
    assert_string_equal(a.argv[13], "2");
    assert_string_equal(a.argv[14], "m1");
    assert_string_equal(a.argv[17], "");   /* no season */
    assert_string_equal(a.argv[19], "42"); /* order */
    assert_string_equal(a.argv[24], "2");
    assert_string_equal(a.argv[27], "abc,-");
    sync_args_clear(&a);
    sync_args_page(&a, cfg, "syn_1", "tok", "ts", "movies", "movies", "c9", 0, 250, todo, 1, items,
                   2, NULL);
    assert_string_equal(a.argv[27], ""); /* no digests */
    sync_args_clear(&a);

    sync_args_finish(&a, cfg, config_source(cfg, "encora"), "syn_1", "tok", "done", "", "");
    assert_int_equal(a.argc, 10);
    assert_string_equal(a.argv[7], "0"); /* remove_missing false */
    assert_string_equal(a.argv[8], "0.500000");
    sync_args_clear(&a);
}

/* A flat HGETALL-like reply built by hand. */
static redisReply *flat(const char *const *kv, size_t n)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n, sizeof(*r->element));
    for (size_t i = 0; i < n; i++) {
        redisReply *e = calloc(1, sizeof(*e));
        e->type = REDIS_REPLY_STRING;
        e->str = strdup(kv[i]);
        e->len = strlen(kv[i]);
        r->element[i] = e;
    }
    return r;
}

static void test_record_json(void **state)
{
    (void)state;
    static const char *const kv[] = {"id",
                                     "syn_1",
                                     "source",
                                     "encora",
                                     "targets",
                                     "a,b",
                                     "state",
                                     "failed",
                                     "started_at",
                                     "1795168800000",
                                     "finished_at",
                                     "1795168801500",
                                     "pages",
                                     "7",
                                     "seen",
                                     "600",
                                     "queued",
                                     "12",
                                     "skipped",
                                     "588",
                                     "removed",
                                     "0",
                                     "errors",
                                     "4",
                                     "error_code",
                                     "too_many_removals",
                                     "error_message",
                                     "target a would lose",
                                     "total_movies",
                                     "900",
                                     "total_shows",
                                     "100",
                                     "owner",
                                     "host-1-x",
                                     "full",
                                     "1"};
    redisReply *r = flat(kv, sizeof(kv) / sizeof(kv[0]));
    json_t *o = sync_record_json(r);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "syn_1");
    assert_int_equal(json_array_size(json_object_get(o, "targets")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "targets"), 1)), "b");
    assert_string_equal(json_string_value(json_object_get(o, "started_at")),
                        "2026-11-20T10:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(o, "finished_at")),
                        "2026-11-20T10:00:01.500Z");
    assert_int_equal(json_integer_value(json_object_get(o, "seen")), 600);
    assert_int_equal(json_integer_value(json_object_get(o, "errors")), 4);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1000);
    assert_string_equal(json_string_value(json_object_get(o, "error")), "too_many_removals");
    assert_true(json_is_true(json_object_get(o, "full")));
    assert_true(json_is_false(json_object_get(o, "dry_run")));
    assert_null(json_object_get(o, "owner")); /* internal bookkeeping stays inside */
    assert_true(json_is_null(json_object_get(o, "cancel_requested_at")));
    json_decref(o);
    freeReplyObject(r);

    static const char *const running[] = {"id", "syn_2", "state", "running", "started_at", "5"};
    r = flat(running, 6);
    o = sync_record_json(r);
    assert_true(json_is_null(json_object_get(o, "finished_at")));
    assert_true(json_is_null(json_object_get(o, "error")));
    assert_true(json_is_null(json_object_get(o, "total")));
    json_decref(o);
    freeReplyObject(r);

    static const char *const noid[] = {"state", "running"};
    r = flat(noid, 2);
    assert_null(sync_record_json(r));
    freeReplyObject(r);
}

static redisReply *str_reply(int type, const char *s)
{
    redisReply *e = calloc(1, sizeof(*e));
    e->type = type;
    e->str = strdup(s);
    e->len = strlen(s);
    return e;
}

/* {verdict, record} as sync_cancel.lua answers. */
static redisReply *cancel_reply(const char *verdict, const char *const *kv, size_t n)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = 2;
    r->element = calloc(2, sizeof(*r->element));
    r->element[0] = str_reply(REDIS_REPLY_STRING, verdict);
    r->element[1] = flat(kv, n);
    return r;
}

/* The runner's decoders (handlers/sync_run.c reads no reply itself). */
static void test_runner_replies(void **state)
{
    (void)state;
    struct sync_args a;
    sync_args_init(&a);
    sync_args_active(&a, cfg);
    assert_int_equal(a.argc, 2);
    assert_string_equal(a.argv[0], "SMEMBERS");
    assert_string_equal(a.argv[1], "relay:sync:active");
    sync_args_clear(&a);

    redisReply *r =
        unit_reply("*3\r\n$5\r\nsyn_a\r\n:1\r\n$33\r\n012345678901234567890123456789012\r\n");
    char **ids;
    size_t n;
    assert_int_equal(sync_active_ids(r, &ids, &n), 0);
    assert_int_equal(n, 1); /* not a string, too long: skipped */
    assert_string_equal(ids[0], "syn_a");
    free(ids[0]);
    free(ids);
    freeReplyObject(r);

    struct sync_claimed c;
    r = unit_reply(
        "*11\r\n$2\r\nok\r\n$6\r\nencora\r\n$7\r\ncanon,g\r\n$1\r\n1\r\n$1\r\n0\r\n"
        "$13\r\n1764583200123\r\n$6\r\nmovies\r\n$2\r\nc9\r\n$1\r\nh\r\n$1\r\n4\r\n:1\r\n");
    assert_int_equal(sync_claim_result(r, &c), 0);
    assert_string_equal(c.source, "encora");
    assert_string_equal(c.targets, "canon,g");
    assert_true(c.full);
    assert_int_equal(c.started_ms, 1764583200123LL);
    assert_string_equal(c.phase, "movies");
    assert_string_equal(c.cursor, "c9");
    assert_string_equal(c.head, "h");
    assert_int_equal(c.pages, 4);
    assert_true(c.takeover);
    freeReplyObject(r);
    r = unit_reply("*2\r\n$4\r\nheld\r\n$1\r\nw\r\n");
    assert_int_equal(sync_claim_result(r, &c), -1);
    freeReplyObject(r);

    r = unit_reply(":2\r\n");
    assert_int_equal(sync_beat_result(r), SYNC_BEAT_CANCELLED);
    freeReplyObject(r);
    r = unit_reply(":0\r\n");
    assert_int_equal(sync_beat_result(r), SYNC_BEAT_LOST);
    freeReplyObject(r);
    r = unit_reply("$1\r\n1\r\n");
    assert_int_equal(sync_beat_result(r), SYNC_BEAT_ERROR);
    freeReplyObject(r);

    const char *head;
    r = unit_reply("*5\r\n$2\r\nok\r\n$3\r\nhd1\r\n:1\r\n:2\r\n:3\r\n");
    assert_int_equal(sync_page_result(r, &head), SYNC_PAGE_OK);
    assert_string_equal(head, "hd1");
    freeReplyObject(r);
    r = unit_reply("*1\r\n$9\r\ncancelled\r\n");
    assert_int_equal(sync_page_result(r, &head), SYNC_PAGE_CANCELLED);
    freeReplyObject(r);
    r = unit_reply("*1\r\n$4\r\nlost\r\n");
    assert_int_equal(sync_page_result(r, &head), SYNC_PAGE_LOST);
    freeReplyObject(r);

    struct sync_finished f;
    r = unit_reply("*4\r\n$2\r\nok\r\n$4\r\ndone\r\n$0\r\n\r\n:12\r\n");
    sync_finish_result(r, &f);
    assert_true(f.ok);
    assert_string_equal(f.state, "done");
    assert_int_equal(f.removed, 12);
    freeReplyObject(r);
    r = unit_reply("*1\r\n$4\r\nlost\r\n");
    sync_finish_result(r, &f);
    assert_false(f.ok);
    freeReplyObject(r);

    /* 1 item, 2 targets: order_ts, first_seen per target ("" = not live there) */
    r = unit_reply("*4\r\n$3\r\n100\r\n$2\r\n50\r\n$0\r\n\r\n$0\r\n\r\n");
    assert_int_equal(sync_peek_check(r, 1, 2), 0);
    assert_int_equal(sync_peek_check(r, 2, 2), -1);
    int64_t at, first;
    sync_peek_get(r, 2, 0, 0, &at, &first);
    assert_int_equal(at, 100);
    assert_int_equal(first, 50);
    sync_peek_get(r, 2, 0, 1, &at, &first);
    assert_int_equal(at, 0);
    assert_int_equal(first, 0);
    freeReplyObject(r);

    r = unit_reply("-ERR boom\r\n");
    assert_string_equal(sync_reply_error(r), "ERR boom");
    freeReplyObject(r);
    assert_null(sync_reply_error(NULL));
}

static void test_cancel(void **state)
{
    (void)state;
    struct sync_args a;
    const redisReply *rec;

    sync_args_init(&a);
    sync_args_cancel(&a, cfg, "syn_1");
    assert_int_equal(a.argc, 3);
    assert_string_equal(a.argv[1], "syn_1");
    sync_args_clear(&a);
    /* claim and beat carry retention_s last: they may end a cancelled run */
    sync_args_claim(&a, cfg, "syn_1", "tok", 3000);
    assert_int_equal(a.argc, 5);
    assert_string_equal(a.argv[3], "3000");
    sync_args_clear(&a);
    sync_args_beat(&a, cfg, "syn_1", "tok", 3000, 1, "boom");
    assert_int_equal(a.argc, 7);
    assert_string_equal(a.argv[4], "1");
    assert_string_equal(a.argv[5], "boom");
    sync_args_clear(&a);

    static const char *const kv[] = {"id",           "syn_1",      "state",
                                     "running",      "started_at", "1795168800000",
                                     "owner",        "w1",         "cancel_requested_at",
                                     "1795168801500"};
    static const struct {
        const char *verdict;
        enum sync_cancel_verdict want;
    } cases[] = {{"cancelled", SYNC_CANCELLED},
                 {"cancelling", SYNC_CANCELLING},
                 {"ended", SYNC_CANCEL_ENDED},
                 {"bogus", SYNC_CANCEL_ERROR}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        redisReply *r = cancel_reply(cases[i].verdict, kv, sizeof(kv) / sizeof(kv[0]));
        assert_int_equal(sync_cancel_result(r, &rec), cases[i].want);
        if (cases[i].want == SYNC_CANCEL_ERROR) {
            assert_null(rec);
        } else {
            assert_ptr_equal(rec, r->element[1]);
            json_t *o = sync_record_json(rec);
            assert_string_equal(json_string_value(json_object_get(o, "cancel_requested_at")),
                                "2026-11-20T10:00:01.500Z");
            assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
            json_decref(o);
        }
        freeReplyObject(r);
    }
    redisReply *r = cancel_reply("unknown", kv, 0);
    assert_int_equal(sync_cancel_result(r, &rec), SYNC_CANCEL_UNKNOWN);
    assert_null(rec);
    freeReplyObject(r);
    /* a verdict that should carry the record but has none, and malformed replies */
    r = cancel_reply("cancelled", kv, 0);
    assert_int_equal(sync_cancel_result(r, &rec), SYNC_CANCEL_ERROR);
    freeReplyObject(r);
    r = str_reply(REDIS_REPLY_ERROR, "ERR boom");
    assert_int_equal(sync_cancel_result(r, &rec), SYNC_CANCEL_ERROR);
    freeReplyObject(r);
    assert_int_equal(sync_cancel_result(NULL, &rec), SYNC_CANCEL_ERROR);
    r = flat(kv, 2); /* two strings, not {string, array} */
    assert_int_equal(sync_cancel_result(r, &rec), SYNC_CANCEL_ERROR);
    freeReplyObject(r);
}

static void test_entry_wants(void **state)
{
    (void)state;
    assert_true(sync_run_entry_wants(NULL, "a"));
    assert_true(sync_run_entry_wants("", "a"));
    assert_true(sync_run_entry_wants("a", "a"));
    assert_true(sync_run_entry_wants("b,a", "a"));
    assert_true(sync_run_entry_wants("a,b", "b"));
    assert_false(sync_run_entry_wants("ab,b", "a"));
    assert_false(sync_run_entry_wants("a", "ab"));
    assert_false(sync_run_entry_wants("b,", "a"));
}

static void test_ids(void **state)
{
    (void)state;
    char a[25], b[25];
    sync_new_id(a);
    sync_new_id(b);
    assert_int_equal(strlen(a), 24);
    assert_memory_equal(a, "syn_", 4);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_keys),     cmocka_unit_test(test_request_parse),
        cmocka_unit_test(test_request_targets), cmocka_unit_test(test_args),
        cmocka_unit_test(test_record_json),     cmocka_unit_test(test_ids),
        cmocka_unit_test(test_entry_wants),     cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_runner_replies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
