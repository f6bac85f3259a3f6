/* The fuzz harnesses (fuzz/harness.h). Compiled into every libFuzzer target and #included by
 * tests/unit/test_fuzz_regressions.c. */

#include "fuzz/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "core/config.h"
#include "core/jread.h"
#include "handlers/backoff.h"
#include "handlers/cms.h"
#include "handlers/fmt.h"
#include "handlers/hplain.h"
#include "handlers/hresp.h"
#include "core/util.h"
#include "queue/catalog.h"
#include "relay/envelope.h"
#include "relay/chunked.h"
#include "relay/http_parse.h"
#include "relay/sig.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#include "fuzz/fmt_check.c" /* fmt_check_document(): the renders' structural rules */

/* A NUL-terminated copy of exactly n bytes, so ASan sees any read past the input. */
static char *fuzz_dup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Where the first NUL of an error buffer is: every error message must be terminated. */
static void check_err(const char *err, size_t cap)
{
    FUZZ_CHECK(memchr(err, '\0', cap) != NULL);
}

/* ---- signatures ---- */

#define FUZZ_MAX_HEADERS 16

struct fuzz_hdrs {
    const char *name[FUZZ_MAX_HEADERS];
    const char *value[FUZZ_MAX_HEADERS];
    size_t n;
};

