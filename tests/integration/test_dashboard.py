"""The operator dashboard, GET /admin/ui: how the relay serves it, and a real browser (Debian's
chromium, headless, driven over the DevTools protocol) going through an operator's task on a
real relay + relay-worker: sign in, see the targets, find failed deliveries by date range, open
one, redeliver it and see it delivered. Screenshots go to <build>/artifacts/dashboard/."""
import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "browser"))
import cdp  # noqa: E402
from harness import (BIN, SECRETS, Proc, Redis, RelayTestCase, base_config, encora_event,  # noqa: E402
                     free_port, main, post_webhook, request, sign_encora, wait_port, wait_ready,
                     wait_until)
from seed import now_ms, seed_delivery  # noqa: E402
from worker_stubs import StubPartner  # noqa: E402

TOKEN = SECRETS["RELAY_ADMIN_TOKEN"]
AUTH = {"Authorization": "Bearer " + TOKEN}
ARTIFACTS = os.path.join(BIN, "artifacts", "dashboard")


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%S")


class ServingTest(RelayTestCase):
    """The page itself: no token needed (it holds no data), locked down, self-contained."""

    def test_page_is_served_without_token(self):
        for path in ("/admin/ui", "/admin/ui/"):
            r = request(self.port, "GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")
            self.assertIn(b"<title>relay", r.body)
            csp = r.headers["content-security-policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("connect-src 'self'", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertEqual(r.headers["x-content-type-options"], "nosniff")
            self.assertIn("x-request-id", r.headers)
        head = request(self.port, "HEAD", "/admin/ui")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")
        r = request(self.port, "POST", "/admin/ui", body=b"", headers=AUTH)
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["allow"], "GET")
        # the rest of /admin still wants the token
        self.assertEqual(request(self.port, "GET", "/admin/stats").status, 401)
        self.assertEqual(request(self.port, "GET", "/admin/uix").status, 401)

    def test_page_is_self_contained(self):
        page = request(self.port, "GET", "/admin/ui").body.decode()
        with open(os.path.join(HERE, "..", "..", "relay", "ui", "index.html"), encoding="utf-8") as f:
            self.assertEqual(page, f.read(), "the binary serves the page it was built from")
        # nothing loaded from elsewhere: no remote src/href, no @import, no url() of a file
        self.assertIsNone(re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page))
        self.assertNotIn("@import", page)
        self.assertIsNone(re.search(r"url\(\s*['\"]?(?!data:)", page))
        self.assertNotIn("innerHTML", page, "API answers must go in as text, never markup")
        self.assertIn("sessionStorage", page)

    def test_404_without_admin_token(self):
        workdir = tempfile.mkdtemp(prefix="relay-it-")
        redis = Redis(workdir).start()
        port = free_port()
        cfg = base_config(redis.port, port)
        del cfg["admin"]
        path = os.path.join(workdir, "relay.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        relay = Proc(workdir, "relay", path)
        try:
            wait_port(port)
            wait_ready(port)
            r = request(port, "GET", "/admin/ui")
            self.assertEqual(r.status, 404)
            self.assertEqual(r.json()["code"], "not_found")
        finally:
            relay.stop()
            redis.kill()
            shutil.rmtree(workdir, ignore_errors=True)


@unittest.skipUnless(cdp.available() or os.environ.get("RELAY_REQUIRE_BROWSER") != "0",
                     "chromium is not installed (scripts/deps.sh installs it)")
class BrowserTest(RelayTestCase):
    """An operator's session in a real headless chromium against relay + relay-worker."""

    partner = None

    @classmethod
    def setUpClass(cls):
        if not cdp.available():
            raise AssertionError("chromium is not installed at %s: run scripts/deps.sh "
                                 "(RELAY_REQUIRE_BROWSER=0 skips this test)" % cdp.CHROMIUM)
        cls.partner = StubPartner().start()
        base = "http://127.0.0.1:%d" % cls.partner.port
        cls.config_extra = {
            "targets": {
                "gowatchit": {"format": "canonical", "url": base + "/gwi/{id}",
                              "unpublish": "delete"},
                "titanos": {"format": "canonical", "url": base + "/titanos/{id}", "method": "PUT",
                            "unpublish": "delete"},
            },
            "retry": {"max_attempts": 2, "base_delay_ms": 50, "max_delay_ms": 100},
        }
        # EncoraStream's API on the stub, so that a sync run lists from it (slowly: it is
        # cancelled from the page while its first page is out)
        sources = base_config(0, 0)["sources"]
        sources["encora"]["api"]["base_url"] = base + "/cms/v2"
        cls.config_extra["sources"] = sources
        super().setUpClass()
        cls.worker = Proc(cls.workdir, "relay-worker", cls.config_path)
        cls.browser = cdp.Browser()

    @classmethod
    def tearDownClass(cls):
        b = getattr(cls, "browser", None)
        if b:
            b.close()
        if getattr(cls, "worker", None):
            cls.worker.stop()
        super().tearDownClass()
        if cls.partner:
            cls.partner.stop()

    def api(self, method, path, body=None, status=200):
        h = dict(AUTH)
        if body is not None:
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        r = request(self.port, method, path, body=body, headers=h)
        self.assertEqual(r.status, status, r.body)
        return r.json()

    def shot(self, name):
        return self.browser.screenshot(os.path.join(ARTIFACTS, name + ".png"))

    def rows(self, table):
        return self.browser.js("""[...document.querySelectorAll('#%s tbody tr')].map(
            tr => [...tr.cells].map(c => c.textContent.trim()))""" % table)

    def submit_search(self):
        # The previous answer's text goes first, so the wait below sees this search's answer.
        self.browser.js("document.getElementById('log-info').textContent = ''")
        self.browser.click("#search-submit")
        self.browser.wait("document.getElementById('log-info').textContent !== '' || "
                          "!document.getElementById('search-error').classList.contains('hidden')",
                          what="the search to answer")

    def test_operator_session(self):
        b = self.browser
        # Older failures, three days back: outside the date range searched below.
        old = now_ms() - 3 * 86400 * 1000
        old_ids = {seed_delivery(self.redis, "evt_old_%d" % i, target="gowatchit",
                                 created_ms=old + i * 60000, event_type="content.unpublished",
                                 content_id="0ld00000-0000-4000-8000-00000000000%d" % i,
                                 attempts=[(503, "http_5xx", 12)] * 2, http_status=503,
                                 error=("http_5xx", "partner answered 503"))
                   for i in range(3)}
        # Today: gowatchit is down, titanos takes everything.
        self.partner.status["/gwi/"] = 500
        for i in range(3):
            body = encora_event("evt_now_%d" % i, etype="content.unpublished",
                                content_id="6f0c1d2e-0000-4000-8000-00000000000%d" % i)
            self.assertEqual(post_webhook(self.port, "encora", body, sign_encora(body)).status, 202)

        def failed_now():
            d = self.api("GET", "/admin/deliveries?status=failed&target=gowatchit&limit=50")["data"]
            new = [r for r in d if r["id"] not in old_ids]
            return new if len(new) == 3 else None
        new_failed = wait_until(failed_now, timeout=60, what="today's deliveries to fail:\n" +
                                self.worker.output()[-3000:])
        wait_until(lambda: self.api("GET", "/admin/stats")["targets"]["titanos"]["delivered"] == 3,
                   timeout=30, what="titanos deliveries")

        # 1. load: the page asks for the token
        b.goto("http://127.0.0.1:%d/admin/ui" % self.port)
        b.wait("!document.getElementById('login').classList.contains('hidden')", what="sign-in form")
        self.assertTrue(b.js("document.getElementById('app').classList.contains('hidden')"))
        self.shot("01-sign-in")
        # a wrong token is refused and not kept
        b.type("#token", "not-the-token")
        b.press_enter()
        b.wait("document.getElementById('login-error').textContent.includes('401')",
               what="the refusal of a wrong token")
        self.assertIsNone(b.js("sessionStorage.getItem('relay.admin.token')"))

        # 2. enter the token: the targets show
        b.type("#token", TOKEN)
        b.click("#login-submit")
        b.wait("document.querySelectorAll('#targets-table tbody tr').length === 2", what="targets")
        self.assertEqual(b.js("sessionStorage.getItem('relay.admin.token')"), TOKEN)
        b.wait("document.querySelector('#targets-table tr[data-target=gowatchit]')"
               ".cells[7].textContent === '6'", what="gowatchit's failed count")
        rows = {r[0]: r for r in self.rows("targets-table")}
        self.assertEqual(set(rows), {"gowatchit", "titanos"})
        self.assertEqual(rows["titanos"][6], "3")  # delivered
        self.assertEqual(rows["gowatchit"][1], "push")
        self.assertEqual(rows["gowatchit"][3], "active")
        # 12 retryable failures in all, fewer than breaker.failures (20): still closed
        self.assertEqual(rows["gowatchit"][2], "closed")
        # last delivered / last error come from the log
        b.wait("document.querySelector('#targets-table tr[data-target=gowatchit]')"
               ".cells[10].textContent.includes('partner answered 500')", what="gowatchit's last error")
        b.wait("document.querySelector('#targets-table tr[data-target=titanos]')"
               ".cells[9].textContent.includes('ago')", what="titanos's last delivery")
        b.wait("document.getElementById('q-failed').textContent === '6'", what="queue cards")
        b.wait("document.querySelectorAll('#failed-table tbody tr').length === 6",
               what="failed deliveries list")
        # the chart has drawn its lines
        b.wait("document.querySelectorAll('#chart-depth polyline').length === 4", what="chart")
        self.shot("02-overview")

        # 3. search failed deliveries of gowatchit created in the last hour
        b.js("document.getElementById('f-status').value = 'failed'")
        b.js("document.getElementById('f-target').value = 'gowatchit'")
        b.js("document.getElementById('f-since').value = %s" % json.dumps(iso(now_ms() - 3600000)))
        b.js("document.getElementById('f-until').value = %s" % json.dumps(iso(now_ms() + 3600000)))
        self.submit_search()
        b.wait("document.getElementById('log-info').textContent.includes('3 shown')",
               what="the search result")
        found = [r[0] for r in self.rows("log-table")]
        self.assertEqual(sorted(found), sorted(r["id"] for r in new_failed))
        self.assertFalse(set(found) & old_ids)
        self.assertTrue(all(r[1] == "failed" and r[2] == "gowatchit" for r in self.rows("log-table")))
        # the old ones are found by their own range, one per page
        b.js("document.getElementById('f-since').value = %s" % json.dumps(iso(old - 60000)))
        b.js("document.getElementById('f-until').value = %s" % json.dumps(iso(old + 86400000)))
        b.js("document.getElementById('f-limit').append(new Option('1'));"
             "document.getElementById('f-limit').value = '1'")
        self.submit_search()
        pages = []
        for i in range(3):
            b.wait("document.getElementById('log-info').textContent.startsWith('page %d ')" % (i + 1),
                   what="page %d" % (i + 1))
            pages += [r[0] for r in self.rows("log-table")]
            if i < 2:
                b.click("#log-next")
        self.assertEqual(set(pages), old_ids)
        self.assertTrue(b.js("document.getElementById('log-next').disabled"))
        # back to today's range
        b.js("document.getElementById('f-limit').value = '50'")
        b.js("document.getElementById('f-since').value = %s" % json.dumps(iso(now_ms() - 3600000)))
        b.js("document.getElementById('f-until').value = ''")
        self.submit_search()
        b.wait("document.getElementById('log-info').textContent.includes('3 shown')", what="search")
        self.shot("03-search")
        # a bad range is shown as the API's refusal
        b.js("document.getElementById('f-until').value = %s" % json.dumps(iso(now_ms() - 7200000)))
        self.submit_search()
        b.wait("!document.getElementById('search-error').classList.contains('hidden')",
               what="the refusal of a reversed range")
        self.assertIn("invalid_parameter", b.js("document.getElementById('search-error').textContent"))
        b.js("document.getElementById('f-until').value = ''")
        self.submit_search()
        b.wait("document.getElementById('search-error').classList.contains('hidden')", what="search")

        # 4. open one: its attempts are listed
        target_id = found[0]
        b.click("#log-table tr[data-id=%s] a" % target_id)
        b.wait("document.getElementById('detail').open && "
               "document.getElementById('d-id').textContent === %s" % json.dumps(target_id),
               what="the delivery's detail")
        b.wait("document.querySelectorAll('#d-attempts tbody tr').length === 2", what="attempts")
        attempts = self.rows("d-attempts")
        self.assertEqual([a[2] for a in attempts], ["500", "500"])
        self.assertEqual(b.js("document.getElementById('d-status').textContent"), "failed")
        self.shot("04-delivery")

        # 5. the partner is back; redeliver it (confirm first), then see it delivered
        self.partner.status["/gwi/"] = 200
        b.click("#d-redeliver")
        b.wait("document.getElementById('confirm').open", what="the confirmation")
        self.assertEqual(self.partner.got(lambda r: r["status"] == 200
                                          and r["path"].startswith("/gwi/")), [],
                         "nothing is sent before the operator confirms")
        b.click("#c-ok")
        b.wait("document.getElementById('c-status').textContent.includes('HTTP 202')",
               what="the API's answer")
        answer = json.loads(b.js("document.getElementById('c-body').textContent"))
        self.assertEqual((answer["id"], answer["status"]), (target_id, "pending"))
        self.shot("05-redeliver-answer")
        b.click("#c-cancel")
        b.wait("document.getElementById('d-status').textContent === 'delivered'", timeout=30,
               what="the delivery to be delivered")
        b.wait("document.querySelectorAll('#d-attempts tbody tr').length === 3", what="3 attempts")
        self.assertEqual(self.rows("d-attempts")[-1][2], "200")
        self.assertEqual(self.api("GET", "/admin/deliveries/" + target_id)["status"], "delivered")
        self.shot("06-delivered")
        b.click("#d-close")

        # 6. pause and resume a target from its row
        b.click("#targets-table tr[data-target=titanos] button[data-action=pause]")
        b.wait("document.getElementById('confirm').open", what="the confirmation")
        b.click("#c-ok")
        b.wait("document.getElementById('c-status').textContent.includes('HTTP 200')", what="answer")
        self.assertTrue(self.api("GET", "/admin/stats")["targets"]["titanos"]["paused"])
        b.click("#c-cancel")
        b.wait("document.querySelector('#targets-table tr[data-target=titanos]')"
               ".cells[3].textContent === 'paused'", what="the paused badge")
        b.click("#targets-table tr[data-target=titanos] button[data-action=resume]")
        b.wait("document.getElementById('confirm').open", what="the confirmation")
        b.click("#c-ok")
        b.wait("document.getElementById('c-status').textContent.includes('HTTP 200')", what="answer")
        b.click("#c-cancel")
        self.assertFalse(self.api("GET", "/admin/stats")["targets"]["titanos"]["paused"])

        # 7. redeliver every failed delivery of gowatchit; canceling first sends nothing
        b.wait("document.querySelector('#targets-table tr[data-target=gowatchit]')"
               ".cells[7].textContent === '5'", what="the failed count to drop")
        b.click("#targets-table tr[data-target=gowatchit] button[data-action=redeliver-failed]")
        b.wait("document.getElementById('confirm').open", what="the confirmation")
        b.click("#c-cancel")
        self.assertEqual(self.api("GET", "/admin/stats")["queues"]["failed"], 5)
        b.click("#targets-table tr[data-target=gowatchit] button[data-action=redeliver-failed]")
        b.wait("document.getElementById('confirm').open", what="the confirmation")
        b.click("#c-ok")
        b.wait("document.getElementById('c-status').textContent.includes('HTTP 200')", what="answer")
        self.assertEqual(json.loads(b.js("document.getElementById('c-body').textContent")),
                         {"redelivered": 5})
        b.click("#c-cancel")
        wait_until(lambda: self.api("GET", "/admin/stats")["targets"]["gowatchit"]["delivered"] == 6,
                   timeout=30, what="all gowatchit deliveries to go out")
        b.wait("document.getElementById('q-failed').textContent === '0'", what="no failed left")
        self.shot("07-all-delivered")

        # 8. cancel a sync run from its row: the run ends cancelled, nothing removed
        # (the page lists sync runs every 15 s: the first page stays out longer than that)
        self.partner.plan("/cms/", [(200, {}, b'{"data": []}', 45)])
        sync_id = self.api("POST", "/admin/sources/encora/sync", {"targets": ["gowatchit"]},
                           status=202)["sync_id"]
        b.wait("!!document.querySelector('#syncs-table tr[data-key=\"%s\"] "
               "button[data-action=cancel-sync]')" % sync_id, timeout=35,
               what="the running sync's Cancel button")
        b.click("#syncs-table tr[data-key=\"%s\"] button[data-action=cancel-sync]" % sync_id)
        b.wait("document.getElementById('confirm').open", what="the confirmation")
        b.click("#c-ok")
        b.wait("/HTTP 20[02]/.test(document.getElementById('c-status').textContent)",
               what="the API's answer")
        b.click("#c-cancel")
        wait_until(lambda: self.api("GET", "/admin/syncs/" + sync_id)["state"] == "cancelled",
                   timeout=20, what="the run to end cancelled")
        b.wait("document.querySelector('#syncs-table tr[data-key=\"%s\"]').cells[3]"
               ".textContent === 'cancelled'" % sync_id, timeout=20, what="the cancelled badge")
        self.assertEqual(self.api("GET", "/admin/syncs/" + sync_id)["removed"], 0)
        self.shot("08-sync-cancelled")

        # sign out forgets the token
        b.click("#signout")
        b.wait("!document.getElementById('login').classList.contains('hidden')", what="sign-in")
        self.assertIsNone(b.js("sessionStorage.getItem('relay.admin.token')"))
        errors = [c for c in b.console if c.startswith("EXCEPTION")]
        self.assertEqual(errors, [], "the page threw")


if __name__ == "__main__":
    main()
