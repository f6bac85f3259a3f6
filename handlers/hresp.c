#include "handlers/hresp.h"

#include <string.h>
#include <strings.h>

#include "core/util.h"

enum {
    BODY_START = 0,
    BODY_LENGTH,
    BODY_CLOSE,
    CK_SIZE,
    CK_EXT,
    CK_SIZE_LF,
    CK_DATA,
    CK_DATA_CR,
    CK_DATA_LF,
    CK_TRAILER_START,
    CK_TRAILER,
    CK_END_LF,
    BODY_DONE
};

void hresp_init(struct hresp *r)
{
    memset(r, 0, sizeof(*r));
    r->content_length = -1;
}

/* RFC 9110 tchar, by byte (strchr per byte of every field name was a visible share) */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,         ['&'] = 1,         ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,         ['^'] = 1,         ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

static int is_tchar(unsigned char c)
{
    return tchar[c];
}

/* field-value bytes: visible, space, tab, obs-text; no other control characters */
static int is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int name_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

static int bad(struct hresp *r, const char *why)
{
    r->error = why;
    return HRESP_BAD;
}

/* Connection: a comma-separated list of options */
static void parse_connection(const char *v, size_t n, int *close, int *ka)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (name_is(v + s, i - s, "close"))
            *close = 1;
        else if (name_is(v + s, i - s, "keep-alive"))
            *ka = 1;
    }
}

static int parse_field(struct hresp *r, const char *name, size_t nl, const char *v, size_t vl,
                       int *close, int *ka, int *seen_te, int *seen_ce)
{
    if (name_is(name, nl, "content-length")) {
        if (vl == 0 || vl > 18)
            return bad(r, "Invalid Content-Length in response");
        int64_t x = 0;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return bad(r, "Invalid Content-Length in response");
            x = x * 10 + (v[i] - '0');
        }
        if (r->content_length >= 0 && r->content_length != x)
            return bad(r, "Conflicting Content-Length in response");
        r->content_length = x;
    } else if (name_is(name, nl, "transfer-encoding")) {
        if (*seen_te || !name_is(v, vl, "chunked"))
            return bad(r, "Unsupported Transfer-Encoding in response");
        *seen_te = 1;
        r->chunked = 1;
    } else if (name_is(name, nl, "connection")) {
        parse_connection(v, vl, close, ka);
    } else if (name_is(name, nl, "content-encoding")) {
        if (*seen_ce)
            r->coding = HRESP_OTHER;
        else if (name_is(v, vl, "gzip") || name_is(v, vl, "x-gzip"))
            r->coding = HRESP_GZIP;
        else if (name_is(v, vl, "deflate"))
            r->coding = HRESP_DEFLATE;
        else if (!name_is(v, vl, "identity"))
            r->coding = HRESP_OTHER;
        *seen_ce = 1;
    } else if (name_is(name, nl, "retry-after")) {
        if (vl < sizeof(r->retry_after)) {
            memcpy(r->retry_after, v, vl);
            r->retry_after[vl] = '\0';
        }
    }
    return 0;
}

/* The end of the head (just past its empty line) in buf[0..len), or NULL. */
static const char *head_end(const char *buf, size_t len)
{
    const char *end = buf + len;
    for (const char *p = memchr(buf, '\n', len); p;
         p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
        size_t rest = (size_t)(end - p - 1);
        if (rest >= 1 && p[1] == '\n')
            return p + 2;
        if (rest >= 2 && p[1] == '\r' && p[2] == '\n')
            return p + 3;
        if (rest < 2)
            return NULL;
    }
    return NULL;
}

static int parse_status(struct hresp *r, const char *s, size_t n)
{
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ')
        return bad(r, n >= 5 && memcmp(s, "HTTP/", 5) == 0 ? "Unsupported HTTP version in response"
                                                           : "Received HTTP/0.9 when not allowed");
    r->http_minor = s[7] - '0';
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9')
            return bad(r, "Weird server reply");
        st = st * 10 + (s[i] - '0');
    }
    if (st < 100 || (n > 12 && s[12] != ' '))
        return bad(r, "Weird server reply");
    for (size_t i = 13; i < n; i++)
        if (!is_vchar((unsigned char)s[i]))
            return bad(r, "Weird server reply");
    r->status = st;
    return 0;
}

enum hresp_result hresp_head(struct hresp *r, const char *buf, size_t len, size_t *used)
{
    const char *end = head_end(buf, len);
    if (end == NULL) {
        /* a stray NUL or a line that cannot be a status line need not wait for more */
        if (len >= 5 && memcmp(buf, "HTTP/", 5) != 0)
            return bad(r, "Received HTTP/0.9 when not allowed");
        return HRESP_MORE;
    }
    int close = 0, ka = 0, seen_te = 0, seen_ce = 0;
    const char *p = buf;
    for (int first = 1;; first = 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)(nl - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (first) {
            if (parse_status(r, p, n) != 0)
                return HRESP_BAD;
        } else if (n == 0) {
            break; /* the empty line */
        } else {
            size_t i = 0;
            while (i < n && is_tchar((unsigned char)p[i]))
                i++;
            if (i == 0 || i == n || p[i] != ':')
                return bad(r, "Invalid header field in response");
            size_t vs = i + 1, ve = n;
            while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
                vs++;
            while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
                ve--;
            for (size_t k = vs; k < ve; k++)
                if (!is_vchar((unsigned char)p[k]))
                    return bad(r, "Invalid header field in response");
            if (parse_field(r, p, i, p + vs, ve - vs, &close, &ka, &seen_te, &seen_ce) != 0)
                return HRESP_BAD;
        }
        p = nl + 1;
    }
    r->keep_alive = !close && (r->http_minor >= 1 || ka);
    if (hresp_has_body(r)) {
        if (r->chunked && r->content_length >= 0)
            r->keep_alive = 0; /* RFC 9112 §6.3: chunked wins, and the connection goes */
        else if (!r->chunked && r->content_length < 0)
            r->keep_alive = 0; /* the body ends with the connection */
    }
    *used = (size_t)(end - buf);
    return HRESP_DONE;
}

