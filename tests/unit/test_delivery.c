/* queue/delivery: the delivery id, the scripts' build-time digests, and every builder and
 * decoder of the worker's Redis protocol against hand-written replies (RESP text parsed by
 * hiredis's reader), without Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "core/config.h"
#include "core/util.h"
#include "queue/delivery.h"
#include "queue/lua.h"
#include "tests/unit/unit_config.h"
#include "tests/unit/unit_reply.h"

/* A reply from RESP text in which '|' stands for a NUL byte (a C literal cannot hold one
 * before a digit without ending its escape). */
static redisReply *nul_reply(const char *resp)
{
    size_t n = strlen(resp);
    char *copy = strdup(resp);
    assert_non_null(copy);
    for (size_t i = 0; i < n; i++)
        if (copy[i] == '|')
            copy[i] = '\0';
    redisReply *r = unit_reply_len(copy, n);
    free(copy);
    return r;
}

static const char cfg_json[] =
    "{\"listen\":\"127.0.0.1:1\",\"redis\":{\"url\":\"redis://127.0.0.1:1/0\",\"prefix\":\"rp\"},"
    "\"retention_s\":3600,"
    "\"sources\":{\"encora\":{\"kind\":\"encorastream\",\"signature\":{\"scheme\":"
    "\"hmac-sha256-hex\",\"secrets\":[\"s\"]},\"api\":{\"base_url\":\"http://127.0.0.1:9\"}}},"
    "\"targets\":{\"canon\":{\"format\":\"canonical\",\"url\":\"http://127.0.0.1:9/x\","
    "\"max_in_flight\":3,\"breaker\":{\"failures\":5,\"probe_s\":10}},"
    "\"slow\":{\"format\":\"canonical\",\"url\":\"http://127.0.0.1:9/y\",\"rate_per_s\":2.5,"
    "\"breaker\":null}},"
    "\"retry\":{\"max_attempts\":7,\"base_delay_ms\":10,\"max_delay_ms\":100},"
    "\"worker\":{\"concurrency\":4,\"visibility_timeout_ms\":9000}}";

static int setup(void **state)
{
    return unit_config_setup(state, cfg_json, sizeof(cfg_json) - 1, CONFIG_ROLE_WORKER);
}

static void expect_args(const struct dlv_cmd *c, const char *script, const char *const *want, int n)
{
    const char *s;
    int argc;
    const char **argv;
    const size_t *lens;
    dlv_cmd_get(c, &s, &argc, &argv, &lens);
    assert_ptr_equal(s, script);
    assert_int_equal(argc, n);
    for (int i = 0; i < n; i++) {
        if (want[i] == NULL)
            continue; /* not checked */
        assert_int_equal(lens[i], strlen(want[i]));
        assert_memory_equal(argv[i], want[i], lens[i]);
    }
}

/* Pinned: "dlv_" + the first 24 hex of SHA-256("encora\0evt_1\0canon"), as computed by
 * Python's hashlib (tests/integration/layout.py computes ids the same way). */
static void test_id_vector(void **state)
{
    char a[DLV_ID_SIZE], b[DLV_ID_SIZE], c[DLV_ID_SIZE];
    dlv_id("encora", "evt_1", "canon", a);
    assert_string_equal(a, "dlv_6c055ebd01ef68cc88fd4b9f");
    dlv_id("encora", "evt_1", "gwi", b);
    assert_string_not_equal(a, b);
    /* the separators matter: ("ab","c") and ("a","bc") differ */
    dlv_id("ab", "c", "t", b);
    dlv_id("a", "bc", "t", c);
    assert_string_not_equal(b, c);
    /* a long id is hashed in parts, with no buffer to allocate */
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    dlv_id("encora", big, "canon", c);
    assert_int_equal(strlen(c), 28);
}

/* The digests computed by embed_lua.cmake at build time are the scripts' SHA-1. */
static void test_build_time_digests(void **state)
{
    const char *scripts[] = {lua_fanout,        lua_claim,     lua_complete, lua_reclaim,
                             lua_stats,         lua_enqueue,   lua_ops_list, lua_ops_show,
                             lua_ops_redeliver, lua_ops_target};
    for (size_t i = 0; i < sizeof(scripts) / sizeof(*scripts); i++) {
        unsigned char d[SHA_DIGEST_LENGTH];
        char hex[SHA_DIGEST_LENGTH * 2 + 1];
        SHA1((const unsigned char *)scripts[i], strlen(scripts[i]), d);
        util_hex(d, sizeof(d), hex);
        assert_non_null(lua_sha(scripts[i]));
        assert_string_equal(lua_sha(scripts[i]), hex);
    }
    assert_null(lua_sha("return 1"));
}

