/* Streaming answers (relay/http.h, http_stream_*): a head with chunked framing (or, for
 * HTTP/1.0, a body that ends with the connection), then the body as the handler produces it,
 * paced by on_drain. The connection itself is relay/server.c's. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "relay/http.h"
#include "relay/http_internal.h"
#include "relay/server_internal.h"

void server_stream_kick(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_STREAMING && c->req)
        c->req->on_drain(c->req, c->req->stream_arg);
}

int http_stream_begin(struct http_req *req, int status, const char *content_type,
                      http_stream_cb on_drain, void *arg)
{
    struct conn *c = req->conn;
    if (req->answered || req->streaming)
        return -1;
    req->streaming = 1;
    req->on_drain = on_drain;
    req->stream_arg = arg;
    c->stream_close = !req->head.keep_alive || c->srv->shutting_down || c->state != CONN_HANDLING ||
                      req->head.minor == 0 || c->peer_closed;
    c->state = CONN_STREAMING;
    c->stream_wrote = 0;
    if (c->bev == NULL)
        return -1;
    bufferevent_set_max_single_write(c->bev, 1 << 20);
    struct evbuffer *resp = c->srv->scratch;
    evbuffer_drain(resp, evbuffer_get_length(resp));
    long long framing = req->head.minor == 0 ? HTTP_BODY_UNTIL_CLOSE : HTTP_BODY_CHUNKED;
    http_format_head(req, resp, status, content_type, framing, c->stream_close);
    evbuffer_add_buffer(bufferevent_get_output(c->bev), resp);
    return 0;
}

int http_stream_alive(const struct http_req *req)
{
    return req->streaming && req->conn->bev != NULL;
}

size_t http_stream_pending(const struct http_req *req)
{
    if (!http_stream_alive(req))
        return 0;
    return evbuffer_get_length(bufferevent_get_output(req->conn->bev));
}

int http_stream_write(struct http_req *req, const void *data, size_t len)
{
    struct conn *c = req->conn;
    if (!http_stream_alive(req))
        return -1;
    if (req->is_head) {
        /* Nothing goes out, so no write callback would come: kick instead. */
        event_active(c->kick, EV_TIMEOUT, 0);
        return 0;
    }
    if (len == 0)
        return 0;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (req->head.minor == 1)
        evbuffer_add_printf(out, "%zx\r\n", len);
    if (evbuffer_add(out, data, len) != 0)
        return -1;
    if (req->head.minor == 1)
        evbuffer_add(out, "\r\n", 2);
    c->stream_wrote = 1;
    return 0;
}

static void free_taken(const void *data, size_t len, void *extra)
{
    (void)len;
    (void)extra;
    free((void *)data);
}

int http_stream_write_take(struct http_req *req, void *data, size_t len)
{
    struct conn *c = req->conn;
    if (!http_stream_alive(req) || req->is_head || len == 0) {
        int rc = http_stream_write(req, data, len); /* what that does then copies nothing */
        free(data);
        return rc;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (req->head.minor == 1)
        evbuffer_add_printf(out, "%zx\r\n", len);
    if (evbuffer_add_reference(out, data, len, free_taken, NULL) != 0) {
        free(data);
        return -1;
    }
    if (req->head.minor == 1)
        evbuffer_add(out, "\r\n", 2);
    c->stream_wrote = 1;
    return 0;
}

int http_stream_printf(struct http_req *req, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(small))
        return http_stream_write(req, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = http_stream_write(req, big, (size_t)n);
    free(big);
    return rc;
}

void http_stream_end(struct http_req *req)
{
    struct conn *c = req->conn;
    if (!req->streaming)
        return;
    event_del(c->kick);
    c->req = NULL;
    if (c->bev == NULL) {
        http_req_free(req);
        c->state = CONN_IDLE;
        server_conn_free(c);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (!req->is_head && req->head.minor == 1)
        evbuffer_add(out, "0\r\n\r\n", 5);
    http_req_free(req);
    if (c->stream_close)
        server_conn_drain(c, evbuffer_get_length(out) == 0);
    else
        server_conn_next(c);
}
