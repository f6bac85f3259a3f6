"""Catalog sync (README, Sync and backfill): backfill, skip, full, newest-wins against
webhooks, guarded removals, CMS errors, admin API and relayctl. Real redis-server, real
relay-worker and relay, stub CMSs with paged catalogs."""
import json
import time
import unittest

import layout
from harness import SECRETS, wait_until
from sync_env import SyncEnv, now_ms, sync_delivery_id


class SyncTest(unittest.TestCase):
    env_args = {}

    def setUp(self):
        self.env = SyncEnv(**self.env_args)
        self.worker = self.env.start_worker()

    def tearDown(self):
        out = self.env.logs()
        rcs = self.env.close()
        self.assertTrue(all(rc == 0 for rc in rcs), out[-3000:])
        for secret in SECRETS.values():
            self.assertNotIn(secret, out)


class TestBackfill(SyncTest):
    def setUp(self):
        super().setUp()
        self.env.encora.add_movies(250)
        self.env.encora.add_shows(3, seasons=2, episodes=3)
        self.ids = self.env.encora.encora_ids()
        self.assertEqual(len(self.ids), 250 + 3 + 18)

    def test_backfill_then_skip_then_full(self):
        env = self.env
        sid = env.start()
        rec = env.wait_run(sid)
        self.assertEqual(rec["state"], "done", rec)
        # 3 movie pages, 1 show page, 3 season lists, 6 episode pages
        self.assertEqual(rec["pages"], 13, rec)
        self.assertEqual((rec["seen"], rec["queued"], rec["skipped"], rec["removed"]),
                         (271, 271, 0, 0), rec)
        self.assertEqual(rec["targets"], ["canon"])
        self.assertIsNone(rec["error"])
        ds = env.wait_delivered(sid, 271)
        self.assertEqual(set(ds), self.ids)
        self.assertTrue(all(d["status"] == "delivered" for d in ds.values()))
        # every title pushed once, with the sync's deterministic delivery id
        for cid in ("m-00000", "s-001", "e-002-2-03"):
            p = env.pushes(cid)
            self.assertEqual(len(p), 1, cid)
            self.assertEqual(p[0]["headers"]["idempotency-key"], sync_delivery_id("encora", sid, cid))
        ep = json.loads(env.pushes("e-002-2-03")[0]["body"])
        self.assertEqual(ep["type"], "episode")
        # the paged listing requests: 3 movie pages, 1 show page, 6 episode pages
        self.assertEqual(len(env.encora.got(lambda r: "limit=100" in r["path"])), 10)

        # a second run finds everything unchanged: nothing queued, nothing pushed
        n_push = len(env.pushes())
        rec2 = env.run()
        self.assertEqual((rec2["state"], rec2["seen"], rec2["queued"], rec2["skipped"]),
                         ("done", 271, 0, 271), rec2)
        time.sleep(0.5)
        self.assertEqual(len(env.pushes()), n_push)

        # one title changed in the CMS: only it goes out
        env.encora.movies["m-00007"] = "2026-11-30T00:00:00Z"
        rec3 = env.run()
        self.assertEqual((rec3["queued"], rec3["skipped"]), (1, 270), rec3)
        env.wait_delivered(rec3["id"], 1)
        self.assertEqual(len(env.pushes("m-00007")), 2)

        # full: everything again
        rec4 = env.run("encora", "--full")
        self.assertEqual((rec4["queued"], rec4["skipped"]), (271, 0), rec4)
        self.assertTrue(rec4["full"])
        env.wait_delivered(rec4["id"], 271)
        self.assertEqual(len(env.pushes("m-00000")), 2)

        # metrics-bearing fields in Redis
        m = env.redis.cmd("HGETALL", "relay:metrics")
        m = dict(zip(m[::2], m[1::2]))
        self.assertEqual(m["sync_runs_total|encora|done"], "4")
        self.assertEqual(int(m["sync_titles_total|encora|queued"]), 271 + 1 + 271)
        self.assertEqual(int(m["sync_titles_total|encora|skipped"]), 271 + 270)
        self.assertGreater(int(m["sync_last_success_timestamp_seconds|encora"]), time.time() - 120)

    def test_dry_run_touches_nothing(self):
        rec = self.env.run("encora", "--dry-run")
        self.assertEqual((rec["state"], rec["seen"], rec["queued"]), ("done", 271, 271), rec)
        self.assertTrue(rec["dry_run"])
        self.assertEqual(self.env.redis.cmd("XLEN", "relay:events"), 0)
        time.sleep(0.3)
        self.assertEqual(self.env.stream_events(), {})
        self.assertEqual(self.env.redis.cmd("EXISTS", "relay:sync:live:encora:canon"), 0)

    def test_webhook_newer_than_listing_is_not_overwritten(self):
        env = self.env
        # A webhook for m-00003 newer than the CMS listing's updated_at was delivered first.
        newer = now_ms()
        env.redis.cmd("XADD", "relay:events", "*", "source", "encora", "event_id", "evt_hook",
                      "type", "content.published", "content_type", "movie", "content_id", "m-00003",
                      "show_id", "", "season_number", "", "episode_number", "",
                      "created_at", str(newer), "received_at", str(newer), "request_id", "req-hook")
        wait_until(lambda: len(env.pushes("m-00003")) == 1, timeout=20, what="webhook push")
        rec = env.run("encora", "--full")  # full: not even the skip protects it
        ds = env.wait_delivered(rec["id"], 271)
        self.assertEqual(ds["m-00003"]["status"], "superseded")
        self.assertEqual(len(env.pushes("m-00003")), 1)
        self.assertEqual(ds["m-00004"]["status"], "delivered")
        # and without full, the skip already sees the newer delivery
        rec2 = env.run()
        self.assertEqual(rec2["skipped"], 271, rec2)


