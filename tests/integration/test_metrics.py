"""GET /metrics (README, "Operating it"), checked with a strict Prometheus text format 0.0.4 parser."""
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RelayTestCase, encora_event, main, post_webhook, request,  # noqa: E402
                     sign_encora)

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
TARGETS = {
    "canon": {"format": "canonical", "url": "http://127.0.0.1:9/ingest/{id}"},
    "titan": {"format": "canonical", "url": "http://127.0.0.1:9/titan/{id}"},
}


class FormatError(Exception):
    pass


def parse_labels(s, pos, line):
    """Parses `name="value",...}` from s[pos:]; returns (dict, pos after '}')."""
    labels = {}
    while True:
        if s[pos] == "}":
            return labels, pos + 1
        m = re.compile(LABEL).match(s, pos)
        if not m:
            raise FormatError("bad label name: %r" % line)
        name = m.group(0)
        pos = m.end()
        if s[pos:pos + 2] != '="':
            raise FormatError("expected =\" after label: %r" % line)
        pos += 2
        val = []
        while True:
            if pos >= len(s):
                raise FormatError("unterminated label value: %r" % line)
            c = s[pos]
            if c == "\\":
                nxt = s[pos + 1:pos + 2]
                if nxt not in ("\\", '"', "n"):
                    raise FormatError("bad escape in label value: %r" % line)
                val.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
                pos += 2
            elif c == '"':
                pos += 1
                break
            elif c == "\n":
                raise FormatError("raw newline in label value")
            else:
                val.append(c)
                pos += 1
        if name in labels:
            raise FormatError("repeated label %s: %r" % (name, line))
        labels[name] = "".join(val)
        if s[pos] == ",":
            pos += 1
        elif s[pos] != "}":
            raise FormatError("expected , or } in %r" % line)


def parse_value(v, line):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v):
        raise FormatError("bad value %r in %r" % (v, line))
    return float(v)


def parse(text):
    """Returns {family: {"type", "help", "samples": [(name, labels, value)]}}; raises
    FormatError on anything text format 0.0.4 does not allow."""
    if not text.endswith("\n"):
        raise FormatError("body must end with a newline")
    families, current, seen_series, closed = {}, None, set(), set()

    def family_of(sample):
        for suffix in ("_bucket", "_sum", "_count"):
            base = sample[:-len(suffix)] if sample.endswith(suffix) else None
            if base and base in families and families[base]["type"] in ("histogram", "summary"):
                return base
        return sample

    for line in text.split("\n")[:-1]:
        if line == "":
            continue
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (%s) (.*)" % NAME, line)
            if not m:
                if line.startswith("# HELP") or line.startswith("# TYPE"):
                    raise FormatError("malformed comment: %r" % line)
                continue
            kind, name, rest = m.groups()
            if name in closed:
                raise FormatError("family %s appears twice" % name)
            fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
            if fam["samples"]:
                raise FormatError("%s after samples of %s" % (kind, name))
            if kind == "TYPE":
                if rest not in TYPES or fam["type"]:
                    raise FormatError("bad/duplicate TYPE: %r" % line)
                fam["type"] = rest
            else:
                if fam["help"] is not None:
                    raise FormatError("duplicate HELP: %r" % line)
                if re.search(r"\\[^\\n]", rest):
                    raise FormatError("bad escape in HELP: %r" % line)
                fam["help"] = rest
            if current and current != name:
                closed.add(current)
            current = name
            continue
        m = re.compile(NAME).match(line)
        if not m:
            raise FormatError("bad sample line: %r" % line)
        sname = m.group(0)
        pos = m.end()
        labels = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = parse_labels(line, pos + 1, line)
        if pos >= len(line) or line[pos] != " ":
            raise FormatError("expected one space before value: %r" % line)
        parts = line[pos + 1:].split(" ")
        if len(parts) not in (1, 2) or parts[0] == "":
            raise FormatError("bad value/timestamp: %r" % line)
        value = parse_value(parts[0], line)
        if len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1]):
            raise FormatError("bad timestamp: %r" % line)
        fname = family_of(sname)
        if fname in closed:
            raise FormatError("samples of %s are not contiguous" % fname)
        if current and current != fname:
            closed.add(current)
        current = fname
        fam = families.setdefault(fname, {"type": None, "help": None, "samples": []})
        key = (sname, tuple(sorted(labels.items())))
        if key in seen_series:
            raise FormatError("duplicate series %r" % (key,))
        seen_series.add(key)
        if fam["type"] == "counter" and (value < 0 or math.isnan(value)):
            raise FormatError("negative counter: %r" % line)
        fam["samples"].append((sname, labels, value))

    for name, fam in families.items():
        if fam["type"] == "counter" and not name.endswith("_total"):
            raise FormatError("counter %s should end in _total" % name)
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return families


