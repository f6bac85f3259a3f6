#ifndef RELAY_ENVELOPE_JSON_H
#define RELAY_ENVELOPE_JSON_H

#include <jansson.h>
#include <stddef.h>

/* The common case of a webhook body parsed without Jansson's parser: the tree
 * json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES) gives, or NULL when the
 * document is one this fast path leaves to Jansson (escapes, reals, deep nesting, anything
 * malformed). body must be valid UTF-8. The caller owns the result (json_decref). */
json_t *envelope_json_load(const char *body, size_t len);

#endif
