#include "handlers/hclient.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/util.h"
#include "handlers/hbody.h"
#include "handlers/hplain.h"

struct hclient_call {
    struct hclient *hc;
    struct hplain_call *plain; /* sent by handlers/hplain.c, not curl */
    CURL *easy;
    struct curl_slist *headers; /* one allocation: the nodes and their strings */
    char *url;                  /* only when the auth adds a query parameter */
    char *body;
    struct hbody resp; /* response body, up to max_body bytes */
    char retry_after[128];
    int have_retry_after;
    char errbuf[CURL_ERROR_SIZE];
    int64_t started;
    int configured; /* easy has the options every request sets alike (set_fixed) */
    int dirty;      /* easy has auth options set: reset before its next request */
    hclient_cb cb;
    void *arg;
    struct hclient_call *prev, *next;
};

#define SPARE_EASY_MAX 256 /* finished easy handles kept for reuse */

struct hclient {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct hclient_call *calls;
    size_t active;
    /* curl_easy_init per request was a visible share of a busy worker: reset and reuse. */
    CURL *spare[SPARE_EASY_MAX];
    int spare_configured[SPARE_EASY_MAX];
    size_t n_spare;
    /* The event of every socket curl opened, by fd, until curl closes it (hsock). */
    struct hsock **socks;
    size_t n_socks;
    int no_proxy_env; /* no proxy variable in the environment: curl need not look (hclient_new) */
    /* Plain http:// to IP literals without a proxy: curl's per-request work (building the
     * request a character at a time, parsing and rebuilding the URL, its connection checks)
     * was about a quarter of a busy worker's CPU. */
    struct hplain *plain;
};

/* One per socket curl watches. A connection's socket (opened through on_open_socket) is kept
 * until curl closes it (on_close_socket), and registered for reading while it waits in curl's
 * cache: curl stops watching it after every transfer and watches it again for the next, and
 * taking it out of epoll and putting it back was two epoll_ctl calls per request. Other
 * sockets curl watches (its resolver's) go at CURL_POLL_REMOVE, as they are not closed
 * through the callback. */
struct hsock {
    struct hclient *hc;
    curl_socket_t fd;
    int keep;    /* opened by on_open_socket: kept until on_close_socket */
    short kind;  /* what ev is registered for, when added */
    int added;   /* ev is in the loop */
    int watched; /* curl watches the socket (between its socket callback and POLL_REMOVE) */
    struct event *ev;
};

static void check_done(struct hclient *hc);

