/* TitanOS: one self-contained object per title whose keys and nesting never vary
 * (seeds/titanos-delivery-requirements.txt, "Stability"). Every key of docs/titanos.md is
 * always written; what the title lacks is null, or [] for lists. */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "handlers/fmt.h"

/* dst[key] = src[from] when it has the wanted JSON type, else null: the key is there either
 * way. */
static void put_as(json_t *dst, const char *key, const json_t *src, const char *from,
                   json_type want)
{
    json_t *v = json_is_object(src) ? json_object_get(src, from) : NULL;
    if (v != NULL && json_typeof(v) == want && !(want == JSON_STRING && json_string_length(v) == 0))
        json_object_set(dst, key, v);
    else
        json_object_set_new(dst, key, json_null());
}

static void put(json_t *dst, const json_t *src, const char *key, json_type want)
{
    put_as(dst, key, src, key, want);
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
enum kind {
    K_STR,
    K_INT,
    K_STRINGS,
    K_CAST,
    K_CREW,
    K_ART,
    K_LANG,
    K_AVAIL,
    K_SERIES,
    K_SEASONS,
    K_TYPE,
    K_ORIGINAL,
    K_TITLES,
    K_SYNOPSES,
    K_CREATED,
    K_UPDATED
};

static const struct {
    const char *key;
    enum kind kind;
} FIELDS[] = {
    {"source", K_STR},
    {"type", K_TYPE},
    {"title", K_STR},
    {"original_title", K_ORIGINAL},
    {"titles", K_TITLES},
    {"alt_titles", K_STRINGS},
    {"slug", K_STR},
    {"description", K_STR},
    {"synopses", K_SYNOPSES},
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
    {"created_at", K_CREATED},
    {"updated_at", K_UPDATED},
};

/* TitanOS's Standard Schema names shows "tv_show"; the other types keep their names. */
static json_t *titanos_type(const json_t *title)
{
    const char *type = json_string_value(json_object_get(title, "type"));
    if (type == NULL || type[0] == '\0')
        return json_null();
    return json_string(strcmp(type, "show") == 0 ? "tv_show" : type);
}

static const char *str_of(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The locale of the title's texts: the target's catalog.locale when set (the market the
 * target's feed is for: the operator spells it as TitanOS expects), else the title's own
 * language (as the CMS gives it, "de", "es-MX": the original language, else the first audio
 * language), else "und" (BCP 47: undetermined). */
static const char *text_locale(const struct target *t, const json_t *title)
{
    if (t->catalog_locale != NULL && t->catalog_locale[0] != '\0')
        return t->catalog_locale;
    const json_t *langs = json_object_get(title, "languages");
    const char *lang = str_of(langs, "original");
    if (lang == NULL) {
        /* No original language named: the first audio track's is what the texts are in. */
        const json_t *first = json_array_get(json_object_get(langs, "audio"), 0);
        lang = json_is_string(first) && json_string_length(first) > 0 ? json_string_value(first)
                                                                      : NULL;
    }
    return lang != NULL ? lang : "und";
}

static void push_text(json_t *arr, const char *key, const char *locale, const char *text)
{
    json_t *e = json_object();
    if (e == NULL)
        return;
    json_object_set_new(e, "locale", json_string(locale));
    json_object_set_new(e, key, json_string(text));
    json_array_append_new(arr, e);
}

/* titles: the title in the text locale, and the original title in the original language
 * when both differ from it. */
static json_t *titles(const struct target *t, const json_t *title)
{
    const char *locale = text_locale(t, title), *name = str_of(title, "title");
    const char *orig = str_of(title, "original_title");
    const char *orig_lang = str_of(json_object_get(title, "languages"), "original");
    json_t *out = json_array();

    if (out == NULL)
        return NULL;
    if (name != NULL)
        push_text(out, "title", locale, name);
    if (orig != NULL && orig_lang != NULL && (name == NULL || strcmp(orig, name) != 0) &&
        strcmp(orig_lang, locale) != 0)
        push_text(out, "title", orig_lang, orig);
    return out;
}

static json_t *synopses(const struct target *t, const json_t *title)
{
    const char *text = str_of(title, "description");
    json_t *out = json_array();
    if (out != NULL && text != NULL)
        push_text(out, "synopsis", text_locale(t, title), text);
    return out;
}

/* The render time as RFC 3339 UTC: updated_at when neither the CMS nor the event gave one. */
static json_t *now_rfc3339(void)
{
    char buf[32];
    struct tm tm;
    time_t now = time(NULL);
    if (gmtime_r(&now, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}

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

    /* The Standard Schema's required rows need a type and a title (original_title, titles);
     * a bare tombstone has neither, so removals too are rendered from the full title. */
    /* The Standard Schema's required rows need a type and a title (original_title, titles);
     * a bare tombstone has neither, so removals too are rendered from the full title. */
    char missing[64] = "";
    if (!json_is_string(id) || json_string_length(id) == 0)
        strcat(missing, ", id");
    if (str_of(title, "type") == NULL)
        strcat(missing, ", type");
    if (str_of(title, "title") == NULL)
        strcat(missing, ", title");
    if (missing[0] != '\0') {
        snprintf(err, errlen, "missing: %s", missing + 2);
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
        case K_TYPE:
            json_object_set_new(out, key, titanos_type(title));
            break;
        case K_ORIGINAL:
            /* The title itself when the CMS names no original (the schema requires one). */
            put_as(out, key, title, str_of(title, key) != NULL ? key : "title", JSON_STRING);
            break;
        case K_TITLES:
            json_object_set_new(out, key, titles(t, title));
            break;
        case K_SYNOPSES:
            json_object_set_new(out, key, synopses(t, title));
            break;
        case K_UPDATED:
            /* The CMS's, else the event's (fmt_render_ctx), else the render time. */
            if (str_of(title, key) != NULL)
                put(out, title, key, JSON_STRING);
            else
                json_object_set_new(out, key, now_rfc3339());
            break;
        case K_CREATED:
            /* The CMS's, else when the relay first saw the title (fmt_render_ctx), else the
             * updated_at just written (K_UPDATED comes after: read the title's). */
            if (str_of(title, key) != NULL)
                put(out, title, key, JSON_STRING);
            else if (str_of(title, "updated_at") != NULL)
                put_as(out, key, title, "updated_at", JSON_STRING);
            else
                json_object_set_new(out, key, now_rfc3339());
            break;
        }
    }
    return out;
}
