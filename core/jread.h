#ifndef RELAY_JREAD_H
#define RELAY_JREAD_H

#include <stddef.h>

struct json_t;

/* A JSON text (an object or an array at the top, as json_loadb(buf, len, 0, ...) takes) parsed
 * into a Jansson tree, faster: the worker parses every source document it fetches, and
 * Jansson's reader, which takes the text a byte at a time through a stream, was a tenth of a
 * worker's CPU. It accepts exactly what json_loadb() with no flags accepts (strict RFC 8259,
 * UTF-8, no \u0000, integers that fit json_int_t, at most 2048 levels, nothing after the value
 * but white space; and, as Jansson, one NUL byte right after a number or a literal is
 * skipped) and builds the same tree (a repeated key keeps its first place and takes
 * the last value). Returns a new reference, or NULL for a text json_loadb() refuses or out of
 * memory. tests/unit/test_jread.c compares the two readers. */
struct json_t *jread_parse(const char *buf, size_t len);

/* jread_parse() with JREAD_REJECT_DUPLICATES: an object with a repeated key is refused, as
 * json_loadb(..., JSON_REJECT_DUPLICATES, ...) refuses it. */
#define JREAD_REJECT_DUPLICATES 1u
struct json_t *jread_parse_flags(const char *buf, size_t len, unsigned flags);

#endif
