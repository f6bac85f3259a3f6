"""The public front under abuse: bounded output per connection, descriptor exhaustion,
readiness that tells the truth, and the operator listener apart (admin.listen)."""
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Base(unittest.TestCase):
    limits = {"request_timeout_ms": 3000}
    extra = {}

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="relay-front-")
        self.redis = h.Redis(self.workdir).start()
        self.port = h.free_port()
        cfg = h.base_config(self.redis.port, self.port, limits=self.limits, **self.extra)
        self.edit(cfg)
        self.config_path = os.path.join(self.workdir, "relay.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        self.relay = None

    def edit(self, cfg):
        pass

    def start(self, wait=True):
        # Under the sanitizer build, ASan's quarantine of freed memory (256 MB by default)
        # would count as RSS; keep it small so the bound measures the relay, not ASan.
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = {"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4"}
        self.relay = h.Proc(self.workdir, "relay", self.config_path, env=env)
        h.wait_port(self.port)
        if wait:
            h.wait_ready(self.port)

    def tearDown(self):
        if self.relay:
            self.assertEqual(self.relay.stop(), 0, self.relay.output()[-3000:])
        self.redis.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


class BackPressureTest(Base):
    def test_pipelining_without_reading_is_bounded(self):
        self.start()
        pid = self.relay.proc.pid
        base_rss = rss_kb(pid)
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3000  # ~100 KB
        total = 100 * 1024 * 1024
        sent = [0]
        done = threading.Event()
        s = socket.create_connection(("127.0.0.1", self.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

        def pump():
            try:
                while sent[0] < total and not done.is_set():
                    s.sendall(req)
                    sent[0] += len(req)
            except OSError:
                pass
            done.set()
        t = threading.Thread(target=pump, daemon=True)
        t.start()
        try:
            peak = 0
            served = 0
            deadline = time.time() + 8
            while time.time() < deadline and not done.is_set():
                peak = max(peak, rss_kb(pid))
                if peak > 50 * 1024:
                    break
                t0 = time.time()
                r = h.request(self.port, "GET", "/healthz", timeout=5)
                self.assertEqual(r.status, 200)
                self.assertLess(time.time() - t0, 2.0, "another client waited")
                served += 1
                time.sleep(0.1)
            peak = max(peak, rss_kb(pid))
            self.assertLess(peak, 50 * 1024, "RSS %d KB (start %d KB) after %d MB pipelined"
                            % (peak, base_rss, sent[0] >> 20))
            self.assertGreater(served, 5)
            # The relay stopped reading: the client could not push all 100 MB.
            self.assertLess(sent[0], total)
            # ... and a client that reads nothing for request_timeout_ms is cut off.
            self.assertTrue(done.wait(15), "non-reading client never cut off")
            self.assertIn("client not reading its answers", self.relay.output())
        finally:
            done.set()
            s.close()
        self.assertEqual(h.request(self.port, "GET", "/healthz").status, 200)


class DescriptorLimitTest(Base):
    def test_emfile_does_not_spin(self):
        log_path = os.path.join(self.workdir, "relay-emfile.log")
        log = open(log_path, "wb")
        env = dict(os.environ)
        env.update(h.SECRETS)

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        proc = subprocess.Popen([os.path.join(h.BIN, "relay"), "--config", self.config_path],
                                stdout=log, stderr=log, env=env, preexec_fn=limit)
        try:
            h.wait_port(self.port)
            h.wait_ready(self.port)
            socks = []
            for _ in range(100):
                try:
                    socks.append(socket.create_connection(("127.0.0.1", self.port), timeout=2))
                except OSError:
                    pass
            c0 = cpu_s(proc.pid)
            time.sleep(2)
            used = cpu_s(proc.pid) - c0
            self.assertLess(used, 0.6, "relay spun at %.2f s CPU per 2 s" % used)
            for s in socks:
                s.close()
            h.wait_until(lambda: h.request(self.port, "GET", "/healthz").status == 200,
                         what="served again")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
            log.close()
        with open(log_path, "rb") as f:
            out = f.read().decode("utf-8", "replace")
        lines = out.splitlines()
        self.assertLess(len(lines), 200, out[-2000:])
        for line in lines:
            json.loads(line)
        self.assertIn("limits.max_connections lowered to fit the open-file limit", out)
        self.assertEqual(proc.returncode, 0)


class RuntimeDescriptorLimitTest(Base):
    """The start-up clamp keeps max_connections under RLIMIT_NOFILE, so accept() only runs out
    of descriptors when the limit drops under a running relay: lowered here with prlimit."""

    PAUSE_LINE = "cannot accept connections, pausing the listener"
    # The accepted connections must outlive the test's wait (idle ones close after this).
    limits = {"request_timeout_ms": 60000}

    def pause_lines(self):
        return [json.loads(line) for line in self.relay.output().splitlines()
                if self.PAUSE_LINE in line]

    @unittest.skipUnless(shutil.which("prlimit"), "prlimit (util-linux) is missing")
    def test_emfile_after_start_pauses_and_recovers(self):
        self.start()
        pid = self.relay.proc.pid
        open_now = len(os.listdir("/proc/%d/fd" % pid))
        room = 6
        limit = open_now + room
        subprocess.run(["prlimit", "--pid", str(pid), "--nofile=%d:%d" % (limit, limit)],
                       check=True)
        # room accepted connections take the descriptors left; the rest wait in the backlog
        # while accept() fails with EMFILE.
        socks = [socket.create_connection(("127.0.0.1", self.port), timeout=5)
                 for _ in range(room + 10)]
        try:
            h.wait_until(lambda: self.pause_lines(), timeout=10, what="the pause logged")
            c0, t0 = cpu_s(pid), time.time()
            # Over an interval of the log (10 s), the listener is retried every 100 ms.
            h.wait_until(lambda: len(self.pause_lines()) >= 2, timeout=20,
                         what="the pause logged again after its interval")
            used, elapsed = cpu_s(pid) - c0, time.time() - t0
            self.assertIsNone(self.relay.proc.poll(), "the relay died")
            self.assertLess(used, 0.1 * elapsed + 0.5,
                            "relay spun: %.2f s CPU in %.1f s" % (used, elapsed))
            lines = self.pause_lines()
            self.assertLessEqual(len(lines), 2 + int(elapsed / 10), lines)
            self.assertEqual(lines[0]["error"], os.strerror(24))  # EMFILE
            failures = int(lines[1]["failures"])
            self.assertGreater(failures, 5, "no retries between the two lines")
            self.assertLess(failures, 1000, "retried far more often than every 100 ms")
            # An accepted connection is still served meanwhile.
            served = 0
            for s in socks[:room]:
                try:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    if s.recv(4096).startswith(b"HTTP/1.1 200"):
                        served += 1
                        break
                except OSError:
                    pass
            self.assertEqual(served, 1, "no accepted connection was served while paused")
        finally:
            for s in socks:
                s.close()
        # Descriptors free again: the next retry accepts, and new clients are served.
        h.wait_until(lambda: h.request(self.port, "GET", "/healthz", timeout=2).status == 200,
                     timeout=10, what="served again")
        self.assertEqual(h.request(self.port, "GET", "/readyz").status, 200)


class HalfCloseTest(Base):
    """Reading stays enabled while a webhook waits for Redis (relay/server.c): a client that
    half-closes after its request (shutdown(SHUT_WR), as `nc -N` does) still gets its answer,
    with Connection: close, and the connection ends after it."""

    def test_half_closed_client_gets_its_answer(self):
        self.start()
        body = h.encora_event("evt_half_close")
        head = {"Content-Type": "application/json", "Content-Length": str(len(body)),
                "Host": "x"}
        head.update(h.sign_encora(body))
        raw = b"POST /webhooks/encora HTTP/1.1\r\n" + b"".join(
            b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in head.items()) + b"\r\n" + body
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        # Redis held still: the EOF reaches the relay while the request waits for it.
        self.redis.proc.send_signal(signal.SIGSTOP)
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            time.sleep(0.3)
        finally:
            self.redis.proc.send_signal(signal.SIGCONT)
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 202 "), got[:200])
        self.assertIn(b"Connection: close\r\n", got)
        self.assertIn(b'"event_id":"evt_half_close"', got)
        self.assertEqual(self.redis.cmd("EXISTS", "relay:dedupe:encora:evt_half_close"), 1)


class ReadinessTest(Base):
    def readyz(self):
        return h.request(self.port, "GET", "/readyz", timeout=5)

    def test_stall_oom_and_readonly(self):
        self.start()
        # A stalled Redis: not ready within about a second, for every probe of the stall.
        self.redis.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            h.wait_until(lambda: self.readyz().status == 503, timeout=5, what="503 on stall")
            self.assertLess(time.time() - t0, 2.0)
            statuses = []
            for _ in range(15):
                statuses.append(self.readyz().status)
                time.sleep(0.1)
            self.assertEqual(set(statuses), {503}, statuses)
        finally:
            self.redis.proc.send_signal(signal.SIGCONT)
        h.wait_ready(self.port, timeout=15)
        # Out of memory under noeviction: writes refused, so not ready.
        self.redis.cmd("CONFIG", "SET", "maxmemory", "1")
        try:
            h.wait_until(lambda: self.readyz().status == 503, timeout=5, what="503 on OOM")
            r = self.readyz()
            self.assertIn("OOM", r.json()["message"])
            self.assertEqual(r.json()["code"], "queue_unavailable")
            body = h.encora_event("evt_oom")
            self.assertEqual(h.post_webhook(self.port, "encora", body, h.sign_encora(body)).status, 503)
        finally:
            self.redis.cmd("CONFIG", "SET", "maxmemory", "0")
        h.wait_ready(self.port, timeout=10)
        # A read-only replica.
        other = h.Redis(self.workdir).start()
        try:
            self.redis.cmd("REPLICAOF", "127.0.0.1", str(other.port))
            h.wait_until(lambda: self.readyz().status == 503, timeout=10, what="503 on READONLY")
            self.assertIn("READONLY", self.readyz().json()["message"])
            self.redis.cmd("REPLICAOF", "NO", "ONE")
            h.wait_ready(self.port, timeout=10)
        finally:
            other.kill()


class WrongPasswordTest(Base):
    def edit(self, cfg):
        cfg["redis"]["url"] = "redis://:wrong-password@127.0.0.1:%d/0" % self.redis.port

    def test_wrongpass_is_not_ready(self):
        self.redis.cmd("CONFIG", "SET", "requirepass", "right-password")
        self.start(wait=False)
        time.sleep(1.5)
        statuses = [h.request(self.port, "GET", "/readyz").status for _ in range(5)]
        self.assertEqual(set(statuses), {503})
        r = h.request(self.port, "GET", "/readyz")
        self.assertIn("authentication", r.json()["message"])
        self.assertNotIn("wrong-password", r.body.decode())
        body = h.encora_event("evt_wrongpass")
        self.assertEqual(h.post_webhook(self.port, "encora", body, h.sign_encora(body)).status, 503)
        self.assertNotIn("wrong-password", self.relay.output())


class AdminListenTest(Base):
    def edit(self, cfg):
        self.admin_port = h.free_port()
        cfg["admin"]["listen"] = "127.0.0.1:%d" % self.admin_port

    def test_operator_routes_move(self):
        self.start()
        h.wait_port(self.admin_port)
        auth = {"Authorization": "Bearer " + h.SECRETS["RELAY_ADMIN_TOKEN"]}
        for path in ("/metrics", "/admin/stats", "/admin"):
            r = h.request(self.port, "GET", path, headers=auth)
            self.assertEqual(r.status, 404, path)
            self.assertEqual(r.json()["code"], "not_found")
        self.assertEqual(h.request(self.admin_port, "GET", "/metrics").status, 200)
        self.assertEqual(h.request(self.admin_port, "GET", "/admin/stats", headers=auth).status, 200)
        self.assertEqual(h.request(self.admin_port, "GET", "/admin/stats").status, 401)
        for port in (self.port, self.admin_port):
            self.assertEqual(h.request(port, "GET", "/healthz").status, 200)
            self.assertEqual(h.request(port, "GET", "/readyz").status, 200)
        body = h.encora_event("evt_admin_port")
        self.assertEqual(h.post_webhook(self.admin_port, "encora", body, h.sign_encora(body)).status, 404)
        self.assertEqual(h.post_webhook(self.port, "encora", body, h.sign_encora(body)).status, 202)


if __name__ == "__main__":
    h.main()
