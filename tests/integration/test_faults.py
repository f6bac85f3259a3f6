"""Fault injection end to end (issue 5): real Redis (AOF, appendfsync always), the real relay,
two relay-workers, two targets on a flaky partner (~20% 503, some slow answers), a CMS stub
serving the Encora movie fixture for any id, and senders that retry like a CMS would.

While events flow: (a) a worker is SIGKILLed and replaced, (b) Redis is SIGKILLed and
restarted on the same AOF directory. Once everything accepted so far is delivered, (c) Redis
restarts empty and more events are sent. Every (event, target) pair must have reached the
partner with a 2xx, and every repeat must carry the same Idempotency-Key.

Scale: RELAY_FAULT_EVENTS (default 360, or 200 when RELAY_BIN_DIR looks like an ASan build).
RELAY_FAULT_SEED fixes the partner's random faults (printed on every run).
"""
import http.client
import json
import os
import queue
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from worker_stubs import API_TOKEN, StubCMS, StubPartner, delivery_id, fixture  # noqa: E402

ASAN = "asan" in os.path.basename(os.path.normpath(h.BIN)).lower() or os.environ.get("RELAY_FAULT_ASAN") == "1"
EVENTS = int(os.environ.get("RELAY_FAULT_EVENTS") or (200 if ASAN else 360))
SEED = int(os.environ.get("RELAY_FAULT_SEED") or random.SystemRandom().randrange(1 << 30))

TARGETS = {
    "canon": {"format": "canonical", "url": "PARTNER/canon/{id}", "method": "PUT", "timeout_ms": 3000},
    "gwi": {"format": "gwi_json_1.1", "url": "PARTNER/gwi/{id}", "method": "POST", "timeout_ms": 3000,
            "catalog": {"provider": "Example Media", "name": "example-vod", "locale": "en_US"}},
}


class AnyMovieCMS(StubCMS):
    """The Encora CMS stub, answering every /v2/admin/movies/<id> with the movie fixture;
    `fail_rate` of the fetches get a 503 (the worker retries those as source_unavailable)."""

    PREFIX = "/v2/admin/movies/"

    def __init__(self, fail_rate=0.0, seed=0):
        super().__init__({}, ("bearer", API_TOKEN))
        self.movie = fixture("encorastream/movie.json")
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)

    def _handle(self, h_, body):
        if h_.path.startswith(self.PREFIX) and self._auth_ok(h_):
            self._record(h_, body)
            with self.lock:
                fail = self.rng.random() < self.fail_rate
            if fail:
                return self._reply(h_, 503, b'{"error":"busy"}', {"Content-Type": "application/json"})
            return self._reply(h_, 200, self.movie, {"Content-Type": "application/json"})
        return super()._handle(h_, body)


class FlakyPartner(StubPartner):
    """Answers `fail_rate` of the requests 503, delays `slow_rate` of them by up to
    `slow_max` s, else 200. Every request is recorded with the status it was answered."""

    def __init__(self, fail_rate=0.2, slow_rate=0.25, slow_max=1.0, seed=0):
        super().__init__()
        self.fail_rate, self.slow_rate, self.slow_max = fail_rate, slow_rate, slow_max
        self.rng = random.Random(seed)

    def _handle(self, h_, body):
        rec = self._record(h_, body)
        with self.lock:
            fail = self.rng.random() < self.fail_rate
            delay = self.rng.uniform(0.05, self.slow_max) if self.rng.random() < self.slow_rate else 0
        status = 503 if fail else 200
        if delay:
            time.sleep(delay)
        rec["status"] = status  # set before answering: a 2xx recorded here was really sent
        try:
            self._reply(h_, status, b'{"ok":false}' if fail else b'{"ok":true}',
                        {"Content-Type": "application/json"})
        except (BrokenPipeError, ConnectionResetError):
            rec["status"] = None  # the worker had already given up (timeout): not a 2xx it saw


