/* The plain-http client's response parser (handlers/hresp.c) and URL check (hplain_parse_url). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handlers/hplain.h"
#include "handlers/hresp.h"

struct sink {
    char buf[4096];
    size_t len;
    int fail_after; /* 0: never */
};

static int take(void *ctx, const char *p, size_t n, const char **err)
{
    struct sink *s = ctx;
    if (s->fail_after && s->len + n > (size_t)s->fail_after) {
        *err = "sink full";
        return -1;
    }
    assert_true(s->len + n < sizeof(s->buf));
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return 0;
}

/* Parses wire (head and body) fed `step` bytes at a time (0: at once), as the client does:
 * unparsed bytes stay in front. Returns the last result; *rest = bytes after the response. */
static enum hresp_result feed(struct hresp *r, const char *wire, size_t step, struct sink *s,
                              size_t *rest)
{
    size_t len = strlen(wire), have = 0, off = 0;
    int head = 0;
    enum hresp_result rc = HRESP_MORE;
    hresp_init(r);
    memset(s->buf, 0, sizeof(s->buf));
    s->len = 0;
    while (rc != HRESP_BAD) {
        if (have < len)
            have = step == 0 || len - have < step ? len : have + step;
        size_t used = 0;
        if (!head) {
            rc = hresp_head(r, wire + off, have - off, &used);
            if (rc == HRESP_DONE) {
                off += used;
                if (r->status < 200) {
                    hresp_init(r);
                    rc = HRESP_MORE;
                    continue;
                }
                head = 1;
                rc = HRESP_MORE;
                continue;
            }
        } else {
            rc = hresp_body(r, wire + off, have - off, &used, take, s);
            off += used;
            if (rc == HRESP_DONE)
                break;
        }
        if (rc == HRESP_MORE && have == len)
            break;
    }
    *rest = len - off;
    return rc;
}

