/* The request side of relay/http.h (accessors, added headers) and the shape of a response
 * head. Connections and replies are relay/server.c's, streaming relay/server_stream.c's. */
#include "relay/http.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "relay/http_internal.h"

const char *http_method(const struct http_req *req)
{
    return req->head.method;
}

const char *http_path(const struct http_req *req)
{
    return req->head.path;
}

const char *http_query(const struct http_req *req)
{
    return req->head.query;
}

const char *http_header(const struct http_req *req, const char *name)
{
    return http_head_field(&req->head, name);
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
    const char *p = req->head.query;
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
    if (req->n_extra >= HTTP_MAX_EXTRA_HEADERS)
        return;
    char *n = strdup(name);
    char *v = strdup(value);
    if (n == NULL || v == NULL) {
        /* Out of memory: the answer goes out without this header rather than not at all. */
        free(n);
        free(v);
        return;
    }
    req->extra[req->n_extra].name = n;
    req->extra[req->n_extra].value = v;
    req->n_extra++;
}

void http_req_free(struct http_req *req)
{
    if (req == NULL)
        return;
    for (int i = 0; i < req->n_extra; i++) {
        free((char *)req->extra[i].name);
        free((char *)req->extra[i].value);
    }
    free(req->head_buf);
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
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
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

static void add_str(struct evbuffer *out, const char *s)
{
    evbuffer_add(out, s, strlen(s));
}

/* Decimal digits of v >= 0 into buf (at least 21 bytes); returns their count. */
static size_t decimal(long long v, char *buf)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0 : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

/* Every answer goes through here, so it is assembled from pieces rather than printf'd (five
 * format calls per answer showed in the ingest profile). */
void http_format_head(const struct http_req *req, struct evbuffer *out, int status,
                      const char *content_type, long long body_len, int close_after)
{
    char num[24];
    add_str(out, "HTTP/1.1 ");
    evbuffer_add(out, num, decimal(status, num));
    evbuffer_add(out, " ", 1);
    add_str(out, reason(status));
    evbuffer_add(out, "\r\n", 2);
    if (content_type) {
        add_str(out, "Content-Type: ");
        add_str(out, content_type);
        evbuffer_add(out, "\r\n", 2);
    }
    if (body_len >= 0) {
        add_str(out, "Content-Length: ");
        evbuffer_add(out, num, decimal(body_len, num));
        evbuffer_add(out, "\r\n", 2);
    } else if (body_len == HTTP_BODY_CHUNKED) {
        add_str(out, "Transfer-Encoding: chunked\r\n");
    }
    add_str(out, "X-Request-Id: ");
    add_str(out, req->id);
    evbuffer_add(out, "\r\n", 2);
    for (int i = 0; i < req->n_extra; i++) {
        add_str(out, req->extra[i].name);
        evbuffer_add(out, ": ", 2);
        add_str(out, req->extra[i].value);
        evbuffer_add(out, "\r\n", 2);
    }
    add_str(out, close_after ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n");
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