class TestRemovals(SyncTest):
    def setUp(self):
        super().setUp()
        self.env.encora.add_movies(1000)
        self.env.pause()  # deliveries wait: the runs and their events are what is checked
        rec = self.env.run(timeout=120)
        self.assertEqual((rec["state"], rec["queued"]), ("done", 1000), rec)
        self.first = rec["id"]

    def unpublishes(self):
        time.sleep(0.3)  # fan-out of what the run queued last
        return [d for d in self.env.stream_events().values() if d["event_type"] == "content.unpublished"]

    def test_missing_titles_removed(self):
        env = self.env
        gone = ["m-%05d" % i for i in (5, 50, 500, 999)]
        for g in gone:
            del env.encora.movies[g]
        rec = env.run()
        self.assertEqual((rec["state"], rec["seen"], rec["skipped"], rec["removed"]),
                         ("done", 996, 0, 4), rec)
        un = self.unpublishes()
        self.assertEqual(sorted(f["content_id"] for f in un), gone)
        self.assertEqual({f["target"] for f in un}, {"canon"})
        self.assertEqual({f["event_id"] for f in un}, {"sync:%s:%s" % (rec["id"], g) for g in gone})
        # removed once: the next run has nothing more to remove
        rec2 = env.run()
        self.assertEqual(rec2["removed"], 0, rec2)
        # and the unpublish goes out to the partner as the canonical removal document
        env.resume()
        did = sync_delivery_id("encora", rec["id"], "m-00050")
        wait_until(lambda: env.redis.cmd("HGET", "relay:d:" + did, "status") in ("delivered", "superseded"),
                   timeout=60, what="unpublish delivered")

    def test_catalog_title_not_listed_is_removed(self):
        # A title the target's catalog holds live (delivered by a webhook; written here in the
        # catalog's layout, docs/redis.md "Catalog") that the CMS no longer lists.
        env = self.env
        env.redis.cmd("HSET", "relay:cat:canon:e:encora:m-gone", "status", "live", "content_type", "movie",
                      "seq", "1", "order_ts", "1", "order_seq", "0-1")
        env.redis.cmd("ZADD", "relay:cat:canon:seq", "1", "encora:m-gone")
        env.redis.cmd("HSET", "relay:cat:canon:e:movida:77", "status", "live", "content_type", "movie")
        env.redis.cmd("ZADD", "relay:cat:canon:seq", "2", "movida:77")  # another source's
        env.redis.cmd("HSET", "relay:cat:canon:e:encora:m-old", "status", "removed")
        env.redis.cmd("ZADD", "relay:cat:canon:seq", "3", "encora:m-old")  # already removed
        rec = env.run()
        self.assertEqual((rec["state"], rec["removed"]), ("done", 1), rec)
        un = self.unpublishes()
        self.assertEqual([(f["content_id"], f["content_type"]) for f in un], [("m-gone", "movie")])

    def test_failed_page_removes_nothing(self):
        env = self.env
        for i in range(900, 1000):
            del env.encora.movies["m-%05d" % i]  # the last page's titles are gone
        # page 7 of 10 fails every attempt (retry.max_attempts = 4)
        env.encora.faults.append([lambda p, n: p.endswith("/movies") and n == 6,
                                  [(500, {}, b'{"error":"boom"}')] * 10])
        rec = env.run()
        self.assertEqual(rec["state"], "failed", rec)
        self.assertEqual(rec["error"], "source_unavailable")
        self.assertEqual(rec["errors"], 4)
        self.assertEqual(rec["removed"], 0)
        self.assertEqual(self.unpublishes(), [])
        self.assertEqual(rec["pages"], 6)

    def test_invalid_page_retried_then_fails(self):
        env = self.env
        env.encora.faults.append([lambda p, n: p.endswith("/movies") and n == 2,
                                  [(200, {}, b'{}')] * 10])
        rec = env.run()
        self.assertEqual((rec["state"], rec["error"], rec["removed"]), ("failed", "source_unavailable", 0), rec)
        self.assertIn("data array", rec.get("last_error", ""))
        self.assertEqual(self.unpublishes(), [])

    def test_empty_listing_is_too_many_removals(self):
        env = self.env
        env.encora.faults.append([lambda p, n: p.endswith("/movies") and n == 0,
                                  [(200, {}, b'{"data": [], "meta": {"next_cursor": null}}')]])
        rec = env.run()
        self.assertEqual((rec["state"], rec["error"], rec["removed"]), ("failed", "too_many_removals", 0), rec)
        self.assertIn("1000", rec["error_message"])
        self.assertEqual(self.unpublishes(), [])
        # the catalog index is intact: a good run afterwards removes nothing
        rec2 = env.run()
        self.assertEqual((rec2["state"], rec2["removed"], rec2["seen"]), ("done", 0, 1000), rec2)

    def test_shrink_past_max_remove_fraction(self):
        env = self.env
        for i in range(0, 250):  # 25% > the default 20%
            del env.encora.movies["m-%05d" % i]
        rec = env.run()
        self.assertEqual((rec["state"], rec["error"], rec["removed"]), ("failed", "too_many_removals", 0), rec)
        self.assertEqual(self.unpublishes(), [])
        # 15% is within the bound
        for i in range(0, 100):
            env.encora.movies["m-%05d" % i] = "2026-11-01T00:00:00Z"
        rec2 = env.run()
        self.assertEqual((rec2["state"], rec2["removed"]), ("done", 150), rec2)


