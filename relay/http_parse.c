#include "relay/http_parse.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
 * "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside a value. Everything
 * else (NUL, CR, LF, other controls, DEL) is refused: a NUL would end the value early for C
 * code and keep the rest for a proxy. */
static int is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int fail(struct http_parse_error *err, int status, const char *code, const char *message)
{
    err->status = status;
    err->code = code;
    err->message = message;
    return -1;
}

static int bad(struct http_parse_error *err, const char *message)
{
    return fail(err, 400, "bad_request", message);
}

size_t http_head_length(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || nl + 1 >= end)
            return 0;
        if (nl[1] == '\n')
            return (size_t)(nl + 2 - buf);
        if (nl[1] == '\r') {
            if (nl + 2 >= end)
                return 0;
            if (nl[2] == '\n')
                return (size_t)(nl + 3 - buf);
        }
        p = nl + 1;
    }
}

/* Cuts the next line off *p (before end), NUL-terminates it in place and returns it with its
 * length in *len, or NULL when no line end is left. A CR is allowed only right before LF. */
static char *next_line(char **p, char *end, size_t *len)
{
    char *start = *p;
    char *nl = memchr(start, '\n', (size_t)(end - start));
    if (nl == NULL)
        return NULL;
    size_t n = (size_t)(nl - start);
    if (n > 0 && start[n - 1] == '\r')
        n--;
    start[n] = '\0';
    *p = nl + 1;
    *len = n;
    return start;
}

/* method SP request-target SP HTTP-version (RFC 9112 3), single spaces only. */
static int parse_request_line(struct http_head *h, char *line, size_t len,
                              struct http_parse_error *err)
{
    char *p = line, *end = line + len;
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (p == line || p == end || *p != ' ')
        return bad(err, "malformed request line");
    *p++ = '\0';
    h->method = line;
    char *target = p;
    while (p < end && (unsigned char)*p > 0x20 && *p != 0x7f)
        p++;
    if (p == target || p == end || *p != ' ')
        return bad(err, "malformed request line");
    *p++ = '\0';
    const char *version = p;
    size_t vlen = (size_t)(end - p);
    if (vlen == 8 && memcmp(version, "HTTP/1.", 7) == 0 &&
        (version[7] == '0' || version[7] == '1')) {
        h->minor = version[7] - '0';
    } else if (vlen == 8 && memcmp(version, "HTTP/", 5) == 0 && version[5] >= '0' &&
               version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9') {
        return fail(err, 505, "http_version_not_supported",
                    "only HTTP/1.0 and HTTP/1.1 are served");
    } else {
        return bad(err, "malformed request line");
    }
    /* Origin-form only: the relay is never a proxy, and "*" (OPTIONS) has no use here. */
    if (target[0] != '/')
        return bad(err, "the request target must be an absolute path");
    h->path = target;
    char *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        h->query = q + 1;
    }
    return 0;
}

/* field-name ":" OWS field-value OWS (RFC 9112 5). */
static int parse_field_line(struct http_head *h, char *line, size_t len,
                            struct http_parse_error *err)
{
    char *p = line, *end = line + len;
    if (*line == ' ' || *line == '\t')
        return bad(err, "obsolete line folding in a header");
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    if (p == end)
        return bad(err, "header line without a colon");
    if (*p != ':') {
        /* RFC 9112 5.1: whitespace before the colon MUST be answered 400. */
        if (*p == ' ' || *p == '\t')
            return bad(err, "whitespace between a header name and its colon");
        if (*p == '\0' || *p == '\r' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return bad(err, "control byte in a header");
        return bad(err, "header name is not a token");
    }
    if (p == line)
        return bad(err, "empty header name");
    *p++ = '\0';
    for (char *c = p; c < end; c++)
        if (!is_field_byte((unsigned char)*c))
            return bad(err, "control byte in a header");
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    if (h->n_fields >= HTTP_MAX_HEADERS)
        return fail(err, 431, "headers_too_large", "more than 64 request headers");
    h->fields[h->n_fields].name = line;
    h->fields[h->n_fields].value = p;
    h->n_fields++;
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

/* Does the comma-separated token list v hold tok (case-insensitive)? */
static int list_has(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *s = v;
        while (*v && *v != ',')
            v++;
        const char *e = v;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, tok, tl) == 0)
            return 1;
    }
    return 0;
}

/* The message framing (RFC 9112 6): refuse every ambiguous combination rather than pick. */
static int check_framing(struct http_head *h, struct http_parse_error *err)
{
    const char *cl = NULL, *te = NULL;
    int n_cl = 0, n_te = 0, n_host = 0;
    for (int i = 0; i < h->n_fields; i++) {
        const char *name = h->fields[i].name;
        if (strcasecmp(name, "Content-Length") == 0) {
            n_cl++;
            cl = h->fields[i].value;
        } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
            n_te++;
            te = h->fields[i].value;
        } else if (strcasecmp(name, "Host") == 0) {
            n_host++;
        }
    }
    if (n_cl > 1)
        return bad(err, "more than one Content-Length header");
    if (n_te > 1)
        return bad(err, "more than one Transfer-Encoding header");
    if (n_te && n_cl)
        return bad(err, "both Transfer-Encoding and Content-Length; send one");
    if (n_host > 1 || (h->minor == 1 && n_host == 0))
        return bad(err, "an HTTP/1.1 request needs exactly one Host header");
    if (cl && parse_content_length(cl, &h->content_length) != 0)
        return bad(err, "malformed Content-Length");
    if (te) {
        if (strcasecmp(te, "chunked") != 0)
            return fail(err, 501, "not_implemented",
                        "only Transfer-Encoding: chunked is supported");
        h->chunked = 1;
    }
    return 0;
}

int http_parse_head(struct http_head *h, char *buf, size_t len, struct http_parse_error *err)
{
    char *p = buf, *end = buf + len;
    size_t n;

    memset(h, 0, sizeof(*h));
    h->content_length = -1;
    char *line = next_line(&p, end, &n);
    if (line == NULL)
        return bad(err, "incomplete request head");
    if (memchr(line, '\0', n) || memchr(line, '\r', n))
        return bad(err, "control byte in the request line");
    if (parse_request_line(h, line, n, err) != 0)
        return -1;
    for (;;) {
        line = next_line(&p, end, &n);
        if (line == NULL)
            return bad(err, "incomplete request head");
        if (n == 0)
            break;
        if (parse_field_line(h, line, n, err) != 0)
            return -1;
    }
    if (check_framing(h, err) != 0)
        return -1;
    const char *conn = http_head_field(h, "Connection");
    h->keep_alive = h->minor == 1;
    if (conn && list_has(conn, "close"))
        h->keep_alive = 0;
    else if (conn && list_has(conn, "keep-alive"))
        h->keep_alive = 1;
    const char *expect = http_head_field(h, "Expect");
    h->expect_continue = expect && strcasecmp(expect, "100-continue") == 0;
    return 0;
}

const char *http_head_field(const struct http_head *h, const char *name)
{
    for (int i = 0; i < h->n_fields; i++)
        if (strcasecmp(h->fields[i].name, name) == 0)
            return h->fields[i].value;
    return NULL;
}
