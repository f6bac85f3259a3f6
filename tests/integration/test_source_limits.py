"""The limits on the requests the workers make to a source CMS (sources.*.api.max_in_flight and
rate_per_s, README "Delivery"), across workers, title fetches and sync listings alike, and one
CMS fetch per event for all of its targets. Real redis-server and relay-workers, a stub CMS
that records when each request starts and ends."""
import json
import threading
import time
import unittest

from harness import SECRETS, wait_until
from layout import delivery_id, events_key, joined_entry, key, record_key, stream_entry
from sync_env import SyncEnv

CANON = {"format": "canonical", "url": "PARTNER/canon/{source}/{type}/{id}", "method": "PUT"}
CANON2 = {"format": "canonical", "url": "PARTNER/canon2/{source}/{type}/{id}", "method": "PUT"}


class Recorder:
    """Wraps a stub CMS's handler: every request's start and end time, and the most requests
    it had in flight at once. delay: seconds each answer takes (so that requests overlap)."""

    def __init__(self, cms, delay):
        self.lock = threading.Lock()
        self.spans, self.now, self.peak = [], 0, 0
        inner = cms._handle

        def handle(h, body):
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
            t0 = time.monotonic()
            try:
                time.sleep(delay)
            finally:
                # A request stops counting once the CMS starts its answer: the worker can read
                # the answer's end, release its slot and send the next request before this
                # thread runs again after the write (seen with the worker's plain HTTP client).
                with self.lock:
                    self.now -= 1
            try:
                inner(h, body)
            finally:
                with self.lock:
                    self.spans.append((t0, time.monotonic(), h.path))
        cms._handle = handle

    def starts(self):
        with self.lock:
            return sorted(s[0] for s in self.spans)

    def titles(self):
        """Title fetches (not listing pages)."""
        with self.lock:
            return [s[2] for s in self.spans if "?" not in s[2]]


class LimitsEnv(SyncEnv):
    def __init__(self, api_limits, workers, targets, delay):
        super().__init__(targets=targets, worker={"concurrency": 16, "visibility_timeout_ms": 10000})
        self.config["sources"]["encora"]["api"].update(api_limits)
        with open(self.config_path, "w") as f:
            json.dump(self.config, f)
        self.rec = Recorder(self.encora, delay)
        for _ in range(workers):
            self.start_worker()

    def xadd(self, event_id, content_id):
        fields = stream_entry("encora", event_id, "content.published", "movie", content_id)
        self.redis.cmd("XADD", events_key(), "*", *joined_entry(fields))

    def status(self, did):
        return self.redis.cmd("HGET", record_key(did), "status")


class LimitsTest(unittest.TestCase):
    def tearDown(self):
        out = self.env.logs()
        rcs = self.env.close()
        self.assertTrue(all(rc == 0 for rc in rcs), out[-3000:])
        for secret in SECRETS.values():
            self.assertNotIn(secret, out)
        self.assertNotIn("configuration warning", out)