class TestRetries(SyncTest):
    def test_429_and_503_retried_with_retry_after(self):
        env = self.env
        env.encora.add_movies(150)
        env.pause()
        env.encora.faults.append([lambda p, n: p.endswith("/movies") and n == 1,
                                  [(429, {"Retry-After": "1"}, b'{}'), (503, {"Retry-After": "1"}, b'{}')]])
        rec = env.run()
        self.assertEqual((rec["state"], rec["errors"], rec["seen"]), ("done", 2, 150), rec)
        at = [r["at"] for r in env.encora.got(lambda r: "/admin/movies?" in r["path"] and "cursor=100" in r["path"])]
        self.assertEqual(len(at), 3)
        self.assertGreaterEqual(at[1] - at[0], 0.95)
        self.assertGreaterEqual(at[2] - at[1], 0.95)

    def test_4xx_fails_at_once(self):
        env = self.env
        env.encora.add_movies(10)
        env.encora.faults.append([lambda p, n: p.endswith("/movies"), [(403, {}, b'{}')]])
        rec = env.run()
        self.assertEqual((rec["state"], rec["error"], rec["errors"]), ("failed", "source_rejected", 0), rec)


class TestMovida(SyncTest):
    def test_movida_pages_and_document_skip(self):
        env = self.env
        for i in range(1, 451):
            env.movida.titles[str(1000 + i)] = 1
        rec = env.run("movida")
        self.assertEqual((rec["state"], rec["pages"], rec["seen"], rec["queued"]), ("done", 3, 450, 450), rec)
        self.assertEqual(rec["total"], 450)
        env.wait_delivered(rec["id"], 450)
        lists = env.movida.got(lambda r: r["path"].startswith("/api/titles?") and r.get("auth"))
        self.assertEqual(len(lists), 3)
        self.assertIn("expand=metadata", lists[0]["path"])
        rec2 = env.run("movida")
        self.assertEqual((rec2["queued"], rec2["skipped"]), (0, 450), rec2)
        env.movida.titles["1200"] = 2  # its document changed
        rec3 = env.run("movida")
        self.assertEqual((rec3["queued"], rec3["skipped"]), (1, 449), rec3)

    def test_movida_skip_compares_what_the_partner_would_receive(self):
        """Movida has no updated_at: the skip renders each listed title as its delivery would
        and compares it with the target's catalog. A listed change no partner sees is skipped;
        a change in what the relay renders (the series' name an episode carries, the target's
        format) is sent."""
        env = self.env
        for i in range(1, 301):
            env.movida.titles[str(1000 + i)] = 1
        env.movida.groups.update({"9001": 1, "9002": 1})
        for i in range(10):
            env.movida.episodes[str(5000 + i)] = ("9001" if i < 5 else "9002", 1)
        rec = env.run("movida")
        self.assertEqual((rec["state"], rec["seen"], rec["queued"]), ("done", 310, 310), rec)
        env.wait_delivered(rec["id"], 310)

        groups_before = len(env.movida.group_requests())
        rec = env.run("movida")
        self.assertEqual((rec["queued"], rec["skipped"]), (0, 310), rec)
        # the episodes' series documents: fetched once per group by the run, not per title
        self.assertEqual(len(env.movida.group_requests()) - groups_before, 2)

        # a listed field that no partner's document shows: nothing to send
        env.movida.noise["1005"] = "acl-changed"
        # the series' name, which the listing does not carry but its episodes' documents do
        env.movida.groups["9002"] = 2
        rec = env.run("movida")
        self.assertEqual((rec["queued"], rec["skipped"]), (5, 305), rec)
        ds = env.wait_delivered(rec["id"], 5)
        self.assertEqual(sorted(ds), [str(5005 + i) for i in range(5)])
        _, doc = layout.catalog_document(env.redis, "canon", "movida", "5007")
        self.assertIn("Series 9002 v2", json.dumps(doc))
        rec = env.run("movida")
        self.assertEqual((rec["queued"], rec["skipped"]), (0, 310), rec)

        # a title the target's catalog lost (or never had) is sent again
        env.redis.cmd("DEL", "relay:cat:canon:e:movida:1010")
        rec = env.run("movida")
        self.assertEqual((rec["queued"], rec["skipped"]), (1, 309), rec)
        env.wait_delivered(rec["id"], 1)

        # the relay renders differently (the target's format changed): everything is sent
        env.workers[0].stop()
        env.config["targets"]["canon"]["format"] = "titanos"
        with open(env.config_path, "w") as f:
            json.dump(env.config, f)
        env.start_worker()
        rec = env.run("movida")
        self.assertEqual((rec["queued"], rec["skipped"]), (310, 0), rec)


if __name__ == "__main__":
    unittest.main()