static void on_socket_event(evutil_socket_t fd, short kind, void *arg)
{
    struct hsock *hs = arg;
    struct hclient *hc = hs->hc;
    int running = 0;
    if (!hs->watched) {
        /* An idle connection became readable: the server closed it (or sent what it should
         * not). Curl finds out when it next checks the connection; until then, no events. */
        event_del(hs->ev);
        hs->added = 0;
        return;
    }
    int action =
        ((kind & EV_READ) ? CURL_CSELECT_IN : 0) | ((kind & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(hc->multi, fd, action, &running);
    check_done(hc);
}

static void on_timer(evutil_socket_t fd, short kind, void *arg)
{
    struct hclient *hc = arg;
    int running = 0;
    curl_multi_socket_action(hc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(hc);
}

/* CURLMOPT_TIMERFUNCTION: never drive curl from inside its own callback, only arm the timer. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct hclient *hc = userp;
    if (timeout_ms < 0) {
        evtimer_del(hc->timer);
        return 0;
    }
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(hc->timer, &tv);
    return 0;
}

static struct hsock *sock_get(const struct hclient *hc, curl_socket_t s)
{
    return s >= 0 && (size_t)s < hc->n_socks ? hc->socks[s] : NULL;
}

static void sock_drop(struct hclient *hc, curl_socket_t s)
{
    struct hsock *hs = sock_get(hc, s);
    if (hs == NULL)
        return;
    event_free(hs->ev); /* deletes it first when added */
    free(hs);
    hc->socks[s] = NULL;
}

static struct hsock *sock_new(struct hclient *hc, curl_socket_t s)
{
    if (s < 0)
        return NULL;
    if ((size_t)s >= hc->n_socks) {
        size_t n = hc->n_socks ? hc->n_socks : 64;
        while (n <= (size_t)s)
            n *= 2;
        struct hsock **v = realloc(hc->socks, n * sizeof(*v));
        if (v == NULL)
            return NULL;
        memset(v + hc->n_socks, 0, (n - hc->n_socks) * sizeof(*v));
        hc->socks = v;
        hc->n_socks = n;
    }
    struct hsock *hs = calloc(1, sizeof(*hs));
    if (hs == NULL)
        return NULL;
    hs->hc = hc;
    hs->fd = s;
    hs->ev = event_new(hc->base, s, EV_READ | EV_PERSIST, on_socket_event, hs);
    if (hs->ev == NULL) {
        free(hs);
        return NULL;
    }
    hc->socks[s] = hs;
    return hs;
}

/* CURLOPT_OPENSOCKETFUNCTION: a new socket's number may be a closed one's; whatever was kept
 * under it is gone. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct hclient *hc = clientp;
    (void)purpose;
    curl_socket_t s = socket(addr->family, addr->socktype, addr->protocol);
    if (s == CURL_SOCKET_BAD)
        return s;
    sock_drop(hc, s);
    struct hsock *hs = sock_new(hc, s);
    if (hs)
        hs->keep = 1; /* else on_curl_socket makes one that goes at CURL_POLL_REMOVE */
    return s;
}

/* CURLOPT_CLOSESOCKETFUNCTION: out of the loop before the number can be reused. */
static int on_close_socket(void *clientp, curl_socket_t s)
{
    struct hclient *hc = clientp;
    sock_drop(hc, s);
    return close(s);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct hclient *hc = userp;
    struct hsock *hs = socketp ? socketp : sock_get(hc, s);
    (void)easy;

    if (what == CURL_POLL_REMOVE) {
        if (hs) {
            hs->watched = 0;
            curl_multi_assign(hc->multi, s, NULL);
            if (!hs->keep) {
                sock_drop(hc, s);
                return 0;
            }
            /* Kept for reading only: a write interest on an idle socket would fire at once. */
            if (hs->added && hs->kind != (EV_READ | EV_PERSIST)) {
                event_del(hs->ev);
                hs->added = 0;
            }
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (hs == NULL && (hs = sock_new(hc, s)) == NULL)
        return -1;
    if (!hs->watched) {
        hs->watched = 1;
        curl_multi_assign(hc->multi, s, hs);
    }
    if (hs->added && hs->kind == kind)
        return 0; /* already watching exactly this: no epoll_ctl */
    if (hs->added)
        event_del(hs->ev);
    event_assign(hs->ev, hc->base, s, kind, on_socket_event, hs);
    hs->kind = kind;
    if (event_add(hs->ev, NULL) != 0)
        return -1;
    hs->added = 1;
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct hclient_call *c = userp;
    size_t n = size * nmemb;
    /* 0 on failure: curl fails the transfer with CURLE_WRITE_ERROR */
    return hbody_append(&c->resp, ptr, n) == 0 ? n : 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct hclient_call *c = userp;
    size_t n = size * nmemb;

    /* A new status line starts a new response (digest's 401 round trip, 100 Continue):
     * only the final response's Retry-After counts. */
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        c->have_retry_after = 0;
        return n;
    }
    if (n > 12 && strncasecmp(ptr, "retry-after:", 12) == 0) {
        size_t i = 12, end = n;
        while (i < end && (ptr[i] == ' ' || ptr[i] == '\t'))
            i++;
        while (end > i && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n' || ptr[end - 1] == ' '))
            end--;
        size_t len = end - i;
        if (len < sizeof(c->retry_after)) {
            memcpy(c->retry_after, ptr + i, len);
            c->retry_after[len] = '\0';
            c->have_retry_after = 1;
        }
    }
    return n;
}

static void call_free(struct hclient_call *c)
{
    if (c == NULL)
        return;
    if (c->easy) {
        struct hclient *hc = c->hc;
        if (hc->n_spare < SPARE_EASY_MAX) {
            /* Options stay set between requests: every request sets all that vary, except
             * the auth's, which only some set (a reset then, or the next request would send
             * the credentials on). */
            int configured = c->configured;
            if (c->dirty) {
                curl_easy_reset(c->easy);
                configured = 0;
            }
            hc->spare_configured[hc->n_spare] = configured;
            hc->spare[hc->n_spare++] = c->easy;
        } else {
            curl_easy_cleanup(c->easy);
        }
    }
    free(c->headers);
    free(c->url);
    free(c->body);
    hbody_free(&c->resp);
    free(c);
}

static void link_call(struct hclient *hc, struct hclient_call *c)
{
    c->next = hc->calls;
    if (hc->calls)
        hc->calls->prev = c;
    hc->calls = c;
    hc->active++;
}

static void unlink_call(struct hclient *hc, struct hclient_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        hc->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    hc->active--;
}

static int map_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return HCLIENT_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return HCLIENT_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return HCLIENT_DNS;
    case CURLE_COULDNT_CONNECT:
        return HCLIENT_CONNECT;
    default:
        return HCLIENT_TRANSPORT;
    }
}

const char *hclient_error_code(int error)
{
    switch (error) {
    case HCLIENT_TIMEOUT:
        return "timeout";
    case HCLIENT_DNS:
        return "dns_error";
    case HCLIENT_CONNECT:
        return "connection_error";
    case HCLIENT_TRANSPORT:
        return "transport_error";
    default:
        return "";
    }
}

static void check_done(struct hclient *hc)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(hc->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct hclient_call *c = NULL;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        curl_multi_remove_handle(hc->multi, msg->easy_handle);
        unlink_call(hc, c);

        struct hclient_response res = {0};
        res.error = map_error(rc);
        if (res.error == HCLIENT_OK)
            curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &res.status);
        else
            res.error_text = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
        res.body = c->resp.buf;
        res.body_len = c->resp.len;
        res.truncated = c->resp.truncated;
        res.retry_after = c->have_retry_after ? c->retry_after : NULL;
        res.duration_ms = util_mono_ms() - c->started;
        c->cb(&res, c->arg);
        call_free(c);
    }
}

