#ifndef RELAY_SERVER_INTERNAL_H
#define RELAY_SERVER_INTERNAL_H

/* What relay/server.c (connections) and relay/server_listen.c (listeners, limits, life cycle)
 * share; nothing else includes this. */

#include <openssl/ssl.h>
#include <stdint.h>

#include "relay/server.h"

/* Connections on admin.listen, counted apart so a flood on the public listener never locks
 * the operator out. */
#define ADMIN_MAX_CONNS 16

struct conn;
struct evconnlistener;

struct listener {
    struct server *srv;
    struct evconnlistener *l;
    int admin;
};

struct server {
    struct event_base *base;
    const struct config *cfg;
    struct server_handlers h;
    struct listener listeners[2]; /* public, admin */
    SSL_CTX *ssl_ctx;
    struct conn *conns; /* every open connection (server.c) */
    long n_conns, n_admin;
    long max_conns;
    int shutting_down;
    void (*done)(void *arg);
    void *done_arg;
    struct event *grace_ev;
    struct event *accept_retry_ev;
    int64_t accept_logged_ms;
    long accept_errors;       /* since the last log line */
    struct evbuffer *scratch; /* a reply being composed (see http_reply) */
    char id_prefix[13];
    unsigned long id_counter;
};

/* server.c: takes the accepted socket fd (closed on failure). Returns 0 or -1. */
int server_conn_open(struct server *s, int fd, int admin);
/* server.c: closes the connections waiting for a request (shutdown). */
void server_close_idle(struct server *s);
/* server.c: frees every connection, answered or not (server_free). */
void server_drop_all(struct server *s);
/* server.c: calls s->done once shutting down and no connection is left. */
void server_maybe_done(struct server *s);

#endif
