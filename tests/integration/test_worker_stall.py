"""A Redis stall delays only Redis work (issue 10): with pushes in flight to a partner that
answers in 1.5 s, Redis is SIGSTOPped for 5 s. Every push in flight must still be answered and
read on time (the worker's own timer for the push, 1.9 s, never fires; the attempt it records
lasted about the partner's 1.5 s), and once Redis is back every outcome is recorded: nothing
lost, nothing pushed twice beyond at-least-once (a repeat carries the same Idempotency-Key),
and the worker goes on with new events.

With the former blocking Redis calls (2 s timeout, repeated every tick) the loop froze: the
answers were read late, the 1.9 s push timeout fired first, and the attempts ended `timeout`."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import wait_until  # noqa: E402
from worker_stubs import WorkerEnv, delivery_id, fixture  # noqa: E402

N = 6
ANSWER_S = 1.5
PUSH_TIMEOUT_MS = 1900
STALL_S = 5.0


class TestRedisStall(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv({"slow": {"format": "canonical", "url": "PARTNER/slow/{id}",
                                       "method": "PUT", "timeout_ms": PUSH_TIMEOUT_MS,
                                       "max_in_flight": 16}},
                             retry={"max_attempts": 5, "base_delay_ms": 50, "max_delay_ms": 200},
                             worker={"concurrency": 16, "visibility_timeout_ms": 8000})
        self.stopped = False

    def tearDown(self):
        if self.stopped:
            self.env.redis.proc.send_signal(signal.SIGCONT)
        rcs = [w.stop() for w in self.env.workers]
        out = "\n".join(w.output()[-3000:] for w in self.env.workers)
        self.env.close()
        self.assertEqual(rcs, [0] * len(rcs), out)

    def add(self, i):
        cid = "stall-%d" % i
        self.env.encora.routes["/v2/admin/movies/" + cid] = fixture("encorastream/movie.json")
        self.env.xadd("encora", "evt_stall_%d" % i, content_id=cid,
                      created_at=int(time.time() * 1000))
        return delivery_id("encora", "evt_stall_%d" % i, "slow")

    def test_sigstop_redis_with_pushes_in_flight(self):
        env = self.env
        env.partner.plan("/slow/", [(200, {}, b'{"ok":true}', ANSWER_S)] * (N + 20))
        worker = env.start_worker()
        ids = [self.add(i) for i in range(N)]
        # every push is at the partner, none answered yet: stop Redis now
        wait_until(lambda: len(env.partner.got(lambda r: r["path"].startswith("/slow/"))) >= N,
                   timeout=15, what="all pushes in flight")
        env.redis.proc.send_signal(signal.SIGSTOP)
        self.stopped = True
        stopped_at = time.time()
        first = env.partner.got(lambda r: r["path"].startswith("/slow/"))
        self.assertTrue(all(r["at"] + ANSWER_S > stopped_at for r in first),
                        "a push was answered before Redis stopped")
        time.sleep(STALL_S)
        env.redis.proc.send_signal(signal.SIGCONT)
        self.stopped = False

        # every outcome is recorded once Redis is back
        for did in ids:
            env.wait_status(did, "delivered", timeout=30)
        for did in ids:
            attempts = env.attempts(did)
            self.assertEqual(len(attempts), 1, (did, attempts, worker.output()[-3000:]))
            a = attempts[0]
            # read on time: the answer came after ~1.5 s and the 1.9 s push timer never fired
            self.assertEqual(a["http_status"], 200, a)
            self.assertIsNone(a["error"], a)
            self.assertLess(a["duration_ms"], PUSH_TIMEOUT_MS, a)
        # nothing pushed twice beyond at-least-once: every push of a delivery carries its id
        reqs = env.partner.got(lambda r: r["path"].startswith("/slow/"))
        by_key = {}
        for r in reqs:
            by_key.setdefault(r["headers"]["idempotency-key"], []).append(r)
        self.assertEqual(sorted(by_key), sorted(ids))
        # the attempts were made while Redis was stopped: none recorded a second try
        self.assertTrue(all(len(v) == 1 for v in by_key.values()),
                        {k: len(v) for k, v in by_key.items()})
        stats = env.redis.cmd("HGET", "relay:stats:slow", "delivered")
        self.assertEqual(int(stats), N)
        self.assertEqual(env.redis.cmd("ZCARD", "relay:lease"), 0)

        # and the worker goes on: new events are delivered
        more = [self.add(N + i) for i in range(2)]
        for did in more:
            env.wait_status(did, "delivered", timeout=30)
        self.assertIn("redis available again", worker.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
