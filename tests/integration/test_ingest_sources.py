"""The sources' registration view (GET /admin/sources, relayctl sources, the last-received
metric): what an operator checks after registering the relay in a CMS. Two relay processes
share one Redis and their counts add up."""
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

AUTH = {"Authorization": "Bearer " + h.SECRETS["RELAY_ADMIN_TOKEN"]}


class SourcesTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="relay-sources-")
        self.redis = h.Redis(self.workdir).start()
        self.relays = []
        self.ports = []
        for _ in range(2):
            port = h.free_port()
            cfg = h.base_config(self.redis.port, port)
            path = os.path.join(self.workdir, "relay-%d.json" % port)
            with open(path, "w") as f:
                json.dump(cfg, f)
            self.config_path = path
            self.relays.append(h.Proc(self.workdir, "relay", path))
            self.ports.append(port)
        for port in self.ports:
            h.wait_port(port)
            h.wait_ready(port)

    def tearDown(self):
        for r in self.relays:
            self.assertEqual(r.stop(), 0)
        self.redis.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def view(self, port=None):
        r = h.request(port or self.ports[0], "GET", "/admin/sources", headers=AUTH)
        self.assertEqual(r.status, 200, r.body)
        return {s["name"]: s for s in r.json()["data"]}, r.body.decode()

    def test_registration_view(self):
        before, _ = self.view()
        enc = before["encora"]
        self.assertEqual(enc["path"], "/webhooks/encora")
        self.assertEqual(enc["kind"], "encorastream")
        self.assertEqual(enc["scheme"], "hmac-sha256-hex")
        self.assertEqual(enc["header"], "X-Encora-Signature-256")
        self.assertEqual(enc["secrets"], 1)
        self.assertIsNone(enc["last_received_at"])
        self.assertIsNone(enc["last_ping_at"])
        self.assertIsNone(enc["last_rejection"])
        self.assertEqual(enc["accepted_24h"], 0)
        self.assertEqual(before["movida"]["scheme"], "standard-webhooks")

        # relay 0: 3 accepted events, a ping; relay 1: 2 accepted, 2 with a wrong secret
        for k in range(3):
            body = h.encora_event("evt_src_a%d" % k)
            self.assertEqual(h.post_webhook(self.ports[0], "encora", body, h.sign_encora(body)).status, 202)
        ping = json.dumps({"id": "evt_ping", "type": "ping"}).encode()
        self.assertEqual(h.post_webhook(self.ports[0], "encora", ping, h.sign_encora(ping)).status, 200)
        for k in range(2):
            body = h.encora_event("evt_src_b%d" % k)
            self.assertEqual(h.post_webhook(self.ports[1], "encora", body, h.sign_encora(body)).status, 202)
        for k in range(2):
            body = h.encora_event("evt_src_bad%d" % k)
            r = h.post_webhook(self.ports[1], "encora", body, h.sign_encora(body, "wrong-secret"))
            self.assertEqual(r.status, 401)
        t_sent = time.time()

        def settled():
            v, _ = self.view(self.ports[1])
            e = v["encora"]
            return v if e["accepted_24h"] == 6 and e["rejected_24h"].get("signature_invalid") == 2 else None
        v = h.wait_until(settled, timeout=10, what="both relays' tallies in Redis")
        e = v["encora"]
        self.assertEqual(e["last_rejection"]["code"], "signature_invalid")
        for field in (e["last_received_at"], e["last_ping_at"], e["last_rejection"]["at"]):
            self.assertTrue(field.endswith("Z"), field)
        self.assertEqual(v["movida"]["accepted_24h"], 0)
        # the same view through relayctl, human and JSON
        out = h.run_tool("relayctl", self.config_path, "sources", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        doc = {s["name"]: s for s in json.loads(out.stdout)["data"]}
        self.assertEqual(doc["encora"]["accepted_24h"], 6)
        table = h.run_tool("relayctl", self.config_path, "sources")
        if os.environ.get("SHOW"):
            print(table.stdout)
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("/webhooks/encora", table.stdout)
        self.assertIn("signature_invalid 2", table.stdout)
        # the metric
        page = h.request(self.ports[0], "GET", "/metrics").body.decode()
        line = [l for l in page.splitlines()
                if l.startswith('relay_webhook_last_received_timestamp_seconds{source="encora"}')]
        self.assertEqual(len(line), 1, page)
        self.assertLess(abs(float(line[0].split()[-1]) - t_sent), 30)
        # never a secret
        texts = [self.view()[1], out.stdout, table.stdout, table.stderr] + [r.output() for r in self.relays]
        for text in texts:
            for secret in h.SECRETS.values():
                self.assertNotIn(secret, text)
            self.assertNotIn("wrong-secret", text)


if __name__ == "__main__":
    h.main()
