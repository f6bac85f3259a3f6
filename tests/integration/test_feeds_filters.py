"""Filtered pull feeds (?market=, ?content_type=): a title that leaves the filter is sent to
the filtered poller as a removal, once; a title that never matched the filter never is. The
catalog is written through the relay's own catalog write (catalog_load.lua); see
test_feeds.py for the unfiltered feed."""
import json
import os
import random
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import catalog_bulk  # noqa: E402
from test_feeds import FeedCase, titan_doc  # noqa: E402
from harness import main, request  # noqa: E402
from test_feeds import TITAN_AUTH  # noqa: E402

MARKETS = ["+US", "+GB", "+FR,US", "-US", "", "+DE"]
KINDS = ["movie", "show"]
SEEDS = [int(s) for s in os.environ.get("FEED_SEEDS", "1,2,3,4,5").split(",")]


class TestFilteredRemovals(FeedCase):
    ts = 1000

    def put(self, cid, markets="", kind="movie", version=1, status="live"):
        """One change of title cid (a newer event each time)."""
        self.ts += 1
        doc = "" if status == "removed" else titan_doc(cid, version, kind)
        out = self.load("titanos-feed", [catalog_bulk.entry(
            "encora", cid, doc, status=status, order_ts=self.ts, content_type=kind,
            markets=markets)])
        self.assertEqual(out, ["changed"], cid)

    def poll(self, query, cursor=None):
        """Pages a filtered feed to its end: ({id: status}, the last cursor)."""
        docs, cursor = self.page_all(query=query, cursor=cursor)
        got = {}
        for d in docs:
            self.assertNotIn(d["id"], got, "a title twice in one poll")
            got[d["id"]] = d["status"]
        return got, cursor

    def test_title_moving_market_is_removed_there_and_live_in_the_new_one(self):
        self.put("x", "+US")
        self.put("y", "+GB")
        self.put("z", "+US,GB")
        us, cur_us = self.poll("market=US")
        gb, cur_gb = self.poll("market=gb")
        self.assertEqual(us, {"x": "published", "z": "published"})
        self.assertEqual(gb, {"y": "published", "z": "published"})

        self.put("x", "+GB", version=2)  # leaves US
        self.put("y", "+GB", version=2)  # changes, never in US
        self.put("z", "+US,GB", version=2)
        us, cur_us = self.poll("market=US", cur_us)
        self.assertEqual(us, {"x": "removed", "z": "published"})
        gb, cur_gb = self.poll("market=GB", cur_gb)
        self.assertEqual(gb, {"x": "published", "y": "published", "z": "published"})

        # once: later changes of x outside US send US pollers nothing more
        self.put("x", "+GB", version=3)
        us, cur_us = self.poll("market=US", cur_us)
        self.assertEqual(us, {})
        # a new snapshot of US never had x: no removal in it
        us, _ = self.poll("market=US")
        self.assertEqual(us, {"z": "published"})
        # back in US: live again there
        self.put("x", "+US", version=4)
        us, cur_us = self.poll("market=US", cur_us)
        self.assertEqual(us, {"x": "published"})
        gb, cur_gb = self.poll("market=GB", cur_gb)
        self.assertEqual(gb, {"x": "removed"})

    def test_markets_change_under_the_same_document(self):
        self.put("x", "+US")
        _, cur = self.poll("market=US")
        self.put("x", "+GB")  # the same document (version 1), other markets
        us, _ = self.poll("market=US", cur)
        self.assertEqual(us, {"x": "removed"})

    def test_removal_document_is_the_formats(self):
        self.put("x", "+US")
        _, cur = self.poll("market=US")
        self.put("x", "-US", version=2)  # everywhere but the US
        r = self.get("/feeds/titanos-feed?market=US&cursor=" + cur)
        doc = r.json()["data"]
        self.assertEqual(len(doc), 1)
        self.assertEqual(doc[0]["status"], "removed")
        self.assertEqual(doc[0]["availability"]["offers"], [])
        self.assertEqual(doc[0]["title"], "Title x v2")

    def test_never_matched_titles_are_never_sent(self):
        self.put("w", "+FR")
        self.put("v", "+US")
        _, cur_us = self.poll("market=US")
        # w moves around outside the US, is removed, republished elsewhere: US hears nothing
        self.put("w", "+GB", version=2)
        self.put("w", "+DE", version=3)
        self.put("w", "", status="removed")
        self.put("w", "+IT", version=4)
        self.put("n", "+JP")  # new, never in the US
        self.put("n", "+KR", version=2)
        us, cur_us = self.poll("market=US", cur_us)
        self.assertEqual(us, {})
        # nor does a content_type filter the titles never had
        _, cur_show = self.poll("content_type=show")
        self.put("w", "+IT", version=5)
        shows, _ = self.poll("content_type=show", cur_show)
        self.assertEqual(shows, {})

    def test_several_changes_between_polls(self):
        self.put("x", "+US")
        self.put("r", "+US")
        _, cur_us = self.poll("market=US")
        # x: US -> GB -> FR before the next poll; r: removed, then republished in GB
        self.put("x", "+GB", version=2)
        self.put("x", "+FR", version=3)
        self.put("r", "", status="removed")
        self.put("r", "+GB", version=2)
        us, cur_us = self.poll("market=US", cur_us)
        self.assertEqual(us, {"x": "removed", "r": "removed"})
        # many flips between polls (more than the history keeps): still removed, never kept
        self.put("f", "+US")
        _, cur_f = self.poll("market=US", cur_us)
        for i, mk in enumerate(["+GB", "+US", "+DE", "+US", "+IT", "+US", "+ES"]):
            self.put("f", mk, version=2 + i)
        us, _ = self.poll("market=US", cur_f)
        self.assertEqual(us, {"f": "removed"})

    def test_content_type_change(self):
        self.put("t", "", kind="movie")
        movies, cur_m = self.poll("content_type=movie")
        shows, cur_s = self.poll("content_type=show,season")
        self.assertEqual((movies, shows), ({"t": "published"}, {}))
        self.put("t", "", kind="show", version=2)
        movies, cur_m = self.poll("content_type=movie", cur_m)
        shows, cur_s = self.poll("content_type=show,season", cur_s)
        self.assertEqual((movies, shows), ({"t": "removed"}, {"t": "published"}))
        # both filters at once: the title must have matched both
        self.put("u", "+US", kind="show")
        _, cur_both = self.poll("content_type=movie&market=US")
        self.put("u", "+GB", kind="show", version=2)  # never a US movie
        both, _ = self.poll("content_type=movie&market=US", cur_both)
        self.assertEqual(both, {})

    def test_snapshot_racing_a_move(self):
        """A filtered snapshot paged while a title leaves the filter: the partner ends without
        it whether the snapshot gave it before the move or not."""
        for i in range(6):
            self.put("s%d" % i, "+US")
        r = self.get("/feeds/titanos-feed?market=US&limit=2")
        first = r.json()
        given = {d["id"] for d in first["data"]}
        # one title already given, one not yet: both move out of the US
        moved = [sorted(given)[0], "s5"]
        for cid in moved:
            self.put(cid, "+GB", version=2)
        held = set(given)
        docs, cur = self.page_all(query="market=US", cursor=first["meta"]["next_cursor"])
        for d in docs:
            if d["status"] == "removed":
                held.discard(d["id"])
            else:
                held.add(d["id"])
        self.assertEqual(held, {"s%d" % i for i in range(6)} - set(moved))
        # and the next incremental has nothing more for it
        us, _ = self.poll("market=US", cur)
        self.assertEqual(us, {})