int hresp_has_body(const struct hresp *r)
{
    if (r->status < 200 || r->status == 204 || r->status == 304)
        return 0;
    return r->chunked || r->content_length != 0;
}

int hresp_ends_at_close(const struct hresp *r)
{
    return hresp_has_body(r) && !r->chunked && r->content_length < 0;
}

static int meta_byte(struct hresp *r)
{
    return ++r->meta > HRESP_MAX_META ? bad(r, "Too long chunk framing in response") : 0;
}

enum hresp_result hresp_body(struct hresp *r, const char *buf, size_t len, size_t *used,
                             int (*data)(void *ctx, const char *p, size_t n, const char **err),
                             void *ctx)
{
    size_t i = 0;

    *used = 0;
    if (r->body_state == BODY_START) {
        if (!hresp_has_body(r))
            r->body_state = BODY_DONE;
        else if (r->chunked)
            r->body_state = CK_SIZE;
        else if (r->content_length >= 0)
            r->body_state = BODY_LENGTH, r->left = (uint64_t)r->content_length;
        else
            r->body_state = BODY_CLOSE;
        r->meta = 0;
    }
    while (r->body_state != BODY_DONE) {
        if (r->body_state == BODY_LENGTH || r->body_state == BODY_CLOSE ||
            r->body_state == CK_DATA) {
            size_t n = len - i;
            if (r->body_state != BODY_CLOSE && n > r->left)
                n = (size_t)r->left;
            if (n > 0 && data(ctx, buf + i, n, &r->error) != 0) {
                *used = i;
                return HRESP_BAD;
            }
            i += n;
            if (r->body_state == BODY_CLOSE) {
                *used = i;
                return HRESP_MORE;
            }
            r->left -= n;
            if (r->left > 0) {
                *used = i;
                return HRESP_MORE;
            }
            r->body_state = r->body_state == BODY_LENGTH ? BODY_DONE : CK_DATA_CR;
            continue;
        }
        if (i == len) {
            *used = i;
            return HRESP_MORE;
        }
        char c = buf[i++];
        if (meta_byte(r) != 0)
            return HRESP_BAD;
        switch (r->body_state) {
        case CK_SIZE: {
            int h = util_hexval((unsigned char)c);
            if (h >= 0) {
                if (++r->size_digits > 15)
                    return bad(r, "Too large chunk in response");
                r->left = r->left * 16 + (uint64_t)h;
                break;
            }
            if (r->size_digits == 0)
                return bad(r, "Invalid chunk size in response");
            if (c == ';' || c == ' ' || c == '\t')
                r->body_state = CK_EXT;
            else if (c == '\r')
                r->body_state = CK_SIZE_LF;
            else if (c == '\n')
                r->body_state = r->left ? CK_DATA : CK_TRAILER_START;
            else
                return bad(r, "Invalid chunk size in response");
            break;
        }
        case CK_EXT:
            if (c == '\n')
                r->body_state = r->left ? CK_DATA : CK_TRAILER_START;
            else if (c != '\r' && c != '\t' && (unsigned char)c < 0x20)
                return bad(r, "Invalid chunk extension in response");
            break;
        case CK_SIZE_LF:
            if (c != '\n')
                return bad(r, "Invalid chunk size in response");
            r->body_state = r->left ? CK_DATA : CK_TRAILER_START;
            break;
        case CK_DATA_CR:
            if (c == '\r')
                r->body_state = CK_DATA_LF;
            else if (c == '\n')
                r->body_state = CK_SIZE;
            else
                return bad(r, "Missing CRLF after chunk data in response");
            r->size_digits = 0;
            break;
        case CK_DATA_LF:
            if (c != '\n')
                return bad(r, "Missing CRLF after chunk data in response");
            r->body_state = CK_SIZE;
            r->size_digits = 0;
            break;
        case CK_TRAILER_START:
            if (c == '\r')
                r->body_state = CK_END_LF;
            else if (c == '\n')
                r->body_state = BODY_DONE;
            else
                r->body_state = CK_TRAILER;
            break;
        case CK_TRAILER:
            if (c == '\n')
                r->body_state = CK_TRAILER_START;
            break;
        case CK_END_LF:
            if (c != '\n')
                return bad(r, "Invalid chunk trailer in response");
            r->body_state = BODY_DONE;
            break;
        default:
            return bad(r, "Invalid chunk framing in response");
        }
    }
    *used = i;
    return HRESP_DONE;
}