/* A script carries the prelude's definitions it uses, directly or through another one, and no
 * others (embed_lua.cmake): Redis makes every closure a script defines on each call. */
static void test_prelude_only_what_is_used(void **state)
{
    const char *with_supersede[] = {lua_fanout, lua_claim, lua_complete, lua_reclaim};
    for (size_t i = 0; i < sizeof(with_supersede) / sizeof(*with_supersede); i++) {
        assert_non_null(strstr(with_supersede[i], "local function supersede("));
        /* what supersede() itself calls comes with it, and before it */
        const char *stat = strstr(with_supersede[i], "local function stat_move(");
        assert_non_null(stat);
        assert_true(stat < strstr(with_supersede[i], "local function supersede("));
    }
    /* srclimit uses the clock and nothing else of the prelude */
    assert_non_null(strstr(lua_srclimit, "local function now_ms("));
    assert_null(strstr(lua_srclimit, "local function itoa("));
    assert_null(strstr(lua_srclimit, "local function supersede("));
    /* enqueue uses none of it */
    assert_null(strstr(lua_enqueue, "local function now_ms("));
    assert_null(strstr(lua_enqueue, "local REC ="));
    /* the prelude's own opening comment stays with every script */
    assert_non_null(strstr(lua_enqueue, "-- prelude: "));
}

static void test_stream_commands(void **state)
{
    const struct config *cfg = *state;
    struct dlv_cmd *c = dlv_cmd_new();
    assert_non_null(c);
    assert_int_equal(dlv_take(c, cfg, "me", 64, 0), 0);
    const char *take[] = {"XREADGROUP", "GROUP",   "workers",   "me", "COUNT",
                          "64",         "STREAMS", "rp:events", ">"};
    expect_args(c, NULL, take, 9);
    assert_int_equal(dlv_take(c, cfg, "me", 64, 1), 0);
    const char *own[] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "0"};
    expect_args(c, NULL, own, 9);
    assert_int_equal(dlv_autoclaim(c, cfg, "me", "5-1", 32), 0);
    const char *ac[] = {"XAUTOCLAIM", "rp:events", "workers", "me", "9000", "5-1", "COUNT", "32"};
    expect_args(c, NULL, ac, 8);
    assert_int_equal(dlv_group_create(c, cfg), 0);
    const char *gc[] = {"XGROUP", "CREATE", "rp:events", "workers", "0", "MKSTREAM"};
    expect_args(c, NULL, gc, 6);
    dlv_cmd_free(c);
}

/* Entry i of s decodes, not deleted, with these values. */
static void expect_entry(const struct dlv_stream *s, size_t i, struct dlv_entry *e,
                         const char *source, const char *event_id, const char *content_type)
{
    assert_int_equal(dlv_stream_entry(s, i, e), 0);
    assert_false(e->deleted);
    assert_string_equal(e->source, source);
    assert_string_equal(e->event_id, event_id);
    assert_string_equal(e->content_type, content_type);
}

