#include "handlers/hclient.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

struct hclient_call {
    struct hclient *hc;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    char *buf; /* response body, grown on demand up to max_body + 1 bytes */
    size_t len, alloc, cap;
    int truncated;
    char retry_after[128];
    int have_retry_after;
    char errbuf[CURL_ERROR_SIZE];
    int64_t started;
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
    size_t n_spare;
};

/* One per socket curl watches. */
struct hsock {
    struct hclient *hc;
    curl_socket_t fd;
    short kind;
    struct event *ev;
};

static void check_done(struct hclient *hc);

static void on_socket_event(evutil_socket_t fd, short kind, void *arg)
{
    struct hclient *hc = arg;
    int running = 0;
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

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct hclient *hc = userp;
    struct hsock *hs = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (hs) {
            event_free(hs->ev);
            free(hs);
            curl_multi_assign(hc->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (hs == NULL) {
        hs = calloc(1, sizeof(*hs));
        if (hs == NULL)
            return -1;
        hs->hc = hc;
        hs->fd = s;
        hs->ev = event_new(hc->base, s, kind, on_socket_event, hc);
        if (hs->ev == NULL) {
            free(hs);
            return -1;
        }
        curl_multi_assign(hc->multi, s, hs);
    } else if (hs->kind == kind) {
        return 0; /* already watching exactly this: no epoll_ctl */
    } else {
        event_del(hs->ev);
        event_assign(hs->ev, hc->base, s, kind, on_socket_event, hc);
    }
    hs->kind = kind;
    event_add(hs->ev, NULL);
    return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct hclient_call *c = userp;
    size_t n = size * nmemb;
    size_t room = c->cap - c->len;
    size_t take = n < room ? n : room;
    if (c->len + take + 1 > c->alloc) {
        /* Grow geometrically, never past cap + 1: most bodies are a few KiB, so no request
         * pays for the whole max_body (16 MiB for CMS fetches) up front. */
        size_t want = c->alloc ? c->alloc : 4096;
        while (want < c->len + take + 1)
            want *= 2;
        if (want > c->cap + 1)
            want = c->cap + 1;
        char *nb = realloc(c->buf, want);
        if (nb == NULL)
            return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
        c->buf = nb;
        c->alloc = want;
    }
    memcpy(c->buf + c->len, ptr, take);
    c->len += take;
    c->buf[c->len] = '\0';
    if (take < n)
        c->truncated = 1; /* keep reading so the connection stays reusable */
    return n;
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
            curl_easy_reset(c->easy);
            hc->spare[hc->n_spare++] = c->easy;
        } else {
            curl_easy_cleanup(c->easy);
        }
    }
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->body);
    free(c->buf);
    free(c);
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
        res.body = c->buf;
        res.body_len = c->len;
        res.truncated = c->truncated;
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
    return hc;
}

void hclient_free(struct hclient *hc)
{
    if (hc == NULL)
        return;
    while (hc->calls)
        hclient_cancel(hc, hc->calls);
    while (hc->n_spare > 0)
        curl_easy_cleanup(hc->spare[--hc->n_spare]);
    if (hc->multi)
        curl_multi_cleanup(hc->multi);
    if (hc->timer)
        event_free(hc->timer);
    free(hc);
}

void hclient_cancel(struct hclient *hc, struct hclient_call *c)
{
    if (c == NULL)
        return;
    curl_multi_remove_handle(hc->multi, c->easy);
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

static int add_header(struct curl_slist **list, const char *h)
{
    struct curl_slist *l = curl_slist_append(*list, h);
    if (l == NULL)
        return -1;
    *list = l;
    return 0;
}

static int apply_auth(struct hclient_call *c, const struct auth *a)
{
    char *h;
    int rc = 0;

    if (a == NULL)
        return 0;
    switch (a->type) {
    case AUTH_BEARER:
        if (a->token.value == NULL)
            return -1;
        h = malloc(strlen(a->token.value) + 32);
        if (h == NULL)
            return -1;
        sprintf(h, "Authorization: Bearer %s", a->token.value);
        rc = add_header(&c->headers, h);
        free(h);
        return rc;
    case AUTH_BASIC:
    case AUTH_DIGEST:
        curl_easy_setopt(c->easy, CURLOPT_HTTPAUTH,
                         a->type == AUTH_BASIC ? CURLAUTH_BASIC : CURLAUTH_DIGEST);
        curl_easy_setopt(c->easy, CURLOPT_USERNAME, a->username ? a->username : "");
        curl_easy_setopt(c->easy, CURLOPT_PASSWORD, a->password.value ? a->password.value : "");
        return 0;
    case AUTH_API_KEY:
        if (a->name == NULL || a->value.value == NULL)
            return -1;
        if (a->in_query) {
            char *u = add_query(c->url, a->name, a->value.value);
            if (u == NULL)
                return -1;
            free(c->url);
            c->url = u;
            return 0;
        }
        h = malloc(strlen(a->name) + strlen(a->value.value) + 3);
        if (h == NULL)
            return -1;
        sprintf(h, "%s: %s", a->name, a->value.value);
        rc = add_header(&c->headers, h);
        free(h);
        return rc;
    default:
        return 0;
    }
}

struct hclient_call *hclient_start(struct hclient *hc, const struct hclient_request *req,
                                   hclient_cb cb, void *arg)
{
    struct hclient_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->hc = hc;
    c->cb = cb;
    c->arg = arg;
    c->cap = req->max_body;
    c->alloc = c->cap + 1 < 1024 ? c->cap + 1 : 1024;
    c->buf = malloc(c->alloc);
    c->url = strdup(req->url);
    c->easy = hc->n_spare > 0 ? hc->spare[--hc->n_spare] : curl_easy_init();
    if (c->buf == NULL || c->url == NULL || c->easy == NULL)
        goto fail;
    c->buf[0] = '\0';
    if (req->headers)
        for (const char *const *h = req->headers; *h; h++)
            if (add_header(&c->headers, *h) != 0)
                goto fail;
    /* No "Expect: 100-continue" stall on larger bodies (a GET sends none). */
    if (req->body != NULL && add_header(&c->headers, "Expect:") != 0)
        goto fail;
    if (apply_auth(c, req->auth) != 0)
        goto fail;

    CURL *e = c->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     req->timeout_ms > 0 && req->timeout_ms < 10000 ? req->timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        if (req->body) {
            c->body = malloc(req->body_len + 1);
            if (c->body == NULL)
                goto fail;
            memcpy(c->body, req->body, req->body_len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
        }
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    }
    c->started = util_mono_ms();
    if (curl_multi_add_handle(hc->multi, e) != CURLM_OK)
        goto fail;
    c->next = hc->calls;
    if (hc->calls)
        hc->calls->prev = c;
    hc->calls = c;
    hc->active++;
    return c;
fail:
    call_free(c);
    return NULL;
}
