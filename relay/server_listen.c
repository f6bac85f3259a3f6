/* The listeners (public and admin.listen), their accept loop and the server's life cycle;
 * connections are relay/server.c's. */
#include "relay/server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/util.h"
#include "relay/server_internal.h"

#define ACCEPT_RETRY_MS 100
#define ACCEPT_LOG_EVERY_MS 10000
/* Descriptors kept free of client connections: Redis, stdio, epoll, listeners, logs. */
#define FD_RESERVE 32

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    if (s->shutting_down)
        return;
    for (int i = 0; i < 2; i++)
        if (s->listeners[i].l)
            evconnlistener_enable(s->listeners[i].l);
}

/* accept() failed. Out of descriptors (or memory) the pending connection stays in the
 * backlog, so a listener left enabled would wake up at once, forever: pause accepting and
 * retry shortly, and say so once per interval rather than once per attempt. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct listener *li = arg;
    struct server *s = li->srv;
    int err = EVUTIL_SOCKET_ERROR();
    int64_t now = util_mono_ms();
    s->accept_errors++;
    if (s->accept_logged_ms == 0 || now - s->accept_logged_ms >= ACCEPT_LOG_EVERY_MS) {
        char n[24];
        snprintf(n, sizeof(n), "%ld", s->accept_errors);
        LOG_WARN("cannot accept connections, pausing the listener", "error", strerror(err),
                 "failures", n, NULL);
        s->accept_logged_ms = now;
        s->accept_errors = 0;
    }
    for (int i = 0; i < 2; i++)
        if (s->listeners[i].l)
            evconnlistener_disable(s->listeners[i].l);
    struct timeval tv = {0, ACCEPT_RETRY_MS * 1000};
    evtimer_add(s->accept_retry_ev, &tv);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct listener *li = arg;
    struct server *s = li->srv;
    if (s->shutting_down ||
        (li->admin ? s->n_admin >= ADMIN_MAX_CONNS : s->n_conns >= s->max_conns)) {
        /* Refused: closing at once is cheaper than anything we could say. */
        evutil_closesocket(fd);
        return;
    }
    (void)server_conn_open(s, fd, li->admin);
}

static SSL_CTX *tls_context(const struct config *cfg, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1) {
        snprintf(err, errlen, "tls.cert_file: cannot load certificate");
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "tls.key_file: cannot load a key matching the certificate");
        goto fail;
    }
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

static int bind_listener(struct server *s, int which, const char *what, const char *host, int port,
                         char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char addr[300];
    struct listener *li = &s->listeners[which];

    if (strchr(host, ':'))
        snprintf(addr, sizeof(addr), "[%s]:%d", host, port);
    else
        snprintf(addr, sizeof(addr), "%s:%d", host, port);
    memset(&ss, 0, sizeof(ss));
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) {
        snprintf(err, errlen, "%s: cannot parse address %s", what, addr);
        return -1;
    }
    li->srv = s;
    li->admin = which == 1;
    li->l =
        evconnlistener_new_bind(s->base, on_accept, li, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                1024, (struct sockaddr *)&ss, sslen);
    if (li->l == NULL) {
        snprintf(err, errlen, "%s: cannot bind %s: %s", what, addr, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(li->l, on_accept_error);
    return 0;
}

/* Every connection holds a descriptor: more connections than RLIMIT_NOFILE allows would only
 * turn into accept() failures. Raise the soft limit to the hard one, then fit under it. */
static void fit_descriptor_limit(struct server *s)
{
    struct rlimit rl;
    s->max_conns = (long)s->cfg->max_connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return;
    long room = (long)rl.rlim_cur - FD_RESERVE - ADMIN_MAX_CONNS;
    if (room < 1)
        room = 1;
    if (s->max_conns > room) {
        char lim[24], conf[24], now[24];
        snprintf(lim, sizeof(lim), "%llu", (unsigned long long)rl.rlim_cur);
        snprintf(conf, sizeof(conf), "%ld", s->max_conns);
        snprintf(now, sizeof(now), "%ld", room);
        LOG_WARN("limits.max_connections lowered to fit the open-file limit", "configured", conf,
                 "max_connections", now, "rlimit_nofile", lim, NULL);
        s->max_conns = room;
    }
}

struct server *server_new(struct event_base *base, const struct config *cfg,
                          const struct server_handlers *h, char *err, size_t errlen)
{
    struct server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->cfg = cfg;
    s->h = *h;
    util_random_hex(s->id_prefix, 6);
    fit_descriptor_limit(s);
    s->scratch = evbuffer_new();
    s->accept_retry_ev = evtimer_new(base, accept_retry_cb, s);
    if (s->scratch == NULL || s->accept_retry_ev == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (cfg->tls_cert_file) {
        s->ssl_ctx = tls_context(cfg, err, errlen);
        if (s->ssl_ctx == NULL)
            goto fail;
    }
    if (bind_listener(s, 0, "listen", cfg->listen_host, cfg->listen_port, err, errlen) != 0)
        goto fail;
    return s;
fail:
    server_free(s);
    return NULL;
}

int server_listen_admin(struct server *s, const char *host, int port, char *err, size_t errlen)
{
    if (s->listeners[1].l)
        return 0;
    return bind_listener(s, 1, "admin.listen", host, port, err, errlen);
}

static void on_grace_expired(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    LOG_WARN("shutdown grace period over, closing remaining connections", NULL);
    if (s->done) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_arg);
    }
}

void server_shutdown(struct server *s, long grace_ms, void (*done)(void *arg), void *arg)
{
    s->shutting_down = 1;
    s->done = done;
    s->done_arg = arg;
    for (int i = 0; i < 2; i++) {
        if (s->listeners[i].l) {
            evconnlistener_free(s->listeners[i].l);
            s->listeners[i].l = NULL;
        }
    }
    /* Idle keep-alive connections go now; requests being read or handled get answered. */
    server_close_idle(s);
    s->grace_ev = evtimer_new(s->base, on_grace_expired, s);
    if (s->grace_ev) {
        struct timeval tv = {grace_ms / 1000, (grace_ms % 1000) * 1000};
        evtimer_add(s->grace_ev, &tv);
    }
    server_maybe_done(s);
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    s->done = NULL;
    server_drop_all(s);
    for (int i = 0; i < 2; i++)
        if (s->listeners[i].l)
            evconnlistener_free(s->listeners[i].l);
    if (s->grace_ev)
        event_free(s->grace_ev);
    if (s->accept_retry_ev)
        event_free(s->accept_retry_ev);
    SSL_CTX_free(s->ssl_ctx);
    if (s->scratch)
        evbuffer_free(s->scratch);
    free(s);
}

long server_max_connections(const struct server *s)
{
    return s->max_conns;
}
