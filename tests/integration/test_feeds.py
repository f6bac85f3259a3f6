"""Pull feeds: GET /feeds/{target} paging, cursors, filters, ETag, credentials, errors, admin
views and metrics. The catalog is written through the relay's own catalog write
(catalog_load.lua, the same function the worker's completion runs); the worker's path is in
test_feeds_worker.py."""
import base64
import json
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import catalog_bulk  # noqa: E402
from harness import (RelayTestCase, SECRETS, main, request, run_tool, wait_until)  # noqa: E402

ADMIN = {"Authorization": "Bearer " + SECRETS["RELAY_ADMIN_TOKEN"]}
FEED_PASSWORD = "titan-feed-pw-DO-NOT-LOG-81c"
GWI_KEY = "gwi-feed-key-DO-NOT-LOG-3e7"
BEARER = "canon-feed-token-DO-NOT-LOG-aa"
TITAN_AUTH = {"Authorization": "Basic " + base64.b64encode(
    ("titanos:" + FEED_PASSWORD).encode()).decode()}


def titan_doc(cid, version=1, kind="movie", territories=None):
    doc = {"id": cid, "status": "published", "type": kind, "title": "Title %s v%d" % (cid, version),
           "availability": {"offers": [{"offer": "subscription"}]}}
    if territories:
        doc["availability"]["territories"] = territories
    return json.dumps(doc, separators=(",", ":"))


def gwi_item(cid, version=1, kind="movie"):
    return json.dumps({"id": cid, "title": "T %s v%d" % (cid, version), "type": kind,
                       "locale": "en_US", "release_year": "2020",
                       "url": "https://watch.example.com/movies/" + cid,
                       "available_formats": [{"format": "HD", "offer": "subscription"}]},
                      separators=(",", ":"))


class FeedCase(RelayTestCase):
    retention = 2592000
    config_extra = {}

    @classmethod
    def setUpClass(cls):
        os.environ["TITANOS_FEED_PASSWORD"] = FEED_PASSWORD
        os.environ["GWI_FEED_KEY"] = GWI_KEY
        cls.config_extra = {"targets": {
            "titanos-feed": {"format": "titanos", "delivery": "feed",
                             "feed": {"auth": {"type": "basic", "username": "titanos",
                                               "password": "env:TITANOS_FEED_PASSWORD"},
                                      "page_size": 3,
                                      "tombstone_retention_s": cls.retention}},
            "gowatchit": {"format": "gwi_json_1.1", "url": "http://127.0.0.1:9/ingest",
                          "unpublish": "tombstone",
                          "catalog": {"provider": "Example Media", "name": "example-vod"},
                          "feed": {"auth": {"type": "api_key", "in": "query", "name": "api_key",
                                            "value": "env:GWI_FEED_KEY"}}},
            "canon-feed": {"format": "canonical", "delivery": "feed",
                           "feed": {"auth": {"type": "bearer", "token": BEARER}}},
            "plain": {"format": "canonical", "url": "http://127.0.0.1:9/x"},
        }}
        super().setUpClass()

    def setUp(self):
        for k in self.redis.cmd("KEYS", "relay:cat:*") or []:
            if k != "relay:cat:key":
                self.redis.cmd("DEL", k)

    def load(self, target, entries):
        return catalog_bulk.load(self.redis.port, target, entries, retention_s=self.retention)

    def get(self, path, headers=None, auth=True):
        h = dict(TITAN_AUTH) if auth else {}
        h.update(headers or {})
        return request(self.port, "GET", path, headers=h)

    def page_all(self, target="titanos-feed", cursor=None, query=""):
        """Pages until has_more is false; returns (docs in order, last cursor)."""
        docs = []
        while True:
            q = query
            if cursor:
                q += ("&" if q else "") + "cursor=" + urllib.parse.quote(cursor)
            r = self.get("/feeds/%s%s" % (target, "?" + q if q else ""))
            self.assertEqual(r.status, 200, r.body)
            body = r.json()
            docs.extend(body["data"])
            cursor = body["meta"]["next_cursor"]
            if not body["meta"]["has_more"]:
                return docs, cursor


