"""Cancelling a catalog sync run (README, Sync and backfill): POST /admin/syncs/{id}/cancel and
relayctl sync cancel. A run a worker is listing stops at its next page or beat and ends
cancelled (no removals, its lease and the source's lock released, what it queued kept); a run
no worker holds ends cancelled at once; an ended run answers 409, an unknown one 404;
relayctl sync following a run exits non-zero when it ends cancelled, and Ctrl-C offers to
cancel it."""
import json
import os
import pty
import signal
import subprocess
import time
import unittest

from catalog_bulk import script
from harness import BIN, SECRETS, Redis, request, wait_until
from sync_env import SyncEnv
from worker_stubs import MOVIDA_PASSWORD

GONE = "m-99999"  # live in the target's catalog, no longer listed by the CMS


class CancelTest(unittest.TestCase):
    start_worker = True

    def setUp(self):
        self.env = SyncEnv()
        if self.start_worker:
            self.env.start_worker()
        self.env.start_relay()

    def tearDown(self):
        out = self.env.logs()
        rcs = self.env.close()
        self.assertTrue(all(rc == 0 for rc in rcs), out[-3000:])
        for secret in SECRETS.values():
            self.assertNotIn(secret, out)

    def argv(self, *args):
        return [os.path.join(BIN, "relayctl"), "--config", self.env.config_path] + list(args)

    def environ(self):
        e = dict(os.environ)
        e.update(SECRETS)
        e["MOVIDA_PASSWORD"] = MOVIDA_PASSWORD
        return e

    def plant_live_title(self):
        """A title the target holds (delivered by a webhook long ago) that the CMS no longer
        lists: a complete run would remove it, a cancelled one must not."""
        r = self.env.redis
        r.cmd("HSET", "relay:cat:canon:e:encora:" + GONE, "status", "live", "content_type", "movie",
              "seq", "1", "order_ts", "1", "order_seq", "1-0")
        r.cmd("SET", "relay:cat:canon:d:encora:" + GONE, 'L{"id":"%s"}' % GONE)
        r.cmd("ZADD", "relay:cat:canon:seq", "1", "encora:" + GONE)
        r.cmd("HSET", "relay:cat:canon:meta", "seq", "1", "live", "1")

    def list_count(self):
        return len(self.env.encora.list_requests())

    def assert_released(self, sid):
        r = self.env.redis
        self.assertIsNone(r.cmd("GET", "relay:sync:lock:encora"))
        self.assertEqual(r.cmd("SISMEMBER", "relay:sync:active", sid), 0)
        self.assertEqual(r.cmd("HGET", "relay:sync:run:" + sid, "owner"), "")
        self.assertEqual(r.cmd("EXISTS", "relay:sync:run:%s:seen" % sid), 0)
        self.assertGreater(r.cmd("TTL", "relay:sync:run:" + sid), 0)  # kept retention_s


