#ifndef RELAY_FMT_H
#define RELAY_FMT_H

#include <stddef.h>

#include "core/config.h"

struct json_t;

/* Output formats rendered from the canonical title (CONTRACT §6). */

/* Renders title for target t. unpublish selects the format's removal document (tombstone).
 * Returns a new reference; NULL when the title lacks what the format requires, with err
 * holding "missing: field, field" (a validation_failed delivery). */
struct json_t *fmt_render(const struct target *t, const struct json_t *title, int unpublish,
                          char *err, size_t errlen);

struct json_t *fmt_canonical_render(const struct target *t, const struct json_t *title,
                                    int unpublish, char *err, size_t errlen);
struct json_t *fmt_gwi_render(const struct target *t, const struct json_t *title, int unpublish,
                              char *err, size_t errlen);
struct json_t *fmt_titanos_render(const struct target *t, const struct json_t *title, int unpublish,
                                  char *err, size_t errlen);

#endif