class TestFeedPaging(FeedCase):
    def test_snapshot_pages_then_incremental_with_removals(self):
        self.load("titanos-feed", [catalog_bulk.entry("encora", "m%d" % i, titan_doc("m%d" % i),
                                                      order_ts=i) for i in range(7)])
        self.load("titanos-feed", [catalog_bulk.entry("encora", "m2", "", status="removed",
                                                      order_ts=100)])
        r = self.get("/feeds/titanos-feed")
        self.assertEqual(r.status, 200)
        body = r.json()
        self.assertEqual(len(body["data"]), 3)  # page_size
        self.assertTrue(body["meta"]["has_more"])
        docs, cursor = self.page_all()
        self.assertEqual(sorted(d["id"] for d in docs), ["m0", "m1", "m3", "m4", "m5", "m6"])
        self.assertTrue(all(d["status"] == "published" for d in docs))
        # nothing changed: an empty incremental page
        r = self.get("/feeds/titanos-feed?cursor=" + urllib.parse.quote(cursor))
        self.assertEqual(r.json()["data"], [])
        self.assertFalse(r.json()["meta"]["has_more"])
        # a change and a removal after the cursor: both come, the removal as titanos's document
        self.load("titanos-feed", [
            catalog_bulk.entry("encora", "m4", titan_doc("m4", 2), order_ts=200),
            catalog_bulk.entry("encora", "m5", "", status="removed", order_ts=200)])
        docs, cursor2 = self.page_all(cursor=cursor)
        self.assertEqual([d["id"] for d in docs], ["m4", "m5"])
        self.assertEqual(docs[0]["title"], "Title m4 v2")
        self.assertEqual(docs[1]["status"], "removed")
        self.assertEqual(docs[1]["availability"], {"start": None, "end": None, "territories": [],
                                                   "territory_policy": None, "offers": []})
        self.assertEqual(docs[1]["title"], "Title m5 v1")  # the metadata last delivered
        self.assertNotEqual(cursor, cursor2)

    def test_limit_and_filters(self):
        self.load("titanos-feed", [
            catalog_bulk.entry("encora", "a", titan_doc("a", territories=["US"]), order_ts=1,
                               markets="+US"),
            catalog_bulk.entry("encora", "b", titan_doc("b", kind="episode"), order_ts=2,
                               content_type="episode", markets="-US"),
            catalog_bulk.entry("encora", "c", titan_doc("c", kind="show"), order_ts=3,
                               content_type="show", markets=""),
        ])
        r = self.get("/feeds/titanos-feed?limit=1000")
        self.assertEqual(len(r.json()["data"]), 3)
        r = self.get("/feeds/titanos-feed?content_type=episode,show")
        self.assertEqual([d["id"] for d in r.json()["data"]], ["b", "c"])
        r = self.get("/feeds/titanos-feed?market=US")
        self.assertEqual([d["id"] for d in r.json()["data"]], ["a", "c"])
        r = self.get("/feeds/titanos-feed?market=gb")
        self.assertEqual([d["id"] for d in r.json()["data"]], ["b", "c"])
        r = self.get("/feeds/titanos-feed?limit=1")
        self.assertEqual(len(r.json()["data"]), 1)

    def test_etag_and_304(self):
        self.load("titanos-feed", [catalog_bulk.entry("encora", "a", titan_doc("a"), order_ts=1)])
        r = self.get("/feeds/titanos-feed")
        etag = r.headers["etag"]
        cursor = r.json()["meta"]["next_cursor"]
        r2 = self.get("/feeds/titanos-feed", {"If-None-Match": etag})
        self.assertEqual(r2.status, 304)
        self.assertEqual(r2.body, b"")
        self.assertEqual(r2.headers["etag"], etag)
        inc = "/feeds/titanos-feed?cursor=" + urllib.parse.quote(cursor)
        r3 = self.get(inc)
        etag3 = r3.headers["etag"]
        self.assertNotEqual(etag3, etag)
        self.assertEqual(self.get(inc, {"If-None-Match": 'W/' + etag3}).status, 304)
        self.load("titanos-feed", [catalog_bulk.entry("encora", "b", titan_doc("b"), order_ts=2)])
        r4 = self.get(inc, {"If-None-Match": etag3})
        self.assertEqual(r4.status, 200)
        self.assertEqual([d["id"] for d in r4.json()["data"]], ["b"])
        self.assertEqual(self.get("/feeds/titanos-feed", {"If-None-Match": etag}).status, 200)

    def test_same_document_again_is_not_a_change(self):
        self.load("titanos-feed", [catalog_bulk.entry("encora", "a", titan_doc("a"), order_ts=1)])
        r = self.get("/feeds/titanos-feed")
        out = self.load("titanos-feed", [catalog_bulk.entry("encora", "a", titan_doc("a"),
                                                            order_ts=2)])
        self.assertEqual(out, ["unchanged"])
        self.assertEqual(self.get("/feeds/titanos-feed",
                                  {"If-None-Match": r.headers["etag"]}).status, 304)
        # and an older event never overwrites a newer document
        self.assertEqual(self.load("titanos-feed", [catalog_bulk.entry(
            "encora", "a", titan_doc("a", 9), order_ts=0)]), ["older"])


