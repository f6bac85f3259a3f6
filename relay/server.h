#ifndef RELAY_SERVER_H
#define RELAY_SERVER_H

#include "core/config.h"

/* The HTTP/1.1 listener (plain or TLS) behind relay/http.h. */

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
    void *arg;
};

/* Binds cfg->listen (with TLS when configured). Returns NULL with a message in err. */
struct server *server_new(struct event_base *base, const struct config *cfg,
                          const struct server_handlers *h, char *err, size_t errlen);
/* Graceful stop: stops accepting, closes idle connections, lets requests already read be
 * answered for at most grace_ms, then calls done(arg) once no connection is left. */
void server_shutdown(struct server *s, long grace_ms, void (*done)(void *arg), void *arg);
void server_free(struct server *s);

/* Open connections right now (for metrics and tests). */
long server_connections(const struct server *s);

#endif