static void test_content_length(void **state)
{
    (void)state;
    struct hresp r;
    struct sink s = {0};
    size_t rest;
    const char *w = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"
                    "Retry-After:  120 \r\n\r\n{\"a\":1}";
    for (size_t step = 0; step < 9; step++) {
        assert_int_equal(feed(&r, w, step, &s, &rest), HRESP_DONE);
        assert_int_equal(r.status, 200);
        assert_true(r.keep_alive);
        assert_int_equal(r.content_length, 7);
        assert_string_equal(r.retry_after, "120");
        assert_string_equal(s.buf, "{\"a\":1}");
        assert_int_equal(rest, 0);
    }
    /* what follows the body is left alone (the client then closes the connection) */
    assert_int_equal(
        feed(&r, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nokHTTP/1.1", 0, &s, &rest),
        HRESP_DONE);
    assert_int_equal(r.status, 201);
    assert_int_equal(rest, 8);
    /* bare LF line ends */
    assert_int_equal(feed(&r, "HTTP/1.1 503 Busy\nContent-Length: 1\n\nx", 0, &s, &rest),
                     HRESP_DONE);
    assert_int_equal(r.status, 503);
    assert_string_equal(s.buf, "x");
}

static void test_chunked(void **state)
{
    (void)state;
    struct hresp r;
    struct sink s = {0};
    size_t rest;
    const char *w = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
    for (size_t step = 0; step < 12; step++) {
        assert_int_equal(feed(&r, w, step, &s, &rest), HRESP_DONE);
        assert_true(r.chunked);
        assert_true(r.keep_alive);
        assert_string_equal(s.buf, "helloabcdefghijklmnopqrstuvwxyz");
        assert_int_equal(rest, 0);
    }
    /* chunked and Content-Length: chunked frames it, the connection is not reused */
    assert_int_equal(
        feed(&r,
             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
             "2\r\nab\r\n0\r\n\r\n",
             0, &s, &rest),
        HRESP_DONE);
    assert_string_equal(s.buf, "ab");
    assert_false(r.keep_alive);
    const char *bad[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(feed(&r, bad[i], 0, &s, &rest), HRESP_BAD);
        assert_non_null(r.error);
    }
}

static void test_close_delimited_and_no_body(void **state)
{
    (void)state;
    struct hresp r;
    struct sink s = {0};
    size_t rest;
    /* no length: the body runs to the close, the connection is not kept */
    assert_int_equal(feed(&r, "HTTP/1.0 200 OK\r\n\r\nabc", 0, &s, &rest), HRESP_MORE);
    assert_true(hresp_ends_at_close(&r));
    assert_false(r.keep_alive);
    assert_string_equal(s.buf, "abc");
    /* HTTP/1.0 keeps the connection only when asked to */
    assert_int_equal(feed(&r,
                          "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                          0, &s, &rest),
                     HRESP_DONE);
    assert_true(r.keep_alive);
    assert_int_equal(feed(&r,
                          "HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n",
                          0, &s, &rest),
                     HRESP_DONE);
    assert_false(r.keep_alive);
    /* 204 and 304 have no body whatever they say; 1xx heads are skipped */
    assert_int_equal(feed(&r, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0, &s, &rest),
                     HRESP_DONE);
    assert_false(hresp_has_body(&r));
    assert_int_equal(
        feed(&r, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!", 3,
             &s, &rest),
        HRESP_DONE);
    assert_int_equal(r.status, 200);
    assert_string_equal(s.buf, "!");
}

static void test_malformed(void **state)
{
    (void)state;
    struct hresp r;
    struct sink s = {0};
    size_t rest;
    const char *bad[] = {
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(feed(&r, bad[i], 0, &s, &rest), HRESP_BAD);
        assert_non_null(r.error);
    }
    /* the same Content-Length twice is one length */
    assert_int_equal(feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nz",
                          0, &s, &rest),
                     HRESP_DONE);
    /* a head not yet complete waits; one that is not HTTP at all does not */
    size_t used;
    hresp_init(&r);
    const char *part = "HTTP/1.1 200 OK\r\nX: y\r\n";
    assert_int_equal(hresp_head(&r, part, strlen(part), &used), HRESP_MORE);
    assert_int_equal(hresp_head(&r, "<html>", 6, &used), HRESP_BAD);
    /* the sink's refusal stops the body */
    struct sink small = {.fail_after = 2};
    assert_int_equal(
        feed(&r, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde", 0, &small, &rest), HRESP_BAD);
    assert_string_equal(r.error, "sink full");
}

static void test_encoding_and_limits(void **state)
{
    (void)state;
    struct hresp r;
    struct sink s = {0};
    size_t rest;
    assert_int_equal(feed(&r,
                          "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
                          0, &s, &rest),
                     HRESP_DONE);
    assert_int_equal(r.coding, HRESP_GZIP);
    assert_int_equal(feed(&r,
                          "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 0\r\n\r\n", 0,
                          &s, &rest),
                     HRESP_DONE);
    assert_int_equal(r.coding, HRESP_OTHER);
    /* Retry-After longer than the client keeps is dropped, not cut */
    char w[512];
    strcpy(w, "HTTP/1.1 429 Slow\r\nContent-Length: 0\r\nRetry-After: ");
    size_t at = strlen(w);
    memset(w + at, '1', 200);
    w[at + 200] = '\0';
    strcat(w, "\r\n\r\n");
    assert_int_equal(feed(&r, w, 0, &s, &rest), HRESP_DONE);
    assert_string_equal(r.retry_after, "");
    /* chunk framing is bounded: endless extensions fail */
    size_t n = 60 + HRESP_MAX_META + 10;
    char *big = malloc(n + 1);
    strcpy(big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    memset(big + strlen(big), 'e', n - strlen(big));
    big[n] = '\0';
    assert_int_equal(feed(&r, big, 0, &s, &rest), HRESP_BAD);
    free(big);
}

static void test_url(void **state)
{
    (void)state;
    struct hplain_target t;
    assert_int_equal(hplain_parse_url("http://127.0.0.1:8080/v2/movies/1?x=y", &t), 0);
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 8080);
    assert_string_equal(t.path, "/v2/movies/1?x=y");
    assert_int_equal(hplain_parse_url("http://10.0.0.1", &t), 0);
    assert_int_equal(t.port, 80);
    assert_string_equal(t.path, "");
    assert_int_equal(hplain_parse_url("http://[::1]:9/a", &t), 0);
    assert_string_equal(t.host, "[::1]");
    assert_int_equal(t.port, 9);
    assert_int_equal(hplain_parse_url("http://1.2.3.4?q=1", &t), 0);
    assert_string_equal(t.path, "?q=1");
    /* query dots are not path segments */
    assert_int_equal(hplain_parse_url("http://1.2.3.4/a?b=/../", &t), 0);
    const char *curl_only[] = {
        "https://127.0.0.1/",      "http://localhost/",
        "http://example.com/x",    "http://u:p@127.0.0.1/",
        "http://127.0.0.1/a#frag", "http://127.0.0.1/a b",
        "http://127.0.0.1/a/../b", "http://127.0.0.1/./b",
        "http://127.0.0.1/a/..",   "http://127.0.0.1:/",
        "http://127.0.0.1:0/",     "http://127.0.0.1:65536/",
        "http://127.1/",           "http://[::1/",
        "http://[::1]x/",          "http://127.0.0.1/\xc3\xa9",
        "HTTP://127.0.0.1/",       "http:///x",
    };
    for (size_t i = 0; i < sizeof(curl_only) / sizeof(*curl_only); i++)
        assert_int_equal(hplain_parse_url(curl_only[i], &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_close_delimited_and_no_body),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_encoding_and_limits),
        cmocka_unit_test(test_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
