"""The partner schemas in tests/schemas/ and the checker in schemacheck.py: each schema
rejects what its partner's spec rejects (a schema that accepts everything would make every
other validation in the suite worthless), the unit tests' renders all validate, and the
relay's GoWatchIt items look like GoWatchIt's own sample feed, the reference reader's view."""
import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, SRC  # noqa: E402
import schemacheck  # noqa: E402

GOWATCHIT = os.path.join(SRC, "tests", "fixtures", "gowatchit")


def unit_renders():
    """Every document tests/unit/test_fmt.c renders, by format (it writes them on request)."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="relay-renders-") as d:
        r = subprocess.run([os.path.join(BIN, "test_fmt")], env=dict(os.environ, RELAY_RENDER_DIR=d),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        if r.returncode != 0:
            raise AssertionError("test_fmt failed:\n" + r.stdout.decode(errors="replace")[-3000:])
        for path in sorted(glob.glob(os.path.join(d, "*.json"))):
            fmt = os.path.basename(path).rsplit("-", 1)[0]
            with open(path, encoding="utf-8") as f:
                out.setdefault(fmt, []).append((os.path.basename(path), json.load(f)))
    return out


RENDERS = None


def renders(fmt):
    global RENDERS
    if RENDERS is None:
        RENDERS = unit_renders()
    return RENDERS.get(fmt, [])


def sample_feed():
    """GoWatchIt's published 1.1 sample. As published it is not JSON (a trailing comma after
    the fr_FR item's availability); the comma is removed here."""
    with open(os.path.join(GOWATCHIT, "sample_feed_1.1.json"), encoding="utf-8") as f:
        text = f.read()
    try:
        json.loads(text)
        raise AssertionError("the published sample parses now: drop the comma repair")
    except ValueError:
        pass
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


class TestChecker(unittest.TestCase):
    """The checker's own semantics, where Python and JSON differ or a keyword is subtle."""

    def test_types_are_exact(self):
        v = schemacheck.validate
        self.assertTrue(v({"type": "integer"}, True))
        self.assertTrue(v({"type": "integer"}, 1.5))
        self.assertFalse(v({"type": "integer"}, 3))
        self.assertTrue(v({"type": "boolean"}, 0))
        self.assertTrue(v({"type": "string"}, None))
        self.assertFalse(v({"type": ["string", "null"]}, None))
        self.assertTrue(v({"const": 1}, True))
        self.assertTrue(v({"enum": [False]}, 0))

    def test_keywords(self):
        v = schemacheck.validate
        s = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
             "additionalProperties": False}
        self.assertFalse(v(s, {"a": "x"}))
        self.assertTrue(v(s, {}))
        self.assertTrue(v(s, {"a": "x", "b": 1}))
        self.assertTrue(v({"contains": {"const": 2}}, [1, 3]))
        self.assertFalse(v({"contains": {"const": 2}}, [1, 2]))
        cond = {"if": {"properties": {"t": {"const": "m"}}, "required": ["t"]}, "then": {"required": ["d"]}}
        self.assertTrue(v(cond, {"t": "m"}))
        self.assertFalse(v(cond, {"t": "s"}))
        self.assertFalse(v(cond, {"t": "m", "d": 1}))
        self.assertTrue(v({"anyOf": [{"type": "string"}, {"type": "null"}]}, 1))
        self.assertTrue(v({"not": {"type": "null"}}, None))
        self.assertTrue(v({"items": False}, [1]))
        self.assertFalse(v({"items": False}, []))
        self.assertTrue(v({"$ref": "#/$defs/x", "$defs": {"x": {"minLength": 2}}}, "a"))
        self.assertTrue(v({"pattern": "^a"}, "ba"))
        self.assertTrue(v({"minItems": 1}, []))
        self.assertTrue(v({"minimum": 1}, 0))

    def test_unknown_keywords_are_refused(self):
        for bad in ({"format": "date-time"}, {"oneOf": [{}]}, {"properties": {"a": {"maxLength": 3}}},
                    {"$ref": "http://example.com/x"}, {"type": "int"}):
            with self.assertRaises(schemacheck.SchemaError, msg=bad):
                schemacheck.check_schema(bad)


