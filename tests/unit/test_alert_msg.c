/* handlers/alert_msg: the alert bodies (slack, json), the summary lines, the redaction of
 * configured secrets, the logged host of an alert URL; queue/alerts: the tick's arguments and
 * the decoding of its answer. No Redis, no HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "handlers/alert_msg.h"
#include "queue/alerts.h"
#include "tests/unit/unit_config.h"

#define HOOK "https://hooks.example.com/services/T000/B000/hook-token-XYZ"

static const char cfg_json[] =
    "{\"listen\":\"127.0.0.1:1\",\"redis\":{\"url\":\"redis://:redis-pass-123@127.0.0.1:1/0\"},"
    "\"admin\":{\"token\":\"admin-token-abc\"},"
    "\"sources\":{\"encora\":{\"kind\":\"encorastream\",\"alert_after_s\":60,"
    "\"signature\":{\"scheme\":\"hmac-sha256-hex\",\"secrets\":[\"webhook-secret-1\",\"pw\"]},"
    "\"api\":{\"base_url\":\"http://127.0.0.1:9\",\"auth\":{\"type\":\"bearer\","
    "\"token\":\"api-token-777\"}}}},"
    "\"targets\":{\"canon\":{\"format\":\"canonical\",\"url\":\"http://127.0.0.1:9/x\","
    "\"signing_secret\":\"signing-secret-42\","
    "\"auth\":{\"type\":\"basic\",\"username\":\"u\",\"password\":\"target-pass-9\"}},"
    "\"tfeed\":{\"format\":\"titanos\",\"delivery\":\"feed\",\"feed\":{\"alert_after_s\":120,"
    "\"auth\":{\"type\":\"bearer\",\"token\":\"feed-token-55\"}}}},"
    "\"alerts\":[{\"url\":\"" HOOK "\",\"format\":\"slack\",\"min_interval_s\":30},"
    "{\"url\":\"http://user:pass@alerts.internal:8080/in?k=v\",\"queue_oldest_s\":90}]}";

static int setup(void **state)
{
    return unit_config_setup(state, cfg_json, sizeof(cfg_json) - 1, CONFIG_ROLE_WORKER);
}

/* A message as the tick would hand it over. */
static struct alerts_msg msg(const char *type, const char *subject, const char *summary,
                             const char *state, int64_t count, const char *details)
{
    struct alerts_msg m = {.ok = 1,
                           .id = strdup("1764583200123-7"),
                           .sink = strdup("abc"),
                           .type = strdup(type),
                           .subject = strdup(subject),
                           .summary = strdup(summary),
                           .state = strdup(state),
                           .at_ms = 1764583200123LL, /* 2025-12-01T10:00:00.123Z */
                           .count = count,
                           .window_s = 300,
                           .details = json_loads(details, 0, NULL)};
    assert_non_null(m.details);
    return m;
}

static json_t *body_json(enum alert_format fmt, const struct alerts_msg *m,
                         const struct alert_redact *r)
{
    char *b = alert_msg_body(fmt, m, r);
    assert_non_null(b);
    json_t *o = json_loads(b, 0, NULL);
    assert_non_null(o);
    free(b);
    return o;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    assert_non_null(s);
    return s;
}

static void test_json_body(void **state)
{
    struct alert_redact *r = alert_redact_new(*state);
    struct alerts_msg m =
        msg("delivery.failed", "canon",
            "delivery dlv_1 to canon failed after 3 attempt(s): http_400", "", 1,
            "{\"delivery_id\":\"dlv_1\",\"attempts\":3,\"http_status\":400,\"id\":\"nor me\","
            "\"type\":\"not me\",\"summary\":\"nor me\",\"failed_at\":1764583200123}");
    json_t *o = body_json(ALERT_FORMAT_JSON, &m, r);
    /* the message's id, for receivers to dedupe (alerts are at-least-once) */
    assert_string_equal(str(o, "id"), "1764583200123-7");
    assert_string_equal(str(o, "type"), "delivery.failed");
    assert_string_equal(str(o, "at"), "2025-12-01T10:00:00.123Z");
    assert_string_equal(str(o, "summary"),
                        "delivery dlv_1 to canon failed after 3 attempt(s): http_400");
    assert_string_equal(str(o, "subject"), "canon");
    assert_string_equal(str(o, "delivery_id"), "dlv_1");
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 3);
    /* a time in ms under a *_at key reads as RFC 3339 */
    assert_string_equal(str(o, "failed_at"), "2025-12-01T10:00:00.123Z");
    /* an event is not grouped: no state, no count */
    assert_null(json_object_get(o, "state"));
    assert_null(json_object_get(o, "count"));
    json_decref(o);
    alerts_msg_clear(&m);
    alert_redact_free(r);
}

