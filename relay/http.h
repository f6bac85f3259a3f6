#ifndef RELAY_HTTP_H
#define RELAY_HTTP_H

#include <stddef.h>

/* The relay's HTTP/1.1 server on libevent bufferevents (plain or OpenSSL). Its own, rather than
 * evhttp, because the contract needs what evhttp 2.1 cannot give: a JSON 413 decided from
 * Content-Length before the body is read, a hard connection cap, and per-request deadlines.
 *
 * A handler gets a struct http_req and must answer it exactly once, now or later (after a
 * Redis reply, say); the request stays valid until answered even if the client went away.
 * Every response carries X-Request-Id; every error body is {"code","message","request_id"}. */

struct http_req;
struct json_t;

const char *http_method(const struct http_req *req);                   /* "GET", "POST", ... */
const char *http_path(const struct http_req *req);                     /* raw path, no query */
const char *http_query(const struct http_req *req);                    /* raw query or NULL */
const char *http_header(const struct http_req *req, const char *name); /* case-insensitive */
const unsigned char *http_body(const struct http_req *req, size_t *len);
const char *http_request_id(const struct http_req *req);
/* Copies the percent-decoded query parameter into out. Returns its length, or -1 when absent
 * or longer than cap-1. */
long http_query_param(const struct http_req *req, const char *name, char *out, size_t cap);

/* Adds a response header; call before replying. */
void http_add_header(struct http_req *req, const char *name, const char *value);
/* Sends status with body (copied) and Content-Type. */
void http_reply(struct http_req *req, int status, const char *content_type, const char *body,
                size_t len);
/* Sends body (reference stolen) as application/json. */
void http_reply_json(struct http_req *req, int status, struct json_t *body);
/* Sends the JSON error shape. message must not hold secrets or raw request bytes. */
void http_reply_error(struct http_req *req, int status, const char *code, const char *message);

#endif
