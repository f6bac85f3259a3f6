#include "relay/chunked.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

enum { CK_SIZE, CK_DATA, CK_DATA_END, CK_TRAILER, CK_DONE };

#define SIZE_LINE_MAX 1024 /* a size line longer than this is not a size line */

void chunked_init(struct chunked *ck)
{
    memset(ck, 0, sizeof(*ck));
    ck->state = CK_SIZE;
}

/* One line without its CRLF (a bare LF is refused: it is how smuggling starts), or NULL when
 * the line is not complete yet. *bad is set when it cannot become a valid line. */
static char *read_line(struct chunked *ck, struct evbuffer *in, size_t max_meta, size_t *len,
                       int *bad)
{
    struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
    *bad = 0;
    if (p.pos < 0) {
        size_t have = evbuffer_get_length(in);
        if (have > SIZE_LINE_MAX || ck->meta + have > max_meta)
            *bad = 1;
        return NULL;
    }
    size_t n = (size_t)p.pos + 1;
    if (n > SIZE_LINE_MAX || ck->meta + n > max_meta) {
        *bad = 1;
        return NULL;
    }
    char *line = malloc(n + 1);
    if (line == NULL) {
        *bad = 1;
        return NULL;
    }
    evbuffer_remove(in, line, n);
    ck->meta += n;
    if (n < 2 || line[n - 2] != '\r') {
        free(line);
        *bad = 1;
        return NULL;
    }
    line[n - 2] = '\0';
    *len = n - 2;
    return line;
}

/* "1a3f" or "1a3f;name=value": the size, or -1. At most 15 hex digits (no overflow). */
static int parse_size(const char *line, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;
    const char *s = line;
    for (; *s && *s != ';' && *s != ' ' && *s != '\t'; s++) {
        int h = util_hexval((unsigned char)*s);
        if (h < 0 || ++digits > 15)
            return -1;
        v = v * 16 + (uint64_t)h;
    }
    if (digits == 0)
        return -1;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '\0' && *s != ';')
        return -1;
    *out = v;
    return 0;
}

enum chunked_result chunked_feed(struct chunked *ck, struct evbuffer *in, struct evbuffer *out,
                                 size_t max_body, size_t max_meta)
{
    for (;;) {
        size_t len;
        int bad;
        char *line;
        switch (ck->state) {
        case CK_SIZE:
            line = read_line(ck, in, max_meta, &len, &bad);
            if (line == NULL)
                return bad ? CHUNKED_BAD : CHUNKED_MORE;
            uint64_t size;
            int rc = parse_size(line, &size);
            free(line);
            if (rc != 0)
                return CHUNKED_BAD;
            if (size > max_body - ck->total)
                return CHUNKED_TOO_LARGE;
            ck->left = size;
            ck->state = size == 0 ? CK_TRAILER : CK_DATA;
            break;
        case CK_DATA: {
            size_t have = evbuffer_get_length(in);
            if (have == 0)
                return CHUNKED_MORE;
            size_t take = have < ck->left ? have : (size_t)ck->left;
            if (evbuffer_remove_buffer(in, out, take) != (int)take)
                return CHUNKED_BAD;
            ck->left -= take;
            ck->total += take;
            if (ck->left == 0)
                ck->state = CK_DATA_END;
            break;
        }
        case CK_DATA_END: {
            char crlf[2];
            if (evbuffer_get_length(in) < 2)
                return CHUNKED_MORE;
            evbuffer_remove(in, crlf, 2);
            if (crlf[0] != '\r' || crlf[1] != '\n')
                return CHUNKED_BAD;
            ck->state = CK_SIZE;
            break;
        }
        case CK_TRAILER:
            line = read_line(ck, in, max_meta, &len, &bad);
            if (line == NULL)
                return bad ? CHUNKED_BAD : CHUNKED_MORE;
            free(line);
            if (len == 0)
                ck->state = CK_DONE;
            break;
        default:
            return CHUNKED_DONE;
        }
    }
}
