/* Connections: reading requests (head, body, chunked body, pipelining), replies, keep-alive
 * and lingering close, timeouts, and the plain TCP read path. Streaming answers are
 * relay/server_stream.c's, listeners and the server's life cycle relay/server_listen.c's. */
#include "relay/server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "relay/chunked.h"
#include "relay/http.h"
#include "relay/http_internal.h"
#include "relay/http_parse.h"
#include "relay/server_internal.h"

#define MAX_HEADER_BYTES 16384
#define DRAIN_MAX_BYTES (1 << 20)
#define DRAIN_MS 2000
/* Unsent output above which a connection's next request is not read (pipelining without
 * reading the answers): one client cannot grow the relay's memory past about this much. */
#define OUT_BOUND HTTP_STREAM_LOW_WATER
/* Bytes one read of a plain TCP connection takes at most (libevent's own read takes 4096). */
#define READ_BYTES 4096

static void process_input(struct conn *c);

/* Reading on and off: the connection's own read event on plain TCP, the bufferevent's under
 * TLS. */
static void read_on(struct conn *c)
{
    if (c->rev)
        event_add(c->rev, NULL);
    else
        bufferevent_enable(c->bev, EV_READ);
}

static void read_off(struct conn *c)
{
    if (c->rev)
        event_del(c->rev);
    else
        bufferevent_disable(c->bev, EV_READ);
}

/* Closes the socket (the read event goes first: it watches bev's descriptor). */
static void drop_socket(struct conn *c)
{
    if (c->rev) {
        event_free(c->rev);
        c->rev = NULL;
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
}

int http_on_admin_listener(const struct http_req *req)
{
    return req->conn->admin;
}

static void arm_timer(struct conn *c, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* The handler holds the request: the connection must outlive the socket. */
static int handler_owns(const struct conn *c)
{
    return c->req &&
           ((c->state == CONN_HANDLING && !c->req->answered) || c->state == CONN_STREAMING);
}

static void shutdown_write(struct conn *c)
{
    int fd = bufferevent_getfd(c->bev);
    if (c->srv->ssl_ctx == NULL && fd >= 0)
        shutdown(fd, SHUT_WR);
}

/* Output went out down to OUT_BOUND (the write low watermark) or to nothing. */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->state == CONN_DRAINING) {
        if (left == 0 && c->peer_closed)
            server_conn_free(c); /* nothing more will come from the peer */
        else if (left == 0)
            shutdown_write(c);
        return;
    }
    if (c->state == CONN_STREAMING && c->stream_wrote && left <= OUT_BOUND) {
        c->stream_wrote = 0;
        c->req->on_drain(c->req, c->req->stream_arg); /* may end the stream and free c */
        return;
    }
    if (c->paused && left <= OUT_BOUND) {
        c->paused = 0;
        server_conn_next(c);
    }
}

/* Sends resp (emptying it). On a plain TCP connection with nothing queued ahead of it the
 * reply is written at once, which is the common case: going through the bufferevent's output
 * instead costs two epoll_ctl calls and an extra loop pass per request (the write event is
 * added, fires, and is removed). Whatever the socket does not take, TLS, and replies behind
 * queued output go the bufferevent way. Returns 1 when all of resp was written here. */
static int send_now(struct conn *c, struct evbuffer *resp)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int fd = bufferevent_getfd(c->bev);
    if (c->srv->ssl_ctx == NULL && fd >= 0 && evbuffer_get_length(out) == 0) {
        while (evbuffer_get_length(resp) > 0 && evbuffer_write(resp, fd) > 0) {
        }
        if (evbuffer_get_length(resp) == 0)
            return 1;
    }
    evbuffer_add_buffer(out, resp); /* errors surface through the bufferevent as before */
    return 0;
}

/* Answered with Connection: close: linger, discarding input, so the client reads our answer
 * rather than a reset. */