def check_histogram(name, samples):
    groups = {}
    for sname, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            if "le" not in labels:
                raise FormatError("bucket without le in %s" % name)
            g["buckets"].append((parse_value(labels["le"], labels["le"]), value))
        elif sname == name + "_sum":
            g["sum"] = value
        elif sname == name + "_count":
            g["count"] = value
        else:
            raise FormatError("unexpected sample %s in histogram %s" % (sname, name))
    for rest, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        if les != sorted(les) or not les or les[-1] != float("inf"):
            raise FormatError("%s%r: buckets not ascending or no +Inf" % (name, rest))
        counts = [c for _, c in g["buckets"]]
        if counts != sorted(counts):
            raise FormatError("%s%r: buckets not cumulative" % (name, rest))
        if g["count"] is None or g["sum"] is None or g["count"] != counts[-1]:
            raise FormatError("%s%r: _count must equal the +Inf bucket" % (name, rest))


# The cumulative histogram fields (with count and float sum) that builds before per-bucket
# histograms wrote to P:metrics for target canon: 7 pushes, 9.75 s in all.
CUMULATIVE_CANON = [x for le, n in zip(("0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
                                        "300", "+Inf"),
                                       ("3", "5", "5", "6", "6", "6", "7", "7", "7", "7", "7"))
                    for x in ("delivery_duration_seconds_bucket|canon|" + le, n)] + [
    "delivery_duration_seconds_sum|canon", "9.75", "delivery_duration_seconds_count|canon", "7"]


def value(fams, family, sample=None, **labels):
    for sname, l, v in fams[family]["samples"]:
        if sname == (sample or family) and l == labels:
            return v
    raise AssertionError("no sample %s%r" % (sample or family, labels))


class ParserSelfTest(unittest.TestCase):
    """The parser must reject what Prometheus rejects, or the other tests prove nothing."""

    def test_rejects(self):
        bad = [
            'a_total{x="1"} 1',  # no trailing newline
            '# TYPE a counter\na{x="1"} 1\n',  # counter name
            '# TYPE a_total counter\na_total{x="1} 1\n',
            '# TYPE a_total counter\na_total{x="\\t"} 1\n',
            '# TYPE a_total counter\na_total{x="1"}  1\n',
            '# TYPE a_total counter\na_total{x="1"} one\n',
            '# TYPE a_total counter\na_total{x="1"} 1\na_total{x="1"} 2\n',
            '# TYPE a_total counter\n# TYPE a_total gauge\n',
            '# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 1\na_total{x="2"} 1\n',
            '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
            '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
        ]
        for text in bad:
            with self.assertRaises(FormatError, msg=text):
                parse(text)
        parse('# HELP a_total x\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 1\n')


