"""Redis Sentinel discovery and the replica/eviction checks, against real redis-server and
redis-sentinel processes: the relay and relayctl find the master through the sentinels, step
over a dead or lying sentinel, answer 503 while no sentinel answers and recover by themselves;
redis.min_replicas and maxmemory-policy show in /readyz, the log and --check-redis."""
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Proc, Redis, base_config, encora_event, free_port, main, post_webhook,  # noqa: E402
                     request, run_tool, sign_encora, wait_port, wait_until)
from ha_harness import HA_ENV, FakeSentinel, HACluster, ha_redis_config  # noqa: E402


def send(port, event_id):
    body = encora_event(event_id)
    return post_webhook(port, "encora", body, sign_encora(body), timeout=10)


class SentinelDiscovery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="relay-sentinel-it-")
        cls.cluster = HACluster(cls.workdir, replicas=1, sentinels=3).start()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def start_relay(self, redis_cfg, ready=True):
        port = free_port()
        cfg = base_config(self.cluster.primary.port, port, redis=redis_cfg)
        path = os.path.join(self.workdir, "relay-%d.json" % port)
        with open(path, "w") as f:
            json.dump(cfg, f)
        relay = Proc(self.workdir, "relay", path, env=HA_ENV)
        self.addCleanup(relay.stop)
        wait_port(port)
        if ready:
            try:
                wait_until(lambda: request(port, "GET", "/readyz").status == 200, timeout=15,
                           what="relay ready")
            except AssertionError:
                raise AssertionError("relay not ready; its log:\n" + relay.output()[-3000:])
        return port, path, relay

    def event_id(self):
        SentinelDiscovery.n += 1
        return "evt-sentinel-%d-%d" % (os.getpid(), self.n)

    def assert_queued_on_master(self, port):
        eid = self.event_id()
        r = send(port, eid)
        self.assertEqual(r.status, 202, r.body)
        master = self.cluster.master_port()
        self.assertEqual(self.cluster.node(master).cmd("EXISTS", "relay:dedupe:encora:" + eid), 1)

    def test_finds_master_through_sentinels(self):
        # redis.url names a closed port: only the sentinels can have said where the master is.
        rc = ha_redis_config(self.cluster)
        rc["url"] = "redis://127.0.0.1:%d/0" % free_port()
        port, path, relay = self.start_relay(rc)
        self.assert_queued_on_master(port)
        self.assertIn('"via":"sentinel"', relay.output())
        out = run_tool("relayctl", path, "stats", env=HA_ENV)
        self.assertEqual(out.returncode, 0, out.stderr)
        chk = run_tool("relay", path, "--check-config", "--check-redis", env=HA_ENV)
        self.assertEqual(chk.returncode, 0, chk.stderr)
        self.assertNotIn("DO-NOT-LOG", relay.output() + out.stderr + chk.stderr)

    def test_sentinel_down(self):
        first = self.cluster.sentinels[0]
        first.kill()
        try:
            port, path, _ = self.start_relay(ha_redis_config(self.cluster))
            self.assert_queued_on_master(port)
            out = run_tool("relayctl", path, "stats", env=HA_ENV)
            self.assertEqual(out.returncode, 0, out.stderr)
        finally:
            first.start()

    def test_sentinel_naming_unreachable_or_replica(self):
        dead = FakeSentinel(port=free_port())  # a closed port
        replica = FakeSentinel(port=self.cluster.replicas[0].port)  # a replica: ROLE says slave
        self.addCleanup(dead.close)
        self.addCleanup(replica.close)
        addrs = ["127.0.0.1:%d" % dead.port, "127.0.0.1:%d" % replica.port] + \
            self.cluster.sentinel_addresses()
        port, path, relay = self.start_relay(ha_redis_config(self.cluster, addresses=addrs))
        self.assert_queued_on_master(port)
        self.assertGreaterEqual(dead.asked, 1)
        self.assertGreaterEqual(replica.asked, 1)
        self.assertIn("not a master", relay.output())
        out = run_tool("relayctl", path, "stats", env=HA_ENV)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_all_sentinels_down_then_back(self):
        for s in self.cluster.sentinels:
            s.kill()
        try:
            port, path, relay = self.start_relay(ha_redis_config(self.cluster), ready=False)
            time.sleep(1.0)
            r = request(port, "GET", "/readyz")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["code"], "queue_unavailable")
            r = send(port, self.event_id())
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["code"], "queue_unavailable")
            out = run_tool("relayctl", path, "stats", env=HA_ENV)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("sentinel", out.stderr)
            chk = run_tool("relay", path, "--check-config", "--check-redis", env=HA_ENV)
            self.assertEqual(chk.returncode, 2)
            self.assertIn("redis.sentinel:", chk.stderr)
        finally:
            for s in self.cluster.sentinels:
                s.start()
        # Recovers by itself, no restart.
        wait_until(lambda: request(port, "GET", "/readyz").status == 200, timeout=20,
                   what="relay ready after the sentinels came back")
        self.assert_queued_on_master(port)
        self.assertNotIn("DO-NOT-LOG", relay.output())


