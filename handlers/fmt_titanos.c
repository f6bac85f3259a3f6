/* TitanOS: one self-contained object per title whose keys and nesting never vary
 * (seeds/titanos-delivery-requirements.txt, "Stability"). Every key of docs/titanos.md is
 * always written; what the title lacks is null, or [] for lists. */

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "handlers/fmt.h"

/* src[key] copied when it has the wanted JSON type, else null: the key is there either way. */
static void put(json_t *dst, const json_t *src, const char *key, json_type want)
{
    json_t *v = json_is_object(src) ? json_object_get(src, key) : NULL;
    if (v != NULL && json_typeof(v) == want && !(want == JSON_STRING && json_string_length(v) == 0))
        json_object_set(dst, key, v);
    else
        json_object_set_new(dst, key, json_null());
}

static void put_strings(json_t *dst, const json_t *src, const char *key)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;

    json_array_foreach(json_is_object(src) ? json_object_get(src, key) : NULL, i, v)
    {
        if (json_is_string(v) && json_string_length(v) > 0)
            json_array_append(out, v);
    }
    json_object_set_new(dst, key, out);
}

/* A list of objects, each rebuilt with exactly the given keys (strings, or the integer keys
 * named in ints). */
static void put_list(json_t *dst, const json_t *src, const char *key, const char *const *strs,
                     const char *const *ints)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;

    json_array_foreach(json_is_object(src) ? json_object_get(src, key) : NULL, i, v)
    {
        if (!json_is_object(v))
            continue;
        json_t *e = json_object();
        for (const char *const *k = strs; *k != NULL; k++)
            put(e, v, *k, JSON_STRING);
        for (const char *const *k = ints; k != NULL && *k != NULL; k++)
            put(e, v, *k, JSON_INTEGER);
        json_array_append_new(out, e);
    }
    json_object_set_new(dst, key, out);
}

static json_t *offers(const json_t *av)
{
    static const char *const strs[] = {"offer", "delivery_method", "format", "start", "end", NULL};
    static const char *const price_keys[] = {"currency", "amount", NULL};
    json_t *out = json_array();
    size_t i;
    json_t *o;

    json_array_foreach(json_is_object(av) ? json_object_get(av, "offers") : NULL, i, o)
    {
        if (!json_is_object(o))
            continue;
        json_t *e = json_object();
        for (const char *const *k = strs; *k != NULL; k++)
            put(e, o, *k, JSON_STRING);
        put_strings(e, o, "territories");
        put_list(e, o, "price", price_keys, NULL);
        json_array_append_new(out, e);
    }
    return out;
}

/* How each top-level key is filled, in the order docs/titanos.md lists them. */
enum kind { K_STR, K_INT, K_STRINGS, K_CAST, K_CREW, K_ART, K_LANG, K_AVAIL, K_SERIES, K_SEASONS };

static const struct {
    const char *key;
    enum kind kind;
} FIELDS[] = {
    {"source", K_STR},
    {"type", K_STR},
    {"title", K_STR},
    {"original_title", K_STR},
    {"alt_titles", K_STRINGS},
    {"slug", K_STR},
    {"description", K_STR},
    {"short_description", K_STR},
    {"tagline", K_STR},
    {"release_year", K_INT},
    {"premiere", K_STR},
    {"runtime_s", K_INT},
    {"rating", K_STR},
    {"genres", K_STRINGS},
    {"network", K_STR},
    {"cast", K_CAST},
    {"crew", K_CREW},
    {"artwork", K_ART},
    {"languages", K_LANG},
    {"availability", K_AVAIL},
    {"series", K_SERIES},
    {"seasons", K_SEASONS},
    {"url", K_STR},
    {"updated_at", K_STR},
};

static json_t *languages(const json_t *src)
{
    json_t *out = json_object();
    put(out, src, "original", JSON_STRING);
    put_strings(out, src, "audio");
    put_strings(out, src, "subtitles");
    return out;
}

static json_t *availability(const json_t *src)
{
    json_t *out = json_object();
    put(out, src, "start", JSON_STRING);
    put(out, src, "end", JSON_STRING);
    put_strings(out, src, "territories");
    put(out, src, "territory_policy", JSON_STRING);
    json_object_set_new(out, "offers", offers(src));
    return out;
}

static json_t *series(const json_t *src)
{
    json_t *out = json_object();
    put(out, src, "show_id", JSON_STRING);
    put(out, src, "show_title", JSON_STRING);
    put(out, src, "season_id", JSON_STRING);
    put(out, src, "season_number", JSON_INTEGER);
    put(out, src, "episode_number", JSON_INTEGER);
    return out;
}

json_t *fmt_titanos_render(const struct target *t, const json_t *title, const struct fmt_ctx *ctx,
                           char *err, size_t errlen)
{
    const int unpublish = ctx != NULL && ctx->unpublish;
    static const char *const cast_keys[] = {"name", "character", NULL};
    static const char *const crew_keys[] = {"name", "role", NULL};
    static const char *const art_keys[] = {"type", "url", NULL};
    static const char *const season_strs[] = {"id", "title", "premiere", NULL};
    static const char *const season_ints[] = {"season_number", "episode_count", "release_year",
                                              NULL};
    const json_t *id = json_is_object(title) ? json_object_get(title, "id") : NULL;

    if (!json_is_string(id) || json_string_length(id) == 0) {
        snprintf(err, errlen, "missing: id");
        return NULL;
    }
    const char *status = json_string_value(json_object_get(title, "status"));
    int removed = unpublish || (status != NULL && strcmp(status, "unpublished") == 0);
    json_t *out = json_object();
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    json_object_set(out, "id", (json_t *)id);
    json_object_set_new(out, "status", json_string(removed ? "removed" : "published"));
    for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++) {
        const char *key = FIELDS[i].key;
        const json_t *v = json_object_get(title, key);
        switch (FIELDS[i].kind) {
        case K_STR:
            put(out, title, key, JSON_STRING);
            break;
        case K_INT:
            put(out, title, key, JSON_INTEGER);
            break;
        case K_STRINGS:
            put_strings(out, title, key);
            break;
        case K_CAST:
            put_list(out, title, key, cast_keys, NULL);
            break;
        case K_CREW:
            put_list(out, title, key, crew_keys, NULL);
            break;
        case K_ART:
            put_list(out, title, key, art_keys, NULL);
            break;
        case K_SEASONS:
            put_list(out, title, key, season_strs, season_ints);
            break;
        case K_LANG:
            json_object_set_new(out, key, languages(v));
            break;
        case K_AVAIL:
            /* A removed title keeps its metadata but offers nothing, anywhere. */
            json_object_set_new(out, key, availability(removed ? NULL : v));
            break;
        case K_SERIES:
            json_object_set_new(out, key, series(v));
            break;
        }
    }
    return out;
}
