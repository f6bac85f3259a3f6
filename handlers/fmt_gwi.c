/* GoWatchIt feed, gwi_json_1.1 (seeds/gowatchit-feed-spec.txt): a feed document holding the
 * one title as its only item. Field names and JSON types follow the spec table; where its
 * "Type" column says String for a field its description calls an array (alt_titles,
 * categories), the column gives the element type and an array of strings is sent. */

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "handlers/fmt.h"

static const char *str_of(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* key is a literal and val a string of the title (valid UTF-8 already, as Jansson keeps only
 * such) or a literal: neither is checked again (a visible share of a render). */
static void put_str(json_t *dst, const char *key, const char *val)
{
    if (val != NULL && val[0] != '\0')
        json_object_set_new_nocheck(dst, key, json_stringn_nocheck(val, strlen(val)));
}

/* For text made here from parts of the title, which a cut may have left invalid. */
static void put_str_checked(json_t *dst, const char *key, const char *val)
{
    if (val != NULL && val[0] != '\0')
        json_object_set_new_nocheck(dst, key, json_string(val));
}

static void put_arr(json_t *dst, const char *key, json_t *arr)
{
    if (json_array_size(arr) > 0)
        json_object_set_new(dst, key, arr);
    else
        json_decref(arr);
}

static json_t *strings(const json_t *arr)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && json_string_length(v) > 0)
            json_array_append(out, v);
    }
    return out;
}

