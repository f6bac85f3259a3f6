/* relay/server_stream.c's streaming answers (relay/http.h, http_stream_*) over a socketpair:
 * bounded output while the client reads slowly, chunked framing, HEAD, HTTP/1.0, a client that
 * goes away mid-stream, and keep-alive after a stream. Includes server.c to reach the
 * connection's internals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay/server.c"

#define BATCH 16384
#define TOTAL (4 << 20)

struct producer {
    struct http_req *req;
    size_t written;
    size_t max_pending;
    int drains;
    int ended;
    int saw_dead;
};

static struct producer prod;
static struct event_base *base;
static struct config cfg = {
    .max_body_bytes = 1024, .request_timeout_ms = 5000, .max_connections = 4};

static void produce(struct http_req *req)
{
    static char batch[BATCH];
    while (http_stream_pending(req) < HTTP_STREAM_LOW_WATER && prod.written < TOTAL) {
        for (size_t i = 0; i < BATCH; i++)
            batch[i] = (char)('a' + (prod.written + i) % 26);
        assert_int_equal(http_stream_write(req, batch, BATCH), 0);
        prod.written += BATCH;
        if (http_stream_pending(req) > prod.max_pending)
            prod.max_pending = http_stream_pending(req);
    }
    if (prod.written >= TOTAL || (req->is_head && prod.drains > 0)) {
        prod.ended = 1;
        prod.req = NULL;
        http_stream_end(req);
    }
}

static void on_drain(struct http_req *req, void *arg)
{
    prod.drains++;
    if (!http_stream_alive(req)) {
        prod.saw_dead = 1;
        assert_int_equal(http_stream_write(req, "x", 1), -1);
        prod.ended = 1;
        prod.req = NULL;
        http_stream_end(req);
        return;
    }
    produce(req);
}

static void on_request(struct http_req *req, void *arg)
{
    if (strcmp(http_path(req), "/stream") == 0) {
        prod.req = req;
        http_add_header(req, "X-Relay-Next-Cursor", "c1");
        assert_int_equal(http_stream_begin(req, 200, "application/json", on_drain, NULL), 0);
        assert_int_equal(http_stream_printf(req, "%s", ""), 0);
        produce(req);
        return;
    }
    http_reply(req, 200, "text/plain", "plain", 5);
}

struct rig {
    struct server *s;
    int fd; /* the client's end */
};

static void rig_open(struct rig *r)
{
    static const struct server_handlers handlers = {NULL, on_request, NULL, NULL};
    int fds[2];
    memset(&prod, 0, sizeof(prod));
    if (base == NULL) {
        signal(SIGPIPE, SIG_IGN);
        base = event_base_new();
        assert_non_null(base);
    }
    r->s = calloc(1, sizeof(*r->s));
    assert_non_null(r->s);
    r->s->base = base;
    r->s->cfg = &cfg;
    r->s->h = handlers;
    r->s->max_conns = 4;
    r->s->scratch = evbuffer_new();
    memcpy(r->s->id_prefix, "testtesttest", sizeof(r->s->id_prefix));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    evutil_make_socket_nonblocking(fds[0]);
    evutil_make_socket_nonblocking(fds[1]);
    assert_int_equal(server_conn_open(r->s, fds[0], 0), 0);
    assert_int_equal(r->s->n_conns, 1);
    r->fd = fds[1];
}

static void rig_close(struct rig *r)
{
    server_free(r->s);
    if (r->fd >= 0)
        close(r->fd);
}

/* Runs the loop and reads up to max bytes per spin into out (growing). Returns bytes read. */
static size_t pump(struct rig *r, char **out, size_t *len, size_t per_spin, int spins)
{
    size_t got = 0;
    char buf[8192];
    for (int i = 0; i < spins; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        size_t want = per_spin < sizeof(buf) ? per_spin : sizeof(buf);
        ssize_t n = read(r->fd, buf, want);
        if (n > 0) {
            *out = realloc(*out, *len + (size_t)n + 1);
            memcpy(*out + *len, buf, (size_t)n);
            *len += (size_t)n;
            (*out)[*len] = '\0';
            got += (size_t)n;
        }
    }
    return got;
}

