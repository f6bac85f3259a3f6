"""The environment of the catalog sync tests: Redis, the paged stub CMSs, a stub partner,
relay-worker(s), and helpers to start runs and read their records."""
import json
import os
import shutil
import tempfile
import time

from harness import BIN, SECRETS, Proc, Redis, base_config, free_port, request, run_tool, wait_ready, wait_until
from layout import record_fields
from sync_stub import SyncCMS
from worker_stubs import API_TOKEN, MOVIDA_PASSWORD, MOVIDA_USER, StubPartner, delivery_id

CANON = {"format": "canonical", "url": "PARTNER/canon/{source}/{type}/{id}", "method": "PUT"}
ADMIN = {"Authorization": "Bearer " + SECRETS["RELAY_ADMIN_TOKEN"]}


class SyncEnv:
    def __init__(self, targets=None, retry=None, worker=None, sync=None, movida_sync=None):
        self.workdir = tempfile.mkdtemp(prefix="relay-sync-it-")
        self.redis = Redis(self.workdir).start()
        self.partner = StubPartner().start()
        self.encora = SyncCMS("encora", ("bearer", API_TOKEN)).start()
        self.movida = SyncCMS("movida", ("digest", MOVIDA_USER, MOVIDA_PASSWORD)).start()
        cfg = base_config(self.redis.port, free_port())
        cfg["sources"]["encora"]["api"] = {"base_url": self.encora.url("/v2"), "timeout_ms": 3000,
                                           "auth": {"type": "bearer", "token": API_TOKEN}}
        cfg["sources"]["movida"]["api"] = {"base_url": self.movida.url("/api"), "timeout_ms": 3000,
                                           "auth": {"type": "digest", "username": MOVIDA_USER,
                                                    "password": "env:MOVIDA_PASSWORD"}}
        if sync is not None:
            cfg["sources"]["encora"]["sync"] = sync
        if movida_sync is not None:
            cfg["sources"]["movida"]["sync"] = movida_sync
        targets = json.loads(json.dumps(targets or {"canon": CANON}))
        for t in targets.values():
            t["url"] = t["url"].replace("PARTNER", self.partner.url())
        cfg["targets"] = targets
        cfg["retry"] = retry or {"max_attempts": 4, "base_delay_ms": 50, "max_delay_ms": 400}
        cfg["worker"] = worker or {"concurrency": 16, "visibility_timeout_ms": 3000}
        self.config = cfg
        self.config_path = os.path.join(self.workdir, "relay.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        self.workers = []
        self.relay = None

    def start_worker(self):
        w = Proc(self.workdir, "relay-worker", self.config_path, env={"MOVIDA_PASSWORD": MOVIDA_PASSWORD})
        self.workers.append(w)
        return w

    def start_relay(self):
        self.relay = Proc(self.workdir, "relay", self.config_path, env={"MOVIDA_PASSWORD": MOVIDA_PASSWORD})
        self.relay_port = int(self.config["listen"].rsplit(":", 1)[1])
        wait_ready(self.relay_port)
        return self.relay

    def close(self):
        rcs = []
        for w in self.workers:
            if w.proc.poll() is None:
                rcs.append(w.stop())
            elif not w.log.closed:
                w.log.close()  # killed by the test
        if self.relay:
            self.relay.stop()
        for s in (self.partner, self.encora, self.movida):
            s.stop()
        self.redis.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return rcs

    def logs(self):
        return "\n".join(w.output()[-4000:] for w in self.workers)

    def close_checked(self, test):
        """close(), for a test's tearDown: test fails when a worker did not exit 0 or a secret
        reached a worker's log."""
        out = self.logs()
        rcs = self.close()
        test.assertTrue(all(rc == 0 for rc in rcs), out[-3000:])
        for secret in SECRETS.values():
            test.assertNotIn(secret, out)

    # -- runs
    def ctl_argv(self, *args):
        """relayctl's command line against this environment, for a test that runs it itself
        (on a terminal, or to signal it); with ctl_environ()."""
        return [os.path.join(BIN, "relayctl"), "--config", self.config_path] + list(args)

    def ctl_environ(self):
        e = dict(os.environ)
        e.update(SECRETS)
        e["MOVIDA_PASSWORD"] = MOVIDA_PASSWORD
        return e

    def ctl(self, *args, timeout=120):
        return run_tool("relayctl", self.config_path, *args, env={"MOVIDA_PASSWORD": MOVIDA_PASSWORD},
                        timeout=timeout)

    def start(self, source="encora", *args):
        r = self.ctl("sync", source, "--detach", *args)
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        return r.stdout.strip()

    def record(self, sid):
        r = self.ctl("syncs", "--json", "--limit", "500")
        assert r.returncode == 0, r.stderr
        for rec in json.loads(r.stdout)["data"]:
            if rec["id"] == sid:
                return rec
        return None

    def wait_run(self, sid, timeout=60):
        def ended():
            rec = self.record(sid)
            return rec if rec and rec["state"] != "running" else None
        try:
            return wait_until(ended, timeout=timeout, step=0.2, what="sync %s to end" % sid)
        except AssertionError:
            raise AssertionError("sync %s did not end: %r\n%s" % (sid, self.record(sid), self.logs()))

    def run(self, source="encora", *args, timeout=60):
        return self.wait_run(self.start(source, *args), timeout=timeout)

    # -- deliveries
    def pause(self, target="canon"):
        self.redis.cmd("SADD", "relay:paused", target)

    def resume(self, target="canon"):
        self.redis.cmd("SREM", "relay:paused", target)

    def stream_events(self):
        """Every event in the stream plus every one fanned out (delivery records)."""
        out = {}
        for key in self.redis.cmd("KEYS", "relay:d:dlv_*") or []:
            if key.endswith(":attempts"):
                continue
            did = key.split(":", 2)[2]
            out[did] = record_fields(self.redis.cmd("HGETALL", key), did)
        return out

    def deliveries_of(self, sid, target="canon"):
        return {r["content_id"]: r for r in self.stream_events().values()
                if r["event_id"].startswith("sync:%s:" % sid) and r["target"] == target}

    def wait_delivered(self, sid, n, target="canon", timeout=60):
        def done():
            ds = self.deliveries_of(sid, target)
            ok = [d for d in ds.values() if d["status"] in ("delivered", "superseded")]
            return ds if len(ds) == n and len(ok) == n else None
        try:
            return wait_until(done, timeout=timeout, step=0.2, what="%d deliveries of %s" % (n, sid))
        except AssertionError:
            ds = self.deliveries_of(sid, target)
            raise AssertionError("%d deliveries of %s (wanted %d), statuses %r\n%s" % (
                len(ds), sid, n, sorted({d["status"] for d in ds.values()}), self.logs()))

    def pushes(self, content_id=None):
        return self.partner.got(lambda r: r["path"].startswith("/canon/") and
                                (content_id is None or r["path"].endswith("/" + content_id)))

    def admin(self, method, path, body=None):
        hdrs = dict(ADMIN)
        if body is not None:
            hdrs["Content-Type"] = "application/json"
            body = json.dumps(body).encode()
        return request(self.relay_port, method, path, body=body, headers=hdrs)


def sync_delivery_id(source, sid, cid, target="canon"):
    return delivery_id(source, "sync:%s:%s" % (sid, cid), target)


def now_ms():
    return int(time.time() * 1000)
