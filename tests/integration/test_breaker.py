"""The circuit breaker per push target, end to end: a real relay, two relay-workers sharing one
Redis, and stub partners that go down (503, connection refused) and come back. While a circuit
is open the target's deliveries wait without spending attempts, one probe goes out per probe_s
across both workers, and the first success closes it; the waiting deliveries then go out in
order. Each scenario has its own source and target, so that they do not disturb each other."""
import copy
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SECRETS, Proc, RelayTestCase, base_config, encora_event,  # noqa: E402
                     free_port, main, post_webhook, request, run_tool, sign_encora, wait_until)
from worker_stubs import StubPartner  # noqa: E402

AUTH = {"Authorization": "Bearer " + SECRETS["RELAY_ADMIN_TOKEN"]}
PROBE_S = 2


class Partner(StubPartner):
    """The stub partner (worker_stubs), answering self.status per path prefix, started."""

    def __init__(self, port=None):
        super().__init__(port)
        self.start()

    def hits(self, prefix, since=0.0):
        """(time, path, status) of each request whose path starts with prefix, from since."""
        return [(r["at"], r["path"], r.get("status")) for r in
                self.got(lambda r: r["path"].startswith(prefix) and r["at"] >= since)]

    def close(self):
        self.stop()


def uuid_of(n):
    return "00000000-0000-4000-8000-%012d" % n


