"""relay-worker end to end: real redis-server, stub source CMSs, stub partner (README, "Delivery")."""
import base64
import hashlib
import hmac
import json
import time
import unittest
import urllib.parse

from harness import run_tool, wait_until
from seed import seed_delivery
from worker_stubs import API_TOKEN, MOVIE_ID, SIGNING_SECRET, WorkerEnv, delivery_id, fixture

CANON = {"format": "canonical", "url": "PARTNER/canon/{source}/{type}/{id}", "method": "PUT",
         "auth": {"type": "basic", "username": "relay", "password": "basic-pw"},
         "signing_secret": SIGNING_SECRET}
GWI = {"format": "gwi_json_1.1", "url": "PARTNER/gwi", "method": "POST", "unpublish": "tombstone",
       "auth": {"type": "api_key", "in": "query", "name": "api_key", "value": "gwi-key"},
       "catalog": {"provider": "Example Media", "name": "example-vod", "locale": "en_US"}}


def ms(iso_seconds_from_now=0):
    return int(time.time() * 1000) + iso_seconds_from_now


class WorkerTest(unittest.TestCase):
    targets = {"canon": CANON, "gwi": GWI}
    worker_cfg = None  # WorkerEnv's default

    def setUp(self):
        self.env = WorkerEnv(json.loads(json.dumps(self.targets)), worker=self.worker_cfg)
        self.worker = self.env.start_worker()

    def tearDown(self):
        rc = self.worker.stop()
        with open(self.worker.log_path, encoding="utf-8", errors="replace") as f:
            out = f.read()
        self.env.close()
        self.assertEqual(rc, 0, out[-2000:])
        for secret in ("basic-pw", "gwi-key", SIGNING_SECRET, API_TOKEN):
            self.assertNotIn(secret, out)

    def requests_to(self, prefix):
        return self.env.partner.got(lambda r: r["path"].startswith(prefix))


