"""Redis going away and coming back, a hung Redis, TLS, graceful SIGTERM, --check-config."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402


class Stack:
    def __init__(self, **extra):
        self.workdir = tempfile.mkdtemp(prefix="relay-res-")
        self.redis = h.Redis(self.workdir).start()
        self.port = h.free_port()
        self.config = h.base_config(self.redis.port, self.port, **extra)
        self.config_path = os.path.join(self.workdir, "relay.json")
        with open(self.config_path, "w") as f:
            json.dump(self.config, f)
        self.relay = h.Proc(self.workdir, "relay", self.config_path)
        h.wait_port(self.port)

    def close(self):
        self.relay.stop()
        self.redis.kill()


class RedisOutageTest(unittest.TestCase):
    def setUp(self):
        self.s = Stack()
        h.wait_ready(self.s.port)

    def tearDown(self):
        self.s.close()

    def post(self, event_id):
        body = h.encora_event(event_id)
        return h.post_webhook(self.s.port, "encora", body, h.sign_encora(body))

    def test_redis_down_then_back(self):
        self.assertEqual(self.post("evt_before").status, 202)
        self.s.redis.kill()
        r = self.post("evt_during")
        self.assertEqual(r.status, 503, r.body)
        self.assertEqual(r.json()["code"], "queue_unavailable")
        self.assertTrue(int(r.headers["retry-after"]) > 0)
        h.wait_until(lambda: h.request(self.s.port, "GET", "/readyz").status == 503, what="readyz 503")
        self.assertEqual(h.request(self.s.port, "GET", "/healthz").status, 200)
        self.assertEqual(h.request(self.s.port, "GET", "/metrics").status, 200)
        self.s.redis.start()  # same port, same AOF directory
        h.wait_until(lambda: h.request(self.s.port, "GET", "/readyz").status == 200, timeout=15,
                     what="readyz back")
        # No dedupe mark was left behind: the sender's retry is accepted now.
        r = self.post("evt_during")
        self.assertEqual((r.status, r.json()["status"]), (202, "queued"))
        # The event accepted before the crash survived it (AOF) and is still a duplicate.
        self.assertEqual(self.post("evt_before").json()["status"], "duplicate")

    def test_redis_empty_restart(self):
        self.s.redis.kill()
        self.s.redis.wipe()
        self.s.redis.start()
        h.wait_until(lambda: self.post("evt_fresh").status == 202, timeout=15, what="accepting again")
        groups = self.s.redis.cmd("XINFO", "GROUPS", "relay:events")
        self.assertEqual(groups[0][1], "workers")

    def test_hung_redis_answers_503_in_time(self):
        os.kill(self.s.redis.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.time()
            r = self.post("evt_hung")
            self.assertEqual(r.status, 503, r.body)
            self.assertLess(time.time() - t0, 5)
        finally:
            os.kill(self.s.redis.proc.pid, signal.SIGCONT)
        h.wait_until(lambda: self.post("evt_hung").status in (200, 202), timeout=15, what="recovery")


class TlsTest(unittest.TestCase):
    def test_https_only(self):
        workdir = tempfile.mkdtemp(prefix="relay-tls-")
        cert, key = os.path.join(workdir, "tls.crt"), os.path.join(workdir, "tls.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        s = Stack(tls={"cert_file": cert, "key_file": key})
        try:
            h.wait_ready(s.port, tls=True)
            body = h.encora_event("evt_tls")
            r = h.post_webhook(s.port, "encora", body, h.sign_encora(body), tls=True)
            self.assertEqual((r.status, r.json()["status"]), (202, "queued"))
            with self.assertRaises(Exception):
                r = h.request(s.port, "GET", "/healthz", timeout=3)
                if r.status:  # a plain-HTTP answer on the TLS port would be a bug
                    raise AssertionError("plain HTTP answered")
                raise OSError("no answer")
        finally:
            s.close()


class ShutdownTest(unittest.TestCase):
    def test_sigterm_answers_request_in_progress(self):
        s = Stack()
        try:
            h.wait_ready(s.port)
            body = h.encora_event("evt_term")
            sig = h.sign_encora(body)["X-Encora-Signature-256"]
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            c.sendall(b"POST /webhooks/encora HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"X-Encora-Signature-256: %s\r\nContent-Length: %d\r\n\r\n" % (sig.encode(), len(body)))
            time.sleep(0.2)
            s.relay.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            # New connections are refused while the one in progress is finished.
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", s.port), timeout=1).recv(1) or (_ for _ in ()).throw(OSError())
            c.sendall(body)
            data = c.recv(65536)
            c.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 202"), data)
            self.assertEqual(s.relay.proc.wait(15), 0)
        finally:
            s.close()


class CheckConfigTest(unittest.TestCase):
    def test_check_config(self):
        workdir = tempfile.mkdtemp(prefix="relay-cfg-")
        path = os.path.join(workdir, "relay.json")
        cfg = h.base_config(6379, 8080)
        with open(path, "w") as f:
            json.dump(cfg, f)
        r = h.run_tool("relay", path, "--check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        cfg["targets"]["canon"].pop("url")
        cfg["sources"]["encora"]["signatur"] = {}
        with open(path, "w") as f:
            json.dump(cfg, f)
        r = h.run_tool("relay", path, "--check-config", env={"ENCORA_WEBHOOK_SECRET": ""})
        self.assertEqual(r.returncode, 2)
        self.assertIn("targets.canon.url: missing", r.stderr)
        self.assertIn("sources.encora.signatur", r.stderr)
        for secret in h.SECRETS.values():
            self.assertNotIn(secret, r.stderr)
        self.assertEqual(h.run_tool("relay", None, "--version").returncode, 0)
        self.assertEqual(h.run_tool("relay", None, "--bogus").returncode, 2)


if __name__ == "__main__":
    h.main()
