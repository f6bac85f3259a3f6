"""The Redis layout of docs/redis.md, once for every Python test and bench that reads or writes
it directly (the C side's single definition is queue/delivery.c, queue/ops.c and queue/lua):
key names, the delivery id, and the stream entry the relay's enqueue.lua writes."""
import hashlib
import json
import time

PREFIX = "relay"


def delivery_id(source, event_id, target):
    """"dlv_" + the first 24 hex digits of SHA-256(source NUL event_id NUL target); pinned in
    tests/unit/test_delivery.c: delivery_id("encora", "evt_1", "canon") ==
    "dlv_6c055ebd01ef68cc88fd4b9f"."""
    h = hashlib.sha256(("%s\0%s\0%s" % (source, event_id, target)).encode()).hexdigest()
    return "dlv_" + h[:24]


def events_key(prefix=PREFIX):
    return "%s:events" % prefix


def record_key(did, prefix=PREFIX):
    return "%s:d:%s" % (prefix, did)


def attempts_key(did, prefix=PREFIX):
    return "%s:d:%s:attempts" % (prefix, did)


def attempts(redis, did, prefix=PREFIX):
    """Every attempt of a delivery, oldest first, as dicts: P:d:{id}:attempts, then the latest
    one when the record still holds it in its own fields (attempt_at set; queue/lua/prelude.lua,
    attempt_json)."""
    out = [json.loads(a) for a in redis.cmd("LRANGE", attempts_key(did, prefix), 0, -1) or []]
    r = redis.cmd("HMGET", record_key(did, prefix), "attempt_at", "attempt_count", "http_status",
                  "error_code", "error_message", "attempt_ms")
    if r and r[0]:
        out.append({"at": int(r[0]), "attempt": int(r[1] or 0),
                    "http_status": int(r[2]) if r[2] else None,
                    "error": {"code": r[3], "message": r[4] or ""} if r[3] else None,
                    "duration_ms": int(r[5] or 0)})
    return out


def due_key(target, prefix=PREFIX):
    return "%s:due:%s" % (prefix, target)


def title_key(target, source, content_id, prefix=PREFIX):
    return "%s:title:%s:%s:%s" % (prefix, target, source, content_id)


def stats_key(target, prefix=PREFIX):
    return "%s:stats:%s" % (prefix, target)


def key(name, prefix=PREFIX):
    """The single keys: lease, failed, log, paused, metrics."""
    return "%s:%s" % (prefix, name)


# The values of a relay's P:events entry, in the order its one field "e" joins them with NUL
# bytes (queue/enqueue.c; queue/delivery.c splits them).
EVENT_VALUES = ("source", "event_id", "type", "content_type", "content_id", "show_id",
                "season_number", "episode_number", "created_at", "received_at", "request_id")


def joined_entry(fields):
    """["e", value]: the entry enqueue.lua writes for these fields (a dict of EVENT_VALUES)."""
    return ["e", "\0".join(fields.get(k, "") for k in EVENT_VALUES)]


def entry_fields(flat):
    """A P:events entry's fields as a dict, from XRANGE's flat list: the relay's joined entry
    split (every value present, a short entry's missing ones empty), or named fields (a
    sync's) as they are."""
    if len(flat) == 2 and flat[0] == "e":
        h = joined_fields(flat, "e", EVENT_VALUES)
        return {k: h.get(k, "") for k in EVENT_VALUES}
    return dict(zip(flat[::2], flat[1::2]))


# The values of a delivery record that fanout.lua joins with NUL bytes in its field "e", in
# order (queue/lua/prelude.lua, REC).
RECORD_VALUES = ("target", "source", "content_id", "order_ts", "order_seq", "received_at",
                 "created_at", "event_id", "event_type", "content_type", "request_id", "show_id",
                 "season_number", "episode_number")
RECORD_OPTIONAL = ("show_id", "season_number", "episode_number")


def joined_fields(flat, field, names, optional=()):
    """A hash as a dict, from HGETALL's flat list, the way the scripts read it (prelude.lua,
    joined_expand): its joined field split into named ones (empty optional ones left out);
    a hash written before the joined field (named fields) as it is."""
    h = dict(zip(flat[::2], flat[1::2]))
    if field in h:
        for name, value in zip(names, h.pop(field).split("\0")):
            if value or name not in optional:
                h[name] = value
    return h


def record_fields(flat, did=None):
    """A delivery record as a dict (prelude.lua, rec_table): "e" split, the id added, and
    updated_at (absent until the record changes) = created_at."""
    rec = joined_fields(flat, "e", RECORD_VALUES, RECORD_OPTIONAL)
    if rec and did is not None:
        rec.setdefault("id", did)
    if rec and "created_at" in rec:
        rec.setdefault("updated_at", rec["created_at"])
    return rec


def stream_entry(source, event_id, etype, content_type, content_id, created_at=None,
                 received_at=None, **extra):
    """The fields of one P:events entry (all strings): what enqueue.lua joins, with extra
    named fields such as a sync's targets."""
    now = int(time.time() * 1000)
    fields = {"source": source, "event_id": event_id, "type": etype,
              "content_type": content_type, "content_id": content_id, "show_id": "",
              "season_number": "", "episode_number": "",
              "created_at": "" if created_at is None else str(created_at),
              "received_at": str(now if received_at is None else received_at),
              "request_id": "req-" + event_id}
    fields.update({k: str(v) for k, v in extra.items()})
    return fields


def catalog_document(redis, target, source, content_id, prefix=PREFIX):
    """The document a target's catalog holds for a title (its C:docs entry at the title's seq,
    stored as 'L' or 'R', the seq, ':', the JSON) as (status letter, parsed JSON), or None."""
    C = "%s:cat:%s" % (prefix, target)
    seq = redis.cmd("HGET", "%s:e:%s:%s" % (C, source, content_id), "seq")
    if seq is None:
        return None
    got = redis.cmd("ZRANGEBYSCORE", C + ":docs", seq, seq)
    if not got:
        return None
    stored = got[0]
    return stored[0], json.loads(stored[stored.index(":") + 1:])