static void test_stream_decode_and_fanout(void **state)
{
    const struct config *cfg = *state;
    /* XREADGROUP: one entry with fields, one deleted while pending ([id, nil]) */
    redisReply *r =
        unit_reply("*1\r\n*2\r\n$9\r\nrp:events\r\n*2\r\n"
                   "*2\r\n$3\r\n1-1\r\n*6\r\n$6\r\nsource\r\n$6\r\nencora\r\n"
                   "$8\r\nevent_id\r\n$5\r\nevt_1\r\n$12\r\ncontent_type\r\n$5\r\nmovie\r\n"
                   "*2\r\n$3\r\n1-2\r\n$-1\r\n");
    struct dlv_stream s;
    dlv_stream_decode(r, 0, NULL, 0, &s);
    assert_int_equal(s.n, 2);
    assert_false(s.nogroup);
    struct dlv_entry e0, e1;
    expect_entry(&s, 0, &e0, "encora", "evt_1", "movie");
    assert_string_equal(e0.sid, "1-1");
    assert_int_equal(dlv_stream_entry(&s, 1, &e1), 0);
    assert_true(e1.deleted);

    struct dlv_cmd *c = dlv_cmd_new();
    size_t targets[] = {0, 1};
    assert_int_equal(dlv_fanout_begin(c, cfg), 0);
    assert_int_equal(dlv_fanout_add(c, &e0, targets, 2), 0);
    assert_int_equal(dlv_fanout_add(c, &e1, targets, 2), 0); /* deleted: no targets */
    assert_int_equal(dlv_fanout_end(c), 0);
    char id0[DLV_ID_SIZE], id1[DLV_ID_SIZE];
    dlv_id("encora", "evt_1", "canon", id0);
    dlv_id("encora", "evt_1", "slow", id1);
    const char *want[] = {"rp",     "3600",   "2",        "1-1",   "2",
                          "6",      "canon",  id0,        "slow",  id1,
                          "source", "encora", "event_id", "evt_1", "content_type",
                          "movie",  "1-2",    "0",        "0"};
    expect_args(c, lua_fanout, want, (int)(sizeof(want) / sizeof(*want)));
    freeReplyObject(r);

    redisReply *fr = unit_reply("*2\r\n:2\r\n:0\r\n");
    assert_int_equal(dlv_fanout_created(fr, 0), 2);
    assert_int_equal(dlv_fanout_created(fr, 1), 0);
    assert_int_equal(dlv_fanout_created(fr, 2), -1);
    assert_int_equal(dlv_fanout_total(fr), 2);
    freeReplyObject(fr);

    /* XAUTOCLAIM: cursor, entries, deleted ids */
    char cursor[32] = "0-0";
    r = unit_reply("*3\r\n$3\r\n7-0\r\n*0\r\n*0\r\n");
    dlv_stream_decode(r, 1, cursor, sizeof(cursor), &s);
    assert_string_equal(cursor, "7-0");
    assert_int_equal(s.n, 0);
    freeReplyObject(r);
    r = unit_reply("-NOGROUP No such key 'rp:events'\r\n");
    dlv_stream_decode(r, 0, NULL, 0, &s);
    assert_true(s.nogroup);
    freeReplyObject(r);
    r = unit_reply("*-1\r\n"); /* nothing new */
    dlv_stream_decode(r, 0, NULL, 0, &s);
    assert_int_equal(s.n, 0);
    assert_null(s.error);
    freeReplyObject(r);
    dlv_cmd_free(c);
}

/* The relay's entries: one field e, the event's values joined by NUL bytes (queue/enqueue.c
 * writes them: test_enqueue), given to fanout.lua as named fields without the empty ones. */
static void test_stream_joined_entry(void **state)
{
    const struct config *cfg = *state;
    static const char value[] =
        "encora\0evt_1\0content.published\0movie\0c1\0\0\0\0001700000000000\00042\0req_1";
    /* a short value (a build that wrote fewer values) and one with a value more (a later one) */
    static const char fewer[] = "movida\0evt-2";
    static const char more[] = "s\0e\0t\0ct\0c\0sh\0001\0002\0003\0004\0r\0new";
    const char *values[] = {value, fewer, more};
    const size_t lens[] = {sizeof(value) - 1, sizeof(fewer) - 1, sizeof(more) - 1};
    char resp[512];
    size_t n = (size_t)snprintf(resp, sizeof(resp), "*1\r\n*2\r\n$9\r\nrp:events\r\n*3\r\n");
    for (size_t i = 0; i < 3; i++) {
        n += (size_t)snprintf(resp + n, sizeof(resp) - n,
                              "*2\r\n$3\r\n1-%zu\r\n*2\r\n$1\r\ne\r\n$%zu\r\n", i + 1, lens[i]);
        memcpy(resp + n, values[i], lens[i]);
        n += lens[i];
        memcpy(resp + n, "\r\n", 2);
        n += 2;
    }
    redisReply *r = unit_reply_len(resp, n);
    struct dlv_stream s;
    dlv_stream_decode(r, 0, NULL, 0, &s);
    assert_int_equal(s.n, 3);
    struct dlv_entry e0, e1, e2;
    expect_entry(&s, 0, &e0, "encora", "evt_1", "movie");
    assert_string_equal(e0.targets, "");
    expect_entry(&s, 1, &e1, "movida", "evt-2", "");
    assert_int_equal(dlv_stream_entry(&s, 2, &e2), 0);
    assert_string_equal(e2.content_type, "ct");

    struct dlv_cmd *c = dlv_cmd_new();
    size_t targets[] = {0};
    assert_int_equal(dlv_fanout_begin(c, cfg), 0);
    assert_int_equal(dlv_fanout_add(c, &e0, targets, 1), 0);
    assert_int_equal(dlv_fanout_add(c, &e1, targets, 0), 0);
    assert_int_equal(dlv_fanout_add(c, &e2, targets, 0), 0);
    assert_int_equal(dlv_fanout_end(c), 0);
    char id0[DLV_ID_SIZE];
    dlv_id("encora", "evt_1", "canon", id0);
    const char *want[] = {"rp",
                          "3600",
                          "3",
                          "1-1",
                          "1",
                          "16",
                          "canon",
                          id0,
                          "source",
                          "encora",
                          "event_id",
                          "evt_1",
                          "type",
                          "content.published",
                          "content_type",
                          "movie",
                          "content_id",
                          "c1",
                          "created_at",
                          "1700000000000",
                          "received_at",
                          "42",
                          "request_id",
                          "req_1",
                          "1-2",
                          "0",
                          "4",
                          "source",
                          "movida",
                          "event_id",
                          "evt-2",
                          "1-3",
                          "0",
                          "22",
                          "source",
                          "s",
                          "event_id",
                          "e",
                          "type",
                          "t",
                          "content_type",
                          "ct",
                          "content_id",
                          "c",
                          "show_id",
                          "sh",
                          "season_number",
                          "1",
                          "episode_number",
                          "2",
                          "created_at",
                          "3",
                          "received_at",
                          "4",
                          "request_id",
                          "r"};
    expect_args(c, lua_fanout, want, (int)(sizeof(want) / sizeof(*want)));
    dlv_cmd_free(c);
    freeReplyObject(r);
}