class TestWatchables(FeedCase):
    def gwi(self, query=""):
        return request(self.port, "GET", "/feeds/gowatchit/watchables.json?api_key=" + GWI_KEY +
                       query)

    def test_full_then_incremental(self):
        n = 700  # several of the stream's batches
        self.load("gowatchit", [catalog_bulk.entry("encora", "g%04d" % i, gwi_item("g%04d" % i),
                                                   order_ts=i) for i in range(n)])
        self.load("gowatchit", [catalog_bulk.entry("encora", "g0003", "", status="removed",
                                                   order_ts=10000)])
        r = self.gwi()
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers.get("transfer-encoding"), "chunked")
        doc = r.json()
        self.assertEqual(doc["catalog_period"], "full")
        self.assertEqual(doc["_schema_version"], "gwi_json_1.1")
        self.assertEqual(doc["catalog_provider"], "Example Media")
        self.assertEqual(doc["catalog_name"], "example-vod")
        ids = [i["id"] for i in doc["items"]]
        self.assertEqual(len(ids), n - 1)
        self.assertNotIn("g0003", ids)
        self.assertEqual(len(set(ids)), len(ids))
        cursor = r.headers["x-relay-next-cursor"]
        # nothing changed
        r = self.gwi("&since=" + urllib.parse.quote(cursor))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["catalog_period"], "incremental")
        self.assertEqual(r.json()["items"], [])
        self.load("gowatchit", [
            catalog_bulk.entry("encora", "g0010", gwi_item("g0010", 2), order_ts=20000),
            catalog_bulk.entry("encora", "g0011", "", status="removed", order_ts=20000)])
        r = self.gwi("&since=" + urllib.parse.quote(cursor))
        items = r.json()["items"]
        self.assertEqual([i["id"] for i in items], ["g0010", "g0011"])
        self.assertEqual(items[0]["title"], "T g0010 v2")
        self.assertEqual(items[1]["available_formats"], [])
        self.assertEqual(items[1]["title"], "T g0011 v1")  # the whole item as last delivered
        cursor2 = r.headers["x-relay-next-cursor"]
        self.assertEqual(self.gwi("&since=" + urllib.parse.quote(cursor2)).json()["items"], [])
        # the cursor is one GET /feeds/gowatchit takes too
        r = request(self.port, "GET", "/feeds/gowatchit?api_key=%s&cursor=%s" % (
            GWI_KEY, urllib.parse.quote(cursor)))
        self.assertEqual([d["id"] for d in r.json()["data"]], ["g0010", "g0011"])

    def test_errors(self):
        self.assertEqual(request(self.port, "GET", "/feeds/gowatchit/watchables.json").status, 401)
        r = self.gwi("&since=forged")
        self.assertEqual((r.status, r.json()["code"]), (400, "invalid_cursor"))
        r = self.gwi("&limit=5")
        self.assertEqual((r.status, r.json()["code"]), (400, "invalid_parameter"))
        r = request(self.port, "HEAD", "/feeds/gowatchit/watchables.json?api_key=" + GWI_KEY)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")


