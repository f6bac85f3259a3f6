#include "relay/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "relay/chunked.h"
#include "relay/http.h"

#define MAX_HEADER_BYTES 16384
#define MAX_HEADERS 64
#define MAX_EXTRA_HEADERS 8
#define DRAIN_MAX_BYTES (1 << 20)
#define DRAIN_MS 2000

enum conn_state {
    CONN_IDLE,     /* keep-alive, waiting for the next request line */
    CONN_HEADERS,  /* reading headers */
    CONN_BODY,     /* reading a Content-Length body */
    CONN_CHUNKED,  /* reading a chunked body */
    CONN_HANDLING, /* handler owns the request */
    CONN_DRAINING  /* answered with Connection: close; discarding input until EOF */
};

struct header {
    char *name;
    char *value;
};

struct http_req {
    struct conn *conn;
    char *line;   /* request line storage, split in place */
    char *method; /* into line */
    char *path;   /* malloc'd: target without query */
    char *query;  /* into path storage or NULL */
    struct header headers[MAX_HEADERS];
    int n_headers;
    size_t header_bytes;
    long long content_length;
    int keep_alive;
    int answered;
    unsigned char *body;
    size_t body_len;
    int chunked;             /* Transfer-Encoding: chunked */
    struct chunked ck;       /* its decoder */
    struct evbuffer *chunks; /* the body decoded so far */
    char id[40];
    struct header extra[MAX_EXTRA_HEADERS];
    int n_extra;
};

struct conn {
    struct server *srv;
    struct bufferevent *bev; /* NULL once the peer is gone but a handler still owns req */
    struct event *timer;
    enum conn_state state;
    struct http_req *req;
    size_t drained;
    struct conn *prev, *next;
};

struct server {
    struct event_base *base;
    const struct config *cfg;
    struct server_handlers h;
    struct evconnlistener *listener;
    SSL_CTX *ssl_ctx;
    struct conn *conns;
    long n_conns;
    int shutting_down;
    void (*done)(void *arg);
    void *done_arg;
    struct event *grace_ev;
    struct evbuffer *scratch; /* a reply being composed (see http_reply) */
    char id_prefix[13];
    unsigned long id_counter;
};

static void conn_free(struct conn *c);
static void conn_read_cb(struct bufferevent *bev, void *arg);

/* ---- request accessors (relay/http.h) ---- */

const char *http_method(const struct http_req *req)
{
    return req->method;
}

const char *http_path(const struct http_req *req)
{
    return req->path;
}

const char *http_query(const struct http_req *req)
{
    return req->query;
}

