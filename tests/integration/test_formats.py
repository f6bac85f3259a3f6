"""Partner documents end to end through relay-worker: the stub partner validates each one
against its schema (tests/schemas/, worker_stubs.StubPartner), these tests check what the
formats promise beyond shape: episode deep links from the show's slug, removals as complete
documents, and created_at / updated_at for a CMS without them (Movida)."""
import json
import time
import unittest

from worker_stubs import WorkerEnv, delivery_id, fixture

SHOW = "503c9125-a11a-4f69-b904-e679735399e2"
EPISODE = "a7a26ff2-e851-45b6-9634-d595f45458b7"
GWI = {"format": "gwi_json_1.1", "url": "PARTNER/gwi", "method": "POST", "unpublish": "tombstone",
       "catalog": {"provider": "Example Media", "name": "example-vod", "locale": "en_US"}}
TITANOS = {"format": "titanos", "url": "PARTNER/tt/{source}/{id}", "method": "PUT",
           "unpublish": "tombstone"}


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


class FormatsTest(unittest.TestCase):
    def setUp(self):
        self.env = WorkerEnv(json.loads(json.dumps({"gwi": GWI, "titanos": TITANOS})))
        self.env.encora.routes.update({
            "/v2/admin/shows/%s/seasons/1/episodes/2" % SHOW: fixture("encorastream/episode.json"),
            "/v2/admin/shows/%s" % SHOW: fixture("encorastream/show.json"),
        })
        self.worker = self.env.start_worker()

    def tearDown(self):
        self.env.close()  # fails the test when the partner got a document its schema rejects

    def docs(self, prefix):
        return [json.loads(r["body"]) for r in self.env.partner.got(lambda r: r["path"].startswith(prefix))]

    def test_encora_episode_deep_link_from_the_show(self):
        t = int(time.time() * 1000)
        self.env.xadd("encora", "evt_ep", content_type="episode", content_id=EPISODE, show_id=SHOW,
                      season_number="1", episode_number="2", created_at=t)
        self.env.wait_status(delivery_id("encora", "evt_ep", "gwi"), "delivered")
        self.env.wait_status(delivery_id("encora", "evt_ep", "titanos"), "delivered")
        [doc] = self.docs("/gwi")
        item = doc["items"][0]
        # the harness's web_url is https://watch.example.com/{type}s/{slug}: the show's slug
        self.assertEqual(item["url"], "https://watch.example.com/episodes/koln-75")
        self.assertEqual(item["premiere"], "2026-03-13")
        [tt] = self.docs("/tt/")
        self.assertEqual(tt["url"], item["url"])
        self.assertEqual(tt["created_at"], "2026-02-01T11:00:00Z")  # the CMS's own
        # one request per document, the show fetched once for both targets' deliveries
        shows = self.env.encora.got(lambda r: r["path"] == "/v2/admin/shows/" + SHOW)
        self.assertGreaterEqual(len(shows), 1)

    def test_movida_times_and_complete_removals(self):
        t0 = int(time.time() * 1000) - 60000
        self.env.xadd("movida", "evt_m1", content_type="", content_id="73", created_at=t0)
        self.env.wait_status(delivery_id("movida", "evt_m1", "titanos"), "delivered")
        self.env.wait_status(delivery_id("movida", "evt_m1", "gwi"), "delivered")
        [first] = self.docs("/tt/")
        self.assertEqual(first["updated_at"], rfc3339(t0))  # Movida has none: the event's
        created = first["created_at"]
        self.assertEqual(first["type"], "episode")

        t1 = t0 + 30000
        self.env.xadd("movida", "evt_m2", content_type="", content_id="73", created_at=t1)
        self.env.wait_status(delivery_id("movida", "evt_m2", "titanos"), "delivered")
        t2 = t1 + 1000
        self.env.xadd("movida", "evt_m3", etype="content.unpublished", content_type="", content_id="73",
                      created_at=t2)
        self.env.wait_status(delivery_id("movida", "evt_m3", "titanos"), "delivered")
        self.env.wait_status(delivery_id("movida", "evt_m3", "gwi"), "delivered")
        tts = self.docs("/tt/")
        self.assertEqual(len(tts), 3)
        self.assertEqual(tts[1]["updated_at"], rfc3339(t1))
        # created_at: the first time the relay saw the title, kept by the update and the removal
        self.assertEqual({d["created_at"] for d in tts}, {created})
        gone = tts[2]
        self.assertEqual(gone["status"], "removed")
        self.assertEqual(gone["title"], first["title"])
        self.assertEqual(gone["availability"]["offers"], [])
        # GoWatchIt's removal: the complete item as delivered, with no formats
        gwis = self.docs("/gwi")
        self.assertEqual(len(gwis), 3)
        published, removal = gwis[1]["items"][0], gwis[2]["items"][0]
        self.assertTrue(published["available_formats"])
        self.assertEqual(removal["available_formats"], [])
        published.pop("available_formats")
        removal.pop("available_formats")
        self.assertEqual(removal, published)


if __name__ == "__main__":
    unittest.main()