class TestFeedErrors(FeedCase):
    def test_credentials(self):
        self.assertEqual(self.get("/feeds/titanos-feed", auth=False).status, 401)
        bad = {"Authorization": "Basic " + base64.b64encode(b"titanos:nope").decode()}
        r = request(self.port, "GET", "/feeds/titanos-feed", headers=bad)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["code"], "unauthorized")
        self.assertIn("basic", r.headers.get("www-authenticate", "").lower())
        # bearer
        self.assertEqual(request(self.port, "GET", "/feeds/canon-feed").status, 401)
        self.assertEqual(request(self.port, "GET", "/feeds/canon-feed", headers={
            "Authorization": "Bearer " + BEARER + "x"}).status, 401)
        self.assertEqual(request(self.port, "GET", "/feeds/canon-feed", headers={
            "Authorization": "Bearer " + BEARER}).status, 200)
        # api_key in the query
        self.assertEqual(request(self.port, "GET", "/feeds/gowatchit?api_key=wrong").status, 401)
        r = request(self.port, "GET", "/feeds/gowatchit?api_key=" + GWI_KEY + "&limit=5")
        self.assertEqual(r.status, 200)

    def test_unknown_and_featureless_targets(self):
        for path in ("/feeds/nope", "/feeds/plain", "/feeds/", "/feeds/titanos-feed/x",
                     "/feeds/titanos-feed/watchables.json"):
            r = self.get(path)
            self.assertEqual(r.status, 404, path)
            self.assertEqual(r.json()["code"], "not_found")
        r = request(self.port, "POST", "/feeds/titanos-feed", body=b"{}", headers=TITAN_AUTH)
        self.assertEqual(r.status, 405)

    def test_invalid_parameters(self):
        for q, name in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"),
                        ("limit=1&limit=2", "limit"), ("content_type=film", "content_type"),
                        ("content_type=movie,", "content_type"), ("market=USA", "market"),
                        ("market=1x", "market"), ("colour=red", "colour"), ("cursor=", "cursor")):
            r = self.get("/feeds/titanos-feed?" + q)
            self.assertEqual(r.status, 400, q)
            self.assertEqual(r.json()["code"], "invalid_parameter", q)
            self.assertIn(name, r.json()["message"], q)

    def test_invalid_cursors(self):
        self.load("titanos-feed", [catalog_bulk.entry("encora", "a", titan_doc("a"), order_ts=1)])
        good = self.get("/feeds/titanos-feed").json()["meta"]["next_cursor"]
        parts = good.split(".")
        forged = ".".join([parts[0], str(int(parts[1]) + 1)] + parts[2:])
        other_target = request(self.port, "GET", "/feeds/canon-feed", headers={
            "Authorization": "Bearer " + BEARER}).json()["meta"]["next_cursor"]
        for c in (good[:-1], good[:10], forged, "garbage", "1.0.0.0." + "0" * 32, other_target,
                  good.upper(), good + "0"):
            r = self.get("/feeds/titanos-feed?cursor=" + urllib.parse.quote(c))
            self.assertEqual(r.status, 400, c)
            self.assertEqual(r.json()["code"], "invalid_cursor", c)

    def test_api_key_never_logged(self):
        request(self.port, "GET", "/feeds/gowatchit?api_key=" + GWI_KEY)
        request(self.port, "GET", "/feeds/gowatchit?api_key=" + GWI_KEY + "&bogus=1")
        request(self.port, "GET", "/feeds/gowatchit?api%5Fkey=" + GWI_KEY)
        self.get("/feeds/titanos-feed")
        wait_until(lambda: self.relay.output().count("feed request") >= 4, what="log lines")
        out = self.relay.output()
        for secret in (GWI_KEY, FEED_PASSWORD, BEARER):
            self.assertNotIn(secret, out)
        self.assertIn("api_key=***", out)


