/* The canonical format: the relay's own title (docs/canonical.md), sent as it is. */

#include <stdio.h>

#include <jansson.h>

#include "handlers/fmt.h"

json_t *fmt_canonical_render(const struct target *t, const json_t *title, const struct fmt_ctx *ctx,
                             char *err, size_t errlen)
{
    const int unpublish = ctx != NULL && ctx->unpublish;
    const json_t *id = json_is_object(title) ? json_object_get(title, "id") : NULL;
    if (!json_is_string(id) || json_string_length(id) == 0) {
        snprintf(err, errlen, "missing: id");
        return NULL;
    }
    /* A deep copy: the caller's title is shared by every target of the event. */
    json_t *out = json_deep_copy(title);
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (unpublish)
        json_object_set_new(out, "status", json_string("unpublished"));
    return out;
}