static const char *fuzz_hdr_get(void *ctx, const char *name)
{
    struct fuzz_hdrs *h = ctx;
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

int fuzz_sig(const uint8_t *data, size_t size)
{
    /* The vectors of tests/unit/test_sig.c: GitHub's, Standard Webhooks' and the Stripe one;
     * an empty secret and an undecodable whsec_ one exercise the skip paths. */
    static struct secret hmac_secrets[] = {
        {"the-new-secret", 14}, {"It's a Secret to Everybody", 26}, {"", 0}};
    static struct secret stripe_secrets[] = {{"whsec_stripe_test_secret_value", 30}};
    static struct secret sw_secrets[] = {{"whsec_dGhlLW5ldy1zZWNyZXQtdmFsdWU=", 34},
                                         {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 38},
                                         {"whsec_!!not-base64", 18}};
    static const int64_t now[] = {0, 1700000000, 1614265330};
    struct source src = {.name = "fuzz", .tolerance_s = 300};
    struct fuzz_hdrs h = {.n = 0};

    if (size < 1)
        return 0;
    int scheme = data[0] % 3;
    src.scheme = (enum sig_scheme)scheme;
    if (scheme == SIG_HMAC_SHA256_HEX) {
        src.sig_header = "X-Hub-Signature-256";
        src.secrets = hmac_secrets;
        src.n_secrets = 3;
    } else if (scheme == SIG_STRIPE) {
        src.secrets = stripe_secrets;
        src.n_secrets = 1;
    } else {
        src.secrets = sw_secrets;
        src.n_secrets = 3;
    }

    /* Headers are split in place in a NUL-terminated copy; the body is copied on its own. */
    char *text = fuzz_dup(data + 1, size - 1);
    size_t n = size - 1, off = 0;
    while (off < n) {
        char *line = text + off;
        char *nl = memchr(line, '\n', n - off);
        size_t len = nl != NULL ? (size_t)(nl - line) : n - off;
        off += len + (nl != NULL);
        if (len == 0)
            break;
        line[len] = '\0';
        char *colon = strchr(line, ':');
        if (colon == NULL || h.n >= FUZZ_MAX_HEADERS)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        h.name[h.n] = line;
        h.value[h.n] = v;
        h.n++;
    }
    size_t blen = n - off;
    unsigned char *body = blen > 0 ? (unsigned char *)fuzz_dup(data + 1 + off, blen) : NULL;
    enum sig_result r = sig_verify(&src, fuzz_hdr_get, &h, body, blen, now[scheme]);
    FUZZ_CHECK(r == SIG_OK || r == SIG_MISSING || r == SIG_INVALID || r == SIG_OUT_OF_TOLERANCE);
    free(body);
    free(text);
    return 0;
}

/* ---- envelopes ---- */

int fuzz_envelope(const uint8_t *data, size_t size)
{
    static struct source encora = {.name = "encora",
                                   .kind = SOURCE_ENCORASTREAM,
                                   .api_base_url = "https://cms.example.com/v2"};
    static struct source movida = {
        .name = "movida", .kind = SOURCE_MOVIDA, .api_base_url = "https://movida.example.com/api"};
    char *fallback = NULL, err[256];
    struct envelope *env = (struct envelope *)1;

    if (size < 1)
        return 0;
    const struct source *src = (data[0] & 1) ? &movida : &encora;
    data++;
    size--;
    if (data[-1] & 2) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t flen = nl != NULL ? (size_t)(nl - data) : size;
        fallback = fuzz_dup(data, flen);
        data += flen + (nl != NULL);
        size -= flen + (nl != NULL);
    }
    char *body = fuzz_dup(data, size);
    /* The envelope's reader (core/jread) must give Jansson's tree, or leave to Jansson only
     * what Jansson refuses or a scalar document. */
    if (util_utf8_valid((const unsigned char *)body, size)) {
        json_t *fast = jread_parse_flags(body, size, JREAD_REJECT_DUPLICATES);
        json_error_t jerr;
        json_t *slow = json_loadb(body, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (fast != NULL)
            FUZZ_CHECK(slow != NULL && json_equal(fast, slow));
        else
            FUZZ_CHECK(slow == NULL || !(json_is_object(slow) || json_is_array(slow)));
        json_decref(slow);
        json_decref(fast);
    }
    memset(err, 'x', sizeof(err));
    enum envelope_result r = envelope_parse(src, body, size, fallback, &env, err, sizeof(err));
    if (r == ENVELOPE_OK) {
        FUZZ_CHECK(env != NULL && env->id != NULL && env->type != NULL);
        if (envelope_is_content(env))
            FUZZ_CHECK(env->content_id != NULL && env->content_id[0] != '\0');
    } else {
        FUZZ_CHECK(r == ENVELOPE_INVALID_JSON || r == ENVELOPE_INVALID);
        FUZZ_CHECK(env == NULL);
        check_err(err, sizeof(err));
    }
    envelope_free(env);
    free(body);
    free(fallback);
    return 0;
}

/* ---- config ---- */

int fuzz_config(const uint8_t *data, size_t size)
{
    static const enum config_role roles[] = {CONFIG_ROLE_RELAY, CONFIG_ROLE_WORKER,
                                             CONFIG_ROLE_CTL};
    char *json = fuzz_dup(data, size);
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        char *errors = NULL;
        struct config *cfg = config_parse(json, size, "fuzz.json", roles[i], &errors);
        FUZZ_CHECK((cfg == NULL) != (errors == NULL));
        if (cfg != NULL) {
            for (size_t s = 0; s < cfg->n_sources; s++) {
                const struct source *src = &cfg->sources[s];
                FUZZ_CHECK(config_source(cfg, src->name) == src);
                /* The single template fills every type; config_source_web_url agrees. */
                for (int k = 0; k < CONTENT_TYPE_COUNT; k++) {
                    if (src->web_url)
                        FUZZ_CHECK(src->web_urls[k] && !strcmp(src->web_urls[k], src->web_url));
                }
                FUZZ_CHECK(config_source_web_url(src, "episode") == src->web_urls[CONTENT_EPISODE]);
                FUZZ_CHECK(config_source_web_url(src, "tv_show") == NULL);
            }
            for (size_t t = 0; t < cfg->n_targets; t++) {
                const struct target *tg = config_target(cfg, cfg->targets[t].name);
                FUZZ_CHECK(tg != NULL);
                /* A push target has a url, a feed target none but a feed with credentials. */
                FUZZ_CHECK((tg->delivery == DELIVERY_PUSH) == (tg->url != NULL));
                FUZZ_CHECK(tg->method != NULL);
                if (tg->delivery == DELIVERY_FEED)
                    FUZZ_CHECK(tg->feed.enabled && tg->auth.type == AUTH_NONE);
                if (tg->feed.enabled)
                    FUZZ_CHECK(tg->feed.auth.type != AUTH_NONE &&
                               tg->feed.auth.type != AUTH_DIGEST && tg->feed.page_size >= 1 &&
                               tg->feed.page_size <= 1000);
                (void)config_target_matches(tg, "encorastream", "movie");
                (void)config_target_matches(tg, "movida", NULL);
            }
            for (const char *const *w = config_warnings(cfg); *w; w++)
                FUZZ_CHECK(strchr(*w, '\n') == NULL);
        }
        config_free(cfg);
        free(errors);
    }
    free(json);
    return 0;
}

/* ---- CMS responses through normalization and every renderer ---- */

#define FUZZ_MAX_BODIES 8 /* the worker's MAX_FETCHES */