def held_by(markets, kind, query):
    """Whether a live title with these attributes belongs in the feed filtered by query."""
    q = urllib.parse.parse_qs(query)
    if "content_type" in q and kind not in q["content_type"][0].split(","):
        return False
    if "market" in q and markets:
        found = q["market"][0].upper() in markets[1:].split(",")
        return found if markets[0] == "+" else not found
    return True


class FilterWriter(threading.Thread):
    """Moves random titles between markets and types, removes and re-publishes them, until
    stopped; model: cid -> (document, markets, type) of the live titles."""

    def __init__(self, port, rng, titles, model, clock):
        super().__init__(daemon=True)
        self.port, self.rng, self.titles, self.model, self.clock = port, rng, titles, model, clock
        self.stop_flag = threading.Event()
        self.writes, self.error = 0, None

    def run(self):
        try:
            while not self.stop_flag.is_set():
                batch = []
                for _ in range(self.rng.randint(1, 10)):
                    cid = self.rng.choice(self.titles)
                    self.clock[0] += 1
                    if self.rng.random() < 0.2:
                        batch.append(catalog_bulk.entry("encora", cid, "", status="removed",
                                                        order_ts=self.clock[0]))
                        self.model.pop(cid, None)
                    else:
                        mk, kind = self.rng.choice(MARKETS), self.rng.choice(KINDS)
                        d = titan_doc(cid, self.clock[0], kind)
                        batch.append(catalog_bulk.entry("encora", cid, d, order_ts=self.clock[0],
                                                        content_type=kind, markets=mk))
                        self.model[cid] = (d, mk, kind)
                catalog_bulk.load(self.port, "titanos-feed", batch)
                self.writes += len(batch)
                time.sleep(self.rng.random() * 0.004)
        except Exception as e:  # surfaced by the test
            self.error = e


