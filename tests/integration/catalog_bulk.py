"""Bulk catalog loads through the relay's own catalog write (queue/lua/catalog_load.lua, which
includes catalog_lib.lua exactly as the embedded copy does). For tests and bench/feeds: what
it writes is byte for byte what the worker's completion writes for the same title."""
import os
import re
import socket

SRC = os.environ.get("RELAY_SRC_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
LUA = os.path.join(SRC, "queue", "lua")


def prelude_for(prelude, body):
    """The units of prelude.lua that body uses, directly or through other units, in prelude
    order: queue/embed_lua.cmake's rule (units are separated by blank lines; a unit is kept when
    the name it defines appears in the body or in a unit kept)."""
    units = prelude.split("\n\n")
    names = []
    for u in units:
        m = re.search(r"(^|\n)local (function )?([A-Za-z_][A-Za-z0-9_]*)", u)
        names.append(m.group(3) if m else None)
    need, kept, changed = "\n" + body + "\n", set(), True
    while changed:
        changed = False
        for i, name in enumerate(names):
            if (i not in kept and name is not None and
                    re.search(r"[^A-Za-z0-9_.]" + name + r"[^A-Za-z0-9_]", need)):
                kept.add(i)
                need += "\n" + units[i] + "\n"
                changed = True
    return "".join(u + "\n\n" for i, u in enumerate(units) if names[i] is None or i in kept)


def script(name):
    """The script's text as queue/embed_lua.cmake embeds it: the prelude.lua units it uses
    first, then the script with its --#include lines resolved."""
    with open(os.path.join(LUA, name + ".lua")) as f:
        text = f.read()
    with open(os.path.join(LUA, "prelude.lua")) as f:
        prelude = f.read()
    for lib in re.findall(r"--#include ([a-z_]+)", text):
        with open(os.path.join(LUA, lib + ".lua")) as f:
            text = text.replace("--#include " + lib, f.read())
    return prelude_for(prelude, text) + text


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def _read(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind in (b"+", b":"):
        return rest.decode()
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise RuntimeError("bad reply %r" % line)


def entry(source, content_id, doc, status="live", order_ts=0, order_seq="", updated_at="",
          content_type="movie", markets="", delivery_id=""):
    """One title for load(): doc is the per-title document's JSON text."""
    return [source, content_id, status, doc, str(order_ts), order_seq, updated_at, content_type,
            markets, delivery_id]


def load(port, target, entries, prefix="relay", retention_s=2592000, batch=200):
    """Writes entries (from entry()) into target's catalog, pipelined in batches. Returns the
    outcomes (changed/unchanged/older/not_in_catalog), in order."""
    text = script("catalog_load")
    outcomes = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        f = s.makefile("rb")
        s.sendall(_encode(["SCRIPT", "LOAD", text]))
        sha = _read(f)
        calls = []
        for i in range(0, len(entries), batch):
            part = entries[i:i + batch]
            args = ["EVALSHA", sha, "0", prefix, target, str(retention_s), str(len(part))]
            for e in part:
                args.extend(e)
            calls.append(_encode(args))
        # a few calls in flight at once: the loader stays ahead of Redis without buffering all
        window = 8
        sent = 0
        for i in range(len(calls)):
            while sent < len(calls) and sent < i + window:
                s.sendall(calls[sent])
                sent += 1
            outcomes.extend(_read(f))
    return outcomes
