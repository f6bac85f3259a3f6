#ifndef RELAY_SERVER_INTERNAL_H
#define RELAY_SERVER_INTERNAL_H

/* What relay/server.c (connections), relay/server_stream.c (streaming answers) and
 * relay/server_listen.c (listeners, limits, life cycle) share; nothing else includes this. */

#include <event2/util.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/server.h"

/* Connections on admin.listen, counted apart so a flood on the public listener never locks
 * the operator out. */
#define ADMIN_MAX_CONNS 16

struct bufferevent;
struct event;
struct evconnlistener;
struct http_req;

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

enum conn_state {
    CONN_IDLE,      /* keep-alive, waiting for the next request */
    CONN_HEADERS,   /* reading the request head */
    CONN_EARLY,     /* head read; on_headers may answer before the body */
    CONN_BODY,      /* reading a Content-Length body */
    CONN_CHUNKED,   /* reading a chunked body */
    CONN_HANDLING,  /* handler owns the request */
    CONN_STREAMING, /* handler streams its answer (http_stream_begin) */
    CONN_SKIP,      /* answered early; discarding the known-length body, then keep-alive */
    CONN_DRAINING   /* answered with Connection: close; discarding input until EOF */
};

struct conn {
    struct server *srv;
    struct bufferevent *bev; /* NULL once the peer is gone but a handler still owns req */
    struct event *rev;       /* plain TCP: reads into bev's input (on_readable), else NULL */
    struct event *timer;
    struct event *kick; /* calls a stream's on_drain outside the stream calls */
    enum conn_state state;
    struct http_req *req;
    size_t drained;
    long long skip_left;
    int admin;        /* accepted on admin.listen */
    int paused;       /* not reading: unsent output above OUT_BOUND (server.c) */
    int processing;   /* inside process_input: replies must not re-enter it */
    int dead;         /* server_conn_free() asked while processing */
    int stream_wrote; /* body queued since the last on_drain */
    int stream_close; /* close once the stream ends */
    int peer_closed;  /* EOF while a handler held the request: answer it, then close */
    struct conn *prev, *next;
};

/* server.c: takes the accepted socket fd (closed on failure). Returns 0 or -1. */
int server_conn_open(struct server *s, int fd, int admin);
/* server.c: closes the connections waiting for a request (shutdown). */
void server_close_idle(struct server *s);
/* server.c: frees every connection, answered or not (server_free). */
void server_drop_all(struct server *s);
/* server.c: calls s->done once shutting down and no connection is left. */
void server_maybe_done(struct server *s);
/* server.c: frees c, or only flags it while process_input runs, or only drops its socket while
 * a handler owns the request (the answer frees the rest). */
void server_conn_free(struct conn *c);
/* server.c: the answer is out or queued: waits for the next request (or pauses reading while
 * the client is behind on its answers). */
void server_conn_next(struct conn *c);
/* server.c: answered with Connection: close (all_sent: nothing left queued): lingers,
 * discarding input, then closes. */
void server_conn_drain(struct conn *c, int all_sent);
/* server_stream.c: c->kick's callback: calls a stream's on_drain outside the stream calls. */
void server_stream_kick(evutil_socket_t fd, short what, void *arg);

#endif