static void test_slack_body(void **state)
{
    struct alert_redact *r = alert_redact_new(*state);
    struct alerts_msg m = msg("sync.failed", "encora", "sync s1 of source encora failed: x", "", 1,
                              "{\"sync_id\":\"s1\"}");
    json_t *o = body_json(ALERT_FORMAT_SLACK, &m, r);
    assert_int_equal(json_object_size(o), 1);
    assert_string_equal(str(o, "text"),
                        "[relay] sync.failed encora: sync s1 of source encora failed: x");
    json_decref(o);
    alerts_msg_clear(&m);
    alert_redact_free(r);
}

static void test_grouped(void **state)
{
    struct alerts_msg m = msg("delivery.failed", "canon", "delivery dlv_9 to canon failed",
                              "grouped", 4, "{\"delivery_id\":\"dlv_9\"}");
    char *t = alert_msg_text(&m, NULL);
    assert_string_equal(t, "4 more deliveries to canon failed in the last 300 s (last: delivery "
                           "dlv_9 to canon failed)");
    free(t);
    json_t *o = body_json(ALERT_FORMAT_JSON, &m, NULL);
    assert_string_equal(str(o, "state"), "grouped");
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 4);
    assert_int_equal(json_integer_value(json_object_get(o, "window_s")), 300);
    json_decref(o);
    alerts_msg_clear(&m);

    m = msg("delivery.failed", "canon", "x", "grouped", 1, "{}");
    t = alert_msg_text(&m, NULL);
    assert_string_equal(t, "1 more delivery to canon failed in the last 300 s (last: x)");
    free(t);
    alerts_msg_clear(&m);

    m = msg("target.circuit_opened", "canon", "circuit of canon opened", "grouped", 2, "{}");
    t = alert_msg_text(&m, NULL);
    assert_string_equal(t, "target.circuit_opened canon: 2 more in the last 300 s (last: circuit "
                           "of canon opened)");
    free(t);
    alerts_msg_clear(&m);
}

static void test_conditions(void **state)
{
    struct alerts_msg m =
        msg("queue.stalled", "queue", "queue stalled: 700 s", "firing", 1, "{\"oldest_s\":700}");
    char *t = alert_msg_text(&m, NULL);
    assert_string_equal(t, "queue stalled: 700 s");
    free(t);
    alerts_msg_clear(&m);

    m = msg("queue.stalled", "queue", "queue stalled: 1000 s", "firing", 1,
            "{\"oldest_s\":1000,\"firing_for_s\":300}");
    t = alert_msg_text(&m, NULL);
    assert_string_equal(t, "queue stalled: 1000 s (still, for 300 s)");
    free(t);
    alerts_msg_clear(&m);

    m = msg("feed.not_polled", "tfeed", "feed tfeed polled again", "resolved", 1,
            "{\"last_poll_at\":1764583200123}");
    json_t *o = body_json(ALERT_FORMAT_JSON, &m, NULL);
    assert_string_equal(str(o, "summary"), "resolved: feed tfeed polled again");
    assert_string_equal(str(o, "state"), "resolved");
    assert_string_equal(str(o, "last_poll_at"), "2025-12-01T10:00:00.123Z");
    json_decref(o);
    alerts_msg_clear(&m);
}

/* Every configured secret, wherever it turns up in a message, reaches no body. */
static void test_redaction(void **state)
{
    static const char *const secrets[] = {"redis-pass-123",
                                          "admin-token-abc",
                                          "webhook-secret-1",
                                          "api-token-777",
                                          "signing-secret-42",
                                          "target-pass-9",
                                          "feed-token-55",
                                          HOOK,
                                          "/services/T000/B000/hook-token-XYZ"};
    struct alert_redact *r = alert_redact_new(*state);
    assert_non_null(r);
    struct alerts_msg m =
        msg("sync.failed", "encora admin-token-abc",
            "CMS said: Authorization: Bearer api-token-777 and signing-secret-42", "", 1,
            "{\"error_message\":\"echo target-pass-9 redis-pass-123\",\"nested\":{\"k\":"
            "[\"webhook-secret-1\",\"feed-token-55\"]},\"url\":\"" HOOK "\","
            "\"path\":\"/services/T000/B000/hook-token-XYZ\"}");
    for (int fmt = 0; fmt < 2; fmt++) {
        char *b = alert_msg_body(fmt ? ALERT_FORMAT_SLACK : ALERT_FORMAT_JSON, &m, r);
        assert_non_null(b);
        for (size_t i = 0; i < sizeof(secrets) / sizeof(*secrets); i++)
            if (strstr(b, secrets[i])) {
                fprintf(stderr, "secret %s in %s\n", secrets[i], b);
                fail();
            }
        assert_non_null(strstr(b, "***"));
        free(b);
    }
    /* short values (the "pw" secret) are left alone: they would blank ordinary words */
    char *s = alert_redact(r, "pw and webhook-secret-1webhook-secret-1 end");
    assert_string_equal(s, "pw and ****** end");
    free(s);
    s = alert_redact(NULL, "as is");
    assert_string_equal(s, "as is");
    free(s);
    alerts_msg_clear(&m);
    alert_redact_free(r);
}

