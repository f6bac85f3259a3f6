"""Shared integration-test harness: real redis-server, real relay binaries, loopback only.

Every test starts its own Redis on a free port, writes a config into a temp dir and runs the
binaries from RELAY_BIN_DIR. Nothing is mocked.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import shlex
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import ctypes

BIN = os.environ.get("RELAY_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SRC = os.environ.get("RELAY_SRC_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(SRC, "tests", "fixtures")
# RELAY_WRAPPER (e.g. "valgrind --log-file=..."): prepended to every Proc's argv (scripts/valgrind).
WRAPPER = shlex.split(os.environ.get("RELAY_WRAPPER", ""))


def _die_with_parent():
    # PR_SET_PDEATHSIG: a test killed by ctest's timeout (or by hand) takes its redis-server
    # and relay processes with it instead of leaving them running, listening and ticking
    # under the next tests and benchmarks.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def child_setup():
    """Popen's preexec_fn for the processes a test starts. Only from the main thread: the
    signal fires when the thread that forked exits, and a helper thread may end first."""
    return _die_with_parent if threading.current_thread() is threading.main_thread() else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d did not open" % port)


class Redis:
    """A private redis-server on a free loopback port."""

    def __init__(self, workdir, appendonly=True, fsync="everysec", port=None, wrap=(),
                 start_timeout=10.0):
        """wrap: a command to run redis-server under (bench/scripts --instructions: valgrind)."""
        self.port = port or free_port()
        self.wrap = list(wrap)
        self.start_timeout = start_timeout
        self.dir = os.path.join(workdir, "redis-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.appendonly = appendonly
        self.fsync = fsync
        self.proc = None

    def start(self):
        args = self.wrap + ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no",
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", self.fsync, "--loglevel", "warning"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=child_setup())
        wait_port(self.port, self.start_timeout)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            try:
                if self.cmd("PING") == "PONG":
                    return self
            except (OSError, RuntimeError):
                pass
            time.sleep(0.05)
        raise RuntimeError("redis did not answer")

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def wipe(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir, exist_ok=True)

    def cmd(self, *args):
        """Minimal RESP client: one command, one parsed reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            return _read_reply(f)


def _read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read_reply(f) for _ in range(n)]
    raise RuntimeError("bad reply %r" % line)


SECRETS = {
    "ENCORA_WEBHOOK_SECRET": "encora-test-secret-DO-NOT-LOG-1f9a",
    "MOVIDA_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"movida-secret-bytes-DO-NOT-LOG").decode(),
    "STRIPEY_SECRET": "stripe-secret-DO-NOT-LOG-77aa",
    "RELAY_ADMIN_TOKEN": "admin-token-DO-NOT-LOG-5c2e",
}


def base_config(redis_port, listen_port, **extra):
    cfg = {
        "listen": "127.0.0.1:%d" % listen_port,
        "redis": {"url": "redis://127.0.0.1:%d/0" % redis_port, "prefix": "relay"},
        "admin": {"token": "env:RELAY_ADMIN_TOKEN"},
        "log": {"level": "info"},
        "sources": {
            "encora": {
                "kind": "encorastream",
                "web_url": "https://watch.example.com/{type}s/{slug}",
                "signature": {"scheme": "hmac-sha256-hex", "header": "X-Encora-Signature-256",
                              "secrets": ["env:ENCORA_WEBHOOK_SECRET"]},
                "api": {"base_url": "http://127.0.0.1:9/v2",
                        "auth": {"type": "bearer", "token": "literal-api-token"}},
            },
            "movida": {
                "kind": "movida",
                "signature": {"scheme": "standard-webhooks",
                              "secrets": ["env:MOVIDA_WEBHOOK_SECRET"], "tolerance_s": 300},
                "api": {"base_url": "https://movida.example.com/api",
                        "auth": {"type": "digest", "username": "robot_user", "password": "pw"}},
            },
        },
        "targets": {
            "canon": {"format": "canonical", "url": "http://127.0.0.1:9/ingest/{id}"},
        },
    }
    for k, v in extra.items():
        cfg[k] = v
    return cfg


