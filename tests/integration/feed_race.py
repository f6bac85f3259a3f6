"""What the feed convergence tests (test_feeds_convergence.py, test_feeds_filters.py) share: a
writer thread that changes, removes and re-publishes random titles while a client pages the
feed, and the client's one feed request."""
import threading
import time
import urllib.parse

import catalog_bulk
from harness import request


class Writer(threading.Thread):
    """Changes, removes and re-publishes random titles of target in random batches (1 to
    batch_max entries) until stopped; keeps model (cid -> what the catalog must hold for it)
    and clock (a one-item list: the last order_ts written). publish() makes a live entry."""

    batch_max, p_remove = 12, 0.3

    def __init__(self, port, rng, titles, model, clock, target):
        super().__init__(daemon=True)
        self.port, self.rng, self.titles, self.model, self.clock = port, rng, titles, model, clock
        self.target = target
        self.stop_flag = threading.Event()
        self.writes = 0
        self.error = None

    def publish(self, cid, version):
        """(the catalog entry that publishes cid at version, its value in the model)"""
        raise NotImplementedError

    def run(self):
        try:
            while not self.stop_flag.is_set():
                batch = []
                for _ in range(self.rng.randint(1, self.batch_max)):
                    cid = self.rng.choice(self.titles)
                    self.clock[0] += 1
                    if self.rng.random() < self.p_remove:
                        batch.append(catalog_bulk.entry("encora", cid, "", status="removed",
                                                        order_ts=self.clock[0]))
                        self.model.pop(cid, None)
                    else:
                        e, self.model[cid] = self.publish(cid, self.clock[0])
                        batch.append(e)
                catalog_bulk.load(self.port, self.target, batch)
                self.writes += len(batch)
                time.sleep(self.rng.random() * 0.004)
        except Exception as e:  # surfaced by the test
            self.error = e


def poll(test, port, feed, headers, params, cursor, state, keep=lambda d: d):
    """One GET /feeds/{feed}?{params}[&cursor=] (test checks it answers 200); applies its
    documents to state: a removal drops the id, anything else sets state[id] = keep(document).
    Returns (next_cursor, has_more, number of documents)."""
    q = list(params)
    if cursor:
        q.append("cursor=" + urllib.parse.quote(cursor))
    r = request(port, "GET", "/feeds/%s?%s" % (feed, "&".join(q)), headers=headers)
    test.assertEqual(r.status, 200, r.body)
    body = r.json()
    for d in body["data"]:
        if d["status"] == "removed":
            state.pop(d["id"], None)
        else:
            state[d["id"]] = keep(d)
    return body["meta"]["next_cursor"], body["meta"]["has_more"], len(body["data"])


def race(test, writer, rng, snapshot, poll, incremental):
    """Starts writer and, racing it, pages the feed's snapshot with snapshot(cursor) until it
    has no more, then polls incrementally with poll(cursor) rng.randint(*incremental) times;
    stops writer (test checks that it failed not and raced the client), then polls until
    nothing more comes. snapshot and poll answer as poll() above. Returns the snapshot's
    pages."""
    writer.start()
    cursor, pages = None, 0
    try:
        while True:
            cursor, more, _ = snapshot(cursor)
            pages += 1
            if not more:
                break
            time.sleep(rng.random() * 0.01)
        for _ in range(rng.randint(*incremental)):
            cursor, more, _ = poll(cursor)
            time.sleep(rng.random() * 0.01)
    finally:
        writer.stop_flag.set()
        writer.join(30)
    test.assertIsNone(writer.error)
    test.assertGreater(writer.writes, 20, "the writer raced the client")
    while True:
        cursor, more, n = poll(cursor)
        if not more and n == 0:
            break
    return pages
