"""Shared pieces of the benchmarks: pre-signed requests for wrk, wrk output parsing, nginx."""
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("RELAY_BIN_DIR", os.path.join(ROOT, "build"))
os.environ.setdefault("RELAY_SRC_DIR", ROOT)

WRK_LUA = r"""
local reqs = {}
local i = 0
function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  for r in data:gmatch("(.-)\n%-%-%-\n") do reqs[#reqs + 1] = r end
end
function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
"""


def make_requests(path, n, secret, prefix="evt_bench"):
    with open(path, "wb") as f:
        for k in range(n):
            body = json.dumps({"id": "%s_%08d" % (prefix, k), "type": "content.published",
                               "created_at": "2026-11-20T10:00:00Z",
                               "data": {"content_type": "movie",
                                        "content_id": "497f6eca-6276-4993-bfeb-%012d" % k}},
                              separators=(",", ":")).encode()
            sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            f.write(b"POST /webhooks/encora HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                    b"X-Encora-Signature-256: sha256=%s\r\nContent-Length: %d\r\n\r\n%s\n---\n"
                    % (sig.encode(), len(body), body))


def parse_wrk(out):
    def lat(label):
        m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, out, re.M)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": lat("50%"), "p99": lat("99%"), "total": total,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else "none"}


def run_wrk(port, lua, reqfile, duration, conns):
    out = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "--latency",
                          "-s", lua, "http://127.0.0.1:%d/webhooks/encora" % port, "--", reqfile],
                         capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0



def cpu_seconds(pid):
    """User + system CPU seconds of pid and its descendants (nginx's worker is a child)."""
    total = 0.0
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = [int(k) for k in f.read().split()]
    except (OSError, ValueError, IndexError):
        return total
    return total + sum(cpu_seconds(k) for k in kids)


def start_nginx(work, port, locations):
    """nginx on 127.0.0.1:port with the given `location` blocks (nginx syntax)."""
    conf = os.path.join(work, "nginx-%d.conf" % port)
    with open(conf, "w") as f:
        f.write("worker_processes 1; daemon off; pid %s/nginx-%d.pid; error_log stderr crit;\n"
                "events { worker_connections 4096; }\n"
                "http { access_log off; client_body_temp_path %s; keepalive_requests 1000000;\n"
                "  server { listen 127.0.0.1:%d; %s } }\n" % (work, port, work, port, locations))
    return subprocess.Popen(["nginx", "-c", conf, "-p", work], stderr=subprocess.DEVNULL)
