/* The worker's HTTP client end to end on its plain-http path (handlers/hplain.c through
 * handlers/hclient.c): a scripted server on a loopback port, in the same event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "handlers/hclient.h"

/* What the server does with each request it reads. */
enum act { ANSWER, ANSWER_CLOSE, SILENT, RESET };

struct server {
    struct event_base *base;
    struct evconnlistener *lis;
    int port;
    int accepted;
    int requests;
    enum act act[8];
    const char *answer[8]; /* bytes sent for request i */
    size_t answer_len[8];
    char last[4096];              /* the last request's bytes */
    struct bufferevent *open[16]; /* connections not yet closed */
};

static void srv_close(struct server *s, struct bufferevent *bev)
{
    for (int i = 0; i < 16; i++)
        if (s->open[i] == bev)
            s->open[i] = NULL;
    bufferevent_free(bev);
}

static void server_stop(struct server *s)
{
    for (int i = 0; i < 16; i++)
        if (s->open[i])
            bufferevent_free(s->open[i]);
    evconnlistener_free(s->lis);
}

static void on_srv_read(struct bufferevent *bev, void *arg)
{
    struct server *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        char p[4096];
        size_t n = evbuffer_copyout(in, p, sizeof(p) - 1);
        p[n] = '\0';
        const char *end = strstr(p, "\r\n\r\n");
        if (end == NULL)
            return;
        size_t head = (size_t)(end - p) + 4, body = 0;
        const char *cl = strstr(p, "Content-Length: ");
        if (cl && cl < end)
            body = (size_t)atoi(cl + 16);
        if (n < head + body)
            return;
        assert_true(head + body < sizeof(s->last));
        memcpy(s->last, p, head + body);
        s->last[head + body] = '\0';
        evbuffer_drain(in, head + body);
        int i = s->requests++;
        assert_true(i < 8);
        if (s->act[i] == SILENT)
            return;
        if (s->act[i] == RESET) {
            int fd = (int)bufferevent_getfd(bev);
            struct linger l = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
            srv_close(s, bev);
            return;
        }
        int fd = (int)bufferevent_getfd(bev);
        size_t len = s->answer_len[i] ? s->answer_len[i] : strlen(s->answer[i]);
        assert_int_equal(send(fd, s->answer[i], len, 0), (ssize_t)len);
        if (s->act[i] == ANSWER_CLOSE) {
            srv_close(s, bev);
            return;
        }
    }
}

static void on_srv_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    srv_close(arg, bev);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    struct server *s = arg;
    (void)l;
    (void)sa;
    (void)len;
    s->accepted++;
    struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, on_srv_read, NULL, on_srv_event, s);
    for (int i = 0; i < 16; i++)
        if (s->open[i] == NULL) {
            s->open[i] = bev;
            break;
        }
    bufferevent_enable(bev, EV_READ);
}