const char *http_header(const struct http_req *req, const char *name)
{
    for (int i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const unsigned char *http_body(const struct http_req *req, size_t *len)
{
    *len = req->body_len;
    return req->body ? req->body : (const unsigned char *)"";
}

const char *http_request_id(const struct http_req *req)
{
    return req->id;
}

/* Decodes src[0..n) (percent and '+') into out; returns length or -1 if it does not fit. */
static long pct_decode(const char *src, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && util_hexval(src[i + 1]) >= 0 &&
                   util_hexval(src[i + 2]) >= 0) {
            c = (char)(util_hexval(src[i + 1]) * 16 + util_hexval(src[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

long http_query_param(const struct http_req *req, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = req->query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
            return pct_decode(p + nlen + 1, len - nlen - 1, out, cap);
        if (len == nlen && strncmp(p, name, nlen) == 0)
            return pct_decode("", 0, out, cap);
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    if (req->n_extra >= MAX_EXTRA_HEADERS)
        return;
    req->extra[req->n_extra].name = strdup(name);
    req->extra[req->n_extra].value = strdup(value);
    req->n_extra++;
}

static void req_free(struct http_req *req)
{
    if (req == NULL)
        return;
    for (int i = 0; i < req->n_headers; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    for (int i = 0; i < req->n_extra; i++) {
        free(req->extra[i].name);
        free(req->extra[i].value);
    }
    free(req->line);
    free(req->path);
    free(req->body);
    if (req->chunks)
        evbuffer_free(req->chunks);
    free(req);
}

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static void arm_timer(struct conn *c, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void conn_reset_for_next(struct conn *c);

/* After the response is flushed: keep the connection for the next request, or start the
 * lingering close (discard what the client still sends so it sees our answer, not a RST). */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_DRAINING) {
        int fd = bufferevent_getfd(bev);
        if (c->srv->ssl_ctx == NULL && fd >= 0)
            shutdown(fd, SHUT_WR);
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

void http_reply(struct http_req *req, int status, const char *content_type, const char *body,
                size_t len)
{
    struct conn *c = req->conn;
    if (req->answered)
        return;
    req->answered = 1;
    if (c->bev == NULL) {
        /* Peer went away while the handler worked: nothing to send to. */
        c->req = NULL;
        req_free(req);
        conn_free(c);
        return;
    }
    int close_after = !req->keep_alive || c->srv->shutting_down || c->state != CONN_HANDLING;
    struct evbuffer *resp = c->srv->scratch;
    evbuffer_drain(resp, evbuffer_get_length(resp));
    evbuffer_add_printf(resp,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "X-Request-Id: %s\r\n",
                        status, reason(status), content_type, len, req->id);
    for (int i = 0; i < req->n_extra; i++)
        if (req->extra[i].name && req->extra[i].value)
            evbuffer_add_printf(resp, "%s: %s\r\n", req->extra[i].name, req->extra[i].value);
    evbuffer_add_printf(resp, "Connection: %s\r\n\r\n", close_after ? "close" : "keep-alive");
    evbuffer_add(resp, body, len);
    int sent = send_now(c, resp);

    c->req = NULL;
    req_free(req);
    if (close_after) {
        if (sent) {
            int fd = bufferevent_getfd(c->bev);
            if (fd >= 0)
                shutdown(fd, SHUT_WR); /* what conn_write_cb does once a queued reply is out */
        }
        c->state = CONN_DRAINING;
        c->drained = 0;
        arm_timer(c, DRAIN_MS);
        bufferevent_enable(c->bev, EV_READ);
        return;
    }
    conn_reset_for_next(c);
}

void http_reply_json(struct http_req *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text == NULL) {
        static const char fallback[] = "{\"code\":\"internal\",\"message\":\"out of memory\"}";
        http_reply(req, 500, "application/json", fallback, sizeof(fallback) - 1);
    } else {
        http_reply(req, status, "application/json", text, strlen(text));
    }
    free(text);
    json_decref(body);
}

void http_reply_error(struct http_req *req, int status, const char *code, const char *message)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s}", "code", code, "message", message, "request_id", req->id);
    http_reply_json(req, status, o);
}

/* ---- parsing ---- */

static void new_request_id(struct server *s, char out[40])
{
    snprintf(out, 40, "req_%s%08lx", s->id_prefix, ++s->id_counter & 0xffffffffUL);
}

static struct http_req *req_new(struct conn *c)
{
    struct http_req *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->conn = c;
    req->content_length = -1;
    new_request_id(c->srv, req->id);
    return req;
}

/* Answers an error the server itself detects and closes the connection afterwards. */
static void fail_request(struct conn *c, int status, const char *code, const char *message)
{
    if (c->req == NULL) {
        c->req = req_new(c);
        if (c->req == NULL) {
            conn_free(c);
            return;
        }
    }
    c->state = CONN_DRAINING; /* forces Connection: close */
    http_reply_error(c->req, status, code, message);
}

static int parse_request_line(struct http_req *req, char *line)
{
    char *sp1 = strchr(line, ' ');
    if (sp1 == NULL)
        return -1;
    char *sp2 = strchr(sp1 + 1, ' ');
    if (sp2 == NULL)
        return -1;
    *sp1 = '\0';
    *sp2 = '\0';
    const char *target = sp1 + 1;
    const char *version = sp2 + 1;
    if (strcmp(version, "HTTP/1.1") == 0)
        req->keep_alive = 1;
    else if (strcmp(version, "HTTP/1.0") == 0)
        req->keep_alive = 0;
    else
        return -2;
    if (line[0] == '\0' || target[0] != '/')
        return -1;
    req->line = line;
    req->method = line;
    req->path = strdup(target);
    if (req->path == NULL)
        return -1;
    char *q = strchr(req->path, '?');
    if (q) {
        *q = '\0';
        req->query = q + 1;
    }
    return 0;
}

static int add_header_line(struct http_req *req, char *line)
{
    char *colon = strchr(line, ':');
    if (colon == NULL || colon == line || req->n_headers >= MAX_HEADERS)
        return -1;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vl = strlen(v);
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        v[--vl] = '\0';
    req->headers[req->n_headers].name = strdup(line);
    req->headers[req->n_headers].value = strdup(v);
    req->n_headers++;
    return 0;
}

static int parse_content_length(const char *v, long long *out)
{
    long long n = 0;
    if (*v == '\0')
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || n > (1LL << 50))
            return -1;
        n = n * 10 + (*v - '0');
    }
    *out = n;
    return 0;
}

static void dispatch(struct conn *c)
{
    struct server *s = c->srv;
    c->state = CONN_HANDLING;
    evtimer_del(c->timer);
    bufferevent_disable(c->bev, EV_READ);
    s->h.on_request(c->req, s->h.arg);
}

/* 413 for a body over limits.max_body_bytes; the rest of it is drained, then the connection
 * closes. */
static void too_large(struct conn *c)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "body exceeds %lld bytes", (long long)c->srv->cfg->max_body_bytes);
    c->state = CONN_DRAINING;
    http_reply_error(c->req, 413, "payload_too_large", msg);
}

/* Headers complete: validate framing, let the router answer early, enforce the body cap. */
static int headers_done(struct conn *c)
{
    struct http_req *req = c->req;
    const char *te = http_header(req, "Transfer-Encoding");
    const char *cl = http_header(req, "Content-Length");
    const char *conn_hdr = http_header(req, "Connection");

    if (conn_hdr && strcasecmp(conn_hdr, "close") == 0)
        req->keep_alive = 0;
    else if (conn_hdr && strcasecmp(conn_hdr, "keep-alive") == 0)
        req->keep_alive = 1;
    if (te != NULL) {
        /* Both framings at once is how request smuggling starts: refuse rather than pick. */
        if (cl != NULL) {
            fail_request(c, 400, "bad_request",
                         "both Transfer-Encoding and Content-Length; send one");
            return -1;
        }
        if (strcasecmp(te, "chunked") != 0) {
            fail_request(c, 501, "not_implemented", "only Transfer-Encoding: chunked is supported");
            return -1;
        }
        req->chunked = 1;
        chunked_init(&req->ck);
        req->chunks = evbuffer_new();
        if (req->chunks == NULL) {
            fail_request(c, 500, "internal", "out of memory");
            return -1;
        }
    }
    if (cl && parse_content_length(cl, &req->content_length) != 0) {
        fail_request(c, 400, "bad_request", "malformed Content-Length");
        return -1;
    }
    /* An early answer must not leave an unread body to be parsed as the next request. */
    c->state = req->content_length > 0 || req->chunked ? CONN_DRAINING : CONN_HANDLING;
    if (c->srv->h.on_headers && c->srv->h.on_headers(req, c->srv->h.arg)) {
        /* Answered without the body: keep the connection only if there is no body to skip. */
        return -1;
    }
    if (req->content_length > c->srv->cfg->max_body_bytes) {
        too_large(c);
        return -1;
    }
    c->state = req->chunked ? CONN_CHUNKED : CONN_BODY;
    if (req->content_length > 0 || req->chunked) {
        const char *expect = http_header(req, "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0)
            evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
    }
    return 0;
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

static void process_input(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    for (;;) {
        if (c->state == CONN_IDLE || c->state == CONN_HEADERS) {
            size_t len;
            char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
            if (line == NULL) {
                if (evbuffer_get_length(in) > MAX_HEADER_BYTES)
                    fail_request(c, 431, "headers_too_large", "request headers too large");
                return;
            }
            if (c->state == CONN_IDLE) {
                if (len == 0) { /* stray CRLF between requests */
                    free(line);
                    continue;
                }
                c->req = req_new(c);
                if (c->req == NULL) {
                    free(line);
                    conn_free(c);
                    return;
                }
                c->state = CONN_HEADERS;
                arm_timer(c, c->srv->cfg->request_timeout_ms);
                int rc = parse_request_line(c->req, line);
                if (rc != 0) {
                    if (c->req->line == NULL)
                        free(line);
                    fail_request(c, rc == -2 ? 505 : 400, "bad_request", "malformed request line");
                    return;
                }
                continue;
            }
            c->req->header_bytes += len + 2;
            if (c->req->header_bytes > MAX_HEADER_BYTES) {
                free(line);
                fail_request(c, 431, "headers_too_large", "request headers too large");
                return;
            }
            if (len == 0) {
                free(line);
                if (headers_done(c) != 0)
                    return;
                continue;
            }
            int rc = add_header_line(c->req, line);
            free(line);
            if (rc != 0) {
                fail_request(c, 400, "bad_request", "malformed header line");
                return;
            }
        } else if (c->state == CONN_BODY) {
            struct http_req *req = c->req;
            size_t want = req->content_length > 0 ? (size_t)req->content_length : 0;
            if (evbuffer_get_length(in) < want)
                return;
            if (want > 0) {
                req->body = malloc(want + 1);
                if (req->body == NULL) {
                    fail_request(c, 500, "internal", "out of memory");
                    return;
                }
                evbuffer_remove(in, req->body, want);
                req->body[want] = '\0';
                req->body_len = want;
            }
            dispatch(c);
            return;
        } else if (c->state == CONN_CHUNKED) {
            if (read_chunked(c, in) != 0)
                return;
            dispatch(c);
            return;
        } else if (c->state == CONN_DRAINING) {
            size_t n = evbuffer_get_length(in);
            evbuffer_drain(in, n);
            c->drained += n;
            if (c->drained > DRAIN_MAX_BYTES)
                conn_free(c);
            return;
        } else {
            return;
        }
    }
}

static void conn_reset_for_next(struct conn *c)
{
    c->state = CONN_IDLE;
    if (c->srv->shutting_down) {
        conn_free(c);
        return;
    }
    arm_timer(c, c->srv->cfg->request_timeout_ms);
    bufferevent_enable(c->bev, EV_READ);
    /* A pipelined request may already be buffered. */
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        process_input(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    process_input(arg);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (c->state == CONN_HANDLING && c->req && !c->req->answered) {
            /* The handler still owns the request; it will find bev gone and clean up. */
            bufferevent_free(c->bev);
            c->bev = NULL;
            evtimer_del(c->timer);
            return;
        }
        conn_free(c);
    }
}

/* request_timeout_ms while reading a request or idling between requests; DRAIN_MS while
 * lingering after Connection: close. Never fires while a handler owns the request. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (c->state == CONN_HEADERS || c->state == CONN_BODY || c->state == CONN_CHUNKED) {
        LOG_INFO("request timed out", "request_id", c->req ? c->req->id : NULL, NULL);
        fail_request(c, 408, "request_timeout", "request not received in time");
        return;
    }
    if (c->state != CONN_HANDLING)
        conn_free(c);
}

static void maybe_done(struct server *s)
{
    if (s->shutting_down && s->n_conns == 0 && s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_arg);
    }
}

static void conn_free(struct conn *c)
{
    struct server *s = c->srv;
    if (c->req && c->state == CONN_HANDLING && !c->req->answered) {
        /* Handler still owns req: detach the socket now, free the rest on reply. */
        if (c->bev) {
            bufferevent_free(c->bev);
            c->bev = NULL;
        }
        return;
    }
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->timer)
        event_free(c->timer);
    req_free(c->req);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    free(c);
    maybe_done(s);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct server *s = arg;
    struct conn *c = NULL;
    if (s->shutting_down || s->n_conns >= s->cfg->max_connections) {
        /* Refused: closing at once is cheaper than anything we could say. */
        evutil_closesocket(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto refuse;
    c->srv = s;
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
    c->timer = evtimer_new(s->base, conn_timer_cb, c);
    if (c->timer == NULL)
        goto refuse;
    c->state = CONN_IDLE;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    arm_timer(c, s->cfg->request_timeout_ms);
    return;
refuse:
    if (c) {
        if (c->bev)
            bufferevent_free(c->bev);
        free(c);
    }
    if (fd >= 0)
        evutil_closesocket(fd);
}

static SSL_CTX *tls_context(const struct config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1) {
        snprintf(err, errlen, "tls.cert_file: cannot load certificate");
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "tls.key_file: cannot load a key matching the certificate");
        goto fail;
    }
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

struct server *server_new(struct event_base *base, const struct config *cfg,
                          const struct server_handlers *h, char *err, size_t errlen)
{
    struct server *s = calloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char addr[300];

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->cfg = cfg;
    s->h = *h;
    util_random_hex(s->id_prefix, 6);
    s->scratch = evbuffer_new();
    if (s->scratch == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (cfg->tls_cert_file) {
        s->ssl_ctx = tls_context(cfg, err, errlen);
        if (s->ssl_ctx == NULL)
            goto fail;
    }
    if (strchr(cfg->listen_host, ':'))
        snprintf(addr, sizeof(addr), "[%s]:%d", cfg->listen_host, cfg->listen_port);
    else
        snprintf(addr, sizeof(addr), "%s:%d", cfg->listen_host, cfg->listen_port);
    memset(&ss, 0, sizeof(ss));
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "listen: cannot parse address %s", addr);
        goto fail;
    }
    s->listener =
        evconnlistener_new_bind(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                (struct sockaddr *)&ss, sslen);
    if (s->listener == NULL) {
        snprintf(err, errlen, "listen: cannot bind %s: %s", addr, strerror(errno));
        goto fail;
    }
    return s;
fail:
    server_free(s);
    return NULL;
}

