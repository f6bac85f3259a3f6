"""The admin API (README, "Operating it") of a real relay, against Redis seeded per docs/redis.md."""
import datetime
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SECRETS, Proc, Redis, RelayTestCase, base_config, encora_event,  # noqa: E402
                     free_port, main, post_webhook, request, run_tool, sign_encora, wait_port,
                     wait_ready, wait_until)
from seed import now_ms, record, seed_delivery  # noqa: E402

TARGETS = {
    "canon": {"format": "canonical", "url": "http://127.0.0.1:9/ingest/{id}"},
    "titan": {"format": "canonical", "url": "http://127.0.0.1:9/titan/{id}"},
}
AUTH = {"Authorization": "Bearer " + SECRETS["RELAY_ADMIN_TOKEN"]}


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


class AdminTest(RelayTestCase):
    config_extra = {"targets": TARGETS}

    def setUp(self):
        self.redis.cmd("FLUSHALL")

    def call(self, method, path, body=None, headers=None, status=200):
        h = dict(AUTH)
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        r = request(self.port, method, path, body=body, headers=h)
        self.assertEqual(r.status, status, "%s %s -> %d %r" % (method, path, r.status, r.body))
        self.assertIn("application/json", r.headers.get("content-type", ""))
        return r

    def error(self, r, code):
        doc = r.json()
        self.assertEqual(doc["code"], code)
        self.assertTrue(doc["message"])
        self.assertEqual(doc["request_id"], r.headers["x-request-id"])

    # ---- auth -----------------------------------------------------------------------------

    def test_auth(self):
        for h in ({}, {"Authorization": "Bearer wrong"},
                  {"Authorization": "Bearer " + SECRETS["RELAY_ADMIN_TOKEN"] + "x"},
                  {"Authorization": "Basic " + SECRETS["RELAY_ADMIN_TOKEN"]},
                  {"Authorization": "Bearer"}):
            for method, path in (("GET", "/admin/stats"), ("GET", "/admin/deliveries"),
                                 ("POST", "/admin/redeliver"), ("GET", "/admin/nothing")):
                r = request(self.port, method, path, headers=h)
                self.assertEqual(r.status, 401, (h, path))
                self.error(r, "unauthorized")
                self.assertNotIn(SECRETS["RELAY_ADMIN_TOKEN"].encode(), r.body)
        r = request(self.port, "GET", "/admin/stats",
                    headers={"authorization": "bearer " + SECRETS["RELAY_ADMIN_TOKEN"]})
        self.assertEqual(r.status, 200)

    def test_unknown_route_and_methods(self):
        self.error(self.call("GET", "/admin/nothing", status=404), "not_found")
        self.error(self.call("GET", "/admin/targets/canon", status=404), "not_found")
        for method, path, allow in (("POST", "/admin/stats", "GET"),
                                    ("DELETE", "/admin/deliveries", "GET"),
                                    ("PUT", "/admin/deliveries/dlv_x", "GET"),
                                    ("GET", "/admin/deliveries/dlv_x/redeliver", "POST"),
                                    ("GET", "/admin/redeliver", "POST"),
                                    ("GET", "/admin/targets/canon/pause", "POST")):
            r = self.call(method, path, status=405)
            self.error(r, "method_not_allowed")
            self.assertEqual(r.headers["allow"], allow)

    # ---- stats ----------------------------------------------------------------------------

    def test_stats(self):
        seed_delivery(self.redis, "e1", status="failed")
        seed_delivery(self.redis, "e2", status="retrying", next_retry_ms=now_ms() + 60000)
        seed_delivery(self.redis, "e3", status="pending", target="titan")
        doc = self.call("GET", "/admin/stats").json()
        self.assertEqual(doc["queues"], {"ready": 1, "inflight": 0, "scheduled": 1, "failed": 1})
        self.assertEqual(doc["targets"]["canon"],
                         {"pending": 0, "retrying": 1, "delivered": 0, "failed": 1,
                          "superseded": 0, "paused": False, "circuit": "closed"})
        self.assertEqual(doc["targets"]["titan"]["pending"], 1)
        self.assertIn("oldest_seconds", doc)

    # ---- deliveries -----------------------------------------------------------------------

    def test_list_pagination_and_filters(self):
        base = now_ms() - 50000
        ids = []
        for i in range(12):
            ids.append((base + (i // 4), seed_delivery(
                self.redis, "p%02d" % i, created_ms=base + (i // 4),
                target="canon" if i % 2 else "titan", status="failed")))
        expected = [d for _, d in sorted(ids, reverse=True)]
        seen, cursor = [], None
        for _ in range(10):
            q = {"limit": "5"}
            if cursor:
                q["cursor"] = cursor
            doc = self.call("GET", "/admin/deliveries?" + urllib.parse.urlencode(q)).json()
            self.assertEqual(set(doc), {"data", "meta"})
            seen += [r["id"] for r in doc["data"]]
            cursor = doc["meta"]["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, expected)

        doc = self.call("GET", "/admin/deliveries?target=titan&status=failed&source=encora").json()
        self.assertEqual(len(doc["data"]), 6)
        self.assertTrue(all(r["target"] == "titan" for r in doc["data"]))
        self.assertIsNone(doc["meta"]["next_cursor"])
        # default limit 50, max 500
        self.assertEqual(len(self.call("GET", "/admin/deliveries").json()["data"]), 12)
        self.call("GET", "/admin/deliveries?limit=500")

    def test_list_bad_input(self):
        for q, code in (("limit=0", "invalid_parameter"), ("limit=501", "invalid_parameter"),
                        ("limit=", "invalid_parameter"), ("status=lost", "invalid_parameter"),
                        ("cursor=abc%21", "invalid_cursor"), ("colour=red", "invalid_parameter"),
                        ("limit=1&limit=2", "invalid_parameter")):
            self.error(self.call("GET", "/admin/deliveries?" + q, status=400), code)
        self.error(self.call("GET", "/admin/deliveries?target=nope", status=404),
                   "unknown_target")

    def test_list_since_until(self):
        t0 = now_ms() // 1000 * 1000 - 10 * 3600000
        hours = {}
        for h in range(10):
            hours[h] = seed_delivery(self.redis, "w%d" % h, created_ms=t0 + h * 3600000,
                                     status="failed" if h % 2 else "delivered")

        def ids(q):
            out, cursor = [], None
            for _ in range(20):
                qq = dict(q, limit="2")
                if cursor:
                    qq["cursor"] = cursor
                doc = self.call("GET", "/admin/deliveries?" + urllib.parse.urlencode(qq)).json()
                out += [r["id"] for r in doc["data"]]
                cursor = doc["meta"]["next_cursor"]
                if cursor is None:
                    return out
            self.fail("paging did not end")

        # bounds are inclusive, on created_at, newest first, across pages
        self.assertEqual(ids({"since": iso(t0 + 3 * 3600000), "until": iso(t0 + 7 * 3600000)}),
                         [hours[h] for h in (7, 6, 5, 4, 3)])
        self.assertEqual(ids({"since": iso(t0 + 8 * 3600000)}), [hours[9], hours[8]])
        self.assertEqual(ids({"until": iso(t0 + 3600000)}), [hours[1], hours[0]])
        self.assertEqual(ids({"status": "failed", "since": iso(t0 + 2 * 3600000),
                              "until": iso(t0 + 6 * 3600000)}), [hours[5], hours[3]])
        # sub-second and offset forms are RFC 3339 too
        local = datetime.datetime.fromtimestamp((t0 + 9 * 3600000) / 1000,
                                                datetime.timezone(datetime.timedelta(hours=2)))
        self.assertEqual(ids({"since": local.isoformat()}), [hours[9]])
        self.assertEqual(ids({"since": iso(t0 + 20 * 3600000)}), [])

    def test_list_since_until_bad_input(self):
        for q in ("since=yesterday", "until=2026-13-01T00:00:00Z", "since=",
                  "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"):
            r = self.call("GET", "/admin/deliveries?" + q, status=400)
            self.error(r, "invalid_parameter")
            name = q.split("=")[0]
            self.assertTrue(r.json()["message"].startswith(name + ":"), r.json())
        r = self.call("GET", "/admin/deliveries?since=yesterday", status=400)
        self.assertIn("yesterday", r.json()["message"])

    def test_show(self):
        did = seed_delivery(self.redis, "e1", attempts=[(500, "http_5xx", 30), (502, "http_5xx", 40)],
                            http_status=502, error=("http_5xx", "bad gateway"))
        doc = self.call("GET", "/admin/deliveries/" + did).json()
        self.assertEqual(doc["id"], did)
        self.assertEqual(doc["status"], "failed")
        self.assertEqual(doc["attempt_count"], 2)
        self.assertEqual(doc["http_status"], 502)
        self.assertEqual(doc["error"], {"code": "http_5xx", "message": "bad gateway"})
        self.assertEqual([a["http_status"] for a in doc["attempts"]], [500, 502])
        self.assertEqual([a["duration_ms"] for a in doc["attempts"]], [30, 40])
        self.assertTrue(all(a["at"].endswith("Z") for a in doc["attempts"]))
        self.error(self.call("GET", "/admin/deliveries/dlv_000000000000000000000000", status=404),
                   "not_found")
        self.error(self.call("GET", "/admin/deliveries/..%2F..%2Fetc", status=404), "not_found")

    # ---- redelivery -----------------------------------------------------------------------

    def test_redeliver_one(self):
        did = seed_delivery(self.redis, "e1", attempts=[(500, "http_5xx", 1)] * 15,
                            error=("http_5xx", "x"), http_status=500)
        r = self.call("POST", "/admin/deliveries/%s/redeliver" % did, status=202)
        doc = r.json()
        self.assertEqual((doc["id"], doc["status"], doc["attempt_count"], doc["error"]),
                         (did, "pending", 0, None))
        self.assertEqual(record(self.redis, did)["status"], "pending")
        self.assertIsNone(self.redis.cmd("ZSCORE", "relay:failed", did))
        self.assertIsNotNone(self.redis.cmd("ZSCORE", "relay:due:canon", did))
        self.error(self.call("POST", "/admin/deliveries/dlv_000000000000000000000000/redeliver",
                             status=404), "not_found")
        busy = seed_delivery(self.redis, "e2", status="retrying", leased=True)
        self.error(self.call("POST", "/admin/deliveries/%s/redeliver" % busy, status=409),
                   "delivery_in_flight")

    def test_bulk_redeliver(self):
        t0 = now_ms() - 7200000
        a = seed_delivery(self.redis, "a", created_ms=t0)
        b = seed_delivery(self.redis, "b", created_ms=t0 + 3600000)
        c = seed_delivery(self.redis, "b", target="titan", created_ms=t0 + 3600000)
        d = seed_delivery(self.redis, "d", created_ms=t0 + 3600000, status="delivered")
        doc = self.call("POST", "/admin/redeliver",
                        {"status": "failed", "target": "canon", "since": iso(t0 + 1000),
                         "until": iso(t0 + 3700000)}).json()
        self.assertEqual(doc, {"redelivered": 1})
        self.assertEqual([record(self.redis, x)["status"] for x in (a, b, c, d)],
                         ["failed", "pending", "failed", "delivered"])
        doc = self.call("POST", "/admin/redeliver", {"status": "failed", "source": "encora",
                                                     "until": iso(t0 + 1000)}).json()
        self.assertEqual(doc, {"redelivered": 1})
        doc = self.call("POST", "/admin/redeliver", {"status": "failed"}).json()
        self.assertEqual(doc, {"redelivered": 1})
        self.assertEqual(self.call("POST", "/admin/redeliver", {"status": "failed"}).json(),
                         {"redelivered": 0})

    def test_bulk_redeliver_bad_input(self):
        for body, status, code in (
                ({}, 422, "invalid_request"),
                ({"status": "delivered"}, 422, "invalid_request"),
                ({"status": "failed", "since": "last week"}, 422, "invalid_request"),
                ({"status": "failed", "since": "2026-01-02T00:00:00Z",
                  "until": "2026-01-01T00:00:00Z"}, 422, "invalid_request"),
                ({"status": "failed", "targt": "canon"}, 422, "invalid_request"),
                ({"status": "failed", "target": 5}, 422, "invalid_request"),
                ([1], 422, "invalid_request"),
                ({"status": "failed", "target": "nope"}, 404, "unknown_target"),
                ({"status": "failed", "source": "nope"}, 404, "unknown_source")):
            self.error(self.call("POST", "/admin/redeliver", body, status=status), code)
        self.error(self.call("POST", "/admin/redeliver", b"{not json",
                             {"Content-Type": "application/json"}, status=400), "invalid_json")
        self.error(self.call("POST", "/admin/redeliver", b"status=failed",
                             {"Content-Type": "application/x-www-form-urlencoded"}, status=415),
                   "unsupported_media_type")

    # ---- pause / resume -------------------------------------------------------------------

    def test_pause_resume(self):
        seed_delivery(self.redis, "e1", status="pending", target="titan")
        doc = self.call("POST", "/admin/targets/titan/pause").json()
        self.assertEqual(doc["target"], "titan")
        self.assertIs(doc["paused"], True)
        self.assertEqual(doc["pending"], 1)
        stats = self.call("GET", "/admin/stats").json()
        self.assertIs(stats["targets"]["titan"]["paused"], True)
        self.assertIs(stats["targets"]["canon"]["paused"], False)
        # the same state as relayctl sees
        r = run_tool("relayctl", self.config_path, "stats", "--json")
        self.assertIs(json.loads(r.stdout)["targets"]["titan"]["paused"], True)
        doc = self.call("POST", "/admin/targets/titan/resume").json()
        self.assertIs(doc["paused"], False)
        self.assertIs(self.call("GET", "/admin/stats").json()["targets"]["titan"]["paused"], False)
        self.error(self.call("POST", "/admin/targets/nope/pause", status=404), "unknown_target")
        self.error(self.call("POST", "/admin/targets/titan/stop", status=404), "not_found")


class AdminDisabledTest(unittest.TestCase):
    """Without admin.token the admin API does not exist."""

    def test_404_without_token(self):
        workdir = tempfile.mkdtemp(prefix="relay-noadmin-")
        redis = Redis(workdir, appendonly=False).start()
        port = free_port()
        cfg = base_config(redis.port, port)
        del cfg["admin"]
        path = os.path.join(workdir, "relay.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        relay = Proc(workdir, "relay", path)
        try:
            wait_port(port)
            wait_ready(port)
            for h in ({}, AUTH):
                r = request(port, "GET", "/admin/stats", headers=h)
                self.assertEqual(r.status, 404)
                self.assertEqual(r.json()["code"], "not_found")
        finally:
            relay.stop()
            redis.kill()
            shutil.rmtree(workdir, ignore_errors=True)


class AdminRedisDownTest(RelayTestCase):
    def test_503_when_redis_is_down(self):
        self.redis.kill()
        for method, path, body in (("GET", "/admin/stats", None),
                                   ("GET", "/admin/deliveries", None),
                                   ("GET", "/admin/deliveries/dlv_x", None),
                                   ("POST", "/admin/redeliver", b'{"status":"failed"}'),
                                   ("POST", "/admin/targets/canon/pause", None)):
            h = dict(AUTH)
            h["Content-Type"] = "application/json"
            r = request(self.port, method, path, body=body, headers=h)
            self.assertEqual(r.status, 503, path)
            self.assertEqual(r.json()["code"], "queue_unavailable")
            self.assertIn("retry-after", r.headers)
        # validation still answers without Redis
        r = request(self.port, "GET", "/admin/deliveries?limit=0", headers=AUTH)
        self.assertEqual(r.status, 400)


class Partner:
    """A downstream partner on a free port answering with self.status."""

    def __init__(self):
        import http.server
        import threading
        outer = self
        self.status = 500
        self.hits = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                outer.hits.append((self.path, outer.status))
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no")

            do_PUT = do_POST

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class RealFlowTest(RelayTestCase):
    """One real pass through relay + relay-worker: a delivery fails, is redelivered through the
    admin API and then goes out."""

    partner = None

    @classmethod
    def setUpClass(cls):
        cls.partner = Partner()
        cls.config_extra = {
            "targets": {"canon": {"format": "canonical",
                                  "url": "http://127.0.0.1:%d/ingest/{id}" % cls.partner.port}},
            "retry": {"max_attempts": 2, "base_delay_ms": 50, "max_delay_ms": 100},
        }
        super().setUpClass()
        cls.worker = Proc(cls.workdir, "relay-worker", cls.config_path)

    @classmethod
    def tearDownClass(cls):
        cls.worker.stop()
        super().tearDownClass()
        cls.partner.close()

    def admin(self, method, path, body=None, status=200):
        h = dict(AUTH)
        if body is not None:
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        r = request(self.port, method, path, body=body, headers=h)
        self.assertEqual(r.status, status, r.body)
        return r.json()

    def test_fail_then_redeliver(self):
        body = encora_event("evt_flow_1", etype="content.unpublished")
        self.assertEqual(post_webhook(self.port, "encora", body, sign_encora(body)).status, 202)

        def failed():
            d = self.admin("GET", "/admin/deliveries?status=failed")["data"]
            return d[0] if d else None
        rec = wait_until(failed, timeout=20, what="the delivery to fail:\n" + self.worker.output())
        self.assertEqual(rec["attempt_count"], 2)
        self.assertEqual(rec["http_status"], 500)
        shown = self.admin("GET", "/admin/deliveries/" + rec["id"])
        self.assertEqual(len(shown["attempts"]), 2)
        self.assertEqual(self.admin("GET", "/admin/stats")["queues"]["failed"], 1)

        self.partner.status = 200
        doc = self.admin("POST", "/admin/deliveries/%s/redeliver" % rec["id"], status=202)
        self.assertEqual(doc["status"], "pending")

        def delivered():
            d = self.admin("GET", "/admin/deliveries/" + rec["id"])
            return d if d["status"] == "delivered" else None
        d = wait_until(delivered, timeout=20, what="the redelivery")
        self.assertEqual(d["attempt_count"], 1)
        self.assertEqual(len(d["attempts"]), 3)
        stats = self.admin("GET", "/admin/stats")
        self.assertEqual(stats["queues"]["failed"], 0)
        self.assertEqual(stats["targets"]["canon"]["delivered"], 1)
        self.assertEqual(stats["targets"]["canon"]["failed"], 0)
        r = request(self.port, "GET", "/metrics")
        self.assertIn(b'relay_deliveries_total{target="canon",outcome="delivered"} 1', r.body)


if __name__ == "__main__":
    main()