/* Decodes a chunked body at p; returns its length (checking the pattern) or -1. */
static long dechunk(const char *p, const char *end, const char **after)
{
    long total = 0;
    for (;;) {
        char *e;
        unsigned long n = strtoul(p, &e, 16);
        if (e == p || e + 2 > end || e[0] != '\r' || e[1] != '\n')
            return -1;
        p = e + 2;
        if (n == 0) {
            if (p + 2 > end || p[0] != '\r' || p[1] != '\n')
                return -1;
            *after = p + 2;
            return total;
        }
        if (p + n + 2 > end)
            return -1;
        for (unsigned long i = 0; i < n; i++)
            if (p[i] != (char)('a' + (total + (long)i) % 26))
                return -1;
        total += (long)n;
        p += n + 2;
    }
}

static void test_stream_bounded_and_framed(void **state)
{
    struct rig r;
    char *out = NULL;
    size_t len = 0;
    rig_open(&r);
    const char req[] =
        "GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(r.fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
    /* A slow reader: 1 KB per loop pass at first. */
    pump(&r, &out, &len, 1024, 200);
    assert_false(prod.ended);
    assert_true(prod.max_pending <= HTTP_STREAM_LOW_WATER + BATCH + 64);
    for (int i = 0; i < 100000 && !(prod.ended && strstr(out, "plain")); i++)
        pump(&r, &out, &len, 8192, 1);
    assert_true(prod.ended);
    assert_true(prod.drains > 10);
    assert_true(prod.max_pending <= HTTP_STREAM_LOW_WATER + BATCH + 64);
    const char *body = strstr(out, "\r\n\r\n");
    assert_non_null(body);
    assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
    assert_non_null(strstr(out, "X-Relay-Next-Cursor: c1\r\n"));
    assert_non_null(strstr(out, "X-Request-Id: req_"));
    assert_non_null(strstr(out, "Connection: keep-alive\r\n"));
    const char *after = NULL;
    assert_int_equal(dechunk(body + 4, out + len, &after), TOTAL);
    /* keep-alive: the pipelined request behind the stream is answered after it */
    assert_true(strncmp(after, "HTTP/1.1 200 OK", 15) == 0);
    assert_non_null(strstr(after, "\r\n\r\nplain"));
    free(out);
    rig_close(&r);
}

static void test_stream_client_gone(void **state)
{
    struct rig r;
    char *out = NULL;
    size_t len = 0;
    rig_open(&r);
    const char req[] = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(r.fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
    pump(&r, &out, &len, 8192, 20);
    assert_false(prod.ended);
    close(r.fd);
    r.fd = -1;
    for (int i = 0; i < 1000 && !prod.ended; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    assert_true(prod.ended);
    assert_true(prod.saw_dead);
    assert_int_equal(r.s->n_conns, 0);
    free(out);
    rig_close(&r);
}

static void test_stream_head_and_http10(void **state)
{
    struct rig r;
    char *out = NULL;
    size_t len = 0;
    rig_open(&r);
    const char req[] =
        "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(r.fd, req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
    for (int i = 0; i < 1000 && !(prod.ended && strstr(out ? out : "", "plain")); i++)
        pump(&r, &out, &len, 8192, 1);
    assert_true(prod.ended);
    const char *head_end = strstr(out, "\r\n\r\n");
    assert_non_null(head_end);
    assert_true(strncmp(head_end + 4, "HTTP/1.1 200 OK", 15) == 0); /* no body in between */
    free(out);
    out = NULL;
    len = 0;
    rig_close(&r);

    rig_open(&r);
    const char req10[] = "GET /stream HTTP/1.0\r\n\r\n";
    assert_int_equal(write(r.fd, req10, sizeof(req10) - 1), (ssize_t)(sizeof(req10) - 1));
    size_t head_len = 0;
    for (int i = 0; i < 100000 && !(prod.ended && head_len && len - head_len >= TOTAL); i++) {
        pump(&r, &out, &len, 8192, 1);
        if (head_len == 0 && out && strstr(out, "\r\n\r\n"))
            head_len = (size_t)(strstr(out, "\r\n\r\n") + 4 - out);
    }
    assert_true(prod.ended);
    assert_null(strstr(out, "Transfer-Encoding"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    const char *body = strstr(out, "\r\n\r\n") + 4;
    assert_int_equal((size_t)(out + len - body), TOTAL);
    /* the connection closes after the body */
    char b;
    ssize_t n = 1;
    for (int i = 0; i < 1000 && n != 0; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        n = read(r.fd, &b, 1);
    }
    assert_int_equal(n, 0);
    free(out);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_bounded_and_framed),
        cmocka_unit_test(test_stream_client_gone),
        cmocka_unit_test(test_stream_head_and_http10),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (base)
        event_base_free(base);
    return rc;
}