class TestFeedAdmin(FeedCase):
    def test_admin_feeds_catalog_and_metrics(self):
        self.load("titanos-feed", [catalog_bulk.entry("encora", "m%d" % i, titan_doc("m%d" % i),
                                                      order_ts=i, delivery_id="dlv_%d" % i,
                                                      updated_at="2026-11-20T10:00:00Z")
                                   for i in range(5)])
        self.load("titanos-feed", [catalog_bulk.entry("encora", "m1", "", status="removed",
                                                      order_ts=50, delivery_id="dlv_rm")])
        docs, cursor = self.page_all()
        self.load("titanos-feed", [catalog_bulk.entry("encora", "m7", titan_doc("m7"),
                                                      order_ts=60)])
        self.get("/feeds/titanos-feed?cursor=" + urllib.parse.quote(cursor) + "&limit=1",
                 {"If-None-Match": '"x"'})
        r = request(self.port, "GET", "/admin/feeds", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        f = r.json()["feeds"]["titanos-feed"]
        self.assertEqual((f["live"], f["removed"]), (5, 1))
        self.assertEqual(f["last_poll_status"], 200)
        self.assertIsNotNone(f["last_poll_at"])
        self.assertEqual(f["lag"], 1)  # m7 changed after the cursor it used
        self.assertIn("gowatchit", r.json()["feeds"])
        self.assertNotIn("plain", r.json()["feeds"])
        self.assertEqual(request(self.port, "GET", "/admin/feeds").status, 401)

        r = request(self.port, "GET", "/admin/catalog/titanos-feed?limit=2", headers=ADMIN)
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual([e["content_id"] for e in body["data"]], ["m7", "m1"])
        e = body["data"][1]
        self.assertEqual((e["source"], e["status"], e["content_type"], e["delivery_id"]),
                         ("encora", "removed", "movie", "dlv_rm"))
        self.assertIsNotNone(e["delivered_at"])
        seen = [x["content_id"] for x in body["data"]]
        nxt = body["meta"]["next_cursor"]
        while nxt:
            body = request(self.port, "GET", "/admin/catalog/titanos-feed?limit=2&cursor=" + nxt,
                           headers=ADMIN).json()
            seen += [x["content_id"] for x in body["data"]]
            nxt = body["meta"]["next_cursor"]
        self.assertEqual(sorted(seen), ["m0", "m1", "m2", "m3", "m4", "m7"])
        r = request(self.port, "GET", "/admin/catalog/titanos-feed?status=removed", headers=ADMIN)
        self.assertEqual([x["content_id"] for x in r.json()["data"]], ["m1"])
        for q, code, st in (("?status=gone", "invalid_parameter", 400),
                            ("?limit=0", "invalid_parameter", 400),
                            ("?cursor=x", "invalid_cursor", 400),
                            ("?zzz=1", "invalid_parameter", 400)):
            r = request(self.port, "GET", "/admin/catalog/titanos-feed" + q, headers=ADMIN)
            self.assertEqual((r.status, r.json()["code"]), (st, code), q)
        r = request(self.port, "GET", "/admin/catalog/nope", headers=ADMIN)
        self.assertEqual(r.status, 404)

        # relayctl: the same, from Redis directly
        out = run_tool("relayctl", self.config_path, "feeds", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        f = json.loads(out.stdout)["feeds"]["titanos-feed"]
        self.assertEqual((f["live"], f["removed"], f["lag"]), (5, 1, 1))
        out = run_tool("relayctl", self.config_path, "feeds")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("titanos-feed", out.stdout)
        self.assertIn("LAG", out.stdout)
        out = run_tool("relayctl", self.config_path, "catalog", "titanos-feed", "--status",
                       "removed", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([e["content_id"] for e in json.loads(out.stdout)["data"]], ["m1"])
        out = run_tool("relayctl", self.config_path, "catalog", "titanos-feed", "--limit", "2")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("m7", out.stdout)
        self.assertIn("--cursor", out.stdout)
        self.assertEqual(run_tool("relayctl", self.config_path, "catalog", "nope").returncode, 1)
        self.assertEqual(run_tool("relayctl", self.config_path, "catalog", "titanos-feed",
                                  "--status", "x").returncode, 2)
        for secret in (FEED_PASSWORD, GWI_KEY, BEARER):
            self.assertNotIn(secret, out.stdout + out.stderr)

        def scraped():
            m = request(self.port, "GET", "/metrics").body.decode()
            return m if 'relay_feed_items{target="titanos-feed",status="live"} 5' in m else None
        m = wait_until(scraped, timeout=15, what="feed metrics")
        self.assertIn('relay_feed_requests_total{target="titanos-feed",code="200"}', m)
        self.assertIn('relay_feed_last_poll_timestamp_seconds{target="titanos-feed"}', m)


class TestCursorExpiry(FeedCase):
    retention = 2

    def test_expired_after_retention(self):
        self.load("titanos-feed", [catalog_bulk.entry("encora", "a", titan_doc("a"), order_ts=1),
                                   catalog_bulk.entry("encora", "b", titan_doc("b"), order_ts=2)])
        cursor = self.get("/feeds/titanos-feed?limit=1").json()["meta"]["next_cursor"]
        self.load("titanos-feed", [catalog_bulk.entry("encora", "b", "", status="removed",
                                                      order_ts=3)])
        time.sleep(3.2)
        r = self.get("/feeds/titanos-feed?cursor=" + urllib.parse.quote(cursor))
        self.assertEqual(r.status, 410)
        self.assertEqual(r.json()["code"], "cursor_expired")
        # the removal is gone from the catalog after the retention; a snapshot still works
        r = self.get("/feeds/titanos-feed")
        self.assertEqual([d["id"] for d in r.json()["data"]], ["a"])
        self.assertEqual(self.redis.cmd("EXISTS", "relay:cat:titanos-feed:e:encora:b"), 0)
        fresh = r.json()["meta"]["next_cursor"]
        self.assertEqual(self.get("/feeds/titanos-feed?cursor=" +
                                  urllib.parse.quote(fresh)).status, 200)


if __name__ == "__main__":
    main()