class MetricsTest(RelayTestCase):
    config_extra = {"targets": TARGETS}

    def scrape(self):
        r = request(self.port, "GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"].split(";")[0].strip(), "text/plain")
        self.assertIn("version=0.0.4", r.headers["content-type"])
        text = r.body.decode("utf-8")
        fams = parse(text)
        promtool(self, text)
        return fams

    def test_1_zero_series_from_the_start(self):
        fams = self.scrape()
        for fam, typ in (("relay_webhooks_total", "counter"),
                         ("relay_webhook_rejections_total", "counter"),
                         ("relay_queue_depth", "gauge"), ("relay_queue_oldest_seconds", "gauge"),
                         ("relay_deliveries_total", "counter"),
                         ("relay_delivery_duration_seconds", "histogram"),
                         ("relay_event_to_delivery_seconds", "histogram"),
                         ("relay_redis_up", "gauge")):
            self.assertEqual(fams[fam]["type"], typ, fam)
            self.assertTrue(fams[fam]["help"], fam)
        for src in ("encora", "movida"):
            for outcome in ("queued", "duplicate", "ignored", "rejected"):
                self.assertEqual(value(fams, "relay_webhooks_total", source=src,
                                       outcome=outcome), 0)
            self.assertEqual(value(fams, "relay_webhook_rejections_total", source=src,
                                   code="signature_invalid"), 0)
        for state in ("ready", "inflight", "scheduled", "failed"):
            self.assertEqual(value(fams, "relay_queue_depth", state=state), 0)
        for t in TARGETS:
            for outcome in ("delivered", "retried", "failed", "superseded"):
                self.assertEqual(value(fams, "relay_deliveries_total", target=t,
                                       outcome=outcome), 0)
            self.assertEqual(value(fams, "relay_delivery_duration_seconds",
                                   "relay_delivery_duration_seconds_count", target=t), 0)
        self.assertEqual(value(fams, "relay_redis_up"), 1)

    def test_2_ingest_counters(self):
        before = self.scrape()
        body = encora_event("evt_metrics_1")
        self.assertEqual(post_webhook(self.port, "encora", body, sign_encora(body)).status, 202)
        self.assertEqual(post_webhook(self.port, "encora", body, sign_encora(body)).status, 200)
        self.assertEqual(post_webhook(self.port, "encora", body,
                                      {"X-Encora-Signature-256": "sha256=00"}).status, 401)
        self.assertEqual(post_webhook(self.port, 'we"ird\\name', body, {}).status, 404)
        fams = self.scrape()

        def delta(fam, **labels):
            try:
                old = value(before, fam, **labels)
            except AssertionError:
                old = 0
            return value(fams, fam, **labels) - old

        self.assertEqual(delta("relay_webhooks_total", source="encora", outcome="queued"), 1)
        self.assertEqual(delta("relay_webhooks_total", source="encora", outcome="duplicate"), 1)
        self.assertEqual(delta("relay_webhooks_total", source="encora", outcome="rejected"), 1)
        self.assertEqual(delta("relay_webhook_rejections_total", source="encora",
                               code="signature_invalid"), 1)
        # an unknown name from the URL is kept, escaped, as the label value
        names = {l["source"] for _, l, _ in fams["relay_webhook_rejections_total"]["samples"]
                 if l.get("code") == "unknown_source"}
        self.assertTrue(any('"' in n and "\\" in n for n in names), names)
        self.assertEqual(value(fams, "relay_queue_depth", state="ready"), 1)

    def test_3_unknown_sources_are_bounded(self):
        for i in range(130):
            post_webhook(self.port, "probe%d" % i, b"{}", {})
        fams = self.scrape()
        sources = {l["source"] for _, l, _ in fams["relay_webhooks_total"]["samples"]}
        self.assertLessEqual(len(sources), 2 + 100 + 1)
        self.assertIn("_other", sources)
        self.assertGreater(value(fams, "relay_webhooks_total", source="_other",
                                 outcome="rejected"), 0)

    def scrape_with(self, *fields):
        """/metrics with P:metrics holding fields (name, value, ...) only."""
        self.redis.cmd("HSET", "relay:metrics", *fields)
        try:
            return self.scrape()
        finally:
            self.redis.cmd("DEL", "relay:metrics")

    def test_4_worker_metrics_from_redis(self):
        fams = self.scrape_with("deliveries_total|canon|delivered", "7",
                                "deliveries_total|titan|retried", "2", *CUMULATIVE_CANON,
                                "event_to_delivery_seconds_bucket|+Inf", "7",
                                "event_to_delivery_seconds_bucket|300", "7",
                                "event_to_delivery_seconds_bucket|60", "7",
                                "event_to_delivery_seconds_bucket|30", "4",
                                "event_to_delivery_seconds_sum", "81.5",
                                "event_to_delivery_seconds_count", "7")
        self.assertEqual(value(fams, "relay_deliveries_total", target="canon",
                               outcome="delivered"), 7)
        self.assertEqual(value(fams, "relay_deliveries_total", target="titan", outcome="retried"), 2)
        self.assertEqual(value(fams, "relay_delivery_duration_seconds",
                               "relay_delivery_duration_seconds_bucket", target="canon",
                               le="0.25"), 5)
        self.assertEqual(value(fams, "relay_delivery_duration_seconds",
                               "relay_delivery_duration_seconds_sum", target="canon"), 9.75)
        self.assertEqual(value(fams, "relay_event_to_delivery_seconds",
                               "relay_event_to_delivery_seconds_bucket", le="30"), 4)

    def test_4b_histograms_per_bucket_and_earlier_cumulative(self):
        # complete.lua writes each observation to its own bucket (_in) and the sum in ms; the
        # cumulative fields an earlier build wrote still count, added to the new ones
        fams = self.scrape_with(*CUMULATIVE_CANON,
                                "delivery_duration_seconds_in|canon|0.1", "2",
                                "delivery_duration_seconds_in|canon|1", "1",
                                "delivery_duration_seconds_in|canon|+Inf", "1",
                                "delivery_duration_seconds_sum_ms|canon", "2500",
                                "event_to_delivery_seconds_in|0.005", "4",
                                "event_to_delivery_seconds_in|30", "1",
                                "event_to_delivery_seconds_sum_ms", "20030")
        d = "relay_delivery_duration_seconds"
        for le, want in (("0.05", 0), ("0.1", 5), ("0.25", 7), ("1", 9), ("300", 10), ("+Inf", 11)):
            self.assertEqual(value(fams, d, d + "_bucket", target="canon", le=le), want, le)
        self.assertEqual(value(fams, d, d + "_count", target="canon"), 11)
        self.assertAlmostEqual(value(fams, d, d + "_sum", target="canon"), 12.25)
        self.assertEqual(value(fams, d, d + "_count", target="titan"), 0)
        e = "relay_event_to_delivery_seconds"
        for le, want in (("0.005", 4), ("10", 4), ("30", 5), ("+Inf", 5)):
            self.assertEqual(value(fams, e, e + "_bucket", le=le), want, le)
        self.assertEqual(value(fams, e, e + "_count"), 5)
        self.assertAlmostEqual(value(fams, e, e + "_sum"), 20.03)

    def test_5_queue_depth_and_paused(self):
        self.redis.cmd("SADD", "relay:paused", "titan")
        try:
            fams = self.scrape()
        finally:
            self.redis.cmd("SREM", "relay:paused", "titan")
        self.assertEqual(value(fams, "relay_target_paused", target="titan"), 1)
        self.assertEqual(value(fams, "relay_target_paused", target="canon"), 0)
        self.assertGreaterEqual(value(fams, "relay_queue_oldest_seconds"), 0)

    def test_6_redis_down_still_answers(self):
        self.redis.kill()
        fams = self.scrape()
        self.assertEqual(value(fams, "relay_redis_up"), 0)
        self.assertIn("relay_webhooks_total", fams)
        self.assertNotIn("relay_queue_depth", fams)
        r = request(self.port, "POST", "/metrics")
        self.assertEqual(r.status, 405)


def promtool(test, text):
    """Also checks with promtool when it happens to be installed (not required)."""
    exe = shutil.which("promtool")
    if not exe:
        return
    r = subprocess.run([exe, "check", "metrics"], input=text, capture_output=True, text=True)
    # promtool also lints (e.g. HELP style); only hard parse errors fail the test
    test.assertNotIn("error while linting", r.stderr + r.stdout)


if __name__ == "__main__":
    main()
