/* libFuzzer target for what a feed partner controls: the query string of GET /feeds/{target}
 * and watchables.json (catalog_query_parse, catalog_query_mask) and the cursor
 * (catalog_cursor_decode). Byte 0 picks what the rest of the input is. Invariants: a parsed
 * query holds only values the feed accepts; a cursor that authenticates is exactly one the
 * relay would have written; the masked query never holds an api_key value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char KEY[CATALOG_KEY_BYTES] = "fuzz-cursor-key-0123456789abcdef";

static void check_query(const char *s, enum catalog_query_kind kind)
{
    struct catalog_query q;
    char bad[40];
    if (catalog_query_parse(s, kind, "api_key", &q, bad, sizeof(bad)) != 0) {
        if (strlen(bad) >= sizeof(bad))
            abort();
        return;
    }
    if (q.limit < 0 || q.limit > CATALOG_LIMIT_MAX)
        abort();
    if (q.has_cursor != (q.cursor[0] != '\0'))
        abort();
    if (q.market[0] && !(q.market[0] >= 'A' && q.market[0] <= 'Z' && q.market[1] >= 'A' &&
                         q.market[1] <= 'Z' && q.market[2] == '\0'))
        abort();
    char types[sizeof(q.types)];
    memcpy(types, q.types, sizeof(types));
    for (char *t = strtok(types, ","); t; t = strtok(NULL, ","))
        if (strcmp(t, "movie") && strcmp(t, "show") && strcmp(t, "season") && strcmp(t, "episode"))
            abort();
}

static void check_mask(const char *s)
{
    char out[256];
    catalog_query_mask(s, "api_key", out, sizeof(out));
    if (strlen(out) >= sizeof(out))
        abort();
    /* every api_key= in the output is followed by *** */
    for (const char *p = strstr(out, "api_key="); p; p = strstr(p + 1, "api_key="))
        if ((p == out || p[-1] == '&') && strncmp(p + 8, "***", 3) != 0)
            abort();
}

static void check_cursor(const char *s)
{
    struct catalog_cursor c;
    char again[CATALOG_CURSOR_MAX];
    if (catalog_cursor_decode(KEY, "target", s, &c) != 0)
        return;
    catalog_cursor_encode(KEY, "target", &c, again);
    if (strcmp(again, s) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0:
        check_query(s, CATALOG_QUERY_FEED);
        break;
    case 1:
        check_query(s, CATALOG_QUERY_WATCHABLES);
        break;
    case 2:
        check_mask(s);
        break;
    default:
        check_cursor(s);
        break;
    }
    free(s);
    return 0;
}
