"""Writes delivery records straight into Redis, following docs/redis.md's layout, so the
operator tests (relayctl, admin API, metrics) do not depend on the worker's timing."""
import json
import time

from layout import (attempts_key, delivery_id, due_key, key, record_fields,  # noqa: F401
                    record_key, stats_key)


def now_ms():
    return int(time.time() * 1000)


def seed_delivery(redis, event_id, target="canon", source="encora", status="failed",
                  created_ms=None, attempts=None, content_id="497f6eca-6276-4993-bfeb-53cbbbba6f08",
                  content_type="movie", http_status=None, error=None, next_retry_ms=None,
                  leased=False, prefix="relay", retention_s=604800, **extra):
    """Creates P:d:{id} (+ attempts), indexes it in P:log, P:due/P:failed/P:lease as its
    status says and counts it in P:stats. attempts: list of (http_status, error_code|None,
    duration_ms). Returns the delivery id."""
    P = prefix
    did = delivery_id(source, event_id, target)
    created = created_ms if created_ms is not None else now_ms()
    attempts = attempts or []
    rec = {
        "id": did, "event_id": event_id, "source": source, "target": target,
        "event_type": "content.published", "content_type": content_type,
        "content_id": content_id, "show_id": "", "season_number": "", "episode_number": "",
        "status": status, "attempt_count": str(len(attempts)),
        "http_status": "" if http_status is None else str(http_status),
        "error_code": error[0] if error else "", "error_message": error[1] if error else "",
        "response_snippet": "", "next_retry_at": "", "created_at": str(created),
        "updated_at": str(created + 1000 * len(attempts)), "delivered_at": "",
        "order_ts": str(created), "order_seq": "%d-0" % created, "received_at": str(created),
        "request_id": "req_seed", "lease": "", "superseded_by": "",
    }
    if status == "delivered":
        rec["delivered_at"] = rec["updated_at"]
    if status in ("pending", "retrying"):
        rec["next_retry_at"] = str(next_retry_ms if next_retry_ms is not None else created)
    rec.update({k: str(v) for k, v in extra.items()})
    args = []
    for k, v in rec.items():
        args += [k, v]
    redis.cmd("HSET", record_key(did, P), *args)
    redis.cmd("EXPIRE", record_key(did, P), retention_s)
    for i, (hs, code, dur) in enumerate(attempts):
        a = {"at": created + 1000 * i, "attempt": i + 1,
             "http_status": hs, "error": {"code": code, "message": "attempt %d failed" % (i + 1)}
             if code else None, "duration_ms": dur}
        redis.cmd("RPUSH", attempts_key(did, P), json.dumps(a))
    redis.cmd("ZADD", key("log", P), created, did)
    if status in ("pending", "retrying"):
        redis.cmd("ZADD", due_key(target, P), int(rec["next_retry_at"]), did)
    if status == "failed":
        redis.cmd("ZADD", key("failed", P), int(rec["updated_at"]), did)
    if leased:
        redis.cmd("ZREM", due_key(target, P), did)
        redis.cmd("ZADD", key("lease", P), now_ms() + 30000, did)
        redis.cmd("HSET", record_key(did, P), "lease", "tok")
    redis.cmd("HINCRBY", stats_key(target, P), status, 1)
    return did


def record(redis, did, prefix="relay"):
    return record_fields(redis.cmd("HGETALL", record_key(did, prefix)) or [], did)


def stats_hash(redis, target, prefix="relay"):
    flat = redis.cmd("HGETALL", stats_key(target, prefix))
    return {k: int(v) for k, v in zip(flat[::2], flat[1::2])}