struct hclient *hclient_new(struct event_base *base)
{
    struct hclient *hc = calloc(1, sizeof(*hc));
    if (hc == NULL)
        return NULL;
    hc->base = base;
    hc->multi = curl_multi_init();
    hc->timer = evtimer_new(base, on_timer, hc);
    hc->plain = getenv("RELAY_HTTP_CURL_ONLY") ? NULL : hplain_new(base);
    if (hc->multi == NULL || hc->timer == NULL) {
        hclient_free(hc);
        return NULL;
    }
    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(hc->multi, CURLMOPT_SOCKETDATA, hc);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(hc->multi, CURLMOPT_TIMERDATA, hc);
    /* Idle connections kept for reuse: enough for a full worker's pushes plus its CMS
     * fetches, so a busy worker does not close and reopen connections. */
    curl_multi_setopt(hc->multi, CURLMOPT_MAXCONNECTS, 512L);
    /* Curl reads these for every request (a dozen getenv calls): with none of them set it
     * would use no proxy, which "*" in CURLOPT_NOPROXY says without looking. */
    static const char *const proxy_vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                             "HTTPS_PROXY", "all_proxy",  "ALL_PROXY",
                                             "no_proxy",    "NO_PROXY"};
    hc->no_proxy_env = 1;
    for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(*proxy_vars); i++)
        if (getenv(proxy_vars[i]) != NULL)
            hc->no_proxy_env = 0;
    return hc;
}

void hclient_free(struct hclient *hc)
{
    if (hc == NULL)
        return;
    while (hc->calls)
        hclient_cancel(hc, hc->calls);
    hplain_free(hc->plain);
    while (hc->n_spare > 0)
        curl_easy_cleanup(hc->spare[--hc->n_spare]);
    if (hc->multi)
        curl_multi_cleanup(hc->multi); /* closes the cached connections: on_close_socket */
    for (size_t i = 0; i < hc->n_socks; i++)
        sock_drop(hc, (curl_socket_t)i);
    free(hc->socks);
    if (hc->timer)
        event_free(hc->timer);
    free(hc);
}

void hclient_cancel(struct hclient *hc, struct hclient_call *c)
{
    if (c == NULL)
        return;
    if (c->plain)
        hplain_cancel(hc->plain, c->plain);
    else
        curl_multi_remove_handle(hc->multi, c->easy);
    c->plain = NULL;
    unlink_call(hc, c);
    call_free(c);
}

size_t hclient_active(const struct hclient *hc)
{
    return hc->active;
}

