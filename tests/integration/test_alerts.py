"""Alerts sent by relay-worker (README "Alerts"): delivery.failed grouped per target and
interval, sync.failed, the conditions queue.stalled (a paused target's deliveries waiting),
feed.not_polled and source.silent with their "resolved" messages, each alert once per
receiver with two workers, retries while the receiver is down, a hanging receiver that does
not slow deliveries, and no secret in any alert. Real Redis, relay, workers, stub CMS, stub
partner and stub alert receivers (Python standard library HTTP servers)."""
import base64
import json
import os
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Proc, SECRETS, encora_event, free_port, main, post_webhook, request,  # noqa: E402
                     run_tool, sign_encora, wait_port, wait_ready, wait_until)
from worker_stubs import (API_TOKEN, MOVIDA_PASSWORD, MOVIE_ID, SIGNING_SECRET, WorkerEnv,  # noqa: E402
                          delivery_id)

FEED_PASSWORD = "feed-pw-DO-NOT-LOG-8d1e"
FEED_AUTH = {"Authorization": "Basic " + base64.b64encode(("titanos:" + FEED_PASSWORD).encode()).decode()}
HOOK_PATH = "/services/T000/B000/hook-token-DO-NOT-LOG-3b7c"
ALL_SECRETS = [API_TOKEN, MOVIDA_PASSWORD, SIGNING_SECRET, FEED_PASSWORD, HOOK_PATH,
               "hook-token-DO-NOT-LOG-3b7c"] + list(SECRETS.values())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Receiver:
    """An alert receiver: records every POST (path, headers, parsed JSON). mode: "ok" (200),
    "hang" (never answers in time), or a list of statuses answered first, then 200."""

    def __init__(self, port=None, mode="ok"):
        self.port = port or free_port()
        self.mode = mode
        self.lock = threading.Lock()
        self.got = []
        self.server = None
        self.bodies = []

    def start(self):
        rcv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                with rcv.lock:
                    rcv.bodies.append(raw)
                    status = 200
                    if isinstance(rcv.mode, list) and rcv.mode:
                        status = rcv.mode.pop(0)
                    hang = rcv.mode == "hang"
                    if status == 200 and not hang:
                        rcv.got.append({"path": self.path, "ctype": self.headers.get("Content-Type"),
                                        "json": json.loads(raw), "at": time.time()})
                if hang:
                    time.sleep(30)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self):
        return "http://127.0.0.1:%d%s" % (self.port, HOOK_PATH)

    def messages(self, pred=lambda m: True):
        with self.lock:
            return [g["json"] for g in self.got if pred(g["json"])]


def ctl(config_path, *args):
    return run_tool("relayctl", config_path, *args, env={"MOVIDA_PASSWORD": MOVIDA_PASSWORD})