class TestPublish(WorkerTest):
    def test_encora_movie_to_canonical_and_gwi(self):
        self.env.xadd("encora", "evt_pub_1", created_at=ms())
        d_canon = delivery_id("encora", "evt_pub_1", "canon")
        d_gwi = delivery_id("encora", "evt_pub_1", "gwi")
        rec = self.env.wait_status(d_canon, "delivered")
        self.env.wait_status(d_gwi, "delivered")
        self.assertEqual(rec["attempt_count"], "1")
        self.assertEqual(rec["http_status"], "200")
        self.assertEqual(rec["response_snippet"], '{"ok":true}')

        # the CMS was asked with the source's bearer token
        cms = self.env.encora.got()
        self.assertTrue(cms and all(r["auth"] for r in cms))
        self.assertEqual(cms[0]["headers"]["accept"], "application/json")

        [req] = self.requests_to("/canon/")
        self.assertEqual(req["method"], "PUT")
        self.assertEqual(req["path"], "/canon/encora/movie/" + MOVIE_ID)
        h = req["headers"]
        self.assertEqual(h["content-type"], "application/json; charset=utf-8")
        self.assertEqual(h["idempotency-key"], d_canon)
        self.assertEqual(h["x-relay-event-id"], "evt_pub_1")
        self.assertEqual(h["x-relay-event-type"], "content.published")
        self.assertEqual(h["x-relay-delivery-attempt"], "1")
        self.assertEqual(h["user-agent"], "relay/0.1.0")
        self.assertEqual(h["authorization"], "Basic " + base64.b64encode(b"relay:basic-pw").decode())
        want = hmac.new(SIGNING_SECRET.encode(), req["body"], hashlib.sha256).hexdigest()
        self.assertEqual(h["x-relay-signature-256"], "sha256=" + want)
        doc = json.loads(req["body"])
        self.assertEqual(doc["type"], "movie")
        self.assertEqual(doc["source"], "encora")
        self.assertIn("La Casa de las Flores", json.dumps(doc, ensure_ascii=False))

        [req] = self.requests_to("/gwi")
        self.assertEqual(req["method"], "POST")
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(req["path"]).query)
        self.assertEqual(q["api_key"], ["gwi-key"])
        self.assertEqual(req["headers"]["idempotency-key"], d_gwi)
        self.assertNotIn("x-relay-signature-256", req["headers"])
        self.assertNotIn("authorization", req["headers"])
        doc = json.loads(req["body"])
        self.assertEqual(doc["_schema_version"], "gwi_json_1.1")
        self.assertEqual(doc["catalog_provider"], "Example Media")
        self.assertEqual(doc["catalog_period"], "incremental")
        self.assertEqual(len(doc["items"]), 1)

        # metrics for the /metrics renderer
        m = self.env.redis.cmd("HGETALL", "relay:metrics")
        m = dict(zip(m[::2], m[1::2]))
        self.assertEqual(m["deliveries_total|canon|delivered"], "1")
        # histograms: one count per observation in its own bucket, the sum in ms
        def observed(prefix):
            return sum(int(v) for k, v in m.items() if k.startswith(prefix))
        self.assertEqual(observed("delivery_duration_seconds_in|canon|"), 1)
        # the sum in whole ms (absent while it is 0: a push on loopback can take under 1 ms)
        self.assertRegex(m.get("delivery_duration_seconds_sum_ms|canon", "0"), r"^\d+$")
        self.assertEqual(observed("event_to_delivery_seconds_in|"), 2)
        self.assertNotIn("delivery_duration_seconds_count|canon", m)
        # The log line follows the completion script's answer, which the checks above have seen
        # already: give a slow (valgrind) worker a moment to write it.
        wait_until(lambda: '"delivered"' in self.worker.output(), what="the delivered log line")

    def test_retry_then_delivered(self):
        self.env.partner.plan("/gwi", [(500, {}, b"boom", 0), (503, {}, b"later", 0)])
        self.env.xadd("encora", "evt_retry", created_at=ms())
        did = delivery_id("encora", "evt_retry", "gwi")
        rec = self.env.wait_status(did, "delivered")
        self.assertEqual(rec["attempt_count"], "3")
        reqs = self.requests_to("/gwi")
        self.assertEqual(len(reqs), 3)
        self.assertEqual({r["headers"]["idempotency-key"] for r in reqs}, {did})
        self.assertEqual([r["headers"]["x-relay-delivery-attempt"] for r in reqs], ["1", "2", "3"])
        att = self.env.attempts(did)
        self.assertEqual([a["http_status"] for a in att], [500, 503, 200])
        self.assertEqual([a["attempt"] for a in att], [1, 2, 3])
        self.assertEqual(att[0]["error"]["code"], "partner_unavailable")
        self.assertIsNone(att[2]["error"])
        m = self.env.redis.cmd("HGET", "relay:metrics", "deliveries_total|gwi|retried")
        self.assertEqual(m, "2")

    def test_400_fails_at_once(self):
        self.env.partner.plan("/gwi", [(400, {}, b'{"error":"bad item"}', 0)])
        self.env.xadd("encora", "evt_400", created_at=ms())
        did = delivery_id("encora", "evt_400", "gwi")
        rec = self.env.wait_status(did, "failed")
        self.assertEqual(rec["attempt_count"], "1")
        self.assertEqual(rec["http_status"], "400")
        self.assertEqual(rec["error_code"], "partner_rejected")
        self.assertEqual(rec["response_snippet"], '{"error":"bad item"}')
        self.assertIsNotNone(self.env.redis.cmd("ZSCORE", "relay:failed", did))
        time.sleep(0.3)
        self.assertEqual(len(self.requests_to("/gwi")), 1)

    def test_max_attempts_then_failed(self):
        self.env.partner.plan("/gwi", [(502, {}, b"", 0)] * 10)
        self.env.xadd("encora", "evt_502", created_at=ms())
        did = delivery_id("encora", "evt_502", "gwi")
        rec = self.env.wait_status(did, "failed")
        self.assertEqual(rec["attempt_count"], "4")
        self.assertEqual(len(self.requests_to("/gwi")), 4)

    def test_429_retry_after_honoured(self):
        self.env.partner.plan("/gwi", [(429, {"Retry-After": "1"}, b"slow down", 0)])
        self.env.xadd("encora", "evt_429", created_at=ms())
        did = delivery_id("encora", "evt_429", "gwi")
        self.env.wait_status(did, "delivered")
        reqs = self.requests_to("/gwi")
        self.assertEqual(len(reqs), 2)
        # base_delay_ms is 50: without Retry-After the retry would come ~50 ms later
        self.assertGreaterEqual(reqs[1]["at"] - reqs[0]["at"], 0.95)

    def test_source_404_fails_source_not_found(self):
        self.env.xadd("encora", "evt_404", content_id="00000000-0000-0000-0000-000000000000",
                      created_at=ms())
        for t in ("canon", "gwi"):
            rec = self.env.wait_status(delivery_id("encora", "evt_404", t), "failed")
            self.assertEqual(rec["error_code"], "source_not_found")
            self.assertEqual(rec["attempt_count"], "1")
        self.assertEqual(self.env.partner.got(), [])


