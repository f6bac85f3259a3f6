/* queue/enqueue: the argument layout of enqueue.lua for a batch and the decoding of its
 * reply. The layout is pinned here because the script reads it by position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <string.h>

#include "queue/enqueue.h"
#include "queue/lua.h"

static void test_batch_layout(void **state)
{
    struct enqueue_event ev[2] = {
        {.source = "encora",
         .event_id = "evt_1",
         .type = "content.published",
         .content_type = "episode",
         .content_id = "c1",
         .show_id = "s1",
         .season_number = 2,
         .episode_number = 3,
         .created_at_ms = 1700000000000LL,
         .received_at_ms = 42,
         .request_id = "req_1"},
        {.source = "movida",
         .event_id = "evt-2",
         .type = "content.unpublished",
         .season_number = -1,
         .episode_number = -1,
         .created_at_ms = -1,
         .received_at_ms = 43},
    };
    struct enqueue_args *a = enqueue_batch_args("relay", 86400, ev, 2);
    assert_non_null(a);
    const char **v = enqueue_args_argv(a);
    const size_t *len = enqueue_args_argvlen(a);
    assert_int_equal(enqueue_args_count(a), 2 + 2 * 3);
    assert_string_equal(v[0], "relay");
    assert_string_equal(v[1], "86400");
    assert_int_equal(len[1], 5);
    /* per event: source, event_id, then source, event_id, type, content_type, content_id,
     * show_id, season_number, episode_number, created_at, received_at, request_id joined by
     * NUL bytes (the value holds NULs: its length is what counts) */
    static const char first[] =
        "encora\0evt_1\0content.published\0episode\0c1\0s1\0002\0003\0001700000000000\00042\0req_1";
    static const char second[] = "movida\0evt-2\0content.unpublished\0\0\0\0\0\0\00043\0";
    assert_string_equal(v[2], "encora");
    assert_string_equal(v[3], "evt_1");
    assert_int_equal(len[4], sizeof(first) - 1);
    assert_memory_equal(v[4], first, sizeof(first) - 1);
    assert_string_equal(v[5], "movida");
    assert_string_equal(v[6], "evt-2");
    assert_int_equal(len[7], sizeof(second) - 1);
    assert_memory_equal(v[7], second, sizeof(second) - 1);
    enqueue_args_free(a);
    enqueue_args_free(NULL);
    assert_ptr_equal(enqueue_script(), lua_enqueue);
}

static void test_reply(void **state)
{
    redisReply one = {.type = REDIS_REPLY_INTEGER, .integer = 1};
    redisReply zero = {.type = REDIS_REPLY_INTEGER, .integer = 0};
    redisReply id = {.type = REDIS_REPLY_STRING, .str = "1-0", .len = 3};
    redisReply empty = {.type = REDIS_REPLY_STRING, .str = "", .len = 0};
    redisReply *el[] = {&one, &id, &zero, &empty};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 4, .element = el};
    const char *sid = "x";
    assert_int_equal(enqueue_reply(&arr, 2, 0, &sid), ENQUEUE_QUEUED);
    assert_string_equal(sid, "1-0");
    assert_int_equal(enqueue_reply(&arr, 2, 1, &sid), ENQUEUE_DUPLICATE);
    assert_null(sid);
    /* a reply for another batch size, no reply, an error: failed */
    assert_int_equal(enqueue_reply(&arr, 1, 0, NULL), ENQUEUE_FAILED);
    assert_int_equal(enqueue_reply(&arr, 2, 2, NULL), ENQUEUE_FAILED);
    assert_int_equal(enqueue_reply(NULL, 1, 0, NULL), ENQUEUE_FAILED);
    redisReply err = {.type = REDIS_REPLY_ERROR, .str = "OOM command not allowed"};
    assert_int_equal(enqueue_reply(&err, 1, 0, NULL), ENQUEUE_FAILED);
    assert_string_equal(enqueue_reply_error(&err), "OOM command not allowed");
    assert_string_equal(enqueue_reply_error(NULL), "no answer");
    redisReply *bad_el[] = {&id, &id};
    redisReply bad = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = bad_el};
    assert_int_equal(enqueue_reply(&bad, 1, 0, NULL), ENQUEUE_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_layout),
        cmocka_unit_test(test_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