void server_conn_drain(struct conn *c, int all_sent)
{
    if (c->peer_closed && all_sent) {
        server_conn_free(c);
        return;
    }
    if (all_sent)
        shutdown_write(c); /* what conn_write_cb does once a queued reply is out */
    c->state = CONN_DRAINING;
    c->drained = 0;
    arm_timer(c, DRAIN_MS);
    if (c->peer_closed)
        return; /* the peer's EOF is in: the write callback ends it once the answer is out */
    read_on(c);
    if (!c->processing && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        process_input(c);
}

void http_reply(struct http_req *req, int status, const char *content_type, const char *body,
                size_t len)
{
    struct conn *c = req->conn;
    if (req->answered || req->streaming)
        return;
    req->answered = 1;
    if (c->bev == NULL) {
        /* Peer went away while the handler worked: nothing to send to. */
        c->req = NULL;
        http_req_free(req);
        server_conn_free(c);
        return;
    }
    const struct http_head *h = &req->head;
    int early = c->state == CONN_EARLY;
    /* An early answer leaves a body unread: a known length within the cap is skipped and the
     * connection kept; a chunked or oversized one is not worth reading, so it closes. */
    int skip = early && !h->chunked && h->content_length > 0 &&
               h->content_length <= c->srv->cfg->max_body_bytes;
    int close_after = !h->keep_alive || c->srv->shutting_down || c->state == CONN_DRAINING ||
                      c->peer_closed ||
                      (early && (h->chunked || h->content_length > c->srv->cfg->max_body_bytes));
    struct evbuffer *resp = c->srv->scratch;
    evbuffer_drain(resp, evbuffer_get_length(resp));
    http_format_head(req, resp, status, content_type, (long long)len, close_after);
    if (!req->is_head)
        evbuffer_add(resp, body, len);
    int sent = send_now(c, resp);
    long long skip_len = h->content_length;

    c->req = NULL;
    http_req_free(req);
    if (close_after) {
        server_conn_drain(c, sent);
    } else if (skip) {
        c->state = CONN_SKIP; /* the request's deadline still runs */
        c->skip_left = skip_len;
        read_on(c);
        if (!c->processing)
            process_input(c);
    } else {
        server_conn_next(c);
    }
}

/* ---- reading requests ---- */

static struct http_req *req_new(struct conn *c)
{
    struct http_req *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->conn = c;
    req->head.content_length = -1;
    /* "req_" + the server's random prefix + 8 hex digits of a counter, without snprintf (one
     * per request). */
    static const char hex[] = "0123456789abcdef";
    size_t plen = strlen(c->srv->id_prefix);
    unsigned long n = ++c->srv->id_counter & 0xffffffffUL;
    char *p = req->id;
    _Static_assert(sizeof(req->id) >= 4 + sizeof(c->srv->id_prefix) + 8, "room for the id");
    memcpy(p, "req_", 4);
    memcpy(p + 4, c->srv->id_prefix, plen);
    p += 4 + plen;
    for (int i = 7; i >= 0; i--, n >>= 4)
        p[i] = hex[n & 0xf];
    p[8] = '\0';
    return req;
}

/* Answers an error the server itself detects (through on_error, so it is counted and logged
 * like the handler's own rejections) and closes the connection afterwards. */
static void fail_request(struct conn *c, int status, const char *code, const char *message)
{
    struct server *s = c->srv;
    if (c->req == NULL) {
        c->req = req_new(c);
        if (c->req == NULL) {
            server_conn_free(c);
            return;
        }
    }
    struct http_req *req = c->req;
    c->state = CONN_DRAINING; /* forces Connection: close */
    if (s->h.on_error)
        s->h.on_error(req, status, code, message, s->h.arg);
    if (c->req == req) /* on_error did not answer */
        http_reply_error(req, status, code, message);
}

/* Reading stays enabled while the handler works: disabling it for every request and enabling
 * it again for the next costs two epoll_ctl calls per request. conn_read_cb stops reading if
 * the client sends more meanwhile (pipelining), and conn_event_cb keeps a half-closed
 * client's request. */
static void dispatch(struct conn *c)
{
    struct server *s = c->srv;
    c->state = CONN_HANDLING;
    evtimer_del(c->timer);
    s->h.on_request(c->req, s->h.arg);
}

/* 413 for a body over limits.max_body_bytes; the rest of it is drained, then the connection
 * closes. */
static void too_large(struct conn *c)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "body exceeds %lld bytes", (long long)c->srv->cfg->max_body_bytes);
    fail_request(c, 413, "payload_too_large", msg);
}