/* url plus "?name=value" (or "&name=value"), both percent-encoded. Caller frees. */
static char *add_query(const char *url, const char *name, const char *value)
{
    char *n = util_pct_encode(name), *v = util_pct_encode(value), *out = NULL;
    if (n && v) {
        size_t len = strlen(url) + strlen(n) + strlen(v) + 3;
        out = malloc(len);
        if (out)
            snprintf(out, len, "%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', n, v);
    }
    free(n);
    free(v);
    return out;
}

/* The request's header list in one allocation: the nodes, then their strings (curl reads the
 * list and copies nothing; a curl_slist_append per header was two allocations each). */
static struct curl_slist *header_block(const char *const *headers, const char *const *extra,
                                       size_t n_extra)
{
    size_t n = 0, bytes = 0;
    if (headers)
        for (; headers[n]; n++)
            bytes += strlen(headers[n]) + 1;
    for (size_t i = 0; i < n_extra; i++)
        bytes += strlen(extra[i]) + 1;
    if (n + n_extra == 0)
        return NULL;
    struct curl_slist *nodes = malloc((n + n_extra) * sizeof(*nodes) + bytes);
    if (nodes == NULL)
        return NULL;
    char *p = (char *)(nodes + n + n_extra);
    for (size_t i = 0; i < n + n_extra; i++) {
        const char *h = i < n ? headers[i] : extra[i - n];
        size_t len = strlen(h) + 1;
        memcpy(p, h, len);
        nodes[i].data = p;
        nodes[i].next = i + 1 < n + n_extra ? &nodes[i + 1] : NULL;
        p += len;
    }
    return nodes;
}

/* The auth's header ("Authorization: Bearer ..." or an API key's) into *h (caller frees), or
 * its curl options / query parameter. */
static int apply_auth(struct hclient_call *c, const struct auth *a, const char *url, char **h)
{
    *h = NULL;
    if (a == NULL)
        return 0;
    switch (a->type) {
    case AUTH_BEARER:
        if (a->token.value == NULL)
            return -1;
        *h = malloc(strlen(a->token.value) + 32);
        if (*h == NULL)
            return -1;
        sprintf(*h, "Authorization: Bearer %s", a->token.value);
        return 0;
    case AUTH_BASIC:
    case AUTH_DIGEST:
        c->dirty = 1;
        curl_easy_setopt(c->easy, CURLOPT_HTTPAUTH,
                         a->type == AUTH_BASIC ? CURLAUTH_BASIC : CURLAUTH_DIGEST);
        curl_easy_setopt(c->easy, CURLOPT_USERNAME, a->username ? a->username : "");
        curl_easy_setopt(c->easy, CURLOPT_PASSWORD, a->password.value ? a->password.value : "");
        return 0;
    case AUTH_API_KEY:
        if (a->name == NULL || a->value.value == NULL)
            return -1;
        if (a->in_query) {
            c->url = add_query(url, a->name, a->value.value);
            return c->url ? 0 : -1;
        }
        *h = malloc(strlen(a->name) + strlen(a->value.value) + 3);
        if (*h == NULL)
            return -1;
        sprintf(*h, "%s: %s", a->name, a->value.value);
        return 0;
    default:
        return 0;
    }
}

/* What every request sets alike: once per easy handle (after curl_easy_init or a reset). */
static void set_fixed(struct hclient *hc, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, hc);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, hc);
    if (hc->no_proxy_env)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
}

static void on_plain_done(const struct hclient_response *res, void *arg)
{
    struct hclient_call *c = arg;
    c->plain = NULL;
    unlink_call(c->hc, c);
    c->cb(res, c->arg);
    call_free(c);
}

/* "Authorization: Basic <base64 of user:password>" (curl's CURLAUTH_BASIC, sent up front).
 * Caller frees. */
static char *basic_header(const struct auth *a)
{
    const char *u = a->username ? a->username : "", *p = a->password.value ? a->password.value : "";
    size_t ul = strlen(u), pl = strlen(p), raw_len = ul + 1 + pl;
    char *raw = malloc(raw_len + 1), *out = malloc(21 + 4 * (raw_len / 3 + 1) + 1);
    if (raw == NULL || out == NULL) {
        free(raw);
        free(out);
        return NULL;
    }
    memcpy(raw, u, ul);
    raw[ul] = ':';
    memcpy(raw + ul + 1, p, pl);
    memcpy(out, "Authorization: Basic ", 21);
    EVP_EncodeBlock((unsigned char *)out + 21, (const unsigned char *)raw, (int)raw_len);
    OPENSSL_cleanse(raw, raw_len);
    free(raw);
    return out;
}