class ShortRetention(unittest.TestCase):
    """One gwi target, a worker, and a retention_s of a few seconds."""
    retention_s = 2

    def setUp(self):
        self.env = WorkerEnv({"gwi": json.loads(json.dumps(GWI))})
        self.env.config["retention_s"] = self.retention_s
        with open(self.env.config_path, "w") as f:
            json.dump(self.env.config, f)
        self.worker = self.env.start_worker()

    def tearDown(self):
        rc = self.worker.stop()
        out = self.worker.output()
        self.env.close()
        self.assertEqual(rc, 0, out[-2000:])

    def stats(self):
        r = run_tool("relayctl", self.env.config_path, "stats", "--json",
                     env={"MOVIDA_PASSWORD": "x"})
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)


class TestFailedRetention(ShortRetention):
    """P:failed (the `failed` queue depth) and the per-target `failed` counts fall again when
    failed records reach retention_s: before, their ids stayed and the counts only grew."""

    def test_failed_count_falls_after_retention(self):
        self.env.partner.plan("/gwi", [(400, {}, b"no", 0)] * 3)
        dids = []
        for i in range(3):
            self.env.xadd("encora", "evt_ret_%d" % i, content_id="ret-%d" % i, created_at=ms())
            self.env.encora.routes["/v2/admin/movies/ret-%d" % i] = fixture("encorastream/movie.json")
            dids.append(delivery_id("encora", "evt_ret_%d" % i, "gwi"))
        for did in dids:
            self.env.wait_status(did, "failed")
        st = self.stats()
        self.assertEqual(st["queues"]["failed"], 3)
        self.assertEqual(st["targets"]["gwi"]["failed"], 3)
        # within retention the record is there; past it the worker's reclaim trims it all
        wait_until(lambda: self.env.redis.cmd("ZCARD", "relay:failed") == 0, timeout=15,
                   what="P:failed trimmed")
        st = self.stats()
        self.assertEqual(st["queues"]["failed"], 0)
        self.assertEqual(st["targets"]["gwi"]["failed"], 0)
        for did in dids:
            self.assertEqual(self.env.record(did), {})
            self.assertEqual(self.env.attempts(did), [])
        self.assertIn("trimmed failed deliveries past retention", self.worker.output())


