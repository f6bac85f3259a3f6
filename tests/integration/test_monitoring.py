"""The monitoring files in deploy/: Prometheus alerting rules (checked and unit-tested with
promtool) and the Grafana dashboard (valid JSON, valid PromQL, and every metric it or an alert
names is one a running relay + relay-worker exports on /metrics)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (SRC, Proc, RelayTestCase, encora_event, main, post_webhook,  # noqa: E402
                     request, sign_encora, wait_until)

PROM = os.path.join(SRC, "deploy", "prometheus")
ALERTS = os.path.join(PROM, "alerts.yml")
ALERT_TESTS = os.path.join(PROM, "alerts.test.yml")
GRAFANA = os.path.join(SRC, "deploy", "grafana", "relay.json")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# Metrics the README and the contract promise that this build does not export yet (they come
# with the pull feeds and catalog sync). The monitoring files may use them;
# the test lists them in its output, and says when one of them has started to be exported so
# that it can leave this list.
NOT_YET_EXPORTED = {
    "relay_feed_requests_total",
    "relay_feed_items",
    "relay_feed_last_poll_timestamp_seconds",
    "relay_sync_runs_total",
    "relay_sync_titles_total",
    "relay_sync_last_success_timestamp_seconds",
}
# Series Prometheus makes itself for every scrape target.
PROMETHEUS_BUILTIN = {"up"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def alert_rules(path=ALERTS):
    """(alert name, expr) of every rule in a Prometheus rules file. A small reader for the
    subset of YAML that file uses (stdlib only: no PyYAML in the test environment)."""
    rules, name = [], None
    lines = read(path).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)-?\s*(alert|record):\s*(\S.*)$", line)
        if m:
            name = m.group(3).strip()
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2).strip()
            if value in (">-", ">", "|", "|-"):
                block = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                value = " ".join(b for b in block if b)
                rules.append((name, value))
                continue
            rules.append((name, value))
        i += 1
    return rules


def grafana_exprs(doc):
    """Every PromQL expression of the dashboard: panel targets (rows' nested panels too) and the
    query variables' queries."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p.get("title"), t["expr"]))
            walk(p.get("panels", []))
    walk(doc.get("panels", []))
    for v in doc.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            out.append(("variable " + v["name"], q))
    return out


def metric_names(expr):
    """Metric names an expression reads: the relay's all start with relay_ (no label or function
    does), plus Prometheus's own series."""
    names = set(re.findall(r"\brelay_[a-z0-9_]+\b", expr))
    names |= {n for n in PROMETHEUS_BUILTIN if re.search(r"\b%s\s*\{" % n, expr)}
    return names


def exported_names(text):
    """Sample names of a Prometheus text exposition."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def as_plain_promql(expr):
    """A Grafana expression with its variables replaced, for promtool to parse."""
    for var, val in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h"),
                     ("$target", ".*"), ("$source", ".*")):
        expr = expr.replace(var, val)
    return expr


def promtool(*args):
    return subprocess.run([PROMTOOL] + list(args), capture_output=True, text=True, timeout=120)


class RulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(PROMTOOL):
            raise AssertionError("promtool is not installed: run scripts/deps.sh (Debian package "
                                 "prometheus)")

    def test_check_rules(self):
        r = promtool("check", "rules", ALERTS)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout + r.stderr)

    def test_unit_tests_pass(self):
        r = subprocess.run([PROMTOOL, "test", "rules", os.path.basename(ALERT_TESTS)], cwd=PROM,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_every_alert_is_unit_tested_firing(self):
        names = {n for n, _ in alert_rules()}
        self.assertGreaterEqual(names, {"RelayRedisDown", "RelayQueueStalled",
                                        "RelayFailedDeliveriesRising", "RelayTargetCircuitOpen",
                                        "RelayFeedNotPolled", "RelaySyncFailing"})
        tests = read(ALERT_TESTS)
        for n in names:
            # a firing case: the alert's name followed by exp_alerts before the next eval_time
            self.assertRegex(tests, r"alertname: %s\n\s+exp_alerts:" % n, n)

    def test_reader_sees_every_rule(self):
        text = read(ALERTS)
        self.assertEqual(len(alert_rules()), text.count("- alert:"))
        self.assertTrue(all(e for _, e in alert_rules()))


class GrafanaTest(unittest.TestCase):
    def setUp(self):
        with open(GRAFANA, encoding="utf-8") as f:
            self.doc = json.load(f)

    def test_shape(self):
        d = self.doc
        for key in ("uid", "title", "panels", "templating", "schemaVersion"):
            self.assertIn(key, d)
        ids, covered = set(), {}
        variables = {v["name"] for v in d["templating"]["list"]}
        self.assertIn("datasource", variables)
        for p in d["panels"]:
            self.assertNotIn(p["id"], ids, "panel ids are unique")
            ids.add(p["id"])
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            for row in range(g["y"], g["y"] + g["h"]):
                for col in range(g["x"], g["x"] + g["w"]):
                    self.assertNotIn((row, col), covered, "%s overlaps %s" % (
                        p["title"], covered.get((row, col))))
                    covered[(row, col)] = p["title"]
            if p["type"] == "row":
                continue
            self.assertTrue(p["targets"], p["title"])
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            refs = [t["refId"] for t in p["targets"]]
            self.assertEqual(len(refs), len(set(refs)), p["title"])
            for t in p["targets"]:
                for var in re.findall(r"\$([a-z_]+)", t["expr"]):
                    self.assertIn(var, variables | {"__rate_interval", "__interval", "__range"},
                                  "%s uses an undefined variable $%s" % (p["title"], var))

    def test_covers_what_operators_look_at(self):
        exprs = " ".join(e for _, e in grafana_exprs(self.doc))
        for m in ("relay_webhooks_total", "relay_webhook_rejections_total", "relay_queue_depth",
                  "relay_queue_oldest_seconds", "relay_deliveries_total",
                  "relay_delivery_duration_seconds_bucket", "relay_event_to_delivery_seconds_bucket",
                  "relay_target_circuit_open", "relay_feed_last_poll_timestamp_seconds"):
            self.assertIn(m, exprs)
        self.assertIn("heatmap", [p["type"] for p in self.doc["panels"]])

    def test_promql_parses(self):
        """promtool parses every expression (as recording rules of a throwaway file)."""
        if not os.path.exists(PROMTOOL):
            self.fail("promtool is not installed: run scripts/deps.sh")
        d = tempfile.mkdtemp(prefix="relay-grafana-")
        try:
            path = os.path.join(d, "panels.yml")
            with open(path, "w") as f:
                f.write("groups:\n  - name: grafana\n    rules:\n")
                for i, (_, expr) in enumerate(grafana_exprs(self.doc)):
                    if expr.startswith("label_values("):
                        m = re.match(r"label_values\((\w+),\s*\w+\)$", expr)
                        self.assertIsNotNone(m, expr)
                        expr = m.group(1)
                    f.write("      - record: grafana:panel_%d\n        expr: %s\n"
                            % (i, json.dumps(as_plain_promql(expr))))
            r = promtool("check", "rules", path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class LiveMetricsTest(RelayTestCase):
    """Every metric the files name is on the /metrics of a running relay with a worker."""

    config_extra = {"targets": {"canon": {"format": "canonical",
                                          "url": "http://127.0.0.1:9/ingest/{id}"}},
                    "retry": {"max_attempts": 1, "base_delay_ms": 50, "max_delay_ms": 100}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.worker = Proc(cls.workdir, "relay-worker", cls.config_path)

    @classmethod
    def tearDownClass(cls):
        cls.worker.stop()
        super().tearDownClass()

    def test_names_are_exported(self):
        body = encora_event("evt_monitoring_1", etype="content.unpublished")
        self.assertEqual(post_webhook(self.port, "encora", body, sign_encora(body)).status, 202)
        bad = encora_event("evt_monitoring_2")
        post_webhook(self.port, "encora", bad, {"X-Encora-Signature-256": "sha256=00"})

        def scraped():
            r = request(self.port, "GET", "/metrics")
            text = r.body.decode()
            return text if re.search(r'relay_deliveries_total\{target="canon",outcome="failed"\} 1',
                                     text) else None
        text = wait_until(scraped, timeout=30, what="the delivery to fail:\n" +
                          self.worker.output()[-2000:])
        exported = exported_names(text)

        used = {}
        for name, expr in alert_rules():
            for m in metric_names(expr):
                used.setdefault(m, []).append("alert " + name)
        with open(GRAFANA, encoding="utf-8") as f:
            for title, expr in grafana_exprs(json.load(f)):
                for m in metric_names(expr):
                    used.setdefault(m, []).append("panel " + title)
        self.assertTrue(used)

        unknown = {m: w for m, w in used.items()
                   if m not in exported and m not in NOT_YET_EXPORTED and m not in PROMETHEUS_BUILTIN}
        self.assertEqual(unknown, {}, "metrics the relay does not export (typo, or add them to "
                                      "NOT_YET_EXPORTED if another change brings them)")
        waiting = sorted(m for m in used if m in NOT_YET_EXPORTED and m not in exported)
        arrived = sorted(m for m in NOT_YET_EXPORTED if m in exported)
        if waiting:
            sys.stderr.write("monitoring: not yet exported by this build (allowed): %s\n"
                             % ", ".join(waiting))
        if arrived:
            sys.stderr.write("monitoring: now exported, remove from NOT_YET_EXPORTED: %s\n"
                             % ", ".join(arrived))
        # the allow-list names only what the files use
        self.assertEqual(NOT_YET_EXPORTED - set(used), set())


if __name__ == "__main__":
    main()