def hmac_hex(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_encora(body, secret=None):
    secret = secret or SECRETS["ENCORA_WEBHOOK_SECRET"]
    return {"X-Encora-Signature-256": "sha256=" + hmac_hex(secret, body)}


def sign_standard(body, msg_id, secret=None, ts=None):
    secret = secret or SECRETS["MOVIDA_WEBHOOK_SECRET"]
    ts = int(time.time()) if ts is None else ts
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    signed = b"%s.%d.%s" % (msg_id.encode(), ts, body)
    sig = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": "v1," + sig}


def sign_stripe(body, secret, ts=None):
    ts = int(time.time()) if ts is None else ts
    sig = hmac.new(secret.encode(), b"%d.%s" % (ts, body), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": "t=%d,v1=%s" % (ts, sig)}


def encora_event(event_id, etype="content.published", content_id="497f6eca-6276-4993-bfeb-53cbbbba6f08",
                 content_type="movie", created_at="2026-11-20T10:00:00Z", **data):
    d = {"content_type": content_type, "content_id": content_id}
    d.update(data)
    env = {"id": event_id, "type": etype, "data": d}
    if created_at is not None:
        env["created_at"] = created_at
    return json.dumps(env).encode()


class Proc:
    """A relay, relay-worker or relayctl process with its stderr captured to a file."""

    def __init__(self, workdir, program, config_path, env=None, args=()):
        self.log_path = os.path.join(workdir, "%s-%d.log" % (program, time.monotonic_ns()))
        self.log = open(self.log_path, "wb")
        e = dict(os.environ)
        e.update(SECRETS)
        e.update(env or {})
        self.proc = subprocess.Popen(WRAPPER + [os.path.join(BIN, program), "--config", config_path] + list(args),
                                     stdout=self.log, stderr=self.log, env=e,
                                     preexec_fn=child_setup())

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if WRAPPER:
            timeout *= 4  # a wrapped (valgrind) process exits, and reports, much slower
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        # Under the ASan+UBSan build a sanitizer report in any process fails the test that ran it.
        out = self.output()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in out:
                raise AssertionError("sanitizer report in %s:\n%s" % (self.log_path, out[-4000:]))
        return self.proc.returncode

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def run_tool(program, config_path, *args, env=None, timeout=30):
    e = dict(os.environ)
    e.update(SECRETS)
    e.update(env or {})
    argv = [os.path.join(BIN, program)]
    if config_path:
        argv += ["--config", config_path]
    return subprocess.run(argv + list(args), capture_output=True, text=True, env=e, timeout=timeout)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def request(port, method, path, body=None, headers=None, tls=False, timeout=10):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def post_webhook(port, source, body, headers, content_type="application/json", **kw):
    h = {"Content-Type": content_type}
    h.update(headers)
    return request(port, "POST", "/webhooks/" + source, body=body, headers=h, **kw)


class RelayTestCase(unittest.TestCase):
    """Starts Redis and a relay per test class; subclasses tweak `config_extra`."""

    config_extra = {}

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="relay-it-")
        cls.redis = Redis(cls.workdir).start()
        cls.port = free_port()
        cls.config = base_config(cls.redis.port, cls.port, **cls.config_extra)
        cls.config_path = os.path.join(cls.workdir, "relay.json")
        with open(cls.config_path, "w") as f:
            json.dump(cls.config, f)
        cls.relay = Proc(cls.workdir, "relay", cls.config_path)
        wait_port(cls.port)
        wait_ready(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        cls.redis.kill()
        shutil.rmtree(cls.workdir, ignore_errors=True)


def wait_ready(port, timeout=10.0, tls=False):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if request(port, "GET", "/readyz", tls=tls).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("relay not ready")


def wait_until(pred, timeout=10.0, step=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


def main():
    unittest.main(verbosity=2)
