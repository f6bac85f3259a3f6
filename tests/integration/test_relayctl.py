"""relayctl (README, "Operating it") against a real Redis seeded with delivery records (docs/redis.md)."""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Redis, base_config, free_port, run_tool, main  # noqa: E402
from seed import now_ms, record, seed_delivery, stats_hash  # noqa: E402

TARGETS = {
    "canon": {"format": "canonical", "url": "http://127.0.0.1:9/ingest/{id}"},
    "titan": {"format": "canonical", "url": "http://127.0.0.1:9/titan/{id}"},
}


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


class RelayctlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="relay-ctl-")
        cls.redis = Redis(cls.workdir, appendonly=False).start()
        cfg = base_config(cls.redis.port, free_port(), targets=TARGETS)
        cls.config_path = os.path.join(cls.workdir, "relay.json")
        with open(cls.config_path, "w") as f:
            json.dump(cfg, f)

    @classmethod
    def tearDownClass(cls):
        cls.redis.kill()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def setUp(self):
        self.redis.cmd("FLUSHALL")

    def ctl(self, *args, rc=0):
        r = run_tool("relayctl", self.config_path, *args)
        self.assertEqual(r.returncode, rc, "relayctl %s: rc %d\nstdout:\n%s\nstderr:\n%s"
                         % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def ctl_json(self, *args):
        return json.loads(self.ctl(*args, "--json").stdout)

    # ---- stats --------------------------------------------------------------------------

    def test_stats_empty_lists_every_target(self):
        doc = self.ctl_json("stats")
        self.assertEqual(doc["queues"], {"ready": 0, "inflight": 0, "scheduled": 0, "failed": 0})
        self.assertEqual(set(doc["targets"]), {"canon", "titan"})
        for t in doc["targets"].values():
            self.assertEqual(t, {"pending": 0, "retrying": 0, "delivered": 0, "failed": 0,
                                 "superseded": 0, "paused": False, "circuit": "closed"})

    def test_stats_counts_and_human_table(self):
        now = now_ms()
        seed_delivery(self.redis, "e1", status="failed", created_ms=now - 600000,
                      attempts=[(500, "http_5xx", 12)], http_status=500)
        seed_delivery(self.redis, "e2", status="retrying", next_retry_ms=now + 3600000,
                      attempts=[(503, "http_5xx", 5)])
        seed_delivery(self.redis, "e3", status="pending", next_retry_ms=now - 180000)
        seed_delivery(self.redis, "e4", status="delivered", target="titan")
        seed_delivery(self.redis, "e5", status="pending", leased=True)
        # one unread stream entry, as the relay's enqueue leaves it
        self.redis.cmd("XADD", "relay:events", "*", "source", "encora", "event_id", "e9")
        doc = self.ctl_json("stats")
        self.assertEqual(doc["queues"], {"ready": 2, "inflight": 1, "scheduled": 1, "failed": 1})
        self.assertGreaterEqual(doc["oldest_seconds"], 179)
        self.assertEqual(doc["targets"]["canon"]["failed"], 1)
        self.assertEqual(doc["targets"]["canon"]["retrying"], 1)
        self.assertEqual(doc["targets"]["canon"]["pending"], 2)
        self.assertEqual(doc["targets"]["titan"]["delivered"], 1)

        out = self.ctl("stats").stdout
        lines = out.splitlines()
        self.assertRegex(out, r"(?m)^QUEUE\s+DEPTH$")
        self.assertRegex(out, r"(?m)^ready\s+2$")
        self.assertRegex(out, r"(?m)^failed\s+1$")
        self.assertRegex(out, r"oldest waiting item: ready since 3m ago")
        head = next(l for l in lines if l.startswith("TARGET"))
        self.assertEqual(head.split(), ["TARGET", "STATE", "CIRCUIT", "PENDING", "RETRYING",
                                        "DELIVERED", "FAILED", "SUPERSEDED"])
        canon = next(l for l in lines if l.startswith("canon"))
        self.assertEqual(canon.split(), ["canon", "active", "closed", "2", "1", "0", "1", "0"])
        # aligned: numbers end in the same column as their heading
        self.assertEqual(len(canon), len(head))

    # ---- deliveries -----------------------------------------------------------------------

    def seed_many(self, n, base=None, same_ms_every=3):
        base = base or now_ms() - 100000
        ids = []
        for i in range(n):
            # several deliveries share a millisecond, as one fan-out creates them
            ms = base + (i // same_ms_every) * 10
            ids.append((ms, seed_delivery(self.redis, "ev%03d" % i, created_ms=ms,
                                          status="failed" if i % 2 else "delivered",
                                          target="canon" if i % 3 else "titan")))
        # newest first: created desc, then id desc (the log's order)
        return [d for _, d in sorted(ids, reverse=True)]

    def test_deliveries_pages_through_everything_once(self):
        expected = self.seed_many(23)
        seen, cursor, pages = [], None, 0
        while True:
            args = ["deliveries", "--limit", "5"] + (["--cursor", cursor] if cursor else [])
            doc = self.ctl_json(*args)
            pages += 1
            self.assertLessEqual(len(doc["data"]), 5)
            seen += [r["id"] for r in doc["data"]]
            cursor = doc["meta"]["next_cursor"]
            if cursor is None:
                break
            self.assertLess(pages, 10)
        self.assertEqual(seen, expected)
        self.assertEqual(pages, 5)

    def test_deliveries_filters_and_record_shape(self):
        self.seed_many(12)
        doc = self.ctl_json("deliveries", "--status", "failed", "--target", "canon")
        self.assertTrue(doc["data"])
        for r in doc["data"]:
            self.assertEqual((r["status"], r["target"]), ("failed", "canon"))
        self.assertIsNone(doc["meta"]["next_cursor"])
        r = doc["data"][0]
        self.assertEqual(set(r), {"id", "event_id", "source", "target", "event_type",
                                  "content_type", "content_id", "status", "attempt_count",
                                  "http_status", "error", "response_snippet", "next_retry_at",
                                  "created_at", "updated_at", "delivered_at"})
        self.assertIsInstance(r["attempt_count"], int)
        self.assertIsNone(r["http_status"])
        self.assertRegex(r["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertIsNone(r["delivered_at"])
        doc = self.ctl_json("deliveries", "--source", "movida")
        self.assertEqual(doc["data"], [])

    def test_deliveries_human_table(self):
        seed_delivery(self.redis, "e1", status="failed", created_ms=now_ms() - 7200000,
                      attempts=[(500, "http_5xx", 10)] * 3, http_status=500,
                      error=("http_5xx", "partner answered 500"))
        out = self.ctl("deliveries").stdout
        lines = out.splitlines()
        self.assertEqual(lines[0].split()[:4], ["ID", "STATUS", "TARGET", "SOURCE"])
        self.assertIn("failed", lines[1])
        self.assertIn("http_5xx", lines[1])
        self.assertIn("2h ago", lines[1])
        self.assertEqual(self.ctl("deliveries", "--status", "pending").stdout.strip(),
                         "no deliveries")

    def test_deliveries_bad_input_is_usage_error(self):
        for args in (["--limit", "0"], ["--limit", "501"], ["--limit", "x"],
                     ["--status", "lost"], ["--cursor", "garbage!"], ["--target", "nope"],
                     ["--bogus"]):
            r = self.ctl("deliveries", *args, rc=2)
            self.assertTrue(r.stderr.startswith("relayctl: "), r.stderr)

    def test_deliveries_since_until(self):
        t0 = now_ms() // 1000 * 1000 - 6 * 3600000
        ids = [seed_delivery(self.redis, "h%d" % h, created_ms=t0 + h * 3600000) for h in range(6)]
        doc = self.ctl_json("deliveries", "--since", iso(t0 + 3600000), "--until",
                            iso(t0 + 3 * 3600000))
        self.assertEqual([r["id"] for r in doc["data"]], [ids[3], ids[2], ids[1]])
        # paging keeps the window
        doc = self.ctl_json("deliveries", "--since", iso(t0 + 2 * 3600000), "--limit", "2")
        seen = [r["id"] for r in doc["data"]]
        doc = self.ctl_json("deliveries", "--since", iso(t0 + 2 * 3600000), "--limit", "2",
                            "--cursor", doc["meta"]["next_cursor"])
        seen += [r["id"] for r in doc["data"]]
        self.assertEqual(seen, [ids[5], ids[4], ids[3], ids[2]])
        self.assertIsNone(doc["meta"]["next_cursor"])
        for args in (["--since", "yesterday"], ["--until", "2026-02-30T00:00:00Z"],
                     ["--since", iso(t0 + 7200000), "--until", iso(t0)]):
            r = self.ctl("deliveries", *args, rc=2)
            self.assertIn(args[0].lstrip("-") + ":", r.stderr)

    # ---- show -----------------------------------------------------------------------------

    def test_show(self):
        did = seed_delivery(self.redis, "e1", status="failed", created_ms=now_ms() - 300000,
                            attempts=[(500, "http_5xx", 120), (None, "timeout", 5000)],
                            error=("timeout", "no answer in 5000 ms"),
                            response_snippet="oops\x1b[31m")
        doc = self.ctl_json("show", did)
        self.assertEqual(doc["id"], did)
        self.assertEqual(doc["error"], {"code": "timeout", "message": "no answer in 5000 ms"})
        self.assertEqual(len(doc["attempts"]), 2)
        a1, a2 = doc["attempts"]
        self.assertEqual((a1["attempt"], a1["http_status"], a1["duration_ms"]), (1, 500, 120))
        self.assertEqual(a1["error"]["code"], "http_5xx")
        self.assertRegex(a1["at"], r"Z$")
        self.assertIsNone(a2["http_status"])

        out = self.ctl("show", did).stdout
        self.assertRegex(out, r"(?m)^Delivery\s+%s$" % did)
        self.assertRegex(out, r"(?m)^Status\s+failed \(2 attempts\)$")
        self.assertRegex(out, r"(?m)^Error\s+timeout: no answer in 5000 ms$")
        self.assertRegex(out, r"(?m)^Created\s+\S+Z \(5m ago\)$")
        self.assertNotIn("\x1b", out)  # a partner's bytes never reach the terminal raw
        self.assertRegex(out, r"(?m)^#\s+AT\s+WHEN\s+HTTP\s+DURATION\s+ERROR$")
        self.assertRegex(out, r"(?m)^1\s+\S+\s+5m ago\s+500\s+120ms\s+http_5xx: attempt 1 failed$")
        self.assertRegex(out, r"(?m)^2\s+.*-\s+5000ms\s+timeout")

    def test_show_unknown(self):
        r = self.ctl("show", "dlv_000000000000000000000000", rc=1)
        self.assertIn("no delivery", r.stderr)
        self.ctl("show", rc=2)

    # ---- redeliver ------------------------------------------------------------------------

    def test_redeliver_one(self):
        did = seed_delivery(self.redis, "e1", status="failed", attempts=[(500, "http_5xx", 1)] * 4,
                            http_status=500, error=("http_5xx", "boom"))
        r = self.ctl("redeliver", did)
        self.assertIn("pending", r.stdout)
        rec = record(self.redis, did)
        self.assertEqual((rec["status"], rec["attempt_count"], rec["error_code"]),
                         ("pending", "0", ""))
        self.assertIsNone(self.redis.cmd("ZSCORE", "relay:failed", did))
        self.assertIsNotNone(self.redis.cmd("ZSCORE", "relay:due:canon", did))
        self.assertEqual(stats_hash(self.redis, "canon"), {"failed": 0, "pending": 1})
        doc = self.ctl_json("show", did)
        self.assertEqual((doc["status"], doc["attempt_count"], doc["error"], doc["http_status"]),
                         ("pending", 0, None, None))
        self.assertEqual(len(doc["attempts"]), 4)  # history is kept

    def test_redeliver_several_and_errors(self):
        a = seed_delivery(self.redis, "e1")
        b = seed_delivery(self.redis, "e2", leased=True, status="retrying")
        r = self.ctl("redeliver", a, "dlv_ffffffffffffffffffffffff", b, rc=1)
        self.assertIn("no delivery", r.stderr)
        self.assertIn("in flight", r.stderr)
        self.assertEqual(record(self.redis, a)["status"], "pending")
        self.assertEqual(record(self.redis, b)["status"], "retrying")
        self.ctl("redeliver", rc=2)
        self.ctl("redeliver", a, "--failed", rc=2)
        self.ctl("redeliver", a, "--target", "canon", rc=2)

    def test_redeliver_failed_by_target_and_window(self):
        t0 = now_ms() - 3600000
        old = seed_delivery(self.redis, "old", created_ms=t0)
        mid = seed_delivery(self.redis, "mid", created_ms=t0 + 600000)
        mid_t = seed_delivery(self.redis, "mid", target="titan", created_ms=t0 + 600000)
        new = seed_delivery(self.redis, "new", created_ms=t0 + 1800000)
        done = seed_delivery(self.redis, "done", status="delivered", created_ms=t0 + 600000)

        def iso(ms):
            import datetime
            return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc) \
                .strftime("%Y-%m-%dT%H:%M:%SZ")

        r = self.ctl("redeliver", "--failed", "--target", "canon", "--since", iso(t0 + 300000),
                     "--until", iso(t0 + 900000))
        self.assertEqual(r.stdout.strip(), "redelivered 1 failed delivery")
        self.assertEqual(record(self.redis, mid)["status"], "pending")
        for d in (old, mid_t, new):
            self.assertEqual(record(self.redis, d)["status"], "failed")
        self.assertEqual(record(self.redis, done)["status"], "delivered")

        doc = json.loads(self.ctl("redeliver", "--failed", "--target", "titan", "--json").stdout)
        self.assertEqual(doc, {"redelivered": 1})
        r = self.ctl("redeliver", "--failed")
        self.assertEqual(r.stdout.strip(), "redelivered 2 failed deliveries")
        self.assertEqual(self.redis.cmd("ZCARD", "relay:failed"), 0)
        self.ctl("redeliver", "--failed", "--since", "yesterday", rc=2)
        self.ctl("redeliver", "--failed", "--target", "nope", rc=2)

    def test_redeliver_failed_many_batches(self):
        # more than one script call's batch (500)
        for i in range(1203):
            seed_delivery(self.redis, "b%d" % i, created_ms=1700000000000 + i)
        r = self.ctl("redeliver", "--failed", "--since", "2023-11-14T22:13:21Z")
        # created 1700000000000 + i >= 1700000001000  <=> i >= 1000
        self.assertEqual(r.stdout.strip(), "redelivered 203 failed deliveries")
        self.assertEqual(self.redis.cmd("ZCARD", "relay:failed"), 1000)

    # ---- pause / resume -------------------------------------------------------------------

    def test_pause_resume(self):
        self.assertIn("paused", self.ctl("pause", "titan").stdout)
        self.assertTrue(self.ctl_json("stats")["targets"]["titan"]["paused"])
        self.assertFalse(self.ctl_json("stats")["targets"]["canon"]["paused"])
        self.assertRegex(self.ctl("stats").stdout, r"(?m)^titan\s+paused\s")
        self.assertIn("resumed", self.ctl("resume", "titan").stdout)
        self.assertFalse(self.ctl_json("stats")["targets"]["titan"]["paused"])
        r = self.ctl("pause", "nope", rc=2)
        self.assertIn("not configured", r.stderr)
        self.ctl("pause", rc=2)

    # ---- the CLI itself -------------------------------------------------------------------

    def test_help_version_usage(self):
        r = run_tool("relayctl", None, "--help")
        self.assertEqual(r.returncode, 0)
        for c in ("stats", "deliveries", "show", "redeliver", "pause", "resume"):
            self.assertRegex(r.stdout, r"(?m)^  %s\b" % c)
        r = run_tool("relayctl", None, "--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^relayctl \d+\.\d+\.\d+")
        self.assertEqual(run_tool("relayctl", self.config_path).returncode, 2)
        self.assertEqual(run_tool("relayctl", self.config_path, "frobnicate").returncode, 2)
        r = run_tool("relayctl", os.path.join(self.workdir, "missing.json"), "stats")
        self.assertEqual(r.returncode, 2)
        # the config may also come from RELAY_CONFIG
        r = run_tool("relayctl", None, "stats", env={"RELAY_CONFIG": self.config_path})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_redis_unreachable(self):
        cfg = base_config(free_port(), free_port(), targets=TARGETS)
        path = os.path.join(self.workdir, "down.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        for args in (["stats"], ["deliveries"], ["show", "dlv_x"], ["pause", "canon"]):
            r = run_tool("relayctl", path, *args)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn("Redis is unreachable", r.stderr)
            self.assertEqual(r.stdout, "")
        self.assertNotIn(SECRET_MARK, r.stderr)


SECRET_MARK = "DO-NOT-LOG"

if __name__ == "__main__":
    main()
