"""Bulk catalog loads through the relay's own catalog write (queue/lua/catalog_load.lua, which
includes catalog_lib.lua; the text is the build's own embedded copy). For tests and
bench/feeds: what it writes is byte for byte what the worker's completion writes for the same
title."""
import functools
import os
import re
import socket


def embedded(bin_dir=None):
    """name -> script text, exactly as the programs of the build in bin_dir (default: the
    harness's) run it: queue/embed_lua.cmake writes them into the build's lua_scripts.c, with
    the prelude units each uses and its --#include lines resolved."""
    if bin_dir is None:
        import harness  # at call time: a bench points harness.BIN at the build it measures
        bin_dir = harness.BIN
    return dict(_embedded(os.path.abspath(bin_dir)))


@functools.lru_cache(maxsize=None)
def _embedded(bin_dir):
    """embedded()'s reading of lua_scripts.c, once per build (the file is ~1 MB of hex)."""
    with open(os.path.join(bin_dir, "lua_scripts.c")) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r"const char lua_([a-z_]+)\[\] = \{([^}]*)\};", text):
        raw = bytes(int(x, 16) for x in m.group(2).split(",") if x.strip())
        out[m.group(1)] = raw.rstrip(b"\0").decode()
    return out


def script(name):
    """The script's text as the build embeds it."""
    return embedded()[name]


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