class TestCancelRunning(CancelTest):
    def test_cancel_mid_run(self):
        env = self.env
        self.plant_live_title()
        env.encora.add_movies(1000)
        env.encora.list_delay = 0.5  # a slow CMS: 10 movie pages take 5 s or more
        r = env.admin("POST", "/admin/sources/encora/sync")
        self.assertEqual(r.status, 202, r.body)
        sid = r.json()["sync_id"]
        wait_until(lambda: (env.record(sid) or {}).get("pages", 0) >= 2, timeout=30, step=0.05,
                   what="2 pages listed")

        r = env.admin("POST", "/admin/syncs/%s/cancel" % sid)
        self.assertEqual(r.status, 202, r.body)  # its worker ends it at its next page or beat
        rec = r.json()
        self.assertEqual((rec["id"], rec["state"]), (sid, "running"))
        self.assertTrue(rec["cancel_requested_at"].endswith("Z"))
        # asking again is harmless
        self.assertEqual(env.admin("POST", "/admin/syncs/%s/cancel" % sid).status, 202)

        rec = env.wait_run(sid, timeout=20)
        self.assertEqual((rec["state"], rec["error"], rec["removed"]), ("cancelled", None, 0), rec)
        self.assertIsNotNone(rec["finished_at"])
        self.assertIsNotNone(rec["cancel_requested_at"])
        # how far it got: the pages it applied, their titles queued, not the whole catalog
        self.assertGreaterEqual(rec["pages"], 2)
        self.assertLess(rec["pages"], 10)
        self.assertEqual(rec["seen"], rec["pages"] * 100)
        self.assertEqual(rec["queued"], rec["seen"])
        self.assert_released(sid)
        # it stopped listing
        n = self.list_count()
        time.sleep(1.5)
        self.assertEqual(self.list_count(), n)
        # no removal: the unlisted title is still live, no unpublish was queued
        self.assertEqual(env.redis.cmd("HGET", "relay:cat:canon:e:encora:" + GONE, "status"), "live")
        self.assertFalse([d for d in env.stream_events().values() if d.get("content_id") == GONE])
        # what it queued stays queued and is delivered
        ds = env.wait_delivered(sid, rec["queued"])
        self.assertTrue(all(d["status"] == "delivered" for d in ds.values()), ds)

        # the record, the table, the metrics
        self.assertEqual(env.admin("GET", "/admin/syncs/" + sid).json()["state"], "cancelled")
        out = env.ctl("syncs").stdout
        self.assertRegex(out, r"%s +encora +cancelled " % sid)
        m = request(env.relay_port, "GET", "/metrics", headers={}).body.decode()
        self.assertIn('relay_sync_runs_total{source="encora",state="cancelled"} 1', m)
        self.assertIn('relay_sync_runs_total{source="encora",state="failed"} 0', m)
        self.assertIn('relay_sync_last_success_timestamp_seconds{source="encora"} 0', m)

        self.assertNotIn("sync.failed", json.dumps(env.redis.cmd("XRANGE", "relay:alerts", "-", "+")))

        # cancelling it again: 409, with its state
        r = env.admin("POST", "/admin/syncs/%s/cancel" % sid)
        self.assertEqual((r.status, r.json()["code"], r.json()["state"]),
                         (409, "sync_not_running", "cancelled"), r.body)
        self.assertIn(sid, r.json()["message"])

        # the source is free: a new run starts, lists everything and (complete) removes
        env.encora.list_delay = 0
        r = env.admin("POST", "/admin/sources/encora/sync")
        self.assertEqual(r.status, 202, r.body)
        rec2 = env.wait_run(r.json()["sync_id"], timeout=60)
        self.assertEqual((rec2["state"], rec2["seen"], rec2["removed"]), ("done", 1000, 1), rec2)
        self.assertEqual(rec2["skipped"], rec["queued"])  # delivered by the cancelled run
        r = env.admin("POST", "/admin/syncs/%s/cancel" % rec2["id"])
        self.assertEqual((r.status, r.json()["state"]), (409, "done"), r.body)

    def test_cancel_during_a_retry_wait(self):
        """A worker waiting out a CMS's Retry-After before the last listing page notices the
        cancel at its beat: the run ends cancelled and removes nothing."""
        env = self.env
        self.plant_live_title()
        env.encora.add_movies(150)
        # the last listing request (shows) is slow: the cancel lands while it is out
        env.encora.faults.append([lambda p, n: p.endswith("/shows"),
                                  [(503, {"Retry-After": "1"}, b"{}")] * 2])
        sid = env.start()
        wait_until(lambda: (env.record(sid) or {}).get("errors", 0) >= 1, timeout=30, step=0.05,
                   what="the shows page to fail once")
        r = env.admin("POST", "/admin/syncs/%s/cancel" % sid)
        self.assertEqual(r.status, 202, r.body)
        rec = env.wait_run(sid, timeout=20)
        self.assertEqual((rec["state"], rec["removed"], rec["pages"]), ("cancelled", 0, 2), rec)
        self.assertEqual(env.redis.cmd("HGET", "relay:cat:canon:e:encora:" + GONE, "status"), "live")

    def test_relayctl_cancel_and_follower_exit_status(self):
        env = self.env
        env.encora.add_movies(1000)
        env.encora.list_delay = 0.4
        follower = subprocess.Popen(self.argv("sync", "encora"), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=self.environ())
        sid = wait_until(lambda: (json.loads(env.ctl("syncs", "--json").stdout)["data"] or [{}])[0].get("id"),
                         timeout=20, step=0.1, what="the run to start")
        wait_until(lambda: (env.record(sid) or {}).get("pages", 0) >= 1, timeout=30, step=0.05,
                   what="a page listed")
        c = env.ctl("sync", "cancel", sid, timeout=60)
        self.assertEqual(c.returncode, 0, (c.stdout, c.stderr))
        self.assertRegex(c.stdout, r"^sync %s cancelled: pages \d+" % sid)
        out, err = follower.communicate(timeout=60)
        self.assertEqual(follower.returncode, 1, (out, err))
        self.assertIn("sync %s cancelled" % sid, out)

        c = env.ctl("sync", "cancel", sid)
        self.assertEqual(c.returncode, 1)
        self.assertIn("already ended cancelled", c.stderr)
        c = env.ctl("sync", "cancel", "syn_00000000000000000000")
        self.assertEqual(c.returncode, 1)
        self.assertIn("no sync run", c.stderr)
        c = env.ctl("sync", "cancel")
        self.assertEqual(c.returncode, 2)
        self.assertIn("RUN_ID is required", c.stderr)
        c = env.ctl("sync", "cancel", sid, "--full")
        self.assertEqual(c.returncode, 2)

    def test_ctrl_c_offers_to_cancel(self):
        env = self.env
        env.encora.add_movies(1000)
        env.encora.list_delay = 0.4
        master, slave = pty.openpty()
        p = subprocess.Popen(self.argv("sync", "encora"), stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=self.environ())
        os.close(slave)
        sid = wait_until(lambda: (json.loads(env.ctl("syncs", "--json").stdout)["data"] or [{}])[0].get("id"),
                         timeout=20, step=0.1, what="the run to start")
        wait_until(lambda: (env.record(sid) or {}).get("pages", 0) >= 1, timeout=30, step=0.05,
                   what="a page listed")
        p.send_signal(signal.SIGINT)
        os.write(master, b"y\n")
        out, err = p.communicate(timeout=60)
        os.close(master)
        self.assertEqual(p.returncode, 1, (out, err))
        self.assertIn("Cancel sync %s?" % sid, err)
        self.assertIn("sync %s cancelled" % sid, out)
        self.assertEqual(env.record(sid)["state"], "cancelled")

        # without a terminal to ask on, Ctrl-C only stops following: the run goes on
        p = subprocess.Popen(self.argv("sync", "encora"), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=self.environ())
        sid2 = wait_until(lambda: [x["id"] for x in json.loads(env.ctl("syncs", "--json").stdout)["data"]
                                   if x["id"] != sid][:1], timeout=20, step=0.1, what="a second run")[0]
        wait_until(lambda: (env.record(sid2) or {}).get("pages", 0) >= 1, timeout=30, step=0.05,
                   what="a page listed")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, (out, err))
        self.assertIn("it goes on", err)
        self.assertEqual(env.record(sid2)["state"], "running")
        c = env.ctl("sync", "cancel", sid2, "--detach", "--json")
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertIn(json.loads(c.stdout)["state"], ("running", "cancelled"))
        self.assertEqual(env.wait_run(sid2, timeout=20)["state"], "cancelled")