class SchemaCase(unittest.TestCase):
    fmt = None

    def schema(self):
        return schemacheck.schema_for(self.fmt)

    def assertValid(self, doc, what=""):
        errs = schemacheck.validate(self.schema(), doc)
        self.assertEqual(errs, [], "%s should be valid" % what)

    def assertRejects(self, doc, what):
        errs = schemacheck.validate(self.schema(), doc)
        self.assertNotEqual(errs, [], "%s should be rejected" % what)


def by_type(docs, t):
    return [d for _, d in docs if d["items"] and d["items"][0]["type"] == t]


class TestGoWatchIt(SchemaCase):
    fmt = "gwi_json_1.1"

    def test_unit_renders_validate(self):
        docs = renders(self.fmt)
        self.assertGreaterEqual(len(docs), 20)
        for name, doc in docs:
            self.assertValid(doc, name)
        for t in ("movie", "show", "episode"):
            self.assertTrue(by_type(docs, t), "no %s among the renders" % t)
        self.assertTrue(any(d["items"][0]["available_formats"] == [] for _, d in docs), "no removal")

    def mutants(self):
        """(what, function changing a copy of a valid movie document) the spec rejects."""
        movie = next(d for d in by_type(renders(self.fmt), "movie") if d["items"][0]["available_formats"])

        def item(f):
            def g(doc):
                f(doc["items"][0])
            return g

        def dele(k):
            return item(lambda i: i.pop(k))

        def setk(k, val):
            return item(lambda i: i.__setitem__(k, val))

        def fmt0(k, val):
            return item(lambda i: i["available_formats"][0].__setitem__(k, val))

        def av0(k, val):
            return item(lambda i: i["available_formats"][0]["availabilities"][0].__setitem__(k, val))

        def no_director(i):
            i["contributions"] = [c for c in i["contributions"] if c["role"] != "director"]

        def no_url(i):
            i.pop("url")
            for f in i["available_formats"]:
                f.pop("product_url", None)

        def removal_without_url(i):
            i.pop("url")
            i["available_formats"] = []

        cases = [
            ("no catalog_provider", lambda d: d.pop("catalog_provider")),
            ("no items", lambda d: d.pop("items")),
            ("catalog_period weekly", lambda d: d.__setitem__("catalog_period", "weekly")),
            ("catalog_types singular", lambda d: d.__setitem__("catalog_types", ["movie"])),
            ("catalog_types a string", lambda d: d.__setitem__("catalog_types", "movies")),
            ("schema version 1.0", lambda d: d.__setitem__("_schema_version", "gwi_json_1.0")),
            ("an extra top-level key", lambda d: d.__setitem__("generated_at", "now")),
            ("no id", dele("id")), ("no title", dele("title")), ("no type", dele("type")),
            ("no locale", dele("locale")), ("no release_year", dele("release_year")),
            ("no available_formats", dele("available_formats")),
            ("release_year an integer", setk("release_year", 2021)),
            ("release_year not a year", setk("release_year", "21")),
            ("runtime a string (as in the sample)", setk("runtime", "5640")),
            ("runtime a real", setk("runtime", 5640.5)),
            ("type plural", setk("type", "movies")),
            ("locale with a hyphen", setk("locale", "en-US")),
            ("locale a language only", setk("locale", "en")),
            ("alt_titles a string", setk("alt_titles", "x")),
            ("categories of numbers", setk("categories", [1])),
            ("artwork _scene", setk("artwork", [{"type": "_scene", "url": "https://x.example/a.jpg"}])),
            ("artwork backdrop", setk("artwork", [{"type": "backdrop", "url": "https://x.example/a.jpg"}])),
            ("artwork without url", setk("artwork", [{"type": "poster"}])),
            ("language_formats type audio_track", setk("language_formats", [{"type": "audio_track", "code": "en"}])),
            ("tvpg_rating (sample, not table)", setk("tvpg_rating", "TV-14")),
            ("premier (sample's spelling)", setk("premier", "2020-01-01")),
            ("url not a URL", setk("url", "watch/movies/x")),
            ("a movie without a director", item(no_director)),
            ("a movie without contributions", dele("contributions")),
            ("no url and no product_url", item(no_url)),
            ("a removal without url", item(removal_without_url)),
            ("format locale en", fmt0("locale", "en")),
            ("format without locale", item(lambda i: i["available_formats"][0].pop("locale"))),
            ("format without availabilities", item(lambda i: i["available_formats"][0].pop("availabilities"))),
            ("delivery_method _theatrical", fmt0("delivery_method", "_theatrical")),
            ("delivery_method satellite", fmt0("delivery_method", "satellite")),
            ("offer free", av0("offer", "free")),
            ("subscription_required a string", av0("subscription_required", "yes")),
            ("price a number", av0("price", [{"currency": "USD", "price": 3.99}])),
            ("price without currency", av0("price", [{"price": "3.99"}])),
            ("start not a time", av0("start", "tomorrow")),
        ]
        return movie, cases

    def test_rejects_what_the_spec_rejects(self):
        movie, cases = self.mutants()
        self.assertValid(movie, "the movie")
        for what, f in cases:
            doc = copy.deepcopy(movie)
            f(doc)
            self.assertRejects(doc, what)

    def test_tv_rules(self):
        docs = renders(self.fmt)
        ep = by_type(docs, "episode")[0]
        self.assertValid(ep, "episode")
        bad = copy.deepcopy(ep)
        bad["items"][0].pop("premiere")
        self.assertRejects(bad, "an episode without premiere")
        bad["items"][0]["type"] = "season"
        self.assertRejects(bad, "a season without premiere")
        bad["items"][0]["type"] = "show"
        bad["items"][0]["contributions"] = []
        self.assertValid(bad, "a show needs neither premiere nor a director")

    def test_sample_feed_is_the_reference_reader(self):
        """Same field names and shapes as GoWatchIt's own sample for the same kinds of items.
        Where the sample and the spec table disagree, the table wins (TABLE_WINS)."""
        sample = sample_feed()
        # the sample's spelling -> the table's, and why the table wins
        table_wins = {
            "runtime": "the table types runtime Integer (seconds); the sample sends \"3600\"",
            "premier": "the table's field is premiere; the sample misspells it on seasons/episodes",
            "tvpg_rating": "the table has one pg_rating for TV and MPAA ratings",
            "mpaa_rating": "the table has one pg_rating for TV and MPAA ratings",
        }
        not_in_table = {"user_rating", "alt_ids", "studio", "show_title", "season_title", "episode_number"}

        def shape(v):
            if isinstance(v, dict):
                return {k: shape(x) for k, x in v.items()}
            if isinstance(v, list):
                return [shape(v[0])] if v else []
            return type(v).__name__

        def same_shape(ours, theirs, path):
            if isinstance(theirs, dict):
                self.assertIsInstance(ours, dict, path)
                for k, v in ours.items():
                    if k in theirs:
                        same_shape(v, theirs[k], path + "." + k)
                    elif k != "subscription_required":  # a table field the sample leaves out
                        self.fail("%s.%s: not in GoWatchIt's sample (nor allowed by the table)" % (path, k))
            elif isinstance(theirs, list):
                self.assertIsInstance(ours, list, path)
                if ours and theirs:
                    merged = {}
                    for e in theirs:  # every key any element of theirs has
                        if isinstance(e, dict):
                            merged.update(e)
                    for e in ours:
                        same_shape(e, merged if merged else theirs[0], path + "[]")
            else:
                self.assertEqual(type(ours).__name__, theirs, path)

        ours_by_type = {}
        for _, doc in renders(self.fmt):
            for it in doc["items"]:
                ours_by_type.setdefault(it["type"], []).append(it)
        self.assertEqual(set(shape(sample["catalog_types"])[0:1]), {"str"})
        for theirs in sample["items"]:
            t = theirs["type"]
            reference = shape(theirs)
            for k in table_wins:
                reference.pop(k, None)
            for k in not_in_table:
                reference.pop(k, None)
            reference.setdefault("premiere", "str")
            reference.setdefault("pg_rating", "str")
            reference.setdefault("runtime", "int")
            reference.setdefault("available_formats", [])  # the table: always present
            reference.setdefault("show_id", "str")
            reference.setdefault("season_id", "str")
            for ours in ours_by_type.get(t, []):
                same_shape(ours, reference, t)
            # Values the sample uses for the same fields: art types and delivery methods.
            for a in theirs.get("artwork", []):
                self.assertIn(a["type"], ("thumbnail", "poster", "scene"))
        for t in ("movie", "show", "episode"):
            self.assertIn(t, ours_by_type)
        arts = {a["type"] for items in ours_by_type.values() for i in items for a in i.get("artwork", [])}
        self.assertIn("scene", arts)

    def test_sample_feed_read_by_the_table_validates(self):
        """The schema is no stricter than the partner: its own sample, with the sample's
        deviations from the table put the table's way, passes."""
        sample = sample_feed()
        self.assertRejects(sample, "the sample as published (its deviations from the table)")
        for it in sample["items"]:
            if "premier" in it:
                it["premiere"] = it.pop("premier")
            it["runtime"] = int(it["runtime"])
            rating = it.pop("tvpg_rating", None) or it.pop("mpaa_rating", None)
            if rating:
                it["pg_rating"] = rating
            for k in ("user_rating", "alt_ids", "studio", "show_title", "season_title", "episode_number"):
                it.pop(k, None)
            it.setdefault("available_formats", [])  # the table: always present
            for f in it["available_formats"]:  # physical formats' extras, not in the table
                f.pop("standard", None)
                f.pop("dvd_region", None)
        self.assertValid(sample, "the sample read by the table")


