"""The feed's promise, tested hard: a partner that pages a full snapshot while titles keep
changing, then polls incrementally from the last cursor, ends holding exactly the target's
live catalog (every live title at its newest document, no removed title), however the changes
interleave with its pages. Randomized: many titles, changes, removals and re-publishes racing a
paging client with random page sizes, several seeds. The writer's own model is the truth the
client is compared with; Redis's copy is compared too.

The catalog is written through catalog_load.lua (the worker's own catalog write, catalog_lib);
test_feeds_worker.py races real webhooks through the worker the same way."""
import base64
import json
import os
import random
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import catalog_bulk  # noqa: E402
import feed_race  # noqa: E402
from harness import RelayTestCase, main, request  # noqa: E402

PASSWORD = "conv-feed-pw-DO-NOT-LOG"
AUTH = {"Authorization": "Basic " + base64.b64encode(("p:" + PASSWORD).encode()).decode()}
SEEDS = [int(s) for s in os.environ.get("FEED_SEEDS", "1,2,3,4,5").split(",")]


def doc(cid, version):
    return json.dumps({"id": cid, "status": "published", "title": "%s v%d" % (cid, version),
                       "availability": {"offers": [{"offer": "subscription"}]}},
                      separators=(",", ":"))


class Writer(feed_race.Writer):
    """The racing writer of target's catalog, its documents made by make (cid, version)."""

    def __init__(self, port, rng, titles, model, clock, target="conv", make=None):
        super().__init__(port, rng, titles, model, clock, target)
        self.make = make or doc

    def publish(self, cid, version):
        d = self.make(cid, version)
        return catalog_bulk.entry("encora", cid, d, order_ts=version), d


class TestConvergence(RelayTestCase):
    @classmethod
    def setUpClass(cls):
        os.environ["CONV_FEED_PASSWORD"] = PASSWORD
        feed = {"auth": {"type": "basic", "username": "p", "password": "env:CONV_FEED_PASSWORD"}}
        cls.config_extra = {"targets": {
            "conv": {"format": "titanos", "delivery": "feed", "feed": feed},
            "convg": {"format": "gwi_json_1.1", "delivery": "feed", "feed": feed}}}
        super().setUpClass()

    def poll(self, state, cursor, rng, sizes=(1, 2, 5, 17, 64, 200)):
        """One feed request; applies its documents to state. Returns (next_cursor, has_more,
        number of documents)."""
        return feed_race.poll(self, self.port, "conv", AUTH, ["limit=%d" % rng.choice(sizes)],
                              cursor, state, keep=lambda d: json.dumps(d, separators=(",", ":")))

    def run_seed(self, seed):
        rng = random.Random(seed)
        for k in self.redis.cmd("KEYS", "relay:cat:conv:*") or []:
            self.redis.cmd("DEL", k)
        titles = ["t%03d" % i for i in range(rng.randint(80, 300))]
        model, clock = {}, [0]
        # a catalog that already holds titles (and removals) before the partner starts
        start = []
        for cid in titles:
            clock[0] += 1
            if rng.random() < 0.8:
                model[cid] = doc(cid, clock[0])
                start.append(catalog_bulk.entry("encora", cid, model[cid], order_ts=clock[0]))
        catalog_bulk.load(self.redis.port, "conv", start)
        for cid in rng.sample(sorted(model), len(model) // 10):
            clock[0] += 1
            catalog_bulk.load(self.redis.port, "conv", [catalog_bulk.entry(
                "encora", cid, "", status="removed", order_ts=clock[0])])
            del model[cid]

        writer = Writer(self.redis.port, random.Random(seed * 7919), titles, model, clock)
        state = {}
        # the full snapshot, paged while the writer runs, then incremental polls, still racing
        pages = feed_race.race(self, writer, rng,
                               lambda cursor: self.poll(state, cursor, rng, sizes=(1, 3, 8, 20)),
                               lambda cursor: self.poll(state, cursor, rng), (5, 30))
        self.assertEqual(sorted(state), sorted(model), "seed %d: titles held" % seed)
        for cid, d in model.items():
            self.assertEqual(json.loads(state[cid]), json.loads(d), "seed %d: %s" % (seed, cid))
        # and the catalog in Redis agrees with the model
        live = set()
        for m in self.redis.cmd("ZRANGE", "relay:cat:conv:seq", 0, -1):
            if self.redis.cmd("HGET", "relay:cat:conv:e:" + m, "status") == "live":
                live.add(m.split(":", 1)[1])
        self.assertEqual(live, set(model))
        return pages, writer.writes

    def test_paging_client_converges(self):
        for seed in SEEDS:
            with self.subTest(seed=seed):
                pages, writes = self.run_seed(seed)
                print("seed %d: %d snapshot pages, %d writes raced" % (seed, pages, writes),
                      file=sys.stderr)


def gwi_item(cid, version):
    return json.dumps({"id": cid, "title": "%s v%d" % (cid, version), "type": "movie",
                       "available_formats": [{"format": "HD"}]}, separators=(",", ":"))


class TestWatchablesConvergence(TestConvergence):
    """The same promise for GoWatchIt's watchables.json: a full document streamed while titles
    change (it is read in several ranges at once, not in one atomic step), then incremental
    documents from X-Relay-Next-Cursor."""

    test_paging_client_converges = None

    def watchables(self, state, since=None):
        path = "/feeds/convg/watchables.json" + ("?since=" + urllib.parse.quote(since)
                                                 if since else "")
        r = request(self.port, "GET", path, headers=AUTH, timeout=60)
        self.assertEqual(r.status, 200, r.body[:300])
        doc = r.json()
        self.assertEqual(doc["catalog_period"], "incremental" if since else "full")
        for it in doc["items"]:
            if it["available_formats"] == []:
                state.pop(it["id"], None)
            else:
                state[it["id"]] = json.dumps(it, separators=(",", ":"))
        return r.headers["x-relay-next-cursor"], len(doc["items"])

    def test_stream_converges(self):
        for seed in SEEDS[:3]:
            with self.subTest(seed=seed):
                rng = random.Random(seed)
                for k in self.redis.cmd("KEYS", "relay:cat:convg:*") or []:
                    self.redis.cmd("DEL", k)
                # enough titles for the stream to take many ranges (512 each)
                titles = ["w%05d" % i for i in range(3000)]
                model, clock = {}, [0]
                start = []
                for cid in titles:
                    clock[0] += 1
                    model[cid] = gwi_item(cid, clock[0])
                    start.append(catalog_bulk.entry("encora", cid, model[cid],
                                                    order_ts=clock[0]))
                catalog_bulk.load(self.redis.port, "convg", start)
                writer = Writer(self.redis.port, random.Random(seed * 31), titles, model, clock,
                                target="convg", make=gwi_item)
                writer.start()
                state = {}
                try:
                    cursor, _ = self.watchables(state)
                    for _ in range(rng.randint(3, 8)):
                        cursor, _ = self.watchables(state, cursor)
                finally:
                    writer.stop_flag.set()
                    writer.join(30)
                self.assertIsNone(writer.error)
                while True:
                    cursor, n = self.watchables(state, cursor)
                    if n == 0:
                        break
                self.assertEqual(sorted(state), sorted(model), "seed %d" % seed)
                for cid, d in model.items():
                    self.assertEqual(json.loads(state[cid]), json.loads(d))


if __name__ == "__main__":
    main()
