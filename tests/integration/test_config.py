"""The configuration as the real binaries read it: --check-config on the newer keys, and a
redis.url from env:/file: whose password holds '/', '@', '?' and '#', against a real Redis."""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

PASSWORD = "s3cr3t/pa@ss?w#rd-DO-NOT-LOG"


class ConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="relay-config-")
        cls.redis = h.Redis(cls.workdir, appendonly=False).start()
        cls.redis.cmd("CONFIG", "SET", "requirepass", PASSWORD)

    @classmethod
    def tearDownClass(cls):
        cls.redis.kill()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def write(self, cfg, name="relay.json"):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def check(self, cfg, env=None):
        return h.run_tool("relay", self.write(cfg), "--check-config", env=env)

    def test_new_keys_accepted(self):
        cfg = h.base_config(self.redis.port, h.free_port())
        cfg["admin"]["listen"] = "127.0.0.1:%d" % h.free_port()
        cfg["sources"]["encora"]["alert_after_s"] = 3600
        cfg["sources"]["encora"]["web_url"] = {
            "movie": "https://watch.example.com/movies/{slug}",
            "episode": "https://watch.example.com/shows/{show_slug}/{season_number}/{episode_number}",
        }
        cfg["targets"]["feed"] = {
            "format": "titanos", "delivery": "feed",
            "feed": {"auth": {"type": "basic", "username": "titanos", "password": "env:FEED_PW"},
                     "page_size": 200, "tombstone_retention_s": 86400, "alert_after_s": 172800}}
        cfg["targets"]["canon"]["feed"] = {
            "auth": {"type": "api_key", "in": "query", "name": "api_key", "value": "k3y-DO-NOT-LOG"}}
        r = self.check(cfg, env={"FEED_PW": "feed-pw-DO-NOT-LOG"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("DO-NOT-LOG", r.stdout + r.stderr)

    def test_feed_and_push_rules_name_paths(self):
        cfg = h.base_config(self.redis.port, h.free_port())
        cfg["targets"]["f1"] = {"format": "titanos", "delivery": "feed", "url": "http://p/",
                                "feed": {"auth": {"type": "bearer", "token": "t0k-DO-NOT-LOG"}}}
        cfg["targets"]["f2"] = {"format": "titanos", "delivery": "feed",
                                "feed": {"auth": {"type": "none"}}}
        cfg["targets"]["f3"] = {"format": "titanos", "delivery": "feed"}
        cfg["targets"]["p1"] = {"format": "canonical",
                                "feed": {"auth": {"type": "oauth2"}, "page_size": 5000}}
        cfg["sources"]["encora"]["web_url"] = {"movie": "https://w/{episode_number}"}
        cfg["admin"]["listen"] = cfg["listen"]
        r = self.check(cfg)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.splitlines()
        for want in [
            "targets.f1.url: not used with delivery feed",
            "targets.f2.feed.auth.type: must be one of bearer, basic, api_key",
            "targets.f3.feed: missing",
            "targets.p1.url: missing",
            "targets.p1.feed.auth.type: must be one of bearer, basic, api_key",
            "targets.p1.feed.page_size: must be between 1 and 1000",
            "sources.encora.web_url.movie: unknown placeholder {episode_number} "
            "(allowed: {id}, {slug}, {type})",
            "admin.listen: must differ from listen (omit it to share listen)",
        ]:
            self.assertIn(want, lines)
        self.assertNotIn("DO-NOT-LOG", r.stdout + r.stderr)

    def redis_url_cfg(self, url):
        cfg = h.base_config(self.redis.port, h.free_port())
        cfg["redis"]["url"] = url
        return cfg

    def test_redis_url_from_env_with_slash_in_password(self):
        url = "redis://:%s@127.0.0.1:%d/0" % (PASSWORD, self.redis.port)
        path = self.write(self.redis_url_cfg("env:TEST_REDIS_URL"))
        r = h.run_tool("relayctl", path, "stats", "--json", env={"TEST_REDIS_URL": url})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("queues", json.loads(r.stdout))
        # The same, percent-encoded.
        enc = PASSWORD.replace("%", "%25").replace("/", "%2F").replace("@", "%40")
        enc = enc.replace("?", "%3F").replace("#", "%23")
        r = h.run_tool("relayctl", path, "stats", "--json",
                       env={"TEST_REDIS_URL": "redis://:%s@127.0.0.1:%d/0" % (enc, self.redis.port)})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_redis_url_from_file(self):
        secret = os.path.join(self.workdir, "redis-url")
        with open(secret, "w") as f:
            f.write("redis://:%s@127.0.0.1:%d/0\n" % (PASSWORD, self.redis.port))
        os.chmod(secret, 0o600)
        path = self.write(self.redis_url_cfg("file:" + secret))
        r = h.run_tool("relayctl", path, "stats")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^ready\s+0$")

    def test_wrong_password_and_bad_url_never_echo_it(self):
        path = self.write(self.redis_url_cfg("env:TEST_REDIS_URL"))
        wrong = "redis://:wr0ng/pw-DO-NOT-LOG@127.0.0.1:%d/0" % self.redis.port
        r = h.run_tool("relayctl", path, "stats", env={"TEST_REDIS_URL": wrong})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("DO-NOT-LOG", r.stdout + r.stderr)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        r = h.run_tool("relay", path, "--check-config",
                       env={"TEST_REDIS_URL": "redis://user:%s@127.0.0.1/x" % PASSWORD})
        self.assertEqual(r.returncode, 2)
        self.assertIn("redis.url: a username is not supported", r.stderr)
        self.assertIn("percent-encoded", r.stderr)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        r = h.run_tool("relay", path, "--check-config", env={"TEST_REDIS_URL": ""})
        self.assertEqual(r.returncode, 2)
        self.assertIn("redis.url: environment variable TEST_REDIS_URL is empty", r.stderr)


if __name__ == "__main__":
    h.main()