class TestCancelQueued(CancelTest):
    start_worker = False  # no worker: a run stays queued until one comes

    def test_cancel_queued_run_and_errors(self):
        env = self.env
        self.plant_live_title()
        env.encora.add_movies(50)
        r = env.admin("POST", "/admin/sources/encora/sync")
        self.assertEqual(r.status, 202, r.body)
        sid = r.json()["sync_id"]
        r = env.admin("POST", "/admin/syncs/%s/cancel" % sid)
        self.assertEqual(r.status, 200, r.body)  # no worker held it: ended at once
        rec = r.json()
        self.assertEqual((rec["state"], rec["pages"], rec["seen"], rec["removed"]), ("cancelled", 0, 0, 0))
        self.assertIsNotNone(rec["finished_at"])
        self.assert_released(sid)
        # a worker that comes now lists nothing for it
        env.start_worker()
        time.sleep(1.5)
        self.assertEqual(self.list_count(), 0)
        self.assertEqual(env.record(sid)["state"], "cancelled")
        self.assertEqual(env.redis.cmd("HGET", "relay:cat:canon:e:encora:" + GONE, "status"), "live")

        cases = [
            ("POST", "/admin/syncs/%s/cancel" % sid, 409, "sync_not_running"),
            ("POST", "/admin/syncs/syn_00000000000000000000/cancel", 404, "not_found"),
            ("POST", "/admin/syncs/bad%20id/cancel", 404, "not_found"),
            ("POST", "/admin/syncs/%s/bogus" % sid, 404, "not_found"),
            ("GET", "/admin/syncs/%s/cancel" % sid, 405, "method_not_allowed"),
        ]
        for method, path, status, code in cases:
            r = env.admin(method, path)
            self.assertEqual((r.status, r.json()["code"]), (status, code), (path, r.body))
        r = request(env.relay_port, "POST", "/admin/syncs/%s/cancel" % sid, headers={})
        self.assertEqual(r.status, 401)

        # relayctl: a queued run ends at once too
        env.encora.list_delay = 0
        env.workers[0].stop()
        sid2 = env.start()
        c = env.ctl("sync", "cancel", sid2, "--json")
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertEqual(json.loads(c.stdout)["state"], "cancelled")