/* Head parsed: let the router answer early, enforce the body cap, set up body reading. */
static void headers_done(struct conn *c)
{
    struct http_req *req = c->req;
    const struct http_head *h = &req->head;

    req->is_head = strcmp(h->method, "HEAD") == 0;
    c->state = CONN_EARLY;
    if (c->srv->h.on_headers && c->srv->h.on_headers(req, c->srv->h.arg))
        return; /* answered; http_reply moved the connection on */
    if (h->content_length > c->srv->cfg->max_body_bytes) {
        too_large(c);
        return;
    }
    if (h->chunked) {
        chunked_init(&req->ck);
        req->chunks = evbuffer_new();
        if (req->chunks == NULL) {
            fail_request(c, 500, "internal", "out of memory");
            return;
        }
    }
    c->state = h->chunked ? CONN_CHUNKED : CONN_BODY;
    if ((h->content_length > 0 || h->chunked) && h->expect_continue)
        evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
}

/* Reads one request head from in. Returns 1 when a head was parsed (or answered as an
 * error), 0 when more bytes are needed. */
static int read_head(struct conn *c, struct evbuffer *in)
{
    size_t n = evbuffer_get_length(in);
    size_t look = n < MAX_HEADER_BYTES ? n : MAX_HEADER_BYTES;
    const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
    size_t hl = p ? http_head_length(p, look) : 0;
    struct http_parse_error err;

    if (hl == 0) {
        if (n >= MAX_HEADER_BYTES) {
            fail_request(c, 431, "headers_too_large", "request headers too large");
            return 1;
        }
        return 0;
    }
    c->req = req_new(c);
    if (c->req == NULL || (c->req->head_buf = malloc(hl + 1)) == NULL) {
        fail_request(c, 500, "internal", "out of memory");
        return 1;
    }
    evbuffer_remove(in, c->req->head_buf, hl);
    c->req->head_buf[hl] = '\0';
    if (http_parse_head(&c->req->head, c->req->head_buf, hl, &err) != 0) {
        /* The head is unusable: answer as for a request with no path or headers. */
        memset(&c->req->head, 0, sizeof(c->req->head));
        c->req->head.content_length = -1;
        fail_request(c, err.status, err.code, err.message);
        return 1;
    }
    headers_done(c);
    return 1;
}

/* Decodes what has arrived of a chunked body. Returns 0 once the body is complete (in
 * req->body), 1 while more is needed, -1 after answering an error. */
static int read_chunked(struct conn *c, struct evbuffer *in)
{
    struct http_req *req = c->req;
    size_t max = (size_t)c->srv->cfg->max_body_bytes;
    enum chunked_result rc = chunked_feed(&req->ck, in, req->chunks, max, MAX_HEADER_BYTES);
    if (rc == CHUNKED_MORE)
        return 1;
    if (rc == CHUNKED_BAD) {
        fail_request(c, 400, "bad_request", "malformed chunked body");
        return -1;
    }
    if (rc == CHUNKED_TOO_LARGE) {
        too_large(c);
        return -1;
    }
    size_t n = evbuffer_get_length(req->chunks);
    req->body = malloc(n + 1);
    if (req->body == NULL) {
        fail_request(c, 500, "internal", "out of memory");
        return -1;
    }
    evbuffer_remove(req->chunks, req->body, n);
    req->body[n] = '\0';
    req->body_len = n;
    return 0;
}

/* Reads as many requests as are buffered and answerable now. Replies given meanwhile only move
 * the state on (c->processing), so pipelined requests are taken in this loop, not by
 * recursion. */