static void test_claim(void **state)
{
    const struct config *cfg = *state;
    struct dlv_cmd *c = dlv_cmd_new();
    size_t room[] = {3, 0};
    assert_int_equal(dlv_claim(c, cfg, "me", room, 4, 3), 0);
    /* per target: name, room, rate_per_s, the breaker's probe_s in ms (0 = no breaker),
     * max_in_flight across workers (the default 8 when unset) */
    const char *want[] = {"rp", "9000",  "3600", "me",   "4", "1",        "2", "canon", "3",
                          "0",  "10000", "3",    "slow", "0", "2.500000", "0", "8"};
    expect_args(c, lua_claim, want, 17);
    dlv_cmd_free(c);

    /* target 0: one leased delivery (empty show_id) and one ended superseded; target 1:
     * none. Each record is one string of its 15 values joined by NUL bytes ('|' here). */
    redisReply *r =
        nul_reply("*2\r\n*2\r\n"
                  "$77\r\ndlv_a|e1|r1|content.published|encora|movie|m1||me:1:2|3|4|2|pending|1000|"
                  "1500\r\n"
                  "$64\r\ndlv_b|e2|r2|content.published|encora|movie|m2|||||0|superseded||\r\n"
                  "*0\r\n");
    assert_int_equal(dlv_claim_count(r, 0), 2);
    assert_int_equal(dlv_claim_count(r, 1), 0);
    assert_int_equal(dlv_claim_count(r, 2), 0);
    struct dlv_claimed d;
    assert_int_equal(dlv_claim_get(r, 0, 0, &d), 0);
    assert_string_equal(d.id, "dlv_a");
    assert_string_equal(d.lease, "me:1:2");
    assert_string_equal(d.show_id, "");
    assert_int_equal(d.season, 3);
    assert_int_equal(d.episode, 4);
    assert_int_equal(d.attempt_count, 2);
    assert_false(d.superseded);
    assert_string_equal(d.first_seen, "1000");
    assert_string_equal(d.event_at, "1500");
    assert_int_equal(dlv_claim_get(r, 0, 1, &d), 0);
    assert_true(d.superseded);
    assert_int_equal(d.season, -1);
    assert_int_equal(dlv_claim_get(r, 0, 2, &d), -1);
    freeReplyObject(r);
    /* a value a later layout appends is left unread: the 15th still ends at its NUL */
    r = nul_reply("*1\r\n*1\r\n"
                  "$82\r\ndlv_a|e1|r1|content.published|encora|movie|m1||me:1:2|3|4|2|pending|1000|"
                  "1500|more\r\n");
    assert_int_equal(dlv_claim_get(r, 0, 0, &d), 0);
    assert_string_equal(d.event_at, "1500");
    assert_string_equal(d.lease, "me:1:2");
    freeReplyObject(r);
    /* a short record is refused, not read past its end; so is one of the old array shape */
    r = nul_reply("*1\r\n*1\r\n$8\r\ndlv_a|e1\r\n");
    assert_int_equal(dlv_claim_get(r, 0, 0, &d), -1);
    freeReplyObject(r);
    r = unit_reply("*1\r\n*1\r\n*2\r\n$5\r\ndlv_a\r\n$2\r\ne1\r\n");
    assert_int_equal(dlv_claim_get(r, 0, 0, &d), -1);
    freeReplyObject(r);
}