class TestLimits(LimitsTest):
    MAX, RATE = 3, 40

    def setUp(self):
        self.env = LimitsEnv({"max_in_flight": self.MAX, "rate_per_s": self.RATE}, workers=2,
                             targets={"canon": CANON, "canon2": CANON2}, delay=0.03)

    def test_in_flight_and_rate_across_workers_fetches_and_listing(self):
        env = self.env
        env.encora.add_movies(150)
        # webhook events for titles the sync lists too, and a sync, all at once
        hooks = ["m-%05d" % i for i in range(0, 150, 2)]
        for i, cid in enumerate(hooks):
            env.xadd("evt-%d" % i, cid)
        sid = env.start()
        rec = env.wait_run(sid, timeout=120)
        self.assertEqual(rec["state"], "done", rec)
        self.assertEqual(rec["seen"], 150)
        # every delivery ends delivered (a sync title a webhook delivered first is skipped, or
        # superseded), and every title reached both partners
        def settled():
            recs = env.stream_events().values()
            return all(r["status"] in ("delivered", "superseded") for r in recs) and len(recs) >= 300
        wait_until(settled, timeout=120, what="every delivery to end")
        for target in ("canon", "canon2"):
            got = {r["path"].rsplit("/", 1)[1] for r in env.partner.got(
                lambda r, t=target: r["path"].startswith("/%s/" % t))}
            self.assertEqual(got, set(env.encora.movies), target)
            for i in range(len(hooks)):
                did = delivery_id("encora", "evt-%d" % i, target)
                self.assertIn(env.status(did), ("delivered", "superseded"))

        starts = env.rec.starts()
        # two listing pages and at least one fetch per title
        self.assertGreaterEqual(len(starts), 152)
        self.assertLessEqual(env.rec.peak, self.MAX, "more CMS requests at once than max_in_flight")
        self.assertEqual(env.rec.peak, self.MAX, "the test should have reached the limit")
        # at most rate_per_s starts in any second (the window edge and the stub's clock: 25%)
        worst = max(sum(1 for t in starts if t0 <= t < t0 + 1.0) for t0 in starts)
        self.assertLessEqual(worst, self.RATE * 1.25, "CMS requests in one second")
        span = starts[-1] - starts[0]
        self.assertLessEqual((len(starts) - 1) / span, self.RATE * 1.1)
        # nothing was handed back for want of a slot, and no slot is left held
        self.assertNotIn("source busy", env.logs())
        wait_until(lambda: env.redis.cmd("ZCARD", key("srclimit:encora")) == 0, timeout=10,
                   what="every slot released")


class TestSlotsOfADeadWorkerLapse(LimitsTest):
    def setUp(self):
        self.env = LimitsEnv({"max_in_flight": 2, "timeout_ms": 1000}, workers=0,
                             targets={"canon": CANON}, delay=0)

    def test_lapse(self):
        env = self.env
        # slots a worker took and never gave back (it was killed): they lapse with their lease
        t0 = time.monotonic()
        tm = env.redis.cmd("TIME")
        now = int(tm[0]) * 1000 + int(tm[1]) // 1000
        env.redis.cmd("ZADD", key("srclimit:encora"), now + 1500, "dead:1", now + 1500, "dead:2")
        env.encora.add_movies(3)
        env.start_worker()
        for i in range(3):
            env.xadd("evt-%d" % i, "m-%05d" % i)
        for i in range(3):
            did = delivery_id("encora", "evt-%d" % i, "canon")
            wait_until(lambda: env.status(did) == "delivered", timeout=30, what="%s delivered" % did)
        # nothing was fetched before the dead worker's slots lapsed
        first = min(env.rec.starts())
        self.assertGreaterEqual(first - t0, 1.2)


class TestOneFetchPerEvent(LimitsTest):
    def setUp(self):
        # targets' max_in_flight (across workers) above what the test needs: a target at its
        # limit cannot start an event's delivery with the others (it fetches on its own later)
        targets = {"canon": dict(CANON, max_in_flight=32), "canon2": dict(CANON2, max_in_flight=32)}
        self.env = LimitsEnv({"max_in_flight": 8}, workers=2, targets=targets, delay=0.01)

    def test_one_event_two_targets_one_fetch(self):
        env = self.env
        env.encora.add_movies(1)
        env.xadd("evt-one", "m-00000")
        for target in ("canon", "canon2"):
            did = delivery_id("encora", "evt-one", target)
            wait_until(lambda: env.status(did) == "delivered", timeout=30, what="%s delivered" % did)
        self.assertEqual(env.rec.titles(), ["/v2/admin/movies/m-00000"])

    def test_many_events(self):
        env = self.env
        env.encora.add_movies(60)
        for i in range(60):
            env.xadd("evt-%d" % i, "m-%05d" % i)
        for i in range(60):
            for target in ("canon", "canon2"):
                did = delivery_id("encora", "evt-%d" % i, target)
                wait_until(lambda: env.status(did) == "delivered", timeout=60,
                           what="%s delivered" % did)
        # one fetch per event, whichever worker read it (a delivery the fanout could not lease
        # at once may fetch on its own: a little slack)
        self.assertLessEqual(len(env.rec.titles()), 60 * 1.1)
        self.assertEqual(len(set(env.rec.titles())), 60)


if __name__ == "__main__":
    unittest.main()
