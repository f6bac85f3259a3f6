"""The README's "Endpoints" webhook rules row by row, against the real relay and a real redis-server."""
import datetime
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import layout  # noqa: E402


class IngestTest(h.RelayTestCase):
    config_extra = {"limits": {"max_body_bytes": 4096, "request_timeout_ms": 1500,
                               "max_connections": 50}}

    def post(self, source, body, headers, **kw):
        return h.post_webhook(self.port, source, body, headers, **kw)

    def assert_error(self, r, status, code):
        self.assertEqual(r.status, status, r.body)
        doc = r.json()
        self.assertEqual(doc["code"], code)
        self.assertTrue(doc["message"])
        self.assertEqual(doc["request_id"], r.headers["x-request-id"])

    def test_01_unknown_source(self):
        body = h.encora_event("evt_unknown")
        self.assert_error(self.post("nope", body, h.sign_encora(body)), 404, "unknown_source")

    def test_02_method_not_allowed(self):
        r = h.request(self.port, "GET", "/webhooks/encora")
        self.assert_error(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "POST")

    def test_03_payload_too_large_without_reading_body(self):
        # Announce a huge body but send none of it: the answer must come from the headers.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000000\r\n\r\n")
            data = s.recv(65536).decode()
        self.assertTrue(data.startswith("HTTP/1.1 413"), data)
        self.assertIn('"code":"payload_too_large"', data)
        self.assertIn("X-Request-Id:", data)

    def test_03b_payload_too_large_full_body(self):
        body = b'{"pad":"' + b"x" * 5000 + b'"}'
        self.assert_error(self.post("encora", body, h.sign_encora(body)), 413, "payload_too_large")

    def test_04_unsupported_media_type(self):
        body = h.encora_event("evt_ct")
        r = self.post("encora", body, h.sign_encora(body), content_type="text/plain")
        self.assert_error(r, 415, "unsupported_media_type")
        r = self.post("encora", body, h.sign_encora(body), content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 202, r.body)

    def test_05_signatures(self):
        body = h.encora_event("evt_sig")
        self.assert_error(self.post("encora", body, {}), 401, "signature_missing")
        self.assert_error(self.post("encora", body, h.sign_encora(body, "wrong")), 401, "signature_invalid")
        tampered = body.replace(b"movie", b"show ")
        self.assert_error(self.post("encora", tampered, h.sign_encora(body)), 401, "signature_invalid")
        upper = {"X-Encora-Signature-256": "sha256=" + h.hmac_hex(h.SECRETS["ENCORA_WEBHOOK_SECRET"], body).upper()}
        self.assertEqual(self.post("encora", body, upper).status, 202)

    def test_05b_standard_webhooks(self):
        body = json.dumps({"type": "content.published", "created_at": "2026-11-20T10:00:00Z",
                           "data": {"title_id": 73}}).encode()
        r = self.post("movida", body, h.sign_standard(body, "msg_std_1"))
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["event_id"], "msg_std_1")  # webhook-id when the envelope has none
        old = h.sign_standard(body, "msg_std_2", ts=int(time.time()) - 3600)
        self.assert_error(self.post("movida", body, old), 401, "timestamp_out_of_tolerance")
        self.assert_error(self.post("movida", body, {}), 401, "signature_missing")
        # Svix-branded senders: the same headers named svix-*
        svix = {k.replace("webhook-", "svix-"): v for k, v in h.sign_standard(body, "msg_svix_1").items()}
        r = self.post("movida", body, svix)
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["event_id"], "msg_svix_1")
        svix["svix-signature"] = h.sign_standard(body, "other")["webhook-signature"]
        self.assert_error(self.post("movida", body, svix), 401, "signature_invalid")

    def test_06_invalid_json_and_envelope(self):
        for body in (b"{not json", b"\xff\xfe{}"):
            self.assert_error(self.post("encora", body, h.sign_encora(body)), 400, "invalid_json")
        body = json.dumps({"id": "evt_x", "type": "content.published", "data": {"content_type": "movie"}}).encode()
        r = self.post("encora", body, h.sign_encora(body))
        self.assert_error(r, 422, "invalid_envelope")
        self.assertIn("content_id", r.json()["message"])
        link = json.dumps({"id": "e-link", "type": "content.published",
                           "data": {"self_link": "https://evil.example.com/api/titles/73"}}).encode()
        r = self.post("movida", link, h.sign_standard(link, "msg_link"))
        self.assert_error(r, 422, "invalid_envelope")
        self.assertIn("self_link", r.json()["message"])

    def test_07_ping_and_other_types(self):
        body = json.dumps({"id": "evt_ping", "type": "ping"}).encode()
        r = self.post("encora", body, h.sign_encora(body))
        self.assertEqual((r.status, r.json()), (200, {"status": "pong"}))
        body = json.dumps({"id": "evt_other", "type": "content.deleted_forever"}).encode()
        r = self.post("encora", body, h.sign_encora(body))
        self.assertEqual((r.status, r.json()), (200, {"status": "ignored", "event_id": "evt_other"}))

    def test_08_09_queue_and_duplicate(self):
        body = h.encora_event("evt_dup_1")
        r = self.post("encora", body, h.sign_encora(body))
        self.assertEqual((r.status, r.json()), (202, {"status": "queued", "event_id": "evt_dup_1"}))
        r = self.post("encora", body, h.sign_encora(body))
        self.assertEqual((r.status, r.json()), (200, {"status": "duplicate", "event_id": "evt_dup_1"}))
        entries = self.redis.cmd("XRANGE", "relay:events", "-", "+")
        mine = [layout.entry_fields(e[1]) for e in entries]
        mine = [e for e in mine if e["event_id"] == "evt_dup_1"]
        self.assertEqual(len(mine), 1)
        e = mine[0]
        self.assertEqual(e["source"], "encora")
        self.assertEqual(e["type"], "content.published")
        self.assertEqual(e["content_type"], "movie")
        self.assertEqual(e["content_id"], "497f6eca-6276-4993-bfeb-53cbbbba6f08")
        self.assertEqual(e["created_at"], str(int(datetime.datetime(2026, 11, 20, 10, tzinfo=datetime.timezone.utc).timestamp() * 1000)))
        self.assertGreater(self.redis.cmd("TTL", "relay:dedupe:encora:evt_dup_1"), 86000)
        groups = self.redis.cmd("XINFO", "GROUPS", "relay:events")
        self.assertEqual(groups[0][1], "workers")

    def test_09b_concurrent_batch_each_checked(self):
        # Requests verified in one loop pass share one enqueue call; each still gets its own
        # duplicate check and its own answer.
        import threading
        before = self.redis.cmd("XLEN", "relay:events")
        reqs = []
        for i in range(20):
            body = h.encora_event("evt_batch_dup")
            reqs.append(("dup", body))
            body = h.encora_event("evt_batch_%d" % i, content_id="c-%d" % i)
            reqs.append(("uniq", body))
        socks = []
        for _, body in reqs:
            sig = h.sign_encora(body)["X-Encora-Signature-256"]
            raw = (b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"X-Encora-Signature-256: %s\r\nContent-Length: %d\r\n\r\n%s"
                   % (sig.encode(), len(body), body))
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            socks.append((s, raw))
        results = [None] * len(socks)
        gate = threading.Barrier(len(socks))

        def go(k):
            s, raw = socks[k]
            gate.wait()
            s.sendall(raw)
            data = b""
            while not data.endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            results[k] = data
        threads = [threading.Thread(target=go, args=(k,)) for k in range(len(socks))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s, _ in socks:
            s.close()
        dup = [r for (kind, _), r in zip(reqs, results) if kind == "dup"]
        uniq = [r for (kind, _), r in zip(reqs, results) if kind == "uniq"]
        self.assertEqual(sum(r.startswith(b"HTTP/1.1 202") for r in dup), 1, dup)
        self.assertEqual(sum(b'"status":"duplicate"' in r for r in dup), 19, dup)
        self.assertTrue(all(r.startswith(b"HTTP/1.1 202") for r in uniq), uniq)
        for i, r in enumerate(uniq):
            self.assertIn(b'"event_id":"evt_batch_%d"' % i, r)
        self.assertEqual(self.redis.cmd("XLEN", "relay:events"), before + 21)

    def test_10_health_and_request_ids(self):
        r1 = h.request(self.port, "GET", "/healthz")
        r2 = h.request(self.port, "GET", "/readyz")
        self.assertEqual((r1.status, r2.status), (200, 200))
        self.assertNotEqual(r1.headers["x-request-id"], r2.headers["x-request-id"])
        self.assert_error(h.request(self.port, "GET", "/nowhere"), 404, "not_found")

    def test_11_stalled_client_is_cut_off(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
            t0 = time.time()
            data = s.recv(65536)
            elapsed = time.time() - t0
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        self.assertLess(elapsed, 5)
        self.assertEqual(h.request(self.port, "GET", "/healthz").status, 200)

    def test_12_keep_alive_and_pipelining(self):
        body = h.encora_event("evt_pipe")
        sig = h.sign_encora(body)["X-Encora-Signature-256"]
        req = (b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"X-Encora-Signature-256: %s\r\nContent-Length: %d\r\n\r\n%s" % (sig.encode(), len(body), body))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(req + req + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while data.count(b"HTTP/1.1 ") < 3:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertIn(b"HTTP/1.1 202", data)
        self.assertIn(b'"status":"duplicate"', data)
        self.assertEqual(data.count(b"HTTP/1.1 "), 3)

    def raw(self, data, responses=1):
        """Sends raw bytes on a new connection; returns what came back once `responses`
        status lines arrived or the relay closed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(data)
            got = b""
            while got.count(b"HTTP/1.1 ") < responses or not got.endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        return got

    def chunked_request(self, body, sig, chunks, te=b"chunked", extra=b""):
        framed = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\nX-Trailer: t\r\n\r\n"
        return (b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"X-Encora-Signature-256: %s\r\nTransfer-Encoding: %s\r\n%s\r\n%s"
                % (sig.encode(), te, extra, framed))

    def test_15_chunked_bodies(self):
        body = h.encora_event("evt_chunked")
        sig = h.sign_encora(body)["X-Encora-Signature-256"]
        parts = [body[:10], body[10:11], body[11:]]
        # decoded body is what is verified and queued; keep-alive goes on after it
        data = self.raw(self.chunked_request(body, sig, parts) + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 2)
        self.assertTrue(data.startswith(b"HTTP/1.1 202"), data)
        self.assertIn(b'"event_id":"evt_chunked"', data)
        self.assertEqual(data.count(b"HTTP/1.1 200"), 1, data)
        self.assertTrue(self.redis.cmd("EXISTS", "relay:dedupe:encora:evt_chunked"))

        def status(data):
            return data.split(b"\r\n", 1)[0]

        # both framings at once
        data = self.raw(self.chunked_request(body, sig, parts, extra=b"Content-Length: %d\r\n" % len(body)))
        self.assertEqual(status(data), b"HTTP/1.1 400 Bad Request", data)
        # codings other than chunked
        data = self.raw(self.chunked_request(body, sig, parts, te=b"gzip, chunked"))
        self.assertEqual(status(data), b"HTTP/1.1 501 Not Implemented", data)
        self.assertIn(b'"code":"not_implemented"', data)
        # malformed sizes and a bare LF
        for bad in (b"zz\r\nabc\r\n0\r\n\r\n", b"3\nabc\r\n0\r\n\r\n", b"3\r\nabcX\r\n0\r\n\r\n",
                    b"fffffffffffffffff\r\n"):
            data = self.raw(b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n" + bad)
            self.assertEqual(status(data), b"HTTP/1.1 400 Bad Request", (bad, data))
            self.assertIn(b"malformed chunked body", data)
        # over limits.max_body_bytes (4096) across chunks
        big = [b"x" * 3000, b"x" * 3000]
        data = self.raw(self.chunked_request(body, sig, big))
        self.assertEqual(status(data), b"HTTP/1.1 413 Payload Too Large", data)
        self.assertEqual(h.request(self.port, "GET", "/healthz").status, 200)

    def test_13_connection_cap(self):
        socks = []
        try:
            for _ in range(60):
                socks.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
            time.sleep(0.2)
            refused = 0
            for s in socks:
                s.settimeout(0.5)
                try:
                    if s.recv(1) == b"":
                        refused += 1
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    refused += 1
            self.assertGreaterEqual(refused, 10)
        finally:
            for s in socks:
                s.close()
        time.sleep(0.2)
        self.assertEqual(h.request(self.port, "GET", "/healthz").status, 200)

    def test_14_no_secret_in_logs(self):
        body = h.encora_event("evt_log")
        self.post("encora", body, h.sign_encora(body, "wrong"))
        self.post("encora", body, h.sign_encora(body))
        out = self.relay.output()
        self.assertIn("webhook accepted", out)
        for name, secret in h.SECRETS.items():
            self.assertNotIn(secret, out, name)
        for line in out.splitlines():
            json.loads(line)  # every log line is one JSON object


if __name__ == "__main__":
    h.main()
