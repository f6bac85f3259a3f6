#include "handlers/hplain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "core/util.h"
#include "handlers/hbody.h"
#include "handlers/hresp.h"

#define IDLE_MAX 512           /* idle connections kept, all addresses together (curl's 512) */
#define IDLE_MAX_AGE_MS 118000 /* an older idle connection is closed, not reused (curl's) */
#define READ_CHUNK 16384       /* a connection's read buffer; grows only for a long head */

struct host;

struct conn {
    struct hplain *hp;
    struct host *host;
    int fd;
    struct event *rev;        /* reading: added for the connection's whole life */
    struct event *wev;        /* writing: while connecting or when a send would block */
    struct hplain_call *call; /* NULL while idle */
    int reused;               /* carried a request before this one */
    int64_t idle_since;
    char *rbuf;
    size_t roff, rlen, ralloc; /* unparsed bytes are rbuf[roff..rlen) */
    struct conn *prev, *next;  /* in its host's idle list */
};

/* One per address: its idle connections, most recently used first. */
struct host {
    unsigned char addr[28];
    unsigned addr_len;
    struct conn *idle;
    struct host *next;
};

struct hplain {
    struct event_base *base;
    struct host *hosts;
    size_t n_idle;
    struct hplain_call *calls;
};

struct hplain_call {
    struct hplain *hp;
    struct host *host;
    struct conn *conn;
    char *req; /* head and body, sent as one */
    size_t req_len, sent;
    struct event *timer;
    int64_t started;
    long timeout_ms, connect_timeout_ms;
    int connecting;
    int retried;   /* already sent again on a new connection once */
    int got_bytes; /* bytes of the answer came */
    int head_done;
    int pending; /* errno of a failure inside hplain_start, reported from the loop */
    struct hresp resp;
    size_t received;   /* body bytes as they came on the wire */
    struct hbody body; /* the body kept: up to max_body bytes */
    z_stream *z;
    hclient_cb cb;
    void *arg;
    char errbuf[192];
    struct hplain_call *prev, *next;
};