static void server_start(struct server *s, struct event_base *base)
{
    memset(s, 0, sizeof(*s));
    s->base = base;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lis = evconnlistener_new_bind(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                     16, (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(s->lis);
    socklen_t sl = sizeof(sin);
    getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin, &sl);
    s->port = ntohs(sin.sin_port);
}

struct result {
    int done;
    struct hclient_response res;
    char body[4096];
    char error_text[256];
    char retry_after[128];
    /* started from the callback: the next request, on the connection just freed */
    struct hclient *again;
    const struct hclient_request *next;
    struct result *next_result;
};

static void on_done(const struct hclient_response *res, void *arg);

static void run(struct hclient *hc, struct event_base *base, const struct hclient_request *req,
                struct result *r)
{
    memset(r, 0, sizeof(*r));
    assert_non_null(hclient_start(hc, req, on_done, r));
    while (!r->done)
        event_base_loop(base, EVLOOP_ONCE);
}

static void on_done(const struct hclient_response *res, void *arg)
{
    struct result *r = arg;
    r->done = 1;
    r->res = *res;
    assert_true(res->body_len < sizeof(r->body));
    memcpy(r->body, res->body, res->body_len + 1);
    snprintf(r->error_text, sizeof(r->error_text), "%s", res->error_text ? res->error_text : "");
    snprintf(r->retry_after, sizeof(r->retry_after), "%s",
             res->retry_after ? res->retry_after : "");
    if (r->next) {
        memset(r->next_result, 0, sizeof(*r->next_result));
        assert_non_null(hclient_start(r->again, r->next, on_done, r->next_result));
    }
}

static char url[128];

static struct hclient_request get(long timeout_ms)
{
    return (struct hclient_request){
        .method = "GET", .url = url, .timeout_ms = timeout_ms, .max_body = 1024};
}

static void test_reuse_and_request_bytes(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct server s;
    server_start(&s, base);
    s.answer[0] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nRetry-After: 7\r\n\r\nhello";
    s.answer[1] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    struct hclient *hc = hclient_new(base);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v2/x?y=1", s.port);
    static const char *const hdrs[] = {"Accept: application/json", "X-Empty;", "X-Dropped:", NULL};
    struct auth bearer = {.type = AUTH_BEARER};
    char token[] = "tok";
    bearer.token.value = token;
    struct hclient_request req = get(2000);
    req.headers = hdrs;
    req.auth = &bearer;
    struct result r;
    run(hc, base, &req, &r);
    assert_int_equal(r.res.error, HCLIENT_OK);
    assert_int_equal(r.res.status, 200);
    assert_string_equal(r.body, "hello");
    assert_string_equal(r.retry_after, "7");
    char want[512];
    snprintf(want, sizeof(want),
             "GET /v2/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept-Encoding: deflate, gzip\r\n"
             "Accept: application/json\r\nX-Empty:\r\nAuthorization: Bearer tok\r\n\r\n",
             s.port);
    assert_string_equal(s.last, want);

    struct hclient_request post = {.method = "PUT",
                                   .url = url,
                                   .body = "{}",
                                   .body_len = 2,
                                   .timeout_ms = 2000,
                                   .max_body = 1024};
    run(hc, base, &post, &r);
    assert_int_equal(r.res.status, 201);
    assert_string_equal(r.body, "abc");
    assert_string_equal(r.retry_after, "");
    assert_int_equal(s.accepted, 1); /* the same connection */
    snprintf(want, sizeof(want),
             "PUT /v2/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: */*\r\n"
             "Accept-Encoding: deflate, gzip\r\nContent-Length: 2\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n\r\n{}",
             s.port);
    assert_string_equal(s.last, want);
    hclient_free(hc);
    server_stop(&s);
    event_base_free(base);
}

static void test_errors(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct server s;
    server_start(&s, base);
    struct hclient *hc = hclient_new(base);
    struct result r;

    /* nobody listening */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sin, sizeof(sin));
    socklen_t sl = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sin.sin_port));
    struct hclient_request req = get(2000);
    run(hc, base, &req, &r);
    close(fd);
    assert_int_equal(r.res.error, HCLIENT_CONNECT);
    assert_string_equal(hclient_error_code(r.res.error), "connection_error");
    assert_non_null(strstr(r.error_text, "Failed to connect to 127.0.0.1 port"));

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    /* no answer within the timeout */
    s.act[0] = SILENT;
    req = get(150);
    run(hc, base, &req, &r);
    assert_int_equal(r.res.error, HCLIENT_TIMEOUT);
    assert_non_null(strstr(r.error_text, "Operation timed out after"));
    assert_true(r.res.duration_ms >= 140);
    /* reset */
    s.act[1] = RESET;
    req = get(2000);
    run(hc, base, &req, &r);
    assert_int_equal(r.res.error, HCLIENT_TRANSPORT);
    assert_string_equal(r.error_text, "Recv failure: Connection reset by peer");
    /* closed without a word (a new connection: nothing to retry) */
    s.act[2] = ANSWER_CLOSE;
    s.answer[2] = "";
    run(hc, base, &req, &r);
    assert_int_equal(r.res.error, HCLIENT_TRANSPORT);
    assert_string_equal(r.error_text, "Empty reply from server");
    /* cut short */
    s.act[3] = ANSWER_CLOSE;
    s.answer[3] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    run(hc, base, &req, &r);
    assert_int_equal(r.res.error, HCLIENT_TRANSPORT);
    assert_string_equal(r.error_text, "transfer closed with 7 bytes remaining to read");
    /* garbage */
    s.answer[4] = "SSH-2.0-OpenSSH\r\n\r\n";
    run(hc, base, &req, &r);
    assert_int_equal(r.res.error, HCLIENT_TRANSPORT);
    assert_string_equal(r.error_text, "Received HTTP/0.9 when not allowed"); /* curl's words */
    /* close-delimited is a whole answer */
    s.act[5] = ANSWER_CLOSE;
    s.answer[5] = "HTTP/1.0 503 Busy\r\n\r\nlater";
    run(hc, base, &req, &r);
    assert_int_equal(r.res.error, HCLIENT_OK);
    assert_int_equal(r.res.status, 503);
    assert_string_equal(r.body, "later");
    hclient_free(hc);
    server_stop(&s);
    event_base_free(base);
}