int fuzz_cms(const uint8_t *data, size_t size)
{
    static struct source encora = {.name = "encora",
                                   .kind = SOURCE_ENCORASTREAM,
                                   .web_url = "https://watch.example.com/{type}s/{slug}?i={id}",
                                   .api_base_url = "https://cms.example.com/v2"};
    static struct source movida = {
        .name = "movida", .kind = SOURCE_MOVIDA, .api_base_url = "https://movida.example.com/api"};
    static const struct {
        const struct source *src;
        struct cms_ref ref;
    } refs[8] = {
        {&encora, {"movie", "497f6eca-6276-4993-bfeb-53cbbbba6f08", NULL, -1, -1}},
        {&encora, {"show", "503c9125-a11a-4f69-b904-e679735399e2", NULL, -1, -1}},
        {&encora, {"season", "s1", "503c9125-a11a-4f69-b904-e679735399e2", 1, -1}},
        {&encora,
         {"episode", "a7a26ff2-e851-45b6-9634-d595f45458b7", "503c9125-a11a-4f69-b904-e679735399e2",
          1, 2}},
        {&movida, {NULL, "73", NULL, -1, -1}},
        {&movida, {"movie", "30391", NULL, -1, -1}},
        {&movida, {"episode", "73", NULL, -1, -1}},
        {&movida, {"show", "10113965", NULL, -1, -1}},
    };
    static struct target targets[] = {
        {.name = "archive", .format = FORMAT_CANONICAL},
        {.name = "gowatchit",
         .format = FORMAT_GWI_JSON_1_1,
         .catalog_provider = "Example Media",
         .catalog_name = "example-vod",
         .catalog_locale = "en_US"},
        {.name = "titanos", .format = FORMAT_TITANOS},
    };
    json_t *bodies[FUZZ_MAX_BODIES];
    size_t n = 0;
    char err[512];

    if (size < 1)
        return 0;
    const struct source *src = refs[data[0] % 8].src;
    const struct cms_ref *ref = &refs[data[0] % 8].ref;
    size_t off = 1;
    int more = 1;

    /* As the worker: fetch while cms_next_url() asks, stop at the first unparsable answer. */
    for (;;) {
        char *url = cms_next_url(src, ref, bodies, n);
        if (url == NULL)
            break;
        free(url);
        if (n >= FUZZ_MAX_BODIES || !more)
            goto out;
        const uint8_t *rs = memchr(data + off, 0x1e, size - off);
        size_t len = rs != NULL ? (size_t)(rs - (data + off)) : size - off;
        char *text = fuzz_dup(data + off, len);
        json_error_t jerr;
        bodies[n] = json_loadb(text, len, 0, &jerr);
        /* the worker reads source documents with core/jread: the same verdict, the same tree */
        json_t *fast = jread_parse(text, len);
        FUZZ_CHECK((fast == NULL) == (bodies[n] == NULL));
        if (fast != NULL) {
            char *a = json_dumps(fast, JSON_COMPACT), *b = json_dumps(bodies[n], JSON_COMPACT);
            FUZZ_CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
            free(a);
            free(b);
        }
        json_decref(fast);
        free(text);
        if (bodies[n] == NULL)
            goto out;
        n++;
        off += len + (rs != NULL);
        more = rs != NULL;
    }

    memset(err, 'x', sizeof(err));
    json_t *title = cms_normalize(src, ref, bodies, n, err, sizeof(err));
    json_t *tomb = cms_tombstone(src, ref);
    if (title == NULL)
        check_err(err, sizeof(err));
    for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
        /* The publish, the removal from the full title, the removal from the event alone. */
        for (int pass = 0; pass < 3; pass++) {
            json_t *in = pass == 2 ? tomb : title;
            const struct fmt_ctx ctx = {.unpublish = pass > 0,
                                        .event_at = "2026-11-20T10:00:00Z",
                                        .first_seen = pass == 1 ? NULL : "2026-11-01T08:00:00Z"};
            if (in == NULL)
                continue;
            memset(err, 'x', sizeof(err));
            json_t *doc = fmt_render_ctx(&targets[t], in, &ctx, err, sizeof(err));
            if (doc == NULL) {
                check_err(err, sizeof(err));
                continue;
            }
            fmt_check_document(targets[t].format, doc);
            /* What job_push() sends, and the catalog's copy of the title: the worker's writer
             * gives Jansson's text byte for byte, spliced or not. */
            char *text = json_dumps(doc, JSON_COMPACT);
            FUZZ_CHECK(text != NULL);
            char *item = fmt_dump(catalog_title_doc(targets[t].format, doc), NULL);
            char *body = fmt_body(&targets[t], doc, item, NULL);
            FUZZ_CHECK(item != NULL && body != NULL && strcmp(body, text) == 0);
            free(body);
            free(item);
            free(text);
            json_decref(doc);
        }
    }
    json_decref(title);
    json_decref(tomb);