class TestScripts(unittest.TestCase):
    """The scripts' own rules, step by step on a real Redis (no worker: no timing)."""

    def setUp(self):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="relay-sync-cancel-")
        self.redis = Redis(self.dir).start()

    def tearDown(self):
        import shutil
        self.redis.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_script(self, name, *argv):
        return self.redis.cmd("EVAL", script(name), "0", *argv)

    def test_finish_after_cancel_removes_nothing(self):
        r = self.redis
        # the target holds a title the listing will not contain
        r.cmd("HSET", "relay:cat:canon:e:encora:" + GONE, "status", "live", "content_type", "movie")
        r.cmd("ZADD", "relay:cat:canon:seq", "1", "encora:" + GONE)
        self.assertEqual(self.run_script("sync_start", "relay", "syn_a", "encora", "canon", "0", "0",
                                         "0", "3600"), [1, "syn_a"])
        self.assertEqual(self.run_script("sync_claim", "relay", "syn_a", "w1", "30000", "3600")[0], "ok")
        page = self.run_script("sync_page", "relay", "syn_a", "w1", "30000", "600", "3600", "ts",
                               "todo", "", "0", "movies=1", "0", "1",
                               "m-1", "movie", "", "", "", "5", "")
        self.assertEqual(page[0], "ok")
        # the worker holds the lease: the cancel is for it to carry out
        verdict, rec = self.run_script("sync_cancel", "relay", "syn_a", "3600")
        self.assertEqual(verdict, "cancelling")
        self.assertIn("cancel_requested_at", rec)
        # ... it gets there as it ends the (complete) listing: no removal, state cancelled
        fin = self.run_script("sync_finish", "relay", "syn_a", "w1", "done", "", "", "3600", "1",
                              "0.9", "600")
        self.assertEqual(fin, ["ok", "cancelled", "", 0])
        self.assertEqual(r.cmd("XLEN", "relay:alerts"), 0)  # a cancel is no failure: no sync.failed
        self.assertEqual(r.cmd("XLEN", "relay:events"), 1)  # m-1's publish only
        self.assertEqual(r.cmd("HGET", "relay:sync:run:syn_a", "removed"), "0")
        self.assertIsNone(r.cmd("GET", "relay:sync:lock:encora"))
        self.assertEqual(r.cmd("HGET", "relay:metrics", "sync_runs_total|encora|cancelled"), "1")
        self.assertIsNone(r.cmd("HGET", "relay:metrics", "sync_runs_total|encora|failed"))
        verdict, rec = self.run_script("sync_cancel", "relay", "syn_a", "3600")
        self.assertEqual(verdict, "ended")
        self.assertEqual(self.run_script("sync_cancel", "relay", "syn_nope", "3600"), ["unknown", []])

    def test_page_and_beat_end_a_cancelled_run(self):
        self.run_script("sync_start", "relay", "syn_b", "encora", "canon", "0", "0", "0", "3600")
        self.run_script("sync_claim", "relay", "syn_b", "w1", "30000", "3600")
        self.assertEqual(self.run_script("sync_beat", "relay", "syn_b", "w1", "30000", "0", "", "3600"), 1)
        self.assertEqual(self.run_script("sync_cancel", "relay", "syn_b", "3600")[0], "cancelling")
        # the next page is not applied: the run ends without it
        page = self.run_script("sync_page", "relay", "syn_b", "w1", "30000", "600", "3600", "ts",
                               "movies", "c1", "0", "", "0", "1", "m-1", "movie", "", "", "", "5", "")
        self.assertEqual(page, ["cancelled"])
        self.assertEqual(self.redis.cmd("EXISTS", "relay:events"), 0)
        self.assertEqual(self.redis.cmd("HGET", "relay:sync:run:syn_b", "state"), "cancelled")
        self.assertEqual(self.run_script("sync_beat", "relay", "syn_b", "w1", "30000", "0", "", "3600"), 0)

        self.run_script("sync_start", "relay", "syn_c", "encora", "canon", "0", "0", "0", "3600")
        self.run_script("sync_claim", "relay", "syn_c", "w1", "30000", "3600")
        self.run_script("sync_cancel", "relay", "syn_c", "3600")
        self.assertEqual(self.run_script("sync_beat", "relay", "syn_c", "w1", "30000", "1", "boom", "3600"), 2)
        self.assertEqual(self.redis.cmd("HGET", "relay:sync:run:syn_c", "state"), "cancelled")

        # a worker died holding the lease: the cancel waits for the lease; once it expired,
        # the next claim (any worker's) or the cancel asked again ends the run
        self.run_script("sync_start", "relay", "syn_d", "encora", "canon", "0", "0", "0", "3600")
        self.run_script("sync_claim", "relay", "syn_d", "dead", "300", "3600")
        self.assertEqual(self.run_script("sync_cancel", "relay", "syn_d", "3600")[0], "cancelling")
        time.sleep(0.4)
        self.assertEqual(self.run_script("sync_claim", "relay", "syn_d", "w2", "30000", "3600"), ["gone"])
        self.assertEqual(self.redis.cmd("HGET", "relay:sync:run:syn_d", "state"), "cancelled")
        self.run_script("sync_start", "relay", "syn_e", "encora", "canon", "0", "0", "0", "3600")
        self.run_script("sync_claim", "relay", "syn_e", "dead", "300", "3600")
        self.assertEqual(self.run_script("sync_cancel", "relay", "syn_e", "3600")[0], "cancelling")
        time.sleep(0.4)
        self.assertEqual(self.run_script("sync_cancel", "relay", "syn_e", "3600")[0], "cancelled")


if __name__ == "__main__":
    unittest.main()