class TestWaitedPastRetention(ShortRetention):
    """A delivery that waits in P:due longer than retention_s (here: its target paused) ends
    `failed` with error_code `expired` before its record expires. Before, the record expired
    silently and the target's `pending` count (stats, relay_queue_depth) stayed up forever."""
    retention_s = 4

    def test_paused_past_retention_ends_failed_expired(self):
        self.env.redis.cmd("SADD", "relay:paused", "gwi")
        self.env.encora.routes["/v2/admin/movies/exp-1"] = fixture("encorastream/movie.json")
        self.env.xadd("encora", "evt_exp_1", content_id="exp-1", created_at=ms())
        did = delivery_id("encora", "evt_exp_1", "gwi")
        self.env.wait_status(did, "pending")
        self.assertEqual(self.stats()["targets"]["gwi"]["pending"], 1)
        # ended before the record's own expiry (4 s), not found gone after it
        self.env.wait_status(did, "failed", timeout=8)
        rec = self.env.record(did)
        self.assertEqual(rec["error_code"], "expired")
        self.assertIn("retention_s", rec["error_message"])
        self.assertEqual(self.env.redis.cmd("ZCARD", "relay:due:gwi"), 0)
        self.assertIsNotNone(self.env.redis.cmd("ZSCORE", "relay:failed", did))
        st = self.stats()
        self.assertEqual(st["targets"]["gwi"]["pending"], 0)
        self.assertEqual(st["targets"]["gwi"]["failed"], 1)
        self.assertEqual(st["queues"]["ready"], 0)
        alerts = []
        for _id, fields in self.env.redis.cmd("XRANGE", "relay:alerts", "-", "+"):
            f = dict(zip(fields[::2], fields[1::2]))
            if f["type"] == "delivery.failed":
                alerts.append(json.loads(f["details"]))
        self.assertEqual([(a["delivery_id"], a["error_code"]) for a in alerts], [(did, "expired")])
        self.assertIn("waited past retention_s", self.worker.output())
        self.assertEqual(self.env.partner.got(), [])
        # then like any failed record: trimmed past retention, every count back to 0
        wait_until(lambda: self.env.redis.cmd("ZCARD", "relay:failed") == 0, timeout=15,
                   what="P:failed trimmed")
        st = self.stats()
        self.assertEqual((st["targets"]["gwi"]["pending"], st["targets"]["gwi"]["failed"]), (0, 0))
        self.assertEqual(self.env.record(did), {})

    def test_record_already_gone_is_taken_off_the_counts(self):
        """A due id whose record expired while no worker ran (or before this fix) is dropped
        from P:due and taken off `pending`."""
        self.env.redis.cmd("SADD", "relay:paused", "gwi")
        old = ms() - 10000
        self.env.redis.cmd("HINCRBY", "relay:stats:gwi", "pending", "1")  # counted first
        self.env.redis.cmd("ZADD", "relay:due:gwi", str(old), "dlv_gone")
        wait_until(lambda: self.env.redis.cmd("ZCARD", "relay:due:gwi") == 0, timeout=8,
                   what="orphan dropped from P:due")
        self.assertEqual(self.stats()["targets"]["gwi"]["pending"], 0)


class TestRecordLayout(WorkerTest):
    """The delivery record keeps what never changes in one joined field "e" (docs/redis.md,
    "Delivery record"); records written before "e" (named fields) are still claimed, pushed,
    completed and shown."""
    targets = {"canon": CANON}

    def ctl_json(self, *args):
        r = run_tool("relayctl", self.env.config_path, *args, "--json",
                     env={"MOVIDA_PASSWORD": "x"})
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_record_joins_what_never_changes(self):
        self.env.xadd("encora", "evt_layout_1", created_at=ms())
        did = delivery_id("encora", "evt_layout_1", "canon")
        self.env.wait_status(did, "delivered")
        flat = self.env.redis.cmd("HGETALL", "relay:d:" + did)
        raw = dict(zip(flat[::2], flat[1::2]))
        for name in ("id", "source", "target", "event_id", "content_id", "order_ts", "show_id"):
            self.assertNotIn(name, raw)
        values = raw["e"].split("\0")
        self.assertEqual(values[:3], ["canon", "encora", MOVIE_ID])
        self.assertEqual(values[7:9], ["evt_layout_1", "content.published"])
        self.assertEqual(len(values), 14)

        rec = self.ctl_json("show", did)
        self.assertEqual((rec["id"], rec["source"], rec["target"], rec["content_id"]),
                         (did, "encora", "canon", MOVIE_ID))
        self.assertEqual((rec["event_id"], rec["event_type"], rec["status"]),
                         ("evt_layout_1", "content.published", "delivered"))
        for name in ("created_at", "updated_at", "delivered_at"):
            self.assertIsNotNone(rec[name], name)
        listed = self.ctl_json("deliveries", "--source", "encora", "--target", "canon")["data"]
        self.assertEqual([(d["id"], d["content_id"]) for d in listed], [(did, MOVIE_ID)])

    def test_record_written_before_e_is_delivered(self):
        did = seed_delivery(self.env.redis, "evt_named_1", target="canon", status="pending",
                            content_id=MOVIE_ID)
        self.env.redis.cmd("HSET", "relay:title:canon:encora:" + MOVIE_ID, "live", did)
        rec = self.env.wait_status(did, "delivered")
        self.assertNotIn("e", rec)
        [req] = self.requests_to("/canon/")
        self.assertEqual(req["path"], "/canon/encora/movie/" + MOVIE_ID)
        self.assertEqual(req["headers"]["idempotency-key"], did)
        self.assertEqual(req["headers"]["x-relay-event-id"], "evt_named_1")
        shown = self.ctl_json("show", did)
        self.assertEqual((shown["id"], shown["source"], shown["status"]),
                         (did, "encora", "delivered"))
        st = self.ctl_json("stats")["targets"]["canon"]
        self.assertEqual((st["pending"], st["delivered"]), (0, 1))