static void process_loop(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->dead && c->bev) {
        switch (c->state) {
        case CONN_IDLE: {
            if (c->paused)
                return;
            /* RFC 9112 2.2: empty lines before a request line are ignored. */
            unsigned char b;
            while (evbuffer_copyout(in, &b, 1) == 1 && (b == '\r' || b == '\n'))
                evbuffer_drain(in, 1);
            if (evbuffer_get_length(in) == 0)
                return;
            c->state = CONN_HEADERS; /* the deadline armed when the connection went idle runs */
            break;
        }
        case CONN_HEADERS:
            if (!read_head(c, in))
                return;
            break;
        case CONN_BODY: {
            struct http_req *req = c->req;
            size_t want = req->head.content_length > 0 ? (size_t)req->head.content_length : 0;
            if (evbuffer_get_length(in) < want)
                return;
            if (want > 0) {
                req->body = malloc(want + 1);
                if (req->body == NULL) {
                    fail_request(c, 500, "internal", "out of memory");
                    break;
                }
                evbuffer_remove(in, req->body, want);
                req->body[want] = '\0';
                req->body_len = want;
            }
            dispatch(c);
            break;
        }
        case CONN_CHUNKED:
            if (read_chunked(c, in) == 0)
                dispatch(c);
            else if (c->state == CONN_CHUNKED)
                return;
            break;
        case CONN_SKIP: {
            size_t n = evbuffer_get_length(in);
            if ((long long)n > c->skip_left)
                n = (size_t)c->skip_left;
            evbuffer_drain(in, n);
            c->skip_left -= (long long)n;
            if (c->skip_left > 0)
                return;
            server_conn_next(c);
            break;
        }
        case CONN_DRAINING: {
            size_t n = evbuffer_get_length(in);
            evbuffer_drain(in, n);
            c->drained += n;
            if (c->drained > DRAIN_MAX_BYTES)
                server_conn_free(c);
            return;
        }
        default: /* CONN_EARLY, CONN_HANDLING, CONN_STREAMING: the handler has it */
            return;
        }
    }
}

static void process_input(struct conn *c)
{
    if (c->processing)
        return;
    c->processing = 1;
    process_loop(c);
    c->processing = 0;
    if (c->dead)
        server_conn_free(c);
}

/* The answer is out (or queued): wait for the next request, unless the client has not read
 * enough of what it was sent. */