class Senders:
    """Threads posting signed Encora webhooks to the relay; each event is retried on 503,
    connection errors and timeouts (as a CMS does) until the relay answers 202 or 200
    duplicate."""

    def __init__(self, port, nthreads=4, retry_delay=0.1):
        self.port = port
        self.retry_delay = retry_delay
        self.q = queue.Queue()
        self.lock = threading.Lock()
        self.accepted = {}  # event id -> content id
        self.answers = {}   # status or exception name -> count
        self.unexpected = []
        self.stopping = False
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(nthreads)]
        for t in self.threads:
            t.start()

    def send(self, event_id, content_id):
        self.q.put((event_id, content_id))

    def _count(self, key):
        with self.lock:
            self.answers[key] = self.answers.get(key, 0) + 1

    def _run(self):
        conn = None
        while True:
            item = self.q.get()
            if item is None:
                if conn is not None:
                    conn.close()
                return
            event_id, content_id = item
            body = h.encora_event(event_id, content_id=content_id,
                                  created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            hdrs = {"Content-Type": "application/json"}
            hdrs.update(h.sign_encora(body))
            deadline = time.time() + 120
            while time.time() < deadline and not self.stopping:
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    conn.request("POST", "/webhooks/encora", body=body, headers=hdrs)
                    r = conn.getresponse()
                    data = r.read()
                    self._count(r.status)
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as e:
                    self._count(type(e).__name__)
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(self.retry_delay)
                    continue
                if r.status == 202 or (r.status == 200 and json.loads(data).get("status") == "duplicate"):
                    with self.lock:
                        self.accepted[event_id] = content_id
                    break
                if r.status == 503:
                    time.sleep(self.retry_delay)
                    continue
                with self.lock:
                    self.unexpected.append((event_id, r.status, data[:300]))
                break
            self.q.task_done()

    def wait_sent(self, timeout):
        deadline = time.time() + timeout
        while self.q.unfinished_tasks and time.time() < deadline:
            time.sleep(0.05)
        return self.q.unfinished_tasks == 0

    def close(self):
        self.stopping = True
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join(10)


class FaultTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="relay-faults-")
        self.redis = h.Redis(self.workdir, appendonly=True, fsync="always").start()
        self.partner = FlakyPartner(seed=SEED).start()
        self.cms = AnyMovieCMS(fail_rate=0.05, seed=SEED + 1).start()
        self.port = h.free_port()
        cfg = h.base_config(self.redis.port, self.port)
        cfg["log"] = {"level": "warn"}
        cfg["sources"]["encora"]["api"] = {"base_url": self.cms.url("/v2"), "timeout_ms": 3000,
                                           "auth": {"type": "bearer", "token": API_TOKEN}}
        targets = json.loads(json.dumps(TARGETS))
        for t in targets.values():
            t["url"] = t["url"].replace("PARTNER", self.partner.url())
        cfg["targets"] = targets
        cfg["retry"] = {"max_attempts": 100, "base_delay_ms": 50, "max_delay_ms": 1000}
        cfg["worker"] = {"concurrency": 16, "visibility_timeout_ms": 1500}
        self.config_path = os.path.join(self.workdir, "relay.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        self.relay = h.Proc(self.workdir, "relay", self.config_path)
        h.wait_port(self.port)
        h.wait_ready(self.port)
        self.workers = [self.start_worker(), self.start_worker()]
        self.all_workers = list(self.workers)
        self.senders = Senders(self.port)

    def start_worker(self):
        w = h.Proc(self.workdir, "relay-worker", self.config_path)
        if hasattr(self, "all_workers"):
            self.all_workers.append(w)
        return w

    def tearDown(self):
        self.senders.close()
        for w in self.all_workers:
            if w.proc.poll() is None:
                w.stop(signal.SIGKILL)
        if self.relay.proc.poll() is None:
            self.relay.stop(signal.SIGKILL)
        self.partner.stop()
        self.cms.stop()
        self.redis.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- helpers ------------------------------------------------------------------------------

    def worker_logs(self):
        return "\n".join("== %s\n%s" % (w.log_path, w.output()[-2500:]) for w in self.all_workers)

    def pairs(self, accepted):
        return {(eid, t): (cid, delivery_id("encora", eid, t)) for eid, cid in accepted.items() for t in TARGETS}

    def delivered_2xx(self):
        """(target, content id) -> list of partner requests answered 2xx."""
        out = {}
        for r in self.partner.got():
            parts = r["path"].split("/")
            if len(parts) == 3 and r.get("status") == 200:
                out.setdefault((parts[1], parts[2]), []).append(r)
        return out

    def wait_all_delivered(self, accepted, timeout):
        """Waits until every (event, target) pair has a 2xx at the partner and a `delivered`
        record in Redis; returns the pairs still missing (empty on success)."""
        deadline = time.time() + timeout
        while True:
            got = self.delivered_2xx()
            missing = [(eid, t) for eid, cid in accepted.items() for t in TARGETS if (t, cid) not in got]
            if not missing:
                statuses = {}
                for eid in accepted:
                    for t in TARGETS:
                        st = self.redis.cmd("HGET", "relay:d:" + delivery_id("encora", eid, t), "status")
                        if st != "delivered":
                            statuses[(eid, t)] = st
                if not statuses:
                    return []
                missing = sorted(statuses.items())
            if time.time() > deadline:
                return missing
            time.sleep(0.25)

    def send_paced(self, ids, seconds, faults=()):
        """Queues events evenly over `seconds`; runs each (at fraction, fn) when that share of
        the events has been queued."""
        faults = sorted(faults, key=lambda f: f[0])
        start = time.time()
        for k, (eid, cid) in enumerate(ids):
            while faults and k >= faults[0][0] * len(ids):
                faults.pop(0)[1]()
            delay = start + seconds * k / len(ids) - time.time()
            if delay > 0:
                time.sleep(delay)
            self.senders.send(eid, cid)
        for _, fn in faults:
            fn()

    # ---- the test -------------------------------------------------------------------------------

    def test_kill_worker_kill_redis_restart_empty(self):
        t0 = time.time()
        n_a = EVENTS * 3 // 4
        n_b = EVENTS - n_a
        ids_a = [("evt_fa_%05d" % k, "fault-a-%05d" % k) for k in range(n_a)]
        ids_b = [("evt_fb_%05d" % k, "fault-b-%05d" % k) for k in range(n_b)]
        notes = {}

        def kill_worker():
            # Kill a worker while it holds leases (deliveries it is pushing): the lease token
            # is <host>-<pid>-<random>:<ms>:<attempt> (docs/redis.md).
            deadline = time.time() + 5
            while True:
                held = {}
                for did in self.redis.cmd("ZRANGE", "relay:lease", 0, -1) or []:
                    tok = self.redis.cmd("HGET", "relay:d:" + did, "lease") or ""
                    for w in self.workers:
                        if "-%d-" % w.proc.pid in tok.split(":")[0]:
                            held.setdefault(w, []).append(did)
                if held or time.time() > deadline:
                    break
                time.sleep(0.01)
            victim = max(held, key=lambda w: len(held[w])) if held else self.workers[0]
            notes["victim_leases"] = len(held.get(victim, []))
            self.workers.remove(victim)
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(5)
            notes["worker_killed_at"] = round(time.time() - t0, 1)
            self.workers.append(self.start_worker())

        def kill_redis():
            notes["leases_at_redis_kill"] = self.redis.cmd("ZCARD", "relay:lease")
            notes["stream_len_at_redis_kill"] = self.redis.cmd("XLEN", "relay:events")
            port = self.redis.port
            self.redis.kill(signal.SIGKILL)
            notes["redis_killed_at"] = round(time.time() - t0, 1)
            time.sleep(2.0)  # senders get 503s meanwhile; workers keep running
            self.redis.port = port
            self.redis.start()  # same port, same directory: the AOF is replayed

        # Phase A: load with (a) and (b) injected while events are flowing.
        seconds_a = 24 if not ASAN else 16
        self.send_paced(ids_a, seconds_a, faults=[(0.3, kill_worker), (0.6, kill_redis)])
        self.assertTrue(self.senders.wait_sent(120), "senders stuck: %r" % self.senders.answers)
        accepted_a = dict(self.senders.accepted)
        self.assertEqual(len(accepted_a), n_a, "not every event was accepted: %r %r"
                         % (self.senders.answers, self.senders.unexpected[:5]))
        missing = self.wait_all_delivered(accepted_a, timeout=90 if not ASAN else 120)
        self.assertEqual(missing[:10], [], "phase A: %d pairs not delivered\n%s"
                         % (len(missing), self.worker_logs()))
        t_a = time.time() - t0

        # Phase B: (c) Redis comes back empty after everything accepted was delivered.
        port = self.redis.port
        self.redis.kill(signal.SIGKILL)
        self.redis.wipe()
        self.redis.port = port
        self.redis.start()
        self.send_paced(ids_b, max(4, seconds_a // 3))
        self.assertTrue(self.senders.wait_sent(60), "senders stuck: %r" % self.senders.answers)
        accepted = dict(self.senders.accepted)
        self.assertEqual(len(accepted), n_a + n_b, "phase B: not every event was accepted: %r"
                         % self.senders.answers)
        missing = self.wait_all_delivered({e: accepted[e] for e, _ in ids_b}, timeout=60 if not ASAN else 90)
        self.assertEqual(missing[:10], [], "phase B: %d pairs not delivered\n%s"
                         % (len(missing), self.worker_logs()))

        # Every process that was not killed on purpose is still running.
        self.assertIsNone(self.relay.proc.poll(), self.relay.output()[-3000:])
        for w in self.workers:
            self.assertIsNone(w.proc.poll(), w.output()[-3000:])

        # Every push for a pair carries that pair's delivery id as Idempotency-Key, and the
        # event id; repeats (more than one 2xx for one pair) are allowed: at-least-once.
        pairs = self.pairs(accepted)
        by_cid = {cid: eid for eid, cid in accepted.items()}
        requests = self.partner.got()
        per_pair = {}
        for r in requests:
            _, target, cid = r["path"].split("/")
            eid = by_cid.get(cid)
            self.assertIsNotNone(eid, "push for an event never accepted: %s" % r["path"])
            did = pairs[(eid, target)][1]
            self.assertEqual(r["headers"].get("idempotency-key"), did, r["path"])
            self.assertEqual(r["headers"].get("x-relay-event-id"), eid, r["path"])
            per_pair.setdefault((eid, target), []).append(r)
        self.assertEqual(set(per_pair), set(pairs))
        ok_counts = [sum(1 for r in rs if r.get("status") == 200) for rs in per_pair.values()]
        self.assertTrue(all(c >= 1 for c in ok_counts))
        repeats = sum(c - 1 for c in ok_counts)
        n503 = sum(1 for r in requests if r.get("status") == 503)

        # The faults really happened: the partner refused pushes, senders hit the Redis outage,
        # the worker died holding leases.
        self.assertGreater(n503, 0)
        self.assertGreater(notes["victim_leases"], 0, "the killed worker held no lease")
        outage = sum(v for k, v in self.senders.answers.items() if k != 202 and k != 200)
        self.assertGreater(outage, 0, "no sender saw the Redis outage: %r" % self.senders.answers)

        # Clean shutdown of the survivors (and, in the ASan build, no sanitizer report).
        for w in self.workers:
            self.assertEqual(w.stop(), 0, w.output()[-3000:])
        self.assertEqual(self.relay.stop(), 0, self.relay.output()[-3000:])
        for w in self.all_workers:
            if w not in self.workers:
                w.stop()  # the killed one: only its log is checked

        print("\nfaults: seed %d, %d events x %d targets = %d pairs, all delivered (phase A in %.1f s, "
              "total %.1f s)" % (SEED, len(accepted), len(TARGETS), len(pairs), t_a, time.time() - t0))
        print("faults: partner requests %d (503: %d), 2xx repeats %d (pairs with a repeat: %d), "
              "CMS fetches %d" % (len(requests), n503, repeats, sum(1 for c in ok_counts if c > 1),
                                  len(self.cms.got())))
        print("faults: sender answers %r; %r" % (self.senders.answers, notes))
        sys.stdout.flush()


if __name__ == "__main__":
    unittest.main(verbosity=2)