static void test_complete(void **state)
{
    const struct config *cfg = *state;
    struct dlv_cmd *c = dlv_cmd_new();
    struct dlv_outcome a = {.id = "dlv_a",
                            .lease = "t1",
                            .result = DLV_RETRY,
                            .http_status = 503,
                            .code = "partner_unavailable",
                            .message = "partner answered 503",
                            .snippet = "busy",
                            .delay_ms = 250,
                            .push_ms = 12,
                            .duration_ms = 30,
                            .count_attempt = 1};
    struct dlv_outcome b = {.id = "dlv_b", .lease = "t2", .result = DLV_RELEASE, .push_ms = -1};
    assert_int_equal(dlv_complete_begin(c, cfg), 0);
    assert_int_equal(dlv_complete_add(c, &a), 0);
    assert_int_equal(dlv_complete_add(c, &b), 0);
    assert_int_equal(dlv_complete_end(c), 0);
    const char *want[] = {"rp",
                          "7",
                          "3600",
                          "2",
                          "1", /* one target with a breaker: name, failures, probe_s in ms */
                          "canon",
                          "5",
                          "10000",
                          "dlv_a",
                          "t1",
                          "retry",
                          "503",
                          "partner_unavailable",
                          "partner answered 503",
                          "busy",
                          "250",
                          "12",
                          "30",
                          "1",
                          "", /* no catalog write: status, doc, updated_at, type, markets, opts */
                          "",
                          "",
                          "",
                          "",
                          "",
                          "dlv_b",
                          "t2",
                          "release",
                          "",
                          "",
                          "",
                          "",
                          "0",
                          "",
                          "0",
                          "0",
                          "",
                          "",
                          "",
                          "",
                          "",
                          ""};
    expect_args(c, lua_complete, want, 42);
    /* a delivered outcome with its catalog write (a feed target's store) */
    struct dlv_outcome d = {.id = "dlv_d",
                            .lease = "t4",
                            .result = DLV_DELIVERED,
                            .push_ms = -1,
                            .count_attempt = 1,
                            .cat_status = "live",
                            .cat_doc = "{\"id\":\"m\"}",
                            .cat_updated_at = "2026-11-20T10:00:00Z",
                            .cat_content_type = "movie",
                            .cat_markets = "+US",
                            .cat_retention_s = 60,
                            .cat_store = 1};
    assert_int_equal(dlv_complete_begin(c, cfg), 0);
    assert_int_equal(dlv_complete_add(c, &d), 0);
    assert_int_equal(dlv_complete_end(c), 0);
    const char *want_d[] = {"rp",
                            "7",
                            "3600",
                            "1",
                            "1",
                            "canon",
                            "5",
                            "10000",
                            "dlv_d",
                            "t4",
                            "delivered",
                            "",
                            "",
                            "",
                            "",
                            "0",
                            "",
                            "0",
                            "1",
                            "live",
                            "{\"id\":\"m\"}",
                            "2026-11-20T10:00:00Z",
                            "movie",
                            "+US",
                            "60:1"};
    expect_args(c, lua_complete, want_d, 25);
    /* the builder is reused: begin starts afresh */
    assert_int_equal(dlv_complete_begin(c, cfg), 0);
    assert_int_equal(dlv_complete_end(c), 0);
    const char *empty[] = {"rp", "7", "3600", "0", "1", "canon", "5", "10000"};
    expect_args(c, lua_complete, empty, 8);
    /* at most DLV_COMPLETE_MAX per call */
    for (int i = 0; i < DLV_COMPLETE_MAX; i++)
        assert_int_equal(dlv_complete_add(c, &b), 0);
    assert_int_equal(dlv_complete_add(c, &b), -1);
    dlv_cmd_free(c);

    redisReply *r = unit_reply("*2\r\n*2\r\n$8\r\nretrying\r\n:1\r\n*1\r\n$5\r\nstale\r\n");
    struct dlv_written w;
    assert_int_equal(dlv_complete_result(r, 0, &w), 0);
    assert_string_equal(w.status, "retrying");
    assert_int_equal(w.attempt_count, 1);
    assert_false(w.stale);
    assert_int_equal(dlv_complete_result(r, 1, &w), 0);
    assert_true(w.stale);
    assert_null(w.status);
    assert_int_equal(dlv_complete_result(r, 2, &w), -1);
    freeReplyObject(r);

    /* outcomes that opened and closed their target's circuit (nil HTTP status: transport) */
    r = unit_reply(
        "*3\r\n"
        "*7\r\n$8\r\nretrying\r\n:2\r\n$6\r\nopened\r\n:5\r\n"
        "$19\r\npartner_unavailable\r\n$20\r\npartner answered 503\r\n$3\r\n503\r\n"
        "*7\r\n$9\r\ndelivered\r\n:3\r\n$6\r\nclosed\r\n:9\r\n"
        "$16\r\nconnection_error\r\n$7\r\nrefused\r\n$0\r\n\r\n"
        "*7\r\n$9\r\ndelivered\r\n:1\r\n$4\r\nodd?\r\n:1\r\n$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n");
    assert_int_equal(dlv_complete_result(r, 0, &w), 0);
    assert_string_equal(w.status, "retrying");
    assert_int_equal(w.circuit, DLV_CIRCUIT_OPENED);
    assert_int_equal(w.failures, 5);
    assert_string_equal(w.last_code, "partner_unavailable");
    assert_string_equal(w.last_message, "partner answered 503");
    assert_int_equal(w.last_http, 503);
    assert_int_equal(dlv_complete_result(r, 1, &w), 0);
    assert_int_equal(w.circuit, DLV_CIRCUIT_CLOSED);
    assert_int_equal(w.failures, 9);
    assert_string_equal(w.last_code, "connection_error");
    assert_int_equal(w.last_http, 0);
    /* an unknown transition word is no transition */
    assert_int_equal(dlv_complete_result(r, 2, &w), 0);
    assert_int_equal(w.circuit, DLV_CIRCUIT_SAME);
    freeReplyObject(r);
    /* a plain two-element entry leaves the circuit fields unset */
    r = unit_reply("*1\r\n*2\r\n$9\r\ndelivered\r\n:1\r\n");
    assert_int_equal(dlv_complete_result(r, 0, &w), 0);
    assert_int_equal(w.circuit, DLV_CIRCUIT_SAME);
    assert_null(w.last_code);
    freeReplyObject(r);
    assert_string_equal(dlv_result_name(DLV_SUPERSEDED), "superseded");
    assert_string_equal(dlv_result_name(DLV_DELIVERED), "delivered");
}

