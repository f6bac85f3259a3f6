#!/usr/bin/env python3
"""The local end-to-end demo behind scripts/run: Redis, relay, one worker, a stub EncoraStream
(bearer) and Movida (Digest) serving the fixtures, and a stub partner that prints what it
receives. Sends signed publish and unpublish webhooks and shows them arriving in each format,
then keeps everything running until Ctrl-C (or exits with --once)."""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("RELAY_BIN_DIR", os.path.join(ROOT, "build"))
os.environ.setdefault("RELAY_SRC_DIR", ROOT)
import harness as h  # noqa: E402
from worker_stubs import StubCMS, StubPartner, fixture  # noqa: E402

MOVIE = "497f6eca-6276-4993-bfeb-53cbbbba6f08"
SHOW = "503c9125-a11a-4f69-b904-e679735399e2"
DEMO_SECRETS = {
    "ENCORA_API_TOKEN": "demo-encora-api-token",
    "MOVIDA_PASSWORD": "demo-movida-password",
    "GWI_API_KEY": "demo-gwi-key",
    "TITANOS_PASSWORD": "demo-titanos-password",
    "TITANOS_SIGNING_SECRET": "demo-titanos-signing-secret",
    "TITANOS_FEED_PASSWORD": "demo-titanos-feed-password",
}
FEED_AUTH = "Basic " + __import__("base64").b64encode(
    b"titanos:" + DEMO_SECRETS["TITANOS_FEED_PASSWORD"].encode()).decode()


def poll_feed(port, cursor, changed_from=None):
    """Polls the pull feed as a partner would (waiting until the worker has stored the change)
    and prints what it gets; returns the next cursor."""
    path = "/feeds/titanos-feed" + ("?cursor=" + cursor if cursor else "")
    print("  $ curl -u titanos:$TITANOS_FEED_PASSWORD 'http://127.0.0.1:%d%s'" % (port, path))
    deadline = time.time() + 20
    while True:
        body = h.request(port, "GET", path, headers={"Authorization": FEED_AUTH}).json()
        if body["data"] or time.time() > deadline:
            break
        time.sleep(0.2)
    for d in body["data"]:
        print("    %s  %-9s %s" % (d.get("id"), d.get("status"), d.get("title") or ""))
    print("    next_cursor %s, has_more %s" % (body["meta"]["next_cursor"],
                                               str(body["meta"]["has_more"]).lower()))
    return body["meta"]["next_cursor"]


def say(msg):
    print("\033[1m==> %s\033[0m" % msg, flush=True)


def show_received(partner, since):
    for r in partner.got(lambda r: r["at"] >= since):
        hd = r["headers"]
        path = r["path"]
        for v in DEMO_SECRETS.values():
            path = path.replace(v, "***")  # the target's api_key rides in the query string
        print("  %s %s" % (r["method"], path))
        print("    Idempotency-Key: %s  X-Relay-Event-Type: %s  attempt %s%s" % (
            hd.get("idempotency-key"), hd.get("x-relay-event-type"), hd.get("x-relay-delivery-attempt"),
            "  X-Relay-Signature-256: " + hd["x-relay-signature-256"][:23] + "…" if "x-relay-signature-256" in hd else ""))
        if r["body"]:
            text = json.dumps(json.loads(r["body"]), indent=2, ensure_ascii=False)
            lines = text.splitlines()
            for line in lines[:18]:
                print("    " + line)
            if len(lines) > 18:
                print("    … (%d more lines)" % (len(lines) - 18))
            doc = json.loads(r["body"])
            item = (doc.get("items") or [doc])[0] if isinstance(doc, dict) else {}
            if isinstance(item, dict) and item.get("url"):
                print("    deep link (url): %s" % item["url"])


