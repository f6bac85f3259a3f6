#ifndef RELAY_HTTP_PARSE_H
#define RELAY_HTTP_PARSE_H

#include <stddef.h>

/* The HTTP/1.1 request-head parser (RFC 9112 sections 2-3 and 6): no I/O, no allocation, so the
 * server and the fuzz harness drive exactly the same code. It is strict on purpose: behind a
 * front proxy that frames requests differently, every leniency is a request-smuggling vector,
 * so anything RFC 9112 lets a server reject is rejected (400 bad_request) rather than guessed
 * at. */

#define HTTP_MAX_HEADERS 64

struct http_field {
    const char *name;  /* a token, NUL-terminated inside the parsed buffer */
    const char *value; /* optional whitespace trimmed; no control bytes but HTAB */
};

/* Callers embed it (struct http_req holds one). Every pointer points into the buffer given
 * to http_parse_head(), which must outlive it. */
struct http_head {
    const char *method;
    const char *path;  /* the origin-form target without its query */
    const char *query; /* after '?', or NULL */
    int minor;         /* HTTP/1.<minor>: 0 or 1 */
    struct http_field fields[HTTP_MAX_HEADERS];
    int n_fields;
    long long content_length; /* -1 when absent */
    int chunked;              /* Transfer-Encoding: chunked */
    int keep_alive;           /* after the version's default and the Connection header */
    int expect_continue;      /* Expect: 100-continue */
};

/* Why a head was refused: the HTTP status, the error code of the JSON body and a message that
 * holds no request bytes. */
struct http_parse_error {
    int status;
    const char *code;
    const char *message;
};

/* Parses one complete request head in place: buf[0..len) holds the request line, the header
 * lines and the empty line that ends them (CRLF or bare LF line ends); NULs are written into
 * it. Returns 0 with h filled, or -1 with err filled (h is then partly filled and must not be
 * used). */
int http_parse_head(struct http_head *h, char *buf, size_t len, struct http_parse_error *err);

/* The value of the first field named name (case-insensitive), or NULL. */
const char *http_head_field(const struct http_head *h, const char *name);

/* Length of the request head at the start of buf[0..len): the offset just past the empty line
 * that ends it, or 0 when it has not all arrived. Leading empty lines must have been skipped. */
size_t http_head_length(const char *buf, size_t len);

#endif