static void test_reclaim(void **state)
{
    const struct config *cfg = *state;
    struct dlv_cmd *c = dlv_cmd_new();
    assert_int_equal(dlv_reclaim(c, cfg, 100), 0);
    /* then the configured targets, whose P:due it checks for records about to expire */
    const char *want[] = {"rp", "100", "3600", "canon", "slow"};
    expect_args(c, lua_reclaim, want, 5);
    dlv_cmd_free(c);
    redisReply *r = unit_reply("*4\r\n:2\r\n:1\r\n:5\r\n:7\r\n");
    struct dlv_reclaimed rc;
    assert_int_equal(dlv_reclaim_decode(r, &rc), 0);
    assert_int_equal(rc.back, 2);
    assert_int_equal(rc.superseded, 1);
    assert_int_equal(rc.trimmed, 5);
    assert_int_equal(rc.expired, 7);
    freeReplyObject(r);
    r = unit_reply("-ERR boom\r\n");
    assert_int_equal(dlv_reclaim_decode(r, &rc), -1);
    assert_string_equal(dlv_reply_error(r), "ERR boom");
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_vector),
        cmocka_unit_test(test_build_time_digests),
        cmocka_unit_test(test_prelude_only_what_is_used),
        cmocka_unit_test(test_stream_commands),
        cmocka_unit_test(test_stream_decode_and_fanout),
        cmocka_unit_test(test_stream_joined_entry),
        cmocka_unit_test(test_claim),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_reclaim),
    };
    return cmocka_run_group_tests(tests, setup, unit_config_teardown);
}
