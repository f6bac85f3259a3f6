"""A small strict checker for the subset of JSON Schema draft 2020-12 that tests/schemas/ use.

Python standard library only, so the suite needs no Node or pip. Strict in two ways: every
keyword it meets must be one it implements (a schema using anything else is refused, so no
rule can be silently skipped), and JSON types are exact (true is not an integer, 1.0 is not
an integer). Implemented: $schema, $id, $defs, $ref (local "#/$defs/..."), title,
description, $comment, type, enum, const, pattern, minLength, minimum, minItems, items,
contains, properties, required, additionalProperties, allOf, anyOf, not, if/then/else.

    errors = validate(schema, instance)   # [] when valid, else ["$.items[0].url: ..."]
    python3 schemacheck.py SCHEMA FILE...  # exit 1 and the errors when a file is invalid
"""
import json
import os
import re
import sys

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KEYWORDS = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "$comment", "type", "enum",
    "const", "pattern", "minLength", "minimum", "minItems", "items", "contains", "properties",
    "required", "additionalProperties", "allOf", "anyOf", "not", "if", "then", "else",
}
TYPES = {"null", "boolean", "object", "array", "number", "string", "integer"}

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "schemas")


class SchemaError(Exception):
    """The schema itself is malformed or uses a keyword this checker does not implement."""


def load(name):
    """tests/schemas/<name>.schema.json, checked for keywords and dialect."""
    with open(os.path.join(SCHEMA_DIR, name + ".schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    if schema.get("$schema") != DIALECT:
        raise SchemaError("%s: $schema must be %s" % (name, DIALECT))
    check_schema(schema)
    return schema


def check_schema(s, where="#"):
    if isinstance(s, bool):
        return
    if not isinstance(s, dict):
        raise SchemaError("%s: a schema is an object or a boolean" % where)
    unknown = set(s) - KEYWORDS
    if unknown:
        raise SchemaError("%s: keywords this checker does not implement: %s" % (where, sorted(unknown)))
    t = s.get("type")
    for name in ([t] if isinstance(t, str) else t or []):
        if name not in TYPES:
            raise SchemaError("%s: unknown type %r" % (where, name))
    if "pattern" in s:
        re.compile(s["pattern"])
    for k in ("items", "contains", "additionalProperties", "not", "if", "then", "else"):
        if k in s:
            check_schema(s[k], where + "/" + k)
    for k in ("properties", "$defs"):
        for name, sub in s.get(k, {}).items():
            check_schema(sub, "%s/%s/%s" % (where, k, name))
    for k in ("allOf", "anyOf"):
        if k in s and (not isinstance(s[k], list) or not s[k]):
            raise SchemaError("%s/%s: a non-empty array" % (where, k))
        for i, sub in enumerate(s.get(k, [])):
            check_schema(sub, "%s/%s/%d" % (where, k, i))
    if "$ref" in s and not s["$ref"].startswith("#/$defs/"):
        raise SchemaError("%s: only local #/$defs/ references" % where)


def _type_ok(v, t):
    if t == "null":
        return v is None
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "string":
        return isinstance(v, str)
    if t == "array":
        return isinstance(v, list)
    if t == "object":
        return isinstance(v, dict)
    raise SchemaError("unknown type %r" % t)


def _equal(a, b):
    # JSON equality: in Python 1 == True and 1 == 1.0; in JSON the first pair differs.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _resolve(root, ref):
    node = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def validate(schema, instance, root=None, path="$"):
    """The list of violations of instance against schema, each prefixed by its JSON path."""
    root = schema if root is None else root
    if schema is True:
        return []
    if schema is False:
        return ["%s: not allowed here" % path]
    errs = []
    if "$ref" in schema:
        errs += validate(_resolve(root, schema["$ref"]), instance, root, path)
    t = schema.get("type")
    if t is not None:
        names = [t] if isinstance(t, str) else t
        if not any(_type_ok(instance, n) for n in names):
            return errs + ["%s: %s is not of type %s" % (path, _short(instance), "|".join(names))]
    if "enum" in schema and not any(_equal(instance, e) for e in schema["enum"]):
        errs.append("%s: %s is not one of %s" % (path, _short(instance), schema["enum"]))
    if "const" in schema and not _equal(instance, schema["const"]):
        errs.append("%s: %s is not %r" % (path, _short(instance), schema["const"]))
    if isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            errs.append("%s: shorter than %d" % (path, schema["minLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errs.append("%s: %s does not match %s" % (path, _short(instance), schema["pattern"]))
    if _type_ok(instance, "number") and "minimum" in schema and instance < schema["minimum"]:
        errs.append("%s: %s is below %s" % (path, instance, schema["minimum"]))
    if isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            errs.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "items" in schema:
            for i, v in enumerate(instance):
                errs += validate(schema["items"], v, root, "%s[%d]" % (path, i))
        if "contains" in schema and not any(not validate(schema["contains"], v, root) for v in instance):
            errs.append("%s: no item matches the required one (%s)" % (path, _short(schema["contains"])))
    if isinstance(instance, dict):
        for k in schema.get("required", []):
            if k not in instance:
                errs.append("%s: missing required key %r" % (path, k))
        props = schema.get("properties", {})
        for k, v in instance.items():
            if k in props:
                errs += validate(props[k], v, root, "%s.%s" % (path, k))
            elif "additionalProperties" in schema:
                errs += validate(schema["additionalProperties"], v, root, "%s.%s" % (path, k))
    for sub in schema.get("allOf", []):
        errs += validate(sub, instance, root, path)
    if "anyOf" in schema:
        tries = [validate(sub, instance, root, path) for sub in schema["anyOf"]]
        if all(tries):
            errs.append("%s: matches none of anyOf: %s" % (path, "; or ".join(e[0] for e in tries)))
    if "not" in schema and not validate(schema["not"], instance, root, path):
        errs.append("%s: matches what is forbidden (%s)" % (path, _short(schema["not"])))
    if "if" in schema:
        branch = "then" if not validate(schema["if"], instance, root, path) else "else"
        if branch in schema:
            errs += validate(schema[branch], instance, root, path)
    return errs


def _short(v):
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 80 else s[:77] + "..."


# ---- what the relay emits, by format --------------------------------------------------------

_cache = {}


def schema_for(fmt):
    """The schema of one pushed document of a target format, or None (canonical has none)."""
    name = {"gwi_json_1.1": "gwi_json_1.1", "titanos": "titanos"}.get(fmt)
    if name is None:
        return None
    if name not in _cache:
        _cache[name] = load(name)
    return _cache[name]


def check_document(fmt, body):
    """Violations of one pushed body (bytes or a parsed document) for a target format."""
    schema = schema_for(fmt)
    if schema is None:
        return []
    if isinstance(body, (bytes, str)):
        if not body:
            return []  # a DELETE, or a request with no document
        try:
            body = json.loads(body)
        except ValueError as e:
            return ["$: not JSON (%s)" % e]
    return validate(schema, body)


def main(argv):
    if len(argv) < 3:
        print("usage: schemacheck.py SCHEMA FILE...", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    check_schema(schema)
    bad = 0
    for name in argv[2:]:
        with open(name, encoding="utf-8") as f:
            errs = validate(schema, json.load(f))
        for e in errs:
            print("%s: %s" % (name, e))
        bad += bool(errs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
