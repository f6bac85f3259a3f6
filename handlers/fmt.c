#include "handlers/fmt.h"

#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "core/util.h"

/* created_at / updated_at the CMS did not give, from what the relay itself knows: a partner
 * needs both (TitanOS's Standard Schema requires them) and Movida has neither. The CMS's own
 * values always win; the caller's title is shared by every target and stays untouched. */
static json_t *with_times(const json_t *title, const struct fmt_ctx *ctx)
{
    int64_t ms;
    int need_created = json_object_get(title, "created_at") == NULL && ctx->first_seen != NULL &&
                       util_parse_rfc3339(ctx->first_seen, &ms) == 0;
    int need_updated = json_object_get(title, "updated_at") == NULL && ctx->event_at != NULL &&
                       util_parse_rfc3339(ctx->event_at, &ms) == 0;
    if (!json_is_object(title) || (!need_created && !need_updated))
        return json_incref((json_t *)title);
    json_t *copy = json_copy((json_t *)title);
    if (copy == NULL)
        return NULL;
    if (need_created)
        json_object_set_new(copy, "created_at", json_string(ctx->first_seen));
    if (need_updated)
        json_object_set_new(copy, "updated_at", json_string(ctx->event_at));
    return copy;
}

json_t *fmt_render_ctx(const struct target *t, const json_t *title, const struct fmt_ctx *ctx,
                       char *err, size_t errlen)
{
    static const struct fmt_ctx none = {0};
    json_t *in = NULL, *out = NULL;

    if (t == NULL) {
        snprintf(err, errlen, "no target");
        return NULL;
    }
    if (ctx == NULL)
        ctx = &none;
    in = with_times(title, ctx);
    if (in == NULL && title != NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    switch (t->format) {
    case FORMAT_CANONICAL:
        out = fmt_canonical_render(t, in, ctx, err, errlen);
        break;
    case FORMAT_GWI_JSON_1_1:
        out = fmt_gwi_render(t, in, ctx, err, errlen);
        break;
    case FORMAT_TITANOS:
        out = fmt_titanos_render(t, in, ctx, err, errlen);
        break;
    default:
        snprintf(err, errlen, "unknown format");
        break;
    }
    json_decref(in);
    return out;
}

json_t *fmt_render(const struct target *t, const json_t *title, int unpublish, char *err,
                   size_t errlen)
{
    const struct fmt_ctx ctx = {.unpublish = unpublish};
    return fmt_render_ctx(t, title, &ctx, err, errlen);
}

int fmt_removal_needs_title(const struct target *t)
{
    /* Every format's removal carries the metadata as last delivered (gwi_json_1.1: the whole
     * item; titanos: the whole object; canonical: the title), so every tombstone target
     * needs the title; a DELETE names only the URL. */
    return t != NULL && t->unpublish == UNPUBLISH_TOMBSTONE;
}
