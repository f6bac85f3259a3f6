#ifndef RELAY_CHUNKED_H
#define RELAY_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/* Incremental decoder for a chunked request body (RFC 9112 §7.1): chunk sizes in hex with
 * optional extensions (ignored), CRLF after each chunk's data, a zero-size last chunk and
 * optional trailer fields (read and dropped: nothing downstream of the signature check may
 * depend on them). Decoded bytes are appended to an evbuffer as they arrive; the caller
 * feeds it whatever bytes the connection has buffered. */

struct evbuffer;

enum chunked_result {
    CHUNKED_MORE = 0,      /* needs more input */
    CHUNKED_DONE = 1,      /* the whole body is decoded; later bytes are left in `in` */
    CHUNKED_BAD = -1,      /* malformed framing */
    CHUNKED_TOO_LARGE = -2 /* the decoded body would exceed max_body */
};

struct chunked {
    int state;
    uint64_t left; /* data bytes still to come in the current chunk */
    size_t total;  /* decoded so far */
    size_t meta;   /* size-line and trailer bytes so far (bounded like headers) */
};

void chunked_init(struct chunked *ck);
/* Consumes framing and data from in, appends data to out. */
enum chunked_result chunked_feed(struct chunked *ck, struct evbuffer *in, struct evbuffer *out,
                                 size_t max_body, size_t max_meta);

#endif