class TestFilteredConvergence(FeedCase):
    """The feed's promise for a filtered poller: a partner that pages a filtered snapshot while
    titles move in and out of the filter, then polls incrementally, ends holding exactly the
    live titles that match the filter now, at their newest documents. Randomized, several
    seeds and filters."""

    def poll(self, state, query, cursor, rng):
        q = [query, "limit=%d" % rng.choice((1, 2, 5, 17, 64))]
        if cursor:
            q.append("cursor=" + urllib.parse.quote(cursor))
        r = request(self.port, "GET", "/feeds/titanos-feed?" + "&".join(q), headers=TITAN_AUTH)
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        for d in body["data"]:
            if d["status"] == "removed":
                state.pop(d["id"], None)
            else:
                state[d["id"]] = d
        return body["meta"]["next_cursor"], body["meta"]["has_more"], len(body["data"])

    def run_seed(self, seed, query):
        rng = random.Random(seed)
        for k in self.redis.cmd("KEYS", "relay:cat:titanos-feed:*") or []:
            self.redis.cmd("DEL", k)
        titles = ["f%03d" % i for i in range(rng.randint(60, 200))]
        model, clock, start = {}, [0], []
        for cid in titles:
            clock[0] += 1
            mk, kind = rng.choice(MARKETS), rng.choice(KINDS)
            model[cid] = (titan_doc(cid, clock[0], kind), mk, kind)
            start.append(catalog_bulk.entry("encora", cid, model[cid][0], order_ts=clock[0],
                                            content_type=kind, markets=mk))
        self.load("titanos-feed", start)
        writer = FilterWriter(self.redis.port, random.Random(seed * 7919), titles, model, clock)
        writer.start()
        state, cursor = {}, None
        try:
            while True:
                cursor, more, _ = self.poll(state, query, cursor, rng)
                if not more:
                    break
                time.sleep(rng.random() * 0.01)
            for _ in range(rng.randint(5, 20)):
                cursor, more, _ = self.poll(state, query, cursor, rng)
                time.sleep(rng.random() * 0.01)
        finally:
            writer.stop_flag.set()
            writer.join(30)
        self.assertIsNone(writer.error)
        self.assertGreater(writer.writes, 20, "the writer raced the client")
        while True:
            cursor, more, n = self.poll(state, query, cursor, rng)
            if not more and n == 0:
                break
        want = {cid: json.loads(d) for cid, (d, mk, kind) in model.items()
                if held_by(mk, kind, query)}
        self.assertEqual(sorted(state), sorted(want), "seed %d %s: titles held" % (seed, query))
        self.assertEqual(state, want, "seed %d %s: documents" % (seed, query))
        return writer.writes

    def test_filtered_poller_converges(self):
        for seed in SEEDS:
            for query in ("market=US", "content_type=movie", "content_type=show&market=us"):
                with self.subTest(seed=seed, query=query):
                    writes = self.run_seed(seed, query)
                    print("seed %d %s: %d writes raced" % (seed, query, writes), file=sys.stderr)


if __name__ == "__main__":
    main()
