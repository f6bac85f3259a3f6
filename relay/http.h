#ifndef RELAY_HTTP_H
#define RELAY_HTTP_H

#include <stddef.h>

/* The relay's HTTP/1.1 server on libevent bufferevents (plain or OpenSSL). Its own, rather than
 * evhttp, because the contract needs what evhttp 2.1 cannot give: a JSON 413 decided from
 * Content-Length before the body is read, strict framing (relay/http_parse.h), a hard
 * connection cap, per-request deadlines and bounded output per connection.
 *
 * A handler gets a struct http_req and must answer it exactly once, now or later (after a
 * Redis reply, say); the request stays valid until answered even if the client went away.
 * Every response carries X-Request-Id; every error body is {"code","message","request_id"}.
 * A HEAD request gets the headers of the answer its handler gives, without the body. */

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
/* Which listener the request came in on: the public one (listen) or admin.listen. */
int http_on_admin_listener(const struct http_req *req);

/* Adds a response header (at most 8); call before replying. Without memory the header is
 * dropped, never the answer. */
void http_add_header(struct http_req *req, const char *name, const char *value);
/* Sends status with body (copied) and Content-Type. */
void http_reply(struct http_req *req, int status, const char *content_type, const char *body,
                size_t len);
/* Sends body (reference stolen) as application/json. */
void http_reply_json(struct http_req *req, int status, struct json_t *body);
/* Sends the JSON error shape. message must not hold secrets or raw request bytes. */
void http_reply_error(struct http_req *req, int status, const char *code, const char *message);

/* ---- Streaming answers ----
 * For a body too large to build in memory (a feed of a whole catalog). The relay's memory then
 * grows with HTTP_STREAM_LOW_WATER per connection, not with the body.
 *
 *   http_add_header(req, "X-Relay-Next-Cursor", c);             (headers first)
 *   http_stream_begin(req, 200, "application/json", on_drain, st);
 *   write a batch with http_stream_write()/http_stream_printf() ...
 *   ... then return to the loop; on_drain(req, st) is called once what was written has gone out
 *   down to HTTP_STREAM_LOW_WATER bytes or less: fetch and write the next batch there
 *   (http_stream_pending() says how much is still unsent);
 *   http_stream_end(req) after the last batch.
 *
 * The body goes out with Transfer-Encoding: chunked (to an HTTP/1.0 client: unframed, and the
 * connection closes after it); a HEAD request gets the headers only, its writes are dropped but
 * on_drain still comes. If the client goes away, or reads nothing for limits.request_timeout_ms
 * (it is then cut off), on_drain is called once more and from then on http_stream_alive() is 0
 * and writes return -1: stop producing and call http_stream_end(). on_drain is never called
 * from inside an http_stream_* call, and may come while the producer still waits for its data
 * (ignore it then and write when the data is there). http_stream_end() must be called exactly
 * once in every case; req is gone after it. */
#define HTTP_STREAM_LOW_WATER 65536

typedef void (*http_stream_cb)(struct http_req *req, void *arg);

/* Sends status and headers. Returns 0, or -1 when the client is already gone (still call
 * http_stream_end()). */
int http_stream_begin(struct http_req *req, int status, const char *content_type,
                      http_stream_cb on_drain, void *arg);
/* Queues len bytes of body (copied). Returns 0, or -1 when the client is gone. */
int http_stream_write(struct http_req *req, const void *data, size_t len);
/* The same without the copy: takes data (malloc'd), which is freed once sent or when the
 * connection goes, in every case (also when -1 is returned). */
int http_stream_write_take(struct http_req *req, void *data, size_t len);
int http_stream_printf(struct http_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Body bytes queued but not yet taken by the socket. */
size_t http_stream_pending(const struct http_req *req);
int http_stream_alive(const struct http_req *req);
/* Ends the body and releases req. */
void http_stream_end(struct http_req *req);

#endif