out:
    for (size_t i = 0; i < n; i++)
        json_decref(bodies[i]);
    return 0;
}

/* ---- Retry-After ---- */

int fuzz_retry_after(const uint8_t *data, size_t size)
{
    /* "Wed, 21 Oct 2015 07:28:00 GMT", the RFC's example date. */
    static const int64_t now_ms = INT64_C(1445412480000);
    char *value = fuzz_dup(data, size);
    int64_t delay = -1;
    if (backoff_parse_retry_after(value, now_ms, &delay) == 0) {
        FUZZ_CHECK(delay >= 0);
        /* How the worker uses it: the floor of the next retry's delay. */
        int64_t d = backoff_delay_ms(1000, 3600000, 3, delay, 0xdeadbeefu);
        FUZZ_CHECK(d >= delay);
    }
    free(value);
    return 0;
}

/* ---- HTTP request heads (relay/http_parse.c) and body framing (relay/chunked.c) ---- */

static int fuzz_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* What a parsed head must satisfy, whatever the bytes: nothing a front proxy could frame
 * differently gets through. */
static void fuzz_check_head(const struct http_head *h)
{
    int n_cl = 0, n_te = 0, n_host = 0;
    FUZZ_CHECK(h->method && h->method[0] != '\0');
    for (const char *p = h->method; *p; p++)
        FUZZ_CHECK(fuzz_tchar((unsigned char)*p));
    FUZZ_CHECK(h->path && h->path[0] == '/');
    for (const char *p = h->path; *p; p++)
        FUZZ_CHECK((unsigned char)*p > 0x20 && *p != 0x7f);
    FUZZ_CHECK(h->minor == 0 || h->minor == 1);
    FUZZ_CHECK(h->n_fields >= 0 && h->n_fields <= HTTP_MAX_HEADERS);
    for (int i = 0; i < h->n_fields; i++) {
        const char *name = h->fields[i].name, *v = h->fields[i].value;
        FUZZ_CHECK(name[0] != '\0');
        for (const char *p = name; *p; p++)
            FUZZ_CHECK(fuzz_tchar((unsigned char)*p));
        size_t vl = strlen(v);
        FUZZ_CHECK(vl == 0 ||
                   (v[0] != ' ' && v[0] != '\t' && v[vl - 1] != ' ' && v[vl - 1] != '\t'));
        for (const char *p = v; *p; p++)
            FUZZ_CHECK(*p == '\t' || ((unsigned char)*p >= 0x20 && *p != 0x7f));
        n_cl += strcasecmp(name, "Content-Length") == 0;
        n_te += strcasecmp(name, "Transfer-Encoding") == 0;
        n_host += strcasecmp(name, "Host") == 0;
    }
    FUZZ_CHECK(n_cl <= 1 && n_te <= 1 && !(n_cl && n_te) && n_host <= 1);
    FUZZ_CHECK(h->minor == 0 || n_host == 1);
    FUZZ_CHECK(h->chunked == (n_te == 1));
    FUZZ_CHECK(h->content_length >= -1 && (h->content_length >= 0) == (n_cl == 1));
}