class TestIsolation(WorkerTest):
    targets = {"canon": CANON,
               "broken": {"format": "canonical", "url": "PARTNER/broken", "timeout_ms": 3000}}

    def test_broken_target_does_not_delay_other(self):
        self.env.partner.plan("/broken", [(200, {}, b"", 2.5)] + [(503, {}, b"", 0)] * 20)
        for i in range(3):
            cid = "iso-%d" % i
            self.env.encora.routes["/v2/admin/movies/" + cid] = fixture("encorastream/movie.json")
            self.env.xadd("encora", "evt_iso_%d" % i, content_id=cid, created_at=ms())
        t0 = time.time()
        for i in range(3):
            self.env.wait_status(delivery_id("encora", "evt_iso_%d" % i, "canon"), "delivered",
                                 timeout=2.0)
        self.assertLess(time.time() - t0, 2.0)
        # the broken target's first attempt is still hanging meanwhile
        self.assertNotEqual(self.env.record(delivery_id("encora", "evt_iso_0", "broken"))["status"],
                            "delivered")


class TestLimits(WorkerTest):
    targets = {"limited": {"format": "canonical", "url": "PARTNER/lim/{id}", "rate_per_s": 2,
                           "max_in_flight": 1}}

    def test_rate_per_s_and_max_in_flight(self):
        self.env.partner.plan("/lim/", [(200, {}, b"", 0.1)] * 6)
        for i in range(6):
            cid = "lim-%d" % i
            self.env.encora.routes["/v2/admin/movies/" + cid] = fixture("encorastream/movie.json")
            self.env.xadd("encora", "evt_lim_%d" % i, content_id=cid, created_at=ms())
        for i in range(6):
            self.env.wait_status(delivery_id("encora", "evt_lim_%d" % i, "limited"), "delivered")
        reqs = self.requests_to("/lim/")
        self.assertEqual(len(reqs), 6)
        # 2 per (fixed, one-second) window: six pushes need three windows, and no second
        # sees more than two windows' worth
        starts = sorted(r["at"] for r in reqs)
        self.assertGreaterEqual(starts[-1] - starts[0], 0.95)
        self.assertTrue(all(starts[i + 4] - starts[i] >= 0.9 for i in range(len(starts) - 4)))
        # max_in_flight 1: never two at once (each answer takes 0.1 s)
        self.assertTrue(all(b - a >= 0.09 for a, b in zip(starts, starts[1:])))


class TestUnpublish(WorkerTest):
    targets = {"titanos": {"format": "titanos", "url": "PARTNER/tt/{id}", "method": "PUT",
                           "unpublish": "delete"},
               "gwi": GWI}

    def test_delete_and_tombstone(self):
        self.env.xadd("encora", "evt_unpub", etype="content.unpublished", created_at=ms())
        self.env.wait_status(delivery_id("encora", "evt_unpub", "titanos"), "delivered")
        self.env.wait_status(delivery_id("encora", "evt_unpub", "gwi"), "delivered")
        [d] = self.requests_to("/tt/")
        self.assertEqual(d["method"], "DELETE")
        self.assertEqual(d["path"], "/tt/" + MOVIE_ID)
        self.assertEqual(d["headers"]["x-relay-event-type"], "content.unpublished")
        [g] = self.requests_to("/gwi")
        self.assertEqual(g["method"], "POST")
        doc = json.loads(g["body"])
        self.assertEqual(doc["items"][0]["available_formats"], [])
        # GoWatchIt's removal is the complete item: the title is fetched as for a publish
        # (one GET, for the gwi delivery only: the DELETE needs none)
        [f] = self.env.encora.got()
        self.assertEqual(f["path"], "/v2/admin/movies/" + MOVIE_ID)
        self.assertEqual(doc["items"][0]["title"], "La Casa de las Flores: La Pel\u00edcula")
        self.assertEqual(doc["items"][0]["release_year"], "2021")


