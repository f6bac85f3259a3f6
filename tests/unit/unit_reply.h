/* Shared by the unit tests of reply decoders: a Redis reply parsed from its wire form (RESP),
 * as hiredis would hand it to a callback. Include after <cmocka.h>. */
#ifndef TESTS_UNIT_UNIT_REPLY_H
#define TESTS_UNIT_UNIT_REPLY_H

#include <hiredis/hiredis.h>
#include <string.h>

/* The reply of the len bytes at resp (which may hold NULs). Caller frees with
 * freeReplyObject(). */
static inline redisReply *unit_reply_len(const char *resp, size_t len)
{
    redisReader *rd = redisReaderCreate();
    void *r = NULL;
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, len), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &r), REDIS_OK);
    assert_non_null(r);
    redisReaderFree(rd);
    return r;
}

static inline redisReply *unit_reply(const char *resp)
{
    return unit_reply_len(resp, strlen(resp));
}

#endif
