/* queue/sentinel: the reply checks, and discovery when no sentinel answers (the answering
 * cases run against real redis-sentinel processes in tests/integration/test_sentinel.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "queue/sentinel.h"

static redisReply str(const char *s)
{
    redisReply r = {.type = REDIS_REPLY_STRING, .len = strlen(s), .str = (char *)s};
    return r;
}

static void test_parse_addr(void **state)
{
    char host[SENTINEL_HOST_MAX];
    int port = 0;
    redisReply h = str("10.0.0.7"), p = str("6380");
    redisReply *el[] = {&h, &p};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = el};
    assert_int_equal(sentinel_parse_addr(&arr, host, sizeof(host), &port), 0);
    assert_string_equal(host, "10.0.0.7");
    assert_int_equal(port, 6380);

    redisReply nil = {.type = REDIS_REPLY_NIL}; /* the sentinel does not know the master */
    assert_int_equal(sentinel_parse_addr(&nil, host, sizeof(host), &port), -1);
    assert_int_equal(sentinel_parse_addr(NULL, host, sizeof(host), &port), -1);
    const char *bad_ports[] = {"0", "65536", "", "12a", "-1", "999999"};
    for (size_t i = 0; i < sizeof(bad_ports) / sizeof(*bad_ports); i++) {
        p = str(bad_ports[i]);
        assert_int_equal(sentinel_parse_addr(&arr, host, sizeof(host), &port), -1);
    }
    p = str("6379");
    h = str("");
    assert_int_equal(sentinel_parse_addr(&arr, host, sizeof(host), &port), -1);
    h = str("a-host-name-that-is-far-too-long-for-the-buffer");
    assert_int_equal(sentinel_parse_addr(&arr, host, 8, &port), -1);
    arr.elements = 1;
    assert_int_equal(sentinel_parse_addr(&arr, host, sizeof(host), &port), -1);
}

static void test_role(void **state)
{
    redisReply m = str("master"), s = str("slave"), off = {.type = REDIS_REPLY_INTEGER};
    redisReply *el[] = {&m, &off};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = el};
    assert_true(sentinel_role_is_master(&arr));
    el[0] = &s;
    assert_false(sentinel_role_is_master(&arr));
    redisReply e = {.type = REDIS_REPLY_ERROR, .str = "NOAUTH Authentication required."};
    assert_false(sentinel_role_is_master(&e));
    assert_false(sentinel_role_is_master(NULL));
}

static void test_online_replicas(void **state)
{
    const char *info = "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n"
                       "slave0:ip=127.0.0.1,port=7001,state=online,offset=215,lag=0\r\n"
                       "slave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=0\r\n"
                       "slave2:ip=10.0.0.3,port=7003,state=online,offset=215,lag=1\r\n"
                       "master_failover_state:no-failover\r\n";
    assert_int_equal(sentinel_online_replicas(info), 2);
    assert_int_equal(sentinel_online_replicas("# Replication\r\nrole:master\r\n"
                                              "connected_slaves:0\r\n"),
                     0);
    assert_int_equal(sentinel_online_replicas(""), 0);
}

static void test_failover_errors(void **state)
{
    const char *yes[] = {"READONLY You can't write against a read only replica.",
                         "LOADING Redis is loading the dataset in memory",
                         "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is "
                         "set to 'no'."};
    const char *no[] = {"NOSCRIPT No matching script.", "ERR unknown command", "READONLYX",
                        "OOM command not allowed"};
    for (size_t i = 0; i < 3; i++) {
        redisReply r = {.type = REDIS_REPLY_ERROR, .str = (char *)yes[i], .len = strlen(yes[i])};
        assert_true(sentinel_is_failover_error(&r));
    }
    for (size_t i = 0; i < 4; i++) {
        redisReply r = {.type = REDIS_REPLY_ERROR, .str = (char *)no[i], .len = strlen(no[i])};
        assert_false(sentinel_is_failover_error(&r));
    }
    redisReply ok = str("READONLY");
    assert_false(sentinel_is_failover_error(&ok)); /* a string, not an error */
    assert_false(sentinel_is_failover_error(NULL));
}

/* A loopback port nobody listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static struct config *two_dead_sentinels(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    assert_non_null(cfg);
    cfg->n_sentinels = 2;
    cfg->sentinels = calloc(2, sizeof(*cfg->sentinels));
    for (int i = 0; i < 2; i++) {
        cfg->sentinels[i].host = strdup("127.0.0.1");
        cfg->sentinels[i].port = closed_port();
    }
    cfg->sentinel_master = strdup("relay");
    cfg->sentinel_password.value = strdup("sentinel-secret-DO-NOT-LOG");
    cfg->sentinel_password.len = strlen(cfg->sentinel_password.value);
    return cfg;
}

static void free_cfg(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_sentinels; i++)
        free(cfg->sentinels[i].host);
    free(cfg->sentinels);
    free(cfg->sentinel_master);
    free(cfg->sentinel_password.value);
    free(cfg);
}

static void test_resolve_none_answers(void **state)
{
    struct config *cfg = two_dead_sentinels();
    struct sentinel_addr a;
    char err[256];
    assert_int_equal(sentinel_resolve(cfg, 1, 300, &a, err, sizeof(err)), -1);
    /* Asked 1 then 0: the error names the last one tried, never the password. */
    char want[64];
    snprintf(want, sizeof(want), "sentinel 127.0.0.1:%d:", cfg->sentinels[0].port);
    assert_non_null(strstr(err, want));
    assert_null(strstr(err, "DO-NOT-LOG"));
    free_cfg(cfg);
}

struct outcome {
    int calls;
    int found;
    char err[256];
    struct event_base *base;
};

static void on_done(const struct sentinel_addr *addr, const char *err, void *arg)
{
    struct outcome *o = arg;
    o->calls++;
    o->found = addr != NULL;
    snprintf(o->err, sizeof(o->err), "%s", err ? err : "");
    event_base_loopexit(o->base, NULL);
}

static void test_query_none_answers(void **state)
{
    struct config *cfg = two_dead_sentinels();
    struct outcome o = {.base = event_base_new()};
    struct sentinel_query *q = sentinel_query_start(o.base, cfg, 0, 300, on_done, &o);
    assert_non_null(q);
    assert_int_equal(o.calls, 0); /* never calls back from inside start */
    struct timeval cap = {5, 0};
    event_base_loopexit(o.base, &cap);
    event_base_dispatch(o.base);
    assert_int_equal(o.calls, 1);
    assert_false(o.found);
    char want[64];
    snprintf(want, sizeof(want), "sentinel 127.0.0.1:%d:", cfg->sentinels[1].port);
    assert_non_null(strstr(o.err, want));
    assert_null(strstr(o.err, "DO-NOT-LOG"));

    /* Cancelled before it ran: no callback, nothing leaks (ASan). */
    o.calls = 0;
    q = sentinel_query_start(o.base, cfg, 0, 300, on_done, &o);
    sentinel_query_free(q);
    struct timeval short_cap = {0, 200000};
    event_base_loopexit(o.base, &short_cap);
    event_base_dispatch(o.base);
    assert_int_equal(o.calls, 0);
    sentinel_query_free(NULL);
    event_base_free(o.base);
    free_cfg(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_addr),           cmocka_unit_test(test_role),
        cmocka_unit_test(test_failover_errors),      cmocka_unit_test(test_online_replicas),
        cmocka_unit_test(test_resolve_none_answers), cmocka_unit_test(test_query_none_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
