"""Stub CMSs for the catalog sync tests: an EncoraStream admin API and a Movida titles API
with programmable, paged catalogs, built from the shared fixtures (so that relay-worker can
fetch and normalize every title it lists), plus fault injection per listing request."""
import copy
import json
import re
import threading
import urllib.parse

from worker_stubs import StubCMS, fixture

MOVIE = json.loads(fixture("encorastream/movie.json"))
SHOW = json.loads(fixture("encorastream/show.json"))
EPISODE = json.loads(fixture("encorastream/episode.json"))
FEATURE = json.loads(fixture("movida/title-feature.json"))
M_EPISODE = json.loads(fixture("movida/title-episode.json"))
M_GROUP = json.loads(fixture("movida/title-group-series.json"))


def iso(sec):
    """An RFC 3339 time sec seconds after 2026-11-01T00:00:00Z."""
    import datetime
    t = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=sec)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class SyncCMS(StubCMS):
    """kind 'encora' (base path /v2) or 'movida' (base path /api).

    Encora catalog: movies {id: updated_at}, shows {id: {"updated_at", "seasons": {n: {ep_no:
    (episode id, updated_at)}}}}. Movida catalog: titles {id: version} (features), episodes
    {id: (title group id, version)}, groups {title group id: version}; noise {id: value}: a
    listed field (acl_hash) that no partner's document shows.
    faults: list of [predicate(path, page_index), [(status, headers, body), ...]]; a listing
    request matching a predicate gets the next answer of its list (until the list is empty)."""

    def __init__(self, kind, auth):
        super().__init__({}, auth)
        self.kind = kind
        self.movies, self.shows, self.titles = {}, {}, {}
        self.episodes, self.groups, self.noise = {}, {}, {}
        self.faults = []
        self.list_delay = 0.0
        self.cat_lock = threading.Lock()

    # -- catalog helpers
    def add_movies(self, n, start=0, updated=0):
        for i in range(start, start + n):
            self.movies["m-%05d" % i] = iso(updated + i)

    def add_shows(self, n, seasons=2, episodes=3, updated=0):
        for i in range(n):
            sid = "s-%03d" % i
            self.shows[sid] = {"updated_at": iso(updated + i), "seasons": {
                sn: {ep: ("e-%03d-%d-%02d" % (i, sn, ep), iso(updated + 1000 + i * 100 + sn * 10 + ep))
                     for ep in range(1, episodes + 1)} for sn in range(1, seasons + 1)}}

    def encora_ids(self):
        ids = set(self.movies) | set(self.shows)
        for s in self.shows.values():
            for eps in s["seasons"].values():
                ids |= {e[0] for e in eps.values()}
        return ids

    def list_requests(self):
        return [r for r in self.got() if "?" in r["path"] and ("limit=" in r["path"] or "pagination" in r["path"])
                or r["path"].endswith("/seasons")]

    # -- serving
    def _fault(self, path, page):
        with self.lock:
            for pred, answers in self.faults:
                if answers and pred(path, page):
                    return answers.pop(0)
        return None

    def _handle(self, h, body):
        rec = self._record(h, body)
        if not self._auth_ok(h):
            return self._unauth(h, rec)
        rec["auth"] = True
        u = urllib.parse.urlsplit(h.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with self.cat_lock:
            ans = self.encora(u.path, q) if self.kind == "encora" else self.movida(u.path, q)
        if ans is None:
            return self._reply(h, 404, b'{"error":"not found"}', {"Content-Type": "application/json"})
        kind, page, doc = ans
        if kind == "list":
            if self.list_delay:
                import time
                time.sleep(self.list_delay)
            f = self._fault(u.path, page)
            if f is not None:
                status, headers, data = f
                return self._reply(h, status, data, dict({"Content-Type": "application/json"}, **headers))
        try:
            self._reply(h, 200, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the worker was killed by the test

    def _unauth(self, h, rec):
        rec["auth"] = False
        hdrs = {}
        if self.auth[0] == "digest":
            import secrets
            nonce = secrets.token_hex(8)
            self.nonces.add(nonce)
            hdrs["WWW-Authenticate"] = 'Digest realm="%s", qop="auth", nonce="%s", algorithm=MD5' % (
                self.REALM, nonce)
        return self._reply(h, 401, b'{"error":"unauthorized"}', hdrs)

    @staticmethod
    def _page(items, q, limit):
        off = int(q.get("cursor") or 0)
        nxt = off + limit if off + limit < len(items) else None
        return off // limit, {"data": items[off:off + limit],
                              "meta": {"next_cursor": None if nxt is None else str(nxt), "total": len(items)}}

    def encora(self, path, q):
        m = re.fullmatch(r"/v2/admin/(movies|shows)", path)
        if m:
            if q.get("status") != "published" or q.get("limit") != "100":
                return None
            if m.group(1) == "movies":
                items = [{"id": k, "title": "Movie " + k, "status": "published", "updated_at": v}
                         for k, v in sorted(self.movies.items())]
            else:
                items = [{"id": k, "title": "Show " + k, "status": "published", "updated_at": v["updated_at"]}
                         for k, v in sorted(self.shows.items())]
            page, doc = self._page(items, q, 100)
            return "list", page, doc
        m = re.fullmatch(r"/v2/admin/shows/([^/]+)/seasons", path)
        if m and m.group(1) in self.shows:
            sid = m.group(1)
            items = [{"id": "%s-season-%d" % (sid, n), "show_id": sid, "season_number": n,
                      "title": "Season %d" % n, "episode_count": len(eps)}
                     for n, eps in sorted(self.shows[sid]["seasons"].items())]
            return "list", 0, {"data": items, "meta": {"next_cursor": None}}
        m = re.fullmatch(r"/v2/admin/shows/([^/]+)/seasons/(\d+)/episodes", path)
        if m and m.group(1) in self.shows and int(m.group(2)) in self.shows[m.group(1)]["seasons"]:
            sid, sn = m.group(1), int(m.group(2))
            eps = self.shows[sid]["seasons"][sn]
            items = [{"id": e[0], "show_id": sid, "season_number": sn, "episode_number": n,
                      "status": "published", "updated_at": e[1]} for n, e in sorted(eps.items())]
            page, doc = self._page(items, q, 100)
            return "list", page, doc
        m = re.fullmatch(r"/v2/admin/movies/([^/]+)", path)
        if m and m.group(1) in self.movies:
            d = copy.deepcopy(MOVIE)
            d.update(id=m.group(1), title="Movie " + m.group(1), slug=m.group(1), updated_at=self.movies[m.group(1)])
            return "doc", 0, d
        m = re.fullmatch(r"/v2/admin/shows/([^/]+)", path)
        if m and m.group(1) in self.shows:
            d = copy.deepcopy(SHOW)
            d.update(id=m.group(1), title="Show " + m.group(1), slug=m.group(1),
                     updated_at=self.shows[m.group(1)]["updated_at"])
            return "doc", 0, d
        m = re.fullmatch(r"/v2/admin/shows/([^/]+)/seasons/(\d+)/episodes/(\d+)", path)
        if m and m.group(1) in self.shows:
            eps = self.shows[m.group(1)]["seasons"].get(int(m.group(2)), {})
            e = eps.get(int(m.group(3)))
            if e:
                d = copy.deepcopy(EPISODE)
                d.update(id=e[0], show_id=m.group(1), season_number=int(m.group(2)),
                         episode_number=int(m.group(3)), updated_at=e[1])
                return "doc", 0, d
        return None

    def movida_doc(self, tid):
        if tid in self.episodes:
            group, version = self.episodes[tid]
            d = copy.deepcopy(M_EPISODE)
            d["series_link"] = self.url("/api/title_groups/%s" % group)
            d["name"] = "Episode %s v%d" % (tid, version)
        else:
            d = copy.deepcopy(FEATURE)
            d["name"] = d["title"] = "Feature %s v%d" % (tid, self.titles[tid])
        d["id"] = int(tid)
        d["self_link"] = self.url("/api/titles/%s" % tid)
        if tid in self.noise:
            d["acl_hash"] = self.noise[tid]
        return d

    def group_requests(self):
        return [r for r in self.got() if r["path"].startswith("/api/title_groups/") and r.get("auth")]

    def movida(self, path, q):
        if path == "/api/titles":
            if q.get("pagination") != "true" or q.get("per_page") != "200":
                return None
            ids = sorted(set(self.titles) | set(self.episodes), key=int)
            page = int(q.get("page") or 1)
            chunk = ids[(page - 1) * 200:page * 200]
            doc = {"total_entries": len(ids), "entries": [self.movida_doc(t) for t in chunk]}
            if page * 200 < len(ids):
                doc["next_link"] = self.url("/api/titles?pagination=true&per_page=200&page=%d" % (page + 1))
            return "list", page - 1, doc
        m = re.fullmatch(r"/api/titles/(\d+)", path)
        if m and (m.group(1) in self.titles or m.group(1) in self.episodes):
            return "doc", 0, self.movida_doc(m.group(1))
        m = re.fullmatch(r"/api/title_groups/(\d+)", path)
        if m and m.group(1) in self.groups:
            d = copy.deepcopy(M_GROUP)
            d["id"] = int(m.group(1))
            d["name"] = "Series %s v%d" % (m.group(1), self.groups[m.group(1)])
            return "doc", 0, d
        return None
