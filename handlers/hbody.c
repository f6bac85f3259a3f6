#include "handlers/hbody.h"

#include <stdlib.h>
#include <string.h>

int hbody_init(struct hbody *b, size_t cap)
{
    b->len = 0;
    b->truncated = 0;
    b->cap = cap;
    b->alloc = cap + 1 < 4096 ? cap + 1 : 4096;
    b->buf = malloc(b->alloc);
    if (b->buf == NULL) {
        b->alloc = 0;
        return -1;
    }
    b->buf[0] = '\0';
    return 0;
}

int hbody_append(struct hbody *b, const char *p, size_t n)
{
    size_t room = b->cap - b->len;
    size_t take = n < room ? n : room;
    if (b->len + take + 1 > b->alloc) {
        size_t want = b->alloc ? b->alloc : 4096;
        while (want < b->len + take + 1)
            want *= 2;
        if (want > b->cap + 1)
            want = b->cap + 1;
        char *nb = realloc(b->buf, want);
        if (nb == NULL)
            return -1;
        b->buf = nb;
        b->alloc = want;
    }
    memcpy(b->buf + b->len, p, take);
    b->len += take;
    b->buf[b->len] = '\0';
    if (take < n)
        b->truncated = 1;
    return 0;
}

void hbody_free(struct hbody *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->alloc = 0;
}
