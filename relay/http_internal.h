#ifndef RELAY_HTTP_INTERNAL_H
#define RELAY_HTTP_INTERNAL_H

/* What relay/http.c (the request accessors, response heads), relay/server.c (connections) and
 * relay/server_stream.c (streaming answers) share about a request; nothing else includes
 * this. */

#include <stddef.h>

#include "relay/chunked.h"
#include "relay/http.h"
#include "relay/http_parse.h"

#define HTTP_MAX_EXTRA_HEADERS 8
/* body_len of http_format_head() for bodies without a length */
#define HTTP_BODY_CHUNKED (-1LL)     /* Transfer-Encoding: chunked */
#define HTTP_BODY_UNTIL_CLOSE (-2LL) /* HTTP/1.0: the body ends when the connection closes */

struct conn;
struct evbuffer;

struct http_req {
    struct conn *conn;
    char *head_buf;        /* the request head; head's pointers point into it */
    struct http_head head; /* parsed */
    int is_head;           /* HEAD: answers carry headers only */
    int answered;
    unsigned char *body;
    size_t body_len;
    struct chunked ck;       /* decoder of a chunked body */
    struct evbuffer *chunks; /* the body decoded so far */
    char id[40];
    struct http_field extra[HTTP_MAX_EXTRA_HEADERS]; /* response headers, malloc'd */
    int n_extra;
    /* streaming answer (http_stream_begin) */
    int streaming;
    http_stream_cb on_drain;
    void *stream_arg;
};

/* Frees the request's own storage (not its connection). NULL is a no-op. */
void http_req_free(struct http_req *req);

/* Appends the status line and headers of a response to out: Content-Length when body_len >= 0,
 * else Transfer-Encoding: chunked; then X-Request-Id, the added headers, Connection. */
void http_format_head(const struct http_req *req, struct evbuffer *out, int status,
                      const char *content_type, long long body_len, int close_after);

#endif