int fuzz_http(const uint8_t *data, size_t size)
{
    enum { MAX_HEAD = 16384, MAX_BODY = 1024 };
    struct evbuffer *in = evbuffer_new(), *body = evbuffer_new();
    FUZZ_CHECK(in && body);
    evbuffer_add(in, data, size);
    /* One connection's bytes, request after request, framed the way relay/server.c does. */
    for (;;) {
        unsigned char b;
        while (evbuffer_copyout(in, &b, 1) == 1 && (b == '\r' || b == '\n'))
            evbuffer_drain(in, 1);
        size_t n = evbuffer_get_length(in);
        size_t look = n < MAX_HEAD ? n : MAX_HEAD;
        if (look == 0)
            break;
        const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)look);
        size_t hl = http_head_length(p, look);
        if (hl == 0)
            break;
        FUZZ_CHECK(hl <= look);
        char *head = malloc(hl); /* exact size: ASan sees any read past the head */
        FUZZ_CHECK(head);
        evbuffer_remove(in, head, hl);
        struct http_head h;
        struct http_parse_error err;
        if (http_parse_head(&h, head, hl, &err) != 0) {
            FUZZ_CHECK(err.status == 400 || err.status == 431 || err.status == 501 ||
                       err.status == 505);
            FUZZ_CHECK(err.code && err.message);
            free(head);
            break; /* the server closes the connection after a refusal */
        }
        fuzz_check_head(&h);
        (void)http_head_field(&h, "Content-Type");
        int more = 1;
        if (h.chunked) {
            struct chunked ck;
            chunked_init(&ck);
            enum chunked_result rc = chunked_feed(&ck, in, body, MAX_BODY, MAX_HEAD);
            FUZZ_CHECK(evbuffer_get_length(body) <= MAX_BODY);
            more = rc == CHUNKED_DONE;
            evbuffer_drain(body, evbuffer_get_length(body));
        } else if (h.content_length > 0) {
            more =
                h.content_length <= MAX_BODY && evbuffer_get_length(in) >= (size_t)h.content_length;
            if (more)
                evbuffer_drain(in, (size_t)h.content_length);
        }
        int keep = h.keep_alive;
        free(head);
        if (!more || !keep)
            break;
    }
    evbuffer_free(in);
    evbuffer_free(body);
    return 0;
}

struct hresp_sink {
    size_t total;
};

static int hresp_take(void *ctx, const char *p, size_t n, const char **err)
{
    struct hresp_sink *k = ctx;
    (void)err;
    FUZZ_CHECK(n > 0);
    volatile char sum = 0;
    for (size_t i = 0; i < n; i++)
        sum ^= p[i]; /* every byte handed over must be readable */
    (void)sum;
    k->total += n;
    return 0;
}

/* Parses data[0..have) in a copy of exactly that size (ASan sees over-reads). */
static enum hresp_result hresp_step(struct hresp *r, int head, const uint8_t *data, size_t have,
                                    size_t *used, struct hresp_sink *k)
{
    char *w = malloc(have ? have : 1);
    FUZZ_CHECK(w);
    memcpy(w, data, have);
    enum hresp_result rc =
        head ? hresp_head(r, w, have, used) : hresp_body(r, w, have, used, hresp_take, k);
    free(w);
    FUZZ_CHECK(*used <= have);
    FUZZ_CHECK(rc == HRESP_MORE || rc == HRESP_DONE || rc == HRESP_BAD);
    FUZZ_CHECK(rc != HRESP_BAD || r->error != NULL);
    return rc;
}

int fuzz_hresp(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* byte 0: how many bytes arrive per read (1..64), as the client sees them */
    size_t step = 1 + data[0] % 64, off = 0, have = 0;
    data++;
    size--;
    /* every URL-shaped line is checked too */
    {
        char *u = fuzz_dup(data, size < 256 ? size : 256);
        struct hplain_target t;
        if (hplain_parse_url(u, &t) == 0) {
            FUZZ_CHECK(strncmp(u, "http://", 7) == 0);
            FUZZ_CHECK(t.port > 0 && t.port < 65536);
            FUZZ_CHECK(t.path_len == strlen(t.path));
        }
        free(u);
    }
    /* response after response while the connection would be kept */
    for (int responses = 0; responses < 64; responses++) {
        struct hresp r;
        struct hresp_sink k = {0};
        enum hresp_result rc = HRESP_MORE;
        int head = 1;
        hresp_init(&r);
        for (;;) {
            if (have < size)
                have = size - have < step ? size : have + step;
            size_t used = 0;
            rc = hresp_step(&r, head, data + off, have - off, &used, &k);
            if (rc == HRESP_BAD)
                return 0;
            off += used;
            if (rc == HRESP_DONE && head) {
                FUZZ_CHECK(r.status >= 100 && r.status <= 999);
                if (r.status < 200)
                    hresp_init(&r);
                else
                    head = 0;
                continue;
            }
            if (rc == HRESP_DONE)
                break;
            if (have == size)
                break; /* the connection ends here */
            if (head && have - off >= HRESP_MAX_HEAD)
                return 0;
        }
        if (rc != HRESP_DONE)
            return 0;
        if (!r.chunked && r.content_length >= 0 && hresp_has_body(&r))
            FUZZ_CHECK(k.total == (size_t)r.content_length);
        FUZZ_CHECK(!hresp_ends_at_close(&r));
        if (!r.keep_alive || off == size)
            return 0;
    }
    return 0;
}