class AlertsCase(unittest.TestCase):
    def setUp(self):
        self.receivers = []
        self.relay = None
        self.env = WorkerEnv({
            "push": {"format": "canonical", "url": "PARTNER/push/{id}", "sources": ["encora"],
                     "signing_secret": SIGNING_SECRET, "breaker": None},
            "good": {"format": "canonical", "url": "PARTNER/good/{id}", "sources": ["encora"]},
        }, retry={"max_attempts": 2, "base_delay_ms": 50, "max_delay_ms": 100})

    def tearDown(self):
        if self.relay:
            self.relay.stop()
        logs = "\n".join(w.output() for w in self.env.workers)
        if self.relay:
            logs += self.relay.output()
        if os.environ.get("ALERTS_DEBUG"):
            print(logs[-6000:])
        self.env.close()
        for r in self.receivers:
            r.stop()
        # no secret in any alert body nor (the alert URL's path) in any log line
        for r in self.receivers:
            for raw in r.bodies:
                for s in ALL_SECRETS:
                    self.assertNotIn(s.encode(), raw, "a secret in an alert body")
        self.assertNotIn("hook-token-DO-NOT-LOG", logs)

    def receiver(self, **kw):
        r = Receiver(**kw)
        self.receivers.append(r)
        return r

    def configure(self, alerts, **extra):
        cfg = self.env.config
        cfg["alerts"] = alerts
        for k, v in extra.items():
            cfg[k] = v
        with open(self.env.config_path, "w") as f:
            json.dump(cfg, f)

    def fail_one(self, n, target="push"):
        """One event whose push to target ends failed (the partner answers 400, with an error
        text that echoes credentials: it must not reach an alert)."""
        echo = json.dumps({"error": "bad", "echo": "Bearer %s %s" % (API_TOKEN, SIGNING_SECRET)})
        self.env.partner.plan("/%s/" % target, [(400, {}, echo.encode(), 0)])
        eid = "evt-fail-%d-%s" % (n, target)
        self.env.xadd("encora", eid)
        did = delivery_id("encora", eid, target)
        self.env.wait_status(did, "failed", timeout=20)
        return did

    def logs(self):
        return "\n".join(w.output() for w in self.env.workers)

    # ---- delivery.failed ----------------------------------------------------------------

    def test_delivery_failed_grouped_json(self):
        rcv = self.receiver().start()
        self.configure([{"url": rcv.url(), "format": "json", "min_interval_s": 4}])
        self.env.start_worker()
        dids = [self.fail_one(i) for i in range(5)]
        # the partner's echo is in the delivery log, where an operator may read it ...
        self.assertIn(API_TOKEN, self.env.record(dids[0]).get("response_snippet", ""))
        first = wait_until(lambda: rcv.messages(lambda m: m["type"] == "delivery.failed"),
                           timeout=10, what="the first delivery.failed")
        self.assertEqual(len(first), 1)
        m = first[0]
        self.assertEqual(m["subject"], "push")
        self.assertEqual(m["target"], "push")
        self.assertEqual(m["source"], "encora")
        self.assertIn("delivery_id", m)
        self.assertRegex(m["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertIn("failed", m["summary"])
        self.assertEqual(rcv.got[0]["ctype"], "application/json")
        self.assertEqual(rcv.got[0]["path"], HOOK_PATH)
        grouped = wait_until(lambda: rcv.messages(lambda x: x.get("state") == "grouped"),
                             timeout=15, what="the grouped delivery.failed")
        self.assertEqual(len(grouped), 1, grouped)
        self.assertEqual(grouped[0]["count"], 4)
        self.assertNotEqual(grouped[0]["id"], m["id"])
        self.assertIn("4 more deliveries to push failed", grouped[0]["summary"])
        # nothing more: 5 failures, 2 messages
        time.sleep(6)
        self.assertEqual(len(rcv.messages(lambda x: x["type"] == "delivery.failed")), 2)
        # a failure after the quiet interval goes out at once again
        self.fail_one(9)
        wait_until(lambda: len(rcv.messages(lambda x: x["type"] == "delivery.failed")) == 3,
                   timeout=10, what="a new interval's first failure")
        # counted: 3 sent, 4 suppressed (grouped)
        port = self.start_relay()
        wait_until(lambda: 'relay_alerts_total{type="delivery.failed",outcome="sent"} 3' in
                   self.metrics(port), timeout=10, what="relay_alerts_total sent")
        self.assertIn('relay_alerts_total{type="delivery.failed",outcome="suppressed"} 4',
                      self.metrics(port))
        self.assertIn('relay_alerts_total{type="queue.stalled",outcome="sent"} 0', self.metrics(port))

    def metrics(self, port):
        r = request(port, "GET", "/metrics")
        self.assertEqual(r.status, 200)
        return r.body.decode()

    def test_receiver_refusing_is_not_retried(self):
        rcv = self.receiver(mode=[404]).start()  # a revoked Slack hook answers 404
        self.configure([{"url": rcv.url(), "format": "slack", "min_interval_s": 60}])
        self.env.start_worker()
        self.fail_one(1)
        wait_until(lambda: "alert dropped" in self.logs(), timeout=10, what="the alert dropped")
        time.sleep(3)
        self.assertEqual(len(rcv.bodies), 1)  # one attempt, no retry
        port = self.start_relay()
        wait_until(lambda: 'relay_alerts_total{type="delivery.failed",outcome="failed"} 1' in
                   self.metrics(port), timeout=10, what="relay_alerts_total failed")

    def test_two_workers_two_receivers_each_alert_once(self):
        slack, plain = self.receiver().start(), self.receiver().start()
        self.configure([{"url": slack.url(), "format": "slack", "min_interval_s": 2},
                        {"url": plain.url() + "?x=1", "format": "json", "min_interval_s": 2}])
        self.env.start_worker()
        self.env.start_worker()
        self.fail_one(1)
        wait_until(lambda: slack.messages() and plain.messages(), timeout=10, what="both receivers")
        time.sleep(5)  # several ticks of both workers, a whole interval over
        self.assertEqual(len(slack.messages()), 1, slack.messages())
        self.assertEqual(len(plain.messages()), 1, plain.messages())
        s = slack.messages()[0]
        self.assertEqual(list(s), ["text"])
        self.assertIn("delivery.failed", s["text"])
        self.assertIn("push", s["text"])
        self.assertEqual(plain.messages()[0]["type"], "delivery.failed")

    # ---- conditions -----------------------------------------------------------------------

    def test_queue_stalled_by_a_paused_target_then_resolved(self):
        rcv = self.receiver().start()
        self.configure([{"url": rcv.url(), "format": "json", "min_interval_s": 60,
                         "queue_oldest_s": 2}])
        self.env.start_worker()
        r = ctl(self.env.config_path, "pause", "good")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.env.xadd("encora", "evt-stall", targets="good")
        did = delivery_id("encora", "evt-stall", "good")
        wait_until(lambda: self.env.record(did).get("status") == "pending", timeout=10)
        m = wait_until(lambda: rcv.messages(lambda x: x["type"] == "queue.stalled"), timeout=15,
                       what="queue.stalled")[0]
        self.assertEqual(m["state"], "firing")
        self.assertGreaterEqual(m["oldest_s"], 2)
        self.assertEqual(m["queue_oldest_s"], 2)
        r = ctl(self.env.config_path, "resume", "good")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.env.wait_status(did, "delivered", timeout=15)
        res = wait_until(lambda: rcv.messages(lambda x: x.get("state") == "resolved"), timeout=10,
                         what="queue.stalled resolved")
        self.assertEqual(res[0]["type"], "queue.stalled")
        self.assertTrue(res[0]["summary"].startswith("resolved:"))
        self.assertEqual(len(rcv.messages(lambda x: x["type"] == "queue.stalled")), 2)

    def start_relay(self):
        self.relay = Proc(self.env.workdir, "relay", self.env.config_path,
                          env={"MOVIDA_PASSWORD": MOVIDA_PASSWORD})
        port = int(self.env.config["listen"].rsplit(":", 1)[1])
        wait_port(port)
        wait_ready(port)
        return port

    def test_feed_not_polled_and_source_silent_then_resolved(self):
        rcv = self.receiver().start()
        cfg = self.env.config
        cfg["targets"]["tfeed"] = {"format": "titanos", "delivery": "feed", "sources": ["encora"],
                                   "feed": {"auth": {"type": "basic", "username": "titanos",
                                                     "password": FEED_PASSWORD},
                                            "alert_after_s": 2}}
        cfg["sources"]["encora"]["alert_after_s"] = 3
        self.configure([{"url": rcv.url(), "format": "slack", "min_interval_s": 60}])
        port = self.start_relay()
        self.env.start_worker()
        feed = wait_until(lambda: rcv.messages(lambda x: "feed.not_polled" in x["text"]),
                          timeout=15, what="feed.not_polled")
        self.assertIn("tfeed", feed[0]["text"])
        self.assertIn("never polled", feed[0]["text"])
        src = wait_until(lambda: rcv.messages(lambda x: "source.silent" in x["text"]),
                         timeout=15, what="source.silent")
        self.assertIn("encora", src[0]["text"])
        self.assertFalse(rcv.messages(lambda x: "movida" in x["text"]))  # no alert_after_s
        # a real poll and a real verified webhook clear both
        self.assertEqual(request(port, "GET", "/feeds/tfeed", headers=FEED_AUTH).status, 200)
        body = encora_event("evt-hello")
        self.assertEqual(post_webhook(port, "encora", body, sign_encora(body)).status, 202)
        wait_until(lambda: rcv.messages(lambda x: "resolved: feed tfeed polled again" in x["text"]),
                   timeout=15, what="feed.not_polled resolved")
        wait_until(lambda: rcv.messages(lambda x: "resolved: source encora is sending again" in x["text"]),
                   timeout=15, what="source.silent resolved")
        self.assertEqual(len(rcv.messages(lambda x: "feed.not_polled" in x["text"])), 2)

    def test_sync_failed(self):
        rcv = self.receiver().start()
        self.configure([{"url": rcv.url(), "format": "json", "min_interval_s": 60}])
        self.env.start_worker()
        # the stub CMS has no listing: the run ends failed (source_rejected)
        r = ctl(self.env.config_path, "sync", "encora", "--detach")
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        m = wait_until(lambda: rcv.messages(lambda x: x["type"] == "sync.failed"), timeout=20,
                       what="sync.failed")[0]
        self.assertEqual(m["subject"], "encora")
        self.assertEqual(m["source"], "encora")
        self.assertTrue(m["sync_id"])
        self.assertTrue(m["error_code"])

    # ---- the sender -----------------------------------------------------------------------

    def test_receiver_down_then_up_is_retried(self):
        port = free_port()
        rcv = self.receiver(port=port)  # not listening yet: connection refused
        self.configure([{"url": rcv.url(), "format": "json", "min_interval_s": 60}])
        self.env.start_worker()
        self.fail_one(1)
        wait_until(lambda: "alert not taken, retrying" in self.logs(), timeout=10,
                   what="a failed attempt")
        rcv.mode = [503]  # up, but the first answer is a 503: retried again
        rcv.start()
        m = wait_until(lambda: rcv.messages(), timeout=20, what="the alert after the receiver came up")
        self.assertEqual(m[0]["type"], "delivery.failed")
        time.sleep(3)
        self.assertEqual(len(rcv.messages()), 1)
        # every attempt of a message carries its id: a receiver dedupes on it
        ids = {json.loads(b)["id"] for b in rcv.bodies}
        self.assertEqual(ids, {m[0]["id"]})
        self.assertRegex(m[0]["id"], r"^\d+-\d+$")
        self.assertIn("127.0.0.1:%d" % port, self.logs())  # the host is logged, not the path

    def test_hanging_receiver_does_not_slow_deliveries(self):
        rcv = self.receiver(mode="hang").start()
        self.configure([{"url": rcv.url(), "format": "json", "min_interval_s": 1}])
        self.env.start_worker()
        for i in range(3):
            self.fail_one(i)
        wait_until(lambda: len(rcv.bodies) >= 1, timeout=10, what="an alert POST hanging")
        t0 = time.time()
        self.env.xadd("encora", "evt-good", targets="good")
        self.env.wait_status(delivery_id("encora", "evt-good", "good"), "delivered", timeout=10)
        self.assertLess(time.time() - t0, 3.0)
        wait_until(lambda: "timeout" in self.logs(), timeout=15, what="the alert POST timing out")


if __name__ == "__main__":
    main()
