/* queue/catalog_feed: the relay feeds' commands and the decoding of their answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "queue/catalog_feed.h"
#include "queue/lua.h"
#include "tests/unit/unit_reply.h"

static void expect_argv(const struct catalog_feed_cmd *c, const char *const *want, int n)
{
    assert_int_equal(c->argc, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(c->argv[i], want[i]);
}

static void test_commands(void **state)
{
    (void)state;
    struct catalog_feed_cmd c;
    catalog_feed_meta(&c, "rp", "gwi");
    const char *meta[] = {"HMGET", "rp:cat:gwi:meta", "seq", "dropped"};
    expect_argv(&c, meta, 4);
    assert_null(c.script);

    catalog_feed_key(&c, "rp", "00ff");
    const char *key[] = {"rp:cat:key", "00ff"};
    expect_argv(&c, key, 2);
    assert_ptr_equal(c.script, lua_catalog_key);
    assert_int_equal(c.nkeys, 1);

    catalog_feed_docs(&c, "rp", "gwi", 10, 99, 500);
    const char *docs[] = {"ZRANGEBYSCORE", "rp:cat:gwi:docs", "(10", "99", "LIMIT", "0", "500"};
    expect_argv(&c, docs, 7);

    catalog_feed_poll(&c, "rp", "gwi", 1764583200123LL, 304, 42);
    const char *poll[] = {"HSET",
                          "rp:cat:gwi:meta",
                          "last_poll_at",
                          "1764583200123",
                          "last_poll_status",
                          "304",
                          "last_cursor",
                          "42"};
    expect_argv(&c, poll, 8);
}

static void test_replies(void **state)
{
    (void)state;
    int64_t seq = -1, dropped = -1;
    redisReply *r = unit_reply("*2\r\n$2\r\n17\r\n$-1\r\n");
    assert_int_equal(catalog_feed_meta_decode(r, &seq, &dropped), 0);
    assert_int_equal(seq, 17);
    assert_int_equal(dropped, 0); /* never dropped anything */
    freeReplyObject(r);
    assert_int_equal(catalog_feed_meta_decode(NULL, &seq, &dropped), -1);

    unsigned char k[CATALOG_KEY_BYTES];
    char hex[2 * CATALOG_KEY_BYTES + 1], resp[2 * CATALOG_KEY_BYTES + 16];
    for (size_t i = 0; i < 2 * CATALOG_KEY_BYTES; i++)
        hex[i] = i < 2 ? "a5"[i] : '0';
    hex[2 * CATALOG_KEY_BYTES] = '\0';
    snprintf(resp, sizeof(resp), "$%d\r\n%s\r\n", 2 * CATALOG_KEY_BYTES, hex);
    r = unit_reply(resp);
    assert_int_equal(catalog_feed_key_decode(r, k), 0);
    assert_int_equal(k[0], 0xa5);
    assert_int_equal(k[1], 0);
    freeReplyObject(r);
    r = unit_reply("$4\r\nabcd\r\n");
    assert_int_equal(catalog_feed_key_decode(r, k), -1); /* too short */
    freeReplyObject(r);

    r = unit_reply("*2\r\n$6\r\nL1:{ }\r\n:3\r\n");
    assert_int_equal(catalog_feed_docs_count(r), 2);
    size_t len = 0;
    assert_string_equal(catalog_feed_docs_get(r, 0, &len), "L1:{ }");
    assert_int_equal(len, 6);
    assert_null(catalog_feed_docs_get(r, 1, &len));
    freeReplyObject(r);
    r = unit_reply("-ERR x\r\n");
    assert_int_equal(catalog_feed_docs_count(r), -1);
    assert_string_equal(catalog_feed_reply_error(r), "ERR x");
    assert_int_equal(catalog_feed_migrate_left(r), -1);
    freeReplyObject(r);

    r = unit_reply(":12\r\n");
    assert_int_equal(catalog_feed_migrate_left(r), 12);
    assert_null(catalog_feed_reply_error(r));
    freeReplyObject(r);

    /* two feed targets, 7 values each; the second one's counts are not strings */
    r = unit_reply("*14\r\n$1\r\n5\r\n$1\r\n1\r\n$1\r\n9\r\n$3\r\n700\r\n$3\r\n200\r\n$1\r\n0\r\n"
                   "$1\r\n0\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n:7\r\n");
    int64_t live, removed, at;
    assert_int_equal(catalog_feed_info_get(r, 0, &live, &removed, &at), 0);
    assert_int_equal(live, 5);
    assert_int_equal(removed, 1);
    assert_int_equal(at, 700);
    assert_int_equal(catalog_feed_info_get(r, 1, &live, &removed, &at), 1);
    assert_int_equal(catalog_feed_info_get(r, 2, &live, &removed, &at), -1);
    freeReplyObject(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_commands),
                                       cmocka_unit_test(test_replies)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