class ReplicaAndEvictionChecks(unittest.TestCase):
    """Without sentinels: redis.min_replicas against a Redis without replicas, and a Redis that
    may evict."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="relay-ha-checks-it-")
        self.redis = Redis(self.workdir).start()
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.addCleanup(self.redis.kill)

    def start_relay(self, **redis_extra):
        port = free_port()
        rc = {"url": "redis://127.0.0.1:%d/0" % self.redis.port, "prefix": "relay"}
        rc.update(redis_extra)
        path = os.path.join(self.workdir, "relay-%d.json" % port)
        with open(path, "w") as f:
            json.dump(base_config(self.redis.port, port, redis=rc), f)
        relay = Proc(self.workdir, "relay", path)
        self.addCleanup(relay.stop)
        wait_port(port)
        return port, path, relay

    def test_min_replicas_without_replicas(self):
        # 1 s for the replica's acknowledgement: at 200 ms a full suite run (-j2) once saw the
        # replica answer late and the event after the duplicate answered 503
        port, path, relay = self.start_relay(min_replicas=1, replica_timeout_ms=1000)
        r = wait_until(lambda: (lambda x: x if x.status == 503 and "replicas" in x.body.decode()
                                else None)(request(port, "GET", "/readyz")),
                       timeout=10, what="readyz names the missing replicas")
        self.assertIn("min_replicas", r.json()["message"])
        r = send(port, "evt-no-replica-1")
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json()["code"], "queue_unavailable")
        self.assertEqual(r.headers.get("retry-after"), "5")
        wait_until(lambda: '"level":"error"' in relay.output() and "min_replicas" in relay.output(),
                   timeout=5, what="loud log line")
        chk = run_tool("relay", path, "--check-config", "--check-redis")
        self.assertEqual(chk.returncode, 2)
        self.assertIn("redis.min_replicas:", chk.stderr)

        # A replica joins: the same event, retried, is accepted (the first try left it on the
        # master, so it is a duplicate now, answered only once the replica holds it too).
        replica = Redis(self.workdir).start()
        self.addCleanup(replica.kill)
        replica.cmd("REPLICAOF", "127.0.0.1", self.redis.port)
        wait_until(lambda: "master_link_status:up" in replica.cmd("INFO", "replication"),
                   timeout=15, what="replica in sync")
        r = wait_until(lambda: (lambda x: x if x.status in (200, 202) else None)(
            send(port, "evt-no-replica-1")), timeout=10, what="accepted once replicated")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["status"], "duplicate")
        r = send(port, "evt-no-replica-2")
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(replica.cmd("EXISTS", "relay:dedupe:encora:evt-no-replica-2"), 1)
        wait_until(lambda: request(port, "GET", "/readyz").status == 200, timeout=10,
                   what="ready with a replica")
        chk = run_tool("relay", path, "--check-config", "--check-redis")
        self.assertEqual(chk.returncode, 0, chk.stderr)

    def test_eviction_policy_reported(self):
        self.redis.cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
        port, path, relay = self.start_relay()
        r = wait_until(lambda: (lambda x: x if x.status == 503 else None)(
            request(port, "GET", "/readyz")), timeout=10, what="readyz reports the policy")
        self.assertIn("maxmemory-policy", r.json()["message"])
        self.assertIn("allkeys-lru", r.json()["message"])
        out = relay.output()
        self.assertTrue(any('"level":"error"' in line and "maxmemory-policy" in line
                            for line in out.splitlines()), out)
        chk = run_tool("relay", path, "--check-config", "--check-redis")
        self.assertEqual(chk.returncode, 2)
        self.assertIn("maxmemory-policy is allkeys-lru", chk.stderr)
        self.redis.cmd("CONFIG", "SET", "maxmemory-policy", "noeviction")
        wait_until(lambda: request(port, "GET", "/readyz").status == 200, timeout=10,
                   what="ready once the policy is fixed")
        self.assertEqual(run_tool("relay", path, "--check-config", "--check-redis").returncode, 0)
        self.assertEqual(run_tool("relay", path, "--check-redis").returncode, 2)


if __name__ == "__main__":
    main()