static void on_grace_expired(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    LOG_WARN("shutdown grace period over, closing remaining connections", NULL);
    if (s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_arg);
    }
}

void server_shutdown(struct server *s, long grace_ms, void (*done)(void *arg), void *arg)
{
    s->shutting_down = 1;
    s->done = done;
    s->done_arg = arg;
    if (s->listener) {
        evconnlistener_free(s->listener);
        s->listener = NULL;
    }
    /* Idle keep-alive connections go now; requests being read or handled get answered. */
    struct conn *c = s->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->state == CONN_IDLE)
            conn_free(c);
        c = next;
    }
    s->grace_ev = evtimer_new(s->base, on_grace_expired, s);
    if (s->grace_ev) {
        struct timeval tv = {grace_ms / 1000, (grace_ms % 1000) * 1000};
        evtimer_add(s->grace_ev, &tv);
    }
    maybe_done(s);
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    s->done = NULL;
    while (s->conns) {
        struct conn *c = s->conns;
        if (c->req && !c->req->answered) {
            req_free(c->req);
            c->req = NULL;
        }
        c->state = CONN_IDLE;
        conn_free(c);
    }
    if (s->listener)
        evconnlistener_free(s->listener);
    if (s->grace_ev)
        event_free(s->grace_ev);
    SSL_CTX_free(s->ssl_ctx);
    if (s->scratch)
        evbuffer_free(s->scratch);
    free(s);
}

long server_connections(const struct server *s)
{
    return s->n_conns;
}