void server_conn_next(struct conn *c)
{
    c->state = CONN_IDLE;
    if (c->srv->shutting_down) {
        server_conn_free(c);
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUT_BOUND) {
        /* Stop reading: the client gets no more answers to pile up until it reads these.
         * A client that never reads is cut off by the write timeout. */
        c->paused = 1;
        evtimer_del(c->timer);
        read_off(c);
        return;
    }
    arm_timer(c, c->srv->cfg->request_timeout_ms);
    read_on(c);
    /* A pipelined request may already be buffered. */
    if (!c->processing && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        process_input(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (handler_owns(c)) {
        /* More bytes while a request is handled: keep them for after the answer, read no
         * more until then (server_conn_next enables reading again). */
        read_off(c);
        return;
    }
    process_input(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* Plain TCP reads: one recv per readable event into the input buffer, where libevent's
 * bufferevent asks the kernel first how much is there (an ioctl per read, one syscall in four
 * per webhook). EOF and errors go to conn_event_cb as the bufferevent reports them. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    ssize_t n = -1;
    (void)what;
    /* The bufferevent keeps its input's end frozen (only it adds there): as in its own read. */
    evbuffer_unfreeze(in, 0);
    int nv = evbuffer_reserve_space(in, READ_BYTES, v, 2);
    if (nv > 0) {
        for (int i = 0; i < nv; i++)
            iov[i] = (struct iovec){v[i].iov_base, v[i].iov_len};
        n = readv(fd, iov, nv);
    }
    if (n > 0) {
        size_t left = (size_t)n;
        for (int i = 0; i < nv; i++) {
            v[i].iov_len = left < v[i].iov_len ? left : v[i].iov_len;
            left -= v[i].iov_len;
        }
        evbuffer_commit_space(in, v, nv);
    }
    evbuffer_freeze(in, 0);
    if (n < 0 && nv > 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        read_off(c);
        conn_event_cb(c->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
        return;
    }
    conn_read_cb(c->bev, c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (what & BEV_EVENT_TIMEOUT)
        LOG_INFO("client not reading its answers, cut off", NULL);
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return;
    if (what == (BEV_EVENT_READING | BEV_EVENT_EOF) && handler_owns(c)) {
        /* The client closed its side after sending the request: it may still be reading, so
         * the answer goes out and the connection closes after it. */
        c->peer_closed = 1;
        if (c->state == CONN_STREAMING)
            c->stream_close = 1;
        read_off(c);
        return;
    }
    if (handler_owns(c)) {
        /* The handler still owns the request; it will find bev gone and clean up. */
        drop_socket(c);
        evtimer_del(c->timer);
        if (c->state == CONN_STREAMING)
            event_active(c->kick, EV_TIMEOUT, 0);
        return;
    }
    server_conn_free(c);
}

/* request_timeout_ms from the moment the connection went idle until the request is read
 * (never restarted in between, so a slow client holds it no longer); DRAIN_MS while lingering
 * after Connection: close. Never fires while a handler owns the request. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_HEADERS || c->state == CONN_BODY || c->state == CONN_CHUNKED) {
        LOG_INFO("request timed out", "request_id", c->req ? c->req->id : NULL, NULL);
        fail_request(c, 408, "request_timeout", "request not received in time");
        return;
    }
    if (!handler_owns(c))
        server_conn_free(c);
}

void server_maybe_done(struct server *s)
{
    if (s->shutting_down && s->n_conns + s->n_admin == 0 && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_arg);
    }
}

void server_conn_free(struct conn *c)
{
    struct server *s = c->srv;
    if (c->processing) {
        c->dead = 1;
        return;
    }
    if (handler_owns(c)) {
        /* Handler still owns req: detach the socket now, free the rest on reply. */
        if (c->bev)
            drop_socket(c);
        return;
    }
    if (c->bev)
        drop_socket(c);
    if (c->timer)
        event_free(c->timer);
    if (c->kick)
        event_free(c->kick);
    http_req_free(c->req);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->admin)
        s->n_admin--;
    else
        s->n_conns--;
    free(c);
    server_maybe_done(s);
}

int server_conn_open(struct server *s, int fd, int admin)
{
    struct conn *c = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto refuse;
    c->srv = s;
    c->admin = admin;
    if (s->ssl_ctx) {
        SSL *ssl = SSL_new(s->ssl_ctx);
        if (ssl == NULL)
            goto refuse;
        c->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (c->bev == NULL)
        goto refuse;
    fd = -1; /* owned by bev now */
    if (s->ssl_ctx == NULL) {
        c->rev =
            event_new(s->base, bufferevent_getfd(c->bev), EV_READ | EV_PERSIST, on_readable, c);
        if (c->rev == NULL)
            goto refuse;
    }
    c->timer = evtimer_new(s->base, conn_timer_cb, c);
    c->kick = event_new(s->base, -1, 0, server_stream_kick, c);
    if (c->timer == NULL || c->kick == NULL)
        goto refuse;
    c->state = CONN_IDLE;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (c->admin)
        s->n_admin++;
    else
        s->n_conns++;
    /* Output that makes no progress for request_timeout_ms (a client that stopped reading)
     * ends the connection. */
    struct timeval wt = {s->cfg->request_timeout_ms / 1000,
                         (s->cfg->request_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, NULL, &wt);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    bufferevent_setwatermark(c->bev, EV_WRITE, OUT_BOUND, 0);
    bufferevent_enable(c->bev, c->rev ? EV_WRITE : EV_READ | EV_WRITE);
    read_on(c);
    arm_timer(c, s->cfg->request_timeout_ms);
    return 0;
refuse:
    if (c) {
        if (c->rev)
            event_free(c->rev);
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->timer)
            event_free(c->timer);
        if (c->kick)
            event_free(c->kick);
        free(c);
    }
    if (fd >= 0)
        evutil_closesocket(fd);
    return -1;
}

void server_close_idle(struct server *s)
{
    struct conn *c = s->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->state == CONN_IDLE)
            server_conn_free(c);
        c = next;
    }
}

void server_drop_all(struct server *s)
{
    while (s->conns) {
        struct conn *c = s->conns;
        if (c->req && (!c->req->answered || c->state == CONN_STREAMING)) {
            http_req_free(c->req);
            c->req = NULL;
        }
        c->state = CONN_IDLE;
        c->processing = 0;
        server_conn_free(c);
    }
}

long server_connections(const struct server *s)
{
    return s->n_conns + s->n_admin;
}