class TestNewestWins(WorkerTest):
    targets = {"canon": CANON}

    def test_older_event_after_delivered_is_superseded(self):
        t = ms()
        self.env.xadd("encora", "evt_new", etype="content.unpublished", created_at=t)
        self.env.wait_status(delivery_id("encora", "evt_new", "canon"), "delivered")
        self.env.xadd("encora", "evt_old", created_at=t - 60000)
        rec = self.env.wait_status(delivery_id("encora", "evt_old", "canon"), "superseded")
        self.assertEqual(rec.get("attempt_count", "0"), "0")  # never attempted (missing: 0)
        time.sleep(0.2)
        reqs = self.requests_to("/canon/")
        self.assertEqual([r["headers"]["x-relay-event-id"] for r in reqs], ["evt_new"])

    def test_newer_waits_for_older_in_flight(self):
        # The partner is slow to answer the first push; a newer event for the same title comes
        # while that push is in flight. Its push must start only once the older one has been
        # answered: pushed side by side, the older (fetched before the change) could land last
        # and leave the partner with stale metadata.
        self.env.partner.plan("/canon/", [(200, {}, b'{"ok":true}', 1.5)])
        t = ms()
        self.env.xadd("encora", "evt_old", created_at=t)
        wait_until(lambda: self.requests_to("/canon/"), timeout=5, what="first push")
        self.env.xadd("encora", "evt_new", created_at=t + 1000)
        new = delivery_id("encora", "evt_new", "canon")
        self.env.wait_status(new, "delivered")
        reqs = self.requests_to("/canon/")
        self.assertEqual([r["headers"]["x-relay-event-id"] for r in reqs], ["evt_old", "evt_new"])
        self.assertGreaterEqual(reqs[1]["at"], reqs[0]["at"] + 1.4)
        old = self.env.record(delivery_id("encora", "evt_old", "canon"))
        self.assertEqual(old["status"], "delivered")

    def test_chain_of_newer_events_waits_for_the_push_in_flight(self):
        # A is being pushed (slowly); B comes and waits; C comes and supersedes B: C inherits
        # B's wait, and A's answer is what releases it.
        self.env.partner.plan("/canon/", [(200, {}, b'{"ok":true}', 1.5)])
        t = ms()
        self.env.xadd("encora", "evt_a", created_at=t)
        wait_until(lambda: self.requests_to("/canon/"), timeout=5, what="first push")
        self.env.xadd("encora", "evt_b", created_at=t + 1000)
        time.sleep(0.2)
        self.env.xadd("encora", "evt_c", created_at=t + 2000)
        c = delivery_id("encora", "evt_c", "canon")
        rec = self.env.wait_status(c, "delivered")
        self.assertEqual(rec["after"], delivery_id("encora", "evt_a", "canon"))
        self.env.wait_status(delivery_id("encora", "evt_b", "canon"), "superseded")
        reqs = self.requests_to("/canon/")
        self.assertEqual([r["headers"]["x-relay-event-id"] for r in reqs], ["evt_a", "evt_c"])
        self.assertGreaterEqual(reqs[1]["at"], reqs[0]["at"] + 1.4)
        # released by A's answer, not by A's lease expiring (visibility_timeout_ms is 2 s)
        self.assertLess(reqs[1]["at"], reqs[0]["at"] + 1.9)

    def test_pending_older_is_superseded_by_newer(self):
        self.env.redis.cmd("SADD", "relay:paused", "canon")
        t = ms()
        self.env.xadd("encora", "evt_a", created_at=t)
        self.env.xadd("encora", "evt_b", etype="content.unpublished", created_at=t + 1000)
        # arrives last but is the oldest: superseded at once
        self.env.xadd("encora", "evt_c", created_at=t - 1000)
        a, b, c = (delivery_id("encora", e, "canon") for e in ("evt_a", "evt_b", "evt_c"))
        self.env.wait_status(a, "superseded")
        self.env.wait_status(c, "superseded")
        self.assertEqual(self.env.record(b)["status"], "pending")
        self.assertEqual(self.env.partner.got(), [])  # paused: nothing sent, no attempt spent
        self.env.redis.cmd("SREM", "relay:paused", "canon")
        self.env.wait_status(b, "delivered")
        time.sleep(0.2)
        reqs = self.requests_to("/canon/")
        self.assertEqual(len(reqs), 1)
        self.assertEqual(reqs[0]["headers"]["x-relay-event-id"], "evt_b")
        stats = self.env.redis.cmd("HGETALL", "relay:stats:canon")
        stats = dict(zip(stats[::2], stats[1::2]))
        self.assertEqual(stats.get("superseded"), "2")
        self.assertEqual(stats.get("delivered"), "1")
        self.assertEqual(stats.get("pending"), "0")


