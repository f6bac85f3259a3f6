#ifndef RELAY_SERVER_H
#define RELAY_SERVER_H

#include <stddef.h>

#include "core/config.h"

/* The HTTP/1.1 listeners (plain or TLS) and connections behind relay/http.h. */

struct server;
struct event_base;
struct http_req;

struct server_handlers {
    /* Called once the request line and headers are read, before the body. Returns 1 when it
     * answered the request (the body is then never read), else 0. May be NULL. */
    int (*on_headers)(struct http_req *req, void *arg);
    /* Called with the whole body read (at most limits.max_body_bytes). Must answer, now or
     * later. */
    void (*on_request)(struct http_req *req, void *arg);
    /* Called when the server itself refuses a request (malformed, 408, 413, 431, 505, ...),
     * so it is counted and logged like any rejection. It should answer at once with
     * http_reply_error(req, status, code, message); if it does not, the server does. The
     * request's path and headers are NULL when its head could not be parsed. May be NULL. */
    void (*on_error)(struct http_req *req, int status, const char *code, const char *message,
                     void *arg);
    void *arg;
};

/* Binds cfg->listen (with TLS when configured). At start it raises the soft RLIMIT_NOFILE to
 * the hard limit and lowers limits.max_connections to what it allows (logged). Returns NULL
 * with a message in err. */
struct server *server_new(struct event_base *base, const struct config *cfg,
                          const struct server_handlers *h, char *err, size_t errlen);
/* Adds the operator listener (admin.listen): same handlers and TLS, its own small connection
 * cap. Returns 0, or -1 with a message in err. */
int server_listen_admin(struct server *s, const char *host, int port, char *err, size_t errlen);
/* Graceful stop: stops accepting, closes idle connections, lets requests already read be
 * answered for at most grace_ms, then calls done(arg) once no connection is left. */
void server_shutdown(struct server *s, long grace_ms, void (*done)(void *arg), void *arg);
void server_free(struct server *s);

/* Open connections right now (for metrics and tests). */
long server_connections(const struct server *s);
/* limits.max_connections after fitting it under RLIMIT_NOFILE. */
long server_max_connections(const struct server *s);

#endif
