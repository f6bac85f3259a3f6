"""Stub peers for the relay-worker integration tests: a source CMS serving the shared
fixtures (checking bearer or HTTP Digest auth) and a programmable partner that records every
request. Python stdlib only; each runs on its own loopback port in a thread."""
import hashlib
import json
import os
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import schemacheck
from harness import SRC, free_port

_here = os.path.dirname(os.path.abspath(__file__))
SHARED_FIXTURES = next(
    (p for p in (os.path.join(SRC, "tests", "fixtures"), os.path.join(SRC, "..", "shared", "fixtures"),
                 os.path.join(_here, "..", "..", "..", "shared", "fixtures"))
     if os.path.isfile(os.path.join(p, "encorastream", "movie.json"))),
    os.path.join(SRC, "..", "shared", "fixtures"))


def fixture(name):
    with open(os.path.join(SHARED_FIXTURES, name), "rb") as f:
        return f.read()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Stub:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.requests = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                stub._handle(self, body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = _Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def _reply(self, h, status, body=b"", headers=None):
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if body and h.command != "HEAD":
            h.wfile.write(body)

    def _record(self, h, body):
        rec = {"method": h.command, "path": h.path, "headers": {k.lower(): v for k, v in h.headers.items()},
               "body": body, "at": time.time()}
        with self.lock:
            self.requests.append(rec)
        return rec

    def got(self, pred=lambda r: True):
        with self.lock:
            return [r for r in self.requests if pred(r)]


class StubCMS(_Stub):
    """Serves path -> fixture; 404 for anything else. auth: ("bearer", token) or
    ("digest", user, password). Requests without valid auth get 401."""

    REALM = "movida-stub"

    def __init__(self, routes, auth):
        super().__init__()
        self.routes = dict(routes)  # path (with query) -> bytes, or (status, bytes)
        self.auth = auth
        self.nonces = set()
        self.delay = {}  # path (with query) -> seconds to wait before answering

    def _auth_ok(self, h):
        value = h.headers.get("Authorization") or ""
        if self.auth[0] == "bearer":
            return value == "Bearer " + self.auth[1]
        if not value.startswith("Digest "):
            return False
        p = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', value[7:])}
        user, pw = self.auth[1], self.auth[2]
        if p.get("username") != user or p.get("nonce") not in self.nonces or p.get("uri") != h.path:
            return False
        ha1 = hashlib.md5(("%s:%s:%s" % (user, self.REALM, pw)).encode()).hexdigest()
        ha2 = hashlib.md5(("%s:%s" % (h.command, p["uri"])).encode()).hexdigest()
        if p.get("qop"):
            want = hashlib.md5(("%s:%s:%s:%s:%s:%s" % (ha1, p["nonce"], p.get("nc"), p.get("cnonce"),
                                                        p["qop"], ha2)).encode()).hexdigest()
        else:
            want = hashlib.md5(("%s:%s:%s" % (ha1, p["nonce"], ha2)).encode()).hexdigest()
        return p.get("response") == want

    def _handle(self, h, body):
        rec = self._record(h, body)
        if not self._auth_ok(h):
            rec["auth"] = False
            hdrs = {}
            if self.auth[0] == "digest":
                nonce = secrets.token_hex(8)
                self.nonces.add(nonce)
                hdrs["WWW-Authenticate"] = 'Digest realm="%s", qop="auth", nonce="%s", algorithm=MD5' % (
                    self.REALM, nonce)
            return self._reply(h, 401, b'{"error":"unauthorized"}', hdrs)
        rec["auth"] = True
        if self.delay.get(h.path):
            time.sleep(self.delay[h.path])
        r = self.routes.get(h.path)
        if r is None:
            return self._reply(h, 404, b'{"error":"not found"}', {"Content-Type": "application/json"})
        status, data = r if isinstance(r, tuple) else (200, r)
        self._reply(h, status, data, {"Content-Type": "application/json"})


class StubPartner(_Stub):
    """Records every request. plan(path_prefix, [responses]) queues answers for requests whose
    path starts with the prefix; each response is (status, headers, body, delay_s). Without a
    queued answer: the status in self.status for the first prefix the path starts with (a
    partner that is down until the test says otherwise), else 200 {"ok":true}. port: listen
    on that one (a test may need the address before anything answers there)."""

    def __init__(self, port=None):
        super().__init__(port)
        self.plans = []  # [prefix, list]
        self.status = {}  # path prefix -> status
        # Every document received is checked against its partner's schema (tests/schemas/):
        # path prefix -> target format, from WorkerEnv; violations collect in invalid.
        self.formats = {}
        self.invalid = []

    def plan(self, prefix, responses):
        with self.lock:
            self.plans.append([prefix, list(responses)])

    def _handle(self, h, body):
        rec = self._record(h, body)
        fmt = next((f for p, f in self.formats.items() if h.path.startswith(p)), None)
        errs = schemacheck.check_document(fmt, body) if fmt and h.command != "DELETE" else []
        if errs:
            with self.lock:
                self.invalid.append("%s %s (%s): %s" % (h.command, h.path, fmt, "; ".join(errs[:5])))
        answer = (200, {}, b'{"ok":true}', 0)
        with self.lock:
            steady = next((st for p, st in self.status.items() if h.path.startswith(p)), None)
            if steady is not None and steady >= 300:
                answer = (steady, {}, b'{"error":"partner is down"}', 0)
            elif steady is not None:
                answer = (steady, {}, b'{"ok":true}', 0)
            for prefix, queue in self.plans:
                if h.path.startswith(prefix) and queue:
                    answer = queue.pop(0)
                    break
        status, headers, data, delay = answer
        rec["status"] = status
        if delay:
            time.sleep(delay)
        try:
            self._reply(h, status, data, dict(headers, **{"Content-Type": "application/json"}))
        except (BrokenPipeError, ConnectionResetError):
            pass


# ---- a whole worker environment ------------------------------------------------------------

import shutil  # noqa: E402
import tempfile  # noqa: E402

from harness import Proc, Redis, base_config, wait_until  # noqa: E402

MOVIE_ID = "497f6eca-6276-4993-bfeb-53cbbbba6f08"
API_TOKEN = "literal-api-token"
MOVIDA_USER, MOVIDA_PASSWORD = "robot_user", "movida-pw-DO-NOT-LOG"
SIGNING_SECRET = "partner-signing-secret-DO-NOT-LOG"


from layout import attempts_key, delivery_id, events_key, joined_entry, record_key, stream_entry  # noqa: E402,F401
import layout  # noqa: E402


class WorkerEnv:
    """Redis + stub CMSs + stub partner + a config; workers started on demand."""

    def __init__(self, targets, retry=None, worker=None):
        self.workdir = tempfile.mkdtemp(prefix="relay-worker-it-")
        self.redis = Redis(self.workdir).start()
        self.partner = StubPartner().start()
        self.encora = StubCMS({"/v2/admin/movies/" + MOVIE_ID: fixture("encorastream/movie.json")},
                              ("bearer", API_TOKEN)).start()
        self.movida = StubCMS({
            "/api/titles/73?expand=metadata,images,availability_windows": fixture("movida/title-episode.json"),
            "/api/titles/30391?expand=metadata,images,availability_windows": fixture("movida/title-feature.json"),
            "/api/title_groups/10113965": fixture("movida/title-group-series.json"),
        }, ("digest", MOVIDA_USER, MOVIDA_PASSWORD)).start()
        cfg = base_config(self.redis.port, free_port())
        cfg["sources"]["encora"]["api"] = {"base_url": self.encora.url("/v2"), "timeout_ms": 2000,
                                           "auth": {"type": "bearer", "token": API_TOKEN}}
        cfg["sources"]["movida"]["api"] = {"base_url": self.movida.url("/api"), "timeout_ms": 2000,
                                           "auth": {"type": "digest", "username": MOVIDA_USER,
                                                    "password": "env:MOVIDA_PASSWORD"}}
        for t in targets.values():
            t["url"] = t["url"].replace("PARTNER", self.partner.url())
            path = "/" + t["url"].split("/", 3)[3] if t["url"].count("/") >= 3 else "/"
            self.partner.formats[path.split("{")[0]] = t.get("format")
        cfg["targets"] = targets
        cfg["retry"] = retry or {"max_attempts": 4, "base_delay_ms": 50, "max_delay_ms": 400}
        cfg["worker"] = worker or {"concurrency": 8, "visibility_timeout_ms": 2000}
        self.config = cfg
        self.config_path = os.path.join(self.workdir, "relay.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        self.workers = []

    def start_worker(self):
        w = Proc(self.workdir, "relay-worker", self.config_path,
                 env={"MOVIDA_PASSWORD": MOVIDA_PASSWORD})
        self.workers.append(w)
        return w

    def close(self):
        for w in self.workers:
            w.stop()
        for s in (self.partner, self.encora, self.movida):
            s.stop()
        self.redis.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.partner.invalid:
            raise AssertionError("the partner received documents its schema rejects:\n" +
                                 "\n".join(self.partner.invalid))

    def xadd(self, source, event_id, etype="content.published", content_type="movie",
             content_id=MOVIE_ID, created_at=None, **extra):
        """Enqueues an event exactly as the relay's enqueue.lua would (docs/redis.md): one
        joined field; with extra fields (a sync's targets), named fields as a sync writes."""
        fields = stream_entry(source, event_id, etype, content_type, content_id,
                              created_at=created_at, **extra)
        args = ["XADD", events_key(), "*"]
        if extra:
            for k, v in fields.items():
                args += [k, v]
        else:
            args += joined_entry(fields)
        return self.redis.cmd(*args)

    def record(self, did):
        return layout.record_fields(self.redis.cmd("HGETALL", record_key(did)) or [], did)

    def attempts(self, did):
        return layout.attempts(self.redis, did)

    def wait_status(self, did, status, timeout=10.0):
        def check():
            r = self.record(did)
            return r if r.get("status") == status else None
        try:
            return wait_until(check, timeout=timeout, what="%s -> %s" % (did, status))
        except AssertionError:
            raise AssertionError("delivery %s is %r, wanted %s; worker logs:\n%s" % (
                did, self.record(did), status, "\n".join(w.output()[-3000:] for w in self.workers)))
