"""relay-worker under failure: SIGKILL mid-delivery, SIGTERM with work in flight, Redis
restarting empty (README, "Guarantees")."""
import signal
import time
import unittest

from harness import wait_until
from worker_stubs import WorkerEnv, delivery_id

TARGETS = {"canon": {"format": "canonical", "url": "PARTNER/canon/{id}", "timeout_ms": 20000}}


def ms():
    return int(time.time() * 1000)


class CrashTest(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv({k: dict(v) for k, v in TARGETS.items()},
                             worker={"concurrency": 8, "visibility_timeout_ms": 1500})

    def tearDown(self):
        self.env.close()

    def logs(self):
        out = []
        for w in self.env.workers:
            with open(w.log_path, errors="replace") as f:
                out.append(f.read()[-3000:])
        return "\n".join(out)

    def test_sigkill_mid_delivery_then_other_worker_completes(self):
        # The first push hangs; the worker holding it is killed while it waits.
        self.env.partner.plan("/canon/", [(200, {}, b"", 5)])
        a = self.env.start_worker()
        self.env.xadd("encora", "evt_kill", created_at=ms())
        did = delivery_id("encora", "evt_kill", "canon")
        wait_until(lambda: self.env.partner.got(), timeout=10, what="first push")
        self.assertIsNotNone(self.env.redis.cmd("ZSCORE", "relay:lease", did))
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(5)
        t_kill = time.time()
        self.env.start_worker()
        rec = self.env.wait_status(did, "delivered", timeout=10)
        # taken over only once the lease (visibility_timeout_ms = 1.5 s) had expired
        self.assertGreaterEqual(time.time() - t_kill, 1.0)
        reqs = self.env.partner.got()
        self.assertEqual(len(reqs), 2)
        self.assertEqual({r["headers"]["idempotency-key"] for r in reqs}, {did})
        self.assertEqual(rec["attempt_count"], "1")
        self.assertEqual(self.env.redis.cmd("ZCARD", "relay:lease"), 0)

    def test_sigterm_finishes_in_flight_and_exits_0(self):
        self.env.partner.plan("/canon/", [(200, {}, b"", 1.0)])
        w = self.env.start_worker()
        self.env.xadd("encora", "evt_term", created_at=ms())
        did = delivery_id("encora", "evt_term", "canon")
        wait_until(lambda: self.env.partner.got(), timeout=10, what="first push")
        self.assertEqual(w.stop(signal.SIGTERM), 0)
        self.assertEqual(self.env.record(did)["status"], "delivered")
        self.assertEqual(self.env.redis.cmd("ZCARD", "relay:lease"), 0)

    def test_sigterm_hands_back_what_it_cannot_finish(self):
        # The push outlives the 10 s drain: the delivery goes back to the queue, due now,
        # without spending an attempt, and the next worker sends it.
        self.env.partner.plan("/canon/", [(200, {}, b"", 30)])
        w = self.env.start_worker()
        self.env.xadd("encora", "evt_back", created_at=ms())
        did = delivery_id("encora", "evt_back", "canon")
        wait_until(lambda: self.env.partner.got(), timeout=10, what="first push")
        t0 = time.time()
        self.assertEqual(w.stop(signal.SIGTERM, timeout=20), 0)
        self.assertLess(time.time() - t0, 12)
        rec = self.env.record(did)
        self.assertEqual(rec["lease"], "")
        self.assertEqual(rec.get("attempt_count", "0"), "0")  # none spent (missing: 0)
        self.assertTrue(rec["next_retry_at"])  # due again at once
        self.assertIsNotNone(self.env.redis.cmd("ZSCORE", "relay:due:canon", did))
        self.assertEqual(self.env.redis.cmd("ZCARD", "relay:lease"), 0)
        self.assertIn("handed back", self.logs())
        self.env.start_worker()
        self.env.wait_status(did, "delivered")

    def test_sigterm_idle_exits_0(self):
        w = self.env.start_worker()
        time.sleep(0.3)
        self.assertEqual(w.stop(signal.SIGINT), 0)

    def test_redis_restart_empty(self):
        w = self.env.start_worker()
        self.env.xadd("encora", "evt_before", created_at=ms())
        self.env.wait_status(delivery_id("encora", "evt_before", "canon"), "delivered")
        port = self.env.redis.port
        self.env.redis.kill()
        time.sleep(1.0)  # the worker keeps running while Redis is away
        self.assertIsNone(w.proc.poll(), self.logs())
        self.env.redis.wipe()
        self.env.redis.port = port
        self.env.redis.start()
        # no group, no stream: as after a Redis that lost everything
        self.env.xadd("encora", "evt_after", created_at=ms())
        self.env.wait_status(delivery_id("encora", "evt_after", "canon"), "delivered", timeout=15)
        self.assertIsNone(w.proc.poll())
        self.assertIn("redis unavailable", self.logs())
        self.assertEqual(w.stop(), 0)

    def test_redis_sigkill_restart_with_aof_mid_flow(self):
        # Redis dies (SIGKILL) while two workers are busy and comes back from its AOF: every
        # delivery still ends delivered, exactly once in the records and the counters.
        n = 120
        self.env.partner.plan("/canon/", [(200, {}, b'{"ok":true}', 0.1)] * n)
        for k in range(n):
            self.env.xadd("encora", "evt_aof_%03d" % k, etype="content.unpublished",
                          content_id="aof-%03d" % k, created_at=ms())
        ids = [delivery_id("encora", "evt_aof_%03d" % k, "canon") for k in range(n)]

        def delivered():
            return int(self.env.redis.cmd("HGET", "relay:stats:canon", "delivered") or 0)

        workers = [self.env.start_worker(), self.env.start_worker()]
        wait_until(lambda: delivered() >= 10, timeout=15, what="first deliveries")
        self.assertLess(delivered(), n, "the flow ended before Redis could be killed")
        port = self.env.redis.port
        self.env.redis.kill(signal.SIGKILL)
        time.sleep(0.5)  # pushes in flight finish while Redis is away
        for w in workers:
            self.assertIsNone(w.proc.poll(), self.logs())
        self.env.redis.port = port
        self.env.redis.start()  # same --dir: replays the AOF
        wait_until(lambda: delivered() >= n, timeout=30, what="all deliveries")
        for did in ids:
            self.assertEqual(self.env.record(did)["status"], "delivered", did)
        self.assertEqual(delivered(), n)
        self.assertEqual(self.env.redis.cmd("ZCARD", "relay:lease"), 0)
        self.assertEqual(self.env.redis.cmd("XLEN", "relay:events"), 0)
        sent = {r["headers"]["idempotency-key"] for r in self.env.partner.got()}
        self.assertEqual(sent, set(ids))
        full = ""
        for w in workers:
            with open(w.log_path, errors="replace") as f:
                full += f.read()
        self.assertIn("redis unavailable", full)
        for w in workers:
            self.assertEqual(w.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