static void test_url_host(void **state)
{
    char h[64];
    alert_msg_url_host(HOOK, h, sizeof(h));
    assert_string_equal(h, "hooks.example.com");
    alert_msg_url_host("http://user:pass@alerts.internal:8080/in?k=v", h, sizeof(h));
    assert_string_equal(h, "alerts.internal:8080");
    alert_msg_url_host("http://example.org?token=x", h, sizeof(h));
    assert_string_equal(h, "example.org");
    alert_msg_url_host("nonsense", h, sizeof(h));
    assert_string_equal(h, "?");
}

/* ---- queue/alerts ------------------------------------------------------------------------- */

static void test_sink_id(void **state)
{
    const struct config *cfg = *state;
    char a[ALERTS_SINK_ID_LEN + 1], b[ALERTS_SINK_ID_LEN + 1];
    alerts_sink_id(&cfg->alerts[0], a);
    alerts_sink_id(&cfg->alerts[1], b);
    assert_int_equal(strlen(a), ALERTS_SINK_ID_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), ALERTS_SINK_ID_LEN);
    assert_string_not_equal(a, b);
    assert_null(strstr(a, "hook"));
}

static void test_tick_args(void **state)
{
    const struct config *cfg = *state;
    const char *ids[] = {"aaa", "bbb"};
    size_t room[] = {4, 0};
    struct alerts_ack acks[] = {{"aaa", "12", "sent"}};
    struct alerts_args *a = alerts_tick_args(cfg, ids, room, 120000, acks, 1);
    assert_non_null(a);
    const char **v = alerts_args_argv(a);
    static const char *const want[] = {
        "relay", "120000", "1",      "aaa",   "12", "sent", "2",     "aaa",    "30000", "600000",
        "4",     "bbb",    "300000", "90000", "0",  "1",    "tfeed", "120000", /* feeds with
                                                                                  alert_after_s */
        "1",     "encora", "60000", /* sources with alert_after_s */
        "2",     "canon",  "tfeed"};
    assert_int_equal(alerts_args_count(a), (int)(sizeof(want) / sizeof(*want)));
    for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
        assert_string_equal(v[i], want[i]);
    alerts_args_free(a);
}

static redisReply *rep_str(const char *s)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_STRING;
    r->str = strdup(s);
    r->len = strlen(s);
    return r;
}

static void test_decode(void **state)
{
    redisReply *el[7];
    redisReply top = {.type = REDIS_REPLY_ARRAY, .elements = 7, .element = el};
    redisReply zero = {.type = REDIS_REPLY_INTEGER, .integer = 2};
    el[0] = &zero;
    el[1] = rep_str("aaa");
    el[2] = rep_str("5");
    el[3] = rep_str("{\"sink\":\"aaa\",\"type\":\"delivery.failed\",\"subject\":\"canon\","
                    "\"at\":1764583200123,\"summary\":\"s\",\"details\":{\"x\":1},\"count\":3,"
                    "\"window_s\":30,\"state\":\"grouped\"}");
    el[4] = rep_str("bbb");
    el[5] = rep_str("6");
    el[6] = rep_str("not json");
    struct alerts_msg *m;
    size_t n;
    long long dropped;
    assert_int_equal(alerts_tick_decode(&top, &m, &n, &dropped), 0);
    assert_int_equal(n, 2);
    assert_int_equal(dropped, 2);
    assert_true(m[0].ok);
    assert_string_equal(m[0].sink, "aaa");
    assert_string_equal(m[0].id, "5");
    assert_string_equal(m[0].type, "delivery.failed");
    assert_string_equal(m[0].state, "grouped");
    assert_int_equal(m[0].at_ms, 1764583200123LL);
    assert_int_equal(m[0].count, 3);
    assert_int_equal(m[0].window_s, 30);
    assert_int_equal(json_integer_value(json_object_get(m[0].details, "x")), 1);
    /* malformed: kept with its sink and id, to be acknowledged */
    assert_false(m[1].ok);
    assert_string_equal(m[1].sink, "bbb");
    assert_string_equal(m[1].id, "6");
    alerts_msgs_free(m, n);
    /* not the script's answer */
    top.elements = 6;
    assert_int_equal(alerts_tick_decode(&top, &m, &n, &dropped), -1);
    assert_int_equal(alerts_tick_decode(NULL, &m, &n, &dropped), -1);
    for (int i = 1; i < 7; i++) {
        free(el[i]->str);
        free(el[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_body), cmocka_unit_test(test_slack_body),
        cmocka_unit_test(test_grouped),   cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_redaction), cmocka_unit_test(test_url_host),
        cmocka_unit_test(test_sink_id),   cmocka_unit_test(test_tick_args),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, setup, unit_config_teardown);
}