class TestSharedFetch(WorkerTest):
    """The deliveries of one event share its CMS fetch; different events never do."""
    targets = {"canon": CANON, "gwi": GWI,
               "mirror": {"format": "canonical", "url": "PARTNER/mirror/{id}"}}
    # room for every delivery of the batch at once: sharing needs the event's deliveries
    # to start while its fetch is in flight
    worker_cfg = {"concurrency": 32, "visibility_timeout_ms": 2000}

    def movie_path(self, cid):
        return "/v2/admin/movies/" + cid

    def test_one_fetch_per_event_for_three_targets(self):
        ids = ["movie-share-%d" % k for k in range(5)]
        for cid in ids:
            self.env.encora.routes[self.movie_path(cid)] = fixture("encorastream/movie.json")
        for k, cid in enumerate(ids):
            self.env.xadd("encora", "evt_share_%d" % k, content_id=cid, created_at=ms())
        for k in range(5):
            for t in self.targets:
                self.env.wait_status(delivery_id("encora", "evt_share_%d" % k, t), "delivered")
        fetched = sorted(r["path"] for r in self.env.encora.got())
        self.assertEqual(fetched, sorted(self.movie_path(c) for c in ids))
        self.assertEqual(len(self.requests_to("/mirror/")), 5)

    def test_a_later_event_does_not_join_an_earlier_fetch(self):
        # The CMS answers slowly: the second event's deliveries start while the first event's
        # fetch is in flight, and must fetch again (the first answer may predate the change).
        path = self.movie_path(MOVIE_ID)
        self.env.encora.delay[path] = 1.0
        self.env.xadd("encora", "evt_first", created_at=ms())
        wait_until(lambda: self.env.encora.got(), timeout=5, what="first fetch")
        self.env.xadd("encora", "evt_second", created_at=ms() + 1)
        for t in self.targets:
            self.env.wait_status(delivery_id("encora", "evt_second", t), "delivered")
        self.assertEqual(len(self.env.encora.got()), 2)


class TestMovida(WorkerTest):
    targets = {"canon": {"format": "canonical", "url": "PARTNER/canon/{type}/{id}"},
               "movies": {"format": "canonical", "url": "PARTNER/movies/{id}",
                          "content_types": ["movie"]}}

    def test_digest_fetch_and_type_filter_after_fetch(self):
        self.env.xadd("movida", "evt-7781", content_type="", content_id="73", created_at=ms())
        rec = self.env.wait_status(delivery_id("movida", "evt-7781", "canon"), "delivered")
        self.assertEqual(rec["attempt_count"], "1")
        [req] = self.requests_to("/canon/")
        self.assertEqual(req["path"], "/canon/episode/73")
        rec = self.env.wait_status(delivery_id("movida", "evt-7781", "movies"), "superseded")
        self.assertEqual(rec["error_code"], "filtered")
        self.assertEqual(self.requests_to("/movies/"), [])
        got = self.env.movida.got()
        self.assertTrue(any(r["auth"] for r in got))
        self.assertTrue(all(r["headers"].get("accept") == "application/json" for r in got))


if __name__ == "__main__":
    unittest.main(verbosity=2)
