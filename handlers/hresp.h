#ifndef RELAY_HRESP_H
#define RELAY_HRESP_H

#include <stddef.h>
#include <stdint.h>

/* Strict, incremental parser of one HTTP/1.x response as the worker's plain-http client
 * (handlers/hplain.c) reads it: the head (status line and header fields, what the client needs
 * of them kept here) and then the body's framing (Content-Length, chunked, or up to the
 * connection's close). Works on the caller's flat buffer: it never copies the body, it hands
 * back where the body's bytes are. Anything it does not understand is refused (the request
 * then fails as a transport error) rather than guessed at. */

enum hresp_result {
    HRESP_MORE = 0, /* needs more input */
    HRESP_DONE = 1, /* the head, or the whole body, is complete */
    HRESP_BAD = -1  /* malformed or unsupported (error says what) */
};

enum hresp_coding { HRESP_IDENTITY = 0, HRESP_GZIP, HRESP_DEFLATE, HRESP_OTHER };

#define HRESP_MAX_HEAD (100 * 1024) /* head bytes accepted (curl's CURL_MAX_HTTP_HEADER) */
#define HRESP_MAX_META 16384        /* chunk-size lines and trailers of one body */

struct hresp {
    /* from the head */
    int status;     /* 100..999 */
    int http_minor; /* HTTP/1.x */
    int keep_alive; /* the connection may carry another request after this response */
    int chunked;
    int64_t content_length; /* -1: none */
    enum hresp_coding coding;
    char retry_after[128]; /* the Retry-After value, "" when absent or too long */
    const char *error;     /* static text when HRESP_BAD */
    /* body framing */
    int body_state;
    uint64_t left;
    int size_digits;
    size_t meta;
};

void hresp_init(struct hresp *r);

/* Parses a head at the start of buf[0..len). HRESP_DONE: *used is the head's length and r
 * holds what it said; a 1xx head (informational) is complete too: call hresp_init and parse
 * the next one after it. HRESP_MORE: no end of head yet (the caller refuses more than
 * HRESP_MAX_HEAD bytes). has_body() says whether a body follows. */
enum hresp_result hresp_head(struct hresp *r, const char *buf, size_t len, size_t *used);

/* 0 when the response has no body at all (1xx, 204, 304, Content-Length: 0). */
int hresp_has_body(const struct hresp *r);

/* Consumes body framing from buf[0..len): *used bytes were read; the body's data among them
 * is handed to data(ctx, p, n), which returns 0 or -1 (stop: hresp_body returns HRESP_BAD with
 * error set to what it gave in *err). HRESP_DONE: the body is complete and *used excludes the
 * bytes after it. A body delimited by the connection's close never ends here: the caller
 * ends it on EOF when hresp_ends_at_close(). */
enum hresp_result hresp_body(struct hresp *r, const char *buf, size_t len, size_t *used,
                             int (*data)(void *ctx, const char *p, size_t n, const char **err),
                             void *ctx);

/* 1 when the body runs until the server closes the connection. */
int hresp_ends_at_close(const struct hresp *r);

#endif