class BreakerTest(RelayTestCase):
    FAILURES = 3

    @classmethod
    def setUpClass(cls):
        cls.partner = Partner()
        cls.refused_port = free_port()  # nothing listens here until test_connection_refused
        base = "http://127.0.0.1:%d" % cls.partner.port
        sources = copy.deepcopy(base_config(1, 1)["sources"])
        for name in ("s_down", "s_order", "s_refused", "s_resume", "s_reject", "s_nob"):
            sources[name] = copy.deepcopy(sources["encora"])

        def target(name, src, **kw):
            t = {"format": "canonical", "url": base + "/%s/{id}" % name, "unpublish": "delete",
                 "sources": [src], "breaker": {"failures": cls.FAILURES, "probe_s": PROBE_S}}
            t.update(kw)
            return t

        cls.config_extra = {
            "sources": sources,
            "targets": {
                "down": target("down", "s_down"),
                "healthy": target("healthy", "s_down"),
                "order": target("order", "s_order", max_in_flight=1,
                                breaker={"failures": 2, "probe_s": 3}),
                "refused": target("refused", "s_refused",
                                  url="http://127.0.0.1:%d/refused/{id}" % cls.refused_port),
                "resume": target("resume", "s_resume"),
                "reject": target("reject", "s_reject", breaker={"failures": 2, "probe_s": 60}),
                "nob": target("nob", "s_nob", breaker=None),
            },
            "retry": {"max_attempts": 40, "base_delay_ms": 50, "max_delay_ms": 100},
        }
        super().setUpClass()
        cls.workers = [Proc(cls.workdir, "relay-worker", cls.config_path) for _ in range(2)]
        cls.seq = 0

    @classmethod
    def tearDownClass(cls):
        for w in cls.workers:
            w.stop()
        super().tearDownClass()
        cls.partner.close()

    # ---- helpers ---------------------------------------------------------------------------

    def admin(self, method, path, status=200):
        r = request(self.port, method, path, headers=AUTH)
        self.assertEqual(r.status, status, r.body)
        return r.json()

    def stats(self, target):
        return self.admin("GET", "/admin/stats")["targets"][target]

    def metrics(self):
        return request(self.port, "GET", "/metrics").body.decode()

    def circuit_metric(self, target):
        m = re.search(r'^relay_target_circuit_open\{target="%s"\} (\d)$' % target,
                      self.metrics(), re.M)
        return int(m.group(1)) if m else None

    def post(self, source, n, gap=0.0):
        """n unpublish events (DELETE pushes) to source's target; returns their content ids in
        the order they were accepted. gap: seconds between two, so that each is fanned out
        on its own and due at its own millisecond (deliveries due at the same millisecond are
        taken in id order)."""
        ids = []
        for i in range(n):
            if i and gap:
                time.sleep(gap)
            BreakerTest.seq += 1
            cid = uuid_of(BreakerTest.seq)
            body = encora_event("evt_%s_%d" % (source, BreakerTest.seq),
                                etype="content.unpublished", content_id=cid)
            self.assertEqual(post_webhook(self.port, source, body, sign_encora(body)).status, 202)
            ids.append(cid)
        return ids

    def deliveries(self, target):
        return self.admin("GET", "/admin/deliveries?target=%s&limit=500" % target)["data"]

    def attempts(self, target):
        return sum(d["attempt_count"] for d in self.deliveries(target))

    def workers_output(self):
        return "".join(w.output() for w in self.workers)

    def wait_circuit(self, target, state, timeout=30):
        wait_until(lambda: self.stats(target)["circuit"] == state, timeout=timeout,
                   what="%s's circuit to be %s:\n%s" % (target, state,
                                                         self.workers_output()[-3000:]))

    def wait_delivered(self, target, n, timeout=30):
        wait_until(lambda: self.stats(target)["delivered"] >= n
                   and all(d["status"] == "delivered" for d in self.deliveries(target)),
                   timeout=timeout, what="%s's %d deliveries to go out" % (target, n))

    def alerts(self, subject):
        """The circuit's alert events about subject (the outbox also carries delivery.failed)."""
        out = []
        for _id, fields in self.redis.cmd("XRANGE", "relay:alerts", "-", "+"):
            f = dict(zip(fields[::2], fields[1::2]))
            if f["subject"] == subject and f["type"].startswith("target.circuit_"):
                f["details"] = json.loads(f["details"])
                out.append(f)
        return out

    def targets_json(self, name):
        r = run_tool("relayctl", self.config_path, "targets", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [t for t in json.loads(r.stdout)["data"] if t["name"] == name][0]

    # ---- scenarios -------------------------------------------------------------------------

    def test_partner_down_then_back(self):
        self.assertEqual(self.stats("down")["circuit"], "closed")
        self.assertEqual(self.circuit_metric("down"), 0)
        self.partner.status["/down/"] = 503
        self.post("s_down", 6)

        self.wait_circuit("down", "open")
        self.assertEqual(self.circuit_metric("down"), 1)
        self.assertEqual(self.circuit_metric("healthy"), 0)
        # another target fed by the same events is not held up
        self.wait_delivered("healthy", 6)

        # While open: one probe per probe_s across both workers, no attempts spent by the
        # rest. Without the breaker six deliveries retrying every 50-100 ms would hit the
        # partner ~100 times in this window.
        time.sleep(0.5)  # attempts already in flight when it opened come back
        t0 = time.time()
        spent0 = self.attempts("down")
        window = 4 * PROBE_S
        time.sleep(window)
        hits = self.partner.hits("/down/", since=t0)
        spent = self.attempts("down") - spent0
        self.assertLessEqual(len(hits), window // PROBE_S + 1, hits[:12])
        self.assertGreaterEqual(len(hits), 2, "a probe goes out every probe_s: %r" % hits)
        gaps = [b[0] - a[0] for a, b in zip(hits, hits[1:])]
        self.assertTrue(all(g >= PROBE_S - 0.3 for g in gaps), "probes closer than probe_s: %r"
                        % gaps)
        # a probe answered at either end of the window may be counted on one side only
        self.assertLessEqual(abs(spent - len(hits)), 1, "only probes spend attempts")
        self.assertTrue(all(d["status"] in ("pending", "retrying")
                            for d in self.deliveries("down")),
                        "nothing fails while the circuit is open")

        # what the operator sees
        stats = json.loads(run_tool("relayctl", self.config_path, "stats", "--json").stdout)
        self.assertEqual(stats["targets"]["down"]["circuit"], "open")
        t = self.targets_json("down")
        self.assertEqual(t["circuit"], "open")
        self.assertEqual(t["delivery"], "push")
        self.assertIsNotNone(t["circuit_opened_at"])
        self.assertIsNotNone(t["next_probe_at"])
        self.assertGreaterEqual(t["consecutive_failures"], self.FAILURES)
        self.assertEqual(t["last_error"]["code"], "partner_unavailable")
        self.assertEqual(t["last_error"]["http_status"], 503)
        self.assertEqual(t["breaker"], {"failures": self.FAILURES, "probe_s": PROBE_S})
        self.assertEqual(self.admin("GET", "/admin/targets")["data"][0]["name"], "down")
        table = run_tool("relayctl", self.config_path, "targets").stdout
        self.assertRegex(table, r"(?m)^down\s+push\s+active\s+open \(since ")
        self.assertRegex(table, r"(?m)^healthy\s+push\s+active\s+closed\s+0\s+0\s+6\s")
        out = self.workers_output()
        opened = re.findall(r'^.*"msg":"circuit opened".*$', out, re.M)
        self.assertEqual(len([l for l in opened if '"target":"down"' in l]), 1, opened)
        line = [l for l in opened if '"target":"down"' in l][0]
        self.assertIn('"failures":%d' % self.FAILURES, line)
        self.assertIn('"error_code":"partner_unavailable"', line)
        a = self.alerts("down")
        self.assertEqual([x["type"] for x in a], ["target.circuit_opened"])
        self.assertEqual(a[0]["details"]["failures"], self.FAILURES)
        self.assertEqual(a[0]["details"]["last_error"]["code"], "partner_unavailable")

        # the partner is back: the next probe succeeds, the circuit closes, the rest goes out
        self.partner.status["/down/"] = 200
        self.wait_circuit("down", "closed", timeout=PROBE_S * 4 + 10)
        self.wait_delivered("down", 6)
        self.assertEqual(self.circuit_metric("down"), 0)
        out = self.workers_output()
        closed = [l for l in re.findall(r'^.*"msg":"circuit closed".*$', out, re.M)
                  if '"target":"down"' in l]
        self.assertEqual(len(closed), 1, closed)
        self.assertEqual([x["type"] for x in self.alerts("down")],
                         ["target.circuit_opened", "target.circuit_closed"])
        # every attempt recorded is one request the partner saw, and the other way round
        self.assertEqual(self.attempts("down"), len(self.partner.hits("/down/")))
        t = self.targets_json("down")
        self.assertEqual(t["consecutive_failures"], 0)
        self.assertIsNone(t["circuit_opened_at"])
        self.assertIsNotNone(t["last_delivered_at"])

    def test_waiting_deliveries_go_out_in_order(self):
        self.partner.status["/order/"] = 503
        first = self.post("s_order", 2)  # breaker.failures = 2: these open it
        self.wait_circuit("order", "open")
        self.partner.status["/order/"] = 200
        t0 = time.time()
        time.sleep(0.3)  # the first two's retries are due (50-100 ms after they failed)
        # due in this order, behind the first two (0.25 s apart: longer than an idle worker's
        # 100 ms between looks, so no worker fans out an event before the previous one)
        waiting = self.post("s_order", 6, gap=0.25)
        self.wait_circuit("order", "closed", timeout=20)
        self.wait_delivered("order", 8)
        got = [p.rsplit("/", 1)[1] for _, p, st in self.partner.hits("/order/", since=t0)]
        self.assertEqual(sorted(got[:2]), sorted(first), got)
        self.assertEqual(got[2:], waiting, "waiting deliveries out of order")
        self.assertEqual(len(got), 8, "each went out once")
        for d in self.deliveries("order"):
            if d["content_id"] in waiting:
                self.assertEqual(d["attempt_count"], 1, d)

    def test_connection_refused_then_back(self):
        self.post("s_refused", 4)
        self.wait_circuit("refused", "open")
        t = self.targets_json("refused")
        self.assertEqual(t["last_error"]["code"], "connection_error")
        self.assertIsNone(t["last_error"]["http_status"])
        spent = self.attempts("refused")
        self.assertLess(spent, 4 * self.FAILURES, "attempts stop when the circuit opens")
        partner = Partner(self.refused_port)
        try:
            self.wait_circuit("refused", "closed", timeout=PROBE_S * 3 + 10)
            self.wait_delivered("refused", 4)
            self.assertEqual(len(partner.hits("/refused/")), 4)
        finally:
            partner.close()

    def test_resume_closes_an_open_circuit(self):
        self.partner.status["/resume/"] = 503
        self.post("s_resume", 3)
        self.wait_circuit("resume", "open")
        r = run_tool("relayctl", self.config_path, "resume", "resume")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("its open circuit is closed", r.stdout)
        # the partner is still down: the waiting deliveries go out at once, fail, and open it
        # again after breaker.failures more failures
        wait_until(lambda: len(self.alerts("resume")) >= 3, timeout=30,
                   what="the circuit to close and open again")
        self.assertEqual([(a["type"], a["details"].get("by")) for a in self.alerts("resume")],
                         [("target.circuit_opened", None), ("target.circuit_closed", "operator"),
                          ("target.circuit_opened", None)])
        self.wait_circuit("resume", "open")
        doc = self.admin("POST", "/admin/targets/resume/resume")
        self.assertTrue(doc["circuit_closed"])
        self.assertEqual(doc["circuit"], "closed")
        # the relay writes its info lines at the end of the loop pass that made them, which
        # may come just after the answer went out
        wait_until(lambda: '"msg":"circuit closed"' in self.relay.output(), timeout=5,
                   what="the relay to log the circuit closing")
        self.partner.status["/resume/"] = 200
        self.wait_delivered("resume", 3)
        self.assertEqual(self.stats("resume")["circuit"], "closed")
        types = [(a["type"], a["details"].get("by")) for a in self.alerts("resume")]
        self.assertEqual(types[3], ("target.circuit_closed", "operator"))
        # resuming a closed circuit changes nothing
        self.assertFalse(self.admin("POST", "/admin/targets/resume/resume")["circuit_closed"])

    def test_final_answers_do_not_open_it(self):
        # 400 fails a delivery at once: the partner is up, so it is no reason to open
        self.partner.status["/reject/"] = 400
        self.post("s_reject", 5)
        wait_until(lambda: self.stats("reject")["failed"] == 5, timeout=30,
                   what="the rejected deliveries to fail")
        self.assertEqual(self.stats("reject")["circuit"], "closed")
        t = self.targets_json("reject")
        self.assertEqual(t["consecutive_failures"], 0)
        self.assertEqual(t["last_error"]["code"], "partner_rejected")
        self.assertEqual(self.alerts("reject"), [])

    def test_breaker_null_never_opens(self):
        self.partner.status["/nob/"] = 503
        t0 = time.time()
        self.post("s_nob", 2)
        # many more consecutive failures than a breaker would allow, and still closed
        wait_until(lambda: len(self.partner.hits("/nob/", since=t0)) >= 20, timeout=30,
                   what="attempts to the breaker-less target")
        self.assertEqual(self.stats("nob")["circuit"], "closed")
        self.assertIsNone(self.circuit_metric("nob"), "no breaker, no circuit metric")
        t = self.targets_json("nob")
        self.assertIsNone(t["breaker"])
        self.assertEqual(t["consecutive_failures"], 0)
        self.assertRegex(run_tool("relayctl", self.config_path, "targets").stdout,
                         r"(?m)^nob\s+push\s+active\s+off\s")
        self.partner.status["/nob/"] = 200
        self.wait_delivered("nob", 2)


if __name__ == "__main__":
    main()
