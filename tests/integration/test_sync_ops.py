"""Catalog sync, operator side: the admin API (202, 409, records), relayctl sync's progress
(a bar under a pseudo-terminal, plain lines otherwise, --json, exit status), the
sources.*.sync.every_s schedule, /metrics, and a worker SIGKILLed mid-run whose run another
worker finishes from the checkpoint."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import time
import unittest

from harness import SECRETS, request, wait_until
from sync_env import SyncEnv, sync_delivery_id


class OpsTest(unittest.TestCase):
    env_args = {}

    def setUp(self):
        self.env = SyncEnv(**self.env_args)
        self.worker = self.env.start_worker()

    def tearDown(self):
        self.env.close_checked(self)


class TestAdmin(OpsTest):
    def test_start_conflict_and_records(self):
        env = self.env
        env.start_relay()
        env.encora.add_movies(300)
        env.encora.list_delay = 0.3
        r = env.admin("POST", "/admin/sources/encora/sync", {"targets": ["canon"], "dry_run": True})
        self.assertEqual(r.status, 202, r.body)
        sid = r.json()["sync_id"]
        self.assertTrue(sid.startswith("syn_"))
        r2 = env.admin("POST", "/admin/sources/encora/sync")
        self.assertEqual(r2.status, 409, r2.body)
        self.assertEqual(r2.json()["code"], "sync_running")
        self.assertIn(sid, r2.json()["message"])
        # relayctl agrees
        c = env.ctl("sync", "encora", "--detach")
        self.assertEqual(c.returncode, 1)
        self.assertIn("already running", c.stderr)

        r3 = env.admin("GET", "/admin/syncs/" + sid)
        self.assertEqual(r3.status, 200)
        rec = r3.json()
        for k in ("id", "source", "targets", "state", "started_at", "finished_at", "pages", "seen",
                  "queued", "skipped", "removed", "errors", "error"):
            self.assertIn(k, rec)
        self.assertEqual((rec["source"], rec["targets"], rec["state"]), ("encora", ["canon"], "running"))
        self.assertIsNone(rec["finished_at"])

        rec = env.wait_run(sid)
        self.assertEqual((rec["state"], rec["seen"], rec["queued"]), ("done", 300, 300))
        self.assertTrue(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", rec["finished_at"]))
        lst = env.admin("GET", "/admin/syncs").json()
        self.assertEqual([x["id"] for x in lst["data"]], [sid])
        self.assertEqual(env.admin("GET", "/admin/syncs?source=movida").json()["data"], [])
        # the source is free again
        r4 = env.admin("POST", "/admin/sources/encora/sync", {"dry_run": True})
        self.assertEqual(r4.status, 202, r4.body)
        env.wait_run(r4.json()["sync_id"])

        m = request(env.relay_port, "GET", "/metrics", headers={}).body.decode()
        self.assertIn('relay_sync_runs_total{source="encora",state="done"} 2', m)
        self.assertIn('relay_sync_titles_total{source="encora",outcome="queued"} 0', m)  # dry runs
        self.assertRegex(m, r'relay_sync_last_success_timestamp_seconds\{source="encora"\} \d{10}')

    def test_bad_requests(self):
        env = self.env
        env.start_relay()
        cases = [
            ("POST", "/admin/sources/nope/sync", None, 404, "unknown_source"),
            ("GET", "/admin/sources/encora/sync", None, 405, "method_not_allowed"),
            ("GET", "/admin/syncs/syn_nope", None, 404, "not_found"),
            ("GET", "/admin/syncs?limit=0", None, 400, "invalid_parameter"),
            ("POST", "/admin/sources/encora/sync", {"targets": ["nope"]}, 422, "unknown_target"),
            ("POST", "/admin/sources/encora/sync", {"targets": []}, 422, "invalid_request"),
            ("POST", "/admin/sources/encora/sync", {"full": "yes"}, 422, "invalid_request"),
            ("POST", "/admin/sources/encora/sync", {"bogus": 1}, 422, "invalid_request"),
        ]
        for method, path, body, status, code in cases:
            r = env.admin(method, path, body)
            self.assertEqual((r.status, r.json()["code"]), (status, code), (path, body, r.body))
        r = request(env.relay_port, "POST", "/admin/sources/encora/sync", body=b"{nope",
                    headers={"Authorization": "Bearer " + SECRETS["RELAY_ADMIN_TOKEN"],
                             "Content-Type": "application/json"})
        self.assertEqual((r.status, r.json()["code"]), (400, "invalid_json"))
        r = request(env.relay_port, "POST", "/admin/sources/encora/sync", headers={})
        self.assertEqual(r.status, 401)
        self.assertEqual(env.redis.cmd("EXISTS", "relay:syncs"), 0)


class TestRelayctl(OpsTest):
    def setUp(self):
        super().setUp()
        self.env.pause()
        self.env.encora.add_movies(450)
        self.env.encora.add_shows(2, seasons=1, episodes=2)
        self.env.encora.list_delay = 0.25

    def test_progress_bar_on_a_terminal(self):
        master, slave = pty.openpty()
        p = subprocess.Popen(self.env.ctl_argv("sync", "encora"), stdout=slave, stderr=slave, env=self.env.ctl_environ())
        os.close(slave)
        out = b""
        deadline = time.time() + 90
        while time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        rc = p.wait(30)
        os.close(master)
        text = out.decode("utf-8", "replace")
        self.assertEqual(rc, 0, text)
        frames = text.count("\r")
        self.assertGreaterEqual(frames, 3, text)
        self.assertRegex(text, r"\[#*-*\] +\d+%")
        self.assertIn("ETA", text)
        self.assertRegex(text, r"pages \d+  seen \d+  queued \d+  skipped \d+  removed \d+  errors \d+")
        self.assertRegex(text, r"sync syn_[0-9a-f]{20} done: pages 10 +seen 456")

    def test_plain_lines_json_and_exit_status(self):
        r = subprocess.run(self.env.ctl_argv("sync", "encora"), capture_output=True, text=True,
                           env=self.env.ctl_environ(), timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("\r", r.stdout)
        lines = r.stdout.strip().splitlines()
        self.assertGreaterEqual(len(lines), 2, r.stdout)
        self.assertRegex(lines[0], r"^sync syn_\w+ running: pages \d+")
        self.assertRegex(lines[-1], r"^sync syn_\w+ done: pages 10  seen 456  queued 456")

        r = subprocess.run(self.env.ctl_argv("sync", "encora", "--json", "--dry-run"), capture_output=True,
                           text=True, env=self.env.ctl_environ(), timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        rec = json.loads(r.stdout)
        # the target is paused: nothing was delivered yet, so nothing can be skipped
        self.assertEqual((rec["state"], rec["queued"], rec["dry_run"]), ("done", 456, True))

        # a failing run exits 1 with its error
        self.env.encora.list_delay = 0
        self.env.encora.faults.append([lambda p, n: p.endswith("/movies"), [(403, {}, b"{}")]])
        r = subprocess.run(self.env.ctl_argv("sync", "encora"), capture_output=True, text=True,
                           env=self.env.ctl_environ(), timeout=90)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("failed", r.stdout)
        self.assertIn("source_rejected", r.stdout)

        r = subprocess.run(self.env.ctl_argv("syncs"), capture_output=True, text=True, env=self.env.ctl_environ())
        self.assertEqual(r.returncode, 0)
        self.assertEqual(len(r.stdout.strip().splitlines()), 4, r.stdout)  # header + 3 runs
        r = subprocess.run(self.env.ctl_argv("syncs", "--source", "nope"), capture_output=True, text=True,
                           env=self.env.ctl_environ())
        self.assertEqual(r.returncode, 2)
        r = subprocess.run(self.env.ctl_argv("sync", "encora", "--target", "nope"), capture_output=True,
                           text=True, env=self.env.ctl_environ())
        self.assertEqual(r.returncode, 2)
        self.assertIn("no target named nope", r.stderr)
        r = subprocess.run(self.env.ctl_argv("sync"), capture_output=True, text=True, env=self.env.ctl_environ())
        self.assertEqual(r.returncode, 2)


class TestSchedule(OpsTest):
    env_args = {"sync": {"every_s": 2}}

    def test_schedule_fires(self):
        env = self.env
        env.encora.add_movies(20)

        def runs():
            r = env.ctl("syncs", "--json")
            done = [x for x in json.loads(r.stdout)["data"] if x["state"] == "done"]
            return done if len(done) >= 2 else None
        done = wait_until(runs, timeout=30, step=0.3, what="two scheduled runs")
        self.assertTrue(all(x["trigger"] == "schedule" for x in done))
        first, second = done[-1], done[-2]  # newest first
        self.assertEqual((first["queued"], second["skipped"]), (20, 20), done)


class TestTakeover(OpsTest):
    env_args = {"worker": {"concurrency": 16, "visibility_timeout_ms": 2000}}

    def test_worker_killed_mid_run(self):
        env = self.env
        env.encora.add_movies(1000)
        env.encora.list_delay = 0.4
        sid = env.start()
        wait_until(lambda: (env.record(sid) or {}).get("pages", 0) >= 3, timeout=30, step=0.1,
                   what="3 pages listed")
        self.worker.proc.send_signal(signal.SIGKILL)
        self.worker.proc.wait(10)
        at_kill = env.record(sid)
        self.assertEqual(at_kill["state"], "running")
        self.assertLess(at_kill["pages"], 10)  # of 10 movie pages and 1 (empty) show page
        env.start_worker()
        rec = env.wait_run(sid, timeout=90)
        self.assertEqual((rec["state"], rec["pages"], rec["seen"], rec["queued"], rec["skipped"]),
                         ("done", 11, 1000, 1000, 0), rec)
        self.assertEqual(rec["takeovers"], 1)
        ds = env.wait_delivered(sid, 1000, timeout=120)
        self.assertTrue(all(d["status"] == "delivered" for d in ds.values()))
        # every title queued once (one dedupe mark, one delivery per target) and pushed with
        # its one delivery id; a push the killed worker had in flight may repeat, with the
        # same Idempotency-Key
        marks = env.redis.cmd("KEYS", "relay:dedupe:encora:sync:%s:*" % sid)
        self.assertEqual(len(marks), 1000)
        by_id = {}
        for p in env.pushes():
            by_id.setdefault(p["path"].rsplit("/", 1)[1], set()).add(p["headers"]["idempotency-key"])
        self.assertEqual(len(by_id), 1000)
        for cid, keys in by_id.items():
            self.assertEqual(keys, {sync_delivery_id("encora", sid, cid)})


if __name__ == "__main__":
    unittest.main()
