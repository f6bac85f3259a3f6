#include "handlers/fmt.h"

#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "core/util.h"

/* An RFC 3339 value as the relay writes instants, "YYYY-MM-DDTHH:MM:SSZ" (the worker may pass
 * fractions or offsets); NULL when it is not one. */
static json_t *instant(const char *val)
{
    int64_t ms;
    char out[32];

    if (val == NULL || util_parse_rfc3339(val, &ms) != 0 || util_rfc3339_secs(ms, out) != 0)
        return NULL;
    return json_string(out);
}

/* created_at / updated_at the CMS did not give, from what the relay itself knows: a partner
 * needs both (TitanOS's Standard Schema requires them) and Movida has neither. The CMS's own
 * values always win; the caller's title is shared by every target and stays untouched. */
static json_t *with_times(const json_t *title, const struct fmt_ctx *ctx)
{
    json_t *created = NULL, *updated = NULL, *copy = NULL;

    if (!json_is_object(title))
        return json_incref((json_t *)title);
    if (json_object_get(title, "created_at") == NULL)
        created = instant(ctx->first_seen);
    if (json_object_get(title, "updated_at") == NULL)
        updated = instant(ctx->event_at);
    if (created == NULL && updated == NULL)
        return json_incref((json_t *)title);
    copy = json_copy((json_t *)title);
    if (copy != NULL && created != NULL)
        json_object_set(copy, "created_at", created);
    if (copy != NULL && updated != NULL)
        json_object_set(copy, "updated_at", updated);
    json_decref(created);
    json_decref(updated);
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
    /* gwi_json_1.1 items and titanos objects cannot be valid without the title's metadata;
     * canonical's removal, {id, source, type, status: "unpublished"}, is complete from the
     * event alone (docs/canonical.md), so it costs no CMS request and survives a CMS outage.
     * A DELETE names only the URL. */
    return t != NULL && t->unpublish == UNPUBLISH_TOMBSTONE && t->format != FORMAT_CANONICAL;
}
