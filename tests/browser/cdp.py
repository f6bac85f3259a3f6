"""A small Chrome DevTools Protocol client over --remote-debugging-pipe (Python stdlib only).

Chromium reads commands from fd 3 and writes answers and events to fd 4, each message one JSON
document ended by a NUL byte: no WebSocket, no port, no npm package. Used by the dashboard's
browser test to drive Debian's /usr/bin/chromium headless the way an operator would.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

CHROMIUM = os.environ.get("RELAY_CHROMIUM", "/usr/bin/chromium")
# Flags that work in containers and CI: no sandbox (no user namespaces there), no GPU, nothing
# phoning home (component updates, sync, background fetches) and a fresh profile per run.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-pipe"]


def available():
    return shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM)


class CDPError(Exception):
    pass


class Browser:
    """One headless chromium with one page. Every call blocks until chromium answers."""

    def __init__(self, width=1440, height=1000, timeout=60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="relay-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # bash puts our pipe ends on fds 3 and 4, where chromium expects them (dash cannot
        # redirect from a descriptor above 9).
        argv = ["bash", "-c", 'exec "$@" 3<&%d 4>&%d' % (to_chrome_r, from_chrome_w), "bash", CHROMIUM,
                "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height)] + FLAGS
        self.log_path = os.path.join(self.profile, "chromium.log")
        self._log = open(self.log_path, "wb")
        env = dict(os.environ, TZ="UTC")
        self.proc = subprocess.Popen(argv + ["about:blank"], stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log,
                                     pass_fds=(to_chrome_r, from_chrome_w), env=env)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._answers = {}
        self.events = []
        self.console = []
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = None
        tid = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=tid, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.width, self.height = width, height

    # ---- transport -------------------------------------------------------------------------

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                        if msg.get("method") == "Runtime.consoleAPICalled":
                            args = msg["params"].get("args", [])
                            self.console.append(" ".join(str(a.get("value", a.get("description", "")))
                                                         for a in args))
                        elif msg.get("method") == "Runtime.exceptionThrown":
                            d = msg["params"]["exceptionDetails"]
                            self.console.append("EXCEPTION " + d.get("text", "") + " " +
                                                str(d.get("exception", {}).get("description", "")))
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def call(self, method, session=True, **params):
        with self._cond:
            self._next += 1
            mid = self._next
        msg = {"id": mid, "method": method, "params": params}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + self.timeout
        with self._cond:
            while mid not in self._answers:
                if self._closed:
                    raise CDPError("chromium went away during %s; its log:\n%s" % (method, self.log()))
                left = deadline - time.time()
                if left <= 0:
                    raise CDPError("no answer to %s within %.0fs" % (method, self.timeout))
                self._cond.wait(left)
            answer = self._answers.pop(mid)
        if "error" in answer:
            raise CDPError("%s: %s" % (method, answer["error"]))
        return answer.get("result", {})

    def log(self):
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except CDPError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # ---- page helpers ----------------------------------------------------------------------

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && location.href === %s" % json.dumps(url),
                  what="the page to load")

    def js(self, expr):
        """Evaluates expr in the page (awaiting a promise) and returns its JSON value."""
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("page script failed: %s %s" % (
                d.get("text"), d.get("exception", {}).get("description", "")))
        return r["result"].get("value")

    def wait(self, expr, timeout=20.0, what=None):
        deadline = time.time() + timeout
        while True:
            v = self.js(expr)
            if v:
                return v
            if time.time() > deadline:
                raise AssertionError("timed out waiting for %s (%s); console:\n%s" % (
                    what or expr, expr, "\n".join(self.console[-20:])))
            time.sleep(0.1)

    def click(self, selector):
        """A real mouse click at the middle of the element (scrolled into view)."""
        box = self.wait("""(() => { const e = document.querySelector(%s);
            if (!e || e.disabled) return null;
            e.scrollIntoView({block: 'center'});
            const r = e.getBoundingClientRect();
            return r.width && r.height ? [r.x + r.width / 2, r.y + r.height / 2] : null; })()"""
                        % json.dumps(selector), what="a clickable " + selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                      clickCount=1)

    def type(self, selector, text):
        self.js("document.querySelector(%s).focus()" % json.dumps(selector))
        self.call("Input.insertText", text=text)

    def press_enter(self):
        self.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                  windowsVirtualKeyCode=13, text="\r")
        self.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                  windowsVirtualKeyCode=13)

    def screenshot(self, path, full=True):
        """Saves a PNG of the page (the whole document when full) and returns its path."""
        if full:
            h = int(self.js("Math.max(document.documentElement.scrollHeight, innerHeight)"))
            self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=h,
                      deviceScaleFactor=1, mobile=False)
            time.sleep(0.2)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        if full:
            self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