static const char *catalog_type(const char *type)
{
    static const char *const map[][2] = {
        {"movie", "movies"}, {"show", "shows"}, {"season", "seasons"}, {"episode", "episodes"}};
    for (size_t i = 0; type != NULL && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(type, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* The spec table lists "thumbnail, poster, or _scene": the underscore is italics left over
 * from its markdown (GoWatchIt's own sample feed sends "scene"). Other key art (logos) has
 * no slot there and is left out. */
static const char *art_type(const char *type)
{
    if (strcmp(type, "poster") == 0 || strcmp(type, "thumbnail") == 0)
        return type;
    if (strcmp(type, "backdrop") == 0 || strcmp(type, "scene") == 0 || strcmp(type, "still") == 0)
        return "scene";
    return NULL;
}

/* The table's delivery methods ("_theatrical" is markdown italics, like "_scene"); a value
 * outside them is dropped (the field is optional) rather than sent as something GoWatchIt
 * does not expect. */
static const char *delivery_method(const char *dm)
{
    static const char *const known[] = {"stream", "download", "theatrical", "mail", "physical"};
    if (dm == NULL)
        return NULL;
    if (dm[0] == '_')
        dm++;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(dm, known[i]) == 0)
            return known[i];
    return NULL;
}

/* The table's offers: rent, buy, subscription (the usual VOD names map onto them). */
static const char *offer_kind(const char *offer)
{
    static const char *const map[][2] = {
        {"rent", "rent"}, {"buy", "buy"},      {"subscription", "subscription"}, {"tvod", "rent"},
        {"est", "buy"},   {"purchase", "buy"}, {"svod", "subscription"}};
    for (size_t i = 0; offer != NULL && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(offer, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* The target's catalog.locale as the spec's "ll_CC" (ISO 639-1, underscore, ISO 3166-1):
 * "en-us" and "EN_US" become "en_US". 0, or -1 when it cannot be one. */
static int gwi_locale(const char *in, char out[6])
{
    if (in == NULL || strlen(in) != 5 || (in[2] != '_' && in[2] != '-'))
        return -1;
    for (int i = 0; i < 5; i++) {
        char c = in[i];
        if (i == 2) {
            out[i] = '_';
            continue;
        }
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c < 'a' || c > 'z')
            return -1;
        out[i] = i < 2 ? c : (char)(c - 32);
    }
    out[5] = '\0';
    return 0;
}

static json_t *artwork(const json_t *title)
{
    json_t *out = json_array();
    size_t i;
    json_t *a;

    json_array_foreach(json_object_get(title, "artwork"), i, a)
    {
        const char *type = str_of(a, "type"), *url = str_of(a, "url");
        if (type == NULL || url == NULL || art_type(type) == NULL)
            continue;
        json_t *e = json_object();
        put_str(e, "type", art_type(type));
        put_str(e, "url", url);
        json_array_append_new(out, e);
    }
    return out;
}

/* Crew first: GoWatchIt matches on the director, then on the cast. */
static json_t *contributions(const json_t *title, int *has_director)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;

    *has_director = 0;
    json_array_foreach(json_object_get(title, "crew"), i, p)
    {
        const char *name = str_of(p, "name"), *role = str_of(p, "role");
        if (name == NULL || role == NULL)
            continue;
        json_t *e = json_object();
        put_str(e, "role", role);
        put_str(e, "name", name);
        json_array_append_new(out, e);
        if (strcmp(role, "director") == 0)
            *has_director = 1;
    }
    json_array_foreach(json_object_get(title, "cast"), i, p)
    {
        const char *name = str_of(p, "name");
        if (name == NULL)
            continue;
        json_t *e = json_object();
        put_str(e, "role", "cast");
        put_str(e, "name", name);
        json_array_append_new(out, e);
    }
    return out;
}

static const char *language_name(const char *code, size_t len)
{
    static const char *const names[][2] = {
        {"ar", "Arabic"},    {"ca", "Catalan"},   {"cs", "Czech"},    {"da", "Danish"},
        {"de", "German"},    {"el", "Greek"},     {"en", "English"},  {"es", "Spanish"},
        {"fi", "Finnish"},   {"fr", "French"},    {"he", "Hebrew"},   {"hi", "Hindi"},
        {"hu", "Hungarian"}, {"it", "Italian"},   {"ja", "Japanese"}, {"ko", "Korean"},
        {"nl", "Dutch"},     {"no", "Norwegian"}, {"pl", "Polish"},   {"pt", "Portuguese"},
        {"ro", "Romanian"},  {"ru", "Russian"},   {"sv", "Swedish"},  {"tr", "Turkish"},
        {"uk", "Ukrainian"}, {"zh", "Chinese"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i][0]) == len && strncmp(code, names[i][0], len) == 0)
            return names[i][1];
    return NULL;
}

/* BCP-47 tags ("es-MX") become code "es" (the spec's ISO 639-1 example) and, for the
 * consumer, label "Spanish (MX)"; an unknown language keeps its code and gets no label. */
static void language_formats_add(json_t *out, const char *kind, const json_t *tags)
{
    size_t i;
    json_t *v;

    json_array_foreach(tags, i, v)
    {
        const char *tag = json_is_string(v) ? json_string_value(v) : NULL;
        char code[9], label[64];
        size_t len;

        if (tag == NULL)
            continue;
        len = strcspn(tag, "-_");
        if (len < 2 || len > 8)
            continue;
        for (size_t k = 0; k < len; k++)
            code[k] = (char)(tag[k] >= 'A' && tag[k] <= 'Z' ? tag[k] + 32 : tag[k]);
        code[len] = '\0';
        const char *name = language_name(code, len);
        json_t *e = json_object();
        put_str(e, "type", kind);
        if (name != NULL) {
            /* "%s (%.16s)" of name and the tag's region, or name alone (no printf: a visible
             * share of a render) */
            size_t nl = strlen(name), o = nl;
            memcpy(label, name, nl);
            if (tag[len] != '\0' && tag[len + 1] != '\0') {
                const char *region = tag + len + 1;
                size_t rl = strnlen(region, 16);
                label[o++] = ' ';
                label[o++] = '(';
                memcpy(label + o, region, rl);
                o += rl;
                label[o++] = ')';
            }
            label[o] = '\0';
            put_str_checked(e, "label", label);
        }
        put_str_checked(e, "code", code);
        json_array_append_new(out, e);
    }
}

static json_t *availability(const json_t *offer, const json_t *av)
{
    const json_t *src = offer != NULL ? offer : av;
    const char *kind = offer_kind(str_of(offer, "offer"));
    json_t *e = json_object();
    size_t i;
    json_t *p;

    put_str(e, "offer", kind);
    put_str(e, "start", str_of(src, "start"));
    put_str(e, "end", str_of(src, "end"));
    if (kind != NULL)
        json_object_set_new(e, "subscription_required",
                            json_boolean(strcmp(kind, "subscription") == 0));
    json_t *prices = json_array();
    json_array_foreach(json_object_get(offer, "price"), i, p)
    {
        const char *cur = str_of(p, "currency"), *amount = str_of(p, "amount");
        if (cur == NULL || amount == NULL)
            continue;
        json_t *pe = json_object();
        put_str(pe, "currency", cur);
        put_str(pe, "price", amount);
        json_array_append_new(prices, pe);
    }
    put_arr(e, "price", prices);
    return e;
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* One available_format per (delivery_method, format) pair, holding its offers. A title with
 * an availability window but no offer detail still gets one format for that window. */
static json_t *available_formats(const json_t *title, const char *locale)
{
    const json_t *av = json_object_get(title, "availability");
    const json_t *offers = json_object_get(av, "offers");
    const char *url = str_of(title, "url");
    json_t *out = json_array();
    size_t i, j;
    json_t *o, *f;

    if (!json_is_object(av))
        return out;
    json_array_foreach(offers, i, o)
    {
        if (!json_is_object(o))
            continue;
        const char *dm = delivery_method(str_of(o, "delivery_method")), *fmt = str_of(o, "format");
        json_t *found = NULL;
        json_array_foreach(out, j, f)
        {
            if (same(dm, str_of(f, "delivery_method")) && same(fmt, str_of(f, "format"))) {
                found = f;
                break;
            }
        }
        if (found == NULL) {
            found = json_object();
            put_str(found, "locale", locale);
            put_str(found, "delivery_method", dm);
            put_str(found, "format", fmt);
            put_str(found, "product_url", url);
            json_object_set_new(found, "availabilities", json_array());
            json_array_append_new(out, found);
        }
        json_array_append_new(json_object_get(found, "availabilities"), availability(o, av));
    }
    if (json_array_size(out) == 0 && (str_of(av, "start") != NULL || str_of(av, "end") != NULL)) {
        f = json_object();
        put_str(f, "locale", locale);
        put_str(f, "product_url", url);
        json_t *list = json_array();
        json_array_append_new(list, availability(NULL, av));
        json_object_set_new(f, "availabilities", list);
        json_array_append_new(out, f);
    }
    return out;
}

static void missing_add(char *buf, size_t cap, const char *field)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s%s", len > 0 ? ", " : "", field);
}

json_t *fmt_gwi_render(const struct target *t, const json_t *title, const struct fmt_ctx *ctx,
                       char *err, size_t errlen)
{
    const int unpublish = ctx != NULL && ctx->unpublish;
    char missing[256] = "";
    int has_director = 0;
    json_t *item = NULL, *doc = NULL;

    if (!json_is_object(title)) {
        snprintf(err, errlen, "missing: id, title, type, release_year");
        return NULL;
    }
    const char *id = str_of(title, "id"), *type = str_of(title, "type");
    const char *name = str_of(title, "title");
    const json_t *series = json_object_get(title, "series");
    char locale[6];
    if (gwi_locale(t->catalog_locale != NULL ? t->catalog_locale : "en_US", locale) != 0) {
        snprintf(err, errlen, "invalid: catalog.locale is not ll_CC (en_US)");
        return NULL;
    }
    const char *status = str_of(title, "status");
    /* A title the CMS no longer publishes is sent as the spec's "no availabilities" item. */
    int removal = unpublish || (status != NULL && strcmp(status, "unpublished") == 0);

    item = json_object();
    if (item == NULL)
        goto oom;
    put_str(item, "id", id);
    put_str(item, "show_id", str_of(series, "show_id"));
    put_str(item, "season_id", str_of(series, "season_id"));
    put_str(item, "title", name);
    put_str(item, "locale", locale);
    put_arr(item, "alt_titles", strings(json_object_get(title, "alt_titles")));
    put_str(item, "type", type);
    const json_t *year = json_object_get(title, "release_year");
    if (json_is_integer(year)) {
        /* The spec types release_year as a String. */
        char buf[24];
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(year));
        put_str(item, "release_year", buf);
    }
    put_str(item, "premiere", str_of(title, "premiere"));
    put_str(item, "network", str_of(title, "network"));
    put_str(item, "description", str_of(title, "description"));
    put_str(item, "short_description", str_of(title, "short_description"));
    put_str(item, "url", str_of(title, "url"));
    put_str(item, "pg_rating", str_of(title, "rating"));
    put_arr(item, "categories", strings(json_object_get(title, "genres")));
    const json_t *runtime = json_object_get(title, "runtime_s");
    if (json_is_integer(runtime) && json_integer_value(runtime) > 0)
        json_object_set_new(item, "runtime", json_integer(json_integer_value(runtime)));
    put_arr(item, "contributions", contributions(title, &has_director));
    put_arr(item, "artwork", artwork(title));
    json_t *langs = json_array();
    const json_t *languages = json_object_get(title, "languages");
    language_formats_add(langs, "audio", json_object_get(languages, "audio"));
    language_formats_add(langs, "subtitles", json_object_get(languages, "subtitles"));
    put_arr(item, "language_formats", langs);
    json_object_set_new(item, "available_formats",
                        removal ? json_array() : available_formats(title, locale));

    /* A removal is validated like any item: GoWatchIt files it by the same required fields,
     * so an item without them is not a removal it can apply (render it from the full title;
     * a bare tombstone fails here, see fmt_removal_needs_title()). */
    if (id == NULL)
        missing_add(missing, sizeof(missing), "id");
    if (name == NULL)
        missing_add(missing, sizeof(missing), "title");
    if (type == NULL)
        missing_add(missing, sizeof(missing), "type");
    if (json_object_get(item, "release_year") == NULL)
        missing_add(missing, sizeof(missing), "release_year");
    if (type != NULL && (strcmp(type, "season") == 0 || strcmp(type, "episode") == 0) &&
        json_object_get(item, "premiere") == NULL)
        missing_add(missing, sizeof(missing), "premiere");
    if (type != NULL && strcmp(type, "movie") == 0 && !has_director)
        missing_add(missing, sizeof(missing), "contributions.director");
    /* url on the item, or product_url on every format; a removal has no formats, so it needs
     * the item's url. */
    int url_ok = json_object_get(item, "url") != NULL;
    const json_t *formats = json_object_get(item, "available_formats");
    if (!url_ok && json_array_size(formats) > 0) {
        size_t i;
        json_t *f;
        url_ok = 1;
        json_array_foreach(formats, i, f) url_ok &= str_of(f, "product_url") != NULL;
    }
    if (!url_ok)
        missing_add(missing, sizeof(missing), "url");
    if (missing[0] != '\0') {
        snprintf(err, errlen, "missing: %s", missing);
        json_decref(item);
        return NULL;
    }

    doc = json_object();
    if (doc == NULL)
        goto oom;
    const char *provider = t->catalog_provider != NULL ? t->catalog_provider : t->name;
    put_str(doc, "catalog_provider", provider);
    /* The spec allows catalog_name to repeat catalog_provider. */
    put_str(doc, "catalog_name", t->catalog_name != NULL ? t->catalog_name : provider);
    json_t *types = json_array();
    if (catalog_type(type) != NULL)
        json_array_append_new(types, json_string(catalog_type(type)));
    json_object_set_new(doc, "catalog_types", types);
    json_object_set_new(doc, "catalog_period", json_string("incremental"));
    json_object_set_new(doc, "_schema_version", json_string("gwi_json_1.1"));
    json_t *items = json_array();
    json_array_append_new(items, item);
    json_object_set_new(doc, "items", items);
    return doc;

oom:
    json_decref(item);
    snprintf(err, errlen, "out of memory");
    return NULL;
}