/* ---- connections -------------------------------------------------------------------------- */

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void call_fail(struct hplain_call *c, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void idle_unlink(struct conn *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        k->host->idle = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
    k->hp->n_idle--;
}

static void conn_close(struct conn *k)
{
    if (k == NULL)
        return;
    if (k->rev)
        event_free(k->rev);
    if (k->wev)
        event_free(k->wev);
    if (k->fd >= 0)
        close(k->fd);
    free(k->rbuf);
    free(k);
}

static struct host *host_get(struct hplain *hp, const struct hplain_target *t)
{
    for (struct host *h = hp->hosts; h; h = h->next)
        if (h->addr_len == t->addr_len && memcmp(h->addr, t->addr, t->addr_len) == 0)
            return h;
    struct host *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    memcpy(h->addr, t->addr, t->addr_len);
    h->addr_len = t->addr_len;
    h->next = hp->hosts;
    hp->hosts = h;
    return h;
}

/* A connection of h's idle list young enough to reuse, or NULL. */
static struct conn *idle_take(struct hplain *hp, struct host *h)
{
    int64_t now = util_mono_ms();
    while (h->idle) {
        struct conn *k = h->idle;
        idle_unlink(k);
        if (now - k->idle_since <= IDLE_MAX_AGE_MS)
            return k;
        conn_close(k);
    }
    return NULL;
}

static void idle_put(struct conn *k)
{
    struct hplain *hp = k->hp;
    if (hp->n_idle >= IDLE_MAX) {
        conn_close(k);
        return;
    }
    k->call = NULL;
    k->reused = 1;
    k->roff = k->rlen = 0;
    k->idle_since = util_mono_ms();
    k->prev = NULL;
    k->next = k->host->idle;
    if (k->next)
        k->next->prev = k;
    k->host->idle = k;
    hp->n_idle++;
}

/* A new connection to h, connecting; -1 with errno on failure. */
static struct conn *conn_open(struct hplain *hp, struct host *h, int *connecting)
{
    struct conn *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    k->hp = hp;
    k->host = h;
    k->fd = socket(((struct sockaddr *)h->addr)->sa_family,
                   SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    k->ralloc = READ_CHUNK;
    k->rbuf = malloc(k->ralloc);
    if (k->fd < 0 || k->rbuf == NULL)
        goto fail;
    int one = 1;
    (void)setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* as curl does */
    k->rev = event_new(hp->base, k->fd, EV_READ | EV_PERSIST, on_read, k);
    k->wev = event_new(hp->base, k->fd, EV_WRITE, on_write, k);
    if (k->rev == NULL || k->wev == NULL)
        goto fail;
    *connecting = 0;
    if (connect(k->fd, (struct sockaddr *)h->addr, h->addr_len) != 0) {
        if (errno != EINPROGRESS)
            goto fail;
        *connecting = 1;
    }
    if (event_add(k->rev, NULL) != 0)
        goto fail;
    return k;
fail:;
    int e = errno;
    conn_close(k);
    errno = e;
    return NULL;
}

/* ---- calls -------------------------------------------------------------------------------- */

static void call_unlink(struct hplain_call *c)
{
    struct hplain *hp = c->hp;
    if (c->prev)
        c->prev->next = c->next;
    else
        hp->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void call_free(struct hplain_call *c)
{
    if (c->timer)
        event_free(c->timer);
    if (c->z) {
        inflateEnd(c->z);
        free(c->z);
    }
    free(c->req);
    hbody_free(&c->body);
    free(c);
}

static void arm_timer(struct hplain_call *c)
{
    int64_t elapsed = util_mono_ms() - c->started;
    int64_t limit = c->connecting && c->connect_timeout_ms < c->timeout_ms ? c->connect_timeout_ms
                                                                           : c->timeout_ms;
    int64_t left = limit - elapsed;
    if (left < 0)
        left = 0;
    struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* Ends c: its callback gets the answer or error, then c is freed. The connection goes back to
 * the pool (keep) or is closed. */
static void call_end(struct hplain_call *c, int error, int keep)
{
    struct conn *k = c->conn;
    c->conn = NULL;
    if (k) {
        k->call = NULL;
        if (keep && event_pending(k->wev, EV_WRITE, NULL) == 0)
            idle_put(k);
        else
            conn_close(k);
    }
    call_unlink(c);
    struct hclient_response res = {0};
    res.error = error;
    if (error == HCLIENT_OK)
        res.status = c->resp.status;
    else
        res.error_text = c->errbuf;
    res.body = c->body.buf;
    res.body_len = c->body.len;
    res.truncated = c->body.truncated;
    res.retry_after = c->resp.retry_after[0] ? c->resp.retry_after : NULL;
    res.duration_ms = util_mono_ms() - c->started;
    c->cb(&res, c->arg);
    call_free(c);
}

static void call_fail(struct hplain_call *c, int error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errbuf, sizeof(c->errbuf), fmt, ap);
    va_end(ap);
    call_end(c, error, 0);
}

static void connect_failed(struct hplain_call *c, int err)
{
    char ip[64] = "";
    const struct sockaddr *sa = (const struct sockaddr *)c->host->addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
    unsigned port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                                   : ((const struct sockaddr_in6 *)sa)->sin6_port);
    (void)err;
    call_fail(c, HCLIENT_CONNECT, "Failed to connect to %s port %u after %lld ms: %s", ip, port,
              (long long)(util_mono_ms() - c->started), "Couldn't connect to server");
}

static void send_more(struct hplain_call *c);

static void open_failed(struct hplain_call *c, int e)
{
    if (e == ECONNREFUSED || e == ENETUNREACH || e == EHOSTUNREACH || e == EADDRNOTAVAIL)
        connect_failed(c, e);
    else
        call_fail(c, HCLIENT_TRANSPORT, "Could not open a socket: %s", strerror(e));
}

/* Puts c on a new connection (the first, or again after a reused one turned out closed).
 * Returns 0, or -1 with c's error reported (from the loop when deferred). */
static int call_connect(struct hplain_call *c, int deferred)
{
    int connecting = 0;
    struct conn *k = conn_open(c->hp, c->host, &connecting);
    if (k == NULL) {
        int e = errno;
        if (!deferred) {
            c->pending = e ? e : EIO;
            event_active(c->timer, EV_TIMEOUT, 1);
            return -1;
        }
        open_failed(c, e);
        return -1;
    }
    k->call = c;
    c->conn = k;
    c->connecting = connecting;
    c->sent = 0;
    arm_timer(c);
    if (connecting)
        event_add(k->wev, NULL);
    else if (deferred)
        send_more(c);
    else
        event_active(k->wev, EV_WRITE, 1); /* sends from the loop */
    return 0;
}

/* A reused connection failed before any answer: the server had closed it while idle. Sent
 * again once on a new connection, as curl does; returns 1 when it was. */
static int retry_fresh(struct hplain_call *c)
{
    struct conn *k = c->conn;
    if (k == NULL || !k->reused || c->got_bytes || c->retried)
        return 0;
    c->retried = 1;
    k->call = NULL;
    conn_close(k);
    c->conn = NULL;
    call_connect(c, 1);
    return 1;
}

static void send_more(struct hplain_call *c)
{
    struct conn *k = c->conn;
    while (c->sent < c->req_len) {
        ssize_t n = send(k->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(k->wev, NULL);
            return;
        }
        int e = errno;
        if (retry_fresh(c))
            return;
        call_fail(c, HCLIENT_TRANSPORT, "Send failure: %s", strerror(e));
        return;
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    struct conn *k = arg;
    struct hplain_call *c = k->call;
    (void)what;
    if (c == NULL)
        return;
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            connect_failed(c, err);
            return;
        }
        c->connecting = 0;
        arm_timer(c); /* the total timeout from here on */
    }
    send_more(c);
}

/* ---- the answer --------------------------------------------------------------------------- */

static int on_data(void *ctx, const char *p, size_t n, const char **err)
{
    struct hplain_call *c = ctx;
    c->received += n;
    if (c->z == NULL) {
        if (hbody_append(&c->body, p, n) == 0)
            return 0;
        *err = "Failure writing output to destination";
        return -1;
    }
    c->z->next_in = (Bytef *)p;
    c->z->avail_in = (uInt)n;
    while (c->z->avail_in > 0) {
        char out[16384];
        c->z->next_out = (Bytef *)out;
        c->z->avail_out = sizeof(out);
        int rc = inflate(c->z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            *err = "Error while processing content unencoding";
            return -1;
        }
        if (hbody_append(&c->body, out, sizeof(out) - c->z->avail_out) != 0) {
            *err = "Failure writing output to destination";
            return -1;
        }
        if (rc == Z_STREAM_END)
            break; /* whatever follows the compressed stream is dropped, as curl does */
        if (rc == Z_BUF_ERROR && c->z->avail_out != 0)
            break;
    }
    return 0;
}

/* The head is in: sets up what the body needs. Returns 0, or -1 with c failed. */
static int head_done(struct hplain_call *c)
{
    c->head_done = 1;
    if (!hresp_has_body(&c->resp))
        return 0;
    if (c->resp.coding == HRESP_OTHER) {
        call_fail(c, HCLIENT_TRANSPORT,
                  "Unrecognized content encoding type. "
                  "libcurl understands " HPLAIN_ACCEPT_ENCODING " content encodings.");
        return -1;
    }
    if (c->resp.coding != HRESP_IDENTITY) {
        c->z = calloc(1, sizeof(*c->z));
        if (c->z == NULL || inflateInit2(c->z, 15 + 32) != Z_OK) {
            free(c->z);
            c->z = NULL;
            call_fail(c, HCLIENT_TRANSPORT, "Out of memory");
            return -1;
        }
    }
    return 0;
}

/* Parses what k has read for c. Returns 1 when c has ended. */
static int parse(struct hplain_call *c, struct conn *k)
{
    while (!c->head_done) {
        size_t used = 0;
        enum hresp_result rc = hresp_head(&c->resp, k->rbuf + k->roff, k->rlen - k->roff, &used);
        if (rc == HRESP_BAD) {
            call_fail(c, HCLIENT_TRANSPORT, "%s", c->resp.error);
            return 1;
        }
        if (rc == HRESP_MORE) {
            if (k->rlen - k->roff >= HRESP_MAX_HEAD) {
                call_fail(c, HCLIENT_TRANSPORT, "Too large response headers");
                return 1;
            }
            if (k->roff > 0) {
                memmove(k->rbuf, k->rbuf + k->roff, k->rlen - k->roff);
                k->rlen -= k->roff;
                k->roff = 0;
            }
            return 0;
        }
        k->roff += used;
        if (c->resp.status < 200) {
            if (c->resp.status == 101) {
                call_fail(c, HCLIENT_TRANSPORT, "Weird server reply");
                return 1;
            }
            hresp_init(&c->resp); /* 100 Continue, 103 Early Hints: the answer follows */
            continue;
        }
        if (head_done(c) != 0)
            return 1;
    }
    size_t used = 0;
    enum hresp_result rc =
        hresp_body(&c->resp, k->rbuf + k->roff, k->rlen - k->roff, &used, on_data, c);
    k->roff += used;
    if (rc == HRESP_BAD) {
        call_fail(c, HCLIENT_TRANSPORT, "%s", c->resp.error);
        return 1;
    }
    if (rc == HRESP_MORE) {
        k->roff = k->rlen = 0; /* the body's bytes are all taken */
        return 0;
    }
    /* Bytes after the answer were never asked for: that connection cannot be trusted. */
    call_end(c, HCLIENT_OK, c->resp.keep_alive && k->roff == k->rlen);
    return 1;
}

static void on_eof(struct hplain_call *c, struct conn *k, int err)
{
    if (!c->got_bytes && retry_fresh(c))
        return;
    if (err != 0) {
        call_fail(c, HCLIENT_TRANSPORT, "Recv failure: %s", strerror(err));
        return;
    }
    if (!c->got_bytes) {
        call_fail(c, HCLIENT_TRANSPORT, "Empty reply from server");
        return;
    }
    if (!c->head_done) {
        call_fail(c, HCLIENT_TRANSPORT, "Weird server reply");
        return;
    }
    if (hresp_ends_at_close(&c->resp)) {
        call_end(c, HCLIENT_OK, 0);
        return;
    }
    if (c->resp.chunked)
        call_fail(c, HCLIENT_TRANSPORT, "transfer closed with outstanding read data remaining");
    else
        call_fail(c, HCLIENT_TRANSPORT, "transfer closed with %llu bytes remaining to read",
                  (unsigned long long)c->resp.left);
    (void)k;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *k = arg;
    struct hplain_call *c = k->call;
    (void)what;
    if (c == NULL) {
        /* An idle connection became readable: the server closed it (or sent what it should
         * not have). Either way it is not reused. */
        idle_unlink(k);
        conn_close(k);
        return;
    }
    if (c->connecting)
        return; /* a refused connect reads as EOF too: on_write says why */
    for (;;) {
        if (k->rlen == k->ralloc) {
            size_t want = k->ralloc * 2;
            char *nb = realloc(k->rbuf, want);
            if (nb == NULL) {
                call_fail(c, HCLIENT_TRANSPORT, "Out of memory");
                return;
            }
            k->rbuf = nb;
            k->ralloc = want;
        }
        size_t room = k->ralloc - k->rlen;
        ssize_t n = recv(fd, k->rbuf + k->rlen, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            on_eof(c, k, n < 0 ? errno : 0);
            return;
        }
        c->got_bytes = 1;
        k->rlen += (size_t)n;
        if (parse(c, k))
            return;
        if ((size_t)n < room)
            return; /* drained for now: no recv just to hear EAGAIN */
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct hplain_call *c = arg;
    (void)fd;
    (void)what;
    if (c->pending) {
        open_failed(c, c->pending);
        return;
    }
    long long ms = (long long)(util_mono_ms() - c->started);
    if (c->connecting) {
        call_fail(c, HCLIENT_TIMEOUT, "Connection timed out after %lld milliseconds", ms);
        return;
    }
    if (c->head_done && c->resp.content_length >= 0 && !c->resp.chunked)
        call_fail(c, HCLIENT_TIMEOUT,
                  "Operation timed out after %lld milliseconds with %zu out of %lld bytes "
                  "received",
                  ms, c->received, (long long)c->resp.content_length);
    else
        call_fail(c, HCLIENT_TIMEOUT,
                  "Operation timed out after %lld milliseconds with %zu bytes "
                  "received",
                  ms, c->received);
}

/* ---- the interface ------------------------------------------------------------------------ */

struct hplain *hplain_new(struct event_base *base)
{
    struct hplain *hp = calloc(1, sizeof(*hp));
    if (hp)
        hp->base = base;
    return hp;
}

void hplain_free(struct hplain *hp)
{
    if (hp == NULL)
        return;
    while (hp->calls)
        hplain_cancel(hp, hp->calls);
    while (hp->hosts) {
        struct host *h = hp->hosts;
        while (h->idle) {
            struct conn *k = h->idle;
            idle_unlink(k);
            conn_close(k);
        }
        hp->hosts = h->next;
        free(h);
    }
    free(hp);
}

struct hplain_call *hplain_start(struct hplain *hp, const struct hplain_target *t,
                                 const char *method, const char *const *headers,
                                 const char *const *extra, size_t n_extra, const char *body,
                                 size_t body_len, long timeout_ms, long connect_timeout_ms,
                                 size_t max_body, hclient_cb cb, void *arg)
{
    size_t req_len = 0;
    if (hplain_request(NULL, &req_len, t, method, headers, extra, n_extra, body, body_len) != 0)
        return NULL;
    struct hplain_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->hp = hp;
    c->cb = cb;
    c->arg = arg;
    int body_ok = hbody_init(&c->body, max_body) == 0;
    c->req = malloc(req_len);
    c->timer = evtimer_new(hp->base, on_timer, c);
    c->host = host_get(hp, t);
    if (!body_ok || c->req == NULL || c->timer == NULL || c->host == NULL) {
        call_free(c);
        return NULL;
    }
    c->req_len = req_len;
    (void)hplain_request(c->req, &req_len, t, method, headers, extra, n_extra, body, body_len);
    c->timeout_ms = timeout_ms;
    c->connect_timeout_ms = connect_timeout_ms;
    hresp_init(&c->resp);
    c->started = util_mono_ms();
    c->next = hp->calls;
    if (hp->calls)
        hp->calls->prev = c;
    hp->calls = c;

    struct conn *k = idle_take(hp, c->host);
    if (k == NULL) {
        call_connect(c, 0);
        return c;
    }
    k->call = c;
    c->conn = k;
    arm_timer(c);
    /* Sent now: the answer is read from the loop. A send that fails here (the server closed
     * the connection while it was idle) is sent again on a new connection from the loop. */
    ssize_t n = send(k->fd, c->req, c->req_len, MSG_NOSIGNAL);
    if (n == (ssize_t)c->req_len) {
        c->sent = c->req_len;
    } else if (n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        c->sent = n > 0 ? (size_t)n : 0;
        event_add(k->wev, NULL);
    } else if (c->sent == 0) {
        event_active(k->wev, EV_WRITE, 1); /* send_more fails it, or sends it again */
    }
    return c;
}

void hplain_cancel(struct hplain *hp, struct hplain_call *c)
{
    if (c == NULL)
        return;
    (void)hp;
    if (c->conn) {
        c->conn->call = NULL;
        conn_close(c->conn);
        c->conn = NULL;
    }
    call_unlink(c);
    call_free(c);
}
