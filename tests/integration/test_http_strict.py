"""HTTP framing strictness (request smuggling), HEAD, 405/431/505, keep-alive after an early
answer and the one-deadline-per-request rule: raw bytes to the real relay."""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402


def responses(data):
    """Splits what came back into (status, headers, body) triples using Content-Length."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


class HttpStrictTest(h.RelayTestCase):
    config_extra = {"limits": {"max_body_bytes": 4096, "request_timeout_ms": 1500,
                               "max_connections": 50}}

    def raw(self, data, until=1, timeout=5):
        """Sends data on a new connection; reads until `until` answers are complete or the
        relay closes. Returns (bytes, closed)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            got = b""
            closed = False
            deadline = time.time() + timeout
            while time.time() < deadline:
                r = responses(got)
                if len(r) >= until and sum(len(x[2]) for x in r) == sum(
                        int(x[1].get("content-length", "0")) for x in r):
                    # give a close a moment to show
                    s.settimeout(0.3)
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    closed = True
                    break
                got += chunk
            return got, closed

    def assert_bad(self, data, status=400, code="bad_request"):
        got, closed = self.raw(data)
        r = responses(got)
        self.assertEqual(len(r), 1, (data, got))
        self.assertEqual(r[0][0], status, (data, got))
        doc = json.loads(r[0][2])
        self.assertEqual(doc["code"], code, (data, got))
        self.assertEqual(doc["request_id"], r[0][1]["x-request-id"])
        self.assertEqual(r[0][1]["connection"], "close")
        self.assertTrue(closed, "connection must close after %r" % data)

    def webhook(self, event_id, extra=b"", sig=None, body=None):
        body = body or h.encora_event(event_id)
        sig = sig or h.sign_encora(body)["X-Encora-Signature-256"].encode()
        return (b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"X-Encora-Signature-256: " + sig + b"\r\n" + extra +
                b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def test_01_smuggling_vectors_are_refused(self):
        get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        cases = [
            get + b"X-A : 1\r\n\r\n",                         # whitespace before the colon
            b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nGET /",
            get + b"X(A): 1\r\n\r\n",                         # name not a token
            get + b"X@A: 1\r\n\r\n",
            get + b"X-A: a\x00b\r\n\r\n",                     # NUL in a value
            get + b"X-A: a\rb\r\n\r\n",                       # bare CR
            get + b"X-A: a\x01b\r\n\r\n",                     # other control byte
            get + b"X-A: a\x7fb\r\n\r\n",                     # DEL
            get + b"X\x00A: 1\r\n\r\n",                       # NUL in a name
            get + b" folded\r\n\r\n",                         # obs-fold
            get + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n",   # two equal CLs
            get + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            get + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            get + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            get + b"Content-Length: +5\r\n\r\n",
            get + b"Content-Length: 5, 5\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\n\r\n",                 # HTTP/1.1 without Host
            get + b"Host: y\r\n\r\n",                          # two Hosts
            b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n",     # double space
            b"GET /health\x00z HTTP/1.1\r\nHost: x\r\n\r\n",  # NUL in the request line
            b"GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n",  # absolute-form
            b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",     # method not a token
        ]
        for data in cases:
            with self.subTest(data=data):
                self.assert_bad(data)
        # the relay is unharmed
        self.assertEqual(h.request(self.port, "GET", "/healthz").status, 200)

    def test_02_nul_in_signature_is_not_cut_short(self):
        body = h.encora_event("evt_nul_sig")
        sig = h.sign_encora(body)["X-Encora-Signature-256"].encode()
        self.assert_bad(self.webhook("evt_nul_sig", sig=sig + b"\x00GARBAGE", body=body))
        self.assertFalse(self.redis.cmd("EXISTS", "relay:dedupe:encora:evt_nul_sig"))

    def test_03_version_and_header_limits(self):
        self.assert_bad(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported")
        self.assert_bad(b"GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n", 505, "http_version_not_supported")
        self.assert_bad(b"GET /healthz HTTPX1.1\r\nHost: x\r\n\r\n")
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(65))
        self.assert_bad(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n", 431,
                        "headers_too_large")
        big = b"X-Big: " + b"a" * 20000 + b"\r\n"
        self.assert_bad(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n", 431,
                        "headers_too_large")
        # 64 headers are fine
        ok = b"".join(b"X-H%d: v\r\n" % i for i in range(63))
        got, _ = self.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + ok + b"\r\n")
        self.assertEqual(responses(got)[0][0], 200, got)
        # HTTP/1.0 needs no Host
        got, _ = self.raw(b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual(responses(got)[0][0], 200, got)

    def test_04_head_has_no_body(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        # The HEAD answer announces the GET body's length but carries none: what follows it
        # at once is the next answer's status line.
        head, _, rest = got.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), got)
        self.assertIn(b"Content-Length: 15", head)
        self.assertTrue(rest.startswith(b"HTTP/1.1 200"), got)
        self.assertTrue(rest.endswith(b'{"status":"ok"}'), got)
        self.assertEqual(got.count(b"HTTP/1.1 200"), 2, got)

    def test_05_probe_methods(self):
        for path in (b"/healthz", b"/readyz"):
            for method in (b"POST", b"DELETE", b"FOO"):
                got, closed = self.raw(method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n"
                                       b"Content-Length: 0\r\n\r\n")
                r = responses(got)
                self.assertEqual(r[0][0], 405, got)
                self.assertEqual(json.loads(r[0][2])["code"], "method_not_allowed")
                self.assertEqual(r[0][1]["allow"], "GET, HEAD")

    def test_06_early_answers_keep_the_connection(self):
        body = h.encora_event("evt_early")
        # 404 unknown_source with a body: the body is skipped, the next request is served
        req = (b"POST /webhooks/nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        got, closed = self.raw(req + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", until=2)
        r = responses(got)
        self.assertEqual([x[0] for x in r], [404, 200], got)
        self.assertEqual(json.loads(r[0][2])["code"], "unknown_source")
        self.assertEqual(r[0][1]["connection"], "keep-alive")
        self.assertFalse(closed)
        # a body that looks like a request is never parsed as one
        smuggled = b"GET /admin/stats HTTP/1.1\r\nHost: x\r\n\r\n"
        req = (b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
               + smuggled)
        got, _ = self.raw(req + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", until=2)
        self.assertEqual([x[0] for x in responses(got)], [404, 200], got)
        # 405 and 415 keep it too
        req = b"GET /webhooks/encora HTTP/1.1\r\nHost: x\r\n\r\n"
        got, closed = self.raw(req + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", until=2)
        self.assertEqual([x[0] for x in responses(got)], [405, 200], got)
        req = (b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
        got, closed = self.raw(req + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", until=2)
        self.assertEqual([x[0] for x in responses(got)], [415, 200], got)

    def test_07_one_deadline_per_request(self):
        # request_timeout_ms is 1500: a client that trickles its request line and then its
        # headers is cut off 1.5 s after it connected, not 1.5 s after its request line.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            t0 = time.time()
            s.sendall(b"GET /hea")
            time.sleep(1.2)
            s.sendall(b"lthz HTTP/1.1\r\n")
            time.sleep(0.1)
            s.sendall(b"Host: x\r\n")
            data = s.recv(65536)
            elapsed = time.time() - t0
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        self.assertLess(elapsed, 2.3)  # restarting at the request line would give 2.7 s

    def test_08_413_is_counted_and_logged(self):
        before = h.request(self.port, "GET", "/metrics").body.decode()
        got, closed = self.raw(b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: application/json\r\nContent-Length: 999999\r\n\r\n")
        self.assertEqual(responses(got)[0][0], 413, got)
        after = h.request(self.port, "GET", "/metrics").body.decode()

        def value(page, needle):
            for line in page.splitlines():
                if line.startswith(needle):
                    return float(line.rsplit(" ", 1)[1])
            return 0.0
        rej = 'relay_webhook_rejections_total{source="encora",code="payload_too_large"}'
        tot = 'relay_webhooks_total{source="encora",outcome="rejected"}'
        self.assertEqual(value(after, rej), value(before, rej) + 1, after)
        self.assertEqual(value(after, tot), value(before, tot) + 1, after)
        h.wait_until(lambda: '"code":"payload_too_large"' in self.relay.output(), what="413 log")
        for line in self.relay.output().splitlines():
            if "payload_too_large" in line:
                json.loads(line)


if __name__ == "__main__":
    h.main()