static void test_truncated_gzip_and_stale_connection(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct server s;
    server_start(&s, base);
    struct hclient *hc = hclient_new(base);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/doc", s.port);
    struct result r, r2;

    /* more than max_body: the first bytes kept, the rest read so the connection is reused */
    static char big[256];
    static char body[200];
    memset(body, 'b', sizeof(body));
    int n =
        snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", sizeof(body));
    memcpy(big + n, body, sizeof(body));
    s.answer[0] = big;
    s.answer_len[0] = (size_t)n + sizeof(body);
    struct hclient_request req = get(2000);
    req.max_body = 10;
    run(hc, base, &req, &r);
    assert_int_equal(r.res.status, 200);
    assert_true(r.res.truncated);
    assert_int_equal(r.res.body_len, 10);
    assert_string_equal(r.body, "bbbbbbbbbb");

    /* gzip */
    static char gz[512];
    unsigned char packed[256];
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)"{\"title\":\"x\"}";
    z.avail_in = 13;
    z.next_out = packed;
    z.avail_out = sizeof(packed);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t plen = sizeof(packed) - z.avail_out;
    deflateEnd(&z);
    n = snprintf(gz, sizeof(gz),
                 "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", plen);
    memcpy(gz + n, packed, plen);
    s.answer[1] = gz;
    s.answer_len[1] = (size_t)n + plen;
    req = get(2000);
    run(hc, base, &req, &r);
    assert_int_equal(r.res.error, HCLIENT_OK);
    assert_string_equal(r.body, "{\"title\":\"x\"}");
    assert_int_equal(s.accepted, 1);

    /* The server answers and closes; the next request goes out on that connection before the
     * close is seen, finds it dead and is sent again on a new one. */
    s.act[2] = ANSWER_CLOSE;
    s.answer[2] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1";
    s.answer[3] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2";
    struct hclient_request again = get(2000);
    r.again = hc;
    r.next = &again;
    r.next_result = &r2;
    memset(&r2, 0, sizeof(r2));
    struct hclient_request first = get(2000);
    memset(&r, 0, sizeof(r));
    r.again = hc;
    r.next = &again;
    r.next_result = &r2;
    assert_non_null(hclient_start(hc, &first, on_done, &r));
    while (!r2.done)
        event_base_loop(base, EVLOOP_ONCE);
    assert_string_equal(r.body, "1");
    assert_int_equal(r2.res.error, HCLIENT_OK);
    assert_string_equal(r2.body, "2");
    assert_int_equal(s.accepted, 2);
    hclient_free(hc);
    server_stop(&s);
    event_base_free(base);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_and_request_bytes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_truncated_gzip_and_stale_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
