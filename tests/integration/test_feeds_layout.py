"""A catalog written by a build that kept one string per title (C:d:{source}:{content_id})
keeps serving after the upgrade: a write of such a title moves its document first
(catalog_lib), the relay moves the rest at start (catalog_migrate.lua), and nothing is lost."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import catalog_bulk  # noqa: E402
from harness import Proc, main, wait_port, wait_ready, wait_until  # noqa: E402
from test_feeds import FeedCase, GWI_KEY, gwi_item, titan_doc  # noqa: E402

C = "relay:cat:titanos-feed"


class TestLegacyLayout(FeedCase):
    def legacy(self, n):
        """n titles as the earlier build wrote them: entry hash, C:seq, C:d string."""
        for i in range(1, n + 1):
            cid = "old%03d" % i
            self.redis.cmd("HSET", "%s:e:encora:%s" % (C, cid), "status", "live", "seq", str(i),
                           "order_ts", str(i), "order_seq", "", "content_type", "movie",
                           "markets", "+US")
            self.redis.cmd("ZADD", C + ":seq", str(i), "encora:" + cid)
            self.redis.cmd("SET", "%s:d:encora:%s" % (C, cid), "L" + titan_doc(cid))
        self.redis.cmd("HSET", C + ":meta", "seq", str(n), "live", str(n))

    def restart_relay(self):
        self.relay.stop()
        type(self).relay = Proc(self.workdir, "relay", self.config_path)
        wait_port(self.port)
        wait_ready(self.port)

    def test_upgrade_keeps_every_title(self):
        self.legacy(2500)
        # before the relay moves them: a removal and a change of legacy titles
        out = self.load("titanos-feed", [
            catalog_bulk.entry("encora", "old001", "", status="removed", order_ts=10000),
            catalog_bulk.entry("encora", "old002", titan_doc("old002", 2), order_ts=10000,
                               markets="+US")])
        self.assertEqual(out, ["changed", "changed"])
        self.assertEqual(self.redis.cmd("EXISTS", C + ":d:encora:old001"), 0)
        self.restart_relay()
        wait_until(lambda: self.redis.cmd("HGET", C + ":meta", "layout") == "2", timeout=20,
                   what="catalog migrated")
        self.assertEqual(self.redis.cmd("KEYS", C + ":d:*"), [])
        self.assertEqual(self.redis.cmd("ZCARD", C + ":docs"), 2500)
        docs, cursor = self.page_all()
        self.assertEqual(len(docs), 2499)  # old001 removed before the snapshot
        self.assertEqual({d["id"] for d in docs}, {"old%03d" % i for i in range(2, 2501)})
        self.assertEqual([d["title"] for d in docs if d["id"] == "old002"], ["Title old002 v2"])
        # the removal kept the document the partner had
        r = self.get("/feeds/titanos-feed?cursor=" + cursor)
        self.assertEqual(r.json()["data"], [])
        got = self.redis.cmd("ZRANGEBYSCORE", C + ":docs", "2501", "2501")[0]
        self.assertEqual(got[0], "R")
        self.assertEqual(json.loads(got.split(":", 1)[1])["id"], "old001")

    def test_watchables_after_upgrade(self):
        g = "relay:cat:gowatchit"
        for i in range(1, 801):
            cid = "g%03d" % i
            self.redis.cmd("HSET", "%s:e:encora:%s" % (g, cid), "status", "live", "seq", str(i))
            self.redis.cmd("ZADD", g + ":seq", str(i), "encora:" + cid)
            self.redis.cmd("SET", "%s:d:encora:%s" % (g, cid), "L" + gwi_item(cid))
        self.redis.cmd("HSET", g + ":meta", "seq", "800", "live", "800")
        self.restart_relay()
        wait_until(lambda: self.redis.cmd("HGET", g + ":meta", "layout") == "2", timeout=20,
                   what="catalog migrated")
        r = self.get("/feeds/gowatchit/watchables.json?api_key=" + GWI_KEY, auth=False)
        self.assertEqual(r.status, 200)
        self.assertEqual(sorted(it["id"] for it in r.json()["items"]),
                         ["g%03d" % i for i in range(1, 801)])


if __name__ == "__main__":
    main()