class TestTitanOS(SchemaCase):
    fmt = "titanos"

    def test_unit_renders_validate(self):
        docs = renders(self.fmt)
        self.assertGreater(len(docs), 10)
        for name, doc in docs:
            self.assertValid(doc, name)
        self.assertTrue(any(d["status"] == "removed" for _, d in docs))
        self.assertTrue(any(d["type"] == "tv_show" for _, d in docs))

    def test_every_key_is_required(self):
        doc = next(d for _, d in renders(self.fmt) if d["type"] == "episode")
        self.assertValid(doc, "the episode")

        def walk(node, path):
            if isinstance(node, dict):
                for k in list(node):
                    yield path + [k]
                    yield from walk(node[k], path + [k])
            elif isinstance(node, list) and node:
                yield from walk(node[0], path + [0])

        n = 0
        for path in walk(doc, []):
            if isinstance(path[-1], int):
                continue
            bad = copy.deepcopy(doc)
            parent = bad
            for p in path[:-1]:
                parent = parent[p]
            parent.pop(path[-1])
            self.assertRejects(bad, "without %s" % ".".join(map(str, path)))
            n += 1
        self.assertGreater(n, 40)

    def test_rejects_wrong_types(self):
        doc = next(d for _, d in renders(self.fmt) if d["type"] == "movie" and d["status"] == "published")
        cases = [
            ("an extra key", "extra", 1), ("type show", "type", "show"), ("status deleted", "status", "deleted"),
            ("created_at null", "created_at", None), ("updated_at not UTC", "updated_at", "2026-11-20T10:00:00+01:00"),
            ("original_title null", "original_title", None), ("id an integer", "id", 5),
            ("runtime_s a string", "runtime_s", "90"), ("genres a string", "genres", "drama"),
            ("titles without locale", "titles", [{"title": "x"}]),
            ("synopses with text", "synopses", [{"locale": "en", "text": "x"}]),
            ("premiere a time", "premiere", "2026-11-20T10:00:00Z"),
            ("release_year a string", "release_year", "2021"),
        ]
        for what, k, v in cases:
            bad = copy.deepcopy(doc)
            bad[k] = v
            self.assertRejects(bad, what)
        bad = copy.deepcopy(doc)
        bad["status"] = "removed"
        self.assertRejects(bad, "a removal that still offers the title")
        bad = copy.deepcopy(doc)
        bad["availability"]["territory_policy"] = "only"
        self.assertRejects(bad, "territory_policy only")


if __name__ == "__main__":
    unittest.main()