def wait_for(partner, n, since, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline and len(partner.got(lambda r: r["at"] >= since)) < n:
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--once", action="store_true", help="exit after the demo")
    args = ap.parse_args()
    os.environ.update(h.SECRETS)
    os.environ.update(DEMO_SECRETS)
    work = tempfile.mkdtemp(prefix="relay-run-")

    redis = h.Redis(work).start()
    encora = StubCMS({
        "/v2/admin/movies/%s" % MOVIE: fixture("encorastream/movie.json"),
        "/v2/admin/shows/%s" % SHOW: fixture("encorastream/show.json"),
        "/v2/admin/shows/%s/seasons" % SHOW: fixture("encorastream/seasons.json"),
        "/v2/admin/shows/%s/seasons/1/episodes/2" % SHOW: fixture("encorastream/episode.json"),
        # the catalog listing a sync reads (the movie is unpublished by the demo: not listed)
        "/v2/admin/movies?status=published&limit=100": json.dumps(
            {"data": [], "meta": {"next_cursor": None, "total": 0}}).encode(),
        "/v2/admin/shows?status=published&limit=100": json.dumps(
            {"data": [{"id": SHOW, "status": "published", "updated_at": "2026-11-20T10:04:12Z"}],
             "meta": {"next_cursor": None, "total": 1}}).encode(),
        "/v2/admin/shows/%s/seasons/1/episodes?limit=100" % SHOW: json.dumps(
            {"data": [json.loads(fixture("encorastream/episode.json"))],
             "meta": {"next_cursor": None}}).encode(),
    }, ("bearer", DEMO_SECRETS["ENCORA_API_TOKEN"])).start()
    movida = StubCMS({
        "/api/titles/73?expand=metadata,images,availability_windows": fixture("movida/title-episode.json"),
        "/api/titles/30391?expand=metadata,images,availability_windows": fixture("movida/title-feature.json"),
        "/api/title_groups/10113965": fixture("movida/title-group-series.json"),
    }, ("digest", "robot_user", DEMO_SECRETS["MOVIDA_PASSWORD"])).start()
    partner = StubPartner().start()

    with open(os.path.join(ROOT, "config", "relay.example.json")) as f:
        cfg = json.load(f)
    port = h.free_port()
    cfg["listen"] = "127.0.0.1:%d" % port
    cfg["redis"]["url"] = "redis://127.0.0.1:%d/0" % redis.port
    cfg["sources"]["encora"]["api"]["base_url"] = encora.url("/v2")
    cfg["sources"]["movida"]["api"]["base_url"] = movida.url("/api")
    for t in cfg["targets"].values():
        t["url"] = t["url"].replace("http://127.0.0.1:8093", partner.url())
    # a partner that pulls instead: the catalog served as a feed (README, "Pull feeds")
    cfg["targets"]["titanos-feed"] = {
        "format": "titanos", "delivery": "feed",
        "feed": {"auth": {"type": "basic", "username": "titanos",
                          "password": "env:TITANOS_FEED_PASSWORD"}}}
    cfg_path = os.path.join(work, "relay.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)

    relay = h.Proc(work, "relay", cfg_path)
    worker = h.Proc(work, "relay-worker", cfg_path)
    procs = [worker, relay]
    try:
        h.wait_port(port)
        h.wait_ready(port)
        say("relay on http://127.0.0.1:%d  (Redis on port %d, config %s)" % (port, redis.port, cfg_path))
        say("webhook URL for EncoraStream: http://127.0.0.1:%d/webhooks/encora" % port)

        steps = [
            ("EncoraStream publishes a movie", "encora",
             h.encora_event("evt_demo_pub", created_at="2026-11-20T10:00:00Z"), 3),
            ("EncoraStream unpublishes it", "encora",
             h.encora_event("evt_demo_unpub", "content.unpublished", created_at="2026-11-20T12:30:00Z"), 3),
            ("EncoraStream publishes an episode (no slug of its own: its deep link is built from "
             "the show's, web_url.episode)", "encora",
             h.encora_event("evt_demo_ep", content_type="episode",
                            content_id="a7a26ff2-e851-45b6-9634-d595f45458b7", show_id=SHOW,
                            season_number=1, episode_number=2, created_at="2026-11-20T10:05:00Z"), 3),
            ("Movida publishes an episode (Standard Webhooks signature, Digest-auth API)", "movida",
             json.dumps({"id": "evt-demo-7781", "type": "content.published",
                         "created_at": "2026-11-20T10:00:00Z", "data": {"title_id": 73}}).encode(), 3),
        ]
        cursor = None
        for k, (title, source, body, n) in enumerate(steps):
            say(title)
            sig = h.sign_encora(body) if source == "encora" else h.sign_standard(body, "msg_" + str(time.time_ns()))
            since = time.time()
            r = h.post_webhook(port, source, body, sig)
            print("  relay answered %d %s" % (r.status, r.body.decode()))
            wait_for(partner, n, since)
            time.sleep(0.3)
            show_received(partner, since)
            if k == 0:
                say("the TitanOS feed partner polls: a full snapshot")
                cursor = poll_feed(port, None)
            elif k == 1:
                say("the feed partner polls from its cursor: the removal, as TitanOS's document")
                cursor = poll_feed(port, cursor)

        say("delivery log (relayctl deliveries)")
        out = h.run_tool("relayctl", cfg_path, "deliveries", "--limit", "10")
        print(out.stdout or out.stderr)
        say("sources as a CMS registration shows them (relayctl sources)")
        time.sleep(1.2)  # each relay adds its tallies to Redis once a second
        out = h.run_tool("relayctl", cfg_path, "sources")
        print(out.stdout or out.stderr)

        # A partner added after those events has nothing yet: a catalog sync backfills it.
        say("a new partner 'late-partner' is added; relayctl sync encora --target late-partner")
        cfg["targets"]["late-partner"] = {"format": "canonical", "method": "PUT",
                                          "url": partner.url("/late/{type}/{id}")}
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        worker.stop()
        procs.remove(worker)
        worker = h.Proc(work, "relay-worker", cfg_path)
        procs.insert(0, worker)
        since = time.time()
        out = h.run_tool("relayctl", cfg_path, "sync", "encora", "--target", "late-partner", timeout=120)
        print(out.stdout or out.stderr)
        wait_for(partner, 2, since)
        time.sleep(0.3)
        show_received(partner, since)
        sample = os.path.join(ROOT, "tests", "fixtures", "encorastream", "webhook-published.json")
        say("send your own signed webhook:")
        # The secrets go to a 0600 file, not to the terminal: secrets never reach output.
        env_path = os.path.join(work, "secrets.env")
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            for k, v in sorted({**h.SECRETS, **DEMO_SECRETS}.items()):
                f.write("%s=%s\n" % (k, v))
        print("  set -a; . %s; set +a" % env_path)
        print("  RELAY_CONFIG=%s scripts/sign-webhook encora %s --send" % (cfg_path, sample))
        print("  relayctl:  RELAY_CONFIG=%s build/relayctl stats   (or sources, deliveries)" % cfg_path)
        if args.once:
            return 0
        say("running; Ctrl-C stops everything")
        signal.sigwait([signal.SIGINT, signal.SIGTERM])
        return 0
    finally:
        for p in procs:
            p.stop()
        for s in (partner, encora, movida):
            s.stop()
        redis.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM]) if "--once" not in sys.argv else None
    sys.exit(main())
