"""The catalog written by the real worker: a feed target's delivery is storing the rendered
document (delivered, newest-wins, pause, redelivery), a push target's catalog changes when a
push succeeds, unpublishes become removals in the feed, a removal of a title a feed never had
ends superseded/not_in_catalog; and the convergence promise through the whole path (webhook
events, CMS fetches, the worker, the relay's /feeds) with titles changing while a partner pages.
Real Redis, relay, worker, stub CMS and partner."""
import base64
import json
import os
import random
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import Proc, SECRETS, free_port, main, request, wait_port, wait_ready, wait_until  # noqa: E402
import schemacheck  # noqa: E402
from worker_stubs import MOVIDA_PASSWORD, MOVIE_ID, WorkerEnv, delivery_id, fixture  # noqa: E402

PASSWORD = "tfeed-pw-DO-NOT-LOG"
AUTH = {"Authorization": "Basic " + base64.b64encode(("titanos:" + PASSWORD).encode()).decode()}
GWI_KEY = "gwi-worker-feed-DO-NOT-LOG"
ADMIN = {"Authorization": "Bearer " + SECRETS["RELAY_ADMIN_TOKEN"]}


class FeedWorkerCase(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv({
            "gwi": {"format": "gwi_json_1.1", "url": "PARTNER/gwi", "unpublish": "tombstone",
                    "sources": ["encora"],
                    "feed": {"auth": {"type": "api_key", "in": "header", "name": "X-Api-Key",
                                      "value": GWI_KEY}}},
            "titan": {"format": "titanos", "url": "PARTNER/titan/{id}", "method": "PUT",
                      "unpublish": "delete", "sources": ["encora"]},
        })
        cfg = self.env.config
        cfg["targets"]["tfeed"] = {"format": "titanos", "delivery": "feed", "sources": ["encora"],
                                   "feed": {"auth": {"type": "basic", "username": "titanos",
                                                     "password": PASSWORD}, "page_size": 7}}
        self.port = free_port()
        cfg["listen"] = "127.0.0.1:%d" % self.port
        with open(self.env.config_path, "w") as f:
            json.dump(cfg, f)
        self.relay = Proc(self.env.workdir, "relay", self.env.config_path,
                          env={"MOVIDA_PASSWORD": MOVIDA_PASSWORD})
        wait_port(self.port)
        wait_ready(self.port)
        self.worker = self.env.start_worker()

    def tearDown(self):
        self.relay.stop()
        self.env.close()

    def feed(self, cursor=None, limit=None):
        q = []
        if limit:
            q.append("limit=%d" % limit)
        if cursor:
            q.append("cursor=" + urllib.parse.quote(cursor))
        r = request(self.port, "GET", "/feeds/tfeed" + ("?" + "&".join(q) if q else ""),
                    headers=AUTH)
        self.assertEqual(r.status, 200, r.body)
        page = r.json()
        for doc in page["data"]:  # every served titanos object passes the partner's schema
            self.assertEqual(schemacheck.check_document("titanos", doc), [], doc)
        return page

    def entry(self, target, cid=MOVIE_ID):
        flat = self.env.redis.cmd("HGETALL", "relay:cat:%s:e:encora:%s" % (target, cid)) or []
        return dict(zip(flat[::2], flat[1::2]))


class TestWorkerWritesCatalog(FeedWorkerCase):
    def test_publish_unpublish_through_the_worker(self):
        self.env.xadd("encora", "evt_p1", created_at=1000)
        for t in ("tfeed", "gwi", "titan"):
            self.env.wait_status(delivery_id("encora", "evt_p1", t), "delivered")
        # the feed target: nothing was pushed for it, its catalog holds the titanos document
        self.assertEqual([r for r in self.env.partner.got() if "tfeed" in r["path"]], [])
        body = self.feed()
        self.assertEqual(len(body["data"]), 1)
        doc = body["data"][0]
        self.assertEqual(doc["id"], MOVIE_ID)
        self.assertEqual(doc["status"], "published")
        self.assertEqual(doc["title"], "La Casa de las Flores: La Película")
        cursor = body["meta"]["next_cursor"]
        e = self.entry("tfeed")
        self.assertEqual((e["status"], e["delivery_id"], e["content_type"]),
                         ("live", delivery_id("encora", "evt_p1", "tfeed"), "movie"))
        self.assertEqual(e["markets"], "+MX,US,ES,AR")  # the fixture's allow list
        for market, n in (("us", 1), ("FR", 0)):
            r = request(self.port, "GET", "/feeds/tfeed?market=" + market, headers=AUTH)
            self.assertEqual(len(r.json()["data"]), n, market)
        r = request(self.port, "GET", "/feeds/tfeed?content_type=show", headers=AUTH)
        self.assertEqual(r.json()["data"], [])
        # push targets: the catalog has what was pushed (the gwi item, the titanos object)
        pushed = [r for r in self.env.partner.got() if r["path"] == "/gwi"][0]
        item = json.loads(pushed["body"])["items"][0]
        seq = self.env.redis.cmd("HGET", "relay:cat:gwi:e:encora:" + MOVIE_ID, "seq")
        gdoc = self.env.redis.cmd("ZRANGEBYSCORE", "relay:cat:gwi:docs", seq, seq)[0]
        self.assertEqual(gdoc[0], "L")
        self.assertEqual(json.loads(gdoc.split(":", 1)[1]), item)
        self.assertEqual(self.entry("titan")["status"], "live")
        # the gwi push target serves its catalog as a feed as well
        r = request(self.port, "GET", "/feeds/gwi", headers={"X-Api-Key": GWI_KEY})
        self.assertEqual(r.json()["data"], [item])

        self.env.xadd("encora", "evt_u1", etype="content.unpublished", created_at=2000)
        for t in ("tfeed", "gwi", "titan"):
            self.env.wait_status(delivery_id("encora", "evt_u1", t), "delivered")
        self.assertEqual(self.entry("tfeed")["status"], "removed")
        self.assertEqual(self.entry("titan")["status"], "removed")
        self.assertEqual(self.entry("gwi")["status"], "removed")
        body = self.feed(cursor)
        self.assertEqual(len(body["data"]), 1)
        rm = body["data"][0]
        self.assertEqual(rm["status"], "removed")
        self.assertEqual(rm["title"], doc["title"])  # the metadata as last delivered
        self.assertEqual(rm["availability"]["offers"], [])
        self.assertEqual(self.feed()["data"], [])  # a snapshot leaves removals out
        # the gwi tombstone was rendered from its catalog: the item as pushed, formats emptied
        tomb = [r for r in self.env.partner.got() if r["path"] == "/gwi"][-1]
        tdoc = json.loads(tomb["body"])
        self.assertEqual(tdoc["_schema_version"], "gwi_json_1.1")
        self.assertEqual(tdoc["items"], [dict(item, available_formats=[])])
        # a second removal finds the title removed already: nothing sent
        n = len(self.env.partner.got())
        self.env.xadd("encora", "evt_u2", etype="content.unpublished", created_at=3000)
        rec = self.env.wait_status(delivery_id("encora", "evt_u2", "gwi"), "superseded")
        self.assertEqual(rec.get("error_code"), "not_in_catalog")
        self.env.wait_status(delivery_id("encora", "evt_u2", "titan"), "delivered")
        self.assertEqual(len([r for r in self.env.partner.got()[n:] if r["path"] == "/gwi"]), 0)
        # admin and relayctl see the same entries
        r = request(self.port, "GET", "/admin/catalog/tfeed", headers=ADMIN)
        self.assertEqual([x["status"] for x in r.json()["data"]], ["removed"])

    def test_removal_of_a_title_never_had(self):
        self.env.xadd("encora", "evt_u9", etype="content.unpublished", content_id="never-seen",
                      created_at=1000)
        rec = self.env.wait_status(delivery_id("encora", "evt_u9", "tfeed"), "superseded")
        self.assertEqual(rec.get("error_code"), "not_in_catalog")
        self.assertEqual(self.entry("tfeed", "never-seen"), {})
        self.assertEqual(self.feed()["data"], [])

    def test_newest_wins_pause_and_redeliver(self):
        self.env.redis.cmd("SADD", "relay:paused", "tfeed")
        self.env.xadd("encora", "evt_a", created_at=1000)
        did = delivery_id("encora", "evt_a", "tfeed")
        self.env.wait_status(delivery_id("encora", "evt_a", "titan"), "delivered")
        time.sleep(0.5)
        self.assertEqual(self.env.record(did)["status"], "pending")  # paused: waits
        self.assertEqual(self.entry("tfeed"), {})
        r = request(self.port, "POST", "/admin/targets/tfeed/resume", body=b"", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        self.env.wait_status(did, "delivered")
        self.assertEqual(self.entry("tfeed")["delivery_id"], did)
        seq = self.entry("tfeed")["seq"]
        # an older event never overwrites the newer document
        self.env.xadd("encora", "evt_old", created_at=500)
        self.env.wait_status(delivery_id("encora", "evt_old", "tfeed"), "superseded")
        self.assertEqual(self.entry("tfeed")["delivery_id"], did)
        # redelivery stores the same document again: no change for the partner
        etag = request(self.port, "GET", "/feeds/tfeed", headers=AUTH).headers["etag"]
        r = request(self.port, "POST", "/admin/deliveries/%s/redeliver" % did, body=b"",
                    headers=ADMIN)
        self.assertEqual(r.status, 202, r.body)
        wait_until(lambda: self.env.record(did).get("attempt_count") == "1" and
                   self.env.record(did).get("status") == "delivered", timeout=15,
                   what="redelivered")
        self.assertEqual(self.entry("tfeed")["seq"], seq)
        h = dict(AUTH, **{"If-None-Match": etag})
        self.assertEqual(request(self.port, "GET", "/feeds/tfeed", headers=h).status, 304)


class TestWorkerPathConvergence(FeedWorkerCase):
    """Webhook events for many titles, their CMS documents changing, publishes and unpublishes,
    racing a partner that pages the feed; once the worker is done the partner holds exactly
    the live catalog with every title at its newest document."""

    def test_converges(self):
        movie = json.loads(fixture("encorastream/movie.json"))
        for seed in (11, 12, 13):
            with self.subTest(seed=seed):
                self.run_seed(seed, movie)

    def run_seed(self, seed, movie):
        rng = random.Random(seed)
        ids = ["%08x-0000-4000-8000-%012d" % (seed, i) for i in range(40)]
        model, dids, clock = {}, [], [seed * 10 ** 9]
        state, cursor = {}, None

        def change():
            cid = rng.choice(ids)
            clock[0] += 1
            eid = "evt_%d_%d" % (seed, clock[0])
            if rng.random() < 0.3:
                self.env.xadd("encora", eid, etype="content.unpublished", content_id=cid,
                              created_at=clock[0])
                model.pop(cid, None)
            else:
                title = "%s v%d" % (cid, clock[0])
                doc = dict(movie, id=cid, title=title)
                self.env.encora.routes["/v2/admin/movies/" + cid] = json.dumps(doc).encode()
                self.env.xadd("encora", eid, content_id=cid, created_at=clock[0])
                model[cid] = title
            dids.append(delivery_id("encora", eid, "tfeed"))

        def poll():
            nonlocal cursor
            body = self.feed(cursor, limit=rng.choice([1, 3, 10]))
            for d in body["data"]:
                if d["status"] == "removed":
                    state.pop(d["id"], None)
                else:
                    state[d["id"]] = d["title"]
            cursor = body["meta"]["next_cursor"]
            return body["meta"]["has_more"], len(body["data"])

        for _ in range(60):
            change()
        # the snapshot and incremental polls race the rest of the changes
        for _ in range(120):
            if rng.random() < 0.5:
                change()
            poll()
        final = {"delivered", "superseded", "failed"}
        wait_until(lambda: all(self.env.record(d).get("status") in final for d in dids),
                   timeout=60, what="every delivery done")
        self.assertFalse([d for d in dids if self.env.record(d).get("status") == "failed"])
        while True:
            more, n = poll()
            if not more and n == 0:
                break
        mine = {k: v for k, v in state.items() if k in ids}
        self.assertEqual(sorted(mine), sorted(model), "seed %d" % seed)
        self.assertEqual(mine, model, "seed %d" % seed)


if __name__ == "__main__":
    main()