/* Sends req through hc->plain when it can take it. Returns the call, or NULL for curl. */
static struct hclient_call *start_plain(struct hclient *hc, const struct hclient_request *req,
                                        hclient_cb cb, void *arg)
{
    const struct auth *a = req->auth;
    if (hc->plain == NULL || !hc->no_proxy_env || (a && a->type == AUTH_DIGEST) ||
        strncmp(req->url, "http://", 7) != 0)
        return NULL;
    struct hclient_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->hc = hc;
    c->cb = cb;
    c->arg = arg;
    char *auth_header = NULL;
    int ok = a && a->type == AUTH_BASIC ? (auth_header = basic_header(a)) != NULL
                                        : apply_auth(c, a, req->url, &auth_header) == 0;
    struct hplain_target t;
    if (!ok || hplain_parse_url(c->url ? c->url : req->url, &t) != 0)
        goto curl;
    const char *method = req->method, *body = NULL;
    if (strcmp(method, "GET") != 0 && req->body)
        body = req->body;
    else if (strcmp(method, "POST") == 0)
        method = "GET"; /* as curl's path sends a POST without a body */
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : 10000L;
    long connect = req->timeout_ms > 0 && req->timeout_ms < 10000 ? req->timeout_ms : 10000L;
    const char *extra[1] = {auth_header};
    c->plain = hplain_start(hc->plain, &t, method, req->headers, extra, auth_header ? 1 : 0, body,
                            req->body_len, timeout, connect, req->max_body, on_plain_done, c);
    if (c->plain != NULL)
        link_call(hc, c);
curl:
    /* the header holds the credentials: wiped, whichever path takes the request */
    if (auth_header)
        OPENSSL_cleanse(auth_header, strlen(auth_header));
    free(auth_header);
    free(c->url);
    c->url = NULL;
    if (c->plain != NULL)
        return c;
    free(c);
    return NULL;
}

struct hclient_call *hclient_start(struct hclient *hc, const struct hclient_request *req,
                                   hclient_cb cb, void *arg)
{
    char *auth_header = NULL;
    struct hclient_call *c = start_plain(hc, req, cb, arg);
    if (c)
        return c;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->hc = hc;
    c->cb = cb;
    c->arg = arg;
    /* CMS documents are a few KiB: hbody starts there rather than grow into it */
    int body_ok = hbody_init(&c->resp, req->max_body) == 0;
    if (hc->n_spare > 0) {
        hc->n_spare--;
        c->easy = hc->spare[hc->n_spare];
        c->configured = hc->spare_configured[hc->n_spare];
    } else {
        c->easy = curl_easy_init();
    }
    if (!body_ok || c->easy == NULL)
        goto fail;
    if (apply_auth(c, req->auth, req->url, &auth_header) != 0)
        goto fail;
    const char *extra[2];
    size_t n_extra = 0;
    /* No "Expect: 100-continue" stall on larger bodies (a GET sends none). */
    if (req->body != NULL)
        extra[n_extra++] = "Expect:";
    if (auth_header)
        extra[n_extra++] = auth_header;
    c->headers = header_block(req->headers, extra, n_extra);
    free(auth_header);
    if (c->headers == NULL && ((req->headers && req->headers[0]) || n_extra > 0))
        goto fail;

    CURL *e = c->easy;
    if (!c->configured)
        set_fixed(hc, e);
    c->configured = 1;
    curl_easy_setopt(e, CURLOPT_URL, c->url ? c->url : req->url); /* curl copies it */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     req->timeout_ms > 0 && req->timeout_ms < 10000 ? req->timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    if (strcmp(req->method, "GET") != 0 && req->body) {
        c->body = malloc(req->body_len + 1);
        if (c->body == NULL)
            goto fail;
        memcpy(c->body, req->body, req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
    } else {
        /* no body (the handle's last request may have had one): a GET, or the method below
         * on a GET's footing, as on a fresh handle */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(
        e, CURLOPT_CUSTOMREQUEST,
        strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0 ? req->method : NULL);
    c->started = util_mono_ms();
    if (curl_multi_add_handle(hc->multi, e) != CURLM_OK)
        goto fail;
    link_call(hc, c);
    return c;
fail:
    call_free(c);
    return NULL;
}
